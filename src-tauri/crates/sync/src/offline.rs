//! Offline copies: turning pins into files under `media/<account>/`, and files no longer pinned
//! (or forbidden by the platform) back into free space.
//!
//! Downloads run a few at a time through the connectors' resumable helper (`Range` + `If-Range`,
//! the partial file kept beside the destination), so an interruption or a restart resumes instead
//! of starting over. A finished file is checked against the size the platform announced and its
//! SHA-256 is recorded for later integrity checks. A disk budget caps the total: downloads that
//! would exceed it are not started and say so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use framenote_cache::{MediaState, WantedMedia};
use framenote_connectors::http::{DownloadSink, HttpClient, HttpConfig, download_resumable_into};
use framenote_connectors::{Connector, MediaSource};
use framenote_core::AccountId;
use futures::StreamExt;
use serde::Serialize;
use sha2::Digest;
use tokio_util::sync::CancellationToken;

use crate::engine::{SyncEngine, safe_file_name};
use crate::events::SyncEvent;
use crate::{Result, SyncError};

/// What an offline pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OfflineReport {
    /// Files downloaded (or completed after a resume).
    pub downloaded: u64,
    /// Of which resumed from a partial file.
    pub resumed: u64,
    /// Bytes transferred in this pass.
    pub bytes: u64,
    /// Files already complete.
    pub already_complete: u64,
    /// Files evicted.
    pub evicted: u64,
    /// Downloads that failed (kept for the next pass).
    pub failed: u64,
    /// Downloads not started because of the disk budget.
    pub over_budget: u64,
    /// Pinned assets the platform does not allow offline.
    pub forbidden: u64,
}

impl SyncEngine {
    /// Brings offline copies in line with the pins: evicts, then downloads.
    pub async fn sync_offline(
        &self,
        account: &AccountId,
        cancel: &CancellationToken,
    ) -> Result<OfflineReport> {
        let plan = self.cache.refresh_media_plan(account).await?;
        let mut report = OfflineReport {
            already_complete: plan.complete.len() as u64,
            forbidden: plan.forbidden.len() as u64,
            ..OfflineReport::default()
        };
        for file in &plan.to_evict {
            if let Some(path) = &file.local_path {
                remove_with_partials(Path::new(path), &self.media_dir(account))?;
            }
            self.cache.media_evicted(account, &file.version).await?;
            report.evicted += 1;
        }
        if plan.to_download.is_empty() {
            return Ok(report);
        }
        let connector = self.connector(account).await?;
        let http = Arc::new(
            HttpClient::new(HttpConfig::default())
                .map_err(|e| SyncError::connector(connector.platform(), e))?,
        );
        // The budget covers every account's copies; what is already on disk counts.
        let mut budget_left = match self.config.disk_budget {
            Some(limit) => Some((limit, self.cache.offline_bytes(None).await?)),
            None => None,
        };
        let mut runnable = Vec::new();
        for wanted in plan.to_download {
            if let Some((budget, used)) = &mut budget_left {
                let need = wanted
                    .version
                    .media
                    .bytes
                    .or(wanted.file.bytes_expected)
                    .unwrap_or(0)
                    .saturating_sub(wanted.file.bytes_downloaded);
                if *used + need > *budget {
                    let message = format!(
                        "not downloaded: the offline budget of {} MB would be exceeded",
                        *budget / 1_000_000
                    );
                    self.cache
                        .media_failed(account, &wanted.version.id, &message, true)
                        .await?;
                    report.over_budget += 1;
                    continue;
                }
                *used += need;
            }
            runnable.push(wanted);
        }
        let concurrency = self.config.download_concurrency.max(1);
        let mut downloads = futures::stream::iter(runnable)
            .map(|wanted| {
                let connector = connector.clone();
                let http = http.clone();
                async move {
                    self.download_one(account, connector, &http, wanted, cancel)
                        .await
                }
            })
            .buffer_unordered(concurrency);
        while let Some(outcome) = downloads.next().await {
            match outcome {
                Ok((bytes, resumed)) => {
                    report.downloaded += 1;
                    report.bytes += bytes;
                    report.resumed += u64::from(resumed);
                }
                Err(SyncError::Cancelled) => return Err(SyncError::Cancelled),
                Err(SyncError::LoginRequired { account, message }) => {
                    return Err(SyncError::LoginRequired { account, message });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "offline download failed; will retry on the next sync");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Downloads one version's proxy. Returns (bytes transferred now, whether it resumed).
    async fn download_one(
        &self,
        account: &AccountId,
        connector: Arc<dyn Connector>,
        http: &HttpClient,
        wanted: WantedMedia,
        cancel: &CancellationToken,
    ) -> Result<(u64, bool)> {
        let version = &wanted.version;
        let source = match connector.media_source(version).await {
            Ok(source) => source,
            Err(e) => {
                let error = self.classify(account, connector.platform(), e);
                self.cache
                    .media_failed(account, &version.id, &error.to_string(), true)
                    .await?;
                return Err(error);
            }
        };
        let dir = self.media_dir(account);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| SyncError::io(format!("creating {}", dir.display()), e))?;
        match source {
            MediaSource::File(path) => {
                // The local library: the file already is on this machine; record and verify it.
                let (bytes, checksum) = hash_file(&path).await?;
                let path_text = path.display().to_string();
                self.cache
                    .media_download_started(account, &version.id, &path_text, Some(bytes), bytes)
                    .await?;
                self.cache
                    .media_complete(account, &version.id, bytes, &checksum)
                    .await?;
                self.emit_download(account, version, bytes, Some(bytes), MediaState::Complete);
                Ok((0, false))
            }
            MediaSource::Http {
                url,
                headers,
                bytes,
            } => {
                let ext = extension_of(&url);
                let dest = dir.join(format!("{}.{ext}", safe_file_name(&version.id.0)));
                let partial = partial_len(&dest).await;
                let expected = bytes.or(version.media.bytes).or(wanted.file.bytes_expected);
                self.cache
                    .media_download_started(
                        account,
                        &version.id,
                        &dest.display().to_string(),
                        expected,
                        partial,
                    )
                    .await?;
                self.emit_download(account, version, partial, expected, MediaState::Downloading);
                let latest = Arc::new(AtomicU64::new(partial));
                let progress = {
                    let latest = latest.clone();
                    let events = self.events_sender();
                    let account = account.clone();
                    let version_id = version.id.clone();
                    move |so_far: u64, total: Option<u64>| {
                        // Throttled to one event per MiB so the UI is not flooded.
                        let before = latest.swap(so_far, Ordering::Relaxed);
                        if so_far / (1 << 20) != before / (1 << 20) {
                            let _ = events.send(SyncEvent::Download {
                                account: account.clone(),
                                version: version_id.clone(),
                                bytes: so_far,
                                total,
                                state: MediaState::Downloading,
                            });
                        }
                    }
                };
                let result = tokio::select! {
                    () = cancel.cancelled() => {
                        self.cache.media_progress(account, &version.id, partial_len(&dest).await).await?;
                        return Err(SyncError::Cancelled);
                    }
                    result = download_resumable_into(
                        http, &url, &headers, &dest, &progress, Sha256Sink::default(),
                    ) => result,
                };
                let (outcome, hashed) = match result {
                    Ok(done) => done,
                    Err(e) => {
                        let keep = e.kind.is_transient();
                        let error = self.classify(account, connector.platform(), e);
                        self.cache
                            .media_failed(account, &version.id, &error.to_string(), keep)
                            .await?;
                        self.emit_download(
                            account,
                            version,
                            partial_len(&dest).await,
                            expected,
                            MediaState::Failed,
                        );
                        return Err(error);
                    }
                };
                // Hashed while it was written: the file is not read again.
                let (size, checksum) = hashed.finish();
                if let Some(expected) = expected
                    && expected != size
                {
                    let message = format!("size mismatch: expected {expected} bytes, got {size}");
                    let _ = tokio::fs::remove_file(&dest).await;
                    self.cache
                        .media_failed(account, &version.id, &message, false)
                        .await?;
                    self.emit_download(account, version, 0, Some(expected), MediaState::Failed);
                    return Err(SyncError::Invalid(message));
                }
                self.cache
                    .media_complete(account, &version.id, size, &checksum)
                    .await?;
                self.emit_download(account, version, size, Some(size), MediaState::Complete);
                Ok((
                    size - outcome.resumed_from.min(size),
                    outcome.resumed_from > 0,
                ))
            }
        }
    }

    fn emit_download(
        &self,
        account: &AccountId,
        version: &framenote_core::Version,
        bytes: u64,
        total: Option<u64>,
        state: MediaState,
    ) {
        self.emit(SyncEvent::Download {
            account: account.clone(),
            version: version.id.clone(),
            bytes,
            total,
            state,
        });
    }
}

/// The file extension of a URL's path, or `mp4`.
fn extension_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or(path);
    match last.rsplit_once('.') {
        Some((_, ext))
            if !ext.is_empty()
                && ext.len() <= 5
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            ext.to_ascii_lowercase()
        }
        _ => "mp4".to_string(),
    }
}

/// Bytes already in the partial file of `dest` (the helper keeps it at `dest.part`).
async fn partial_len(dest: &Path) -> u64 {
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    tokio::fs::metadata(PathBuf::from(part))
        .await
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Size and SHA-256 (hex) of a file, read on a blocking thread in large blocks (one hop to the
/// blocking pool for the whole file instead of one per chunk keeps this near the hash's speed).
async fn hash_file(path: &Path) -> Result<(u64, String)> {
    let owned = path.to_path_buf();
    let work = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, String)> {
        use std::io::Read;
        let mut file = std::fs::File::open(&owned)?;
        let mut sink = Sha256Sink::default();
        let mut buffer = vec![0u8; 4 << 20];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            sink.update(&buffer[..n]);
        }
        Ok(sink.finish())
    });
    match work.await {
        Ok(result) => result.map_err(|e| SyncError::io(format!("reading {}", path.display()), e)),
        Err(e) => Err(SyncError::io(
            format!("hashing {}", path.display()),
            std::io::Error::other(e.to_string()),
        )),
    }
}

/// Size and SHA-256 of a download, computed as its bytes are written.
#[derive(Default)]
struct Sha256Sink {
    hasher: sha2::Sha256,
    bytes: u64,
}

impl DownloadSink for Sha256Sink {
    fn restart(&mut self) {
        *self = Self::default();
    }
    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
    }
}

impl Sha256Sink {
    /// Size and SHA-256 (hex).
    fn finish(self) -> (u64, String) {
        let digest = self.hasher.finalize();
        (
            self.bytes,
            digest.iter().map(|b| format!("{b:02x}")).collect(),
        )
    }
}

/// Deletes an offline copy and its partial side files. Only files inside the account's media
/// folder are ever deleted: a local-library record points at the user's own media.
fn remove_with_partials(path: &Path, media_dir: &Path) -> Result<()> {
    if !path.starts_with(media_dir) {
        return Ok(());
    }
    for suffix in ["", ".part", ".part.validator"] {
        let mut candidate = path.as_os_str().to_owned();
        candidate.push(suffix);
        match std::fs::remove_file(PathBuf::from(&candidate)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SyncError::io(format!("deleting {}", path.display()), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::extension_of;

    #[test]
    fn extensions_come_from_the_url_path_only() {
        assert_eq!(
            extension_of("http://h/movies/originals/preview-files/abc.mp4"),
            "mp4"
        );
        assert_eq!(extension_of("http://h/a/b.MOV?sig=x.y"), "mov");
        assert_eq!(extension_of("http://h/a/download"), "mp4");
        assert_eq!(extension_of("http://h.example.com/a/file?x=1"), "mp4");
    }
}
