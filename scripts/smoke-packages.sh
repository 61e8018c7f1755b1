#!/usr/bin/env bash
# Try what scripts/build-packages.sh built, as a user would, from a scratch
# folder outside the checkout with a clean environment (no PYTHONPATH, no
# .venv, an empty home):
#   the wheel, pip-installed into a fresh venv, and the Linux bundle, unpacked
#   from its tar.gz, each: --version; the command-line demo (echo, find, C-MOVE,
#   C-GET against the built-in demo PACS); the window, offscreen, with the demo
#   PACS, searched from outside while it runs, then closed by --quit-after and
#   exiting with 0.
#   The bundle also: install.sh into the scratch home, the installed .desktop
#   entry and AppStream metainfo validated, the installed command run, and
#   uninstall.sh leaving nothing behind.
# Any failure stops with a message and exit 1. CI (.ci/run) runs it every time.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" package
root=$PWD

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' app/qrscope/__init__.py)
wheel="$root/dist/qrscope-$version-py3-none-any.whl"
archive="$root/dist/qrscope-$version-linux-$(uname -m).tar.gz"
for built in "$wheel" "$archive"; do
  [ -f "$built" ] || { echo "smoke: $built is missing; run scripts/build-packages.sh" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/qrscope-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV

fail() { echo "smoke FAILED: $*" >&2; exit 1; }
step() { echo "smoke: $*"; }

# Run a program the way a fresh login would: only PATH, a scratch home and
# the XDG folders inside it.
clean_env=(env -i PATH="/usr/bin:/bin" HOME="$work/home" LANG=C.UTF-8
  XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share"
  XDG_CACHE_HOME="$work/home/.cache")
clean() { "${clean_env[@]}" "$@"; }

check_version() {  # program
  local out
  out=$(clean "$1" --version) || fail "$1 --version exited with $?"
  [[ "$out" == "qrscope $version (pydicom "*", pynetdicom "*", PySide6 "*", Python "* ]] ||
    fail "$1 --version printed: $out"
  # The pixel data plugins are imported by name at run time: a bundle that
  # lost one says so on this line (core/imaging/decoders.py: pixel_support).
  grep -q '^pixel data: decodes every syntax a PACS sends' <<<"$out" ||
    fail "$1 --version: the pixel data plugins did not all load: $(grep '^pixel data' <<<"$out")"
  step "$out"
}

check_demo() {  # program name
  local out="$work/$2-demo.txt" received="$work/$2-received" status=0
  mkdir -p "$received"
  clean timeout 300 "$1" demo --out "$received" >"$out" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { cat "$out" >&2; fail "$2: qrscope demo exited with $status"; }
  grep -q '^answered in' "$out" || fail "$2: no C-ECHO answer in the demo"
  grep -Eq '^== C-MOVE' "$out" && grep -Eq '^success: [1-9][0-9]* instance\(s\) received over [1-9]' "$out" ||
    { cat "$out" >&2; fail "$2: the demo's C-MOVE brought nothing"; }
  grep -Eq '^== C-GET' "$out" && grep -Eq '^success: [1-9][0-9]* instance\(s\) received$' "$out" ||
    { cat "$out" >&2; fail "$2: the demo's C-GET brought nothing"; }
  step "$2: demo: echo, find, C-MOVE, C-GET; $(find "$received" -name '*.dcm' | wc -l) files received"
}

# The window with the demo PACS (a first start), offscreen; while it runs, the
# demo PACS it started is found among its listening ports and searched with
# the installed command line; --quit-after closes it as a user would.
check_window() {  # program name
  local config="$work/$2-window" log="$work/$2-window.txt" pid port found="" deadline
  # Not through clean(): $! must be the program's own process id (env execs it).
  "${clean_env[@]}" XDG_CONFIG_HOME="$config" QT_QPA_PLATFORM=offscreen \
    "$1" gui --quit-after 15 >"$log" 2>&1 &
  pid=$!
  deadline=$((SECONDS + 30))
  while [ -z "$found" ] && kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 1
    for port in $(ss -ltnpH 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | sed 's/.*://'); do
      if clean timeout 30 "$1" find --host 127.0.0.1 --port "$port" --called-aet DEMOPACS \
          --json 2>/dev/null | grep -Eq '"count": [1-9]'; then
        found=$port
        break
      fi
    done
  done
  local status=0
  timeout 60 tail --pid="$pid" -f /dev/null || { kill "$pid"; fail "$2: the window did not close"; }
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || { cat "$log" >&2; fail "$2: the window exited with $status"; }
  ! grep -q Traceback "$log" || { cat "$log" >&2; fail "$2: the window printed a traceback"; }
  [ -n "$found" ] || { cat "$log" >&2; fail "$2: the window's demo PACS did not answer a search"; }
  [ -f "$config/qrscope/profiles.json" ] || fail "$2: closing the window saved no profiles"
  step "$2: window: the demo PACS it started answered on port $found; closed cleanly"
}

# The wheel, in a fresh venv (dependencies from the package index as usual).
start=$SECONDS
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" 2>&1 | { grep -v 'is ignored' || true; } >&2
where=$(clean "$work/venv/bin/python" -c \
  'import qrscope.ui.resources as r; assert r.icon_path("qrscope.svg").is_file(); print(r.__file__)')
[[ "$where" == "$work/venv/"* ]] || fail "the wheel's qrscope was imported from $where"
step "wheel: installed in a fresh venv in $((SECONDS - start)) s"
check_version "$work/venv/bin/qrscope"
check_demo "$work/venv/bin/qrscope" wheel
check_window "$work/venv/bin/qrscope" wheel

# The bundle, from its archive alone.
mkdir "$work/bundle"
tar -C "$work/bundle" -xzf "$archive"
bundle="$work/bundle/qrscope"
check_version "$bundle/qrscope"
check_demo "$bundle/qrscope" bundle
check_window "$bundle/qrscope" bundle

# Install for the (scratch) user, check what landed where, uninstall.
data="$work/home/.local/share"
installed=("$work/home/.local/bin/qrscope" "$data/applications/qrscope.desktop"
  "$data/icons/hicolor/scalable/apps/qrscope.svg"
  "$data/metainfo/io.github.qrscope.qrscope.metainfo.xml")
clean "$bundle/install.sh" >/dev/null || fail "install.sh exited with $?"
for file in "${installed[@]}"; do [ -e "$file" ] || fail "install.sh did not create $file"; done
desktop-file-validate "$data/applications/qrscope.desktop" || fail "the installed .desktop entry"
appstreamcli validate --no-net "$data/metainfo/io.github.qrscope.qrscope.metainfo.xml" >/dev/null ||
  fail "appstreamcli rejects the metainfo"
check_version "$work/home/.local/bin/qrscope"
clean "$work/home/.local/lib/qrscope/uninstall.sh" >/dev/null || fail "uninstall.sh exited with $?"
for file in "${installed[@]}" "$work/home/.local/lib/qrscope"; do
  [ ! -e "$file" ] && [ ! -L "$file" ] || fail "uninstall.sh left $file"
done
step "bundle: install.sh, validated .desktop and metainfo, uninstall.sh"
echo "smoke: the wheel and the Linux bundle work from outside the checkout"
