#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The "stock" kernel: Debian's current kernel, the version the installed
# linux-headers-amd64 depends on, resolved at run time (never hard-coded).
#
#   stock-kernel.sh [-a amd64|arm64] [version|image|headers|busybox]
#
#   version  its release, e.g. 6.1.0-56-amd64 (the default)
#   image    fetch its vmlinuz into the cache (once) and print the path
#   headers  the tree to build modules against: /usr/src for amd64; for
#            arm64 the linux-headers package of the same ABI, fetched and
#            unpacked into the cache, its scripts pointing at the host's
#            own linux-kbuild (same version); build with ARCH=arm64
#            CROSS_COMPILE=aarch64-linux-gnu-
#   busybox  a static busybox for the VM (arm64: busybox-static:arm64
#            unpacked into the cache)
#
# arm64 packages come from the archive with apt-get download and are only
# unpacked (dpkg -x), never installed; that needs
# "dpkg --add-architecture arm64" (tools/setup.sh does it).
set -euo pipefail

arch=amd64
if [ "${1:-}" = -a ]; then
	arch=$2
	shift 2
fi
what=${1:-version}
case $arch in
amd64|arm64) ;;
*) echo "stock-kernel: unknown architecture $arch" >&2; exit 1 ;;
esac

# Both architectures use the ABI of the host's amd64 headers, so that the
# host's linux-kbuild (which comes with them) matches the arm64 headers.
kver=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
	sed -n 's/.*linux-headers-\([^ ,]*\)-amd64.*/\1/p')
[ -n "$kver" ] || { echo "stock-kernel: install linux-headers-amd64" >&2; exit 1; }
kver=$kver-$arch
cache=${KCORO_CACHE:-$HOME/.cache/kcoro}
dir=$cache/stock-$kver

# fetch <package> <dest>: download one arm64/amd64 package and unpack it.
fetch() {
	local tmp
	tmp=$(mktemp -d "$cache/deb.XXXXXX")
	(cd "$tmp" && apt-get download -q "$1" >&2)
	mkdir -p "$2"
	dpkg -x "$tmp"/*.deb "$2"
	rm -rf "$tmp"
}

mkdir -p "$cache"
case $what in
version)
	echo "$kver"
	;;
image)
	img=$dir/boot/vmlinuz-$kver
	if [ ! -f "$img" ]; then
		pkg=linux-image-$kver
		[ "$arch" = amd64 ] || pkg=$pkg:$arch
		fetch "$pkg" "$dir"
		rm -rf "$dir/lib"
	fi
	echo "$img"
	;;
headers)
	if [ "$arch" = amd64 ]; then
		echo "/usr/src/linux-headers-$kver"
		exit 0
	fi
	hdr=$dir/headers/usr/src/linux-headers-$kver
	if [ ! -f "$dir/headers/done" ]; then
		rm -rf "$dir/headers"
		fetch "linux-headers-$kver:$arch" "$dir/headers"
		kbuild=$(readlink "$hdr/scripts")	# ../../lib/linux-kbuild-X/scripts
		kbuild=/usr/lib/$(basename "$(dirname "$kbuild")")
		[ -d "$kbuild/scripts" ] ||
			{ echo "stock-kernel: $kbuild missing (linux-headers-amd64)" >&2; exit 1; }
		ln -sfn "$kbuild/scripts" "$hdr/scripts"
		ln -sfn "$kbuild/tools" "$hdr/tools"
		touch "$dir/headers/done"
	fi
	echo "$hdr"
	;;
busybox)
	if [ "$arch" = amd64 ]; then
		command -v busybox || echo /bin/busybox
		exit 0
	fi
	bb=$cache/busybox-$arch/bin/busybox
	if [ ! -x "$bb" ]; then
		rm -rf "$cache/busybox-$arch"
		fetch "busybox-static:$arch" "$cache/busybox-$arch"
	fi
	echo "$bb"
	;;
*)
	echo "stock-kernel: unknown request $what" >&2
	exit 1
	;;
esac
