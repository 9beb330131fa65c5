//! An in-memory `Backend`: a demo library, a player that renders synthetic frames in the real
//! binary format, an outbox that posts later, and long tasks that report progress and cancel.
//!
//! Used by the unit tests (deterministic with fake timers) and by the browser-only preview (the
//! built bundle opened outside Tauri). It follows the contract in backend.ts to the letter so the
//! UI cannot come to depend on anything the Rust shell will not do.

import {
  BackendError,
  type Account,
  type AppInfo,
  type AssetSummary,
  type Backend,
  type Capabilities,
  type ConnectionChanged,
  type DragDropEvent,
  type Drawing,
  type FrameHandler,
  type LibraryNode,
  type MediaFacts,
  type NewNote,
  type NewWatchFolder,
  type NodeKind,
  type NoteStatus,
  type NoteThread,
  type NoteView,
  type OfflineChanged,
  type OfflineState,
  type OpenedPlayer,
  type OutboxChanged,
  type ExportedNotes,
  type Person,
  type PinScope,
  type PlannedFile,
  type PlayerCommand,
  type PlayerEvent,
  type SnapshotResult,
  type SyncProgress,
  type TaskProgress,
  type Transfer,
  type TransferSettings,
  type Unsubscribe,
  type UploadDestination,
  type UploadPlan,
  type Viewport,
  type WatchFolder,
  type DeviceSignIn,
  type Platform,
  type SignedIn,
  type SignInDetails,
  type SignInFinished,
  type SignInRequest,
  PLATFORM_NAMES,
} from './backend';
import { baseName, extensionOf, isAbsolutePath, isTransientName, mediaKindOf, versionFromName, versionLabel } from './filenames';
import { encodeFrame } from './frame';
import { indexToTimecode } from './timecode';

// ---------------------------------------------------------------------------------------------
// Tiny typed event hub
// ---------------------------------------------------------------------------------------------

class Hub<T> {
  private handlers = new Set<(e: T) => void>();
  on(handler: (e: T) => void): Unsubscribe {
    this.handlers.add(handler);
    return () => {
      this.handlers.delete(handler);
    };
  }
  emit(e: T): void {
    for (const h of [...this.handlers]) h(e);
  }
}

/** Copies what the UI hands over, as crossing the IPC boundary would (UI state may be proxied). */
function plain<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

// ---------------------------------------------------------------------------------------------
// Demo data
// ---------------------------------------------------------------------------------------------

const ALL: Capabilities = {
  notes: true,
  replies: true,
  resolve: true,
  drawings: true,
  rangeNotes: true,
  statusChange: true,
  mentions: true,
  upload: true,
  uploadFolders: false,
  liveEvents: true,
};

const LOCAL_CAPS: Capabilities = {
  ...ALL,
  statusChange: false,
  mentions: false,
  liveEvents: false,
};

/** Dalet Flex in Framenote reviews and notes but has no upload flow (as the connector declares). */
const FLEX_CAPS: Capabilities = {
  ...ALL,
  drawings: false,
  rangeNotes: false,
  mentions: false,
  upload: false,
  uploadFolders: false,
  liveEvents: false,
};

const NO_NOTES: Capabilities = {
  ...ALL,
  notes: false,
  replies: false,
  resolve: false,
  drawings: false,
  rangeNotes: false,
  statusChange: false,
  mentions: false,
};

interface MockClip {
  name: string;
  hue: number;
  frames: number;
  rate: { num: number; den: number };
  firstFrame: number;
  startTc: string;
  drop: boolean;
  width: number;
  height: number;
  status: string | null;
  versions: number;
  offline: OfflineState;
  updatedAt: string;
}

interface MockAsset {
  summary: AssetSummary;
  clip: MockClip;
}

interface MockAccountData {
  account: Account;
  nodes: LibraryNode[];
  assets: MockAsset[];
  statuses: string[];
  people: Person[];
}

/** A small SVG thumbnail, so the preview needs no image files and no canvas. */
function thumbnail(hue: number, label: string): string {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="90" viewBox="0 0 160 90">` +
    `<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">` +
    `<stop offset="0" stop-color="hsl(${hue},35%,46%)"/><stop offset="1" stop-color="hsl(${(hue + 30) % 360},30%,14%)"/>` +
    `</linearGradient></defs><rect width="160" height="90" fill="url(#g)"/>` +
    `<circle cx="${40 + ((hue * 7) % 80)}" cy="52" r="16" fill="hsl(${(hue + 180) % 360},40%,62%)"/>` +
    `<rect x="0" y="74" width="160" height="16" fill="rgba(0,0,0,0.35)"/>` +
    `<text x="6" y="86" font-family="sans-serif" font-size="10" fill="#ddd">${label}</text></svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

function node(
  id: string,
  parentId: string | null,
  kind: NodeKind,
  name: string,
  hasChildren: boolean,
  status: string | null = null,
): LibraryNode {
  return { id, parentId, kind, name, status, hasChildren, pinned: false };
}

function clip(partial: Partial<MockClip> & { name: string; hue: number }): MockClip {
  return {
    frames: 120,
    rate: { num: 24, den: 1 },
    firstFrame: 1001,
    startTc: '01:00:00:00',
    drop: false,
    width: 1920,
    height: 1080,
    status: null,
    versions: 1,
    offline: { state: 'available' },
    updatedAt: '2025-11-20T10:00:00Z',
    ...partial,
  };
}

function makeAsset(accountId: string, nodeId: string, id: string, c: MockClip): MockAsset {
  const versions = Array.from({ length: c.versions }, (_, i) => ({
    key: `${accountId}/${id}/v${i + 1}`,
    number: i + 1,
    label: `v${String(i + 1).padStart(3, '0')}`,
  }));
  const latest = versions[versions.length - 1] ?? { key: `${accountId}/${id}/v1`, number: 1, label: 'v001' };
  return {
    clip: c,
    summary: {
      id,
      accountId,
      nodeId,
      name: c.name,
      status: c.status,
      updatedAt: c.updatedAt,
      versionKey: latest.key,
      versionLabel: latest.label,
      versions,
      frameCount: c.frames,
      frameRate: c.rate,
      noteCount: 0,
      offline: c.offline,
      thumbnailUrl: thumbnail(c.hue, c.name),
      pinned: c.offline.state === 'available',
    },
  };
}

export const DEMO_ACCOUNT_ID = 'local';

function demoData(): MockAccountData[] {
  const local: MockAccountData = {
    account: {
      id: DEMO_ACCOUNT_ID,
      platform: 'local',
      name: 'Demo library',
      userName: 'You',
      capabilities: LOCAL_CAPS,
      connection: 'online',
      lastSyncAt: '2025-11-22T09:12:00Z',
    },
    nodes: [node('demo', null, 'project', 'Demo reel', true), node('demo/seq010', 'demo', 'folder', 'SEQ010', false), node('demo/seq020', 'demo', 'folder', 'SEQ020', false)],
    assets: [],
    statuses: [],
    people: [],
  };
  const demoClips: Array<[string, MockClip]> = [
    ['demo/seq010', clip({ name: 'sh010_comp', hue: 205, frames: 96, versions: 3, updatedAt: '2025-11-21T16:40:00Z' })],
    ['demo/seq010', clip({ name: 'sh020_comp', hue: 28, frames: 144, versions: 2, updatedAt: '2025-11-20T11:05:00Z' })],
    ['demo/seq010', clip({ name: 'sh030_lighting', hue: 145, frames: 72, updatedAt: '2025-11-19T08:30:00Z' })],
    ['demo/seq020', clip({ name: 'sh040_anim', hue: 265, frames: 240, rate: { num: 30000, den: 1001 }, drop: true, startTc: '00:59:59;00', firstFrame: 0, width: 1280, height: 720, updatedAt: '2025-11-18T14:00:00Z' })],
    ['demo/seq020', clip({ name: 'sh050_fx', hue: 350, frames: 120, rate: { num: 25, den: 1 }, startTc: '10:00:00:00', firstFrame: 1, width: 2048, height: 858, updatedAt: '2025-11-22T07:55:00Z' })],
  ];
  demoClips.forEach(([nodeId, c], i) => local.assets.push(makeAsset(DEMO_ACCOUNT_ID, nodeId, `demo-${i + 1}`, c)));

  const kitsu: MockAccountData = {
    account: {
      id: 'kitsu-1',
      platform: 'kitsu',
      name: 'kitsu.studio.example',
      userName: 'Ada Reviewer',
      capabilities: ALL,
      connection: 'online',
      lastSyncAt: '2025-11-22T08:50:00Z',
    },
    nodes: [
      node('p1', null, 'project', 'Harbour Lights', true),
      node('p1/e01', 'p1', 'folder', 'EP01', true),
      node('p1/e01/comp', 'p1/e01', 'task', 'Compositing — review', false, 'WFA'),
      node('p1/e01/anim', 'p1/e01', 'task', 'Animation — review', false, 'WIP'),
      node('p1/daily', 'p1', 'playlist', 'Dailies 2025-11-21', false),
    ],
    assets: [],
    statuses: ['WIP', 'WFA', 'Retake', 'Done'],
    people: [
      { id: 'u1', name: 'Ada Reviewer' },
      { id: 'u2', name: 'Bo Compositor' },
      { id: 'u3', name: 'Chiara Lead' },
      { id: 'u4', name: 'Dev Animator' },
    ],
  };
  kitsu.assets.push(
    makeAsset('kitsu-1', 'p1/e01/comp', 'k-sh100', clip({ name: 'HL_101_sh100', hue: 190, status: 'WFA', frames: 110, versions: 4, offline: { state: 'available' } })),
    makeAsset('kitsu-1', 'p1/e01/comp', 'k-sh110', clip({ name: 'HL_101_sh110', hue: 40, status: 'Retake', frames: 88, versions: 2, offline: { state: 'outdated' } })),
    makeAsset('kitsu-1', 'p1/e01/comp', 'k-sh120', clip({ name: 'HL_101_sh120', hue: 120, status: 'WIP', frames: 130, offline: { state: 'none' } })),
    makeAsset('kitsu-1', 'p1/e01/anim', 'k-sh100a', clip({ name: 'HL_101_sh100_anim', hue: 300, status: 'WIP', frames: 100, offline: { state: 'none' } })),
    makeAsset('kitsu-1', 'p1/daily', 'k-d1', clip({ name: 'HL_101_sh090', hue: 10, status: 'Done', frames: 64, offline: { state: 'forbidden', reason: 'Downloads are denied on this project' } })),
  );

  const ci: MockAccountData = {
    account: {
      id: 'ci-1',
      platform: 'sony_ci',
      name: 'Sony Ci — Marketing',
      userName: 'ada@studio.example',
      capabilities: { ...NO_NOTES, uploadFolders: true },
      connection: 'offline',
      lastSyncAt: '2025-11-21T18:02:00Z',
    },
    nodes: [node('ws1', null, 'workspace', 'Trailers', false)],
    assets: [],
    statuses: [],
    people: [],
  };
  ci.assets.push(makeAsset('ci-1', 'ws1', 'ci-t1', clip({ name: 'teaser_v7_master', hue: 220, frames: 180, rate: { num: 24000, den: 1001 }, offline: { state: 'available' } })));

  const flex: MockAccountData = {
    account: {
      id: 'flex-1',
      platform: 'flex',
      name: 'Flex — Broadcast',
      userName: 'ada',
      capabilities: FLEX_CAPS,
      connection: 'online',
      lastSyncAt: '2025-11-22T07:30:00Z',
    },
    nodes: [node('fx-c1', null, 'collection', 'Promos', false)],
    assets: [],
    statuses: [],
    people: [],
  };
  flex.assets.push(makeAsset('flex-1', 'fx-c1', 'fx-a1', clip({ name: 'promo_30s_textless', hue: 170, frames: 150, rate: { num: 25, den: 1 }, offline: { state: 'none' } })));
  return [local, kitsu, ci, flex];
}

function demoNotes(): NoteView[] {
  const circle: Drawing = {
    shapes: [
      { id: 'd1', type: 'ellipse', center: { x: 0.62, y: 0.42 }, rx: 0.09, ry: 0.14, stroke: { color: '#f2c94c', width: 0.004 } },
      { id: 'd2', type: 'arrow', from: { x: 0.35, y: 0.2 }, to: { x: 0.53, y: 0.36 }, stroke: { color: '#f2c94c', width: 0.004 } },
      { id: 'd3', type: 'text', at: { x: 0.22, y: 0.12 }, text: 'edge too hard', size: 0.035, stroke: { color: '#f2c94c', width: 0.004 } },
    ],
  };
  const base = (id: string, text: string, start: number, end: number, extra: Partial<NoteView> = {}): NoteView => ({
    id,
    versionKey: 'local/demo-1/v3',
    parentId: null,
    author: 'Chiara Lead',
    createdAt: '2025-11-21T17:05:00Z',
    text,
    frames: { start, end },
    timecode: null,
    status: 'open',
    drawing: null,
    outbox: { state: 'sent' },
    reviewStatus: null,
    frameThumbnailUrl: null,
    ...extra,
  });
  return [
    base('n1', 'Matte edge on the left shoulder is too hard — soften by a pixel or two.', 18, 18, { drawing: circle }),
    base('n2', 'Agreed, and the grain does not match the plate here.', 18, 18, { parentId: 'n1', author: 'Bo Compositor', createdAt: '2025-11-21T17:30:00Z' }),
    base('n3', 'Flicker in the sky through this range <b>not bold</b>.', 40, 64, { author: 'Ada Reviewer', createdAt: '2025-11-22T09:01:00Z' }),
    base('n4', 'Lovely light wrap. Approved from my side.', 80, 80, { status: 'resolved', createdAt: '2025-11-22T09:04:00Z' }),
    base('n5', 'Check the last frame: it pops.', 95, 95, { author: 'You', createdAt: '2025-11-22T09:10:00Z', outbox: { state: 'failed', reason: 'The platform refused the note: session expired. Sign in again, then retry.' } }),
  ];
}

// ---------------------------------------------------------------------------------------------
// Synthetic player
// ---------------------------------------------------------------------------------------------

/** Frames are rendered at most this wide (enough for 1:1 on the demo clips); the viewer scales them. */
const MOCK_MAX_WIDTH = 2048;

/** Playback frames that may wait unacknowledged, as in the shell. */
const MOCK_FRAMES_IN_FLIGHT = 2;

interface PlayerSim {
  id: string;
  clip: MockClip;
  media: MediaFacts;
  onFrame: FrameHandler;
  /** Frames sent and not yet acknowledged; playback skips frames while the window is full. */
  inFlight: number;
  viewport: Viewport;
  index: number;
  position: number;
  playing: boolean;
  rate: number;
  loop: { in: number; out: number } | null;
  volume: number;
  muted: boolean;
  timer: ReturnType<typeof setTimeout> | null;
  lastTick: number;
  background: Uint8ClampedArray | null;
  backgroundSize: string;
}

function fitSize(media: MediaFacts, vp: Viewport): { width: number; height: number } {
  const w = Math.max(1, Math.min(vp.width, MOCK_MAX_WIDTH));
  const h = Math.max(1, vp.height);
  const scale = Math.min(w / media.width, h / media.height);
  return {
    width: Math.max(2, Math.round(media.width * scale)),
    height: Math.max(2, Math.round(media.height * scale)),
  };
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
  };
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
}

function renderBackground(c: MockClip, w: number, h: number): Uint8ClampedArray {
  const px = new Uint8ClampedArray(w * h * 4);
  const [r1, g1, b1] = hslToRgb(c.hue, 0.35, 0.5);
  const [r2, g2, b2] = hslToRgb((c.hue + 30) % 360, 0.3, 0.1);
  const horizon = Math.round(h * 0.68);
  for (let y = 0; y < h; y++) {
    const t = y / h;
    let r = r1 + (r2 - r1) * t;
    let g = g1 + (g2 - g1) * t;
    let b = b1 + (b2 - b1) * t;
    if (y > horizon) {
      r *= 0.45;
      g *= 0.45;
      b *= 0.45;
    }
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      // A faint vignette so the picture reads as a picture, not a flat swatch.
      const dx = x / w - 0.5;
      const v = 1 - (dx * dx + (t - 0.5) * (t - 0.5)) * 0.6;
      px[i] = r * v;
      px[i + 1] = g * v;
      px[i + 2] = b * v;
      px[i + 3] = 255;
    }
  }
  return px;
}

function renderFrame(p: PlayerSim, pixels: Uint8ClampedArray, w: number, h: number): void {
  const key = `${w}x${h}`;
  if (!p.background || p.backgroundSize !== key) {
    p.background = renderBackground(p.clip, w, h);
    p.backgroundSize = key;
  }
  pixels.set(p.background);
  const count = Math.max(1, p.media.frameCount - 1);
  const t = p.index / count;
  // A disc crossing the frame: motion makes frame accuracy visible.
  const cx = w * (0.15 + 0.7 * t);
  const cy = h * (0.45 - 0.12 * Math.sin(t * Math.PI));
  const r = h * 0.09;
  const [dr, dg, db] = hslToRgb((p.clip.hue + 180) % 360, 0.45, 0.65);
  const x0 = Math.max(0, Math.floor(cx - r));
  const x1 = Math.min(w - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r));
  const y1 = Math.min(h - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const d = Math.hypot(x - cx, y - cy);
      if (d <= r) {
        const a = Math.min(1, r - d);
        const i = (y * w + x) * 4;
        pixels[i] = (pixels[i] ?? 0) * (1 - a) + dr * a;
        pixels[i + 1] = (pixels[i + 1] ?? 0) * (1 - a) + dg * a;
        pixels[i + 2] = (pixels[i + 2] ?? 0) * (1 - a) + db * a;
      }
    }
  }
  // A frame ruler along the bottom: one tick per frame position.
  const barY = h - Math.max(3, Math.round(h * 0.012));
  const tickX = Math.round((w - 1) * t);
  for (let y = barY; y < h; y++) {
    for (let x = 0; x <= tickX; x++) {
      const i = (y * w + x) * 4;
      pixels[i] = 200;
      pixels[i + 1] = 200;
      pixels[i + 2] = 200;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The mock
// ---------------------------------------------------------------------------------------------

export interface MockOptions {
  /** Delay before a pending note is posted (ms). */
  outboxDelayMs?: number;
  /** Interval between progress ticks of long tasks (ms). */
  taskTickMs?: number;
  /** Whether to render frame pixels (tests turn it off to stay fast). */
  renderPixels?: boolean;
  /** Interval between upload progress ticks (ms). */
  transferTickMs?: number;
  /** What one upload moves per second of simulated time over the mock's link (bytes). */
  uploadBytesPerSecond?: number;
  /**
   * Preview only: turn the browser's own HTML5 drag-and-drop into the shell's `DragDropEvent`s,
   * registering dropped files (name and real size) in the mock's file system.
   */
  bridgeHtmlDrops?: boolean;
  /** How long a device-code sign-in waits before the mock approves it (ms). */
  deviceApprovalMs?: number;
}

/** The password (or key) the mock's platforms accept; anything else is refused as a wrong one. */
export const MOCK_SIGN_IN_SECRET = 'review';

// ---------------------------------------------------------------------------------------------
// A small local file system for planning uploads
// ---------------------------------------------------------------------------------------------

/** Where the preview's demo renders live; the upload dialog suggests these. */
export const MOCK_HOME = '/home/you';

/** Demo files: path → size in bytes. A path that is the prefix of others followed by "/" is a folder. */
function demoFiles(): Map<string, number> {
  const MB = 1_000_000;
  return new Map<string, number>([
    [`${MOCK_HOME}/renders/HL_101_sh100_comp_v005.mov`, 412 * MB],
    [`${MOCK_HOME}/renders/HL_101_sh110_comp_v003.mov`, 386 * MB],
    [`${MOCK_HOME}/renders/HL_101_sh120_comp_v002.mov`, 1_240 * MB],
    [`${MOCK_HOME}/renders/.HL_101_sh130_comp_v001.mov.part`, 96 * MB],
    [`${MOCK_HOME}/renders/render_log.txt`, 48_000],
    [`${MOCK_HOME}/renders/stills/sh100_keyframe_v005.exr`, 38 * MB],
    [`${MOCK_HOME}/renders/stills/sh110_keyframe_v003.png`, 6 * MB],
    [`${MOCK_HOME}/renders/stills/Thumbs.db`, 20_000],
    [`${MOCK_HOME}/audio/temp_mix_v2.wav`, 57 * MB],
    [`${MOCK_HOME}/Desktop/empty.mov`, 0],
  ]);
}

/** A stable pseudo-size for a path the mock does not know (the preview accepts any typed path). */
function pseudoSize(path: string): number {
  let h = 2166136261;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 16777619) >>> 0;
  return 20_000_000 + (h % 600) * 1_000_000;
}

/** The per-node reason a destination refuses uploads, or null when it takes them. */
function destinationProblem(acc: MockAccountData, n: LibraryNode): string | null {
  const platform = PLATFORM_NAMES[acc.account.platform];
  if (!acc.account.capabilities.upload) return `${platform} has no upload flow in Framenote: nothing can be sent to ${acc.account.name}.`;
  if (n.kind === 'playlist') return 'A playlist only lists media: drop onto a folder or a task instead.';
  if (acc.account.platform === 'kitsu' && n.kind !== 'task') return 'Kitsu takes new revisions on a task: drop onto a task.';
  return null;
}

interface TransferSim {
  t: Transfer;
  comment: string | null;
  versionHint: number | null;
  /** Set when this run is to fail at that many bytes (failNextTransfer). */
  failAt: { bytes: number; reason: string } | null;
}

export class MockBackend implements Backend {
  private data: MockAccountData[];
  private notes: NoteView[];
  private players = new Map<string, PlayerSim>();
  private tasks = new Map<string, { cancel: () => void }>();
  private seq = 0;
  private readonly opts: Required<MockOptions>;

  readonly playerEvents = new Hub<PlayerEvent>();
  readonly syncEvents = new Hub<SyncProgress>();
  readonly taskEvents = new Hub<TaskProgress>();
  readonly outboxEvents = new Hub<OutboxChanged>();
  readonly offlineEvents = new Hub<OfflineChanged>();
  readonly connectionEvents = new Hub<ConnectionChanged>();
  readonly transferEvents = new Hub<Transfer>();
  readonly watchFolderEvents = new Hub<WatchFolder>();
  readonly dragDropEvents = new Hub<DragDropEvent>();
  readonly signInEvents = new Hub<SignInFinished>();
  /** Server address of each account (the mock's accounts do not carry one otherwise). */
  private readonly serverOf = new Map<string, string>();
  private readonly deviceFlows = new Map<string, ReturnType<typeof setTimeout>>();
  /** The local files planUpload can see: path → size (tests add their own). */
  readonly files: Map<string, number> = demoFiles();
  /** When set, the next upload to start fails part-way with this reason (a retry then resumes). */
  failNextTransfer: string | null = null;
  private transfers: TransferSim[] = [];
  private transferTimer: ReturnType<typeof setInterval> | null = null;
  private settings: TransferSettings = { concurrency: 2, bandwidthLimit: null };
  private watchFolders: WatchFolder[] = [];
  private htmlDropsBridged = false;
  /** Every command sent to a player, in order; tests read it. */
  readonly commandLog: Array<{ playerId: string; command: PlayerCommand }> = [];
  /** Frame accounting, for tests of the flow control. */
  framesSent = 0;
  framesAcknowledged = 0;
  framesSkipped = 0;
  /** When set, the next note posted fails with this reason. */
  failNextPost: string | null = null;

  constructor(options: MockOptions = {}) {
    this.opts = {
      outboxDelayMs: options.outboxDelayMs ?? 900,
      taskTickMs: options.taskTickMs ?? 250,
      renderPixels: options.renderPixels ?? true,
      transferTickMs: options.transferTickMs ?? 250,
      uploadBytesPerSecond: options.uploadBytesPerSecond ?? 28_000_000,
      bridgeHtmlDrops: options.bridgeHtmlDrops ?? false,
      deviceApprovalMs: options.deviceApprovalMs ?? 6000,
    };
    this.data = demoData();
    this.watchFolders = [
      {
        id: 'watch-demo-1',
        path: `${MOCK_HOME}/renders/HL_101`,
        destination: { accountId: 'kitsu-1', nodeId: 'p1/e01/comp' },
        destinationLabel: this.destinationLabel({ accountId: 'kitsu-1', nodeId: 'p1/e01/comp' }),
        enabled: true,
        detectVersions: true,
        comment: 'Render farm output',
        filesSent: 12,
        problem: null,
      },
      {
        id: 'watch-demo-2',
        path: '/mnt/raid/deliveries/promo',
        destination: { accountId: DEMO_ACCOUNT_ID, nodeId: 'demo/seq020' },
        destinationLabel: this.destinationLabel({ accountId: DEMO_ACCOUNT_ID, nodeId: 'demo/seq020' }),
        enabled: false,
        detectVersions: false,
        comment: null,
        filesSent: 3,
        problem: 'The folder is not there any more (is the drive mounted?).',
      },
    ];
    this.notes = demoNotes();
    for (const n of this.notes) {
      n.timecode = this.timecodeFor(n.versionKey, n.frames?.start ?? null);
      if (n.drawing) n.frameThumbnailUrl = this.thumbFor(n.versionKey);
    }
    this.recountNotes();
  }

  private nextId(prefix: string): string {
    this.seq += 1;
    return `${prefix}-${this.seq}`;
  }

  private account(accountId: string): MockAccountData {
    const a = this.data.find((d) => d.account.id === accountId);
    if (!a) throw new BackendError('not_found', 'That account is not set up in Framenote any more.');
    return a;
  }

  private findVersion(versionKey: string): { acc: MockAccountData; asset: MockAsset } {
    for (const acc of this.data) {
      for (const asset of acc.assets) {
        if (asset.summary.versions.some((v) => v.key === versionKey)) return { acc, asset };
      }
    }
    throw new BackendError('not_found', 'This version is not in the library any more.');
  }

  private mediaOf(c: MockClip): MediaFacts {
    return {
      frameRate: c.rate,
      firstFrame: c.firstFrame,
      frameCount: c.frames,
      startTimecode: c.startTc,
      dropFrame: c.drop,
      width: c.width,
      height: c.height,
      hasAudio: true,
    };
  }

  private timecodeFor(versionKey: string, index: number | null): string | null {
    if (index === null) return null;
    try {
      const { asset } = this.findVersion(versionKey);
      return indexToTimecode(index, this.mediaOf(asset.clip));
    } catch {
      return null;
    }
  }

  private thumbFor(versionKey: string): string | null {
    try {
      return this.findVersion(versionKey).asset.summary.thumbnailUrl;
    } catch {
      return null;
    }
  }

  private recountNotes(): void {
    for (const acc of this.data) {
      for (const asset of acc.assets) {
        const keys = new Set(asset.summary.versions.map((v) => v.key));
        asset.summary.noteCount = this.notes.filter((n) => keys.has(n.versionKey)).length;
      }
    }
  }

  /** Test and preview helper: flip an account online or offline. */
  setConnection(accountId: string, connection: Account['connection']): void {
    this.account(accountId).account.connection = connection;
    this.connectionEvents.emit({ accountId, connection });
    if (connection === 'online') this.flushOutbox(accountId);
    this.connectionChangedForTransfers(accountId, connection);
  }

  // --- library --------------------------------------------------------------------------------

  async appInfo(): Promise<AppInfo> {
    return { name: 'Framenote', version: '0.1.0 (preview)', dataDir: '~/.local/share/framenote' };
  }

  async listAccounts(): Promise<Account[]> {
    return this.data.map((d) => structuredClone(d.account));
  }

  async listNodes(accountId: string, parentId: string | null): Promise<LibraryNode[]> {
    return this.account(accountId)
      .nodes.filter((n) => n.parentId === parentId)
      .map((n) => ({ ...n }));
  }

  async listAssets(accountId: string, nodeId: string): Promise<AssetSummary[]> {
    const acc = this.account(accountId);
    if (!acc.nodes.some((n) => n.id === nodeId)) {
      throw new BackendError('not_found', 'This folder is not in the library any more.');
    }
    // A node shows its own assets and those of its descendants, as platforms' "all media" views.
    const ids = new Set([nodeId]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const n of acc.nodes) {
        if (n.parentId !== null && ids.has(n.parentId) && !ids.has(n.id)) {
          ids.add(n.id);
          grew = true;
        }
      }
    }
    const visible = acc.assets.filter((a) => ids.has(a.summary.nodeId));
    if (acc.account.connection !== 'online') {
      // Offline, only what is cached is browsable; everything listed was synced before.
      return visible.map((a) => structuredClone(a.summary));
    }
    return visible.map((a) => structuredClone(a.summary));
  }

  async listStatuses(accountId: string): Promise<string[]> {
    return [...this.account(accountId).statuses];
  }

  async listPeople(accountId: string): Promise<Person[]> {
    return this.account(accountId).people.map((p) => ({ ...p }));
  }

  private assetsInScope(scope: PinScope): MockAsset[] {
    const acc = this.account(scope.accountId);
    if (scope.kind === 'asset') {
      const a = acc.assets.find((x) => x.summary.id === scope.assetId);
      if (!a) throw new BackendError('not_found', 'This asset is not in the library any more.');
      return [a];
    }
    const n = acc.nodes.find((x) => x.id === scope.nodeId);
    if (!n) throw new BackendError('not_found', 'This folder is not in the library any more.');
    n.pinned = true;
    const ids = new Set([scope.nodeId]);
    for (const x of acc.nodes) if (x.parentId !== null && ids.has(x.parentId)) ids.add(x.id);
    return acc.assets.filter((a) => ids.has(a.summary.nodeId));
  }

  private setOffline(a: MockAsset, offline: OfflineState): void {
    a.summary.offline = offline;
    this.offlineEvents.emit({ accountId: a.summary.accountId, assetId: a.summary.id, offline });
  }

  async pin(given: PinScope): Promise<void> {
    const scope = plain(given);
    const acc = this.account(scope.accountId);
    const assets = this.assetsInScope(scope);
    if (scope.kind === 'asset' && assets[0]?.summary.offline.state === 'forbidden') {
      const off = assets[0].summary.offline;
      throw new BackendError('forbidden', off.state === 'forbidden' ? off.reason : 'Not allowed.');
    }
    const todo = assets.filter((a) => a.summary.offline.state === 'none' || a.summary.offline.state === 'outdated');
    for (const a of assets) if (a.summary.offline.state !== 'forbidden') a.summary.pinned = true;
    if (todo.length === 0) return;
    if (acc.account.connection !== 'online') {
      throw new BackendError('offline', `${acc.account.name} is offline: the download will start when it is back.`);
    }
    const taskId = this.nextId('download');
    const label = todo.length === 1 ? `Downloading ${todo[0]?.summary.name ?? ''}` : `Downloading ${todo.length} clips`;
    let step = 0;
    const steps = 8;
    const timer = setInterval(() => {
      step += 1;
      const progress = step / steps;
      for (const a of todo) this.setOffline(a, progress >= 1 ? { state: 'available' } : { state: 'downloading', progress });
      this.taskEvents.emit({ taskId, kind: 'download', label, progress, state: progress >= 1 ? 'done' : 'running', error: null, cancellable: progress < 1 });
      if (progress >= 1) {
        clearInterval(timer);
        this.tasks.delete(taskId);
      }
    }, this.opts.taskTickMs);
    this.tasks.set(taskId, {
      cancel: () => {
        clearInterval(timer);
        for (const a of todo) this.setOffline(a, { state: 'none' });
        this.taskEvents.emit({ taskId, kind: 'download', label, progress: step / steps, state: 'cancelled', error: null, cancellable: false });
      },
    });
    for (const a of todo) this.setOffline(a, { state: 'downloading', progress: 0 });
    this.taskEvents.emit({ taskId, kind: 'download', label, progress: 0, state: 'running', error: null, cancellable: true });
  }

  async unpin(scope: PinScope): Promise<void> {
    const assets = this.assetsInScope(scope);
    if (scope.kind === 'node') {
      const n = this.account(scope.accountId).nodes.find((x) => x.id === scope.nodeId);
      if (n) n.pinned = false;
    }
    for (const a of assets) {
      a.summary.pinned = false;
      const s = a.summary.offline.state;
      if (s === 'available' || s === 'outdated') this.setOffline(a, { state: 'none' });
    }
  }

  async syncNow(accountId: string): Promise<string> {
    const acc = this.account(accountId);
    if (acc.account.connection === 'offline') {
      throw new BackendError('offline', `${acc.account.name} cannot be reached. Framenote keeps working on what is cached.`);
    }
    const taskId = this.nextId('sync');
    const label = `Syncing ${acc.account.name}`;
    const total = 10;
    let done = 0;
    const timer = setInterval(() => {
      done += 1;
      const phase: SyncProgress['phase'] = done >= total ? 'done' : done < 4 ? 'browsing' : done < 8 ? 'notes' : 'outbox';
      this.syncEvents.emit({ accountId, taskId, phase, done, total });
      this.taskEvents.emit({ taskId, kind: 'sync', label, progress: done / total, state: done >= total ? 'done' : 'running', error: null, cancellable: done < total });
      if (done >= total) {
        clearInterval(timer);
        this.tasks.delete(taskId);
        acc.account.lastSyncAt = new Date().toISOString();
        this.flushOutbox(accountId);
      }
    }, this.opts.taskTickMs);
    this.tasks.set(taskId, {
      cancel: () => {
        clearInterval(timer);
        this.taskEvents.emit({ taskId, kind: 'sync', label, progress: done / total, state: 'cancelled', error: null, cancellable: false });
      },
    });
    this.taskEvents.emit({ taskId, kind: 'sync', label, progress: 0, state: 'running', error: null, cancellable: true });
    this.syncEvents.emit({ accountId, taskId, phase: 'browsing', done: 0, total });
    return taskId;
  }

  async cancelTask(taskId: string): Promise<void> {
    const t = this.tasks.get(taskId);
    if (!t) throw new BackendError('not_found', 'That task has already finished.');
    this.tasks.delete(taskId);
    t.cancel();
  }

  // --- accounts -------------------------------------------------------------------------------

  /** The mock's servers: an address with "unreachable" in it cannot be reached; others accept MOCK_SIGN_IN_SECRET. */
  private checkServer(baseUrl: string): string {
    const url = baseUrl.trim().replace(/\/+$/, '');
    if (!/^https?:\/\/[^/\s]+/.test(url)) throw new BackendError('invalid_input', 'the server address must start with https:// (or http://)');
    if (url.includes('unreachable')) throw new BackendError('offline', `Cannot reach ${url}. Check the address and your network connection.`);
    return url;
  }

  private addAccount(platform: Platform, url: string, label: string | null, userName: string | null, accountId: string | null): SignedIn {
    const existing = accountId === null ? undefined : this.account(accountId);
    if (existing) {
      existing.account.connection = 'online';
      if (label) existing.account.name = label;
      this.connectionEvents.emit({ accountId: existing.account.id, connection: 'online' });
      this.serverOf.set(existing.account.id, url);
      return { accountId: existing.account.id, label: existing.account.name, userName: existing.account.userName, syncTaskId: null };
    }
    const id = this.nextId(platform);
    const name = label ?? `${PLATFORM_NAMES[platform]} — ${userName ?? 'you'}`;
    const root = `${id}/project`;
    this.data.push({
      account: { id, platform, name, userName, capabilities: { ...ALL }, connection: 'online', lastSyncAt: null },
      nodes: [node(root, null, 'project', 'New project', true), node(`${root}/review`, root, 'task', 'Review', false, 'WFA')],
      assets: [makeAsset(id, `${root}/review`, `${id}-a1`, clip({ name: 'sh010_review', hue: 170, frames: 96, offline: { state: 'none' } }))],
      statuses: ['WIP', 'WFA', 'Done'],
      people: [],
    });
    this.serverOf.set(id, url);
    return { accountId: id, label: name, userName, syncTaskId: null };
  }

  async signIn(request: SignInRequest): Promise<SignedIn> {
    const r = plain(request);
    if (r.platform === 'local') throw new BackendError('invalid_input', 'a local library is a folder on this machine; there is no sign-in');
    const url = this.checkServer(r.baseUrl);
    const c = r.credentials;
    const secret = c.kind === 'password' ? c.password : c.secret;
    if (c.kind === 'password' && c.user.trim() === '') throw new BackendError('invalid_input', 'type the e-mail address');
    if (secret === '') throw new BackendError('invalid_input', c.kind === 'password' ? 'type the password' : 'type the key');
    await new Promise((res) => setTimeout(res, 300));
    if (secret !== MOCK_SIGN_IN_SECRET) {
      throw new BackendError('login_required', `${PLATFORM_NAMES[r.platform]} did not accept this ${c.kind === 'password' ? 'e-mail or user name and password' : 'key'}. Check and try again.`);
    }
    const done = this.addAccount(r.platform, url, r.label, c.kind === 'password' ? c.user.trim() : null, r.accountId);
    return { ...done, syncTaskId: await this.syncNow(done.accountId) };
  }

  async signInDevice(platform: Platform, baseUrl: string, label: string | null, accountId: string | null): Promise<DeviceSignIn> {
    if (platform !== 'moxion') throw new BackendError('unsupported', `${PLATFORM_NAMES[platform]} has no device-code sign-in`);
    const url = this.checkServer(baseUrl);
    const flowId = this.nextId('sign-in');
    const timer = setTimeout(() => {
      this.deviceFlows.delete(flowId);
      const done = this.addAccount(platform, url, label, 'Ada Reviewer', accountId);
      void this.syncNow(done.accountId).then((syncTaskId) => this.signInEvents.emit({ flowId, outcome: { state: 'done', account: { ...done, syncTaskId } } }));
    }, this.opts.deviceApprovalMs);
    this.deviceFlows.set(flowId, timer);
    return { flowId, userCode: 'WDJB-MJHT', verificationUri: `${url.replace('api.', '')}/device`, expiresInSeconds: 900 };
  }

  async cancelSignIn(flowId: string): Promise<void> {
    const timer = this.deviceFlows.get(flowId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.deviceFlows.delete(flowId);
    this.signInEvents.emit({ flowId, outcome: { state: 'cancelled' } });
  }

  async signInDetails(accountId: string): Promise<SignInDetails> {
    const a = this.account(accountId).account;
    const defaults: Record<Platform, string> = {
      local: '',
      kitsu: 'https://kitsu.studio.example/api',
      iconik: 'https://app.iconik.io',
      sony_ci: 'https://api.cimediacloud.com',
      moxion: 'https://api.moxion.io',
      flex: 'https://flex.studio.example/api',
    };
    return { accountId, platform: a.platform, baseUrl: this.serverOf.get(accountId) ?? defaults[a.platform], userName: a.userName, label: a.name, eventsUrl: null };
  }

  async signOut(accountId: string): Promise<void> {
    if (accountId === DEMO_ACCOUNT_ID) throw new BackendError('invalid_input', 'the demo library is built in; there is nothing to sign out of');
    const acc = this.account(accountId);
    const keys = new Set(acc.assets.flatMap((a) => a.summary.versions.map((v) => v.key)));
    const waiting = this.notes.filter((n) => keys.has(n.versionKey) && n.outbox.state !== 'sent').length;
    if (waiting > 0) {
      throw new BackendError('invalid_input', `${waiting} note${waiting === 1 ? '' : 's'} still waiting to be sent from this account; signing out would lose them. Sync (or discard them) first, then sign out.`);
    }
    this.data = this.data.filter((d) => d !== acc);
    this.serverOf.delete(accountId);
  }

  // --- player ---------------------------------------------------------------------------------

  async openPlayer(versionKey: string, viewport: Viewport, onFrame: FrameHandler): Promise<OpenedPlayer> {
    const { acc, asset } = this.findVersion(versionKey);
    const off = asset.summary.offline.state;
    if (acc.account.connection !== 'online' && off !== 'available' && off !== 'outdated') {
      throw new BackendError('offline', `${asset.summary.name} is not available offline, and ${acc.account.name} cannot be reached.`);
    }
    const media = this.mediaOf(asset.clip);
    const id = this.nextId('player');
    const p: PlayerSim = {
      id,
      clip: asset.clip,
      media,
      onFrame,
      inFlight: 0,
      viewport: { ...viewport },
      index: 0,
      position: 0,
      playing: false,
      rate: 1,
      loop: null,
      volume: 0.8,
      muted: false,
      timer: null,
      lastTick: 0,
      background: null,
      backgroundSize: '',
    };
    this.players.set(id, p);
    // The first frame follows the answer, as a real pipeline prerolls after opening.
    setTimeout(() => {
      if (this.players.has(id)) {
        this.sendFrame(p);
        this.emitState(p);
      }
    }, 0);
    return { playerId: id, media: { ...media } };
  }

  private player(playerId: string): PlayerSim {
    const p = this.players.get(playerId);
    if (!p) throw new BackendError('not_found', 'The player was closed.');
    return p;
  }

  /**
   * Sends the current frame. Like the shell, at most `MOCK_FRAMES_IN_FLIGHT` playback frames wait
   * unacknowledged (a still frame always goes: it answers a request), so a UI that forgets to
   * acknowledge stalls here as it would in the app.
   */
  private sendFrame(p: PlayerSim, playback = false): void {
    if (playback && p.inFlight >= MOCK_FRAMES_IN_FLIGHT) {
      this.framesSkipped += 1;
      return;
    }
    const { width, height } = fitSize(p.media, p.viewport);
    const message = encodeFrame(
      {
        width,
        height,
        playing: p.playing,
        index: p.index,
        displayFrame: p.media.firstFrame + p.index,
        timecode: indexToTimecode(p.index, p.media),
      },
      this.opts.renderPixels ? (px, w, h) => renderFrame(p, px, w, h) : undefined,
    );
    p.inFlight += 1;
    this.framesSent += 1;
    let acked = false;
    p.onFrame(message, () => {
      if (acked) return;
      acked = true;
      p.inFlight = Math.max(0, p.inFlight - 1);
      this.framesAcknowledged += 1;
    });
  }

  private emitState(p: PlayerSim): void {
    this.playerEvents.emit({
      kind: 'state',
      playerId: p.id,
      playing: p.playing,
      rate: p.rate,
      loop: p.loop ? { ...p.loop } : null,
      volume: p.volume,
      muted: p.muted,
    });
  }

  private bounds(p: PlayerSim): { lo: number; hi: number } {
    return p.loop ? { lo: p.loop.in, hi: p.loop.out } : { lo: 0, hi: p.media.frameCount - 1 };
  }

  private clampIndex(p: PlayerSim, frame: number): number {
    return Math.max(0, Math.min(p.media.frameCount - 1, Math.round(frame)));
  }

  private schedule(p: PlayerSim): void {
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    if (!p.playing) return;
    const framesPerSecond = (p.media.frameRate.num / p.media.frameRate.den) * Math.abs(p.rate);
    const interval = Math.max(1000 / 60, 1000 / framesPerSecond);
    p.timer = setTimeout(() => this.tick(p), interval);
  }

  private tick(p: PlayerSim): void {
    p.timer = null;
    if (!p.playing || !this.players.has(p.id)) return;
    const now = Date.now();
    const elapsed = Math.max(0, now - p.lastTick) / 1000;
    p.lastTick = now;
    const fpsNow = (p.media.frameRate.num / p.media.frameRate.den) * p.rate;
    p.position += Math.max(-64, Math.min(64, elapsed * fpsNow || Math.sign(p.rate)));
    const { lo, hi } = this.bounds(p);
    let next = Math.round(p.position);
    if (next > hi || next < lo) {
      if (p.loop) {
        const span = hi - lo + 1;
        next = lo + ((((next - lo) % span) + span) % span);
        p.position = next;
      } else {
        next = next > hi ? hi : lo;
        p.index = next;
        p.position = next;
        p.playing = false;
        this.sendFrame(p);
        this.emitState(p);
        this.playerEvents.emit({ kind: 'ended', playerId: p.id });
        return;
      }
    }
    if (next !== p.index) {
      p.index = next;
      this.sendFrame(p, true);
    }
    this.schedule(p);
  }

  async playerCommand(playerId: string, command: PlayerCommand): Promise<void> {
    const p = this.player(playerId);
    this.commandLog.push({ playerId, command: plain(command) });
    switch (command.type) {
      case 'play': {
        if (p.playing) return;
        const { lo, hi } = this.bounds(p);
        // Playing from the end (or outside the loop) starts again, as every player does.
        if (p.rate > 0 && p.index >= hi) p.index = lo;
        if (p.rate < 0 && p.index <= lo) p.index = hi;
        if (p.index < lo || p.index > hi) p.index = p.rate > 0 ? lo : hi;
        p.position = p.index;
        p.playing = true;
        p.lastTick = Date.now();
        this.sendFrame(p);
        this.emitState(p);
        this.schedule(p);
        return;
      }
      case 'pause':
        p.playing = false;
        this.schedule(p);
        this.sendFrame(p);
        this.emitState(p);
        return;
      case 'seek':
        if (!Number.isFinite(command.frame)) throw new BackendError('invalid_input', 'Seek needs a frame number.');
        p.index = this.clampIndex(p, command.frame);
        p.position = p.index;
        this.sendFrame(p);
        return;
      case 'step':
        if (!Number.isFinite(command.delta)) throw new BackendError('invalid_input', 'Step needs a number of frames.');
        p.playing = false;
        this.schedule(p);
        p.index = this.clampIndex(p, p.index + command.delta);
        p.position = p.index;
        this.sendFrame(p);
        this.emitState(p);
        return;
      case 'setRate':
        if (!Number.isFinite(command.rate) || command.rate === 0 || Math.abs(command.rate) > 16) {
          throw new BackendError('invalid_input', 'Playback speed must be between −16× and 16×, not 0.');
        }
        p.rate = command.rate;
        p.lastTick = Date.now();
        this.emitState(p);
        this.schedule(p);
        return;
      case 'setLoop': {
        const a = this.clampIndex(p, Math.min(command.in, command.out));
        const b = this.clampIndex(p, Math.max(command.in, command.out));
        p.loop = { in: a, out: b };
        this.emitState(p);
        return;
      }
      case 'clearLoop':
        p.loop = null;
        this.emitState(p);
        return;
      case 'setVolume':
        p.volume = Math.max(0, Math.min(1, command.volume));
        this.emitState(p);
        return;
      case 'setMuted':
        p.muted = command.muted;
        this.emitState(p);
        return;
      case 'setViewport':
        if (command.width <= 0 || command.height <= 0) return;
        p.viewport = { width: Math.round(command.width), height: Math.round(command.height) };
        if (!p.playing) this.sendFrame(p);
        return;
    }
  }

  async closePlayer(playerId: string): Promise<void> {
    const p = this.players.get(playerId);
    if (!p) return;
    if (p.timer !== null) clearTimeout(p.timer);
    p.playing = false;
    this.players.delete(playerId);
  }

  // --- notes ----------------------------------------------------------------------------------

  async listNotes(versionKey: string): Promise<NoteThread[]> {
    this.findVersion(versionKey);
    const mine = this.notes.filter((n) => n.versionKey === versionKey);
    const roots = mine.filter((n) => n.parentId === null);
    return roots.map((root) => ({
      root: structuredClone(root),
      replies: mine.filter((n) => n.parentId === root.id).map((n) => structuredClone(n)),
    }));
  }

  async createNote(given: NewNote): Promise<NoteView> {
    const input = plain(given);
    const { acc } = this.findVersion(input.versionKey);
    const caps = acc.account.capabilities;
    if (!caps.notes) throw new BackendError('forbidden', `${acc.account.name} does not take notes.`);
    if (input.text.trim().length === 0 && !(input.drawing && input.drawing.shapes.length > 0)) {
      throw new BackendError('invalid_input', 'A note needs some text or a drawing.');
    }
    if (input.parentId !== null && !this.notes.some((n) => n.id === input.parentId)) {
      throw new BackendError('not_found', 'The note you are answering is gone.');
    }
    const frames = input.frames && !caps.rangeNotes ? { start: input.frames.start, end: input.frames.start } : input.frames;
    const note: NoteView = {
      id: this.nextId('note'),
      versionKey: input.versionKey,
      parentId: input.parentId,
      author: acc.account.userName ?? 'You',
      createdAt: new Date().toISOString(),
      text: input.text,
      frames,
      timecode: this.timecodeFor(input.versionKey, frames?.start ?? null),
      status: 'open',
      drawing: caps.drawings ? input.drawing : null,
      outbox: { state: 'pending' },
      reviewStatus: caps.statusChange ? input.reviewStatus : null,
      frameThumbnailUrl: null,
    };
    if (note.drawing) note.frameThumbnailUrl = this.thumbFor(note.versionKey);
    this.notes.push(note);
    this.recountNotes();
    this.schedulePost(note, acc);
    return structuredClone(note);
  }

  private schedulePost(note: NoteView, acc: MockAccountData): void {
    setTimeout(() => {
      if (!this.notes.includes(note) || note.outbox.state !== 'pending') return;
      if (acc.account.connection !== 'online') return; // stays pending until back online
      if (this.failNextPost !== null) {
        note.outbox = { state: 'failed', reason: this.failNextPost };
        this.failNextPost = null;
      } else {
        note.outbox = { state: 'sent' };
      }
      this.outboxEvents.emit({ noteId: note.id, versionKey: note.versionKey, outbox: { ...note.outbox } });
    }, this.opts.outboxDelayMs);
  }

  private flushOutbox(accountId: string): void {
    const acc = this.account(accountId);
    for (const n of this.notes) {
      if (n.outbox.state === 'pending' && this.findVersion(n.versionKey).acc === acc) this.schedulePost(n, acc);
    }
  }

  private note(noteId: string): NoteView {
    const n = this.notes.find((x) => x.id === noteId);
    if (!n) throw new BackendError('not_found', 'That note is gone.');
    return n;
  }

  async setNoteStatus(noteId: string, status: NoteStatus): Promise<NoteView> {
    const n = this.note(noteId);
    if (!this.findVersion(n.versionKey).acc.account.capabilities.resolve) {
      throw new BackendError('forbidden', 'This platform cannot resolve notes.');
    }
    n.status = status;
    return structuredClone(n);
  }

  async exportNotes(accountId: string): Promise<ExportedNotes> {
    const count = this.notes.filter((n) => this.findVersion(n.versionKey).acc.account.id === accountId).length;
    return { path: `/home/you/Documents/Framenote/${accountId}-notes.csv`, notes: count };
  }

  async retryNote(noteId: string): Promise<void> {
    const n = this.note(noteId);
    if (n.outbox.state !== 'failed') return;
    n.outbox = { state: 'pending' };
    this.outboxEvents.emit({ noteId, versionKey: n.versionKey, outbox: { state: 'pending' } });
    this.schedulePost(n, this.findVersion(n.versionKey).acc);
  }

  async discardNote(noteId: string): Promise<void> {
    const n = this.note(noteId);
    if (n.outbox.state === 'sent') throw new BackendError('conflict', 'This note is already on the platform.');
    this.notes = this.notes.filter((x) => x.id !== noteId && x.parentId !== noteId);
    this.recountNotes();
  }

  async saveSnapshot(versionKey: string, frame: number, drawingPng: string | null): Promise<SnapshotResult> {
    const { asset } = this.findVersion(versionKey);
    if (!Number.isInteger(frame) || frame < 0 || frame >= asset.clip.frames) {
      throw new BackendError('invalid_input', 'That frame is outside the clip.');
    }
    if (drawingPng !== null && !/^[A-Za-z0-9+/=]*$/.test(drawingPng)) {
      throw new BackendError('invalid_input', 'The drawing image is not base64.');
    }
    const display = asset.clip.firstFrame + frame;
    return { path: `~/Pictures/Framenote/${asset.summary.name}_${display}.png` };
  }

  // --- uploads --------------------------------------------------------------------------------

  private destinationNode(dest: UploadDestination): { acc: MockAccountData; node: LibraryNode } {
    const acc = this.account(dest.accountId);
    const n = acc.nodes.find((x) => x.id === dest.nodeId);
    if (!n) throw new BackendError('not_found', 'That folder is not in the library any more.');
    return { acc, node: n };
  }

  /** "Kitsu › Harbour Lights › EP01 › Compositing — review". */
  private destinationLabel(dest: UploadDestination): string {
    const acc = this.account(dest.accountId);
    const names: string[] = [];
    let id: string | null = dest.nodeId;
    // Bounded by the node count, so a malformed parent cycle cannot loop forever.
    for (let guard = 0; id !== null && guard <= acc.nodes.length; guard++) {
      const n = acc.nodes.find((x) => x.id === id);
      if (!n) break;
      names.unshift(n.name);
      id = n.parentId;
    }
    return [PLATFORM_NAMES[acc.account.platform], ...names].join(' › ');
  }

  /** Files under a folder path, with their folders relative to (and including) the dropped one. */
  private walk(path: string): Array<{ path: string; size: number; subfolder: string[] }> | null {
    const dir = path.replace(/[\\/]+$/, '');
    const prefix = `${dir}/`;
    const inside = [...this.files.entries()].filter(([p]) => p.startsWith(prefix));
    if (inside.length === 0) return null;
    const top = baseName(dir);
    return inside
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([p, size]) => {
        const rel = p.slice(prefix.length).split('/');
        rel.pop();
        return { path: p, size, subfolder: [top, ...rel] };
      });
  }

  private planFile(acc: MockAccountData, entry: { path: string; size: number; subfolder: string[] }, destinationRejected: string | null): PlannedFile {
    const name = baseName(entry.path);
    const platform = PLATFORM_NAMES[acc.account.platform];
    let rejected: string | null = null;
    if (destinationRejected !== null) rejected = 'The destination takes no uploads.';
    else if (isTransientName(name)) rejected = 'Hidden or temporary file (still being written?).';
    else if (mediaKindOf(name) === null) {
      const ext = extensionOf(name);
      rejected = ext === null ? 'Not a movie, image or sound file (no extension).' : `Not a movie, image or sound file (.${ext}).`;
    } else if (entry.size === 0) rejected = 'The file is empty.';
    else if (entry.subfolder.length > 0 && !acc.account.capabilities.uploadFolders) rejected = `${platform} keeps no folders: drop the files themselves, not their folder.`;
    return { path: entry.path, name, size: entry.size, subfolder: entry.subfolder, versionHint: versionFromName(name), rejected };
  }

  async planUpload(givenPaths: string[], givenDestination: UploadDestination): Promise<UploadPlan> {
    const paths = plain(givenPaths);
    const destination = plain(givenDestination);
    const { acc, node: n } = this.destinationNode(destination);
    const rejected = destinationProblem(acc, n);
    const files: PlannedFile[] = [];
    const seen = new Set<string>();
    for (const path of paths) {
      if (seen.has(path)) continue;
      seen.add(path);
      if (!isAbsolutePath(path)) {
        files.push({ path, name: path, size: 0, subfolder: [], versionHint: null, rejected: 'Not a full path: start it at / (or a drive letter).' });
        continue;
      }
      const inside = this.walk(path);
      if (inside) {
        for (const entry of inside) {
          if (seen.has(entry.path)) continue;
          seen.add(entry.path);
          files.push(this.planFile(acc, entry, rejected));
        }
        continue;
      }
      const known = this.files.get(path);
      if (known === undefined && extensionOf(baseName(path)) === null) {
        files.push({ path, name: baseName(path), size: 0, subfolder: [], versionHint: null, rejected: 'No such file or folder.' });
        continue;
      }
      files.push(this.planFile(acc, { path, size: known ?? pseudoSize(path), subfolder: [] }, rejected));
    }
    const takesComment = rejected === null && acc.account.platform === 'kitsu';
    return { destination, destinationLabel: this.destinationLabel(destination), takesComment, rejected, files };
  }

  async queueUpload(givenPlan: UploadPlan, comment: string | null): Promise<Transfer[]> {
    const plan = plain(givenPlan);
    const { acc, node: n } = this.destinationNode(plan.destination);
    const problem = destinationProblem(acc, n);
    if (problem !== null) throw new BackendError('forbidden', problem);
    const accepted = plan.files.filter((f) => f.rejected === null);
    if (accepted.length === 0) throw new BackendError('invalid_input', 'Nothing in this plan can be sent.');
    const text = comment !== null && comment.trim().length > 0 && acc.account.platform === 'kitsu' ? comment.trim() : null;
    const made = accepted.map((f) => this.addTransfer(plan.destination, f.path, f.name, f.size, f.versionHint, text, null));
    this.pumpTransfers();
    return made.map((sim) => structuredClone(sim.t));
  }

  private addTransfer(dest: UploadDestination, path: string, name: string, size: number, versionHint: number | null, comment: string | null, watchFolderId: string | null): TransferSim {
    const sim: TransferSim = {
      t: {
        id: this.nextId('transfer'),
        accountId: dest.accountId,
        nodeId: dest.nodeId,
        destinationLabel: this.destinationLabel(dest),
        path,
        name,
        size,
        bytesDone: 0,
        state: 'queued',
        speed: null,
        etaSeconds: null,
        error: null,
        assetId: null,
        watchFolderId,
        createdAt: new Date().toISOString(),
      },
      comment,
      versionHint,
      failAt: null,
    };
    this.transfers.push(sim);
    this.emitTransfer(sim);
    return sim;
  }

  private emitTransfer(sim: TransferSim): void {
    this.transferEvents.emit(structuredClone(sim.t));
  }

  private transfer(id: string): TransferSim {
    const sim = this.transfers.find((x) => x.t.id === id);
    if (!sim) throw new BackendError('not_found', 'That transfer is not in the queue any more.');
    return sim;
  }

  /** Starts what may start (concurrency, connection) and keeps the clock running while anything moves. */
  private pumpTransfers(): void {
    let running = this.transfers.filter((x) => x.t.state === 'running').length;
    for (const sim of this.transfers) {
      if (sim.t.state !== 'queued') continue;
      const acc = this.account(sim.t.accountId);
      if (acc.account.connection !== 'online') {
        const waiting = `Waiting for ${acc.account.name} to be reachable.`;
        if (sim.t.error !== waiting) {
          sim.t.error = waiting;
          this.emitTransfer(sim);
        }
        continue;
      }
      if (running >= this.settings.concurrency) continue;
      running++;
      sim.t.state = 'running';
      sim.t.error = null;
      if (this.failNextTransfer !== null) {
        sim.failAt = { bytes: Math.max(sim.t.bytesDone, Math.floor(sim.t.size * 0.4)), reason: this.failNextTransfer };
        this.failNextTransfer = null;
      }
      this.emitTransfer(sim);
    }
    if (running > 0 && this.transferTimer === null) {
      this.transferTimer = setInterval(() => this.tickTransfers(), this.opts.transferTickMs);
    } else if (running === 0 && this.transferTimer !== null) {
      clearInterval(this.transferTimer);
      this.transferTimer = null;
    }
  }

  private tickTransfers(): void {
    const running = this.transfers.filter((x) => x.t.state === 'running');
    if (running.length === 0) {
      this.pumpTransfers();
      return;
    }
    const limit = this.settings.bandwidthLimit;
    // The bandwidth limit is shared by all uploads together, as in the shell.
    const rate = limit === null ? this.opts.uploadBytesPerSecond : Math.min(this.opts.uploadBytesPerSecond, limit / running.length);
    const step = (rate * this.opts.transferTickMs) / 1000;
    for (const sim of running) {
      const t = sim.t;
      t.bytesDone = Math.min(t.size, t.bytesDone + step);
      if (sim.failAt && t.bytesDone >= sim.failAt.bytes) {
        t.bytesDone = sim.failAt.bytes;
        t.state = 'failed';
        t.error = sim.failAt.reason;
        t.speed = null;
        t.etaSeconds = null;
        sim.failAt = null;
      } else if (t.bytesDone >= t.size) {
        this.finishTransfer(sim);
      } else {
        t.speed = rate;
        t.etaSeconds = (t.size - t.bytesDone) / rate;
      }
      this.emitTransfer(sim);
    }
    this.pumpTransfers();
  }

  private finishTransfer(sim: TransferSim): void {
    const t = sim.t;
    t.bytesDone = t.size;
    t.state = 'done';
    t.speed = null;
    t.etaSeconds = null;
    t.error = null;
    t.assetId = this.addUploadedAsset(t, sim.versionHint);
    if (t.watchFolderId !== null) {
      const w = this.watchFolders.find((x) => x.id === t.watchFolderId);
      if (w) {
        w.filesSent += 1;
        this.watchFolderEvents.emit(structuredClone(w));
      }
    }
  }

  /** The platform now has the file: it appears in the library, as a new version when the name matches an asset. */
  private addUploadedAsset(t: Transfer, versionHint: number | null): string {
    const acc = this.account(t.accountId);
    const dot = t.name.lastIndexOf('.');
    const stem = dot > 0 ? t.name.slice(0, dot) : t.name;
    const base = stem.replace(/[_\-. ][vV]\d{1,6}(?=$|[_\-. ])/g, '') || stem;
    // Artists name renders after the shot and the task ("sh100_comp_v005"): the shot's asset counts too.
    const names = [stem, base, base.replace(/_(comp|anim|lighting|fx)$/, '')];
    const inNode = acc.assets.filter((a) => a.summary.nodeId === t.nodeId);
    const existing = names.map((n) => inNode.find((a) => a.summary.name === n)).find((a) => a !== undefined);
    if (existing) {
      const s = existing.summary;
      const top = Math.max(...s.versions.map((v) => v.number));
      const number = versionHint !== null && versionHint > top ? versionHint : top + 1;
      const v = { key: `${t.accountId}/${s.id}/v${number}`, number, label: versionLabel(number) };
      s.versions.push(v);
      s.versionKey = v.key;
      s.versionLabel = v.label;
      s.updatedAt = new Date().toISOString();
      existing.clip.versions = s.versions.length;
      return s.id;
    }
    const id = this.nextId('uploaded');
    const hue = (t.name.length * 37 + this.seq * 53) % 360;
    const asset = makeAsset(t.accountId, t.nodeId, id, clip({ name: base, hue, updatedAt: new Date().toISOString(), offline: { state: 'none' } }));
    if (versionHint !== null && versionHint > 0) {
      const v = { key: `${t.accountId}/${id}/v${versionHint}`, number: versionHint, label: versionLabel(versionHint) };
      asset.summary.versions = [v];
      asset.summary.versionKey = v.key;
      asset.summary.versionLabel = v.label;
    }
    acc.assets.push(asset);
    return id;
  }

  private connectionChangedForTransfers(accountId: string, connection: Account['connection']): void {
    if (connection === 'online') {
      this.pumpTransfers();
      return;
    }
    // A lost connection sends running uploads back to the queue; they resume where they were.
    for (const sim of this.transfers) {
      if (sim.t.accountId !== accountId || sim.t.state !== 'running') continue;
      sim.t.state = 'queued';
      sim.t.speed = null;
      sim.t.etaSeconds = null;
      this.emitTransfer(sim);
    }
    this.pumpTransfers();
  }

  async listTransfers(): Promise<Transfer[]> {
    return this.transfers.map((x) => structuredClone(x.t));
  }

  async pauseTransfer(id: string): Promise<void> {
    const sim = this.transfer(id);
    if (sim.t.state === 'paused') return;
    if (sim.t.state !== 'queued' && sim.t.state !== 'running') throw new BackendError('conflict', `${sim.t.name} is ${sim.t.state}: only a queued or running upload can be paused.`);
    sim.t.state = 'paused';
    sim.t.speed = null;
    sim.t.etaSeconds = null;
    sim.t.error = null;
    this.emitTransfer(sim);
    this.pumpTransfers();
  }

  async resumeTransfer(id: string): Promise<void> {
    const sim = this.transfer(id);
    if (sim.t.state === 'queued' || sim.t.state === 'running') return;
    if (sim.t.state !== 'paused') throw new BackendError('conflict', `${sim.t.name} is ${sim.t.state}: only a paused upload can be resumed.`);
    sim.t.state = 'queued';
    this.emitTransfer(sim);
    this.pumpTransfers();
  }

  async cancelTransfer(id: string): Promise<void> {
    const sim = this.transfer(id);
    if (sim.t.state === 'cancelled') return;
    if (sim.t.state === 'done') throw new BackendError('conflict', `${sim.t.name} is already on the platform.`);
    sim.t.state = 'cancelled';
    sim.t.speed = null;
    sim.t.etaSeconds = null;
    sim.t.error = null;
    sim.failAt = null;
    this.emitTransfer(sim);
    this.pumpTransfers();
  }

  async retryTransfer(id: string): Promise<void> {
    const sim = this.transfer(id);
    if (sim.t.state !== 'failed' && sim.t.state !== 'cancelled') throw new BackendError('conflict', `${sim.t.name} is ${sim.t.state}: only a failed or cancelled upload can be retried.`);
    // A failed upload resumes where the platform kept it; a cancelled one was discarded there.
    if (sim.t.state === 'cancelled') sim.t.bytesDone = 0;
    sim.t.state = 'queued';
    sim.t.error = null;
    this.emitTransfer(sim);
    this.pumpTransfers();
  }

  async clearFinishedTransfers(): Promise<void> {
    this.transfers = this.transfers.filter((x) => x.t.state !== 'done' && x.t.state !== 'cancelled');
  }

  async transferSettings(): Promise<TransferSettings> {
    return { ...this.settings };
  }

  async setTransferSettings(given: TransferSettings): Promise<TransferSettings> {
    const s = plain(given);
    if (!Number.isInteger(s.concurrency) || s.concurrency < 1 || s.concurrency > 8) {
      throw new BackendError('invalid_input', 'Uploads at once must be a whole number from 1 to 8.');
    }
    if (s.bandwidthLimit !== null && (!Number.isFinite(s.bandwidthLimit) || s.bandwidthLimit <= 0)) {
      throw new BackendError('invalid_input', 'The bandwidth limit must be more than 0, or unlimited.');
    }
    this.settings = { concurrency: s.concurrency, bandwidthLimit: s.bandwidthLimit === null ? null : Math.round(s.bandwidthLimit) };
    this.pumpTransfers();
    return { ...this.settings };
  }

  // --- watch folders --------------------------------------------------------------------------

  private watchFolder(id: string): WatchFolder {
    const w = this.watchFolders.find((x) => x.id === id);
    if (!w) throw new BackendError('not_found', 'That watch folder is gone.');
    return w;
  }

  async listWatchFolders(): Promise<WatchFolder[]> {
    return this.watchFolders.map((w) => structuredClone(w));
  }

  async addWatchFolder(given: NewWatchFolder): Promise<WatchFolder> {
    const f = plain(given);
    const path = f.path.trim().replace(/(.)[\\/]+$/, '$1');
    if (!isAbsolutePath(path)) throw new BackendError('invalid_input', 'Give the folder as a full path (starting at / or a drive letter).');
    if (this.watchFolders.some((w) => w.path === path)) throw new BackendError('conflict', `${path} is already watched.`);
    const { acc, node: n } = this.destinationNode(f.destination);
    const problem = destinationProblem(acc, n);
    if (problem !== null) throw new BackendError('forbidden', problem);
    const w: WatchFolder = {
      id: this.nextId('watch'),
      path,
      destination: f.destination,
      destinationLabel: this.destinationLabel(f.destination),
      enabled: true,
      detectVersions: f.detectVersions,
      comment: f.comment !== null && f.comment.trim().length > 0 ? f.comment.trim() : null,
      filesSent: 0,
      problem: null,
    };
    this.watchFolders.push(w);
    this.watchFolderEvents.emit(structuredClone(w));
    return structuredClone(w);
  }

  async setWatchFolderEnabled(id: string, enabled: boolean): Promise<WatchFolder> {
    const w = this.watchFolder(id);
    w.enabled = enabled;
    this.watchFolderEvents.emit(structuredClone(w));
    return structuredClone(w);
  }

  async removeWatchFolder(id: string): Promise<void> {
    this.watchFolder(id);
    this.watchFolders = this.watchFolders.filter((w) => w.id !== id);
  }

  /** Test and preview helper: a file finished arriving in a watch folder (sent if the folder is enabled). */
  simulateWatchedFile(folderId: string, name: string, size: number): Transfer | null {
    const w = this.watchFolder(folderId);
    const path = `${w.path}/${name}`;
    this.files.set(path, size);
    if (!w.enabled || isTransientName(name) || mediaKindOf(name) === null) return null;
    const sim = this.addTransfer(w.destination, path, name, size, w.detectVersions ? versionFromName(name) : null, w.comment, w.id);
    this.pumpTransfers();
    return structuredClone(sim.t);
  }

  /** Test and preview helper: what the shell forwards when files are dragged over the window. */
  emitDragDrop(e: DragDropEvent): void {
    this.dragDropEvents.emit(plain(e));
  }

  /**
   * Preview only: the browser's HTML5 drag events carry file names and sizes but no paths, so the
   * dropped files are registered under ~/Desktop and the events forwarded as the shell would.
   */
  private bridgeHtmlDrops(): void {
    if (this.htmlDropsBridged || typeof window === 'undefined') return;
    this.htmlDropsBridged = true;
    let depth = 0;
    const hasFiles = (e: DragEvent): boolean => e.dataTransfer?.types.includes('Files') === true;
    window.addEventListener('dragenter', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      if (depth === 1) this.emitDragDrop({ kind: 'enter', paths: [], x: e.clientX, y: e.clientY });
    });
    window.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      this.emitDragDrop({ kind: 'over', x: e.clientX, y: e.clientY });
    });
    window.addEventListener('dragleave', (e) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) this.emitDragDrop({ kind: 'leave' });
    });
    window.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      const paths: string[] = [];
      for (const f of Array.from(e.dataTransfer?.files ?? [])) {
        const path = `${MOCK_HOME}/Desktop/${f.name}`;
        this.files.set(path, f.size);
        paths.push(path);
      }
      this.emitDragDrop({ kind: 'drop', paths, x: e.clientX, y: e.clientY });
    });
  }

  // --- events ---------------------------------------------------------------------------------

  onPlayerEvent(h: (e: PlayerEvent) => void): Unsubscribe {
    return this.playerEvents.on(h);
  }
  onSyncProgress(h: (e: SyncProgress) => void): Unsubscribe {
    return this.syncEvents.on(h);
  }
  onTaskProgress(h: (e: TaskProgress) => void): Unsubscribe {
    return this.taskEvents.on(h);
  }
  onOutboxChanged(h: (e: OutboxChanged) => void): Unsubscribe {
    return this.outboxEvents.on(h);
  }
  onOfflineChanged(h: (e: OfflineChanged) => void): Unsubscribe {
    return this.offlineEvents.on(h);
  }
  onConnectionChanged(h: (e: ConnectionChanged) => void): Unsubscribe {
    return this.connectionEvents.on(h);
  }
  onTransferChanged(h: (t: Transfer) => void): Unsubscribe {
    return this.transferEvents.on(h);
  }
  onWatchFolderChanged(h: (w: WatchFolder) => void): Unsubscribe {
    return this.watchFolderEvents.on(h);
  }
  onSignInFinished(h: (e: SignInFinished) => void): Unsubscribe {
    return this.signInEvents.on(h);
  }
  onDragDrop(h: (e: DragDropEvent) => void): Unsubscribe {
    if (this.opts.bridgeHtmlDrops) this.bridgeHtmlDrops();
    return this.dragDropEvents.on(h);
  }
}
