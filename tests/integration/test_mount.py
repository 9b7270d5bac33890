"""Real FUSE mounts of globus-fuse against globus-sim: layout, metadata, caching, reads, errors."""

import errno
import os
import random
import stat
import subprocess
import time
import unittest

from tests.integration.harness import MountTestCase, SimTestCase, md5_file, run_cli, wait_for

TUTORIAL = "Globus Tutorial Collection 1"
GREX = "UManitoba Grex HPC"


def tree(top):
    """{relative path: (type, size, mtime)} for a local tree (symlinks not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
            out[os.path.relpath(p, top)] = (kind, st.st_size if kind == "f" else None,
                                            int(st.st_mtime))
    return out


class LayoutTests(MountTestCase):
    def test_root_shows_each_collection_as_a_directory(self):
        names = os.listdir(self.mnt)
        self.assertIn(GREX, names)
        self.assertIn(TUTORIAL, names)
        for n in (GREX, TUTORIAL):
            self.assertTrue(stat.S_ISDIR(os.stat(os.path.join(self.mnt, n)).st_mode))

    def test_endpoints_that_hold_no_data_are_not_collections(self):
        for c in self.sim.info["collections"]:
            if c["entity_type"] == "GCSv5_endpoint":
                self.assertNotIn(c["display_name"], os.listdir(self.mnt))

    def test_by_id_reaches_any_collection(self):
        cid = self.sim.collection(TUTORIAL)["id"]
        self.assertTrue(os.path.isdir(os.path.join(self.mnt, ".by-id", cid)))

    def test_collection_has_home_entry(self):
        self.assertIn("~", os.listdir(self.path(TUTORIAL)))


class MetadataTests(MountTestCase):
    NAMES = ["with space.txt", "ünïcødé-ファイル.txt", "hash#tag.txt", "100%.txt", "what?.txt",
             "-leading-dash.txt", "--double.txt", "plus+and&amp.txt"]

    @classmethod
    def populate(cls):
        root = cls.sim.root(TUTORIAL)
        base = os.path.join(root, "meta")
        os.makedirs(os.path.join(base, "a", "b", "c"), exist_ok=True)
        for i, d in enumerate(["", "a", "a/b", "a/b/c"]):
            for j in range(3):
                with open(os.path.join(base, d, f"f{i}{j}.dat"), "wb") as f:
                    f.write(os.urandom(1000 * (i + 1) + j))
        special = os.path.join(root, "special")
        os.makedirs(special, exist_ok=True)
        for n in cls.NAMES:
            with open(os.path.join(special, n), "w") as f:
                f.write(n)
        os.symlink("f00.dat", os.path.join(base, "link-to-f00"))
        os.symlink("does-not-exist", os.path.join(base, "dangling"))

    def test_tree_matches_backing_folder(self):
        local = tree(os.path.join(self.sim.root(TUTORIAL), "meta"))
        mounted = tree(self.path(TUTORIAL, "meta"))
        self.assertEqual(set(local), set(mounted))
        for k, (kind, size, mtime) in local.items():
            self.assertEqual(mounted[k][0], kind, k)
            if kind == "f":
                self.assertEqual(mounted[k][1], size, k)
                self.assertEqual(mounted[k][2], mtime, k)

    def test_find_and_du_work(self):
        out = subprocess.run(["find", self.path(TUTORIAL, "meta"), "-type", "f"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        self.assertEqual(len(out.split("\n")) - 1, 12)
        du = subprocess.run(["du", "-sb", self.path(TUTORIAL, "meta")], capture_output=True,
                            text=True, timeout=60, check=True).stdout
        self.assertGreater(int(du.split()[0]), 0)

    def test_blocks_are_consistent_with_size(self):
        for name in os.listdir(self.path(TUTORIAL, "meta")):
            st = os.lstat(self.path(TUTORIAL, "meta", name))
            if stat.S_ISREG(st.st_mode):
                self.assertGreaterEqual(st.st_blocks * 512, st.st_size, name)

    def test_owner_is_the_mounting_user(self):
        st = os.stat(self.path(TUTORIAL, "meta", "f00.dat"))
        self.assertEqual(st.st_uid, os.getuid())
        self.assertEqual(st.st_gid, os.getgid())

    def test_special_names_round_trip(self):
        self.assertEqual(sorted(os.listdir(self.path(TUTORIAL, "special"))), sorted(self.NAMES))
        for n in self.NAMES:
            with open(self.path(TUTORIAL, "special", n)) as f:
                self.assertEqual(f.read(), n)

    def test_symlinks(self):
        self.assertEqual(os.readlink(self.path(TUTORIAL, "meta", "link-to-f00")), "f00.dat")
        self.assertEqual(os.readlink(self.path(TUTORIAL, "meta", "dangling")), "does-not-exist")
        self.assertFalse(os.path.exists(self.path(TUTORIAL, "meta", "dangling")))

    def test_missing_path_is_enoent(self):
        with self.assertRaises(FileNotFoundError):
            os.stat(self.path(TUTORIAL, "meta", "no-such-file"))

    def test_extended_attributes(self):
        p = self.path(TUTORIAL, "meta", "f00.dat")
        cid = self.sim.collection(TUTORIAL)["id"]
        self.assertEqual(os.getxattr(p, "user.globus.collection_id").decode(), cid)
        self.assertEqual(os.getxattr(p, "user.globus.path").decode(), "/meta/f00.dat")
        url = os.getxattr(p, "user.globus.https_url").decode()
        self.assertTrue(url.startswith(self.sim.collection(TUTORIAL)["https_server"]), url)
        self.assertIn("user.globus.collection_id", os.listxattr(p))

    def test_second_listing_within_ttl_makes_no_api_call(self):
        d = self.path(TUTORIAL, "meta", "a")
        subprocess.run(["ls", "-l", d], check=True, capture_output=True, timeout=30)
        self.sim.reset_stats()
        subprocess.run(["ls", "-l", d], check=True, capture_output=True, timeout=30)
        self.assertEqual(self.sim.count("ls"), 0)
        self.assertEqual(self.sim.count("stat"), 0)

    def test_missing_file_twice_makes_one_call(self):
        p = self.path(TUTORIAL, "meta", "a", "b", "never-there-%d" % random.randrange(1 << 30))
        self.sim.reset_stats()
        for _ in range(2):
            with self.assertRaises(FileNotFoundError):
                os.stat(p)
        self.assertLessEqual(self.sim.count("ls") + self.sim.count("stat"), 1)


class ReadTests(MountTestCase):
    BIG_MB = int(os.environ.get("GF_TEST_BIG_MB", "1024"))

    @classmethod
    def populate(cls):
        root = cls.sim.root(TUTORIAL)
        os.makedirs(os.path.join(root, "data"), exist_ok=True)
        cls.big = os.path.join(root, "data", "big.bin")
        block = os.urandom(1 << 20)
        with open(cls.big, "wb") as f:
            for i in range(cls.BIG_MB):
                # Vary each MiB so misplaced ranges change the checksum.
                f.write(i.to_bytes(8, "little") + block[8:])
        cls.small = os.path.join(root, "data", "small.txt")
        with open(cls.small, "w") as f:
            f.write("hello, globus\n")

    def test_small_file(self):
        with open(self.path(TUTORIAL, "data", "small.txt")) as f:
            self.assertEqual(f.read(), "hello, globus\n")

    def test_sequential_read_checksum(self):
        self.assertEqual(md5_file(self.path(TUTORIAL, "data", "big.bin")), md5_file(self.big))

    def test_random_reads_at_odd_offsets(self):
        size = os.path.getsize(self.big)
        rng = random.Random(7)
        with open(self.big, "rb") as local, open(self.path(TUTORIAL, "data", "big.bin"), "rb") as m:
            for _ in range(40):
                off = rng.randrange(0, size)
                n = rng.choice([1, 17, 4095, 4097, 65537, 1 << 20])
                local.seek(off)
                m.seek(off)
                self.assertEqual(m.read(n), local.read(n), f"offset {off} length {n}")

    def test_read_past_end(self):
        with open(self.path(TUTORIAL, "data", "small.txt"), "rb") as f:
            f.seek(1000)
            self.assertEqual(f.read(10), b"")

    def test_reads_under_home_use_the_absolute_path_the_service_gives(self):
        # A collection whose HTTPS server does not expand "~" (UNVERIFIED for real servers),
        # but whose ls says where "~" is (absolute_path, as some GCSv5 collections do).
        t2 = self.sim.collection("Globus Tutorial Collection 2")
        knobs = lambda **kw: self.sim.control("POST", "config", {"collections": {t2["id"]: kw}})
        knobs(absolute_paths=True, https_tilde=False)
        self.addCleanup(knobs, absolute_paths=False, https_tilde=True)
        local = os.path.join(t2["root"], "home", "alice", "notes", "n.txt")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "w") as f:
            f.write("under home\n")
        p = self.path("Globus Tutorial Collection 2", "~", "notes", "n.txt")
        with open(p) as f:
            self.assertEqual(f.read(), "under home\n")
        url = os.getxattr(p, "user.globus.https_url").decode()
        self.assertTrue(url.endswith("/home/alice/notes/n.txt"), url)
        self.assertIn("~ is /home/alice", self.mount.output())

    def test_collection_without_https_fails_clearly(self):
        gcp = next(c for c in self.sim.info["collections"] if c["https_server"] is None
                   and c["entity_type"] != "GCSv5_endpoint")
        with open(os.path.join(gcp["root"], "note.txt"), "w") as f:
            f.write("no https here")
        p = self.path(gcp["display_name"], "note.txt")
        self.assertTrue(os.path.exists(p))  # it lists fine
        with self.assertRaises(OSError) as cm:
            open(p).read()
        self.assertIn(cm.exception.errno, (errno.EOPNOTSUPP, errno.ENXIO, errno.EACCES))
        wait_for(lambda: "HTTPS" in self.mount.output() or "https" in self.mount.output(), 5,
                 "a log line explaining the missing HTTPS server")


class LargeDirectoryTests(MountTestCase):
    ENTRIES = 100000

    @classmethod
    def populate(cls):
        d = os.path.join(cls.sim.root(TUTORIAL), "big-dir")
        os.makedirs(d, exist_ok=True)
        for i in range(cls.ENTRIES):
            os.close(os.open(os.path.join(d, f"e{i:06d}"), os.O_CREAT | os.O_WRONLY, 0o644))

    def test_100k_entry_directory_lists_completely(self):
        names = os.listdir(self.path(TUTORIAL, "big-dir"))
        self.assertEqual(len(names), self.ENTRIES)
        self.assertEqual(sorted(names)[:2], ["e000000", "e000001"])
        # And a lookup inside it is answered without listing it again.
        self.sim.reset_stats()
        os.stat(self.path(TUTORIAL, "big-dir", "e099999"))
        self.assertEqual(self.sim.count("ls"), 0)


class FaultTests(MountTestCase):
    """The sim's fault injection: the mount retries what is retryable, fails the rest clearly,
    and never hangs or crashes."""

    @classmethod
    def populate(cls):
        root = cls.sim.root(TUTORIAL)
        for i in range(6):
            os.makedirs(os.path.join(root, "faults", f"d{i}"), exist_ok=True)
            with open(os.path.join(root, "faults", f"d{i}", "f.txt"), "w") as f:
                f.write(f"content {i}\n")
        with open(os.path.join(root, "faults", "blob.bin"), "wb") as f:
            f.write(os.urandom(8 << 20))

    def tearDown(self):
        self.sim.clear_faults()

    def listdir(self, *parts):
        return subprocess.run(["ls", self.path(TUTORIAL, "faults", *parts)], capture_output=True,
                              text=True, timeout=60)

    def test_5xx_is_retried(self):
        self.sim.reset_stats()
        self.sim.fault("ls", "status", status=503, count=2)
        p = self.listdir("d0")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("f.txt", p.stdout)
        self.assertEqual(self.sim.count("ls"), 3)  # two 503s, then the answer

    def test_429_with_retry_after_is_honoured(self):
        self.sim.fault("ls", "status", status=429, retry_after=1, count=1)
        p = self.listdir("d1")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_external_error_is_not_retried_and_fails(self):
        self.sim.reset_stats()
        self.sim.fault("ls", "status", status=502, code="ExternalError.DirListingFailed",
                       count=1)
        p = self.listdir("d2")
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.sim.count("ls"), 1)  # never retried (the SDK's policy)
        # The next attempt (no fault left) succeeds: the error was not cached as an entry.
        p = self.listdir("d2")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_malformed_body_is_retried(self):
        self.sim.reset_stats()
        self.sim.fault("ls", "malformed", count=2)
        p = self.listdir("d3")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("f.txt", p.stdout)
        self.assertEqual(self.sim.count("ls"), 3)  # two unreadable answers, then the listing

    def test_reset_mid_body_resumes_the_read(self):
        self.sim.reset_stats()
        self.sim.fault("https_get", "reset", after_bytes=1 << 20, count=1)
        local = os.path.join(self.sim.root(TUTORIAL), "faults", "blob.bin")
        self.assertEqual(md5_file(self.path(TUTORIAL, "faults", "blob.bin")), md5_file(local))
        self.assertGreaterEqual(self.sim.count("https_get"), 2)  # the reset one, and a resume

    def test_stalled_body_is_bounded(self):
        self.sim.fault("https_get", "stall", seconds=3, count=1)
        with open(self.path(TUTORIAL, "faults", "d4", "f.txt")) as f:
            self.assertEqual(f.read(), "content 4\n")

    def test_mount_survives_all_of_it(self):
        self.sim.fault("stat", "reset", count=3)
        subprocess.run(["stat", self.path(TUTORIAL, "faults", "d5", "nope")], capture_output=True,
                       timeout=60)
        self.assertIsNone(self.mount.proc.poll(), "the daemon died:\n" + self.mount.output())
        self.assertIn(TUTORIAL, os.listdir(self.mnt))


class OwnershipTests(MountTestCase):
    mount_args = ("--uid", "4321", "--gid", "8765", "--umask", "027")

    @classmethod
    def populate(cls):
        with open(os.path.join(cls.sim.root(TUTORIAL), "owned.txt"), "w") as f:
            f.write("x")
        os.chmod(os.path.join(cls.sim.root(TUTORIAL), "owned.txt"), 0o666)

    def test_uid_gid_umask(self):
        st = os.stat(self.path(TUTORIAL, "owned.txt"))
        self.assertEqual((st.st_uid, st.st_gid), (4321, 8765))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)


class DeadNetworkTests(MountTestCase):
    """The service goes away: errors come within bounded time, and the root still lists."""

    # A shorter retry budget and listing lifetime than the defaults (60 s each): the test shows
    # that the budget bounds a request and that an expired root lists without waiting for it,
    # in a quarter of the time the defaults would take.
    BUDGET, TTL = 15, 10
    mount_args = ("-o", f"retry_budget_seconds={BUDGET}", "-o", f"dir_ttl={TTL}")

    def test_dead_service(self):
        os.listdir(self.mnt)  # resolve the configured collections while the sim is up
        self.sim.proc.kill()
        self.sim.proc.wait(timeout=10)
        t0 = time.monotonic()
        p = subprocess.run(["ls", self.path(TUTORIAL, "never-listed")], capture_output=True,
                           text=True, timeout=120)
        self.assertNotEqual(p.returncode, 0)
        self.assertLess(time.monotonic() - t0, self.BUDGET + 20)
        # By now the bookmarks have expired (dir_ttl): the root still lists, from what the mount
        # has, without waiting out the refresh's retry budget (docs/SEMANTICS.md).
        t0 = time.monotonic()
        self.assertIn(TUTORIAL, os.listdir(self.mnt))
        self.assertLess(time.monotonic() - t0, self.BUDGET / 2)  # a blocked refresh: >= BUDGET


class CliTests(SimTestCase):
    def test_ls_and_stat_subcommands(self):
        root = self.sim.root(TUTORIAL)
        with open(os.path.join(root, "cli.txt"), "w") as f:
            f.write("x" * 42)
        out = run_cli(self.env, "ls", f"{TUTORIAL}:/").stdout
        self.assertIn("cli.txt", out)
        out = run_cli(self.env, "stat", f"{TUTORIAL}:/cli.txt").stdout
        self.assertIn("42", out)

    def test_missing_path_exit_code(self):
        p = run_cli(self.env, "stat", f"{TUTORIAL}:/nope", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)


if __name__ == "__main__":
    unittest.main()
