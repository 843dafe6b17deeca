#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run every test of the project and print one summary line.

Test programs speak TAP.  Two sources:
  * the project's own host-side test programs (given with --program);
  * the meson tests of the given build directories whose suite is 'xen-pv'
    (registered by tests/qtest/xen/meson.build), read from meson's
    introspection data.

Each TAP "ok" counts as passed, "not ok" as failed, "# SKIP" as skipped (never
as passed).  A program that exits non-zero, times out, bails out or reports
fewer results than its plan adds a failure of its own.  The last line printed
is "N passed, M failed" (", K skipped" when any were skipped); the exit status
is 1 if anything failed or nothing ran.

Several build directories can be run in one invocation, so that one summary
covers them all.  "--label NAME" after a "--builddir DIR" prefixes the names
of that directory's tests with "NAME/" (e.g. --builddir build/asan/qemu
--label asan reports "asan/xen-pv/xen-block-io-test: ..."); --filter matches the
prefixed name.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

TAP_RESULT = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*-?\s*(.*)$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)")


class Totals:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []

    def add(self, status, label):
        if status == "pass":
            self.passed += 1
        elif status == "skip":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(label)


def run_tap(name, cmd, env, cwd, timeout, totals, verbose):
    """Run one TAP program; fold its results into @totals."""
    start = time.monotonic()
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=full_env, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, text=True,
                              errors="replace")
        out, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        rc = "timeout after %ss" % timeout
    except OSError as e:
        out, rc = "", "cannot run: %s" % e

    plan = None
    seen = 0
    local_fail = 0
    bailed = False
    for line in out.splitlines():
        m = TAP_RESULT.match(line)
        if m:
            seen += 1
            desc = m.group(3).strip()
            directive = ""
            if "#" in desc:
                desc, directive = [s.strip() for s in desc.split("#", 1)]
            label = "%s: %s" % (name, desc or "#%s" % (m.group(2) or seen))
            if directive.upper().startswith("SKIP"):
                status = "skip"
            elif directive.upper().startswith("TODO"):
                status = "skip"
            elif m.group(1) == "ok":
                status = "pass"
            else:
                status = "fail"
                local_fail += 1
            totals.add(status, label)
            print("%-4s %s%s" % ({"pass": "ok", "fail": "FAIL", "skip": "skip"}[status],
                                 label, (" # " + directive) if directive else ""))
            continue
        m = TAP_PLAN.match(line)
        if m:
            plan = int(m.group(1))
            continue
        if line.startswith("Bail out!"):
            bailed = True
    problems = []
    if rc != 0:
        problems.append("exit status %s" % rc)
    if bailed:
        problems.append("bailed out")
    if plan is not None and seen < plan:
        problems.append("%d of %d planned results missing" % (plan - seen, plan))
    if seen == 0 and plan != 0:
        problems.append("no TAP results")
    if problems and not (local_fail and rc == 1 and not bailed
                         and (plan is None or seen >= plan)):
        totals.add("fail", "%s: %s" % (name, ", ".join(problems)))
        print("FAIL %s: %s" % (name, ", ".join(problems)))
    if (problems or local_fail or verbose) and out:
        print("---- output of %s (%.1fs) ----" % (name, time.monotonic() - start))
        print("\n".join(out.splitlines()[-60:]))
        print("---- end of %s ----" % name)


def meson_tests(builddir, suite):
    info = os.path.join(builddir, "meson-info", "intro-tests.json")
    with open(info) as f:
        tests = json.load(f)
    for t in tests:
        if any(s == suite or s.endswith(":" + suite) for s in t.get("suite", [])):
            yield t


class BuildDirAction(argparse.Action):
    """--builddir DIR appends [DIR, label]; --label NAME labels the last one."""

    def __call__(self, parser, namespace, value, option_string=None):
        dirs = getattr(namespace, "builddir", None) or []
        if option_string == "--label":
            if not dirs:
                parser.error("--label %s: no --builddir before it" % value)
            if dirs[-1][1] is not None:
                parser.error("--label %s: --builddir %s already has label %s"
                             % (value, dirs[-1][0], dirs[-1][1]))
            if not value or "/" in value:
                parser.error("--label %r: want a non-empty name without '/'"
                             % value)
            dirs[-1][1] = value
        else:
            dirs.append([value, None])
        namespace.builddir = dirs


# Seconds a --program may run unless it says otherwise (NAME@SECONDS=...)
PROGRAM_TIMEOUT = 600


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--program", action="append", default=[],
                    help="NAME=COMMAND or NAME@SECONDS=COMMAND: a TAP program "
                    "to run (from the project root), killed after SECONDS "
                    "(default %d)" % PROGRAM_TIMEOUT)
    ap.add_argument("--builddir", action=BuildDirAction, default=[],
                    metavar="DIR",
                    help="meson build directory whose xen-pv suite to run")
    ap.add_argument("--label", action=BuildDirAction, dest="builddir",
                    metavar="NAME",
                    help="prefix NAME/ to the test names of the --builddir "
                    "just before it")
    ap.add_argument("--suite", default="xen-pv")
    ap.add_argument("--filter", default="", help="run only tests whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    totals = Totals()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for spec in args.program:
        name, _, cmd = spec.partition("=")
        name, _, secs = name.partition("@")
        if secs and not secs.isdigit():
            ap.error("--program %s: %r is not a number of seconds" % (name, secs))
        if args.filter and args.filter not in name:
            continue
        run_tap(name, shlex.split(cmd), {}, root,
                int(secs) if secs else PROGRAM_TIMEOUT, totals, args.verbose)
    for bdir, label in args.builddir:
        for t in meson_tests(bdir, args.suite):
            name = "%s/%s" % (label, t["name"]) if label else t["name"]
            if args.filter and args.filter not in name:
                continue
            timeout = t.get("timeout") or 120
            run_tap(name, t["cmd"], t.get("env") or {},
                    t.get("workdir") or bdir, timeout, totals, args.verbose)

    if totals.failures:
        print("\nFailed:")
        for f in totals.failures:
            print("  " + f)
    summary = "%d passed, %d failed" % (totals.passed, totals.failed)
    if totals.skipped:
        summary += ", %d skipped" % totals.skipped
    print(summary)
    sys.stdout.flush()
    return 1 if totals.failed or totals.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
