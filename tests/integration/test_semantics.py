"""The examples in docs/SEMANTICS.md, executed. Each test names the example it checks; if you
change one, change the other. TTLs are shortened with -o so the examples run in seconds."""

import errno
import os
import subprocess
import time
import unittest

from tests.integration.harness import MountTestCase

TUTORIAL = "Globus Tutorial Collection 1"
TTL = 2  # seconds, for dir/attr/entry
NEG_TTL = 1


def read(path):
    with open(path) as f:
        return f.read()


class SemanticsDocTests(MountTestCase):
    mount_args = ("-o", f"dir_ttl={TTL}", "-o", f"attr_ttl={TTL}", "-o", f"entry_ttl={TTL}",
                  "-o", f"negative_ttl={NEG_TTL}")

    @classmethod
    def populate(cls):
        cls.root = os.path.join(cls.sim.root(TUTORIAL), "sem")
        # One directory per example, so no example sees another's cached listing.
        for n in range(1, 7):
            os.makedirs(os.path.join(cls.root, f"e{n}"), exist_ok=True)

    def m(self, *parts):
        return os.path.join(self.mount.path, TUTORIAL, "sem", *parts)

    def remote(self, *parts):
        return os.path.join(self.root, *parts)

    def write_remote(self, name, data):
        with open(self.remote(name), "w") as f:
            f.write(data)

    def test_example_1_repeat_within_ttl_makes_no_call(self):
        """Example 1: a repeated `ls -l` within the TTL makes no API call."""
        self.write_remote("e1/a.txt", "one")
        subprocess.run(["ls", "-l", self.m("e1")], check=True, capture_output=True, timeout=30)
        self.sim.reset_stats()
        subprocess.run(["ls", "-l", self.m("e1")], check=True, capture_output=True, timeout=30)
        self.assertEqual(self.sim.api_calls(), 0)

    def test_example_2_remote_change_visible_after_attr_ttl(self):
        """Example 2: a file changed elsewhere shows its new size after at most attr_ttl."""
        self.write_remote("e2/f.txt", "short")
        self.assertEqual(os.stat(self.m("e2/f.txt")).st_size, 5)
        self.write_remote("e2/f.txt", "much longer now")
        # Within the TTL the old size may still be served; after it, the new one must be.
        time.sleep(TTL + 0.5)
        self.assertEqual(os.stat(self.m("e2/f.txt")).st_size, 15)
        with open(self.m("e2/f.txt")) as f:
            self.assertEqual(f.read(), "much longer now")

    def test_example_3_new_file_visible_after_negative_ttl(self):
        """Example 3: a name looked up while missing appears after at most negative_ttl."""
        with self.assertRaises(FileNotFoundError):
            os.stat(self.m("e3/f.txt"))
        self.write_remote("e3/f.txt", "now here")
        time.sleep(max(NEG_TTL, TTL) + 0.5)
        self.assertEqual(os.stat(self.m("e3/f.txt")).st_size, 8)
        self.assertIn("f.txt", os.listdir(self.m("e3")))

    def test_example_4_drop_caches_makes_changes_visible_at_once(self):
        """Example 4: `globus-fuse drop-caches PATH` forgets what is cached under PATH."""
        self.write_remote("e4/f.txt", "v1")
        self.assertEqual(os.stat(self.m("e4/f.txt")).st_size, 2)
        os.listdir(self.m("e4"))
        self.write_remote("e4/f.txt", "version 2")
        self.write_remote("e4/new.txt", "x")
        subprocess.run([self.mount_binary(), "drop-caches", self.m("e4")], env=self.env,
                       check=True, capture_output=True, timeout=30)
        self.assertEqual(os.stat(self.m("e4/f.txt")).st_size, 9)
        self.assertIn("new.txt", os.listdir(self.m("e4")))

    def test_example_5_changed_during_read_is_estale_not_mixed(self):
        """Example 5: a file replaced remotely while open gives ESTALE, never mixed bytes."""
        big = self.remote("e5/f.bin")
        with open(big, "wb") as f:
            f.write(b"A" * (8 << 20))
        time.sleep(TTL + 0.5)  # let any cached attributes of an earlier run expire
        with open(self.m("e5/f.bin"), "rb") as f:
            first = f.read(1 << 20)
            self.assertEqual(set(first), {ord("A")})
            with open(big + ".tmp", "wb") as g:
                g.write(b"B" * (9 << 20))
            os.rename(big + ".tmp", big)
            f.seek(6 << 20)  # beyond anything read ahead so far
            try:
                rest = f.read(1 << 20)
            except OSError as e:
                self.assertIn(e.errno, (errno.ESTALE, errno.EIO))
            else:
                # Bytes that were already fetched before the change are the old version's.
                self.assertEqual(set(rest), {ord("A")})

    def test_example_6_writes_are_uploaded_at_fsync_and_close_never_half_written(self):
        """Example 6: written files are uploaded whole at fsync and close; a replaced file is
        never half-written at its name."""
        os.makedirs(os.path.dirname(self.remote("e6/f.txt")), exist_ok=True)
        with open(self.remote("e6/f.txt"), "w") as f:
            f.write("old version\n")
        with open(self.m("e6/f.txt"), "w") as f:
            f.write("new ")
            f.flush()
            self.assertEqual(read(self.remote("e6/f.txt")), "old version\n")  # not yet
            f.write("version\n")
            f.flush()
            os.fsync(f.fileno())
            self.assertEqual(read(self.remote("e6/f.txt")), "new version\n")  # fsync: there
            f.write("and more\n")
        self.assertEqual(read(self.remote("e6/f.txt")), "new version\nand more\n")  # close
        self.assertEqual(os.listdir(os.path.dirname(self.remote("e6/f.txt"))), ["f.txt"])

    def mount_binary(self):
        from tests.integration.harness import BINARY
        return BINARY


if __name__ == "__main__":
    unittest.main()
