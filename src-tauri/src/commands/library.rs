//! Library commands: accounts, the browse tree, assets with their versions, offline state and
//! note counts. What the UI lists comes from the sync engine's cache, so it works offline.

use serde::Serialize;
use tauri::State;

use framenote_cache::MediaState;
use framenote_core::{AccountId, Platform, RemoteId};

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::protocol::thumbnail_url;
use crate::state::{AppState, DEMO_ACCOUNT, cache_error};

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
    let mut records = state.engine.cache().accounts().await.map_err(cache_error)?;
    records.sort_by_key(|a| (a.id.0 != DEMO_ACCOUNT, a.created_at.clone()));
    let mut out = Vec::with_capacity(records.len());
    for a in records {
        let capabilities = match state.engine.connector(&a.id).await {
            Ok(c) => c.capabilities(),
            Err(_) => framenote_core::Capabilities::NONE,
        };
        let connection = match &a.last_sync_error {
            None => Connection::Online,
            Some(e) if e.contains("sign in") || e.contains("sign-in") || e.contains("login") => {
                Connection::LoginRequired
            }
            Some(_) => Connection::Offline,
        };
        out.push(AccountView {
            id: a.id.0,
            platform: a.platform,
            name: a.label,
            user_name: a.user_name,
            capabilities: capabilities.into(),
            connection,
            last_sync_at: a.last_sync_at,
        });
    }
    Ok(out)
}

/// Children of a node (roots when `parent_id` is null), from the cache.
#[tauri::command]
#[specta::specta]
pub async fn list_nodes(
    state: State<'_, AppState>,
    account_id: String,
    parent_id: Option<String>,
) -> IpcResult<Vec<LibraryNode>> {
    let parent = parent_id.map(RemoteId::new);
    let nodes = state
        .engine
        .cache()
        .nodes(&AccountId(account_id), parent.as_ref())
        .await
        .map_err(cache_error)?;
    Ok(nodes
        .into_iter()
        .map(|n| LibraryNode {
            id: n.node.id.0,
            parent_id: n.node.parent.map(|p| p.0),
            kind: n.node.kind,
            name: n.node.name,
            status: n.node.status,
            has_children: n.has_children,
            pinned: n.pinned,
        })
        .collect())
}

/// Assets of a node, from the cache, with offline state and note counts.
#[tauri::command]
#[specta::specta]
pub async fn list_assets(
    state: State<'_, AppState>,
    account_id: String,
    node_id: String,
) -> IpcResult<Vec<AssetSummary>> {
    let account = AccountId(account_id);
    let record = state.account_record(&account).await?;
    let local = record.platform == Platform::Local;
    let assets = state
        .engine
        .cache()
        .assets_in_node(&account, &RemoteId::new(node_id.clone()))
        .await
        .map_err(cache_error)?;
    let mut out = Vec::with_capacity(assets.len());
    for summary in assets {
        let asset = &summary.asset;
        let Some(latest) = asset.versions.last() else {
            continue;
        };
        let key = version_key(&account.0, &latest.id.0);
        out.push(AssetSummary {
            id: asset.id.0.clone(),
            account_id: account.0.clone(),
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
                    key: version_key(&account.0, &v.id.0),
                    number: v.number,
                    label: v.label.clone(),
                })
                .collect(),
            frame_count: latest.media.frame_count,
            frame_rate: Some(RateView {
                num: latest.media.frame_rate.num,
                den: latest.media.frame_rate.den,
            }),
            note_count: summary.note_count as u32,
            offline: offline_state(local, asset, summary.offline.as_ref()),
            // A thumbnail needs the picture: the library file, or an offline copy.
            thumbnail_url: (local
                || matches!(
                    summary.offline.as_ref().map(|m| m.state),
                    Some(MediaState::Complete)
                ))
            .then(|| thumbnail_url(&key, 320)),
            pinned: summary.pinned || local,
        });
    }
    Ok(out)
}

fn offline_state(
    local: bool,
    asset: &framenote_core::Asset,
    media: Option<&framenote_cache::MediaFileRecord>,
) -> OfflineState {
    if local {
        return OfflineState::Available;
    }
    if !asset.offline.allowed {
        return OfflineState::Forbidden {
            reason: asset
                .offline
                .reason
                .clone()
                .unwrap_or_else(|| "the platform does not allow offline copies".into()),
        };
    }
    let Some(media) = media else {
        return OfflineState::None;
    };
    match media.state {
        MediaState::Complete => OfflineState::Available,
        MediaState::Outdated => OfflineState::Outdated,
        MediaState::Queued | MediaState::Downloading => OfflineState::Downloading {
            progress: match media.bytes_expected {
                Some(total) if total > 0 => media.bytes_downloaded as f64 / total as f64,
                _ => 0.0,
            },
        },
        _ => OfflineState::None,
    }
}

/// The opaque key the UI uses for a version: account and platform id.
pub fn version_key(account: &str, version: &str) -> String {
    format!("{account}:{version}")
}

/// The inverse of [`version_key`].
pub fn split_version_key(key: &str) -> IpcResult<(&str, &str)> {
    key.split_once(':').ok_or_else(|| {
        IpcError::new(
            ErrorCode::InvalidInput,
            format!("{key:?} is not a version key"),
        )
    })
}
