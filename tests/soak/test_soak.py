"""The chaos soak (tests/soak/chaos.py) as a test: its short form in scripts/test (tier soak),
its long form with GF_SOAK_SECONDS (scripts/test --only soak --soak-minutes 30). GF_SOAK_SEED
replays a seed."""

import os
import unittest

from tests.integration.harness import BINARY
from tests.soak.chaos import DEFAULT_SEED, Soak


class ChaosSoak(unittest.TestCase):
    def test_nothing_is_lost_under_random_faults(self):
        if not os.path.exists(BINARY):
            self.skipTest(f"{BINARY} not built")
        seconds = float(os.environ.get("GF_SOAK_SECONDS") or 60)
        seed = int(os.environ.get("GF_SOAK_SEED") or DEFAULT_SEED)
        soak = Soak(seconds, seed)
        try:
            problems = soak.run()
        finally:
            soak.close()
        self.assertEqual(problems, [], f"chaos soak failed (seed {seed}); its report is above")


if __name__ == "__main__":
    unittest.main()
