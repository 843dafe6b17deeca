# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Our QEMU as operators install it, sourced by scenarios.sh: dom0 installs
# the package of "make deb" with dpkg -i, and guests whose xl configs name
# no device model (no device_model_override) are served by it, because it
# now sits at the path Debian's libxl runs, /usr/libexec/xen-qemu-system-i386.
# dpkg -r gives that path back to the binary that was there before.
#
# dom0's image has no qemu-system-xen: upstream's qdisk (the stock build,
# /lab/stock) stands in for it at libxl's path before the package comes,
# so that "the previous binary" is a real device model whose backends
# differ from ours in XenStore (no persistent grants, no indirect
# descriptors).

INST_DM=/usr/libexec/xen-qemu-system-i386
INST_PREFIX=/usr/lib/xen-pv-qemu
INST_XEN_DM=/usr/lib/xen/bin/qemu-system-i386
INST_PREVIOUS=$LAB/stock/bin/qemu-system-x86_64
# Device numbers of xvda, xvdb, xvdc.
INST_XVDA=51712
INST_XVDB=51728
INST_XVDC=51744

# An xl config as an operator writes it: no device model named.
inst_write_cfg() {   # name steps disk-lines
    cat > "$IMG/$1.cfg" <<EOF
name = "$1"
type = "pv"
kernel = "/boot/vmlinuz-domU"
ramdisk = "$LAB/domU.cpio"
extra = "console=hvc0 lab.steps=$2"
memory = 192
vcpus = 2
on_poweroff = "destroy"
on_crash = "destroy"
disk = [ $3 ]
EOF
}

# The pid of the device model serving domain DOMID.
inst_dm_pid() {   # domid
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "-xen-domid $1 " &&
            { echo "${p#/proc/}"; return 0; }
    done
    return 1
}

# Wait until a XenStore node holds a value (SECONDS at most).
inst_wait_node() {   # path value seconds
    local i=0
    while [ "$(xenstore-read "$1" 2>/dev/null)" != "$2" ] && [ $i -lt $(($3 * 5)) ]; do
        sleep 0.2; i=$((i + 1))
    done
    [ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ]
}

# The backend's features, as one line.
inst_features() {   # backend-path
    xenstore-ls "$1" 2>/dev/null | grep -E '^(feature-|multi-queue|max-ring|state)' |
        tr -d '"' | tr -s ' ' | tr '\n' ' '
}

# A qdisk backend is ours: persistent grants and indirect descriptors,
# which upstream's qdisk does not offer.
inst_ours_disk() {   # check domid devid
    local be=/local/domain/0/backend/qdisk/$2/$3 p i q
    p=$(xenstore-read "$be/feature-persistent" 2>/dev/null)
    i=$(xenstore-read "$be/feature-max-indirect-segments" 2>/dev/null)
    q=$(xenstore-read "$be/multi-queue-max-queues" 2>/dev/null)
    [ "$p" = 1 ] && [ "${i:-0}" -gt 0 ] && [ -n "$q" ]
    check "$1" $? "$be: $(inst_features "$be")"
}

# Reading what was installed: where libxl's path leads, the diversion.
inst_state() {
    echo "$INST_DM -> $(readlink -f "$INST_DM" 2>/dev/null || echo none);" \
         "$INST_DM.distrib -> $(readlink -f "$INST_DM.distrib" 2>/dev/null || echo none);" \
         "diversions: $(dpkg-divert --list 2>/dev/null | tr '\n' ';')"
}

scenario_install() {
    local n=lab-inst domid pid out rc debs deb_xen args pidf be want i
    # What qemu-system-xen would be: a device model at libxl's path.
    mkdir -p "$(dirname "$INST_DM")"
    ln -sfn "$INST_PREVIOUS" "$INST_DM"
    [ -x "$INST_DM" ] && [ ! -e "$INST_PREFIX" ]
    check "$n/stand-in" $? "previous binary: $(inst_state)"

    debs=$(ls "$LAB"/deb/xen-pv-qemu_*.deb 2>/dev/null)
    deb_xen=$(ls "$LAB"/deb/xen-pv-qemu-upstream-xen_*.deb 2>/dev/null)
    out=$(dpkg -i "$debs" 2>&1)
    rc=$?
    if [ $rc != 0 ]; then
        # dom0's image is a debootstrap of bookworm's main suite (Xen
        # libraries 4.17.5); dpkg-shlibdeps made the package depend on the
        # build machine's, with the suite's updates (4.17.7): the same
        # libraries, older versions.  Nothing but versions may differ.
        lab INFO "$n/dpkg-install-versions" "$(echo "$out" | grep -E 'depends on|installed' | tr -s ' ' | tr '\n' ' ')"
        out=$(dpkg --configure --force-depends-version xen-pv-qemu 2>&1)
        rc=$?
        out="dom0's libraries are older than the build machine's: configured with --force-depends-version; $out"
    fi
    [ $rc = 0 ] && dpkg -s xen-pv-qemu 2>/dev/null | grep -q '^Status: install ok installed'
    check "$n/dpkg-install" $? "dpkg -i ${debs##*/}: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
    [ "$(readlink -f "$INST_DM")" = "$INST_PREFIX/bin/qemu-system-x86_64" ] &&
        [ "$(readlink -f "$INST_DM.distrib")" = "$INST_PREVIOUS" ] &&
        dpkg-divert --list "$INST_DM" | grep -q "by xen-pv-qemu"
    check "$n/diverted" $? "$(inst_state)"

    # libxl's capability probe (Xen 4.20 on; 4.17 has none): QMP on an
    # inherited listening socket, query-command-line-options.
    timeout 60 perl "$LAB/qmp" --probe "$INST_DM" > "$IMG/inst-probe.log" 2>&1
    out=$(cat "$IMG/inst-probe.log")
    rm -f "$IMG/inst-probe.log"
    case "$out" in *"run-with:"*" chroot"*) case "$out" in *" user"*) true ;; *) false ;; esac ;;
                   *) false ;; esac
    check "$n/probe" $? "-machine none,accel=xen, QMP on fd: $(echo "$out" | tail -n 2 | tr '\n' ' ')"

    # The dom0 disk backend, as Debian's /etc/init.d/xen starts it
    # (-daemonize, -pidfile), then a disk attached to dom0 with xl.
    args=$(sed -n 's/^QEMU_ARGS="\(.*\)"$/\1/p' /etc/init.d/xen 2>/dev/null)
    args=${args:-"-xen-domid 0 -xen-attach -name dom0 -nographic -M xenpv -daemonize -monitor none -serial none -parallel none"}
    pidf=/run/qemu-dom0.pid
    # (To a file: a pipe held by the daemon would keep $(...) waiting.)
    # shellcheck disable=SC2086
    start-stop-daemon --start --quiet --pidfile "$pidf" --exec "$INST_DM" -- \
        $args -pidfile "$pidf" > "$IMG/inst-dom0.log" 2>&1
    out=$(tr '\n' ' ' < "$IMG/inst-dom0.log")
    pid=$(cat "$pidf" 2>/dev/null)
    [ -n "$pid" ] && [ "$(readlink -f "/proc/$pid/exe")" = "$INST_PREFIX/bin/qemu-system-x86_64" ]
    check "$n/dom0-backend" $? "$INST_DM $args -pidfile $pidf: pid ${pid:-none} $out"
    # libxl 4.17 adds a qdisk to a running domain only if it sees a device
    # model for it (libxl__dm_check_start: image/device-model-pid); the init
    # script does not write it for dom0, libxl does for the QEMUs it starts.
    [ -z "$pid" ] || xenstore-write /local/domain/0/image/device-model-pid "$pid"
    make_image "$IMG/inst-dom0.img" 16
    be=/local/domain/0/backend/qdisk/0/51824
    out=$(timeout 60 xl block-attach 0 "format=raw,vdev=xvdh,access=rw,backendtype=qdisk,target=$IMG/inst-dom0.img" 2>&1)
    if [ $? = 0 ] && inst_wait_node "$be/state" 2 20; then
        inst_ours_disk "$n/dom0-attach" 0 51824
    else
        lab FAIL "$n/dom0-attach" "xl block-attach 0: $out; $(inst_features "$be")"
    fi
    out=$(timeout 60 xl block-detach 0 xvdh 2>&1)
    check "$n/dom0-detach" $? "xl block-detach 0 xvdh $out"
    start-stop-daemon --stop --quiet --retry=TERM/30/KILL/5 --pidfile "$pidf" --exec "$INST_DM"
    rc=$?
    # Gone, or a zombie: the daemon's parent is PID 1, this dom0's init
    # script, which reaps nobody while it runs the scenarios.  The stop
    # returns as soon as the process is dying: its exit may take a moment
    # more (5 s at most).
    i=0
    while [ -n "$pid" ] && [ -d "/proc/$pid" ] &&
          ! grep -q '^State:.*[ZX]' "/proc/$pid/status" 2>/dev/null && [ $i -lt 25 ]; do
        sleep 0.2; i=$((i + 1))
    done
    [ $rc = 0 ] && ! { [ -n "$pid" ] && [ -d "/proc/$pid" ] &&
                       ! grep -q '^State:.*[ZX]' "/proc/$pid/status" 2>/dev/null; }
    check "$n/dom0-backend-stopped" $? "start-stop-daemon --stop: status $rc, pid ${pid:-none} $(grep '^State:' "/proc/$pid/status" 2>/dev/null)"
    xenstore-rm /local/domain/0/image/device-model-pid 2>/dev/null
    rm -f "$pidf" "$IMG/inst-dom0.img" "$IMG/inst-dom0.log"

    # A guest from a plain config: a qcow2 disk (libxl picks qdisk for
    # it), a CD-ROM and, hot-plugged, a raw disk on qdisk; a NIC through
    # device_model_args_pv (libxl has no backend choice for vifs).
    make_image "$IMG/inst-qcow2.raw" 64
    INST_QCOW2_MD5=$(md5_at "$IMG/inst-qcow2.raw" 0 1)
    "$INST_PREFIX/bin/qemu-img" convert -f raw -O qcow2 "$IMG/inst-qcow2.raw" "$IMG/inst.qcow2"
    rm -f "$IMG/inst-qcow2.raw"
    make_image "$IMG/inst-cd.iso" 4
    make_image "$IMG/inst-hot.img" 16
    inst_write_cfg $n qcow2,cdrom,netping,hotplug \
        "\"format=qcow2,vdev=xvda,access=rw,target=$IMG/inst.qcow2\",
         \"format=raw,vdev=xvdb,access=ro,devtype=cdrom,backendtype=qdisk,target=$IMG/inst-cd.iso\""
    cat >> "$IMG/$n.cfg" <<EOF
device_model_args_pv = [ "-netdev", "tap,id=lab1,ifname=labtap1,script=no,downscript=no",
                         "-device", "xen-net-device,netdev=lab1,mac=00:16:3e:77:00:02" ]
EOF
    # shellcheck disable=SC2034  # read by on_wait_block_attach
    ATTACH_SPEC="format=raw,vdev=xvdc,access=rw,backendtype=qdisk,target=$IMG/inst-hot.img"
    ON_ATTACHED=inst_on_attached
    start_domain $n || { ATTACH_SPEC=""; ON_ATTACHED=""; return; }
    domid=$(xl domid $n)
    INST_DOMID=$domid
    ip link set labtap1 master xenbr0 up
    check "$n/tap-on-bridge" $? "labtap1"
    follow_guest $n
    ATTACH_SPEC=""
    ON_ATTACHED=""
    relay_guest $n $n
    same "$n/qcow2-guest-read" "$INST_QCOW2_MD5" "$(guest_info $n qcow2-read-md5)"
    "$INST_PREFIX/bin/qemu-img" convert -f qcow2 -O raw "$IMG/inst.qcow2" "$IMG/inst-qcow2.raw"
    same "$n/qcow2-dom0-read" "$(guest_info $n qcow2-write-md5)" "$(md5_at "$IMG/inst-qcow2.raw" 1 1)"
    same "$n/cdrom-guest-read" "$(md5_at "$IMG/inst-cd.iso" 0 1)" "$(guest_info $n cdrom-read-md5)"
    same "$n/hotplug-guest-read" "$(md5_at "$IMG/inst-hot.img" 0 1)" "$(guest_info $n hotplug-read-md5)"
    same "$n/hotplug-dom0-read" "$(guest_info $n hotplug-write-md5)" "$(md5_at "$IMG/inst-hot.img" 1 1)"
    check_cleanup $n "$domid"
    rm -f "$IMG"/inst*

    # The package for upstream Xen's path: nothing there before, nothing after.
    out=$(dpkg -i "$deb_xen" 2>&1)
    [ $? = 0 ] && [ "$(readlink -f "$INST_XEN_DM")" = "$INST_PREFIX/bin/qemu-system-x86_64" ] &&
        "$INST_XEN_DM" -version >/dev/null
    check "$n/upstream-xen-install" $? "dpkg -i ${deb_xen##*/}: $INST_XEN_DM -> $(readlink -f "$INST_XEN_DM") $(echo "$out" | tail -n 2 | tr '\n' ' ')"
    out=$(dpkg -r xen-pv-qemu-upstream-xen 2>&1)
    [ $? = 0 ] && [ ! -e "$INST_XEN_DM" ] && [ ! -L "$INST_XEN_DM" ] &&
        ! dpkg-divert --list "$INST_XEN_DM" | grep -q .
    check "$n/upstream-xen-remove" $? "dpkg -r: $INST_XEN_DM $(ls -l "$INST_XEN_DM" 2>&1) $(echo "$out" | tail -n 2 | tr '\n' ' ')"

    # Removal gives libxl's path back; purge leaves nothing.
    out=$(dpkg -r xen-pv-qemu 2>&1)
    [ $? = 0 ] && [ "$(readlink -f "$INST_DM")" = "$INST_PREVIOUS" ] &&
        [ ! -e "$INST_DM.distrib" ] && [ ! -e "$INST_PREFIX/bin" ] &&
        ! dpkg-divert --list "$INST_DM" | grep -q .
    check "$n/dpkg-remove" $? "$(inst_state) $(echo "$out" | tail -n 2 | tr '\n' ' ')"
    out=$(dpkg -P xen-pv-qemu 2>&1)
    [ $? = 0 ] && ! dpkg -s xen-pv-qemu >/dev/null 2>&1 && [ ! -e "$INST_PREFIX" ]
    check "$n/dpkg-purge" $? "$(echo "$out" | tail -n 2 | tr '\n' ' ')"

    # A new guest from a plain config runs on the previous binary.
    n=lab-prev
    make_image "$IMG/prev.img" 64
    inst_write_cfg $n disk \
        "\"format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$IMG/prev.img\""
    start_domain $n || return
    domid=$(xl domid $n)
    be=/local/domain/0/backend/qdisk/$domid/$INST_XVDA
    inst_wait_node "$be/state" 4 120
    pid=$(inst_dm_pid "$domid")
    want=$(readlink -f "$INST_PREVIOUS")
    [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$want" ] &&
        [ "$(xenstore-read "$be/state" 2>/dev/null)" = 4 ] &&
        ! xenstore-exists "$be/feature-persistent"
    check "$n/served-by-previous" $? "device model $(readlink -f "/proc/$pid/exe" 2>/dev/null); $be: $(inst_features "$be")"
    follow_guest $n
    relay_guest $n $n
    same "$n/disk-guest-read" "$(md5_at "$IMG/prev.img" 0 1)" "$(guest_info $n disk-read-md5)"
    same "$n/disk-dom0-read" "$(guest_info $n disk-write-md5)" "$(md5_at "$IMG/prev.img" 1 1)"
    check_cleanup $n "$domid"
    rm -f "$IMG/prev.img" "$INST_DM"
}

# While the guest waits for its hot-plugged disk (its earlier steps done,
# its NIC up): what serves it, and how libxl started it.
inst_on_attached() {   # name
    local n=$1 domid=$INST_DOMID pid argv0 exe cmd be
    pid=$(inst_dm_pid "$domid")
    argv0=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | head -n 1)
    exe=$(readlink -f "/proc/$pid/exe" 2>/dev/null)
    cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)
    [ "$argv0" = "$INST_DM" ] && [ "$exe" = "$INST_PREFIX/bin/qemu-system-x86_64" ] &&
        case "$cmd" in *" -xen-attach "*) true ;; *) false ;; esac &&
        case "$cmd" in *" -machine xenpv"*|*" -M xenpv"*) true ;; *) false ;; esac
    check "$n/dm-path" $? "pid ${pid:-none} argv[0] $argv0 exe $exe"
    lab INFO "$n/dm-cmdline" "$cmd"
    same "$n/dm-state" running "$(xenstore-read "/local/domain/0/device-model/$domid/state" 2>/dev/null)"
    inst_ours_disk "$n/xvda-ours" "$domid" $INST_XVDA
    inst_ours_disk "$n/xvdb-ours" "$domid" $INST_XVDB
    inst_wait_node "/local/domain/0/backend/qdisk/$domid/$INST_XVDC/state" 4 60
    inst_ours_disk "$n/xvdc-ours" "$domid" $INST_XVDC
    # Its number: the first free one, from 1 on real Xen (xen-net.rst).
    be=/local/domain/0/backend/qnic/$domid/$(xenstore-list "/local/domain/0/backend/qnic/$domid" 2>/dev/null | head -n 1)
    [ "$(xenstore-read "$be/state" 2>/dev/null)" = 4 ] &&
        xenstore-exists "$be/multi-queue-max-queues"
    check "$n/vif-ours" $? "$be: $(inst_features "$be")"
}
