//! Dalet Flex: the connector against `tests/servers/flex.py`, a server that follows the seed
//! outline and the public facts of `reference/platforms/flex.md`. The shared conformance suite
//! runs through [`FlexFixture`]; the tests after it cover what only Flex has: matrix paging,
//! microsecond annotation times at 23.976 and 29.97 DF, review-session actions, keyframes,
//! archived media and the honestly absent capabilities.
//!
//! Server state is checked through Flex's own GET endpoints; `/__control/` only injects faults
//! and reads counters.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use framenote_connectors::flex::{FlexConfig, FlexConnector, ReviewAction};
use framenote_connectors::{Connector, Credentials, ErrorKind, UploadRequest};
use framenote_core::{Asset, FrameRate, FrameSpan, NoteStatus, RemoteId, Version};
use framenote_tests::fault_proxy::FaultProxy;
use framenote_tests::platform_server::{PlatformServer, fixtures_dir, make_clip};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::conformance::{self, Denied, DeniedAction, Expected, Fixture, Proxied};

const REVIEWER: (&str, &str) = ("rita", "flex-pass-1");
const OTHER_USER: (&str, &str) = ("otto", "flex-pass-2");
const VIEWER: (&str, &str) = ("viv", "flex-pass-3");
const REEL: &str = "collection:6f1c2a3e-0000-4000-8000-000000000300";

pub(crate) struct Running {
    pub(crate) server: PlatformServer,
    _media: tempfile::TempDir,
}

pub(crate) fn start() -> anyhow::Result<Running> {
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
    let seed = fixtures_dir("flex").join("seed.json");
    let server = PlatformServer::start(
        "flex.py",
        &[
            "--seed",
            seed.to_str().unwrap_or_default(),
            "--media-dir",
            media.path().to_str().unwrap_or_default(),
            "--exit-with-stdin",
        ],
    )?;
    Ok(Running {
        server,
        _media: media,
    })
}

fn connector_to(base: &str, page_size: u32) -> Arc<FlexConnector> {
    let mut config = FlexConfig::new(format!("{base}/api"));
    config.page_size = page_size;
    config.http.base_backoff = Duration::from_millis(50);
    Arc::new(FlexConnector::new(config).expect("HTTP client"))
}

fn password(pair: (&str, &str)) -> Credentials {
    Credentials::Password {
        user: pair.0.to_owned(),
        password: pair.1.to_owned(),
    }
}

/// A documented call as a plain HTTP client makes it.
async fn raw(
    base: &str,
    method: reqwest::Method,
    path: &str,
    user: (&str, &str),
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}/api{path}"))
        .basic_auth(user.0, Some(user.1))
        .header("Accept", "application/vnd.nativ.mio.v1+json");
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/vnd.nativ.mio.v1+json")
            .body(body.to_string());
    }
    let response = request.send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    Ok(response.json().await?)
}

async fn control(base: &str, action: &str, body: Value) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{base}/__control/{action}"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "control {action}");
    Ok(())
}

struct FlexFixture {
    running: Running,
    proxied: OnceCell<(Arc<FaultProxy>, Arc<FlexConnector>)>,
}

impl FlexFixture {
    fn base(&self) -> &str {
        &self.running.server.url
    }
}

#[async_trait]
impl Fixture for FlexFixture {
    fn name(&self) -> &str {
        "Dalet Flex"
    }

    fn connector(&self) -> Arc<dyn Connector> {
        // Pages of two: every listing in the suite crosses a page boundary.
        connector_to(self.base(), 2)
    }

    fn reviewer(&self) -> Credentials {
        password(REVIEWER)
    }

    fn expected(&self) -> Expected {
        Expected {
            asset_name: "A001_C003_23976".into(),
            frame_rate: FrameRate::FPS_23_976,
            frame_count: Some(96),
            size: Some((320, 180)),
        }
    }

    async fn proxied(&self) -> anyhow::Result<Option<Proxied>> {
        let (proxy, connector) = self
            .proxied
            .get_or_try_init(|| async {
                let proxy = Arc::new(FaultProxy::start(self.base()).await?);
                let connector = connector_to(&proxy.url(), 100);
                connector.authenticate(&password(REVIEWER)).await?;
                anyhow::Ok((proxy, connector))
            })
            .await?;
        Ok(Some(Proxied {
            connector: connector.clone(),
            proxy: proxy.clone(),
            listing_path: "/api/accounts".into(),
            media_path: "/api/files/".into(),
        }))
    }

    async fn denied(&self) -> anyhow::Result<Option<Denied>> {
        Ok(Some(Denied {
            connector: connector_to(self.base(), 100),
            credentials: password(VIEWER),
            action: DeniedAction::Note,
        }))
    }

    async fn touch_asset_on_server(&self, asset: &Asset) -> anyhow::Result<bool> {
        // Another user edits the asset's details ("Updates asset details").
        raw(
            self.base(),
            reqwest::Method::PUT,
            &format!("/assets/{}", asset.id),
            OTHER_USER,
            Some(json!({ "displayName": asset.name })),
        )
        .await?;
        Ok(true)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flex_conformance() {
    let fixture = FlexFixture {
        running: start().expect("Flex test server"),
        proxied: OnceCell::new(),
    };
    conformance::run(&fixture, &conformance::standard_steps())
        .await
        .assert_passed();
}

async fn signed_in(base: &str, page_size: u32) -> Arc<FlexConnector> {
    let connector = connector_to(base, page_size);
    connector
        .authenticate(&password(REVIEWER))
        .await
        .expect("sign in");
    connector
}

async fn version_named(connector: &FlexConnector, name: &str) -> (Asset, Version) {
    let (_, asset, version) = conformance::find_asset(connector, name)
        .await
        .expect("asset");
    (asset, version)
}

/// The start of frame `frame` in µs, rounded up: computed here independently of the connector.
fn expected_micros(rate: FrameRate, frame: u64) -> i64 {
    let num = frame as i128 * rate.den as i128 * 1_000_000;
    let den = rate.num as i128;
    ((num + den - 1) / den) as i64
}

#[tokio::test]
async fn flex_annotation_microseconds_land_on_the_frame_at_23976_and_2997df() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base, 100).await;
    for (name, asset_id) in [("A001_C003_23976", 5001), ("B002_C001_2997DF", 5002)] {
        let (_, version) = version_named(&connector, name).await;
        let rate = version.media.frame_rate;
        let last = version.media.frame_count.expect("frame count") - 1;
        for span in [
            FrameSpan::frame(1),
            FrameSpan::frame(17),
            FrameSpan { start: 30, end: 59 },
            FrameSpan::frame(last),
        ] {
            let mut note = conformance::new_note(&version, &format!("{name} {span:?}"), None, None);
            note.frames = Some(span);
            let created = connector.create_note(&note).await.expect("posted");
            assert_eq!(created.frames, Some(span), "{name}");
            let listed = connector.list_notes(&version).await.expect("notes");
            let back = listed.iter().find(|n| n.id == created.id).expect("listed");
            assert_eq!(back.frames, Some(span), "{name} read back");
            // The platform holds the frame's start in µs, and the out point after the last frame.
            let stored = raw(
                &base,
                reqwest::Method::GET,
                &format!("/assets/{asset_id}/annotations;offset=0;limit=1000"),
                REVIEWER,
                None,
            )
            .await
            .expect("annotations");
            let row = stored["annotations"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|r| r["id"].as_u64() == created.id.as_str().parse::<u64>().ok())
                })
                .cloned()
                .expect("stored annotation");
            assert_eq!(
                row["timestampIn"],
                json!(expected_micros(rate, span.start)),
                "{name} {span:?}"
            );
            assert_eq!(
                row["timestampOut"],
                json!(expected_micros(rate, span.end + 1)),
                "{name} {span:?}"
            );
            assert_eq!(row["originatorContext"], json!("MioAssetReview"));
        }
    }
    // The 29.97 clip's start timecode is drop-frame and read from microseconds.
    let (_, v29) = version_named(&connector, "B002_C001_2997DF").await;
    let tc = v29.media.start_timecode.expect("start timecode");
    assert!(tc.drop_frame);
    assert_eq!(tc.to_string(), "00:00:59;00");
}

#[tokio::test]
async fn flex_matrix_paging_walks_every_page() {
    let running = start().expect("server");
    let connector = signed_in(&running.server.url, 1).await;
    let roots = connector.list_nodes(None).await.expect("accounts");
    assert_eq!(roots.len(), 1);
    let workspaces = connector
        .list_nodes(Some(&roots[0].id))
        .await
        .expect("workspaces");
    assert_eq!(workspaces.len(), 1);
    let collections = connector
        .list_nodes(Some(&workspaces[0].id))
        .await
        .expect("collections");
    assert_eq!(collections.len(), 1);
    assert_eq!(collections[0].id.as_str(), REEL);
    let picks = connector
        .list_nodes(Some(&collections[0].id))
        .await
        .expect("sub-collections");
    assert_eq!(picks.len(), 1);
    assert_eq!(picks[0].name, "Picks");
    // Three items, one per page, then three assets one per page.
    let assets = connector
        .list_assets(&RemoteId::new(REEL))
        .await
        .expect("assets");
    let names: Vec<&str> = assets.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["A001_C003_23976", "B002_C001_2997DF", "OLD_GRADE_v1"]
    );
    // Archived media cannot be copied, and says why; approval shows as the status.
    let old = &assets[2];
    assert!(!old.offline.allowed);
    assert_eq!(
        old.offline.reason.as_deref(),
        Some("This asset is archived; restore it in Flex first.")
    );
    assert_eq!(assets[1].status.as_deref(), Some("approved"));
    assert!(assets[0].offline.allowed);
}

#[tokio::test]
async fn flex_review_session_actions() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base, 100).await;
    let (asset, version) = version_named(&connector, "A001_C003_23976").await;
    let reviews = connector.reviews(&asset.id).await.expect("reviews");
    assert_eq!(reviews.len(), 1);
    let review = reviews[0].id.clone().expect("review id");
    assert_eq!(reviews[0].exclusive, Some(true));
    let actions = connector
        .review_actions(&asset.id, &review)
        .await
        .expect("actions");
    assert!(actions.contains(&"TAKE".to_owned()), "{actions:?}");
    connector
        .take_review_action(&asset.id, &review, ReviewAction::Take)
        .await
        .expect("take");
    let actions = connector
        .review_actions(&asset.id, &review)
        .await
        .expect("actions");
    assert!(actions.contains(&"RELEASE".to_owned()), "{actions:?}");
    // Another user cannot take it while it is taken.
    let otto = connector_to(&base, 100);
    otto.authenticate(&password(OTHER_USER))
        .await
        .expect("otto");
    let err = otto
        .take_review_action(&asset.id, &review, ReviewAction::Take)
        .await
        .expect_err("taken");
    assert_eq!(err.kind, ErrorKind::Rejected, "{err}");
    // Approving releases it and marks the asset approved, as read back through Flex's own GET.
    connector
        .take_review_action(&asset.id, &review, ReviewAction::Approve)
        .await
        .expect("approve");
    let stored = raw(&base, reqwest::Method::GET, "/assets/5001", REVIEWER, None)
        .await
        .expect("asset");
    assert_eq!(stored["approved"], json!(true));
    let actions = connector
        .review_actions(&asset.id, &review)
        .await
        .expect("actions");
    assert!(
        actions.contains(&"TAKE".to_owned()),
        "approval did not release: {actions:?}"
    );
    // Keyframes come with the asset.
    let keyframes = connector.keyframes(&version).await.expect("keyframes");
    assert_eq!(keyframes.len(), 1);
    assert_eq!(keyframes[0].timecode.as_deref(), Some("01:00:01:00"));
}

#[tokio::test]
async fn flex_declares_and_refuses_what_it_lacks() {
    let running = start().expect("server");
    let connector = signed_in(&running.server.url, 100).await;
    let caps = connector.capabilities();
    assert!(caps.notes && caps.range_notes);
    assert!(!caps.upload && !caps.replies && !caps.resolve && !caps.drawings);
    let (_, version) = version_named(&connector, "A001_C003_23976").await;
    let request = UploadRequest {
        path: "/nonexistent".into(),
        destination: RemoteId::new(REEL),
        name: "x.mp4".into(),
        comment: None,
        subfolder: Vec::new(),
        version_hint: None,
    };
    let err = connector
        .upload(&request, &|_| {})
        .await
        .expect_err("no upload");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    let notes = connector.list_notes(&version).await.expect("notes");
    let otto = notes
        .iter()
        .find(|n| n.text == "Boom pole in frame")
        .expect("Otto's annotation");
    assert_eq!(otto.author, "Otto Other");
    assert_eq!(otto.frames, Some(FrameSpan { start: 24, end: 47 }));
    let err = connector
        .set_note_status(&version, &otto.id, NoteStatus::Resolved)
        .await
        .expect_err("no resolve");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    // Editing the text goes through the documented PUT.
    let mine = connector
        .create_note(&conformance::new_note(
            &version,
            "first words",
            Some(5),
            None,
        ))
        .await
        .expect("note");
    connector
        .update_note(&version, &mine.id, "better words")
        .await
        .expect("edit");
    let notes = connector.list_notes(&version).await.expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.id == mine.id && n.text == "better words")
    );
}

#[tokio::test]
async fn flex_server_rate_limit_is_waited_out() {
    let running = start().expect("server");
    let base = running.server.url.clone();
    let connector = signed_in(&base, 100).await;
    control(&base, "rate_limit", json!({ "per_second": 3 }))
        .await
        .expect("limit");
    for _ in 0..8 {
        connector
            .list_nodes(None)
            .await
            .expect("listing succeeds despite 429s");
    }
    let stats: Value = reqwest::get(format!("{base}/__control/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert!(stats["rate_limited"].as_u64().unwrap_or(0) > 0, "{stats}");
}
