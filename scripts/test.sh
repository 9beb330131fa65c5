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

step "build the app and every test"
cargo build --bin framenote
cargo build -p framenote-sync --features cli --bin framenote-cli
cargo test --workspace --no-run

step "tests (under Xvfb)"
xvfb-run -a -s "-screen 0 1440x900x24" cargo test --workspace -- --test-threads=2

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "all tests passed"
