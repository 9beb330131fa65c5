//! Reads the frame code scripts/corpus.sh burns into every frame: 20 cells across the top of
//! the picture (white guard, black guard, 16 bits of frame number MSB first, parity, inverse
//! parity). A frame whose guards or parity do not check out is reported as unreadable rather
//! than misread.

use framenote_player::Frame;

const CELLS: u32 = 20;

/// The frame number coded in `frame`'s pixels, or a description of why it cannot be read.
pub fn read(frame: &Frame) -> Result<u32, String> {
    // The strip is 64/1080 of the height; sample the middle of each cell, at a third of that.
    let y = (frame.height * 64 / 1080 / 3).max(1);
    let cell_w = frame.width / CELLS;
    let mut bits = [false; CELLS as usize];
    for (c, bit) in bits.iter_mut().enumerate() {
        let x = c as u32 * cell_w + cell_w / 2;
        let [r, g, b, _] = frame.pixel(x, y).ok_or("pixel outside the frame")?;
        let luma = (r as u32 * 299 + g as u32 * 587 + b as u32 * 114) / 1000;
        if (60..=195).contains(&luma) {
            return Err(format!("cell {c} is grey ({luma}) in {frame:?}"));
        }
        *bit = luma > 127;
    }
    if !bits[0] || bits[1] {
        return Err(format!("guard cells wrong in {frame:?}"));
    }
    let mut n = 0u32;
    for &b in &bits[2..18] {
        n = n << 1 | b as u32;
    }
    let parity = n.count_ones() % 2 == 1;
    if bits[18] != parity || bits[19] == parity {
        return Err(format!("parity wrong for {n} in {frame:?}"));
    }
    Ok(n)
}
