//! The platforms, behind one trait.
//!
//! [`Connector`] is the whole contract between Framenote and a media platform: authenticate, browse,
//! list versions with their media facts, fetch proxies, read and write notes and drawings, upload,
//! and (where the platform pushes them) live change events. Each platform is one module here that
//! maps its JSON to `framenote-core` types with pure functions (tested on fixtures) and speaks HTTP
//! through the shared helper in [`http`] (retries, rate limits, error classification, resumable
//! downloads). This crate is the only one that talks to platforms; it keeps no state on disk
//! except the local library's own notes file (the cache and the outbox belong to `sync`).
//!
//! A connector is used as `Arc<dyn Connector>`: it holds its session (tokens) behind interior
//! mutability, refreshes it itself when an access token expires, and hands the current tokens out
//! through [`Connector::session`] so `sync` can keep them in the OS keyring.

pub mod error;
pub mod flex;
pub mod http;
pub mod iconik;
pub mod kitsu;
pub mod local;
pub mod moxion;
pub mod sonyci;
pub mod throttle;

pub use error::{ConnectorError, ErrorKind};

use async_trait::async_trait;
use framenote_core::{
    Asset, Capabilities, Drawing, FrameSpan, Node, NoteStatus, Platform, RemoteId, Version,
};
use serde::{Deserialize, Serialize};

/// Result of every connector call.
pub type Result<T> = std::result::Result<T, ConnectorError>;

/// What a user types to sign in. Passed through, never stored by a connector.
#[derive(Clone)]
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

// Written by hand so that a `{:?}` in a log line can never print a password or a key.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => f
                .debug_struct("Password")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::ApiKey { id, .. } => f
                .debug_struct("ApiKey")
                .field("id", id)
                .field("secret", &"<redacted>")
                .finish(),
            Credentials::None => f.write_str("None"),
        }
    }
}

/// Tokens a connector needs to keep working. Stored in the OS keyring by `sync`, never in SQLite.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Short-lived access token.
    pub access_token: Option<String>,
    /// Refresh token, when the platform issues one.
    pub refresh_token: Option<String>,
    /// Who signed in, as the platform names them.
    pub user_name: Option<String>,
    /// The platform's id for that user.
    pub user_id: Option<String>,
    /// The application the tokens were issued to, where the platform needs it on every call
    /// (iconik's App-ID). An identifier, not a secret.
    #[serde(default)]
    pub client_id: Option<String>,
}

// Written by hand so that tokens never reach a log through `{:?}`.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("user_name", &self.user_name)
            .field("user_id", &self.user_id)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// Where the bytes of a version's proxy are.
#[derive(Debug, Clone)]
pub enum MediaSource {
    /// A file on this machine (the local library).
    File(std::path::PathBuf),
    /// An HTTP(S) URL with the headers a GET needs. Signed URLs expire: ask again, never keep.
    /// Fetch it with [`http::download_resumable`], which resumes with `Range`.
    Http {
        /// The URL.
        url: String,
        /// Headers to send (auth). Secret: never log them.
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
    /// A status to set with the note, where the platform supports it (Kitsu: a task status
    /// short name such as `wfa`, `retake` or `done`).
    pub status: Option<String>,
}

/// One asset listing of a node (see [`Connector::list_assets_changes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AssetListing {
    /// The assets listed.
    pub assets: Vec<Asset>,
    /// Where the next incremental listing of the node may start (RFC 3339, the platform's
    /// clock): `None` to start from the newest `updated_at` among `assets`.
    pub next_since: Option<String>,
}

/// A drawing as it sits on a version, whoever made it (a note's drawing, or one drawn in the
/// platform's own web player with no note).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDrawing {
    /// Where it is drawn, as media frame indices.
    pub frames: FrameSpan,
    /// The shapes, in the canonical model.
    pub drawing: Drawing,
    /// The client id of the Framenote note it belongs to, when Framenote drew it.
    pub note_client_id: Option<String>,
}

/// A sign-in the person completes in a browser (a device code): show `user_code` and
/// `verification_uri`, then [`Connector::finish_device_login`] waits for the approval.
#[derive(Debug, Clone)]
pub struct DeviceLogin {
    /// Short code the person types on the verification page.
    pub user_code: String,
    /// The page to visit.
    pub verification_uri: String,
    /// How often to ask whether the person has approved.
    pub interval: std::time::Duration,
    /// When the code stops being valid.
    pub expires_at: std::time::Instant,
    /// The platform's handle on this login; a secret of the moment, never shown or stored.
    pub(crate) device_code: String,
}

/// Someone a note can mention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The platform's id.
    pub id: String,
    /// The name as the platform shows it (what follows `@` in a note).
    pub name: String,
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
    /// Folders to create (or reuse) under `destination`, outermost first, when a whole folder was
    /// dropped: only for platforms whose capabilities say `upload_folders`.
    pub subfolder: Vec<String>,
    /// A version number read from the file name (`sh010_comp_v003.mov` → 3), where the platform
    /// can use it.
    pub version_hint: Option<u32>,
}

/// What the transfer queue hands a connector for one upload attempt.
///
/// A checkpoint is the connector's own JSON (an upload session URL, a multipart id and the parts
/// the platform acknowledged, the ids of a comment and a preview already created): the queue
/// stores each one durably and gives the last one back as `resume` when the upload is started
/// again after a failure, a pause, or a restart of the app. A connector that cannot resume
/// ignores `resume` and starts cleanly, taking care not to leave a second copy on the platform.
///
/// A checkpoint's top-level `secret` field (an upload session URL that authorises writes) is
/// kept by the queue in the OS secret store, never in the cache, and handed back in `resume`.
pub struct UploadContext<'a> {
    /// The last checkpoint this connector reported for this transfer.
    pub resume: Option<&'a serde_json::Value>,
    /// Called after each step the platform has acknowledged, with what is needed to go on.
    pub checkpoint: &'a (dyn Fn(serde_json::Value) + Send + Sync),
    /// Bytes the platform has so far (parts kept from an earlier attempt included).
    pub progress: &'a (dyn Fn(u64) + Send + Sync),
    /// The shared bandwidth limit, when one is set.
    pub bandwidth: Option<&'a throttle::Bandwidth>,
}

/// A change the platform told us about. Payloads are ids only: the receiver re-lists what it
/// shows. Duplicates are possible and harmless; unknown platform events map to [`RemoteEvent::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteEvent {
    /// Assets or versions changed under a node (or somewhere, when `None`).
    AssetsChanged {
        /// The node, when the platform says.
        node: Option<RemoteId>,
    },
    /// Notes of an asset changed (new, edited, replied, resolved).
    NotesChanged {
        /// The asset (Kitsu task) whose notes changed.
        asset: RemoteId,
    },
    /// Drawings on a version changed.
    DrawingsChanged {
        /// The version.
        version: RemoteId,
    },
    /// The stream was interrupted and events may have been missed: re-list what is shown.
    Resync,
    /// Anything else, by the platform's own event name.
    Other {
        /// The platform's name for it.
        name: String,
    },
}

/// A live event feed. Dropping it stops the background task that feeds it.
pub struct Subscription {
    /// Events, in arrival order.
    pub events: tokio::sync::mpsc::Receiver<RemoteEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    /// Wraps a receiver and the task feeding it; the task is aborted when this is dropped.
    pub fn new(
        events: tokio::sync::mpsc::Receiver<RemoteEvent>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self { events, task }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One platform.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Which platform this is.
    fn platform(&self) -> Platform;
    /// What it can do; the UI hides the rest.
    fn capabilities(&self) -> Capabilities;

    /// Signs in, keeps the session, and returns the tokens for `sync` to store.
    async fn authenticate(&self, credentials: &Credentials) -> Result<Session>;

    /// Starts a sign-in by device code (Flow Capture); platforms without one say so.
    async fn start_device_login(&self) -> Result<DeviceLogin> {
        Err(ConnectorError::unsupported(format!(
            "{} has no device-code sign-in",
            self.platform().display_name()
        )))
    }

    /// Waits until the person approved the device code (or it expired) and signs in.
    async fn finish_device_login(&self, login: &DeviceLogin) -> Result<Session> {
        let _ = login;
        Err(ConnectorError::unsupported(format!(
            "{} has no device-code sign-in",
            self.platform().display_name()
        )))
    }
    /// Makes the session usable again after an access token expired, keeps it and returns it.
    /// Fails with [`ErrorKind::LoginRequired`] when the refresh token is gone or rejected.
    async fn refresh(&self, session: &Session) -> Result<Session>;
    /// Installs a session kept from an earlier run (from the keyring), without a network call.
    fn set_session(&self, session: Session);
    /// The tokens now in use (they change when the connector refreshes by itself), for `sync`
    /// to store; `None` before sign-in.
    fn session(&self) -> Option<Session>;

    /// Children of `parent` in the browse tree (roots when `None`).
    async fn list_nodes(&self, parent: Option<&RemoteId>) -> Result<Vec<Node>>;
    /// Reviewable assets in a node, with their versions and media facts.
    async fn list_assets(&self, node: &RemoteId) -> Result<Vec<Asset>>;
    /// Assets in a node changed at or after `since` (RFC 3339, as found in `Asset::updated_at`).
    /// The default filters a full listing; platforms with a server-side filter override it.
    /// An asset without `updated_at` is always returned (it cannot be shown unchanged).
    async fn list_assets_since(&self, node: &RemoteId, since: &str) -> Result<Vec<Asset>> {
        let assets = self.list_assets(node).await?;
        Ok(assets
            .into_iter()
            .filter(|asset| match &asset.updated_at {
                Some(updated) => timestamp_at_or_after(updated, since),
                None => true,
            })
            .collect())
    }
    /// A node's assets — all of them when `since` is `None`, else those changed at or after
    /// `since` — with where the next incremental listing of this node may start. The default
    /// calls [`Connector::list_assets`] or [`Connector::list_assets_since`] and leaves the next
    /// start to the caller (the newest `updated_at` seen); a platform that can tell the
    /// server's own time overrides it, so that assets that have not changed for a while are not
    /// listed again just because they share the newest time stamp.
    async fn list_assets_changes(
        &self,
        node: &RemoteId,
        since: Option<&str>,
    ) -> Result<AssetListing> {
        let assets = match since {
            Some(since) => self.list_assets_since(node, since).await?,
            None => self.list_assets(node).await?,
        };
        Ok(AssetListing {
            assets,
            next_since: None,
        })
    }
    /// Where to read a version's proxy from, right now (signed URLs are re-requested each time).
    async fn media_source(&self, version: &Version) -> Result<MediaSource>;

    /// Notes on a version, with their drawings, converted to frames.
    async fn list_notes(&self, version: &Version) -> Result<Vec<RemoteNote>>;
    /// Posts a note (or a reply) with its drawing. Posting the same `client_id` twice returns
    /// the note already there when the platform lets the connector recognise it.
    async fn create_note(&self, note: &NewNote) -> Result<RemoteNote>;
    /// Replaces a note's text.
    async fn update_note(&self, version: &Version, note: &RemoteId, text: &str) -> Result<()> {
        let _ = (version, note, text);
        Err(ConnectorError::unsupported(format!(
            "{} notes cannot be edited",
            self.platform().display_name()
        )))
    }
    /// The review statuses a note can set (Kitsu task status short names, iconik approvals), for
    /// the status picker. Empty where the platform has none.
    async fn list_statuses(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// The people a note can @mention. Empty where the platform has no mentions.
    async fn list_people(&self) -> Result<Vec<Person>> {
        Ok(Vec::new())
    }

    /// Marks a note resolved or open again.
    async fn set_note_status(
        &self,
        version: &Version,
        note: &RemoteId,
        status: NoteStatus,
    ) -> Result<()>;

    /// A version's notes and every drawing on it, as a pull needs them; drawings are `None`
    /// when the platform has none or cannot list them. The default asks
    /// [`Connector::list_notes`], then [`Connector::list_drawings`]; a platform that reads both
    /// from the same answers overrides it to save calls.
    async fn list_notes_and_drawings(
        &self,
        version: &Version,
    ) -> Result<(Vec<RemoteNote>, Option<Vec<FrameDrawing>>)> {
        let notes = self.list_notes(version).await?;
        if !self.capabilities().drawings {
            return Ok((notes, None));
        }
        match self.list_drawings(version).await {
            Ok(drawings) => Ok((notes, Some(drawings))),
            Err(e) if e.kind == ErrorKind::Unsupported => Ok((notes, None)),
            Err(e) => Err(e),
        }
    }

    /// Every drawing on a version, including ones made outside Framenote. The default reads
    /// them from the notes.
    async fn list_drawings(&self, version: &Version) -> Result<Vec<FrameDrawing>> {
        let notes = self.list_notes(version).await?;
        Ok(notes
            .into_iter()
            .filter_map(|note| {
                let frames = note.frames?;
                let drawing = note.drawing?;
                Some(FrameDrawing {
                    frames,
                    drawing,
                    note_client_id: note.client_id,
                })
            })
            .collect())
    }
    /// Makes `drawing` the drawing of note `note_client_id` on `frames`: shapes with new ids are
    /// added, known ids replaced whole, and the note's shapes missing from `drawing` removed.
    async fn write_drawing(
        &self,
        version: &Version,
        frames: FrameSpan,
        drawing: &Drawing,
        note_client_id: Option<&str>,
    ) -> Result<()> {
        let _ = (version, frames, drawing, note_client_id);
        Err(ConnectorError::unsupported(format!(
            "{} has no drawings",
            self.platform().display_name()
        )))
    }

    /// Uploads a file in one attempt, keeping no checkpoint (no transfer queue behind it);
    /// `progress` is called with bytes sent so far.
    async fn upload(
        &self,
        request: &UploadRequest,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Version> {
        let context = UploadContext {
            resume: None,
            checkpoint: &|_| {},
            progress,
            bandwidth: None,
        };
        self.upload_resumable(request, &context).await
    }

    /// Uploads a file as one attempt of a resumable transfer (see [`UploadContext`]).
    async fn upload_resumable(
        &self,
        request: &UploadRequest,
        context: &UploadContext<'_>,
    ) -> Result<Version>;

    /// Gives up a transfer for good (the user cancelled it): releases what the last checkpoint
    /// holds on the platform (a multipart upload, an empty preview). Best effort.
    async fn abandon_upload(&self, checkpoint: &serde_json::Value) -> Result<()> {
        let _ = checkpoint;
        Ok(())
    }

    /// Whether the platform takes a file of this name, checked before anything is sent; `Err`
    /// says why not, for a person.
    fn upload_accepts(&self, file_name: &str) -> std::result::Result<(), String> {
        if !self.capabilities().upload {
            return Err(format!(
                "{} takes no uploads from Framenote",
                self.platform().display_name()
            ));
        }
        match framenote_core::media_kind_of(file_name) {
            Some(_) => Ok(()),
            None => Err(format!(
                "{file_name}: not a movie, image or audio file {} can review",
                self.platform().display_name()
            )),
        }
    }

    /// Live change events. Platforms without a push channel return [`ErrorKind::Unsupported`]
    /// and `sync` polls instead.
    async fn subscribe(&self) -> Result<Subscription> {
        Err(ConnectorError::unsupported(format!(
            "{} pushes no live events",
            self.platform().display_name()
        )))
    }
}

/// Whether RFC 3339 (or naive ISO 8601, read as UTC) `a` is at or after `b`; unreadable
/// timestamps count as "after" so that nothing is hidden by a parse failure.
pub fn timestamp_at_or_after(a: &str, b: &str) -> bool {
    match (parse_timestamp(a), parse_timestamp(b)) {
        (Some(a), Some(b)) => a >= b,
        _ => true,
    }
}

/// Parses RFC 3339, or a naive `YYYY-MM-DDTHH:MM:SS[.fff]` as UTC (Kitsu's form).
pub fn parse_timestamp(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}
