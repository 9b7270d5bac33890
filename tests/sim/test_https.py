"""Collection HTTPS data access (globus-api.md 4)."""

import os
import unittest
import urllib.parse

try:
    from .simharness import SimTestCase, TRANSFER_SCOPE, defaults
except ImportError:
    from simharness import SimTestCase, TRANSFER_SCOPE, defaults

XHR = {"X-Requested-With": "XMLHttpRequest"}


def https_scope(c):
    return "https://auth.globus.org/scopes/%s/https" % c


class HttpsTest(SimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tok = None

    def setUp(self):
        self.tut = self.colls["Globus Tutorial Collection 1"]
        if HttpsTest.tok is None:
            toks = self.login(scope="openid %s %s %s" % (TRANSFER_SCOPE, https_scope(
                defaults.TUTORIAL1), https_scope(defaults.GREX)))
            HttpsTest.tok = toks[defaults.TUTORIAL1]["access_token"]
            HttpsTest.grex_tok = toks[defaults.GREX]["access_token"]
            HttpsTest.transfer_tok = toks[defaults.TRANSFER_RS]["access_token"]
        self.data = bytes(range(256)) * 4096  # 1 MiB
        with open(os.path.join(self.tut["root"], "blob.bin"), "wb") as f:
            f.write(self.data)

    def get(self, path, token=None, headers=None, coll=None, method="GET"):
        base = (coll or self.tut)["https_server"]
        return self.http.request(method, base + path, token=token, headers=headers)

    def test_get_full_and_range(self):
        r = self.get("/blob.bin", self.tok)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.data)
        self.assertIn("etag", r.headers)
        self.assertIn("last-modified", r.headers)
        r = self.get("/blob.bin", self.tok, {"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, self.data[10:20])
        self.assertEqual(r.headers["content-range"], "bytes 10-19/%d" % len(self.data))
        r = self.get("/blob.bin", self.tok, {"Range": "bytes=-5"})
        self.assertEqual((r.status, r.body), (206, self.data[-5:]))
        r = self.get("/blob.bin", self.tok, {"Range": "bytes=%d-" % (len(self.data) + 5)})
        self.assertEqual(r.status, 416)
        r = self.get("/blob.bin", self.tok, method="HEAD")
        self.assertEqual((r.status, r.body, r.headers["content-length"]),
                         (200, b"", str(len(self.data))))
        self.control("POST", "/config", {"collections": {defaults.TUTORIAL1: {
            "ignore_range": True}}})
        try:
            r = self.get("/blob.bin", self.tok, {"Range": "bytes=10-19"})
            self.assertEqual((r.status, len(r.body)), (200, len(self.data)))
        finally:
            self.control("POST", "/config", {"collections": {defaults.TUTORIAL1: {
                "ignore_range": False}}})
        r = self.get("/nope.bin", self.tok)
        self.assertEqual((r.status, r.json()["code"], r.json()["http_response_code"]),
                         (404, "not_found", 404))
        self.assertEqual(r.json()["DATA_TYPE"], "result#1.0.0")

    def test_home_knobs_absolute_path_and_https_tilde(self):
        home = os.path.join(self.tut["root"], "home", "alice")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, "h.txt"), "wb") as f:
            f.write(b"home")
        ls = lambda: self.tget("/operation/endpoint/%s/ls" % self.tut["id"], self.transfer_tok,
                               path="/~/").json()
        self.assertIsNone(ls()["absolute_path"])  # default: as on the tutorial endpoint
        self.assertEqual(self.get("/~/h.txt", self.tok).body, b"home")  # "~" served by default
        self.control("POST", "/config", {"collections": {defaults.TUTORIAL1: {
            "absolute_paths": True, "https_tilde": False}}})
        try:
            self.assertEqual(ls()["absolute_path"], "/home/alice/")
            self.assertEqual(self.get("/~/h.txt", self.tok).status, 404)
            self.assertEqual(self.get("/home/alice/h.txt", self.tok).body, b"home")
        finally:
            self.control("POST", "/config", {"collections": {defaults.TUTORIAL1: {
                "absolute_paths": False, "https_tilde": True}}})

    def test_unauthenticated_redirect_vs_xhr(self):
        r = self.get("/blob.bin")
        self.assertEqual(r.status, 302)
        loc = urllib.parse.urlsplit(r.headers["location"])
        self.assertEqual(loc.path, "/v2/oauth2/authorize")
        self.assertEqual(urllib.parse.parse_qs(loc.query)["client_id"], [defaults.TUTORIAL1])
        r = self.get("/blob.bin", headers=XHR)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["authorization_parameters"]["required_scopes"],
                         [https_scope(defaults.TUTORIAL1)])
        # wrong audience: a Transfer token, or another collection's token
        for tok in (self.transfer_tok, self.grex_tok):
            self.assertEqual(self.get("/blob.bin", tok, XHR).status, 401)

    def test_policies_apply(self):
        grex = self.colls["UManitoba Grex HPC"]
        r = self.get("/x", self.grex_tok, XHR, coll=grex)
        self.assertEqual(r.status, 403)
        ap = r.json()["authorization_parameters"]
        self.assertEqual(ap["session_required_single_domain"], ["rprox.hpc.umanitoba.ca"])
        bob = self.login(user="bob", scope=https_scope(defaults.TUTORIAL2))[defaults.TUTORIAL2]
        r = self.get("/", bob["access_token"], XHR, coll=self.colls["Globus Tutorial Collection 2"])
        self.assertEqual(r.status, 403)
        cedar = self.colls["Alliance Cedar Project"]
        t = self.login(scope=https_scope(defaults.CEDAR))[defaults.CEDAR]["access_token"]
        r = self.get("/x", t, XHR, coll=cedar)
        self.assertEqual((r.status, r.json()["code"]), (403, "consent_required"))
        t = self.login(scope="%s https://auth.globus.org/scopes/%s/data_access" % (
            https_scope(defaults.CEDAR), defaults.CEDAR))[defaults.CEDAR]["access_token"]
        self.assertEqual(self.get("/x", t, XHR, coll=cedar).status, 404)

    def test_put_delete_and_stats(self):
        self.control("POST", "/stats/reset")
        body = os.urandom(3 * 1024 * 1024 + 17)
        r = self.http.request("PUT", self.tut["https_server"] + "/up.bin", body=body,
                              token=self.tok, headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        with open(os.path.join(self.tut["root"], "up.bin"), "rb") as f:
            self.assertEqual(f.read(), body)
        r = self.http.request("PUT", self.tut["https_server"] + "/no/dir/up.bin", body=b"x",
                              token=self.tok)
        self.assertEqual(r.status, 404)
        self.assertEqual(self.get("/up.bin", self.tok).body, body)
        stats = self.control("GET", "/stats")
        self.assertEqual(stats["bytes_received"]["https_put"], len(body) + 1)
        self.assertEqual(stats["bytes_served"]["https_get"], len(body))
        self.assertEqual(stats["requests_by_method"]["PUT https_put"], 2)
        r = self.http.request("DELETE", self.tut["https_server"] + "/up.bin", token=self.tok)
        self.assertEqual(r.status, 204)
        self.assertFalse(os.path.exists(os.path.join(self.tut["root"], "up.bin")))


if __name__ == "__main__":
    unittest.main()
