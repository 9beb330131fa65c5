//! Library commands: accounts, the browse tree, assets with their versions, offline state and
//! note counts. What the UI lists comes from the sync engine's cache, so it works offline.

use serde::Serialize;
use tauri::State;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::protocol::thumbnail_url;
use crate::state::AppState;

/// A frame rate as the UI reads it.
#[derive(Debug, Clone, Copy, Serialize, specta::Type)]
pub struct RateView {
    /// Frames.
    pub num: u32,
    /// Per this many seconds.
    pub den: u32,
}

/// What a platform can do, for the UI to hide the rest.
#[derive(Debug, Clone, Copy, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitiesView {
    notes: bool,
    replies: bool,
    resolve: bool,
    drawings: bool,
    range_notes: bool,
    status_change: bool,
    mentions: bool,
    upload: bool,
    upload_folders: bool,
    live_events: bool,
}

impl From<framenote_core::Capabilities> for CapabilitiesView {
    fn from(c: framenote_core::Capabilities) -> Self {
        Self {
            notes: c.notes,
            replies: c.replies,
            resolve: c.resolve,
            drawings: c.drawings,
            range_notes: c.range_notes,
            status_change: c.status_change,
            mentions: c.mentions,
            upload: c.upload,
            upload_folders: c.upload_folders,
            live_events: c.live_events,
        }
    }
}

/// Whether an account's platform can be reached.
#[derive(Debug, Clone, Copy, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Reachable.
    Online,
    /// Not reachable; working on the cache.
    Offline,
    /// The user must sign in again.
    LoginRequired,
    /// Something else is wrong.
    Error,
}

/// One account in the sidebar.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    id: String,
    platform: framenote_core::Platform,
    name: String,
    user_name: Option<String>,
    capabilities: CapabilitiesView,
    connection: Connection,
    last_sync_at: Option<String>,
}

/// One node of the browse tree.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct LibraryNode {
    id: String,
    parent_id: Option<String>,
    kind: framenote_core::NodeKind,
    name: String,
    status: Option<String>,
    has_children: bool,
    pinned: bool,
}

/// A version in an asset's version list.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct VersionSummary {
    key: String,
    number: u32,
    label: String,
}

/// Whether an asset's proxy is on this machine.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OfflineState {
    /// Not kept offline.
    None,
    /// Being downloaded.
    Downloading {
        /// 0..1.
        progress: f64,
    },
    /// On this machine.
    Available,
    /// A newer version exists than the one kept.
    Outdated,
    /// The platform forbids offline copies.
    Forbidden {
        /// Why, in words.
        reason: String,
    },
}

/// One asset in the list.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AssetSummary {
    id: String,
    account_id: String,
    node_id: String,
    name: String,
    status: Option<String>,
    updated_at: Option<String>,
    version_key: String,
    version_label: String,
    versions: Vec<VersionSummary>,
    frame_count: Option<u64>,
    frame_rate: Option<RateView>,
    note_count: u32,
    offline: OfflineState,
    thumbnail_url: Option<String>,
    pinned: bool,
}

/// Every account, the local demo library first.
#[tauri::command]
#[specta::specta]
pub async fn list_accounts(state: State<'_, AppState>) -> IpcResult<Vec<AccountView>> {
    Ok(state
        .library
        .accounts()
        .iter()
        .map(|a| AccountView {
            id: a.id.clone(),
            platform: a.connector.platform(),
            name: a.name.clone(),
            user_name: None,
            capabilities: a.connector.capabilities().into(),
            connection: Connection::Online,
            last_sync_at: None,
        })
        .collect())
}

/// Children of a node (roots when `parent_id` is null).
#[tauri::command]
#[specta::specta]
pub async fn list_nodes(
    state: State<'_, AppState>,
    account_id: String,
    parent_id: Option<String>,
) -> IpcResult<Vec<LibraryNode>> {
    let account = state.library.account(&account_id)?;
    let parent = parent_id.map(framenote_core::RemoteId::new);
    let nodes = account.connector.list_nodes(parent.as_ref()).await?;
    Ok(nodes
        .into_iter()
        .map(|n| LibraryNode {
            id: n.id.0,
            parent_id: n.parent.map(|p| p.0),
            kind: n.kind,
            name: n.name,
            status: n.status,
            has_children: false,
            pinned: false,
        })
        .collect())
}

/// Assets of a node, with their newest version first in line.
#[tauri::command]
#[specta::specta]
pub async fn list_assets(
    state: State<'_, AppState>,
    account_id: String,
    node_id: String,
) -> IpcResult<Vec<AssetSummary>> {
    let account = state.library.account(&account_id)?;
    let assets = account
        .connector
        .list_assets(&framenote_core::RemoteId::new(node_id.clone()))
        .await?;
    let mut out = Vec::with_capacity(assets.len());
    for asset in assets {
        let Some(latest) = asset.versions.last() else { continue };
        let key = version_key(&account.id, &latest.id.0);
        let note_count = account.connector.list_notes(latest).await.map(|n| n.len()).unwrap_or(0);
        out.push(AssetSummary {
            id: asset.id.0.clone(),
            account_id: account.id.clone(),
            node_id: node_id.clone(),
            name: asset.name.clone(),
            status: asset.status.clone(),
            updated_at: asset.updated_at.clone(),
            version_key: key.clone(),
            version_label: latest.label.clone(),
            versions: asset
                .versions
                .iter()
                .map(|v| VersionSummary {
                    key: version_key(&account.id, &v.id.0),
                    number: v.number,
                    label: v.label.clone(),
                })
                .collect(),
            frame_count: latest.media.frame_count,
            frame_rate: Some(RateView {
                num: latest.media.frame_rate.num,
                den: latest.media.frame_rate.den,
            }),
            note_count: note_count as u32,
            offline: if asset.offline.allowed {
                OfflineState::Available
            } else {
                OfflineState::Forbidden {
                    reason: asset.offline.reason.clone().unwrap_or_default(),
                }
            },
            thumbnail_url: Some(thumbnail_url(&key, 320)),
            pinned: true,
        });
    }
    Ok(out)
}

/// The opaque key the UI uses for a version: account and platform id.
pub fn version_key(account: &str, version: &str) -> String {
    format!("{account}:{version}")
}

/// The inverse of [`version_key`].
pub fn split_version_key(key: &str) -> IpcResult<(&str, &str)> {
    key.split_once(':')
        .ok_or_else(|| IpcError::new(ErrorCode::InvalidInput, format!("{key:?} is not a version key")))
}
