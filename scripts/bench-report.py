#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn the results of `make bench` into a report and two bar charts.

    scripts/bench-report.py DIR          # DIR is e.g. build/bench

Reads DIR/results.json (per-case medians written by scripts/bench.py) and
DIR/runs.json (machine metadata and the individual runs), and writes:

  DIR/report.md     header, a block table, a net table, a 9pfs table (when
                    there are 9pfs results), case notes and the evaluation
                    of the project's performance targets;
  DIR/block.png     per block case, the primary figure of ours / stock /
                    limit normalised to stock = 1.0;
  DIR/net.png       the same for the net cases (ours / stock);
  DIR/9pfs.png      the same for the 9pfs cases, when some have figures of
                    both ours and stock.

The charts are drawn by gnuplot (Debian package gnuplot-nox) from a generated
script and data file left in DIR (block.gp, block.dat, net.gp, net.dat).

results.json:
    {"block": [{"case": NAME, "ours": FIG, "stock": FIG, "limit": FIG|null}],
     "net":   [{"case": NAME, "ours": FIG, "stock": FIG}],
     "9pfs":  [{"case": NAME, "ours": FIG, "stock": FIG}]}
    FIG = {"iops"|"pps", "mbps", "cpu_us_per_io", "grant_ops_per_io",
           "notify_per_io": medians, "runs": N, "min", "max": of the primary}

Every value may be null (a failed variant) and is shown as "—".  A FIG that
is missing or null altogether is derived from the runs of runs.json when it
has any.  Any key of runs.json may be missing; the primary figure then
defaults to "mbps" for cases named bulk* and 9pfs cases, else "iops" (block)
or "pps" (net).

Importable (tests load it with importlib): load(), render_markdown(),
fmt_num(), ratio(), evaluate_targets(), write_charts(), main().

Exit status: 0 on success; 1 when the inputs cannot be read or the charts
cannot be drawn (gnuplot missing or failing; report.md is still written).
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

DASH = "—"

# Per-I/O figures shown in the tables: (key, column heading).
MBPS = "mbps"
CPU = "cpu_us_per_io"
GRANT = "grant_ops_per_io"
NOTIFY = "notify_per_io"

UNITS = {"iops": "IOPS", "pps": "pps", "mbps": "MB/s"}

BLOCK_CASES = [
    "randread-4k-qd1-null", "randread-4k-qd32-null", "randwrite-4k-qd32-null",
    "seqread-1m-qd8-null", "seqwrite-1m-qd8-null", "randread-4k-qd32-2q-null",
    "randread-4k-qd32-file",
]
NET_CASES = ["tx-64b", "rx-64b", "tx-1500b", "rx-1500b", "bulk-64k"]

# Ratio targets: (kind, case, metric or None for the primary, minimum ratio).
RATIO_TARGETS = [
    ("block", "randread-4k-qd32-null", None, 3.0),
    ("block", "randwrite-4k-qd32-null", None, 3.0),
    ("block", "seqread-1m-qd8-null", None, 4.0),
    ("block", "seqwrite-1m-qd8-null", None, 4.0),
    ("block", "randread-4k-qd1-null", None, 1.3),
    ("net", "tx-64b", None, 3.0),
    ("net", "rx-64b", None, 3.0),
    ("net", "bulk-64k", "mbps", 10.0),
]
LIMIT_SHARE_TARGET = 0.60       # ours >= 60 % of the block layer's limit
GRANT_OPS_TARGET = 0.05         # ours grant ops per I/O, 4k block cases
CPU_SHARE_TARGET = 0.8          # ours CPU per I/O <= 0.8 x stock's, 4k


class ReportError(Exception):
    """An input that cannot be read, or a chart that cannot be drawn."""


# ---------------------------------------------------------------- numbers

def num(x):
    """Return @x as a finite float, or None (null, non-number, NaN, inf)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _sig3(v):
    """Format @v (>= 0) with 3 significant digits, no exponent, no
    trailing zeros after the decimal point."""
    if v == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(v)))
    s = "%.*f" % (decimals, v)
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def fmt_num(x):
    """Human-friendly number with 3 significant digits.

    1234567 -> "1.23 M", 45678 -> "45.7 k", 12.3456 -> "12.3",
    0.012345 -> "0.0123", 0 -> "0", None -> "—".
    """
    v = num(x)
    if v is None:
        return DASH
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v != 0 and v < 1e-4:
        return sign + ("%.2e" % v)
    for scale, prefix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if v >= scale * 0.9995:         # 999.96 k rounds to 1 M, not 1000 k
            return sign + _sig3(v / scale) + prefix
    if v >= 999.5:
        return sign + "1 k"
    return sign + _sig3(v)


def ratio(a, b):
    """Return a / b as a float, or None where either side is null or zero."""
    a, b = num(a), num(b)
    if a is None or b is None or a == 0 or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    """Format a ratio like "3.42x"; None -> "—"."""
    r = num(r)
    return DASH if r is None else "%.2fx" % r


def fmt_pct(p):
    """Format a percentage value: integer from 10 up, else 2 significant
    digits (19.67 -> "20", 9.54 -> "9.5", 0.043 -> "0.043")."""
    if p >= 9.95:
        return "%.0f" % p
    if p == 0:
        return "0"
    decimals = max(0, 1 - math.floor(math.log10(p)))
    s = "%.*f" % (decimals, p)
    return s.rstrip("0").rstrip(".") if "." in s else s


def median(values):
    """Median of the numeric values in @values (nulls ignored), or None."""
    vals = [v for v in (num(x) for x in values) if v is not None]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------- inputs

def _read_json(path, required):
    """Parse the JSON file at @path; None if absent and not @required."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        if required:
            raise ReportError("%s: not found (run `make bench` first)" % path)
        return None
    except (OSError, ValueError) as e:
        raise ReportError("%s: cannot read: %s" % (path, e))


def load(dir):
    """Return (results, runs) read from @dir; runs.json may be absent."""
    results = _read_json(os.path.join(dir, "results.json"), required=True)
    runs = _read_json(os.path.join(dir, "runs.json"), required=False)
    if not isinstance(results, dict):
        raise ReportError("%s: not a JSON object"
                          % os.path.join(dir, "results.json"))
    return results, runs if isinstance(runs, dict) else {}


def _dict(x):
    """@x if it is a dict, else an empty dict (null-tolerant access)."""
    return x if isinstance(x, dict) else {}


def entries(results, kind):
    """The well-formed entries of results[@kind] ("block" or "net")."""
    items = _dict(results).get(kind)
    if not isinstance(items, list):
        return []
    return [e for e in items
            if isinstance(e, dict) and isinstance(e.get("case"), str)]


def default_primary(kind, case):
    """The primary figure of a case when runs.json does not name one."""
    if case.startswith("bulk") or kind == "9pfs":
        return "mbps"
    return "iops" if kind == "block" else "pps"


def case_meta(runs, case):
    """runs.json's cases[@case], or an empty dict."""
    return _dict(_dict(_dict(runs).get("cases")).get(case))


def primary_of(kind, case, runs=None):
    """The primary figure key of @case, from runs.json or the default."""
    p = case_meta(runs, case).get("primary")
    return p if p in UNITS else default_primary(kind, case)


def fig_from_runs(run_list, primary):
    """Build a FIG (medians, runs, min/max of @primary) from a list of runs."""
    run_list = [r for r in run_list if isinstance(r, dict)]
    if not run_list:
        return None
    keys = {k for r in run_list for k in r}
    fig = {k: median(r.get(k) for r in run_list) for k in keys}
    prim = [v for v in (num(r.get(primary)) for r in run_list)
            if v is not None]
    fig["runs"] = len(run_list)
    fig["min"] = min(prim) if prim else None
    fig["max"] = max(prim) if prim else None
    return fig


def figure(entry, variant, kind, runs=None):
    """The FIG of @variant in @entry; derived from runs.json when the
    results hold none.  None when there is nothing at all."""
    fig = entry.get(variant)
    if isinstance(fig, dict):
        return fig
    if variant == "limit" and kind == "block" and "limit" in entry:
        return None                     # explicitly "no limit" for the case
    run_list = case_meta(runs, entry["case"]).get(variant)
    if isinstance(run_list, list):
        return fig_from_runs(run_list, primary_of(kind, entry["case"], runs))
    return None


def value(fig, key):
    """fig[@key] as a float, or None (null-tolerant)."""
    return num(_dict(fig).get(key))


# ---------------------------------------------------------------- markdown

def fmt_fig(fig, primary):
    """"median (min–max)" of the primary figure; "—" without a median."""
    med = value(fig, primary)
    if med is None:
        return DASH
    lo, hi = value(fig, "min"), value(fig, "max")
    if lo is None or hi is None:
        return fmt_num(med)
    return "%s (%s–%s)" % (fmt_num(med), fmt_num(lo), fmt_num(hi))


def _slash(figs, key):
    """"a / b / c" of fig[@key] for each fig in @figs."""
    return " / ".join(fmt_num(value(f, key)) for f in figs)


def _table(header, rows, right=True):
    """A markdown table; the first column left-aligned, the rest right
    (numbers) or, without @right, left too."""
    align = "---:" if right else ":---"
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + [align] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _one_line(text):
    """@text on one line (notes go in a markdown list)."""
    return " ".join(str(text).split())


def _stale_padding_text(figs):
    """What the ours and stock figures say of responses with stale padding
    (bytes no field covers, left as they were: a leak the attack suite
    reports; counted here, not fatal)."""
    said = []
    for variant, f in zip(("ours", "stock"), figs):
        n = f.get("stale_padding") if isinstance(f, dict) else None
        if isinstance(n, (int, float)) and n > 0:
            said.append("%s: %d responses with stale padding" % (variant, n))
    return ", ".join(said)


def _above(a, b):
    """@a > @b, both known."""
    return a is not None and b is not None and a > b


def _case_rows(kind, results, runs):
    """(rows, notes) of the table of @kind; notes are (case, text)."""
    with_limit = kind == "block"
    variants = ["ours", "stock"] + (["limit"] if with_limit else [])
    rows, notes = [], []
    for entry in entries(results, kind):
        case = entry["case"]
        primary = primary_of(kind, case, runs)
        figs = [figure(entry, v, kind, runs) for v in variants]
        ours, stock = figs[0], figs[1]
        label = case
        note = case_meta(runs, case).get("note")
        note = _one_line(note) if isinstance(note, str) else ""
        extra = [_stale_padding_text(figs[:2])]
        if with_limit and _above(value(ours, primary),
                                 value(figs[2], primary)):
            extra.append("ours above the limit: a measurement error, not a "
                         "result (qemu-img bench is a loose ceiling at 4 KiB, "
                         "or its runs were disturbed)")
        for text in extra:
            if text:
                note = "%s; %s" % (note, text) if note.strip() else text
        if note.strip():
            notes.append((case, note))
            label = "%s [%d]" % (case, len(notes))
        row = [label, UNITS[primary]] + [fmt_fig(f, primary) for f in figs]
        row.append(fmt_ratio(ratio(value(ours, primary),
                                   value(stock, primary))))
        if with_limit:
            row.append(fmt_ratio(ratio(value(ours, primary),
                                       value(figs[2], primary))))
        row += [_slash(figs, MBPS), _slash(figs, CPU),
                _slash(figs[:2], GRANT), _slash(figs[:2], NOTIFY)]
        if with_limit:
            mem = figure(entry, "limit_mem", kind, runs)
            row += [fmt_fig(mem, primary),
                    fmt_ratio(ratio(value(ours, primary),
                                    value(mem, primary)))]
        rows.append(row)
    return rows, notes


def render_table(kind, results, runs):
    """The markdown lines of the block or net table, with its notes."""
    if kind == "block":
        header = ["case", "primary unit", "ours median (min–max)",
                  "stock median (min–max)", "limit median (min–max)",
                  "ours/stock", "ours/limit", "MB/s ours / stock / limit",
                  "CPU µs per I/O ours / stock / limit",
                  "grant ops per I/O ours / stock",
                  "notifications per I/O ours / stock",
                  "memory-file limit median (min–max)",
                  "ours/memory-file limit"]
    else:
        header = ["case", "primary unit", "ours median (min–max)",
                  "stock median (min–max)", "ours/stock",
                  "MB/s ours / stock", "CPU µs per I/O ours / stock",
                  "grant ops per I/O ours / stock",
                  "notifications per I/O ours / stock"]
    rows, notes = _case_rows(kind, results, runs)
    if not rows:
        return ["No %s results." % kind]
    lines = _table(header, rows)
    if notes:
        lines.append("")
        lines += ["- [%d] %s: %s" % (i, case, text)
                  for i, (case, text) in enumerate(notes, 1)]
    return lines


def _or_unknown(x, fmt="%s"):
    """@x formatted with @fmt, or "unknown" when null or missing."""
    if x is None or x == "":
        return "unknown"
    return fmt % (x,)


def render_header(runs):
    """The title and the machine / mode / runs / peer lines."""
    runs = _dict(runs)
    m = _dict(runs.get("machine"))
    cores = m.get("cores")
    mem = num(m.get("mem_gib"))
    machine = ", ".join([
        _or_unknown(m.get("cpu")),
        "%s cores" % _or_unknown(cores),
        "%s GiB" % (fmt_num(mem) if mem is not None else "unknown"),
        "kernel %s" % _or_unknown(m.get("kernel")),
        "QEMU %s" % _or_unknown(m.get("qemu")),
    ])
    secs = num(runs.get("secs"))
    return [
        "# Xen PV backends: benchmark report",
        "",
        "- Machine: %s" % machine,
        "- Date: %s" % _or_unknown(m.get("date")),
        "- Mode: %s" % _or_unknown(runs.get("mode")),
        "- Runs per variant: %s; seconds per run: %s"
        % (_or_unknown(runs.get("runs")),
           fmt_num(secs) if secs is not None else "unknown"),
        "- Net peer: %s" % _or_unknown(runs.get("net_peer")),
        "",
        "Figures are medians over the runs; (min–max) is the range of the "
        "primary figure.  Ratios compare the primary figures.  \"limit\" is "
        "the block layer's own limit on the same driver (qemu-img bench); "
        "\"memory-file limit\" the same on a raw file in memory, through "
        "the page cache, so a ceiling that includes copying the data.  Both "
        "are measured in every round beside the backends' runs; ours above "
        "the limit is flagged as a measurement error.  "
        "\"—\": not measured (null) or not applicable.",
    ]


def render_targets(targets):
    """The Targets section from evaluate_targets()'s list."""
    status = {True: "met", False: "**missed**", None: "not measured"}
    lines = ["## Targets", ""]
    lines += _table(["target", "status", "measured"],
                    [[name, status[met], text] for name, met, text in targets],
                    right=False)
    met = sum(1 for t in targets if t[1] is True)
    missed = sum(1 for t in targets if t[1] is False)
    unknown = sum(1 for t in targets if t[1] is None)
    lines += ["", "%d met, %d missed, %d not measured." % (met, missed, unknown)]
    return lines


def render_markdown(results, runs):
    """The whole report.md text."""
    runs = _dict(runs)
    lines = render_header(runs)
    lines += ["", "## Block (xen-block)", ""]
    lines += render_table("block", results, runs)
    lines += ["", "## Net (xen-net)", ""]
    lines += render_table("net", results, runs)
    if entries(results, "9pfs"):
        lines += ["", "## 9pfs (xen-9pfs)", ""]
        lines += render_table("9pfs", results, runs)
    lines += [""] + render_targets(evaluate_targets(results, runs))
    lines += ["", "Charts: block.png, net.png%s (primary figure normalised "
              "to stock = 1.0)." % (", 9pfs.png" if chart_kinds(results, runs)
                                    [2:] else "")]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- targets

def _entry(results, kind, case):
    """The entry of @case in results[@kind], or None."""
    for e in entries(results, kind):
        if e["case"] == case:
            return e
    return None


def _x(t):
    """A threshold like 3.0 as "3x"."""
    return "%gx" % t


def _ratio_target(results, runs, kind, case, metric, minimum):
    """Evaluate "ours/stock >= @minimum" on @metric for @case."""
    name = "%s %s: ours/stock ≥ %s" % (kind, case, _x(minimum))
    entry = _entry(results, kind, case)
    if entry is None:
        return name, None, "not measured (no results)"
    metric = metric or primary_of(kind, case, runs)
    if metric != primary_of(kind, case, runs):
        name += " (%s)" % UNITS.get(metric, metric)
    a = value(figure(entry, "ours", kind, runs), metric)
    b = value(figure(entry, "stock", kind, runs), metric)
    r = ratio(a, b)
    if r is None:
        return name, None, "not measured (ours %s, stock %s)" % (
            fmt_num(a), fmt_num(b))
    if r >= minimum:
        return name, True, fmt_ratio(r)
    short = (1 - r / minimum) * 100
    return name, False, "%s, %s %% short of %s" % (fmt_ratio(r),
                                                  fmt_pct(short), _x(minimum))


def _limit_target(results, runs, entry):
    """Evaluate "ours >= 60 % of limit" for a block entry with a limit."""
    case = entry["case"]
    goal = LIMIT_SHARE_TARGET * 100
    name = "block %s: ours ≥ %s %% of limit" % (case, fmt_pct(goal))
    primary = primary_of("block", case, runs)
    a = value(figure(entry, "ours", "block", runs), primary)
    b = value(figure(entry, "limit", "block", runs), primary)
    r = ratio(a, b)
    if r is None:
        return name, None, "not measured (ours %s, limit %s)" % (
            fmt_num(a), fmt_num(b))
    pct = r * 100
    if r >= LIMIT_SHARE_TARGET:
        return name, True, "%s %% of limit" % fmt_pct(pct)
    return name, False, "%s %% of limit, %s percentage points short of %s %%" % (
        fmt_pct(pct), fmt_pct(goal - pct), fmt_pct(goal))


def _grant_target(results, runs, case):
    """Evaluate "ours grant ops per I/O <= 0.05" for a 4k block case."""
    name = "block %s: grant ops per I/O ≤ %g" % (case, GRANT_OPS_TARGET)
    entry = _entry(results, "block", case)
    if entry is None:
        return name, None, "not measured (no results)"
    g = value(figure(entry, "ours", "block", runs), GRANT)
    if g is None:
        return name, None, "not measured (null)"
    if g <= GRANT_OPS_TARGET:
        return name, True, fmt_num(g)
    return name, False, "%s, %s over the %g maximum (%s)" % (
        fmt_num(g), fmt_num(g - GRANT_OPS_TARGET), GRANT_OPS_TARGET,
        fmt_ratio(g / GRANT_OPS_TARGET))


def _cpu_target(results, runs, case):
    """Evaluate "ours CPU per I/O <= 0.8 x stock's" for a 4k block case."""
    name = "block %s: CPU per I/O ≤ %sx stock" % (case, CPU_SHARE_TARGET)
    entry = _entry(results, "block", case)
    if entry is None:
        return name, None, "not measured (no results)"
    r = ratio(value(figure(entry, "ours", "block", runs), CPU),
              value(figure(entry, "stock", "block", runs), CPU))
    if r is None:
        return name, None, "not measured (null)"
    if r <= CPU_SHARE_TARGET:
        return name, True, fmt_ratio(r)
    return name, False, "%s, %s over the %sx maximum" % (
        fmt_ratio(r), fmt_ratio(r - CPU_SHARE_TARGET), CPU_SHARE_TARGET)


def _block_4k_cases(results):
    """The 4k block cases: the known ones, then any others in the results."""
    names = BLOCK_CASES + [e["case"] for e in entries(results, "block")
                           if e["case"] not in BLOCK_CASES]
    return [n for n in names if "4k" in n.split("-")]


def evaluate_targets(results, runs=None):
    """Evaluate the project's performance targets.

    Returns a list of (name, met, text): met is True, False, or None when
    the figures needed are missing (null or zero); text is the measured
    value and, for a missed target, the shortfall.
    """
    out = []
    for kind, case, metric, minimum in RATIO_TARGETS:
        if kind == "block":
            out.append(_ratio_target(results, runs, kind, case, metric, minimum))
    for entry in entries(results, "block"):
        if isinstance(entry.get("limit"), dict):
            out.append(_limit_target(results, runs, entry))
    for case in _block_4k_cases(results):
        out.append(_grant_target(results, runs, case))
        out.append(_cpu_target(results, runs, case))
    for kind, case, metric, minimum in RATIO_TARGETS:
        if kind == "net":
            out.append(_ratio_target(results, runs, kind, case, metric, minimum))
    return out


# ---------------------------------------------------------------- charts

def chart_rows(results, kind, runs=None):
    """[(case label, [ours, stock(, limit)] normalised to stock)] of @kind.

    A value is None where it or the stock figure is null or not positive.
    """
    variants = ["ours", "stock"] + (["limit"] if kind == "block" else [])
    rows = []
    for entry in entries(results, kind):
        case = entry["case"]
        primary = primary_of(kind, case, runs)
        vals = [value(figure(entry, v, kind, runs), primary) for v in variants]
        base = vals[1]
        norm = [v / base if v is not None and base and base > 0 and v > 0
                else None for v in vals]
        label = "%s (%s)" % (case, UNITS[primary])
        if norm[1] is None:
            label = "%s (no stock)" % case
        rows.append((label, norm))
    return rows


def chart_kinds(results, runs=None):
    """The kinds with a chart: block and net always; 9pfs when some case
    has both an ours and a stock figure to normalise."""
    rows = chart_rows(results, "9pfs", runs)
    p9 = any(norm[0] is not None for _, norm in rows)
    return ["block", "net"] + (["9pfs"] if p9 else [])


def _yrange(rows):
    """A log-scale y range [lo:hi] that shows every bar and its label."""
    vals = [v for _, norm in rows for v in norm if v is not None] or [1.0]
    lo = min(min(vals), 1.0) / 2
    hi = max(max(vals), 1.0) * 3
    return 10 ** math.floor(math.log10(lo)), hi


def _bmargin(rows):
    """Bottom margin (character lines) for the rotated case labels."""
    longest = max((len(label) for label, _ in rows), default=0)
    return max(4, round(longest * 0.25) + 2)


def gnuplot_terminal(gnuplot):
    """"pngcairo" when this gnuplot has it, else "png"."""
    r = subprocess.run([gnuplot, "-e", "set terminal pngcairo"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
    return "pngcairo" if r.returncode == 0 else "png"


def _gp_str(s):
    """@s as a single-quoted gnuplot string."""
    return "'" + str(s).replace("'", "''") + "'"


def gnuplot_script(kind, rows, terminal, title):
    """The gnuplot script drawing @kind.png from @kind.dat."""
    variants = ["ours", "stock"] + (["limit (qemu-img bench)"]
                                    if kind == "block" else [])
    colours = ["#1f77b4", "#7f7f7f", "#2ca02c"]
    n = len(variants)
    lo, hi = _yrange(rows)
    size = "1200,700" if kind == "block" else "1000,650"
    lines = [
        "# Generated by scripts/bench-report.py; data in %s.dat" % kind,
        "set terminal %s size %s" % (terminal, size),
        "set output %s" % _gp_str(kind + ".png"),
        "set termoption noenhanced",
        "set title %s" % _gp_str(title),
        "set ylabel 'relative to stock (stock = 1.0), log scale'",
        "set logscale y",
        "set yrange [%g:%g]" % (lo, hi),
        "set grid ytics",
        "set key outside top center horizontal",
        "set style data histograms",
        "set style histogram clustered gap 1",
        "set style fill solid 0.85 border -1",
        "set boxwidth 0.9",
        "set xtics rotate by 30 right nomirror",
        "set bmargin %d" % _bmargin(rows),
        "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2",
        "set datafile missing 'NaN'",
    ]
    if not rows:
        lines += ["set xrange [0:1]", "unset xtics",
                  "set label 'no %s results' at graph 0.5, graph 0.5 center"
                  % kind,
                  "unset key", "plot 1 notitle lc rgb '#7f7f7f'"]
        return "\n".join(lines) + "\n"
    plots = []
    for j, name in enumerate(variants):
        xtic = ":xtic(1)" if j == 0 else ""
        plots.append("%s using %d%s title %s lc rgb %s"
                     % ("'%s.dat'" % kind if j == 0 else "''", j + 2, xtic,
                        _gp_str(name), _gp_str(colours[j])))
    for j in range(n):
        off = (j - (n - 1) / 2) / (n + 1)
        plots.append("'' using ($0%+.4f):%d:(sprintf('%%.2fx', $%d)) "
                     "with labels offset 0,0.7 font ',8' notitle"
                     % (off, j + 2, j + 2))
    lines.append("plot " + ", \\\n     ".join(plots))
    return "\n".join(lines) + "\n"


def gnuplot_data(kind, rows):
    """The data file: one row per case, columns label, ours, stock(, limit)."""
    head = "# case ours stock" + (" limit" if kind == "block" else "")
    out = [head + "  (primary figure / stock primary figure; NaN = none)"]
    for label, norm in rows:
        cells = ["%.6g" % v if v is not None else "NaN" for v in norm]
        out.append(" ".join(['"%s"' % label.replace('"', "'")] + cells))
    return "\n".join(out) + "\n"


def chart_title(kind, runs):
    """The chart title: what is plotted and over how many runs."""
    n = _dict(runs).get("runs")
    of_runs = (", median of %s runs" % n) if n else ", medians"
    if kind == "block":
        return ("xen-block: ours, stock and the block layer's limit, primary "
                "figure (IOPS; MB/s where marked) relative to stock" + of_runs)
    if kind == "9pfs":
        return ("xen-9pfs: ours vs stock, MB/s relative to stock" + of_runs)
    return ("xen-net: ours vs stock, primary figure (packets/s; MB/s for "
            "bulk) relative to stock" + of_runs)


def write_charts(results, dir, runs=None):
    """Draw DIR/block.png and DIR/net.png (and DIR/9pfs.png when there
    are 9pfs figures of ours and stock) with gnuplot.

    Raises ReportError when gnuplot is missing or fails.
    """
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        raise ReportError("gnuplot not found: install the Debian package "
                          "gnuplot-nox (scripts/install-deps.sh does)")
    terminal = gnuplot_terminal(gnuplot)
    for kind in chart_kinds(results, runs):
        rows = chart_rows(results, kind, runs)
        with open(os.path.join(dir, kind + ".dat"), "w", encoding="utf-8") as f:
            f.write(gnuplot_data(kind, rows))
        script = gnuplot_script(kind, rows, terminal, chart_title(kind, runs))
        with open(os.path.join(dir, kind + ".gp"), "w", encoding="utf-8") as f:
            f.write(script)
        r = subprocess.run([gnuplot, kind + ".gp"], cwd=dir,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True,
                           errors="replace")
        png = os.path.join(dir, kind + ".png")
        if r.returncode != 0 or not os.path.isfile(png):
            raise ReportError("gnuplot failed on %s: %s"
                              % (os.path.join(dir, kind + ".gp"),
                                 r.stderr.strip() or "exit %d" % r.returncode))


# ---------------------------------------------------------------- main

def main(argv):
    """Write report.md and the charts; @argv excludes the program name."""
    ap = argparse.ArgumentParser(
        prog="bench-report.py",
        description="Write report.md, block.png and net.png from the "
                    "results.json and runs.json of a benchmark run.")
    ap.add_argument("dir", metavar="DIR", help="benchmark directory, "
                    "e.g. build/bench")
    args = ap.parse_args(argv)
    try:
        results, runs = load(args.dir)
        path = os.path.join(args.dir, "report.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_markdown(results, runs))
        print("bench-report: wrote %s" % path)
        write_charts(results, args.dir, runs)
        print("bench-report: wrote %s and %s"
              % (os.path.join(args.dir, "block.png"),
                 os.path.join(args.dir, "net.png")))
    except (ReportError, OSError) as e:
        print("bench-report: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
