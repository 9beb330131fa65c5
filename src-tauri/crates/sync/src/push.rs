//! Flushing the outbox: posting notes, replies and status changes in order per asset, exactly
//! once.
//!
//! Exactly once, across crashes: an attempt is recorded in SQLite before the network call, so an
//! operation found `in_flight` (or with earlier attempts) may already be on the platform. Before
//! posting it again the flusher lists the version's notes and looks for its client id; if found it
//! only records the link. Connectors also embed the client id (Kitsu: a hidden marker) and check
//! themselves — two independent guards.
//!
//! Failures: transient ones (offline, 5xx, 429, timeouts) are rescheduled with exponential backoff
//! and full jitter, honouring `Retry-After`; an expired token is refreshed once; a rejected session
//! stops the flush with [`SyncError::LoginRequired`] and leaves everything queued; anything else
//! (403, 404, 400) fails the operation permanently, visible with its note's text intact, until the
//! user retries or discards it. Only one process flushes a data folder at a time (an OS file lock,
//! released by the kernel even on `kill -9`).

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use framenote_cache::{NoteRecord, OpKind, OpState, OutboxOp, now_millis};
use framenote_connectors::{Connector, ConnectorError, ErrorKind, NewNote, RemoteNote};
use framenote_core::{AccountId, NoteStatus, RemoteId, Version};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::engine::SyncEngine;
use crate::events::SyncEvent;
use crate::{Result, SyncError};

/// The lock file that makes one process at a time flush a data folder's outbox.
const LOCK_FILE: &str = "outbox.lock";

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushReport {
    /// Operations completed (including posts recognised after a lost answer).
    pub sent: u64,
    /// Of which were recognised on the platform instead of posted again.
    pub recognised: u64,
    /// Operations that failed for good in this push.
    pub failed: u64,
    /// Transient failures rescheduled.
    pub retried: u64,
    /// Operations still waiting (queued or behind a failure) when the push returned.
    pub waiting: u64,
    /// Operations failed and waiting for the user.
    pub failed_total: u64,
}

/// How an attempt ended.
enum Outcome {
    Done { recognised: bool },
    Retry { error: ConnectorError },
    Fail { message: String, kind: &'static str },
}

impl SyncEngine {
    /// Flushes the account's outbox once: every operation that is due is attempted; transient
    /// failures are rescheduled. See [`SyncEngine::push_until_settled`] to also wait for retries.
    pub async fn push(
        &self,
        account: &AccountId,
        cancel: &CancellationToken,
    ) -> Result<PushReport> {
        self.push_until_settled(account, Duration::ZERO, cancel)
            .await
    }

    /// Flushes the outbox and keeps retrying transient failures until nothing is due any more or
    /// `max_wait` has passed (waiting for scheduled retries in between).
    pub async fn push_until_settled(
        &self,
        account: &AccountId,
        max_wait: Duration,
        cancel: &CancellationToken,
    ) -> Result<PushReport> {
        let _lock = self.lock_outbox()?;
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut report = PushReport::default();
        // Nothing to do: no connector (and no session) needed.
        if self.cache.outbox_summary(Some(account)).await?.open() > 0 {
            let connector = self.connector(account).await?;
            let result = self
                .flush_loop(account, connector.clone(), deadline, cancel, &mut report)
                .await;
            self.persist_session(account, connector.as_ref()).await?;
            result?;
        }
        let summary = self.cache.outbox_summary(Some(account)).await?;
        report.waiting = summary.queued + summary.in_flight;
        report.failed_total = summary.failed;
        Ok(report)
    }

    async fn flush_loop(
        &self,
        account: &AccountId,
        connector: Arc<dyn Connector>,
        deadline: tokio::time::Instant,
        cancel: &CancellationToken,
        report: &mut PushReport,
    ) -> Result<()> {
        loop {
            let due_all = self.cache.due_ops(account, now_millis()).await?;
            let only_foreign = !due_all.is_empty();
            let due: Vec<OutboxOp> = due_all
                .into_iter()
                .filter(|op| !matches!(op.kind, OpKind::Other(_)))
                .collect();
            if due.is_empty() {
                // What is due belongs to another module (uploads): not ours to run.
                if only_foreign {
                    return Ok(());
                }
                let Some(next) = self.cache.next_due_at(account).await? else {
                    return Ok(());
                };
                let wait = Duration::from_millis(u64::try_from(next - now_millis()).unwrap_or(0));
                if tokio::time::Instant::now() + wait > deadline {
                    return Ok(());
                }
                tokio::select! {
                    () = cancel.cancelled() => return Err(SyncError::Cancelled),
                    () = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            for op in due {
                if cancel.is_cancelled() {
                    return Err(SyncError::Cancelled);
                }
                self.run_one(account, connector.as_ref(), op, report)
                    .await?;
            }
        }
    }

    async fn run_one(
        &self,
        account: &AccountId,
        connector: &dyn Connector,
        op: OutboxOp,
        report: &mut PushReport,
    ) -> Result<()> {
        // Durably "started" before any byte leaves: a crash from here on is seen as in flight.
        let Some(op) = self.cache.begin_attempt(op.id).await? else {
            return Ok(());
        };
        self.emit_op(account, &op, OpState::InFlight, None);
        let mut outcome = self.attempt(account, connector, &op).await?;
        if let Outcome::Retry { error } = &outcome
            && error.kind == ErrorKind::Unauthorized
        {
            // The connector could not refresh by itself; one explicit refresh, then once more.
            self.refresh_session(account, connector).await?;
            outcome = self.attempt(account, connector, &op).await?;
        }
        match outcome {
            Outcome::Done { recognised } => {
                report.sent += 1;
                report.recognised += u64::from(recognised);
                self.emit_op(account, &op, OpState::Done, None);
            }
            Outcome::Retry { error } => {
                if error.kind == ErrorKind::LoginRequired {
                    // Not the operation's fault: back in the queue, untouched, and stop.
                    self.cache
                        .reschedule_op(op.id, now_millis(), &error.message, "login_required")
                        .await?;
                    return Err(self.classify(account, connector.platform(), error));
                }
                let delay = self.retry_delay(op.attempts, error.retry_after);
                let at = now_millis() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                self.cache
                    .reschedule_op(op.id, at, &error.message, kind_name(error.kind))
                    .await?;
                report.retried += 1;
                tracing::info!(op = op.id, attempts = op.attempts, ?delay, error = %error.message, "outbox: will retry");
                self.emit_op(account, &op, OpState::Queued, Some(error.message));
            }
            Outcome::Fail { message, kind } => {
                self.cache.fail_op(op.id, &message, kind).await?;
                report.failed += 1;
                tracing::warn!(op = op.id, error = %message, "outbox: failed; kept for retry or discard");
                self.emit_op(account, &op, OpState::Failed, Some(message));
            }
        }
        Ok(())
    }

    /// Exponential backoff with full jitter: a random delay in [base·2^(n-1)/2, base·2^(n-1)],
    /// capped; a platform's `Retry-After` is a floor.
    fn retry_delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        let ceiling = self
            .config
            .retry_base
            .saturating_mul(1u32 << exp)
            .min(self.config.retry_max);
        let half = ceiling / 2;
        let jitter = Duration::from_millis(fastrand::u64(
            0..=u64::try_from(half.as_millis()).unwrap_or(0),
        ));
        let delay = half + jitter;
        match retry_after {
            Some(floor) => delay.max(floor),
            None => delay,
        }
    }

    async fn attempt(
        &self,
        account: &AccountId,
        connector: &dyn Connector,
        op: &OutboxOp,
    ) -> Result<Outcome> {
        let work = async {
            match op.kind {
                OpKind::CreateNote | OpKind::Reply => self.post_note(account, connector, op).await,
                OpKind::SetStatus => self.post_status(account, connector, op).await,
                OpKind::Other(_) => Ok(Outcome::Done { recognised: false }),
            }
        };
        match tokio::time::timeout(self.config.op_timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Ok(Outcome::Retry {
                error: ConnectorError::new(
                    ErrorKind::Offline,
                    format!("no answer within {} s", self.config.op_timeout.as_secs()),
                ),
            }),
        }
    }

    async fn post_note(
        &self,
        account: &AccountId,
        connector: &dyn Connector,
        op: &OutboxOp,
    ) -> Result<Outcome> {
        let Some(note_id) = &op.note else {
            return Ok(fail("the operation names no note", "invalid"));
        };
        let note = match self.cache.note(note_id).await {
            Ok(note) => note,
            Err(framenote_cache::CacheError::NotFound { .. }) => {
                return Ok(fail(
                    "the note is no longer in the local database",
                    "invalid",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if note.note.remote_id.is_some() {
            // Linked meanwhile (a pull recognised it): nothing left to send.
            self.cache.complete_op(op.id).await?;
            return Ok(Outcome::Done { recognised: true });
        }
        let version = match self.cache.version(account, &note.note.version).await {
            Ok(v) => v.version,
            Err(framenote_cache::CacheError::NotFound { .. }) => {
                return Ok(fail(
                    "the version this note is about is no longer listed",
                    "not_found",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        // Any earlier attempt may have reached the platform: look before posting again.
        if op.attempts > 1 {
            match connector.list_notes(&version).await {
                Ok(remote) => {
                    if let Some(found) = self.find_our_note(account, &note, &remote).await? {
                        self.ensure_drawing(connector, &version, &note, &found)
                            .await;
                        self.cache
                            .link_posted_note(account, &note.note.id, &found.id)
                            .await?;
                        self.cache
                            .invalidate_asset_notes(account, &note.asset)
                            .await?;
                        return Ok(Outcome::Done { recognised: true });
                    }
                }
                Err(e) => return Ok(classify_outcome(e)),
            }
        }
        let parent = match &note.note.parent {
            None => None,
            Some(parent) => match self.cache.note(parent).await?.note.remote_id {
                Some(remote) => Some(remote),
                None => {
                    return Ok(fail(
                        "the note this replies to was never posted (discarded or failed)",
                        "invalid",
                    ));
                }
            },
        };
        let platform_status = op
            .payload
            .get("platform_status")
            .and_then(|s| s.as_str())
            .map(str::to_string);
        let request = NewNote {
            client_id: note.note.id.0.clone(),
            version: version.clone(),
            parent,
            text: note.note.text.clone(),
            frames: note.note.frames,
            drawing: note.note.drawing.clone(),
            status: platform_status,
        };
        match connector.create_note(&request).await {
            Ok(posted) => {
                self.cache
                    .link_posted_note(account, &note.note.id, &posted.id)
                    .await?;
                self.cache
                    .invalidate_asset_notes(account, &note.asset)
                    .await?;
                Ok(Outcome::Done { recognised: false })
            }
            Err(e) => Ok(classify_outcome(e)),
        }
    }

    /// Our note among the platform's: by client id; or, when the platform keeps no client ids, by
    /// identical text and frames among notes this account has not linked to another local note.
    async fn find_our_note(
        &self,
        account: &AccountId,
        note: &NoteRecord,
        remote: &[RemoteNote],
    ) -> Result<Option<RemoteNote>> {
        if let Some(found) = remote
            .iter()
            .find(|r| r.client_id.as_deref() == Some(note.note.id.0.as_str()))
        {
            return Ok(Some(found.clone()));
        }
        if remote.iter().any(|r| r.client_id.is_some()) {
            return Ok(None);
        }
        let known = self
            .cache
            .known_remote_note_ids(account, &note.note.version)
            .await?;
        Ok(remote
            .iter()
            .find(|r| {
                !known.contains(r.id.as_str())
                    && r.text.trim() == note.note.text.trim()
                    && r.frames == note.note.frames
            })
            .cloned())
    }

    /// A recognised post may have lost its drawing (the comment went through, the drawing call
    /// did not). Write it again; drawings are idempotent by shape id. Best effort: the note is
    /// posted either way, and a failure is logged for the next sync to show.
    async fn ensure_drawing(
        &self,
        connector: &dyn Connector,
        version: &Version,
        note: &NoteRecord,
        found: &RemoteNote,
    ) {
        let (Some(drawing), Some(frames)) = (&note.note.drawing, note.note.frames) else {
            return;
        };
        if found.drawing.is_some() || !connector.capabilities().drawings {
            return;
        }
        if let Err(e) = connector
            .write_drawing(version, frames, drawing, Some(&note.note.id.0))
            .await
        {
            tracing::warn!(note = %note.note.id.0, error = %e, "re-writing the drawing of a recognised note failed");
        }
    }

    async fn post_status(
        &self,
        account: &AccountId,
        connector: &dyn Connector,
        op: &OutboxOp,
    ) -> Result<Outcome> {
        let Some(note_id) = &op.note else {
            return Ok(fail("the operation names no note", "invalid"));
        };
        let status: NoteStatus = match op
            .payload
            .get("status")
            .cloned()
            .map(serde_json::from_value)
        {
            Some(Ok(status)) => status,
            _ => return Ok(fail("the status change is unreadable", "invalid")),
        };
        let note = self.cache.note(note_id).await?;
        let Some(remote) = note.note.remote_id.clone() else {
            return Ok(fail(
                "the note was never posted, so its status cannot change there",
                "invalid",
            ));
        };
        let version = match self.cache.version(account, &note.note.version).await {
            Ok(v) => v.version,
            Err(framenote_cache::CacheError::NotFound { .. }) => {
                return Ok(fail(
                    "the version this note is about is no longer listed",
                    "not_found",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        match connector
            .set_note_status(&version, &RemoteId(remote.0), status)
            .await
        {
            Ok(()) => {
                self.cache.complete_op(op.id).await?;
                self.cache
                    .invalidate_asset_notes(account, &note.asset)
                    .await?;
                Ok(Outcome::Done { recognised: false })
            }
            Err(e) => Ok(classify_outcome(e)),
        }
    }

    fn emit_op(&self, account: &AccountId, op: &OutboxOp, state: OpState, error: Option<String>) {
        self.emit(SyncEvent::Outbox {
            account: account.clone(),
            op: op.id,
            note: op.note.clone(),
            state,
            error,
        });
    }

    /// Takes the data folder's outbox lock, or says another process holds it.
    fn lock_outbox(&self) -> Result<File> {
        self.lock_data_folder(LOCK_FILE, SyncError::OutboxBusy)
    }
}

fn fail(message: &str, kind: &'static str) -> Outcome {
    Outcome::Fail {
        message: message.to_string(),
        kind,
    }
}

/// Transient (and sign-in) errors are retried; the rest fail the operation for good.
fn classify_outcome(error: ConnectorError) -> Outcome {
    if error.kind.is_transient() || error.kind == ErrorKind::LoginRequired {
        Outcome::Retry { error }
    } else {
        Outcome::Fail {
            kind: kind_name(error.kind),
            message: error.message,
        }
    }
}

/// Stable names for error kinds, as stored with an operation.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Offline => "offline",
        ErrorKind::Server => "server",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Unauthorized => "unauthorized",
        ErrorKind::LoginRequired => "login_required",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::NotFound => "not_found",
        ErrorKind::BadResponse => "bad_response",
        ErrorKind::Rejected => "rejected",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Io => "io",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{SecretPreference, SyncConfig, SyncEngine, standard_factory};

    async fn engine(dir: &std::path::Path) -> SyncEngine {
        let probe: framenote_connectors::local::Probe =
            std::sync::Arc::new(|_: &std::path::Path| Err("unused".to_string()));
        let config = SyncConfig {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            secrets: SecretPreference::File,
            ..SyncConfig::default()
        };
        SyncEngine::open(dir, standard_factory(probe), config)
            .await
            .expect("engine")
    }

    #[tokio::test]
    async fn backoff_doubles_with_jitter_is_capped_and_honours_retry_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path()).await;
        for attempt in 1..=10u32 {
            let ceiling =
                Duration::from_secs(2 * (1u64 << (attempt - 1))).min(Duration::from_secs(60));
            for _ in 0..50 {
                let delay = engine.retry_delay(attempt, None);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "attempt {attempt}: {delay:?}"
                );
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| engine.retry_delay(4, None)).collect();
        assert!(spread.len() > 1, "jitter spreads retries of many clients");
        assert!(
            engine.retry_delay(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30),
            "a platform's Retry-After is a floor"
        );
    }

    #[tokio::test]
    async fn only_one_process_flushes_a_data_folder_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = engine(dir.path()).await;
        let second = engine(dir.path()).await;
        let held = first.lock_outbox().expect("first lock");
        assert!(matches!(
            second.lock_outbox(),
            Err(crate::SyncError::OutboxBusy(_))
        ));
        drop(held);
        assert!(
            second.lock_outbox().is_ok(),
            "released with the file handle (and by the kernel on kill -9)"
        );
    }
}
