//! Upload state: files dragged over the window (the drop target under the pointer), the upload
//! dialog (a plan from the backend, a comment, send), the transfer queue kept current from
//! `transferChanged` events, its settings, and the watch folders.
//!
//! The backend decides what can be sent; this store only asks, shows and queues. Pure decisions
//! (units, totals, allowed buttons, target resolution) live in lib/transfers.ts.

import {
  PLATFORM_NAMES,
  toBackendError,
  type Backend,
  type DragDropEvent,
  type Transfer,
  type TransferSettings,
  type Unsubscribe,
  type UploadDestination,
  type UploadPlan,
  type WatchFolder,
} from '../lib/backend';
import { dropTargetFromElement, isActive, parsePathList, planTotals, queueProgress, sameDestination, sortTransfers, upsertTransfer, type QueueProgress } from '../lib/transfers';
import type { LibraryStore } from './library.svelte';
import type { Notifier } from './notify.svelte';

/** A destination as the UI shows it before the backend has planned anything. */
export interface DestinationInfo {
  destination: UploadDestination;
  /** The node's own name, e.g. "Compositing — review". */
  name: string;
  /** "Kitsu › Harbour Lights › EP01 › Compositing — review" as far as the tree is loaded. */
  label: string;
  accountName: string;
  /** Why nothing can be sent there (the platform has no upload), or null. */
  problem: string | null;
}

/** Files being dragged over the window. */
export interface DragState {
  paths: string[];
  /** Where a drop would go now, or null when there is nowhere (no node in view). */
  target: DestinationInfo | null;
  /** The target is the row under the pointer (not just the node in view). */
  underPointer: boolean;
}

export interface UploadDialogState {
  destination: DestinationInfo;
  /** Opened from the Upload… button: the reviewer types or pastes paths. */
  manual: boolean;
  pathsText: string;
  /** `pathsText` as it was when `plan` was made: a different text means the plan is stale. */
  plannedText: string | null;
  plan: UploadPlan | null;
  planning: boolean;
  sending: boolean;
  comment: string;
  error: string | null;
}

export type PanelTab = 'transfers' | 'watch';

/** Finds what is under a window point; the app passes `document.elementFromPoint`, tests a fake. */
export type ElementAt = (x: number, y: number) => Element | null;

const defaultElementAt: ElementAt = (x, y) => (typeof document === 'undefined' ? null : document.elementFromPoint(x, y));

export class UploadsStore {
  transfers = $state<Transfer[]>([]);
  settings = $state<TransferSettings>({ concurrency: 2, bandwidthLimit: null });
  watchFolders = $state<WatchFolder[]>([]);
  panelOpen = $state(false);
  panelTab = $state<PanelTab>('transfers');
  settingsOpen = $state(false);
  drag = $state<DragState | null>(null);
  dialog = $state<UploadDialogState | null>(null);

  private unsubs: Unsubscribe[] = [];
  private refreshPending: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly library: LibraryStore,
    private readonly notify: Notifier,
    private readonly elementAt: ElementAt = defaultElementAt,
  ) {}

  get sorted(): Transfer[] {
    return sortTransfers(this.transfers);
  }

  get progress(): QueueProgress {
    return queueProgress(this.transfers);
  }

  /** The badge: uploads still to finish. */
  get activeCount(): number {
    return this.transfers.filter((t) => isActive(t.state)).length;
  }

  get failedCount(): number {
    return this.transfers.filter((t) => t.state === 'failed').length;
  }

  get hasFinished(): boolean {
    return this.transfers.some((t) => t.state === 'done' || t.state === 'cancelled');
  }

  async start(): Promise<void> {
    try {
      this.unsubs.push(
        this.backend.onTransferChanged((t) => this.transferChanged(t)),
        this.backend.onWatchFolderChanged((w) => {
          const i = this.watchFolders.findIndex((x) => x.id === w.id);
          if (i < 0) this.watchFolders.push(w);
          else this.watchFolders[i] = w;
        }),
        this.backend.onDragDrop((e) => void this.handleDragDrop(e)),
      );
      const [transfers, settings, folders] = await Promise.all([this.backend.listTransfers(), this.backend.transferSettings(), this.backend.listWatchFolders()]);
      // Events that arrived while loading are newer than the list: keep them.
      let merged = transfers;
      for (const t of this.transfers) merged = upsertTransfer(merged, t);
      this.transfers = merged;
      this.settings = settings;
      this.watchFolders = folders;
    } catch (e) {
      this.notify.error(`Uploads are not available: ${toBackendError(e).message}`);
    }
  }

  stop(): void {
    for (const u of this.unsubs) u();
    this.unsubs = [];
    if (this.refreshPending !== null) clearTimeout(this.refreshPending);
    this.refreshPending = null;
  }

  private transferChanged(t: Transfer): void {
    const before = this.transfers.find((x) => x.id === t.id);
    this.transfers = upsertTransfer(this.transfers, t);
    if (t.state === 'done' && before?.state !== 'done') this.assetArrived(t);
    if (t.state === 'failed' && before?.state !== 'failed' && t.error) this.notify.error(`${t.name} was not sent: ${t.error}`);
  }

  /** The platform has the file: the clip list in view shows it (one refresh for a burst of completions). */
  private assetArrived(t: Transfer): void {
    if (this.library.selected?.accountId !== t.accountId) return;
    if (this.refreshPending !== null) return;
    this.refreshPending = setTimeout(() => {
      this.refreshPending = null;
      void this.library.refreshAssets();
    }, 300);
  }

  // --- destinations ---------------------------------------------------------------------------

  describe(destination: UploadDestination): DestinationInfo {
    const acc = this.library.account(destination.accountId);
    const path = this.library.nodePath(destination.accountId, destination.nodeId);
    const name = path[path.length - 1]?.name ?? destination.nodeId;
    const platform = acc ? PLATFORM_NAMES[acc.platform] : '';
    const label = [platform, ...path.map((n) => n.name)].filter((x) => x !== '').join(' › ');
    const accountName = acc?.name ?? destination.accountId;
    let problem: string | null = null;
    if (!acc) problem = 'That account is not set up any more.';
    else if (!acc.capabilities.upload) problem = `${accountName} (${platform}) does not take uploads.`;
    return { destination, name, label, accountName, problem };
  }

  /** The node in view in the library, if any. */
  get inView(): DestinationInfo | null {
    const sel = this.library.selected;
    return sel ? this.describe(sel) : null;
  }

  /** Whether the node in view can take uploads (the Upload… button shows only then). */
  get canUploadInView(): boolean {
    const v = this.inView;
    return v !== null && v.problem === null;
  }

  /** Where a drop at this window point goes: the tree row under it, else the node in view. */
  targetAt(x: number, y: number): { target: DestinationInfo | null; underPointer: boolean } {
    const under = dropTargetFromElement(this.elementAt(x, y));
    if (under) return { target: this.describe(under), underPointer: true };
    const v = this.inView;
    return { target: v, underPointer: false };
  }

  /** True for the tree row a drag would drop onto (the row highlights). */
  isDropTarget(accountId: string, nodeId: string): boolean {
    const d = this.drag;
    return d !== null && d.underPointer && d.target !== null && sameDestination(d.target.destination, { accountId, nodeId });
  }

  // --- drag and drop --------------------------------------------------------------------------

  /** Takes the shell's drag-drop events (exported for tests that feed it what Tauri delivers). */
  async handleDragDrop(e: DragDropEvent): Promise<void> {
    switch (e.kind) {
      case 'enter': {
        this.drag = { paths: e.paths, ...this.targetAt(e.x, e.y) };
        return;
      }
      case 'over': {
        const next = this.targetAt(e.x, e.y);
        const d = this.drag;
        // `over` can arrive without `enter` (the window got focus mid-drag): start tracking then.
        if (!d) {
          this.drag = { paths: [], ...next };
          return;
        }
        if (d.underPointer !== next.underPointer || !sameDestination(d.target?.destination ?? null, next.target?.destination ?? null)) {
          d.target = next.target;
          d.underPointer = next.underPointer;
        }
        return;
      }
      case 'leave':
        this.drag = null;
        return;
      case 'drop': {
        const { target } = this.targetAt(e.x, e.y);
        this.drag = null;
        if (e.paths.length === 0) return;
        if (!target) {
          this.notify.error('Choose a folder or task in the library first, then drop the files again.');
          return;
        }
        if (target.problem !== null) {
          this.notify.error(target.problem);
          return;
        }
        if (this.dialog?.sending) return;
        await this.openWithPaths(target, e.paths);
        return;
      }
    }
  }

  // --- the dialog -----------------------------------------------------------------------------

  /** Opens the dialog on dropped paths and asks the backend what would be sent. */
  async openWithPaths(target: DestinationInfo, paths: string[]): Promise<void> {
    this.dialog = { destination: target, manual: false, pathsText: paths.join('\n'), plannedText: null, plan: null, planning: true, sending: false, comment: '', error: null };
    await this.plan(paths);
  }

  /** Opens the dialog for the node in view, with a field for paths (there is no native file picker). */
  openManual(): void {
    const target = this.inView;
    if (!target) {
      this.notify.error('Choose a folder or task in the library first.');
      return;
    }
    if (target.problem !== null) {
      this.notify.error(target.problem);
      return;
    }
    this.dialog = { destination: target, manual: true, pathsText: '', plannedText: null, plan: null, planning: false, sending: false, comment: '', error: null };
  }

  /** Plans the paths typed in the dialog. */
  async checkPaths(): Promise<void> {
    const d = this.dialog;
    if (!d) return;
    const paths = parsePathList(d.pathsText);
    if (paths.length === 0) {
      d.plan = null;
      d.error = 'Type or paste at least one full path, one per line.';
      return;
    }
    await this.plan(paths);
  }

  private async plan(paths: string[]): Promise<void> {
    const d = this.dialog;
    if (!d) return;
    d.planning = true;
    d.error = null;
    const text = d.pathsText;
    try {
      const plan = await this.backend.planUpload(paths, d.destination.destination);
      // The dialog may have been closed or reopened elsewhere meanwhile.
      if (this.dialog === d) {
        d.plan = plan;
        d.plannedText = text;
      }
    } catch (e) {
      if (this.dialog === d) {
        d.plan = null;
        d.error = toBackendError(e).message;
      }
    } finally {
      if (this.dialog === d) d.planning = false;
    }
  }

  /** The plan shown matches the paths in the dialog (typed paths must be checked again after an edit). */
  get planFresh(): boolean {
    const d = this.dialog;
    return d !== null && d.plan !== null && d.plannedText === d.pathsText;
  }

  get canSend(): boolean {
    const d = this.dialog;
    return d !== null && d.plan !== null && this.planFresh && !d.planning && !d.sending && planTotals(d.plan).canSend;
  }

  async send(): Promise<void> {
    const d = this.dialog;
    if (!d || !d.plan || !this.canSend) return;
    d.sending = true;
    d.error = null;
    const comment = d.plan.takesComment && d.comment.trim().length > 0 ? d.comment.trim() : null;
    try {
      const queued = await this.backend.queueUpload(d.plan, comment);
      for (const t of queued) this.transfers = upsertTransfer(this.transfers, t);
      if (this.dialog === d) this.dialog = null;
      this.panelTab = 'transfers';
      this.panelOpen = true;
      this.notify.info(`${queued.length} file${queued.length === 1 ? '' : 's'} queued for ${d.plan.destinationLabel}`);
    } catch (e) {
      if (this.dialog === d) {
        d.sending = false;
        d.error = toBackendError(e).message;
      }
    }
  }

  closeDialog(): void {
    if (this.dialog?.sending) return;
    this.dialog = null;
  }

  // --- the queue ------------------------------------------------------------------------------

  private async act(run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  pause(id: string): Promise<void> {
    return this.act(() => this.backend.pauseTransfer(id));
  }
  resume(id: string): Promise<void> {
    return this.act(() => this.backend.resumeTransfer(id));
  }
  cancel(id: string): Promise<void> {
    return this.act(() => this.backend.cancelTransfer(id));
  }
  retry(id: string): Promise<void> {
    return this.act(() => this.backend.retryTransfer(id));
  }

  async clearFinished(): Promise<void> {
    await this.act(async () => {
      await this.backend.clearFinishedTransfers();
      this.transfers = await this.backend.listTransfers();
    });
  }

  /** Saves settings; returns the error text (shown next to the field) or null. */
  async saveSettings(next: TransferSettings): Promise<string | null> {
    try {
      this.settings = await this.backend.setTransferSettings(next);
      return null;
    } catch (e) {
      return toBackendError(e).message;
    }
  }

  togglePanel(): void {
    this.panelOpen = !this.panelOpen;
  }

  // --- watch folders --------------------------------------------------------------------------

  /** Adds a watch folder sending to the node in view; returns the error text or null. */
  async addWatchFolder(path: string, detectVersions: boolean, comment: string): Promise<string | null> {
    const target = this.inView;
    if (!target) return 'Choose the destination in the library first.';
    if (target.problem !== null) return target.problem;
    const trimmed = path.trim();
    if (trimmed.length === 0) return 'Type the folder’s full path.';
    try {
      const w = await this.backend.addWatchFolder({ path: trimmed, destination: target.destination, detectVersions, comment: comment.trim().length > 0 ? comment.trim() : null });
      if (!this.watchFolders.some((x) => x.id === w.id)) this.watchFolders.push(w);
      return null;
    } catch (e) {
      return toBackendError(e).message;
    }
  }

  async setWatchFolderEnabled(id: string, enabled: boolean): Promise<void> {
    await this.act(async () => {
      const w = await this.backend.setWatchFolderEnabled(id, enabled);
      const i = this.watchFolders.findIndex((x) => x.id === w.id);
      if (i >= 0) this.watchFolders[i] = w;
    });
  }

  async removeWatchFolder(id: string): Promise<void> {
    await this.act(async () => {
      await this.backend.removeWatchFolder(id);
      this.watchFolders = this.watchFolders.filter((w) => w.id !== id);
    });
  }
}
