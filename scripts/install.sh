#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install our QEMU the way QEMU's own "make install" does (meson install),
# under PREFIX, into DESTDIR if set (make install PREFIX=... DESTDIR=...):
#
#   PREFIX/bin/qemu-system-x86_64   the system emulator: xen-disk, xen-cdrom,
#                                   xen-net-device, machines xenpv and xenfv
#   PREFIX/bin/qemu-system-i386     the same binary under the name libxl
#                                   runs (a symlink)
#   PREFIX/bin/qemu-img, qemu-io, qemu-nbd, qemu-storage-daemon, ...
#   PREFIX/share/qemu/keymaps/      what "-vnc" loads (libxl passes
#                                   "-vnc none" to every device model)
#   PREFIX/share/qemu/trace-events-all
#
# QEMU fixes its prefix at configure time, so each prefix has its own build
# directory (scripts/build.sh install), configured and built here when it
# is missing or stale.  QEMU finds its data directory relative to the
# binary it runs (/proc/self/exe, symlinks resolved), so the installed tree
# refers to nothing in the build tree and works from any symlink to it.
#
# Environment: PREFIX (default /usr/local), DESTDIR (default: none, i.e.
# install for real), and what scripts/build.sh takes (JOBS, QEMU_SRC...).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

prefix=$(install_prefix "${PREFIX:-/usr/local}")
destdir=${DESTDIR:-}
# meson takes DESTDIR relative to the build directory: make it absolute.
[ -z "$destdir" ] || destdir=$(realpath -m "$destdir")

PREFIX=$prefix "$here/build.sh" install
bdir=$(install_top "$prefix")/qemu
meson=$(sed -n 's/^MESON=//p' "$bdir/config-host.mak")
[ -x "$meson" ] || die "no meson in $bdir/config-host.mak"

log "installing into ${destdir}${prefix}"
"$meson" install -C "$bdir" --no-rebuild --quiet ${destdir:+--destdir "$destdir"}
root="${destdir}${prefix}"
# libxl runs qemu-system-i386 (Debian's libxl: /usr/libexec/xen-qemu-system-i386,
# upstream's: /usr/lib/xen/bin/qemu-system-i386): the x86_64 emulator serves
# Xen guests of either width.
ln -sfn qemu-system-x86_64 "$root/bin/qemu-system-i386"

# What an installed device model needs, and nothing that leads back here.
missing=()
for f in bin/qemu-system-x86_64 bin/qemu-system-i386 bin/qemu-img \
         share/qemu/keymaps/en-us share/qemu/trace-events-all; do
    [ -e "$root/$f" ] || missing+=("$f")
done
[ ${#missing[@]} = 0 ] || die "not installed under $root: ${missing[*]}"
while IFS= read -r -d '' link; do
    case "$(readlink -f "$link")" in
    "$root"/*) ;;
    "$PROJECT_ROOT"/*) die "$link points into the build tree" ;;
    esac
done < <(find "$root" -type l -print0)
for f in "$root"/bin/* "$root"/libexec/*; do
    if [ ! -f "$f" ] || [ ! -x "$f" ]; then
        continue
    fi
    if readelf -d "$f" 2>/dev/null | grep -qE '\((RPATH|RUNPATH)\)'; then
        die "$f has a run path: $(readelf -d "$f" | grep -E 'RPATH|RUNPATH')"
    fi
done
log "installed: $root/bin/qemu-system-i386 -> qemu-system-x86_64"
