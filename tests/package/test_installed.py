"""The installed .deb (tests/package/run installs it first): the files where Debian looks for
them, its dependencies, and the installed binary mounting the emulator."""

import os
import shutil
import subprocess
import tempfile
import unittest

from tests.integration.harness import Mount, SimTestCase

BIN = "/usr/bin/globus-fuse"
DEB = os.environ.get("GF_DEB", "")
TUTORIAL = "Globus Tutorial Collection 1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        for line in f:
            if line.startswith("project(globus-fuse VERSION "):
                return line.split()[2]
    raise AssertionError("no version in CMakeLists.txt")


class InstalledFiles(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(BIN):
            self.skipTest("the package is not installed (run tests/package/run)")

    def test_version(self):
        p = subprocess.run([BIN, "--version"], capture_output=True, text=True)
        self.assertEqual(p.stdout, f"globus-fuse {version()}\n")

    def test_files_where_debian_looks(self):
        for path in ("/usr/share/man/man1/globus-fuse.1.gz",
                     "/usr/share/man/man5/globus-fuse.conf.5.gz",
                     "/usr/share/bash-completion/completions/globus-fuse",
                     "/usr/share/zsh/vendor-completions/_globus-fuse",
                     "/usr/lib/systemd/user/globus-fuse@.service"):
            self.assertTrue(os.path.exists(path), path)
        if shutil.which("man"):
            p = subprocess.run(["man", "-w", "globus-fuse"], capture_output=True, text=True)
            self.assertEqual(p.stdout.strip(), "/usr/share/man/man1/globus-fuse.1.gz")
            p = subprocess.run(["man", "-w", "5", "globus-fuse.conf"], capture_output=True,
                               text=True)
            self.assertEqual(p.stdout.strip(), "/usr/share/man/man5/globus-fuse.conf.5.gz")

    def test_depends_covers_every_shared_library(self):
        """A fresh Debian 12 gets every library the binary needs from the declared
        dependencies, and fuse3 (fusermount3, mount.fuse3)."""
        if not DEB:
            self.skipTest("GF_DEB not set")
        depends = subprocess.run(["dpkg-deb", "-f", DEB, "Depends"], capture_output=True,
                                 text=True, check=True).stdout
        declared = {d.split()[0] for d in depends.replace("|", ",").split(",") if d.strip()}
        for want in ("libfuse3-3", "fuse3", "libcurl4"):
            self.assertIn(want, declared)
        # The libraries the binary names itself (DT_NEEDED; theirs are their packages' own
        # dependencies), and where the loader finds them.
        dynamic = subprocess.run(["objdump", "-p", BIN], capture_output=True, text=True,
                                 check=True).stdout
        needed = [ln.split()[1] for ln in dynamic.splitlines() if ln.strip().startswith("NEEDED")]
        self.assertIn("libfuse3.so.3", needed)
        ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True, check=True).stdout
        where = {ln.split("=>")[0].strip(): ln.split("=>")[1].split()[0]
                 for ln in ldd.splitlines() if "=>" in ln and "/" in ln.split("=>")[1]}
        for soname in needed:
            lib = os.path.realpath(where[soname])
            owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
            if owner.returncode != 0:  # /lib vs /usr/lib (merged /usr): ask for the other
                alt = lib[4:] if lib.startswith("/usr/") else "/usr" + lib
                owner = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
            pkg = owner.stdout.split(":")[0]
            self.assertIn(pkg, declared, f"{lib} comes from {pkg}")

    def test_systemd_unit_verifies(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed")
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        instance = os.path.join(d, "globus-fuse@home-alice-globus.service")
        os.symlink("/usr/lib/systemd/user/globus-fuse@.service", instance)
        p = subprocess.run([analyze, "verify", instance], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        p = subprocess.run(["systemd-escape", "--template", "globus-fuse@.service", "--path",
                            "/home/alice/globus"], capture_output=True, text=True)
        self.assertEqual(p.stdout.strip(), "globus-fuse@home-alice-globus.service")


class InstalledMount(SimTestCase):
    def setUp(self):
        if not os.path.exists(BIN):
            self.skipTest("the package is not installed (run tests/package/run)")
        with open(os.path.join(self.sim.root(TUTORIAL), "hello.txt"), "w") as f:
            f.write("installed")

    def test_mount_from_the_installed_binary(self):
        with Mount(self.env) as m:
            with open(os.path.join(m.path, TUTORIAL, "hello.txt")) as f:
                self.assertEqual(f.read(), "installed")

    def test_mount_t_fuse_globus_fuse(self):
        if os.geteuid() != 0:
            self.skipTest("mount(8) needs root here")
        mnt = tempfile.mkdtemp(dir=self.sim.state)
        p = subprocess.run(["mount", "-t", "fuse.globus-fuse", "globus-fuse", mnt, "-o",
                            "entry_ttl=5"], env=self.env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        try:
            with open(os.path.join(mnt, TUTORIAL, "hello.txt")) as f:
                self.assertEqual(f.read(), "installed")
        finally:
            subprocess.run(["umount", mnt], capture_output=True, timeout=30)
        self.assertFalse(os.path.ismount(mnt))


if __name__ == "__main__":
    unittest.main()
