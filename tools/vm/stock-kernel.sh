#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Print the version of Debian's current amd64 kernel headers (the "stock"
# kernel), or with "image" fetch that kernel's vmlinuz into the cache (once)
# and print its path.  Versions are resolved from linux-headers-amd64 at run
# time, never hard-coded.
set -euo pipefail

kver=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
	sed -n 's/.*linux-headers-\([^ ,]*-amd64\).*/\1/p')
[ -n "$kver" ] || { echo "stock-kernel: install linux-headers-amd64" >&2; exit 1; }
if [ "${1:-}" != image ]; then
	echo "$kver"
	exit 0
fi

dir=${KCORO_CACHE:-$HOME/.cache/kcoro}/stock-$kver
img=$dir/boot/vmlinuz-$kver
if [ ! -f "$img" ]; then
	mkdir -p "$dir/deb"
	(cd "$dir/deb" && apt-get download -q "linux-image-$kver" >&2)
	dpkg -x "$dir"/deb/linux-image-"$kver"_*.deb "$dir"
	rm -rf "$dir/deb" "$dir/lib"
fi
echo "$img"
