//! End to end, in the real window: the app opens on the demo library, a clip opens on its first
//! frame, and what a person would see is there (names, frame number, a picture that is not blank).

use std::time::Duration;

use framenote_tests::e2e::scenario;

/// Mean absolute deviation of the viewer canvas' luminance: 0 for a blank canvas. The canvas is
/// WebGL (YUV converted on the GPU) or 2D; copying it onto a 2D canvas reads either.
const CANVAS_VARIATION_JS: &str = r#"
const c = document.querySelector('[data-testid="viewer-canvas"]');
if (!c || c.width === 0 || c.height === 0) return -1;
const copy = document.createElement('canvas');
copy.width = c.width; copy.height = c.height;
const x = copy.getContext('2d');
x.drawImage(c, 0, 0);
const d = x.getImageData(0, 0, c.width, c.height).data;
let sum = 0, n = 0;
for (let i = 0; i < d.length; i += 64) { sum += d[i] + d[i+1] + d[i+2]; n++; }
const mean = sum / n;
let dev = 0;
for (let i = 0; i < d.length; i += 64) { dev += Math.abs(d[i] + d[i+1] + d[i+2] - mean); }
return dev / n;
"#;

/// The colour at 3 % of the viewer canvas' width and half its height, as `[r, g, b]`.
const CANVAS_PIXEL_JS: &str = r#"
const fx = 0.03, fy = 0.5;
const c = document.querySelector('[data-testid="viewer-canvas"]');
const copy = document.createElement('canvas');
copy.width = c.width; copy.height = c.height;
const x = copy.getContext('2d');
x.drawImage(c, 0, 0);
const p = x.getImageData(Math.round(c.width * fx), Math.round(c.height * fy), 1, 1).data;
return [p[0], p[1], p[2]];
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_library_opens_and_a_clip_shows_its_first_frame() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    scenario("foundation", data.path(), async move |app| {
        let long = Duration::from_secs(30);
        app.wait_for("[data-testid=asset]", long).await?;
        // A figure for the closing note, not an assertion: cold start (fresh data folder, drivers
        // included) until the library lists the demo clips.
        eprintln!("e2e: library listed {} ms after launch", started.elapsed().as_millis());
        let names = app
            .js("return [...document.querySelectorAll('[data-testid=asset]')].map(e => e.textContent);")
            .await?;
        let names = names.to_string();
        for clip in ["sh010_comp_v001", "sh020_anim_v003", "sh030_grade_v002"] {
            assert!(names.contains(clip), "library lists {clip}: {names}");
        }
        app.screenshot("library").await?;

        let item = app
            .wait_for("[data-testid=asset][data-asset-id='sh010_comp_v001.mp4']", long)
            .await?;
        item.click().await?;
        let counter = app
            .wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == "1001")
            .await?;
        assert_eq!(counter.trim(), "1001", "sh010 starts at frame 1001");
        let tc = app
            .wait_for_text("[data-testid=timecode]", long, |t| !t.trim().is_empty())
            .await?;
        assert_eq!(tc.trim(), "01:00:00:00", "sh010's start timecode");
        let variation = app.js(CANVAS_VARIATION_JS).await?.as_f64().unwrap_or(-1.0);
        assert!(variation > 5.0, "the viewer shows a picture, not a blank canvas (variation {variation})");
        // Colours survive the YUV path (decoder → I420 → the viewer's shader): sh010 opens on
        // colour bars whose first bar is red, and the picture fills the viewer's width.
        let rgb = app.js(CANVAS_PIXEL_JS).await?;
        let rgb: Vec<u64> = serde_json::from_value(rgb)?;
        assert!(
            rgb[0] > 170 && rgb[1] < 90 && rgb[2] < 90,
            "the first colour bar is red on screen, not {rgb:?}"
        );
        let shot = app.screenshot("viewer-first-frame").await?;
        eprintln!("e2e: screenshot {}", shot.display());
        Ok(())
    })
    .await
}
