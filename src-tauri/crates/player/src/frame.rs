//! A decoded picture as the shell receives it: RGBA8 or planar YUV 4:2:0 bytes behind an `Arc`
//! (cheap to clone into the cache, an event and the "latest frame" slot at once) with the facts
//! that identify it.
//!
//! Why YUV at all: on two cores the decoder already uses both, and converting each 720p frame to
//! RGBA on the CPU costs more than a third of the decode rate. A viewer with a GPU converts YUV
//! for free in a shader (what mpv and RV do), and the frame is 2.7× smaller on the wire and in
//! the cache. Snapshots and probes still ask for RGBA.

use std::sync::Arc;

use framenote_core::Timecode;

use crate::PlayerError;

/// The pixel layout a player delivers (chosen when it opens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// RGBA8, converted on the CPU.
    #[default]
    Rgba,
    /// Planar YUV 4:2:0 as the decoder made it (scaled, not converted).
    I420,
}

/// The matrix that turns a frame's YUV into RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YuvMatrix {
    /// SD (ITU-R BT.601).
    Bt601,
    /// HD (ITU-R BT.709), the default for anything untagged at HD sizes.
    #[default]
    Bt709,
    /// UHD/HDR (ITU-R BT.2020 non-constant luminance).
    Bt2020,
}

/// How a frame's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelLayout {
    /// R, G, B, A bytes per pixel, `stride` bytes per row, alpha always 255.
    #[default]
    Rgba,
    /// Three tight planes: Y (`width × height`), then U and V (each `⌈width/2⌉ × ⌈height/2⌉`).
    I420 {
        /// The YUV → RGB matrix.
        matrix: YuvMatrix,
        /// Full range (0–255) rather than video range (16–235 / 16–240).
        full_range: bool,
    },
}

/// One frame on screen, rows top to bottom, in the [`PixelLayout`] it says.
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
    /// Bytes per row: at least `width * 4` for RGBA, `width` (the Y plane) for I420.
    pub stride: u32,
    /// How `data` is laid out.
    pub layout: PixelLayout,
    /// The picture comes from the scrub proxy (lighter; the original's frame follows).
    pub from_proxy: bool,
    /// The pixels.
    pub data: Pixels,
}

/// A frame's bytes, cheap to clone: owned, or the decoder's own buffer kept mapped, so a
/// picture already laid out as the viewer wants it is never copied.
#[derive(Clone)]
pub struct Pixels(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl Pixels {
    /// Wraps bytes that are shared elsewhere too (a mapped buffer, say).
    pub(crate) fn shared(bytes: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Self {
        Self(bytes)
    }
}

impl std::ops::Deref for Pixels {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl From<Vec<u8>> for Pixels {
    fn from(v: Vec<u8>) -> Self {
        Self(Arc::new(v))
    }
}

impl PartialEq for Pixels {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Pixels {}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("index", &self.index)
            .field("number", &self.number)
            .field("timecode", &self.timecode.to_string())
            .field("time_ns", &self.time_ns)
            .field("size", &(self.width, self.height, self.stride))
            .field("layout", &self.layout)
            .field("from_proxy", &self.from_proxy)
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
        match self.layout {
            PixelLayout::Rgba => {
                let o = y as usize * self.stride as usize + x as usize * 4;
                let p = self.data.get(o..o + 4)?;
                Some([p[0], p[1], p[2], p[3]])
            }
            PixelLayout::I420 { matrix, full_range } => {
                let (w, h) = (self.width as usize, self.height as usize);
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let luma = *self
                    .data
                    .get(y as usize * self.stride as usize + x as usize)?;
                let c = (y as usize / 2) * cw + x as usize / 2;
                let u = *self.data.get(w * h + c)?;
                let v = *self.data.get(w * h + cw * ch + c)?;
                let [r, g, b] = yuv_to_rgb(luma, u, v, matrix, full_range);
                Some([r, g, b, 255])
            }
        }
    }

    /// The frame as a PNG file (RGB, 8 bits; alpha is dropped because video has none).
    pub fn to_png(&self) -> Result<Vec<u8>, PlayerError> {
        let mut rgb = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        for y in 0..self.height {
            for x in 0..self.width {
                let px = self.pixel(x, y).ok_or_else(|| {
                    PlayerError::Encode("the frame is shorter than its size".into())
                })?;
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

/// One YUV sample as RGB, with the frame's matrix and range (what the viewer's shader does).
pub(crate) fn yuv_to_rgb(y: u8, u: u8, v: u8, matrix: YuvMatrix, full_range: bool) -> [u8; 3] {
    // Kr and Kb of each matrix; the rest follows from them.
    let (kr, kb) = match matrix {
        YuvMatrix::Bt601 => (0.299, 0.114),
        YuvMatrix::Bt709 => (0.2126, 0.0722),
        YuvMatrix::Bt2020 => (0.2627, 0.0593),
    };
    let (yf, uf, vf) = if full_range {
        (
            y as f32 / 255.0,
            (u as f32 - 128.0) / 255.0,
            (v as f32 - 128.0) / 255.0,
        )
    } else {
        (
            (y as f32 - 16.0) / 219.0,
            (u as f32 - 128.0) / 224.0,
            (v as f32 - 128.0) / 224.0,
        )
    };
    let kg = 1.0 - kr - kb;
    let r = yf + 2.0 * (1.0 - kr) * vf;
    let b = yf + 2.0 * (1.0 - kb) * uf;
    let g = (yf - kr * r - kb * b) / kg;
    let q = |c: f32| (c * 255.0).round().clamp(0.0, 255.0) as u8;
    [q(r), q(g), q(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_range_black_white_and_grey() {
        for m in [YuvMatrix::Bt601, YuvMatrix::Bt709, YuvMatrix::Bt2020] {
            assert_eq!(yuv_to_rgb(16, 128, 128, m, false), [0, 0, 0]);
            assert_eq!(yuv_to_rgb(235, 128, 128, m, false), [255, 255, 255]);
            assert_eq!(yuv_to_rgb(255, 128, 128, m, true), [255, 255, 255]);
        }
    }

    #[test]
    fn bt709_primaries() {
        // BT.709 red in video range: Y 63, Cb 102, Cr 240.
        let [r, g, b] = yuv_to_rgb(63, 102, 240, YuvMatrix::Bt709, false);
        assert!(r >= 253 && g <= 2 && b <= 2, "{r} {g} {b}");
    }
}
