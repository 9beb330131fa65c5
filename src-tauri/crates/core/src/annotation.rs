//! The canonical drawing model: what a reviewer drew on a frame, independent of any platform.
//!
//! Coordinates are normalised to the picture: (0, 0) is the top-left corner of the image and
//! (1, 1) the bottom-right, whatever the window size, zoom or proxy resolution. Stroke widths are a
//! fraction of the picture height, so a drawing looks the same on a 640×360 proxy and a 4K master.
//! Each connector converts this model exactly to and from its platform's format (Kitsu's fabric.js
//! objects, iconik primitives, Moxion DRAWING_V2, Flex annotations).

use serde::{Deserialize, Serialize};

/// A point on the picture, normalised to 0..1 on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Point {
    /// From the left edge, as a fraction of the picture width.
    pub x: f64,
    /// From the top edge, as a fraction of the picture height.
    pub y: f64,
}

/// How a shape is drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Stroke {
    /// `#rrggbb`.
    pub color: String,
    /// Line width as a fraction of the picture height (0.005 ≈ 5 px on 1080p).
    pub width: f64,
}

/// The geometry of one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShapeKind {
    /// Freehand, already smoothed.
    Pen {
        /// The stroke's points in drawing order.
        points: Vec<Point>,
    },
    /// A straight line.
    Line {
        /// Start.
        from: Point,
        /// End.
        to: Point,
    },
    /// A line with an arrow head at `to`.
    Arrow {
        /// Tail.
        from: Point,
        /// Head.
        to: Point,
    },
    /// An axis-aligned rectangle.
    Rect {
        /// Top-left corner.
        origin: Point,
        /// Width, fraction of picture width.
        width: f64,
        /// Height, fraction of picture height.
        height: f64,
    },
    /// An axis-aligned ellipse.
    Ellipse {
        /// Centre.
        center: Point,
        /// Horizontal radius, fraction of picture width.
        rx: f64,
        /// Vertical radius, fraction of picture height.
        ry: f64,
    },
    /// A text label.
    Text {
        /// Top-left of the text box.
        at: Point,
        /// The text, shown as text.
        text: String,
        /// Font size as a fraction of picture height.
        size: f64,
    },
}

/// One shape with its identity and style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Shape {
    /// Stable id (UUID). Platforms that merge drawings by object id (Kitsu) receive this id.
    pub id: String,
    /// Geometry.
    #[serde(flatten)]
    pub kind: ShapeKind,
    /// Style.
    pub stroke: Stroke,
}

/// Everything drawn on one note's frame (or range).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Drawing {
    /// Shapes in drawing order (later ones on top).
    pub shapes: Vec<Shape>,
    /// A drawing made elsewhere that could not be converted into shapes without losing
    /// something (curves, transforms, images), kept whole as the platform's SVG so the UI can
    /// show it as an overlay scaled to the picture (its `viewBox` spans the picture). Read-only:
    /// connectors never send it back. Absent in every drawing Framenote makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay_svg: Option<String>,
}

impl Drawing {
    /// A drawing of `shapes` only.
    pub fn from_shapes(shapes: Vec<Shape>) -> Self {
        Self {
            shapes,
            overlay_svg: None,
        }
    }

    /// Nothing drawn.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty() && self.overlay_svg.is_none()
    }
}
