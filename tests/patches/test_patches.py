#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`make patches`: the series applies, builds, passes checkpatch and tests.

The cases run in order on one series, written once by
scripts/make-patches.py into build/patches-test/out:

  * the series: a cover letter and one patch per entry of
    scripts/patches/series.toml, each with its subject, numbered, signed off;
  * checkpatch.pl (the QEMU source's) reports 0 errors and 0 warnings on
    every patch, as QEMU's submission guide runs it;
  * `git am` applies the series to QEMU's release tree (Debian's source
    package with its patches popped and debian/ removed);
  * as a quilt series in Debian's qemu source package (debian/patches,
    after Debian's own patches), `quilt push -a` applies it, and every file
    it touches then holds what the overlay gives the build `make check`
    tests (scripts/overlay.py, variant ours);
  * Debian's source with the series (the quilt case's tree, in
    build/patches-test/src) builds (scripts/build.sh series, the
    configuration of ours) into build/patches-test/qemu, and the whole
    xen-pv suite passes there, as `make check` runs it on ours;
  * the fuzz regression inputs that make-corpus.py writes for a tree
    without them (the series carries no binary file) are the committed ones.  (The release tree does not build as it is: Debian's
    +ds tarball lacks the firmware blobs pc-bios/meson.build names, which
    a Debian patch takes out of the build.)

XEN_PV_PRISTINE names the source (`make test` sets it from
scripts/fetch-qemu.sh).  Output is TAP (pycotap).
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import overlay  # noqa: E402

TOP = os.path.join(ROOT, "build", "patches-test")
OUT = os.path.join(TOP, "out")
WORK = os.path.join(TOP, "work")
AM = os.path.join(TOP, "am")            # release tree + git am
SRC = os.path.join(TOP, "src")          # Debian's source + quilt: built
BDIR = os.path.join(TOP, "qemu")



def pristine():
    return os.environ.get("XEN_PV_PRISTINE", "")


def run(cmd, cwd=None, env=None, timeout=3600):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def series():
    with open(os.path.join(OUT, "series")) as f:
        return [l.strip() for l in f if l.strip()]


class Patches(unittest.TestCase):
    made = None
    applied = None

    @classmethod
    def setUpClass(cls):
        if os.path.isdir(TOP):
            shutil.rmtree(TOP)
        os.makedirs(TOP)
        if not pristine():
            cls.made = "XEN_PV_PRISTINE is not set"
            return
        p = run(["/usr/bin/python3", os.path.join(ROOT, "scripts",
                                                  "make-patches.py"),
                 "--source", pristine(), "--out", OUT, "--work", WORK])
        cls.made = p.returncode == 0 or (p.stdout + p.stderr)

    def need_series(self):
        self.assertIs(self.made, True, "make-patches failed: %s" % self.made)

    def test_1_series(self):
        """make-patches writes a cover letter and the series, in order"""
        import tomllib
        self.need_series()
        with open(os.path.join(ROOT, "scripts", "patches", "series.toml"),
                  "rb") as f:
            want = [p["subject"] for p in tomllib.load(f)["patch"]]
        names = series()
        self.assertEqual(len(names), len(want))
        self.assertTrue(os.path.isfile(os.path.join(OUT,
                                                    "0000-cover-letter.patch")))
        for i, (name, subject) in enumerate(zip(names, want)):
            with open(os.path.join(OUT, name)) as f:
                text = f.read()
            head = text.split("\n---\n", 1)[0]
            # the subject is folded after 'Subject: [PATCH i/N] '
            got = re.search(r"^Subject: \[PATCH (\d+)/(\d+)\] (.*?)\n(?=\S)",
                            head, re.M | re.S)
            self.assertIsNotNone(got, name)
            self.assertEqual((int(got.group(1)), int(got.group(2))),
                             (i + 1, len(want)))
            self.assertEqual(" ".join(got.group(3).split()), subject)
            self.assertRegex(head, r"\nSigned-off-by: [^<\n]+ <[^>\n]+>$",
                             name)

    def test_2_checkpatch(self):
        """checkpatch.pl: 0 errors and 0 warnings on every patch"""
        self.need_series()
        script = os.path.join(pristine(), "scripts", "checkpatch.pl")
        said = []
        for name in series():
            p = run(["perl", script, os.path.join(OUT, name)], cwd=WORK)
            total = re.search(r"^total: (\d+) errors, (\d+) warnings",
                              p.stdout, re.M)
            if p.returncode or not total or total.groups() != ("0", "0"):
                said.append("%s:\n%s" % (name, p.stdout[-3000:] + p.stderr))
        self.assertEqual(said, [], "\n".join(said))

    def test_3_git_am(self):
        """git am applies the series to QEMU's release tree"""
        self.need_series()
        base = os.path.join(WORK, "qemu")
        env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null",
                   GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="test",
                   GIT_AUTHOR_EMAIL="test@localhost",
                   GIT_COMMITTER_NAME="test",
                   GIT_COMMITTER_EMAIL="test@localhost")
        # make-patches' repository: its first commit is the release tree
        first = run(["git", "rev-list", "--max-parents=0", "HEAD"],
                    cwd=base).stdout.strip()
        self.assertTrue(first)
        # a work tree of its own at that commit (shares the objects)
        p = run(["git", "worktree", "add", "-q", "-b", "am", AM, first],
                cwd=base, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run(["git", "am", "-q"] + [os.path.join(OUT, n) for n in series()],
                cwd=AM, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        n = run(["git", "rev-list", "--count", "%s..HEAD" % first],
                cwd=AM).stdout.strip()
        self.assertEqual(int(n), len(series()))
        run(["git", "worktree", "remove", "--force", AM], cwd=base)

    def test_4_quilt_on_debian_source(self):
        """quilt applies the series after Debian's patches; = the overlay"""
        self.need_series()
        p = run(["cp", "-a", pristine(), SRC])
        self.assertEqual(p.returncode, 0, p.stderr)
        run(["chmod", "-R", "u+w", SRC])
        pdir = os.path.join(SRC, "debian", "patches")
        os.makedirs(os.path.join(pdir, "xen-pv"))
        for name in series():
            shutil.copy(os.path.join(OUT, name), os.path.join(pdir, "xen-pv"))
        with open(os.path.join(pdir, "series"), "a") as f:
            f.write("".join("xen-pv/%s\n" % n for n in series()))
        env = dict(os.environ, QUILT_PATCHES="debian/patches", QUILT_PC=".pc")
        p = run(["quilt", "push", "-a", "-q"], cwd=SRC, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # Every file the series touches holds what the overlay builds
        touched, deleted = set(), set()
        for name in series():
            with open(os.path.join(OUT, name)) as f:
                text = f.read()
            # in order: a later patch may delete what an earlier one edits
            for diff in re.split(r"^(?=diff --git )", text, flags=re.M):
                gone = re.match(r"diff --git a/(\S+) b/\S+\ndeleted file mode",
                                diff)
                if gone:
                    deleted.add(gone.group(1))
                    touched.discard(gone.group(1))
                for rel in re.findall(r"^\+\+\+ b/(\S+)$", diff, re.M):
                    touched.add(rel)
                    deleted.discard(rel)
        self.assertTrue(touched)
        for rel in sorted(deleted):
            self.assertFalse(os.path.lexists(os.path.join(SRC, rel)),
                             "%s: deleted by the series, still there" % rel)
        want = overlay.plan(os.path.realpath(pristine()), ROOT,
                            os.path.join(ROOT, "scripts", "overlay-edits.toml"),
                            "ours")
        differ = []
        for rel in sorted(touched):
            self.assertIn(rel, want, "%s: touched, but not by the overlay"
                          % rel)
            kind, val = want[rel]
            if kind == "link":
                with open(val, "rb") as f:
                    expect = f.read()
            else:
                expect = val.encode()
            with open(os.path.join(SRC, rel), "rb") as f:
                if f.read() != expect:
                    differ.append(rel)
        self.assertEqual(differ, [])
        type(self).applied = True

    def test_5_build_and_device_tests(self):
        """Debian's source with the series builds; its xen-pv tests pass"""
        self.assertTrue(self.applied, "quilt did not apply the series")
        p = run([os.path.join(ROOT, "scripts", "build.sh"), "series"],
                timeout=5400)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr)[-4000:])
        # The whole xen-pv suite, as make check runs it on ours
        meson = os.path.join(BDIR, "pyvenv", "bin", "meson")
        p = run([meson, "test", "-C", BDIR, "--list", "--suite", "xen-pv"])
        names = [l.split(" / ")[-1].strip() for l in p.stdout.splitlines()
                 if "xen-pv/" in l]
        self.assertGreater(len(names), 20, p.stdout + p.stderr)
        # one at a time, as scripts/run-tests.py runs them
        p = run([meson, "test", "-C", BDIR, "--no-rebuild", "--suite",
                 "xen-pv", "--num-processes", "1", "--print-errorlogs"],
                timeout=3000)
        summary = re.search(r"^Ok:\s+(\d+)", p.stdout, re.M)
        self.assertEqual(p.returncode, 0, p.stdout[-4000:] + p.stderr)
        self.assertIsNotNone(summary, p.stdout[-2000:])
        self.assertEqual(int(summary.group(1)), len(names), p.stdout[-2000:])

    def test_6_regressions_embedded(self):
        """the fuzz regression inputs the series carries are the committed"""
        out = os.path.join(TOP, "regressions")
        p = run(["/usr/bin/python3", os.path.join(ROOT, "tests", "fuzz", "xen",
                                                  "make-corpus.py"),
                 "--regressions", out])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = run(["diff", "-r", out, os.path.join(ROOT, "tests", "fuzz", "xen",
                                                 "regressions")])
        self.assertEqual(p.returncode, 0, "make-corpus.py's REGRESSIONS and "
                         "tests/fuzz/xen/regressions differ:\n" + p.stdout)


if __name__ == "__main__":
    import pycotap
    unittest.main(testRunner=pycotap.TAPTestRunner(
        message_log=pycotap.LogMode.LogToError,
        test_output_log=pycotap.LogMode.LogToError), verbosity=0)
