//! The `Backend` served by the Rust shell inside Tauri.
//!
//! Written against the command list in ui/BACKEND.md with `invoke` / `listen` / `Channel` from
//! @tauri-apps/api, because the generated tauri-specta bindings (src/ipc/bindings.ts) have not
//! landed yet. When they do, each `call(...)` below becomes the matching `commands.*` call and
//! each `subscribe(...)` the matching `events.*.listen`; the `Backend` contract does not change.
//! Every rejection is turned into a `BackendError` carrying the shell's `{ code, message }`.

import { Channel, invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import {
  toBackendError,
  type Account,
  type AppInfo,
  type AssetSummary,
  type Backend,
  type ConnectionChanged,
  type LibraryNode,
  type NewNote,
  type NoteStatus,
  type NoteThread,
  type NoteView,
  type OfflineChanged,
  type OpenedPlayer,
  type OutboxChanged,
  type Person,
  type PinScope,
  type PlayerCommand,
  type PlayerEvent,
  type SnapshotResult,
  type SyncProgress,
  type TaskProgress,
  type Unsubscribe,
  type Viewport,
} from './backend';

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw toBackendError(e);
  }
}

/** `listen` is async; the UI wants a synchronous unsubscribe, so keep the promise and chain. */
function subscribe<T>(event: string, handler: (payload: T) => void): Unsubscribe {
  let stopped = false;
  const pending: Promise<UnlistenFn | null> = listen<T>(event, (e) => {
    if (!stopped) handler(e.payload);
  }).catch(() => null);
  return () => {
    stopped = true;
    void pending.then((un) => un?.());
  };
}

export const tauriBackend: Backend = {
  appInfo: () => call<AppInfo>('app_info'),

  listAccounts: () => call<Account[]>('list_accounts'),
  listNodes: (accountId, parentId) => call<LibraryNode[]>('list_nodes', { accountId, parentId }),
  listAssets: (accountId, nodeId) => call<AssetSummary[]>('list_assets', { accountId, nodeId }),
  listStatuses: (accountId) => call<string[]>('list_statuses', { accountId }),
  listPeople: (accountId) => call<Person[]>('list_people', { accountId }),
  pin: (scope: PinScope) => call<void>('pin', { scope }),
  unpin: (scope: PinScope) => call<void>('unpin', { scope }),
  syncNow: (accountId) => call<string>('sync_now', { accountId }),
  cancelTask: (taskId) => call<void>('cancel_task', { taskId }),

  openPlayer: (versionKey: string, viewport: Viewport, onFrame: (m: ArrayBuffer) => void) => {
    // Frames are raw bytes on their own channel: no JSON, no base64, one message per frame.
    const channel = new Channel<ArrayBuffer>();
    channel.onmessage = (m) => {
      if (m instanceof ArrayBuffer) onFrame(m);
      else if (ArrayBuffer.isView(m)) {
        const v = m as ArrayBufferView;
        onFrame(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer);
      }
    };
    return call<OpenedPlayer>('open_player', {
      versionKey,
      viewportW: Math.round(viewport.width),
      viewportH: Math.round(viewport.height),
      channel,
    });
  },
  playerCommand: (playerId: string, cmd: PlayerCommand) => call<void>('player_command', { playerId, cmd }),
  closePlayer: (playerId) => call<void>('close_player', { playerId }),

  listNotes: (versionKey) => call<NoteThread[]>('list_notes', { versionKey }),
  createNote: (note: NewNote) => call<NoteView>('create_note', { note }),
  setNoteStatus: (noteId: string, status: NoteStatus) => call<NoteView>('set_note_status', { noteId, status }),
  retryNote: (noteId) => call<void>('retry_note', { noteId }),
  discardNote: (noteId) => call<void>('discard_note', { noteId }),

  saveSnapshot: (versionKey: string, frame: number, drawingPng: string | null) =>
    call<SnapshotResult>('save_snapshot', { versionKey, frame, drawingPng }),

  onPlayerEvent: (h: (e: PlayerEvent) => void) => subscribe('player-event', h),
  onSyncProgress: (h: (e: SyncProgress) => void) => subscribe('sync-progress', h),
  onTaskProgress: (h: (e: TaskProgress) => void) => subscribe('task-progress', h),
  onOutboxChanged: (h: (e: OutboxChanged) => void) => subscribe('outbox-changed', h),
  onOfflineChanged: (h: (e: OfflineChanged) => void) => subscribe('offline-changed', h),
  onConnectionChanged: (h: (e: ConnectionChanged) => void) => subscribe('connection-changed', h),
};
