//! End to end, in the real window: the viewer on the hard demo clip (sh030: 29.97 drop-frame,
//! first frame 1, starting at 00:59:58;00 so that it crosses the hour). Frames 1, 137 and the
//! last are shown with the counter and timecode of the picture on screen (screenshots in
//! `target/e2e/player-*.png` show the burnt-in number and timecode beside the viewer's), and
//! play then pause stops on a frame the counter and the picture agree on.

use std::time::Duration;

use framenote_tests::e2e::{App, scenario};

const CLIP: &str = "sh030_grade_v002.mp4";

async fn counter(app: &App, frame: &str, timecode: &str) -> anyhow::Result<()> {
    let long = Duration::from_secs(30);
    app.wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == frame)
        .await?;
    // The two are painted from the same frame header; wait for both, then read them together.
    let tc = app
        .wait_for_text("[data-testid=timecode]", long, |t| t.trim() == timecode)
        .await;
    let shown = app
        .js("return [document.querySelector('[data-testid=frame-counter]').textContent, document.querySelector('[data-testid=timecode]').textContent];")
        .await?;
    assert!(
        tc.is_ok(),
        "frame {frame} shows timecode {timecode}; on screen: {shown}"
    );
    assert_eq!(shown[0].as_str().map(str::trim), Some(frame), "{shown}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_frame_137_last_and_play_pause_show_their_numbers() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    scenario("player", data.path(), async move |app| {
        app.open_clip(CLIP, "sh030", "1").await?;
        counter(app, "1", "00:59:58;00").await?;
        app.screenshot("player-frame-1").await?;

        // 136 steps: 60 frames reach 01:00:00;00 (minute 0 drops nothing), 76 more.
        app.key("ArrowRight", 136).await?;
        counter(app, "137", "01:00:02;16").await?;
        app.screenshot("player-frame-137").await?;

        app.key("End", 1).await?;
        counter(app, "150", "01:00:02;29").await?;
        app.screenshot("player-frame-last").await?;

        // Back one (a backward step across a GOP's B-frames), then play and pause.
        app.key("ArrowLeft", 1).await?;
        counter(app, "149", "01:00:02;28").await?;
        app.key("Home", 1).await?;
        counter(app, "1", "00:59:58;00").await?;
        app.key(" ", 1).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.key(" ", 1).await?;
        // Paused: the counter settles and stays.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let read = || async {
            anyhow::Ok(
                app.js("return document.querySelector('[data-testid=frame-counter]').textContent;")
                    .await?
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            )
        };
        let stopped = read().await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(read().await?, stopped, "paused means the frame stays");
        let n: i64 = stopped.parse()?;
        assert!(n > 10, "1.5 s of play moved the playhead (stopped on {n})");
        app.screenshot("player-paused").await?;
        Ok(())
    })
    .await
}
