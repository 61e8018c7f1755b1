#!/usr/bin/env bash
# Install this qrscope bundle for the current user; no root needed.
#   the program      ~/.local/lib/qrscope/          a copy of this folder
#   the command      ~/.local/bin/qrscope           a link to the program
#   the menu entry   ~/.local/share/applications/qrscope.desktop
#   the icon         ~/.local/share/icons/hicolor/scalable/apps/qrscope.svg
#   the metainfo     ~/.local/share/metainfo/io.github.qrscope.qrscope.metainfo.xml
# (~/.local/share is $XDG_DATA_HOME when that is set.) Run it again to update;
# ~/.local/lib/qrscope/uninstall.sh removes all of it. Neither touches settings
# or received files.
# Usage: ./install.sh [--prefix DIR]    (default ~/.local: DIR/lib/qrscope, DIR/bin)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix="$HOME/.local"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
prefix=$(mkdir -p "$prefix" && cd "$prefix" && pwd)
data="${XDG_DATA_HOME:-$HOME/.local/share}"
lib="$prefix/lib/qrscope"
bin="$prefix/bin"

is_bundle() { [ -x "$1/qrscope" ] && [ -d "$1/_internal/qrscope/resources" ]; }
is_bundle "$here" || {
  echo "install.sh: run the install.sh of an unpacked qrscope bundle" \
    "(the qrscope program and _internal/ beside it)" >&2
  exit 2
}

if [ "$here" != "$lib" ]; then
  if [ -e "$lib" ] && ! is_bundle "$lib"; then
    echo "install.sh: $lib exists and is not a qrscope bundle; not replacing it" >&2
    exit 1
  fi
  # Copy beside the old install, then swap: a failed copy leaves the old one working.
  mkdir -p "$prefix/lib"
  rm -rf "$lib.new"
  cp -a "$here" "$lib.new"
  rm -rf "$lib"
  mv "$lib.new" "$lib"
fi

resources="$lib/_internal/qrscope/resources"
desktop="$data/applications/qrscope.desktop"
icon="$data/icons/hicolor/scalable/apps/qrscope.svg"
metainfo="$data/metainfo/io.github.qrscope.qrscope.metainfo.xml"
mkdir -p "$bin" "$(dirname "$desktop")" "$(dirname "$icon")" "$(dirname "$metainfo")"

ln -sfn "$lib/qrscope" "$bin/qrscope"
# The menu entry starts this copy by its full path: the PATH of a desktop
# session often lacks ~/.local/bin. (Desktop Entry spec: a quoted argument
# escapes ", `, $ and \ with a backslash.)
exec_path=$(printf '%s' "$lib/qrscope" | sed 's/[\\"`$]/\\&/g')
while IFS= read -r line; do
  case "$line" in
    Exec=*) printf 'Exec="%s" gui\n' "$exec_path" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$resources/qrscope.desktop" > "$desktop"
install -m 644 "$resources/qrscope.svg" "$icon"
install -m 644 "$resources/io.github.qrscope.qrscope.metainfo.xml" "$metainfo"
# A newer folder time makes running desktops look for the new icon.
touch "$data/icons/hicolor"
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$(dirname "$desktop")" || true
fi

# What uninstall.sh removes, whatever XDG_DATA_HOME says by then.
printf '%s\n' "$bin/qrscope" "$desktop" "$icon" "$metainfo" > "$lib/installed-files.txt"

echo "qrscope installed in $lib"
echo "  command:    $bin/qrscope"
echo "  menu entry: $desktop"
echo "  uninstall:  $lib/uninstall.sh"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "note: $bin is not on your PATH; add it, or run $bin/qrscope" ;;
esac
