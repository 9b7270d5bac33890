"""Policy errors inside a real mount (issue 5): the mount runs the identity link, consent and
re-authentication flows itself, the blocked operation waits and then succeeds.

Every test starts its own sim and logs in as alice with only alice@globusid.org in the session
(plain `globus-fuse login`), then mounts with BROWSER set to a small wrapper script (written into
the test's temp dir) that records each URL it is given and then either plays the user
(`globus-sim browser`) or does nothing (nobody at the keyboard).
"""

import base64
import errno
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

from tests.integration.harness import BINARY, SIM, Mount, Sim, run_cli, wait_for

GREX = "UManitoba Grex HPC"
CEDAR = "Alliance Cedar Project"
GREX_DOMAIN = "rprox.hpc.umanitoba.ca"


def write_browser(directory, name, act):
    """A $BROWSER that appends its URL (last argument) to <name>.urls and, if `act`, runs the
    sim's scripted user on it. Returns (script path, urls file)."""
    urls = os.path.join(directory, name + ".urls")
    script = os.path.join(directory, name)
    run = f'exec {SIM} browser "$@" >>{urls}.out 2>&1\n' if act else "exit 0\n"
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                "for last in \"$@\"; do :; done\n"
                f"printf '%s\\n' \"$last\" >>{urls}\n" + run)
    os.chmod(script, 0o755)
    return script, urls


def read_urls(urls):
    try:
        with open(urls) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


class AuthFlowTestCase(unittest.TestCase):
    """A fresh sim and a fresh plain login per test (flows change the session)."""

    def setUp(self):
        if not os.path.exists(BINARY):
            self.skipTest(f"{BINARY} not built")
        self.sim = Sim.start()
        self.addCleanup(self.sim.stop)
        self.tmp = tempfile.mkdtemp(prefix="gf-authflow-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = self.sim.client_env()
        # The sim browser helper, without --link-domain. No collections: `login` would otherwise
        # also ask consent for the configured ones, and these tests need the mount to ask.
        run_cli(self.env, "login", "-o", "collections=")
        self.grex = self.sim.collection(GREX)
        os.makedirs(os.path.join(self.grex["root"], "project"), exist_ok=True)

    def mount_env(self, act=True, name="browser"):
        script, urls = write_browser(self.tmp, name, act)
        env = dict(self.env, BROWSER=script)
        return env, urls

    def mounted(self, env, *extra):
        m = Mount(env, *extra)
        m.__enter__()
        self.addCleanup(m.__exit__, None, None, None)
        return m

    def ls(self, path, timeout=60):
        return subprocess.run(["ls", path], capture_output=True, text=True, timeout=timeout)

    def sim_requests(self, collection_id, op="ls"):
        """(method, path query value, status) of the sim's Transfer requests for a collection."""
        out = []
        for line in self.sim.control("GET", "log?n=2000")["lines"]:
            parts = line.split()
            if len(parts) < 4:
                continue
            target, status = parts[2], parts[3]
            if f"/operation/endpoint/{collection_id}/{op}" not in target:
                continue
            out.append((query(target).get("path", ""), int(status)))
        return out

    def status(self, mount):
        with open(os.path.join(mount.path, ".globus-fuse", "status")) as f:
            return json.load(f)


class IdentityLinkTests(AuthFlowTestCase):
    def test_first_ls_links_the_identity_then_succeeds(self):
        env, urls = self.mount_env()
        # A desktop: notify-send on $PATH (a stand-in that records its arguments).
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        notes = os.path.join(self.tmp, "notifications")
        with open(os.path.join(bindir, "notify-send"), "w") as f:
            f.write(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >>{notes}\n")
        os.chmod(os.path.join(bindir, "notify-send"), 0o755)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        m = self.mounted(env)
        p = self.ls(os.path.join(m.path, GREX))
        self.assertEqual(p.returncode, 0, p.stderr + m.output())
        self.assertIn("project", p.stdout.split())

        # One flow, asking for the Grex domain and a fresh login.
        got = read_urls(urls)
        self.assertEqual(len(got), 1, got)
        q = query(got[0])
        self.assertEqual(q.get("session_required_single_domain"), GREX_DOMAIN)
        self.assertEqual(q.get("prompt"), "login")
        self.assertIn("Session reauthentication required", q.get("session_message", ""))
        self.assertTrue(q.get("redirect_uri", "").startswith("http://127.0.0.1:"))
        # The user was told: reason and URL in the log (stderr in -f mode).
        out = m.output()
        self.assertIn(f"{GREX} requires an identity from {GREX_DOMAIN}", out)
        self.assertIn(got[0], out)
        wait_for(lambda: os.path.exists(notes), 10, "the desktop notification")
        with open(notes) as f:
            note = f.read().splitlines()
        self.assertEqual(note[0], f"globus-fuse: {GREX} needs you to log in")
        self.assertIn(got[0], note[1])
        self.assertIn(f"requires an identity from {GREX_DOMAIN}", note[1])

        # The sim saw the refused listing and its retry.
        root_ls = [s for path, s in self.sim_requests(self.grex["id"]) if path == "/"]
        self.assertEqual(root_ls[:2], [502, 200], root_ls)

        # whoami: the linked identity authenticated in this session.
        who = run_cli(self.env, "whoami").stdout
        line = next(ln for ln in who.splitlines() if f"alice@{GREX_DOMAIN}" in ln)
        self.assertIn("session", line)
        self.assertEqual(self.status(m)["pending_authorizations"], [])

    def test_concurrent_operations_share_one_flow(self):
        for i in range(10):
            os.makedirs(os.path.join(self.grex["root"], f"sub{i}"), exist_ok=True)
        env, urls = self.mount_env()
        m = self.mounted(env)
        procs = [subprocess.Popen(["ls", os.path.join(m.path, GREX, f"sub{i}")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(10)]
        for p in procs:
            _, err = p.communicate(timeout=90)
            self.assertEqual(p.returncode, 0, err + m.output())
        self.assertEqual(len(read_urls(urls)), 1, read_urls(urls))

    def test_login_in_another_terminal_completes_the_waiting_ls(self):
        env, urls = self.mount_env(act=False)  # nobody answers the mount's own flow
        m = self.mounted(env)
        result = {}

        def run_ls():
            result["p"] = self.ls(os.path.join(m.path, GREX), timeout=90)

        t = threading.Thread(target=run_ls)
        t.start()
        wait_for(lambda: read_urls(urls), 30, "the mount's flow to start")
        # The browser saw the URL while the flow was being started; status lists the flow once
        # its start returned (with the waiting ls counted from then on).
        st = wait_for(lambda: self.status(m)["pending_authorizations"], 30,
                      "status to list the pending flow")
        self.assertEqual(len(st), 1, st)
        self.assertEqual(st[0]["state"], "waiting")
        self.assertEqual(st[0]["collection"], GREX)
        self.assertEqual(st[0]["url"], read_urls(urls)[0])
        self.assertEqual(st[0]["remedy"], f"globus-fuse login --domain {GREX_DOMAIN}")
        self.assertGreaterEqual(st[0]["waiters"], 1)

        # Another terminal: the user runs the command the log suggested (sim browser plays them).
        run_cli(self.env, "login", "--domain", GREX_DOMAIN)
        t.join(60)
        self.assertFalse(t.is_alive(), "ls still blocked after the login in another terminal")
        self.assertEqual(result["p"].returncode, 0, result["p"].stderr + m.output())
        self.assertIn("project", result["p"].stdout.split())
        self.assertEqual(len(read_urls(urls)), 1)
        # The mount's own pending flow is closed once nobody needs it.
        wait_for(lambda: self.status(m)["pending_authorizations"] == [], 30,
                 "the pending flow to be closed")
        self.assertIn("met by another login", m.output())

    def test_expired_authentication_runs_the_flow_again(self):
        env, urls = self.mount_env()
        m = self.mounted(env)
        grex_dir = os.path.join(m.path, GREX)
        self.assertEqual(self.ls(grex_dir).returncode, 0)
        self.assertEqual(len(read_urls(urls)), 1)
        # For 2 s after a flow succeeds, the same error is taken to come from a request sent
        # with the old tokens (a concurrent operation) and is retried without a new flow. A
        # session expiring that fast is not realistic; move past that window.
        time.sleep(2.5)

        timeout_min = self.sim.control("GET", "config")["collections"][self.grex["id"]][
            "authentication_timeout_mins"]
        self.sim.control("POST", "clock", {"advance_seconds": timeout_min * 60 + 600})
        run_cli(env, "drop-caches", grex_dir)
        p = self.ls(grex_dir)
        self.assertEqual(p.returncode, 0, p.stderr + m.output())
        got = read_urls(urls)
        self.assertEqual(len(got), 2, got)
        self.assertEqual(query(got[1]).get("session_required_single_domain"), GREX_DOMAIN)
        # (The clock jump also expired the access token: a 401, refreshed, comes first.)
        root_ls = [s for path, s in self.sim_requests(self.grex["id"]) if path == "/" and s != 401]
        self.assertEqual(root_ls, [502, 200, 502, 200], root_ls)


class ConsentTests(AuthFlowTestCase):
    def test_data_access_consent_flow(self):
        cedar = self.sim.collection(CEDAR)
        with open(os.path.join(cedar["root"], "consented.txt"), "w") as f:
            f.write("ok\n")
        env, urls = self.mount_env()
        m = self.mounted(env)
        p = self.ls(os.path.join(m.path, CEDAR))
        self.assertEqual(p.returncode, 0, p.stderr + m.output())
        self.assertIn("consented.txt", p.stdout.split())
        got = read_urls(urls)
        self.assertEqual(len(got), 1, got)
        scope = query(got[0]).get("scope", "")
        self.assertIn(f"https://auth.globus.org/scopes/{cedar['id']}/data_access", scope)
        self.assertIn("urn:globus:auth:scope:transfer.api.globus.org:all[", scope)
        # Tokens are merged: the auth.globus.org token (whoami) still works.
        run_cli(self.env, "whoami")

    def test_https_scope_consent_on_first_read(self):
        tut = self.sim.collection("Globus Tutorial Collection 1")
        with open(os.path.join(tut["root"], "hello.txt"), "w") as f:
            f.write("hello over https\n")
        env, urls = self.mount_env()
        m = self.mounted(env)
        with open(os.path.join(m.path, tut["display_name"], "hello.txt")) as f:
            self.assertEqual(f.read(), "hello over https\n")
        got = read_urls(urls)
        self.assertEqual(len(got), 1, got)
        self.assertIn(f"https://auth.globus.org/scopes/{tut['id']}/https",
                      query(got[0]).get("scope", ""))

    def test_https_scope_consent_on_first_upload(self):
        tut = self.sim.collection("Globus Tutorial Collection 1")
        env, urls = self.mount_env()
        m = self.mounted(env)
        with open(os.path.join(m.path, tut["display_name"], "uploaded.txt"), "w") as f:
            f.write("written after consent\n")
        with open(os.path.join(tut["root"], "uploaded.txt")) as f:
            self.assertEqual(f.read(), "written after consent\n")
        got = read_urls(urls)
        self.assertEqual(len(got), 1, got)
        self.assertIn(f"https://auth.globus.org/scopes/{tut['id']}/https",
                      query(got[0]).get("scope", ""))

    def test_deny_fails_with_eacces_and_the_fix(self):
        script = os.path.join(self.tmp, "deny")
        urls = script + ".urls"
        with open(script, "w") as f:
            f.write("#!/bin/sh\nfor last in \"$@\"; do :; done\n"
                    f"printf '%s\\n' \"$last\" >>{urls}\n"
                    f"exec {SIM} browser --deny \"$@\" >/dev/null 2>&1\n")
        os.chmod(script, 0o755)
        m = self.mounted(dict(self.env, BROWSER=script))
        p = self.ls(os.path.join(m.path, CEDAR))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Permission denied", p.stderr)
        out = m.output()
        self.assertIn("access_denied", out)
        self.assertIn("globus-fuse login --scope", out)
        # No second prompt right away.
        p2 = self.ls(os.path.join(m.path, CEDAR))
        self.assertNotEqual(p2.returncode, 0)
        self.assertEqual(len(read_urls(urls)), 1)


class TimeoutTests(AuthFlowTestCase):
    AUTH_TIMEOUT = 4

    def test_nobody_answers_eacces_then_fail_fast(self):
        env, urls = self.mount_env(act=False)
        m = self.mounted(env, "-o", f"auth_timeout={self.AUTH_TIMEOUT}")
        grex_dir = os.path.join(m.path, GREX)
        t0 = time.monotonic()
        with self.assertRaises(OSError) as cm:
            os.listdir(grex_dir)
        took = time.monotonic() - t0
        self.assertEqual(cm.exception.errno, errno.EACCES)
        self.assertGreaterEqual(took, self.AUTH_TIMEOUT - 0.5)
        self.assertLess(took, self.AUTH_TIMEOUT + 10)
        out = m.output()
        self.assertIn(f"globus-fuse login --domain {GREX_DOMAIN}", out)
        self.assertIn("nobody completed the login", out)

        # Fail fast: no new prompt, no wait anywhere near the auth timeout.
        t1 = time.monotonic()
        with self.assertRaises(OSError) as cm2:
            os.listdir(grex_dir)
        self.assertEqual(cm2.exception.errno, errno.EACCES)
        self.assertLess(time.monotonic() - t1, self.AUTH_TIMEOUT / 2)
        self.assertEqual(len(read_urls(urls)), 1)
        st = self.status(m)["pending_authorizations"]
        self.assertEqual([s["state"] for s in st], ["failed"], st)
        human = run_cli(env, "status", m.path).stdout
        self.assertIn(f"globus-fuse login --domain {GREX_DOMAIN}", human)

        # The fix from the log, in another terminal, ends the fail-fast period.
        run_cli(self.env, "login", "--domain", GREX_DOMAIN)
        p = self.ls(grex_dir)
        self.assertEqual(p.returncode, 0, p.stderr + m.output())
        self.assertEqual(len(read_urls(urls)), 1)


    def test_stopping_the_mount_does_not_wait_for_a_pending_login(self):
        # auth_timeout stays at its default (120 s): a worker blocked in the flow must be
        # released as soon as the session ends, not when the flow times out.
        env, urls = self.mount_env(act=False)
        m = self.mounted(env)
        ls = subprocess.Popen(["ls", os.path.join(m.path, GREX, "project")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(ls.kill)
        wait_for(lambda: read_urls(urls), 30, "the login flow to start")
        # The blocked ls keeps the mount busy: unmount refuses, and says what to do.
        r = subprocess.run([BINARY, "unmount", m.path], env=self.env, capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--lazy", r.stderr)
        m.proc.send_signal(signal.SIGTERM)
        m.proc.wait(timeout=30)  # raises if the daemon waits for the 120 s flow
        self.assertNotEqual(ls.wait(timeout=30), 0)
        self.assertIn("session ending", m.output())
        self.assertFalse(os.path.ismount(m.path))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """A minimal Chrome DevTools Protocol client (stdlib only: HTTP + a WebSocket client)."""

    def __init__(self, ws_url):
        u = urllib.parse.urlsplit(ws_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("DevTools closed the connection during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise AssertionError("DevTools refused the WebSocket: " + head.decode(errors="replace"))
        self.next_id = 0

    def close(self):
        self.sock.close()

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("DevTools connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, text):
        data = text.encode()
        head = bytes([0x81])
        if len(data) < 126:
            head += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _message(self):
        payload = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = b0 & 0x0F
            if opcode == 8:
                raise AssertionError("DevTools closed the WebSocket")
            if opcode in (9, 10):  # ping/pong: ignore
                continue
            payload += data
            if b0 & 0x80:
                return json.loads(payload)

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = self._message()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise AssertionError(f"{method}: {m['error']}")
                return m.get("result", {})

    def eval(self, js):
        """The value of `js` in the page; None when the page navigated away meanwhile (a form
        submission does that), so the caller just looks again."""
        try:
            r = self.call("Runtime.evaluate", expression=js, returnByValue=True)
        except AssertionError as e:
            if "navigated or closed" in str(e) or "Execution context was destroyed" in str(e):
                return None
            raise
        return r.get("result", {}).get("value")


PAGE_STATE_JS = """(() => ({href: location.href, title: document.title,
  ready: document.readyState, forms: Array.from(document.forms).map(f => f.id),
  text: document.body ? document.body.innerText.slice(0, 4000) : ""}))()"""


@unittest.skipUnless(CHROMIUM, "Chromium is not installed (apt-get install -y chromium)")
class RealBrowserTests(AuthFlowTestCase):
    """The sim's login pages in a real (headless) Chromium, driven like a person would: type the
    username and password, link the Grex identity on "Identity Required", click Allow.

    Chromium does not trust the sim's private CA; --ignore-certificate-errors is given to this
    browser only (it plays the person's browser; globus-fuse itself always verifies TLS)."""

    def start_chromium(self):
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.tmp)
        proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-proxy-server", "--ignore-certificate-errors",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait(timeout=10)))
        port_file = os.path.join(profile, "DevToolsActivePort")
        def read_port():
            try:
                with open(port_file) as f:
                    return f.read().split()[0]
            except (OSError, IndexError):
                return None

        port = int(wait_for(read_port, 30, "Chromium's DevTools port"))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        dt = DevTools(page["webSocketDebuggerUrl"])
        self.addCleanup(dt.close)
        return dt

    def drive_login(self, dt, url, user, password):
        """Completes the login at `url` in Chromium; returns the titles of the pages seen."""
        dt.call("Page.navigate", url=url)
        seen = []
        last = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = dt.eval(PAGE_STATE_JS)
            key = st and (st["href"], tuple(st["forms"]), st["title"])
            if not st or st["ready"] != "complete" or key == last:
                time.sleep(0.1)
                continue
            last = key
            seen.append(st["title"])
            if st["href"].startswith("http://127.0.0.1:"):
                return seen, st["text"]  # the loopback listener's answer
            if "login-form" in st["forms"]:
                dt.eval(f"""(() => {{ const f = document.getElementById('login-form');
                    f.username.value = {json.dumps(user)};
                    f.password.value = {json.dumps(password)};
                    f.querySelector('button[type=submit]').click(); }})()""")
            elif "link-form" in st["forms"]:
                dt.eval(f"""(() => {{ const f = document.getElementById('link-form');
                    if (!f.username.value) f.username.value = {json.dumps(user)} + '@' +
                        f.dataset.domain;
                    f.password.value = {json.dumps(password)};
                    f.querySelector('button[type=submit]').click(); }})()""")
            elif "consent-form" in st["forms"]:
                dt.eval("document.querySelector('#consent-form button[value=allow]').click()")
            else:
                self.fail(f"no form to fill on {st['href']}: {st['text'][:500]}")
        self.fail(f"the login did not finish in Chromium; pages seen: {seen}")

    def test_a_person_completes_the_identity_link_in_chromium(self):
        env, urls = self.mount_env(act=False)  # the person, not a script, answers
        m = self.mounted(env, "-o", "auth_timeout=90")
        result = {}
        t = threading.Thread(target=lambda: result.update(p=self.ls(os.path.join(m.path, GREX),
                                                                      timeout=120)))
        t.start()
        try:
            wait_for(lambda: read_urls(urls), 30, "the mount's flow to start")
            dt = self.start_chromium()
            alice = next(u for u in self.sim.info["users"] if u["username"] == "alice")
            seen, final = self.drive_login(dt, read_urls(urls)[0], "alice", alice["password"])
        finally:
            t.join(120)
        self.assertIn("Identity Required", " ".join(seen), seen)
        self.assertIn("globus-fuse received your login", final)
        self.assertEqual(result["p"].returncode, 0, result["p"].stderr + m.output())
        self.assertIn("project", result["p"].stdout.split())
        who = run_cli(self.env, "whoami").stdout
        self.assertIn(f"alice@{GREX_DOMAIN}", who)


if __name__ == "__main__":
    unittest.main()
