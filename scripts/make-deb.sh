#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the Debian packages of our QEMU (make deb) with dpkg-dev's tools,
# into build/deb:
#
#   xen-pv-qemu                QEMU installed under /usr/lib/xen-pv-qemu
#                              (scripts/install.sh, PREFIX=/usr/lib/xen-pv-qemu),
#                              and /usr/libexec/xen-qemu-system-i386, the
#                              device model Debian's libxl runs, taken over
#                              with dpkg-divert (qemu-system-xen's binary,
#                              if installed, is set aside and given back on
#                              removal)
#   xen-pv-qemu-upstream-xen   the same for /usr/lib/xen/bin/qemu-system-i386,
#                              the path of the Xen project's own build
#
# The version and the changelog come from scripts/deb/changelog, the
# dependencies from dpkg-shlibdeps, the control files from dpkg-gencontrol,
# the archives from dpkg-deb.  lintian, when installed, checks both
# packages and any error fails the build.
#
#   scripts/make-deb.sh [--tree DIR]
#
#   --tree DIR   package DIR, a tree already installed with
#                "make install PREFIX=/usr/lib/xen-pv-qemu DESTDIR=DIR",
#                instead of building and installing one
#
# Prints the paths of the two packages on stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

PKG=xen-pv-qemu
PKG_XEN=xen-pv-qemu-upstream-xen
PKG_PREFIX=/usr/lib/xen-pv-qemu
DEBIAN_DM=/usr/libexec/xen-qemu-system-i386
XEN_DM=/usr/lib/xen/bin/qemu-system-i386
meta="$here/deb"
out="$PROJECT_ROOT/build/deb"

tree=""
case "${1:-}" in
--tree) tree=$(realpath "${2:?--tree needs a directory}") ;;
"") ;;
*) die "usage: $0 [--tree DIR]" ;;
esac

for t in dpkg-deb dpkg-gencontrol dpkg-shlibdeps dpkg-parsechangelog strip; do
    command -v "$t" >/dev/null || die "$t is missing (scripts/install-deps.sh installs dpkg-dev)"
done

# Build output is never tracked (as in build.sh).
mkdir -p "$PROJECT_ROOT/build"
[ -f "$PROJECT_ROOT/build/.gitignore" ] || echo '*' > "$PROJECT_ROOT/build/.gitignore"
work="$out/work"
rm -rf "$work"
mkdir -p "$work/debian"
cp "$meta/control" "$meta/changelog" "$work/debian/"
stage="$work/debian/$PKG"
stage_xen="$work/debian/$PKG_XEN"

# 1. QEMU, installed as "make install" does, under the package's prefix.
if [ -n "$tree" ]; then
    [ -x "$tree$PKG_PREFIX/bin/qemu-system-x86_64" ] ||
        die "$tree has no $PKG_PREFIX/bin/qemu-system-x86_64"
    mkdir -p "$stage"
    cp -a "$tree/." "$stage/"
else
    PREFIX=$PKG_PREFIX DESTDIR=$stage "$here/install.sh"
fi
# No desktop entry nor icons: a device model has no window.
rm -rf "$stage$PKG_PREFIX/share/applications" "$stage$PKG_PREFIX/share/icons"

# 2. libxl's paths: relative links into the prefix (the binary finds its
# data directory from its own location, symlinks resolved).
mkdir -p "$stage$(dirname "$DEBIAN_DM")" "$stage_xen$(dirname "$XEN_DM")"
ln -s "$(realpath -m --relative-to="$(dirname "$DEBIAN_DM")" "$PKG_PREFIX/bin/qemu-system-i386")" \
    "$stage$DEBIAN_DM"
ln -s "$(realpath -m --relative-to="$(dirname "$XEN_DM")" "$PKG_PREFIX/bin/qemu-system-i386")" \
    "$stage_xen$XEN_DM"

# 3. Stripped as dh_strip does; regular modes.
elves=()
while IFS= read -r -d '' f; do
    if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        strip --remove-section=.comment --remove-section=.note "$f"
        elves+=("$f")
    fi
done < <(find "$stage" -type f -print0)
[ ${#elves[@]} -gt 0 ] || die "no binaries under $stage"
find "$stage" "$stage_xen" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod go-w,u+rw,a+r {} +

# 4. Documentation: copyright, changelog.
for p in "$PKG" "$PKG_XEN"; do
    doc="$work/debian/$p/usr/share/doc/$p"
    mkdir -p "$doc"
    install -m 0644 "$meta/copyright" "$doc/copyright"
    gzip -9n < "$meta/changelog" > "$doc/changelog.gz"
    chmod 0644 "$doc/changelog.gz"
done

install -D -m 0644 "$meta/$PKG.lintian-overrides" "$stage/usr/share/lintian/overrides/$PKG"

# 5. Control files: dependencies of the binaries, the QEMU source package
# they are built from (Built-Using), maintainer scripts, md5sums.
built_using=""
pristine=$("$here/fetch-qemu.sh")
if [ -f "$pristine/debian/changelog" ]; then
    built_using="qemu (= $(dpkg-parsechangelog -l "$pristine/debian/changelog" -S Version))"
fi
qemu_series=$(cut -d. -f1,2 "$pristine/VERSION")
version=$(dpkg-parsechangelog -l "$meta/changelog" -S Version)
case "$version" in
"$qemu_series"+*) ;;
*) die "scripts/deb/changelog's version $version is not for QEMU $qemu_series" ;;
esac
(
    cd "$work"
    # dpkg-shlibdeps finds the package's root by its DEBIAN directory.
    mkdir -p "debian/$PKG/DEBIAN" "debian/$PKG_XEN/DEBIAN"
    dpkg-shlibdeps -T"debian/$PKG.substvars" "${elves[@]#"$work/"}"
    echo "qemu:Built-Using=$built_using" >> "debian/$PKG.substvars"
    for p in "$PKG" "$PKG_XEN"; do
        install -m 0755 "$meta/$p.preinst" "debian/$p/DEBIAN/preinst"
        install -m 0755 "$meta/$p.postrm" "debian/$p/DEBIAN/postrm"
        touch "debian/$p.substvars"
        dpkg-gencontrol -p"$p" -P"debian/$p" -T"debian/$p.substvars" -f"debian/files"
        (cd "debian/$p" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
            LC_ALL=C sort -z | xargs -0 -r md5sum) > "debian/$p/DEBIAN/md5sums"
        chmod 0644 "debian/$p/DEBIAN/md5sums" "debian/$p/DEBIAN/control"
    done
)

# 6. The archives.
debs=()
rm -f "$out"/*.deb
for p in "$PKG" "$PKG_XEN"; do
    deb="$out/${p}_${version}_$(dpkg --print-architecture).deb"
    dpkg-deb --root-owner-group -Zxz --build "$work/debian/$p" "$deb" >/dev/null
    debs+=("$deb")
done

if command -v lintian >/dev/null; then
    log "lintian ${debs[*]##*/}"
    lintian --fail-on error "${debs[@]}" >&2 || die "lintian reports errors"
else
    log "lintian is not installed (scripts/install-deps.sh installs it): not checked"
fi
log "built: ${debs[*]##*/} ($(dpkg-deb -f "${debs[0]}" Depends))"
printf '%s\n' "${debs[@]}"
