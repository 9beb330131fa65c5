//! Framenote's local database: the only crate that knows SQL.
//!
//! One SQLite file (WAL mode, forward-only migrations embedded with `sqlx::migrate!`) holds the
//! accounts (never their secrets), the browse tree, assets and versions with their media facts,
//! offline copies and pins, notes, the durable outbox, sync cursors, the upload queue and watch
//! folders. Everything above this
//! crate speaks the typed API below; rows are read with runtime-checked `sqlx::query_as` into
//! private row structs and converted to `framenote-core` types, so a bad row is a typed
//! [`CacheError::Corrupt`], never a panic.
//!
//! Durability: every write that matters to a user (a note and its outbox operation) is one
//! transaction, committed with `synchronous = FULL`, so a `kill -9` or a power cut at any point
//! leaves either both or neither.

mod accounts;
mod error;
mod library;
mod media;
mod notes;
mod outbox;
mod rows;
mod transfers;

pub use accounts::{AccountRecord, NewAccount};
pub use error::CacheError;
pub use library::{AssetChanges, AssetSummary, NodeRecord, VersionRecord};
pub use media::{MediaFileRecord, MediaPlan, MediaState, PinRecord, PinScope, WantedMedia};
pub use notes::{
    FrameDrawingRecord, NewLocalNote, NoteRecord, NoteSyncState, RemoteNoteData, VersionNotes,
};
pub use outbox::{OpKind, OpState, OutboxOp, OutboxSummary};
pub use transfers::{
    NewTransfer, NewWatchFolder, TransferRecord, TransferState, WatchFileRecord, WatchFolderRecord,
};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Result of every cache call.
pub type Result<T> = std::result::Result<T, CacheError>;

/// The open database. Cheap to clone (a connection pool inside); share one per process.
#[derive(Clone, Debug)]
pub struct Cache {
    pool: SqlitePool,
}

impl Cache {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| CacheError::Open {
                path: path.display().to_string(),
                detail: source.to_string(),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed note survives a power cut, not only a crash. Bulk sync writes are
            // batched into few transactions, so the extra fsync per commit costs little.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A sync of tens of thousands of assets and notes touches more pages than SQLite's
            // default 2 MiB cache holds; re-reading them from the OS costs more than the memory.
            .pragma("cache_size", "-32768")
            // The staging tables of batched writes (`temp.incoming_notes`) stay in memory.
            .pragma("temp_store", "MEMORY")
            // The app and the CLI may open the same file at once; wait instead of failing.
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options, path.display().to_string()).await
    }

    /// Opens a private in-memory database (unit tests, throwaway runs).
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| CacheError::Open {
                path: ":memory:".into(),
                detail: source.to_string(),
            })?
            .foreign_keys(true);
        Self::connect_single(options).await
    }

    async fn connect(options: SqliteConnectOptions, label: String) -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            // SQLite has one writer at a time; a few readers keep the UI responsive during a sync.
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| CacheError::Open {
                path: label,
                detail: source.to_string(),
            })?;
        Self::migrate(pool).await
    }

    async fn connect_single(options: SqliteConnectOptions) -> Result<Self> {
        // An in-memory database lives in one connection; a pool of one keeps it alive.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| CacheError::Open {
                path: ":memory:".into(),
                detail: source.to_string(),
            })?;
        Self::migrate(pool).await
    }

    async fn migrate(pool: SqlitePool) -> Result<Self> {
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| CacheError::Migrate(source.to_string()))?;
        Ok(Self { pool })
    }

    /// Closes every connection, checkpointing the WAL. Further calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, as stored in human timestamp columns.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, as stored in scheduling columns.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
