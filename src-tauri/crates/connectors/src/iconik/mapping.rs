//! Pure conversions between iconik's JSON and Framenote's core types: browse ids, assets and
//! versions with the proxy's frame facts, comment segments ↔ notes (milliseconds ↔ frames), and
//! drawing primitives ↔ the canonical [`Drawing`].
//!
//! iconik's spec leaves the drawing coordinate space, colour format and width unit undefined.
//! Framenote's choice, kept in [`DrawingSpace`] and [`normalise_color`] so it is changed in one
//! place: integer pixels of the version's proxy raster (1920×1080 when the raster is unknown),
//! `#rrggbb` colours, widths (and TEXT font sizes) in those pixels, RECTANGLE and ELLIPSE as the two
//! opposite corners of their box, LINE/ARROW as tail then head.

use framenote_core::{
    Asset, Drawing, FrameRate, FrameSpan, MediaInfo, Node, NodeKind, NoteStatus, OfflinePolicy,
    Point, RemoteId, Shape, ShapeKind, Stroke, Version,
};

use super::model::{
    AssetVersion, IconikAsset, IconikDrawing, NewSegment, Primitive, PrimitivePoint, Project,
    Proxy, Segment,
};
use super::timebase::{
    frame_to_ms, ms_to_frame, parse_decimal_rate, read_timecode, seconds_to_frames,
};
use crate::{NewNote, RemoteNote};

/// The segment metadata field holding the canonical shape ids of a Framenote drawing, in
/// primitive order: iconik primitives have no id, and Framenote (like Kitsu) identifies shapes.
/// Written in iconik's metadata-value form `{"field_values": [{"value": …}]}`.
pub const SHAPE_IDS_FIELD: &str = "framenote_shape_ids";

/// The metadata carrying `drawing`'s shape ids.
pub fn shape_ids_metadata(drawing: &Drawing) -> serde_json::Value {
    let values: Vec<serde_json::Value> = drawing
        .shapes
        .iter()
        .map(|s| serde_json::json!({ "value": s.id }))
        .collect();
    serde_json::json!({ SHAPE_IDS_FIELD: { "field_values": values } })
}

/// The shape ids kept in a segment's metadata, if any.
pub fn shape_ids(metadata: Option<&serde_json::Value>) -> Option<Vec<String>> {
    let values = metadata?
        .get(SHAPE_IDS_FIELD)?
        .get("field_values")?
        .as_array()?;
    values
        .iter()
        .map(|v| {
            v.get("value")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// The rate assumed when a version has no proxy yet (audio-only, still transcoding). Notes on
/// such a version are still placed consistently, and the next sync replaces it.
pub const FALLBACK_RATE: FrameRate = FrameRate::new(24, 1);

/// The raster assumed for drawings when the proxy's resolution is unknown.
pub const FALLBACK_RASTER: (u32, u32) = (1920, 1080);

/// What a browse node id names. Framenote's [`RemoteId`] for an iconik node carries the kind,
/// because projects and collections are listed by different endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    /// `project:<uuid>`.
    Project(String),
    /// `collection:<uuid>`.
    Collection(String),
}

impl NodeRef {
    /// Reads a node id written by [`NodeRef::to_remote`].
    pub fn parse(id: &RemoteId) -> Option<Self> {
        let s = id.as_str();
        if let Some(rest) = s.strip_prefix("project:") {
            return (!rest.is_empty()).then(|| NodeRef::Project(rest.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("collection:") {
            return (!rest.is_empty()).then(|| NodeRef::Collection(rest.to_owned()));
        }
        None
    }
    /// The id Framenote stores.
    pub fn to_remote(&self) -> RemoteId {
        match self {
            NodeRef::Project(id) => RemoteId::new(format!("project:{id}")),
            NodeRef::Collection(id) => RemoteId::new(format!("collection:{id}")),
        }
    }
}

/// A project as a root node.
pub fn project_node(p: &Project) -> Node {
    Node {
        id: NodeRef::Project(p.id.clone()).to_remote(),
        parent: None,
        kind: NodeKind::Project,
        name: p.name.clone().unwrap_or_else(|| p.id.clone()),
        status: None,
    }
}

/// A collection under `parent`.
pub fn collection_node(id: &str, title: Option<&str>, parent: Option<RemoteId>) -> Node {
    Node {
        id: NodeRef::Collection(id.to_owned()).to_remote(),
        parent,
        kind: NodeKind::Collection,
        name: title.unwrap_or(id).to_owned(),
        status: None,
    }
}

/// The frame facts of one version, from its proxy (rate, drop-frame, start timecode, raster).
pub fn media_info(proxy: Option<&Proxy>, asset: &IconikAsset) -> MediaInfo {
    let rate = proxy
        .and_then(|p| p.frame_rate.as_deref())
        .and_then(|r| parse_decimal_rate(r).ok())
        .unwrap_or(FALLBACK_RATE);
    let drop = proxy.and_then(|p| p.is_drop_frame).unwrap_or(false);
    let start_timecode = proxy
        .and_then(|p| p.start_time_code.as_deref())
        .and_then(|tc| read_timecode(tc, rate, drop));
    let duration_ms = proxy
        .and_then(|p| p.duration_milliseconds)
        .or(asset.duration_milliseconds);
    let resolution = proxy.and_then(|p| p.resolution);
    MediaInfo {
        frame_rate: rate,
        start_timecode,
        // iconik numbers nothing itself; Framenote shows media frames from 0 there.
        first_frame: 0,
        frame_count: duration_ms.and_then(|ms| seconds_to_frames(ms as f64 / 1000.0, rate)),
        width: resolution.and_then(|r| r.width),
        height: resolution.and_then(|r| r.height),
        bytes: proxy.and_then(|p| p.size),
    }
}

/// The proxy that renders `version`: one tagged with it, else (single-version assets whose
/// proxies carry no version) the first one.
pub fn proxy_for_version<'a>(
    proxies: &'a [Proxy],
    version: &str,
    only_version: bool,
) -> Option<&'a Proxy> {
    proxies
        .iter()
        .find(|p| p.version_id.as_deref() == Some(version))
        .or_else(|| {
            only_version
                .then(|| proxies.iter().find(|p| p.version_id.is_none()))
                .flatten()
        })
}

/// One asset with its live versions, newest last.
pub fn asset_to_core(asset: &IconikAsset, parent: RemoteId, proxies: &[Proxy]) -> Asset {
    let mut versions: Vec<&AssetVersion> = asset
        .versions
        .iter()
        .filter(|v| !matches!(v.status.as_deref(), Some("DELETED" | "DELETING" | "FAILED")))
        .collect();
    versions.sort_by_key(|v| v.version_number.unwrap_or(0));
    let only = versions.len() == 1;
    let versions = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let number = v.version_number.unwrap_or(i as u32 + 1);
            Version {
                id: RemoteId::new(&v.id),
                asset: RemoteId::new(&asset.id),
                number,
                label: format!("v{number:03}"),
                media: media_info(proxy_for_version(proxies, &v.id, only), asset),
            }
        })
        .collect();
    let restricted = asset
        .limit_download_to_groups
        .as_ref()
        .is_some_and(|g| !g.is_empty());
    Asset {
        id: RemoteId::new(&asset.id),
        parent,
        name: asset.title.clone().unwrap_or_else(|| asset.id.clone()),
        status: asset.status.clone(),
        updated_at: asset.date_modified.clone(),
        offline: if restricted {
            OfflinePolicy {
                allowed: false,
                reason: Some("Downloads of this asset are limited to some groups".into()),
            }
        } else {
            OfflinePolicy::ALLOWED
        },
        versions,
    }
}

/// The pixel raster drawings are expressed in (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawingSpace {
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

impl DrawingSpace {
    /// The raster of a version's proxy, or [`FALLBACK_RASTER`].
    pub fn of(media: &MediaInfo) -> Self {
        match (media.width, media.height) {
            (Some(w), Some(h)) if w > 0 && h > 0 => Self {
                width: w,
                height: h,
            },
            _ => Self {
                width: FALLBACK_RASTER.0,
                height: FALLBACK_RASTER.1,
            },
        }
    }
    fn to_px(self, p: Point) -> PrimitivePoint {
        PrimitivePoint {
            x: (p.x * f64::from(self.width)).round() as i64,
            y: (p.y * f64::from(self.height)).round() as i64,
        }
    }
    fn to_unit(self, p: PrimitivePoint) -> Point {
        Point {
            x: p.x as f64 / f64::from(self.width),
            y: p.y as f64 / f64::from(self.height),
        }
    }
}

/// `#rrggbb` in lower case from `#rgb`, `#rrggbb`, `#rrggbbaa` or `rgb(r, g, b)`; anything else
/// becomes red, the annotation default, rather than failing the whole note.
pub fn normalise_color(text: &str) -> String {
    let t = text.trim().to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix('#')
        && hex.chars().all(|c| c.is_ascii_hexdigit())
    {
        match hex.len() {
            3 => {
                let mut out = String::from("#");
                for c in hex.chars() {
                    out.push(c);
                    out.push(c);
                }
                return out;
            }
            6 => return format!("#{hex}"),
            8 => return format!("#{}", &hex[..6]),
            _ => {}
        }
    }
    if let Some(inner) = t.strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) {
        let parts: Vec<Option<u8>> = inner.split(',').map(|p| p.trim().parse().ok()).collect();
        if let [Some(r), Some(g), Some(b)] = parts[..] {
            return format!("#{r:02x}{g:02x}{b:02x}");
        }
    }
    "#ff0000".to_owned()
}

/// Canonical drawing → iconik primitives.
pub fn drawing_to_primitives(drawing: &Drawing, space: DrawingSpace) -> IconikDrawing {
    let h = f64::from(space.height);
    let primitives = drawing
        .shapes
        .iter()
        .map(|shape| {
            let (kind, points, text, width) = match &shape.kind {
                ShapeKind::Pen { points } => (
                    "PENCIL",
                    points.iter().map(|p| space.to_px(*p)).collect(),
                    None,
                    shape.stroke.width * h,
                ),
                ShapeKind::Line { from, to } => (
                    "LINE",
                    vec![space.to_px(*from), space.to_px(*to)],
                    None,
                    shape.stroke.width * h,
                ),
                ShapeKind::Arrow { from, to } => (
                    "ARROW",
                    vec![space.to_px(*from), space.to_px(*to)],
                    None,
                    shape.stroke.width * h,
                ),
                ShapeKind::Rect {
                    origin,
                    width,
                    height,
                } => (
                    "RECTANGLE",
                    vec![
                        space.to_px(*origin),
                        space.to_px(Point {
                            x: origin.x + width,
                            y: origin.y + height,
                        }),
                    ],
                    None,
                    shape.stroke.width * h,
                ),
                ShapeKind::Ellipse { center, rx, ry } => (
                    "ELLIPSE",
                    vec![
                        space.to_px(Point {
                            x: center.x - rx,
                            y: center.y - ry,
                        }),
                        space.to_px(Point {
                            x: center.x + rx,
                            y: center.y + ry,
                        }),
                    ],
                    None,
                    shape.stroke.width * h,
                ),
                ShapeKind::Text { at, text, size } => {
                    ("TEXT", vec![space.to_px(*at)], Some(text.clone()), size * h)
                }
            };
            Primitive {
                kind: kind.to_owned(),
                color: Some(normalise_color(&shape.stroke.color)),
                opacity: Some(1.0),
                width: Some((width * 100.0).round() / 100.0),
                text,
                points,
            }
        })
        .collect();
    IconikDrawing { primitives }
}

/// iconik primitives → canonical drawing. Shapes take the ids Framenote kept in the segment's
/// metadata when they match the primitives one for one, else stable ids `<segment id>:<index>`
/// (drawings made in iconik have none) so that reading twice gives equal drawings. Primitives of
/// an unknown type or without the points their type needs are skipped rather than failing the note.
pub fn primitives_to_drawing(
    drawing: &IconikDrawing,
    space: DrawingSpace,
    segment_id: &str,
    ids: Option<&[String]>,
) -> Option<Drawing> {
    let ids = ids.filter(|ids| ids.len() == drawing.primitives.len());
    let h = f64::from(space.height);
    let shapes: Vec<Shape> = drawing
        .primitives
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let pts: Vec<Point> = p.points.iter().map(|q| space.to_unit(*q)).collect();
            let px_width = p
                .width
                .filter(|w| w.is_finite() && *w >= 0.0)
                .unwrap_or(3.0);
            let kind = match (p.kind.as_str(), pts.as_slice()) {
                ("PENCIL", [_, ..]) => ShapeKind::Pen {
                    points: pts.clone(),
                },
                ("LINE", [a, .., b]) => ShapeKind::Line { from: *a, to: *b },
                ("ARROW", [a, .., b]) => ShapeKind::Arrow { from: *a, to: *b },
                ("RECTANGLE", [a, .., b]) => ShapeKind::Rect {
                    origin: Point {
                        x: a.x.min(b.x),
                        y: a.y.min(b.y),
                    },
                    width: (b.x - a.x).abs(),
                    height: (b.y - a.y).abs(),
                },
                ("ELLIPSE", [a, .., b]) => ShapeKind::Ellipse {
                    center: Point {
                        x: (a.x + b.x) / 2.0,
                        y: (a.y + b.y) / 2.0,
                    },
                    rx: (b.x - a.x).abs() / 2.0,
                    ry: (b.y - a.y).abs() / 2.0,
                },
                ("TEXT", [a, ..]) => ShapeKind::Text {
                    at: *a,
                    text: p.text.clone().unwrap_or_default(),
                    size: px_width / h,
                },
                _ => return None,
            };
            let is_text = matches!(kind, ShapeKind::Text { .. });
            Some(Shape {
                id: ids
                    .and_then(|ids| ids.get(i).cloned())
                    .unwrap_or_else(|| format!("{segment_id}:{i}")),
                kind,
                stroke: Stroke {
                    color: normalise_color(p.color.as_deref().unwrap_or("")),
                    // A text's `width` is its size; its stroke is the default thin line.
                    width: if is_text { 3.0 / h } else { px_width / h },
                },
            })
        })
        .collect();
    (!shapes.is_empty()).then(|| Drawing::from_shapes(shapes))
}

/// The frames a segment covers, or `None` for a whole-asset comment (null times).
pub fn segment_frames(seg: &Segment, rate: FrameRate) -> Option<FrameSpan> {
    let start = seg.time_start_milliseconds.filter(|ms| *ms >= 0)?;
    let start_frame = ms_to_frame(start as u64, rate);
    let end_frame = seg
        .time_end_milliseconds
        .filter(|ms| *ms >= start)
        .map(|ms| ms_to_frame(ms as u64, rate))
        .unwrap_or(start_frame);
    Some(FrameSpan {
        start: start_frame,
        end: end_frame.max(start_frame),
    })
}

/// A COMMENT segment → a note on `version`.
pub fn segment_to_note(seg: &Segment, version: &Version) -> RemoteNote {
    let space = DrawingSpace::of(&version.media);
    let author = match (
        seg.user_first_name.as_deref(),
        seg.user_last_name.as_deref(),
    ) {
        (Some(f), Some(l)) if !f.is_empty() || !l.is_empty() => {
            format!("{f} {l}").trim().to_owned()
        }
        (Some(f), None) if !f.is_empty() => f.to_owned(),
        _ => seg.user_id.clone().unwrap_or_else(|| "unknown".into()),
    };
    RemoteNote {
        id: RemoteId::new(&seg.id),
        version: seg
            .version_id
            .as_deref()
            .map(RemoteId::new)
            .unwrap_or_else(|| version.id.clone()),
        parent: seg.parent_id.as_deref().map(RemoteId::new),
        author,
        created_at: seg.date_created.clone().unwrap_or_default(),
        text: seg.segment_text.clone().unwrap_or_default(),
        frames: segment_frames(seg, version.media.frame_rate),
        status: if seg.segment_checked.unwrap_or(false) {
            NoteStatus::Resolved
        } else {
            NoteStatus::Open
        },
        drawing: seg.drawing.as_ref().and_then(|d| {
            primitives_to_drawing(
                d,
                space,
                &seg.id,
                shape_ids(seg.metadata.as_ref()).as_deref(),
            )
        }),
        client_id: seg.external_id.clone(),
    }
}

/// A new note → the segment to post.
pub fn note_to_segment(note: &NewNote) -> NewSegment {
    let media = &note.version.media;
    let rate = media.frame_rate;
    NewSegment {
        segment_type: "COMMENT",
        segment_text: note.text.clone(),
        version_id: note.version.id.as_str().to_owned(),
        time_start_milliseconds: note.frames.map(|f| frame_to_ms(f.start, rate)),
        time_end_milliseconds: note.frames.map(|f| frame_to_ms(f.end.max(f.start), rate)),
        parent_id: note.parent.as_ref().map(|p| p.as_str().to_owned()),
        drawing: note
            .drawing
            .as_ref()
            .filter(|d| !d.is_empty())
            .map(|d| drawing_to_primitives(d, DrawingSpace::of(media))),
        external_id: note.client_id.clone(),
        metadata: note
            .drawing
            .as_ref()
            .filter(|d| !d.is_empty())
            .map(shape_ids_metadata),
    }
}

/// Framenote's status words → iconik approval statuses (`N/A`, `REQUESTED`, `APPROVED`,
/// `NOT_APPROVED`). Unknown words are refused by the caller.
pub fn approval_status(word: &str) -> Option<&'static str> {
    match word
        .trim()
        .to_ascii_lowercase()
        .replace(['-', ' '], "_")
        .as_str()
    {
        "approved" | "approve" => Some("APPROVED"),
        "not_approved" | "rejected" | "reject" | "changes_requested" => Some("NOT_APPROVED"),
        "requested" | "request" | "pending" => Some("REQUESTED"),
        "n/a" | "none" | "clear" => Some("N/A"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    const ASSET: &str = r#"{
        "id": "a1", "title": "sh010_comp", "status": "ACTIVE", "type": "ASSET",
        "date_modified": "2024-05-01T10:00:00Z",
        "versions": [
            {"id": "v2", "version_number": 2, "status": "ACTIVE"},
            {"id": "v1", "version_number": 1, "status": "ACTIVE"},
            {"id": "v0", "version_number": 0, "status": "DELETED"}
        ]
    }"#;
    const PROXIES: &str = r#"[
        {"id": "p1", "version_id": "v1", "frame_rate": "23.976", "is_drop_frame": false,
         "start_time_code": "01:00:00:00", "resolution": {"width": 640, "height": 360},
         "size": 1000, "duration_milliseconds": 2002},
        {"id": "p2", "version_id": "v2", "frame_rate": "29.97", "is_drop_frame": true,
         "start_time_code": "00:59:59;28", "resolution": {"width": 640, "height": 360}}
    ]"#;

    #[test]
    fn asset_versions_take_frame_facts_from_their_proxy() {
        let asset: IconikAsset = fixture(ASSET);
        let proxies: Vec<Proxy> = fixture(PROXIES);
        let a = asset_to_core(&asset, RemoteId::new("collection:c1"), &proxies);
        assert_eq!(a.versions.len(), 2, "deleted versions are hidden");
        assert_eq!(a.versions[0].id.as_str(), "v1");
        assert_eq!(a.versions[1].label, "v002");
        let m1 = &a.versions[0].media;
        assert_eq!(m1.frame_rate, FrameRate::new(24000, 1001));
        assert_eq!(m1.start_timecode.unwrap().frames, 86400);
        assert_eq!(m1.frame_count, Some(48));
        assert_eq!(
            (m1.width, m1.height, m1.bytes),
            (Some(640), Some(360), Some(1000))
        );
        let m2 = &a.versions[1].media;
        assert_eq!(m2.frame_rate, FrameRate::new(30000, 1001));
        let tc = m2.start_timecode.unwrap();
        assert!(tc.drop_frame);
        assert_eq!(tc.frames, 107892 - 2);
        assert!(a.offline.allowed);
    }

    #[test]
    fn missing_proxy_falls_back_without_failing() {
        let asset: IconikAsset = fixture(ASSET);
        let a = asset_to_core(&asset, RemoteId::new("collection:c1"), &[]);
        assert_eq!(a.versions[0].media.frame_rate, FALLBACK_RATE);
        assert_eq!(a.versions[0].media.start_timecode, None);
    }

    #[test]
    fn node_ids_round_trip_and_reject_foreign_ids() {
        for n in [
            NodeRef::Project("p".into()),
            NodeRef::Collection("c".into()),
        ] {
            assert_eq!(NodeRef::parse(&n.to_remote()), Some(n));
        }
        assert_eq!(NodeRef::parse(&RemoteId::new("folder:x")), None);
        assert_eq!(NodeRef::parse(&RemoteId::new("project:")), None);
    }

    fn version(rate: FrameRate) -> Version {
        Version {
            id: RemoteId::new("v1"),
            asset: RemoteId::new("a1"),
            number: 1,
            label: "v001".into(),
            media: MediaInfo {
                frame_rate: rate,
                start_timecode: None,
                first_frame: 0,
                frame_count: None,
                width: Some(640),
                height: Some(360),
                bytes: None,
            },
        }
    }

    fn sample_drawing() -> Drawing {
        let stroke = Stroke {
            color: "#00FF00".into(),
            width: 0.01,
        };
        let p = |x, y| Point { x, y };
        Drawing::from_shapes(vec![
            Shape {
                id: "s1".into(),
                kind: ShapeKind::Pen {
                    points: vec![p(0.1, 0.1), p(0.2, 0.25), p(0.3, 0.2)],
                },
                stroke: stroke.clone(),
            },
            Shape {
                id: "s2".into(),
                kind: ShapeKind::Arrow {
                    from: p(0.5, 0.5),
                    to: p(0.75, 0.25),
                },
                stroke: stroke.clone(),
            },
            Shape {
                id: "s3".into(),
                kind: ShapeKind::Rect {
                    origin: p(0.25, 0.25),
                    width: 0.5,
                    height: 0.25,
                },
                stroke: stroke.clone(),
            },
            Shape {
                id: "s4".into(),
                kind: ShapeKind::Ellipse {
                    center: p(0.5, 0.5),
                    rx: 0.125,
                    ry: 0.25,
                },
                stroke: stroke.clone(),
            },
            Shape {
                id: "s5".into(),
                kind: ShapeKind::Text {
                    at: p(0.1, 0.9),
                    text: "<b>too dark</b>".into(),
                    size: 0.05,
                },
                stroke: stroke.clone(),
            },
            Shape {
                id: "s6".into(),
                kind: ShapeKind::Line {
                    from: p(0.0, 0.0),
                    to: p(1.0, 1.0),
                },
                stroke,
            },
        ])
    }

    #[test]
    fn drawings_round_trip_within_a_pixel() {
        let space = DrawingSpace {
            width: 640,
            height: 360,
        };
        let original = sample_drawing();
        let prims = drawing_to_primitives(&original, space);
        assert_eq!(prims.primitives[0].kind, "PENCIL");
        assert_eq!(
            prims.primitives[0].points[1],
            PrimitivePoint { x: 128, y: 90 }
        );
        assert_eq!(prims.primitives[0].color.as_deref(), Some("#00ff00"));
        assert_eq!(prims.primitives[0].width, Some(3.6));
        assert_eq!(
            prims.primitives[3].points,
            vec![
                PrimitivePoint { x: 240, y: 90 },
                PrimitivePoint { x: 400, y: 270 }
            ]
        );
        let back = primitives_to_drawing(&prims, space, "seg", None).unwrap();
        assert_eq!(back.shapes.len(), original.shapes.len());
        let tol = 1.0 / 360.0;
        for (a, b) in original.shapes.iter().zip(&back.shapes) {
            let ja = serde_json::to_value(&a.kind).unwrap();
            let jb = serde_json::to_value(&b.kind).unwrap();
            assert_close(&ja, &jb, tol);
        }
        assert_eq!(back.shapes[4].id, "seg:4");
        // Text stays text, never markup.
        assert!(
            matches!(&back.shapes[4].kind, ShapeKind::Text { text, .. } if text == "<b>too dark</b>")
        );
    }

    fn assert_close(a: &serde_json::Value, b: &serde_json::Value, tol: f64) {
        match (a, b) {
            (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= tol, "{x} vs {y}");
            }
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                assert_eq!(x.len(), y.len());
                for (k, v) in x {
                    assert_close(v, &y[k], tol);
                }
            }
            (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
                assert_eq!(x.len(), y.len());
                for (v, w) in x.iter().zip(y) {
                    assert_close(v, w, tol);
                }
            }
            _ => assert_eq!(a, b),
        }
    }

    #[test]
    fn foreign_primitives_are_read_leniently() {
        let d: IconikDrawing = fixture(
            r#"{"primitives": [
                {"type": "PENCIL", "color": "rgb(255, 128, 0)", "width": 7.2,
                 "points": [{"x": 64, "y": 36}, {"x": 320, "y": 180}]},
                {"type": "HEXAGON", "points": [{"x": 1, "y": 1}]},
                {"type": "LINE", "points": [{"x": 1, "y": 1}]},
                {"type": "RECTANGLE", "color": "bogus", "points": [{"x": 320, "y": 180}, {"x": 0, "y": 0}]}
            ]}"#,
        );
        let out = primitives_to_drawing(
            &d,
            DrawingSpace {
                width: 640,
                height: 360,
            },
            "s",
            None,
        )
        .unwrap();
        assert_eq!(
            out.shapes.len(),
            2,
            "unknown types and short lines are skipped"
        );
        assert_eq!(out.shapes[0].stroke.color, "#ff8000");
        assert!((out.shapes[0].stroke.width - 0.02).abs() < 1e-9);
        assert_eq!(out.shapes[1].stroke.color, "#ff0000");
        assert!(
            matches!(out.shapes[1].kind, ShapeKind::Rect { origin, width, .. } if origin.x == 0.0 && width == 0.5)
        );
        assert!(
            primitives_to_drawing(
                &IconikDrawing::default(),
                DrawingSpace {
                    width: 1,
                    height: 1
                },
                "s",
                None
            )
            .is_none()
        );
    }

    #[test]
    fn segments_map_to_notes_on_the_same_frame() {
        for (rate, frame) in [
            (FrameRate::new(24000, 1001), 100u64),
            (FrameRate::new(30000, 1001), 17982),
        ] {
            let v = version(rate);
            let note = NewNote {
                client_id: "c-1".into(),
                version: v.clone(),
                parent: None,
                text: "fix edge".into(),
                frames: Some(FrameSpan::frame(frame)),
                drawing: Some(sample_drawing()),
                status: None,
            };
            let seg = note_to_segment(&note);
            let json = serde_json::to_value(&seg).unwrap();
            assert_eq!(json["segment_type"], "COMMENT");
            assert_eq!(json["external_id"], "c-1");
            assert_eq!(
                json["time_start_milliseconds"],
                json["time_end_milliseconds"]
            );
            // Read back what iconik would store.
            let mut stored = json.clone();
            stored["id"] = "seg1".into();
            stored["user_first_name"] = "Ana".into();
            stored["user_last_name"] = "Lee".into();
            stored["segment_checked"] = true.into();
            let back = segment_to_note(&serde_json::from_value(stored).unwrap(), &v);
            assert_eq!(back.frames, Some(FrameSpan::frame(frame)));
            assert_eq!(back.author, "Ana Lee");
            assert_eq!(back.status, NoteStatus::Resolved);
            assert_eq!(back.client_id.as_deref(), Some("c-1"));
            let ids: Vec<String> = back
                .drawing
                .unwrap()
                .shapes
                .into_iter()
                .map(|s| s.id)
                .collect();
            assert_eq!(
                ids,
                ["s1", "s2", "s3", "s4", "s5", "s6"],
                "shape ids survive via metadata"
            );
        }
        // 23.976 frame 100 is stored as 4171 ms; 29.97 frame 17982 as 600000 ms.
        let ms = |r, f| frame_to_ms(f, r);
        assert_eq!(ms(FrameRate::FPS_23_976, 100), 4171);
        assert_eq!(ms(FrameRate::FPS_29_97, 17982), 600_000);
    }

    #[test]
    fn whole_asset_comments_and_ranges() {
        let v = version(FrameRate::new(25, 1));
        let seg: Segment =
            fixture(r#"{"id": "s", "segment_text": "general", "time_start_milliseconds": null}"#);
        let n = segment_to_note(&seg, &v);
        assert_eq!(
            (n.frames, n.status, n.author.as_str()),
            (None, NoteStatus::Open, "unknown")
        );
        let seg: Segment = fixture(
            r#"{"id": "s", "time_start_milliseconds": 1000, "time_end_milliseconds": 2000, "user_id": "u9"}"#,
        );
        let n = segment_to_note(&seg, &v);
        assert_eq!(n.frames, Some(FrameSpan { start: 25, end: 50 }));
        assert_eq!(n.author, "u9");
    }

    #[test]
    fn colours_and_approvals_normalise() {
        assert_eq!(normalise_color("#ABC"), "#aabbcc");
        assert_eq!(normalise_color("#11223344"), "#112233");
        assert_eq!(normalise_color("red"), "#ff0000");
        assert_eq!(approval_status("Approved"), Some("APPROVED"));
        assert_eq!(approval_status("changes requested"), Some("NOT_APPROVED"));
        assert_eq!(approval_status("wip"), None);
    }
}
