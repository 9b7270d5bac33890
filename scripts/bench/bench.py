#!/usr/bin/env python3
"""globus-fuse benchmarks against globus-sim. Each prints a ratio against the physical limit
measured in the same run (a direct curl of the same emulator URL with the same token).

    scripts/bench/run [listing] [metadata] [treewalk] [read] [memory] [--latency-ms 0,50]

Numbers go to stdout, one result line per measurement, and (with --json FILE) to a JSON file.
Nothing here asserts: benchmarks report; docs/PERFORMANCE.md records them.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.integration.harness import Mount, Sim, run_cli  # noqa: E402

TUTORIAL = "Globus Tutorial Collection 1"
RESULTS = []


def report(name, **fields):
    RESULTS.append(dict(bench=name, **fields))
    text = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"{name}: {text}", flush=True)


def timed(cmd, env=None, repeat=1):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
        times.append(time.perf_counter() - t0)
    return times


def token(env, resource_server):
    """The access token globus-fuse stored for a resource server (token_file in the config)."""
    path = os.path.join(env["XDG_CONFIG_HOME"], "globus-fuse", "tokens.json")
    with open(env["GLOBUS_FUSE_CONFIG"]) as conf:
        for line in conf:
            key, _, value = line.partition("=")
            if key.strip() == "token_file":
                path = value.strip()
    with open(path) as f:
        return json.load(f)["tokens"][resource_server]["access_token"]


def curl(sim, url, tok, outputs=1, extra=()):
    """A curl command line fetching url (or a list of urls, sequentially on one connection)."""
    urls = url if isinstance(url, list) else [url]
    cmd = ["curl", "-sS", "--fail", "--cacert", sim.info["ca_file"], "-H", f"Authorization: Bearer {tok}",
           *extra]
    for u in urls:
        cmd += ["-o", "/dev/null", u]
    return cmd


class Session:
    """A sim with a logged-in client; fresh mounts on demand."""

    def __init__(self, latency_ms):
        self.latency_ms = latency_ms
        self.sim = Sim.start(latency_ms=latency_ms)
        self.env = self.sim.client_env()
        run_cli(self.env, "login", timeout=120)
        self.coll = self.sim.collection(TUTORIAL)
        self.root = self.coll["root"]

    def ls_url(self, path):
        from urllib.parse import quote
        return (f"{self.sim.info['transfer_url']}/v0.10/operation/endpoint/{self.coll['id']}/ls"
                f"?path={quote(path)}")

    def close(self):
        self.sim.stop()


def make_flat_dir(path, n):
    os.makedirs(path, exist_ok=True)
    for i in range(n):
        fd = os.open(os.path.join(path, f"file-{i:07d}.dat"), os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)


def bench_listing(s, runs=5):
    make_flat_dir(os.path.join(s.root, "bench10k"), 10000)
    tok = token(s.env, "transfer.api.globus.org")
    curl_t = timed(curl(s.sim, s.ls_url("/bench10k/"), tok), repeat=runs)
    mount_t = []
    calls = []
    for _ in range(runs):
        with Mount(s.env) as m:  # a fresh mount: cold caches
            d = os.path.join(m.path, TUTORIAL, "bench10k")
            os.stat(os.path.join(m.path, TUTORIAL))
            s.sim.reset_stats()
            mount_t += timed(["ls", "-l", d])
            st = s.sim.stats()["requests"]
            calls.append(st.get("ls", 0) + st.get("stat", 0))
    ratio = statistics.median(mount_t) / statistics.median(curl_t)
    report("listing", latency_ms=s.latency_ms, entries=10000,
           mount_s=round(statistics.median(mount_t), 3), curl_s=round(statistics.median(curl_t), 3),
           ratio=round(ratio, 2), target="<=1.3", api_calls=max(calls))


def bench_metadata(s):
    make_flat_dir(os.path.join(s.root, "bench1k"), 1000)
    with Mount(s.env) as m:
        d = os.path.join(m.path, TUTORIAL, "bench1k")
        subprocess.run(["ls", "-l", d], check=True, stdout=subprocess.DEVNULL, timeout=120)
        s.sim.reset_stats()
        t = timed(["ls", "-l", d], repeat=3)
        t += timed(["stat", os.path.join(d, "file-0000001.dat")], repeat=3)
        calls = s.sim.stats()["total_requests"]
    report("repeated-metadata", latency_ms=s.latency_ms, api_calls=calls, target=0,
           repeat_s=round(statistics.median(t), 4))


def bench_treewalk(s, dirs=150):
    base = os.path.join(s.root, "tree")
    paths = ["/tree/"]
    os.makedirs(base, exist_ok=True)
    top = 10
    per = (dirs - 1 - top) // top + 1
    n = 1
    for i in range(top):
        d = os.path.join(base, f"d{i:02d}")
        os.makedirs(d, exist_ok=True)
        paths.append(f"/tree/d{i:02d}/")
        n += 1
        for j in range(per):
            if n >= dirs:
                break
            os.makedirs(os.path.join(d, f"s{j:02d}"), exist_ok=True)
            for k in range(5):
                open(os.path.join(d, f"s{j:02d}", f"f{k}"), "w").close()
            paths.append(f"/tree/d{i:02d}/s{j:02d}/")
            n += 1
    tok = token(s.env, "transfer.api.globus.org")
    seq = timed(curl(s.sim, [s.ls_url(p) for p in paths], tok), repeat=1)[0]
    with Mount(s.env) as m:
        os.stat(os.path.join(m.path, TUTORIAL))
        s.sim.reset_stats()
        walk = timed(["find", os.path.join(m.path, TUTORIAL, "tree")])[0]
        calls = s.sim.stats()["requests"].get("ls", 0)
    report("treewalk", latency_ms=s.latency_ms, dirs=len(paths), find_s=round(walk, 3),
           sequential_ls_s=round(seq, 3), ratio=round(walk / seq, 2), target="<=0.5",
           ls_calls=calls)


def bench_read(s, size_mb=1024, runs=3):
    os.makedirs(os.path.join(s.root, "data"), exist_ok=True)
    big = os.path.join(s.root, "data", "big.bin")
    if not os.path.exists(big) or os.path.getsize(big) != size_mb << 20:
        block = os.urandom(1 << 20)
        with open(big, "wb") as f:
            for _ in range(size_mb):
                f.write(block)
    tok = token(s.env, s.coll["id"])
    url = s.coll["https_server"] + "/data/big.bin"
    curl_t = timed(curl(s.sim, url, tok, extra=["-H", "X-Requested-With: XMLHttpRequest"]),
                   repeat=runs)
    mount_t = []
    for _ in range(runs):
        with Mount(s.env) as m:  # fresh mount: no page cache
            mount_t += timed(["cat", os.path.join(m.path, TUTORIAL, "data", "big.bin")])
    c, f = min(curl_t), min(mount_t)
    report("sequential-read", latency_ms=s.latency_ms, size_mb=size_mb,
           mount_MBps=round(size_mb / f), curl_MBps=round(size_mb / c),
           ratio=round(c / f, 2), target=">=0.8")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bench_memory(s, dirs=10, per_dir=100000):
    for i in range(dirs):
        make_flat_dir(os.path.join(s.root, "mem", f"d{i}"), per_dir)
    with Mount(s.env) as m:
        before = rss_kb(m.proc.pid)
        for i in range(dirs):
            d = os.path.join(m.path, TUTORIAL, "mem", f"d{i}")
            subprocess.run(["ls", "-l", d], check=True, stdout=subprocess.DEVNULL, timeout=600)
        after = rss_kb(m.proc.pid)
    report("daemon-memory", entries=dirs * per_dir, rss_mb=round(after / 1024),
           rss_before_mb=round(before / 1024), target="<400")


BENCHES = {"listing": bench_listing, "metadata": bench_metadata, "treewalk": bench_treewalk,
           "read": bench_read, "memory": bench_memory}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("benches", nargs="*", default=list(BENCHES), metavar="BENCH")
    ap.add_argument("--latency-ms", default="0,50")
    ap.add_argument("--json")
    a = ap.parse_args()
    unknown = [b for b in a.benches if b not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")
    for lat in [int(x) for x in a.latency_ms.split(",")]:
        todo = [b for b in (a.benches or BENCHES) if not (b == "memory" and lat != 0)]
        if lat == 0 and "treewalk" in todo and "50" in a.latency_ms.split(","):
            todo.remove("treewalk")  # the tree walk target is defined at 50 ms
        if not todo:
            continue
        s = Session(lat)
        try:
            for b in todo:
                BENCHES[b](s)
        finally:
            s.close()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
