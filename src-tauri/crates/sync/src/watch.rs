//! Watch folders: local folders whose new files are queued as uploads once they are complete.
//!
//! Renders write for minutes and copies arrive in pieces, so a file is a *candidate* from the
//! moment it is seen (an OS notification through `notify`, the scan at start, or a periodic
//! rescan that catches what notifications miss on network shares) and is queued only after its
//! size and modification time have stayed the same for the settle time. Hidden files, partial
//! downloads and render temporaries are never sent; the final name they are renamed to is.
//!
//! What was queued is remembered in the cache by relative path, size, modification time and a
//! content fingerprint, so a file is sent once across restarts, a file written again is sent
//! again, and a file renamed or moved within the folder is recognised and not sent twice. Files
//! that arrived while the app was closed are found by the scan at start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framenote_cache::{WatchFileRecord, WatchFolderRecord};
use notify::Watcher;
use sha2::Digest;
use tokio::sync::{Notify, mpsc};

use crate::events::SyncEvent;
use crate::upload::modified_ms;
use crate::{Result, SyncEngine};

/// Timing of watch folders.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// How long a file must stay unchanged before it is sent.
    pub settle: Duration,
    /// How often every folder is rescanned (notifications can be missed on network shares).
    pub rescan: Duration,
    /// How often candidates are checked.
    pub poll: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(5),
            rescan: Duration::from_secs(60),
            poll: Duration::from_millis(500),
        }
    }
}

/// The lock file that makes one process at a time watch a data folder's watch folders.
const WATCH_LOCK: &str = "watch.lock";

/// Bytes hashed at each end of a file for its fingerprint: enough to tell renders apart, cheap on
/// multi-gigabyte files.
const FINGERPRINT_SPAN: u64 = 1 << 20;

impl SyncEngine {
    /// Adds a watch folder sending new files to `node`. The folder must exist and the destination
    /// must take uploads; a running [`WatchService`] picks it up on [`WatchService::reload`].
    pub async fn add_watch_folder(
        &self,
        path: &Path,
        account: &framenote_core::AccountId,
        node: &framenote_core::RemoteId,
        detect_versions: bool,
        comment: Option<&str>,
    ) -> Result<WatchFolderRecord> {
        if !path.is_absolute() {
            return Err(crate::SyncError::Invalid(format!(
                "{} is not an absolute path",
                path.display()
            )));
        }
        if !path.is_dir() {
            return Err(crate::SyncError::Invalid(format!(
                "{} does not exist or is not a folder",
                path.display()
            )));
        }
        let plan = self
            .plan_upload(&[], account, node, detect_versions)
            .await?;
        if let Some(why) = plan.rejected {
            return Err(crate::SyncError::Invalid(why));
        }
        let path = path
            .canonicalize()
            .map_err(|e| crate::SyncError::io(format!("reading {}", path.display()), e))?;
        Ok(self
            .cache
            .add_watch_folder(&framenote_cache::NewWatchFolder {
                path: path.display().to_string(),
                account: account.clone(),
                node: node.clone(),
                destination_label: plan.destination_label,
                detect_versions,
                comment: comment
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            })
            .await?)
    }
}

/// The running watch folders. Dropping it stops watching.
pub struct WatchService {
    reload: Arc<Notify>,
    problems: Arc<Mutex<HashMap<i64, String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchService").finish_non_exhaustive()
    }
}

impl Drop for WatchService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WatchService {
    /// Starts watching every enabled watch folder of the engine's data folder.
    pub fn start(engine: Arc<SyncEngine>, options: WatchOptions) -> Self {
        let reload = Arc::new(Notify::new());
        let problems = Arc::new(Mutex::new(HashMap::new()));
        let task = tokio::spawn(run(engine, options, reload.clone(), problems.clone()));
        Self {
            reload,
            problems,
            task,
        }
    }

    /// Re-reads the watch folders (after one was added, removed, enabled or disabled).
    pub fn reload(&self) {
        self.reload.notify_one();
    }

    /// Why a folder cannot be watched right now (it was removed, it is not readable).
    pub fn problem(&self, folder: i64) -> Option<String> {
        lock(&self.problems).get(&folder).cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain maps; a panic elsewhere cannot leave them half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Candidate {
    folder: i64,
    size: u64,
    modified_ms: i64,
    unchanged_since: Instant,
}

async fn run(
    engine: Arc<SyncEngine>,
    options: WatchOptions,
    reload: Arc<Notify>,
    problems: Arc<Mutex<HashMap<i64, String>>>,
) {
    // One process watches a data folder's folders at a time (the app, or `framenote watch run`):
    // two watchers would both queue each new file. Whoever comes second waits its turn.
    let _lock = loop {
        match engine.lock_data_folder(WATCH_LOCK, crate::SyncError::QueueBusy) {
            Ok(lock) => break lock,
            Err(e) => {
                tracing::info!(error = %e, "watch folders are watched by another process; waiting");
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    };
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut candidates: HashMap<PathBuf, Candidate> = HashMap::new();
    loop {
        let folders: Vec<WatchFolderRecord> = match engine.cache.list_watch_folders().await {
            Ok(folders) => folders.into_iter().filter(|f| f.enabled).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the watch folders");
                Vec::new()
            }
        };
        // The OS watchers live until the folders are re-read.
        let mut watchers = Vec::new();
        lock(&problems).clear();
        for folder in &folders {
            let tx = seen_tx.clone();
            let watched =
                notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                    if let Ok(event) = event {
                        for path in event.paths {
                            let _ = tx.send(path);
                        }
                    }
                })
                .and_then(|mut watcher| {
                    watcher.watch(Path::new(&folder.path), notify::RecursiveMode::Recursive)?;
                    Ok(watcher)
                });
            match watched {
                Ok(watcher) => watchers.push(watcher),
                Err(e) => {
                    let problem = if Path::new(&folder.path).is_dir() {
                        format!("cannot watch {}: {e}", folder.path)
                    } else {
                        format!("{} does not exist or is not a folder", folder.path)
                    };
                    lock(&problems).insert(folder.id, problem);
                }
            }
            engine.emit(SyncEvent::WatchFolder { id: folder.id });
        }
        candidates.retain(|_, c| folders.iter().any(|f| f.id == c.folder));
        scan(&engine, &folders, &mut candidates).await;
        let mut poll = tokio::time::interval(options.poll);
        let mut rescan = tokio::time::interval(options.rescan);
        rescan.reset();
        loop {
            tokio::select! {
                _ = reload.notified() => break,
                Some(path) = seen_rx.recv() => {
                    notice(&folders, path, &mut candidates);
                }
                _ = rescan.tick() => scan(&engine, &folders, &mut candidates).await,
                _ = poll.tick() => settle(&engine, &folders, options, &mut candidates).await,
            }
        }
        drop(watchers);
    }
}

/// The folder a path is in, with its path relative to it.
fn folder_of<'a>(
    folders: &'a [WatchFolderRecord],
    path: &Path,
) -> Option<(&'a WatchFolderRecord, String)> {
    folders.iter().find_map(|f| {
        let rel = path.strip_prefix(&f.path).ok()?;
        let rel = rel.to_string_lossy().into_owned();
        (!rel.is_empty()).then_some((f, rel))
    })
}

/// Whether any part of the relative path is hidden or temporary (a file in `.cache/` is too).
fn is_ignored(rel: &str) -> bool {
    rel.split(['/', '\\'])
        .any(framenote_core::is_transient_name)
}

/// A notification: the path (a file, or a folder moved in) becomes a candidate.
fn notice(
    folders: &[WatchFolderRecord],
    path: PathBuf,
    candidates: &mut HashMap<PathBuf, Candidate>,
) {
    let Some((folder, rel)) = folder_of(folders, &path) else {
        return;
    };
    if is_ignored(&rel) {
        return;
    }
    let Ok(meta) = std::fs::metadata(&path) else {
        // Gone (a rename away, a delete): nothing to send.
        candidates.remove(&path);
        return;
    };
    if meta.is_dir() {
        let mut files = Vec::new();
        walk(&path, &mut files);
        for (file, meta) in files {
            consider(candidates, folder.id, file, &meta);
        }
    } else {
        consider(candidates, folder.id, path, &meta);
    }
}

fn consider(
    candidates: &mut HashMap<PathBuf, Candidate>,
    folder: i64,
    path: PathBuf,
    meta: &std::fs::Metadata,
) {
    let size = meta.len();
    let modified = modified_ms(meta);
    let entry = candidates.entry(path).or_insert(Candidate {
        folder,
        size,
        modified_ms: modified,
        unchanged_since: Instant::now(),
    });
    if entry.size != size || entry.modified_ms != modified {
        entry.size = size;
        entry.modified_ms = modified;
        entry.unchanged_since = Instant::now();
    }
}

fn walk(dir: &Path, files: &mut Vec<(PathBuf, std::fs::Metadata)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if framenote_core::is_transient_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, files),
            Ok(meta) => files.push((path, meta)),
            Err(_) => {}
        }
    }
}

/// Every file not yet handled as it is now becomes a candidate (the start, and the rescans).
async fn scan(
    engine: &SyncEngine,
    folders: &[WatchFolderRecord],
    candidates: &mut HashMap<PathBuf, Candidate>,
) {
    for folder in folders {
        let root = PathBuf::from(&folder.path);
        let files = tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            walk(&root, &mut files);
            files
        })
        .await
        .unwrap_or_default();
        for (path, meta) in files {
            let Some((_, rel)) = folder_of(std::slice::from_ref(folder), &path) else {
                continue;
            };
            match engine.cache.watch_file(folder.id, &rel).await {
                Ok(Some(known))
                    if known.size == meta.len() && known.modified_ms == modified_ms(&meta) => {}
                _ => consider(candidates, folder.id, path, &meta),
            }
        }
    }
}

/// Queues the candidates that have stopped changing.
async fn settle(
    engine: &SyncEngine,
    folders: &[WatchFolderRecord],
    options: WatchOptions,
    candidates: &mut HashMap<PathBuf, Candidate>,
) {
    let now = Instant::now();
    let mut ready = Vec::new();
    let paths: Vec<PathBuf> = candidates.keys().cloned().collect();
    for path in paths {
        let Ok(meta) = std::fs::metadata(&path) else {
            candidates.remove(&path);
            continue;
        };
        let Some(candidate) = candidates.get_mut(&path) else {
            continue;
        };
        let (size, modified) = (meta.len(), modified_ms(&meta));
        if candidate.size != size || candidate.modified_ms != modified {
            candidate.size = size;
            candidate.modified_ms = modified;
            candidate.unchanged_since = now;
        } else if now.duration_since(candidate.unchanged_since) >= options.settle {
            ready.push(path);
        }
    }
    for path in ready {
        let Some(candidate) = candidates.remove(&path) else {
            continue;
        };
        let Some(folder) = folders.iter().find(|f| f.id == candidate.folder) else {
            continue;
        };
        if let Err(e) = handle(engine, folder, &path).await {
            tracing::warn!(path = %path.display(), error = %e, "watch folder could not queue a file");
            // Try again at the next rescan.
        }
    }
}

/// A complete file: queue it unless it was sent already (under this name or another).
async fn handle(engine: &SyncEngine, folder: &WatchFolderRecord, path: &Path) -> Result<()> {
    let Some((_, rel)) = folder_of(std::slice::from_ref(folder), path) else {
        return Ok(());
    };
    let meta = std::fs::metadata(path)
        .map_err(|e| crate::SyncError::io(format!("reading {}", path.display()), e))?;
    let (size, modified) = (meta.len(), modified_ms(&meta));
    let known = engine.cache.watch_file(folder.id, &rel).await?;
    if let Some(known) = &known
        && known.size == size
        && known.modified_ms == modified
    {
        return Ok(());
    }
    let owned = path.to_path_buf();
    let fingerprint = tokio::task::spawn_blocking(move || fingerprint(&owned))
        .await
        .map_err(|e| crate::SyncError::Invalid(format!("fingerprint: {e}")))?
        .map_err(|e| crate::SyncError::io(format!("reading {}", path.display()), e))?;
    let remember = |transfer| WatchFileRecord {
        rel_path: rel.clone(),
        size,
        modified_ms: modified,
        fingerprint: fingerprint.clone(),
        transfer,
    };
    // The same content under this name (touched) or another (renamed or moved): already sent.
    let same = match &known {
        Some(k) if k.fingerprint == fingerprint => Some(k.clone()),
        _ => {
            engine
                .cache
                .watch_file_by_fingerprint(folder.id, &fingerprint)
                .await?
        }
    };
    if let Some(same) = same {
        tracing::info!(file = %rel, was = %same.rel_path, "already sent; not sending it again");
        engine
            .cache
            .record_watch_file(folder.id, &remember(same.transfer))
            .await?;
        return Ok(());
    }
    let plan = engine
        .plan_upload(
            &[path.to_path_buf()],
            &folder.account,
            &folder.node,
            folder.detect_versions,
        )
        .await?;
    let transfer = if plan.accepted().next().is_some() {
        let queued = engine
            .queue_upload(&plan, folder.comment.as_deref(), Some(folder.id))
            .await?;
        queued.first().map(|t| t.id)
    } else {
        let why = plan
            .rejected
            .clone()
            .or_else(|| plan.files.first().and_then(|f| f.rejected.clone()))
            .unwrap_or_default();
        tracing::info!(file = %rel, why = %why, "watch folder skips a file the destination does not take");
        None
    };
    engine
        .cache
        .record_watch_file(folder.id, &remember(transfer))
        .await?;
    engine.emit(SyncEvent::WatchFolder { id: folder.id });
    Ok(())
}

/// Size plus SHA-256 of the first and last megabyte.
fn fingerprint(path: &Path) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; FINGERPRINT_SPAN as usize];
    let head = file.by_ref().take(FINGERPRINT_SPAN).read(&mut buffer)?;
    hasher.update(&buffer[..head]);
    if size > FINGERPRINT_SPAN {
        file.seek(SeekFrom::Start(
            size.saturating_sub(FINGERPRINT_SPAN).max(FINGERPRINT_SPAN),
        ))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        hasher.update(&tail);
    }
    let digest = hasher.finalize();
    Ok(format!(
        "{size}:{}",
        digest
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_paths_include_hidden_folders() {
        assert!(is_ignored(".cache/sh010.mov"));
        assert!(is_ignored("renders/sh010.mov.part"));
        assert!(!is_ignored("renders/sh010_comp_v003.mov"));
    }

    #[test]
    fn fingerprints_tell_content_apart_and_survive_renames() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.mov");
        let b = dir.path().join("b.mov");
        std::fs::write(&a, vec![1u8; 3 << 20]).unwrap();
        let mut other = vec![1u8; 3 << 20];
        other[(3 << 20) - 1] = 2;
        std::fs::write(&b, other).unwrap();
        let fa = fingerprint(&a).unwrap();
        assert_ne!(fa, fingerprint(&b).unwrap(), "a change in the tail shows");
        let c = dir.path().join("c.mov");
        std::fs::rename(&a, &c).unwrap();
        assert_eq!(fa, fingerprint(&c).unwrap());
    }
}
