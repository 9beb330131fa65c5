// Frame path throughput: decoding a frame message (header parse + pixel view) against a
// reference measured in the same run — copying the same pixels once, the least any consumer
// must do with them. `npm run bench` prints both; no timing is asserted anywhere.
import { bench, describe } from 'vitest';
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES } from '../src/lib/frame';

for (const [w, h] of [
  [1280, 720],
  [1920, 1080],
  [3840, 2160],
] as const) {
  const message = encodeFrame({ width: w, height: h, playing: true, index: 1234, displayFrame: 2235, timecode: '01:00:51:10' }, (px) => px.fill(128));
  const sink = new Uint8ClampedArray(w * h * 4);
  describe(`${w}×${h} frame message`, () => {
    bench('decodeFrame (header + pixel view)', () => {
      decodeFrame(message);
    });
    bench('reference: copy the pixels once', () => {
      sink.set(new Uint8ClampedArray(message, FRAME_HEADER_BYTES, w * h * 4));
    });
  });
}
