//! Framenote's domain: the nouns every other crate speaks.
//!
//! Frame rates and timecode (`timecode`), the library a platform exposes (`library`), notes and
//! their threads (`note`), and the canonical drawing model (`annotation`) that every platform's
//! drawing format is converted to and from. This crate does no I/O and knows no platform, no
//! database, no GStreamer and no Tauri; that is what lets every other crate depend on it.
#![deny(missing_docs)]

pub mod annotation;
pub mod library;
pub mod note;
pub mod timecode;
pub mod upload;

pub use annotation::{Drawing, Point, Shape, ShapeKind, Stroke};
pub use library::{
    AccountId, Asset, Capabilities, MediaInfo, Node, NodeKind, OfflinePolicy, Platform, RemoteId,
    Version,
};
pub use note::{FrameSpan, Note, NoteId, NoteStatus};
pub use timecode::{FrameRate, Timecode};
pub use upload::{MediaKind, is_transient_name, media_kind_of, version_from_name};
