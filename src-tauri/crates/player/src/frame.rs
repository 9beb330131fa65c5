//! A decoded picture as the shell receives it: RGBA8 bytes behind an `Arc` (cheap to clone into
//! the cache, an event and the "latest frame" slot at once) with the facts that identify it.

use std::sync::Arc;

use framenote_core::Timecode;

use crate::PlayerError;

/// One frame on screen, as RGBA8 (R, G, B, A bytes per pixel, rows top to bottom, `stride`
/// bytes per row, straight alpha, always 255 for video).
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Position on the clip's frame grid, 0 for the first frame. It comes from the buffer's
    /// timestamp, never from a counter.
    pub index: i64,
    /// The number a person reads: `first_frame + index`.
    pub number: i64,
    /// The frame's timecode label.
    pub timecode: Timecode,
    /// Presentation time of the frame in the clip (stream time), in nanoseconds.
    pub time_ns: i64,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Bytes per row (at least `width * 4`).
    pub stride: u32,
    /// The pixels.
    pub data: Arc<[u8]>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("index", &self.index)
            .field("number", &self.number)
            .field("timecode", &self.timecode.to_string())
            .field("time_ns", &self.time_ns)
            .field("size", &(self.width, self.height, self.stride))
            .finish_non_exhaustive()
    }
}

impl Frame {
    /// Bytes the pixels take (what the cache counts).
    pub fn byte_size(&self) -> usize {
        self.data.len()
    }

    /// The pixel at `(x, y)` as `[r, g, b, a]`, or `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let o = y as usize * self.stride as usize + x as usize * 4;
        let p = self.data.get(o..o + 4)?;
        Some([p[0], p[1], p[2], p[3]])
    }

    /// The frame as a PNG file (RGB, 8 bits; alpha is dropped because video has none).
    pub fn to_png(&self) -> Result<Vec<u8>, PlayerError> {
        let mut rgb = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        for y in 0..self.height as usize {
            let start = y * self.stride as usize;
            let row = &self.data[start..start + self.width as usize * 4];
            for px in row.chunks_exact(4) {
                rgb.extend_from_slice(&px[..3]);
            }
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width, self.height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            let mut w = enc
                .write_header()
                .map_err(|e| PlayerError::Encode(e.to_string()))?;
            w.write_image_data(&rgb)
                .map_err(|e| PlayerError::Encode(e.to_string()))?;
        }
        Ok(out)
    }
}
