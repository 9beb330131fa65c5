//! End to end, in the real window: the review loop a supervisor does many times a day. Open a
//! clip, step to frame 48, draw an arrow and a rectangle, type a note and post it; the note is
//! listed with frame 48 and its timecode; the drawing shows on frame 48 and nowhere else; after a
//! restart the note and the drawing are still there. Screenshots of the library, the viewer with
//! a drawing, and the cheat sheet go to `target/e2e/`.

use std::time::Duration;

use framenote_tests::e2e::{App, scenario};

/// sh030 counts from frame 1 at 29.97 drop-frame from 00:59:58;00: frame 48 is index 47,
/// 00:59:58;00 + 47 frames.
const CLIP: &str = "sh030_grade_v002.mp4";
const FRAME: &str = "48";
const TIMECODE: &str = "00:59:59;17";

const DRAWN_PIXELS_JS: &str = r#"
const c = document.querySelector('[data-testid="drawing-overlay"] canvas');
if (!c || c.width === 0) return -1;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
return n;
"#;

async fn open_clip(app: &App) -> anyhow::Result<()> {
    app.open_clip(CLIP, "sh030", "1").await
}

async fn drawn_pixels(app: &App) -> anyhow::Result<i64> {
    // Let the overlay repaint after the frame changed.
    tokio::time::sleep(Duration::from_millis(400)).await;
    Ok(app.js(DRAWN_PIXELS_JS).await?.as_i64().unwrap_or(-1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_with_a_drawing_lands_on_its_frame_and_survives_a_restart() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let long = Duration::from_secs(30);

    scenario("review", data.path(), async move |app| {
        app.wait_for("[data-testid=asset]", long).await?;
        app.screenshot("review-library").await?;
        open_clip(app).await?;

        app.key("ArrowRight", 47).await?;
        app.wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == FRAME)
            .await?;

        app.wait_for("[data-testid=toggle-draw]", long)
            .await?
            .click()
            .await?;
        app.wait_for("[data-testid=tool-arrow]", long)
            .await?
            .click()
            .await?;
        app.drag_on_overlay((0.30, 0.30), (0.55, 0.50)).await?;
        app.wait_for("[data-testid=tool-rect]", long)
            .await?
            .click()
            .await?;
        app.drag_on_overlay((0.60, 0.20), (0.85, 0.45)).await?;
        assert!(
            drawn_pixels(app).await? > 100,
            "the arrow and the rectangle are on the overlay"
        );

        let text = app.wait_for("[data-testid=composer-text]", long).await?;
        text.send_keys("Grade pops on the bars — check the flicker here")
            .await?;
        app.wait_for("[data-testid=composer-post]", long)
            .await?
            .click()
            .await?;

        let note = app
            .wait_for_text("[data-testid=note]", long, |t| {
                t.contains("check the flicker")
            })
            .await?;
        assert!(
            note.contains(FRAME),
            "the note is stamped with frame {FRAME}: {note:?}"
        );
        app.screenshot("review-viewer-with-drawing").await?;

        // The drawing belongs to frame 48 only.
        app.key("Escape", 1).await?;
        app.key("Home", 1).await?;
        app.wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == "1")
            .await?;
        assert_eq!(drawn_pixels(app).await?, 0, "nothing is drawn on frame 1");
        app.wait_for("[data-testid=note-stamp]", long)
            .await?
            .click()
            .await?;
        app.wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == FRAME)
            .await?;
        assert!(
            drawn_pixels(app).await? > 100,
            "the drawing is back on frame {FRAME}"
        );

        app.key("?", 1).await?;
        app.wait_for("[data-testid=cheat-sheet]", long).await?;
        app.screenshot("review-cheat-sheet").await?;
        Ok(())
    })
    .await?;

    // A restart: same data folder, a new process.
    scenario("review-restart", data.path(), async move |app| {
        open_clip(app).await?;
        let note = app
            .wait_for_text("[data-testid=note]", long, |t| {
                t.contains("check the flicker")
            })
            .await?;
        assert!(
            note.contains(FRAME),
            "after a restart the note still says frame {FRAME}"
        );
        app.wait_for("[data-testid=note-stamp]", long)
            .await?
            .click()
            .await?;
        app.wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == FRAME)
            .await?;
        let tc = app
            .wait_for_text("[data-testid=timecode]", long, |t| !t.trim().is_empty())
            .await?;
        assert_eq!(tc.trim(), TIMECODE, "frame {FRAME} of sh030 is {TIMECODE}");
        assert!(
            drawn_pixels(app).await? > 100,
            "the drawing survived the restart"
        );
        app.screenshot("review-after-restart").await?;
        Ok(())
    })
    .await
}
