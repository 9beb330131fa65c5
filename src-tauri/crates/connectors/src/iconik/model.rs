//! iconik's JSON, as the public OpenAPI specs (auth, assets, files, search) spell it: the list
//! envelope, login and token bodies, assets with their embedded versions, proxies with their
//! frame facts, segments (comments) with drawings, storages and the upload chain's records.
//!
//! Only the fields Framenote reads or writes are declared; everything is optional on read
//! because iconik marks most fields nullable and other clients leave them out.

use serde::{Deserialize, Serialize};

/// The envelope of every paged list (`objects`, `page`, `pages`, `next_url`, `scroll_id`).
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    #[serde(default = "Vec::new")]
    pub objects: Vec<T>,
    /// This page's number (1-based).
    #[serde(default)]
    pub page: Option<u64>,
    /// Number of pages.
    #[serde(default)]
    pub pages: Option<u64>,
    /// Total items.
    #[serde(default)]
    pub total: Option<u64>,
    /// Link to the next page, absent on the last one.
    #[serde(default)]
    pub next_url: Option<String>,
    /// Scroll cursor when `scroll=true` was asked.
    #[serde(default)]
    pub scroll_id: Option<String>,
}

/// `POST /API/auth/v1/auth/simple/login/` body.
#[derive(Debug, Serialize)]
pub struct SimpleLogin<'a> {
    /// Login e-mail.
    pub email: &'a str,
    /// Password; sent once, never kept.
    pub password: &'a str,
    /// Shown in iconik's token list.
    pub app_name: &'a str,
}

/// One system domain the user may work in, with its token.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSystemDomain {
    /// The domain.
    #[serde(default)]
    pub system_domain_id: Option<String>,
    /// Auth-Token for that domain.
    pub token: String,
    /// Whether a second factor is still required.
    #[serde(default)]
    pub mfa_required: Option<bool>,
}

/// `TokenMultiplatformLoginSchema` (login answer).
#[derive(Debug, Clone, Deserialize)]
pub struct LoginResponse {
    /// App-ID to send with the token.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Token expiry (RFC 3339).
    #[serde(default)]
    pub expires: Option<String>,
    /// The user's id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Deprecated single token, used only when no domain is listed.
    #[serde(default)]
    pub token: Option<String>,
    /// Per-domain tokens (the spec's preferred source).
    #[serde(default)]
    pub auth_system_domains: Vec<AuthSystemDomain>,
}

/// `TokenSchema` (refresh answer).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The new token.
    pub token: String,
    /// Its expiry.
    #[serde(default)]
    pub expires: Option<String>,
    /// App-ID, when echoed.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The user's id.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `GET /API/users/v1/users/current/`.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
}

/// A project (`GET /API/assets/v1/projects/`).
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// The project's own collection, whose contents are the project's contents.
    #[serde(default)]
    pub collection_id: Option<String>,
    /// ACTIVE / DELETED …
    #[serde(default)]
    pub status: Option<String>,
}

/// An entry of `GET /collections/{id}/contents/`: an asset or a collection, told apart by
/// `object_type` ("assets" / "collections", plural as in iconik paths).
#[derive(Debug, Clone, Deserialize)]
pub struct ContentItem {
    /// Id.
    pub id: String,
    /// "assets" or "collections".
    #[serde(default)]
    pub object_type: Option<String>,
    /// Title (both assets and collections have one).
    #[serde(default)]
    pub title: Option<String>,
    /// Everything else, read as an asset when it is one.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// A collection.
#[derive(Debug, Clone, Deserialize)]
pub struct Collection {
    /// Id.
    pub id: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Parent collection.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// An asset version embedded in the asset (`AssetVersion`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AssetVersion {
    /// Id.
    pub id: String,
    /// 1-based revision number.
    #[serde(default)]
    pub version_number: Option<u32>,
    /// ACTIVE, IN_PROGRESS, FAILED, DELETING, DELETED.
    #[serde(default)]
    pub status: Option<String>,
    /// Creation date.
    #[serde(default)]
    pub date_created: Option<String>,
}

/// `AssetSchema` (and the elastic form search returns).
#[derive(Debug, Clone, Deserialize)]
pub struct IconikAsset {
    /// Id.
    pub id: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// ACTIVE / DELETED.
    #[serde(default)]
    pub status: Option<String>,
    /// ASSET, SEQUENCE, … .
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Last change.
    #[serde(default)]
    pub date_modified: Option<String>,
    /// Embedded versions.
    #[serde(default)]
    pub versions: Vec<AssetVersion>,
    /// Collections holding it (direct parents).
    #[serde(default)]
    pub in_collections: Vec<String>,
    /// Download restricted to groups: a hint that offline copies are not wanted.
    #[serde(default)]
    pub limit_download_to_groups: Option<Vec<String>>,
    /// Elastic form: duration.
    #[serde(default)]
    pub duration_milliseconds: Option<u64>,
    /// Not in the spec's property list but used by iconik's own tutorial code.
    #[serde(default)]
    pub default_version_id: Option<String>,
}

/// `{width, height}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct Resolution {
    /// Pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Pixels.
    #[serde(default)]
    pub height: Option<u32>,
}

/// `Proxy` (files API): the playable rendition with the frame facts.
#[derive(Debug, Clone, Deserialize)]
pub struct Proxy {
    /// Id.
    pub id: String,
    /// The version it renders.
    #[serde(default)]
    pub version_id: Option<String>,
    /// Decimal text, e.g. "29.97".
    #[serde(default)]
    pub frame_rate: Option<String>,
    /// Drop-frame timecode.
    #[serde(default)]
    pub is_drop_frame: Option<bool>,
    /// SMPTE label of the first frame.
    #[serde(default)]
    pub start_time_code: Option<String>,
    /// Raster.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// OPEN, CLOSED, … .
    #[serde(default)]
    pub status: Option<String>,
    /// Signed URL (when asked for).
    #[serde(default)]
    pub url: Option<String>,
    /// File name.
    #[serde(default)]
    pub filename: Option<String>,
    /// Duration, when the platform gives it with the proxy.
    #[serde(default)]
    pub duration_milliseconds: Option<u64>,
}

/// `{ "url": … }` from the `download_url/` endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct DownloadUrl {
    /// Signed URL.
    pub url: String,
}

/// `{x, y}` in a drawing primitive: int32 in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
pub struct PrimitivePoint {
    /// X.
    pub x: i64,
    /// Y.
    pub y: i64,
}

/// One drawing primitive.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Primitive {
    /// LINE, RECTANGLE, ARROW, ELLIPSE, PENCIL, TEXT.
    #[serde(rename = "type")]
    pub kind: String,
    /// Colour text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// 0..1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opacity: Option<f64>,
    /// Line width (font size for TEXT), in the drawing space's pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// TEXT only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Geometry.
    #[serde(default)]
    pub points: Vec<PrimitivePoint>,
}

/// `DrawingSchema`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct IconikDrawing {
    /// Primitives in drawing order.
    #[serde(default)]
    pub primitives: Vec<Primitive>,
}

/// `SegmentSchema`, as read.
#[derive(Debug, Clone, Deserialize)]
pub struct Segment {
    /// Id.
    pub id: String,
    /// Asset.
    #[serde(default)]
    pub asset_id: Option<String>,
    /// Version.
    #[serde(default)]
    pub version_id: Option<String>,
    /// COMMENT, MARKER, … .
    #[serde(default)]
    pub segment_type: Option<String>,
    /// Text.
    #[serde(default)]
    pub segment_text: Option<String>,
    /// Start, ms from the media start; null for a whole-asset comment.
    #[serde(default)]
    pub time_start_milliseconds: Option<i64>,
    /// End, ms.
    #[serde(default)]
    pub time_end_milliseconds: Option<i64>,
    /// Resolved.
    #[serde(default)]
    pub segment_checked: Option<bool>,
    /// Thread parent.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Drawing.
    #[serde(default)]
    pub drawing: Option<IconikDrawing>,
    /// Our client id, when Framenote wrote it.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Metadata values; Framenote keeps its shape ids here (see `mapping::SHAPE_IDS_FIELD`).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Author.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Author first name.
    #[serde(default)]
    pub user_first_name: Option<String>,
    /// Author last name.
    #[serde(default)]
    pub user_last_name: Option<String>,
    /// Creation date.
    #[serde(default)]
    pub date_created: Option<String>,
    /// ACTIVE / DELETED.
    #[serde(default)]
    pub status: Option<String>,
}

/// `SegmentSchema`, as written by `POST .../segments/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewSegment {
    /// Always "COMMENT" for notes.
    pub segment_type: &'static str,
    /// Text.
    pub segment_text: String,
    /// Version.
    pub version_id: String,
    /// Start ms, absent for a whole-version note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_start_milliseconds: Option<u64>,
    /// End ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_end_milliseconds: Option<u64>,
    /// Thread parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Drawing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drawing: Option<IconikDrawing>,
    /// Framenote's client id, so a retry after a lost answer finds the note instead of
    /// duplicating it.
    pub external_id: String,
    /// Metadata values: the drawing's shape ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// `StorageSchema` (only what the upload needs).
#[derive(Debug, Clone, Deserialize)]
pub struct Storage {
    /// Id.
    pub id: String,
    /// GCS, S3, AZURE, B2, FILE, … .
    #[serde(default)]
    pub method: Option<String>,
}

/// Anything answered with an `id` (formats, file sets, jobs).
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    /// Id.
    pub id: String,
}

/// `FileSchema` as created: where to put the bytes.
#[derive(Debug, Clone, Deserialize)]
pub struct FileRecord {
    /// Id.
    pub id: String,
    /// Upload target (empty when the storage refused, per the spec's B2 note).
    #[serde(default)]
    pub upload_url: Option<String>,
    /// The storage's method, which decides the upload protocol.
    #[serde(default)]
    pub storage_method: Option<String>,
    /// OPEN / CLOSED.
    #[serde(default)]
    pub status: Option<String>,
}
