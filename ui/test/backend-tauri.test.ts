// The Tauri adapter against Tauri's own IPC mock: the generated commands' names and arguments,
// wire types mapped to the UI's, errors mapped to BackendError, binary frames through the channel
// with exactly one `player_frame_drawn` per frame, and the generated `player-news` event.
import { afterEach, describe, expect, it } from 'vitest';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { Channel } from '@tauri-apps/api/core';
import {
  BackendError,
  type ConnectionChanged,
  type OfflineChanged,
  type OutboxChanged,
  type PlayerEvent,
  type SyncProgress,
  type TaskProgress,
} from '../src/lib/backend';
import { tauriBackend } from '../src/lib/backend-tauri';
import { decodeFrame, encodeFrame } from '../src/lib/frame';

afterEach(() => clearMocks());

const MEDIA = {
  frameRate: { num: 24, den: 1 },
  firstFrame: 1001,
  frameCount: 10,
  startTimecode: null,
  dropFrame: false,
  width: 4,
  height: 2,
  hasAudio: false,
};

const ASSET = {
  id: 'a1',
  accountId: 'acc',
  nodeId: 'n',
  name: 'sh010',
  status: null,
  updatedAt: null,
  versionKey: 'v1',
  versionLabel: 'v001',
  versions: [{ key: 'v1', number: 1, label: 'v001' }],
  frameCount: 10,
  frameRate: { num: 24, den: 1 },
  noteCount: 0,
  offline: { state: 'downloading', progress: null },
  thumbnailUrl: null,
  pinned: false,
};

const frame = (index: number): ArrayBuffer =>
  encodeFrame({ width: 4, height: 2, playing: true, index, displayFrame: 1001 + index, timecode: '' });

/** Lets the mocked IPC round trips (promises) finish. */
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('tauriBackend', () => {
  it('calls the generated commands with their names and arguments and maps the answers', async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'app_info') return { version: '1.2.3', dataDir: '/data', logDir: '/data/logs' };
      if (cmd === 'list_accounts') return [];
      if (cmd === 'list_nodes') return [];
      if (cmd === 'list_assets') return [ASSET];
      return null;
    });
    expect(await tauriBackend.appInfo()).toEqual({ name: 'Framenote', version: '1.2.3', dataDir: '/data' });
    await tauriBackend.listAccounts();
    await tauriBackend.listNodes('acc', null);
    const [asset] = await tauriBackend.listAssets('acc', 'n');
    // A download whose progress the backend cannot tell yet is shown at 0.
    expect(asset?.offline).toEqual({ state: 'downloading', progress: 0 });
    await tauriBackend.playerCommand('p1', { type: 'setLoop', in: 3, out: 9 });
    await tauriBackend.closePlayer('p1');
    expect(calls).toEqual([
      ['app_info', {}],
      ['list_accounts', {}],
      ['list_nodes', { accountId: 'acc', parentId: null }],
      ['list_assets', { accountId: 'acc', nodeId: 'n' }],
      ['player_command', { playerId: 'p1', cmd: { type: 'setLoop', in: 3, out: 9 } }],
      ['close_player', { playerId: 'p1' }],
    ]);
  });

  it('calls the sync, offline, notes and snapshot commands with their arguments', async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'sync_now') return 'task-1';
      if (cmd === 'save_snapshot') return { path: '/tmp/sh010_1012.png' };
      return null;
    });
    await tauriBackend.pin({ kind: 'node', accountId: 'acc', nodeId: 'n' });
    await tauriBackend.unpin({ kind: 'asset', accountId: 'acc', assetId: 'a' });
    expect(await tauriBackend.syncNow('acc')).toBe('task-1');
    await tauriBackend.cancelTask('task-1');
    await tauriBackend.retryNote('n1');
    await tauriBackend.discardNote('n1');
    expect(await tauriBackend.saveSnapshot('v', 12, null)).toEqual({ path: '/tmp/sh010_1012.png' });
    expect(calls).toEqual([
      ['pin', { scope: { kind: 'node', accountId: 'acc', nodeId: 'n' } }],
      ['unpin', { scope: { kind: 'asset', accountId: 'acc', assetId: 'a' } }],
      ['sync_now', { accountId: 'acc' }],
      ['cancel_task', { taskId: 'task-1' }],
      ['retry_note', { noteId: 'n1' }],
      ['discard_note', { noteId: 'n1' }],
      ['save_snapshot', { versionKey: 'v', frame: 12, drawingPng: null }],
    ]);
  });

  it('writes and reads notes, drawings included', async () => {
    const calls: Array<[string, unknown]> = [];
    const wireNote = (id: string, parentId: string | null) => ({
      id,
      versionKey: 'acc:v1',
      parentId,
      author: 'Ana',
      createdAt: '2026-11-22T10:00:00Z',
      text: 'Softer edge',
      frames: { start: 12, end: 12 },
      timecode: '01:00:00:12',
      status: 'open',
      drawing: {
        shapes: [
          { id: 's1', type: 'pen', points: [{ x: 0.1, y: 0.2 }, { x: null, y: 0.3 }], stroke: { color: '#ff0000', width: 0.005 } },
          { id: 's2', type: 'rect', origin: { x: 0.5, y: 0.5 }, width: 0.25, height: null, stroke: { color: '#00ff00', width: null } },
        ],
        overlay_svg: '<svg/>',
      },
      outbox: { state: 'pending' },
      reviewStatus: null,
      frameThumbnailUrl: null,
    });
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'list_notes') return [{ root: wireNote('n1', null), replies: [wireNote('n2', 'n1')] }];
      if (cmd === 'create_note' || cmd === 'set_note_status') return wireNote('n3', null);
      return null;
    });
    const [thread] = await tauriBackend.listNotes('acc:v1');
    expect(thread?.replies[0]?.parentId).toBe('n1');
    // Non-finite numbers arrive as null (serde) and are drawn as 0; the SVG overlay is not shown yet.
    expect(thread?.root.drawing).toEqual({
      shapes: [
        { id: 's1', type: 'pen', points: [{ x: 0.1, y: 0.2 }, { x: 0, y: 0.3 }], stroke: { color: '#ff0000', width: 0.005 } },
        { id: 's2', type: 'rect', origin: { x: 0.5, y: 0.5 }, width: 0.25, height: 0, stroke: { color: '#00ff00', width: 0 } },
      ],
    });
    const note = {
      versionKey: 'acc:v1',
      parentId: null,
      text: 'Softer edge',
      frames: { start: 12, end: 12 },
      drawing: { shapes: [{ id: 's9', type: 'arrow' as const, from: { x: 0, y: 0 }, to: { x: 1, y: 1 }, stroke: { color: '#ffffff', width: 0.004 } }] },
      reviewStatus: null,
    };
    expect((await tauriBackend.createNote(note)).id).toBe('n3');
    expect((await tauriBackend.setNoteStatus('n3', 'resolved')).id).toBe('n3');
    expect(calls).toEqual([
      ['list_notes', { versionKey: 'acc:v1' }],
      ['create_note', { note }],
      ['set_note_status', { noteId: 'n3', status: 'resolved' }],
    ]);
  });

  it('asks the shell for statuses, people and a notes export by account', async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'list_statuses') return ['wfa', 'retake', 'done'];
      if (cmd === 'list_people') return [{ id: 'p1', name: 'Ada Comp' }];
      if (cmd === 'export_notes') return { path: '/home/me/Documents/Framenote/ci-notes.csv', notes: 3 };
      return null;
    });
    expect(await tauriBackend.listStatuses('acc')).toEqual(['wfa', 'retake', 'done']);
    expect(await tauriBackend.listPeople('acc')).toEqual([{ id: 'p1', name: 'Ada Comp' }]);
    expect(await tauriBackend.exportNotes('acc')).toEqual({ path: '/home/me/Documents/Framenote/ci-notes.csv', notes: 3 });
    expect(calls.map(([cmd]) => cmd)).toEqual(['list_statuses', 'list_people', 'export_notes']);
    expect(calls[0]?.[1]).toMatchObject({ accountId: 'acc' });
  });

  it('opens a player with a channel and hands each binary frame to the viewer', async () => {
    let channel: Channel<unknown> | null = null;
    mockIPC((cmd, args) => {
      if (cmd !== 'open_player') return null;
      const a = args as { versionKey: string; viewportW: number; viewportH: number; channel: Channel<unknown> };
      expect([a.versionKey, a.viewportW, a.viewportH]).toEqual(['v1', 1281, 720]);
      channel = a.channel;
      return { playerId: 'p9', media: MEDIA };
    });
    const got: ArrayBuffer[] = [];
    const opened = await tauriBackend.openPlayer('v1', { width: 1280.6, height: 720.2 }, (m) => got.push(m));
    expect(opened).toEqual({ playerId: 'p9', media: MEDIA });
    expect(channel).not.toBeNull();
    const f = encodeFrame({ width: 4, height: 2, playing: false, index: 3, displayFrame: 1004, timecode: '00:00:00:03' });
    channel!.onmessage(f);
    channel!.onmessage(new Uint8Array(f));
    expect(got.length).toBe(2);
    expect(decodeFrame(got[1]!).displayFrame).toBe(1004);
  });

  it('acknowledges every frame exactly once, also frames drawn before the player id is known', async () => {
    const acks: string[] = [];
    let channel: Channel<unknown> | null = null;
    mockIPC((cmd, args) => {
      const a = args as { playerId: string; channel: Channel<unknown> };
      if (cmd === 'player_frame_drawn') acks.push(a.playerId);
      if (cmd !== 'open_player') return null;
      channel = a.channel;
      // The shell starts sending before it answers: two frames arrive ahead of the player id.
      a.channel.onmessage(frame(0));
      a.channel.onmessage(frame(1));
      return { playerId: 'p7', media: MEDIA };
    });
    // The viewer draws the first frame at once (before the answer is handled), and says so twice.
    const waiting: Array<() => void> = [];
    await tauriBackend.openPlayer('v1', { width: 4, height: 2 }, (m, drawn) => {
      if (decodeFrame(m).index === 0) {
        drawn();
        drawn();
      }
      waiting.push(drawn);
    });
    expect(waiting.length).toBe(2);
    await tick();
    expect(acks).toEqual(['p7']); // owed since before the answer; frame 1 is not drawn yet
    waiting[1]!();
    waiting[1]!();
    await tick();
    expect(acks).toEqual(['p7', 'p7']);
    channel!.onmessage(frame(2));
    channel!.onmessage('not a frame'); // cannot be drawn, but the shell counted it in flight
    await tick();
    expect(acks).toEqual(['p7', 'p7', 'p7']);
    waiting[2]!();
    waiting[0]!();
    await tick();
    expect(acks).toEqual(['p7', 'p7', 'p7', 'p7']);
  });

  it('acknowledges a frame whose viewer threw, so playback never stalls on it', async () => {
    const acks: string[] = [];
    let channel: Channel<unknown> | null = null;
    mockIPC((cmd, args) => {
      const a = args as { playerId: string; channel: Channel<unknown> };
      if (cmd === 'player_frame_drawn') acks.push(a.playerId);
      if (cmd === 'open_player') channel = a.channel;
      return cmd === 'open_player' ? { playerId: 'p8', media: MEDIA } : null;
    });
    await tauriBackend.openPlayer('v1', { width: 4, height: 2 }, () => {
      throw new Error('canvas lost');
    });
    expect(() => channel!.onmessage(frame(0))).toThrow('canvas lost');
    await tick();
    expect(acks).toEqual(['p8']);
  });

  it('turns the shell errors into BackendError with their code and message', async () => {
    mockIPC(() => {
      throw { code: 'offline', message: 'Kitsu cannot be reached.' };
    });
    const e = await tauriBackend.listAssets('a', 'n').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BackendError);
    expect(e).toMatchObject({ code: 'offline', message: 'Kitsu cannot be reached.' });
    mockIPC(() => {
      throw { code: 'unsupported', message: 'Sony Ci has no review statuses.' };
    });
    expect(await tauriBackend.syncNow('a').catch((x: unknown) => x)).toMatchObject({ code: 'unsupported' });
    mockIPC(() => {
      throw { code: 'something_new', message: 'Odd.' };
    });
    expect(await tauriBackend.listAccounts().catch((x: unknown) => x)).toMatchObject({ code: 'internal', message: 'Odd.' });
    // The generated wrapper re-throws real Errors instead of returning them; they are mapped too.
    mockIPC(() => {
      throw new Error('IPC bridge gone');
    });
    const thrown = await tauriBackend.openPlayer('v', { width: 1, height: 1 }, () => undefined).catch((x: unknown) => x);
    expect(thrown).toBeInstanceOf(BackendError);
    expect(thrown).toMatchObject({ code: 'internal', message: 'IPC bridge gone' });
  });

  it('delivers player news as player events, completed with what the UI last told the player', async () => {
    mockIPC(
      (cmd) => {
        if (cmd === 'open_player') return { playerId: 'p5', media: MEDIA };
        return null;
      },
      { shouldMockEvents: true },
    );
    const seen: PlayerEvent[] = [];
    const stop = tauriBackend.onPlayerEvent((e) => seen.push(e));
    await tick();
    await tauriBackend.openPlayer('v1', { width: 4, height: 2 }, () => undefined);
    await emit('player-news', { kind: 'state', playerId: 'p5', playing: false, rate: 1 });
    await tauriBackend.playerCommand('p5', { type: 'setVolume', volume: 0.5 });
    await tauriBackend.playerCommand('p5', { type: 'setMuted', muted: true });
    await tauriBackend.playerCommand('p5', { type: 'setLoop', in: 2, out: 8 });
    await emit('player-news', { kind: 'state', playerId: 'p5', playing: true, rate: -2 });
    await tauriBackend.playerCommand('p5', { type: 'clearLoop' });
    await emit('player-news', { kind: 'state', playerId: 'p5', playing: true, rate: null });
    await emit('player-news', { kind: 'ended', playerId: 'p5' });
    await emit('player-news', { kind: 'error', playerId: 'p5', error: { code: 'media_error', message: 'Cannot decode.' } });
    stop();
    await tick();
    await emit('player-news', { kind: 'ended', playerId: 'p5' });
    expect(seen).toEqual([
      { kind: 'state', playerId: 'p5', playing: false, rate: 1, loop: null, volume: 1, muted: false },
      { kind: 'state', playerId: 'p5', playing: true, rate: -2, loop: { in: 2, out: 8 }, volume: 0.5, muted: true },
      { kind: 'state', playerId: 'p5', playing: true, rate: 0, loop: null, volume: 0.5, muted: true },
      { kind: 'ended', playerId: 'p5' },
      { kind: 'error', playerId: 'p5', error: { code: 'media_error', message: 'Cannot decode.' } },
    ]);
    await tauriBackend.closePlayer('p5');
  });

  it('relates the engine events to what the UI listed and maps them to the UI events', async () => {
    mockIPC(
      (cmd) => {
        if (cmd === 'list_assets') return [{ ...ASSET, id: 'asset-7', accountId: 'kitsu-1', versionKey: 'kitsu-1:ver-7' }];
        if (cmd === 'list_notes') return [];
        if (cmd === 'create_note') {
          return {
            id: 'note-1', versionKey: 'kitsu-1:ver-7', parentId: null, author: 'Me', createdAt: '2026-11-22T10:00:00Z',
            text: 'x', frames: null, timecode: null, status: 'open', drawing: null, outbox: { state: 'pending' },
            reviewStatus: null, frameThumbnailUrl: null,
          };
        }
        if (cmd === 'sync_now') return 'task-9';
        return null;
      },
      { shouldMockEvents: true },
    );
    const offline: OfflineChanged[] = [];
    const outbox: OutboxChanged[] = [];
    const tasks: TaskProgress[] = [];
    const syncs: SyncProgress[] = [];
    const connections: ConnectionChanged[] = [];
    const stops = [
      tauriBackend.onOfflineChanged((e) => offline.push(e)),
      tauriBackend.onOutboxChanged((e) => outbox.push(e)),
      tauriBackend.onTaskProgress((e) => tasks.push(e)),
      tauriBackend.onSyncProgress((e) => syncs.push(e)),
      tauriBackend.onConnectionChanged((e) => connections.push(e)),
    ];
    await tick();
    await tauriBackend.listAssets('kitsu-1', 'n');
    await tauriBackend.createNote({ versionKey: 'kitsu-1:ver-7', parentId: null, text: 'x', frames: null, drawing: null, reviewStatus: null });
    await tauriBackend.syncNow('kitsu-1');

    await emit('offline-changed', { accountId: 'kitsu-1', versionId: 'ver-7', bytes: 250, total: 1000, state: 'downloading' });
    await emit('offline-changed', { accountId: 'kitsu-1', versionId: 'ver-7', bytes: 0, total: null, state: 'queued' });
    await emit('offline-changed', { accountId: 'kitsu-1', versionId: 'ver-7', bytes: 1000, total: 1000, state: 'complete' });
    await emit('offline-changed', { accountId: 'kitsu-1', versionId: 'ver-7', bytes: 0, total: null, state: 'failed' });
    await emit('offline-changed', { accountId: 'kitsu-1', versionId: 'not-listed', bytes: 1, total: 2, state: 'downloading' });
    expect(offline).toEqual([
      { accountId: 'kitsu-1', assetId: 'asset-7', offline: { state: 'downloading', progress: 0.25 } },
      { accountId: 'kitsu-1', assetId: 'asset-7', offline: { state: 'downloading', progress: 0 } },
      { accountId: 'kitsu-1', assetId: 'asset-7', offline: { state: 'available' } },
      { accountId: 'kitsu-1', assetId: 'asset-7', offline: { state: 'none' } },
    ]);

    await emit('outbox-changed', { accountId: 'kitsu-1', noteId: 'note-1', state: 'in_flight', error: null });
    await emit('outbox-changed', { accountId: 'kitsu-1', noteId: 'note-1', state: 'queued', error: 'Kitsu cannot be reached.' });
    await emit('outbox-changed', { accountId: 'kitsu-1', noteId: 'note-1', state: 'failed', error: 'Forbidden.' });
    await emit('outbox-changed', { accountId: 'kitsu-1', noteId: 'note-1', state: 'done', error: null });
    await emit('outbox-changed', { accountId: 'kitsu-1', noteId: 'note-1', state: 'discarded', error: null });
    await emit('outbox-changed', { accountId: 'kitsu-1', noteId: null, state: 'done', error: null });
    await emit('outbox-changed', { accountId: 'kitsu-1', noteId: 'someone-elses', state: 'done', error: null });
    const note = { noteId: 'note-1', versionKey: 'kitsu-1:ver-7' };
    expect(outbox).toEqual([
      { ...note, outbox: { state: 'pending' } },
      { ...note, outbox: { state: 'pending' } },
      { ...note, outbox: { state: 'failed', reason: 'Forbidden.' } },
      { ...note, outbox: { state: 'sent' } },
    ]);

    const task = { taskId: 'task-9', kind: 'sync', label: 'Syncing Kitsu', progress: null, state: 'running', error: null, cancellable: true };
    await emit('task-progress', task);
    await emit('task-progress', { ...task, progress: 1, state: 'failed', error: { code: 'offline', message: 'Kitsu cannot be reached.' }, cancellable: false });
    await emit('task-progress', { ...task, kind: 'reindex', state: 'paused' });
    expect(tasks).toEqual([
      task,
      { ...task, progress: 1, state: 'failed', error: { code: 'offline', message: 'Kitsu cannot be reached.' }, cancellable: false },
      { ...task, state: 'failed', error: { code: 'internal', message: 'The task ended in a state Framenote does not know ("paused").' } },
    ]);

    await emit('sync-progress', { accountId: 'kitsu-1', phase: 'tree', nodes: 4, assets: 0, notes: 0 });
    await emit('sync-progress', { accountId: 'kitsu-1', phase: 'notes', nodes: 4, assets: 10, notes: 3 });
    await emit('sync-progress', { accountId: 'kitsu-1', phase: 'done', nodes: 4, assets: 10, notes: 9 });
    expect(syncs).toEqual([
      { accountId: 'kitsu-1', taskId: 'task-9', phase: 'browsing', done: 4, total: null },
      { accountId: 'kitsu-1', taskId: 'task-9', phase: 'notes', done: 17, total: null },
      { accountId: 'kitsu-1', taskId: 'task-9', phase: 'done', done: 23, total: null },
    ]);

    await emit('connection-changed', { accountId: 'kitsu-1', connection: 'login_required', message: 'Sign in again.' });
    expect(connections).toEqual([{ accountId: 'kitsu-1', connection: 'login_required' }]);

    for (const stop of stops) stop();
    await tick();
    await emit('connection-changed', { accountId: 'kitsu-1', connection: 'online', message: null });
    expect(connections.length).toBe(1);
  });
});
