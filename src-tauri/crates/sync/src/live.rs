//! Following a platform's live change events (Kitsu's socket.io feed): each burst of events marks
//! what changed in the cache and runs an incremental pull, so a note or a drawing made elsewhere
//! shows up without anyone pressing "sync".
//!
//! Events carry ids only and may repeat; they are treated as hints. Notes and drawings do not
//! always change an asset's own facts, so the events name the assets whose notes must be fetched
//! again. Platforms without a push channel say so ([`LiveOutcome::Unsupported`]) and the caller
//! polls with [`SyncEngine::pull`] instead.

use std::time::Duration;

use framenote_connectors::{ErrorKind, RemoteEvent};
use framenote_core::AccountId;
use tokio_util::sync::CancellationToken;

use crate::engine::SyncEngine;
use crate::pull::PullOptions;
use crate::{Result, SyncError};

/// Events arriving within this window are handled together.
const DEBOUNCE: Duration = Duration::from_millis(400);

/// Why following stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveOutcome {
    /// The caller cancelled.
    Cancelled,
    /// The platform pushes no events: poll instead.
    Unsupported,
    /// The platform closed the feed (the connector reconnects by itself while it can).
    Ended,
}

impl SyncEngine {
    /// Follows the account's live events until `cancel` fires or the feed ends. Pull failures
    /// are logged and the next burst tries again; a sign-in problem ends following with
    /// [`SyncError::LoginRequired`].
    pub async fn follow_live(
        &self,
        account: &AccountId,
        cancel: &CancellationToken,
    ) -> Result<LiveOutcome> {
        let connector = self.connector(account).await?;
        let mut subscription = match connector.subscribe().await {
            Ok(subscription) => subscription,
            Err(e) if e.kind == ErrorKind::Unsupported => return Ok(LiveOutcome::Unsupported),
            Err(e) => return Err(self.classify(account, connector.platform(), e)),
        };
        loop {
            let first = tokio::select! {
                () = cancel.cancelled() => return Ok(LiveOutcome::Cancelled),
                event = subscription.events.recv() => event,
            };
            let Some(first) = first else {
                return Ok(LiveOutcome::Ended);
            };
            let mut burst = vec![first];
            let window = tokio::time::sleep(DEBOUNCE);
            tokio::pin!(window);
            loop {
                tokio::select! {
                    () = &mut window => break,
                    event = subscription.events.recv() => match event {
                        Some(event) => burst.push(event),
                        None => break,
                    },
                }
            }
            self.mark_changed(account, &burst).await?;
            match self.pull(account, PullOptions::default(), cancel).await {
                Ok(_) => {}
                Err(SyncError::Cancelled) => return Ok(LiveOutcome::Cancelled),
                Err(e @ SyncError::LoginRequired { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "pull after live events failed; next burst retries")
                }
            }
        }
    }

    /// Marks the assets named by events as needing their notes fetched again.
    async fn mark_changed(&self, account: &AccountId, events: &[RemoteEvent]) -> Result<()> {
        for event in events {
            match event {
                RemoteEvent::NotesChanged { asset } => {
                    self.cache.invalidate_asset_notes(account, asset).await?;
                }
                RemoteEvent::DrawingsChanged { version } => {
                    if let Ok(record) = self.cache.version(account, version).await {
                        self.cache
                            .invalidate_asset_notes(account, &record.version.asset)
                            .await?;
                    }
                }
                // Missed events: every asset's notes may be stale.
                RemoteEvent::Resync => self.cache.invalidate_all_notes(account).await?,
                RemoteEvent::AssetsChanged { .. } | RemoteEvent::Other { .. } => {}
            }
        }
        Ok(())
    }
}
