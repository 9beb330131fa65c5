//! What each keyboard action does, in one place, against the session's stores.
//! App.svelte resolves keys to actions (lib/keyboard.ts) and calls `runAction`; tests call it too.

import type { Action } from '../lib/keyboard';
import type { Tool } from '../lib/drawing';
import type { Session } from './session.svelte';

export interface ViewHooks {
  toggleFullscreen(): void;
  exitFullscreen(): void;
  focusComposer(): void;
}

const TOOL_ACTIONS: Partial<Record<Action, Tool>> = {
  toolPen: 'pen',
  toolLine: 'line',
  toolArrow: 'arrow',
  toolRect: 'rect',
  toolEllipse: 'ellipse',
  toolText: 'text',
  toolEraser: 'eraser',
};

export function runAction(s: Session, action: Action, view: ViewHooks): void {
  const { player, notes } = s;
  const tool = TOOL_ACTIONS[action];
  if (tool) {
    if (!notes.caps.drawings) return;
    notes.tool = tool;
    notes.drawMode = true;
    return;
  }
  switch (action) {
    case 'playPause':
      void player.togglePlay();
      return;
    case 'shuttleReverse':
      void player.shuttleJ();
      return;
    case 'shuttlePause':
      void player.shuttleK();
      return;
    case 'shuttleForward':
      void player.shuttleForwardL();
      return;
    case 'stepBack':
      void player.step(-1);
      return;
    case 'stepForward':
      void player.step(1);
      return;
    case 'stepBack10':
      void player.step(-10);
      return;
    case 'stepForward10':
      void player.step(10);
      return;
    case 'goStart':
      void player.seek(0);
      return;
    case 'goEnd':
      void player.seek(player.lastIndex);
      return;
    case 'markIn':
      void player.markIn();
      return;
    case 'markOut':
      void player.markOut();
      return;
    case 'clearInOut':
      void player.clearLoop();
      return;
    case 'prevNote':
    case 'nextNote': {
      const f = notes.neighbourNote(player.cursor, action === 'nextNote' ? 1 : -1);
      if (f !== null) void player.seek(f);
      return;
    }
    case 'slower':
      void player.nudgeSpeed(-1);
      return;
    case 'faster':
      void player.nudgeSpeed(1);
      return;
    case 'toggleMute':
      void player.toggleMute();
      return;
    case 'fit':
      player.zoom = 'fit';
      player.pan = { x: 0, y: 0 };
      return;
    case 'actualSize':
      player.zoom = 'actual';
      return;
    case 'fullscreen':
      view.toggleFullscreen();
      return;
    case 'cycleTimeDisplay':
      player.cycleTimeDisplay();
      return;
    case 'toggleOnion':
      notes.onion = !notes.onion;
      return;
    case 'newNote':
      view.focusComposer();
      return;
    case 'snapshot':
      void s.snapshot();
      return;
    case 'toggleDraw':
      if (notes.caps.drawings && player.media) notes.drawMode = !notes.drawMode;
      return;
    case 'undo':
      notes.undo();
      return;
    case 'redo':
      notes.redo();
      return;
    case 'clearDrawing':
      notes.clearDrawing();
      return;
    case 'toggleTransfers':
      s.uploads.togglePanel();
      return;
    case 'uploadFiles':
      s.uploads.openManual();
      return;
    case 'cheatSheet':
      s.cheatSheetOpen = !s.cheatSheetOpen;
      return;
    case 'escape':
      if (s.cheatSheetOpen) s.cheatSheetOpen = false;
      else if (s.uploads.dialog) s.uploads.closeDialog();
      else if (s.uploads.panelOpen) s.uploads.panelOpen = false;
      else if (notes.drawMode) notes.drawMode = false;
      else if (player.fullscreen) view.exitFullscreen();
      return;
    default:
      return;
  }
}
