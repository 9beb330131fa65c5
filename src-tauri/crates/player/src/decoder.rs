//! The frame source: one video-only GStreamer pipeline that decodes as fast as it is read,
//! converts to RGBA at the viewport's size, and hands frames to whoever owns it (the engine
//! thread, a snapshot, a probe). It never presents anything and keeps no clock.
//!
//! ```text
//! uridecodebin (audio left undecoded → fakesink)
//!   → queue → videoscale → videoconvert → capsfilter(RGBA|I420, W×H, PAR 1/1) → appsink(sync=false)
//! ```
//!
//! For I420 output the converter only scales (the decoder's own 4:2:0 passes through), which
//! keeps decode-to-UI at the raw decoder's speed; the viewer converts to RGB on its GPU.
//!
//! The pipeline stays in PLAYING. Because the appsink does not sync and holds at most a few
//! buffers, the streaming thread decodes ahead and then blocks, so "pause" costs nothing and
//! the next frame of a forward step is usually already waiting. A seek is a flushing ACCURATE
//! seek; the decoder drops the frames before the target without converting them.
//!
//! Frame identity: a frame's index is read from its timestamp, mapped to stream time through
//! the sample's segment (an MP4 edit list makes raw PTS start at e.g. 0.083 s), minus the first
//! frame's stream time, and rounded to the nearest frame start of the stream's own rate. A seek
//! to frame `i` targets a quarter frame after its start, so that it lands inside frame `i`
//! whether the container rounded timestamps up or down and whether or not the decoder clips
//! the timestamp of the straddling frame to the segment start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framenote_core::timecode::{FrameRate, TimeUnit};
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::PlayerError;
use crate::frame::{OutputFormat, PixelLayout, Pixels, YuvMatrix};

/// How long opening may take before it is reported as a timeout (a network URI can be slow).
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Frames the appsink may hold: enough to hide decode jitter, few enough to bound memory.
const SINK_BUFFERS: u32 = 4;

/// What the source picture is, read from the decoder's output caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceInfo {
    pub width: u32,
    pub height: u32,
    /// Pixel aspect ratio as (num, den).
    pub par: (u32, u32),
    /// The caps' frame rate, `None` when the stream declares a variable rate (0/1).
    pub rate: Option<FrameRate>,
}

/// A decoded frame before the engine stamps it with a clip position.
#[derive(Clone)]
pub(crate) struct Decoded {
    /// Index read from the timestamp.
    pub index: i64,
    /// Stream time relative to the first frame, in ns.
    pub time_ns: i64,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub layout: PixelLayout,
    pub data: Pixels,
}

/// A decoded buffer kept mapped: the first `len` bytes are the frame, already tight.
struct MappedFrame {
    map: gst::MappedBuffer<gst::buffer::Readable>,
    len: usize,
}

impl AsRef<[u8]> for MappedFrame {
    fn as_ref(&self) -> &[u8] {
        &self.map.as_slice()[..self.len]
    }
}

/// The result of one pull.
pub(crate) enum Pull {
    Frame(Decoded),
    /// The stream ended (after the last frame, or where a truncated file stops).
    Eos,
    /// Nothing yet within the timeout.
    Pending,
}

/// State the pad-added callback shares with the owner.
#[derive(Default)]
struct Pads {
    video_linked: bool,
    /// decodebin has exposed every stream.
    no_more_pads: bool,
    /// A video stream no installed decoder handles (its caps).
    unknown_video: Option<String>,
    source: Option<SourceInfo>,
    /// Set if linking failed inside the callback.
    link_error: Option<String>,
}

pub(crate) struct Decoder {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    filter: gst::Element,
    format: OutputFormat,
    bus: gst::Bus,
    pads: Arc<Mutex<Pads>>,
    uri: String,
    pub source: SourceInfo,
    pub rate: FrameRate,
    /// Stream time of the first frame (the clip's index 0), in ns.
    pub origin_ns: i64,
    /// Container duration, when known.
    pub duration_ns: Option<i64>,
    pub out_size: (u32, u32),
    /// The first frame, read during open to learn the origin; handed out by the first pull.
    pending_first: Option<Decoded>,
    /// Index the next pull is expected to return (after a seek, the seek target).
    pub next_index: i64,
    buffering: std::cell::Cell<Option<u8>>,
    /// Pulls since the bus was last drained.
    pulls: u32,
}

/// Initialises GStreamer once per process. Safe to call from any thread, any number of times.
pub fn init() -> Result<(), PlayerError> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(PlayerError::Init)
}

/// A path or URI as a URI, with a clear error for a missing local file.
pub(crate) fn to_uri(media: &str) -> Result<(String, Option<PathBuf>), PlayerError> {
    if media.contains("://") {
        if let Some(rest) = media.strip_prefix("file://") {
            let p = PathBuf::from(rest);
            check_local(&p)?;
            return Ok((media.to_owned(), Some(p)));
        }
        return Ok((media.to_owned(), None));
    }
    let p = Path::new(media);
    check_local(p)?;
    let abs = std::fs::canonicalize(p).map_err(|e| PlayerError::Unreadable {
        path: media.to_owned(),
        detail: e.to_string(),
    })?;
    let uri = gst::glib::filename_to_uri(&abs, None)
        .map_err(|e| PlayerError::Unreadable {
            path: media.to_owned(),
            detail: e.to_string(),
        })?
        .to_string();
    Ok((uri, Some(abs)))
}

fn check_local(p: &Path) -> Result<(), PlayerError> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(PlayerError::NotMedia(format!(
            "{} is not a file",
            p.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(PlayerError::NotFound(p.display().to_string()))
        }
        Err(e) => Err(PlayerError::Unreadable {
            path: p.display().to_string(),
            detail: e.to_string(),
        }),
    }
}

fn make(factory: &str) -> Result<gst::Element, PlayerError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| PlayerError::MissingElement(factory.to_owned()))
}

/// Output size: the source's display size (PAR applied) fitted inside `bound`, never upscaled,
/// aspect kept, at least 2×2.
pub(crate) fn fit_size(src: &SourceInfo, bound: Option<(u32, u32)>) -> (u32, u32) {
    let (pn, pd) = (src.par.0.max(1) as u64, src.par.1.max(1) as u64);
    let dw = ((src.width as u64 * pn + pd / 2) / pd).max(2);
    let dh = (src.height as u64).max(2);
    let (w, h) = match bound {
        None => (dw, dh),
        Some((bw, bh)) => {
            let (bw, bh) = (bw.max(2) as u64, bh.max(2) as u64);
            if bw * dh <= bh * dw {
                let w = bw.min(dw);
                (w, (w * dh + dw / 2) / dw)
            } else {
                let h = bh.min(dh);
                ((h * dw + dh / 2) / dh, h)
            }
        }
    };
    (w.max(2) as u32, h.max(2) as u32)
}

/// The size frames leave the pipeline at. RGBA is fitted into `bound` exactly. I420 goes to a
/// viewer whose GPU scales it for free, so the CPU (which the decoder needs) scales only what
/// is more than one and a half times the box in a dimension — a 4K clip in an HD viewer —
/// where the bytes on the wire and in the cache matter more than the scaling work.
pub(crate) fn out_size(
    format: OutputFormat,
    src: &SourceInfo,
    bound: Option<(u32, u32)>,
) -> (u32, u32) {
    let native = fit_size(src, None);
    match (format, bound) {
        (OutputFormat::I420, Some((bw, bh)))
            if native.0 as u64 * 2 <= bw as u64 * 3 && native.1 as u64 * 2 <= bh as u64 * 3 =>
        {
            native
        }
        _ => fit_size(src, bound),
    }
}

fn out_caps(format: OutputFormat, size: Option<(u32, u32)>) -> gst::Caps {
    let name = match format {
        OutputFormat::Rgba => "RGBA",
        OutputFormat::I420 => "I420",
    };
    let mut b = gst::Caps::builder("video/x-raw")
        .field("format", name)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    if let Some((w, h)) = size {
        b = b.field("width", w as i32).field("height", h as i32);
    }
    b.build()
}

fn source_from_caps(caps: &gst::CapsRef) -> Option<SourceInfo> {
    let s = caps.structure(0)?;
    let width = s.get::<i32>("width").ok()?;
    let height = s.get::<i32>("height").ok()?;
    let par = s
        .get::<gst::Fraction>("pixel-aspect-ratio")
        .unwrap_or_else(|_| gst::Fraction::new(1, 1));
    let rate = s.get::<gst::Fraction>("framerate").ok().and_then(|f| {
        (f.numer() > 0 && f.denom() > 0)
            .then(|| FrameRate::try_new(f.numer() as u32, f.denom() as u32).ok())
            .flatten()
    });
    Some(SourceInfo {
        width: width.max(1) as u32,
        height: height.max(1) as u32,
        par: (par.numer().max(1) as u32, par.denom().max(1) as u32),
        rate,
    })
}

/// Turns a GStreamer error message into the player's typed error.
pub(crate) fn classify(err: &gst::glib::Error, debug: Option<&str>, what: &str) -> PlayerError {
    let detail = match debug {
        Some(d) => format!("{what}: {} ({d})", err.message()),
        None => format!("{what}: {}", err.message()),
    };
    if let Some(e) = err.kind::<gst::ResourceError>() {
        return match e {
            gst::ResourceError::NotFound => PlayerError::NotFound(what.to_owned()),
            gst::ResourceError::OpenRead | gst::ResourceError::Read => PlayerError::Unreadable {
                path: what.to_owned(),
                detail: err.message().to_owned(),
            },
            _ => PlayerError::Pipeline(detail),
        };
    }
    if let Some(e) = err.kind::<gst::StreamError>() {
        return match e {
            gst::StreamError::TypeNotFound | gst::StreamError::WrongType => {
                PlayerError::NotMedia(detail)
            }
            gst::StreamError::CodecNotFound => PlayerError::UnsupportedCodec(detail),
            gst::StreamError::Demux | gst::StreamError::Decode | gst::StreamError::Format => {
                PlayerError::Corrupt(detail)
            }
            _ => PlayerError::Pipeline(detail),
        };
    }
    if err.matches(gst::CoreError::MissingPlugin) {
        return PlayerError::UnsupportedCodec(detail);
    }
    PlayerError::Pipeline(detail)
}

impl Decoder {
    /// Opens `media` (a path or URI), prerolls, and reads its first frame. `bound` is the box
    /// the output must fit in (`None`: source size); `rate` overrides the stream's rate (VFR
    /// media, or a sidecar that knows better).
    pub(crate) fn open(
        media: &str,
        bound: Option<(u32, u32)>,
        rate: Option<FrameRate>,
        format: OutputFormat,
    ) -> Result<Decoder, PlayerError> {
        init()?;
        let (uri, _) = to_uri(media)?;
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("uridecodebin")
            .property("uri", &uri)
            .build()
            .map_err(|_| PlayerError::MissingElement("uridecodebin".into()))?;
        let queue = gst::ElementFactory::make("queue")
            .property("max-size-buffers", 3u32)
            .property("max-size-bytes", 0u32)
            .property("max-size-time", 0u64)
            .build()
            .map_err(|_| PlayerError::MissingElement("queue".into()))?;
        let convert = make("videoconvert")?;
        let scale = make("videoscale")?;
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", out_caps(format, None))
            .build()
            .map_err(|_| PlayerError::MissingElement("capsfilter".into()))?;
        let sink = gst_app::AppSink::builder()
            .sync(false)
            .max_buffers(SINK_BUFFERS)
            .drop(false)
            .enable_last_sample(false)
            .qos(false)
            .build();
        pipeline
            .add_many([&src, &queue, &convert, &scale, &filter, sink.upcast_ref()])
            .map_err(|e| PlayerError::Pipeline(e.to_string()))?;
        // Scale first, in the decoder's YUV: converting 1080p to RGBA and then scaling costs
        // about twice as much as scaling YUV and converting the smaller picture.
        gst::Element::link_many([&queue, &scale, &convert, &filter, sink.upcast_ref()])
            .map_err(|e| PlayerError::Pipeline(e.to_string()))?;

        // Audio is the audio pipeline's business: stop decodebin before the audio decoder, and
        // send the compressed audio to a fakesink so the demuxer never sees "not linked".
        src.connect("autoplug-continue", false, |args| {
            let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
            let is_audio = caps
                .as_ref()
                .and_then(|c| c.structure(0))
                .is_some_and(|s| s.name().starts_with("audio/"));
            Some((!is_audio).to_value())
        });

        let pads = Arc::new(Mutex::new(Pads::default()));
        let pads_cb = pads.clone();
        let queue_weak = queue.downgrade();
        let filter_weak = filter.downgrade();
        let pipeline_weak = pipeline.downgrade();
        src.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_raw_video = caps
                .structure(0)
                .is_some_and(|s| s.name().as_str() == "video/x-raw");
            // A poisoned lock only means another callback panicked; the data is still usable.
            let mut p = pads_cb.lock().unwrap_or_else(|e| e.into_inner());
            if is_raw_video && !p.video_linked {
                let (Some(queue), Some(filter)) = (queue_weak.upgrade(), filter_weak.upgrade())
                else {
                    return;
                };
                let info = source_from_caps(&caps);
                if let Some(info) = info {
                    filter.set_property(
                        "caps",
                        out_caps(format, Some(out_size(format, &info, bound))),
                    );
                }
                p.source = info;
                let Some(sinkpad) = queue.static_pad("sink") else {
                    return;
                };
                match pad.link(&sinkpad) {
                    Ok(_) => p.video_linked = true,
                    Err(e) => p.link_error = Some(format!("{e:?}")),
                }
            } else if let Some(pipeline) = pipeline_weak.upgrade() {
                let Ok(fake) = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                else {
                    return;
                };
                if pipeline.add(&fake).is_ok() {
                    let _ = fake.sync_state_with_parent();
                    if let Some(sinkpad) = fake.static_pad("sink") {
                        let _ = pad.link(&sinkpad);
                    }
                }
            }
        });

        // decodebin reports a stream it cannot decode here (and a "missing-plugin" message).
        let pads_unknown = pads.clone();
        src.connect("unknown-type", false, move |args| {
            if let Some(caps) = args.get(2).and_then(|v| v.get::<gst::Caps>().ok()) {
                let is_video = caps
                    .structure(0)
                    .is_some_and(|s| s.name().starts_with("video/"));
                if is_video {
                    pads_unknown
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .unknown_video = Some(caps.to_string());
                }
            }
            None
        });
        let pads_nmp = pads.clone();
        src.connect_no_more_pads(move |_| {
            pads_nmp
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .no_more_pads = true;
        });

        let bus = pipeline
            .bus()
            .ok_or_else(|| PlayerError::Pipeline("pipeline without a bus".into()))?;
        let mut dec = Decoder {
            pipeline,
            sink,
            filter,
            format,
            bus,
            pads,
            uri: uri.clone(),
            source: SourceInfo {
                width: 0,
                height: 0,
                par: (1, 1),
                rate: None,
            },
            rate: FrameRate::FPS_24,
            origin_ns: 0,
            duration_ns: None,
            out_size: (0, 0),
            pending_first: None,
            next_index: 0,
            buffering: std::cell::Cell::new(None),
            pulls: 0,
        };
        match dec.preroll(media, rate) {
            Ok(()) => Ok(dec),
            Err(e) => {
                let _ = dec.pipeline.set_state(gst::State::Null);
                Err(e)
            }
        }
    }

    fn preroll(&mut self, media: &str, rate: Option<FrameRate>) -> Result<(), PlayerError> {
        self.pipeline.set_state(gst::State::Paused).map_err(|_| {
            self.bus_error(media)
                .unwrap_or(PlayerError::NotMedia(media.into()))
        })?;
        let deadline = Instant::now() + OPEN_TIMEOUT;
        loop {
            let msg = self.bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(50),
                &[gst::MessageType::Error, gst::MessageType::AsyncDone],
            );
            match msg.as_ref().map(|m| m.view()) {
                Some(gst::MessageView::Error(e)) => {
                    return Err(classify(&e.error(), e.debug().as_deref(), media));
                }
                Some(gst::MessageView::AsyncDone(_)) => break,
                _ => {}
            }
            {
                let p = self.pads.lock().unwrap_or_else(|e| e.into_inner());
                if p.no_more_pads && !p.video_linked {
                    // The demuxer's own error, when it posts one, says more than "no video";
                    // which of the two arrives first is a race, so give it a moment.
                    let late = self.bus.timed_pop_filtered(
                        gst::ClockTime::from_mseconds(200),
                        &[gst::MessageType::Error],
                    );
                    if let Some(gst::MessageView::Error(e)) = late.as_ref().map(|m| m.view()) {
                        return Err(classify(&e.error(), e.debug().as_deref(), media));
                    }
                    if let Some(caps) = &p.unknown_video {
                        return Err(PlayerError::UnsupportedCodec(format!("{media}: {caps}")));
                    }
                    return Err(PlayerError::NoVideo(media.to_owned()));
                }
            }
            if Instant::now() > deadline {
                return Err(PlayerError::Timeout("opening the media"));
            }
        }
        let (linked, source, link_error) = {
            let p = self.pads.lock().unwrap_or_else(|e| e.into_inner());
            (p.video_linked, p.source, p.link_error.clone())
        };
        if let Some(e) = link_error {
            return Err(PlayerError::Pipeline(format!(
                "linking the video stream: {e}"
            )));
        }
        if !linked {
            return Err(PlayerError::NoVideo(media.to_owned()));
        }
        let source =
            source.ok_or_else(|| PlayerError::Corrupt(format!("{media}: no video caps")))?;
        self.source = source;
        self.rate = rate.or(source.rate).unwrap_or(FrameRate::FPS_24);
        self.out_size = fit_size(&source, self.bound_from_filter());
        self.duration_ns = self
            .pipeline
            .query_duration::<gst::ClockTime>()
            .map(|d| d.nseconds() as i64);
        self.pipeline.set_state(gst::State::Playing).map_err(|_| {
            self.bus_error(media)
                .unwrap_or(PlayerError::Pipeline("play".into()))
        })?;
        // The first frame fixes the origin of the frame grid.
        let deadline = Instant::now() + OPEN_TIMEOUT;
        loop {
            match self.pull_raw(Duration::from_millis(50))? {
                Some(sample) => {
                    let (time, d) = self.convert(&sample, None)?;
                    self.origin_ns = time;
                    self.pending_first = Some(Decoded {
                        index: 0,
                        time_ns: 0,
                        ..d
                    });
                    self.next_index = 0;
                    return Ok(());
                }
                None if self.sink.is_eos() => {
                    return Err(PlayerError::Corrupt(format!("{media}: no decodable frame")));
                }
                None if Instant::now() > deadline => {
                    return Err(PlayerError::Timeout("decoding the first frame"));
                }
                None => {}
            }
        }
    }

    fn bound_from_filter(&self) -> Option<(u32, u32)> {
        let caps = self.filter.property::<gst::Caps>("caps");
        let s = caps.structure(0)?;
        Some((
            s.get::<i32>("width").ok()? as u32,
            s.get::<i32>("height").ok()? as u32,
        ))
    }

    /// Drains the bus (non-blocking): the first error, if any; buffering levels are kept for
    /// [`Decoder::take_buffering`]. Draining also keeps unread messages from piling up.
    pub(crate) fn bus_error(&self, what: &str) -> Option<PlayerError> {
        while let Some(msg) = self.bus.pop() {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    return Some(classify(&e.error(), e.debug().as_deref(), what));
                }
                gst::MessageView::Buffering(b) => {
                    self.buffering.set(Some(b.percent().clamp(0, 100) as u8))
                }
                _ => {}
            }
        }
        None
    }

    /// The latest buffering level (network media), once.
    pub(crate) fn take_buffering(&self) -> Option<u8> {
        self.buffering.take()
    }

    fn pull_raw(&self, timeout: Duration) -> Result<Option<gst::Sample>, PlayerError> {
        match self
            .sink
            .try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
        {
            Some(s) => Ok(Some(s)),
            None => match self.bus_error(&self.uri) {
                Some(e) => Err(e),
                None => Ok(None),
            },
        }
    }

    /// Stream time (ns, not yet relative to the origin) and pixels of a sample.
    fn convert(
        &self,
        sample: &gst::Sample,
        _hint: Option<i64>,
    ) -> Result<(i64, Decoded), PlayerError> {
        let buffer = sample
            .buffer()
            .ok_or_else(|| PlayerError::Pipeline("sample without buffer".into()))?;
        let caps = sample
            .caps()
            .ok_or_else(|| PlayerError::Pipeline("sample without caps".into()))?;
        let info = gst_video::VideoInfo::from_caps(caps)
            .map_err(|e| PlayerError::Pipeline(e.to_string()))?;
        let segment = sample.segment();
        let pts = buffer
            .pts()
            .ok_or_else(|| PlayerError::Corrupt("a frame without a timestamp".into()))?;
        let stream_time = segment
            .and_then(|s| s.downcast_ref::<gst::ClockTime>())
            .and_then(|s| s.to_stream_time_full(pts))
            .map(|st| match st {
                gst::Signed::Positive(t) => t.nseconds() as i64,
                gst::Signed::Negative(t) => -(t.nseconds() as i64),
            })
            .unwrap_or(pts.nseconds() as i64);
        let map = buffer
            .map_readable()
            .map_err(|e| PlayerError::Pipeline(e.to_string()))?;
        let bytes = map.as_slice();
        let short = || PlayerError::Pipeline("short video buffer".into());
        let (width, height) = (info.width(), info.height());
        // Keeps the decoder's buffer instead of copying it when it already has the layout the
        // frame needs (at hundreds of frames a second, a copy is a core's worth of memcpy).
        let keep = |len: usize| -> Result<Pixels, PlayerError> {
            if bytes.len() < len {
                return Err(short());
            }
            let map = buffer
                .copy()
                .into_mapped_buffer_readable()
                .map_err(|_| PlayerError::Pipeline("unreadable video buffer".into()))?;
            Ok(Pixels::shared(Arc::new(MappedFrame { map, len })))
        };
        let (stride, layout, data): (u32, PixelLayout, Pixels) = match info.format() {
            gst_video::VideoFormat::I420 => {
                // Tight planes: the UI uploads each as one texture without row padding.
                let (w, h) = (width as usize, height as usize);
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let planes = [(w, h), (cw, ch), (cw, ch)];
                let tight = (0..3).all(|p| info.stride()[p].max(0) as usize == planes[p].0)
                    && info.offset()[0] == 0
                    && info.offset()[1] == w * h
                    && info.offset()[2] == w * h + cw * ch;
                let data = if tight {
                    keep(w * h + 2 * cw * ch)?
                } else {
                    let mut out = Vec::with_capacity(w * h + 2 * cw * ch);
                    for (plane, (pw, ph)) in planes.into_iter().enumerate() {
                        let offset = info.offset()[plane];
                        let pstride = info.stride()[plane].max(0) as usize;
                        for row in 0..ph {
                            let start = offset + row * pstride;
                            out.extend_from_slice(bytes.get(start..start + pw).ok_or_else(short)?);
                        }
                    }
                    Pixels::from(out)
                };
                let colorimetry = info.colorimetry();
                let matrix = match colorimetry.matrix() {
                    gst_video::VideoColorMatrix::Bt601 | gst_video::VideoColorMatrix::Smpte240m => {
                        YuvMatrix::Bt601
                    }
                    gst_video::VideoColorMatrix::Bt2020 => YuvMatrix::Bt2020,
                    _ => YuvMatrix::Bt709,
                };
                let full_range = colorimetry.range() == gst_video::VideoColorRange::Range0_255;
                (width, PixelLayout::I420 { matrix, full_range }, data)
            }
            _ => {
                let stride = info.stride()[0].max(0) as u32;
                let need = stride as usize * height as usize;
                (stride, PixelLayout::Rgba, keep(need)?)
            }
        };
        Ok((
            stream_time,
            Decoded {
                index: 0,
                time_ns: 0,
                width,
                height,
                stride,
                layout,
                data,
            },
        ))
    }

    /// Waits up to `timeout` for the next frame.
    pub(crate) fn pull(&mut self, timeout: Duration) -> Result<Pull, PlayerError> {
        if let Some(first) = self.pending_first.take() {
            self.next_index = 1;
            return Ok(Pull::Frame(first));
        }
        self.pulls += 1;
        if self.pulls >= 16 {
            self.pulls = 0;
            if let Some(e) = self.bus_error(&self.uri) {
                return Err(e);
            }
        }
        match self.pull_raw(timeout)? {
            Some(sample) => {
                let (st, mut d) = self.convert(&sample, None)?;
                d.time_ns = st - self.origin_ns;
                d.index = self.rate.frame_nearest(d.time_ns, TimeUnit::Nanos);
                self.next_index = d.index + 1;
                Ok(Pull::Frame(d))
            }
            None if self.sink.is_eos() => Ok(Pull::Eos),
            None => Ok(Pull::Pending),
        }
    }

    /// Pulls until a frame arrives, the stream ends, or `timeout` passes.
    pub(crate) fn pull_blocking(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Decoded>, PlayerError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.pull(Duration::from_millis(20))? {
                Pull::Frame(d) => return Ok(Some(d)),
                Pull::Eos => return Ok(None),
                Pull::Pending if Instant::now() > deadline => {
                    return Err(PlayerError::Timeout("decoding a frame"));
                }
                Pull::Pending => {}
            }
        }
    }

    /// Flushing, frame-accurate seek: the next pull returns the frame that contains `index`
    /// (the last frame before it for variable-rate media).
    pub(crate) fn seek(&mut self, index: i64) -> Result<(), PlayerError> {
        self.pending_first = None;
        let t = self.origin_ns
            + self.rate.frame_to_time(index, TimeUnit::Nanos)
            + (self.rate.frame_duration_ns() / 4) as i64;
        self.pipeline
            .seek(
                1.0,
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                gst::SeekType::Set,
                gst::ClockTime::from_nseconds(t.max(0) as u64),
                gst::SeekType::None,
                gst::ClockTime::NONE,
            )
            .map_err(|_| {
                self.bus_error(&self.uri).unwrap_or_else(|| {
                    PlayerError::Pipeline(format!("seek to frame {index} refused"))
                })
            })?;
        self.next_index = index;
        Ok(())
    }

    /// Bytes one output frame takes (what the cache will count).
    pub(crate) fn frame_bytes(&self) -> usize {
        let (w, h) = (self.out_size.0 as usize, self.out_size.1 as usize);
        match self.format {
            OutputFormat::Rgba => w * h * 4,
            OutputFormat::I420 => w * h + 2 * w.div_ceil(2) * h.div_ceil(2),
        }
    }

    /// Changes the output box; frames decoded after the next seek have the new size.
    pub(crate) fn set_bound(&mut self, bound: Option<(u32, u32)>) {
        let size = out_size(self.format, &self.source, bound);
        self.out_size = size;
        self.filter
            .set_property("caps", out_caps(self.format, Some(size)));
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // Stops the streaming threads; errors here have nowhere useful to go.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        let hd = SourceInfo {
            width: 1920,
            height: 1080,
            par: (1, 1),
            rate: None,
        };
        assert_eq!(fit_size(&hd, Some((1280, 720))), (1280, 720));
        assert_eq!(fit_size(&hd, Some((1000, 1000))), (1000, 563));
        assert_eq!(fit_size(&hd, Some((1000, 300))), (533, 300));
        assert_eq!(fit_size(&hd, Some((4000, 4000))), (1920, 1080));
        assert_eq!(fit_size(&hd, None), (1920, 1080));
        let anamorphic = SourceInfo {
            width: 720,
            height: 576,
            par: (16, 11),
            rate: None,
        };
        assert_eq!(fit_size(&anamorphic, None), (1047, 576));
    }

    #[test]
    fn yuv_leaves_scaling_to_the_gpu_unless_the_source_is_far_larger() {
        let hd = SourceInfo {
            width: 1920,
            height: 1080,
            par: (1, 1),
            rate: None,
        };
        let box720 = Some((1280, 720));
        assert_eq!(out_size(OutputFormat::I420, &hd, box720), (1920, 1080));
        assert_eq!(out_size(OutputFormat::Rgba, &hd, box720), (1280, 720));
        let uhd = SourceInfo {
            width: 3840,
            height: 2160,
            ..hd
        };
        assert_eq!(out_size(OutputFormat::I420, &uhd, box720), (1280, 720));
        assert_eq!(
            out_size(OutputFormat::I420, &uhd, Some((1920, 1080))),
            (1920, 1080)
        );
        assert_eq!(
            out_size(OutputFormat::I420, &uhd, Some((2560, 1440))),
            (3840, 2160)
        );
    }
}
