#!/usr/bin/env bash
# Build the Linux one-folder bundle with PyInstaller:
#   dist/qrscope/                               the program, its libraries, install.sh,
#                                               uninstall.sh and README.txt
#   dist/qrscope-<version>-linux-<arch>.tar.gz  the same folder, to hand out
# Needs nothing but this checkout: the build tools go into .venv (setup-env.sh package).
# Extra arguments go to pyinstaller, e.g. --clean.
set -euo pipefail
source "$(dirname "$0")/../scripts/setup-env.sh" package

version=$(.venv/bin/python -c 'import sys; sys.path.insert(0, "app"); import qrscope; print(qrscope.__version__)')
archive="dist/qrscope-${version}-linux-$(uname -m).tar.gz"

rm -rf dist/qrscope "$archive"
.venv/bin/pyinstaller --noconfirm --log-level WARN --distpath dist \
  --workpath build/pyinstaller "$@" packaging/qrscope.spec
install -m 755 packaging/linux/install.sh packaging/linux/uninstall.sh dist/qrscope/
install -m 644 packaging/linux/README.txt dist/qrscope/
tar -C dist -czf "$archive" qrscope
echo "built dist/qrscope/ ($(du -sh dist/qrscope | cut -f1)) and $archive ($(du -sh "$archive" | cut -f1))"
