//! Connector errors, classified by what the caller should do about them: retry later, refresh
//! the session, ask the user to sign in again, or give up and keep the work visible.
//!
//! Every platform module and the shared HTTP helper (`http`) produce [`ConnectorError`]; the
//! outbox decides retry, backoff and "needs attention" from [`ErrorKind`] alone, so a platform's
//! quirks (Kitsu's 400 on a wrong password, iconik's 401 on an expired token) are translated here
//! once and never leak upwards. Messages are shown to people and written to logs: they must never
//! carry a token, a password or a signed URL's query string.

use std::time::Duration;

/// What kind of failure, which decides retry behaviour in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
            ErrorKind::Offline
                | ErrorKind::Server
                | ErrorKind::RateLimited
                | ErrorKind::Unauthorized
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
    pub retry_after: Option<Duration>,
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

    /// A rate-limit error carrying the delay the platform asked for.
    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            kind: ErrorKind::RateLimited,
            message: message.into(),
            retry_after,
        }
    }

    /// The platform's answer could not be understood.
    pub fn bad_response(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadResponse, message)
    }

    /// The platform (or this connector) cannot do this.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// A local file operation failed; `what` says which, for the person reading it.
    pub fn io(what: impl std::fmt::Display, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{what}: {err}"))
    }

    /// Whether this is of `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}
