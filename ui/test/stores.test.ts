import { afterEach, describe, expect, it } from 'vitest';
import { MockBackend } from '../src/lib/backend-mock';
import { DraftStore, draftKey, mentionQuery, noteStamp } from '../src/lib/drafts';
import { encodeFrame } from '../src/lib/frame';
import { visibleAssets } from '../src/stores/library.svelte';
import { Session } from '../src/stores/session.svelte';
import type { Backend, FrameHandler, OpenedPlayer } from '../src/lib/backend';
import { MemoryStorage, settle, until } from './helpers';

const sessions: Session[] = [];
async function started(storage = new MemoryStorage(), backend = new MockBackend({ renderPixels: false, outboxDelayMs: 30, taskTickMs: 10 })) {
  const s = new Session(backend, storage);
  sessions.push(s);
  await s.start();
  await settle();
  return { s, backend, storage };
}
afterEach(() => {
  for (const s of sessions.splice(0)) s.stop();
});

describe('note stamp', () => {
  const caps = { rangeNotes: true };
  it('stamps the current frame, or the I/O range when one is set', () => {
    expect(noteStamp('frame', 12, null, caps)).toEqual({ start: 12, end: 12 });
    expect(noteStamp('range', 12, { in: 40, out: 20 }, caps)).toEqual({ start: 20, end: 40 });
    expect(noteStamp('range', 12, { in: 20, out: 40 }, { rangeNotes: false })).toEqual({ start: 12, end: 12 });
    expect(noteStamp('none', 12, { in: 20, out: 40 }, caps)).toBeNull();
  });

  it('finds the @mention being typed', () => {
    expect(mentionQuery('hello @Bo', 9)).toEqual({ start: 6, query: 'Bo' });
    expect(mentionQuery('mail a@b', 8)).toBeNull();
    expect(mentionQuery('@', 1)).toEqual({ start: 0, query: '' });
  });
});

describe('draft persistence', () => {
  it('saves, reloads, validates and clears drafts per version', () => {
    const mem = new MemoryStorage();
    const d = new DraftStore(mem);
    d.save('v1', { text: 'soften edge', drawing: null, reviewStatus: null, anchor: { start: 3, end: 3 }, general: false, replies: {}, updatedAt: 5 });
    expect(new DraftStore(mem).load('v1')).toMatchObject({ text: 'soften edge', anchor: { start: 3, end: 3 } });
    expect(d.load('v2')).toBeNull();
    mem.setItem(draftKey('v3'), '{not json');
    expect(d.load('v3')).toBeNull();
    mem.setItem(draftKey('v4'), JSON.stringify({ text: 'x', drawing: { shapes: [{ nope: 1 }] }, anchor: { start: 5, end: 2 } }));
    expect(d.load('v4')).toMatchObject({ text: 'x', drawing: null, anchor: null });
    d.save('v1', { text: '  ', drawing: null, reviewStatus: null, anchor: null, general: false, replies: {}, updatedAt: 6 });
    expect(mem.getItem(draftKey('v1'))).toBeNull();
  });

  it('reports a full storage instead of pretending', () => {
    const full = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError'); }, removeItem: () => undefined };
    expect(new DraftStore(full).save('v', { text: 'a', drawing: null, reviewStatus: null, anchor: null, general: false, replies: {}, updatedAt: 0 })).toBe(false);
  });
});

describe('note composer (store)', () => {
  it('stamps the frame on screen when writing starts and keeps the draft across a restart', async () => {
    const storage = new MemoryStorage();
    const { s } = await started(storage);
    expect(s.player.asset?.name).toBe('sh010_comp');
    await s.player.seek(17);
    await settle();
    expect(s.player.index).toBe(17);
    s.notes.setText('Edge too hard', s.player.index, s.player.loop);
    // Moving on does not move the stamp: the note is about the frame it was written on.
    await s.player.step(5);
    await settle();
    expect(s.notes.stamp(s.player.index, s.player.loop)).toEqual({ start: 17, end: 17 });
    s.stop();

    const again = await started(storage);
    expect(again.s.notes.text).toBe('Edge too hard');
    expect(again.s.notes.anchor).toEqual({ start: 17, end: 17 });
  });

  it('stamps the I/O range, posts through the outbox and clears the draft', async () => {
    const storage = new MemoryStorage();
    const { s, backend } = await started(storage);
    await s.player.seek(10);
    await settle();
    await s.player.markIn();
    await s.player.seek(30);
    await settle();
    await s.player.markOut();
    expect(s.player.loop).toEqual({ in: 10, out: 30 });
    s.notes.setText('Flicker here', s.player.index, s.player.loop);
    const note = await s.notes.post(s.player.index, s.player.loop);
    expect(s.notify.toasts).toEqual([]);
    expect(note?.frames).toEqual({ start: 10, end: 30 });
    expect(note?.outbox).toEqual({ state: 'pending' });
    expect(s.notes.text).toBe('');
    expect(storage.getItem(draftKey(s.player.versionKey ?? ''))).toBeNull();
    await until(() => expect(s.notes.find(note?.id ?? '')?.outbox).toEqual({ state: 'sent' }));
    const listed = await backend.listNotes(s.player.versionKey ?? '');
    expect(listed.some((t) => t.root.text === 'Flicker here')).toBe(true);
  });

  it('keeps the draft when posting fails', async () => {
    const failing: Backend = new MockBackend({ renderPixels: false });
    failing.createNote = async () => {
      throw { code: 'storage', message: 'The disk is full.' };
    };
    const { s } = await started(new MemoryStorage(), failing as MockBackend);
    s.notes.setText('Do not lose me', 0, null);
    expect(await s.notes.post(0, null)).toBeNull();
    expect(s.notes.text).toBe('Do not lose me');
    expect(s.notify.toasts.map((t) => t.message)).toContain('The disk is full.');
  });

  it('a failed post shows its reason and goes back to pending on retry', async () => {
    const { s, backend } = await started();
    backend.failNextPost = 'Session expired.';
    s.notes.setText('Will fail once', 0, null);
    const note = await s.notes.post(0, null);
    await until(() => expect(s.notes.find(note?.id ?? '')?.outbox).toEqual({ state: 'failed', reason: 'Session expired.' }));
    await s.notes.retry(note?.id ?? '');
    expect(s.notes.find(note?.id ?? '')?.outbox.state).toBe('pending');
    await until(() => expect(s.notes.find(note?.id ?? '')?.outbox.state).toBe('sent'));
  });
});

describe('player store', () => {
  it('shows the counter and timecode of the frame actually drawn (its header), not the one asked for', async () => {
    let send: FrameHandler | null = null;
    const backend = new MockBackend({ renderPixels: false });
    const real = backend.openPlayer.bind(backend);
    backend.openPlayer = async (key, vp, onFrame): Promise<OpenedPlayer> => {
      send = onFrame;
      return real(key, vp, (_m, drawn) => drawn()); // swallow the mock's own frames
    };
    const { s } = await started(new MemoryStorage(), backend);
    expect(send).not.toBeNull();
    const acks: number[] = [];
    const ack = (i: number) => () => acks.push(i);
    await s.player.seek(50); // asked for 50…
    send!(encodeFrame({ width: 4, height: 2, playing: false, index: 48, displayFrame: 1049, timecode: '01:00:00:00' }), ack(48));
    await settle();
    // …but 48 is what the pipeline delivered, so 48 is what is shown.
    expect(s.player.drawn).toMatchObject({ index: 48, displayFrame: 1049, timecode: '01:00:00:00' });
    expect(acks).toEqual([48]);
    send!(new ArrayBuffer(3), ack(-1));
    await settle();
    expect(s.player.error).toMatch(/cannot be shown/);
    expect(acks).toEqual([48, -1]); // not drawable, yet acknowledged, or playback would stall
  });

  it('acknowledges every frame once: drawn ones after painting, replaced ones with their successor', async () => {
    let send: FrameHandler | null = null;
    const backend = new MockBackend({ renderPixels: false });
    const real = backend.openPlayer.bind(backend);
    backend.openPlayer = async (key, vp, onFrame): Promise<OpenedPlayer> => {
      send = onFrame;
      return real(key, vp, (_m, drawn) => drawn());
    };
    const { s } = await started(new MemoryStorage(), backend);
    const painted: number[] = [];
    const acks: number[] = [];
    s.player.setPainter((f) => {
      painted.push(f.index);
      expect(acks).not.toContain(f.index); // acknowledged only after it was drawn
    });
    const frame = (index: number) =>
      encodeFrame({ width: 4, height: 2, playing: true, index, displayFrame: index, timecode: '' });
    // Three frames before the screen refreshes: only the newest is painted…
    for (const i of [1, 2, 3]) send!(frame(i), () => acks.push(i));
    expect(acks).toEqual([]);
    await settle();
    expect(painted).toEqual([3]);
    // …and all three are acknowledged, once each.
    expect([...acks].sort()).toEqual([1, 2, 3]);
    expect(s.player.skipped).toBe(2);
    // A frame still waiting when the clip closes is acknowledged too.
    send!(frame(4), () => acks.push(4));
    await s.player.close();
    expect(acks.filter((i) => i === 4)).toEqual([4]);
    await settle();
    expect(painted).toEqual([3]);
  });

  it('keeps playing against a backend that waits for acknowledgements', async () => {
    const { s, backend } = await started();
    const before = backend.framesSent;
    await s.player.togglePlay();
    await new Promise((r) => setTimeout(r, 400));
    await s.player.togglePlay();
    await settle();
    // 24 fps for 0.4 s: a stalled window would have stopped after two frames.
    expect(backend.framesSent - before).toBeGreaterThan(5);
    expect(backend.framesAcknowledged).toBe(backend.framesSent);
  });

  it('runs J/K/L against the player and reports reverse speed', async () => {
    const { s, backend } = await started();
    await s.player.shuttleJ();
    await s.player.shuttleJ();
    await settle();
    expect(s.player.playing).toBe(true);
    expect(s.player.rate).toBe(-2);
    await s.player.shuttleK();
    await settle();
    expect(s.player.playing).toBe(false);
    const before = s.player.index;
    await s.player.shuttleForwardL(); // K still held: a step
    await settle();
    expect(s.player.index).toBe(before + 1);
    expect(backend.commandLog.map((c) => c.command.type)).toEqual(['setVolume', 'setMuted', 'setRate', 'play', 'setRate', 'pause', 'step']);
  });
});

describe('library', () => {
  it('searches, filters and sorts', async () => {
    const backend = new MockBackend({ renderPixels: false });
    const assets = await backend.listAssets('kitsu-1', 'p1');
    expect(visibleAssets(assets, 'sh1', '', 'all', 'name').map((a) => a.name)).toEqual(['HL_101_sh100', 'HL_101_sh100_anim', 'HL_101_sh110', 'HL_101_sh120']);
    expect(visibleAssets(assets, '', 'WIP', 'all', 'name').map((a) => a.status)).toEqual(['WIP', 'WIP']);
    expect(visibleAssets(assets, '', '', 'offline', 'name').map((a) => a.offline.state)).toEqual(['available', 'outdated']);
    expect(visibleAssets(assets, '', '', 'all', 'status')[0]?.status).toBe('Done');
  });

  it('downloads with progress, can cancel, and explains a refusal', async () => {
    const { s } = await started();
    await s.library.select('kitsu-1', 'p1');
    const a = s.library.assets.find((x) => x.name === 'HL_101_sh120');
    expect(a?.offline.state).toBe('none');
    await s.library.pin({ kind: 'asset', accountId: 'kitsu-1', assetId: a?.id ?? '' });
    await until(() => expect(s.library.assets.find((x) => x.id === a?.id)?.offline.state).toBe('available'));
    const forbidden = s.library.assets.find((x) => x.offline.state === 'forbidden');
    await s.library.pin({ kind: 'asset', accountId: 'kitsu-1', assetId: forbidden?.id ?? '' });
    expect(s.notify.toasts.at(-1)?.message).toBe('Downloads are denied on this project');

    const other = s.library.assets.find((x) => x.name === 'HL_101_sh100_anim');
    await s.library.pin({ kind: 'asset', accountId: 'kitsu-1', assetId: other?.id ?? '' });
    const task = Object.values(s.library.tasks).find((t) => t.state === 'running');
    expect(task?.kind).toBe('download');
    await s.library.cancelTask(task?.taskId ?? '');
    await settle();
    expect(s.library.tasks[task?.taskId ?? '']?.state).toBe('cancelled');
    expect(s.library.assets.find((x) => x.id === other?.id)?.offline.state).toBe('none');
  });

  it('says so calmly when an offline account cannot sync', async () => {
    const { s } = await started();
    await s.library.syncNow('ci-1');
    expect(s.notify.toasts.at(-1)?.message).toMatch(/cannot be reached/);
  });
});
