// Uploads end to end in the UI: the mock backend's plan / queue / pause / resume / cancel / retry
// and watch folders, the store fed the same drag-drop events the shell forwards from Tauri, and
// the whole window driven through a drop, the dialog and the transfer panel.
import { afterEach, describe, expect, it } from 'vitest';
import { flushSync, mount, unmount } from 'svelte';
import App from '../src/App.svelte';
import type { Transfer, TransferState } from '../src/lib/backend';
import { MockBackend } from '../src/lib/backend-mock';
import { resolveKey } from '../src/lib/keyboard';
import { Session } from '../src/stores/session.svelte';
import { MemoryStorage, settle, until } from './helpers';

const MB = 1_000_000;

/** Like `until`, for checks that must await the backend. */
async function eventually(check: () => Promise<void>, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() - start > timeoutMs) throw e;
      await settle(1);
    }
  }
}

function fastMock(): MockBackend {
  // 100 MB/s in 10 ms ticks: 1 MB a tick.
  return new MockBackend({ renderPixels: false, outboxDelayMs: 30, taskTickMs: 10, transferTickMs: 10, uploadBytesPerSecond: 100 * MB });
}

/** Records every transfer event; `waitFor` resolves once one matches. */
function watchTransfers(backend: MockBackend) {
  const seen: Transfer[] = [];
  backend.onTransferChanged((t) => seen.push(t));
  return {
    seen,
    async waitFor(id: string, state: TransferState, timeoutMs = 3000): Promise<Transfer> {
      let found: Transfer | undefined;
      await until(() => {
        found = seen.find((t) => t.id === id && t.state === state);
        expect(found, `${id} → ${state}`).toBeDefined();
      }, timeoutMs);
      return found as Transfer;
    },
  };
}

const KITSU_TASK = { accountId: 'kitsu-1', nodeId: 'p1/e01/comp' };
const KITSU_PROJECT = { accountId: 'kitsu-1', nodeId: 'p1' };
const CI_WS = { accountId: 'ci-1', nodeId: 'ws1' };
const LOCAL = { accountId: 'local', nodeId: 'demo/seq010' };
const FLEX = { accountId: 'flex-1', nodeId: 'fx-c1' };

describe('mock backend: planning', () => {
  it('accepts media by extension, reads versions, and says why it refuses the rest', async () => {
    const b = fastMock();
    b.files.set('/in/sh010_comp_v003.mov', 40 * MB);
    b.files.set('/in/notes.txt', 1000);
    b.files.set('/in/.sh010.mov.part', 1000);
    b.files.set('/in/empty.wav', 0);
    const plan = await b.planUpload(['/in/sh010_comp_v003.mov', '/in/notes.txt', '/in/.sh010.mov.part', '/in/empty.wav', 'relative.mov', '/in/nothing'], KITSU_TASK);
    expect(plan.rejected).toBeNull();
    expect(plan.takesComment).toBe(true);
    expect(plan.destinationLabel).toBe('Kitsu › Harbour Lights › EP01 › Compositing — review');
    const by = Object.fromEntries(plan.files.map((f) => [f.path, f]));
    expect(by['/in/sh010_comp_v003.mov']).toMatchObject({ name: 'sh010_comp_v003.mov', size: 40 * MB, versionHint: 3, rejected: null, subfolder: [] });
    expect(by['/in/notes.txt']?.rejected).toMatch(/Not a movie, image or sound file \(\.txt\)/);
    expect(by['/in/.sh010.mov.part']?.rejected).toMatch(/temporary/);
    expect(by['/in/empty.wav']?.rejected).toMatch(/empty/);
    expect(by['relative.mov']?.rejected).toMatch(/full path/);
    expect(by['/in/nothing']?.rejected).toMatch(/No such file/);
  });

  it('walks a dropped folder, keeping its structure where the platform has folders', async () => {
    const b = fastMock();
    b.files.set('/drop/shots/a_v001.mov', MB);
    b.files.set('/drop/shots/stills/b.png', MB);
    const ci = await b.planUpload(['/drop/shots'], CI_WS);
    expect(ci.files.map((f) => [f.name, f.subfolder, f.rejected])).toEqual([
      ['a_v001.mov', ['shots'], null],
      ['b.png', ['shots', 'stills'], null],
    ]);
    expect(ci.takesComment).toBe(false);
    // Kitsu keeps no folders: the files inside are refused with the reason.
    const kitsu = await b.planUpload(['/drop/shots'], KITSU_TASK);
    expect(kitsu.files.every((f) => f.rejected?.includes('no folders'))).toBe(true);
  });

  it('refuses everything where the platform cannot take uploads, or the node cannot', async () => {
    const b = fastMock();
    b.files.set('/in/a.mov', MB);
    const flex = await b.planUpload(['/in/a.mov'], FLEX);
    expect(flex.rejected).toMatch(/no upload flow/);
    expect(flex.files[0]?.rejected).not.toBeNull();
    const project = await b.planUpload(['/in/a.mov'], KITSU_PROJECT);
    expect(project.rejected).toMatch(/task/);
    await expect(b.queueUpload(flex, null)).rejects.toMatchObject({ code: 'forbidden' });
  });
});

describe('mock backend: the transfer queue', () => {
  it('runs an upload to done, and the asset appears in the library as a new version', async () => {
    const b = fastMock();
    const ev = watchTransfers(b);
    b.files.set('/in/HL_101_sh100_v007.mov', 5 * MB);
    const [t] = await b.queueUpload(await b.planUpload(['/in/HL_101_sh100_v007.mov'], KITSU_TASK), 'new grade');
    // Queued, and started at once when a slot is free.
    expect(['queued', 'running']).toContain(t?.state);
    const id = t?.id ?? '';
    await ev.waitFor(id, 'running');
    const done = await ev.waitFor(id, 'done');
    expect(done.bytesDone).toBe(5 * MB);
    expect(done.assetId).toBe('k-sh100');
    const assets = await b.listAssets('kitsu-1', 'p1/e01/comp');
    expect(assets.find((a) => a.id === 'k-sh100')?.versionLabel).toBe('v007');
    // Progress went up monotonically with a speed and a time left while running.
    const running = ev.seen.filter((x) => x.id === id && x.state === 'running' && x.bytesDone > 0);
    expect(running.length).toBeGreaterThan(2);
    expect(running.every((x) => x.speed === 100 * MB && x.etaSeconds !== null)).toBe(true);
    const bytes = running.map((x) => x.bytesDone);
    expect([...bytes].sort((p, q) => p - q)).toEqual(bytes);
  });

  it('pauses, resumes where it was, cancels, and retries', async () => {
    const b = fastMock();
    const ev = watchTransfers(b);
    b.files.set('/in/big.mov', 400 * MB);
    const [t] = await b.queueUpload(await b.planUpload(['/in/big.mov'], LOCAL), null);
    const id = t?.id ?? '';
    await until(() => expect(ev.seen.some((x) => x.id === id && x.bytesDone >= 3 * MB)).toBe(true));
    await b.pauseTransfer(id);
    const paused = (await b.listTransfers()).find((x) => x.id === id);
    expect(paused?.state).toBe('paused');
    expect(paused?.speed).toBeNull();
    const at = paused?.bytesDone ?? 0;
    await settle(3);
    expect((await b.listTransfers()).find((x) => x.id === id)?.bytesDone).toBe(at);
    await expect(b.retryTransfer(id)).rejects.toMatchObject({ code: 'conflict' });
    await b.resumeTransfer(id);
    await until(() => expect(ev.seen.some((x) => x.id === id && x.state === 'running' && x.bytesDone > at)).toBe(true));
    await b.cancelTransfer(id);
    expect((await b.listTransfers()).find((x) => x.id === id)?.state).toBe('cancelled');
    await expect(b.resumeTransfer(id)).rejects.toMatchObject({ code: 'conflict' });
    // A cancelled upload was discarded on the platform: a retry starts again from zero.
    await b.retryTransfer(id);
    const again = (await b.listTransfers()).find((x) => x.id === id);
    expect(again?.bytesDone).toBe(0);
    expect(['queued', 'running']).toContain(again?.state);
    await b.cancelTransfer(id);
    await b.clearFinishedTransfers();
    expect(await b.listTransfers()).toEqual([]);
  });

  it('a failed upload keeps its bytes and a retry resumes it to done', async () => {
    const b = fastMock();
    const ev = watchTransfers(b);
    b.failNextTransfer = 'connection reset';
    b.files.set('/in/f.mov', 10 * MB);
    const [t] = await b.queueUpload(await b.planUpload(['/in/f.mov'], LOCAL), null);
    const id = t?.id ?? '';
    const failed = await ev.waitFor(id, 'failed');
    expect(failed.error).toBe('connection reset');
    expect(failed.bytesDone).toBe(4 * MB);
    await b.retryTransfer(id);
    const resumed = ev.seen.filter((x) => x.id === id && x.state === 'queued').pop();
    expect(resumed?.bytesDone).toBe(4 * MB);
    await ev.waitFor(id, 'done');
  });

  it('runs no more than the concurrency setting at once, and validates settings', async () => {
    const b = fastMock();
    expect(await b.setTransferSettings({ concurrency: 1, bandwidthLimit: 50 * MB })).toEqual({ concurrency: 1, bandwidthLimit: 50 * MB });
    await expect(b.setTransferSettings({ concurrency: 9, bandwidthLimit: null })).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(b.setTransferSettings({ concurrency: 2, bandwidthLimit: 0 })).rejects.toMatchObject({ code: 'invalid_input' });
    for (const n of ['a', 'b', 'c']) b.files.set(`/in/${n}.mov`, 100 * MB);
    await b.queueUpload(await b.planUpload(['/in/a.mov', '/in/b.mov', '/in/c.mov'], LOCAL), null);
    await settle(2);
    const list = await b.listTransfers();
    expect(list.filter((x) => x.state === 'running')).toHaveLength(1);
    // The limit caps the speed (50 MB/s below the link's 100).
    await eventually(async () => expect((await b.listTransfers()).find((x) => x.state === 'running')?.speed).toBe(50 * MB));
    for (const x of list) await b.cancelTransfer(x.id);
  });

  it('waits while the account is offline and starts when it is back', async () => {
    const b = fastMock();
    b.setConnection('kitsu-1', 'offline');
    b.files.set('/in/w.mov', 2 * MB);
    const [t] = await b.queueUpload(await b.planUpload(['/in/w.mov'], KITSU_TASK), null);
    await settle(2);
    const waiting = (await b.listTransfers()).find((x) => x.id === t?.id);
    expect(waiting?.state).toBe('queued');
    expect(waiting?.error).toMatch(/Waiting for kitsu\.studio\.example/);
    b.setConnection('kitsu-1', 'online');
    await eventually(async () => expect((await b.listTransfers()).find((x) => x.id === t?.id)?.state).toBe('done'));
  });
});

describe('mock backend: watch folders', () => {
  it('adds, toggles, sends what arrives, and removes', async () => {
    const b = fastMock();
    const changes: string[] = [];
    b.onWatchFolderChanged((w) => changes.push(`${w.id}:${w.enabled}:${w.filesSent}`));
    await expect(b.addWatchFolder({ path: 'renders', destination: LOCAL, detectVersions: true, comment: null })).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(b.addWatchFolder({ path: '/w', destination: FLEX, detectVersions: true, comment: null })).rejects.toMatchObject({ code: 'forbidden' });
    const w = await b.addWatchFolder({ path: '/w/', destination: LOCAL, detectVersions: true, comment: '  ' });
    expect(w).toMatchObject({ path: '/w', enabled: true, filesSent: 0, comment: null, destinationLabel: 'Local library › Demo reel › SEQ010' });
    await expect(b.addWatchFolder({ path: '/w', destination: LOCAL, detectVersions: false, comment: null })).rejects.toMatchObject({ code: 'conflict' });
    expect(b.simulateWatchedFile(w.id, 'render.tmp', MB)).toBeNull();
    const t = b.simulateWatchedFile(w.id, 'sh010_v004.mov', 2 * MB);
    expect(t?.watchFolderId).toBe(w.id);
    await eventually(async () => expect((await b.listWatchFolders()).find((x) => x.id === w.id)?.filesSent).toBe(1));
    await b.setWatchFolderEnabled(w.id, false);
    expect(b.simulateWatchedFile(w.id, 'sh010_v005.mov', MB)).toBeNull();
    expect(changes).toContain(`${w.id}:false:1`);
    await b.removeWatchFolder(w.id);
    expect((await b.listWatchFolders()).some((x) => x.id === w.id)).toBe(false);
    await expect(b.removeWatchFolder(w.id)).rejects.toMatchObject({ code: 'not_found' });
  });
});

// ---------------------------------------------------------------------------------------------
// The store, fed the shell's drag-drop events
// ---------------------------------------------------------------------------------------------

const sessions: Session[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.stop();
});

async function session(elementAt: (x: number, y: number) => Element | null = () => null) {
  const backend = fastMock();
  const s = new Session(backend, new MemoryStorage(), elementAt);
  sessions.push(s);
  await s.start();
  await settle();
  return { s, backend };
}

describe('uploads store', () => {
  it('targets the row under the pointer, else the node in view, and refuses accounts without upload', async () => {
    const row = document.createElement('div');
    row.setAttribute('data-account-id', 'local');
    row.setAttribute('data-node-id', 'demo/seq020');
    const flexRow = document.createElement('div');
    flexRow.setAttribute('data-account-id', 'flex-1');
    flexRow.setAttribute('data-node-id', 'fx-c1');
    const { s, backend } = await session((x) => (x < 100 ? row : x < 200 ? flexRow : null));
    await s.library.toggle('flex-1', null, true);
    expect(s.library.selected).toEqual({ accountId: 'local', nodeId: 'demo' });

    backend.emitDragDrop({ kind: 'enter', paths: ['/a.mov'], x: 500, y: 10 });
    flushSync();
    expect(s.uploads.drag?.underPointer).toBe(false);
    expect(s.uploads.drag?.target?.name).toBe('Demo reel');
    backend.emitDragDrop({ kind: 'over', x: 50, y: 10 });
    flushSync();
    expect(s.uploads.drag?.underPointer).toBe(true);
    expect(s.uploads.drag?.target?.name).toBe('SEQ020');
    expect(s.uploads.isDropTarget('local', 'demo/seq020')).toBe(true);
    expect(s.uploads.isDropTarget('local', 'demo')).toBe(false);
    backend.emitDragDrop({ kind: 'over', x: 150, y: 10 });
    flushSync();
    expect(s.uploads.drag?.target?.problem).toMatch(/does not take uploads/);
    // Dropping there opens nothing and says why.
    backend.emitDragDrop({ kind: 'drop', paths: ['/a.mov'], x: 150, y: 10 });
    await settle(1);
    expect(s.uploads.drag).toBeNull();
    expect(s.uploads.dialog).toBeNull();
    expect(s.notify.toasts.some((t) => t.kind === 'error' && /does not take uploads/.test(t.message))).toBe(true);
    backend.emitDragDrop({ kind: 'enter', paths: [], x: 500, y: 10 });
    backend.emitDragDrop({ kind: 'leave' });
    expect(s.uploads.drag).toBeNull();
  });

  it('plans a drop on a row, sends the accepted files, and opens the panel', async () => {
    const row = document.createElement('div');
    row.setAttribute('data-account-id', 'local');
    row.setAttribute('data-node-id', 'demo/seq020');
    const { s, backend } = await session(() => row);
    backend.files.set('/in/sh050_fx_v002.mov', 3 * MB);
    backend.files.set('/in/readme.txt', 100);
    await s.uploads.handleDragDrop({ kind: 'drop', paths: ['/in/sh050_fx_v002.mov', '/in/readme.txt'], x: 5, y: 5 });
    const d = s.uploads.dialog;
    expect(d?.plan?.destination).toEqual({ accountId: 'local', nodeId: 'demo/seq020' });
    expect(d?.plan?.files.map((f) => f.rejected === null)).toEqual([true, false]);
    expect(s.uploads.canSend).toBe(true);
    await s.uploads.send();
    expect(s.uploads.dialog).toBeNull();
    expect(s.uploads.panelOpen).toBe(true);
    expect(s.uploads.transfers.map((t) => t.name)).toEqual(['sh050_fx_v002.mov']);
    await until(() => expect(s.uploads.transfers[0]?.state).toBe('done'));
    expect(s.uploads.activeCount).toBe(0);
    await s.uploads.clearFinished();
    expect(s.uploads.transfers).toEqual([]);
  });

  it('checks typed paths again after an edit before it sends', async () => {
    const { s, backend } = await session();
    await s.library.select('kitsu-1', 'p1/e01/comp');
    backend.files.set('/in/a_v002.mov', MB);
    s.uploads.openManual();
    const d = s.uploads.dialog;
    expect(d?.manual).toBe(true);
    await s.uploads.checkPaths();
    expect(s.uploads.dialog?.error).toMatch(/at least one/);
    if (!d) throw new Error('no dialog');
    d.pathsText = '/in/a_v002.mov';
    await s.uploads.checkPaths();
    expect(s.uploads.canSend).toBe(true);
    d.pathsText = '/in/a_v002.mov\n/in/b.mov';
    expect(s.uploads.planFresh).toBe(false);
    expect(s.uploads.canSend).toBe(false);
    await s.uploads.send();
    expect(s.uploads.transfers).toEqual([]);
    s.uploads.closeDialog();
    expect(s.uploads.dialog).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// The window
// ---------------------------------------------------------------------------------------------

let mounted: Array<Record<string, unknown>> = [];
afterEach(() => {
  for (const m of mounted) unmount(m);
  mounted = [];
  document.body.innerHTML = '';
});

const q = (root: ParentNode, id: string): HTMLElement | null => root.querySelector(`[data-testid="${id}"]`);

function press(key: string, opts: KeyboardEventInit = {}, target: EventTarget = window): void {
  target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...opts }));
  flushSync();
}

describe('the window', () => {
  it('drop → overlay names the row → dialog → Enter sends → panel shows the transfer; Shift+U toggles it', async () => {
    const backend = fastMock();
    const target = document.createElement('div');
    document.body.appendChild(target);
    // jsdom does no layout: "the element under the pointer" is the SEQ010 row, as a hit test would find.
    const elementAt = (): Element | null => target.querySelector('[data-account-id="local"][data-node-id="demo/seq010"]');
    const s = new Session(backend, new MemoryStorage(), elementAt);
    mounted.push(mount(App, { target, props: { backend, session: s } }));
    await until(() => expect(q(target, 'frame-counter')?.textContent).toBe('1001'));
    await s.library.toggle('local', 'demo', true);
    await settle(1);

    backend.files.set('/in/sh010_comp_v004.mov', 2 * MB);
    backend.emitDragDrop({ kind: 'enter', paths: ['/in/sh010_comp_v004.mov'], x: 40, y: 120 });
    flushSync();
    expect(q(target, 'drop-overlay-title')?.textContent).toBe('Drop to upload to SEQ010');
    expect(target.querySelector('.row.drop-target')?.getAttribute('data-node-id')).toBe('demo/seq010');

    backend.emitDragDrop({ kind: 'drop', paths: ['/in/sh010_comp_v004.mov'], x: 40, y: 120 });
    await until(() => expect(q(target, 'upload-send')?.textContent?.trim()).toBe('Send 1 file'));
    expect(q(target, 'drop-overlay')).toBeNull();
    expect(q(target, 'upload-destination')?.textContent).toBe('Local library › Demo reel › SEQ010');
    expect(target.querySelector('[data-testid="upload-file"] .ver')?.textContent).toBe('v004');
    // The local library takes no comment: no comment field.
    expect(q(target, 'upload-comment')).toBeNull();
    // Shortcuts are the dialog's while it is open: Space does not play.
    press(' ', {}, q(target, 'upload-dialog') ?? window);
    expect(s.player.playing).toBe(false);
    press('Enter', {}, q(target, 'upload-dialog') ?? window);
    await until(() => expect(q(target, 'transfer-panel')).not.toBeNull());
    expect(q(target, 'upload-dialog')).toBeNull();
    await until(() => expect(target.querySelector('[data-testid="transfer"]')?.getAttribute('data-state')).toBe('done'));
    // The clip arrived in the library as a new version of sh010_comp.
    await until(() => expect(s.library.assets.find((a) => a.name === 'sh010_comp')?.versionLabel).toBe('v004'));

    press('U', { shiftKey: true });
    expect(q(target, 'transfer-panel')).toBeNull();
    press('U', { shiftKey: true });
    expect(q(target, 'transfer-panel')).not.toBeNull();
    press('Escape', {}, q(target, 'transfer-panel') ?? window);
    expect(q(target, 'transfer-panel')).toBeNull();
  });

  it('Escape cancels the dialog and Tab stays inside it', async () => {
    const backend = fastMock();
    const target = document.createElement('div');
    document.body.appendChild(target);
    const s = new Session(backend, new MemoryStorage());
    mounted.push(mount(App, { target, props: { backend, session: s } }));
    await until(() => expect(q(target, 'frame-counter')?.textContent).toBe('1001'));
    press('u');
    await until(() => expect(q(target, 'upload-paths')).not.toBeNull());
    const dialog = q(target, 'upload-dialog') as HTMLElement;
    await until(() => expect(document.activeElement).toBe(q(target, 'upload-paths')));
    // From the last enabled control, Tab wraps to the first.
    (q(target, 'upload-cancel') as HTMLButtonElement).focus();
    press('Tab', {}, document.activeElement ?? dialog);
    expect(document.activeElement).toBe(q(target, 'upload-paths'));
    press('Tab', { shiftKey: true }, document.activeElement ?? dialog);
    expect(document.activeElement).toBe(q(target, 'upload-cancel'));
    press('Escape', {}, dialog);
    expect(q(target, 'upload-dialog')).toBeNull();
  });

  it('lists the transfer shortcuts in the cheat sheet, never while typing', () => {
    const input = document.createElement('input');
    input.type = 'text';
    const key = { shiftKey: true, ctrlKey: false, metaKey: false, altKey: false };
    expect(resolveKey({ key: 'U', ...key, target: document.body })).toBe('toggleTransfers');
    expect(resolveKey({ key: 'u', ...key, shiftKey: false, target: document.body })).toBe('uploadFiles');
    expect(resolveKey({ key: 'U', ...key, target: input })).toBeNull();
  });
});
