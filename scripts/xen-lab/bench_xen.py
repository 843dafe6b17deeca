#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-xen: our backends against Linux's and upstream's in the real-Xen lab.

Boots the lab once (scripts/xen-lab/lab.py, scenario "bench", 2 CPUs and
2 dom0 vCPUs) and lets dom0 run the matrix of tests/xen-lab/dom0/peers.sh:
one guest (Linux 6.1, busybox, fio and iperf3 from Debian) on the same
256 MiB image on dom0's tmpfs, served in turn by

  ours     our qdisk, our xen-net-device (device_model_override) and our
           xen-9pfs (xl's p9 = [...])
  linux    xen-blkback (a loop device over the image) and xen-netback
           (Xen 4.17 has no 9pfs backend: no 9pfs cases)
  stock    upstream's qdisk and legacy 9pfs backend (the stock build; no
           net cases)

in rounds (ours linux stock, stock linux ours, ...), --reps of each.  Each
round is one guest boot running every case for --secs seconds: fio (libaio,
direct) on /dev/xvda and iperf3 against dom0; then a sequential write and
read of a --p9-mib file through the guest's 9p mount (dd, bs=1M).  dom0
sleeps while the guest measures; the guest brackets each case by its own
and dom0's /proc/stat.

Writes, in --out (build/bench-xen):
  results.json  every run's figures, medians, min and max, ratios, queues,
                the machine's load during the run
  report.md     the tables (ours/blkback, ours/stock, ours/netback; 9pfs:
                ours/stock)
  block.png, net.png   medians relative to Linux's backend (gnuplot);
  p9.png        relative to stock's
  lab/          lab.py's serial log
"""

import argparse
import datetime
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Backends as dom0 names them, and as the report does per kind.
BLOCK_BACKENDS = [("ours", "ours"), ("stock", "stock"), ("linux", "blkback")]
NET_BACKENDS = [("ours", "ours"), ("linux", "netback")]
# Xen 4.17 has no 9pfs backend of its own (xen-9pfsd came with 4.19).
P9_BACKENDS = [("ours", "ours"), ("stock", "stock")]
BACKENDS = {"block": BLOCK_BACKENDS, "net": NET_BACKENDS, "p9": P9_BACKENDS}
TITLES = {"block": "Block (fio, libaio, direct=1, /dev/xvda: a 256 MiB file on dom0's tmpfs)",
          "net": "Net (iperf3 against dom0 on xenbr0)",
          "p9": "9pfs (dd bs=1M through the guest's mount, trans=xen, version=9p2000.L, "
                "cache=none: a file in a directory of dom0's tmpfs)"}

# case: (kind, primary figure, unit, what it is)
CASES = {
    "randread-4k-qd1": ("block", "read_iops", "IOPS", "4 KiB random read, 1 job, QD1"),
    "randread-4k-qd32": ("block", "read_iops", "IOPS", "4 KiB random read, 2 jobs x QD16"),
    "randwrite-4k-qd1": ("block", "write_iops", "IOPS", "4 KiB random write, 1 job, QD1"),
    "randwrite-4k-qd32": ("block", "write_iops", "IOPS", "4 KiB random write, 2 jobs x QD16"),
    "read-1m-qd8": ("block", "read_mibs", "MiB/s", "1 MiB sequential read, 2 jobs x QD4"),
    "write-1m-qd8": ("block", "write_mibs", "MiB/s", "1 MiB sequential write, 2 jobs x QD4"),
    "randrw70-4k-qd16": ("block", "rw_iops", "IOPS", "4 KiB 70/30 random read/write, 2 jobs x QD8"),
    "tcp-tx-1500": ("net", "mbits", "Mbit/s", "TCP guest to dom0, MTU 1500, P streams"),
    "tcp-rx-1500": ("net", "mbits", "Mbit/s", "TCP dom0 to guest, MTU 1500, P streams"),
    "tcp-tx-9000": ("net", "mbits", "Mbit/s", "TCP guest to dom0, MTU 9000, P streams"),
    "tcp-rx-9000": ("net", "mbits", "Mbit/s", "TCP dom0 to guest, MTU 9000, P streams"),
    "udp64-tx-1500": ("net", "pps", "pkt/s", "UDP 64-byte datagrams guest to dom0, "
                                             "unlimited rate: received by dom0"),
    "p9-write-1m": ("p9", "mibs", "MiB/s", "sequential write of a file (--p9-mib MiB) through "
                                          "the 9p mount, dd bs=1M conv=fsync"),
    "p9-read-1m": ("p9", "mibs", "MiB/s", "sequential read of that file through the 9p "
                                         "mount, dd bs=1M, the guest's caches dropped"),
}
INFO = re.compile(r"XEN-LAB: INFO bench/(ours|linux|stock)/(\d+)/(\S+)\s*(.*)")
PROGRESS = re.compile(r"\[xen-lab\] bench/(ours|linux|stock)/(\d+)/(\S+)\s*(.*)")


def log(msg):
    print("bench-xen: %s" % msg, file=sys.stderr, flush=True)


def parse_figures(text):
    """'a=1 b=2.5 c=?' -> {'a': 1.0, 'b': 2.5} (non-numbers left out)."""
    out = {}
    for tok in text.split():
        k, _, v = tok.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    if "read_kibs" in out:
        out["read_mibs"] = out["read_kibs"] / 1024
        out["write_mibs"] = out.get("write_kibs", 0) / 1024
        out["rw_iops"] = out.get("read_iops", 0) + out.get("write_iops", 0)
    return out


def parse_serial(path):
    """The bench INFO lines of a lab serial log: (runs, extra), where runs is
    [{backend, rep, case, figures}] and extra {backend: {key: [values]}}."""
    runs, extra = [], {}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("["):
                continue        # a guest's console, copied in
            m = INFO.search(line)
            if not m:
                continue
            backend, rep, key, rest = m.groups()
            rest = rest.strip()
            if key in CASES:
                # A later line of the same round replaces an earlier one
                # (a lab before peers.sh cleared the console log between
                # rounds repeated the earlier rounds' lines first).
                runs = [r for r in runs if (r["backend"], r["rep"], r["case"])
                        != (backend, int(rep), key)]
                runs.append(dict(backend=backend, rep=int(rep), case=key,
                                 figures=parse_figures(rest), raw=rest))
            else:
                extra.setdefault(backend, {}).setdefault(key, []).append(rest)
    return runs, extra


def summarise(runs, extra, wanted=None):
    """Per case (of @wanted, default all) and backend: median, min, max of
    the primary figure, the CPU medians; the ratios of ours to each peer."""
    cases = {}
    for case, (kind, primary, unit, what) in CASES.items():
        if wanted and case not in wanted:
            continue
        backends = BACKENDS[kind]
        entry = dict(kind=kind, primary=primary, unit=unit, what=what, backends={})
        for key, label in backends:
            rs = [r for r in runs if r["case"] == case and r["backend"] == key]
            vals = [r["figures"][primary] for r in rs if primary in r["figures"]]
            if not vals:
                continue
            cpu = {c: [r["figures"][c] for r in rs if c in r["figures"]]
                   for c in ("gcpu", "dcpu", "retr")}
            entry["backends"][label] = dict(
                median=statistics.median(vals), min=min(vals), max=max(vals),
                n=len(vals), values=vals,
                gcpu=statistics.median(cpu["gcpu"]) if cpu["gcpu"] else None,
                dcpu=statistics.median(cpu["dcpu"]) if cpu["dcpu"] else None,
                gcpu_runs=cpu["gcpu"], dcpu_runs=cpu["dcpu"],
                retr=statistics.median(cpu["retr"]) if cpu["retr"] else None,
                lat_us=statistics.median(
                    [r["figures"][k] for r in rs
                     for k in ("read_lat_us", "write_lat_us")
                     if r["figures"].get(k)] or [0]) or None,
                order=[r["rep"] for r in rs])
        ours = entry["backends"].get("ours")
        entry["ratios"] = {}
        for _, label in backends[1:]:
            peer = entry["backends"].get(label)
            if ours and peer and peer["median"] > 0:
                entry["ratios"]["ours/" + label] = ours["median"] / peer["median"]
        cases[case] = entry
    queues = {}
    for key, label in (("ours", "ours"), ("linux", "blkback/netback"), ("stock", "stock")):
        e = extra.get(key, {})
        queues[label] = dict(disk=sorted(set(e.get("disk-queues", []))),
                             net=sorted(set(e.get("net-queues", []))),
                             blkfront=sorted(set(e.get("blkfront", []))))
    return cases, queues


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def render_markdown(results):
    m = results["machine"]
    lines = ["# bench-xen: ours against Linux's backends and upstream's qdisk and 9pfs", "",
             "Real Xen %s, Debian dom0 (%s), nested under TCG on %s (%d host CPUs); "
             "the lab machine has %d CPUs, dom0 %d vCPUs, the guest 2 vCPUs and %s."
             % (m.get("xen", "?"), m.get("dom0_kernel", "?"), m["host"], m["host_cpus"],
                m["smp"], m["smp"], "384 MiB"),
             "Date %s; %d rounds per backend, %d s per case, interleaved in one boot "
             "(ours, linux, stock; then stock, linux, ours; ...)."
             % (m["date"], results["settings"]["reps"], results["settings"]["secs"]),
             "Host load average (1 min) during the run: min %.2f, median %.2f, max %.2f "
             "(other jobs share this machine)." % tuple(m["loadavg"]),
             "",
             "Medians over the rounds, [min-max]; CPU: busy share of the domain's "
             "vCPUs during the case (guest / dom0, medians, %); ratio > 1: ours is "
             "faster.", ""]
    for kind, backends in BACKENDS.items():
        if not any(e["kind"] == kind for e in results["cases"].values()):
            continue
        title = TITLES[kind]
        labels = [b for _, b in backends]
        lines.append("## " + title)
        lines.append("")
        head = ["case", "unit"] + labels + ["ours/" + b for b in labels[1:]] + \
               ["CPU g/d " + b for b in labels] + \
               (["TCP retr " + "/".join(labels)] if kind == "net" else [])
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for case, e in results["cases"].items():
            if e["kind"] != kind:
                continue
            row = [case, e["unit"]]
            for b in labels:
                s = e["backends"].get(b)
                row.append("%s [%s-%s]" % (fmt(s["median"]), fmt(s["min"]), fmt(s["max"]))
                           if s else "-")
            for b in labels[1:]:
                r = e["ratios"].get("ours/" + b)
                row.append("%.2f" % r if r is not None else "-")
            for b in labels:
                s = e["backends"].get(b)
                row.append("%s/%s" % (fmt(s["gcpu"]), fmt(s["dcpu"])) if s else "-")
            if kind == "net":
                row.append("/".join(fmt(e["backends"][b].get("retr"))
                                    if b in e["backends"] else "-" for b in labels))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines.append("## Queues negotiated")
    lines.append("")
    lines.append("| backend | xvda queues (/sys/block/xvda/mq) | eth0 queues | blkfront |")
    lines.append("|---|---|---|---|")
    for label, q in results["queues"].items():
        lines.append("| %s | %s | %s | %s |" % (label, ",".join(q["disk"]) or "-",
                                               ",".join(q["net"]) or "-",
                                               "; ".join(q["blkfront"]) or "-"))
    lines.append("")
    lines.append("Cases: " + "; ".join("%s: %s" % (c, e["what"])
                                      for c, e in results["cases"].items()) + ".")
    if results.get("failures"):
        lines += ["", "Failures: " + "; ".join(results["failures"])]
    lines += ["", "Charts: block.png, net.png (medians relative to Linux's backend = 1.0), "
              "p9.png (relative to stock's = 1.0)."]
    return "\n".join(lines) + "\n"


def write_charts(results, out):
    """block.png and net.png in bench-report.py's style, relative to Linux;
    p9.png relative to stock (the last backend of each kind)."""
    spec = importlib.util.spec_from_file_location(
        "bench_report", os.path.join(ROOT, "scripts", "bench-report.py"))
    br = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(br)
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        raise RuntimeError("gnuplot not found (Debian package gnuplot-nox)")
    terminal = br.gnuplot_terminal(gnuplot)
    colours = {"ours": "#1f77b4", "stock": "#7f7f7f", "blkback": "#d62728",
               "netback": "#d62728"}
    for kind, backends in BACKENDS.items():
        if not any(e["kind"] == kind for e in results["cases"].values()):
            continue
        labels = [b for _, b in backends]
        base = labels[-1]
        rows = []
        for case, e in results["cases"].items():
            if e["kind"] != kind:
                continue
            ref = e["backends"].get(base)
            norm = []
            for b in labels:
                s = e["backends"].get(b)
                norm.append(s["median"] / ref["median"]
                            if s and ref and ref["median"] > 0 and s["median"] > 0 else None)
            rows.append(("%s (%s)" % (case, e["unit"]), norm))
        with open(os.path.join(out, kind + ".dat"), "w") as f:
            f.write("# case %s  (median / %s median; NaN = none)\n" % (" ".join(labels), base))
            for label, norm in rows:
                f.write(" ".join(['"%s"' % label] +
                                 ["%.6g" % v if v is not None else "NaN" for v in norm]) + "\n")
        lo, hi = br._yrange(rows)
        n = len(labels)
        title = ("bench-xen %s: medians of %d rounds relative to %s (real Xen, nested TCG)"
                 % (kind, results["settings"]["reps"], base))
        gp = ["# Generated by scripts/xen-lab/bench_xen.py; data in %s.dat" % kind,
              "set terminal %s size 1100,650" % terminal,
              "set output %s" % br._gp_str(kind + ".png"),
              "set termoption noenhanced",
              "set title %s" % br._gp_str(title),
              "set ylabel %s" % br._gp_str("relative to %s (= 1.0), log scale" % base),
              "set logscale y", "set yrange [%g:%g]" % (lo, hi), "set grid ytics",
              "set key outside top center horizontal",
              "set style data histograms", "set style histogram clustered gap 1",
              "set style fill solid 0.85 border -1", "set boxwidth 0.9",
              "set xtics rotate by 30 right nomirror",
              "set bmargin %d" % br._bmargin(rows),
              "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2",
              "set datafile missing 'NaN'"]
        if not any(v is not None for _, norm in rows for v in norm):
            # Nothing measured (a failed run): say so rather than fail to plot.
            gp += ["set xrange [0:1]", "unset xtics", "unset key",
                   "set label 'no %s results' at graph 0.5, graph 0.5 center" % kind,
                   "plot 1 notitle lc rgb '#7f7f7f'"]
            with open(os.path.join(out, kind + ".gp"), "w") as f:
                f.write("\n".join(gp) + "\n")
            subprocess.run([gnuplot, kind + ".gp"], cwd=out, capture_output=True)
            continue
        plots = []
        for j, name in enumerate(labels):
            plots.append("%s using %d%s title %s lc rgb %s"
                         % ("'%s.dat'" % kind if j == 0 else "''", j + 2,
                            ":xtic(1)" if j == 0 else "", br._gp_str(name),
                            br._gp_str(colours[name])))
        for j in range(n):
            off = (j - (n - 1) / 2) / (n + 1)
            plots.append("'' using ($0%+.4f):%d:(sprintf('%%.2fx', $%d)) "
                         "with labels offset 0,0.7 font ',8' notitle" % (off, j + 2, j + 2))
        gp.append("plot " + ", \\\n     ".join(plots))
        with open(os.path.join(out, kind + ".gp"), "w") as f:
            f.write("\n".join(gp) + "\n")
        r = subprocess.run([gnuplot, kind + ".gp"], cwd=out, capture_output=True, text=True)
        if r.returncode or not os.path.isfile(os.path.join(out, kind + ".png")):
            raise RuntimeError("gnuplot failed on %s.gp: %s" % (kind, r.stderr.strip()))


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", default=os.path.join(ROOT, "build/qemu-system-x86_64"))
    ap.add_argument("--stock", default=os.path.join(ROOT, "build/stock/qemu-system-x86_64"))
    ap.add_argument("--reps", type=int, default=3, help="rounds per backend (3)")
    ap.add_argument("--secs", type=int, default=5, help="seconds per case (5)")
    ap.add_argument("--p9-mib", type=int, default=64,
                    help="MiB the 9pfs cases write and read through the mount (64)")
    ap.add_argument("--cases", default="",
                    help="only these cases (comma-separated; the rounds of the "
                         "backends they compare), e.g. p9-write-1m,p9-read-1m")
    ap.add_argument("--out", default=os.path.join(ROOT, "build/bench-xen"))
    ap.add_argument("--from-serial", metavar="LOG",
                    help="no lab run: rebuild the results from a serial log")
    args = ap.parse_args()
    wanted = [c for c in args.cases.split(",") if c]
    for c in wanted:
        if c not in CASES:
            ap.error("unknown case %r (known: %s)" % (c, ", ".join(CASES)))
    # The backends the cases compare, in the lab's order
    kinds = {CASES[c][0] for c in wanted or CASES}
    keys = [k for k in ("ours", "linux", "stock")
            if any(k == key for kind in kinds for key, _ in BACKENDS[kind])]
    os.makedirs(args.out, exist_ok=True)
    labdir = os.path.join(args.out, "lab")
    # dom0 ends a round it finds unfinished after this (peers.sh).
    round_timeout = 12 * (args.secs + 20) + 2 * 300 + 180
    timeout = 600 + args.reps * len(keys) * round_timeout
    loads = [loadavg()]
    rc = 0
    t0 = time.monotonic()
    if not args.from_serial:
        cmd = [sys.executable, os.path.join(HERE, "lab.py"), "--ours", args.ours,
               "--stock", args.stock, "--scenarios", "bench", "--smp", "2",
               "--outdir", labdir, "--timeout", str(timeout),
               "--dom0-args", "lab.bench-reps=%d lab.bench-secs=%d lab.bench-p9-mib=%d%s"
               % (args.reps, args.secs, args.p9_mib,
                  " lab.bench-backends=%s lab.bench-cases=%s" % (",".join(keys), ",".join(wanted))
                  if wanted else ""),
               "--tap"]
        log("%d rounds per backend, %d s per case; the lab stops after %d s at most"
            % (args.reps, args.secs, timeout))
        stop = threading.Event()

        def sample():
            while not stop.wait(30):
                loads.append(loadavg())
        threading.Thread(target=sample, daemon=True).start()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace")
        tap = []
        threading.Thread(target=lambda: tap.extend(proc.stdout), daemon=True).start()
        for line in proc.stderr:
            line = line.rstrip("\n")
            m = PROGRESS.match(line)
            if m:
                backend, rep, key, rest = m.groups()
                if key in CASES:
                    fig = parse_figures(rest)
                    kind, primary, unit, _ = CASES[key]
                    log("%-18s %-6s round %s: %s %s (cpu guest %s%% dom0 %s%%) [%.0f s]"
                        % (key, backend, rep, fmt(fig.get(primary)), unit,
                           fmt(fig.get("gcpu")), fmt(fig.get("dcpu")),
                           time.monotonic() - t0))
                elif key == "round-seconds":
                    log("round %s of %s done in %s s" % (rep, backend, rest))
            elif "FAIL" in line or "booting" in line or "finished" in line:
                log(line)
        rc = proc.wait()
        stop.set()
        time.sleep(0.5)
        with open(os.path.join(args.out, "lab.tap"), "w") as f:
            f.writelines(tap)
        failures = [t.strip() for t in tap if t.startswith("not ok")]
        serial = os.path.join(labdir, "serial.log")
    else:
        serial = args.from_serial
        failures = []
    loads.append(loadavg())
    runs, extra = parse_serial(serial)
    cases, queues = summarise(runs, extra, wanted)
    info = {}
    with open(serial, errors="replace") as f:
        for line in f:
            m = re.search(r"XEN-LAB: INFO (xen|dom0-kernel|bench/dom0) (.*)", line)
            if m and not line.startswith("["):
                info[m.group(1)] = m.group(2).strip()
    results = dict(
        machine=dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                     host=os.uname().nodename, host_cpus=os.cpu_count(), smp=2,
                     loadavg=[min(loads), statistics.median(loads), max(loads)],
                     xen=info.get("xen", "?").strip(), dom0_kernel=info.get("dom0-kernel", "?"),
                     dom0=info.get("bench/dom0", "?"),
                     lab_seconds=round(time.monotonic() - t0)),
        settings=dict(reps=args.reps, secs=args.secs, p9_mib=args.p9_mib,
                      cases=wanted or list(CASES)), cases=cases,
        queues=queues,
        runs=runs, failures=failures)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(render_markdown(results))
    log("wrote %s and %s" % (os.path.join(args.out, "results.json"),
                             os.path.join(args.out, "report.md")))
    try:
        write_charts(results, args.out)
        log("wrote the charts (%s)" % ", ".join(
            k + ".png" for k in BACKENDS if any(e["kind"] == k for e in cases.values())))
    except (RuntimeError, OSError) as e:
        log("no charts: %s" % e)
        rc = rc or 1
    missing = [c for c, e in cases.items()
               if len(e["backends"]) < len(BACKENDS[e["kind"]])]
    if missing:
        log("no figures for every backend in: %s" % ", ".join(missing))
        rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
