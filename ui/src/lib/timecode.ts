//! SMPTE timecode and the viewer's three time displays (frames, timecode, seconds).
//!
//! The frame on screen carries its own timecode in its header; this module is for every other
//! place that names a frame: timeline hover, note stamps, the I/O range, the composer.

import type { FrameRate, MediaFacts } from './backend';

export type TimeDisplay = 'frames' | 'timecode' | 'seconds';
export const TIME_DISPLAYS: readonly TimeDisplay[] = ['frames', 'timecode', 'seconds'];

export function nextTimeDisplay(mode: TimeDisplay): TimeDisplay {
  const i = TIME_DISPLAYS.indexOf(mode);
  return TIME_DISPLAYS[(i + 1) % TIME_DISPLAYS.length] ?? 'frames';
}

/** Frames per second as a float, for display and timers only. */
export function fps(rate: FrameRate): number {
  return rate.den === 0 ? 0 : rate.num / rate.den;
}

/** The integer rate a timecode label counts in (24 for 23.976, 30 for 29.97). */
export function nominalFps(rate: FrameRate): number {
  return Math.max(1, Math.round(fps(rate)));
}

function dropFramesPerMinute(nominal: number): number {
  // SMPTE drop-frame skips 2 labels a minute at 30, 4 at 60.
  return Math.round(nominal / 15);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Formats a count of frames since 00:00:00:00 as a label. Wraps at 24 hours. */
export function formatTimecode(totalFrames: number, rate: FrameRate, dropFrame: boolean): string {
  const nominal = nominalFps(rate);
  const perDay = nominal * 86400;
  let frames = Math.floor(totalFrames);
  const drop = dropFrame && (nominal === 30 || nominal === 60);
  if (drop) {
    const d = dropFramesPerMinute(nominal);
    const framesPer10Min = nominal * 600 - d * 9;
    const framesPerMin = nominal * 60 - d;
    const dayFrames = framesPer10Min * 144;
    frames = ((frames % dayFrames) + dayFrames) % dayFrames;
    const tens = Math.floor(frames / framesPer10Min);
    const rem = frames % framesPer10Min;
    frames += d * 9 * tens;
    if (rem > d) frames += d * Math.floor((rem - d) / framesPerMin);
  } else {
    frames = ((frames % perDay) + perDay) % perDay;
  }
  const ff = frames % nominal;
  const totalSeconds = Math.floor(frames / nominal);
  const ss = totalSeconds % 60;
  const mm = Math.floor(totalSeconds / 60) % 60;
  const hh = Math.floor(totalSeconds / 3600) % 24;
  return `${pad2(hh)}:${pad2(mm)}:${pad2(ss)}${drop ? ';' : ':'}${pad2(ff)}`;
}

/** Parses "HH:MM:SS:FF" (or with ";" / "." before the frames) into frames since midnight. */
export function parseTimecode(label: string, rate: FrameRate, dropFrame: boolean): number | null {
  const m = /^(\d{1,2}):(\d{2}):(\d{2})[:;.,](\d{2,3})$/.exec(label.trim());
  if (!m) return null;
  const [hh, mm, ss, ff] = [m[1], m[2], m[3], m[4]].map((s) => Number(s));
  if (hh === undefined || mm === undefined || ss === undefined || ff === undefined) return null;
  const nominal = nominalFps(rate);
  if (mm > 59 || ss > 59 || ff >= nominal) return null;
  const drop = dropFrame && (nominal === 30 || nominal === 60);
  let frames = ((hh * 60 + mm) * 60 + ss) * nominal + ff;
  if (drop) {
    const d = dropFramesPerMinute(nominal);
    const totalMinutes = hh * 60 + mm;
    frames -= d * (totalMinutes - Math.floor(totalMinutes / 10));
  }
  return frames;
}

/** Timecode label of a media index, from the media's start timecode (00:00:00:00 when none). */
export function indexToTimecode(index: number, media: MediaFacts): string {
  const start = media.startTimecode
    ? (parseTimecode(media.startTimecode, media.frameRate, media.dropFrame) ?? 0)
    : 0;
  return formatTimecode(start + index, media.frameRate, media.dropFrame);
}

/** Seconds from the first frame, with millisecond precision: "12.500 s". */
export function indexToSeconds(index: number, rate: FrameRate): string {
  if (rate.num === 0) return '0.000 s';
  const seconds = (index * rate.den) / rate.num;
  return `${seconds.toFixed(3)} s`;
}

/** Duration of a clip, for the library list ("0:12" / "1:02:05"). */
export function formatDuration(frameCount: number, rate: FrameRate): string {
  const total = Math.round((frameCount * rate.den) / Math.max(1, rate.num));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${m}:${pad2(s)}`;
}

/** Rate as people say it: "24", "23.976", "29.97 DF". */
export function formatRate(rate: FrameRate, dropFrame = false): string {
  const f = fps(rate);
  const text = Number.isInteger(f) ? String(f) : f.toFixed(3).replace(/0+$/, '');
  return dropFrame ? `${text} DF` : text;
}

/**
 * One frame named in the chosen display. `timecodeOverride` is the label from a frame header,
 * used for the frame on screen so the display is the one of the frame actually drawn.
 */
export function formatFrame(
  mode: TimeDisplay,
  index: number,
  media: MediaFacts,
  timecodeOverride?: string,
): string {
  switch (mode) {
    case 'frames':
      return String(media.firstFrame + index);
    case 'timecode':
      return timecodeOverride && timecodeOverride.length > 0
        ? timecodeOverride
        : indexToTimecode(index, media);
    case 'seconds':
      return indexToSeconds(index, media.frameRate);
  }
}
