# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# The lab's scenarios, sourced by /lab/init in dom0.  Each scenario_<name>
# starts PV domUs with xl (their device model: our QEMU, or the stock build,
# through device_model_override), follows the guest's console log, acts when
# the guest waits for dom0 (hot-plug, network peer), and checks the data both
# ways once the guest is gone.  Results are XEN-LAB lines (see init).

LAB=/lab
IMG=/tmp/lab
CONSOLE_LOGS=/var/log/xen/console
GUEST_TIMEOUT=$(sed -n "s/.*lab\.guest-timeout=\([0-9]*\).*/\1/p" /proc/cmdline)
GUEST_TIMEOUT=${GUEST_TIMEOUT:-400}
mkdir -p "$IMG/www"

md5() { md5sum "$1" | cut -d' ' -f1; }
# md5 of LEN MiB at OFF MiB of a file.
md5_at() { dd if="$1" bs=1M skip="$2" count="$3" 2>/dev/null | md5sum | cut -d' ' -f1; }

# A raw image of SIZE MiB whose first MiB is random.
make_image() {   # path size_mib
    truncate -s "$2M" "$1"
    dd if=/dev/urandom of="$1" bs=1M count=1 conv=notrunc 2>/dev/null
}

# The last value of "LAB-GUEST: INFO <key> <value>" in a guest's log.
guest_info() {   # domain key
    sed -n "s/^LAB-GUEST: INFO $2 //p" "$CONSOLE_LOGS/guest-$1.log" 2>/dev/null |
        tail -n 1 | tr -d '\r'
}

# Copy a guest's console log to dom0's console, for the serial log.
dump_guest() {   # domain
    tr -d '\r' < "$CONSOLE_LOGS/guest-$1.log" 2>/dev/null | sed "s/^/[$1] /"
}

# Relay the guest's PASS/FAIL lines, prefixed with the scenario's name.
relay_guest() {   # domain prefix
    tr -d '\r' < "$CONSOLE_LOGS/guest-$1.log" |
        sed -n "s#^LAB-GUEST: \(PASS\|FAIL\) \([^ ]*\)\(.*\)#XEN-LAB: \1 $2/\2\3#p"
}

check() {   # name condition-result(0/1) details
    if [ "$2" = 0 ]; then lab PASS "$1" "$3"; else lab FAIL "$1" "$3"; fi
}

same() {   # name expected actual
    [ -n "$2" ] && [ "$2" = "$3" ]
    check "$1" $? "expected ${2:-?} got ${3:-nothing}"
}

dm_log() { tail -n 60 "/var/log/xen/qemu-dm-$1.log" 2>/dev/null | sed 's/^/XEN-LAB: INFO dm-log /'; }

# lab.trace=PATTERN on the command line: trace events for our QEMU.
TRACE=$(sed -n 's/.*lab\.trace=\([^ ]*\).*/\1/p' /proc/cmdline)

# Write an xl config for a PV domU served by QEMU binary $2.
write_cfg() {   # name qemu steps disk-lines [net]
    cat > "$IMG/$1.cfg" <<EOF
name = "$1"
type = "pv"
kernel = "/boot/vmlinuz-domU"
ramdisk = "$LAB/domU.cpio"
extra = "console=hvc0 lab.steps=$3"
memory = 192
vcpus = 2
on_poweroff = "destroy"
on_crash = "destroy"
disk = [ $4 ]
device_model_version = "qemu-xen"
device_model_override = "$2"
EOF
    if [ -n "$TRACE" ] && [ -z "${5:-}" ]; then
        echo "device_model_args_pv = [ \"-trace\", \"enable=$TRACE\" ]" >> "$IMG/$1.cfg"
    fi
    if [ -n "${5:-}" ]; then
        local trace_args=""
        [ -n "$TRACE" ] && trace_args=', "-trace", "enable='"$TRACE"'"'
        cat >> "$IMG/$1.cfg" <<EOF
device_model_args_pv = [ "-netdev", "tap,id=lab0,ifname=$5,script=no,downscript=no",
                         "-device", "xen-net-device,netdev=lab0,mac=00:16:3e:77:00:02,mtu=9000"$trace_args ]
EOF
    fi
}

start_domain() {   # name
    local t0 t1
    t0=$(cut -d' ' -f1 /proc/uptime)
    if ! xl create "$IMG/$1.cfg" > "$IMG/$1.create.log" 2>&1; then
        lab FAIL "$1/create" "xl create failed: $(tail -n 3 "$IMG/$1.create.log" | tr '\n' ' ')"
        dm_log "$1"
        return 1
    fi
    t1=$(cut -d' ' -f1 /proc/uptime)
    lab INFO "$1/create-seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')"
}

domain_alive() { xl domid "$1" >/dev/null 2>&1; }

# Follow a guest until it says DONE (or dies, or times out), calling
# on_wait_<what> for each "LAB-GUEST: WAIT <what>" in order.
follow_guest() {   # name
    local log="$CONSOLE_LOGS/guest-$1.log" handled=0 shown=0 total n w deadline
    deadline=$(( $(cut -d. -f1 /proc/uptime) + GUEST_TIMEOUT ))
    while :; do
        # The guest's console, as it comes, into the serial log.
        total=$(wc -l < "$log" 2>/dev/null || echo 0)
        if [ "${total:-0}" -gt "$shown" ]; then
            sed -n "$((shown + 1)),${total}p" "$log" | tr -d '\r' | sed "s/^/[$1] /"
            shown=$total
        fi
        n=$(grep -c '^LAB-GUEST: WAIT ' "$log" 2>/dev/null || true)
        while [ "${n:-0}" -gt "$handled" ]; do
            handled=$((handled + 1))
            w=$(grep '^LAB-GUEST: WAIT ' "$log" | sed -n "${handled}p" | tr -d '\r' | cut -d' ' -f3)
            # The guest's console is its words, not dom0's: only known waits.
            case "$w" in
            block-attach|block-detach|ping-dom0-to-guest|bulk1500-fetch|bulk9000-fetch|\
            resize|cdrom-eject|cdrom-change|busy-detach|save-restore|reboot)
                "on_wait_$(echo "$w" | tr '-' '_')" "$1" ;;
            *)
                lab FAIL "$1/guest" "unknown wait '$w'" ;;
            esac
        done
        grep -q '^LAB-GUEST: DONE' "$log" 2>/dev/null && break
        if ! domain_alive "$1"; then
            lab FAIL "$1/guest" "domain died before DONE"
            tail -n 20 "$log" 2>/dev/null | sed 's/^/XEN-LAB: INFO guest-log /'
            return 1
        fi
        if [ "$(cut -d. -f1 /proc/uptime)" -ge "$deadline" ]; then
            lab FAIL "$1/guest" "no DONE within ${GUEST_TIMEOUT}s"
            tail -n 20 "$log" 2>/dev/null | sed 's/^/XEN-LAB: INFO guest-log /'
            dm_log "$1"
            xl destroy "$1" 2>/dev/null
            return 1
        fi
        sleep 0.3
    done
    # The guest powers off; on_poweroff=destroy ends it.
    local i=0
    while domain_alive "$1" && [ $i -lt 100 ]; do sleep 0.3; i=$((i + 1)); done
    domain_alive "$1" && xl destroy "$1"
    return 0
}

# Whether a device model for domain $1 runs: a process whose command line
# has "-xen-domid <domid>" (dom0 has no pgrep, and a missing command must
# not read as "not running").
dm_running() {   # domid
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "-xen-domid $1 " &&
            return 0
    done
    return 1
}

# Our QEMU for a domain is gone, and so are its backend directories.
check_cleanup() {   # name domid
    local i=0
    while dm_running "$2" && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    ! dm_running "$2"
    check "$1/dm-exited" $? "device model of domain $2"
    ! xenstore-exists "/local/domain/0/backend/qdisk/$2"
    check "$1/backend-removed" $? "/local/domain/0/backend/qdisk/$2"
}

# ATTACH_SPEC: another disk to attach; ON_ATTACHED: a function to call
# once it is (scenario_install's).
on_wait_block_attach() {
    xl block-attach "$1" "${ATTACH_SPEC:-format=raw,vdev=xvdc,access=rw,backendtype=qdisk,target=$IMG/disk2.img}"
    check "$1/block-attach" $? "xvdc"
    [ -z "${ON_ATTACHED:-}" ] || "$ON_ATTACHED" "$1"
}
on_wait_block_detach() {
    xl block-detach "$1" xvdc
    check "$1/block-detach" $? "xvdc"
}
on_wait_ping_dom0_to_guest() {
    busybox ping -c 3 -W 5 192.168.77.2 >/dev/null
    check "$1/ping-dom0-to-guest" $? "3 echo requests"
}
on_wait_bulk() {   # domain tag
    local want got
    rm -f "$IMG/got"
    busybox wget -q -O "$IMG/got" http://192.168.77.2:8080/blob
    want=$(guest_info "$1" "$2-guest-md5")
    got=$(md5 "$IMG/got")
    same "$1/$2-guest-to-dom0" "$want" "$got"
    rm -f "$IMG/got"
    touch "$IMG/www/$2-done"
}
on_wait_bulk1500_fetch() { on_wait_bulk "$1" bulk1500; }
on_wait_bulk9000_fetch() { on_wait_bulk "$1" bulk9000; }

# Disk checks once the guest is gone: what it read of dom0's data, what it
# wrote, as dom0 sees them.
check_disk() {   # name image
    same "$1/disk-guest-read" "$(md5_at "$2" 0 1)" "$(guest_info "$1" disk-read-md5)"
    same "$1/disk-dom0-read" "$(guest_info "$1" disk-write-md5)" "$(md5_at "$2" 1 1)"
    lab INFO "$1/blkfront" "$(guest_info "$1" blkfront)"
    lab INFO "$1/queues" "$(guest_info "$1" disk-queues) max_segments=$(guest_info "$1" disk-max-segments) max_sectors_kb=$(guest_info "$1" disk-max-sectors-kb)"
    lab INFO "$1/disk-mbps" "write=$(guest_info "$1" disk-write-mbps) read=$(guest_info "$1" disk-read-mbps) read4k=$(guest_info "$1" disk-read4k-mbps)"
}

# Our QEMU: a disk, a cdrom, a hot-plugged disk, a NIC.
scenario_ours() {
    local n=lab-ours domid
    make_image "$IMG/disk1.img" 64
    make_image "$IMG/cdrom.iso" 4
    make_image "$IMG/disk2.img" 16
    dd if=/dev/urandom of="$IMG/www/blob" bs=1M count=8 2>/dev/null
    busybox httpd -p 192.168.77.1:8080 -h "$IMG/www"
    write_cfg $n "$LAB/ours/bin/qemu-system-x86_64" disk,cdrom,hotplug,net \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/disk1.img\",
         \"format=raw,vdev=xvdb,access=ro,devtype=cdrom,backendtype=qdisk,target=$IMG/cdrom.iso\"" \
        labtap0
    start_domain $n || return
    domid=$(xl domid $n)
    if ip link set labtap0 mtu 9000 master xenbr0 up; then
        lab PASS "$n/tap-on-bridge" "labtap0"
    else
        lab FAIL "$n/tap-on-bridge" "labtap0 missing: $(ip -o link | cut -d: -f2 | tr '\n' ' ')"
    fi
    follow_guest $n
    relay_guest $n $n
    check_disk $n "$IMG/disk1.img"
    same "$n/cdrom-guest-read" "$(md5_at "$IMG/cdrom.iso" 0 1)" "$(guest_info $n cdrom-read-md5)"
    same "$n/hotplug-guest-read" "$(md5_at "$IMG/disk2.img" 0 1)" "$(guest_info $n hotplug-read-md5)"
    same "$n/hotplug-dom0-read" "$(guest_info $n hotplug-write-md5)" "$(md5_at "$IMG/disk2.img" 1 1)"
    same "$n/bulk1500-dom0-to-guest" "$(md5 "$IMG/www/blob")" "$(guest_info $n bulk1500-fetched-md5)"
    same "$n/bulk9000-dom0-to-guest" "$(md5 "$IMG/www/blob")" "$(guest_info $n bulk9000-fetched-md5)"
    lab INFO "$n/mtu" "$(guest_info $n mtu)"
    check_cleanup $n "$domid"
}

# xl destroy with I/O in flight, then a second domU: served again.
scenario_destroy() {
    local n=lab-busy domid
    make_image "$IMG/disk3.img" 64
    write_cfg $n "$LAB/ours/bin/qemu-system-x86_64" disk,load \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/disk3.img\""
    start_domain $n || return
    domid=$(xl domid $n)
    # Wait for the load to run, then destroy under it.
    local i=0
    while ! grep -q '^LAB-GUEST: INFO load running' "$CONSOLE_LOGS/guest-$n.log" 2>/dev/null &&
          [ $i -lt 600 ]; do sleep 0.3; i=$((i + 1)); done
    grep -q '^LAB-GUEST: INFO load running' "$CONSOLE_LOGS/guest-$n.log"
    check "$n/load-running" $? "guest writing in a loop"
    sleep 2
    xl destroy $n
    check "$n/destroy" $? "xl destroy with I/O in flight"
    dump_guest $n
    check_cleanup $n "$domid"

    n=lab-again
    make_image "$IMG/disk4.img" 64
    write_cfg $n "$LAB/ours/bin/qemu-system-x86_64" disk \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/disk4.img\""
    start_domain $n || return
    domid=$(xl domid $n)
    follow_guest $n
    relay_guest $n $n
    check_disk $n "$IMG/disk4.img"
    check_cleanup $n "$domid"
}

# A guest whose disk is on shared storage: an NBD export (qemu-nbd in
# dom0, on loopback), named in the xl config as operators do
# (docs/system/devices/xen-block.rst, "Shared storage").
scenario_nbd() {
    local n=lab-nbd domid params url=nbd://127.0.0.1:10809/disk
    make_image "$IMG/nbd.img" 64
    if ! "$LAB/ours/bin/qemu-nbd" --fork --persistent --shared=4 -x disk \
            -f raw --bind 127.0.0.1 --port 10809 --pid-file "$IMG/nbd.pid" \
            "$IMG/nbd.img"; then
        lab FAIL "$n/server" "qemu-nbd did not start"
        return
    fi
    write_cfg $n "$LAB/ours/bin/qemu-system-x86_64" disk \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$url\""
    if start_domain $n; then
        domid=$(xl domid $n)
        params=$(xenstore-read "/local/domain/0/backend/qdisk/$domid/51712/params" 2>&1)
        same "$n/params" "aio:$url" "$params"
        follow_guest $n
        relay_guest $n $n
        check_disk $n "$IMG/nbd.img"
        check_cleanup $n "$domid"
    fi
    kill "$(cat "$IMG/nbd.pid")"
}

# The same disk scenario on upstream's backend (the stock build).
scenario_stock() {
    local n=lab-stock domid
    make_image "$IMG/disk5.img" 64
    write_cfg $n "$LAB/stock/bin/qemu-system-x86_64" disk \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/disk5.img\""
    start_domain $n || return
    domid=$(xl domid $n)
    follow_guest $n
    relay_guest $n $n
    check_disk $n "$IMG/disk5.img"
    check_cleanup $n "$domid"
    # Ours vs stock, from this run's figures.
    local k o s
    for k in disk-write-mbps disk-read-mbps disk-read4k-mbps; do
        o=$(guest_info lab-ours $k)
        s=$(guest_info lab-stock $k)
        lab INFO summary "$k ours=${o:-?} stock=${s:-?} ratio=$(awk -v o="$o" -v s="$s" \
            'BEGIN { if (o > 0 && s > 0) printf "%.2fx", o / s; else printf "?" }')"
    done
}

# Wait until a XenStore node holds a value (20 s at most).
wait_node() {   # path value
    local i=0
    while [ "$(xenstore-read "$1" 2>/dev/null)" != "$2" ] && [ $i -lt 100 ]; do
        sleep 0.2; i=$((i + 1))
    done
    [ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ]
}

# A frontend naming a grant its guest never gave, 20 times: each time our
# QEMU's map fails in libxengnttab, which must not print it (a guest could
# fill the device model's log with such lines); the refusal goes to
# XenStore's error node, as for any frontend we cannot serve.  dom0 plays
# the frontend of a disk hot-plugged into a paused guest.
scenario_badgrant() {
    local n=lab-badgrant domid fe be i ok=0 err lines
    make_image "$IMG/disk6.img" 16
    make_image "$IMG/disk7.img" 16
    write_cfg $n "$LAB/ours/bin/qemu-system-x86_64" none \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/disk6.img\""
    start_domain $n || return
    domid=$(xl domid $n)
    xl pause $n
    xl block-attach $n "format=raw,vdev=xvdd,access=rw,backendtype=qdisk,target=$IMG/disk7.img"
    check "$n/block-attach" $? "xvdd, guest paused"
    fe=/local/domain/$domid/device/vbd/51760
    be=/local/domain/0/backend/qdisk/$domid/51760
    wait_node "$be/state" 2
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        xenstore-write "$fe/ring-ref" 1048575 "$fe/event-channel" 7 \
            "$fe/protocol" x86_64-abi "$fe/state" 3
        wait_node "$be/state" 5 || break
        xenstore-write "$fe/state" 6
        wait_node "$be/state" 6 || break
        xenstore-write "$fe/state" 1
        wait_node "$be/state" 2 || break
        ok=$i
    done
    err=$(xenstore-read "$be/error" 2>/dev/null)
    case "$err" in *"cannot map the ring"*) [ "$ok" = 20 ] ;; *) false ;; esac
    check "$n/bad-ring-refused" $? "20 refusals, error: ${err:-none}"
    lines=$(grep 'gnttab' "/var/log/xen/qemu-dm-$n.log" 2>/dev/null |
            grep -vc 'xen_backend_lib_log')
    same "$n/no-library-log" 0 "${lines:-0}"
    [ "${lines:-0}" = 0 ] || dm_log $n
    # With lab.trace=xen_backend_lib_log, the messages are there, traced
    lab INFO "$n/traced" "$(grep -c 'xen_backend_lib_log' "/var/log/xen/qemu-dm-$n.log" 2>/dev/null)"
    # The probe of check_cleanup sees a device model that runs
    dm_running "$domid"
    check "$n/dm-running" $? "device model of domain $domid, before destroy"
    xl destroy $n
    check_cleanup $n "$domid"
}

# ---- 9P over Xen: xl's p9 = [...] ----

p9_backend() { echo "/local/domain/0/backend/9pfs/$1"; }
# The "mibs=" figure of one of bench-xen's cases a guest reported.
bench_mibs() {   # domain case
    sed -n "s/^LAB-GUEST: INFO bench $2 .*mibs=\([0-9.]*\).*/\1/p" \
        "$CONSOLE_LOGS/guest-$1.log" 2>/dev/null | tail -n 1
}

# A guest whose only device is a share, "share0", a directory of dom0's
# with a random 3 MiB file: libxl writes the 9pfs backend and frontend and
# starts the device model for it ($2).  The guest mounts the share
# (9pnet_xen), reads dom0's file, writes one of its own, lists the
# directory, then runs bench-xen's 9pfs cases on 16 MiB (their smoke).
# dom0 checks both files by MD5 once the guest is gone.
p9_guest() {   # name qemu
    local n="$1" share="$IMG/share-$1" domid saved="$TRACE" ls w r
    rm -rf "$share"
    mkdir -p "$share"
    dd if=/dev/urandom of="$share/from-dom0.bin" bs=1M count=3 2>/dev/null
    # Our trace events are ours only.
    [ "$2" = "$LAB/ours/bin/qemu-system-x86_64" ] || TRACE=""
    write_cfg "$n" "$2" p9,benchp9 ""
    TRACE=$saved
    sed -i 's/^extra = "\(.*\)"$/extra = "\1 lab.bench-p9-mib=16"/' "$IMG/$n.cfg"
    echo "p9 = [ \"tag=share0,path=$share,security_model=none,backend=0\" ]" >> "$IMG/$n.cfg"
    rm -f "$CONSOLE_LOGS/guest-$n.log"
    start_domain "$n" || return
    domid=$(xl domid "$n")
    lab INFO "$n/backend" "$(xenstore-ls "$(p9_backend "$domid")" 2>&1 | tr '\n' ' ')"
    follow_guest "$n"
    relay_guest "$n" "$n"
    # The device model's log: when the guest failed, or traced
    if [ -n "$TRACE" ] || ! grep -q '^LAB-GUEST: PASS p9' "$CONSOLE_LOGS/guest-$n.log"; then
        dm_log "$n"
    fi
    same "$n/p9-guest-read" "$(md5 "$share/from-dom0.bin")" "$(guest_info "$n" p9-read-md5)"
    same "$n/p9-dom0-read" "$(guest_info "$n" p9-write-md5)" \
        "$(md5 "$share/from-guest.bin" 2>/dev/null)"
    # The guest's listing of the share names both files
    ls=$(guest_info "$n" p9-ls)
    case " $ls " in *" from-dom0.bin "*) case " $ls " in *" from-guest.bin "*) true ;; *) false ;; esac ;;
    *) false ;; esac
    check "$n/p9-listing" $? "guest's ls: ${ls:-nothing}"
    lab INFO "$n/mount" "$(guest_info "$n" p9-mount)"
    # The smoke of bench-xen's cases: a figure each
    w=$(bench_mibs "$n" p9-write-1m)
    r=$(bench_mibs "$n" p9-read-1m)
    [ -n "$w" ] && [ -n "$r" ]
    check "$n/bench-smoke" $? "16 MiB through the mount, MiB/s: write=${w:-none} read=${r:-none}"
    # Gone with the guest: its device model and the 9pfs backend
    local i=0
    while { dm_running "$domid" || xenstore-exists "$(p9_backend "$domid")"; } &&
          [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    ! dm_running "$domid"
    check "$n/dm-exited" $? "device model of domain $domid"
    ! xenstore-exists "$(p9_backend "$domid")"
    check "$n/backend-removed" $? "$(p9_backend "$domid")"
}

# Our xen-9pfs (created from XenStore by hw/xen/pv/xen-9pfs-xs.c), then
# upstream's legacy backend (hw/9pfs/xen-9p-backend.c, the stock build) on
# the same steps; the two speeds side by side in the summary.
scenario_p9() {
    local k o s
    p9_guest lab-p9 "$LAB/ours/bin/qemu-system-x86_64"
    p9_guest lab-p9stock "$LAB/stock/bin/qemu-system-x86_64"
    for k in p9-write-1m p9-read-1m; do
        o=$(bench_mibs lab-p9 $k)
        s=$(bench_mibs lab-p9stock $k)
        lab INFO summary "$k-mibs ours=${o:-?} stock=${s:-?} ratio=$(awk -v o="$o" -v s="$s" \
            'BEGIN { if (o > 0 && s > 0) printf "%.2fx", o / s; else printf "?" }')"
    done
}

# Linux's backends and bench-xen's matrix (scenario_peers, scenario_bench).
. "$LAB/peers.sh"

# Configurations operators use (qcow2, 4096-byte sectors, discard, resize,
# media change, detach under I/O, save/restore, reboots).
. "$LAB/configs.sh"

# The package of "make deb" installed with dpkg, guests from plain xl
# configs, dpkg -r (scenario_install).
. "$LAB/install.sh"
