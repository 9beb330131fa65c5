//! The `Backend` served by the Rust shell inside Tauri, on top of the tauri-specta bindings.
//!
//! Every call goes through the generated `commands` and `events` of src/ipc/bindings.ts, so the
//! command names, argument names and payload types come from the Rust signatures and a change
//! on either side shows up as a type error here, never as a silent mismatch at run time. This
//! file owns the whole adaptation between the generated types and the UI's own (backend.ts):
//! `{status:"error"}` answers become `BackendError`s, wire shapes are mapped where they differ,
//! player state is completed with what the UI last told the player, and every frame received on
//! a player's channel is acknowledged exactly once (`player_frame_drawn`), which is what keeps
//! the backend's flow-control window open. Engine events name things by the engine's ids, so the
//! answers the UI received are remembered just enough to relate each event to what is on screen.

import { Channel } from '@tauri-apps/api/core';
import type { UnlistenFn } from '@tauri-apps/api/event';
import {
  commands,
  events,
  type AccountView_Serialize,
  type AppInfo as WireAppInfo,
  type AssetSummary_Serialize,
  type ConnectionChanged_Serialize,
  type Drawing_Serialize,
  type DragDropEvent as WireDragDropEvent,
  type ErrorCode as WireErrorCode,
  type IpcError,
  type LibraryNode_Serialize,
  type NewNote_Deserialize,
  type NoteThread_Serialize,
  type NoteView_Serialize,
  type OfflineChanged_Serialize,
  type OfflineState as WireOfflineState,
  type OpenedPlayer_Serialize,
  type OutboxChanged_Serialize,
  type PinScope as WirePinScope,
  type PlayerCommand as WirePlayerCommand,
  type PlayerNews,
  type Point as WirePoint,
  type Shape as WireShape,
  type SnapshotResult as WireSnapshotResult,
  type SyncProgress as WireSyncProgress,
  type TaskProgress_Serialize,
  type SignInFinished_Serialize as WireSignInFinished,
} from '../ipc/bindings';
import {
  BackendError,
  toBackendError,
  type Account,
  type AppInfo,
  type AssetSummary,
  type Backend,
  type ConnectionChanged,
  type Drawing,
  type ErrorCode,
  type FrameHandler,
  type LibraryNode,
  type NewNote,
  type NoteThread,
  type NoteView,
  type OfflineChanged,
  type OfflineState,
  type OpenedPlayer,
  type OutboxChanged,
  type OutboxState,
  type PinScope,
  type PlayerCommand,
  type PlayerEvent,
  type PlayerStateEvent,
  type Point,
  type Shape,
  type SnapshotResult,
  type SyncProgress,
  type TaskKind,
  type TaskProgress,
  type Unsubscribe,
  type Viewport,
  type DragDropEvent,
  type ExportedNotes,
  type Person,
  type Transfer,
  type TransferSettings,
  type UploadPlan,
  type WatchFolder,
  type DeviceSignIn,
  type SignedIn,
  type SignInDetails,
  type SignInFinished,
} from './backend';

/** Positions are `f64` in Rust, which specta types as nullable (a NaN serialises as null). */
function mapDragDrop(e: WireDragDropEvent): DragDropEvent {
  switch (e.kind) {
    case 'enter':
    case 'drop':
      return { kind: e.kind, paths: e.paths, x: e.x ?? 0, y: e.y ?? 0 };
    case 'over':
      return { kind: 'over', x: e.x ?? 0, y: e.y ?? 0 };
    case 'leave':
      return { kind: 'leave' };
  }
}

// ---------------------------------------------------------------------------------------------
// Calls and subscriptions
// ---------------------------------------------------------------------------------------------

/** What every generated command resolves to (tauri-specta's `typedError`). */
type WireResult<T> = { status: 'ok'; data: T } | { status: 'error'; error: IpcError };

/**
 * Awaits a generated command and returns its data, or rejects with a `BackendError`. The generated
 * wrapper re-throws `Error`s (a missing IPC bridge, a serialisation failure) instead of returning
 * them, so those are converted here too.
 */
async function unwrap<T>(call: Promise<WireResult<T>>): Promise<T> {
  let result: WireResult<T>;
  try {
    result = await call;
  } catch (e) {
    throw toBackendError(e);
  }
  if (result.status === 'error') throw mapError(result.error);
  return result.data;
}

/** Every code the shell declares must be one the UI knows (a type error here otherwise). */
const knownCode = (c: WireErrorCode): ErrorCode => c;

/** An `IpcError` as a `BackendError`; a code from a newer shell still degrades to `internal`. */
const mapError = (e: IpcError): BackendError => toBackendError({ code: knownCode(e.code), message: e.message });

/** The `listen` of a generated event, reduced to what `subscribe` needs. */
type Listen<T> = (cb: (event: { payload: T }) => void) => Promise<UnlistenFn>;

/**
 * Listens to a generated event. `listen` is async but the UI wants a synchronous unsubscribe, so
 * the pending registration is kept and undone once it exists; nothing is delivered after `stop`.
 */
function subscribe<T>(listen: Listen<T>, handler: (payload: T) => void): Unsubscribe {
  let stopped = false;
  const pending: Promise<UnlistenFn | null> = listen((e) => {
    if (!stopped) handler(e.payload);
  }).catch(() => null);
  return () => {
    stopped = true;
    void pending.then((un) => un?.());
  };
}

// ---------------------------------------------------------------------------------------------
// What the UI was told
// ---------------------------------------------------------------------------------------------

// The engine's events name things by the ids it works with; the UI's events name them by what
// the UI shows. These lookups, filled from the answers the UI received, bridge the two: an event
// about something the UI never listed concerns nothing on screen and is dropped.

/** Version key of each listed asset's shown version → that asset's id. */
const shownVersions = new Map<string, string>();
/** Note id → its version key, for every note the UI listed, wrote or changed. */
const noteVersions = new Map<string, string>();
/** Account id → the task id of the sync the UI started last for it. */
const syncTasks = new Map<string, string>();

// ---------------------------------------------------------------------------------------------
// Wire types → UI types (TypeScript checks every identity below against both sides)
// ---------------------------------------------------------------------------------------------

const mapAppInfo = (w: WireAppInfo): AppInfo => ({ name: 'Framenote', version: w.version, dataDir: w.dataDir });

const mapAccount = (w: AccountView_Serialize): Account => w;

const mapNode = (w: LibraryNode_Serialize): LibraryNode => w;

/** A failed outcome's error code from a newer shell still degrades to `internal`. */
function mapSignInFinished(w: WireSignInFinished): SignInFinished {
  const o = w.outcome;
  return o.state === 'failed' ? { flowId: w.flowId, outcome: { state: 'failed', error: mapError(o.error).toPayload() } } : { flowId: w.flowId, outcome: o };
}

/** The wire may not know a download's progress yet (`null`); the UI shows that as 0. */
function mapOffline(w: WireOfflineState): OfflineState {
  return w.state === 'downloading' ? { state: 'downloading', progress: w.progress ?? 0 } : w;
}

function mapAsset(w: AssetSummary_Serialize): AssetSummary {
  shownVersions.set(w.versionKey, w.id);
  return { ...w, offline: mapOffline(w.offline) };
}

const mapOpened = (w: OpenedPlayer_Serialize): OpenedPlayer => w;

const toWireCommand = (c: PlayerCommand): WirePlayerCommand => c;

const toWireScope = (s: PinScope): WirePinScope => s;

const toWireNote = (n: NewNote): NewNote_Deserialize => n;

const mapSnapshot = (w: WireSnapshotResult): SnapshotResult => w;

/**
 * Drawing numbers are `number | null` on the wire because serde writes a non-finite f64 as null;
 * the backend never stores one, and 0 keeps a shape drawable if it ever did.
 */
const finite = (v: number | null): number => v ?? 0;

const mapPoint = (p: WirePoint): Point => ({ x: finite(p.x), y: finite(p.y) });

function mapShape(w: WireShape): Shape {
  const base = { id: w.id, stroke: { color: w.stroke.color, width: finite(w.stroke.width) } };
  switch (w.type) {
    case 'pen':
      return { ...base, type: 'pen', points: w.points.map(mapPoint) };
    case 'line':
      return { ...base, type: 'line', from: mapPoint(w.from), to: mapPoint(w.to) };
    case 'arrow':
      return { ...base, type: 'arrow', from: mapPoint(w.from), to: mapPoint(w.to) };
    case 'rect':
      return { ...base, type: 'rect', origin: mapPoint(w.origin), width: finite(w.width), height: finite(w.height) };
    case 'ellipse':
      return { ...base, type: 'ellipse', center: mapPoint(w.center), rx: finite(w.rx), ry: finite(w.ry) };
    case 'text':
      return { ...base, type: 'text', at: mapPoint(w.at), text: w.text, size: finite(w.size) };
  }
}

/** `overlay_svg` (a platform drawing kept as SVG) has no place in the UI's `Drawing` yet. */
const mapDrawing = (w: Drawing_Serialize): Drawing => ({ shapes: w.shapes.map(mapShape) });

function mapNote(w: NoteView_Serialize): NoteView {
  noteVersions.set(w.id, w.versionKey);
  return { ...w, drawing: w.drawing ? mapDrawing(w.drawing) : null };
}

const mapThread = (w: NoteThread_Serialize): NoteThread => ({ root: mapNote(w.root), replies: w.replies.map(mapNote) });

// ---------------------------------------------------------------------------------------------
// Engine events → UI events
// ---------------------------------------------------------------------------------------------

/**
 * The shell's version key of a platform version (`version_key` in src-tauri/src/commands/
 * library.rs: account and version id joined by a colon). Offline events carry only the ids.
 */
const versionKeyOf = (accountId: string, versionId: string): string => `${accountId}:${versionId}`;

/** A download's state names (`MediaState::key` in the cache) as the badge shows them. */
function mapMediaState(w: OfflineChanged_Serialize): OfflineState {
  switch (w.state) {
    case 'queued':
    case 'downloading':
      return { state: 'downloading', progress: w.total ? Math.min(1, w.bytes / w.total) : 0 };
    case 'complete':
      return { state: 'available' };
    case 'outdated':
      return { state: 'outdated' };
    default:
      // "none", "failed" and anything newer: no usable copy, as `list_assets` reports them.
      return { state: 'none' };
  }
}

function mapOfflineChanged(w: OfflineChanged_Serialize): OfflineChanged | null {
  const assetId = shownVersions.get(versionKeyOf(w.accountId, w.versionId));
  if (assetId === undefined) return null;
  return { accountId: w.accountId, assetId, offline: mapMediaState(w) };
}

/** An outbox operation's state (`OpState::key` in the cache) as the note's badge shows it. */
function mapOpState(w: OutboxChanged_Serialize): OutboxState | null {
  switch (w.state) {
    case 'queued':
    case 'in_flight':
      return { state: 'pending' }; // a retryable error keeps it queued: still pending
    case 'done':
      return { state: 'sent' };
    case 'failed':
      return { state: 'failed', reason: w.error ?? 'The platform refused the note.' };
    default:
      return null; // "discarded": the UI removed the note when it asked for that
  }
}

function mapOutboxChanged(w: OutboxChanged_Serialize): OutboxChanged | null {
  if (w.noteId === null) return null;
  const versionKey = noteVersions.get(w.noteId);
  const outbox = mapOpState(w);
  if (versionKey === undefined || outbox === null) return null;
  return { noteId: w.noteId, versionKey, outbox };
}

/** Pull phases (`PullPhase` in the sync crate, lower-cased). */
function mapSyncProgress(w: WireSyncProgress): SyncProgress {
  const phase = w.phase === 'notes' ? 'notes' : w.phase === 'done' ? 'done' : 'browsing';
  return {
    accountId: w.accountId,
    taskId: syncTasks.get(w.accountId) ?? '',
    phase,
    done: w.nodes + w.assets + w.notes,
    total: null,
  };
}

const TASK_KINDS: ReadonlySet<string> = new Set<TaskKind>(['sync', 'download', 'upload', 'export']);
const TASK_STATES: ReadonlySet<string> = new Set<TaskProgress['state']>(['running', 'done', 'failed', 'cancelled']);

function mapTaskProgress(w: TaskProgress_Serialize): TaskProgress {
  // An unknown kind still shows in the tray under its label; an unknown state must not leave a
  // task "running" for ever, so it ends the task as failed.
  const kind = TASK_KINDS.has(w.kind) ? (w.kind as TaskKind) : 'sync';
  const known = TASK_STATES.has(w.state);
  return {
    taskId: w.taskId,
    kind,
    label: w.label,
    progress: w.progress,
    state: known ? (w.state as TaskProgress['state']) : 'failed',
    error: w.error
      ? mapError(w.error).toPayload()
      : known
        ? null
        : { code: 'internal', message: `The task ended in a state Framenote does not know ("${w.state}").` },
    cancellable: w.cancellable,
  };
}

const mapConnectionChanged = (w: ConnectionChanged_Serialize): ConnectionChanged => ({
  accountId: w.accountId,
  connection: w.connection,
});

/** Delivers only the events `map` could relate to something the UI shows. */
function relay<W, U>(handler: (e: U) => void, map: (w: W) => U | null): (w: W) => void {
  return (w) => {
    const e = map(w);
    if (e !== null) handler(e);
  };
}

// ---------------------------------------------------------------------------------------------
// Player
// ---------------------------------------------------------------------------------------------

/** What the shell's state news does not carry: the UI's own last word to each player. */
interface Settings {
  loop: { in: number; out: number } | null;
  volume: number;
  muted: boolean;
}

/** A freshly opened engine: no loop, GStreamer's unity volume, not muted. */
const ENGINE_DEFAULTS: Readonly<Settings> = { loop: null, volume: 1, muted: false };

const settings = new Map<string, Settings>();

/** Records a command's effect on the settings, synchronously, before it is even sent. */
function remember(playerId: string, c: PlayerCommand): void {
  const s = settings.get(playerId);
  if (!s) return;
  if (c.type === 'setLoop') s.loop = { in: c.in, out: c.out };
  else if (c.type === 'clearLoop') s.loop = null;
  else if (c.type === 'setVolume') s.volume = c.volume;
  else if (c.type === 'setMuted') s.muted = c.muted;
}

function mapPlayerNews(n: PlayerNews): PlayerEvent {
  if (n.kind === 'state') {
    const s = settings.get(n.playerId) ?? ENGINE_DEFAULTS;
    const state: PlayerStateEvent = {
      kind: 'state',
      playerId: n.playerId,
      playing: n.playing,
      // `null` is how serde writes a non-finite rate; there is no sensible speed to show but 0.
      rate: n.rate ?? 0,
      loop: s.loop ? { ...s.loop } : null,
      volume: s.volume,
      muted: s.muted,
    };
    return state;
  }
  if (n.kind === 'ended') return { kind: 'ended', playerId: n.playerId };
  return { kind: 'error', playerId: n.playerId, error: mapError(n.error).toPayload() };
}

/** Frame messages are raw bytes; Tauri hands them over as an ArrayBuffer (or a view of one). */
function asArrayBuffer(m: unknown): ArrayBuffer | null {
  if (m instanceof ArrayBuffer) return m;
  if (ArrayBuffer.isView(m)) return m.buffer.slice(m.byteOffset, m.byteOffset + m.byteLength) as ArrayBuffer;
  return null;
}

/**
 * Tells the shell a frame left the flow-control window. Fire and forget: the shell answers ok even
 * for a closed player, and a failed acknowledgement has nobody to tell but would only cost one
 * frame slot until the player next pauses (pausing resets the window).
 */
function acknowledge(playerId: string): void {
  void commands.playerFrameDrawn(playerId).catch(() => undefined);
}

async function openPlayer(versionKey: string, viewport: Viewport, onFrame: FrameHandler): Promise<OpenedPlayer> {
  // The shell starts sending frames before `open_player` answers, so the player id may not be
  // known yet when the first frames are drawn: their acknowledgements wait in `owed`.
  let playerId: string | null = null;
  let owed = 0;
  const ack = (): void => {
    if (playerId === null) owed += 1;
    else acknowledge(playerId);
  };

  const channel = new Channel<unknown>();
  channel.onmessage = (m) => {
    let acked = false;
    const drawn = (): void => {
      if (acked) return;
      acked = true;
      ack();
    };
    const message = asArrayBuffer(m);
    if (!message) {
      drawn(); // Not a frame, so it will never be drawn, but the shell counted it in flight.
      return;
    }
    try {
      onFrame(message, drawn);
    } catch (e) {
      drawn(); // A viewer that threw will not draw it either; idempotent if it already said so.
      throw e;
    }
  };

  const opened = mapOpened(
    await unwrap(commands.openPlayer(versionKey, Math.round(viewport.width), Math.round(viewport.height), channel)),
  );
  playerId = opened.playerId;
  settings.set(playerId, { ...ENGINE_DEFAULTS });
  for (; owed > 0; owed--) acknowledge(playerId);
  return opened;
}

// ---------------------------------------------------------------------------------------------
// The backend
// ---------------------------------------------------------------------------------------------

export const tauriBackend: Backend = {
  appInfo: async () => mapAppInfo(await unwrap(commands.appInfo())),

  listAccounts: async () => (await unwrap(commands.listAccounts())).map(mapAccount),
  listNodes: async (accountId, parentId) => (await unwrap(commands.listNodes(accountId, parentId))).map(mapNode),
  listAssets: async (accountId, nodeId) => (await unwrap(commands.listAssets(accountId, nodeId))).map(mapAsset),
  listStatuses: async (accountId) => await unwrap(commands.listStatuses(accountId)),
  listPeople: async (accountId): Promise<Person[]> => await unwrap(commands.listPeople(accountId)),
  pin: async (scope) => {
    await unwrap(commands.pin(toWireScope(scope)));
  },
  unpin: async (scope) => {
    await unwrap(commands.unpin(toWireScope(scope)));
  },
  syncNow: async (accountId) => {
    const taskId = await unwrap(commands.syncNow(accountId));
    syncTasks.set(accountId, taskId);
    return taskId;
  },
  cancelTask: async (taskId) => {
    await unwrap(commands.cancelTask(taskId));
  },

  // Sign-in: the wire types are the UI's own shapes (checked by assignment).
  signIn: async (request): Promise<SignedIn> => {
    const done: SignedIn = await unwrap(commands.signIn(request));
    if (done.syncTaskId) syncTasks.set(done.accountId, done.syncTaskId);
    return done;
  },
  signInDevice: async (platform, baseUrl, label, accountId): Promise<DeviceSignIn> =>
    await unwrap(commands.signInDevice(platform, baseUrl, label, accountId)),
  cancelSignIn: async (flowId) => {
    await unwrap(commands.cancelSignIn(flowId));
  },
  signInDetails: async (accountId): Promise<SignInDetails> => await unwrap(commands.signInDetails(accountId)),
  signOut: async (accountId) => {
    await unwrap(commands.signOut(accountId));
    syncTasks.delete(accountId);
  },

  openPlayer,
  playerCommand: async (playerId, command) => {
    remember(playerId, command);
    await unwrap(commands.playerCommand(playerId, toWireCommand(command)));
  },
  closePlayer: async (playerId) => {
    settings.delete(playerId);
    await unwrap(commands.closePlayer(playerId));
  },

  listNotes: async (versionKey) => (await unwrap(commands.listNotes(versionKey))).map(mapThread),
  createNote: async (note) => mapNote(await unwrap(commands.createNote(toWireNote(note)))),
  setNoteStatus: async (noteId, status) => mapNote(await unwrap(commands.setNoteStatus(noteId, status))),
  exportNotes: async (accountId): Promise<ExportedNotes> => await unwrap(commands.exportNotes(accountId)),
  retryNote: async (noteId) => {
    await unwrap(commands.retryNote(noteId));
  },
  discardNote: async (noteId) => {
    await unwrap(commands.discardNote(noteId));
    noteVersions.delete(noteId);
  },

  saveSnapshot: async (versionKey, frame, drawingPng) =>
    mapSnapshot(await unwrap(commands.saveSnapshot(versionKey, frame, drawingPng))),

  onPlayerEvent: (h) => subscribe(events.playerNews.listen, relay(h, mapPlayerNews)),
  onSyncProgress: (h) => subscribe(events.syncProgress.listen, relay(h, mapSyncProgress)),
  onTaskProgress: (h) => subscribe(events.taskProgress.listen, relay(h, mapTaskProgress)),
  onOutboxChanged: (h) => subscribe(events.outboxChanged.listen, relay(h, mapOutboxChanged)),
  onOfflineChanged: (h) => subscribe(events.offlineChanged.listen, relay(h, mapOfflineChanged)),
  onConnectionChanged: (h) => subscribe(events.connectionChanged.listen, relay(h, mapConnectionChanged)),
  onSignInFinished: (h) =>
    subscribe(events.signInFinished.listen, (e: WireSignInFinished) => {
      if (e.outcome.state === 'done' && e.outcome.account.syncTaskId) syncTasks.set(e.outcome.account.accountId, e.outcome.account.syncTaskId);
      h(mapSignInFinished(e));
    }),

  // Uploads and watch folders: the wire types are the UI's own shapes (checked by assignment).
  planUpload: async (paths, destination): Promise<UploadPlan> =>
    await unwrap(commands.planUpload(paths, destination)),
  queueUpload: async (plan, comment): Promise<Transfer[]> => await unwrap(commands.queueUpload(plan, comment)),
  listTransfers: async (): Promise<Transfer[]> => await unwrap(commands.listTransfers()),
  pauseTransfer: async (id) => {
    await unwrap(commands.pauseTransfer(id));
  },
  resumeTransfer: async (id) => {
    await unwrap(commands.resumeTransfer(id));
  },
  cancelTransfer: async (id) => {
    await unwrap(commands.cancelTransfer(id));
  },
  retryTransfer: async (id) => {
    await unwrap(commands.retryTransfer(id));
  },
  clearFinishedTransfers: async () => {
    await unwrap(commands.clearFinishedTransfers());
  },
  transferSettings: async (): Promise<TransferSettings> => await unwrap(commands.transferSettings()),
  setTransferSettings: async (s): Promise<TransferSettings> => await unwrap(commands.setTransferSettings(s)),
  listWatchFolders: async (): Promise<WatchFolder[]> => await unwrap(commands.listWatchFolders()),
  addWatchFolder: async (folder): Promise<WatchFolder> => await unwrap(commands.addWatchFolder(folder)),
  setWatchFolderEnabled: async (id, enabled): Promise<WatchFolder> =>
    await unwrap(commands.setWatchFolderEnabled(id, enabled)),
  removeWatchFolder: async (id) => {
    await unwrap(commands.removeWatchFolder(id));
  },
  onTransferChanged: (h) => subscribe(events.transfer.listen, (t: Transfer) => h(t)),
  onWatchFolderChanged: (h) => subscribe(events.watchFolder.listen, (w: WatchFolder) => h(w)),
  onDragDrop: (h) => subscribe(events.dragDropEvent.listen, (e: WireDragDropEvent) => h(mapDragDrop(e))),
};
