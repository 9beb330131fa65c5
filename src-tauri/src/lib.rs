//! The Tauri shell: the only code that knows Tauri and JSON.
//!
//! It owns the window, the IPC commands and events (typed, exported to TypeScript by
//! tauri-specta), the `framenote://` URI scheme, and the binary frame channel. Everything it does
//! is a thin call into the library crates (`sync`, `player`, …) followed by an error mapping into
//! [`error::IpcError`]. With a subcommand on the command line, the same binary is the headless CLI.

pub mod cli;
mod commands;
mod error;
mod frames;
mod logging;
mod paths;
mod protocol;
mod scrub;
mod snapshot;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

pub use paths::AppDirs;

/// Entry point of the `framenote` binary.
pub fn main() -> ExitCode {
    let os_args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if os_args.first().is_some_and(|a| a == "snapshot") {
        return snapshot::run(&os_args[1..]);
    }
    if cli::wants_cli(&os_args) {
        return cli::run_with_probe(std::env::args_os().collect(), state::media_probe());
    }
    let args: Vec<String> = os_args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut data_dir = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--data-dir" => data_dir = rest.next().map(PathBuf::from),
            "--help" | "-h" => {
                println!("{}", USAGE);
                return ExitCode::SUCCESS;
            }
            "--version" => {
                println!("framenote {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("framenote: unknown argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    run_app(data_dir)
}

const USAGE: &str = "\
usage: framenote                       open the review app (the demo library is built in)
       framenote snapshot <media> (--frame N | --timecode TC | --index I) -o out.png [--size WxH]
       framenote <command> …           the headless CLI: login, sync, ls, pin, note, notes, push,
                                       export … (`framenote help`)
       framenote --version";

fn run_app(data_dir: Option<PathBuf>) -> ExitCode {
    let dirs = match AppDirs::resolve(data_dir) {
        Ok(dirs) => dirs,
        Err(err) => {
            eprintln!("framenote: cannot create the data folder: {err}");
            return ExitCode::FAILURE;
        }
    };
    let _log_guard = logging::init(&dirs.logs);
    tracing::info!(data = %dirs.data.display(), "starting Framenote {}", env!("CARGO_PKG_VERSION"));

    // One runtime, owned by the app and handed to Tauri, so every task (sync, outbox, players'
    // forwarders) shares it.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(%err, "tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    tauri::async_runtime::set(runtime.handle().clone());

    let state = match runtime.block_on(state::AppState::open(dirs)) {
        Ok(state) => state,
        Err(err) => {
            tracing::error!(%err, "opening the local cache");
            eprintln!("framenote: {err}");
            return ExitCode::FAILURE;
        }
    };

    let specta = commands::specta_builder();
    let result = tauri::Builder::default()
        .manage(state)
        .invoke_handler(specta.invoke_handler())
        .register_asynchronous_uri_scheme_protocol("framenote", protocol::handle)
        // Files dragged from the OS: the webview's HTML5 events carry no paths, Tauri's do.
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::DragDrop(drag) = event {
                commands::uploads::forward_drag_drop(window, drag);
            }
        })
        .setup(move |app| {
            specta.mount_events(app);
            state::start_background(app.handle());
            Ok(())
        })
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "the app stopped with an error");
            ExitCode::FAILURE
        }
    }
}
