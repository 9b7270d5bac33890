"""rm, rmdir and rm -r on a real mount against globus-sim: as Globus delete tasks
(delete_mode=task: DeleteTests) and with the default delete_mode=https, where rm of a file is
one HTTPS DELETE (HttpsDeleteTests). Every wait is bounded.

`tasks_submitted.DELETE` (GET /control/stats) counts the delete tasks the mount submitted,
`https_delete` the HTTPS DELETEs; the backing folders show what the service really deleted.
"""

import errno
import os
import subprocess
import time

from tests.integration.harness import Mount, wait_for
from tests.integration.test_copy import T1, T2, CopyTestBase


class DeleteTestBase(CopyTestBase):
    def delete_tasks(self):
        return int(self.sim.stats().get("tasks_submitted", {}).get("DELETE", 0))


class DeleteTests(DeleteTestBase):
    """delete_mode=task: every remove is a delete task."""

    mount_args = ("-o", "delete_mode=task")

    def test_rm_and_rmdir(self):
        self.write_backing(T1, "rm1/a.txt", b"a")
        self.write_backing(T1, "rm1/keep.txt", b"k")
        os.makedirs(self.backing(T1, "rm1", "empty"), exist_ok=True)
        self.write_backing(T1, "rm1/full/x", b"x")
        d = self.path(T1, "rm1")
        self.assertIn("a.txt", os.listdir(d))
        self.sim.reset_stats()
        os.unlink(os.path.join(d, "a.txt"))
        self.assertNotIn("a.txt", os.listdir(d))  # gone at once
        self.assertFalse(os.path.exists(os.path.join(d, "a.txt")))
        with self.assertRaises(OSError) as cm:
            os.rmdir(os.path.join(d, "full"))
        self.assertEqual(cm.exception.errno, errno.ENOTEMPTY)
        os.rmdir(os.path.join(d, "empty"))
        self.assertNotIn("empty", os.listdir(d))
        wait_for(lambda: not os.path.exists(self.backing(T1, "rm1", "a.txt"))
                 and not os.path.exists(self.backing(T1, "rm1", "empty")), 60,
                 "the deletes to run")
        self.assertTrue(os.path.exists(self.backing(T1, "rm1", "keep.txt")))
        self.assertTrue(os.path.exists(self.backing(T1, "rm1", "full", "x")))
        self.assertLessEqual(self.delete_tasks(), 2)
        self.assertEqual(sorted(os.listdir(d)), ["full", "keep.txt"])

    def test_rm_r_of_1000_files_is_at_most_two_tasks_and_ls_still_answers(self):
        for s in range(10):
            for f in range(100):
                self.write_backing(T1, f"big/s{s}/f{f:03d}", b"x")
        self.write_backing(T1, "other/o.txt", b"o")
        os.listdir(self.path(T1))
        self.sim.reset_stats()
        rm = subprocess.Popen(["rm", "-r", self.path(T1, "big")])
        self.addCleanup(rm.kill)
        slowest = 0.0
        while rm.poll() is None:
            t0 = time.monotonic()
            self.assertIn("o.txt", os.listdir(self.path(T1, "other")))
            slowest = max(slowest, time.monotonic() - t0)
            time.sleep(0.05)
        self.assertEqual(rm.wait(timeout=120), 0)
        self.assertLess(slowest, 5.0)  # a generous bound: ls is not queued behind the rm
        self.assertNotIn("big", os.listdir(self.path(T1)))
        wait_for(lambda: not os.path.exists(self.backing(T1, "big")), 120,
                 "the tree to be deleted at the collection")
        self.assertLessEqual(self.delete_tasks(), 2,
                             [(t.get("label"), len(t["_sim"]["items"])) for t in self.tasks()
                              if t.get("type") == "DELETE"])
        self.assertTrue(os.path.exists(self.backing(T1, "other", "o.txt")))

    def test_a_refused_delete_brings_the_name_back_with_the_reason(self):
        self.write_backing(T1, "deny/secret.txt", b"s")
        os.setxattr(self.path(T1), "user.globus.invalidate", b"1")
        os.getxattr(self.mnt, "user.globus.invalidate")  # returns once the kernel was told
        d = self.path(T1, "deny")
        self.assertIn("secret.txt", os.listdir(d))
        self.tunables(task_start_delay_seconds=3)
        os.unlink(os.path.join(d, "secret.txt"))
        self.deny(T1, ["/deny/secret.txt"])
        self.addCleanup(self.deny, T1, [])
        self.assertNotIn("secret.txt", os.listdir(d))
        wait_for(lambda: "secret.txt" in os.listdir(d), 90, "the name to reappear")
        self.assertTrue(os.path.exists(self.backing(T1, "deny", "secret.txt")))
        st = self.status_json()
        self.assertIn("PERMISSION_DENIED", str(st))

    def test_kill_9_between_queueing_and_submission_finishes_once(self):
        self.write_backing(T1, "k9/gone.txt", b"g")
        self.write_backing(T1, "k9/stays.txt", b"s")
        d = self.path(T1, "k9")
        self.assertIn("gone.txt", os.listdir(d))
        self.sim.fault("submission_id", "status", status=503, count=-1)
        self.addCleanup(self.sim.clear_faults)
        self.sim.reset_stats()
        os.unlink(os.path.join(d, "gone.txt"))
        mnt = self.mount.path
        self.mount.proc.kill()  # kill -9: the op is only in the journal
        self.mount.proc.wait(timeout=10)
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True, timeout=30)
        self.mount.proc = None
        self.mount.logf.close()
        self.assertEqual(self.delete_tasks(), 0)
        self.sim.clear_faults()
        remount = Mount(self.env, *self.mount_args, path=mnt)
        remount.__enter__()
        self.__class__.mount = remount
        try:
            self.assertNotIn("gone.txt", os.listdir(os.path.join(mnt, T1, "k9")))
            wait_for(lambda: not os.path.exists(self.backing(T1, "k9", "gone.txt")), 60,
                     "the replayed delete to run")
            self.assertEqual(self.delete_tasks(), 1)
            self.assertTrue(os.path.exists(self.backing(T1, "k9", "stays.txt")))
        except Exception:
            print(remount.output())
            raise


class HttpsDeleteTests(DeleteTestBase):
    """delete_mode=https (the default): rm of a file is one synchronous HTTPS DELETE."""

    def test_rm_of_a_file_is_gone_remotely_when_rm_returns_and_makes_no_task(self):
        self.write_backing(T1, "h1/a.txt", b"a")
        self.write_backing(T1, "h1/keep.txt", b"k")
        d = self.path(T1, "h1")
        self.assertIn("a.txt", os.listdir(d))
        before = self.task_ids()
        self.sim.reset_stats()
        r = subprocess.run(["rm", os.path.join(d, "a.txt")], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.backing(T1, "h1", "a.txt")))  # no waiting
        self.assertEqual(self.sim.count("https_delete"), 1)
        self.assertEqual(self.delete_tasks(), 0)
        self.assertEqual(self.new_tasks(before), [])
        self.assertEqual(sorted(os.listdir(d)), ["keep.txt"])
        self.assertFalse(os.path.exists(os.path.join(d, "a.txt")))
        # Already gone (deleted elsewhere after the mount listed it): rm still succeeds.
        self.write_backing(T1, "h1/elsewhere.txt", b"e")
        os.setxattr(d, "user.globus.invalidate", b"1")
        self.assertIn("elsewhere.txt", os.listdir(d))
        os.unlink(self.backing(T1, "h1", "elsewhere.txt"))
        os.unlink(os.path.join(d, "elsewhere.txt"))
        self.assertEqual(sorted(os.listdir(d)), ["keep.txt"])

    def test_the_name_can_be_made_again_right_after_rm(self):
        # vim's swap file, sqlite's -journal, rsync's temporaries: written, fsync'd, removed
        # and made again under the same name, over and over.
        d = self.path(T1, "h2")
        os.makedirs(d, exist_ok=True)
        swp = os.path.join(d, ".notes.txt.swp")
        before = self.task_ids()
        self.sim.reset_stats()
        for i in range(5):
            with open(swp, "wb") as f:
                f.write(b"swap %d" % i)
                f.flush()
                os.fsync(f.fileno())
            with open(self.backing(T1, "h2", ".notes.txt.swp"), "rb") as f:
                self.assertEqual(f.read(), b"swap %d" % i)
            os.unlink(swp)
            self.assertFalse(os.path.exists(self.backing(T1, "h2", ".notes.txt.swp")))
        self.assertEqual(self.sim.count("https_delete"), 5)
        self.assertEqual(self.new_tasks(before), [])
        self.assertEqual(os.listdir(d), [])

    def test_a_refused_delete_is_eacces_and_the_name_stays(self):
        self.write_backing(T1, "h3/secret.txt", b"s")
        d = self.path(T1, "h3")
        self.assertIn("secret.txt", os.listdir(d))
        self.deny(T1, ["/h3/secret.txt"])
        self.addCleanup(self.deny, T1, [])
        with self.assertRaises(OSError) as cm:
            os.unlink(os.path.join(d, "secret.txt"))
        self.assertEqual(cm.exception.errno, errno.EACCES)
        self.assertIn("secret.txt", os.listdir(d))
        self.assertTrue(os.path.exists(self.backing(T1, "h3", "secret.txt")))
        self.assertEqual(self.delete_tasks(), 0)

    def test_rm_of_a_pending_copy_runs_after_it(self):
        # `cp a b; rm b; rm a` while the copy task is still starting: both names go at once,
        # no DELETE runs before the copy read `a`, and in the end neither name exists.
        self.write_backing(T1, "h4/a.bin", b"A" * 4096)
        os.makedirs(self.backing(T2, "h4"), exist_ok=True)
        src, dst = self.path(T1, "h4", "a.bin"), self.path(T2, "h4", "a.bin")
        os.listdir(self.path(T2, "h4"))
        self.tunables(task_start_delay_seconds=3)
        before = self.task_ids()
        self.sim.reset_stats()
        subprocess.run(["cp", src, dst], check=True, timeout=60)
        os.unlink(dst)  # the pending destination
        os.unlink(src)  # what the pending copy reads
        self.assertNotIn("a.bin", os.listdir(self.path(T2, "h4")))
        self.assertNotIn("a.bin", os.listdir(self.path(T1, "h4")))
        self.assertEqual(self.sim.count("https_delete"), 0)  # never before the copy
        self.assertTrue(os.path.exists(self.backing(T1, "h4", "a.bin")))
        st = self.status_json()["transfers"]
        ops = st["queued"] + [o for t in st["tasks"] for o in t["ops"]]
        copy = [o["id"] for o in ops if o["kind"] == "copy"]
        waiting = [o for o in ops if o["kind"] == "remove"]
        self.assertEqual(len(copy), 1, ops)
        self.assertEqual([o.get("waits_for") for o in waiting], copy * 2, ops)
        wait_for(lambda: not os.path.exists(self.backing(T1, "h4", "a.bin"))
                 and not os.path.exists(self.backing(T2, "h4", "a.bin")), 60,
                 "the copy, then both deletes")
        tasks = self.new_tasks(before)
        self.assertEqual(sorted(t["type"] for t in tasks), ["DELETE", "DELETE", "TRANSFER"])
        self.assertTrue(all(t["status"] == "SUCCEEDED" for t in tasks), tasks)
        self.assertEqual(os.listdir(self.path(T2, "h4")), [])

    def test_rm_r_of_1000_files_is_a_burst_of_at_most_two_tasks(self):
        for s in range(10):
            for f in range(100):
                self.write_backing(T1, f"hbig/s{s}/f{f:03d}", b"x")
        os.listdir(self.path(T1))
        self.sim.reset_stats()
        r = subprocess.run(["rm", "-r", self.path(T1, "hbig")], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("hbig", os.listdir(self.path(T1)))
        wait_for(lambda: not os.path.exists(self.backing(T1, "hbig")), 120,
                 "the tree to be deleted at the collection")
        # The first files by HTTPS DELETE, the rest of rm's burst as tasks (the burst rule,
        # fs/transfers/delete_ops.h: 8 different files without a 1 s pause).
        self.assertEqual(self.sim.count("https_delete"), 8)
        self.assertLessEqual(self.delete_tasks(), 2,
                             [(t.get("label"), len(t["_sim"]["items"])) for t in self.tasks()
                              if t.get("type") == "DELETE"])
