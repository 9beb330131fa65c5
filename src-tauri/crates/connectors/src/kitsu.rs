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

use std::collections::{HashMap, HashSet};
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
    AssetListing, Connector, ConnectorError, Credentials, ErrorKind, FrameDrawing, MediaSource,
    NewNote, RemoteNote, Result, Session, Subscription, UploadRequest,
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
    /// Whether the signed-in user has Kitsu's `client` role (from the sign-in answer, or asked
    /// once of `/auth/authenticated` for a session restored from the keyring).
    is_client: Option<bool>,
    /// Previews of tasks as the latest asset listing read them, for the notes of the same pull
    /// (see [`KitsuConnector::listed_previews`]).
    listed_previews: HashMap<String, (std::time::Instant, Vec<ZPreview>)>,
}

/// How long a listing's previews serve the notes of its pull.
const LISTED_PREVIEWS_FRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// A row of `GET /data/preview-files` (Zou's generic list, every column): the preview, and the
/// column Zou's per-task route filters on for clients.
#[derive(serde::Deserialize)]
struct ZListedPreview {
    #[serde(flatten)]
    preview: ZPreview,
    #[serde(default)]
    validation_status: Option<String>,
}

/// A page of `GET /data/preview-files?page=N` (Zou's pagination envelope).
#[derive(serde::Deserialize)]
struct ZPreviewPage {
    #[serde(default)]
    data: Vec<ZListedPreview>,
    #[serde(default)]
    nb_pages: u64,
}

/// From this many tasks on, a node's previews are read with one project-wide call
/// (`/data/preview-files?project_id=`) instead of one call per task: Zou answers each call in
/// ~12 ms, and a supervisor's lists hold thousands of tasks.
const BULK_PREVIEWS_FROM: usize = 24;
/// The server's clock at an answer, when it said (HTTP `Date`).
type ServerTime = Option<chrono::DateTime<chrono::Utc>>;
/// How far before the server's time of a listing the next incremental listing starts: covers
/// Zou's whole-second stamps, a change stamped before the answer but committed after it, and a
/// slow answer.
const CURSOR_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(120);
/// Rows per page when scanning preview files newest-updated first for an incremental listing.
const CHANGED_PREVIEWS_PAGE: u64 = 200;

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

/// Whether a Zou person (`user` of the sign-in or `/auth/authenticated` answer) has the
/// `client` role.
fn role_is_client(user: Option<&Value>) -> bool {
    user.and_then(|u| u.get("role"))
        .and_then(Value::as_str)
        .is_some_and(|role| role == "client")
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
    async fn call<T: DeserializeOwned + Send + 'static>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<T> {
        let response = self.send(method, path, body, retry).await?;
        crate::http::decode_json_apart(response).await
    }

    async fn get<T: DeserializeOwned + Send + 'static>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None, Retry::Idempotent).await
    }

    /// A GET, with the server's clock at the answer (its `Date` header), when it sent one.
    async fn get_dated<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
    ) -> Result<(T, Option<chrono::DateTime<chrono::Utc>>)> {
        let response = self
            .send(Method::GET, path, None, Retry::Idempotent)
            .await?;
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&chrono::Utc));
        Ok((crate::http::decode_json_apart(response).await?, date))
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

    /// Every task of a project the user may see, with the display fields filled in, and the
    /// server's time of the task list.
    async fn project_tasks(&self, project: &str) -> Result<(Vec<ZTask>, ServerTime)> {
        let paths = ["tasks", "shots", "assets", "sequences"]
            .map(|what| format!("/data/projects/{project}/{what}"));
        let ((tasks, date), shots, assets, sequences, types) = futures::try_join!(
            self.get_dated::<Vec<ZTask>>(&paths[0]),
            self.get::<Vec<Value>>(&paths[1]),
            self.get::<Vec<Value>>(&paths[2]),
            self.get::<Vec<Value>>(&paths[3]),
            self.get::<Vec<Value>>("/data/task-types"),
        )?;
        let mut tasks = tasks;
        let entities: Vec<Value> = shots.into_iter().chain(assets).collect();
        mapping::enrich_tasks(&mut tasks, &entities, &sequences, &types);
        Ok((tasks, date))
    }

    /// The tasks of a node: a project (to check and to do), or one of its folders; with the
    /// server's time of the (earliest) task list.
    async fn tasks_of(&self, node: &str) -> Result<(Vec<ZTask>, ServerTime)> {
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
        let mut seen = HashSet::new();
        let mut earliest: ServerTime = None;
        for (i, list) in lists.iter().enumerate() {
            let (found, date): (Vec<ZTask>, _) = self.get_dated(list).await?;
            // Without a date on any one list, the listing has no server time.
            earliest = match (i, earliest, date) {
                (0, _, date) => date,
                (_, Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            for task in found {
                if task.project_id == project && seen.insert(task.id.clone()) {
                    tasks.push(task);
                }
            }
        }
        Ok((tasks, earliest))
    }

    async fn previews_of(&self, task_id: &str) -> Result<Vec<ZPreview>> {
        self.get(&format!("/data/tasks/{task_id}/previews")).await
    }

    /// Whether the signed-in user is a Kitsu client (who must not see rejected previews).
    async fn is_client(&self) -> Result<bool> {
        if let Some(known) = lock(&self.cache).is_client {
            return Ok(known);
        }
        let answer: Value = self.get("/auth/authenticated").await?;
        let client = role_is_client(answer.get("user"));
        lock(&self.cache).is_client = Some(client);
        Ok(client)
    }

    /// Previews of `tasks` by task id (every task present, maybe with none). Many tasks of one
    /// project are read with one project-wide call, a few with one call each; Zou's per-task
    /// route hides rejected previews from clients, so the project-wide rows are filtered alike.
    async fn previews_of_tasks(&self, tasks: &[ZTask]) -> Result<HashMap<String, Vec<ZPreview>>> {
        let mut by_task: HashMap<String, Vec<ZPreview>> =
            tasks.iter().map(|t| (t.id.clone(), Vec::new())).collect();
        let mut per_project: HashMap<&str, usize> = HashMap::new();
        for task in tasks {
            *per_project.entry(task.project_id.as_str()).or_default() += 1;
        }
        let bulk: HashSet<&str> = per_project
            .into_iter()
            .filter(|(_, n)| *n >= BULK_PREVIEWS_FROM)
            .map(|(project, _)| project)
            .collect();
        if !bulk.is_empty() {
            let client = self.is_client().await?;
            for project in &bulk {
                let rows: Vec<ZListedPreview> = self
                    .get(&format!("/data/preview-files?project_id={project}"))
                    .await?;
                for row in rows {
                    if client && row.validation_status.as_deref() == Some("rejected") {
                        continue;
                    }
                    if let Some(list) = row
                        .preview
                        .task_id
                        .as_ref()
                        .and_then(|task| by_task.get_mut(task))
                    {
                        list.push(row.preview);
                    }
                }
            }
        }
        // One previews call per remaining task, a few at a time.
        let single_ids: Vec<String> = tasks
            .iter()
            .filter(|t| !bulk.contains(t.project_id.as_str()))
            .map(|t| t.id.clone())
            .collect();
        let single: Vec<Result<(String, Vec<ZPreview>)>> = futures::stream::iter(single_ids)
            .map(|task| async move {
                let previews = self.previews_of(&task).await?;
                Ok((task, previews))
            })
            .buffered(6)
            .collect()
            .await;
        for entry in single {
            let (task, previews) = entry?;
            by_task.insert(task, previews);
        }
        Ok(by_task)
    }

    /// Ids of the tasks of `project` with a preview file updated at or after `since`: Zou's
    /// paginated preview-file list is ordered newest-updated first, so the scan stops at the
    /// first older row (usually on the first page).
    async fn tasks_with_previews_since(
        &self,
        project: &str,
        since: &str,
    ) -> Result<HashSet<String>> {
        let mut touched = HashSet::new();
        let mut page = 1u64;
        loop {
            let answer: ZPreviewPage = self
                .get(&format!(
                    "/data/preview-files?project_id={project}&page={page}&limit={CHANGED_PREVIEWS_PAGE}"
                ))
                .await?;
            let mut older_seen = false;
            for row in &answer.data {
                let recent = row
                    .preview
                    .updated_at
                    .as_deref()
                    .is_none_or(|t| crate::timestamp_at_or_after(t, since));
                if !recent {
                    older_seen = true;
                    break;
                }
                if let Some(task) = &row.preview.task_id {
                    touched.insert(task.clone());
                }
            }
            if older_seen || answer.data.is_empty() || page >= answer.nb_pages {
                return Ok(touched);
            }
            page += 1;
        }
    }

    /// The assets of `tasks` listed under `node`.
    async fn assets_of(&self, node: &RemoteId, tasks: Vec<ZTask>) -> Result<Vec<Asset>> {
        let statuses = self.statuses().await.unwrap_or_default();
        let mut previews = self.previews_of_tasks(&tasks).await?;
        let mut assets = Vec::with_capacity(tasks.len());
        let mut listed = Vec::with_capacity(tasks.len());
        for task in tasks {
            let project = self.project(&task.project_id).await?;
            let status = task
                .task_status_id
                .as_deref()
                .and_then(|id| statuses.iter().find(|s| s.id == id))
                .map(|s| s.short_name.clone());
            let task_previews = previews.remove(&task.id).unwrap_or_default();
            assets.push(mapping::task_asset(
                &task,
                node,
                project.as_ref(),
                &task_previews,
                status,
            ));
            listed.push((task.id, task_previews));
        }
        let now = std::time::Instant::now();
        let mut cache = lock(&self.cache);
        cache
            .listed_previews
            .retain(|_, (at, _)| now.duration_since(*at) < LISTED_PREVIEWS_FRESH);
        for (task, previews) in listed {
            cache.listed_previews.insert(task, (now, previews));
        }
        Ok(assets)
    }

    /// The previews of `task` as this pull's asset listing read them, taken (used once), when
    /// that listing is recent: every preview change after it (a new revision, a drawing) moves
    /// the preview's `updated_at` past the next listing's start, so the next pull lists the task
    /// and reads its notes again. Writes through this connector drop the entry at once.
    fn listed_previews(&self, task: &str) -> Option<Vec<ZPreview>> {
        let (at, previews) = lock(&self.cache).listed_previews.remove(task)?;
        (at.elapsed() < LISTED_PREVIEWS_FRESH).then_some(previews)
    }

    /// Forgets what a listing read about `task` (this connector is about to change it).
    fn forget_listed(&self, task: &str) {
        lock(&self.cache).listed_previews.remove(task);
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

    /// The notes on `version` and the drawing entries of its preview. With `from_listing`, the
    /// task's previews come from this pull's asset listing when it read them (one call instead
    /// of two).
    async fn notes_of(
        &self,
        version: &Version,
        from_listing: bool,
    ) -> Result<(Vec<RemoteNote>, Vec<annotations::Entry>)> {
        let task_id = version.asset.as_str();
        let comments = self.task_comments(task_id).await?;
        let listed = if from_listing {
            self.listed_previews(task_id)
        } else {
            None
        };
        let mut previews = match listed {
            Some(previews) => previews,
            None => self.previews_of(task_id).await?,
        };
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
        self.forget_listed(version.asset.as_str());
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
        lock(&self.cache).is_client = Some(role_is_client(user_obj));
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
        // Possibly another user: their role is asked again when needed.
        lock(&self.cache).is_client = None;
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
        Ok(self.list_assets_changes(node, None).await?.assets)
    }

    async fn list_assets_since(&self, node: &RemoteId, since: &str) -> Result<Vec<Asset>> {
        Ok(self.list_assets_changes(node, Some(since)).await?.assets)
    }

    /// The next listing starts a margin before the server's time of this one's task list (Zou
    /// stamps in whole seconds, and a change stamped just before that answer may commit after
    /// it): tasks that last changed days ago are then not listed again because they share the
    /// newest stamp.
    ///
    /// Incrementally, only tasks that changed are given their previews: a task changed when its
    /// own `updated_at` or `last_comment_date` did (a comment, a status), or when one of its
    /// preview files did (a new revision, processing finished, a drawing made in Kitsu), which
    /// one paged, newest-first preview-file listing per project tells.
    async fn list_assets_changes(
        &self,
        node: &RemoteId,
        since: Option<&str>,
    ) -> Result<AssetListing> {
        let (tasks, listed_at) = self.tasks_of(node.as_str()).await?;
        let next_since = listed_at.map(|t| (t - CURSOR_MARGIN).to_rfc3339());
        let Some(since) = since else {
            return Ok(AssetListing {
                assets: self.assets_of(node, tasks).await?,
                next_since,
            });
        };
        let projects: HashSet<&str> = tasks.iter().map(|t| t.project_id.as_str()).collect();
        let mut touched = HashSet::new();
        for project in projects {
            touched.extend(self.tasks_with_previews_since(project, since).await?);
        }
        let at_or_after = |stamp: &Option<String>| {
            stamp
                .as_deref()
                .is_some_and(|t| crate::timestamp_at_or_after(t, since))
        };
        let changed: Vec<ZTask> = tasks
            .into_iter()
            .filter(|task| {
                touched.contains(&task.id)
                    || at_or_after(&task.updated_at)
                    || at_or_after(&task.last_comment_date)
                    || (task.updated_at.is_none() && task.last_comment_date.is_none())
            })
            .collect();
        let assets = self.assets_of(node, changed).await?;
        Ok(AssetListing {
            assets: assets
                .into_iter()
                .filter(|asset| match &asset.updated_at {
                    Some(updated) => crate::timestamp_at_or_after(updated, since),
                    None => true,
                })
                .collect(),
            next_since,
        })
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
        Ok(self.notes_of(version, false).await?.0)
    }

    /// The drawings come from the same preview list the notes were matched against (Zou's
    /// previews carry their annotations), and that list from this pull's asset listing when it
    /// is there: one call (the comments) instead of three.
    async fn list_notes_and_drawings(
        &self,
        version: &Version,
    ) -> Result<(Vec<RemoteNote>, Option<Vec<FrameDrawing>>)> {
        let (notes, entries) = self.notes_of(version, true).await?;
        let (fps, canvas) = Self::grid(version);
        let drawings = annotations::drawings_by_owner(&entries, fps, canvas)
            .into_iter()
            .map(|(frame, owner, drawing)| FrameDrawing {
                frames: FrameSpan::frame(frame),
                drawing,
                note_client_id: owner,
            })
            .collect();
        Ok((notes, Some(drawings)))
    }

    async fn create_note(&self, note: &NewNote) -> Result<RemoteNote> {
        let version = &note.version;
        let task_id = version.asset.as_str();
        self.forget_listed(task_id);
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
        let (notes, _) = self.notes_of(version, false).await?;
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
        let uploaded: ZPreview = crate::http::decode_json_apart(response).await?;
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
        self.forget_listed(task_id);
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
