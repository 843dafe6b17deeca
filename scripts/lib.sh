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

# The installation prefix PREFIX, checked and normalised (absolute, no
# trailing slash, not /).
install_prefix() {
    local p
    case "$1" in
    /*) ;;
    *) die "PREFIX must be an absolute path, not '$1'" ;;
    esac
    p=$(realpath -m "$1")
    [ "$p" != / ] || die "PREFIX=/ is not supported (use /usr)"
    printf '%s\n' "$p"
}

# The top directory of the install variant's build for prefix $1
# (scripts/build.sh install): build/install/usr-lib-xen-pv-qemu for
# /usr/lib/xen-pv-qemu.
install_top() {
    local name=${1#/}
    printf '%s/build/install/%s\n' "$PROJECT_ROOT" "${name//\//-}"
}

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

# Print "URI|SIGNED_BY" of the first enabled binary source of the machine's
# own Debian release (codename from /etc/os-release), skipping security.
apt_archive() {
    /usr/bin/python3 - "$1" <<'PY'
import glob, re, sys
codename = sys.argv[1]
cands = []
def consider(types, uris, suites, signed):
    if "deb" not in types:
        return
    if codename not in suites:
        return
    for u in uris:
        if "security" in u:
            continue
        cands.append((u.rstrip("/"), signed or ""))
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    text = open(path).read()
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            if ":" in line:
                key, val = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = val.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        consider(fields.get("types", "").split(), fields.get("uris", "").split(),
                 fields.get("suites", "").split(), fields.get("signed-by", ""))
lists = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for path in lists:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"(deb|deb-src)\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if not m:
            continue
        opts = m.group(2) or ""
        sm = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
        consider([m.group(1)], [m.group(3)], [m.group(4)], sm.group(1) if sm else "")
if not cands:
    sys.exit(1)
print("%s|%s" % cands[0])
PY
}
