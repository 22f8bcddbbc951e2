#!/usr/bin/env bash
# System libraries a fresh Debian/Ubuntu machine lacks for napari under a virtual X server
# (Xvfb, Mesa GL/EGL, the xcb plugins of Qt 6). Safe to run twice; does nothing elsewhere.
set -euo pipefail
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: no apt-get here; install Xvfb and the Qt xcb libraries yourself" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
packages=(xvfb libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0
  libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
