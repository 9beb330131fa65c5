//! Logging with `tracing` to a daily-rotating file in the app's log folder (kept a week), and to
//! stderr. The filter is `FRAMENOTE_LOG` (same syntax as `RUST_LOG`), `info` by default.
//! Secrets never reach here: types that hold them redact their `Debug`.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// Installs the global subscriber. Keep the guard alive for the life of the process: dropping it
/// flushes the file writer.
pub fn init(log_dir: &Path) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_env("FRAMENOTE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("framenote")
        .filename_suffix("log")
        .max_log_files(7)
        .build(log_dir);
    match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let installed = tracing_subscriber::registry()
                .with(filter)
                .with(fmt::layer().with_writer(std::io::stderr))
                .with(fmt::layer().with_ansi(false).with_writer(writer))
                .try_init();
            installed.is_ok().then_some(guard)
        }
        Err(err) => {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(fmt::layer().with_writer(std::io::stderr))
                .try_init();
            tracing::warn!(%err, "log file unavailable; logging to stderr only");
            None
        }
    }
}
