#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kcoro's static checks; any finding fails:
#  - checkpatch.pl --strict on every source file,
#  - W=1 + sparse (C=2) builds against the stock and the debug kernel,
#    including modpost and objtool, with no warning at all.
#
# Usage: lint.sh <stock kernel dir> <debug kernel tree>
set -euo pipefail

stock=$1 debug=$2
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/lint
fail=0

cd "$top"
mapfile -t srcs < <(git ls-files --cached --others --exclude-standard 'kernel/*.[chS]' 'include/*.h' 'tools/lib/*.[ch]' \
	'tools/testing/selftests/*.[ch]' 'tools/demo/*.c' 'tools/bench/*.c' 2>/dev/null || find kernel include -name '*.[chS]')
# Trace event headers are macro tables checkpatch cannot read (every
# TRACE_EVENT in the kernel trips its alignment checks); the compilers and
# sparse below still check them.
mapfile -t srcs < <(printf '%s\n' "${srcs[@]}" | grep -v '^kernel/trace\.h$')
echo "lint: checkpatch --strict on ${#srcs[@]} files"
if ! "$debug"/scripts/checkpatch.pl --strict --no-tree --quiet --terse \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f "${srcs[@]}"; then
	fail=1
fi

for k in stock debug; do
	kdir=$stock
	[ $k = debug ] && kdir=$debug
	dir=$out/$k
	mkdir -p "$dir"
	rsync -a --delete Kbuild Makefile kernel include "$dir/"
	echo "lint: W=1 C=2 build against $(basename "$kdir")"
	if ! make -s -C "$kdir" M="$dir" W=1 C=2 modules > "$dir/build.log" 2>&1; then
		cat "$dir/build.log"
		fail=1
	fi
	# The stock headers ship no vmlinux, so pahole's BTF step is skipped.
	if grep -v 'Skipping BTF generation' "$dir/build.log" | grep .; then
		echo "lint: the $k build printed the lines above"
		fail=1
	fi
done
[ $fail = 0 ] && echo "lint: clean"
exit $fail
