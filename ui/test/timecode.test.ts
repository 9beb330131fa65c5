import { describe, expect, it } from 'vitest';
import type { MediaFacts } from '../src/lib/backend';
import {
  formatDuration,
  formatFrame,
  formatRate,
  formatTimecode,
  indexToSeconds,
  indexToTimecode,
  nextTimeDisplay,
  parseTimecode,
} from '../src/lib/timecode';

const r24 = { num: 24, den: 1 };
const r2997 = { num: 30000, den: 1001 };
const media = (over: Partial<MediaFacts> = {}): MediaFacts => ({
  frameRate: r24,
  firstFrame: 1001,
  frameCount: 100,
  startTimecode: '01:00:00:00',
  dropFrame: false,
  width: 1920,
  height: 1080,
  hasAudio: false,
  ...over,
});

describe('timecode', () => {
  it('formats non-drop timecode', () => {
    expect(formatTimecode(0, r24, false)).toBe('00:00:00:00');
    expect(formatTimecode(24 * 3600 + 23, r24, false)).toBe('01:00:00:23');
    expect(formatTimecode(24 * 86400 + 1, r24, false)).toBe('00:00:00:01');
  });

  it('formats drop-frame timecode at 29.97, skipping ;00 and ;01 except every tenth minute', () => {
    expect(formatTimecode(1799, r2997, true)).toBe('00:00:59;29');
    expect(formatTimecode(1800, r2997, true)).toBe('00:01:00;02');
    expect(formatTimecode(17982, r2997, true)).toBe('00:10:00;00');
    expect(formatTimecode(107892, r2997, true)).toBe('01:00:00;00');
  });

  it('parses what it formats, drop and non-drop', () => {
    for (const f of [0, 1, 1799, 1800, 17981, 17982, 107892, 215999]) {
      expect(parseTimecode(formatTimecode(f, r2997, true), r2997, true)).toBe(f);
      expect(parseTimecode(formatTimecode(f, r24, false), r24, false)).toBe(f);
    }
    expect(parseTimecode('01:00:00:24', r24, false)).toBeNull();
    expect(parseTimecode('garbage', r24, false)).toBeNull();
  });

  it('names a media index from the start timecode', () => {
    expect(indexToTimecode(0, media())).toBe('01:00:00:00');
    expect(indexToTimecode(25, media())).toBe('01:00:01:01');
    expect(indexToTimecode(2, media({ frameRate: r2997, dropFrame: true, startTimecode: '00:59:59;28' }))).toBe('01:00:00;00');
    expect(indexToTimecode(5, media({ startTimecode: null }))).toBe('00:00:00:05');
  });

  it('shows seconds, durations and rates as people say them', () => {
    expect(indexToSeconds(36, r24)).toBe('1.500 s');
    expect(indexToSeconds(30, r2997)).toBe('1.001 s');
    expect(formatDuration(96, r24)).toBe('0:04');
    expect(formatDuration(24 * 3725, r24)).toBe('1:02:05');
    expect(formatRate(r24)).toBe('24');
    expect(formatRate({ num: 24000, den: 1001 })).toBe('23.976');
    expect(formatRate(r2997, true)).toBe('29.97 DF');
  });
});

describe('time display toggle', () => {
  it('cycles frames → timecode → seconds → frames', () => {
    expect(nextTimeDisplay('frames')).toBe('timecode');
    expect(nextTimeDisplay('timecode')).toBe('seconds');
    expect(nextTimeDisplay('seconds')).toBe('frames');
  });

  it('formats the same frame in each display, preferring the header timecode', () => {
    const m = media();
    expect(formatFrame('frames', 17, m)).toBe('1018');
    expect(formatFrame('timecode', 17, m)).toBe('01:00:00:17');
    expect(formatFrame('timecode', 17, m, '01:00:00:17')).toBe('01:00:00:17');
    // The header is the truth for the frame on screen, even if media facts disagree.
    expect(formatFrame('timecode', 17, m, '10:00:00:00')).toBe('10:00:00:00');
    expect(formatFrame('seconds', 48, m)).toBe('2.000 s');
  });
});
