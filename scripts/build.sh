#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build one variant of QEMU from the pristine source plus this project.
#
#   scripts/build.sh [ours|stock|asan|install|series]
#
#   ours   our devices + xen-sim: tree build/src, build dir build/qemu,
#          stable paths build/qemu-system-x86_64 and build/qemu-img
#   stock  upstream's devices + xen-sim: build/stock/{src,qemu}
#   asan   ours built with AddressSanitizer + UndefinedBehaviorSanitizer:
#          build/asan/{src,qemu}, stable paths build/asan/qemu-system-x86_64
#          and build/asan/qemu-img (docs/devel/xen-pv-build.rst)
#   install  ours configured for installation under PREFIX (environment,
#          default /usr/local; QEMU fixes its prefix at configure time), every
#          target "meson install" installs: build/install/<prefix>/{src,qemu}
#          (e.g. build/install/usr-local), one build dir per prefix
#          (scripts/install.sh, make install, make deb)
#   series Debian's QEMU source with `make patches`' series applied (quilt),
#          which tests/patches makes in build/patches-test/src: build dir
#          build/patches-test/qemu
#
# Environment: QEMU_SRC (use your own QEMU 10.0 tree), XEN_PV_CACHE (cache
# directory, default ~/.cache/xen-pv-qemu), JOBS (parallel jobs, default nproc),
# XEN_PV_EXTRA_CONFIGURE (extra configure arguments, e.g. sanitizers).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

variant=${1:-ours}
case "$variant" in
ours)  top="$PROJECT_ROOT/build" ;;
stock) top="$PROJECT_ROOT/build/stock" ;;
asan)  top="$PROJECT_ROOT/build/asan" ;;
install)
    prefix=$(install_prefix "${PREFIX:-/usr/local}")
    top=$(install_top "$prefix") ;;
series)
    # QEMU with `make patches`' series applied, a tree tests/patches makes
    # in build/patches-test/src: built as ours is, without the overlay
    top="$PROJECT_ROOT/build/patches-test"
    [ -f "$top/src/VERSION" ] || die "no tree in $top/src (tests/patches makes it)" ;;
*) die "unknown variant '$variant' (ours, stock, asan, install or series)" ;;
esac
# The asan and install variants are "ours": same overlay (install adds the
# emulated devices of HVM guests, see below).
overlay_variant=$variant
case "$variant" in asan|install|series) overlay_variant=ours ;; esac
tree="$top/src"
mkdir -p "$top"
# Build output is never tracked (QEMU owns the name .gitignore at the top).
[ -f "$PROJECT_ROOT/build/.gitignore" ] || { mkdir -p "$PROJECT_ROOT/build"; echo '*' > "$PROJECT_ROOT/build/.gitignore"; }
bdir="$top/qemu"

setup_ccache

if [ "$variant" = series ]; then
    pristine=$tree
else
    pristine=$("$here/fetch-qemu.sh")
    /usr/bin/python3 "$here/overlay.py" --source "$pristine" --dest "$tree" \
        --variant "$overlay_variant"
fi

# The device set (configs/devices/x86_64-softmmu): the installed device
# model also has the emulated devices of HVM guests (see below).
devices=xen-pv
[ "$variant" = install ] && devices=xen-dm

# VNC: libxl starts every device model with "-vnc none" (or a VNC display),
# so a QEMU without the option cannot serve guests under xl.
CONFIGURE_ARGS=(
    --python=/usr/bin/python3
    --target-list=x86_64-softmmu
    --without-default-features
    --without-default-devices
    "--with-devices-x86_64=$devices"
    --disable-install-blobs
    --disable-docs
    --disable-download
    --enable-xen
    --enable-kvm
    --enable-tcg
    --enable-linux-io-uring
    --enable-linux-aio
    --enable-slirp
    --enable-pixman
    --enable-vnc
    --enable-tools
    --enable-fdt=system
    --enable-trace-backends=log
    # shared storage behind xen-disk (docs/system/devices/xen-block.rst);
    # NBD is built in
    --enable-rbd
    --enable-libiscsi
    # the 9P server behind xen-9pfs (docs/system/devices/xen-9pfs.rst);
    # virtfs needs libattr for extended attributes
    --enable-virtfs
    --enable-attr
)
if [ "$variant" = asan ]; then
    # UBSan recovers by default and the tests run it with halt_on_error=1
    # (set by tests/qtest/xen/meson.build): a finding fails the test, yet a
    # documented upstream finding can still be suppressed, which
    # -fno-sanitize-recover would not allow.  -O1 keeps ASan's stack traces
    # close to the source and the cold build short.
    CONFIGURE_ARGS+=(
        --enable-asan
        --enable-ubsan
        "--extra-cflags=-O1 -fno-omit-frame-pointer"
    )
fi
if [ "$variant" = install ]; then
    # Under /usr (a package's prefix, e.g. /usr/lib/xen-pv-qemu) the
    # configuration and state live where Debian's QEMU has them; elsewhere
    # (/usr/local, /opt/...) under the prefix, as QEMU's defaults put them.
    # The device model libxl runs for every guest: the HVM guests' emulated
    # devices too (configs/devices/x86_64-softmmu/xen-dm.mak), and their
    # option ROMs found where Debian's seabios and ipxe-qemu put them, as
    # Debian's own QEMU finds them; and PCI pass-through, which libxl
    # hot-plugs (xen-pci-passthrough) for an HVM guest's pci=[...].
    CONFIGURE_ARGS+=(
        "--prefix=$prefix"
        --enable-xen-pci-passthrough
        --firmwarepath=/usr/share/seabios:/usr/lib/ipxe/qemu
    )
    case "$prefix" in
    /usr/local|/usr/local/*) ;;
    /usr|/usr/*) CONFIGURE_ARGS+=(--sysconfdir=/etc --localstatedir=/var) ;;
    esac
fi
# shellcheck disable=SC2206
CONFIGURE_ARGS+=(${XEN_PV_EXTRA_CONFIGURE:-})

stamp="$bdir/.xen-pv-configure"
want="$(printf '%s\n' "$pristine" "$tree" "${CONFIGURE_ARGS[@]}")"
if [ ! -f "$bdir/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "configuring $variant in $bdir"
    rm -rf "$bdir"
    mkdir -p "$bdir"
    (cd "$bdir" && "$tree/configure" "${CONFIGURE_ARGS[@]}") > "$bdir.configure.log" 2>&1 || {
        tail -n 40 "$bdir.configure.log" >&2
        die "configure failed (full log: $bdir.configure.log)"
    }
    printf '%s\n' "$want" > "$stamp"
fi

# Regenerate first if a meson.build changed, so the target list is current.
ninja -C "$bdir" build.ninja >/dev/null

# The binaries, plus every executable this project defines (its meson.build
# files live in our own directories); upstream's own tests are not built.
targets=$(/usr/bin/python3 - "$bdir" "$PROJECT_ROOT" "$tree" <<'PY'
import json, os, sys
bdir, root, tree = sys.argv[1:4]
with open(os.path.join(bdir, "meson-info", "intro-targets.json")) as f:
    targets = json.load(f)
mine = set()
for path in os.popen("cd %s && find hw include tests -name meson.build 2>/dev/null" % root):
    mine.add(os.path.dirname(path.strip()))
for t in targets:
    d = os.path.relpath(os.path.dirname(t["defined_in"]), tree)
    if t["type"] == "executable" and d in mine:
        for f in t["filename"]:
            print(os.path.relpath(f, bdir))
PY
)
log "building $variant"
if [ "$variant" = install ]; then
    # What "meson install" installs, and nothing else (the default target
    # would build every upstream unit test too).
    installed=$(/usr/bin/python3 - "$bdir" <<'PY'
import json, os, sys
bdir = sys.argv[1]
with open(os.path.join(bdir, "meson-info", "intro-installed.json")) as f:
    installed = json.load(f)
for path in sorted(installed):
    rel = os.path.relpath(path, bdir)
    if not rel.startswith(".."):
        print(rel)
PY
)
    # shellcheck disable=SC2086
    ninja -C "$bdir" -j "${JOBS:-$(nproc)}" $installed
else
    # shellcheck disable=SC2086
    ninja -C "$bdir" -j "${JOBS:-$(nproc)}" qemu-system-x86_64 qemu-img qemu-io qemu-nbd $targets
fi

ln -sfn qemu/qemu-system-x86_64 "$top/qemu-system-x86_64"
ln -sfn qemu/qemu-img "$top/qemu-img"
log "$variant ready: $top/qemu-system-x86_64"
