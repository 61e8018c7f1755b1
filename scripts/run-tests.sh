#!/usr/bin/env bash
# Install everything the tests need (Debian packages, a venv in .venv) and run
# the whole suite twice: on qrscope's tuned pynetdicom engine and on stock
# pynetdicom (QRSCOPE_ENGINE=stock), the engine a user gets with a pynetdicom
# release the tuned one was not tested with. Extra arguments go to pytest,
# e.g. scripts/run-tests.sh -k find; a --junitxml=FILE.xml report is written
# once per engine, as FILE.tuned.xml and FILE.stock.xml.
# QRSCOPE_TEST_ENGINES="tuned" (or "stock") runs one of them only.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" test
export QT_QPA_PLATFORM=offscreen
status=0
for engine in ${QRSCOPE_TEST_ENGINES:-tuned stock}; do
  args=()
  for arg in "$@"; do
    case "$arg" in
      --junitxml=*) args+=("${arg%.xml}.$engine.xml") ;;
      *) args+=("$arg") ;;
    esac
  done
  echo "== the test suite on the $engine engine"
  start=$SECONDS
  QRSCOPE_ENGINE=$engine .venv/bin/python -m pytest "${args[@]}" || status=$?
  echo "== $engine engine: exit $status after $((SECONDS - start)) s"
done
exit "$status"
