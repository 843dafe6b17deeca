#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write this project as a patch series against QEMU 10.0 (`make patches`).

The series is defined by scripts/patches/series.toml: its patches, in review
order, each naming the overlay edits (scripts/overlay-edits.toml, variant
"ours") it applies and the project files it adds.  This script

  1. makes QEMU's own tree from the pristine source (Debian's source package,
     scripts/fetch-qemu.sh): Debian's patches are popped with quilt and
     debian/ removed, which leaves the release tree (the +ds orig tarball);
  2. commits that tree to a scratch git repository, then one commit per
     patch, with the patch's message and the author's Signed-off-by;
  3. checks that the result is what the overlay builds (scripts/overlay.py on
     the same tree): every edited upstream file and every project file of
     the series, byte for byte; so the series builds the code `make check`
     tests;
  4. writes `git format-patch` output to OUT (default build/patches): a cover
     letter, NNNN-*.patch, and `series`, the patches' names in order for
     quilt (and for `git am $(sed 's|^|OUT/|' OUT/series)`).

The series' author is the one in series.toml unless XEN_PV_PATCH_AUTHOR
("Name <address>") says otherwise.  Exit status 0, or 1 with the reason on
stderr.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import overlay  # noqa: E402  (scripts/overlay.py)

DATE = "2026-01-01T00:00:00+00:00"     # fixed: the same inputs, the same series


class SeriesError(Exception):
    pass


def run(cmd, cwd=None, env=None, **kw):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                       **kw)
    if p.returncode:
        raise SeriesError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode,
                                                     p.stdout, p.stderr))
    return p.stdout


def load_series(path):
    with open(path, "rb") as f:
        s = tomllib.load(f)
    for key in ("author", "cover_subject", "cover_body", "patch"):
        if key not in s:
            raise SeriesError("%s: missing '%s'" % (path, key))
    for i, p in enumerate(s["patch"]):
        if "subject" not in p or "body" not in p:
            raise SeriesError("%s: patch #%d lacks subject or body" % (path, i + 1))
        p.setdefault("edits", [])
        p.setdefault("files", [])
        p.setdefault("delete", [])
    s.setdefault("exclude", [])
    return s


def matches(rel, pattern):
    return rel.startswith(pattern) if pattern.endswith("/") else rel == pattern


def assign(series, edits, files):
    """{patch index: ([edits], [files])}; every edit and file exactly once."""
    by_name = {e["name"]: e for e in edits}
    out = {i: ([], []) for i in range(len(series["patch"]))}
    seen = {}
    for i, p in enumerate(series["patch"]):
        for name in p["edits"]:
            if name not in by_name:
                raise SeriesError("patch %d (%s): no edit named %r for the "
                                  "ours variant" % (i + 1, p["subject"], name))
            if name in seen:
                raise SeriesError("edit %r is in patches %d and %d"
                                  % (name, seen[name] + 1, i + 1))
            seen[name] = i
    missing = [e["name"] for e in edits if e["name"] not in seen]
    if missing:
        raise SeriesError("edit(s) in no patch: " + "; ".join(missing))
    # edits keep the overlay's order, which later anchors may rely on
    for e in edits:
        out[seen[e["name"]]][0].append(e)

    unplaced = []
    for rel in files:
        if any(matches(rel, x) for x in series["exclude"]):
            continue
        owners = [i for i, p in enumerate(series["patch"])
                  if any(matches(rel, x) for x in p["files"])]
        if len(owners) > 1:
            raise SeriesError("%s is in patches %s" % (
                rel, ", ".join(str(i + 1) for i in owners)))
        if not owners:
            unplaced.append(rel)
            continue
        out[owners[0]][1].append(rel)
    if unplaced:
        raise SeriesError("project file(s) in no patch and not excluded: "
                          + ", ".join(unplaced))
    return out


def orig_tree(pristine, dest):
    """QEMU's release tree: @pristine without Debian's patches and debian/."""
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    run(["cp", "-a", pristine, dest])
    run(["chmod", "-R", "u+w", dest])
    if os.path.isdir(os.path.join(dest, ".pc")):
        env = dict(os.environ, QUILT_PATCHES="debian/patches", QUILT_PC=".pc")
        p = subprocess.run(["quilt", "pop", "-a", "-q"], cwd=dest, env=env,
                           capture_output=True, text=True)
        # 2: nothing to pop
        if p.returncode not in (0, 2):
            raise SeriesError("quilt pop -a failed:\n" + p.stdout + p.stderr)
    for name in (".pc", "debian", ".xen-pv-complete"):
        path = os.path.join(dest, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)


def git_env(author):
    name, _, addr = author.partition("<")
    env = dict(os.environ)
    env.update(GIT_AUTHOR_NAME=name.strip(), GIT_AUTHOR_EMAIL=addr.strip("> "),
               GIT_COMMITTER_NAME=name.strip(),
               GIT_COMMITTER_EMAIL=addr.strip("> "),
               GIT_AUTHOR_DATE=DATE, GIT_COMMITTER_DATE=DATE,
               GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    return env


def message(subject, body, author):
    return "%s\n\n%s\n\nSigned-off-by: %s\n" % (subject, body.strip("\n"),
                                                 author)


def make_series(pristine, out, work, author):
    series = load_series(os.path.join(HERE, "patches", "series.toml"))
    edits_path = os.path.join(HERE, "overlay-edits.toml")
    edits = overlay.load_edits(edits_path, "ours")
    files = overlay.project_files(ROOT)
    plan = assign(series, edits, files)

    os.makedirs(work, exist_ok=True)
    tree = os.path.join(work, "qemu")
    orig_tree(pristine, tree)
    env = git_env(author)
    version = open(os.path.join(tree, "VERSION")).read().strip()
    run(["git", "init", "-q", "-b", "master"], cwd=tree, env=env)
    run(["git", "add", "-A", "-f"], cwd=tree, env=env)
    run(["git", "commit", "-q", "--no-verify", "-m", "QEMU %s" % version],
        cwd=tree, env=env)
    base = run(["git", "rev-parse", "HEAD"], cwd=tree, env=env).strip()

    for i, p in enumerate(series["patch"]):
        pedits, pfiles = plan[i]
        for e in pedits:
            path = os.path.join(tree, e["file"])
            with open(path, encoding="utf-8") as f:
                text = f.read()
            try:
                text = overlay.apply_edit(text, e)
            except overlay.OverlayError as err:
                raise SeriesError("patch %d (%s): %s (an edit of a later "
                                  "patch must come first?)"
                                  % (i + 1, p["subject"], err))
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        for rel in pfiles:
            dst = os.path.join(tree, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), dst)
        for rel in p["delete"]:
            if not os.path.isfile(os.path.join(tree, rel)):
                raise SeriesError("patch %d (%s): %s, to be deleted, does not "
                                  "exist" % (i + 1, p["subject"], rel))
            run(["git", "rm", "-q", rel], cwd=tree, env=env)
        run(["git", "add", "-A", "-f"], cwd=tree, env=env)
        if not run(["git", "status", "--porcelain"], cwd=tree, env=env):
            raise SeriesError("patch %d (%s) changes nothing"
                              % (i + 1, p["subject"]))
        run(["git", "commit", "-q", "--no-verify", "-F", "-"], cwd=tree,
            env=env, input=message(p["subject"], p["body"], author))

    deleted = {rel for p in series["patch"] for rel in p["delete"]}
    check_against_overlay(tree, base, edits_path, plan, deleted)

    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    names = run(["git", "format-patch", "--cover-letter",
                 "--no-signature", "--zero-commit", "-o", out,
                 "%s..HEAD" % base], cwd=tree, env=env).split()
    names = [os.path.basename(n) for n in names]
    cover = [n for n in names if n.startswith("0000-")]
    patches = [n for n in names if not n.startswith("0000-")]
    if cover:
        path = os.path.join(out, cover[0])
        with open(path) as f:
            text = f.read()
        text = text.replace("*** SUBJECT HERE ***", series["cover_subject"])
        text = text.replace("*** BLURB HERE ***",
                            series["cover_body"].strip("\n"))
        with open(path, "w") as f:
            f.write(text)
    with open(os.path.join(out, "series"), "w") as f:
        f.write("".join(n + "\n" for n in patches))
    return version, patches


def check_against_overlay(tree, base_commit, edits_path, plan, deleted):
    """The series' tree holds what the overlay builds, for every file."""
    # The overlay's plan on the release tree: the base commit's files.
    base = tree + "-base"
    if os.path.lexists(base):
        shutil.rmtree(base)
    os.makedirs(base)
    archive = subprocess.Popen(["git", "archive", base_commit], cwd=tree,
                               stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", base], stdin=archive.stdout,
                           capture_output=True)
    archive.stdout.close()
    if archive.wait() or untar.returncode:
        raise SeriesError("git archive | tar failed: %s" % untar.stderr)
    want = overlay.plan(base, ROOT, edits_path, "ours")
    shutil.rmtree(base)
    placed = set()
    for _edits, files in plan.values():
        placed.update(files)
    bad = [rel + " (not deleted)" for rel in sorted(deleted)
           if os.path.lexists(os.path.join(tree, rel))]
    for rel, (kind, val) in sorted(want.items()):
        if rel in deleted:
            continue
        if kind == "link":
            if rel not in placed:
                continue
            with open(val, "rb") as f:
                expect = f.read()
        else:
            expect = val.encode()
        path = os.path.join(tree, rel)
        if not os.path.isfile(path):
            bad.append(rel + " (missing)")
            continue
        with open(path, "rb") as f:
            if f.read() != expect:
                bad.append(rel)
    if bad:
        raise SeriesError("the series' tree differs from the overlay in: "
                          + ", ".join(bad))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "patches"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build",
                                                   "patches-work"))
    ap.add_argument("--source", help="pristine QEMU source (default: "
                    "scripts/fetch-qemu.sh)")
    args = ap.parse_args(argv)
    try:
        pristine = args.source or run([os.path.join(HERE, "fetch-qemu.sh")]
                                      ).strip()
        author = os.environ.get("XEN_PV_PATCH_AUTHOR") or \
            load_series(os.path.join(HERE, "patches", "series.toml"))["author"]
        if not re.fullmatch(r"[^<>]+ <[^<>@\s]+@[^<>\s]+>", author):
            raise SeriesError("author %r is not 'Name <address>'" % author)
        version, patches = make_series(os.path.realpath(pristine),
                                       os.path.abspath(args.out),
                                       os.path.abspath(args.work), author)
    except (SeriesError, overlay.OverlayError) as e:
        # no stale series where a failed run was asked to write one
        if os.path.isdir(args.out):
            shutil.rmtree(args.out)
        print("make-patches: error: %s" % e, file=sys.stderr)
        return 1
    print("make-patches: %d patches against QEMU %s in %s (series: %s)"
          % (len(patches), version, args.out,
             os.path.join(args.out, "series")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
