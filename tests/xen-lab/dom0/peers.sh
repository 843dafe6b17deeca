# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# The peers operators run instead of ours, in the lab: Linux's in-kernel
# backends in dom0 (xen-blkback on a loop device, xen-netback on the bridge)
# and upstream's qdisk (the stock build).  Sourced by scenarios.sh.
#
#   scenario_peers   the smoke (make check): one guest on blkback and
#                    netback, data checked both ways, a verified fio run and
#                    iperf3 each way
#   scenario_bench   bench-xen's matrix (scripts/xen-lab/bench_xen.py): the
#                    same guest and the same image served by each backend in
#                    turn, rounds interleaved, dom0 quiet while it measures;
#                    ours and stock also serve a 9pfs share (dd through the
#                    mount; Xen 4.17 has no 9pfs backend of its own)
#
# The guests of both boot on domU-tools.cpio (the base image with fio and
# iperf3).  Every disk they see is a file on dom0's tmpfs: qdisk opens the
# file, blkback gets a loop device over the same file.

PEER_CPIO=$LAB/domU-tools.cpio
PEER_MEM=384
BENCH_IMG=$IMG/bench.img

# Linux's backends and what their hotplug scripts need.  The modules are in
# dom0's image; a missing one, or a dom0 without /dev/fd (Xen's block
# script spins in claim_lock without it), fails here.
peers_setup() {   # scenario
    local m
    for m in loop xen-blkback xen-netback; do
        modprobe "$m" || { lab FAIL "$1/setup" "modprobe $m"; return 1; }
    done
    [ -e /dev/fd/0 ] || { lab FAIL "$1/setup" "no /dev/fd"; return 1; }
    command -v losetup >/dev/null || { lab FAIL "$1/setup" "no losetup"; return 1; }
    command -v iperf3 >/dev/null || { lab FAIL "$1/setup" "no iperf3"; return 1; }
    # The guests' peer: iperf3's server, and (beside the blobs of the bulk
    # checks) two CGIs: dom0's CPU counters, and a page-cache drop.
    if [ ! -e /run/lab-iperf3.pid ]; then
        iperf3 -s -D -B 192.168.77.1 -I /run/lab-iperf3.pid ||
            { lab FAIL "$1/setup" "iperf3 -s"; return 1; }
    fi
    mkdir -p "$IMG/www/cgi-bin"
    printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nhead -n 1 /proc/stat\n' \
        > "$IMG/www/cgi-bin/stat"
    printf '#!/bin/sh\nsync\necho 3 > /proc/sys/vm/drop_caches\nprintf "Content-Type: text/plain\\r\\n\\r\\ndropped\\n"\n' \
        > "$IMG/www/cgi-bin/drop"
    chmod 755 "$IMG/www/cgi-bin/stat" "$IMG/www/cgi-bin/drop"
    # scenario_ours may serve the same directory already.
    timeout 10 busybox wget -q -O /dev/null http://192.168.77.1:8080/cgi-bin/stat 2>/dev/null ||
        busybox httpd -p 192.168.77.1:8080 -h "$IMG/www" ||
        { lab FAIL "$1/setup" "httpd"; return 1; }
    timeout 10 busybox wget -q -O - http://192.168.77.1:8080/cgi-bin/stat 2>/dev/null | grep -q '^cpu ' ||
        { lab FAIL "$1/setup" "dom0's CPU counters are not served"; return 1; }
    # lab.bench-perf=1: from now on (after the checks above) the guest's
    # reads of dom0's counters, which bracket each case, also start and
    # stop a system-wide profile of dom0 (perf-<case number>.data, reported
    # after the round).
    if [ "$(bench_arg bench-perf)" = 1 ]; then
        cat >> "$IMG/www/cgi-bin/stat" <<EOF
if [ -e $IMG/perf.pid ]; then
    kill -INT \$(cat $IMG/perf.pid); rm -f $IMG/perf.pid
else
    n=\$(ls $IMG/perf-*.data 2>/dev/null | wc -l)
    setsid perf record -a -g -F 499 -o $IMG/perf-\$((n + 1)).data </dev/null >/dev/null 2>&1 &
    echo \$! > $IMG/perf.pid
fi
EOF
    fi
}

# An xl config for a guest on domU-tools.cpio.
write_peer_cfg() {   # name qemu steps disk-lines vif-lines [extra lines]
    cat > "$IMG/$1.cfg" <<EOF
name = "$1"
type = "pv"
kernel = "/boot/vmlinuz-domU"
ramdisk = "$PEER_CPIO"
extra = "console=hvc0 lab.steps=$3 ${BENCH_GUEST_ARGS:-}"
memory = $PEER_MEM
vcpus = 2
on_poweroff = "destroy"
on_crash = "destroy"
disk = [ $4 ]
vif = [ $5 ]
device_model_version = "qemu-xen"
device_model_override = "$2"
${6:-}
EOF
}

# Xen's names for a domain's first vbd (xvda) and vif backends.
vbd_backend() { echo "/local/domain/0/backend/vbd/$1/51712"; }
vif_backend() { echo "/local/domain/0/backend/vif/$1/0"; }

# One guest on blkback and netback: the disk and net steps of the other
# scenarios (data both ways), then the tools' smoke.
scenario_peers() {
    local n=lab-peers domid loop
    peers_setup $n || return
    make_image "$IMG/peers.img" 64
    loop=$(losetup -f --show "$IMG/peers.img") ||
        { lab FAIL "$n/setup" "losetup on $IMG/peers.img"; return; }
    # The bulk checks' blob and markers, afresh (scenario_ours leaves its own).
    rm -f "$IMG"/www/*-done
    dd if=/dev/urandom of="$IMG/www/blob" bs=1M count=8 2>/dev/null
    write_peer_cfg $n "$LAB/ours/bin/qemu-system-x86_64" disk,net,fiosmoke,iperfsmoke \
        "\"format=raw,vdev=xvda,access=rw,backendtype=phy,target=$loop\"" \
        "'bridge=xenbr0,mac=00:16:3e:77:00:03'"
    start_domain $n || { losetup -d "$loop"; return; }
    domid=$(xl domid $n)
    # Served by Linux: the backends are blkback's (vbd) and netback's (vif).
    [ "$(xenstore-read "$(vbd_backend "$domid")/physical-device-path" 2>/dev/null)" = "$loop" ]
    check "$n/blkback" $? "xvda: $(vbd_backend "$domid") on $loop"
    xenstore-exists "$(vif_backend "$domid")" && ip link set "vif$domid.0" mtu 9000
    check "$n/netback" $? "$(vif_backend "$domid"), vif$domid.0 at MTU 9000"
    follow_guest $n
    relay_guest $n $n
    same "$n/disk-guest-read" "$(md5_at "$IMG/peers.img" 0 1)" "$(guest_info $n disk-read-md5)"
    same "$n/disk-dom0-read" "$(guest_info $n disk-write-md5)" "$(md5_at "$IMG/peers.img" 1 1)"
    same "$n/bulk1500-dom0-to-guest" "$(md5 "$IMG/www/blob")" "$(guest_info $n bulk1500-fetched-md5)"
    same "$n/bulk9000-dom0-to-guest" "$(md5 "$IMG/www/blob")" "$(guest_info $n bulk9000-fetched-md5)"
    lab INFO "$n/blkfront" "$(guest_info $n blkfront)"
    lab INFO "$n/queues" "$(guest_info $n disk-queues)"
    local i=0
    while { xenstore-exists "$(vbd_backend "$domid")" || xenstore-exists "$(vif_backend "$domid")"; } &&
          [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    ! xenstore-exists "$(vbd_backend "$domid")" && ! xenstore-exists "$(vif_backend "$domid")"
    check "$n/backends-removed" $? "$(vbd_backend "$domid") $(vif_backend "$domid")"
    losetup -d "$loop"
}

# --- bench-xen ---------------------------------------------------------------

# lab.bench-reps=N (3), lab.bench-secs=S (5): rounds, seconds per case;
# lab.bench-p9-mib=M (64): the file the 9pfs cases write and read;
# for a profile, lab.bench-backends=a,b (ours,linux,stock) and
# lab.bench-cases=c,d (all) narrow the matrix, lab.trace=PATTERN traces
# our QEMU (its trace lines go to the serial log after each round), and
# lab.bench-perf=1 profiles dom0 during each case (perf record -a -g);
# lab.bench-net-iothread=1 puts our NIC's queues on an IOThread.
bench_arg() { sed -n "s/.*lab\.$1=\([0-9a-z,-]*\).*/\1/p" /proc/cmdline; }

# A guest measuring on backend $1 (ours: our qdisk, NIC and xen-9pfs;
# linux: blkback and netback; stock: upstream's qdisk and legacy 9pfs
# backend, a netback vif for dom0's counters only), then gone.  dom0 waits with a check every 5 s and reads the guest's
# figures once it has powered off.
bench_round() {   # backend rep
    local n="bench-$1" domid deadline t0 ours="$LAB/ours/bin/qemu-system-x86_64"
    local qdisk="\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$BENCH_IMG\""
    local netback="'bridge=xenbr0,mac=00:16:3e:77:00:03'"
    local trace_args=""
    [ -n "$TRACE" ] && trace_args=', "-trace", "enable='"$TRACE"'", "-msg", "timestamp=on"'
    # The 9pfs cases' share (ours: our xen-9pfs; stock: upstream's legacy
    # backend), empty at each round.
    local share="$IMG/bench-share" p9
    rm -rf "$share"
    mkdir -p "$share"
    p9="p9 = [ \"tag=share0,path=$share,security_model=none,backend=0\" ]"
    case "$1" in
    ours)
        # lab.bench-net-iothread=1: our NIC's queues on an IOThread.
        local nic_io="" nic_obj=""
        if [ "$(bench_arg bench-net-iothread)" = 1 ]; then
            nic_io=",iothread=nicio"
            nic_obj='"-object", "iothread,id=nicio", '
        fi
        write_peer_cfg "$n" "$ours" benchdisk,benchnet,benchp9 "$qdisk" "" \
            "device_model_args_pv = [ $nic_obj\"-netdev\", \"tap,id=lab0,ifname=benchtap0,script=no,downscript=no\",
                         \"-device\", \"xen-net-device,netdev=lab0,mac=00:16:3e:77:00:02,mtu=9000$nic_io\"$trace_args ]
$p9" ;;
    linux)
        write_peer_cfg "$n" "$ours" benchdisk,benchnet \
            "\"format=raw,vdev=xvda,access=rw,backendtype=phy,target=$BENCH_LOOP\"" "$netback" ;;
    stock)
        write_peer_cfg "$n" "$LAB/stock/bin/qemu-system-x86_64" benchdisk,benchp9 "$qdisk" \
            "$netback" "$p9" ;;
    esac
    t0=$(cut -d. -f1 /proc/uptime)
    # xenconsoled appends to a name's log: each round reads its own.
    rm -f "$CONSOLE_LOGS/guest-$n.log"
    # libxl gives a device model 10 s to answer its first QMP commands; on
    # a loaded host (dom0's vCPUs starved) ours has missed that ("Post DM
    # startup configs failed, rc=-9"): the whole create log, then up to two
    # more tries after a pause.
    local try=1
    while ! start_domain "$n"; do
        sed 's/^/XEN-LAB: INFO create-log /' "$IMG/$n.create.log"
        xl destroy "$n" 2>/dev/null
        [ $try -lt 3 ] || return 1
        try=$((try + 1))
        sleep 10
    done
    domid=$(xl domid "$n")
    case "$1" in
    ours) ip link set benchtap0 mtu 9000 master xenbr0 up ;;
    *) ip link set "vif$domid.0" mtu 9000 ;;
    esac
    deadline=$((t0 + BENCH_ROUND_TIMEOUT))
    # The cheapest look (an xl call costs dom0 about 10 % of its CPU when
    # made every 2 s, as a profile of these rounds showed), every 5 s.
    while xenstore-exists "/local/domain/$domid" &&
          [ "$(cut -d. -f1 /proc/uptime)" -lt $deadline ]; do
        sleep 5
    done
    if domain_alive "$n"; then
        lab FAIL "bench/$1/$2" "round not done within ${BENCH_ROUND_TIMEOUT}s"
        xl destroy "$n"
    fi
    # The figures, then the guest's verdicts and console for the log.
    tr -d '\r' < "$CONSOLE_LOGS/guest-$n.log" |
        sed -n "s#^LAB-GUEST: INFO bench \([^ ]*\) #XEN-LAB: INFO bench/$1/$2/\1 #p
                s#^LAB-GUEST: INFO bench-\([^ ]*\) #XEN-LAB: INFO bench/$1/$2/\1 #p
                s#^LAB-GUEST: FAIL \(.*\)#XEN-LAB: FAIL bench/$1/$2/\1#p"
    lab INFO "bench/$1/$2/round-seconds" "$(( $(cut -d. -f1 /proc/uptime) - t0 ))"
    dump_guest "$n"
    # The profiles of dom0 (lab.bench-perf=1), one per case: the top of
    # each by command, object and symbol, the share of each command
    # ("swapper" is idle), and our QEMU's symbols with the call chains
    # perf can unwind.
    local f
    # A case cut short leaves its profile running.
    if [ -e "$IMG/perf.pid" ]; then
        kill -INT "$(cat "$IMG/perf.pid")"
        rm -f "$IMG/perf.pid"
    fi
    for f in "$IMG"/perf-*.data; do
        [ -e "$f" ] || continue
        sleep 2
        lab INFO "bench/$1/$2/perf" "$(basename "$f"): $(perf report -i "$f" --stdio 2>/dev/null | grep -m 1 'of event')"
        perf report -i "$f" --stdio --no-children -g none --percent-limit 0.7 \
                --sort comm,dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' |
            head -n 60 | sed "s#^#XEN-LAB: INFO bench/$1/$2/perf #"
        perf report -i "$f" --stdio --no-children --sort comm -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -n 12 |
            sed "s#^#XEN-LAB: INFO bench/$1/$2/perf-comm #"
        perf report -i "$f" --stdio --no-children --comms qemu-system-x86 --sort sym \
                -g caller,0.5,callee,function,percent 2>&1 |
            grep -v '^#' | grep -v '^$' | head -n 150 |
            sed "s#^#XEN-LAB: INFO bench/$1/$2/perf-graph #"
        rm -f "$f"
    done
    # The trace, summarised (the serial line is slow): events counted by
    # name, and the lines of the rarer ones (fewer than 200) in full.
    if [ -n "$TRACE" ] && [ "$1" = ours ]; then
        grep -a '^[0-9]*@' "/var/log/xen/qemu-dm-$n.log" |
            sed 's/^[0-9]*@[0-9.]*:\([a-z_0-9]*\).*/\1/' | sort | uniq -c |
            while read -r count event; do
                lab INFO "bench/$1/$2/trace" "$event $count"
                [ "$count" -ge 200 ] ||
                    grep -a "^[0-9]*@[0-9.]*:$event " "/var/log/xen/qemu-dm-$n.log" | sed "s/^/[dm-$n] /"
            done
        bench_block_latency "/var/log/xen/qemu-dm-$n.log" "$1/$2"
    fi
    grep -q '^LAB-GUEST: DONE' "$CONSOLE_LOGS/guest-$n.log"
}

# Where a request's time goes, from the trace of xen_pv_block_request and
# xen_pv_block_respond (lab.trace=xen_pv_block_re*, "-msg timestamp=on"):
# "inside", from reading a request off the ring to writing its response
# (our submission, the block layer, the file, our completion); "outside",
# from a response to the next request read (our notification, the guest's
# completion and next submission, its kick, our wake-up): per-I/O time at
# QD1, where the next request waits for the last response.  Medians and
# 90th percentiles in microseconds.
bench_block_latency() {   # log label
    local f kind
    f=$(mktemp)
    grep -a -E '^[0-9]+@[0-9.]+:xen_pv_block_(request|respond) ' "$1" |
        awk '{
            split($1, a, "@"); split(a[2], b, ":"); t = b[1] * 1000000
            key = $3 " " $5
            if (b[2] == "xen_pv_block_request") {
                if (last != "") printf "outside %d\n", t - last
                start[key] = t
            } else if (key in start) {
                printf "inside %d\n", t - start[key]
                delete start[key]
                last = t
            }
        }' > "$f"
    for kind in inside outside; do
        grep "^$kind " "$f" | cut -d" " -f2 | sort -n | awk -v kind="$kind" -v label="$2" '
            { v[NR] = $1 }
            END {
                if (!NR) exit
                p90 = int(NR * 0.9)
                if (p90 < 1) p90 = 1
                printf "XEN-LAB: INFO bench/%s/latency %s: %d requests, median %.0f us, p90 %.0f us\n",
                    label, kind, NR, v[int((NR + 1) / 2)], v[p90]
            }'
    done
    rm -f "$f"
}

# Every backend BENCH_REPS times, rounds interleaved (ours linux stock, then
# stock linux ours, ...: which goes first alternates), in one boot.
scenario_bench() {
    local reps secs rep b order ok=0 all=0
    reps=$(bench_arg bench-reps); reps=${reps:-3}
    secs=$(bench_arg bench-secs); secs=${secs:-5}
    backends=$(bench_arg bench-backends | tr ',' ' '); backends=${backends:-ours linux stock}
    # 12 cases of secs + ~15 s of start-up each, the 9pfs cases (dd of
    # lab.bench-p9-mib, 64 MiB by default: up to 300 s each), plus the
    # guest's boot.
    BENCH_ROUND_TIMEOUT=$((12 * (secs + 20) + 2 * 300 + 180))
    BENCH_GUEST_ARGS="lab.bench-secs=$secs lab.bench-cases=$(bench_arg bench-cases)"
    [ -z "$(bench_arg bench-p9-mib)" ] ||
        BENCH_GUEST_ARGS="$BENCH_GUEST_ARGS lab.bench-p9-mib=$(bench_arg bench-p9-mib)"
    peers_setup bench || return
    # The guests' disk: 256 MiB on dom0's tmpfs, every page allocated.
    dd if=/dev/zero of="$BENCH_IMG" bs=1M count=256 2>/dev/null
    BENCH_LOOP=$(losetup -f --show "$BENCH_IMG") ||
        { lab FAIL bench/setup "losetup on $BENCH_IMG"; return; }
    lab PASS bench/setup "$BENCH_IMG (256 MiB, tmpfs) on $BENCH_LOOP; $reps rounds of ${secs}s cases"
    lab INFO bench/dom0 "vcpus=$(grep -c '^processor' /proc/cpuinfo) blkback max_queues=$(cat /sys/module/xen_blkback/parameters/max_queues 2>/dev/null) netback max_queues=$(cat /sys/module/xen_netback/parameters/max_queues 2>/dev/null)"
    rep=1
    while [ $rep -le "$reps" ]; do
        order=$backends
        [ $((rep % 2)) = 1 ] || order=$(echo "$backends" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
        for b in $order; do
            all=$((all + 1))
            bench_round "$b" "$rep" && ok=$((ok + 1))
        done
        rep=$((rep + 1))
    done
    [ "$ok" = "$all" ]
    check bench/rounds $? "$ok of $all rounds done"
    losetup -d "$BENCH_LOOP"
}
