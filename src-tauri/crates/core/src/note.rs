//! Notes: a reviewer's comment stamped with a frame (or a frame range) and its timecode, with an
//! optional drawing, in threads.
//!
//! A note is created locally with a client-generated [`NoteId`] and keeps that id for life: the
//! outbox uses it to make posting idempotent, and the platform's own id is learnt after posting.

use serde::{Deserialize, Serialize};

use crate::annotation::Drawing;
use crate::library::RemoteId;

/// A note's local identity, a UUID generated where the note was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(transparent)]
pub struct NoteId(pub String);

impl NoteId {
    /// A fresh id. Version 7 UUIDs sort by creation time, which keeps outbox order readable.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

/// The frames a note is about, as media frame indices (0 = the first frame of the media).
/// Display numbers are `MediaInfo::first_frame + index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FrameSpan {
    /// First frame, inclusive.
    pub start: u64,
    /// Last frame, inclusive; equal to `start` for a single-frame note.
    pub end: u64,
}

impl FrameSpan {
    /// A single frame.
    pub const fn frame(index: u64) -> Self {
        Self {
            start: index,
            end: index,
        }
    }
    /// Whether `index` falls inside.
    pub fn contains(&self, index: u64) -> bool {
        self.start <= index && index <= self.end
    }
}

/// Open or resolved, as the reviewer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    /// Still to be addressed.
    Open,
    /// Marked done / resolved / complete.
    Resolved,
}

/// A note as Framenote keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Note {
    /// Local identity (client generated, stable across retries).
    pub id: NoteId,
    /// The platform's id once posted.
    pub remote_id: Option<RemoteId>,
    /// The version it is about.
    pub version: RemoteId,
    /// The note it answers, for replies.
    pub parent: Option<NoteId>,
    /// Who wrote it, as the platform names them.
    pub author: String,
    /// When it was written (RFC 3339, UTC).
    pub created_at: String,
    /// The text, shown as text: never interpreted as HTML.
    pub text: String,
    /// The frames it is about; `None` for a note on the whole version.
    pub frames: Option<FrameSpan>,
    /// Open or resolved.
    pub status: NoteStatus,
    /// A drawing on `frames`, if any.
    pub drawing: Option<Drawing>,
}
