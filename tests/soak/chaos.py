"""The chaos soak: a mounted globus-fuse under random faults on every route of globus-sim.

While readers check bytes, walkers compare listings with the sim's backing folders and workers
run cp, cp -r, mv (within and across collections), rm and rm -r, and write local bytes into the
mount (new files, overwrites, appends with `>>`) in a loop, a chaos thread
injects faults (5xx, 429, resets mid-body, stalls, malformed bodies, dropped connections,
transient 404s), expires the access tokens, restarts globus-sim (SIGTERM or kill -9; it keeps
its state) and kills the daemon with kill -9 and mounts again. Then it checks:

- 0 wrong bytes: every read through the mount equals the file's bytes;
- 0 wrong listings: the static tree always lists as it is; a tree changed directly in the
  backing folder lists as it is once the TTLs have passed; at the end every tree does;
- no call hung: each syscall issued here took at most CALL_BOUND (the retry budget plus one
  request's stall timeout plus slack), each tool run at most TOOL_BOUND;
- no transfer or delete task submitted twice: every destination path (transfers) and every
  deleted path (deletes) is in at most one task (each cp, mv and rm here uses a new name;
  overwrites and appends are HTTPS PUTs, not tasks), and no submission id has two tasks;
- no data lost: at the end the backing folders hold exactly what the operations imply (a write
  that failed must have left the old content or the new one, never a mix; an rm or rm -r that
  failed may have removed any part of its tree, as on a local disk, and changed nothing);
- the daemon's RSS and open descriptors stay flat (RSS_GROWTH_MIB, FD_GROWTH below);
- no error surfaced to a program: the faults are bounded so that each call can succeed within
  its retry budget.

Run it (short: scripts/test --only soak; long: scripts/test --only soak --soak-minutes 30):

    python3 -m tests.soak.chaos --seconds 60 [--seed N] [--write-mode background]

The soak tier runs it in both write modes (the default, and `write_mode = background`, where a
close returns before its upload and a kill -9 leaves the journaled uploads to the next mount).

The seed fixes the soak's choices (tree, operations, faults, their times); thread timing is
not reproducible, so a failure may need a few runs with its seed to recur.
"""

import argparse
import collections
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from tests.integration.harness import BINARY, Mount, Sim, run_cli
from tests.integration.test_resilience import free_port_block

T1 = "Globus Tutorial Collection 1"
T2 = "Globus Tutorial Collection 2"
COLLECTIONS = (T1, T2)
DEFAULT_SEED = 15

BUDGET = 30  # the mount's retry_budget_seconds (half the default, to keep runs short)
LOW_SPEED = 10  # low_speed_time: a stalled request is abandoned and retried after this long
TTL = 2  # dir_ttl = attr_ttl = entry_ttl; negative_ttl is 1
MOUNT_ARGS = [a for kv in (f"retry_budget_seconds={BUDGET}", f"low_speed_time={LOW_SPEED}",
                           f"dir_ttl={TTL}", f"attr_ttl={TTL}", f"entry_ttl={TTL}",
                           "negative_ttl=1") for a in ("-o", kv)]
CALL_BOUND = BUDGET + LOW_SPEED + 10  # one syscall: budget + one stalled request + slack
TOOL_BOUND = 4 * CALL_BOUND  # cp/mv/rm make a few calls each, every one bounded
SETTLE_BOUND = 240  # waiting for a pending entry's task to end (tasks wait out sim restarts)
RSS_GROWTH_MIB = 32  # a daemon's RSS, last quarter of its life vs its second quarter
FD_GROWTH = 16  # its open descriptors, the same comparison (connection pools settle early),
# staged files apart: those open follow the writes and uploads in flight (a backlog of
# background uploads while the server is down holds one each). They are checked once nothing is
# open or queued: then only the spare staging files stay open, at most SPARES of them.
SPARES = 8  # fs/write/staging_store.h kMaxSpares
FLAT_MIN_LIFE = 40  # seconds a daemon must live for the flatness comparison
# Sizes of the files the workers write from local bytes (0: an empty file, one 0-byte PUT).
WRITE_SIZES = (0, 1, 4096, 65537, 300001, (1 << 20) + 7)

# Every route the mount uses, weighted by how much the soak's traffic uses it (a fault on a
# route nobody calls is never served).
JSON_ROUTES = {"ls": 3, "stat": 3, "mkdir": 1, "rename": 1, "submission_id": 2, "transfer": 2,
               "delete": 2, "task": 0.5, "task_list": 2, "event_list": 0.5,
               "successful_transfers": 1, "endpoint": 0.5, "token": 1}
DATA_ROUTES = {"https_get": 4, "https_head": 0.5, "https_put": 1, "https_delete": 1}
ROUTES = {**JSON_ROUTES, **DATA_ROUTES}


def md5(data):
    return hashlib.md5(data).hexdigest()


class Either:
    """A model value after a write that failed: the file must hold one of `digests` (None:
    the name must not exist), never a mix of them."""

    def __init__(self, *digests):
        self.digests = frozenset(digests)

    def __repr__(self):
        return f"one of {sorted(str(d) for d in self.digests)}"


def matches(actual, want):
    """`actual`: an md5, "dir" or None (absent) at the collection; `want`: the model's value."""
    return actual in want.digests if isinstance(want, Either) else actual == want


class Gate:
    """Workers hold it shared for each operation; the chaos thread holds it alone to kill -9
    the daemon and mount again (no operation of this test is cut by the kill: the daemon's
    own background work, submissions and polling, is). Writer-preferring."""

    def __init__(self):
        self.cv = threading.Condition()
        self.shared = 0
        self.exclusive = False
        self.waiting = 0

    @contextlib.contextmanager
    def op(self):
        with self.cv:
            while self.exclusive or self.waiting:
                self.cv.wait()
            self.shared += 1
        try:
            yield
        finally:
            with self.cv:
                self.shared -= 1
                self.cv.notify_all()

    @contextlib.contextmanager
    def alone(self):
        with self.cv:
            self.waiting += 1
            while self.exclusive or self.shared:
                self.cv.wait()
            self.waiting -= 1
            self.exclusive = True
        try:
            yield
        finally:
            with self.cv:
                self.exclusive = False
                self.cv.notify_all()


class Tally:
    """What the soak did and saw; thread-safe."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.ops = collections.Counter()
        self.faults = collections.Counter()
        self.fault_routes = collections.Counter()
        self.errors = []  # errors a program saw
        self.wrong_bytes = 0
        self.wrong = []  # wrong bytes and wrong listings, described
        self.wrong_listings = 0
        self.listings = 0
        self.bytes_read = 0
        self.bytes_written = 0  # sent into the mount by write, overwrite and append
        self.slowest = {}  # class -> (seconds, what)
        self.hung = []
        self.crashes = []
        self.journal = []  # "UTC start..end worker-visible tool run: rc", kept on failure

    def note(self, started, what, outcome):
        """One tool run, stamped in UTC like the daemon's and globus-sim's logs."""
        fmt = "%H:%M:%S"
        now = time.time()
        line = (f"{time.strftime(fmt, time.gmtime(started))}.{int(started % 1 * 1000):03d}.."
                f"{time.strftime(fmt, time.gmtime(now))}.{int(now % 1 * 1000):03d} "
                f"{threading.current_thread().name}: {what}: {outcome}")
        with self.lock:
            self.journal.append(line)

    def count(self, what, n=1):
        with self.lock:
            self.ops[what] += n

    def stamp(self):
        return f"[{time.monotonic() - self.t0:.1f} s] "

    def error(self, what, exc):
        with self.lock:
            self.errors.append(f"{self.stamp()}{what}: {exc}")

    def bad_bytes(self, what, n):
        with self.lock:
            self.wrong_bytes += n
            self.wrong.append(f"{self.stamp()}wrong bytes: {what} ({n} bytes)")

    def bad_listing(self, what):
        with self.lock:
            self.wrong_listings += 1
            self.wrong.append(f"{self.stamp()}wrong listing: {what}")

    def timing(self, cls, what, seconds, bound):
        with self.lock:
            if seconds > self.slowest.get(cls, (0, ""))[0]:
                self.slowest[cls] = (seconds, what)
            if seconds > bound:
                self.hung.append(f"{cls} {what}: {seconds:.1f} s (bound {bound} s)")


class Soak:
    def __init__(self, seconds, seed, out=sys.stdout, write_mode="close"):
        self.seconds = seconds
        self.seed = seed
        self.write_mode = write_mode
        # write_mode=background: closes return before the upload; the model still takes the
        # new content (fault counts stay within the upload's retries), and a kill -9 leaves the
        # journaled uploads to the next mount.
        self.mount_args = MOUNT_ARGS + ["-o", f"write_mode={write_mode}"]
        self.out = out
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.gate = Gate()
        self.stop = threading.Event()
        self.model_lock = threading.Lock()
        self.model = {}  # (collection, path under soak/) -> md5, "dir" or Either: what must exist
        self.contents = {}  # md5 -> bytes of every file the model can name (guarded by model_lock)
        self.samples = {}  # daemon pid -> [(t, rss KiB, fds)]
        self.sim_stats = collections.Counter()  # summed over sim restarts
        self.fault_rules = 0
        self.consumed_faults = 0
        self.unused_faults = 0
        self.daemon_retries = 0
        self.events = collections.Counter()
        self.daemon_logs = []
        self.t0 = None

    def say(self, *args):
        print(*args, file=self.out, flush=True)

    # --- setup -------------------------------------------------------------------------------
    def start(self):
        if not os.path.exists(BINARY):
            raise RuntimeError(f"{BINARY} not built")
        self.port = free_port_block()
        self.sim = Sim.start(extra_args=("--port", str(self.port)))
        self.env = self.sim.client_env()
        self.local = tempfile.mkdtemp(prefix="gf-soak-local-", dir=self.sim.state)
        run_cli(self.env, "login")
        self.seed_trees()
        self.path = tempfile.mkdtemp(prefix="gf-soak-mnt-", dir=self.sim.state)
        self.mount = Mount(self.env, *self.mount_args, path=self.path)
        self.mount.__enter__()
        for c in COLLECTIONS:
            for w in range(self.workers):
                os.mkdir(self.m(c, f"w{w}"))
                self.model[(c, f"w{w}")] = "dir"

    workers = 2

    def backing(self, collection, *parts):
        return os.path.join(self.sim.root(collection), "soak", *parts)

    def m(self, collection, *parts):
        return os.path.join(self.path, collection, "soak", *parts)

    def seed_trees(self):
        """T1 soak/ro: a static tree (readers, walkers, sources of copies); soak/churn: changed
        directly in the backing folder while the mount runs."""
        sizes = (17, 4096, 65537, 300001, 1 << 20, (2 << 20) + 123)
        self.ro = {}
        for d in range(4):
            files = {f"d{d}/f0": 0}  # an empty file: cp -r makes it with a 0-byte PUT
            for f in range(1, 5):
                files[f"d{d}/f{f}"] = self.rng.choice(sizes)
            files[f"d{d}/sub/g0"] = self.rng.choice(sizes)
            files[f"d{d}/sub/g1"] = self.rng.choice(sizes[:3])
            for rel, size in files.items():
                data = self.rng.randbytes(size)
                p = self.backing(T1, "ro", rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.write(data)
                self.ro[rel] = data
        self.ro_listing = tree_listing(self.backing(T1, "ro"))
        self.contents = {md5(d): d for d in self.ro.values()}
        for i in range(4):
            self.churn_write(f"c{i}", self.rng)
        os.makedirs(self.backing(T2), exist_ok=True)

    def churn_write(self, name, rng):
        p = self.backing(T1, "churn", name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        old = os.path.getsize(p) if os.path.exists(p) else -1
        size = rng.randrange(0, 200000)
        if size == old:  # a rewrite always changes the size (same-size rewrites within one
            size += 1  # second are allowed to show the cached version: SEMANTICS)
        with open(p, "wb") as f:
            f.write(rng.randbytes(size))

    # --- helpers -----------------------------------------------------------------------------
    def call(self, what, fn, *args):
        t = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.tally.timing("call", what, time.monotonic() - t, CALL_BOUND)

    def tool(self, *argv):
        t = time.monotonic()
        started = time.time()
        what = " ".join(os.path.relpath(a, self.path) if a.startswith(self.path) else a
                        for a in argv)
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_BOUND + 30)
        except subprocess.TimeoutExpired:
            self.tally.timing("tool", what, time.monotonic() - t, TOOL_BOUND)
            self.tally.error(what, "timed out")
            self.tally.note(started, what, "timed out")
            return False
        self.tally.timing("tool", what, time.monotonic() - t, TOOL_BOUND)
        self.tally.note(started, what, f"exit {p.returncode}")
        if p.returncode != 0:
            self.tally.error(what, f"exit {p.returncode}: {p.stderr.strip()}")
            return False
        return True

    def listing(self, path):
        """{name: ('d', 0) | ('f', size)} through the mount, each syscall timed."""
        out = {}
        names = self.call(f"listdir {path}", os.listdir, path)
        for n in names:
            st = self.call(f"lstat {path}/{n}", os.lstat, os.path.join(path, n))
            out[n] = ("d", 0) if (st.st_mode & 0o170000) == 0o040000 else ("f", st.st_size)
        self.tally.count("listing")
        return out

    def compare_tree(self, c, top, want, note=""):
        """Lists each directory of `want` (as tree_listing gives it) under soak/`top` of
        collection `c` through the mount; counts each listing that differs."""
        for rel, listing in want.items():
            try:
                got = self.listing(self.m(c, top, rel))
            except OSError as e:
                self.tally.error(f"list {c}/soak/{top}/{rel}", e)
                continue
            if got != listing:
                self.tally.bad_listing(f"{c}/soak/{top}/{rel} {note}{diff(listing, got)}")

    def read_through_mount(self, path, expected, rng, what):
        """Reads `path` whole (sequential or as random preads) and counts differing bytes."""
        # O_DIRECT half the time: past the page cache, so the bytes come from the collection.
        flags = os.O_RDONLY | (os.O_DIRECT if rng.random() < 0.5 else 0)
        fd = self.call(f"open {what}", os.open, path, flags)
        try:
            if rng.random() < 0.5:
                got = bytearray()
                while True:
                    chunk = self.call(f"read {what}", os.read, fd, rng.choice((4096, 131072,
                                                                              1 << 20)))
                    if not chunk:
                        break
                    got += chunk
                self.compare(what, expected, bytes(got))
            else:
                for _ in range(4):
                    off = rng.randrange(0, len(expected) + 1)
                    n = rng.randrange(1, 300000)
                    got = self.call(f"pread {what}", os.pread, fd, n, off)
                    self.compare(f"{what}@{off}", expected[off:off + n], got)
        finally:
            os.close(fd)

    def compare(self, what, expected, got):
        with self.tally.lock:
            self.tally.bytes_read += len(got)
        if got != expected:
            n = sum(a != b for a, b in zip(expected, got)) + abs(len(expected) - len(got))
            self.tally.bad_bytes(what, n)

    def guarded(self, name, fn, *args):
        """A thread body: an exception that is not a surfaced OSError is a soak defect."""
        def run():
            try:
                fn(*args)
            except Exception:
                with self.tally.lock:
                    self.tally.crashes.append(f"{name}: {traceback.format_exc()}")
                self.stop.set()
        return threading.Thread(target=run, name=name, daemon=True)

    # --- readers and walkers -----------------------------------------------------------------
    def reader(self, i):
        rng = random.Random(f"{self.seed}-reader-{i}")
        names = sorted(self.ro)
        while not self.stop.is_set():
            rel = rng.choice(names)
            with self.gate.op():
                try:
                    self.read_through_mount(self.m(T1, "ro", rel), self.ro[rel], rng, f"ro/{rel}")
                    self.tally.count("read")
                except OSError as e:
                    self.tally.error(f"read ro/{rel}", e)

    def walker(self):
        """The static tree always lists exactly as its backing folder."""
        while not self.stop.is_set():
            with self.gate.op():
                self.compare_tree(T1, "ro", self.ro_listing)
            self.stop.wait(1)  # about once per TTL: every pass makes fresh listings

    def churner(self):
        """Changes soak/churn in the backing folder, waits out the TTLs, then compares."""
        rng = random.Random(f"{self.seed}-churn")
        n = 4
        while not self.stop.is_set():
            for _ in range(rng.randrange(1, 4)):
                r = rng.random()
                names = sorted(x for x in os.listdir(self.backing(T1, "churn"))
                               if x.startswith("c"))
                if r < 0.4 or not names:
                    self.churn_write(f"c{n}", rng)
                    n += 1
                elif r < 0.7:
                    self.churn_write(rng.choice(names), rng)
                else:
                    os.unlink(self.backing(T1, "churn", rng.choice(names)))
            if rng.random() < 0.3:
                d = self.backing(T1, "churn", "dir")
                if os.path.isdir(d):
                    shutil.rmtree(d)
                else:
                    os.makedirs(os.path.join(d, f"x{n}"))
            if self.stop.wait(TTL + 2):  # the consistency window: all TTLs are <= TTL
                return
            want = tree_listing(self.backing(T1, "churn"))
            with self.gate.op():
                self.compare_tree(T1, "churn", want, "after the TTLs: ")
                files = [x for x, (t, _) in want["."].items() if t == "f"]
                if files:
                    name = rng.choice(sorted(files))
                    with open(self.backing(T1, "churn", name), "rb") as f:
                        data = f.read()
                    try:
                        self.read_through_mount(self.m(T1, "churn", name), data, rng,
                                                f"churn/{name}")
                    except OSError as e:
                        self.tally.error(f"read churn/{name}", e)

    # --- workers: cp, cp -r, mv, rm, rm -r, and writes -------------------------------------
    OPS = {"cp": 4, "cp -r": 3, "mv": 2, "mv across": 2, "rm": 2, "rm -r": 2, "write": 3,
           "overwrite": 2, "append": 2}

    def worker(self, w):
        rng = random.Random(f"{self.seed}-worker-{w}")
        entries = []  # [collection, name, "file" | "tree"] this worker made
        k = 0
        ops = sorted(self.OPS)
        while not self.stop.is_set():
            k += 1
            op = rng.choices(ops, weights=[self.OPS[o] for o in ops])[0]
            want_kind = {"rm": "file", "overwrite": "file", "append": "file",
                         "rm -r": "tree"}.get(op)
            pool = [e for e in entries if want_kind in (None, e[2])]
            if op in ("mv", "mv across", "rm", "rm -r", "overwrite", "append") and not pool:
                op = "write" if op in ("overwrite", "append") else "cp"
            with self.gate.op():
                if op == "cp":
                    rel = rng.choice(sorted(self.ro))
                    c, name = rng.choice(COLLECTIONS), f"w{w}/c{k}.bin"
                    if self.tool("cp", self.m(T1, "ro", rel), self.m(c, name)):
                        self.tally.count(op)
                        self.model_set({(c, name): md5(self.ro[rel])})
                        entries.append([c, name, "file"])
                elif op == "cp -r":
                    d = f"d{rng.randrange(4)}"
                    c, name = rng.choice(COLLECTIONS), f"w{w}/t{k}"
                    if self.tool("cp", "-r", self.m(T1, "ro", d), self.m(c, name)):
                        self.tally.count(op)
                        self.model_set(self.ro_tree(d, c, name))
                        entries.append([c, name, "tree"])
                elif op == "write":
                    c, name = rng.choice(COLLECTIONS), f"w{w}/n{k}.bin"
                    self.write(w, op, [c, name, "file"], None,
                               rng.randbytes(rng.choice(WRITE_SIZES)), entries)
                else:
                    e = rng.choice(pool)
                    if not self.settle(e):
                        entries.remove(e)
                        continue
                    c, name, kind = e
                    if op in ("overwrite", "append"):
                        with self.model_lock:
                            old = self.model[(c, name)]
                        data = rng.randbytes(rng.choice(WRITE_SIZES) if op == "overwrite" else
                                             rng.randrange(1, 100000))
                        self.write(w, op, e, old, data, entries)
                    elif op in ("mv", "mv across"):
                        c2 = c if op == "mv" else next(x for x in COLLECTIONS if x != c)
                        new = f"w{w}/m{k}" + (".bin" if kind == "file" else "")
                        if self.tool("mv", self.m(c, name), self.m(c2, new)):
                            self.tally.count(op)
                            self.model_move(c, name, c2, new)
                            e[0], e[1] = c2, new
                    elif self.tool(*(["rm", "-r"] if kind == "tree" else ["rm"]),
                                   self.m(c, name)):
                        self.tally.count(op)
                        self.model_move(c, name, None, None)
                        entries.remove(e)
                    else:
                        # A failed rm (its error is counted) may have removed any part of the
                        # tree before it failed, as on a local disk, and what it queued may
                        # still run: each of its entries is now intact or gone, never changed.
                        self.model_may_be_gone(c, name)
                        entries.remove(e)

    def write(self, w, op, e, old, data, entries):
        """Writes local bytes through the mount: `cp LOCAL` onto a new name (write) or an
        existing file (overwrite), or `cat LOCAL >> file` (append). The model takes the new
        content; after a failure, the old content or the new one (never a mix), and the entry
        is not used again."""
        c, name, _ = e
        local = os.path.join(self.local, f"w{w}")
        with open(local, "wb") as f:
            f.write(data)
        sent = len(data)
        if op == "append":
            with self.model_lock:
                data = self.contents[old] + data
            ok = self.tool("sh", "-c", 'cat "$1" >> "$2"', "sh", local, self.m(c, name))
        else:
            ok = self.tool("cp", local, self.m(c, name))
        digest = md5(data)
        with self.model_lock:
            self.contents[digest] = data
            self.model[(c, name)] = digest if ok else Either(old, digest)
        if ok:
            self.tally.count(op)
            with self.tally.lock:
                self.tally.bytes_written += sent
            if old is None:
                entries.append(e)
        elif old is not None:
            entries.remove(e)

    def ro_tree(self, d, c, name):
        out = {(c, name): "dir"}
        for rel, data in self.ro.items():
            if rel.startswith(d + "/"):
                parts = rel[len(d) + 1:].split("/")
                for i in range(1, len(parts)):
                    out[(c, "/".join([name, *parts[:i]]))] = "dir"
                out[(c, "/".join([name, *parts]))] = md5(data)
        return out

    def model_set(self, items):
        with self.model_lock:
            self.model.update(items)

    def model_move(self, c, name, c2, new):
        with self.model_lock:
            moved = {k: v for k, v in self.model.items()
                     if k[0] == c and (k[1] == name or k[1].startswith(name + "/"))}
            for k in moved:
                del self.model[k]
            if c2 is not None:
                for (_, p), v in moved.items():
                    self.model[(c2, new + p[len(name):])] = v

    def model_may_be_gone(self, c, name):
        """After a failed rm of `name`: each entry at or below it must be as it was or absent
        (Either(old, None)); everything else in the model keeps its exact value."""
        with self.model_lock:
            for k, v in list(self.model.items()):
                if k[0] == c and (k[1] == name or k[1].startswith(name + "/")):
                    olds = v.digests if isinstance(v, Either) else {v}
                    self.model[k] = Either(*olds, None)

    def settle(self, e):
        """Waits until the entry's copy or move has ended (no user.globus.status on it or
        below it), then checks its listing and bytes through the mount. False: it is gone."""
        c, name, _ = e
        with self.model_lock:
            want = {k[1]: v for k, v in self.model.items()
                    if k[0] == c and (k[1] == name or k[1].startswith(name + "/"))}
        t = time.monotonic()
        deadline = t + SETTLE_BOUND
        rng = random.Random(f"{self.seed}-{c}-{name}")
        # Opening a pending file waits for its task (and polls it every second meanwhile); a
        # directory moved across collections has no files to open until its transfer ended.
        for p, v in sorted(want.items()):
            if v != "dir":
                try:
                    os.close(os.open(self.m(c, p), os.O_RDONLY))
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self.tally.error(f"settle {c}/{p}", exc)
                    return False
        while True:
            try:  # the entry first: below a pending directory nothing exists yet
                if not any(pending(self.m(c, p)) for p in sorted(want)):
                    break
            except OSError as exc:
                self.tally.error(f"settle {c}/{name}", exc)
                return False
            if time.monotonic() > deadline:
                self.tally.error(f"settle {c}/{name}", f"still pending after {SETTLE_BOUND} s")
                return False
            time.sleep(0.2)
        self.tally.timing("wait", f"settle {name}", time.monotonic() - t, SETTLE_BOUND)
        try:
            for p, v in sorted(want.items()):
                if v == "dir":
                    got = self.listing(self.m(c, p))
                    expect = {q[len(p) + 1:]: (("d", 0) if want[q] == "dir" else
                                               ("f", self.size_of(want[q])))
                              for q in want if q.startswith(p + "/") and "/" not in
                              q[len(p) + 1:]}
                    if got != expect:
                        self.tally.bad_listing(f"{c}/soak/{p} after its copy: "
                                               f"{diff(expect, got)}")
                else:
                    with self.model_lock:
                        data = self.contents[v]
                    self.read_through_mount(self.m(c, p), data, rng, f"{c}/soak/{p}")
        except OSError as exc:
            self.tally.error(f"check {c}/{name}", exc)
            return False
        return True

    def size_of(self, digest):
        with self.model_lock:
            return len(self.contents[digest])

    # --- chaos ---------------------------------------------------------------------------------
    def chaos(self):
        rng = random.Random(f"{self.seed}-chaos")
        # The big events at fixed fractions of the run, one of each at least.
        events = []
        restarts = max(1, int(self.seconds // 240))
        kills = max(1, int(self.seconds // 600))
        for i in range(restarts):
            events.append(((i + rng.uniform(0.2, 0.5)) * self.seconds / restarts, "restart"))
        for i in range(kills):
            events.append(((i + rng.uniform(0.5, 0.65)) * self.seconds / kills, "kill"))
        events.sort()
        while not self.stop.is_set():
            now = time.monotonic() - self.t0
            if events and now >= events[0][0]:
                _, kind = events.pop(0)
                if kind == "restart":
                    self.restart_sim(rng)
                else:
                    self.kill_daemon()
                continue
            r = rng.random()
            if r < 0.08:
                self.sim.control("POST", "tokens/expire", {"user": "alice"})
                self.events["token expiry"] += 1
            else:
                self.inject(rng)
            self.stop.wait(rng.uniform(0.3, 1.5))

    def inject(self, rng):
        route = rng.choices(sorted(ROUTES), weights=[ROUTES[r] for r in sorted(ROUTES)])[0]
        # One live rule per route: a call then meets at most `count` faults in a row (plus a
        # sim restart), which its retry budget covers; stacked rules would exhaust it, and an
        # error after that is the promised ETIMEDOUT, not a defect.
        if any(f.get("count", 0) > 0 and f.get("route") == route
               for f in self.sim.control("GET", "faults")["faults"]):
            return
        kinds = ["5xx", "429", "reset", "stall", "drop"]
        if route in JSON_ROUTES:
            kinds.append("malformed")
        else:
            kinds.append("endpoint_error")
        if route == "rename":
            # Only what its rule rides out (SEMANTICS): after a 500/502/504, a dropped
            # connection or a malformed answer without the rename done, mv is EIO by design.
            kinds = ["503", "429", "reset", "stall"]
        kind = rng.choice(kinds)
        count = rng.randint(1, 3)
        spec = {"route": route, "count": count}
        if kind == "5xx":
            status = rng.choice((500, 502, 503, 504))
            spec.update(kind="status", status=status)
            if status == 502:  # a gateway's 502 (ExternalError would be the collection's)
                spec["code"] = "BadGateway"
        elif kind == "503":
            spec.update(kind="status", status=503)
        elif kind == "429":
            spec.update(kind="status", status=429, retry_after=rng.randint(1, 3))
        elif kind == "stall":
            spec.update(kind="stall", seconds=round(rng.uniform(1, 4), 1), count=min(count, 2))
        else:
            spec["kind"] = kind
        self.sim.control("POST", "faults", spec)
        self.fault_rules += 1
        self.tally.faults[kind] += spec["count"]
        self.tally.fault_routes[route] += spec["count"]

    def harvest_sim(self):
        """Adds the sim's counters and the used-up fault counts (both die with the sim)."""
        stats = self.sim.stats()
        for route_status, n in stats["responses_by_status"].items():
            self.sim_stats["status " + route_status] += n
        self.sim_stats["requests"] += sum(n for route, n in stats["requests"].items()
                                          if not route.startswith("control"))
        for route in ("https_put", "https_delete"):
            self.sim_stats["route " + route] += stats["requests"].get(route, 0)
        rules = self.sim.control("GET", "faults")["faults"]
        self.consumed_faults += sum(f.get("hits", 0) for f in rules)
        self.unused_faults += sum(max(0, f.get("count", 0)) for f in rules)
        self.sim.clear_faults()
        self.sim.reset_stats()

    def restart_sim(self, rng):
        hard = self.events["sim restart"] % 2 == 1
        self.harvest_sim()
        proc = self.sim.proc
        if hard:
            proc.kill()
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        sim_json = os.path.join(self.sim.state, "sim.json")
        if os.path.exists(sim_json):
            os.unlink(sim_json)
        down = rng.uniform(1, 6)
        self.stop.wait(down)  # every connection is refused meanwhile
        # Its port is in the ephemeral range: while it was down, another process's outgoing
        # connection may hold it for a moment ("Address already in use"); then start it again.
        for _ in range(30):
            with open(os.path.join(self.sim.state, "sim.stdout"), "a") as log:
                self.sim.proc = subprocess.Popen(list(proc.args), stdout=log,
                                                 stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 60
            while not os.path.exists(sim_json) and self.sim.proc.poll() is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("globus-sim did not start again")
                time.sleep(0.05)
            if os.path.exists(sim_json):
                break
            self.events["sim start retried (port busy)"] += 1
            time.sleep(1)
        else:
            raise RuntimeError("globus-sim did not start again (30 tries)")
        self.events["sim restart"] += 1
        self.say(f"  [{time.monotonic() - self.t0:6.1f} s] globus-sim "
                 f"{'kill -9' if hard else 'SIGTERM'}, down {down:.1f} s, restarted")

    def count_retries(self):
        """Adds the daemon's own count of API retries (its status; gone with a kill -9)."""
        st = self.status()
        if st:
            self.daemon_retries += int(st.get("api_client", {}).get("retries", 0))

    def kill_daemon(self):
        with self.gate.alone():
            self.count_retries()
            old = self.mount
            old.proc.kill()  # kill -9
            old.proc.wait(timeout=30)
            subprocess.run(["fusermount3", "-u", "-z", self.path], capture_output=True,
                           timeout=30)
            old.logf.close()
            old.proc = None
            kept = f"{old.log}.{self.events['daemon kill -9']}"
            os.replace(old.log, kept)
            self.daemon_logs.append(kept)
            self.mount = Mount(self.env, *self.mount_args, path=self.path)
            t = time.monotonic()
            self.mount.__enter__()
            self.events["daemon kill -9"] += 1
            self.say(f"  [{time.monotonic() - self.t0:6.1f} s] daemon kill -9, mounted again "
                     f"in {time.monotonic() - t:.1f} s")

    def sampler(self):
        while not self.stop.is_set():
            proc = self.mount.proc
            if proc is not None:
                try:
                    rss = read_rss_kib(proc.pid)
                    other, staged = self.count_fds(proc.pid)
                    self.samples.setdefault(proc.pid, []).append(
                        (time.monotonic() - self.t0, rss, other, staged))
                except OSError:
                    pass
            self.stop.wait(0.5)

    # --- the run -------------------------------------------------------------------------------
    def run(self):
        self.say(f"chaos soak: seed {self.seed}, {self.seconds:.0f} s of chaos, write_mode "
                 f"{self.write_mode} (reproduce: python3 -m tests.soak.chaos --seconds "
                 f"{self.seconds:.0f} --seed {self.seed} --write-mode {self.write_mode})")
        self.start()
        self.t0 = self.tally.t0 = time.monotonic()
        threads = [self.guarded(f"reader{i}", self.reader, i) for i in range(2)]
        threads += [self.guarded("walker", self.walker), self.guarded("churner", self.churner)]
        threads += [self.guarded(f"worker{w}", self.worker, w) for w in range(self.workers)]
        sampler = self.guarded("sampler", self.sampler)
        chaos = self.guarded("chaos", self.chaos)
        for t in threads + [sampler, chaos]:
            t.start()
        self.stop.wait(self.seconds)
        self.stop.set()
        for t in [chaos] + threads:
            t.join(timeout=SETTLE_BOUND + TOOL_BOUND)
            if t.is_alive():
                self.tally.crashes.append(f"{t.name} did not stop")
        self.chaos_seconds = time.monotonic() - self.t0
        self.harvest_sim()
        self.quiesce()
        self.sample_once()
        sampler.join(timeout=5)
        return self.check()

    def sample_once(self):
        proc = self.mount.proc
        try:
            self.samples.setdefault(proc.pid, []).append(
                (time.monotonic() - self.t0, read_rss_kib(proc.pid), *self.count_fds(proc.pid)))
        except OSError:
            pass

    def count_fds(self, pid):
        """The daemon's open descriptors: (staged files apart, staged files)."""
        cache = self.env.get("XDG_CACHE_HOME") or os.path.join(self.env["HOME"], ".cache")
        staging = os.path.join(cache, "globus-fuse") + os.sep
        other = staged = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:  # closed meanwhile
                continue
            if target.startswith(staging):
                staged += 1
            else:
                other += 1
        return other, staged

    def status(self):
        p = run_cli(self.env, "status", "--json", self.path, check=False, timeout=60)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def quiesce(self):
        """No fault any more: waits until every queued op ended and every task finished."""
        t = time.monotonic()
        deadline = t + 180
        while time.monotonic() < deadline:
            st = self.status()
            tr = (st or {}).get("transfers", {})
            tasks = self.sim.control("GET", "tasks")["DATA"]
            if st and not tr.get("tasks") and not tr.get("queued_count") and \
                    not tr.get("pending_entries") and not tr.get("hidden_entries") and \
                    all(x["status"] in ("SUCCEEDED", "FAILED") for x in tasks):
                break
            time.sleep(0.5)
        else:
            self.tally.crashes.append("the mount did not become idle within 180 s after the "
                                      f"chaos: {json.dumps((st or {}).get('transfers'))[:2000]}")
        self.quiesce_seconds = time.monotonic() - t
        time.sleep(TTL + 1)  # then every cached listing has expired

    # --- the checks ----------------------------------------------------------------------------
    def check(self):
        problems = []
        tally = self.tally
        # No data lost, nothing extra: the backing folders hold exactly the model.
        actual = {}
        for c in COLLECTIONS:
            for w in range(self.workers):
                top = self.backing(c, f"w{w}")
                actual[(c, f"w{w}")] = "dir"
                for dirpath, dirnames, filenames in os.walk(top):
                    for d in dirnames:
                        actual[(c, os.path.relpath(os.path.join(dirpath, d),
                                                   self.backing(c)))] = "dir"
                    for f in filenames:
                        p = os.path.join(dirpath, f)
                        with open(p, "rb") as fh:
                            actual[(c, os.path.relpath(p, self.backing(c)))] = md5(fh.read())
        lost = sorted(k for k in self.model if not matches(actual.get(k), self.model[k]))
        extra = sorted(k for k in actual if k not in self.model)
        if lost:
            problems.append("data lost or wrong at the collection: " + "; ".join(
                f"{k}: want {self.model[k]}, found {actual.get(k)}" for k in lost[:10]))
        if extra:
            problems.append(f"entries that should not exist (a source not deleted?): {extra[:10]}")
        # Every tree lists and reads through the mount as it is at the collection.
        rng = random.Random(f"{self.seed}-final")
        for c in COLLECTIONS:
            want = tree_listing(self.backing(c))
            self.compare_tree(c, ".", want, "at the end: ")
            for rel, listing in want.items():
                for name, (t, _) in sorted(listing.items()):
                    if t == "f":
                        p = os.path.join(self.backing(c), rel, name)
                        with open(p, "rb") as fh:
                            data = fh.read()
                        try:
                            self.read_through_mount(self.m(c, rel, name), data, rng,
                                                    f"final {c}/soak/{rel}/{name}")
                        except OSError as e:
                            tally.error(f"final read {c}/soak/{rel}/{name}", e)
        # No task submitted twice.
        tasks = self.sim.control("GET", "tasks")["DATA"]
        seen = collections.Counter()
        for t in tasks:
            for item in t["_sim"]["items"]:
                if t["type"] == "TRANSFER":
                    seen[("TRANSFER", t["destination_endpoint_id"], item["destination_path"])] += 1
                else:
                    seen[("DELETE", t["source_endpoint_id"], item["path"])] += 1
        twice = sorted(k for k, n in seen.items() if n > 1)
        twice_by_type = collections.Counter(k[0] for k in twice)
        if twice:
            problems.append(f"submitted twice: {twice[:10]}")
        by_status = collections.Counter(f"{t['type']} {t['status']}" for t in tasks)
        sids = collections.Counter(t["_sim"]["submission_id"] for t in tasks)
        if any(n > 1 for n in sids.values()):
            problems.append("one submission id, two tasks")
        if any(t["status"] != "SUCCEEDED" for t in tasks):
            problems.append(f"tasks not SUCCEEDED: {dict(by_status)}")
        # Flat RSS and descriptors.
        flat = []
        peak_rss = max((s[1] for v in self.samples.values() for s in v), default=0)
        peak_fds = max((s[2] + s[3] for v in self.samples.values() for s in v), default=0)
        for pid, samples in self.samples.items():
            life = samples[-1][0] - samples[0][0] if samples else 0
            if life < FLAT_MIN_LIFE or len(samples) < 8:
                continue
            q = len(samples) // 4
            second, last = samples[q:2 * q], samples[3 * q:]
            rss_growth = (statistics.median(s[1] for s in last) -
                          statistics.median(s[1] for s in second)) / 1024
            fd_growth = max(s[2] for s in last) - max(s[2] for s in second)  # staged apart
            flat.append(f"pid {pid} ({life:.0f} s): RSS {rss_growth:+.1f} MiB, fds {fd_growth:+d}")
            if rss_growth > RSS_GROWTH_MIB:
                problems.append(f"daemon {pid}: RSS grew {rss_growth:.1f} MiB "
                                f"(bound {RSS_GROWTH_MIB})")
            if fd_growth > FD_GROWTH:
                problems.append(f"daemon {pid}: open fds grew by {fd_growth} (bound {FD_GROWTH}; "
                                "staged files not counted)")
        # Nothing open, nothing queued (quiesce): only spare staging files may still be open.
        final = self.samples.get(self.mount.proc.pid, [])[-1:] if self.mount.proc else []
        idle_staged = final[0][3] if final else 0
        if idle_staged > SPARES:
            problems.append(f"the idle daemon holds {idle_staged} staged files open (at most "
                            f"{SPARES} spares): a staged file's descriptor leaked")
        self.count_retries()
        rc = self.mount.unmount()
        if rc != 0:
            problems.append(f"the daemon exited {rc} at unmount")
        if tally.wrong_bytes or tally.wrong_listings:
            problems.append(f"{tally.wrong_bytes} wrong bytes, {tally.wrong_listings} wrong "
                            f"listings: {tally.wrong[:10]}")
        if tally.hung:
            problems.append(f"calls beyond their bound: {tally.hung[:10]}")
        if tally.errors:
            problems.append(f"{len(tally.errors)} errors surfaced: {tally.errors[:10]}")
        if tally.crashes:
            problems.append(f"soak defects: {tally.crashes}")
        # The report.
        say = self.say
        say(f"chaos soak: seed {self.seed}; chaos {self.chaos_seconds:.0f} s, then "
            f"{self.quiesce_seconds:.0f} s to become idle")
        say(f"  operations: {dict(sorted(tally.ops.items()))}")
        say(f"  bytes read through the mount: {tally.bytes_read}; written: {tally.bytes_written}")
        say(f"  faults injected: {dict(sorted(tally.faults.items()))} in {self.fault_rules} "
            f"rules; {self.consumed_faults} served, {self.unused_faults} left unused")
        say(f"  faults by route: {dict(sorted(tally.fault_routes.items()))}")
        say(f"  events: {dict(self.events)}")
        statuses = {k[len('status '):]: v for k, v in self.sim_stats.items()
                    if k.startswith("status ") and not k.endswith((" 200", " 202", " 204", " 206"))
                    and not k.startswith("status control")}
        say(f"  requests seen by globus-sim: {self.sim_stats['requests']}; answers other than "
            f"2xx (faults, 401s before a refresh, real errors): {dict(sorted(statuses.items()))}")
        say(f"  retries by the mount (its status, api_client.retries): {self.daemon_retries} "
            f"(the last seconds before a kill -9 not counted); errors surfaced to programs: "
            f"{len(tally.errors)}")
        for e in tally.errors[:10]:
            say(f"    {e}")
        say(f"  tasks: {dict(by_status)}; paths in two transfer tasks: "
            f"{twice_by_type['TRANSFER']}, in two delete tasks: {twice_by_type['DELETE']}; "
            f"HTTPS PUTs {self.sim_stats['route https_put']}, DELETEs "
            f"{self.sim_stats['route https_delete']}")
        say(f"  wrong bytes: {tally.wrong_bytes}; wrong listings: {tally.wrong_listings} of "
            f"{tally.ops['listing']} listings")
        say("  slowest: " + "; ".join(f"{k} {v[0]:.1f} s ({v[1]})"
                                      for k, v in sorted(tally.slowest.items())))
        say(f"  daemon peak RSS {peak_rss / 1024:.1f} MiB, peak open fds {peak_fds}; flatness "
            f"(last vs second quarter of each daemon's life; staged files apart): "
            f"{'; '.join(flat) or 'n/a'}; staged files open when idle: {idle_staged} (spares)")
        maybe = sum(isinstance(v, Either) and None in v.digests for v in self.model.values())
        say(f"  data: {len(self.model)} entries expected ({maybe} of them intact or gone after "
            f"a failed rm), {len(lost)} lost, {len(extra)} extra")
        for p in problems:
            say(f"  PROBLEM: {p}")
        if problems:
            kept = tempfile.mkdtemp(prefix=f"gf-soak-{self.seed}-")
            for log in self.daemon_logs + [self.mount.log]:
                if os.path.exists(log):
                    shutil.copy(log, kept)
            for name in ("requests.log", "sim.stdout"):
                if os.path.exists(os.path.join(self.sim.state, name)):
                    shutil.copy(os.path.join(self.sim.state, name), kept)
            with open(os.path.join(kept, "tools.log"), "w") as f:
                f.write("\n".join(tally.journal) + "\n")
            with open(os.path.join(kept, "tasks.json"), "w") as f:
                json.dump(tasks, f, indent=1)
            say(f"  logs kept in {kept} (daemon logs, globus-sim's request log, the tools run "
                f"(tools.log, UTC), the tasks with their items (tasks.json))")
        say(f"chaos soak: {'FAILED' if problems else 'passed'} (seed {self.seed})")
        return problems

    def close(self):
        try:
            if getattr(self, "mount", None) is not None and self.mount.proc is not None:
                self.mount.unmount()
        finally:
            if getattr(self, "sim", None) is not None:
                self.sim.stop()


def pending(path):
    try:
        os.getxattr(path, "user.globus.status")
        return True
    except OSError as e:
        if e.errno in (61, 95):  # ENODATA, EOPNOTSUPP: not (or no longer) pending
            return False
        raise


def tree_listing(top):
    """{relative dir ('.' for top): {name: ('d', 0) | ('f', size)}} of a local folder."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        rel = os.path.relpath(dirpath, top)
        entry = {d: ("d", 0) for d in dirnames}
        for f in filenames:
            entry[f] = ("f", os.path.getsize(os.path.join(dirpath, f)))
        out[rel] = entry
    return out


def diff(want, got):
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(n for n in set(want) & set(got) if want[n] != got[n])
    return f"missing {missing[:5]} extra {extra[:5]} changed " + \
        str([(n, want[n], got[n]) for n in changed[:5]])


def read_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError("no VmRSS")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="chaos time (default 60)")
    ap.add_argument("--minutes", type=float, help="chaos time in minutes (overrides --seconds)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--write-mode", choices=("close", "background"), default="close",
                    help="the mount's write_mode (default close)")
    args = ap.parse_args(argv)
    seconds = args.minutes * 60 if args.minutes else args.seconds
    soak = Soak(seconds, args.seed, write_mode=args.write_mode)
    try:
        problems = soak.run()
    finally:
        soak.close()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
