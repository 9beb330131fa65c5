//! The durable outbox against a real Zou, through the real CLI run as a child process: notes
//! written while the server is unreachable are posted later, exactly once, with their drawing at
//! Kitsu's own time for the frame — even when the CLI is SIGKILLed after the server took the note
//! but before the answer arrived; 500s and lost answers are retried without duplicates; a refusal
//! (an artist may not draw) is kept visible with the note's text until discarded.

use std::time::{Duration, Instant};

use anyhow::Context;
use framenote_tests::cli_support::{Cli, HoldProxy, kitsu_time};
use framenote_tests::fault_proxy::{Fault, FaultAction, FaultProxy};
use serde_json::Value;

use crate::zou::{ARTIST, Admin, SUPERVISOR, Zou, zou};

/// `http://host:port` of Zou's API base `http://host:port/api`.
fn origin(api: &str) -> String {
    api.trim_end_matches('/')
        .trim_end_matches("/api")
        .to_owned()
}

fn login(cli: &Cli, api: &str, who: (&str, &str)) -> anyhow::Result<String> {
    let out = cli
        .command(&[
            "--json",
            "login",
            "--platform",
            "kitsu",
            "--url",
            api,
            "--user",
            who.0,
            "--password-env",
            "FRAMENOTE_TEST_PASSWORD",
        ])
        .env("FRAMENOTE_TEST_PASSWORD", who.1)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(v["account"]["id"]
        .as_str()
        .context("account id")?
        .to_owned())
}

/// The first frame number of the seeded preview, as the CLI shows it.
fn first_frame(cli: &Cli, task: &str) -> anyhow::Result<i64> {
    // The folder ids are the connector's business: find the asset wherever it is listed.
    let roots = cli.json(&["ls"])?;
    for project in roots["nodes"].as_array().context("nodes")? {
        let project_id = project["node"]["id"].as_str().context("id")?;
        let folders = cli.json(&["ls", project_id])?;
        for folder in folders["nodes"].as_array().context("folders")? {
            let folder_id = folder["node"]["id"].as_str().context("id")?;
            let listing = cli.json(&["ls", folder_id])?;
            for asset in listing["assets"].as_array().context("assets")? {
                if asset["asset"]["id"] == task {
                    let version = &asset["asset"]["versions"][0];
                    return version["media"]["first_frame"]
                        .as_i64()
                        .context("first_frame");
                }
            }
        }
    }
    anyhow::bail!("task {task} not listed")
}

fn arrow_file(cli: &Cli, shape_id: &str) -> anyhow::Result<String> {
    let path = cli.data.path().join(format!("{shape_id}.json"));
    std::fs::write(
        &path,
        serde_json::json!({"shapes": [{
            "id": shape_id, "type": "arrow",
            "from": {"x": 0.25, "y": 0.25}, "to": {"x": 0.5, "y": 0.5},
            "stroke": {"color": "#ff3b30", "width": 0.006}
        }]})
        .to_string(),
    )?;
    Ok(path.display().to_string())
}

/// Comments of `task` on the server whose text contains `token`.
async fn comments_with(admin: &Admin, task: &str, token: &str) -> anyhow::Result<usize> {
    let comments = admin.get(&format!("/data/tasks/{task}/comments")).await?;
    Ok(comments
        .as_array()
        .context("comments")?
        .iter()
        .filter(|c| c["text"].as_str().is_some_and(|t| t.contains(token)))
        .count())
}

/// The annotation entry times holding an object with `shape_id`.
async fn drawing_times(admin: &Admin, preview: &str, shape_id: &str) -> anyhow::Result<Vec<f64>> {
    let pf = admin.get(&format!("/data/preview-files/{preview}")).await?;
    let mut times = Vec::new();
    for entry in pf["annotations"].as_array().cloned().unwrap_or_default() {
        let objects = entry["drawing"]["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if objects.iter().any(|o| o["id"] == shape_id) {
            times.push(entry["time"].as_f64().context("time")?);
        }
    }
    Ok(times)
}

async fn admin(zou: &Zou) -> anyhow::Result<Admin> {
    Admin::login(&zou.api, &zou.admin.0, &zou.admin.1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_notes_are_posted_once_with_their_drawing_even_after_a_kill_mid_flush()
-> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("24")?;
    let proxy = HoldProxy::start(&origin(&zou.api)).await?;
    let api = format!("{}/api", proxy.url());
    let cli = Cli::new()?;
    let account = login(&cli, &api, SUPERVISOR)?;
    cli.ok(&["sync"])?;
    let first = first_frame(&cli, &project.task_id)?;

    // Take the preview offline, then lose the server.
    let pinned = cli.json(&["pin", "--asset", &project.task_id, "--now"])?;
    assert_eq!(
        pinned["offline"]["downloaded"], 1,
        "the preview is downloaded: {pinned}"
    );
    proxy.set_down(true);

    // Two notes written offline on frame first+12 (index 12), each with an arrow.
    let frame = (first + 12).to_string();
    let token_a = format!("offline-a-{}", uuid::Uuid::new_v4());
    let token_b = format!("killed-b-{}", uuid::Uuid::new_v4());
    let shape_a = uuid::Uuid::new_v4().to_string();
    let shape_b = uuid::Uuid::new_v4().to_string();
    let (file_a, file_b) = (arrow_file(&cli, &shape_a)?, arrow_file(&cli, &shape_b)?);
    cli.ok(&[
        "note",
        "--asset",
        &project.task_id,
        "--frame",
        &frame,
        "--drawing",
        &file_a,
        &token_a,
    ])?;
    let offline_push = cli.run(&["push"])?;
    assert_eq!(
        offline_push.status.code(),
        Some(4),
        "push while the server is down leaves the note queued"
    );
    let unsent = cli.json(&["notes", "--unsent"])?;
    assert_eq!(unsent["notes"].as_array().map(Vec::len), Some(1));
    assert_eq!(unsent["notes"][0]["sync_state"], "pending");

    // The server is back: the first note goes through normally.
    proxy.set_down(false);
    let pushed = cli.json(&["push", "--retry-base-ms", "100", "--wait", "60"])?;
    assert_eq!(pushed["report"]["sent"], 1, "{pushed}");

    // The second note: the server takes it, the answer is lost, the CLI is killed mid-flush.
    cli.ok(&[
        "note",
        "--asset",
        &project.task_id,
        "--frame",
        &frame,
        "--drawing",
        &file_b,
        &token_b,
    ])?;
    proxy.hold("POST", "/comment");
    let mut child = cli.command(&["push"]).spawn()?;
    let pid = child.id();
    let started = Instant::now();
    while proxy.held() == 0 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the push never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
        .kill()
        .with_context(|| format!("SIGKILL to pid {pid}"))?;
    let status = child.wait()?;
    assert!(!status.success(), "the push was killed, not finished");
    proxy.release();
    let admin = admin(&zou).await?;
    assert_eq!(
        comments_with(&admin, &project.task_id, &token_b).await?,
        1,
        "the server has it once"
    );
    let interrupted = cli.json(&["notes", "--unsent"])?;
    assert_eq!(
        interrupted["operations"][0]["state"], "in_flight",
        "{interrupted}"
    );

    // Restart and push: recognised, not posted again; the drawing is written.
    let again = cli.json(&["push", "--retry-base-ms", "100", "--wait", "60"])?;
    assert_eq!(again["report"]["sent"], 1, "{again}");
    assert_eq!(again["report"]["recognised"], 1, "{again}");
    assert_eq!(again["report"]["waiting"], 0);

    // On the server: each comment exactly once, each arrow at Kitsu's time for frame index 12.
    let expected = kitsu_time(12, 24.0);
    for (token, shape) in [(&token_a, &shape_a), (&token_b, &shape_b)] {
        assert_eq!(
            comments_with(&admin, &project.task_id, token).await?,
            1,
            "{token} exactly once"
        );
        let times = drawing_times(&admin, &project.preview_id, shape).await?;
        assert_eq!(times.len(), 1, "arrow {shape} stored once: {times:?}");
        assert!(
            (times[0] - expected).abs() < 1e-4,
            "arrow at {} s, expected {expected} s",
            times[0]
        );
    }
    let all = cli.json(&["notes", "--unsent"])?;
    assert_eq!(
        all["notes"].as_array().map(Vec::len),
        Some(0),
        "nothing left unsent"
    );
    let _ = account;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_lost_answers_are_retried_without_duplicates() -> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("24")?;
    let proxy = FaultProxy::start(&origin(&zou.api)).await?;
    let cli = Cli::new()?;
    login(&cli, &format!("{}/api", proxy.url()), SUPERVISOR)?;
    cli.ok(&["sync"])?;
    let token = format!("retried-{}", uuid::Uuid::new_v4());
    cli.ok(&["note", "--asset", &project.task_id, &token])?;

    // Two 500s, then the comment is taken but the answer is cut off, then it works.
    proxy.inject(Fault::status("/comment", 500, 2).on("POST"));
    proxy.inject(Fault {
        method: Some("POST".into()),
        path_contains: "/comment".into(),
        action: FaultAction::CutBody { bytes: 0 },
        times: 1,
    });
    let pushed = cli.json(&["push", "--retry-base-ms", "100", "--wait", "60"])?;
    assert_eq!(pushed["report"]["sent"], 1, "{pushed}");
    assert_eq!(pushed["report"]["waiting"], 0, "{pushed}");
    assert!(
        pushed["report"]["retried"].as_u64().unwrap_or(0) >= 1,
        "{pushed}"
    );
    let posts = proxy
        .seen("/comment")
        .into_iter()
        .filter(|s| s.method == "POST")
        .count();
    assert!(posts >= 3, "the injected failures were met ({posts} posts)");
    let admin = admin(&zou).await?;
    assert_eq!(
        comments_with(&admin, &project.task_id, &token).await?,
        1,
        "exactly once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_drawing_keeps_the_note_visible_until_discarded() -> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("24")?;
    let cli = Cli::new()?;
    login(&cli, &zou.api, ARTIST)?;
    cli.ok(&["sync"])?;
    let first = first_frame(&cli, &project.task_id)?;
    let shape = uuid::Uuid::new_v4().to_string();
    let file = arrow_file(&cli, &shape)?;
    let token = format!("artist-{}", uuid::Uuid::new_v4());
    cli.ok(&[
        "note",
        "--asset",
        &project.task_id,
        "--frame",
        &(first + 3).to_string(),
        "--drawing",
        &file,
        &token,
    ])?;
    let push = cli.run(&["push"])?;
    assert_eq!(
        push.status.code(),
        Some(4),
        "a refusal leaves work for the user"
    );
    let unsent = cli.json(&["notes", "--unsent"])?;
    let note = &unsent["notes"][0];
    assert_eq!(note["sync_state"], "failed", "{unsent}");
    assert!(
        note["note"]["text"].as_str().is_some_and(|t| t == token),
        "the text is kept"
    );
    assert!(
        note["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "the reason is shown"
    );
    let op = unsent["operations"][0]["id"].as_i64().context("op id")?;
    cli.ok(&["discard", &op.to_string()])?;
    let after = cli.json(&["notes", "--unsent"])?;
    assert_eq!(
        after["notes"][0]["sync_state"], "discarded",
        "kept locally, marked discarded"
    );
    assert_eq!(after["notes"][0]["note"]["text"], token);
    Ok(())
}
