//! The real-window test harness: starts the built Framenote binary under the current X display
//! (Xvfb in `make test`), drives it through WebDriver (tauri-driver → WebKitWebDriver), and saves
//! screenshots under `target/e2e/`.
//!
//! One app at a time: WebKit allows one automation session and tauri-driver listens on fixed
//! ports, so [`App::launch`] holds a process-wide lock until the app is closed. tauri-driver is
//! stopped with SIGTERM (its handler stops WebKitWebDriver); SIGKILL would orphan the native
//! driver and keep the test's pipes open.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};

static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DRIVER_PORT: u16 = 4444;
const NATIVE_PORT: u16 = 4445;

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where cargo puts binaries for this build (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The app binary the tests drive; `make test` builds it before the tests run.
pub fn app_binary() -> PathBuf {
    target_dir().join("debug").join("framenote")
}

/// Screenshots land here.
pub fn screenshot_dir() -> PathBuf {
    target_dir().join("e2e")
}

fn tauri_driver() -> PathBuf {
    let local = repo_root().join(".tools/bin/tauri-driver");
    if local.exists() {
        local
    } else {
        PathBuf::from("tauri-driver")
    }
}

/// A running Framenote window under WebDriver.
pub struct App {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    /// The app's data folder for this run (a fresh temp dir unless given).
    pub data_dir: PathBuf,
    _lock: tokio::sync::MutexGuard<'static, ()>,
}

impl App {
    /// Starts the app with `data_dir` as its data folder and waits for the window's document.
    pub async fn launch(data_dir: &Path) -> anyhow::Result<App> {
        Self::launch_with_env(data_dir, &[]).await
    }

    /// [`App::launch`] with extra environment for the app (deployment keys, for instance).
    pub async fn launch_with_env(data_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<App> {
        let lock = ONE_APP_AT_A_TIME.lock().await;
        if std::env::var_os("DISPLAY").is_none() {
            bail!("no DISPLAY: run the end-to-end tests under Xvfb (`make test` does)");
        }
        let binary = app_binary();
        if !binary.exists() {
            bail!(
                "{} is missing: build the app first (`cargo build --bin framenote`)",
                binary.display()
            );
        }
        std::fs::create_dir_all(data_dir)?;
        // Both ring and aws-lc-rs are in the dependency graph; name one (a second call is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let driver = Command::new(tauri_driver())
            .args([
                "--port",
                &DRIVER_PORT.to_string(),
                "--native-port",
                &NATIVE_PORT.to_string(),
            ])
            .args(["--native-driver", "/usr/bin/WebKitWebDriver"])
            .env("FRAMENOTE_DATA_DIR", data_dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting tauri-driver (installed by scripts/setup.sh into .tools/bin)")?;
        let mut driver = DriverGuard(Some(driver));
        wait_for_port(DRIVER_PORT, Duration::from_secs(20)).await?;

        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": binary }),
        );
        caps.insert("browserName".into(), serde_json::json!("wry"));
        let client = ClientBuilder::rustls()
            .context("TLS setup for the WebDriver client")?
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{DRIVER_PORT}"))
            .await
            .context("opening a WebDriver session on the app")?;
        let app = App {
            client,
            driver: driver.take(),
            data_dir: data_dir.to_path_buf(),
            _lock: lock,
        };
        app.wait_for("body", Duration::from_secs(30)).await?;
        Ok(app)
    }

    /// Waits until an element matching `css` exists.
    pub async fn wait_for(&self, css: &str, within: Duration) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(within)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for `{css}`"))
    }

    /// Waits until `css`'s text satisfies `pred`; returns the text.
    pub async fn wait_for_text(
        &self,
        css: &str,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        // textContent through JavaScript: WebDriver's own "visible text" is empty for text that
        // is clipped by CSS (ellipsis), which is not what a test of the content means.
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            serde_json::to_string(css)?
        );
        while Instant::now() < deadline {
            if let Ok(serde_json::Value::String(text)) = self.client.execute(&script, vec![]).await
            {
                if pred(&text) {
                    return Ok(text);
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("`{css}` never matched; last text was {last:?}")
    }

    /// Opens the library clip `asset_id` and waits until the viewer names it (its name contains
    /// `name_part`) and shows the frame numbered `first_frame`.
    pub async fn open_clip(
        &self,
        asset_id: &str,
        name_part: &str,
        first_frame: &str,
    ) -> anyhow::Result<()> {
        let long = Duration::from_secs(30);
        self.wait_for(
            &format!("[data-testid=asset][data-asset-id='{asset_id}']"),
            long,
        )
        .await?
        .click()
        .await?;
        self.wait_for_text("[data-testid=clip-name]", long, |t| t.contains(name_part))
            .await?;
        self.wait_for_text("[data-testid=frame-counter]", long, |t| {
            t.trim() == first_frame
        })
        .await?;
        Ok(())
    }

    /// Runs JavaScript in the page and returns its result.
    pub async fn js(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Presses `key` `times` times, as the window's keyboard handler receives it.
    pub async fn key(&self, key: &str, times: usize) -> anyhow::Result<()> {
        let script = format!(
            "for (let i = 0; i < {times}; i++) window.dispatchEvent(new KeyboardEvent('keydown', {{key: {}, bubbles: true}}));",
            serde_json::to_string(key)?
        );
        self.js(&script).await?;
        Ok(())
    }

    /// Drags on the drawing overlay from `from` to `to`, in fractions of the overlay.
    pub async fn drag_on_overlay(&self, from: (f64, f64), to: (f64, f64)) -> anyhow::Result<()> {
        let script = format!(
            r#"
const o = document.querySelector('[data-testid="drawing-overlay"]');
const r = o.getBoundingClientRect();
const at = (fx, fy) => ({{clientX: r.left + fx * r.width, clientY: r.top + fy * r.height, pointerId: 1, bubbles: true, button: 0, buttons: 1, isPrimary: true, pointerType: 'mouse'}});
o.dispatchEvent(new PointerEvent('pointerdown', at({x0}, {y0})));
for (let i = 1; i <= 8; i++) {{
  const t = i / 8;
  o.dispatchEvent(new PointerEvent('pointermove', at({x0} + ({x1} - {x0}) * t, {y0} + ({y1} - {y0}) * t)));
}}
o.dispatchEvent(new PointerEvent('pointerup', {{...at({x1}, {y1}), buttons: 0}}));
"#,
            x0 = from.0,
            y0 = from.1,
            x1 = to.0,
            y1 = to.1
        );
        self.js(&script).await?;
        Ok(())
    }

    /// Saves a screenshot as `target/e2e/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Closes the session and stops the drivers.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        stop_driver(&mut self.driver);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        stop_driver(&mut self.driver);
    }
}

/// `framenote <args>` in CLI mode (the app binary itself) on the data folder `data`, secrets in
/// the file store, with extra environment; returns stdout, or fails with stderr.
pub fn app_cli(data: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let out = Command::new(app_binary())
        .args(args)
        .env("FRAMENOTE_DATA_DIR", data)
        .env("FRAMENOTE_SECRETS", "file")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "framenote {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a scenario on a fresh app; on failure saves `target/e2e/<name>-failure.png` first.
pub async fn scenario<F>(name: &str, data_dir: &Path, body: F) -> anyhow::Result<()>
where
    F: AsyncFnOnce(&App) -> anyhow::Result<()>,
{
    let app = App::launch(data_dir).await?;
    let outcome = body(&app).await;
    if outcome.is_err()
        && let Ok(path) = app.screenshot(&format!("{name}-failure")).await
    {
        eprintln!("e2e: failure screenshot at {}", path.display());
    }
    app.close().await;
    outcome
}

struct DriverGuard(Option<Child>);

impl DriverGuard {
    fn take(&mut self) -> Child {
        // Only called once, right after a successful spawn.
        self.0
            .take()
            .unwrap_or_else(|| unreachable!("driver taken twice"))
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            stop_driver(&mut child);
        }
    }
}

fn stop_driver(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SIGTERM by PID: tauri-driver's handler then stops WebKitWebDriver.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

async fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("tauri-driver did not listen on port {port}")
}
