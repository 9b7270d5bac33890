"""Transfer API v0.10 (reference section 1): endpoints, bookmarks, ls/stat/mkdir/rename,
submission ids, task submission and monitoring.

Every route needs a bearer token whose resource server is ``transfer.api.globus.org``
(missing -> 400 ``ClientError.AuthenticationFailed`` "No credentials supplied"; unknown, expired
or wrong audience -> 401, reference 2.2), and is rate limited per user (reference 5).
"""

import errno
import json
import os
import uuid

from . import defaults, errors, fsview, model, policy
from .server import Response

PREFIX = "/v0.10"
LS_MAX_LIMIT = 100000
UUID_RX = r"[0-9a-fA-F-]{36}"


def _absolute_path(coll, real):
    """ls ``absolute_path``: null unless the collection's ``absolute_paths`` knob is on; then
    the collection path of ``real`` with ``~`` expanded (``/home/<user>/...``), trailing '/'."""
    if not coll.get("absolute_paths"):
        return None
    rel = os.path.relpath(real, coll["_root"])
    return "/" if rel == "." else "/" + rel + "/"


def _same_entry(a, b):
    """True when two real paths name one entry (a rename to itself is never "onto" another)."""
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except OSError:
        return False


def _bool_arg(value, default):
    if value is None or value == "":
        return default
    v = str(value).lower()
    if v in ("1", "true", "yes"):
        return True
    if v in ("0", "false", "no"):
        return False
    raise ValueError(value)


def _int_arg(req, name, default, resource, lo=0, hi=None):
    v = req.arg(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise errors.transfer(400, "ClientError.BadRequest", "Invalid %s %r" % (name, v), resource)
    if n < lo or (hi is not None and n > hi):
        raise errors.transfer(400, "ClientError.BadRequest",
                              "Invalid %s %d: must be between %d and %s" % (name, n, lo, hi),
                              resource)
    return n


class TransferService:
    def __init__(self, sim):
        self.sim = sim
        self.state = sim.state

    def register(self, r):
        p = PREFIX
        ep = p + r"/operation/endpoint/(?P<eid>[^/]+)"
        r.add("GET", p + r"/endpoint/(?P<eid>[^/]+)", "endpoint", self.endpoint)
        r.add("GET", p + r"/endpoint_search", "endpoint_search", self.endpoint_search)
        r.add("GET", p + r"/bookmark_list", "bookmark_list", self.bookmark_list)
        r.add("GET", ep + r"/ls", "ls", self.ls)
        r.add("GET", ep + r"/stat", "stat", self.stat)
        r.add("POST", ep + r"/mkdir", "mkdir", self.mkdir)
        r.add("POST", ep + r"/rename", "rename", self.rename)
        r.add("GET", p + r"/submission_id", "submission_id", self.submission_id)
        r.add("POST", p + r"/transfer", "transfer", self.submit_transfer)
        r.add("POST", p + r"/delete", "delete", self.submit_delete)
        r.add("GET", p + r"/task_list", "task_list", self.task_list)
        r.add("GET", p + r"/task/(?P<tid>[^/]+)", "task", self.task)
        r.add("POST", p + r"/task/(?P<tid>[^/]+)/cancel", "task_cancel", self.task_cancel)
        r.add("GET", p + r"/task/(?P<tid>[^/]+)/event_list", "event_list", self.event_list)
        r.add("GET", p + r"/task/(?P<tid>[^/]+)/successful_transfers", "successful_transfers",
              self.successful_transfers)

    # == common ================================================================================
    @staticmethod
    def resource(req):
        return req.path[len(PREFIX):] if req.path.startswith(PREFIX) else req.path

    def principal(self, req):
        """Authenticate and rate-limit; returns the token record."""
        resource = self.resource(req)
        token = req.bearer()
        if token is None:
            raise errors.transfer(400, "ClientError.AuthenticationFailed",
                                  "No credentials supplied", resource)
        rec = self.sim.auth.lookup(token)
        if rec is None or rec["rs"] != defaults.TRANSFER_RS:
            raise errors.transfer(401, self.sim.tunable("auth_failed_code"),
                                  "Token is not active" if rec is None else
                                  "Token is not valid for Transfer", resource)
        req.user = rec["user"]
        retry = self.sim.rate_limiter.check(rec["user"], self.sim.tunable("rate_limit_per_second"),
                                            self.sim.tunable("rate_window_seconds"))
        if retry is not None:
            e = errors.transfer(429, "RateLimitExceeded",
                                "Rate limit exceeded; retry after %d seconds" % retry, resource)
            e.headers["Retry-After"] = str(retry)
            raise e
        return rec

    def collection(self, eid, resource, need_data=True):
        coll = self.state.collections.get(eid.lower())
        if coll is None:
            raise errors.transfer(404, "EndpointNotFound", "No such endpoint '%s'" % eid, resource)
        if need_data and coll.get("non_functional"):
            raise errors.transfer(400, "ClientError.BadRequest",
                                  "Endpoint '%s' (%s) is a non-functional endpoint and holds no "
                                  "data; use one of its collections" % (coll["display_name"],
                                                                       coll["id"]), resource)
        return coll

    def _resolve(self, coll, path, user, resource):
        try:
            return fsview.resolve(coll["_root"], path, user)
        except fsview.PathError as e:
            raise errors.transfer(400, "ClientError.BadRequest", str(e), resource)

    # == endpoints & bookmarks =================================================================
    def endpoint(self, req):
        rec = self.principal(req)
        coll = self.collection(req.params["eid"], self.resource(req), need_data=False)
        return Response.json(model.endpoint_doc(self.sim, coll, rec["user"]))

    def endpoint_search(self, req):
        rec = self.principal(req)
        user = rec["user"]
        resource = self.resource(req)
        scope = req.arg("filter_scope") or "all"
        text = (req.arg("filter_fulltext") or "").strip()
        limit = _int_arg(req, "limit", 25, resource, 1, 100)
        offset = _int_arg(req, "offset", 0, resource, 0, 999)
        if scope == "all" and not text:
            raise errors.transfer(400, "ClientError.BadRequest",
                                  "filter_fulltext is required with filter_scope=all", resource)
        cands = list(self.state.collections.values())
        if scope in ("my-endpoints", "administered-by-me"):
            cands = [c for c in cands if c.get("owner") == user]
        elif scope == "my-gcp-endpoints":
            cands = [c for c in cands if c.get("owner") == user and
                     c["entity_type"].startswith("GCP_")]
        elif scope in ("recently-used", "in-use"):
            with self.state.lock:
                recent = list(self.state.recent.get(user, []))
            cands = [self.state.collections[i] for i in recent if i in self.state.collections]
        elif scope == "shared-with-me":
            cands = [c for c in cands if c["entity_type"].endswith("guest_collection")]
        elif scope == "shared-by-me":
            cands = [c for c in cands if c["entity_type"].endswith("guest_collection") and
                     c.get("owner") == user]
        elif scope == "hide-no-permissions":
            cands = [c for c in cands if policy.acl_ok(c, user)]
        elif scope != "all":
            raise errors.transfer(400, "ClientError.BadRequest",
                                  "Invalid filter_scope %r" % scope, resource)
        nf = req.arg("filter_non_functional")
        et = req.arg("filter_entity_type")
        if nf not in (None, ""):
            want = nf in ("1", "true", "True")
            cands = [c for c in cands if bool(c.get("non_functional")) == want]
        if et:
            types = set(et.split(","))
            cands = [c for c in cands if c["entity_type"] in types]
        ranked = []
        words = text.lower().split()
        for c in cands:
            hay = " ".join([c["display_name"], c["id"], c.get("description") or "",
                            " ".join(c.get("keywords") or [])]).lower()
            score = sum(hay.count(w) for w in words) if words else 1
            if words and not all(w in hay for w in words):
                continue
            ranked.append((score, c))
        if words:
            ranked.sort(key=lambda x: -x[0])
        page = ranked[offset:offset + limit]
        docs = []
        for score, c in page:
            d = model.endpoint_doc(self.sim, c, user)
            d["_rank"] = float(score)
            docs.append(d)
        return Response.json({"DATA_TYPE": "endpoint_list", "limit": limit, "offset": offset,
                              "has_next_page": offset + limit < len(ranked), "DATA": docs})

    def bookmark_list(self, req):
        rec = self.principal(req)
        bms = self.state.users[rec["user"]].get("bookmarks", [])
        return Response.json({"DATA_TYPE": "bookmark_list",
                              "DATA": [dict(b, DATA_TYPE="bookmark") for b in bms]})

    # == filesystem operations =================================================================
    def ls(self, req):
        rec = self.principal(req)
        resource = self.resource(req)
        coll = self.collection(req.params["eid"], resource)
        user = rec["user"]
        path = req.arg("path") or coll.get("default_directory") or "/~/"
        policy.check_transfer(self.sim, coll, rec, "ls", resource)
        real = self._resolve(coll, path, user, resource)
        policy.check_transfer(self.sim, coll, rec, "ls", resource, path, real)
        try:
            show_hidden = _bool_arg(req.arg("show_hidden"), True)
        except ValueError:
            raise errors.transfer(400, "ClientError.BadRequest", "Invalid show_hidden", resource)
        limit = _int_arg(req, "limit", LS_MAX_LIMIT, resource, 0, LS_MAX_LIMIT)
        offset = _int_arg(req, "offset", 0, resource, 0)
        try:
            pred = fsview.compile_filters(req.args("filter"))
        except fsview.QueryError as e:
            raise errors.transfer(400, "ClientError.BadRequest", str(e), resource)
        self.state.touch_collection(user, coll["id"])
        try:
            docs = fsview.list_dir(real, show_hidden, int(self.sim.tunable("ls_size_limit")))
        except ValueError:
            raise errors.transfer(502, "ExternalError.DirListingFailed.SizeLimit",
                                  "Too many files in directory %s" % fsview.display_dir(path),
                                  resource)
        except FileNotFoundError:
            raise errors.transfer(404, "ClientError.NotFound",
                                  "Directory '%s' not found on endpoint %s"
                                  % (fsview.display_dir(path), coll["id"]), resource)
        except NotADirectoryError:
            raise errors.transfer(502, "ExternalError.DirListingFailed.NotDirectory",
                                  "Command Failed: Error (list)\nEndpoint: %s (%s)\n"
                                  "Message: Fatal FTP Response\n---\nDetails: 500-Path is not a "
                                  "directory: %s\\r\\n500 End.\\r\\n\n"
                                  % (coll["display_name"], coll["id"], path), resource)
        except PermissionError:
            raise errors.transfer(502, "ExternalError.DirListingFailed.PermissionDenied",
                                  "Permission denied listing %s" % path, resource)
        if pred is not None:
            docs = [d for d in docs if pred(d)]
        try:
            fsview.sort_docs(docs, req.arg("orderby"))
        except fsview.QueryError as e:
            raise errors.transfer(400, "ClientError.BadRequest", str(e), resource)
        total = len(docs)
        page = docs[offset:offset + limit]
        rest = json.dumps({
            "DATA_TYPE": "file_list", "absolute_path": _absolute_path(coll, real),
            "endpoint": coll["id"],
            "length": len(page), "path": fsview.display_dir(path), "rename_supported": True,
            "symlink_supported": not coll["entity_type"].startswith("GCSv5_"), "total": total})
        # DATA is serialised by fsview.rows_json (fast for 100k entries), then spliced in.
        return Response(200, ('{"DATA": %s, %s' % (fsview.rows_json(page), rest[1:])).encode())

    def stat(self, req):
        rec = self.principal(req)
        resource = self.resource(req)
        coll = self.collection(req.params["eid"], resource)
        path = req.arg("path")
        if not path:
            raise errors.transfer(400, "ClientError.BadRequest", "path is required", resource)
        policy.check_transfer(self.sim, coll, rec, "stat", resource)
        real = self._resolve(coll, path, rec["user"], resource)
        policy.check_transfer(self.sim, coll, rec, "stat", resource, path, real)
        self.state.touch_collection(rec["user"], coll["id"])
        name = os.path.basename(path.rstrip("/")) or "/"
        try:
            doc = fsview.stat_doc(real, name)
        except (FileNotFoundError, NotADirectoryError):
            shown = path[1:] if path.startswith("/~/") else path
            raise errors.transfer(
                404, "NotFound",
                "Path not found, Error (list)\nEndpoint: %s (%s)\nServer: 127.0.0.1:443\n"
                "Message: No such file or directory\n---\nDetails: Error: '%s' not found\\r\\n"
                "550-GlobusError: v=1 c=PATH_NOT_FOUND\\r\\n550-GridFTP-Errno: 2\\r\\n"
                "550-GridFTP-Reason: System error in stat\\r\\n550-GridFTP-Error-String: No such "
                "file or directory\\r\\n550 End.\\r\\n\n" % (coll["display_name"], coll["id"],
                                                              shown), resource)
        return Response.json(doc)

    def mkdir(self, req):
        rec = self.principal(req)
        resource = self.resource(req)
        coll = self.collection(req.params["eid"], resource)
        body = req.json(resource)
        if body.get("DATA_TYPE") != "mkdir" or not body.get("path"):
            raise errors.transfer(400, "ClientError.BadRequest",
                                  "Expected a mkdir document with a path", resource)
        path = body["path"]
        policy.check_transfer(self.sim, coll, rec, "mkdir", resource)
        real = self._resolve(coll, path, rec["user"], resource)
        policy.check_transfer(self.sim, coll, rec, "mkdir", resource, path, real)
        try:
            os.mkdir(real)
        except FileExistsError:
            raise errors.transfer(502, "ExternalError.MkdirFailed.Exists",
                                  "Command Failed: Error (mkdir)\nEndpoint: %s (%s)\nMessage: "
                                  "Fatal FTP Response\n---\nDetails: 550-GlobusError: v=1 "
                                  "c=PATH_EXISTS\\r\\n550-GridFTP-Errno: 17\\r\\n550-GridFTP-Reason:"
                                  " System error in mkdir\\r\\n550-GridFTP-Error-String: File "
                                  "exists\\r\\n550 End.\\r\\n\n" % (coll["display_name"], coll["id"]),
                                  resource)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.transfer(502, "ExternalError.MkdirFailed",
                                  "Command Failed: Error (mkdir)\nEndpoint: %s (%s)\nMessage: "
                                  "Fatal FTP Response\n---\nDetails: 550-GlobusError: v=1 "
                                  "c=PATH_NOT_FOUND\\r\\n550-GridFTP-Errno: 2\\r\\n550-GridFTP-"
                                  "Error-String: No such file or directory\\r\\n550 End.\\r\\n\n"
                                  % (coll["display_name"], coll["id"]), resource)
        except PermissionError:
            raise errors.transfer(502, "ExternalError.MkdirFailed.PermissionDenied",
                                  "Permission denied creating %s" % path, resource)
        self.state.touch_collection(rec["user"], coll["id"])
        return Response.json({"DATA_TYPE": "mkdir_result", "code": "DirectoryCreated",
                              "message": "The directory was created successfully",
                              "request_id": errors.request_id(), "resource": resource})

    def rename(self, req):
        rec = self.principal(req)
        resource = self.resource(req)
        coll = self.collection(req.params["eid"], resource)
        body = req.json(resource)
        old, new = body.get("old_path"), body.get("new_path")
        if body.get("DATA_TYPE") != "rename" or not old or not new:
            raise errors.transfer(400, "ClientError.BadRequest",
                                  "Expected a rename document with old_path and new_path", resource)
        policy.check_transfer(self.sim, coll, rec, "rename", resource)
        real_old = self._resolve(coll, old, rec["user"], resource)
        real_new = self._resolve(coll, new, rec["user"], resource)
        policy.check_transfer(self.sim, coll, rec, "rename", resource, old, real_old)
        policy.check_transfer(self.sim, coll, rec, "rename", resource, new, real_new)
        if not os.path.lexists(real_old):
            raise errors.transfer(404, "NotFound", "Path not found, Error (rename)\nEndpoint: %s "
                                  "(%s)\nMessage: No such file or directory: %s\n"
                                  % (coll["display_name"], coll["id"], old), resource)
        if self.sim.tunable("rename_onto_existing") == "refuse" and \
                os.path.lexists(real_new) and not _same_entry(real_old, real_new):
            # UNVERIFIED (writes-and-deletes.md 2.2): shaped like the captured mkdir "Exists"
            # error (502 ExternalError.MkdirFailed.Exists with GridFTP PATH_EXISTS text).
            code = self.sim.tunable("rename_exists_code")
            raise errors.transfer(502, code,
                                  "Command Failed: Error (rename)\nEndpoint: %s (%s)\nMessage: "
                                  "Fatal FTP Response\n---\nDetails: 553-GlobusError: v=1 "
                                  "c=PATH_EXISTS\\r\\n553-GridFTP-Errno: 17\\r\\n553-GridFTP-"
                                  "Error-String: File exists: %s\\r\\n553 End.\\r\\n\n"
                                  % (coll["display_name"], coll["id"], new), resource)
        try:
            os.rename(real_old, real_new)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.transfer(502, "ExternalError.RenameFailed",
                                  "Command Failed: Error (rename)\nEndpoint: %s (%s)\nMessage: "
                                  "No such file or directory (parent of %s)\n"
                                  % (coll["display_name"], coll["id"], new), resource)
        except OSError as e:
            code = "ExternalError.RenameFailed.PermissionDenied" if e.errno in (
                errno.EACCES, errno.EPERM) else "ExternalError.RenameFailed"
            raise errors.transfer(502, code, "Command Failed: Error (rename): %s" % e.strerror,
                                  resource)
        return Response.json({"DATA_TYPE": "result", "code": "FileRenamed",
                              "message": "File or directory renamed successfully",
                              "request_id": errors.request_id(), "resource": resource})

    # == tasks =================================================================================
    def submission_id(self, req):
        self.principal(req)
        return Response.json({"DATA_TYPE": "submission_id", "value": str(uuid.uuid4())})

    def submit_transfer(self, req):
        rec = self.principal(req)
        return self.sim.tasks.submit(rec, "transfer", req.json("/transfer"))

    def submit_delete(self, req):
        rec = self.principal(req)
        return self.sim.tasks.submit(rec, "delete", req.json("/delete"))

    def _task(self, req, rec):
        task = self.sim.tasks.get(req.params["tid"], rec["user"])
        if task is None:
            raise errors.transfer(404, "ClientError.NotFound",
                                  "No task found with id '%s'" % req.params["tid"],
                                  "/task/%s" % req.params["tid"])
        return task

    def task(self, req):
        rec = self.principal(req)
        return Response.json(self.sim.tasks.document(self._task(req, rec)))

    def task_list(self, req):
        rec = self.principal(req)
        resource = self.resource(req)
        limit = _int_arg(req, "limit", 10, resource, 1, 1000)
        offset = _int_arg(req, "offset", 0, resource, 0)
        filters = {}
        for f in req.args("filter"):
            for clause in f.split("/"):
                key, sep, value = clause.partition(":")
                if not sep or key not in ("task_id", "status", "type", "label", "request_time"):
                    raise errors.transfer(400, "ClientError.BadRequest",
                                          "Invalid filter %r" % clause, resource)
                if key != "request_time":
                    filters[key] = set(value.split(","))
        tasks = self.sim.tasks.for_user(rec["user"])
        docs = [(t, self.sim.tasks.document(t)) for t in tasks]
        for key, values in filters.items():
            docs = [(t, d) for t, d in docs if d.get(key) in values]
        orderby = req.arg("orderby") or "request_time DESC"
        for part in reversed(orderby.split(",")):
            words = part.split()
            if not words:
                continue
            field = words[0]
            if field not in ("request_time", "completion_time", "status", "type", "label",
                             "task_id"):
                raise errors.transfer(400, "ClientError.BadRequest",
                                      "Invalid orderby %r" % part, resource)
            desc = len(words) > 1 and words[1].upper() == "DESC"
            if field == "request_time":  # sub-second order: the documents only show seconds
                key = lambda td: (td[0].request_time, td[0].seq)  # noqa: E731
            elif field == "completion_time":
                key = lambda td: (td[0].completion_time is not None,  # noqa: E731
                                  td[0].completion_time or 0)
            else:
                key = lambda td, f=field: (td[1].get(f) is not None, td[1].get(f) or "")  # noqa
            docs.sort(key=key, reverse=desc)
        docs = [d for _, d in docs]
        page = docs[offset:offset + limit]
        return Response.json({"DATA_TYPE": "task_list", "length": len(page), "limit": limit,
                              "offset": offset, "total": len(docs), "DATA": page})

    def task_cancel(self, req):
        rec = self.principal(req)
        task = self._task(req, rec)
        code, message = self.sim.tasks.cancel(task)
        return Response.json({"DATA_TYPE": "result", "code": code, "message": message,
                              "request_id": errors.request_id(),
                              "resource": "/task/%s/cancel" % task.task_id})

    def event_list(self, req):
        rec = self.principal(req)
        resource = self.resource(req)
        task = self._task(req, rec)
        limit = _int_arg(req, "limit", 10, resource, 1, 1000)
        offset = _int_arg(req, "offset", 0, resource, 0)
        events = self.sim.tasks.events(task)
        page = events[offset:offset + limit]
        return Response.json({"DATA_TYPE": "event_list", "length": len(page), "limit": limit,
                              "offset": offset, "total": len(events), "DATA": page})

    def successful_transfers(self, req):
        rec = self.principal(req)
        resource = self.resource(req)
        task = self._task(req, rec)
        marker = _int_arg(req, "marker", 0, resource, 0)
        limit = 1000
        items = self.sim.tasks.successful(task)
        page = items[marker:marker + limit]
        nxt = marker + limit if marker + limit < len(items) else None
        return Response.json({"DATA_TYPE": "successful_transfers", "marker": marker,
                              "next_marker": nxt, "DATA": page})
