#!/usr/bin/env bash
# Install everything the tests need (Debian packages, a venv in .venv) and run
# the whole suite. Extra arguments go to pytest, e.g. scripts/run-tests.sh -k find
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" test
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
