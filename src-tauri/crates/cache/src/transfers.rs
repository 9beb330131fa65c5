//! The upload queue, the watch folders and the small settings table.
//!
//! A transfer row is written before a byte is sent; the connector's checkpoint is stored after
//! every step the platform acknowledged, so an upload interrupted by a quit, a crash or a network
//! loss resumes from the last acknowledged part. States move only along the transitions the
//! queue allows ([`Cache::move_transfer`] names the states a move may start from), so two
//! clicks or two processes cannot both start the same upload.
//!
//! Watch folders remember each file they queued (relative path, size, mtime and a content
//! fingerprint): a file is sent once, a file written again is sent again, and a renamed file is
//! recognised by its fingerprint and not sent twice.

use framenote_core::{AccountId, RemoteId};
use serde::Serialize;

use crate::{Cache, CacheError, Result, now_millis, now_rfc3339};

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Waiting for a free slot or for its next attempt time.
    Queued,
    /// Being sent (or was, when the app stopped: recovered to `Queued` at start).
    Running,
    /// Held by the user; keeps its checkpoint.
    Paused,
    /// The platform has it.
    Done,
    /// Refused for good or out of attempts; kept with its error until retried or cancelled.
    Failed,
    /// Given up by the user.
    Cancelled,
}

impl TransferState {
    /// The stored key.
    pub fn key(self) -> &'static str {
        match self {
            TransferState::Queued => "queued",
            TransferState::Running => "running",
            TransferState::Paused => "paused",
            TransferState::Done => "done",
            TransferState::Failed => "failed",
            TransferState::Cancelled => "cancelled",
        }
    }
    fn from_key(key: &str) -> Result<Self> {
        Ok(match key {
            "queued" => TransferState::Queued,
            "running" => TransferState::Running,
            "paused" => TransferState::Paused,
            "done" => TransferState::Done,
            "failed" => TransferState::Failed,
            "cancelled" => TransferState::Cancelled,
            other => return Err(CacheError::corrupt("transfer state", other)),
        })
    }
    /// Whether the transfer still has work to do.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            TransferState::Queued | TransferState::Running | TransferState::Paused
        )
    }
}

/// An upload to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransfer {
    /// The account it goes to.
    pub account: AccountId,
    /// The destination node.
    pub node: RemoteId,
    /// A person's label of the destination.
    pub destination_label: String,
    /// The local file.
    pub path: String,
    /// Its name on the platform.
    pub name: String,
    /// Folders to create under the destination, outermost first.
    pub subfolder: Vec<String>,
    /// A version read from the name.
    pub version_hint: Option<u32>,
    /// A comment to send with it.
    pub comment: Option<String>,
    /// Size when queued.
    pub size: u64,
    /// Modification time when queued (unix ms).
    pub modified_ms: i64,
    /// The watch folder that queued it.
    pub watch_folder: Option<i64>,
}

/// One row of the upload queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferRecord {
    /// Queue order.
    pub id: i64,
    /// The account it goes to.
    pub account: AccountId,
    /// The destination node.
    pub node: RemoteId,
    /// A person's label of the destination.
    pub destination_label: String,
    /// The local file.
    pub path: String,
    /// Its name on the platform.
    pub name: String,
    /// Folders to create under the destination.
    pub subfolder: Vec<String>,
    /// A version read from the name.
    pub version_hint: Option<u32>,
    /// A comment to send with it.
    pub comment: Option<String>,
    /// Size when queued.
    pub size: u64,
    /// Modification time when queued (unix ms).
    pub modified_ms: i64,
    /// Where it stands.
    pub state: TransferState,
    /// Bytes the platform has.
    pub bytes_done: u64,
    /// The connector's last checkpoint.
    pub checkpoint: Option<serde_json::Value>,
    /// Attempts started.
    pub attempts: u32,
    /// Not before this time (unix ms).
    pub next_attempt_ms: i64,
    /// The last error, safe to show.
    pub error: Option<String>,
    /// The asset it became.
    pub asset: Option<RemoteId>,
    /// The version it became.
    pub version: Option<RemoteId>,
    /// The watch folder that queued it.
    pub watch_folder: Option<i64>,
    /// When queued.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

#[derive(sqlx::FromRow)]
struct TransferRow {
    id: i64,
    account_id: String,
    node_id: String,
    destination: String,
    path: String,
    name: String,
    subfolder: String,
    version_hint: Option<i64>,
    comment: Option<String>,
    size: i64,
    modified_ms: i64,
    state: String,
    bytes_done: i64,
    checkpoint: Option<String>,
    attempts: i64,
    next_attempt_ms: i64,
    error: Option<String>,
    asset_id: Option<String>,
    version_id: Option<String>,
    watch_folder_id: Option<i64>,
    created_at: String,
    updated_at: String,
}

impl TryFrom<TransferRow> for TransferRecord {
    type Error = CacheError;
    fn try_from(row: TransferRow) -> Result<Self> {
        Ok(TransferRecord {
            id: row.id,
            account: AccountId(row.account_id),
            node: RemoteId(row.node_id),
            destination_label: row.destination,
            path: row.path,
            name: row.name,
            subfolder: serde_json::from_str(&row.subfolder)
                .map_err(|e| CacheError::corrupt("transfer subfolder", e))?,
            version_hint: row.version_hint.and_then(|v| u32::try_from(v).ok()),
            comment: row.comment,
            size: u64::try_from(row.size).unwrap_or(0),
            modified_ms: row.modified_ms,
            state: TransferState::from_key(&row.state)?,
            bytes_done: u64::try_from(row.bytes_done).unwrap_or(0),
            checkpoint: row
                .checkpoint
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|e| CacheError::corrupt("transfer checkpoint", e))?,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            next_attempt_ms: row.next_attempt_ms,
            error: row.error,
            asset: row.asset_id.map(RemoteId),
            version: row.version_id.map(RemoteId),
            watch_folder: row.watch_folder_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

// Statements are literals (sqlx refuses formatted SQL): the shared column list is a macro.
macro_rules! transfer_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, account_id, node_id, destination, path, name, subfolder, version_hint, \
             comment, size, modified_ms, state, bytes_done, checkpoint, attempts, \
             next_attempt_ms, error, asset_id, version_id, watch_folder_id, created_at, \
             updated_at FROM transfers ",
            $tail
        )
    };
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A local folder watched for new files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchFolderRecord {
    /// Id.
    pub id: i64,
    /// The folder.
    pub path: String,
    /// Destination account.
    pub account: AccountId,
    /// Destination node.
    pub node: RemoteId,
    /// A person's label of the destination.
    pub destination_label: String,
    /// Watching is on.
    pub enabled: bool,
    /// Read version numbers from file names.
    pub detect_versions: bool,
    /// Comment sent with each file where the platform takes one.
    pub comment: Option<String>,
    /// Files queued from it so far.
    pub files_sent: u64,
    /// When added.
    pub created_at: String,
}

/// A watch folder to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWatchFolder {
    /// The folder (absolute).
    pub path: String,
    /// Destination account.
    pub account: AccountId,
    /// Destination node.
    pub node: RemoteId,
    /// A person's label of the destination.
    pub destination_label: String,
    /// Read version numbers from file names.
    pub detect_versions: bool,
    /// Comment sent with each file.
    pub comment: Option<String>,
}

#[derive(sqlx::FromRow)]
struct WatchFolderRow {
    id: i64,
    path: String,
    account_id: String,
    node_id: String,
    destination: String,
    enabled: i64,
    detect_versions: i64,
    comment: Option<String>,
    files_sent: i64,
    created_at: String,
}

impl From<WatchFolderRow> for WatchFolderRecord {
    fn from(row: WatchFolderRow) -> Self {
        WatchFolderRecord {
            id: row.id,
            path: row.path,
            account: AccountId(row.account_id),
            node: RemoteId(row.node_id),
            destination_label: row.destination,
            enabled: row.enabled != 0,
            detect_versions: row.detect_versions != 0,
            comment: row.comment,
            files_sent: u64::try_from(row.files_sent).unwrap_or(0),
            created_at: row.created_at,
        }
    }
}

macro_rules! watch_select {
    ($tail:literal) => {
        concat!(
            "SELECT w.id, w.path, w.account_id, w.node_id, w.destination, w.enabled, \
             w.detect_versions, w.comment, w.created_at, (SELECT COUNT(DISTINCT f.transfer_id) FROM watch_files f \
             WHERE f.folder_id = w.id AND f.transfer_id IS NOT NULL) AS files_sent \
             FROM watch_folders AS w ",
            $tail
        )
    };
}

/// What a watch folder remembers of one file it has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchFileRecord {
    /// Path relative to the watch folder.
    pub rel_path: String,
    /// Size when queued.
    pub size: u64,
    /// Modification time when queued (unix ms).
    pub modified_ms: i64,
    /// Content fingerprint (size + hashes of its head and tail).
    pub fingerprint: String,
    /// The transfer it became.
    pub transfer: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct WatchFileRow {
    rel_path: String,
    size: i64,
    modified_ms: i64,
    fingerprint: String,
    transfer_id: Option<i64>,
}

impl From<WatchFileRow> for WatchFileRecord {
    fn from(row: WatchFileRow) -> Self {
        WatchFileRecord {
            rel_path: row.rel_path,
            size: u64::try_from(row.size).unwrap_or(0),
            modified_ms: row.modified_ms,
            fingerprint: row.fingerprint,
            transfer: row.transfer_id,
        }
    }
}

impl Cache {
    /// Queues an upload.
    pub async fn insert_transfer(&self, new: &NewTransfer) -> Result<TransferRecord> {
        let now = now_rfc3339();
        let subfolder = serde_json::to_string(&new.subfolder)
            .map_err(|e| CacheError::corrupt("transfer subfolder", e))?;
        let id = sqlx::query(
            "INSERT INTO transfers (account_id, node_id, destination, path, name, subfolder, \
             version_hint, comment, size, modified_ms, state, watch_folder_id, created_at, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
        )
        .bind(&new.account.0)
        .bind(&new.node.0)
        .bind(&new.destination_label)
        .bind(&new.path)
        .bind(&new.name)
        .bind(subfolder)
        .bind(new.version_hint.map(i64::from))
        .bind(&new.comment)
        .bind(to_i64(new.size))
        .bind(new.modified_ms)
        .bind(new.watch_folder)
        .bind(&now)
        .bind(&now)
        .execute(&self.pool)
        .await?
        .last_insert_rowid();
        self.transfer(id).await
    }

    /// One transfer.
    pub async fn transfer(&self, id: i64) -> Result<TransferRecord> {
        let row: Option<TransferRow> = sqlx::query_as(transfer_select!("WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or_else(|| CacheError::not_found("transfer", id.to_string()))?
            .try_into()
    }

    /// Every transfer, in queue order.
    pub async fn list_transfers(&self) -> Result<Vec<TransferRecord>> {
        let rows: Vec<TransferRow> = sqlx::query_as(transfer_select!("ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Queued transfers whose time has come, oldest first.
    pub async fn due_transfers(&self, limit: u32) -> Result<Vec<TransferRecord>> {
        let rows: Vec<TransferRow> = sqlx::query_as(transfer_select!(
            "WHERE state = 'queued' AND next_attempt_ms <= ? ORDER BY id LIMIT ?"
        ))
        .bind(now_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// When the next queued transfer becomes due (unix ms), if any is queued.
    pub async fn next_transfer_due_ms(&self) -> Result<Option<i64>> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(next_attempt_ms) FROM transfers WHERE state = 'queued'")
                .fetch_one(&self.pool)
                .await?;
        Ok(next)
    }

    /// Moves a transfer to `to` if it is in one of `from`; returns whether it moved. Moving to
    /// `Queued` makes it due now; moving to `Running` counts an attempt.
    pub async fn move_transfer(
        &self,
        id: i64,
        from: &[TransferState],
        to: TransferState,
    ) -> Result<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.key()).collect();
        let from = serde_json::to_string(&from).map_err(|e| CacheError::corrupt("states", e))?;
        let query = match to {
            TransferState::Queued => sqlx::query(
                "UPDATE transfers SET state = ?1, updated_at = ?2, next_attempt_ms = 0, \
                 error = NULL WHERE id = ?3 AND state IN (SELECT value FROM json_each(?4))",
            ),
            TransferState::Running => sqlx::query(
                "UPDATE transfers SET state = ?1, updated_at = ?2, attempts = attempts + 1 \
                 WHERE id = ?3 AND state IN (SELECT value FROM json_each(?4))",
            ),
            _ => sqlx::query(
                "UPDATE transfers SET state = ?1, updated_at = ?2 \
                 WHERE id = ?3 AND state IN (SELECT value FROM json_each(?4))",
            ),
        }
        .bind(to.key())
        .bind(now_rfc3339())
        .bind(id)
        .bind(from);
        Ok(query.execute(&self.pool).await?.rows_affected() == 1)
    }

    /// Records bytes the platform has.
    pub async fn record_transfer_progress(&self, id: i64, bytes_done: u64) -> Result<()> {
        sqlx::query("UPDATE transfers SET bytes_done = ?, updated_at = ? WHERE id = ?")
            .bind(to_i64(bytes_done))
            .bind(now_rfc3339())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores the connector's checkpoint (committed before the next part is sent).
    pub async fn save_transfer_checkpoint(
        &self,
        id: i64,
        checkpoint: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query("UPDATE transfers SET checkpoint = ?, updated_at = ? WHERE id = ?")
            .bind(checkpoint.to_string())
            .bind(now_rfc3339())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the checkpoint and progress (the file changed, or the platform lost the session):
    /// the next attempt starts from the beginning.
    pub async fn reset_transfer(&self, id: i64, size: u64, modified_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE transfers SET checkpoint = NULL, bytes_done = 0, size = ?, modified_ms = ?, \
             updated_at = ? WHERE id = ?",
        )
        .bind(to_i64(size))
        .bind(modified_ms)
        .bind(now_rfc3339())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The platform has it.
    pub async fn finish_transfer(
        &self,
        id: i64,
        asset: &RemoteId,
        version: &RemoteId,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE transfers SET state = 'done', bytes_done = size, asset_id = ?, version_id = ?, \
             error = NULL, updated_at = ? WHERE id = ? AND state = 'running'",
        )
        .bind(&asset.0)
        .bind(&version.0)
        .bind(now_rfc3339())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An attempt failed: back to the queue at `retry_at_ms`, or `Failed` for good when `None`.
    /// Only a running transfer moves (a pause or cancel that came first wins).
    pub async fn fail_transfer(
        &self,
        id: i64,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<()> {
        let (state, next) = match retry_at_ms {
            Some(at) => ("queued", at),
            None => ("failed", 0),
        };
        sqlx::query(
            "UPDATE transfers SET state = ?, next_attempt_ms = ?, error = ?, updated_at = ? \
             WHERE id = ? AND state = 'running'",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(now_rfc3339())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// At start: uploads that were running when the app stopped go back to the queue (their
    /// checkpoints make them resume). Returns how many.
    pub async fn recover_transfers(&self) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE transfers SET state = 'queued', next_attempt_ms = 0, updated_at = ? \
             WHERE state = 'running'",
        )
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Forgets finished transfers (done and cancelled).
    pub async fn clear_finished_transfers(&self) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM transfers WHERE state IN ('done', 'cancelled')")
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Adds a watch folder.
    pub async fn add_watch_folder(&self, new: &NewWatchFolder) -> Result<WatchFolderRecord> {
        let id = sqlx::query(
            "INSERT INTO watch_folders (path, account_id, node_id, destination, detect_versions, \
             comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&new.path)
        .bind(&new.account.0)
        .bind(&new.node.0)
        .bind(&new.destination_label)
        .bind(i64::from(new.detect_versions))
        .bind(&new.comment)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                CacheError::Invalid(format!("{} is already a watch folder", new.path))
            }
            _ => CacheError::Query(e),
        })?
        .last_insert_rowid();
        self.watch_folder(id).await
    }

    /// One watch folder.
    pub async fn watch_folder(&self, id: i64) -> Result<WatchFolderRecord> {
        let row: Option<WatchFolderRow> = sqlx::query_as(watch_select!("WHERE w.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Into::into)
            .ok_or_else(|| CacheError::not_found("watch folder", id.to_string()))
    }

    /// Every watch folder.
    pub async fn list_watch_folders(&self) -> Result<Vec<WatchFolderRecord>> {
        let rows: Vec<WatchFolderRow> = sqlx::query_as(watch_select!("ORDER BY w.id"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Turns watching on or off.
    pub async fn set_watch_folder_enabled(&self, id: i64, enabled: bool) -> Result<()> {
        let changed = sqlx::query("UPDATE watch_folders SET enabled = ? WHERE id = ?")
            .bind(i64::from(enabled))
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(CacheError::not_found("watch folder", id.to_string()));
        }
        Ok(())
    }

    /// Removes a watch folder (its queued transfers stay).
    pub async fn remove_watch_folder(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM watch_folders WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What the folder remembers of a file, by relative path.
    pub async fn watch_file(&self, folder: i64, rel_path: &str) -> Result<Option<WatchFileRecord>> {
        let row: Option<WatchFileRow> = sqlx::query_as(
            "SELECT rel_path, size, modified_ms, fingerprint, transfer_id FROM watch_files \
             WHERE folder_id = ? AND rel_path = ?",
        )
        .bind(folder)
        .bind(rel_path)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// A file the folder queued before under another name with this fingerprint (a rename).
    pub async fn watch_file_by_fingerprint(
        &self,
        folder: i64,
        fingerprint: &str,
    ) -> Result<Option<WatchFileRecord>> {
        let row: Option<WatchFileRow> = sqlx::query_as(
            "SELECT rel_path, size, modified_ms, fingerprint, transfer_id FROM watch_files \
             WHERE folder_id = ? AND fingerprint = ? AND transfer_id IS NOT NULL LIMIT 1",
        )
        .bind(folder)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Remembers a file the folder has handled (queued as `transfer`, or recognised).
    pub async fn record_watch_file(&self, folder: i64, file: &WatchFileRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO watch_files (folder_id, rel_path, size, modified_ms, fingerprint, \
             transfer_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (folder_id, rel_path) DO UPDATE \
             SET size = excluded.size, modified_ms = excluded.modified_ms, \
             fingerprint = excluded.fingerprint, transfer_id = excluded.transfer_id",
        )
        .bind(folder)
        .bind(&file.rel_path)
        .bind(to_i64(file.size))
        .bind(file.modified_ms)
        .bind(&file.fingerprint)
        .bind(file.transfer)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A stored setting.
    pub async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        value
            .map(|v| serde_json::from_str(&v).map_err(|e| CacheError::corrupt("setting", e)))
            .transpose()
    }

    /// Stores a setting.
    pub async fn set_setting(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewAccount;
    use framenote_core::Platform;

    async fn cache_with_account() -> Cache {
        let cache = Cache::open_in_memory().await.unwrap();
        cache
            .upsert_account(&NewAccount {
                id: AccountId("a".into()),
                platform: Platform::Local,
                base_url: "/tmp".into(),
                user_name: None,
                label: "A".into(),
            })
            .await
            .unwrap();
        cache
    }

    fn new_transfer() -> NewTransfer {
        NewTransfer {
            account: AccountId("a".into()),
            node: RemoteId("n".into()),
            destination_label: "Library › n".into(),
            path: "/tmp/sh010_v003.mov".into(),
            name: "sh010_v003.mov".into(),
            subfolder: vec!["renders".into()],
            version_hint: Some(3),
            comment: Some("first pass".into()),
            size: 1000,
            modified_ms: 5,
            watch_folder: None,
        }
    }

    #[tokio::test]
    async fn a_transfer_moves_only_along_allowed_transitions() {
        let cache = cache_with_account().await;
        let t = cache.insert_transfer(&new_transfer()).await.unwrap();
        assert_eq!(t.state, TransferState::Queued);
        assert_eq!(t.subfolder, vec!["renders".to_string()]);
        assert_eq!(cache.due_transfers(10).await.unwrap().len(), 1);

        use TransferState::*;
        assert!(cache.move_transfer(t.id, &[Queued], Running).await.unwrap());
        // A second start of the same transfer is refused.
        assert!(!cache.move_transfer(t.id, &[Queued], Running).await.unwrap());
        cache
            .save_transfer_checkpoint(t.id, &serde_json::json!({"parts": 2}))
            .await
            .unwrap();
        cache.record_transfer_progress(t.id, 400).await.unwrap();
        // The app dies here; at the next start the transfer is queued again with its checkpoint.
        assert_eq!(cache.recover_transfers().await.unwrap(), 1);
        let t2 = cache.transfer(t.id).await.unwrap();
        assert_eq!(t2.state, Queued);
        assert_eq!(t2.attempts, 1);
        assert_eq!(t2.bytes_done, 400);
        assert_eq!(t2.checkpoint, Some(serde_json::json!({"parts": 2})));

        assert!(cache.move_transfer(t.id, &[Queued], Running).await.unwrap());
        cache
            .fail_transfer(t.id, "connection reset", Some(now_millis() + 60_000))
            .await
            .unwrap();
        assert!(
            cache.due_transfers(10).await.unwrap().is_empty(),
            "not due yet"
        );
        assert!(cache.next_transfer_due_ms().await.unwrap().is_some());
        // Pausing keeps the checkpoint; resuming makes it due at once.
        assert!(
            cache
                .move_transfer(t.id, &[Queued, Running], Paused)
                .await
                .unwrap()
        );
        assert!(cache.move_transfer(t.id, &[Paused], Queued).await.unwrap());
        assert_eq!(cache.due_transfers(10).await.unwrap().len(), 1);
        assert!(cache.move_transfer(t.id, &[Queued], Running).await.unwrap());
        cache
            .finish_transfer(t.id, &RemoteId("asset".into()), &RemoteId("v".into()))
            .await
            .unwrap();
        let done = cache.transfer(t.id).await.unwrap();
        assert_eq!((done.state, done.bytes_done), (Done, 1000));
        assert_eq!(cache.clear_finished_transfers().await.unwrap(), 1);
        assert!(cache.list_transfers().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failure_after_a_pause_does_not_undo_the_pause() {
        let cache = cache_with_account().await;
        let t = cache.insert_transfer(&new_transfer()).await.unwrap();
        use TransferState::*;
        cache.move_transfer(t.id, &[Queued], Running).await.unwrap();
        cache.move_transfer(t.id, &[Running], Paused).await.unwrap();
        // The attempt ends with an error after the user paused it.
        cache.fail_transfer(t.id, "aborted", None).await.unwrap();
        assert_eq!(cache.transfer(t.id).await.unwrap().state, Paused);
    }

    #[tokio::test]
    async fn watch_folders_remember_their_files() {
        let cache = cache_with_account().await;
        let folder = cache
            .add_watch_folder(&NewWatchFolder {
                path: "/renders".into(),
                account: AccountId("a".into()),
                node: RemoteId("n".into()),
                destination_label: "Library".into(),
                detect_versions: true,
                comment: None,
            })
            .await
            .unwrap();
        assert!(folder.enabled);
        let duplicate = cache
            .add_watch_folder(&NewWatchFolder {
                path: "/renders".into(),
                account: AccountId("a".into()),
                node: RemoteId("n".into()),
                destination_label: "Library".into(),
                detect_versions: true,
                comment: None,
            })
            .await;
        assert!(matches!(duplicate, Err(CacheError::Invalid(_))));
        let t = cache.insert_transfer(&new_transfer()).await.unwrap();
        let file = WatchFileRecord {
            rel_path: "sh010_v003.mov".into(),
            size: 1000,
            modified_ms: 5,
            fingerprint: "fp".into(),
            transfer: Some(t.id),
        };
        cache.record_watch_file(folder.id, &file).await.unwrap();
        assert_eq!(
            cache.watch_file(folder.id, "sh010_v003.mov").await.unwrap(),
            Some(file.clone())
        );
        assert_eq!(
            cache
                .watch_file_by_fingerprint(folder.id, "fp")
                .await
                .unwrap()
                .map(|f| f.rel_path),
            Some("sh010_v003.mov".into())
        );
        assert_eq!(cache.watch_folder(folder.id).await.unwrap().files_sent, 1);
        cache
            .set_watch_folder_enabled(folder.id, false)
            .await
            .unwrap();
        assert!(!cache.list_watch_folders().await.unwrap()[0].enabled);
        cache.remove_watch_folder(folder.id).await.unwrap();
        assert!(
            cache
                .watch_file(folder.id, "sh010_v003.mov")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn settings_round_trip() {
        let cache = cache_with_account().await;
        assert_eq!(cache.setting("upload").await.unwrap(), None);
        let value = serde_json::json!({"concurrency": 3});
        cache.set_setting("upload", &value).await.unwrap();
        assert_eq!(cache.setting("upload").await.unwrap(), Some(value));
    }
}
