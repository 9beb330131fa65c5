//! The headless CLI: `framenote <command>` — sign in, sync, browse, pin, write notes, push the
//! outbox and export, without a window. Same crates, same data folder and same outbox as the app,
//! so a note written here is posted by the app and the other way round.
//!
//! The data folder is the app's (`$XDG_DATA_HOME/framenote`, …) unless `--data-dir` or
//! `FRAMENOTE_DATA_DIR` says otherwise. Output is for people by default and JSON with `--json`.
//! Exit codes: 0 success, 1 error, 2 bad usage, 3 sign-in required, 4 work left (a push that left
//! notes queued or failed). This module never touches Tauri: the shell calls [`run`] before any
//! window exists when the first argument is a subcommand.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use framenote_cache::{NoteRecord, NoteSyncState, PinScope};
use framenote_connectors::Credentials;
use framenote_connectors::local::Probe;
use framenote_core::timecode::FrameClock;
use framenote_core::{AccountId, Drawing, FrameSpan, NoteStatus, Platform, RemoteId};
use framenote_sync::{
    Cancellation, PullOptions, SyncConfig, SyncEngine, SyncError, SyncEvent, standard_factory,
};
use serde_json::json;

/// Subcommand names, so the shell can tell `framenote sync` from `framenote --some-gui-flag`.
pub const COMMANDS: &[&str] = &[
    "login",
    "logout",
    "accounts",
    "sync",
    "ls",
    "pin",
    "unpin",
    "note",
    "resolve",
    "notes",
    "push",
    "retry",
    "discard",
    "export",
    "status",
    "upload",
    "transfers",
    "watch",
    "help",
];

/// Whether `args` (without the program name) ask for the CLI.
pub fn wants_cli(args: &[OsString]) -> bool {
    args.iter()
        .find(|a| !a.to_string_lossy().starts_with('-'))
        .is_some_and(|first| COMMANDS.contains(&first.to_string_lossy().as_ref()))
        || args.iter().any(|a| a == "--data-dir" || a == "--json")
}

#[derive(Parser, Debug)]
#[command(
    name = "framenote",
    version,
    about = "Framenote without a window: sync, notes, outbox."
)]
struct Cli {
    /// Data folder (database, offline media, fallback secrets). Default: the app's.
    #[arg(long, global = true, env = "FRAMENOTE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Log details to stderr (`-v`, `-vv`).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Most space offline copies may take, in MB (all accounts). Default: no limit.
    #[arg(long, global = true, env = "FRAMENOTE_OFFLINE_BUDGET_MB")]
    offline_budget_mb: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign in to a platform and add the account (or add a local folder library).
    Login(LoginArgs),
    /// Forget an account's session (its data and queued notes stay).
    Logout(AccountArg),
    /// List accounts, where their secrets are kept, and their outbox.
    Accounts,
    /// Push the outbox, pull the library and notes, update offline copies.
    Sync(SyncArgs),
    /// Browse: roots, or the children and assets of a node.
    Ls(LsArgs),
    /// Keep an asset or a node (task, playlist, folder, project) available offline.
    Pin(PinArgs),
    /// Stop keeping it offline (the files are evicted at the next sync).
    Unpin(PinArgs),
    /// Write a note (posted by the next push or sync).
    Note(NoteArgs),
    /// Mark a note resolved (or `--open` again); posted by the next push.
    Resolve(ResolveArgs),
    /// List notes with their outbox state.
    Notes(NotesArgs),
    /// Post the outbox now.
    Push(PushArgs),
    /// Retry a failed outbox operation (or all of an account's with `--all`).
    Retry(OpArgs),
    /// Give up on an outbox operation; its note is kept locally, marked discarded.
    Discard(OpArgs),
    /// Export notes as CSV.
    Export(ExportArgs),
    /// Outbox and offline summary.
    Status(AccountArg),
    /// Upload files or folders to a node (a folder, a task, a batch) and wait until sent.
    Upload(UploadArgs),
    /// The upload queue: list, run, pause, resume, cancel, retry, clear, settings.
    Transfers(TransfersArgs),
    /// Watch folders: add, list, remove, run.
    Watch(WatchArgs),
}

#[derive(Args, Debug)]
struct UploadArgs {
    #[command(flatten)]
    account: AccountArg,
    /// The destination node id (see `ls`).
    #[arg(long)]
    to: String,
    /// A comment sent with each file where the platform takes one (Kitsu).
    #[arg(long)]
    comment: Option<String>,
    /// Do not read version numbers from file names.
    #[arg(long)]
    no_versions: bool,
    /// Queue only; the app (or `transfers run`) sends them.
    #[arg(long)]
    no_wait: bool,
    /// Files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct TransfersArgs {
    #[command(subcommand)]
    action: Option<TransfersAction>,
}

#[derive(Subcommand, Debug)]
enum TransfersAction {
    /// Every transfer (the default).
    List,
    /// Send what is queued (resuming interrupted uploads) and wait until nothing is due.
    Run,
    /// Hold a transfer.
    Pause { id: i64 },
    /// Let a paused transfer go on.
    Resume { id: i64 },
    /// Give a transfer up (releases its parts on the platform).
    Cancel { id: i64 },
    /// Try a failed transfer again.
    Retry { id: i64 },
    /// Forget finished transfers.
    Clear,
    /// Show or change the upload settings.
    Settings {
        /// Uploads at once (1..8).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Bandwidth limit for all uploads, bytes per second (0 = unlimited).
        #[arg(long)]
        bandwidth: Option<u64>,
    },
}

#[derive(Args, Debug)]
struct WatchArgs {
    #[command(subcommand)]
    action: WatchAction,
}

#[derive(Subcommand, Debug)]
enum WatchAction {
    /// Watch a folder: new files are uploaded to the node once complete.
    Add {
        /// The folder.
        path: PathBuf,
        #[command(flatten)]
        account: AccountArg,
        /// The destination node id.
        #[arg(long)]
        to: String,
        /// A comment sent with each file where the platform takes one.
        #[arg(long)]
        comment: Option<String>,
        /// Do not read version numbers from file names.
        #[arg(long)]
        no_versions: bool,
    },
    /// The watch folders.
    List,
    /// Stop watching a folder (its queued uploads stay).
    Remove { id: i64 },
    /// Watch and upload until stopped (or for `--for-secs`).
    Run {
        /// How long a file must stay unchanged before it is sent, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        settle_ms: u64,
        /// Stop after this many seconds.
        #[arg(long)]
        for_secs: Option<u64>,
    },
}

#[derive(Args, Debug)]
struct AccountArg {
    /// Account id (see `accounts`); optional when there is only one.
    #[arg(long, short)]
    account: Option<String>,
}

#[derive(Args, Debug)]
struct LoginArgs {
    /// kitsu, iconik, moxion, local, …
    #[arg(long)]
    platform: String,
    /// Server base URL (Kitsu: `https://host/api`), or the folder for `local`.
    #[arg(long)]
    url: String,
    /// Login name (e-mail).
    #[arg(long)]
    user: Option<String>,
    /// Read the password (or API secret) from this environment variable.
    #[arg(long, conflicts_with = "password_stdin")]
    password_env: Option<String>,
    /// Read the password (or API secret) from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Sign in with an API key instead of a password (`--user` is the key id where needed).
    #[arg(long)]
    api_key: bool,
    /// Sign in with a device code (Flow Capture): prints the code and the page to approve it
    /// on, then waits for the approval.
    #[arg(long, conflicts_with_all = ["api_key", "password_env", "password_stdin"])]
    device: bool,
    /// Display label.
    #[arg(long)]
    label: Option<String>,
    /// Re-sign-in an existing account instead of adding one.
    #[arg(long)]
    account: Option<String>,
}

#[derive(Args, Debug)]
struct SyncArgs {
    #[command(flatten)]
    account: AccountArg,
    /// Full listings (detect deletions) instead of incremental ones.
    #[arg(long)]
    full: bool,
}

#[derive(Args, Debug)]
struct LsArgs {
    #[command(flatten)]
    account: AccountArg,
    /// Node id; roots when omitted.
    node: Option<String>,
}

#[derive(Args, Debug)]
struct PinArgs {
    #[command(flatten)]
    account: AccountArg,
    /// An asset id.
    #[arg(long, conflicts_with = "node", required_unless_present = "node")]
    asset: Option<String>,
    /// A node id (task, playlist, folder, project).
    #[arg(long)]
    node: Option<String>,
    /// Download (or evict) right away instead of at the next sync.
    #[arg(long)]
    now: bool,
}

#[derive(Args, Debug)]
struct NoteArgs {
    #[command(flatten)]
    account: AccountArg,
    /// Version id.
    #[arg(long, required_unless_present = "asset", conflicts_with = "asset")]
    version: Option<String>,
    /// Asset id (its latest version).
    #[arg(long)]
    asset: Option<String>,
    /// Frame number as shown (first frame + index, e.g. 1001).
    #[arg(long, conflicts_with = "timecode")]
    frame: Option<i64>,
    /// Last frame number of a range note.
    #[arg(long, requires = "frame")]
    to_frame: Option<i64>,
    /// Timecode of the frame (HH:MM:SS:FF, `;` for drop-frame).
    #[arg(long)]
    timecode: Option<String>,
    /// A drawing (Framenote's JSON: shapes with 0..1 coordinates) on that frame.
    #[arg(long)]
    drawing: Option<PathBuf>,
    /// Answer this note (id from `notes`).
    #[arg(long)]
    reply_to: Option<String>,
    /// A platform status to set with the note (Kitsu: `wfa`, `retake`, `done`…).
    #[arg(long)]
    status: Option<String>,
    /// Author shown until the platform names it.
    #[arg(long, default_value = "me")]
    author: String,
    /// The text.
    text: String,
}

#[derive(Args, Debug)]
struct ResolveArgs {
    /// Note id.
    note: String,
    /// Re-open instead of resolving.
    #[arg(long)]
    open: bool,
}

#[derive(Args, Debug)]
struct NotesArgs {
    #[command(flatten)]
    account: AccountArg,
    /// Only this version.
    #[arg(long)]
    version: Option<String>,
    /// Only notes not on the platform yet.
    #[arg(long)]
    unsent: bool,
}

#[derive(Args, Debug)]
struct PushArgs {
    #[command(flatten)]
    account: AccountArg,
    /// Keep retrying transient failures for up to this many seconds.
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// First retry delay in milliseconds (doubles per attempt).
    #[arg(long, hide = true)]
    retry_base_ms: Option<u64>,
}

#[derive(Args, Debug)]
struct OpArgs {
    #[command(flatten)]
    account: AccountArg,
    /// Operation id (see `notes --unsent` / `status`).
    #[arg(required_unless_present = "all")]
    op: Option<i64>,
    /// Every failed operation of the account.
    #[arg(long)]
    all: bool,
}

#[derive(Args, Debug)]
struct ExportArgs {
    #[command(flatten)]
    account: AccountArg,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// A CLI failure with its exit code.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Cache(#[from] framenote_cache::CacheError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Partial(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Sync(SyncError::LoginRequired { .. }) => 3,
            CliError::Partial(_) => 4,
            _ => 1,
        }
    }
}

type CliResult<T> = Result<T, CliError>;

/// Runs the CLI with `args` (program name first) and the media probe the local library uses.
pub fn run_with_probe(args: Vec<OsString>, probe: Probe) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = cli.json;
    match runtime.block_on(execute(cli, probe)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let body = json!({"error": e.to_string(), "exit_code": e.exit_code()});
                println!("{body}");
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The app's data folder when none is given.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("framenote");
    }
    match std::env::var_os("HOME") {
        Some(home) if cfg!(target_os = "macos") => {
            PathBuf::from(home).join("Library/Application Support/framenote")
        }
        Some(home) => PathBuf::from(home).join(".local/share/framenote"),
        None => PathBuf::from(".framenote"),
    }
}

async fn execute(cli: Cli, probe: Probe) -> CliResult<()> {
    let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let mut config = SyncConfig {
        disk_budget: cli.offline_budget_mb.map(|mb| mb.saturating_mul(1_000_000)),
        ..SyncConfig::default()
    };
    if let Command::Push(args) = &cli.command
        && let Some(ms) = args.retry_base_ms
    {
        config.retry_base = Duration::from_millis(ms);
    }
    let engine = Arc::new(SyncEngine::open(&data_dir, standard_factory(probe), config).await?);
    let out = Output { json: cli.json };
    match cli.command {
        Command::Login(args) => login(&engine, &out, args).await,
        Command::Logout(args) => {
            let account = pick_account(&engine, &args).await?;
            engine.logout(&account).await?;
            out.line(
                &format!("signed out of {}", account.0),
                json!({"account": account.0}),
            );
            Ok(())
        }
        Command::Accounts => accounts(&engine, &out).await,
        Command::Sync(args) => sync(&engine, &out, args).await,
        Command::Ls(args) => ls(&engine, &out, args).await,
        Command::Pin(args) => pin(&engine, &out, args, true).await,
        Command::Unpin(args) => pin(&engine, &out, args, false).await,
        Command::Note(args) => note(&engine, &out, args).await,
        Command::Resolve(args) => {
            let status = if args.open {
                NoteStatus::Open
            } else {
                NoteStatus::Resolved
            };
            let record = engine
                .cache()
                .set_local_note_status(&framenote_core::NoteId(args.note), status)
                .await?;
            out.line(
                &format!(
                    "note {} is {:?} here; `push` posts it",
                    record.note.id.0, status
                ),
                json!({"note": record}),
            );
            Ok(())
        }
        Command::Notes(args) => notes(&engine, &out, args).await,
        Command::Push(args) => push(&engine, &out, args).await,
        Command::Retry(args) => {
            let account = pick_account(&engine, &args.account).await?;
            let count = match args.op {
                Some(op) if !args.all => {
                    engine.cache().retry_op(op).await?;
                    1
                }
                _ => engine.cache().retry_failed_ops(&account).await?,
            };
            out.line(
                &format!("{count} operation(s) queued again; `push` posts them"),
                json!({"retried": count}),
            );
            Ok(())
        }
        Command::Discard(args) => {
            let op = args
                .op
                .ok_or_else(|| CliError::Usage("name the operation to discard".into()))?;
            engine.cache().discard_op(op).await?;
            out.line(
                &format!("operation {op} discarded; its note is kept locally"),
                json!({"discarded": op}),
            );
            Ok(())
        }
        Command::Export(args) => export(&engine, &out, args).await,
        Command::Status(args) => status(&engine, &out, args).await,
        Command::Upload(args) => upload(&engine, &out, args).await,
        Command::Transfers(args) => transfers(&engine, &out, args).await,
        Command::Watch(args) => watch(&engine, &out, args).await,
    }
}

async fn upload(engine: &Arc<SyncEngine>, out: &Output, args: UploadArgs) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let paths: Vec<PathBuf> = args
        .paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let plan = engine
        .plan_upload(&paths, &account, &RemoteId(args.to), !args.no_versions)
        .await?;
    for file in &plan.files {
        if let Some(why) = file.rejected.as_ref().or(plan.rejected.as_ref()) {
            eprintln!("not sent: {}: {why}", file.path.display());
        }
    }
    let queued = engine
        .queue_upload(&plan, args.comment.as_deref(), None)
        .await?;
    if args.no_wait {
        out.line(
            &format!(
                "{} file(s) queued for {}",
                queued.len(),
                plan.destination_label
            ),
            json!({"queued": queued, "plan": plan}),
        );
        return Ok(());
    }
    let ids: Vec<i64> = queued.iter().map(|t| t.id).collect();
    run_queue(engine, out.json).await?;
    let mut results = Vec::new();
    for id in ids {
        results.push(engine.cache().transfer(id).await?);
    }
    let sent = results
        .iter()
        .filter(|t| t.state == framenote_cache::TransferState::Done)
        .count();
    out.line(
        &format!(
            "{sent} of {} file(s) sent to {}",
            results.len(),
            plan.destination_label
        ),
        json!({"transfers": results, "plan": plan}),
    );
    if sent < results.len() {
        return Err(CliError::Partial(format!(
            "{} file(s) not sent; see `transfers`",
            results.len() - sent
        )));
    }
    Ok(())
}

/// Runs the data folder's upload queue until nothing is due, printing progress on a terminal.
async fn run_queue(engine: &Arc<SyncEngine>, json: bool) -> CliResult<()> {
    let progress = spawn_progress(engine, json);
    let queue = framenote_sync::TransferQueue::start(engine.clone()).await?;
    let result = tokio::select! {
        r = queue.wait_idle() => r.map_err(CliError::from),
        _ = tokio::signal::ctrl_c() => Err(CliError::Partial("stopped; `transfers run` resumes".into())),
    };
    drop(queue);
    progress.abort();
    result
}

async fn transfers(engine: &Arc<SyncEngine>, out: &Output, args: TransfersArgs) -> CliResult<()> {
    let action = args.action.unwrap_or(TransfersAction::List);
    match action {
        TransfersAction::List => {}
        TransfersAction::Run => run_queue(engine, out.json).await?,
        TransfersAction::Pause { id } => engine.pause_transfer(id).await?,
        TransfersAction::Resume { id } => engine.resume_transfer(id).await?,
        TransfersAction::Cancel { id } => engine.cancel_transfer(id).await?,
        TransfersAction::Retry { id } => engine.retry_transfer(id).await?,
        TransfersAction::Clear => {
            engine.clear_finished_transfers().await?;
        }
        TransfersAction::Settings {
            concurrency,
            bandwidth,
        } => {
            let mut settings = engine.upload_settings().await?;
            if let Some(c) = concurrency {
                settings.concurrency = c;
            }
            if let Some(b) = bandwidth {
                settings.bandwidth_limit = (b > 0).then_some(b);
            }
            let settings = engine.set_upload_settings(settings).await?;
            out.line(
                &format!(
                    "{} upload(s) at once; bandwidth {}",
                    settings.concurrency,
                    settings
                        .bandwidth_limit
                        .map_or("unlimited".to_string(), |b| format!("{b} bytes/s"))
                ),
                json!({"settings": settings}),
            );
            return Ok(());
        }
    }
    let list = engine.cache().list_transfers().await?;
    if out.json {
        println!("{}", json!({"transfers": list}));
    } else {
        for t in &list {
            println!(
                "#{} {:<9} {:>3}% {} → {}{}",
                t.id,
                t.state.key(),
                (t.bytes_done * 100).checked_div(t.size).unwrap_or(100),
                t.name,
                t.destination_label,
                t.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn watch(engine: &Arc<SyncEngine>, out: &Output, args: WatchArgs) -> CliResult<()> {
    match args.action {
        WatchAction::Add {
            path,
            account,
            to,
            comment,
            no_versions,
        } => {
            let account = pick_account(engine, &account).await?;
            let path = std::path::absolute(&path).unwrap_or(path);
            let folder = engine
                .add_watch_folder(
                    &path,
                    &account,
                    &RemoteId(to),
                    !no_versions,
                    comment.as_deref(),
                )
                .await?;
            out.line(
                &format!(
                    "watching {} → {} (#{})",
                    folder.path, folder.destination_label, folder.id
                ),
                json!({"watch_folder": folder}),
            );
        }
        WatchAction::List => {
            let folders = engine.cache().list_watch_folders().await?;
            if out.json {
                println!("{}", json!({"watch_folders": folders}));
            } else {
                for f in &folders {
                    println!(
                        "#{} {} → {} ({} sent{})",
                        f.id,
                        f.path,
                        f.destination_label,
                        f.files_sent,
                        if f.enabled { "" } else { ", off" }
                    );
                }
            }
        }
        WatchAction::Remove { id } => {
            engine.cache().remove_watch_folder(id).await?;
            out.line(
                &format!("watch folder #{id} removed"),
                json!({"removed": id}),
            );
        }
        WatchAction::Run {
            settle_ms,
            for_secs,
        } => {
            let progress = spawn_progress(engine, out.json);
            let queue = framenote_sync::TransferQueue::start(engine.clone()).await?;
            let watcher = framenote_sync::WatchService::start(
                engine.clone(),
                framenote_sync::WatchOptions {
                    settle: Duration::from_millis(settle_ms),
                    ..Default::default()
                },
            );
            let until = async {
                match for_secs {
                    Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = until => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            drop(watcher);
            // Let what is sending finish before leaving; the rest resumes next time.
            let _ = tokio::time::timeout(Duration::from_secs(600), queue.wait_idle()).await;
            drop(queue);
            progress.abort();
            out.line("stopped watching", json!({"stopped": true}));
        }
    }
    Ok(())
}

/// Prints either a human line or a JSON value.
struct Output {
    json: bool,
}

impl Output {
    fn line(&self, human: &str, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{human}");
        }
    }
}

async fn pick_account(engine: &SyncEngine, arg: &AccountArg) -> CliResult<AccountId> {
    if let Some(id) = &arg.account {
        let id = AccountId(id.clone());
        engine.cache().account(&id).await?;
        return Ok(id);
    }
    let accounts = engine.cache().accounts().await?;
    match accounts.as_slice() {
        [only] => Ok(only.id.clone()),
        [] => Err(CliError::Usage(
            "no account yet; add one with `framenote login`".into(),
        )),
        _ => Err(CliError::Usage(format!(
            "several accounts; choose one with --account ({})",
            accounts
                .iter()
                .map(|a| a.id.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn platform_from(name: &str) -> CliResult<Platform> {
    let key = match name.to_ascii_lowercase().as_str() {
        "ci" | "sonyci" | "sony-ci" => "sony_ci".to_string(),
        "flow" | "flow-capture" => "moxion".to_string(),
        other => other.to_string(),
    };
    Platform::from_key(&key).ok_or_else(|| CliError::Usage(format!("unknown platform `{name}`")))
}

fn read_secret(args: &LoginArgs) -> CliResult<Option<String>> {
    if let Some(var) = &args.password_env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| CliError::Usage(format!("environment variable {var} is not set")));
    }
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_to_string(&mut line)
            .map_err(|e| CliError::Io(format!("reading the password from stdin: {e}")))?;
        let secret = line.lines().next().unwrap_or("").to_string();
        if secret.is_empty() {
            return Err(CliError::Usage("no password on standard input".into()));
        }
        return Ok(Some(secret));
    }
    Ok(None)
}

async fn login(engine: &SyncEngine, out: &Output, args: LoginArgs) -> CliResult<()> {
    let platform = platform_from(&args.platform)?;
    if args.device {
        let json = out.json;
        let record = engine
            .login_with_device(
                platform,
                &args.url,
                args.label.as_deref(),
                args.account.map(AccountId),
                |login| {
                    let wait = login
                        .expires_at
                        .saturating_duration_since(std::time::Instant::now())
                        .as_secs()
                        / 60;
                    if json {
                        println!(
                            "{}",
                            json!({"device": {"user_code": login.user_code, "verification_uri": login.verification_uri}})
                        );
                    }
                    eprintln!(
                        "To sign in to {}, open {} and enter the code {} (valid {wait} min). Waiting…",
                        platform.display_name(),
                        login.verification_uri,
                        login.user_code
                    );
                },
            )
            .await?;
        out.line(
            &format!("added {} ({})", record.id.0, record.label),
            json!({"account": record, "secrets": engine.secrets_status()}),
        );
        return Ok(());
    }
    let secret = read_secret(&args)?;
    let credentials = match (platform, secret) {
        (Platform::Local, _) => Credentials::None,
        (_, Some(secret)) if args.api_key => Credentials::ApiKey {
            id: args.user.clone(),
            secret,
        },
        (_, Some(password)) => Credentials::Password {
            user: args.user.clone().ok_or_else(|| {
                CliError::Usage("--user is required to sign in with a password".into())
            })?,
            password,
        },
        (_, None) => {
            return Err(CliError::Usage(
                "give the password with --password-env VAR or --password-stdin (never on the command line)".into(),
            ));
        }
    };
    let url = if platform == Platform::Local {
        std::fs::canonicalize(&args.url)
            .map_err(|e| CliError::Usage(format!("library folder {}: {e}", args.url)))?
            .display()
            .to_string()
    } else {
        args.url.clone()
    };
    let record = engine
        .login(
            platform,
            &url,
            &credentials,
            args.label.as_deref(),
            args.account.map(AccountId),
        )
        .await?;
    let secrets = engine.secrets_status();
    let mut human = format!("added {} ({})", record.id.0, record.label);
    if let (Some(path), Some(reason)) = (&secrets.path, &secrets.fallback_reason) {
        human.push_str(&format!(
            "\nnote: no OS keyring ({reason}); the session is kept in {} (readable only by you)",
            path.display()
        ));
    }
    out.line(&human, json!({"account": record, "secrets": secrets}));
    Ok(())
}

async fn accounts(engine: &SyncEngine, out: &Output) -> CliResult<()> {
    let accounts = engine.cache().accounts().await?;
    let secrets = engine.secrets_status();
    let mut rows = Vec::new();
    for account in &accounts {
        let outbox = engine.cache().outbox_summary(Some(&account.id)).await?;
        rows.push(json!({"account": account, "outbox": outbox}));
    }
    if out.json {
        println!("{}", json!({"accounts": rows, "secrets": secrets}));
        return Ok(());
    }
    if accounts.is_empty() {
        println!("no accounts; add one with `framenote login`");
    }
    for (account, row) in accounts.iter().zip(&rows) {
        let open = row["outbox"]["queued"].as_u64().unwrap_or(0)
            + row["outbox"]["in_flight"].as_u64().unwrap_or(0);
        let failed = row["outbox"]["failed"].as_u64().unwrap_or(0);
        println!(
            "{}  {}  {}  {}  last sync: {}  outbox: {open} waiting, {failed} failed",
            account.id.0,
            account.platform.display_name(),
            account.base_url,
            account.user_name.as_deref().unwrap_or("-"),
            account.last_sync_at.as_deref().unwrap_or("never"),
        );
    }
    match (&secrets.path, &secrets.fallback_reason) {
        (Some(path), Some(reason)) => {
            println!("secrets: file {} (no OS keyring: {reason})", path.display())
        }
        _ => println!("secrets: OS keyring"),
    }
    Ok(())
}

async fn sync(engine: &SyncEngine, out: &Output, args: SyncArgs) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let cancel = Cancellation::new();
    let progress = spawn_progress(engine, out.json);
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let result = engine
        .sync_account(&account, PullOptions { full: args.full }, &cancel)
        .await;
    ctrl_c.abort();
    progress.abort();
    let report = result?;
    let human = format!(
        "synced {}: pushed {} ({} failed, {} waiting); {} nodes, {} assets ({} changed), notes of {} versions ({} notes); offline: {} downloaded, {} complete, {} evicted{}",
        account.0,
        report.push.sent,
        report.push.failed_total,
        report.push.waiting,
        report.pull.nodes,
        report.pull.assets,
        report.pull.assets_changed,
        report.pull.versions_noted,
        report.pull.notes,
        report.offline.downloaded,
        report.offline.already_complete,
        report.offline.evicted,
        if report.offline.failed > 0 {
            format!(", {} failed", report.offline.failed)
        } else {
            String::new()
        }
    );
    out.line(&human, json!({"account": account.0, "report": report}));
    Ok(())
}

/// Prints progress to stderr while a sync runs (when stderr is a terminal or -v is on).
fn spawn_progress(engine: &SyncEngine, json: bool) -> tokio::task::JoinHandle<()> {
    let mut events = engine.subscribe();
    let show = std::io::stderr().is_terminal() && !json;
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if !show {
                continue;
            }
            let line = match &event {
                SyncEvent::Pull {
                    phase,
                    nodes,
                    assets,
                    versions,
                    notes,
                    ..
                } => {
                    format!(
                        "{phase:?}: {nodes} nodes, {assets} assets, {versions} versions, {notes} notes"
                    )
                }
                SyncEvent::Download {
                    version,
                    bytes,
                    total,
                    state,
                    ..
                } => format!(
                    "download {}: {bytes}/{} bytes ({state:?})",
                    version.0,
                    total.map_or("?".to_string(), |t| t.to_string())
                ),
                SyncEvent::Outbox {
                    op, state, error, ..
                } => {
                    format!(
                        "outbox #{op}: {state:?}{}",
                        error
                            .as_deref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    )
                }
                SyncEvent::LoginRequired { message, .. } => format!("sign-in required: {message}"),
                SyncEvent::Transfer(update) => {
                    let t = &update.record;
                    format!(
                        "upload #{} {}: {}/{} bytes {}{}",
                        t.id,
                        t.name,
                        t.bytes_done,
                        t.size,
                        t.state.key(),
                        update
                            .speed
                            .map(|s| format!(" at {:.1} MB/s", s / 1e6))
                            .unwrap_or_default()
                    )
                }
                SyncEvent::Finished { .. } | SyncEvent::WatchFolder { .. } => continue,
            };
            let mut err = std::io::stderr();
            let _ = writeln!(err, "{line}");
        }
    })
}

async fn ls(engine: &SyncEngine, out: &Output, args: LsArgs) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let node = args.node.map(RemoteId);
    let children = engine.cache().nodes(&account, node.as_ref()).await?;
    let assets = match &node {
        Some(node) => engine.cache().assets_in_node(&account, node).await?,
        None => Vec::new(),
    };
    if out.json {
        println!("{}", json!({"nodes": children, "assets": assets}));
        return Ok(());
    }
    for child in &children {
        println!(
            "{}/  {}  [{:?}]{}{}",
            child.node.id.0,
            child.node.name,
            child.node.kind,
            if child.asset_count > 0 {
                format!("  {} assets", child.asset_count)
            } else {
                String::new()
            },
            if child.pinned { "  (pinned)" } else { "" }
        );
    }
    for summary in &assets {
        let latest = summary.asset.versions.last();
        let offline = summary
            .offline
            .as_ref()
            .map(|m| format!("{:?}", m.state).to_lowercase())
            .unwrap_or_else(|| "online".into());
        println!(
            "{}  {}  {}  {} notes{}  {}{}",
            summary.asset.id.0,
            summary.asset.name,
            latest
                .map(|v| format!("{} ({})", v.label, v.id.0))
                .unwrap_or_else(|| "no version".into()),
            summary.note_count,
            if summary.unsent_note_count > 0 {
                format!(" ({} unsent)", summary.unsent_note_count)
            } else {
                String::new()
            },
            offline,
            if summary.asset.offline.allowed {
                ""
            } else {
                "  (offline not allowed)"
            }
        );
    }
    if children.is_empty() && assets.is_empty() {
        println!("nothing here (run `framenote sync` first?)");
    }
    Ok(())
}

async fn pin(engine: &SyncEngine, out: &Output, args: PinArgs, pin: bool) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let scope = match (args.asset, args.node) {
        (Some(asset), _) => PinScope::Asset(RemoteId(asset)),
        (None, Some(node)) => PinScope::Node(RemoteId(node)),
        (None, None) => return Err(CliError::Usage("give --asset or --node".into())),
    };
    if pin {
        engine.cache().pin(&account, &scope).await?;
    } else if !engine.cache().unpin(&account, &scope).await? {
        return Err(CliError::Usage("that was not pinned".into()));
    }
    let report = if args.now {
        Some(engine.sync_offline(&account, &Cancellation::new()).await?)
    } else {
        None
    };
    let verb = if pin { "pinned" } else { "unpinned" };
    let human = match &report {
        Some(r) => format!(
            "{verb}; {} downloaded, {} complete, {} evicted, {} failed, {} not allowed offline",
            r.downloaded, r.already_complete, r.evicted, r.failed, r.forbidden
        ),
        None => format!("{verb}; the next sync downloads or evicts"),
    };
    out.line(
        &human,
        json!({"pinned": pin, "scope": scope, "offline": report}),
    );
    Ok(())
}

async fn note(engine: &SyncEngine, out: &Output, args: NoteArgs) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let version_id = match (&args.version, &args.asset) {
        (Some(version), _) => RemoteId(version.clone()),
        (None, Some(asset)) => engine
            .cache()
            .versions_of(&account, &RemoteId(asset.clone()))
            .await?
            .last()
            .map(|v| v.id.clone())
            .ok_or_else(|| CliError::Usage(format!("asset {asset} has no version in the cache")))?,
        (None, None) => return Err(CliError::Usage("give --version or --asset".into())),
    };
    let version = engine.cache().version(&account, &version_id).await?.version;
    let clock = FrameClock::new(
        version.media.frame_rate,
        version.media.start_timecode,
        version.media.first_frame,
    )
    .map_err(|e| CliError::Usage(format!("version {}: {e}", version.id.0)))?;
    let index_of = |number: i64| -> CliResult<u64> {
        let index = clock.index_of_number(number);
        let within = version
            .media
            .frame_count
            .is_none_or(|count| index >= 0 && (index as u64) < count);
        if index < 0 || !within {
            return Err(CliError::Usage(format!(
                "frame {number} is outside the clip (frames {}–{})",
                version.media.first_frame,
                version.media.first_frame + version.media.frame_count.map_or(0, |c| c as i64 - 1)
            )));
        }
        Ok(index as u64)
    };
    let frames = match (args.frame, &args.timecode) {
        (Some(first), _) => {
            let start = index_of(first)?;
            let end = match args.to_frame {
                Some(last) => index_of(last)?,
                None => start,
            };
            if end < start {
                return Err(CliError::Usage("--to-frame is before --frame".into()));
            }
            Some(FrameSpan { start, end })
        }
        (None, Some(tc)) => {
            let index = clock
                .parse_timecode(tc)
                .map_err(|e| CliError::Usage(format!("timecode {tc}: {e}")))?;
            Some(FrameSpan::frame(index_of(clock.display_number(index))?))
        }
        (None, None) => None,
    };
    let drawing = match &args.drawing {
        Some(path) => Some(read_drawing(path)?),
        None => None,
    };
    if drawing.is_some() && frames.is_none() {
        return Err(CliError::Usage(
            "a drawing needs --frame or --timecode".into(),
        ));
    }
    let record = engine
        .cache()
        .create_local_note(&framenote_cache::NewLocalNote {
            account: account.clone(),
            version: version.id.clone(),
            parent: args.reply_to.map(framenote_core::NoteId),
            author: args.author,
            text: args.text,
            frames,
            drawing,
            platform_status: args.status,
        })
        .await?;
    out.line(
        &format!(
            "note {} saved on {}{}; it is queued — `framenote push` posts it",
            record.note.id.0,
            version.label,
            frames
                .map(|f| format!(" at frame {}", clock.display_number(f.start as i64)))
                .unwrap_or_default()
        ),
        json!({"note": record}),
    );
    Ok(())
}

fn read_drawing(path: &Path) -> CliResult<Drawing> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("drawing {}: {e}", path.display())))?;
    let drawing: Drawing = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "drawing {} is not Framenote drawing JSON: {e}",
            path.display()
        ))
    })?;
    if drawing.shapes.is_empty() {
        return Err(CliError::Usage(format!(
            "drawing {} has no shapes",
            path.display()
        )));
    }
    Ok(drawing)
}

async fn notes(engine: &SyncEngine, out: &Output, args: NotesArgs) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let notes = match (&args.version, args.unsent) {
        (Some(version), _) => {
            let mut notes = engine
                .cache()
                .notes_for_version(&account, &RemoteId(version.clone()))
                .await?;
            if args.unsent {
                notes.retain(|n| n.sync_state != NoteSyncState::Sent);
            }
            notes
        }
        (None, true) => engine.cache().unsent_notes(&account).await?,
        (None, false) => engine.cache().notes_for_account(&account).await?,
    };
    let mut ops = Vec::new();
    for note in &notes {
        if note.outbox_state.is_some() {
            ops.extend(
                engine
                    .cache()
                    .ops_for_note(&note.note.id)
                    .await?
                    .into_iter()
                    .filter(|op| {
                        matches!(
                            op.state,
                            framenote_cache::OpState::Queued
                                | framenote_cache::OpState::InFlight
                                | framenote_cache::OpState::Failed
                        )
                    }),
            );
        }
    }
    let drawings = match &args.version {
        Some(version) => {
            engine
                .cache()
                .free_drawings(&account, &RemoteId(version.clone()))
                .await?
        }
        None => Vec::new(),
    };
    if out.json {
        println!(
            "{}",
            json!({"notes": notes, "operations": ops, "drawings": drawings})
        );
        return Ok(());
    }
    for drawing in &drawings {
        println!(
            "drawing at frame index {} ({} shape(s), not attached to a note)",
            drawing.frames.start,
            drawing.drawing.shapes.len()
        );
    }
    for note in &notes {
        println!("{}", describe_note(note));
        for op in ops
            .iter()
            .filter(|op| op.note.as_ref() == Some(&note.note.id))
        {
            println!(
                "    outbox #{} {:?}: {:?}, {} attempt(s){}",
                op.id,
                op.kind,
                op.state,
                op.attempts,
                op.last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    if notes.is_empty() {
        println!("no notes");
    }
    Ok(())
}

fn describe_note(note: &NoteRecord) -> String {
    let frames = match note.note.frames {
        Some(span) if span.start == span.end => format!("frame index {}", span.start),
        Some(span) => format!("frames {}–{}", span.start, span.end),
        None => "whole version".into(),
    };
    let state = match note.sync_state {
        NoteSyncState::Pending => "pending",
        NoteSyncState::Sent => "sent",
        NoteSyncState::Failed => "FAILED",
        NoteSyncState::Discarded => "discarded (not posted)",
    };
    format!(
        "{}  [{state}]  {}  {}  {}{}{}: {}",
        note.note.id.0,
        note.note.version.0,
        frames,
        note.note.author,
        if note.note.drawing.is_some() {
            " +drawing"
        } else {
            ""
        },
        if note.note.status == NoteStatus::Resolved {
            " (resolved)"
        } else {
            ""
        },
        note.note.text
    )
}

async fn push(engine: &SyncEngine, out: &Output, args: PushArgs) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let cancel = Cancellation::new();
    let progress = spawn_progress(engine, out.json);
    let report = engine
        .push_until_settled(&account, Duration::from_secs(args.wait), &cancel)
        .await;
    progress.abort();
    let report = report?;
    out.line(
        &format!(
            "pushed {} ({} recognised as already posted); {} retried, {} failed now, {} still waiting, {} failed in total",
            report.sent, report.recognised, report.retried, report.failed, report.waiting, report.failed_total
        ),
        json!({"account": account.0, "report": report}),
    );
    if report.waiting > 0 || report.failed_total > 0 {
        return Err(CliError::Partial(format!(
            "{} operation(s) still waiting and {} failed; they stay queued",
            report.waiting, report.failed_total
        )));
    }
    Ok(())
}

async fn status(engine: &SyncEngine, out: &Output, args: AccountArg) -> CliResult<()> {
    let account = pick_account(engine, &args).await?;
    let outbox = engine.cache().outbox_summary(Some(&account)).await?;
    let ops = engine.cache().outbox_ops(&account, false).await?;
    let offline_bytes = engine.cache().offline_bytes(Some(&account)).await?;
    let media = engine.cache().media_files(&account).await?;
    if out.json {
        println!(
            "{}",
            json!({"outbox": outbox, "operations": ops, "offline_bytes": offline_bytes, "media": media})
        );
        return Ok(());
    }
    println!(
        "outbox: {} queued, {} in flight, {} failed, {} done",
        outbox.queued, outbox.in_flight, outbox.failed, outbox.done
    );
    for op in &ops {
        println!(
            "  #{} {:?} {:?} on {}{}",
            op.id,
            op.kind,
            op.state,
            op.asset.0,
            op.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    println!(
        "offline: {offline_bytes} bytes in {} file(s)",
        media.iter().filter(|m| m.local_path.is_some()).count()
    );
    Ok(())
}

async fn export(engine: &SyncEngine, out: &Output, args: ExportArgs) -> CliResult<()> {
    let account = pick_account(engine, &args.account).await?;
    let export = engine.notes_csv(&account).await?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &export.csv)
                .map_err(|e| CliError::Io(format!("writing {}: {e}", path.display())))?;
            out.line(
                &format!("exported {} notes to {}", export.notes, path.display()),
                json!({"exported": export.notes, "path": path}),
            );
        }
        None => print!("{}", export.csv),
    }
    Ok(())
}

/// A probe for the local library that asks `ffprobe` (used where the GStreamer player is not
/// linked, e.g. the headless `framenote-cli` build).
pub fn ffprobe_probe() -> Probe {
    Arc::new(|path: &Path| {
        let output = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-count_packets",
                "-show_entries",
                "stream=r_frame_rate,nb_read_packets,width,height:stream_tags=timecode:format=size",
                "-of",
                "json",
            ])
            .arg(path)
            .output()
            .map_err(|e| format!("ffprobe: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "ffprobe: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| format!("ffprobe output: {e}"))?;
        let stream = &v["streams"][0];
        let (num, den) = stream["r_frame_rate"]
            .as_str()
            .and_then(|r| r.split_once('/'))
            .and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
            .filter(|(n, d)| *n > 0 && *d > 0)
            .ok_or("ffprobe: no frame rate")?;
        let rate = framenote_core::FrameRate::new(num, den);
        let start_timecode = stream["tags"]["timecode"]
            .as_str()
            .and_then(|tc| framenote_core::Timecode::parse(tc, rate).ok());
        Ok(framenote_core::MediaInfo {
            frame_rate: rate,
            start_timecode,
            first_frame: 0,
            frame_count: stream["nb_read_packets"]
                .as_str()
                .and_then(|n| n.parse().ok()),
            width: stream["width"].as_u64().and_then(|w| u32::try_from(w).ok()),
            height: stream["height"]
                .as_u64()
                .and_then(|h| u32::try_from(h).ok()),
            bytes: v["format"]["size"].as_str().and_then(|s| s.parse().ok()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands_are_recognised_before_the_window_starts() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wants_cli(&args(&["sync"])));
        assert!(wants_cli(&args(&["--data-dir", "/tmp/x", "notes"])));
        assert!(!wants_cli(&args(&[])));
        assert!(!wants_cli(&args(&["--some-webview-flag"])));
    }
}
