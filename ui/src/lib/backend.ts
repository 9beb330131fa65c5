//! The one typed interface between the review UI and whatever serves it.
//!
//! Components and stores only ever talk to a `Backend`. Two implementations exist: `tauriBackend`
//! (backend-tauri.ts, the Rust shell through the generated bindings plus a binary frame channel)
//! and `MockBackend` (backend-mock.ts, an in-memory demo used by unit tests and the browser-only
//! preview). Keeping the contract here, with UI-shaped types, means the generated bindings can
//! change spelling without touching a single component: only backend-tauri.ts adapts.

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** Every error the backend can report, as a stable machine-readable code. */
export type ErrorCode =
  | 'not_found'
  | 'invalid_input'
  | 'offline'
  | 'forbidden'
  | 'login_required'
  | 'unsupported'
  | 'media_error'
  | 'storage'
  | 'cancelled'
  | 'conflict'
  | 'internal';

/** The wire shape of a backend error: `message` is written for a person. */
export interface BackendErrorPayload {
  code: ErrorCode;
  message: string;
}

/** What every `Backend` promise rejects with, so callers can branch on `code`. */
export class BackendError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
  }
  toPayload(): BackendErrorPayload {
    return { code: this.code, message: this.message };
  }
}

const ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'not_found',
  'invalid_input',
  'offline',
  'forbidden',
  'login_required',
  'unsupported',
  'media_error',
  'storage',
  'cancelled',
  'conflict',
  'internal',
]);

/** Turns anything thrown or rejected into a `BackendError`, keeping a readable message. */
export function toBackendError(e: unknown): BackendError {
  if (e instanceof BackendError) return e;
  if (typeof e === 'object' && e !== null) {
    const rec = e as Record<string, unknown>;
    const code = rec['code'];
    const message = rec['message'];
    if (typeof code === 'string' && typeof message === 'string') {
      return new BackendError(ERROR_CODES.has(code) ? (code as ErrorCode) : 'internal', message);
    }
    if (e instanceof Error) return new BackendError('internal', e.message);
  }
  if (typeof e === 'string' && e.length > 0) return new BackendError('internal', e);
  return new BackendError('internal', 'Something went wrong.');
}

// ---------------------------------------------------------------------------------------------
// Library
// ---------------------------------------------------------------------------------------------

export type Platform = 'local' | 'kitsu' | 'iconik' | 'sony_ci' | 'moxion' | 'flex';

export const PLATFORM_NAMES: Record<Platform, string> = {
  local: 'Local library',
  kitsu: 'Kitsu',
  iconik: 'iconik',
  sony_ci: 'Sony Ci',
  moxion: 'Flow Capture (Moxion)',
  flex: 'Dalet Flex',
};

/** What a platform can do; the UI hides what is `false` (mirrors core `Capabilities`). */
export interface Capabilities {
  notes: boolean;
  replies: boolean;
  resolve: boolean;
  drawings: boolean;
  rangeNotes: boolean;
  statusChange: boolean;
  mentions: boolean;
  upload: boolean;
  uploadFolders: boolean;
  liveEvents: boolean;
}

/** Whether an account's platform can be reached right now. */
export type Connection = 'online' | 'offline' | 'login_required' | 'error';

export interface Account {
  id: string;
  platform: Platform;
  /** What a person reads, e.g. "Demo library" or "studio.kitsu.example". */
  name: string;
  /** Who is signed in, as the platform names them. */
  userName: string | null;
  capabilities: Capabilities;
  connection: Connection;
  /** RFC 3339 time of the last finished sync. */
  lastSyncAt: string | null;
}

export type NodeKind = 'workspace' | 'project' | 'folder' | 'collection' | 'task' | 'playlist';

export interface LibraryNode {
  id: string;
  parentId: string | null;
  kind: NodeKind;
  name: string;
  status: string | null;
  /** False when the node is known to have no child nodes (the tree hides its disclosure). */
  hasChildren: boolean;
  /** Kept offline as a whole (new assets in it are taken offline too). */
  pinned: boolean;
}

/** Local-copy state of one asset's current version. */
export type OfflineState =
  | { state: 'none' }
  | { state: 'downloading'; progress: number }
  | { state: 'available' }
  | { state: 'outdated' }
  | { state: 'forbidden'; reason: string };

export interface FrameRate {
  num: number;
  den: number;
}

export interface VersionSummary {
  /** Opaque key used by every version-level call (player, notes, snapshot). */
  key: string;
  number: number;
  /** E.g. "v003". */
  label: string;
}

export interface AssetSummary {
  id: string;
  accountId: string;
  nodeId: string;
  name: string;
  status: string | null;
  /** RFC 3339, for sorting by date. */
  updatedAt: string | null;
  /** The version shown by default (the newest). */
  versionKey: string;
  versionLabel: string;
  /** All versions, newest last. */
  versions: VersionSummary[];
  frameCount: number | null;
  frameRate: FrameRate | null;
  noteCount: number;
  offline: OfflineState;
  /** `framenote://localhost/thumb/...` in the app; any image URL in the preview. */
  thumbnailUrl: string | null;
  pinned: boolean;
}

/** What "make available offline" applies to. */
export type PinScope =
  | { kind: 'asset'; accountId: string; assetId: string }
  | { kind: 'node'; accountId: string; nodeId: string };

export interface AppInfo {
  name: string;
  version: string;
  /** Where snapshots and the cache live, shown in the About box. */
  dataDir: string;
}

// ---------------------------------------------------------------------------------------------
// Accounts: sign-in and sign-out
// ---------------------------------------------------------------------------------------------

/** What a person types to prove who they are; passed through to the platform, never kept. */
export type SignInCredentials =
  | { kind: 'password'; user: string; password: string }
  /** iconik: App-ID and auth token; Flow Capture: API ID and API key. */
  | { kind: 'apiKey'; keyId: string | null; secret: string };

export interface SignInRequest {
  platform: Platform;
  /** The server's address (Kitsu: its API address, usually ending in /api). */
  baseUrl: string;
  credentials: SignInCredentials;
  /** Name in the account list; the platform and the user's name when null. */
  label: string | null;
  /** Signs in again to this existing account (its session expired) instead of adding one. */
  accountId: string | null;
  /** Kitsu only: where live events (socket.io) are served when not beside the API. */
  eventsUrl: string | null;
}

export interface SignedIn {
  accountId: string;
  label: string;
  userName: string | null;
  /** The first sync, started right away (null if it could not start). */
  syncTaskId: string | null;
}

/** A device-code sign-in waiting for approval in a browser (Flow Capture). */
export interface DeviceSignIn {
  flowId: string;
  /** The code to type on the page. */
  userCode: string;
  verificationUri: string;
  expiresInSeconds: number;
}

export type SignInOutcome =
  | { state: 'done'; account: SignedIn }
  | { state: 'failed'; error: BackendErrorPayload }
  | { state: 'cancelled' };

/** A device-code sign-in ended. */
export interface SignInFinished {
  flowId: string;
  outcome: SignInOutcome;
}

/** What the sign-in form is prefilled with to sign in again to an account. */
export interface SignInDetails {
  accountId: string;
  platform: Platform;
  baseUrl: string;
  userName: string | null;
  label: string;
  eventsUrl: string | null;
}

// ---------------------------------------------------------------------------------------------
// Player
// ---------------------------------------------------------------------------------------------

/** Media facts of an opened version. Frame numbers shown are `firstFrame + index`. */
export interface MediaFacts {
  frameRate: FrameRate;
  firstFrame: number;
  frameCount: number;
  /** SMPTE label of the first frame, e.g. "01:00:00:00" (";" before frames when drop-frame). */
  startTimecode: string | null;
  dropFrame: boolean;
  width: number;
  height: number;
  hasAudio: boolean;
}

export interface OpenedPlayer {
  playerId: string;
  media: MediaFacts;
}

/**
 * Receives one binary frame message (see frame.ts). `drawn` must be called exactly once, after the
 * frame was painted or once it is certain it never will be (a newer frame replaced it, it could not
 * be decoded, the player closed): the backend keeps only a couple of frames in flight while
 * playing and waits for these acknowledgements, so a frame never acknowledged stalls playback.
 * Calling `drawn` again for the same frame does nothing.
 */
export type FrameHandler = (message: ArrayBuffer, drawn: () => void) => void;

export interface Viewport {
  /** Device pixels. */
  width: number;
  height: number;
}

/** Frame indices are 0-based media indices. A negative `rate` plays backwards. */
export type PlayerCommand =
  | { type: 'play' }
  | { type: 'pause' }
  | { type: 'seek'; frame: number }
  | { type: 'step'; delta: number }
  | { type: 'setRate'; rate: number }
  | { type: 'setLoop'; in: number; out: number }
  | { type: 'clearLoop' }
  | { type: 'setVolume'; volume: number }
  | { type: 'setMuted'; muted: boolean }
  | { type: 'setViewport'; width: number; height: number };

export interface PlayerStateEvent {
  kind: 'state';
  playerId: string;
  playing: boolean;
  rate: number;
  loop: { in: number; out: number } | null;
  volume: number;
  muted: boolean;
}

export type PlayerEvent =
  | PlayerStateEvent
  | { kind: 'ended'; playerId: string }
  | { kind: 'error'; playerId: string; error: BackendErrorPayload };

// ---------------------------------------------------------------------------------------------
// Notes
// ---------------------------------------------------------------------------------------------

export interface Point {
  x: number;
  y: number;
}

export interface Stroke {
  /** `#rrggbb`. */
  color: string;
  /** Fraction of picture height. */
  width: number;
}

/** Mirrors core `annotation::Shape` (serde: tag "type", flattened). */
export type ShapeKind =
  | { type: 'pen'; points: Point[] }
  | { type: 'line'; from: Point; to: Point }
  | { type: 'arrow'; from: Point; to: Point }
  | { type: 'rect'; origin: Point; width: number; height: number }
  | { type: 'ellipse'; center: Point; rx: number; ry: number }
  | { type: 'text'; at: Point; text: string; size: number };

export type Shape = ShapeKind & { id: string; stroke: Stroke };

export interface Drawing {
  shapes: Shape[];
}

export interface FrameSpan {
  start: number;
  end: number;
}

export type NoteStatus = 'open' | 'resolved';

/** Where a locally written note is on its way to the platform. */
export type OutboxState =
  | { state: 'sent' }
  | { state: 'pending' }
  | { state: 'failed'; reason: string };

export interface NoteView {
  id: string;
  versionKey: string;
  parentId: string | null;
  author: string;
  createdAt: string;
  /** Plain text. Never rendered as HTML. */
  text: string;
  frames: FrameSpan | null;
  /** Timecode label of `frames.start`, computed by the backend. */
  timecode: string | null;
  status: NoteStatus;
  drawing: Drawing | null;
  outbox: OutboxState;
  /** A review status set with this note (Kitsu), if any. */
  reviewStatus: string | null;
  /** Image of the noted frame (`framenote://localhost/thumb/...`), for notes with a drawing. */
  frameThumbnailUrl: string | null;
}

export interface NoteThread {
  root: NoteView;
  replies: NoteView[];
}

export interface NewNote {
  versionKey: string;
  parentId: string | null;
  text: string;
  frames: FrameSpan | null;
  drawing: Drawing | null;
  reviewStatus: string | null;
}

export interface Person {
  id: string;
  name: string;
}

/** Where an export of an account's notes was written. */
export interface ExportedNotes {
  path: string;
  notes: number;
}

// ---------------------------------------------------------------------------------------------
// Tasks and events
// ---------------------------------------------------------------------------------------------

export type TaskKind = 'sync' | 'download' | 'upload' | 'export';

/** Progress of a long task. `progress` is 0..1, or null when unknown. */
export interface TaskProgress {
  taskId: string;
  kind: TaskKind;
  label: string;
  progress: number | null;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  error: BackendErrorPayload | null;
  cancellable: boolean;
}

export interface SyncProgress {
  accountId: string;
  taskId: string;
  phase: 'browsing' | 'notes' | 'outbox' | 'media' | 'done';
  done: number;
  total: number | null;
}

export interface OutboxChanged {
  noteId: string;
  versionKey: string;
  outbox: OutboxState;
}

export interface OfflineChanged {
  accountId: string;
  assetId: string;
  offline: OfflineState;
}

export interface ConnectionChanged {
  accountId: string;
  connection: Connection;
}

export type Unsubscribe = () => void;

export interface SnapshotResult {
  /** Where the PNG was written. */
  path: string;
}

// ---------------------------------------------------------------------------------------------
// Uploads and watch folders
// ---------------------------------------------------------------------------------------------

/** Where uploads go: a node of an account's library (a folder, a task, a batch...). */
export interface UploadDestination {
  accountId: string;
  nodeId: string;
}

/** One file the backend looked at before anything is sent. */
export interface PlannedFile {
  /** Absolute local path. */
  path: string;
  /** Name it gets on the platform. */
  name: string;
  size: number;
  /** Folders created under the destination for it (a dropped folder's structure), outermost first. */
  subfolder: string[];
  /** Version read from the name (`sh010_comp_v003.mov` → 3), if any. */
  versionHint: number | null;
  /** Why this file cannot be sent (null when it can). */
  rejected: string | null;
}

/** What a drop (or a chosen set of paths) would send, and where. */
export interface UploadPlan {
  destination: UploadDestination;
  /** E.g. "Kitsu › Big Buck › sh010 › Compositing". */
  destinationLabel: string;
  /** The destination takes a comment with each file (Kitsu: a comment on the task, with the new revision). */
  takesComment: boolean;
  /** Why nothing at all can be sent there (no upload on this platform), or null. */
  rejected: string | null;
  files: PlannedFile[];
}

export type TransferState = 'queued' | 'running' | 'paused' | 'done' | 'failed' | 'cancelled';

/** One upload in the transfer queue (kept across restarts). */
export interface Transfer {
  id: string;
  accountId: string;
  nodeId: string;
  destinationLabel: string;
  path: string;
  name: string;
  size: number;
  /** Bytes the platform has. */
  bytesDone: number;
  state: TransferState;
  /** Bytes per second over the last seconds, while running. */
  speed: number | null;
  /** Seconds left at that speed, while running. */
  etaSeconds: number | null;
  /** Why it failed, or what it is waiting for (e.g. "retrying in 30 s: connection reset"). */
  error: string | null;
  /** The asset it became, once done. */
  assetId: string | null;
  /** The watch folder that queued it, if any. */
  watchFolderId: string | null;
  createdAt: string;
}

export interface TransferSettings {
  /** Uploads running at once (1..8). */
  concurrency: number;
  /** Bytes per second for all uploads together; null = unlimited. */
  bandwidthLimit: number | null;
}

export interface WatchFolder {
  id: string;
  /** The local folder watched. */
  path: string;
  destination: UploadDestination;
  destinationLabel: string;
  enabled: boolean;
  /** Read version numbers from file names. */
  detectVersions: boolean;
  /** Sent as the comment with each file where the platform takes one. */
  comment: string | null;
  /** Files sent from this folder so far. */
  filesSent: number;
  /** Why the folder cannot be watched right now (e.g. it was removed), or null. */
  problem: string | null;
}

export interface NewWatchFolder {
  path: string;
  destination: UploadDestination;
  detectVersions: boolean;
  comment: string | null;
}

/** Files dragged over the window, as the OS reports them. Positions are CSS pixels in the window. */
export type DragDropEvent =
  | { kind: 'enter'; paths: string[]; x: number; y: number }
  | { kind: 'over'; x: number; y: number }
  | { kind: 'drop'; paths: string[]; x: number; y: number }
  | { kind: 'leave' };

// ---------------------------------------------------------------------------------------------
// The interface
// ---------------------------------------------------------------------------------------------

/**
 * Everything the UI asks of the backend. Every method rejects with a `BackendError`.
 * `openPlayer` takes a frame callback: each call gets one binary frame message (see frame.ts) and
 * its acknowledgement (see `FrameHandler`).
 */
export interface Backend {
  appInfo(): Promise<AppInfo>;

  listAccounts(): Promise<Account[]>;
  listNodes(accountId: string, parentId: string | null): Promise<LibraryNode[]>;
  listAssets(accountId: string, nodeId: string): Promise<AssetSummary[]>;
  listStatuses(accountId: string): Promise<string[]>;
  listPeople(accountId: string): Promise<Person[]>;
  pin(scope: PinScope): Promise<void>;
  unpin(scope: PinScope): Promise<void>;
  /** Starts a sync; its progress arrives as `syncProgress` and `taskProgress` events. */
  syncNow(accountId: string): Promise<string>;
  cancelTask(taskId: string): Promise<void>;

  /** Signs in with a password or a key; the account's first sync starts at once. */
  signIn(request: SignInRequest): Promise<SignedIn>;
  /** Starts a device-code sign-in; its end arrives as `onSignInFinished`. */
  signInDevice(platform: Platform, baseUrl: string, label: string | null, accountId: string | null): Promise<DeviceSignIn>;
  cancelSignIn(flowId: string): Promise<void>;
  /** The platform, server and user of an account, to sign in to it again. */
  signInDetails(accountId: string): Promise<SignInDetails>;
  /** Forgets the session and removes the account; refused while its notes or uploads wait to be sent. */
  signOut(accountId: string): Promise<void>;

  openPlayer(
    versionKey: string,
    viewport: Viewport,
    onFrame: FrameHandler,
  ): Promise<OpenedPlayer>;
  playerCommand(playerId: string, command: PlayerCommand): Promise<void>;
  closePlayer(playerId: string): Promise<void>;

  listNotes(versionKey: string): Promise<NoteThread[]>;
  createNote(note: NewNote): Promise<NoteView>;
  setNoteStatus(noteId: string, status: NoteStatus): Promise<NoteView>;
  retryNote(noteId: string): Promise<void>;
  /** Writes every note of an account (sent or not) as CSV; the way notes leave a platform without comments (Sony Ci). */
  exportNotes(accountId: string): Promise<ExportedNotes>;
  discardNote(noteId: string): Promise<void>;

  /**
   * Writes the frame at full resolution with `drawingPng` (a transparent PNG of the drawings at
   * the picture's aspect, base64 without a data: prefix) composited on top.
   */
  saveSnapshot(versionKey: string, frame: number, drawingPng: string | null): Promise<SnapshotResult>;

  /** Looks at dropped or chosen paths (folders are walked) and says what would be sent where. */
  planUpload(paths: string[], destination: UploadDestination): Promise<UploadPlan>;
  /** Queues the plan's accepted files; `comment` goes with each where the platform takes one. */
  queueUpload(plan: UploadPlan, comment: string | null): Promise<Transfer[]>;
  listTransfers(): Promise<Transfer[]>;
  pauseTransfer(id: string): Promise<void>;
  resumeTransfer(id: string): Promise<void>;
  cancelTransfer(id: string): Promise<void>;
  retryTransfer(id: string): Promise<void>;
  /** Forgets finished (done and cancelled) transfers. */
  clearFinishedTransfers(): Promise<void>;
  transferSettings(): Promise<TransferSettings>;
  setTransferSettings(settings: TransferSettings): Promise<TransferSettings>;

  listWatchFolders(): Promise<WatchFolder[]>;
  addWatchFolder(folder: NewWatchFolder): Promise<WatchFolder>;
  setWatchFolderEnabled(id: string, enabled: boolean): Promise<WatchFolder>;
  removeWatchFolder(id: string): Promise<void>;

  onPlayerEvent(handler: (e: PlayerEvent) => void): Unsubscribe;
  /** A transfer moved (progress, state); carries the whole record. */
  onTransferChanged(handler: (t: Transfer) => void): Unsubscribe;
  onWatchFolderChanged(handler: (w: WatchFolder) => void): Unsubscribe;
  /** Files dragged onto the window from the OS (the webview's own HTML5 drop events do not carry paths). */
  onDragDrop(handler: (e: DragDropEvent) => void): Unsubscribe;
  onSyncProgress(handler: (e: SyncProgress) => void): Unsubscribe;
  onTaskProgress(handler: (e: TaskProgress) => void): Unsubscribe;
  onOutboxChanged(handler: (e: OutboxChanged) => void): Unsubscribe;
  onOfflineChanged(handler: (e: OfflineChanged) => void): Unsubscribe;
  onConnectionChanged(handler: (e: ConnectionChanged) => void): Unsubscribe;
  onSignInFinished(handler: (e: SignInFinished) => void): Unsubscribe;
}
