#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of scripts/run-tests.py, the runner behind `make check`.

Each case builds synthetic meson build directories (meson-info/intro-tests.json
naming small TAP scripts) in a temporary directory and runs the runner on
them: results of an unlabelled build directory keep their names, "--label"
prefixes the names of the build directory before it, two build directories
give one summary line, --filter matches the labelled name, a failure in one
directory fails the run, and a misplaced --label is refused.

Output is TAP (pycotap), for scripts/run-tests.py.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "scripts", "run-tests.py")


def tap_script(results):
    """Python source of a TAP program printing @results (list of bools)."""
    lines = ["1..%d" % len(results)]
    for i, ok in enumerate(results, 1):
        lines.append("%s %d - case%d" % ("ok" if ok else "not ok", i, i))
    body = "\n".join(lines)
    return "import sys\nprint(%r)\nsys.exit(%d)\n" % (body, 0 if all(results) else 1)


class RunTestsProgramTimeout(unittest.TestCase):
    """--program NAME@SECONDS=COMMAND: the program's own time limit."""

    def run_runner(self, *args):
        return subprocess.run([sys.executable, RUNNER] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=120, cwd=ROOT)

    def test_program_timeout(self):
        slow = "%s -c 'import time; time.sleep(5); print(\"1..1\\nok 1\")'" % (
            sys.executable)
        p = self.run_runner("--program", "slow@1=" + slow)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("timeout after 1s", p.stdout)
        self.assertTrue(p.stdout.strip().endswith("0 passed, 1 failed"),
                        p.stdout)
        p = self.run_runner("--program", "slow@30=" + slow)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(p.stdout.strip().endswith("1 passed, 0 failed"),
                        p.stdout)

    def test_bad_seconds_refused(self):
        p = self.run_runner("--program", "x@soon=true")
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a number of seconds", p.stderr)


class RunTestsLabel(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def builddir(self, name, tests):
        """A fake build dir holding @tests: {test name: [bool, ...]}."""
        bdir = os.path.join(self.dir, name)
        os.makedirs(os.path.join(bdir, "meson-info"))
        intro = []
        for tname, results in tests.items():
            script = os.path.join(bdir, tname.replace("/", "_") + ".py")
            with open(script, "w") as f:
                f.write(tap_script(results))
            intro.append({"name": tname, "cmd": [sys.executable, script],
                          "env": {}, "workdir": None, "timeout": 30,
                          "suite": ["qemu:xen-pv"]})
        intro.append({"name": "other/not-ours", "cmd": ["false"], "env": {},
                      "workdir": None, "timeout": 30, "suite": ["qemu:unit"]})
        with open(os.path.join(bdir, "meson-info", "intro-tests.json"), "w") as f:
            json.dump(intro, f)
        return bdir

    def run_runner(self, *args):
        return subprocess.run([sys.executable, RUNNER] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=120)

    def run_pair(self, plain_results, asan_results, *extra):
        """Run an unlabelled and an "asan"-labelled dir of one test each."""
        plain = self.builddir("plain", {"xen-pv/a-test": plain_results})
        asan = self.builddir("asan", {"xen-pv/a-test": asan_results})
        return self.run_runner("--builddir", plain, "--builddir", asan,
                               "--label", "asan", *extra)

    def test_unlabelled_names_unchanged(self):
        b = self.builddir("plain", {"xen-pv/a-test": [True, True]})
        r = self.run_runner("--builddir", b)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok   xen-pv/a-test: case1", r.stdout)
        self.assertEqual(r.stdout.splitlines()[-1], "2 passed, 0 failed")

    def test_two_dirs_one_summary(self):
        r = self.run_pair([True, True], [True, True, True])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok   xen-pv/a-test: case2", r.stdout)
        self.assertIn("ok   asan/xen-pv/a-test: case3", r.stdout)
        self.assertNotIn("asan/xen-pv/a-test: case4", r.stdout)
        self.assertNotIn("not-ours", r.stdout)
        self.assertEqual(r.stdout.splitlines()[-1], "5 passed, 0 failed")

    def test_failure_in_labelled_dir_fails_run(self):
        r = self.run_pair([True], [True, False])
        self.assertEqual(r.returncode, 1)
        self.assertIn("FAIL asan/xen-pv/a-test: case2", r.stdout)
        self.assertIn("\nFailed:\n  asan/xen-pv/a-test: case2\n", r.stdout)
        self.assertEqual(r.stdout.splitlines()[-1], "2 passed, 1 failed")

    def test_filter_matches_label(self):
        r = self.run_pair([True], [True, True], "--filter", "asan/")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("ok   xen-pv/a-test", r.stdout)
        self.assertEqual(r.stdout.splitlines()[-1], "2 passed, 0 failed")

    def test_label_without_builddir_refused(self):
        r = self.run_runner("--label", "asan")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no --builddir before it", r.stderr)

    def test_second_label_refused(self):
        b = self.builddir("plain", {"xen-pv/a-test": [True]})
        r = self.run_runner("--builddir", b, "--label", "x", "--label", "y")
        self.assertEqual(r.returncode, 2)
        self.assertIn("already has label x", r.stderr)

    def test_label_with_slash_refused(self):
        b = self.builddir("plain", {"xen-pv/a-test": [True]})
        r = self.run_runner("--builddir", b, "--label", "a/b")
        self.assertEqual(r.returncode, 2)
        self.assertIn("without '/'", r.stderr)


if __name__ == "__main__":
    import pycotap
    unittest.main(testRunner=pycotap.TAPTestRunner(
        message_log=pycotap.LogMode.LogToError,
        test_output_log=pycotap.LogMode.LogToError), verbosity=0)
