"""Rate limits, fault injection, latency, stats and the request log (globus-api.md 5; README)."""

import http.client
import os
import ssl
import time
import unittest

try:
    from .simharness import SimTestCase, defaults
except ImportError:
    from simharness import SimTestCase, defaults


class LimitsFaultsTest(SimTestCase):
    config = {"tunables": {"rate_limit_per_second": 3, "rate_window_seconds": 2}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tok = None

    def setUp(self):
        if LimitsFaultsTest.tok is None:
            LimitsFaultsTest.tok = self.transfer_token()
        self.control("DELETE", "/faults")
        self.control("POST", "/stats/reset")
        self.ep = "/endpoint/%s" % defaults.TUTORIAL1

    def test_rate_limit_429_retry_after(self):
        statuses = [self.tget(self.ep, self.tok) for _ in range(8)]
        codes = [r.status for r in statuses]
        self.assertEqual(codes[:6], [200] * 6)  # 3/s over 2 s windows = 6 per window
        self.assertEqual(codes[6], 429)
        retry = int(statuses[6].headers["retry-after"])
        self.assertTrue(1 <= retry <= 2)
        time.sleep(retry + 0.1)
        self.assertEqual(self.tget(self.ep, self.tok).status, 200)

    def test_status_faults(self):
        self.control("POST", "/faults", {"route": "endpoint", "kind": "status", "status": 503,
                                         "count": 2})
        self.assertEqual([self.tget(self.ep, self.tok).status for _ in range(3)],
                         [503, 503, 200])
        self.control("POST", "/faults", {"route": "endpoint", "kind": "status", "status": 429,
                                         "retry_after": 7})
        r = self.tget(self.ep, self.tok)
        self.assertEqual((r.status, r.headers["retry-after"]), (429, "7"))
        self.control("POST", "/faults", {"route": r"/v0\.10/endpoint/", "kind": "malformed"})
        r = self.tget(self.ep, self.tok)
        self.assertEqual(r.status, 200)
        with self.assertRaises(ValueError):
            r.json()
        self.assertEqual(self.tget(self.ep, self.tok).status, 200)
        stats = self.control("GET", "/stats")
        self.assertEqual(stats["requests"]["endpoint"], 6)
        self.assertEqual(stats["responses_by_status"]["endpoint 503"], 2)

    def _raw_get(self, url, token):
        u = http.client.urlsplit(url)
        ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
        conn.request("GET", u.path, headers={"Authorization": "Bearer " + token})
        return conn, conn.getresponse()

    def test_reset_and_stall_on_https(self):
        tut = self.colls["Globus Tutorial Collection 1"]
        tok = self.login(scope="https://auth.globus.org/scopes/%s/https" % defaults.TUTORIAL1)[
            defaults.TUTORIAL1]["access_token"]
        data = os.urandom(4 << 20)
        with open(os.path.join(tut["root"], "f.bin"), "wb") as f:
            f.write(data)
        self.control("POST", "/faults", {"route": "https_get", "kind": "reset",
                                         "after_bytes": 100000})
        conn, resp = self._raw_get(tut["https_server"] + "/f.bin", tok)
        self.assertEqual(resp.status, 200)
        with self.assertRaises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
            resp.read()
        conn.close()
        self.control("POST", "/faults", {"route": "https_get", "kind": "stall", "seconds": 1.0,
                                         "after_bytes": 10})
        t0 = time.monotonic()
        conn, resp = self._raw_get(tut["https_server"] + "/f.bin", tok)
        body = resp.read()
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(body, data)
        conn.close()
        self.assertEqual(len(self.control("GET", "/faults")["faults"]), 2)

    def test_drop_closes_without_an_answer(self):
        tut = self.colls["Globus Tutorial Collection 1"]
        tok = self.login(scope="https://auth.globus.org/scopes/%s/https" % defaults.TUTORIAL1)[
            defaults.TUTORIAL1]["access_token"]
        with open(os.path.join(tut["root"], "d.txt"), "wb") as f:
            f.write(b"kept")
        self.control("POST", "/faults", {"route": "https_get", "kind": "drop"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            self._raw_get(tut["https_server"] + "/d.txt", tok)
        conn, resp = self._raw_get(tut["https_server"] + "/d.txt", tok)  # the rule is used up
        self.assertEqual(resp.read(), b"kept")
        conn.close()
        stats = self.control("GET", "/stats")
        self.assertEqual(stats["responses_by_status"].get("https_get 0"), 1)

    def test_request_log_has_no_tokens(self):
        toks = self.login()
        self.tget(self.ep, toks[defaults.TRANSFER_RS]["access_token"])
        with open(os.path.join(self.sim.state_dir, "requests.log")) as f:
            log = f.read()
        self.assertIn("GET /v0.10/endpoint/%s 200 endpoint alice" % defaults.TUTORIAL1, log)
        for t in [toks[defaults.TRANSFER_RS], toks[defaults.AUTH_RS]]:
            self.assertNotIn(t["access_token"], log)
            self.assertNotIn(t["refresh_token"], log)
        self.assertIn("code=REDACTED", log)
        lines = self.control("GET", "/log?n=5")["lines"]
        self.assertEqual(len(lines), 5)


class LatencyTest(SimTestCase):
    extra_args = ("--latency-ms", "150")

    def test_latency_added(self):
        t0 = time.monotonic()
        r = self.http.request("GET", self.base + "/v0.10/endpoint/x")
        self.assertEqual(r.status, 400)
        self.assertGreaterEqual(time.monotonic() - t0, 0.15)


if __name__ == "__main__":
    unittest.main()
