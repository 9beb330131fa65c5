//! The engine on the corpus: every seek, step and play lands on the frame it reports, read back
//! from the pixels. Waits have generous deadlines only so that a hang fails instead of blocking
//! CI; nothing here asserts on time.

use std::time::{Duration, Instant};

use framenote_core::timecode::FrameRate;
use std::sync::atomic::AtomicBool;

use framenote_player::{
    AudioOutput, ClipInfo, Frame, OpenOptions, OutputFormat, Player, PlayerCommand, PlayerError,
    PlayerEvent, PlayerState, ShuttleKey, StopReason, make_scrub_proxy,
};

use crate::code;
use crate::setup::clip;

const DEADLINE: Duration = Duration::from_secs(120);

/// A tiny seeded generator (xorshift64*), so a failure can be replayed.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n
    }
}

pub struct Clip {
    pub player: Player,
    pub info: ClipInfo,
}

pub fn options() -> OpenOptions {
    OpenOptions {
        output_size: Some((320, 180)),
        audio: AudioOutput::Fake,
        ..Default::default()
    }
}

/// Opens a corpus clip and waits for its first frame.
pub fn open(name: &str, opts: OpenOptions) -> Clip {
    let player = Player::open(clip(name).to_string_lossy(), opts);
    let mut info = None;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let ev = player
            .events()
            .recv_deadline(deadline)
            .unwrap_or_else(|_| panic!("{name}: no first frame"));
        match ev {
            PlayerEvent::Opened(i) => info = Some(i),
            PlayerEvent::Frame(f) => {
                assert_eq!(f.index, 0);
                let info = info.expect("Opened comes before the first frame");
                return Clip { player, info };
            }
            PlayerEvent::Error(e) => panic!("{name}: {e}"),
            _ => {}
        }
    }
}

impl Clip {
    pub fn drain(&self) {
        while self.player.events().try_recv().is_ok() {}
    }

    /// The next frame event (panics on an error event).
    pub fn next_frame(&self) -> Frame {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.player.events().recv_deadline(deadline) {
                Ok(PlayerEvent::Frame(f)) => return f,
                Ok(PlayerEvent::Error(e)) => panic!("error event: {e}"),
                Ok(_) => {}
                Err(_) => panic!("no frame within {DEADLINE:?}"),
            }
        }
    }

    /// Sends `cmd` and returns the first frame shown after it.
    pub fn command_frame(&self, cmd: PlayerCommand) -> Frame {
        self.drain();
        self.player.send(cmd).unwrap();
        self.next_frame()
    }

    /// Asserts that `f` is frame `index`: position, number, timecode, and the code in its pixels
    /// (`expect_code` maps an index to the code its picture carries).
    pub fn check(&self, f: &Frame, index: i64, expect_code: impl Fn(i64) -> u32, ctx: &str) {
        assert_eq!(f.index, index, "{ctx}: shown index");
        assert_eq!(
            code::read(f),
            Ok(expect_code(index)),
            "{ctx}: pixels of frame {index}"
        );
        assert_eq!(
            f.number,
            self.info.clock.display_number(index),
            "{ctx}: number"
        );
        assert_eq!(
            f.timecode,
            self.info.clock.timecode(index),
            "{ctx}: timecode"
        );
    }
}

fn identity(i: i64) -> u32 {
    i as u32
}

fn random_seeks(name: &str, n: usize, seed: u64) {
    random_seeks_with(name, n, seed, options());
}

fn random_seeks_with(name: &str, n: usize, seed: u64, opts: OpenOptions) {
    let c = open(name, opts);
    let count = c.info.media.frame_count.unwrap() as i64;
    let mut rng = Rng::new(seed);
    for k in 0..n {
        // Mix far jumps with near ones and the edges, which are where off-by-ones hide.
        let i = match k % 5 {
            0 => 0,
            1 => count - 1,
            _ => rng.below(count as u64) as i64,
        };
        let f = c.command_frame(PlayerCommand::Seek(i));
        c.check(&f, i, identity, &format!("{name} seek #{k}"));
    }
}

#[test]
fn random_seeks_long_gop_h264() {
    random_seeks("h264_2398_gop250.mp4", 60, 0x5eed_0001);
}

#[test]
fn random_seeks_long_gop_h264_as_yuv() {
    // The app's viewer path: I420 planes, read back through the same colour conversion.
    let opts = OpenOptions {
        output_format: OutputFormat::I420,
        ..options()
    };
    random_seeks_with("h264_2398_gop250.mp4", 30, 0x5eed_0011, opts);
}

#[test]
fn scrub_proxy_shows_the_exact_frame_first_then_the_original() {
    let name = "h264_2398_gop250.mp4";
    let dir = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let proxy =
        make_scrub_proxy(clip(name), dir.path().join("scrub.mp4"), &|_| {}, &cancel).unwrap();
    let c = open(
        name,
        OpenOptions {
            scrub_proxy: Some(proxy.path.clone()),
            ..options()
        },
    );
    let count = c.info.media.frame_count.unwrap() as i64;
    assert_eq!(
        proxy.frames, count as u64,
        "the proxy has the original's frames"
    );
    assert!(wants_scrub_proxy_for(&c), "a GOP of 250 wants a proxy");
    let mut rng = Rng::new(0x5eed_0012);
    let mut from_proxy = 0;
    for k in 0..25 {
        // Deep into a GOP, where the original must decode many frames first. A frame already
        // decoded (revisited, or prefetched around an earlier seek) comes from the cache.
        let i = (rng.below(count as u64 / 250) as i64) * 250 + 60 + rng.below(180) as i64;
        let i = i.min(count - 1);
        let first = c.command_frame(PlayerCommand::Seek(i));
        c.check(&first, i, identity, &format!("seek #{k}, first frame"));
        if first.from_proxy {
            from_proxy += 1;
            let full = c.next_frame();
            assert!(
                !full.from_proxy,
                "seek #{k}: the original's frame follows the proxy's"
            );
            c.check(
                &full,
                i,
                identity,
                &format!("original after proxy seek #{k}"),
            );
        }
    }
    assert!(
        from_proxy >= 10,
        "deep cold seeks show the proxy first ({from_proxy} of 25)"
    );
    // A proxy of another clip is refused, never shown.
    let other = open(
        "tc1001_24.mov",
        OpenOptions {
            scrub_proxy: Some(proxy.path.clone()),
            ..options()
        },
    );
    let f = other.command_frame(PlayerCommand::Seek(50));
    assert!(!f.from_proxy);
    other.check(&f, 50, identity, "tc1001 without a foreign proxy");
}

fn wants_scrub_proxy_for(c: &Clip) -> bool {
    c.info
        .keyframes
        .longest_run(c.info.media.frame_count)
        .is_some_and(|run| run > 24)
}

#[test]
fn random_seeks_drop_frame() {
    random_seeks("df2997_hour.mov", 100, 0x5eed_0002);
}

#[test]
fn random_seeks_prores() {
    random_seeks("prores_25.mov", 100, 0x5eed_0003);
}

#[test]
fn random_seeks_hevc_10bit() {
    random_seeks("hevc10_24.mp4", 100, 0x5eed_0004);
}

#[test]
fn random_seeks_start_1001() {
    random_seeks("tc1001_24.mov", 60, 0x5eed_0005);
}

#[test]
fn step_runs_forward_and_back_across_a_gop_boundary() {
    let name = "h264_2398_gop250.mp4";
    let c = open(name, options());
    // Keyframes at 0, 250, 500…: walk across 250 both ways.
    let mut at = 244;
    let f = c.command_frame(PlayerCommand::Seek(at));
    c.check(&f, at, identity, "start");
    for k in 0..14 {
        at += 1;
        let f = c.command_frame(PlayerCommand::Step(1));
        c.check(&f, at, identity, &format!("step +1 #{k}"));
    }
    for k in 0..40 {
        at -= 1;
        let f = c.command_frame(PlayerCommand::Step(-1));
        c.check(&f, at, identity, &format!("step -1 #{k}"));
    }
    for (k, n) in [5i64, -7, 24, -24, 1, -1, 100, -60].into_iter().enumerate() {
        at += n;
        let f = c.command_frame(PlayerCommand::Step(n));
        c.check(&f, at, identity, &format!("step {n} #{k}"));
    }
    // Steps stop at the ends.
    let f = c.command_frame(PlayerCommand::Seek(1));
    c.check(&f, 1, identity, "seek 1");
    let f = c.command_frame(PlayerCommand::Step(-5));
    c.check(&f, 0, identity, "clamped at 0");
}

#[test]
fn play_then_pause_shows_exact_frames() {
    let c = open("df2997_hour.mov", options());
    c.drain();
    c.player.send(PlayerCommand::Play).unwrap();
    let mut last = -1;
    let mut frames = 0;
    while frames < 20 {
        let f = c.next_frame();
        assert!(f.index > last, "forward play goes forward");
        c.check(&f, f.index, identity, "playing");
        last = f.index;
        frames += 1;
    }
    c.player.send(PlayerCommand::Pause).unwrap();
    // Everything shown after the pause command is exact too, and the frame on screen is the
    // last one shown.
    let deadline = Instant::now() + DEADLINE;
    loop {
        match c.player.events().recv_deadline(deadline).unwrap() {
            PlayerEvent::Frame(f) => c.check(&f, f.index, identity, "pausing"),
            PlayerEvent::State(PlayerState::Paused) => break,
            PlayerEvent::Error(e) => panic!("{e}"),
            _ => {}
        }
    }
    let on_screen = c.player.latest_frame().unwrap();
    c.check(&on_screen, on_screen.index, identity, "paused");
    // A step from there is one frame on.
    let f = c.command_frame(PlayerCommand::Step(1));
    c.check(&f, on_screen.index + 1, identity, "step after pause");
}

#[test]
fn reverse_and_shuttle_play_exact_frames() {
    let c = open("tc1001_24.mov", options());
    let f = c.command_frame(PlayerCommand::Seek(60));
    c.check(&f, 60, identity, "seek");
    c.drain();
    c.player
        .send(PlayerCommand::Shuttle(ShuttleKey::J))
        .unwrap();
    c.player
        .send(PlayerCommand::Shuttle(ShuttleKey::J))
        .unwrap(); // ×2 backwards
    let mut last = 61;
    let deadline = Instant::now() + DEADLINE;
    loop {
        match c.player.events().recv_deadline(deadline).unwrap() {
            PlayerEvent::Frame(f) => {
                assert!(
                    f.index < last,
                    "reverse goes back: {} after {last}",
                    f.index
                );
                c.check(&f, f.index, identity, "reverse ×2");
                last = f.index;
            }
            PlayerEvent::Ended(r) => {
                assert_eq!(r, StopReason::StartOfMedia);
                break;
            }
            PlayerEvent::Error(e) => panic!("{e}"),
            _ => {}
        }
    }
    assert_eq!(last, 0, "reverse play ends on the first frame");
    // L ×4 forwards to the end.
    c.drain();
    for _ in 0..3 {
        c.player
            .send(PlayerCommand::Shuttle(ShuttleKey::L))
            .unwrap();
    }
    let mut last = -1;
    loop {
        match c.player.events().recv_deadline(deadline).unwrap() {
            PlayerEvent::Frame(f) => {
                assert!(f.index > last);
                c.check(&f, f.index, identity, "forward ×4");
                last = f.index;
            }
            PlayerEvent::Ended(r) => {
                assert_eq!(r, StopReason::EndOfMedia);
                break;
            }
            PlayerEvent::Error(e) => panic!("{e}"),
            _ => {}
        }
    }
    assert_eq!(last, 71, "forward play ends on the last frame");
}

#[test]
fn loop_between_in_and_out() {
    let c = open("prores_25.mov", options());
    c.player
        .send(PlayerCommand::SetLoop(Some((10, 20))))
        .unwrap();
    let f = c.command_frame(PlayerCommand::Seek(15));
    c.check(&f, 15, identity, "seek");
    c.player.send(PlayerCommand::Play).unwrap();
    let mut wraps = 0;
    let mut last = 15;
    while wraps < 2 {
        let f = c.next_frame();
        c.check(&f, f.index, identity, "looping");
        assert!((10..=20).contains(&f.index), "inside the loop: {}", f.index);
        if f.index < last {
            wraps += 1;
        }
        last = f.index;
    }
    c.player.send(PlayerCommand::Pause).unwrap();
}

#[test]
fn drop_frame_timecodes_cross_the_hour() {
    let c = open("df2997_hour.mov", options());
    assert_eq!(c.info.media.frame_rate, FrameRate::FPS_29_97);
    let f = c.command_frame(PlayerCommand::SeekTo(
        framenote_player::FrameTarget::Timecode("00:59:59;29".into()),
    ));
    c.check(&f, 59, identity, "seek by timecode");
    assert_eq!(f.timecode.to_string(), "00:59:59;29");
    let f = c.command_frame(PlayerCommand::Step(1));
    c.check(&f, 60, identity, "step over the hour");
    assert_eq!(f.timecode.to_string(), "01:00:00;00");
    let f = c.command_frame(PlayerCommand::SeekTo(
        framenote_player::FrameTarget::Timecode("01:00:02;00".into()),
    ));
    c.check(&f, 120, identity, "two seconds later");
}

#[test]
fn variable_frame_rate_shows_the_frame_on_screen_at_each_position() {
    let c = open("vfr_24.mp4", options());
    // Samples 0..47 last one grid frame, later ones two (see scripts/corpus.sh).
    let sample_at = |i: i64| {
        if i < 48 {
            i as u32
        } else {
            (48 + (i - 48) / 2) as u32
        }
    };
    let count = c.info.media.frame_count.unwrap() as i64;
    let mut rng = Rng::new(0x5eed_0006);
    for k in 0..60 {
        let i = rng.below(count as u64) as i64;
        let f = c.command_frame(PlayerCommand::Seek(i));
        c.check(&f, i, sample_at, &format!("vfr seek #{k}"));
    }
    let f = c.command_frame(PlayerCommand::Seek(50));
    c.check(&f, 50, sample_at, "vfr seek 50");
    for i in 51..60 {
        let f = c.command_frame(PlayerCommand::Step(1));
        c.check(&f, i, sample_at, "vfr step");
    }
}

#[test]
fn output_size_follows_the_viewport() {
    let c = open("h264_2398_gop250.mp4", options());
    let f = c.command_frame(PlayerCommand::Seek(30));
    assert_eq!((f.width, f.height), (320, 180));
    let f = c.command_frame(PlayerCommand::SetOutputSize(200, 200));
    assert_eq!((f.width, f.height), (200, 113));
    c.check(&f, 30, identity, "after resize");
    let f = c.command_frame(PlayerCommand::Step(1));
    c.check(&f, 31, identity, "step after resize");
    assert_eq!((f.width, f.height), (200, 113));
}

fn open_error(name: &str) -> PlayerError {
    let p = Player::open(clip(name).to_string_lossy(), options());
    let deadline = Instant::now() + DEADLINE;
    let mut err = None;
    loop {
        match p.events().recv_deadline(deadline).expect("an outcome") {
            PlayerEvent::Error(e) => err = Some(e),
            PlayerEvent::State(PlayerState::Failed) => return err.expect("error before Failed"),
            PlayerEvent::Frame(_) => panic!("{name} opened"),
            _ => {}
        }
    }
}

#[test]
fn bad_inputs_fail_alone_with_typed_errors() {
    // A good clip keeps working while bad ones fail next to it.
    let good = open("prores_25.mov", options());
    assert!(matches!(
        open_error("bad/not_media.mp4"),
        PlayerError::NotMedia(_)
    ));
    assert!(matches!(
        open_error("bad/missing.mov"),
        PlayerError::NotFound(_)
    ));
    assert!(matches!(
        open_error("bad/audio_only.m4a"),
        PlayerError::NoVideo(_)
    ));
    assert!(matches!(
        open_error("bad/unsupported_codec.mov"),
        PlayerError::UnsupportedCodec(_)
    ));
    let f = good.command_frame(PlayerCommand::Seek(42));
    good.check(&f, 42, identity, "good clip beside bad ones");

    // Truncated: opens (the index is intact); asking past the cut is a typed error, and the
    // player keeps working.
    let t = open("bad/truncated.mp4", options());
    t.drain();
    t.player.send(PlayerCommand::Seek(900)).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        match t
            .player
            .events()
            .recv_deadline(deadline)
            .expect("an outcome")
        {
            PlayerEvent::Error(PlayerError::Corrupt(_)) => break,
            PlayerEvent::Error(e) => panic!("unexpected {e}"),
            PlayerEvent::Frame(f) => panic!("no frame 900 exists, got {f:?}"),
            _ => {}
        }
    }
    let f = t.command_frame(PlayerCommand::Seek(100));
    t.check(&f, 100, identity, "truncated file still seeks");
    // Playing into the cut ends playback (or reports the damage) with exact frames up to it.
    t.player.send(PlayerCommand::SetRate(8.0)).unwrap();
    let mut last = 100;
    loop {
        match t
            .player
            .events()
            .recv_deadline(deadline)
            .expect("an outcome")
        {
            PlayerEvent::Frame(f) => {
                if f.index < 250 {
                    // Frames at the cut may reference data that is missing.
                    t.check(&f, f.index, identity, "playing a truncated file");
                }
                assert!(f.index > last);
                last = f.index;
            }
            ev @ (PlayerEvent::Ended(_) | PlayerEvent::Error(PlayerError::Corrupt(_))) => {
                let _ = ev;
                break;
            }
            PlayerEvent::Error(e) => panic!("unexpected {e}"),
            _ => {}
        }
    }
    assert!(last > 200 && last < 900, "played up to the cut: {last}");
}

#[test]
fn a_file_deleted_while_open_keeps_its_player_alive() {
    let dir = std::env::temp_dir().join(format!("framenote-del-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("clip.mov");
    std::fs::copy(clip("tc1001_24.mov"), &copy).unwrap();
    let p = Player::open(copy.to_string_lossy(), options());
    let c = Clip {
        info: loop {
            if let PlayerEvent::Opened(i) =
                p.events().recv_deadline(Instant::now() + DEADLINE).unwrap()
            {
                break i;
            }
        },
        player: p,
    };
    c.next_frame();
    std::fs::remove_file(&copy).unwrap();
    // The open file stays readable on POSIX: frames keep coming, exact. If a platform refuses,
    // the player must say so with a typed error, not panic.
    c.drain();
    c.player.send(PlayerCommand::Seek(40)).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        match c.player.events().recv_deadline(deadline).unwrap() {
            PlayerEvent::Frame(f) => {
                c.check(&f, 40, identity, "after delete");
                break;
            }
            PlayerEvent::Error(e) => {
                assert!(matches!(
                    e,
                    PlayerError::NotFound(_) | PlayerError::Unreadable { .. }
                ));
                break;
            }
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
