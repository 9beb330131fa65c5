//! Autodesk Flow Capture (formerly Moxion): sign-in by API key or device code, the browse tree
//! company → production folder → production (group) → folder (project) → batch → assets, plus the
//! shares in the inbox; each asset's playable file as its one version; comments with markers,
//! replies and completion as notes; drawings through `/update/drawing` and the indicator SVG;
//! multipart uploads; and the platform's offline rules mapped onto [`OfflinePolicy`].
//!
//! Sources: the seed API document (`seeds/002`, read in full; its section names are quoted in
//! comments) and the public facts in `reference/platforms/moxion.md` part B. Where the document
//! is silent the choice is made once, in a named place: the wire envelope and error codes in
//! [`wire`], the drawing format in [`drawing`], time and offline rules in [`map`].
//!
//! Sessions: Flow Capture issues one token that expires after `expires` seconds and documents no
//! refresh call. With an API key the connector signs in again by itself (the key pair is kept in
//! `Session::refresh_token`, which `sync` stores in the OS keyring, never in SQLite); a device
//! login cannot be renewed silently, so its expiry asks the person to sign in again.
//!
//! [`OfflinePolicy`]: framenote_core::OfflinePolicy

pub mod drawing;
pub mod map;
pub mod upload;
pub mod wire;

use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use framenote_core::{
    Asset, Capabilities, Drawing, FrameSpan, Node, NoteStatus, Platform, RemoteId, Version,
};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{ConnectorError, ErrorKind};
use crate::http::{HttpClient, HttpConfig, Retry};
use crate::{
    Connector, Credentials, MediaSource, NewNote, RemoteNote, Result, Session, UploadContext,
    UploadRequest,
};
use map::{
    MxActivity, MxAsset, MxBatch, MxComment, MxCompany, MxFile, MxGroup, MxMessage,
    MxProductionFolder, MxProject, NodeRef,
};

/// The documented API host.
pub const DEFAULT_HOST: &str = "https://api.moxion.io";

/// Where and how to reach Flow Capture.
#[derive(Debug, Clone)]
pub struct MoxionConfig {
    /// API host, `https://api.moxion.io` unless a deployment says otherwise.
    pub host: String,
    /// HTTP timeouts and retry budget.
    pub http: HttpConfig,
    /// Upload part size (S3 multipart: at least 5 MiB except the last part on AWS).
    pub upload_part_size: usize,
    /// Requests in flight at once when one listing needs many calls (files of each asset).
    pub parallel_requests: usize,
}

impl Default for MoxionConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            http: HttpConfig::default(),
            upload_part_size: 8 * 1024 * 1024,
            parallel_requests: 4,
        }
    }
}

pub use crate::DeviceLogin;

/// The key pair kept as `Session::refresh_token`, so an expired token can be replaced.
const API_KEY_PREFIX: &str = "moxion-api-key:";

/// A Flow Capture account.
pub struct MoxionConnector {
    config: MoxionConfig,
    http: HttpClient,
    session: RwLock<Option<Session>>,
}

impl MoxionConnector {
    /// A connector for `config`; no network until sign-in.
    pub fn new(config: MoxionConfig) -> Result<Self> {
        let http = HttpClient::new(config.http.clone())?;
        Ok(Self {
            config,
            http,
            session: RwLock::new(None),
        })
    }

    fn token(&self) -> Option<String> {
        self.session
            .read()
            .ok()
            .and_then(|s| s.as_ref().and_then(|s| s.access_token.clone()))
    }

    fn keep(&self, session: Session) {
        if let Ok(mut slot) = self.session.write() {
            *slot = Some(session);
        }
    }

    /// One call without a token (sign-in endpoints).
    async fn call_anonymous(&self, endpoint: &str, data: Value) -> Result<Value> {
        wire::call(
            &self.http,
            &self.config.host,
            endpoint,
            None,
            &data,
            Retry::Idempotent,
        )
        .await
    }

    /// One call with the session's token; an expired token is replaced once (API-key sessions)
    /// and the call repeated.
    async fn call(&self, endpoint: &str, data: Value) -> Result<Value> {
        let token = self.token().ok_or_else(|| {
            ConnectorError::new(ErrorKind::LoginRequired, "Sign in to Flow Capture first.")
        })?;
        let first = wire::call(
            &self.http,
            &self.config.host,
            endpoint,
            Some(&token),
            &data,
            Retry::Idempotent,
        )
        .await;
        match first {
            Err(e) if e.kind == ErrorKind::Unauthorized => {
                let current = self.session().unwrap_or_default();
                let renewed = self.refresh(&current).await?;
                let token = renewed.access_token.unwrap_or_default();
                wire::call(
                    &self.http,
                    &self.config.host,
                    endpoint,
                    Some(&token),
                    &data,
                    Retry::Idempotent,
                )
                .await
            }
            other => other,
        }
    }

    async fn get<T: DeserializeOwned>(&self, endpoint: &str, data: Value) -> Result<T> {
        let value = self.call(endpoint, data).await?;
        decode(endpoint, value)
    }

    /// Signs in with an API key pair (`/authenticate/api`).
    async fn sign_in_with_key(&self, api_id: &str, api_key: &str) -> Result<Session> {
        let answer = self
            .call_anonymous(
                "/authenticate/api",
                json!({ "api_id": api_id, "api_key": api_key }),
            )
            .await
            .map_err(login_error)?;
        let token = token_of(&answer)?;
        let mut session = Session {
            access_token: Some(token),
            refresh_token: Some(format!("{API_KEY_PREFIX}{api_id}:{api_key}")),
            user_name: None,
            user_id: None,
            client_id: None,
        };
        self.keep(session.clone());
        self.fill_user(&mut session).await;
        Ok(session)
    }

    /// Adds the signed-in user's name and id (`/get/user`); a failure here does not undo the
    /// sign-in.
    async fn fill_user(&self, session: &mut Session) {
        if let Ok(user) = self.call("/get/user", json!({})).await {
            let first = user
                .get("first_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let last = user
                .get("last_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = format!("{first} {last}").trim().to_owned();
            session.user_name = (!name.is_empty()).then_some(name);
            session.user_id = user.get("id").and_then(map::id_text);
            self.keep(session.clone());
        }
    }

    /// Starts a device login (`/authenticate/device`): the desktop shows the code and the page,
    /// the person approves it in a browser.
    pub async fn start_device_login(&self) -> Result<DeviceLogin> {
        let answer = self
            .call_anonymous(
                "/authenticate/device",
                json!({ "authentication_scope": "DEFAULT" }),
            )
            .await?;
        let text = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_owned);
        let secs = |k: &str, default: u64| answer.get(k).and_then(Value::as_u64).unwrap_or(default);
        let (Some(device_code), Some(user_code), Some(verification_uri)) = (
            text("device_code"),
            text("user_code"),
            text("verification_uri"),
        ) else {
            return Err(ConnectorError::bad_response(
                "Flow Capture /authenticate/device: no device_code, user_code or verification_uri",
            ));
        };
        Ok(DeviceLogin {
            user_code,
            verification_uri,
            interval: Duration::from_secs(secs("interval", 5).max(1)),
            expires_at: Instant::now() + Duration::from_secs(secs("expires_in", 600)),
            device_code,
        })
    }

    /// Polls once (`/authenticate/device/token`): `None` while the person has not approved.
    pub async fn poll_device_login(&self, login: &DeviceLogin) -> Result<Option<Session>> {
        if Instant::now() >= login.expires_at {
            return Err(ConnectorError::new(
                ErrorKind::LoginRequired,
                "The Flow Capture sign-in code expired; start again.",
            ));
        }
        let answer = self
            .call_anonymous(
                "/authenticate/device/token",
                json!({ "device_code": login.device_code }),
            )
            .await
            .map_err(login_error)?;
        let authenticated = answer
            .get("authenticated")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let token = answer
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let Some(token) = token.filter(|_| authenticated) else {
            return Ok(None);
        };
        let first = answer
            .get("first_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let last = answer
            .get("last_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = format!("{first} {last}").trim().to_owned();
        let session = Session {
            access_token: Some(token.to_owned()),
            refresh_token: None,
            user_name: (!name.is_empty()).then_some(name),
            user_id: answer.get("id").and_then(map::id_text),
            client_id: None,
        };
        self.keep(session.clone());
        Ok(Some(session))
    }

    /// Polls at the platform's interval until the person approves or the code expires.
    pub async fn finish_device_login(&self, login: &DeviceLogin) -> Result<Session> {
        loop {
            if let Some(session) = self.poll_device_login(login).await? {
                return Ok(session);
            }
            tokio::time::sleep(login.interval).await;
        }
    }

    /// Assets whose activity (uploads, comments, deletions...) is at or after `since`, from
    /// `/get/activity`, the only "changed since" feed the document has. Project-level: the
    /// caller filters by batch.
    pub async fn changed_asset_ids(
        &self,
        project: &str,
        since: &str,
    ) -> Result<Vec<(String, String)>> {
        let events: Vec<MxActivity> = self
            .get(
                "/get/activity",
                json!({ "project_id": map::id_value(project), "updated_since": since }),
            )
            .await?;
        let mut latest: Vec<(String, String)> = Vec::new();
        for e in events {
            let (Some(asset), Some(time)) = (e.asset_id, e.time) else {
                continue;
            };
            let time = map::normalise_time(&time);
            match latest.iter_mut().find(|(a, _)| *a == asset) {
                Some(slot) if crate::timestamp_at_or_after(&time, &slot.1) => slot.1 = time,
                Some(_) => {}
                None => latest.push((asset, time)),
            }
        }
        Ok(latest)
    }

    async fn project(&self, id: &str) -> Result<MxProject> {
        self.get("/get/project", json!({ "id": map::id_value(id) }))
            .await
    }

    /// The files of each asset, fetched a few at a time.
    async fn files_of(&self, assets: &[MxAsset]) -> Result<Vec<Vec<MxFile>>> {
        let ids: Vec<String> = assets
            .iter()
            .map(|a| a.id.clone().unwrap_or_default())
            .collect();
        let calls = ids.into_iter().map(|id| async move {
            self.get::<Vec<MxFile>>("/get/asset/files", json!({ "id": map::id_value(&id) }))
                .await
        });
        futures::stream::iter(calls)
            .buffered(self.config.parallel_requests.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    async fn assets_with_policy(
        &self,
        assets: Vec<MxAsset>,
        project: Option<&MxProject>,
        message: Option<&MxMessage>,
    ) -> Result<Vec<Asset>> {
        let files = self.files_of(&assets).await?;
        Ok(assets
            .iter()
            .zip(files.iter())
            .filter_map(|(asset, files)| {
                let parent = NodeRef::Batch(asset.batch_id.clone().unwrap_or_default()).remote_id();
                map::asset_of(asset, parent, files, project, message)
            })
            .collect())
    }

    /// The comment with this uuid (Framenote's client id) on an asset, if it was posted.
    async fn comment_by_uuid(&self, asset: &str, uuid: &str) -> Result<Option<MxComment>> {
        let comments: Vec<MxComment> = self
            .get(
                "/get/comments",
                json!({ "asset_id": map::id_value(asset), "channel_type": "ALL" }),
            )
            .await?;
        Ok(comments
            .into_iter()
            .find(|c| c.uuid.as_deref() == Some(uuid)))
    }

    async fn drawing_of(&self, comment_id: &str) -> Result<Option<Drawing>> {
        let answer = self
            .call(
                "/get/indicators/svg",
                json!({ "comment_id": map::id_value(comment_id) }),
            )
            .await?;
        if answer.get("has_drawing").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        Ok(answer
            .get("svg")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .and_then(drawing::from_svg))
    }

    async fn put_drawing(&self, comment_id: &str, drawing: &Drawing) -> Result<()> {
        self.call(
            "/update/drawing",
            json!({
                "comment_id": map::id_value(comment_id),
                "drawing_data": drawing::to_drawing_data(drawing),
                "type": drawing::DRAWING_TYPE,
            }),
        )
        .await?;
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(endpoint: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        ConnectorError::bad_response(format!("Flow Capture {endpoint}: unexpected answer ({e})"))
    })
}

fn token_of(answer: &Value) -> Result<String> {
    if answer.get("authenticated").and_then(Value::as_bool) == Some(false) {
        return Err(ConnectorError::new(
            ErrorKind::LoginRequired,
            "Flow Capture refused the API key.",
        ));
    }
    answer
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ConnectorError::bad_response("Flow Capture sign-in answered without a token")
        })
}

/// During sign-in, a refused credential is "sign in again", not "refresh".
fn login_error(e: ConnectorError) -> ConnectorError {
    match e.kind {
        ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::NotFound => {
            ConnectorError::new(ErrorKind::LoginRequired, e.message)
        }
        _ => e,
    }
}

fn api_key_of(session: &Session) -> Option<(String, String)> {
    let rest = session
        .refresh_token
        .as_deref()?
        .strip_prefix(API_KEY_PREFIX)?;
    let (id, key) = rest.split_once(':')?;
    Some((id.to_owned(), key.to_owned()))
}

#[async_trait]
impl Connector for MoxionConnector {
    fn platform(&self) -> Platform {
        Platform::Moxion
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            notes: true,
            replies: true,
            resolve: true,
            drawings: true,
            range_notes: true,
            // Approve/Decline exists in the web app but has no documented endpoint.
            status_change: false,
            // `mentions` takes user ids; Framenote notes carry no mention list yet.
            mentions: false,
            upload: true,
            // An upload may name a new batch.
            upload_folders: true,
            // WebSocket events are documented but not used: Framenote polls `/get/activity`.
            live_events: false,
        }
    }

    async fn start_device_login(&self) -> Result<DeviceLogin> {
        MoxionConnector::start_device_login(self).await
    }

    async fn finish_device_login(&self, login: &DeviceLogin) -> Result<Session> {
        MoxionConnector::finish_device_login(self, login).await
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Session> {
        match credentials {
            Credentials::ApiKey {
                id: Some(id),
                secret,
            } => self.sign_in_with_key(id, secret).await,
            Credentials::ApiKey { id: None, .. } => Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Flow Capture API keys come as a pair: an API ID and an API key.",
            )),
            Credentials::Password { .. } | Credentials::None => Err(ConnectorError::unsupported(
                "Flow Capture signs in with an API key or a device code (use the device login).",
            )),
        }
    }

    async fn refresh(&self, session: &Session) -> Result<Session> {
        match api_key_of(session) {
            Some((id, key)) => self.sign_in_with_key(&id, &key).await,
            None => Err(ConnectorError::new(
                ErrorKind::LoginRequired,
                "The Flow Capture session expired; sign in again with the device code.",
            )),
        }
    }

    fn set_session(&self, session: Session) {
        self.keep(session);
    }

    fn session(&self) -> Option<Session> {
        self.session.read().ok().and_then(|s| s.clone())
    }

    async fn list_nodes(&self, parent: Option<&RemoteId>) -> Result<Vec<Node>> {
        let Some(parent) = parent else {
            let companies: Vec<MxCompany> = self.get("/get/companies", json!({})).await?;
            let mut nodes: Vec<Node> = companies.iter().filter_map(map::company_node).collect();
            nodes.push(map::inbox_node());
            return Ok(nodes);
        };
        let node = NodeRef::parse(parent)?;
        match &node {
            NodeRef::Company(company) => {
                let folders: Vec<MxProductionFolder> = self
                    .get(
                        "/get/company/production_folders",
                        json!({ "id": map::id_value(company) }),
                    )
                    .await?;
                let groups: Vec<MxGroup> = self
                    .get(
                        "/get/groups",
                        json!({ "company_id": map::id_value(company) }),
                    )
                    .await?;
                let mut nodes: Vec<Node> = folders
                    .iter()
                    .filter_map(|f| map::production_folder_node(f, company))
                    .collect();
                // Productions outside any production folder sit directly under the company.
                nodes.extend(
                    groups
                        .iter()
                        .filter(|g| g.production_folder_id.is_none())
                        .filter_map(|g| map::group_node(g, &node)),
                );
                Ok(nodes)
            }
            NodeRef::ProductionFolder(folder) => {
                let groups: Vec<MxGroup> = self
                    .get(
                        "/get/groups",
                        json!({ "production_folder_id": map::id_value(folder) }),
                    )
                    .await?;
                Ok(groups
                    .iter()
                    .filter_map(|g| map::group_node(g, &node))
                    .collect())
            }
            NodeRef::Group(group) => {
                let projects: Vec<MxProject> = self
                    .get(
                        "/get/projects",
                        json!({ "group_id": map::id_value(group), "roots_only": true }),
                    )
                    .await?;
                Ok(projects
                    .iter()
                    .filter_map(|p| map::project_node(p, &node))
                    .collect())
            }
            NodeRef::Project(project) => {
                let children: Vec<MxProject> = self
                    .get(
                        "/get/projects",
                        json!({ "parent_project_id": map::id_value(project) }),
                    )
                    .await?;
                let batches: Vec<MxBatch> = self
                    .get(
                        "/get/batches",
                        json!({ "project_id": map::id_value(project), "sort_by": "NEWEST" }),
                    )
                    .await?;
                let mut nodes: Vec<Node> = children
                    .iter()
                    .filter_map(|p| map::project_node(p, &node))
                    .collect();
                nodes.extend(batches.iter().filter_map(|b| map::batch_node(b, project)));
                Ok(nodes)
            }
            NodeRef::Inbox => {
                let messages: Vec<MxMessage> = self
                    .get(
                        "/get/sent/messages",
                        json!({ "folder": "INBOX", "include_message_content": true }),
                    )
                    .await?;
                Ok(messages.iter().filter_map(map::message_node).collect())
            }
            NodeRef::Batch(_) | NodeRef::Message(_) => Ok(Vec::new()),
        }
    }

    async fn list_assets(&self, node: &RemoteId) -> Result<Vec<Asset>> {
        match NodeRef::parse(node)? {
            NodeRef::Batch(batch) => {
                let assets: Vec<MxAsset> = self
                    .get(
                        "/get/assets",
                        json!({ "batch_id": map::id_value(&batch), "include_offline_bytes": true }),
                    )
                    .await?;
                let project = match assets.iter().find_map(|a| a.project_id.clone()) {
                    Some(p) => Some(self.project(&p).await?),
                    None => None,
                };
                self.assets_with_policy(assets, project.as_ref(), None)
                    .await
            }
            // Assets always sit in a batch: a folder lists its batches as child nodes.
            NodeRef::Project(_) => Ok(Vec::new()),
            NodeRef::Message(message_id) => {
                let message: MxMessage = self
                    .get("/get/message", json!({ "id": map::id_value(&message_id) }))
                    .await?;
                let assets: Vec<MxAsset> = self
                    .get(
                        "/get/message/assets",
                        json!({ "id": map::id_value(&message_id) }),
                    )
                    .await?;
                let mut out = Vec::new();
                for asset in assets {
                    // The folder's own rules still apply to a shared asset.
                    let project = match &asset.project_id {
                        Some(p) => self.project(p).await.ok(),
                        None => None,
                    };
                    let mut listed = self
                        .assets_with_policy(vec![asset], project.as_ref(), Some(&message))
                        .await?;
                    for a in &mut listed {
                        a.parent = node.clone();
                    }
                    out.extend(listed);
                }
                Ok(out)
            }
            _ => Ok(Vec::new()),
        }
    }

    async fn list_assets_since(&self, node: &RemoteId, since: &str) -> Result<Vec<Asset>> {
        let (project_id, batch) = match NodeRef::parse(node)? {
            NodeRef::Project(_) => return Ok(Vec::new()),
            NodeRef::Batch(b) => {
                let batch: MxBatch = self
                    .get("/get/batch", json!({ "id": map::id_value(&b) }))
                    .await?;
                match batch.project_id {
                    Some(p) => (p, Some(b)),
                    None => return self.list_assets(node).await,
                }
            }
            // A share's assets live in folders: ask each folder's activity feed.
            NodeRef::Message(message) => {
                let shared: Vec<MxAsset> = self
                    .get(
                        "/get/message/assets",
                        json!({ "id": map::id_value(&message) }),
                    )
                    .await?;
                let mut projects: Vec<String> =
                    shared.iter().filter_map(|a| a.project_id.clone()).collect();
                projects.sort();
                projects.dedup();
                let mut changed = Vec::new();
                for project in &projects {
                    changed.extend(self.changed_asset_ids(project, since).await?);
                }
                let listed = self.list_assets(node).await?;
                return Ok(listed
                    .into_iter()
                    .filter_map(|mut a| {
                        let (_, time) = changed.iter().find(|(id, _)| id == a.id.as_str())?;
                        a.updated_at = Some(time.clone());
                        Some(a)
                    })
                    .collect());
            }
            _ => return Ok(Vec::new()),
        };
        let changed = self.changed_asset_ids(&project_id, since).await?;
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Value> = changed.iter().map(|(a, _)| map::id_value(a)).collect();
        let assets: Vec<MxAsset> = self
            .get(
                "/get/assets",
                json!({ "assets": ids, "include_offline_bytes": true }),
            )
            .await?;
        let assets: Vec<MxAsset> = assets
            .into_iter()
            .filter(|a| batch.is_none() || a.batch_id == batch)
            .collect();
        let project = self.project(&project_id).await?;
        let mut listed = self
            .assets_with_policy(assets, Some(&project), None)
            .await?;
        for asset in &mut listed {
            if let Some((_, time)) = changed.iter().find(|(a, _)| a == asset.id.as_str()) {
                asset.updated_at = Some(time.clone());
            }
        }
        Ok(listed)
    }

    async fn media_source(&self, version: &Version) -> Result<MediaSource> {
        let files: Vec<MxFile> = self
            .get(
                "/get/asset/files",
                json!({ "id": map::id_value(version.asset.as_str()) }),
            )
            .await?;
        let file = files
            .iter()
            .find(|f| f.id.as_deref() == Some(version.id.as_str()))
            .ok_or_else(|| {
                ConnectorError::new(ErrorKind::NotFound, "This Flow Capture file is gone.")
            })?;
        if file.is_drm() {
            return Err(ConnectorError::unsupported(
                "This Flow Capture media is DRM-protected and plays only in Flow Capture's own players.",
            ));
        }
        // The CDN link of `/download/asset/file` honours per-viewer watermarking; the file's own
        // `url` is used when downloads are denied but viewing is allowed.
        let download = self
            .call(
                "/download/asset/file",
                json!({ "id": map::id_value(version.id.as_str()) }),
            )
            .await;
        let url = match download {
            Ok(answer) => {
                if answer.get("processing").and_then(Value::as_bool) == Some(true) {
                    let mut e = ConnectorError::new(
                        ErrorKind::Server,
                        "Flow Capture is watermarking this file for you; try again shortly.",
                    );
                    e.retry_after = Some(Duration::from_secs(10));
                    return Err(e);
                }
                answer
                    .get("download_url")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }
            Err(e) if e.kind == ErrorKind::Forbidden => None,
            Err(e) => return Err(e),
        };
        let url = url
            .or_else(|| file.url.clone())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Forbidden,
                    "Flow Capture gives no way to read this file.",
                )
            })?;
        Ok(MediaSource::Http {
            url,
            // Signed CDN URLs carry their own authorisation; the token must not travel to a CDN.
            headers: Vec::new(),
            bytes: file.used_bytes,
        })
    }

    async fn list_notes(&self, version: &Version) -> Result<Vec<RemoteNote>> {
        let comments: Vec<MxComment> = self
            .get(
                "/get/comments",
                json!({ "asset_id": map::id_value(version.asset.as_str()), "channel_type": "ALL" }),
            )
            .await?;
        let mut notes = Vec::with_capacity(comments.len());
        for c in &comments {
            let drawing = match (&c.id, c.has_drawing) {
                (Some(id), Some(true)) => self.drawing_of(id).await?,
                _ => None,
            };
            notes.extend(map::note_of_comment(c, version, drawing));
        }
        Ok(notes)
    }

    async fn create_note(&self, note: &NewNote) -> Result<RemoteNote> {
        if note.text.chars().count() > 61_440 {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Flow Capture comments are limited to 61,440 characters.",
            ));
        }
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let data = map::comment_payload(note, &created);
        // Upsert by UUID: a retry after a lost answer finds the same comment.
        let answer = self.call("/update/comment", data).await?;
        let comment: MxComment = decode("/update/comment", answer)?;
        let comment_id = comment.id.clone().ok_or_else(|| {
            ConnectorError::bad_response("Flow Capture /update/comment answered without an id")
        })?;
        if let Some(drawing) = note.drawing.as_ref().filter(|d| !d.shapes.is_empty()) {
            self.put_drawing(&comment_id, drawing).await?;
        }
        let mut posted = map::note_of_comment(&comment, &note.version, note.drawing.clone())
            .ok_or_else(|| ConnectorError::bad_response("Flow Capture comment without an id"))?;
        posted.client_id = Some(note.client_id.clone());
        Ok(posted)
    }

    async fn update_note(&self, _version: &Version, note: &RemoteId, text: &str) -> Result<()> {
        self.call(
            "/update/comment",
            json!({ "id": map::id_value(note.as_str()), "description": text }),
        )
        .await?;
        Ok(())
    }

    async fn set_note_status(
        &self,
        _version: &Version,
        note: &RemoteId,
        status: NoteStatus,
    ) -> Result<()> {
        self.call(
            "/update/comment/complete",
            json!({ "id": map::id_value(note.as_str()), "is_complete": status == NoteStatus::Resolved }),
        )
        .await?;
        Ok(())
    }

    async fn write_drawing(
        &self,
        version: &Version,
        _frames: FrameSpan,
        drawing: &Drawing,
        note_client_id: Option<&str>,
    ) -> Result<()> {
        let Some(uuid) = note_client_id else {
            return Err(ConnectorError::unsupported(
                "Flow Capture drawings belong to a comment; draw on a note.",
            ));
        };
        let comment = self
            .comment_by_uuid(version.asset.as_str(), uuid)
            .await?
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::NotFound,
                    "The note of this drawing is not posted yet.",
                )
            })?;
        let id = comment
            .id
            .ok_or_else(|| ConnectorError::bad_response("Flow Capture comment without an id"))?;
        self.put_drawing(&id, drawing).await
    }

    async fn upload(
        &self,
        request: &UploadRequest,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Version> {
        upload::upload(self, request, progress).await
    }

    async fn upload_resumable(
        &self,
        request: &UploadRequest,
        context: &UploadContext<'_>,
    ) -> Result<Version> {
        upload::upload_resumable(self, request, context).await
    }

    async fn abandon_upload(&self, checkpoint: &Value) -> Result<()> {
        upload::abandon(self, checkpoint).await
    }
}
