//! Media facts for the library (`probe`), a representative picture (`thumbnail`) and one exact
//! frame as PNG (`snapshot`), all through the engine's own frame source, so what the library
//! says about a clip is what the player will show.
//!
//! Where the facts come from, first match wins:
//! * a sidecar `<media>.framenote.json` next to the file: `{"first_frame": 1001,
//!   "start_timecode": "01:00:00:00", "frame_rate": "24000/1001"}`, every key optional (the
//!   timecode's separator decides drop-frame: `;` for DF);
//! * a QuickTime/MP4 `tmcd` track for the start timecode, and the video track's sample count
//!   for the frame count (see `mov`);
//! * the decoder's caps for rate and size, the container duration for the frame count;
//! * defaults: start timecode 00:00:00:00 (reported as `None`), first frame [`DEFAULT_FIRST_FRAME`].

use std::path::Path;
use std::time::Duration;

use framenote_core::MediaInfo;
use framenote_core::timecode::{FrameClock, FrameRate, TimeUnit, Timecode};

use crate::decoder::{Decoded, Decoder, to_uri};
use crate::frame::OutputFormat;
use crate::keyframes::KeyframeIndex;
use crate::{PlayerError, mov};

/// The number shown for the first frame when nothing says otherwise.
pub const DEFAULT_FIRST_FRAME: i64 = 0;

/// How long a single frame may take to decode in a snapshot before it is a timeout.
const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

/// Which frame a snapshot is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameTarget {
    /// Position from the first frame, 0-based.
    Index(i64),
    /// The number a person reads (`first_frame + index`).
    DisplayNumber(i64),
    /// A timecode label on the clip's clock, e.g. `01:00:00:12` or `00:59:59;29`.
    Timecode(String),
}

/// What the sidecar may say.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    first_frame: Option<i64>,
    start_timecode: Option<String>,
    frame_rate: Option<String>,
}

fn sidecar_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".framenote.json");
    s.into()
}

fn read_sidecar(path: &Path) -> Result<Sidecar, PlayerError> {
    let p = sidecar_path(path);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| PlayerError::InvalidRequest(format!("sidecar {}: {e}", p.display()))),
        Err(_) => Ok(Sidecar::default()),
    }
}

fn parse_rate(text: &str) -> Result<FrameRate, PlayerError> {
    let bad = || PlayerError::InvalidRequest(format!("frame rate {text:?}: expected N/D"));
    let (n, d) = text.split_once('/').unwrap_or((text, "1"));
    let n = n.trim().parse().map_err(|_| bad())?;
    let d = d.trim().parse().map_err(|_| bad())?;
    Ok(FrameRate::try_new(n, d)?)
}

/// Everything the engine needs to know about a clip before showing a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipFacts {
    /// The library's view.
    pub info: MediaInfo,
    /// Index ↔ number ↔ timecode.
    pub clock: FrameClock,
    /// Where decoding can start.
    pub keyframes: KeyframeIndex,
}

impl ClipFacts {
    /// A decoded picture stamped with its place on this clip's frame grid.
    pub(crate) fn frame(&self, index: i64, d: Decoded) -> crate::Frame {
        crate::Frame {
            index,
            number: self.clock.display_number(index),
            timecode: self.clock.timecode(index),
            time_ns: d.time_ns,
            width: d.width,
            height: d.height,
            stride: d.stride,
            layout: d.layout,
            from_proxy: false,
            data: d.data,
        }
    }
}

/// What the sidecar and the container say without decoding.
pub(crate) struct StaticFacts {
    pub rate: Option<FrameRate>,
    pub start_timecode: Option<String>,
    pub first_frame: Option<i64>,
    pub mov: Option<mov::MovFacts>,
    pub bytes: Option<u64>,
}

/// The container and sidecar facts that do not need decoding.
pub(crate) fn static_facts(media: &str) -> Result<StaticFacts, PlayerError> {
    let (_, local) = to_uri(media)?;
    let Some(path) = local else {
        return Ok(StaticFacts {
            rate: None,
            start_timecode: None,
            first_frame: None,
            mov: None,
            bytes: None,
        });
    };
    let mov = mov::read(&path);
    // Only a file whose index was not found needs the second look.
    if mov.is_none() && mov::lacks_index(&path) {
        return Err(PlayerError::Corrupt(format!(
            "{media}: an MP4/QuickTime file without its index (moov): cut short or never finished"
        )));
    }
    let side = read_sidecar(&path)?;
    Ok(StaticFacts {
        rate: side.frame_rate.as_deref().map(parse_rate).transpose()?,
        start_timecode: side.start_timecode,
        first_frame: side.first_frame,
        mov,
        bytes: std::fs::metadata(&path).ok().map(|m| m.len()),
    })
}

/// Facts from an open decoder plus the static ones.
pub(crate) fn facts_for(
    dec: &Decoder,
    side_tc: Option<String>,
    side_first: Option<i64>,
    mov: Option<mov::MovFacts>,
    bytes: Option<u64>,
) -> Result<ClipFacts, PlayerError> {
    let rate = dec.rate;
    let start_timecode = match side_tc {
        Some(text) => Some(Timecode::parse(&text, rate)?),
        None => mov.as_ref().and_then(|m| m.timecode).and_then(|tc| {
            // A tmcd counting at another rate than the picture is not this clip's clock.
            (tc.quanta == 0 || tc.quanta == rate.nominal())
                .then(|| {
                    Timecode::new(tc.frames, rate, tc.drop_frame && rate.supports_drop_frame()).ok()
                })
                .flatten()
        }),
    };
    let first_frame = side_first.unwrap_or(DEFAULT_FIRST_FRAME);
    let frame_count = mov
        .as_ref()
        .and_then(|m| m.video_samples)
        .filter(|_| dec.source.rate.is_some())
        .or_else(|| {
            dec.duration_ns
                .map(|d| rate.frame_nearest(d, TimeUnit::Nanos).max(0) as u64)
        });
    let clock = FrameClock::new(rate, start_timecode, first_frame)?;
    // Sample numbers are grid positions only at a constant rate.
    let keyframes = match mov {
        Some(m) if m.constant_rate && dec.source.rate.is_some() => {
            KeyframeIndex::from_sync_samples(m.keyframes)
        }
        _ => KeyframeIndex::Unknown,
    };
    Ok(ClipFacts {
        keyframes,
        info: MediaInfo {
            frame_rate: rate,
            start_timecode,
            first_frame,
            frame_count,
            width: Some(dec.source.width),
            height: Some(dec.source.height),
            bytes,
        },
        clock,
    })
}

/// Opens a decoder with the sidecar's rate and returns it with the clip's facts.
pub(crate) fn open_with_facts(
    media: &str,
    bound: Option<(u32, u32)>,
    rate_override: Option<FrameRate>,
    first_frame_override: Option<i64>,
    format: OutputFormat,
) -> Result<(Decoder, ClipFacts), PlayerError> {
    let s = static_facts(media)?;
    let dec = Decoder::open(media, bound, rate_override.or(s.rate), format)?;
    let facts = facts_for(
        &dec,
        s.start_timecode,
        first_frame_override.or(s.first_frame),
        s.mov,
        s.bytes,
    )?;
    Ok((dec, facts))
}

/// Frame rate (rational), frame count, size, start timecode and first frame number of a clip.
pub fn probe(media: impl AsRef<Path>) -> Result<MediaInfo, PlayerError> {
    let media = media.as_ref().to_string_lossy();
    // A small output box: probing needs the caps, not the pixels.
    let (_, facts) = open_with_facts(&media, Some((64, 64)), None, None, OutputFormat::Rgba)?;
    Ok(facts.info)
}

/// Decodes the frame `target` at `size` (a box the picture is fitted into; `None`: full size).
pub(crate) fn decode_one(
    dec: &mut Decoder,
    facts: &ClipFacts,
    target: &FrameTarget,
) -> Result<crate::Frame, PlayerError> {
    let index = match target {
        FrameTarget::Index(i) => *i,
        FrameTarget::DisplayNumber(n) => facts.clock.index_of_number(*n),
        FrameTarget::Timecode(text) => facts.clock.parse_timecode(text)?,
    };
    if index < 0 || facts.info.frame_count.is_some_and(|c| index as u64 >= c) {
        return Err(PlayerError::OutOfRange {
            index,
            count: facts.info.frame_count.unwrap_or(0),
        });
    }
    if index != 0 {
        dec.seek(index)?;
    }
    let d = dec
        .pull_blocking(FRAME_TIMEOUT)?
        .ok_or_else(|| PlayerError::Corrupt(format!("the media ends before frame {index}")))?;
    Ok(facts.frame(index, d))
}

/// One exact frame of `media` as PNG, fitted into `size` (never upscaled, aspect kept).
pub fn snapshot(
    media: impl AsRef<Path>,
    target: FrameTarget,
    size: Option<(u32, u32)>,
) -> Result<Vec<u8>, PlayerError> {
    snapshot_frame(media, target, size)?.to_png()
}

/// One exact frame of `media` as RGBA (what [`snapshot`] encodes).
pub fn snapshot_frame(
    media: impl AsRef<Path>,
    target: FrameTarget,
    size: Option<(u32, u32)>,
) -> Result<crate::Frame, PlayerError> {
    let media = media.as_ref().to_string_lossy();
    let (mut dec, facts) = open_with_facts(&media, size, None, None, OutputFormat::Rgba)?;
    decode_one(&mut dec, &facts, &target)
}

/// A representative picture of `media` as PNG, `width` pixels wide (height from the aspect):
/// the frame a tenth of the way in, which skips fades from black and slates.
pub fn thumbnail(media: impl AsRef<Path>, width: u32) -> Result<Vec<u8>, PlayerError> {
    let media = media.as_ref().to_string_lossy();
    let (mut dec, facts) = open_with_facts(
        &media,
        Some((width.max(2), u32::MAX / 4)),
        None,
        None,
        OutputFormat::Rgba,
    )?;
    let index = facts.info.frame_count.map(|c| (c / 10) as i64).unwrap_or(0);
    decode_one(&mut dec, &facts, &FrameTarget::Index(index))?.to_png()
}
