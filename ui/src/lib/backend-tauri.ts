//! The `Backend` served by the Rust shell inside Tauri, on top of the tauri-specta bindings.
//!
//! Every call goes through the generated `commands` and `events` of src/ipc/bindings.ts, so the
//! command names, argument names and payload types come from the Rust signatures and a change
//! on either side shows up as a type error here, never as a silent mismatch at run time. This
//! file owns the whole adaptation between the generated types and the UI's own (backend.ts):
//! `{status:"error"}` answers become `BackendError`s, wire shapes are mapped where they differ,
//! player state is completed with what the UI last told the player, and every frame received on
//! a player's channel is acknowledged exactly once (`player_frame_drawn`), which is what keeps
//! the backend's flow-control window open. Methods whose command the shell does not offer yet
//! reject with `internal` "not available in this build"; events it does not emit yet never fire.

import { Channel } from '@tauri-apps/api/core';
import type { UnlistenFn } from '@tauri-apps/api/event';
import {
  commands,
  events,
  type AccountView_Serialize,
  type AppInfo as WireAppInfo,
  type AssetSummary_Serialize,
  type IpcError,
  type LibraryNode_Serialize,
  type OfflineState as WireOfflineState,
  type OpenedPlayer_Serialize,
  type PlayerCommand as WirePlayerCommand,
  type PlayerNews,
} from '../ipc/bindings';
import {
  BackendError,
  toBackendError,
  type Account,
  type AppInfo,
  type AssetSummary,
  type Backend,
  type FrameHandler,
  type LibraryNode,
  type OfflineState,
  type OpenedPlayer,
  type PlayerCommand,
  type PlayerEvent,
  type PlayerStateEvent,
  type Unsubscribe,
  type Viewport,
} from './backend';

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
  if (result.status === 'error') throw toBackendError(result.error);
  return result.data;
}

/** The rejection of a `Backend` method whose Rust command this build of the shell lacks. */
function notAvailable<T>(): Promise<T> {
  return Promise.reject(new BackendError('internal', 'not available in this build'));
}

/** The subscription to an event this build of the shell never emits: nothing to undo. */
function noEvent(): Unsubscribe {
  return () => undefined;
}

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
// Wire types → UI types (TypeScript checks every identity below against both sides)
// ---------------------------------------------------------------------------------------------

const mapAppInfo = (w: WireAppInfo): AppInfo => ({ name: 'Framenote', version: w.version, dataDir: w.dataDir });

const mapAccount = (w: AccountView_Serialize): Account => w;

const mapNode = (w: LibraryNode_Serialize): LibraryNode => w;

/** The wire may not know a download's progress yet (`null`); the UI shows that as 0. */
function mapOffline(w: WireOfflineState): OfflineState {
  return w.state === 'downloading' ? { state: 'downloading', progress: w.progress ?? 0 } : w;
}

const mapAsset = (w: AssetSummary_Serialize): AssetSummary => ({ ...w, offline: mapOffline(w.offline) });

const mapOpened = (w: OpenedPlayer_Serialize): OpenedPlayer => w;

const toWireCommand = (c: PlayerCommand): WirePlayerCommand => c;

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
  return { kind: 'error', playerId: n.playerId, error: toBackendError(n.error).toPayload() };
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
  listStatuses: () => notAvailable(),
  listPeople: () => notAvailable(),
  pin: () => notAvailable(),
  unpin: () => notAvailable(),
  syncNow: () => notAvailable(),
  cancelTask: () => notAvailable(),

  openPlayer,
  playerCommand: async (playerId, command) => {
    remember(playerId, command);
    await unwrap(commands.playerCommand(playerId, toWireCommand(command)));
  },
  closePlayer: async (playerId) => {
    settings.delete(playerId);
    await unwrap(commands.closePlayer(playerId));
  },

  listNotes: () => notAvailable(),
  createNote: () => notAvailable(),
  setNoteStatus: () => notAvailable(),
  retryNote: () => notAvailable(),
  discardNote: () => notAvailable(),

  saveSnapshot: () => notAvailable(),

  onPlayerEvent: (h: (e: PlayerEvent) => void) => subscribe(events.playerNews.listen, (n) => h(mapPlayerNews(n))),
  onSyncProgress: () => noEvent(),
  onTaskProgress: () => noEvent(),
  onOutboxChanged: () => noEvent(),
  onOfflineChanged: () => noEvent(),
  onConnectionChanged: () => noEvent(),
};
