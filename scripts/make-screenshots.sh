#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png from the real window on a virtual X screen
# without a window manager, from a fresh start (a new home, the demo PACS):
# the README's pictures on a 1400x900 screen, and the main window on 1024x768,
# on 1920x1080, and on 1920x1080 with 2x scaling (a 3840x2160 screen). The
# window sizes itself to the screen, as on a user's first start.
# PYTHON=path/to/python skips the set-up (a ready environment with qrscope).
set -euo pipefail
if [[ -z "${PYTHON:-}" ]]; then
  source "$(dirname "$0")/setup-env.sh" test
  PYTHON=.venv/bin/python
else
  cd "$(dirname "$0")/.."
fi
command -v Xvfb >/dev/null || { echo "needs xvfb (apt-get install xvfb)" >&2; exit 2; }
display=${SHOT_DISPLAY:-:97}

# shoot SCREEN_SIZE SUFFIX SCALE
shoot() {
  Xvfb "$display" -screen 0 "$1x24" -nolisten tcp &
  local xvfb=$!
  sleep 1
  # A fresh home each time: no saved layout, no images from an earlier run.
  local home
  home=$(mktemp -d)
  HOME=$home XDG_CONFIG_HOME=$home/.config XDG_DATA_HOME=$home/.local/share \
    QRSCOPE_SHOT_SUFFIX=$2 QT_SCALE_FACTOR=$3 \
    DISPLAY=$display QT_QPA_PLATFORM=xcb "$PYTHON" scripts/screenshots.py || {
      kill "$xvfb"; return 1; }
  kill "$xvfb"
  wait "$xvfb" 2>/dev/null || true
}

shoot 1400x900 "" 1
shoot 1024x768 -1024x768 1
shoot 1920x1080 -1920x1080 1
shoot 3840x2160 -1920x1080@2x 2
