#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kcoro's static checks; any finding fails:
#  - checkpatch.pl --strict on every source file,
#  - W=1 + sparse (C=2) builds against each kernel given, including
#    modpost and objtool, with no warning at all; arm64 trees are
#    cross-built (ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-).
#
# Usage: lint.sh [ARCH:]<kernel tree>...
#   e.g. lint.sh /usr/src/linux-headers-X-amd64 x86_64:<debug tree> \
#                arm64:<arm64 headers> arm64:<arm64 debug tree>
# (ARCH is x86_64, the default, or arm64; checkpatch uses the first tree
# that has scripts/checkpatch.pl.)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/lint
fail=0

cd "$top"
mapfile -t srcs < <(git ls-files --cached --others --exclude-standard 'kernel/*.[chS]' 'include/*.h' 'tools/lib/*.[ch]' \
	'tools/testing/selftests/*.[ch]' 'tools/testing/kcoro-lin/*.[ch]' 'tools/demo/*.c' 'tools/bench/*.c' 2>/dev/null || find kernel include -name '*.[chS]')
# Trace event headers are macro tables checkpatch cannot read (every
# TRACE_EVENT in the kernel trips its alignment checks); the compilers and
# sparse below still check them.
mapfile -t srcs < <(printf '%s\n' "${srcs[@]}" | grep -v '^kernel/trace\.h$')
checkpatch=
for t in "$@"; do
	kdir=${t#*:}
	if [ -f "$kdir/MAINTAINERS" ] && [ -x "$kdir/scripts/checkpatch.pl" ]; then
		checkpatch=$kdir/scripts/checkpatch.pl
		break
	fi
done
[ -n "$checkpatch" ] || { echo "lint: no kernel source tree with checkpatch.pl given"; exit 1; }
echo "lint: checkpatch --strict on ${#srcs[@]} files"
if ! "$checkpatch" --strict --no-tree --quiet --terse \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f "${srcs[@]}"; then
	fail=1
fi

# kernel-doc: no warning, and a kernel-doc comment for every exported
# symbol.
kdoc=${checkpatch%/checkpatch.pl}/kernel-doc
mapfile -t docsrcs < <(printf '%s\n' "${srcs[@]}" | grep -E '^(kernel/[^/]*\.c|include/.*\.h)$')
echo "lint: kernel-doc -Wall on ${#docsrcs[@]} files"
if "$kdoc" -none -Wall "${docsrcs[@]}" 2>&1 | grep .; then
	fail=1
fi
for sym in $(grep -ho 'EXPORT_SYMBOL[A-Z_]*([a-z_0-9]*)' kernel/*.c | sed 's/.*(\(.*\))/\1/'); do
	if ! grep -q "^ \* $sym() - " kernel/*.c include/linux/*.h; then
		echo "lint: exported $sym has no kernel-doc comment"
		fail=1
	fi
done

n=0
for t in "$@"; do
	arch=x86_64 kdir=$t
	case $t in *:*) arch=${t%%:*} kdir=${t#*:} ;; esac
	cross=()
	[ "$arch" = arm64 ] && cross=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
	k=$arch-$((n += 1))
	dir=$out/$k
	mkdir -p "$dir"
	rsync -a --delete Kbuild Makefile kernel include "$dir/"
	echo "lint: W=1 C=2 $arch build against $kdir"
	if ! make -s -C "$kdir" M="$dir" "${cross[@]}" W=1 C=2 modules > "$dir/build.log" 2>&1; then
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
