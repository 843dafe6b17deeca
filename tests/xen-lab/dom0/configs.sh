# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Configurations operators use, sourced by scenarios.sh: a Linux guest on
# our QEMU with a qcow2 disk, a disk with 4096-byte sectors, discard, an
# online resize, a CD-ROM media change, a detach under I/O (scenario
# configs, one guest boot), and xl save/restore followed by five xl reboot
# cycles (scenario cycle, one guest booted six times).  The data is checked
# both ways as in scenarios.sh: dom0 compares what the guest read with what
# it put there, and reads what the guest wrote once the guest is gone.

QEMU_IMG=$LAB/ours/bin/qemu-img

# Run QMP commands (or --qdev NODE) on the device model of domain DOMID,
# through libxl's socket: a missing perl or socket fails, as it must.
dm_qmp() {   # domid args...
    local domid=$1
    shift
    perl "$LAB/qmp" "/var/run/xen/qmp-libxl-$domid" "$@"
}

zero_md5() { dd if=/dev/zero bs=1M count="$1" 2>/dev/null | md5sum | cut -d' ' -f1; }
seconds_since() { awk -v a="$1" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN {printf "%.1f", b - a}'; }

# Extra lines for a config written by write_cfg: set KEY = VALUE.
cfg_set() {   # name key value
    sed -i "/^$2 = /d" "$IMG/$1.cfg"
    echo "$2 = $3" >> "$IMG/$1.cfg"
}

# XenStore device numbers of the configs guest's disks (xvda + 16 * index).
CFG_XVDD=51760
CFG_XVDB=51728
CFG_XVDF=51792
CFG_RESIZED=50331648    # xvdd grows from 32 to 48 MiB

# One guest, six disks:
#   xvda  qcow2 (libxl format=qcow2), made in dom0 with our qemu-img
#   xvdb  CD-ROM (libxl devtype=cdrom), ejected and changed over QMP
#   xvdc  raw, sparse, with discard: the guest discards 8 MiB dom0 filled
#   xvdd  raw, grown over QMP (block_resize on libxl's node) while in use
#   xvde  raw with 4096-byte logical sectors: libxl cannot say so, so the
#         disk is on the device model's command line (device_model_args_pv)
#   xvdf  raw, detached with xl block-detach while the guest writes to it
scenario_configs() {
    local n=lab-cfg domid trace="" want before after out
    make_image "$IMG/cfg-qcow2.raw" 64
    out=$("$QEMU_IMG" convert -f raw -O qcow2 "$IMG/cfg-qcow2.raw" "$IMG/cfg.qcow2" 2>&1) &&
        "$QEMU_IMG" info "$IMG/cfg.qcow2" 2>&1 | grep -q '^file format: qcow2$'
    check "$n/qcow2-create" $? "qemu-img convert -O qcow2 $out"
    CFG_QCOW2_MD5=$(md5_at "$IMG/cfg-qcow2.raw" 0 1)
    rm -f "$IMG/cfg-qcow2.raw"
    make_image "$IMG/cfg-cd1.iso" 4
    dd if=/dev/urandom of="$IMG/cfg-cd2.iso" bs=1M count=6 2>/dev/null
    make_image "$IMG/cfg-discard.img" 32
    dd if=/dev/urandom of="$IMG/cfg-discard.img" bs=1M seek=4 count=8 conv=notrunc 2>/dev/null
    before=$(stat -c %b "$IMG/cfg-discard.img")
    make_image "$IMG/cfg-resize.img" 32
    make_image "$IMG/cfg-4k.img" 32
    CFG_4K_MD5=$(md5_at "$IMG/cfg-4k.img" 0 1)
    make_image "$IMG/cfg-detach.img" 32
    write_cfg $n "$LAB/ours/bin/qemu-system-x86_64" qcow2,sect4k,discard,resize,cdchange,busydetach \
        "\"format=qcow2,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/cfg.qcow2\",
         \"format=raw,vdev=xvdb,access=ro,devtype=cdrom,backendtype=qdisk,target=$IMG/cfg-cd1.iso\",
         \"format=raw,vdev=xvdc,access=rw,backendtype=qdisk,discard,target=$IMG/cfg-discard.img\",
         \"format=raw,vdev=xvdd,access=rw,backendtype=qdisk,target=$IMG/cfg-resize.img\",
         \"format=raw,vdev=xvdf,access=rw,backendtype=qdisk,target=$IMG/cfg-detach.img\""
    [ -n "$TRACE" ] && trace=', "-trace", "enable='"$TRACE"'"'
    cfg_set $n device_model_args_pv "[ \"-drive\", \"if=none,id=lab4k,format=raw,file=$IMG/cfg-4k.img\",
        \"-device\", \"xen-disk,vdev=xvde,drive=lab4k,logical_block_size=4096,physical_block_size=4096\"$trace ]"
    start_domain $n || return
    domid=$(xl domid $n)
    follow_guest $n
    relay_guest $n $n

    # qcow2: dom0's first MiB as the guest read it; what it wrote, read
    # back by qemu-img; the image is consistent.
    same "$n/qcow2-guest-read" "$CFG_QCOW2_MD5" "$(guest_info $n qcow2-read-md5)"
    out=$("$QEMU_IMG" check -f qcow2 "$IMG/cfg.qcow2" 2>&1)
    check "$n/qcow2-image-check" $? "qemu-img check: $(echo "$out" | tail -n 1)"
    rm -f "$IMG/cfg-qcow2.raw"
    "$QEMU_IMG" convert -f qcow2 -O raw "$IMG/cfg.qcow2" "$IMG/cfg-qcow2.raw" 2>/dev/null
    same "$n/qcow2-dom0-read" "$(guest_info $n qcow2-write-md5)" "$(md5_at "$IMG/cfg-qcow2.raw" 1 1)"
    same "$n/after-detach-dom0-read" "$(guest_info $n after-detach-write-md5)" \
        "$(md5_at "$IMG/cfg-qcow2.raw" 2 1)"
    rm -f "$IMG/cfg-qcow2.raw"

    # 4096-byte sectors: the size in 512-byte units, dom0's MiB, then the
    # guest's file system: clean for e2fsck, its file as the guest wrote it.
    same "$n/sect4k-sectors" "$(( $(stat -c %s "$IMG/cfg-4k.img") / 512 ))" "$(guest_info $n sect4k-size)"
    same "$n/sect4k-guest-read" "$CFG_4K_MD5" "$(guest_info $n sect4k-read-md5)"
    out=$(e2fsck -fn "$IMG/cfg-4k.img" 2>&1)
    check "$n/sect4k-fsck" $? "e2fsck -fn: $(echo "$out" | tail -n 1)"
    rm -f "$IMG/cfg-4k.bin"
    debugfs -R "dump /lab.bin $IMG/cfg-4k.bin" "$IMG/cfg-4k.img" >/dev/null 2>&1
    same "$n/sect4k-dom0-read" "$(guest_info $n sect4k-file-md5)" "$(md5 "$IMG/cfg-4k.bin" 2>/dev/null)"
    lab INFO "$n/sect4k-block-size" "logical $(guest_info $n sect4k-lbs) physical $(guest_info $n sect4k-pbs)"

    # Discard: 8 MiB discarded, 1 MiB written: at least 7 MiB fewer
    # allocated blocks (st_blocks, 512 bytes; tmpfs punches holes).
    after=$(stat -c %b "$IMG/cfg-discard.img")
    [ "$before" -gt 0 ] && [ "$((before - after))" -ge 14336 ]
    check "$n/discard-blocks" $? "allocated 512-byte blocks $before before, $after after"
    same "$n/discard-zeroes" "$(zero_md5 8)" "$(md5_at "$IMG/cfg-discard.img" 4 8)"
    same "$n/discard-guest-read" "$(md5_at "$IMG/cfg-discard.img" 0 1)" "$(guest_info $n discard-read-md5)"
    same "$n/discard-dom0-read" "$(guest_info $n discard-write-md5)" "$(md5_at "$IMG/cfg-discard.img" 1 1)"
    lab INFO "$n/discard-limits" "max_bytes=$(guest_info $n discard-max-bytes) granularity=$(guest_info $n discard-granularity)"

    # Resize: the guest saw the new size; the area it added, both ways.
    same "$n/resize-size" "$((CFG_RESIZED / 512)) $CFG_RESIZED" \
        "$(guest_info $n resize-new-size) $(stat -c %s "$IMG/cfg-resize.img")"
    same "$n/resize-guest-read" "$(md5_at "$IMG/cfg-resize.img" 0 1)" "$(guest_info $n resize-read-md5)"
    same "$n/resize-tail-guest-read" "$(md5_at "$IMG/cfg-resize.img" 40 1)" \
        "$(guest_info $n resize-tail-read-md5)"
    same "$n/resize-tail-dom0-read" "$(guest_info $n resize-tail-write-md5)" \
        "$(md5_at "$IMG/cfg-resize.img" 44 1)"

    # CD-ROM: the first medium, then the second (its size, first and last MiB).
    same "$n/cdrom-guest-read" "$(md5_at "$IMG/cfg-cd1.iso" 0 1)" "$(guest_info $n cd-old-md5)"
    same "$n/cdrom-new-guest-read" \
        "12288 $(md5_at "$IMG/cfg-cd2.iso" 0 1) $(md5_at "$IMG/cfg-cd2.iso" 5 1)" \
        "$(guest_info $n cd-new-size) $(guest_info $n cd-new-md5) $(guest_info $n cd-new-last-md5)"

    # Detach under I/O: what the guest wrote before it is intact.
    same "$n/busy-detach-data" "$(guest_info $n busy-before-md5)" "$(md5_at "$IMG/cfg-detach.img" 0 1)"
    lab INFO "$n/busy-detach-guest" "$(guest_info $n busy-guest); writer $(guest_info $n busy-writer); dmesg $(guest_info $n busy-dmesg)"
    check_cleanup $n "$domid"
    rm -f "$IMG"/cfg*
}

on_wait_resize() {
    local domid out
    domid=$(xl domid "$1")
    # The area the resize adds gets data for the guest first (ftruncate
    # keeps it): the guest reads it as soon as it sees the new size.
    dd if=/dev/urandom of="$IMG/cfg-resize.img" bs=1M seek=40 count=1 conv=notrunc 2>/dev/null
    out=$(dm_qmp "$domid" "{\"execute\": \"block_resize\", \"arguments\": {\"node-name\": \"xen-qdisk-$domid-$CFG_XVDD\", \"size\": $CFG_RESIZED}}" 2>&1)
    check "$1/resize-qmp" $? "block_resize xen-qdisk-$domid-$CFG_XVDD $CFG_RESIZED: $out"
}

# libxl's CD-ROM has neither a drive name nor a qdev id: find its QOM
# path from its block node (query-block), then eject and change by id.
on_wait_cdrom_eject() {
    local domid out
    domid=$(xl domid "$1")
    CFG_CD_QDEV=$(dm_qmp "$domid" --qdev "xen-qdisk-$domid-$CFG_XVDB" 2>&1) &&
        out=$(dm_qmp "$domid" "{\"execute\": \"eject\", \"arguments\": {\"id\": \"$CFG_CD_QDEV\"}}" 2>&1)
    check "$1/cdrom-eject-qmp" $? "eject $CFG_CD_QDEV: $out"
}
on_wait_cdrom_change() {
    local domid out
    domid=$(xl domid "$1")
    out=$(dm_qmp "$domid" "{\"execute\": \"blockdev-change-medium\", \"arguments\": {\"id\": \"$CFG_CD_QDEV\", \"filename\": \"$IMG/cfg-cd2.iso\", \"format\": \"raw\"}}" 2>&1)
    check "$1/cdrom-change-qmp" $? "blockdev-change-medium $CFG_CD_QDEV: $out"
}

# xl block-detach while the guest writes to the disk: it must complete (the
# backend directory gone) or be refused with an error, within 120 s (no
# hang), and the device model must survive it.
on_wait_busy_detach() {
    local domid rc t0 be msg
    domid=$(xl domid "$1")
    be=/local/domain/0/backend/qdisk/$domid/$CFG_XVDF
    t0=$(cut -d' ' -f1 /proc/uptime)
    timeout 120 xl block-detach "$1" xvdf > "$IMG/cfg-detach.log" 2>&1
    rc=$?
    msg="after $(seconds_since "$t0") s: $(tail -n 2 "$IMG/cfg-detach.log" | tr '\n' ' ')"
    case $rc in
    0)
        ! xenstore-exists "$be"
        check "$1/busy-detach" $? "completed $msg" ;;
    124)
        lab FAIL "$1/busy-detach" "xl block-detach hung: killed $msg" ;;
    125|126|127)
        lab FAIL "$1/busy-detach" "cannot run timeout or xl (status $rc)" ;;
    *)
        # Refused: the disk is still there, whole.
        xenstore-exists "$be"
        check "$1/busy-detach" $? "refused (status $rc) $msg" ;;
    esac
    # The device model survives: it answers QMP, and its process runs.
    # (The guest waits for the go-ahead below before it goes on.)
    msg=$(dm_qmp "$domid" '{"execute": "query-status"}' 2>&1)
    case "$msg" in *'"status": "running"'*) dm_running "$domid" ;; *) false ;; esac
    rc=$?
    check "$1/busy-detach-dm-alive" $rc "device model of domain $domid after the detach: $msg"
    if [ $rc != 0 ]; then
        busybox ps -o pid,args 2>&1 | grep -v '\[' | cut -c1-200 | sed 's/^/XEN-LAB: INFO ps /'
        tail -n 10 "/var/log/xen/xl-$1.log" 2>&1 | sed 's/^/XEN-LAB: INFO xl-log /'
        dm_log "$1"
    fi
    # Go-ahead for the guest: a sysrq help line in its dmesg.
    xl sysrq "$1" h
}

# One guest, one disk, booted six times: the first boot is saved and
# restored (xl save, xl restore: libxl starts a new device model), then
# dom0 reboots it five times (xl reboot, on_reboot = "restart").  Each boot
# tells which it is from a counter on its disk and writes its own MiB.
scenario_cycle() {
    local n=lab-cycle i want bad domid
    truncate -s 32M "$IMG/cycle.img"
    dd if=/dev/urandom of="$IMG/cycle.img" bs=1M seek=16 count=1 conv=notrunc 2>/dev/null
    write_cfg $n "$LAB/ours/bin/qemu-system-x86_64" cycle \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/cycle.img\""
    # Six boots: one vCPU, no boot messages on the console (each line goes
    # through xenconsoled, dom0's follower and Xen's serial port).
    cfg_set $n memory 128
    cfg_set $n vcpus 1
    cfg_set $n extra '"console=hvc0 quiet lab.steps=cycle"'
    cfg_set $n on_reboot '"restart"'
    CYCLE_REBOOTS=0
    CYCLE_OLD=""
    start_domain $n || return
    CYCLE_DOMID=$(xl domid $n)
    follow_guest $n
    relay_guest $n $n

    same "$n/save-after-dom0-read" "$(guest_info $n save-after-md5)" "$(md5_at "$IMG/cycle.img" 11 1)"
    same "$n/boots" 6 "$(guest_info $n boot)"
    want=$(md5_at "$IMG/cycle.img" 16 1)
    bad=""
    for i in 1 2 3 4 5 6; do
        [ "$(guest_info $n "boot-$i-read-md5")" = "$want" ] || bad="$bad $i"
    done
    [ -z "$bad" ]
    check "$n/boots-guest-read" $? "boots whose read of dom0's MiB differs:${bad:- none}"
    bad=""
    for i in 1 2 3 4 5 6; do
        [ -n "$(guest_info $n "boot-$i-write-md5")" ] &&
            [ "$(guest_info $n "boot-$i-write-md5")" = "$(md5_at "$IMG/cycle.img" "$i" 1)" ] ||
            bad="$bad $i"
    done
    [ -z "$bad" ]
    check "$n/boots-dom0-read" $? "boots whose MiB dom0 reads differently:${bad:- none}"
    # The device models of the domains before the last are gone too.
    bad=""
    for domid in $CYCLE_OLD; do
        { dm_running "$domid" || xenstore-exists "/local/domain/0/backend/qdisk/$domid"; } &&
            bad="$bad $domid"
    done
    [ -n "$CYCLE_OLD" ] && [ -z "$bad" ]
    check "$n/old-dm-exited" $? "domains${CYCLE_OLD:- none} (left behind:${bad:- none})"
    check_cleanup $n "$CYCLE_DOMID"
    rm -f "$IMG"/cycle*
}

# Wait until domain NAME exists with an id other than OLD (60 s at most);
# print it.
wait_new_domid() {   # name old
    local id deadline
    deadline=$(( $(cut -d. -f1 /proc/uptime) + 60 ))
    while [ "$(cut -d. -f1 /proc/uptime)" -lt "$deadline" ]; do
        id=$(xl domid "$1" 2>/dev/null)
        [ -n "$id" ] && [ "$id" != "$2" ] && { echo "$id"; return 0; }
        sleep 0.2
    done
    return 1
}

# What xl and the guest were doing, after a failure of the cycle.
cycle_debug() {   # name
    xenstore-ls "/local/domain/$CYCLE_DOMID/control" 2>&1 | sed 's/^/XEN-LAB: INFO control /'
    xenstore-ls "/local/domain/0/backend/qdisk/$CYCLE_DOMID" 2>&1 | grep state | sed 's/^/XEN-LAB: INFO backend /'
    xl list 2>&1 | sed 's/^/XEN-LAB: INFO xl-list /'
    tail -n 15 "/var/log/xen/xl-$1.log" 2>/dev/null | sed 's/^/XEN-LAB: INFO xl-log /'
    tail -n 20 "$CONSOLE_LOGS/guest-$1.log" 2>/dev/null | tr -d '\r' | sed 's/^/XEN-LAB: INFO guest-log /'
}

on_wait_save_restore() {
    local t0 rc new=""
    t0=$(cut -d' ' -f1 /proc/uptime)
    xl save "$1" "$IMG/cycle.save" > "$IMG/cycle-save.log" 2>&1
    rc=$?
    ! domain_alive "$1" && [ $rc = 0 ]
    check "$1/save" $? "xl save (status $rc) in $(seconds_since "$t0") s: $(tail -n 2 "$IMG/cycle-save.log" | tr '\n' ' ')"
    same "$1/save-before-dom0-read" "$(guest_info "$1" save-before-md5)" "$(md5_at "$IMG/cycle.img" 10 1)"
    CYCLE_OLD="$CYCLE_OLD $CYCLE_DOMID"
    t0=$(cut -d' ' -f1 /proc/uptime)
    xl restore "$IMG/cycle.save" > "$IMG/cycle-restore.log" 2>&1 &&
        new=$(wait_new_domid "$1" "$CYCLE_DOMID")
    check "$1/restore" $? "xl restore in $(seconds_since "$t0") s, domain ${new:-none}: $(tail -n 2 "$IMG/cycle-restore.log" | tr '\n' ' ')"
    CYCLE_DOMID=${new:-$CYCLE_DOMID}
    rm -f "$IMG/cycle.save"
}

on_wait_reboot() {
    local new="" rc
    CYCLE_REBOOTS=$((CYCLE_REBOOTS + 1))
    xl reboot "$1" > "$IMG/cycle-reboot.log" 2>&1 &&
        new=$(wait_new_domid "$1" "$CYCLE_DOMID")
    rc=$?
    check "$1/reboot-$CYCLE_REBOOTS" $rc "domain $CYCLE_DOMID became ${new:-nothing} $(tr '\n' ' ' < "$IMG/cycle-reboot.log")"
    [ $rc = 0 ] || cycle_debug "$1"
    CYCLE_OLD="$CYCLE_OLD $CYCLE_DOMID"
    CYCLE_DOMID=${new:-$CYCLE_DOMID}
}
