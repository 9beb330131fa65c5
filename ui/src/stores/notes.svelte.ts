//! Notes of the open version and the note being written.
//!
//! Threads come from the backend and are kept current by `outboxChanged` events (pending → sent
//! or failed). The composer keeps a draft — text, drawing, stamp — saved to localStorage on every
//! edit, so nothing typed is lost. Drawing tools edit the draft's drawing, which belongs to the
//! draft's stamped frame(s) and shows only there.

import {
  toBackendError,
  type Backend,
  type Capabilities,
  type Drawing,
  type FrameSpan,
  type NoteStatus,
  type NoteThread,
  type NoteView,
  type Person,
  type Shape,
  type Unsubscribe,
} from '../lib/backend';
import { DraftStore, noteStamp, type DraftStorage, type StampMode } from '../lib/drafts';
import { DrawingHistory, PALETTE, WIDTHS, type Tool } from '../lib/drawing';
import type { Notifier } from './notify.svelte';

export const NO_CAPS: Capabilities = {
  notes: false,
  replies: false,
  resolve: false,
  drawings: false,
  rangeNotes: false,
  statusChange: false,
  mentions: false,
  upload: false,
  uploadFolders: false,
  liveEvents: false,
};

/** What the timeline draws for a note. */
export interface Marker {
  id: string;
  frames: FrameSpan;
  text: string;
  author: string;
  status: NoteStatus;
  hasDrawing: boolean;
  failed: boolean;
}

function defaultStorage(): DraftStorage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export class NotesStore {
  versionKey = $state<string | null>(null);
  accountId = $state<string | null>(null);
  caps = $state<Capabilities>(NO_CAPS);
  threads = $state<NoteThread[]>([]);
  loading = $state(false);
  error = $state<string | null>(null);
  people = $state<Person[]>([]);
  statuses = $state<string[]>([]);
  filter = $state<'all' | 'open' | 'resolved'>('all');

  // --- composer ---
  text = $state('');
  reviewStatus = $state<string | null>(null);
  anchor = $state<FrameSpan | null>(null);
  general = $state(false);
  posting = $state(false);
  replyTexts = $state<Record<string, string>>({});

  // --- drawing tools ---
  drawMode = $state(false);
  tool = $state<Tool>('pen');
  color = $state<string>(PALETTE[0]);
  width = $state<number>(WIDTHS[1]);
  onion = $state(false);
  /** The draft drawing's shapes (a mirror of `history` that Svelte can track). */
  shapes = $state<Shape[]>([]);
  canUndo = $state(false);
  canRedo = $state(false);

  private history = new DrawingHistory();
  private readonly drafts: DraftStore;
  private unsubs: Unsubscribe[] = [];
  private loadSeq = 0;

  constructor(
    private readonly backend: Backend,
    private readonly notify: Notifier,
    storage: DraftStorage | null = defaultStorage(),
  ) {
    this.drafts = new DraftStore(storage);
  }

  start(): void {
    this.unsubs.push(
      this.backend.onOutboxChanged((e) => {
        if (e.versionKey !== this.versionKey) return;
        const n = this.find(e.noteId);
        if (n) n.outbox = e.outbox;
      }),
    );
  }

  stop(): void {
    for (const u of this.unsubs) u();
    this.unsubs = [];
  }

  find(noteId: string): NoteView | undefined {
    for (const t of this.threads) {
      if (t.root.id === noteId) return t.root;
      const r = t.replies.find((x) => x.id === noteId);
      if (r) return r;
    }
    return undefined;
  }

  /** Threads in frame order (notes on the whole version first), filtered. */
  get visibleThreads(): NoteThread[] {
    const list = this.threads.filter((t) => this.filter === 'all' || t.root.status === this.filter);
    return list.sort((a, b) => {
      const fa = a.root.frames?.start ?? -1;
      const fb = b.root.frames?.start ?? -1;
      return fa - fb || a.root.createdAt.localeCompare(b.root.createdAt);
    });
  }

  get markers(): Marker[] {
    const out: Marker[] = [];
    for (const t of this.threads) {
      const n = t.root;
      if (!n.frames) continue;
      out.push({
        id: n.id,
        frames: n.frames,
        text: n.text,
        author: n.author,
        status: n.status,
        hasDrawing: (n.drawing?.shapes.length ?? 0) > 0,
        failed: n.outbox.state === 'failed' || t.replies.some((r) => r.outbox.state === 'failed'),
      });
    }
    return out.sort((a, b) => a.frames.start - b.frames.start);
  }

  get pendingCount(): number {
    let c = 0;
    for (const t of this.threads) for (const n of [t.root, ...t.replies]) if (n.outbox.state !== 'sent') c += 1;
    return c;
  }

  /** Drawings of notes to show at `index`: exact ones, and faded nearby ones for onion skin. */
  drawingsAt(index: number, onionRadius: number): Array<{ drawing: Drawing; alpha: number }> {
    const out: Array<{ drawing: Drawing; alpha: number }> = [];
    for (const t of this.threads) {
      for (const n of [t.root, ...t.replies]) {
        const d = n.drawing;
        const f = n.frames ?? t.root.frames;
        if (!d || d.shapes.length === 0 || !f) continue;
        if (index >= f.start && index <= f.end) {
          out.push({ drawing: d, alpha: 1 });
        } else if (onionRadius > 0) {
          const dist = index < f.start ? f.start - index : index - f.end;
          if (dist <= onionRadius) out.push({ drawing: d, alpha: 0.45 * (1 - (dist - 1) / onionRadius) });
        }
      }
    }
    return out;
  }

  async load(versionKey: string, accountId: string, caps: Capabilities): Promise<void> {
    this.saveDraft();
    const seq = ++this.loadSeq;
    this.versionKey = versionKey;
    this.accountId = accountId;
    this.caps = caps;
    this.threads = [];
    this.error = null;
    this.restoreDraft(versionKey);
    if (!caps.notes) return;
    this.loading = true;
    try {
      // The pickers are a convenience: a platform that cannot list people or statuses right now
      // (and never has) must not hide the notes themselves.
      const [threads, people, statuses] = await Promise.all([
        this.backend.listNotes(versionKey),
        caps.mentions ? this.backend.listPeople(accountId).catch(() => []) : Promise.resolve([]),
        caps.statusChange ? this.backend.listStatuses(accountId).catch(() => []) : Promise.resolve([]),
      ]);
      if (seq !== this.loadSeq) return;
      this.threads = threads;
      this.people = people;
      this.statuses = statuses;
    } catch (e) {
      if (seq === this.loadSeq) this.error = toBackendError(e).message;
    } finally {
      if (seq === this.loadSeq) this.loading = false;
    }
  }

  // --- draft ----------------------------------------------------------------------------------

  private restoreDraft(versionKey: string): void {
    const d = this.drafts.load(versionKey);
    this.text = d?.text ?? '';
    this.reviewStatus = d?.reviewStatus ?? null;
    this.anchor = d?.anchor ?? null;
    this.general = d?.general ?? false;
    this.history = new DrawingHistory(d?.drawing?.shapes ?? []);
    this.syncShapes();
    this.replyTexts = { ...(d?.replies ?? {}) };
  }

  /** Persists the draft of the current version; called on every edit. */
  saveDraft(): void {
    if (!this.versionKey) return;
    const ok = this.drafts.save(this.versionKey, {
      text: this.text,
      drawing: this.shapes.length > 0 ? { shapes: this.shapes } : null,
      reviewStatus: this.reviewStatus,
      anchor: this.anchor,
      general: this.general,
      replies: $state.snapshot(this.replyTexts),
      updatedAt: Date.now(),
    });
    if (!ok && this.text.length > 0) {
      // Storage refused (full or disabled): the text is still in the box; say so once.
      this.notify.error('Drafts cannot be saved on this machine right now; post or copy your note before quitting.');
    }
  }

  /** Stamps the draft with the current frame or I/O range, unless it is already stamped. */
  ensureAnchor(index: number, loop: { in: number; out: number } | null, force = false): void {
    if (this.anchor && !force) return;
    const mode: StampMode = loop && this.caps.rangeNotes ? 'range' : 'frame';
    this.anchor = noteStamp(mode, index, loop, this.caps);
    this.general = false;
    this.saveDraft();
  }

  setGeneral(general: boolean): void {
    this.general = general;
    this.saveDraft();
  }

  setText(text: string, index: number, loop: { in: number; out: number } | null): void {
    this.text = text;
    if (text.length > 0) this.ensureAnchor(index, loop);
    this.saveDraft();
  }

  setReplyText(parentId: string, text: string): void {
    this.replyTexts[parentId] = text;
    this.saveDraft();
  }

  setReviewStatus(s: string | null): void {
    this.reviewStatus = s;
    this.saveDraft();
  }

  /** The frames the note will be posted with; `index` is null when no picture is open. */
  stamp(index: number | null, loop: { in: number; out: number } | null): FrameSpan | null {
    if (this.general) return null;
    if (this.anchor) return this.anchor;
    if (index === null) return null;
    return noteStamp(loop && this.caps.rangeNotes ? 'range' : 'frame', index, loop, this.caps);
  }

  get canPost(): boolean {
    return this.caps.notes && !this.posting && (this.text.trim().length > 0 || this.shapes.length > 0);
  }

  async post(index: number | null, loop: { in: number; out: number } | null): Promise<NoteView | null> {
    const versionKey = this.versionKey;
    if (!versionKey || !this.canPost) return null;
    this.posting = true;
    // Snapshots: the backend gets plain data, never Svelte's reactive proxies.
    const frames = $state.snapshot(this.stamp(index, loop));
    try {
      const note = await this.backend.createNote({
        versionKey,
        parentId: null,
        text: this.text.trim(),
        frames,
        drawing: this.caps.drawings && this.shapes.length > 0 ? { shapes: $state.snapshot(this.shapes) } : null,
        reviewStatus: this.caps.statusChange ? this.reviewStatus : null,
      });
      if (versionKey === this.versionKey) {
        this.threads.push({ root: note, replies: [] });
        this.text = '';
        this.reviewStatus = null;
        this.anchor = null;
        this.general = false;
        this.history = new DrawingHistory();
        this.syncShapes();
        this.drawMode = false;
      }
      this.drafts.clearNote(versionKey);
      return note;
    } catch (e) {
      // The draft is untouched: nothing typed is lost, the reviewer can post again.
      this.notify.error(toBackendError(e).message);
      return null;
    } finally {
      this.posting = false;
    }
  }

  async reply(parentId: string): Promise<void> {
    const versionKey = this.versionKey;
    const text = (this.replyTexts[parentId] ?? '').trim();
    if (!versionKey || text.length === 0) return;
    const thread = this.threads.find((t) => t.root.id === parentId);
    try {
      const note = await this.backend.createNote({
        versionKey,
        parentId,
        text,
        frames: $state.snapshot(thread?.root.frames ?? null),
        drawing: null,
        reviewStatus: null,
      });
      thread?.replies.push(note);
      delete this.replyTexts[parentId];
      this.saveDraft();
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  async setStatus(noteId: string, status: NoteStatus): Promise<void> {
    const n = this.find(noteId);
    if (!n) return;
    const before = n.status;
    n.status = status;
    try {
      const updated = await this.backend.setNoteStatus(noteId, status);
      n.status = updated.status;
      n.outbox = updated.outbox;
    } catch (e) {
      n.status = before;
      this.notify.error(toBackendError(e).message);
    }
  }

  async retry(noteId: string): Promise<void> {
    const n = this.find(noteId);
    try {
      await this.backend.retryNote(noteId);
      if (n) n.outbox = { state: 'pending' };
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  async discard(noteId: string): Promise<void> {
    try {
      await this.backend.discardNote(noteId);
      this.threads = this.threads
        .filter((t) => t.root.id !== noteId)
        .map((t) => ({ root: t.root, replies: t.replies.filter((r) => r.id !== noteId) }));
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  // --- drawing --------------------------------------------------------------------------------

  private syncShapes(): void {
    this.shapes = this.history.shapes.slice();
    this.canUndo = this.history.canUndo;
    this.canRedo = this.history.canRedo;
  }

  addShape(shape: Shape, index: number, loop: { in: number; out: number } | null): void {
    this.ensureAnchor(index, loop);
    this.history.add(shape);
    this.syncShapes();
    this.saveDraft();
  }

  eraseShape(id: string): void {
    if (this.history.remove(id)) {
      this.syncShapes();
      this.saveDraft();
    }
  }

  undo(): void {
    if (this.history.undo()) {
      this.syncShapes();
      this.saveDraft();
    }
  }

  redo(): void {
    if (this.history.redo()) {
      this.syncShapes();
      this.saveDraft();
    }
  }

  clearDrawing(): void {
    this.history.clear();
    this.syncShapes();
    this.saveDraft();
  }

  /** Whether the draft drawing belongs on frame `index`. */
  draftVisibleAt(index: number): boolean {
    const a = this.anchor;
    if (!a) return true;
    return index >= a.start && index <= a.end;
  }

  /** Next / previous note start from `index` (for ↑/↓). */
  neighbourNote(index: number, direction: 1 | -1): number | null {
    const starts = [...new Set(this.markers.map((m) => m.frames.start))].sort((a, b) => a - b);
    if (direction > 0) return starts.find((s) => s > index) ?? null;
    for (let i = starts.length - 1; i >= 0; i--) {
      const s = starts[i];
      if (s !== undefined && s < index) return s;
    }
    return null;
  }
}
