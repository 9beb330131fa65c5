//! The iconik connector: simple login and token refresh, projects and collections as the browse
//! tree, assets with their embedded versions and the proxy's frame facts, signed proxy URLs asked
//! afresh each time, comments as `COMMENT` segments with drawing primitives, approvals, the files
//! API upload chain, and "changed since" through the search API.
//!
//! Sources: seed 001 (the action catalogue: paths, parameters, body field names) and iconik's
//! public OpenAPI specs as digested in `shared/reference/platforms/iconik.md` part B (base URL
//! `/API/<service>/`, auth, envelopes, enums, the upload chain). Where the seed is silent the
//! public spec is followed; the places where both are silent (drawing coordinates, the contents
//! list's item shape) are decided in `mapping` and commented there.
//!
//! Every URL is `host + /API/<service>/v1/…` with the host configurable (app.iconik.io, the EU
//! host, a test server). Every authenticated call carries `App-ID` and `Auth-Token`; tokens and
//! passwords are never logged.

pub mod mapping;
pub mod model;
pub mod timebase;
pub mod transport;
pub mod upload;

use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use framenote_core::{
    Asset, Capabilities, Drawing, FrameSpan, Node, NoteStatus, Platform, RemoteId, Version,
};
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderValue};
use reqwest::{Method, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use self::mapping::{NodeRef, asset_to_core, collection_node, project_node};
use self::model::{
    DownloadUrl, IconikAsset, LoginResponse, Page, Project, Proxy, Segment, SimpleLogin,
    TokenResponse, User,
};
use self::transport::{Length, RateGate};
use crate::http::{HttpClient, HttpConfig, Retry, decode_json};
use crate::{
    Connector, ConnectorError, Credentials, ErrorKind, MediaSource, NewNote, RemoteNote, Result,
    Session, UploadContext, UploadRequest,
};

/// Where and how to reach iconik.
#[derive(Debug, Clone)]
pub struct IconikConfig {
    /// Scheme and host, without `/API`: `https://app.iconik.io`, `https://eu.iconik.io`, or a
    /// test server.
    pub base_url: String,
    /// The App-ID of the account's tokens, when known before sign-in (application tokens, or a
    /// session restored from the keyring). Not a secret: it names the application, and grants
    /// nothing without the token. Simple login learns it from iconik.
    pub app_id: Option<String>,
    /// Shown in iconik's token list for logins made by Framenote.
    pub app_name: String,
    /// Timeouts and retries.
    pub http: HttpConfig,
    /// Tokens are refreshed this long before their `expires`.
    pub refresh_margin: Duration,
    /// Page size for lists.
    pub per_page: u32,
}

impl IconikConfig {
    /// Defaults for `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            app_id: None,
            app_name: "Framenote".into(),
            http: HttpConfig::default(),
            refresh_margin: Duration::from_secs(300),
            per_page: 100,
        }
    }
}

/// What iconik changed since a point in time (see [`IconikConnector::changes_since`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IconikChanges {
    /// Assets created or modified, with versions and frame facts.
    pub assets: Vec<Asset>,
    /// Ids of assets deleted since then.
    pub deleted: Vec<RemoteId>,
    /// The `date_modified` to pass next time (the latest seen, or the one given).
    pub cursor: String,
}

#[derive(Clone)]
struct Auth {
    app_id: String,
    token: String,
    /// The last token iconik issued. iconik refreshes a token by presenting it (PUT
    /// /auth/token/); it is kept apart from `token` so that a token garbled or replaced in the
    /// session can still be renewed while the issued one is valid.
    refresh: Option<String>,
    expires: Option<Instant>,
    user_id: Option<String>,
    user_name: Option<String>,
}

/// The iconik connector. Holds the current token in memory only and hands it out through
/// [`Connector::session`] for the keyring.
pub struct IconikConnector {
    config: IconikConfig,
    http: HttpClient,
    auth: RwLock<Option<Auth>>,
    refreshing: Mutex<()>,
    gate: RateGate,
}

/// One API request, apart from auth.
#[derive(Clone)]
struct Call {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    retry: Retry,
}

impl Call {
    fn get(url: String) -> Self {
        Self {
            method: Method::GET,
            url,
            query: Vec::new(),
            body: None,
            retry: Retry::Idempotent,
        }
    }
    /// A call with a JSON body; POSTs create things and are not blindly retried.
    fn with_body(method: Method, url: String, body: Value) -> Self {
        let retry = if method == Method::POST {
            Retry::Unsafe
        } else {
            Retry::Idempotent
        };
        Self {
            method,
            url,
            query: Vec::new(),
            body: Some(body),
            retry,
        }
    }
    fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }
}

fn bad_response(what: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::bad_response(format!("iconik sent an unreadable {what}: {e}"))
}

fn expiry_instant(expires: Option<&str>) -> Option<Instant> {
    let at = crate::parse_timestamp(expires?)?;
    let left = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some(Instant::now() + left)
}

fn auth_headers(auth: &Auth) -> Result<HeaderMap> {
    let bad = |_| {
        ConnectorError::new(
            ErrorKind::LoginRequired,
            "the iconik token is malformed: sign in again",
        )
    };
    let mut h = HeaderMap::new();
    let mut token = HeaderValue::from_str(&auth.token).map_err(bad)?;
    token.set_sensitive(true);
    h.insert("App-ID", HeaderValue::from_str(&auth.app_id).map_err(bad)?);
    h.insert("Auth-Token", token);
    Ok(h)
}

fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "mxf" => "application/mxf",
        "wav" => "audio/wav",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "exr" => "image/x-exr",
        _ => "application/octet-stream",
    }
}

impl IconikConnector {
    /// A connector with no session yet.
    pub fn new(config: IconikConfig) -> Result<Self> {
        let http = HttpClient::new(config.http.clone())?;
        Ok(Self {
            config,
            http,
            auth: RwLock::new(None),
            refreshing: Mutex::new(()),
            gate: RateGate::default(),
        })
    }

    /// The App-ID of the current session, to keep with the account (not a secret).
    pub fn app_id(&self) -> Option<String> {
        self.read_auth().map(|a| a.app_id)
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

    fn url(&self, service: &str, path: &str) -> String {
        format!("{}/API/{service}/{path}", self.config.base_url)
    }

    fn current_auth(&self) -> Result<Auth> {
        self.read_auth()
            .ok_or_else(|| ConnectorError::new(ErrorKind::LoginRequired, "not signed in to iconik"))
    }

    /// Refreshes the token when it expires within the margin (or `force`). `seen` is the token a
    /// request was refused with: when another task has already replaced it, nothing is done.
    async fn refresh_token(&self, seen: Option<&str>, force: bool) -> Result<Auth> {
        let auth = self.current_auth()?;
        let due = auth
            .expires
            .is_some_and(|e| e <= Instant::now() + self.config.refresh_margin);
        if !force && !due {
            return Ok(auth);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        let auth = self.current_auth()?;
        if seen.is_some_and(|s| s != auth.token) {
            return Ok(auth);
        }
        if !force
            && auth
                .expires
                .is_some_and(|e| e > Instant::now() + self.config.refresh_margin)
        {
            return Ok(auth); // refreshed while we waited
        }
        let url = self.url("auth", "v1/auth/token/");
        let presented = Auth {
            token: auth.refresh.clone().unwrap_or_else(|| auth.token.clone()),
            ..auth.clone()
        };
        let headers = auth_headers(&presented)?;
        let sent = transport::send(
            &self.gate,
            &self.http,
            Retry::Idempotent,
            Length::Call,
            &|_| {},
            |c| {
                c.put(&url)
                    .headers(headers.clone())
                    .header(CONTENT_LENGTH, 0)
            },
        )
        .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.kind == ErrorKind::Unauthorized => {
                self.write_auth(None);
                return Err(ConnectorError::new(
                    ErrorKind::LoginRequired,
                    "the iconik session has expired: sign in again",
                ));
            }
            Err(e) => return Err(e),
        };
        let t: TokenResponse = decode_json(resp).await?;
        let fresh = Auth {
            app_id: t.app_id.unwrap_or(auth.app_id),
            refresh: Some(t.token.clone()),
            token: t.token,
            expires: expiry_instant(t.expires.as_deref()),
            user_id: t.user_id.or(auth.user_id),
            user_name: auth.user_name,
        };
        self.write_auth(Some(fresh.clone()));
        tracing::info!("iconik token refreshed");
        Ok(fresh)
    }

    /// Sends an authenticated call: refreshes the token before it expires, and once after a 401.
    async fn call(&self, call: &Call) -> Result<Response> {
        let mut auth = self.refresh_token(None, false).await?;
        let mut refreshed = false;
        loop {
            let headers = auth_headers(&auth)?;
            let out = transport::send(
                &self.gate,
                &self.http,
                call.retry,
                Length::Call,
                &|_| {},
                |c| {
                    let rb = c
                        .request(call.method.clone(), &call.url)
                        .headers(headers.clone())
                        .query(&call.query);
                    match &call.body {
                        Some(b) => rb.json(b),
                        None if call.method != Method::GET => rb.header(CONTENT_LENGTH, 0),
                        None => rb,
                    }
                },
            )
            .await;
            match out {
                Err(e) if e.kind == ErrorKind::Unauthorized && !refreshed => {
                    refreshed = true;
                    auth = self.refresh_token(Some(&auth.token), true).await?;
                }
                Err(e) if e.kind == ErrorKind::Unauthorized => {
                    return Err(ConnectorError::new(ErrorKind::LoginRequired, e.message));
                }
                other => return other,
            }
        }
    }

    async fn json<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        decode_json(self.call(call).await?).await
    }

    /// Every object of a page-mode list (`page` / `per_page`, up to `pages`).
    async fn all_pages<T: DeserializeOwned>(&self, call: Call) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for page in 1u64..=100_000 {
            let c = call
                .clone()
                .query("page", page)
                .query("per_page", self.config.per_page);
            let p: Page<T> = self.json(&c).await?;
            let n = p.objects.len();
            out.extend(p.objects);
            let last = match p.pages {
                Some(pages) => page >= pages,
                None => p.next_url.is_none(),
            };
            if n == 0 || last {
                return Ok(out);
            }
        }
        Err(bad_response("list", "more than 100000 pages"))
    }

    /// Every object of a scroll-mode list (`scroll=true`, then the `scroll_id` given back).
    async fn all_scroll<T: DeserializeOwned>(&self, call: Call) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut scroll_id: Option<String> = None;
        for _ in 0..100_000 {
            let mut c = call
                .clone()
                .query("per_page", self.config.per_page)
                .query("scroll", "true");
            if let Some(s) = &scroll_id {
                c = c.query("scroll_id", s);
            }
            let p: Page<T> = self.json(&c).await?;
            let n = p.objects.len();
            out.extend(p.objects);
            match p.scroll_id {
                Some(s) if n as u64 >= u64::from(self.config.per_page) => scroll_id = Some(s),
                _ => return Ok(out),
            }
        }
        Err(bad_response("list", "scroll never ended"))
    }

    /// Every object of a files-API keyset list (`per_page` + `last_id`).
    async fn all_keyset(&self, call: Call) -> Result<Vec<Proxy>> {
        let mut out: Vec<Proxy> = Vec::new();
        for _ in 0..100_000 {
            let mut c = call.clone().query("per_page", self.config.per_page);
            if let Some(last) = out.last() {
                c = c.query("last_id", &last.id);
            }
            let p: Page<Proxy> = self.json(&c).await?;
            let n = p.objects.len();
            out.extend(p.objects);
            if n < self.config.per_page as usize {
                return Ok(out);
            }
        }
        Err(bad_response("proxy list", "never ended"))
    }

    async fn proxies(&self, asset_id: &str) -> Result<Vec<Proxy>> {
        let call = Call::get(self.url("files", &format!("v1/assets/{asset_id}/proxies/")))
            .query("include_all_versions", "true")
            .query("generate_signed_url", "false");
        self.all_keyset(call).await
    }

    /// The collection a node's contents live in (a project's is its `collection_id`).
    async fn collection_of(&self, node: &RemoteId) -> Result<String> {
        match NodeRef::parse(node) {
            Some(NodeRef::Collection(id)) => Ok(id),
            Some(NodeRef::Project(id)) => {
                let p: Project = self
                    .json(&Call::get(
                        self.url("assets", &format!("v1/projects/{id}/")),
                    ))
                    .await?;
                p.collection_id.ok_or_else(|| {
                    ConnectorError::new(
                        ErrorKind::NotFound,
                        "this iconik project has no collection",
                    )
                })
            }
            None => Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!("not an iconik node id: {node}"),
            )),
        }
    }

    async fn contents(&self, collection: &str, kinds: &str) -> Result<Vec<Value>> {
        let call = Call::get(self.url("assets", &format!("v1/collections/{collection}/contents/")))
            .query("object_types", kinds);
        self.all_pages(call).await
    }

    async fn asset_with_media(&self, asset: &IconikAsset, parent: RemoteId) -> Result<Asset> {
        let proxies = self.proxies(&asset.id).await?;
        Ok(asset_to_core(asset, parent, &proxies))
    }

    fn parent_of(asset: &IconikAsset) -> RemoteId {
        asset
            .in_collections
            .first()
            .map(|c| NodeRef::Collection(c.clone()).to_remote())
            .unwrap_or_else(|| RemoteId::new("collection:"))
    }

    /// One asset, fresh from iconik, with its versions and frame facts.
    pub async fn asset(&self, asset_id: &str) -> Result<Asset> {
        let a: IconikAsset = self
            .json(
                &Call::get(self.url("assets", &format!("v1/assets/{asset_id}/")))
                    .query("include_collections", "true"),
            )
            .await?;
        self.asset_with_media(&a, Self::parent_of(&a)).await
    }

    /// Assets changed at or after `since`, through the search API: REST lists have no
    /// modified-since filter, search has a `range` term on `date_modified`. `in_collection`
    /// narrows to one collection's direct contents.
    async fn search_changed(
        &self,
        since: &str,
        in_collection: Option<&str>,
    ) -> Result<Vec<IconikAsset>> {
        let mut terms = vec![json!({"name": "date_modified", "range": {"min": since}})];
        if let Some(c) = in_collection {
            terms.push(json!({"name": "in_collections", "value": c}));
        }
        let body = json!({
            "doc_types": ["assets"],
            "query": "",
            "filter": {"operator": "AND", "terms": terms},
            "sort": [{"name": "date_modified", "order": "asc"}],
        });
        let mut call = Call::with_body(Method::POST, self.url("search", "v1/search/"), body);
        call.retry = Retry::Idempotent; // a search reads; sending it twice changes nothing
        self.all_pages(call).await
    }

    /// Everything iconik changed since `since` (RFC 3339): assets created or modified, with their
    /// versions and frame facts, and assets deleted (from the delete queue). iconik pushes
    /// nothing a desktop app can receive, so `sync` polls this with the returned cursor.
    pub async fn changes_since(&self, since: &str) -> Result<IconikChanges> {
        let since_t = crate::parse_timestamp(since).ok_or_else(|| {
            ConnectorError::new(ErrorKind::Rejected, format!("bad sync cursor {since:?}"))
        })?;
        let found = self.search_changed(since, None).await?;
        let mut cursor = since.to_owned();
        let mut latest = since_t;
        let mut assets = Vec::with_capacity(found.len());
        for a in &found {
            if let Some(m) = a.date_modified.as_deref()
                && let Some(t) = crate::parse_timestamp(m)
                && t > latest
            {
                latest = t;
                cursor = m.to_owned();
            }
            assets.push(self.asset_with_media(a, Self::parent_of(a)).await?);
        }
        let queue: Vec<Value> = self
            .all_pages(Call::get(self.url("assets", "v1/delete_queue/assets/")))
            .await?;
        let deleted = queue
            .iter()
            .filter(|o| {
                o.get("date_deleted")
                    .and_then(Value::as_str)
                    .is_none_or(|d| crate::timestamp_at_or_after(d, since))
            })
            .filter_map(|o| o.get("id").and_then(Value::as_str).map(RemoteId::new))
            .collect();
        Ok(IconikChanges {
            assets,
            deleted,
            cursor,
        })
    }

    /// A version's approval status as iconik words it (`N/A`, `REQUESTED`, `APPROVED`,
    /// `NOT_APPROVED`, `MIXED`).
    pub async fn approval(&self, version: &Version) -> Result<String> {
        let v: Value = self
            .json(&Call::get(self.url(
                "assets",
                &format!(
                    "v1/assets/{}/versions/{}/approvals/",
                    version.asset, version.id
                ),
            )))
            .await?;
        Ok(v.get("status")
            .and_then(Value::as_str)
            .unwrap_or("N/A")
            .to_owned())
    }

    /// Sets the signed-in user's approval of a version from Framenote's status word (approved,
    /// not approved / changes requested, requested, none).
    pub async fn set_approval(&self, version: &Version, word: &str) -> Result<()> {
        let status = mapping::approval_status(word).ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Rejected,
                format!("iconik has no approval status {word:?}"),
            )
        })?;
        let auth = self.current_auth()?;
        let call = Call::with_body(
            Method::PUT,
            self.url("assets", &format!("v1/assets/{}/approvals/", version.asset)),
            json!({"status": status, "version_id": version.id.as_str(), "user": auth.user_id}),
        );
        self.call(&call).await.map(|_| ())
    }

    async fn segments(&self, version: &Version) -> Result<Vec<Segment>> {
        let call = Call::get(self.url("assets", &format!("v1/assets/{}/segments/", version.asset)))
            .query("segment_type", "COMMENT")
            .query("version_id", version.id.as_str());
        let segs: Vec<Segment> = self.all_scroll(call).await?;
        Ok(segs
            .into_iter()
            .filter(|s| s.status.as_deref() != Some("DELETED"))
            .filter(|s| s.segment_type.as_deref().is_none_or(|t| t == "COMMENT"))
            .collect())
    }

    async fn segment_by_client_id(
        &self,
        version: &Version,
        client_id: &str,
    ) -> Result<Option<Segment>> {
        Ok(self
            .segments(version)
            .await?
            .into_iter()
            .find(|s| s.external_id.as_deref() == Some(client_id)))
    }
}

#[async_trait]
impl Connector for IconikConnector {
    fn platform(&self) -> Platform {
        Platform::Iconik
    }

    async fn list_statuses(&self) -> Result<Vec<String>> {
        // The approval words `mapping::approval_status` accepts, one per iconik status.
        Ok(["approved", "not_approved", "requested"]
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            notes: true,
            replies: true,
            resolve: true,
            drawings: true,
            range_notes: true,
            // Approvals (APPROVED / NOT_APPROVED / REQUESTED) per version.
            status_change: true,
            // No mention syntax is documented.
            mentions: false,
            upload: true,
            upload_folders: true,
            // Webhooks need a public receiver; Framenote polls the search API instead.
            live_events: false,
        }
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Session> {
        let auth = match credentials {
            Credentials::Password { user, password } => {
                let url = self.url("auth", "v1/auth/simple/login/");
                let body = SimpleLogin {
                    email: user,
                    password,
                    app_name: &self.config.app_name,
                };
                let sent = transport::send(
                    &self.gate,
                    &self.http,
                    Retry::Unsafe,
                    Length::Call,
                    &|_| {},
                    |c| c.post(&url).json(&body),
                )
                .await;
                let resp = match sent {
                    Ok(r) => r,
                    Err(e)
                        if matches!(
                            e.kind,
                            ErrorKind::Rejected | ErrorKind::Unauthorized | ErrorKind::Forbidden
                        ) =>
                    {
                        return Err(ConnectorError::new(ErrorKind::LoginRequired, e.message));
                    }
                    Err(e) => return Err(e),
                };
                let login: LoginResponse = decode_json(resp).await?;
                let domain = login.auth_system_domains.first();
                if domain.and_then(|d| d.mfa_required).unwrap_or(false) {
                    return Err(ConnectorError::new(
                        ErrorKind::LoginRequired,
                        "this iconik account needs two-factor sign-in; use an application token",
                    ));
                }
                // The spec deprecates the top-level token in favour of the domain's.
                let token = domain
                    .map(|d| d.token.clone())
                    .or(login.token)
                    .ok_or_else(|| bad_response("sign-in answer", "no token"))?;
                let app_id = login
                    .app_id
                    .or_else(|| self.config.app_id.clone())
                    .ok_or_else(|| bad_response("sign-in answer", "no app_id"))?;
                Auth {
                    app_id,
                    refresh: Some(token.clone()),
                    token,
                    expires: expiry_instant(login.expires.as_deref()),
                    user_id: login.user_id,
                    user_name: Some(user.clone()),
                }
            }
            Credentials::ApiKey { id, secret } => Auth {
                app_id: id
                    .clone()
                    .or_else(|| self.config.app_id.clone())
                    .ok_or_else(|| {
                        ConnectorError::new(
                            ErrorKind::Rejected,
                            "an iconik application token needs its App-ID",
                        )
                    })?,
                token: secret.clone(),
                refresh: Some(secret.clone()),
                expires: None,
                user_id: None,
                user_name: None,
            },
            Credentials::None => {
                return Err(ConnectorError::new(
                    ErrorKind::Rejected,
                    "iconik needs credentials",
                ));
            }
        };
        self.write_auth(Some(auth));
        // Proves the token works and learns whose it is.
        let me: User = match self
            .json(&Call::get(self.url("users", "v1/users/current/")))
            .await
        {
            Ok(me) => me,
            Err(e) => {
                self.write_auth(None);
                return Err(e);
            }
        };
        let name = match (me.first_name.as_deref(), me.last_name.as_deref()) {
            (Some(f), Some(l)) => Some(format!("{f} {l}").trim().to_owned()),
            _ => me.email.clone(),
        };
        if let Some(mut a) = self.read_auth() {
            a.user_id = Some(me.id.clone());
            a.user_name = name.or(a.user_name);
            self.write_auth(Some(a));
        }
        self.session().ok_or_else(|| {
            ConnectorError::new(ErrorKind::LoginRequired, "signed out during sign-in")
        })
    }

    async fn refresh(&self, session: &Session) -> Result<Session> {
        if self.read_auth().is_none() {
            self.set_session(session.clone());
        }
        self.refresh_token(None, true).await?;
        self.session().ok_or_else(|| {
            ConnectorError::new(ErrorKind::LoginRequired, "signed out during refresh")
        })
    }

    fn set_session(&self, session: Session) {
        // A session restored from the keyring carries the App-ID its token was issued to.
        let known_app = session
            .client_id
            .clone()
            .or_else(|| self.read_auth().map(|a| a.app_id))
            .or_else(|| self.config.app_id.clone());
        let auth = match (session.access_token, known_app) {
            (Some(token), Some(app_id)) => Some(Auth {
                app_id,
                refresh: session.refresh_token.or_else(|| Some(token.clone())),
                token,
                // Unknown after a restart: the first 401 refreshes.
                expires: None,
                user_id: session.user_id,
                user_name: session.user_name,
            }),
            // Without an App-ID the token is unusable: calls report LoginRequired.
            _ => None,
        };
        self.write_auth(auth);
    }

    fn session(&self) -> Option<Session> {
        self.read_auth().map(|a| Session {
            access_token: Some(a.token),
            refresh_token: a.refresh,
            user_name: a.user_name,
            user_id: a.user_id,
            client_id: Some(a.app_id),
        })
    }

    async fn list_nodes(&self, parent: Option<&RemoteId>) -> Result<Vec<Node>> {
        let Some(node) = parent else {
            let projects: Vec<Project> = self
                .all_pages(Call::get(self.url("assets", "v1/projects/")))
                .await?;
            let owned: Vec<&str> = projects
                .iter()
                .filter_map(|p| p.collection_id.as_deref())
                .collect();
            let roots: Vec<model::Collection> = self
                .all_pages(
                    Call::get(self.url("assets", "v1/collections/")).query("is_root", "true"),
                )
                .await?;
            let mut nodes: Vec<Node> = projects
                .iter()
                .filter(|p| p.status.as_deref() != Some("DELETED"))
                .map(project_node)
                .collect();
            // A project's own collection is shown as the project, not twice.
            nodes.extend(
                roots
                    .iter()
                    .filter(|c| !owned.contains(&c.id.as_str()))
                    .map(|c| collection_node(&c.id, c.title.as_deref(), None)),
            );
            return Ok(nodes);
        };
        let collection = self.collection_of(node).await?;
        let items = self.contents(&collection, "collections").await?;
        Ok(items
            .iter()
            .filter(|v| {
                v.get("object_type")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t == "collections")
            })
            .filter_map(|v| {
                let id = v.get("id")?.as_str()?;
                Some(collection_node(
                    id,
                    v.get("title").and_then(Value::as_str),
                    Some(node.clone()),
                ))
            })
            .collect())
    }

    async fn list_assets(&self, node: &RemoteId) -> Result<Vec<Asset>> {
        let collection = self.collection_of(node).await?;
        let items = self.contents(&collection, "assets").await?;
        let mut out = Vec::new();
        for item in items {
            if item
                .get("object_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "assets")
            {
                continue;
            }
            let asset: IconikAsset =
                serde_json::from_value(item).map_err(|e| bad_response("asset", e))?;
            if asset.status.as_deref() == Some("DELETED") {
                continue;
            }
            out.push(self.asset_with_media(&asset, node.clone()).await?);
        }
        Ok(out)
    }

    async fn list_assets_since(&self, node: &RemoteId, since: &str) -> Result<Vec<Asset>> {
        let collection = self.collection_of(node).await?;
        let found = self.search_changed(since, Some(&collection)).await?;
        let mut out = Vec::with_capacity(found.len());
        for a in found
            .iter()
            .filter(|a| a.status.as_deref() != Some("DELETED"))
        {
            out.push(self.asset_with_media(a, node.clone()).await?);
        }
        Ok(out)
    }

    async fn media_source(&self, version: &Version) -> Result<MediaSource> {
        // A fresh signed URL every time (`bypass_url_cache`): one handed out earlier may be about
        // to expire, and Framenote never keeps one.
        let call = Call::get(self.url(
            "files",
            &format!(
                "v1/assets/{}/versions/{}/proxies/",
                version.asset, version.id
            ),
        ))
        .query("generate_signed_url", "true")
        .query("bypass_url_cache", "true");
        let proxies = self.all_keyset(call).await?;
        let proxy = proxies
            .iter()
            .find(|p| !matches!(p.status.as_deref(), Some("FAILED" | "DELETED" | "MISSING")))
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::NotFound,
                    "this version has no playable proxy yet",
                )
            })?;
        let url = match proxy.url.clone().filter(|u| !u.is_empty()) {
            Some(u) => u,
            None => {
                let d: DownloadUrl = self
                    .json(&Call::get(self.url(
                        "files",
                        &format!(
                            "v1/assets/{}/proxies/{}/download_url/",
                            version.asset, proxy.id
                        ),
                    )))
                    .await?;
                d.url
            }
        };
        // Signed: no iconik headers, which must never reach a storage host.
        Ok(MediaSource::Http {
            url,
            headers: Vec::new(),
            bytes: proxy.size,
        })
    }

    async fn list_notes(&self, version: &Version) -> Result<Vec<RemoteNote>> {
        let segs = self.segments(version).await?;
        Ok(segs
            .iter()
            .map(|s| mapping::segment_to_note(s, version))
            .collect())
    }

    async fn create_note(&self, note: &NewNote) -> Result<RemoteNote> {
        if let Some(word) = &note.status
            && mapping::approval_status(word).is_none()
        {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!("iconik has no approval status {word:?}"),
            ));
        }
        // A retry of a note whose first answer was lost finds it by its client id.
        if let Some(existing) = self
            .segment_by_client_id(&note.version, &note.client_id)
            .await?
        {
            if let Some(word) = &note.status {
                self.set_approval(&note.version, word).await?;
            }
            return Ok(mapping::segment_to_note(&existing, &note.version));
        }
        let body = serde_json::to_value(mapping::note_to_segment(note)).map_err(|e| {
            ConnectorError::new(ErrorKind::Rejected, format!("note not encodable: {e}"))
        })?;
        let call = Call::with_body(
            Method::POST,
            self.url(
                "assets",
                &format!("v1/assets/{}/segments/", note.version.asset),
            ),
            body,
        );
        let posted: Segment = match self.json(&call).await {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Offline | ErrorKind::Server | ErrorKind::BadResponse
                ) =>
            {
                // The answer was lost or garbled but iconik may have stored the comment.
                match self
                    .segment_by_client_id(&note.version, &note.client_id)
                    .await
                {
                    Ok(Some(s)) => s,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        if let Some(word) = &note.status {
            self.set_approval(&note.version, word).await?;
        }
        Ok(mapping::segment_to_note(&posted, &note.version))
    }

    async fn update_note(&self, version: &Version, note: &RemoteId, text: &str) -> Result<()> {
        let call = Call::with_body(
            Method::PATCH,
            self.url(
                "assets",
                &format!("v1/assets/{}/segments/{note}/", version.asset),
            ),
            json!({"segment_text": text}),
        );
        self.call(&call).await.map(|_| ())
    }

    async fn set_note_status(
        &self,
        version: &Version,
        note: &RemoteId,
        status: NoteStatus,
    ) -> Result<()> {
        let call = Call::with_body(
            Method::PATCH,
            self.url(
                "assets",
                &format!("v1/assets/{}/segments/{note}/", version.asset),
            ),
            json!({"segment_checked": status == NoteStatus::Resolved}),
        );
        self.call(&call).await.map(|_| ())
    }

    async fn write_drawing(
        &self,
        version: &Version,
        frames: FrameSpan,
        drawing: &Drawing,
        note_client_id: Option<&str>,
    ) -> Result<()> {
        // iconik drawings belong to a segment; Framenote's belong to its note's comment.
        let client_id = note_client_id.ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Rejected,
                "an iconik drawing must belong to a comment",
            )
        })?;
        let seg = self
            .segment_by_client_id(version, client_id)
            .await?
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::NotFound,
                    "the comment of this drawing is not on iconik yet",
                )
            })?;
        let rate = version.media.frame_rate;
        let prims =
            mapping::drawing_to_primitives(drawing, mapping::DrawingSpace::of(&version.media));
        let call = Call::with_body(
            Method::PATCH,
            self.url(
                "assets",
                &format!("v1/assets/{}/segments/{}/", version.asset, seg.id),
            ),
            json!({
                "drawing": if drawing.is_empty() { Value::Null } else { json!(prims) },
                "metadata": mapping::shape_ids_metadata(drawing),
                "time_start_milliseconds": timebase::frame_to_ms(frames.start, rate),
                "time_end_milliseconds": timebase::frame_to_ms(frames.end.max(frames.start), rate),
            }),
        );
        self.call(&call).await.map(|_| ())
    }

    async fn upload_resumable(
        &self,
        request: &UploadRequest,
        context: &UploadContext<'_>,
    ) -> Result<Version> {
        upload::resumable::upload(self, request, context).await
    }

    async fn abandon_upload(&self, checkpoint: &Value) -> Result<()> {
        upload::resumable::abandon(self, checkpoint).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_capabilities() {
        let c = IconikConnector::new(IconikConfig::new("http://127.0.0.1:1/")).unwrap();
        assert_eq!(
            c.url("assets", "v1/assets/"),
            "http://127.0.0.1:1/API/assets/v1/assets/"
        );
        let caps = c.capabilities();
        assert!(caps.notes && caps.drawings && caps.upload && !caps.mentions && !caps.live_events);
        assert!(c.session().is_none());
        // A token without an App-ID is not a usable session.
        c.set_session(Session {
            access_token: Some("t".into()),
            ..Session::default()
        });
        assert!(c.session().is_none());
        let mut cfg = IconikConfig::new("http://127.0.0.1:1");
        cfg.app_id = Some("app".into());
        let c = IconikConnector::new(cfg).unwrap();
        c.set_session(Session {
            access_token: Some("t".into()),
            ..Session::default()
        });
        assert_eq!(
            c.session().and_then(|s| s.access_token).as_deref(),
            Some("t")
        );
        assert_eq!(c.app_id().as_deref(), Some("app"));
    }
}
