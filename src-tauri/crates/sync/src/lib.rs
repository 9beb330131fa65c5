//! Framenote's sync engine: it moves data between the platforms (`framenote-connectors`) and the
//! local cache (`framenote-cache`), and it is the only crate that does.
//!
//! * [`SyncEngine`] (`engine.rs`): one per data folder — accounts, connectors with their sessions,
//!   progress events.
//! * Secrets (`secrets.rs`): sessions in the OS keyring, or an explicit 0600 fallback file.
//! * Pull (`pull.rs`): browse tree, assets, versions and notes, incremental where possible.
//! * Push (`push.rs`): the durable outbox, flushed in order per asset, exactly once.
//! * Offline (`offline.rs`): pinned proxies downloaded with resume, verified, evicted, budgeted.
//! * Live (`live.rs`): the platform's change events turned into targeted incremental pulls.
//!
//! * Uploads (`upload.rs`): drop plans and the resumable transfer queue.
//! * Watch folders (`watch.rs`): new files in local folders queued as uploads once complete.

mod directory;
mod engine;
mod error;
mod events;
mod export;
mod live;
mod offline;
mod pull;
mod push;
mod secrets;
mod upload;
mod watch;

pub use engine::{
    ConnectorFactory, DATABASE_FILE, SyncConfig, SyncEngine, safe_file_name, standard_factory,
};
pub use error::{Result, SyncError};
pub use events::{PullPhase, SyncEvent};
pub use export::NotesCsv;
pub use live::LiveOutcome;
pub use offline::OfflineReport;
pub use pull::{PullOptions, PullReport};
pub use push::{PushReport, kind_name};
pub use secrets::{SecretPreference, SecretStore, SecretsStatus};
pub use upload::{PlannedFile, TransferQueue, TransferUpdate, UploadPlan, UploadSettings};
pub use watch::{WatchOptions, WatchService};

use framenote_core::AccountId;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// What a full "sync now" did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    /// The outbox flush (first, so the pull sees our own notes as posted).
    pub push: PushReport,
    /// The metadata pull.
    pub pull: PullReport,
    /// Offline copies.
    pub offline: OfflineReport,
}

impl SyncEngine {
    /// "Sync now" for one account: flush the outbox, pull, then bring offline copies up to date.
    /// The outcome is recorded on the account and announced with [`SyncEvent::Finished`].
    pub async fn sync_account(
        &self,
        account: &AccountId,
        options: PullOptions,
        cancel: &CancellationToken,
    ) -> Result<SyncReport> {
        let result = async {
            let push = match self.push(account, cancel).await {
                Ok(report) => report,
                // Another process is posting: the pull can still run.
                Err(SyncError::OutboxBusy(_)) => PushReport::default(),
                Err(e) => return Err(e),
            };
            let pull = self.pull(account, options, cancel).await?;
            let offline = self.sync_offline(account, cancel).await?;
            Ok(SyncReport {
                push,
                pull,
                offline,
            })
        }
        .await;
        let error = result.as_ref().err().map(ToString::to_string);
        self.cache
            .record_sync_result(account, error.as_deref())
            .await?;
        self.emit(SyncEvent::Finished {
            account: account.clone(),
            error,
        });
        result
    }
}

/// A fresh cancellation token (re-exported so callers need not depend on tokio-util).
pub fn cancellation() -> CancellationToken {
    CancellationToken::new()
}
pub use tokio_util::sync::CancellationToken as Cancellation;
