// Component tests: the whole app mounted in jsdom against the mock backend, driven the way a
// reviewer drives it (keys on the window, clicks, typing).
import { afterEach, describe, expect, it } from 'vitest';
import { flushSync, mount, unmount } from 'svelte';
import App from '../src/App.svelte';
import { MockBackend } from '../src/lib/backend-mock';
import { Session } from '../src/stores/session.svelte';
import { MemoryStorage, settle, until } from './helpers';

let mounted: Array<Record<string, unknown>> = [];
afterEach(() => {
  for (const m of mounted) unmount(m);
  mounted = [];
  document.body.innerHTML = '';
});

async function app(backend = new MockBackend({ renderPixels: false, outboxDelayMs: 40, taskTickMs: 10 })) {
  const target = document.createElement('div');
  document.body.appendChild(target);
  const session = new Session(backend, new MemoryStorage());
  mounted.push(mount(App, { target, props: { backend, session } }));
  await until(() => expect(target.querySelector('[data-testid="frame-counter"]')?.textContent).toBe('1001'));
  return { target, session, backend };
}

function press(key: string, opts: KeyboardEventInit = {}, target: EventTarget = window): void {
  target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...opts }));
  flushSync();
}

const q = (root: ParentNode, id: string): HTMLElement | null => root.querySelector(`[data-testid="${id}"]`);
const text = (root: ParentNode, id: string): string => q(root, id)?.textContent?.trim() ?? '';

describe('the review window', () => {
  it('lists the demo library with thumbnails and names and opens the first clip', async () => {
    const { target } = await app();
    const assets = [...target.querySelectorAll('[data-testid="asset"]')];
    expect(assets.map((a) => a.querySelector('.name')?.textContent)).toEqual(['sh010_comp', 'sh020_comp', 'sh030_lighting', 'sh040_anim', 'sh050_fx']);
    expect(assets[0]?.querySelector('img')?.getAttribute('src')).toMatch(/^data:image\/svg/);
    expect(text(target, 'clip-name')).toBe('sh010_comp');
    expect(text(target, 'timecode')).toBe('01:00:00:00');
    expect(target.querySelectorAll('[data-testid="timeline-marker"]').length).toBe(4);
  });

  it('steps with the arrow keys and shows the drawn frame in frames, timecode or seconds', async () => {
    const { target } = await app();
    press('ArrowRight');
    await until(() => expect(text(target, 'frame-counter')).toBe('1002'));
    press('ArrowRight', { shiftKey: true });
    await until(() => expect(text(target, 'frame-counter')).toBe('1012'));
    expect(text(target, 'timecode')).toBe('01:00:00:11');
    press('t');
    expect(text(target, 'frame-counter')).toBe('01:00:00:11');
    expect(text(target, 'timecode')).toBe('frame 1012');
    press('t');
    expect(text(target, 'frame-counter')).toBe('0.458 s');
    press('t');
    expect(text(target, 'frame-counter')).toBe('1012');
    press('End');
    await until(() => expect(text(target, 'frame-counter')).toBe('1096'));
    press('Home');
    await until(() => expect(text(target, 'frame-counter')).toBe('1001'));
  });

  it('does not fire shortcuts while typing a note, and posts with Ctrl+Enter stamped with the frame', async () => {
    const { target, session } = await app();
    press('ArrowRight');
    press('ArrowRight');
    await until(() => expect(text(target, 'frame-counter')).toBe('1003'));
    const area = q(target, 'composer-text') as HTMLTextAreaElement;
    area.focus();
    for (const k of ['l', 'k', 'j', ' ', 'ArrowRight', 'Home', 't', 'i']) press(k, {}, area);
    await settle();
    expect(text(target, 'frame-counter')).toBe('1003');
    expect(session.player.playing).toBe(false);
    expect(session.player.loop).toBeNull();
    area.value = 'Grain is missing on the bg plate';
    area.dispatchEvent(new Event('input', { bubbles: true }));
    flushSync();
    expect(text(target, 'composer-stamp')).toBe('1003');
    press('Enter', { ctrlKey: true }, area);
    await until(() => expect([...target.querySelectorAll('[data-testid="note-text"]')].map((n) => n.textContent)).toContain('Grain is missing on the bg plate'));
    const card = [...target.querySelectorAll('[data-testid="note"]')].find((n) => n.textContent?.includes('Grain is missing'));
    expect(card?.querySelector('[data-testid="note-stamp"]')?.textContent?.trim()).toBe('1003');
    expect(card?.querySelector('[data-testid="outbox-state"]')?.getAttribute('data-state')).toBe('pending');
    await until(() => expect(card?.querySelector('[data-testid="outbox-state"]')?.getAttribute('data-state')).toBe('sent'));
    expect((q(target, 'composer-text') as HTMLTextAreaElement).value).toBe('');
  });

  it('stamps a note with the I/O range and draws the range on the timeline', async () => {
    const { target } = await app();
    press('ArrowRight', { shiftKey: true });
    await until(() => expect(text(target, 'frame-counter')).toBe('1011'));
    press('i');
    press('ArrowRight', { shiftKey: true });
    press('ArrowRight', { shiftKey: true });
    await until(() => expect(text(target, 'frame-counter')).toBe('1031'));
    press('o');
    await settle();
    expect(text(target, 'loop-range')).toBe('1011–1031');
    expect(q(target, 'timeline-loop')).not.toBeNull();
    expect(text(target, 'composer-stamp')).toBe('1011–1031');
    press('x', { altKey: true, code: 'KeyX' });
    await settle();
    expect(q(target, 'loop-range')).toBeNull();
    expect(text(target, 'composer-stamp')).toBe('1031');
  });

  it('shows outbox states: a failed note with its reason, retry puts it back in the queue', async () => {
    const { target } = await app();
    const failed = target.querySelector('[data-testid="note"][data-note-id="n5"]');
    expect(failed?.querySelector('[data-state="failed"]')?.textContent).toMatch(/Not posted/);
    expect(failed?.textContent).toMatch(/session expired/);
    (failed?.querySelector('[data-testid="note-retry"]') as HTMLButtonElement).click();
    await until(() => expect(failed?.querySelector('[data-testid="outbox-state"]')?.getAttribute('data-state')).toBe('pending'));
    expect(failed?.querySelector('[data-testid="note-retry"]')).toBeNull();
    await until(() => expect(failed?.querySelector('[data-testid="outbox-state"]')?.getAttribute('data-state')).toBe('sent'));
  });

  it('renders note text as text, never as HTML', async () => {
    const { target } = await app();
    const n3 = target.querySelector('[data-note-id="n3"] [data-testid="note-text"]');
    expect(n3?.textContent).toContain('<b>not bold</b>');
    expect(n3?.querySelector('b')).toBeNull();
  });

  it('jumps to a note from its timeline marker and from ↓ / ↑', async () => {
    const { target } = await app();
    (target.querySelector('[data-testid="timeline-marker"][data-note-id="n3"]') as HTMLButtonElement).click();
    await until(() => expect(text(target, 'frame-counter')).toBe('1041'));
    press('ArrowDown');
    await until(() => expect(text(target, 'frame-counter')).toBe('1081'));
    press('ArrowUp');
    press('ArrowUp');
    await settle();
    await until(() => expect(text(target, 'frame-counter')).toBe('1019'));
  });

  it('opens the cheat sheet on ? and closes it with Escape', async () => {
    const { target } = await app();
    press('?', { shiftKey: true });
    const sheet = document.querySelector('[data-testid="cheat-sheet"]');
    expect(sheet?.textContent).toContain('Play backwards; again for ×2, ×4, ×8');
    expect(sheet?.textContent).toContain('Clear in / out');
    press('Escape');
    expect(document.querySelector('[data-testid="cheat-sheet"]')).toBeNull();
    expect(target).toBeTruthy();
  });

  it('hides what a platform cannot do', async () => {
    const { target, session } = await app();
    await session.library.toggle('ci-1', null, true);
    await session.library.select('ci-1', 'ws1');
    await settle();
    (target.querySelector('[data-testid="asset"]') as HTMLElement).click();
    await until(() => expect(text(target, 'clip-name')).toBe('teaser_v7_master'));
    expect(q(target, 'notes-unsupported')).not.toBeNull();
    expect(q(target, 'composer-text')).toBeNull();
    expect((q(target, 'toggle-draw') as HTMLButtonElement).disabled).toBe(true);
  });

  it('searches clips and shows offline badges', async () => {
    const { target, session } = await app();
    await session.library.select('kitsu-1', 'p1');
    await settle();
    const states = [...target.querySelectorAll('[data-testid="offline-badge"]')].map((b) => b.getAttribute('data-state'));
    expect(states.sort()).toEqual(['available', 'forbidden', 'none', 'none', 'outdated']);
    const search = q(target, 'asset-search') as HTMLInputElement;
    search.value = 'anim';
    search.dispatchEvent(new Event('input', { bubbles: true }));
    flushSync();
    expect([...target.querySelectorAll('[data-testid="asset"] .name')].map((n) => n.textContent)).toEqual(['HL_101_sh100_anim']);
    // Typing in the search box is typing: J/K/L do nothing.
    press('l', {}, search);
    await settle();
    expect(session.player.playing).toBe(false);
  });
});

describe('threads, mentions and drafts', () => {
  it('replies in a thread, and a half-written reply survives a restart', async () => {
    const storage = new MemoryStorage();
    const backend = new MockBackend({ renderPixels: false, outboxDelayMs: 40 });
    const target = document.createElement('div');
    document.body.appendChild(target);
    let session = new Session(backend, storage);
    let m = mount(App, { target, props: { backend, session } });
    await until(() => expect(target.querySelector('[data-note-id="n3"]')).not.toBeNull());
    const card = (): Element | null => target.querySelector('[data-testid="note"][data-note-id="n3"]');
    (card()?.querySelector('[data-testid="note-reply-button"]') as HTMLButtonElement).click();
    flushSync();
    const box = card()?.querySelector('[data-testid="note-reply-input"]') as HTMLTextAreaElement;
    box.value = 'On it, half way';
    box.dispatchEvent(new Event('input', { bubbles: true }));
    flushSync();
    unmount(m);
    session.stop();

    session = new Session(backend, storage);
    m = mount(App, { target, props: { backend, session } });
    await until(() => expect((card()?.querySelector('[data-testid="note-reply-input"]') as HTMLTextAreaElement | null)?.value).toBe('On it, half way'));
    const again = card()?.querySelector('[data-testid="note-reply-input"]') as HTMLTextAreaElement;
    press('Enter', {}, again);
    await until(() => expect([...(card()?.querySelectorAll('[data-testid="note-reply"]') ?? [])].map((r) => r.querySelector('.text')?.textContent)).toContain('On it, half way'));
    unmount(m);
    session.stop();
  });

  it('offers @mentions where the platform understands them', async () => {
    const { target, session } = await app();
    await session.library.select('kitsu-1', 'p1');
    await settle();
    (target.querySelector('[data-testid="asset"][data-asset-id="k-sh100"]') as HTMLElement).click();
    await until(() => expect(text(target, 'clip-name')).toBe('HL_101_sh100'));
    await until(() => expect(session.notes.people.length).toBeGreaterThan(0));
    const area = q(target, 'composer-text') as HTMLTextAreaElement;
    area.focus();
    area.value = 'Please look @Bo';
    area.setSelectionRange(area.value.length, area.value.length);
    area.dispatchEvent(new Event('input', { bubbles: true }));
    flushSync();
    expect(text(target, 'mention-list')).toBe('@Bo Compositor');
    press('Enter', {}, area);
    await settle();
    expect(session.notes.text).toBe('Please look @Bo Compositor ');
    expect(q(target, 'composer-status')).not.toBeNull();
  });

  it('asks before discarding a note that was never posted', async () => {
    const { target, session } = await app();
    const failed = (): Element | null => target.querySelector('[data-testid="note"][data-note-id="n5"]');
    (failed()?.querySelector('[data-testid="note-discard"]') as HTMLButtonElement).click();
    flushSync();
    (failed()?.querySelector('[data-testid="note-discard-cancel"]') as HTMLButtonElement).click();
    flushSync();
    expect(failed()).not.toBeNull();
    (failed()?.querySelector('[data-testid="note-discard"]') as HTMLButtonElement).click();
    flushSync();
    (failed()?.querySelector('[data-testid="note-discard-confirm"]') as HTMLButtonElement).click();
    await until(() => expect(failed()).toBeNull());
    expect(session.notes.find('n5')).toBeUndefined();
  });
});
