//! Sony Ci: the connector against `tests/servers/sonyci.py` (seed 003 + the public clients'
//! facts), through the shared conformance suite (note steps skip: Ci has no comment API), plus
//! frame facts at 23.976 and 29.97 DF from technical metadata, signed URLs that expire, multipart
//! uploads read back through `GET /assets/{id}/download`, events, the rate window, and a 403.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use framenote_connectors::sonyci::{SonyCiConfig, SonyCiConnector};
use framenote_connectors::{Connector, Credentials, ErrorKind, MediaSource, UploadRequest};
use framenote_core::{Asset, FrameRate, RemoteId};
use framenote_tests::fault_proxy::FaultProxy;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::conformance::{self, Expected, Fixture, Proxied, UploadCase};
use crate::iconik::{Server, media_dir};

pub(crate) struct Running {
    pub(crate) server: Server,
    pub(crate) media: tempfile::TempDir,
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
            .join("fixtures/sonyci/seed.json")
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
        server: Server::start("sonyci.py", &args)?,
        media,
        cdn_file,
        log,
    })
}

pub(crate) fn config(base: &str) -> SonyCiConfig {
    // One test server plays both the API host and the upload host.
    let mut cfg =
        SonyCiConfig::with_hosts(base, base, "framenote-test-client", "framenote-test-secret");
    cfg.limit = 2; // every listing walks several pages
    cfg.http.base_backoff = Duration::from_millis(50);
    cfg
}

fn connector_to(base: &str) -> Arc<SonyCiConnector> {
    Arc::new(SonyCiConnector::new(config(base)).expect("Ci connector"))
}

pub(crate) fn user(email: &str) -> Credentials {
    Credentials::Password {
        user: email.into(),
        password: format!("{}-pass", email.split('@').next().unwrap_or("")),
    }
}

/// A bearer token through the documented password grant.
pub(crate) async fn raw_token(base: &str, email: &str) -> anyhow::Result<String> {
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(
            email,
            Some(format!("{}-pass", email.split('@').next().unwrap_or(""))),
        )
        .json(
            &json!({"client_id": "framenote-test-client", "client_secret": "framenote-test-secret",
                      "grant_type": "password"}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["access_token"].as_str().unwrap_or_default().to_owned())
}

pub(crate) async fn raw_get(base: &str, path: &str, token: &str) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

struct CiFixture {
    running: Running,
    proxied: OnceCell<(Arc<FaultProxy>, Arc<SonyCiConnector>)>,
}

impl CiFixture {
    fn base(&self) -> &str {
        &self.running.server.url
    }
}

#[async_trait]
impl Fixture for CiFixture {
    fn name(&self) -> &str {
        "Sony Ci"
    }

    fn connector(&self) -> Arc<dyn Connector> {
        connector_to(self.base())
    }

    fn reviewer(&self) -> Credentials {
        user("ana@example.com")
    }

    fn expected(&self) -> Expected {
        Expected {
            asset_name: "A001_C003_23976.mov".into(),
            frame_rate: FrameRate::FPS_23_976,
            frame_count: Some(48),
            // The source's raster, from the technical metadata.
            size: Some((1920, 1080)),
        }
    }

    async fn proxied(&self) -> anyhow::Result<Option<Proxied>> {
        let (proxy, connector) = self
            .proxied
            .get_or_try_init(|| async {
                let proxy = Arc::new(FaultProxy::start(self.base()).await?);
                // Signed links go through the proxy too, as through the CDN.
                std::fs::write(&self.running.cdn_file, proxy.url())?;
                let connector = connector_to(&proxy.url());
                connector.authenticate(&user("ana@example.com")).await?;
                anyhow::Ok((proxy, connector))
            })
            .await?;
        Ok(Some(Proxied {
            connector: connector.clone(),
            proxy: proxy.clone(),
            listing_path: "/workspaces".into(),
            media_path: "/cdn/".into(),
        }))
    }

    async fn touch_asset_on_server(&self, asset: &Asset) -> anyhow::Result<bool> {
        let token = raw_token(self.base(), "bob@example.com").await?;
        reqwest::Client::new()
            .post(format!("{}/assets/{}/metadata", self.base(), asset.id))
            .bearer_auth(token)
            .json(&json!({"metadata": [{"name": "reviewed", "value": "pending"}]}))
            .send()
            .await?
            .error_for_status()?;
        Ok(true)
    }

    async fn upload_source(
        &self,
        _connector: &dyn Connector,
    ) -> anyhow::Result<Option<UploadCase>> {
        Ok(Some(UploadCase {
            path: self.running.media.path().join("clip_25.mp4"),
            destination: RemoteId::new("folder:f-dailies"),
            listed_under: RemoteId::new("folder:f-dailies"),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonyci_conformance() {
    let fixture = CiFixture {
        running: start(&[]).expect("Ci test server"),
        proxied: OnceCell::new(),
    };
    let report = conformance::run(&fixture, &conformance::standard_steps()).await;
    report.assert_passed();
    // Ci has no comments: the connector says so plainly instead of pretending.
    let c = fixture.connector();
    c.authenticate(&fixture.reviewer()).await.expect("sign in");
    let (_, _, v) = conformance::find_asset(c.as_ref(), "A001_C003_23976.mov")
        .await
        .expect("asset");
    let err = c.list_notes(&v).await.expect_err("Ci has no notes");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(!c.capabilities().notes && !c.capabilities().drawings);
}

async fn signed_in(base: &str) -> Arc<SonyCiConnector> {
    let c = connector_to(base);
    c.authenticate(&user("ana@example.com"))
        .await
        .expect("sign in");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonyci_frame_facts_and_expiring_signed_urls() {
    let running = start(&["--url-ttl", "3"]).expect("server");
    let c = signed_in(&running.server.url).await;
    let (_, _, v23) = conformance::find_asset(c.as_ref(), "A001_C003_23976.mov")
        .await
        .expect("23.976");
    let tc = v23.media.start_timecode.expect("timecode");
    assert_eq!(
        (v23.media.frame_rate, tc.frames, tc.drop_frame),
        (FrameRate::FPS_23_976, 86_400, false)
    );
    let (_, _, v29) = conformance::find_asset(c.as_ref(), "B002_C001_2997DF.mov")
        .await
        .expect("29.97");
    let tc = v29.media.start_timecode.expect("timecode");
    assert_eq!(v29.media.frame_rate, FrameRate::FPS_29_97);
    // derivedTimeCode 00:59:59;28 is drop-frame: two labels before 01:00:00;00 = 107892.
    assert_eq!((tc.frames, tc.drop_frame), (107_890, true));
    assert_eq!(v29.media.frame_count, Some(60));
    let (_, _, v25) = conformance::find_asset(c.as_ref(), "C003_plate_25.mov")
        .await
        .expect("25");
    assert_eq!(
        v25.media.frame_rate,
        FrameRate::FPS_25,
        "360/14.4 reduces to 25"
    );

    let MediaSource::Http {
        url: first,
        headers,
        bytes,
    } = c.media_source(&v29).await.expect("source")
    else {
        panic!("Ci gave a file path");
    };
    assert!(headers.is_empty(), "no bearer token may go to the CDN");
    let size = std::fs::metadata(running.media.path().join("clip_2997df.mp4"))
        .expect("clip")
        .len();
    assert_eq!(bytes, Some(size));
    let part = reqwest::Client::new()
        .get(&first)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), 206);
    // Signed for 2–3 s (whole seconds): certainly expired after 3.2 s.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        reqwest::get(&first).await.expect("stale").status(),
        403,
        "expired URL accepted"
    );
    let MediaSource::Http { url: fresh, .. } = c.media_source(&v29).await.expect("again") else {
        panic!("Ci gave a file path");
    };
    assert_ne!(fresh, first);
    let body = reqwest::get(&fresh)
        .await
        .expect("fresh")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.len() as u64, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonyci_multipart_upload_and_refused_upload() {
    let running = start(&[]).expect("server");
    let mut cfg = config(&running.server.url);
    cfg.multipart_threshold = 64 * 1024;
    cfg.part_size = 48 * 1024;
    let c = SonyCiConnector::new(cfg).expect("connector");
    c.authenticate(&user("ana@example.com"))
        .await
        .expect("sign in");
    let path = running.media.path().join("clip_23976.mp4");
    let original = std::fs::read(&path).expect("clip");
    assert!(
        original.len() > 2 * 48 * 1024,
        "the clip must need several parts"
    );
    let seen = std::sync::Mutex::new(Vec::new());
    let version = c
        .upload(
            &UploadRequest {
                path: path.clone(),
                destination: RemoteId::new("folder:f-edit"),
                name: "multipart.mp4".into(),
                comment: None,
                subfolder: Vec::new(),
                version_hint: None,
            },
            &|n| seen.lock().expect("progress").push(n),
        )
        .await
        .expect("multipart upload");
    let progress = seen.lock().expect("progress").clone();
    assert_eq!(progress.last().copied(), Some(original.len() as u64));
    assert!(
        progress.len() >= 4 && progress.windows(2).all(|w| w[0] <= w[1]),
        "{progress:?}"
    );
    // Read back through Ci's own endpoints: the asset, then its original's signed download URL.
    let token = raw_token(&running.server.url, "ana@example.com")
        .await
        .expect("token");
    let asset = raw_get(
        &running.server.url,
        &format!("/assets/{}", version.asset),
        &token,
    )
    .await
    .expect("asset");
    assert_eq!(asset["uploadTransferType"], "MultipartHttp");
    assert_eq!(asset["folder"]["id"], "f-edit");
    let dl = raw_get(
        &running.server.url,
        &format!("/assets/{}/download", version.asset),
        &token,
    )
    .await
    .expect("download");
    let bytes = reqwest::get(dl["location"].as_str().unwrap_or_default())
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert!(
        bytes.as_ref() == original.as_slice(),
        "the parts do not add up to the file"
    );

    // Vic may look at Show A but not add to it: a clear Forbidden, not a retry loop.
    let vic = connector_to(&running.server.url);
    vic.authenticate(&user("vic@example.com"))
        .await
        .expect("vic signs in");
    let err = vic
        .upload(
            &UploadRequest {
                path,
                destination: RemoteId::new("folder:f-dailies"),
                name: "nope.mp4".into(),
                comment: None,
                subfolder: Vec::new(),
                version_hint: None,
            },
            &|_| {},
        )
        .await
        .expect_err("read-only workspace");
    assert_eq!(err.kind, ErrorKind::Forbidden, "{err}");
    assert!(!err.kind.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonyci_events_drive_incremental_sync() {
    let running = start(&[]).expect("server");
    let c = signed_in(&running.server.url).await;
    let all = c
        .changes_since("w-show", "2000-01-01T00:00:00.000Z")
        .await
        .expect("events");
    assert_eq!(all.changed, vec![RemoteId::new("a-23976")]);
    assert_eq!(all.cursor, "2024-04-02T09:00:00.000Z");
    let token = raw_token(&running.server.url, "bob@example.com")
        .await
        .expect("token");
    let client = reqwest::Client::new();
    client
        .post(format!("{}/assets/a-25/metadata", running.server.url))
        .bearer_auth(&token)
        .json(&json!({"metadata": [{"name": "status", "value": "final"}]}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("metadata change");
    client
        .post(format!("{}/folders/", running.server.url))
        .bearer_auth(&token)
        .json(&json!({"name": "VFX", "workspaceId": "w-show"}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("new folder");
    let later = c
        .changes_since("w-show", &all.cursor)
        .await
        .expect("later events");
    assert!(later.changed.contains(&RemoteId::new("a-25")), "{later:?}");
    assert!(later.folders_changed);
    assert!(later.cursor > all.cursor);
    // The node-level incremental listing returns only what changed in that folder.
    let edit = c
        .list_assets_since(&RemoteId::new("folder:f-edit"), &all.cursor)
        .await
        .expect("since");
    assert_eq!(
        edit.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["C003_plate_25.mov"]
    );
    let dailies = c
        .list_assets_since(&RemoteId::new("folder:f-dailies"), &all.cursor)
        .await
        .expect("since");
    // `since` is inclusive ("on or after"): the seed's CreateAsset at the cursor comes again.
    assert_eq!(
        dailies.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["A001_C003_23976.mov"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonyci_rate_window_is_respected() {
    // 8 calls per 2 s window; browsing needs many more. X-RateLimit-Remaining reaches 0 and the
    // connector waits for X-RateLimit-Reset instead of being refused.
    let running = start(&["--rate", "8/2"]).expect("server");
    let c = signed_in(&running.server.url).await;
    let started = std::time::Instant::now();
    let (_, _, v) = conformance::find_asset(c.as_ref(), "C003_plate_25.mov")
        .await
        .expect("asset");
    for _ in 0..3 {
        c.list_nodes(Some(&RemoteId::new("workspace:w-show")))
            .await
            .expect("browse");
    }
    assert_eq!(v.media.frame_rate, FrameRate::FPS_25);
    let log = std::fs::read_to_string(&running.log).expect("request log");
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let api = lines.len();
    let refused = lines.iter().filter(|l| l["status"] == 429).count();
    let violations = lines.iter().filter(|l| l["violation"] == true).count();
    assert!(
        api > 8,
        "the test did not exceed one window ({api} requests)"
    );
    assert_eq!(violations, 0, "requests were sent while told to wait");
    eprintln!(
        "Sony Ci rate window: {api} requests, {refused} × 429, {:?} (windows of 8 per 2 s)",
        started.elapsed()
    );
}
