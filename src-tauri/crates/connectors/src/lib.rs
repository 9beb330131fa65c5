//! The platforms, behind one trait.
//!
//! [`Connector`] is the whole contract between Framenote and a media platform: authenticate, browse,
//! list versions with their media facts, fetch proxies, read and write notes and drawings, upload.
//! Each platform is one module here that maps its JSON to `framenote-core` types with pure
//! functions (tested on fixtures) and speaks HTTP with reqwest. This crate is the only one that
//! talks to platforms; it keeps no state on disk (the cache and the outbox belong to `sync`).

pub mod error;
pub mod local;

pub use error::{ConnectorError, ErrorKind};

use async_trait::async_trait;
use framenote_core::{
    Asset, Capabilities, Drawing, FrameSpan, Node, NoteStatus, Platform, RemoteId, Version,
};
use serde::{Deserialize, Serialize};

/// Result of every connector call.
pub type Result<T> = std::result::Result<T, ConnectorError>;

/// What a user types to sign in. Passed through, never stored by a connector.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// E-mail or user name and password.
    Password {
        /// Login name.
        user: String,
        /// Password.
        password: String,
    },
    /// A long-lived API key or token issued by the platform.
    ApiKey {
        /// Key id where the platform uses one (iconik App-ID).
        id: Option<String>,
        /// The secret.
        secret: String,
    },
    /// Nothing (the local library).
    None,
}

/// Tokens a connector needs to keep working. Stored in the OS keyring by `sync`, never in SQLite.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    /// Short-lived access token.
    pub access_token: Option<String>,
    /// Refresh token, when the platform issues one.
    pub refresh_token: Option<String>,
    /// Who signed in, as the platform names them.
    pub user_name: Option<String>,
    /// The platform's id for that user.
    pub user_id: Option<String>,
}

/// Where the bytes of a version's proxy are.
#[derive(Debug, Clone)]
pub enum MediaSource {
    /// A file on this machine (the local library).
    File(std::path::PathBuf),
    /// An HTTP(S) URL with the headers a GET needs. Signed URLs expire: ask again, never keep.
    Http {
        /// The URL.
        url: String,
        /// Headers to send (auth).
        headers: Vec<(String, String)>,
        /// Size in bytes, when the platform says.
        bytes: Option<u64>,
    },
}

/// A note as a platform returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteNote {
    /// The platform's id.
    pub id: RemoteId,
    /// The version it is about.
    pub version: RemoteId,
    /// The platform's id of the note it answers.
    pub parent: Option<RemoteId>,
    /// Author as the platform names them.
    pub author: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Plain text.
    pub text: String,
    /// Frames, converted from the platform's time unit.
    pub frames: Option<FrameSpan>,
    /// Open or resolved.
    pub status: NoteStatus,
    /// Drawing, converted to the canonical model.
    pub drawing: Option<Drawing>,
    /// The client id Framenote sent when it created this note, if the platform kept it; used to
    /// recognise our own notes after a crash between "posted" and "recorded as posted".
    pub client_id: Option<String>,
}

/// A note to create.
#[derive(Debug, Clone)]
pub struct NewNote {
    /// Framenote's id; connectors embed it where the platform allows so that a retry after a
    /// lost response can be recognised instead of duplicated.
    pub client_id: String,
    /// The version.
    pub version: Version,
    /// The platform's id of the note answered, for replies.
    pub parent: Option<RemoteId>,
    /// Plain text.
    pub text: String,
    /// Frames.
    pub frames: Option<FrameSpan>,
    /// Drawing on those frames.
    pub drawing: Option<Drawing>,
    /// A status to set with the note, where the platform supports it.
    pub status: Option<String>,
}

/// A file to upload, and where to.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    /// The local file.
    pub path: std::path::PathBuf,
    /// The node (folder, task, collection) it goes to.
    pub destination: RemoteId,
    /// Name on the platform.
    pub name: String,
    /// A comment sent with it where the platform takes one (Kitsu).
    pub comment: Option<String>,
}

/// One platform.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Which platform this is.
    fn platform(&self) -> Platform;
    /// What it can do; the UI hides the rest.
    fn capabilities(&self) -> Capabilities;

    /// Signs in and returns the tokens to keep.
    async fn authenticate(&self, credentials: &Credentials) -> Result<Session>;
    /// Makes the session usable again after an access token expired.
    async fn refresh(&self, session: &Session) -> Result<Session>;

    /// Children of `parent` in the browse tree (roots when `None`).
    async fn list_nodes(&self, parent: Option<&RemoteId>) -> Result<Vec<Node>>;
    /// Reviewable assets in a node, with their versions and media facts.
    async fn list_assets(&self, node: &RemoteId) -> Result<Vec<Asset>>;
    /// Where to read a version's proxy from, right now (signed URLs are re-requested each time).
    async fn media_source(&self, version: &Version) -> Result<MediaSource>;

    /// Notes on a version, with their drawings, converted to frames.
    async fn list_notes(&self, version: &Version) -> Result<Vec<RemoteNote>>;
    /// Posts a note (or a reply) with its drawing.
    async fn create_note(&self, note: &NewNote) -> Result<RemoteNote>;
    /// Marks a note resolved or open again.
    async fn set_note_status(&self, version: &Version, note: &RemoteId, status: NoteStatus)
    -> Result<()>;

    /// Uploads a file; `progress` is called with bytes sent so far.
    async fn upload(
        &self,
        request: &UploadRequest,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Version>;
}
