//! The connector conformance suite: one list of steps that every platform's connector must pass
//! against its real server (or the platform's local stand-in), given a [`Fixture`].
//!
//! A fixture knows how to start and seed its server, which credentials to use, and how to look at
//! server-side state through the platform's own API (so a step can check that a drawing on frame N
//! really landed at the platform's time for frame N, not just that the connector reads back what it
//! wrote). The suite knows what a connector must do. Steps are plain functions in a list
//! ([`standard_steps`]); the sync/outbox work appends its own steps with [`Step::new`] and runs
//! them through the same [`run`]. A step the platform cannot do is reported as skipped with the
//! reason, never silently passed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use framenote_connectors::{
    Connector, Credentials, ErrorKind, MediaSource, NewNote, RemoteNote, Session,
};
use framenote_core::{
    Asset, Drawing, FrameRate, FrameSpan, Node, NoteStatus, Point, RemoteId, Shape, ShapeKind,
    Stroke, Version,
};
use framenote_tests::fault_proxy::{Fault, FaultAction, FaultProxy};
use futures::future::BoxFuture;

/// A connector routed through the fault-injecting proxy, signed in as the reviewer.
#[derive(Clone)]
pub struct Proxied {
    /// The connector, whose base URL is the proxy's.
    pub connector: Arc<dyn Connector>,
    /// The proxy in front of the real server.
    pub proxy: Arc<FaultProxy>,
    /// A path fragment of a cheap, idempotent listing call that `list_nodes(None)` makes, for
    /// the rate-limit and server-error steps (Kitsu: `/data/user/projects/open`).
    pub listing_path: String,
    /// A path fragment of the proxy media URL, for the resumable-download step.
    pub media_path: String,
}

/// A user the platform refuses something to, and what.
pub struct Denied {
    /// A connector for that user.
    pub connector: Arc<dyn Connector>,
    /// Their credentials.
    pub credentials: Credentials,
    /// What they are refused.
    pub action: DeniedAction,
}

/// What [`Denied`] is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeniedAction {
    /// Drawing on the target version.
    Drawing,
    /// Posting a note on the target version.
    Note,
}

/// Where the suite finds what it reviews, and what it must look like.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The asset's name as listed.
    pub asset_name: String,
    /// The version's frame rate.
    pub frame_rate: FrameRate,
    /// Its frame count, when the platform says.
    pub frame_count: Option<u64>,
    /// Picture size, when the platform says.
    pub size: Option<(u32, u32)>,
}

/// A version at a frame rate whose time unit conversion must be checked (23.976, 29.97 DF).
#[derive(Debug, Clone)]
pub struct RateCase {
    /// What the rate is called in the report.
    pub label: String,
    /// The version (listed through the connector).
    pub version: Version,
}

/// What the upload step uploads, and where it looks for the result.
#[derive(Debug, Clone)]
pub struct UploadCase {
    /// The local file.
    pub path: PathBuf,
    /// Where it goes (`UploadRequest::destination`: a folder, or a Kitsu task).
    pub destination: RemoteId,
    /// The node whose `list_assets` must then list the new version.
    pub listed_under: RemoteId,
}

/// What a platform provides to the suite.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// Name in the report.
    fn name(&self) -> &str;
    /// A fresh connector straight to the server.
    fn connector(&self) -> Arc<dyn Connector>;
    /// The reviewer: may note, reply, resolve and draw.
    fn reviewer(&self) -> Credentials;
    /// What the target asset and version look like.
    fn expected(&self) -> Expected;
    /// A connector through the fault proxy, when the platform is reached over HTTP.
    async fn proxied(&self) -> anyhow::Result<Option<Proxied>> {
        Ok(None)
    }
    /// A user refused something, when the platform has roles.
    async fn denied(&self) -> anyhow::Result<Option<Denied>> {
        Ok(None)
    }
    /// Makes the connector's access token unusable while keeping its refresh token, as if it
    /// had expired. The default garbles the token, which JWT platforms reject like an expired one.
    async fn expire_access_token(&self, connector: &dyn Connector) -> anyhow::Result<()> {
        let session = connector
            .session()
            .ok_or_else(|| anyhow::anyhow!("no session to expire"))?;
        let garbled = session.access_token.as_ref().map(|t| format!("{t}x"));
        connector.set_session(Session {
            access_token: garbled,
            ..session
        });
        Ok(())
    }
    /// Changes the target asset on the server through the platform's own API (as another user),
    /// so that an incremental listing since before the change must return it.
    async fn touch_asset_on_server(&self, asset: &Asset) -> anyhow::Result<bool> {
        let _ = asset;
        Ok(false)
    }
    /// The platform's own stored time (in its unit) of drawings for `frame` on `version`, read
    /// through its own API; `None` when it has no drawing there. Platforms without drawings
    /// return `Ok(None)` always.
    async fn server_drawing_time(
        &self,
        version: &Version,
        frame: u64,
    ) -> anyhow::Result<Option<f64>> {
        let _ = (version, frame);
        Ok(None)
    }
    /// The time, in the platform's unit, at which the platform itself files frame `frame` of
    /// a version at `rate` (Kitsu: `round4(frame × round4(1/fps))` seconds).
    fn platform_time_of(&self, rate: FrameRate, frame: u64) -> Option<f64> {
        let _ = (rate, frame);
        None
    }
    /// Versions at 23.976 and 29.97 DF to check the time conversion at, when the platform has them.
    async fn rate_cases(&self, connector: &dyn Connector) -> anyhow::Result<Vec<RateCase>> {
        let _ = connector;
        Ok(Vec::new())
    }
    /// A small media file to upload, when uploads are supported.
    async fn upload_source(&self, connector: &dyn Connector) -> anyhow::Result<Option<UploadCase>> {
        let _ = connector;
        Ok(None)
    }
    /// A task status (or equivalent) a reviewer's note may set, when notes change status.
    fn note_status(&self) -> Option<String> {
        None
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done and checked.
    Passed,
    /// Not applicable to this platform, and why.
    Skipped(String),
}

/// Everything a step can use: the fixture, a signed-in connector and what earlier steps found.
pub struct Suite<'a> {
    /// The platform's fixture.
    pub fixture: &'a dyn Fixture,
    /// Signed in as the reviewer by the `login` step.
    pub connector: Arc<dyn Connector>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    target: Option<(Node, Asset, Version)>,
    note: Option<RemoteNote>,
}

impl Suite<'_> {
    /// The node, asset and version under review, found by browsing on first use.
    pub async fn target(&self) -> anyhow::Result<(Node, Asset, Version)> {
        if let Some(found) = self.state.lock().map_err(poisoned)?.target.clone() {
            return Ok(found);
        }
        let found =
            find_asset(self.connector.as_ref(), &self.fixture.expected().asset_name).await?;
        self.state.lock().map_err(poisoned)?.target = Some(found.clone());
        Ok(found)
    }

    /// A note of ours on the target (created by `note_with_drawing`, or now).
    pub async fn note(&self) -> anyhow::Result<RemoteNote> {
        if let Some(note) = self.state.lock().map_err(poisoned)?.note.clone() {
            return Ok(note);
        }
        let (_, _, version) = self.target().await?;
        let note = self
            .connector
            .create_note(&new_note(&version, "conformance: a plain note", None, None))
            .await?;
        self.state.lock().map_err(poisoned)?.note = Some(note.clone());
        Ok(note)
    }
}

fn poisoned<T>(_: T) -> anyhow::Error {
    anyhow::anyhow!("suite state lock poisoned by an earlier panic")
}

/// A step's body.
pub type StepFn = for<'a> fn(&'a Suite<'a>) -> BoxFuture<'a, anyhow::Result<Outcome>>;

/// One named check.
#[derive(Clone, Copy)]
pub struct Step {
    /// Name in the report.
    pub name: &'static str,
    /// What it does.
    pub run: StepFn,
}

impl Step {
    /// A step from a name and a function.
    pub const fn new(name: &'static str, run: StepFn) -> Self {
        Self { name, run }
    }
}

/// The result of one run of the suite.
pub struct Report {
    /// Fixture name.
    pub platform: String,
    /// (step, outcome or failure message, duration).
    pub steps: Vec<(&'static str, Result<Outcome, String>, Duration)>,
}

impl Report {
    /// Prints the table and panics listing every failed step.
    pub fn assert_passed(&self) {
        let mut failed = Vec::new();
        eprintln!("conformance: {}", self.platform);
        for (name, outcome, took) in &self.steps {
            let shown = match outcome {
                Ok(Outcome::Passed) => "passed".to_owned(),
                Ok(Outcome::Skipped(why)) => format!("skipped ({why})"),
                Err(e) => {
                    failed.push(format!("{name}: {e}"));
                    format!("FAILED: {e}")
                }
            };
            eprintln!("  {name:<28} {:>7.2}s  {shown}", took.as_secs_f64());
        }
        assert!(
            failed.is_empty(),
            "{} conformance failures:\n{}",
            self.platform,
            failed.join("\n")
        );
    }
}

/// Runs `steps` in order against `fixture`. `login` must come first: it signs the connector in.
pub async fn run(fixture: &dyn Fixture, steps: &[Step]) -> Report {
    let suite = Suite {
        fixture,
        connector: fixture.connector(),
        state: Mutex::new(State::default()),
    };
    let mut report = Report {
        platform: fixture.name().to_owned(),
        steps: Vec::new(),
    };
    for step in steps {
        let started = Instant::now();
        // A hung step must not hang CI: each gets two minutes.
        let outcome = match tokio::time::timeout(Duration::from_secs(120), (step.run)(&suite)).await
        {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(_) => Err("timed out after 120 s".to_owned()),
        };
        report.steps.push((step.name, outcome, started.elapsed()));
    }
    report
}

/// Every step, in the order they build on each other.
pub fn standard_steps() -> Vec<Step> {
    vec![
        Step::new("login", |s| Box::pin(login(s))),
        Step::new("bad_password", |s| Box::pin(bad_password(s))),
        Step::new("refresh_on_expiry", |s| Box::pin(refresh_on_expiry(s))),
        Step::new("browse", |s| Box::pin(browse(s))),
        Step::new("sync_listing", |s| Box::pin(sync_listing(s))),
        Step::new("incremental_listing", |s| Box::pin(incremental_listing(s))),
        Step::new("proxy_download_range", |s| {
            Box::pin(proxy_download_range(s))
        }),
        Step::new("note_with_drawing", |s| Box::pin(note_with_drawing(s))),
        Step::new("note_through_the_outbox", |s| {
            Box::pin(note_through_the_outbox(s))
        }),
        Step::new("note_retry_recognised", |s| {
            Box::pin(note_retry_recognised(s))
        }),
        Step::new("time_unit_conversion", |s| {
            Box::pin(time_unit_conversion(s))
        }),
        Step::new("reply", |s| Box::pin(reply(s))),
        Step::new("edit_note", |s| Box::pin(edit_note(s))),
        Step::new("resolve", |s| Box::pin(resolve(s))),
        Step::new("upload", |s| Box::pin(upload(s))),
        Step::new("rate_limit_respected", |s| {
            Box::pin(rate_limit_respected(s))
        }),
        Step::new("server_error_retried", |s| {
            Box::pin(server_error_retried(s))
        }),
        Step::new("malformed_answer", |s| Box::pin(malformed_answer(s))),
        Step::new("permission_denied", |s| Box::pin(permission_denied(s))),
    ]
}

/// Walks the browse tree breadth-first until an asset named `name` turns up.
pub async fn find_asset(
    connector: &dyn Connector,
    name: &str,
) -> anyhow::Result<(Node, Asset, Version)> {
    let mut queue: std::collections::VecDeque<Node> = connector.list_nodes(None).await?.into();
    let mut visited = 0;
    while let Some(node) = queue.pop_front() {
        visited += 1;
        anyhow::ensure!(
            visited < 500,
            "browse tree too large while looking for {name}"
        );
        let assets = connector.list_assets(&node.id).await?;
        if let Some(asset) = assets.into_iter().find(|a| a.name == name) {
            let version = asset
                .versions
                .last()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("asset {name} has no version"))?;
            return Ok((node, asset, version));
        }
        queue.extend(connector.list_nodes(Some(&node.id)).await?);
    }
    anyhow::bail!("no asset named {name} anywhere in the browse tree")
}

/// A note of ours with a fresh client id.
pub fn new_note(
    version: &Version,
    text: &str,
    frame: Option<u64>,
    drawing: Option<Drawing>,
) -> NewNote {
    NewNote {
        client_id: uuid::Uuid::now_v7().to_string(),
        version: version.clone(),
        parent: None,
        text: text.to_owned(),
        frames: frame.map(FrameSpan::frame),
        drawing,
        status: None,
    }
}

/// An arrow and a rectangle, in normalised coordinates.
pub fn arrow_and_rect() -> Drawing {
    Drawing::from_shapes(vec![
        Shape {
            id: uuid::Uuid::new_v4().to_string(),
            kind: ShapeKind::Arrow {
                from: Point { x: 0.25, y: 0.5 },
                to: Point { x: 0.5, y: 0.25 },
            },
            stroke: Stroke {
                color: "#ff3b30".to_owned(),
                width: 4.0 / 360.0,
            },
        },
        Shape {
            id: uuid::Uuid::new_v4().to_string(),
            kind: ShapeKind::Rect {
                origin: Point { x: 0.5, y: 0.5 },
                width: 0.25,
                height: 0.125,
            },
            stroke: Stroke {
                color: "#0000ff".to_owned(),
                width: 2.0 / 360.0,
            },
        },
    ])
}

/// Whether two drawings are the same up to float noise from the platform's pixel round trip.
pub fn same_drawing(a: &Drawing, b: &Drawing) -> bool {
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }
    fn point(a: &Point, b: &Point) -> bool {
        close(a.x, b.x) && close(a.y, b.y)
    }
    a.shapes.len() == b.shapes.len()
        && a.shapes.iter().all(|sa| {
            b.shapes.iter().any(|sb| {
                sa.id == sb.id
                    && sa.stroke.color.eq_ignore_ascii_case(&sb.stroke.color)
                    && close(sa.stroke.width, sb.stroke.width)
                    && match (&sa.kind, &sb.kind) {
                        (
                            ShapeKind::Arrow { from: f1, to: t1 },
                            ShapeKind::Arrow { from: f2, to: t2 },
                        )
                        | (
                            ShapeKind::Line { from: f1, to: t1 },
                            ShapeKind::Line { from: f2, to: t2 },
                        ) => point(f1, f2) && point(t1, t2),
                        (
                            ShapeKind::Rect {
                                origin: o1,
                                width: w1,
                                height: h1,
                            },
                            ShapeKind::Rect {
                                origin: o2,
                                width: w2,
                                height: h2,
                            },
                        ) => point(o1, o2) && close(*w1, *w2) && close(*h1, *h2),
                        (
                            ShapeKind::Ellipse {
                                center: c1,
                                rx: x1,
                                ry: y1,
                            },
                            ShapeKind::Ellipse {
                                center: c2,
                                rx: x2,
                                ry: y2,
                            },
                        ) => point(c1, c2) && close(*x1, *x2) && close(*y1, *y2),
                        (ShapeKind::Pen { points: p1 }, ShapeKind::Pen { points: p2 }) => {
                            p1.len() == p2.len() && p1.iter().zip(p2).all(|(a, b)| point(a, b))
                        }
                        (
                            ShapeKind::Text {
                                at: a1,
                                text: t1,
                                size: s1,
                            },
                            ShapeKind::Text {
                                at: a2,
                                text: t2,
                                size: s2,
                            },
                        ) => point(a1, a2) && t1 == t2 && close(*s1, *s2),
                        _ => false,
                    }
            })
        })
}

async fn login(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let session = s.connector.authenticate(&s.fixture.reviewer()).await?;
    anyhow::ensure!(
        s.connector.session().as_ref() == Some(&session),
        "the connector must keep the session it returns"
    );
    Ok(Outcome::Passed)
}

async fn bad_password(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let Credentials::Password { user, .. } = s.fixture.reviewer() else {
        return Ok(Outcome::Skipped(
            "the platform signs in without a password".into(),
        ));
    };
    let fresh = s.fixture.connector();
    let wrong = Credentials::Password {
        user,
        password: "definitely-not-the-password".into(),
    };
    match fresh.authenticate(&wrong).await {
        Ok(_) => anyhow::bail!("a wrong password was accepted"),
        Err(e) if e.kind == ErrorKind::LoginRequired => Ok(Outcome::Passed),
        Err(e) => anyhow::bail!(
            "a wrong password gave {:?} ({e}), want LoginRequired",
            e.kind
        ),
    }
}

async fn refresh_on_expiry(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let before = s
        .connector
        .session()
        .ok_or_else(|| anyhow::anyhow!("not signed in"))?;
    if before.refresh_token.is_none() {
        return Ok(Outcome::Skipped(
            "the platform issues no refresh token".into(),
        ));
    }
    s.fixture.expire_access_token(s.connector.as_ref()).await?;
    // Any authenticated call must notice, refresh by itself, and succeed.
    let roots = s.connector.list_nodes(None).await?;
    anyhow::ensure!(!roots.is_empty(), "no roots after refreshing");
    let after = s
        .connector
        .session()
        .ok_or_else(|| anyhow::anyhow!("session lost"))?;
    anyhow::ensure!(
        after.access_token != before.access_token,
        "the access token was not renewed"
    );
    // An explicit refresh works too.
    let again = s.connector.refresh(&after).await?;
    anyhow::ensure!(
        again.access_token.is_some(),
        "refresh returned no access token"
    );
    // With the refresh token gone as well, the answer is "sign in again", not a crash or a loop.
    let dead = s.fixture.connector();
    dead.set_session(Session {
        access_token: Some("not-a-token".into()),
        refresh_token: Some("not-a-token-either".into()),
        ..Session::default()
    });
    match dead.list_nodes(None).await {
        Err(e) if e.kind == ErrorKind::LoginRequired => Ok(Outcome::Passed),
        Err(e) => anyhow::bail!("dead tokens gave {:?} ({e}), want LoginRequired", e.kind),
        Ok(_) => anyhow::bail!("dead tokens were accepted"),
    }
}

async fn browse(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let roots = s.connector.list_nodes(None).await?;
    anyhow::ensure!(!roots.is_empty(), "no root nodes");
    anyhow::ensure!(
        roots.iter().all(|n| n.parent.is_none()),
        "a root node has a parent"
    );
    let (node, asset, version) = s.target().await?;
    anyhow::ensure!(
        asset.parent == node.id,
        "asset's parent {} is not its node {}",
        asset.parent,
        node.id
    );
    anyhow::ensure!(
        version.asset == asset.id,
        "version's asset is not its asset"
    );
    let expected = s.fixture.expected();
    anyhow::ensure!(
        version.media.frame_rate == expected.frame_rate,
        "frame rate {:?}, want {:?}",
        version.media.frame_rate,
        expected.frame_rate
    );
    if let Some(count) = expected.frame_count {
        anyhow::ensure!(
            version.media.frame_count == Some(count),
            "frame count {:?}, want {count}",
            version.media.frame_count
        );
    }
    if let Some((w, h)) = expected.size {
        anyhow::ensure!(
            (version.media.width, version.media.height) == (Some(w), Some(h)),
            "size {:?}x{:?}, want {w}x{h}",
            version.media.width,
            version.media.height
        );
    }
    Ok(Outcome::Passed)
}

async fn sync_listing(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    // Two full listings in a row agree: ids are stable, which is what the cache keys on.
    let (node, _, _) = s.target().await?;
    let first = s.connector.list_assets(&node.id).await?;
    let second = s.connector.list_assets(&node.id).await?;
    let ids = |v: &[Asset]| {
        let mut ids: Vec<_> = v
            .iter()
            .flat_map(|a| a.versions.iter().map(|v| v.id.clone()))
            .collect();
        ids.sort();
        ids
    };
    anyhow::ensure!(
        ids(&first) == ids(&second),
        "two listings disagree on version ids"
    );
    anyhow::ensure!(
        first
            .iter()
            .all(|a| a.versions.windows(2).all(|w| w[0].number < w[1].number)),
        "versions are not listed oldest first"
    );
    Ok(Outcome::Passed)
}

async fn incremental_listing(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let (node, asset, _) = s.target().await?;
    // Far future: nothing changed since then.
    let future = s
        .connector
        .list_assets_since(&node.id, "2999-01-01T00:00:00Z")
        .await?;
    anyhow::ensure!(
        future.iter().all(|a| a.updated_at.is_none()),
        "assets listed as changed after 2999"
    );
    let since = chrono_now_minus(2);
    if !s.fixture.touch_asset_on_server(&asset).await? {
        return Ok(Outcome::Skipped(
            "the fixture cannot change an asset server-side".into(),
        ));
    }
    let changed = s.connector.list_assets_since(&node.id, &since).await?;
    anyhow::ensure!(
        changed.iter().any(|a| a.id == asset.id),
        "the asset changed on the server is missing from the incremental listing since {since}"
    );
    Ok(Outcome::Passed)
}

fn chrono_now_minus(seconds: u64) -> String {
    let now = std::time::SystemTime::now() - Duration::from_secs(seconds);
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // RFC 3339 by hand keeps chrono out of the test crate's direct dependencies.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

async fn proxy_download_range(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let Some(proxied) = s.fixture.proxied().await? else {
        let (_, _, version) = s.target().await?;
        return match s.connector.media_source(&version).await? {
            MediaSource::File(path) => {
                anyhow::ensure!(path.is_file(), "media file {} missing", path.display());
                Ok(Outcome::Skipped(
                    "media is a local file: nothing to download".into(),
                ))
            }
            MediaSource::Http { .. } => {
                anyhow::bail!("the fixture gives no proxy for an HTTP platform")
            }
        };
    };
    let (_, _, version) = s.target().await?;
    let direct = s.connector.media_source(&version).await?;
    let MediaSource::Http { url, headers, .. } = direct else {
        anyhow::bail!("an HTTP platform gave a file path");
    };
    let http = framenote_connectors::http::HttpClient::new(Default::default())?;
    let dir = tempfile::tempdir()?;
    let whole = dir.path().join("whole.mp4");
    let plain =
        framenote_connectors::http::download_resumable(&http, &url, &headers, &whole, &|_, _| {})
            .await?;
    anyhow::ensure!(
        plain.bytes > 1000 && plain.resumed_from == 0,
        "plain download: {plain:?}"
    );
    let reference = std::fs::read(&whole)?;
    // Through the proxy, the connection drops after 1000 bytes: the helper must resume with Range.
    let via = proxied.connector.media_source(&version).await?;
    let MediaSource::Http { url, headers, .. } = via else {
        anyhow::bail!("an HTTP platform gave a file path");
    };
    proxied.proxy.inject(Fault {
        method: Some("GET".into()),
        path_contains: proxied.media_path.clone(),
        action: FaultAction::CutBody { bytes: 1000 },
        times: 1,
    });
    let cut = dir.path().join("cut.mp4");
    let resumed =
        framenote_connectors::http::download_resumable(&http, &url, &headers, &cut, &|_, _| {})
            .await?;
    anyhow::ensure!(
        resumed.attempts == 2,
        "expected one interrupted and one resumed attempt: {resumed:?}"
    );
    anyhow::ensure!(
        std::fs::read(&cut)? == reference,
        "resumed download differs from a plain one"
    );
    // And a partial file left by an earlier run is resumed, not restarted.
    let partial = dir.path().join("partial.mp4");
    std::fs::write(dir.path().join("partial.mp4.part"), &reference[..2000])?;
    let head = http
        .client()
        .head(&url)
        .headers(to_header_map(&headers)?)
        .send()
        .await?;
    let validator = head
        .headers()
        .get("etag")
        .or_else(|| head.headers().get("last-modified"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if validator.is_empty() {
        return Ok(Outcome::Skipped(
            "the platform gives no ETag/Last-Modified, so partial files restart".into(),
        ));
    }
    std::fs::write(dir.path().join("partial.mp4.part.validator"), validator)?;
    let again =
        framenote_connectors::http::download_resumable(&http, &url, &headers, &partial, &|_, _| {})
            .await?;
    anyhow::ensure!(
        again.resumed_from == 2000,
        "did not resume a partial file: {again:?}"
    );
    anyhow::ensure!(
        std::fs::read(&partial)? == reference,
        "resumed partial file differs"
    );
    Ok(Outcome::Passed)
}

fn to_header_map(headers: &[(String, String)]) -> anyhow::Result<reqwest::header::HeaderMap> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes())?,
            reqwest::header::HeaderValue::from_str(v)?,
        );
    }
    Ok(map)
}

/// The frame the drawing steps use: not 0, not a round second.
const NOTE_FRAME: u64 = 17;

async fn note_with_drawing(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let caps = s.connector.capabilities();
    if !caps.notes {
        return Ok(Outcome::Skipped("the platform has no notes".into()));
    }
    let (_, _, version) = s.target().await?;
    let drawing = caps.drawings.then(arrow_and_rect);
    let mut note = new_note(
        &version,
        "conformance: note on frame 17",
        Some(NOTE_FRAME),
        drawing.clone(),
    );
    note.status = s.fixture.note_status();
    let created = s.connector.create_note(&note).await?;
    anyhow::ensure!(
        created.frames == Some(FrameSpan::frame(NOTE_FRAME)),
        "created on {:?}",
        created.frames
    );
    let listed = s.connector.list_notes(&version).await?;
    let found = listed
        .iter()
        .find(|n| n.id == created.id)
        .ok_or_else(|| anyhow::anyhow!("the new note is not listed"))?;
    anyhow::ensure!(
        found.text == note.text,
        "text read back as {:?}",
        found.text
    );
    anyhow::ensure!(
        found.frames == Some(FrameSpan::frame(NOTE_FRAME)),
        "read back on {:?}",
        found.frames
    );
    anyhow::ensure!(
        found.client_id.as_deref() == Some(note.client_id.as_str()),
        "client id not kept"
    );
    if let Some(drawing) = &drawing {
        let back = found
            .drawing
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the drawing did not come back with the note"))?;
        anyhow::ensure!(
            same_drawing(drawing, back),
            "drawing read back differs:\n{drawing:?}\n{back:?}"
        );
        if let Some(want) = s
            .fixture
            .platform_time_of(version.media.frame_rate, NOTE_FRAME)
        {
            let stored = s.fixture.server_drawing_time(&version, NOTE_FRAME).await?;
            anyhow::ensure!(
                stored.is_some_and(|t| (t - want).abs() < 1e-9),
                "the server holds the drawing at {stored:?}, want {want} for frame {NOTE_FRAME}"
            );
        }
    }
    s.state.lock().map_err(poisoned)?.note = Some(created);
    Ok(Outcome::Passed)
}

/// The app's path for a note: written to the cache and the outbox while nothing is sent, then
/// posted by the sync engine's flush, and read back from the platform on its frame with its
/// drawing. A platform without notes keeps the note locally and exports it.
async fn note_through_the_outbox(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let (_, _, version) = s.target().await?;
    let caps = s.connector.capabilities();
    let data = tempfile::tempdir()?;
    let connector = s.connector.clone();
    let factory: framenote_sync::ConnectorFactory =
        Arc::new(move |_account, _dir| Ok(connector.clone()));
    let config = framenote_sync::SyncConfig {
        secrets: framenote_sync::SecretPreference::File,
        ..framenote_sync::SyncConfig::default()
    };
    let engine = framenote_sync::SyncEngine::open(data.path(), factory, config).await?;
    let account = engine
        .login(
            s.connector.platform(),
            "conformance",
            &s.fixture.reviewer(),
            None,
            None,
        )
        .await?
        .id;
    let cancel = framenote_sync::cancellation();
    engine
        .pull(
            &account,
            framenote_sync::PullOptions { full: true },
            &cancel,
        )
        .await?;
    let frame = NOTE_FRAME + 3;
    let drawing = caps.drawings.then(arrow_and_rect);
    let text = format!(
        "conformance: through the outbox {}",
        uuid::Uuid::new_v4().simple()
    );
    let local = engine
        .cache()
        .create_local_note(&framenote_cache::NewLocalNote {
            account: account.clone(),
            version: version.id.clone(),
            parent: None,
            author: "conformance".into(),
            text: text.clone(),
            frames: Some(FrameSpan::frame(frame)),
            drawing: drawing.clone(),
            platform_status: s.fixture.note_status(),
        })
        .await?;
    if !caps.notes {
        // Sony Ci: nothing to post to; the note stays here and leaves by export.
        let export = engine.notes_csv(&account).await?;
        anyhow::ensure!(export.csv.contains(&text), "the local note is exported");
        return Ok(Outcome::Skipped(
            "the platform has no notes: kept locally and exported".into(),
        ));
    }
    let report = engine.push(&account, &cancel).await?;
    anyhow::ensure!(
        report.sent == 1 && report.failed_total == 0,
        "outbox flush: {report:?}"
    );
    let stored = engine
        .cache()
        .notes_for_version(&account, &version.id)
        .await?
        .into_iter()
        .find(|n| n.note.id == local.note.id)
        .ok_or_else(|| anyhow::anyhow!("the local note is gone from the cache"))?;
    anyhow::ensure!(
        stored.sync_state == framenote_cache::NoteSyncState::Sent,
        "state after the flush: {:?}",
        stored.sync_state
    );
    let listed = s.connector.list_notes(&version).await?;
    let found = listed
        .iter()
        .find(|n| n.text == text)
        .ok_or_else(|| anyhow::anyhow!("the platform does not list the note"))?;
    anyhow::ensure!(
        found.frames == Some(FrameSpan::frame(frame)),
        "read back on {:?}, written on frame {frame}",
        found.frames
    );
    if let Some(drawing) = &drawing {
        let back = found
            .drawing
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the drawing did not come back"))?;
        anyhow::ensure!(same_drawing(drawing, back), "drawing read back differs");
    }
    Ok(Outcome::Passed)
}

async fn note_retry_recognised(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    if !s.connector.capabilities().notes {
        return Ok(Outcome::Skipped("the platform has no notes".into()));
    }
    let (_, _, version) = s.target().await?;
    // The same client id posted twice (a retry after a lost answer) must give one note.
    let note = new_note(&version, "conformance: posted twice", Some(3), None);
    let first = s.connector.create_note(&note).await?;
    let second = s.connector.create_note(&note).await?;
    anyhow::ensure!(
        first.id == second.id,
        "a retried note was duplicated: {} and {}",
        first.id,
        second.id
    );
    let count = s
        .connector
        .list_notes(&version)
        .await?
        .iter()
        .filter(|n| n.client_id.as_deref() == Some(note.client_id.as_str()))
        .count();
    anyhow::ensure!(count == 1, "{count} notes carry one client id");
    Ok(Outcome::Passed)
}

async fn time_unit_conversion(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    if !s.connector.capabilities().drawings {
        return Ok(Outcome::Skipped("the platform has no drawings".into()));
    }
    let cases = s.fixture.rate_cases(s.connector.as_ref()).await?;
    if cases.is_empty() {
        return Ok(Outcome::Skipped(
            "no 23.976 / 29.97 DF versions on this platform".into(),
        ));
    }
    for case in cases {
        for frame in [1u64, 17, 1001] {
            let frame = match case.version.media.frame_count {
                Some(n) if n > 0 => frame.min(n - 1),
                _ => frame,
            };
            let drawing = arrow_and_rect();
            let note = new_note(
                &case.version,
                &format!("conformance: {} frame {frame}", case.label),
                Some(frame),
                Some(drawing.clone()),
            );
            let created = s.connector.create_note(&note).await?;
            let listed = s.connector.list_notes(&case.version).await?;
            let found = listed
                .iter()
                .find(|n| n.id == created.id)
                .ok_or_else(|| anyhow::anyhow!("{}: note not listed", case.label))?;
            anyhow::ensure!(
                found.frames == Some(FrameSpan::frame(frame)),
                "{}: frame {frame} read back as {:?}",
                case.label,
                found.frames
            );
            let back = found
                .drawing
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("{}: drawing lost", case.label))?;
            anyhow::ensure!(
                same_drawing(&drawing, back),
                "{}: drawing differs",
                case.label
            );
            if let Some(want) = s
                .fixture
                .platform_time_of(case.version.media.frame_rate, frame)
            {
                let stored = s.fixture.server_drawing_time(&case.version, frame).await?;
                anyhow::ensure!(
                    stored.is_some_and(|t| (t - want).abs() < 1e-9),
                    "{}: server time {stored:?}, want {want} for frame {frame}",
                    case.label
                );
            }
        }
    }
    Ok(Outcome::Passed)
}

async fn reply(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    if !s.connector.capabilities().replies {
        return Ok(Outcome::Skipped("the platform has no replies".into()));
    }
    let parent = s.note().await?;
    let (_, _, version) = s.target().await?;
    let mut answer = new_note(&version, "conformance: a reply", None, None);
    answer.parent = Some(parent.id.clone());
    let created = s.connector.create_note(&answer).await?;
    anyhow::ensure!(
        created.parent.as_ref() == Some(&parent.id),
        "reply's parent is {:?}",
        created.parent
    );
    let listed = s.connector.list_notes(&version).await?;
    anyhow::ensure!(
        listed
            .iter()
            .any(|n| n.parent.as_ref() == Some(&parent.id) && n.text == answer.text),
        "the reply is not listed under its note"
    );
    Ok(Outcome::Passed)
}

async fn edit_note(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    if !s.connector.capabilities().notes {
        return Ok(Outcome::Skipped("the platform has no notes".into()));
    }
    let note = s.note().await?;
    let (_, _, version) = s.target().await?;
    let text = "conformance: edited text";
    match s.connector.update_note(&version, &note.id, text).await {
        Err(e) if e.kind == ErrorKind::Unsupported => {
            return Ok(Outcome::Skipped(format!("notes cannot be edited: {e}")));
        }
        other => other?,
    }
    let listed = s.connector.list_notes(&version).await?;
    let found = listed
        .iter()
        .find(|n| n.id == note.id)
        .ok_or_else(|| anyhow::anyhow!("the edited note is gone"))?;
    anyhow::ensure!(found.text == text, "text after edit: {:?}", found.text);
    // What the platform keeps for us must survive an edit: the client id and the frames.
    anyhow::ensure!(
        found.client_id == note.client_id,
        "client id lost in the edit"
    );
    anyhow::ensure!(
        found.frames == note.frames,
        "frames changed by the edit: {:?}",
        found.frames
    );
    Ok(Outcome::Passed)
}

async fn resolve(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    if !s.connector.capabilities().resolve {
        return Ok(Outcome::Skipped("the platform cannot resolve notes".into()));
    }
    let note = s.note().await?;
    let (_, _, version) = s.target().await?;
    let status_of = |notes: &[RemoteNote]| notes.iter().find(|n| n.id == note.id).map(|n| n.status);
    s.connector
        .set_note_status(&version, &note.id, NoteStatus::Resolved)
        .await?;
    // Twice: setting a state it already has must not flip it back (Kitsu's ack toggles).
    s.connector
        .set_note_status(&version, &note.id, NoteStatus::Resolved)
        .await?;
    let listed = s.connector.list_notes(&version).await?;
    anyhow::ensure!(
        status_of(&listed) == Some(NoteStatus::Resolved),
        "not resolved: {:?}",
        status_of(&listed)
    );
    s.connector
        .set_note_status(&version, &note.id, NoteStatus::Open)
        .await?;
    let listed = s.connector.list_notes(&version).await?;
    anyhow::ensure!(
        status_of(&listed) == Some(NoteStatus::Open),
        "not reopened: {:?}",
        status_of(&listed)
    );
    Ok(Outcome::Passed)
}

async fn upload(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    if !s.connector.capabilities().upload {
        return Ok(Outcome::Skipped("the platform takes no uploads".into()));
    }
    let Some(UploadCase {
        path,
        destination,
        listed_under,
    }) = s.fixture.upload_source(s.connector.as_ref()).await?
    else {
        return Ok(Outcome::Skipped("the fixture has no upload source".into()));
    };
    let size = std::fs::metadata(&path)?.len();
    let last = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = Arc::clone(&last);
    let request = framenote_connectors::UploadRequest {
        path,
        destination: destination.clone(),
        name: "conformance-upload.mp4".into(),
        comment: Some("conformance: uploaded".into()),
        subfolder: Vec::new(),
        version_hint: None,
    };
    let version = s
        .connector
        .upload(&request, &move |sent| {
            seen.store(sent, std::sync::atomic::Ordering::Relaxed)
        })
        .await?;
    anyhow::ensure!(
        last.load(std::sync::atomic::Ordering::Relaxed) == size,
        "progress ended at {} of {size} bytes",
        last.load(std::sync::atomic::Ordering::Relaxed)
    );
    let assets = s.connector.list_assets(&listed_under).await?;
    anyhow::ensure!(
        assets
            .iter()
            .any(|a| a.versions.iter().any(|v| v.id == version.id)),
        "the uploaded version is not listed"
    );
    Ok(Outcome::Passed)
}

async fn rate_limit_respected(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let Some(p) = s.fixture.proxied().await? else {
        return Ok(Outcome::Skipped("not reached over HTTP".into()));
    };
    let before = p.proxy.seen(&p.listing_path).len();
    p.proxy.inject(Fault::rate_limit(&p.listing_path, 1));
    let started = Instant::now();
    p.connector.list_nodes(None).await?;
    let seen = p.proxy.seen(&p.listing_path);
    let ours = &seen[before..];
    anyhow::ensure!(
        ours.len() >= 2 && ours[0].faulted,
        "the 429 was not retried: {ours:?}"
    );
    let waited = ours[1].at.duration_since(ours[0].at);
    anyhow::ensure!(
        waited >= Duration::from_millis(950),
        "retried {waited:?} after a 429 with Retry-After: 1"
    );
    // A Retry-After longer than the in-line budget comes back as RateLimited with the delay.
    p.proxy.inject(Fault::rate_limit(&p.listing_path, 3600));
    match p.connector.list_nodes(None).await {
        Err(e)
            if e.kind == ErrorKind::RateLimited
                && e.retry_after == Some(Duration::from_secs(3600)) => {}
        Err(e) => anyhow::bail!(
            "long Retry-After gave {:?} / {:?} ({e})",
            e.kind,
            e.retry_after
        ),
        Ok(_) => anyhow::bail!("a long Retry-After was waited out in-line"),
    }
    let _ = started;
    Ok(Outcome::Passed)
}

async fn server_error_retried(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let Some(p) = s.fixture.proxied().await? else {
        return Ok(Outcome::Skipped("not reached over HTTP".into()));
    };
    // Two 500s, then the real answer: an idempotent listing must come through.
    p.proxy.inject(Fault::status(&p.listing_path, 500, 2));
    p.connector.list_nodes(None).await?;
    // Past the budget, it is a Server error (transient), not a crash or a hang.
    p.proxy.inject(Fault::status(&p.listing_path, 503, 50));
    let outcome = p.connector.list_nodes(None).await;
    p.proxy.clear();
    match outcome {
        Err(e) if e.kind == ErrorKind::Server && e.kind.is_transient() => Ok(Outcome::Passed),
        Err(e) => anyhow::bail!("persistent 503 gave {:?} ({e})", e.kind),
        Ok(_) => anyhow::bail!("persistent 503 was reported as success"),
    }
}

async fn malformed_answer(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let Some(p) = s.fixture.proxied().await? else {
        return Ok(Outcome::Skipped("not reached over HTTP".into()));
    };
    p.proxy.inject(Fault {
        method: None,
        path_contains: p.listing_path.clone(),
        action: FaultAction::Malformed,
        times: 1,
    });
    match p.connector.list_nodes(None).await {
        Err(e) if e.kind == ErrorKind::BadResponse => Ok(Outcome::Passed),
        Err(e) => anyhow::bail!("malformed JSON gave {:?} ({e})", e.kind),
        Ok(_) => anyhow::bail!("malformed JSON was accepted"),
    }
}

async fn permission_denied(s: &Suite<'_>) -> anyhow::Result<Outcome> {
    let Some(denied) = s.fixture.denied().await? else {
        return Ok(Outcome::Skipped(
            "the platform has no role that is refused".into(),
        ));
    };
    denied.connector.authenticate(&denied.credentials).await?;
    let (_, _, version) = s.target().await?;
    let outcome = match denied.action {
        DeniedAction::Drawing => {
            denied
                .connector
                .write_drawing(
                    &version,
                    FrameSpan::frame(NOTE_FRAME),
                    &arrow_and_rect(),
                    Some("conformance-denied"),
                )
                .await
        }
        DeniedAction::Note => denied
            .connector
            .create_note(&new_note(&version, "conformance: refused", None, None))
            .await
            .map(|_| ()),
    };
    match outcome {
        Err(e) if e.kind == ErrorKind::Forbidden && !e.kind.is_transient() => Ok(Outcome::Passed),
        Err(e) => anyhow::bail!(
            "{:?} refused as {:?} ({e}), want Forbidden",
            denied.action,
            e.kind
        ),
        Ok(()) => anyhow::bail!("{:?} was allowed", denied.action),
    }
}

/// The local-folder library through the same suite: no server, so the HTTP steps skip.
mod local_fixture {
    use super::*;
    use framenote_connectors::local::{LocalConnector, Probe, ROOT_ID};
    use framenote_core::MediaInfo;

    /// Reads frame facts with ffprobe (the app injects the player's GStreamer probe instead).
    fn ffprobe() -> Probe {
        Arc::new(|path: &std::path::Path| {
            let out = std::process::Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-select_streams",
                    "v:0",
                    "-count_frames",
                    "-show_entries",
                ])
                .args([
                    "stream=r_frame_rate,nb_read_frames,width,height",
                    "-of",
                    "json",
                ])
                .arg(path)
                .output()
                .map_err(|e| e.to_string())?;
            let facts: serde_json::Value =
                serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            let s = &facts["streams"][0];
            let (num, den) = s["r_frame_rate"]
                .as_str()
                .and_then(|r| r.split_once('/'))
                .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
                .ok_or("no frame rate")?;
            Ok(MediaInfo {
                frame_rate: FrameRate::new(num, den),
                start_timecode: None,
                first_frame: 0,
                frame_count: s["nb_read_frames"].as_str().and_then(|n| n.parse().ok()),
                width: s["width"].as_u64().map(|w| w as u32),
                height: s["height"].as_u64().map(|h| h as u32),
                bytes: None,
            })
        })
    }

    struct LocalFixture {
        media: tempfile::TempDir,
        state: tempfile::TempDir,
        upload: PathBuf,
    }

    #[async_trait]
    impl Fixture for LocalFixture {
        fn name(&self) -> &str {
            "Local folder"
        }
        fn connector(&self) -> Arc<dyn Connector> {
            Arc::new(LocalConnector::new(
                self.media.path(),
                self.state.path(),
                ffprobe(),
            ))
        }
        fn reviewer(&self) -> Credentials {
            Credentials::None
        }
        fn expected(&self) -> Expected {
            Expected {
                asset_name: "shot.mp4".into(),
                frame_rate: FrameRate::new(24000, 1001),
                frame_count: Some(48),
                size: Some((320, 180)),
            }
        }
        async fn touch_asset_on_server(&self, asset: &Asset) -> anyhow::Result<bool> {
            let path = self.media.path().join(asset.id.as_str());
            let file = std::fs::OpenOptions::new().append(true).open(path)?;
            file.set_modified(std::time::SystemTime::now())?;
            Ok(true)
        }
        async fn upload_source(
            &self,
            _connector: &dyn Connector,
        ) -> anyhow::Result<Option<UploadCase>> {
            Ok(Some(UploadCase {
                path: self.upload.clone(),
                destination: RemoteId::new(ROOT_ID),
                listed_under: RemoteId::new(ROOT_ID),
            }))
        }
    }

    fn make_clip(path: &std::path::Path, rate: &str, frames: u32) {
        let status = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("testsrc=size=320x180:rate={rate}"))
            .args([
                "-frames:v",
                &frames.to_string(),
                "-pix_fmt",
                "yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
            ])
            .arg(path)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg failed");
    }

    #[tokio::test]
    async fn local_folder_passes_the_conformance_suite() {
        let media = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let upload_dir = tempfile::tempdir().unwrap();
        make_clip(&media.path().join("shot.mp4"), "24000/1001", 48);
        std::fs::write(media.path().join("notes.txt"), "not media").unwrap();
        let upload = upload_dir.path().join("up.mp4");
        make_clip(&upload, "25", 10);
        let fixture = LocalFixture {
            media,
            state,
            upload,
        };
        run(&fixture, &standard_steps()).await.assert_passed();
        // Notes live in the state directory, never in the media folder.
        assert!(fixture.state.path().join("local-notes.json").is_file());
        assert!(!fixture.media.path().join("local-notes.json").exists());
    }
}
