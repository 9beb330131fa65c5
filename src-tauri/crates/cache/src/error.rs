//! Cache errors: what went wrong with the database, classified for callers, without leaking SQL
//! to the UI. Messages never contain note text or secrets (there are none here anyway).

/// A failed cache call.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The database file could not be opened or created.
    #[error("cannot open the local database at {path}: {detail}")]
    Open {
        /// Where.
        path: String,
        /// Why, as SQLite said.
        detail: String,
    },
    /// The schema could not be brought up to date (for example a database from a newer Framenote).
    #[error("cannot update the local database schema: {0}")]
    Migrate(String),
    /// A query failed (disk full, locked for too long, I/O error).
    #[error("local database error: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value could not be understood; the row is left as it is.
    #[error("unreadable {what} in the local database: {detail}")]
    Corrupt {
        /// Which column or value.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// Something the caller named does not exist.
    #[error("{what} {id} is not in the local database")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The request contradicts what is stored (e.g. replying to a note of another version).
    #[error("{0}")]
    Invalid(String),
}

impl CacheError {
    pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        CacheError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        CacheError::NotFound {
            what,
            id: id.into(),
        }
    }
}
