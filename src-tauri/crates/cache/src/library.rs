//! The cached library: browse nodes, assets, the node ↔ asset links and versions with their media
//! facts.
//!
//! Writes come from the sync engine as whole listings ("these are the children of node N", "these
//! are the assets of node N") and are applied as differences: unchanged rows are not rewritten, so
//! a no-change re-sync writes nothing. Bulk writes pass one JSON array to `json_each` instead of one
//! statement per row, which keeps a 10,000-asset first sync to a handful of statements.

use std::collections::{HashMap, HashSet};

use framenote_core::{
    AccountId, Asset, FrameRate, MediaInfo, Node, OfflinePolicy, RemoteId, Timecode, Version,
};
use serde::Serialize;
use serde_json::json;

use crate::media::{MediaFileRecord, MediaFileRow};
use crate::rows::{
    fingerprint, node_kind_from_key, node_kind_key, opt_to_u32, opt_to_u64, to_i64, to_u32,
};
use crate::{Cache, CacheError, Result};

/// A browse node as the UI lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRecord {
    /// The node (its `parent` is the node it was listed under).
    pub node: Node,
    /// Whether it has child nodes in the cache.
    pub has_children: bool,
    /// Assets listed directly in it.
    pub asset_count: u64,
    /// Whether the user pinned it for offline use.
    pub pinned: bool,
}

/// An asset as the UI lists it: its versions, note counts and offline state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetSummary {
    /// The asset with its versions (oldest first).
    pub asset: Asset,
    /// Notes on any of its versions.
    pub note_count: u64,
    /// Of which not yet on the platform (pending or failed).
    pub unsent_note_count: u64,
    /// Whether the asset itself is pinned (a pin on a parent node shows on the media file).
    pub pinned: bool,
    /// The local copy of its latest version, if any was ever asked for.
    pub offline: Option<MediaFileRecord>,
}

/// A version with the account it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionRecord {
    /// The version, with its asset id and media facts.
    pub version: Version,
    /// The asset's name, for display.
    pub asset_name: String,
}

/// What applying an asset listing changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetChanges {
    /// Assets that are new or whose facts changed.
    pub changed: Vec<RemoteId>,
    /// Assets whose notes must be fetched (new, changed, or never fetched successfully).
    pub needs_notes: Vec<RemoteId>,
    /// Assets no longer listed in this node.
    pub unlinked: Vec<RemoteId>,
}

#[derive(sqlx::FromRow)]
struct NodeRow {
    remote_id: String,
    parent_id: Option<String>,
    kind: String,
    name: String,
    status: Option<String>,
    has_children: i64,
    asset_count: i64,
    pinned: i64,
}

impl TryFrom<NodeRow> for NodeRecord {
    type Error = CacheError;
    fn try_from(row: NodeRow) -> Result<Self> {
        Ok(NodeRecord {
            node: Node {
                id: RemoteId(row.remote_id),
                parent: row.parent_id.map(RemoteId),
                kind: node_kind_from_key(&row.kind)?,
                name: row.name,
                status: row.status,
            },
            has_children: row.has_children != 0,
            asset_count: crate::rows::to_u64(row.asset_count, "asset count")?,
            pinned: row.pinned != 0,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AssetRow {
    remote_id: String,
    parent_id: String,
    name: String,
    status: Option<String>,
    updated_at: Option<String>,
    offline_allowed: i64,
    offline_reason: Option<String>,
}

impl AssetRow {
    fn into_asset(self, versions: Vec<Version>) -> Asset {
        Asset {
            id: RemoteId(self.remote_id),
            parent: RemoteId(self.parent_id),
            name: self.name,
            status: self.status,
            updated_at: self.updated_at,
            offline: OfflinePolicy {
                allowed: self.offline_allowed != 0,
                reason: self.offline_reason,
            },
            versions,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VersionRow {
    remote_id: String,
    asset_id: String,
    number: i64,
    label: String,
    fps_num: i64,
    fps_den: i64,
    tc_frames: Option<i64>,
    tc_num: Option<i64>,
    tc_den: Option<i64>,
    tc_drop: Option<i64>,
    first_frame: i64,
    frame_count: Option<i64>,
    width: Option<i64>,
    height: Option<i64>,
    bytes: Option<i64>,
}

impl TryFrom<VersionRow> for Version {
    type Error = CacheError;
    fn try_from(row: VersionRow) -> Result<Self> {
        let frame_rate = FrameRate::new(to_u32(row.fps_num, "fps")?, to_u32(row.fps_den, "fps")?);
        let start_timecode = match (row.tc_frames, row.tc_num, row.tc_den) {
            (Some(frames), Some(num), Some(den)) => Some(Timecode {
                frames: crate::rows::to_u64(frames, "timecode")?,
                rate: FrameRate::new(to_u32(num, "timecode rate")?, to_u32(den, "timecode rate")?),
                drop_frame: row.tc_drop.unwrap_or(0) != 0,
            }),
            _ => None,
        };
        Ok(Version {
            id: RemoteId(row.remote_id),
            asset: RemoteId(row.asset_id),
            number: to_u32(row.number, "version number")?,
            label: row.label,
            media: MediaInfo {
                frame_rate,
                start_timecode,
                first_frame: row.first_frame,
                frame_count: opt_to_u64(row.frame_count, "frame count")?,
                width: opt_to_u32(row.width, "width")?,
                height: opt_to_u32(row.height, "height")?,
                bytes: opt_to_u64(row.bytes, "bytes")?,
            },
        })
    }
}

/// A flat JSON form of a version for the bulk `json_each` insert.
fn version_json(asset: &RemoteId, version: &Version) -> Result<serde_json::Value> {
    let media = &version.media;
    let opt = |value: Option<u64>, what| value.map(|v| to_i64(v, what)).transpose();
    Ok(json!({
        "id": version.id.0,
        "asset": asset.0,
        "number": version.number,
        "label": version.label,
        "fps_num": media.frame_rate.num,
        "fps_den": media.frame_rate.den,
        "tc_frames": opt(media.start_timecode.map(|tc| tc.frames), "timecode")?,
        "tc_num": media.start_timecode.map(|tc| tc.rate.num),
        "tc_den": media.start_timecode.map(|tc| tc.rate.den),
        "tc_drop": media.start_timecode.map(|tc| i64::from(tc.drop_frame)),
        "first_frame": media.first_frame,
        "frame_count": opt(media.frame_count, "frame count")?,
        "width": media.width,
        "height": media.height,
        "bytes": opt(media.bytes, "bytes")?,
    }))
}

fn to_json_text(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| CacheError::Invalid(format!("cannot encode: {e}")))
}

impl Cache {
    /// Replaces the cached children of `parent` (roots when `None`) with `nodes`, in the order
    /// given. Nodes no longer listed are removed with their whole subtree and its asset links.
    /// Returns how many rows changed (0 on a no-change re-sync).
    pub async fn replace_child_nodes(
        &self,
        account: &AccountId,
        parent: Option<&RemoteId>,
        nodes: &[Node],
    ) -> Result<u64> {
        let listing: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                json!({
                    "id": n.id.0,
                    "kind": node_kind_key(n.kind),
                    "name": n.name,
                    "status": n.status,
                })
            })
            .collect();
        let listing = to_json_text(&listing)?;
        let parent_id = parent.map(|p| p.0.as_str());
        let mut tx = self.pool.begin().await?;
        let mut changed = sqlx::query(
            "INSERT INTO nodes (account_id, remote_id, parent_id, kind, name, status, position) \
             SELECT ?1, j.value ->> '$.id', ?2, j.value ->> '$.kind', j.value ->> '$.name', \
                    j.value ->> '$.status', j.key \
             FROM json_each(?3) AS j WHERE true \
             ON CONFLICT (account_id, remote_id) DO UPDATE SET parent_id = excluded.parent_id, \
                 kind = excluded.kind, name = excluded.name, status = excluded.status, \
                 position = excluded.position \
             WHERE nodes.parent_id IS NOT excluded.parent_id OR nodes.kind != excluded.kind \
                 OR nodes.name != excluded.name OR nodes.status IS NOT excluded.status \
                 OR nodes.position != excluded.position",
        )
        .bind(&account.0)
        .bind(parent_id)
        .bind(&listing)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The stale subtree: children of `parent` not in the listing, and all their descendants.
        changed += sqlx::query(
            "WITH RECURSIVE gone(id) AS ( \
                 SELECT remote_id FROM nodes WHERE account_id = ?1 AND parent_id IS ?2 \
                     AND remote_id NOT IN (SELECT j.value ->> '$.id' FROM json_each(?3) AS j) \
                 UNION SELECT n.remote_id FROM nodes AS n JOIN gone ON n.parent_id = gone.id \
                     WHERE n.account_id = ?1) \
             DELETE FROM node_assets WHERE account_id = ?1 AND node_id IN (SELECT id FROM gone)",
        )
        .bind(&account.0)
        .bind(parent_id)
        .bind(&listing)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        changed += sqlx::query(
            "WITH RECURSIVE gone(id) AS ( \
                 SELECT remote_id FROM nodes WHERE account_id = ?1 AND parent_id IS ?2 \
                     AND remote_id NOT IN (SELECT j.value ->> '$.id' FROM json_each(?3) AS j) \
                 UNION SELECT n.remote_id FROM nodes AS n JOIN gone ON n.parent_id = gone.id \
                     WHERE n.account_id = ?1) \
             DELETE FROM nodes WHERE account_id = ?1 AND remote_id IN (SELECT id FROM gone)",
        )
        .bind(&account.0)
        .bind(parent_id)
        .bind(&listing)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed)
    }

    /// Applies the asset listing of `node`: new and changed assets (and their versions) are
    /// written, unchanged ones are left alone, assets no longer listed are unlinked from the node
    /// (their notes stay). Says which assets need their notes fetched.
    pub async fn apply_asset_listing(
        &self,
        account: &AccountId,
        node: &RemoteId,
        assets: &[Asset],
    ) -> Result<AssetChanges> {
        self.apply_assets(account, node, assets, true).await
    }

    /// Applies an incremental listing of `node` (only assets changed since a cursor): like
    /// [`Cache::apply_asset_listing`] but nothing is unlinked, since absence means "unchanged".
    pub async fn apply_asset_changes(
        &self,
        account: &AccountId,
        node: &RemoteId,
        assets: &[Asset],
    ) -> Result<AssetChanges> {
        // Nothing changed: no transaction at all (a no-change sync should not touch the file).
        if assets.is_empty() {
            return Ok(AssetChanges::default());
        }
        self.apply_assets(account, node, assets, false).await
    }

    /// Assets whose notes are not current (new, changed, or a note fetch that failed), with
    /// their versions, across the account.
    pub async fn assets_needing_notes(&self, account: &AccountId) -> Result<Vec<RemoteId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT remote_id FROM assets WHERE account_id = ?1 \
             AND notes_fingerprint IS NOT fingerprint ORDER BY remote_id",
        )
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(RemoteId).collect())
    }

    /// Versions of many assets at once, grouped by asset (oldest version first).
    pub async fn versions_of_assets(
        &self,
        account: &AccountId,
        assets: &[RemoteId],
    ) -> Result<Vec<(RemoteId, Vec<Version>)>> {
        let ids: Vec<&str> = assets.iter().map(|a| a.0.as_str()).collect();
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT remote_id, asset_id, number, label, fps_num, fps_den, tc_frames, tc_num, \
                 tc_den, tc_drop, first_frame, frame_count, width, height, bytes \
             FROM versions WHERE account_id = ?1 \
                 AND asset_id IN (SELECT value FROM json_each(?2)) \
             ORDER BY asset_id, number, remote_id",
        )
        .bind(&account.0)
        .bind(to_json_text(&ids)?)
        .fetch_all(&self.pool)
        .await?;
        let mut grouped: HashMap<String, Vec<Version>> = HashMap::new();
        for row in rows {
            let version = Version::try_from(row)?;
            grouped
                .entry(version.asset.0.clone())
                .or_default()
                .push(version);
        }
        Ok(assets
            .iter()
            .map(|a| (a.clone(), grouped.remove(&a.0).unwrap_or_default()))
            .collect())
    }

    async fn apply_assets(
        &self,
        account: &AccountId,
        node: &RemoteId,
        assets: &[Asset],
        complete: bool,
    ) -> Result<AssetChanges> {
        let mut fingerprints = Vec::with_capacity(assets.len());
        for asset in assets {
            // Everything the platform says about the asset except the node it was listed under:
            // an asset listed in two nodes (a task list and a playlist) must not look changed
            // each time it is seen from the other one.
            let facts = (
                &asset.id,
                &asset.name,
                &asset.status,
                &asset.updated_at,
                &asset.offline,
                &asset.versions,
            );
            let bytes = serde_json::to_vec(&facts)
                .map_err(|e| CacheError::Invalid(format!("cannot encode asset: {e}")))?;
            fingerprints.push(fingerprint(&bytes));
        }
        let ids: Vec<&str> = assets.iter().map(|a| a.id.0.as_str()).collect();
        let ids_json = to_json_text(&ids)?;

        let mut tx = self.pool.begin().await?;
        let known: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT remote_id, fingerprint, notes_fingerprint FROM assets \
             WHERE account_id = ?1 AND remote_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(&account.0)
        .bind(&ids_json)
        .fetch_all(&mut *tx)
        .await?;
        let known: HashMap<String, (String, Option<String>)> = known
            .into_iter()
            .map(|(id, fp, notes_fp)| (id, (fp, notes_fp)))
            .collect();

        let mut changes = AssetChanges::default();
        let mut asset_rows = Vec::new();
        let mut version_rows = Vec::new();
        let mut seen = HashSet::new();
        for (asset, fp) in assets.iter().zip(&fingerprints) {
            // A platform listing the same asset twice in one node is taken once.
            if !seen.insert(asset.id.0.as_str()) {
                continue;
            }
            let (is_changed, notes_current) = match known.get(&asset.id.0) {
                Some((old, notes_fp)) => (old != fp, notes_fp.as_deref() == Some(fp.as_str())),
                None => (true, false),
            };
            if !notes_current {
                changes.needs_notes.push(asset.id.clone());
            }
            if !is_changed {
                continue;
            }
            changes.changed.push(asset.id.clone());
            asset_rows.push(json!({
                "id": asset.id.0,
                "parent": asset.parent.0,
                "name": asset.name,
                "status": asset.status,
                "updated_at": asset.updated_at,
                "offline_allowed": i64::from(asset.offline.allowed),
                "offline_reason": asset.offline.reason,
                "fingerprint": fp,
            }));
            for version in &asset.versions {
                version_rows.push(version_json(&asset.id, version)?);
            }
        }

        if !asset_rows.is_empty() {
            sqlx::query(
                "WITH rows(v) AS MATERIALIZED (SELECT value FROM json_each(?2)) \
                 INSERT INTO assets (account_id, remote_id, parent_id, name, status, updated_at, \
                     offline_allowed, offline_reason, fingerprint) \
                 SELECT ?1, v ->> '$.id', v ->> '$.parent', v ->> '$.name', \
                     v ->> '$.status', v ->> '$.updated_at', \
                     v ->> '$.offline_allowed', v ->> '$.offline_reason', \
                     v ->> '$.fingerprint' \
                 FROM rows WHERE true \
                 ON CONFLICT (account_id, remote_id) DO UPDATE SET parent_id = excluded.parent_id, \
                     name = excluded.name, status = excluded.status, \
                     updated_at = excluded.updated_at, offline_allowed = excluded.offline_allowed, \
                     offline_reason = excluded.offline_reason, fingerprint = excluded.fingerprint",
            )
            .bind(&account.0)
            .bind(to_json_text(&asset_rows)?)
            .execute(&mut *tx)
            .await?;
            let changed_ids: Vec<&str> = changes.changed.iter().map(|id| id.0.as_str()).collect();
            let version_ids: Vec<&str> = version_rows
                .iter()
                .filter_map(|v| v.get("id").and_then(|id| id.as_str()))
                .collect();
            // Versions that disappeared from a changed asset. Their notes stay in `notes`.
            sqlx::query(
                "DELETE FROM versions WHERE account_id = ?1 \
                 AND asset_id IN (SELECT value FROM json_each(?2)) \
                 AND remote_id NOT IN (SELECT value FROM json_each(?3))",
            )
            .bind(&account.0)
            .bind(to_json_text(&changed_ids)?)
            .bind(to_json_text(&version_ids)?)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "WITH rows(v) AS MATERIALIZED (SELECT value FROM json_each(?2)) \
                 INSERT INTO versions (account_id, remote_id, asset_id, number, label, fps_num, \
                     fps_den, tc_frames, tc_num, tc_den, tc_drop, first_frame, frame_count, width, \
                     height, bytes) \
                 SELECT ?1, v ->> '$.id', v ->> '$.asset', v ->> '$.number', \
                     v ->> '$.label', v ->> '$.fps_num', v ->> '$.fps_den', \
                     v ->> '$.tc_frames', v ->> '$.tc_num', v ->> '$.tc_den', \
                     v ->> '$.tc_drop', v ->> '$.first_frame', \
                     v ->> '$.frame_count', v ->> '$.width', v ->> '$.height', \
                     v ->> '$.bytes' \
                 FROM rows WHERE true \
                 ON CONFLICT (account_id, remote_id) DO UPDATE SET asset_id = excluded.asset_id, \
                     number = excluded.number, label = excluded.label, fps_num = excluded.fps_num, \
                     fps_den = excluded.fps_den, tc_frames = excluded.tc_frames, \
                     tc_num = excluded.tc_num, tc_den = excluded.tc_den, tc_drop = excluded.tc_drop, \
                     first_frame = excluded.first_frame, frame_count = excluded.frame_count, \
                     width = excluded.width, height = excluded.height, bytes = excluded.bytes",
            )
            .bind(&account.0)
            .bind(to_json_text(&version_rows)?)
            .execute(&mut *tx)
            .await?;
        }

        let links: Vec<serde_json::Value> = assets
            .iter()
            .enumerate()
            .map(|(position, a)| json!({"id": a.id.0, "position": position}))
            .collect();
        let links = to_json_text(&links)?;
        let unlinked: Vec<String> = if !complete {
            Vec::new()
        } else {
            sqlx::query_scalar(
                "DELETE FROM node_assets WHERE account_id = ?1 AND node_id = ?2 \
             AND asset_id NOT IN (SELECT j.value ->> '$.id' FROM json_each(?3) AS j) \
             RETURNING asset_id",
            )
            .bind(&account.0)
            .bind(&node.0)
            .bind(&links)
            .fetch_all(&mut *tx)
            .await?
        };
        changes.unlinked = unlinked.into_iter().map(RemoteId).collect();
        sqlx::query(
            "INSERT INTO node_assets (account_id, node_id, asset_id, position) \
             SELECT ?1, ?2, j.value ->> '$.id', min(j.value ->> '$.position') \
             FROM json_each(?3) AS j GROUP BY j.value ->> '$.id' \
             ON CONFLICT (account_id, node_id, asset_id) DO UPDATE SET position = excluded.position \
             WHERE ?4 AND node_assets.position != excluded.position",
        )
        .bind(&account.0)
        .bind(&node.0)
        .bind(&links)
        .bind(complete)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// Records that the notes of `asset` were fetched for its current facts, so an unchanged
    /// asset is skipped on the next sync.
    pub async fn mark_asset_notes_synced(
        &self,
        account: &AccountId,
        asset: &RemoteId,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE assets SET notes_fingerprint = fingerprint \
             WHERE account_id = ?1 AND remote_id = ?2",
        )
        .bind(&account.0)
        .bind(&asset.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets that notes were fetched, so the next sync fetches them again (used after a note
    /// was posted, since some platforms do not change the asset when a note is added).
    pub async fn invalidate_asset_notes(
        &self,
        account: &AccountId,
        asset: &RemoteId,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE assets SET notes_fingerprint = NULL WHERE account_id = ?1 AND remote_id = ?2",
        )
        .bind(&account.0)
        .bind(&asset.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets that any asset's notes were fetched: the next pull fetches every note and
    /// drawing again (a full refresh; drawings made in a platform's own player do not always
    /// change the asset).
    pub async fn invalidate_all_notes(&self, account: &AccountId) -> Result<()> {
        sqlx::query("UPDATE assets SET notes_fingerprint = NULL WHERE account_id = ?1")
            .bind(&account.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Child nodes of `parent` (roots when `None`), in the platform's order.
    pub async fn nodes(
        &self,
        account: &AccountId,
        parent: Option<&RemoteId>,
    ) -> Result<Vec<NodeRecord>> {
        let rows: Vec<NodeRow> = sqlx::query_as(
            "SELECT n.remote_id, n.parent_id, n.kind, n.name, n.status, \
                 EXISTS (SELECT 1 FROM nodes AS c WHERE c.account_id = n.account_id \
                     AND c.parent_id = n.remote_id) AS has_children, \
                 (SELECT COUNT(*) FROM node_assets AS l WHERE l.account_id = n.account_id \
                     AND l.node_id = n.remote_id) AS asset_count, \
                 EXISTS (SELECT 1 FROM pins AS p WHERE p.account_id = n.account_id \
                     AND p.scope = 'node' AND p.target_id = n.remote_id) AS pinned \
             FROM nodes AS n WHERE n.account_id = ?1 AND n.parent_id IS ?2 \
             ORDER BY n.position, n.name",
        )
        .bind(&account.0)
        .bind(parent.map(|p| p.0.as_str()))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One node.
    pub async fn node(&self, account: &AccountId, id: &RemoteId) -> Result<NodeRecord> {
        let row: Option<NodeRow> = sqlx::query_as(
            "SELECT n.remote_id, n.parent_id, n.kind, n.name, n.status, \
                 EXISTS (SELECT 1 FROM nodes AS c WHERE c.account_id = n.account_id \
                     AND c.parent_id = n.remote_id) AS has_children, \
                 (SELECT COUNT(*) FROM node_assets AS l WHERE l.account_id = n.account_id \
                     AND l.node_id = n.remote_id) AS asset_count, \
                 EXISTS (SELECT 1 FROM pins AS p WHERE p.account_id = n.account_id \
                     AND p.scope = 'node' AND p.target_id = n.remote_id) AS pinned \
             FROM nodes AS n WHERE n.account_id = ?1 AND n.remote_id = ?2",
        )
        .bind(&account.0)
        .bind(&id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or_else(|| CacheError::not_found("node", id.0.clone()))?
            .try_into()
    }

    /// Every node id of the account, parents before children (for a full re-walk or a report).
    pub async fn node_count(&self, account: &AccountId) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE account_id = ?1")
            .bind(&account.0)
            .fetch_one(&self.pool)
            .await?;
        crate::rows::to_u64(count, "node count")
    }

    /// Assets listed in `node`, with versions, note counts and offline state.
    pub async fn assets_in_node(
        &self,
        account: &AccountId,
        node: &RemoteId,
    ) -> Result<Vec<AssetSummary>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            asset: AssetRow,
            note_count: i64,
            unsent_note_count: i64,
            pinned: i64,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT a.remote_id, a.parent_id, a.name, a.status, a.updated_at, a.offline_allowed, \
                 a.offline_reason, \
                 (SELECT COUNT(*) FROM notes AS n WHERE n.account_id = a.account_id \
                     AND n.asset_id = a.remote_id) AS note_count, \
                 (SELECT COUNT(*) FROM notes AS n WHERE n.account_id = a.account_id \
                     AND n.asset_id = a.remote_id AND n.sync_state IN ('pending', 'failed')) \
                     AS unsent_note_count, \
                 EXISTS (SELECT 1 FROM pins AS p WHERE p.account_id = a.account_id \
                     AND p.scope = 'asset' AND p.target_id = a.remote_id) AS pinned \
             FROM node_assets AS l JOIN assets AS a \
                 ON a.account_id = l.account_id AND a.remote_id = l.asset_id \
             WHERE l.account_id = ?1 AND l.node_id = ?2 ORDER BY l.position",
        )
        .bind(&account.0)
        .bind(&node.0)
        .fetch_all(&self.pool)
        .await?;
        let version_rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT v.remote_id, v.asset_id, v.number, v.label, v.fps_num, v.fps_den, \
                 v.tc_frames, v.tc_num, v.tc_den, v.tc_drop, v.first_frame, v.frame_count, \
                 v.width, v.height, v.bytes \
             FROM node_assets AS l JOIN versions AS v \
                 ON v.account_id = l.account_id AND v.asset_id = l.asset_id \
             WHERE l.account_id = ?1 AND l.node_id = ?2 ORDER BY v.number, v.remote_id",
        )
        .bind(&account.0)
        .bind(&node.0)
        .fetch_all(&self.pool)
        .await?;
        let mut versions: HashMap<String, Vec<Version>> = HashMap::new();
        for row in version_rows {
            let version = Version::try_from(row)?;
            versions
                .entry(version.asset.0.clone())
                .or_default()
                .push(version);
        }
        let media_rows: Vec<MediaFileRow> = sqlx::query_as(
            "SELECT m.account_id, m.version_id, m.asset_id, m.local_path, m.bytes_expected, \
                 m.bytes_downloaded, m.checksum, m.state, m.pinned, m.pin_scope, m.last_error, \
                 m.updated_at \
             FROM node_assets AS l JOIN media_files AS m \
                 ON m.account_id = l.account_id AND m.asset_id = l.asset_id \
             WHERE l.account_id = ?1 AND l.node_id = ?2",
        )
        .bind(&account.0)
        .bind(&node.0)
        .fetch_all(&self.pool)
        .await?;
        let mut media: HashMap<String, MediaFileRecord> = HashMap::new();
        for row in media_rows {
            let record = MediaFileRecord::try_from(row)?;
            media.insert(record.version.0.clone(), record);
        }
        rows.into_iter()
            .map(|row| {
                let versions = versions.remove(&row.asset.remote_id).unwrap_or_default();
                let offline = versions.last().and_then(|v| media.remove(&v.id.0));
                Ok(AssetSummary {
                    asset: row.asset.into_asset(versions),
                    note_count: crate::rows::to_u64(row.note_count, "note count")?,
                    unsent_note_count: crate::rows::to_u64(row.unsent_note_count, "note count")?,
                    pinned: row.pinned != 0,
                    offline,
                })
            })
            .collect()
    }

    /// One asset with its versions (oldest first).
    pub async fn asset(&self, account: &AccountId, id: &RemoteId) -> Result<Asset> {
        let row: Option<AssetRow> = sqlx::query_as(
            "SELECT remote_id, parent_id, name, status, updated_at, offline_allowed, \
                 offline_reason FROM assets WHERE account_id = ?1 AND remote_id = ?2",
        )
        .bind(&account.0)
        .bind(&id.0)
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or_else(|| CacheError::not_found("asset", id.0.clone()))?;
        let versions = self.versions_of(account, id).await?;
        Ok(row.into_asset(versions))
    }

    /// Versions of an asset, oldest first.
    pub async fn versions_of(&self, account: &AccountId, asset: &RemoteId) -> Result<Vec<Version>> {
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT remote_id, asset_id, number, label, fps_num, fps_den, tc_frames, tc_num, \
                 tc_den, tc_drop, first_frame, frame_count, width, height, bytes \
             FROM versions WHERE account_id = ?1 AND asset_id = ?2 ORDER BY number, remote_id",
        )
        .bind(&account.0)
        .bind(&asset.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One version with its asset's name.
    pub async fn version(&self, account: &AccountId, id: &RemoteId) -> Result<VersionRecord> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            version: VersionRow,
            asset_name: Option<String>,
        }
        let row: Option<Row> = sqlx::query_as(
            "SELECT v.remote_id, v.asset_id, v.number, v.label, v.fps_num, v.fps_den, \
                 v.tc_frames, v.tc_num, v.tc_den, v.tc_drop, v.first_frame, v.frame_count, \
                 v.width, v.height, v.bytes, a.name AS asset_name \
             FROM versions AS v LEFT JOIN assets AS a \
                 ON a.account_id = v.account_id AND a.remote_id = v.asset_id \
             WHERE v.account_id = ?1 AND v.remote_id = ?2",
        )
        .bind(&account.0)
        .bind(&id.0)
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or_else(|| CacheError::not_found("version", id.0.clone()))?;
        let asset_name = row.asset_name.unwrap_or_default();
        Ok(VersionRecord {
            version: row.version.try_into()?,
            asset_name,
        })
    }

    /// Every version of the account (for a full note re-sync).
    pub async fn all_versions(&self, account: &AccountId) -> Result<Vec<Version>> {
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT remote_id, asset_id, number, label, fps_num, fps_den, tc_frames, tc_num, \
                 tc_den, tc_drop, first_frame, frame_count, width, height, bytes \
             FROM versions WHERE account_id = ?1 ORDER BY asset_id, number",
        )
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Counts for a status line: (nodes, assets, versions).
    pub async fn library_counts(&self, account: &AccountId) -> Result<(u64, u64, u64)> {
        let (nodes, assets, versions): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM nodes WHERE account_id = ?1), \
                 (SELECT COUNT(*) FROM assets WHERE account_id = ?1), \
                 (SELECT COUNT(*) FROM versions WHERE account_id = ?1)",
        )
        .bind(&account.0)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            crate::rows::to_u64(nodes, "count")?,
            crate::rows::to_u64(assets, "count")?,
            crate::rows::to_u64(versions, "count")?,
        ))
    }
}
