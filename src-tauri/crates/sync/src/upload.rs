//! Uploads: what a drop would send and where ([`SyncEngine::plan_upload`]), and the transfer queue
//! that sends it ([`TransferQueue`]).
//!
//! The queue lives in the cache: a transfer row exists before a byte is sent, each connector
//! checkpoint (an upload session, a multipart id and its acknowledged parts) is stored as the
//! platform acknowledges it, and an attempt that stops for any reason — a network loss, a pause,
//! a quit, a crash — leaves the row queued or paused with its checkpoint, so the next attempt
//! resumes where the platform allows it and restarts cleanly where it does not.
//!
//! One process runs a data folder's queue at a time (an OS file lock, like the outbox). Pause and
//! cancel are state changes in the cache that the running attempt notices within a tick, so they
//! work from any process (the app, or `framenote transfers pause` beside it). Transient failures
//! retry with backoff for as long as it takes; refusals (a type the platform does not take, a
//! destination that is gone) stop with their message and wait for the user.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framenote_cache::{NewTransfer, TransferRecord, TransferState};
use framenote_connectors::throttle::Bandwidth;
use framenote_connectors::{Connector, ConnectorError, ErrorKind, UploadContext, UploadRequest};
use framenote_core::{AccountId, NodeKind, Platform, RemoteId};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::events::SyncEvent;
use crate::pull::PullOptions;
use crate::{Result, SyncEngine, SyncError};

/// The settings key of [`UploadSettings`].
const SETTINGS_KEY: &str = "uploads";
/// The lock file that makes one process at a time run a data folder's upload queue.
const LOCK_FILE: &str = "uploads.lock";
/// Most files one plan lists (a drop of a whole disk is a mistake, not a plan).
const MAX_PLANNED_FILES: usize = 5_000;
/// How often a running upload reports progress and checks whether it was paused or cancelled.
const TICK: Duration = Duration::from_millis(250);
/// The window over which speed is measured.
const SPEED_WINDOW: Duration = Duration::from_secs(5);

/// Upload settings, kept in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSettings {
    /// Uploads at once (1..=8).
    pub concurrency: u32,
    /// Bytes per second for all uploads together; `None` = unlimited.
    pub bandwidth_limit: Option<u64>,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            concurrency: 2,
            bandwidth_limit: None,
        }
    }
}

impl UploadSettings {
    fn clamped(self) -> Self {
        Self {
            concurrency: self.concurrency.clamp(1, 8),
            bandwidth_limit: self.bandwidth_limit.filter(|l| *l > 0),
        }
    }
}

/// One file a plan looked at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedFile {
    /// The local file.
    pub path: PathBuf,
    /// Its name on the platform.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Folders to create under the destination (a dropped folder's structure).
    pub subfolder: Vec<String>,
    /// The version read from the name.
    pub version_hint: Option<u32>,
    /// Why it cannot be sent; `None` when it can.
    pub rejected: Option<String>,
    /// Modification time (unix ms).
    pub modified_ms: i64,
}

/// What a drop would send, and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadPlan {
    /// Destination account.
    pub account: AccountId,
    /// Destination node.
    pub node: RemoteId,
    /// A person's label of the destination.
    pub destination_label: String,
    /// The platform takes a comment with each file (Kitsu posts the file as a new revision on a
    /// comment of the task).
    pub takes_comment: bool,
    /// Why nothing at all can be sent there.
    pub rejected: Option<String>,
    /// Every file looked at.
    pub files: Vec<PlannedFile>,
}

impl UploadPlan {
    /// The files that will be sent.
    pub fn accepted(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files
            .iter()
            .filter(|f| f.rejected.is_none() && self.rejected.is_none())
    }
}

/// A transfer as the UI shows it: the stored record plus live speed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferUpdate {
    /// The record.
    pub record: TransferRecord,
    /// Bytes per second over the last seconds, while running.
    pub speed: Option<f64>,
    /// Seconds left at that speed.
    pub eta_seconds: Option<f64>,
}

impl SyncEngine {
    /// Looks at `paths` (folders are walked) and says what would be sent to `node`, refusing
    /// before anything is sent what the destination cannot take.
    pub async fn plan_upload(
        &self,
        paths: &[PathBuf],
        account: &AccountId,
        node: &RemoteId,
        detect_versions: bool,
    ) -> Result<UploadPlan> {
        let paths = paths.to_vec();
        let files = tokio::task::spawn_blocking(move || walk_dropped(&paths))
            .await
            .map_err(|e| SyncError::Invalid(format!("reading the dropped files failed: {e}")))?;
        self.checked_plan(account, node, files, detect_versions)
            .await
    }

    /// Checks again, just before queueing, files a plan listed (each with the folders it goes
    /// in): the UI's copy of a plan is never trusted, and files may have changed since.
    pub async fn plan_files(
        &self,
        files: &[(PathBuf, Vec<String>)],
        account: &AccountId,
        node: &RemoteId,
        detect_versions: bool,
    ) -> Result<UploadPlan> {
        let files = files
            .iter()
            .map(|(path, subfolder)| {
                let name = display_name(path);
                match std::fs::metadata(path) {
                    Ok(meta) if meta.is_file() => planned(path, name, &meta, subfolder.clone()),
                    Ok(_) => unreadable(path, name, "not a file".to_string()),
                    Err(e) => unreadable(path, name, format!("cannot be read: {e}")),
                }
            })
            .collect();
        self.checked_plan(account, node, files, detect_versions)
            .await
    }

    async fn checked_plan(
        &self,
        account: &AccountId,
        node: &RemoteId,
        mut files: Vec<PlannedFile>,
        detect_versions: bool,
    ) -> Result<UploadPlan> {
        let record = self.cache.account(account).await?;
        let node_record = self.cache.node(account, node).await?;
        let destination_label = self.destination_label(account, node).await?;
        let connector = self.planning_connector(account).await?;
        let capabilities = connector.capabilities();
        let rejected = if !capabilities.upload {
            Some(format!(
                "{} takes no uploads from Framenote.",
                record.platform.display_name()
            ))
        } else if record.platform == Platform::Kitsu && node_record.node.kind != NodeKind::Task {
            // Kitsu attaches a file to a task, as a new revision on a comment of that task.
            Some("Kitsu takes uploads on a task: drop onto a task, not a project.".to_string())
        } else {
            None
        };
        for file in &mut files {
            if file.rejected.is_some() {
                continue;
            }
            if detect_versions {
                file.version_hint = framenote_core::version_from_name(&file.name);
            }
            file.rejected = if framenote_core::is_transient_name(&file.name) {
                Some("a temporary or hidden file".to_string())
            } else if let Err(why) = connector.upload_accepts(&file.name) {
                Some(why)
            } else if !file.subfolder.is_empty() && !capabilities.upload_folders {
                Some(format!(
                    "{} keeps no folders: drop the files themselves",
                    record.platform.display_name()
                ))
            } else if file.size == 0 {
                Some("an empty file".to_string())
            } else {
                None
            };
        }
        Ok(UploadPlan {
            account: account.clone(),
            node: node.clone(),
            destination_label,
            takes_comment: record.platform == Platform::Kitsu,
            rejected,
            files,
        })
    }

    /// "Account › Project › Task" for a node.
    pub async fn destination_label(&self, account: &AccountId, node: &RemoteId) -> Result<String> {
        let record = self.cache.account(account).await?;
        let mut names = Vec::new();
        let mut next = Some(node.clone());
        // Bounded: a cycle in a platform's tree must not hang the app.
        while let Some(id) = next.take() {
            if names.len() >= 32 {
                break;
            }
            let node = self.cache.node(account, &id).await?;
            names.push(node.node.name);
            next = node.node.parent;
        }
        names.push(record.label);
        names.reverse();
        Ok(names.join(" › "))
    }

    /// Queues a plan's accepted files; returns the new transfers.
    pub async fn queue_upload(
        &self,
        plan: &UploadPlan,
        comment: Option<&str>,
        watch_folder: Option<i64>,
    ) -> Result<Vec<TransferRecord>> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        let mut queued = Vec::new();
        for file in plan.accepted() {
            let record = self
                .cache
                .insert_transfer(&NewTransfer {
                    account: plan.account.clone(),
                    node: plan.node.clone(),
                    destination_label: plan.destination_label.clone(),
                    path: file.path.display().to_string(),
                    name: file.name.clone(),
                    subfolder: file.subfolder.clone(),
                    version_hint: file.version_hint,
                    comment: comment.map(str::to_string),
                    size: file.size,
                    modified_ms: file.modified_ms,
                    watch_folder,
                })
                .await?;
            self.emit_transfer(record.clone(), None);
            queued.push(record);
        }
        if queued.is_empty() {
            return Err(SyncError::Invalid(match &plan.rejected {
                Some(why) => why.clone(),
                None => "nothing to send: every file was refused".to_string(),
            }));
        }
        self.uploads_wake.notify_one();
        Ok(queued)
    }

    /// The upload settings.
    pub async fn upload_settings(&self) -> Result<UploadSettings> {
        Ok(match self.cache.setting(SETTINGS_KEY).await? {
            Some(value) => serde_json::from_value::<UploadSettings>(value)
                .unwrap_or_default()
                .clamped(),
            None => UploadSettings::default(),
        })
    }

    /// Changes the upload settings; a running queue follows them at once.
    pub async fn set_upload_settings(&self, settings: UploadSettings) -> Result<UploadSettings> {
        let settings = settings.clamped();
        let value = serde_json::to_value(settings)
            .map_err(|e| SyncError::Invalid(format!("upload settings: {e}")))?;
        self.cache.set_setting(SETTINGS_KEY, &value).await?;
        self.uploads_wake.notify_one();
        Ok(settings)
    }

    /// Holds a transfer; its checkpoint is kept. A running attempt stops within a tick.
    pub async fn pause_transfer(&self, id: i64) -> Result<()> {
        use TransferState::*;
        if !self
            .cache
            .move_transfer(id, &[Queued, Running], Paused)
            .await?
        {
            return Err(self.refused_move(id, "paused").await);
        }
        self.emit_transfer(self.cache.transfer(id).await?, None);
        Ok(())
    }

    /// Lets a paused transfer go on.
    pub async fn resume_transfer(&self, id: i64) -> Result<()> {
        use TransferState::*;
        if !self.cache.move_transfer(id, &[Paused], Queued).await? {
            return Err(self.refused_move(id, "resumed").await);
        }
        self.emit_transfer(self.cache.transfer(id).await?, None);
        self.uploads_wake.notify_one();
        Ok(())
    }

    /// Tries a failed transfer again (from its checkpoint).
    pub async fn retry_transfer(&self, id: i64) -> Result<()> {
        use TransferState::*;
        if !self
            .cache
            .move_transfer(id, &[Failed, Queued], Queued)
            .await?
        {
            return Err(self.refused_move(id, "retried").await);
        }
        self.emit_transfer(self.cache.transfer(id).await?, None);
        self.uploads_wake.notify_one();
        Ok(())
    }

    /// Gives a transfer up and releases what it holds on the platform.
    pub async fn cancel_transfer(&self, id: i64) -> Result<()> {
        use TransferState::*;
        if self
            .cache
            .move_transfer(id, &[Queued, Paused, Failed], Cancelled)
            .await?
        {
            let record = self.cache.transfer(id).await?;
            self.abandon(&record).await;
            self.emit_transfer(record, None);
            return Ok(());
        }
        // Running: the attempt notices within a tick and abandons the platform side itself.
        if self.cache.move_transfer(id, &[Running], Cancelled).await? {
            self.emit_transfer(self.cache.transfer(id).await?, None);
            return Ok(());
        }
        Err(self.refused_move(id, "cancelled").await)
    }

    /// Forgets finished transfers.
    pub async fn clear_finished_transfers(&self) -> Result<u64> {
        Ok(self.cache.clear_finished_transfers().await?)
    }

    async fn refused_move(&self, id: i64, verb: &str) -> SyncError {
        match self.cache.transfer(id).await {
            Ok(record) => SyncError::Invalid(format!(
                "{} is {} and cannot be {verb}",
                record.name,
                record.state.key()
            )),
            Err(e) => e.into(),
        }
    }

    async fn abandon(&self, record: &TransferRecord) {
        let Some(checkpoint) = self.full_checkpoint(record).await else {
            return;
        };
        self.forget_checkpoint_secret(record).await;
        match self.connector(&record.account).await {
            Ok(connector) => {
                if let Err(e) = connector.abandon_upload(&checkpoint).await {
                    tracing::warn!(transfer = record.id, error = %e, "could not release a cancelled upload on the platform");
                }
            }
            Err(e) => {
                tracing::warn!(transfer = record.id, error = %e, "cancelled upload left on the platform")
            }
        }
    }

    /// Stores a connector checkpoint: its `secret` part (an upload session URL that authorises
    /// writes) goes to the secret store under `secret_ref`, the rest to the cache.
    async fn store_checkpoint(&self, id: i64, secret_ref: &str, mut value: serde_json::Value) {
        if let Some(secret) = value.as_object_mut().and_then(|o| o.remove("secret")) {
            if !secret.is_null()
                && let Err(e) = self
                    .secrets
                    .save_secret(secret_ref, secret.to_string())
                    .await
            {
                // Without its secret the checkpoint cannot resume the session: the connector
                // then starts a new one, which costs bytes, never correctness.
                tracing::warn!(transfer = id, error = %e, "upload session not kept");
            }
            if let Some(object) = value.as_object_mut() {
                object.insert("secret_ref".into(), serde_json::Value::from(secret_ref));
            }
        }
        if let Err(e) = self.cache.save_transfer_checkpoint(id, &value).await {
            tracing::warn!(transfer = id, error = %e, "cannot store an upload checkpoint");
        }
    }

    /// The checkpoint as the connector reported it, its secret part read back.
    async fn full_checkpoint(&self, record: &TransferRecord) -> Option<serde_json::Value> {
        let mut checkpoint = record.checkpoint.clone()?;
        if let Some(key) = secret_ref_of(Some(&checkpoint))
            && let Ok(Some(secret)) = self.secrets.load_secret(&key).await
            && let Ok(secret) = serde_json::from_str::<serde_json::Value>(&secret)
            && let Some(object) = checkpoint.as_object_mut()
        {
            object.remove("secret_ref");
            object.insert("secret".into(), secret);
        }
        Some(checkpoint)
    }

    async fn forget_checkpoint_secret(&self, record: &TransferRecord) {
        if let Some(key) = secret_ref_of(record.checkpoint.as_ref())
            && let Err(e) = self.secrets.delete_secret(&key).await
        {
            tracing::warn!(transfer = record.id, error = %e, "upload session secret not removed");
        }
    }

    pub(crate) fn emit_transfer(&self, record: TransferRecord, speed: Option<f64>) {
        let eta_seconds = speed
            .filter(|s| *s > 0.0)
            .map(|s| record.size.saturating_sub(record.bytes_done) as f64 / s);
        self.emit(SyncEvent::Transfer(Box::new(TransferUpdate {
            record,
            speed,
            eta_seconds,
        })));
    }

    /// A connector good enough to ask about capabilities: the signed-in one, or a fresh one when
    /// the account has no session yet (planning needs no network).
    async fn planning_connector(&self, account: &AccountId) -> Result<Arc<dyn Connector>> {
        match self.connector(account).await {
            Ok(connector) => Ok(connector),
            Err(SyncError::LoginRequired { .. }) => {
                let record = self.cache.account(account).await?;
                self.build_connector(&record)
            }
            Err(e) => Err(e),
        }
    }
}

fn secret_ref_of(checkpoint: Option<&serde_json::Value>) -> Option<String> {
    checkpoint?
        .get("secret_ref")?
        .as_str()
        .filter(|r| r.starts_with("transfer:"))
        .map(str::to_string)
}

/// Lists the files under the dropped paths: files as they are, folders walked (hidden entries
/// skipped) with their structure kept as `subfolder`. Paths that cannot be read are listed with
/// the reason.
fn walk_dropped(paths: &[PathBuf]) -> Vec<PlannedFile> {
    let mut files = Vec::new();
    for path in paths {
        let name = display_name(path);
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_folder(path, &mut vec![name], &mut files),
            Ok(meta) => files.push(planned(path, name, &meta, Vec::new())),
            Err(e) => files.push(unreadable(path, name, format!("cannot be read: {e}"))),
        }
        if files.len() >= MAX_PLANNED_FILES {
            files.truncate(MAX_PLANNED_FILES);
            break;
        }
    }
    files
}

fn walk_folder(dir: &Path, prefix: &mut Vec<String>, files: &mut Vec<PlannedFile>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if files.len() >= MAX_PLANNED_FILES {
            return;
        }
        let name = display_name(&path);
        // Inside a dropped folder, hidden and temporary entries are never what was meant.
        if framenote_core::is_transient_name(&name) {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            prefix.push(name);
            walk_folder(&path, prefix, files);
            prefix.pop();
        } else {
            files.push(planned(&path, name, &meta, prefix.clone()));
        }
    }
}

fn planned(
    path: &Path,
    name: String,
    meta: &std::fs::Metadata,
    subfolder: Vec<String>,
) -> PlannedFile {
    PlannedFile {
        path: path.to_path_buf(),
        name,
        size: meta.len(),
        subfolder,
        version_hint: None,
        rejected: None,
        modified_ms: modified_ms(meta),
    }
}

fn unreadable(path: &Path, name: String, why: String) -> PlannedFile {
    PlannedFile {
        path: path.to_path_buf(),
        name,
        size: 0,
        subfolder: Vec::new(),
        version_hint: None,
        rejected: Some(why),
        modified_ms: 0,
    }
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A file's modification time in unix milliseconds (0 when the OS does not say).
pub(crate) fn modified_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The upload queue of one data folder, running in the background while it lives.
pub struct TransferQueue {
    shared: Arc<QueueShared>,
    runner: tokio::task::JoinHandle<()>,
    // Held for the queue's life: one process runs a data folder's uploads at a time.
    _lock: File,
}

struct QueueShared {
    engine: Arc<SyncEngine>,
    bandwidth: Arc<Bandwidth>,
    idle: Notify,
    state: Mutex<RunnerState>,
}

#[derive(Default)]
struct RunnerState {
    running: usize,
    /// Accounts being pulled after uploads: whether to pull once more, and the finished
    /// transfers announced as done once the pull has listed them.
    pulls: HashMap<AccountId, (bool, Vec<i64>)>,
}

impl std::fmt::Debug for TransferQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferQueue").finish_non_exhaustive()
    }
}

impl Drop for TransferQueue {
    fn drop(&mut self) {
        // Running attempts are aborted with the runner; their rows stay `running` and are
        // recovered (with their checkpoints) by the next queue.
        self.runner.abort();
    }
}

impl TransferQueue {
    /// Takes the data folder's upload lock, puts uploads that were running when the last queue
    /// stopped back in line, and starts sending. [`SyncError::QueueBusy`] when another process
    /// runs the queue.
    pub async fn start(engine: Arc<SyncEngine>) -> Result<Self> {
        let lock = lock_uploads(&engine)?;
        let recovered = engine.cache.recover_transfers().await?;
        if recovered > 0 {
            tracing::info!(recovered, "resuming uploads interrupted by the last stop");
        }
        let settings = engine.upload_settings().await?;
        let shared = Arc::new(QueueShared {
            engine,
            bandwidth: Arc::new(Bandwidth::new(settings.bandwidth_limit)),
            idle: Notify::new(),
            state: Mutex::new(RunnerState::default()),
        });
        let runner = tokio::spawn(run(shared.clone()));
        Ok(Self {
            shared,
            runner,
            _lock: lock,
        })
    }

    /// Waits until nothing is running and nothing queued is due (done, failed, paused, or
    /// waiting for a retry time), and the library shows what was sent.
    pub async fn wait_idle(&self) -> Result<()> {
        loop {
            let notified = self.shared.idle.notified();
            if self.is_idle().await? {
                return Ok(());
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
        }
    }

    async fn is_idle(&self) -> Result<bool> {
        let (running, pulling) = {
            let state = lock_state(&self.shared.state);
            (state.running, !state.pulls.is_empty())
        };
        let transfers = self.shared.engine.cache.list_transfers().await?;
        let now = framenote_cache::now_millis();
        Ok(running == 0
            && !pulling
            && !transfers.iter().any(|t| {
                t.state == TransferState::Running
                    || (t.state == TransferState::Queued && t.next_attempt_ms <= now)
            }))
    }
}

fn lock_state(state: &Mutex<RunnerState>) -> std::sync::MutexGuard<'_, RunnerState> {
    // Counters only; a panic elsewhere cannot leave them half-written.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_uploads(engine: &SyncEngine) -> Result<File> {
    engine.lock_data_folder(LOCK_FILE, SyncError::QueueBusy)
}

/// The runner: fills free slots with due transfers, sleeps until something changes.
async fn run(shared: Arc<QueueShared>) {
    let engine = shared.engine.clone();
    let mut attempts: JoinSet<()> = JoinSet::new();
    loop {
        while attempts.try_join_next().is_some() {
            lock_state(&shared.state).running -= 1;
        }
        let settings = engine.upload_settings().await.unwrap_or_default();
        if shared.bandwidth.limit() != settings.bandwidth_limit {
            shared.bandwidth.set_limit(settings.bandwidth_limit);
        }
        let free = (settings.concurrency as usize).saturating_sub(attempts.len());
        let mut started = 0;
        if free > 0 {
            match engine.cache.due_transfers(free as u32).await {
                Ok(due) => {
                    for record in due {
                        match engine
                            .cache
                            .move_transfer(
                                record.id,
                                &[TransferState::Queued],
                                TransferState::Running,
                            )
                            .await
                        {
                            Ok(true) => {
                                started += 1;
                                lock_state(&shared.state).running += 1;
                                attempts.spawn(attempt(shared.clone(), record.id));
                            }
                            Ok(false) => {}
                            Err(e) => tracing::warn!(error = %e, "cannot start an upload"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the upload queue"),
            }
        }
        if started == 0 && attempts.is_empty() {
            shared.idle.notify_waiters();
        }
        let wake_at = match engine.cache.next_transfer_due_ms().await {
            Ok(Some(at)) => {
                let wait = at - framenote_cache::now_millis();
                Duration::from_millis(u64::try_from(wait).unwrap_or(0).clamp(50, 60_000))
            }
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = engine.uploads_wake.notified() => {}
            Some(_) = attempts.join_next(), if !attempts.is_empty() => {
                lock_state(&shared.state).running -= 1;
            }
            _ = tokio::time::sleep(wake_at) => {}
        }
    }
}

/// How one attempt ended.
enum Ending {
    Sent(framenote_core::Version),
    Stopped(TransferState),
    Failed(ConnectorError),
    Local(String),
}

/// One attempt at one transfer (already moved to `Running`).
async fn attempt(shared: Arc<QueueShared>, id: i64) {
    let engine = &shared.engine;
    let record = match engine.cache.transfer(id).await {
        Ok(record) => record,
        Err(e) => {
            tracing::warn!(transfer = id, error = %e, "upload vanished from the queue");
            return;
        }
    };
    engine.emit_transfer(record.clone(), None);
    let ending = send(&shared, &record).await;
    let result = match ending {
        Ending::Sent(version) => {
            if let Ok(latest) = engine.cache.transfer(id).await {
                engine.forget_checkpoint_secret(&latest).await;
            }
            let result = engine
                .cache
                .finish_transfer(id, &version.asset, &version.id)
                .await;
            schedule_pull(shared.clone(), record.account.clone(), id);
            result
        }
        Ending::Stopped(TransferState::Cancelled) => {
            if let Ok(latest) = engine.cache.transfer(id).await {
                engine.abandon(&latest).await;
            }
            Ok(())
        }
        Ending::Stopped(_) => Ok(()),
        Ending::Local(message) => engine.cache.fail_transfer(id, &message, None).await,
        Ending::Failed(error) => {
            let retry_at = retry_time(engine, &record, &error);
            let message = match retry_at {
                Some(_) => format!("will retry: {}", error.message),
                None => error.message.clone(),
            };
            engine.cache.fail_transfer(id, &message, retry_at).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(transfer = id, error = %e, "cannot record an upload's outcome");
    }
    // A sent file is announced once the pull after it has listed it (see `schedule_pull`).
    if let Ok(latest) = engine.cache.transfer(id).await
        && latest.state != TransferState::Done
    {
        engine.emit_transfer(latest, None);
    }
    engine.uploads_wake.notify_one();
}

/// When to try again after `error`, or `None` when only the user can help.
fn retry_time(engine: &SyncEngine, record: &TransferRecord, error: &ConnectorError) -> Option<i64> {
    let transient = error.kind.is_transient()
        || matches!(error.kind, ErrorKind::BadResponse)
        || (error.kind == ErrorKind::Io && error.message.contains("connection"));
    if !transient {
        return None;
    }
    let base = engine.config.retry_base.as_millis() as f64;
    let max = engine.config.retry_max.as_millis() as f64;
    let exponent = record.attempts.saturating_sub(1).min(20);
    let backoff = (base * 2f64.powi(exponent as i32)).min(max);
    let delay = match error.retry_after {
        Some(after) => (after.as_millis() as f64).max(backoff / 2.0),
        // Half fixed, half jitter: many uploads failing together do not return together.
        None => backoff / 2.0 + fastrand::f64() * backoff / 2.0,
    };
    Some(framenote_cache::now_millis() + delay as i64)
}

async fn send(shared: &Arc<QueueShared>, record: &TransferRecord) -> Ending {
    let engine = &shared.engine;
    let path = PathBuf::from(&record.path);
    let meta = match tokio::fs::metadata(&path).await {
        Ok(meta) => meta,
        Err(e) => return Ending::Local(format!("{} cannot be read: {e}", record.path)),
    };
    let connector = match engine.connector(&record.account).await {
        Ok(connector) => connector,
        Err(e) => return Ending::Local(e.to_string()),
    };
    let mut resume = engine.full_checkpoint(record).await;
    let secret_ref = secret_ref_of(record.checkpoint.as_ref())
        .unwrap_or_else(|| format!("transfer:{}", uuid::Uuid::new_v4()));
    if meta.len() != record.size || modified_ms(&meta) != record.modified_ms {
        // The file was written again since it was queued: what the platform holds is of the
        // old content. Release it and send the new file from the start.
        tracing::info!(
            transfer = record.id,
            "file changed since it was queued; starting over"
        );
        engine.abandon(record).await;
        if let Err(e) = engine
            .cache
            .reset_transfer(record.id, meta.len(), modified_ms(&meta))
            .await
        {
            return Ending::Local(e.to_string());
        }
        resume = None;
    }
    let size = meta.len();
    let request = UploadRequest {
        path,
        destination: record.node.clone(),
        name: record.name.clone(),
        comment: record.comment.clone(),
        subfolder: record.subfolder.clone(),
        version_hint: record.version_hint,
    };
    let bytes = Arc::new(AtomicU64::new(record.bytes_done));
    let (checkpoints, mut checkpoint_rx) = mpsc::unbounded_channel::<serde_json::Value>();
    let progress_bytes = bytes.clone();
    let progress = move |n: u64| progress_bytes.store(n, Ordering::Relaxed);
    let checkpoint = move |value: serde_json::Value| {
        // The receiver lives as long as the attempt; a closed channel means it ended.
        let _ = checkpoints.send(value);
    };
    let context = UploadContext {
        resume: resume.as_ref(),
        checkpoint: &checkpoint,
        progress: &progress,
        bandwidth: Some(&shared.bandwidth),
    };
    let upload = connector.upload_resumable(&request, &context);
    tokio::pin!(upload);
    let mut ticker = tokio::time::interval(TICK);
    let mut samples: std::collections::VecDeque<(Instant, u64)> = Default::default();
    let mut last_saved = record.bytes_done;
    let mut live = record.clone();
    live.size = size;
    let ending = loop {
        tokio::select! {
            result = &mut upload => break match result {
                Ok(version) => Ending::Sent(version),
                Err(error) => Ending::Failed(error),
            },
            Some(value) = checkpoint_rx.recv() => {
                engine.store_checkpoint(record.id, &secret_ref, value).await;
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                let done = bytes.load(Ordering::Relaxed);
                samples.push_back((now, done));
                while samples.len() > 2 && samples.front().is_some_and(|(t, _)| now.duration_since(*t) > SPEED_WINDOW) {
                    samples.pop_front();
                }
                let speed = samples.front().and_then(|(t, b)| {
                    let secs = now.duration_since(*t).as_secs_f64();
                    (secs >= 0.5).then(|| done.saturating_sub(*b) as f64 / secs)
                });
                // The user (here or in another process) may have paused or cancelled it.
                match engine.cache.transfer(record.id).await {
                    Ok(stored) if stored.state != TransferState::Running => break Ending::Stopped(stored.state),
                    _ => {}
                }
                if done != last_saved && samples.len().is_multiple_of(4) {
                    last_saved = done;
                    let _ = engine.cache.record_transfer_progress(record.id, done).await;
                }
                live.bytes_done = done;
                engine.emit_transfer(live.clone(), speed);
            }
        }
    };
    // Checkpoints reported just before the end are still worth keeping.
    while let Ok(value) = checkpoint_rx.try_recv() {
        engine.store_checkpoint(record.id, &secret_ref, value).await;
    }
    let _ = engine
        .cache
        .record_transfer_progress(record.id, bytes.load(Ordering::Relaxed))
        .await;
    ending
}

/// Pulls the account once the queue has sent something, so the new asset shows in the library;
/// several uploads finishing together cause one pull, plus one more if any finished during it.
fn schedule_pull(shared: Arc<QueueShared>, account: AccountId, finished: i64) {
    {
        let mut state = lock_state(&shared.state);
        if let Some((again, waiting)) = state.pulls.get_mut(&account) {
            *again = true;
            waiting.push(finished);
            return;
        }
        state.pulls.insert(account.clone(), (false, vec![finished]));
    }
    tokio::spawn(async move {
        loop {
            let listed = match lock_state(&shared.state).pulls.get_mut(&account) {
                Some((again, waiting)) => {
                    *again = false;
                    std::mem::take(waiting)
                }
                None => Vec::new(),
            };
            let cancel = crate::cancellation();
            if let Err(e) = shared
                .engine
                .pull(&account, PullOptions::default(), &cancel)
                .await
            {
                tracing::warn!(account = %account.0, error = %e, "pull after upload failed");
            }
            // Only now "done": the library lists what the UI is told has arrived.
            for id in listed {
                if let Ok(record) = shared.engine.cache.transfer(id).await {
                    shared.engine.emit_transfer(record, None);
                }
            }
            let mut state = lock_state(&shared.state);
            match state.pulls.get(&account) {
                Some((true, _)) => {}
                _ => {
                    state.pulls.remove(&account);
                    drop(state);
                    shared.idle.notify_waiters();
                    return;
                }
            }
        }
    });
}
