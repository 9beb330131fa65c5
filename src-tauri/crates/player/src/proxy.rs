//! Scrub proxies: a short-GOP copy of a long-GOP clip, made in the background, that lets a cold
//! seek show the exact frame asked for at once while the original decodes from its keyframe.
//!
//! A seek deep into a 250-frame GOP must decode up to 250 frames of the original — about 2.5 s
//! of 1080p H.264 on two cores — and nothing can shorten that. The proxy (H.264, a keyframe every
//! [`PROXY_GOP`] frames, no B-frames, at most 1280×720) decodes at most [`PROXY_GOP`] frames for
//! any target. It has exactly the original's frames with the original's timestamps, so its frame
//! `i` is the original's frame `i`: the index, number and timecode shown are exact, only the
//! picture is lighter until the original's frame replaces it. The maker checks the frame count
//! before it keeps a proxy; a proxy that does not match is deleted, never used.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;

use crate::decoder::{SourceInfo, fit_size, init, to_uri};
use crate::keyframes::KeyframeIndex;
use crate::probe::{ClipFacts, open_with_facts};
use crate::{OutputFormat, PlayerError, mov};

/// Keyframe interval of a proxy: the most frames a proxy seek decodes.
pub const PROXY_GOP: u32 = 12;

/// A clip whose cold seeks may decode more than this many frames gets a proxy.
pub const PROXY_WORTHWHILE_RUN: i64 = 24;

/// The box a proxy's picture fits in.
const PROXY_BOX: (u32, u32) = (1280, 720);

/// Whether a clip with these facts is worth a scrub proxy: its keyframes are known to be far
/// apart (unknown keyframes — not MP4/MOV — are not guessed at).
pub fn wants_scrub_proxy(facts: &ClipFacts) -> bool {
    long_gop(&facts.keyframes, facts.info.frame_count)
}

/// Whether the file at `media` (MP4/MOV) is worth a scrub proxy, from its container alone — no
/// decoding, so it is cheap enough to ask whenever a download completes.
pub fn file_wants_scrub_proxy(media: impl AsRef<Path>) -> bool {
    mov::read(media.as_ref()).is_some_and(|m| {
        long_gop(
            &KeyframeIndex::from_sync_samples(m.keyframes),
            m.video_samples,
        )
    })
}

pub(crate) fn long_gop(keyframes: &KeyframeIndex, frames: Option<u64>) -> bool {
    keyframes
        .longest_run(frames)
        .is_some_and(|run| run > PROXY_WORTHWHILE_RUN)
}

/// What a finished proxy is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrubProxy {
    /// The proxy file.
    pub path: PathBuf,
    /// Its frame count, equal to the original's.
    pub frames: u64,
    /// Its picture size.
    pub size: (u32, u32),
    /// How long making it took.
    pub took: Duration,
}

/// Makes the scrub proxy of `media` at `out` (written to a temporary name beside it, renamed
/// when complete and checked). `progress` gets 0.0–1.0 now and then; `cancel` stops the work
/// (the partial file is removed).
pub fn make_scrub_proxy(
    media: impl AsRef<Path>,
    out: impl AsRef<Path>,
    progress: &dyn Fn(f32),
    cancel: &AtomicBool,
) -> Result<ScrubProxy, PlayerError> {
    init()?;
    let started = Instant::now();
    let media = media.as_ref().to_string_lossy().to_string();
    let out = out.as_ref().to_path_buf();
    let (dec, facts) = open_with_facts(&media, None, None, None, OutputFormat::I420)?;
    let source: SourceInfo = dec.source;
    drop(dec);
    let (w, h) = fit_size(&source, Some(PROXY_BOX));
    // x264 wants even sizes for 4:2:0.
    let (w, h) = ((w & !1).max(2), (h & !1).max(2));
    let tmp = out.with_extension("partial.mp4");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PlayerError::Unreadable {
            path: dir.display().to_string(),
            detail: e.to_string(),
        })?;
    }
    let result = encode(&media, &tmp, (w, h), progress, cancel);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The proxy stands in for the original frame by frame: anything else is useless.
    let frames = mov::read(&tmp).and_then(|m| m.video_samples);
    let expected = facts.info.frame_count;
    if frames.is_none() || frames != expected {
        let _ = std::fs::remove_file(&tmp);
        return Err(PlayerError::Corrupt(format!(
            "{media}: the scrub proxy has {frames:?} frames, the original {expected:?}"
        )));
    }
    std::fs::rename(&tmp, &out).map_err(|e| PlayerError::Unreadable {
        path: out.display().to_string(),
        detail: e.to_string(),
    })?;
    progress(1.0);
    Ok(ScrubProxy {
        path: out,
        frames: frames.unwrap_or(0),
        size: (w, h),
        took: started.elapsed(),
    })
}

/// Whether `proxy` is a usable scrub proxy for a clip with `facts`: same frame count, and
/// keyframes close together.
pub(crate) fn proxy_matches(proxy: &Path, facts: &ClipFacts) -> bool {
    let Some(m) = mov::read(proxy) else {
        return false;
    };
    let short = KeyframeIndex::from_sync_samples(m.keyframes.clone())
        .longest_run(m.video_samples)
        .is_some_and(|run| run <= i64::from(PROXY_GOP));
    short && m.video_samples.is_some() && m.video_samples == facts.info.frame_count
}

fn encode(
    media: &str,
    tmp: &Path,
    (w, h): (u32, u32),
    progress: &dyn Fn(f32),
    cancel: &AtomicBool,
) -> Result<(), PlayerError> {
    let (uri, _) = to_uri(media)?;
    let location = tmp.to_string_lossy();
    // Audio pads of uridecodebin stay unlinked (not-linked is only fatal when every stream is).
    // `caps` stops decodebin at raw video so audio is never decoded.
    let description = format!(
        "uridecodebin name=src uri=\"{uri}\" caps=\"video/x-raw;audio/x-raw\" \
         src. ! queue ! videoconvert ! videoscale ! \
         video/x-raw,format=I420,width={w},height={h},pixel-aspect-ratio=1/1 ! \
         x264enc speed-preset=ultrafast tune=fastdecode key-int-max={PROXY_GOP} bframes=0 \
         pass=quant quantizer=21 ! video/x-h264,profile=constrained-baseline ! h264parse ! \
         mp4mux ! filesink location=\"{location}\""
    );
    let pipeline = gst::parse::launch(&description)
        .map_err(|e| PlayerError::MissingElement(format!("scrub proxy pipeline: {e}")))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| PlayerError::Pipeline("scrub proxy pipeline is not a pipeline".into()))?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| PlayerError::Pipeline("pipeline without a bus".into()))?;
    let stop = |p: &gst::Pipeline| {
        let _ = p.set_state(gst::State::Null);
    };
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| PlayerError::Pipeline("the scrub proxy pipeline did not start".into()))?;
    let mut last_report = Instant::now();
    loop {
        if cancel.load(Ordering::Relaxed) {
            stop(&pipeline);
            return Err(PlayerError::Cancelled);
        }
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        ) {
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => {
                    stop(&pipeline);
                    return Err(crate::decoder::classify(
                        &e.error(),
                        e.debug().as_deref(),
                        media,
                    ));
                }
                _ => {}
            }
        }
        if last_report.elapsed() > Duration::from_millis(500) {
            last_report = Instant::now();
            let pos = pipeline.query_position::<gst::ClockTime>();
            let dur = pipeline.query_duration::<gst::ClockTime>();
            if let (Some(p), Some(d)) = (pos, dur)
                && d.nseconds() > 0
            {
                progress((p.nseconds() as f64 / d.nseconds() as f64).clamp(0.0, 0.99) as f32);
            }
        }
    }
    stop(&pipeline);
    Ok(())
}
