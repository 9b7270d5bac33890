"""Collection HTTPS writes: PUT and DELETE knobs, cut-off uploads, the transient 404
(writes-and-deletes.md 1.2-1.6; README "Writes and deletes")."""

import http.client
import os
import socket
import ssl
import time
import unittest

try:
    from .simharness import Client, SimTestCase, defaults
except ImportError:
    from simharness import Client, SimTestCase, defaults

TRANSIENT_MARKER = b"c=ENDPOINT_ERROR"


class WritesTest(SimTestCase):
    tok = None  # one login per class, made by the first test

    def setUp(self):
        self.tut = self.colls["Globus Tutorial Collection 1"]
        if WritesTest.tok is None:
            WritesTest.tok = self.login(scope="https://auth.globus.org/scopes/%s/https"
                                        % defaults.TUTORIAL1)[defaults.TUTORIAL1]["access_token"]
            WritesTest.defaults = self.control("GET", "/config")["tunables"]
        self.control("DELETE", "/faults")
        self.control("POST", "/stats/reset")
        self.dir = os.path.join(self.tut["root"], "w-" + self._testMethodName)
        os.makedirs(self.dir)
        self.rel = "/" + os.path.basename(self.dir)

    def tearDown(self):
        self.control("POST", "/config", {"tunables": WritesTest.defaults})
        self.control("DELETE", "/faults")
        self.http.close()  # a test that broke a connection does not leak it to the next

    # -- helpers -------------------------------------------------------------------------------
    def url(self, name):
        return self.tut["https_server"] + self.rel + "/" + name

    def put(self, name, body, http=None):
        return (http or self.http).request("PUT", self.url(name), body=body, token=self.tok,
                                           headers={"Content-Type": "application/octet-stream",
                                                    "X-Requested-With": "XMLHttpRequest"})

    def delete(self, name, http=None):
        return (http or self.http).request("DELETE", self.url(name), token=self.tok)

    def local(self, name):
        return os.path.join(self.dir, name)

    def read(self, name):
        with open(self.local(name), "rb") as f:
            return f.read()

    def write(self, name, data):
        with open(self.local(name), "wb") as f:
            f.write(data)

    def tunables(self, **kw):
        self.control("POST", "/config", {"tunables": kw})

    def stats(self):
        return self.control("GET", "/stats")

    def wait_stat(self, key, pred):
        """Wait until the server has accounted a request whose connection the test dropped."""
        deadline = time.time() + 10
        while time.time() < deadline:
            if pred(self.stats()[key]):
                return
            time.sleep(0.05)
        self.fail("stats[%s] never matched: %r" % (key, self.stats()[key]))

    def raw_connection(self):
        ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        host, port = self.tut["https_server"].rsplit(":", 1)
        return http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=10)

    # -- PUT -----------------------------------------------------------------------------------
    def test_put_success_statuses_and_byte_counts(self):
        r = self.put("a.bin", b"new")
        self.assertEqual((r.status, self.read("a.bin")), (200, b"new"))
        self.tunables(https_put_created_status=201, https_put_status=204)
        r = self.put("b.bin", b"created")
        self.assertEqual((r.status, self.read("b.bin")), (201, b"created"))
        r = self.put("b.bin", b"replaced")
        self.assertEqual((r.status, self.read("b.bin")), (204, b"replaced"))
        stats = self.stats()
        self.assertEqual(stats["bytes_received"]["https_put"], len(b"newcreatedreplaced"))
        self.assertEqual(stats["requests_by_method"]["PUT https_put"], 3)
        self.assertEqual(stats["responses_by_status"]["https_put 204"], 1)

    def test_put_body_limit_413(self):
        self.tunables(https_put_max_bytes=1 << 20)
        r = self.put("limit.bin", b"x" * (1 << 20))
        self.assertEqual(r.status, 200)
        r = self.put("big.bin", b"x" * ((1 << 20) + 1))
        self.assertEqual(r.status, 413)
        self.assertIn(b"413 Request Entity Too Large", r.body)  # Apache's page, not JSON
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        self.assertFalse(os.path.exists(self.local("big.bin")))
        # A chunked body has no Content-Length: refused once it passes the limit.
        conn = self.raw_connection()
        conn.request("PUT", self.rel + "/chunked-big.bin",
                     body=iter([b"y" * (600 << 10)] * 2), encode_chunked=True,
                     headers={"Authorization": "Bearer " + self.tok})
        self.assertEqual(conn.getresponse().status, 413)
        conn.close()
        self.tunables(https_put_max_bytes=0)  # 0 = unlimited
        self.assertEqual(self.put("big.bin", b"x" * ((1 << 20) + 1)).status, 200)

    def test_put_missing_parent_status_knob(self):
        r = self.put("no/such/dir.bin", b"x")
        self.assertEqual((r.status, r.json()["code"]), (404, "not_found"))
        for status, code in ((409, "conflict"), (403, "permission_denied")):
            self.tunables(https_put_missing_parent_status=status)
            r = self.put("no/such/dir.bin", b"x")
            self.assertEqual((r.status, r.json()["code"]), (status, code))
        os.mkdir(self.local("adir"))
        self.assertEqual(self.put("adir", b"x").status, 409)  # PUT where a folder exists

    def test_put_chunked_and_its_knob(self):
        conn = self.raw_connection()
        conn.request("PUT", self.rel + "/chunked.bin", body=iter([b"ab", b"", b"cd" * 70000]),
                     encode_chunked=True, headers={"Authorization": "Bearer " + self.tok})
        self.assertEqual(conn.getresponse().read(), b"")
        self.assertEqual(self.read("chunked.bin"), b"ab" + b"cd" * 70000)
        # The connection stays usable after a chunked body.
        conn.request("GET", self.rel + "/chunked.bin", headers={"Authorization": "Bearer " +
                                                                self.tok})
        self.assertEqual(len(conn.getresponse().read()), 140002)
        self.tunables(https_put_chunked=False)
        conn.request("PUT", self.rel + "/chunked2.bin", body=iter([b"zz"]), encode_chunked=True,
                     headers={"Authorization": "Bearer " + self.tok})
        self.assertEqual(conn.getresponse().status, 411)
        conn.close()
        self.assertFalse(os.path.exists(self.local("chunked2.bin")))

    def _cut_upload(self, name, total, sent):
        """Send `sent` of `total` announced body bytes, then close the socket."""
        ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        port = int(self.tut["https_server"].rsplit(":", 1)[1])
        raw = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                              server_hostname="127.0.0.1")
        raw.sendall(("PUT %s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Length: %d\r\n\r\n" % (self.rel, name, self.tok, total)).encode())
        raw.sendall(b"n" * sent)
        # Half-close (FIN, no TLS close_notify), then drain until the server hangs up: closing
        # with unread bytes (a TLS session ticket) would send a RST, and the kernel may then
        # drop what the server has not read yet.
        raw.shutdown(socket.SHUT_WR)  # SSLSocket: drops the TLS layer, then a TCP half-close
        raw.settimeout(10)
        while raw.recv(65536):
            pass
        raw.close()

    def test_client_disconnect_mid_put_leaves_partial_file(self):
        self.write("f.bin", b"o" * 5000)
        self._cut_upload("f.bin", 1 << 20, 3000)
        self.wait_stat("responses_by_status", lambda s: s.get("https_put 499") == 1)
        self.assertEqual(self.read("f.bin"), b"n" * 3000)  # truncated: old bytes are gone
        self.assertEqual(self.stats()["bytes_received"]["https_put"], 3000)

    def test_client_disconnect_with_partial_off_changes_nothing(self):
        self.tunables(https_put_partial=False)
        self.write("f.bin", b"o" * 5000)
        self._cut_upload("f.bin", 1 << 20, 3000)
        self._cut_upload("new.bin", 1 << 20, 3000)
        self.wait_stat("responses_by_status", lambda s: s.get("https_put 499") == 2)
        self.assertEqual(self.read("f.bin"), b"o" * 5000)
        self.assertEqual(sorted(os.listdir(self.dir)), ["f.bin"])  # no temp file shows
        self.assertEqual(os.listdir(os.path.join(self.sim.state_dir, "collections", ".uploads")),
                         [])

    def test_reset_upload_fault(self):
        self.write("f.bin", b"o" * 5000)
        self.control("POST", "/faults", {"route": "https_put", "kind": "reset_upload",
                                         "after_bytes": 100000})
        conn = self.raw_connection()
        with self.assertRaises((ConnectionError, http.client.HTTPException, ssl.SSLError,
                                socket.timeout)):
            conn.request("PUT", self.rel + "/f.bin", body=b"n" * (4 << 20),
                         headers={"Authorization": "Bearer " + self.tok})
            conn.getresponse().read()
        conn.close()
        self.wait_stat("responses_by_status", lambda s: s.get("https_put 499") == 1)
        self.assertEqual(self.read("f.bin"), b"n" * 100000)
        self.assertEqual(self.stats()["bytes_received"]["https_put"], 100000)
        self.assertEqual(self.put("f.bin", b"whole").status, 200)  # count 1: consumed

    def test_stall_upload_fault_holds_the_client_mid_body(self):
        self.control("POST", "/faults", {"route": "https_put", "kind": "stall_upload",
                                         "after_bytes": 100000, "seconds": 1})
        conn = self.raw_connection()
        body = b"s" * (1 << 20)
        t0 = time.monotonic()
        conn.request("PUT", self.rel + "/s.bin", body=body,
                     headers={"Authorization": "Bearer " + self.tok})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        self.assertEqual(self.read("s.bin"), body)  # then the rest was read as usual
        self.assertEqual(self.put("s.bin", b"x").status, 200)  # count 1: consumed

    def test_reset_after_put_stored_the_file(self):
        # "reset" runs the handler, then drops the response: stored, but the client never hears.
        self.control("POST", "/faults", {"route": "https_put", "kind": "reset"})
        conn = self.raw_connection()
        with self.assertRaises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
            conn.request("PUT", self.rel + "/g.bin", body=b"stored",
                         headers={"Authorization": "Bearer " + self.tok})
            conn.getresponse().read()
        conn.close()
        self.assertEqual(self.read("g.bin"), b"stored")

    # -- the transient 404 ---------------------------------------------------------------------
    def test_endpoint_error_404_is_sticky_per_connection(self):
        self.control("POST", "/faults", {"route": "https_put", "kind": "endpoint_error",
                                         "count": 1})
        r = self.put("t.bin", b"data")
        self.assertEqual(r.status, 404)
        self.assertIn(TRANSIENT_MARKER, r.body)
        self.assertFalse(os.path.exists(self.local("t.bin")))
        # Same connection: still failing (any route), though the rule's count is used up.
        self.assertEqual(self.put("t.bin", b"data").status, 404)
        self.write("x.bin", b"x")
        self.assertIn(TRANSIENT_MARKER, self.delete("x.bin").body)
        fresh = Client(self.info["ca_file"])
        try:
            self.assertEqual(self.put("t.bin", b"data", fresh).status, 200)
        finally:
            fresh.close()
        self.http.close()
        self.assertEqual(self.read("t.bin"), b"data")
        self.assertEqual(self.control("GET", "/faults")["faults"][0]["sticky"], True)

    def test_endpoint_error_on_get_and_delete_non_sticky(self):
        self.write("x.bin", b"x")
        self.control("POST", "/faults", {"faults": [
            {"route": "https_delete", "kind": "endpoint_error", "sticky": False, "count": 2},
            {"route": "https_get", "kind": "endpoint_error", "sticky": False}]})
        for _ in range(2):
            r = self.delete("x.bin")
            self.assertEqual(r.status, 404)
            self.assertIn(TRANSIENT_MARKER, r.body)
        self.assertTrue(os.path.exists(self.local("x.bin")))
        self.assertEqual(self.http.request("GET", self.url("x.bin"), token=self.tok).status, 404)
        self.assertEqual(self.http.request("GET", self.url("x.bin"), token=self.tok).body, b"x")
        self.assertEqual(self.delete("x.bin").status, 204)
        self.assertFalse(os.path.exists(self.local("x.bin")))

    # -- DELETE --------------------------------------------------------------------------------
    def test_delete_file_missing_and_status_knob(self):
        self.write("a", b"a")
        self.assertEqual(self.delete("a").status, 204)
        r = self.delete("a")
        self.assertEqual((r.status, r.json()["code"]), (404, "not_found"))
        self.assertIn("PATH_NOT_FOUND", r.json()["message"])
        self.assertNotIn(TRANSIENT_MARKER, r.body)
        self.tunables(https_delete_status=200)
        self.write("b", b"b")
        self.assertEqual(self.delete("b").status, 200)

    def test_delete_directory_modes(self):
        os.makedirs(self.local("empty"))
        os.makedirs(self.local("full/sub"))
        self.write("full/sub/f", b"f")
        r = self.delete("empty")
        self.assertEqual((r.status, r.json()["code"]), (409, "conflict"))  # default: refuse
        self.assertTrue(os.path.isdir(self.local("empty")))
        self.tunables(https_delete_directory_status=403)
        self.assertEqual(self.delete("empty").status, 403)
        self.tunables(https_delete_directory="empty")
        self.assertEqual(self.delete("full").status, 409)
        self.assertEqual(self.delete("empty").status, 204)
        self.assertFalse(os.path.exists(self.local("empty")))
        self.tunables(https_delete_directory="recursive")
        self.assertEqual(self.delete("full").status, 204)
        self.assertFalse(os.path.exists(self.local("full")))
        r = self.http.request("POST", self.info["control_url"] + "/config",
                              body={"tunables": {"https_delete_directory": "sometimes"}})
        self.assertEqual(r.status, 400)


if __name__ == "__main__":
    unittest.main()
