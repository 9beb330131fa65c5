//! The decoded-frame cache: RGBA frames by index, bounded by bytes, evicting the frame farthest
//! from the playhead first (what a reviewer stepping around the playhead will not ask for next).
//! It is what makes back-steps and scrubbing back cheap: a back-step decodes a run of frames
//! once (xSTUDIO's mini-cache) and the following steps are served from here.

use std::collections::BTreeMap;

use crate::Frame;

/// Default budget: 512 MiB (≈140 frames at 1280×720, ≈250 at 960×540).
pub const DEFAULT_CACHE_BYTES: usize = 512 << 20;

pub(crate) struct FrameCache {
    frames: BTreeMap<i64, Frame>,
    bytes: usize,
    budget: usize,
    peak: usize,
}

impl FrameCache {
    pub fn new(budget: usize) -> Self {
        Self {
            frames: BTreeMap::new(),
            bytes: 0,
            budget,
            peak: 0,
        }
    }

    pub fn get(&self, index: i64) -> Option<&Frame> {
        self.frames.get(&index)
    }

    pub fn contains(&self, index: i64) -> bool {
        self.frames.contains_key(&index)
    }

    /// Inserts `frame` under `index` (its own, or a position it stands for, e.g. a held VFR
    /// frame), evicting the farthest frames from `playhead` (never `index` itself).
    pub fn insert(&mut self, index: i64, frame: Frame, playhead: i64) {
        let size = frame.byte_size();
        if size > self.budget {
            return;
        }
        if let Some(old) = self.frames.insert(index, frame) {
            self.bytes -= old.byte_size();
        }
        self.bytes += size;
        while self.bytes > self.budget {
            // The farthest of the two ends of the map (the map is ordered by index).
            let (Some((&lo, _)), Some((&hi, _))) =
                (self.frames.first_key_value(), self.frames.last_key_value())
            else {
                break;
            };
            let mut victim = if (playhead - lo).abs() >= (hi - playhead).abs() {
                lo
            } else {
                hi
            };
            // Never the frame being inserted: it was decoded because someone needs it now.
            if victim == index {
                victim = if victim == lo { hi } else { lo };
                if victim == index {
                    break;
                }
            }
            if let Some(f) = self.frames.remove(&victim) {
                self.bytes -= f.byte_size();
            }
        }
        self.peak = self.peak.max(self.bytes);
    }

    pub fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn peak(&self) -> usize {
        self.peak
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// How many frames of `frame_bytes` fit.
    pub fn capacity_frames(&self, frame_bytes: usize) -> usize {
        self.budget / frame_bytes.max(1)
    }

    /// Number of consecutive cached indices starting at `from` going in `dir` (±1).
    pub fn run_len(&self, from: i64, dir: i64, limit: i64) -> i64 {
        let mut n = 0;
        while n < limit && self.frames.contains_key(&(from + dir * n)) {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {

    use framenote_core::{FrameRate, Timecode};

    use super::*;

    fn frame(i: i64) -> Frame {
        Frame {
            index: i,
            number: i,
            timecode: Timecode::zero(FrameRate::FPS_24),
            time_ns: 0,
            width: 10,
            height: 10,
            stride: 40,
            layout: Default::default(),
            from_proxy: false,
            data: vec![0u8; 400].into(),
        }
    }

    #[test]
    fn evicts_farthest_from_playhead_and_stays_in_budget() {
        let mut c = FrameCache::new(400 * 5);
        for i in 0..5 {
            c.insert(i, frame(i), 2);
        }
        assert_eq!(c.bytes(), 2000);
        // Playhead at 3: inserting 5 evicts 0 (farthest).
        c.insert(5, frame(5), 3);
        assert!(!c.contains(0) && c.contains(5));
        // Playhead at 1: inserting 6 (the farthest end) keeps 6 and evicts the other end, 1.
        c.insert(6, frame(6), 1);
        assert!(c.contains(6) && !c.contains(1));
        assert_eq!(c.bytes(), 2000);
        assert_eq!(c.peak(), 2000);
        assert_eq!(c.run_len(2, 1, 10), 5);
        assert_eq!(c.run_len(3, -1, 10), 2);
        // Replacing an entry does not double count.
        c.insert(3, frame(3), 3);
        assert_eq!(c.bytes(), 2000);
    }
}
