//! Kitsu drawings ↔ the canonical model: Kitsu's time grid, fabric.js objects, and the
//! `update-annotations` body. Pure functions only; the connector does the HTTP.
//!
//! Kitsu stores a preview's drawings as `[{time, frame?, drawing: {objects: [fabric.js object]}}]`.
//! `time` is the key (additions, updates and deletions match it by *exact* float equality on the
//! server), snapped to Kitsu's own grid: the frame duration is `1/fps` rounded half-up to four
//! decimals, and `time = round4(index × duration)`. That grid drifts from true media time (at
//! 23.976, frame 1001 is 41.7417 s, not 41.75 s), so frames are converted with the grid both ways
//! and never through real time. Numbers are computed with the same IEEE operations as Zou's
//! `_round_time_to_frame`, so the floats are bit-identical to the ones Kitsu web writes.
//!
//! Objects are fabric.js JSON in canvas pixels, with the canvas size in `canvasWidth` /
//! `canvasHeight`; positions are normalised by those. Reading follows Zou's own renderer
//! (`zou/app/utils/annotations.py`): the world position of a local point is
//! `R(angle)·S(scale)·(p − pivot) + centre`, with the pivot at `pathOffset` or at the centre of the
//! shape's own points, which reads both fabric's centre-relative line points and absolute ones.
//! Framenote writes shapes untransformed (angle 0, scale 1, pivot = centre of the points), tags
//! every object with `framenoteNoteId` (the note's client id) so a note's own shapes can be found
//! again among others, and keeps Kitsu's `id` = the canonical shape id.

use std::collections::{BTreeMap, HashMap, HashSet};

use framenote_core::{Drawing, FrameRate, Point, Shape, ShapeKind, Stroke};
use serde_json::{Map, Value, json};

/// The key Framenote adds to each fabric object it writes: the owning note's client id.
pub const NOTE_TAG: &str = "framenoteNoteId";

/// Kitsu's frame rate as Zou computes it for the time grid: `float(f"{float(fps):.3f}")`.
pub fn kitsu_fps(rate: FrameRate) -> f64 {
    if rate.num == 0 || rate.den == 0 {
        return 25.0;
    }
    let exact = f64::from(rate.num) / f64::from(rate.den);
    format!("{exact:.3}").parse().unwrap_or(exact)
}

/// `floor(x × 10000 + 0.5) / 10000`, exactly as Zou and Kitsu web round.
fn round4(x: f64) -> f64 {
    (x * 10000.0 + 0.5).floor() / 10000.0
}

/// Kitsu's frame duration for `fps`.
pub fn frame_duration(fps: f64) -> f64 {
    round4(1.0 / fps)
}

/// The `time` Kitsu files frame `index` (0-based) under.
pub fn time_of_frame(fps: f64, index: u64) -> f64 {
    round4(index as f64 * frame_duration(fps))
}

/// The 0-based frame index Kitsu's grid puts `time` on (negative times clamp to 0).
pub fn frame_of_time(fps: f64, time: f64) -> u64 {
    let duration = frame_duration(fps);
    if !(time.is_finite() && duration > 0.0) || time <= 0.0 {
        return 0;
    }
    (time / duration + 0.5).floor() as u64
}

/// Whether two Kitsu times name the same entry (Kitsu web matches with ±0.0001 s).
pub fn same_time(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.000_05
}

/// One `annotations[]` entry, read leniently.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key, as stored (re-sent as is so that exact matching on the server works).
    pub time: f64,
    /// The fabric objects.
    pub objects: Vec<Value>,
}

/// Reads a preview's `annotations` value. Entries without a numeric or numeric-string time are
/// dropped (they cannot be placed on a frame); a missing or null value is no entries.
pub fn parse_entries(annotations: &Value) -> Vec<Entry> {
    let Some(list) = annotations.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| {
            let time = match entry.get("time")? {
                Value::Number(n) => n.as_f64()?,
                Value::String(s) => s.trim().parse().ok()?,
                _ => return None,
            };
            let objects = entry
                .get("drawing")
                .and_then(|d| d.get("objects"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Some(Entry { time, objects })
        })
        .collect()
}

/// The canvas a drawing is written on: the proxy's picture size, so one canvas pixel is one
/// picture pixel in Kitsu's own player.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
}

impl Canvas {
    /// A canvas of `width` × `height`, falling back to 1920×1080 when unknown or zero.
    pub fn new(width: Option<u32>, height: Option<u32>) -> Self {
        match (width, height) {
            (Some(w), Some(h)) if w > 0 && h > 0 => Self {
                width: f64::from(w),
                height: f64::from(h),
            },
            _ => Self {
                width: 1920.0,
                height: 1080.0,
            },
        }
    }
}

fn num(obj: &Value, key: &str) -> Option<f64> {
    obj.get(key).and_then(Value::as_f64)
}

fn num_or(obj: &Value, key: &str, default: f64) -> f64 {
    match num(obj, key) {
        // fabric and Zou treat 0 scale as "unset" (`or 1`), and so do we.
        Some(v) if v != 0.0 || !key.starts_with("scale") => v,
        _ => default,
    }
}

/// `#rrggbb` from a CSS colour (`#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb()`, `rgba()`), or `None`.
pub fn css_to_hex(css: &str) -> Option<String> {
    let css = css.trim();
    if let Some(hex) = css.strip_prefix('#') {
        let full = match hex.len() {
            3 => hex.chars().flat_map(|c| [c, c]).collect::<String>(),
            6 | 8 => hex[..6].to_owned(),
            _ => return None,
        };
        return full
            .chars()
            .all(|c| c.is_ascii_hexdigit())
            .then(|| format!("#{}", full.to_ascii_lowercase()));
    }
    let inner = css
        .strip_prefix("rgba(")
        .or_else(|| css.strip_prefix("rgb("))?
        .strip_suffix(')')?;
    let parts: Vec<u8> = inner
        .split(',')
        .take(3)
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .ok()
                .map(|v| v.clamp(0.0, 255.0).round() as u8)
        })
        .collect::<Option<_>>()?;
    (parts.len() == 3).then(|| format!("#{:02x}{:02x}{:02x}", parts[0], parts[1], parts[2]))
}

/// The affine transform fabric applies to an object's local points (see module docs).
struct Transform {
    cos: f64,
    sin: f64,
    scale_x: f64,
    scale_y: f64,
    pivot: (f64, f64),
    centre: (f64, f64),
}

impl Transform {
    fn new(obj: &Value, pivot: (f64, f64)) -> Self {
        let angle = num(obj, "angle").unwrap_or(0.0).to_radians();
        let (sin, cos) = angle.sin_cos();
        let scale_x = num_or(obj, "scaleX", 1.0);
        let scale_y = num_or(obj, "scaleY", 1.0);
        let left = num(obj, "left").unwrap_or(0.0);
        let top = num(obj, "top").unwrap_or(0.0);
        let width = num(obj, "width").unwrap_or(0.0);
        let height = num(obj, "height").unwrap_or(0.0);
        let naive = (left + width / 2.0 * scale_x, top + height / 2.0 * scale_y);
        let centre = (
            left + (naive.0 - left) * cos - (naive.1 - top) * sin,
            top + (naive.0 - left) * sin + (naive.1 - top) * cos,
        );
        Self {
            cos,
            sin,
            scale_x,
            scale_y,
            pivot,
            centre,
        }
    }

    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let dx = (x - self.pivot.0) * self.scale_x;
        let dy = (y - self.pivot.1) * self.scale_y;
        (
            dx * self.cos - dy * self.sin + self.centre.0,
            dx * self.sin + dy * self.cos + self.centre.1,
        )
    }

    fn is_axis_aligned(&self) -> bool {
        self.sin.abs() < 1e-9
    }
}

/// Fills `left/top/width/height` from the points' bounding box when missing, as fabric does.
fn with_default_bbox(obj: &Value, points: &[(f64, f64)]) -> Value {
    let mut out = obj.clone();
    if points.is_empty() {
        return out;
    }
    let (min_x, max_x, min_y, max_y) = bbox(points);
    if let Some(map) = out.as_object_mut() {
        for (key, value) in [
            ("left", min_x),
            ("top", min_y),
            ("width", max_x - min_x),
            ("height", max_y - min_y),
        ] {
            if !map.get(key).is_some_and(Value::is_number) {
                map.insert(key.to_owned(), json!(value));
            }
        }
    }
    out
}

fn bbox(points: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    points.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    )
}

fn bbox_centre(points: &[(f64, f64)]) -> (f64, f64) {
    let (min_x, max_x, min_y, max_y) = bbox(points);
    ((min_x + max_x) / 2.0, (min_y + max_y) / 2.0)
}

/// Transform for line, arrow, polyline and path points (fabric's centred coordinates).
fn centred_transform(obj: &Value, anchors: &[(f64, f64)]) -> Transform {
    let obj = with_default_bbox(obj, anchors);
    let pivot = match obj.get("pathOffset") {
        Some(offset) if offset.is_object() => (
            num(offset, "x").unwrap_or(0.0),
            num(offset, "y").unwrap_or(0.0),
        ),
        _ => bbox_centre(anchors),
    };
    Transform::new(&obj, pivot)
}

/// Transform for rect, ellipse and text (local coordinates in the 0..w, 0..h box).
fn bbox_transform(obj: &Value) -> Transform {
    let width = num(obj, "width").unwrap_or(0.0);
    let height = num(obj, "height").unwrap_or(0.0);
    Transform::new(obj, (width / 2.0, height / 2.0))
}

/// The anchor points of an SVG-like path command list (`[["M", x, y], ["Q", cx, cy, x, y], …]`):
/// the end point of every segment. Curves become their end points (control points are dropped).
fn path_points(path: &Value) -> Vec<(f64, f64)> {
    let Some(commands) = path.as_array() else {
        return Vec::new();
    };
    let mut points = Vec::new();
    for command in commands {
        let Some(parts) = command.as_array() else {
            continue;
        };
        let coords: Vec<f64> = parts.iter().skip(1).filter_map(Value::as_f64).collect();
        if coords.len() >= 2 && coords.len().is_multiple_of(2) {
            points.push((coords[coords.len() - 2], coords[coords.len() - 1]));
        }
    }
    points
}

/// The canvas size an object was drawn on (its own, else the entry's caller default).
fn object_canvas(obj: &Value, fallback: Canvas) -> Canvas {
    match (num(obj, "canvasWidth"), num(obj, "canvasHeight")) {
        (Some(w), Some(h)) if w > 0.0 && h > 0.0 => Canvas {
            width: w,
            height: h,
        },
        _ => fallback,
    }
}

fn normalise(canvas: Canvas, (x, y): (f64, f64)) -> Point {
    Point {
        x: x / canvas.width,
        y: y / canvas.height,
    }
}

fn object_stroke(obj: &Value, canvas: Canvas, text_like: bool) -> Stroke {
    let pick = |key: &str| obj.get(key).and_then(Value::as_str).and_then(css_to_hex);
    let color = if text_like {
        pick("fill").or_else(|| pick("stroke"))
    } else {
        pick("stroke").or_else(|| pick("fill"))
    }
    .unwrap_or_else(|| "#ff0000".to_owned());
    let width =
        num(obj, "strokeWidth").unwrap_or(if text_like { 0.0 } else { 1.0 }) / canvas.height;
    Stroke { color, width }
}

/// One fabric object as a canonical shape, or `None` when it has no canonical equivalent
/// (images, groups, erasers, empty text). Rotated rectangles and ellipses become closed pen
/// strokes through their corners / 32 points, so their position is kept exactly.
pub fn shape_from_fabric(obj: &Value, fallback: Canvas) -> Option<Shape> {
    let canvas = object_canvas(obj, fallback);
    let kind_name = obj
        .get("type")
        .and_then(Value::as_str)?
        .to_ascii_lowercase();
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let text_like = matches!(kind_name.as_str(), "i-text" | "text" | "textbox");
    let stroke = object_stroke(obj, canvas, text_like);
    let kind = match kind_name.as_str() {
        "line" | "arrow" => {
            let a = (num(obj, "x1").unwrap_or(0.0), num(obj, "y1").unwrap_or(0.0));
            let b = (num(obj, "x2").unwrap_or(0.0), num(obj, "y2").unwrap_or(0.0));
            let t = centred_transform(obj, &[a, b]);
            let from = normalise(canvas, t.apply(a.0, a.1));
            let to = normalise(canvas, t.apply(b.0, b.1));
            if kind_name == "arrow" {
                ShapeKind::Arrow { from, to }
            } else {
                ShapeKind::Line { from, to }
            }
        }
        "rect" => {
            let (w, h) = (
                num(obj, "width").unwrap_or(0.0),
                num(obj, "height").unwrap_or(0.0),
            );
            if w <= 0.0 || h <= 0.0 {
                return None;
            }
            let t = bbox_transform(obj);
            if t.is_axis_aligned() {
                let a = t.apply(0.0, 0.0);
                let b = t.apply(w, h);
                let origin = normalise(canvas, (a.0.min(b.0), a.1.min(b.1)));
                ShapeKind::Rect {
                    origin,
                    width: (b.0 - a.0).abs() / canvas.width,
                    height: (b.1 - a.1).abs() / canvas.height,
                }
            } else {
                let corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h), (0.0, 0.0)];
                ShapeKind::Pen {
                    points: corners
                        .iter()
                        .map(|&(x, y)| normalise(canvas, t.apply(x, y)))
                        .collect(),
                }
            }
        }
        "ellipse" | "circle" => {
            let (w, h) = match (num(obj, "rx"), num(obj, "ry"), num(obj, "radius")) {
                (Some(rx), Some(ry), _) => (rx * 2.0, ry * 2.0),
                (_, _, Some(r)) => (r * 2.0, r * 2.0),
                _ => (
                    num(obj, "width").unwrap_or(0.0),
                    num(obj, "height").unwrap_or(0.0),
                ),
            };
            if w <= 0.0 || h <= 0.0 {
                return None;
            }
            let mut sized = obj.clone();
            if let Some(map) = sized.as_object_mut() {
                map.insert("width".into(), json!(w));
                map.insert("height".into(), json!(h));
            }
            let t = bbox_transform(&sized);
            if t.is_axis_aligned() {
                let c = t.apply(w / 2.0, h / 2.0);
                ShapeKind::Ellipse {
                    center: normalise(canvas, c),
                    rx: w / 2.0 * t.scale_x.abs() / canvas.width,
                    ry: h / 2.0 * t.scale_y.abs() / canvas.height,
                }
            } else {
                let points = (0..=32)
                    .map(|i| {
                        let a = std::f64::consts::TAU * f64::from(i) / 32.0;
                        normalise(
                            canvas,
                            t.apply(w / 2.0 + w / 2.0 * a.cos(), h / 2.0 + h / 2.0 * a.sin()),
                        )
                    })
                    .collect();
                ShapeKind::Pen { points }
            }
        }
        "i-text" | "text" | "textbox" => {
            let text = obj.get("text").and_then(Value::as_str).unwrap_or("");
            if text.is_empty() {
                return None;
            }
            let t = bbox_transform(obj);
            let size = num(obj, "fontSize").unwrap_or(16.0) * t.scale_y.abs() / canvas.height;
            ShapeKind::Text {
                at: normalise(canvas, t.apply(0.0, 0.0)),
                text: text.to_owned(),
                size,
            }
        }
        "path" => {
            let anchors = path_points(obj.get("path")?);
            if anchors.is_empty() {
                return None;
            }
            let t = centred_transform(obj, &anchors);
            ShapeKind::Pen {
                points: anchors
                    .iter()
                    .map(|&(x, y)| normalise(canvas, t.apply(x, y)))
                    .collect(),
            }
        }
        "polyline" | "polygon" => {
            let anchors: Vec<(f64, f64)> = obj
                .get("points")?
                .as_array()?
                .iter()
                .filter_map(|p| Some((num(p, "x")?, num(p, "y")?)))
                .collect();
            if anchors.is_empty() {
                return None;
            }
            let t = centred_transform(obj, &anchors);
            let mut points: Vec<Point> = anchors
                .iter()
                .map(|&(x, y)| normalise(canvas, t.apply(x, y)))
                .collect();
            if kind_name == "polygon"
                && let Some(first) = points.first().copied()
            {
                points.push(first);
            }
            ShapeKind::Pen { points }
        }
        "psstroke" => {
            let anchors: Vec<(f64, f64)> = obj
                .get("strokePoints")?
                .as_array()?
                .iter()
                .filter_map(|p| Some((num(p, "x")?, num(p, "y")?)))
                .collect();
            if anchors.is_empty() {
                return None;
            }
            let t = centred_transform(obj, &anchors);
            ShapeKind::Pen {
                points: anchors
                    .iter()
                    .map(|&(x, y)| normalise(canvas, t.apply(x, y)))
                    .collect(),
            }
        }
        _ => return None,
    };
    Some(Shape { id, kind, stroke })
}

fn px(canvas: Canvas, p: Point) -> (f64, f64) {
    (p.x * canvas.width, p.y * canvas.height)
}

/// A canonical shape as the fabric.js object Framenote writes: untransformed, in `canvas`
/// pixels, with Kitsu's `id`, `canvasWidth`/`canvasHeight`, `createdBy` and the note tag.
pub fn shape_to_fabric(
    shape: &Shape,
    canvas: Canvas,
    note_client_id: Option<&str>,
    created_by: Option<&str>,
) -> Value {
    let stroke_width = shape.stroke.width * canvas.height;
    let color = shape.stroke.color.clone();
    let mut obj = Map::new();
    obj.insert("id".into(), json!(shape.id));
    let line_like = |kind: &str, from: Point, to: Point, obj: &mut Map<String, Value>| {
        let (a, b) = (px(canvas, from), px(canvas, to));
        let (min_x, max_x, min_y, max_y) = bbox(&[a, b]);
        obj.insert("type".into(), json!(kind));
        obj.insert("x1".into(), json!(a.0));
        obj.insert("y1".into(), json!(a.1));
        obj.insert("x2".into(), json!(b.0));
        obj.insert("y2".into(), json!(b.1));
        obj.insert("left".into(), json!(min_x));
        obj.insert("top".into(), json!(min_y));
        obj.insert("width".into(), json!(max_x - min_x));
        obj.insert("height".into(), json!(max_y - min_y));
        obj.insert("fill".into(), json!(color));
    };
    match &shape.kind {
        ShapeKind::Line { from, to } => line_like("line", *from, *to, &mut obj),
        ShapeKind::Arrow { from, to } => line_like("arrow", *from, *to, &mut obj),
        ShapeKind::Rect {
            origin,
            width,
            height,
        } => {
            let (x, y) = px(canvas, *origin);
            obj.insert("type".into(), json!("rect"));
            obj.insert("left".into(), json!(x));
            obj.insert("top".into(), json!(y));
            obj.insert("width".into(), json!(width * canvas.width));
            obj.insert("height".into(), json!(height * canvas.height));
            obj.insert("fill".into(), Value::Null);
        }
        ShapeKind::Ellipse { center, rx, ry } => {
            let (cx, cy) = px(canvas, *center);
            let (rx, ry) = (rx * canvas.width, ry * canvas.height);
            obj.insert("type".into(), json!("ellipse"));
            obj.insert("left".into(), json!(cx - rx));
            obj.insert("top".into(), json!(cy - ry));
            obj.insert("rx".into(), json!(rx));
            obj.insert("ry".into(), json!(ry));
            obj.insert("width".into(), json!(rx * 2.0));
            obj.insert("height".into(), json!(ry * 2.0));
            obj.insert("fill".into(), Value::Null);
        }
        ShapeKind::Text { at, text, size } => {
            let (x, y) = px(canvas, *at);
            obj.insert("type".into(), json!("i-text"));
            obj.insert("left".into(), json!(x));
            obj.insert("top".into(), json!(y));
            obj.insert("text".into(), json!(text));
            obj.insert("fontSize".into(), json!(size * canvas.height));
            obj.insert("fontFamily".into(), json!("Arial"));
            obj.insert("fill".into(), json!(color));
        }
        ShapeKind::Pen { points } => {
            let pixels: Vec<(f64, f64)> = points.iter().map(|p| px(canvas, *p)).collect();
            let (min_x, max_x, min_y, max_y) = if pixels.is_empty() {
                (0.0, 0.0, 0.0, 0.0)
            } else {
                bbox(&pixels)
            };
            let commands: Vec<Value> = pixels
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| json!([if i == 0 { "M" } else { "L" }, x, y]))
                .collect();
            obj.insert("type".into(), json!("path"));
            obj.insert("path".into(), Value::Array(commands));
            obj.insert("left".into(), json!(min_x));
            obj.insert("top".into(), json!(min_y));
            obj.insert("width".into(), json!(max_x - min_x));
            obj.insert("height".into(), json!(max_y - min_y));
            obj.insert(
                "pathOffset".into(),
                json!({"x": (min_x + max_x) / 2.0, "y": (min_y + max_y) / 2.0}),
            );
            obj.insert("fill".into(), Value::Null);
        }
    }
    obj.insert("stroke".into(), json!(color));
    obj.insert("strokeWidth".into(), json!(stroke_width));
    obj.insert("angle".into(), json!(0));
    obj.insert("scaleX".into(), json!(1));
    obj.insert("scaleY".into(), json!(1));
    obj.insert("opacity".into(), json!(1));
    obj.insert("originX".into(), json!("left"));
    obj.insert("originY".into(), json!("top"));
    obj.insert("canvasWidth".into(), json!(canvas.width));
    obj.insert("canvasHeight".into(), json!(canvas.height));
    if let Some(person) = created_by {
        obj.insert("createdBy".into(), json!(person));
    }
    if let Some(note) = note_client_id {
        obj.insert(NOTE_TAG.into(), json!(note));
    }
    Value::Object(obj)
}

/// The note tag of a fabric object.
pub fn note_tag(obj: &Value) -> Option<&str> {
    obj.get(NOTE_TAG).and_then(Value::as_str)
}

/// Every drawing on a preview, per frame and per owner: Framenote's objects grouped by note, and
/// everything else (Kitsu web, other tools) per frame with no note.
pub fn drawings_by_owner(
    entries: &[Entry],
    fps: f64,
    canvas: Canvas,
) -> Vec<(u64, Option<String>, Drawing)> {
    let mut grouped: BTreeMap<(u64, Option<String>), Drawing> = BTreeMap::new();
    for entry in entries {
        let frame = frame_of_time(fps, entry.time);
        for obj in &entry.objects {
            if let Some(shape) = shape_from_fabric(obj, canvas) {
                grouped
                    .entry((frame, note_tag(obj).map(str::to_owned)))
                    .or_default()
                    .shapes
                    .push(shape);
            }
        }
    }
    grouped
        .into_iter()
        .map(|((frame, owner), drawing)| (frame, owner, drawing))
        .collect()
}

/// The `update-annotations` body that makes note `note`'s drawing exactly `drawing` on frame
/// `frame`: new shape ids are added, ids already at that time are replaced whole (Kitsu drops
/// fields an update does not send, so objects are always sent complete), and the note's objects
/// that are no longer in the drawing (or sit on another frame) are deleted. Objects of other
/// owners are never touched. `None` when nothing changes.
pub fn update_body(
    entries: &[Entry],
    fps: f64,
    frame: u64,
    drawing: &Drawing,
    canvas: Canvas,
    note: &str,
    created_by: Option<&str>,
) -> Option<Value> {
    let wanted_time = time_of_frame(fps, frame);
    // Re-use the stored key when an entry is already on this frame, so the server's exact
    // float match finds it even if an older client wrote a slightly different number.
    let time = entries
        .iter()
        .find(|e| same_time(e.time, wanted_time))
        .map(|e| e.time)
        .unwrap_or(wanted_time);
    let at_time: HashMap<&str, &Value> = entries
        .iter()
        .filter(|e| e.time == time)
        .flat_map(|e| e.objects.iter())
        .filter_map(|o| Some((o.get("id")?.as_str()?, o)))
        .collect();
    let kitsu_frame = frame + 1; // Kitsu's `frame` field counts from 1.
    let mut additions = Vec::new();
    let mut updates = Vec::new();
    for shape in &drawing.shapes {
        let obj = shape_to_fabric(shape, canvas, Some(note), created_by);
        match at_time.get(shape.id.as_str()) {
            None => additions.push(obj),
            Some(existing) if **existing != obj => updates.push(obj),
            Some(_) => {}
        }
    }
    let keep: HashSet<&str> = drawing.shapes.iter().map(|s| s.id.as_str()).collect();
    let mut deletions: BTreeMap<u64, (f64, Vec<Value>)> = BTreeMap::new();
    for entry in entries {
        for obj in &entry.objects {
            let Some(id) = obj.get("id").and_then(Value::as_str) else {
                continue;
            };
            let ours = note_tag(obj) == Some(note);
            let stays = entry.time == time && keep.contains(id);
            if ours && !stays {
                deletions
                    .entry(entry.time.to_bits())
                    .or_insert_with(|| (entry.time, Vec::new()))
                    .1
                    .push(json!(id));
            }
        }
    }
    if additions.is_empty() && updates.is_empty() && deletions.is_empty() {
        return None;
    }
    let with_objects = |objects: Vec<Value>| json!({"time": time, "frame": kitsu_frame, "drawing": {"objects": objects}});
    let additions: Vec<Value> = if additions.is_empty() {
        Vec::new()
    } else {
        vec![with_objects(additions)]
    };
    let updates: Vec<Value> = if updates.is_empty() {
        Vec::new()
    } else {
        vec![with_objects(updates)]
    };
    let deletions: Vec<Value> = deletions
        .into_values()
        .map(|(t, ids)| json!({"time": t, "frame": frame_of_time(fps, t) + 1, "objects": ids}))
        .collect();
    Some(json!({"additions": additions, "updates": updates, "deletions": deletions}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawing() -> Drawing {
        Drawing::from_shapes(vec![
            Shape {
                id: "a1".into(),
                kind: ShapeKind::Arrow {
                    from: Point { x: 0.25, y: 0.5 },
                    to: Point { x: 0.5, y: 0.25 },
                },
                stroke: Stroke {
                    color: "#ff3b30".into(),
                    width: 4.0 / 360.0,
                },
            },
            Shape {
                id: "r1".into(),
                kind: ShapeKind::Rect {
                    origin: Point { x: 0.5, y: 0.5 },
                    width: 0.25,
                    height: 0.125,
                },
                stroke: Stroke {
                    color: "#0000ff".into(),
                    width: 2.0 / 360.0,
                },
            },
            Shape {
                id: "e1".into(),
                kind: ShapeKind::Ellipse {
                    center: Point { x: 0.3, y: 0.3 },
                    rx: 0.1,
                    ry: 0.05,
                },
                stroke: Stroke {
                    color: "#00ff00".into(),
                    width: 0.01,
                },
            },
            Shape {
                id: "p1".into(),
                kind: ShapeKind::Pen {
                    points: vec![
                        Point { x: 0.1, y: 0.1 },
                        Point { x: 0.2, y: 0.15 },
                        Point { x: 0.3, y: 0.1 },
                    ],
                },
                stroke: Stroke {
                    color: "#ffffff".into(),
                    width: 0.005,
                },
            },
            Shape {
                id: "t1".into(),
                kind: ShapeKind::Text {
                    at: Point { x: 0.6, y: 0.7 },
                    text: "fix <b>this</b>".into(),
                    size: 0.05,
                },
                stroke: Stroke {
                    color: "#ffff00".into(),
                    width: 0.0,
                },
            },
            Shape {
                id: "l1".into(),
                kind: ShapeKind::Line {
                    from: Point { x: 0.9, y: 0.1 },
                    to: Point { x: 0.8, y: 0.2 },
                },
                stroke: Stroke {
                    color: "#123456".into(),
                    width: 0.002,
                },
            },
        ])
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn kitsu_time_grid_matches_zou() {
        // The reference's measured values: 24 fps frame 12 is 0.5004, not 0.5.
        assert_eq!(time_of_frame(24.0, 12), 0.5004);
        assert_eq!(frame_duration(24.0), 0.0417);
        assert_eq!(
            frame_duration(kitsu_fps(FrameRate::new(24000, 1001))),
            0.0417
        );
        assert_eq!(
            time_of_frame(kitsu_fps(FrameRate::new(24000, 1001)), 1001),
            41.7417
        );
        assert_eq!(
            frame_duration(kitsu_fps(FrameRate::new(30000, 1001))),
            0.0334
        );
        assert_eq!(time_of_frame(29.97, 1001), 33.4334);
        assert_eq!(kitsu_fps(FrameRate::new(24000, 1001)), 23.976);
        assert_eq!(kitsu_fps(FrameRate::new(30000, 1001)), 29.97);
        for fps in [23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0] {
            for frame in [0u64, 1, 2, 12, 17, 95, 1000, 1001, 86_399, 172_800] {
                assert_eq!(
                    frame_of_time(fps, time_of_frame(fps, frame)),
                    frame,
                    "fps {fps} frame {frame}"
                );
            }
        }
        assert_eq!(frame_of_time(24.0, -1.0), 0);
        assert_eq!(frame_of_time(24.0, f64::NAN), 0);
    }

    #[test]
    fn shapes_round_trip_through_fabric_exactly() {
        let canvas = Canvas::new(Some(640), Some(360));
        for shape in drawing().shapes {
            let obj = shape_to_fabric(&shape, canvas, Some("note-1"), Some("person-1"));
            assert_eq!(obj["canvasWidth"], 640.0);
            assert_eq!(obj["id"], shape.id.as_str());
            assert_eq!(note_tag(&obj), Some("note-1"));
            // Through JSON text, as the server stores and returns it.
            let text = serde_json::to_string(&obj).unwrap();
            let back = shape_from_fabric(
                &serde_json::from_str(&text).unwrap(),
                Canvas::new(None, None),
            )
            .unwrap();
            assert_eq!(back.id, shape.id);
            assert_eq!(back.stroke.color, shape.stroke.color);
            assert!(
                close(back.stroke.width, shape.stroke.width),
                "{shape:?} -> {back:?}"
            );
            match (&shape.kind, &back.kind) {
                (ShapeKind::Arrow { from: a, to: b }, ShapeKind::Arrow { from: c, to: d })
                | (ShapeKind::Line { from: a, to: b }, ShapeKind::Line { from: c, to: d }) => {
                    assert!(
                        close(a.x, c.x) && close(a.y, c.y) && close(b.x, d.x) && close(b.y, d.y)
                    );
                }
                (
                    ShapeKind::Rect {
                        origin: o,
                        width: w,
                        height: h,
                    },
                    ShapeKind::Rect {
                        origin: p,
                        width: x,
                        height: y,
                    },
                ) => {
                    assert!(close(o.x, p.x) && close(o.y, p.y) && close(*w, *x) && close(*h, *y));
                }
                (
                    ShapeKind::Ellipse { center: c, rx, ry },
                    ShapeKind::Ellipse {
                        center: d,
                        rx: a,
                        ry: b,
                    },
                ) => {
                    assert!(close(c.x, d.x) && close(c.y, d.y) && close(*rx, *a) && close(*ry, *b));
                }
                (ShapeKind::Pen { points: a }, ShapeKind::Pen { points: b }) => {
                    assert_eq!(a.len(), b.len());
                    assert!(
                        a.iter()
                            .zip(b)
                            .all(|(p, q)| close(p.x, q.x) && close(p.y, q.y))
                    );
                }
                (
                    ShapeKind::Text { at, text, size },
                    ShapeKind::Text {
                        at: a,
                        text: t,
                        size: s,
                    },
                ) => {
                    assert!(close(at.x, a.x) && close(at.y, a.y) && close(*size, *s));
                    assert_eq!(text, t);
                }
                (a, b) => panic!("kind changed: {a:?} -> {b:?}"),
            }
        }
    }

    #[test]
    fn kitsu_web_objects_are_read_with_their_transform() {
        // A fabric line with centre-relative points (fabric's own toObject form), moved and
        // scaled: centre at (200, 100), points ±(50, 20), scale 2 → world (100,60)..(300,140).
        let line = json!({"type": "line", "id": "x", "left": 100, "top": 60, "width": 100, "height": 40,
            "scaleX": 2, "scaleY": 2, "x1": -50, "y1": -20, "x2": 50, "y2": 20,
            "stroke": "rgba(255,0,0,1)", "strokeWidth": 4, "canvasWidth": 400, "canvasHeight": 200});
        let shape = shape_from_fabric(&line, Canvas::new(None, None)).unwrap();
        let ShapeKind::Line { from, to } = shape.kind else {
            panic!("{shape:?}")
        };
        assert!(
            close(from.x, 0.25) && close(from.y, 0.3) && close(to.x, 0.75) && close(to.y, 0.7),
            "{from:?} {to:?}"
        );
        assert_eq!(shape.stroke.color, "#ff0000");
        assert!(close(shape.stroke.width, 0.02));
        // The stored example from the reference walkthrough: a Kitsu pencil path with a curve.
        let path = json!({"id":"11111111-1111-4111-8111-111111111111","top":80,"fill":null,"left":100,
            "path":[["M",100,80],["Q",160,60,220,120]],"type":"path","angle":0,"width":120,"height":40,
            "scaleX":1,"scaleY":1,"stroke":"#ff3b30","opacity":1,"pathOffset":{"x":160,"y":100},
            "canvasWidth":640,"strokeWidth":4,"canvasHeight":360});
        let shape = shape_from_fabric(&path, Canvas::new(None, None)).unwrap();
        let ShapeKind::Pen { points } = shape.kind else {
            panic!()
        };
        assert_eq!(points.len(), 2);
        assert!(close(points[0].x, 100.0 / 640.0) && close(points[1].y, 120.0 / 360.0));
        // A rotated rectangle keeps its corners as a closed stroke.
        let rect = json!({"type": "rect", "left": 100, "top": 100, "width": 50, "height": 50, "angle": 90,
            "stroke": "#00f", "canvasWidth": 1000, "canvasHeight": 1000});
        let ShapeKind::Pen { points } = shape_from_fabric(&rect, Canvas::new(None, None))
            .unwrap()
            .kind
        else {
            panic!()
        };
        assert_eq!(points.len(), 5);
        // Unknown and empty objects are skipped, not errors.
        assert!(shape_from_fabric(&json!({"type": "image"}), Canvas::new(None, None)).is_none());
        assert!(shape_from_fabric(&json!({"no": "type"}), Canvas::new(None, None)).is_none());
        assert!(
            shape_from_fabric(
                &json!({"type": "rect", "width": 0}),
                Canvas::new(None, None)
            )
            .is_none()
        );
    }

    #[test]
    fn entries_parse_leniently() {
        let value = json!([
            {"time": 0.5004, "frame": 13, "drawing": {"objects": [{"type": "rect"}]}},
            {"time": "1.25", "drawing": {"objects": []}},
            {"time": 2, "drawing": null},
            {"frame": "017"},
            "garbage"
        ]);
        let entries = parse_entries(&value);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].time, 1.25);
        assert_eq!(entries[2].time, 2.0);
        assert!(parse_entries(&Value::Null).is_empty());
    }

    #[test]
    fn update_body_adds_replaces_and_deletes_only_the_notes_objects() {
        let canvas = Canvas::new(Some(640), Some(360));
        let d = drawing();
        let fresh = update_body(&[], 24.0, 12, &d, canvas, "n1", None).unwrap();
        assert_eq!(fresh["additions"][0]["time"], 0.5004);
        assert_eq!(fresh["additions"][0]["frame"], 13);
        assert_eq!(
            fresh["additions"][0]["drawing"]["objects"]
                .as_array()
                .unwrap()
                .len(),
            d.shapes.len()
        );
        assert!(fresh["updates"].as_array().unwrap().is_empty());

        // As stored: our objects plus someone else's on the same frame.
        let mut objects: Vec<Value> = d
            .shapes
            .iter()
            .map(|s| shape_to_fabric(s, canvas, Some("n1"), None))
            .collect();
        objects.push(json!({"id": "theirs", "type": "rect", "width": 1, "height": 1}));
        let stored = vec![Entry {
            time: 0.5004,
            objects,
        }];
        assert_eq!(
            update_body(&stored, 24.0, 12, &d, canvas, "n1", None),
            None,
            "no change, no call"
        );

        let mut changed = d.clone();
        changed.shapes.remove(0); // arrow deleted
        if let ShapeKind::Rect { width, .. } = &mut changed.shapes[0].kind {
            *width = 0.5; // rect resized
        }
        let body = update_body(&stored, 24.0, 12, &changed, canvas, "n1", None).unwrap();
        assert!(body["additions"].as_array().unwrap().is_empty());
        let updated = &body["updates"][0]["drawing"]["objects"];
        assert_eq!(updated.as_array().unwrap().len(), 1);
        assert_eq!(updated[0]["id"], "r1");
        assert_eq!(updated[0]["width"], 320.0, "updates carry the whole object");
        assert_eq!(updated[0]["canvasHeight"], 360.0);
        assert_eq!(
            body["deletions"],
            json!([{"time": 0.5004, "frame": 13, "objects": ["a1"]}])
        );

        // Moving the note to another frame deletes there and adds here.
        let moved = update_body(&stored, 24.0, 48, &d, canvas, "n1", None).unwrap();
        assert_eq!(moved["additions"][0]["time"], 2.0016);
        assert_eq!(
            moved["deletions"][0]["objects"].as_array().unwrap().len(),
            d.shapes.len()
        );
    }

    #[test]
    fn drawings_group_by_frame_and_owner() {
        let canvas = Canvas::new(Some(640), Some(360));
        let d = drawing();
        let mut objects: Vec<Value> = d
            .shapes
            .iter()
            .map(|s| shape_to_fabric(s, canvas, Some("n1"), None))
            .collect();
        objects.push(
            json!({"id": "theirs", "type": "rect", "left": 0, "top": 0, "width": 64, "height": 36,
            "stroke": "#fff", "canvasWidth": 640, "canvasHeight": 360}),
        );
        let entries = vec![
            Entry {
                time: 0.7089,
                objects,
            },
            Entry {
                time: 0.0417,
                objects: vec![json!({"type": "image"})],
            },
        ];
        let groups = drawings_by_owner(&entries, 24.0, canvas);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, 17);
        assert!(
            groups
                .iter()
                .any(|(f, o, dr)| *f == 17 && o.is_none() && dr.shapes.len() == 1)
        );
        assert!(groups.iter().any(|(f, o, dr)| *f == 17
            && o.as_deref() == Some("n1")
            && dr.shapes.len() == d.shapes.len()));
    }

    #[test]
    fn css_colours() {
        assert_eq!(css_to_hex("#FF3B30").as_deref(), Some("#ff3b30"));
        assert_eq!(css_to_hex("#f00").as_deref(), Some("#ff0000"));
        assert_eq!(css_to_hex("#ff000080").as_deref(), Some("#ff0000"));
        assert_eq!(
            css_to_hex("rgba(0, 128, 255, 0.5)").as_deref(),
            Some("#0080ff")
        );
        assert_eq!(css_to_hex("rgb(300,-1,0)").as_deref(), Some("#ff0000"));
        assert_eq!(css_to_hex("red"), None);
        assert_eq!(css_to_hex("#zzzzzz"), None);
    }
}
