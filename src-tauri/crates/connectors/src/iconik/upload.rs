//! Streaming a local file as an HTTP body with progress and the bandwidth limit, for uploads to
//! storage URLs: the file is read in chunks (never whole into memory) and each chunk sent
//! reports the running total. Also the iconik upload chain itself, resumable: see [`resumable`].
//!
//! Progress callbacks and the queue's bandwidth limit are borrowed by the caller, and cannot
//! travel inside a `'static` request body, so the body reports counts on a channel and asks for
//! permission before each chunk on another; [`drive`] answers both while the request runs.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use futures::StreamExt;
use reqwest::Body;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

use crate::throttle::Bandwidth;
use crate::{ConnectorError, ErrorKind};

/// Chunk size for streamed bodies.
const CHUNK: usize = 256 * 1024;

/// A body's side channels: running totals sent, and (when throttled) requests to send `n` more
/// bytes, each answered when the limit allows.
pub struct BodyEvents {
    sent: mpsc::UnboundedReceiver<u64>,
    permits: Option<mpsc::UnboundedReceiver<(u64, oneshot::Sender<()>)>>,
}

/// Opens `path` as a streamed body of exactly `len` bytes from `offset`; sent totals (from 0)
/// arrive on the events. With `throttled`, each chunk waits for [`drive`]'s permission.
pub async fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
    throttled: bool,
) -> Result<(Body, BodyEvents), ConnectorError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error(path, &e))?;
    if offset > 0 {
        use tokio::io::AsyncSeekExt;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| io_error(path, &e))?;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (permit_tx, permit_rx) = if throttled {
        let (t, r) = mpsc::unbounded_channel();
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let stream = futures::stream::unfold(
        (file, 0u64, tx, permit_tx),
        move |(mut file, sent, tx, permit_tx)| async move {
            if sent >= len {
                return None;
            }
            let want = usize::try_from((len - sent).min(CHUNK as u64)).unwrap_or(CHUNK);
            if let Some(permits) = &permit_tx {
                let (ok_tx, ok_rx) = oneshot::channel();
                // Without a driver (the upload was abandoned) there is no one to wait for.
                if permits.send((want as u64, ok_tx)).is_ok() {
                    let _ = ok_rx.await;
                }
            }
            let mut buf = vec![0u8; want];
            match file.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shrank during upload",
                    )),
                    (file, len, tx, permit_tx),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    let total = sent + n as u64;
                    // The receiver is gone only when the upload was abandoned; nothing to tell.
                    let _ = tx.send(total);
                    Some((Ok(buf), (file, total, tx, permit_tx)))
                }
                Err(e) => Some((Err(e), (file, len, tx, permit_tx))),
            }
        },
    );
    Ok((
        Body::wrap_stream(stream.boxed()),
        BodyEvents {
            sent: rx,
            permits: permit_rx,
        },
    ))
}

type Wait<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs `request` while forwarding progress totals (offset by `base`) to `progress` and letting
/// the body's chunks through under `bandwidth`.
pub async fn drive<T>(
    request: impl Future<Output = T>,
    events: BodyEvents,
    base: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
    bandwidth: Option<&Bandwidth>,
) -> T {
    let BodyEvents {
        sent: mut rx,
        mut permits,
    } = events;
    tokio::pin!(request);
    let mut open = true;
    // One permit is waited for at a time: the body asks for the next chunk only after this one.
    let mut waiting: Option<(Wait<'_>, oneshot::Sender<()>)> = None;
    loop {
        tokio::select! {
            out = &mut request => {
                while let Ok(n) = rx.try_recv() {
                    progress(base + n);
                }
                return out;
            }
            n = rx.recv(), if open => match n {
                Some(n) => progress(base + n),
                None => open = false,
            },
            asked = async {
                match permits.as_mut() {
                    Some(p) => p.recv().await,
                    None => std::future::pending().await,
                }
            }, if waiting.is_none() && permits.is_some() => match asked {
                Some((n, ok)) => match bandwidth {
                    Some(b) => waiting = Some((Box::pin(b.take(n)), ok)),
                    None => {
                        let _ = ok.send(());
                    }
                },
                None => permits = None,
            },
            () = async {
                match waiting.as_mut() {
                    Some((wait, _)) => wait.as_mut().await,
                    None => std::future::pending().await,
                }
            }, if waiting.is_some() => {
                if let Some((_, ok)) = waiting.take() {
                    let _ = ok.send(());
                }
            }
        }
    }
}

/// A local file error, naming the file (paths are not secrets).
pub fn io_error(path: &Path, e: &std::io::Error) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Io,
        format!("cannot read {}: {e}", path.display()),
    )
}

/// The iconik upload chain as one resumable transfer: the asset (placed in its collection), the
/// `ORIGINAL` format, its file set and the file record, then the bytes to the storage's upload
/// URL, then the file closed and a transcode asked for.
///
/// A checkpoint is reported after each record iconik created, so an interrupted transfer never
/// makes a second asset. With a GCS storage the bytes go through a resumable session whose URL is
/// checkpointed too: a later attempt asks the session how much it holds (`PUT` with
/// `Content-Range: bytes */<size>` → `308` and `Range`) and sends the rest. A session that died
/// (404/410: expired after a week, or cancelled) is replaced by a new file record on the same
/// asset, the old one deleted. Other storages take one `PUT` of the whole file, sent again whole.
pub mod resumable {
    use reqwest::Method;
    use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::super::model::{Created, FileRecord, IconikAsset, Storage};
    use super::super::transport::{self, Length};
    use super::super::{Call, IconikConnector, bad_response, mime_for};
    use super::{drive, file_body, io_error};
    use crate::http::Retry;
    use crate::{ConnectorError, ErrorKind, Result, UploadContext, UploadRequest};
    use framenote_core::Version;

    /// What iconik has of this transfer so far.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    struct Checkpoint {
        name: String,
        size: u64,
        #[serde(default)]
        asset_id: Option<String>,
        #[serde(default)]
        version_id: Option<String>,
        #[serde(default)]
        storage_id: Option<String>,
        #[serde(default)]
        storage_method: Option<String>,
        #[serde(default)]
        format_id: Option<String>,
        #[serde(default)]
        file_set_id: Option<String>,
        #[serde(default)]
        file_id: Option<String>,
        /// What must not be written to the cache (see [`crate::UploadContext`]).
        #[serde(default)]
        secret: CheckpointSecret,
        /// The storage holds every byte.
        #[serde(default)]
        stored: bool,
    }

    /// The GCS resumable session URL authorises writing this one object for a week to whoever
    /// holds it: a credential, so it travels in the checkpoint's `secret` part, which the queue
    /// keeps in the OS secret store.
    #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
    struct CheckpointSecret {
        #[serde(default)]
        session_url: Option<String>,
    }

    impl Checkpoint {
        fn report(&self, context: &UploadContext<'_>) {
            match serde_json::to_value(self) {
                Ok(v) => (context.checkpoint)(v),
                // Strings, numbers and a bool always serialise.
                Err(e) => tracing::warn!(error = %e, "iconik checkpoint not serialisable"),
            }
        }
    }

    /// What a resumable session says it holds.
    enum Session {
        Complete,
        Holds(u64),
        Dead,
    }

    /// One attempt (see the module documentation).
    pub async fn upload(
        c: &IconikConnector,
        request: &UploadRequest,
        context: &UploadContext<'_>,
    ) -> Result<Version> {
        let size = tokio::fs::metadata(&request.path)
            .await
            .map_err(|e| io_error(&request.path, &e))?
            .len();
        let mut cp = context
            .resume
            .and_then(|v| serde_json::from_value::<Checkpoint>(v.clone()).ok())
            .filter(|cp| cp.name == request.name && cp.size == size)
            .unwrap_or_else(|| Checkpoint {
                name: request.name.clone(),
                size,
                ..Checkpoint::default()
            });
        (context.progress)(0);
        let asset_id = match cp.asset_id.clone() {
            Some(id) => id,
            None => {
                let collection = target_collection(c, request).await?;
                // 1. The asset, placed in the collection.
                let asset: IconikAsset = c
                    .json(
                        &Call::with_body(
                            Method::POST,
                            c.url("assets", "v1/assets/"),
                            json!({"title": request.name, "type": "ASSET", "status": "ACTIVE",
                                   "is_online": true, "collection_id": collection}),
                        )
                        .query("assign_to_collection", "true"),
                    )
                    .await?;
                cp.version_id = asset
                    .default_version_id
                    .clone()
                    .or_else(|| asset.versions.last().map(|v| v.id.clone()));
                cp.asset_id = Some(asset.id.clone());
                cp.report(context);
                asset.id
            }
        };
        let files = |path: &str| c.url("files", &format!("v1/assets/{asset_id}/{path}"));
        // 2. The storage iconik picks for original files.
        let storage_id = match (&cp.storage_id, &cp.storage_method) {
            (Some(id), Some(_)) => id.clone(),
            _ => {
                let storage: Storage = c
                    .json(&Call::get(c.url("files", "v1/storages/matching/FILES/")))
                    .await?;
                cp.storage_method = Some(storage.method.clone().unwrap_or_else(|| "S3".into()));
                cp.storage_id = Some(storage.id.clone());
                storage.id
            }
        };
        let method = cp.storage_method.clone().unwrap_or_else(|| "S3".into());
        // 3. The ORIGINAL format, 4. its file set.
        let format_id = match cp.format_id.clone() {
            Some(id) => id,
            None => {
                let auth = c.current_auth()?;
                let mut body = json!({"name": "ORIGINAL",
                    "metadata": [{"internet_media_type": mime_for(&request.name)}],
                    "storage_methods": [method], "user_id": auth.user_id});
                if let Some(v) = &cp.version_id {
                    body["version_id"] = json!(v);
                }
                let format: Created = c
                    .json(&Call::with_body(Method::POST, files("formats/"), body))
                    .await?;
                cp.format_id = Some(format.id.clone());
                cp.report(context);
                format.id
            }
        };
        let file_set_id = match cp.file_set_id.clone() {
            Some(id) => id,
            None => {
                let mut body = json!({"storage_id": storage_id, "base_dir": "/",
                    "name": request.name, "component_ids": [], "format_id": format_id});
                if let Some(v) = &cp.version_id {
                    body["version_id"] = json!(v);
                }
                let set: Created = c
                    .json(&Call::with_body(Method::POST, files("file_sets/"), body))
                    .await?;
                cp.file_set_id = Some(set.id.clone());
                cp.report(context);
                set.id
            }
        };
        // 5. The file record and 6. its bytes; a dead session once gets a new record.
        for _ in 0..2 {
            if cp.stored {
                break;
            }
            if cp.secret.session_url.is_none() {
                if let Some(old) = cp.file_id.take() {
                    // A record whose bytes never started (or went to a non-resumable storage)
                    // is replaced, so the asset keeps one file.
                    delete_file(c, &asset_id, &old).await;
                }
                let file: FileRecord = c
                    .json(&Call::with_body(
                        Method::POST,
                        files("files/"),
                        json!({"original_name": request.name, "directory_path": "", "type": "FILE",
                               "size": size, "format_id": format_id, "file_set_id": file_set_id,
                               "storage_id": storage_id}),
                    ))
                    .await?;
                cp.file_id = Some(file.id.clone());
                let file_method = file.storage_method.clone().unwrap_or(method.clone());
                if file_method == "GCS" {
                    cp.secret.session_url = Some(start_session(c, &file).await?);
                    cp.report(context);
                } else {
                    cp.report(context);
                    put_whole(c, &file, &file_method, request, size, context).await?;
                    cp.stored = true;
                    cp.report(context);
                    break;
                }
            }
            let url = cp.secret.session_url.clone().unwrap_or_default();
            match send_to_session(c, &url, request, size, context).await? {
                true => {
                    cp.stored = true;
                    cp.report(context);
                }
                false => {
                    tracing::info!("iconik storage session is gone; starting a new file record");
                    cp.secret.session_url = None;
                }
            }
        }
        if !cp.stored {
            return Err(ConnectorError::new(
                ErrorKind::Server,
                "iconik's storage dropped two upload sessions in a row; try again",
            ));
        }
        let file_id = cp.file_id.clone().unwrap_or_default();
        // 7. Close the file so iconik uses it (a PATCH: safe again); 8. ask for the proxy.
        c.call(&Call::with_body(
            Method::PATCH,
            files(&format!("files/{file_id}/")),
            json!({"status": "CLOSED", "progress_processed": 100}),
        ))
        .await?;
        let mut transcode = Call::with_body(
            Method::POST,
            files(&format!("files/{file_id}/keyframes/")),
            json!({}),
        );
        transcode.retry = Retry::Idempotent; // asking twice for a transcode is harmless
        c.call(&transcode).await?;
        (context.progress)(size);
        // Until iconik has transcoded, the version's frame facts are the fallback ones; the next
        // sync reads the proxy's.
        let fresh = c.asset(&asset_id).await?;
        fresh
            .versions
            .into_iter()
            .find(|v| {
                cp.version_id
                    .as_deref()
                    .is_none_or(|id| v.id.as_str() == id)
            })
            .ok_or_else(|| bad_response("uploaded asset", "no version"))
    }

    /// Gives up a transfer: its file record goes (the asset stays; it is the user's).
    pub async fn abandon(c: &IconikConnector, checkpoint: &Value) -> Result<()> {
        let Ok(cp) = serde_json::from_value::<Checkpoint>(checkpoint.clone()) else {
            return Ok(());
        };
        if let (Some(asset), Some(file), false) = (&cp.asset_id, &cp.file_id, cp.stored) {
            delete_file(c, asset, file).await;
        }
        Ok(())
    }

    /// The collection the upload goes to: the destination's, then each of `request.subfolder`
    /// found by title among its child collections or created there.
    async fn target_collection(c: &IconikConnector, request: &UploadRequest) -> Result<String> {
        let mut collection = c.collection_of(&request.destination).await?;
        for name in &request.subfolder {
            let children = c.contents(&collection, "collections").await?;
            let found = children.iter().find_map(|child| {
                let title = child.get("title").and_then(Value::as_str)?;
                let id = child.get("id").and_then(Value::as_str)?;
                (title == name).then(|| id.to_owned())
            });
            collection = match found {
                Some(id) => id,
                None => {
                    let made: Created = c
                        .json(&Call::with_body(
                            Method::POST,
                            c.url("assets", "v1/collections/"),
                            json!({"title": name, "parent_id": collection}),
                        ))
                        .await?;
                    made.id
                }
            };
        }
        Ok(collection)
    }

    async fn delete_file(c: &IconikConnector, asset: &str, file: &str) {
        let call = Call {
            method: Method::DELETE,
            url: c.url("files", &format!("v1/assets/{asset}/files/{file}/")),
            query: Vec::new(),
            body: None,
            retry: Retry::Idempotent,
        };
        match c.call(&call).await {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            // Best effort: an OPEN file without bytes is harmless to iconik.
            Err(e) => tracing::warn!(error = %e, "iconik file record could not be deleted"),
        }
    }

    fn upload_url(file: &FileRecord) -> Result<&str> {
        file.upload_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Server,
                    "iconik's storage gave no upload URL; try again",
                )
            })
    }

    /// Opens a GCS resumable session: `POST` with `x-goog-resumable: start`; its URL comes back
    /// in `Location`. No iconik headers go to storage hosts.
    async fn start_session(c: &IconikConnector, file: &FileRecord) -> Result<String> {
        let target = upload_url(file)?;
        let resp = transport::send(
            &c.gate,
            &c.http,
            Retry::Idempotent,
            Length::Call,
            &|_| {},
            |client| {
                client
                    .post(target)
                    .header("x-goog-resumable", "start")
                    .header(CONTENT_LENGTH, 0)
            },
        )
        .await?;
        resp.headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| bad_response("upload session", "no Location header"))
    }

    /// Asks a session what it holds.
    async fn query(c: &IconikConnector, url: &str, size: u64) -> Result<Session> {
        let what = format!("PUT {}", transport::redact_url(url));
        c.gate.wait().await;
        let sent = c
            .http
            .client()
            .put(url)
            .header(CONTENT_LENGTH, 0)
            .header("Content-Range", format!("bytes */{size}"))
            .send()
            .await;
        let resp = sent.map_err(|e| crate::http::classify_transport(&what, &e))?;
        match resp.status().as_u16() {
            200 | 201 => Ok(Session::Complete),
            308 => Ok(Session::Holds(held_by(&resp))),
            404 | 410 => Ok(Session::Dead),
            _ => Err(crate::http::error_from_response(&what, resp).await),
        }
    }

    /// The bytes a `308` says are persisted (`Range: bytes=0-N` → N + 1; none without `Range`).
    fn held_by(resp: &reqwest::Response) -> u64 {
        resp.headers()
            .get("Range")
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.trim().strip_prefix("bytes=0-"))
            .and_then(|end| end.parse::<u64>().ok())
            .map_or(0, |end| end + 1)
    }

    /// Sends what the session lacks until it holds the whole file; `Ok(false)` when the session
    /// is dead. Transient failures re-ask the session and go on from what it kept.
    async fn send_to_session(
        c: &IconikConnector,
        url: &str,
        request: &UploadRequest,
        size: u64,
        context: &UploadContext<'_>,
    ) -> Result<bool> {
        let attempts = c.config.http.max_attempts.max(1);
        let mut failures = 0;
        loop {
            let offset = match query(c, url, size).await {
                Ok(Session::Complete) => return Ok(true),
                Ok(Session::Dead) => return Ok(false),
                Ok(Session::Holds(n)) => n.min(size),
                Err(e) if e.kind.is_transient() && failures + 1 < attempts => {
                    failures += 1;
                    tokio::time::sleep(c.config.http.base_backoff * failures).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            (context.progress)(offset);
            let len = size - offset;
            let range = if size == 0 {
                "bytes */0".to_owned()
            } else {
                format!("bytes {offset}-{}/{size}", size - 1)
            };
            let (body, events) =
                file_body(&request.path, offset, len, context.bandwidth.is_some()).await?;
            let rb = c
                .http
                .client()
                .put(url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, len)
                .header("Content-Range", range)
                .body(body);
            c.gate.wait().await;
            let what = format!("PUT {}", transport::redact_url(url));
            let outcome = match drive(
                rb.send(),
                events,
                offset,
                context.progress,
                context.bandwidth,
            )
            .await
            {
                Ok(resp) if resp.status().is_success() => return Ok(true),
                // Kept part of it: ask again and go on.
                Ok(resp) if resp.status().as_u16() == 308 => continue,
                Ok(resp) if matches!(resp.status().as_u16(), 404 | 410) => return Ok(false),
                Ok(resp) => crate::http::error_from_response(&what, resp).await,
                Err(e) => crate::http::classify_transport(&what, &e),
            };
            failures += 1;
            if !outcome.kind.is_transient() || failures >= attempts {
                return Err(outcome);
            }
            tracing::debug!(failures, kind = ?outcome.kind, "storage upload failed; resuming");
            tokio::time::sleep(
                outcome
                    .retry_after
                    .unwrap_or(c.config.http.base_backoff * failures),
            )
            .await;
        }
    }

    /// One `PUT` of the whole file, for storages without resumable sessions.
    async fn put_whole(
        c: &IconikConnector,
        file: &FileRecord,
        method: &str,
        request: &UploadRequest,
        size: u64,
        context: &UploadContext<'_>,
    ) -> Result<()> {
        let url = upload_url(file)?.to_owned();
        let extra = match method {
            "AZURE" => Some(("x-ms-blob-type", "BlockBlob")),
            "S3" | "B2" | "FILE" => None,
            other => {
                return Err(ConnectorError::unsupported(format!(
                    "uploads to {other} storage are not supported by Framenote"
                )));
            }
        };
        // The body is a stream that can be read once, so each attempt opens the file anew.
        let attempts = c.config.http.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (body, events) =
                file_body(&request.path, 0, size, context.bandwidth.is_some()).await?;
            let mut rb = c
                .http
                .client()
                .put(&url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, size)
                .body(body);
            if let Some((k, v)) = extra {
                rb = rb.header(k, v);
            }
            c.gate.wait().await;
            let what = format!("PUT {}", transport::redact_url(&url));
            let outcome =
                match drive(rb.send(), events, 0, context.progress, context.bandwidth).await {
                    Ok(resp) if resp.status().is_success() => return Ok(()),
                    Ok(resp) => crate::http::error_from_response(&what, resp).await,
                    Err(e) => crate::http::classify_transport(&what, &e),
                };
            if !outcome.kind.is_transient()
                || outcome.kind == ErrorKind::Unauthorized
                || attempt >= attempts
            {
                return Err(outcome);
            }
            tracing::debug!(attempt, kind = ?outcome.kind, "storage upload failed; sending again");
            tokio::time::sleep(
                outcome
                    .retry_after
                    .unwrap_or(c.config.http.base_backoff * attempt),
            )
            .await;
        }
    }
}
