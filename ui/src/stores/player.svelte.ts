//! The viewer's player: opens a version, receives binary frames, paints the newest one on the
//! next animation frame and only then updates the counter and timecode (so they describe the
//! frame actually on screen), sends transport commands, and runs the J/K/L shuttle. Every received
//! frame is acknowledged exactly once — when painted, or when a newer one replaced it, it could not
//! be decoded, or the clip closed — because the backend stops sending while frames stay unacknowledged.

import {
  toBackendError,
  type AssetSummary,
  type Backend,
  type MediaFacts,
  type PlayerCommand,
  type Unsubscribe,
  type Viewport,
} from '../lib/backend';
import { decodeFrame, FrameFormatError, type DecodedFrame, type FrameHeader } from '../lib/frame';
import { INITIAL_SHUTTLE, shuttle, syncFromPlayer, type ShuttleInput, type ShuttleState } from '../lib/shuttle';
import { nextTimeDisplay, type TimeDisplay } from '../lib/timecode';
import type { ZoomMode } from '../lib/drawing';
import type { Notifier } from './notify.svelte';

/** Speeds offered in the speed menu (and by [ / ]). */
export const SPEEDS = [0.25, 0.5, 1, 1.5, 2] as const;

type Painter = (frame: DecodedFrame) => void;

const schedule: (cb: () => void) => void =
  typeof requestAnimationFrame === 'function' ? (cb) => requestAnimationFrame(() => cb()) : (cb) => setTimeout(cb, 0);

export class PlayerStore {
  asset = $state<AssetSummary | null>(null);
  versionKey = $state<string | null>(null);
  playerId = $state<string | null>(null);
  media = $state<MediaFacts | null>(null);
  /** Header of the frame on screen. */
  drawn = $state<FrameHeader | null>(null);
  playing = $state(false);
  rate = $state(1);
  loop = $state<{ in: number; out: number } | null>(null);
  volume = $state(0.8);
  muted = $state(false);
  speed = $state(1);
  zoom = $state<ZoomMode>('fit');
  /** Offset of the picture in CSS pixels at 1:1, set by dragging; reset by Fit. */
  pan = $state({ x: 0, y: 0 });
  fullscreen = $state(false);
  timeDisplay = $state<TimeDisplay>('frames');
  loading = $state(false);
  error = $state<string | null>(null);
  /** Frames dropped because a newer one arrived before the screen refreshed (shown in stats). */
  skipped = $state(0);

  private shuttleState: ShuttleState = { ...INITIAL_SHUTTLE };
  private pending: DecodedFrame | null = null;
  /** Acknowledgements of the pending frame and of the frames it replaced, due once it is painted. */
  private pendingAcks: Array<() => void> = [];
  private paintScheduled = false;
  private painter: Painter | null = null;
  private viewport: Viewport = { width: 1280, height: 720 };
  private unsubs: Unsubscribe[] = [];
  private openSeq = 0;
  private seekInFlight = false;
  /** Where the reviewer asked to go and no frame has shown yet; lets rapid keys chain. */
  private requested: number | null = null;
  private seekQueued: number | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly notify: Notifier,
  ) {}

  start(): void {
    this.unsubs.push(
      this.backend.onPlayerEvent((e) => {
        if (e.playerId !== this.playerId) return;
        if (e.kind === 'state') {
          this.playing = e.playing;
          this.rate = e.rate;
          this.loop = e.loop;
          this.volume = e.volume;
          this.muted = e.muted;
          this.shuttleState = syncFromPlayer(this.shuttleState, e.playing, e.rate);
        } else if (e.kind === 'ended') {
          this.playing = false;
          this.shuttleState = syncFromPlayer(this.shuttleState, false, this.rate);
        } else {
          this.error = e.error.message;
        }
      }),
    );
  }

  stop(): void {
    for (const u of this.unsubs) u();
    this.unsubs = [];
    void this.close();
  }

  /** The viewer registers how to paint; without one (tests) frames are only accounted. */
  setPainter(p: Painter | null): void {
    this.painter = p;
  }

  get index(): number {
    return this.drawn?.index ?? 0;
  }

  /** The frame the reviewer is heading to: the requested one until it is drawn, else the drawn one. */
  get cursor(): number {
    return this.requested ?? this.index;
  }

  get lastIndex(): number {
    return Math.max(0, (this.media?.frameCount ?? 1) - 1);
  }

  async open(asset: AssetSummary, versionKey: string = asset.versionKey): Promise<void> {
    await this.close();
    const seq = ++this.openSeq;
    this.asset = asset;
    this.versionKey = versionKey;
    this.loading = true;
    this.error = null;
    this.drawn = null;
    this.media = null;
    this.loop = null;
    this.playing = false;
    this.requested = null;
    this.shuttleState = { ...INITIAL_SHUTTLE };
    try {
      const opened = await this.backend.openPlayer(versionKey, this.viewport, (m, drawn) => this.receive(seq, m, drawn));
      if (seq !== this.openSeq) {
        // Another clip was opened while this one was loading: let it go.
        void this.backend.closePlayer(opened.playerId);
        return;
      }
      this.playerId = opened.playerId;
      this.media = opened.media;
      if (this.speed !== 1) void this.send({ type: 'setRate', rate: this.speed });
      this.shuttleState = { ...this.shuttleState, rate: this.speed };
      // The reviewer's sound settings outlive a clip; a new player starts at its own defaults.
      void this.send({ type: 'setVolume', volume: this.volume });
      void this.send({ type: 'setMuted', muted: this.muted });
    } catch (e) {
      if (seq === this.openSeq) this.error = toBackendError(e).message;
    } finally {
      if (seq === this.openSeq) this.loading = false;
    }
  }

  async close(): Promise<void> {
    const id = this.playerId;
    this.playerId = null;
    this.pending = null;
    this.acknowledgePending();
    if (id) {
      try {
        await this.backend.closePlayer(id);
      } catch {
        // Closing a player that is already gone is not worth telling anyone about.
      }
    }
  }

  private receive(seq: number, message: ArrayBuffer, drawn: () => void): void {
    if (seq !== this.openSeq) {
      drawn(); // A frame of a clip no longer shown.
      return;
    }
    let frame: DecodedFrame;
    try {
      frame = decodeFrame(message);
    } catch (e) {
      drawn();
      if (e instanceof FrameFormatError) {
        this.error = `The player sent a frame that cannot be shown (${e.message}).`;
        return;
      }
      throw e;
    }
    // A replaced frame is acknowledged with the one that replaced it, when that is painted, so the
    // backend never runs further ahead of the screen than its window.
    if (this.pending) this.skipped += 1;
    this.pending = frame;
    this.pendingAcks.push(drawn);
    if (!this.paintScheduled) {
      this.paintScheduled = true;
      schedule(() => this.flushFrame());
    }
  }

  /** Paints the newest received frame and makes its header the one displayed. */
  flushFrame(): void {
    this.paintScheduled = false;
    const frame = this.pending;
    this.pending = null;
    if (!frame) return;
    try {
      this.painter?.(frame);
    } finally {
      this.acknowledgePending();
    }
    if (frame.playing || frame.index === this.requested) this.requested = null;
    this.drawn = {
      width: frame.width,
      height: frame.height,
      playing: frame.playing,
      index: frame.index,
      displayFrame: frame.displayFrame,
      timecode: frame.timecode,
      layout: frame.layout,
      fromProxy: frame.fromProxy,
    };
  }

  private acknowledgePending(): void {
    const acks = this.pendingAcks;
    this.pendingAcks = [];
    for (const ack of acks) ack();
  }

  async send(command: PlayerCommand): Promise<void> {
    const id = this.playerId;
    if (!id) return;
    try {
      await this.backend.playerCommand(id, command);
    } catch (e) {
      this.notify.error(toBackendError(e).message);
    }
  }

  private async runShuttle(input: ShuttleInput): Promise<void> {
    if (!this.playerId) return;
    const result = shuttle(this.shuttleState, input);
    this.shuttleState = result.state;
    for (const c of result.commands) await this.send(c);
  }

  togglePlay(): Promise<void> {
    return this.runShuttle({ type: 'toggle', speed: this.speed });
  }
  shuttleJ(): Promise<void> {
    return this.runShuttle({ type: 'j' });
  }
  shuttleForwardL(): Promise<void> {
    return this.runShuttle({ type: 'l' });
  }
  shuttleK(): Promise<void> {
    return this.runShuttle({ type: 'k' });
  }
  releaseK(): Promise<void> {
    return this.runShuttle({ type: 'kUp' });
  }
  get shuttleRate(): number {
    return this.shuttleState.rate;
  }

  async step(delta: number): Promise<void> {
    this.shuttleState = { ...this.shuttleState, playing: false };
    this.requested = Math.max(0, Math.min(this.lastIndex, this.cursor + delta));
    await this.send({ type: 'step', delta });
  }

  /** Seeks, coalescing a burst (scrubbing) so only the newest target is sent after each answer. */
  async seek(frame: number): Promise<void> {
    const target = Math.max(0, Math.min(this.lastIndex, Math.round(frame)));
    this.requested = target;
    if (this.seekInFlight) {
      this.seekQueued = target;
      return;
    }
    this.seekInFlight = true;
    try {
      await this.send({ type: 'seek', frame: target });
      while (this.seekQueued !== null) {
        const next = this.seekQueued;
        this.seekQueued = null;
        await this.send({ type: 'seek', frame: next });
      }
    } finally {
      this.seekInFlight = false;
    }
  }

  async setSpeed(speed: number): Promise<void> {
    this.speed = speed;
    const rate = this.playing && this.rate < 0 ? -speed : speed;
    this.shuttleState = { ...this.shuttleState, rate };
    await this.send({ type: 'setRate', rate });
  }

  async nudgeSpeed(direction: 1 | -1): Promise<void> {
    const i = SPEEDS.findIndex((s) => s >= this.speed);
    const at = i < 0 ? SPEEDS.length - 1 : i;
    const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, at + direction))] ?? 1;
    await this.setSpeed(next);
  }

  async markIn(): Promise<void> {
    const i = this.cursor;
    const out = this.loop && this.loop.out >= i ? this.loop.out : this.lastIndex;
    this.loop = { in: i, out };
    await this.send({ type: 'setLoop', in: i, out });
  }

  async markOut(): Promise<void> {
    const o = this.cursor;
    const inn = this.loop && this.loop.in <= o ? this.loop.in : 0;
    this.loop = { in: inn, out: o };
    await this.send({ type: 'setLoop', in: inn, out: o });
  }

  async clearLoop(): Promise<void> {
    this.loop = null;
    await this.send({ type: 'clearLoop' });
  }

  async setVolume(v: number): Promise<void> {
    this.volume = Math.max(0, Math.min(1, v));
    if (this.muted && v > 0) {
      this.muted = false;
      await this.send({ type: 'setMuted', muted: false });
    }
    await this.send({ type: 'setVolume', volume: this.volume });
  }

  async toggleMute(): Promise<void> {
    this.muted = !this.muted;
    await this.send({ type: 'setMuted', muted: this.muted });
  }

  cycleTimeDisplay(): void {
    this.timeDisplay = nextTimeDisplay(this.timeDisplay);
  }

  /** The viewer tells the backend its size in device pixels so frames arrive scaled to fit. */
  async setViewport(vp: Viewport): Promise<void> {
    const w = Math.max(1, Math.round(vp.width));
    const h = Math.max(1, Math.round(vp.height));
    if (w === this.viewport.width && h === this.viewport.height) return;
    this.viewport = { width: w, height: h };
    await this.send({ type: 'setViewport', width: w, height: h });
  }
}
