"""Riding out service hiccups on a real mount: bursts of errors within the retry budget,
malformed answers, dropped connections, transient 404s, the budget running out, Ctrl-C during a
wait, globus-sim going away and coming back, and unmount followed at once by mount."""

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

from tests.integration.harness import (BINARY, MountTestCase, Mount, Sim, SimTestCase,
                                       default_sigint, md5_file, run_cli, wait_for)

TUTORIAL = "Globus Tutorial Collection 1"


def local_tree(top):
    """Sorted relative paths under a local directory."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), top))
    return sorted(out)


def find(top, timeout=120):
    p = subprocess.run(["find", top, "-mindepth", "1"], capture_output=True, text=True,
                       timeout=timeout)
    return p, sorted(os.path.relpath(line, top) for line in p.stdout.splitlines())


def unused_faults(sim):
    """Rules whose count was not used up (a test whose faults were never hit tests nothing)."""
    return [f for f in sim.control("GET", "faults")["faults"] if f.get("count", 0) > 0]


def giving_up_lines(mount):
    return [line for line in mount.output().splitlines() if "giving up after" in line]


class BurstTests(MountTestCase):
    """Faults on one mount; each test uses its own directory so caches do not hide a fault."""

    @classmethod
    def populate(cls):
        root = cls.sim.root(TUTORIAL)
        for name in ("burst", "malformed", "dropped", "stat", "budget", "ctrlc"):
            for i in range(3):
                d = os.path.join(root, "hiccups", name, f"d{i}")
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "f.txt"), "w") as f:
                    f.write(f"{name} {i}\n")
        with open(os.path.join(root, "hiccups", "blob.bin"), "wb") as f:
            f.write(os.urandom(3 << 20))

    def tearDown(self):
        self.sim.clear_faults()

    def local(self, *parts):
        return os.path.join(self.sim.root(TUTORIAL), "hiccups", *parts)

    def test_six_503s_and_429s_in_a_row_do_not_fail_find(self):
        # About 6 s of errors: more than the SDK's five retries, well within the budget.
        self.sim.reset_stats()
        self.sim.fault("ls", "status", status=503, retry_after=1, count=3)
        self.sim.fault("ls", "status", status=429, retry_after=1, count=3)
        p, found = find(self.path(TUTORIAL, "hiccups", "burst"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(found, local_tree(self.local("burst")))
        self.assertGreaterEqual(self.sim.count("ls"), 7)
        self.assertEqual(self.sim.stats()["responses_by_status"].get("ls 503"), 3)
        self.assertEqual(unused_faults(self.sim), [])

    def test_a_200_that_does_not_parse_is_retried(self):
        self.sim.fault("ls", "malformed", count=2)
        p, found = find(self.path(TUTORIAL, "hiccups", "malformed"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(found, local_tree(self.local("malformed")))
        self.assertEqual(unused_faults(self.sim), [])

    def test_connections_dropped_without_an_answer_are_retried(self):
        self.sim.reset_stats()
        self.sim.fault("ls", "drop", count=3)
        self.sim.fault("https_get", "drop", count=3)
        p, found = find(self.path(TUTORIAL, "hiccups", "dropped"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(found, local_tree(self.local("dropped")))
        with open(self.path(TUTORIAL, "hiccups", "dropped", "d1", "f.txt")) as f:
            self.assertEqual(f.read(), "dropped 1\n")
        self.assertEqual(self.sim.stats()["responses_by_status"].get("https_get 0"), 3)
        self.assertEqual(unused_faults(self.sim), [])

    def test_a_404_endpoint_error_is_retried_on_a_fresh_connection_never_enoent(self):
        # Sticky: the connection that got it keeps answering it, so only a new one gets through.
        self.sim.reset_stats()
        self.sim.fault("https_get", "endpoint_error", count=2)
        self.assertEqual(md5_file(self.path(TUTORIAL, "hiccups", "blob.bin")),
                         md5_file(self.local("blob.bin")))
        self.assertGreaterEqual(self.sim.count("https_get"), 3)
        self.assertEqual(unused_faults(self.sim), [])

    def test_resets_and_malformed_stats_do_not_surface(self):
        self.sim.fault("stat", "reset", after_bytes=0, count=2)
        self.sim.fault("stat", "malformed", count=2)
        for i in range(3):
            self.assertTrue(os.path.isdir(self.path(TUTORIAL, "hiccups", "stat", f"d{i}")))
        self.assertEqual(unused_faults(self.sim), [])
        self.assertIsNone(self.mount.proc.poll(), "the daemon died:\n" + self.mount.output())

    def test_ctrl_c_ends_a_retry_wait_at_once(self):
        self.sim.fault("ls", "status", status=503, retry_after=1, count=-1)
        self.sim.reset_stats()
        target = self.path(TUTORIAL, "hiccups", "ctrlc", "d0")
        child = subprocess.Popen([sys.executable, "-c", f"import os; os.listdir({target!r})"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 preexec_fn=default_sigint)
        try:
            wait_for(lambda: self.sim.count("ls") >= 2, 30, "the ls to be retried")
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=10)  # a bound; the wait itself is 60 s
        finally:
            if child.poll() is None:
                child.kill()
        self.assertIn(b"KeyboardInterrupt", err)
        # The daemon stopped retrying for it: the one request in flight at most, then nothing.
        seen = self.sim.count("ls")
        time.sleep(3)  # three Retry-After periods: a call still waiting would retry thrice
        self.assertLessEqual(self.sim.count("ls"), seen + 1)


class BudgetTests(SimTestCase):
    def test_a_failure_past_the_budget_is_etimedout_with_one_log_line(self):
        root = self.sim.root(TUTORIAL)
        os.makedirs(os.path.join(root, "outage", "d"), exist_ok=True)
        with Mount(self.env, "-o", "retry_budget_seconds=3") as m:
            self.assertIn(TUTORIAL, os.listdir(m.path))
            self.sim.fault("ls", "status", status=503, count=-1)
            started = time.monotonic()
            with self.assertRaises(OSError) as caught:
                os.listdir(os.path.join(m.path, TUTORIAL, "outage", "d"))
            took = time.monotonic() - started
            self.sim.clear_faults()
            self.assertEqual(caught.exception.errno, errno.ETIMEDOUT)
            self.assertGreaterEqual(took, 2.5)
            self.assertLess(took, 30)  # budget + one request, with room for a loaded machine
            lines = [line for line in giving_up_lines(m) if "/outage/d" in line]
            self.assertEqual(len(lines), 1, m.output())
            self.assertIn("503", lines[0])
            self.assertIn("retry budget 3 s", lines[0])
            # Nothing is cached from the failure: the next listing works.
            self.assertEqual(os.listdir(os.path.join(m.path, TUTORIAL, "outage", "d")), [])


def free_port_block(n=12):
    """A port P with P..P+n-1 free on 127.0.0.1 (the sim puts collections on P+1, P+2, ...)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n >= 65535:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise unittest.SkipTest("no block of free ports")


class OutageBase(unittest.TestCase):
    """globus-sim stopped (connection refused) and started again on the same ports and state."""

    sim_config = None

    def setUp(self):
        if not os.path.exists(BINARY):
            raise unittest.SkipTest(f"{BINARY} not built")
        self.port = free_port_block()
        self.sim = Sim.start(config=self.sim_config, extra_args=("--port", str(self.port)))
        self.env = self.sim.client_env()
        run_cli(self.env, "login")

    def tearDown(self):
        self.sim.stop()

    def restart_sim(self, down_seconds):
        proc = self.sim.proc
        proc.send_signal(signal.SIGTERM)  # saves its state
        proc.wait(timeout=10)
        os.unlink(os.path.join(self.sim.state, "sim.json"))
        time.sleep(down_seconds)  # every connection is refused meanwhile
        with open(os.path.join(self.sim.state, "sim.stdout"), "a") as log:
            self.sim.proc = subprocess.Popen(list(proc.args), stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: os.path.exists(os.path.join(self.sim.state, "sim.json")), 30,
                 "the sim to start again")


class OutageTests(OutageBase):
    def test_operations_wait_through_a_restart_of_the_service(self):
        root = self.sim.root(TUTORIAL)
        os.makedirs(os.path.join(root, "later", "sub"), exist_ok=True)
        with open(os.path.join(root, "later", "sub", "f.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        with Mount(self.env) as m:
            self.assertIn(TUTORIAL, os.listdir(m.path))
            sub = os.path.join(m.path, TUTORIAL, "later", "sub")
            proc = self.sim.proc
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            # Started while the service is down: refused connections until it is back.
            walker = subprocess.Popen(["find", os.path.join(m.path, TUTORIAL, "later")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            reader = subprocess.Popen(["md5sum", os.path.join(sub, "f.bin")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # Restart on the same ports: self.sim.proc is the stopped one; restart_sim reuses it.
            self.sim.proc = proc
            self.restart_sim(down_seconds=30)  # the outage the mount promises to ride out
            out, err = walker.communicate(timeout=90)
            self.assertEqual(walker.returncode, 0, err)
            self.assertIn("f.bin", out)
            out, err = reader.communicate(timeout=90)
            self.assertEqual(reader.returncode, 0, err)
            self.assertEqual(out.split()[0], md5_file(os.path.join(root, "later", "sub",
                                                                   "f.bin")))
            self.assertIsNone(m.proc.poll(), "the daemon died:\n" + m.output())
            self.assertEqual(giving_up_lines(m), [], m.output())


class TaskAcrossOutageTests(OutageBase):
    # 8 MiB at 512 KiB/s: the task runs about 16 s, across the outage (the --config file is
    # read again at the restart).
    sim_config = {"tunables": {"bandwidth_bytes_per_second": 512 << 10}}

    def test_status_shows_a_task_continuously_and_polling_resumes_after_an_outage(self):
        t2 = "Globus Tutorial Collection 2"
        src = os.path.join(self.sim.root(TUTORIAL), "slow", "big.bin")
        os.makedirs(os.path.dirname(src))
        os.makedirs(os.path.join(self.sim.root(t2), "slow"))
        with open(src, "wb") as f:
            f.write(os.urandom(8 << 20))
        # The outage outlasts the retry budget: task polls fail, and the engine must go on.
        with Mount(self.env, "-o", "retry_budget_seconds=5") as m:
            def status():
                return json.loads(run_cli(self.env, "status", "--json", m.path).stdout)

            def active_task():
                tasks = status()["transfers"]["tasks"]
                return tasks[0] if tasks and tasks[0]["status"] == "ACTIVE" else None

            subprocess.run(["cp", os.path.join(m.path, TUTORIAL, "slow", "big.bin"),
                            os.path.join(m.path, t2, "slow")], check=True, timeout=60)
            before = wait_for(active_task, 30, "status to show the task ACTIVE", interval=0.2)
            self.sim.proc.send_signal(signal.SIGTERM)
            self.sim.proc.wait(timeout=10)
            # During the outage status still shows the task as last seen: the same task,
            # ACTIVE, its progress never going back, no failure.
            samples = []
            down_until = time.monotonic() + 12
            while time.monotonic() < down_until:
                samples.append(status()["transfers"])
                time.sleep(0.5)
            self.restart_sim(down_seconds=0)
            back = time.monotonic()

            def ended():
                tr = status()["transfers"]
                samples.append(tr)
                return tr if not tr["tasks"] and not tr["pending_entries"] else None
            after = wait_for(ended, 90, "the mount to see the task end", interval=0.5)
            seen_after = time.monotonic() - back
            progress = []
            for tr in samples:
                self.assertEqual(tr["failures"], [], tr)
                if tr["tasks"]:
                    t = tr["tasks"][0]
                    self.assertEqual((t["task_id"], t["status"]), (before["task_id"], "ACTIVE"))
                    progress.append(t["bytes_transferred"])
            self.assertEqual(progress, sorted(progress))
            self.assertGreater(len(progress), 20)  # the task was shown through the outage
            self.assertEqual(after["failures"], [])
            # Polling resumed: the end is seen within one maximal poll interval (30 s) plus a
            # failed poll's budget after the service came back (a bound, not a benchmark).
            self.assertLess(seen_after, 30 + 5 + 10, m.output())
            self.assertEqual(md5_file(os.path.join(self.sim.root(t2), "slow", "big.bin")),
                             md5_file(src))
            self.assertIsNone(m.proc.poll(), "the daemon died:\n" + m.output())


class RemountTests(SimTestCase):
    def test_unmount_then_mount_at_once(self):
        path = os.path.join(self.sim.state, "remount")
        os.makedirs(path)
        for i in range(4):
            m = Mount(self.env, path=path)
            m.__enter__()
            self.assertIn(TUTORIAL, os.listdir(path))
            started = time.monotonic()
            p = run_cli(self.env, "unmount", path, check=False)
            took = time.monotonic() - started
            self.assertEqual(p.returncode, 0, p.stderr)
            # `unmount` returns once the daemon let go of the mount's journal; it exits then.
            rc = m.proc.wait(timeout=5)
            self.assertEqual(rc, 0, m.output())
            self.assertNotIn("waiting for", p.stderr)  # it took less than a second
            print(f"\n  iteration {i}: unmount returned after {took:.2f} s", end="")
            m.logf.close()
            m.proc = None
        with Mount(self.env, path=path):
            self.assertIn(TUTORIAL, os.listdir(path))

    def test_unmount_waits_for_a_daemon_that_uses_another_state_dir(self):
        # The daemon's journal is under the state_dir it was started with; `unmount` run with
        # another configuration (here the default one) must still wait for that daemon.
        other = os.path.join(self.sim.state, "other-state")
        with open(self.sim.info["config_file"]) as f:
            conf = re.sub(r"(?m)^state_dir = .*$", f"state_dir = {other}", f.read())
        self.assertIn(f"state_dir = {other}", conf)
        conf_file = os.path.join(self.sim.state, "other-state.conf")
        with open(conf_file, "w") as f:
            f.write(conf)
        env = dict(self.env, GLOBUS_FUSE_CONFIG=conf_file)
        path = os.path.join(self.sim.state, "elsewhere")
        os.makedirs(path)
        for _ in range(3):
            m = Mount(env, path=path)
            m.__enter__()
            self.assertIn(TUTORIAL, os.listdir(path))
            p = run_cli(self.env, "unmount", path, check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            # Returned once the daemon exited, not merely once the kernel let go of the path.
            self.assertIsNotNone(m.proc.poll(), "unmount returned before the daemon exited")
            self.assertEqual(m.proc.wait(timeout=5), 0, m.output())
            m.logf.close()
            m.proc = None
        self.assertTrue(os.listdir(other))  # the daemon's journal was there, not in the default

    def test_unmount_is_prompt_while_background_listings_are_retrying(self):
        root = self.sim.root(TUTORIAL)
        for i in range(3):
            os.makedirs(os.path.join(root, "slowtree", f"d{i}"), exist_ok=True)
        # The subdirectories' listings fail for good; the walk's prefetch of them (background
        # workers) keeps retrying within its 60 s budget when the unmount comes.
        self.sim.fault(r"path=%2Fslowtree%2Fd", "status", status=503, retry_after=1, count=-1)
        try:
            with Mount(self.env) as m:
                self.assertEqual(sorted(os.listdir(os.path.join(m.path, TUTORIAL, "slowtree"))),
                                 ["d0", "d1", "d2"])
                wait_for(lambda: self.sim.stats()["responses_by_status"].get("ls 503", 0) >= 3,
                         30, "the prefetch to be retrying")
                started = time.monotonic()
                p = run_cli(self.env, "unmount", m.path, check=False)
                took = time.monotonic() - started
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(m.proc.wait(timeout=30), 0, m.output())
                # The retries end with the session, not with their budget (a bound, not a
                # benchmark: it measured ~0.2 s).
                self.assertLess(took, 5, m.output())
        finally:
            self.sim.clear_faults()

    def test_mount_waits_for_a_daemon_that_is_still_exiting(self):
        path = os.path.join(self.sim.state, "quick")
        os.makedirs(path)
        first = Mount(self.env, path=path)
        first.__enter__()
        try:
            # fusermount3 -u returns before the daemon is gone; mount right after it.
            subprocess.run(["fusermount3", "-u", path], check=True, timeout=30)
            with Mount(self.env, path=path) as second:
                self.assertIn(TUTORIAL, os.listdir(path))
                self.assertNotIn("cannot open the transfer journal", second.output())
        finally:
            rc = first.proc.wait(timeout=30)
            first.logf.close()
            first.proc = None
        self.assertEqual(rc, 0, first.output())


if __name__ == "__main__":
    unittest.main()
