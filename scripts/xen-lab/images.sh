#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the Xen lab's images into the cache, from Debian packages only, and
# print the directory that holds them:
#
#   xen          the Xen 4.17 hypervisor (extracted from its package, never
#                installed on this machine), uncompressed for multiboot
#   vmlinuz      Debian's 6.1 kernel: dom0 and the domUs
#   dom0.cpio    dom0's root file system as an initramfs: a debootstrap of
#                bookworm with the Xen 4.17 tools, the libraries our QEMU
#                links against, the kernel modules dom0 needs
#   domU.cpio    the base of the domUs' initramfs: busybox, xen-blkfront,
#                xen-netfront, 9pnet_xen and 9p, and their dependencies (lab.py adds the
#                guest's init, tests/xen-lab/guest/init, at each run)
#   domU-tools.cpio  fio and iperf3 with their shared libraries, taken from
#                dom0's root: appended to domU.cpio for the guests that
#                measure (the peers scenario, bench-xen)
#
# The images are rebuilt only when their inputs change: this script, the
# package lists (which include the libraries of the QEMU binaries given as
# arguments) and the candidate versions of the kernel and hypervisor
# packages.  Building them needs root (debootstrap).
#
#   scripts/xen-lab/images.sh [QEMU_BINARY...]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"


SUITE=bookworm
XEN_SERIES=4.17
# dom0: the Xen tools, what the lab's scripts use, what QEMU's tap needs;
# iperf3 (dom0 is the guests' network peer) and fio (its binary and
# libraries go to the guests, see GUEST_TOOLS).
# linux-perf profiles dom0 while a guest measures (bench-xen's
# lab.bench-perf=1).
DOM0_PKGS=(xen-utils-$XEN_SERIES xenstore-utils iproute2 kmod busybox iperf3 fio
           linux-perf)
# Kernel modules (paths under kernel/) copied into the images.  Linux's own
# backends (xen-blkback on a loop device, xen-netback) are the peers the
# lab measures ours against.
DOM0_MODULES=(drivers/xen drivers/net/tun.ko net/bridge net/802 net/llc
              drivers/block/xen-blkback drivers/net/xen-netback drivers/block/loop.ko)
# Programs of dom0's root the measuring guests get, with their libraries.
GUEST_TOOLS=(/usr/bin/fio /usr/bin/iperf3)
DOMU_MODULES=(drivers/block/xen-blkfront.ko drivers/net/xen-netfront.ko
              drivers/cdrom
              # ext4 (which mounts ext2) for the file system on a 4096-byte disk
              fs/ext4 fs/jbd2 fs/mbcache.ko lib/crc16.ko crypto/crc32c_generic.ko
              # 9P over Xen (the p9 scenario, bench-xen's 9pfs cases): 9p.ko
              # needs netfs and fscache in Debian's 6.1
              net/9p/9pnet.ko net/9p/9pnet_xen.ko fs/9p fs/netfs fs/fscache)

for t in debootstrap dpkg-deb cpio depmod busybox; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] ||
        die "$t is missing (scripts/install-deps.sh installs it)"
done
[ -x /bin/busybox ] || die "/bin/busybox (busybox-static) is missing"

# The Debian packages that provide the shared libraries of the given binaries.
lib_packages() {
    local bin lib
    for bin in "$@"; do
        [ -x "$bin" ] || die "not an executable: $bin"
        for lib in $(ldd "$bin" | awk '$3 ~ /^\// {print $3}'); do
            lib=$(realpath "$lib")
            dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
                die "no package provides $lib (needed by $bin)"
        done
    done | cut -d: -f1 | sort -u
}

mapfile -t qemu_pkgs < <(lib_packages "$@")
pkgs=$(printf '%s\n' "${DOM0_PKGS[@]}" "${qemu_pkgs[@]}" | sort -u | paste -sd, -)

kernel_pkg=$(apt-cache depends linux-image-amd64 |
             awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel_pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
xen_pkg=xen-hypervisor-$XEN_SERIES-amd64

key=$( {
    cat "$0"
    echo "$pkgs $kernel_pkg"
    apt-cache policy "$kernel_pkg" "$xen_pkg" | grep Candidate
} | sha256sum | cut -c1-16)
labcache="$XEN_PV_CACHE/xen-lab"
out="$labcache/images-$key"
if [ -f "$out/.done" ]; then
    echo "$out"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "building the images needs root (debootstrap)"
log "building the lab images in $out (packages: $pkgs)"
mkdir -p "$labcache"
work=$(mktemp -d "$labcache.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT

archive=$(apt_archive "$SUITE") || die "no apt source for $SUITE to take packages from"
uri=${archive%%|*}
keyring=${archive#*|}

# 1. The hypervisor and the kernel, extracted from their packages.
mkdir -p "$work/debs"
(cd "$work/debs" && apt-get download -q "$xen_pkg" "$kernel_pkg" >&2)
dpkg-deb -x "$work"/debs/"$xen_pkg"_*.deb "$work/xen"
dpkg-deb -x "$work"/debs/"$kernel_pkg"_*.deb "$work/kernel"
kver=${kernel_pkg#linux-image-}
mkdir -p "$work/out"
zcat "$work/xen/boot/xen-$XEN_SERIES-amd64.gz" > "$work/out/xen"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/out/vmlinuz"

# Copy the named module paths of the kernel into a root file system.
install_modules() {
    local root=$1 m
    shift
    mkdir -p "$root/lib/modules/$kver/kernel"
    for m in "$@"; do
        mkdir -p "$root/lib/modules/$kver/kernel/$(dirname "$m")"
        cp -a "$work/kernel/lib/modules/$kver/kernel/$m" \
              "$root/lib/modules/$kver/kernel/$(dirname "$m")/"
    done
    cp "$work/kernel/lib/modules/$kver"/modules.{order,builtin}* "$root/lib/modules/$kver/"
    depmod -b "$root" "$kver"
}

# Pack a directory as a newc cpio archive.
pack_cpio() {
    (cd "$1" && find . -print0 | LC_ALL=C sort -z |
        cpio --null --quiet -o -H newc --owner=0:0)
}

# 2. dom0: a debootstrap, trimmed, with the modules dom0 loads.
root="$work/dom0"
debootstrap --variant=minbase --include="$pkgs" \
    ${keyring:+--keyring="$keyring"} "$SUITE" "$root" "$uri" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed"
}
rm -rf "$root"/usr/share/{doc,man,info,locale} "$root"/var/cache/apt/archives/*.deb \
       "$root"/var/lib/apt/lists/* "$root"/lib/modules/*
install_modules "$root" "${DOM0_MODULES[@]}"
cp "$work/out/vmlinuz" "$root/boot/vmlinuz-domU"
pack_cpio "$root" > "$work/out/dom0.cpio"

# 3. domU: busybox and its modules (the init comes with each run).
groot="$work/domU"
mkdir -p "$groot"/{bin,dev,proc,sys,tmp,run}
cp /bin/busybox "$groot/bin/busybox"
install_modules "$groot" "${DOMU_MODULES[@]}"
pack_cpio "$groot" > "$work/out/domU.cpio"

# 4. The guests' tools: the programs and the libraries the dynamic linker of
# dom0's root resolves for them (ldd run in that root).
troot="$work/domU-tools"
for bin in "${GUEST_TOOLS[@]}"; do
    [ -x "$root$bin" ] || die "dom0's root has no $bin"
    for f in "$bin" $(chroot "$root" ldd "$bin" |
                      awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
        mkdir -p "$troot$(dirname "$f")"
        cp -L "$root$f" "$troot$f"
    done
done
# The guests' tools and their libraries must all have come (ldd says
# "not found" for a missing one).
if chroot "$root" ldd "${GUEST_TOOLS[@]}" | grep -q 'not found'; then
    die "a library of ${GUEST_TOOLS[*]} is missing in dom0's root"
fi
# The linker's cache: some libraries live in directories of ld.so.conf.d.
mkdir -p "$troot/etc"
cp "$root/etc/ld.so.cache" "$troot/etc/"
pack_cpio "$troot" > "$work/out/domU-tools.cpio"

printf 'kernel %s\nxen %s\npackages %s\n' "$kernel_pkg" \
    "$(dpkg-deb -f "$work"/debs/"$xen_pkg"_*.deb Version)" "$pkgs" > "$work/out/manifest"
rm -rf "$out"
mv "$work/out" "$out"
touch "$out/.done"
# Older image sets are of no further use.
for old in "$labcache"/images-*; do
    [ "$old" = "$out" ] || rm -rf "$old"
done
log "lab images ready: $(du -sh "$out" | cut -f1)"
echo "$out"
