//! Drawing geometry: where the picture sits in the viewer, the mapping between screen pixels and
//! normalised picture coordinates (0..1, the model the backend stores), shape construction,
//! pen smoothing, eraser hit-testing, rendering, and an undo/redo history.
//!
//! Everything stored is normalised, so a drawing lands on the same spot of the picture at any
//! zoom, window size, device pixel ratio or proxy resolution.

import type { Drawing, Point, Shape, Stroke } from './backend';

export type Tool = 'pen' | 'line' | 'arrow' | 'rect' | 'ellipse' | 'text' | 'eraser';
export const TOOLS: readonly Tool[] = ['pen', 'line', 'arrow', 'rect', 'ellipse', 'text', 'eraser'];

export type ZoomMode = 'fit' | 'actual';

/** A rectangle in CSS pixels of the viewer. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Reviewer palette: readable on most pictures, none so saturated it skews colour judgement. */
export const PALETTE = ['#f2c94c', '#eb5757', '#6fcf97', '#56ccf2', '#bb6bd9', '#ffffff', '#111111'] as const;
/** Stroke widths as a fraction of picture height (≈ 2, 4, 8 px on 1080p). */
export const WIDTHS = [0.002, 0.004, 0.008] as const;

/**
 * Where the picture is drawn inside a viewer of `viewW × viewH` CSS pixels.
 * `fit` letterboxes; `actual` shows one media pixel per device pixel, centred.
 */
export function pictureRect(
  viewW: number,
  viewH: number,
  mediaW: number,
  mediaH: number,
  mode: ZoomMode,
  devicePixelRatio = 1,
): Rect {
  if (viewW <= 0 || viewH <= 0 || mediaW <= 0 || mediaH <= 0) return { x: 0, y: 0, width: 0, height: 0 };
  let width: number;
  let height: number;
  if (mode === 'fit') {
    const scale = Math.min(viewW / mediaW, viewH / mediaH);
    width = mediaW * scale;
    height = mediaH * scale;
  } else {
    const dpr = devicePixelRatio > 0 ? devicePixelRatio : 1;
    width = mediaW / dpr;
    height = mediaH / dpr;
  }
  return { x: (viewW - width) / 2, y: (viewH - height) / 2, width, height };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Viewer CSS pixel → normalised picture point, clamped to the picture. */
export function toNormalised(px: number, py: number, rect: Rect): Point {
  if (rect.width <= 0 || rect.height <= 0) return { x: 0, y: 0 };
  return { x: clamp01((px - rect.x) / rect.width), y: clamp01((py - rect.y) / rect.height) };
}

/** Normalised picture point → viewer CSS pixel. */
export function toView(p: Point, rect: Rect): { x: number; y: number } {
  return { x: rect.x + p.x * rect.width, y: rect.y + p.y * rect.height };
}

/** Builds a two-point shape from a drag; rectangles and ellipses are normalised to positive size. */
export function shapeFromDrag(
  tool: 'line' | 'arrow' | 'rect' | 'ellipse',
  from: Point,
  to: Point,
  stroke: Stroke,
  id: string,
): Shape {
  switch (tool) {
    case 'line':
      return { id, type: 'line', from, to, stroke };
    case 'arrow':
      return { id, type: 'arrow', from, to, stroke };
    case 'rect':
      return {
        id,
        type: 'rect',
        origin: { x: Math.min(from.x, to.x), y: Math.min(from.y, to.y) },
        width: Math.abs(to.x - from.x),
        height: Math.abs(to.y - from.y),
        stroke,
      };
    case 'ellipse':
      return {
        id,
        type: 'ellipse',
        center: { x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 },
        rx: Math.abs(to.x - from.x) / 2,
        ry: Math.abs(to.y - from.y) / 2,
        stroke,
      };
  }
}

/** Chaikin corner cutting: a freehand stroke without the jitter of the pointer. */
export function smoothPoints(points: readonly Point[], iterations = 2): Point[] {
  let pts = points.slice();
  if (pts.length < 3) return pts;
  for (let it = 0; it < iterations; it++) {
    const out: Point[] = [];
    const first = pts[0];
    const last = pts[pts.length - 1];
    if (!first || !last) return pts;
    out.push(first);
    for (let i = 0; i < pts.length - 1; i++) {
      const a = pts[i];
      const b = pts[i + 1];
      if (!a || !b) continue;
      out.push({ x: 0.75 * a.x + 0.25 * b.x, y: 0.75 * a.y + 0.25 * b.y });
      out.push({ x: 0.25 * a.x + 0.75 * b.x, y: 0.25 * a.y + 0.75 * b.y });
    }
    out.push(last);
    pts = out;
  }
  return pts;
}

function distToSegment(p: Point, a: Point, b: Point, aspect: number): number {
  // Distances are measured in picture-height units so a tolerance means the same on any axis.
  const ax = a.x * aspect;
  const bx = b.x * aspect;
  const px = p.x * aspect;
  const dx = bx - ax;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (p.y - a.y) * dy) / len2));
  return Math.hypot(px - (ax + t * dx), p.y - (a.y + t * dy));
}

/** Ramer–Douglas–Peucker: drops points that add nothing at this tolerance (picture heights). */
export function simplify(points: readonly Point[], tolerance = 0.0008, aspect = 16 / 9): Point[] {
  if (points.length < 3) return points.slice();
  const keep = new Uint8Array(points.length);
  keep[0] = 1;
  keep[points.length - 1] = 1;
  const stack: Array<[number, number]> = [[0, points.length - 1]];
  while (stack.length > 0) {
    const range = stack.pop();
    if (!range) break;
    const [s, e] = range;
    const a = points[s];
    const b = points[e];
    if (!a || !b) continue;
    let maxD = 0;
    let idx = -1;
    for (let i = s + 1; i < e; i++) {
      const p = points[i];
      if (!p) continue;
      const d = distToSegment(p, a, b, aspect);
      if (d > maxD) {
        maxD = d;
        idx = i;
      }
    }
    if (idx >= 0 && maxD > tolerance) {
      keep[idx] = 1;
      stack.push([s, idx], [idx, e]);
    }
  }
  return points.filter((_, i) => keep[i] === 1);
}

/**
 * Pointer samples → the stored pen stroke: smoothed, then thinned to what is visible at about a
 * pixel of a 1080p picture, so strokes stay small in the outbox and on the platform.
 */
export function penStroke(raw: readonly Point[], aspect: number): Point[] {
  return simplify(smoothPoints(raw, 3), 0.0012, aspect);
}

/** Whether `p` touches `shape` within `tolerance` (picture heights); used by the eraser. */
export function hitTest(shape: Shape, p: Point, tolerance: number, aspect: number): boolean {
  const tol = tolerance + shape.stroke.width / 2;
  switch (shape.type) {
    case 'pen': {
      const pts = shape.points;
      if (pts.length === 1 && pts[0]) return distToSegment(p, pts[0], pts[0], aspect) <= tol;
      for (let i = 0; i < pts.length - 1; i++) {
        const a = pts[i];
        const b = pts[i + 1];
        if (a && b && distToSegment(p, a, b, aspect) <= tol) return true;
      }
      return false;
    }
    case 'line':
    case 'arrow':
      return distToSegment(p, shape.from, shape.to, aspect) <= tol;
    case 'rect': {
      const { origin: o, width: w, height: h } = shape;
      const corners: Point[] = [o, { x: o.x + w, y: o.y }, { x: o.x + w, y: o.y + h }, { x: o.x, y: o.y + h }];
      for (let i = 0; i < 4; i++) {
        const a = corners[i];
        const b = corners[(i + 1) % 4];
        if (a && b && distToSegment(p, a, b, aspect) <= tol) return true;
      }
      return false;
    }
    case 'ellipse': {
      if (shape.rx <= 0 || shape.ry <= 0) return false;
      const nx = (p.x - shape.center.x) / shape.rx;
      const ny = (p.y - shape.center.y) / shape.ry;
      const r = Math.hypot(nx, ny);
      // Distance to the outline, approximated along the ray from the centre, in picture heights.
      // At the centre itself any direction will do: take the horizontal one.
      const ux = r > 0 ? nx / r : 1;
      const uy = r > 0 ? ny / r : 0;
      const radiusH = Math.hypot(shape.rx * aspect * ux, shape.ry * uy);
      return Math.abs(r - 1) * radiusH <= tol;
    }
    case 'text': {
      const w = (shape.text.length * shape.size * 0.6) / aspect;
      return p.x >= shape.at.x - tol && p.x <= shape.at.x + w + tol && p.y >= shape.at.y - tol && p.y <= shape.at.y + shape.size * 1.2 + tol;
    }
  }
}

/** The minimal 2D context surface the renderer uses, so tests can record calls. */
export type Ctx2D = Pick<
  CanvasRenderingContext2D,
  | 'save'
  | 'restore'
  | 'beginPath'
  | 'moveTo'
  | 'lineTo'
  | 'stroke'
  | 'fill'
  | 'strokeRect'
  | 'ellipse'
  | 'fillText'
  | 'closePath'
  | 'quadraticCurveTo'
> & {
  strokeStyle: CanvasRenderingContext2D['strokeStyle'];
  fillStyle: CanvasRenderingContext2D['fillStyle'];
  lineWidth: number;
  lineCap: CanvasLineCap;
  lineJoin: CanvasLineJoin;
  globalAlpha: number;
  font: string;
  textBaseline: CanvasTextBaseline;
};

/** Draws one shape onto `ctx` for a picture shown at `rect` (CSS px, scaled by `scale`). */
export function renderShape(ctx: Ctx2D, shape: Shape, rect: Rect, alpha = 1, scale = 1): void {
  const v = (p: Point): { x: number; y: number } => {
    const q = toView(p, rect);
    return { x: q.x * scale, y: q.y * scale };
  };
  const lw = Math.max(1, shape.stroke.width * rect.height * scale);
  ctx.save();
  ctx.globalAlpha = alpha;
  ctx.strokeStyle = shape.stroke.color;
  ctx.fillStyle = shape.stroke.color;
  ctx.lineWidth = lw;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  switch (shape.type) {
    case 'pen': {
      const pts = shape.points.map(v);
      const first = pts[0];
      if (first) {
        ctx.moveTo(first.x, first.y);
        if (pts.length === 1) ctx.lineTo(first.x + 0.01, first.y);
        // Quadratic curves through midpoints: smooth at any zoom without storing more points.
        for (let i = 1; i < pts.length - 1; i++) {
          const a = pts[i];
          const b = pts[i + 1];
          if (a && b) ctx.quadraticCurveTo(a.x, a.y, (a.x + b.x) / 2, (a.y + b.y) / 2);
        }
        const last = pts[pts.length - 1];
        if (last && pts.length > 1) ctx.lineTo(last.x, last.y);
      }
      ctx.stroke();
      break;
    }
    case 'line': {
      const a = v(shape.from);
      const b = v(shape.to);
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
      break;
    }
    case 'arrow': {
      const a = v(shape.from);
      const b = v(shape.to);
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
      const angle = Math.atan2(b.y - a.y, b.x - a.x);
      const head = Math.max(8 * scale, lw * 4);
      ctx.beginPath();
      ctx.moveTo(b.x, b.y);
      ctx.lineTo(b.x - head * Math.cos(angle - Math.PI / 7), b.y - head * Math.sin(angle - Math.PI / 7));
      ctx.lineTo(b.x - head * Math.cos(angle + Math.PI / 7), b.y - head * Math.sin(angle + Math.PI / 7));
      ctx.closePath();
      ctx.fill();
      break;
    }
    case 'rect': {
      const o = v(shape.origin);
      ctx.strokeRect(o.x, o.y, shape.width * rect.width * scale, shape.height * rect.height * scale);
      break;
    }
    case 'ellipse': {
      const c = v(shape.center);
      ctx.ellipse(c.x, c.y, shape.rx * rect.width * scale, shape.ry * rect.height * scale, 0, 0, Math.PI * 2);
      ctx.stroke();
      break;
    }
    case 'text': {
      const at = v(shape.at);
      const size = Math.max(6, shape.size * rect.height * scale);
      ctx.font = `600 ${size}px system-ui, sans-serif`;
      ctx.textBaseline = 'top';
      ctx.fillText(shape.text, at.x, at.y);
      break;
    }
  }
  ctx.restore();
}

export function renderDrawing(ctx: Ctx2D, drawing: Drawing, rect: Rect, alpha = 1, scale = 1): void {
  for (const s of drawing.shapes) renderShape(ctx, s, rect, alpha, scale);
}

/** A fresh shape id (UUID where the platform supports it, unique enough otherwise). */
export function newShapeId(): string {
  const c = globalThis.crypto as Crypto | undefined;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Shapes with undo/redo. Each edit is a whole new list, so undo is exact and cheap. */
export class DrawingHistory {
  private past: Shape[][] = [];
  private future: Shape[][] = [];
  shapes: Shape[];

  constructor(initial: readonly Shape[] = []) {
    this.shapes = initial.slice();
  }

  private commit(next: Shape[]): void {
    this.past.push(this.shapes);
    this.future = [];
    this.shapes = next;
  }

  add(shape: Shape): void {
    this.commit([...this.shapes, shape]);
  }

  remove(id: string): boolean {
    if (!this.shapes.some((s) => s.id === id)) return false;
    this.commit(this.shapes.filter((s) => s.id !== id));
    return true;
  }

  clear(): void {
    if (this.shapes.length === 0) return;
    this.commit([]);
  }

  undo(): boolean {
    const prev = this.past.pop();
    if (!prev) return false;
    this.future.push(this.shapes);
    this.shapes = prev;
    return true;
  }

  redo(): boolean {
    const next = this.future.pop();
    if (!next) return false;
    this.past.push(this.shapes);
    this.shapes = next;
    return true;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }
  get canRedo(): boolean {
    return this.future.length > 0;
  }
  toDrawing(): Drawing {
    return { shapes: this.shapes.slice() };
  }
}
