//! Helpers for the sync/outbox/CLI system tests: the real CLI run as a child process on its own
//! data folder, and a loopback proxy that can play "the server is down" and "the request reached
//! the server but the answer never comes back" — the two situations a durable outbox must survive.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The headless CLI binary (`framenote-cli`, the app's `cli.rs` without the GUI stack). Uses
/// `FRAMENOTE_CLI` when set; otherwise builds it once into this test binary's target folder.
pub fn cli_binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_cli().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

fn build_cli() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("FRAMENOTE_CLI") {
        return Ok(PathBuf::from(path));
    }
    // target/<profile>/deps/system-… → target/
    let exe = std::env::current_exe().context("locating the test binary")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary outside a target folder")?;
    let target_dir = profile_dir.parent().context("no target folder")?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "framenote-sync",
            "--features",
            "cli",
            "--bin",
            "framenote-cli",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .context("building framenote-cli")?;
    anyhow::ensure!(status.success(), "building framenote-cli failed");
    let bin = target_dir.join("debug").join("framenote-cli");
    anyhow::ensure!(bin.exists(), "framenote-cli not found at {}", bin.display());
    Ok(bin)
}

/// One user's CLI: a private data folder, secrets in the fallback file.
pub struct Cli {
    /// The binary.
    pub bin: PathBuf,
    /// The data folder (removed on drop).
    pub data: tempfile::TempDir,
}

impl Cli {
    /// A CLI with an empty data folder.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            bin: cli_binary()?,
            data: tempfile::tempdir()?,
        })
    }

    /// A command with the data folder and the file secret store set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("FRAMENOTE_DATA_DIR", self.data.path())
            .env("FRAMENOTE_SECRETS", "file")
            .stdin(Stdio::null());
        command
    }

    /// Runs to completion.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.command(args)
            .output()
            .with_context(|| format!("running framenote {args:?}"))
    }

    /// Runs, requires success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args)?;
        anyhow::ensure!(
            out.status.success(),
            "framenote {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs with `--json`, requires success, parses the output.
    pub fn json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all)?;
        serde_json::from_str(text.trim())
            .with_context(|| format!("framenote {args:?} printed {text}"))
    }
}

/// A loopback HTTP proxy in front of a real server that can be switched "down" (connections are
/// closed at once, as when the server is stopped) and can hold back the answers of matching
/// requests after the server handled them (a lost response).
pub struct HoldProxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    rules: Arc<Mutex<Vec<(String, String)>>>,
    slow: Arc<Mutex<Option<String>>>,
    held: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HoldProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HoldProxy {
    /// Starts on 127.0.0.1 with a free port, forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let down = Arc::new(AtomicBool::new(false));
        let rules: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
        let slow: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let held = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let (d, r, h, sl) = (down.clone(), rules.clone(), held.clone(), slow.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if d.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                let (client, upstream, rules, held, slow) = (
                    client.clone(),
                    upstream.clone(),
                    r.clone(),
                    h.clone(),
                    sl.clone(),
                );
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let slow = slow.lock().ok().and_then(|s| s.clone());
                        forward(
                            req,
                            client.clone(),
                            upstream.clone(),
                            rules.clone(),
                            held.clone(),
                            slow,
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            down,
            rules,
            slow,
            held,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// "Stops" (true) or "restarts" (false) the server as clients see it.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// From now on, answers to `method` requests whose path contains `path` are held back after
    /// the upstream server handled them.
    pub fn hold(&self, method: &str, path: &str) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push((method.to_owned(), path.to_owned()));
        }
    }

    /// Stops holding answers back (already held ones stay held until their client goes away).
    pub fn release(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// Answers to requests whose path contains `path` trickle out (16 KiB every 40 ms), so a
    /// download can be interrupted half-way; `None` restores full speed.
    pub fn slow_down(&self, path: Option<&str>) {
        if let Ok(mut slow) = self.slow.lock() {
            *slow = path.map(str::to_owned);
        }
    }

    /// How many answers were held back so far (each one's request was handled upstream).
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

async fn forward(
    req: Request<Incoming>,
    client: reqwest::Client,
    upstream: String,
    rules: Arc<Mutex<Vec<(String, String)>>>,
    held: Arc<AtomicUsize>,
    slow: Option<String>,
) -> Result<Response<ProxyBody>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let hold = rules
        .lock()
        .map(|r| {
            r.iter()
                .any(|(m, p)| m.eq_ignore_ascii_case(&method) && path.contains(p.as_str()))
        })
        .unwrap_or(false);
    let headers = req.headers().clone();
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(status(400, "unreadable request body")),
    };
    let mut outgoing = client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
        format!("{upstream}{path_and_query}"),
    );
    for (name, value) in &headers {
        if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return Ok(status(502, &format!("upstream: {e}"))),
    };
    let code = answer.status().as_u16();
    let answer_headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    if hold {
        // The server did the work; its answer never reaches the client.
        held.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    let body: ProxyBody = if slow.as_deref().is_some_and(|p| path.contains(p)) {
        let chunks: Vec<Bytes> = bytes
            .chunks(16 * 1024)
            .map(Bytes::copy_from_slice)
            .collect();
        let stream = futures::stream::iter(chunks).then(|chunk| async move {
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            Ok::<_, Infallible>(hyper::body::Frame::data(chunk))
        });
        BodyExt::boxed(StreamBody::new(stream))
    } else {
        BodyExt::boxed(Full::new(bytes))
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    for (name, value) in &answer_headers {
        if name != hyper::header::TRANSFER_ENCODING && name != hyper::header::CONNECTION {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(response)
}

type ProxyBody = BoxBody<Bytes, Infallible>;

fn status(code: u16, text: &str) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())).boxed());
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    response
}

/// Kitsu's time for media frame `index` at `fps`: `round4(index × round4(1/fps))`.
pub fn kitsu_time(index: u64, fps: f64) -> f64 {
    let round4 = |x: f64| (x * 10_000.0).round() / 10_000.0;
    round4(index as f64 * round4(1.0 / fps))
}
