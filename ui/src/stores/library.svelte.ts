//! Library state: accounts, the lazily loaded browse tree, the asset list of the selected node
//! with its search / filter / sort, offline state kept current from backend events, and the long
//! tasks (sync, downloads) with their progress and cancel.

import {
  toBackendError,
  type Account,
  type AssetSummary,
  type Backend,
  type LibraryNode,
  type OfflineState,
  type PinScope,
  type TaskProgress,
  type Unsubscribe,
} from '../lib/backend';
import type { Notifier } from './notify.svelte';

export type AssetSort = 'name' | 'date' | 'status';
export type OfflineFilter = 'all' | 'offline' | 'online_only';
export type AssetView = 'list' | 'grid';

function treeKey(accountId: string, parentId: string | null): string {
  return `${accountId}\u0000${parentId ?? ''}`;
}

export function offlineLabel(o: OfflineState): string {
  switch (o.state) {
    case 'none':
      return 'Not offline';
    case 'downloading':
      return `Downloading ${Math.round(o.progress * 100)}%`;
    case 'available':
      return 'Available offline';
    case 'outdated':
      return 'Offline copy outdated';
    case 'forbidden':
      return `Offline not allowed: ${o.reason}`;
  }
}

/** Filters and sorts assets; pure so it can be tested and reused. */
export function visibleAssets(
  assets: readonly AssetSummary[],
  query: string,
  statusFilter: string,
  offlineFilter: OfflineFilter,
  sort: AssetSort,
): AssetSummary[] {
  const q = query.trim().toLowerCase();
  const out = assets.filter((a) => {
    if (q && !a.name.toLowerCase().includes(q) && !(a.status ?? '').toLowerCase().includes(q) && !a.versionLabel.toLowerCase().includes(q)) return false;
    if (statusFilter !== '' && (a.status ?? '') !== statusFilter) return false;
    if (offlineFilter === 'offline' && a.offline.state !== 'available' && a.offline.state !== 'outdated') return false;
    if (offlineFilter === 'online_only' && (a.offline.state === 'available' || a.offline.state === 'outdated')) return false;
    return true;
  });
  const byName = (a: AssetSummary, b: AssetSummary): number => a.name.localeCompare(b.name, undefined, { numeric: true });
  out.sort((a, b) => {
    if (sort === 'date') return (b.updatedAt ?? '').localeCompare(a.updatedAt ?? '') || byName(a, b);
    if (sort === 'status') return (a.status ?? '\uffff').localeCompare(b.status ?? '\uffff') || byName(a, b);
    return byName(a, b);
  });
  return out;
}

export class LibraryStore {
  accounts = $state<Account[]>([]);
  /** Children per (account, parent); absent = not loaded yet. */
  children = $state<Record<string, LibraryNode[]>>({});
  expanded = $state<Record<string, boolean>>({});
  loadingTree = $state<Record<string, boolean>>({});
  selected = $state<{ accountId: string; nodeId: string } | null>(null);
  assets = $state<AssetSummary[]>([]);
  loadingAssets = $state(false);
  assetsError = $state<string | null>(null);
  query = $state('');
  statusFilter = $state('');
  offlineFilter = $state<OfflineFilter>('all');
  sort = $state<AssetSort>('name');
  view = $state<AssetView>('list');
  tasks = $state<Record<string, TaskProgress>>({});
  syncing = $state<Record<string, string>>({});

  private unsubs: Unsubscribe[] = [];

  constructor(
    private readonly backend: Backend,
    private readonly notify: Notifier,
  ) {}

  get visible(): AssetSummary[] {
    return visibleAssets(this.assets, this.query, this.statusFilter, this.offlineFilter, this.sort);
  }

  get statuses(): string[] {
    return [...new Set(this.assets.map((a) => a.status).filter((s): s is string => s !== null))].sort();
  }

  account(accountId: string): Account | undefined {
    return this.accounts.find((a) => a.id === accountId);
  }

  nodesOf(accountId: string, parentId: string | null): LibraryNode[] | undefined {
    return this.children[treeKey(accountId, parentId)];
  }

  /** A node already loaded into the tree, wherever it sits. */
  node(accountId: string, nodeId: string): LibraryNode | undefined {
    const prefix = `${accountId}\u0000`;
    for (const [key, list] of Object.entries(this.children)) {
      if (!key.startsWith(prefix)) continue;
      const n = list.find((x) => x.id === nodeId);
      if (n) return n;
    }
    return undefined;
  }

  /** The loaded ancestors of a node and the node itself, outermost first (as far as the tree is known). */
  nodePath(accountId: string, nodeId: string): LibraryNode[] {
    const out: LibraryNode[] = [];
    let id: string | null = nodeId;
    // The tree is finite; the guard only stops a malformed parent cycle.
    for (let guard = 0; id !== null && guard < 64; guard++) {
      const n = this.node(accountId, id);
      if (!n) break;
      out.unshift(n);
      id = n.parentId;
    }
    return out;
  }

  isExpanded(accountId: string, nodeId: string | null): boolean {
    return this.expanded[treeKey(accountId, nodeId)] === true;
  }

  async start(): Promise<void> {
    this.unsubs.push(
      this.backend.onOfflineChanged((e) => {
        const a = this.assets.find((x) => x.accountId === e.accountId && x.id === e.assetId);
        if (a) a.offline = e.offline;
      }),
      this.backend.onTaskProgress((t) => {
        this.tasks[t.taskId] = t;
        if (t.state === 'failed' && t.error) this.notify.error(t.error.message);
        if (t.state !== 'running') {
          for (const [acc, id] of Object.entries(this.syncing)) {
            if (id !== t.taskId) continue;
            delete this.syncing[acc];
            // A first sync (just signed in) fills a tree that was listed empty: list it again,
            // and the account's "synced …" line with it.
            if (t.kind === 'sync' && t.state === 'done') void this.reloadAccounts().then(() => this.reloadTree(acc));
          }
          // Finished tasks leave the tray after a moment; failures stay until dismissed.
          if (t.state !== 'failed') setTimeout(() => delete this.tasks[t.taskId], 2500);
          if (t.kind === 'sync' && t.state === 'done') void this.refreshAssets();
        }
      }),
      this.backend.onConnectionChanged((e) => {
        const a = this.account(e.accountId);
        if (a) a.connection = e.connection;
      }),
    );
    try {
      this.accounts = await this.backend.listAccounts();
    } catch (e) {
      this.notify.error(toBackendError(e).message);
      return;
    }
    // Open the first account's first root so the reviewer sees clips straight away.
    const first = this.accounts[0];
    if (!first) return;
    await this.toggle(first.id, null, true);
    const root = this.nodesOf(first.id, null)?.[0];
    if (root) {
      await this.toggle(first.id, root.id, true);
      await this.select(first.id, root.id);
    }
  }

  stop(): void {
    for (const u of this.unsubs) u();
    this.unsubs = [];
  }

  async toggle(accountId: string, nodeId: string | null, open?: boolean): Promise<void> {
    const key = treeKey(accountId, nodeId);
    const next = open ?? !this.expanded[key];
    this.expanded[key] = next;
    if (next && this.children[key] === undefined) {
      this.loadingTree[key] = true;
      try {
        this.children[key] = await this.backend.listNodes(accountId, nodeId);
      } catch (e) {
        this.expanded[key] = false;
        this.notify.error(toBackendError(e).message);
      } finally {
        delete this.loadingTree[key];
      }
    }
  }

  /** Re-reads the account list (after a sign-in or a sign-out). */
  async reloadAccounts(): Promise<void> {
    try {
      this.accounts = await this.backend.listAccounts();
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  /** An account was signed in (new, or again): list it, show it online, open it and follow its first sync. */
  async accountSignedIn(accountId: string, syncTaskId: string | null): Promise<void> {
    await this.reloadAccounts();
    const a = this.account(accountId);
    // The list still carries the failure that asked for the sign-in until the sync finishes.
    if (a) a.connection = 'online';
    // The first sync may already have ended (its events came before this answer).
    if (syncTaskId && (this.tasks[syncTaskId]?.state ?? 'running') === 'running') this.syncing[accountId] = syncTaskId;
    await this.reloadTree(accountId);
    await this.toggle(accountId, null, true);
  }

  /** An account was signed out: its tree, selection and clips leave the window. */
  async accountRemoved(accountId: string): Promise<void> {
    this.forgetTree(accountId);
    delete this.syncing[accountId];
    if (this.selected?.accountId === accountId) {
      this.selected = null;
      this.assets = [];
    }
    await this.reloadAccounts();
  }

  private forgetTree(accountId: string): void {
    const prefix = `${accountId}\u0000`;
    for (const key of Object.keys(this.children)) if (key.startsWith(prefix)) delete this.children[key];
  }

  /** Lists an account's tree again, keeping what was open open. */
  async reloadTree(accountId: string): Promise<void> {
    const prefix = `${accountId}\u0000`;
    const open = Object.keys(this.expanded).filter((k) => k.startsWith(prefix) && this.expanded[k]);
    this.forgetTree(accountId);
    for (const key of open) {
      const parent = key.slice(prefix.length);
      const parentId = parent === '' ? null : parent;
      // A parent that no longer exists is simply not listed under anything.
      if (parentId !== null && !this.node(accountId, parentId)) continue;
      await this.toggle(accountId, parentId, true);
    }
    if (this.selected?.accountId === accountId) await this.refreshAssets();
  }

  async select(accountId: string, nodeId: string): Promise<void> {
    this.selected = { accountId, nodeId };
    this.query = '';
    this.statusFilter = '';
    await this.refreshAssets();
  }

  async refreshAssets(): Promise<void> {
    const sel = this.selected;
    if (!sel) return;
    this.loadingAssets = true;
    this.assetsError = null;
    try {
      const list = await this.backend.listAssets(sel.accountId, sel.nodeId);
      if (this.selected === sel) this.assets = list;
    } catch (e) {
      if (this.selected === sel) {
        this.assets = [];
        this.assetsError = toBackendError(e).message;
      }
    } finally {
      if (this.selected === sel) this.loadingAssets = false;
    }
  }

  async pin(scope: PinScope): Promise<void> {
    try {
      await this.backend.pin(scope);
      if (scope.kind === 'node') this.markNodePinned(scope.accountId, scope.nodeId, true);
      await this.refreshAssets();
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  async unpin(scope: PinScope): Promise<void> {
    try {
      await this.backend.unpin(scope);
      if (scope.kind === 'node') this.markNodePinned(scope.accountId, scope.nodeId, false);
      await this.refreshAssets();
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  private markNodePinned(accountId: string, nodeId: string, pinned: boolean): void {
    for (const [key, list] of Object.entries(this.children)) {
      if (!key.startsWith(`${accountId}\u0000`)) continue;
      const n = list.find((x) => x.id === nodeId);
      if (n) n.pinned = pinned;
    }
  }

  /** Writes the account's notes as CSV and says where. */
  async exportNotes(accountId: string): Promise<void> {
    try {
      const done = await this.backend.exportNotes(accountId);
      this.notify.info(`${done.notes} note${done.notes === 1 ? '' : 's'} exported to ${done.path}`);
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  async syncNow(accountId: string): Promise<void> {
    try {
      const taskId = await this.backend.syncNow(accountId);
      this.syncing[accountId] = taskId;
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  async cancelTask(taskId: string): Promise<void> {
    try {
      await this.backend.cancelTask(taskId);
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  dismissTask(taskId: string): void {
    delete this.tasks[taskId];
  }
}
