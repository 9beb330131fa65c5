//! Flow Capture uploads, in the order the help centre gives: `/upload/asset/init` →
//! `/upload/asset/part` (one presigned URL per part, "valid for 5 minutes from issue") → an HTTP
//! PUT of the part to that URL, whose `ETag` is kept → `/upload/asset/complete` with the ETags in
//! part order → `/complete/upload` to tell the platform the batch is done. Any failure after
//! `init` aborts the multipart upload (`/upload/asset/abort`) so no orphan parts are billed.
//!
//! Parts are presigned one at a time, just before they are sent, so a slow link never meets an
//! expired URL; a part refused with 403 (an expired or clock-skewed URL) is presigned again once.

use reqwest::header::{CONTENT_LENGTH, ETAG};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::MoxionConnector;
use super::map::{self, MxAsset, MxBatch, MxFile, NodeRef};
use crate::error::{ConnectorError, ErrorKind};
use crate::http::Retry;
use crate::{Result, UploadRequest};
use framenote_core::{RemoteId, Version};

/// Where an upload goes: an existing batch, or a new batch in a folder.
enum Target {
    Batch { project: String, batch: String },
    NewBatch { project: String, name: String },
}

async fn target_of(mx: &MoxionConnector, destination: &RemoteId) -> Result<Target> {
    match NodeRef::parse(destination)? {
        NodeRef::Batch(batch) => {
            let b: MxBatch = mx
                .get("/get/batch", json!({ "id": map::id_value(&batch) }))
                .await?;
            let project = b.project_id.ok_or_else(|| {
                ConnectorError::bad_response("Flow Capture batch without a project")
            })?;
            Ok(Target::Batch { project, batch })
        }
        NodeRef::Project(project) => Ok(Target::NewBatch {
            project,
            name: format!("Framenote {}", chrono::Utc::now().format("%Y-%m-%d %H:%M")),
        }),
        _ => Err(ConnectorError::new(
            ErrorKind::Rejected,
            "Flow Capture uploads go into a folder or a batch.",
        )),
    }
}

/// Uploads `request.path` and returns the version of the asset it became.
pub async fn upload(
    mx: &MoxionConnector,
    request: &UploadRequest,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Version> {
    let target = target_of(mx, &request.destination).await?;
    let project = match &target {
        Target::Batch { project, .. } | Target::NewBatch { project, .. } => project.clone(),
    };
    let filename = request.name.clone();
    let init = mx
        .call(
            "/upload/asset/init",
            json!({ "filename": filename, "project_id": map::id_value(&project) }),
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
    match send_parts_and_complete(mx, request, &target, &project, &key, &upload_id, progress).await
    {
        Ok(version) => Ok(version),
        Err(error) => {
            // Best effort: the error that matters is the one that stopped the upload.
            if let Err(abort) = mx
                .call(
                    "/upload/asset/abort",
                    json!({ "key": key, "upload_id": upload_id }),
                )
                .await
            {
                tracing::warn!(error = %abort, "Flow Capture upload could not be aborted");
            }
            Err(error)
        }
    }
}

async fn send_parts_and_complete(
    mx: &MoxionConnector,
    request: &UploadRequest,
    target: &Target,
    project: &str,
    key: &str,
    upload_id: &str,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Version> {
    let mut file = tokio::fs::File::open(&request.path)
        .await
        .map_err(|e| ConnectorError::io(format!("opening {}", request.path.display()), &e))?;
    let part_size = mx.config.upload_part_size.max(1);
    let mut etags: Vec<String> = Vec::new();
    let mut sent = 0u64;
    let mut part_number = 1u32;
    loop {
        let mut buffer = Vec::with_capacity(part_size);
        let read = (&mut file)
            .take(part_size as u64)
            .read_to_end(&mut buffer)
            .await
            .map_err(|e| ConnectorError::io(format!("reading {}", request.path.display()), &e))?;
        // An empty file is still one (empty) part; otherwise stop at the end.
        if read == 0 && part_number > 1 {
            break;
        }
        let etag = send_part(mx, key, upload_id, part_number, buffer).await?;
        etags.push(etag);
        sent += read as u64;
        progress(sent);
        part_number += 1;
        if read < part_size {
            break;
        }
    }
    let mut complete = json!({
        "key": key,
        "upload_id": upload_id,
        "filename": request.name,
        "etags": etags,
        "project_id": map::id_value(project),
    });
    match target {
        Target::Batch { batch, .. } => complete["batch_id"] = map::id_value(batch),
        Target::NewBatch { name, .. } => complete["batch_name"] = json!(name),
    }
    let done = mx.call("/upload/asset/complete", complete).await?;
    let asset_id = done.get("asset_id").and_then(map::id_text).ok_or_else(|| {
        ConnectorError::bad_response("Flow Capture /upload/asset/complete: no asset_id")
    })?;
    let asset: MxAsset = mx
        .get("/get/asset", json!({ "id": map::id_value(&asset_id) }))
        .await?;
    let mut finish = json!({
        "project_id": map::id_value(project),
        "keys": [key],
        "file_names": request.name,
    });
    match (&asset.batch_id, target) {
        (Some(batch), _) => finish["batch_id"] = map::id_value(batch),
        (None, Target::Batch { batch, .. }) => finish["batch_id"] = map::id_value(batch),
        (None, Target::NewBatch { name, .. }) => finish["batch_name"] = json!(name),
    }
    mx.call("/complete/upload", finish).await?;
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

async fn presign(
    mx: &MoxionConnector,
    key: &str,
    upload_id: &str,
    part_number: u32,
) -> Result<String> {
    let answer = mx
        .call(
            "/upload/asset/part",
            json!({ "key": key, "upload_id": upload_id, "part_number": part_number }),
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

async fn send_part(
    mx: &MoxionConnector,
    key: &str,
    upload_id: &str,
    part_number: u32,
    bytes: Vec<u8>,
) -> Result<String> {
    let mut url = presign(mx, key, upload_id, part_number).await?;
    for attempt in 0..2 {
        let length = bytes.len();
        // Re-sending a part replaces it (S3 UploadPart), so the PUT is idempotent.
        let sent = mx
            .http
            .send_streaming(Retry::Idempotent, |client| {
                client
                    .put(&url)
                    .header(CONTENT_LENGTH, length)
                    .body(bytes.clone())
            })
            .await;
        match sent {
            Ok(response) => {
                let etag = response
                    .headers()
                    .get(ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ConnectorError::bad_response("upload part answered without an ETag")
                    })?;
                return Ok(etag);
            }
            Err(e) if e.kind == ErrorKind::Forbidden && attempt == 0 => {
                tracing::debug!(part_number, "presigned URL refused; asking for a new one");
                url = presign(mx, key, upload_id, part_number).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(ConnectorError::new(
        ErrorKind::Forbidden,
        format!("Flow Capture refused part {part_number} twice"),
    ))
}
