//! Zou JSON ↔ Framenote's domain, as pure functions tested on fixtures captured from a real Zou
//! 1.0.97 (`tests/fixtures/kitsu/`).
//!
//! The browse tree: open projects of the user → per project a "To check" folder (tasks waiting
//! for the user's review, `/data/user/tasks-to-check`) and a "To do" folder (tasks assigned to the
//! user, `/data/user/tasks`) → tasks as assets → the task's preview files as versions (revision
//! numbers are version numbers). Frame rates come from the entity's `data.fps`, else the project's
//! `fps` string (Zou's own resolution order). Kitsu has no timecode and no frame offset in preview
//! files; the shot's `data.frame_in` is used as the first displayed frame number when set.
//!
//! Kitsu comments have no frame and no client id, so Framenote appends a hidden marker to the
//! text of the comments and replies it posts: `<!-- framenote {"id":…,"v":…,"f":[start,end]} -->`.
//! Kitsu web renders comments as sanitised Markdown, where an HTML comment shows nothing; Framenote
//! strips it when reading. It carries the client id (so a retry after a lost answer finds the
//! comment instead of posting it twice), the preview the note is about, and its frames.

use framenote_core::{
    Asset, FrameRate, FrameSpan, MediaInfo, Node, NodeKind, NoteStatus, OfflinePolicy, RemoteId,
    Version,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::RemoteNote;

/// Prefix of the folder node holding tasks to check, followed by the project id.
pub const TO_CHECK_PREFIX: &str = "to-check:";
/// Prefix of the folder node holding tasks to do, followed by the project id.
pub const TO_DO_PREFIX: &str = "to-do:";
/// Prefix of the folder node holding every task of the project the user may see.
pub const ALL_PREFIX: &str = "all:";

/// A project, as `/data/user/projects/open` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ZProject {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Frame rate as text ("24", "23.976", "25,00"); Zou's default is 25.
    #[serde(default)]
    pub fps: Option<String>,
    /// "640x360".
    #[serde(default)]
    pub resolution: Option<String>,
}

/// A task, as the user task lists give it (with their display fields).
#[derive(Debug, Clone, Deserialize)]
pub struct ZTask {
    /// Id.
    pub id: String,
    /// Project id.
    pub project_id: String,
    /// Shot, asset or sequence the task is on.
    #[serde(default)]
    pub entity_id: Option<String>,
    /// Status id.
    #[serde(default)]
    pub task_status_id: Option<String>,
    /// Task type id.
    #[serde(default)]
    pub task_type_id: Option<String>,
    /// Display fields added by the user task lists.
    #[serde(default)]
    pub task_status_short_name: Option<String>,
    /// Display field.
    #[serde(default)]
    pub task_type_name: Option<String>,
    /// Display field.
    #[serde(default)]
    pub entity_name: Option<String>,
    /// Display field.
    #[serde(default)]
    pub sequence_name: Option<String>,
    /// Display field.
    #[serde(default)]
    pub episode_name: Option<String>,
    /// Display field (`entity_data` in Zou's user task lists).
    #[serde(default)]
    pub entity_data: Option<Value>,
    /// Display field.
    #[serde(default)]
    pub entity_nb_frames: Option<Value>,
    /// Last change (naive UTC).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Last comment (naive UTC).
    #[serde(default)]
    pub last_comment_date: Option<String>,
    /// Task name ("main").
    #[serde(default)]
    pub name: Option<String>,
}

/// A preview file (a revision).
#[derive(Debug, Clone, Deserialize)]
pub struct ZPreview {
    /// Id.
    pub id: String,
    /// Task id.
    #[serde(default)]
    pub task_id: Option<String>,
    /// Revision, from 1.
    #[serde(default)]
    pub revision: Option<u32>,
    /// "mp4", "png", …
    #[serde(default)]
    pub extension: Option<String>,
    /// processing / ready / broken.
    #[serde(default)]
    pub status: Option<String>,
    /// The uploaded file's name; Zou sets it once the file is processed and then refuses a
    /// second upload to the same preview.
    #[serde(default)]
    pub original_name: Option<String>,
    /// Picture width.
    #[serde(default)]
    pub width: Option<u32>,
    /// Picture height.
    #[serde(default)]
    pub height: Option<u32>,
    /// Seconds (float).
    #[serde(default)]
    pub duration: Option<f64>,
    /// Bytes of the normalised movie.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// Drawings.
    #[serde(default)]
    pub annotations: Option<Value>,
    /// Created (naive UTC).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Updated (naive UTC).
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A reply stored inside a comment.
#[derive(Debug, Clone, Deserialize)]
pub struct ZReply {
    /// Id.
    pub id: String,
    /// Naive UTC.
    #[serde(default)]
    pub date: Option<String>,
    /// Author.
    #[serde(default)]
    pub person_id: Option<String>,
    /// Text.
    #[serde(default)]
    pub text: Option<String>,
}

/// A comment on a task.
#[derive(Debug, Clone, Deserialize)]
pub struct ZComment {
    /// Id.
    pub id: String,
    /// Text (Markdown).
    #[serde(default)]
    pub text: Option<String>,
    /// Task id.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Author id.
    #[serde(default)]
    pub person_id: Option<String>,
    /// Author (embedded in task comment lists).
    #[serde(default)]
    pub person: Option<Value>,
    /// Created (naive UTC).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Preview files attached (objects in task comment lists, ids elsewhere).
    #[serde(default)]
    pub previews: Vec<Value>,
    /// People who acknowledged it (ids, or objects in some lists).
    #[serde(default)]
    pub acknowledgements: Vec<Value>,
    /// Replies.
    #[serde(default)]
    pub replies: Vec<ZReply>,
}

/// A task status.
#[derive(Debug, Clone, Deserialize)]
pub struct ZTaskStatus {
    /// Id.
    pub id: String,
    /// "wfa", "done", …
    pub short_name: String,
    /// "Waiting For Approval", …
    #[serde(default)]
    pub name: Option<String>,
}

/// Zou's persons as people to mention: active ones, by full name (what Zou matches after `@`),
/// sorted by name. Bots and inactive accounts cannot be mentioned.
pub fn people(persons: &[Value]) -> Vec<crate::Person> {
    let mut people: Vec<crate::Person> = persons
        .iter()
        .filter(|p| p.get("active").and_then(Value::as_bool) != Some(false))
        .filter(|p| p.get("is_bot").and_then(Value::as_bool) != Some(true))
        .filter_map(|p| {
            let id = p.get("id")?.as_str()?.to_string();
            let full = p
                .get("full_name")
                .and_then(Value::as_str)
                .map(str::to_string);
            let name = full.filter(|n| !n.trim().is_empty()).or_else(|| {
                let first = p.get("first_name").and_then(Value::as_str).unwrap_or("");
                let last = p.get("last_name").and_then(Value::as_str).unwrap_or("");
                let joined = format!("{first} {last}").trim().to_string();
                (!joined.is_empty()).then_some(joined)
            })?;
            Some(crate::Person { id, name })
        })
        .collect();
    people.sort_by_key(|p| p.name.to_lowercase());
    people
}

/// Zou's frame-rate text as a rational: NTSC rates (23.976, 29.97, 47.952, 59.94, 119.88) become
/// their exact `×1000/1001` form; others are read as decimals. `None` when unreadable.
pub fn parse_fps(text: &str) -> Option<FrameRate> {
    let value: f64 = text.trim().replace(',', ".").parse().ok()?;
    if !(value.is_finite() && value > 0.0 && value < 1000.0) {
        return None;
    }
    for nominal in [24u32, 30, 48, 60, 120] {
        let ntsc = f64::from(nominal) * 1000.0 / 1001.0;
        if (value - ntsc).abs() < 0.005 {
            return Some(FrameRate::new(nominal * 1000, 1001));
        }
    }
    if (value - value.round()).abs() < 1e-6 {
        return Some(FrameRate::new(value.round() as u32, 1));
    }
    // Other decimals: exact to the thousandth, as Zou keeps them.
    let num = (value * 1000.0).round() as u32;
    let g = gcd(num, 1000);
    Some(FrameRate::new(num / g, 1000 / g))
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

/// The rate Zou uses for a task's previews: entity `data.fps`, else project `fps`, else 25.
pub fn resolve_fps(project: Option<&ZProject>, entity_data: Option<&Value>) -> FrameRate {
    let from_entity = entity_data
        .and_then(|d| d.get("fps"))
        .and_then(|v| match v {
            Value::String(s) => parse_fps(s),
            Value::Number(n) => parse_fps(&n.to_string()),
            _ => None,
        });
    from_entity
        .or_else(|| project.and_then(|p| p.fps.as_deref()).and_then(parse_fps))
        .unwrap_or(FrameRate::new(25, 1))
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A project as a root node.
pub fn project_node(project: &ZProject) -> Node {
    Node {
        id: RemoteId::new(project.id.clone()),
        parent: None,
        kind: NodeKind::Project,
        name: project.name.clone(),
        status: None,
    }
}

/// The two folders under a project.
pub fn project_folders(project_id: &str) -> Vec<Node> {
    vec![
        Node {
            id: RemoteId::new(format!("{TO_CHECK_PREFIX}{project_id}")),
            parent: Some(RemoteId::new(project_id)),
            kind: NodeKind::Folder,
            name: "To check".to_owned(),
            status: None,
        },
        Node {
            id: RemoteId::new(format!("{TO_DO_PREFIX}{project_id}")),
            parent: Some(RemoteId::new(project_id)),
            kind: NodeKind::Folder,
            name: "To do".to_owned(),
            status: None,
        },
        Node {
            id: RemoteId::new(format!("{ALL_PREFIX}{project_id}")),
            parent: Some(RemoteId::new(project_id)),
            kind: NodeKind::Folder,
            name: "All tasks".to_owned(),
            status: None,
        },
    ]
}

/// Fills in the display fields that the user task lists carry but `/data/projects/{id}/tasks`
/// does not (entity and sequence names, the entity's `data` and `nb_frames`, the task type's
/// name), from the project's shots, assets and sequences and the task types.
pub fn enrich_tasks(
    tasks: &mut [ZTask],
    entities: &[Value],
    sequences: &[Value],
    task_types: &[Value],
) {
    let find = |list: &[Value], id: &str| {
        list.iter()
            .find(|v| v.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    for task in tasks.iter_mut() {
        if let Some(entity) = task.entity_id.as_deref().and_then(|id| find(entities, id)) {
            task.entity_name = task.entity_name.take().or_else(|| text(&entity, "name"));
            task.entity_data = task
                .entity_data
                .take()
                .or_else(|| entity.get("data").filter(|d| d.is_object()).cloned());
            task.entity_nb_frames = task
                .entity_nb_frames
                .take()
                .or_else(|| entity.get("nb_frames").filter(|n| !n.is_null()).cloned());
            if task.sequence_name.is_none()
                && let Some(sequence) =
                    text(&entity, "parent_id").and_then(|id| find(sequences, &id))
            {
                task.sequence_name = text(&sequence, "name");
            }
        }
        if task.task_type_name.is_none()
            && let Some(kind) = task
                .task_type_id
                .as_deref()
                .and_then(|id| find(task_types, id))
        {
            task.task_type_name = text(&kind, "name");
        }
    }
}

/// What a person reads for a task: "SQ01 / SH010 · Animation".
pub fn task_label(task: &ZTask) -> String {
    let mut place: Vec<&str> = Vec::new();
    for part in [&task.episode_name, &task.sequence_name, &task.entity_name] {
        if let Some(p) = part.as_deref().filter(|p| !p.is_empty()) {
            place.push(p);
        }
    }
    let place = if place.is_empty() {
        task.id.clone()
    } else {
        place.join(" / ")
    };
    match task.task_type_name.as_deref().filter(|t| !t.is_empty()) {
        Some(kind) => format!("{place} · {kind}"),
        None => place,
    }
}

/// A preview file as a version, for a task at `rate`. `first_frame` is the shot's `frame_in`.
pub fn preview_version(
    preview: &ZPreview,
    task_id: &str,
    rate: FrameRate,
    first_frame: i64,
    entity_frames: Option<u64>,
) -> Version {
    let number = preview.revision.unwrap_or(1).max(1);
    // The proxy's own duration decides how many frames play; the shot's nb_frames is the
    // editorial length and only a fallback.
    let frame_count = preview
        .duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| (d * f64::from(rate.num) / f64::from(rate.den)).round() as u64)
        .or(entity_frames);
    Version {
        id: RemoteId::new(preview.id.clone()),
        asset: RemoteId::new(task_id),
        number,
        label: format!("v{number:03}"),
        media: MediaInfo {
            frame_rate: rate,
            start_timecode: None,
            first_frame,
            frame_count,
            width: preview.width,
            height: preview.height,
            bytes: preview.file_size.filter(|b| *b > 0),
        },
    }
}

/// Whether a preview is a playable movie (ready, with a movie extension).
pub fn is_playable_movie(preview: &ZPreview) -> bool {
    let movie = matches!(
        preview
            .extension
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("mp4" | "mov" | "webm" | "mkv" | "avi" | "m4v")
    );
    movie && preview.status.as_deref().is_none_or(|s| s == "ready")
}

/// The latest of the timestamps (naive UTC strings compare correctly as text when same format;
/// parsed to be safe).
fn latest<'a>(stamps: impl IntoIterator<Item = &'a Option<String>>) -> Option<String> {
    stamps
        .into_iter()
        .flatten()
        .filter_map(|s| crate::parse_timestamp(s).map(|t| (t, s)))
        .max_by_key(|(t, _)| *t)
        .map(|(t, _)| t.to_rfc3339())
}

/// A task with its previews (any order) as an asset, versions oldest first.
pub fn task_asset(
    task: &ZTask,
    parent: &RemoteId,
    project: Option<&ZProject>,
    previews: &[ZPreview],
    status_name: Option<String>,
) -> Asset {
    let rate = resolve_fps(project, task.entity_data.as_ref());
    let first_frame = task
        .entity_data
        .as_ref()
        .and_then(|d| d.get("frame_in"))
        .and_then(int_of)
        .unwrap_or(1);
    let entity_frames = task
        .entity_nb_frames
        .as_ref()
        .and_then(int_of)
        .filter(|n| *n > 0)
        .map(|n| n as u64);
    let mut versions: Vec<Version> = previews
        .iter()
        .filter(|p| is_playable_movie(p))
        .map(|p| preview_version(p, &task.id, rate, first_frame, entity_frames))
        .collect();
    versions.sort_by_key(|v| v.number);
    versions.dedup_by_key(|v| v.number);
    let mut stamps = vec![task.updated_at.clone(), task.last_comment_date.clone()];
    stamps.extend(previews.iter().map(|p| p.updated_at.clone()));
    Asset {
        id: RemoteId::new(task.id.clone()),
        parent: parent.clone(),
        name: task_label(task),
        status: status_name.or_else(|| task.task_status_short_name.clone()),
        updated_at: latest(stamps.iter()),
        offline: OfflinePolicy::ALLOWED,
        versions,
    }
}

/// What Framenote hides in the text of the comments it posts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The note's client id.
    pub id: String,
    /// The preview file (version) the note is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
    /// First and last frame index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<[u64; 2]>,
}

const MARKER_OPEN: &str = "<!-- framenote ";
const MARKER_CLOSE: &str = " -->";

/// `text` with the marker appended on its own line.
pub fn text_with_marker(text: &str, marker: &Marker) -> String {
    // serde_json cannot fail on this plain struct of strings and integers.
    let json =
        serde_json::to_string(marker).unwrap_or_else(|_| format!("{{\"id\":\"{}\"}}", marker.id));
    // "--" would end the HTML comment early; JSON of ids and numbers never contains it, but a
    // client id is caller-supplied, so escape it to be safe.
    let json = json.replace("--", "-\\u002d");
    if text.is_empty() {
        format!("{MARKER_OPEN}{json}{MARKER_CLOSE}")
    } else {
        format!("{text}\n\n{MARKER_OPEN}{json}{MARKER_CLOSE}")
    }
}

/// Splits a comment's text into the text a person wrote and Framenote's marker, if any. A
/// damaged marker is left in the text (nothing is lost) and reported as absent.
pub fn split_marker(text: &str) -> (String, Option<Marker>) {
    let Some(start) = text.rfind(MARKER_OPEN) else {
        return (text.to_owned(), None);
    };
    let rest = &text[start + MARKER_OPEN.len()..];
    let Some(end) = rest.find(MARKER_CLOSE) else {
        return (text.to_owned(), None);
    };
    match serde_json::from_str::<Marker>(&rest[..end]) {
        Ok(marker) => {
            let mut clean = text[..start].to_owned();
            clean.push_str(&rest[end + MARKER_CLOSE.len()..]);
            (clean.trim_end().to_owned(), Some(marker))
        }
        Err(_) => (text.to_owned(), None),
    }
}

/// The id in an id-or-object list entry.
fn entry_id(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(_) => v.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// A person's display name from an embedded person object.
fn person_name(person: Option<&Value>, fallback: Option<&str>) -> String {
    if let Some(p) = person {
        if let Some(full) = p
            .get("full_name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return full.to_owned();
        }
        let first = p.get("first_name").and_then(Value::as_str).unwrap_or("");
        let last = p.get("last_name").and_then(Value::as_str).unwrap_or("");
        let joined = format!("{first} {last}").trim().to_owned();
        if !joined.is_empty() {
            return joined;
        }
    }
    fallback.unwrap_or("Unknown").to_owned()
}

fn rfc3339(naive: Option<&str>) -> String {
    naive
        .and_then(crate::parse_timestamp)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// Which version a comment is about: its marker's, else a preview attached to it, else the
/// newest revision that existed when it was written (Kitsu web's implicit rule), else the first.
pub fn comment_version(
    comment: &ZComment,
    marker: Option<&Marker>,
    versions: &[(String, Option<String>)],
) -> Option<String> {
    if let Some(v) = marker.and_then(|m| m.v.clone()) {
        return Some(v);
    }
    if let Some(id) = comment
        .previews
        .iter()
        .filter_map(entry_id)
        .find(|id| versions.iter().any(|(v, _)| v == id))
    {
        return Some(id.to_owned());
    }
    let written = comment
        .created_at
        .as_deref()
        .and_then(crate::parse_timestamp);
    let mut best: Option<&(String, Option<String>)> = None;
    for candidate in versions {
        let created = candidate.1.as_deref().and_then(crate::parse_timestamp);
        if let (Some(w), Some(c)) = (written, created)
            && c <= w
        {
            best = Some(candidate);
        }
    }
    best.or(versions.first()).map(|(v, _)| v.clone())
}

/// A task's comments as notes on `version`, replies included (as notes with a parent).
/// `versions` are the task's (preview id, created_at), oldest first; `me` is the signed-in
/// person, whose acknowledgement means "resolved"; `names` maps person ids to names for replies.
pub fn comments_to_notes(
    comments: &[ZComment],
    version: &str,
    versions: &[(String, Option<String>)],
    me: Option<&str>,
    names: &dyn Fn(&str) -> Option<String>,
) -> Vec<RemoteNote> {
    let mut notes = Vec::new();
    for comment in comments {
        let raw = comment.text.as_deref().unwrap_or("");
        let (text, marker) = split_marker(raw);
        if comment_version(comment, marker.as_ref(), versions).as_deref() != Some(version) {
            continue;
        }
        let acknowledged = me.is_some_and(|me| {
            comment
                .acknowledgements
                .iter()
                .filter_map(entry_id)
                .any(|id| id == me)
        });
        notes.push(RemoteNote {
            id: RemoteId::new(comment.id.clone()),
            version: RemoteId::new(version),
            parent: None,
            author: person_name(comment.person.as_ref(), comment.person_id.as_deref()),
            created_at: rfc3339(comment.created_at.as_deref()),
            text,
            frames: marker
                .as_ref()
                .and_then(|m| m.f)
                .map(|[start, end]| FrameSpan {
                    start,
                    end: end.max(start),
                }),
            status: if acknowledged {
                NoteStatus::Resolved
            } else {
                NoteStatus::Open
            },
            drawing: None,
            client_id: marker.map(|m| m.id),
        });
        for reply in &comment.replies {
            let (text, marker) = split_marker(reply.text.as_deref().unwrap_or(""));
            let author = reply
                .person_id
                .as_deref()
                .and_then(names)
                .unwrap_or_else(|| {
                    reply
                        .person_id
                        .clone()
                        .unwrap_or_else(|| "Unknown".to_owned())
                });
            notes.push(RemoteNote {
                id: RemoteId::new(reply.id.clone()),
                version: RemoteId::new(version),
                parent: Some(RemoteId::new(comment.id.clone())),
                author,
                created_at: rfc3339(reply.date.as_deref()),
                text,
                frames: None,
                status: NoteStatus::Open,
                drawing: None,
                client_id: marker.map(|m| m.id),
            });
        }
    }
    notes
}

#[cfg(test)]
mod tests {

    #[test]
    fn people_are_active_humans_by_full_name() {
        let persons = serde_json::json!([
            {"id": "2", "full_name": "Zoe Lead", "active": true},
            {"id": "1", "first_name": "ada", "last_name": "Comp", "active": true},
            {"id": "3", "full_name": "Gone Person", "active": false},
            {"id": "4", "full_name": "Render Bot", "is_bot": true},
            {"id": "5", "full_name": "   "}
        ]);
        let people = people(persons.as_array().unwrap());
        let names: Vec<&str> = people.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["ada Comp", "Zoe Lead"]);
        assert_eq!(people[0].id, "1");
    }

    use super::*;

    #[test]
    fn fps_strings() {
        assert_eq!(parse_fps("24"), Some(FrameRate::new(24, 1)));
        assert_eq!(parse_fps("25,00"), Some(FrameRate::new(25, 1)));
        assert_eq!(parse_fps("23.976"), Some(FrameRate::new(24000, 1001)));
        assert_eq!(parse_fps("23.98"), Some(FrameRate::new(24000, 1001)));
        assert_eq!(parse_fps("29.97"), Some(FrameRate::new(30000, 1001)));
        assert_eq!(parse_fps("59.94"), Some(FrameRate::new(60000, 1001)));
        assert_eq!(parse_fps("12.5"), Some(FrameRate::new(25, 2)));
        assert_eq!(parse_fps("0"), None);
        assert_eq!(parse_fps("fast"), None);
        assert_eq!(parse_fps("-24"), None);
    }

    #[test]
    fn entity_fps_wins_over_project() {
        let project = ZProject {
            id: "p".into(),
            name: "P".into(),
            fps: Some("24".into()),
            resolution: None,
        };
        assert_eq!(resolve_fps(Some(&project), None), FrameRate::new(24, 1));
        let data = serde_json::json!({"fps": "29.97"});
        assert_eq!(
            resolve_fps(Some(&project), Some(&data)),
            FrameRate::new(30000, 1001)
        );
        assert_eq!(resolve_fps(None, None), FrameRate::new(25, 1));
    }

    #[test]
    fn marker_round_trip_and_damage() {
        let marker = Marker {
            id: "0192-abc".into(),
            v: Some("pf-1".into()),
            f: Some([17, 17]),
        };
        let text = text_with_marker("Fix the **arm**\n<!-- a comment of theirs -->", &marker);
        let (clean, back) = split_marker(&text);
        assert_eq!(clean, "Fix the **arm**\n<!-- a comment of theirs -->");
        assert_eq!(back, Some(marker.clone()));
        let (clean, back) = split_marker(&text_with_marker("", &marker));
        assert_eq!((clean.as_str(), back), ("", Some(marker)));
        let evil = Marker {
            id: "x-->y".into(),
            v: None,
            f: None,
        };
        let (_, back) = split_marker(&text_with_marker("t", &evil));
        assert_eq!(back.map(|m| m.id).as_deref(), Some("x-->y"));
        let damaged = "text\n\n<!-- framenote {\"id\": -->";
        assert_eq!(split_marker(damaged), (damaged.to_owned(), None));
        assert_eq!(split_marker("plain"), ("plain".to_owned(), None));
    }

    /// Answers captured from a real Zou 1.0.97 by `tests/fixtures/kitsu/capture.py`: a 23.976
    /// project whose shot overrides the rate to 24 (`data.fps`), frame_in 1001, revision 1 by the
    /// artist, and the supervisor's comment with Framenote's marker, a reply and an ack.
    mod captured {
        use super::super::*;
        use crate::kitsu::annotations::{Canvas, drawings_by_owner, kitsu_fps, parse_entries};

        macro_rules! fixture {
            ($name:literal) => {
                serde_json::from_str::<serde_json::Value>(include_str!(concat!(
                    "../../../../../tests/fixtures/kitsu/",
                    $name
                )))
                .unwrap()
            };
        }

        fn ids() -> serde_json::Value {
            fixture!("ids.json")
        }

        #[test]
        fn projects_tasks_and_previews_become_nodes_assets_and_versions() {
            let projects: Vec<ZProject> =
                serde_json::from_value(fixture!("user_projects_open.json")).unwrap();
            assert_eq!(projects.len(), 1);
            assert_eq!(projects[0].fps.as_deref(), Some("23.976"));
            let node = project_node(&projects[0]);
            assert_eq!(node.name, "Capture");
            let folders = project_folders(&projects[0].id);
            assert_eq!(
                folders[0].id.as_str(),
                format!("{TO_CHECK_PREFIX}{}", projects[0].id)
            );

            let tasks: Vec<ZTask> =
                serde_json::from_value(fixture!("user_tasks_to_check.json")).unwrap();
            let previews: Vec<ZPreview> =
                serde_json::from_value(fixture!("task_previews.json")).unwrap();
            let asset = task_asset(
                &tasks[0],
                &folders[0].id,
                Some(&projects[0]),
                &previews,
                None,
            );
            assert_eq!(asset.name, "SQ01 / SH010 · Animation");
            assert_eq!(asset.status.as_deref(), Some("wfa"));
            assert_eq!(asset.id.as_str(), ids()["task"]);
            assert!(
                asset
                    .updated_at
                    .as_deref()
                    .is_some_and(|t| t.starts_with("20"))
            );
            assert_eq!(asset.versions.len(), 1);
            let v = &asset.versions[0];
            assert_eq!(v.id.as_str(), ids()["preview"]);
            assert_eq!((v.number, v.label.as_str()), (1, "v001"));
            // The shot's data.fps ("24") wins over the project's "23.976", as in Zou.
            assert_eq!(v.media.frame_rate, FrameRate::new(24, 1));
            assert_eq!(v.media.frame_count, Some(96), "4.0 s at 24 fps");
            assert_eq!(v.media.first_frame, 1001);
            assert_eq!((v.media.width, v.media.height), (Some(640), Some(360)));
            assert!(v.media.bytes.is_some_and(|b| b > 0));
        }

        #[test]
        fn project_tasks_are_enriched_like_the_user_lists() {
            let mut tasks: Vec<ZTask> =
                serde_json::from_value(fixture!("project_tasks.json")).unwrap();
            let shots: Vec<serde_json::Value> =
                serde_json::from_value(fixture!("project_shots.json")).unwrap();
            let sequences: Vec<serde_json::Value> =
                serde_json::from_value(fixture!("project_sequences.json")).unwrap();
            let types: Vec<serde_json::Value> =
                serde_json::from_value(fixture!("task_types.json")).unwrap();
            assert_eq!(
                tasks[0].entity_name, None,
                "the raw project list has no display fields"
            );
            enrich_tasks(&mut tasks, &shots, &sequences, &types);
            let listed: Vec<ZTask> =
                serde_json::from_value(fixture!("user_tasks_to_check.json")).unwrap();
            assert_eq!(task_label(&tasks[0]), task_label(&listed[0]));
            assert_eq!(task_label(&tasks[0]), "SQ01 / SH010 · Animation");
            assert_eq!(tasks[0].entity_data, listed[0].entity_data);
            let projects: Vec<ZProject> =
                serde_json::from_value(fixture!("user_projects_open.json")).unwrap();
            let previews: Vec<ZPreview> =
                serde_json::from_value(fixture!("task_previews.json")).unwrap();
            let parent = RemoteId::new("p");
            let a = task_asset(&tasks[0], &parent, Some(&projects[0]), &previews, None);
            let b = task_asset(&listed[0], &parent, Some(&projects[0]), &previews, None);
            assert_eq!(
                a.versions, b.versions,
                "same media facts whichever list the task came from"
            );
        }

        #[test]
        fn comments_become_notes_with_marker_reply_and_ack() {
            let comments: Vec<ZComment> =
                serde_json::from_value(fixture!("task_comments.json")).unwrap();
            let previews: Vec<ZPreview> =
                serde_json::from_value(fixture!("task_previews.json")).unwrap();
            let versions: Vec<(String, Option<String>)> = previews
                .iter()
                .map(|p| (p.id.clone(), p.created_at.clone()))
                .collect();
            let preview = ids()["preview"].as_str().unwrap().to_owned();
            let me = ids()["supervisor"].as_str().unwrap().to_owned();
            let notes = comments_to_notes(&comments, &preview, &versions, Some(&me), &|_| {
                Some("Sam Supervisor".into())
            });
            assert_eq!(notes.len(), 3, "{notes:#?}");
            let ours = notes
                .iter()
                .find(|n| n.client_id.is_some() && n.parent.is_none())
                .unwrap();
            assert_eq!(ours.id.as_str(), ids()["comment"]);
            assert_eq!(ours.text, "Arm pops here", "the marker is hidden");
            assert_eq!(ours.frames, Some(FrameSpan::frame(17)));
            assert_eq!(ours.status, NoteStatus::Resolved, "acknowledged by me");
            assert_eq!(ours.author, "Sam Supervisor");
            assert!(ours.created_at.ends_with("+00:00"));
            let reply = notes.iter().find(|n| n.parent.is_some()).unwrap();
            assert_eq!(reply.parent.as_ref(), Some(&ours.id));
            assert_eq!(reply.text, "Fixed in v2?");
            let theirs = notes
                .iter()
                .find(|n| n.client_id.is_none() && n.parent.is_none())
                .unwrap();
            assert_eq!(theirs.text, "Blocking pass v1, please review");
            assert_eq!((theirs.frames, theirs.status), (None, NoteStatus::Open));
            // Someone else's acknowledgement is not my resolution.
            let notes = comments_to_notes(
                &comments,
                &preview,
                &versions,
                Some("someone-else"),
                &|_| None,
            );
            assert!(notes.iter().all(|n| n.status == NoteStatus::Open));
            // On another version: nothing.
            assert!(comments_to_notes(&comments, "other", &versions, None, &|_| None).is_empty());
        }

        #[test]
        fn stored_annotations_are_read_on_their_frame() {
            let preview: ZPreview = serde_json::from_value(fixture!("preview_file.json")).unwrap();
            let entries = parse_entries(preview.annotations.as_ref().unwrap());
            let groups = drawings_by_owner(
                &entries,
                kitsu_fps(FrameRate::new(24, 1)),
                Canvas::new(Some(640), Some(360)),
            );
            assert_eq!(
                groups.len(),
                2,
                "ours and a Kitsu-web pencil stroke: {groups:?}"
            );
            assert!(
                groups.iter().all(|(frame, _, _)| *frame == 17),
                "0.7089 s is frame 17 on the 24 fps grid"
            );
            let ours = groups
                .iter()
                .find(|(_, owner, _)| {
                    owner.as_deref() == Some("0192f0c4-0000-7000-8000-000000000001")
                })
                .unwrap();
            let framenote_core::ShapeKind::Rect {
                origin,
                width,
                height,
            } = &ours.2.shapes[0].kind
            else {
                panic!("{ours:?}")
            };
            assert_eq!(
                (origin.x, origin.y, *width, *height),
                (0.5, 0.5, 0.25, 0.125)
            );
        }
    }
}
