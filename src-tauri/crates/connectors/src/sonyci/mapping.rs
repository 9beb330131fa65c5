//! Pure conversions between Sony Ci's JSON and Framenote's core types: workspace and folder node
//! ids, assets (Ci has no versions: each asset is one version, id = asset id) with the frame facts
//! of their technical metadata, the choice of the proxy to review, and the meaning of events for
//! incremental sync.
//!
//! Frame rate is `frameRateNumerator/frameRateDenominator` of the first video stream, reduced and
//! snapped to NTSC rationals; the start timecode is `avContainer.derivedTimeCode` ("converted to
//! drop frame format, if using drop frame rate", so a `;` marks drop-frame), else `timeCode`.

use framenote_core::{Asset, MediaInfo, Node, NodeKind, OfflinePolicy, RemoteId, Version};

use super::model::{CiAsset, Event, Folder, Rendition, Workspace};
use crate::iconik::mapping::FALLBACK_RATE;
use crate::iconik::timebase::{normalise_rate, read_timecode, seconds_to_frames};

/// Proxy types in the order Framenote prefers them for review: HD first (a reviewer wants detail),
/// then smaller ones; 2K renditions last because they are large to keep offline.
pub const PROXY_PREFERENCE: [&str; 6] = [
    "video-hd",
    "video-sdplus",
    "video-sd",
    "video-3g",
    "video-2k",
    "video-2kplus",
];

/// What a Ci browse node id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    /// `workspace:<id>`.
    Workspace(String),
    /// `folder:<id>`.
    Folder(String),
}

impl NodeRef {
    /// Reads an id written by [`NodeRef::to_remote`].
    pub fn parse(id: &RemoteId) -> Option<Self> {
        let s = id.as_str();
        if let Some(rest) = s.strip_prefix("workspace:") {
            return (!rest.is_empty()).then(|| NodeRef::Workspace(rest.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("folder:") {
            return (!rest.is_empty()).then(|| NodeRef::Folder(rest.to_owned()));
        }
        None
    }
    /// The id Framenote stores.
    pub fn to_remote(&self) -> RemoteId {
        match self {
            NodeRef::Workspace(id) => RemoteId::new(format!("workspace:{id}")),
            NodeRef::Folder(id) => RemoteId::new(format!("folder:{id}")),
        }
    }
}

/// A workspace as a root node.
pub fn workspace_node(w: &Workspace) -> Node {
    Node {
        id: NodeRef::Workspace(w.id.clone()).to_remote(),
        parent: None,
        kind: NodeKind::Workspace,
        name: w.name.clone().unwrap_or_else(|| w.id.clone()),
        status: None,
    }
}

/// A folder under `parent`.
pub fn folder_node(f: &Folder, parent: RemoteId) -> Node {
    Node {
        id: NodeRef::Folder(f.id.clone()).to_remote(),
        parent: Some(parent),
        kind: NodeKind::Folder,
        name: f.name.clone().unwrap_or_else(|| f.id.clone()),
        status: None,
    }
}

/// The rendition to review and keep offline, by [`PROXY_PREFERENCE`].
pub fn preferred_proxy(asset: &CiAsset) -> Option<&Rendition> {
    PROXY_PREFERENCE.iter().find_map(|want| {
        asset.proxies.iter().find(|p| {
            p.kind.as_deref() == Some(*want) && p.location.as_deref().is_some_and(|l| !l.is_empty())
        })
    })
}

/// Frame facts from the technical metadata (and the chosen proxy's size).
pub fn media_info(asset: &CiAsset) -> MediaInfo {
    let av = asset
        .technical_metadata
        .as_ref()
        .and_then(|t| t.av_container.as_ref());
    let video = av.and_then(|a| {
        a.streams.iter().find(|s| {
            s.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("video"))
        })
    });
    let rate = video
        .and_then(|v| {
            // Numbers in JSON; integral in practice (24000/1001, 360/12).
            let n = v
                .frame_rate_numerator
                .filter(|n| n.is_finite() && *n > 0.0)?;
            let d = v
                .frame_rate_denominator
                .filter(|d| d.is_finite() && *d > 0.0)?;
            if n.fract() == 0.0 && d.fract() == 0.0 {
                normalise_rate(n as u64, d as u64)
            } else {
                // A fractional pair: scale to integers with three decimals.
                normalise_rate((n * 1000.0).round() as u64, (d * 1000.0).round() as u64)
            }
        })
        .unwrap_or(FALLBACK_RATE);
    let label = av.and_then(|a| {
        a.derived_time_code
            .as_deref()
            .or(a.time_code.as_deref())
            .or_else(|| video.and_then(|v| v.time_code.as_deref()))
    });
    let frame_count = video
        .and_then(|v| v.total_frames)
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map(|f| f.round() as u64)
        .or_else(|| asset.runtime.and_then(|s| seconds_to_frames(s, rate)));
    let proxy = preferred_proxy(asset);
    MediaInfo {
        frame_rate: rate,
        start_timecode: label.and_then(|l| read_timecode(l, rate, false)),
        first_frame: 0,
        frame_count,
        width: video.and_then(|v| v.width),
        height: video.and_then(|v| v.height),
        bytes: proxy.and_then(|p| p.size),
    }
}

/// An asset as Framenote lists it: one version with the asset's id.
pub fn asset_to_core(asset: &CiAsset, parent: RemoteId) -> Asset {
    let id = RemoteId::new(&asset.id);
    Asset {
        id: id.clone(),
        parent,
        name: asset.name.clone().unwrap_or_else(|| asset.id.clone()),
        status: asset.status.clone(),
        updated_at: asset
            .modified_on
            .clone()
            .or_else(|| asset.last_activity_on.clone()),
        offline: OfflinePolicy::ALLOWED,
        versions: vec![Version {
            id: id.clone(),
            asset: id,
            number: 1,
            label: "v001".into(),
            media: media_info(asset),
        }],
    }
}

/// Whether a listed asset is reviewable (not trashed, deleted or an unfinished upload).
pub fn is_listed(asset: &CiAsset) -> bool {
    !asset.is_trashed.unwrap_or(false)
        && !asset.is_deleted.unwrap_or(false)
        && !matches!(
            asset.status.as_deref(),
            Some("Deleted" | "Created" | "Uploading")
        )
}

/// What an event means for the cached library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventEffect {
    /// The assets may have changed (or appeared): re-read them.
    AssetsChanged,
    /// The assets left the workspace view (trash, delete).
    AssetsRemoved,
    /// The folder tree changed.
    FoldersChanged,
    /// Nothing the library shows (downloads, MediaBoxes, elements).
    None,
}

/// Classifies an event type of seed 003's "List Events" catalogue.
pub fn event_effect(event: &Event) -> EventEffect {
    match event.kind.as_deref().unwrap_or("") {
        "CreateAsset"
        | "UploadAsset"
        | "AssetProcessingFinished"
        | "PremiumProxyProcessingFinished"
        | "RenameAsset"
        | "UntrashAsset"
        | "MoveAsset"
        | "CopyAsset"
        | "CopyAssetsToWorkspace"
        | "AssetArchiveStatusChange"
        | "AssetRestoreStatusChange"
        | "AssetMetadataChange"
        | "SaveAssetsFromMediabox" => EventEffect::AssetsChanged,
        "DeleteAsset" | "TrashAsset" | "RemoveAssetFromCatalogFolder" => EventEffect::AssetsRemoved,
        "CreateFolder" | "MoveFolder" | "RenameFolder" | "TrashFolder" | "UntrashFolder"
        | "DeleteFolder" => EventEffect::FoldersChanged,
        _ => EventEffect::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framenote_core::FrameRate;

    fn asset(json: &str) -> CiAsset {
        serde_json::from_str(json).unwrap()
    }

    const DF_ASSET: &str = r#"{
        "id": "a29", "name": "promo_2997.mov", "status": "Complete", "kind": "Asset",
        "folder": {"id": "f1", "name": "Promos"}, "modifiedOn": "2024-05-01T10:00:00.000Z",
        "runtime": 2.002,
        "proxies": [
            {"type": "video-3g", "location": "https://cdn/3g.mp4?Signature=x", "size": 10},
            {"type": "video-sd", "location": "https://cdn/sd.mp4?Signature=y", "size": 20, "width": 640, "height": 360},
            {"type": "standard-audio", "location": "https://cdn/a.m4a", "size": 5}
        ],
        "technicalMetadata": {"type": "Video", "avContainer": {
            "duration": 2.002, "start": 0, "timeCode": "00:59:59:28", "derivedTimeCode": "00:59:59;28",
            "streams": [
                {"index": 0, "type": "Audio", "audioSampleRate": 48000},
                {"index": 1, "type": "Video", "width": 1920, "height": 1080, "totalFrames": 60,
                 "frameRateNumerator": 30000, "frameRateDenominator": 1001}
            ]}}
    }"#;

    #[test]
    fn frame_facts_come_from_the_video_stream() {
        let a = asset_to_core(&asset(DF_ASSET), RemoteId::new("folder:f1"));
        assert_eq!(a.versions.len(), 1);
        let v = &a.versions[0];
        assert_eq!((v.id.as_str(), v.asset.as_str()), ("a29", "a29"));
        assert_eq!(v.media.frame_rate, FrameRate::FPS_29_97);
        let tc = v.media.start_timecode.unwrap();
        assert!(tc.drop_frame);
        assert_eq!(tc.frames, 107_890);
        assert_eq!(v.media.frame_count, Some(60));
        assert_eq!(
            (v.media.width, v.media.height, v.media.bytes),
            (Some(1920), Some(1080), Some(20))
        );
        assert_eq!(a.updated_at.as_deref(), Some("2024-05-01T10:00:00.000Z"));
    }

    #[test]
    fn seed_example_rates_reduce_and_defaults_hold() {
        let a = asset(
            r#"{"id": "x", "technicalMetadata": {"avContainer": {"timeCode": "01:00:00:00",
                "streams": [{"type": "Video", "frameRateNumerator": 360, "frameRateDenominator": 12}]}}}"#,
        );
        let m = media_info(&a);
        assert_eq!(m.frame_rate, FrameRate::FPS_30);
        assert_eq!(
            m.start_timecode.map(|t| (t.frames, t.drop_frame)),
            Some((108_000, false))
        );
        let bare = asset(r#"{"id": "y", "runtime": 1.0}"#);
        let m = media_info(&bare);
        assert_eq!(
            (m.frame_rate, m.frame_count, m.start_timecode),
            (FALLBACK_RATE, Some(24), None)
        );
        assert!(preferred_proxy(&bare).is_none());
    }

    #[test]
    fn preferred_proxy_is_the_best_video() {
        let a = asset(DF_ASSET);
        assert_eq!(
            preferred_proxy(&a).and_then(|p| p.kind.as_deref()),
            Some("video-sd")
        );
    }

    #[test]
    fn node_ids_and_listing_rules() {
        for n in [NodeRef::Workspace("w".into()), NodeRef::Folder("f".into())] {
            assert_eq!(NodeRef::parse(&n.to_remote()), Some(n));
        }
        assert_eq!(NodeRef::parse(&RemoteId::new("collection:c")), None);
        assert!(is_listed(&asset(DF_ASSET)));
        assert!(!is_listed(&asset(r#"{"id": "t", "isTrashed": true}"#)));
        assert!(!is_listed(&asset(r#"{"id": "t", "status": "Uploading"}"#)));
    }

    #[test]
    fn events_classify() {
        let ev =
            |t: &str| -> Event { serde_json::from_value(serde_json::json!({"type": t})).unwrap() };
        assert_eq!(
            event_effect(&ev("AssetProcessingFinished")),
            EventEffect::AssetsChanged
        );
        assert_eq!(event_effect(&ev("TrashAsset")), EventEffect::AssetsRemoved);
        assert_eq!(
            event_effect(&ev("RenameFolder")),
            EventEffect::FoldersChanged
        );
        assert_eq!(event_effect(&ev("DownloadPreview")), EventEffect::None);
    }
}
