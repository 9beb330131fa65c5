//! `framenote-cli`: the app's headless CLI (`src-tauri/src/cli.rs`, the very same source the
//! `framenote` binary runs for a subcommand) built without the GUI stack, for tests, CI and
//! servers. The local library's media facts come from `ffprobe` here instead of GStreamer.

// `wants_cli` and `COMMANDS` serve the app binary's dispatch; this binary is always the CLI.
#[allow(dead_code)]
#[path = "../../../../src/cli.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::run_with_probe(std::env::args_os().collect(), cli::ffprobe_probe())
}
