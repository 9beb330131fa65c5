//! The durable outbox: every change a user makes to a platform, as rows that outlive crashes.
//!
//! Order is per asset: only the oldest unfinished operation of an asset is ever due
//! ([`Cache::due_ops`]), so a reply never overtakes its note and a status change never overtakes
//! the note it changes. A permanently failed operation stays at the head of its asset and holds
//! the ones behind it until the user retries or discards it; nothing is dropped.
//!
//! An attempt is recorded (`in_flight`, attempts + 1) and committed *before* the network call, so
//! after a crash the next attempt knows the platform may already have the note and checks before
//! posting again. Exclusive flushing across processes is the caller's job (framenote-sync holds an
//! OS file lock while it flushes); this module only keeps the rows consistent.

use framenote_core::{AccountId, NoteId, RemoteId};
use serde::{Deserialize, Serialize};

use crate::{Cache, CacheError, Result, now_millis, now_rfc3339};

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Post a new note (with its drawing).
    CreateNote,
    /// Post a reply to a posted note.
    Reply,
    /// Mark a posted note resolved or open.
    SetStatus,
    /// A kind written by a newer Framenote or another module (uploads): left for the code that
    /// knows it, never failed or dropped by the note flusher.
    Other(String),
}

impl OpKind {
    /// The stored key.
    pub fn key(&self) -> &str {
        match self {
            OpKind::CreateNote => "create_note",
            OpKind::Reply => "reply",
            OpKind::SetStatus => "set_status",
            OpKind::Other(key) => key,
        }
    }
    /// The inverse of [`OpKind::key`]; unknown keys become [`OpKind::Other`].
    pub fn from_key(key: &str) -> Self {
        match key {
            "create_note" => OpKind::CreateNote,
            "reply" => OpKind::Reply,
            "set_status" => OpKind::SetStatus,
            other => OpKind::Other(other.to_string()),
        }
    }
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    /// Waiting for its turn or its next attempt time.
    Queued,
    /// An attempt started and its outcome is not recorded (it may have reached the platform).
    InFlight,
    /// Done; kept as history.
    Done,
    /// Refused for good; kept visible with its error until retried or discarded.
    Failed,
    /// The user chose not to send it.
    Discarded,
}

impl OpState {
    /// The stored key.
    pub fn key(self) -> &'static str {
        match self {
            OpState::Queued => "queued",
            OpState::InFlight => "in_flight",
            OpState::Done => "done",
            OpState::Failed => "failed",
            OpState::Discarded => "discarded",
        }
    }
    pub(crate) fn from_key(key: &str) -> Result<Self> {
        Ok(match key {
            "queued" => OpState::Queued,
            "in_flight" => OpState::InFlight,
            "done" => OpState::Done,
            "failed" => OpState::Failed,
            "discarded" => OpState::Discarded,
            other => return Err(CacheError::corrupt("outbox state", other)),
        })
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxOp {
    /// Sequence number; lower ids of the same asset go first.
    pub id: i64,
    /// The account it posts to.
    pub account: AccountId,
    /// What it does.
    pub kind: OpKind,
    /// The note it concerns.
    pub note: Option<NoteId>,
    /// The asset whose queue it is in.
    pub asset: RemoteId,
    /// Kind-specific data (e.g. `{"status": "resolved"}`).
    pub payload: serde_json::Value,
    /// Where it stands.
    pub state: OpState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Not before this time (unix ms).
    pub next_attempt_at: i64,
    /// The last error, safe to show.
    pub last_error: Option<String>,
    /// The last error's class (connector `ErrorKind` name).
    pub error_kind: Option<String>,
    /// When it was queued.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// Counts for a status badge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxSummary {
    /// Waiting to be sent (including those behind a failure).
    pub queued: u64,
    /// Started, outcome unknown.
    pub in_flight: u64,
    /// Refused for good, waiting for the user.
    pub failed: u64,
    /// Sent.
    pub done: u64,
}

impl OutboxSummary {
    /// Operations that still need the platform.
    pub fn open(&self) -> u64 {
        self.queued + self.in_flight + self.failed
    }
}

#[derive(sqlx::FromRow)]
struct OpRow {
    id: i64,
    account_id: String,
    kind: String,
    note_id: Option<String>,
    asset_id: String,
    payload: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    error_kind: Option<String>,
    created_at: String,
    updated_at: String,
}

impl TryFrom<OpRow> for OutboxOp {
    type Error = CacheError;
    fn try_from(row: OpRow) -> Result<Self> {
        Ok(OutboxOp {
            id: row.id,
            account: AccountId(row.account_id),
            kind: OpKind::from_key(&row.kind),
            note: row.note_id.map(NoteId),
            asset: RemoteId(row.asset_id),
            payload: serde_json::from_str(&row.payload)
                .map_err(|e| CacheError::corrupt("outbox payload", e))?,
            state: OpState::from_key(&row.state)?,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            error_kind: row.error_kind,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

macro_rules! op_select {
    ($tail:literal) => {
        concat!(
            "SELECT o.id, o.account_id, o.kind, o.note_id, o.asset_id, o.payload, o.state, \
             o.attempts, o.next_attempt_at, o.last_error, o.error_kind, o.created_at, \
             o.updated_at FROM outbox AS o ",
            $tail
        )
    };
}

/// Queues an operation inside the caller's transaction (so it commits with the note it is about).
pub(crate) async fn insert_op(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account: &AccountId,
    kind: OpKind,
    note: Option<&NoteId>,
    asset: &str,
    payload: &str,
) -> Result<i64> {
    let now = now_rfc3339();
    let id = sqlx::query(
        "INSERT INTO outbox (account_id, kind, note_id, asset_id, payload, state, attempts, \
             next_attempt_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?7, ?7)",
    )
    .bind(&account.0)
    .bind(kind.key())
    .bind(note.map(|n| n.0.as_str()))
    .bind(asset)
    .bind(payload)
    .bind(now_millis())
    .bind(&now)
    .execute(&mut **tx)
    .await?
    .last_insert_rowid();
    Ok(id)
}

impl Cache {
    /// Queues an operation that concerns no note row (e.g. an upload), behind the asset's other
    /// work. Returns its id.
    pub async fn enqueue_op(
        &self,
        account: &AccountId,
        kind: OpKind,
        note: Option<&NoteId>,
        asset: &RemoteId,
        payload: &serde_json::Value,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id = insert_op(&mut tx, account, kind, note, &asset.0, &payload.to_string()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The operations that may run now: the head of each asset's queue, if it is queued or was
    /// interrupted in flight, and its next attempt time has come. Oldest first.
    pub async fn due_ops(&self, account: &AccountId, now_ms: i64) -> Result<Vec<OutboxOp>> {
        let rows: Vec<OpRow> = sqlx::query_as(op_select!(
            "WHERE o.account_id = ?1 AND o.state IN ('queued', 'in_flight') \
                 AND o.next_attempt_at <= ?2 \
                 AND o.id = (SELECT MIN(h.id) FROM outbox AS h WHERE h.account_id = o.account_id \
                     AND h.asset_id = o.asset_id AND h.state IN ('queued', 'in_flight', 'failed')) \
             ORDER BY o.id"
        ))
        .bind(&account.0)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// When the earliest waiting head of a queue becomes due (unix ms), if any is waiting.
    pub async fn next_due_at(&self, account: &AccountId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(o.next_attempt_at) FROM outbox AS o \
             WHERE o.account_id = ?1 AND o.state IN ('queued', 'in_flight') \
                 AND o.id = (SELECT MIN(h.id) FROM outbox AS h WHERE h.account_id = o.account_id \
                     AND h.asset_id = o.asset_id AND h.state IN ('queued', 'in_flight', 'failed'))",
        )
        .bind(&account.0)
        .fetch_one(&self.pool)
        .await?)
    }

    /// One operation.
    pub async fn op(&self, id: i64) -> Result<OutboxOp> {
        let row: Option<OpRow> = sqlx::query_as(op_select!("WHERE o.id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or_else(|| CacheError::not_found("outbox operation", id.to_string()))?
            .try_into()
    }

    /// Operations of an account, oldest first; finished ones (`done`, `discarded`) only if asked.
    pub async fn outbox_ops(&self, account: &AccountId, finished: bool) -> Result<Vec<OutboxOp>> {
        let rows: Vec<OpRow> = if finished {
            sqlx::query_as(op_select!("WHERE o.account_id = ?1 ORDER BY o.id"))
                .bind(&account.0)
                .fetch_all(&self.pool)
                .await?
        } else {
            sqlx::query_as(op_select!(
                "WHERE o.account_id = ?1 AND o.state IN ('queued', 'in_flight', 'failed') \
                 ORDER BY o.id"
            ))
            .bind(&account.0)
            .fetch_all(&self.pool)
            .await?
        };
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Operations about one note, oldest first.
    pub async fn ops_for_note(&self, note: &NoteId) -> Result<Vec<OutboxOp>> {
        let rows: Vec<OpRow> = sqlx::query_as(op_select!("WHERE o.note_id = ?1 ORDER BY o.id"))
            .bind(&note.0)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Counts per state, for one account or all.
    pub async fn outbox_summary(&self, account: Option<&AccountId>) -> Result<OutboxSummary> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox WHERE ?1 IS NULL OR account_id = ?1 GROUP BY state",
        )
        .bind(account.map(|a| a.0.as_str()))
        .fetch_all(&self.pool)
        .await?;
        let mut summary = OutboxSummary::default();
        for (state, count) in rows {
            let count = u64::try_from(count).unwrap_or(0);
            match OpState::from_key(&state)? {
                OpState::Queued => summary.queued = count,
                OpState::InFlight => summary.in_flight = count,
                OpState::Failed => summary.failed = count,
                OpState::Done => summary.done = count,
                OpState::Discarded => {}
            }
        }
        Ok(summary)
    }

    /// Records the start of an attempt, durably, before the network call. Returns the updated
    /// operation, or `None` if it is no longer runnable (finished or failed meanwhile).
    pub async fn begin_attempt(&self, id: i64) -> Result<Option<OutboxOp>> {
        let changed = sqlx::query(
            "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, updated_at = ?2 \
             WHERE id = ?1 AND state IN ('queued', 'in_flight')",
        )
        .bind(id)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        self.op(id).await.map(Some)
    }

    /// Marks an operation done (for operations whose effect needs no other bookkeeping; note
    /// creation is closed by [`Cache::link_posted_note`]).
    pub async fn complete_op(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let note: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE outbox SET state = 'done', last_error = NULL, error_kind = NULL, \
             updated_at = ?2 WHERE id = ?1 RETURNING note_id",
        )
        .bind(id)
        .bind(now_rfc3339())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(Some(note)) = note {
            clear_note_error_if_settled(&mut tx, &note).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Puts an operation back in the queue after a transient failure, not before `next_at_ms`.
    pub async fn reschedule_op(
        &self,
        id: i64,
        next_at_ms: i64,
        error: &str,
        error_kind: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, last_error = ?3, \
             error_kind = ?4, updated_at = ?5 WHERE id = ?1 AND state IN ('queued', 'in_flight')",
        )
        .bind(id)
        .bind(next_at_ms)
        .bind(error)
        .bind(error_kind)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a permanent failure: the operation stays at the head of its asset's queue, visible,
    /// and the note shows the error with its text intact.
    pub async fn fail_op(&self, id: i64, error: &str, error_kind: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "UPDATE outbox SET state = 'failed', last_error = ?2, error_kind = ?3, updated_at = ?4 \
             WHERE id = ?1 AND state IN ('queued', 'in_flight') RETURNING kind, note_id",
        )
        .bind(id)
        .bind(error)
        .bind(error_kind)
        .bind(now_rfc3339())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((kind, Some(note))) = row {
            let creates = matches!(OpKind::from_key(&kind), OpKind::CreateNote | OpKind::Reply);
            sqlx::query(
                "UPDATE notes SET last_error = ?2, \
                 sync_state = CASE WHEN ?3 THEN 'failed' ELSE sync_state END WHERE id = ?1",
            )
            .bind(&note)
            .bind(error)
            .bind(creates)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Puts a failed (or waiting) operation back in the queue to be tried now.
    pub async fn retry_op(&self, id: i64) -> Result<OutboxOp> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, updated_at = ?3 \
             WHERE id = ?1 AND state IN ('failed', 'queued') RETURNING kind, note_id",
        )
        .bind(id)
        .bind(now_millis())
        .bind(now_rfc3339())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((kind, note)) = row else {
            return Err(CacheError::Invalid(format!(
                "outbox operation {id} is not waiting or failed"
            )));
        };
        if let Some(note) = note {
            let creates = matches!(OpKind::from_key(&kind), OpKind::CreateNote | OpKind::Reply);
            sqlx::query(
                "UPDATE notes SET last_error = NULL, \
                 sync_state = CASE WHEN ?2 AND sync_state IN ('failed', 'discarded') \
                     THEN 'pending' ELSE sync_state END WHERE id = ?1",
            )
            .bind(&note)
            .bind(creates)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.op(id).await
    }

    /// Retries every failed operation of an account. Returns how many.
    pub async fn retry_failed_ops(&self, account: &AccountId) -> Result<u64> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM outbox WHERE account_id = ?1 AND state = 'failed' ORDER BY id",
        )
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        for id in &ids {
            self.retry_op(*id).await?;
        }
        Ok(ids.len() as u64)
    }

    /// The user gives up on an operation. Discarding a note's creation also discards the
    /// operations queued behind it for the same note (they cannot succeed without it); the note
    /// itself is kept, marked discarded, with its text.
    pub async fn discard_op(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "UPDATE outbox SET state = 'discarded', updated_at = ?2 \
             WHERE id = ?1 AND state IN ('queued', 'in_flight', 'failed') RETURNING kind, note_id",
        )
        .bind(id)
        .bind(now_rfc3339())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((kind, note)) = row else {
            return Err(CacheError::Invalid(format!(
                "outbox operation {id} is already finished"
            )));
        };
        if let Some(note) = note {
            if matches!(OpKind::from_key(&kind), OpKind::CreateNote | OpKind::Reply) {
                sqlx::query(
                    "UPDATE outbox SET state = 'discarded', updated_at = ?2 \
                     WHERE note_id = ?1 AND state IN ('queued', 'in_flight', 'failed')",
                )
                .bind(&note)
                .bind(now_rfc3339())
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE notes SET sync_state = 'discarded' WHERE id = ?1 AND remote_id IS NULL",
                )
                .bind(&note)
                .execute(&mut *tx)
                .await?;
            }
            clear_note_error_if_settled(&mut tx, &note).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A note shows an error only while one of its operations is failed.
async fn clear_note_error_if_settled(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    note: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE notes SET last_error = NULL WHERE id = ?1 AND NOT EXISTS \
         (SELECT 1 FROM outbox WHERE note_id = ?1 AND state = 'failed')",
    )
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
