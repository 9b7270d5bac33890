"""GCS v5 collection HTTPS data access (reference section 4). One port per collection.

* ``GET``/``HEAD /<path>``: 200 with the whole file, or 206 for ``Range: bytes=a-b`` (single
  range; multi-range answers 200; unsatisfiable 416). ``Last-Modified``, ``ETag``
  (``"<inode>-<size>-<mtime_ns>"``) and ``Accept-Ranges: bytes``. Range support and these headers
  are UNVERIFIED upstream: ``ignore_range`` (per collection, or the ``https_ignore_range``
  tunable) makes the server answer 200 with the full body.
* ``PUT /<path>``: whole-body upload (``Content-Length`` or chunked). Knobs (tunables, all
  UNVERIFIED upstream, writes-and-deletes.md 1.2/1.4): body limit ``https_put_max_bytes`` (413,
  Apache's HTML page), success ``https_put_created_status`` / ``https_put_status``, missing
  parent ``https_put_missing_parent_status``, ``https_put_partial`` (a cut-off upload leaves
  the bytes received at the name, or nothing changes), ``https_put_chunked``.
* ``DELETE /<path>``: a file, synchronously (``https_delete_status``); a directory per
  ``https_delete_directory`` (refuse / empty / recursive). Missing -> 404 whose message carries
  ``PATH_NOT_FOUND`` (never ``ENDPOINT_ERROR``, the transient fault's marker).
* Authorization: bearer token whose resource server is the collection id. Without a valid token:
  302 to ``<auth_url>/v2/oauth2/authorize?client_id=<COLLECTION_ID>&...``, or, with
  ``X-Requested-With: XMLHttpRequest``, 401 JSON with ``authorization_parameters.required_scopes``.
  Policies apply: session domain (403 GARE), data_access consent (403 GARE), ACL (403).
* Error bodies: ``{"DATA_TYPE": "result#1.0.0", "code", "http_response_code", "message"}``
  (UNVERIFIED, modelled on the GCS Manager API).
"""

import email.utils
import os
import re
import shutil
import tempfile
import urllib.parse

from . import errors, fsview, policy, scopes
from .server import CHUNK, Response, Router

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class CollectionApp:
    """The app bound to one collection's HTTPS port."""

    def __init__(self, sim, coll):
        self.sim = sim
        self.coll = coll
        self.router = Router()
        self.router.add("GET", r"/.*", "https_get", self.get)
        self.router.add("PUT", r"/.*", "https_put", self.put)
        self.router.add("DELETE", r"/.*", "https_delete", self.delete)

    def resolve(self, method, path):
        name, func, params = self.router.resolve(method, path)
        if method == "HEAD" and func is not None:
            name = "https_head"
        return name, func, params

    def not_found(self, req, route):
        return Response.from_error(errors.gcs(405, "method_not_allowed",
                                              "Method %s not allowed" % req.method))

    def fault_response(self, req, fault):
        return self.sim.fault_response(req, fault, gcs=True)

    # -- auth ----------------------------------------------------------------------------------
    def _authorize(self, req, write=False):
        coll = self.coll
        cid = coll["id"]
        rec = self.sim.auth.lookup(req.bearer())
        xhr = (req.headers.get("X-Requested-With") or "").lower() == "xmlhttprequest"
        if rec is None or rec["rs"] != cid:
            need = [scopes.https(cid)]
            if xhr:
                raise errors.gcs(401, "unauthorized", "Authentication required",
                                 authorization_parameters={"required_scopes": need,
                                                           "session_message": None})
            q = urllib.parse.urlencode({
                "client_id": cid, "response_type": "code", "scope": " ".join(need),
                "redirect_uri": self.sim.collection_servers[cid] + "/api/redirect",
                "state": req.raw_path})
            raise errors.ApiError(302, b"", {"Location": self.sim.auth_url +
                                             "/v2/oauth2/authorize?" + q}, "text/plain")
        req.user = rec["user"]
        if coll.get("requires_consent"):
            granted = scopes.data_access(cid) in rec["scope"].split(" ") or any(
                scopes.has_data_access(s, cid) or s == scopes.data_access(cid)
                for s in self.state_consents(rec["user"]))
            if not granted:
                raise errors.gcs(403, "consent_required", "Missing required data_access consent",
                                 authorization_parameters={
                                     "required_scopes": [scopes.https(cid) + " " +
                                                         scopes.data_access(cid)],
                                     "session_message": "Missing required data_access consent"})
        if not policy.session_ok(self.sim.state, coll, rec["session"], self.sim.state.now()):
            params = policy.gare_domain(coll)
            if not xhr:
                q = {"client_id": cid, "response_type": "code", "scope": scopes.https(cid),
                     "session_required_single_domain": ",".join(params[
                         "session_required_single_domain"]), "prompt": "login"}
                raise errors.ApiError(302, b"", {"Location": self.sim.auth_url +
                                                 "/v2/oauth2/authorize?" +
                                                 urllib.parse.urlencode(q)}, "text/plain")
            raise errors.gcs(403, "permission_denied", policy.DOMAIN_MESSAGE,
                             authorization_parameters=params,
                             detail={"DATA_TYPE": "not_from_allowed_domain#1.0.0",
                                     "allowed_domains": params["session_required_single_domain"]})
        path = req.path or "/"
        if not coll.get("https_tilde", True) and (path == "/~" or path.startswith("/~/")):
            # A server that does not expand "~" (knob https_tilde=false): as if no such path.
            raise errors.gcs(404, "not_found", _missing_message(req))
        real = fsview.resolve(coll["_root"], path, rec["user"])
        if not policy.acl_ok(coll, rec["user"], coll["_root"], real):
            raise errors.gcs(403, "permission_denied", "Permission denied: %s" % req.path)
        return rec, real

    def state_consents(self, user):
        with self.sim.state.lock:
            return list(self.sim.state.consents.get(user, []))

    # -- methods -------------------------------------------------------------------------------
    def get(self, req):
        rec, real = self._authorize(req)
        try:
            f = open(real, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise errors.gcs(404, "not_found", _missing_message(req))
        except IsADirectoryError:
            raise errors.gcs(403, "permission_denied", "Is a directory: %s" % req.path)
        except PermissionError:
            raise errors.gcs(403, "permission_denied", "Permission denied: %s" % req.path)
        try:
            s = os.fstat(f.fileno())
            if not os.path.stat.S_ISREG(s.st_mode):
                raise errors.gcs(403, "permission_denied", "Not a regular file: %s" % req.path)
            size = s.st_size
            headers = [("Last-Modified", email.utils.formatdate(s.st_mtime, usegmt=True)),
                       ("ETag", '"%x-%x-%x"' % (s.st_ino, size, s.st_mtime_ns))]
            ignore = self.coll.get("ignore_range") or self.sim.tunable("https_ignore_range")
            if not ignore:
                headers.append(("Accept-Ranges", "bytes"))
            start, end, status = 0, size - 1, 200
            rng = req.headers.get("Range")
            if rng and not ignore:
                m = _RANGE.match(rng.strip())
                if m and (m.group(1) or m.group(2)):
                    if m.group(1):
                        start = int(m.group(1))
                        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                    else:
                        start = max(0, size - int(m.group(2)))
                    if start >= size or start > end:
                        raise errors.ApiError(416, b"", {"Content-Range": "bytes */%d" % size},
                                              "text/plain")
                    status = 206
                    headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
            length = max(0, end - start + 1)
        except BaseException:
            f.close()
            raise
        return Response(status, headers=headers, content_type="application/octet-stream",
                        chunks=_file_chunks(f, start, length), length=length)

    def put(self, req):
        rec, real = self._authorize(req, write=True)
        tun = self.sim.tunable
        if req.chunked and not tun("https_put_chunked"):
            req.handler.close_connection = True
            raise errors.gcs(411, "length_required", "Content-Length is required: %s" % req.path)
        limit = int(tun("https_put_max_bytes") or 0)
        if limit and req.content_length > limit:
            raise _too_large(req)
        parent = os.path.dirname(real)
        if not os.path.isdir(parent):
            status = int(tun("https_put_missing_parent_status"))
            raise errors.gcs(status, _GCS_CODES.get(status, "error"),
                             "Parent directory does not exist: %s" % req.path)
        if os.path.isdir(real):
            raise errors.gcs(409, "conflict", "Is a directory: %s" % req.path)
        existed = os.path.lexists(real)
        partial = bool(tun("https_put_partial"))
        # partial: bytes go straight to the name (a cut-off upload leaves a truncated file, and
        # readers see the file grow); otherwise a private temp file renamed into place at the end.
        if partial:
            target = real
            try:
                out = open(real, "wb")
            except PermissionError:
                raise errors.gcs(403, "permission_denied", "Permission denied: %s" % req.path)
        else:
            fd, target = tempfile.mkstemp(prefix="put-", dir=self.sim.upload_dir)
            out = os.fdopen(fd, "wb")
        try:
            with out:
                for chunk in req.stream():
                    if limit and req.bytes_in > limit:  # a chunked body passing the limit
                        req.handler.close_connection = True
                        req.linger = True
                        raise _too_large(req)
                    out.write(chunk)
            if not partial:
                os.chmod(target, 0o644)
                os.replace(target, real)
        except PermissionError:
            raise errors.gcs(403, "permission_denied", "Permission denied: %s" % req.path)
        finally:
            if not partial and os.path.exists(target):
                os.unlink(target)
        status = int(tun("https_put_status") if existed else tun("https_put_created_status"))
        return Response(status, b"", "text/plain")

    def delete(self, req):
        rec, real = self._authorize(req, write=True)
        tun = self.sim.tunable
        try:
            if os.path.isdir(real) and not os.path.islink(real):
                mode = tun("https_delete_directory")
                if mode == "recursive":
                    shutil.rmtree(real)
                elif mode == "empty":
                    os.rmdir(real)
                else:
                    status = int(tun("https_delete_directory_status"))
                    raise errors.gcs(status, _GCS_CODES.get(status, "error"),
                                     "Is a directory: %s" % req.path)
            else:
                os.unlink(real)
        except FileNotFoundError:
            raise errors.gcs(404, "not_found", _missing_message(req))
        except PermissionError:
            raise errors.gcs(403, "permission_denied", "Permission denied: %s" % req.path)
        except OSError as e:
            raise errors.gcs(409, "conflict", "%s: %s" % (e.strerror, req.path))
        return Response(int(tun("https_delete_status")), b"", "text/plain")


# GCS error codes by status, for statuses chosen by knobs (UNVERIFIED spellings).
_GCS_CODES = {403: "permission_denied", 404: "not_found", 405: "method_not_allowed",
              409: "conflict"}


def _missing_message(req):
    """A genuine miss: carries the GridFTP PATH_NOT_FOUND marker and never ENDPOINT_ERROR, so a
    client can tell it from the transient 404 (writes-and-deletes.md 1.6)."""
    return "No such file or directory: %s (GlobusError: v=1 c=PATH_NOT_FOUND)" % req.path


def _too_large(req):
    """Apache's own 413 page (LimitRequestBody, writes-and-deletes.md 1.4): HTML, not JSON."""
    return errors.ApiError(413, (
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n"
        "<title>413 Request Entity Too Large</title>\n</head><body>\n"
        "<h1>Request Entity Too Large</h1>\nThe requested resource does not allow request data "
        "with PUT requests, or the amount of data provided in\nthe request exceeds the capacity "
        "limit.\n</body></html>\n"), content_type="text/html; charset=iso-8859-1")


def _file_chunks(f, start, length):
    """Yield the file's bytes [start, start+length) as 1 MiB memoryviews of one buffer."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        f.seek(start)
        left = length
        while left > 0:
            n = f.readinto(view[:min(CHUNK, left)])
            if not n:
                break
            left -= n
            yield view[:n]
    finally:
        f.close()
