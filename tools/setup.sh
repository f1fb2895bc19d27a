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
	# userspace: libkcoro, kselftests and demo, static 64- and 32-bit
	# (gcc-12-multilib: gcc-multilib conflicts with cross compilers)
	gcc-12-multilib libc6-dev-i386
)
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}"
