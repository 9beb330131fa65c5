//! The local-folder library: the built-in default and the demo library.
//!
//! A folder of media files is one root node; its sub-folders are child nodes (`dir:<relative
//! path>`), and every media file is an asset with one version whose id is its path relative to
//! the root (`a/b/clip.mov`).
//! Media facts come from a probe injected by the shell (the player's GStreamer discoverer), so this
//! crate never depends on GStreamer. Notes, replies, resolution and drawings are kept in one JSON
//! file under a state directory given at construction — never inside the media folder, which may
//! be read-only or shared. Uploading copies a file into the folder through a hidden temporary
//! file (fsync, then claimed under its final name), so a half-copied file is never listed as
//! media; an interrupted copy resumes by appending to its temporary file, whose name is the
//! transfer's checkpoint. Dropped folders become sub-folders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use framenote_core::{
    Asset, Capabilities, Drawing, FrameSpan, MediaInfo, Node, NodeKind, NoteStatus, OfflinePolicy,
    Platform, RemoteId, Version,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::{
    Connector, ConnectorError, Credentials, ErrorKind, FrameDrawing, MediaSource, NewNote,
    RemoteNote, Result, Session, UploadContext, UploadRequest,
};

/// Reads a media file's frame facts. Injected by the shell; runs on a blocking thread.
pub type Probe = Arc<dyn Fn(&Path) -> std::result::Result<MediaInfo, String> + Send + Sync>;

/// The id of the one root node.
pub const ROOT_ID: &str = "local-root";

/// File extensions listed as media (lower case).
const MEDIA_EXTENSIONS: &[&str] = &[
    "mp4", "mov", "m4v", "mkv", "webm", "avi", "mxf", "mpg", "mpeg", "mts", "m2ts", "ts", "y4m",
];

/// Prefix of a sub-folder's node id; the rest is its path relative to the root, `/`-separated.
pub const DIR_PREFIX: &str = "dir:";

/// Name of the notes file inside the state directory.
const NOTES_FILE: &str = "local-notes.json";

/// A folder of media as a platform.
pub struct LocalConnector {
    root: PathBuf,
    state_dir: PathBuf,
    probe: Probe,
    author: Mutex<String>,
    /// Serialises read-modify-write of the notes file within this process.
    notes_lock: tokio::sync::Mutex<()>,
}

/// What the notes file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct NotesFile {
    /// Format version, for later migrations.
    format: u32,
    notes: Vec<StoredNote>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredNote {
    id: String,
    client_id: String,
    version: String,
    parent: Option<String>,
    author: String,
    created_at: String,
    text: String,
    frames: Option<FrameSpan>,
    status: NoteStatus,
    drawing: Option<Drawing>,
}

impl StoredNote {
    fn to_remote(&self) -> RemoteNote {
        RemoteNote {
            id: RemoteId::new(self.id.clone()),
            version: RemoteId::new(self.version.clone()),
            parent: self.parent.clone().map(RemoteId::new),
            author: self.author.clone(),
            created_at: self.created_at.clone(),
            text: self.text.clone(),
            frames: self.frames,
            status: self.status,
            drawing: self.drawing.clone(),
            client_id: Some(self.client_id.clone()),
        }
    }
}

impl LocalConnector {
    /// A library over `media_root`, keeping its notes in `state_dir` (created when missing).
    pub fn new(
        media_root: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
        probe: Probe,
    ) -> Self {
        let author = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "me".to_owned());
        Self {
            root: media_root.into(),
            state_dir: state_dir.into(),
            probe,
            author: Mutex::new(author),
            notes_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The media folder.
    pub fn media_root(&self) -> &Path {
        &self.root
    }

    fn author(&self) -> String {
        match self.author.lock() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn notes_path(&self) -> PathBuf {
        self.state_dir.join(NOTES_FILE)
    }

    /// A path from an asset/version id (`a/b/clip.mov`), refusing anything that could leave
    /// the folder or name a hidden file.
    fn media_path(&self, id: &str) -> Result<PathBuf> {
        let mut path = self.root.clone();
        for part in id.split('/') {
            if !safe_component(part) {
                return Err(ConnectorError::new(
                    ErrorKind::Rejected,
                    format!("not a media file name: {id:?}"),
                ));
            }
            path.push(part);
        }
        Ok(path)
    }

    /// The directory a node stands for, and the prefix of its files' ids (`""` or `"a/b/"`).
    fn dir_of(&self, node: &RemoteId) -> Result<(PathBuf, String)> {
        if node.as_str() == ROOT_ID {
            return Ok((self.root.clone(), String::new()));
        }
        let rel = node
            .as_str()
            .strip_prefix(DIR_PREFIX)
            .ok_or_else(|| not_found("folder", node))?;
        let path = self
            .media_path(rel)
            .map_err(|_| not_found("folder", node))?;
        Ok((path, format!("{rel}/")))
    }
    async fn probe(&self, path: PathBuf) -> Result<MediaInfo> {
        let probe = Arc::clone(&self.probe);
        let shown = path.display().to_string();
        let outcome = tokio::task::spawn_blocking(move || probe(&path))
            .await
            .map_err(|e| ConnectorError::new(ErrorKind::Io, format!("probing {shown}: {e}")))?;
        outcome.map_err(|e| {
            ConnectorError::new(ErrorKind::BadResponse, format!("probing {shown}: {e}"))
        })
    }

    async fn asset_for(
        &self,
        id: &str,
        parent: &RemoteId,
        path: PathBuf,
        meta: &std::fs::Metadata,
    ) -> Result<Asset> {
        let name = id.rsplit('/').next().unwrap_or(id);
        let mut media = self.probe(path).await?;
        if media.bytes.is_none() {
            media.bytes = Some(meta.len());
        }
        let updated_at = meta
            .modified()
            .ok()
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
        Ok(Asset {
            id: RemoteId::new(id),
            parent: parent.clone(),
            name: name.to_owned(),
            status: None,
            updated_at,
            offline: OfflinePolicy::ALLOWED,
            versions: vec![Version {
                id: RemoteId::new(id),
                asset: RemoteId::new(id),
                number: 1,
                label: "v1".to_owned(),
                media,
            }],
        })
    }

    async fn load_notes(&self) -> Result<NotesFile> {
        let path = self.notes_path();
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ConnectorError::bad_response(format!(
                    "notes file {} is damaged: {e}",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NotesFile {
                format: 1,
                notes: Vec::new(),
            }),
            Err(e) => Err(ConnectorError::io(
                format!("reading {}", path.display()),
                &e,
            )),
        }
    }

    /// Writes the notes file atomically: a crash leaves either the old or the new file.
    async fn save_notes(&self, notes: &NotesFile) -> Result<()> {
        tokio::fs::create_dir_all(&self.state_dir)
            .await
            .map_err(|e| {
                ConnectorError::io(format!("creating {}", self.state_dir.display()), &e)
            })?;
        let bytes = serde_json::to_vec_pretty(notes)
            .map_err(|e| ConnectorError::new(ErrorKind::Io, format!("encoding notes: {e}")))?;
        let path = self.notes_path();
        let temp = self
            .state_dir
            .join(format!(".{NOTES_FILE}.{}.tmp", uuid::Uuid::new_v4()));
        write_synced(&temp, &bytes).await?;
        tokio::fs::rename(&temp, &path)
            .await
            .map_err(|e| ConnectorError::io(format!("replacing {}", path.display()), &e))
    }

    async fn modify_notes<T>(&self, change: impl FnOnce(&mut NotesFile) -> Result<T>) -> Result<T> {
        let _guard = self.notes_lock.lock().await;
        let mut notes = self.load_notes().await?;
        let out = change(&mut notes)?;
        self.save_notes(&notes).await?;
        Ok(out)
    }
}

async fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ConnectorError::io(format!("creating {}", path.display()), &e))?;
    file.write_all(bytes)
        .await
        .map_err(|e| ConnectorError::io(format!("writing {}", path.display()), &e))?;
    file.sync_all()
        .await
        .map_err(|e| ConnectorError::io(format!("flushing {}", path.display()), &e))
}

/// A file or folder name that stays inside its folder and is not hidden (hidden names include
/// uploads in progress).
fn safe_component(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && !name.starts_with('.')
}

fn is_media(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| MEDIA_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn not_found(what: &str, id: &RemoteId) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::NotFound,
        format!("{what} {id} is not in the local library"),
    )
}

#[async_trait]
impl Connector for LocalConnector {
    fn platform(&self) -> Platform {
        Platform::Local
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            notes: true,
            replies: true,
            resolve: true,
            drawings: true,
            range_notes: true,
            status_change: false,
            mentions: false,
            upload: true,
            upload_folders: true,
            live_events: false,
        }
    }

    async fn authenticate(&self, credentials: &Credentials) -> Result<Session> {
        if let Credentials::Password { user, .. } = credentials
            && !user.is_empty()
            && let Ok(mut author) = self.author.lock()
        {
            *author = user.clone();
        }
        Ok(Session {
            user_name: Some(self.author()),
            ..Session::default()
        })
    }

    async fn refresh(&self, _session: &Session) -> Result<Session> {
        Ok(Session {
            user_name: Some(self.author()),
            ..Session::default()
        })
    }

    fn set_session(&self, session: Session) {
        if let Some(user) = session.user_name.filter(|u| !u.is_empty())
            && let Ok(mut author) = self.author.lock()
        {
            *author = user;
        }
    }

    fn session(&self) -> Option<Session> {
        Some(Session {
            user_name: Some(self.author()),
            ..Session::default()
        })
    }

    async fn list_nodes(&self, parent: Option<&RemoteId>) -> Result<Vec<Node>> {
        match parent {
            None => {
                let name = self
                    .root
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "Local library".to_owned());
                Ok(vec![Node {
                    id: RemoteId::new(ROOT_ID),
                    parent: None,
                    kind: NodeKind::Folder,
                    name,
                    status: None,
                }])
            }
            Some(node) => {
                let (dir, prefix) = self.dir_of(node)?;
                let mut entries = tokio::fs::read_dir(&dir)
                    .await
                    .map_err(|_| not_found("folder", node))?;
                let mut out = Vec::new();
                while let Some(entry) = entries
                    .next_entry()
                    .await
                    .map_err(|e| ConnectorError::io(format!("listing {}", dir.display()), &e))?
                {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let is_dir = entry.file_type().await.is_ok_and(|t| t.is_dir());
                    if !is_dir || !safe_component(&name) {
                        continue;
                    }
                    out.push(Node {
                        id: RemoteId::new(format!("{DIR_PREFIX}{prefix}{name}")),
                        parent: Some(node.clone()),
                        kind: NodeKind::Folder,
                        name,
                        status: None,
                    });
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
        }
    }

    async fn list_assets(&self, node: &RemoteId) -> Result<Vec<Asset>> {
        let (root, prefix) = self.dir_of(node)?;
        let mut dir = tokio::fs::read_dir(&root)
            .await
            .map_err(|e| ConnectorError::io(format!("listing {}", root.display()), &e))?;
        let mut files = Vec::new();
        while let Some(entry) = dir
            .next_entry()
            .await
            .map_err(|e| ConnectorError::io(format!("listing {}", root.display()), &e))?
        {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // Hidden names include our own in-progress uploads.
            if name.starts_with('.') || !is_media(&path) {
                continue;
            }
            match entry.metadata().await {
                Ok(meta) if meta.is_file() => files.push((name, path, meta)),
                _ => continue,
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut assets = Vec::with_capacity(files.len());
        for (name, path, meta) in files {
            match self
                .asset_for(&format!("{prefix}{name}"), node, path, &meta)
                .await
            {
                Ok(asset) => assets.push(asset),
                // One unreadable file must not hide the rest of the library.
                Err(e) => tracing::warn!(file = %name, error = %e, "skipping unreadable media"),
            }
        }
        Ok(assets)
    }

    async fn media_source(&self, version: &Version) -> Result<MediaSource> {
        let path = self.media_path(version.id.as_str())?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(MediaSource::File(path)),
            _ => Err(not_found("media file", &version.id)),
        }
    }

    async fn list_notes(&self, version: &Version) -> Result<Vec<RemoteNote>> {
        let notes = self.load_notes().await?;
        Ok(notes
            .notes
            .iter()
            .filter(|n| n.version == version.id.as_str())
            .map(StoredNote::to_remote)
            .collect())
    }

    async fn create_note(&self, note: &NewNote) -> Result<RemoteNote> {
        if note.status.is_some() {
            return Err(ConnectorError::unsupported(
                "the local library has no review statuses",
            ));
        }
        let author = self.author();
        self.modify_notes(|file| {
            // Posting the same client id twice (a retry) returns the first note.
            if let Some(existing) = file.notes.iter().find(|n| n.client_id == note.client_id) {
                return Ok(existing.to_remote());
            }
            if let Some(parent) = &note.parent
                && !file.notes.iter().any(|n| n.id == parent.as_str())
            {
                return Err(not_found("note", parent));
            }
            let stored = StoredNote {
                id: uuid::Uuid::now_v7().to_string(),
                client_id: note.client_id.clone(),
                version: note.version.id.as_str().to_owned(),
                parent: note.parent.as_ref().map(|p| p.as_str().to_owned()),
                author,
                created_at: chrono::Utc::now().to_rfc3339(),
                text: note.text.clone(),
                frames: note.frames,
                status: NoteStatus::Open,
                drawing: note.drawing.clone().filter(|d| !d.is_empty()),
            };
            let out = stored.to_remote();
            file.notes.push(stored);
            Ok(out)
        })
        .await
    }

    async fn update_note(&self, _version: &Version, note: &RemoteId, text: &str) -> Result<()> {
        self.modify_notes(
            |file| match file.notes.iter_mut().find(|n| n.id == note.as_str()) {
                Some(stored) => {
                    stored.text = text.to_owned();
                    Ok(())
                }
                None => Err(not_found("note", note)),
            },
        )
        .await
    }

    async fn set_note_status(
        &self,
        _version: &Version,
        note: &RemoteId,
        status: NoteStatus,
    ) -> Result<()> {
        self.modify_notes(
            |file| match file.notes.iter_mut().find(|n| n.id == note.as_str()) {
                Some(stored) => {
                    stored.status = status;
                    Ok(())
                }
                None => Err(not_found("note", note)),
            },
        )
        .await
    }

    async fn list_drawings(&self, version: &Version) -> Result<Vec<FrameDrawing>> {
        let notes = self.list_notes(version).await?;
        Ok(notes
            .into_iter()
            .filter_map(|n| {
                Some(FrameDrawing {
                    frames: n.frames?,
                    drawing: n.drawing?,
                    note_client_id: n.client_id,
                })
            })
            .collect())
    }

    async fn write_drawing(
        &self,
        version: &Version,
        frames: FrameSpan,
        drawing: &Drawing,
        note_client_id: Option<&str>,
    ) -> Result<()> {
        let Some(client_id) = note_client_id else {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                "local drawings belong to a note: give the note's client id",
            ));
        };
        self.modify_notes(|file| {
            let stored = file
                .notes
                .iter_mut()
                .find(|n| n.client_id == client_id && n.version == version.id.as_str())
                .ok_or_else(|| not_found("note", &RemoteId::new(client_id)))?;
            stored.frames = Some(frames);
            stored.drawing = (!drawing.is_empty()).then(|| drawing.clone());
            Ok(())
        })
        .await
    }

    async fn upload_resumable(
        &self,
        request: &UploadRequest,
        context: &UploadContext<'_>,
    ) -> Result<Version> {
        let (mut dir, mut prefix) = self.dir_of(&request.destination)?;
        for part in &request.subfolder {
            if !safe_component(part) {
                return Err(ConnectorError::new(
                    ErrorKind::Rejected,
                    format!("not a folder name the library can hold: {part:?}"),
                ));
            }
            dir.push(part);
            prefix.push_str(part);
            prefix.push('/');
        }
        if !safe_component(&request.name) || !is_media(Path::new(&request.name)) {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!(
                    "{} is not a media file type the library lists",
                    request.name
                ),
            ));
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| ConnectorError::io(format!("creating {}", dir.display()), &e))?;
        let size = tokio::fs::metadata(&request.path)
            .await
            .map_err(|e| ConnectorError::io(format!("reading {}", request.path.display()), &e))?
            .len();
        // The checkpoint is the temporary file's name: what it holds is what was copied.
        let resumed = context
            .resume
            .and_then(|v| serde_json::from_value::<LocalCheckpoint>(v.clone()).ok())
            .filter(|c| {
                c.name == request.name
                    && c.size == size
                    && c.dir == prefix
                    && c.temp.starts_with(".framenote-upload-")
                    && safe_component(&c.temp[1..])
            });
        let checkpoint = resumed.unwrap_or_else(|| LocalCheckpoint {
            temp: format!(".framenote-upload-{}.tmp", uuid::Uuid::new_v4()),
            dir: prefix.clone(),
            name: request.name.clone(),
            size,
        });
        let temp = dir.join(&checkpoint.temp);
        if let Ok(value) = serde_json::to_value(&checkpoint) {
            (context.checkpoint)(value);
        }
        if let Err(e) = self.copy_into(request, &temp, size, context).await {
            // A file that cannot be read or a disk that is full is not resumed into; an
            // interrupted copy keeps its temporary file for the next attempt.
            if e.kind == ErrorKind::Io {
                let _ = tokio::fs::remove_file(&temp).await;
            }
            return Err(e);
        }
        // Never overwrite a file already in the library: "name (2).ext" and so on. A hard link
        // fails when the name exists, so the check and the claim are one atomic step; the
        // temporary name is then removed, leaving exactly one complete file.
        let stem = Path::new(&request.name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = Path::new(&request.name)
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut target = dir.join(&request.name);
        let mut claimed = None;
        for n in 1..=1000 {
            if n > 1 {
                target = dir.join(format!("{stem} ({n}).{ext}"));
            }
            match tokio::fs::hard_link(&temp, &target).await {
                Ok(()) => {
                    claimed = Some(());
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&temp).await;
                    return Err(ConnectorError::io(
                        format!("moving the upload to {}", target.display()),
                        &e,
                    ));
                }
            }
        }
        let _ = tokio::fs::remove_file(&temp).await;
        if claimed.is_none() {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!("no free name for {} in the library", request.name),
            ));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = tokio::fs::metadata(&target)
            .await
            .map_err(|e| ConnectorError::io(format!("reading {}", target.display()), &e))?;
        let parent = if prefix.is_empty() {
            RemoteId::new(ROOT_ID)
        } else {
            RemoteId::new(format!("{DIR_PREFIX}{}", prefix.trim_end_matches('/')))
        };
        let asset = self
            .asset_for(&format!("{prefix}{name}"), &parent, target, &meta)
            .await?;
        asset
            .versions
            .into_iter()
            .next()
            .ok_or_else(|| ConnectorError::new(ErrorKind::Io, "uploaded file has no version"))
    }

    async fn abandon_upload(&self, checkpoint: &serde_json::Value) -> Result<()> {
        let Ok(c) = serde_json::from_value::<LocalCheckpoint>(checkpoint.clone()) else {
            return Ok(());
        };
        if !c.temp.starts_with(".framenote-upload-") || !safe_component(&c.temp[1..]) {
            return Ok(());
        }
        let dir = if c.dir.is_empty() {
            self.root.clone()
        } else {
            self.media_path(c.dir.trim_end_matches('/'))?
        };
        match tokio::fs::remove_file(dir.join(&c.temp)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ConnectorError::io(format!("removing {}", c.temp), &e))
            }
            _ => Ok(()),
        }
    }
}

/// An upload into the library in progress: the hidden temporary file in `dir` (relative to the
/// root, `""` or `"a/b/"`) that holds the bytes copied so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LocalCheckpoint {
    temp: String,
    dir: String,
    name: String,
    size: u64,
}

impl LocalConnector {
    /// Copies `request.path` into `temp`, appending to what an earlier attempt left there.
    async fn copy_into(
        &self,
        request: &UploadRequest,
        temp: &Path,
        size: u64,
        context: &UploadContext<'_>,
    ) -> Result<()> {
        let had = match tokio::fs::metadata(temp).await {
            Ok(meta) if meta.len() <= size => meta.len(),
            // Longer than the source: not a prefix of it; start again.
            _ => 0,
        };
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(temp)
            .await
            .map_err(|e| ConnectorError::io(format!("creating {}", temp.display()), &e))?;
        out.set_len(had)
            .await
            .map_err(|e| ConnectorError::io(format!("writing {}", temp.display()), &e))?;
        out.seek(std::io::SeekFrom::Start(had))
            .await
            .map_err(|e| ConnectorError::io(format!("writing {}", temp.display()), &e))?;
        let mut source = tokio::fs::File::open(&request.path)
            .await
            .map_err(|e| ConnectorError::io(format!("opening {}", request.path.display()), &e))?;
        source
            .seek(std::io::SeekFrom::Start(had))
            .await
            .map_err(|e| ConnectorError::io(format!("reading {}", request.path.display()), &e))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut sent = had;
        (context.progress)(sent);
        while sent < size {
            let want = usize::try_from((size - sent).min(buf.len() as u64)).unwrap_or(buf.len());
            let n = source.read(&mut buf[..want]).await.map_err(|e| {
                ConnectorError::io(format!("reading {}", request.path.display()), &e)
            })?;
            if n == 0 {
                return Err(ConnectorError::new(
                    ErrorKind::Io,
                    format!("{} shrank while it was copied", request.path.display()),
                ));
            }
            if let Some(bandwidth) = context.bandwidth {
                bandwidth.take(n as u64).await;
            }
            out.write_all(&buf[..n])
                .await
                .map_err(|e| ConnectorError::io(format!("writing {}", temp.display()), &e))?;
            // Flushed so the temporary file's length is what a resume can trust.
            out.flush()
                .await
                .map_err(|e| ConnectorError::io(format!("writing {}", temp.display()), &e))?;
            sent += n as u64;
            (context.progress)(sent);
        }
        out.sync_all()
            .await
            .map_err(|e| ConnectorError::io(format!("flushing {}", temp.display()), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framenote_core::FrameRate;

    /// A probe that reads nothing but refuses files named `broken*`, like a real one would.
    fn probe() -> Probe {
        Arc::new(|path: &Path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with("broken") {
                return Err("not a movie".to_owned());
            }
            Ok(MediaInfo {
                frame_rate: FrameRate::new(24, 1),
                start_timecode: None,
                first_frame: 0,
                frame_count: Some(48),
                width: Some(320),
                height: Some(180),
                bytes: None,
            })
        })
    }

    fn library() -> (tempfile::TempDir, tempfile::TempDir, LocalConnector) {
        let media = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        for name in ["a.mp4", "B.MOV", "broken.mp4", ".hidden.mp4", "readme.txt"] {
            std::fs::write(media.path().join(name), b"bytes").unwrap();
        }
        let connector = LocalConnector::new(media.path(), state.path().join("state"), probe());
        (media, state, connector)
    }

    fn note(version: &Version, client_id: &str) -> NewNote {
        NewNote {
            client_id: client_id.to_owned(),
            version: version.clone(),
            parent: None,
            text: "look".to_owned(),
            frames: Some(FrameSpan::frame(3)),
            drawing: None,
            status: None,
        }
    }

    #[tokio::test]
    async fn lists_media_only_and_skips_unreadable_files() {
        let (_media, _state, lib) = library();
        let assets = lib.list_assets(&RemoteId::new(ROOT_ID)).await.unwrap();
        let names: Vec<&str> = assets.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["B.MOV", "a.mp4"]);
        assert_eq!(assets[0].versions[0].media.bytes, Some(5));
        assert_eq!(
            lib.list_assets(&RemoteId::new("elsewhere"))
                .await
                .unwrap_err()
                .kind,
            ErrorKind::NotFound
        );
    }

    #[tokio::test]
    async fn notes_are_idempotent_and_kept_outside_the_media_folder() {
        let (media, state, lib) = library();
        let version =
            lib.list_assets(&RemoteId::new(ROOT_ID)).await.unwrap()[1].versions[0].clone();
        let first = lib.create_note(&note(&version, "c1")).await.unwrap();
        let again = lib.create_note(&note(&version, "c1")).await.unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(lib.list_notes(&version).await.unwrap().len(), 1);
        assert!(state.path().join("state").join(NOTES_FILE).is_file());
        assert!(!media.path().join(NOTES_FILE).exists());
        // A reply to a note that does not exist is refused, and nothing is written.
        let mut orphan = note(&version, "c2");
        orphan.parent = Some(RemoteId::new("nope"));
        assert_eq!(
            lib.create_note(&orphan).await.unwrap_err().kind,
            ErrorKind::NotFound
        );
        assert_eq!(lib.list_notes(&version).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_damaged_notes_file_is_a_clear_error_and_is_not_overwritten() {
        let (_media, state, lib) = library();
        let version =
            lib.list_assets(&RemoteId::new(ROOT_ID)).await.unwrap()[0].versions[0].clone();
        std::fs::create_dir_all(state.path().join("state")).unwrap();
        std::fs::write(state.path().join("state").join(NOTES_FILE), b"{ not json").unwrap();
        assert_eq!(
            lib.list_notes(&version).await.unwrap_err().kind,
            ErrorKind::BadResponse
        );
        assert_eq!(
            lib.create_note(&note(&version, "c1"))
                .await
                .unwrap_err()
                .kind,
            ErrorKind::BadResponse
        );
        assert_eq!(
            std::fs::read(state.path().join("state").join(NOTES_FILE)).unwrap(),
            b"{ not json"
        );
    }

    #[tokio::test]
    async fn names_that_leave_the_folder_are_refused() {
        let (_media, _state, lib) = library();
        let mut version =
            lib.list_assets(&RemoteId::new(ROOT_ID)).await.unwrap()[0].versions[0].clone();
        // Sub-folder paths ("a/b.mp4") are ids; ways out of the folder are not.
        for evil in [
            "../etc/passwd",
            "..",
            "a/../../b.mp4",
            "/abs.mp4",
            "a\\b.mp4",
            ".hidden.mp4",
            "",
        ] {
            version.id = RemoteId::new(evil);
            assert_eq!(
                lib.media_source(&version).await.unwrap_err().kind,
                ErrorKind::Rejected,
                "{evil}"
            );
        }
    }

    #[tokio::test]
    async fn upload_copies_atomically_without_overwriting() {
        let (media, _state, lib) = library();
        let source = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(source.path(), vec![7u8; 3 << 20]).unwrap();
        let request = UploadRequest {
            path: source.path().to_owned(),
            destination: RemoteId::new(ROOT_ID),
            name: "a.mp4".to_owned(),
            comment: None,
            subfolder: Vec::new(),
            version_hint: None,
        };
        let seen = std::sync::atomic::AtomicU64::new(0);
        let version = lib
            .upload(&request, &|n| {
                seen.store(n, std::sync::atomic::Ordering::Relaxed)
            })
            .await
            .unwrap();
        assert_eq!(
            version.id.as_str(),
            "a (2).mp4",
            "the existing a.mp4 is kept"
        );
        assert_eq!(std::fs::read(media.path().join("a.mp4")).unwrap(), b"bytes");
        assert_eq!(
            std::fs::metadata(media.path().join("a (2).mp4"))
                .unwrap()
                .len(),
            3 << 20
        );
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 3 << 20);
        let leftovers = std::fs::read_dir(media.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("framenote-upload")
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary file left behind");
        let bad = UploadRequest {
            name: "notes.txt".to_owned(),
            ..request
        };
        assert_eq!(
            lib.upload(&bad, &|_| {}).await.unwrap_err().kind,
            ErrorKind::Rejected
        );
    }
}
