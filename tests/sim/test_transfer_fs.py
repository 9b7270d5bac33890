"""Transfer v0.10 filesystem operations vs the reference fixtures (globus-api.md 1.1-1.4, 1.8)."""

import os
import re
import time
import unittest

try:
    from .simharness import SimTestCase, defaults, fixture, shape
except ImportError:  # run from inside tests/sim
    from simharness import SimTestCase, defaults, fixture, shape

FILE_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$")


class TransferFsTest(SimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tok = None

    def setUp(self):
        if TransferFsTest.tok is None:
            TransferFsTest.tok = self.transfer_token()
        self.tut = self.colls["Globus Tutorial Collection 1"]
        self.home = os.path.join(self.tut["root"], "home", "alice")
        os.makedirs(self.home, exist_ok=True)

    def ls(self, path, coll=None, **params):
        return self.tget("/operation/endpoint/%s/ls" % (coll or self.tut["id"]), self.tok,
                         path=path, **params)

    def make_tree(self, name, files):
        d = os.path.join(self.home, name)
        os.makedirs(d, exist_ok=True)
        for fname, size in files.items():
            with open(os.path.join(d, fname), "wb") as f:
                f.write(b"x" * size)
        return d

    # -- ls ---------------------------------------------------------------------------------
    def test_ls_shape_matches_fixture(self):
        self.make_tree("shape", {"a.txt": 3})
        os.makedirs(os.path.join(self.home, "shape", "sub"), exist_ok=True)
        r = self.ls("/~/shape")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        fx = fixture("transfer_ls_root_tutorial.json")
        self.assertEqual(set(doc), set(fx))
        self.assertEqual(shape(doc["DATA"][0]), shape(fx["DATA"][0]))
        self.assertEqual(doc["path"], "/~/shape/")
        self.assertEqual(doc["DATA_TYPE"], "file_list")
        self.assertEqual(doc["endpoint"], self.tut["id"])
        self.assertEqual((doc["length"], doc["total"]), (2, 2))
        a, sub = doc["DATA"]
        self.assertEqual((a["name"], a["type"], a["size"], a["permissions"]),
                         ("a.txt", "file", 3, "%04o" % (os.stat(os.path.join(
                             self.home, "shape", "a.txt")).st_mode & 0o7777)))
        self.assertEqual(sub["type"], "dir")
        for e in doc["DATA"]:
            self.assertRegex(e["last_modified"], FILE_TS)
            self.assertRegex(e["permissions"], r"^[0-7]{4}$")
            self.assertEqual(e["DATA_TYPE"], "file")

    def test_ls_root_and_home_echo(self):
        self.assertEqual(self.ls("/").json()["path"], "/")
        self.assertEqual(self.ls("/~/").json()["path"], "/~/")
        self.assertEqual(self.ls("/home").json()["path"], "/home/")
        names = [e["name"] for e in self.ls("/home").json()["DATA"]]
        self.assertIn("alice", names)

    def test_ls_paging_filters_orderby_hidden(self):
        self.make_tree("q", {"b.png": 5, "a.txt": 30, ".hidden": 1, "c.png": 10})
        os.makedirs(os.path.join(self.home, "q", "zdir"), exist_ok=True)
        names = lambda r: [e["name"] for e in r.json()["DATA"]]  # noqa: E731
        self.assertEqual(names(self.ls("/~/q")), [".hidden", "a.txt", "b.png", "c.png", "zdir"])
        self.assertEqual(names(self.ls("/~/q", show_hidden="0")),
                         ["a.txt", "b.png", "c.png", "zdir"])
        self.assertEqual(names(self.ls("/~/q", show_hidden="false")),
                         ["a.txt", "b.png", "c.png", "zdir"])
        r = self.ls("/~/q", limit=2, offset=1)
        self.assertEqual(names(r), ["a.txt", "b.png"])
        self.assertEqual((r.json()["length"], r.json()["total"]), (2, 5))
        self.assertEqual(names(self.ls("/~/q", filter="name:~*.png")), ["b.png", "c.png"])
        self.assertEqual(names(self.ls("/~/q", filter="type:dir")), ["zdir"])
        self.assertEqual(names(self.ls("/~/q", filter="name:a.txt")), ["a.txt"])
        self.assertEqual(names(self.ls("/~/q", filter=["type:file", "name:~*.png/size:6,"])),
                         ["c.png"])
        self.assertEqual(names(self.ls("/~/q", filter="type:file,dir", show_hidden="0",
                                       orderby="size DESC,name")),
                         ["zdir", "a.txt", "c.png", "b.png"])
        self.assertEqual(names(self.ls("/~/q", orderby="name DESC"))[0], "zdir")
        self.assertEqual(self.ls("/~/q", orderby="bogus").status, 400)
        self.assertEqual(self.ls("/~/q", limit=100001).status, 400)
        self.assertEqual(self.ls("/~/q", filter="nokey").status, 400)

    def test_ls_symlinks(self):
        d = self.make_tree("links", {"target.txt": 7})
        os.symlink("target.txt", os.path.join(d, "good"))
        os.symlink("missing", os.path.join(d, "dangling"))
        docs = {e["name"]: e for e in self.ls("/~/links").json()["DATA"]}
        self.assertEqual(docs["good"]["type"], "file")
        self.assertEqual(docs["good"]["size"], 7)
        self.assertEqual(docs["good"]["link_target"], "target.txt")
        self.assertRegex(docs["good"]["link_last_modified"], FILE_TS)
        self.assertEqual(docs["dangling"]["type"], "invalid_symlink")
        self.assertIsNone(docs["target.txt"]["link_target"])

    def test_ls_errors(self):
        self.make_tree("err", {"f": 1})
        r = self.ls("/~/err/missing")
        self.assertEqual((r.status, r.json()["code"]), (404, "ClientError.NotFound"))
        r = self.ls("/~/err/f")
        self.assertEqual((r.status, r.json()["code"]),
                         (502, "ExternalError.DirListingFailed.NotDirectory"))
        self.assertEqual(set(r.json()), {"code", "message", "request_id", "resource"})
        r = self.tget("/operation/endpoint/%s/ls" % "00000000-0000-4000-8000-000000000999",
                      self.tok, path="/")
        self.assertEqual((r.status, r.json()["code"]), (404, "EndpointNotFound"))
        r = self.ls("/", coll=defaults.GCS_ENDPOINT)
        self.assertEqual(r.status, 400)

    def test_ls_size_limit(self):
        self.make_tree("big", {"f%d" % i: 0 for i in range(20)})
        self.control("POST", "/config", {"tunables": {"ls_size_limit": 10}})
        try:
            r = self.ls("/~/big")
            self.assertEqual((r.status, r.json()["code"]),
                             (502, "ExternalError.DirListingFailed.SizeLimit"))
        finally:
            self.control("POST", "/config", {"tunables": {"ls_size_limit": 5000000}})
        self.assertEqual(self.ls("/~/big").status, 200)

    def test_ls_100k_entries(self):
        d = os.path.join(self.home, "huge")
        os.makedirs(d)
        for i in range(100000):
            os.close(os.open(os.path.join(d, "f%06d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
        t0 = time.monotonic()
        r = self.ls("/~/huge")
        elapsed = time.monotonic() - t0
        doc = r.json()
        self.assertEqual((doc["length"], doc["total"]), (100000, 100000))
        self.assertEqual(doc["DATA"][99999]["name"], "f099999")
        r = self.ls("/~/huge", limit=10, offset=99995)
        self.assertEqual([e["name"] for e in r.json()["DATA"]],
                         ["f%06d" % i for i in range(99995, 100000)])
        print("\n  [measure] ls of 100k entries: %.2f s" % elapsed)

    # -- stat / mkdir / rename --------------------------------------------------------------
    def test_stat(self):
        self.make_tree("st", {"file1.txt": 4})
        r = self.tget("/operation/endpoint/%s/stat" % self.tut["id"], self.tok,
                      path="/~/st/file1.txt")
        self.assertEqual(r.status, 200)
        fx = fixture("transfer_stat_file.json")
        self.assertEqual(shape(r.json()), shape(fx))
        self.assertEqual(r.json()["name"], "file1.txt")
        r = self.tget("/operation/endpoint/%s/stat" % self.tut["id"], self.tok, path="/~/st/nope")
        self.assertEqual(r.status, 404)
        fx = fixture("error_stat_not_found_404.json")
        self.assertEqual(set(r.json()), set(fx))
        self.assertEqual(r.json()["code"], "NotFound")
        self.assertIn("No such file or directory", r.json()["message"])
        self.assertIn("'~/st/nope' not found", r.json()["message"])

    def test_mkdir_and_rename(self):
        eid = self.tut["id"]
        r = self.tpost("/operation/endpoint/%s/mkdir" % eid, self.tok,
                       {"DATA_TYPE": "mkdir", "path": "/~/newdir/"})
        self.assertEqual(r.status, 200, r)
        fx = fixture("transfer_mkdir_result.json")
        self.assertEqual(set(r.json()), set(fx))
        self.assertEqual(r.json()["code"], "DirectoryCreated")
        self.assertTrue(os.path.isdir(os.path.join(self.home, "newdir")))
        r = self.tpost("/operation/endpoint/%s/mkdir" % eid, self.tok,
                       {"DATA_TYPE": "mkdir", "path": "/~/newdir/"})
        self.assertEqual((r.status, r.json()["code"]), (502, "ExternalError.MkdirFailed.Exists"))
        r = self.tpost("/operation/endpoint/%s/mkdir" % eid, self.tok,
                       {"DATA_TYPE": "mkdir", "path": "/~/no/such/parent"})
        self.assertEqual(r.status, 502)
        self.assertIn("No such file or directory", r.json()["message"])
        r = self.tpost("/operation/endpoint/%s/rename" % eid, self.tok,
                       {"DATA_TYPE": "rename", "old_path": "/~/newdir",
                        "new_path": "/~/renamed"})
        self.assertEqual((r.status, r.json()["code"]), (200, "FileRenamed"))
        self.assertTrue(os.path.isdir(os.path.join(self.home, "renamed")))
        r = self.tpost("/operation/endpoint/%s/rename" % eid, self.tok,
                       {"DATA_TYPE": "rename", "old_path": "/~/renamed",
                        "new_path": "/~/nope/renamed"})
        self.assertEqual(r.status, 502)
        self.assertIn("No such file or directory", r.json()["message"])

    # -- endpoints ---------------------------------------------------------------------------
    def test_endpoint_documents(self):
        fx = fixture("transfer_endpoint_gcsv5_endpoint.json")
        r = self.tget("/endpoint/%s" % defaults.GCS_ENDPOINT, self.tok)
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(set(doc), set(fx))
        self.assertTrue(doc["non_functional"])
        self.assertEqual(doc["entity_type"], "GCSv5_endpoint")
        grex = self.tget("/endpoint/%s" % defaults.GREX, self.tok).json()
        self.assertEqual(grex["authentication_timeout_mins"], 15840)
        self.assertEqual(grex["https_server"], self.colls["UManitoba Grex HPC"]["https_server"])
        self.assertRegex(grex["https_server"], r"^https://127\.0\.0\.1:\d+$")
        gcp = self.tget("/endpoint/%s" % defaults.PERSONAL, self.tok).json()
        self.assertIsNone(gcp["https_server"])
        self.assertEqual(gcp["entity_type"], "GCP_mapped_collection")
        servers = {c["https_server"] for c in self.info["collections"] if c["https_server"]}
        self.assertEqual(len(servers), 4)
        r = self.tget("/endpoint/00000000-0000-4000-8000-000000000999", self.tok)
        self.assertEqual((r.status, r.json()["code"]), (404, "EndpointNotFound"))

    def test_endpoint_search_and_bookmarks(self):
        r = self.tget("/endpoint_search", self.tok, filter_fulltext="tutorial")
        doc = r.json()
        fx = fixture("transfer_endpoint_search.json")
        self.assertEqual(set(doc), set(fx))
        self.assertEqual({e["display_name"] for e in doc["DATA"]},
                         {"Globus Tutorial Collection 1", "Globus Tutorial Collection 2"})
        self.assertIn("_rank", doc["DATA"][0])
        r = self.tget("/endpoint_search", self.tok, filter_fulltext="globus", limit=1)
        self.assertTrue(r.json()["has_next_page"])
        r = self.tget("/endpoint_search", self.tok, filter_scope="all")
        self.assertEqual(r.status, 400)
        r = self.tget("/endpoint_search", self.tok, filter_scope="my-endpoints")
        self.assertIn(defaults.PERSONAL, [e["id"] for e in r.json()["DATA"]])
        r = self.tget("/endpoint_search", self.tok, filter_fulltext="globus",
                      filter_non_functional="1")
        self.assertEqual([e["id"] for e in r.json()["DATA"]], [defaults.GCS_ENDPOINT])
        self.ls("/~/")
        r = self.tget("/endpoint_search", self.tok, filter_scope="recently-used")
        self.assertEqual(r.json()["DATA"][0]["id"], self.tut["id"])
        bms = self.tget("/bookmark_list", self.tok).json()["DATA"]
        self.assertEqual(bms[0]["name"], "tutorial-home")
        self.assertEqual(bms[0]["endpoint_id"], self.tut["id"])

    # -- authentication -----------------------------------------------------------------------
    def test_authentication_errors(self):
        path = "/operation/endpoint/%s/ls" % self.tut["id"]
        r = self.http.request("GET", self.base + "/v0.10" + path)
        self.assertEqual((r.status, r.json()["code"], r.json()["message"]),
                         (400, "ClientError.AuthenticationFailed", "No credentials supplied"))
        r = self.tget(path, "not-a-token")
        self.assertEqual(r.status, 401)
        self.assertEqual(set(r.json()) - {"resource"},
                         set(fixture("error_authentication_failed_401.json")))
        self.assertIn("AuthenticationFailed", r.json()["code"])

    def test_permissions(self):
        bob = self.transfer_token(user="bob")
        r = self.tget("/operation/endpoint/%s/ls" % defaults.TUTORIAL2, bob, path="/")
        self.assertEqual((r.status, r.json()["code"]), (403, "EndpointPermissionDenied"))
        self.assertEqual(set(r.json()), set(fixture("error_endpoint_permission_denied_403.json")))
        self.assertEqual(self.ls("/", coll=defaults.TUTORIAL2).status, 200)
        os.makedirs(os.path.join(self.tut["root"], "private"), exist_ok=True)
        r = self.tget("/operation/endpoint/%s/ls" % self.tut["id"], bob, path="/private")
        self.assertEqual(r.status, 403)
        self.assertEqual(self.ls("/private").status, 200)
        r = self.tget("/operation/endpoint/%s/ls" % self.tut["id"], bob, path="/~/")
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main()
