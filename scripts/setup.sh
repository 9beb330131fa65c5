#!/usr/bin/env bash
# Installs what Framenote needs on a fresh Debian 12 / Ubuntu machine, and only what is missing.
# Used by `make run` and `make test` (and so by .ci/run). Idempotent: a second run installs nothing.
#
#   scripts/setup.sh            system packages + UI node modules + tauri-driver
#   scripts/setup.sh --zou      also the Zou (Kitsu server) virtualenv for the integration tests
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Build: WebKitGTK 4.1 (Tauri), GStreamer 1.22 dev headers (player crate), OpenSSL (reqwest native roots).
# Runtime: GStreamer plugins (base/good/bad/ugly/libav), ffmpeg (corpus + demo generation, Zou).
# Tests: Xvfb + WebKitWebDriver for the real-window tests, imagemagick for screenshots,
#        PostgreSQL + Redis + python venv for a real Zou server.
APT_PACKAGES=(
  build-essential pkg-config libssl-dev curl openssl ca-certificates
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  ffmpeg xvfb xauth webkit2gtk-driver imagemagick xdotool dbus-x11
  libsecret-1-dev libdbus-1-dev dbus gnome-keyring fonts-dejavu-core
)
ZOU_APT_PACKAGES=(postgresql redis-server python3-venv)

want_zou=0
[ "${1:-}" = "--zou" ] && want_zou=1

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
pkgs=("${APT_PACKAGES[@]}")
[ $want_zou -eq 1 ] && pkgs+=("${ZOU_APT_PACKAGES[@]}")
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -q
  sudo_if_needed apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node: the machine's own Node.js (20+) is used; Debian's is installed only when there is none.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm"
  sudo_if_needed apt-get install -y -q --no-install-recommends nodejs npm
fi

# UI packages: reinstall when package-lock.json changed since the last install.
if [ -f ui/package-lock.json ]; then
  stamp=ui/node_modules/.framenote-lock-stamp
  if [ ! -f "$stamp" ] || ! cmp -s ui/package-lock.json "$stamp"; then
    echo "setup: npm ci in ui/"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
    cp ui/package-lock.json "$stamp"
  fi
fi

# tauri-driver bridges WebDriver to WebKitWebDriver for the real-window tests.
if [ ! -x .tools/bin/tauri-driver ]; then
  echo "setup: cargo install tauri-driver into .tools/"
  cargo install tauri-driver --version '^2' --locked --root "$ROOT/.tools" --quiet
fi

# The real Kitsu server (Zou) for the integration tests.
if [ $want_zou -eq 1 ] && [ -x scripts/zou.sh ]; then
  scripts/zou.sh install
fi
