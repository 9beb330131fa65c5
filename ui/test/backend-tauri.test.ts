// The Tauri adapter against Tauri's own IPC mock: command names and arguments as BACKEND.md
// lists them, binary frames through the channel, errors mapped to BackendError, events.
import { afterEach, describe, expect, it } from 'vitest';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { Channel } from '@tauri-apps/api/core';
import { BackendError, type OutboxChanged } from '../src/lib/backend';
import { tauriBackend } from '../src/lib/backend-tauri';
import { decodeFrame, encodeFrame } from '../src/lib/frame';

afterEach(() => clearMocks());

describe('tauriBackend', () => {
  it('calls the commands with the documented names and arguments', async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'list_accounts') return [];
      if (cmd === 'sync_now') return 'task-1';
      return null;
    });
    await tauriBackend.listAccounts();
    await tauriBackend.listNodes('acc', null);
    await tauriBackend.pin({ kind: 'node', accountId: 'acc', nodeId: 'n' });
    expect(await tauriBackend.syncNow('acc')).toBe('task-1');
    await tauriBackend.playerCommand('p1', { type: 'setLoop', in: 3, out: 9 });
    await tauriBackend.saveSnapshot('v', 12, null);
    expect(calls).toEqual([
      ['list_accounts', {}],
      ['list_nodes', { accountId: 'acc', parentId: null }],
      ['pin', { scope: { kind: 'node', accountId: 'acc', nodeId: 'n' } }],
      ['sync_now', { accountId: 'acc' }],
      ['player_command', { playerId: 'p1', cmd: { type: 'setLoop', in: 3, out: 9 } }],
      ['save_snapshot', { versionKey: 'v', frame: 12, drawingPng: null }],
    ]);
  });

  it('opens a player with a channel and hands each binary frame to the viewer', async () => {
    let channel: Channel<ArrayBuffer> | null = null;
    mockIPC((cmd, args) => {
      if (cmd !== 'open_player') return null;
      const a = args as { versionKey: string; viewportW: number; viewportH: number; channel: Channel<ArrayBuffer> };
      expect([a.versionKey, a.viewportW, a.viewportH]).toEqual(['v1', 1281, 720]);
      channel = a.channel;
      return { playerId: 'p9', media: { frameRate: { num: 24, den: 1 }, firstFrame: 1001, frameCount: 10, startTimecode: null, dropFrame: false, width: 4, height: 2, hasAudio: false } };
    });
    const got: ArrayBuffer[] = [];
    const opened = await tauriBackend.openPlayer('v1', { width: 1280.6, height: 720.2 }, (m) => got.push(m));
    expect(opened.playerId).toBe('p9');
    expect(channel).not.toBeNull();
    const frame = encodeFrame({ width: 4, height: 2, playing: false, index: 3, displayFrame: 1004, timecode: '00:00:00:03' });
    channel!.onmessage(frame);
    channel!.onmessage(new Uint8Array(frame) as unknown as ArrayBuffer);
    expect(got.length).toBe(2);
    expect(decodeFrame(got[1]!).displayFrame).toBe(1004);
  });

  it('turns the shell errors into BackendError with their code and message', async () => {
    mockIPC(() => {
      throw { code: 'offline', message: 'Kitsu cannot be reached.' };
    });
    const e = await tauriBackend.listAssets('a', 'n').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BackendError);
    expect(e).toMatchObject({ code: 'offline', message: 'Kitsu cannot be reached.' });
    mockIPC(() => {
      throw { code: 'something_new', message: 'Odd.' };
    });
    expect(await tauriBackend.listAccounts().catch((x: unknown) => x)).toMatchObject({ code: 'internal', message: 'Odd.' });
  });

  it('delivers events until unsubscribed', async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const seen: OutboxChanged[] = [];
    const stop = tauriBackend.onOutboxChanged((e) => seen.push(e));
    await new Promise((r) => setTimeout(r, 0));
    await emit('outbox-changed', { noteId: 'n1', versionKey: 'v', outbox: { state: 'sent' } });
    stop();
    await new Promise((r) => setTimeout(r, 0));
    await emit('outbox-changed', { noteId: 'n2', versionKey: 'v', outbox: { state: 'sent' } });
    expect(seen.map((e) => e.noteId)).toEqual(['n1']);
  });
});
