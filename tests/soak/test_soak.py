"""The chaos soak (tests/soak/chaos.py) as a test: its short form in scripts/test (tier soak),
its long form with GF_SOAK_SECONDS (scripts/test --only soak --soak-minutes 30). GF_SOAK_SEED
replays a seed."""

import os
import unittest

from tests.integration.harness import BINARY
from tests.soak.chaos import DEFAULT_SEED, T1, T2, Soak, matches


class ChaosSoak(unittest.TestCase):
    def soak(self, write_mode, default_seconds):
        if not os.path.exists(BINARY):
            self.skipTest(f"{BINARY} not built")
        seconds = float(os.environ.get("GF_SOAK_SECONDS") or default_seconds)
        seed = int(os.environ.get("GF_SOAK_SEED") or DEFAULT_SEED)
        soak = Soak(seconds, seed, write_mode=write_mode)
        try:
            problems = soak.run()
        finally:
            soak.close()
        self.assertEqual(problems, [], f"chaos soak failed (seed {seed}, write_mode "
                         f"{write_mode}); its report is above")

    def test_nothing_is_lost_under_random_faults(self):
        self.soak("close", 60)

    def test_nothing_is_lost_under_random_faults_in_background_write_mode(self):
        # Closes return before their uploads; kill -9 leaves journaled uploads to the next mount.
        self.soak("background", 30)


class FailedRmModel(unittest.TestCase):
    """The soak's model after a failed rm -r (no mount): the tree's entries may each be gone,
    nothing else may."""

    def test_a_failed_rm_r_accepts_any_part_gone_and_nothing_else(self):
        soak = Soak(1, DEFAULT_SEED)
        soak.model = {(T2, "w0/t1"): "dir", (T2, "w0/t1/f0"): "md5-a",
                      (T2, "w0/t1/sub"): "dir", (T2, "w0/t1/sub/g0"): "md5-b",
                      (T2, "w0/t10"): "dir", (T2, "w0/t10/f0"): "md5-c",  # only a prefix alike
                      (T1, "w0/t1"): "dir", (T1, "w0/t1/f0"): "md5-a"}  # the other collection
        soak.model_may_be_gone(T2, "w0/t1")
        m = soak.model
        # Any subset of the tree gone, each entry left as it was.
        for k in ((T2, "w0/t1"), (T2, "w0/t1/f0"), (T2, "w0/t1/sub"), (T2, "w0/t1/sub/g0")):
            self.assertTrue(matches(None, m[k]), k)
        self.assertTrue(matches("md5-a", m[(T2, "w0/t1/f0")]))
        self.assertTrue(matches("dir", m[(T2, "w0/t1/sub")]))
        self.assertFalse(matches("md5-x", m[(T2, "w0/t1/f0")]))  # changed: wrong, never a mix
        # Everything else still exactly as it was: a file no operation touched may not vanish.
        for k, v in (((T2, "w0/t10/f0"), "md5-c"), ((T1, "w0/t1/f0"), "md5-a"),
                     ((T1, "w0/t1"), "dir")):
            self.assertTrue(matches(v, m[k]))
            self.assertFalse(matches(None, m[k]), k)


if __name__ == "__main__":
    unittest.main()
