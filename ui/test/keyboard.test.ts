import { describe, expect, it } from 'vitest';
import { describeBinding, isTypingTarget, resolveKey, SHORTCUTS, type KeyLike } from '../src/lib/keyboard';

function key(k: string, mods: Partial<KeyLike> = {}): KeyLike {
  return { key: k, shiftKey: false, ctrlKey: false, metaKey: false, altKey: false, target: document.body, ...mods };
}

describe('keyboard map', () => {
  it('maps review-tool habits', () => {
    expect(resolveKey(key(' '))).toBe('playPause');
    expect(resolveKey(key('j'))).toBe('shuttleReverse');
    expect(resolveKey(key('k'))).toBe('shuttlePause');
    expect(resolveKey(key('l'))).toBe('shuttleForward');
    expect(resolveKey(key('ArrowLeft'))).toBe('stepBack');
    expect(resolveKey(key('ArrowRight'))).toBe('stepForward');
    expect(resolveKey(key('ArrowLeft', { shiftKey: true }))).toBe('stepBack10');
    expect(resolveKey(key('ArrowRight', { shiftKey: true }))).toBe('stepForward10');
    expect(resolveKey(key('Home'))).toBe('goStart');
    expect(resolveKey(key('End'))).toBe('goEnd');
    expect(resolveKey(key('i'))).toBe('markIn');
    expect(resolveKey(key('o'))).toBe('markOut');
    expect(resolveKey(key('t'))).toBe('cycleTimeDisplay');
    expect(resolveKey(key('?', { shiftKey: true }))).toBe('cheatSheet');
  });

  it('tells Shift, Ctrl and Alt variants apart', () => {
    expect(resolveKey(key('L', { shiftKey: true }))).toBe('toolLine');
    expect(resolveKey(key('O', { shiftKey: true }))).toBe('toggleOnion');
    expect(resolveKey(key('z', { ctrlKey: true }))).toBe('undo');
    expect(resolveKey(key('z', { metaKey: true }))).toBe('undo');
    expect(resolveKey(key('Z', { ctrlKey: true, shiftKey: true }))).toBe('redo');
    expect(resolveKey(key('y', { ctrlKey: true }))).toBe('redo');
    expect(resolveKey(key('j', { ctrlKey: true }))).toBeNull();
    // Option+X types "≈" on a Mac: the physical key still counts.
    expect(resolveKey(key('≈', { altKey: true, code: 'KeyX' }))).toBe('clearInOut');
    expect(resolveKey(key('x'))).toBeNull();
  });

  it('never fires while typing in a text field', () => {
    const input = document.createElement('input');
    input.type = 'text';
    const search = document.createElement('input');
    search.type = 'search';
    const area = document.createElement('textarea');
    const editable = document.createElement('div');
    editable.contentEditable = 'true';
    // jsdom does not compute isContentEditable; a browser does.
    Object.defineProperty(editable, 'isContentEditable', { value: true });
    for (const target of [input, search, area, editable]) {
      expect(isTypingTarget(target)).toBe(true);
      for (const k of [' ', 'j', 'k', 'l', 'i', 'o', 'ArrowLeft', 'Home', '?']) {
        expect(resolveKey(key(k, { target }))).toBeNull();
      }
      expect(resolveKey(key('z', { ctrlKey: true, target }))).toBeNull();
    }
  });

  it('still fires on buttons and checkboxes, and leaves arrows to a focused slider', () => {
    const button = document.createElement('button');
    const check = document.createElement('input');
    check.type = 'checkbox';
    const slider = document.createElement('input');
    slider.type = 'range';
    expect(resolveKey(key(' ', { target: button }))).toBe('playPause');
    expect(resolveKey(key('l', { target: check }))).toBe('shuttleForward');
    expect(resolveKey(key('ArrowLeft', { target: slider }))).toBeNull();
    expect(resolveKey(key(' ', { target: slider }))).toBe('playPause');
  });

  it('has no two shortcuts on the same keys', () => {
    const seen = new Map<string, string>();
    for (const s of SHORTCUTS) {
      for (const b of s.bindings) {
        const id = describeBinding(b);
        expect(seen.get(id), `${id} is bound twice`).toBeUndefined();
        seen.set(id, s.action);
      }
    }
  });

  it('writes bindings for people', () => {
    expect(describeBinding({ key: 'ArrowRight', shift: true })).toBe('Shift+→');
    expect(describeBinding({ key: 'z', mod: true })).toBe('Ctrl+Z');
    expect(describeBinding({ key: 'z', mod: true }, true)).toBe('⌘+Z');
    expect(describeBinding({ key: ' ' })).toBe('Space');
  });
});
