#!/usr/bin/env bash
# Install qrscope into .venv (with the system libraries a Qt window needs) and
# run it. With no arguments: the demo against the embedded demo PACS.
# Arguments go to qrscope, e.g. scripts/run-app.sh find --node "My PACS"
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" app  # no extras; keeps our arguments from setup-env
exec .venv/bin/qrscope "$@"
