//! Media time as the iconik and Sony Ci mappings read it: frame rates from platform metadata
//! (decimal strings such as iconik's `"29.97"`, numerator/denominator pairs such as Ci's), start
//! timecode labels with a separately carried drop-frame flag, and milliseconds ↔ frame indices.
//!
//! The arithmetic itself is `framenote-core`'s (`FrameRate::frame_to_time` rounds a frame's start
//! up to the millisecond, `FrameRate::frame_at` takes the frame containing an instant), so a frame
//! written by Framenote reads back as the same frame at every rate, and agrees with the player.
//! What lives here is only the reading of platform spellings. Both connectors use this one copy
//! (`crate::iconik::timebase`).

use framenote_core::timecode::TimeUnit;
use framenote_core::{FrameRate, Timecode};

/// Why a rate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable frame rate {0:?}")]
pub struct RateError(pub String);

/// Reduces `num/den` and snaps near-NTSC values written with a decimal denominator
/// (23976/1000, 2997/100) to the exact k×1000/1001 rational, because metadata writers round them.
pub fn normalise_rate(num: u64, den: u64) -> Option<FrameRate> {
    if num == 0 || den == 0 {
        return None;
    }
    let g = gcd(num, den);
    let (n, d) = (num / g, den / g);
    if d != 1001 && d != 1 {
        // An NTSC rate is k×1000/1001; within 0.05 % of one, it is that rate.
        let k = n.div_ceil(d);
        let ntsc_num = k * 1000;
        let diff = (n * 1001).abs_diff(ntsc_num * d);
        if diff * 2000 < n * 1001 {
            return Some(FrameRate::new(u32::try_from(ntsc_num).ok()?, 1001));
        }
    }
    Some(FrameRate::new(
        u32::try_from(n).ok()?,
        u32::try_from(d).ok()?,
    ))
}

/// Reads a decimal frame rate such as `"23.976"`, `"29.97"`, `"25"` or `"59.940"`.
pub fn parse_decimal_rate(text: &str) -> Result<FrameRate, RateError> {
    let bad = || RateError(text.to_owned());
    let t = text.trim();
    let (int_part, frac_part) = t.split_once('.').unwrap_or((t, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad());
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(int_part) || !digits(frac_part) {
        return Err(bad());
    }
    // Six decimals are more than any rate needs; more would only risk overflow.
    let frac = &frac_part[..frac_part.len().min(6)];
    let den = 10u64.pow(frac.len() as u32);
    let int: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| bad())?
    };
    let fr: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let num = int
        .checked_mul(den)
        .and_then(|v| v.checked_add(fr))
        .ok_or_else(bad)?;
    normalise_rate(num, den).ok_or_else(bad)
}

/// Reads a start timecode label. `force_drop` marks it drop-frame even when written with
/// colons, for platforms that carry the flag separately (iconik's `is_drop_frame`); a drop flag at
/// a rate without drop-frame is ignored rather than failing the asset.
pub fn read_timecode(label: &str, rate: FrameRate, force_drop: bool) -> Option<Timecode> {
    let tc = Timecode::parse(label, rate).ok()?;
    if force_drop && !tc.drop_frame && rate.supports_drop_frame() {
        let (h, m, s, f) = tc.hmsf();
        return Timecode::from_hmsf(h, m, s, f, rate, true).ok();
    }
    Some(tc)
}

/// Milliseconds from the media start of frame `index`'s start (rounded up, core's convention).
pub fn frame_to_ms(index: u64, rate: FrameRate) -> u64 {
    let i = i64::try_from(index).unwrap_or(i64::MAX);
    u64::try_from(rate.frame_to_time(i, TimeUnit::Millis)).unwrap_or(0)
}

/// The frame containing the instant `ms` after the media start.
pub fn ms_to_frame(ms: u64, rate: FrameRate) -> u64 {
    let t = i64::try_from(ms).unwrap_or(i64::MAX);
    u64::try_from(rate.frame_at(t, TimeUnit::Millis)).unwrap_or(0)
}

/// Wall-clock seconds (a float from platform metadata) to whole frames, rounded.
pub fn seconds_to_frames(seconds: f64, rate: FrameRate) -> Option<u64> {
    if !seconds.is_finite() || seconds < 0.0 || !rate.is_valid() {
        return None;
    }
    let frames = (seconds * f64::from(rate.num) / f64::from(rate.den)).round();
    // Saturating `as` is fine below this bound, and anything above is nonsense metadata.
    (frames < 1e15).then_some(frames as u64)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    const R23: FrameRate = FrameRate::FPS_23_976;
    const R29: FrameRate = FrameRate::FPS_29_97;

    #[test]
    fn decimal_rates_snap_to_ntsc_rationals() {
        assert_eq!(parse_decimal_rate("23.976").unwrap(), R23);
        assert_eq!(parse_decimal_rate("29.97").unwrap(), R29);
        assert_eq!(parse_decimal_rate("59.940").unwrap(), FrameRate::FPS_59_94);
        assert_eq!(parse_decimal_rate("25").unwrap(), FrameRate::FPS_25);
        assert_eq!(parse_decimal_rate("24.0").unwrap(), FrameRate::FPS_24);
        for bad in ["abc", "0", "", "-25", "2.5.1"] {
            assert!(parse_decimal_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numerator_denominator_pairs_reduce() {
        assert_eq!(normalise_rate(360, 12), Some(FrameRate::FPS_30));
        assert_eq!(normalise_rate(24000, 1001), Some(R23));
        assert_eq!(normalise_rate(2997, 100), Some(R29));
        assert_eq!(normalise_rate(25, 0), None);
    }

    #[test]
    fn start_timecodes_with_a_separate_drop_flag() {
        let df = read_timecode("01:00:00;00", R29, false).unwrap();
        assert_eq!((df.frames, df.drop_frame), (107_892, true));
        let flagged = read_timecode("01:00:00:00", R29, true).unwrap();
        assert_eq!((flagged.frames, flagged.drop_frame), (107_892, true));
        let ndf = read_timecode("01:00:00:00", R23, true).unwrap();
        assert_eq!((ndf.frames, ndf.drop_frame), (86_400, false));
        assert!(
            read_timecode("00:01:00;00", R29, false).is_none(),
            "a dropped label"
        );
        assert!(read_timecode("garbage", R23, false).is_none());
    }

    #[test]
    fn frames_survive_the_millisecond_round_trip() {
        for rate in [R23, R29, FrameRate::FPS_25, FrameRate::FPS_59_94] {
            for n in (0..200_000u64).step_by(7) {
                assert_eq!(
                    ms_to_frame(frame_to_ms(n, rate), rate),
                    n,
                    "{rate:?} frame {n}"
                );
            }
        }
        // Frame 100 at 23.976 starts at 4170.83 ms → 4171; any instant inside it reads as 100.
        assert_eq!(frame_to_ms(100, R23), 4171);
        assert_eq!(ms_to_frame(4171, R23), 100);
        assert_eq!(ms_to_frame(4212, R23), 100);
        assert_eq!(ms_to_frame(4213, R23), 101);
        // 29.97 DF: label 00:10:00;00 is frame 17982, which starts at 599,999.4 ms → 600,000.
        assert_eq!(frame_to_ms(17_982, R29), 600_000);
        assert_eq!(ms_to_frame(600_000, R29), 17_982);
    }
}
