"""rm, rmdir and rm -r on a real mount as Globus delete tasks, against globus-sim. Every wait is
bounded.

`tasks_submitted.DELETE` (GET /control/stats) counts the delete tasks the mount submitted; the
backing folders show what the service really deleted.
"""

import errno
import os
import subprocess
import time

from tests.integration.harness import Mount, wait_for
from tests.integration.test_copy import T1, CopyTestBase


class DeleteTests(CopyTestBase):
    def delete_tasks(self):
        return int(self.sim.stats().get("tasks_submitted", {}).get("DELETE", 0))

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
        remount = Mount(self.env, path=mnt)
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

