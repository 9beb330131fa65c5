//! The binary frame message the viewer draws: a 48-byte little-endian header and the pixels,
//! RGBA rows or three tight I420 planes (Y, U, V) as the flags say.
//!
//! Frames never travel as JSON. The header carries what the UI must show for the frame it draws,
//! so the frame counter and timecode on screen are always those of the pixels on screen:
//!
//! | bytes  | field                                            |
//! |--------|--------------------------------------------------|
//! | 0..4   | ASCII magic `FNF1`                               |
//! | 4..8   | u32 width                                        |
//! | 8..12  | u32 height                                       |
//! | 12..16 | u32 flags: bit 0 playing; bit 1 I420; bits 2–3 YUV matrix (0 BT.709, 1 BT.601, 2 BT.2020); bit 4 full range; bit 5 from the scrub proxy |
//! | 16..24 | u64 media frame index (0 = first frame)          |
//! | 24..32 | i64 display frame number (first frame + index)   |
//! | 32..48 | ASCII timecode, NUL-padded                       |

/// Size of the header in bytes.
pub const HEADER_LEN: usize = 48;
/// First four bytes of every frame message.
pub const MAGIC: &[u8; 4] = b"FNF1";
/// Flag bit: the player was playing when this frame was shown.
pub const FLAG_PLAYING: u32 = 1;
/// Flag bit: the pixels are I420 planes, not RGBA.
pub const FLAG_I420: u32 = 1 << 1;
/// Flag bits 2–3: the YUV matrix.
const MATRIX_SHIFT: u32 = 2;
/// Flag bit: YUV in full range (0–255).
pub const FLAG_FULL_RANGE: u32 = 1 << 4;
/// Flag bit: the picture is the scrub proxy's (the original's frame follows).
pub const FLAG_PROXY: u32 = 1 << 5;

/// The flag bits that describe a frame's pixel layout.
pub fn layout_flags(layout: framenote_player::PixelLayout) -> u32 {
    use framenote_player::{PixelLayout, YuvMatrix};
    match layout {
        PixelLayout::Rgba => 0,
        PixelLayout::I420 { matrix, full_range } => {
            let m = match matrix {
                YuvMatrix::Bt709 => 0,
                YuvMatrix::Bt601 => 1,
                YuvMatrix::Bt2020 => 2,
            };
            FLAG_I420 | (m << MATRIX_SHIFT) | if full_range { FLAG_FULL_RANGE } else { 0 }
        }
    }
}

/// What the header says about a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Flag bits.
    pub flags: u32,
    /// Media frame index.
    pub index: u64,
    /// Frame number shown to people.
    pub display_number: i64,
    /// SMPTE label, at most 16 ASCII bytes.
    pub timecode: String,
}

/// Packs a header and the pixels (RGBA rows or I420 planes, without padding) into one message.
pub fn pack(header: &FrameHeader, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + pixels.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&header.width.to_le_bytes());
    out.extend_from_slice(&header.height.to_le_bytes());
    out.extend_from_slice(&header.flags.to_le_bytes());
    out.extend_from_slice(&header.index.to_le_bytes());
    out.extend_from_slice(&header.display_number.to_le_bytes());
    let mut tc = [0u8; 16];
    let label = header.timecode.as_bytes();
    let n = label.len().min(16);
    tc[..n].copy_from_slice(&label[..n]);
    out.extend_from_slice(&tc);
    out.extend_from_slice(pixels);
    out
}

/// Reads a header back (the UI does the same in TypeScript; this keeps the two honest in tests).
#[cfg(test)]
pub fn unpack(message: &[u8]) -> Option<(FrameHeader, &[u8])> {
    if message.len() < HEADER_LEN || &message[..4] != MAGIC {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(message[at..at + 4].try_into().unwrap_or_default());
    let u64_at = |at: usize| u64::from_le_bytes(message[at..at + 8].try_into().unwrap_or_default());
    let tc_bytes = &message[32..48];
    let tc_len = tc_bytes.iter().position(|&b| b == 0).unwrap_or(16);
    let header = FrameHeader {
        width: u32_at(4),
        height: u32_at(8),
        flags: u32_at(12),
        index: u64_at(16),
        display_number: u64_at(24) as i64,
        timecode: String::from_utf8_lossy(&tc_bytes[..tc_len]).into_owned(),
    };
    Some((header, &message[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_pixels_follow_it() {
        let header = FrameHeader {
            width: 2,
            height: 1,
            flags: FLAG_PLAYING,
            index: 46,
            display_number: 1047,
            timecode: "01:00:01;23".into(),
        };
        let pixels = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let message = pack(&header, &pixels);
        assert_eq!(message.len(), HEADER_LEN + pixels.len());
        let (back, rgba) = unpack(&message).expect("a packed message unpacks");
        assert_eq!(back, header);
        assert_eq!(rgba, pixels);
    }

    #[test]
    fn negative_display_numbers_and_long_labels_survive() {
        let header = FrameHeader {
            width: 0,
            height: 0,
            flags: 0,
            index: 0,
            display_number: -5,
            timecode: "0123456789abcdefXYZ".into(),
        };
        let (back, _) = unpack(&pack(&header, &[])).expect("unpacks");
        assert_eq!(back.display_number, -5);
        assert_eq!(
            back.timecode, "0123456789abcdef",
            "labels are cut at 16 bytes"
        );
    }

    #[test]
    fn foreign_bytes_are_rejected() {
        assert!(unpack(b"nope").is_none());
        assert!(unpack(&[0u8; 64]).is_none());
    }
}
