//! The one error type that crosses IPC: `{ code, message }`.
//!
//! Below this boundary every crate has its own typed errors; here they are classified into an
//! [`ErrorCode`] the UI can switch on, and a message a person can read. Internals (SQL text, file
//! paths of the app's own data, tokens) are never put into `message`: they go to the log.

use serde::Serialize;

/// What went wrong, as the UI needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The thing asked for does not exist (an asset, a note, a player).
    NotFound,
    /// The request itself was wrong (a bad frame number, an empty note).
    InvalidInput,
    /// The platform could not be reached; the work is kept and retried.
    Offline,
    /// The platform refused for this user.
    Forbidden,
    /// The user must sign in again.
    LoginRequired,
    /// The platform cannot do this.
    Unsupported,
    /// Media could not be opened or decoded.
    MediaError,
    /// The local cache or disk failed.
    Storage,
    /// A bug: logged with details, shown briefly.
    Internal,
}

/// The error every command returns.
#[derive(Debug, Clone, Serialize, specta::Type, thiserror::Error)]
#[error("{message}")]
pub struct IpcError {
    /// Classification for the UI.
    pub code: ErrorCode,
    /// What a person reads.
    pub message: String,
}

impl IpcError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A bug or an unexpected failure: the details go to the log, the UI gets a short message.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "{context}");
        Self::new(ErrorCode::Internal, format!("{context} failed"))
    }
}

/// Result of every command.
pub type IpcResult<T> = Result<T, IpcError>;

impl From<framenote_connectors::ConnectorError> for IpcError {
    fn from(err: framenote_connectors::ConnectorError) -> Self {
        use framenote_connectors::ErrorKind as K;
        let code = match err.kind {
            K::Offline | K::Server | K::RateLimited => ErrorCode::Offline,
            K::Unauthorized | K::LoginRequired => ErrorCode::LoginRequired,
            K::Forbidden => ErrorCode::Forbidden,
            K::NotFound => ErrorCode::NotFound,
            K::Rejected => ErrorCode::InvalidInput,
            K::Unsupported => ErrorCode::Unsupported,
            K::BadResponse | K::Io => ErrorCode::Internal,
        };
        Self::new(code, err.message)
    }
}
