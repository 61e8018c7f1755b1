#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png from the real window on a virtual X screen:
# the README's pictures at 1400x900, and the main window at 1024x768, at
# 1920x1080, and at 1920x1080 with 2x scaling (a 3840x2160 screen).
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" test
command -v Xvfb >/dev/null || { echo "needs xvfb (apt-get install xvfb)" >&2; exit 2; }
display=:97

# shoot SCREEN_SIZE WINDOW_SIZE SUFFIX SCALE
shoot() {
  Xvfb "$display" -screen 0 "$1x24" -nolisten tcp &
  local xvfb=$!
  sleep 1
  # A fresh home each time: no saved layout, no images from an earlier run.
  XDG_CONFIG_HOME=$(mktemp -d) XDG_DATA_HOME=$(mktemp -d) \
    QRSCOPE_SHOT_SIZE=$2 QRSCOPE_SHOT_SUFFIX=$3 QT_SCALE_FACTOR=$4 \
    DISPLAY=$display QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py || {
      kill "$xvfb"; return 1; }
  kill "$xvfb"
  wait "$xvfb" 2>/dev/null || true
}

shoot 1400x900 1400x900 "" 1
shoot 1024x768 1024x768 -1024x768 1
shoot 1920x1080 1920x1080 -1920x1080 1
shoot 3840x2160 1920x1080 -1920x1080@2x 2
