//! The keyboard map: one table of every shortcut, which drives both the key handler and the
//! cheat sheet, so the two can never disagree.
//!
//! Habits follow review tools (RV, xSTUDIO, Frame.io, Avid's J/K/L). No shortcut fires while the
//! reviewer types in a text field: `isTypingTarget` is checked before anything else.

export type Action =
  | 'playPause'
  | 'stepBack'
  | 'stepForward'
  | 'stepBack10'
  | 'stepForward10'
  | 'shuttleReverse'
  | 'shuttlePause'
  | 'shuttleForward'
  | 'goStart'
  | 'goEnd'
  | 'markIn'
  | 'markOut'
  | 'clearInOut'
  | 'prevNote'
  | 'nextNote'
  | 'slower'
  | 'faster'
  | 'toggleMute'
  | 'fit'
  | 'actualSize'
  | 'fullscreen'
  | 'cycleTimeDisplay'
  | 'newNote'
  | 'toggleDraw'
  | 'toolPen'
  | 'toolLine'
  | 'toolArrow'
  | 'toolRect'
  | 'toolEllipse'
  | 'toolText'
  | 'toolEraser'
  | 'undo'
  | 'redo'
  | 'clearDrawing'
  | 'toggleOnion'
  | 'snapshot'
  | 'toggleTransfers'
  | 'uploadFiles'
  | 'cheatSheet'
  | 'escape';

export type ShortcutGroup = 'Playback' | 'Navigation' | 'View' | 'Notes' | 'Drawing' | 'Transfers' | 'Help';

export interface Binding {
  /** `KeyboardEvent.key`, lower-case for letters ("j", " ", "ArrowLeft", "?"). */
  key: string;
  shift?: boolean;
  /** Ctrl on Linux/Windows, ⌘ on macOS. */
  mod?: boolean;
  alt?: boolean;
  /** Symbols like "?" need Shift on most layouts; ignore Shift when matching them. */
  anyShift?: boolean;
}

export interface Shortcut {
  action: Action;
  bindings: Binding[];
  group: ShortcutGroup;
  description: string;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { action: 'playPause', bindings: [{ key: ' ' }], group: 'Playback', description: 'Play / pause' },
  { action: 'shuttleReverse', bindings: [{ key: 'j' }], group: 'Playback', description: 'Play backwards; again for ×2, ×4, ×8' },
  { action: 'shuttlePause', bindings: [{ key: 'k' }], group: 'Playback', description: 'Pause (hold K with J or L to step a frame)' },
  { action: 'shuttleForward', bindings: [{ key: 'l' }], group: 'Playback', description: 'Play forwards; again for ×2, ×4, ×8' },
  { action: 'slower', bindings: [{ key: '[' }], group: 'Playback', description: 'Slower playback speed' },
  { action: 'faster', bindings: [{ key: ']' }], group: 'Playback', description: 'Faster playback speed' },
  { action: 'toggleMute', bindings: [{ key: 'm' }], group: 'Playback', description: 'Mute / unmute' },
  { action: 'stepBack', bindings: [{ key: 'ArrowLeft' }], group: 'Navigation', description: 'Previous frame' },
  { action: 'stepForward', bindings: [{ key: 'ArrowRight' }], group: 'Navigation', description: 'Next frame' },
  { action: 'stepBack10', bindings: [{ key: 'ArrowLeft', shift: true }], group: 'Navigation', description: 'Back 10 frames' },
  { action: 'stepForward10', bindings: [{ key: 'ArrowRight', shift: true }], group: 'Navigation', description: 'Forward 10 frames' },
  { action: 'goStart', bindings: [{ key: 'Home' }], group: 'Navigation', description: 'First frame' },
  { action: 'goEnd', bindings: [{ key: 'End' }], group: 'Navigation', description: 'Last frame' },
  { action: 'markIn', bindings: [{ key: 'i' }], group: 'Navigation', description: 'Set loop in point' },
  { action: 'markOut', bindings: [{ key: 'o' }], group: 'Navigation', description: 'Set loop out point' },
  { action: 'clearInOut', bindings: [{ key: 'x', alt: true }], group: 'Navigation', description: 'Clear in / out' },
  { action: 'prevNote', bindings: [{ key: 'ArrowUp' }], group: 'Navigation', description: 'Previous note' },
  { action: 'nextNote', bindings: [{ key: 'ArrowDown' }], group: 'Navigation', description: 'Next note' },
  { action: 'fit', bindings: [{ key: 'f' }], group: 'View', description: 'Fit picture to viewer' },
  { action: 'actualSize', bindings: [{ key: '1' }], group: 'View', description: 'Actual size (1:1 pixels)' },
  { action: 'fullscreen', bindings: [{ key: 'f', shift: true }], group: 'View', description: 'Full screen' },
  { action: 'cycleTimeDisplay', bindings: [{ key: 't' }], group: 'View', description: 'Frames / timecode / seconds' },
  { action: 'toggleOnion', bindings: [{ key: 'o', shift: true }], group: 'View', description: 'Onion skin: drawings of nearby frames' },
  { action: 'newNote', bindings: [{ key: 'n' }], group: 'Notes', description: 'Write a note on this frame (or I/O range)' },
  { action: 'snapshot', bindings: [{ key: 's', shift: true }], group: 'Notes', description: 'Save frame with drawings as PNG' },
  { action: 'toggleDraw', bindings: [{ key: 'd' }], group: 'Drawing', description: 'Drawing tools on / off' },
  { action: 'toolPen', bindings: [{ key: 'p', shift: true }], group: 'Drawing', description: 'Pen' },
  { action: 'toolLine', bindings: [{ key: 'l', shift: true }], group: 'Drawing', description: 'Line' },
  { action: 'toolArrow', bindings: [{ key: 'a', shift: true }], group: 'Drawing', description: 'Arrow' },
  { action: 'toolRect', bindings: [{ key: 'r', shift: true }], group: 'Drawing', description: 'Rectangle' },
  { action: 'toolEllipse', bindings: [{ key: 'e', shift: true }], group: 'Drawing', description: 'Ellipse' },
  { action: 'toolText', bindings: [{ key: 't', shift: true }], group: 'Drawing', description: 'Text' },
  { action: 'toolEraser', bindings: [{ key: 'x', shift: true }], group: 'Drawing', description: 'Eraser' },
  { action: 'undo', bindings: [{ key: 'z', mod: true }], group: 'Drawing', description: 'Undo' },
  { action: 'redo', bindings: [{ key: 'z', mod: true, shift: true }, { key: 'y', mod: true }], group: 'Drawing', description: 'Redo' },
  { action: 'clearDrawing', bindings: [{ key: 'Backspace', shift: true }], group: 'Drawing', description: 'Clear the drawing' },
  { action: 'uploadFiles', bindings: [{ key: 'u' }], group: 'Transfers', description: 'Upload files to the folder or task in view…' },
  { action: 'toggleTransfers', bindings: [{ key: 'u', shift: true }], group: 'Transfers', description: 'Transfers and watch folders panel' },
  { action: 'cheatSheet', bindings: [{ key: '?', anyShift: true }], group: 'Help', description: 'Show this list' },
  { action: 'escape', bindings: [{ key: 'Escape' }], group: 'Help', description: 'Close, cancel, leave full screen' },
];

export interface KeyLike {
  key: string;
  code?: string;
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  target?: EventTarget | null;
}

const TEXT_INPUT_TYPES = new Set([
  'text', 'search', 'email', 'password', 'url', 'tel', 'number', 'date', 'time', 'datetime-local', 'month', 'week', '',
]);

/** True when keys typed now belong to a text field, not to the viewer. */
export function isTypingTarget(target: EventTarget | null | undefined): boolean {
  if (!target || typeof target !== 'object') return false;
  const el = target as Partial<HTMLElement> & { tagName?: string; type?: string };
  const tag = typeof el.tagName === 'string' ? el.tagName.toUpperCase() : '';
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') return TEXT_INPUT_TYPES.has((el.type ?? '').toLowerCase());
  if (el.isContentEditable === true) return true;
  return false;
}

/** Keys a focused slider keeps for itself (a volume slider moves with the arrows). */
export function sliderOwnsKey(target: EventTarget | null | undefined, key: string): boolean {
  if (!target || typeof target !== 'object') return false;
  const el = target as { tagName?: string; type?: string };
  if ((el.tagName ?? '').toUpperCase() !== 'INPUT' || (el.type ?? '').toLowerCase() !== 'range') return false;
  return ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End', 'PageUp', 'PageDown'].includes(key);
}

function normaliseKey(e: KeyLike): string {
  if (e.key.length === 1) return e.key.toLowerCase();
  return e.key;
}

function matches(b: Binding, e: KeyLike): boolean {
  const mod = e.ctrlKey || e.metaKey;
  if (Boolean(b.mod) !== mod) return false;
  if (Boolean(b.alt) !== e.altKey) return false;
  if (!b.anyShift && Boolean(b.shift) !== e.shiftKey) return false;
  const key = normaliseKey(e);
  if (key === b.key) return true;
  // Alt (Option on macOS) changes the character a letter types; match on the physical key then.
  if (b.key.length === 1 && /[a-z]/.test(b.key) && e.code === `Key${b.key.toUpperCase()}`) return true;
  return false;
}

/** The action a key press means, or null. Never an action while typing in a field. */
export function resolveKey(e: KeyLike): Action | null {
  if (isTypingTarget(e.target)) return null;
  if (sliderOwnsKey(e.target, e.key)) return null;
  for (const s of SHORTCUTS) {
    if (s.bindings.some((b) => matches(b, e))) return s.action;
  }
  return null;
}

const KEY_NAMES: Record<string, string> = {
  ' ': 'Space',
  ArrowLeft: '←',
  ArrowRight: '→',
  ArrowUp: '↑',
  ArrowDown: '↓',
  Escape: 'Esc',
  Backspace: '⌫',
};

/** How a binding is written in the cheat sheet and tooltips: "Shift+→", "Ctrl+Z". */
export function describeBinding(b: Binding, isMac = false): string {
  const parts: string[] = [];
  if (b.mod) parts.push(isMac ? '⌘' : 'Ctrl');
  if (b.alt) parts.push(isMac ? '⌥' : 'Alt');
  if (b.shift) parts.push('Shift');
  const name = KEY_NAMES[b.key] ?? (b.key.length === 1 ? b.key.toUpperCase() : b.key);
  parts.push(name);
  return parts.join('+');
}

/** The first binding of an action, written for a tooltip. */
export function shortcutLabel(action: Action, isMac = false): string {
  const s = SHORTCUTS.find((x) => x.action === action);
  const b = s?.bindings[0];
  return b ? describeBinding(b, isMac) : '';
}
