import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES, FrameFormatError, parseFrameHeader } from '../src/lib/frame';

function handMade(): ArrayBuffer {
  // Built byte by byte, independently of encodeFrame, exactly as the Rust player lays it out.
  const w = 3;
  const h = 2;
  const buf = new ArrayBuffer(48 + w * h * 4);
  const v = new DataView(buf);
  [0x46, 0x4e, 0x46, 0x31].forEach((b, i) => v.setUint8(i, b)); // "FNF1"
  v.setUint32(4, w, true);
  v.setUint32(8, h, true);
  v.setUint32(12, 1, true);
  v.setBigUint64(16, 41n, true);
  v.setBigInt64(24, 1042n, true);
  const tc = '00:59:59;29';
  for (let i = 0; i < tc.length; i++) v.setUint8(32 + i, tc.charCodeAt(i));
  new Uint8Array(buf, 48).fill(7);
  return buf;
}

describe('frame header', () => {
  it('parses a frame laid out by hand', () => {
    const f = decodeFrame(handMade());
    expect(f).toMatchObject({ width: 3, height: 2, playing: true, index: 41, displayFrame: 1042, timecode: '00:59:59;29' });
    expect(f.pixels.length).toBe(24);
    expect(f.pixels[0]).toBe(7);
    expect(f.pixels.byteOffset).toBe(FRAME_HEADER_BYTES);
  });

  it('reads negative display frames and the paused flag', () => {
    const buf = encodeFrame({ width: 1, height: 1, playing: false, index: 0, displayFrame: -5, timecode: '' });
    const h = parseFrameHeader(buf);
    expect(h.displayFrame).toBe(-5);
    expect(h.playing).toBe(false);
    expect(h.timecode).toBe('');
  });

  it('round-trips through encodeFrame', () => {
    const header = {
      width: 16,
      height: 9,
      playing: false,
      index: 123456,
      displayFrame: 124457,
      timecode: '01:00:10:12',
      layout: { kind: 'rgba' as const },
      fromProxy: true,
    };
    const buf = encodeFrame(header, (px) => px.fill(200));
    const f = decodeFrame(buf);
    expect({ ...f, pixels: undefined }).toEqual({ ...header, pixels: undefined });
    expect(f.pixels.every((b) => b === 200)).toBe(true);
  });

  it('reads I420 layouts with their matrix and range, and sizes their planes', () => {
    const layout = { kind: 'i420' as const, matrix: 'bt601' as const, fullRange: true };
    const buf = encodeFrame({ width: 5, height: 3, playing: true, index: 1, displayFrame: 2, timecode: '', layout });
    const f = decodeFrame(buf);
    expect(f.layout).toEqual(layout);
    expect(f.playing).toBe(true);
    // Y 5×3, U and V 3×2 each.
    expect(f.pixels.length).toBe(15 + 12);
    const flags = new DataView(buf).getUint32(12, true);
    expect(flags).toBe(1 | 2 | (1 << 2) | 16);
    const unknown = encodeFrame({ width: 2, height: 2, playing: false, index: 0, displayFrame: 0, timecode: '', layout });
    new DataView(unknown).setUint32(12, 2 | (3 << 2), true);
    expect(() => parseFrameHeader(unknown)).toThrow(/matrix/);
  });

  it('rejects short, foreign, oversized and truncated messages with a typed error', () => {
    expect(() => parseFrameHeader(new ArrayBuffer(10))).toThrow(FrameFormatError);
    const wrongMagic = handMade();
    new DataView(wrongMagic).setUint8(0, 0x58);
    expect(() => parseFrameHeader(wrongMagic)).toThrow(/FNF1/);
    const huge = handMade();
    new DataView(huge).setUint32(4, 100000, true);
    expect(() => parseFrameHeader(huge)).toThrow(/out of range/);
    const zero = handMade();
    new DataView(zero).setUint32(8, 0, true);
    expect(() => parseFrameHeader(zero)).toThrow(FrameFormatError);
    const truncated = handMade().slice(0, 48 + 10);
    expect(() => decodeFrame(truncated)).toThrow(/needs 24 pixel bytes/);
    const badTc = handMade();
    new DataView(badTc).setUint8(33, 0x07);
    expect(() => parseFrameHeader(badTc)).toThrow(/printable/);
  });
});
