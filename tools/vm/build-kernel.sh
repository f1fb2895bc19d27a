#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) a kcoro test kernel from Debian's linux-source-6.12 and
# print the path of its build tree.  The tree is cached outside the
# repository, keyed by the source tarball and the config fragment, so a
# second run reuses it:
#
#   $KCORO_CACHE/<name>-<hash>/linux   (bzImage, Module.symvers, kunit.py)
#
# where kcoro-<name>.config is the fragment (debug: KASAN + lockdep;
# kcsan: the race detector, which excludes KASAN).
#
# Usage: build-kernel.sh <config-fragment>
set -euo pipefail

frag=$(realpath "$1")
cache=${KCORO_CACHE:-$HOME/.cache/kcoro}
tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -1)
[ -n "$tarball" ] || { echo "build-kernel: install linux-source-6.12" >&2; exit 1; }

key=$( (basename "$tarball"; stat -c %s "$tarball"; cat "$frag") |
	sha256sum | cut -c1-16)
name=$(basename "$frag" .config)
name=${name#kcoro-}
dir=$cache/$name-$key
tree=$dir/linux

if [ -f "$dir/done" ]; then
	echo "$tree"
	exit 0
fi

log() { echo "build-kernel: $*" >&2; }
rm -rf "$dir"
mkdir -p "$dir"
log "unpacking $tarball"
tar -C "$dir" -xf "$tarball"
mv "$dir"/linux-source-6.12 "$tree"

log "configuring (tinyconfig + $(basename "$frag"))"
make -C "$tree" -s tinyconfig >&2
"$tree"/scripts/kconfig/merge_config.sh -m -O "$tree" "$tree/.config" "$frag" \
	>"$dir/merge.log" 2>&1
make -C "$tree" -s olddefconfig >&2

# olddefconfig silently drops symbols whose dependencies are missing.
missing=0
while read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qx "$line" "$tree/.config" || { log "not set: $line"; missing=1; } ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		! grep -q "^$sym=" "$tree/.config" || { log "still set: $sym"; missing=1; } ;;
	esac
done < "$frag"
[ $missing = 0 ] || { log "config fragment not honoured"; exit 1; }

log "building bzImage and modules with $(nproc) jobs (a few minutes)"
make -C "$tree" -s -j"$(nproc)" bzImage modules >&2
touch "$dir/done"
echo "$tree"
