//! End to end, in the real window, on Kitsu: a supervisor signed in to a real Zou opens a task's
//! preview (taken offline first), steps to a frame, draws an arrow, picks a task status from the
//! platform's own list, writes a note and posts it; the note is sent through the outbox, and Zou
//! then holds the comment with that status and the drawing on Kitsu's time grid for that very
//! frame. Screenshots go to `target/e2e/`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use framenote_tests::cli_support::kitsu_time;
use framenote_tests::e2e::{App, app_cli, scenario};

use crate::zou::{Admin, SUPERVISOR, zou};

/// The CLI with `--json`, signed in as the supervisor when it asks for a password.
fn cli(data: &Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = app_cli(data, &all, &[("E2E_PASSWORD", SUPERVISOR.1)])?;
    Ok(serde_json::from_str(&out)?)
}

/// The tree path (node ids, root first) to the node that lists `asset`.
fn path_to_asset(data: &Path, asset: &str) -> anyhow::Result<Vec<String>> {
    let mut frontier: Vec<Vec<String>> = cli(data, &["ls"])?["nodes"]
        .as_array()
        .context("roots")?
        .iter()
        .filter_map(|n| n["node"]["id"].as_str().map(|id| vec![id.to_string()]))
        .collect();
    while let Some(path) = frontier.pop() {
        let listing = cli(data, &["ls", path.last().context("empty path")?])?;
        let here = listing["assets"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["asset"]["id"] == asset));
        if here {
            return Ok(path);
        }
        for child in listing["nodes"].as_array().cloned().unwrap_or_default() {
            if let Some(id) = child["node"]["id"].as_str() {
                let mut next = path.clone();
                next.push(id.to_string());
                frontier.push(next);
            }
        }
    }
    anyhow::bail!("no node lists {asset}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_with_a_drawing_and_a_status_reaches_kitsu_on_its_frame() -> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("24")?;
    let data = tempfile::tempdir()?;
    cli(
        data.path(),
        &[
            "login",
            "--platform",
            "kitsu",
            "--url",
            &zou.api,
            "--user",
            SUPERVISOR.0,
            "--password-env",
            "E2E_PASSWORD",
        ],
    )?;
    cli(data.path(), &["sync"])?;
    cli(data.path(), &["pin", "--asset", &project.task_id, "--now"])?;
    let path = path_to_asset(data.path(), &project.task_id)?;
    let token = format!("e2e-kitsu-{}", uuid::Uuid::new_v4().simple());
    let steps = 10u64;

    scenario("kitsu", data.path(), async |app: &App| {
        let long = Duration::from_secs(30);
        let account = r#"[data-testid="account"][data-account-id^="kitsu-"]"#;
        app.wait_for(account, long).await?;
        app.js(&format!("document.querySelector('{account} .acc-name').click(); return true;"))
            .await?;
        for node in &path {
            let css = format!(r#"[data-testid="tree-node"][data-node-id="{node}"]"#);
            app.wait_for(&css, long).await?.click().await?;
        }
        let asset = format!(r#"[data-testid="asset"][data-asset-id="{}"]"#, project.task_id);
        app.wait_for(&asset, long).await?.click().await?;
        // The counter reads 0 before the player has opened (Kitsu counts from 0 too), and the
        // demo clip open at start is 23.976 fps from 1001: wait for this clip's own facts.
        app.wait_for_text("[data-testid=media-facts]", long, |t| {
            t.contains("24 fps") && t.contains("0–")
        })
        .await?;
        let first = app
            .wait_for_text("[data-testid=frame-counter]", long, |t| t.trim().parse::<i64>().is_ok())
            .await?;
        let first: i64 = first.trim().parse()?;
        app.key("ArrowRight", steps as usize).await?;
        let target = (first + steps as i64).to_string();
        app.wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == target)
            .await?;

        app.wait_for("[data-testid=toggle-draw]", long).await?.click().await?;
        app.wait_for("[data-testid=tool-arrow]", long).await?.click().await?;
        app.drag_on_overlay((0.3, 0.3), (0.54, 0.46)).await?;

        // The status picker lists Kitsu's own task statuses (asked of the platform).
        app.wait_for_text("[data-testid=composer-status]", long, |t| t.contains("wfa"))
            .await?;
        app.js(
            r#"const s = document.querySelector('[data-testid="composer-status"]');
s.value = 'wfa'; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value;"#,
        )
        .await?;
        let text = app.wait_for("[data-testid=composer-text]", long).await?;
        text.send_keys(&format!("Arm pops on this frame {token}")).await?;
        app.wait_for("[data-testid=composer-post]", long).await?.click().await?;
        app.wait_for_text("[data-testid=notes-list]", long, |t| t.contains(&token))
            .await?;
        // Our note is the one with the token; wait until the outbox says it is on Kitsu.
        let sent = format!(
            r#"return [...document.querySelectorAll('[data-testid="note"]')].filter(n => n.textContent.includes('{token}')).map(n => n.querySelector('[data-testid="outbox-state"]')?.dataset.state ?? 'sent');"#
        );
        let started = std::time::Instant::now();
        loop {
            let states = app.js(&sent).await?;
            if states.as_array().is_some_and(|s| !s.is_empty() && s.iter().all(|s| s == "sent")) {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "never sent: {states}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        app.screenshot("kitsu-note-sent").await?;
        Ok(())
    })
    .await?;

    // On the platform: the comment, its status, and the drawing on the frame's Kitsu time.
    let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1).await?;
    let comments = admin
        .get(&format!("/data/tasks/{}/comments", project.task_id))
        .await?;
    let comment = comments
        .as_array()
        .context("comments")?
        .iter()
        .find(|c| c["text"].as_str().is_some_and(|t| t.contains(&token)))
        .context("the note is a comment on the task")?
        .clone();
    let wfa = zou.seed.status.get("wfa").context("wfa")?;
    assert_eq!(
        &comment["task_status_id"], wfa,
        "status set with the note: {comment}"
    );
    let preview = admin
        .get(&format!("/data/preview-files/{}", project.preview_id))
        .await?;
    let times: Vec<f64> = preview["annotations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|a| {
            a["drawing"]["objects"]
                .as_array()
                .is_some_and(|o| !o.is_empty())
        })
        .filter_map(|a| a["time"].as_f64())
        .collect();
    let expected = kitsu_time(steps, 24.0);
    assert!(
        times.iter().any(|t| (t - expected).abs() < 1e-9),
        "a drawing at Kitsu time {expected} (media index {steps}): {times:?}"
    );
    Ok(())
}
