//! The Sony Ci Media Cloud connector: OAuth2 password grant with a rotating refresh token,
//! workspaces → folders → assets with `limit`/`offset`, incremental sync through `POST /events`,
//! proxies through signed URLs asked afresh each time, frame facts from the technical metadata,
//! uploads (single-part and multipart) on the upload host, and the `X-RateLimit-*` window.
//!
//! Sources: seed 003 (auth, errors, rate limiting, workspaces, folders, events; it stops before
//! assets) and `shared/reference/platforms/ci.md` part B (single-asset GET, download, the upload
//! host and its calls, signed-URL lifetimes). Where they disagree the public clients' behaviour is
//! followed and said so: the seed's JSON token body is kept (the seed says JSON is required; form
//! bodies also work in practice).
//!
//! Integrity: Ci documents that "content uploaded to Ci will be validated for integrity" and
//! exposes the asset's `md5Checksum`. An upload hashes the file as its bytes are read for sending
//! (a resumed multipart upload first hashes, from disk, the parts the upload host already holds)
//! and compares the sum with the asset's after `complete`: a mismatch fails the transfer with
//! [`ErrorKind::BadResponse`], so the queue shows it failed instead of done.
//!
//! Ci has no comment API: [`Capabilities::notes`] is false and every note call returns
//! [`ErrorKind::Unsupported`]; `sync` keeps the reviewer's notes locally for export.

pub mod mapping;
pub mod model;

use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use framenote_core::{Asset, Capabilities, Node, NoteStatus, Platform, RemoteId, Version};
use md5::{Digest, Md5};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Mutex;
use tokio::time::Instant;

use self::mapping::{
    EventEffect, NodeRef, asset_to_core, event_effect, folder_node, workspace_node,
};
use self::model::{
    CiAsset, DownloadAnswer, Event, Folder, Listing, PasswordGrant, RefreshGrant, TokenAnswer,
    UploadAnswer, Workspace,
};
use crate::http::{HttpClient, HttpConfig, Retry, decode_json};
use crate::iconik::transport::{self, Length, RateGate};
use crate::iconik::upload::io_error;
use crate::{
    Connector, ConnectorError, Credentials, ErrorKind, MediaSource, NewNote, RemoteNote, Result,
    Session, UploadContext, UploadRequest,
};

/// Where and how to reach Ci. The developer key (client id and secret) is Framenote's, issued by
/// Sony; it is configuration, not the user's secret, but it is still never logged.
#[derive(Clone)]
pub struct SonyCiConfig {
    /// `https://api.cimediacloud.com` (or a test server).
    pub api_base: String,
    /// `https://io.cimediacloud.com`: uploads go to a different host.
    pub upload_base: String,
    /// Developer key id.
    pub client_id: String,
    /// Developer key secret.
    pub client_secret: String,
    /// Timeouts and retries.
    pub http: HttpConfig,
    /// Files up to this size go in one request; larger ones in parts.
    pub multipart_threshold: u64,
    /// Part size for multipart uploads.
    pub part_size: u64,
    /// Access tokens are refreshed this long before they expire.
    pub refresh_margin: Duration,
    /// Items per page (Ci's maximum for contents is 100).
    pub limit: u32,
}

impl std::fmt::Debug for SonyCiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SonyCiConfig")
            .field("api_base", &self.api_base)
            .field("upload_base", &self.upload_base)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SonyCiConfig {
    /// The production hosts with Framenote's developer key.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::with_hosts(
            "https://api.cimediacloud.com",
            "https://io.cimediacloud.com",
            client_id,
            client_secret,
        )
    }
    /// Explicit hosts (a test server serves both).
    pub fn with_hosts(
        api_base: impl Into<String>,
        upload_base: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            api_base: api_base.into().trim_end_matches('/').to_owned(),
            upload_base: upload_base.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            http: HttpConfig::default(),
            // Public clients switch to multipart above 5 MiB and send 10 MiB parts.
            multipart_threshold: 5 * 1024 * 1024,
            part_size: 10 * 1024 * 1024,
            refresh_margin: Duration::from_secs(300),
            limit: 100,
        }
    }
}

/// What changed in a workspace since a point in time (see [`SonyCiConnector::changes_since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiChanges {
    /// Assets created, uploaded, processed, renamed, moved or otherwise changed.
    pub changed: Vec<RemoteId>,
    /// Assets trashed or deleted.
    pub removed: Vec<RemoteId>,
    /// Whether the folder tree changed (re-list folders).
    pub folders_changed: bool,
    /// The `createdOn` of the newest event seen, to pass next time (or the one given).
    pub cursor: String,
}

#[derive(Clone)]
struct Auth {
    access: String,
    refresh: Option<String>,
    expires: Option<Instant>,
    user_name: Option<String>,
}

/// The Sony Ci connector.
pub struct SonyCiConnector {
    config: SonyCiConfig,
    http: HttpClient,
    auth: RwLock<Option<Auth>>,
    refreshing: Mutex<()>,
    gate: RateGate,
}

fn unsupported_notes() -> ConnectorError {
    ConnectorError::unsupported(
        "Sony Ci has no comment API: notes on Ci assets stay in Framenote and can be exported",
    )
}

/// `X-RateLimit-Remaining: 0` → wait until `X-RateLimit-Reset` (UTC epoch seconds).
fn window_spent_until(headers: &HeaderMap) -> Option<Instant> {
    let remaining: i64 = headers
        .get("X-RateLimit-Remaining")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if remaining > 0 {
        return None;
    }
    let reset: i64 = headers
        .get("X-RateLimit-Reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let wait = reset - chrono::Utc::now().timestamp();
    // A reset in the past or absurdly far (clock skew) is not waited for here; a 429 would say.
    (0..=900)
        .contains(&wait)
        .then(|| Instant::now() + Duration::from_secs(wait as u64 + 1))
}

impl SonyCiConnector {
    /// A connector with no session yet.
    pub fn new(config: SonyCiConfig) -> Result<Self> {
        let http = HttpClient::new(config.http.clone())?;
        Ok(Self {
            config,
            http,
            auth: RwLock::new(None),
            refreshing: Mutex::new(()),
            gate: RateGate::default(),
        })
    }

    fn read_auth(&self) -> Option<Auth> {
        match self.auth.read() {
            Ok(g) => g.clone(),
            // Poisoned only if a writer panicked mid-assignment of a plain value.
            Err(p) => p.into_inner().clone(),
        }
    }

    fn write_auth(&self, auth: Option<Auth>) {
        match self.auth.write() {
            Ok(mut g) => *g = auth,
            Err(p) => *p.into_inner() = auth,
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/{path}", self.config.api_base)
    }

    fn io(&self, path: &str) -> String {
        format!("{}/{path}", self.config.upload_base)
    }

    fn observe(&self) -> impl Fn(&HeaderMap) + Send + Sync + '_ {
        move |h: &HeaderMap| {
            let budget = self.http.config().max_inline_wait;
            if let Some(until) = window_spent_until(h).filter(|u| *u <= Instant::now() + budget) {
                tracing::debug!("Ci rate window spent; holding requests until it resets");
                self.gate.hold_until(until);
            }
        }
    }

    /// `POST /oauth2/token` with a JSON body; `basic` carries the user's credentials for the
    /// password grant. OAuth errors (`{"error", "error_description"}`) mean "sign in again".
    async fn token(&self, body: Value, basic: Option<(&str, &str)>) -> Result<TokenAnswer> {
        let url = self.api("oauth2/token");
        let observe = self.observe();
        let sent = transport::send(
            &self.gate,
            &self.http,
            Retry::Unsafe,
            Length::Call,
            &observe,
            |c| {
                let rb = c.post(&url).json(&body);
                match basic {
                    Some((u, p)) => rb.basic_auth(u, Some(p)),
                    None => rb,
                }
            },
        )
        .await;
        match sent {
            Ok(resp) => decode_json(resp).await,
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Rejected | ErrorKind::Unauthorized | ErrorKind::Forbidden
                ) =>
            {
                Err(ConnectorError::new(ErrorKind::LoginRequired, e.message))
            }
            Err(e) => Err(e),
        }
    }

    fn keep(&self, t: TokenAnswer, user_name: Option<String>, old_refresh: Option<String>) -> Auth {
        let auth = Auth {
            access: t.access_token,
            refresh: t.refresh_token.or(old_refresh),
            expires: t
                .expires_in
                .map(|s| Instant::now() + Duration::from_secs(s)),
            user_name,
        };
        self.write_auth(Some(auth.clone()));
        auth
    }

    fn current_auth(&self) -> Result<Auth> {
        self.read_auth().ok_or_else(|| {
            ConnectorError::new(ErrorKind::LoginRequired, "not signed in to Sony Ci")
        })
    }

    /// Uses the refresh token (and keeps the new one Ci rotates in). `seen` is the access token a
    /// request was refused with: if another task already refreshed, nothing is done.
    async fn refresh_access(&self, seen: Option<&str>, force: bool) -> Result<Auth> {
        let auth = self.current_auth()?;
        let due = |a: &Auth| {
            a.expires
                .is_some_and(|e| e <= Instant::now() + self.config.refresh_margin)
        };
        if !force && !due(&auth) {
            return Ok(auth);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        let auth = self.current_auth()?;
        if seen.is_some_and(|s| s != auth.access) || (!force && !due(&auth)) {
            return Ok(auth);
        }
        let refresh = auth.refresh.clone().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::LoginRequired,
                "the Sony Ci session has expired: sign in again",
            )
        })?;
        let body = serde_json::to_value(RefreshGrant {
            client_id: &self.config.client_id,
            client_secret: &self.config.client_secret,
            grant_type: "refresh_token",
            refresh_token: &refresh,
        })
        .map_err(|e| ConnectorError::new(ErrorKind::Rejected, e.to_string()))?;
        match self.token(body, None).await {
            Ok(t) => {
                tracing::info!("Sony Ci token refreshed");
                Ok(self.keep(t, auth.user_name, None))
            }
            Err(e) => {
                if e.kind == ErrorKind::LoginRequired {
                    self.write_auth(None);
                }
                Err(e)
            }
        }
    }

    /// An authenticated API call: refreshes before expiry and once after a 401.
    async fn call(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Response> {
        let mut auth = self.refresh_access(None, false).await?;
        let mut refreshed = false;
        let observe = self.observe();
        loop {
            let token = auth.access.clone();
            let out = transport::send(&self.gate, &self.http, retry, Length::Call, &observe, |c| {
                let rb = c
                    .request(method.clone(), url)
                    .bearer_auth(&token)
                    .query(query);
                match body {
                    // reqwest sets Content-Length for a JSON body, as Ci requires on POST/PUT.
                    Some(b) => rb.json(b),
                    None if method == Method::POST || method == Method::PUT => {
                        rb.header(CONTENT_LENGTH, 0)
                    }
                    None => rb,
                }
            })
            .await;
            match out {
                Err(e) if e.kind == ErrorKind::Unauthorized && !refreshed => {
                    refreshed = true;
                    auth = self.refresh_access(Some(&token), true).await?;
                }
                Err(e) if e.kind == ErrorKind::Unauthorized => {
                    return Err(ConnectorError::new(ErrorKind::LoginRequired, e.message));
                }
                other => return other,
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        decode_json(
            self.call(Method::GET, &self.api(path), query, None, Retry::Idempotent)
                .await?,
        )
        .await
    }

    /// Every item of a `limit`/`offset` listing.
    async fn all_items<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let limit = self.config.limit.clamp(1, 100);
        loop {
            let mut q = query.to_vec();
            q.push(("limit", limit.to_string()));
            q.push(("offset", out.len().to_string()));
            let page: Listing<T> = self.get(path, &q).await?;
            let n = page.items.len();
            out.extend(page.items);
            let done = match page.count {
                Some(count) => out.len() as u64 >= count,
                None => n < limit as usize,
            };
            if n == 0 || done {
                return Ok(out);
            }
        }
    }

    /// The folder a node's contents live in (a workspace's is its root folder).
    async fn folder_of(&self, node: &RemoteId) -> Result<String> {
        match mapping::NodeRef::parse(node) {
            Some(NodeRef::Folder(id)) => Ok(id),
            Some(NodeRef::Workspace(id)) => {
                let w: Workspace = self.get(&format!("workspaces/{id}"), &[]).await?;
                w.root_folder_id.ok_or_else(|| {
                    ConnectorError::bad_response("Ci workspace without a root folder")
                })
            }
            None => Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!("not a Sony Ci node id: {node}"),
            )),
        }
    }

    /// The workspace and folder a node stands for.
    async fn workspace_and_folder(&self, node: &RemoteId) -> Result<(String, String)> {
        match mapping::NodeRef::parse(node) {
            Some(NodeRef::Workspace(w)) => {
                let folder = self.folder_of(node).await?;
                Ok((w, folder))
            }
            Some(NodeRef::Folder(f)) => {
                let folder: Folder = self.get(&format!("folders/{f}"), &[]).await?;
                let w = folder
                    .workspace
                    .map(|w| w.id)
                    .ok_or_else(|| ConnectorError::bad_response("Ci folder without a workspace"))?;
                Ok((w, f))
            }
            None => Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!("not a Sony Ci node id: {node}"),
            )),
        }
    }

    /// One asset, fresh (its signed URLs too).
    pub async fn asset(&self, asset_id: &str) -> Result<CiAsset> {
        self.get(&format!("assets/{asset_id}"), &[]).await
    }

    /// A signed URL for the original file (`GET /assets/{id}/download`), valid for hours.
    pub async fn original_source(&self, asset_id: &str) -> Result<MediaSource> {
        let d: DownloadAnswer = self
            .get(&format!("assets/{asset_id}/download"), &[])
            .await?;
        Ok(MediaSource::Http {
            url: d.location,
            headers: Vec::new(),
            bytes: d.size,
        })
    }

    /// What changed in workspace `workspace_id` since `since` (ISO 8601), from `POST /events`
    /// (at most 50 per page, oldest first). Ci has no webhooks a desktop can receive.
    pub async fn changes_since(&self, workspace_id: &str, since: &str) -> Result<CiChanges> {
        let mut out = CiChanges {
            cursor: since.to_owned(),
            ..CiChanges::default()
        };
        let mut offset = 0u64;
        loop {
            let body = json!({"workspaceId": workspace_id, "since": since, "limit": 50,
                              "offset": offset, "orderDirection": "asc"});
            // Listing events reads; sending it twice is harmless.
            let resp = self
                .call(
                    Method::POST,
                    &self.api("events"),
                    &[],
                    Some(&body),
                    Retry::Idempotent,
                )
                .await?;
            let page: Listing<Event> = decode_json(resp).await?;
            let n = page.items.len() as u64;
            for ev in &page.items {
                if let Some(at) = &ev.created_on
                    && !crate::timestamp_at_or_after(&out.cursor, at)
                {
                    out.cursor = at.clone();
                }
                let ids = ev.assets.iter().map(|a| RemoteId::new(&a.id));
                match event_effect(ev) {
                    EventEffect::AssetsChanged => {
                        for id in ids {
                            out.removed.retain(|r| r != &id);
                            if !out.changed.contains(&id) {
                                out.changed.push(id);
                            }
                        }
                    }
                    EventEffect::AssetsRemoved => {
                        for id in ids {
                            out.changed.retain(|c| c != &id);
                            if !out.removed.contains(&id) {
                                out.removed.push(id);
                            }
                        }
                    }
                    EventEffect::FoldersChanged => out.folders_changed = true,
                    EventEffect::None => {}
                }
            }
            offset += n;
            if n == 0 || page.count.is_some_and(|c| offset >= c) {
                return Ok(out);
            }
        }
    }

    async fn upload_single(
        &self,
        request: &UploadRequest,
        workspace: &str,
        folder: &str,
        size: u64,
    ) -> Result<(String, String)> {
        let bytes = tokio::fs::read(&request.path)
            .await
            .map_err(|e| io_error(&request.path, &e))?;
        if bytes.len() as u64 != size {
            return Err(ConnectorError::new(
                ErrorKind::Io,
                "the file changed while it was being uploaded",
            ));
        }
        let md5 = hex(&Md5::digest(&bytes));
        let metadata = json!({"workspaceId": workspace, "folderId": folder}).to_string();
        let url = self.io("upload");
        let auth = self.refresh_access(None, false).await?;
        let observe = self.observe();
        let name = request.name.clone();
        // Multipart form bodies are built per attempt (the helper may resend on 429 / refused
        // connection only, as this POST creates an asset).
        let resp = transport::send(
            &self.gate,
            &self.http,
            Retry::Unsafe,
            Length::Transfer,
            &observe,
            |c| {
                let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone());
                let form = reqwest::multipart::Form::new()
                    .text("metadata", metadata.clone())
                    .part("file", part);
                c.post(&url).bearer_auth(&auth.access).multipart(form)
            },
        )
        .await?;
        let a: UploadAnswer = decode_json(resp).await?;
        Ok((a.asset_id, md5))
    }

    /// The folder an upload lands in: the destination's, then each of `request.subfolder` found
    /// by name among its children or created there (`POST /folders/`).
    async fn upload_target(&self, request: &UploadRequest) -> Result<(String, String)> {
        let (workspace, mut folder) = self.workspace_and_folder(&request.destination).await?;
        for name in &request.subfolder {
            let children: Vec<Folder> = self
                .all_items(
                    &format!("folders/{folder}/contents"),
                    &[("kind", "folder".into())],
                )
                .await?;
            let existing = children.into_iter().find(|f| {
                !f.is_trashed.unwrap_or(false) && f.name.as_deref() == Some(name.as_str())
            });
            folder = match existing {
                Some(f) => f.id,
                None => {
                    let body = json!({"name": name, "workspaceId": workspace,
                                      "parentFolderId": folder});
                    // Creates a folder: not retried after the server may have acted; a retry of
                    // the whole transfer finds it by name instead.
                    let resp = self
                        .call(
                            Method::POST,
                            &self.api("folders"),
                            &[],
                            Some(&body),
                            Retry::Unsafe,
                        )
                        .await?;
                    decode_json::<model::CreatedFolder>(resp).await?.folder_id
                }
            };
        }
        Ok((workspace, folder))
    }

    /// A multipart upload, continuing `resume` (parts 1..=`parts_done` are on the upload host
    /// already) when it is given. Each acknowledged part is reported as a checkpoint. Returns
    /// the asset and the MD5 (hex) of the file's bytes, kept parts included.
    async fn upload_multipart(
        &self,
        request: &UploadRequest,
        workspace: &str,
        folder: &str,
        size: u64,
        resume: Option<CiCheckpoint>,
        context: &UploadContext<'_>,
    ) -> Result<(String, String)> {
        let mut state = match resume {
            Some(state) => state,
            None => {
                let start = json!({"name": request.name, "size": size, "workspaceId": workspace,
                                   "folderId": folder});
                let resp = self
                    .call(
                        Method::POST,
                        &self.io("upload/multipart"),
                        &[],
                        Some(&start),
                        Retry::Unsafe,
                    )
                    .await?;
                let state = CiCheckpoint {
                    asset_id: decode_json::<UploadAnswer>(resp).await?.asset_id,
                    name: request.name.clone(),
                    size,
                    part_size: self.config.part_size.max(1),
                    parts_done: 0,
                };
                (context.checkpoint)(state.to_json());
                state
            }
        };
        let part_size = state.part_size;
        let parts = size.div_ceil(part_size).max(1);
        let mut file = tokio::fs::File::open(&request.path)
            .await
            .map_err(|e| io_error(&request.path, &e))?;
        // The kept parts are not sent again, but the whole file's sum needs their bytes.
        let kept = (state.parts_done.saturating_mul(part_size)).min(size);
        let kept_md5 = hash_prefix(&mut file, kept)
            .await
            .map_err(|e| io_error(&request.path, &e))?;
        let mut md5 = BackgroundMd5::new(kept_md5);
        (context.progress)(kept);
        for part in state.parts_done + 1..=parts {
            let offset = (part - 1) * part_size;
            let len = part_size.min(size - offset);
            let mut chunk = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| io_error(&request.path, &e))?;
            file.read_exact(&mut chunk)
                .await
                .map_err(|e| io_error(&request.path, &e))?;
            let chunk = bytes::Bytes::from(chunk);
            md5.feed(chunk.clone()).await?;
            if let Some(bandwidth) = context.bandwidth {
                bandwidth.take(len).await;
            }
            let url = self.io(&format!("upload/multipart/{}/{part}", state.asset_id));
            // Re-sending a part replaces it: safe to retry.
            self.put_bytes(&url, chunk).await?;
            state.parts_done = part;
            (context.checkpoint)(state.to_json());
            (context.progress)(offset + len);
        }
        self.call(
            Method::POST,
            &self.io(&format!("upload/multipart/{}/complete", state.asset_id)),
            &[],
            None,
            Retry::Idempotent,
        )
        .await?;
        Ok((state.asset_id, md5.finish().await?))
    }

    async fn put_bytes(&self, url: &str, chunk: bytes::Bytes) -> Result<()> {
        let mut auth = self.refresh_access(None, false).await?;
        let observe = self.observe();
        for _ in 0..2 {
            let token = auth.access.clone();
            let out = transport::send(
                &self.gate,
                &self.http,
                Retry::Idempotent,
                Length::Transfer,
                &observe,
                |c| {
                    c.put(url)
                        .bearer_auth(&token)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .body(chunk.clone())
                },
            )
            .await;
            match out {
                Err(e) if e.kind == ErrorKind::Unauthorized => {
                    auth = self.refresh_access(Some(&token), true).await?;
                }
                other => return other.map(|_| ()),
            }
        }
        Err(ConnectorError::new(
            ErrorKind::LoginRequired,
            "Sony Ci refused the refreshed token",
        ))
    }
}

#[async_trait]
impl Connector for SonyCiConnector {
    fn platform(&self) -> Platform {
        Platform::SonyCi
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            upload: true,
            // Uploads target any folder of a workspace.
            upload_folders: true,
            // No comment, reply, resolve, drawing, approval or mention API; no push to a desktop.
            ..Capabilities::NONE
        }
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Session> {
        let Credentials::Password { user, password } = credentials else {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Sony Ci signs in with a user name and password",
            ));
        };
        let body = serde_json::to_value(PasswordGrant {
            client_id: &self.config.client_id,
            client_secret: &self.config.client_secret,
            grant_type: "password",
        })
        .map_err(|e| ConnectorError::new(ErrorKind::Rejected, e.to_string()))?;
        let t = self.token(body, Some((user, password))).await?;
        self.keep(t, Some(user.clone()), None);
        self.session().ok_or_else(|| {
            ConnectorError::new(ErrorKind::LoginRequired, "signed out during sign-in")
        })
    }

    async fn refresh(&self, session: &Session) -> Result<Session> {
        if self.read_auth().is_none() {
            self.set_session(session.clone());
        }
        self.refresh_access(None, true).await?;
        self.session().ok_or_else(|| {
            ConnectorError::new(ErrorKind::LoginRequired, "signed out during refresh")
        })
    }

    fn set_session(&self, session: Session) {
        let auth = session.access_token.map(|access| Auth {
            access,
            refresh: session.refresh_token,
            // Unknown after a restart: the first 401 refreshes.
            expires: None,
            user_name: session.user_name,
        });
        self.write_auth(auth);
    }

    fn session(&self) -> Option<Session> {
        self.read_auth().map(|a| Session {
            access_token: Some(a.access),
            refresh_token: a.refresh,
            user_name: a.user_name,
            user_id: None,
            client_id: None,
        })
    }

    async fn list_nodes(&self, parent: Option<&RemoteId>) -> Result<Vec<Node>> {
        let Some(node) = parent else {
            let ws: Vec<Workspace> = self.all_items("workspaces", &[]).await?;
            return Ok(ws
                .iter()
                .filter(|w| !w.is_deleted.unwrap_or(false))
                .map(workspace_node)
                .collect());
        };
        let folder = self.folder_of(node).await?;
        let items: Vec<Folder> = self
            .all_items(
                &format!("folders/{folder}/contents"),
                &[("kind", "folder".into())],
            )
            .await?;
        Ok(items
            .iter()
            .filter(|f| !f.is_trashed.unwrap_or(false))
            .map(|f| folder_node(f, node.clone()))
            .collect())
    }

    async fn list_assets(&self, node: &RemoteId) -> Result<Vec<Asset>> {
        let folder = self.folder_of(node).await?;
        let items: Vec<CiAsset> = self
            .all_items(
                &format!("folders/{folder}/contents"),
                &[("kind", "asset".into())],
            )
            .await?;
        Ok(items
            .iter()
            .filter(|a| mapping::is_listed(a))
            .map(|a| asset_to_core(a, node.clone()))
            .collect())
    }

    async fn list_assets_since(&self, node: &RemoteId, since: &str) -> Result<Vec<Asset>> {
        let (workspace, folder) = self.workspace_and_folder(node).await?;
        let changes = self.changes_since(&workspace, since).await?;
        let mut out = Vec::new();
        for id in &changes.changed {
            let a = match self.asset(id.as_str()).await {
                Ok(a) => a,
                // Deleted after the event: nothing to show.
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if a.folder.as_ref().is_some_and(|f| f.id == folder) && mapping::is_listed(&a) {
                out.push(asset_to_core(&a, node.clone()));
            }
        }
        Ok(out)
    }

    async fn media_source(&self, version: &Version) -> Result<MediaSource> {
        // Signed URLs expire after hours: read the asset again every time, never keep one.
        let a = self.asset(version.asset.as_str()).await?;
        let proxy = mapping::preferred_proxy(&a).ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::NotFound,
                "Sony Ci has no video preview of this asset yet",
            )
        })?;
        Ok(MediaSource::Http {
            url: proxy.location.clone().unwrap_or_default(),
            // CloudFront-signed: no bearer token, which must not reach the CDN.
            headers: Vec::new(),
            bytes: proxy.size,
        })
    }

    async fn list_notes(&self, _version: &Version) -> Result<Vec<RemoteNote>> {
        Err(unsupported_notes())
    }

    async fn create_note(&self, _note: &NewNote) -> Result<RemoteNote> {
        Err(unsupported_notes())
    }

    async fn set_note_status(
        &self,
        _version: &Version,
        _note: &RemoteId,
        _status: NoteStatus,
    ) -> Result<()> {
        Err(unsupported_notes())
    }

    async fn upload_resumable(
        &self,
        request: &UploadRequest,
        context: &UploadContext<'_>,
    ) -> Result<Version> {
        let size = tokio::fs::metadata(&request.path)
            .await
            .map_err(|e| io_error(&request.path, &e))?
            .len();
        let (workspace, folder) = self.upload_target(request).await?;
        // A checkpoint from an earlier attempt at this same file continues its multipart upload;
        // one for a file that has changed since is of no use (its parts would not add up).
        let resume = context
            .resume
            .and_then(|v| serde_json::from_value::<CiCheckpoint>(v.clone()).ok())
            .filter(|c| c.size == size && c.name == request.name && c.part_size > 0);
        (context.progress)(0);
        let (asset_id, md5) = if resume.is_none() && size <= self.config.multipart_threshold {
            // One request: nothing to resume, a new attempt sends the file again.
            if let Some(bandwidth) = context.bandwidth {
                bandwidth.take(size).await;
            }
            let sent = self
                .upload_single(request, &workspace, &folder, size)
                .await?;
            (context.progress)(size);
            sent
        } else {
            let resumed = resume.is_some();
            match self
                .upload_multipart(request, &workspace, &folder, size, resume, context)
                .await
            {
                // The upload host no longer knows the asset of the checkpoint (expired or
                // deleted): start a new multipart upload instead of failing for good.
                Err(e) if resumed && e.kind == ErrorKind::NotFound => {
                    tracing::info!("Sony Ci multipart upload expired; starting it again");
                    self.upload_multipart(request, &workspace, &folder, size, None, context)
                        .await?
                }
                other => other?,
            }
        };
        // Ci processes the upload (proxies, metadata) afterwards; the version's frame facts are
        // what Ci knows now and are read again by the next sync.
        let a = self.asset(&asset_id).await?;
        if let Some(held) = a.size.filter(|held| *held != size) {
            return Err(ConnectorError::new(
                ErrorKind::Server,
                format!("Sony Ci holds {held} bytes of a {size}-byte file"),
            ));
        }
        verify_md5(a.md5_checksum.as_deref(), &md5)?;
        asset_to_core(&a, request.destination.clone())
            .versions
            .into_iter()
            .next()
            .ok_or_else(|| ConnectorError::bad_response("Ci upload gave no asset"))
    }

    async fn abandon_upload(&self, checkpoint: &Value) -> Result<()> {
        // Ci documents no call that drops an unfinished multipart asset; its parts expire on the
        // upload host. Nothing to release from here.
        let _ = checkpoint;
        Ok(())
    }
}

/// Lower-case hex, as Ci writes `md5Checksum`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MD5 state after the first `len` bytes of `file`, read from its start (the parts a resumed
/// upload does not send again). Leaves the file's position wherever the reading ended.
async fn hash_prefix(file: &mut tokio::fs::File, len: u64) -> std::io::Result<Md5> {
    let mut md5 = Md5::new();
    file.seek(std::io::SeekFrom::Start(0)).await?;
    let mut left = len;
    let mut buffer = vec![0u8; 1024 * 1024];
    while left > 0 {
        let want = usize::try_from(left.min(buffer.len() as u64)).unwrap_or(buffer.len());
        let got = file.read(&mut buffer[..want]).await?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than the parts already uploaded",
            ));
        }
        md5.update(&buffer[..got]);
        left -= got as u64;
    }
    Ok(md5)
}

/// The whole-file MD5 of a multipart upload, computed on a blocking thread one part at a time
/// while that part is on the wire: MD5 runs at about 0.5 GB/s on one core, so hashing in line
/// would add its time to the sending instead of overlapping it.
struct BackgroundMd5 {
    idle: Option<Md5>,
    running: Option<tokio::task::JoinHandle<Md5>>,
}

impl BackgroundMd5 {
    fn new(state: Md5) -> Self {
        Self {
            idle: Some(state),
            running: None,
        }
    }

    /// The state once every part fed so far is hashed.
    async fn settle(&mut self) -> Result<Md5> {
        match self.running.take() {
            Some(job) => job.await.map_err(|e| {
                ConnectorError::new(ErrorKind::Io, format!("hashing the upload failed: {e}"))
            }),
            None => Ok(self.idle.take().unwrap_or_default()),
        }
    }

    /// Hashes `part` next, after the parts before it; returns as soon as that has started.
    async fn feed(&mut self, part: bytes::Bytes) -> Result<()> {
        let mut state = self.settle().await?;
        self.running = Some(tokio::task::spawn_blocking(move || {
            state.update(&part);
            state
        }));
        Ok(())
    }

    /// The sum of everything fed, as lower-case hex.
    async fn finish(mut self) -> Result<String> {
        Ok(hex(&self.settle().await?.finalize()))
    }
}

/// Compares Ci's `md5Checksum` of the asset with the sum of the local file. No checksum (Ci has
/// not computed it yet, or an older asset) is not a failure: there is nothing to compare.
fn verify_md5(held: Option<&str>, local: &str) -> Result<()> {
    match held.map(str::trim).filter(|h| !h.is_empty()) {
        Some(held) if !held.eq_ignore_ascii_case(local) => {
            Err(ConnectorError::bad_response(format!(
                "Sony Ci's copy does not match the file sent: Ci's MD5 is {held}, the local \
                 file's is {local}"
            )))
        }
        _ => Ok(()),
    }
}

/// What a multipart upload to Ci needs to go on after an interruption: the asset the upload
/// host created, the part size its parts were cut at, and how many parts it acknowledged.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CiCheckpoint {
    asset_id: String,
    name: String,
    size: u64,
    part_size: u64,
    parts_done: u64,
}

impl CiCheckpoint {
    fn to_json(&self) -> Value {
        json!({"asset_id": self.asset_id, "name": self.name, "size": self.size,
               "part_size": self.part_size, "parts_done": self.parts_done})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_spent_window_holds_until_reset() {
        let mut h = HeaderMap::new();
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("3"));
        assert!(window_spent_until(&h).is_none());
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
        let reset = (chrono::Utc::now().timestamp() + 2).to_string();
        h.insert("X-RateLimit-Reset", HeaderValue::from_str(&reset).unwrap());
        let until = window_spent_until(&h).unwrap();
        assert!(until > Instant::now() + Duration::from_secs(1));
    }

    #[test]
    fn notes_are_unsupported_and_secrets_hidden() {
        let cfg =
            SonyCiConfig::with_hosts("http://127.0.0.1:1", "http://127.0.0.1:1", "id", "s3cret");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let c = SonyCiConnector::new(cfg).unwrap();
        let caps = c.capabilities();
        assert!(!caps.notes && !caps.drawings && !caps.replies && caps.upload);
        assert_eq!(unsupported_notes().kind, ErrorKind::Unsupported);
    }

    #[test]
    fn md5_is_compared_case_blind_and_a_mismatch_names_both_sums() {
        let empty = hex(&Md5::digest(b""));
        assert_eq!(empty, "d41d8cd98f00b204e9800998ecf8427e");
        assert!(verify_md5(Some("D41D8CD98F00B204E9800998ECF8427E"), &empty).is_ok());
        assert!(verify_md5(None, &empty).is_ok());
        assert!(verify_md5(Some(""), &empty).is_ok());
        let err = verify_md5(Some("00112233445566778899aabbccddeeff"), &empty).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadResponse);
        assert!(!err.kind.is_transient());
        assert!(err.message.contains("00112233445566778899aabbccddeeff"));
        assert!(err.message.contains(&empty), "{}", err.message);
    }

    #[tokio::test]
    async fn the_kept_prefix_hashes_like_the_bytes_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mut file = tokio::fs::File::open(&path).await.unwrap();
        let md5 = hash_prefix(&mut file, 2_500_000).await.unwrap();
        assert_eq!(hex(&md5.finalize()), hex(&Md5::digest(&bytes[..2_500_000])));
        let short = hash_prefix(&mut file, 4_000_000).await;
        assert_eq!(
            short.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::UnexpectedEof)
        );
    }
}
