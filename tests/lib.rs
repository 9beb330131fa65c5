//! Shared helpers for the system tests: the real-window harness, and whatever the platform
//! fixtures share. Each area appends its own module here.

#[path = "e2e/harness.rs"]
pub mod e2e;

#[path = "support/fault_proxy.rs"]
pub mod fault_proxy;

/// The document-faithful platform test servers in `tests/servers/` (Python 3 stdlib only):
/// started per test on a loopback port they choose and print, stopped by PID on drop; and the
/// small real media files (ffmpeg, with audio) they serve.
pub mod platform_server {
    use std::io::{BufRead, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Child, ChildStdin, Command, Stdio};

    use anyhow::Context;

    /// A running test server.
    pub struct PlatformServer {
        /// `http://127.0.0.1:PORT`.
        pub url: String,
        child: Child,
        /// Held open for the server's life: a server started with `--exit-with-stdin` stops by
        /// itself when this closes, even if the test process is killed before `drop` runs.
        _stdin: Option<ChildStdin>,
    }

    impl PlatformServer {
        /// Runs `python3 tests/servers/<script> <args>` and waits for the port it prints.
        pub fn start(script: &str, args: &[&str]) -> anyhow::Result<Self> {
            let path = servers_dir().join(script);
            let mut child = Command::new("python3")
                .arg(&path)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("starting {}", path.display()))?;
            let stdout = child.stdout.take().context("server stdout")?;
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            let port: u16 = match line.trim().parse() {
                Ok(port) => port,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    anyhow::bail!("{script} printed {line:?} instead of a port");
                }
            };
            let stdin = child.stdin.take();
            Ok(Self {
                url: format!("http://127.0.0.1:{port}"),
                child,
                _stdin: stdin,
            })
        }

        /// The server's process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }
    }

    impl Drop for PlatformServer {
        fn drop(&mut self) {
            // Stopped by its own PID, never by name.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// `tests/servers`.
    pub fn servers_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("servers")
    }

    /// `tests/fixtures/<platform>`.
    pub fn fixtures_dir(platform: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(platform)
    }

    /// Writes a small H.264 + AAC MP4 at `rate` (an ffmpeg rational such as `24000/1001`) lasting
    /// `seconds`, with a start timecode.
    pub fn make_clip(path: &Path, rate: &str, seconds: f64, timecode: &str) -> anyhow::Result<()> {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size=320x180:rate={rate}:duration={seconds}"
            ))
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "sine=frequency=440:sample_rate=48000:duration={seconds}"
            ))
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
                "-timecode",
                timecode,
            ])
            .arg(path)
            .status()
            .context("running ffmpeg")?;
        anyhow::ensure!(status.success(), "ffmpeg failed for {}", path.display());
        Ok(())
    }
}

/// The CLI as a child process and a proxy that can be "down" or lose answers (sync/outbox tests).
#[path = "support/cli_support.rs"]
pub mod cli_support;
