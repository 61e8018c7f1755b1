#!/usr/bin/env bash
# Remove a qrscope installed by install.sh: the program folder, the command,
# the menu entry, the icon and the metainfo. Settings (~/.config/qrscope) and
# received files (~/.local/share/qrscope/received, or the storage folder set
# in the window) stay; the last lines say where, to delete them by hand.
# Usage: uninstall.sh [--prefix DIR]    (default: the install this script is
#        part of, else ~/.local)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
lib=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) lib="${2:?--prefix needs a folder}/lib/qrscope"; shift 2 ;;
    --prefix=*) lib="${1#*=}/lib/qrscope"; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$lib" ]; then
  if [ -f "$here/installed-files.txt" ]; then lib=$here; else lib="$HOME/.local/lib/qrscope"; fi
fi
manifest="$lib/installed-files.txt"
if [ ! -f "$manifest" ]; then
  echo "uninstall.sh: no qrscope installed by install.sh in $lib" >&2
  exit 1
fi

while IFS= read -r file; do
  [ -n "$file" ] || continue
  if [ -L "$file" ]; then
    # The command is ours only while it still points into this install.
    case "$(readlink "$file")" in "$lib"/*) rm -f "$file" ;; esac
  elif [ -f "$file" ]; then
    rm -f "$file"
  fi
  case "$file" in
    */applications/qrscope.desktop)
      if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$(dirname "$file")" || true
      fi ;;
  esac
done < "$manifest"
rm -rf "$lib"

echo "qrscope removed from $lib"
echo "kept: settings in ${XDG_CONFIG_HOME:-$HOME/.config}/qrscope;" \
  "received files in ${XDG_DATA_HOME:-$HOME/.local/share}/qrscope/received" \
  "or the storage folder set in the window"
