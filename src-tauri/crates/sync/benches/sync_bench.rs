//! sync-bench: metadata sync and proxy download throughput of the real engine, against a
//! Kitsu-shaped load generator on loopback, with `curl` on the same file in the same run as the
//! download reference.
//!
//! The server speaks the part of Zou's REST API the Kitsu connector uses (login, open projects,
//! task statuses, the "to check" / "to do" task lists, previews per task and the generic
//! preview-file list with its pagination, comments, preview files, movies
//! with HTTP Range) from data generated in memory: it is a load generator, not a model of Zou —
//! the connector's behaviour against the real Zou is what the system tests check.
//!
//! Run: `cargo bench -p framenote-sync --bench sync-bench` (env `BENCH_ASSETS`, `BENCH_NOTES`,
//! `BENCH_MOVIE_MB` to resize). Prints a table, then one JSON line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use framenote_connectors::Credentials;
use framenote_core::{Platform, RemoteId};
use framenote_sync::{
    PullOptions, PullReport, SecretPreference, SyncConfig, SyncEngine, standard_factory,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const PROJECT: &str = "00000000-0000-4000-8000-000000000001";
const WFA: &str = "00000000-0000-4000-8000-0000000000aa";

/// The generated platform: JSON bodies prepared once, served many times.
struct Generated {
    routes: HashMap<String, Arc<Vec<u8>>>,
    /// Every preview file of the project as Zou's generic list returns them (all columns),
    /// newest-updated first: `GET /data/preview-files?project_id=` and its pages.
    preview_rows: Vec<Value>,
    movie: Arc<Vec<u8>>,
}

impl Generated {
    /// `GET /data/preview-files?…` like Zou's generic list (`zou/app/blueprints/crud/base.py`):
    /// without `page` a plain array, with `page` the pagination envelope ordered
    /// `updated_at desc, created_at desc, id` (default limit 100).
    fn preview_files(&self, query: &str) -> Vec<u8> {
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        let rows: Vec<&Value> = match param("project_id") {
            Some(p) if p != PROJECT => Vec::new(),
            _ => self.preview_rows.iter().collect(),
        };
        let page: i64 = param("page").and_then(|v| v.parse().ok()).unwrap_or(-1);
        if page < 1 {
            return serde_json::to_vec(&rows).unwrap_or_default();
        }
        let limit: usize = param("limit")
            .and_then(|v| v.parse().ok())
            .filter(|l| *l > 0)
            .unwrap_or(100);
        let offset = (page as usize - 1) * limit;
        let data: Vec<&Value> = rows.iter().skip(offset).take(limit).copied().collect();
        serde_json::to_vec(&json!({
            "data": data, "total": rows.len(), "nb_pages": rows.len().div_ceil(limit),
            "limit": limit, "offset": offset, "page": page,
        }))
        .unwrap_or_default()
    }
}

fn task_id(i: usize) -> String {
    format!("10000000-0000-4000-8000-{i:012}")
}
fn preview_id(i: usize) -> String {
    format!("20000000-0000-4000-8000-{i:012}")
}

fn generate(assets: usize, notes_per_asset: usize, movie_bytes: usize) -> Generated {
    let mut routes = HashMap::new();
    let mut put = |path: String, value: Value| {
        routes.insert(path, Arc::new(value.to_string().into_bytes()));
    };
    put(
        "/api/auth/login".into(),
        json!({
            "login": true, "access_token": "bench-access", "refresh_token": "bench-refresh",
            "user": {"id": "30000000-0000-4000-8000-000000000001", "full_name": "Bench Reviewer", "role": "supervisor"}
        }),
    );
    put(
        "/api/auth/authenticated".into(),
        json!({
            "authenticated": true,
            "user": {"id": "30000000-0000-4000-8000-000000000001", "full_name": "Bench Reviewer", "role": "supervisor"}
        }),
    );
    put(
        "/api/data/user/projects/open".into(),
        json!([{"id": PROJECT, "name": "Bench", "fps": "24", "resolution": "1920x1080"}]),
    );
    put(
        "/api/data/task-status".into(),
        json!([{"id": WFA, "short_name": "wfa", "name": "Waiting For Approval"}]),
    );
    let mut to_check = Vec::new();
    let mut to_do = Vec::new();
    let mut preview_rows = Vec::new();
    for i in 0..assets {
        let task = json!({
            "id": task_id(i), "project_id": PROJECT, "entity_id": format!("40000000-0000-4000-8000-{i:012}"),
            "task_status_id": WFA, "task_type_name": "Animation", "entity_name": format!("SH{i:05}"),
            "sequence_name": format!("SQ{:03}", i / 100), "entity_data": {"frame_in": 1001},
            "entity_nb_frames": 96, "updated_at": "2026-11-01T10:00:00", "last_comment_date": "2026-11-01T10:00:00",
            "name": "main"
        });
        if i % 2 == 0 {
            to_check.push(task)
        } else {
            to_do.push(task)
        }
        // Every column Zou serialises for a preview file (the per-task route and the generic
        // list return the same rows).
        let preview = json!({
            "id": preview_id(i), "task_id": task_id(i), "revision": 1, "extension": "mp4", "status": "ready",
            "name": format!("SH{i:05}_animation_v001"), "original_name": "movie.mp4", "position": 1,
            "source": "webgui", "is_movie": true, "url": null, "description": null, "data": null,
            "person_id": "30000000-0000-4000-8000-000000000002", "source_file_id": null,
            "validation_status": "neutral", "uploaded_movie_url": null, "uploaded_movie_name": null,
            "shotgun_id": null, "file_size": movie_bytes, "width": 1920, "height": 1080, "duration": 4.0,
            "annotations": [], "created_at": "2026-10-01T09:00:00", "updated_at": "2026-10-01T09:00:00",
            "type": "PreviewFile"
        });
        preview_rows.push(preview.clone());
        put(
            format!("/api/data/tasks/{}/previews", task_id(i)),
            json!([preview.clone()]),
        );
        put(
            format!("/api/data/preview-files/{}", preview_id(i)),
            preview,
        );
        let comments: Vec<Value> = (0..notes_per_asset)
            .map(|n| json!({
                "id": format!("50000000-0000-4000-{:04}-{i:012}", n), "text": format!("Note {n} on shot {i}: tighten the timing"),
                "object_id": task_id(i), "person_id": "30000000-0000-4000-8000-000000000002",
                "person": {"first_name": "Sue", "last_name": "Pervisor"},
                "created_at": format!("2026-10-02T10:{:02}:00", n % 60), "previews": [{"id": preview_id(i)}],
                "acknowledgements": [], "replies": [], "task_status_id": WFA
            }))
            .collect();
        put(
            format!("/api/data/tasks/{}/comments", task_id(i)),
            json!(comments),
        );
    }
    let all: Vec<Value> = to_check.iter().chain(to_do.iter()).cloned().collect();
    put(format!("/api/data/projects/{PROJECT}/tasks"), json!(all));
    for empty in ["shots", "assets", "sequences"] {
        put(format!("/api/data/projects/{PROJECT}/{empty}"), json!([]));
    }
    put("/api/data/task-types".into(), json!([]));
    put("/api/data/user/tasks-to-check".into(), json!(to_check));
    put("/api/data/user/tasks".into(), json!(to_do));
    let movie: Vec<u8> = (0..movie_bytes)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // All rows share `updated_at`: Zou's tie-breakers are `created_at desc`, then `id`.
    preview_rows.reverse();
    Generated {
        routes,
        preview_rows,
        movie: Arc::new(movie),
    }
}

/// Now as an HTTP `Date` header (every real server, Zou's included, sends one).
fn http_date() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A minimal HTTP/1.1 keep-alive server for the generated platform. Returns the port.
async fn serve(platform: Arc<Generated>) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let platform = platform.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    match reader.read_line(&mut request_line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let mut parts = request_line.split_whitespace();
                    let (method, path) = (
                        parts.next().unwrap_or("").to_owned(),
                        parts.next().unwrap_or("").to_owned(),
                    );
                    let mut length = 0usize;
                    let mut range: Option<u64> = None;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            let value = value.trim();
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.parse().unwrap_or(0),
                                "range" => {
                                    range = value
                                        .strip_prefix("bytes=")
                                        .and_then(|r| r.split('-').next())
                                        .and_then(|s| s.parse().ok())
                                }
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let (path, query) = match path.split_once('?') {
                        Some((path, query)) => (path.to_owned(), query.to_owned()),
                        None => (path, String::new()),
                    };
                    let generic_list = (path == "/api/data/preview-files" && method == "GET")
                        .then(|| platform.preview_files(&query));
                    let ok = if let Some(json) = generic_list {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                            http_date(),
                            json.len()
                        );
                        write.write_all(head.as_bytes()).await.is_ok()
                            && write.write_all(&json).await.is_ok()
                    } else if path.starts_with("/api/movies/originals/preview-files/")
                        && method == "GET"
                    {
                        let total = platform.movie.len() as u64;
                        let start = range.unwrap_or(0).min(total);
                        let head = if range.is_some() {
                            format!(
                                "HTTP/1.1 206 Partial Content\r\nContent-Type: video/mp4\r\nAccept-Ranges: bytes\r\nETag: \"bench\"\r\nContent-Range: bytes {start}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
                                total.saturating_sub(1),
                                total - start
                            )
                        } else {
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nAccept-Ranges: bytes\r\nETag: \"bench\"\r\nContent-Length: {total}\r\n\r\n"
                            )
                        };
                        let slice = usize::try_from(start).unwrap_or(0);
                        write.write_all(head.as_bytes()).await.is_ok()
                            && write.write_all(&platform.movie[slice..]).await.is_ok()
                    } else {
                        match platform.routes.get(&path) {
                            Some(json) => {
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                    http_date(),
                                    json.len()
                                );
                                write.write_all(head.as_bytes()).await.is_ok()
                                    && write.write_all(json).await.is_ok()
                            }
                            None => {
                                let body = b"{\"error\": true, \"message\": \"not found\"}";
                                let head = format!(
                                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                    body.len()
                                );
                                write.write_all(head.as_bytes()).await.is_ok()
                                    && write.write_all(body).await.is_ok()
                            }
                        }
                    };
                    if !ok {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn engine(dir: &Path) -> anyhow::Result<SyncEngine> {
    let probe: framenote_connectors::local::Probe =
        Arc::new(|_: &Path| Err("no local media in the bench".to_string()));
    let config = SyncConfig {
        secrets: SecretPreference::File,
        pull_concurrency: env_usize("BENCH_CONCURRENCY", SyncConfig::default().pull_concurrency),
        ..SyncConfig::default()
    };
    Ok(SyncEngine::open(dir, standard_factory(probe), config).await?)
}

fn curl_seconds(url: &str, dest: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = std::process::Command::new("curl")
        .args(["-s", "-f", "-H", "Authorization: Bearer bench-access", "-o"])
        .arg(dest)
        .arg(url)
        .status()?;
    anyhow::ensure!(status.success(), "curl failed");
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds `program args… file` takes (the reference tools for what the engine does beyond
/// curl: `openssl dgst -sha256` (the fastest standard SHA-256, using the CPU's SHA extensions)
/// to verify, `sync FILE` (fsync) to make the copy survive a power cut).
fn tool_seconds(program: &str, args: &[&str], file: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .arg(file)
        .output()?;
    anyhow::ensure!(out.status.success(), "{program} failed");
    Ok(started.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let assets = env_usize("BENCH_ASSETS", 10_000);
    let notes = env_usize("BENCH_NOTES", 50_000);
    let movie_mb = env_usize("BENCH_MOVIE_MB", 256);
    let per_asset = notes.div_ceil(assets.max(1));
    let generated = Instant::now();
    let platform = Arc::new(generate(assets, per_asset, movie_mb << 20));
    let port = serve(platform.clone()).await?;
    let api = format!("http://127.0.0.1:{port}/api");
    eprintln!(
        "bench: generated {assets} assets, {} notes, {movie_mb} MiB movie in {:.1} s",
        assets * per_asset,
        generated.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let engine = engine(dir.path()).await?;
    let account = engine
        .login(
            Platform::Kitsu,
            &api,
            &Credentials::Password {
                user: "bench@example.com".into(),
                password: "bench".into(),
            },
            None,
            None,
        )
        .await?
        .id;
    let cancel = framenote_sync::cancellation();
    eprintln!("bench: signed in");

    let mut events = engine.subscribe();
    let t0 = Instant::now();
    let printer = tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            if std::env::var_os("BENCH_TRACE").is_some() {
                eprintln!("{:>8.3} {e:?}", t0.elapsed().as_secs_f64());
            }
        }
    });
    let started = Instant::now();
    let cold: PullReport = engine
        .pull(&account, PullOptions { full: true }, &cancel)
        .await?;
    let cold_s = started.elapsed().as_secs_f64();
    eprintln!("bench: cold sync {cold_s:.2} s");
    let started = Instant::now();
    let warm: PullReport = engine
        .pull(&account, PullOptions::default(), &cancel)
        .await?;
    let warm_s = started.elapsed().as_secs_f64();
    printer.abort();
    let (_, cached_assets, _) = engine.cache().library_counts(&account).await?;
    let cached_notes = engine.cache().notes_for_account(&account).await?.len();

    // Download throughput: the engine's offline path (download + size check + SHA-256) and curl.
    let asset = RemoteId(task_id(0));
    engine
        .cache()
        .pin(&account, &framenote_cache::PinScope::Asset(asset))
        .await?;
    let started = Instant::now();
    let offline = engine.sync_offline(&account, &cancel).await?;
    let engine_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        offline.downloaded == 1,
        "the offline download failed: {offline:?}"
    );
    // The same resumable download helper alone (no size check, no SHA-256), to split the cost.
    let http = framenote_connectors::http::HttpClient::new(
        framenote_connectors::http::HttpConfig::default(),
    )?;
    let helper_dest = dir.path().join("helper.mp4");
    let started = Instant::now();
    framenote_connectors::http::download_resumable(
        &http,
        &format!("{api}/movies/originals/preview-files/{}.mp4", preview_id(0)),
        &[(
            "Authorization".to_string(),
            "Bearer bench-access".to_string(),
        )],
        &helper_dest,
        &|_, _| {},
    )
    .await?;
    let helper_s = started.elapsed().as_secs_f64();
    let curl_dest = dir.path().join("curl.mp4");
    let curl_s = curl_seconds(
        &format!("{api}/movies/originals/preview-files/{}.mp4", preview_id(0)),
        &curl_dest,
    )?;
    // The same guarantees with standard tools, one after the other: curl, then verify, then
    // make durable. The engine keeps both promises; curl alone keeps neither.
    let sha_s = tool_seconds("openssl", &["dgst", "-sha256"], &curl_dest)?;
    let fsync_s = tool_seconds("sync", &[], &curl_dest)?;
    let durable_s = curl_s + sha_s + fsync_s;
    let bytes = platform.movie.len() as f64;
    let engine_mbps = bytes / engine_s / 1e6;
    let curl_mbps = bytes / curl_s / 1e6;
    let durable_mbps = bytes / durable_s / 1e6;

    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| cold metadata sync ({} asset listings applied, {} notes, {} connector calls) | {cold_s:.2} s | ≤ 5 s |",
        cold.assets, cold.notes, cold.requests
    );
    println!(
        "| no-change re-sync ({} connector calls, {} assets changed, notes of {} versions fetched, incremental: {}) | {:.0} ms | ≤ 100 ms |",
        warm.requests,
        warm.assets_changed,
        warm.versions_noted,
        !warm.full_listing,
        warm_s * 1000.0
    );
    println!("| cached after sync | {cached_assets} assets, {cached_notes} notes | |");
    println!(
        "| proxy download, engine (incl. SHA-256) | {engine_mbps:.0} MB/s ({engine_s:.2} s) | ≥ 0.9× curl |"
    );
    println!(
        "| proxy download, helper alone (fsync, no SHA-256) | {:.0} MB/s ({helper_s:.2} s) | |",
        bytes / helper_s / 1e6
    );
    println!("| proxy download, curl | {curl_mbps:.0} MB/s ({curl_s:.2} s) | reference |");
    println!(
        "| ratio engine / curl | {:.2} | ≥ 0.90 |",
        engine_mbps / curl_mbps
    );
    println!(
        "| curl + openssl sha256 + sync FILE (same guarantees) | {durable_mbps:.0} MB/s ({durable_s:.2} s: {curl_s:.2} + {sha_s:.2} + {fsync_s:.2}) | reference |"
    );
    println!(
        "| ratio engine / curl with the same guarantees | {:.2} | |",
        engine_mbps / durable_mbps
    );
    println!(
        "{}",
        json!({
            "assets": assets, "notes": assets * per_asset,
            "cold_sync_s": cold_s, "cold_requests": cold.requests,
            "nochange_sync_ms": warm_s * 1000.0, "nochange_requests": warm.requests, "nochange_incremental": !warm.full_listing,
            "cached_assets": cached_assets, "cached_notes": cached_notes,
            "movie_bytes": platform.movie.len(), "engine_download_s": engine_s, "helper_download_s": helper_s, "curl_download_s": curl_s,
            "engine_mb_s": engine_mbps, "curl_mb_s": curl_mbps, "ratio": engine_mbps / curl_mbps,
            "durable_reference_s": durable_s, "sha256_s": sha_s, "fsync_s": fsync_s, "ratio_same_guarantees": engine_mbps / durable_mbps,
        })
    );
    Ok(())
}
