//! Kitsu (the Zou API): sign-in and token refresh, the review browse tree, preview movies, task
//! comments as notes (with status changes, replies and acknowledgements), drawings on Kitsu's own
//! time grid, preview uploads and the socket.io event feed.
//!
//! The JSON ↔ domain mapping lives in `kitsu::mapping` and `kitsu::annotations` (pure, tested on
//! fixtures); this file is the HTTP side. Every call goes through [`KitsuConnector::call`], which
//! sends `Authorization: Bearer <access>`, and on a 401 (or Zou's 422 for a malformed JWT)
//! refreshes once with the refresh token and retries; if that fails too, the user must sign in
//! again ([`ErrorKind::LoginRequired`]). Behaviour checked against a real Zou 1.0.97:
//!
//! * Resolving a note = the signed-in user's acknowledgement of the comment. Zou's `ack` route
//!   toggles, so the connector reads the comment first and only posts when the state differs.
//! * A retried note is recognised by the client id in the hidden marker (see `mapping`): before
//!   posting, the task's comments are read and an existing comment with that id is returned.
//! * Drawings: `PUT /actions/preview-files/{id}/update-annotations` with whole objects; an artist
//!   gets 403 → [`ErrorKind::Forbidden`], kept as a permanent error.

pub mod annotations;
pub mod events;
pub mod mapping;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use framenote_core::{
    Asset, Capabilities, Drawing, FrameSpan, Node, NoteStatus, Platform, RemoteId, Version,
};
use futures::StreamExt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::UploadContext;
use crate::http::{HttpClient, HttpConfig, Retry};
use crate::kitsu::annotations::{Canvas, kitsu_fps};
use crate::kitsu::mapping::{
    ALL_PREFIX, Marker, TO_CHECK_PREFIX, TO_DO_PREFIX, ZComment, ZPreview, ZProject, ZTask,
    ZTaskStatus,
};
use crate::{
    Connector, ConnectorError, Credentials, ErrorKind, FrameDrawing, MediaSource, NewNote,
    RemoteNote, Result, Session, Subscription, UploadRequest,
};

/// Where a Kitsu is.
#[derive(Debug, Clone)]
pub struct KitsuConfig {
    /// REST base, e.g. `https://kitsu.example.com/api` (Zou itself serves its routes at the root;
    /// a Kitsu install maps them under `/api`).
    pub api_url: String,
    /// socket.io base, e.g. `https://kitsu.example.com` (the same host in a Kitsu install).
    /// `None` derives it from `api_url` by dropping a trailing `/api`.
    pub events_url: Option<String>,
    /// Timeouts and retries.
    pub http: HttpConfig,
}

impl KitsuConfig {
    /// Defaults for `api_url`.
    pub fn new(api_url: impl Into<String>) -> Self {
        Self {
            api_url: api_url.into(),
            events_url: None,
            http: HttpConfig::default(),
        }
    }

    fn api(&self) -> &str {
        self.api_url.trim_end_matches('/')
    }

    fn events(&self) -> String {
        match &self.events_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => self.api().trim_end_matches("/api").to_owned(),
        }
    }
}

/// Data that changes rarely and is needed to map tasks: projects and task statuses.
#[derive(Default)]
struct Cache {
    projects: HashMap<String, ZProject>,
    statuses: Vec<ZTaskStatus>,
    names: HashMap<String, String>,
}

/// A Kitsu server.
pub struct KitsuConnector {
    config: KitsuConfig,
    http: HttpClient,
    upload_http: HttpClient,
    session: Mutex<Option<Session>>,
    /// One refresh at a time: concurrent 401s wait for the first refresh instead of racing.
    refreshing: tokio::sync::Mutex<()>,
    cache: Mutex<Cache>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-update of plain data; the data
    // (tokens, caches) is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Zou answers a malformed or wrongly signed JWT with 422 instead of 401.
fn is_token_problem(e: &ConnectorError) -> bool {
    e.kind == ErrorKind::Unauthorized
        || (e.kind == ErrorKind::Rejected && e.message.contains("HTTP 422"))
}

impl KitsuConnector {
    /// A connector for `config`. Fails only if the HTTP client cannot start.
    pub fn new(config: KitsuConfig) -> Result<Self> {
        let http = HttpClient::new(config.http.clone())?;
        // Zou transcodes an upload inside the request: the answer can take minutes.
        let upload_http = HttpClient::new(HttpConfig {
            read_timeout: std::time::Duration::from_secs(900),
            timeout: std::time::Duration::from_secs(1800),
            ..config.http.clone()
        })?;
        Ok(Self {
            config,
            http,
            upload_http,
            session: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            cache: Mutex::new(Cache::default()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api())
    }

    fn access_token(&self) -> Result<String> {
        lock(&self.session)
            .as_ref()
            .and_then(|s| s.access_token.clone())
            .ok_or_else(|| ConnectorError::new(ErrorKind::LoginRequired, "Kitsu: not signed in"))
    }

    fn my_id(&self) -> Option<String> {
        lock(&self.session).as_ref().and_then(|s| s.user_id.clone())
    }

    /// Sends an authenticated request, refreshing the access token once if it was refused.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<reqwest::Response> {
        let token = self.access_token()?;
        let attempt = |token: String| {
            let url = self.url(path);
            let method = method.clone();
            self.http.send(retry, move |client| {
                let request = client.request(method.clone(), &url).bearer_auth(&token);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
        };
        match attempt(token.clone()).await {
            Err(e) if is_token_problem(&e) => {
                let fresh = self.refresh_after_refusal(&token).await?;
                attempt(fresh).await.map_err(|e| {
                    if is_token_problem(&e) {
                        ConnectorError::new(
                            ErrorKind::LoginRequired,
                            format!("Kitsu refused a fresh token: {e}"),
                        )
                    } else {
                        e
                    }
                })
            }
            other => other,
        }
    }

    /// Sends and decodes JSON.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<T> {
        let response = self.send(method, path, body, retry).await?;
        crate::http::decode_json(response).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None, Retry::Idempotent).await
    }

    /// Refreshes unless another task already did since `stale` was refused.
    async fn refresh_after_refusal(&self, stale: &str) -> Result<String> {
        let _one_at_a_time = self.refreshing.lock().await;
        let current = self.access_token()?;
        if current != stale {
            return Ok(current);
        }
        let session = lock(&self.session).clone().unwrap_or_default();
        let refreshed = self.refresh_tokens(&session).await?;
        refreshed.access_token.ok_or_else(|| {
            ConnectorError::new(ErrorKind::LoginRequired, "Kitsu: refresh gave no token")
        })
    }

    /// `GET /auth/refresh-token` with the refresh token; installs and returns the new session.
    async fn refresh_tokens(&self, session: &Session) -> Result<Session> {
        let Some(refresh_token) = session.refresh_token.clone() else {
            return Err(ConnectorError::new(
                ErrorKind::LoginRequired,
                "Kitsu: no refresh token; sign in again",
            ));
        };
        let url = self.url("/auth/refresh-token");
        let answer: Value = match self
            .http
            .json(Retry::Idempotent, |client| {
                client.get(&url).bearer_auth(&refresh_token)
            })
            .await
        {
            Ok(answer) => answer,
            Err(e) if is_token_problem(&e) => {
                return Err(ConnectorError::new(
                    ErrorKind::LoginRequired,
                    format!("Kitsu session expired; sign in again ({})", e.message),
                ));
            }
            Err(e) => return Err(e),
        };
        let access = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ConnectorError::bad_response("Kitsu refresh answer has no access_token")
            })?;
        let fresh = Session {
            access_token: Some(access.to_owned()),
            ..session.clone()
        };
        *lock(&self.session) = Some(fresh.clone());
        Ok(fresh)
    }

    async fn projects(&self) -> Result<Vec<ZProject>> {
        let projects: Vec<ZProject> = self.get("/data/user/projects/open").await?;
        let mut cache = lock(&self.cache);
        for p in &projects {
            cache.projects.insert(p.id.clone(), p.clone());
        }
        Ok(projects)
    }

    async fn project(&self, id: &str) -> Result<Option<ZProject>> {
        if let Some(p) = lock(&self.cache).projects.get(id).cloned() {
            return Ok(Some(p));
        }
        Ok(self.projects().await?.into_iter().find(|p| p.id == id))
    }

    async fn statuses(&self) -> Result<Vec<ZTaskStatus>> {
        let cached = lock(&self.cache).statuses.clone();
        if !cached.is_empty() {
            return Ok(cached);
        }
        let statuses: Vec<ZTaskStatus> = self.get("/data/task-status").await?;
        lock(&self.cache).statuses = statuses.clone();
        Ok(statuses)
    }

    async fn person_name(&self, id: &str) -> Option<String> {
        if let Some(name) = lock(&self.cache).names.get(id).cloned() {
            return Some(name);
        }
        let person: Value = self.get(&format!("/data/persons/{id}")).await.ok()?;
        let name = person
            .get("full_name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let first = person.get("first_name")?.as_str()?;
                let last = person
                    .get("last_name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Some(format!("{first} {last}").trim().to_owned())
            })?;
        lock(&self.cache).names.insert(id.to_owned(), name.clone());
        Some(name)
    }

    /// Every task of a project the user may see, with the display fields filled in.
    async fn project_tasks(&self, project: &str) -> Result<Vec<ZTask>> {
        let paths = ["tasks", "shots", "assets", "sequences"]
            .map(|what| format!("/data/projects/{project}/{what}"));
        let (tasks, shots, assets, sequences, types) = futures::try_join!(
            self.get::<Vec<ZTask>>(&paths[0]),
            self.get::<Vec<Value>>(&paths[1]),
            self.get::<Vec<Value>>(&paths[2]),
            self.get::<Vec<Value>>(&paths[3]),
            self.get::<Vec<Value>>("/data/task-types"),
        )?;
        let mut tasks = tasks;
        let entities: Vec<Value> = shots.into_iter().chain(assets).collect();
        mapping::enrich_tasks(&mut tasks, &entities, &sequences, &types);
        Ok(tasks)
    }

    /// The tasks of a node: a project (to check and to do), or one of its folders.
    async fn tasks_of(&self, node: &str) -> Result<Vec<ZTask>> {
        if let Some(project) = node.strip_prefix(ALL_PREFIX) {
            return self.project_tasks(project).await;
        }
        let (project, lists): (&str, &[&str]) = if let Some(p) = node.strip_prefix(TO_CHECK_PREFIX)
        {
            (p, &["/data/user/tasks-to-check"])
        } else if let Some(p) = node.strip_prefix(TO_DO_PREFIX) {
            (p, &["/data/user/tasks"])
        } else {
            (node, &["/data/user/tasks-to-check", "/data/user/tasks"])
        };
        let mut tasks: Vec<ZTask> = Vec::new();
        for list in lists {
            let found: Vec<ZTask> = self.get(list).await?;
            for task in found {
                if task.project_id == project && !tasks.iter().any(|t| t.id == task.id) {
                    tasks.push(task);
                }
            }
        }
        Ok(tasks)
    }

    async fn previews_of(&self, task_id: &str) -> Result<Vec<ZPreview>> {
        self.get(&format!("/data/tasks/{task_id}/previews")).await
    }

    async fn task_comments(&self, task_id: &str) -> Result<Vec<ZComment>> {
        self.get(&format!("/data/tasks/{task_id}/comments")).await
    }

    async fn preview(&self, id: &str) -> Result<ZPreview> {
        self.get(&format!("/data/preview-files/{id}")).await
    }

    /// The time-grid rate and canvas of a version.
    fn grid(version: &Version) -> (f64, Canvas) {
        (
            kitsu_fps(version.media.frame_rate),
            Canvas::new(version.media.width, version.media.height),
        )
    }

    async fn status_id_for(&self, task_id: &str, wanted: Option<&str>) -> Result<String> {
        match wanted {
            Some(short) => {
                let statuses = self.statuses().await?;
                statuses
                    .iter()
                    .find(|s| {
                        s.short_name.eq_ignore_ascii_case(short)
                            || s.id == short
                            || s.name
                                .as_deref()
                                .is_some_and(|n| n.eq_ignore_ascii_case(short))
                    })
                    .map(|s| s.id.clone())
                    .ok_or_else(|| {
                        ConnectorError::new(
                            ErrorKind::Rejected,
                            format!("Kitsu has no task status {short:?}"),
                        )
                    })
            }
            None => {
                // A comment must name a status: keep the task's current one.
                let task: Value = self.get(&format!("/data/tasks/{task_id}")).await?;
                task.get("task_status_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| ConnectorError::bad_response("Kitsu task has no task_status_id"))
            }
        }
    }

    /// Finds a comment or reply we posted earlier with this client id.
    fn find_posted(comments: &[ZComment], client_id: &str) -> Option<(String, Option<String>)> {
        for comment in comments {
            let (_, marker) = mapping::split_marker(comment.text.as_deref().unwrap_or(""));
            if marker.is_some_and(|m| m.id == client_id) {
                return Some((comment.id.clone(), None));
            }
            for reply in &comment.replies {
                let (_, marker) = mapping::split_marker(reply.text.as_deref().unwrap_or(""));
                if marker.is_some_and(|m| m.id == client_id) {
                    return Some((reply.id.clone(), Some(comment.id.clone())));
                }
            }
        }
        None
    }

    async fn notes_of(
        &self,
        version: &Version,
    ) -> Result<(Vec<RemoteNote>, Vec<annotations::Entry>)> {
        let task_id = version.asset.as_str();
        let comments = self.task_comments(task_id).await?;
        let mut previews = self.previews_of(task_id).await?;
        previews.sort_by_key(|p| p.revision.unwrap_or(0));
        let versions: Vec<(String, Option<String>)> = previews
            .iter()
            .map(|p| (p.id.clone(), p.created_at.clone()))
            .collect();
        let mut names = HashMap::new();
        for comment in &comments {
            for reply in &comment.replies {
                if let Some(pid) = &reply.person_id
                    && !names.contains_key(pid)
                    && let Some(name) = self.person_name(pid).await
                {
                    names.insert(pid.clone(), name);
                }
            }
        }
        let me = self.my_id();
        let mut notes = mapping::comments_to_notes(
            &comments,
            version.id.as_str(),
            &versions,
            me.as_deref(),
            &|id| names.get(id).cloned(),
        );
        let preview = previews.iter().find(|p| p.id == version.id.as_str());
        let entries = preview
            .and_then(|p| p.annotations.as_ref())
            .map(annotations::parse_entries)
            .unwrap_or_default();
        let (fps, canvas) = Self::grid(version);
        let drawings = annotations::drawings_by_owner(&entries, fps, canvas);
        for note in &mut notes {
            let Some(client_id) = note.client_id.as_deref() else {
                continue;
            };
            let shapes: Vec<_> = drawings
                .iter()
                .filter(|(_, owner, _)| owner.as_deref() == Some(client_id))
                .flat_map(|(_, _, d)| d.shapes.iter().cloned())
                .collect();
            if !shapes.is_empty() {
                note.drawing = Some(Drawing::from_shapes(shapes));
            }
        }
        Ok((notes, entries))
    }

    async fn put_drawing(
        &self,
        version: &Version,
        frame: u64,
        drawing: &Drawing,
        note: &str,
    ) -> Result<()> {
        let preview = self.preview(version.id.as_str()).await?;
        let entries = preview
            .annotations
            .as_ref()
            .map(annotations::parse_entries)
            .unwrap_or_default();
        let (fps, canvas) = Self::grid(version);
        let me = self.my_id();
        let Some(body) =
            annotations::update_body(&entries, fps, frame, drawing, canvas, note, me.as_deref())
        else {
            return Ok(());
        };
        // Whole objects keyed by id: sending the same body twice leaves the same state.
        self.send(
            Method::PUT,
            &format!("/actions/preview-files/{}/update-annotations", version.id),
            Some(&body),
            Retry::Idempotent,
        )
        .await
        .map_err(|e| {
            if e.kind == ErrorKind::Forbidden {
                ConnectorError::new(
                    ErrorKind::Forbidden,
                    format!("Kitsu does not let this account draw on this task (supervisors, managers and clients can): {}", e.message),
                )
            } else {
                e
            }
        })?;
        Ok(())
    }
}

#[async_trait]
impl Connector for KitsuConnector {
    fn platform(&self) -> Platform {
        Platform::Kitsu
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            notes: true,
            replies: true,
            // The signed-in user's acknowledgement.
            resolve: true,
            drawings: true,
            // Kitsu drawings sit on one frame; comments have no range.
            range_notes: false,
            status_change: true,
            mentions: true,
            upload: true,
            upload_folders: false,
            live_events: true,
        }
    }

    async fn list_statuses(&self) -> Result<Vec<String>> {
        Ok(self
            .statuses()
            .await?
            .into_iter()
            .map(|s| s.short_name)
            .collect())
    }

    async fn list_people(&self) -> Result<Vec<crate::Person>> {
        let persons: Vec<Value> = self.get("/data/persons").await?;
        Ok(mapping::people(&persons))
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Session> {
        let Credentials::Password { user, password } = credentials else {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Kitsu signs in with an e-mail and a password",
            ));
        };
        let url = self.url("/auth/login");
        let body = json!({"email": user, "password": password});
        let answer: Value = match self
            .http
            .json(Retry::Idempotent, |client| client.post(&url).json(&body))
            .await
        {
            Ok(answer) => answer,
            // Zou says 400 {"login": false} for a wrong password and 401 for an inactive user.
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Rejected | ErrorKind::Unauthorized | ErrorKind::Forbidden
                ) =>
            {
                return Err(ConnectorError::new(
                    ErrorKind::LoginRequired,
                    format!("Kitsu refused the sign-in: {}", e.message),
                ));
            }
            Err(e) => return Err(e),
        };
        let token = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        let access = token("access_token").ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::LoginRequired,
                "Kitsu sign-in gave no token (two-factor sign-in is not supported yet)",
            )
        })?;
        let user_obj = answer.get("user");
        let name = user_obj
            .and_then(|u| u.get("full_name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let u = user_obj?;
                let first = u.get("first_name")?.as_str()?;
                let last = u.get("last_name").and_then(Value::as_str).unwrap_or("");
                Some(format!("{first} {last}").trim().to_owned())
            });
        let session = Session {
            access_token: Some(access),
            refresh_token: token("refresh_token"),
            user_name: name,
            user_id: user_obj
                .and_then(|u| u.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            client_id: None,
        };
        *lock(&self.session) = Some(session.clone());
        Ok(session)
    }

    async fn refresh(&self, session: &Session) -> Result<Session> {
        self.refresh_tokens(session).await
    }

    fn set_session(&self, session: Session) {
        *lock(&self.session) = Some(session);
    }

    fn session(&self) -> Option<Session> {
        lock(&self.session).clone()
    }

    async fn list_nodes(&self, parent: Option<&RemoteId>) -> Result<Vec<Node>> {
        match parent {
            None => Ok(self
                .projects()
                .await?
                .iter()
                .map(mapping::project_node)
                .collect()),
            Some(id)
                if id.as_str().starts_with(TO_CHECK_PREFIX)
                    || id.as_str().starts_with(TO_DO_PREFIX)
                    || id.as_str().starts_with(ALL_PREFIX) =>
            {
                Ok(Vec::new())
            }
            Some(id) => {
                if self.project(id.as_str()).await?.is_none() {
                    return Err(ConnectorError::new(
                        ErrorKind::NotFound,
                        format!("Kitsu project {id} is not open for this user"),
                    ));
                }
                Ok(mapping::project_folders(id.as_str()))
            }
        }
    }

    async fn list_assets(&self, node: &RemoteId) -> Result<Vec<Asset>> {
        let tasks = self.tasks_of(node.as_str()).await?;
        let statuses = self.statuses().await.unwrap_or_default();
        // One previews call per task, a few at a time: a supervisor's "to check" list can hold
        // hundreds of tasks, and Zou answers each in ~12 ms.
        let with_previews: Vec<Result<(ZTask, Vec<ZPreview>)>> = futures::stream::iter(tasks)
            .map(|task| async move {
                let previews = self.previews_of(&task.id).await?;
                Ok((task, previews))
            })
            .buffered(6)
            .collect()
            .await;
        let mut assets = Vec::with_capacity(with_previews.len());
        for entry in with_previews {
            let (task, previews) = entry?;
            let project = self.project(&task.project_id).await?;
            let status = task
                .task_status_id
                .as_deref()
                .and_then(|id| statuses.iter().find(|s| s.id == id))
                .map(|s| s.short_name.clone());
            assets.push(mapping::task_asset(
                &task,
                node,
                project.as_ref(),
                &previews,
                status,
            ));
        }
        Ok(assets)
    }

    async fn media_source(&self, version: &Version) -> Result<MediaSource> {
        let token = self.access_token()?;
        Ok(MediaSource::Http {
            url: self.url(&format!(
                "/movies/originals/preview-files/{}.mp4",
                version.id
            )),
            headers: vec![("Authorization".to_owned(), format!("Bearer {token}"))],
            bytes: version.media.bytes,
        })
    }

    async fn list_notes(&self, version: &Version) -> Result<Vec<RemoteNote>> {
        Ok(self.notes_of(version).await?.0)
    }

    async fn create_note(&self, note: &NewNote) -> Result<RemoteNote> {
        let version = &note.version;
        let task_id = version.asset.as_str();
        let comments = self.task_comments(task_id).await?;
        let marker = Marker {
            id: note.client_id.clone(),
            v: Some(version.id.to_string()),
            f: note.frames.map(|f| [f.start, f.end]),
        };
        let posted = Self::find_posted(&comments, &note.client_id);
        let (id, parent) = match (posted, &note.parent) {
            (Some(found), _) => found,
            (None, Some(parent)) => {
                let body = json!({"text": mapping::text_with_marker(&note.text, &Marker { f: None, ..marker.clone() })});
                // Zou answers with the reply itself (id, date, person_id, text).
                let reply: mapping::ZReply = self
                    .call(
                        Method::POST,
                        &format!("/data/tasks/{task_id}/comments/{parent}/reply"),
                        Some(&body),
                        Retry::Unsafe,
                    )
                    .await?;
                (reply.id.clone(), Some(parent.to_string()))
            }
            (None, None) => {
                let status = self.status_id_for(task_id, note.status.as_deref()).await?;
                let body = json!({"task_status_id": status, "comment": mapping::text_with_marker(&note.text, &marker)});
                let comment: ZComment = self
                    .call(
                        Method::POST,
                        &format!("/actions/tasks/{task_id}/comment"),
                        Some(&body),
                        Retry::Unsafe,
                    )
                    .await?;
                (comment.id, None)
            }
        };
        if parent.is_none()
            && let (Some(drawing), Some(frames)) = (&note.drawing, note.frames)
            && !drawing.shapes.is_empty()
        {
            self.put_drawing(version, frames.start, drawing, &note.client_id)
                .await?;
        }
        let (notes, _) = self.notes_of(version).await?;
        notes
            .into_iter()
            .find(|n| n.id.as_str() == id)
            .ok_or_else(|| {
                ConnectorError::bad_response(format!(
                    "Kitsu comment {id} vanished right after posting"
                ))
            })
    }

    async fn update_note(&self, version: &Version, note: &RemoteId, text: &str) -> Result<()> {
        let comment: ZComment = self
            .get(&format!("/data/comments/{note}"))
            .await
            .map_err(|e| {
                if e.kind == ErrorKind::NotFound {
                    ConnectorError::unsupported("Kitsu replies cannot be edited")
                } else {
                    e
                }
            })?;
        let (_, marker) = mapping::split_marker(comment.text.as_deref().unwrap_or(""));
        let new_text = match &marker {
            Some(m) => mapping::text_with_marker(text, m),
            None => text.to_owned(),
        };
        let _ = version;
        self.send(
            Method::PUT,
            &format!("/data/comments/{note}"),
            Some(&json!({"text": new_text})),
            Retry::Idempotent,
        )
        .await?;
        Ok(())
    }

    async fn set_note_status(
        &self,
        version: &Version,
        note: &RemoteId,
        status: NoteStatus,
    ) -> Result<()> {
        let me = self
            .my_id()
            .ok_or_else(|| ConnectorError::new(ErrorKind::LoginRequired, "Kitsu: not signed in"))?;
        let comment: Value = self
            .get(&format!("/data/comments/{note}"))
            .await
            .map_err(|e| {
                if e.kind == ErrorKind::NotFound {
                    ConnectorError::new(
                        ErrorKind::NotFound,
                        "Kitsu can resolve comments, not replies",
                    )
                } else {
                    e
                }
            })?;
        let acked = comment
            .get("acknowledgements")
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter().any(|v| {
                    v.as_str() == Some(me.as_str())
                        || v.get("id").and_then(Value::as_str) == Some(me.as_str())
                })
            });
        if acked == (status == NoteStatus::Resolved) {
            return Ok(());
        }
        // The ack route toggles; it was just checked that a toggle is what is wanted.
        self.send(
            Method::POST,
            &format!("/data/tasks/{}/comments/{note}/ack", version.asset),
            None,
            Retry::Unsafe,
        )
        .await?;
        Ok(())
    }

    async fn list_drawings(&self, version: &Version) -> Result<Vec<FrameDrawing>> {
        let preview = self.preview(version.id.as_str()).await?;
        let entries = preview
            .annotations
            .as_ref()
            .map(annotations::parse_entries)
            .unwrap_or_default();
        let (fps, canvas) = Self::grid(version);
        Ok(annotations::drawings_by_owner(&entries, fps, canvas)
            .into_iter()
            .map(|(frame, owner, drawing)| FrameDrawing {
                frames: FrameSpan::frame(frame),
                drawing,
                note_client_id: owner,
            })
            .collect())
    }

    async fn write_drawing(
        &self,
        version: &Version,
        frames: FrameSpan,
        drawing: &Drawing,
        note_client_id: Option<&str>,
    ) -> Result<()> {
        let Some(note) = note_client_id else {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Kitsu drawings are written for a note: give its client id",
            ));
        };
        self.put_drawing(version, frames.start, drawing, note).await
    }

    fn upload_accepts(&self, file_name: &str) -> std::result::Result<(), String> {
        // Previews are movies and pictures: Zou turns anything else into a download-only file
        // that cannot be reviewed.
        match framenote_core::media_kind_of(file_name) {
            Some(framenote_core::MediaKind::Movie | framenote_core::MediaKind::Image) => Ok(()),
            Some(framenote_core::MediaKind::Audio) => Err(format!(
                "{file_name}: Kitsu previews are movies or pictures, not sound alone"
            )),
            None => Err(format!(
                "{file_name}: not a movie or picture Kitsu can review"
            )),
        }
    }

    async fn upload_resumable(
        &self,
        request: &UploadRequest,
        context: &UploadContext<'_>,
    ) -> Result<Version> {
        if !request.subfolder.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Kitsu takes files on a task, not folders: drop the files themselves",
            ));
        }
        let task_id = request.destination.as_str();
        // One POST sends the file, so a new attempt sends it again; but the comment and the
        // preview (the revision) made by an earlier attempt are reused, so Kitsu ends with one.
        let mut cp = context
            .resume
            .and_then(|v| serde_json::from_value::<KitsuCheckpoint>(v.clone()).ok())
            .filter(|c| c.task_id == task_id && c.name == request.name)
            .unwrap_or_else(|| KitsuCheckpoint {
                task_id: task_id.to_owned(),
                name: request.name.clone(),
                comment_id: None,
                preview_id: None,
            });
        (context.progress)(0);
        if let Some(preview_id) = cp.preview_id.clone() {
            match self
                .get::<ZPreview>(&format!("/data/preview-files/{preview_id}"))
                .await
            {
                // The earlier attempt's file reached Zou and was processed: nothing to send.
                Ok(p) if p.original_name.as_deref().is_some_and(|n| !n.is_empty()) => {
                    let size = tokio::fs::metadata(&request.path)
                        .await
                        .map(|m| m.len())
                        .unwrap_or(0);
                    (context.progress)(size);
                    return self.uploaded_version(task_id, p).await;
                }
                // Still empty: Zou takes the file on it.
                Ok(_) => {}
                // Zou removes a preview whose processing failed: a new one on the same comment.
                Err(e) if e.kind == ErrorKind::NotFound => cp.preview_id = None,
                Err(e) => return Err(e),
            }
        }
        let comment_id = match cp.comment_id.clone() {
            Some(id) => id,
            None => {
                let status = self.status_id_for(task_id, None).await?;
                let text = request
                    .comment
                    .clone()
                    .unwrap_or_else(|| format!("New version: {}", request.name));
                let comment: ZComment = self
                    .call(
                        Method::POST,
                        &format!("/actions/tasks/{task_id}/comment"),
                        Some(&json!({"task_status_id": status, "comment": text})),
                        Retry::Unsafe,
                    )
                    .await?;
                cp.comment_id = Some(comment.id.clone());
                cp.report(context);
                comment.id
            }
        };
        let preview_id = match cp.preview_id.clone() {
            Some(id) => id,
            None => {
                let preview: ZPreview = self
                    .call(
                        Method::POST,
                        &format!("/actions/tasks/{task_id}/comments/{comment_id}/add-preview"),
                        Some(&json!({})),
                        Retry::Unsafe,
                    )
                    .await?;
                cp.preview_id = Some(preview.id.clone());
                cp.report(context);
                preview.id
            }
        };
        let size = tokio::fs::metadata(&request.path)
            .await
            .map_err(|e| ConnectorError::io(format!("reading {}", request.path.display()), &e))?
            .len();
        let file = tokio::fs::File::open(&request.path)
            .await
            .map_err(|e| ConnectorError::io(format!("opening {}", request.path.display()), &e))?;
        drop(file);
        // The file as a body that waits for the bandwidth limit before each chunk.
        let (body, events) =
            crate::iconik::upload::file_body(&request.path, 0, size, context.bandwidth.is_some())
                .await?;
        let part = reqwest::multipart::Part::stream_with_length(body, size)
            .file_name(request.name.clone())
            .mime_str("application/octet-stream")
            .map_err(|e| ConnectorError::new(ErrorKind::Rejected, format!("upload: {e}")))?;
        let token = self.access_token()?;
        let url = self.url(&format!("/pictures/preview-files/{preview_id}"));
        // Report progress while the body streams; the request itself is sent once (a file
        // stream cannot be replayed, and a second upload to one preview is refused by Zou).
        let form = reqwest::multipart::Form::new().part("file", part);
        let request_future = self
            .upload_http
            .client()
            .post(&url)
            .bearer_auth(&token)
            .multipart(form)
            .send();
        let response = crate::iconik::upload::drive(
            request_future,
            events,
            0,
            context.progress,
            context.bandwidth,
        )
        .await
        .map_err(|e| crate::http::classify_transport("POST /pictures/preview-files", &e))?;
        if !response.status().is_success() {
            return Err(
                crate::http::error_from_response("POST /pictures/preview-files", response).await,
            );
        }
        let uploaded: ZPreview = crate::http::decode_json(response).await?;
        if uploaded.status.as_deref() == Some("broken") {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Kitsu could not process the uploaded movie (status \"broken\")",
            ));
        }
        (context.progress)(size);
        self.uploaded_version(task_id, uploaded).await
    }

    async fn subscribe(&self) -> Result<Subscription> {
        let token = self.access_token()?;
        events::subscribe(self.http.clone(), self.config.events(), token).await
    }
}

/// What an interrupted Kitsu upload already made: the comment, and the preview (the revision)
/// the file goes to.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KitsuCheckpoint {
    task_id: String,
    name: String,
    comment_id: Option<String>,
    preview_id: Option<String>,
}

impl KitsuCheckpoint {
    fn report(&self, context: &UploadContext<'_>) {
        match serde_json::to_value(self) {
            Ok(v) => (context.checkpoint)(v),
            // Strings only: they always serialise.
            Err(e) => tracing::warn!(error = %e, "Kitsu checkpoint not serialisable"),
        }
    }
}

impl KitsuConnector {
    /// The version an uploaded preview became, as browsing lists it.
    async fn uploaded_version(&self, task_id: &str, uploaded: ZPreview) -> Result<Version> {
        // List it the way browsing does, so that its media facts (entity fps, frame_in) are the
        // same as the next listing's; fall back to the project's rate if the task is not in
        // the user's lists (an artist uploading to a task assigned to someone else).
        let task: Value = self.get(&format!("/data/tasks/{task_id}")).await?;
        let project_id = task
            .get("project_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Ok(assets) = self.list_assets(&RemoteId::new(project_id.clone())).await
            && let Some(version) = assets
                .into_iter()
                .flat_map(|a| a.versions)
                .find(|v| v.id.as_str() == uploaded.id)
        {
            return Ok(version);
        }
        let project = self.project(&project_id).await?;
        let rate = mapping::resolve_fps(project.as_ref(), None);
        Ok(mapping::preview_version(&uploaded, task_id, rate, 1, None))
    }
}
