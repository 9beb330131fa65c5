//! The Kitsu connector against a real Zou 1.0.97 (started once per run by `zou::zou()`): the
//! conformance suite through the Kitsu fixture, plus what only Kitsu has — status changes seen
//! through Zou's own API, Kitsu-web drawings read back on the right frame, the time grid at
//! 23.976 and 29.97 checked on the server, media facts against the real proxy, and the socket.io feed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use framenote_connectors::kitsu::{KitsuConfig, KitsuConnector};
use framenote_connectors::{Connector, Credentials, ErrorKind, MediaSource, RemoteEvent, Session};
use framenote_core::{FrameRate, FrameSpan, RemoteId, ShapeKind, Version};
use framenote_tests::fault_proxy::FaultProxy;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::conformance::{
    self, Denied, DeniedAction, Expected, Fixture, Proxied, RateCase, UploadCase,
};
use crate::zou::{self, ARTIST, Admin, SUPERVISOR, Zou};

/// Kitsu's time for a frame, written out from the reference (not the connector's code):
/// `round4(frame × round4(1/fps))` with half-up rounding.
fn kitsu_time(fps: f64, frame: u64) -> f64 {
    let round4 = |x: f64| (x * 10000.0 + 0.5).floor() / 10000.0;
    round4(frame as f64 * round4(1.0 / fps))
}

fn connector_for(api: &str) -> Arc<dyn Connector> {
    match KitsuConnector::new(KitsuConfig::new(api)) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("Kitsu connector: {e}"),
    }
}

fn password(login: (&str, &str)) -> Credentials {
    Credentials::Password {
        user: login.0.to_owned(),
        password: login.1.to_owned(),
    }
}

struct KitsuFixture {
    zou: Arc<Zou>,
    proxied: OnceCell<Proxied>,
}

impl KitsuFixture {
    async fn admin(&self) -> anyhow::Result<Admin> {
        Admin::login(&self.zou.api, &self.zou.admin.0, &self.zou.admin.1).await
    }
}

#[async_trait]
impl Fixture for KitsuFixture {
    fn name(&self) -> &str {
        "Kitsu (Zou 1.0.97)"
    }
    fn connector(&self) -> Arc<dyn Connector> {
        connector_for(&self.zou.api)
    }
    fn reviewer(&self) -> Credentials {
        password(SUPERVISOR)
    }
    fn expected(&self) -> Expected {
        Expected {
            asset_name: zou::asset_name("24"),
            frame_rate: FrameRate::new(24, 1),
            frame_count: Some(96),
            size: Some((640, 360)),
        }
    }
    async fn proxied(&self) -> anyhow::Result<Option<Proxied>> {
        let zou = Arc::clone(&self.zou);
        let proxied = self
            .proxied
            .get_or_try_init(|| async move {
                let origin = zou.api.trim_end_matches("/api").to_owned();
                let proxy = Arc::new(FaultProxy::start(&origin).await?);
                let connector = connector_for(&format!("{}/api", proxy.url()));
                connector.authenticate(&password(SUPERVISOR)).await?;
                anyhow::Ok(Proxied {
                    connector,
                    proxy,
                    listing_path: "/data/user/projects/open".to_owned(),
                    media_path: "/movies/originals/preview-files/".to_owned(),
                })
            })
            .await?;
        Ok(Some(proxied.clone()))
    }
    async fn denied(&self) -> anyhow::Result<Option<Denied>> {
        Ok(Some(Denied {
            connector: self.connector(),
            credentials: password(ARTIST),
            action: DeniedAction::Drawing,
        }))
    }
    async fn touch_asset_on_server(&self, asset: &framenote_core::Asset) -> anyhow::Result<bool> {
        let admin = self.admin().await?;
        let wfa = &self.zou.seed.status["wfa"];
        admin
            .post(
                &format!("/actions/tasks/{}/comment", asset.id),
                json!({"task_status_id": wfa, "comment": "touched by the conformance suite"}),
            )
            .await?;
        Ok(true)
    }
    async fn server_drawing_time(
        &self,
        version: &Version,
        frame: u64,
    ) -> anyhow::Result<Option<f64>> {
        let admin = self.admin().await?;
        let preview = admin
            .get(&format!("/data/preview-files/{}", version.id))
            .await?;
        let rate = version.media.frame_rate;
        let true_time = frame as f64 * f64::from(rate.den) / f64::from(rate.num);
        let half = 0.5 * f64::from(rate.den) / f64::from(rate.num);
        Ok(preview["annotations"].as_array().and_then(|entries| {
            entries
                .iter()
                .filter(|e| {
                    e["drawing"]["objects"]
                        .as_array()
                        .is_some_and(|o| !o.is_empty())
                })
                .filter_map(|e| e["time"].as_f64())
                .find(|t| {
                    (t - kitsu_time(fps_of(rate), frame)).abs() < half
                        || (t - true_time).abs() < half
                })
        }))
    }
    fn platform_time_of(&self, rate: FrameRate, frame: u64) -> Option<f64> {
        Some(kitsu_time(fps_of(rate), frame))
    }
    async fn rate_cases(&self, connector: &dyn Connector) -> anyhow::Result<Vec<RateCase>> {
        let mut cases = Vec::new();
        for (fps, label) in [
            ("23.976", "23.976"),
            ("29.97", "29.97 (Kitsu has no drop-frame; seconds only)"),
        ] {
            let (_, asset, _) = conformance::find_asset(connector, &zou::asset_name(fps)).await?;
            let want = &self.zou.seed.projects[fps].preview_id;
            let version = asset
                .versions
                .iter()
                .find(|v| v.id.as_str() == want)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("seeded preview of {fps} not listed"))?;
            cases.push(RateCase {
                label: label.to_owned(),
                version,
            });
        }
        Ok(cases)
    }
    async fn upload_source(
        &self,
        _connector: &dyn Connector,
    ) -> anyhow::Result<Option<UploadCase>> {
        let dir = self.zou.data_dir.join("upload");
        tokio::fs::create_dir_all(&dir).await?;
        let movie = zou::make_movie(&dir, "24", 2).await?;
        let project = &self.zou.seed.projects["24"];
        Ok(Some(UploadCase {
            path: movie,
            destination: RemoteId::new(project.upload_task_id.clone()),
            listed_under: RemoteId::new(project.id.clone()),
        }))
    }
    fn note_status(&self) -> Option<String> {
        // A real status call that keeps the task in the supervisor's "to check" list, which the
        // other Kitsu tests browse at the same time (the status change itself is checked in
        // `kitsu_note_changes_task_status_and_drawing_lands_on_kitsu_time`, on its own task).
        Some("wfa".to_owned())
    }
}

/// Zou's own fps float for a rational rate: `float(f"{fps:.3f}")`.
fn fps_of(rate: FrameRate) -> f64 {
    format!("{:.3}", f64::from(rate.num) / f64::from(rate.den))
        .parse()
        .unwrap_or(25.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_passes_the_conformance_suite() {
    let zou = zou::zou().await;
    let fixture = KitsuFixture {
        zou,
        proxied: OnceCell::new(),
    };
    let started = std::time::Instant::now();
    conformance::run(&fixture, &conformance::standard_steps())
        .await
        .assert_passed();
    eprintln!(
        "kitsu: Zou start {:.1} s, seed {:.1} s, conformance {:.1} s",
        fixture.zou.start_seconds,
        fixture.zou.seed_seconds,
        started.elapsed().as_secs_f64()
    );
}

async fn supervisor(zou: &Zou) -> Arc<dyn Connector> {
    let connector = connector_for(&zou.api);
    if let Err(e) = connector.authenticate(&password(SUPERVISOR)).await {
        panic!("supervisor login: {e}");
    }
    connector
}

async fn seeded_version(connector: &dyn Connector, zou: &Zou, fps: &str) -> Version {
    let (_, asset, _) = match conformance::find_asset(connector, &zou::asset_name(fps)).await {
        Ok(found) => found,
        Err(e) => panic!("{e:#}"),
    };
    let want = &zou.seed.projects[fps].preview_id;
    match asset.versions.iter().find(|v| v.id.as_str() == want) {
        Some(v) => v.clone(),
        None => panic!("seeded preview {want} not in {:?}", asset.versions),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_media_facts_match_the_real_proxy() {
    let zou = zou::zou().await;
    let connector = supervisor(&zou).await;
    for fps in ["24", "23.976", "29.97"] {
        let version = seeded_version(connector.as_ref(), &zou, fps).await;
        let MediaSource::Http { url, headers, .. } =
            connector.media_source(&version).await.unwrap()
        else {
            panic!("Kitsu media must be HTTP");
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.mp4");
        let http = framenote_connectors::http::HttpClient::new(Default::default()).unwrap();
        framenote_connectors::http::download_resumable(&http, &url, &headers, &path, &|_, _| {})
            .await
            .unwrap();
        let probe = std::process::Command::new("ffprobe")
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
            .arg(&path)
            .output()
            .unwrap();
        let facts: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
        let stream = &facts["streams"][0];
        let frames: u64 = stream["nb_read_frames"].as_str().unwrap().parse().unwrap();
        eprintln!(
            "kitsu {fps}: connector says {:?} fps, {:?} frames; ffprobe of the proxy: {} fps, {frames} frames",
            version.media.frame_rate, version.media.frame_count, stream["r_frame_rate"]
        );
        assert_eq!(
            version.media.bytes,
            std::fs::metadata(&path).ok().map(|m| m.len()),
            "{fps}: proxy size"
        );
        assert_eq!(
            version.media.frame_count,
            Some(frames),
            "{fps}: frame count vs the real proxy"
        );
        assert_eq!(
            version.media.width,
            stream["width"].as_u64().map(|w| w as u32)
        );
        assert_eq!(
            version.media.height,
            stream["height"].as_u64().map(|h| h as u32)
        );
        let want_rate = match fps {
            "24" => FrameRate::new(24, 1),
            "23.976" => FrameRate::new(24000, 1001),
            _ => FrameRate::new(30000, 1001),
        };
        assert_eq!(version.media.frame_rate, want_rate, "{fps}");
        assert_eq!(
            version.media.first_frame, 1001,
            "shot frame_in is the first frame number"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_web_drawing_is_read_back_on_its_frame() {
    let zou = zou::zou().await;
    let connector = supervisor(&zou).await;
    let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1)
        .await
        .unwrap();
    for (fps, frame) in [("24", 40u64), ("23.976", 77), ("29.97", 101)] {
        let version = seeded_version(connector.as_ref(), &zou, fps).await;
        let fps_value: f64 = fps.parse().unwrap();
        // What Kitsu web sends: time on its grid, 1-based frame, fabric objects in canvas pixels.
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({"additions": [{"time": kitsu_time(fps_value, frame), "frame": frame + 1,
            "drawing": {"objects": [{"id": id, "type": "rect", "left": 64, "top": 36, "width": 320, "height": 180,
                "stroke": "rgba(255,0,0,1)", "strokeWidth": 4, "fill": "transparent", "angle": 0,
                "scaleX": 1, "scaleY": 1, "canvasWidth": 1280, "canvasHeight": 720}]}}],
            "updates": [], "deletions": []});
        admin
            .send(
                reqwest::Method::PUT,
                &format!("/actions/preview-files/{}/update-annotations", version.id),
                body,
            )
            .await
            .unwrap();
        let drawings = connector.list_drawings(&version).await.unwrap();
        let found = drawings
            .iter()
            .find(|d| d.drawing.shapes.iter().any(|s| s.id == id))
            .unwrap_or_else(|| panic!("{fps}: Kitsu web drawing not read back: {drawings:?}"));
        assert_eq!(found.frames, FrameSpan::frame(frame), "{fps}: wrong frame");
        assert_eq!(found.note_client_id, None);
        let shape = found.drawing.shapes.iter().find(|s| s.id == id).unwrap();
        let ShapeKind::Rect {
            origin,
            width,
            height,
        } = &shape.kind
        else {
            panic!("{shape:?}")
        };
        assert!((origin.x - 0.05).abs() < 1e-9 && (origin.y - 0.05).abs() < 1e-9);
        assert!((width - 0.25).abs() < 1e-9 && (height - 0.25).abs() < 1e-9);
        assert_eq!(shape.stroke.color, "#ff0000");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_note_changes_task_status_and_drawing_lands_on_kitsu_time() {
    let zou = zou::zou().await;
    let connector = supervisor(&zou).await;
    let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1)
        .await
        .unwrap();
    // Its own task: a retake takes it out of the supervisor's "to check" list.
    let version = seeded_version(connector.as_ref(), &zou, "23.976 status").await;
    let mut note = conformance::new_note(
        &version,
        "Arm pops at 41",
        Some(41),
        Some(conformance::arrow_and_rect()),
    );
    note.status = Some("retake".to_owned());
    let created = connector.create_note(&note).await.unwrap();
    assert_eq!(created.frames, Some(FrameSpan::frame(41)));
    let task = admin
        .get(&format!("/data/tasks/{}", version.asset))
        .await
        .unwrap();
    assert_eq!(
        task["task_status_id"],
        zou.seed.status["retake"].as_str(),
        "status change through Zou's own API"
    );
    let preview = admin
        .get(&format!("/data/preview-files/{}", version.id))
        .await
        .unwrap();
    let entry = preview["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["drawing"]["objects"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|o| o["framenoteNoteId"] == note.client_id.as_str())
            })
        })
        .expect("our drawing is stored");
    // 41 × round4(1/23.976) = 41 × 0.0417 = 1.7097, not the true 1.7100 s.
    assert_eq!(entry["time"].as_f64(), Some(1.7097));
    assert_eq!(
        entry["frame"].as_u64(),
        Some(42),
        "Kitsu counts frames from 1"
    );
    let objects = entry["drawing"]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2);
    assert!(
        objects
            .iter()
            .all(|o| o["canvasWidth"].as_f64() == Some(640.0)
                && o["canvasHeight"].as_f64() == Some(360.0)),
        "{objects:?}"
    );
    // Out of "to check" now, but still under "All tasks", with its new status.
    let all = connector
        .list_assets(&RemoteId::new(format!(
            "all:{}",
            zou.seed.projects["23.976 status"].id
        )))
        .await
        .unwrap();
    let task = all
        .iter()
        .find(|a| a.id == version.asset)
        .expect("the task is under All tasks");
    assert_eq!(task.status.as_deref(), Some("retake"));
    assert_eq!(task.name, zou::asset_name("23.976 status"));
    assert!(
        task.versions.iter().any(|v| v == &version),
        "same version, same media facts"
    );
    // Moving the drawing to another frame deletes it at the old time.
    let drawing = created.drawing.clone().unwrap();
    connector
        .write_drawing(
            &version,
            FrameSpan::frame(50),
            &drawing,
            Some(&note.client_id),
        )
        .await
        .unwrap();
    let notes = connector.list_drawings(&version).await.unwrap();
    let ours: Vec<_> = notes
        .iter()
        .filter(|d| d.note_client_id.as_deref() == Some(note.client_id.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0].frames, FrameSpan::frame(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_expired_and_invalid_tokens() {
    let zou = zou::zou().await;
    let connector = supervisor(&zou).await;
    let session = connector.session().unwrap();
    // Invalid access, valid refresh: refreshed by itself, then it works.
    connector.set_session(Session {
        access_token: Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad".into()),
        ..session.clone()
    });
    assert!(!connector.list_nodes(None).await.unwrap().is_empty());
    assert_ne!(
        connector.session().unwrap().access_token,
        Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad".into())
    );
    // No session at all: LoginRequired, not a panic.
    let fresh = connector_for(&zou.api);
    assert_eq!(
        fresh.list_nodes(None).await.unwrap_err().kind,
        ErrorKind::LoginRequired
    );
    // Logged out server-side (tokens revoked): LoginRequired.
    let revoked = supervisor(&zou).await;
    let tokens = revoked.session().unwrap();
    let answer = reqwest::Client::new()
        .get(format!("{}/auth/logout", zou.api))
        .bearer_auth(tokens.access_token.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let err = revoked.list_nodes(None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::LoginRequired, "{err}");
    assert!(
        !err.message
            .contains(tokens.access_token.as_deref().unwrap()),
        "a token leaked into a message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_live_events_arrive() {
    let zou = zou::zou().await;
    let connector = match KitsuConnector::new(KitsuConfig {
        events_url: Some(zou.events.clone()),
        ..KitsuConfig::new(&zou.api)
    }) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    connector.authenticate(&password(SUPERVISOR)).await.unwrap();
    let mut feed = connector.subscribe().await.unwrap();
    // Give the namespace join a moment, then cause an event through Zou's API.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1)
        .await
        .unwrap();
    let task = &zou.seed.projects["29.97"].task_id;
    admin
        .post(
            &format!("/actions/tasks/{task}/comment"),
            json!({"task_status_id": zou.seed.status["wfa"], "comment": "live event test"}),
        )
        .await
        .unwrap();
    // A Kitsu whose event stream cannot be reached: subscribing fails (Offline), so the caller
    // polls instead of waiting for events that never come.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let deaf = KitsuConnector::new(KitsuConfig {
        events_url: Some(dead_url),
        ..KitsuConfig::new(&zou.api)
    })
    .unwrap();
    deaf.authenticate(&password(SUPERVISOR)).await.unwrap();
    match deaf.subscribe().await {
        Err(e) => assert_eq!(e.kind, ErrorKind::Offline, "{e}"),
        Ok(_) => panic!("subscribed to a feed that is not there"),
    }
    let want = RemoteEvent::NotesChanged {
        asset: RemoteId::new(task.clone()),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline, feed.events.recv())
            .await
            .expect("no comment event within 30 s")
            .expect("feed ended");
        if event == want {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_lost_answer_is_recognised_on_retry() {
    use framenote_tests::fault_proxy::{Fault, FaultAction};
    let zou = zou::zou().await;
    let origin = zou.api.trim_end_matches("/api").to_owned();
    let proxy = FaultProxy::start(&origin).await.unwrap();
    let connector = connector_for(&format!("{}/api", proxy.url()));
    connector.authenticate(&password(SUPERVISOR)).await.unwrap();
    let version = seeded_version(connector.as_ref(), &zou, "29.97").await;
    // The comment reaches Zou and is stored, but the answer is cut: what a dropped connection
    // after "posted" looks like to the outbox.
    proxy.inject(Fault {
        method: Some("POST".into()),
        path_contains: "/comment".into(),
        action: FaultAction::CutBody { bytes: 0 },
        times: 1,
    });
    let note = conformance::new_note(
        &version,
        "posted once, answered never",
        Some(5),
        Some(conformance::arrow_and_rect()),
    );
    let lost = connector.create_note(&note).await.unwrap_err();
    assert!(
        lost.kind.is_transient(),
        "a lost answer must stay queued: {:?} {lost}",
        lost.kind
    );
    // The outbox retries: the connector finds the comment by its client id instead of posting again.
    let retried = connector.create_note(&note).await.unwrap();
    assert_eq!(retried.client_id.as_deref(), Some(note.client_id.as_str()));
    assert!(
        retried.drawing.is_some(),
        "the retry completes the drawing the first attempt never sent"
    );
    let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1)
        .await
        .unwrap();
    let comments = admin
        .get(&format!("/data/tasks/{}/comments", version.asset))
        .await
        .unwrap();
    let copies = comments
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["text"]
                .as_str()
                .is_some_and(|t| t.contains(&note.client_id))
        })
        .count();
    assert_eq!(copies, 1, "the note was posted twice");
    assert_eq!(
        proxy
            .seen("/comment")
            .iter()
            .filter(|s| s.method == "POST")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kitsu_timeouts_are_retried_then_reported_offline() {
    use framenote_connectors::http::HttpConfig;
    use framenote_tests::fault_proxy::{Fault, FaultAction};
    let zou = zou::zou().await;
    let origin = zou.api.trim_end_matches("/api").to_owned();
    let proxy = FaultProxy::start(&origin).await.unwrap();
    let config = KitsuConfig {
        http: HttpConfig {
            timeout: Duration::from_secs(1),
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            ..HttpConfig::default()
        },
        ..KitsuConfig::new(format!("{}/api", proxy.url()))
    };
    let connector = KitsuConnector::new(config).unwrap();
    connector.authenticate(&password(SUPERVISOR)).await.unwrap();
    let path = "/data/user/projects/open";
    let slow = |times| Fault {
        method: Some("GET".into()),
        path_contains: path.into(),
        action: FaultAction::Delay(Duration::from_secs(3)),
        times,
    };
    // One slow answer: timed out, retried (a listing is idempotent), then fine.
    proxy.inject(slow(1));
    assert!(!connector.list_nodes(None).await.unwrap().is_empty());
    let seen = proxy.seen(path);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].faulted && !seen[1].faulted);
    // Slow every time: a transient Offline error once the budget is spent, not a hang.
    proxy.inject(slow(3));
    let err = connector.list_nodes(None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Offline, "{err}");
    assert!(err.message.contains("timed out"), "{err}");
    assert_eq!(proxy.seen(path).len(), 5);
}
