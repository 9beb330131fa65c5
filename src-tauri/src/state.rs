//! What the shell keeps for the life of the app: the data folders, the library (accounts and
//! their connectors), and the open players. Library crates own the logic; this is only handles.

use std::path::PathBuf;
use std::sync::Arc;

use framenote_connectors::Connector;
use framenote_connectors::local::LocalConnector;
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
    /// Open players.
    pub players: Players,
    /// Accounts and their connectors.
    pub library: Library,
}

/// One account.
pub struct Account {
    /// Local id.
    pub id: String,
    /// What the sidebar shows.
    pub name: String,
    /// The platform.
    pub connector: Arc<dyn Connector>,
    local: Option<Arc<LocalConnector>>,
}

/// The accounts, the demo library first.
pub struct Library {
    accounts: Vec<Account>,
}

impl Library {
    /// Every account.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// One account by id.
    pub fn account(&self, id: &str) -> IpcResult<&Account> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| IpcError::new(ErrorCode::NotFound, format!("no account {id:?}")))
    }
}

impl AppState {
    /// Opens the library (registering the demo library).
    pub async fn open(dirs: AppDirs) -> anyhow::Result<Self> {
        let probe: framenote_connectors::local::Probe =
            Arc::new(|path| framenote_player::probe(path).map_err(|e| e.to_string()));
        let demo = Arc::new(LocalConnector::new(
            demo_library_root(),
            dirs.data.join("local").join(DEMO_ACCOUNT),
            probe,
        ));
        let library = Library {
            accounts: vec![Account {
                id: DEMO_ACCOUNT.into(),
                name: "Demo library".into(),
                connector: demo.clone(),
                local: Some(demo),
            }],
        };
        Ok(Self {
            dirs,
            players: Players::default(),
            library,
        })
    }

    /// The local file that plays for a version.
    pub async fn media_path(&self, version_key: &str) -> IpcResult<PathBuf> {
        let (account, version) = split_version_key(version_key)?;
        let account = self.library.account(account)?;
        let local = account
            .local
            .as_ref()
            .ok_or_else(|| IpcError::new(ErrorCode::NotFound, "this version is not offline"))?;
        let path = local.media_root().join(version);
        if version.contains('/') || !path.is_file() {
            return Err(IpcError::new(ErrorCode::NotFound, format!("{version} is not in the library")));
        }
        Ok(path)
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

/// Starts the background work that forwards library-crate events to the UI.
pub fn start_background(_app: &AppHandle) {}
