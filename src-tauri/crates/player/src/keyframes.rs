//! The keyframe index of a clip: where a decoder can start. A cold seek to frame `i` must decode
//! every frame from the keyframe at or before `i`, so this says what a seek will cost before it
//! is made — whether a scrub proxy would help, and what the physical floor of a seek is.

use std::sync::Arc;

/// Keyframes of the video track, as the container lists them (decode order, 0-based). With
/// B-frames the decode and display positions of a keyframe differ by the reorder delay (one or
/// two frames), which is noise at the scale this is used for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeyframeIndex {
    /// The container does not say (not QuickTime/MP4, or a network stream).
    #[default]
    Unknown,
    /// Every frame is a keyframe (intra-only codecs: ProRes, DNxHD, MJPEG…).
    EveryFrame,
    /// The keyframes, ascending.
    At(Arc<[u32]>),
}

impl KeyframeIndex {
    /// From a `stss` box's list (`None`: the box is absent, so every sample is a sync sample).
    pub(crate) fn from_sync_samples(samples: Option<Vec<u32>>) -> Self {
        match samples {
            None => KeyframeIndex::EveryFrame,
            Some(mut v) => {
                v.sort_unstable();
                v.dedup();
                KeyframeIndex::At(v.into())
            }
        }
    }

    /// Frames a cold seek to `index` decodes (1 when `index` is a keyframe), if known.
    pub fn seek_run(&self, index: i64) -> Option<i64> {
        match self {
            KeyframeIndex::Unknown => None,
            KeyframeIndex::EveryFrame => Some(1),
            KeyframeIndex::At(k) => {
                let i = index.max(0);
                let at = k.partition_point(|&f| i64::from(f) <= i);
                let start = at.checked_sub(1).map(|a| i64::from(k[a])).unwrap_or(0);
                Some(i - start + 1)
            }
        }
    }

    /// The longest distance between keyframes (the worst cold seek), if known. `frames` is the
    /// clip's frame count, which closes the last GOP.
    pub fn longest_run(&self, frames: Option<u64>) -> Option<i64> {
        match self {
            KeyframeIndex::Unknown => None,
            KeyframeIndex::EveryFrame => Some(1),
            KeyframeIndex::At(k) => {
                let end = frames
                    .map(|f| f as i64)
                    .or_else(|| k.last().map(|&l| l as i64 + 1))?;
                let mut longest = 0;
                let mut prev = 0i64;
                for &f in k.iter().chain(std::iter::once(&(end.max(0) as u32))) {
                    longest = longest.max(i64::from(f) - prev);
                    prev = i64::from(f);
                }
                Some(longest.max(1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_runs_count_from_the_keyframe_before() {
        let k = KeyframeIndex::from_sync_samples(Some(vec![0, 250, 500]));
        assert_eq!(k.seek_run(0), Some(1));
        assert_eq!(k.seek_run(249), Some(250));
        assert_eq!(k.seek_run(250), Some(1));
        assert_eq!(k.seek_run(620), Some(121));
        assert_eq!(k.longest_run(Some(960)), Some(460));
        assert_eq!(KeyframeIndex::from_sync_samples(None).seek_run(77), Some(1));
        assert_eq!(KeyframeIndex::Unknown.seek_run(77), None);
    }
}
