//! Offline copies: what the user pinned, and the state of each local proxy file.
//!
//! A pin names an asset or a node (task, playlist, folder, project: everything under it). The
//! plan ([`Cache::refresh_media_plan`]) turns pins into the set of versions to keep — the latest
//! version of every pinned asset whose platform allows offline copies — and marks the rest for
//! eviction. The sync engine downloads and deletes files; this module records what it did, so a
//! restart resumes where it stopped.

use framenote_core::{AccountId, RemoteId, Version};
use serde::{Deserialize, Serialize};

use crate::library::VersionRow;
use crate::rows::{opt_to_u64, to_i64, to_u64};
use crate::{Cache, CacheError, Result, now_rfc3339};

/// What a pin covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", content = "id", rename_all = "snake_case")]
pub enum PinScope {
    /// One asset (its latest version).
    Asset(RemoteId),
    /// A node and everything under it.
    Node(RemoteId),
}

impl PinScope {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            PinScope::Asset(id) => ("asset", id.as_str()),
            PinScope::Node(id) => ("node", id.as_str()),
        }
    }
}

/// A pin as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PinRecord {
    /// What it covers.
    pub scope: PinScope,
    /// When it was made.
    pub created_at: String,
}

/// State of a local proxy copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// No local data.
    None,
    /// Wanted, not started.
    Queued,
    /// Partly downloaded (resumable from `bytes_downloaded`).
    Downloading,
    /// Complete and verified.
    Complete,
    /// A local copy that is no longer wanted (unpinned, superseded, or forbidden): to evict.
    Outdated,
    /// The last download failed; see `last_error`.
    Failed,
}

impl MediaState {
    /// The stored key.
    pub fn key(self) -> &'static str {
        match self {
            MediaState::None => "none",
            MediaState::Queued => "queued",
            MediaState::Downloading => "downloading",
            MediaState::Complete => "complete",
            MediaState::Outdated => "outdated",
            MediaState::Failed => "failed",
        }
    }
    fn from_key(key: &str) -> Result<Self> {
        Ok(match key {
            "none" => MediaState::None,
            "queued" => MediaState::Queued,
            "downloading" => MediaState::Downloading,
            "complete" => MediaState::Complete,
            "outdated" => MediaState::Outdated,
            "failed" => MediaState::Failed,
            other => return Err(CacheError::corrupt("media state", other)),
        })
    }
}

/// One local proxy file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaFileRecord {
    /// Account.
    pub account: AccountId,
    /// The version whose proxy it is.
    pub version: RemoteId,
    /// Its asset.
    pub asset: RemoteId,
    /// Where the file is (or is being written).
    pub local_path: Option<String>,
    /// Expected size, when the platform said.
    pub bytes_expected: Option<u64>,
    /// Bytes on disk.
    pub bytes_downloaded: u64,
    /// SHA-256 of the complete file (hex), for later integrity checks.
    pub checksum: Option<String>,
    /// State.
    pub state: MediaState,
    /// Whether a pin currently wants it.
    pub pinned: bool,
    /// Which pin: `asset` or `node:<id>`.
    pub pin_scope: Option<String>,
    /// Why the last download failed, or why the platform forbids a copy.
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MediaFileRow {
    account_id: String,
    version_id: String,
    asset_id: String,
    local_path: Option<String>,
    bytes_expected: Option<i64>,
    bytes_downloaded: i64,
    checksum: Option<String>,
    state: String,
    pinned: i64,
    pin_scope: Option<String>,
    last_error: Option<String>,
    updated_at: String,
}

impl TryFrom<MediaFileRow> for MediaFileRecord {
    type Error = CacheError;
    fn try_from(row: MediaFileRow) -> Result<Self> {
        Ok(MediaFileRecord {
            account: AccountId(row.account_id),
            version: RemoteId(row.version_id),
            asset: RemoteId(row.asset_id),
            local_path: row.local_path,
            bytes_expected: opt_to_u64(row.bytes_expected, "bytes expected")?,
            bytes_downloaded: to_u64(row.bytes_downloaded, "bytes downloaded")?,
            checksum: row.checksum,
            state: MediaState::from_key(&row.state)?,
            pinned: row.pinned != 0,
            pin_scope: row.pin_scope,
            last_error: row.last_error,
            updated_at: row.updated_at,
        })
    }
}

/// A version the pins want offline.
#[derive(Debug, Clone, PartialEq)]
pub struct WantedMedia {
    /// The version to download, with its media facts.
    pub version: Version,
    /// Its current file record.
    pub file: MediaFileRecord,
}

/// What to do after pins or the library changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaPlan {
    /// Wanted versions not complete yet (queued, interrupted or failed), in pin order.
    pub to_download: Vec<WantedMedia>,
    /// Wanted versions already complete.
    pub complete: Vec<MediaFileRecord>,
    /// Local files that are no longer wanted, or that the platform forbids: delete them.
    pub to_evict: Vec<MediaFileRecord>,
    /// Pinned assets the platform does not allow offline: (asset, reason).
    pub forbidden: Vec<(RemoteId, String)>,
}

macro_rules! media_select {
    ($tail:literal) => {
        concat!(
            "SELECT m.account_id, m.version_id, m.asset_id, m.local_path, m.bytes_expected, \
             m.bytes_downloaded, m.checksum, m.state, m.pinned, m.pin_scope, m.last_error, \
             m.updated_at FROM media_files AS m ",
            $tail
        )
    };
}

impl Cache {
    /// Pins an asset or a node for offline use. Pinning twice is harmless.
    pub async fn pin(&self, account: &AccountId, scope: &PinScope) -> Result<()> {
        let (kind, id) = scope.parts();
        let exists: bool = match scope {
            PinScope::Asset(_) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM assets WHERE account_id = ?1 AND remote_id = ?2)",
            ),
            PinScope::Node(_) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM nodes WHERE account_id = ?1 AND remote_id = ?2)",
            ),
        }
        .bind(&account.0)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        if !exists {
            return Err(CacheError::not_found(kind, id));
        }
        sqlx::query(
            "INSERT INTO pins (account_id, scope, target_id, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&account.0)
        .bind(kind)
        .bind(id)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a pin. Returns whether it existed. Files are evicted by the next plan.
    pub async fn unpin(&self, account: &AccountId, scope: &PinScope) -> Result<bool> {
        let (kind, id) = scope.parts();
        let removed =
            sqlx::query("DELETE FROM pins WHERE account_id = ?1 AND scope = ?2 AND target_id = ?3")
                .bind(&account.0)
                .bind(kind)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(removed > 0)
    }

    /// Pins of an account, oldest first.
    pub async fn pins(&self, account: &AccountId) -> Result<Vec<PinRecord>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT scope, target_id, created_at FROM pins WHERE account_id = ?1 \
             ORDER BY created_at, target_id",
        )
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(scope, id, created_at)| {
                let scope = match scope.as_str() {
                    "asset" => PinScope::Asset(RemoteId(id)),
                    "node" => PinScope::Node(RemoteId(id)),
                    other => return Err(CacheError::corrupt("pin scope", other)),
                };
                Ok(PinRecord { scope, created_at })
            })
            .collect()
    }

    /// Recomputes which versions are wanted offline from the pins and the library, records it on
    /// the media file rows (one transaction), and returns what to download and what to evict.
    pub async fn refresh_media_plan(&self, account: &AccountId) -> Result<MediaPlan> {
        #[derive(sqlx::FromRow)]
        struct WantedRow {
            scope: String,
            offline_allowed: i64,
            offline_reason: Option<String>,
            #[sqlx(flatten)]
            version: VersionRow,
        }
        let mut tx = self.pool.begin().await?;
        let wanted: Vec<WantedRow> = sqlx::query_as(
            "WITH RECURSIVE pinned_nodes(id, root, pinned_at) AS ( \
                 SELECT target_id, target_id, created_at FROM pins \
                     WHERE account_id = ?1 AND scope = 'node' \
                 UNION SELECT n.remote_id, p.root, p.pinned_at FROM nodes AS n \
                     JOIN pinned_nodes AS p ON n.parent_id = p.id WHERE n.account_id = ?1), \
             pinned_assets(asset_id, scope, pinned_at) AS ( \
                 SELECT target_id, 'asset', created_at FROM pins \
                     WHERE account_id = ?1 AND scope = 'asset' \
                 UNION SELECT l.asset_id, 'node:' || p.root, p.pinned_at FROM node_assets AS l \
                     JOIN pinned_nodes AS p ON l.node_id = p.id WHERE l.account_id = ?1), \
             chosen AS ( \
                 SELECT asset_id, MIN(scope) AS scope, MIN(pinned_at) AS pinned_at \
                 FROM pinned_assets GROUP BY asset_id), \
             latest AS ( \
                 SELECT v.*, ROW_NUMBER() OVER (PARTITION BY v.asset_id \
                     ORDER BY v.number DESC, v.remote_id DESC) AS rank \
                 FROM versions AS v WHERE v.account_id = ?1) \
             SELECT c.scope, a.offline_allowed, a.offline_reason, l.remote_id, l.asset_id, \
                 l.number, l.label, l.fps_num, l.fps_den, l.tc_frames, l.tc_num, l.tc_den, \
                 l.tc_drop, l.first_frame, l.frame_count, l.width, l.height, l.bytes \
             FROM chosen AS c \
             JOIN assets AS a ON a.account_id = ?1 AND a.remote_id = c.asset_id \
             JOIN latest AS l ON l.asset_id = c.asset_id AND l.rank = 1 \
             ORDER BY c.pinned_at, a.name, a.remote_id",
        )
        .bind(&account.0)
        .fetch_all(&mut *tx)
        .await?;

        let now = now_rfc3339();
        // Start from "nothing is pinned" and mark what the pins want; anything left unpinned with
        // data on disk becomes outdated.
        sqlx::query(
            "UPDATE media_files SET pinned = 0, pin_scope = NULL WHERE account_id = ?1 AND pinned = 1",
        )
        .bind(&account.0)
        .execute(&mut *tx)
        .await?;
        let mut plan = MediaPlan::default();
        let mut wanted_versions = Vec::new();
        for row in wanted {
            let version = Version::try_from(row.version)?;
            if row.offline_allowed == 0 {
                let reason = row
                    .offline_reason
                    .unwrap_or_else(|| "the platform does not allow offline copies".into());
                // A copy that was allowed earlier must go now.
                sqlx::query(
                    "UPDATE media_files SET last_error = ?3, updated_at = ?4, \
                     state = CASE WHEN local_path IS NOT NULL THEN 'outdated' ELSE 'none' END \
                     WHERE account_id = ?1 AND asset_id = ?2",
                )
                .bind(&account.0)
                .bind(&version.asset.0)
                .bind(&reason)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
                plan.forbidden.push((version.asset.clone(), reason));
                continue;
            }
            let expected = version
                .media
                .bytes
                .map(|b| to_i64(b, "bytes"))
                .transpose()?;
            sqlx::query(
                "INSERT INTO media_files (account_id, version_id, asset_id, remote_ref, \
                     bytes_expected, state, pinned, pin_scope, updated_at) \
                 VALUES (?1, ?2, ?3, ?2, ?4, 'queued', 1, ?5, ?6) \
                 ON CONFLICT (account_id, version_id) DO UPDATE SET pinned = 1, \
                     pin_scope = excluded.pin_scope, \
                     bytes_expected = COALESCE(excluded.bytes_expected, bytes_expected), \
                     state = CASE WHEN media_files.state IN ('none', 'outdated', 'failed') \
                         THEN CASE WHEN media_files.state = 'outdated' \
                             AND media_files.checksum IS NOT NULL THEN 'complete' ELSE 'queued' END \
                         ELSE media_files.state END, \
                     last_error = CASE WHEN media_files.state = 'failed' THEN media_files.last_error \
                         ELSE NULL END, \
                     updated_at = excluded.updated_at",
            )
            .bind(&account.0)
            .bind(&version.id.0)
            .bind(&version.asset.0)
            .bind(expected)
            .bind(&row.scope)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            wanted_versions.push(version);
        }
        sqlx::query(
            "UPDATE media_files SET state = 'outdated', updated_at = ?2 \
             WHERE account_id = ?1 AND pinned = 0 AND local_path IS NOT NULL \
                 AND state != 'outdated'",
        )
        .bind(&account.0)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE media_files SET state = 'none', updated_at = ?2 \
             WHERE account_id = ?1 AND pinned = 0 AND local_path IS NULL AND state != 'none'",
        )
        .bind(&account.0)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        for version in wanted_versions {
            let file = self
                .media_file(account, &version.id)
                .await?
                .ok_or_else(|| CacheError::not_found("media file", version.id.0.clone()))?;
            match file.state {
                MediaState::Complete => plan.complete.push(file),
                _ => plan.to_download.push(WantedMedia { version, file }),
            }
        }
        let rows: Vec<MediaFileRow> = sqlx::query_as(media_select!(
            "WHERE m.account_id = ?1 AND m.state = 'outdated' ORDER BY m.updated_at"
        ))
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        plan.to_evict = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_>>()?;
        Ok(plan)
    }

    /// The local copy record of a version, if any.
    pub async fn media_file(
        &self,
        account: &AccountId,
        version: &RemoteId,
    ) -> Result<Option<MediaFileRecord>> {
        let row: Option<MediaFileRow> = sqlx::query_as(media_select!(
            "WHERE m.account_id = ?1 AND m.version_id = ?2"
        ))
        .bind(&account.0)
        .bind(&version.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Every local copy record of an account.
    pub async fn media_files(&self, account: &AccountId) -> Result<Vec<MediaFileRecord>> {
        let rows: Vec<MediaFileRow> = sqlx::query_as(media_select!(
            "WHERE m.account_id = ?1 ORDER BY m.asset_id, m.version_id"
        ))
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Bytes on disk for offline copies (one account or all).
    pub async fn offline_bytes(&self, account: Option<&AccountId>) -> Result<u64> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(bytes_downloaded), 0) FROM media_files \
             WHERE local_path IS NOT NULL AND (?1 IS NULL OR account_id = ?1)",
        )
        .bind(account.map(|a| a.0.as_str()))
        .fetch_one(&self.pool)
        .await?;
        to_u64(bytes, "offline bytes")
    }

    /// A download (re)starts: where it writes, what size is expected, and how much is already
    /// there (a resume).
    pub async fn media_download_started(
        &self,
        account: &AccountId,
        version: &RemoteId,
        local_path: &str,
        bytes_expected: Option<u64>,
        bytes_present: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE media_files SET state = 'downloading', local_path = ?3, \
                 bytes_expected = COALESCE(?4, bytes_expected), bytes_downloaded = ?5, \
                 last_error = NULL, updated_at = ?6 \
             WHERE account_id = ?1 AND version_id = ?2",
        )
        .bind(&account.0)
        .bind(&version.0)
        .bind(local_path)
        .bind(bytes_expected.map(|b| to_i64(b, "bytes")).transpose()?)
        .bind(to_i64(bytes_present, "bytes")?)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Progress of a running download.
    pub async fn media_progress(
        &self,
        account: &AccountId,
        version: &RemoteId,
        bytes_downloaded: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE media_files SET bytes_downloaded = ?3, updated_at = ?4 \
             WHERE account_id = ?1 AND version_id = ?2",
        )
        .bind(&account.0)
        .bind(&version.0)
        .bind(to_i64(bytes_downloaded, "bytes")?)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A download finished and verified.
    pub async fn media_complete(
        &self,
        account: &AccountId,
        version: &RemoteId,
        bytes: u64,
        checksum: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE media_files SET state = 'complete', bytes_downloaded = ?3, \
                 bytes_expected = ?3, checksum = ?4, last_error = NULL, updated_at = ?5 \
             WHERE account_id = ?1 AND version_id = ?2",
        )
        .bind(&account.0)
        .bind(&version.0)
        .bind(to_i64(bytes, "bytes")?)
        .bind(checksum)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A download failed; `keep_partial` keeps the bytes for a later resume.
    pub async fn media_failed(
        &self,
        account: &AccountId,
        version: &RemoteId,
        error: &str,
        keep_partial: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE media_files SET state = 'failed', last_error = ?3, updated_at = ?4, \
                 bytes_downloaded = CASE WHEN ?5 THEN bytes_downloaded ELSE 0 END, \
                 local_path = CASE WHEN ?5 THEN local_path ELSE NULL END, \
                 checksum = NULL \
             WHERE account_id = ?1 AND version_id = ?2",
        )
        .bind(&account.0)
        .bind(&version.0)
        .bind(error)
        .bind(now_rfc3339())
        .bind(keep_partial)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The local file was deleted.
    pub async fn media_evicted(&self, account: &AccountId, version: &RemoteId) -> Result<()> {
        sqlx::query(
            "UPDATE media_files SET state = CASE WHEN pinned = 1 THEN 'queued' ELSE 'none' END, \
                 local_path = NULL, bytes_downloaded = 0, checksum = NULL, updated_at = ?3 \
             WHERE account_id = ?1 AND version_id = ?2",
        )
        .bind(&account.0)
        .bind(&version.0)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
