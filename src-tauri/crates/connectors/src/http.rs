//! The one HTTP path every platform module uses: a reqwest client with timeouts, a retry loop
//! that honours `429` + `Retry-After` and backs off on `5xx` and network failures, the mapping of
//! HTTP and transport failures onto [`ErrorKind`], JSON decoding that turns a malformed body into
//! [`ErrorKind::BadResponse`], and a `Range`-resumable download for proxies.
//!
//! Why here and not per platform: the outbox decides what to do from `ErrorKind` alone, so the
//! classification must be the same for Kitsu, iconik, Ci, Moxion and Flex; and a retry that could
//! post a note twice must be impossible by construction, which is what [`Retry`] is for.
//!
//! Nothing here logs or returns a URL's query string or a header value: signed URLs and tokens
//! live there.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{
    CONTENT_RANGE, ETAG, HeaderMap, IF_RANGE, LAST_MODIFIED, RANGE, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::Result;
use crate::error::{ConnectorError, ErrorKind};

/// Timeouts and retry budget. The defaults suit an interactive desktop client.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Whole-request timeout for API calls (not for downloads, which use `read_timeout`).
    pub timeout: Duration,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading a body (downloads and uploads).
    pub read_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubled each attempt, with jitter.
    pub base_backoff: Duration,
    /// Longest backoff between attempts.
    pub max_backoff: Duration,
    /// The longest `Retry-After` waited in-line; longer ones are returned to the caller as
    /// [`ErrorKind::RateLimited`] so the outbox can schedule them instead of blocking.
    pub max_inline_wait: Duration,
    /// `User-Agent` sent on every request.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_attempts: 4,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_inline_wait: Duration::from_secs(30),
            user_agent: format!("Framenote/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Whether a request may be sent again after it may already have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Sending it twice has the same effect as once (GET, PUT of a whole object, a POST the
    /// platform de-duplicates): retried on 5xx, timeouts and lost connections.
    Idempotent,
    /// It could create something twice (posting a note): retried only when the server cannot
    /// have acted on it — a refused connection or a `429`.
    Unsafe,
}

/// A reqwest client plus the retry policy. Cheap to clone (reqwest shares its pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
}

impl HttpClient {
    /// Builds the client. Fails only if the TLS backend cannot start.
    pub fn new(config: HttpConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| ConnectorError::new(ErrorKind::Io, format!("HTTP client: {e}")))?;
        Ok(Self { client, config })
    }

    /// The underlying reqwest client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The configuration in force.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Sends the request that `build` makes (called again for each attempt) and returns the
    /// first successful (2xx) response. Failures are classified; transient ones are retried
    /// within the budget when `retry` allows. API calls get the whole-request timeout.
    pub async fn send<F>(&self, retry: Retry, build: F) -> Result<reqwest::Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_inner(retry, true, build).await
    }

    /// Like [`HttpClient::send`] but without the whole-request timeout, for bodies that take
    /// long (downloads, uploads); the read timeout still catches a stalled peer.
    pub async fn send_streaming<F>(&self, retry: Retry, build: F) -> Result<reqwest::Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_inner(retry, false, build).await
    }

    async fn send_inner<F>(
        &self,
        retry: Retry,
        whole_timeout: bool,
        build: F,
    ) -> Result<reqwest::Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut builder = build(&self.client);
            if whole_timeout {
                builder = builder.timeout(self.config.timeout);
            }
            let (what, outcome) = match builder.build() {
                Ok(request) => {
                    let what = describe(request.method(), request.url());
                    (what, self.client.execute(request).await)
                }
                Err(e) => {
                    return Err(ConnectorError::new(
                        ErrorKind::Rejected,
                        format!("could not build request: {}", without_url(&e)),
                    ));
                }
            };
            let error = match outcome {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => error_from_response(&what, response).await,
                Err(e) => classify_transport(&what, &e),
            };
            let may_retry = match error.kind {
                ErrorKind::RateLimited => true,
                ErrorKind::Server => retry == Retry::Idempotent,
                ErrorKind::Offline => {
                    retry == Retry::Idempotent || error.message.contains(CONNECT_FAILED)
                }
                _ => false,
            };
            if !may_retry || attempt >= self.config.max_attempts {
                return Err(error);
            }
            let delay = match error.retry_after {
                Some(wait) if wait > self.config.max_inline_wait => return Err(error),
                Some(wait) => wait,
                None => backoff(&self.config, attempt),
            };
            tracing::debug!(%what, attempt, ?delay, kind = ?error.kind, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// [`HttpClient::send`] and decode the JSON body as `T`.
    pub async fn json<T, F>(&self, retry: Retry, build: F) -> Result<T>
    where
        T: DeserializeOwned,
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let response = self.send(retry, build).await?;
        decode_json(response).await
    }
}

/// Marker in an `Offline` message for "the connection was never made": safe to retry anything.
const CONNECT_FAILED: &str = "could not connect";

/// "GET /path" without query string or host credentials.
fn describe(method: &Method, url: &reqwest::Url) -> String {
    format!("{method} {}", url.path())
}

/// A reqwest error's text without the URL (which may carry a signed query string).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), url.path());
    }
    text
}

/// Exponential backoff with ±25 % jitter, capped.
fn backoff(config: &HttpConfig, attempt: u32) -> Duration {
    let exp = config
        .base_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(config.max_backoff);
    // Jitter spreads retries of many queued notes; the randomness need not be strong.
    let noise = (uuid::Uuid::new_v4().as_u128() % 501) as f64 / 1000.0; // 0.0..=0.5
    capped.mul_f64(0.75 + noise)
}

/// Classifies a transport failure (no HTTP status).
pub fn classify_transport(what: &str, e: &reqwest::Error) -> ConnectorError {
    let detail = without_url(e);
    if e.is_timeout() {
        ConnectorError::new(ErrorKind::Offline, format!("{what}: timed out ({detail})"))
    } else if e.is_connect() {
        ConnectorError::new(
            ErrorKind::Offline,
            format!("{what}: {CONNECT_FAILED} ({detail})"),
        )
    } else if e.is_decode() {
        ConnectorError::bad_response(format!("{what}: unreadable answer ({detail})"))
    } else if e.is_builder() {
        ConnectorError::new(
            ErrorKind::Rejected,
            format!("{what}: bad request ({detail})"),
        )
    } else {
        ConnectorError::new(
            ErrorKind::Offline,
            format!("{what}: connection lost ({detail})"),
        )
    }
}

/// Reads a failed response's body (bounded) and classifies it.
pub async fn error_from_response(what: &str, response: reqwest::Response) -> ConnectorError {
    let status = response.status();
    let headers = response.headers().clone();
    let body = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => return classify_transport(what, &e),
    };
    classify_status(what, status, &headers, &body)
}

/// Maps an HTTP failure status onto [`ErrorKind`], with the platform's own message when its
/// body carries one (`message`, `msg`, `error`, `detail`, `description`).
pub fn classify_status(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ConnectorError {
    let said = platform_message(body);
    let message = match &said {
        Some(text) => format!("{what}: HTTP {} — {text}", status.as_u16()),
        None => format!("{what}: HTTP {}", status.as_u16()),
    };
    let kind = match status.as_u16() {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 | 410 => ErrorKind::NotFound,
        408 => ErrorKind::Offline,
        429 => {
            let wait = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            return ConnectorError::rate_limited(message, wait);
        }
        500..=599 => {
            // Some gateways send 503 + Retry-After for maintenance or throttling.
            let wait = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            let mut err = ConnectorError::new(ErrorKind::Server, message);
            err.retry_after = wait;
            return err;
        }
        _ => ErrorKind::Rejected,
    };
    ConnectorError::new(kind, message)
}

/// The human message in a JSON error body, truncated to 300 characters.
fn platform_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = ["message", "msg", "error", "detail", "description", "errors"]
        .iter()
        .find_map(|key| match value.get(key)? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Array(items) if !items.is_empty() => {
                Some(serde_json::Value::Array(items.clone()).to_string())
            }
            _ => None,
        })?;
    Some(text.chars().take(300).collect())
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past is zero.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Reads a successful response as JSON `T`; anything else is [`ErrorKind::BadResponse`].
pub async fn decode_json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let what = describe(&Method::GET, response.url()).replacen("GET ", "", 1);
    let body = response
        .bytes()
        .await
        .map_err(|e| classify_transport(&what, &e))?;
    serde_json::from_slice(&body).map_err(|e| not_expected(&what, &e))
}

/// Bodies from this size on are decoded on a blocking thread by [`decode_json_apart`].
const DECODE_APART_FROM: usize = 256 << 10;

/// [`decode_json`], decoding a large body on a blocking thread: a listing of thousands of rows
/// takes tens of milliseconds to parse, which would stall every other task on this thread (and
/// several listings would parse one after the other instead of side by side).
pub async fn decode_json_apart<T: DeserializeOwned + Send + 'static>(
    response: reqwest::Response,
) -> Result<T> {
    let what = describe(&Method::GET, response.url()).replacen("GET ", "", 1);
    let body = response
        .bytes()
        .await
        .map_err(|e| classify_transport(&what, &e))?;
    if body.len() < DECODE_APART_FROM {
        return serde_json::from_slice(&body).map_err(|e| not_expected(&what, &e));
    }
    match tokio::task::spawn_blocking(move || serde_json::from_slice::<T>(&body)).await {
        Ok(decoded) => decoded.map_err(|e| not_expected(&what, &e)),
        Err(e) => Err(ConnectorError::bad_response(format!(
            "{what}: decoding the answer failed ({e})"
        ))),
    }
}

fn not_expected(what: &str, e: &serde_json::Error) -> ConnectorError {
    ConnectorError::bad_response(format!(
        "{what}: the platform's answer is not the JSON expected ({e})"
    ))
}

/// What a finished download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOutcome {
    /// Bytes in the finished file.
    pub bytes: u64,
    /// Bytes that were already on disk from an interrupted attempt and were kept (0 = fresh).
    pub resumed_from: u64,
    /// Attempts made (1 when nothing was interrupted).
    pub attempts: u32,
}

/// Side files of a download in progress: the bytes so far, and the validator (ETag or
/// Last-Modified) that proves the bytes so far belong to the same file as the rest.
fn partial_paths(dest: &Path) -> (PathBuf, PathBuf) {
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let mut validator = dest.as_os_str().to_owned();
    validator.push(".part.validator");
    (PathBuf::from(part), PathBuf::from(validator))
}

/// Sees every byte of a download's finished file, in order, while it is written (a checksum
/// computed on the way in instead of re-reading the file afterwards).
///
/// `restart` is called before the file's first byte whenever an attempt (re)starts; when an
/// attempt resumes an interrupted one, the bytes kept on disk are read back and fed again, so the
/// sink always sees exactly the finished file.
pub trait DownloadSink: Send + 'static {
    /// Forget everything seen so far: the file starts again at byte 0.
    fn restart(&mut self);
    /// The next bytes of the file.
    fn update(&mut self, bytes: &[u8]);
}

/// The sink of a download nobody watches.
impl DownloadSink for () {
    fn restart(&mut self) {}
    fn update(&mut self, _: &[u8]) {}
}

/// Block size for reading back the kept part of a resumed download.
const PREFIX_READ_BLOCK: usize = 4 << 20;
/// Bytes written between two early write-back requests: the final `fsync` then only flushes the
/// tail instead of the whole file, and the disk works while the network does.
const WRITE_BACK_EVERY: u64 = 8 << 20;
/// Bytes of body chunks handed to the writer thread at once: one wake-up of that thread per
/// batch instead of one per (~16 KiB) chunk.
const HANDOFF_BYTES: usize = 1 << 20;
/// Batches in flight between the network task and the writer thread.
const BATCHES_IN_FLIGHT: usize = 32;

/// Downloads `url` to `dest`, resuming an earlier interrupted download of the same file with
/// `Range` + `If-Range`, and resuming again when the connection drops mid-way (within the retry
/// budget). The file appears at `dest` only when complete (written to `dest.part`, fsynced,
/// renamed). `progress(bytes_so_far, total)` is called as bytes arrive.
///
/// A partial file is only resumed when the server gave a validator (ETag or Last-Modified) for
/// it: without one, changed media could be spliced onto old bytes, so it starts over.
pub async fn download_resumable(
    http: &HttpClient,
    url: &str,
    headers: &[(String, String)],
    dest: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<DownloadOutcome> {
    download_resumable_into(http, url, headers, dest, progress, ())
        .await
        .map(|(outcome, ())| outcome)
}

/// [`download_resumable`], with every byte of the finished file also fed to `sink` as it is
/// written (see [`DownloadSink`]); returns the sink with the outcome.
///
/// Bytes are written on a blocking thread in large blocks, the sink runs on that thread too, and
/// write-back to disk starts while the download runs; the file is fsynced once at the end.
pub async fn download_resumable_into<S: DownloadSink>(
    http: &HttpClient,
    url: &str,
    headers: &[(String, String)],
    dest: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
    sink: S,
) -> Result<(DownloadOutcome, S)> {
    let (part, validator_path) = partial_paths(dest);
    let what = match reqwest::Url::parse(url) {
        Ok(u) => describe(&Method::GET, &u),
        Err(_) => {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "download: not a URL",
            ));
        }
    };
    let sink = Arc::new(Mutex::new(sink));
    let mut resumed_from = None;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let have = match tokio::fs::metadata(&part).await {
            Ok(meta) => meta.len(),
            Err(_) => 0,
        };
        let validator = tokio::fs::read_to_string(&validator_path).await.ok();
        let resume_at = match (&validator, have) {
            (Some(v), n) if n > 0 && !v.is_empty() => Some((n, v.clone())),
            _ => None,
        };
        let result = download_attempt(
            http,
            url,
            headers,
            &part,
            &validator_path,
            resume_at.clone(),
            progress,
            &what,
            &sink,
        )
        .await;
        match result {
            Ok(total) => {
                resumed_from.get_or_insert(resume_at.map(|(n, _)| n).unwrap_or(0));
                let file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .open(&part)
                    .await
                    .map_err(|e| ConnectorError::io("download: reopening the partial file", &e))?;
                file.sync_all()
                    .await
                    .map_err(|e| ConnectorError::io("download: flushing to disk", &e))?;
                drop(file);
                tokio::fs::rename(&part, dest).await.map_err(|e| {
                    ConnectorError::io(
                        format!("download: moving into place at {}", dest.display()),
                        &e,
                    )
                })?;
                let _ = tokio::fs::remove_file(&validator_path).await;
                let outcome = DownloadOutcome {
                    bytes: total,
                    resumed_from: resumed_from.unwrap_or(0),
                    attempts,
                };
                // Every writer thread was joined before its attempt returned, so this is the
                // last reference; the fallback only guards that invariant.
                let sink = match Arc::try_unwrap(sink) {
                    Ok(sink) => sink.into_inner().unwrap_or_else(|p| p.into_inner()),
                    Err(_) => {
                        return Err(ConnectorError::new(
                            ErrorKind::Server,
                            format!("{what}: a writer outlived its download"),
                        ));
                    }
                };
                return Ok((outcome, sink));
            }
            Err(error) => {
                // The first attempt decides what counts as "resumed from an earlier run".
                resumed_from.get_or_insert(resume_at.map(|(n, _)| n).unwrap_or(0));
                let transient = matches!(
                    error.kind,
                    ErrorKind::Offline | ErrorKind::Server | ErrorKind::RateLimited
                );
                if !transient || attempts >= http.config.max_attempts {
                    return Err(error);
                }
                let delay = error
                    .retry_after
                    .unwrap_or_else(|| backoff(&http.config, attempts));
                if delay > http.config.max_inline_wait {
                    return Err(error);
                }
                tracing::debug!(%what, attempts, ?delay, "download interrupted, resuming");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn lock_sink<S>(sink: &Mutex<S>) -> std::sync::MutexGuard<'_, S> {
    // Poisoned only if a sink panicked mid-update; the download then fails on its own, and the
    // sink's state is restarted before any further use.
    sink.lock().unwrap_or_else(|p| p.into_inner())
}

/// Restarts `sink` and feeds it the first `bytes` of `file` (the part kept from an earlier
/// attempt). Blocking.
fn feed_prefix<S: DownloadSink>(
    file: &mut std::fs::File,
    bytes: u64,
    sink: &Mutex<S>,
) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    let mut sink = lock_sink(sink);
    sink.restart();
    if bytes == 0 {
        return Ok(());
    }
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut buffer = vec![0u8; PREFIX_READ_BLOCK];
    let mut left = bytes;
    while left > 0 {
        let want = usize::try_from(left.min(buffer.len() as u64)).unwrap_or(buffer.len());
        let n = file.read(&mut buffer[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the partial file is shorter than recorded",
            ));
        }
        sink.update(&buffer[..n]);
        left -= n as u64;
    }
    file.seek(std::io::SeekFrom::End(0))?;
    Ok(())
}

/// The writer thread of one attempt: feeds the kept prefix to the sink, then appends every batch
/// of chunks to `file` with one vectored write (no copy into a buffer of our own) while a second
/// thread feeds the same chunks to the sink (a hash runs beside the write, not after it), and
/// asks a third to start write-back every [`WRITE_BACK_EVERY`] bytes. Returns when the channel
/// closes (download done or abandoned), with everything written (not yet fsynced).
fn write_chunks<S: DownloadSink>(
    mut file: std::fs::File,
    prefix: u64,
    sink: Arc<Mutex<S>>,
    mut batches: tokio::sync::mpsc::Receiver<Vec<bytes::Bytes>>,
) -> std::io::Result<()> {
    feed_prefix(&mut file, prefix, &sink)?;
    // Write-back runs on its own thread so that the writer never waits for the disk; signals
    // coalesce (a full channel means a sync is already due).
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let syncer = match file.try_clone() {
        Ok(handle) => Some(std::thread::spawn(move || {
            while woken.recv().is_ok() {
                // Best effort: the final fsync after the download is the one that counts.
                let _ = handle.sync_data();
            }
        })),
        Err(_) => None,
    };
    let (to_sink, for_sink) = std::sync::mpsc::sync_channel::<Vec<bytes::Bytes>>(BATCHES_IN_FLIGHT);
    let feeder = {
        let sink = sink.clone();
        std::thread::spawn(move || {
            let mut sink = lock_sink(&sink);
            while let Ok(batch) = for_sink.recv() {
                for chunk in &batch {
                    sink.update(chunk);
                }
            }
        })
    };
    let mut since_write_back = 0u64;
    let mut result = Ok(());
    while let Some(batch) = batches.blocking_recv() {
        if let Err(e) = write_all_vectored(&mut file, &batch) {
            result = Err(e);
            break;
        }
        since_write_back += batch.iter().map(|c| c.len() as u64).sum::<u64>();
        // Chunks are reference-counted: the sink's thread shares them, nothing is copied.
        if to_sink.send(batch).is_err() {
            result = Err(std::io::Error::other(
                "the download's checksum thread stopped",
            ));
            break;
        }
        if since_write_back >= WRITE_BACK_EVERY {
            since_write_back = 0;
            let _ = wake.try_send(());
        }
    }
    drop(to_sink);
    let fed = feeder.join();
    drop(wake);
    if let Some(syncer) = syncer {
        let _ = syncer.join();
    }
    if fed.is_err() {
        result = result.and(Err(std::io::Error::other(
            "the download's checksum thread failed",
        )));
    }
    result
}

/// Writes every byte of `chunks`, in order, with as few `writev` calls as the OS allows.
fn write_all_vectored(file: &mut std::fs::File, chunks: &[bytes::Bytes]) -> std::io::Result<()> {
    use std::io::{IoSlice, Write};
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "the disk took no bytes",
                ));
            }
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One GET; appends to `part` when resuming. Returns the complete size. The writer thread is
/// always joined before this returns.
#[allow(clippy::too_many_arguments)]
async fn download_attempt<S: DownloadSink>(
    http: &HttpClient,
    url: &str,
    headers: &[(String, String)],
    part: &Path,
    validator_path: &Path,
    resume_at: Option<(u64, String)>,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
    what: &str,
    sink: &Arc<Mutex<S>>,
) -> Result<u64> {
    let mut request = http.client.get(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some((offset, validator)) = &resume_at {
        request = request
            .header(RANGE, format!("bytes={offset}-"))
            .header(IF_RANGE, validator);
    }
    let response = request
        .send()
        .await
        .map_err(|e| classify_transport(what, &e))?;
    let status = response.status();
    let (file, mut written, total) = match status {
        StatusCode::PARTIAL_CONTENT => {
            let (offset, _) = resume_at.clone().unwrap_or((0, String::new()));
            let range = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range);
            match range {
                Some((start, total)) if start == offset => {
                    // Read access too: the kept bytes are fed to the sink first.
                    let file = tokio::fs::OpenOptions::new()
                        .read(true)
                        .append(true)
                        .open(part)
                        .await
                        .map_err(|e| {
                            ConnectorError::io("download: opening the partial file", &e)
                        })?;
                    (file, offset, total)
                }
                _ => {
                    // A range we did not ask for: start over rather than splice wrong bytes.
                    let _ = tokio::fs::remove_file(part).await;
                    let _ = tokio::fs::remove_file(validator_path).await;
                    return Err(ConnectorError::new(
                        ErrorKind::Server,
                        format!(
                            "{what}: the server answered a different byte range; starting over"
                        ),
                    ));
                }
            }
        }
        StatusCode::OK => {
            let validator = response
                .headers()
                .get(ETAG)
                .or_else(|| response.headers().get(LAST_MODIFIED))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let total = response.content_length();
            let file = tokio::fs::File::create(part)
                .await
                .map_err(|e| ConnectorError::io("download: creating the partial file", &e))?;
            tokio::fs::write(validator_path, validator.as_bytes())
                .await
                .map_err(|e| ConnectorError::io("download: saving the validator", &e))?;
            (file, 0, total)
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            // Either we already have every byte, or the file shrank; the header tells which.
            let total = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes */"))
                .and_then(|v| v.trim().parse::<u64>().ok());
            let have = resume_at.map(|(n, _)| n).unwrap_or(0);
            if total == Some(have) {
                // Every byte is already here: the sink sees them from disk.
                let owned = part.to_path_buf();
                let sink = sink.clone();
                let fed = tokio::task::spawn_blocking(move || {
                    let mut file = std::fs::File::open(&owned)?;
                    feed_prefix(&mut file, have, &sink)
                })
                .await;
                return match fed {
                    Ok(Ok(())) => Ok(have),
                    Ok(Err(e)) => Err(ConnectorError::io("download: reading the kept bytes", &e)),
                    Err(e) => Err(ConnectorError::new(
                        ErrorKind::Server,
                        format!("{what}: the reader thread failed: {e}"),
                    )),
                };
            }
            let _ = tokio::fs::remove_file(part).await;
            let _ = tokio::fs::remove_file(validator_path).await;
            return Err(ConnectorError::new(
                ErrorKind::Server,
                format!("{what}: stale partial download; starting over"),
            ));
        }
        _ => return Err(error_from_response(what, response).await),
    };
    let file = file.into_std().await;
    let (batches, received) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(BATCHES_IN_FLIGHT);
    let writer = {
        let sink = sink.clone();
        let prefix = written;
        tokio::task::spawn_blocking(move || write_chunks(file, prefix, sink, received))
    };
    let mut stream = response.bytes_stream();
    let mut received_error = None;
    let mut batch = Vec::new();
    let mut batch_bytes = 0usize;
    loop {
        let next = stream.next().await;
        let done = match next {
            Some(Ok(chunk)) => {
                batch_bytes += chunk.len();
                written += chunk.len() as u64;
                batch.push(chunk);
                progress(written, total);
                false
            }
            Some(Err(e)) => {
                received_error = Some(classify_transport(what, &e));
                true
            }
            None => true,
        };
        // What arrived before a failure is kept too: a resume continues after it.
        if (done || batch_bytes >= HANDOFF_BYTES) && !batch.is_empty() {
            batch_bytes = 0;
            if batches.send(std::mem::take(&mut batch)).await.is_err() {
                // The writer stopped early: its own error says why.
                break;
            }
        }
        if done {
            break;
        }
    }
    drop(batches);
    let wrote = match writer.await {
        Ok(result) => result.map_err(|e| ConnectorError::io("download: writing", &e)),
        Err(e) => Err(ConnectorError::new(
            ErrorKind::Server,
            format!("{what}: the writer thread failed: {e}"),
        )),
    };
    wrote?;
    if let Some(error) = received_error {
        return Err(error);
    }
    if let Some(total) = total
        && written != total
    {
        return Err(ConnectorError::new(
            ErrorKind::Offline,
            format!("{what}: connection closed after {written} of {total} bytes"),
        ));
    }
    Ok(written)
}

/// `bytes START-END/TOTAL` → (START, TOTAL when known).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = total.trim().parse().ok();
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-4", now), None);
    }

    #[test]
    fn statuses_map_to_kinds() {
        let h = HeaderMap::new();
        let kind = |code: u16| {
            classify_status("GET /x", StatusCode::from_u16(code).unwrap(), &h, b"").kind
        };
        assert_eq!(kind(400), ErrorKind::Rejected);
        assert_eq!(kind(401), ErrorKind::Unauthorized);
        assert_eq!(kind(403), ErrorKind::Forbidden);
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(413), ErrorKind::Rejected);
        assert_eq!(kind(422), ErrorKind::Rejected);
        assert_eq!(kind(429), ErrorKind::RateLimited);
        assert_eq!(kind(500), ErrorKind::Server);
        assert_eq!(kind(503), ErrorKind::Server);
    }

    #[test]
    fn rate_limit_carries_the_wait_and_the_platform_message() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        let e = classify_status(
            "POST /a",
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"message":"slow down"}"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        assert!(e.message.contains("slow down"), "{}", e.message);
    }

    #[test]
    fn content_range_is_parsed() {
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = HttpConfig::default();
        let first = backoff(&config, 1);
        assert!(
            first >= Duration::from_millis(187) && first <= Duration::from_millis(313),
            "{first:?}"
        );
        let late = backoff(&config, 30);
        assert!(late <= config.max_backoff.mul_f64(1.25), "{late:?}");
    }

    /// Keeps every byte it is fed (restarts included), to compare with the file.
    #[derive(Default)]
    struct Copy {
        bytes: Vec<u8>,
        restarts: u32,
    }

    impl DownloadSink for Copy {
        fn restart(&mut self) {
            self.bytes.clear();
            self.restarts += 1;
        }
        fn update(&mut self, bytes: &[u8]) {
            self.bytes.extend_from_slice(bytes);
        }
    }

    /// A loopback server for one body: the first GET gets the headers and `cut` bytes, then the
    /// connection drops; later GETs with `Range: bytes=N-` get the rest as 206.
    fn serve_cut(body: Vec<u8>, cut: usize) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut from = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        from = v.trim().trim_end_matches('-').parse::<usize>().ok();
                    }
                }
                let total = body.len();
                let _ = match from {
                    Some(start) => stream.write_all(
                        format!(
                            "HTTP/1.1 206 Partial Content\r\nETag: \"v1\"\r\nContent-Range: bytes {start}-{}/{total}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            total - 1,
                            total - start
                        )
                        .as_bytes(),
                    )
                    .and_then(|()| stream.write_all(&body[start..])),
                    None => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| {
                            stream.write_all(if i == 0 { &body[..cut] } else { &body[..] })
                        }),
                };
            }
        });
        format!("http://127.0.0.1:{port}/movie.mp4")
    }

    #[tokio::test]
    async fn a_resumed_download_feeds_the_sink_exactly_the_finished_file() {
        let body: Vec<u8> = (0..5_000_000u32)
            .map(|i| (i * 7 + i / 1000) as u8)
            .collect();
        let url = serve_cut(body.clone(), 3_000_001);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("movie.mp4");
        let http = HttpClient::new(HttpConfig {
            base_backoff: Duration::from_millis(1),
            ..HttpConfig::default()
        })
        .unwrap();
        // The first answer breaks off mid-body: the bytes so far stay in the partial file.
        let cut =
            download_resumable_into(&http, &url, &[], &dest, &|_, _| {}, Copy::default()).await;
        assert!(cut.is_err(), "a cut body must fail");
        let (outcome, copy) =
            download_resumable_into(&http, &url, &[], &dest, &|_, _| {}, Copy::default())
                .await
                .unwrap();
        let on_disk = std::fs::read(&dest).unwrap();
        assert_eq!(outcome.resumed_from, 3_000_001, "{outcome:?}");
        assert_eq!(on_disk.len(), body.len());
        assert!(on_disk == body, "the file differs from the body");
        // The kept part was read back into the sink before the rest arrived.
        assert_eq!(copy.restarts, 1);
        assert!(copy.bytes == body, "the sink saw other bytes than the file");
    }
}
