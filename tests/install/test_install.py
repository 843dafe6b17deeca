#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of make install (scripts/install.sh) and make deb (scripts/make-deb.sh).

Run on what `make deb` built (make check builds it first): the install
build for /usr/lib/xen-pv-qemu (build/install/usr-lib-xen-pv-qemu) and the
two packages in build/deb.

  * make install into a DESTDIR lays out what an installed device model
    needs (qemu-system-i386, qemu-img, the keymaps), nothing outside PREFIX,
    no link back into the clone; the installed binary runs from there, loads
    its keymap for libxl's "-vnc none" (a copy without the data directory
    does not), and answers what libxl asks of it: the machines xenpv and
    xenfv, the options -xen-domid, -xen-attach, -daemonize, -pidfile, and
    query-command-line-options with run-with's chroot and user (the probe of
    libxl 4.20 on);
  * the packages: their files, their maintainer scripts' diversions,
    their dependencies (dpkg-shlibdeps), lintian without errors;
  * dpkg itself installs and removes the package in a scratch root
    (--root, maintainer scripts run chrootless with DPKG_ROOT, which
    dpkg-divert honours): a previous binary at libxl's path is set aside
    and given back, or nothing is left where nothing was.

The Xen lab's "install" scenario does the same on a real dom0 with real
guests.  Output is TAP (pycotap), for scripts/run-tests.py.
"""

import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "/usr/lib/xen-pv-qemu"
BUILD = os.path.join(ROOT, "build", "install", "usr-lib-xen-pv-qemu", "qemu")
DEBDIR = os.path.join(ROOT, "build", "deb")
DEBIAN_DM = "/usr/libexec/xen-qemu-system-i386"
XEN_DM = "/usr/lib/xen/bin/qemu-system-i386"


def deb(name):
    found = sorted(glob.glob(os.path.join(DEBDIR, name + "_*.deb")), key=os.path.getmtime)
    if not found:
        raise AssertionError("no %s package in %s: run make deb" % (name, DEBDIR))
    return found[-1]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


class InstallTest(unittest.TestCase):
    """make install PREFIX=/usr/lib/xen-pv-qemu DESTDIR=<tmp>"""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(BUILD, "build.ninja")):
            raise AssertionError("%s is not configured: run make deb" % BUILD)
        cls.destdir = tempfile.mkdtemp(prefix="xen-pv-install-test.")
        env = dict(os.environ, PREFIX=PREFIX, DESTDIR=cls.destdir)
        p = run([os.path.join(ROOT, "scripts", "install.sh")], env=env, cwd=ROOT)
        if p.returncode:
            raise AssertionError("scripts/install.sh failed: " + p.stderr[-2000:])
        cls.root = cls.destdir + PREFIX

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)

    def test_layout(self):
        for f in ("bin/qemu-system-x86_64", "bin/qemu-img", "bin/qemu-io",
                  "bin/qemu-nbd", "share/qemu/keymaps/en-us",
                  "share/qemu/trace-events-all"):
            self.assertTrue(os.path.isfile(os.path.join(self.root, f)), f)
        i386 = os.path.join(self.root, "bin/qemu-system-i386")
        self.assertEqual(os.readlink(i386), "qemu-system-x86_64")
        for f in ("bin/qemu-system-x86_64", "bin/qemu-img"):
            self.assertTrue(os.access(os.path.join(self.root, f), os.X_OK), f)

    def test_nothing_outside_prefix_nor_into_the_clone(self):
        for dirpath, dirnames, filenames in os.walk(self.destdir):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                rel = "/" + os.path.relpath(full, self.destdir)
                if not (rel.startswith(PREFIX + "/") or PREFIX.startswith(rel + "/")
                        or rel == PREFIX):
                    self.fail("%s installed outside %s" % (rel, PREFIX))
                if os.path.islink(full):
                    target = os.path.realpath(full)
                    self.assertTrue(target.startswith(self.root + "/"),
                                    "%s -> %s" % (rel, target))
        for f in glob.glob(os.path.join(self.root, "bin", "*")):
            if os.path.islink(f):
                continue
            dyn = run(["readelf", "-d", f]).stdout
            self.assertNotIn("RPATH", dyn, f)
            self.assertNotIn("RUNPATH", dyn, f)

    def qmp(self, qemu, commands, extra=(), machine="none"):
        """Run @qemu with QMP on stdio, send @commands then quit: the replies.

        @machine None: @extra names the machine."""
        text = "".join(json.dumps({"execute": c}) + "\n"
                       for c in ["qmp_capabilities"] + list(commands) + ["quit"])
        args = ["-machine", machine] if machine else []
        p = run([qemu] + args + ["-nodefaults", "-display", "none",
                                 "-vnc", "none", "-S", "-qmp", "stdio"] + list(extra),
                input=text)
        replies = [json.loads(line) for line in p.stdout.splitlines()
                   if line.startswith("{") and '"return"' in line]
        return p, replies

    def test_runs_from_destdir_with_its_keymap(self):
        # The binary finds share/qemu from its own location (relocatable
        # install): "-vnc none", which libxl always passes, loads en-us.
        p, replies = self.qmp(os.path.join(self.root, "bin/qemu-system-i386"), [])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(replies), 2, p.stdout + p.stderr)
        # Without its data directory it cannot: the test above means something.
        bare = tempfile.mkdtemp(prefix="xen-pv-install-bare.")
        try:
            os.makedirs(os.path.join(bare, "bin"))
            shutil.copy(os.path.join(self.root, "bin/qemu-system-x86_64"),
                        os.path.join(bare, "bin"))
            p, _ = self.qmp(os.path.join(bare, "bin/qemu-system-x86_64"), [])
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("keymap", p.stderr)
        finally:
            shutil.rmtree(bare)

    def test_what_libxl_asks(self):
        qemu = os.path.join(self.root, "bin/qemu-system-i386")
        machines = run([qemu, "-machine", "help"]).stdout
        for m in ("xenpv", "xenfv"):
            self.assertRegex(machines, r"(?m)^%s\s" % m)
        helptext = run([qemu, "-help"]).stdout
        for opt in ("-xen-domid", "-xen-attach", "-daemonize", "-pidfile",
                    "-run-with", "-no-user-config", "-nodefaults"):
            self.assertRegex(helptext, r"(?m)^%s(\s|$)" % opt)
        devices = run([qemu, "-device", "help"]).stdout
        for d in ("xen-disk", "xen-cdrom", "xen-net-device"):
            self.assertIn('"%s"' % d, devices)
        # libxl (4.20 on) runs -run-with chroot=...,user=... when the probe
        # finds both, the removed -chroot/-runas otherwise.
        p, replies = self.qmp(qemu, ["query-command-line-options"])
        self.assertEqual(p.returncode, 0, p.stderr)
        opts = {o["option"]: {q["name"] for q in o["parameters"]}
                for o in replies[1]["return"]}
        self.assertIn("run-with", opts)
        self.assertLessEqual({"chroot", "user"}, opts["run-with"])

    # What libxl 4.17 (tools/libs/light/libxl_dm.c) puts on an HVM guest's
    # command line for its emulated devices: with xl.cfg's defaults (a cirrus
    # card, an rtl8139 beside the vif, IDE disks and cdrom, boot order cda)
    # and with the other settings operators use (vga="stdvga", model=e1000,
    # hdtype="ahci", an "sd" disk, usb/usbdevice, usbversion=2 and 3, serial,
    # vendor_device="xenserver").  The machine is pc-i440fx-3.1 under TCG:
    # xenfv (xenfv-3.1) is that machine on Xen, which needs a Xen host, plus
    # the Xen platform device.  The NIC's netdev is "user", as libxl's tap
    # (ifname=vif<domid>.<devid>-emu) exists only on a Xen host.
    HVM_GUESTS = {
        "defaults": [
            "-device", "cirrus-vga,vgamem_mb=8", "-boot", "order=cda",
            "-device", "rtl8139,id=nic0,netdev=net0,mac=00:16:3e:00:00:01",
            "-netdev", "user,id=net0",
            "-drive", "file=%(disk)s,if=ide,index=0,media=disk,format=raw,cache=writeback",
            "-drive", "if=ide,index=2,readonly=on,media=cdrom,id=ide-5632",
        ],
        "stdvga-e1000-ahci-scsi-usb": [
            "-device", "lsi53c895a",
            "-device", "VGA,vgamem_mb=16", "-usb", "-usbdevice", "tablet",
            "-device", "e1000,id=nic0,netdev=net0,mac=00:16:3e:00:00:02",
            "-netdev", "user,id=net0",
            "-device", "ahci,id=ahci0",
            "-drive", "file=%(disk)s,if=none,id=ahcidisk-0,format=raw,cache=writeback",
            "-device", "ide-hd,bus=ahci0.0,unit=0,drive=ahcidisk-0",
            "-drive", "file=%(disk2)s,id=scsi0-hd1,format=raw,if=none,readonly=off,"
            "cache=writeback",
            "-device", "scsi-hd,drive=scsi0-hd1,scsi-id=1",
            "-serial", "pty", "-device", "xen-pvdevice,device-id=0xc000",
        ],
        "usbversion2": [
            "-device", "ich9-usb-ehci1,id=usb,addr=0x1d.0x7,multifunction=on",
            "-device", "ich9-usb-uhci1,masterbus=usb.0,firstport=0,addr=0x1d.0,multifunction=on",
            "-device", "ich9-usb-uhci2,masterbus=usb.0,firstport=2,addr=0x1d.0x1,multifunction=on",
            "-device", "ich9-usb-uhci3,masterbus=usb.0,firstport=4,addr=0x1d.0x2,multifunction=on",
            "-net", "none",
        ],
        "usbversion3": ["-device", "nec-usb-xhci,id=usb", "-net", "none"],
    }
    # PCI vendor:device of what each must show (query-pci).
    HVM_PCI = {
        "defaults": {(0x1013, 0x00b8), (0x10ec, 0x8139), (0x8086, 0x7010)},
        "stdvga-e1000-ahci-scsi-usb": {(0x1234, 0x1111), (0x8086, 0x100e),
                                       (0x8086, 0x2922), (0x1000, 0x0012),
                                       (0x8086, 0x7020), (0x5853, 0xc000)},
        "usbversion2": {(0x8086, 0x293a), (0x8086, 0x2934)},
        "usbversion3": {(0x1033, 0x0194)},
    }

    def test_hvm_guest_devices(self):
        # libxl runs this binary for HVM guests too: each of their emulated
        # devices must exist and find its option ROM (seabios, ipxe-qemu;
        # configure --firmwarepath), or the guest does not start.
        qemu = os.path.join(self.root, "bin/qemu-system-i386")
        images = tempfile.mkdtemp(prefix="xen-pv-hvm-disks.")
        try:
            paths = {}
            for name in ("disk", "disk2"):
                paths[name] = os.path.join(images, name)
                with open(paths[name], "wb") as f:
                    f.truncate(1 << 20)
            # No subTest: pycotap reports a test with subtests as nothing.
            for guest, args in sorted(self.HVM_GUESTS.items()):
                p, replies = self.qmp(qemu, ["query-pci"],
                                      ["-machine", "pc-i440fx-3.1,accel=tcg", "-m", "128",
                                       "-no-user-config"]
                                      + [a % paths for a in args],
                                      machine=None)
                self.assertEqual(p.returncode, 0, "%s: %s" % (guest, p.stderr))
                self.assertEqual(len(replies), 3, "%s: %s" % (guest, p.stdout + p.stderr))
                found = {(d["id"]["vendor"], d["id"]["device"])
                         for bus in replies[1]["return"] for d in bus["devices"]}
                missing = self.HVM_PCI[guest] - found
                self.assertFalse(missing, "%s: %s not in %s" % (guest, missing, found))
        finally:
            shutil.rmtree(images)
        # pci=[...]: libxl hot-plugs it over QMP, on Xen only
        self.assertIn('"xen-pci-passthrough"', run([qemu, "-device", "help"]).stdout)


class PackageTest(unittest.TestCase):
    """The packages of make deb."""

    def contents(self, path):
        out = run(["dpkg-deb", "-c", path])
        self.assertEqual(out.returncode, 0, out.stderr)
        entries = {}
        for line in out.stdout.splitlines():
            parts = line.split(None, 5)
            name = parts[5]
            target = None
            if " -> " in name:
                name, target = name.split(" -> ", 1)
            entries[name.lstrip(".")] = (parts[0], target)
        return entries

    def control(self, path, member):
        out = run(["dpkg-deb", "-I", path, member])
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def test_main_package_files(self):
        c = self.contents(deb("xen-pv-qemu"))
        mode, target = c[DEBIAN_DM]
        self.assertTrue(mode.startswith("l"), DEBIAN_DM)
        self.assertEqual(os.path.normpath(os.path.join(os.path.dirname(DEBIAN_DM), target)),
                         PREFIX + "/bin/qemu-system-i386")
        for f in ("/bin/qemu-system-x86_64", "/bin/qemu-img",
                  "/share/qemu/keymaps/en-us"):
            self.assertIn(PREFIX + f, c)
        for f in ("/usr/share/doc/xen-pv-qemu/copyright",
                  "/usr/share/doc/xen-pv-qemu/changelog.gz"):
            self.assertIn(f, c)
        self.assertTrue(all(not n.startswith("/usr/local") for n in c))

    def test_upstream_xen_package_files(self):
        c = self.contents(deb("xen-pv-qemu-upstream-xen"))
        mode, target = c[XEN_DM]
        self.assertEqual(os.path.normpath(os.path.join(os.path.dirname(XEN_DM), target)),
                         PREFIX + "/bin/qemu-system-i386")
        fields = run(["dpkg-deb", "-f", deb("xen-pv-qemu-upstream-xen"), "Depends"]).stdout
        self.assertIn("xen-pv-qemu (= ", fields)

    def test_diversions_in_maintainer_scripts(self):
        for name, path in (("xen-pv-qemu", DEBIAN_DM), ("xen-pv-qemu-upstream-xen", XEN_DM)):
            pre = self.control(deb(name), "preinst")
            post = self.control(deb(name), "postrm")
            div = "--divert %s.distrib %s" % (path, path)
            self.assertIn("dpkg-divert --package %s --add --rename %s" % (name, div), pre)
            self.assertIn("dpkg-divert --package %s --remove --rename %s" % (name, div), post)

    def test_dependencies_from_shlibdeps(self):
        fields = run(["dpkg-deb", "-f", deb("xen-pv-qemu"), "Depends", "Built-Using",
                      "Version"]).stdout
        for lib in ("libc6", "libglib2.0-0", "libxenstore4", "libxengnttab1",
                    "libxenevtchn1"):
            self.assertIn(lib + " (>= ", fields)
        self.assertIn("Built-Using: qemu (= ", fields)
        # The HVM devices' option ROMs (test_hvm_guest_devices)
        recommends = run(["dpkg-deb", "-f", deb("xen-pv-qemu"), "Recommends"]).stdout
        self.assertEqual(recommends.strip(), "seabios, ipxe-qemu")

    def test_lintian_reports_no_error(self):
        if not shutil.which("lintian"):
            self.skipTest("lintian is not installed (scripts/install-deps.sh)")
        p = run(["lintian", "--fail-on", "error", deb("xen-pv-qemu"),
                 deb("xen-pv-qemu-upstream-xen")])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout, r"(?m)^E: ")


class DpkgRoundTripTest(unittest.TestCase):
    """dpkg -i, -r, -P of the package in a scratch root."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="xen-pv-dpkg-root.")
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers",
                  "usr/libexec"):
            os.makedirs(os.path.join(self.root, d))
        open(os.path.join(self.root, "var/lib/dpkg/status"), "w").close()
        # The host's own diversions must not move (see dpkg()).
        self.host_diversions = run(["dpkg-divert", "--list"]).stdout

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)
        self.assertEqual(run(["dpkg-divert", "--list"]).stdout, self.host_diversions,
                         "the host's diversions changed")

    def dpkg(self, *args):
        # Chrootless: the scratch root has no shell; dpkg passes DPKG_ROOT
        # and DPKG_ADMINDIR to the maintainer scripts, and dpkg-divert
        # follows them.  The libraries are the host's (--force-depends).
        env = dict(os.environ)
        env.pop("DPKG_ROOT", None)
        env.pop("DPKG_ADMINDIR", None)
        p = run(["dpkg", "--root=" + self.root, "--force-script-chrootless",
                 "--force-depends"] + list(args), env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def path(self, p):
        return self.root + p

    def diversions(self):
        return run(["dpkg-divert", "--admindir", self.path("/var/lib/dpkg"), "--list"]).stdout

    def test_previous_binary_set_aside_and_given_back(self):
        with open(self.path(DEBIAN_DM), "w") as f:
            f.write("previous device model\n")
        self.dpkg("-i", deb("xen-pv-qemu"))
        self.assertEqual(os.path.realpath(self.path(DEBIAN_DM)),
                         self.path(PREFIX + "/bin/qemu-system-x86_64"))
        with open(self.path(DEBIAN_DM + ".distrib")) as f:
            self.assertEqual(f.read(), "previous device model\n")
        self.assertIn("diversion of %s to %s.distrib by xen-pv-qemu" % (DEBIAN_DM, DEBIAN_DM),
                      self.diversions())
        self.dpkg("-r", "xen-pv-qemu")
        with open(self.path(DEBIAN_DM)) as f:
            self.assertEqual(f.read(), "previous device model\n")
        self.assertFalse(os.path.lexists(self.path(DEBIAN_DM + ".distrib")))
        self.assertFalse(os.path.exists(self.path(PREFIX)))
        self.assertEqual(self.diversions(), "")
        self.dpkg("-P", "xen-pv-qemu")

    def test_nothing_before_nothing_after(self):
        self.dpkg("-i", deb("xen-pv-qemu"), deb("xen-pv-qemu-upstream-xen"))
        self.assertEqual(os.path.realpath(self.path(XEN_DM)),
                         self.path(PREFIX + "/bin/qemu-system-x86_64"))
        self.assertEqual(len(self.diversions().splitlines()), 2)
        # Purge straight away: postrm remove, then purge.
        self.dpkg("-P", "xen-pv-qemu-upstream-xen", "xen-pv-qemu")
        for p in (DEBIAN_DM, XEN_DM, DEBIAN_DM + ".distrib", XEN_DM + ".distrib", PREFIX):
            self.assertFalse(os.path.lexists(self.path(p)), p)
        self.assertEqual(self.diversions(), "")


if __name__ == "__main__":
    import pycotap
    unittest.main(testRunner=pycotap.TAPTestRunner(
        message_log=pycotap.LogMode.LogToError,
        test_output_log=pycotap.LogMode.LogToError), verbosity=0)
