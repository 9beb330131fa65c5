// Shared test helpers: a fresh mock backend, an in-memory Storage, and waiting for the UI.
import { flushSync } from 'svelte';
import type { DraftStorage } from '../src/lib/drafts';

export class MemoryStorage implements DraftStorage {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

/** Lets promises, timers and animation frames run, then flushes Svelte's updates. */
export async function settle(rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, 20));
    flushSync();
  }
}

/** Waits until `check` stops throwing (or fails with its last error). */
export async function until(check: () => void, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() - start > timeoutMs) throw e;
      await settle(1);
    }
  }
}
