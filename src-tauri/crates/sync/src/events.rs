//! Progress events: what the engine is doing, as small messages the shell forwards to the UI and
//! the CLI prints. Sent on a broadcast channel: a slow listener misses intermediate progress, never
//! blocks a sync.

use framenote_cache::{MediaState, OpState};
use framenote_core::{AccountId, NoteId, RemoteId};
use serde::Serialize;

/// One progress message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncEvent {
    /// Metadata pull progress (running totals for this pull).
    Pull {
        /// Account.
        account: AccountId,
        /// What is being fetched.
        phase: PullPhase,
        /// Nodes listed so far.
        nodes: u64,
        /// Assets listed so far.
        assets: u64,
        /// Versions whose notes were fetched so far.
        versions: u64,
        /// Notes received so far.
        notes: u64,
    },
    /// An offline download moved.
    Download {
        /// Account.
        account: AccountId,
        /// The version being downloaded.
        version: RemoteId,
        /// Bytes on disk.
        bytes: u64,
        /// Expected size, when known.
        total: Option<u64>,
        /// State after this step.
        state: MediaState,
    },
    /// An outbox operation moved.
    Outbox {
        /// Account.
        account: AccountId,
        /// The operation.
        op: i64,
        /// The note it concerns.
        note: Option<NoteId>,
        /// State after this step.
        state: OpState,
        /// The error, when it failed or will be retried.
        error: Option<String>,
    },
    /// The account needs a new sign-in; its work stays queued.
    LoginRequired {
        /// Account.
        account: AccountId,
        /// Why.
        message: String,
    },
    /// An upload moved (state or progress); carries the whole record.
    Transfer(Box<crate::upload::TransferUpdate>),
    /// A watch folder changed (a file queued from it, a problem found or gone).
    WatchFolder {
        /// The watch folder.
        id: i64,
    },
    /// A sync of the account finished.
    Finished {
        /// Account.
        account: AccountId,
        /// The error, if it failed.
        error: Option<String>,
    },
}

/// Phases of a metadata pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPhase {
    /// Walking the browse tree.
    Tree,
    /// Listing assets and versions.
    Assets,
    /// Fetching notes.
    Notes,
    /// Done.
    Done,
}
