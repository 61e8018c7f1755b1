#!/usr/bin/env bash
# Shared set-up for the run and test scripts: Debian packages (when we may
# install them), a virtual environment in .venv, and qrscope installed into it.
# Usage: source scripts/setup-env.sh [test] [package]
#   test:    the test tools, and the DICOM servers the tests run against
#   package: the build tools (build, PyInstaller) and what checks the packages
set -euo pipefail

QRSCOPE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$QRSCOPE_ROOT"

qrscope_extras=()
for arg in "$@"; do
  case "$arg" in test|package) qrscope_extras+=("$arg") ;; esac
done
wants() { [[ " ${qrscope_extras[*]-} " == *" $1 "* ]]; }

PYTHON=${PYTHON:-python3}

# What a real Qt window needs on a bare Debian/Ubuntu (the xcb platform plugin),
# the DICOM servers the interoperability tests run against, and the tools the
# network tests use to build namespaces.
DEBIAN_PACKAGES=(python3-venv python3-pip
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-xinerama0
  libxcb-randr0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 libegl1
  libgl1 libfontconfig1 libdbus-1-3)
if wants test; then
  # tcpdump: the batch benchmark reads the PACS's own C-MOVE time off the wire.
  DEBIAN_PACKAGES+=(orthanc dcmtk xvfb iproute2 iptables tcpdump)
fi
if wants package; then
  # binutils: PyInstaller reads the libraries with objdump; appstream and
  # desktop-file-utils: the validators of the metainfo and .desktop files;
  # iproute2: the smoke test finds the window's ports with ss.
  DEBIAN_PACKAGES+=(binutils appstream desktop-file-utils iproute2)
  # PyInstaller bundles libpython; Debian's own python3.X keeps it apart.
  case "$(readlink -f "$(command -v "$PYTHON" || true)")" in
    /usr/bin/python3*)
      DEBIAN_PACKAGES+=("libpython$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
      ;;
  esac
fi

install_debian_packages() {
  command -v dpkg >/dev/null 2>&1 || return 0
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "qrscope: please install: ${missing[*]}" >&2; return 0; fi
  fi
  echo "qrscope: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  # The orthanc package starts a system service on install where it can;
  # the tests start their own instances on free ports, so that is harmless.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

install_debian_packages

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "qrscope needs Python 3.11 or newer; $("$PYTHON" --version 2>&1) found." >&2
  echo "Set PYTHON=/path/to/python3.11 and run again." >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extra=""
stamp=".venv/.installed"
if [ ${#qrscope_extras[@]} -gt 0 ]; then
  extra="[$(IFS=,; echo "${qrscope_extras[*]}")]"
  stamp+=$(printf -- '-%s' "${qrscope_extras[@]}")
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".${extra}"
  touch "$stamp"
fi
