//! Where Framenote keeps its files: one data folder per user (per OS convention), shared by the
//! app and the CLI, overridable for tests and for a second profile.

use std::path::PathBuf;

/// Environment variable that overrides the data folder (tests, CI, a second profile).
pub const DATA_DIR_ENV: &str = "FRAMENOTE_DATA_DIR";

/// The app's folders.
#[derive(Debug, Clone)]
pub struct AppDirs {
    /// Root of everything below.
    pub data: PathBuf,
    /// Offline proxies.
    pub media: PathBuf,
    /// Rotating logs.
    pub logs: PathBuf,
    /// Thumbnails and other derived files that can be rebuilt.
    pub derived: PathBuf,
}

impl AppDirs {
    /// Resolves the folders (`$FRAMENOTE_DATA_DIR`, else the per-user data folder the CLI uses
    /// too, so the app and `framenote <command>` share one cache and one outbox) and creates them.
    pub fn resolve(explicit: Option<PathBuf>) -> std::io::Result<Self> {
        let data = explicit
            .or_else(|| std::env::var_os(DATA_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(crate::cli::default_data_dir);
        let dirs = Self {
            media: data.join("media"),
            logs: data.join("logs"),
            derived: data.join("derived"),
            data,
        };
        for dir in [&dirs.data, &dirs.media, &dirs.logs, &dirs.derived] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(dirs)
    }
}
