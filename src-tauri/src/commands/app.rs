//! Commands about the app itself: version, folders, keyring status.

use serde::Serialize;
use tauri::State;

use crate::error::IpcResult;
use crate::state::AppState;

/// What the About box and the status bar show.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// The app's version.
    pub version: String,
    /// The data folder (cache, offline media, logs).
    pub data_dir: String,
    /// The log folder.
    pub log_dir: String,
}

/// Version and folders.
#[tauri::command]
#[specta::specta]
pub fn app_info(state: State<'_, AppState>) -> IpcResult<AppInfo> {
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        data_dir: state.dirs.data.display().to_string(),
        log_dir: state.dirs.logs.display().to_string(),
    })
}
