//! Note drafts that survive a restart, and the frame stamp a new note gets.
//!
//! A reviewer's half-written note is saved to localStorage under its version's key on every
//! change, so quitting, crashing or switching clips never loses what was typed or drawn.

import type { Capabilities, Drawing, FrameSpan, Shape } from './backend';

export interface Draft {
  text: string;
  drawing: Drawing | null;
  /** Review status to set with the note (platforms with status changes). */
  reviewStatus: string | null;
  /** The frames the note was stamped with when writing began; null = not stamped yet. */
  anchor: FrameSpan | null;
  /** A note on the whole version, not on a frame. */
  general: boolean;
  /** Replies being written, by the id of the note answered. */
  replies: Record<string, string>;
  /** Epoch milliseconds of the last edit. */
  updatedAt: number;
}

/** The subset of `Storage` drafts need, so tests can pass a plain map. */
export interface DraftStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const PREFIX = 'framenote.draft.v1:';

export function draftKey(versionKey: string): string {
  return PREFIX + versionKey;
}

function isShape(v: unknown): v is Shape {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const stroke = r['stroke'] as Record<string, unknown> | undefined;
  return (
    typeof r['id'] === 'string' &&
    typeof r['type'] === 'string' &&
    ['pen', 'line', 'arrow', 'rect', 'ellipse', 'text'].includes(r['type']) &&
    typeof stroke === 'object' &&
    stroke !== null &&
    typeof stroke['color'] === 'string' &&
    typeof stroke['width'] === 'number'
  );
}

function parseReplies(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [k, t] of Object.entries(v as Record<string, unknown>)) if (typeof t === 'string' && t.length > 0) out[k] = t;
  return out;
}

function parseSpan(v: unknown): FrameSpan | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  const start = r['start'];
  const end = r['end'];
  if (typeof start !== 'number' || typeof end !== 'number') return null;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start) return null;
  return { start, end };
}

export class DraftStore {
  constructor(private readonly storage: DraftStorage | null) {}

  load(versionKey: string): Draft | null {
    if (!this.storage) return null;
    let raw: string | null;
    try {
      raw = this.storage.getItem(draftKey(versionKey));
    } catch {
      return null;
    }
    if (raw === null) return null;
    try {
      const v = JSON.parse(raw) as Record<string, unknown>;
      const text = typeof v['text'] === 'string' ? v['text'] : '';
      const d = v['drawing'] as Record<string, unknown> | null | undefined;
      const shapes = d && Array.isArray(d['shapes']) ? d['shapes'].filter(isShape) : [];
      return {
        text,
        drawing: shapes.length > 0 ? { shapes } : null,
        reviewStatus: typeof v['reviewStatus'] === 'string' ? v['reviewStatus'] : null,
        anchor: parseSpan(v['anchor']),
        general: v['general'] === true,
        replies: parseReplies(v['replies']),
        updatedAt: typeof v['updatedAt'] === 'number' ? v['updatedAt'] : 0,
      };
    } catch {
      // A corrupt entry is not worth an error dialog; it is replaced by the next edit.
      return null;
    }
  }

  /** Saves, or removes when the draft is empty. Returns false when storage refused (quota). */
  save(versionKey: string, draft: Draft): boolean {
    if (!this.storage) return false;
    const empty =
      draft.text.trim().length === 0 &&
      (!draft.drawing || draft.drawing.shapes.length === 0) &&
      draft.reviewStatus === null &&
      Object.values(draft.replies).every((r) => r.trim().length === 0);
    try {
      if (empty) this.storage.removeItem(draftKey(versionKey));
      else this.storage.setItem(draftKey(versionKey), JSON.stringify(draft));
      return true;
    } catch {
      return false;
    }
  }

  /** Forgets the posted note's text, drawing and stamp, keeping replies still being written. */
  clearNote(versionKey: string): void {
    const d = this.load(versionKey);
    if (!d) return;
    this.save(versionKey, { ...d, text: '', drawing: null, reviewStatus: null, anchor: null, general: false, updatedAt: Date.now() });
  }

  clear(versionKey: string): void {
    try {
      this.storage?.removeItem(draftKey(versionKey));
    } catch {
      // Nothing to do: the draft will be overwritten by the next save.
    }
  }
}

export type StampMode = 'frame' | 'range' | 'none';

/**
 * The frames a new note is stamped with: the I/O range when one is set and the platform takes
 * range notes, otherwise the current frame; `none` makes a note on the whole version.
 */
export function noteStamp(
  mode: StampMode,
  currentIndex: number,
  loop: { in: number; out: number } | null,
  caps: Pick<Capabilities, 'rangeNotes'>,
): FrameSpan | null {
  if (mode === 'none') return null;
  if (mode === 'range' && loop && caps.rangeNotes) {
    return { start: Math.min(loop.in, loop.out), end: Math.max(loop.in, loop.out) };
  }
  return { start: currentIndex, end: currentIndex };
}

/** The default stamp: a range when an I/O range exists and is allowed, else the frame. */
export function defaultStampMode(loop: { in: number; out: number } | null, caps: Pick<Capabilities, 'rangeNotes'>): StampMode {
  return loop && caps.rangeNotes ? 'range' : 'frame';
}

/** The "@query" being typed right before the caret, for the mention picker. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const m = /(^|\s)@([\p{L}\p{N}._-]*)$/u.exec(before);
  if (!m) return null;
  const query = m[2] ?? '';
  return { start: caret - query.length - 1, query };
}
