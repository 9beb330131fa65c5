//! Flow Capture (Moxion): the connector against `tests/servers/moxion.py`, a server that follows
//! the seed API document. The shared conformance suite runs through [`MoxionFixture`]; the tests
//! after it cover what only Flow Capture has: the device login, the offline rules, other users'
//! SVG drawings, the platform's own rate and server codes, expiring signed URLs and the lockout.
//!
//! Server state is checked through the platform's documented endpoints (`/get/comments`,
//! `/get/assets`); `/__control/` is used only to inject faults and read request counters.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use framenote_connectors::moxion::{MoxionConfig, MoxionConnector};
use framenote_connectors::{Connector, Credentials, ErrorKind, MediaSource};
use framenote_core::{Asset, FrameRate, RemoteId, ShapeKind, Version};
use framenote_tests::fault_proxy::FaultProxy;
use framenote_tests::platform_server::{PlatformServer, fixtures_dir, make_clip};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::conformance::{
    self, Denied, DeniedAction, Expected, Fixture, Proxied, RateCase, UploadCase,
};

pub(crate) const REVIEWER: (&str, &str) = ("framenote-test", "k3y-for-tests-only");
const OTHER_USER: (&str, &str) = ("otto-browser", "otto-web-session");
const VIEWER: (&str, &str) = ("viv-viewer", "view-only-key");

/// A seeded server with its media, alive as long as this is.
pub(crate) struct Running {
    pub(crate) server: PlatformServer,
    pub(crate) media: tempfile::TempDir,
}

pub(crate) fn start() -> anyhow::Result<Running> {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> anyhow::Result<Running> {
    let media = tempfile::tempdir()?;
    make_clip(
        &media.path().join("clip_23976.mp4"),
        "24000/1001",
        4.004,
        "01:00:00:00",
    )?;
    make_clip(
        &media.path().join("clip_2997.mp4"),
        "30000/1001",
        4.004,
        "00:00:59;00",
    )?;
    let seed = fixtures_dir("moxion").join("seed.json");
    let server = PlatformServer::start(
        "moxion.py",
        &[
            "--seed",
            seed.to_str().unwrap_or_default(),
            "--media-dir",
            media.path().to_str().unwrap_or_default(),
            "--exit-with-stdin",
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>(),
    )?;
    Ok(Running { server, media })
}

pub(crate) fn config(host: &str) -> MoxionConfig {
    let mut config = MoxionConfig {
        host: host.to_owned(),
        // Small parts, so that a test file travels as several presigned parts.
        upload_part_size: 64 * 1024,
        ..MoxionConfig::default()
    };
    config.http.base_backoff = Duration::from_millis(50);
    config
}

fn connector_to(host: &str) -> Arc<MoxionConnector> {
    Arc::new(MoxionConnector::new(config(host)).expect("HTTP client"))
}

pub(crate) fn key(pair: (&str, &str)) -> Credentials {
    Credentials::ApiKey {
        id: Some(pair.0.to_owned()),
        secret: pair.1.to_owned(),
    }
}

/// One documented call, as a plain HTTP client would make it (for checks and for the other
/// user's actions).
async fn raw(
    base: &str,
    endpoint: &str,
    token: Option<&str>,
    data: Value,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{base}{endpoint}"))
        .json(&json!({ "endpoint": endpoint, "data": data, "request_id": uuid::Uuid::new_v4().to_string() }));
    if let Some(token) = token {
        request = request.header("X-Token", token);
    }
    let body: Value = request.send().await?.json().await?;
    if let Some(error) = body.get("error") {
        anyhow::bail!("{endpoint}: {error}");
    }
    Ok(body["data"].clone())
}

async fn raw_token(base: &str, pair: (&str, &str)) -> anyhow::Result<String> {
    let answer = raw(
        base,
        "/authenticate/api",
        None,
        json!({ "api_id": pair.0, "api_key": pair.1 }),
    )
    .await?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token"))
}

/// Approves a device code as the other person would in the web app (the documented
/// `/authenticate/device/verify/code`, with that person's own token).
pub(crate) async fn approve_device_code(base: &str, code: &str) -> anyhow::Result<()> {
    let otto = raw_token(base, OTHER_USER).await?;
    raw(
        base,
        "/authenticate/device/verify/code",
        Some(&otto),
        json!({ "user_code": code }),
    )
    .await?;
    Ok(())
}

pub(crate) async fn control(base: &str, action: &str, body: Value) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{base}/__control/{action}"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "control {action}: {}",
        response.status()
    );
    Ok(())
}

async fn stats(base: &str) -> anyhow::Result<Value> {
    Ok(reqwest::get(format!("{base}/__control/stats"))
        .await?
        .json()
        .await?)
}

struct MoxionFixture {
    running: Running,
    proxied: OnceCell<(Arc<FaultProxy>, Arc<MoxionConnector>)>,
}

impl MoxionFixture {
    fn base(&self) -> &str {
        &self.running.server.url
    }
}

#[async_trait]
impl Fixture for MoxionFixture {
    fn name(&self) -> &str {
        "Flow Capture (Moxion)"
    }

    fn connector(&self) -> Arc<dyn Connector> {
        connector_to(self.base())
    }

    fn reviewer(&self) -> Credentials {
        key(REVIEWER)
    }

    fn expected(&self) -> Expected {
        Expected {
            asset_name: "A001_C003_23976".into(),
            frame_rate: FrameRate::FPS_23_976,
            // 4.004 s at 24000/1001.
            frame_count: Some(96),
            size: Some((320, 180)),
        }
    }

    async fn proxied(&self) -> anyhow::Result<Option<Proxied>> {
        let (proxy, connector) = self
            .proxied
            .get_or_try_init(|| async {
                let proxy = Arc::new(FaultProxy::start(self.base()).await?);
                // Media and upload URLs go through the proxy too, as through a CDN.
                control(self.base(), "public_base", json!({ "url": proxy.url() })).await?;
                let connector = connector_to(&proxy.url());
                connector.authenticate(&key(REVIEWER)).await?;
                anyhow::Ok((proxy, connector))
            })
            .await?;
        Ok(Some(Proxied {
            connector: connector.clone(),
            proxy: proxy.clone(),
            listing_path: "/get/companies".into(),
            media_path: "/media/".into(),
        }))
    }

    async fn denied(&self) -> anyhow::Result<Option<Denied>> {
        Ok(Some(Denied {
            connector: connector_to(self.base()),
            credentials: key(VIEWER),
            action: DeniedAction::Note,
        }))
    }

    async fn touch_asset_on_server(&self, asset: &Asset) -> anyhow::Result<bool> {
        // Another reviewer comments in the web app: the activity feed records it.
        let token = raw_token(self.base(), OTHER_USER).await?;
        raw(
            self.base(),
            "/create/comment",
            Some(&token),
            json!({ "asset_id": asset.id.as_str().parse::<u64>()?, "description": "touched by Otto" }),
        )
        .await?;
        Ok(true)
    }

    async fn server_drawing_time(
        &self,
        version: &Version,
        frame: u64,
    ) -> anyhow::Result<Option<f64>> {
        let token = raw_token(self.base(), REVIEWER).await?;
        let comments = raw(
            self.base(),
            "/get/comments",
            Some(&token),
            json!({ "asset_id": version.asset.as_str().parse::<u64>()? }),
        )
        .await?;
        let rate = version.media.frame_rate;
        let start = frame as f64 * rate.den as f64 / rate.num as f64;
        let half = 0.5 * rate.den as f64 / rate.num as f64;
        Ok(comments
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["has_drawing"] == json!(true))
            .filter_map(|c| c["marker_time"].as_f64())
            .rfind(|t| (t - start).abs() < half))
    }

    fn platform_time_of(&self, rate: FrameRate, frame: u64) -> Option<f64> {
        // "The time offset in seconds for the comment marker": the frame's start.
        Some(frame as f64 * rate.den as f64 / rate.num as f64)
    }

    async fn rate_cases(&self, connector: &dyn Connector) -> anyhow::Result<Vec<RateCase>> {
        let (_, _, v23) = conformance::find_asset(connector, "A001_C003_23976").await?;
        let (_, _, v29) = conformance::find_asset(connector, "B002_C001_2997DF").await?;
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
        let path = self.running.media.path().join("to-upload.mp4");
        if !path.exists() {
            make_clip(&path, "25", 2.0, "10:00:00:00")?;
        }
        Ok(Some(UploadCase {
            path,
            destination: RemoteId::new("batch:50"),
            listed_under: RemoteId::new("batch:50"),
        }))
    }
}

fn fixture() -> MoxionFixture {
    MoxionFixture {
        running: start().expect("Flow Capture test server"),
        proxied: OnceCell::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moxion_conformance() {
    let fixture = fixture();
    let report = conformance::run(&fixture, &conformance::standard_steps()).await;
    report.assert_passed();
    // The DF case really crossed a dropped minute: its notes carry DF labels.
    let token = raw_token(fixture.base(), REVIEWER).await.expect("token");
    let comments = raw(
        fixture.base(),
        "/get/comments",
        Some(&token),
        json!({ "asset_id": 61 }),
    )
    .await
    .expect("comments");
    let labels: Vec<&str> = comments
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("conformance: 29.97 DF"))
        })
        .filter_map(|c| c["marker_timecode"].as_str())
        .collect();
    // Frames 1 and 17 after 00:00:59;00, and frame 119 (the last; 1001 clamped) after minute 1
    // dropped its labels ;00 and ;01.
    assert!(labels.contains(&"00:00:59;01"), "{labels:?}");
    assert!(labels.contains(&"00:00:59;17"), "{labels:?}");
    assert!(labels.contains(&"00:01:03;01"), "{labels:?}");
}

async fn signed_in(base: &str) -> Arc<MoxionConnector> {
    let connector = connector_to(base);
    connector
        .authenticate(&key(REVIEWER))
        .await
        .expect("sign in");
    connector
}

async fn version_named(connector: &MoxionConnector, name: &str) -> (Asset, Version) {
    let (_, asset, version) = conformance::find_asset(connector, name)
        .await
        .expect("asset");
    (asset, version)
}

#[tokio::test]
async fn moxion_device_login_shows_the_code_then_signs_in_once_approved() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = connector_to(&base);
    let login = connector
        .start_device_login()
        .await
        .expect("device login starts");
    assert!(!login.user_code.is_empty());
    assert!(
        login.verification_uri.starts_with(&base),
        "{}",
        login.verification_uri
    );
    assert!(
        connector
            .poll_device_login(&login)
            .await
            .expect("poll")
            .is_none(),
        "approved before anyone did"
    );
    // The person approves the code in the web app, signed in there as Otto.
    approve_device_code(&base, &login.user_code)
        .await
        .expect("approve");
    let session = tokio::time::timeout(
        Duration::from_secs(20),
        connector.finish_device_login(&login),
    )
    .await
    .expect("approved in time")
    .expect("signed in");
    assert_eq!(session.user_name.as_deref(), Some("Otto Other"));
    assert!(
        session.refresh_token.is_none(),
        "a device token cannot be renewed silently"
    );
    assert!(!connector.list_nodes(None).await.expect("browse").is_empty());
    // Expired, it asks the person to sign in again rather than failing in a loop.
    control(&base, "expire_tokens", json!({}))
        .await
        .expect("expire");
    let err = connector.list_nodes(None).await.expect_err("expired");
    assert_eq!(err.kind, ErrorKind::LoginRequired, "{err}");
}

#[tokio::test]
async fn moxion_offline_rules_are_honoured_with_reasons() {
    let running = start().expect("server");
    let connector = signed_in(&running.server.url).await;
    let open = connector
        .list_assets(&RemoteId::new("batch:50"))
        .await
        .expect("open batch");
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|a| a.offline.allowed), "{open:?}");
    let secure = connector
        .list_assets(&RemoteId::new("batch:51"))
        .await
        .expect("secure batch");
    assert_eq!(secure.len(), 1);
    assert!(!secure[0].offline.allowed);
    assert_eq!(
        secure[0].offline.reason.as_deref(),
        Some("Downloads are denied on this folder.")
    );
    // DRM media is refused as media, not mis-played.
    let err = connector
        .media_source(&secure[0].versions[0])
        .await
        .expect_err("DRM media");
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    // The same asset reached through a share that forbids offline copies.
    let inbox = connector
        .list_nodes(Some(&RemoteId::new("inbox")))
        .await
        .expect("inbox");
    assert_eq!(inbox.len(), 1);
    let shared = connector.list_assets(&inbox[0].id).await.expect("share");
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].name, "B002_C001_2997DF");
    assert!(!shared[0].offline.allowed);
    assert_eq!(
        shared[0].offline.reason.as_deref(),
        Some("This share does not allow offline copies.")
    );
}

#[tokio::test]
async fn moxion_other_users_drawings_come_back_as_shapes_or_overlay() {
    let running = start().expect("server");
    let connector = signed_in(&running.server.url).await;
    let (_, v23) = version_named(&connector, "A001_C003_23976").await;
    let notes = connector.list_notes(&v23).await.expect("notes");
    let otto = notes
        .iter()
        .find(|n| n.id.as_str() == "80")
        .expect("Otto's note");
    assert_eq!(otto.frames, Some(framenote_core::FrameSpan::frame(48)));
    let drawing = otto.drawing.as_ref().expect("drawing");
    let kinds: Vec<&str> = drawing
        .shapes
        .iter()
        .map(|s| match s.kind {
            ShapeKind::Pen { .. } => "pen",
            ShapeKind::Arrow { .. } => "arrow",
            ShapeKind::Rect { .. } => "rect",
            ShapeKind::Ellipse { .. } => "ellipse",
            ShapeKind::Text { .. } => "text",
            ShapeKind::Line { .. } => "line",
        })
        .collect();
    assert_eq!(kinds, ["pen", "arrow", "rect", "ellipse", "text"]);
    assert!(drawing.overlay_svg.is_none());
    let reply = notes.iter().find(|n| n.id.as_str() == "81").expect("reply");
    assert_eq!(reply.status, framenote_core::NoteStatus::Resolved);

    let (_, v29) = version_named(&connector, "B002_C001_2997DF").await;
    let notes = connector.list_notes(&v29).await.expect("notes");
    let curvy = notes
        .iter()
        .find(|n| n.id.as_str() == "82")
        .expect("curvy note");
    // 1.001001 s at 29.97 is frame 30, labelled 00:01:00;02 after the dropped ;00 and ;01.
    assert_eq!(curvy.frames, Some(framenote_core::FrameSpan::frame(30)));
    let overlay = curvy.drawing.as_ref().expect("drawing kept");
    assert!(overlay.shapes.is_empty());
    assert!(
        overlay
            .overlay_svg
            .as_deref()
            .is_some_and(|s| s.contains("rotate(12"))
    );
}

#[tokio::test]
async fn moxion_platform_rate_code_900_is_waited_out() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base).await;
    control(&base, "rate_limit", json!({ "per_second": 3 }))
        .await
        .expect("limit");
    for _ in 0..8 {
        connector
            .list_nodes(None)
            .await
            .expect("listing succeeds despite the rate code");
    }
    let counters = stats(&base).await.expect("stats");
    assert!(
        counters["rate_limited"].as_u64().unwrap_or(0) > 0,
        "the limit was never hit: {counters}"
    );
}

#[tokio::test]
async fn moxion_error_code_500_in_the_envelope_is_retried() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base).await;
    control(
        &base,
        "fail",
        json!({ "endpoint": "/get/companies", "count": 2, "mode": "code500" }),
    )
    .await
    .expect("inject");
    connector
        .list_nodes(None)
        .await
        .expect("third attempt succeeds");
    assert_eq!(
        stats(&base).await.expect("stats")["faults_served"],
        json!(2)
    );
    // A write the document marks as failed with a permanent code is not retried.
    let (_, version) = version_named(&connector, "A001_C003_23976").await;
    let mut note = conformance::new_note(&version, "too long", Some(1), None);
    note.text = "x".repeat(61_441);
    let err = connector.create_note(&note).await.expect_err("too long");
    assert_eq!(err.kind, ErrorKind::Rejected);
}

#[tokio::test]
async fn moxion_signed_media_urls_expire_and_are_asked_again() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base).await;
    let (_, version) = version_named(&connector, "A001_C003_23976").await;
    control(&base, "url_ttl", json!({ "seconds": 1 }))
        .await
        .expect("ttl");
    let MediaSource::Http { url, .. } = connector.media_source(&version).await.expect("source")
    else {
        panic!("an HTTP platform gave a file");
    };
    let first = reqwest::Client::new()
        .get(&url)
        .header("Range", "bytes=0-99")
        .send()
        .await
        .expect("get");
    assert_eq!(first.status(), 206);
    assert_eq!(first.bytes().await.expect("body").len(), 100);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        reqwest::get(&url).await.expect("get").status(),
        403,
        "an expired URL still worked"
    );
    let MediaSource::Http { url: fresh, .. } =
        connector.media_source(&version).await.expect("again")
    else {
        panic!("an HTTP platform gave a file");
    };
    assert_eq!(reqwest::get(&fresh).await.expect("get").status(), 200);
}

#[tokio::test]
async fn moxion_repeated_bad_keys_lock_out_without_waiting_in_line() {
    let running = start().expect("server");
    let connector = connector_to(&running.server.url);
    for _ in 0..5 {
        let err = connector
            .authenticate(&key((REVIEWER.0, "wrong")))
            .await
            .expect_err("wrong key");
        assert_eq!(err.kind, ErrorKind::LoginRequired, "{err}");
    }
    let started = std::time::Instant::now();
    let err = connector
        .authenticate(&key(REVIEWER))
        .await
        .expect_err("locked out");
    assert_eq!(err.kind, ErrorKind::RateLimited, "{err}");
    assert_eq!(err.retry_after, Some(Duration::from_secs(15 * 60)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 15-minute lockout was waited in-line"
    );
}

#[tokio::test]
async fn moxion_upload_is_refused_where_the_folder_forbids_it_and_notes_can_be_edited() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base).await;
    let path = running.media.path().join("clip_23976.mp4");
    let request = framenote_connectors::UploadRequest {
        path,
        destination: RemoteId::new("batch:51"),
        name: "refused.mp4".into(),
        comment: None,
        subfolder: Vec::new(),
        version_hint: None,
    };
    let err = connector
        .upload(&request, &|_| {})
        .await
        .expect_err("the secure folder takes no uploads");
    assert_eq!(err.kind, ErrorKind::Forbidden, "{err}");
    // A note's text is edited in place (`/update/comment`), as read back by `/get/comments`.
    let (_, version) = version_named(&connector, "A001_C003_23976").await;
    let note = connector
        .create_note(&conformance::new_note(
            &version,
            "first words",
            Some(5),
            None,
        ))
        .await
        .expect("note");
    connector
        .update_note(&version, &note.id, "better words")
        .await
        .expect("edit");
    let token = raw_token(&base, REVIEWER).await.expect("token");
    let comments = raw(
        &base,
        "/get/comments",
        Some(&token),
        json!({ "asset_id": 60 }),
    )
    .await
    .expect("comments");
    let stored = comments
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["id"].as_u64() == note.id.as_str().parse::<u64>().ok())
        })
        .cloned()
        .expect("stored comment");
    assert_eq!(stored["description"], json!("better words"));
    assert_eq!(stored["marker_time"].as_f64(), Some(5.0 * 1001.0 / 24000.0));
}

/// Benchmark, not a test: `cargo test -p framenote-tests --test system moxion_bench -- --ignored
/// --nocapture`. Prints (1) the time to list a 300-asset batch with each asset's files fetched
/// four at a time (the default) against one at a time (the reference, same server, same run),
/// and (2) the cost of turning another user's SVG drawing into shapes against parsing the same
/// shapes from JSON (the reference).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures, asserts nothing about speed"]
async fn moxion_bench_listing_and_svg() {
    let running = start_with(&["--extra-assets", "300"]).expect("server");
    let base = running.server.url.clone();
    let mut timings = Vec::new();
    for parallel in [1usize, 4] {
        let mut config = config(&base);
        config.parallel_requests = parallel;
        let connector = MoxionConnector::new(config).expect("client");
        connector
            .authenticate(&key(REVIEWER))
            .await
            .expect("sign in");
        // One warm-up listing, then the best of three.
        let batch = RemoteId::new("batch:50");
        let mut best = Duration::MAX;
        for round in 0..4 {
            let started = std::time::Instant::now();
            let assets = connector.list_assets(&batch).await.expect("listing");
            assert_eq!(assets.len(), 302);
            if round > 0 {
                best = best.min(started.elapsed());
            }
        }
        timings.push((parallel, best));
    }
    let reference = timings[0].1.as_secs_f64();
    for (parallel, best) in &timings {
        println!(
            "moxion list_assets, 302 assets, files {parallel} at a time: {:.1} ms ({:.2}x the one-at-a-time reference)",
            best.as_secs_f64() * 1000.0,
            best.as_secs_f64() / reference
        );
    }

    let svg =
        std::fs::read_to_string(fixtures_dir("moxion").join("indicator_simple.svg")).expect("svg");
    let drawing = framenote_connectors::moxion::drawing::from_svg(&svg).expect("drawing");
    let json = serde_json::to_string(&drawing).expect("json");
    const ROUNDS: u32 = 5_000;
    let started = std::time::Instant::now();
    for _ in 0..ROUNDS {
        std::hint::black_box(framenote_connectors::moxion::drawing::from_svg(
            std::hint::black_box(&svg),
        ));
    }
    let svg_each = started.elapsed() / ROUNDS;
    let started = std::time::Instant::now();
    for _ in 0..ROUNDS {
        let parsed: framenote_core::Drawing =
            serde_json::from_str(std::hint::black_box(&json)).expect("json");
        std::hint::black_box(parsed);
    }
    let json_each = started.elapsed() / ROUNDS;
    println!(
        "SVG drawing (5 shapes, {} bytes) -> shapes: {:.1} µs each; same shapes from JSON ({} bytes, reference): {:.1} µs; ratio {:.1}x",
        svg.len(),
        svg_each.as_secs_f64() * 1e6,
        json.len(),
        json_each.as_secs_f64() * 1e6,
        svg_each.as_secs_f64() / json_each.as_secs_f64()
    );
}

#[tokio::test]
async fn moxion_expired_presigned_part_urls_are_asked_again_then_the_upload_is_aborted() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base).await;
    let path = running.media.path().join("small.mp4");
    make_clip(&path, "25", 1.0, "00:00:00:00").expect("clip");
    // Every presigned URL is already expired when it is used.
    control(&base, "url_ttl", json!({ "seconds": 0 }))
        .await
        .expect("ttl");
    let request = framenote_connectors::UploadRequest {
        path: path.clone(),
        destination: RemoteId::new("batch:50"),
        name: "expired.mp4".into(),
        comment: None,
        subfolder: Vec::new(),
        version_hint: None,
    };
    let err = connector
        .upload(&request, &|_| {})
        .await
        .expect_err("expired URLs");
    assert_eq!(err.kind, ErrorKind::Forbidden, "{err}");
    let counters = stats(&base).await.expect("stats");
    assert_eq!(
        counters["requests"]["/upload/asset/part"],
        json!(2),
        "one new URL was asked for"
    );
    assert_eq!(
        counters["requests"]["/upload/asset/abort"],
        json!(1),
        "the multipart upload was aborted"
    );
    // With URLs that last, the same file goes up in several parts and is listed.
    control(&base, "url_ttl", json!({ "seconds": 300 }))
        .await
        .expect("ttl");
    let size = std::fs::metadata(&path).expect("size").len();
    let version = connector.upload(&request, &|_| {}).await.expect("upload");
    assert_eq!(version.media.frame_rate, FrameRate::FPS_25);
    assert_eq!(version.media.bytes, Some(size));
    assert!(
        size > 64 * 1024,
        "the clip should span several 64 KiB parts"
    );
}

/// The CLI signs in to Flow Capture by device code: it prints the code and the page, waits while
/// the person approves it in a browser, then keeps the session like any other sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signs_in_by_device_code_and_syncs() -> anyhow::Result<()> {
    use std::io::BufRead;
    let running = start()?;
    let base = running.server.url.clone();
    let cli = framenote_tests::cli_support::Cli::new()?;
    let mut child = cli
        .command(&[
            "--json",
            "login",
            "--platform",
            "moxion",
            "--url",
            &base,
            "--device",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = tokio::task::spawn_blocking(move || {
        let line = lines.next().transpose()?;
        anyhow::Ok((line, lines))
    })
    .await??;
    let (line, mut lines) = first;
    let shown: Value = serde_json::from_str(&line.unwrap_or_default())?;
    let code = shown["device"]["user_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!code.is_empty(), "the code is shown: {shown}");
    assert!(
        shown["device"]["verification_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with(&base)),
        "{shown}"
    );
    // Nothing is signed in until the person approves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait()?.is_none(),
        "the CLI waits for the approval"
    );
    approve_device_code(&base, &code).await?;
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert!(status.success(), "login ended with {status}");
    let added: Value = serde_json::from_str(&lines.next().transpose()?.unwrap_or_default())?;
    assert_eq!(added["account"]["user_name"], "Otto Other", "{added}");
    let synced = cli.json(&["sync"])?;
    assert!(
        synced["report"]["pull"]["nodes"].as_u64().unwrap_or(0) > 0,
        "the device session browses: {synced}"
    );
    Ok(())
}
