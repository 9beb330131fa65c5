//! Notes: what reviewers wrote, local and remote, in one table keyed by the client-generated
//! [`NoteId`].
//!
//! A local note is written together with its outbox operation in one transaction
//! ([`Cache::create_local_note`]), so it can never exist without the work that posts it, nor the
//! work without the note. Remote listings are merged ([`Cache::apply_remote_notes`]) without ever
//! overwriting a note that still has open outbox work: the user's pending change wins until it
//! reached the platform. A remote note that carries one of our client ids is linked to the local
//! note it came from, which is how a post whose response was lost is recognised.

use std::collections::HashSet;

use framenote_core::{AccountId, Drawing, FrameSpan, Note, NoteId, NoteStatus, RemoteId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::outbox::{OpKind, OpState};
use crate::rows::{fingerprint, note_status_from_key, note_status_key, opt_to_u64, to_i64};
use crate::{Cache, CacheError, Result, now_rfc3339};

/// Where a note stands with the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteSyncState {
    /// Written here, waiting in the outbox.
    Pending,
    /// On the platform.
    Sent,
    /// The platform refused it for good (403, asset deleted…): text kept, retry or discard.
    Failed,
    /// The user chose not to post it; kept locally, never sent.
    Discarded,
}

impl NoteSyncState {
    /// The stored key.
    pub fn key(self) -> &'static str {
        match self {
            NoteSyncState::Pending => "pending",
            NoteSyncState::Sent => "sent",
            NoteSyncState::Failed => "failed",
            NoteSyncState::Discarded => "discarded",
        }
    }
    fn from_key(key: &str) -> Result<Self> {
        Ok(match key {
            "pending" => NoteSyncState::Pending,
            "sent" => NoteSyncState::Sent,
            "failed" => NoteSyncState::Failed,
            "discarded" => NoteSyncState::Discarded,
            other => return Err(CacheError::corrupt("note sync state", other)),
        })
    }
}

/// A note with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteRecord {
    /// The note.
    pub note: Note,
    /// The account it belongs to.
    pub account: AccountId,
    /// The asset of its version.
    pub asset: RemoteId,
    /// Written here (true) or pulled from the platform (false).
    pub local: bool,
    /// Where its creation stands.
    pub sync_state: NoteSyncState,
    /// State of its oldest unfinished outbox operation (creation, reply or status change), if any.
    pub outbox_state: Option<OpState>,
    /// The last error the platform gave, shown next to a failed note.
    pub last_error: Option<String>,
}

/// A note to write locally (and post later).
#[derive(Debug, Clone)]
pub struct NewLocalNote {
    /// The account.
    pub account: AccountId,
    /// The version it is about.
    pub version: RemoteId,
    /// The note it answers, for replies.
    pub parent: Option<NoteId>,
    /// Author as shown until the platform's own name comes back.
    pub author: String,
    /// Plain text.
    pub text: String,
    /// Frames (media indices).
    pub frames: Option<FrameSpan>,
    /// Drawing on those frames.
    pub drawing: Option<Drawing>,
    /// A platform status to set with the note (e.g. a Kitsu task status), where supported.
    pub platform_status: Option<String>,
}

/// A note as a platform listed it (the cache's own copy of the connector's shape, so this crate
/// needs no HTTP stack).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteNoteData {
    /// The platform's id.
    pub remote_id: RemoteId,
    /// The platform's id of the note it answers.
    pub parent: Option<RemoteId>,
    /// Author.
    pub author: String,
    /// RFC 3339.
    pub created_at: String,
    /// Plain text.
    pub text: String,
    /// Frames.
    pub frames: Option<FrameSpan>,
    /// Open or resolved.
    pub status: NoteStatus,
    /// Drawing.
    pub drawing: Option<Drawing>,
    /// Framenote's client id, when the platform kept it.
    pub client_id: Option<String>,
}

/// The notes of one version, as listed by the platform.
#[derive(Debug, Clone)]
pub struct VersionNotes {
    /// The version.
    pub version: RemoteId,
    /// Its notes.
    pub notes: Vec<RemoteNoteData>,
    /// Drawings on it that belong to no note; `None` leaves the stored ones as they are.
    pub free_drawings: Option<Vec<FrameDrawingRecord>>,
}

/// A drawing on a version's frames that belongs to no note.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameDrawingRecord {
    /// Where it is drawn.
    pub frames: FrameSpan,
    /// What is drawn.
    pub drawing: Drawing,
}

#[derive(sqlx::FromRow)]
pub(crate) struct NoteRow {
    id: String,
    account_id: String,
    remote_id: Option<String>,
    version_id: String,
    asset_id: String,
    parent_id: Option<String>,
    author: String,
    created_at: String,
    text: String,
    frame_start: Option<i64>,
    frame_end: Option<i64>,
    status: String,
    drawing: Option<String>,
    origin: String,
    sync_state: String,
    last_error: Option<String>,
    outbox_state: Option<String>,
}

impl TryFrom<NoteRow> for NoteRecord {
    type Error = CacheError;
    fn try_from(row: NoteRow) -> Result<Self> {
        let frames = match (
            opt_to_u64(row.frame_start, "frame")?,
            opt_to_u64(row.frame_end, "frame")?,
        ) {
            (Some(start), Some(end)) => Some(FrameSpan { start, end }),
            (Some(start), None) => Some(FrameSpan::frame(start)),
            _ => None,
        };
        let drawing = row
            .drawing
            .as_deref()
            .map(serde_json::from_str::<Drawing>)
            .transpose()
            .map_err(|e| CacheError::corrupt("note drawing", e))?;
        Ok(NoteRecord {
            note: Note {
                id: NoteId(row.id),
                remote_id: row.remote_id.map(RemoteId),
                version: RemoteId(row.version_id),
                parent: row.parent_id.map(NoteId),
                author: row.author,
                created_at: row.created_at,
                text: row.text,
                frames,
                status: note_status_from_key(&row.status)?,
                drawing,
            },
            account: AccountId(row.account_id),
            asset: RemoteId(row.asset_id),
            local: row.origin == "local",
            sync_state: NoteSyncState::from_key(&row.sync_state)?,
            outbox_state: row
                .outbox_state
                .as_deref()
                .map(OpState::from_key)
                .transpose()?,
            last_error: row.last_error,
        })
    }
}

/// Column list shared by the note queries (a `&'static str` concatenation keeps sqlx's SQL-safety
/// check satisfied without asserting anything).
macro_rules! note_select {
    ($tail:literal) => {
        concat!(
            "SELECT n.id, n.account_id, n.remote_id, n.version_id, n.asset_id, n.parent_id, \
             n.author, n.created_at, n.text, n.frame_start, n.frame_end, n.status, n.drawing, \
             n.origin, n.sync_state, n.last_error, \
             (SELECT o.state FROM outbox AS o WHERE o.note_id = n.id \
                 AND o.state IN ('queued', 'in_flight', 'failed') ORDER BY o.id LIMIT 1) \
                 AS outbox_state \
             FROM notes AS n ",
            $tail
        )
    };
}

fn frames_columns(frames: Option<FrameSpan>) -> Result<(Option<i64>, Option<i64>)> {
    Ok(match frames {
        Some(span) => (
            Some(to_i64(span.start, "frame")?),
            Some(to_i64(span.end, "frame")?),
        ),
        None => (None, None),
    })
}

fn drawing_column(drawing: Option<&Drawing>) -> Result<Option<String>> {
    drawing
        .filter(|d| !d.is_empty())
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| CacheError::Invalid(format!("cannot encode drawing: {e}")))
}

impl Cache {
    /// Writes a note and the outbox operation that will post it, in one transaction.
    pub async fn create_local_note(&self, new: &NewLocalNote) -> Result<NoteRecord> {
        if new.text.trim().is_empty() && new.drawing.as_ref().is_none_or(Drawing::is_empty) {
            return Err(CacheError::Invalid("a note needs text or a drawing".into()));
        }
        if let Some(span) = new.frames
            && span.end < span.start
        {
            return Err(CacheError::Invalid(format!(
                "frame range {}–{} ends before it starts",
                span.start, span.end
            )));
        }
        let mut tx = self.pool.begin().await?;
        let asset: Option<String> = sqlx::query_scalar(
            "SELECT asset_id FROM versions WHERE account_id = ?1 AND remote_id = ?2",
        )
        .bind(&new.account.0)
        .bind(&new.version.0)
        .fetch_optional(&mut *tx)
        .await?;
        let asset = asset.ok_or_else(|| CacheError::not_found("version", new.version.0.clone()))?;
        if let Some(parent) = &new.parent {
            let parent_version: Option<String> = sqlx::query_scalar(
                "SELECT version_id FROM notes WHERE id = ?1 AND account_id = ?2",
            )
            .bind(&parent.0)
            .bind(&new.account.0)
            .fetch_optional(&mut *tx)
            .await?;
            match parent_version {
                None => return Err(CacheError::not_found("note", parent.0.clone())),
                Some(v) if v != new.version.0 => {
                    return Err(CacheError::Invalid(
                        "a reply must be on the same version as the note it answers".into(),
                    ));
                }
                Some(_) => {}
            }
        }
        let id = NoteId::generate();
        let (frame_start, frame_end) = frames_columns(new.frames)?;
        let now = now_rfc3339();
        sqlx::query(
            "INSERT INTO notes (id, account_id, remote_id, version_id, asset_id, parent_id, author, \
                 created_at, text, frame_start, frame_end, status, drawing, origin, sync_state) \
             VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'open', ?11, 'local', 'pending')",
        )
        .bind(&id.0)
        .bind(&new.account.0)
        .bind(&new.version.0)
        .bind(&asset)
        .bind(new.parent.as_ref().map(|p| p.0.as_str()))
        .bind(&new.author)
        .bind(&now)
        .bind(&new.text)
        .bind(frame_start)
        .bind(frame_end)
        .bind(drawing_column(new.drawing.as_ref())?)
        .execute(&mut *tx)
        .await?;
        let kind = if new.parent.is_some() {
            OpKind::Reply
        } else {
            OpKind::CreateNote
        };
        let payload = json!({ "platform_status": new.platform_status }).to_string();
        crate::outbox::insert_op(&mut tx, &new.account, kind, Some(&id), &asset, &payload).await?;
        tx.commit().await?;
        self.note(&id).await
    }

    /// Changes a note's open/resolved status here and queues the change for the platform. A
    /// discarded note only changes locally.
    pub async fn set_local_note_status(
        &self,
        id: &NoteId,
        status: NoteStatus,
    ) -> Result<NoteRecord> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT account_id, asset_id, sync_state, status FROM notes WHERE id = ?1",
        )
        .bind(&id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let (account, asset, sync_state, current) =
            row.ok_or_else(|| CacheError::not_found("note", id.0.clone()))?;
        if current != note_status_key(status) {
            sqlx::query("UPDATE notes SET status = ?2 WHERE id = ?1")
                .bind(&id.0)
                .bind(note_status_key(status))
                .execute(&mut *tx)
                .await?;
            if sync_state != NoteSyncState::Discarded.key() {
                let payload = json!({ "status": status }).to_string();
                crate::outbox::insert_op(
                    &mut tx,
                    &AccountId(account),
                    OpKind::SetStatus,
                    Some(id),
                    &asset,
                    &payload,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.note(id).await
    }

    /// One note.
    pub async fn note(&self, id: &NoteId) -> Result<NoteRecord> {
        let row: Option<NoteRow> = sqlx::query_as(note_select!("WHERE n.id = ?1"))
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or_else(|| CacheError::not_found("note", id.0.clone()))?
            .try_into()
    }

    /// Notes of a version, oldest first (replies carry their parent's id).
    pub async fn notes_for_version(
        &self,
        account: &AccountId,
        version: &RemoteId,
    ) -> Result<Vec<NoteRecord>> {
        let rows: Vec<NoteRow> = sqlx::query_as(note_select!(
            "WHERE n.account_id = ?1 AND n.version_id = ?2 ORDER BY n.created_at, n.id"
        ))
        .bind(&account.0)
        .bind(&version.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Every note of an account (export), oldest first.
    pub async fn notes_for_account(&self, account: &AccountId) -> Result<Vec<NoteRecord>> {
        let rows: Vec<NoteRow> = sqlx::query_as(note_select!(
            "WHERE n.account_id = ?1 ORDER BY n.asset_id, n.version_id, n.created_at, n.id"
        ))
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Notes of an account that are not on the platform (pending, failed, discarded).
    pub async fn unsent_notes(&self, account: &AccountId) -> Result<Vec<NoteRecord>> {
        let rows: Vec<NoteRow> = sqlx::query_as(note_select!(
            "WHERE n.account_id = ?1 AND n.sync_state != 'sent' ORDER BY n.created_at, n.id"
        ))
        .bind(&account.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Merges the notes the platform listed for a batch of versions, in one transaction, and marks
    /// `synced_assets` as having current notes. For each version: notes carrying one of our client
    /// ids are linked to the local note; other notes are inserted or updated (unless they have open
    /// outbox work); posted notes that the platform no longer lists are removed. Returns the number
    /// of rows changed.
    pub async fn apply_remote_notes(
        &self,
        account: &AccountId,
        batch: &[VersionNotes],
        synced_assets: &[RemoteId],
    ) -> Result<u64> {
        let mut rows = Vec::new();
        let mut version_ids = Vec::with_capacity(batch.len());
        for entry in batch {
            version_ids.push(entry.version.0.as_str());
            for note in &entry.notes {
                let bytes = serde_json::to_vec(note)
                    .map_err(|e| CacheError::Invalid(format!("cannot encode note: {e}")))?;
                let (frame_start, frame_end) = frames_columns(note.frames)?;
                rows.push(json!({
                    "new_id": NoteId::generate().0,
                    "remote_id": note.remote_id.0,
                    "version": entry.version.0,
                    "parent": note.parent.as_ref().map(|p| p.0.as_str()),
                    "author": note.author,
                    "created_at": note.created_at,
                    "text": note.text,
                    "frame_start": frame_start,
                    "frame_end": frame_end,
                    "status": note_status_key(note.status),
                    "drawing": drawing_column(note.drawing.as_ref())?,
                    "client_id": note.client_id,
                    "fingerprint": fingerprint(&bytes),
                }));
            }
        }
        let rows = serde_json::to_string(&rows)
            .map_err(|e| CacheError::Invalid(format!("cannot encode notes: {e}")))?;
        let version_ids = serde_json::to_string(&version_ids)
            .map_err(|e| CacheError::Invalid(format!("cannot encode ids: {e}")))?;
        let assets: Vec<&str> = synced_assets.iter().map(|a| a.0.as_str()).collect();
        let assets = serde_json::to_string(&assets)
            .map_err(|e| CacheError::Invalid(format!("cannot encode ids: {e}")))?;

        let mut tx = self.pool.begin().await?;
        let mut changed = 0;
        // The listing is staged once in an indexed temporary table: joining `json_each` directly
        // re-parses the JSON for every probe, which made large batches quadratic.
        sqlx::query(
            "CREATE TEMP TABLE IF NOT EXISTS incoming_notes ( \
                 remote_id TEXT PRIMARY KEY NOT NULL, new_id TEXT NOT NULL, version TEXT NOT NULL, \
                 parent TEXT, author TEXT, created_at TEXT, text TEXT, frame_start INTEGER, \
                 frame_end INTEGER, status TEXT, drawing TEXT, client_id TEXT, fingerprint TEXT)",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM temp.incoming_notes")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "WITH rows(v) AS MATERIALIZED (SELECT value FROM json_each(?1)) \
             INSERT OR REPLACE INTO temp.incoming_notes (remote_id, new_id, version, parent, author, \
                 created_at, text, frame_start, frame_end, status, drawing, client_id, fingerprint) \
             SELECT v ->> '$.remote_id', v ->> '$.new_id', v ->> '$.version', \
                 v ->> '$.parent', v ->> '$.author', v ->> '$.created_at', \
                 v ->> '$.text', v ->> '$.frame_start', v ->> '$.frame_end', \
                 v ->> '$.status', v ->> '$.drawing', v ->> '$.client_id', \
                 v ->> '$.fingerprint' \
             FROM rows",
        )
        .bind(&rows)
        .execute(&mut *tx)
        .await?;
        // 1. Our own notes coming back: link them (a post whose answer was lost, or a pull that
        //    ran before the outbox recorded the post). An echo row inserted earlier without the
        //    client id is removed first so the remote id stays unique.
        let linked: Vec<(String, String)> = sqlx::query_as(
            "SELECT n.id, i.remote_id FROM temp.incoming_notes AS i \
             JOIN notes AS n ON n.id = i.client_id AND n.account_id = ?1 \
             WHERE n.remote_id IS NOT i.remote_id",
        )
        .bind(&account.0)
        .fetch_all(&mut *tx)
        .await?;
        for (note_id, remote_id) in &linked {
            changed += link_in_tx(&mut tx, account, &NoteId(note_id.clone()), remote_id).await?;
        }
        // 2. Upsert everything else, leaving notes with open outbox work untouched.
        changed += sqlx::query(
            "INSERT INTO notes (id, account_id, remote_id, version_id, asset_id, author, \
                 created_at, text, frame_start, frame_end, status, drawing, origin, sync_state, \
                 fingerprint) \
             SELECT i.new_id, ?1, i.remote_id, v.remote_id, v.asset_id, i.author, \
                 i.created_at, i.text, i.frame_start, i.frame_end, i.status, i.drawing, \
                 'remote', 'sent', i.fingerprint \
             FROM temp.incoming_notes AS i JOIN versions AS v \
                 ON v.account_id = ?1 AND v.remote_id = i.version \
             WHERE true \
             ON CONFLICT (account_id, remote_id) DO UPDATE SET version_id = excluded.version_id, \
                 asset_id = excluded.asset_id, author = excluded.author, \
                 created_at = excluded.created_at, text = excluded.text, \
                 frame_start = excluded.frame_start, frame_end = excluded.frame_end, \
                 status = excluded.status, drawing = excluded.drawing, sync_state = 'sent', \
                 last_error = NULL, fingerprint = excluded.fingerprint \
             WHERE notes.fingerprint IS NOT excluded.fingerprint \
                 AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.note_id = notes.id \
                     AND o.state IN ('queued', 'in_flight', 'failed'))",
        )
        .bind(&account.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // 3. Thread replies: map the platform's parent id to our note id.
        changed += sqlx::query(
            "UPDATE notes SET parent_id = p.id \
             FROM temp.incoming_notes AS i JOIN notes AS p \
                 ON p.account_id = ?1 AND p.remote_id = i.parent \
             WHERE notes.account_id = ?1 AND notes.remote_id = i.remote_id \
                 AND notes.parent_id IS NOT p.id",
        )
        .bind(&account.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // 4. Posted notes the platform no longer lists for these versions were deleted there.
        //    Their finished outbox history goes with them; open work never does.
        let gone: Vec<String> = sqlx::query_scalar(
            "SELECT n.id FROM notes AS n \
             WHERE n.account_id = ?1 AND n.version_id IN (SELECT value FROM json_each(?2)) \
                 AND n.sync_state = 'sent' AND n.remote_id IS NOT NULL \
                 AND n.remote_id NOT IN (SELECT remote_id FROM temp.incoming_notes) \
                 AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.note_id = n.id \
                     AND o.state IN ('queued', 'in_flight', 'failed'))",
        )
        .bind(&account.0)
        .bind(&version_ids)
        .fetch_all(&mut *tx)
        .await?;
        if !gone.is_empty() {
            let gone = serde_json::to_string(&gone)
                .map_err(|e| CacheError::Invalid(format!("cannot encode ids: {e}")))?;
            sqlx::query("DELETE FROM outbox WHERE note_id IN (SELECT value FROM json_each(?1))")
                .bind(&gone)
                .execute(&mut *tx)
                .await?;
            changed +=
                sqlx::query("DELETE FROM notes WHERE id IN (SELECT value FROM json_each(?1))")
                    .bind(&gone)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        // 5. Free drawings, replaced per version when the platform listed them.
        let mut drawing_rows = Vec::new();
        let mut drawing_versions = Vec::new();
        for entry in batch {
            let Some(drawings) = &entry.free_drawings else {
                continue;
            };
            drawing_versions.push(entry.version.0.as_str());
            for d in drawings {
                let (start, end) = frames_columns(Some(d.frames))?;
                drawing_rows.push(json!({
                    "version": entry.version.0,
                    "start": start,
                    "end": end,
                    "drawing": drawing_column(Some(&d.drawing))?,
                }));
            }
        }
        if !drawing_versions.is_empty() {
            let versions = serde_json::to_string(&drawing_versions)
                .map_err(|e| CacheError::Invalid(format!("cannot encode ids: {e}")))?;
            let rows = serde_json::to_string(&drawing_rows)
                .map_err(|e| CacheError::Invalid(format!("cannot encode drawings: {e}")))?;
            sqlx::query(
                "DELETE FROM frame_drawings WHERE account_id = ?1 \
                 AND version_id IN (SELECT value FROM json_each(?2))",
            )
            .bind(&account.0)
            .bind(&versions)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "WITH rows(v) AS MATERIALIZED (SELECT value FROM json_each(?2)) \
                 INSERT INTO frame_drawings (account_id, version_id, frame_start, frame_end, drawing) \
                 SELECT ?1, v ->> '$.version', v ->> '$.start', v ->> '$.end', \
                     v ->> '$.drawing' \
                 FROM rows WHERE v ->> '$.drawing' IS NOT NULL",
            )
            .bind(&account.0)
            .bind(&rows)
            .execute(&mut *tx)
            .await?;
        }
        // 6. These assets' notes are now current.
        sqlx::query(
            "UPDATE assets SET notes_fingerprint = fingerprint WHERE account_id = ?1 \
                 AND remote_id IN (SELECT value FROM json_each(?2)) \
                 AND notes_fingerprint IS NOT fingerprint",
        )
        .bind(&account.0)
        .bind(&assets)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Drawings on a version that belong to no note, by frame.
    pub async fn free_drawings(
        &self,
        account: &AccountId,
        version: &RemoteId,
    ) -> Result<Vec<FrameDrawingRecord>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT frame_start, frame_end, drawing FROM frame_drawings \
             WHERE account_id = ?1 AND version_id = ?2 ORDER BY frame_start",
        )
        .bind(&account.0)
        .bind(&version.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(start, end, drawing)| {
                Ok(FrameDrawingRecord {
                    frames: FrameSpan {
                        start: crate::rows::to_u64(start, "frame")?,
                        end: crate::rows::to_u64(end, "frame")?,
                    },
                    drawing: serde_json::from_str(&drawing)
                        .map_err(|e| CacheError::corrupt("drawing", e))?,
                })
            })
            .collect()
    }

    /// Records that a local note is on the platform under `remote_id` and closes its creation
    /// operation, in one transaction. Used by the outbox after a post, and after recognising a
    /// post whose answer was lost.
    pub async fn link_posted_note(
        &self,
        account: &AccountId,
        note: &NoteId,
        remote_id: &RemoteId,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        link_in_tx(&mut tx, account, note, &remote_id.0).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remote ids of the notes already known for a version (so a retry can tell our lost post
    /// apart from notes others wrote).
    pub async fn known_remote_note_ids(
        &self,
        account: &AccountId,
        version: &RemoteId,
    ) -> Result<HashSet<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT remote_id FROM notes WHERE account_id = ?1 AND version_id = ?2 \
             AND remote_id IS NOT NULL AND origin = 'local'",
        )
        .bind(&account.0)
        .bind(&version.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().collect())
    }
}

/// Links `note` to `remote_id` inside a transaction: drops an echo row that holds the same remote
/// id without outbox work (a pull that saw our post before we recorded it), sets the remote id,
/// marks the note sent and closes its creation operation.
async fn link_in_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    account: &AccountId,
    note: &NoteId,
    remote_id: &str,
) -> Result<u64> {
    let mut changed = sqlx::query(
        "DELETE FROM notes WHERE account_id = ?1 AND remote_id = ?2 AND id != ?3 \
         AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.note_id = notes.id)",
    )
    .bind(&account.0)
    .bind(remote_id)
    .bind(&note.0)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    changed += sqlx::query(
        "UPDATE notes SET remote_id = ?3, sync_state = 'sent', last_error = NULL \
         WHERE id = ?1 AND account_id = ?2",
    )
    .bind(&note.0)
    .bind(&account.0)
    .bind(remote_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE outbox SET state = 'done', last_error = NULL, error_kind = NULL, updated_at = ?2 \
         WHERE note_id = ?1 AND kind IN (?3, ?4) AND state IN ('queued', 'in_flight', 'failed')",
    )
    .bind(&note.0)
    .bind(now_rfc3339())
    .bind(OpKind::CreateNote.key())
    .bind(OpKind::Reply.key())
    .execute(&mut **tx)
    .await?;
    Ok(changed)
}
