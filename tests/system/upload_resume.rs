//! Resumable uploads, connector by connector, against each platform's document-faithful test
//! server (and the real Zou for Kitsu): an upload is started with a checkpoint sink, stopped
//! part-way the way the transfer queue stops it (its future dropped after N acknowledged parts:
//! a pause, a crash, a lost connection), then started again with the last checkpoint. Each test
//! asserts that the platform ends with exactly one complete, byte-identical file and — through
//! the servers' test-only `/__test__/…` introspection — that acknowledged parts were not sent
//! again. The bandwidth limit is measured against the time the bytes should take (a lower bound
//! only).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use framenote_connectors::throttle::Bandwidth;
use framenote_connectors::{Connector, Result as ConnectorResult, UploadContext, UploadRequest};
use framenote_core::{RemoteId, Version};
use serde_json::Value;
use tokio::sync::Notify;

/// What one upload attempt did.
pub(crate) struct Attempt {
    /// `None` when the attempt was stopped (its future dropped) before it finished.
    pub(crate) outcome: Option<ConnectorResult<Version>>,
    /// Every checkpoint reported, in order.
    pub(crate) checkpoints: Vec<Value>,
    /// Every progress figure reported, in order.
    pub(crate) progress: Vec<u64>,
}

impl Attempt {
    fn last_checkpoint(&self) -> Option<Value> {
        self.checkpoints.last().cloned()
    }
}

/// Runs one attempt of `request`, continuing `resume`; when `stop_after` says yes to a
/// checkpoint, the upload's future is dropped right there, as the queue drops it on pause.
pub(crate) async fn attempt(
    connector: &dyn Connector,
    request: &UploadRequest,
    resume: Option<&Value>,
    stop_after: Option<&(dyn Fn(&Value) -> bool + Send + Sync)>,
    bandwidth: Option<&Bandwidth>,
) -> Attempt {
    let checkpoints = Mutex::new(Vec::new());
    let progress = Mutex::new(Vec::new());
    let stop = Notify::new();
    let record = |value: Value| {
        let hit = stop_after.is_some_and(|f| f(&value));
        checkpoints.lock().expect("checkpoints").push(value);
        if hit {
            // Stores a permit if the select below is not waiting yet.
            stop.notify_one();
        }
    };
    let report = |n: u64| progress.lock().expect("progress").push(n);
    let context = UploadContext {
        resume,
        checkpoint: &record,
        progress: &report,
        bandwidth,
    };
    let outcome = tokio::select! {
        result = connector.upload_resumable(request, &context) => Some(result),
        _ = stop.notified() => None,
    };
    Attempt {
        outcome,
        checkpoints: checkpoints.into_inner().expect("checkpoints"),
        progress: progress.into_inner().expect("progress"),
    }
}

/// `len` bytes that differ from part to part (a repeated pattern would hide misplaced parts).
pub(crate) fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

pub(crate) fn request(path: &Path, destination: &str, name: &str) -> UploadRequest {
    UploadRequest {
        path: path.to_path_buf(),
        destination: RemoteId::new(destination),
        name: name.into(),
        comment: None,
        subfolder: Vec::new(),
        version_hint: None,
    }
}

async fn get_json(url: &str, token: Option<&str>) -> Value {
    let mut rb = reqwest::Client::new().get(url);
    if let Some(token) = token {
        rb = rb.bearer_auth(token);
    }
    rb.send()
        .await
        .expect("GET")
        .error_for_status()
        .expect("status")
        .json()
        .await
        .expect("JSON")
}

mod sonyci {
    use super::*;
    use crate::sonyci::{config, raw_get, raw_token, start, user};
    use framenote_connectors::sonyci::SonyCiConnector;

    const PART: usize = 64 * 1024;

    async fn connector(base: &str) -> SonyCiConnector {
        let mut cfg = config(base);
        cfg.multipart_threshold = 2 * PART as u64;
        cfg.part_size = PART as u64;
        let c = SonyCiConnector::new(cfg).expect("connector");
        c.authenticate(&user("ana@example.com"))
            .await
            .expect("sign in");
        c
    }

    async fn download(base: &str, asset: &str) -> Vec<u8> {
        let token = raw_token(base, "ana@example.com").await.expect("token");
        let dl = raw_get(base, &format!("/assets/{asset}/download"), &token)
            .await
            .expect("download");
        reqwest::get(dl["location"].as_str().unwrap_or_default())
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes")
            .to_vec()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sonyci_multipart_resumes_at_the_next_part() {
        let running = start(&[]).expect("Ci server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("resume.mov");
        let original = payload(16 * PART + 1234);
        std::fs::write(&path, &original).expect("file");
        let req = request(&path, "folder:f-edit", "resume.mov");

        // First attempt: stopped once five parts are acknowledged.
        let stop = |v: &Value| v["parts_done"].as_u64() == Some(5);
        let first = attempt(&c, &req, None, Some(&stop), None).await;
        assert!(first.outcome.is_none(), "the first attempt was to be cut");
        let checkpoint = first.last_checkpoint().expect("a checkpoint");
        assert_eq!(checkpoint["parts_done"], 5, "{checkpoint}");
        assert_eq!(checkpoint["part_size"], PART as u64);

        // Second attempt, from the checkpoint, through to the end.
        let second = attempt(&c, &req, Some(&checkpoint), None, None).await;
        let version = second.outcome.expect("finished").expect("resumed upload");
        assert_eq!(
            second.progress.first().copied(),
            Some(0),
            "progress starts at 0 before the target is known"
        );
        assert!(
            second.progress.contains(&(5 * PART as u64)),
            "progress counts the parts kept: {:?}",
            second.progress
        );
        assert_eq!(second.progress.last().copied(), Some(original.len() as u64));

        let held = get_json(&format!("{base}/__test__/uploads"), None).await;
        let ours: Vec<&Value> = held["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .filter(|a| a["name"] == "resume.mov")
            .collect();
        assert_eq!(ours.len(), 1, "exactly one asset: {held}");
        assert_eq!(ours[0]["status"], "Complete");
        assert_eq!(ours[0]["id"], version.asset.as_str());
        let parts: Vec<&Value> = held["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .filter(|p| p["assetId"] == ours[0]["id"])
            .collect();
        for n in 1..=5u64 {
            let sends = parts.iter().filter(|p| p["part"] == n).count();
            assert_eq!(
                sends, 1,
                "part {n} was acknowledged and must not be sent again"
            );
        }
        let bytes: u64 = parts.iter().filter_map(|p| p["bytes"].as_u64()).sum();
        assert!(
            bytes <= (original.len() + PART) as u64,
            "at most the part in flight is sent twice: {bytes} bytes for {}",
            original.len()
        );
        assert!(
            download(&base, version.asset.as_str()).await == original,
            "the file Ci holds is not the file sent"
        );
        eprintln!(
            "Ci resume: {} parts before the cut, {} part requests in all for {} parts",
            5,
            parts.len(),
            original.len().div_ceil(PART)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sonyci_subfolders_and_a_stale_checkpoint() {
        let running = start(&[]).expect("Ci server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("deep.mov");
        let original = payload(3 * PART);
        std::fs::write(&path, &original).expect("file");
        let mut req = request(&path, "folder:f-edit", "deep.mov");
        req.subfolder = vec!["day 1".into(), "cam A".into()];
        // A checkpoint for another file (another size) is not used: a clean start.
        let stale = serde_json::json!({"asset_id": "nope", "name": "deep.mov", "size": 5,
                                       "part_size": PART, "parts_done": 1});
        let done = attempt(&c, &req, Some(&stale), None, None).await;
        let version = done.outcome.expect("finished").expect("upload");
        // Again into the same folders: they are reused, not made twice.
        let again = attempt(&c, &req, None, None, None).await;
        again.outcome.expect("finished").expect("second upload");
        let nodes = c
            .list_nodes(Some(&RemoteId::new("folder:f-edit")))
            .await
            .expect("children");
        let day: Vec<_> = nodes.iter().filter(|n| n.name == "day 1").collect();
        assert_eq!(day.len(), 1, "{nodes:?}");
        let cams = c.list_nodes(Some(&day[0].id)).await.expect("grandchildren");
        assert_eq!(cams.len(), 1, "{cams:?}");
        assert_eq!(cams[0].name, "cam A");
        let assets = c.list_assets(&cams[0].id).await.expect("assets");
        assert_eq!(assets.len(), 2);
        assert!(assets.iter().any(|a| a.id == version.asset));
        assert!(download(&base, version.asset.as_str()).await == original);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sonyci_upload_follows_the_bandwidth_limit() {
        let running = start(&[]).expect("Ci server");
        let c = connector(&running.server.url).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("slow.mov");
        let size = 12 * PART;
        std::fs::write(&path, payload(size)).expect("file");
        let limit = 512 * 1024u64;
        let bandwidth = Bandwidth::new(Some(limit));
        let started = Instant::now();
        let done = attempt(
            &c,
            &request(&path, "folder:f-edit", "slow.mov"),
            None,
            None,
            Some(&bandwidth),
        )
        .await;
        done.outcome.expect("finished").expect("upload");
        let took = started.elapsed();
        let expected = Duration::from_secs_f64(size as f64 / limit as f64);
        eprintln!("Ci at {limit} B/s: {size} bytes in {took:?} (expected about {expected:?})");
        assert!(
            took >= expected.mul_f64(0.7),
            "{took:?} is faster than the limit allows ({expected:?})"
        );
    }
}
