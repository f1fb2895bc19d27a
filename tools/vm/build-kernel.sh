#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) a kcoro test kernel from Debian's linux-source-6.12 and
# print the path of its build tree.  The tree is cached outside the
# repository, keyed by the source tarball and the config fragment, so a
# second run reuses it:
#
#   $KCORO_CACHE/<name>-<hash>/linux   (bzImage or Image, Module.symvers,
#                                       kunit.py)
#
# where kcoro-<name>.config is the fragment (debug: KASAN + lockdep;
# kcsan: the race detector, which excludes KASAN; debug-arm64: the debug
# kernel for arm64).
#
# Usage: build-kernel.sh [-a x86_64|arm64] <config-fragment>
#
# -a arm64 cross-builds with ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
# (gcc-aarch64-linux-gnu); modules for that tree need the same two
# variables.  The kernel builds run under nice, with one job per CPU.
set -euo pipefail

arch=x86_64
if [ "${1:-}" = -a ]; then
	arch=$2
	shift 2
fi
case $arch in
x86_64)	kmake=(make) image=bzImage ;;
arm64)	kmake=(make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-) image=Image ;;
*)	echo "build-kernel: unknown architecture $arch" >&2; exit 1 ;;
esac
frag=$(realpath "$1")
cache=${KCORO_CACHE:-$HOME/.cache/kcoro}
tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -1)
[ -n "$tarball" ] || { echo "build-kernel: install linux-source-6.12" >&2; exit 1; }

# x86_64 keys stay what they were, so existing caches remain valid.
key=$( (basename "$tarball"; stat -c %s "$tarball"; cat "$frag"
	[ "$arch" = x86_64 ] || echo "$arch") | sha256sum | cut -c1-16)
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
"${kmake[@]}" -C "$tree" -s tinyconfig >&2
"$tree"/scripts/kconfig/merge_config.sh -m -O "$tree" "$tree/.config" "$frag" \
	>"$dir/merge.log" 2>&1
"${kmake[@]}" -C "$tree" -s olddefconfig >&2

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

log "building $image and modules for $arch with $(nproc) jobs (a few minutes)"
nice -n 10 "${kmake[@]}" -C "$tree" -s -j"$(nproc)" "$image" modules >&2
touch "$dir/done"
echo "$tree"
