//! Sync, offline pins and long tasks: start them, cancel them, and forward the engine's progress
//! to the UI as typed events. Tasks run on the app's runtime; each has a cancellation token kept
//! in the state under its task id until it ends.

use std::sync::Arc;

use framenote_cache::{MediaState, OpState, PinScope as CachePinScope};
use framenote_core::{AccountId, RemoteId};
use framenote_sync::{Cancellation, PullOptions, SyncEngine, SyncEvent};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_specta::Event;

use crate::error::{IpcError, IpcResult};
use crate::state::{AppState, cache_error, sync_error};

/// What to keep offline (or stop keeping).
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PinScope {
    /// One asset's latest version.
    #[serde(rename_all = "camelCase")]
    Asset {
        /// Account.
        account_id: String,
        /// Asset.
        asset_id: String,
    },
    /// A node (task, playlist, folder, project) and everything under it.
    #[serde(rename_all = "camelCase")]
    Node {
        /// Account.
        account_id: String,
        /// Node.
        node_id: String,
    },
}

impl PinScope {
    fn split(self) -> (AccountId, CachePinScope) {
        match self {
            PinScope::Asset {
                account_id,
                asset_id,
            } => (
                AccountId(account_id),
                CachePinScope::Asset(RemoteId::new(asset_id)),
            ),
            PinScope::Node {
                account_id,
                node_id,
            } => (
                AccountId(account_id),
                CachePinScope::Node(RemoteId::new(node_id)),
            ),
        }
    }
}

/// A long task's progress (sync, download), for the task tray.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct TaskProgress {
    task_id: String,
    kind: String,
    label: String,
    progress: Option<f64>,
    state: String,
    error: Option<IpcError>,
    cancellable: bool,
}

/// Metadata pull progress of an account.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    account_id: String,
    phase: String,
    nodes: u64,
    assets: u64,
    notes: u64,
}

/// A note's outbox operation moved (the UI re-reads that version's notes).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct OutboxChanged {
    account_id: String,
    note_id: Option<String>,
    state: String,
    error: Option<String>,
}

/// An offline copy moved.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct OfflineChanged {
    account_id: String,
    version_id: String,
    bytes: u64,
    total: Option<u64>,
    state: String,
}

/// An account's reachability changed.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionChanged {
    account_id: String,
    connection: crate::commands::library::Connection,
    message: Option<String>,
}

/// Flushes the outbox, pulls, and brings offline copies up to date; returns the task id.
#[tauri::command]
#[specta::specta]
pub async fn sync_now(
    app: AppHandle,
    state: State<'_, AppState>,
    account_id: String,
) -> IpcResult<String> {
    let account = AccountId(account_id);
    let label = format!("Syncing {}", state.account_record(&account).await?.label);
    Ok(spawn_task(
        &app,
        &state,
        "sync",
        label,
        move |engine, cancel| async move {
            engine
                .sync_account(&account, PullOptions::default(), &cancel)
                .await
                .map(|_| ())
                .map_err(sync_error)
        },
    ))
}

/// Cancels a long task (unknown ids are ignored: it already ended).
#[tauri::command]
#[specta::specta]
pub fn cancel_task(state: State<'_, AppState>, task_id: String) -> IpcResult<()> {
    if let Some(token) = state
        .tasks
        .lock()
        .ok()
        .and_then(|t| t.get(&task_id).cloned())
    {
        token.cancel();
    }
    Ok(())
}

/// Makes an asset or a node available offline and starts the downloads.
#[tauri::command]
#[specta::specta]
pub async fn pin(app: AppHandle, state: State<'_, AppState>, scope: PinScope) -> IpcResult<()> {
    let (account, scope) = scope.split();
    state
        .engine
        .cache()
        .pin(&account, &scope)
        .await
        .map_err(cache_error)?;
    spawn_offline(&app, &state, account);
    Ok(())
}

/// Stops keeping an asset or a node offline; unpinned copies are evicted.
#[tauri::command]
#[specta::specta]
pub async fn unpin(app: AppHandle, state: State<'_, AppState>, scope: PinScope) -> IpcResult<()> {
    let (account, scope) = scope.split();
    state
        .engine
        .cache()
        .unpin(&account, &scope)
        .await
        .map_err(cache_error)?;
    spawn_offline(&app, &state, account);
    Ok(())
}

fn spawn_offline(app: &AppHandle, state: &AppState, account: AccountId) {
    spawn_task(
        app,
        state,
        "download",
        "Offline copies".into(),
        move |engine, cancel| async move {
            engine
                .sync_offline(&account, &cancel)
                .await
                .map(|_| ())
                .map_err(sync_error)
        },
    );
}

/// Posts the outbox of `account` in the background (a note just written, a retry).
pub fn flush_outbox_soon(state: &AppState, account: &AccountId) {
    let engine = state.engine.clone();
    let account = account.clone();
    tauri::async_runtime::spawn(async move {
        let cancel = Cancellation::new();
        if let Err(err) = engine.push(&account, &cancel).await {
            tracing::info!(%err, account = %account.0, "outbox not flushed; it stays queued");
        }
    });
}

fn spawn_task<F, Fut>(
    app: &AppHandle,
    state: &AppState,
    kind: &str,
    label: String,
    work: F,
) -> String
where
    F: FnOnce(Arc<SyncEngine>, Cancellation) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = IpcResult<()>> + Send + 'static,
{
    let task_id = format!("task-{}", uuid_like());
    let cancel = Cancellation::new();
    if let Ok(mut tasks) = state.tasks.lock() {
        tasks.insert(task_id.clone(), cancel.clone());
    }
    let progress = TaskProgress {
        task_id: task_id.clone(),
        kind: kind.to_string(),
        label,
        progress: None,
        state: "running".into(),
        error: None,
        cancellable: true,
    };
    let _ = progress.emit(app);
    let engine = state.engine.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let outcome = work(engine, cancel.clone()).await;
        let (state_name, error) = match outcome {
            Ok(()) => ("done", None),
            Err(_) if cancel.is_cancelled() => ("cancelled", None),
            Err(e) => ("failed", Some(e)),
        };
        let finished = TaskProgress {
            progress: Some(1.0),
            state: state_name.into(),
            error,
            cancellable: false,
            ..progress.clone()
        };
        let _ = finished.emit(&app);
        if let Ok(mut tasks) = app.state::<AppState>().tasks.lock() {
            tasks.remove(&progress.task_id);
        }
    });
    task_id
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Forwards the engine's progress events to the UI for the life of the app.
pub fn forward_engine_events(app: &AppHandle) {
    let mut events = app.state::<AppState>().engine.subscribe();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                // A slow forwarder missed some progress: harmless, keep going.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let sent = match event {
                SyncEvent::Pull {
                    account,
                    phase,
                    nodes,
                    assets,
                    notes,
                    ..
                } => SyncProgress {
                    account_id: account.0,
                    phase: format!("{phase:?}").to_lowercase(),
                    nodes,
                    assets,
                    notes,
                }
                .emit(&app),
                SyncEvent::Download {
                    account,
                    version,
                    bytes,
                    total,
                    state,
                } => {
                    if state == MediaState::Complete {
                        prepare_scrub_proxy(&app, &account.0, &version.0).await;
                    }
                    OfflineChanged {
                        account_id: account.0,
                        version_id: version.0,
                        bytes,
                        total,
                        state: media_state_name(state).into(),
                    }
                    .emit(&app)
                }
                SyncEvent::Outbox {
                    account,
                    note,
                    state,
                    error,
                    ..
                } => OutboxChanged {
                    account_id: account.0,
                    note_id: note.map(|n| n.0),
                    state: op_state_name(state).into(),
                    error,
                }
                .emit(&app),
                SyncEvent::LoginRequired { account, message } => ConnectionChanged {
                    account_id: account.0,
                    connection: crate::commands::library::Connection::LoginRequired,
                    message: Some(message),
                }
                .emit(&app),
                SyncEvent::Transfer(update) => {
                    crate::commands::uploads::emit_transfer(&app, *update)
                }
                SyncEvent::WatchFolder { id } => {
                    let state = app.state::<AppState>();
                    crate::commands::uploads::emit_watch_folder(&app, &state, id).await
                }
                SyncEvent::Finished { account, error } => ConnectionChanged {
                    account_id: account.0,
                    connection: if error.is_some() {
                        crate::commands::library::Connection::Offline
                    } else {
                        crate::commands::library::Connection::Online
                    },
                    message: error,
                }
                .emit(&app),
            };
            if let Err(err) = sent {
                tracing::debug!(%err, "forwarding a sync event");
            }
        }
    });
}

/// A proxy just taken offline: a long-GOP one gets its scrub proxy made in the background now,
/// so that it is ready by the time the reviewer opens it (on the plane).
async fn prepare_scrub_proxy(app: &AppHandle, account: &str, version: &str) {
    let state = app.state::<AppState>();
    let key = crate::commands::library::version_key(account, version);
    let Ok(path) = state.media_path(&key).await else {
        return;
    };
    if state.scrub.existing(&path).is_none() && framenote_player::file_wants_scrub_proxy(&path) {
        state.scrub.request(&path, Box::new(|_| {}));
    }
}

fn media_state_name(state: MediaState) -> &'static str {
    state.key()
}

fn op_state_name(state: OpState) -> &'static str {
    state.key()
}
