//! iconik: the connector against `tests/servers/iconik.py` (seed 001 + iconik's public specs),
//! through the shared conformance suite, plus what only iconik has: other users' comments with
//! drawings read on the right frame, approvals, signed proxy URLs that expire, proactive token
//! refresh, search-based change listing, and a rate window. Server state is read back through
//! iconik's own documented GET endpoints, never through a private one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use framenote_connectors::iconik::{IconikConfig, IconikConnector};
use framenote_connectors::{Connector, Credentials, ErrorKind, MediaSource};
use framenote_core::{Asset, FrameRate, FrameSpan, NoteStatus, RemoteId, ShapeKind, Version};
use framenote_tests::fault_proxy::FaultProxy;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::conformance::{
    self, Denied, DeniedAction, Expected, Fixture, Proxied, RateCase, UploadCase,
};

/// A test server process, stopped by its PID when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl Server {
    /// Starts `python3 tests/servers/<script> <args>` and reads the port it prints.
    pub fn start(script: &str, args: &[String]) -> anyhow::Result<Self> {
        use std::io::{BufRead, BufReader};
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("servers")
            .join(script);
        let mut child = Command::new("python3")
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        match line.trim().parse::<u16>() {
            Ok(port) => Ok(Self {
                url: format!("http://127.0.0.1:{port}"),
                child,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("{script} printed {line:?} instead of a port")
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // By PID, never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 640×360 H.264 + AAC clip at `rate` with a start timecode, made by ffmpeg.
pub fn make_clip(path: &Path, rate: &str, seconds: f64, timecode: &str) -> anyhow::Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc2=size=640x360:rate={rate}:duration={seconds}"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={seconds}"
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .args(["-timecode", timecode])
        .arg(path)
        .status()?;
    anyhow::ensure!(status.success(), "ffmpeg failed for {}", path.display());
    Ok(())
}

/// The clips both closed-platform servers serve.
pub fn media_dir() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    make_clip(
        &dir.path().join("clip_23976.mp4"),
        "24000/1001",
        2.002,
        "01:00:00:00",
    )?;
    make_clip(
        &dir.path().join("clip_2997df.mp4"),
        "30000/1001",
        2.002,
        "00:59:59;28",
    )?;
    make_clip(&dir.path().join("clip_25.mp4"), "25", 1.0, "10:00:00:00")?;
    Ok(dir)
}

pub(crate) struct Running {
    pub(crate) server: Server,
    media: tempfile::TempDir,
    cdn_file: PathBuf,
    log: PathBuf,
}

pub(crate) fn start(extra: &[&str]) -> anyhow::Result<Running> {
    let media = media_dir()?;
    let cdn_file = media.path().join("cdn-base");
    let log = media.path().join("requests.jsonl");
    let mut args: Vec<String> = vec![
        "--fixtures".into(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/iconik/seed.json")
            .display()
            .to_string(),
        "--media".into(),
        media.path().display().to_string(),
        "--cdn-base-file".into(),
        cdn_file.display().to_string(),
        "--log".into(),
        log.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Ok(Running {
        server: Server::start("iconik.py", &args)?,
        media,
        cdn_file,
        log,
    })
}

fn config(base: &str) -> IconikConfig {
    let mut cfg = IconikConfig::new(base);
    // Small pages so that every list walks several pages.
    cfg.per_page = 2;
    cfg.http.base_backoff = Duration::from_millis(50);
    cfg
}

fn connector_to(base: &str) -> Arc<IconikConnector> {
    Arc::new(IconikConnector::new(config(base)).expect("iconik connector"))
}

fn user(email: &str) -> Credentials {
    Credentials::Password {
        user: email.into(),
        password: format!("{}-pass", email.split('@').next().unwrap_or("")),
    }
}

const ANA: &str = "ana@example.com";
const BOB: &str = "bob@example.com";
const VIC: &str = "vic@example.com";

/// Signs in through the documented login and returns the App-ID and token.
async fn raw_login(base: &str, email: &str) -> anyhow::Result<(String, String)> {
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/API/auth/v1/auth/simple/login/"))
        .json(&json!({"email": email, "password": format!("{}-pass", email.split('@').next().unwrap_or(""))}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let app = v["app_id"].as_str().unwrap_or_default().to_owned();
    let token = v["auth_system_domains"][0]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((app, token))
}

async fn raw(
    base: &str,
    method: reqwest::Method,
    path: &str,
    auth: &(String, String),
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("App-ID", &auth.0)
        .header("Auth-Token", &auth.1);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    Ok(rb.send().await?.error_for_status()?.json().await?)
}

/// Frame `frame`'s start in whole ms, rounded up (Framenote's convention for iconik's ms).
fn ms_of(rate: FrameRate, frame: u64) -> u64 {
    (frame * 1000 * u64::from(rate.den)).div_ceil(u64::from(rate.num))
}

struct IconikFixture {
    running: Running,
    proxied: OnceCell<(Arc<FaultProxy>, Arc<IconikConnector>)>,
}

impl IconikFixture {
    fn base(&self) -> &str {
        &self.running.server.url
    }
}

#[async_trait]
impl Fixture for IconikFixture {
    fn name(&self) -> &str {
        "iconik"
    }

    fn connector(&self) -> Arc<dyn Connector> {
        connector_to(self.base())
    }

    fn reviewer(&self) -> Credentials {
        user(ANA)
    }

    fn expected(&self) -> Expected {
        Expected {
            asset_name: "sh010_comp_23976".into(),
            frame_rate: FrameRate::FPS_23_976,
            // 2002 ms at 24000/1001.
            frame_count: Some(48),
            size: Some((640, 360)),
        }
    }

    async fn proxied(&self) -> anyhow::Result<Option<Proxied>> {
        let (proxy, connector) = self
            .proxied
            .get_or_try_init(|| async {
                let proxy = Arc::new(FaultProxy::start(self.base()).await?);
                // Storage links go through the proxy too, as through a CDN.
                std::fs::write(&self.running.cdn_file, proxy.url())?;
                let connector = connector_to(&proxy.url());
                connector.authenticate(&user(ANA)).await?;
                anyhow::Ok((proxy, connector))
            })
            .await?;
        Ok(Some(Proxied {
            connector: connector.clone(),
            proxy: proxy.clone(),
            listing_path: "/API/assets/v1/projects/".into(),
            media_path: "/storage/proxies/".into(),
        }))
    }

    async fn denied(&self) -> anyhow::Result<Option<Denied>> {
        // Vic may read SEQ010 but not comment on it.
        Ok(Some(Denied {
            connector: connector_to(self.base()),
            credentials: user(VIC),
            action: DeniedAction::Note,
        }))
    }

    async fn touch_asset_on_server(&self, asset: &Asset) -> anyhow::Result<bool> {
        let bob = raw_login(self.base(), BOB).await?;
        raw(
            self.base(),
            reqwest::Method::PATCH,
            &format!("/API/assets/v1/assets/{}/", asset.id),
            &bob,
            Some(json!({"external_id": "touched-by-bob"})),
        )
        .await?;
        Ok(true)
    }

    async fn server_drawing_time(
        &self,
        version: &Version,
        frame: u64,
    ) -> anyhow::Result<Option<f64>> {
        let ana = raw_login(self.base(), ANA).await?;
        let list = raw(
            self.base(),
            reqwest::Method::GET,
            &format!(
                "/API/assets/v1/assets/{}/segments/?segment_type=COMMENT&version_id={}&per_page=500",
                version.asset, version.id
            ),
            &ana,
            None,
        )
        .await?;
        let rate = version.media.frame_rate;
        Ok(list["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["has_drawing"] == json!(true))
            .filter_map(|s| s["time_start_milliseconds"].as_u64())
            .rfind(|ms| *ms >= ms_of(rate, frame) && *ms < ms_of(rate, frame + 1))
            .map(|ms| ms as f64))
    }

    fn platform_time_of(&self, rate: FrameRate, frame: u64) -> Option<f64> {
        Some(ms_of(rate, frame) as f64)
    }

    async fn rate_cases(&self, connector: &dyn Connector) -> anyhow::Result<Vec<RateCase>> {
        let (_, _, v23) = conformance::find_asset(connector, "sh010_comp_23976").await?;
        let (_, _, v29) = conformance::find_asset(connector, "sh020_promo_2997df").await?;
        anyhow::ensure!(
            v29.media.frame_rate == FrameRate::FPS_29_97,
            "29.97 rate: {:?}",
            v29.media.frame_rate
        );
        anyhow::ensure!(
            v29.media.start_timecode.is_some_and(|tc| tc.drop_frame),
            "29.97 clip is not DF"
        );
        Ok(vec![
            RateCase {
                label: "23.976".into(),
                version: v23,
            },
            RateCase {
                label: "29.97 DF".into(),
                version: v29,
            },
        ])
    }

    async fn upload_source(
        &self,
        _connector: &dyn Connector,
    ) -> anyhow::Result<Option<UploadCase>> {
        Ok(Some(UploadCase {
            path: self.running.media.path().join("clip_25.mp4"),
            destination: RemoteId::new("collection:c-lib"),
            listed_under: RemoteId::new("collection:c-lib"),
        }))
    }

    fn note_status(&self) -> Option<String> {
        Some("approved".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iconik_conformance() {
    let fixture = IconikFixture {
        running: start(&[]).expect("iconik test server"),
        proxied: OnceCell::new(),
    };
    let report = conformance::run(&fixture, &conformance::standard_steps()).await;
    report.assert_passed();
    // The note with status "approved" set the version's approval, as iconik reports it.
    let base = fixture.base();
    let ana = raw_login(base, ANA).await.expect("login");
    let approval = raw(
        base,
        reqwest::Method::GET,
        "/API/assets/v1/assets/a-23976/versions/v-23976-2/approvals/",
        &ana,
        None,
    )
    .await
    .expect("approval");
    assert_eq!(approval["status"], "APPROVED");
    // The upload went through the whole files chain: a CLOSED file whose bytes are the clip's.
    let search = raw(
        base,
        reqwest::Method::POST,
        "/API/search/v1/search/",
        &ana,
        Some(
            json!({"doc_types": ["assets"], "filter": {"operator": "AND", "terms": [
            {"name": "in_collections", "value": "c-lib"}]}}),
        ),
    )
    .await
    .expect("search");
    let uploaded = search["objects"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["title"] == "conformance-upload.mp4"))
        .expect("uploaded asset found by search");
    let id = uploaded["id"].as_str().unwrap_or_default();
    let files = raw(
        base,
        reqwest::Method::GET,
        &format!("/API/files/v1/assets/{id}/files/"),
        &ana,
        None,
    )
    .await
    .expect("files");
    let file = &files["objects"][0];
    assert_eq!(file["status"], "CLOSED");
    let url = raw(
        base,
        reqwest::Method::GET,
        &format!(
            "/API/files/v1/assets/{id}/files/{}/download_url/",
            file["id"].as_str().unwrap_or_default()
        ),
        &ana,
        None,
    )
    .await
    .expect("download url");
    let bytes = reqwest::get(url["url"].as_str().unwrap_or_default())
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    let original = std::fs::read(fixture.running.media.path().join("clip_25.mp4")).expect("clip");
    assert!(
        bytes.as_ref() == original.as_slice(),
        "stored bytes differ from the uploaded file"
    );
}

pub(crate) async fn signed_in(base: &str) -> Arc<IconikConnector> {
    let c = connector_to(base);
    c.authenticate(&user(ANA)).await.expect("sign in");
    c
}

async fn target(c: &IconikConnector, name: &str) -> Version {
    let (_, _, v) = conformance::find_asset(c, name).await.expect("asset");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iconik_reads_another_users_comments_on_their_frame() {
    let running = start(&[]).expect("server");
    let c = signed_in(&running.server.url).await;
    let v = target(&c, "sh010_comp_23976").await;
    assert_eq!(
        v.id.as_str(),
        "v-23976-2",
        "the newest version is listed last"
    );
    let tc = v.media.start_timecode.expect("start timecode");
    assert_eq!((tc.frames, tc.drop_frame), (86_400, false));
    let notes = c.list_notes(&v).await.expect("notes");
    assert_eq!(notes.len(), 2, "the MARKER is not a note: {notes:?}");
    let bob = notes
        .iter()
        .find(|n| n.id.as_str() == "s-bob-1")
        .expect("Bob's note");
    // 1001 ms at 24000/1001 is exactly the start of frame 24.
    assert_eq!(bob.frames, Some(FrameSpan::frame(24)));
    assert_eq!(bob.author, "Bob Supervisor");
    assert_eq!(bob.status, NoteStatus::Open);
    let drawing = bob.drawing.as_ref().expect("Bob's drawing");
    assert_eq!(drawing.shapes.len(), 3);
    match &drawing.shapes[0].kind {
        ShapeKind::Ellipse { center, rx, ry } => {
            assert!(
                (center.x - 0.2).abs() < 1e-9 && (center.y - 0.5).abs() < 1e-9,
                "{center:?}"
            );
            assert!((rx - 0.1).abs() < 1e-9 && (ry - 0.25).abs() < 1e-9);
        }
        other => panic!("first shape is {other:?}"),
    }
    assert_eq!(drawing.shapes[0].stroke.color, "#ffcc00");
    assert!(matches!(&drawing.shapes[2].kind, ShapeKind::Text { text, .. } if text == "flicker"));
    let reply = notes
        .iter()
        .find(|n| n.id.as_str() == "s-bob-2")
        .expect("reply");
    assert_eq!(reply.parent.as_ref().map(RemoteId::as_str), Some("s-bob-1"));
    assert_eq!(
        reply.frames, None,
        "a comment without times is on the whole version"
    );
    // Editing and resolving someone else's note goes through PATCH and reads back.
    c.set_note_status(&v, &bob.id, NoteStatus::Resolved)
        .await
        .expect("resolve");
    let ana = raw_login(&running.server.url, ANA).await.expect("login");
    let seg = raw(
        &running.server.url,
        reqwest::Method::GET,
        "/API/assets/v1/assets/a-23976/segments/s-bob-1/",
        &ana,
        None,
    )
    .await
    .expect("segment");
    assert_eq!(seg["segment_checked"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iconik_signed_urls_expire_and_are_asked_again() {
    let running = start(&["--url-ttl", "3"]).expect("server");
    let c = signed_in(&running.server.url).await;
    let v = target(&c, "sh020_promo_2997df").await;
    let MediaSource::Http {
        url: first,
        headers,
        bytes,
    } = c.media_source(&v).await.expect("source")
    else {
        panic!("iconik gave a file path");
    };
    assert!(
        headers.is_empty(),
        "no iconik credentials may go to storage"
    );
    let size = std::fs::metadata(running.media.path().join("clip_2997df.mp4"))
        .expect("clip")
        .len();
    assert_eq!(bytes, Some(size));
    let range = reqwest::Client::new()
        .get(&first)
        .header("Range", "bytes=0-99")
        .send()
        .await
        .expect("range");
    assert_eq!(range.status(), 206);
    assert_eq!(range.bytes().await.expect("body").len(), 100);
    // Signed for 2–3 s (whole seconds): certainly expired after 3.2 s.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let stale = reqwest::get(&first).await.expect("stale");
    assert_eq!(stale.status(), 403, "an expired signed URL must be refused");
    let MediaSource::Http { url: fresh, .. } = c.media_source(&v).await.expect("source again")
    else {
        panic!("iconik gave a file path");
    };
    assert_ne!(fresh, first, "a fresh URL is asked for every time");
    let body = reqwest::get(&fresh)
        .await
        .expect("fresh")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.len() as u64, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iconik_refreshes_the_token_before_it_expires() {
    let running = start(&["--token-ttl", "3"]).expect("server");
    let mut cfg = config(&running.server.url);
    cfg.refresh_margin = Duration::from_secs(2);
    let c = IconikConnector::new(cfg).expect("connector");
    let first = c.authenticate(&user(ANA)).await.expect("sign in");
    c.list_nodes(None).await.expect("browse");
    assert_eq!(
        c.session().and_then(|s| s.access_token),
        first.access_token.clone(),
        "no refresh yet"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Within the margin of `expires`: the next call refreshes first (PUT /auth/token/).
    c.list_nodes(None).await.expect("browse after refresh");
    let second = c.session().expect("session");
    assert_ne!(
        second.access_token, first.access_token,
        "the token was not refreshed in time"
    );
    // The replaced token is dead on the server; the new one is valid (GET /auth/token/).
    let app = c.app_id().expect("app id");
    let check = |token: Option<String>| {
        let url = format!("{}/API/auth/v1/auth/token/", running.server.url);
        let app = app.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .header("App-ID", app)
                .header("Auth-Token", token.unwrap_or_default())
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(check(first.access_token).await, 401);
    assert_eq!(check(second.access_token).await, 200);
    // Past expiry with no refresh possible, the answer is "sign in again".
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let err = c.list_nodes(None).await.expect_err("expired everything");
    assert_eq!(err.kind, ErrorKind::LoginRequired, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iconik_changes_since_finds_modified_assets() {
    let running = start(&[]).expect("server");
    let c = signed_in(&running.server.url).await;
    let none = c
        .changes_since("2999-01-01T00:00:00Z")
        .await
        .expect("future");
    assert!(none.assets.is_empty() && none.deleted.is_empty());
    let all = c
        .changes_since("2000-01-01T00:00:00Z")
        .await
        .expect("everything");
    assert_eq!(
        all.assets.len(),
        3,
        "seeded assets: {:?}",
        all.assets.iter().map(|a| &a.name).collect::<Vec<_>>()
    );
    assert_eq!(all.cursor, "2024-04-02T09:00:00.000Z");
    let bob = raw_login(&running.server.url, BOB).await.expect("login");
    raw(
        &running.server.url,
        reqwest::Method::PATCH,
        "/API/assets/v1/assets/a-25/",
        &bob,
        Some(json!({"title": "sh030_plate_25_v2"})),
    )
    .await
    .expect("patch");
    let changed = c.changes_since(&all.cursor).await.expect("changes");
    let names: Vec<&str> = changed.assets.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"sh030_plate_25_v2"), "{names:?}");
    assert!(
        changed.cursor > all.cursor,
        "cursor moved on: {}",
        changed.cursor
    );
    assert_eq!(
        changed
            .assets
            .iter()
            .find(|a| a.id.as_str() == "a-25")
            .map(|a| a.parent.as_str()),
        Some("collection:c-seq")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iconik_rate_window_is_respected() {
    // At most 6 requests per 2 s: browsing the tree needs many more.
    let running = start(&["--rate", "6/2"]).expect("server");
    let c = signed_in(&running.server.url).await;
    let started = std::time::Instant::now();
    for _ in 0..4 {
        c.list_nodes(None).await.expect("browse under a rate limit");
    }
    let (_, _, v) = conformance::find_asset(c.as_ref(), "sh020_promo_2997df")
        .await
        .expect("asset");
    assert_eq!(v.media.frame_rate, FrameRate::FPS_29_97);
    let log = std::fs::read_to_string(&running.log).expect("request log");
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let limited = lines.iter().filter(|l| l["status"] == 429).count();
    let violations = lines.iter().filter(|l| l["violation"] == true).count();
    assert!(limited > 0, "the test did not reach the limit");
    assert_eq!(violations, 0, "requests were sent while told to wait");
    eprintln!(
        "iconik rate window: {limited} × 429 answered and waited out in {:?}",
        started.elapsed()
    );
}
