#!/usr/bin/env bash
# `bash scripts/test.sh`: installs what is missing (apt packages, UI packages, tauri-driver, the Zou
# venv), then runs every test: UI type check and unit tests, Rust unit and integration tests
# (including the real Zou server, the platform test servers, the GStreamer corpus), and the
# end-to-end tests in the real window under Xvfb. Then formatting and clippy. Exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n=== %s (+%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "setup"
scripts/setup.sh --zou

step "ui: type check, unit tests, build"
(cd ui && npm run check && npm test && npm run build)

# Every cargo call selects the same packages and features, so dependencies are compiled once:
# a call with another feature set (the CLI's, a test server's hyper) would rebuild half the tree.
CARGO_SCOPE=(--workspace --features framenote-sync/cli)

step "build the app, the headless CLI and every test"
cargo build "${CARGO_SCOPE[@]}" --bins
cargo test "${CARGO_SCOPE[@]}" --no-run
# The CLI tests drive this binary instead of building their own.
export FRAMENOTE_CLI="${CARGO_TARGET_DIR:-$PWD/target}/debug/framenote-cli"

step "tests (under Xvfb)"
xvfb-run -a -s "-screen 0 1440x900x24" cargo test "${CARGO_SCOPE[@]}" -- --test-threads=2

step "format and lints"
cargo fmt --all -- --check
cargo clippy "${CARGO_SCOPE[@]}" --all-targets -- -D warnings

step "all tests passed"
