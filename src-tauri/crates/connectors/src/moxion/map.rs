//! Pure mapping between Flow Capture's JSON objects and Framenote's core types: browse-node ids,
//! assets and their playable file, the offline policy, comments ↔ notes, and the time units
//! (`marker_time` seconds, `tc_start` labels, `frame_rate` as a float FPS).
//!
//! Nothing here does I/O, so every rule is unit-tested on fixtures. Field names are the seed
//! document's (`seeds/002`, sections `/get/projects`, `/get/assets`, `/get/asset/files`,
//! `/get/comments`, `/create/comment`, `/get/messages`); every field is optional on the way in
//! because the document marks none as always present.

use framenote_core::timecode::{FrameClock, TimeUnit};
use framenote_core::{
    Asset, FrameRate, FrameSpan, MediaInfo, Node, NodeKind, NoteStatus, OfflinePolicy, RemoteId,
    Timecode, Version,
};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::error::{ConnectorError, ErrorKind};
use crate::{NewNote, RemoteNote};

/// Ids are `Id`/`CommonId` in the document: integers in practice, strings in some places. Both
/// are kept as their decimal text.
fn de_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(id_text(&Value::deserialize(d)?))
}

/// The text of an id value (number or string); `None` for null, empty or anything else.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A company (`/get/companies`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxCompany {
    /// The company ID.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
}

/// A production folder (`/get/company/production_folders`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxProductionFolder {
    /// The production folder id.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
}

/// A group, "Production" in the UI (`/get/groups`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxGroup {
    /// The group ID.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The production folder it sits in, if any.
    #[serde(deserialize_with = "de_id")]
    pub production_folder_id: Option<String>,
    /// `ACTIVE`, `PENDING` or `DELETED`.
    pub status: Option<String>,
}

/// A project, "Folder" in the UI (`/get/projects`, `/get/project`), with the permission flags
/// that decide offline copies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxProject {
    /// The project id.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The parent project, for nested folders.
    #[serde(deserialize_with = "de_id")]
    pub parent_project_id: Option<String>,
    /// `ACTIVE`, `DELETED` or `ARCHIVED`.
    pub status: Option<String>,
    /// "User can store assets for offline viewing".
    pub can_offline: Option<bool>,
    /// "User can download from this project".
    pub can_download: Option<bool>,
    /// "User is prohibited from any downloads in this project".
    pub deny_download: Option<bool>,
    /// "User is prohibited from viewing any assets in this project".
    pub deny_view: Option<bool>,
    /// "Is manifest playback is enabled for this project" (DRM).
    pub drm_enabled: Option<bool>,
    /// Per-viewer forensic watermarking.
    pub forensic_watermarking: Option<bool>,
    /// "User can view, create, edit or delete comments in this project".
    pub can_comment: Option<bool>,
    /// "User can upload into this project".
    pub can_upload: Option<bool>,
}

/// A batch (`/get/batches`, `/get/batch`, `/create/batch`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxBatch {
    /// The batch ID.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The project it belongs to.
    #[serde(deserialize_with = "de_id")]
    pub project_id: Option<String>,
    /// `ACTIVE` or `DELETED`.
    pub status: Option<String>,
}

/// An asset (`/get/assets`, `/get/asset`, `/get/message/assets`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxAsset {
    /// The asset ID.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// Its name, without the file extension.
    pub name: Option<String>,
    /// The project it belongs to.
    #[serde(deserialize_with = "de_id")]
    pub project_id: Option<String>,
    /// The batch it belongs to.
    #[serde(deserialize_with = "de_id")]
    pub batch_id: Option<String>,
    /// Creation date (ISO).
    pub created: Option<String>,
    /// `ACTIVE`, `TRANSCODING`, `PROCESSING` or `DELETED`.
    pub status: Option<String>,
    /// `VIDEO`, `IMAGE`, `AUDIO`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Duration in seconds.
    pub duration: Option<f64>,
    /// "User can offline this asset".
    pub can_offline: Option<bool>,
    /// "True if the asset should not be viewable by the user."
    pub deny_view: Option<bool>,
    /// DRM on the asset's project.
    pub drm_enabled: Option<bool>,
    /// Bytes of primary files needed offline (with `include_offline_bytes`).
    pub offline_bytes: Option<u64>,
    /// Views left (share assets only).
    pub view_count_remaining: Option<i64>,
    /// Reasons viewing is restricted (share assets only).
    pub viewing_restricted: Option<Vec<String>>,
}

/// A file of an asset (`/get/asset/files`, `/get/asset/file/primary`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxFile {
    /// The file ID.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// The asset it belongs to.
    #[serde(deserialize_with = "de_id")]
    pub asset_id: Option<String>,
    /// "The file framerate (expressed in FPS)".
    pub frame_rate: Option<f64>,
    /// "Time Code Start" (format undocumented; read as SMPTE `HH:MM:SS:FF` / `HH:MM:SS;FF`).
    pub tc_start: Option<String>,
    /// Picture width.
    pub width: Option<u32>,
    /// Picture height.
    pub height: Option<u32>,
    /// "The file size in bytes".
    pub used_bytes: Option<u64>,
    /// "Can be played natively in the browser".
    pub is_playable: Option<bool>,
    /// DRM manifests.
    pub is_dash: Option<bool>,
    /// DRM manifests.
    pub is_fairplay: Option<bool>,
    /// DRM manifests.
    pub is_playready: Option<bool>,
    /// Live / realtime manifests.
    pub is_realtime: Option<bool>,
    /// Live streams.
    pub is_webrtc: Option<bool>,
    /// `ACTIVE`, `DELETED` or `PROCESSING`.
    pub status: Option<String>,
    /// "The URL where this file can be accessed".
    pub url: Option<String>,
    /// Overlay watermark to composite over the picture.
    pub watermark_url: Option<String>,
}

impl MxFile {
    /// Whether the file is a DRM manifest Framenote cannot decrypt.
    pub fn is_drm(&self) -> bool {
        self.is_dash == Some(true)
            || self.is_fairplay == Some(true)
            || self.is_playready == Some(true)
    }

    /// Whether it is a live stream rather than a file.
    pub fn is_live(&self) -> bool {
        self.is_realtime == Some(true) || self.is_webrtc == Some(true)
    }
}

/// A share in the inbox (`/get/sent/messages`, `/get/message`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxMessage {
    /// The message ID.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// Its subject.
    pub subject: Option<String>,
    /// "True if the message allows asset offlining on mobile devices".
    pub allow_offline: Option<bool>,
    /// "True if the message allows asset downloads".
    pub allow_download: Option<bool>,
    /// IP address or view-count restrictions may apply.
    pub can_be_restricted: Option<bool>,
    /// Expired shares.
    pub is_expired: Option<bool>,
    /// `ALL`, `SOME` or `NONE`: the playlink's offline setting. Documented only on playlink
    /// default settings; honoured here when a share carries it.
    pub offline_assets: Option<String>,
}

/// A comment (`/get/comments`, `/create/comment`, `/update/comment`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxComment {
    /// The comment ID.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    /// The UUID the creator assigned.
    pub uuid: Option<String>,
    /// The asset.
    #[serde(deserialize_with = "de_id")]
    pub asset_id: Option<String>,
    /// The text.
    pub description: Option<String>,
    /// Creation date.
    pub created: Option<String>,
    /// Attached to a timeline marker.
    pub has_marker: Option<bool>,
    /// Seconds.
    pub marker_time: Option<f64>,
    /// Seconds (unit not stated; read like `marker_time`).
    pub marker_duration: Option<f64>,
    /// Timecode of `marker_time`.
    pub marker_timecode: Option<String>,
    /// A reply?
    pub is_reply: Option<bool>,
    /// The comment answered.
    #[serde(deserialize_with = "de_id")]
    pub parent_id: Option<String>,
    /// A DRAWING_V2 indicator exists.
    pub has_drawing: Option<bool>,
    /// Set when someone marked it complete (there is no `is_complete` in responses).
    #[serde(deserialize_with = "de_id")]
    pub completed_by_user_id: Option<String>,
    /// Author.
    pub user_first_name: Option<String>,
    /// Author.
    pub user_last_name: Option<String>,
    /// Author as given at creation.
    pub creator_name: Option<String>,
}

/// One activity log event (`/get/activity`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MxActivity {
    /// UPLOAD, COMMENT, DELETE, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The asset concerned.
    #[serde(deserialize_with = "de_id")]
    pub asset_id: Option<String>,
    /// The batch concerned.
    #[serde(deserialize_with = "de_id")]
    pub batch_id: Option<String>,
    /// When (ISO).
    pub time: Option<String>,
}

// ----- browse-node ids ---------------------------------------------------------------------

/// What a browse node is on the platform. Node ids carry their kind, because `list_nodes` and
/// `list_assets` receive only the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    /// `company:<id>`.
    Company(String),
    /// `folder:<id>`, a production folder.
    ProductionFolder(String),
    /// `group:<id>`, a production.
    Group(String),
    /// `project:<id>`, a folder.
    Project(String),
    /// `batch:<id>`.
    Batch(String),
    /// `inbox`, the shares sent to the user.
    Inbox,
    /// `message:<id>`, one share.
    Message(String),
}

impl NodeRef {
    /// The node id Framenote uses.
    pub fn remote_id(&self) -> RemoteId {
        RemoteId::new(match self {
            NodeRef::Company(id) => format!("company:{id}"),
            NodeRef::ProductionFolder(id) => format!("folder:{id}"),
            NodeRef::Group(id) => format!("group:{id}"),
            NodeRef::Project(id) => format!("project:{id}"),
            NodeRef::Batch(id) => format!("batch:{id}"),
            NodeRef::Inbox => "inbox".to_owned(),
            NodeRef::Message(id) => format!("message:{id}"),
        })
    }

    /// Reads a node id made by [`NodeRef::remote_id`].
    pub fn parse(id: &RemoteId) -> crate::Result<Self> {
        let text = id.as_str();
        if text == "inbox" {
            return Ok(NodeRef::Inbox);
        }
        let bad = || {
            ConnectorError::new(
                ErrorKind::NotFound,
                format!("not a Flow Capture node id: {text:?}"),
            )
        };
        let (kind, value) = text.split_once(':').ok_or_else(bad)?;
        if value.is_empty() {
            return Err(bad());
        }
        let value = value.to_owned();
        Ok(match kind {
            "company" => NodeRef::Company(value),
            "folder" => NodeRef::ProductionFolder(value),
            "group" => NodeRef::Group(value),
            "project" => NodeRef::Project(value),
            "batch" => NodeRef::Batch(value),
            "message" => NodeRef::Message(value),
            _ => return Err(bad()),
        })
    }
}

fn named(name: &Option<String>, fallback: &str, id: &str) -> String {
    name.clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("{fallback} {id}"))
}

/// Companies become workspaces.
pub fn company_node(c: &MxCompany) -> Option<Node> {
    let id = c.id.clone()?;
    Some(Node {
        id: NodeRef::Company(id.clone()).remote_id(),
        parent: None,
        kind: NodeKind::Workspace,
        name: named(&c.name, "Company", &id),
        status: None,
    })
}

/// Production folders become folders under their company.
pub fn production_folder_node(f: &MxProductionFolder, company: &str) -> Option<Node> {
    let id = f.id.clone()?;
    Some(Node {
        id: NodeRef::ProductionFolder(id.clone()).remote_id(),
        parent: Some(NodeRef::Company(company.to_owned()).remote_id()),
        kind: NodeKind::Folder,
        name: named(&f.name, "Production folder", &id),
        status: None,
    })
}

/// Groups ("Productions") become projects; deleted ones are hidden.
pub fn group_node(g: &MxGroup, parent: &NodeRef) -> Option<Node> {
    if g.status.as_deref() == Some("DELETED") {
        return None;
    }
    let id = g.id.clone()?;
    Some(Node {
        id: NodeRef::Group(id.clone()).remote_id(),
        parent: Some(parent.remote_id()),
        kind: NodeKind::Project,
        name: named(&g.name, "Production", &id),
        status: g.status.clone().filter(|s| s != "ACTIVE"),
    })
}

/// Projects ("Folders") become folders; deleted ones are hidden.
pub fn project_node(p: &MxProject, parent: &NodeRef) -> Option<Node> {
    if p.status.as_deref() == Some("DELETED") {
        return None;
    }
    let id = p.id.clone()?;
    Some(Node {
        id: NodeRef::Project(id.clone()).remote_id(),
        parent: Some(parent.remote_id()),
        kind: NodeKind::Folder,
        name: named(&p.name, "Folder", &id),
        status: p.status.clone().filter(|s| s != "ACTIVE"),
    })
}

/// Batches become collections; deleted ones are hidden.
pub fn batch_node(b: &MxBatch, project: &str) -> Option<Node> {
    if b.status.as_deref() == Some("DELETED") {
        return None;
    }
    let id = b.id.clone()?;
    Some(Node {
        id: NodeRef::Batch(id.clone()).remote_id(),
        parent: Some(NodeRef::Project(project.to_owned()).remote_id()),
        kind: NodeKind::Collection,
        name: named(&b.name, "Batch", &id),
        status: None,
    })
}

/// The inbox root.
pub fn inbox_node() -> Node {
    Node {
        id: NodeRef::Inbox.remote_id(),
        parent: None,
        kind: NodeKind::Folder,
        name: "Shared with me".to_owned(),
        status: None,
    }
}

/// A share in the inbox becomes a playlist; expired ones are marked.
pub fn message_node(m: &MxMessage) -> Option<Node> {
    let id = m.id.clone()?;
    Some(Node {
        id: NodeRef::Message(id.clone()).remote_id(),
        parent: Some(NodeRef::Inbox.remote_id()),
        kind: NodeKind::Playlist,
        name: named(&m.subject, "Share", &id),
        status: (m.is_expired == Some(true)).then(|| "expired".to_owned()),
    })
}

// ----- time ----------------------------------------------------------------------------------

/// The exact rate a float FPS stands for: the NTSC rates (23.976, 29.97, 47.952, 59.94, 119.88)
/// become their /1001 rationals, whole rates stay whole, anything else is kept to 1/1000 fps.
pub fn rate_from_fps(fps: f64) -> Option<FrameRate> {
    if !fps.is_finite() || fps <= 0.0 || fps > 1000.0 {
        return None;
    }
    for base in [24u32, 30, 48, 60, 120] {
        let ntsc = base as f64 * 1000.0 / 1001.0;
        if (fps - ntsc).abs() < 0.005 {
            return Some(FrameRate::new(base * 1000, 1001));
        }
    }
    let whole = fps.round();
    if (fps - whole).abs() < 0.001 {
        return Some(FrameRate::new(whole as u32, 1));
    }
    FrameRate::try_new((fps * 1000.0).round() as u32, 1000).ok()
}

/// `marker_time` for frame `index`: the exact start of the frame, `index × den / num` seconds,
/// as the nearest float (what any client computing "frame × frame duration" sends).
pub fn seconds_of_frame(rate: FrameRate, index: u64) -> f64 {
    rate.frame_to_seconds(index as i64).as_f64()
}

/// How far before a frame's exact start a time may fall and still count as that frame: floats
/// carrying an exact start (ours, or another client's `frame / fps`) land a hair either side
/// of it. One microsecond is far below any frame's duration and far above float noise.
const START_TOLERANCE_NS: i64 = 1_000;

/// The frame index containing `seconds`; `None` for negative or non-finite times.
pub fn frame_of_seconds(rate: FrameRate, seconds: f64) -> Option<u64> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let nanos = (seconds * 1_000_000_000.0).round() as i64;
    u64::try_from(rate.frame_at(nanos + START_TOLERANCE_NS, TimeUnit::Nanos)).ok()
}

/// The clock of a version: its rate, start timecode and first frame number.
pub fn clock_of(media: &MediaInfo) -> FrameClock {
    FrameClock::new(media.frame_rate, media.start_timecode, media.first_frame).unwrap_or(
        FrameClock {
            rate: media.frame_rate,
            start_timecode: Timecode::zero(media.frame_rate),
            first_frame: media.first_frame,
        },
    )
}

/// The frames a comment's marker covers. `marker_time` wins; `marker_timecode` is the fallback
/// for comments that only carry a label.
pub fn frames_of_comment(c: &MxComment, clock: &FrameClock) -> Option<FrameSpan> {
    if c.has_marker == Some(false) {
        return None;
    }
    let start = match c.marker_time.and_then(|t| frame_of_seconds(clock.rate, t)) {
        Some(start) => start,
        None => {
            let label = c.marker_timecode.as_deref()?;
            u64::try_from(clock.parse_timecode(label).ok()?).ok()?
        }
    };
    let end = match c.marker_duration {
        Some(d) if d.is_finite() && d > 0.0 => {
            let frames = (d * clock.rate.num as f64 / clock.rate.den as f64).round() as u64;
            start + frames.max(1) - 1
        }
        _ => start,
    };
    Some(FrameSpan { start, end })
}

/// `marker_duration` for a span: the seconds its frames last (0 for one frame, which Flow
/// Capture shows as a point marker).
pub fn duration_of_span(rate: FrameRate, span: FrameSpan) -> f64 {
    if span.end <= span.start {
        return 0.0;
    }
    let frames = span.end - span.start + 1;
    frames as f64 * rate.den as f64 / rate.num as f64
}

// ----- assets, versions, offline --------------------------------------------------------------

/// The file Framenote plays for an asset: an active, browser-playable, non-DRM, non-live file,
/// the largest picture first (review quality); failing that any active file, so notes still
/// work while the media cannot be played.
pub fn pick_file(files: &[MxFile]) -> Option<&MxFile> {
    let active = |f: &&MxFile| f.status.as_deref().is_none_or(|s| s == "ACTIVE") && f.id.is_some();
    files
        .iter()
        .filter(active)
        .filter(|f| f.is_playable != Some(false) && !f.is_drm() && !f.is_live())
        .max_by_key(|f| (f.width.unwrap_or(0) as u64) * (f.height.unwrap_or(0) as u64))
        .or_else(|| files.iter().find(active))
}

/// The version for an asset's chosen file. Flow Capture has no versions: one asset is one
/// version, numbered 1, identified by the file played.
pub fn version_of(asset: &MxAsset, file: &MxFile) -> Option<Version> {
    let asset_id = asset.id.clone()?;
    let file_id = file.id.clone()?;
    let frame_rate = file
        .frame_rate
        .and_then(rate_from_fps)
        .unwrap_or(FrameRate::FPS_24);
    let start_timecode =
        file.tc_start
            .as_deref()
            .and_then(|label| match Timecode::parse(label, frame_rate) {
                Ok(tc) => Some(tc),
                Err(e) => {
                    tracing::debug!(%label, error = %e, "Flow Capture tc_start not understood");
                    None
                }
            });
    let frame_count = asset
        .duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| (d * frame_rate.num as f64 / frame_rate.den as f64).round() as u64);
    Some(Version {
        id: RemoteId::new(file_id),
        asset: RemoteId::new(asset_id),
        number: 1,
        label: "v1".to_owned(),
        media: MediaInfo {
            frame_rate,
            start_timecode,
            first_frame: 0,
            frame_count,
            width: file.width,
            height: file.height,
            bytes: file.used_bytes.or(asset.offline_bytes),
        },
    })
}

/// Everything the platform says about whether this asset may be kept offline.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineFacts<'a> {
    /// The asset.
    pub asset: Option<&'a MxAsset>,
    /// Its project, with the user's permission flags.
    pub project: Option<&'a MxProject>,
    /// The file that would be copied.
    pub file: Option<&'a MxFile>,
    /// The share it was reached through, if any.
    pub message: Option<&'a MxMessage>,
}

fn denied(reason: &str) -> OfflinePolicy {
    OfflinePolicy {
        allowed: false,
        reason: Some(reason.to_owned()),
    }
}

/// The offline rule, in one place. The first matching prohibition gives the reason shown to the
/// reviewer; an explicit permission is required (asset `can_offline`, else project
/// `can_offline`), because keeping a copy the platform did not allow is the expensive mistake.
pub fn offline_policy(facts: OfflineFacts<'_>) -> OfflinePolicy {
    let asset = facts.asset;
    let project = facts.project;
    let message = facts.message;
    if asset.and_then(|a| a.deny_view) == Some(true)
        || project.and_then(|p| p.deny_view) == Some(true)
    {
        return denied("You are not allowed to view this asset.");
    }
    if project.and_then(|p| p.deny_download) == Some(true) {
        return denied("Downloads are denied on this folder.");
    }
    if asset.and_then(|a| a.drm_enabled) == Some(true)
        || project.and_then(|p| p.drm_enabled) == Some(true)
        || facts.file.is_some_and(MxFile::is_drm)
    {
        return denied("DRM-protected media plays online only.");
    }
    if facts.file.is_some_and(MxFile::is_live) {
        return denied("Live streams cannot be kept offline.");
    }
    if let Some(m) = message {
        if m.allow_offline == Some(false) {
            return denied("This share does not allow offline copies.");
        }
        if m.offline_assets.as_deref() == Some("NONE") {
            return denied("This share does not allow offline copies.");
        }
    }
    if asset.is_some_and(|a| {
        a.view_count_remaining.is_some()
            || a.viewing_restricted.as_ref().is_some_and(|r| !r.is_empty())
    }) {
        return denied("Viewing is limited by view count or location; it must be checked online.");
    }
    if message.and_then(|m| m.can_be_restricted) == Some(true) {
        return denied("Viewing of this share may be restricted; it must be checked online.");
    }
    if facts
        .file
        .is_some_and(|f| f.watermark_url.as_deref().is_some_and(|u| !u.is_empty()))
    {
        return denied("An overlay watermark must be shown over this media.");
    }
    let asset_says = asset.and_then(|a| a.can_offline);
    let project_says = project.and_then(|p| p.can_offline);
    // A share that says ALL overrides an unstated per-asset flag, never an explicit "no".
    let share_says = message.and_then(|m| match m.offline_assets.as_deref() {
        Some("ALL") => Some(true),
        _ => m.allow_offline,
    });
    match asset_says.or(project_says).or(share_says) {
        Some(true) => OfflinePolicy::ALLOWED,
        Some(false) => denied("Offline copies are not allowed for this asset."),
        None => denied("Flow Capture did not say offline copies are allowed."),
    }
}

/// An asset with its version (when it has a file) and its offline policy.
pub fn asset_of(
    asset: &MxAsset,
    parent: RemoteId,
    files: &[MxFile],
    project: Option<&MxProject>,
    message: Option<&MxMessage>,
) -> Option<Asset> {
    let id = asset.id.clone()?;
    if asset.status.as_deref() == Some("DELETED") {
        return None;
    }
    let file = pick_file(files);
    let versions = file
        .and_then(|f| version_of(asset, f))
        .into_iter()
        .collect();
    let offline = offline_policy(OfflineFacts {
        asset: Some(asset),
        project,
        file,
        message,
    });
    Some(Asset {
        id: RemoteId::new(id.clone()),
        parent,
        name: named(&asset.name, "Asset", &id),
        status: asset.status.clone().filter(|s| s != "ACTIVE"),
        updated_at: asset.created.as_deref().map(normalise_time),
        offline,
        versions,
    })
}

/// Flow Capture dates are "ISO format"; they are passed on as RFC 3339 UTC when they parse
/// (naive ones are read as UTC), unchanged otherwise.
pub fn normalise_time(text: &str) -> String {
    match crate::parse_timestamp(text) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => text.to_owned(),
    }
}

// ----- comments ↔ notes ---------------------------------------------------------------------

/// A comment as a note, on `version`'s clock. The drawing comes from the indicator SVG, read
/// separately.
pub fn note_of_comment(
    c: &MxComment,
    version: &Version,
    drawing: Option<framenote_core::Drawing>,
) -> Option<RemoteNote> {
    let id = c.id.clone()?;
    let clock = clock_of(&version.media);
    let author = match (&c.user_first_name, &c.user_last_name) {
        (Some(f), Some(l)) => format!("{f} {l}").trim().to_owned(),
        (Some(f), None) => f.clone(),
        (None, Some(l)) => l.clone(),
        (None, None) => c.creator_name.clone().unwrap_or_default(),
    };
    let resolved = c.completed_by_user_id.as_deref().is_some_and(|u| u != "0");
    Some(RemoteNote {
        id: RemoteId::new(id),
        version: version.id.clone(),
        parent: c.parent_id.clone().map(RemoteId::new),
        author,
        created_at: c.created.as_deref().map(normalise_time).unwrap_or_default(),
        text: c.description.clone().unwrap_or_default(),
        frames: frames_of_comment(c, &clock),
        status: if resolved {
            NoteStatus::Resolved
        } else {
            NoteStatus::Open
        },
        drawing,
        client_id: c.uuid.clone().filter(|u| !u.is_empty()),
    })
}

/// The `/update/comment` data that creates `note` (or finds it again): `id` and `uuid` are the
/// client id, which makes a retry after a lost answer update the same comment instead of
/// posting a second one ("Update a comment or create a new comment if it does not exist").
pub fn comment_payload(note: &NewNote, created: &str) -> Value {
    let media = &note.version.media;
    let clock = clock_of(media);
    let mut data = json!({
        "id": note.client_id,
        "uuid": note.client_id,
        "asset_id": note.version.asset.as_str(),
        "description": note.text,
        "type": "COMMENT",
        "channel_type": "PUBLIC",
        "created": created,
    });
    if let (Some(w), Some(h)) = (media.width, media.height) {
        data["width"] = json!(w);
        data["height"] = json!(h);
    }
    match &note.frames {
        Some(span) => {
            data["has_marker"] = json!(true);
            data["marker_time"] = json!(seconds_of_frame(clock.rate, span.start));
            data["marker_timecode"] = json!(clock.timecode(span.start as i64).to_string());
            let duration = duration_of_span(clock.rate, *span);
            if duration > 0.0 {
                data["marker_duration"] = json!(duration);
            }
        }
        None => data["has_marker"] = json!(false),
    }
    if let Some(parent) = &note.parent {
        data["is_reply"] = json!(true);
        data["parent_id"] = id_value(parent.as_str());
    }
    data
}

/// Ids go back as numbers when they are numbers, as the document types them.
pub fn id_value(id: &str) -> Value {
    match id.parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let path = format!(
            "{}/../../../tests/fixtures/moxion/seed.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("seed.json is JSON")
    }

    fn find<'a>(seed: &'a Value, table: &str, id: u64) -> &'a Value {
        seed[table]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["id"] == json!(id)))
            .unwrap_or_else(|| panic!("{table} {id} in the fixture"))
    }

    fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> T {
        serde_json::from_value(v.clone()).expect("fixture row parses")
    }

    #[test]
    fn ntsc_rates_become_rationals() {
        assert_eq!(rate_from_fps(23.976), Some(FrameRate::FPS_23_976));
        assert_eq!(rate_from_fps(23.98), Some(FrameRate::FPS_23_976));
        assert_eq!(rate_from_fps(29.97), Some(FrameRate::FPS_29_97));
        assert_eq!(rate_from_fps(59.94), Some(FrameRate::FPS_59_94));
        assert_eq!(rate_from_fps(25.0), Some(FrameRate::FPS_25));
        assert_eq!(rate_from_fps(12.5), Some(FrameRate::new(25, 2)));
        assert_eq!(rate_from_fps(0.0), None);
        assert_eq!(rate_from_fps(f64::NAN), None);
    }

    #[test]
    fn marker_seconds_round_trip_every_frame_at_ntsc_rates() {
        for rate in [
            FrameRate::FPS_23_976,
            FrameRate::FPS_29_97,
            FrameRate::FPS_59_94,
            FrameRate::FPS_25,
        ] {
            for index in (0..200_000u64)
                .step_by(997)
                .chain([0, 1, 2, 1799, 1800, 17982])
            {
                let s = seconds_of_frame(rate, index);
                assert_eq!(
                    frame_of_seconds(rate, s),
                    Some(index),
                    "{rate} frame {index} at {s}s"
                );
            }
        }
        assert_eq!(frame_of_seconds(FrameRate::FPS_24, -0.5), None);
    }

    #[test]
    fn fixture_assets_map_with_rates_timecodes_and_policies() {
        let seed = fixture();
        let project: MxProject = parse(find(&seed, "projects", 40));
        let asset: MxAsset = parse(find(&seed, "assets", 60));
        let file: MxFile = parse(find(&seed, "files", 70));
        let mapped = asset_of(
            &asset,
            RemoteId::new("batch:50"),
            &[file],
            Some(&project),
            None,
        )
        .expect("asset");
        assert_eq!(mapped.offline, OfflinePolicy::ALLOWED);
        let v = &mapped.versions[0];
        assert_eq!(v.id.as_str(), "70");
        assert_eq!(v.media.frame_rate, FrameRate::FPS_23_976);
        assert_eq!(
            v.media.start_timecode.map(|t| t.to_string()).as_deref(),
            Some("01:00:00:00")
        );

        let df: MxFile = parse(find(&seed, "files", 71));
        let asset61: MxAsset = parse(find(&seed, "assets", 61));
        let v = version_of(&asset61, &df).expect("version");
        assert_eq!(v.media.frame_rate, FrameRate::FPS_29_97);
        let tc = v.media.start_timecode.expect("tc_start parses");
        assert!(tc.drop_frame);
        assert_eq!(tc.to_string(), "00:00:59;00");
        // One second later is minute 1, whose labels ;00 and ;01 are dropped.
        let clock = clock_of(&v.media);
        assert_eq!(clock.timecode(29).to_string(), "00:00:59;29");
        assert_eq!(clock.timecode(30).to_string(), "00:01:00;02");
    }

    #[test]
    fn secure_folder_denies_offline_with_reasons() {
        let seed = fixture();
        let project: MxProject = parse(find(&seed, "projects", 42));
        let asset: MxAsset = parse(find(&seed, "assets", 62));
        let file: MxFile = parse(find(&seed, "files", 72));
        let policy = offline_policy(OfflineFacts {
            asset: Some(&asset),
            project: Some(&project),
            file: Some(&file),
            message: None,
        });
        assert!(!policy.allowed);
        assert_eq!(
            policy.reason.as_deref(),
            Some("Downloads are denied on this folder.")
        );
    }

    #[test]
    fn each_offline_rule_has_its_reason() {
        let ok_asset = MxAsset {
            id: Some("1".into()),
            can_offline: Some(true),
            ..Default::default()
        };
        let base = OfflineFacts {
            asset: Some(&ok_asset),
            ..Default::default()
        };
        assert_eq!(offline_policy(base), OfflinePolicy::ALLOWED);

        let no = MxAsset {
            can_offline: Some(false),
            ..ok_asset.clone()
        };
        assert!(
            !offline_policy(OfflineFacts {
                asset: Some(&no),
                ..base
            })
            .allowed
        );

        let drm_file = MxFile {
            is_dash: Some(true),
            ..Default::default()
        };
        let p = offline_policy(OfflineFacts {
            file: Some(&drm_file),
            ..base
        });
        assert_eq!(
            p.reason.as_deref(),
            Some("DRM-protected media plays online only.")
        );

        let watermarked = MxFile {
            watermark_url: Some("https://x/wm.png".into()),
            ..Default::default()
        };
        assert!(
            !offline_policy(OfflineFacts {
                file: Some(&watermarked),
                ..base
            })
            .allowed
        );

        let share = MxMessage {
            allow_offline: Some(false),
            ..Default::default()
        };
        let p = offline_policy(OfflineFacts {
            message: Some(&share),
            ..base
        });
        assert_eq!(
            p.reason.as_deref(),
            Some("This share does not allow offline copies.")
        );

        let none_share = MxMessage {
            offline_assets: Some("NONE".into()),
            ..Default::default()
        };
        assert!(
            !offline_policy(OfflineFacts {
                message: Some(&none_share),
                ..base
            })
            .allowed
        );

        let counted = MxAsset {
            view_count_remaining: Some(3),
            ..ok_asset.clone()
        };
        assert!(
            !offline_policy(OfflineFacts {
                asset: Some(&counted),
                ..base
            })
            .allowed
        );

        let unknown = MxAsset::default();
        let p = offline_policy(OfflineFacts {
            asset: Some(&unknown),
            ..Default::default()
        });
        assert!(!p.allowed, "no explicit permission, no copy");

        let project_allows = MxProject {
            can_offline: Some(true),
            ..Default::default()
        };
        assert!(
            offline_policy(OfflineFacts {
                asset: Some(&unknown),
                project: Some(&project_allows),
                ..Default::default()
            })
            .allowed
        );
    }

    #[test]
    fn fixture_comments_become_notes_on_the_right_frames() {
        let seed = fixture();
        let asset: MxAsset = parse(find(&seed, "assets", 60));
        let file: MxFile = parse(find(&seed, "files", 70));
        let version = version_of(&asset, &file).expect("version");
        let c: MxComment = parse(find(&seed, "comments", 80));
        let note = note_of_comment(&c, &version, None).expect("note");
        assert_eq!(note.author, "Otto Other");
        assert_eq!(note.frames, Some(FrameSpan::frame(48)));
        assert_eq!(note.status, NoteStatus::Open);
        let reply: MxComment = parse(find(&seed, "comments", 81));
        let reply = note_of_comment(&reply, &version, None).expect("reply");
        assert_eq!(reply.parent.as_ref().map(RemoteId::as_str), Some("80"));
        assert_eq!(reply.status, NoteStatus::Resolved);
        // A comment with only a timecode label is placed by the label.
        let label_only = MxComment {
            id: Some("9".into()),
            has_marker: Some(true),
            marker_timecode: Some("01:00:01:00".into()),
            ..Default::default()
        };
        assert_eq!(
            note_of_comment(&label_only, &version, None).and_then(|n| n.frames),
            Some(FrameSpan::frame(24))
        );
    }

    #[test]
    fn payload_places_the_marker_on_the_frame_at_29_97_df() {
        let media = MediaInfo {
            frame_rate: FrameRate::FPS_29_97,
            start_timecode: Timecode::parse("00:00:59;00", FrameRate::FPS_29_97).ok(),
            first_frame: 0,
            frame_count: None,
            width: Some(1920),
            height: Some(1080),
            bytes: None,
        };
        let version = Version {
            id: RemoteId::new("71"),
            asset: RemoteId::new("61"),
            number: 1,
            label: "v1".into(),
            media,
        };
        let note = NewNote {
            client_id: "0190-uuid".into(),
            version: version.clone(),
            parent: None,
            text: "Fix the flicker".into(),
            frames: Some(FrameSpan {
                start: 90,
                end: 119,
            }),
            drawing: None,
            status: None,
        };
        let data = comment_payload(&note, "2026-11-22T10:00:00.000Z");
        assert_eq!(data["id"], "0190-uuid");
        assert_eq!(data["marker_timecode"], "00:01:02;02");
        let c: MxComment = serde_json::from_value(json!({
            "id": 5, "has_marker": true,
            "marker_time": data["marker_time"], "marker_duration": data["marker_duration"],
        }))
        .expect("comment");
        let back = note_of_comment(&c, &version, None).expect("note");
        assert_eq!(
            back.frames,
            Some(FrameSpan {
                start: 90,
                end: 119
            })
        );
    }

    #[test]
    fn node_ids_round_trip_and_reject_garbage() {
        for node in [
            NodeRef::Company("1".into()),
            NodeRef::ProductionFolder("2".into()),
            NodeRef::Group("3".into()),
            NodeRef::Project("4".into()),
            NodeRef::Batch("5".into()),
            NodeRef::Inbox,
            NodeRef::Message("6".into()),
        ] {
            assert_eq!(NodeRef::parse(&node.remote_id()).expect("parses"), node);
        }
        for bad in ["", "batch:", "42", "shot:1"] {
            assert!(NodeRef::parse(&RemoteId::new(bad)).is_err(), "{bad}");
        }
    }
}
