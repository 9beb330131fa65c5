//! probe, thumbnail and snapshot on the corpus.

use framenote_core::timecode::{FrameRate, Timecode};
use framenote_player::{FrameTarget, PlayerError, probe, snapshot, snapshot_frame, thumbnail};

use crate::code;
use crate::setup::clip;

#[test]
fn probe_reads_rates_counts_and_start_timecodes() {
    let i = probe(clip("h264_2398_gop250.mp4")).unwrap();
    assert_eq!(i.frame_rate, FrameRate::FPS_23_976);
    assert_eq!(i.frame_count, Some(960));
    assert_eq!((i.width, i.height), (Some(1920), Some(1080)));
    assert_eq!(i.start_timecode, None);
    assert_eq!(i.first_frame, 0);

    let i = probe(clip("df2997_hour.mov")).unwrap();
    assert_eq!(i.frame_rate, FrameRate::FPS_29_97);
    assert_eq!(i.frame_count, Some(180));
    let tc = i.start_timecode.unwrap();
    assert!(tc.drop_frame);
    assert_eq!(tc.to_string(), "00:59:58;00");

    let i = probe(clip("tc1001_24.mov")).unwrap();
    assert_eq!(i.frame_rate, FrameRate::FPS_24);
    assert_eq!(i.first_frame, 1001);
    assert_eq!(
        i.start_timecode,
        Some(Timecode::parse("01:00:00:00", FrameRate::FPS_24).unwrap())
    );
    assert_eq!(i.frame_count, Some(72));

    let i = probe(clip("prores_25.mov")).unwrap();
    assert_eq!(i.frame_rate, FrameRate::FPS_25);
    assert_eq!(i.frame_count, Some(100));

    let i = probe(clip("hevc10_24.mp4")).unwrap();
    assert_eq!(i.frame_rate, FrameRate::FPS_24);
    assert_eq!(i.frame_count, Some(72));
}

#[test]
fn snapshots_show_the_requested_frame() {
    let f = snapshot_frame(
        clip("h264_2398_gop250.mp4"),
        FrameTarget::Index(137),
        Some((640, 360)),
    )
    .unwrap();
    assert_eq!((f.width, f.height), (640, 360));
    assert_eq!(code::read(&f), Ok(137));
    assert_eq!(f.index, 137);

    let f = snapshot_frame(
        clip("df2997_hour.mov"),
        FrameTarget::Timecode("01:00:00;00".into()),
        None,
    )
    .unwrap();
    assert_eq!(code::read(&f), Ok(60));
    assert_eq!(f.timecode.to_string(), "01:00:00;00");

    let f = snapshot_frame(
        clip("tc1001_24.mov"),
        FrameTarget::DisplayNumber(1050),
        Some((480, 480)),
    )
    .unwrap();
    assert_eq!(code::read(&f), Ok(49));
    assert_eq!(f.number, 1050);
    assert_eq!(f.timecode.to_string(), "01:00:02:01");

    let png = snapshot(
        clip("prores_25.mov"),
        FrameTarget::Index(99),
        Some((320, 180)),
    )
    .unwrap();
    assert_eq!(&png[1..4], b"PNG");

    assert!(matches!(
        snapshot(
            clip("df2997_hour.mov"),
            FrameTarget::Timecode("00:59:00;01".into()),
            None
        ),
        Err(PlayerError::Timecode(_))
    ));
    assert!(matches!(
        snapshot(clip("tc1001_24.mov"), FrameTarget::Index(72), None),
        Err(PlayerError::OutOfRange {
            index: 72,
            count: 72
        })
    ));
}

#[test]
fn thumbnail_is_a_png_of_the_asked_width() {
    let png = thumbnail(clip("h264_2398_gop250.mp4"), 320).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // IHDR width and height, big-endian, at bytes 16..24.
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), (320, 180));
}

#[test]
fn bad_inputs_give_typed_errors() {
    let bad = |n: &str| clip(&format!("bad/{n}"));
    assert!(matches!(
        probe(bad("missing.mp4")),
        Err(PlayerError::NotFound(_))
    ));
    assert!(
        matches!(probe(bad("not_media.mp4")), Err(PlayerError::NotMedia(_))),
        "{:?}",
        probe(bad("not_media.mp4"))
    );
    assert!(
        matches!(probe(bad("audio_only.m4a")), Err(PlayerError::NoVideo(_))),
        "{:?}",
        probe(bad("audio_only.m4a"))
    );
    assert!(
        matches!(
            probe(bad("unsupported_codec.mov")),
            Err(PlayerError::UnsupportedCodec(_))
        ),
        "{:?}",
        probe(bad("unsupported_codec.mov"))
    );
    let truncated = probe(bad("truncated_nomoov.mov"));
    assert!(
        matches!(
            truncated,
            Err(PlayerError::Corrupt(_) | PlayerError::NotMedia(_))
        ),
        "{truncated:?}"
    );
    // A truncated file with its index intact opens; frames past the cut are an error.
    let r = snapshot(bad("truncated.mp4"), FrameTarget::Index(900), None);
    assert!(matches!(r, Err(PlayerError::Corrupt(_))), "{r:?}");
}
