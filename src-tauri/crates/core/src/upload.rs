//! What a file name says before anything is sent: whether it is media a reviewer can review, the
//! version number artists put in names (`sh010_comp_v003.mov`), and whether it is a file still
//! being written or a system file that must never be uploaded (hidden files, editors' and
//! browsers' partial downloads, render temporaries). Pure functions on names: no I/O.

/// The kind of reviewable media a file name promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A movie.
    Movie,
    /// A still image or one frame of a sequence.
    Image,
    /// Sound only.
    Audio,
}

const MOVIES: &[&str] = &[
    "mov", "mp4", "m4v", "mxf", "mkv", "avi", "webm", "mpg", "mpeg", "mts", "m2ts", "ts", "r3d",
    "braw", "ari",
];
const IMAGES: &[&str] = &[
    "png", "jpg", "jpeg", "tif", "tiff", "exr", "dpx", "tga", "bmp", "gif", "webp", "psd", "heic",
];
const AUDIO: &[&str] = &[
    "wav", "aif", "aiff", "mp3", "m4a", "aac", "flac", "ogg", "opus",
];

/// The media kind of a file name, by its extension (case-insensitive); `None` for anything else.
pub fn media_kind_of(file_name: &str) -> Option<MediaKind> {
    let (_, extension) = file_name.rsplit_once('.')?;
    let extension = extension.to_ascii_lowercase();
    let is = |list: &[&str]| list.contains(&extension.as_str());
    if is(MOVIES) {
        Some(MediaKind::Movie)
    } else if is(IMAGES) {
        Some(MediaKind::Image)
    } else if is(AUDIO) {
        Some(MediaKind::Audio)
    } else {
        None
    }
}

/// The version number in a name such as `sh010_comp_v003.mov`, `SH010-v12.mp4` or
/// `sh010.comp.V7.mov`: the last `v` + digits that stands alone (after a separator or at the
/// start, before a separator, a dot or the end). `None` when there is none.
pub fn version_from_name(file_name: &str) -> Option<u32> {
    let stem = match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file_name,
    };
    let bytes = stem.as_bytes();
    let mut found = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'v' && b != b'V' {
            continue;
        }
        let starts_word = i == 0 || matches!(bytes[i - 1], b'_' | b'-' | b'.' | b' ');
        if !starts_word {
            continue;
        }
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 || digits > 6 {
            continue;
        }
        let end = i + 1 + digits;
        let ends_word = end == bytes.len() || matches!(bytes[end], b'_' | b'-' | b'.' | b' ');
        if ends_word {
            found = stem[i + 1..end].parse().ok();
        }
    }
    found
}

/// Whether a file name is one a person would never mean to send: hidden files, system files,
/// partial downloads and the temporaries that renderers, editors and copy tools write before
/// renaming to the final name.
pub fn is_transient_name(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    if lower.starts_with('.') || lower.starts_with("~$") || lower.ends_with('~') {
        return true;
    }
    const SYSTEM: &[&str] = &["thumbs.db", "desktop.ini", "icon\r"];
    if SYSTEM.contains(&lower.as_str()) {
        return true;
    }
    const PARTIAL: &[&str] = &[
        ".part",
        ".partial",
        ".crdownload",
        ".download",
        ".tmp",
        ".temp",
        ".swp",
        ".filepart",
        ".!qb",
        ".aria2",
        ".lock",
    ];
    PARTIAL.iter().any(|suffix| lower.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_kinds_come_from_the_extension() {
        assert_eq!(media_kind_of("sh010_comp_v003.MOV"), Some(MediaKind::Movie));
        assert_eq!(media_kind_of("plate.1001.exr"), Some(MediaKind::Image));
        assert_eq!(media_kind_of("mix.wav"), Some(MediaKind::Audio));
        assert_eq!(media_kind_of("notes.txt"), None);
        assert_eq!(media_kind_of("README"), None);
        assert_eq!(media_kind_of("archive.mov.zip"), None);
    }

    #[test]
    fn versions_are_read_from_names_as_artists_write_them() {
        assert_eq!(version_from_name("sh010_comp_v003.mov"), Some(3));
        assert_eq!(version_from_name("SH010-V12.mp4"), Some(12));
        assert_eq!(version_from_name("sh010.comp.v7.mov"), Some(7));
        assert_eq!(version_from_name("v2.mov"), Some(2));
        assert_eq!(version_from_name("sh010_v002_comp_v004.mov"), Some(4));
        // Not versions: part of a word, no digits, no separator after.
        assert_eq!(version_from_name("preview.mov"), None);
        assert_eq!(version_from_name("sh010_dev3.mov"), None);
        assert_eq!(version_from_name("sh010_v3a.mov"), None);
        assert_eq!(version_from_name("sh010_v.mov"), None);
    }

    #[test]
    fn transient_names_are_recognised() {
        for name in [
            ".DS_Store",
            ".sh010.mov.swp",
            "sh010.mov.part",
            "sh010.mov.crdownload",
            "render.tmp",
            "~$notes.docx",
            "sh010.mov~",
            "Thumbs.db",
        ] {
            assert!(is_transient_name(name), "{name}");
        }
        for name in ["sh010_comp_v003.mov", "plate.1001.exr", "temp_grade.mov"] {
            assert!(!is_transient_name(name), "{name}");
        }
    }
}
