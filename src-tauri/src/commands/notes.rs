//! Notes: list a version's threads from the cache, and write notes, replies and status changes
//! into the outbox (one transaction with the note), then nudge the flusher. Nothing typed is lost:
//! a note is in SQLite before this command returns, whether or not the platform is reachable.

use framenote_cache::{NewLocalNote, NoteRecord, NoteSyncState, OpState};
use framenote_core::timecode::FrameClock;
use framenote_core::{AccountId, Drawing, FrameSpan, NoteId, NoteStatus, RemoteId};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::commands::library::{split_version_key, version_key};
use crate::commands::sync::flush_outbox_soon;
use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::{AppState, cache_error};

/// Where a note stands with the platform.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutboxState {
    /// On the platform.
    Sent,
    /// Waiting in the outbox.
    Pending,
    /// The platform refused it; the text is kept.
    Failed {
        /// Why, in the platform's words.
        reason: String,
    },
}

/// A frame span as the UI reads it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, specta::Type)]
pub struct FramesView {
    /// First frame (media index).
    pub start: u64,
    /// Last frame, inclusive.
    pub end: u64,
}

/// One note.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct NoteView {
    id: String,
    version_key: String,
    parent_id: Option<String>,
    author: String,
    created_at: String,
    text: String,
    frames: Option<FramesView>,
    timecode: Option<String>,
    status: NoteStatus,
    drawing: Option<Drawing>,
    outbox: OutboxState,
    review_status: Option<String>,
    frame_thumbnail_url: Option<String>,
}

/// A note and its replies, oldest first.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct NoteThread {
    root: NoteView,
    replies: Vec<NoteView>,
}

/// A note to write.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct NewNote {
    version_key: String,
    parent_id: Option<String>,
    text: String,
    frames: Option<FramesView>,
    drawing: Option<Drawing>,
    review_status: Option<String>,
}

/// A version's notes as threads.
#[tauri::command]
#[specta::specta]
pub async fn list_notes(
    state: State<'_, AppState>,
    version_key: String,
) -> IpcResult<Vec<NoteThread>> {
    let (account, version) = split_version_key(&version_key)?;
    let account = AccountId(account.into());
    let version = RemoteId::new(version);
    let clock = clock_of(&state, &account, &version).await;
    let records = state
        .engine
        .cache()
        .notes_for_version(&account, &version)
        .await
        .map_err(cache_error)?;
    let mut threads: Vec<NoteThread> = Vec::new();
    let mut replies: Vec<NoteView> = Vec::new();
    for record in records
        .iter()
        .filter(|r| r.sync_state != NoteSyncState::Discarded)
    {
        let view = note_view(record, &version_key, clock.as_ref());
        if view.parent_id.is_some() {
            replies.push(view);
        } else {
            threads.push(NoteThread {
                root: view,
                replies: Vec::new(),
            });
        }
    }
    for reply in replies {
        match threads
            .iter_mut()
            .find(|t| Some(&t.root.id) == reply.parent_id.as_ref())
        {
            Some(thread) => thread.replies.push(reply),
            // A reply whose parent is not here (deleted upstream) still shows, as its own thread.
            None => threads.push(NoteThread {
                root: reply,
                replies: Vec::new(),
            }),
        }
    }
    Ok(threads)
}

/// Writes a note (or a reply) into the outbox; it is posted when the platform is reachable.
#[tauri::command]
#[specta::specta]
pub async fn create_note(state: State<'_, AppState>, note: NewNote) -> IpcResult<NoteView> {
    let (account, version) = split_version_key(&note.version_key)?;
    let account = AccountId(account.into());
    let version = RemoteId::new(version);
    if let Some(f) = note.frames
        && f.end < f.start
    {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            "a note's range ends before it starts",
        ));
    }
    let record = state
        .engine
        .cache()
        .create_local_note(&NewLocalNote {
            account: account.clone(),
            version: version.clone(),
            parent: note.parent_id.map(NoteId),
            author: author_name(&state, &account).await,
            text: note.text,
            frames: note.frames.map(|f| FrameSpan {
                start: f.start,
                end: f.end,
            }),
            drawing: note.drawing.filter(|d| !d.is_empty()),
            platform_status: note.review_status,
        })
        .await
        .map_err(cache_error)?;
    flush_outbox_soon(&state, &account);
    let clock = clock_of(&state, &account, &version).await;
    Ok(note_view(&record, &note.version_key, clock.as_ref()))
}

/// Marks a note resolved or open again (through the outbox).
#[tauri::command]
#[specta::specta]
pub async fn set_note_status(
    state: State<'_, AppState>,
    note_id: String,
    status: NoteStatus,
) -> IpcResult<NoteView> {
    let record = state
        .engine
        .cache()
        .set_local_note_status(&NoteId(note_id), status)
        .await
        .map_err(cache_error)?;
    flush_outbox_soon(&state, &record.account);
    let key = version_key(&record.account.0, &record.note.version.0);
    let clock = clock_of(&state, &record.account, &record.note.version).await;
    Ok(note_view(&record, &key, clock.as_ref()))
}

/// Puts a failed note back in the queue.
#[tauri::command]
#[specta::specta]
pub async fn retry_note(state: State<'_, AppState>, note_id: String) -> IpcResult<()> {
    let note = NoteId(note_id);
    let cache = state.engine.cache();
    let record = cache.note(&note).await.map_err(cache_error)?;
    for op in cache.ops_for_note(&note).await.map_err(cache_error)? {
        if op.state == OpState::Failed {
            cache.retry_op(op.id).await.map_err(cache_error)?;
        }
    }
    flush_outbox_soon(&state, &record.account);
    Ok(())
}

/// Gives up posting a note that was never sent; it stays readable locally.
#[tauri::command]
#[specta::specta]
pub async fn discard_note(state: State<'_, AppState>, note_id: String) -> IpcResult<()> {
    let note = NoteId(note_id);
    let cache = state.engine.cache();
    let record = cache.note(&note).await.map_err(cache_error)?;
    if record.sync_state == NoteSyncState::Sent {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            "this note is already on the platform",
        ));
    }
    for op in cache.ops_for_note(&note).await.map_err(cache_error)? {
        if matches!(op.state, OpState::Queued | OpState::Failed) {
            cache.discard_op(op.id).await.map_err(cache_error)?;
        }
    }
    Ok(())
}

fn note_view(record: &NoteRecord, version_key: &str, clock: Option<&FrameClock>) -> NoteView {
    let note = &record.note;
    let outbox = match (record.sync_state, record.outbox_state) {
        (NoteSyncState::Failed, _) | (_, Some(OpState::Failed)) => OutboxState::Failed {
            reason: record
                .last_error
                .clone()
                .unwrap_or_else(|| "the platform refused it".into()),
        },
        (NoteSyncState::Pending, _) | (_, Some(OpState::Queued | OpState::InFlight)) => {
            OutboxState::Pending
        }
        _ => OutboxState::Sent,
    };
    NoteView {
        id: note.id.0.clone(),
        version_key: version_key.to_string(),
        parent_id: note.parent.as_ref().map(|p| p.0.clone()),
        author: note.author.clone(),
        created_at: note.created_at.clone(),
        text: note.text.clone(),
        frames: note.frames.map(|f| FramesView {
            start: f.start,
            end: f.end,
        }),
        timecode: note
            .frames
            .zip(clock)
            .map(|(f, clock)| clock.timecode(f.start as i64).to_string()),
        status: note.status,
        drawing: note.drawing.clone(),
        outbox,
        review_status: None,
        frame_thumbnail_url: note
            .drawing
            .as_ref()
            .filter(|d| !d.is_empty())
            .and(note.frames)
            .map(|f| crate::protocol::frame_thumbnail_url(version_key, f.start as i64, 320)),
    }
}

async fn clock_of(state: &AppState, account: &AccountId, version: &RemoteId) -> Option<FrameClock> {
    let record = state.engine.cache().version(account, version).await.ok()?;
    let media = record.version.media;
    FrameClock::new(media.frame_rate, media.start_timecode, media.first_frame).ok()
}

/// Who a note is by: the platform's name of the signed-in user (what the platform will show), or
/// the OS user for an account without one (the local library).
async fn author_name(state: &AppState, account: &AccountId) -> String {
    let signed_in = state
        .engine
        .cache()
        .account(account)
        .await
        .ok()
        .and_then(|a| a.user_name)
        .filter(|u| !u.trim().is_empty());
    signed_in
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "me".into())
}

/// Someone a note can @mention.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct PersonView {
    id: String,
    name: String,
}

/// The review statuses a note on this account can set (the platform's, or the last ones seen
/// when it cannot be reached).
#[tauri::command]
#[specta::specta]
pub async fn list_statuses(
    state: State<'_, AppState>,
    account_id: String,
) -> IpcResult<Vec<String>> {
    state
        .engine
        .review_statuses(&AccountId(account_id))
        .await
        .map_err(crate::state::sync_error)
}

/// The people a note on this account can mention.
#[tauri::command]
#[specta::specta]
pub async fn list_people(
    state: State<'_, AppState>,
    account_id: String,
) -> IpcResult<Vec<PersonView>> {
    let people = state
        .engine
        .people(&AccountId(account_id))
        .await
        .map_err(crate::state::sync_error)?;
    Ok(people
        .into_iter()
        .map(|p| PersonView {
            id: p.id,
            name: p.name,
        })
        .collect())
}

/// Where an export was written.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ExportedNotes {
    path: String,
    notes: u32,
}

/// Writes every note of an account (sent or not) as CSV into the user's Documents folder under
/// `Framenote/`: how notes on a platform without a comment API (Sony Ci) leave Framenote.
#[tauri::command]
#[specta::specta]
pub async fn export_notes(
    state: State<'_, AppState>,
    account_id: String,
) -> IpcResult<ExportedNotes> {
    let account = AccountId(account_id);
    let record = state.account_record(&account).await?;
    let export = state
        .engine
        .notes_csv(&account)
        .await
        .map_err(crate::state::sync_error)?;
    let folder = dirs::document_dir()
        .unwrap_or_else(|| state.dirs.data.clone())
        .join("Framenote");
    std::fs::create_dir_all(&folder).map_err(|e| {
        IpcError::new(
            ErrorCode::Storage,
            format!("cannot create {}: {e}", folder.display()),
        )
    })?;
    let label: String = record
        .label
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let path = folder.join(format!("{label}-notes-{stamp}.csv"));
    std::fs::write(&path, export.csv).map_err(|e| {
        IpcError::new(
            ErrorCode::Storage,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    Ok(ExportedNotes {
        path: path.display().to_string(),
        notes: u32::try_from(export.notes).unwrap_or(u32::MAX),
    })
}
