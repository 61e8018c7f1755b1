#!/usr/bin/env bash
# Build everything users install, once, into dist/:
#   qrscope-<version>-py3-none-any.whl, qrscope-<version>.tar.gz   (python -m build:
#       the sdist, then the wheel built from it, so the sdist is proven complete)
#   qrscope/ and qrscope-<version>-linux-<arch>.tar.gz             (packaging/build-linux.sh)
# scripts/smoke-packages.sh then tries them from outside the checkout.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" package

rm -f dist/qrscope-*.whl dist/qrscope-*.tar.gz
mkdir -p build
start=$SECONDS
.venv/bin/python -m build --outdir dist . >build/python-build.log 2>&1 || {
  cat build/python-build.log >&2; exit 1; }
echo "built $(cd dist && ls qrscope-*.whl qrscope-*[0-9].tar.gz | tr '\n' ' ')in $((SECONDS - start)) s"
start=$SECONDS
packaging/build-linux.sh
echo "bundle built in $((SECONDS - start)) s"
