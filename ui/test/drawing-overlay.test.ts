// The drawing layer on its own, at a known picture rectangle: pointer drags become normalised
// shapes on the draft, the eraser removes them, undo brings them back, text is typed in place.
import { afterEach, describe, expect, it } from 'vitest';
import { flushSync, mount, unmount } from 'svelte';
import DrawingOverlay from '../src/components/DrawingOverlay.svelte';
import { MockBackend } from '../src/lib/backend-mock';
import { Session, SESSION_KEY } from '../src/stores/session.svelte';
import { MemoryStorage, settle } from './helpers';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
  document.body.innerHTML = '';
});

async function overlay(rect: { x: number; y: number; width: number; height: number }) {
  const s = new Session(new MockBackend({ renderPixels: false }), new MemoryStorage());
  await s.start();
  await settle();
  const target = document.createElement('div');
  document.body.appendChild(target);
  const c = mount(DrawingOverlay, { target, props: { rect, width: 1000, height: 700 }, context: new Map([[SESSION_KEY, s]]) });
  cleanup.push(() => {
    unmount(c);
    s.stop();
  });
  const el = target.querySelector('[data-testid="drawing-overlay"]') as HTMLElement;
  // jsdom has no layout: the overlay sits at the page origin, so client = overlay coordinates.
  const fire = (type: string, x: number, y: number): void => {
    el.dispatchEvent(new MouseEvent(type, { clientX: x, clientY: y, button: 0, bubbles: true }));
    flushSync();
  };
  return { s, el, target, fire };
}

describe('drawing overlay', () => {
  it('turns a drag into a rectangle in picture coordinates, whatever the picture rectangle', async () => {
    for (const rect of [{ x: 100, y: 50, width: 800, height: 450 }, { x: 0, y: 125, width: 1000, height: 562.5 }]) {
      const { s, fire } = await overlay(rect);
      s.notes.drawMode = true;
      s.notes.tool = 'rect';
      flushSync();
      fire('pointerdown', rect.x + rect.width * 0.25, rect.y + rect.height * 0.5);
      fire('pointermove', rect.x + rect.width * 0.5, rect.y + rect.height * 0.6);
      fire('pointermove', rect.x + rect.width * 0.75, rect.y + rect.height * 0.9);
      fire('pointerup', rect.x + rect.width * 0.75, rect.y + rect.height * 0.9);
      const shape = s.notes.shapes[0];
      expect(shape?.type).toBe('rect');
      if (shape?.type !== 'rect') return;
      expect(shape.origin.x).toBeCloseTo(0.25, 9);
      expect(shape.origin.y).toBeCloseTo(0.5, 9);
      expect(shape.width).toBeCloseTo(0.5, 9);
      expect(shape.height).toBeCloseTo(0.4, 9);
      expect(shape.stroke).toEqual({ color: s.notes.color, width: s.notes.width });
      // The drawing stamps the draft with the frame it was drawn on.
      expect(s.notes.anchor).toEqual({ start: 0, end: 0 });
      for (const c of cleanup.splice(0)) c();
    }
  });

  it('draws smoothed pen strokes, erases, undoes, and places text', async () => {
    const rect = { x: 0, y: 0, width: 1000, height: 700 };
    const { s, fire, target } = await overlay(rect);
    s.notes.drawMode = true;
    s.notes.tool = 'pen';
    flushSync();
    fire('pointerdown', 100, 100);
    for (let i = 1; i <= 30; i++) fire('pointermove', 100 + i * 10, 100 + (i % 2) * 2);
    fire('pointerup', 400, 100);
    const pen = s.notes.shapes[0];
    expect(pen?.type).toBe('pen');
    if (pen?.type === 'pen') {
      expect(pen.points.length).toBeLessThan(31);
      expect(pen.points[0]).toEqual({ x: 0.1, y: 100 / 700 });
    }
    s.notes.tool = 'eraser';
    flushSync();
    fire('pointerdown', 250, 101);
    fire('pointerup', 250, 101);
    expect(s.notes.shapes).toEqual([]);
    s.notes.undo();
    expect(s.notes.shapes.length).toBe(1);

    s.notes.tool = 'text';
    flushSync();
    fire('pointerdown', 500, 350);
    const input = target.querySelector('[data-testid="drawing-text-input"]') as HTMLInputElement;
    input.value = 'too bright';
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    flushSync();
    const text = s.notes.shapes[1];
    expect(text).toMatchObject({ type: 'text', text: 'too bright', at: { x: 0.5, y: 0.5 } });
  });

  it('ignores the pointer outside draw mode and on platforms without drawings', async () => {
    const { s, fire } = await overlay({ x: 0, y: 0, width: 1000, height: 700 });
    s.notes.tool = 'rect';
    fire('pointerdown', 10, 10);
    fire('pointermove', 300, 300);
    fire('pointerup', 300, 300);
    expect(s.notes.shapes).toEqual([]);
    s.notes.drawMode = true;
    s.notes.caps = { ...s.notes.caps, drawings: false };
    flushSync();
    fire('pointerdown', 10, 10);
    fire('pointerup', 300, 300);
    expect(s.notes.shapes).toEqual([]);
  });
});
