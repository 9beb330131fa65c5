#!/usr/bin/env bash
# `bash scripts/run.sh`: installs what is missing, builds, and opens Framenote on the built-in demo
# library. Extra arguments go to the app (e.g. `--data-dir /tmp/fn` for a throwaway profile).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
(cd ui && npm run build --silent)
cargo build --bin framenote
exec target/debug/framenote "$@"
