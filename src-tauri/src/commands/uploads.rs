//! Uploads and watch folders at the IPC boundary: drop plans, the transfer queue's controls and
//! settings, watch folders, and the OS drag-and-drop events forwarded to the UI (the webview's
//! own HTML5 drop events carry no file paths). The queue and the watchers themselves live in
//! `framenote-sync`; this file only converts and forwards.

use std::path::PathBuf;

use framenote_cache::{TransferRecord, TransferState, WatchFolderRecord};
use framenote_core::{AccountId, RemoteId};
use framenote_sync::{TransferUpdate, UploadSettings};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_specta::Event;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::{AppState, cache_error, sync_error};

/// Where uploads go.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UploadDestination {
    account_id: String,
    node_id: String,
}

/// One file a plan looked at.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PlannedFile {
    path: String,
    name: String,
    size: u64,
    subfolder: Vec<String>,
    version_hint: Option<u32>,
    rejected: Option<String>,
}

/// What a drop would send, and where.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UploadPlan {
    destination: UploadDestination,
    destination_label: String,
    takes_comment: bool,
    rejected: Option<String>,
    files: Vec<PlannedFile>,
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum TransferStateName {
    Queued,
    Running,
    Paused,
    Done,
    Failed,
    Cancelled,
}

impl From<TransferState> for TransferStateName {
    fn from(state: TransferState) -> Self {
        match state {
            TransferState::Queued => Self::Queued,
            TransferState::Running => Self::Running,
            TransferState::Paused => Self::Paused,
            TransferState::Done => Self::Done,
            TransferState::Failed => Self::Failed,
            TransferState::Cancelled => Self::Cancelled,
        }
    }
}

/// One upload of the queue; also the payload of [`TransferChanged`].
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    id: String,
    account_id: String,
    node_id: String,
    destination_label: String,
    path: String,
    name: String,
    size: u64,
    bytes_done: u64,
    state: TransferStateName,
    speed: Option<f64>,
    eta_seconds: Option<f64>,
    error: Option<String>,
    asset_id: Option<String>,
    watch_folder_id: Option<String>,
    created_at: String,
}

fn transfer_of(record: TransferRecord, speed: Option<f64>, eta_seconds: Option<f64>) -> Transfer {
    Transfer {
        id: record.id.to_string(),
        account_id: record.account.0,
        node_id: record.node.0,
        destination_label: record.destination_label,
        path: record.path,
        name: record.name,
        size: record.size,
        bytes_done: record.bytes_done.min(record.size),
        state: record.state.into(),
        speed,
        eta_seconds,
        error: record.error,
        asset_id: record.asset.map(|a| a.0),
        watch_folder_id: record.watch_folder.map(|w| w.to_string()),
        created_at: record.created_at,
    }
}

/// Upload settings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TransferSettings {
    concurrency: u32,
    bandwidth_limit: Option<u64>,
}

/// A watch folder; also the payload of [`WatchFolderChanged`].
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct WatchFolder {
    id: String,
    path: String,
    destination: UploadDestination,
    destination_label: String,
    enabled: bool,
    detect_versions: bool,
    comment: Option<String>,
    files_sent: u64,
    problem: Option<String>,
}

/// A watch folder to add.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct NewWatchFolder {
    path: String,
    destination: UploadDestination,
    detect_versions: bool,
    comment: Option<String>,
}

/// Files dragged over the window from the OS; positions in CSS pixels.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type, tauri_specta::Event)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DragDropEvent {
    /// Files entered the window.
    Enter { paths: Vec<String>, x: f64, y: f64 },
    /// They moved.
    Over { x: f64, y: f64 },
    /// They were dropped.
    Drop { paths: Vec<String>, x: f64, y: f64 },
    /// The drag left or was cancelled.
    Leave,
}

/// Tauri's drag-drop event as the UI reads it: physical pixels become CSS pixels.
pub fn drag_drop_message(event: &tauri::DragDropEvent, scale_factor: f64) -> Option<DragDropEvent> {
    let scale = if scale_factor > 0.0 {
        scale_factor
    } else {
        1.0
    };
    let paths = |paths: &[PathBuf]| -> Vec<String> {
        paths.iter().map(|p| p.display().to_string()).collect()
    };
    Some(match event {
        tauri::DragDropEvent::Enter { paths: p, position } => DragDropEvent::Enter {
            paths: paths(p),
            x: position.x / scale,
            y: position.y / scale,
        },
        tauri::DragDropEvent::Over { position } => DragDropEvent::Over {
            x: position.x / scale,
            y: position.y / scale,
        },
        tauri::DragDropEvent::Drop { paths: p, position } => DragDropEvent::Drop {
            paths: paths(p),
            x: position.x / scale,
            y: position.y / scale,
        },
        tauri::DragDropEvent::Leave => DragDropEvent::Leave,
        // A kind a newer Tauri adds: nothing the UI knows how to show.
        _ => return None,
    })
}

/// Forwards one OS drag-drop event of `window` to the UI.
pub fn forward_drag_drop(window: &tauri::Window, event: &tauri::DragDropEvent) {
    let scale = window.scale_factor().unwrap_or(1.0);
    if let Some(message) = drag_drop_message(event, scale)
        && let Err(err) = message.emit(window.app_handle())
    {
        tracing::debug!(%err, "forwarding a drag-drop event");
    }
}

fn parse_id(id: &str) -> IpcResult<i64> {
    id.parse().map_err(|_| {
        IpcError::new(
            ErrorCode::InvalidInput,
            format!("no transfer or watch folder {id}"),
        )
    })
}

/// Looks at dropped or chosen paths and says what would be sent where.
#[tauri::command]
#[specta::specta]
pub async fn plan_upload(
    state: State<'_, AppState>,
    paths: Vec<String>,
    destination: UploadDestination,
) -> IpcResult<UploadPlan> {
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    if let Some(relative) = paths.iter().find(|p| !p.is_absolute()) {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            format!("{} is not an absolute path", relative.display()),
        ));
    }
    let plan = state
        .engine
        .plan_upload(
            &paths,
            &AccountId(destination.account_id.clone()),
            &RemoteId::new(destination.node_id.clone()),
            true,
        )
        .await
        .map_err(sync_error)?;
    Ok(UploadPlan {
        destination,
        destination_label: plan.destination_label,
        takes_comment: plan.takes_comment,
        rejected: plan.rejected,
        files: plan
            .files
            .into_iter()
            .map(|f| PlannedFile {
                path: f.path.display().to_string(),
                name: f.name,
                size: f.size,
                subfolder: f.subfolder,
                version_hint: f.version_hint,
                rejected: f.rejected,
            })
            .collect(),
    })
}

/// Queues a plan's accepted files. Each file is checked again here (the UI's copy of the plan is
/// not trusted, and files may have changed since the dialog opened).
#[tauri::command]
#[specta::specta]
pub async fn queue_upload(
    state: State<'_, AppState>,
    plan: UploadPlan,
    comment: Option<String>,
) -> IpcResult<Vec<Transfer>> {
    let files: Vec<(PathBuf, Vec<String>)> = plan
        .files
        .iter()
        .filter(|f| f.rejected.is_none())
        .map(|f| (PathBuf::from(&f.path), f.subfolder.clone()))
        .collect();
    let checked = state
        .engine
        .plan_files(
            &files,
            &AccountId(plan.destination.account_id.clone()),
            &RemoteId::new(plan.destination.node_id.clone()),
            true,
        )
        .await
        .map_err(sync_error)?;
    let queued = state
        .engine
        .queue_upload(&checked, comment.as_deref(), None)
        .await
        .map_err(sync_error)?;
    Ok(queued
        .into_iter()
        .map(|t| transfer_of(t, None, None))
        .collect())
}

/// Every transfer, in queue order.
#[tauri::command]
#[specta::specta]
pub async fn list_transfers(state: State<'_, AppState>) -> IpcResult<Vec<Transfer>> {
    let list = state
        .engine
        .cache()
        .list_transfers()
        .await
        .map_err(cache_error)?;
    Ok(list
        .into_iter()
        .map(|t| transfer_of(t, None, None))
        .collect())
}

/// Holds a transfer.
#[tauri::command]
#[specta::specta]
pub async fn pause_transfer(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    state
        .engine
        .pause_transfer(parse_id(&id)?)
        .await
        .map_err(sync_error)
}

/// Lets a paused transfer go on.
#[tauri::command]
#[specta::specta]
pub async fn resume_transfer(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    state
        .engine
        .resume_transfer(parse_id(&id)?)
        .await
        .map_err(sync_error)
}

/// Gives a transfer up.
#[tauri::command]
#[specta::specta]
pub async fn cancel_transfer(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    state
        .engine
        .cancel_transfer(parse_id(&id)?)
        .await
        .map_err(sync_error)
}

/// Tries a failed transfer again.
#[tauri::command]
#[specta::specta]
pub async fn retry_transfer(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    state
        .engine
        .retry_transfer(parse_id(&id)?)
        .await
        .map_err(sync_error)
}

/// Forgets finished transfers.
#[tauri::command]
#[specta::specta]
pub async fn clear_finished_transfers(state: State<'_, AppState>) -> IpcResult<()> {
    state
        .engine
        .clear_finished_transfers()
        .await
        .map(|_| ())
        .map_err(sync_error)
}

/// The upload settings.
#[tauri::command]
#[specta::specta]
pub async fn transfer_settings(state: State<'_, AppState>) -> IpcResult<TransferSettings> {
    let s = state.engine.upload_settings().await.map_err(sync_error)?;
    Ok(TransferSettings {
        concurrency: s.concurrency,
        bandwidth_limit: s.bandwidth_limit,
    })
}

/// Changes the upload settings (clamped to what the queue supports).
#[tauri::command]
#[specta::specta]
pub async fn set_transfer_settings(
    state: State<'_, AppState>,
    settings: TransferSettings,
) -> IpcResult<TransferSettings> {
    let s = state
        .engine
        .set_upload_settings(UploadSettings {
            concurrency: settings.concurrency,
            bandwidth_limit: settings.bandwidth_limit,
        })
        .await
        .map_err(sync_error)?;
    Ok(TransferSettings {
        concurrency: s.concurrency,
        bandwidth_limit: s.bandwidth_limit,
    })
}

fn watch_folder_of(state: &AppState, record: WatchFolderRecord) -> WatchFolder {
    let problem = state.watch_problem(record.id);
    WatchFolder {
        id: record.id.to_string(),
        path: record.path,
        destination: UploadDestination {
            account_id: record.account.0,
            node_id: record.node.0,
        },
        destination_label: record.destination_label,
        enabled: record.enabled,
        detect_versions: record.detect_versions,
        comment: record.comment,
        files_sent: record.files_sent,
        problem,
    }
}

/// The watch folders.
#[tauri::command]
#[specta::specta]
pub async fn list_watch_folders(state: State<'_, AppState>) -> IpcResult<Vec<WatchFolder>> {
    let list = state
        .engine
        .cache()
        .list_watch_folders()
        .await
        .map_err(cache_error)?;
    Ok(list
        .into_iter()
        .map(|f| watch_folder_of(&state, f))
        .collect())
}

/// Adds a watch folder and starts watching it.
#[tauri::command]
#[specta::specta]
pub async fn add_watch_folder(
    state: State<'_, AppState>,
    folder: NewWatchFolder,
) -> IpcResult<WatchFolder> {
    let record = state
        .engine
        .add_watch_folder(
            std::path::Path::new(&folder.path),
            &AccountId(folder.destination.account_id),
            &RemoteId::new(folder.destination.node_id),
            folder.detect_versions,
            folder.comment.as_deref(),
        )
        .await
        .map_err(sync_error)?;
    state.reload_watch_folders();
    Ok(watch_folder_of(&state, record))
}

/// Turns watching a folder on or off.
#[tauri::command]
#[specta::specta]
pub async fn set_watch_folder_enabled(
    state: State<'_, AppState>,
    id: String,
    enabled: bool,
) -> IpcResult<WatchFolder> {
    let id = parse_id(&id)?;
    let cache = state.engine.cache();
    cache
        .set_watch_folder_enabled(id, enabled)
        .await
        .map_err(cache_error)?;
    state.reload_watch_folders();
    let record = cache.watch_folder(id).await.map_err(cache_error)?;
    Ok(watch_folder_of(&state, record))
}

/// Stops watching a folder; its queued uploads stay.
#[tauri::command]
#[specta::specta]
pub async fn remove_watch_folder(state: State<'_, AppState>, id: String) -> IpcResult<()> {
    state
        .engine
        .cache()
        .remove_watch_folder(parse_id(&id)?)
        .await
        .map_err(cache_error)?;
    state.reload_watch_folders();
    Ok(())
}

/// Emits a transfer update to the UI.
pub fn emit_transfer(app: &AppHandle, update: TransferUpdate) -> tauri::Result<()> {
    transfer_of(update.record, update.speed, update.eta_seconds).emit(app)
}

/// Emits a watch folder's current record to the UI.
pub async fn emit_watch_folder(app: &AppHandle, state: &AppState, id: i64) -> tauri::Result<()> {
    match state.engine.cache().watch_folder(id).await {
        Ok(record) => watch_folder_of(state, record).emit(app),
        // Removed meanwhile: nothing to show.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tauri::PhysicalPosition;

    /// The handler gets exactly what Tauri delivers for a drop from a file manager on a 2× screen.
    #[test]
    fn tauri_drop_events_become_css_pixel_messages() {
        let drop = tauri::DragDropEvent::Drop {
            paths: vec![
                PathBuf::from("/renders/sh010_comp_v003.mov"),
                PathBuf::from("/renders/plates"),
            ],
            position: PhysicalPosition::new(400.0, 300.0),
        };
        assert_eq!(
            drag_drop_message(&drop, 2.0),
            Some(DragDropEvent::Drop {
                paths: vec![
                    "/renders/sh010_comp_v003.mov".into(),
                    "/renders/plates".into()
                ],
                x: 200.0,
                y: 150.0,
            })
        );
        let over = tauri::DragDropEvent::Over {
            position: PhysicalPosition::new(10.0, 20.0),
        };
        assert_eq!(
            drag_drop_message(&over, 0.0),
            Some(DragDropEvent::Over { x: 10.0, y: 20.0 }),
            "a missing scale factor counts as 1"
        );
        assert_eq!(
            drag_drop_message(&tauri::DragDropEvent::Leave, 1.0),
            Some(DragDropEvent::Leave)
        );
        let json = serde_json::to_value(drag_drop_message(&drop, 1.0)).unwrap();
        assert_eq!(json["kind"], "drop");
        assert_eq!(json["paths"][1], "/renders/plates");
    }
}
