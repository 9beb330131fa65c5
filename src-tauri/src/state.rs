//! What the shell keeps for the life of the app: the data folders, the sync engine (cache,
//! connectors, outbox), the open players and the cancellable long tasks. Library crates own the
//! logic; this is only handles and the start-up wiring.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use framenote_connectors::Credentials;
use framenote_connectors::local::Probe;
use framenote_core::{AccountId, Platform, RemoteId};
use framenote_sync::{Cancellation, PullOptions, SyncConfig, SyncEngine};
use tauri::AppHandle;

use crate::commands::library::split_version_key;
use crate::commands::player::Players;
use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::paths::AppDirs;

/// The id of the built-in demo library account.
pub const DEMO_ACCOUNT: &str = "local-demo";

/// Managed Tauri state.
pub struct AppState {
    /// The data folders.
    pub dirs: AppDirs,
    /// Cache, connectors, outbox.
    pub engine: Arc<SyncEngine>,
    /// Open players.
    pub players: Players,
    /// Scrub proxies of long-GOP media, made in the background.
    pub scrub: crate::scrub::ScrubProxies,
    /// Long tasks that can be cancelled, by task id.
    pub tasks: Mutex<HashMap<String, Cancellation>>,
    /// The upload queue, while this process runs it (`None` when another process does).
    // Held, never read: dropping it stops the queue (its rows stay and resume next time).
    _uploads: Option<framenote_sync::TransferQueue>,
    /// The watch folders.
    pub watch: framenote_sync::WatchService,
}

/// The probe the local library uses for media facts: the player's, so what the library says about
/// a clip is what the player shows.
pub fn media_probe() -> Probe {
    Arc::new(|path| framenote_player::probe(path).map_err(|e| e.to_string()))
}

impl AppState {
    /// Opens the engine over the data folder, and registers the demo library (first start: its
    /// clips are listed before the window opens, so the library is never empty on first sight).
    pub async fn open(dirs: AppDirs) -> anyhow::Result<Self> {
        let engine = SyncEngine::open(
            &dirs.data,
            crate::commands::accounts::connector_factory(media_probe()),
            SyncConfig::default(),
        )
        .await?;
        let engine = Arc::new(engine);
        // Before any connector is built: the Kitsu events URLs people gave when signing in.
        crate::commands::accounts::load_account_settings(&engine)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let demo = AccountId(DEMO_ACCOUNT.into());
        let root = demo_library_root();
        let known = engine.cache().account(&demo).await.ok();
        let moved = known
            .as_ref()
            .is_none_or(|a| a.base_url != root.display().to_string());
        if moved {
            engine
                .login(
                    Platform::Local,
                    &root.display().to_string(),
                    &Credentials::None,
                    Some("Demo library"),
                    Some(demo.clone()),
                )
                .await?;
        }
        if moved || known.is_some_and(|a| a.last_sync_at.is_none()) {
            let cancel = Cancellation::new();
            if let Err(err) = engine
                .sync_account(&demo, PullOptions { full: true }, &cancel)
                .await
            {
                tracing::warn!(%err, "first listing of the demo library");
            }
        }
        let uploads = match framenote_sync::TransferQueue::start(engine.clone()).await {
            Ok(queue) => Some(queue),
            Err(err) => {
                // Another Framenote (a CLI `transfers run`) is sending them; they are not lost.
                tracing::warn!(%err, "upload queue not started here");
                None
            }
        };
        let watch = framenote_sync::WatchService::start(engine.clone(), Default::default());
        let scrub_dir = dirs.derived.join("scrub");
        Ok(Self {
            _uploads: uploads,
            watch,
            dirs,
            engine,
            players: Players::default(),
            scrub: crate::scrub::ScrubProxies::new(scrub_dir),
            tasks: Mutex::new(HashMap::new()),
        })
    }

    /// Why a watch folder cannot be watched right now, if it cannot.
    pub fn watch_problem(&self, folder: i64) -> Option<String> {
        self.watch.problem(folder)
    }

    /// Re-reads the watch folders after a change.
    pub fn reload_watch_folders(&self) {
        self.watch.reload();
    }

    /// The cached account `account` (no secrets), or the IPC error saying why not.
    pub async fn account_record(
        &self,
        account: &AccountId,
    ) -> IpcResult<framenote_cache::AccountRecord> {
        self.engine
            .cache()
            .account(account)
            .await
            .map_err(cache_error)
    }

    /// The local file that plays for a version: the library file itself for a local account, the
    /// offline copy for a platform.
    pub async fn media_path(&self, version_key: &str) -> IpcResult<PathBuf> {
        let (account, version) = split_version_key(version_key)?;
        let account = AccountId(account.into());
        let record = self.account_record(&account).await?;
        if record.platform == Platform::Local {
            if version.contains('/') || version.contains("..") {
                return Err(IpcError::new(ErrorCode::InvalidInput, "not a library file"));
            }
            let path = PathBuf::from(&record.base_url).join(version);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(IpcError::new(
                    ErrorCode::NotFound,
                    format!("{version} is no longer in the library folder"),
                ))
            };
        }
        let media = self
            .engine
            .cache()
            .media_file(&account, &RemoteId::new(version))
            .await
            .map_err(cache_error)?;
        match media.and_then(|m| {
            (m.state == framenote_cache::MediaState::Complete)
                .then_some(m.local_path)
                .flatten()
        }) {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(IpcError::new(
                ErrorCode::Offline,
                "this version is not on this machine yet: make it available offline first",
            )),
        }
    }
}

/// Maps a cache error for the UI; details go to the log.
pub fn cache_error(err: framenote_cache::CacheError) -> IpcError {
    match err {
        framenote_cache::CacheError::NotFound { .. } => {
            IpcError::new(ErrorCode::NotFound, err.to_string())
        }
        framenote_cache::CacheError::Invalid(msg) => IpcError::new(ErrorCode::InvalidInput, msg),
        other => {
            tracing::error!(err = %other, "cache");
            IpcError::new(ErrorCode::Storage, "the local cache failed; see the log")
        }
    }
}

/// Maps a sync error for the UI.
pub fn sync_error(err: framenote_sync::SyncError) -> IpcError {
    use framenote_sync::SyncError as E;
    match err {
        E::LoginRequired { .. } => IpcError::new(ErrorCode::LoginRequired, err.to_string()),
        E::Cache(e) => cache_error(e),
        other => match other.connector_kind() {
            Some(kind) if kind.is_transient() => {
                IpcError::new(ErrorCode::Offline, other.to_string())
            }
            Some(framenote_connectors::ErrorKind::Forbidden) => {
                IpcError::new(ErrorCode::Forbidden, other.to_string())
            }
            Some(framenote_connectors::ErrorKind::Unsupported) => {
                IpcError::new(ErrorCode::Unsupported, other.to_string())
            }
            _ => IpcError::new(ErrorCode::Internal, other.to_string()),
        },
    }
}

/// The demo library: `assets/demo` of the checkout the binary was built from, or next to the
/// binary in an installed layout.
pub fn demo_library_root() -> PathBuf {
    let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    if built_from.is_dir() {
        return built_from;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("assets/demo")))
        .unwrap_or(built_from)
}

/// Starts the background work: forwarding the engine's progress to the UI.
pub fn start_background(app: &AppHandle) {
    crate::commands::sync::forward_engine_events(app);
}
