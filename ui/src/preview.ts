//! Browser-only preview (the bundle opened outside Tauri, on the mock backend): URL parameters
//! put the UI into a given state so each screen can be looked at and screenshotted headless.
//!   ?seek=18          go to media index 18          ?sheet            open the shortcut list
//!   ?node=kitsu-1:p1  browse that account's node    ?open=2           open the n-th listed clip
//!   ?draw=pen         drawing tools on, that tool   ?grid             clips as a grid
//!   ?inout=10-30      set an I/O range              ?text=...         type into the note box
//!   ?onion  ?actual  ?tc / ?sec                     ?play             start playing
//!   ?sync=kitsu-1     start a sync                  ?pin=2            take the n-th clip offline
//!   ?fullscreen       picture only              ?offline=kitsu-1  take an account offline
//!   ?drag=x,y         files dragged over that point (the drop overlay; a tree row there lights up)
//!   ?drop             demo renders dropped on the node in view (the upload dialog)
//!   ?upload           the Upload… dialog with its path field   ?comment=...  type a revision comment
//!   ?transfers        queue the demo renders and open the transfer panel (?uploadfail: one fails)
//!   ?settings         with ?transfers: the settings open        ?watch  the watch folders tab

import { MOCK_HOME, type MockBackend } from './lib/backend-mock';
import type { Session } from './stores/session.svelte';
import type { Tool } from './lib/drawing';

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function applyPreviewParams(s: Session, mock: MockBackend, search: string): Promise<void> {
  const p = new URLSearchParams(search);
  if ([...p.keys()].length === 0) return;
  await wait(50);
  const offline = p.get('offline');
  if (offline) mock.setConnection(offline, 'offline');
  const node = p.get('node');
  if (node) {
    const [acc, id] = node.split(':');
    if (acc && id) {
      await s.library.toggle(acc, null, true);
      // Open the ancestors too (demo ids nest by "/"), so the tree shows the node and knows its name.
      const parts = id.split('/');
      for (let i = 1; i < parts.length; i++) await s.library.toggle(acc, parts.slice(0, i).join('/'), true);
      await s.library.select(acc, id);
    }
  }
  if (p.has('grid')) s.library.view = 'grid';
  const open = p.get('open');
  if (open !== null) {
    const a = s.library.visible[Number(open)];
    if (a) await s.open(a);
  }
  await wait(50);
  const inout = p.get('inout');
  if (inout) {
    const [a, b] = inout.split('-').map(Number);
    if (a !== undefined && b !== undefined) {
      await s.player.seek(a);
      await wait(30);
      await s.player.markIn();
      await s.player.seek(b);
      await wait(30);
      await s.player.markOut();
    }
  }
  const seek = p.get('seek');
  if (seek !== null) await s.player.seek(Number(seek));
  await wait(50);
  if (p.has('tc')) s.player.timeDisplay = 'timecode';
  if (p.has('sec')) s.player.timeDisplay = 'seconds';
  if (p.has('actual')) s.player.zoom = 'actual';
  if (p.has('onion')) s.notes.onion = true;
  const text = p.get('text');
  if (text) s.notes.setText(text, s.player.index, s.player.loop);
  const draw = p.get('draw');
  if (draw !== null) {
    s.notes.drawMode = true;
    if (draw) s.notes.tool = draw as Tool;
  }
  if (p.has('sheet')) s.cheatSheetOpen = true;
  if (p.has('play')) await s.player.togglePlay();
  const sync = p.get('sync');
  if (sync) await s.library.syncNow(sync);
  const pin = p.get('pin');
  if (pin) {
    const a = s.library.visible[Number(pin)];
    if (a) await s.library.pin({ kind: 'asset', accountId: a.accountId, assetId: a.id });
  }
  if (p.has('fullscreen')) s.player.fullscreen = true;
  await applyUploadParams(s, mock, p);
}

/** The demo renders a producer would drop: two folders' worth of comps, stills and a stray file. */
const DEMO_DROP = [
  `${MOCK_HOME}/renders/HL_101_sh100_comp_v005.mov`,
  `${MOCK_HOME}/renders/HL_101_sh110_comp_v003.mov`,
  `${MOCK_HOME}/renders/HL_101_sh120_comp_v002.mov`,
  `${MOCK_HOME}/renders/.HL_101_sh130_comp_v001.mov.part`,
  `${MOCK_HOME}/renders/render_log.txt`,
  `${MOCK_HOME}/renders/stills`,
  `${MOCK_HOME}/audio/temp_mix_v2.wav`,
];

async function applyUploadParams(s: Session, mock: MockBackend, p: URLSearchParams): Promise<void> {
  const drag = p.get('drag');
  if (drag !== null) {
    const [x, y] = drag.split(',').map(Number);
    mock.emitDragDrop({ kind: 'enter', paths: DEMO_DROP, x: x ?? 600, y: y ?? 400 });
    mock.emitDragDrop({ kind: 'over', x: x ?? 600, y: y ?? 400 });
  }
  if (p.has('drop')) {
    mock.emitDragDrop({ kind: 'drop', paths: DEMO_DROP, x: 700, y: 400 });
    await wait(50);
  }
  if (p.has('upload')) {
    s.uploads.openManual();
    const d = s.uploads.dialog;
    if (d) {
      d.pathsText = `${MOCK_HOME}/renders/HL_101_sh100_comp_v005.mov\n${MOCK_HOME}/renders/stills\nrelative/path.mov`;
      await s.uploads.checkPaths();
    }
  }
  const comment = p.get('comment');
  if (comment !== null && s.uploads.dialog) s.uploads.dialog.comment = comment;
  if (p.has('uploadfail')) mock.failNextTransfer = 'The connection was reset by the platform (will resume from 40%).';
  if (p.has('transfers')) {
    const sel = s.library.selected;
    if (sel) {
      const plan = await mock.planUpload(DEMO_DROP, sel);
      if (plan.rejected === null) await mock.queueUpload(plan, null);
    }
    mock.simulateWatchedFile('watch-demo-1', 'HL_101_sh140_comp_v001.mov', 640_000_000);
    await wait(30);
    const last = s.uploads.sorted.find((t) => t.state === 'queued');
    if (last) await s.uploads.pause(last.id);
    s.uploads.panelOpen = true;
  }
  if (p.has('watch')) {
    s.uploads.panelTab = 'watch';
    s.uploads.panelOpen = true;
  }
  if (p.has('settings')) {
    s.uploads.settingsOpen = true;
    s.uploads.panelOpen = true;
  }
}
