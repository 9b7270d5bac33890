"""Transfer and delete tasks (globus-api.md 1.5-1.7, 5)."""

import os
import time
import unittest
import uuid

try:
    from .simharness import SimTestCase, defaults, fixture, shape
except ImportError:
    from simharness import SimTestCase, defaults, fixture, shape

T1, T2 = defaults.TUTORIAL1, defaults.TUTORIAL2


def transfer_doc(items, src=T1, dst=T2, **kw):
    doc = {"DATA_TYPE": "transfer", "source_endpoint": src, "destination_endpoint": dst,
           "DATA": [dict(DATA_TYPE="transfer_item", source_path=s, destination_path=d,
                         recursive=r) for s, d, r in items]}
    doc.update(kw)
    return doc


def delete_doc(paths, endpoint=T1, **kw):
    doc = {"DATA_TYPE": "delete", "endpoint": endpoint,
           "DATA": [{"DATA_TYPE": "delete_item", "path": p} for p in paths]}
    doc.update(kw)
    return doc


class TasksTest(SimTestCase):
    config = {"tunables": {"task_retry_seconds": 0.2, "rate_limit_per_second": 1000}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tok = None

    def setUp(self):
        if TasksTest.tok is None:
            TasksTest.tok = self.transfer_token()
        self.src = os.path.join(self.root("Globus Tutorial Collection 1"), "home", "alice")
        self.dst = os.path.join(self.root("Globus Tutorial Collection 2"), "home", "alice")
        os.makedirs(self.src, exist_ok=True)
        os.makedirs(self.dst, exist_ok=True)

    def tearDown(self):
        self.control("POST", "/config", {"tunables": {"task_start_delay_seconds": 0,
                                                      "bandwidth_bytes_per_second": 0}})

    def write(self, rel, data):
        p = os.path.join(self.src, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def submit(self, doc, kind="transfer"):
        r = self.tpost("/" + kind, self.tok, doc)
        self.assertIn(r.status, (200, 202), r)
        return r

    def done(self, task_id):
        return self.wait_task(self.tok, task_id, lambda d: d["status"] != "ACTIVE")

    def test_copy_file_and_tree(self):
        self.write("t1/a.txt", b"hello")
        self.write("t1/sub/b.txt", b"world!")
        sid = self.tget("/submission_id", self.tok).json()
        self.assertEqual(sid["DATA_TYPE"], "submission_id")
        r = self.submit(transfer_doc([("/~/t1", "/~/t1copy", True)], submission_id=sid["value"],
                                     verify_checksum=True, label="tree"))
        self.assertEqual(r.status, 202)
        res = r.json()
        fx = fixture("transfer_submit_result.json")
        self.assertEqual(set(res), set(fx))
        self.assertEqual(shape(res), shape(fx))
        self.assertEqual((res["code"], res["submission_id"]), ("Accepted", sid["value"]))
        doc = self.done(res["task_id"])
        self.assertEqual(set(doc), set(fixture("transfer_task_active.json")))
        self.assertEqual(doc["status"], "SUCCEEDED")
        self.assertRegex(doc["completion_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
        self.assertEqual((doc["files"], doc["files_transferred"], doc["bytes_transferred"]),
                         (2, 2, 11))
        self.assertEqual(doc["bytes_checksummed"], 11)
        self.assertIsNone(doc["nice_status"])
        with open(os.path.join(self.dst, "t1copy", "sub", "b.txt"), "rb") as f:
            self.assertEqual(f.read(), b"world!")
        st = self.tget("/task/%s/successful_transfers" % res["task_id"], self.tok).json()
        self.assertEqual(sorted(x["destination_path"] for x in st["DATA"]),
                         ["/~/t1copy/a.txt", "/~/t1copy/sub/b.txt"])
        # resubmitting the same submission id is a Duplicate with the same task
        r = self.tpost("/transfer", self.tok, transfer_doc([("/~/t1", "/~/t1copy", True)],
                                                           submission_id=sid["value"]))
        self.assertEqual((r.status, r.json()["code"], r.json()["task_id"]),
                         (200, "Duplicate", res["task_id"]))
        # sync_level 1: nothing to do the second time
        r = self.submit(transfer_doc([("/~/t1", "/~/t1copy", True)], sync_level=1))
        doc = self.done(r.json()["task_id"])
        self.assertEqual((doc["files_skipped"], doc["files_transferred"]), (2, 0))
        events = self.tget("/task/%s/event_list" % r.json()["task_id"], self.tok).json()
        self.assertEqual(events["DATA_TYPE"], "event_list")
        self.assertEqual(events["DATA"][0]["code"], "SUCCEEDED")
        self.assertEqual(events["DATA"][-1]["code"], "STARTED")

    def test_bad_submissions(self):
        r = self.tpost("/transfer", self.tok, transfer_doc([]))
        self.assertEqual((r.status, r.json()["code"]),
                         (400, "ClientError.BadRequest.NoTransferItems"))
        r = self.tpost("/transfer", self.tok, transfer_doc([("/a", "/b", False)],
                                                           dst=str(uuid.uuid4())))
        self.assertEqual((r.status, r.json()["code"]), (404, "EndpointNotFound"))
        r = self.tget("/task/%s" % uuid.uuid4(), self.tok)
        self.assertEqual(r.status, 404)
        self.assertEqual(set(r.json()), set(fixture("error_task_not_found_404.json")))
        self.assertEqual(r.json()["code"], "ClientError.NotFound")
        self.assertIn("No task found with id", r.json()["message"])

    def test_missing_source_stays_active_then_cancel(self):
        r = self.submit(transfer_doc([("/~/does-not-exist", "/~/x", False)]))
        tid = r.json()["task_id"]
        doc = self.wait_task(self.tok, tid, lambda d: d["faults"] >= 2)
        self.assertEqual((doc["status"], doc["nice_status"], doc["is_ok"]),
                         ("ACTIVE", "FILE_NOT_FOUND", False))
        self.assertEqual(doc["subtasks_pending"], 1)
        ev = self.tget("/task/%s/event_list" % tid, self.tok).json()["DATA"]
        self.assertEqual(ev[0]["code"], "FILE_NOT_FOUND")
        self.assertTrue(ev[0]["is_error"])
        # identical paths while ACTIVE -> 409 Conflict
        r = self.tpost("/transfer", self.tok, transfer_doc([("/~/does-not-exist", "/~/x", False)]))
        self.assertEqual((r.status, r.json()["code"]), (409, "Conflict"))
        self.assertEqual(r.json()["message"],
                         "A transfer with identical paths has not yet completed")
        r = self.tpost("/task/%s/cancel" % tid, self.tok, None)
        self.assertEqual((r.status, r.json()["code"]), (200, "Canceled"))
        doc = self.tget("/task/" + tid, self.tok).json()
        self.assertEqual((doc["status"], doc["fatal_error"]),
                         ("FAILED", {"code": "CANCELED", "description": "canceled"}))
        self.assertEqual(set(doc), set(fixture("transfer_task_failed.json")))
        self.assertIsNone(doc["nice_status"])
        self.assertIsNone(doc["is_ok"])

    def test_source_appears_later(self):
        r = self.submit(transfer_doc([("/~/late.txt", "/~/late.txt", False)]))
        tid = r.json()["task_id"]
        self.wait_task(self.tok, tid, lambda d: d["faults"] >= 1)
        self.write("late.txt", b"now here")
        doc = self.done(tid)
        self.assertEqual(doc["status"], "SUCCEEDED")
        self.assertGreaterEqual(doc["faults"], 1)

    def test_permission_denied_at_destination(self):
        bob = self.transfer_token(user="bob")
        os.makedirs(os.path.join(self.root("Globus Tutorial Collection 1"), "home", "bob"),
                    exist_ok=True)
        with open(os.path.join(self.root("Globus Tutorial Collection 1"), "home", "bob", "f"),
                  "w") as f:
            f.write("x")
        r = self.tpost("/transfer", bob, transfer_doc([("/~/f", "/~/f", False)]))
        tid = r.json()["task_id"]
        doc = self.wait_task(bob, tid, lambda d: d["faults"] >= 1)
        self.assertEqual((doc["status"], doc["nice_status"]), ("ACTIVE", "PERMISSION_DENIED"))
        self.tpost("/task/%s/cancel" % tid, bob, None)

    def test_queue_limit_three_per_user(self):
        self.control("POST", "/config", {"tunables": {"task_start_delay_seconds": 1.5}})
        ids = []
        for i in range(5):
            self.write("q%d.txt" % i, b"q")
            ids.append(self.submit(transfer_doc([("/~/q%d.txt" % i, "/~/q%d.txt" % i,
                                                  False)])).json()["task_id"])
        lst = self.tget("/task_list", self.tok, filter="task_id:" + ",".join(ids) +
                        "/status:ACTIVE", limit=1000).json()
        self.assertEqual(lst["total"], 5)
        nice = sorted(d["nice_status"] for d in lst["DATA"])
        self.assertEqual(nice, ["OK", "OK", "OK", "Queued", "Queued"])
        # queued are the newest ones (FIFO)
        queued = {d["task_id"] for d in lst["DATA"] if d["nice_status"] == "Queued"}
        self.assertEqual(queued, set(ids[3:]))
        self.assertEqual(lst["DATA"][0]["task_id"], ids[-1])  # request_time DESC
        for tid in ids:
            self.assertEqual(self.done(tid)["status"], "SUCCEEDED")

    def test_bandwidth_progress_and_sparse(self):
        p = os.path.join(self.src, "sparse.bin")
        with open(p, "wb") as f:
            f.truncate(5 << 30)
            f.seek(1 << 30)
            f.write(b"data in the middle")
        t0 = time.monotonic()
        r = self.submit(transfer_doc([("/~/sparse.bin", "/~/sparse.bin", False)],
                                     verify_checksum=True))
        doc = self.done(r.json()["task_id"])
        elapsed = time.monotonic() - t0
        self.assertEqual(doc["status"], "SUCCEEDED")
        self.assertEqual(doc["bytes_transferred"], 5 << 30)
        out = os.path.join(self.dst, "sparse.bin")
        self.assertEqual(os.path.getsize(out), 5 << 30)
        with open(out, "rb") as f:
            f.seek(1 << 30)
            self.assertEqual(f.read(18), b"data in the middle")
        self.assertLess(os.stat(out).st_blocks * 512, 64 << 20)  # holes preserved
        print("\n  [measure] 5 GiB sparse transfer task: %.2f s" % elapsed)
        os.unlink(out)
        self.control("POST", "/config", {"tunables": {"bandwidth_bytes_per_second": 4 << 20}})
        self.write("slow.bin", b"s" * (4 << 20))
        r = self.submit(transfer_doc([("/~/slow.bin", "/~/slow.bin", False)]))
        doc = self.wait_task(self.tok, r.json()["task_id"],
                             lambda d: 0 < d["bytes_transferred"] < 4 << 20)
        self.assertEqual(doc["status"], "ACTIVE")
        doc = self.done(r.json()["task_id"])
        self.assertGreater(doc["effective_bytes_per_second"], 0)

    def test_delete_tasks(self):
        self.write("del/a", b"1")
        self.write("del/sub/b", b"2")
        r = self.submit(delete_doc(["/~/del"], recursive=True), "delete")
        self.assertEqual(r.json()["DATA_TYPE"], "delete_result")
        doc = self.done(r.json()["task_id"])
        self.assertEqual((doc["status"], doc["type"]), ("SUCCEEDED", "DELETE"))
        self.assertFalse(os.path.exists(os.path.join(self.src, "del")))
        r = self.submit(delete_doc(["/~/never"]), "delete")
        doc = self.done(r.json()["task_id"])
        self.assertEqual((doc["status"], doc["fatal_error"]["code"]), ("FAILED", "FILE_NOT_FOUND"))
        r = self.submit(delete_doc(["/~/never"], ignore_missing=True), "delete")
        self.assertEqual(self.done(r.json()["task_id"])["status"], "SUCCEEDED")
        lst = self.tget("/task_list", self.tok, filter="type:DELETE/status:FAILED").json()
        self.assertGreaterEqual(lst["total"], 1)
        self.assertTrue(all(d["type"] == "DELETE" and d["status"] == "FAILED"
                            for d in lst["DATA"]))
        self.assertEqual(self.tget("/task_list", self.tok, limit=1001).status, 400)


if __name__ == "__main__":
    unittest.main()
