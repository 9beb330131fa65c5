//! Pure helpers of the upload UI: human units (bytes, speed, time left), which buttons a transfer's
//! state allows, the queue's overall progress, an upload plan's totals, the drop target under the
//! pointer, and the pasted path list. No Svelte, no backend: everything here is unit-tested as is.

import type { Transfer, TransferState, UploadDestination, UploadPlan } from './backend';
import { isAbsolutePath } from './filenames';

// ---------------------------------------------------------------------------------------------
// Human units
// ---------------------------------------------------------------------------------------------

/** Decimal units, as file managers and bandwidth figures use them (1 MB = 1 000 000 bytes). */
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'] as const;

/** "0 B", "999 B", "1.5 KB", "153 MB", "2.4 GB": one decimal below 10, none above. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  // 999.96 KB rounds to "1000 KB" at 0 decimals: say "1.0 MB" instead.
  if (value >= 999.5 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const text = value < 10 ? value.toFixed(1) : Math.round(value).toString();
  return `${text} ${UNITS[unit]}`;
}

/** "12 MB/s"; empty when unknown (not running). */
export function formatSpeed(bytesPerSecond: number | null): string {
  if (bytesPerSecond === null || !Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '';
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** "45 s left", "2 min 10 s left", "1 h 5 min left"; empty when unknown. Rounds up: never promises too soon. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.ceil(seconds);
  if (s <= 1) return 'a second left';
  if (s < 60) return `${s} s left`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return rest === 0 ? `${m} min left` : `${m} min ${rest} s left`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return m === 0 ? `${h} h left` : `${h} h ${m} min left`;
}

/** Megabytes per second shown in settings ↔ bytes per second in the contract. */
export function mbpsToBytes(mbps: number): number {
  return Math.round(mbps * 1_000_000);
}
export function bytesToMbps(bytes: number): number {
  return Math.round((bytes / 1_000_000) * 10) / 10;
}

// ---------------------------------------------------------------------------------------------
// Transfer states
// ---------------------------------------------------------------------------------------------

export const STATE_TEXT: Record<TransferState, string> = {
  queued: 'Queued',
  running: 'Uploading',
  paused: 'Paused',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** Still in the queue: counts towards the badge and the overall progress. */
export function isActive(state: TransferState): boolean {
  return state === 'queued' || state === 'running' || state === 'paused';
}

/** Done or cancelled: what "Clear finished" forgets (failed ones stay until dealt with). */
export function isFinished(state: TransferState): boolean {
  return state === 'done' || state === 'cancelled';
}

export interface TransferActions {
  pause: boolean;
  resume: boolean;
  cancel: boolean;
  retry: boolean;
}

/** The buttons a transfer's state allows (mirrors the transitions the backend accepts). */
export function transferActions(state: TransferState): TransferActions {
  return {
    pause: state === 'queued' || state === 'running',
    resume: state === 'paused',
    cancel: state === 'queued' || state === 'running' || state === 'paused' || state === 'failed',
    retry: state === 'failed' || state === 'cancelled',
  };
}

/** Fraction 0..1 of one transfer (an empty file is complete once done). */
export function transferFraction(t: Pick<Transfer, 'bytesDone' | 'size' | 'state'>): number {
  if (t.size <= 0) return t.state === 'done' ? 1 : 0;
  return Math.max(0, Math.min(1, t.bytesDone / t.size));
}

export interface QueueProgress {
  /** Queued, running or paused. */
  active: number;
  running: number;
  failed: number;
  bytesDone: number;
  bytesTotal: number;
  /** 0..1 over the active transfers; null when none is active. */
  fraction: number | null;
  /** Sum of the running transfers' speeds; null when nothing reports one. */
  speed: number | null;
  /** Time for what is left of the active transfers at that speed; null when unknown. */
  etaSeconds: number | null;
}

export function queueProgress(transfers: readonly Transfer[]): QueueProgress {
  let active = 0;
  let running = 0;
  let failed = 0;
  let done = 0;
  let total = 0;
  let speed: number | null = null;
  for (const t of transfers) {
    if (t.state === 'failed') failed++;
    if (!isActive(t.state)) continue;
    active++;
    done += Math.min(t.bytesDone, t.size);
    total += t.size;
    if (t.state === 'running') {
      running++;
      if (t.speed !== null && t.speed > 0) speed = (speed ?? 0) + t.speed;
    }
  }
  const fraction = active === 0 ? null : total > 0 ? done / total : 0;
  const etaSeconds = speed !== null && speed > 0 && active > 0 ? (total - done) / speed : null;
  return { active, running, failed, bytesDone: done, bytesTotal: total, fraction, speed, etaSeconds };
}

const STATE_ORDER: Record<TransferState, number> = { running: 0, queued: 1, paused: 2, failed: 3, done: 4, cancelled: 5 };

/**
 * Panel order: what moves first, then what waits, then what needs a hand, then history. Queue
 * order (oldest first) within a state; the sort is stable, so equal times keep the list's order.
 */
export function sortTransfers(transfers: readonly Transfer[]): Transfer[] {
  return [...transfers].sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.createdAt.localeCompare(b.createdAt));
}

/** Replaces the transfer with the same id, or adds it: how a `transferChanged` event lands. */
export function upsertTransfer(list: readonly Transfer[], t: Transfer): Transfer[] {
  const i = list.findIndex((x) => x.id === t.id);
  if (i < 0) return [...list, t];
  const next = [...list];
  next[i] = t;
  return next;
}

// ---------------------------------------------------------------------------------------------
// Upload plans
// ---------------------------------------------------------------------------------------------

export interface PlanTotals {
  accepted: number;
  rejected: number;
  acceptedBytes: number;
  /** Something can be sent: the destination takes uploads and at least one file is accepted. */
  canSend: boolean;
  /** "Send 3 files", "Send 1 file", "Nothing to send". */
  sendLabel: string;
  /** "3 files · 1.2 GB, 2 skipped". */
  summary: string;
}

export function planTotals(plan: UploadPlan): PlanTotals {
  const destinationOk = plan.rejected === null;
  const ok = destinationOk ? plan.files.filter((f) => f.rejected === null) : [];
  const accepted = ok.length;
  const rejected = plan.files.length - accepted;
  const acceptedBytes = ok.reduce((sum, f) => sum + f.size, 0);
  const canSend = accepted > 0;
  const files = (n: number): string => `${n} file${n === 1 ? '' : 's'}`;
  const sendLabel = canSend ? `Send ${files(accepted)}` : 'Nothing to send';
  let summary = plan.files.length === 0 ? 'No files' : `${files(accepted)} · ${formatBytes(acceptedBytes)}`;
  if (rejected > 0 && plan.files.length > 0) summary += `, ${rejected} skipped`;
  return { accepted, rejected, acceptedBytes, canSend, sendLabel, summary };
}

/** The dialog's rows: what will be sent first, then what will not (each group in the backend's order). */
export function orderedPlanFiles(plan: UploadPlan): UploadPlan['files'] {
  if (plan.rejected !== null) return plan.files;
  return [...plan.files.filter((f) => f.rejected === null), ...plan.files.filter((f) => f.rejected !== null)];
}

/**
 * Paths typed or pasted one per line: trims, drops blanks and duplicates, unwraps quotes that
 * file managers add, and turns `file://` URIs (what a paste from a file manager often is) into
 * paths. Relative paths are kept so the backend can say why it refuses them.
 */
export function parsePathList(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let p = raw.trim();
    if (p.length >= 2 && ((p.startsWith('"') && p.endsWith('"')) || (p.startsWith("'") && p.endsWith("'")))) p = p.slice(1, -1).trim();
    if (p.startsWith('file://')) {
      try {
        const u = new URL(p);
        p = decodeURIComponent(u.pathname);
        // file:///C:/x → /C:/x: Windows drive paths lose the leading slash.
        if (/^\/[A-Za-z]:\//.test(p)) p = p.slice(1);
      } catch {
        // Not a URI after all: keep the text, the backend explains.
      }
    }
    if (p.length > 0 && !out.includes(p)) out.push(p);
  }
  return out;
}

/** Paths the UI can already tell are not usable (relative ones), so the dialog can say so early. */
export function relativePaths(paths: readonly string[]): string[] {
  return paths.filter((p) => !isAbsolutePath(p));
}

// ---------------------------------------------------------------------------------------------
// Drop targets
// ---------------------------------------------------------------------------------------------

/** Elements carrying both attributes are drop targets: the library tree's rows. */
export const DROP_TARGET_SELECTOR = '[data-account-id][data-node-id]';

/** The library node under an element (the nearest drop-target ancestor), or null. */
export function dropTargetFromElement(el: Element | null): UploadDestination | null {
  const hit = el?.closest(DROP_TARGET_SELECTOR) ?? null;
  if (!hit) return null;
  const accountId = hit.getAttribute('data-account-id');
  const nodeId = hit.getAttribute('data-node-id');
  if (!accountId || !nodeId) return null;
  return { accountId, nodeId };
}

export function sameDestination(a: UploadDestination | null, b: UploadDestination | null): boolean {
  return a !== null && b !== null && a.accountId === b.accountId && a.nodeId === b.nodeId;
}

// ---------------------------------------------------------------------------------------------
// The upload dialog's keys
// ---------------------------------------------------------------------------------------------

export type DialogKeyAction = 'send' | 'check' | 'close' | null;

/**
 * What a key does in the upload dialog. Escape closes. Enter sends — except on a button (which
 * presses itself) and in a text area (a new line there; Ctrl/⌘+Enter sends). While the typed
 * paths have not been checked yet, the same keys check them instead of sending an old plan.
 */
export function dialogKeyAction(key: string, target: { tag: string; mod: boolean }, planFresh: boolean): DialogKeyAction {
  if (key === 'Escape') return 'close';
  if (key !== 'Enter') return null;
  const tag = target.tag.toUpperCase();
  if (tag === 'BUTTON' || tag === 'SELECT' || tag === 'A') return null;
  if (tag === 'TEXTAREA' && !target.mod) return null;
  return planFresh ? 'send' : 'check';
}
