//! The binary frame message the player sends over its channel, and nothing else.
//!
//! Layout (little-endian), 48-byte header then tightly packed RGBA rows:
//!   0..4   "FNF1"
//!   4..8   u32 width        8..12 u32 height      12..16 u32 flags (bit 0 = playing)
//!   16..24 u64 media index (0-based)              24..32 i64 display frame number
//!   32..48 ASCII timecode, NUL padded
//! The counter and timecode the viewer shows come from here, so they always describe the frame
//! actually on screen, never a frame the UI merely asked for.

export const FRAME_MAGIC = 'FNF1';
export const FRAME_HEADER_BYTES = 48;
export const FLAG_PLAYING = 1;

export interface FrameHeader {
  width: number;
  height: number;
  playing: boolean;
  /** 0-based media index. */
  index: number;
  /** firstFrame + index, as the platform counts. */
  displayFrame: number;
  timecode: string;
}

export interface DecodedFrame extends FrameHeader {
  /** RGBA, `width * height * 4` bytes, a view into the message (no copy). */
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
  };
}

export function decodeFrame(message: ArrayBuffer): DecodedFrame {
  const header = parseFrameHeader(message);
  const expected = header.width * header.height * 4;
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
 * does, and tests use it to exercise the parser. `fill` writes the RGBA pixels in place.
 */
export function encodeFrame(
  header: FrameHeader,
  fill?: (pixels: Uint8ClampedArray<ArrayBuffer>, width: number, height: number) => void,
): ArrayBuffer {
  const buffer = new ArrayBuffer(FRAME_HEADER_BYTES + header.width * header.height * 4);
  const view = new DataView(buffer);
  for (let i = 0; i < 4; i++) view.setUint8(i, FRAME_MAGIC.charCodeAt(i));
  view.setUint32(4, header.width, true);
  view.setUint32(8, header.height, true);
  view.setUint32(12, header.playing ? FLAG_PLAYING : 0, true);
  view.setBigUint64(16, BigInt(header.index), true);
  view.setBigInt64(24, BigInt(header.displayFrame), true);
  const tc = header.timecode.slice(0, 16);
  for (let i = 0; i < tc.length; i++) view.setUint8(32 + i, tc.charCodeAt(i) & 0x7f);
  if (fill) {
    fill(new Uint8ClampedArray(buffer, FRAME_HEADER_BYTES), header.width, header.height);
  }
  return buffer;
}
