"""Delete tasks, rename onto an existing file, Transfer-route faults and kill -9 restarts
(writes-and-deletes.md 2.1-2.2, globus-api.md 1.4-1.7; README "Writes and deletes")."""

import http.client
import os
import shutil
import ssl
import tempfile
import time
import unittest
import uuid

try:
    from .simharness import SimProcess, SimTestCase, defaults
    from .test_startup import _Helper
    from .test_tasks import delete_doc
except ImportError:
    from simharness import SimProcess, SimTestCase, defaults
    from test_startup import _Helper
    from test_tasks import delete_doc

T1 = defaults.TUTORIAL1


class DeleteTasksTest(SimTestCase):
    config = {"tunables": {"task_retry_seconds": 0.2, "rate_limit_per_second": 1000}}
    tok = None  # one login per class, made by the first test

    def setUp(self):
        if DeleteTasksTest.tok is None:
            DeleteTasksTest.tok = self.transfer_token()
            DeleteTasksTest.defaults = self.control("GET", "/config")["tunables"]
        self.home = os.path.join(self.root("Globus Tutorial Collection 1"), "home", "alice")
        self.dir = os.path.join(self.home, self._testMethodName)
        os.makedirs(self.dir)
        self.rel = "/~/" + self._testMethodName
        self.control("DELETE", "/faults")
        self.control("POST", "/stats/reset")

    def tearDown(self):
        self.control("POST", "/config", {"tunables": DeleteTasksTest.defaults})
        self.control("DELETE", "/faults")
        self.http.close()

    def write(self, rel, data=b"x"):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    def exists(self, rel):
        return os.path.lexists(os.path.join(self.dir, rel))

    def submit(self, paths, tok=None, **kw):
        r = self.tpost("/delete", tok or self.tok,
                       delete_doc([self.rel + "/" + p for p in paths], **kw))
        self.assertIn(r.status, (200, 202), r)
        return r.json()["task_id"]

    def done(self, task_id, tok=None):
        return self.wait_task(tok or self.tok, task_id, lambda d: d["status"] != "ACTIVE")

    def events(self, task_id, tok=None):
        return self.tget("/task/%s/event_list" % task_id, tok or self.tok).json()["DATA"]

    # -- delete documents ----------------------------------------------------------------------
    def test_directory_needs_recursive_even_when_empty(self):
        os.makedirs(os.path.join(self.dir, "empty"))
        doc = self.done(self.submit(["empty"]))
        self.assertEqual((doc["status"], doc["fatal_error"]["code"]), ("FAILED", "ENDPOINT_ERROR"))
        self.assertTrue(self.exists("empty"))
        self.assertIn("recursive", self.events(doc["task_id"])[0]["details"])
        doc = self.done(self.submit(["empty"], recursive=True))
        self.assertEqual(doc["status"], "SUCCEEDED")
        self.assertFalse(self.exists("empty"))
        # Knob: the task keeps retrying instead (ACTIVE, faults, nice_status = the code).
        self.control("POST", "/config", {"tunables": {"delete_dir_without_recursive": "retry"}})
        os.makedirs(os.path.join(self.dir, "again"))
        tid = self.submit(["again"])
        doc = self.wait_task(self.tok, tid, lambda d: d["faults"] >= 1)
        self.assertEqual((doc["status"], doc["nice_status"]), ("ACTIVE", "ENDPOINT_ERROR"))
        self.tpost("/task/%s/cancel" % tid, self.tok, None)

    def test_many_items_one_task_and_counters(self):
        for i in range(20):
            self.write("tree/d%d/f%d" % (i % 4, i))
        self.write("loose")
        sid = self.tget("/submission_id", self.tok).json()["value"]
        doc = delete_doc([self.rel + "/tree", self.rel + "/loose"], recursive=True,
                         submission_id=sid, notify_on_succeeded=False, notify_on_failed=False,
                         notify_on_inactive=False, interpret_globs=False, ignore_missing=True,
                         label="rm -r tree")
        r1 = self.tpost("/delete", self.tok, doc)
        r2 = self.tpost("/delete", self.tok, doc)  # a retry after a lost reply
        self.assertEqual((r1.status, r1.json()["code"]), (202, "Accepted"))
        self.assertEqual((r2.status, r2.json()["code"]), (200, "Duplicate"))
        self.assertEqual(r1.json()["task_id"], r2.json()["task_id"])
        task = self.done(r1.json()["task_id"])
        self.assertEqual((task["status"], task["files"], task["directories"]),
                         ("SUCCEEDED", 21, 5))
        self.assertFalse(self.exists("tree") or self.exists("loose"))
        stats = self.control("GET", "/stats")
        self.assertEqual(stats["tasks_submitted"], {"DELETE": 1})
        self.assertEqual(stats["task_items_submitted"], {"DELETE": 2})
        self.assertEqual(stats["requests"]["delete"], 2)
        sim_view = [t for t in self.control("GET", "/tasks")["DATA"]
                    if t["task_id"] == task["task_id"]][0]["_sim"]
        self.assertEqual(sim_view["submission_id"], sid)
        self.assertEqual({k: sim_view["options"][k] for k in (
            "notify_on_succeeded", "notify_on_failed", "notify_on_inactive", "interpret_globs",
            "recursive", "ignore_missing")}, {"notify_on_succeeded": False,
                                              "notify_on_failed": False,
                                              "notify_on_inactive": False,
                                              "interpret_globs": False, "recursive": True,
                                              "ignore_missing": True})
        self.assertEqual(len(sim_view["items"]), 2)
        bad = self.tpost("/delete", self.tok, delete_doc([self.rel + "/x"], recursive="true"))
        self.assertEqual((bad.status, bad.json()["code"]), (400, "ClientError.BadRequest"))

    def test_missing_paths_fail_or_are_ignored(self):
        self.write("here")
        doc = self.done(self.submit(["here", "gone"]))
        self.assertEqual((doc["status"], doc["fatal_error"]["code"]), ("FAILED", "FILE_NOT_FOUND"))
        ev = self.events(doc["task_id"])[0]
        self.assertEqual((ev["code"], ev["is_error"]), ("FILE_NOT_FOUND", True))
        self.assertIn("PATH_NOT_FOUND", ev["details"])
        self.assertIn(self.rel + "/gone", ev["details"])
        self.assertFalse(self.exists("here"))  # items before the missing one were done
        doc = self.done(self.submit(["gone", "also-gone"], ignore_missing=True))
        self.assertEqual(doc["status"], "SUCCEEDED")

    def test_interpret_globs(self):
        for name in ("a.txt", "b.txt", "keep.log", "star*.txt", "q?.txt", "qa.txt", ".h.txt"):
            self.write(name)
        # Off (what globus-fuse sends): a name with glob characters is literal.
        self.assertEqual(self.done(self.submit(["star*.txt"]))["status"], "SUCCEEDED")
        self.assertEqual(sorted(os.listdir(self.dir)),
                         [".h.txt", "a.txt", "b.txt", "keep.log", "q?.txt", "qa.txt"])
        doc = self.done(self.submit(["*.txt"]))  # no file is literally named "*.txt"
        self.assertEqual(doc["fatal_error"]["code"], "FILE_NOT_FOUND")
        # On: the last component is a glob; a backslash escapes; dot files need a dot.
        self.assertEqual(self.done(self.submit(["q\\?.txt"], interpret_globs=True))["status"],
                         "SUCCEEDED")
        self.assertEqual(sorted(os.listdir(self.dir)),
                         [".h.txt", "a.txt", "b.txt", "keep.log", "qa.txt"])
        self.assertEqual(self.done(self.submit(["*.txt"], interpret_globs=True))["status"],
                         "SUCCEEDED")
        self.assertEqual(sorted(os.listdir(self.dir)), [".h.txt", "keep.log"])
        doc = self.done(self.submit(["*.none"], interpret_globs=True))
        self.assertEqual(doc["fatal_error"]["code"], "FILE_NOT_FOUND")

    def test_at_most_three_worked_then_queued(self):
        self.control("POST", "/config", {"tunables": {"task_start_delay_seconds": 1.5}})
        for i in range(5):
            self.write("q%d" % i)
        ids = [self.submit(["q%d" % i]) for i in range(5)]
        lst = self.tget("/task_list", self.tok, filter="task_id:" + ",".join(ids),
                        limit=10).json()["DATA"]
        self.assertEqual(sorted(d["nice_status"] for d in lst), ["OK"] * 3 + ["Queued"] * 2)
        self.assertEqual({d["task_id"] for d in lst if d["nice_status"] == "Queued"},
                         set(ids[3:]))
        for tid in ids:
            self.assertEqual(self.done(tid)["status"], "SUCCEEDED")
        self.control("POST", "/config", {"tunables": {"max_active_delete_tasks": 1}})
        self.write("r0")
        self.write("r1")
        ids = [self.submit(["r0"]), self.submit(["r1"])]
        lst = self.tget("/task_list", self.tok, filter="task_id:" + ",".join(ids)).json()["DATA"]
        self.assertEqual(sorted(d["nice_status"] for d in lst), ["OK", "Queued"])
        for tid in ids:
            self.assertEqual(self.done(tid)["status"], "SUCCEEDED")

    def test_permission_denied_keeps_retrying(self):
        bob = self.transfer_token(user="bob")
        root = self.root("Globus Tutorial Collection 1")
        private = os.path.join(root, "pub", "private")
        os.makedirs(os.path.join(private, "sub"), exist_ok=True)
        with open(os.path.join(private, "sub", "f"), "wb") as f:
            f.write(b"secret")
        knobs = self.control("GET", "/config")["collections"][T1]
        self.addCleanup(self.control, "POST", "/config", {"collections": {T1: {
            "denied_paths": knobs["denied_paths"]}}})
        self.control("POST", "/config", {"collections": {T1: {"denied_paths": knobs[
            "denied_paths"] + [{"user": "bob", "path": "/pub/private"}]}}})
        # The path itself, and a recursive delete of a tree holding a denied path.
        for path, recursive in (("/pub/private/sub/f", False), ("/pub", True)):
            r = self.tpost("/delete", bob, delete_doc([path], recursive=recursive))
            tid = r.json()["task_id"]
            doc = self.wait_task(bob, tid, lambda d: d["faults"] >= 1)
            self.assertEqual((doc["status"], doc["nice_status"], doc["is_ok"]),
                             ("ACTIVE", "PERMISSION_DENIED", False))
            ev = self.events(tid, bob)[0]
            self.assertEqual((ev["code"], ev["is_error"]), ("PERMISSION_DENIED", True))
            self.tpost("/task/%s/cancel" % tid, bob, None)
        self.assertTrue(os.path.exists(os.path.join(private, "sub", "f")))

    # -- rename ----------------------------------------------------------------------------------
    def test_rename_onto_existing_both_modes(self):
        self.write("tmp", b"new")
        self.write("dst", b"old")
        rename = "/operation/endpoint/%s/rename" % T1
        body = {"DATA_TYPE": "rename", "old_path": self.rel + "/tmp",
                "new_path": self.rel + "/dst"}
        self.control("POST", "/config", {"tunables": {"rename_onto_existing": "refuse"}})
        r = self.tpost(rename, self.tok, body)
        self.assertEqual((r.status, r.json()["code"]), (502, "ExternalError.RenameFailed.Exists"))
        self.assertIn("PATH_EXISTS", r.json()["message"])
        with open(os.path.join(self.dir, "dst"), "rb") as f:
            self.assertEqual(f.read(), b"old")
        self.assertTrue(self.exists("tmp"))
        self.control("POST", "/config", {"tunables": {"rename_exists_code": "ClientError.Conflict"}})
        self.assertEqual(self.tpost(rename, self.tok, body).json()["code"],
                         "ClientError.Conflict")
        self.control("POST", "/config", {"tunables": {"rename_onto_existing": "replace"}})
        r = self.tpost(rename, self.tok, body)
        self.assertEqual((r.status, r.json()["code"]), (200, "FileRenamed"))
        with open(os.path.join(self.dir, "dst"), "rb") as f:
            self.assertEqual(f.read(), b"new")
        self.assertFalse(self.exists("tmp"))

    # -- Transfer-route faults -------------------------------------------------------------------
    def test_reset_on_submit_then_resubmit_is_duplicate(self):
        self.write("lost-reply")
        doc = delete_doc([self.rel + "/lost-reply"], submission_id=str(uuid.uuid4()))
        self.control("POST", "/faults", {"route": "delete", "kind": "reset"})
        ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        port = int(self.base.rsplit(":", 1)[1])
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        with self.assertRaises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
            conn.request("POST", "/v0.10/delete", body=__import__("json").dumps(doc),
                         headers={"Authorization": "Bearer " + self.tok,
                                  "Content-Type": "application/json"})
            conn.getresponse().read()
        conn.close()
        r = self.tpost("/delete", self.tok, doc)
        self.assertEqual(r.json()["code"], "Duplicate")  # the cut reply's task exists
        self.assertEqual(self.done(r.json()["task_id"])["status"], "SUCCEEDED")
        self.assertEqual(self.control("GET", "/stats")["tasks_submitted"], {"DELETE": 1})

    def test_malformed_200_on_task_route(self):
        self.write("m")
        tid = self.submit(["m"])
        self.control("POST", "/faults", {"route": "task", "kind": "malformed"})
        r = self.tget("/task/" + tid, self.tok)
        self.assertEqual(r.status, 200)
        with self.assertRaises(ValueError):
            r.json()
        self.assertEqual(self.done(tid)["status"], "SUCCEEDED")


class KillRestartTest(unittest.TestCase):
    def test_kill9_keeps_accepted_tasks_and_files(self):
        tmp = tempfile.mkdtemp(prefix="globus-sim-kill-")
        try:
            state = os.path.join(tmp, "state")
            sim = SimProcess(state, config={"tunables": {"task_start_delay_seconds": 30}}).start()
            helper = _Helper(sim)
            tok = helper.case.transfer_token()
            home = os.path.join(helper.case.root("Globus Tutorial Collection 1"), "home",
                                "alice")
            os.makedirs(home, exist_ok=True)
            with open(os.path.join(home, "doomed"), "wb") as f:
                f.write(b"x")
            r = helper.case.tpost("/delete", tok, delete_doc(["/~/doomed"]))
            tid = r.json()["task_id"]
            helper.close()
            uploads = os.path.join(state, "collections", ".uploads")
            with open(os.path.join(uploads, "put-leftover"), "wb") as f:
                f.write(b"half")
            sim.proc.kill()  # no chance to save: acceptance must already be durable
            sim.proc.wait()
            sim.stderr.close()
            sim = SimProcess(state, config={"tunables": {"task_start_delay_seconds": 0}}).start()
            helper = _Helper(sim)
            doc = helper.case.wait_task(tok, tid, lambda d: d["status"] != "ACTIVE")
            self.assertEqual(doc["status"], "SUCCEEDED")
            self.assertFalse(os.path.exists(os.path.join(home, "doomed")))
            self.assertEqual(os.listdir(uploads), [])
            helper.close()
            self.assertEqual(sim.stop(), 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
