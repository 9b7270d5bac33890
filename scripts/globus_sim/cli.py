"""Command line: ``globus-sim --state DIR [--port N] [--latency-ms N] [--config FILE]`` runs the
sim in the foreground until SIGTERM/SIGINT (exit 0); ``globus-sim browser ...`` plays a person
at the login page (:mod:`globus_sim.browser`)."""

import argparse
import signal
import sys
import threading


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "browser":
        from . import browser
        return browser.main(argv[1:])
    p = argparse.ArgumentParser(prog="globus-sim", description="Local Globus service emulator "
                                "(Transfer v0.10, Auth, collection HTTPS) on 127.0.0.1. "
                                "Subcommand: 'globus-sim browser --help'.")
    p.add_argument("--state", required=True, metavar="DIR", help="state directory")
    p.add_argument("--port", type=int, default=0,
                   help="main port (Transfer, Auth, control); collections use N+1, N+2, ...; "
                   "0 = free ports")
    p.add_argument("--latency-ms", type=float, default=None, help="added per-request latency")
    p.add_argument("--config", metavar="FILE", help="JSON config (collections, users, tunables)")
    args = p.parse_args(argv)

    from .config import ConfigError
    from .sim import Sim
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    try:
        sim = Sim(args.state, args.port, args.latency_ms, args.config).start()
    except (ConfigError, OSError, RuntimeError) as e:
        sys.stderr.write("globus-sim: %s\n" % e)
        return 2
    sys.stderr.write("globus-sim: ready on %s (state %s)\n" % (sim.transfer_url, sim.state_dir))
    sys.stderr.flush()
    while not stop.wait(0.5):
        pass
    sim.stop()
    sys.stderr.write("globus-sim: stopped\n")
    return 0
