#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Obtain the QEMU 10.0.x source as Debian's source package (trixie), unpacked
# by dpkg-source with Debian's patches applied, into a cache outside the clone.
# Prints the path of the pristine source tree on stdout.
#
#   QEMU_SRC=/path/to/qemu-10.0   use an existing tree instead (not modified)
#   XEN_PV_CACHE=/path            cache directory (default ~/.cache/xen-pv-qemu)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

check_version() {
    local tree=$1 ver
    [ -f "$tree/VERSION" ] || die "$tree has no VERSION file: not a QEMU source tree"
    ver=$(cat "$tree/VERSION")
    case "$ver" in
    "$QEMU_SERIES".*) ;;
    *) die "$tree is QEMU $ver; this project needs $QEMU_SERIES.x" ;;
    esac
    [ -f "$tree/hw/xen/xen-bus.c" ] || die "$tree lacks hw/xen/xen-bus.c"
}

if [ -n "${QEMU_SRC:-}" ]; then
    tree=$(cd "$QEMU_SRC" && pwd) || die "QEMU_SRC=$QEMU_SRC does not exist"
    check_version "$tree"
    printf '%s\n' "$tree"
    exit 0
fi

srcdir="$XEN_PV_CACHE/src"
link="$srcdir/qemu"
if [ -L "$link" ] && [ -f "$link/.xen-pv-complete" ]; then
    check_version "$link"
    readlink -f "$link"
    exit 0
fi

command -v dpkg-source >/dev/null || die "dpkg-source missing: run scripts/install-deps.sh"
mkdir -p "$srcdir"
# Download where apt's unprivileged _apt user can write (not under /root).
work=$(mktemp -d "${TMPDIR:-/tmp}/xen-pv-qemu-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Pick the newest 10.0.x version of the 'qemu' source package in any enabled
# deb-src suite (install-deps.sh adds trixie's).
ver=$(apt-cache showsrc qemu 2>/dev/null |
      awk '/^Package: /{p=$2} /^Version: /{ if (p=="qemu") print $2 }' |
      grep -E "^(1:)?${QEMU_SERIES//./\\.}\.[0-9]+" | sort -V | tail -n 1 || true)
[ -n "$ver" ] || die "no qemu $QEMU_SERIES.x source package in apt's deb-src entries (run scripts/install-deps.sh)"
log "fetching Debian source package qemu=$ver"
(
    cd "$work"
    # apt drops privileges to _apt for downloads; the temp dir must be reachable.
    chmod 755 "$work"
    apt-get source -q --only-source "qemu=$ver" >&2
)
tree=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n 1)
[ -n "$tree" ] || die "apt-get source produced no qemu-* directory"
check_version "$tree"
upver=$(cat "$tree/VERSION")
dest="$srcdir/qemu-$upver-${ver#*:}"
rm -rf "$dest"
mv "$tree" "$dest.tmp"
mv "$dest.tmp" "$dest"
# The pristine tree is read-only for everybody: the overlay must never write it.
touch "$dest/.xen-pv-complete"
chmod -R a-w "$dest"
ln -sfn "$(basename "$dest")" "$link.tmp"
mv -T "$link.tmp" "$link"
log "QEMU $upver source ready in $dest"
printf '%s\n' "$dest"
