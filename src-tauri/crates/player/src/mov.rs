//! A small, read-only QuickTime / ISO-BMFF reader for the facts GStreamer 1.22 does not hand an
//! application: the start timecode of a `tmcd` track, the exact number of video samples, and
//! the keyframe index (`stss`), which says how far back a cold seek must start decoding.
//!
//! qtdemux in 1.22 reads a `tmcd` track's sample description but neither posts its value as a tag
//! nor exposes the track, so the start timecode is read here: the `tmcd` sample entry gives the
//! flags (bit 0 = drop-frame) and the frames-per-second quanta, and the track's first sample is a
//! big-endian 32-bit frame count since midnight. Only the `moov` box is read, never the media.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What the `moov` box says about the first video track and the timecode track.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MovFacts {
    /// Number of samples in the first video track.
    pub video_samples: Option<u64>,
    /// The timecode track's first value: frames since midnight, the quanta and drop-frame flag.
    pub timecode: Option<MovTimecode>,
    /// The video track's sync samples (0-based, decode order); `None` when every sample is one
    /// (intra-only codecs such as ProRes write no `stss`).
    pub keyframes: Option<Vec<u32>>,
    /// Every video sample lasts the same (`stts`): sample numbers are then grid positions.
    pub constant_rate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MovTimecode {
    pub frames: u64,
    pub quanta: u32,
    pub drop_frame: bool,
}

/// `moov` larger than this is not a file we should parse by hand.
const MAX_MOOV: u64 = 64 << 20;

/// Reads the facts, or `None` when the file is not QuickTime/MP4 or has no `moov`.
pub(crate) fn read(path: &Path) -> Option<MovFacts> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut pos = 0u64;
    while pos + 8 <= len {
        f.seek(SeekFrom::Start(pos)).ok()?;
        let mut h = [0u8; 16];
        f.read_exact(&mut h[..8]).ok()?;
        let mut size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let kind = [h[4], h[5], h[6], h[7]];
        let mut header = 8u64;
        if size == 1 {
            f.read_exact(&mut h[8..16]).ok()?;
            size = u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
            header = 16;
        } else if size == 0 {
            size = len - pos;
        }
        if size < header {
            return None;
        }
        if &kind == b"moov" {
            if size > MAX_MOOV || pos + size > len {
                return None;
            }
            let mut moov = vec![0u8; (size - header) as usize];
            f.read_exact(&mut moov).ok()?;
            return Some(parse_moov(&moov, &mut f));
        }
        pos += size;
    }
    None
}

/// A QuickTime/MP4 file (it opens with `ftyp`) whose top-level boxes hold no `moov`: a
/// recording that was never finished or a copy cut short. Nothing can play it, and GStreamer's
/// demuxer may wait for the index instead of failing, so it is refused before decoding.
pub(crate) fn lacks_index(path: &Path) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return false;
    };
    let mut pos = 0u64;
    let mut first = true;
    while pos + 8 <= len {
        let mut h = [0u8; 16];
        if f.seek(SeekFrom::Start(pos)).is_err() || f.read_exact(&mut h[..8]).is_err() {
            return false;
        }
        let mut size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let kind = [h[4], h[5], h[6], h[7]];
        if first && &kind != b"ftyp" {
            return false;
        }
        first = false;
        if &kind == b"moov" {
            return false;
        }
        if size == 1 {
            if f.read_exact(&mut h[8..16]).is_err() {
                return false;
            }
            size = u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        } else if size == 0 {
            size = len - pos;
        }
        if size < 8 {
            return true;
        }
        pos += size;
    }
    !first
}

/// Iterates the child boxes of `data` as `(kind, body)`.
fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos + 8 > data.len() {
            return None;
        }
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().ok()?) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().ok()?;
        let (header, size) = if size == 1 {
            let s = u64::from_be_bytes(data.get(pos + 8..pos + 16)?.try_into().ok()?) as usize;
            (16, s)
        } else if size == 0 {
            (8, data.len() - pos)
        } else {
            (8, size)
        };
        if size < header || pos + size > data.len() {
            return None;
        }
        let body = &data[pos + header..pos + size];
        pos += size;
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn be64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

fn parse_moov(moov: &[u8], file: &mut File) -> MovFacts {
    let mut facts = MovFacts::default();
    for (kind, trak) in boxes(moov) {
        if &kind != b"trak" {
            continue;
        }
        let Some(mdia) = child(trak, b"mdia") else {
            continue;
        };
        // hdlr: version/flags(4) pre_defined(4) handler_type(4)
        let Some(handler) = child(mdia, b"hdlr").and_then(|h| h.get(8..12)) else {
            continue;
        };
        let Some(stbl) = child(mdia, b"minf").and_then(|m| child(m, b"stbl")) else {
            continue;
        };
        match handler {
            b"vide" if facts.video_samples.is_none() => {
                // stsz: version/flags(4) sample_size(4) sample_count(4)
                facts.video_samples = child(stbl, b"stsz").and_then(|s| be32(s, 8)).map(u64::from);
                facts.keyframes = child(stbl, b"stss").map(read_stss);
                facts.constant_rate = child(stbl, b"stts").is_some_and(constant_durations);
            }
            b"tmcd" if facts.timecode.is_none() => {
                facts.timecode = read_tmcd(stbl, file);
            }
            _ => {}
        }
    }
    facts
}

/// stts: version/flags(4) entry_count(4), then (sample_count, sample_delta) pairs. The last
/// sample may be shorter (encoders cut it at the edit's end), so it is not counted.
fn constant_durations(stts: &[u8]) -> bool {
    let count = be32(stts, 4).unwrap_or(0) as usize;
    let entries: Vec<(u32, u32)> = (0..count)
        .map_while(|k| Some((be32(stts, 8 + 8 * k)?, be32(stts, 12 + 8 * k)?)))
        .collect();
    let body = match entries.split_last() {
        Some((&(1, _), rest)) if !rest.is_empty() => rest,
        _ => &entries[..],
    };
    body.windows(2).all(|w| w[0].1 == w[1].1)
}

/// stss: version/flags(4) entry_count(4), then 1-based sample numbers.
fn read_stss(stss: &[u8]) -> Vec<u32> {
    let count = be32(stss, 4).unwrap_or(0) as usize;
    (0..count)
        .map_while(|k| be32(stss, 8 + 4 * k))
        .map(|n| n.saturating_sub(1))
        .collect()
}

fn read_tmcd(stbl: &[u8], file: &mut File) -> Option<MovTimecode> {
    // stsd: version/flags(4) entry_count(4), then the entry box 'tmcd':
    // reserved(6) data_ref(2) reserved(4) flags(4) timescale(4) frame_duration(4) quanta(1)
    let stsd = child(stbl, b"stsd")?;
    let (kind, entry) = boxes(stsd.get(8..)?).next()?;
    if &kind != b"tmcd" {
        return None;
    }
    let flags = be32(entry, 12)?;
    let quanta = *entry.get(24)? as u32;
    // The first sample's offset: first chunk of stco (32-bit) or co64 (64-bit).
    let offset = if let Some(stco) = child(stbl, b"stco") {
        be32(stco, 8).map(u64::from)?
    } else {
        be64(child(stbl, b"co64")?, 8)?
    };
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut v = [0u8; 4];
    file.read_exact(&mut v).ok()?;
    Some(MovTimecode {
        frames: u32::from_be_bytes(v) as u64,
        quanta,
        drop_frame: flags & 1 != 0,
    })
}
