"""Ordinary tools on a real mount, compared with the collection's backing folder: tar, cp -a,
rsync, pread/mmap, symlinks, xattrs, and the clear errors of what the mount does not do yet."""

import errno
import hashlib
import json
import mmap
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import unittest

from tests.integration.harness import (BINARY, Mount, MountTestCase, SimTestCase,
                                       default_sigint, wait_for)

TUTORIAL = "Globus Tutorial Collection 1"
PART = 64 << 10  # read_part_size below: files of exactly 2 parts, and one byte more


def pattern(n, seed):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kw)


class ToolsTests(MountTestCase):
    mount_args = ("-o", f"read_part_size={PART // 1024}K")

    @classmethod
    def populate(cls):
        cls.backing = os.path.join(cls.sim.root(TUTORIAL), "tools")
        b = cls.backing
        os.makedirs(os.path.join(b, "sub", "deeper"), exist_ok=True)
        os.makedirs(os.path.join(b, "empty dir"), exist_ok=True)
        files = {"two-parts.bin": pattern(2 * PART, 1), "two-parts-plus.bin": pattern(2 * PART + 1, 2),
                 "empty.txt": b"", "sub/a #%?.txt": b"odd name\n", "sub/deeper/-dash": b"dash\n",
                 "ünï.txt": b"u\n"}
        for name, data in files.items():
            with open(os.path.join(b, name), "wb") as f:
                f.write(data)
        os.chmod(os.path.join(b, "two-parts.bin"), 0o600)
        os.utime(os.path.join(b, "two-parts-plus.bin"), (1577934245, 1577934245))
        c = sqlite3.connect(os.path.join(b, "sub", "t.sqlite"))
        with c:
            c.execute("create table t(x)")
            c.executemany("insert into t values (?)", [(i,) for i in range(500)])
        c.close()
        if shutil.which("git"):
            repo = os.path.join(b, "repo")
            os.makedirs(repo)
            with open(os.path.join(repo, "a.txt"), "w") as f:
                f.write("a\n")
            for args in (["init", "-q"], ["add", "a.txt"], ["commit", "-q", "-m", "first"]):
                subprocess.run(["git", "-C", repo, *args], env=cls.git_env(), check=True,
                               capture_output=True, timeout=60)
        os.symlink("two-parts.bin", os.path.join(b, "rel-link"))
        # Absolute targets are paths in the collection: shown relative to the link.
        os.symlink("/tools/two-parts.bin", os.path.join(b, "abs-link"))
        os.symlink("/tools/ünï.txt", os.path.join(b, "sub", "deeper", "abs-link"))

    @classmethod
    def git_env(cls):
        return dict(os.environ, HOME=cls.sim.state, GIT_CONFIG_NOSYSTEM="1",
                    GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@example.org",
                    GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@example.org")

    def m(self, *parts):
        return self.path(TUTORIAL, "tools", *parts)

    def rw(self):
        """A fresh folder beside the tree (which the whole-tree tests compare): (backing, mount)."""
        name = f"tools-rw-{self._testMethodName}"
        os.makedirs(os.path.join(self.sim.root(TUTORIAL), name), exist_ok=True)
        return os.path.join(self.sim.root(TUTORIAL), name), self.path(TUTORIAL, name)

    def local_dir(self):
        d = tempfile.mkdtemp(prefix="gf-tools-", dir=self.sim.state)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    # --- whole-tree tools ----------------------------------------------------------------------
    def members(self, archive):
        out = {}
        with tarfile.open(archive) as t:
            for i in t.getmembers():
                data = t.extractfile(i).read() if i.isfile() else None
                out[i.name] = (i.type, i.size, i.mode, int(i.mtime), i.linkname, data)
        return out

    def test_tar_of_the_mount_matches_the_collection(self):
        d = self.local_dir()
        r = run("tar", "-C", self.m(), "-cf", os.path.join(d, "m.tar"), ".")
        self.assertEqual(r.returncode, 0, r.stderr)
        run("tar", "-C", self.backing, "-cf", os.path.join(d, "b.tar"), ".")
        got, want = self.members(os.path.join(d, "m.tar")), self.members(os.path.join(d, "b.tar"))
        want["./abs-link"] = want["./abs-link"][:4] + ("../tools/two-parts.bin", None)
        want["./sub/deeper/abs-link"] = want["./sub/deeper/abs-link"][:4] + (
            "../../../tools/ünï.txt", None)
        for name in want:
            if want[name][0] == tarfile.DIRTYPE:  # a directory's mtime and size are its own
                want[name] = want[name][:1] + got.get(name, (None,) * 6)[1:]
        self.assertEqual(got, want)

    def test_cp_a_and_rsync_keep_modes_mtimes_and_bytes(self):
        d = self.local_dir()
        tools = [["cp", "-a", self.m(), os.path.join(d, "cp")]]
        if shutil.which("rsync"):
            tools.append(["rsync", "-a", self.m() + "/", os.path.join(d, "rsync")])
        for cmd in tools:
            r = run(*cmd)
            self.assertEqual(r.returncode, 0, (cmd, r.stderr))
            top = cmd[-1]
            for name in ("two-parts.bin", "two-parts-plus.bin", "empty.txt", "sub/a #%?.txt"):
                got, want = os.stat(os.path.join(top, name)), os.stat(os.path.join(self.backing, name))
                self.assertEqual((stat.S_IMODE(got.st_mode), got.st_size, int(got.st_mtime)),
                                 (stat.S_IMODE(want.st_mode), want.st_size, int(want.st_mtime)),
                                 (cmd[0], name))
                with open(os.path.join(top, name), "rb") as a, \
                        open(os.path.join(self.backing, name), "rb") as b:
                    self.assertEqual(a.read(), b.read(), (cmd[0], name))
            self.assertEqual(os.readlink(os.path.join(top, "abs-link")), "../tools/two-parts.bin")

    # --- reads ---------------------------------------------------------------------------------
    def test_pread_at_part_edges_and_mmap(self):
        for name in ("two-parts.bin", "two-parts-plus.bin"):
            with open(os.path.join(self.backing, name), "rb") as f:
                want = f.read()
            fd = os.open(self.m(name), os.O_RDONLY)
            try:
                for off in (0, 1, PART - 1, PART, PART + 1, 2 * PART - 3, 2 * PART, len(want) + 9):
                    for n in (1, 7, 4097, PART + 3):
                        self.assertEqual(os.pread(fd, n, off), want[off:off + n], (name, off, n))
                with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
                    self.assertEqual(mm[:], want, name)
            finally:
                os.close(fd)

    def test_read_write_open_reads_the_content_and_writes_in_place(self):
        """O_RDWR (sqlite, HDF5 r+) sees the bytes; a write changes just its bytes at close."""
        with open(os.path.join(self.backing, "two-parts-plus.bin"), "rb") as f:
            want = f.read()
        bd, md = self.rw()
        shutil.copyfile(os.path.join(self.backing, "two-parts-plus.bin"), os.path.join(bd, "rw.bin"))
        fd = os.open(os.path.join(md, "rw.bin"), os.O_RDWR)
        try:
            self.assertEqual(os.pread(fd, 1000, PART - 10), want[PART - 10:PART + 990])
            os.pwrite(fd, b"x", 0)
            self.assertEqual(os.pread(fd, 2, 0), b"x" + want[1:2])
        finally:
            os.close(fd)
        with open(os.path.join(bd, "rw.bin"), "rb") as f:
            self.assertEqual(f.read(), b"x" + want[1:])

    def test_sqlite_queries_and_changes_a_database(self):
        """sqlite opens O_RDWR: it sees the tables, and a transaction reaches the collection."""
        bd, md = self.rw()
        db = os.path.join(bd, "t.sqlite")
        shutil.copyfile(os.path.join(self.backing, "sub", "t.sqlite"), db)
        c = sqlite3.connect(os.path.join(md, "t.sqlite"))
        try:
            self.assertEqual(c.execute("select count(*), sum(x) from t").fetchone(), (500, 124750))
            c.execute("insert into t values (1000)")
            c.commit()
        finally:
            c.close()
        # The journal's delete is an HTTPS DELETE (delete_mode=https), done when sqlite's unlink
        # returned: another client never sees a "hot" journal (SEMANTICS, "Writes": sqlite).
        self.assertFalse(os.path.exists(db + "-journal"))
        b = sqlite3.connect(db)
        try:
            self.assertEqual(b.execute("select count(*), sum(x) from t").fetchone(),
                             (501, 125750))
        finally:
            b.close()
        # The rollback journal was created, uploaded at sqlite's fsync and deleted again.
        self.assertEqual(sorted(n for n in os.listdir(md) if "sqlite" in n), ["t.sqlite"])

    def test_git_reads_a_repository(self):
        """git status takes .git/index.lock (O_RDWR|O_EXCL): refused up front, it goes on
        read-only instead of failing at the lock's first write."""
        if not shutil.which("git"):
            self.skipTest("git is not installed")
        env = self.git_env()
        r = run("git", "-C", self.m("repo"), "log", "--format=%s", env=env)
        self.assertEqual((r.returncode, r.stdout), (0, "first\n"), r.stderr)
        r = run("git", "-C", self.m("repo"), "status", "--porcelain", env=env)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.assertNotIn("index.lock", os.listdir(os.path.join(self.backing, "repo", ".git")))

    # --- symlinks and xattrs -------------------------------------------------------------------
    def test_symlink_size_is_what_readlink_returns(self):
        for link in ("rel-link", "abs-link", "sub/deeper/abs-link"):
            target = os.readlink(self.m(link))
            self.assertEqual(os.lstat(self.m(link)).st_size, len(os.fsencode(target)), link)
        self.assertEqual(os.path.realpath(self.m("sub", "deeper", "abs-link")),
                         os.path.realpath(self.m("ünï.txt")))

    def test_getfattr_on_a_symlink_and_through_it(self):
        if not shutil.which("getfattr"):
            self.skipTest("getfattr is not installed (apt-get install attr)")
        r = run("getfattr", "-h", "-d", self.m("rel-link"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        r = run("getfattr", "-d", self.m("rel-link"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('user.globus.path="/tools/two-parts.bin"', r.stdout)

    def test_drop_caches_forgets_a_name_looked_up_while_missing(self):
        """The kernel's negative entry (negative_ttl, 10 s here) goes too: no waiting."""
        with self.assertRaises(FileNotFoundError):
            os.stat(self.m("sub", "late.txt"))
        with open(os.path.join(self.backing, "sub", "late.txt"), "w") as f:
            f.write("late")
        r = run(BINARY, "drop-caches", self.m("sub"), env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(self.m("sub", "late.txt")).st_size, 4)

    # --- what the mount does not do: clear errors, nothing changed ----------------------------
    def test_touch_of_an_existing_file_is_refused_and_changes_nothing(self):
        # (Globus cannot set times; new files and files written through the mount: test_writes.)
        r = run("touch", self.m("two-parts.bin"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Read-only file system", r.stderr)

    def test_other_changes_are_refused_with_clear_errors(self):
        cases = [(lambda: os.symlink("x", self.m("new-link")), errno.EPERM),
                 (lambda: os.mkfifo(self.m("fifo")), errno.EPERM),
                 (lambda: os.link(self.m("empty.txt"), self.m("hard")), errno.EPERM),
                 (lambda: os.chmod(self.m("empty.txt"), 0o600), errno.EROFS)]
        # (rm and rmdir: tests/integration/test_deletes.py; writes and
        # truncate: tests/integration/test_writes.py.)
        for i, (call, want) in enumerate(cases):
            with self.assertRaises(OSError, msg=i) as cm:
                call()
            self.assertEqual(cm.exception.errno, want, i)
        self.assertEqual(sorted(os.listdir(self.backing)), sorted(os.listdir(self.m())))


class InterruptTests(SimTestCase):
    def test_ctrl_c_ends_an_ls_waiting_for_a_login(self):
        """Nobody completes the login (the browser command does nothing): Ctrl-C on the waiting
        `ls` ends it at once instead of after auth_timeout; the flow stays pending."""
        env = dict(self.env, BROWSER="true")
        with Mount(env, "-o", "auth_timeout=600") as m:
            status = os.path.join(m.path, ".globus-fuse", "status")

            def waiters():
                with open(status) as f:
                    pending = json.load(f).get("pending_authorizations", [])
                return sum(p.get("waiters", 0) for p in pending)

            ls = subprocess.Popen(["ls", os.path.join(m.path, "UManitoba Grex HPC")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  preexec_fn=default_sigint)
            try:
                wait_for(lambda: waiters() == 1, 30, "the ls to wait for the login")
                ls.send_signal(signal.SIGINT)
                ls.wait(timeout=60)  # a bound against hanging; the login would wait 600 s
            finally:
                if ls.poll() is None:
                    ls.kill()
            self.assertNotEqual(ls.returncode, 0)
            self.assertEqual(waiters(), 0)
            with open(status) as f:
                self.assertIn("Grex", f.read())  # the flow is still there


if __name__ == "__main__":
    unittest.main()
