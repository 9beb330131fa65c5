//! Sync errors: what the shell and the CLI must tell the user, classified so they can react
//! (sign in again, wait for another process, fix the input) without parsing messages.

use framenote_cache::CacheError;
use framenote_connectors::{ConnectorError, ErrorKind};

/// A failed sync-engine call.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The local database failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The platform failed (after the connector's own retries).
    #[error("{platform}: {source}")]
    Connector {
        /// Platform name, for the message.
        platform: &'static str,
        /// What the connector said.
        #[source]
        source: ConnectorError,
    },
    /// The account's session is gone or rejected: the user must sign in again. Work stays queued.
    #[error("sign-in required for account {account}: {message}")]
    LoginRequired {
        /// Which account.
        account: String,
        /// Why.
        message: String,
    },
    /// Secrets could not be read or written.
    #[error("secret storage: {0}")]
    Secrets(String),
    /// Another Framenote process is posting this data folder's outbox right now.
    #[error("another Framenote process is posting notes from {0}; try again when it finishes")]
    OutboxBusy(String),
    /// Another Framenote process runs this data folder's upload queue right now.
    #[error("another Framenote process is sending the uploads of {0}; they continue there")]
    QueueBusy(String),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The request itself is wrong (unknown platform, bad argument).
    #[error("{0}")]
    Invalid(String),
}

impl SyncError {
    pub(crate) fn connector(platform: framenote_core::Platform, source: ConnectorError) -> Self {
        SyncError::Connector {
            platform: platform.display_name(),
            source,
        }
    }
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        SyncError::Io {
            what: what.into(),
            source,
        }
    }
    /// The connector error kind, when this is a platform failure.
    pub fn connector_kind(&self) -> Option<ErrorKind> {
        match self {
            SyncError::Connector { source, .. } => Some(source.kind),
            _ => None,
        }
    }
}

/// Result of every sync-engine call.
pub type Result<T> = std::result::Result<T, SyncError>;
