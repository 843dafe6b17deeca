#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the Xen lab: real Xen 4.17 with a Debian dom0, nested under TCG.

Boots Xen + dom0 in Debian's qemu-system-x86_64 (TCG, -cpu qemu64, one
CPU), with dom0's image from scripts/xen-lab/images.sh plus this run's
payload (our QEMU and the stock build as libxl's device models, the scenario
scripts of tests/xen-lab/dom0).  dom0 runs the scenarios and reports on the
serial console; this script turns its XEN-LAB lines into TAP (--tap) or a
readable log, checks that every expected check was reported, and stops the
machine after --timeout seconds whatever happens.

Output: build/xen-lab/{serial.log,summary.txt}.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINE = re.compile(r"XEN-LAB: (PASS|FAIL|INFO|END)\s*(\S*)\s*(.*)")

# Checks each scenario must report (a missing one is a failure).
EXPECTED = {
    "ours": ["setup", "lab-ours/tap-on-bridge", "lab-ours/disk", "lab-ours/cdrom",
             "lab-ours/block-attach", "lab-ours/block-detach", "lab-ours/hotplug",
             "lab-ours/ping-guest-to-dom0", "lab-ours/ping-dom0-to-guest",
             "lab-ours/bulk1500-guest-to-dom0", "lab-ours/bulk9000-guest-to-dom0",
             "lab-ours/ping-8000", "lab-ours/net",
             "lab-ours/disk-guest-read", "lab-ours/disk-dom0-read",
             "lab-ours/cdrom-guest-read", "lab-ours/hotplug-guest-read",
             "lab-ours/hotplug-dom0-read", "lab-ours/bulk1500-dom0-to-guest",
             "lab-ours/bulk9000-dom0-to-guest",
             "lab-ours/dm-exited", "lab-ours/backend-removed"],
    "destroy": ["lab-busy/load-running", "lab-busy/destroy", "lab-busy/dm-exited",
                "lab-busy/backend-removed", "lab-again/disk",
                "lab-again/disk-guest-read", "lab-again/disk-dom0-read",
                "lab-again/dm-exited", "lab-again/backend-removed"],
    "stock": ["lab-stock/disk", "lab-stock/disk-guest-read",
              "lab-stock/disk-dom0-read", "lab-stock/dm-exited",
              "lab-stock/backend-removed"],
    "badgrant": ["lab-badgrant/block-attach", "lab-badgrant/bad-ring-refused",
                 "lab-badgrant/no-library-log", "lab-badgrant/dm-running",
                 "lab-badgrant/dm-exited",
                 "lab-badgrant/backend-removed"],
    # Linux's xen-blkback and xen-netback serving a guest, fio and iperf3
    # in it (tests/xen-lab/dom0/peers.sh).
    "peers": ["lab-peers/blkback", "lab-peers/netback", "lab-peers/disk",
              "lab-peers/disk-guest-read", "lab-peers/disk-dom0-read",
              "lab-peers/ping-guest-to-dom0", "lab-peers/ping-dom0-to-guest",
              "lab-peers/bulk1500-guest-to-dom0", "lab-peers/bulk1500-dom0-to-guest",
              "lab-peers/bulk9000-guest-to-dom0", "lab-peers/bulk9000-dom0-to-guest",
              "lab-peers/ping-8000", "lab-peers/net", "lab-peers/fio",
              "lab-peers/iperf3-guest-to-dom0", "lab-peers/iperf3-dom0-to-guest",
              "lab-peers/backends-removed"],
    # bench-xen's matrix (scripts/xen-lab/bench_xen.py runs it).
    "bench": ["bench/setup", "bench/rounds"],
    # Configurations operators use (tests/xen-lab/dom0/configs.sh).
    "configs": ["lab-cfg/qcow2-create", "lab-cfg/qcow2", "lab-cfg/sect4k",
                "lab-cfg/discard", "lab-cfg/resize", "lab-cfg/cdchange",
                "lab-cfg/busydetach", "lab-cfg/resize-qmp", "lab-cfg/cdrom-eject-qmp",
                "lab-cfg/cdrom-change-qmp", "lab-cfg/busy-detach",
                "lab-cfg/busy-detach-dm-alive", "lab-cfg/qcow2-guest-read",
                "lab-cfg/qcow2-image-check", "lab-cfg/qcow2-dom0-read",
                "lab-cfg/after-detach-dom0-read", "lab-cfg/sect4k-sectors",
                "lab-cfg/sect4k-guest-read", "lab-cfg/sect4k-fsck",
                "lab-cfg/sect4k-dom0-read", "lab-cfg/discard-blocks",
                "lab-cfg/discard-zeroes", "lab-cfg/discard-guest-read",
                "lab-cfg/discard-dom0-read", "lab-cfg/resize-size",
                "lab-cfg/resize-guest-read", "lab-cfg/resize-tail-guest-read",
                "lab-cfg/resize-tail-dom0-read", "lab-cfg/cdrom-guest-read",
                "lab-cfg/cdrom-new-guest-read", "lab-cfg/busy-detach-data",
                "lab-cfg/dm-exited", "lab-cfg/backend-removed"],
    # The package of "make deb" installed in dom0, guests from plain xl
    # configs, dpkg -r (tests/xen-lab/dom0/install.sh).
    "install": ["lab-inst/stand-in", "lab-inst/dpkg-install", "lab-inst/diverted",
                "lab-inst/probe", "lab-inst/dom0-backend", "lab-inst/dom0-attach",
                "lab-inst/dom0-detach", "lab-inst/dom0-backend-stopped",
                "lab-inst/tap-on-bridge", "lab-inst/block-attach", "lab-inst/dm-path",
                "lab-inst/dm-state", "lab-inst/xvda-ours", "lab-inst/xvdb-ours",
                "lab-inst/xvdc-ours", "lab-inst/vif-ours", "lab-inst/block-detach",
                "lab-inst/qcow2", "lab-inst/cdrom", "lab-inst/netping", "lab-inst/hotplug",
                "lab-inst/qcow2-guest-read", "lab-inst/qcow2-dom0-read",
                "lab-inst/cdrom-guest-read", "lab-inst/hotplug-guest-read",
                "lab-inst/hotplug-dom0-read", "lab-inst/dm-exited",
                "lab-inst/backend-removed", "lab-inst/upstream-xen-install",
                "lab-inst/upstream-xen-remove", "lab-inst/dpkg-remove", "lab-inst/dpkg-purge",
                "lab-prev/served-by-previous", "lab-prev/disk", "lab-prev/disk-guest-read",
                "lab-prev/disk-dom0-read", "lab-prev/dm-exited", "lab-prev/backend-removed"],
    # A disk on an NBD export served from dom0.
    "nbd": ["lab-nbd/params", "lab-nbd/disk-guest-read", "lab-nbd/disk-dom0-read",
            "lab-nbd/dm-exited", "lab-nbd/backend-removed"],
    # A share (xl's p9 = [...]) served by our xen-9pfs, mounted by Linux's
    # 9pnet_xen; then the same on the stock build's legacy backend
    # (tests/xen-lab/dom0/scenarios.sh, scenario_p9).
    "p9": ["%s/%s" % (g, c) for g in ("lab-p9", "lab-p9stock")
           for c in ("p9", "benchp9", "p9-guest-read", "p9-dom0-read", "p9-listing",
                     "bench-smoke", "dm-exited", "backend-removed")],
    "cycle": ["lab-cycle/boot-1", "lab-cycle/save", "lab-cycle/save-before-dom0-read",
              "lab-cycle/restore", "lab-cycle/saverestore"]
             + ["lab-cycle/reboot-%d" % i for i in range(1, 6)]
             + ["lab-cycle/boot-%d" % i for i in range(2, 7)]
             + ["lab-cycle/save-after-dom0-read", "lab-cycle/boots",
                "lab-cycle/boots-guest-read", "lab-cycle/boots-dom0-read",
                "lab-cycle/old-dm-exited", "lab-cycle/dm-exited",
                "lab-cycle/backend-removed"],
}
DEFAULT_SCENARIOS = "ours,destroy,stock,badgrant,peers,configs,cycle,install,nbd,p9"
# Scenarios that run the stock build (install: as the binary the package
# takes libxl's path from).
NEEDS_STOCK = ("stock", "bench", "install", "p9")
# Scenarios that install the packages of "make deb".
NEEDS_DEBS = ("install",)
DEBS = ("xen-pv-qemu", "xen-pv-qemu-upstream-xen")


def log(msg):
    print("[xen-lab] %s" % msg, file=sys.stderr, flush=True)


def pack_cpio(directory):
    """A newc cpio archive of @directory, owned by root."""
    files = subprocess.run("cd %s && find . | LC_ALL=C sort" % directory, shell=True,
                           check=True, capture_output=True).stdout
    return subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "--owner=0:0"],
                          cwd=directory, input=files, check=True,
                          capture_output=True).stdout


def concat_cpio(path, base, extra):
    """Write @base (a cached cpio) followed by the archive @extra to @path:
    Linux unpacks concatenated newc archives in turn."""
    with open(path, "wb") as out:
        with open(base, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
        out.write(b"\0" * ((-out.tell()) % 4))
        out.write(extra)


def qemu_tools(qemu):
    """qemu-img and qemu-nbd of the build that made @qemu (beside it)."""
    d = os.path.dirname(os.path.realpath(qemu))
    return [os.path.join(d, t) for t in ("qemu-img", "qemu-nbd")]


def find_debs(debdir):
    """The newest package of each name in DEBS under @debdir, or None."""
    found = []
    for name in DEBS:
        cands = [os.path.join(debdir, f) for f in os.listdir(debdir)
                 if f.startswith(name + "_") and f.endswith(".deb")] \
            if os.path.isdir(debdir) else []
        if not cands:
            return None
        found.append(max(cands, key=os.path.getmtime))
    return found


def build_payload(outdir, images, ours, stock, debs):
    """dom0's initrd: the cached image, then a cpio with /lab: the scenario
    scripts, the QEMU binaries, the packages of "make deb" (/lab/deb), the
    guests' initramfs (base + guest init)."""
    pay = os.path.join(outdir, "payload")
    shutil.rmtree(pay, ignore_errors=True)
    lab = os.path.join(pay, "lab")
    guest = os.path.join(outdir, "guest")
    shutil.rmtree(guest, ignore_errors=True)
    os.makedirs(lab)
    os.makedirs(guest)
    for name in ("init", "scenarios.sh", "peers.sh", "configs.sh", "install.sh", "qmp"):
        shutil.copy(os.path.join(ROOT, "tests/xen-lab/dom0", name), lab)
    os.chmod(os.path.join(lab, "init"), 0o755)
    os.chmod(os.path.join(lab, "qmp"), 0o755)
    shutil.copy(os.path.join(ROOT, "tests/xen-lab/guest/init"), guest)
    os.chmod(os.path.join(guest, "init"), 0o755)
    concat_cpio(os.path.join(lab, "domU.cpio"), os.path.join(images, "domU.cpio"),
                pack_cpio(guest))
    # The measuring guests: the same, with fio and iperf3 (images.sh).
    tools = os.path.join(images, "domU-tools.cpio")
    with open(tools, "rb") as f:
        concat_cpio(os.path.join(lab, "domU-tools.cpio"), os.path.join(lab, "domU.cpio"),
                    f.read())
    # Each QEMU as "make install" lays it out: its data directory (libxl's
    # "-vnc none" needs a keymap) is found relative to the binary.
    for name, binary in (("ours", ours), ("stock", stock)):
        if not binary:
            continue
        prefix = os.path.join(lab, name)
        os.makedirs(os.path.join(prefix, "bin"))
        subprocess.run(["strip", "-o", os.path.join(prefix, "bin/qemu-system-x86_64"),
                        binary], check=True)
        # Our qemu-img beside it: dom0 makes and checks qcow2 images with
        # it; and qemu-nbd, the NBD server of the nbd scenario.
        if name == "ours":
            for tool in qemu_tools(binary):
                subprocess.run(["strip", "-o", os.path.join(
                    prefix, "bin", os.path.basename(tool)), tool], check=True)
        keymap = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(binary))),
                              "src/pc-bios/keymaps/en-us")
        os.makedirs(os.path.join(prefix, "share/qemu/keymaps"))
        shutil.copy(keymap, os.path.join(prefix, "share/qemu/keymaps"))
    if debs:
        os.makedirs(os.path.join(lab, "deb"))
        for deb in debs:
            shutil.copy(deb, os.path.join(lab, "deb"))
    initrd = os.path.join(outdir, "initrd")
    concat_cpio(initrd, os.path.join(images, "dom0.cpio"), pack_cpio(pay))
    return initrd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", default=os.path.join(ROOT, "build/qemu-system-x86_64"))
    ap.add_argument("--stock", default=os.path.join(ROOT, "build/stock/qemu-system-x86_64"))
    ap.add_argument("--debs", default=os.path.join(ROOT, "build/deb"),
                    help="where the packages of make deb are (scenario install)")
    ap.add_argument("--scenarios", default=os.environ.get("XEN_LAB_SCENARIOS", DEFAULT_SCENARIOS))
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("XEN_LAB_TIMEOUT", 1560)))
    ap.add_argument("--outdir", default=os.path.join(ROOT, "build/xen-lab"))
    ap.add_argument("--qemu", default="/usr/bin/qemu-system-x86_64",
                    help="the host QEMU that runs Xen (Debian's)")
    ap.add_argument("--trace", default=os.environ.get("XEN_LAB_TRACE", ""),
                    help="trace events (a -trace enable= pattern) for our QEMU; "
                         "they go to its log, printed when a guest fails")
    ap.add_argument("--guest-timeout", type=int, default=0,
                    help="seconds a guest may take (dom0's default: 400)")
    ap.add_argument("--smp", type=int, default=1,
                    help="CPUs of the machine and vCPUs of dom0 (bench-xen: 2, so "
                         "that backends and frontends negotiate several queues)")
    ap.add_argument("--dom0-args", default="",
                    help="more of dom0's kernel command line (lab.bench-reps=N ...)")
    ap.add_argument("--tap", action="store_true", help="print TAP")
    args = ap.parse_args()

    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in EXPECTED:
            ap.error("unknown scenario %r (known: %s)" % (s, ", ".join(EXPECTED)))
    stock = args.stock if any(s in NEEDS_STOCK for s in scenarios) else None
    for b in [args.ours] + qemu_tools(args.ours) + ([stock] if stock else []):
        if not os.access(b, os.X_OK):
            ap.error("%s is not built (make, make bench-build)" % b)
    debs = None
    if any(s in NEEDS_DEBS for s in scenarios):
        debs = find_debs(args.debs)
        if not debs:
            ap.error("no %s packages in %s (make deb)" % (" and ".join(DEBS), args.debs))
    if not os.access(args.qemu, os.X_OK):
        ap.error("%s is missing (scripts/install-deps.sh installs qemu-system-x86)" % args.qemu)

    os.makedirs(args.outdir, exist_ok=True)
    t0 = time.monotonic()
    made = subprocess.run([os.path.join(ROOT, "scripts/xen-lab/images.sh"), args.ours]
                          + qemu_tools(args.ours)
                          + ([stock] if stock else []), stdout=subprocess.PIPE, text=True)
    if made.returncode:
        log("no lab images (scripts/xen-lab/images.sh failed)")
        if args.tap:
            print("1..1\nnot ok 1 - xen-lab/images")
        return 1
    images = made.stdout.strip()
    t_images = time.monotonic() - t0
    initrd = build_payload(args.outdir, images, args.ours, stock, debs)

    # Multiboot modules are comma-separated; a comma inside is doubled.
    dom0_args = ("console=hvc0 earlyprintk=xen rdinit=/lab/init loglevel=4 "
                 "lab.scenarios=%s" % ",".join(scenarios))
    if args.trace:
        dom0_args += " lab.trace=%s" % args.trace
    if args.dom0_args:
        dom0_args += " " + args.dom0_args
    if args.guest_timeout:
        dom0_args += " lab.guest-timeout=%d" % args.guest_timeout
    modules = "%s %s,%s" % (os.path.join(images, "vmlinuz"),
                            dom0_args.replace(",", ",,"), initrd)
    cmd = [args.qemu, "-accel", "tcg", "-cpu", "qemu64", "-smp", str(args.smp), "-m", "3G",
           "-display", "none", "-monitor", "none", "-serial", "stdio",
           "-no-reboot", "-nodefaults",
           "-kernel", os.path.join(images, "xen"),
           "-append", "console=com1 com1=115200,8n1 dom0_mem=1792M,max:1792M "
                      "dom0_max_vcpus=%d noreboot" % args.smp,
           "-initrd", modules]
    log("images %s (%.0f s); booting Xen, scenarios %s" % (images, t_images, ",".join(scenarios)))

    serial_path = os.path.join(args.outdir, "serial.log")
    results = []          # (status, name, details)
    infos = []
    ended = False
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    timer = threading.Timer(args.timeout, proc.kill)
    timer.start()
    t_boot = time.monotonic()
    with open(serial_path, "wb") as serial:
        for raw in proc.stdout:
            serial.write(raw)
            serial.flush()
            text = raw.decode(errors="replace").rstrip("\r\n")
            # A guest's console, copied in as "[<guest>] ...", never reports.
            m = None if text.startswith("[lab-") else LINE.search(text)
            if not m:
                continue
            kind, name, rest = m.groups()
            if kind == "END":
                ended = True
                log("dom0 finished after %.0f s" % (time.monotonic() - t_boot))
                break
            if kind == "INFO":
                infos.append("%s %s" % (name, rest))
                log("%s %s" % (name, rest))
            else:
                results.append((kind, name, rest))
                log("%s %s %s" % (kind, name, rest))
    timed_out = not ended and time.monotonic() - t_boot >= args.timeout - 1
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    timer.cancel()

    seen = {n for _, n, _ in results}
    for s in scenarios:
        for want in EXPECTED[s]:
            if want not in seen:
                results.append(("FAIL", want, "never reported"))
    if not ended:
        results.append(("FAIL", "lab-finished",
                        "timed out after %d s" % args.timeout if timed_out
                        else "the machine stopped before XEN-LAB: END (see %s)" % serial_path))

    total = time.monotonic() - t0
    summary = [i for i in infos if i.startswith(("summary", "lab-ours/blkfront",
                                                 "lab-ours/queues", "lab-ours/disk-mbps",
                                                 "lab-stock/blkfront", "lab-stock/queues",
                                                 "lab-stock/disk-mbps", "xen"))]
    with open(os.path.join(args.outdir, "summary.txt"), "w") as f:
        for line in summary:
            f.write(line + "\n")
        f.write("lab: %.0f s (images %.0f s)\n" % (total, t_images))

    failed = [r for r in results if r[0] == "FAIL"]
    if args.tap:
        print("1..%d" % len(results))
        for i, (kind, name, rest) in enumerate(results, 1):
            print("%s %d - xen-lab/%s%s" % ("ok" if kind == "PASS" else "not ok", i, name,
                                            " (%s)" % rest if kind == "FAIL" and rest else ""))
        for line in summary:
            print("# " + line)
        print("# lab: %.0f s (images %.0f s)" % (total, t_images))
    else:
        for line in summary:
            print(line)
        print("xen-lab: %d passed, %d failed (%.0f s)" % (len(results) - len(failed),
                                                           len(failed), total))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
