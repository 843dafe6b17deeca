# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for the project's shell scripts (sourced, not executed).

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# Root of the clone.
PROJECT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Cache for expensive, re-usable artefacts (QEMU source, ccache, images).
# Lives outside the clone so that fresh clones on the same machine reuse it.
XEN_PV_CACHE=${XEN_PV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xen-pv-qemu}

# The QEMU upstream series we build against.
QEMU_SERIES=10.0

# Use ccache with a cache shared by every clone on this machine.  The base
# directory makes paths inside the clone relative, so a fresh clone at another
# path still hits the cache.
setup_ccache() {
    if [ -d /usr/lib/ccache ] && command -v ccache >/dev/null; then
        export PATH="/usr/lib/ccache:$PATH"
        export CCACHE_DIR="${CCACHE_DIR:-$XEN_PV_CACHE/ccache}"
        export CCACHE_BASEDIR="$PROJECT_ROOT"
        export CCACHE_NOHASHDIR=1
        export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
        mkdir -p "$CCACHE_DIR"
    fi
}
