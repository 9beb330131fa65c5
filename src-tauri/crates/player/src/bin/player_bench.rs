//! player-bench: measures the engine on the hard corpus and prints a table and one JSON line.
//!
//!   player-bench [--corpus DIR] [--play-secs 60] [--seeks 40] [--steps 40]
//!
//! Figures: random accurate seek latency (with, for each seek, the physical floor: decoding from
//! the keyframe at the raw decoder's speed, measured in the same run), single-step latency
//! forwards and backwards, decode-to-UI throughput at 1280×720 next to `gst-launch-1.0 … !
//! decodebin ! fakesink sync=false` on the same file, frames dropped during real-time play, and
//! the cache's peak memory. Needs the corpus (scripts/corpus.sh) and gst-launch-1.0.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use framenote_player::{
    AudioOutput, Frame, OpenOptions, OutputFormat, Player, PlayerCommand, PlayerEvent, PlayerStats,
};

const LONG_GOP: &str = "h264_2398_gop250.mp4";
/// The long-GOP clip's keyframe interval (scripts/corpus.sh: -g 250 -sc_threshold 0).
const GOP: i64 = 250;
/// Pause between steps: a held arrow key repeats at about 25 Hz.
const KEY_REPEAT: Duration = Duration::from_millis(40);

struct Args {
    corpus: PathBuf,
    play_secs: u64,
    seeks: usize,
    steps: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        corpus: PathBuf::from("tests/media/corpus"),
        play_secs: 60,
        seeks: 40,
        steps: 40,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--corpus" => a.corpus = PathBuf::from(v()?),
            "--play-secs" => a.play_secs = v()?.parse().map_err(|e| format!("{e}"))?,
            "--seeks" => a.seeks = v()?.parse().map_err(|e| format!("{e}"))?,
            "--steps" => a.steps = v()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let i = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
    s[i.min(s.len() - 1)]
}

struct Bench {
    player: Player,
}

impl Bench {
    /// Opens `path` as the app's viewer does (I420 at 1280×720) unless `format` says otherwise.
    fn open(path: &str, cache: usize) -> Result<(Bench, i64), String> {
        Self::open_as(path, cache, OutputFormat::I420)
    }

    fn open_as(path: &str, cache: usize, format: OutputFormat) -> Result<(Bench, i64), String> {
        let player = Player::open(
            path,
            OpenOptions {
                output_size: Some((1280, 720)),
                audio: AudioOutput::Fake,
                cache_bytes: cache,
                output_format: format,
                ..Default::default()
            },
        );
        let mut count = 0;
        loop {
            match player.events().recv_timeout(Duration::from_secs(60)) {
                Ok(PlayerEvent::Opened(i)) => count = i.media.frame_count.unwrap_or(0) as i64,
                Ok(PlayerEvent::Frame(_)) => return Ok((Bench { player }, count)),
                Ok(PlayerEvent::Error(e)) => return Err(e.to_string()),
                Ok(_) => {}
                Err(_) => return Err(format!("{path}: no first frame")),
            }
        }
    }

    fn drain(&self) {
        while self.player.events().try_recv().is_ok() {}
    }

    /// Sends `cmd`; returns the latency until the frame `expect` is shown.
    fn timed(&self, cmd: PlayerCommand, expect: i64) -> Result<(Duration, Frame), String> {
        self.drain();
        let cmd_text = format!("{cmd:?}");
        let t = Instant::now();
        self.player.send(cmd).map_err(|e| e.to_string())?;
        loop {
            match self.player.events().recv_timeout(Duration::from_secs(60)) {
                Ok(PlayerEvent::Frame(f)) if f.index == expect => return Ok((t.elapsed(), f)),
                Ok(PlayerEvent::Frame(f)) => {
                    return Err(format!("asked {expect}, got frame {}", f.index));
                }
                Ok(PlayerEvent::Error(e)) => return Err(e.to_string()),
                Ok(_) => {}
                Err(_) => return Err(format!("no frame {expect} within 60 s after {cmd_text}")),
            }
        }
    }

    /// Sends `cmd`; returns the latencies until frame `expect` is first shown (from the scrub
    /// proxy or the cache) and until the original's frame is shown.
    fn timed_both(&self, cmd: PlayerCommand, expect: i64) -> Result<(Duration, Duration), String> {
        self.drain();
        let t = Instant::now();
        self.player.send(cmd).map_err(|e| e.to_string())?;
        let mut first = None;
        loop {
            match self.player.events().recv_timeout(Duration::from_secs(60)) {
                Ok(PlayerEvent::Frame(f)) if f.index == expect => {
                    let at = t.elapsed();
                    let first = *first.get_or_insert(at);
                    if !f.from_proxy {
                        return Ok((first, at));
                    }
                }
                Ok(PlayerEvent::Frame(f)) => {
                    return Err(format!("asked {expect}, got frame {}", f.index));
                }
                Ok(PlayerEvent::Error(e)) => return Err(e.to_string()),
                Ok(_) => {}
                Err(_) => return Err(format!("no frame {expect} within 60 s")),
            }
        }
    }

    fn stats(&self) -> PlayerStats {
        self.player.stats()
    }
}

/// Frames per second of `gst-launch-1.0 filesrc ! decodebin ! <tail>` over the whole file.
fn gst_launch_fps(path: &str, frames: i64, tail: &str) -> Result<f64, String> {
    let pipeline = format!("filesrc location=\"{path}\" ! decodebin ! {tail}");
    let t = Instant::now();
    let out = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .output()
        .map_err(|e| format!("gst-launch-1.0: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gst-launch-1.0 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(frames as f64 / t.elapsed().as_secs_f64())
}

fn run() -> Result<(), String> {
    let a = args()?;
    framenote_player::init().map_err(|e| e.to_string())?;
    let long = a.corpus.join(LONG_GOP);
    let long_s = long.to_string_lossy().to_string();
    if !long.exists() {
        return Err(format!(
            "{} missing: run scripts/corpus.sh first",
            long.display()
        ));
    }
    let mut rng = Rng(0x00be_7c4a_11ed);
    let mut json = serde_json::Map::new();

    // 1. Raw decoder speed, the physical floor of everything else.
    let (probe_b, count) = Bench::open(&long_s, 512 << 20)?;
    drop(probe_b);
    let raw_fps = gst_launch_fps(&long_s, count, "fakesink sync=false")?;
    let raw_720_fps = gst_launch_fps(
        &long_s,
        count,
        "videoconvert ! videoscale ! video/x-raw,format=RGBA,width=1280,height=720 ! fakesink sync=false",
    )?;

    // 2. Random accurate seeks on the long-GOP clip, cold (fresh player: nothing cached).
    let (b, count) = Bench::open(&long_s, 512 << 20)?;
    let targets: Vec<i64> = (0..a.seeks)
        .map(|_| rng.below(count as u64) as i64)
        .collect();
    let mut seek_ms = vec![];
    let mut floor_ms = vec![];
    for &i in &targets {
        let (d, _) = b.timed(PlayerCommand::Seek(i), i)?;
        seek_ms.push(ms(d));
        floor_ms.push(((i % GOP) + 1) as f64 / raw_fps * 1000.0);
    }

    // 2b. The same seeks with a scrub proxy (made here, as the app makes it in the background
    //     for long-GOP media): the exact frame from the proxy first, then the original's.
    let proxy_dir = std::env::temp_dir().join(format!("player-bench-{}", std::process::id()));
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let proxy =
        framenote_player::make_scrub_proxy(&long, proxy_dir.join("scrub.mp4"), &|_| {}, &cancel)
            .map_err(|e| format!("scrub proxy: {e}"))?;
    let proxy_bytes = std::fs::metadata(&proxy.path).map(|m| m.len()).unwrap_or(0);
    let player = Player::open(
        &long_s,
        OpenOptions {
            output_size: Some((1280, 720)),
            audio: AudioOutput::Fake,
            cache_bytes: 512 << 20,
            output_format: OutputFormat::I420,
            scrub_proxy: Some(proxy.path.clone()),
            ..Default::default()
        },
    );
    let pb = Bench { player };
    pb.timed(PlayerCommand::Seek(0), 0)?;
    let mut proxy_first_ms = vec![];
    let mut proxy_full_ms = vec![];
    for &i in &targets {
        let (first, full) = pb.timed_both(PlayerCommand::Seek(i), i)?;
        proxy_first_ms.push(ms(first));
        proxy_full_ms.push(ms(full));
    }
    let proxy_shown = pb.stats().proxy_frames_shown;
    drop(pb);
    let _ = std::fs::remove_dir_all(&proxy_dir);
    // Seeks back into what was just visited (scrubbing back): served from the cache.
    let mut rescrub_ms = vec![];
    let base = 600;
    b.timed(PlayerCommand::Seek(base), base)?;
    for k in 1..=20 {
        let (d, _) = b.timed(PlayerCommand::Seek(base + k), base + k)?;
        let _ = d;
    }
    for k in (0..20).rev() {
        let (d, _) = b.timed(PlayerCommand::Seek(base + k), base + k)?;
        rescrub_ms.push(ms(d));
    }

    // 3. Steps: runs forwards, then backwards, at a keyboard's auto-repeat rate (25 Hz: a held
    //    arrow key), each step timed from the command to its frame.
    let mut fwd_ms = vec![];
    let mut back_ms = vec![];
    for round in 0..3 {
        let start = 100 + round * 300 + rng.below(100) as i64;
        b.timed(PlayerCommand::Seek(start), start)?;
        std::thread::sleep(Duration::from_millis(300)); // a reviewer looks before stepping
        let mut at = start;
        for _ in 0..a.steps / 2 {
            at += 1;
            fwd_ms.push(ms(b.timed(PlayerCommand::Step(1), at)?.0));
            std::thread::sleep(KEY_REPEAT);
        }
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..a.steps {
            at -= 1;
            back_ms.push(ms(b.timed(PlayerCommand::Step(-1), at)?.0));
            std::thread::sleep(KEY_REPEAT);
        }
    }
    let seek_stats = b.stats();
    drop(b);

    // 4. Throughput to the UI at 1280×720: frames stepped through as fast as they come, in the
    //    app's format (I420, converted by the viewer's GPU) and in RGBA (converted here).
    let throughput = |format: OutputFormat| -> Result<f64, String> {
        let (b, _) = Bench::open_as(&long_s, 512 << 20, format)?;
        let n = 480.min(count - 1);
        let t = Instant::now();
        for i in 1..=n {
            b.timed(PlayerCommand::Step(1), i)?;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    };
    // Best of two, alternating with the raw decoder, so a busy moment on a shared machine
    // penalises neither side of the ratio.
    let mut ui_fps = throughput(OutputFormat::I420)?;
    let mut raw_fps = raw_fps;
    raw_fps = raw_fps.max(gst_launch_fps(&long_s, count, "fakesink sync=false")?);
    ui_fps = ui_fps.max(throughput(OutputFormat::I420)?);
    let ui_rgba_fps = throughput(OutputFormat::Rgba)?;

    // 5. Real-time play at 1× (looping the clip) and frames dropped.
    let (b, _) = Bench::open(&long_s, 512 << 20)?;
    b.player
        .send(PlayerCommand::SetLoop(Some((0, count - 1))))
        .map_err(|e| e.to_string())?;
    b.player
        .send(PlayerCommand::Play)
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut shown = 0u64;
    while t.elapsed() < Duration::from_secs(a.play_secs) {
        if let Ok(PlayerEvent::Frame(_)) =
            b.player.events().recv_timeout(Duration::from_millis(100))
        {
            shown += 1;
        }
    }
    b.player
        .send(PlayerCommand::Pause)
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(100));
    let play_stats = b.stats();
    let expected = (a.play_secs as f64 * 24000.0 / 1001.0).round();
    drop(b);

    let rows: Vec<(&str, f64, &str)> = vec![
        (
            "seek p50 (ms)",
            percentile(&seek_ms, 50.0),
            "cold accurate seek, 1080p GOP 250 → 720p",
        ),
        (
            "seek p95 (ms)",
            percentile(&seek_ms, 95.0),
            "no proxy (bounded by the floor)",
        ),
        ("seek max (ms)", percentile(&seek_ms, 100.0), ""),
        (
            "seek floor p95 (ms)",
            percentile(&floor_ms, 95.0),
            "decode keyframe→target at raw speed",
        ),
        (
            "seek p95 / floor p95",
            percentile(&seek_ms, 95.0) / percentile(&floor_ms, 95.0),
            "",
        ),
        (
            "proxy seek p50 (ms)",
            percentile(&proxy_first_ms, 50.0),
            "same seeks, scrub proxy: exact frame on screen",
        ),
        (
            "proxy seek p95 (ms)",
            percentile(&proxy_first_ms, 95.0),
            "target ≤ 150",
        ),
        (
            "proxy seek max (ms)",
            percentile(&proxy_first_ms, 100.0),
            "",
        ),
        (
            "full-quality p95 (ms)",
            percentile(&proxy_full_ms, 95.0),
            "the original's frame replaces the proxy's",
        ),
        (
            "proxy frames shown",
            proxy_shown as f64,
            "of the seeks above",
        ),
        (
            "proxy made in (s)",
            proxy.took.as_secs_f64(),
            "background, 1280x720 GOP 12",
        ),
        ("proxy size (MiB)", proxy_bytes as f64 / 1048576.0, ""),
        (
            "scrub-back p95 (ms)",
            percentile(&rescrub_ms, 95.0),
            "seeks to frames just visited (cache)",
        ),
        ("step fwd p50 (ms)", percentile(&fwd_ms, 50.0), ""),
        (
            "step fwd p95 (ms)",
            percentile(&fwd_ms, 95.0),
            "target ≤ 10",
        ),
        ("step back p50 (ms)", percentile(&back_ms, 50.0), ""),
        (
            "step back p95 (ms)",
            percentile(&back_ms, 95.0),
            "target ≤ 20",
        ),
        (
            "step back max (ms)",
            percentile(&back_ms, 100.0),
            "a cold run behind a deep GOP",
        ),
        (
            "UI fps 1280x720",
            ui_fps,
            "I420 frames delivered to the viewer (app path)",
        ),
        (
            "raw decoder fps",
            raw_fps,
            "gst-launch decodebin ! fakesink",
        ),
        ("UI / raw", ui_fps / raw_fps, "target ≥ 0.8"),
        (
            "raw+convert 720p fps",
            raw_720_fps,
            "gst-launch … RGBA 1280x720 ! fakesink",
        ),
        (
            "UI RGBA fps 1280x720",
            ui_rgba_fps,
            "converted to RGBA on the CPU",
        ),
        ("UI RGBA / raw+convert", ui_rgba_fps / raw_720_fps, ""),
        ("play secs", a.play_secs as f64, ""),
        ("frames shown", shown as f64, ""),
        ("frames expected", expected, ""),
        (
            "dropped at 1x",
            play_stats.dropped_frames as f64,
            "target 0",
        ),
        (
            "cache peak (MiB)",
            seek_stats.cache_peak_bytes.max(play_stats.cache_peak_bytes) as f64 / 1048576.0,
            "budget 512",
        ),
    ];
    println!("{:<24} {:>10}  note", "metric", "value");
    for (k, v, note) in &rows {
        println!("{k:<24} {v:>10.2}  {note}");
        json.insert(
            (*k).to_string(),
            serde_json::json!((v * 100.0).round() / 100.0),
        );
    }
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("player-bench: {e}");
        std::process::exit(1);
    }
}
