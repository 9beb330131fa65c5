//! Frame rates as rationals and SMPTE timecode. (Being completed by the player work; the types and
//! their serialised form are what other crates rely on.)

use serde::{Deserialize, Serialize};

/// A frame rate as an exact rational, e.g. 24000/1001. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameRate {
    /// Numerator (frames).
    pub num: u32,
    /// Denominator (seconds).
    pub den: u32,
}

impl FrameRate {
    /// Builds a rate; `den` must not be zero.
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }
}

/// A SMPTE timecode label with its rate and drop-frame flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timecode {
    /// Frames since 00:00:00:00 on this timecode's clock.
    pub frames: u64,
    /// The nominal rate the label counts in.
    pub rate: FrameRate,
    /// Drop-frame labelling (29.97 and 59.94 only).
    pub drop_frame: bool,
}
