#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The demo (run by `make demo` after the build): start QEMU with xen-sim, a
# xen-disk on a scratch raw image made with qemu-img and a xen-net-device on
# a dgram netdev, then run the demo program, which acts as the Xen guest and
# says what happens.  Everything is removed afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

build="$PROJECT_ROOT/build"
qemu="$build/qemu-system-x86_64"
demo="$build/qemu/tests/qtest/xen/xen-pv-demo"
[ -x "$qemu" ] && [ -x "$demo" ] || die "not built: run 'make' first"

dir=$(mktemp -d /tmp/xen-pv-demo.XXXXXX)
qpid=
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

"$build/qemu-img" create -q -f raw "$dir/disk.img" 64M
echo "Starting QEMU: -M xen-sim -accel tcg, xen-disk on a 64 MiB raw image" \
     "(qemu-img), xen-net-device on a dgram netdev"
"$qemu" -M xen-sim,socket="$dir/ctl.sock",xs-socket="$dir/xs.sock",xs-admin-socket="$dir/xs-admin.sock" \
    -accel tcg -m 256M -nodefaults -display none \
    -qmp unix:"$dir/qmp.sock",server=on,wait=off \
    -drive file="$dir/disk.img",if=none,id=d0,format=raw,cache=writeback,discard=unmap \
    -device xen-disk,vdev=xvda,drive=d0 \
    -netdev dgram,id=n0,local.type=unix,local.path="$dir/qemu.dgram",remote.type=unix,remote.path="$dir/demo.dgram" \
    -device xen-net-device,netdev=n0,idx=0,mac=52:54:00:12:34:01,max-queues=4 \
    > "$dir/qemu.log" 2>&1 &
qpid=$!
for _ in $(seq 100); do
    [ -S "$dir/qmp.sock" ] && [ -S "$dir/ctl.sock" ] && break
    kill -0 "$qpid" 2>/dev/null || { cat "$dir/qemu.log" >&2; die "QEMU exited"; }
    sleep 0.1
done
echo
rc=0
XEN_PV_DEMO_XS_ADMIN="$dir/xs-admin.sock" "$demo" "$dir" || rc=$?
exit "$rc"
