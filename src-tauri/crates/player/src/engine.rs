//! The player loop: one thread per open clip owns every piece of player state (decoder, audio,
//! cache, clock, playhead), mpv-style. Callers only send [`PlayerCommand`]s and read
//! [`PlayerEvent`]s, so nothing is shared but two channels and the "latest frame" slot, and one
//! clip failing (or panicking) cannot touch another.
//!
//! The loop sleeps on the command channel until the next thing is due (the next frame while
//! playing, nothing while idle), applies every queued command (consecutive seeks and steps
//! coalesce into one target), then does one unit of work: show the wanted frame, or present the
//! frame due at the clock, or prefetch around the playhead. Long decodes pull frame by frame and
//! look at the command channel between frames, so a new request pre-empts prefetching.
//!
//! How frames are found (cheapest first):
//! 1. the cache;
//! 2. the decoder's next frames when the target is a little ahead (no seek: xSTUDIO never seeks
//!    for a short forward jump, OpenRV not within a GOP);
//! 3. a flushing ACCURATE seek to the target;
//! 4. backwards: a seek to `target − chunk + 1` and a decode of the whole run up to the target,
//!    every frame kept (xSTUDIO's back-step mini-cache), so the next back-steps are cache hits.
//!
//! While paused and idle the loop keeps a few frames ahead and a chunk behind the playhead
//! decoded, so single steps either way are served from the cache.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use framenote_core::MediaInfo;
use framenote_core::timecode::{FrameClock, FrameRate, TimeUnit};

use crate::audio::{Audio, AudioOutput};
use crate::cache::{DEFAULT_CACHE_BYTES, FrameCache};
use crate::decoder::{Decoded, Decoder, Pull};
use crate::frame::OutputFormat;
use crate::probe::{ClipFacts, FrameTarget, open_with_facts};
use crate::{Frame, PlayerError};

/// How a clip is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The number shown for the first frame (overrides the sidecar; default 0).
    pub first_frame: Option<i64>,
    /// The frame rate (overrides the stream; for VFR media or a wrongly tagged file).
    pub frame_rate: Option<FrameRate>,
    /// The box frames are fitted into (aspect kept, never upscaled); `None`: source size.
    pub output_size: Option<(u32, u32)>,
    /// Budget of the decoded-frame cache in bytes.
    pub cache_bytes: usize,
    /// Sound.
    pub audio: AudioOutput,
    /// Send every shown frame as [`PlayerEvent::Frame`]. Turn off when the shell only reads
    /// [`crate::Player::latest_frame`] and must not let undrained frames pile up.
    pub frame_events: bool,
    /// The pixel layout of the frames (RGBA by default; a viewer with a GPU wants I420).
    pub output_format: OutputFormat,
    /// A scrub proxy of the clip (see [`crate::make_scrub_proxy`]): cold seeks deep into a GOP
    /// show its frame at once, then the original's. Ignored unless it matches the clip.
    pub scrub_proxy: Option<PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            first_frame: None,
            frame_rate: None,
            output_size: Some((1280, 720)),
            cache_bytes: DEFAULT_CACHE_BYTES,
            audio: AudioOutput::Auto,
            frame_events: true,
            output_format: OutputFormat::Rgba,
            scrub_proxy: None,
        }
    }
}

/// J, K and L of the shuttle: J plays backwards, faster on each press (×1, ×2, ×4, ×8), L the
/// same forwards, K pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShuttleKey {
    /// Backwards, faster on each press.
    J,
    /// Pause.
    K,
    /// Forwards, faster on each press.
    L,
}

/// The fastest shuttle speed.
pub const MAX_SHUTTLE: f64 = 8.0;

/// What a caller asks a player to do.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerCommand {
    /// Play forwards at 1× (from the start when on the last frame).
    Play,
    /// Stop on the frame on screen.
    Pause,
    /// Play if paused, pause if playing.
    TogglePlay,
    /// Show frame `index` (0-based). Keeps playing if playing.
    Seek(i64),
    /// Show a frame given by index, display number or timecode.
    SeekTo(FrameTarget),
    /// Pause and move by `n` frames (negative: back).
    Step(i64),
    /// Play at `rate` (negative: backwards; ±1, ±2, ±4, ±8 are the shuttle speeds). Sound plays
    /// at exactly 1× forwards only.
    SetRate(f64),
    /// J/K/L shuttle.
    Shuttle(ShuttleKey),
    /// Loop playback between two frame indices (inclusive), or stop looping.
    SetLoop(Option<(i64, i64)>),
    /// Volume, 0.0 (silent) to 1.0 (unchanged); up to 10.0 amplifies.
    SetVolume(f64),
    /// Mute or unmute.
    SetMute(bool),
    /// The box frames are fitted into, usually the viewport in device pixels.
    SetOutputSize(u32, u32),
    /// Use this scrub proxy from now on (it was made after the clip opened).
    UseScrubProxy(PathBuf),
    /// Close the clip and end the player thread.
    Close,
}

/// Where the player is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlayerState {
    /// Opening the media.
    Opening,
    /// Still on a frame.
    Paused,
    /// Playing at `rate` (negative: backwards).
    Playing {
        /// Speed and direction.
        rate: f64,
    },
    /// The media could not be opened; only `Close` is accepted.
    Failed,
    /// Closed.
    Closed,
}

/// Why playback stopped by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Playing forwards reached the last frame.
    EndOfMedia,
    /// Playing backwards reached the first frame.
    StartOfMedia,
    /// An error stopped it (an [`PlayerEvent::Error`] came first).
    Error,
}

/// What a player knows about its clip once open.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    /// The library's facts (rate, frame count, size, start timecode, first frame).
    pub media: MediaInfo,
    /// Index ↔ number ↔ timecode.
    pub clock: FrameClock,
    /// Size of the frames delivered.
    pub output_size: (u32, u32),
    /// The clip has sound and it is set up.
    pub has_audio: bool,
    /// Sound goes to a real device (false: silent clocked sink).
    pub audio_device: bool,
    /// Where decoding can start (what a cold seek costs).
    pub keyframes: crate::KeyframeIndex,
}

impl ClipInfo {
    /// Whether cold seeks into this clip are slow enough to be worth a scrub proxy.
    pub fn wants_scrub_proxy(&self) -> bool {
        crate::proxy::long_gop(&self.keyframes, self.media.frame_count)
    }
}

/// What a player tells its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// The clip is open; the first frame follows.
    Opened(ClipInfo),
    /// A frame is on screen.
    Frame(Frame),
    /// The state changed.
    State(PlayerState),
    /// Network media is buffering (percent).
    Buffering(u8),
    /// Playback stopped by itself.
    Ended(StopReason),
    /// Something failed; the player keeps running unless a `State(Failed)` follows.
    Error(PlayerError),
}

/// Counters for the UI's HUD and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayerStats {
    /// Bytes held by the frame cache now.
    pub cache_bytes: usize,
    /// Highest `cache_bytes` so far.
    pub cache_peak_bytes: usize,
    /// The cache's budget.
    pub cache_budget: usize,
    /// Frames decoded and converted.
    pub frames_decoded: u64,
    /// Frames shown.
    pub frames_shown: u64,
    /// Frames skipped while playing at 1× because they were not ready in time.
    pub dropped_frames: u64,
    /// Seeks issued to the decoder.
    pub seeks: u64,
    /// Frames shown from the scrub proxy before the original's frame was ready.
    pub proxy_frames_shown: u64,
}

/// What the caller's handle and the engine share.
#[derive(Default)]
pub(crate) struct Shared {
    pub latest: Mutex<Option<Frame>>,
    pub stats: Mutex<PlayerStats>,
}

/// Without a keyframe index, a forward jump this short is decoded through rather than sought
/// (seeking would decode from an unknown keyframe anyway).
const FORWARD_DECODE_LIMIT: i64 = 36;
/// What a flushing seek costs beyond its decoding, in frames' worth of decode time.
const SEEK_OVERHEAD_FRAMES: i64 = 3;
/// Frames kept decoded ahead of the playhead when paused.
const PAUSED_AHEAD: i64 = 24;
/// Frames kept decoded ahead of the playhead when playing.
const PLAY_AHEAD: i64 = 12;
/// Largest back-step run (frames decoded and kept per backward seek).
const MAX_BACK_CHUNK: i64 = 48;
/// While playing, a decoder this far behind the clock seeks instead of decoding on.
const SEEK_LAG_FRAMES: i64 = 120;
/// A decode that yields no frame for this long is a stall.
const STALL: Duration = Duration::from_secs(20);

struct Playing {
    rate: f64,
    base_at: Instant,
    /// Clip time (ns from the first frame) at `base_at`.
    base_pos: i64,
}

struct Engine {
    dec: Decoder,
    facts: ClipFacts,
    rate: FrameRate,
    /// Number of frames, learned at the end of the stream when the container did not say.
    count: Option<i64>,
    cache: FrameCache,
    audio: Option<Audio>,
    events: Sender<PlayerEvent>,
    shared: Arc<Shared>,
    frame_events: bool,
    shown: Option<i64>,
    /// A frame to show while paused (coalesced seeks and steps).
    want: Option<i64>,
    playing: Option<Playing>,
    loop_range: Option<(i64, i64)>,
    /// The decoder is filling frames up to this index.
    job_until: Option<i64>,
    /// The last seek's target, to recognise the first frame after it.
    seek_target: Option<i64>,
    eos: bool,
    /// Direction of the last step (0 after a seek): a forward run never pays for a backward
    /// prefetch that would take the decoder away from the frames ahead.
    stepping: i64,
    /// Playback ended: tell the caller once the final frame is on screen.
    end_after_show: Option<StopReason>,
    /// The highest index ever decoded (where a truncated file's data is known to reach).
    max_decoded: i64,
    /// The index of the previous frame pulled since the last seek.
    last_pulled: Option<i64>,
    /// Background prefetch is off after an error until the next command.
    prefetch: bool,
    stats: PlayerStats,
    closed: bool,
    scrub: Option<Scrub>,
    format: OutputFormat,
}

/// The scrub proxy, opened on first use.
struct Scrub {
    path: PathBuf,
    dec: Option<Decoder>,
}

/// A cold request that must decode more than this many frames of the original shows the
/// proxy's frame first (the proxy decodes at most `PROXY_GOP`).
const PROXY_FIRST_RUN: i64 = 2 * crate::PROXY_GOP as i64;
/// How long a proxy frame may take before the proxy is given up for this clip.
const PROXY_TIMEOUT: Duration = Duration::from_secs(2);

/// Entry point of a player thread.
pub(crate) fn run(
    media: String,
    opts: OpenOptions,
    commands: Receiver<PlayerCommand>,
    events: Sender<PlayerEvent>,
    shared: Arc<Shared>,
) {
    let ev = events.clone();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        run_inner(media, opts, &commands, events, shared)
    }));
    if result.is_err() {
        // A bug, not a media problem: report it like one so the shell can close this clip.
        let _ = ev.send(PlayerEvent::Error(PlayerError::Pipeline(
            "internal error in the player thread".into(),
        )));
        let _ = ev.send(PlayerEvent::State(PlayerState::Failed));
    }
}

fn run_inner(
    media: String,
    opts: OpenOptions,
    commands: &Receiver<PlayerCommand>,
    events: Sender<PlayerEvent>,
    shared: Arc<Shared>,
) {
    let _ = events.send(PlayerEvent::State(PlayerState::Opening));
    let (dec, facts) = match open_with_facts(
        &media,
        opts.output_size,
        opts.frame_rate,
        opts.first_frame,
        opts.output_format,
    ) {
        Ok(v) => v,
        Err(e) => {
            let _ = events.send(PlayerEvent::Error(e));
            let _ = events.send(PlayerEvent::State(PlayerState::Failed));
            // Stay until closed so the handle's commands are not errors; there is nothing to do.
            while let Ok(cmd) = commands.recv() {
                if cmd == PlayerCommand::Close {
                    break;
                }
            }
            let _ = events.send(PlayerEvent::State(PlayerState::Closed));
            return;
        }
    };
    let audio = Audio::open(&media, opts.audio);
    let mut engine = Engine {
        rate: dec.rate,
        count: facts.info.frame_count.map(|c| c as i64),
        cache: FrameCache::new(opts.cache_bytes),
        dec,
        facts,
        audio,
        events,
        shared,
        frame_events: opts.frame_events,
        shown: None,
        want: Some(0),
        playing: None,
        loop_range: None,
        job_until: None,
        seek_target: None,
        eos: false,
        last_pulled: None,
        max_decoded: -1,
        end_after_show: None,
        stepping: 0,
        prefetch: true,
        stats: PlayerStats {
            cache_budget: opts.cache_bytes,
            ..Default::default()
        },
        closed: false,
        scrub: None,
        format: opts.output_format,
    };
    if let Some(path) = opts.scrub_proxy {
        engine.use_scrub_proxy(path);
    }
    let info = ClipInfo {
        media: engine.facts.info.clone(),
        clock: engine.facts.clock,
        output_size: engine.dec.out_size,
        has_audio: engine.audio.is_some(),
        audio_device: engine.audio.as_ref().is_some_and(|a| a.device),
        keyframes: engine.facts.keyframes.clone(),
    };
    engine.emit(PlayerEvent::Opened(info));
    engine.emit(PlayerEvent::State(PlayerState::Paused));
    engine.run(commands);
    engine.emit(PlayerEvent::State(PlayerState::Closed));
}

impl Engine {
    fn emit(&self, ev: PlayerEvent) {
        // The caller may have dropped its receiver; the player then just runs until closed.
        let _ = self.events.send(ev);
    }

    fn run(&mut self, commands: &Receiver<PlayerCommand>) {
        while !self.closed {
            let wait = self.wait_time();
            match commands.recv_timeout(wait) {
                Ok(cmd) => {
                    self.handle(cmd);
                    while let Ok(cmd) = commands.try_recv() {
                        self.handle(cmd);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.closed {
                break;
            }
            if let Err(e) = self.tick(commands) {
                self.fail(e);
            }
            if let Some(p) = self.dec.take_buffering() {
                self.emit(PlayerEvent::Buffering(p));
            }
            if let Some(e) = self.audio.as_ref().and_then(|a| a.poll_error()) {
                tracing::warn!("audio stopped: {e}");
                self.audio = None;
            }
            self.publish_stats();
        }
    }

    /// How long the loop may sleep: until the next frame is due when playing, briefly while
    /// there is decoding to do, and otherwise until a command arrives (bounded, to notice bus
    /// errors).
    fn wait_time(&self) -> Duration {
        if self.want.is_some() {
            return Duration::ZERO;
        }
        if let Some(p) = &self.playing {
            let pos = self.clock_pos();
            let idx = self.rate.frame_at(pos, TimeUnit::Nanos);
            let next = if p.rate > 0.0 { idx + 1 } else { idx };
            let next_ns = self.rate.frame_to_time(next, TimeUnit::Nanos);
            let dt = ((next_ns - pos).abs() as f64 / p.rate.abs()) as u64;
            let busy = self.job_until.is_some() || self.needs_play_ahead();
            let cap = if busy { 1_000_000 } else { 5_000_000 };
            return Duration::from_nanos(dt.min(cap));
        }
        if self.prefetch && self.idle_work_pending() {
            Duration::ZERO
        } else {
            Duration::from_millis(100)
        }
    }

    fn fail(&mut self, e: PlayerError) {
        tracing::warn!("player error: {e}");
        self.emit(PlayerEvent::Error(e));
        if self.playing.take().is_some() {
            if let Some(a) = self.audio.as_mut() {
                a.pause();
            }
            self.emit(PlayerEvent::Ended(StopReason::Error));
            self.emit(PlayerEvent::State(PlayerState::Paused));
        }
        self.want = None;
        self.job_until = None;
        self.prefetch = false;
        // The pipeline may have stopped streaming: the next request seeks.
        self.dec.next_index = i64::MIN / 2;
    }

    fn last_index(&self) -> Option<i64> {
        self.count.map(|c| c - 1)
    }

    fn clamp(&self, i: i64) -> i64 {
        let i = i.max(0);
        match self.last_index() {
            Some(l) => i.min(l.max(0)),
            None => i,
        }
    }

    fn back_chunk(&self) -> i64 {
        let frame_bytes = self.dec.frame_bytes();
        let cap = self.cache.capacity_frames(frame_bytes) as i64;
        (cap / 3).clamp(2, MAX_BACK_CHUNK)
    }

    fn handle(&mut self, cmd: PlayerCommand) {
        self.prefetch = true;
        if !matches!(
            cmd,
            PlayerCommand::SetVolume(_) | PlayerCommand::SetMute(_) | PlayerCommand::SetLoop(_)
        ) {
            // The caller moved on before the final frame was shown.
            self.end_after_show = None;
        }
        let current = || self.want.or(self.shown).unwrap_or(0);
        match cmd {
            PlayerCommand::Play => {
                let start = match (self.shown, self.last_index()) {
                    (Some(s), Some(l)) if s >= l => 0,
                    (Some(s), _) => s,
                    _ => 0,
                };
                self.start_playing(1.0, start);
            }
            PlayerCommand::Pause => self.stop_playing(),
            PlayerCommand::TogglePlay => {
                if self.playing.is_some() {
                    self.stop_playing();
                } else {
                    self.handle(PlayerCommand::Play);
                }
            }
            PlayerCommand::Seek(i) => {
                self.stepping = 0;
                self.seek(i)
            }
            PlayerCommand::SeekTo(t) => match self.resolve(&t) {
                Ok(i) => self.seek(i),
                Err(e) => self.emit(PlayerEvent::Error(e)),
            },
            PlayerCommand::Step(n) => {
                let from = current();
                self.stepping = n.signum();
                self.stop_playing();
                self.want = Some(self.clamp(from + n));
            }
            PlayerCommand::SetRate(r) => {
                if !r.is_finite() || r == 0.0 || r.abs() > 64.0 {
                    self.emit(PlayerEvent::Error(PlayerError::InvalidRequest(format!(
                        "rate {r}"
                    ))));
                    return;
                }
                let from = current();
                self.start_playing(r, from);
            }
            PlayerCommand::Shuttle(key) => {
                match shuttle_rate(self.playing.as_ref().map(|p| p.rate), key) {
                    Some(r) => {
                        let from = current();
                        self.start_playing(r, from);
                    }
                    None => self.stop_playing(),
                }
            }
            PlayerCommand::SetLoop(range) => match range {
                Some((a, b)) if a > b || a < 0 => self.emit(PlayerEvent::Error(
                    PlayerError::InvalidRequest(format!("loop range {a}..={b}")),
                )),
                Some((a, b)) => self.loop_range = Some((self.clamp(a), self.clamp(b))),
                None => self.loop_range = None,
            },
            PlayerCommand::SetVolume(v) => {
                if let Some(a) = &self.audio {
                    a.set_volume(v);
                }
            }
            PlayerCommand::SetMute(m) => {
                if let Some(a) = &self.audio {
                    a.set_mute(m);
                }
            }
            PlayerCommand::SetOutputSize(w, h) => {
                if w == 0 || h == 0 {
                    self.emit(PlayerEvent::Error(PlayerError::InvalidRequest(
                        "output size 0".into(),
                    )));
                    return;
                }
                self.dec.set_bound(Some((w, h)));
                self.cache.clear();
                // Frames already queued have the old size: force a seek for the redisplay.
                self.dec.next_index = i64::MIN / 2;
                self.job_until = None;
                let at = current();
                if self.playing.is_some() {
                    self.rebase(at);
                } else {
                    self.want = Some(at);
                }
            }
            PlayerCommand::UseScrubProxy(path) => self.use_scrub_proxy(path),
            PlayerCommand::Close => self.closed = true,
        }
    }

    fn use_scrub_proxy(&mut self, path: PathBuf) {
        if crate::proxy::proxy_matches(&path, &self.facts) {
            self.scrub = Some(Scrub { path, dec: None });
        } else {
            tracing::warn!(proxy = %path.display(), "scrub proxy does not match the clip; not used");
        }
    }

    /// Frames of the original that showing `t` would decode, if a keyframe index says.
    fn decode_cost(&self, t: i64, backwards: bool) -> Option<i64> {
        let next = self.dec.next_index;
        if backwards {
            let start = (t - self.back_chunk() + 1).max(0);
            return Some(self.facts.keyframes.seek_run(start)? + (t - start));
        }
        if self.decode_through(t) {
            return Some(t - next + 1);
        }
        self.facts.keyframes.seek_run(t)
    }

    /// Whether reaching `t` by decoding on from where the decoder is costs less than a seek:
    /// with a keyframe index, decoding through a keyframe is never better than seeking to it
    /// (OpenRV's rule: do not re-seek within a GOP, do seek across one).
    fn decode_through(&self, t: i64) -> bool {
        let next = self.dec.next_index;
        if self.eos || next > t {
            return false;
        }
        let through = t - next + 1;
        match self.facts.keyframes.seek_run(t) {
            Some(run) => through <= run + SEEK_OVERHEAD_FRAMES,
            None => through <= FORWARD_DECODE_LIMIT + 1,
        }
    }

    /// Shows the proxy's frame `t` while the original's is decoded. Best effort: a proxy that
    /// fails or disagrees about the frame is dropped for this clip.
    fn show_from_proxy(&mut self, t: i64) {
        let Some(scrub) = self.scrub.as_mut() else {
            return;
        };
        if scrub.dec.is_none() {
            let path = scrub.path.to_string_lossy().to_string();
            match Decoder::open(&path, Some(self.dec.out_size), Some(self.rate), self.format) {
                Ok(d) => scrub.dec = Some(d),
                Err(e) => {
                    tracing::warn!(%e, "scrub proxy cannot be opened; not used");
                    self.scrub = None;
                    return;
                }
            }
        }
        let Some(dec) = scrub.dec.as_mut() else {
            return;
        };
        let pulled = dec.seek(t).and_then(|()| dec.pull_blocking(PROXY_TIMEOUT));
        match pulled {
            Ok(Some(d)) if d.index == t => {
                let mut frame = self.facts.frame(t, d);
                frame.from_proxy = true;
                self.stats.proxy_frames_shown += 1;
                self.present(frame);
            }
            other => {
                let what = match other {
                    Ok(Some(d)) => format!("gave frame {} for {t}", d.index),
                    Ok(None) => format!("ended before frame {t}"),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(%what, "scrub proxy disagrees with the clip; not used");
                self.scrub = None;
            }
        }
    }

    fn resolve(&self, t: &FrameTarget) -> Result<i64, PlayerError> {
        Ok(match t {
            FrameTarget::Index(i) => *i,
            FrameTarget::DisplayNumber(n) => self.facts.clock.index_of_number(*n),
            FrameTarget::Timecode(text) => self.facts.clock.parse_timecode(text)?,
        })
    }

    fn seek(&mut self, i: i64) {
        let i = self.clamp(i);
        if self.playing.is_some() {
            self.rebase(i);
        } else {
            self.want = Some(i);
        }
    }

    fn start_playing(&mut self, rate: f64, from: i64) {
        let from = self.clamp(from);
        self.want = None;
        let pos = self.rate.frame_to_time(from, TimeUnit::Nanos);
        self.playing = Some(Playing {
            rate,
            base_at: Instant::now(),
            base_pos: pos,
        });
        self.sync_audio(pos);
        self.emit(PlayerEvent::State(PlayerState::Playing { rate }));
    }

    /// Moves the clock to frame `i` without changing the rate.
    fn rebase(&mut self, i: i64) {
        let pos = self.rate.frame_to_time(i, TimeUnit::Nanos);
        if let Some(p) = self.playing.as_mut() {
            p.base_at = Instant::now();
            p.base_pos = pos;
        }
        self.sync_audio(pos);
    }

    /// Sound plays at 1× forwards only; otherwise it is paused (silent).
    fn sync_audio(&mut self, pos: i64) {
        let rate = self.playing.as_ref().map(|p| p.rate);
        let origin = self.dec.origin_ns;
        if let Some(a) = self.audio.as_mut() {
            if rate == Some(1.0) {
                if !a.play_from(pos + origin) {
                    tracing::warn!("audio could not start; continuing silent");
                    self.audio = None;
                }
            } else {
                a.pause();
            }
        }
    }

    fn stop_playing(&mut self) {
        if self.playing.take().is_some() {
            if let Some(a) = self.audio.as_mut() {
                a.pause();
            }
            self.emit(PlayerEvent::State(PlayerState::Paused));
        }
    }

    /// Clip time (ns from the first frame) now: the sound's position while it plays, else the
    /// system clock from the last rebase.
    fn clock_pos(&self) -> i64 {
        let Some(p) = &self.playing else {
            return self
                .shown
                .map(|s| self.rate.frame_to_time(s, TimeUnit::Nanos))
                .unwrap_or(0);
        };
        if p.rate == 1.0
            && let Some(pos) = self.audio.as_ref().and_then(|a| a.position_ns())
        {
            return pos - self.dec.origin_ns;
        }
        p.base_pos + (p.base_at.elapsed().as_nanos() as f64 * p.rate) as i64
    }

    fn publish_stats(&mut self) {
        self.stats.cache_bytes = self.cache.bytes();
        self.stats.cache_peak_bytes = self.cache.peak();
        self.stats.cache_budget = self.cache.budget();
        if let Ok(mut s) = self.shared.stats.lock() {
            *s = self.stats;
        }
    }

    /// Puts the frame for `index` on screen.
    fn show(&mut self, index: i64) {
        let Some(f) = self.cache.get(index) else {
            return;
        };
        let mut frame = f.clone();
        // An aliased (held VFR) frame is shown as the position it stands for.
        frame.index = index;
        frame.number = self.facts.clock.display_number(index);
        frame.timecode = self.facts.clock.timecode(index);
        self.present(frame);
        if let Some(reason) = self.end_after_show.take() {
            self.emit(PlayerEvent::Ended(reason));
        }
    }

    /// Hands `frame` to the caller as the frame on screen.
    fn present(&mut self, frame: Frame) {
        let index = frame.index;
        self.shown = Some(index);
        self.stats.frames_shown += 1;
        if let Ok(mut l) = self.shared.latest.lock() {
            *l = Some(frame.clone());
        }
        if self.frame_events {
            self.emit(PlayerEvent::Frame(frame));
        }
    }

    fn frame_from(&self, d: Decoded) -> Frame {
        self.facts.frame(d.index, d)
    }

    fn decoder_seek(&mut self, index: i64) -> Result<(), PlayerError> {
        self.stats.seeks += 1;
        self.eos = false;
        self.seek_target = Some(index);
        self.last_pulled = None;
        self.dec.seek(index)
    }

    /// Points the decoder at `target`: nothing to do when it is a short way ahead, else a seek.
    fn aim_at(&mut self, target: i64) -> Result<(), PlayerError> {
        if !self.decode_through(target) {
            self.decoder_seek(target)?;
        }
        self.job_until = Some(target);
        Ok(())
    }

    /// Starts a backward run ending at `end`: every frame of `[end − chunk + 1, end]` is kept.
    fn aim_back(&mut self, end: i64) -> Result<(), PlayerError> {
        let start = (end - self.back_chunk() + 1).max(0);
        self.decoder_seek(start)?;
        self.job_until = Some(end);
        Ok(())
    }

    /// Pulls one frame into the cache. `Ok(Some(index))` for a frame, `Ok(None)` when nothing
    /// came within `timeout` or the stream ended (then `self.eos`).
    fn pull_one(&mut self, timeout: Duration) -> Result<Option<i64>, PlayerError> {
        // The frame being sought is the new playhead: evict around it, not the old one.
        let playhead = self.want.or(self.shown).unwrap_or(0);
        match self.dec.pull(timeout)? {
            Pull::Frame(d) => {
                if (d.width, d.height) != self.dec.out_size {
                    // Queued before a size change: useless now.
                    return Ok(None);
                }
                self.stats.frames_decoded += 1;
                let index = d.index;
                let frame = self.frame_from(d);
                // The first frame after a seek contains the target: for VFR media (a held frame
                // spanning several grid positions) it also stands for the target.
                if let Some(t) = self.seek_target.take()
                    && index < t
                    && t - index <= 8
                {
                    self.cache.insert(t, frame.clone(), playhead);
                }
                // Sequential gaps of a few positions are held VFR frames too: the previous
                // frame stays on screen over them.
                if let Some(p) = self.last_pulled
                    && (2..=8).contains(&(index - p))
                    && let Some(held) = self.cache.get(p).cloned()
                {
                    for k in p + 1..index {
                        self.cache.insert(k, held.clone(), playhead);
                    }
                }
                self.last_pulled = Some(index);
                self.max_decoded = self.max_decoded.max(index);
                self.cache.insert(index, frame, playhead);
                if let Some(last) = self.last_index()
                    && index > last
                {
                    // The container under-reported; trust the stream.
                    self.count = Some(index + 1);
                }
                if self.job_until.is_some_and(|u| index >= u) {
                    self.job_until = None;
                }
                Ok(Some(index))
            }
            Pull::Eos => {
                if !self.eos {
                    self.eos = true;
                    // The stream's end is the truth for truncated or under-indexed files.
                    if let Some(p) = self.last_pulled {
                        let end = p + 1;
                        if self.count.is_none_or(|c| c > end) {
                            self.count = Some(end);
                        }
                    }
                }
                self.job_until = None;
                Ok(None)
            }
            Pull::Pending => Ok(None),
        }
    }

    fn tick(&mut self, commands: &Receiver<PlayerCommand>) -> Result<(), PlayerError> {
        if self.playing.is_some() {
            return self.tick_playing();
        }
        if let Some(t) = self.want {
            return self.fulfil(t, commands);
        }
        if self.prefetch {
            self.prefetch_step()?;
        }
        Ok(())
    }

    /// Shows frame `t` while paused, decoding it if needed; returns early when a command
    /// arrives so that a newer target can replace this one.
    fn fulfil(&mut self, t: i64, commands: &Receiver<PlayerCommand>) -> Result<(), PlayerError> {
        let t = self.clamp(t);
        if self.cache.contains(t) {
            self.want = None;
            self.show(t);
            return Ok(());
        }
        // A job already decoding towards `t` (a back run started by the prefetch, or the
        // previous request) will reach it sooner than a new seek.
        let in_flight =
            !self.eos && self.job_until.is_some_and(|u| u >= t) && self.dec.next_index <= t;
        let backwards = self
            .shown
            .is_some_and(|s| t < s && s - t <= self.back_chunk());
        if !in_flight {
            if self.scrub.is_some()
                && self
                    .decode_cost(t, backwards)
                    .is_none_or(|run| run > PROXY_FIRST_RUN)
            {
                self.show_from_proxy(t);
            }
            if backwards {
                self.aim_back(t)?;
            } else {
                self.aim_at(t)?;
            }
        }
        let mut last_progress = Instant::now();
        let mut overshoots = 0u32;
        loop {
            if !commands.is_empty() {
                // Keep the decoder's job; the next tick re-plans with the new target.
                return Ok(());
            }
            match self.pull_one(Duration::from_millis(10))? {
                Some(i) => {
                    last_progress = Instant::now();
                    if self.cache.contains(t) {
                        self.want = None;
                        self.show(t);
                        return Ok(());
                    }
                    if i > t {
                        // Passed the target without a frame for it (a gap in VFR media): the
                        // frame on screen at `t` is the last one before it.
                        let below = (t - 8..t).rev().find(|&k| self.cache.contains(k));
                        if let Some(k) = below {
                            if let Some(f) = self.cache.get(k).cloned() {
                                self.cache.insert(t, f, t);
                            }
                            self.want = None;
                            self.show(t);
                            return Ok(());
                        }
                        // Start earlier, so the frame before `t` is decoded and kept; each
                        // retry reaches further back, and the clip's start always works.
                        overshoots += 1;
                        let back = 8i64 << (2 * overshoots.min(8));
                        self.decoder_seek((t - back).max(0))?;
                        self.job_until = Some(t);
                    }
                }
                None if self.eos => {
                    // Asked for a frame past the end of the data the container promised (a
                    // truncated file). Where the data really ends is unknown without a search,
                    // so: report it, remember that nothing from `t` on exists, and stay on the
                    // frame on screen.
                    self.want = None;
                    let count = self.count.unwrap_or(0).max(0) as u64;
                    self.emit(PlayerEvent::Error(PlayerError::Corrupt(format!(
                        "frame {t} is missing: the media ends before it ({count} frames announced)"
                    ))));
                    if self.last_pulled.is_none() {
                        self.count = Some(t.max(1));
                    }
                    self.dec.next_index = i64::MIN / 2;
                    return Ok(());
                }
                None => {
                    if last_progress.elapsed() > STALL {
                        self.want = None;
                        return Err(PlayerError::Timeout("decoding a frame"));
                    }
                }
            }
        }
    }

    /// Whether the idle prefetch has something to do.
    fn idle_work_pending(&self) -> bool {
        let Some(s) = self.shown else { return false };
        if self.job_until.is_some() && !self.eos {
            return true;
        }
        let ahead = self.cache.run_len(s + 1, 1, PAUSED_AHEAD);
        let ahead_end = s + 1 + ahead;
        let can_ahead = !self.eos
            && self.last_index().is_none_or(|l| ahead_end <= l)
            && ahead < PAUSED_AHEAD
            && self.dec.next_index <= ahead_end
            && ahead_end - self.dec.next_index <= FORWARD_DECODE_LIMIT;
        let behind = self.cache.run_len(s - 1, -1, self.back_chunk());
        let can_back =
            self.stepping <= 0 && behind < self.back_chunk() * 2 / 3 && s - 1 - behind >= 0;
        can_ahead || can_back
    }

    /// One unit of background decoding while paused: first the frames just ahead (cheap, the
    /// decoder is usually already there), then a run behind the playhead.
    fn prefetch_step(&mut self) -> Result<(), PlayerError> {
        let Some(s) = self.shown else { return Ok(()) };
        if self.job_until.is_some() && !self.eos {
            self.pull_one(Duration::from_millis(5))?;
            return Ok(());
        }
        let ahead = self.cache.run_len(s + 1, 1, PAUSED_AHEAD);
        let ahead_end = s + 1 + ahead;
        if !self.eos
            && self.last_index().is_none_or(|l| ahead_end <= l)
            && ahead < PAUSED_AHEAD
            && self.dec.next_index <= ahead_end
            && ahead_end - self.dec.next_index <= FORWARD_DECODE_LIMIT
        {
            self.pull_one(Duration::from_millis(5))?;
            return Ok(());
        }
        let behind = self.cache.run_len(s - 1, -1, self.back_chunk());
        let end = s - 1 - behind;
        if self.stepping <= 0 && behind < self.back_chunk() * 2 / 3 && end >= 0 {
            self.aim_back(end)?;
            self.pull_one(Duration::from_millis(5))?;
        }
        Ok(())
    }

    fn needs_play_ahead(&self) -> bool {
        let (Some(p), Some(s)) = (&self.playing, self.shown) else {
            return false;
        };
        if p.rate > 0.0 {
            !self.eos && self.cache.run_len(s, 1, PLAY_AHEAD) < PLAY_AHEAD
        } else {
            self.cache.run_len(s, -1, self.back_chunk()) < self.back_chunk() / 2 && s > 0
        }
    }

    /// Stops on frame `at`; `Ended` is sent once that frame is on screen.
    fn end(&mut self, reason: StopReason, at: i64) {
        self.stop_playing();
        self.end_after_show = Some(reason);
        if self.cache.contains(at) && self.shown != Some(at) {
            self.show(at);
        } else if self.shown == Some(at) {
            self.end_after_show = None;
            self.emit(PlayerEvent::Ended(reason));
        } else {
            self.want = Some(at);
        }
    }

    fn tick_playing(&mut self) -> Result<(), PlayerError> {
        let Some(rate) = self.playing.as_ref().map(|p| p.rate) else {
            return Ok(());
        };
        let forward = rate > 0.0;
        let pos = self.clock_pos();
        let mut target = self.rate.frame_at(pos, TimeUnit::Nanos);
        let (lo, hi) = match self.loop_range {
            Some((a, b)) => (a, b),
            None => (0, self.last_index().unwrap_or(i64::MAX)),
        };
        if forward && target > hi {
            if self.loop_range.is_some() {
                self.rebase(lo);
                target = lo;
            } else {
                self.end(StopReason::EndOfMedia, hi);
                return Ok(());
            }
        } else if !forward && target < lo {
            if self.loop_range.is_some() {
                self.rebase(hi);
                target = hi;
            } else {
                self.end(StopReason::StartOfMedia, lo);
                return Ok(());
            }
        }
        if forward && self.eos && target >= self.dec.next_index && self.cache.get(target).is_none()
        {
            // The stream ended before the container's count: the last decoded frame is the end.
            let last = self.last_pulled.unwrap_or(self.max_decoded);
            self.count = Some(last + 1);
            self.end(StopReason::EndOfMedia, last.max(0));
            return Ok(());
        }

        if self.shown != Some(target) {
            if self.cache.contains(target) {
                if let Some(s) = self.shown {
                    let skipped = if forward {
                        target - s - 1
                    } else {
                        s - target - 1
                    };
                    if rate.abs() == 1.0 && skipped > 0 {
                        self.stats.dropped_frames += skipped as u64;
                    }
                }
                self.show(target);
            } else if forward {
                let next = self.dec.next_index;
                // Decoding on from where the decoder is always makes progress; a seek costs a
                // decode from the keyframe. So seek only when the decoder cannot get there by
                // decoding on (it is past the target, or at the end), or is hopelessly behind
                // (fast shuttle on long-GOP media), and then aim ahead of the clock.
                let lead = ((rate - 1.0).max(0.0) * 6.0) as i64;
                if self.eos || next > target + 1 || target - next > SEEK_LAG_FRAMES {
                    let to = self.clamp(target + lead);
                    self.decoder_seek(to)?;
                    self.job_until = Some(to);
                }
            } else if self.job_until.is_none() {
                self.aim_back(target)?;
            }
        }

        // Decode ahead of the clock, a few frames per tick so the clock is never starved.
        let deadline = Instant::now() + Duration::from_millis(8);
        while Instant::now() < deadline {
            let s = self.shown.unwrap_or(target);
            if forward {
                let want_more =
                    !self.eos && self.cache.run_len(target.max(s), 1, PLAY_AHEAD) < PLAY_AHEAD;
                if !want_more && self.job_until.is_none() {
                    break;
                }
            } else {
                let behind = self.cache.run_len(target, -1, self.back_chunk());
                if self.job_until.is_none() {
                    let end = target - behind;
                    if behind < self.back_chunk() / 2 && end >= lo.max(0) {
                        self.aim_back(end)?;
                    } else {
                        break;
                    }
                }
            }
            match self.pull_one(Duration::from_millis(2))? {
                Some(i) if i == target && self.shown != Some(target) => {
                    self.show(target);
                }
                Some(_) => {}
                None => break,
            }
        }
        // Too slow for the clock (a shuttle faster than the decoder): show the newest frame
        // decoded so far rather than none; the picture moves at the decoder's speed.
        if forward && self.shown.is_some_and(|s| s < target) && !self.cache.contains(target) {
            let s = self.shown.unwrap_or(target);
            if let Some(k) = (s + 1..target).rev().find(|&k| self.cache.contains(k)) {
                if rate.abs() == 1.0 {
                    self.stats.dropped_frames += (k - s - 1).max(0) as u64;
                }
                self.show(k);
            }
        }
        Ok(())
    }
}

/// The J/K/L rule as a pure function (for shells that want to show the next speed).
pub fn shuttle_rate(current: Option<f64>, key: ShuttleKey) -> Option<f64> {
    match (key, current) {
        (ShuttleKey::K, _) => None,
        (ShuttleKey::L, Some(r)) if r >= 1.0 => Some((r * 2.0).min(MAX_SHUTTLE)),
        (ShuttleKey::L, _) => Some(1.0),
        (ShuttleKey::J, Some(r)) if r <= -1.0 => Some((r * 2.0).max(-MAX_SHUTTLE)),
        (ShuttleKey::J, _) => Some(-1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuttle_doubles_up_to_eight_both_ways() {
        use ShuttleKey::*;
        let mut r = None;
        let mut seen = vec![];
        for _ in 0..5 {
            r = shuttle_rate(r, L);
            seen.push(r);
        }
        assert_eq!(
            seen,
            [Some(1.0), Some(2.0), Some(4.0), Some(8.0), Some(8.0)]
        );
        assert_eq!(shuttle_rate(Some(4.0), J), Some(-1.0));
        assert_eq!(shuttle_rate(Some(-1.0), J), Some(-2.0));
        assert_eq!(shuttle_rate(Some(-8.0), J), Some(-8.0));
        assert_eq!(shuttle_rate(Some(-2.0), L), Some(1.0));
        assert_eq!(shuttle_rate(Some(2.0), K), None);
    }
}
