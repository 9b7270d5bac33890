"""cp and mv between mounted collections as server-side Globus transfers (issue 6), on real FUSE
mounts against globus-sim. Every wait is bounded.

The sim's `task_start_delay_seconds` keeps a task ACTIVE long enough to observe the pending
state; `denied_paths` (set after queueing) forces a PERMISSION_DENIED failure.
"""

import errno
import os
import signal
import subprocess
import json

from tests.integration.harness import (Mount, MountTestCase, default_sigint, md5_file,
                                       run_cli, wait_for)

T1 = "Globus Tutorial Collection 1"
T2 = "Globus Tutorial Collection 2"
ALICE = "alice"


def tree_digest(top):
    """{relative path: md5 or 'dir'} of a local folder."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), top)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, top)] = md5_file(p)
    return out


class CopyTestBase(MountTestCase):
    def setUp(self):
        self.tunables(task_start_delay_seconds=0)
        self.deny(T2, [])

    def tunables(self, **kw):
        self.sim.control("POST", "config", {"tunables": kw})

    def deny(self, collection, paths):
        cid = self.sim.collection(collection)["id"]
        rules = [{"user": ALICE, "path": p} for p in paths]
        self.sim.control("POST", "config", {"collections": {cid: {"denied_paths": rules}}})

    def tasks(self):
        return self.sim.control("GET", "tasks")["DATA"]

    def task_ids(self):
        return {t["task_id"] for t in self.tasks()}

    def new_tasks(self, before):
        return [t for t in self.tasks() if t["task_id"] not in before]

    def backing(self, collection, *parts):
        return os.path.join(self.sim.root(collection), *parts)

    def write_backing(self, collection, rel, data):
        p = self.backing(collection, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def status_json(self, mount=None):
        return json.loads(run_cli(self.env, "status", "--json", mount or self.mnt).stdout)

    def wait_tasks_done(self, before, timeout=60):
        def done():
            new = self.new_tasks(before)
            return new if new and all(t["status"] in ("SUCCEEDED", "FAILED") for t in new) \
                else None
        return wait_for(done, timeout, "the new tasks to finish", interval=0.2)


class CopyTests(CopyTestBase):
    def test_cp_file_between_collections_is_one_server_side_task(self):
        data = os.urandom(4 << 20)
        self.write_backing(T1, "cp1/a.bin", data)
        os.makedirs(self.backing(T2, "cp1"), exist_ok=True)
        self.tunables(task_start_delay_seconds=3)
        before = self.task_ids()
        self.sim.reset_stats()
        src, dst = self.path(T1, "cp1", "a.bin"), self.path(T2, "cp1", "a.bin")
        subprocess.run(["cp", src, dst], check=True, timeout=30)
        # Visible and pending before completion.
        self.assertIn("a.bin", os.listdir(self.path(T2, "cp1")))
        st = os.stat(dst)
        self.assertEqual(st.st_size, len(data))
        self.assertEqual(st.st_blocks, (len(data) + 511) // 512)
        self.assertIn(os.getxattr(dst, "user.globus.status").decode(),
                      ("queued", "submitting", "active"))
        self.assertFalse(os.path.exists(self.backing(T2, "cp1", "a.bin")))
        new = self.wait_tasks_done(before)
        self.assertEqual(len(new), 1)
        self.assertEqual(new[0]["status"], "SUCCEEDED")
        stats = self.sim.stats()
        self.assertEqual(stats["bytes_served"].get("https_get", 0), 0)
        self.assertEqual(stats["bytes_received"].get("https_put", 0), 0)
        self.assertEqual(md5_file(self.backing(T2, "cp1", "a.bin")),
                         md5_file(self.backing(T1, "cp1", "a.bin")))
        # The entry becomes the real remote file.
        wait_for(lambda: not self._has_status_xattr(dst), 20, "the pending mark to go")
        self.assertEqual(md5_file(dst), md5_file(self.backing(T1, "cp1", "a.bin")))
        # The status file counts the transfer engine's calls too.
        calls = self.status_json()["api_calls"]
        self.assertGreaterEqual(calls.get("submit_transfer", {}).get("calls", 0), 1, calls)
        self.assertGreaterEqual(calls.get("task_list", {}).get("calls", 0), 1, calls)

    def _has_status_xattr(self, p):
        try:
            os.getxattr(p, "user.globus.status")
            return True
        except OSError:
            return False

    def test_cp_of_a_5gib_sparse_file_makes_one_transfer_item(self):
        p = self.backing(T1, "big", "five.bin")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:  # sparse in the backing folder, data at both ends
            f.write(b"head")
            f.seek((5 << 30) - 4)
            f.write(b"tail")
        os.makedirs(self.backing(T2, "big"), exist_ok=True)
        before = self.task_ids()
        r = subprocess.run(["strace", "-f", "-e", "trace=copy_file_range", "-o", "/dev/stdout",
                            "cp", self.path(T1, "big", "five.bin"), self.path(T2, "big")],
                           capture_output=True, text=True, timeout=60) \
            if _have("strace") else subprocess.run(
                ["cp", self.path(T1, "big", "five.bin"), self.path(T2, "big")],
                capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        if _have("strace"):
            calls = [line for line in r.stdout.splitlines() if "copy_file_range(" in line]
            self.assertGreaterEqual(len(calls), 2, r.stdout)
        new = self.wait_tasks_done(before)
        self.assertEqual(len(new), 1)
        self.assertEqual(new[0]["status"], "SUCCEEDED")
        self.assertEqual(os.path.getsize(self.backing(T2, "big", "five.bin")), 5 << 30)

    def test_cp_r_500_files_in_20_dirs_makes_few_tasks(self):
        for d in range(20):
            for f in range(25):
                self.write_backing(T1, f"tree/d{d:02d}/f{f:02d}.txt", f"{d}-{f}\n".encode() * 10)
        before = self.task_ids()
        subprocess.run(["cp", "-r", self.path(T1, "tree"), self.path(T2, "tree")], check=True,
                       timeout=120)
        self.assertEqual(len(os.listdir(self.path(T2, "tree"))), 20)  # mkdir + pending entries
        want = tree_digest(self.backing(T1, "tree"))
        wait_for(lambda: tree_digest(self.backing(T2, "tree")) == want, 120,
                 "the copied tree to be identical", interval=0.5)
        new = self.wait_tasks_done(before, timeout=60)
        self.assertLessEqual(len(new), 5)
        self.assertTrue(all(t["status"] == "SUCCEEDED" for t in new))
        self.assertEqual(len(os.listdir(self.path(T2, "tree", "d07"))), 25)

    def test_a_shell_loop_of_single_file_cps_still_makes_few_tasks(self):
        # Each cp is its own process and exits at once; the engine's short "processes exited"
        # window must still join the next cp of the loop (started within milliseconds).
        for i in range(20):
            self.write_backing(T1, f"loop/f{i:02d}", f"{i}\n".encode())
        os.makedirs(self.backing(T2, "loop"), exist_ok=True)
        os.listdir(self.path(T1, "loop"))
        os.listdir(self.path(T2, "loop"))
        before = self.task_ids()
        script = 'for f in "$1"/f*; do cp "$f" "$2"/ || exit 1; done'
        subprocess.run(["sh", "-c", script, "sh", self.path(T1, "loop"), self.path(T2, "loop")],
                       check=True, timeout=120)
        wait_for(lambda: len(os.listdir(self.backing(T2, "loop"))) == 20, 60,
                 "the 20 copies to land")
        new = self.wait_tasks_done(before, timeout=60)
        # One task normally; 2 if a gap on a loaded machine outlasts the 0.1 s window. Without
        # batching across processes it would be 20.
        self.assertLessEqual(len(new), 2, [t.get("label") for t in new])

    def test_cp_from_local_disk_is_an_upload_not_a_task(self):
        local = os.path.join(self.sim.state, "local.txt")
        with open(local, "w") as f:
            f.write("local data\n")
        os.makedirs(self.backing(T2, "loc"), exist_ok=True)
        before = self.task_ids()
        received = self.sim.bytes_received()
        r = subprocess.run(["cp", local, self.path(T2, "loc", "x.txt")], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_bytes(self.backing(T2, "loc", "x.txt")), b"local data\n")
        self.assertEqual(self.sim.bytes_received() - received, len(b"local data\n"))
        self.assertEqual(self.new_tasks(before), [])

    def test_empty_files_are_created_and_a_redirect_uploads_once(self):
        # cp of an empty file never sends copy_file_range (the kernel answers it): the empty
        # destination is made at its last close by a 0-byte PUT, and so are touch and `: >`.
        self.write_backing(T1, "emp/tree/sub/__init__.py", b"")
        self.write_backing(T1, "emp/tree/a", b"a")
        self.write_backing(T1, "emp/empty", b"")
        self.write_backing(T2, "emp/old", b"old content")
        before = self.task_ids()
        bytes_before = self.sim.bytes_received()
        src, dst = self.path(T1, "emp"), self.path(T2, "emp")
        for cmd in (["cp", os.path.join(src, "empty"), os.path.join(dst, "empty")],
                    ["cp", "-r", os.path.join(src, "tree"), os.path.join(dst, "tree")],
                    ["touch", os.path.join(dst, "touched")],
                    ["sh", "-c", ': > "$1"', "sh", os.path.join(dst, "old")]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, (cmd, r.stderr))
        # Each empty file's PUT runs at its last RELEASE, after close(2) returned: let them all
        # land before counting the PUTs of the redirect below.
        for rel in ("empty", "tree/sub/__init__.py", "touched", "old"):
            p = self.backing(T2, "emp", rel)
            wait_for(lambda: os.path.exists(p) and os.path.getsize(p) == 0, 10,
                     rel + " at the destination")
        # A shell redirect closes a dup before `echo` writes: no empty file is made first, the
        # data is uploaded at echo's close.
        received = self.sim.count("https_put")
        r = subprocess.run(["sh", "-c", 'echo data > "$1"', "sh", os.path.join(dst, "out")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.sim.count("https_put") - received, 1)
        self.wait_tasks_done(before)
        for rel in ("empty", "tree/sub/__init__.py", "touched", "old"):
            self.assertEqual(os.path.getsize(self.backing(T2, "emp", rel)), 0, rel)
        with open(self.backing(T2, "emp", "tree", "a"), "rb") as f:
            self.assertEqual(f.read(), b"a")
        self.assertEqual(read_bytes(self.backing(T2, "emp", "out")), b"data\n")
        self.assertEqual(os.stat(os.path.join(dst, "tree", "sub", "__init__.py")).st_size, 0)
        self.assertEqual(len(self.new_tasks(before)), 1)  # the one non-empty file
        self.assertEqual(self.sim.bytes_received() - bytes_before, len(b"data\n"))

    def test_cp_of_a_file_onto_itself_under_another_name_changes_nothing(self):
        # COLL/~/f, COLL/home/alice/f and .by-id/<id>/home/alice/f are one file: a transfer
        # onto itself would truncate it. cp fails (its read/write fallback's writes are refused
        # too: the handle knows it is the copy's source).
        self.write_backing(T2, "home/alice/self/f", b"precious")
        before = self.task_ids()
        cid = self.sim.collection(T2)["id"]
        for src, dst in ((self.path(T2, "~", "self", "f"), self.path(T2, "home/alice/self/f")),
                         (self.path(T2, "home/alice/self/f"),
                          os.path.join(self.mnt, ".by-id", cid, "home/alice/self/f"))):
            r = subprocess.run(["cp", src, dst], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, (src, dst))
        self.assertEqual(read_bytes(self.backing(T2, "home/alice/self/f")), b"precious")
        self.assertEqual(self.new_tasks(before), [])
        self.assertIn("same file under another name", self.mount.output())

    def test_links_and_special_files_are_eperm_not_enosys(self):
        self.write_backing(T2, "nodes/f", b"x")
        d = self.path(T2, "nodes")
        for cmd in (["ln", "-s", "f", os.path.join(d, "sym")],
                    ["ln", os.path.join(d, "f"), os.path.join(d, "hard")],
                    ["mkfifo", os.path.join(d, "fifo")]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, cmd)
            self.assertIn("Operation not permitted", r.stderr, cmd)
        self.assertEqual(sorted(os.listdir(d)), ["f"])

    def test_mv_across_collections_removes_the_source_only_after_success(self):
        self.write_backing(T1, "mv1/m.bin", b"m" * 1000)
        os.makedirs(self.backing(T2, "mv1"), exist_ok=True)
        self.tunables(task_start_delay_seconds=3)
        before = self.task_ids()
        subprocess.run(["mv", self.path(T1, "mv1", "m.bin"), self.path(T2, "mv1", "m.bin")],
                       check=True, timeout=30)
        self.assertNotIn("m.bin", os.listdir(self.path(T1, "mv1")))  # hidden
        self.assertIn("m.bin", os.listdir(self.path(T2, "mv1")))  # pending
        self.assertTrue(os.path.exists(self.backing(T1, "mv1", "m.bin")))  # not deleted yet
        wait_for(lambda: not os.path.exists(self.backing(T1, "mv1", "m.bin")), 60,
                 "the source to be deleted")
        self.assertEqual(read_bytes(self.backing(T2, "mv1", "m.bin")), b"m" * 1000)
        kinds = sorted(t["type"] for t in self.new_tasks(before))
        self.assertEqual(kinds, ["DELETE", "TRANSFER"])

    def test_mv_of_a_directory_across_collections(self):
        for i in range(5):
            self.write_backing(T1, f"mvdir/d/f{i}", b"x" * i)
        os.makedirs(self.backing(T2, "mvdir"), exist_ok=True)
        digest = tree_digest(self.backing(T1, "mvdir", "d"))
        subprocess.run(["mv", self.path(T1, "mvdir", "d"), self.path(T2, "mvdir", "d")],
                       check=True, timeout=30)
        wait_for(lambda: not os.path.exists(self.backing(T1, "mvdir", "d")), 60,
                 "the source tree to be deleted")
        self.assertEqual(tree_digest(self.backing(T2, "mvdir", "d")), digest)

    def test_a_name_missed_in_a_pending_moved_directory_shows_once_it_arrived(self):
        # Found by the chaos soak: while the move is pending the directory lists empty, so a
        # lookup inside it is a miss; once the copy arrived that miss must not stand (it did
        # for negative_ttl, 10 s, while `ls` of the directory showed the name).
        self.write_backing(T1, "mvneg/d/f0", b"f0")
        os.makedirs(self.backing(T2, "mvneg"), exist_ok=True)
        self.tunables(task_start_delay_seconds=2)
        subprocess.run(["mv", self.path(T1, "mvneg", "d"), self.path(T2, "mvneg", "d")],
                       check=True, timeout=30)
        inside = self.path(T2, "mvneg", "d", "f0")
        self.assertFalse(os.path.exists(inside))  # pending: lists empty
        wait_for(lambda: not self._has_status_xattr(self.path(T2, "mvneg", "d")), 60,
                 "the copy to arrive")
        # At once (the cache is dropped when the copy is done), with a bound far below 10 s.
        wait_for(lambda: os.path.exists(inside), 2, "the name inside to show")
        self.assertEqual(read_bytes(inside), b"f0")

    def test_mv_of_a_directory_keeps_files_added_during_the_move(self):
        # The sim's transfer enumerates a directory when it starts copying it (after
        # task_start_delay_seconds), so a file dropped during the start delay would be copied.
        # A throttled copy instead gives a window after the enumeration: once the first file
        # appears at the destination, the source root has been enumerated, and a file written
        # into it now is not copied. It must not be deleted either.
        self.write_backing(T1, "mvlate/d/a.bin", b"a" * (512 << 10))
        self.write_backing(T1, "mvlate/d/sub/b.txt", b"b")
        os.makedirs(self.backing(T2, "mvlate"), exist_ok=True)
        before = self.task_ids()
        self.tunables(bandwidth_bytes_per_second=128 << 10)
        try:
            subprocess.run(["mv", self.path(T1, "mvlate", "d"), self.path(T2, "mvlate", "d")],
                           check=True, timeout=30)
            wait_for(lambda: os.path.exists(self.backing(T2, "mvlate", "d", "a.bin")), 60,
                     "the copy to start")
            self.write_backing(T1, "mvlate/d/late.txt", b"written during the move")
            wait_for(lambda: not os.path.exists(self.backing(T1, "mvlate", "d", "a.bin")), 90,
                     "the copied files to be deleted from the source")
        finally:
            self.tunables(bandwidth_bytes_per_second=0)
        new = self.wait_tasks_done(before)
        self.assertEqual(sorted(t["type"] for t in new), ["DELETE", "TRANSFER"])
        self.assertTrue(all(t["status"] == "SUCCEEDED" for t in new), new)
        self.assertEqual(read_bytes(self.backing(T1, "mvlate", "d", "late.txt")),
                         b"written during the move")
        self.assertFalse(os.path.exists(self.backing(T1, "mvlate", "d", "sub", "b.txt")))
        self.assertTrue(os.path.isdir(self.backing(T1, "mvlate", "d", "sub")))
        self.assertEqual(read_bytes(self.backing(T2, "mvlate", "d", "a.bin")), b"a" * (512 << 10))
        self.assertEqual(read_bytes(self.backing(T2, "mvlate", "d", "sub", "b.txt")), b"b")
        self.assertFalse(os.path.exists(self.backing(T2, "mvlate", "d", "late.txt")))
        # The mount shows the source again, holding what was left, and says why.
        wait_for(lambda: "d" in os.listdir(self.path(T1, "mvlate")), 30,
                 "the source directory to show again")
        self.assertIn("late.txt", os.listdir(self.path(T1, "mvlate", "d")))
        status = self.status_json()
        warnings = status["transfers"]["warnings"]
        self.assertTrue(any(w["source"]["path"] == "/mvlate/d" and
                            "1 file(s) not copied" in w["message"] for w in warnings), warnings)
        self.assertTrue(any("left in place" in m for m in status["errors"]["recent"]),
                        status["errors"])
        human = run_cli(self.env, "status", self.mnt).stdout
        self.assertIn("completed with a warning", human)
        self.assertIn("left in place", human)

    def test_mv_within_a_collection_is_a_rename(self):
        self.write_backing(T1, "mv2/a", b"a")
        before = self.task_ids()
        self.sim.reset_stats()
        subprocess.run(["mv", self.path(T1, "mv2", "a"), self.path(T1, "mv2", "b")], check=True,
                       timeout=30)
        self.assertEqual(self.sim.count("rename"), 1)
        self.assertEqual(self.new_tasks(before), [])
        self.assertTrue(os.path.exists(self.backing(T1, "mv2", "b")))
        self.assertFalse(os.path.exists(self.backing(T1, "mv2", "a")))

    def test_failed_mv_leaves_the_source_intact(self):
        self.write_backing(T1, "mv3/s.bin", b"keep me")
        os.makedirs(self.backing(T2, "mv3deny"), exist_ok=True)
        self.tunables(task_start_delay_seconds=2)
        before = self.task_ids()
        subprocess.run(["mv", self.path(T1, "mv3", "s.bin"), self.path(T2, "mv3deny", "s.bin")],
                       check=True, timeout=30)
        self.deny(T2, ["/mv3deny"])  # the destination refuses the write when the task runs
        self.assertNotIn("s.bin", os.listdir(self.path(T1, "mv3")))
        wait_for(lambda: "s.bin" in os.listdir(self.path(T1, "mv3")), 90,
                 "the source to reappear")
        self.assertEqual(read_bytes(self.backing(T1, "mv3", "s.bin")), b"keep me")
        self.assertEqual([t["type"] for t in self.new_tasks(before)], ["TRANSFER"])
        failures = self.status_json()["transfers"]["failures"]
        self.assertTrue(any(f["source"]["path"] == "/mv3/s.bin" for f in failures), failures)

    def test_failed_cp_fsync_is_eio_and_status_shows_the_error(self):
        self.write_backing(T1, "cp3/f.bin", b"data" * 100)
        os.makedirs(self.backing(T2, "cp3deny"), exist_ok=True)
        self.tunables(task_start_delay_seconds=2)
        dst = self.path(T2, "cp3deny", "f.bin")
        subprocess.run(["cp", self.path(T1, "cp3", "f.bin"), dst], check=True, timeout=30)
        fd = os.open(dst, os.O_WRONLY)  # a handle on the pending destination
        try:
            self.deny(T2, ["/cp3deny"])
            with self.assertRaises(OSError) as cm:
                os.fsync(fd)
            self.assertEqual(cm.exception.errno, errno.EIO)
        finally:
            os.close(fd)
        self.assertFalse(os.path.exists(dst))
        st = self.status_json()["transfers"]
        mine = [f for f in st["failures"] if f["destination"]["path"] == "/cp3deny/f.bin"]
        self.assertEqual(len(mine), 1, st)
        self.assertEqual(mine[0]["code"], "PERMISSION_DENIED")
        human = run_cli(self.env, "status", self.mnt).stdout
        self.assertIn("PERMISSION_DENIED", human)


class WaitModeTests(CopyTestBase):
    mount_args = ("--copy-mode", "wait")

    def test_wait_mode_returns_the_error_to_cp(self):
        self.write_backing(T1, "w1/f", b"x" * 10)
        os.makedirs(self.backing(T2, "w1deny"), exist_ok=True)
        self.deny(T2, ["/w1deny"])
        r = subprocess.run(["cp", self.path(T1, "w1", "f"), self.path(T2, "w1deny", "f")],
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)

    def test_wait_mode_success_returns_after_the_copy(self):
        self.write_backing(T1, "w2/f", b"y" * 100)
        os.makedirs(self.backing(T2, "w2"), exist_ok=True)
        subprocess.run(["cp", self.path(T1, "w2", "f"), self.path(T2, "w2", "f")], check=True,
                       timeout=60)
        self.assertEqual(read_bytes(self.backing(T2, "w2", "f")), b"y" * 100)

    def test_ctrl_c_on_cp_cancels_the_task(self):
        self.write_backing(T1, "w3/f", b"z" * 100)
        os.makedirs(self.backing(T2, "w3"), exist_ok=True)
        self.tunables(task_start_delay_seconds=60)
        before = self.task_ids()
        cp = subprocess.Popen(["cp", self.path(T1, "w3", "f"), self.path(T2, "w3", "f")],
                              preexec_fn=default_sigint)
        try:
            wait_for(lambda: self.new_tasks(before), 30, "the task")
            cp.send_signal(signal.SIGINT)
            cp.wait(timeout=30)
        finally:
            if cp.poll() is None:
                cp.kill()
        self.assertNotEqual(cp.returncode, 0)
        task = wait_for(lambda: [t for t in self.new_tasks(before) if t["status"] == "FAILED"],
                        30, "the task to be cancelled")[0]
        self.assertEqual((task.get("fatal_error") or {}).get("code"), "CANCELED")
        self.assertFalse(os.path.exists(self.backing(T2, "w3", "f")))


class ShutdownTests(CopyTestBase):
    mount_args = ("--copy-mode", "wait")

    def test_sigterm_releases_a_cp_waiting_for_its_task(self):
        # The only test of this class: it ends the class's mount.
        self.write_backing(T1, "s1/f", b"s" * 100)
        os.makedirs(self.backing(T2, "s1"), exist_ok=True)
        self.tunables(task_start_delay_seconds=300)
        before = self.task_ids()
        cp = subprocess.Popen(["cp", self.path(T1, "s1", "f"), self.path(T2, "s1", "f")],
                              stderr=subprocess.PIPE, text=True)
        self.addCleanup(cp.kill)
        wait_for(lambda: self.new_tasks(before), 30, "the task")
        self.mount.proc.send_signal(signal.SIGTERM)
        self.mount.proc.wait(timeout=30)  # raises if the daemon waits for the 300 s task
        self.assertNotEqual(cp.wait(timeout=30), 0)
        self.assertIn("session ending", self.mount.output())
        # Nothing was cancelled: the task goes on at Globus (the next mount tracks it).
        self.assertEqual([t["status"] for t in self.new_tasks(before)], ["ACTIVE"])


class RestartTests(CopyTestBase):
    def test_kill_9_then_remount_tracks_the_task_without_duplicates(self):
        self.write_backing(T1, "r1/f.bin", b"r" * 5000)
        os.makedirs(self.backing(T2, "r1"), exist_ok=True)
        self.tunables(task_start_delay_seconds=8)
        before = self.task_ids()
        subprocess.run(["cp", self.path(T1, "r1", "f.bin"), self.path(T2, "r1", "f.bin")],
                       check=True, timeout=30)
        wait_for(lambda: self.new_tasks(before), 30, "the task to be submitted")
        mnt = self.mount.path
        self.mount.proc.kill()  # kill -9: no unmount, no journal cleanup
        self.mount.proc.wait(timeout=10)
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True, timeout=30)
        self.mount.proc = None
        self.mount.logf.close()
        remount = Mount(self.env, path=mnt)
        remount.__enter__()
        self.__class__.mount = remount
        try:
            dst = os.path.join(mnt, T2, "r1", "f.bin")
            if not os.path.exists(self.backing(T2, "r1", "f.bin")):
                self.assertTrue(os.path.exists(dst))  # the pending entry is back
            new = self.wait_tasks_done(before, timeout=60)
            self.assertEqual(len(new), 1)  # tracked, not resubmitted
            self.assertEqual(new[0]["status"], "SUCCEEDED")
            self.assertEqual(read_bytes(self.backing(T2, "r1", "f.bin")), b"r" * 5000)
            wait_for(lambda: not _xattr(dst), 30, "the pending mark to go")
        except Exception:
            print(remount.output())
            raise


def read_bytes(p):
    with open(p, "rb") as f:
        return f.read()


def _xattr(p):
    try:
        return os.getxattr(p, "user.globus.status")
    except OSError:
        return None


def _have(tool):
    from shutil import which
    return which(tool) is not None
