#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's scripts/checkpatch.pl over every C file and header of ours.

Each directory of C sources is one case: it passes when checkpatch.pl, run
on each file with --no-tree -f (as a QEMU maintainer runs it on new files),
prints neither an error nor a warning.  checkpatch.pl comes from the QEMU
source the build uses (XEN_PV_PRISTINE, which `make test` sets from
scripts/fetch-qemu.sh); without it every case fails rather than passes.

Output is TAP (pycotap), for scripts/run-tests.py.
"""

import collections
import os
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def our_c_files():
    """The C files and headers git tracks, by directory."""
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "*.c", "*.h"],
                         check=True, capture_output=True, text=True).stdout
    by_dir = collections.OrderedDict()
    for path in sorted(out.split()):
        by_dir.setdefault(os.path.dirname(path), []).append(path)
    return by_dir


def checkpatch():
    src = os.environ.get("XEN_PV_PRISTINE", "")
    return os.path.join(src, "scripts", "checkpatch.pl") if src else ""


def complaints(script, path):
    """What checkpatch.pl says of @path (empty when clean)."""
    # A path relative to the root, as in QEMU's tree: some rules go by it
    p = subprocess.run(["perl", script, "--no-tree", "-q", "-f", path],
                       capture_output=True, text=True, cwd=ROOT)
    lines = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]
    if p.returncode and not lines:
        lines = ["checkpatch.pl exited with %d" % p.returncode]
    return lines


class Checkpatch(unittest.TestCase):
    pass


def make_case(directory, files):
    def case(self):
        script = checkpatch()
        self.assertTrue(os.path.isfile(script),
                        "no checkpatch.pl (XEN_PV_PRISTINE=%r)" %
                        os.environ.get("XEN_PV_PRISTINE"))
        said = []
        for path in files:
            said += complaints(script, path)
        self.assertEqual(said, [], "\n".join(said))
    case.__doc__ = "checkpatch.pl is silent on %s (%d files)" % (directory,
                                                                 len(files))
    return case


for _dir, _files in our_c_files().items():
    setattr(Checkpatch, "test_" + _dir.replace("/", "_"),
            make_case(_dir, _files))


if __name__ == "__main__":
    import pycotap
    unittest.main(testRunner=pycotap.TAPTestRunner(
        message_log=pycotap.LogMode.LogToError,
        test_output_log=pycotap.LogMode.LogToError), verbosity=0)
