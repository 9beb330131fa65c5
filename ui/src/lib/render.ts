//! Turns a decoded frame into pixels on a canvas: RGBA through `putImageData`, I420 through a
//! WebGL shader that does the YUV → RGB conversion on the GPU (what mpv and RV do), so the CPU
//! the decoder needs is not spent converting. Without WebGL, I420 is converted here in
//! JavaScript, slower but identical in result.

import type { DecodedFrame, PixelLayout, YuvMatrix } from './frame';

/** A rectangle in device pixels. */
export interface DeviceRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Owns the viewer's canvas: keeps the last frame it was given and paints it into a rectangle
 * of the canvas (fit, or 1:1 and panned), so a resize repaints without asking the player.
 */
export interface FrameRenderer {
  /** Keeps `frame` as the picture to paint. */
  upload(frame: DecodedFrame): void;
  /** Sizes the canvas to `width × height` device pixels and paints the picture into `rect`. */
  paint(width: number, height: number, rect: DeviceRect, smooth: boolean): void;
}

/** Kr and Kb of each matrix; the rest follows from them (same numbers as the Rust player). */
const KRKB: Record<YuvMatrix, [number, number]> = {
  bt601: [0.299, 0.114],
  bt709: [0.2126, 0.0722],
  bt2020: [0.2627, 0.0593],
};

/**
 * The conversion as `rgb = M · (yuv − offset) ⊙ scale`, for bytes normalised to 0..1.
 * Returned as the 3×3 matrix in column-major order (as WebGL wants), offset and scale.
 */
export function yuvToRgbTransform(layout: Extract<PixelLayout, { kind: 'i420' }>): {
  matrix: Float32Array;
  offset: [number, number, number];
  scale: [number, number, number];
} {
  const [kr, kb] = KRKB[layout.matrix];
  const kg = 1 - kr - kb;
  // r = y + 2(1−kr)·v;  b = y + 2(1−kb)·u;  g = y − (2kb(1−kb)/kg)·u − (2kr(1−kr)/kg)·v
  const matrix = new Float32Array([
    1, 1, 1, // column for y
    0, (-2 * kb * (1 - kb)) / kg, 2 * (1 - kb), // column for u
    2 * (1 - kr), (-2 * kr * (1 - kr)) / kg, 0, // column for v
  ]);
  if (layout.fullRange) return { matrix, offset: [0, 128 / 255, 128 / 255], scale: [1, 1, 1] };
  return {
    matrix,
    offset: [16 / 255, 128 / 255, 128 / 255],
    scale: [255 / 219, 255 / 224, 255 / 224],
  };
}

/** I420 planes to RGBA, in JavaScript (the fallback when there is no WebGL). */
export function i420ToRgba(frame: DecodedFrame, out: Uint8ClampedArray): void {
  if (frame.layout.kind !== 'i420') throw new Error('not an I420 frame');
  const { matrix: m, offset, scale } = yuvToRgbTransform(frame.layout);
  const w = frame.width;
  const h = frame.height;
  const cw = Math.ceil(w / 2);
  const ch = Math.ceil(h / 2);
  const px = frame.pixels;
  const uBase = w * h;
  const vBase = uBase + cw * ch;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = (y >> 1) * cw + (x >> 1);
      const Y = (px[y * w + x]! / 255 - offset[0]) * scale[0];
      const U = (px[uBase + c]! / 255 - offset[1]) * scale[1];
      const V = (px[vBase + c]! / 255 - offset[2]) * scale[2];
      const o = (y * w + x) * 4;
      // Uint8ClampedArray rounds and clamps on assignment.
      out[o] = (m[0]! * Y + m[3]! * U + m[6]! * V) * 255;
      out[o + 1] = (m[1]! * Y + m[4]! * U + m[7]! * V) * 255;
      out[o + 2] = (m[2]! * Y + m[5]! * U + m[8]! * V) * 255;
      out[o + 3] = 255;
    }
  }
}

const VERTEX = `
attribute vec2 a;
varying vec2 t;
void main() {
  t = vec2((a.x + 1.0) * 0.5, (1.0 - a.y) * 0.5);
  gl_Position = vec4(a, 0.0, 1.0);
}`;

const FRAGMENT = `
precision mediump float;
varying vec2 t;
uniform sampler2D ty;
uniform sampler2D tu;
uniform sampler2D tv;
uniform sampler2D trgba;
uniform int rgba;
uniform mat3 m;
uniform vec3 off;
uniform vec3 sc;
void main() {
  if (rgba == 1) {
    gl_FragColor = vec4(texture2D(trgba, t).rgb, 1.0);
    return;
  }
  vec3 yuv = (vec3(texture2D(ty, t).r, texture2D(tu, t).r, texture2D(tv, t).r) - off) * sc;
  gl_FragColor = vec4(clamp(m * yuv, 0.0, 1.0), 1.0);
}`;

class GlRenderer implements FrameRenderer {
  private readonly textures: WebGLTexture[];
  private readonly uniforms: Record<string, WebGLUniformLocation | null>;
  private hasFrame = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly gl: WebGLRenderingContext,
    program: WebGLProgram,
  ) {
    gl.useProgram(program);
    const quad = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const a = gl.getAttribLocation(program, 'a');
    gl.enableVertexAttribArray(a);
    gl.vertexAttribPointer(a, 2, gl.FLOAT, false, 0, 0);
    this.uniforms = Object.fromEntries(
      ['ty', 'tu', 'tv', 'trgba', 'rgba', 'm', 'off', 'sc'].map((n) => [n, gl.getUniformLocation(program, n)]),
    );
    this.textures = [0, 1, 2, 3].map((unit) => {
      const tex = gl.createTexture();
      if (!tex) throw new Error('no WebGL texture');
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, tex);
      // Planes of any size (WebGL 1 needs these for non-power-of-two textures).
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      return tex;
    });
    ['ty', 'tu', 'tv', 'trgba'].forEach((n, unit) => gl.uniform1i(this.uniforms[n]!, unit));
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.clearColor(0, 0, 0, 0);
  }

  private texture(unit: number, format: number, w: number, h: number, data: Uint8Array): void {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, this.textures[unit]!);
    gl.texImage2D(gl.TEXTURE_2D, 0, format, w, h, 0, format, gl.UNSIGNED_BYTE, data);
  }

  upload(frame: DecodedFrame): void {
    const gl = this.gl;
    const { width: w, height: h } = frame;
    const px = new Uint8Array(frame.pixels.buffer, frame.pixels.byteOffset, frame.pixels.byteLength);
    if (frame.layout.kind === 'rgba') {
      this.texture(3, gl.RGBA, w, h, px);
      gl.uniform1i(this.uniforms['rgba']!, 1);
    } else {
      const cw = Math.ceil(w / 2);
      const ch = Math.ceil(h / 2);
      this.texture(0, gl.LUMINANCE, w, h, px.subarray(0, w * h));
      this.texture(1, gl.LUMINANCE, cw, ch, px.subarray(w * h, w * h + cw * ch));
      this.texture(2, gl.LUMINANCE, cw, ch, px.subarray(w * h + cw * ch, w * h + 2 * cw * ch));
      const t = yuvToRgbTransform(frame.layout);
      gl.uniform1i(this.uniforms['rgba']!, 0);
      gl.uniformMatrix3fv(this.uniforms['m']!, false, t.matrix);
      gl.uniform3fv(this.uniforms['off']!, t.offset);
      gl.uniform3fv(this.uniforms['sc']!, t.scale);
    }
    this.hasFrame = true;
  }

  paint(width: number, height: number, rect: DeviceRect, smooth: boolean): void {
    const gl = this.gl;
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    gl.viewport(0, 0, width, height);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!this.hasFrame || rect.width <= 0 || rect.height <= 0) return;
    // The GPU scales: linear when fitting, nearest at 1:1 so pixels stay pixels.
    const filter = smooth ? gl.LINEAR : gl.NEAREST;
    this.textures.forEach((tex, unit) => {
      // Each texture stays bound to its own unit, which the sampler uniforms name.
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
    });
    // WebGL's viewport counts from the bottom edge.
    gl.viewport(
      Math.round(rect.x),
      Math.round(height - rect.y - rect.height),
      Math.round(rect.width),
      Math.round(rect.height),
    );
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }
}

class CanvasRenderer implements FrameRenderer {
  // The last frame lives in its own canvas so a resize can repaint it.
  private readonly frameCanvas = document.createElement('canvas');
  private scratch: ImageData | null = null;
  private hasFrame = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly ctx: CanvasRenderingContext2D,
  ) {}

  upload(frame: DecodedFrame): void {
    const { width: w, height: h } = frame;
    const fc = this.frameCanvas;
    if (fc.width !== w) fc.width = w;
    if (fc.height !== h) fc.height = h;
    const ctx = fc.getContext('2d');
    if (!ctx) return;
    if (frame.layout.kind === 'rgba') {
      ctx.putImageData(new ImageData(frame.pixels, w, h), 0, 0);
    } else {
      if (!this.scratch || this.scratch.width !== w || this.scratch.height !== h) {
        this.scratch = new ImageData(w, h);
      }
      i420ToRgba(frame, this.scratch.data);
      ctx.putImageData(this.scratch, 0, 0);
    }
    this.hasFrame = true;
  }

  paint(width: number, height: number, rect: DeviceRect, smooth: boolean): void {
    const c = this.canvas;
    if (c.width !== width) c.width = width;
    if (c.height !== height) c.height = height;
    this.ctx.clearRect(0, 0, width, height);
    if (!this.hasFrame || rect.width <= 0) return;
    this.ctx.imageSmoothingEnabled = smooth;
    this.ctx.imageSmoothingQuality = 'high';
    this.ctx.drawImage(this.frameCanvas, rect.x, rect.y, rect.width, rect.height);
  }
}

function compile(gl: WebGLRenderingContext): WebGLProgram | null {
  const program = gl.createProgram();
  if (!program) return null;
  for (const [type, source] of [
    [gl.VERTEX_SHADER, VERTEX],
    [gl.FRAGMENT_SHADER, FRAGMENT],
  ] as const) {
    const shader = gl.createShader(type);
    if (!shader) return null;
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) return null;
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  return gl.getProgramParameter(program, gl.LINK_STATUS) ? program : null;
}

/**
 * The renderer for the viewer's `canvas`: WebGL when the webview has it, else 2D. The drawing
 * buffer is preserved so what is on screen can be read back (tests, screenshots).
 */
export function createFrameRenderer(canvas: HTMLCanvasElement): FrameRenderer | null {
  const gl = canvas.getContext('webgl', { preserveDrawingBuffer: true, antialias: false });
  if (gl) {
    const program = compile(gl);
    if (program) {
      try {
        return new GlRenderer(canvas, gl, program);
      } catch {
        return null;
      }
    }
    // A canvas that has a WebGL context can never have a 2D one.
    return null;
  }
  const ctx = canvas.getContext('2d');
  return ctx ? new CanvasRenderer(canvas, ctx) : null;
}
