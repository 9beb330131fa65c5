//! Sync through the real CLI: the local-folder library end to end (browse, pin, notes posted and
//! read back), a real Zou (a drawing made through Zou's own API appears in the cache on its
//! frame; a proxy download interrupted mid-body resumes with `Range` on the next run and is
//! verified), and secrets kept out of SQLite.

use anyhow::Context;
use framenote_tests::cli_support::{Cli, HoldProxy, kitsu_time};
use serde_json::{Value, json};
use sha2_free::sha256_hex;

use crate::zou::{Admin, SUPERVISOR, zou};

/// SHA-256 without another dependency: the test asks `sha256sum`, as a person would.
mod sha2_free {
    pub fn sha256_hex(path: &std::path::Path) -> anyhow::Result<String> {
        let out = std::process::Command::new("sha256sum").arg(path).output()?;
        anyhow::ensure!(out.status.success(), "sha256sum failed");
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned())
    }
}

fn login_kitsu(cli: &Cli, api: &str) -> anyhow::Result<()> {
    let out = cli
        .command(&[
            "login",
            "--platform",
            "kitsu",
            "--url",
            api,
            "--user",
            SUPERVISOR.0,
            "--password-env",
            "FRAMENOTE_TEST_PASSWORD",
        ])
        .env("FRAMENOTE_TEST_PASSWORD", SUPERVISOR.1)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn the_local_library_syncs_pins_and_posts_notes_through_the_cli() -> anyhow::Result<()> {
    let cli = Cli::new()?;
    let library = tempfile::tempdir()?;
    framenote_tests::platform_server::make_clip(
        &library.path().join("sh010.mp4"),
        "24",
        2.0,
        "01:00:00:00",
    )?;
    let login = cli.json(&[
        "login",
        "--platform",
        "local",
        "--url",
        &library.path().display().to_string(),
    ])?;
    assert_eq!(
        login["secrets"]["backend"], "file",
        "FRAMENOTE_SECRETS=file is reported: {login}"
    );
    let synced = cli.json(&["sync"])?;
    assert_eq!(synced["report"]["pull"]["assets"], 1, "{synced}");

    let roots = cli.json(&["ls"])?;
    let root = roots["nodes"][0]["node"]["id"]
        .as_str()
        .context("root")?
        .to_owned();
    let listing = cli.json(&["ls", &root])?;
    let asset = &listing["assets"][0]["asset"];
    let asset_id = asset["id"].as_str().context("asset id")?.to_owned();
    let version = &asset["versions"][0];
    assert_eq!(
        version["media"]["frame_rate"],
        json!({"num": 24, "den": 1}),
        "media facts from the probe"
    );
    assert_eq!(version["media"]["frame_count"], 48);

    // Pinning a node of the local library records the file in place (nothing to download).
    let pinned = cli.json(&["pin", "--node", &root, "--now"])?;
    assert_eq!(pinned["offline"]["downloaded"], 1, "{pinned}");
    let status = cli.json(&["status"])?;
    assert_eq!(status["media"][0]["state"], "complete", "{status}");
    assert_eq!(
        status["media"][0]["local_path"],
        library.path().join("sh010.mp4").display().to_string(),
        "the user's own file, not a copy"
    );

    // A note by timecode, posted, read back by a second sync, resolved, exported.
    let note = cli.json(&[
        "note",
        "--asset",
        &asset_id,
        "--timecode",
        "01:00:01:00",
        "Hold on frame 24",
    ])?;
    assert_eq!(
        note["note"]["note"]["frames"],
        json!({"start": 24, "end": 24}),
        "{note}"
    );
    let pushed = cli.json(&["push"])?;
    assert_eq!(pushed["report"]["sent"], 1);
    let note_id = note["note"]["note"]["id"]
        .as_str()
        .context("note id")?
        .to_owned();
    cli.ok(&["resolve", &note_id])?;
    assert_eq!(
        cli.json(&["push"])?["report"]["sent"],
        1,
        "the status change is posted"
    );
    let resync = cli.json(&["sync"])?;
    assert_eq!(resync["report"]["pull"]["notes"], 1, "{resync}");
    let notes = cli.json(&["notes"])?;
    assert_eq!(
        notes["notes"].as_array().map(Vec::len),
        Some(1),
        "no duplicate after the pull"
    );
    assert_eq!(notes["notes"][0]["note"]["status"], "resolved", "{notes}");
    let csv = cli.ok(&["export"])?;
    assert!(
        csv.lines()
            .any(|l| l.contains("Hold on frame 24") && l.contains(",24,24,01:00:01:00,")),
        "{csv}"
    );

    // A second sync with nothing changed writes nothing and fetches no notes.
    let quiet = cli.json(&["sync"])?;
    assert_eq!(quiet["report"]["pull"]["assets_changed"], 0, "{quiet}");
    assert_eq!(quiet["report"]["pull"]["versions_noted"], 0, "{quiet}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drawing_made_through_zou_appears_in_the_cache_on_its_frame() -> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("29.97")?;
    let cli = Cli::new()?;
    login_kitsu(&cli, &zou.api)?;
    cli.ok(&["sync"])?;

    // A reviewer draws in Kitsu's web player on frame index 20: Kitsu's time grid at 29.97.
    let index = 20;
    let time = kitsu_time(index, 30000.0 / 1001.0);
    let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1).await?;
    let object_id = uuid::Uuid::new_v4().to_string();
    admin
        .send(
            reqwest::Method::PUT,
            &format!(
                "/actions/preview-files/{}/update-annotations",
                project.preview_id
            ),
            json!({"additions": [{"time": time, "frame": index, "drawing": {"objects": [{
                "id": object_id, "type": "rect", "left": 64, "top": 36, "width": 128, "height": 72,
                "stroke": "#00ff00", "strokeWidth": 3, "fill": null,
                "canvasWidth": 640, "canvasHeight": 360
            }]}}], "updates": [], "deletions": []}),
        )
        .await?;

    cli.ok(&["sync", "--full"])?;
    let notes = cli.json(&["notes", "--version", &project.preview_id])?;
    let drawings = notes["drawings"].as_array().context("drawings")?;
    let on_frame: Vec<&Value> = drawings
        .iter()
        .filter(|d| d["frames"]["start"] == index)
        .collect();
    assert_eq!(
        on_frame.len(),
        1,
        "the drawing is on frame index {index}: {notes}"
    );
    let shape = &on_frame[0]["drawing"]["shapes"][0];
    assert_eq!(shape["type"], "rect", "{shape}");
    let x = shape["origin"]["x"].as_f64().context("x")?;
    assert!(
        (x - 0.1).abs() < 1e-6,
        "normalised to the 640-px canvas: {shape}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_download_killed_half_way_resumes_on_the_next_run_and_is_verified()
-> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("23.976")?;
    let upstream = zou.api.trim_end_matches("/api").to_owned();
    let proxy = HoldProxy::start(&upstream).await?;
    let cli = Cli::new()?;
    login_kitsu(&cli, &format!("{}/api", proxy.url()))?;
    cli.ok(&["sync"])?;

    // The movie trickles; the CLI is SIGKILLed once part of it is on disk.
    proxy.slow_down(Some("/movies/"));
    let mut child = cli
        .command(&["pin", "--asset", &project.task_id, "--now"])
        .spawn()?;
    let media_dir = cli.data.path().join("media");
    let started = std::time::Instant::now();
    let partial = loop {
        let part = std::fs::read_dir(&media_dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .flat_map(|account| {
                std::fs::read_dir(account.path())
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
            })
            .find(|f| f.path().to_string_lossy().ends_with(".part"))
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
            .unwrap_or(0);
        if part > 100_000 {
            break part;
        }
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no partial download appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    child.kill()?;
    child.wait()?;
    let status = cli.json(&["status"])?;
    assert_eq!(
        status["media"][0]["state"], "downloading",
        "interrupted mid-way: {status}"
    );

    // Next run, full speed: the download resumes from the partial file.
    proxy.slow_down(None);
    let second = cli.json(&["sync"])?;
    assert_eq!(second["report"]["offline"]["downloaded"], 1, "{second}");
    assert_eq!(
        second["report"]["offline"]["resumed"], 1,
        "resumed with Range: {second}"
    );
    let fetched = second["report"]["offline"]["bytes"]
        .as_u64()
        .context("bytes")?;

    let status = cli.json(&["status"])?;
    let media = &status["media"][0];
    assert_eq!(media["state"], "complete", "{status}");
    let total = media["bytes_downloaded"].as_u64().context("size")?;
    assert!(
        fetched < total,
        "only the rest was fetched ({fetched} of {total}, {partial} kept)"
    );
    let path = std::path::PathBuf::from(media["local_path"].as_str().context("path")?);
    assert!(
        path.starts_with(cli.data.path().join("media")),
        "under the app data folder"
    );
    assert_eq!(
        media["checksum"].as_str(),
        Some(sha256_hex(&path)?.as_str()),
        "checksum recorded"
    );

    // Byte for byte what the server serves.
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/auth/login", zou.api))
        .json(&json!({"email": SUPERVISOR.0, "password": SUPERVISOR.1}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("token")?;
    let original = client
        .get(format!(
            "{}/movies/originals/preview-files/{}.mp4",
            zou.api, project.preview_id
        ))
        .bearer_auth(token)
        .send()
        .await?
        .bytes()
        .await?;
    assert_eq!(
        std::fs::read(&path)?,
        original.to_vec(),
        "the resumed file is the server's file"
    );

    // The CLI's own tokens are in the fallback secret file, and nowhere in the database or its WAL.
    let secrets: Value =
        serde_json::from_slice(&std::fs::read(cli.data.path().join("secrets.json"))?)?;
    let stored = secrets
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(Value::as_str)
        .context("one stored session")?;
    let session: Value = serde_json::from_str(stored)?;
    let access = session["access_token"]
        .as_str()
        .context("stored access token")?;
    for file in ["framenote.db", "framenote.db-wal"] {
        let bytes = std::fs::read(cli.data.path().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(SUPERVISOR.1), "no password in {file}");
        assert!(!text.contains(access), "no token in {file}");
    }
    Ok(())
}

/// A private D-Bus session bus with an unlocked GNOME keyring (a real Secret Service), both
/// children of the test and stopped by PID on drop.
struct PrivateKeyring {
    dbus: std::process::Child,
    keyring: std::process::Child,
    address: String,
    dir: tempfile::TempDir,
}

impl PrivateKeyring {
    fn start() -> anyhow::Result<Self> {
        use std::io::Write;
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("bus");
        let address = format!("unix:path={}", socket.display());
        let dbus = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("dbus-daemon (apt: dbus)")?;
        let started = std::time::Instant::now();
        while !socket.exists() {
            anyhow::ensure!(
                started.elapsed().as_secs() < 10,
                "the session bus did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run)?;
        let mut keyring = std::process::Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_RUNTIME_DIR", &run)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("gnome-keyring-daemon (apt: gnome-keyring)")?;
        if let Some(mut stdin) = keyring.stdin.take() {
            stdin.write_all(b"framenote-test-keyring")?;
        }
        Ok(Self {
            dbus,
            keyring,
            address,
            dir,
        })
    }

    fn command(&self, cli: &Cli, args: &[&str]) -> std::process::Command {
        let mut command = cli.command(args);
        command
            .env("FRAMENOTE_SECRETS", "keyring")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"));
        command
    }
}

impl Drop for PrivateKeyring {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.dbus.kill();
        let _ = self.dbus.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_live_in_the_os_keyring_when_there_is_one() -> anyhow::Result<()> {
    let zou = zou().await;
    let keyring = PrivateKeyring::start()?;
    let cli = Cli::new()?;
    // The keyring daemon takes a moment to claim its bus name: retry the sign-in briefly.
    let mut login = None;
    for _ in 0..50 {
        let out = keyring
            .command(
                &cli,
                &[
                    "--json",
                    "login",
                    "--platform",
                    "kitsu",
                    "--url",
                    &zou.api,
                    "--user",
                    SUPERVISOR.0,
                    "--password-env",
                    "FRAMENOTE_TEST_PASSWORD",
                ],
            )
            .env("FRAMENOTE_TEST_PASSWORD", SUPERVISOR.1)
            .output()?;
        if out.status.success() {
            login = Some(serde_json::from_slice::<Value>(&out.stdout)?);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let login = login.context("sign-in with the keyring never succeeded")?;
    assert_eq!(login["secrets"]["backend"], "keyring", "{login}");
    assert!(
        !cli.data.path().join("secrets.json").exists(),
        "no fallback file when a keyring works"
    );

    // A new process finds the session in the keyring.
    let sync = keyring.command(&cli, &["sync"]).output()?;
    assert!(
        sync.status.success(),
        "sync with the keyring session: {}",
        String::from_utf8_lossy(&sync.stderr)
    );

    // Signing out removes it from the keyring: the next sync must ask for a sign-in (exit 3).
    assert!(
        keyring
            .command(&cli, &["logout"])
            .output()?
            .status
            .success()
    );
    let after = keyring.command(&cli, &["sync"]).output()?;
    assert_eq!(
        after.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(String::from_utf8_lossy(&after.stderr).contains("sign-in required"));

    // Without any Secret Service, `auto` falls back to the file and says why.
    let fallback = Cli::new()?;
    let library = tempfile::tempdir()?;
    let out = fallback
        .command(&[
            "--json",
            "login",
            "--platform",
            "local",
            "--url",
            &library.path().display().to_string(),
        ])
        .env("FRAMENOTE_SECRETS", "auto")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/framenote-test-bus",
        )
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["secrets"]["backend"], "file", "{v}");
    assert!(
        v["secrets"]["fallback_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "the reason is shown: {v}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_budget_is_respected_and_unpinned_copies_are_evicted() -> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("24")?;
    let cli = Cli::new()?;
    login_kitsu(&cli, &zou.api)?;
    cli.ok(&["sync"])?;

    // The preview is about a megabyte: a 0 MB budget refuses it, and says why.
    let refused = cli.json(&[
        "--offline-budget-mb",
        "0",
        "pin",
        "--asset",
        &project.task_id,
        "--now",
    ])?;
    assert_eq!(refused["offline"]["over_budget"], 1, "{refused}");
    let status = cli.json(&["status"])?;
    assert!(
        status["media"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("budget")),
        "{status}"
    );

    // Enough budget: downloaded at the next sync.
    let synced = cli.json(&["--offline-budget-mb", "100", "sync"])?;
    assert_eq!(synced["report"]["offline"]["downloaded"], 1, "{synced}");
    let status = cli.json(&["status"])?;
    let path = std::path::PathBuf::from(status["media"][0]["local_path"].as_str().context("path")?);
    assert!(path.exists());

    // Unpinned: the copy is evicted and its space given back.
    let unpinned = cli.json(&["unpin", "--asset", &project.task_id, "--now"])?;
    assert_eq!(unpinned["offline"]["evicted"], 1, "{unpinned}");
    assert!(!path.exists(), "the file is deleted");
    assert_eq!(cli.json(&["status"])?["offline_bytes"], 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_bring_a_comment_made_in_kitsu_into_the_cache() -> anyhow::Result<()> {
    use framenote_sync::{PullOptions, SecretPreference, SyncConfig, SyncEngine};
    let zou = zou().await;
    let project = zou.seed.project("24")?;
    let dir = tempfile::tempdir()?;
    // Zou's event stream listens on its own port here (a Kitsu install serves both behind one
    // host): the factory says where, as the shell's would from its configuration.
    let events = zou.events.clone();
    let factory: framenote_sync::ConnectorFactory = std::sync::Arc::new(move |account, _dir| {
        let mut config = framenote_connectors::kitsu::KitsuConfig::new(account.base_url.clone());
        config.events_url = Some(events.clone());
        Ok(
            std::sync::Arc::new(framenote_connectors::kitsu::KitsuConnector::new(config)?)
                as std::sync::Arc<dyn framenote_connectors::Connector>,
        )
    });
    let config = SyncConfig {
        secrets: SecretPreference::File,
        ..SyncConfig::default()
    };
    let engine = std::sync::Arc::new(SyncEngine::open(dir.path(), factory, config).await?);
    let credentials = framenote_connectors::Credentials::Password {
        user: SUPERVISOR.0.into(),
        password: SUPERVISOR.1.into(),
    };
    let account = engine
        .login(
            framenote_core::Platform::Kitsu,
            &zou.api,
            &credentials,
            None,
            None,
        )
        .await?
        .id;
    let cancel = framenote_sync::cancellation();
    engine
        .pull(&account, PullOptions { full: true }, &cancel)
        .await?;

    let follower = {
        let (engine, account, cancel) = (engine.clone(), account.clone(), cancel.clone());
        tokio::spawn(async move { engine.follow_live(&account, &cancel).await })
    };
    // Let the event feed connect before the change is made.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let token = format!("made-in-kitsu-{}", uuid::Uuid::new_v4());
    let admin = Admin::login(&zou.api, &zou.admin.0, &zou.admin.1).await?;
    let wfa = zou.seed.status.get("wfa").context("wfa status")?;
    admin
        .post(
            &format!("/actions/tasks/{}/comment", project.task_id),
            json!({"task_status_id": wfa, "comment": token}),
        )
        .await?;

    let version = framenote_core::RemoteId::new(project.preview_id.clone());
    let started = std::time::Instant::now();
    let arrived = loop {
        let notes = engine.cache().notes_for_version(&account, &version).await?;
        if notes.iter().any(|n| n.note.text.contains(&token)) {
            break true;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) || follower.is_finished() {
            break false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    cancel.cancel();
    let outcome = follower.await??;
    assert!(
        arrived,
        "the comment reached the cache through the live feed (follower: {outcome:?})"
    );
    assert_eq!(outcome, framenote_sync::LiveOutcome::Cancelled);
    Ok(())
}
