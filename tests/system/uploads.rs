//! Uploads through the real CLI on the local-folder library (the built-in platform): drop plans
//! that refuse what the destination cannot take, the transfer queue killed mid-upload and resumed
//! to exactly one complete file, pause and cancel from a second process, and watch folders that
//! send a slowly written render once, after it is complete, and pick up what arrived while
//! Framenote was closed. The per-platform resume paths (Ci, Moxion, iconik, Kitsu) are in
//! `upload_resume.rs`.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::Context;
use framenote_tests::cli_support::Cli;
use serde_json::Value;

/// A CLI signed in to a local library at `library`, synced; returns the root node id.
fn local_library(cli: &Cli, library: &Path) -> anyhow::Result<String> {
    cli.json(&[
        "login",
        "--platform",
        "local",
        "--url",
        &library.display().to_string(),
    ])?;
    cli.json(&["sync"])?;
    let roots = cli.json(&["ls"])?;
    Ok(roots["nodes"][0]["node"]["id"]
        .as_str()
        .context("library root")?
        .to_owned())
}

fn clip(path: &Path, seconds: f64) -> anyhow::Result<()> {
    framenote_tests::platform_server::make_clip(path, "24", seconds, "01:00:00:00")
}

/// A large, valid movie of about `megabytes` (uncompressed 320×240 frames, 230 kB each) in a
/// solid `color`: the library probes what it receives, so uploads must be real media.
fn big_clip(path: &Path, megabytes: u64, color: &str) -> anyhow::Result<()> {
    let frames = (megabytes * 1_000_000).div_ceil(230_400);
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={color}:s=320x240:r=24"))
        .args([
            "-frames:v",
            &frames.to_string(),
            "-c:v",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
        ])
        .arg(path)
        .status()?;
    anyhow::ensure!(status.success(), "ffmpeg failed making {}", path.display());
    Ok(())
}

fn transfers(cli: &Cli) -> anyhow::Result<Vec<Value>> {
    Ok(cli.json(&["transfers"])?["transfers"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn same_bytes(a: &Path, b: &Path) -> anyhow::Result<bool> {
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

/// Files in `dir` (recursively), relative, sorted, hidden ones included.
fn files_in(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Waits until `done` says so, or fails after `limit` with what was last seen.
fn wait_for<T>(
    limit: Duration,
    mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe()? {
            return Ok(value);
        }
        anyhow::ensure!(start.elapsed() < limit, "gave up after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops a child the way Ctrl-C does, so it leaves cleanly; by PID, never by name.
fn interrupt(child: &mut Child) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -INT failed");
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill()?;
            anyhow::bail!("the CLI did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn a_drop_is_checked_before_sending_and_lands_in_the_library_with_its_folders() -> anyhow::Result<()>
{
    let cli = Cli::new()?;
    let library = tempfile::tempdir()?;
    clip(&library.path().join("sh010.mp4"), 1.0)?;
    let root = local_library(&cli, library.path())?;

    let drop = tempfile::tempdir()?;
    let render = drop.path().join("sh020_comp_v003.mp4");
    clip(&render, 1.0)?;
    std::fs::write(drop.path().join("notes.txt"), "not media")?;
    std::fs::write(drop.path().join("empty.mov"), "")?;
    std::fs::write(drop.path().join(".hidden.mov"), "x")?;
    let plates = drop.path().join("plates");
    std::fs::create_dir_all(plates.join("bg"))?;
    clip(&plates.join("bg").join("bg_plate.mp4"), 1.0)?;
    std::fs::write(plates.join(".DS_Store"), "finder")?;

    let mut args: Vec<String> = ["upload", "--to", &root]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in [
        "sh020_comp_v003.mp4",
        "notes.txt",
        "empty.mov",
        ".hidden.mov",
        "plates",
    ] {
        args.push(drop.path().join(name).display().to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let answer = cli.json(&argv)?;
    let files = answer["plan"]["files"].as_array().context("plan files")?;
    let why = |name: &str| -> Option<String> {
        files
            .iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["rejected"].as_str().map(str::to_owned))
    };
    assert!(
        why("notes.txt").is_some_and(|w| w.contains("not a movie")),
        "{answer}"
    );
    assert_eq!(why("empty.mov").as_deref(), Some("an empty file"));
    assert_eq!(
        why(".hidden.mov").as_deref(),
        Some("a temporary or hidden file")
    );
    assert!(
        !files.iter().any(|f| f["name"] == ".DS_Store"),
        "hidden files inside a dropped folder are not even listed: {answer}"
    );
    let render_plan = files
        .iter()
        .find(|f| f["name"] == "sh020_comp_v003.mp4")
        .context("render")?;
    assert_eq!(render_plan["version_hint"], 3, "version read from the name");
    let plate_plan = files
        .iter()
        .find(|f| f["name"] == "bg_plate.mp4")
        .context("plate")?;
    assert_eq!(plate_plan["subfolder"], serde_json::json!(["plates", "bg"]));

    let sent = answer["transfers"].as_array().context("transfers")?;
    assert_eq!(
        sent.len(),
        2,
        "only the two media files were queued: {answer}"
    );
    assert!(sent.iter().all(|t| t["state"] == "done"), "{answer}");
    assert!(same_bytes(
        &render,
        &library.path().join("sh020_comp_v003.mp4")
    )?);
    assert!(same_bytes(
        &plates.join("bg").join("bg_plate.mp4"),
        &library.path().join("plates/bg/bg_plate.mp4")
    )?);
    assert!(
        !files_in(library.path())
            .iter()
            .any(|f| f.contains(".framenote-upload")),
        "no temporary left behind: {:?}",
        files_in(library.path())
    );
    // The library shows the new asset at once (the queue pulled after sending).
    let listing = cli.json(&["ls", &root])?;
    let names: Vec<&str> = listing["assets"]
        .as_array()
        .context("assets")?
        .iter()
        .filter_map(|a| a["asset"]["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("sh020_comp_v003")),
        "{names:?}"
    );

    // A destination that does not exist is refused before anything is sent.
    let refused = cli.run(&[
        "upload",
        "--to",
        "no-such-node",
        &render.display().to_string(),
    ])?;
    assert!(!refused.status.success());
    Ok(())
}

#[test]
fn an_upload_killed_midway_resumes_and_leaves_exactly_one_complete_file() -> anyhow::Result<()> {
    let cli = Cli::new()?;
    let library = tempfile::tempdir()?;
    clip(&library.path().join("sh010.mp4"), 1.0)?;
    let root = local_library(&cli, library.path())?;
    let source_dir = tempfile::tempdir()?;
    let source = source_dir.path().join("sh030_comp_v001.mov");
    big_clip(&source, 24, "red")?;
    // 4 MB/s: the 24 MB file takes about 6 s, long enough to be killed in the middle.
    cli.json(&["transfers", "settings", "--bandwidth", "4000000"])?;
    let queued = cli.json(&[
        "upload",
        "--no-wait",
        "--to",
        &root,
        &source.display().to_string(),
    ])?;
    let id = queued["queued"][0]["id"].as_i64().context("transfer id")?;

    let mut first = cli.command(&["transfers", "run"]).spawn()?;
    let size = std::fs::metadata(&source)?.len();
    let before_kill = wait_for(Duration::from_secs(60), || {
        let t = transfers(&cli)?;
        let done = t[0]["bytes_done"].as_u64().unwrap_or(0);
        Ok((done >= size / 4 && t[0]["checkpoint"].is_object()).then_some(done))
    })?;
    first.kill()?; // SIGKILL: no chance to clean up
    first.wait()?;
    let after_kill = transfers(&cli)?;
    assert_eq!(
        after_kill[0]["state"], "running",
        "a killed run leaves the row as it was"
    );
    assert!(before_kill < size);

    // Nothing is in the library yet but the temporary holding what was copied.
    let temps: Vec<String> = files_in(library.path())
        .into_iter()
        .filter(|f| f.contains(".framenote-upload"))
        .collect();
    assert_eq!(temps.len(), 1, "{:?}", files_in(library.path()));
    let kept = std::fs::metadata(library.path().join(&temps[0]))?.len();
    assert!(
        kept >= before_kill,
        "the temporary holds what was reported ({kept} < {before_kill})"
    );

    cli.json(&["transfers", "settings", "--bandwidth", "0"])?;
    let resumed = cli.json(&["transfers", "run"])?;
    let row = resumed["transfers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == id))
        .context("transfer after resume")?;
    assert_eq!(row["state"], "done", "{resumed}");
    assert_eq!(row["attempts"], 2, "one attempt killed, one resumed: {row}");
    let in_library: Vec<String> = files_in(library.path())
        .into_iter()
        .filter(|f| f.contains("sh030"))
        .collect();
    assert_eq!(in_library, vec!["sh030_comp_v001.mov".to_string()]);
    assert!(same_bytes(
        &source,
        &library.path().join("sh030_comp_v001.mov")
    )?);
    assert!(
        !files_in(library.path())
            .iter()
            .any(|f| f.contains(".framenote-upload"))
    );
    Ok(())
}

#[test]
fn pause_and_cancel_from_another_process_stop_the_running_upload() -> anyhow::Result<()> {
    let cli = Cli::new()?;
    let library = tempfile::tempdir()?;
    clip(&library.path().join("sh010.mp4"), 1.0)?;
    let root = local_library(&cli, library.path())?;
    let source_dir = tempfile::tempdir()?;
    let a = source_dir.path().join("a.mov");
    let b = source_dir.path().join("b.mov");
    big_clip(&a, 16, "green")?;
    big_clip(&b, 16, "blue")?;
    cli.json(&[
        "transfers",
        "settings",
        "--bandwidth",
        "2000000",
        "--concurrency",
        "2",
    ])?;
    let queued = cli.json(&[
        "upload",
        "--no-wait",
        "--to",
        &root,
        &a.display().to_string(),
        &b.display().to_string(),
    ])?;
    let ids: Vec<String> = queued["queued"]
        .as_array()
        .context("queued")?
        .iter()
        .filter_map(|t| t["id"].as_i64().map(|i| i.to_string()))
        .collect();
    let mut runner = cli.command(&["transfers", "run"]).spawn()?;
    wait_for(Duration::from_secs(60), || {
        let t = transfers(&cli)?;
        Ok(t.iter()
            .all(|t| t["state"] == "running" && t["bytes_done"].as_u64().unwrap_or(0) > 0)
            .then_some(()))
    })?;
    // A second process holds the queue lock's counterpart: it only changes states.
    cli.json(&["transfers", "pause", &ids[0]])?;
    cli.json(&["transfers", "cancel", &ids[1]])?;
    // The runner notices both, and with nothing left due, finishes.
    let status = wait_for(Duration::from_secs(30), || Ok(runner.try_wait()?))?;
    assert!(status.success(), "runner: {status}");
    let t = transfers(&cli)?;
    assert_eq!(t[0]["state"], "paused");
    assert_eq!(t[1]["state"], "cancelled");
    let paused_at = t[0]["bytes_done"].as_u64().unwrap_or(0);
    assert!(paused_at > 0 && paused_at < std::fs::metadata(&a)?.len());
    assert!(
        !files_in(library.path())
            .iter()
            .any(|f| f.starts_with("b.mov")),
        "the cancelled file never appears"
    );
    // Resumed, the paused one completes from its temporary.
    cli.json(&["transfers", "settings", "--bandwidth", "0"])?;
    cli.json(&["transfers", "resume", &ids[0]])?;
    cli.json(&["transfers", "run"])?;
    assert_eq!(transfers(&cli)?[0]["state"], "done");
    assert!(same_bytes(&a, &library.path().join("a.mov"))?);
    let _ = runner.wait();
    Ok(())
}

#[test]
fn a_watch_folder_sends_a_slowly_written_render_once_and_catches_up_after_a_restart()
-> anyhow::Result<()> {
    let cli = Cli::new()?;
    let library = tempfile::tempdir()?;
    clip(&library.path().join("sh010.mp4"), 1.0)?;
    let root = local_library(&cli, library.path())?;
    let watched = tempfile::tempdir()?;
    let added = cli.json(&[
        "watch",
        "add",
        &watched.path().display().to_string(),
        "--to",
        &root,
    ])?;
    assert!(added["watch_folder"]["id"].is_i64(), "{added}");

    let mut watcher = cli
        .command(&["watch", "run", "--settle-ms", "1500"])
        .spawn()?;
    // A render written over about 4 s, a chunk every 250 ms: never sent half-written.
    let sources = tempfile::tempdir()?;
    let made = sources.path().join("render.mov");
    big_clip(&made, 4, "yellow")?;
    let expected = std::fs::read(&made)?;
    let render = watched.path().join("sh040_comp_v002.mov");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&render)?;
        for chunk in expected.chunks(expected.len().div_ceil(16)) {
            file.write_all(chunk)?;
            file.flush()?;
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    // A download written under a partial name, then renamed to its final name.
    let partial = watched.path().join("sh050_comp_v001.mov.part");
    big_clip(&sources.path().join("sh050.mov"), 2, "purple")?;
    std::fs::rename(sources.path().join("sh050.mov"), &partial)?;
    std::thread::sleep(Duration::from_millis(2500));
    let final_name = watched.path().join("sh050_comp_v001.mov");
    std::fs::rename(&partial, &final_name)?;
    std::fs::write(watched.path().join(".DS_Store"), "finder")?;

    let done = wait_for(Duration::from_secs(60), || {
        let t = transfers(&cli)?;
        Ok((t.len() >= 2 && t.iter().all(|t| t["state"] == "done")).then_some(t))
    })?;
    // Give any duplicate a chance to show up before judging.
    std::thread::sleep(Duration::from_secs(3));
    let t = transfers(&cli)?;
    let names: Vec<&str> = t.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        vec!["sh040_comp_v002.mov", "sh050_comp_v001.mov"],
        "each file once, the partial never: {done:?}"
    );
    assert_eq!(
        std::fs::read(library.path().join("sh040_comp_v002.mov"))?,
        expected
    );
    assert!(same_bytes(
        &final_name,
        &library.path().join("sh050_comp_v001.mov")
    )?);
    assert_eq!(t[0]["version_hint"], 2);
    interrupt(&mut watcher)?;

    // While Framenote is closed: one new render arrives, one sent file is renamed.
    big_clip(&sources.path().join("sh060.mov"), 1, "white")?;
    std::fs::rename(
        sources.path().join("sh060.mov"),
        watched.path().join("sh060_comp_v001.mov"),
    )?;
    std::fs::rename(
        &final_name,
        watched.path().join("sh050_comp_v001_final.mov"),
    )?;
    let mut watcher = cli
        .command(&["watch", "run", "--settle-ms", "1000"])
        .spawn()?;
    wait_for(Duration::from_secs(60), || {
        let t = transfers(&cli)?;
        Ok((t.len() >= 3 && t.iter().all(|t| t["state"] == "done")).then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(3));
    interrupt(&mut watcher)?;
    let names: Vec<String> = transfers(&cli)?
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        vec![
            "sh040_comp_v002.mov",
            "sh050_comp_v001.mov",
            "sh060_comp_v001.mov"
        ],
        "the new file is picked up; the renamed one is recognised and not sent again"
    );
    let listed = cli.json(&["watch", "list"])?;
    assert_eq!(listed["watch_folders"][0]["files_sent"], 3, "{listed}");
    Ok(())
}
