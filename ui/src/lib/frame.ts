//! The binary frame message the player sends over its channel, and nothing else.
//!
//! Layout (little-endian), 48-byte header then tightly packed RGBA rows, or three tight I420
//! planes (Y w×h, then U and V ⌈w/2⌉×⌈h/2⌉) when flag bit 1 is set:
//!   0..4   "FNF1"
//!   4..8   u32 width        8..12 u32 height
//!   12..16 u32 flags: bit 0 playing, bit 1 I420, bits 2–3 matrix (0 BT.709, 1 BT.601,
//!          2 BT.2020), bit 4 full range, bit 5 from the scrub proxy
//!   16..24 u64 media index (0-based)              24..32 i64 display frame number
//!   32..48 ASCII timecode, NUL padded
//! The counter and timecode the viewer shows come from here, so they always describe the frame
//! actually on screen, never a frame the UI merely asked for.

export const FRAME_MAGIC = 'FNF1';
export const FRAME_HEADER_BYTES = 48;
export const FLAG_PLAYING = 1;
export const FLAG_I420 = 1 << 1;
const MATRIX_SHIFT = 2;
export const FLAG_FULL_RANGE = 1 << 4;
export const FLAG_PROXY = 1 << 5;

export type YuvMatrix = 'bt709' | 'bt601' | 'bt2020';
const MATRICES: readonly YuvMatrix[] = ['bt709', 'bt601', 'bt2020'];

/** How the pixel bytes are laid out. */
export type PixelLayout = { kind: 'rgba' } | { kind: 'i420'; matrix: YuvMatrix; fullRange: boolean };

/** Bytes the pixels of a `width × height` frame take in `layout`. */
export function pixelBytes(layout: PixelLayout, width: number, height: number): number {
  if (layout.kind === 'rgba') return width * height * 4;
  return width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
}

export interface FrameHeader {
  width: number;
  height: number;
  playing: boolean;
  /** 0-based media index. */
  index: number;
  /** firstFrame + index, as the platform counts. */
  displayFrame: number;
  timecode: string;
  /** RGBA rows or I420 planes. */
  layout: PixelLayout;
  /** The picture is the scrub proxy's: exact frame, lighter picture; the original's follows. */
  fromProxy: boolean;
}

export interface DecodedFrame extends FrameHeader {
  /** `pixelBytes(layout, width, height)` bytes, a view into the message (no copy). */
  pixels: Uint8ClampedArray<ArrayBuffer>;
}

/** Why a message is not a frame. Parsing never throws anything else. */
export class FrameFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameFormatError';
  }
}

/** Largest side we accept; guards against a corrupt header asking for gigabytes. */
const MAX_SIDE = 16384;

export function parseFrameHeader(message: ArrayBuffer): FrameHeader {
  if (message.byteLength < FRAME_HEADER_BYTES) {
    throw new FrameFormatError(`frame message is ${message.byteLength} bytes, shorter than its header`);
  }
  const view = new DataView(message);
  const magic = String.fromCharCode(
    view.getUint8(0),
    view.getUint8(1),
    view.getUint8(2),
    view.getUint8(3),
  );
  if (magic !== FRAME_MAGIC) {
    throw new FrameFormatError('frame message does not start with FNF1');
  }
  const width = view.getUint32(4, true);
  const height = view.getUint32(8, true);
  if (width === 0 || height === 0 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new FrameFormatError(`frame size ${width}×${height} is out of range`);
  }
  const flags = view.getUint32(12, true);
  const index = view.getBigUint64(16, true);
  const displayFrame = view.getBigInt64(24, true);
  if (index > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FrameFormatError('frame index is out of range');
  }
  if (displayFrame > BigInt(Number.MAX_SAFE_INTEGER) || displayFrame < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new FrameFormatError('display frame number is out of range');
  }
  let layout: PixelLayout = { kind: 'rgba' };
  if ((flags & FLAG_I420) !== 0) {
    const matrix = MATRICES[(flags >> MATRIX_SHIFT) & 3];
    if (!matrix) throw new FrameFormatError('unknown YUV matrix');
    layout = { kind: 'i420', matrix, fullRange: (flags & FLAG_FULL_RANGE) !== 0 };
  }
  let timecode = '';
  for (let i = 32; i < 48; i++) {
    const c = view.getUint8(i);
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e) throw new FrameFormatError('timecode is not printable ASCII');
    timecode += String.fromCharCode(c);
  }
  return {
    width,
    height,
    playing: (flags & FLAG_PLAYING) !== 0,
    index: Number(index),
    displayFrame: Number(displayFrame),
    timecode,
    layout,
    fromProxy: (flags & FLAG_PROXY) !== 0,
  };
}

export function decodeFrame(message: ArrayBuffer): DecodedFrame {
  const header = parseFrameHeader(message);
  const expected = pixelBytes(header.layout, header.width, header.height);
  const available = message.byteLength - FRAME_HEADER_BYTES;
  if (available < expected) {
    throw new FrameFormatError(
      `frame ${header.width}×${header.height} needs ${expected} pixel bytes, message has ${available}`,
    );
  }
  return { ...header, pixels: new Uint8ClampedArray(message, FRAME_HEADER_BYTES, expected) };
}

/**
 * Builds a frame message. The mock backend uses it to produce frames exactly as the Rust player
 * does, and tests use it to exercise the parser. `fill` writes the pixels (RGBA unless the
 * header says otherwise) in place.
 */
export function encodeFrame(
  header: Omit<FrameHeader, 'layout' | 'fromProxy'> & { layout?: PixelLayout; fromProxy?: boolean },
  fill?: (pixels: Uint8ClampedArray<ArrayBuffer>, width: number, height: number) => void,
): ArrayBuffer {
  const layout = header.layout ?? { kind: 'rgba' };
  const buffer = new ArrayBuffer(FRAME_HEADER_BYTES + pixelBytes(layout, header.width, header.height));
  const view = new DataView(buffer);
  for (let i = 0; i < 4; i++) view.setUint8(i, FRAME_MAGIC.charCodeAt(i));
  view.setUint32(4, header.width, true);
  view.setUint32(8, header.height, true);
  let flags = (header.playing ? FLAG_PLAYING : 0) | (header.fromProxy ? FLAG_PROXY : 0);
  if (layout.kind === 'i420') {
    flags |= FLAG_I420 | (MATRICES.indexOf(layout.matrix) << MATRIX_SHIFT) | (layout.fullRange ? FLAG_FULL_RANGE : 0);
  }
  view.setUint32(12, flags, true);
  view.setBigUint64(16, BigInt(header.index), true);
  view.setBigInt64(24, BigInt(header.displayFrame), true);
  const tc = header.timecode.slice(0, 16);
  for (let i = 0; i < tc.length; i++) view.setUint8(32 + i, tc.charCodeAt(i) & 0x7f);
  if (fill) {
    fill(new Uint8ClampedArray(buffer, FRAME_HEADER_BYTES), header.width, header.height);
  }
  return buffer;
}
