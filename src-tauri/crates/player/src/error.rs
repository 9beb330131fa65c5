//! The player's typed errors: what went wrong, in terms a shell can show and a test can match,
//! with GStreamer's own message kept as detail. No GStreamer type appears here.

use framenote_core::timecode::TimecodeError;

/// Everything that can go wrong opening, decoding or controlling media.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayerError {
    /// GStreamer itself could not start (libraries missing or broken).
    #[error("GStreamer could not start: {0}")]
    Init(String),
    /// A GStreamer element the player needs is not installed.
    #[error(
        "a GStreamer element is missing: {0} (install the GStreamer base/good/bad/libav plugins)"
    )]
    MissingElement(String),
    /// The path does not exist (or was deleted while open).
    #[error("media not found: {0}")]
    NotFound(String),
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {detail}")]
    Unreadable {
        /// The path or URI.
        path: String,
        /// What the system said.
        detail: String,
    },
    /// The file is not audio or video at all.
    #[error("not a media file: {0}")]
    NotMedia(String),
    /// The media has no picture (audio only).
    #[error("the media has no video stream: {0}")]
    NoVideo(String),
    /// No decoder is installed for the media's codec.
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// The media is damaged or truncated.
    #[error("the media is damaged or truncated: {0}")]
    Corrupt(String),
    /// Any other failure inside the pipeline, with GStreamer's message.
    #[error("playback failed: {0}")]
    Pipeline(String),
    /// An operation did not finish in time (the media stalls or the machine is overloaded).
    #[error("timed out while {0}")]
    Timeout(&'static str),
    /// A frame outside the media was asked for.
    #[error("frame {index} is outside the media (0..{count})")]
    OutOfRange {
        /// The index asked for.
        index: i64,
        /// The number of frames.
        count: u64,
    },
    /// An invalid argument (a rate of zero, an empty loop range, a zero output size).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A timecode that does not exist on the clip's clock.
    #[error(transparent)]
    Timecode(#[from] TimecodeError),
    /// An image could not be encoded.
    #[error("could not encode the image: {0}")]
    Encode(String),
    /// The player was closed, or its thread ended.
    #[error("the player is closed")]
    Closed,
    /// The work was cancelled by its caller.
    #[error("cancelled")]
    Cancelled,
}
