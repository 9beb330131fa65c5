//! Conversions between SQLite's column types and the domain's: unsigned counts stored as
//! INTEGER, closed enums stored as their stable lowercase keys, and the stable fingerprint hash
//! used for change detection.

use framenote_core::{NodeKind, NoteStatus};

use crate::{CacheError, Result};

/// u64 → INTEGER. Values above i64::MAX (9.2e18 bytes or frames) cannot occur in practice; they
/// are refused rather than wrapped.
pub(crate) fn to_i64(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| CacheError::Invalid(format!("{what} {value} is too large")))
}

/// INTEGER → u64, refusing negatives written by something else.
pub(crate) fn to_u64(value: i64, what: &'static str) -> Result<u64> {
    u64::try_from(value).map_err(|_| CacheError::corrupt(what, format!("negative value {value}")))
}

pub(crate) fn opt_to_u64(value: Option<i64>, what: &'static str) -> Result<Option<u64>> {
    value.map(|v| to_u64(v, what)).transpose()
}

pub(crate) fn opt_to_u32(value: Option<i64>, what: &'static str) -> Result<Option<u32>> {
    value
        .map(|v| u32::try_from(v).map_err(|_| CacheError::corrupt(what, format!("value {v}"))))
        .transpose()
}

pub(crate) fn to_u32(value: i64, what: &'static str) -> Result<u32> {
    u32::try_from(value).map_err(|_| CacheError::corrupt(what, format!("value {value}")))
}

pub(crate) fn node_kind_key(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Workspace => "workspace",
        NodeKind::Project => "project",
        NodeKind::Folder => "folder",
        NodeKind::Collection => "collection",
        NodeKind::Task => "task",
        NodeKind::Playlist => "playlist",
    }
}

pub(crate) fn node_kind_from_key(key: &str) -> Result<NodeKind> {
    Ok(match key {
        "workspace" => NodeKind::Workspace,
        "project" => NodeKind::Project,
        "folder" => NodeKind::Folder,
        "collection" => NodeKind::Collection,
        "task" => NodeKind::Task,
        "playlist" => NodeKind::Playlist,
        other => return Err(CacheError::corrupt("node kind", other)),
    })
}

pub(crate) fn note_status_key(status: NoteStatus) -> &'static str {
    match status {
        NoteStatus::Open => "open",
        NoteStatus::Resolved => "resolved",
    }
}

pub(crate) fn note_status_from_key(key: &str) -> Result<NoteStatus> {
    match key {
        "open" => Ok(NoteStatus::Open),
        "resolved" => Ok(NoteStatus::Resolved),
        other => Err(CacheError::corrupt("note status", other)),
    }
}

/// A stable 64-bit FNV-1a hash as 16 hex digits. Stable across builds and toolchains (unlike
/// `DefaultHasher`), so fingerprints stored by one version of Framenote still match in the next.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        assert_eq!(fingerprint(b""), "cbf29ce484222325", "FNV-1a offset basis");
        assert_eq!(
            fingerprint(b"a"),
            "af63dc4c8601ec8c",
            "published FNV-1a 64 test vector"
        );
        assert_ne!(fingerprint(b"v1"), fingerprint(b"v2"));
    }

    #[test]
    fn out_of_range_numbers_are_errors_not_wraps() {
        assert!(to_i64(u64::MAX, "bytes").is_err());
        assert!(to_u64(-1, "bytes").is_err());
        assert_eq!(to_u64(42, "bytes").ok(), Some(42));
    }
}
