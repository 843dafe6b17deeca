#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install every build and test dependency of the project from Debian's archive
# on a Debian 12 (bookworm) machine, as root.  Idempotent and quick when
# everything is already present.
#
# The extra apt entries we need (deb-src for the trixie source suite, which
# carries QEMU 10.0, and bookworm-backports for meson >= 1.5 and
# python3-pycotap) are derived from the machine's existing apt configuration:
# we reuse whatever archive URI and keyring the machine already uses for its
# bookworm main suite.  No package host name is written anywhere.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

extra_sources=/etc/apt/sources.list.d/xen-pv-qemu.sources

PKGS=(
    build-essential ninja-build pkg-config dpkg-dev ccache git
    python3 python3-venv python3-pip python3-setuptools
    libglib2.0-dev libxen-dev libpixman-1-dev libslirp-dev libfdt-dev
    zlib1g-dev liburing-dev libaio-dev libcap-ng-dev libattr1-dev
    libzstd-dev flex bison
    # shared storage: Ceph RBD and iSCSI in every build, and the servers
    # tests/storage/servers.py starts (a one-node Ceph cluster, tgt, nbdkit)
    librbd-dev libiscsi-dev
    ceph-mon ceph-mgr ceph-osd ceph-common tgt nbdkit libiscsi-bin
    xenstore-utils iproute2 gnupg gnuplot-nox
    # the Xen lab (scripts/xen-lab): images from Debian packages, Xen under TCG
    debootstrap qemu-system-x86 busybox-static cpio kmod binutils
    # the fuzzers (tests/fuzz/xen): libFuzzer
    clang-14 libclang-rt-14-dev
    # make deb (scripts/deb): Debian's package checker
    lintian
    # make patches: the series as a quilt series on Debian's source package
    quilt
    # the HVM devices' option ROMs for tests/install (make deb's Recommends)
    seabios ipxe-qemu
)
BACKPORTS_PKGS=(meson python3-pycotap)
# Servers the tests start themselves, on loopback (tests/storage/servers.py).
# Their packages enable system services (tgtd on every address, Ceph's
# targets); where we install them, those services are disabled again.
SERVICE_PKGS=(tgt ceph-mon ceph-mgr ceph-osd)
SERVICE_UNITS=(tgt.service ceph.target ceph-crash.service)

need_root() {
    if [ "$(id -u)" != 0 ]; then
        die "install-deps.sh must run as root (apt-get install)"
    fi
}

ensure_sources() {
    local codename archive uri signed want
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
    archive=$(apt_archive "$codename") ||
        die "no enabled apt source for '$codename' found to derive extra entries from"
    uri=${archive%%|*}
    signed=${archive#*|}
    want=$(
        printf '# Written by scripts/install-deps.sh (derived from this machine'"'"'s apt sources)\n'
        printf 'Types: deb deb-src\nURIs: %s\nSuites: %s-backports\nComponents: main\n' "$uri" "$codename"
        [ -n "$signed" ] && printf 'Signed-By: %s\n' "$signed"
        printf '\nTypes: deb-src\nURIs: %s\nSuites: trixie trixie-updates\nComponents: main\n' "$uri"
        [ -n "$signed" ] && printf 'Signed-By: %s\n' "$signed"
        true
    )
    if [ ! -f "$extra_sources" ] || [ "$(cat "$extra_sources")" != "$want" ]; then
        log "adding $codename-backports and trixie deb-src entries ($extra_sources)"
        printf '%s\n' "$want" > "$extra_sources"
        apt-get update -q
    fi
}

all_installed() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || return 1
    done
}

meson_ok() {
    command -v meson >/dev/null || return 1
    /usr/bin/python3 - "$(meson --version)" <<'PY'
import sys
v = tuple(int(x) for x in sys.argv[1].split(".")[:2])
sys.exit(0 if v >= (1, 5) else 1)
PY
}

main() {
    need_root
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    ensure_sources
    if all_installed "${PKGS[@]}" "${BACKPORTS_PKGS[@]}" && meson_ok; then
        log "all dependencies present"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A stale list would miss the backports and deb-src entries.
    if ! apt-cache policy meson 2>/dev/null | grep -q -- "-backports"; then
        apt-get update -q
    fi
    local fresh_servers=0
    all_installed "${SERVICE_PKGS[@]}" || fresh_servers=1
    apt-get install -y -q --no-install-recommends "${PKGS[@]}"
    if [ "$fresh_servers" = 1 ] && command -v systemctl >/dev/null; then
        log "disabling the services of ${SERVICE_PKGS[*]} (the tests start their own)"
        systemctl disable "${SERVICE_UNITS[@]}" >/dev/null 2>&1 || true
        systemctl stop "${SERVICE_UNITS[@]}" >/dev/null 2>&1 || true
    fi
    apt-get install -y -q --no-install-recommends -t "$codename-backports" "${BACKPORTS_PKGS[@]}"
    meson_ok || die "meson >= 1.5 is required; got $(meson --version 2>/dev/null || echo none)"
    log "dependencies installed"
}

main "$@"
