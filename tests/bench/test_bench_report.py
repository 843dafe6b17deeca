#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of scripts/bench-report.py, the report generator of `make bench`.

The module is loaded with importlib (its file name has a dash).  Cases check
number and ratio formatting, null tolerance, the primary figure of each case
(bulk on MB/s), derivation of medians from runs.json, the target evaluation
with its shortfall text, and a full run of main() on a synthetic benchmark
directory, including the PNG charts when gnuplot is installed (skipped, never
passed, when it is not).

Output is TAP (pycotap), for scripts/run-tests.py.
"""

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "bench-report.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_module():
    """Import scripts/bench-report.py as a module."""
    spec = importlib.util.spec_from_file_location("bench_report", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


br = load_module()

BLOCK_CASES = [
    "randread-4k-qd1-null", "randread-4k-qd32-null", "randwrite-4k-qd32-null",
    "seqread-1m-qd8-null", "seqwrite-1m-qd8-null", "randread-4k-qd32-2q-null",
    "randread-4k-qd32-file",
]
NET_CASES = ["tx-64b", "rx-64b", "tx-1500b", "rx-1500b", "bulk-64k"]


def fig(primary, value, key="iops", mbps=100.0, grant=0.01, spread=0.04):
    """A FIG with @key = @value and min/max around it."""
    return {key: value, "mbps": mbps, "cpu_us_per_io": 2.5,
            "grant_ops_per_io": grant, "notify_per_io": 0.125, "runs": 5,
            "min": value * (1 - spread), "max": value * (1 + spread)}


def synthetic_results():
    """results.json of a plausible run: ours 3.5x stock on block, etc."""
    block = []
    for i, case in enumerate(BLOCK_CASES):
        stock = 100000.0 + 1000 * i
        limit = None if case.endswith("-file") else fig("iops", stock * 4.5)
        block.append({"case": case, "ours": fig("iops", stock * 3.5),
                      "stock": fig("iops", stock), "limit": limit})
    net = []
    for case in NET_CASES:
        if case.startswith("bulk"):
            ours = fig("mbps", 0, key="pps", mbps=12000.0)
            ours.update(pps=200000.0, min=11000.0, max=13000.0)
            stock = fig("mbps", 0, key="pps", mbps=1000.0)
            stock.update(pps=150000.0, min=900.0, max=1100.0)
        else:
            ours = fig("pps", 3200000.0, key="pps")
            stock = fig("pps", 800000.0, key="pps")
        net.append({"case": case, "ours": ours, "stock": stock})
    return {"block": block, "net": net}


def synthetic_runs():
    """runs.json with machine metadata and a note on one case."""
    return {
        "machine": {"cpu": "Test CPU 9000", "cores": 16, "mem_gib": 128,
                    "kernel": "6.1.0-test", "date": "2025-01-01",
                    "qemu": "9.2.0"},
        "mode": "quick", "runs": 5, "secs": 10, "net_peer": "tap",
        "cases": {"randread-4k-qd32-file": {
            "primary": "iops", "note": "file on tmpfs; limit not measured",
            "ours": [], "stock": [], "limit": []}},
    }


def entry(results, kind, case):
    return next(e for e in results[kind] if e["case"] == case)


class FormatTest(unittest.TestCase):
    """fmt_num, ratio and the ratio / percentage formats."""

    def test_fmt_num_examples(self):
        self.assertEqual(br.fmt_num(1234567), "1.23 M")
        self.assertEqual(br.fmt_num(45678), "45.7 k")
        self.assertEqual(br.fmt_num(12.3456), "12.3")
        self.assertEqual(br.fmt_num(512), "512")
        self.assertEqual(br.fmt_num(0.012345), "0.0123")
        self.assertEqual(br.fmt_num(2.5e9), "2.5 G")
        self.assertEqual(br.fmt_num(0), "0")
        self.assertEqual(br.fmt_num(-45678), "-45.7 k")

    def test_fmt_num_rounds_into_next_prefix(self):
        self.assertEqual(br.fmt_num(999960), "1 M")
        self.assertEqual(br.fmt_num(999.7), "1 k")
        self.assertEqual(br.fmt_num(999400), "999 k")

    def test_fmt_num_null_and_garbage(self):
        for bad in (None, "12", float("nan"), float("inf"), True, [1]):
            self.assertEqual(br.fmt_num(bad), "—", repr(bad))

    def test_ratio(self):
        self.assertAlmostEqual(br.ratio(342, 100), 3.42)
        self.assertEqual(br.fmt_ratio(br.ratio(342, 100)), "3.42x")
        self.assertEqual(br.fmt_ratio(br.ratio(1, 3)), "0.33x")

    def test_ratio_null_or_zero_is_none(self):
        for a, b in ((None, 1), (1, None), (0, 5), (5, 0), (None, None)):
            self.assertIsNone(br.ratio(a, b), (a, b))
            self.assertEqual(br.fmt_ratio(br.ratio(a, b)), "—")

    def test_median_ignores_nulls(self):
        self.assertEqual(br.median([3, None, 1, 2]), 2)
        self.assertEqual(br.median([4, 1, 3, 2]), 2.5)
        self.assertIsNone(br.median([None, None]))
        self.assertIsNone(br.median([]))


class FigureTest(unittest.TestCase):
    """Primary figures, derived medians and the table cells."""

    def test_primary_defaults(self):
        self.assertEqual(br.primary_of("block", "randread-4k-qd1-null"), "iops")
        self.assertEqual(br.primary_of("net", "tx-64b"), "pps")
        self.assertEqual(br.primary_of("net", "bulk-64k"), "mbps")
        runs = {"cases": {"tx-64b": {"primary": "mbps"}}}
        self.assertEqual(br.primary_of("net", "tx-64b", runs), "mbps")
        bogus = {"cases": {"tx-64b": {"primary": "furlongs"}}}
        self.assertEqual(br.primary_of("net", "tx-64b", bogus), "pps")

    def test_fig_from_runs_medians_and_range(self):
        runs = [{"iops": 300, "mbps": 1.2, "extra": "x"},
                {"iops": 100, "mbps": None},
                {"iops": 200, "mbps": 0.8}]
        f = br.fig_from_runs(runs, "iops")
        self.assertEqual(f["iops"], 200)
        self.assertEqual(f["mbps"], 1.0)
        self.assertEqual((f["min"], f["max"], f["runs"]), (100, 300, 3))

    def test_missing_fig_is_derived_from_runs(self):
        results = {"block": [{"case": "c", "ours": None, "stock": None,
                              "limit": None}], "net": []}
        runs = {"cases": {"c": {"ours": [{"iops": 30}, {"iops": 10},
                                         {"iops": 20}],
                                "limit": [{"iops": 99}]}}}
        e = results["block"][0]
        self.assertEqual(br.figure(e, "ours", "block", runs)["iops"], 20)
        self.assertIsNone(br.figure(e, "stock", "block", runs))
        # "limit": null means the case has no limit; runs do not override it.
        self.assertIsNone(br.figure(e, "limit", "block", runs))

    def test_fmt_fig(self):
        f = {"iops": 45678, "min": 40000, "max": 51000}
        self.assertEqual(br.fmt_fig(f, "iops"), "45.7 k (40 k–51 k)")
        self.assertEqual(br.fmt_fig({"iops": 5, "min": None}, "iops"), "5")
        self.assertEqual(br.fmt_fig({"iops": None, "min": 1, "max": 2},
                                    "iops"), "—")
        self.assertEqual(br.fmt_fig(None, "iops"), "—")


class MarkdownTest(unittest.TestCase):
    """render_markdown on synthetic and damaged inputs."""

    def row(self, md, case):
        lines = [l for l in md.splitlines()
                 if l.startswith("| " + case + " ") or
                 l.startswith("| " + case + " [")]
        self.assertEqual(len(lines), 1, "row of %s: %r" % (case, lines))
        return [c.strip() for c in lines[0].strip("|").split("|")]

    def test_block_row(self):
        md = br.render_markdown(synthetic_results(), synthetic_runs())
        row = self.row(md, "randread-4k-qd1-null")
        self.assertEqual(row[1], "IOPS")
        self.assertEqual(row[2], "350 k (336 k–364 k)")
        self.assertEqual(row[3], "100 k (96 k–104 k)")
        self.assertEqual(row[5], "3.50x")
        self.assertEqual(row[6], "0.78x")
        self.assertEqual(row[7], "100 / 100 / 100")
        self.assertEqual(row[9], "0.01 / 0.01")
        self.assertEqual(row[10], "0.125 / 0.125")

    def test_null_limit_and_null_stock(self):
        results = synthetic_results()
        e = entry(results, "block", "randread-4k-qd32-null")
        e["limit"] = None
        e["stock"]["iops"] = None
        e["stock"]["mbps"] = None
        md = br.render_markdown(results, synthetic_runs())
        row = self.row(md, "randread-4k-qd32-null")
        self.assertEqual(row[3], "—")        # stock median
        self.assertEqual(row[4], "—")        # no limit
        self.assertEqual(row[5], "—")        # ours/stock
        self.assertEqual(row[6], "—")        # ours/limit
        self.assertEqual(row[7], "100 / — / —")

    def test_everything_null_does_not_crash(self):
        nulls = {k: None for k in ("iops", "pps", "mbps", "cpu_us_per_io",
                                   "grant_ops_per_io", "notify_per_io",
                                   "runs", "min", "max")}
        results = {"block": [{"case": c, "ours": nulls, "stock": None,
                              "limit": None} for c in BLOCK_CASES],
                   "net": [{"case": c, "ours": None, "stock": nulls}
                           for c in NET_CASES]}
        md = br.render_markdown(results, {"machine": None, "cases": None})
        for c in BLOCK_CASES + NET_CASES:
            self.assertIn(c, md)
        self.assertIn("unknown", md)
        targets = br.evaluate_targets(results)
        self.assertTrue(targets)
        self.assertTrue(all(met is None for _, met, _ in targets))

    def test_empty_inputs(self):
        md = br.render_markdown({}, {})
        self.assertIn("No block results.", md)
        self.assertIn("No net results.", md)
        md = br.render_markdown({"block": None, "net": [None, 3, {}]}, None)
        self.assertIn("No net results.", md)

    def test_bulk_ratio_on_mbps_not_pps(self):
        md = br.render_markdown(synthetic_results(), synthetic_runs())
        row = self.row(md, "bulk-64k")
        self.assertEqual(row[1], "MB/s")
        self.assertEqual(row[2], "12 k (11 k–13 k)")
        self.assertEqual(row[4], "12.00x")    # 12000/1000, not 200k/150k pps
        self.assertEqual(self.row(md, "tx-64b")[4], "4.00x")

    def test_9pfs_table(self):
        results = synthetic_results()
        md = br.render_markdown(results, synthetic_runs())
        self.assertNotIn("## 9pfs", md)
        results["9pfs"] = [
            {"case": "9pfs-seqread-1m-qd8",
             "ours": fig("mbps", 800.0, key="iops", mbps=800.0),
             "stock": fig("mbps", 200.0, key="iops", mbps=200.0)},
            {"case": "9pfs-seqwrite-4k-qd32",
             "ours": fig("mbps", 90.0, key="iops", mbps=90.0),
             "stock": None}]
        md = br.render_markdown(results, synthetic_runs())
        self.assertIn("## 9pfs (xen-9pfs)", md)
        self.assertIn("9pfs.png", md)
        row = self.row(md, "9pfs-seqread-1m-qd8")
        self.assertEqual(row[1], "MB/s")
        self.assertEqual(row[4], "4.00x")     # on MB/s, the primary
        row = self.row(md, "9pfs-seqwrite-4k-qd32")
        self.assertEqual((row[3], row[4]), ("—", "—"))

    def test_header_and_notes(self):
        md = br.render_markdown(synthetic_results(), synthetic_runs())
        self.assertIn("Test CPU 9000, 16 cores, 128 GiB, kernel 6.1.0-test", md)
        self.assertIn("Mode: quick", md)
        self.assertIn("Runs per variant: 5; seconds per run: 10", md)
        self.assertIn("Net peer: tap", md)
        self.row(md, "randread-4k-qd32-file [1]")
        self.assertIn("- [1] randread-4k-qd32-file: file on tmpfs; limit "
                      "not measured", md)

    def test_memory_limit_and_limit_exceeded(self):
        results = synthetic_results()
        e = entry(results, "block", "seqread-1m-qd8-null")
        e["limit_mem"] = fig("iops", 200000.0)
        e["ours"]["iops"] = e["limit"]["iops"] * 1.5
        md = br.render_markdown(results, synthetic_runs())
        row = self.row(md, "seqread-1m-qd8-null [1]")
        self.assertEqual(row[11], "200 k (192 k–208 k)")
        self.assertEqual(row[12], "%.2fx" % (e["ours"]["iops"] / 200000.0))
        self.assertIn("- [1] seqread-1m-qd8-null: ours above the limit: a "
                      "measurement error", md)
        row = self.row(md, "randread-4k-qd1-null")
        self.assertEqual(row[11], "—")         # no memory limit measured
        self.assertEqual(row[12], "—")

    def test_stale_padding_noted(self):
        results = synthetic_results()
        entry(results, "block", "randread-4k-qd1-null")["stock"][
            "stale_padding"] = 4096
        entry(results, "block", "randread-4k-qd32-file")["stock"][
            "stale_padding"] = 7
        entry(results, "block", "randread-4k-qd32-null")["ours"][
            "stale_padding"] = 0
        md = br.render_markdown(results, synthetic_runs())
        self.row(md, "randread-4k-qd1-null [1]")
        self.row(md, "randread-4k-qd32-null")           # 0: no note
        self.assertIn("- [1] randread-4k-qd1-null: stock: 4096 responses "
                      "with stale padding", md)
        self.assertIn("- [2] randread-4k-qd32-file: file on tmpfs; limit "
                      "not measured; stock: 7 responses with stale padding",
                      md)


class TargetsTest(unittest.TestCase):
    """evaluate_targets: which targets exist, met / missed / unmeasured."""

    def targets(self, results, runs=None):
        return {name: (met, text)
                for name, met, text in br.evaluate_targets(results, runs)}

    def find(self, targets, *words):
        hits = [k for k in targets if all(w in k for w in words)]
        self.assertEqual(len(hits), 1, "%s in %s" % (words, list(targets)))
        return targets[hits[0]]

    def test_target_set(self):
        t = self.targets(synthetic_results())
        # 5 block ratio + 6 limit (the file case has none) + 5 grant
        # + 5 CPU + 3 net
        self.assertEqual(len(t), 24)
        self.assertEqual(len([k for k in t if "of limit" in k]), 6)
        self.assertEqual(len([k for k in t if "grant ops" in k]), 5)
        self.assertEqual(len([k for k in t if "CPU per I/O" in k]), 5)

    def test_cpu_and_qd1_targets(self):
        results = synthetic_results()
        e = entry(results, "block", "randread-4k-qd1-null")
        e["ours"]["cpu_us_per_io"] = 1.5
        e["stock"]["cpu_us_per_io"] = 2.5
        t = self.targets(results)
        self.assertEqual(self.find(t, "randread-4k-qd1-null", "CPU per I/O"),
                         (True, "0.60x"))
        self.assertEqual(self.find(t, "randread-4k-qd32-null", "CPU per I/O"),
                         (False, "1.00x, 0.20x over the 0.8x maximum"))
        self.assertEqual(self.find(t, "randread-4k-qd1-null", "≥ 1.3x"),
                         (True, "3.50x"))

    def test_met(self):
        t = self.targets(synthetic_results())
        self.assertEqual(self.find(t, "randread-4k-qd32-null", "ours/stock"),
                         (True, "3.50x"))
        self.assertEqual(self.find(t, "seqread-1m-qd8-null", "≥ 4x"),
                         (False, "3.50x, 12 % short of 4x"))
        self.assertEqual(self.find(t, "tx-64b"), (True, "4.00x"))
        self.assertEqual(self.find(t, "bulk-64k", "≥ 10x"), (True, "12.00x"))
        met, text = self.find(t, "randread-4k-qd1-null", "of limit")
        self.assertEqual((met, text), (True, "78 % of limit"))

    def test_missed_with_shortfall(self):
        results = synthetic_results()
        e = entry(results, "block", "randwrite-4k-qd32-null")
        e["ours"]["iops"] = e["stock"]["iops"] * 2.41
        t = self.targets(results)
        self.assertEqual(self.find(t, "randwrite-4k-qd32-null", "ours/stock"),
                         (False, "2.41x, 20 % short of 3x"))
        met, text = self.find(t, "randwrite-4k-qd32-null", "of limit")
        self.assertFalse(met)
        self.assertEqual(text, "54 % of limit, 6.4 percentage points short "
                               "of 60 %")

    def test_grant_ops(self):
        results = synthetic_results()
        entry(results, "block", "randread-4k-qd1-null")["ours"][
            "grant_ops_per_io"] = 0.12
        entry(results, "block", "randread-4k-qd32-file")["ours"][
            "grant_ops_per_io"] = None
        t = self.targets(results)
        met, text = self.find(t, "randread-4k-qd1-null", "grant ops")
        self.assertFalse(met)
        self.assertTrue(text.startswith("0.12, 0.07 over the 0.05 maximum"),
                        text)
        self.assertEqual(self.find(t, "randread-4k-qd32-null", "grant ops"),
                         (True, "0.01"))
        self.assertIsNone(self.find(t, "qd32-file", "grant ops")[0])
        self.assertEqual([k for k in t if "seqread" in k and "grant" in k], [])

    def test_bulk_target_uses_mbps(self):
        results = synthetic_results()
        e = entry(results, "net", "bulk-64k")
        e["ours"]["pps"] = e["stock"]["pps"] * 50   # pps would meet 10x
        e["ours"]["mbps"] = e["stock"]["mbps"] * 5  # mbps does not
        met, text = self.find(self.targets(results), "bulk-64k")
        self.assertFalse(met)
        self.assertEqual(text, "5.00x, 50 % short of 10x")

    def test_null_stock_is_not_measured(self):
        results = synthetic_results()
        entry(results, "net", "rx-64b")["stock"] = None
        del results["block"][1]                     # randread-4k-qd32-null
        t = self.targets(results)
        met, text = self.find(t, "rx-64b")
        self.assertIsNone(met)
        self.assertIn("not measured", text)
        met, text = self.find(t, "randread-4k-qd32-null", "ours/stock")
        self.assertEqual((met, text), (None, "not measured (no results)"))

    def test_targets_rendered(self):
        md = br.render_markdown(synthetic_results(), synthetic_runs())
        self.assertIn("## Targets", md)
        self.assertIn("3.50x, 12 % short of 4x", md)
        self.assertIn("**missed**", md)
        self.assertIn("17 met, 7 missed, 0 not measured.", md)


class MainTest(unittest.TestCase):
    """main() and the script on a synthetic benchmark directory."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-report-")
        self.write(synthetic_results(), synthetic_runs())

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, results, runs):
        with open(os.path.join(self.dir, "results.json"), "w") as f:
            json.dump(results, f)
        if runs is not None:
            with open(os.path.join(self.dir, "runs.json"), "w") as f:
                json.dump(runs, f)

    def run_script(self, env=None):
        return subprocess.run([sys.executable, SCRIPT, self.dir],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)

    def read_report(self):
        with open(os.path.join(self.dir, "report.md"), encoding="utf-8") as f:
            return f.read()

    def main(self):
        """Run br.main() on the directory, its stdout swallowed (TAP)."""
        with contextlib.redirect_stdout(io.StringIO()):
            return br.main([self.dir])

    def assert_png(self, name):
        path = os.path.join(self.dir, name)
        self.assertTrue(os.path.isfile(path), path)
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), PNG_SIGNATURE, path)

    def test_full_run(self):
        if shutil.which("gnuplot") is None:
            self.skipTest("gnuplot not installed")
        self.assertEqual(self.main(), 0)
        md = self.read_report()
        for case in BLOCK_CASES + NET_CASES:
            self.assertIn(case, md)
        for r in ("3.50x", "0.78x", "4.00x", "12.00x"):
            self.assertIn(r, md)
        self.assert_png("block.png")
        self.assert_png("net.png")

    def test_full_run_with_nulls(self):
        if shutil.which("gnuplot") is None:
            self.skipTest("gnuplot not installed")
        results = synthetic_results()
        results["block"][0]["stock"] = None
        results["block"][2]["ours"]["iops"] = None
        results["net"][0]["ours"] = {"pps": None}
        results["net"] = results["net"][:1]
        self.write(results, None)
        os.unlink(os.path.join(self.dir, "runs.json"))
        self.assertEqual(self.main(), 0)
        self.assertIn("randread-4k-qd1-null", self.read_report())
        self.assert_png("block.png")
        self.assert_png("net.png")

    def test_full_run_with_9pfs(self):
        if shutil.which("gnuplot") is None:
            self.skipTest("gnuplot not installed")
        results = synthetic_results()
        results["9pfs"] = [{"case": "9pfs-seqread-4k-qd32",
                            "ours": fig("mbps", 0, mbps=300.0),
                            "stock": fig("mbps", 0, mbps=100.0)}]
        self.write(results, synthetic_runs())
        self.assertEqual(self.main(), 0)
        self.assertIn("9pfs-seqread-4k-qd32", self.read_report())
        self.assert_png("9pfs.png")
        # No stock figure at all (stock not measured): no chart
        os.unlink(os.path.join(self.dir, "9pfs.png"))
        results["9pfs"][0]["stock"] = None
        self.write(results, synthetic_runs())
        self.assertEqual(self.main(), 0)
        self.assertIn("9pfs-seqread-4k-qd32", self.read_report())
        self.assertNotIn("9pfs.png", self.read_report())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "9pfs.png")))

    def test_no_results_at_all(self):
        if shutil.which("gnuplot") is None:
            self.skipTest("gnuplot not installed")
        self.write({"block": [], "net": []}, {})
        self.assertEqual(self.main(), 0)
        self.assert_png("block.png")
        self.assert_png("net.png")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "9pfs.png")))

    def test_script_without_gnuplot_fails_clearly(self):
        empty = tempfile.mkdtemp(prefix="no-gnuplot-")
        try:
            r = self.run_script(env={"PATH": empty})
        finally:
            os.rmdir(empty)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("gnuplot not found", r.stderr)
        self.assertIn("gnuplot-nox", r.stderr)
        self.assertIn("tx-64b", self.read_report())   # report still written

    def test_missing_results_json(self):
        os.unlink(os.path.join(self.dir, "results.json"))
        r = self.run_script()
        self.assertEqual(r.returncode, 1)
        self.assertIn("results.json", r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def test_bad_json(self):
        with open(os.path.join(self.dir, "results.json"), "w") as f:
            f.write("{not json")
        r = self.run_script()
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read", r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def test_load(self):
        results, runs = br.load(self.dir)
        self.assertEqual(results, synthetic_results())
        self.assertEqual(runs["mode"], "quick")
        os.unlink(os.path.join(self.dir, "runs.json"))
        self.assertEqual(br.load(self.dir)[1], {})


if __name__ == "__main__":
    import pycotap
    unittest.main(testRunner=pycotap.TAPTestRunner(
        message_log=pycotap.LogMode.LogToError,
        test_output_log=pycotap.LogMode.LogToError), verbosity=0)
