#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of scripts/overlay.py, the tool that makes our QEMU build tree.

Most cases run the real script on a small synthetic "pristine" tree so that
each rule (refuse to shadow upstream files, fail on a missing or ambiguous
anchor, change nothing on a second run, never write the pristine tree) is
checked in isolation.  The last cases run our real registration edits against
the real QEMU source (XEN_PV_PRISTINE) and check the repository itself.

Output is TAP (pycotap), for scripts/run-tests.py.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OVERLAY = os.path.join(ROOT, "scripts", "overlay.py")
REAL_EDITS = os.path.join(ROOT, "scripts", "overlay-edits.toml")

EDITS = """
[[edit]]
name = "register sim"
file = "hw/xen/meson.build"
op = "after"
anchor = "subdir('pv-anchor')"
text = "subdir('sim')"
variants = ["ours", "stock"]

[[edit]]
name = "drop upstream block"
file = "hw/block/meson.build"
op = "replace"
anchor = "files('xen-block.c')"
text = "files()"
variants = ["ours"]
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def snapshot(top):
    """Every entry under @top: kind, link target or content hash, mtime."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, top)
            if os.path.islink(full):
                snap[rel] = ("link", os.readlink(full), st.st_mtime_ns)
            elif os.path.isdir(full):
                snap[rel] = ("dir", None, None)
            else:
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                snap[rel] = ("file", digest, st.st_mtime_ns)
    return snap


class OverlayTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="overlay-test-")
        self.pristine = os.path.join(self.tmp, "pristine")
        self.project = os.path.join(self.tmp, "project")
        self.dest = os.path.join(self.tmp, "tree")
        self.edits = os.path.join(self.tmp, "edits.toml")
        write(os.path.join(self.pristine, "VERSION"), "10.0.13\n")
        write(os.path.join(self.pristine, "hw/xen/meson.build"),
              "files('xen-bus.c')\nsubdir('pv-anchor')\nfiles('tail.c')\n")
        write(os.path.join(self.pristine, "hw/xen/xen-bus.c"), "/* upstream */\n")
        write(os.path.join(self.pristine, "hw/block/meson.build"),
              "system_ss.add(files('xen-block.c'))\n")
        write(os.path.join(self.project, "hw/xen/sim/meson.build"), "# ours\n")
        write(os.path.join(self.project, "hw/xen/sim/xen-sim.c"), "/* ours */\n")
        write(os.path.join(self.project, "include/hw/xen/sim/xen-sim.h"), "/* h */\n")
        write(self.edits, EDITS)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_overlay(self, variant="ours", edits=None):
        return subprocess.run(
            [sys.executable, OVERLAY, "--source", self.pristine,
             "--project", self.project, "--dest", self.dest,
             "--edits", edits or self.edits, "--variant", variant],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def assert_ok(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_links_project_files_and_applies_edits(self):
        before = snapshot(self.pristine)
        self.assert_ok(self.run_overlay())
        link = os.path.join(self.dest, "hw/xen/sim/xen-sim.c")
        self.assertTrue(os.path.islink(link))
        self.assertEqual(os.readlink(link),
                         os.path.join(self.project, "hw/xen/sim/xen-sim.c"))
        up = os.path.join(self.dest, "hw/xen/xen-bus.c")
        self.assertEqual(os.readlink(up),
                         os.path.join(self.pristine, "hw/xen/xen-bus.c"))
        edited = os.path.join(self.dest, "hw/xen/meson.build")
        self.assertFalse(os.path.islink(edited))
        with open(edited) as f:
            self.assertEqual(f.read(), "files('xen-bus.c')\nsubdir('pv-anchor')\n"
                             "subdir('sim')\nfiles('tail.c')\n")
        with open(os.path.join(self.dest, "hw/block/meson.build")) as f:
            self.assertEqual(f.read(), "system_ss.add(files())\n")
        self.assertEqual(snapshot(self.pristine), before,
                         "the pristine tree was modified")

    def test_variant_selects_edits(self):
        self.assert_ok(self.run_overlay(variant="stock"))
        # The ours-only edit is not applied: upstream's file stays linked.
        path = os.path.join(self.dest, "hw/block/meson.build")
        self.assertTrue(os.path.islink(path))
        with open(os.path.join(self.dest, "hw/xen/meson.build")) as f:
            self.assertIn("subdir('sim')", f.read())

    def test_refuses_to_overwrite_upstream_file(self):
        self.assert_ok(self.run_overlay())
        before = snapshot(self.dest)
        write(os.path.join(self.project, "hw/xen/xen-bus.c"), "/* shadow! */\n")
        r = self.run_overlay()
        self.assertEqual(r.returncode, 2)
        self.assertIn("refusing to overwrite upstream", r.stderr)
        self.assertIn("hw/xen/xen-bus.c", r.stderr)
        self.assertEqual(snapshot(self.dest), before, "tree changed on refusal")
        with open(os.path.join(self.pristine, "hw/xen/xen-bus.c")) as f:
            self.assertEqual(f.read(), "/* upstream */\n")

    def test_refuses_before_creating_anything(self):
        write(os.path.join(self.project, "hw/block/meson.build"), "# clash\n")
        r = self.run_overlay()
        self.assertEqual(r.returncode, 2)
        self.assertFalse(os.path.lexists(self.dest))

    def test_missing_anchor_fails_loudly(self):
        bad = EDITS.replace("subdir('pv-anchor')", "subdir('no-such-anchor')")
        write(self.edits, bad)
        r = self.run_overlay()
        self.assertEqual(r.returncode, 2)
        self.assertIn("register sim", r.stderr)
        self.assertIn("not found", r.stderr)
        self.assertFalse(os.path.lexists(self.dest))

    def test_ambiguous_anchor_fails(self):
        write(os.path.join(self.pristine, "hw/xen/meson.build"),
              "subdir('pv-anchor')\nsubdir('pv-anchor')\n")
        r = self.run_overlay()
        self.assertEqual(r.returncode, 2)
        self.assertIn("found 2 times", r.stderr)

    def test_edit_of_missing_upstream_file_fails(self):
        write(self.edits, EDITS.replace('file = "hw/block/meson.build"',
                                        'file = "hw/block/gone.build"'))
        r = self.run_overlay()
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not exist", r.stderr)

    def test_second_run_changes_nothing(self):
        self.assert_ok(self.run_overlay())
        before = snapshot(self.dest)
        r = self.run_overlay()
        self.assert_ok(r)
        self.assertIn(" 0 change(s)", r.stdout)
        self.assertEqual(snapshot(self.dest), before)

    def test_removed_project_file_and_edit_are_undone(self):
        self.assert_ok(self.run_overlay())
        os.unlink(os.path.join(self.project, "include/hw/xen/sim/xen-sim.h"))
        write(self.edits, EDITS.split("[[edit]]\nname = \"drop")[0])
        self.assert_ok(self.run_overlay())
        self.assertFalse(os.path.lexists(
            os.path.join(self.dest, "include/hw/xen/sim/xen-sim.h")))
        self.assertFalse(os.path.lexists(os.path.join(self.dest, "include")),
                         "empty directories left behind")
        path = os.path.join(self.dest, "hw/block/meson.build")
        self.assertEqual(os.readlink(path),
                         os.path.join(self.pristine, "hw/block/meson.build"))

    def test_new_project_file_appears(self):
        self.assert_ok(self.run_overlay())
        write(os.path.join(self.project, "tests/qtest/xen/new-test.c"), "/**/\n")
        self.assert_ok(self.run_overlay())
        self.assertTrue(os.path.islink(
            os.path.join(self.dest, "tests/qtest/xen/new-test.c")))


@unittest.skipUnless(os.environ.get("XEN_PV_PRISTINE"),
                     "XEN_PV_PRISTINE (the real QEMU source) not given")
class RealSourceTest(unittest.TestCase):
    """Our real edits and files against the real QEMU source."""

    def setUp(self):
        self.pristine = os.environ["XEN_PV_PRISTINE"]
        self.tmp = tempfile.mkdtemp(prefix="overlay-real-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_real_edits_apply_for_both_variants(self):
        for variant in ("ours", "stock"):
            dest = os.path.join(self.tmp, variant)
            r = subprocess.run([sys.executable, OVERLAY, "--source", self.pristine,
                                "--dest", dest, "--edits", REAL_EDITS,
                                "--variant", variant],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_no_tracked_file_exists_upstream(self):
        files = subprocess.run(["git", "-C", ROOT, "ls-files"], check=True,
                               stdout=subprocess.PIPE, text=True).stdout.split()
        self.assertTrue(files, "git ls-files listed nothing")
        clash = [f for f in files
                 if os.path.lexists(os.path.join(self.pristine, f))]
        self.assertEqual(clash, [], "tracked files that exist in QEMU's tree")


if __name__ == "__main__":
    import pycotap
    unittest.main(testRunner=pycotap.TAPTestRunner(
        message_log=pycotap.LogMode.LogToError,
        test_output_log=pycotap.LogMode.LogToError), verbosity=0)
