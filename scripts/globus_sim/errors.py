"""Error documents of the three services, as exceptions handlers raise.

* Transfer: ``{"code", "message", "request_id", "resource", ...extra}`` (reference 2.1), with
  the code also in the ``X-Transfer-API-Error`` header (reference 2.1, UNVERIFIED today).
* Auth API: ``{"errors": [...], "error_description", "error"}`` (reference 2.5).
* Auth token endpoint: ``{"error": "invalid_grant", "error_description"}`` (reference 2.5).
* Collection HTTPS: ``{"DATA_TYPE": "result#1.0.0", "code", "http_response_code", "message"}``
  (reference 4, UNVERIFIED).
"""

import json
import secrets
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


def request_id():
    """A 9-character request id like the service's (``"rvWu7tCfa"``)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(9))


class ApiError(Exception):
    """An HTTP error response. ``body`` is a dict (sent as JSON) or bytes/str (sent as is)."""

    def __init__(self, status, body, headers=None, content_type="application/json"):
        super().__init__("%d %s" % (status, body.get("code", "") if isinstance(body, dict) else ""))
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def encoded(self):
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def transfer(status, code, message, resource, **extra):
    body = {"code": code, "message": message, "request_id": request_id(), "resource": resource}
    body.update(extra)
    return ApiError(status, body, {"X-Transfer-API-Error": code})


def auth_api(status, code="UNAUTHORIZED", detail="Call must be authenticated",
             title="Unauthorized", error="unauthorized"):
    return ApiError(status, {
        "errors": [{"status": str(status), "id": str(uuid.uuid4()), "code": code,
                    "detail": detail, "title": title}],
        "error_description": title, "error": error})


def oauth(status, error, description):
    return ApiError(status, {"error": error, "error_description": description})


def gcs(status, code, message, **extra):
    body = {"DATA_TYPE": "result#1.0.0", "code": code, "http_response_code": status,
            "message": message, "detail": None, "has_next_page": False, "data": []}
    body.update(extra)
    return ApiError(status, body)


def html(status, title, message):
    from .pages import error_page  # late import: pages imports nothing from here
    return ApiError(status, error_page(title, message), content_type="text/html; charset=utf-8")
