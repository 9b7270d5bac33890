"""Cross-cutting request machinery: statistics, request log, rate limit and fault injection.

Each class has its own small lock (``self._lock``): these are touched by every request on every
port, so they stay off the big state lock (:class:`globus_sim.state.State`).
"""

import collections
import math
import os
import re
import threading
import time
import urllib.parse

# Query parameters whose values are secrets: the request log shows them as "REDACTED".
SECRET_PARAMS = {"code", "code_verifier", "refresh_token", "access_token", "token", "password",
                 "id_token"}


class Metrics:
    """Per-route request counts and body bytes (GET /control/stats)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._clear()

    def _clear(self):
        self.started = time.time()
        self.routes = collections.Counter()
        self.methods = collections.Counter()
        self.statuses = collections.Counter()
        self.bytes_out = collections.Counter()
        self.bytes_in = collections.Counter()
        self.tasks = collections.Counter()       # task type -> tasks accepted (not Duplicate)
        self.task_items = collections.Counter()  # task type -> DATA items of accepted tasks

    def reset(self):
        with self._lock:
            self._clear()

    def count(self, method, route, status, bytes_in, bytes_out):
        with self._lock:
            self.routes[route] += 1
            self.methods["%s %s" % (method, route)] += 1
            self.statuses["%s %d" % (route, status)] += 1
            if bytes_in:
                self.bytes_in[route] += bytes_in
            if bytes_out:
                self.bytes_out[route] += bytes_out

    def count_bytes_out(self, route, n):
        """Response body bytes, added once sent (the request itself is counted before its
        response goes out, so a client that got a response always finds it counted)."""
        if n:
            with self._lock:
                self.bytes_out[route] += n

    def count_task(self, task_type, items):
        with self._lock:
            self.tasks[task_type] += 1
            self.task_items[task_type] += items

    def snapshot(self):
        with self._lock:
            return {
                "since": self.started,
                "requests": dict(self.routes),
                "requests_by_method": dict(self.methods),
                "responses_by_status": dict(self.statuses),
                "bytes_served": dict(self.bytes_out),
                "bytes_received": dict(self.bytes_in),
                "total_requests": sum(self.routes.values()),
                "tasks_submitted": dict(self.tasks),
                "task_items_submitted": dict(self.task_items),
            }


def redact_path(path):
    """The request target with secret query values replaced; never contains a token."""
    parts = urllib.parse.urlsplit(path)
    if not parts.query:
        return parts.path
    q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    q = [(k, "REDACTED" if k in SECRET_PARAMS else v) for k, v in q]
    return parts.path + "?" + urllib.parse.urlencode(q)


class RequestLog:
    """``DIR/requests.log`` (one line per request) plus the last lines in memory.

    Line: ``<ISO time> <method> <path, secrets redacted> <status> <route> <user|-> <ms>``.
    Tokens are never logged: the Authorization header and bodies are not written at all.
    """

    def __init__(self, path, keep=2000):
        self._lock = threading.Lock()
        self._file = open(path, "a", buffering=1, encoding="utf-8")
        self._recent = collections.deque(maxlen=keep)

    def write(self, method, path, status, route, user, millis):
        line = "%s %s %s %d %s %s %.1f" % (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), method, redact_path(path),
            status, route, user or "-", millis)
        with self._lock:
            self._recent.append(line)
            if not self._file.closed:
                self._file.write(line + "\n")

    def recent(self, n):
        with self._lock:
            return list(self._recent)[-n:] if n else list(self._recent)

    def close(self):
        with self._lock:
            self._file.close()


class RateLimiter:
    """Fixed windows: at most ``per_second * window`` requests per user per window (reference 5).

    Uses the real monotonic clock (not the sim clock) so /control/clock does not affect it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._windows = {}  # user -> (window start, count)

    def check(self, user, per_second, window):
        """Return None if allowed, else the Retry-After seconds (int >= 1)."""
        if not per_second or per_second <= 0:
            return None
        budget = int(per_second * window)
        now = time.monotonic()
        with self._lock:
            start, n = self._windows.get(user, (now, 0))
            if now - start >= window:
                start, n = now, 0
            if n >= budget:
                return max(1, int(math.ceil(start + window - now)))
            self._windows[user] = (start, n + 1)
            return None

    def reset(self):
        with self._lock:
            self._windows.clear()


FAULT_KINDS = {"status", "reset", "stall", "malformed", "endpoint_error", "reset_upload",
               "stall_upload", "drop"}


class Fault:
    """One injection rule (POST /control/faults). See README "Fault injection"."""

    def __init__(self, spec):
        self.route = spec.get("route")
        if not self.route:
            raise ValueError("fault needs a route (route name or path regex)")
        self.kind = spec.get("kind", "status")
        if self.kind not in FAULT_KINDS:
            raise ValueError("fault kind must be one of %s" % sorted(FAULT_KINDS))
        self.method = spec.get("method")
        self.status = int(spec.get("status", {"status": 503, "endpoint_error": 404}.get(
            self.kind, 200)))
        self.count = int(spec.get("count", 1))  # -1 = forever
        self.retry_after = spec.get("retry_after")
        self.after_bytes = spec.get("after_bytes")
        self.seconds = float(spec.get("seconds", 5))
        self.code = spec.get("code")
        self.message = spec.get("message")
        # endpoint_error: later requests on the same connection get it too (reference: "sticky
        # for the life of a connection"), without consuming count.
        self.sticky = bool(spec.get("sticky", True))
        try:
            self._regex = re.compile(self.route)
        except re.error as e:
            raise ValueError("bad route regex: %s" % e)
        self.hits = 0

    def matches(self, method, route, path, target=None):
        if self.method and self.method.upper() != method:
            return False
        return (self.route == route or self._regex.search(path) is not None
                or (target is not None and self._regex.search(target) is not None))

    def describe(self):
        d = {k: getattr(self, k) for k in ("route", "kind", "method", "status", "count",
                                           "retry_after", "after_bytes", "seconds", "code",
                                           "message", "hits")}
        if self.kind == "endpoint_error":
            d["sticky"] = self.sticky
        return {k: v for k, v in d.items() if v is not None}


class FaultRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, spec):
        f = Fault(spec)
        with self._lock:
            self._faults.append(f)
        return f

    def clear(self):
        with self._lock:
            self._faults = []

    def list(self):
        with self._lock:
            return [f.describe() for f in self._faults]

    def take(self, method, route, path, target=None):
        """Return the first matching fault (consuming one of its count), or None. ``target`` is
        the raw request target (path and query, still encoded)."""
        with self._lock:
            for f in self._faults:
                if f.count != 0 and f.matches(method, route, path, target):
                    if f.count > 0:
                        f.count -= 1
                    f.hits += 1
                    return f
            return None


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path
