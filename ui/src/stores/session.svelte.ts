//! The app session: one backend and the stores built on it, handed to components through Svelte
//! context so no component ever reaches for the backend on its own.

import { getContext, setContext } from 'svelte';
import { toBackendError, type AssetSummary, type Backend } from '../lib/backend';
import { renderDrawing } from '../lib/drawing';
import type { DraftStorage } from '../lib/drafts';
import { LibraryStore } from './library.svelte';
import { NotesStore, NO_CAPS } from './notes.svelte';
import { Notifier } from './notify.svelte';
import { PlayerStore } from './player.svelte';
import { SignInStore } from './signin.svelte';
import { UploadsStore, type ElementAt } from './uploads.svelte';

export class Session {
  readonly notify = new Notifier();
  readonly library: LibraryStore;
  readonly player: PlayerStore;
  readonly notes: NotesStore;
  readonly uploads: UploadsStore;
  readonly signIn: SignInStore;
  cheatSheetOpen = $state(false);

  constructor(
    readonly backend: Backend,
    draftStorage?: DraftStorage | null,
    elementAt?: ElementAt,
  ) {
    this.library = new LibraryStore(backend, this.notify);
    this.uploads = new UploadsStore(backend, this.library, this.notify, elementAt);
    this.signIn = new SignInStore(backend, this.library, this.notify);
    this.player = new PlayerStore(backend, this.notify);
    this.notes = draftStorage === undefined ? new NotesStore(backend, this.notify) : new NotesStore(backend, this.notify, draftStorage);
  }

  async start(): Promise<void> {
    this.player.start();
    this.notes.start();
    this.signIn.start();
    // The queue loads beside the library; a failure there must not keep the library from opening.
    void this.uploads.start();
    await this.library.start();
    // Open the first clip so the viewer is never an empty box on first launch.
    const first = this.library.visible[0];
    if (first && !this.player.asset) await this.open(first);
  }

  stop(): void {
    this.library.stop();
    this.uploads.stop();
    this.player.stop();
    this.notes.stop();
    this.signIn.stop();
  }

  async open(asset: AssetSummary, versionKey: string = asset.versionKey): Promise<void> {
    const caps = this.library.account(asset.accountId)?.capabilities ?? NO_CAPS;
    await Promise.all([this.player.open(asset, versionKey), this.notes.load(versionKey, asset.accountId, caps)]);
  }

  /** Saves the frame on screen with its drawings as a PNG (the backend renders full size). */
  async snapshot(): Promise<void> {
    const versionKey = this.player.versionKey;
    if (!versionKey || !this.player.media) return;
    try {
      const r = await this.backend.saveSnapshot(versionKey, this.player.index, drawingsPng(this));
      this.notify.info(`Frame saved to ${r.path}`);
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }
}

/** The drawings visible on a frame as a transparent PNG at the media's size, base64. */
function drawingsPng(s: Session): string | null {
  const m = s.player.media;
  if (!m || typeof document === 'undefined') return null;
  const index = s.player.index;
  const layers = s.notes.drawingsAt(index, 0);
  if (s.notes.draftVisibleAt(index) && s.notes.shapes.length > 0) layers.push({ drawing: { shapes: s.notes.shapes }, alpha: 1 });
  if (layers.length === 0) return null;
  const c = document.createElement('canvas');
  c.width = m.width;
  c.height = m.height;
  const ctx = c.getContext('2d');
  if (!ctx) return null;
  for (const l of layers) renderDrawing(ctx, l.drawing, { x: 0, y: 0, width: m.width, height: m.height }, l.alpha);
  const url = c.toDataURL('image/png');
  const comma = url.indexOf(',');
  return comma >= 0 ? url.slice(comma + 1) : null;
}

/** Context key of the session; exported so a component can be mounted alone (tests). */
export const SESSION_KEY = Symbol('framenote.session');

export function provideSession(s: Session): void {
  setContext(SESSION_KEY, s);
}

export function useSession(): Session {
  const s = getContext<Session | undefined>(SESSION_KEY);
  if (!s) throw new Error('useSession() outside <App>: the session is provided by App.svelte');
  return s;
}
