"""A whole mount session under valgrind: a clean unmount releases everything.

(The ASan tier runs every mount test with LeakSanitizer as well; this is the valgrind half of
"valgrind and ASan show no leaks in the mount tests".)"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from tests.integration.harness import BINARY, SimTestCase, wait_for

TUTORIAL = "Globus Tutorial Collection 1"


def _remove_mount_point(path):
    """The empty mount point, once nothing is mounted there (rmdir never walks into a mount)."""
    if not os.path.ismount(path):
        try:
            os.rmdir(path)
        except OSError:
            pass


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
class ValgrindMountTests(SimTestCase):
    def test_mount_session_leaks_nothing(self):
        if os.environ.get("GF_ASAN") == "1":
            self.skipTest("valgrind cannot run an ASan binary")
        root = self.sim.root(TUTORIAL)
        os.makedirs(os.path.join(root, "vg"), exist_ok=True)
        with open(os.path.join(root, "vg", "hello.txt"), "w") as f:
            f.write("hello from valgrind\n")
        mnt = tempfile.mkdtemp(prefix="gf-vg-")
        self.addCleanup(_remove_mount_point, mnt)
        logs = tempfile.mkdtemp(prefix="gf-vg-log-")
        self.addCleanup(shutil.rmtree, logs, True)  # the report's text is in any failure message
        report = os.path.join(logs, "valgrind.txt")
        cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
               "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
               f"--log-file={report}", BINARY, "mount", mnt, "-f"]
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: os.path.ismount(mnt) or proc.poll() is not None, 120, "the mount")
            self.assertIsNone(proc.poll(), "mount under valgrind exited early")
            self.assertIn(TUTORIAL, os.listdir(mnt))
            with open(os.path.join(mnt, TUTORIAL, "vg", "hello.txt")) as f:
                self.assertEqual(f.read(), "hello from valgrind\n")
            subprocess.run([BINARY, "unmount", mnt], env=self.env, capture_output=True,
                           timeout=120)
            rc = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        with open(report) as f:
            text = f.read()
        summary = "\n".join(line for line in text.splitlines()
                            if "lost:" in line or "ERROR SUMMARY" in line)
        self.assertEqual(rc, 0, f"valgrind reported errors or leaks:\n{text[-6000:]}")
        self.assertIn("HEAP SUMMARY", text, "valgrind's leak check did not run")
        if "All heap blocks were freed" not in text:
            m = re.search(r"definitely lost: ([\d,]+) bytes", text)
            self.assertIsNotNone(m, text[-3000:])
            self.assertEqual(m.group(1), "0", summary)
            m = re.search(r"indirectly lost: ([\d,]+) bytes", text)
            self.assertEqual(m.group(1) if m else "0", "0", summary)
        self.assertRegex(text, r"ERROR SUMMARY: 0 errors", summary)


if __name__ == "__main__":
    unittest.main()
