#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark our Xen PV backends against upstream's and the block layer.

Runs the fixed matrix of docs/devel/xen-pv-benchmarks.rst (disks, NICs and
9pfs shares).  Every case runs
against our build (build/qemu-system-x86_64) and the stock build
(build/stock/qemu-system-x86_64) alternately, A B A B ..., each run a fresh
QEMU with xen-sim and one xen-pv-bench process acting as the guest.  Block
cases also get the block layer's own limit from `qemu-img bench` on the same
driver, block size and queue depth, and on a raw file in memory (/dev/shm:
a ceiling that includes the copy of the data), each measured in every round
beside the backends' runs (ours, stock, limit, memory limit, ours, ...).

Writes, in --out (build/bench):
  results.json  medians (and min-max of the case's main figure) per case
  runs.json     every run's figures, the machine, the settings
  report.md, block.png, net.png   by scripts/bench-report.py

Net cases use a tap in a network namespace of their own when run as root
with /dev/net/tun (the script re-executes itself under `unshare --net`),
otherwise a UDP socket netdev.

9pfs cases share one directory (in /dev/shm when it has room) holding a
file to read; ours serves it with -fsdev and -device xen-9pfs, stock with
upstream's legacy backend, which QEMU creates at machine init from the
XenStore entries libxl writes before it starts QEMU (xen-sim's xs-preload:
a sysbus device, it cannot be hotplugged later).
"""

import argparse
import atexit
import ctypes
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
VARIANTS = {
    "ours": os.path.join(BUILD, "qemu", "qemu-system-x86_64"),
    "stock": os.path.join(BUILD, "stock", "qemu", "qemu-system-x86_64"),
}
QEMU_IMG = os.path.join(BUILD, "qemu", "qemu-img")
BENCH = os.path.join(BUILD, "qemu", "tests", "qtest", "xen", "xen-pv-bench")
NETNS_ENV = "XEN_PV_BENCH_NETNS"
TAP = "xbtap0"
NULL_SIZE = 8 << 30
FILE_SIZE = 512 << 20
MEM_FILE_SIZE = 1 << 30
# The file the 9pfs read cases read (xen-pv-bench's P9_READ_FILE)
SHARE_READ_FILE = "bench-read"
SHARE_READ_SIZE = 64 << 20
P9_MOUNT_TAG = "bench"
# Each limit run lasts at least this long, whatever --secs says
LIMIT_MIN_SECS = 2.0
MAC = "52:54:00:12:34:01"

# name, workload arguments, notes
BLOCK_CASES = [
    ("randread-4k-qd1-null", dict(rw="randread", bs=4096, qd=1, queues=1, drive="null")),
    ("randread-4k-qd32-null", dict(rw="randread", bs=4096, qd=32, queues=1, drive="null")),
    ("randwrite-4k-qd32-null", dict(rw="randwrite", bs=4096, qd=32, queues=1, drive="null")),
    ("seqread-1m-qd8-null", dict(rw="read", bs=1 << 20, qd=8, queues=1, drive="null")),
    ("seqwrite-1m-qd8-null", dict(rw="write", bs=1 << 20, qd=8, queues=1, drive="null")),
    ("seqread-1m-qd8-null-mapped", dict(rw="read", bs=1 << 20, qd=8, queues=1, drive="null",
                                        map_overflow=True)),
    ("seqread-1m-qd8-null-cache4096", dict(rw="read", bs=1 << 20, qd=8, queues=1,
                                           drive="null", max_persistent=4096)),
    ("seqwrite-1m-qd8-null-cache4096", dict(rw="write", bs=1 << 20, qd=8, queues=1,
                                            drive="null", max_persistent=4096)),
    ("randread-4k-qd32-2q-null", dict(rw="randread", bs=4096, qd=32, queues=2, drive="null")),
    ("randread-4k-qd1-null-nopoll", dict(rw="randread", bs=4096, qd=1, queues=1, drive="null",
                                         poll_max_ns=0)),
    ("randread-4k-qd32-null-nopoll", dict(rw="randread", bs=4096, qd=32, queues=1, drive="null",
                                          poll_max_ns=0)),
    ("randread-4k-qd32-2q-null-nopoll", dict(rw="randread", bs=4096, qd=32, queues=2,
                                             drive="null", poll_max_ns=0)),
    ("randread-4k-qd32-2q-1t-null", dict(rw="randread", bs=4096, qd=32, queues=2,
                                         drive="null", iothreads=1)),
    ("randread-4k-qd32-file", dict(rw="randread", bs=4096, qd=32, queues=1, drive="file")),
    # Shared storage on this host's loopback (tests/storage/servers.py)
    ("randread-4k-qd32-nbd", dict(rw="randread", bs=4096, qd=32, queues=1, drive="nbd")),
    ("seqread-1m-qd8-nbd", dict(rw="read", bs=1 << 20, qd=8, queues=1, drive="nbd")),
    ("randread-4k-qd32-rbd", dict(rw="randread", bs=4096, qd=32, queues=1, drive="rbd")),
    ("seqread-1m-qd8-rbd", dict(rw="read", bs=1 << 20, qd=8, queues=1, drive="rbd")),
]
NET_CASES = [
    ("tx-64b", dict(traffic="tx", size=64)),
    ("rx-64b", dict(traffic="rx", size=64)),
    ("tx-1500b", dict(traffic="tx", size=1514)),
    ("rx-1500b", dict(traffic="rx", size=1514)),
    ("bulk-64k", dict(traffic="tx", size=65214, gso=True)),
]
# Sequential throughput through the 9P2000.L client of xen-pv-bench
P9_CASES = [
    ("9pfs-seqread-4k-qd32", dict(rw="read", bs=4096, qd=32)),
    ("9pfs-seqwrite-4k-qd32", dict(rw="write", bs=4096, qd=32)),
    ("9pfs-seqread-1m-qd8", dict(rw="read", bs=1 << 20, qd=8)),
    ("9pfs-seqwrite-1m-qd8", dict(rw="write", bs=1 << 20, qd=8)),
]
P9_NOTE = ("share on %s; 2 rings of order 9, msize 512 KiB, requests of at "
           "most the iounit (on tmpfs 520192 bytes: a 1 MiB I/O in 3 "
           "requests)")
P9_STOCK_NOTE = ("stock: upstream's legacy backend (hw/9pfs/xen-9p-backend.c), "
                 "created from XenStore entries as libxl writes them, one "
                 "request per ring at a time")
# Why stock has no figures for the 9pfs cases, if its probe fails
# (docs/devel/xen-pv-benchmarks.rst): upstream's legacy backend is a sysbus
# device that XenBus creates from backend/9pfs entries at machine init (later,
# from a XenStore watch, it would be a hotplug, which sysbus devices refuse:
# QEMU exits), so the entries are there before, as libxl writes them before
# it starts QEMU: xen-sim's xs-preload
P9_STOCK_WHY = (
    "stock not measured: upstream's legacy 9pfs backend did not serve the "
    "share that XenBus finds at machine init in the XenStore entries libxl "
    "writes before it starts QEMU (xen-sim's xs-preload)")
NOTES = {
    "randread-4k-qd32-2q-null": "2 rings x QD32 on 2 IOThreads for ours; "
        "stock has one ring (no multi-queue): QD64 on it, one IOThread; "
        "limit: qemu-img bench at QD64 (one thread)",
    "randread-4k-qd32-file": "raw file, io_uring, cache=none; limit: "
        "qemu-img bench reads sequentially (it has no random mode)",
    "seqread-1m-qd8-null": "stock: 24 ring requests per 1 MiB (11 segments "
        "each, no indirect descriptors)",
    "seqwrite-1m-qd8-null": "stock: 24 ring requests per 1 MiB",
    "randread-4k-qd1-null-nopoll": "the IOThread does not poll "
        "(poll-max-ns=0; the other cases keep QEMU's default, 32768, and "
        "ours polls its ring, which stock cannot): as libxl's disks run, "
        "without an IOThread",
    "randread-4k-qd32-null-nopoll": "as randread-4k-qd1-null-nopoll",
    "randread-4k-qd32-2q-1t-null": "as randread-4k-qd32-2q-null, both of "
        "ours' rings on one IOThread: the guest's two threads and one "
        "IOThread on a 2-core host",
    "randread-4k-qd32-2q-null-nopoll": "as randread-4k-qd32-2q-null, the "
        "IOThreads not polling: two polling IOThreads and the two rings' "
        "frontend threads are four busy threads on a 2-core host",
    "seqread-1m-qd8-null-mapped": "ours with map-overflow=on: the segments "
        "beyond the 1056 persistent grants mapped per request instead of "
        "copied; stock as in seqread-1m-qd8-null",
    "seqread-1m-qd8-null-cache4096": "ours with max-persistent-grants=4096 "
        "(the most a ring's quarter of the default io-budget holds): the "
        "2304 grants the guest uses at QD8 all persistent; stock as in "
        "seqread-1m-qd8-null",
    "seqwrite-1m-qd8-null-cache4096": "as seqread-1m-qd8-null-cache4096",
    "randread-4k-qd32-nbd": "qemu-nbd on loopback, a raw file with data "
        "in the page cache; limit: qemu-img bench on the same export reads "
        "sequentially",
    "seqread-1m-qd8-nbd": "qemu-nbd on loopback, a raw file with data in "
        "the page cache",
    "randread-4k-qd32-rbd": "a one-node Ceph cluster on loopback (one "
        "bluestore OSD on a file, cephx); limit: qemu-img bench on the same "
        "image through librbd reads sequentially",
    "seqread-1m-qd8-rbd": "as randread-4k-qd32-rbd",
    "bulk-64k": "TCP payload MB/s; ours: 65214-byte TCPv4 packets with a GSO "
        "extra (MSS 1448); stock offers neither GSO nor SG: 1514-byte frames",
    "rx-64b": "frames injected into the peer at most 1024 ahead of the guest",
    "rx-1500b": "frames injected into the peer at most 1024 ahead of the guest",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log("bench: " + msg)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# ---- the machine and the peer ----

def machine_info():
    cpu = "?"
    mem = 0.0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / (1 << 20)
    out = subprocess.run([VARIANTS["ours"], "-version"], capture_output=True,
                         text=True).stdout
    return {
        "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem, 1),
        "kernel": platform.release(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "qemu": out.splitlines()[0] if out else "?",
    }


def can_use_tap():
    return os.geteuid() == 0 and os.path.exists("/dev/net/tun") and \
        shutil.which("unshare") and shutil.which("ip")


def enter_netns():
    """Re-execute in a network namespace of our own (root only)."""
    if os.environ.get(NETNS_ENV) or not can_use_tap():
        return
    env = dict(os.environ, **{NETNS_ENV: "1"})
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable,
                           os.path.abspath(__file__)] + sys.argv[1:], env)


def in_netns():
    return os.environ.get(NETNS_ENV) == "1"


def tap_up():
    run(["ip", "link", "set", "lo", "up"])
    subprocess.run(["ip", "link", "del", TAP], stderr=subprocess.DEVNULL)
    run(["ip", "tuntap", "add", "dev", TAP, "mode", "tap"])
    # No IPv6: the kernel would send its own packets into the tap
    with open("/proc/sys/net/ipv6/conf/all/disable_ipv6", "w") as f:
        f.write("1")
    run(["ip", "link", "set", TAP, "up"])


def tap_down():
    subprocess.run(["ip", "link", "del", TAP], stderr=subprocess.DEVNULL)


def free_udp_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def file_image(cache):
    """A raw image with data written, kept in the cache across runs."""
    path = os.path.join(cache, "bench", "disk-512M.raw")
    if os.path.exists(path) and os.path.getsize(path) == FILE_SIZE:
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    chunk = bytes(range(256)) * 4096
    with open(path + ".tmp", "wb") as f:
        for _ in range(FILE_SIZE // len(chunk)):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.rename(path + ".tmp", path)
    return path


# ---- shared storage ----

SERVERS = os.path.join(ROOT, "tests", "storage", "servers.py")
STORE_SIZE_MIB = 256
STORE_SERVER = {"nbd": "nbd", "rbd": "ceph"}
STORES = {}                     # servers.env of the running servers


def start_stores(workdir, size_mib=STORE_SIZE_MIB):
    """Start the servers of every store (tests/storage/servers.py) in
    @workdir/servers, once; fill their images with data so that reads
    hit real data.  RuntimeError if they do not start."""
    if STORES:
        return
    if in_netns():
        run(["ip", "link", "set", "lo", "up"])
    d = os.path.join(workdir, "servers")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    p = subprocess.run([sys.executable, SERVERS, "start", "--dir", d,
                        "--only", ",".join(sorted(set(STORE_SERVER.values()))),
                        "--size-mib", str(size_mib), "--owner",
                        str(os.getpid()), "--qemu-nbd",
                        os.path.join(BUILD, "qemu", "qemu-nbd")],
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError("the storage servers did not start: " +
                           p.stderr.strip()[-2000:])
    atexit.register(stop_stores)
    for line in p.stdout.splitlines():
        key, _, val = line.partition("=")
        STORES[key] = shlex.split(val)[0] if val else ""
    src = file_image(os.environ.get("XEN_PV_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "xen-pv-qemu"))
    for name in STORE_SERVER:
        run([QEMU_IMG, "convert", "-n", "--image-opts",
             "driver=raw,size=%d,file.driver=file,file.filename=%s"
             % (size_mib << 20, src), "--target-image-opts",
             store_opts(name)], stdout=subprocess.DEVNULL)


def stop_stores():
    """Stop what start_stores() started (once)."""
    d = STORES.get("SERVERS_DIR")
    if d:
        subprocess.run([sys.executable, SERVERS, "stop", "--dir", d],
                       capture_output=True)
        STORES.clear()


def store_opts(name):
    """-blockdev / --image-opts keys of store @name (a protocol node)."""
    if name == "nbd":
        host, port = STORES["NBD_URL"][len("nbd://"):].split("/")[0].rsplit(":", 1)
        return ("driver=nbd,server.type=inet,server.host=%s,server.port=%s,"
                "export=disk" % (host, port))
    return ("driver=rbd,pool=%s,image=%s,user=%s,conf=%s" %
            (STORES["CEPH_POOL"], STORES["CEPH_IMAGE"], STORES["CEPH_ID"],
             STORES["CEPH_CONF"]))


# ---- one run ----

def drive_args(case, image):
    if case["drive"] in STORE_SERVER:
        return ["-blockdev", "node-name=d0," + store_opts(case["drive"])]
    if case["drive"] == "null":
        return ["-blockdev", "driver=null-co,node-name=d0,size=%d,"
                "read-zeroes=off" % NULL_SIZE]
    return ["-blockdev", "driver=file,node-name=f0,filename=%s,aio=io_uring,"
            "cache.direct=on" % image,
            "-blockdev", "driver=raw,node-name=d0,file=f0"]


def iothread_arg(i, case):
    """IOThread io@i: QEMU's default polling, or the case's poll_max_ns."""
    arg = "iothread,id=io%d" % i
    if "poll_max_ns" in case:
        arg += ",poll-max-ns=%d" % case["poll_max_ns"]
    return ["-object", arg]


def block_device_args(variant, case):
    if case["queues"] > 1 and variant == "ours":
        # One IOThread per ring, or the case's number, rings spread over them
        threads = case.get("iothreads", case["queues"])
        dev = {"driver": "xen-disk", "vdev": "xvda", "drive": "d0",
               "max-queues": case["queues"],
               "iothread-vq-mapping": [{"iothread": "io%d" % i}
                                       for i in range(threads)]}
        return (sum((iothread_arg(i, case) for i in range(threads)),
                    []) + ["-device", json.dumps(dev)])
    dev = "xen-disk,vdev=xvda,drive=d0,iothread=io0"
    if case.get("map_overflow") and variant == "ours":
        dev += ",map-overflow=on"
    if case.get("max_persistent") and variant == "ours":
        dev += ",max-persistent-grants=%d" % case["max_persistent"]
    return iothread_arg(0, case) + ["-device", dev]


def net_args(peer):
    if peer["kind"] == "tap":
        nd = "tap,id=n0,ifname=%s,script=no,downscript=no,vnet_hdr=on" % TAP
    else:
        nd = "socket,id=n0,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d" % (
            peer["mine"], peer["qemu"])
    return ["-netdev", nd,
            "-device", "xen-net-device,netdev=n0,idx=0,mac=%s" % MAC]


def memory_dir(workdir, need):
    """/dev/shm if it has @need bytes free, else @workdir."""
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= need:
            return "/dev/shm"
    except OSError:
        pass
    return workdir


def share_dir(workdir):
    """The 9pfs cases' share: a directory in memory (/dev/shm when it has
    room, else the work directory) with SHARE_READ_FILE in it, every page
    written."""
    d = memory_dir(workdir, 4 * SHARE_READ_SIZE)
    path = tempfile.mkdtemp(prefix="xen-pv-bench-share.", dir=d)
    chunk = bytes(range(256)) * 4096
    with open(os.path.join(path, SHARE_READ_FILE), "wb") as f:
        for _ in range(SHARE_READ_SIZE // len(chunk)):
            f.write(chunk)
    return path


def share_clean(share):
    """Remove what a run wrote in @share (all but SHARE_READ_FILE)."""
    for name in os.listdir(share):
        if name != SHARE_READ_FILE:
            os.unlink(os.path.join(share, name))


def p9_stock_probe(share, workdir):
    """Whether stock serves a 9pfs share on xen-sim: None if it does, else
    why not, as observed (a short run of the first 9pfs case)."""
    failure = {}
    settings = {"secs": 0.2, "warmup": 0.0}
    if one_run("stock", "9pfs", P9_CASES[0][1], settings, None, None,
               workdir, share, failure):
        return None
    said = " ".join(failure.get("qemu", "").split())
    if failure.get("qemu_exit") is not None:
        said = "QEMU exited (status %s): %s" % (failure["qemu_exit"], said)
    else:
        said = "xen-pv-bench: %s; QEMU: %s" % (failure.get("bench", ""), said)
    return P9_STOCK_WHY + " [observed: " + said + "]"


def xs_quote(value):
    """@value as a double-quoted value of an xs-preload line."""
    out = []
    for ch in value:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return '"%s"' % "".join(out)


def p9_preload(share, rundir, domid=1, devid=0):
    """Write, in @rundir, the XenStore entries libxl writes for 9pfs device
    @devid of guest @domid on host directory @share, before it starts QEMU
    (tests/qtest/xen/xen-9pfs-test.c libxl_add_p9), as an xs-preload file of
    xen-sim (docs/system/devices/xen-sim.rst); its path."""
    be = "/local/domain/0/backend/9pfs/%d/%d" % (domid, devid)
    fe = "/local/domain/%d/device/9pfs/%d" % (domid, devid)
    lines = ['%s = "" (n0,r%d)' % (be, domid)]
    lines += ["%s/%s = %s" % (be, k, xs_quote(v)) for k, v in (
        ("frontend", fe), ("frontend-id", str(domid)), ("online", "1"),
        ("state", "1"), ("path", share), ("security_model", "none"))]
    lines.append('%s = "" (n%d,b0)' % (fe, domid))
    lines += ["%s/%s = %s" % (fe, k, xs_quote(v)) for k, v in (
        ("backend", be), ("backend-id", "0"), ("state", "1"),
        ("tag", P9_MOUNT_TAG))]
    path = os.path.join(rundir, "xs-preload")
    with open(path, "w") as f:
        f.write("# 9pfs device %d of domain %d, as libxl writes it\n"
                % (devid, domid) + "\n".join(lines) + "\n")
    return path


def p9_args(variant, share, rundir):
    """QEMU's arguments for the share and xen-pv-bench's: ours a -device,
    stock the XenStore entries libxl writes before it starts QEMU (an
    xs-preload file in @rundir, which upstream's legacy backend finds at
    machine init: it cannot be hotplugged); xen-pv-bench then finds the
    share in XenStore, as a guest does."""
    if variant == "stock":
        return ["-M", "xs-preload=" + p9_preload(share, rundir)], []
    return (["-fsdev", "local,id=fs0,path=%s,security_model=none" % share,
             "-device", "xen-9pfs,id=p9-0,fsdev=fs0,mount_tag=%s,idx=0"
             % P9_MOUNT_TAG], [])


def die_with_us():
    """preexec_fn of the QEMUs: SIGTERM when bench.py dies (even of SIGKILL,
    when no finally runs), so that no xen-sim QEMU outlives the benchmark
    (it would wait for a frontend forever)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # DEATHSIG


def exit_on_signal(signum, frame):
    """SIGTERM, SIGHUP: exit, running the finally blocks that stop QEMU."""
    sys.exit(128 + signum)


def one_run(variant, kind, case, settings, image, peer, workdir, share=None,
            failure=None):
    """Start QEMU, run xen-pv-bench once; its JSON (None if it failed, and
    then, in the dict @failure if given, what xen-pv-bench and QEMU said and
    QEMU's exit status if it had exited by itself)."""
    d = tempfile.mkdtemp(prefix="run.", dir=workdir)
    qemu = VARIANTS[variant]
    cmd = [qemu, "-M", "xen-sim,socket=%s/ctl.sock,xs-socket=%s/xs.sock,"
           "xs-admin-socket=%s/xs-admin.sock" % (d, d, d),
           "-accel", "tcg", "-m", "512M", "-nodefaults", "-display", "none",
           "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % d]
    bench = [BENCH, "--dir", d, "--secs", str(settings["secs"]),
             "--warmup", str(settings["warmup"])]
    if kind == "9pfs":
        qemu_args, bench_args = p9_args(variant, share, d)
        cmd += qemu_args
        wl = ["9p", "--rw", case["rw"], "--bs", str(case["bs"]), "--qd",
              str(case["qd"])] + bench_args
    elif kind == "block":
        cmd += drive_args(case, image) + block_device_args(variant, case)
        qd = case["qd"]
        if case["queues"] > 1 and variant == "stock":
            qd *= case["queues"]        # one ring: all of it there
        wl = ["blk", "--rw", case["rw"], "--bs", str(case["bs"]), "--qd",
              str(qd), "--queues", str(case["queues"])]
    else:
        if peer["kind"] == "tap":
            tap_up()
            wl_peer = "tap:" + TAP
        else:
            peer["mine"], peer["qemu"] = free_udp_ports(2)
            wl_peer = "udp:%d:%d" % (peer["mine"], peer["qemu"])
        cmd += net_args(peer)
        wl = ["net", "--traffic", case["traffic"], "--size", str(case["size"]),
              "--peer", wl_peer] + (["--gso"] if case.get("gso") else [])
    qlog = open(os.path.join(d, "qemu.log"), "w")
    q = subprocess.Popen(cmd, stdout=qlog, stderr=subprocess.STDOUT,
                         preexec_fn=die_with_us)
    result = p = None
    try:
        for _ in range(200):
            if os.path.exists(d + "/qmp.sock") and os.path.exists(d + "/ctl.sock"):
                break
            if q.poll() is not None:
                break
            time.sleep(0.025)
        timeout = settings["secs"] + settings["warmup"] + 60
        p = subprocess.run(bench + ["--qemu-pid", str(q.pid)] + wl,
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode == 0:
            result = json.loads(p.stdout.strip().splitlines()[-1])
            if result.get("errors"):
                log("  %s: %d I/O errors" % (variant, result["errors"]))
                result = None
        else:
            log("  %s: xen-pv-bench failed: %s" % (variant, p.stderr.strip()))
    except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
        log("  %s: %s" % (variant, e))
    finally:
        exited = q.poll()
        q.send_signal(signal.SIGTERM)
        try:
            q.wait(10)
        except subprocess.TimeoutExpired:
            q.kill()
            q.wait()
        qlog.close()
        if result is None:
            with open(os.path.join(d, "qemu.log")) as f:
                tail = f.read()[-2000:]
            if tail.strip():
                log("  QEMU said: " + tail.strip())
            if failure is not None:
                failure.update(qemu=tail.strip(), qemu_exit=exited,
                               bench=p.stderr.strip() if p else "")
        if kind == "net" and peer["kind"] == "tap":
            tap_down()
        if share:
            share_clean(share)
        shutil.rmtree(d, ignore_errors=True)
    return result


def figures(r, unit, bs=None):
    """Per-run figures from xen-pv-bench's JSON."""
    ops, secs = r["ops"], r["secs"]
    if ops <= 0 or secs <= 0:
        return None
    f = {
        unit: ops / secs,
        "mbps": r["bytes"] / secs / 1e6,
        "cpu_us_per_io": r["cpu_us"] / ops,
        "grant_ops_per_io": (r["grant_maps"] + r["grant_unmaps"] +
                             r["grant_copy_segs"]) / ops,
        "notify_per_io": (r["notify_to_backend"] + r["notify_to_guest"]) / ops,
        "frontend_cpu_us_per_io": r["fe_cpu_us"] / ops,
        "features": r.get("features", ""),
    }
    for k in ("peer_pkts", "peer_bytes", "peer_drops", "stale_padding"):
        if k in r:
            f[k] = r[k]
    return f


# ---- the block layer's limit ----

def mem_image(workdir):
    """A raw file of MEM_FILE_SIZE in memory (/dev/shm when it has room,
    else the work directory), every page written: the memory limit's
    image."""
    d = memory_dir(workdir, 2 * MEM_FILE_SIZE)
    fd, path = tempfile.mkstemp(prefix="xen-pv-bench-mem.", suffix=".raw",
                                dir=d)
    chunk = bytes(range(256)) * 4096
    with os.fdopen(fd, "wb") as f:
        for _ in range(MEM_FILE_SIZE // len(chunk)):
            f.write(chunk)
    return path


def limit_run(case, image, secs, mem_image=None, min_secs=LIMIT_MIN_SECS):
    """qemu-img bench on the same driver, size and depth (or, with
    @mem_image, on that raw file in memory, through the page cache): one
    FIG run, at least @min_secs long."""
    qd = case["qd"] * case["queues"]
    base = [QEMU_IMG, "bench", "-d", str(qd), "-s", str(case["bs"])]
    if case["rw"] in ("randwrite", "write"):
        base.append("-w")
    if mem_image:
        base += ["-t", "writeback", "--image-opts",
                 "driver=raw,file.driver=file,file.filename=%s" % mem_image]
    elif case["drive"] == "null":
        base += ["--image-opts", "driver=null-co,size=%d,read-zeroes=off"
                 % NULL_SIZE]
    elif case["drive"] in STORE_SERVER:
        base += ["--image-opts", store_opts(case["drive"])]
    else:
        base += ["-t", "none", "-i", "io_uring", "--image-opts",
                 "driver=raw,file.driver=file,file.filename=%s" % image]
    secs = max(secs, min_secs)

    def once(count):
        p = subprocess.Popen(base[:2] + ["-c", str(count)] + base[2:],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        m = re.search(r"Run completed in ([0-9.]+) seconds", out)
        if p.returncode or not m:
            raise RuntimeError("qemu-img bench failed: " + out.strip()[-500:])
        return float(m.group(1)), (ru.ru_utime + ru.ru_stime) * 1e6

    count = max(100, (80 << 20) // case["bs"])  # 80 MiB: calibrate, warm up
    t, _ = once(count)
    count = max(1000, int(count * secs / max(t, 1e-3)))
    t, cpu_us = once(count)
    return {"iops": count / t, "mbps": count * case["bs"] / t / 1e6,
            "cpu_us_per_io": cpu_us / count, "grant_ops_per_io": 0.0,
            "notify_per_io": 0.0}


# ---- results ----

FIG_KEYS = ("mbps", "cpu_us_per_io", "grant_ops_per_io", "notify_per_io")


def fig(runs, unit, primary):
    """The FIG of results.json: medians, and min-max of the primary figure."""
    runs = [r for r in runs if r]
    if not runs:
        return None
    out = {unit: statistics.median(r[unit] for r in runs)}
    for k in FIG_KEYS:
        out[k] = statistics.median(r[k] for r in runs)
    out["runs"] = len(runs)
    out["min"] = min(r[primary] for r in runs)
    out["max"] = max(r[primary] for r in runs)
    if any("stale_padding" in r for r in runs):
        # A backend's fault the attack suite reports; summed, not fatal
        out["stale_padding"] = sum(r.get("stale_padding", 0) for r in runs)
    return out


def limit_exceeded(entry, primary):
    """Whether ours beat the block layer's limit on the same driver: not a
    result but a measurement error (qemu-img bench a loose ceiling, its
    runs disturbed, or too short), which the report flags."""
    o, lim = entry.get("ours"), entry.get("limit")
    return bool(o and lim and lim.get(primary) and
                o[primary] > lim[primary])


def ratio_text(a, b, key):
    if not a or not b or not b.get(key):
        return "-"
    return "%.2fx" % (a[key] / b[key])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 runs of 1 s per variant (make bench-quick)")
    ap.add_argument("--runs", type=int, help="runs per variant (5)")
    ap.add_argument("--secs", type=float, help="measured seconds per run (3)")
    ap.add_argument("--out", default=os.path.join(BUILD, "bench"))
    ap.add_argument("--cases", default="", help="only cases containing this")
    args = ap.parse_args()

    for path in list(VARIANTS.values()) + [QEMU_IMG, BENCH]:
        if not os.access(path, os.X_OK):
            die("%s is not built (make bench builds both variants)" % path)
    enter_netns()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, exit_on_signal)

    settings = {"runs": args.runs or (2 if args.quick else 5),
                "secs": args.secs or (1.0 if args.quick else 3.0),
                "warmup": 0.3 if args.quick else 0.5}
    os.makedirs(args.out, exist_ok=True)
    cache = os.environ.get("XEN_PV_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "xen-pv-qemu")
    peer = {"kind": "tap" if in_netns() else "udp"}
    image = mem = share = p9_no_stock = p9_first = None
    results = {"block": [], "net": [], "9pfs": []}
    meta = {"machine": machine_info(), "mode": "quick" if args.quick else "full",
            "runs": settings["runs"], "secs": settings["secs"],
            "net_peer": "tap" if peer["kind"] == "tap" else "socket",
            "cases": {}}
    log("bench: %d runs of %.1f s per variant and case; net peer: %s"
        % (settings["runs"], settings["secs"], meta["net_peer"]))
    start = time.monotonic()

    for kind, cases in (("block", BLOCK_CASES), ("net", NET_CASES),
                        ("9pfs", P9_CASES)):
        for name, case in cases:
            if args.cases and args.cases not in name:
                continue
            unit = "pps" if kind == "net" else "iops"
            primary = "mbps" if name.startswith("bulk") or kind == "9pfs" \
                else unit
            if kind == "9pfs" and not share:
                share = share_dir(args.out)
                atexit.register(shutil.rmtree, share, True)
                p9_no_stock = p9_stock_probe(share, args.out)
                if p9_no_stock:
                    log("bench: 9pfs: " + p9_no_stock)
            if kind == "block" and case["drive"] == "file" and not image:
                image = file_image(cache)
            if kind == "block" and case["drive"] in STORE_SERVER:
                try:
                    start_stores(args.out)
                except RuntimeError as e:
                    die(str(e))
            if kind == "block" and not mem:
                mem = mem_image(args.out)
                atexit.register(os.unlink, mem)
            runs = {"ours": [], "stock": [], "limit": [], "limit_mem": []}
            for i in range(settings["runs"]):
                # One round: the backends and, for disks, both limits
                for variant in ("ours", "stock"):
                    if kind == "9pfs" and variant == "stock" and p9_no_stock:
                        continue
                    r = one_run(variant, kind, case, settings, image, peer,
                                args.out, share if kind == "9pfs" else None)
                    runs[variant].append(figures(r, unit) if r else None)
                if kind != "block":
                    continue
                for lim, m in (("limit", None), ("limit_mem", mem)):
                    try:
                        runs[lim].append(limit_run(case, image,
                                                   settings["secs"], m))
                    except RuntimeError as e:
                        log("  %s: %s" % (lim, e))
                        runs[lim].append(None)
            entry = {"case": name,
                     "ours": fig(runs["ours"], unit, primary),
                     "stock": fig(runs["stock"], unit, primary)}
            if kind == "9pfs" and p9_no_stock:
                entry["stock_unavailable"] = p9_no_stock
            if kind == "block":
                entry["limit"] = fig(runs["limit"], unit, primary)
                entry["limit_mem"] = fig(runs["limit_mem"], unit, primary)
                entry["limit_exceeded"] = limit_exceeded(entry, primary)
            results[kind].append(entry)
            note = NOTES.get(name, "")
            if kind == "9pfs":
                note = P9_NOTE % ("tmpfs" if share.startswith("/dev/shm/")
                                  else "the work directory's file system")
                if not p9_no_stock:
                    note += "; " + P9_STOCK_NOTE
                elif p9_first:
                    note += "; stock not measured, see " + p9_first
                else:
                    note += "; " + p9_no_stock
                    p9_first = name
            meta["cases"][name] = {
                "primary": primary, "note": note,
                "ours": runs["ours"], "stock": runs["stock"],
                "limit": runs["limit"] if kind == "block" else [],
                "limit_mem": runs["limit_mem"] if kind == "block" else [],
            }
            line = "%-26s ours %s, stock %s: %s" % (
                name,
                "%.0f %s" % (entry["ours"][primary], primary) if entry["ours"] else "failed",
                "%.0f" % entry["stock"][primary] if entry["stock"] else
                "not run" if entry.get("stock_unavailable") else "failed",
                ratio_text(entry["ours"], entry["stock"], primary))
            if kind == "block" and entry.get("limit"):
                line += ", %s of the limit" % ratio_text(entry["ours"], entry["limit"], primary)
            if kind == "block" and entry.get("limit_mem"):
                line += ", %s of the memory limit" % ratio_text(
                    entry["ours"], entry["limit_mem"], primary)
            if kind == "block" and entry["limit_exceeded"]:
                line += " [ours above the limit: a measurement error]"
            for variant in ("ours", "stock"):
                if entry[variant] and entry[variant].get("stale_padding"):
                    line += " (%s: %d responses with stale padding)" % (
                        variant, entry[variant]["stale_padding"])
            log(line)

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.out, "runs.json"), "w") as f:
        json.dump(meta, f, indent=1)
    p9_png = os.path.join(args.out, "9pfs.png")
    if os.path.exists(p9_png):
        os.unlink(p9_png)               # drawn again only with stock figures
    rc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts",
                                                      "bench-report.py"),
                         args.out]).returncode
    log("bench: %.0f s; wrote %s/{results.json,runs.json,report.md,block.png,"
        "net.png%s}" % (time.monotonic() - start, args.out,
                        ",9pfs.png" if os.path.exists(p9_png) else ""))
    failed = [e["case"] for k in results for e in results[k]
              if not e["ours"] or
              (not e["stock"] and not e.get("stock_unavailable")) or
              (k == "block" and not (e.get("limit") and e.get("limit_mem")))]
    if failed:
        log("bench: no figures for " + ", ".join(failed))
    return 1 if rc or failed else 0


if __name__ == "__main__":
    sys.exit(main())
