"""The api/ and auth/ layers end to end through the CLI, against globus-sim: login, whoami,
ls, refresh, retries, broken bodies, TLS, the token file, and what reaches the logs."""

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import time
import stat
import subprocess
import tempfile
import threading
import unittest

from tests.integration.harness import (BINARY, Mount, MountTestCase, Sim, SimTestCase,
                                       fuse_device_for_users, run_cli)

TUTORIAL = "Globus Tutorial Collection 1"


def token_file(env):
    with open(env["GLOBUS_FUSE_CONFIG"]) as f:
        for line in f:
            k, _, v = line.partition("=")
            if k.strip() == "token_file":
                return v.strip()
    raise AssertionError("no token_file in the sim's config")


def all_tokens(env):
    with open(token_file(env)) as f:
        doc = json.load(f)
    out = []
    for t in doc["tokens"].values():
        out += [t["access_token"], t.get("refresh_token") or ""]
    return [t for t in out if t]


class LoginTests(SimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(os.path.join(cls.sim.root(TUTORIAL), "hello.txt"), "w") as f:
            f.write("hi")

    def test_whoami_after_login(self):
        out = run_cli(self.env, "whoami").stdout
        self.assertIn("alice@globusid.org", out)

    def test_ls_after_login(self):
        self.assertIn("hello.txt", run_cli(self.env, "ls", TUTORIAL).stdout)

    def test_login_gets_the_configured_collections_scopes(self):
        with open(token_file(self.env)) as f:
            have = set(json.load(f)["tokens"])
        for c in self.sim.info["collections"]:
            if c["https_server"]:
                self.assertIn(c["id"], have, c["display_name"])  # its `https` scope
        with open(token_file(self.env)) as f:
            transfer_scope = json.load(f)["tokens"]["transfer.api.globus.org"]["scope"]
        cedar = self.sim.collection("Alliance Cedar Project")["id"]
        self.assertIn(f"{cedar}/data_access", transfer_scope)

    def test_token_file_is_private(self):
        mode = stat.S_IMODE(os.stat(token_file(self.env)).st_mode)
        self.assertEqual(mode, 0o600)

    def test_refresh_after_forced_expiry(self):
        before = all_tokens(self.env)
        self.sim.control("POST", "tokens/expire", {})
        self.sim.reset_stats()
        self.assertIn("hello.txt", run_cli(self.env, "ls", TUTORIAL).stdout)
        self.assertGreaterEqual(self.sim.count("token"), 1)  # a refresh_token grant
        self.assertNotEqual(before, all_tokens(self.env))

    def test_429_retry_after_is_honoured(self):
        self.sim.reset_stats()
        self.sim.fault("ls", "status", status=429, retry_after=1, count=1)
        self.assertIn("hello.txt", run_cli(self.env, "ls", TUTORIAL).stdout)
        self.assertEqual(self.sim.count("ls"), 2)

    def test_5xx_retried_external_error_not(self):
        self.sim.reset_stats()
        self.sim.fault("ls", "status", status=500, count=2)
        self.assertIn("hello.txt", run_cli(self.env, "ls", TUTORIAL).stdout)
        self.assertEqual(self.sim.count("ls"), 3)
        self.sim.reset_stats()
        self.sim.fault("ls", "status", status=502, code="ExternalError.DirListingFailed", count=1)
        p = run_cli(self.env, "ls", TUTORIAL, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.sim.count("ls"), 1)
        self.assertIn("ExternalError.DirListingFailed", p.stderr)

    def test_malformed_and_reset_bodies_are_clear_errors(self):
        for kind in ("malformed", "reset"):
            self.sim.clear_faults()
            self.sim.fault("ls", kind, count=-1)
            # Retried (both may pass) until the budget, shortened here, is spent.
            p = run_cli(self.env, "ls", TUTORIAL, "-o", "retry_budget_seconds=2", check=False,
                        timeout=120)
            self.assertEqual(p.returncode, 5, f"{kind}: {p.stderr}")  # network/transport
            self.assertTrue(p.stderr.startswith("globus-fuse:"), p.stderr)
            self.assertNotIn("Traceback", p.stderr)
        self.sim.clear_faults()

    def test_no_token_in_any_log(self):
        log = os.path.join(tempfile.mkdtemp(dir=self.sim.state), "debug.log")
        run_cli(self.env, "ls", TUTORIAL, "--debug", "--log-file", log)
        self.sim.control("POST", "tokens/expire", {})
        p = run_cli(self.env, "whoami", "--debug", "--log-file", log)
        texts = [p.stdout, p.stderr]
        with open(log) as f:
            texts.append(f.read())
        with open(os.path.join(self.sim.state, "requests.log")) as f:
            texts.append(f.read())
        self.assertTrue(texts[2], "the debug log is empty: --log-file/--debug wrote nothing")
        for tok in all_tokens(self.env):
            for t in texts:
                self.assertNotIn(tok, t)
        self.assertIsNone(re.search(r"Bearer [A-Za-z0-9]", "\n".join(texts)))


class TlsTests(unittest.TestCase):
    def test_wrong_ca_is_a_clear_tls_error(self):
        sim = Sim.start()
        try:
            env = sim.client_env()
            other = tempfile.mkdtemp(dir=sim.state)
            wrong_ca = os.path.join(other, "wrong-ca.pem")
            os.system(f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {other}/k.pem "
                      f"-out {wrong_ca} -days 1 -subj /CN=wrong >/dev/null 2>&1")
            p = run_cli(env, "login", "-o", f"ca_file={wrong_ca}", check=False, timeout=60)
            self.assertEqual(p.returncode, 5, p.stderr)
            self.assertRegex(p.stderr.lower(), "tls|certificate")
        finally:
            sim.stop()


class BadInputTests(SimTestCase):
    """What bad input and unusual situations get from the command line: one clear line on
    stderr, the documented exit code, and no side effects."""

    def scratch(self):
        return tempfile.mkdtemp(dir=self.sim.state)

    def mount_point(self):
        """A scratch mount point, lazily unmounted after the test should a mount succeed."""
        mnt = self.scratch()
        self.addCleanup(lambda: os.path.ismount(mnt) and subprocess.run(
            ["fusermount3", "-u", "-z", mnt], capture_output=True, timeout=30))
        return mnt

    def test_unmount_refuses_what_is_not_a_globus_fuse_mount(self):
        d = self.scratch()
        p = run_cli(self.env, "unmount", d, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is not mounted", p.stderr)
        p = run_cli(self.env, "unmount", os.path.join(d, "missing"), check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("does not exist", p.stderr)
        if os.geteuid() != 0:
            return
        tm = os.path.join(d, "tmpfs")
        os.mkdir(tm)
        subprocess.run(["mount", "-t", "tmpfs", "gf-test", tm], check=True)
        try:
            for extra in ((), ("--lazy",)):
                p = run_cli(self.env, "unmount", tm, *extra, check=False)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn("not globus-fuse", p.stderr)
                self.assertTrue(os.path.ismount(tm), "globus-fuse unmount removed a tmpfs")
        finally:
            subprocess.run(["umount", tm], check=False)

    def test_drop_caches_outside_a_mount_fails_and_writes_nothing(self):
        d = self.scratch()
        p = run_cli(self.env, "drop-caches", d, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not on a globus-fuse mount", p.stderr)
        self.assertEqual(os.listxattr(d), [])

    def test_mount_rejects_bad_ids_before_anything_else(self):
        missing = os.path.join(self.scratch(), "missing")
        for flag, value in (("--uid", "-5"), ("--uid", "99999999999"), ("--gid", "x"),
                            ("--umask", "8"), ("--copy-mode", "later")):
            p = run_cli(self.env, "mount", missing, flag, value, check=False)
            self.assertEqual(p.returncode, 2, f"{flag} {value}: {p.stderr}")
            self.assertIn(f"'{value}'", p.stderr)
            self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)

    def test_every_command_has_help(self):
        out = run_cli(self.env, "--help").stdout
        commands = re.findall(r"^  ([a-z-]+) +", out.split("Commands:")[1].split("\n\n")[0], re.M)
        self.assertIn("mount", commands)
        for c in commands:
            for args in ((c, "--help"), ("help", c)):
                p = run_cli(self.env, *args, check=False)
                self.assertEqual(p.returncode, 0, f"{args}: {p.stderr}")
                self.assertTrue(p.stdout.startswith("Usage: globus-fuse"), args)
                self.assertEqual(p.stderr, "", args)

    def test_log_file_problems_say_why(self):
        d = self.scratch()
        p = run_cli(self.env, "whoami", "--log-file", os.path.join(d, "no", "x.log"), check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("No such file or directory (create its directory first)", p.stderr)
        p = run_cli(self.env, "whoami", "--log-file", d, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("Is a directory", p.stderr)

    def test_unknown_mount_option_is_one_line(self):
        mnt = self.mount_point()
        p = run_cli(self.env, "mount", mnt, "-f", "-o", "bogusopt", check=False, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertIn("unknown option(s): `-o bogusopt'", p.stderr)
        self.assertFalse(os.path.ismount(mnt))
        p = run_cli(self.env, "mount", mnt, "-f", "-o", "entry_tl=5", check=False, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("did you mean the config key 'entry_ttl'?", p.stderr)

    def test_login_flags_need_values(self):
        for flag in ("--domain", "--identity", "--policy", "--scope"):
            p = run_cli(self.env, "login", f"{flag}=", check=False)
            self.assertEqual(p.returncode, 2, f"{flag}: {p.stderr}")
            self.assertIn(f"{flag} needs a non-empty value", p.stderr)

    def test_a_dead_mount_is_named_and_can_be_unmounted(self):
        m = Mount(self.env).__enter__()
        try:
            m.proc.kill()
            m.proc.wait(timeout=10)
            for args in (("status", m.path), ("drop-caches", m.path), ("mount", m.path, "-f")):
                p = run_cli(self.env, *args, check=False, timeout=30)
                self.assertEqual(p.returncode, 1, f"{args}: {p.stderr}")
                self.assertIn("is a dead globus-fuse mount", p.stderr)
                self.assertIn(f"globus-fuse unmount {m.path}", p.stderr)
            # Listing every mount reports the dead one in place and still succeeds: one
            # leftover mount must not break `status` for the others.
            every = json.loads(run_cli(self.env, "status", "--json").stdout)
            dead = [d for d in every if d["mount_point"] == m.path]
            self.assertEqual(len(dead), 1, every)
            self.assertTrue(dead[0]["dead"])
            self.assertIn(f"globus-fuse unmount {m.path}", dead[0]["hint"])
            human = run_cli(self.env, "status").stdout
            self.assertIn(f"{m.path}: a dead globus-fuse mount", human)
            run_cli(self.env, "unmount", m.path)
            self.assertFalse(os.path.ismount(m.path))
        finally:
            m.unmount()

    def test_mount_collection_flag_is_checked_before_mounting(self):
        mnt = self.mount_point()
        p = run_cli(self.env, "mount", mnt, "-f", "--collection", "No Such Collection",
                    check=False, timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("no collection named 'No Such Collection'", p.stderr)
        p = run_cli(self.env, "mount", mnt, "-f", "--collection",
                    "c0110000-0000-4000-8000-00000000000Z", check=False, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertFalse(os.path.ismount(mnt))

    def test_ls_of_a_relative_path_says_how_paths_are_written(self):
        p = run_cli(self.env, "ls", f"{TUTORIAL}:share", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("a PATH after ':' starts with / or ~", p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)

    def as_nobody(self, *args):
        """Runs globus-fuse as user nobody, with a copy of the config and of the token file
        that nobody can read (the sim's state dir is 0700), and an empty directory of nobody's,
        {shared}/mnt. Returns (process, shared dir)."""
        as_nobody = ["runuser", "-u", "nobody", "--"]
        if os.geteuid() != 0 or not shutil.which("runuser") or subprocess.run(
                [*as_nobody, "test", "-x", BINARY], capture_output=True).returncode != 0:
            self.skipTest("needs root, runuser, and a binary that user nobody can run")
        fuse_device_for_users(self)
        shared = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, shared, True)
        os.chmod(shared, 0o755)
        tokens = os.path.join(shared, "tokens", "tokens.json")
        os.mkdir(os.path.dirname(tokens), 0o700)
        shutil.copy(token_file(self.env), tokens)
        conf = os.path.join(shared, "globus-fuse.conf")
        ca = os.path.join(shared, "ca.pem")
        shutil.copy(self.sim.info["ca_file"], ca)
        os.chmod(ca, 0o644)
        with open(self.env["GLOBUS_FUSE_CONFIG"]) as src, open(conf, "w") as dst:
            for line in src:
                if line.split("=")[0].strip() not in ("token_file", "state_dir", "ca_file"):
                    dst.write(line)
            dst.write(f"token_file = {tokens}\nstate_dir = {shared}/state\nca_file = {ca}\n")
        os.chmod(conf, 0o644)
        os.mkdir(os.path.join(shared, "mnt"))
        for d in (shared, os.path.dirname(tokens), tokens, os.path.join(shared, "mnt")):
            os.chown(d, pwd.getpwnam("nobody").pw_uid, -1)
        p = subprocess.run([*as_nobody, "env", f"HOME={shared}", f"GLOBUS_FUSE_CONFIG={conf}",
                            BINARY, *[a.format(shared=shared) for a in args]],
                           capture_output=True, text=True, timeout=30)
        return p, shared

    def test_mount_point_without_write_permission_is_named(self):
        mnt = self.mount_point()
        os.chmod(mnt, 0o755)  # root's: nobody may look but not mount
        os.chmod(os.path.dirname(mnt), 0o755)
        p, _ = self.as_nobody("mount", mnt, "-f")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stderr.strip(),
                         f"globus-fuse: no permission to mount on {mnt} (you need write access)")

    def test_what_fusermount3_refuses_is_in_our_one_line(self):
        with open("/etc/fuse.conf") as f:
            if any(line.strip() == "user_allow_other" for line in f):
                self.skipTest("/etc/fuse.conf allows allow_other to users")
        p, shared = self.as_nobody("mount", "{shared}/mnt", "-f", "-o", "allow_other")
        self.assertFalse(os.path.ismount(os.path.join(shared, "mnt")))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertIn("(fusermount3: option allow_other only allowed if 'user_allow_other'",
                      p.stderr)

    def test_missing_ca_file_is_a_config_error(self):
        missing = os.path.join(self.scratch(), "ca.pem")
        p = run_cli(self.env, "whoami", "-o", f"ca_file={missing}", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr, f"globus-fuse: -o ca_file: ca_file {missing}: "
                                   "No such file or directory\n")

    @contextlib.contextmanager
    def stopped_daemon(self):
        """A mount whose daemon is stopped (SIGSTOP): every access to the mount blocks."""
        m = Mount(self.env).__enter__()
        run_cli(self.env, "drop-caches", m.path)  # nothing cached: a stat must ask the daemon
        m.proc.send_signal(signal.SIGSTOP)
        try:
            yield m
        finally:
            m.proc.send_signal(signal.SIGCONT)
            m.unmount()

    def assert_unmounted(self, path):
        with open("/proc/self/mounts") as f:
            self.assertNotIn(path, f.read())

    def test_a_stopped_daemon_can_still_be_unmounted(self):
        with self.stopped_daemon() as m:
            p = run_cli(self.env, "unmount", "--lazy", m.path, check=False, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assert_unmounted(m.path)

    def test_status_and_unmount_of_a_stopped_daemon_return(self):
        # Both read the status document through the mount: a daemon that does not answer must
        # not hang them (the read is given up after 10 s).
        with self.stopped_daemon() as m:
            t0 = time.monotonic()
            p = run_cli(self.env, "status", m.path, check=False, timeout=60)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("does not answer", p.stderr)
            self.assertLess(time.monotonic() - t0, 30)
            p = run_cli(self.env, "unmount", m.path, check=False, timeout=90)
            self.assertIn("does not answer", p.stderr)
            self.assertIn("unmounting without waiting for its background uploads", p.stderr)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assert_unmounted(m.path)

    def test_mount_point_problems_are_named(self):
        d = self.scratch()
        p = run_cli(self.env, "mount", os.path.join(d, "missing"), check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("does not exist", p.stderr)
        f = os.path.join(d, "file")
        open(f, "w").close()
        p = run_cli(self.env, "mount", f, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is not a directory", p.stderr)
        p = run_cli(self.env, "status", d, "--json", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, "")


class LoginRecoveryTests(SimTestCase):
    """A login that no longer works is fixed by `globus-fuse login`, as every message says."""

    def own_token_file(self, text=None):
        """A token file of the test's own (-o token_file=...), holding `text` if given."""
        tf = os.path.join(tempfile.mkdtemp(dir=self.sim.state), "tokens.json")
        if text is not None:
            with open(tf, "w") as f:
                f.write(text)
            os.chmod(tf, 0o600)
        return tf

    def test_login_replaces_a_revoked_login(self):
        tf = self.own_token_file()
        opt = ("-o", f"token_file={tf}")
        run_cli(self.env, "login", *opt)
        with open(tf) as f:
            saved = f.read()
        run_cli(self.env, "logout", *opt)  # revokes them at the sim
        with open(tf, "w") as f:
            f.write(saved)
        self.sim.control("POST", "tokens/expire", {})
        p = run_cli(self.env, "whoami", *opt, check=False)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("globus-fuse login", p.stderr)
        p = run_cli(self.env, "login", *opt)
        self.assertIn("Logged in as alice", p.stdout)
        self.assertIn("no longer works", p.stderr)
        run_cli(self.env, "whoami", *opt)

    def test_login_moves_a_damaged_token_file_aside(self):
        tf = self.own_token_file("{garbage")
        p = run_cli(self.env, "whoami", "-o", f"token_file={tf}", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("run `globus-fuse login`", p.stderr)
        p = run_cli(self.env, "login", "-o", f"token_file={tf}")
        self.assertIn("moved it to", p.stderr)
        aside = [n for n in os.listdir(os.path.dirname(tf)) if ".damaged-" in n]
        self.assertEqual(len(aside), 1)
        with open(os.path.join(os.path.dirname(tf), aside[0])) as f:
            self.assertEqual(f.read(), "{garbage")
        run_cli(self.env, "whoami", "-o", f"token_file={tf}")

    def test_logout_deletes_a_damaged_token_file(self):
        tf = self.own_token_file("not json")
        p = run_cli(self.env, "logout", "-o", f"token_file={tf}", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not revoked", p.stderr)
        self.assertFalse(os.path.exists(tf))

    def test_login_with_transfer_down_and_no_browser_is_bounded_and_says_why(self):
        env = dict(self.env, BROWSER="/bin/false")
        p = run_cli(env, "login", "--force", "-o", "transfer_url=https://127.0.0.1:1",
                    "-o", "max_retries=0", "-o", "auth_timeout=1", check=False)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(p.stderr.count("cannot reach Globus Transfer"), 1, p.stderr)
        self.assertIn("globus-fuse login --no-browser", p.stderr.splitlines()[-1])

    def test_no_browser_with_a_piped_empty_code_ends_its_prompt_line(self):
        p = run_cli(self.env, "login", "--force", "--no-browser", input="", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("press Enter: \n", p.stderr)  # the next message starts on its own line
        self.assertIn("no authorization code was entered", p.stderr.splitlines()[-1])

    def test_login_with_auth_unreachable_says_so_at_once(self):
        p = run_cli(self.env, "login", "--force", "-o", "auth_url=https://127.0.0.1:1",
                    "-o", "auth_timeout=1", check=False)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertTrue(p.stderr.startswith(
            "globus-fuse: cannot reach Globus Auth at https://127.0.0.1:1: connection failed"),
            p.stderr)
        self.assertNotIn("Opening a browser", p.stderr)

    def test_mount_before_login_is_refused(self):
        tf = self.own_token_file()
        mnt = tempfile.mkdtemp(dir=self.sim.state)
        p = run_cli(self.env, "mount", mnt, "-f", "-o", f"token_file={tf}", check=False,
                    timeout=30)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("not logged in: run `globus-fuse login`", p.stderr)
        self.assertFalse(os.path.ismount(mnt))


class MountCliTests(MountTestCase):
    """The CLI against a running mount."""

    def test_mount_on_a_mounted_path_is_refused_clearly(self):
        p = run_cli(self.env, "mount", self.mnt, "-f", check=False, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("already a globus-fuse mount", p.stderr)
        self.assertTrue(os.path.ismount(self.mnt))

    def test_status_of_a_path_inside_the_mount_is_that_mount(self):
        inside = os.path.join(self.mnt, TUTORIAL)
        self.assertEqual(json.loads(run_cli(self.env, "status", "--json", inside).stdout)
                         ["mount_point"], self.mnt)

    def test_status_json_is_always_one_document(self):
        one = json.loads(run_cli(self.env, "status", "--json", self.mnt).stdout)
        self.assertEqual(one["mount_point"], self.mnt)
        both = json.loads(run_cli(self.env, "status", "--json", self.mnt, self.mnt).stdout)
        self.assertEqual([m["mount_point"] for m in both], [self.mnt, self.mnt])
        every = json.loads(run_cli(self.env, "status", "--json").stdout)
        self.assertIn(self.mnt, [m["mount_point"] for m in every])

    def test_status_watch_json_is_one_document_per_line(self):
        for names in ([self.mnt], [self.mnt, self.mnt]):
            p = subprocess.Popen([BINARY, "status", "--watch", "--json", *names], env=self.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            guard = threading.Timer(30, p.kill)  # a bound: readline must not hang the suite
            guard.start()
            try:
                lines = [p.stdout.readline() for _ in range(2)]  # two ticks, a second apart
            finally:
                guard.cancel()
                p.kill()
                p.wait(timeout=10)
            for line in lines:
                doc = json.loads(line)
                mounts = doc if isinstance(doc, list) else [doc]
                self.assertEqual([m["mount_point"] for m in mounts], names)


if __name__ == "__main__":
    unittest.main()
