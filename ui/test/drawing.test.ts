import { describe, expect, it } from 'vitest';
import {
  DrawingHistory,
  hitTest,
  penStroke,
  pictureRect,
  renderShape,
  shapeFromDrag,
  smoothPoints,
  toNormalised,
  toView,
  type Ctx2D,
} from '../src/lib/drawing';
import type { Shape } from '../src/lib/backend';

const stroke = { color: '#f2c94c', width: 0.004 };

describe('picture rectangle', () => {
  it('letterboxes and pillarboxes in fit mode', () => {
    expect(pictureRect(1920, 1080, 1920, 1080, 'fit')).toEqual({ x: 0, y: 0, width: 1920, height: 1080 });
    const r = pictureRect(1000, 1000, 1920, 1080, 'fit');
    expect(r.x).toBeCloseTo(0, 9);
    expect(r.y).toBeCloseTo(218.75, 9);
    expect(r.width).toBeCloseTo(1000, 9);
    expect(r.height).toBeCloseTo(562.5, 9);
    expect(pictureRect(1600, 600, 1920, 1080, 'fit')).toMatchObject({ y: 0, height: 600, width: 1066.6666666666667 });
  });

  it('shows one media pixel per device pixel at 1:1', () => {
    expect(pictureRect(1000, 800, 1920, 1080, 'actual', 1)).toEqual({ x: -460, y: -140, width: 1920, height: 1080 });
    expect(pictureRect(1000, 800, 1920, 1080, 'actual', 2)).toEqual({ x: 20, y: 130, width: 960, height: 540 });
  });

  it('is empty for an empty viewer', () => {
    expect(pictureRect(0, 500, 1920, 1080, 'fit').width).toBe(0);
  });
});

describe('normalised coordinates', () => {
  it('the same picture point lands on the same spot of the picture at any canvas size', () => {
    const sizes: Array<[number, number, 'fit' | 'actual', number]> = [
      [800, 450, 'fit', 1],
      [1440, 900, 'fit', 1],
      [3840, 2160, 'fit', 2],
      [1000, 1000, 'fit', 1],
      [1200, 700, 'actual', 1],
      [1200, 700, 'actual', 2],
    ];
    const p = { x: 0.3, y: 0.7 };
    for (const [w, h, mode, dpr] of sizes) {
      const rect = pictureRect(w, h, 2048, 858, mode, dpr);
      const v = toView(p, rect);
      // Back from screen pixels to the picture: the same point, whatever the size.
      const back = toNormalised(v.x, v.y, rect);
      expect(back.x).toBeCloseTo(0.3, 10);
      expect(back.y).toBeCloseTo(0.7, 10);
      // And it is really 30 % across / 70 % down the drawn picture.
      expect((v.x - rect.x) / rect.width).toBeCloseTo(0.3, 10);
    }
  });

  it('a drag on a small canvas and the same drag on a big one store the same shape', () => {
    const small = pictureRect(640, 360, 1920, 1080, 'fit');
    const big = pictureRect(2560, 1600, 1920, 1080, 'fit');
    const a = shapeFromDrag('rect', toNormalised(64, 36, small), toNormalised(320, 180, small), stroke, 'a');
    const b = shapeFromDrag('rect', toNormalised(big.x + 256, big.y + 144, big), toNormalised(big.x + 1280, big.y + 720, big), stroke, 'a');
    expect(a).toEqual({ id: 'a', type: 'rect', origin: { x: 0.1, y: 0.1 }, width: 0.4, height: 0.4, stroke });
    expect(b.type === 'rect' && b.origin.x).toBeCloseTo(0.1, 10);
    expect(b.type === 'rect' && b.width).toBeCloseTo(0.4, 10);
  });

  it('clamps points outside the picture to its edge', () => {
    const rect = pictureRect(1000, 1000, 1920, 1080, 'fit');
    expect(toNormalised(-50, 10, rect)).toEqual({ x: 0, y: 0 });
    expect(toNormalised(5000, 5000, rect)).toEqual({ x: 1, y: 1 });
  });
});

describe('shapes', () => {
  it('normalises rectangles and ellipses dragged in any direction', () => {
    const r = shapeFromDrag('rect', { x: 0.6, y: 0.8 }, { x: 0.2, y: 0.3 }, stroke, 'r');
    expect(r).toMatchObject({ origin: { x: 0.2, y: 0.3 } });
    expect(r.type === 'rect' && r.width).toBeCloseTo(0.4);
    const e = shapeFromDrag('ellipse', { x: 0.6, y: 0.8 }, { x: 0.2, y: 0.4 }, stroke, 'e');
    expect(e).toMatchObject({ center: { x: 0.4, y: 0.6000000000000001 } });
    expect(e.type === 'ellipse' && e.rx).toBeCloseTo(0.2);
    expect(e.type === 'ellipse' && e.ry).toBeCloseTo(0.2);
  });

  it('smooths and simplifies a jittery pen stroke while keeping its ends', () => {
    const raw = Array.from({ length: 60 }, (_, i) => ({ x: i / 60, y: 0.5 + (i % 2 === 0 ? 0.001 : -0.001) }));
    const smooth = smoothPoints(raw);
    expect(smooth[0]).toEqual(raw[0]);
    expect(smooth[smooth.length - 1]).toEqual(raw[raw.length - 1]);
    const stored = penStroke(raw, 16 / 9);
    expect(stored.length).toBeLessThan(raw.length / 4);
    for (const p of stored) expect(Math.abs(p.y - 0.5)).toBeLessThanOrEqual(0.001 + 1e-12);
  });

  it('the eraser hits shapes near their outline only', () => {
    const aspect = 16 / 9;
    const line: Shape = { id: 'l', type: 'line', from: { x: 0.1, y: 0.1 }, to: { x: 0.9, y: 0.1 }, stroke };
    expect(hitTest(line, { x: 0.5, y: 0.105 }, 0.01, aspect)).toBe(true);
    expect(hitTest(line, { x: 0.5, y: 0.3 }, 0.01, aspect)).toBe(false);
    const rect: Shape = { id: 'r', type: 'rect', origin: { x: 0.2, y: 0.2 }, width: 0.4, height: 0.4, stroke };
    expect(hitTest(rect, { x: 0.2, y: 0.4 }, 0.01, aspect)).toBe(true);
    expect(hitTest(rect, { x: 0.4, y: 0.4 }, 0.01, aspect)).toBe(false);
    const ell: Shape = { id: 'e', type: 'ellipse', center: { x: 0.5, y: 0.5 }, rx: 0.1, ry: 0.2, stroke };
    expect(hitTest(ell, { x: 0.6, y: 0.5 }, 0.01, aspect)).toBe(true);
    expect(hitTest(ell, { x: 0.5, y: 0.5 }, 0.01, aspect)).toBe(false);
  });

  it('renders at the picture position and a stroke width relative to picture height', () => {
    const calls: string[] = [];
    const ctx = new Proxy({} as Record<string, unknown>, {
      get: (t, p: string) => (p in t ? t[p] : (...args: number[]) => calls.push(`${p}(${args.map((a) => Math.round(a)).join(',')})`)),
      set: (t, p: string, v) => {
        t[p] = v;
        return true;
      },
    }) as unknown as Ctx2D;
    const rect = { x: 100, y: 50, width: 1600, height: 900 };
    renderShape(ctx, { id: 'x', type: 'line', from: { x: 0, y: 0 }, to: { x: 1, y: 1 }, stroke: { color: '#ffffff', width: 0.01 } }, rect, 1, 2);
    expect(calls).toContain('moveTo(200,100)');
    expect(calls).toContain('lineTo(3400,1900)');
    expect(ctx.lineWidth).toBe(18);
  });
});

describe('undo / redo', () => {
  it('undoes and redoes adds, erases and clears; a new edit drops the redo stack', () => {
    const h = new DrawingHistory();
    const s = (id: string): Shape => ({ id, type: 'line', from: { x: 0, y: 0 }, to: { x: 1, y: 1 }, stroke });
    h.add(s('a'));
    h.add(s('b'));
    h.remove('a');
    expect(h.shapes.map((x) => x.id)).toEqual(['b']);
    h.undo();
    expect(h.shapes.map((x) => x.id)).toEqual(['a', 'b']);
    h.clear();
    expect(h.shapes).toEqual([]);
    h.undo();
    h.undo();
    expect(h.shapes.map((x) => x.id)).toEqual(['a']);
    expect(h.canRedo).toBe(true);
    h.redo();
    expect(h.shapes.map((x) => x.id)).toEqual(['a', 'b']);
    h.add(s('c'));
    expect(h.canRedo).toBe(false);
    expect(h.redo()).toBe(false);
  });
});
