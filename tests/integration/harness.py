"""Harness for real-mount integration tests: globus-sim + the globus-fuse binary.

Every helper here is bounded in time: a test that would hang fails instead.

    sim = Sim.start()                 # fresh emulator in a temp dir, on free ports
    env = sim.client_env()            # GLOBUS_FUSE_CONFIG, XDG dirs, BROWSER = sim browser helper
    run_cli(env, "login")             # full login through the sim's login page
    with Mount(env) as m:             # globus-fuse mount -f in the background
        os.listdir(m.path)

The binary is $GF_BINARY (scripts/test sets it), else build/cli/globus-fuse.
"""

import atexit
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("GF_BINARY", os.path.join(ROOT, "build", "cli", "globus-fuse"))
SIM = os.path.join(ROOT, "scripts", "globus-sim")
ASAN = os.environ.get("GF_ASAN") == "1"


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def fuse_device_for_users(test):
    """Makes /dev/fuse usable by unprivileged users for the duration of `test`, as a normal
    Debian machine has it: udev's 50-udev-default.rules gives it mode 0666. A container
    without udev leaves the kernel's 0600, where a user's mount fails with "failed to open
    /dev/fuse: Permission denied" before fusermount3 is even asked. Tests of what a normal user
    sees call this, so they do not depend on how the machine booted; the mode is restored."""
    st = os.stat("/dev/fuse")
    if st.st_mode & 0o006 == 0o006:
        return
    if os.geteuid() != 0:
        test.skipTest("/dev/fuse is not usable by other users, and only root can change that")
    os.chmod("/dev/fuse", 0o666)
    test.addCleanup(os.chmod, "/dev/fuse", st.st_mode & 0o7777)


class Sim:
    """A globus-sim process with its state directory."""

    def __init__(self, state, proc, info):
        self.state = state
        self.proc = proc
        self.info = info
        self.ctx = ssl.create_default_context(cafile=info["ca_file"])

    @classmethod
    def start(cls, latency_ms=0, config=None, extra_args=()):
        state = tempfile.mkdtemp(prefix="gf-sim-")
        args = [SIM, "--state", state, "--port", "0", "--latency-ms", str(latency_ms), *extra_args]
        if config is not None:
            path = os.path.join(state, "sim-config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            args += ["--config", path]
        with open(os.path.join(state, "sim.stdout"), "w") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        sim_json = os.path.join(state, "sim.json")
        try:
            wait_for(lambda: os.path.exists(sim_json) or proc.poll() is not None, 30, "sim.json")
        except AssertionError:
            proc.kill()
            raise
        if proc.poll() is not None:
            with open(os.path.join(state, "sim.stdout")) as f:
                raise RuntimeError("globus-sim exited at start:\n" + f.read())
        with open(sim_json) as f:
            info = json.load(f)
        return cls(state, proc, info)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.state, ignore_errors=True)

    # --- control API ---------------------------------------------------------------------------
    def control(self, method, path, body=None):
        url = self.info["control_url"].rstrip("/") + "/" + path.lstrip("/")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def stats(self):
        return self.control("GET", "stats")

    def reset_stats(self):
        self.control("POST", "stats/reset", {})

    def count(self, route):
        """Requests served for a route name (e.g. 'ls', 'stat', 'https_get', 'transfer')."""
        return int(self.stats()["requests"].get(route, 0))

    def api_calls(self):
        """Requests served since the last reset, not counting the control API's own."""
        return sum(n for route, n in self.stats()["requests"].items()
                   if not route.startswith("control"))

    def bytes_served(self, route="https_get"):
        return int(self.stats()["bytes_served"].get(route, 0))

    def bytes_received(self, route="https_put"):
        return int(self.stats()["bytes_received"].get(route, 0))

    def fault(self, route, kind, **kw):
        """Inject a fault: kind is a status code rule ('status'), 'reset', 'stall', 'malformed'."""
        self.control("POST", "faults", dict(route=route, kind=kind, **kw))

    def clear_faults(self):
        self.control("DELETE", "faults")

    def collection(self, name):
        for c in self.info["collections"]:
            if c["display_name"] == name:
                return c
        raise KeyError(name)

    def root(self, name):
        return self.collection(name)["root"]

    # --- client environment ----------------------------------------------------------------------
    def client_env(self, home=None):
        home = home or tempfile.mkdtemp(prefix="gf-home-", dir=self.state)
        env = dict(os.environ)
        env.update({
            "GLOBUS_FUSE_CONFIG": self.info["config_file"],
            "HOME": home,
            "XDG_CONFIG_HOME": os.path.join(home, ".config"),
            "XDG_STATE_HOME": os.path.join(home, ".local", "state"),
            "BROWSER": f"{SIM} browser",
        })
        if ASAN:
            # Reports go to the process's stderr, i.e. into the mount log that failing tests
            # print (a log_path file would vanish with the temp dir).
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=86"
        return env


def default_sigint():
    """preexec_fn for a child the test will Ctrl-C: a runner started in the background (`cmd &`
    in a script) ignores SIGINT, and children inherit that, so SIGINT would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(env, *args, timeout=60, check=True, input=None):
    p = subprocess.run([BINARY, *args], env=env, capture_output=True, text=True, timeout=timeout,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"globus-fuse {' '.join(args)} exited {p.returncode}:\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


_mount_log_dir = None


def mount_log_dir():
    """Where this process's mounts write their daemon logs: one directory, removed when the
    process exits (a failing test shows the log through Mount.output() in its message; set
    GF_KEEP_MOUNT_LOGS=1 to keep the files). It never holds a mount point."""
    global _mount_log_dir
    if _mount_log_dir is None:
        _mount_log_dir = tempfile.mkdtemp(prefix="gf-mount-logs-")
        if os.environ.get("GF_KEEP_MOUNT_LOGS") != "1":
            atexit.register(shutil.rmtree, _mount_log_dir, True)
    return _mount_log_dir


class Mount:
    """`globus-fuse mount -f` in the background; unmounted and reaped on exit."""

    def __init__(self, env, *extra, path=None, preexec=None):
        self.env = env
        self.extra = extra
        self.preexec = preexec  # run in the daemon's process before exec (e.g. setrlimit)
        self.path = path or tempfile.mkdtemp(prefix="gf-mnt-")
        self.proc = None
        self.log = os.path.join(mount_log_dir(), os.path.basename(self.path) + ".log")

    def __enter__(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([BINARY, "mount", self.path, "-f", *self.extra], env=self.env,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=self.preexec)
        try:
            wait_for(lambda: os.path.ismount(self.path) or self.proc.poll() is not None, 30,
                     "the mount")
        except AssertionError:
            self.proc.kill()
            raise
        if self.proc.poll() is not None:
            raise AssertionError(f"globus-fuse mount exited {self.proc.returncode}:\n{self.output()}")
        return self

    def output(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log, errors="replace") as f:
            return f.read()

    def unmount(self):
        if self.proc is None:
            return None
        if os.path.ismount(self.path):
            subprocess.run([BINARY, "unmount", self.path], env=self.env, capture_output=True,
                           timeout=30)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            subprocess.run(["fusermount3", "-u", "-z", self.path], capture_output=True)
            rc = self.proc.wait(timeout=10)
            raise AssertionError("globus-fuse did not exit after unmount:\n" + self.output())
        finally:
            self.logf.close()
            self.proc = None
            if os.path.ismount(self.path):  # the daemon died: don't leave a dead mount behind
                subprocess.run(["fusermount3", "-u", "-z", self.path], capture_output=True,
                               timeout=30)
        return rc

    def __exit__(self, *exc):
        rc = self.unmount()
        if exc[0] is None and rc not in (0, None):
            raise AssertionError(f"globus-fuse mount exited {rc}:\n{self.output()}")
        try:
            os.rmdir(self.path)
        except OSError:
            pass
        return False


class SimTestCase(unittest.TestCase):
    """One logged-in sim per test class (starting one takes about a second)."""

    sim_latency_ms = 0
    sim_config = None

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(BINARY):
            raise unittest.SkipTest(f"{BINARY} not built")
        cls.sim = Sim.start(latency_ms=cls.sim_latency_ms, config=cls.sim_config)
        cls.env = cls.sim.client_env()
        run_cli(cls.env, "login")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()


class MountTestCase(SimTestCase):
    """A logged-in sim and one mount for the whole class."""

    mount_args = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.populate()
        cls.mount = Mount(cls.env, *cls.mount_args)
        cls.mount.__enter__()
        cls.mnt = cls.mount.path

    @classmethod
    def tearDownClass(cls):
        try:
            cls.mount.__exit__(None, None, None)
        finally:
            super().tearDownClass()

    @classmethod
    def populate(cls):
        pass

    def path(self, collection, *parts):
        return os.path.join(self.mnt, collection, *parts)


def md5_file(path, chunk=1 << 20):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)
