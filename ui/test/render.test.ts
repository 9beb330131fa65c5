import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, type PixelLayout } from '../src/lib/frame';
import { i420ToRgba } from '../src/lib/render';

/** A 2×2 I420 frame of one colour. */
function solid(y: number, u: number, v: number, layout: PixelLayout) {
  const buf = encodeFrame({ width: 2, height: 2, playing: false, index: 0, displayFrame: 0, timecode: '', layout }, (px) => {
    px.set([y, y, y, y, u, v]);
  });
  const frame = decodeFrame(buf);
  const out = new Uint8ClampedArray(16);
  i420ToRgba(frame, out);
  return Array.from(out.slice(0, 4));
}

describe('I420 → RGBA (the fallback without WebGL)', () => {
  const video709: PixelLayout = { kind: 'i420', matrix: 'bt709', fullRange: false };

  it('maps video-range black, white and grey exactly', () => {
    expect(solid(16, 128, 128, video709)).toEqual([0, 0, 0, 255]);
    expect(solid(235, 128, 128, video709)).toEqual([255, 255, 255, 255]);
    expect(solid(255, 128, 128, { kind: 'i420', matrix: 'bt601', fullRange: true })).toEqual([255, 255, 255, 255]);
  });

  it('matches the Rust player on BT.709 red (Y 63, Cb 102, Cr 240)', () => {
    const [r, g, b] = solid(63, 102, 240, video709);
    expect(r).toBeGreaterThanOrEqual(253);
    expect(g).toBeLessThanOrEqual(2);
    expect(b).toBeLessThanOrEqual(2);
  });

  it('refuses RGBA frames', () => {
    const frame = decodeFrame(encodeFrame({ width: 1, height: 1, playing: false, index: 0, displayFrame: 0, timecode: '' }));
    expect(() => i420ToRgba(frame, new Uint8ClampedArray(4))).toThrow(/I420/);
  });
});
