//! The frame-accurate player: GStreamer behind a single-owner engine thread per clip, a
//! decoded-frame cache, and the library helpers (`probe`, `thumbnail`, `snapshot`).
//!
//! GStreamer types never leave this crate: callers see [`Player`], [`PlayerCommand`],
//! [`PlayerEvent`], [`Frame`] (RGBA or YUV 4:2:0 bytes) and [`PlayerError`]. No GLib main loop is needed;
//! each player polls its own pipelines on its own thread.
#![deny(missing_docs)]

mod audio;
mod cache;
mod decoder;
mod engine;
mod error;
mod frame;
mod keyframes;
mod mov;
mod player;
mod probe;
mod proxy;

pub use audio::AudioOutput;
pub use cache::DEFAULT_CACHE_BYTES;
/// The channel types of [`Player::events`], re-exported so shells need no extra dependency.
pub use crossbeam_channel;
pub use engine::{
    ClipInfo, MAX_SHUTTLE, OpenOptions, PlayerCommand, PlayerEvent, PlayerState, PlayerStats,
    ShuttleKey, StopReason, shuttle_rate,
};
pub use keyframes::KeyframeIndex;
pub use player::Player;
pub use proxy::{
    PROXY_GOP, ScrubProxy, file_wants_scrub_proxy, make_scrub_proxy, wants_scrub_proxy,
};

pub use decoder::init;
pub use error::PlayerError;
pub use frame::{Frame, OutputFormat, PixelLayout, Pixels, YuvMatrix};
pub use probe::{
    ClipFacts, DEFAULT_FIRST_FRAME, FrameTarget, probe, snapshot, snapshot_frame, thumbnail,
};
