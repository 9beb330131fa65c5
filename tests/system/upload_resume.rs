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
use framenote_connectors::{
    Connector, ErrorKind, Result as ConnectorResult, UploadContext, UploadRequest,
};
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
    run(connector, request, resume, stop_after, None, bandwidth).await
}

/// Like [`attempt`], but stopped once `bytes` have been reported sent (mid-body for a streamed
/// upload).
pub(crate) async fn attempt_until_sent(
    connector: &dyn Connector,
    request: &UploadRequest,
    resume: Option<&Value>,
    bytes: u64,
) -> Attempt {
    run(connector, request, resume, None, Some(bytes), None).await
}

async fn run(
    connector: &dyn Connector,
    request: &UploadRequest,
    resume: Option<&Value>,
    stop_after: Option<&(dyn Fn(&Value) -> bool + Send + Sync)>,
    stop_at_bytes: Option<u64>,
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
    let report = |n: u64| {
        progress.lock().expect("progress").push(n);
        if stop_at_bytes.is_some_and(|at| n >= at) {
            stop.notify_one();
        }
    };
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

/// Uploads `size` bytes to `destination` under a `limit` bytes/s bandwidth limit and checks it
/// took at least about size/limit (a lower bound only: a slow machine is slower).
pub(crate) async fn assert_paced(
    connector: &dyn Connector,
    destination: &str,
    size: usize,
    limit: u64,
    platform: &str,
) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("slow.mov");
    std::fs::write(&path, payload(size)).expect("file");
    let bandwidth = Bandwidth::new(Some(limit));
    let started = Instant::now();
    let done = attempt(
        connector,
        &request(&path, destination, "slow.mov"),
        None,
        None,
        Some(&bandwidth),
    )
    .await;
    done.outcome.expect("finished").expect("upload");
    let took = started.elapsed();
    let expected = Duration::from_secs_f64(size as f64 / limit as f64);
    eprintln!("{platform} at {limit} B/s: {size} bytes in {took:?} (expected about {expected:?})");
    assert!(
        took >= expected.mul_f64(0.7),
        "{took:?} is faster than the limit allows ({expected:?})"
    );
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
        // Five, or one more when the upload ran on within the poll that saw the stop.
        let kept = checkpoint["parts_done"].as_u64().unwrap_or(0);
        assert!((5..=6).contains(&kept), "{checkpoint}");
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
            second.progress.contains(&(kept * PART as u64)),
            "progress counts the {kept} parts kept: {:?}",
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
        for n in 1..=kept {
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
        crate::upload_resume::assert_paced(&c, "folder:f-edit", 12 * PART, 512 * 1024, "Ci").await;
    }

    async fn post_test(base: &str, route: &str, body: Value) {
        reqwest::Client::new()
            .post(format!("{base}/__test__/{route}"))
            .json(&body)
            .send()
            .await
            .expect("POST")
            .error_for_status()
            .expect("status");
    }

    /// Ci's `md5Checksum` of the asset named `name` that ended `Complete` with id `id`.
    async fn held_md5(base: &str, id: &str) -> String {
        let held = get_json(&format!("{base}/__test__/uploads"), None).await;
        held["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .find(|a| a["id"] == id)
            .and_then(|a| a["md5Checksum"].as_str())
            .unwrap_or_else(|| panic!("no md5Checksum for {id}: {held}"))
            .to_owned()
    }

    /// The asset id of the only asset named `name` on the upload host.
    async fn only_asset(base: &str, name: &str) -> String {
        let held = get_json(&format!("{base}/__test__/uploads"), None).await;
        let ours: Vec<&Value> = held["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .filter(|a| a["name"] == name)
            .collect();
        assert_eq!(ours.len(), 1, "{held}");
        ours[0]["id"].as_str().expect("id").to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sonyci_a_copy_that_differs_from_the_file_fails_naming_both_sums() {
        let running = start(&[]).expect("Ci server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        // One single-part file (below the threshold) and one multipart file.
        for (name, len) in [("small.mov", PART + 17), ("large.mov", 5 * PART + 17)] {
            let path = dir.path().join(name);
            std::fs::write(&path, payload(len)).expect("file");
            let req = request(&path, "folder:f-edit", name);
            post_test(&base, "damage_next_upload", serde_json::json!({"count": 1})).await;
            let damaged = attempt(&c, &req, None, None, None).await;
            let err = damaged
                .outcome
                .expect("finished")
                .expect_err("a damaged copy must not count as uploaded");
            assert_eq!(err.kind, ErrorKind::BadResponse, "{err}");
            assert!(!err.kind.is_transient(), "it stays failed and visible");
            let damaged_id = only_asset(&base, name).await;
            let theirs = held_md5(&base, &damaged_id).await;
            assert!(
                err.message.contains(&theirs),
                "{err} lacks Ci's sum {theirs}"
            );

            // The same file again, stored intact: it passes, and its sum (Ci's, equal to the
            // file's) is the local sum the failure named.
            let version = attempt(&c, &req, None, None, None)
                .await
                .outcome
                .expect("finished")
                .expect("an intact copy verifies");
            let ours = held_md5(&base, version.asset.as_str()).await;
            assert_ne!(ours, theirs);
            assert!(
                err.message.contains(&ours),
                "{err} lacks the file's sum {ours}"
            );
            assert!(download(&base, version.asset.as_str()).await == payload(len));
            eprintln!("Ci verification ({name}): {err}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sonyci_a_resumed_upload_is_verified_with_the_parts_it_kept() {
        let running = start(&[]).expect("Ci server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let stop = |v: &Value| v["parts_done"].as_u64() == Some(3);
        for damage in [false, true] {
            let name = if damage { "bad.mov" } else { "good.mov" };
            let path = dir.path().join(name);
            let original = payload(7 * PART + 999);
            std::fs::write(&path, &original).expect("file");
            let req = request(&path, "folder:f-edit", name);
            let first = attempt(&c, &req, None, Some(&stop), None).await;
            assert!(first.outcome.is_none(), "the first attempt was to be cut");
            let checkpoint = first.last_checkpoint().expect("a checkpoint");
            if damage {
                post_test(&base, "damage_next_upload", serde_json::json!({"count": 1})).await;
            }
            let second = attempt(&c, &req, Some(&checkpoint), None, None).await;
            let outcome = second.outcome.expect("finished");
            let id = only_asset(&base, name).await;
            let held = held_md5(&base, &id).await;
            if damage {
                let err = outcome.expect_err("the damaged copy is caught after a resume too");
                assert_eq!(err.kind, ErrorKind::BadResponse, "{err}");
                assert!(err.message.contains(&held), "{err}");
            } else {
                // Passing means the sum over the kept parts (read back from disk) and the parts
                // sent now equals Ci's sum over everything it assembled.
                let version = outcome.expect("resumed upload verifies");
                assert_eq!(version.asset.as_str(), id);
                assert!(download(&base, &id).await == original);
            }
            let parts = get_json(&format!("{base}/__test__/uploads"), None).await["parts"]
                .as_array()
                .expect("parts")
                .iter()
                .filter(|p| p["assetId"] == id.as_str() && p["part"].as_u64() <= Some(3))
                .count();
            assert_eq!(parts, 3, "kept parts were not sent again to be hashed");
        }
    }
}

mod moxion {
    use super::*;
    use crate::iconik::make_clip;
    use crate::moxion::{REVIEWER, config, control, key, start};
    use framenote_connectors::moxion::MoxionConnector;
    use serde_json::json;

    const PART: usize = 64 * 1024;

    async fn connector(base: &str) -> MoxionConnector {
        let mut cfg = config(base);
        cfg.upload_part_size = PART;
        let c = MoxionConnector::new(cfg).expect("connector");
        c.authenticate(&key(REVIEWER)).await.expect("sign in");
        c
    }

    async fn held(base: &str) -> Value {
        get_json(&format!("{base}/__control/uploads"), None).await
    }

    /// Bytes of the file the storage assembled for a finished upload (the server keeps it in its
    /// media folder as `upload_<upload id><ext>`).
    fn assembled(media: &Path, upload_id: &str) -> Vec<u8> {
        std::fs::read(media.join(format!("upload_{upload_id}.mp4"))).expect("assembled file")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moxion_resume_sends_only_missing_parts_and_keeps_the_upload_on_transient_failure() {
        let running = start().expect("Moxion server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("resume.mp4");
        make_clip(&path, "25", 6.0, "00:00:00:00").expect("clip");
        let original = std::fs::read(&path).expect("clip bytes");
        let parts = original.len().div_ceil(PART);
        assert!(parts >= 5, "{} bytes: too few parts", original.len());
        let req = request(&path, "batch:50", "resume.mp4");

        // 1. Stopped after three parts.
        let stop = |v: &Value| v["etags"].as_array().map(Vec::len) == Some(3);
        let first = attempt(&c, &req, None, Some(&stop), None).await;
        assert!(first.outcome.is_none());
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        let upload_id = checkpoint["upload_id"]
            .as_str()
            .expect("upload id")
            .to_owned();
        assert_eq!(checkpoint["target"]["kind"], "batch", "{checkpoint}");

        // 2. Every presign fails (5xx) through all retries: a transient failure, so the
        //    multipart upload must stay for the next attempt — not aborted.
        control(
            &base,
            "fail",
            json!({"endpoint": "/upload/asset/part", "count": 4, "mode": "code500"}),
        )
        .await
        .expect("fault");
        let second = attempt(&c, &req, Some(&checkpoint), None, None).await;
        let checkpoint = second.last_checkpoint().unwrap_or(checkpoint);
        let err = second
            .outcome
            .expect("finished")
            .expect_err("presign fails");
        assert!(err.kind.is_transient(), "{err}");
        let now = held(&base).await;
        assert!(
            now["uploads"][&upload_id].is_object(),
            "the upload was dropped after a transient failure: {now}"
        );
        assert_eq!(now["aborted"], json!([]));

        // 3. Resumed: only the parts after those the checkpoint holds (three, or more when the
        //    second attempt got further before its presigns ran out: retries are timed, and a
        //    loaded machine can reach the fault budget's end).
        let kept = checkpoint["etags"].as_array().map_or(0, Vec::len);
        assert!(kept >= 3, "{checkpoint}");
        let third = attempt(&c, &req, Some(&checkpoint), None, None).await;
        let version = third.outcome.expect("finished").expect("resumed upload");
        assert_eq!(third.progress.last().copied(), Some(original.len() as u64));
        assert!(
            third.progress.contains(&((kept * PART) as u64)),
            "resumed from {kept} parts: {:?}",
            third.progress
        );
        let now = held(&base).await;
        let received: Vec<&Value> = now["received"]
            .as_array()
            .expect("received")
            .iter()
            .filter(|p| p["upload_id"] == upload_id.as_str())
            .collect();
        for n in 1..=kept as u64 {
            assert_eq!(
                received.iter().filter(|p| p["part"] == n).count(),
                1,
                "part {n} was sent again: {received:?}"
            );
        }
        assert!(
            received.len() <= parts + 1,
            "{} part PUTs for {parts} parts",
            received.len()
        );
        assert!(assembled(running.media.path(), &upload_id) == original);
        assert_eq!(version.media.bytes, Some(original.len() as u64));
        // Exactly one asset of that name in the batch.
        let assets = c
            .list_assets(&RemoteId::new("batch:50"))
            .await
            .expect("assets");
        assert_eq!(
            assets
                .iter()
                .filter(|a| a.name.starts_with("resume"))
                .count(),
            1,
            "{assets:?}"
        );
        eprintln!(
            "Moxion resume: {} part PUTs for {parts} parts (3 kept from the first attempt)",
            received.len()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moxion_cancel_aborts_and_a_folder_becomes_one_batch() {
        let running = start().expect("Moxion server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("day.mp4");
        make_clip(&path, "25", 3.0, "00:00:00:00").expect("clip");
        let mut req = request(&path, "batch:50", "day.mp4");
        req.subfolder = vec!["Day 2".into()];

        // Cancelled after one part: abandon releases the multipart upload.
        let stop = |v: &Value| v["etags"].as_array().map(Vec::len) == Some(1);
        let first = attempt(&c, &req, None, Some(&stop), None).await;
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        assert_eq!(checkpoint["target"]["kind"], "new_batch", "{checkpoint}");
        c.abandon_upload(&checkpoint).await.expect("abandon");
        let now = held(&base).await;
        assert_eq!(now["aborted"], json!([checkpoint["upload_id"]]));
        assert_eq!(now["uploads"], json!({}));

        // Two files of the dropped folder "Day 2": one new batch named after it, both inside.
        for name in ["day.mp4", "day_b.mp4"] {
            let mut req = req.clone();
            req.name = name.into();
            attempt(&c, &req, None, None, None)
                .await
                .outcome
                .expect("finished")
                .expect("upload");
        }
        let nodes = c
            .list_nodes(Some(&RemoteId::new("project:40")))
            .await
            .expect("nodes");
        let day: Vec<_> = nodes.iter().filter(|n| n.name == "Day 2").collect();
        assert_eq!(day.len(), 1, "{nodes:?}");
        let assets = c.list_assets(&day[0].id).await.expect("assets");
        assert_eq!(assets.len(), 2, "{assets:?}");
    }

    /// The part PUTs the storage received for `upload_id`, in order.
    fn received_for<'a>(now: &'a Value, upload_id: &str) -> Vec<&'a Value> {
        now["received"]
            .as_array()
            .expect("received")
            .iter()
            .filter(|p| p["upload_id"] == upload_id)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moxion_every_part_carries_its_md5_and_a_part_damaged_in_transit_is_sent_again() {
        let running = start().expect("Moxion server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("digest.mp4");
        make_clip(&path, "25", 3.0, "00:00:00:00").expect("clip");
        let original = std::fs::read(&path).expect("clip bytes");
        let parts = original.len().div_ceil(PART);
        assert!(parts >= 3, "{} bytes: too few parts", original.len());
        // The first PUT of part 2 arrives damaged: the storage answers BadDigest.
        control(&base, "corrupt_part", json!({"part": 2, "count": 1}))
            .await
            .expect("switch");
        let done = attempt(
            &c,
            &request(&path, "batch:50", "digest.mp4"),
            None,
            None,
            None,
        )
        .await;
        let checkpoint = done.last_checkpoint().expect("checkpoint");
        done.outcome.expect("finished").expect("upload");
        let upload_id = checkpoint["upload_id"].as_str().expect("upload id");
        let now = held(&base).await;
        let received = received_for(&now, upload_id);
        assert!(
            received.iter().all(|p| p["content_md5"].is_string()),
            "a part went without Content-MD5: {received:?}"
        );
        let second: Vec<&&Value> = received.iter().filter(|p| p["part"] == 2).collect();
        assert_eq!(second.len(), 2, "part 2 is sent once more: {received:?}");
        assert_eq!(second[0]["stored"], false);
        assert_eq!(second[1]["stored"], true);
        assert_eq!(received.len(), parts + 1, "{received:?}");
        assert!(
            received
                .iter()
                .filter(|p| p["part"] != 2)
                .all(|p| p["stored"] == true),
            "{received:?}"
        );
        assert!(assembled(running.media.path(), upload_id) == original);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moxion_a_part_damaged_every_time_fails_transiently_and_resumes_later() {
        let running = start().expect("Moxion server");
        let base = running.server.url.clone();
        let c = connector(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("noisy.mp4");
        make_clip(&path, "25", 3.0, "00:00:00:00").expect("clip");
        let original = std::fs::read(&path).expect("clip bytes");
        let req = request(&path, "batch:50", "noisy.mp4");
        // Damaged on the first send and on each of the three re-sends.
        control(&base, "corrupt_part", json!({"part": 2, "count": 4}))
            .await
            .expect("switch");
        let first = attempt(&c, &req, None, None, None).await;
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        let err = first
            .outcome
            .expect("finished")
            .expect_err("four damaged sends in a row fail the attempt");
        assert!(err.kind.is_transient(), "{err}");
        assert!(err.message.contains("BadDigest"), "{err}");
        let upload_id = checkpoint["upload_id"]
            .as_str()
            .expect("upload id")
            .to_owned();
        let now = held(&base).await;
        assert!(
            now["uploads"][&upload_id].is_object(),
            "a transient failure must keep the multipart upload: {now}"
        );
        assert_eq!(now["aborted"], json!([]));
        let tries = received_for(&now, &upload_id)
            .iter()
            .filter(|p| p["part"] == 2)
            .count();
        assert_eq!(tries, 4, "one send and three re-sends, no more");

        // The link is clean again: the next attempt resumes at part 2.
        let second = attempt(&c, &req, Some(&checkpoint), None, None).await;
        second.outcome.expect("finished").expect("resumed upload");
        let now = held(&base).await;
        let received = received_for(&now, &upload_id);
        assert_eq!(
            received.iter().filter(|p| p["part"] == 1).count(),
            1,
            "part 1 was kept: {received:?}"
        );
        assert!(assembled(running.media.path(), &upload_id) == original);
    }
}

mod iconik {
    use super::*;
    use crate::iconik::{signed_in, start};

    const SIZE: usize = 3 * 1024 * 1024 + 4321;

    async fn held(base: &str) -> Value {
        get_json(&format!("{base}/__test__/uploads"), None).await
    }

    async fn blob(base: &str, file: &str) -> Vec<u8> {
        reqwest::get(format!("{base}/__test__/blob/{file}"))
            .await
            .expect("GET")
            .bytes()
            .await
            .expect("bytes")
            .to_vec()
    }

    /// The file records of assets titled `name`, and how many such assets there are.
    fn records<'a>(now: &'a Value, name: &str) -> (usize, Vec<&'a Value>) {
        let assets: Vec<&str> = now["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .filter(|a| a["title"] == name)
            .filter_map(|a| a["id"].as_str())
            .collect();
        let files = now["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter(|f| f["asset_id"].as_str().is_some_and(|a| assets.contains(&a)))
            .collect();
        (assets.len(), files)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn iconik_gcs_session_resumes_from_what_storage_holds() {
        let running = start(&[]).expect("iconik server");
        let base = running.server.url.clone();
        let c = signed_in(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("resume.mov");
        let original = payload(SIZE);
        std::fs::write(&path, &original).expect("file");
        let req = request(&path, "collection:c-show", "resume.mov");

        let first = attempt_until_sent(c.as_ref(), &req, None, SIZE as u64 / 2).await;
        assert!(first.outcome.is_none(), "the first attempt was to be cut");
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        assert!(
            checkpoint["secret"]["session_url"].is_string(),
            "{checkpoint}"
        );
        // As after a crash: the storage notices the connection is gone.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = held(&base).await;
        let (_, files) = records(&before, "resume.mov");
        let persisted = files[0]["persisted"].as_u64().unwrap_or(0);
        assert!(
            persisted > 0,
            "the storage kept nothing of the first attempt: {before}"
        );

        let second = attempt(c.as_ref(), &req, Some(&checkpoint), None, None).await;
        let version = second.outcome.expect("finished").expect("resumed upload");
        assert!(
            second.progress.contains(&persisted),
            "progress resumes at what the storage holds ({persisted}): {:?}",
            &second.progress[..second.progress.len().min(4)]
        );
        let after = held(&base).await;
        let (assets, files) = records(&after, "resume.mov");
        assert_eq!(assets, 1, "one asset: {after}");
        assert_eq!(files.len(), 1, "one file record: {after}");
        let file = files[0];
        assert_eq!(file["complete"], true);
        assert_eq!(file["status"], "CLOSED");
        assert_eq!(file["asset_id"], version.asset.as_str());
        assert_eq!(
            file["bytes_received"].as_u64(),
            Some(SIZE as u64),
            "every byte reached the storage exactly once"
        );
        assert!(blob(&base, file["id"].as_str().unwrap_or_default()).await == original);
        eprintln!(
            "iconik resume: {persisted} of {SIZE} bytes kept by the session; {} PUTs in all",
            file["puts"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn iconik_dead_session_gets_a_new_file_record_not_a_second_asset() {
        let running = start(&[]).expect("iconik server");
        let base = running.server.url.clone();
        let c = signed_in(&base).await;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("dead.mov");
        let original = payload(SIZE);
        std::fs::write(&path, &original).expect("file");
        let mut req = request(&path, "collection:c-show", "dead.mov");
        req.subfolder = vec!["Turnover".into(), "reel 2".into()];

        let first = attempt_until_sent(c.as_ref(), &req, None, SIZE as u64 / 3).await;
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        tokio::time::sleep(Duration::from_millis(200)).await;
        reqwest::Client::new()
            .post(format!("{base}/__test__/kill_sessions"))
            .send()
            .await
            .expect("kill sessions");
        let second = attempt(c.as_ref(), &req, Some(&checkpoint), None, None).await;
        let version = second.outcome.expect("finished").expect("restarted file");
        let after = held(&base).await;
        let (assets, files) = records(&after, "dead.mov");
        assert_eq!(assets, 1, "{after}");
        assert_eq!(files.len(), 1, "the dead record was replaced: {after}");
        assert_eq!(files[0]["complete"], true);
        assert!(blob(&base, files[0]["id"].as_str().unwrap_or_default()).await == original);
        // The asset sits in the dropped folders, made under the destination.
        let turnover = c
            .list_nodes(Some(&RemoteId::new("collection:c-show")))
            .await
            .expect("children");
        let turnover: Vec<_> = turnover.iter().filter(|n| n.name == "Turnover").collect();
        assert_eq!(turnover.len(), 1);
        let reel = c.list_nodes(Some(&turnover[0].id)).await.expect("reel");
        assert_eq!(reel.len(), 1);
        assert_eq!(reel[0].name, "reel 2");
        let assets = c.list_assets(&reel[0].id).await.expect("assets");
        assert!(assets.iter().any(|a| a.id == version.asset), "{assets:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn iconik_streamed_body_follows_the_bandwidth_limit() {
        let running = start(&[]).expect("iconik server");
        let c = signed_in(&running.server.url).await;
        crate::upload_resume::assert_paced(
            c.as_ref(),
            "collection:c-show",
            2 * 1024 * 1024,
            1024 * 1024,
            "iconik",
        )
        .await;
    }
}

mod local {
    use super::*;
    use framenote_connectors::local::{LocalConnector, Probe, ROOT_ID};
    use framenote_core::{FrameRate, MediaInfo};
    use std::sync::Arc;

    /// Frame facts are not what these tests look at (the app injects the player's probe; the
    /// conformance suite runs ffprobe): the payloads are not movies, so the facts are given.
    fn given_facts() -> Probe {
        Arc::new(|_: &Path| {
            Ok(MediaInfo {
                frame_rate: FrameRate::new(25, 1),
                start_timecode: None,
                first_frame: 0,
                frame_count: None,
                width: None,
                height: None,
                bytes: None,
            })
        })
    }

    fn hidden_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_copy_resumes_by_appending_to_its_temporary_file() {
        let media = tempfile::tempdir().expect("media");
        let state = tempfile::tempdir().expect("state");
        let lib = LocalConnector::new(media.path(), state.path(), given_facts());
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("render.mov");
        let original = payload(5 * 1024 * 1024 + 77);
        std::fs::write(&path, &original).expect("file");
        let mut req = request(&path, ROOT_ID, "render.mov");
        req.subfolder = vec!["Day 3".into(), "cam B".into()];

        let first = attempt_until_sent(&lib, &req, None, 2 * 1024 * 1024).await;
        assert!(first.outcome.is_none(), "the first attempt was to be cut");
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        let target_dir = media.path().join("Day 3").join("cam B");
        let temp = target_dir.join(checkpoint["temp"].as_str().expect("temp name"));
        // A write the cut attempt had already handed to the blocking pool still lands (at its
        // own offset, with the same bytes); let it, then see what the file holds.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let kept = std::fs::metadata(&temp).expect("temporary file").len();
        assert!(kept >= 2 * 1024 * 1024, "{kept}");
        assert!(
            lib.list_assets(&RemoteId::new("dir:Day 3/cam B"))
                .await
                .expect("listing")
                .is_empty(),
            "a half-copied file is not listed"
        );

        let second = attempt(&lib, &req, Some(&checkpoint), None, None).await;
        let version = second.outcome.expect("finished").expect("resumed copy");
        assert_eq!(
            second.progress.first().copied(),
            Some(kept),
            "the copy went on from the temporary file's length"
        );
        assert_eq!(version.id.as_str(), "Day 3/cam B/render.mov");
        assert!(std::fs::read(target_dir.join("render.mov")).expect("copied") == original);
        assert!(hidden_files(&target_dir).is_empty(), "temporary file left");
        // The folders are nodes of the library, the file an asset in the inner one.
        let day = lib
            .list_nodes(Some(&RemoteId::new(ROOT_ID)))
            .await
            .expect("nodes");
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].name, "Day 3");
        let cam = lib.list_nodes(Some(&day[0].id)).await.expect("nodes");
        assert_eq!(cam[0].name, "cam B");
        let assets = lib.list_assets(&cam[0].id).await.expect("assets");
        assert_eq!(assets.len(), 1);
        assert_eq!(assets[0].id, version.asset);
        assert!(matches!(
            lib.media_source(&version).await.expect("source"),
            framenote_connectors::MediaSource::File(p) if p == target_dir.join("render.mov")
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_cancel_removes_the_temporary_file() {
        let media = tempfile::tempdir().expect("media");
        let state = tempfile::tempdir().expect("state");
        let lib = LocalConnector::new(media.path(), state.path(), given_facts());
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("gone.mov");
        std::fs::write(&path, payload(3 * 1024 * 1024)).expect("file");
        let req = request(&path, ROOT_ID, "gone.mov");
        let first = attempt_until_sent(&lib, &req, None, 1024 * 1024).await;
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        assert_eq!(hidden_files(media.path()).len(), 1);
        lib.abandon_upload(&checkpoint).await.expect("abandon");
        assert!(hidden_files(media.path()).is_empty());
        let mut outside = req.clone();
        outside.subfolder = vec!["..".into()];
        let err = attempt(&lib, &outside, None, None, None)
            .await
            .outcome
            .expect("finished")
            .expect_err("a folder that leaves the library");
        assert_eq!(err.kind, framenote_connectors::ErrorKind::Rejected);
    }
}

mod kitsu {
    use super::*;
    use crate::zou::{self, Admin, SUPERVISOR};
    use framenote_connectors::Credentials;
    use framenote_connectors::kitsu::{KitsuConfig, KitsuConnector};

    async fn counts(admin: &Admin, task: &str) -> (usize, usize) {
        let previews = admin
            .get(&format!("/data/tasks/{task}/previews"))
            .await
            .expect("previews");
        let comments = admin
            .get(&format!("/data/tasks/{task}/comments"))
            .await
            .expect("comments");
        (
            previews.as_array().map_or(0, Vec::len),
            comments.as_array().map_or(0, Vec::len),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kitsu_resume_reuses_the_comment_and_preview_and_leaves_one_revision() {
        let zou = zou::zou().await;
        let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1)
            .await
            .expect("admin");
        // The 29.97 project's empty upload task: no other test uploads to it.
        let task = zou.seed.projects["29.97"].upload_task_id.clone();
        let c = KitsuConnector::new(KitsuConfig::new(&zou.api)).expect("connector");
        c.authenticate(&Credentials::Password {
            user: SUPERVISOR.0.into(),
            password: SUPERVISOR.1.into(),
        })
        .await
        .expect("sign in");
        let dir = zou.data_dir.join("upload-resume");
        tokio::fs::create_dir_all(&dir).await.expect("dir");
        let movie = zou::make_movie(&dir, "30000/1001", 2).await.expect("movie");
        let req = request(&movie, &task, "sh_resume_v002.mp4");
        let (previews_before, comments_before) = counts(&admin, &task).await;

        // Stopped once the comment and the (still empty) preview exist: the file never left.
        let stop = |v: &Value| v["preview_id"].is_string();
        let first = attempt(&c, &req, None, Some(&stop), None).await;
        assert!(first.outcome.is_none());
        let checkpoint = first.last_checkpoint().expect("checkpoint");
        let preview_id = checkpoint["preview_id"]
            .as_str()
            .expect("preview")
            .to_owned();

        let second = attempt(&c, &req, Some(&checkpoint), None, None).await;
        let last = second.last_checkpoint().unwrap_or(checkpoint);
        let version = second.outcome.expect("finished").expect("resumed upload");
        assert_eq!(
            version.id.as_str(),
            preview_id,
            "the earlier preview got the file"
        );
        let (previews, comments) = counts(&admin, &task).await;
        assert_eq!(previews, previews_before + 1, "exactly one new revision");
        assert_eq!(comments, comments_before + 1, "exactly one new comment");
        let preview = admin
            .get(&format!("/data/preview-files/{preview_id}"))
            .await
            .expect("preview");
        assert_eq!(preview["status"], "ready", "{preview}");
        assert!(preview["original_name"].is_string(), "{preview}");

        // Run again from the last checkpoint (as after a crash between Zou's answer and the
        // queue recording it): nothing new is made, the same version comes back.
        let third = attempt(&c, &req, Some(&last), None, None).await;
        let again = third.outcome.expect("finished").expect("replayed upload");
        assert_eq!(again.id, version.id);
        assert_eq!(counts(&admin, &task).await, (previews, comments));
        // Kitsu previews are movies and pictures.
        assert!(c.upload_accepts("a.mov").is_ok() && c.upload_accepts("b.png").is_ok());
        assert!(c.upload_accepts("c.wav").is_err() && c.upload_accepts("d.txt").is_err());
    }
}
