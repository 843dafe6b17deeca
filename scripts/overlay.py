#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Make a QEMU build tree from a pristine source tree plus this project.

The build tree is a farm of symlinks: every pristine file is linked from the
same relative path, every project file under hw/, include/, tests/, docs/ and configs/ is
linked in at its own relative path, and each file named by a registration edit
(scripts/overlay-edits.toml) is a real file holding the pristine text with the
edits applied.  Editing a project file and re-running ninja is enough; the
pristine tree is never written.

Rules, all checked before anything is written:
  * a project file whose path exists upstream is refused (we never shadow
    upstream code);
  * every edit's anchor must occur exactly once in its file, or the run fails
    naming the edit;
  * re-running with the same inputs changes nothing (no file is rewritten, no
    mtime moves), so ninja does not rebuild.

Exit status: 0 on success, 2 on a refused overlay (nothing written), 1 on
other errors.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tomllib

OVERLAY_DIRS = ("hw", "include", "tests", "docs", "configs")
MANIFEST = ".xen-pv-overlay.json"
SKIP_NAMES = {"__pycache__", ".git"}
SKIP_SUFFIXES = (".pyc", "~", ".swp", ".orig", ".rej")
VARIANTS = ("ours", "stock")
OPS = ("after", "before", "replace")


class OverlayError(Exception):
    """A refused overlay: nothing has been written."""


def project_files(project):
    """Relative paths of the project's files under OVERLAY_DIRS."""
    out = []
    for top in OVERLAY_DIRS:
        base = os.path.join(project, top)
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in SKIP_NAMES and not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or name.endswith(SKIP_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                out.append(os.path.relpath(full, project))
    return out


def load_edits(path, variant):
    """Registration edits that apply to @variant, validated for shape."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    edits = []
    for i, e in enumerate(data.get("edit", [])):
        where = "%s: edit #%d (%s)" % (path, i + 1, e.get("name", "unnamed"))
        for key in ("name", "file", "op", "anchor", "text", "variants"):
            if key not in e:
                raise OverlayError("%s: missing key '%s'" % (where, key))
        if e["op"] not in OPS:
            raise OverlayError("%s: op must be one of %s" % (where, ", ".join(OPS)))
        bad = [v for v in e["variants"] if v not in VARIANTS]
        if bad:
            raise OverlayError("%s: unknown variant(s) %s" % (where, bad))
        if not e["anchor"]:
            raise OverlayError("%s: empty anchor" % where)
        if variant in e["variants"]:
            edits.append(e)
    return edits


def apply_edit(text, e):
    """Return @text with edit @e applied; the anchor must occur exactly once."""
    n = text.count(e["anchor"])
    if n != 1:
        what = "not found" if n == 0 else "found %d times" % n
        raise OverlayError("edit '%s': anchor %r %s in %s"
                           % (e["name"], e["anchor"], what, e["file"]))
    pos = text.index(e["anchor"])
    if e["op"] == "replace":
        return text[:pos] + e["text"] + text[pos + len(e["anchor"]):]
    # Line-wise insertion around the line holding the anchor.
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end + 1
    ins = e["text"] if e["text"].endswith("\n") else e["text"] + "\n"
    if e["op"] == "after":
        if not text[:end].endswith("\n"):
            ins = "\n" + ins
        return text[:end] + ins + text[end:]
    return text[:start] + ins + text[start:]


def plan(pristine, project, edits_path, variant):
    """Compute the overlay entries: {relpath: ("link", target) | ("file", text)}.

    Raises OverlayError before anything is written if the overlay is refused.
    """
    entries = {}
    conflicts = []
    for rel in project_files(project):
        if os.path.lexists(os.path.join(pristine, rel)):
            conflicts.append(rel)
            continue
        # A project file below a path that is a file upstream is also a clash.
        parent = os.path.dirname(rel)
        while parent:
            p = os.path.join(pristine, parent)
            if os.path.lexists(p) and not os.path.isdir(p):
                conflicts.append(rel)
                break
            parent = os.path.dirname(parent)
        entries[rel] = ("link", os.path.join(project, rel))
    if conflicts:
        raise OverlayError("refusing to overwrite upstream file(s): "
                           + ", ".join(conflicts))

    edited = {}
    for e in load_edits(edits_path, variant):
        rel = os.path.normpath(e["file"])
        src = os.path.join(pristine, rel)
        if rel in entries:
            raise OverlayError("edit '%s' targets project file %s; edits are "
                               "for upstream files only" % (e["name"], rel))
        if not os.path.isfile(src):
            raise OverlayError("edit '%s': upstream file %s does not exist"
                               % (e["name"], rel))
        if rel not in edited:
            with open(src, encoding="utf-8") as f:
                edited[rel] = f.read()
        edited[rel] = apply_edit(edited[rel], e)
    for rel, text in edited.items():
        entries[rel] = ("file", text)
    return entries


def make_base(pristine, dest):
    """Create @dest as a directory tree of symlinks to every pristine file."""
    tmp = dest + ".new"
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    for dirpath, dirnames, filenames in os.walk(pristine):
        rel = os.path.relpath(dirpath, pristine)
        out = os.path.normpath(os.path.join(tmp, rel))
        os.makedirs(out, exist_ok=True)
        for name in dirnames:
            # Directory symlinks upstream stay symlinks; os.walk skips them.
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                os.symlink(os.readlink(full), os.path.join(out, name))
        for name in filenames:
            if rel == "." and name.startswith(".xen-pv"):
                continue
            full = os.path.join(dirpath, name)
            target = os.readlink(full) if os.path.islink(full) else full
            os.symlink(target, os.path.join(out, name))
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    os.rename(tmp, dest)


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_link(path, target):
    """Point @path at @target; return True if something changed."""
    if os.path.islink(path) and os.readlink(path) == target:
        return False
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)
    return True


def ensure_file(path, text):
    """Make @path a regular file holding @text; return True if it changed."""
    if os.path.isfile(path) and not os.path.islink(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    if os.path.lexists(path):
        os.unlink(path)
    tmp = path + ".xen-pv-tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, path)
    return True


def prune_empty_dirs(dest, rel):
    parent = os.path.dirname(rel)
    while parent:
        full = os.path.join(dest, parent)
        try:
            os.rmdir(full)
        except OSError:
            return
        parent = os.path.dirname(parent)


def apply(pristine, dest, entries, variant):
    """Bring @dest to the planned state; return the number of changes."""
    manifest_path = os.path.join(dest, MANIFEST)
    old = None
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError:
                old = None
    changes = 0
    if old is None or old.get("pristine") != pristine:
        make_base(pristine, dest)
        old = {"pristine": pristine, "entries": {}}
        changes += 1

    for rel, (kind, val) in sorted(entries.items()):
        path = os.path.join(dest, rel)
        if kind == "link":
            changes += ensure_link(path, val)
        else:
            changes += ensure_file(path, val)

    # Entries overlaid last time but not wanted now: back to upstream or gone.
    for rel in sorted(set(old["entries"]) - set(entries)):
        path = os.path.join(dest, rel)
        up = os.path.join(pristine, rel)
        if os.path.lexists(up):
            changes += ensure_link(path, up)
        elif os.path.lexists(path):
            os.unlink(path)
            prune_empty_dirs(dest, rel)
            changes += 1

    new = {
        "pristine": pristine,
        "variant": variant,
        "entries": {rel: [kind, val if kind == "link" else sha(val)]
                    for rel, (kind, val) in sorted(entries.items())},
    }
    if new != old:
        tmp = manifest_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(new, f, indent=1, sort_keys=True)
            f.write("\n")
        os.rename(tmp, manifest_path)
    return changes


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="pristine QEMU source tree")
    ap.add_argument("--dest", required=True, help="build tree to create/update")
    ap.add_argument("--project", default=os.path.dirname(here),
                    help="project root (default: this clone)")
    ap.add_argument("--edits", default=os.path.join(here, "overlay-edits.toml"),
                    help="registration edits (TOML)")
    ap.add_argument("--variant", choices=VARIANTS, default="ours")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    pristine = os.path.realpath(args.source)
    project = os.path.realpath(args.project)
    dest = os.path.abspath(args.dest)
    if not os.path.isfile(os.path.join(pristine, "VERSION")):
        print("overlay: %s is not a QEMU source tree" % pristine, file=sys.stderr)
        return 1
    if dest == pristine or dest.startswith(pristine + os.sep):
        print("overlay: the build tree may not live inside the pristine tree",
              file=sys.stderr)
        return 1
    try:
        entries = plan(pristine, project, args.edits, args.variant)
    except OverlayError as e:
        print("overlay: error: %s" % e, file=sys.stderr)
        return 2
    changes = apply(pristine, dest, entries, args.variant)
    if not args.quiet:
        nlinks = sum(1 for k, _ in entries.values() if k == "link")
        nedits = len(entries) - nlinks
        print("overlay: %s (%s): %d project file(s), %d edited upstream "
              "file(s), %d change(s)" % (dest, args.variant, nlinks, nedits,
                                         changes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
