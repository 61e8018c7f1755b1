#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png from the real window on a virtual X screen.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" test
command -v Xvfb >/dev/null && command -v import >/dev/null || {
  echo "needs xvfb and imagemagick (apt-get install xvfb imagemagick)" >&2; exit 2; }
display=:97
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp &
xvfb=$!
trap 'kill $xvfb' EXIT
sleep 1
export XDG_CONFIG_HOME XDG_DATA_HOME
XDG_CONFIG_HOME=$(mktemp -d) XDG_DATA_HOME=$(mktemp -d)
DISPLAY=$display QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py
