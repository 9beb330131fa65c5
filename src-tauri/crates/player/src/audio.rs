//! Sound: a second, audio-only pipeline per clip, played only at 1× forward, whose position is
//! the master clock while it plays (video follows audio, as in mpv). Stepping, scrubbing,
//! shuttling and reverse leave it paused, which is how audio "mutes" there.
//!
//! It must never make opening fail: no audio track, no audio device (Xvfb, CI) or any audio
//! error leaves the player silent and running on the system clock. Without a usable device the
//! sink is a `fakesink` that still keeps time. `FRAMENOTE_AUDIO_SINK=fake` forces that.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;

use crate::decoder::to_uri;

/// How the player produces sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioOutput {
    /// The system's audio device, or a silent clocked sink when there is none.
    #[default]
    Auto,
    /// A silent sink that keeps time (tests, benchmarks, headless machines).
    Fake,
    /// No audio pipeline at all; the player runs on the system clock.
    Disabled,
}

pub(crate) struct Audio {
    pipeline: gst::Pipeline,
    volume: gst::Element,
    bus: gst::Bus,
    playing: bool,
    /// The real device is in use (false: fakesink).
    pub device: bool,
}

fn sink(mode: AudioOutput) -> Option<(gst::Element, bool)> {
    let forced_fake = std::env::var("FRAMENOTE_AUDIO_SINK").is_ok_and(|v| v == "fake");
    if mode == AudioOutput::Auto
        && !forced_fake
        && let Ok(s) = gst::ElementFactory::make("autoaudiosink").build()
    {
        // autoaudiosink opens its device on NULL→READY; a failure means no usable device.
        if s.set_state(gst::State::Ready).is_ok() {
            let _ = s.set_state(gst::State::Null);
            return Some((s, true));
        }
        let _ = s.set_state(gst::State::Null);
    }
    let s = gst::ElementFactory::make("fakesink")
        .property("sync", true)
        .build()
        .ok()?;
    Some((s, false))
}

impl Audio {
    /// Opens and prerolls the audio of `media`; `None` when there is no audio or it fails.
    pub fn open(media: &str, mode: AudioOutput) -> Option<Audio> {
        if mode == AudioOutput::Disabled {
            return None;
        }
        match Self::try_open(media, mode) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("audio disabled for {media}: {e}");
                None
            }
        }
    }

    fn try_open(media: &str, mode: AudioOutput) -> Result<Option<Audio>, String> {
        let (uri, _) = to_uri(media).map_err(|e| e.to_string())?;
        let pipeline = gst::Pipeline::new();
        let mk = |f: &str| {
            gst::ElementFactory::make(f)
                .build()
                .map_err(|_| format!("no {f}"))
        };
        let src = gst::ElementFactory::make("uridecodebin")
            .property("uri", &uri)
            .build()
            .map_err(|_| "no uridecodebin".to_string())?;
        let convert = mk("audioconvert")?;
        let resample = mk("audioresample")?;
        let volume = mk("volume")?;
        let (sink, device) = sink(mode).ok_or("no audio sink")?;
        pipeline
            .add_many([&src, &convert, &resample, &volume, &sink])
            .map_err(|e| e.to_string())?;
        gst::Element::link_many([&convert, &resample, &volume, &sink])
            .map_err(|e| e.to_string())?;
        // Video is the video pipeline's business: never decode it here.
        src.connect("autoplug-continue", false, |args| {
            let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
            let is_video = caps
                .as_ref()
                .and_then(|c| c.structure(0))
                .is_some_and(|s| s.name().starts_with("video/"));
            Some((!is_video).to_value())
        });
        let linked = Arc::new(Mutex::new((false, false))); // (audio linked, no more pads)
        let linked_cb = linked.clone();
        let convert_weak = convert.downgrade();
        let pipeline_weak = pipeline.downgrade();
        src.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let raw_audio = caps
                .structure(0)
                .is_some_and(|s| s.name().as_str() == "audio/x-raw");
            let mut l = linked_cb.lock().unwrap_or_else(|e| e.into_inner());
            if raw_audio && !l.0 {
                if let Some(sinkpad) = convert_weak.upgrade().and_then(|c| c.static_pad("sink")) {
                    l.0 = pad.link(&sinkpad).is_ok();
                }
            } else if let Some(p) = pipeline_weak.upgrade()
                && let Ok(fake) = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                && p.add(&fake).is_ok()
            {
                let _ = fake.sync_state_with_parent();
                if let Some(sp) = fake.static_pad("sink") {
                    let _ = pad.link(&sp);
                }
            }
        });
        let linked_nmp = linked.clone();
        src.connect_no_more_pads(move |_| {
            linked_nmp.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        });
        let bus = pipeline.bus().ok_or("no bus")?;
        let audio = Audio {
            pipeline,
            volume,
            bus,
            playing: false,
            device,
        };
        audio
            .pipeline
            .set_state(gst::State::Paused)
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let msg = audio.bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(20),
                &[gst::MessageType::Error, gst::MessageType::AsyncDone],
            );
            match msg.as_ref().map(|m| m.view()) {
                Some(gst::MessageView::Error(e)) => return Err(e.error().to_string()),
                Some(gst::MessageView::AsyncDone(_)) => break,
                _ => {}
            }
            let (has_audio, done) = *linked.lock().unwrap_or_else(|e| e.into_inner());
            if done && !has_audio {
                return Ok(None);
            }
            if Instant::now() > deadline {
                return Err("audio preroll timed out".into());
            }
        }
        let has_audio = linked.lock().unwrap_or_else(|e| e.into_inner()).0;
        Ok(has_audio.then_some(audio))
    }

    /// Starts sound at `pos_ns` (stream time) at 1×.
    pub fn play_from(&mut self, pos_ns: i64) -> bool {
        let ok = self
            .pipeline
            .seek(
                1.0,
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                gst::SeekType::Set,
                gst::ClockTime::from_nseconds(pos_ns.max(0) as u64),
                gst::SeekType::None,
                gst::ClockTime::NONE,
            )
            .is_ok()
            && self.pipeline.set_state(gst::State::Playing).is_ok();
        self.playing = ok;
        ok
    }

    pub fn pause(&mut self) {
        if self.playing {
            let _ = self.pipeline.set_state(gst::State::Paused);
            self.playing = false;
        }
    }

    /// The position of the sound being heard, in stream time (ns), once it is really playing.
    pub fn position_ns(&self) -> Option<i64> {
        if !self.playing {
            return None;
        }
        let (_, state, pending) = self.pipeline.state(gst::ClockTime::ZERO);
        if state != gst::State::Playing || pending != gst::State::VoidPending {
            return None;
        }
        self.pipeline
            .query_position::<gst::ClockTime>()
            .map(|p| p.nseconds() as i64)
    }

    pub fn set_volume(&self, volume: f64) {
        self.volume.set_property("volume", volume.clamp(0.0, 10.0));
    }

    pub fn set_mute(&self, mute: bool) {
        self.volume.set_property("mute", mute);
    }

    /// An error from the audio pipeline, if any (the caller then drops the audio).
    pub fn poll_error(&self) -> Option<String> {
        while let Some(msg) = self.bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                return Some(e.error().to_string());
            }
        }
        None
    }
}

impl Drop for Audio {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
