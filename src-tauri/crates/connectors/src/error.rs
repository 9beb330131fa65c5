//! Connector errors, classified by what the caller should do about them: retry later, refresh
//! the session, ask the user to sign in again, or give up and keep the work visible.

/// What kind of failure, which decides retry behaviour in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection, DNS failure, timeout: retry with backoff.
    Offline,
    /// 5xx: retry with backoff.
    Server,
    /// 429 or the platform's rate code: retry after the given delay.
    RateLimited,
    /// Access token expired: refresh, then retry.
    Unauthorized,
    /// Credentials rejected or refresh failed: the user must sign in again.
    LoginRequired,
    /// Not allowed for this user (403): permanent, kept visible.
    Forbidden,
    /// The target no longer exists (404): permanent, kept visible.
    NotFound,
    /// The platform answered something we could not understand: permanent.
    BadResponse,
    /// The request was wrong (400/422): permanent.
    Rejected,
    /// The platform cannot do this at all.
    Unsupported,
    /// A local file could not be read or written.
    Io,
}

impl ErrorKind {
    /// Whether trying again later may succeed without anyone doing anything.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Offline | ErrorKind::Server | ErrorKind::RateLimited | ErrorKind::Unauthorized
        )
    }
}

/// A failed connector call.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    /// Classification.
    pub kind: ErrorKind,
    /// Human-readable, safe to show and log (never contains a secret).
    pub message: String,
    /// For rate limits: how long the platform asked us to wait.
    pub retry_after: Option<std::time::Duration>,
}

impl ConnectorError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
}
