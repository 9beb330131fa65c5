//! Frame rates as exact rationals, SMPTE timecode labels (non-drop and drop-frame), and the
//! per-clip mapping between a frame index, the number a person reads (`first_frame + index`),
//! its timecode and its time.
//!
//! Definitions every other crate relies on:
//! * A **frame index** counts frames from the first frame of the media, starting at 0.
//! * Frame `i` **starts** at `i × den / num` seconds and lasts `den / num` seconds; a time belongs
//!   to the frame that **contains** it (`floor(t × num / den)`).
//! * Integer times (ns, µs, ms) of a frame start are **rounded up** to the unit, so that converting
//!   back with "the frame that contains it" always returns the same frame, at every rate below
//!   1000 fps. Seconds are given as an exact [`Seconds`] rational, or as `f64` for display only.
//! * A [`Timecode`] counts frames on its own 24-hour clock (`frames` since 00:00:00:00); its label
//!   is derived, so drop-frame labels are never stored and can never be invalid.
//!
//! No floats are used in any conversion: 23.976 is 24000/1001, never 23.976.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A frame rate as an exact rational, e.g. 24000/1001. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FrameRate {
    /// Numerator (frames).
    pub num: u32,
    /// Denominator (seconds).
    pub den: u32,
}

/// Why a rate, a timecode or a label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimecodeError {
    /// A zero numerator or denominator.
    #[error("invalid frame rate {num}/{den}")]
    InvalidRate {
        /// Numerator given.
        num: u32,
        /// Denominator given.
        den: u32,
    },
    /// Drop-frame labelling only exists for 30000/1001 and 60000/1001 (and their exact
    /// integer multiples of 30 over 1001).
    #[error("drop-frame timecode does not exist at {num}/{den} fps")]
    DropFrameUnsupported {
        /// Numerator of the rate.
        num: u32,
        /// Denominator of the rate.
        den: u32,
    },
    /// The text is not `HH:MM:SS:FF` (or `HH:MM:SS;FF` for drop-frame).
    #[error("malformed timecode {0:?}: expected HH:MM:SS:FF or HH:MM:SS;FF")]
    Malformed(String),
    /// A field is out of range (hours ≥ 24, minutes or seconds ≥ 60, frames ≥ the nominal rate).
    #[error("timecode {label:?} is out of range: {field} must be below {limit}")]
    OutOfRange {
        /// The label as given.
        label: String,
        /// Which field: "hours", "minutes", "seconds" or "frames".
        field: &'static str,
        /// The exclusive upper bound.
        limit: u32,
    },
    /// A drop-frame label that is skipped by the drop-frame rule (e.g. `00:01:00;00`).
    #[error(
        "timecode {0:?} does not exist in drop-frame: frame labels 0..{1} are skipped at every minute not divisible by 10"
    )]
    DroppedLabel(String, u32),
    /// A timecode before the clip's start timecode, or a rate mismatch between a clip and a label.
    #[error("timecode {label} is not on this clip's clock: {reason}")]
    NotOnClock {
        /// The label.
        label: String,
        /// Why.
        reason: &'static str,
    },
}

/// An exact time in seconds: `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seconds {
    /// Numerator (may be negative for frames before a clip's start).
    pub num: i128,
    /// Denominator, never zero.
    pub den: u64,
}

impl Seconds {
    /// For display and plotting only; every computation uses the rational.
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

/// Integer time units, for conversions that must be exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds (GStreamer's clock).
    Nanos,
}

impl TimeUnit {
    const fn per_second(self) -> i128 {
        match self {
            TimeUnit::Millis => 1_000,
            TimeUnit::Micros => 1_000_000,
            TimeUnit::Nanos => 1_000_000_000,
        }
    }
}

/// Floor division for signed values with a positive divisor.
fn div_floor(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// Ceiling division for signed values with a positive divisor.
fn div_ceil(a: i128, b: i128) -> i128 {
    -div_floor(-a, b)
}

impl FrameRate {
    /// 24000/1001 ("23.976").
    pub const FPS_23_976: FrameRate = FrameRate::new(24000, 1001);
    /// 24/1.
    pub const FPS_24: FrameRate = FrameRate::new(24, 1);
    /// 25/1.
    pub const FPS_25: FrameRate = FrameRate::new(25, 1);
    /// 30000/1001 ("29.97").
    pub const FPS_29_97: FrameRate = FrameRate::new(30000, 1001);
    /// 30/1.
    pub const FPS_30: FrameRate = FrameRate::new(30, 1);
    /// 48/1.
    pub const FPS_48: FrameRate = FrameRate::new(48, 1);
    /// 50/1.
    pub const FPS_50: FrameRate = FrameRate::new(50, 1);
    /// 60000/1001 ("59.94").
    pub const FPS_59_94: FrameRate = FrameRate::new(60000, 1001);
    /// 60/1.
    pub const FPS_60: FrameRate = FrameRate::new(60, 1);

    /// Builds a rate; `den` must not be zero (use [`FrameRate::try_new`] for untrusted input).
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    /// Builds a rate from untrusted input (a container, a server), reduced to lowest terms.
    pub fn try_new(num: u32, den: u32) -> Result<Self, TimecodeError> {
        if num == 0 || den == 0 {
            return Err(TimecodeError::InvalidRate { num, den });
        }
        let g = gcd(num as u64, den as u64) as u32;
        Ok(Self::new(num / g, den / g))
    }

    /// Whether the rate is usable (no zero terms).
    pub fn is_valid(self) -> bool {
        self.num != 0 && self.den != 0
    }

    /// The integer rate a timecode label counts in: 24 for 24000/1001, 30 for 30000/1001,
    /// 25 for 25/1 (the rate rounded to the nearest integer, at least 1).
    pub fn nominal(self) -> u32 {
        if !self.is_valid() {
            return 1;
        }
        let n = self.num as u64;
        let d = self.den as u64;
        (((2 * n + d) / (2 * d)) as u32).max(1)
    }

    /// Whether SMPTE drop-frame labelling exists at this rate (29.97 and 59.94 and their
    /// multiples of 30 over 1001).
    pub fn supports_drop_frame(self) -> bool {
        let r = match FrameRate::try_new(self.num, self.den) {
            Ok(r) => r,
            Err(_) => return false,
        };
        r.den == 1001 && r.num % 30000 == 0
    }

    /// Labels dropped at each minute not divisible by ten: 2 at 29.97, 4 at 59.94.
    fn drop_count(self) -> u64 {
        (self.nominal() as u64 / 30) * 2
    }

    /// Exact start of frame `frame` in seconds.
    pub fn frame_to_seconds(self, frame: i64) -> Seconds {
        Seconds {
            num: frame as i128 * self.den as i128,
            den: self.num.max(1) as u64,
        }
    }

    /// Start of frame `frame`, rounded up to `unit` (so [`FrameRate::frame_at`] gives it back).
    pub fn frame_to_time(self, frame: i64, unit: TimeUnit) -> i64 {
        let v = div_ceil(
            frame as i128 * self.den as i128 * unit.per_second(),
            self.num.max(1) as i128,
        );
        v as i64
    }

    /// The frame that contains the instant `time` (in `unit`): `floor(t × num / den)`.
    pub fn frame_at(self, time: i64, unit: TimeUnit) -> i64 {
        div_floor(
            time as i128 * self.num as i128,
            self.den.max(1) as i128 * unit.per_second(),
        ) as i64
    }

    /// The frame whose start is nearest to `time`. This is the right reading for a decoded
    /// buffer's timestamp, which a container may have rounded to its own timescale (a
    /// millisecond in Matroska) on either side of the exact start.
    pub fn frame_nearest(self, time: i64, unit: TimeUnit) -> i64 {
        let n = self.num as i128;
        let d = self.den.max(1) as i128 * unit.per_second();
        div_floor(2 * time as i128 * n + d, 2 * d) as i64
    }

    /// The middle of frame `frame` in `unit`, rounded down: a seek target that lands inside the
    /// frame whichever way the container rounded its timestamps.
    pub fn frame_middle(self, frame: i64, unit: TimeUnit) -> i64 {
        div_floor(
            (2 * frame as i128 + 1) * self.den as i128 * unit.per_second(),
            2 * self.num.max(1) as i128,
        ) as i64
    }

    /// Duration of one frame in nanoseconds, rounded down (for display and timeouts).
    pub fn frame_duration_ns(self) -> u64 {
        (self.den as u64 * 1_000_000_000) / self.num.max(1) as u64
    }

    /// Frames in 24 hours of timecode at this rate and labelling.
    fn frames_per_day(self, drop_frame: bool) -> u64 {
        let f = self.nominal() as u64;
        if drop_frame {
            let d = self.drop_count();
            // 144 ten-minute blocks per day, each 9 minutes short of `d` labels.
            144 * (f * 600 - 9 * d)
        } else {
            f * 86_400
        }
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// A SMPTE timecode label with its rate and drop-frame flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Timecode {
    /// Frames since 00:00:00:00 on this timecode's clock.
    pub frames: u64,
    /// The nominal rate the label counts in.
    pub rate: FrameRate,
    /// Drop-frame labelling (29.97 and 59.94 only).
    pub drop_frame: bool,
}

impl Timecode {
    /// A timecode `frames` after midnight, wrapped to 24 hours.
    pub fn new(frames: u64, rate: FrameRate, drop_frame: bool) -> Result<Self, TimecodeError> {
        if !rate.is_valid() {
            return Err(TimecodeError::InvalidRate {
                num: rate.num,
                den: rate.den,
            });
        }
        if drop_frame && !rate.supports_drop_frame() {
            return Err(TimecodeError::DropFrameUnsupported {
                num: rate.num,
                den: rate.den,
            });
        }
        Ok(Self {
            frames: frames % rate.frames_per_day(drop_frame),
            rate,
            drop_frame,
        })
    }

    /// 00:00:00:00 at this rate (non-drop).
    pub fn zero(rate: FrameRate) -> Self {
        Self {
            frames: 0,
            rate,
            drop_frame: false,
        }
    }

    /// The label's fields, validated (a dropped drop-frame label is refused).
    pub fn from_hmsf(
        h: u32,
        m: u32,
        s: u32,
        f: u32,
        rate: FrameRate,
        drop_frame: bool,
    ) -> Result<Self, TimecodeError> {
        let label = format_label(h, m, s, f, drop_frame);
        let check = |v: u32, limit: u32, field: &'static str| {
            if v >= limit {
                Err(TimecodeError::OutOfRange {
                    label: label.clone(),
                    field,
                    limit,
                })
            } else {
                Ok(())
            }
        };
        // Validate the rate and DF support before anything else.
        let probe = Timecode::new(0, rate, drop_frame)?;
        let fps = rate.nominal();
        check(h, 24, "hours")?;
        check(m, 60, "minutes")?;
        check(s, 60, "seconds")?;
        check(f, fps, "frames")?;
        let fps = fps as u64;
        let (h, m, s, f) = (h as u64, m as u64, s as u64, f as u64);
        let label_frames = ((h * 60 + m) * 60 + s) * fps + f;
        let frames = if drop_frame {
            let d = rate.drop_count();
            if s == 0 && f < d && m % 10 != 0 {
                return Err(TimecodeError::DroppedLabel(label, d as u32));
            }
            let minutes = h * 60 + m;
            label_frames - d * (minutes - minutes / 10)
        } else {
            label_frames
        };
        Ok(Self { frames, ..probe })
    }

    /// Parses `HH:MM:SS:FF` (non-drop) or `HH:MM:SS;FF` (drop-frame; `.` and `,` are accepted
    /// as drop-frame separators too, as some tools write them).
    pub fn parse(text: &str, rate: FrameRate) -> Result<Self, TimecodeError> {
        let t = text.trim();
        let malformed = || TimecodeError::Malformed(text.to_owned());
        let b = t.as_bytes();
        // The last separator decides the labelling; the others must be ':'.
        let last_sep = t.rfind([':', ';', '.', ',']).ok_or_else(malformed)?;
        let drop_frame = b[last_sep] != b':';
        let mut parts = [0u32; 4];
        let mut n = 0;
        for (i, field) in t.split([':', ';', '.', ',']).enumerate() {
            if i >= 4 || field.is_empty() || field.len() > 2 {
                return Err(malformed());
            }
            if !field.bytes().all(|c| c.is_ascii_digit()) {
                return Err(malformed());
            }
            parts[i] = field.parse().map_err(|_| malformed())?;
            n = i + 1;
        }
        if n != 4 {
            return Err(malformed());
        }
        // Separators before the last must be ':' (mixed separators mean a typo).
        if t[..last_sep].contains([';', '.', ',']) {
            return Err(malformed());
        }
        Self::from_hmsf(parts[0], parts[1], parts[2], parts[3], rate, drop_frame)
    }

    /// The label's fields `(hours, minutes, seconds, frames)`.
    pub fn hmsf(&self) -> (u32, u32, u32, u32) {
        let fps = self.rate.nominal() as u64;
        let frames = self.frames % self.rate.frames_per_day(self.drop_frame);
        let label = if self.drop_frame {
            let d = self.rate.drop_count();
            let per10 = fps * 600 - 9 * d;
            let per1 = fps * 60 - d;
            let tens = frames / per10;
            let rem = frames % per10;
            // The first minute of each ten-minute block keeps all its labels.
            let skipped = if rem < d {
                9 * d * tens
            } else {
                9 * d * tens + d * ((rem - d) / per1)
            };
            frames + skipped
        } else {
            frames
        };
        let f = label % fps;
        let s = (label / fps) % 60;
        let m = (label / (fps * 60)) % 60;
        let h = label / (fps * 3600);
        (h as u32, m as u32, s as u32, f as u32)
    }

    /// This timecode moved by `delta` frames, wrapping at 24 hours.
    pub fn offset(&self, delta: i64) -> Self {
        let day = self.rate.frames_per_day(self.drop_frame) as i128;
        let v = (self.frames as i128 + delta as i128).rem_euclid(day);
        Self {
            frames: v as u64,
            ..*self
        }
    }
}

fn format_label(h: u32, m: u32, s: u32, f: u32, drop_frame: bool) -> String {
    let sep = if drop_frame { ';' } else { ':' };
    format!("{h:02}:{m:02}:{s:02}{sep}{f:02}")
}

impl fmt::Display for Timecode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s, fr) = self.hmsf();
        f.write_str(&format_label(h, m, s, fr, self.drop_frame))
    }
}

/// One clip's clock: how a frame index maps to the number a person reads, to its timecode and
/// to its time. `index 0` is the clip's first frame, shown as `first_frame` and labelled
/// `start_timecode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FrameClock {
    /// The clip's frame rate.
    pub rate: FrameRate,
    /// The label of the first frame (00:00:00:00 when the media has none).
    pub start_timecode: Timecode,
    /// The number shown for the first frame (1001 in VFX, 0 or 1 elsewhere).
    pub first_frame: i64,
}

impl FrameClock {
    /// A clock; the start timecode's rate is the clip's (a label counting at another rate is
    /// a different clock and is refused).
    pub fn new(
        rate: FrameRate,
        start_timecode: Option<Timecode>,
        first_frame: i64,
    ) -> Result<Self, TimecodeError> {
        let rate = FrameRate::try_new(rate.num, rate.den)?;
        let start = match start_timecode {
            Some(tc) => {
                if tc.rate.nominal() != rate.nominal() {
                    return Err(TimecodeError::NotOnClock {
                        label: tc.to_string(),
                        reason: "the start timecode counts at another rate than the clip",
                    });
                }
                Timecode::new(tc.frames, rate, tc.drop_frame)?
            }
            None => Timecode::zero(rate),
        };
        Ok(Self {
            rate,
            start_timecode: start,
            first_frame,
        })
    }

    /// The number a person reads for frame `index`.
    pub fn display_number(&self, index: i64) -> i64 {
        self.first_frame + index
    }

    /// The index of the frame a person calls `number`.
    pub fn index_of_number(&self, number: i64) -> i64 {
        number - self.first_frame
    }

    /// The timecode label of frame `index`.
    pub fn timecode(&self, index: i64) -> Timecode {
        self.start_timecode.offset(index)
    }

    /// The index of the frame labelled `tc` (the label must use this clip's rate; labels
    /// before the start timecode wrap around midnight, as on tape).
    pub fn index_of_timecode(&self, tc: &Timecode) -> Result<i64, TimecodeError> {
        if tc.rate.nominal() != self.rate.nominal()
            || tc.drop_frame != self.start_timecode.drop_frame
        {
            return Err(TimecodeError::NotOnClock {
                label: tc.to_string(),
                reason: "its rate or drop-frame labelling differs from the clip's",
            });
        }
        let day = self.rate.frames_per_day(tc.drop_frame) as i64;
        Ok((tc.frames as i64 - self.start_timecode.frames as i64).rem_euclid(day))
    }

    /// Parses a label in this clip's labelling and returns its frame index.
    pub fn parse_timecode(&self, text: &str) -> Result<i64, TimecodeError> {
        let tc = Timecode::parse(text, self.rate)?;
        self.index_of_timecode(&tc)
    }

    /// Start of frame `index` in `unit` (rounded up; see the module docs).
    pub fn time_of(&self, index: i64, unit: TimeUnit) -> i64 {
        self.rate.frame_to_time(index, unit)
    }

    /// The frame that contains `time`.
    pub fn index_at(&self, time: i64, unit: TimeUnit) -> i64 {
        self.rate.frame_at(time, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DF_RATES: [FrameRate; 2] = [FrameRate::FPS_29_97, FrameRate::FPS_59_94];

    #[test]
    fn every_frame_of_a_day_round_trips_in_drop_frame() {
        for rate in DF_RATES {
            let day = rate.frames_per_day(true);
            assert_eq!(
                day,
                if rate.nominal() == 30 {
                    2_589_408
                } else {
                    5_178_816
                }
            );
            let mut prev: Option<(u32, u32, u32, u32)> = None;
            for n in 0..day {
                let tc = Timecode::new(n, rate, true).unwrap();
                let (h, m, s, f) = tc.hmsf();
                let back = Timecode::from_hmsf(h, m, s, f, rate, true).unwrap();
                assert_eq!(back.frames, n, "{tc} at {rate}");
                // Labels are strictly increasing and never dropped ones.
                if let Some(p) = prev {
                    assert!((h, m, s, f) > p, "{tc} after {p:?}");
                }
                prev = Some((h, m, s, f));
            }
            assert_eq!(prev, Some((23, 59, 59, rate.nominal() - 1)));
        }
    }

    #[test]
    fn every_frame_of_a_day_round_trips_through_text() {
        for rate in DF_RATES {
            // Text parsing for every frame would be slow in debug; a prime stride covers all
            // minute/second/frame combinations many times over.
            let day = rate.frames_per_day(true);
            for n in (0..day).step_by(7) {
                let tc = Timecode::new(n, rate, true).unwrap();
                let text = tc.to_string();
                assert_eq!(Timecode::parse(&text, rate).unwrap(), tc, "{text}");
            }
        }
    }

    #[test]
    fn known_drop_frame_values() {
        let r = FrameRate::FPS_29_97;
        let t = Timecode::parse("00:00:59;29", r).unwrap();
        assert_eq!(t.frames, 1799);
        assert_eq!(t.offset(1).to_string(), "00:01:00;02");
        assert_eq!(
            Timecode::new(17_982, r, true).unwrap().to_string(),
            "00:10:00;00"
        );
        assert_eq!(Timecode::parse("00:10:00;00", r).unwrap().frames, 17_982);
        assert_eq!(Timecode::parse("01:00:00;00", r).unwrap().frames, 107_892);
        assert_eq!(
            Timecode::new(1800, r, true).unwrap().to_string(),
            "00:01:00;02"
        );
        // 59.94 drops four labels.
        let r = FrameRate::FPS_59_94;
        let t = Timecode::parse("00:00:59;59", r).unwrap();
        assert_eq!(t.offset(1).to_string(), "00:01:00;04");
        assert_eq!(
            Timecode::new(35_964, r, true).unwrap().to_string(),
            "00:10:00;00"
        );
        // Crossing the hour at 29.97 DF.
        let r = FrameRate::FPS_29_97;
        let t = Timecode::parse("00:59:59;29", r).unwrap();
        assert_eq!(t.offset(1).to_string(), "01:00:00;00");
        assert_eq!(t.offset(-1).to_string(), "00:59:59;28");
    }

    #[test]
    fn dropped_labels_are_refused() {
        let r = FrameRate::FPS_29_97;
        for bad in ["00:01:00;00", "00:01:00;01", "13:59:00;01"] {
            assert!(
                matches!(
                    Timecode::parse(bad, r),
                    Err(TimecodeError::DroppedLabel(_, 2))
                ),
                "{bad}"
            );
        }
        assert!(Timecode::parse("00:10:00;00", r).is_ok());
        assert!(Timecode::parse("00:01:00;02", r).is_ok());
        assert!(matches!(
            Timecode::parse("00:01:00;03", FrameRate::FPS_59_94),
            Err(TimecodeError::DroppedLabel(_, 4))
        ));
        // The same label is fine in non-drop.
        assert_eq!(Timecode::parse("00:01:00:00", r).unwrap().frames, 1800);
    }

    #[test]
    fn malformed_and_out_of_range_labels_are_refused() {
        let r = FrameRate::FPS_25;
        for bad in [
            "",
            "1:2:3",
            "00:00:00:00:00",
            "aa:00:00:00",
            "00;00:00:00",
            "00:00:00:-1",
        ] {
            assert!(
                matches!(Timecode::parse(bad, r), Err(TimecodeError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Timecode::parse("00:00:00:25", r),
            Err(TimecodeError::OutOfRange {
                field: "frames",
                limit: 25,
                ..
            })
        ));
        assert!(matches!(
            Timecode::parse("24:00:00:00", r),
            Err(TimecodeError::OutOfRange { field: "hours", .. })
        ));
        assert!(matches!(
            Timecode::parse("00:00:00;00", r),
            Err(TimecodeError::DropFrameUnsupported { num: 25, den: 1 })
        ));
        assert!(matches!(
            Timecode::parse("00:00:00;00", FrameRate::FPS_23_976),
            Err(TimecodeError::DropFrameUnsupported { .. })
        ));
        assert!(FrameRate::try_new(0, 1).is_err());
        assert!(FrameRate::try_new(24, 0).is_err());
    }

    #[test]
    fn non_drop_at_23_976_counts_in_24() {
        let r = FrameRate::FPS_23_976;
        assert_eq!(r.nominal(), 24);
        let t = Timecode::parse("01:00:00:00", r).unwrap();
        assert_eq!(t.frames, 86_400);
        assert_eq!(t.offset(23).to_string(), "01:00:00:23");
        assert_eq!(t.offset(24).to_string(), "01:00:01:00");
        // A day of 24-frame labels round-trips.
        for n in (0..r.frames_per_day(false)).step_by(13) {
            let tc = Timecode::new(n, r, false).unwrap();
            assert_eq!(Timecode::parse(&tc.to_string(), r).unwrap(), tc);
        }
        // Wraps at midnight.
        assert_eq!(
            Timecode::parse("23:59:59:23", r)
                .unwrap()
                .offset(1)
                .to_string(),
            "00:00:00:00"
        );
    }

    #[test]
    fn nominal_rates() {
        assert_eq!(FrameRate::FPS_29_97.nominal(), 30);
        assert_eq!(FrameRate::FPS_59_94.nominal(), 60);
        assert_eq!(FrameRate::FPS_25.nominal(), 25);
        assert_eq!(FrameRate::new(2997, 100).nominal(), 30);
        assert!(FrameRate::FPS_29_97.supports_drop_frame());
        assert!(FrameRate::FPS_59_94.supports_drop_frame());
        assert!(FrameRate::new(60000, 2002).supports_drop_frame());
        assert!(!FrameRate::FPS_30.supports_drop_frame());
        assert!(!FrameRate::FPS_23_976.supports_drop_frame());
    }

    #[test]
    fn frame_time_conversions_are_exact_and_round_trip() {
        let rates = [
            FrameRate::FPS_23_976,
            FrameRate::FPS_24,
            FrameRate::FPS_25,
            FrameRate::FPS_29_97,
            FrameRate::FPS_30,
            FrameRate::FPS_50,
            FrameRate::FPS_59_94,
            FrameRate::FPS_60,
            FrameRate::new(120_000, 1001),
        ];
        for r in rates {
            for f in (-1000..200_000i64)
                .step_by(7)
                .chain([5_178_815, 86_400 * 60])
            {
                for unit in [TimeUnit::Millis, TimeUnit::Micros, TimeUnit::Nanos] {
                    let t = r.frame_to_time(f, unit);
                    assert_eq!(r.frame_at(t, unit), f, "{r} frame {f} {unit:?} t={t}");
                    // One unit earlier is the previous frame: the start is the earliest instant.
                    assert_eq!(r.frame_at(t - 1, unit), f - 1, "{r} frame {f} {unit:?}");
                    assert_eq!(r.frame_nearest(t, unit), f);
                    let mid = r.frame_middle(f, unit);
                    assert_eq!(r.frame_at(mid, unit), f);
                }
            }
        }
        // Known values.
        let r = FrameRate::FPS_24;
        assert_eq!(r.frame_to_time(137, TimeUnit::Nanos), 5_708_333_334);
        assert_eq!(r.frame_at(5_708_333_333, TimeUnit::Nanos), 136);
        let r = FrameRate::FPS_23_976;
        assert_eq!(r.frame_to_time(1, TimeUnit::Nanos), 41_708_334);
        assert_eq!(r.frame_to_time(24_000, TimeUnit::Millis), 1_001_000);
        // Nearest reads a timestamp a container rounded to its millisecond either way.
        assert_eq!(r.frame_nearest(42, TimeUnit::Millis), 1);
        assert_eq!(r.frame_nearest(41, TimeUnit::Millis), 1);
        assert_eq!(r.frame_to_seconds(24_000).as_f64(), 1001.0);
        assert_eq!(
            r.frame_to_seconds(3),
            Seconds {
                num: 3003,
                den: 24_000
            }
        );
    }

    #[test]
    fn clip_clock_maps_numbers_and_timecodes() {
        let r = FrameRate::FPS_23_976;
        let start = Timecode::parse("01:00:00:00", r).unwrap();
        let clock = FrameClock::new(r, Some(start), 1001).unwrap();
        assert_eq!(clock.display_number(0), 1001);
        assert_eq!(clock.index_of_number(1100), 99);
        assert_eq!(clock.timecode(0).to_string(), "01:00:00:00");
        assert_eq!(clock.timecode(48).to_string(), "01:00:02:00");
        assert_eq!(clock.parse_timecode("01:00:02:00").unwrap(), 48);
        assert!(clock.parse_timecode("01:00:02;00").is_err());

        let df = FrameRate::FPS_29_97;
        let start = Timecode::parse("00:59:58;00", df).unwrap();
        let clock = FrameClock::new(df, Some(start), 0).unwrap();
        assert_eq!(clock.timecode(60).to_string(), "01:00:00;00");
        assert_eq!(clock.parse_timecode("01:00:00;00").unwrap(), 60);
        assert!(matches!(
            clock.parse_timecode("00:59:00;00"),
            Err(TimecodeError::DroppedLabel(..))
        ));
        // A start label at another rate is a different clock.
        assert!(FrameClock::new(df, Some(Timecode::zero(FrameRate::FPS_25)), 0).is_err());
    }

    #[test]
    fn serde_shape_is_stable() {
        let tc = Timecode::parse("01:00:00;00", FrameRate::FPS_29_97).unwrap();
        let v = serde_json::to_value(tc).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"frames": 107_892, "rate": {"num": 30000, "den": 1001}, "drop_frame": true})
        );
        let back: Timecode = serde_json::from_value(v).unwrap();
        assert_eq!(back, tc);
    }
}
