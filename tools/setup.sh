#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing kcoro needs on Debian 12 (as root, or
# through sudo).  Versions come from the archive at run time.
set -euo pipefail

pkgs=(
	# the module against the stock kernel, and its VM
	linux-headers-amd64 qemu-system-x86 busybox-static cpio gzip file
	# the debug kernel (KUnit, KASAN, lockdep) and its tools
	linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev
	python3 perl rsync xz-utils kmod
	# static checks
	sparse git
	# make profile: perf for the stock kernel, copied into its VM
	linux-perf
	# userspace: libkcoro, kselftests and demo, static 64- and 32-bit
	# (gcc-12-multilib: gcc-multilib conflicts with cross compilers)
	gcc-12-multilib libc6-dev-i386
	# arm64: cross compiler and QEMU; the arm64 kernel, headers and
	# busybox are fetched with apt-get download (tools/vm/stock-kernel.sh)
	gcc-aarch64-linux-gnu qemu-system-arm
	# the arm64 kselftests: static cross-built programs
	libc6-dev-arm64-cross linux-libc-dev-arm64-cross
)
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
# arm64 packages are only downloaded and unpacked, never installed.
dpkg --print-foreign-architectures | grep -qx arm64 ||
	$sudo dpkg --add-architecture arm64
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}"
