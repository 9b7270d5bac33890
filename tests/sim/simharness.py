"""Test harness: run a real globus-sim process in a temp dir and talk to it over HTTPS.

``SimTestCase`` starts one sim per test class (free ports) and stops it with SIGTERM.
"""

import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import http.server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(REPO, "scripts", "globus-sim")
FIXTURES = os.environ.get("GF_FIXTURE_DIR", os.path.join(REPO, "tests", "fixtures", "globus"))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from globus_sim import defaults  # noqa: E402

TRANSFER_SCOPE = defaults.TRANSFER_SCOPE


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


class SimProcess:
    def __init__(self, state_dir, config=None, extra_args=()):
        self.state_dir = state_dir
        self.config = config
        self.extra_args = list(extra_args)
        self.proc = None
        self.info = None

    def start(self, timeout=20):
        args = [sys.executable, SIM, "--state", self.state_dir] + self.extra_args
        if self.config is not None:
            path = os.path.join(self.state_dir + ".config.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            args += ["--config", path]
        self.stderr = open(self.state_dir + ".stderr", "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr)
        sim_json = os.path.join(self.state_dir, "sim.json")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(sim_json):
                with open(sim_json) as f:
                    self.info = json.load(f)
                if self.info.get("pid") == self.proc.pid:
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError("globus-sim exited with %s" % self.proc.returncode)
            time.sleep(0.05)
        raise RuntimeError("globus-sim did not become ready")

    def stop(self):
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    return self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    return None
            return self.proc.returncode if self.proc else None
        finally:
            if getattr(self, "stderr", None):
                self.stderr.close()


class Client:
    """A tiny keep-alive HTTPS client (one connection per origin)."""

    def __init__(self, ca_file):
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.conns = {}

    def request(self, method, url, body=None, headers=None, token=None, form=None):
        u = urllib.parse.urlsplit(url)
        key = (u.hostname, u.port)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        target = u.path + ("?" + u.query if u.query else "")
        for attempt in (0, 1):
            conn = self.conns.get(key)
            if conn is None:
                conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.ctx,
                                                   timeout=60)
                self.conns[key] = conn
            try:
                conn.request(method, target, body, h)
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.conns.pop(key, None)
                return Reply(resp.status, dict((k.lower(), v) for k, v in resp.getheaders()),
                             data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self.conns.pop(key, None)
                if attempt:
                    raise

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.body[:300])


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()
    return verifier, challenge


class LoopbackReceiver:
    """The client's side of the loopback redirect: records the query it receives."""

    def __init__(self):
        received = self.received = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                received.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path)
                                                            .query)))
                body = b"You may close this window."
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.uri = "http://127.0.0.1:%d/callback" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SimTestCase(unittest.TestCase):
    config = None
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="globus-sim-test-")
        cls.sim = SimProcess(os.path.join(cls.tmp, "state"), cls.config, cls.extra_args).start()
        cls.info = cls.sim.info
        cls.base = cls.info["transfer_url"]
        cls.http = Client(cls.info["ca_file"])
        cls.colls = {c["display_name"]: c for c in cls.info["collections"]}

    @classmethod
    def tearDownClass(cls):
        cls.http.close()
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------
    def control(self, method, path, body=None):
        r = self.http.request(method, self.info["control_url"] + path, body=body)
        self.assertLess(r.status, 300, r)
        return r.json()

    def authorize_url(self, challenge, scope, redirect_uri, state="st-1", **extra):
        q = {"client_id": self.info["client_id"], "redirect_uri": redirect_uri,
             "scope": scope, "state": state, "response_type": "code",
             "code_challenge": challenge, "code_challenge_method": "S256",
             "access_type": "offline"}
        q.update(extra)
        return self.info["auth_url"] + "/v2/oauth2/authorize?" + urllib.parse.urlencode(q)

    def run_browser(self, url, *args):
        env = dict(os.environ, GLOBUS_SIM_STATE=self.sim.state_dir)
        return subprocess.run([sys.executable, SIM, "browser"] + list(args) + [url], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=30)

    def login(self, scope=None, user="alice", link_domain=None, **extra):
        """Full native-app login through the browser helper; returns {rs: token dict}."""
        scope = scope or "openid profile email " + TRANSFER_SCOPE
        verifier, challenge = pkce_pair()
        redirect = self.info["auth_url"] + "/v2/web/auth-code"
        url = self.authorize_url(challenge, scope, redirect, **extra)
        args = ["--user", user]
        if link_domain:
            args += ["--link-domain", link_domain]
        out = self.run_browser(url, *args)
        self.assertEqual(out.returncode, 0, out.stderr)
        code = out.stdout.strip()
        r = self.http.request("POST", self.info["auth_url"] + "/v2/oauth2/token", form={
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": redirect, "client_id": self.info["client_id"]})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        tokens = {body["resource_server"]: body}
        for t in body["other_tokens"]:
            tokens[t["resource_server"]] = t
        return tokens

    def transfer_token(self, **kw):
        return self.login(**kw)[defaults.TRANSFER_RS]["access_token"]

    def tget(self, route, token, **params):
        q = ("?" + urllib.parse.urlencode(params, doseq=True)) if params else ""
        return self.http.request("GET", self.base + "/v0.10" + route + q, token=token)

    def tpost(self, route, token, body):
        return self.http.request("POST", self.base + "/v0.10" + route, body=body, token=token)

    def root(self, name):
        return self.colls[name]["root"]

    def wait_task(self, token, task_id, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            doc = self.tget("/task/" + task_id, token).json()
            if pred(doc):
                return doc
            time.sleep(0.1)
        self.fail("task %s did not reach the expected state: %r" % (task_id, doc))


def shape(value):
    """Types of a JSON value, recursively by key (for fixture shape comparison)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"
