//! Flow Capture drawings ("indicators") ↔ Framenote's canonical [`Drawing`].
//!
//! The API writes a drawing with `/update/drawing {comment_id, drawing_data, type: DRAWING_V2}`
//! and reads one back only as SVG (`/get/indicators/svg` → `svg`). The DRAWING_V2 JSON schema is
//! not documented anywhere public, so Framenote keeps its canonical drawing as the source of
//! truth and sends it, wrapped and versioned, as `drawing_data` ([`to_drawing_data`]). Reading is
//! always through the SVG the platform renders, whoever drew it: [`from_svg`] turns simple SVG
//! (paths of straight segments, lines, polylines, rects, circles, ellipses, text) back into
//! shapes, and keeps anything else (curves, transforms, images, gradients…) whole as an opaque
//! overlay, so nothing another reviewer drew is lost or distorted.
//!
//! Coordinates: the SVG's `viewBox` (else `width`/`height`) spans the picture; canonical points
//! are that divided through to 0..1. Stroke width and font size are fractions of the height.

use std::collections::HashMap;

use framenote_core::{Drawing, Point, Shape, ShapeKind, Stroke};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

/// `drawing_data`'s `format` tag, so a reader (ours, or a future converter) can recognise it.
pub const DRAWING_DATA_FORMAT: &str = "framenote.drawing/1";

/// The `type` Framenote sends: the documented default and only non-obsolete one.
pub const DRAWING_TYPE: &str = "DRAWING_V2";

#[derive(Serialize)]
struct DrawingData<'a> {
    format: &'static str,
    shapes: &'a [Shape],
}

/// The string sent as `drawing_data`: the canonical shapes, tagged with their format.
pub fn to_drawing_data(drawing: &Drawing) -> String {
    let data = DrawingData {
        format: DRAWING_DATA_FORMAT,
        shapes: &drawing.shapes,
    };
    // Serialising plain structs of strings and floats cannot fail; NaN would, and becomes null
    // through serde_json's float handling rather than an error, so the fallback is unreachable
    // in practice and still yields valid JSON.
    serde_json::to_string(&data)
        .unwrap_or_else(|_| format!(r#"{{"format":"{DRAWING_DATA_FORMAT}","shapes":[]}}"#))
}

/// Why an SVG was kept as an overlay instead of shapes (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opaque {
    /// Not well-formed XML.
    Malformed(String),
    /// An element or attribute Framenote cannot map exactly.
    Unsupported(String),
}

/// Converts the platform's SVG into a drawing: shapes when every element maps exactly, else the
/// SVG kept whole as `overlay_svg` (never a partial conversion). An SVG with nothing drawn
/// gives `None`.
pub fn from_svg(svg: &str) -> Option<Drawing> {
    match parse_svg(svg) {
        Ok(shapes) if shapes.is_empty() => None,
        Ok(shapes) => Some(Drawing::from_shapes(shapes)),
        Err(reason) => {
            tracing::debug!(?reason, "drawing kept as an SVG overlay");
            Some(Drawing {
                shapes: Vec::new(),
                overlay_svg: Some(svg.to_owned()),
            })
        }
    }
}

/// The strict conversion behind [`from_svg`]: every drawable element must map exactly.
pub fn parse_svg(svg: &str) -> Result<Vec<Shape>, Opaque> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut canvas: Option<(f64, f64)> = None;
    let mut shapes = Vec::new();
    // Element nesting, to ignore <defs>/<title>/<desc>/<marker> contents and to collect text.
    let mut stack: Vec<String> = Vec::new();
    let mut text: Option<PendingText> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Opaque::Malformed(e.to_string()))?;
        match event {
            Event::Start(e) => {
                let name = local_name(&e);
                if !inside_ignored(&stack) {
                    if name == "text" {
                        let attrs = attributes(&e)?;
                        text = Some(PendingText::begin(&attrs)?);
                    } else if name == "tspan" && text.is_some() {
                        reject_positioned_tspan(&attributes(&e)?)?;
                    } else {
                        handle_element(&name, &e, &mut canvas, &mut shapes)?;
                    }
                }
                stack.push(name);
            }
            Event::Empty(e) => {
                let name = local_name(&e);
                if !inside_ignored(&stack) && name != "text" {
                    handle_element(&name, &e, &mut canvas, &mut shapes)?;
                }
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                if name == "text"
                    && let Some(pending) = text.take()
                {
                    let (w, h) = canvas.ok_or_else(|| unsupported("text outside an <svg>"))?;
                    shapes.push(pending.finish(shapes.len(), w, h)?);
                }
            }
            Event::Text(t) => {
                if let Some(pending) = text.as_mut() {
                    pending.content.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(pending) = text.as_mut() {
                    pending.content.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(pending) = text.as_mut() {
                    let name: &str = &r;
                    pending.content.push_str(&resolve_entity(name)?);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if canvas.is_none() {
        return Err(Opaque::Malformed("no <svg> root".into()));
    }
    Ok(shapes)
}

/// Elements whose content is not drawn directly.
const IGNORED_CONTAINERS: [&str; 5] = ["defs", "title", "desc", "metadata", "marker"];

fn inside_ignored(stack: &[String]) -> bool {
    stack
        .iter()
        .any(|n| IGNORED_CONTAINERS.contains(&n.as_str()))
}

fn unsupported(what: impl Into<String>) -> Opaque {
    Opaque::Unsupported(what.into())
}

fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().into_inner().to_owned()
}

fn attributes(e: &BytesStart<'_>) -> Result<HashMap<String, String>, Opaque> {
    let mut map = HashMap::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| Opaque::Malformed(err.to_string()))?;
        let key = attr.key.local_name().into_inner().to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| Opaque::Malformed(err.to_string()))?
            .into_owned();
        map.insert(key, value);
    }
    // `style="stroke:#f00;stroke-width:3"` overrides presentation attributes, as in CSS.
    if let Some(style) = map.get("style").cloned() {
        for decl in style.split(';') {
            if let Some((k, v)) = decl.split_once(':') {
                map.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    Ok(map)
}

fn resolve_entity(name: &str) -> Result<String, Opaque> {
    let resolved = match name {
        "amp" => "&".to_owned(),
        "lt" => "<".to_owned(),
        "gt" => ">".to_owned(),
        "quot" => "\"".to_owned(),
        "apos" => "'".to_owned(),
        _ => {
            let code =
                if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
            return code
                .and_then(char::from_u32)
                .map(String::from)
                .ok_or_else(|| unsupported(format!("entity &{name};")));
        }
    };
    Ok(resolved)
}

/// Attributes that change geometry or paint in ways the canonical model cannot express.
const UNSUPPORTED_ATTRIBUTES: [&str; 8] = [
    "transform",
    "clip-path",
    "mask",
    "filter",
    "stroke-dasharray",
    "opacity",
    "stroke-opacity",
    "fill-opacity",
];

fn reject_unsupported_attributes(
    name: &str,
    attrs: &HashMap<String, String>,
) -> Result<(), Opaque> {
    for key in UNSUPPORTED_ATTRIBUTES {
        if let Some(value) = attrs.get(key) {
            // Fully opaque is the default and changes nothing.
            let harmless =
                key.ends_with("opacity") && value.trim().parse::<f64>().ok() == Some(1.0);
            if !harmless {
                return Err(unsupported(format!("<{name} {key}>")));
            }
        }
    }
    Ok(())
}

fn handle_element(
    name: &str,
    e: &BytesStart<'_>,
    canvas: &mut Option<(f64, f64)>,
    shapes: &mut Vec<Shape>,
) -> Result<(), Opaque> {
    let attrs = attributes(e)?;
    if name == "svg" {
        if canvas.is_some() {
            return Err(unsupported("nested <svg>"));
        }
        *canvas = Some(canvas_size(&attrs)?);
        return Ok(());
    }
    if IGNORED_CONTAINERS.contains(&name) {
        return Ok(());
    }
    reject_unsupported_attributes(name, &attrs)?;
    if name == "g" {
        // A plain group only carries inherited paint, which Framenote does not model; a group
        // with paint of its own would change its children, so it is kept opaque.
        if attrs.contains_key("stroke")
            || attrs.contains_key("fill")
            || attrs.contains_key("stroke-width")
        {
            return Err(unsupported("<g> with its own paint"));
        }
        return Ok(());
    }
    let (w, h) = canvas.ok_or_else(|| unsupported(format!("<{name}> outside an <svg>")))?;
    let index = shapes.len();
    let id = attrs
        .get("id")
        .cloned()
        .unwrap_or_else(|| format!("svg-{index}"));
    let point = |x: f64, y: f64| Point { x: x / w, y: y / h };
    let kind = match name {
        "line" => {
            let from = point(num(&attrs, "x1")?, num(&attrs, "y1")?);
            let to = point(num(&attrs, "x2")?, num(&attrs, "y2")?);
            if attrs.contains_key("marker-end") {
                ShapeKind::Arrow { from, to }
            } else if attrs.contains_key("marker-start") {
                ShapeKind::Arrow { from: to, to: from }
            } else {
                ShapeKind::Line { from, to }
            }
        }
        "rect" => {
            if attrs.contains_key("rx") || attrs.contains_key("ry") {
                return Err(unsupported("rounded <rect>"));
            }
            ShapeKind::Rect {
                origin: point(num_or(&attrs, "x", 0.0)?, num_or(&attrs, "y", 0.0)?),
                width: num(&attrs, "width")? / w,
                height: num(&attrs, "height")? / h,
            }
        }
        "ellipse" | "circle" => {
            let (rx, ry) = if name == "circle" {
                let r = num(&attrs, "r")?;
                (r, r)
            } else {
                (num(&attrs, "rx")?, num(&attrs, "ry")?)
            };
            ShapeKind::Ellipse {
                center: point(num_or(&attrs, "cx", 0.0)?, num_or(&attrs, "cy", 0.0)?),
                rx: rx / w,
                ry: ry / h,
            }
        }
        "polyline" => {
            let coords = numbers(attrs.get("points").map(String::as_str).unwrap_or(""))?;
            if coords.len() < 4 || coords.len() % 2 != 0 {
                return Err(unsupported("<polyline> with an odd or short point list"));
            }
            ShapeKind::Pen {
                points: coords.chunks(2).map(|c| point(c[0], c[1])).collect(),
            }
        }
        "path" => {
            let d = attrs.get("d").map(String::as_str).unwrap_or("");
            let subpaths = straight_path(d)?;
            let stroke = stroke_of(&attrs, h)?;
            let count = subpaths.len();
            for (n, sub) in subpaths.into_iter().enumerate() {
                let id = if count == 1 {
                    id.clone()
                } else {
                    format!("{id}-{n}")
                };
                shapes.push(Shape {
                    id,
                    kind: ShapeKind::Pen {
                        points: sub.into_iter().map(|(x, y)| point(x, y)).collect(),
                    },
                    stroke: stroke.clone(),
                });
            }
            return Ok(());
        }
        other => return Err(unsupported(format!("<{other}>"))),
    };
    let stroke = stroke_of(&attrs, h)?;
    shapes.push(Shape { id, kind, stroke });
    Ok(())
}

/// The picture size in SVG units: the `viewBox` when present (it must start at 0,0), else
/// `width`/`height` in plain numbers or px.
fn canvas_size(attrs: &HashMap<String, String>) -> Result<(f64, f64), Opaque> {
    if let Some(view_box) = attrs.get("viewBox") {
        let v = numbers(view_box)?;
        if v.len() != 4 || v[0] != 0.0 || v[1] != 0.0 || v[2] <= 0.0 || v[3] <= 0.0 {
            return Err(unsupported(format!("viewBox {view_box:?}")));
        }
        return Ok((v[2], v[3]));
    }
    let w = length(attrs.get("width"))?;
    let h = length(attrs.get("height"))?;
    match (w, h) {
        (Some(w), Some(h)) if w > 0.0 && h > 0.0 => Ok((w, h)),
        _ => Err(unsupported("<svg> without a viewBox or a size")),
    }
}

fn length(value: Option<&String>) -> Result<Option<f64>, Opaque> {
    match value {
        None => Ok(None),
        Some(v) => {
            let v = v.trim();
            let n = v.strip_suffix("px").unwrap_or(v);
            n.parse::<f64>()
                .map(Some)
                .map_err(|_| unsupported(format!("length {v:?}")))
        }
    }
}

fn num(attrs: &HashMap<String, String>, key: &str) -> Result<f64, Opaque> {
    let value = attrs
        .get(key)
        .ok_or_else(|| unsupported(format!("missing {key}")))?;
    let v = value.trim();
    let n = v.strip_suffix("px").unwrap_or(v);
    match n.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(unsupported(format!("{key}={value:?}"))),
    }
}

fn num_or(attrs: &HashMap<String, String>, key: &str, default: f64) -> Result<f64, Opaque> {
    if attrs.contains_key(key) {
        num(attrs, key)
    } else {
        Ok(default)
    }
}

/// Splits an SVG number list (commas and/or whitespace; `-` may start a number).
fn numbers(text: &str) -> Result<Vec<f64>, Opaque> {
    tokens(text)
        .into_iter()
        .map(|t| match t {
            PathToken::Number(n) => Ok(n),
            PathToken::Command(c) => Err(unsupported(format!("unexpected {c:?} in a number list"))),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PathToken {
    Command(char),
    Number(f64),
}

/// Tokenises path data: commands and numbers, with SVG's compact forms (`10-5`, `.5.5`).
fn tokens(d: &str) -> Vec<PathToken> {
    let mut out = Vec::new();
    let chars: Vec<char> = d.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() && c != 'e' && c != 'E' {
            out.push(PathToken::Command(c));
            i += 1;
        } else if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' {
            let start = i;
            let mut seen_dot = c == '.';
            let mut seen_exp = false;
            i += 1;
            while i < chars.len() {
                let d = chars[i];
                if d.is_ascii_digit() {
                    i += 1;
                } else if d == '.' && !seen_dot && !seen_exp {
                    seen_dot = true;
                    i += 1;
                } else if (d == 'e' || d == 'E') && !seen_exp {
                    seen_exp = true;
                    i += 1;
                    if i < chars.len() && (chars[i] == '-' || chars[i] == '+') {
                        i += 1;
                    }
                } else {
                    break;
                }
            }
            let text: String = chars[start..i].iter().collect();
            match text.parse::<f64>() {
                Ok(n) if n.is_finite() => out.push(PathToken::Number(n)),
                // An unparsable number becomes a command the caller refuses.
                _ => out.push(PathToken::Command('?')),
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Path data made only of straight segments (M, L, H, V, Z in either case) → subpaths of
/// absolute points. Curves and arcs are refused: approximating them would change the drawing.
fn straight_path(d: &str) -> Result<Vec<Vec<(f64, f64)>>, Opaque> {
    let toks = tokens(d);
    let mut subpaths: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let (mut x, mut y) = (0.0f64, 0.0f64);
    let (mut start_x, mut start_y) = (0.0f64, 0.0f64);
    let mut i = 0;
    let mut command: Option<char> = None;
    while i < toks.len() {
        let cmd = match toks[i] {
            PathToken::Command(c) => {
                i += 1;
                c
            }
            // Repeated coordinates reuse the previous command (a moveto continues as lineto).
            PathToken::Number(_) => match command {
                Some('M') => 'L',
                Some('m') => 'l',
                Some(c) => c,
                None => return Err(unsupported("path data without a command")),
            },
        };
        let take = |i: &mut usize| -> Result<f64, Opaque> {
            match toks.get(*i) {
                Some(PathToken::Number(n)) => {
                    *i += 1;
                    Ok(*n)
                }
                _ => Err(unsupported("path command with missing coordinates")),
            }
        };
        match cmd {
            'M' | 'm' => {
                if current.len() > 1 {
                    subpaths.push(std::mem::take(&mut current));
                } else {
                    current.clear();
                }
                let (nx, ny) = (take(&mut i)?, take(&mut i)?);
                if cmd == 'm' {
                    x += nx;
                    y += ny;
                } else {
                    x = nx;
                    y = ny;
                }
                start_x = x;
                start_y = y;
                current.push((x, y));
            }
            'L' | 'l' => {
                let (nx, ny) = (take(&mut i)?, take(&mut i)?);
                if cmd == 'l' {
                    x += nx;
                    y += ny;
                } else {
                    x = nx;
                    y = ny;
                }
                current.push((x, y));
            }
            'H' | 'h' => {
                let nx = take(&mut i)?;
                x = if cmd == 'h' { x + nx } else { nx };
                current.push((x, y));
            }
            'V' | 'v' => {
                let ny = take(&mut i)?;
                y = if cmd == 'v' { y + ny } else { ny };
                current.push((x, y));
            }
            'Z' | 'z' => {
                x = start_x;
                y = start_y;
                current.push((x, y));
            }
            other => return Err(unsupported(format!("path command {other:?}"))),
        }
        command = Some(cmd);
    }
    if current.len() > 1 {
        subpaths.push(current);
    }
    if subpaths.is_empty() {
        return Err(unsupported("path with fewer than two points"));
    }
    Ok(subpaths)
}

/// Stroke colour and width; text is painted with `fill`.
fn stroke_of(attrs: &HashMap<String, String>, h: f64) -> Result<Stroke, Opaque> {
    let color = match attrs.get("stroke").map(|s| s.trim()) {
        Some(c) if c != "none" => parse_color(c)?,
        _ => return Err(unsupported("shape without a stroke colour")),
    };
    if let Some(fill) = attrs.get("fill")
        && fill.trim() != "none"
        && fill.trim() != "transparent"
    {
        return Err(unsupported("filled shape"));
    }
    let width = num_or(attrs, "stroke-width", 1.0)? / h;
    Ok(Stroke { color, width })
}

/// `#rgb`, `#rrggbb`, `rgb(r, g, b)` or a basic CSS colour name → `#rrggbb`.
pub fn parse_color(text: &str) -> Result<String, Opaque> {
    let t = text.trim().to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(format!("#{hex}"));
        }
        if hex.len() == 3 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let expanded: String = hex.chars().flat_map(|c| [c, c]).collect();
            return Ok(format!("#{expanded}"));
        }
    }
    if let Some(inner) = t.strip_prefix("rgb(").and_then(|s| s.strip_suffix(')')) {
        let parts: Vec<Option<u8>> = inner
            .split(',')
            .map(|p| p.trim().parse::<u8>().ok())
            .collect();
        if let [Some(r), Some(g), Some(b)] = parts[..] {
            return Ok(format!("#{r:02x}{g:02x}{b:02x}"));
        }
    }
    let named = match t.as_str() {
        "black" => "#000000",
        "white" => "#ffffff",
        "red" => "#ff0000",
        "lime" => "#00ff00",
        "green" => "#008000",
        "blue" => "#0000ff",
        "yellow" => "#ffff00",
        "cyan" | "aqua" => "#00ffff",
        "magenta" | "fuchsia" => "#ff00ff",
        "orange" => "#ffa500",
        _ => return Err(unsupported(format!("colour {text:?}"))),
    };
    Ok(named.to_owned())
}

/// A `<text>` being read: its position and style now, its characters as they arrive.
struct PendingText {
    id: Option<String>,
    x: f64,
    y: f64,
    size: f64,
    /// `y` is the top of the text (`dominant-baseline: hanging`) rather than its baseline.
    hanging: bool,
    color: String,
    content: String,
}

impl PendingText {
    fn begin(attrs: &HashMap<String, String>) -> Result<Self, Opaque> {
        reject_unsupported_attributes("text", attrs)?;
        if attrs.contains_key("rotate") || attrs.contains_key("dx") || attrs.contains_key("dy") {
            return Err(unsupported("<text> with glyph offsets"));
        }
        let color = match attrs.get("fill") {
            Some(c) => parse_color(c)?,
            // SVG's default fill is black.
            None => "#000000".to_owned(),
        };
        let size = match attrs.get("font-size") {
            Some(_) => num(attrs, "font-size")?,
            None => 16.0,
        };
        let hanging = attrs
            .get("dominant-baseline")
            .is_some_and(|v| v.trim() == "hanging" || v.trim() == "text-before-edge");
        Ok(Self {
            id: attrs.get("id").cloned(),
            x: num_or(attrs, "x", 0.0)?,
            y: num_or(attrs, "y", 0.0)?,
            size,
            hanging,
            color,
            content: String::new(),
        })
    }

    fn finish(self, index: usize, w: f64, h: f64) -> Result<Shape, Opaque> {
        // Canonical text is anchored at the top-left of its box; an SVG baseline sits about
        // one font size below the top.
        let top = if self.hanging {
            self.y
        } else {
            self.y - self.size
        };
        Ok(Shape {
            id: self.id.unwrap_or_else(|| format!("svg-{index}")),
            kind: ShapeKind::Text {
                at: Point {
                    x: self.x / w,
                    y: top / h,
                },
                text: self.content.trim().to_owned(),
                size: self.size / h,
            },
            stroke: Stroke {
                color: self.color,
                width: 0.0,
            },
        })
    }
}

fn reject_positioned_tspan(attrs: &HashMap<String, String>) -> Result<(), Opaque> {
    if ["x", "y", "dx", "dy", "fill", "font-size"]
        .iter()
        .any(|k| attrs.contains_key(*k))
    {
        return Err(unsupported("<tspan> with its own position or style"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../../tests/fixtures/moxion/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn simple_svg_from_another_user_becomes_shapes() {
        let svg = fixture("indicator_simple.svg");
        let shapes = parse_svg(&svg).expect("simple SVG converts");
        assert_eq!(shapes.len(), 5, "{shapes:#?}");
        match &shapes[0].kind {
            ShapeKind::Pen { points } => {
                assert_eq!(points.len(), 4);
                assert!(close(points[0].x, 192.0 / 1920.0) && close(points[0].y, 108.0 / 1080.0));
                // The relative `l` segment is resolved to absolute coordinates.
                assert!(close(points[3].x, 480.0 / 1920.0) && close(points[3].y, 324.0 / 1080.0));
            }
            other => panic!("expected pen, got {other:?}"),
        }
        assert_eq!(shapes[0].stroke.color, "#ff0000");
        assert!(close(shapes[0].stroke.width, 6.0 / 1080.0));
        assert!(matches!(shapes[1].kind, ShapeKind::Arrow { .. }));
        match &shapes[2].kind {
            ShapeKind::Rect {
                origin,
                width,
                height,
            } => {
                assert!(close(origin.x, 0.5) && close(origin.y, 0.5));
                assert!(close(*width, 0.25) && close(*height, 0.25));
            }
            other => panic!("expected rect, got {other:?}"),
        }
        assert!(matches!(shapes[3].kind, ShapeKind::Ellipse { .. }));
        match &shapes[4].kind {
            ShapeKind::Text { at, text, size } => {
                assert_eq!(text, "Too warm & soft");
                assert!(close(*size, 54.0 / 1080.0));
                // Baseline text: top = y - size.
                assert!(close(at.y, (864.0 - 54.0) / 1080.0));
            }
            other => panic!("expected text, got {other:?}"),
        }
        assert_eq!(shapes[4].stroke.color, "#ffff00");
    }

    #[test]
    fn curves_and_transforms_stay_an_opaque_overlay() {
        let svg = fixture("indicator_complex.svg");
        assert!(matches!(parse_svg(&svg), Err(Opaque::Unsupported(_))));
        let drawing = from_svg(&svg).expect("something is drawn");
        assert!(drawing.shapes.is_empty());
        assert_eq!(drawing.overlay_svg.as_deref(), Some(svg.as_str()));
    }

    #[test]
    fn malformed_svg_is_kept_not_dropped() {
        let drawing = from_svg("<svg viewBox='0 0 10 10'><path d='M0 0 L1 1'").expect("kept");
        assert!(drawing.overlay_svg.is_some());
    }

    #[test]
    fn empty_svg_is_no_drawing() {
        assert_eq!(
            from_svg(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50"></svg>"#),
            None
        );
    }

    #[test]
    fn drawing_data_carries_the_canonical_shapes() {
        let drawing = Drawing::from_shapes(vec![Shape {
            id: "s1".into(),
            kind: ShapeKind::Line {
                from: Point { x: 0.1, y: 0.2 },
                to: Point { x: 0.3, y: 0.4 },
            },
            stroke: Stroke {
                color: "#00ff00".into(),
                width: 0.005,
            },
        }]);
        let data: serde_json::Value =
            serde_json::from_str(&to_drawing_data(&drawing)).expect("json");
        assert_eq!(data["format"], DRAWING_DATA_FORMAT);
        let shapes: Vec<Shape> = serde_json::from_value(data["shapes"].clone()).expect("shapes");
        assert_eq!(shapes, drawing.shapes);
    }

    #[test]
    fn colours_normalise() {
        assert_eq!(parse_color("#F0a").unwrap(), "#ff00aa");
        assert_eq!(parse_color("rgb(255, 0, 16)").unwrap(), "#ff0010");
        assert_eq!(parse_color("Red").unwrap(), "#ff0000");
        assert!(parse_color("url(#grad)").is_err());
    }

    #[test]
    fn compact_path_numbers_tokenise() {
        let subs = straight_path("M10-5L.5.5l1e1,0Z").unwrap();
        assert_eq!(
            subs,
            vec![vec![(10.0, -5.0), (0.5, 0.5), (10.5, 0.5), (10.0, -5.0)]]
        );
        assert!(straight_path("M0 0 C 1 1 2 2 3 3").is_err());
    }
}
