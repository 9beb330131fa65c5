//! Sony Ci's JSON as seed 003 documents it (token answers, the `limit/offset/count/items`
//! envelope, workspaces, folders, asset items with proxies and technical metadata, events) plus
//! the upload answers public clients show (`{"assetId"}`). Only what Framenote reads is declared;
//! everything is optional on read, as Ci omits fields a `fields=` filter or an asset type leaves
//! out.

use serde::{Deserialize, Serialize};

/// `POST /oauth2/token` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenAnswer {
    /// Bearer token.
    pub access_token: String,
    /// Seconds to live (the seed says 86400 "currently"; trust the value).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// A new refresh token: Ci rotates it on every grant.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// `POST /oauth2/token` body for the password grant (user credentials go in Basic auth).
#[derive(Debug, Serialize)]
pub struct PasswordGrant<'a> {
    /// Framenote's developer key id.
    pub client_id: &'a str,
    /// Framenote's developer key secret.
    pub client_secret: &'a str,
    /// `password`.
    pub grant_type: &'static str,
}

/// `POST /oauth2/token` body for the refresh grant.
#[derive(Debug, Serialize)]
pub struct RefreshGrant<'a> {
    /// Developer key id.
    pub client_id: &'a str,
    /// Developer key secret.
    pub client_secret: &'a str,
    /// `refresh_token`.
    pub grant_type: &'static str,
    /// The last refresh token issued.
    pub refresh_token: &'a str,
}

/// The list envelope: `{limit, offset, count, items}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Listing<T> {
    /// Total items available.
    #[serde(default)]
    pub count: Option<u64>,
    /// This page.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

/// `{id, name}` references.
#[derive(Debug, Clone, Deserialize)]
pub struct Ref {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A workspace.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Only in the details call.
    #[serde(default)]
    pub root_folder_id: Option<String>,
    /// Deleted workspaces are not listed, but details may say so.
    #[serde(default)]
    pub is_deleted: Option<bool>,
}

/// A folder (details call, or a contents item of kind `Folder`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Parent folder, or the workspace id for a root folder.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// The workspace.
    #[serde(default)]
    pub workspace: Option<Ref>,
    /// Trashed folders are hidden.
    #[serde(default)]
    pub is_trashed: Option<bool>,
}

/// One rendition (`proxies[]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendition {
    /// `video-sd`, `video-hd`, … .
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Signed URL; expires (hours).
    #[serde(default)]
    pub location: Option<String>,
    /// Bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Pixels.
    #[serde(default)]
    pub height: Option<u32>,
}

/// A stream of `technicalMetadata.avContainer.streams[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    /// `Video`, `Audio`, … .
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Frame rate numerator.
    #[serde(default)]
    pub frame_rate_numerator: Option<f64>,
    /// Frame rate denominator.
    #[serde(default)]
    pub frame_rate_denominator: Option<f64>,
    /// Frames in the stream.
    #[serde(default)]
    pub total_frames: Option<f64>,
    /// Pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Pixels.
    #[serde(default)]
    pub height: Option<u32>,
    /// The stream's SMPTE timecode.
    #[serde(default)]
    pub time_code: Option<String>,
}

/// `technicalMetadata.avContainer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvContainer {
    /// Seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    /// The container's SMPTE timecode.
    #[serde(default)]
    pub time_code: Option<String>,
    /// Timecode "converted to drop frame format, if using drop frame rate".
    #[serde(default)]
    pub derived_time_code: Option<String>,
    /// Streams.
    #[serde(default)]
    pub streams: Vec<Stream>,
}

/// `technicalMetadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TechnicalMetadata {
    /// Audio/video facts.
    #[serde(default)]
    pub av_container: Option<AvContainer>,
}

/// An asset (`GET /assets/{id}`, or a contents item of kind `Asset`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiAsset {
    /// Id.
    pub id: String,
    /// File name.
    #[serde(default)]
    pub name: Option<String>,
    /// Processing status: Complete, Processing, … .
    #[serde(default)]
    pub status: Option<String>,
    /// Parent folder.
    #[serde(default)]
    pub folder: Option<Ref>,
    /// Workspace.
    #[serde(default)]
    pub workspace: Option<Ref>,
    /// Last modification.
    #[serde(default)]
    pub modified_on: Option<String>,
    /// Last activity.
    #[serde(default)]
    pub last_activity_on: Option<String>,
    /// Trashed.
    #[serde(default)]
    pub is_trashed: Option<bool>,
    /// Deleted.
    #[serde(default)]
    pub is_deleted: Option<bool>,
    /// Renditions.
    #[serde(default)]
    pub proxies: Vec<Rendition>,
    /// Technical metadata.
    #[serde(default)]
    pub technical_metadata: Option<TechnicalMetadata>,
    /// Duration in seconds.
    #[serde(default)]
    pub runtime: Option<f64>,
    /// `Asset` in listings.
    #[serde(default)]
    pub kind: Option<String>,
    /// Bytes of the original.
    #[serde(default)]
    pub size: Option<u64>,
    /// MD5 of the original, once uploaded.
    #[serde(default)]
    pub md5_checksum: Option<String>,
}

/// `GET /assets/{id}/download`.
#[derive(Debug, Clone, Deserialize)]
pub struct DownloadAnswer {
    /// Signed URL of the original (attachment).
    pub location: String,
    /// Bytes.
    #[serde(default)]
    pub size: Option<u64>,
}

/// `POST /folders/` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedFolder {
    /// The new folder.
    pub folder_id: String,
}

/// `{"assetId": …}` from the upload host.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadAnswer {
    /// The new asset.
    pub asset_id: String,
}

/// One event of `POST /events`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// When.
    #[serde(default)]
    pub created_on: Option<String>,
    /// `CreateAsset`, `MoveAsset`, … .
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Assets concerned.
    #[serde(default)]
    pub assets: Vec<Ref>,
    /// Folders concerned.
    #[serde(default)]
    pub folders: Vec<Ref>,
}
