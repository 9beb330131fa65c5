//! Flow Capture uploads, in the order the help centre gives: `/upload/asset/init` →
//! `/upload/asset/part` (one presigned URL per part, "valid for 5 minutes from issue") → an HTTP
//! PUT of the part to that URL, whose `ETag` is kept → `/upload/asset/complete` with the ETags in
//! part order → `/complete/upload` to tell the platform the batch is done.
//!
//! The multipart upload is the resumable unit: after `init` and after every part the storage
//! acknowledged, a checkpoint holds the key, the upload id, the ETags so far and the batch the
//! file goes to, so a later attempt presigns and sends only the missing parts. A transient
//! failure (network, 5xx, timeout) therefore leaves the multipart upload in place for that later
//! attempt; only a permanent rejection, or the user cancelling ([`abandon`]), aborts it
//! (`/upload/asset/abort`) so no orphan parts are billed. A one-shot [`upload`] (no queue to keep
//! its checkpoint) aborts on any failure, as nothing could resume it.
//!
//! Parts are presigned one at a time, just before they are sent, so a slow link never meets an
//! expired URL; a part refused with 403 (an expired or clock-skewed URL) is presigned again once.
//!
//! Integrity: every part is presigned with its `content_md5` (the only checksum Flow Capture
//! documents) and PUT with the same `Content-MD5` header, so the storage refuses a part whose
//! bytes were damaged on the way (S3 answers 400 `BadDigest`). Such a part is sent again from
//! memory, up to [`DIGEST_RESENDS`] times, before the attempt fails as a transient error.

use base64::Engine;
use md5::{Digest, Md5};
use reqwest::header::{CONTENT_LENGTH, ETAG};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::MoxionConnector;
use super::map::{self, MxAsset, MxBatch, MxFile, NodeRef};
use crate::error::{ConnectorError, ErrorKind};
use crate::http::{self, classify_transport, error_from_response};
use crate::{Result, UploadContext, UploadRequest};
use framenote_core::Version;

/// Where an upload goes: an existing batch, or a new batch in a folder (created by
/// `/upload/asset/complete` from its name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Target {
    Batch { project: String, batch: String },
    NewBatch { project: String, name: String },
}

impl Target {
    fn project(&self) -> &str {
        match self {
            Target::Batch { project, .. } | Target::NewBatch { project, .. } => project,
        }
    }
}

/// What an interrupted upload needs to go on: the multipart upload, the ETags of the parts the
/// storage acknowledged (part `n` is `etags[n - 1]`), how the file was cut, and where it goes.
/// Once `/upload/asset/complete` answered, `asset_id` says so and only the last steps remain.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    key: String,
    upload_id: String,
    name: String,
    size: u64,
    part_size: u64,
    etags: Vec<String>,
    target: Target,
    #[serde(default)]
    asset_id: Option<String>,
}

impl Checkpoint {
    fn report(&self, context: &UploadContext<'_>) {
        match serde_json::to_value(self) {
            Ok(value) => (context.checkpoint)(value),
            // Plain strings and numbers always serialise; nothing to report if they did not.
            Err(e) => tracing::warn!(error = %e, "Flow Capture checkpoint not serialisable"),
        }
    }
}

/// The batch named `name` in `project`, when there is one (a dropped folder's second file goes
/// into the batch its first file made).
async fn batch_named(mx: &MoxionConnector, project: &str, name: &str) -> Result<Option<String>> {
    let batches: Vec<MxBatch> = mx
        .get(
            "/get/batches",
            json!({ "project_id": map::id_value(project), "sort_by": "NEWEST" }),
        )
        .await?;
    Ok(batches
        .into_iter()
        .filter(|b| b.status.as_deref() != Some("DELETED"))
        .find(|b| b.name.as_deref() == Some(name))
        .and_then(|b| b.id))
}

async fn target_of(mx: &MoxionConnector, request: &UploadRequest) -> Result<Target> {
    let (project, batch) = match NodeRef::parse(&request.destination)? {
        NodeRef::Batch(batch) => {
            let b: MxBatch = mx
                .get("/get/batch", json!({ "id": map::id_value(&batch) }))
                .await?;
            let project = b.project_id.ok_or_else(|| {
                ConnectorError::bad_response("Flow Capture batch without a project")
            })?;
            (project, Some(batch))
        }
        NodeRef::Project(project) => (project, None),
        _ => {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "Flow Capture uploads go into a folder or a batch.",
            ));
        }
    };
    // Batches do not nest: a dropped folder becomes one batch named after its path.
    if !request.subfolder.is_empty() {
        let name = request.subfolder.join(" / ");
        return Ok(match batch_named(mx, &project, &name).await? {
            Some(batch) => Target::Batch { project, batch },
            None => Target::NewBatch { project, name },
        });
    }
    Ok(match batch {
        Some(batch) => Target::Batch { project, batch },
        None => Target::NewBatch {
            project,
            name: format!("Framenote {}", chrono::Utc::now().format("%Y-%m-%d %H:%M")),
        },
    })
}

/// Uploads `request.path` in one go and returns the version of the asset it became; any failure
/// aborts the multipart upload (nothing keeps a checkpoint to resume it).
pub async fn upload(
    mx: &MoxionConnector,
    request: &UploadRequest,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Version> {
    let last = std::sync::Mutex::new(None::<Value>);
    let keep = |value: Value| {
        // A poisoned lock only means another thread panicked mid-assignment of an Option.
        *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
    };
    let context = UploadContext {
        resume: None,
        checkpoint: &keep,
        progress,
        bandwidth: None,
    };
    let result = upload_resumable(mx, request, &context).await;
    // A permanent failure has aborted it already; a transient one left it for a resume that
    // will not come.
    if result.as_ref().is_err_and(|e| e.kind.is_transient()) {
        let held = last.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(checkpoint) = held
            && let Err(abort) = abandon(mx, &checkpoint).await
        {
            tracing::warn!(error = %abort, "Flow Capture upload could not be aborted");
        }
    }
    result
}

/// One attempt of a resumable upload (see the module documentation).
pub async fn upload_resumable(
    mx: &MoxionConnector,
    request: &UploadRequest,
    context: &UploadContext<'_>,
) -> Result<Version> {
    let size = tokio::fs::metadata(&request.path)
        .await
        .map_err(|e| ConnectorError::io(format!("reading {}", request.path.display()), &e))?
        .len();
    // A checkpoint of this same file (name and size) is continued; any other is of no use.
    let resume = context
        .resume
        .and_then(|v| serde_json::from_value::<Checkpoint>(v.clone()).ok())
        .filter(|c| c.name == request.name && c.size == size && c.part_size > 0);
    (context.progress)(0);
    let state = match resume {
        Some(state) => state,
        None => start(mx, request, size).await?,
    };
    state.report(context);
    match send_parts_and_complete(mx, request, state.clone(), context).await {
        Ok(version) => Ok(version),
        // The storage forgot the multipart upload (expired, or aborted elsewhere): a new one.
        Err(e) if e.kind == ErrorKind::NotFound && state.asset_id.is_none() => {
            tracing::info!("Flow Capture multipart upload is gone; starting it again");
            let fresh = start(mx, request, size).await?;
            fresh.report(context);
            finish_or_abort(mx, request, fresh, context).await
        }
        Err(e) => Err(abort_if_permanent(mx, &state, e).await),
    }
}

async fn finish_or_abort(
    mx: &MoxionConnector,
    request: &UploadRequest,
    state: Checkpoint,
    context: &UploadContext<'_>,
) -> Result<Version> {
    match send_parts_and_complete(mx, request, state.clone(), context).await {
        Ok(version) => Ok(version),
        Err(e) => Err(abort_if_permanent(mx, &state, e).await),
    }
}

/// Aborts the multipart upload when `error` means no later attempt can succeed; a transient
/// error keeps it for the next attempt. Returns the error that stopped the upload.
async fn abort_if_permanent(
    mx: &MoxionConnector,
    state: &Checkpoint,
    error: ConnectorError,
) -> ConnectorError {
    if !error.kind.is_transient()
        && state.asset_id.is_none()
        && let Err(abort) = abort(mx, &state.key, &state.upload_id).await
    {
        tracing::warn!(error = %abort, "Flow Capture upload could not be aborted");
    }
    error
}

async fn abort(mx: &MoxionConnector, key: &str, upload_id: &str) -> Result<()> {
    mx.call(
        "/upload/asset/abort",
        json!({ "key": key, "upload_id": upload_id }),
    )
    .await
    .map(|_| ())
}

/// Releases the multipart upload a checkpoint holds (the user cancelled the transfer).
pub async fn abandon(mx: &MoxionConnector, checkpoint: &Value) -> Result<()> {
    let Ok(state) = serde_json::from_value::<Checkpoint>(checkpoint.clone()) else {
        return Ok(());
    };
    if state.asset_id.is_some() {
        // Completed: the asset exists and is the user's to delete, not a transfer's to release.
        return Ok(());
    }
    match abort(mx, &state.key, &state.upload_id).await {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

async fn start(mx: &MoxionConnector, request: &UploadRequest, size: u64) -> Result<Checkpoint> {
    let target = target_of(mx, request).await?;
    let init = mx
        .call(
            "/upload/asset/init",
            json!({ "filename": request.name, "project_id": map::id_value(target.project()) }),
        )
        .await?;
    let (Some(key), Some(upload_id)) = (
        init.get("key").and_then(Value::as_str).map(str::to_owned),
        init.get("upload_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
    ) else {
        return Err(ConnectorError::bad_response(
            "Flow Capture /upload/asset/init: no key or upload_id",
        ));
    };
    Ok(Checkpoint {
        key,
        upload_id,
        name: request.name.clone(),
        size,
        part_size: mx.config.upload_part_size.max(1) as u64,
        etags: Vec::new(),
        target,
        asset_id: None,
    })
}

async fn send_parts_and_complete(
    mx: &MoxionConnector,
    request: &UploadRequest,
    mut state: Checkpoint,
    context: &UploadContext<'_>,
) -> Result<Version> {
    let size = state.size;
    let part_size = state.part_size;
    // An empty file is still one (empty) part.
    let parts = size.div_ceil(part_size).max(1);
    if state.asset_id.is_none() {
        let mut file = tokio::fs::File::open(&request.path)
            .await
            .map_err(|e| ConnectorError::io(format!("opening {}", request.path.display()), &e))?;
        let kept = state.etags.len() as u64;
        (context.progress)((kept * part_size).min(size));
        for part_number in kept + 1..=parts {
            let offset = (part_number - 1) * part_size;
            let len = part_size.min(size - offset);
            let mut buffer = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| {
                    ConnectorError::io(format!("reading {}", request.path.display()), &e)
                })?;
            file.read_exact(&mut buffer).await.map_err(|e| {
                ConnectorError::io(format!("reading {}", request.path.display()), &e)
            })?;
            if let Some(bandwidth) = context.bandwidth {
                bandwidth.take(len).await;
            }
            let number = u32::try_from(part_number).map_err(|_| {
                ConnectorError::new(ErrorKind::Rejected, "too many parts for Flow Capture")
            })?;
            let etag = send_part(mx, &state.key, &state.upload_id, number, buffer).await?;
            state.etags.push(etag);
            state.report(context);
            (context.progress)(offset + len);
        }
        let mut complete = json!({
            "key": state.key,
            "upload_id": state.upload_id,
            "filename": request.name,
            "etags": state.etags,
            "project_id": map::id_value(state.target.project()),
        });
        match &state.target {
            Target::Batch { batch, .. } => complete["batch_id"] = map::id_value(batch),
            Target::NewBatch { name, .. } => complete["batch_name"] = json!(name),
        }
        let done = mx.call("/upload/asset/complete", complete).await?;
        let asset_id = done.get("asset_id").and_then(map::id_text).ok_or_else(|| {
            ConnectorError::bad_response("Flow Capture /upload/asset/complete: no asset_id")
        })?;
        state.asset_id = Some(asset_id);
        state.report(context);
    }
    let asset_id = state.asset_id.clone().unwrap_or_default();
    let asset: MxAsset = mx
        .get("/get/asset", json!({ "id": map::id_value(&asset_id) }))
        .await?;
    let mut finish = json!({
        "project_id": map::id_value(state.target.project()),
        "keys": [state.key],
        "file_names": request.name,
    });
    match (&asset.batch_id, &state.target) {
        (Some(batch), _) => finish["batch_id"] = map::id_value(batch),
        (None, Target::Batch { batch, .. }) => finish["batch_id"] = map::id_value(batch),
        (None, Target::NewBatch { name, .. }) => finish["batch_name"] = json!(name),
    }
    mx.call("/complete/upload", finish).await?;
    (context.progress)(size);
    let files: Vec<MxFile> = mx
        .get(
            "/get/asset/files",
            json!({ "id": map::id_value(&asset_id) }),
        )
        .await?;
    map::pick_file(&files)
        .and_then(|f| map::version_of(&asset, f))
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Server,
                "Uploaded; Flow Capture is still processing the file, it will appear when ready.",
            )
        })
}

/// How many times one part is sent again after the storage found it damaged in transit (S3
/// `BadDigest`); a link that damages it every time is not one a later attempt should wait on
/// forever inside this one.
pub const DIGEST_RESENDS: u32 = 3;

/// The part's MD5, base64-encoded, as `content_md5` and the `Content-MD5` header take it.
fn content_md5(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

async fn presign(
    mx: &MoxionConnector,
    key: &str,
    upload_id: &str,
    part_number: u32,
    content_md5: &str,
) -> Result<String> {
    let answer = mx
        .call(
            "/upload/asset/part",
            json!({ "key": key, "upload_id": upload_id, "part_number": part_number,
                    "content_md5": content_md5 }),
        )
        .await?;
    answer
        .get("presigned_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ConnectorError::bad_response("Flow Capture /upload/asset/part: no presigned_url")
        })
}

/// Why one PUT of a part did not store it.
enum PutFailure {
    /// The storage computed another MD5 than the `Content-MD5` sent: the bytes were damaged on
    /// the way and the part can simply be sent again.
    BadDigest,
    /// Anything else, classified as for every other call.
    Other(ConnectorError),
}

/// One PUT of a part to its presigned URL; the part's `ETag` when the storage kept it.
///
/// Sent with the client directly rather than through the shared retry loop, because that loop
/// reduces a 400 to "rejected" and drops the body, and S3's XML body is what tells a damaged
/// part (`BadDigest`, worth sending again) from a request that is wrong for good.
async fn put_part(
    mx: &MoxionConnector,
    url: &str,
    bytes: &[u8],
    content_md5: &str,
) -> std::result::Result<String, PutFailure> {
    let what = "PUT upload part";
    let response = mx
        .http
        .client()
        .put(url)
        .header(CONTENT_LENGTH, bytes.len())
        .header("Content-MD5", content_md5)
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| PutFailure::Other(classify_transport(what, &e)))?;
    let status = response.status();
    if status.is_success() {
        return response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                PutFailure::Other(ConnectorError::bad_response(
                    "upload part answered without an ETag",
                ))
            });
    }
    if status == reqwest::StatusCode::BAD_REQUEST {
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| PutFailure::Other(classify_transport(what, &e)))?;
        if s3_error_code(&body) == Some("BadDigest") {
            return Err(PutFailure::BadDigest);
        }
        return Err(PutFailure::Other(http::classify_status(
            what, status, &headers, &body,
        )));
    }
    Err(PutFailure::Other(error_from_response(what, response).await))
}

/// The `<Code>` of an S3 XML error body (`<Error><Code>BadDigest</Code>…</Error>`).
fn s3_error_code(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].trim())
}

/// Sends one part and returns its `ETag`. Re-sending a part replaces it (S3 UploadPart), so
/// every kind of resend here is safe: after a transient failure (network, 5xx, 429) within the
/// HTTP retry budget, after a 403 (the URL expired: presigned once more), and after `BadDigest`
/// (damaged in transit: up to [`DIGEST_RESENDS`] times).
async fn send_part(
    mx: &MoxionConnector,
    key: &str,
    upload_id: &str,
    part_number: u32,
    bytes: Vec<u8>,
) -> Result<String> {
    let md5 = content_md5(&bytes);
    let mut url = presign(mx, key, upload_id, part_number, &md5).await?;
    let config = mx.http.config().clone();
    let mut presigned_again = false;
    let mut digest_resends = 0u32;
    let mut transient_attempts = 1u32;
    loop {
        let error = match put_part(mx, &url, &bytes, &md5).await {
            Ok(etag) => return Ok(etag),
            Err(PutFailure::BadDigest) if digest_resends < DIGEST_RESENDS => {
                digest_resends += 1;
                tracing::warn!(
                    part_number,
                    digest_resends,
                    "Flow Capture storage found the part damaged in transit; sending it again"
                );
                continue;
            }
            Err(PutFailure::BadDigest) => {
                return Err(ConnectorError::new(
                    ErrorKind::Offline,
                    format!(
                        "part {part_number} arrived damaged at Flow Capture's storage {} times \
                         (BadDigest: its MD5 did not match); the link is corrupting data",
                        DIGEST_RESENDS + 1
                    ),
                ));
            }
            Err(PutFailure::Other(e)) => e,
        };
        match error.kind {
            ErrorKind::Forbidden if !presigned_again => {
                tracing::debug!(part_number, "presigned URL refused; asking for a new one");
                presigned_again = true;
                url = presign(mx, key, upload_id, part_number, &md5).await?;
            }
            ErrorKind::Forbidden => {
                return Err(ConnectorError::new(
                    ErrorKind::Forbidden,
                    format!("Flow Capture refused part {part_number} twice ({error})"),
                ));
            }
            kind if kind.is_transient()
                && kind != ErrorKind::Unauthorized
                && transient_attempts < config.max_attempts =>
            {
                let delay = match error.retry_after {
                    Some(wait) if wait > config.max_inline_wait => return Err(error),
                    Some(wait) => wait,
                    None => config
                        .base_backoff
                        .saturating_mul(1u32 << (transient_attempts - 1).min(16))
                        .min(config.max_backoff),
                };
                transient_attempts += 1;
                tracing::debug!(part_number, ?delay, kind = ?error.kind, "part PUT failed; retrying");
                tokio::time::sleep(delay).await;
            }
            _ => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_is_the_base64_of_the_raw_digest() {
        // RFC 1864: base64 of the 16-byte digest, not of its hex text.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"hello"), "XUFAKrxLKna5cZ2REBfFkg==");
    }

    #[test]
    fn the_s3_error_code_is_read_from_its_xml_body() {
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BadDigest</Code>\
<Message>The Content-MD5 you specified did not match what we received.</Message></Error>";
        assert_eq!(s3_error_code(body), Some("BadDigest"));
        assert_eq!(
            s3_error_code(b"<Error><Code>InvalidDigest</Code></Error>"),
            Some("InvalidDigest")
        );
        assert_eq!(s3_error_code(b"{\"error\": 1}"), None);
        assert_eq!(s3_error_code(b"<Code>unterminated"), None);
        assert_eq!(s3_error_code(&[0xff, 0xfe]), None);
    }
}
