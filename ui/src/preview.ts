//! Browser-only preview (the bundle opened outside Tauri, on the mock backend): URL parameters
//! put the UI into a given state so each screen can be looked at and screenshotted headless.
//!   ?seek=18          go to media index 18          ?sheet            open the shortcut list
//!   ?node=kitsu-1:p1  browse that account's node    ?open=2           open the n-th listed clip
//!   ?draw=pen         drawing tools on, that tool   ?grid             clips as a grid
//!   ?inout=10-30      set an I/O range              ?text=...         type into the note box
//!   ?onion  ?actual  ?tc / ?sec                     ?play             start playing
//!   ?sync=kitsu-1     start a sync                  ?pin=2            take the n-th clip offline
//!   ?fullscreen       picture only              ?offline=kitsu-1  take an account offline

import type { MockBackend } from './lib/backend-mock';
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
}
