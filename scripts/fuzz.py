#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Build and run the xen-pv fuzz targets (tests/fuzz/xen) with libFuzzer.

    scripts/fuzz.py [--seconds N] [--build-only] [TARGET...]

Each target links one fuzz driver with the pure files it exercises (no QEMU
is booted), built by clang with -fsanitize=fuzzer,address,undefined and the
include flags of the QEMU build tree (build/qemu must be built: the headers
need its config-host.h).  Each runs for N seconds (-max_total_time), starting
from its seed corpus (tests/fuzz/xen/corpus/TARGET) and its regressions
(tests/fuzz/xen/regressions/TARGET); what it learns goes to
build/fuzz/corpus/TARGET, crash inputs to build/fuzz/artifacts/TARGET, its
log to build/fuzz/logs/TARGET.log.

Prints one result line per target and exits 1 if any target crashed (or
broke an invariant, which aborts), 2 if one could not be built or run.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_DIR = os.path.join(ROOT, "tests", "fuzz", "xen")
PV = os.path.join(ROOT, "hw", "xen", "pv")

# name: (driver, pure files it links, libFuzzer -max_len)
TARGETS = {
    # flags, disk size, max indirect, a slot, 4096 indirect segments
    "blkif-request": ("fuzz-blkif-request.c", ["xen-blkif.c"],
                      1 + 8 + 2 + 112 + 4096 * 8),
    # header, a ring of 256 12-byte entries
    "netif-tx": ("fuzz-netif-tx.c", ["xen-netif.c"], 8 + 256 * 12),
    # header, 32 requests, a grant page
    "netif-ctrl": ("fuzz-netif-ctrl.c", ["xen-netif.c"], 2 + 32 * 16 + 4096),
    "xs-keys": ("fuzz-xs-keys.c", ["xen-pv-keys.c", "xen-blkif.c"], 4096),
    # header, 8 racing writes, a 16 KiB ring half
    "9pfs-framing": ("fuzz-9pfs-framing.c", ["xen-9pfs-wire.c"],
                     9 + 8 * 3 + 16384),
}

SANITIZE = ["-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
KEEP_FLAGS = ("-m64", "-mcx16", "-msse2", "-fno-strict-aliasing",
              "-fno-common", "-fwrapv")


def find_clang():
    for name in ("clang-14", "clang"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("fuzz: clang not found (scripts/install-deps.sh installs "
             "clang-14 and libclang-rt-14-dev)")


def qemu_flags(builddir):
    """Include and define flags of a pure file's unit test in @builddir."""
    db = os.path.join(builddir, "compile_commands.json")
    try:
        with open(db) as f:
            entries = json.load(f)
    except OSError:
        sys.exit("fuzz: %s missing: run `make` first" % db)
    for e in entries:
        if e["file"].endswith("hw/xen/pv/xen-netif.c") and \
                "xen-netif-test" in e.get("output", e["command"]):
            break
    else:
        sys.exit("fuzz: no xen-netif-test entry in %s: run `make` first" % db)
    args = shlex.split(e["command"])
    out = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-isystem", "-iquote", "-I"):
            out += [a, os.path.join(e["directory"], args[i + 1])]
            i += 2
            continue
        if a.startswith("-I"):
            out.append("-I" + os.path.join(e["directory"], a[2:]))
        elif a.startswith("-D") or a.startswith("-std=") or a in KEEP_FLAGS:
            out.append(a)
        i += 1
    return out


def glib_libs():
    return subprocess.run(["pkg-config", "--libs", "glib-2.0"], check=True,
                          capture_output=True, text=True).stdout.split()


def build(clang, flags, name, outdir):
    driver, pure, _ = TARGETS[name]
    exe = os.path.join(outdir, "fuzz-" + name)
    cmd = [clang, "-g", "-O1", "-Wall", "-Werror"] + SANITIZE + flags + \
        [os.path.join(FUZZ_DIR, driver)] + \
        [os.path.join(PV, p) for p in pure] + glib_libs() + ["-o", exe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
        sys.stderr.write(r.stdout + r.stderr)
        return None
    return exe


def last_int(pattern, text):
    m = re.findall(pattern, text)
    return int(m[-1]) if m else None


def run(exe, name, seconds, top):
    max_len = TARGETS[name][2]
    work = os.path.join(top, "corpus", name)
    arts = os.path.join(top, "artifacts", name)
    logs = os.path.join(top, "logs")
    for d in (work, arts, logs):
        os.makedirs(d, exist_ok=True)
    seeds = [os.path.join(FUZZ_DIR, "corpus", name)]
    regress = os.path.join(FUZZ_DIR, "regressions", name)
    if os.path.isdir(regress):
        seeds.append(regress)
    before = set(os.listdir(arts))
    cmd = [exe, "-max_total_time=%d" % seconds, "-print_final_stats=1",
           "-max_len=%d" % max_len, "-timeout=10", "-rss_limit_mb=2048",
           "-artifact_prefix=" + arts + "/", work] + seeds
    log = os.path.join(logs, name + ".log")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    start = time.monotonic()
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    wall = time.monotonic() - start
    with open(log, errors="replace") as f:
        text = f.read()
    new = sorted(set(os.listdir(arts)) - before)
    res = {
        "rc": r.returncode,
        "execs": last_int(r"stat::number_of_executed_units:\s*(\d+)", text),
        "rate": last_int(r"stat::average_exec_per_sec:\s*(\d+)", text),
        "cov": last_int(r"\bcov: (\d+)", text),
        "ft": last_int(r"\bft: (\d+)", text),
        "corp": last_int(r"\bcorp: (\d+)/", text),
        "rss": last_int(r"stat::peak_rss_mb:\s*(\d+)", text),
        "artifacts": [os.path.join(arts, a) for a in new],
        "log": log,
        "wall": wall,
    }
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=60,
                    help="fuzzing time per target (default 60)")
    ap.add_argument("--builddir", default=os.path.join(ROOT, "build", "qemu"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "fuzz"))
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("targets", nargs="*", metavar="TARGET",
                    help="default: all of " + ", ".join(TARGETS))
    args = ap.parse_args()
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        sys.exit("fuzz: unknown target(s) %s (known: %s)" %
                 (", ".join(unknown), ", ".join(TARGETS)))
    if args.seconds < 1:
        sys.exit("fuzz: --seconds must be at least 1")

    clang = find_clang()
    flags = qemu_flags(args.builddir)
    bindir = os.path.join(args.out, "bin")
    os.makedirs(bindir, exist_ok=True)
    exes = {}
    for n in names:
        exe = build(clang, flags, n, bindir)
        if not exe:
            print("fuzz %s: BUILD FAILED" % n)
            return 2
        exes[n] = exe
        print("fuzz %s: built %s" % (n, os.path.relpath(exe, ROOT)))
    if args.build_only:
        return 0

    crashed = broken = 0
    for n in names:
        r = run(exes[n], n, args.seconds, args.out)
        figures = ("%s execs (%s/s), cov %s, ft %s, corpus %s, rss %s MB, "
                   "%.0f s" % (r["execs"], r["rate"], r["cov"], r["ft"],
                               r["corp"], r["rss"], r["wall"]))
        if r["artifacts"]:
            crashed += 1
            print("fuzz %s: CRASH: %s; %d crash(es): %s (log %s)" %
                  (n, figures, len(r["artifacts"]),
                   " ".join(os.path.relpath(a, ROOT) for a in r["artifacts"]),
                   os.path.relpath(r["log"], ROOT)))
        elif r["rc"] or r["execs"] is None:
            broken += 1
            print("fuzz %s: FAILED (exit %d, no crash input; log %s)" %
                  (n, r["rc"], os.path.relpath(r["log"], ROOT)))
        else:
            print("fuzz %s: ok: %s, 0 crashes" % (n, figures))
    print("fuzz: %d target(s), %d crashed, %d failed" %
          (len(names), crashed, broken))
    if crashed:
        print("fuzz: reproduce with `build/fuzz/bin/fuzz-TARGET CRASH-FILE`; "
              "see docs/devel/xen-pv-fuzzing.rst")
        return 1
    return 2 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
