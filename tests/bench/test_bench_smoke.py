#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Smoke tests of the benchmark (scripts/bench.py and xen-pv-bench).

xen-pv-bench runs briefly against our build: a block run must report I/Os,
no errors, and no grant operation per 4 KiB I/O with persistent grants; a
1 MiB run must copy less than it transfers (the persistent cache's
overflow, not a map per miss); a net TX run over a UDP socket netdev must
report packets.  Every variant `make bench` compares keeps a smoke run: one
block and one net case run against the stock build too (`make check` builds
it), so a variant the benchmark can no longer measure fails here; the
shared-storage cases run ours, stock and qemu-img bench on NBD and RBD
servers started for them.  Every 9pfs case runs briefly against ours
(-device xen-9pfs) on a share of the driver's making and must give
figures; stock (upstream's legacy backend, created from XenStore as libxl
does) is probed as the driver probes it: it must either serve every case
the same way or fail for the reason the benchmark prints (a sysbus device
created after start: QEMU exits), not for another.  The driver's figure
and median helpers are checked on made-up runs.

Output is TAP (pycotap), for scripts/run-tests.py.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QEMU = os.path.join(ROOT, "build", "qemu", "qemu-system-x86_64")
STOCK = os.path.join(ROOT, "build", "stock", "qemu", "qemu-system-x86_64")
BENCH = os.path.join(ROOT, "build", "qemu", "tests", "qtest", "xen", "xen-pv-bench")


def load_driver():
    spec = importlib.util.spec_from_file_location(
        "bench", os.path.join(ROOT, "scripts", "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bench_run(qemu_args, bench_args, qemu=QEMU):
    d = tempfile.mkdtemp(prefix="xen-pv-bench-test.")
    q = subprocess.Popen([qemu, "-M", "xen-sim,socket=%s/ctl.sock,"
                          "xs-socket=%s/xs.sock,xs-admin-socket=%s/xs-admin.sock"
                          % (d, d, d), "-accel", "tcg",
                          "-m", "256M", "-nodefaults", "-display", "none",
                          "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % d]
                         + qemu_args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(d + "/qmp.sock") and os.path.exists(d + "/ctl.sock"):
                break
            time.sleep(0.025)
        p = subprocess.run([BENCH, "--dir", d, "--qemu-pid", str(q.pid),
                            "--secs", "0.3", "--warmup", "0.1"] + bench_args,
                           capture_output=True, text=True, timeout=60)
        if p.returncode:
            raise AssertionError("xen-pv-bench failed: " + p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        q.terminate()
        try:
            q.wait(10)
        except subprocess.TimeoutExpired:
            q.kill()
            q.wait()
        shutil.rmtree(d, ignore_errors=True)


NULL = ["-object", "iothread,id=io0", "-blockdev",
        "driver=null-co,node-name=d0,size=1073741824,read-zeroes=off",
        "-device", "xen-disk,vdev=xvda,drive=d0,iothread=io0"]


@unittest.skipUnless(os.access(BENCH, os.X_OK) and os.access(QEMU, os.X_OK),
                     "not built")
class XenPvBench(unittest.TestCase):
    def test_block_4k_persistent(self):
        r = bench_run(NULL, ["blk", "--rw", "randread", "--bs", "4096",
                             "--qd", "8"])
        self.assertGreater(r["ops"], 100)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["bytes"], int(r["ops"]) * 4096)
        self.assertIn("persistent=1", r["features"])
        self.assertEqual(r["grant_maps"] + r["grant_copy_segs"], 0)
        self.assertGreater(r["notify_to_guest"], 0)
        self.assertGreater(r["cpu_us"], 0)

    def test_block_1m_cache_overflow_is_copied(self):
        r = bench_run(NULL, ["blk", "--rw", "read", "--bs", "1048576",
                             "--qd", "8"])
        self.assertGreater(r["ops"], 10)
        self.assertEqual(r["errors"], 0)
        self.assertIn("indirect=256", r["features"])
        # 2304 grants in use, 1056 kept: no map per miss, a copy instead
        self.assertLess(r["grant_maps"], r["ops"])
        self.assertLess(r["grant_copy_segs"], r["ops"] * 256)

    def test_net_tx_udp(self):
        drv = load_driver()
        mine, qemu = drv.free_udp_ports(2)
        r = bench_run(udp_nic_args(mine, qemu),
                      ["net", "--traffic", "tx", "--size", "64", "--peer",
                       "udp:%d:%d" % (mine, qemu)])
        self.assertGreater(r["ops"], 100)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["bytes"], int(r["ops"]) * 64)
        self.assertIn("sg=1", r["features"])


class XenPvBenchMapped(unittest.TestCase):
    """The cases that set more than the defaults for ours: map-overflow=on,
    a bigger persistent-grant cache, an IOThread that does not poll, two
    rings on one IOThread."""

    def run_case(self, name, bench_args, min_ops):
        """QEMU arguments of ours for case @name, and a short run of it."""
        drv = load_driver()
        args = (["-blockdev", "driver=null-co,node-name=d0,size=1073741824,"
                 "read-zeroes=off"]
                + drv.block_device_args("ours", dict(drv.BLOCK_CASES)[name]))
        r = bench_run(args, ["blk"] + bench_args)
        self.assertGreater(r["ops"], min_ops)
        self.assertEqual(r["errors"], 0)
        return args, r

    def test_block_4k_nopoll(self):
        args, _ = self.run_case("randread-4k-qd1-null-nopoll",
                                ["--rw", "randread", "--bs", "4096", "--qd", "1"],
                                100)
        self.assertIn("poll-max-ns=0", args[3])
        drv = load_driver()
        self.assertEqual(drv.block_device_args(
            "ours", dict(drv.BLOCK_CASES)["randread-4k-qd1-null"])[1],
            "iothread,id=io0")

    def test_block_4k_two_rings_one_iothread(self):
        args, r = self.run_case("randread-4k-qd32-2q-1t-null",
                                ["--rw", "randread", "--bs", "4096", "--qd", "8",
                                 "--queues", "2"], 100)
        self.assertIn("rings=2", r["features"])
        dev = json.loads(args[-1])
        self.assertEqual(dev["max-queues"], 2)
        self.assertEqual(dev["iothread-vq-mapping"], [{"iothread": "io0"}])
        self.assertEqual(args.count("-object"), 1)

    def test_block_1m_cache_holds_every_grant(self):
        # max-persistent-grants=4096: the 2304 grants of QD8 x 1 MiB all
        # stay mapped, so no data is copied (the default 1056 copies about
        # 120 segments per request); what is copied is each request's
        # indirect page, the descriptors read into private memory: one per
        # request, counted as read while ops count as answered, so up to
        # the queue depth more than ops
        args, r = self.run_case("seqread-1m-qd8-null-cache4096",
                                ["--rw", "read", "--bs", "1048576", "--qd", "8"],
                                10)
        self.assertIn("max-persistent-grants=4096", args[-1])
        self.assertLessEqual(r["grant_copy_segs"], r["ops"] + 8)

    def test_block_1m_map_overflow(self):
        args, r = self.run_case("seqread-1m-qd8-null-mapped",
                                ["--rw", "read", "--bs", "1048576", "--qd", "8"],
                                10)
        self.assertIn("map-overflow=on", args[-1])
        # The cache's overflow mapped per request: nothing copied
        self.assertEqual(r["grant_copy_segs"], 0)
        self.assertGreater(r["grant_maps"], r["ops"])


def udp_nic_args(mine, qemu):
    return ["-netdev", "socket,id=n0,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d"
            % (mine, qemu), "-device",
            "xen-net-device,netdev=n0,idx=0,mac=52:54:00:12:34:01"]


class StockBench(unittest.TestCase):
    """The stock build (upstream's backends), as `make bench` runs it; not
    skipped when it is missing: `make check` builds it."""

    def setUp(self):
        for path in (STOCK, BENCH):
            self.assertTrue(os.access(path, os.X_OK),
                            "%s is not built (make bench-build)" % path)

    def test_block_4k(self):
        r = bench_run(NULL, ["blk", "--rw", "randread", "--bs", "4096",
                             "--qd", "8"], qemu=STOCK)
        self.assertGreater(r["ops"], 100)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["bytes"], int(r["ops"]) * 4096)
        # Upstream leaves response padding stale (the frontend's request
        # bytes): counted, and the run goes on
        self.assertGreater(r["stale_padding"], 0)

    def test_net_tx_udp(self):
        drv = load_driver()
        mine, qemu = drv.free_udp_ports(2)
        r = bench_run(udp_nic_args(mine, qemu),
                      ["net", "--traffic", "tx", "--size", "64", "--peer",
                       "udp:%d:%d" % (mine, qemu)], qemu=STOCK)
        self.assertGreater(r["ops"], 100)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["bytes"], int(r["ops"]) * 64)


class Share9pfs(unittest.TestCase):
    """The 9pfs cases, as `make bench` runs them, against ours and stock:
    not skipped, `make check` builds both.  A case that gives no figures
    (no I/O, or xen-pv-bench failing) fails; stock is compared only if the
    driver's probe finds that it serves a share at all."""

    @classmethod
    def setUpClass(cls):
        cls.drv = load_driver()
        cls.dir = tempfile.mkdtemp(prefix="xen-pv-bench-test.")
        cls.share = cls.drv.share_dir(cls.dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.share, ignore_errors=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check_variant(self, variant, qemu):
        for path in (qemu, BENCH):
            self.assertTrue(os.access(path, os.X_OK),
                            "%s is not built (make bench-build)" % path)
        for name, case in self.drv.P9_CASES:
            with self.subTest(case=name, variant=variant):
                qemu_args, bench_args = self.drv.p9_args(variant, self.share,
                                                          self.dir)
                try:
                    r = bench_run(qemu_args,
                                  ["9p", "--rw", case["rw"], "--bs",
                                   str(case["bs"]), "--qd", str(case["qd"])]
                                  + bench_args, qemu=qemu)
                finally:
                    self.drv.share_clean(self.share)
                f = self.drv.figures(r, "iops")
                self.assertIsNotNone(f, "%s on %s: no figures" % (name,
                                                                   variant))
                self.assertGreater(r["ops"], 2)
                self.assertGreater(f["mbps"], 0)
                self.assertEqual(r["errors"], 0)
                # I/Os partly inside the window count by their requests
                self.assertLessEqual(abs(r["bytes"] - r["ops"] * case["bs"]),
                                     case["bs"])
                self.assertIn("rings=2 ring-order=9 msize=524288",
                              r["features"])
                self.assertGreater(r["notify_to_guest"], 0)

    def test_ours(self):
        self.check_variant("ours", QEMU)

    def test_stock(self):
        self.assertTrue(os.access(STOCK, os.X_OK),
                        "%s is not built (make bench-build)" % STOCK)
        # Upstream's legacy backend serves the share libxl's entries name,
        # preloaded in xen-sim's XenStore (xs-preload) before machine init
        self.assertIsNone(self.drv.p9_stock_probe(self.share, self.dir))
        self.check_variant("stock", STOCK)

    def test_share(self):
        with open(os.path.join(self.share, self.drv.SHARE_READ_FILE),
                  "rb") as f:
            self.assertEqual(len(f.read()), self.drv.SHARE_READ_SIZE)
        args, extra = self.drv.p9_args("ours", self.share, self.dir)
        self.assertIn("mount_tag=bench,idx=0", args[-1])
        self.assertEqual(extra, [])
        args, extra = self.drv.p9_args("stock", self.share, self.dir)
        self.assertEqual(extra, [])
        self.assertEqual(args[0], "-M")
        self.assertTrue(args[1].startswith("xs-preload="), args)
        with open(args[1][len("xs-preload="):]) as f:
            preload = f.read()
        self.assertIn('/local/domain/0/backend/9pfs/1/0 = "" (n0,r1)\n',
                      preload)
        self.assertIn('/local/domain/1/device/9pfs/0 = "" (n1,b0)\n',
                      preload)
        self.assertIn('/local/domain/0/backend/9pfs/1/0/path = "%s"\n'
                      % self.share, preload)
        self.assertIn('/local/domain/1/device/9pfs/0/tag = "bench"\n',
                      preload)


class SharedStorage(unittest.TestCase):
    """The shared-storage cases (NBD and RBD servers on loopback): ours,
    stock and qemu-img bench each measure them; not skipped: `make check`
    installs the servers."""

    @classmethod
    def setUpClass(cls):
        cls.drv = load_driver()
        cls.dir = tempfile.mkdtemp(prefix="xen-pv-bench-test.")
        try:
            cls.drv.start_stores(cls.dir, size_mib=64)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.drv.stop_stores()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check_store(self, store):
        for name, case in self.drv.BLOCK_CASES:
            if case["drive"] != store:
                continue
            args = (self.drv.drive_args(case, None) +
                    ["-device", "xen-disk,vdev=xvda,drive=d0"])
            wl = ["blk", "--rw", case["rw"], "--bs", str(case["bs"]),
                  "--qd", str(case["qd"])]
            for qemu in (QEMU, STOCK):
                r = bench_run(args, wl, qemu=qemu)
                self.assertGreater(r["ops"], 2, "%s on %s" % (name, qemu))
                self.assertEqual(r["errors"], 0)
                self.assertGreater(r["bytes"], 0)
            lim = self.drv.limit_run(case, None, 0.1, min_secs=0.2)
            self.assertGreater(lim["iops"], 0)

    def test_nbd(self):
        self.check_store("nbd")

    def test_rbd(self):
        self.check_store("rbd")


class Limits(unittest.TestCase):
    """The block layer's limits the benchmark compares against: qemu-img
    bench on null-co and on a raw file in memory."""

    def test_null_and_memory_limits(self):
        drv = load_driver()
        self.assertTrue(os.access(drv.QEMU_IMG, os.X_OK), drv.QEMU_IMG)
        case = dict(rw="read", bs=1 << 20, qd=8, queues=1, drive="null")
        null = drv.limit_run(case, None, 0.1, min_secs=0.2)
        self.assertGreater(null["iops"], 0)
        self.assertAlmostEqual(null["mbps"], null["iops"] * (1 << 20) / 1e6)
        d = tempfile.mkdtemp(prefix="xen-pv-bench-test.")
        try:
            mem = drv.mem_image(d)
            try:
                self.assertEqual(os.path.getsize(mem), drv.MEM_FILE_SIZE)
                r = drv.limit_run(case, None, 0.1, mem, min_secs=0.2)
                self.assertGreater(r["iops"], 0)
                w = drv.limit_run(dict(case, rw="write"), None, 0.1, mem,
                                  min_secs=0.2)
                self.assertGreater(w["iops"], 0)
            finally:
                os.unlink(mem)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_limit_exceeded(self):
        drv = load_driver()
        e = {"ours": {"iops": 10.0}, "limit": {"iops": 9.0}}
        self.assertTrue(drv.limit_exceeded(e, "iops"))
        e["limit"]["iops"] = 11.0
        self.assertFalse(drv.limit_exceeded(e, "iops"))
        self.assertFalse(drv.limit_exceeded({"ours": None, "limit": None},
                                            "iops"))


class Driver(unittest.TestCase):
    def test_figures_and_medians(self):
        drv = load_driver()
        raw = {"ops": 1000, "bytes": 4096000, "secs": 2.0, "cpu_us": 3000,
               "fe_cpu_us": 500, "grant_maps": 10, "grant_unmaps": 10,
               "grant_copy_segs": 980, "notify_to_backend": 50,
               "notify_to_guest": 150}
        f = drv.figures(raw, "iops")
        self.assertEqual(f["iops"], 500)
        self.assertAlmostEqual(f["mbps"], 2.048)
        self.assertEqual(f["cpu_us_per_io"], 3)
        self.assertEqual(f["grant_ops_per_io"], 1)
        self.assertEqual(f["notify_per_io"], 0.2)
        runs = [dict(f, iops=v, mbps=v / 100) for v in (5, 1, 3)] + [None]
        out = drv.fig(runs, "iops", "iops")
        self.assertEqual((out["iops"], out["runs"], out["min"], out["max"]),
                         (3, 3, 1, 5))
        self.assertEqual(out["mbps"], 0.03)
        self.assertEqual(sorted(out), sorted(["iops", "mbps", "cpu_us_per_io",
                                              "grant_ops_per_io",
                                              "notify_per_io", "runs", "min",
                                              "max"]))
        self.assertIsNone(drv.fig([None], "iops", "iops"))
        self.assertIsNone(drv.figures(dict(raw, ops=0), "iops"))


if __name__ == "__main__":
    import pycotap
    unittest.main(testRunner=pycotap.TAPTestRunner(
        message_log=pycotap.LogMode.LogToError,
        test_output_log=pycotap.LogMode.LogToError), verbosity=0)
