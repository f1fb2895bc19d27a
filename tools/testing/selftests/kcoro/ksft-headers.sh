#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Copy kselftest.h and kselftest_harness.h of Linux 6.12 into DIR, from
# the first of: an unpacked linux-source-6.12 in $KCORO_CACHE/src, a test
# kernel tree built by tools/vm/build-kernel.sh ($KCORO_CACHE/<name>-<key>/
# linux), or the linux-source-6.12 tarball itself (two members only).
#
# Usage: ksft-headers.sh DIR
set -euo pipefail

dir=$1
cache=${KCORO_CACHE:-$HOME/.cache/kcoro}
rel=tools/testing/selftests
hdrs=(kselftest.h kselftest_harness.h)
mkdir -p "$dir"

for tree in "$cache"/src/linux-source-6.12 "$cache"/*/linux; do
	if [ -f "$tree/$rel/kselftest_harness.h" ] && [ -f "$tree/$rel/kselftest.h" ]; then
		for h in "${hdrs[@]}"; do cp "$tree/$rel/$h" "$dir/$h.tmp"; done
		for h in "${hdrs[@]}"; do mv "$dir/$h.tmp" "$dir/$h"; done
		exit 0
	fi
done

tarball=$(find /usr/src -maxdepth 1 -name 'linux-source-6.12.tar.*' | head -1)
[ -n "$tarball" ] || { echo "ksft-headers: install linux-source-6.12" >&2; exit 1; }
echo "ksft-headers: extracting the kselftest headers from $tarball" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xf "$tarball" -C "$tmp" "${hdrs[@]/#/linux-source-6.12/$rel/}"
for h in "${hdrs[@]}"; do mv "$tmp/linux-source-6.12/$rel/$h" "$dir/$h"; done
