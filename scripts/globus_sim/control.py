"""The control API (``/control/...``, loopback, no auth) used by tests and benchmarks.

=========================  ===================================================================
GET    /control/stats       request counts per route and per "METHOD route", statuses, bytes
POST   /control/stats/reset zero the counters (and the rate-limit windows)
GET    /control/faults      active fault rules
POST   /control/faults      add a rule {route, kind, status?, count?, retry_after?, after_bytes?,
                            seconds?, method?, code?, message?, sticky?}
DELETE /control/faults      remove all rules
POST   /control/tokens/expire    {"user"?: name} expire live access tokens now
POST   /control/sessions/expire  {"user"?: name} age every session auth time (tokens and
                            browser sessions) by 100 years, so any authentication timeout fails
POST   /control/clock       {"advance_seconds": N} shift the sim clock (token expiry, sessions)
GET    /control/clock       {"now", "offset"}
GET    /control/config      tunables and per-collection knobs
POST   /control/config      {"tunables": {...}, "collections": {"<id>": {knob: value}}}
GET    /control/log?n=N     last N request-log lines
GET    /control/tasks       every task document (all users), plus "_sim": what was submitted
GET    /control/health      {"ok": true}
=========================  ===================================================================
"""

from . import defaults, errors
from .server import Response

COLLECTION_KNOBS = {"authentication_timeout_mins", "ignore_range", "allowed_users",
                    "denied_paths", "required_domains", "requires_consent", "absolute_paths",
                    "https_tilde"}


class ControlService:
    def __init__(self, sim):
        self.sim = sim

    def register(self, r):
        r.add("GET", r"/control/health", "control_health", lambda req: Response.json({"ok": True}))
        r.add("GET", r"/control/stats", "control_stats", self.stats)
        r.add("POST", r"/control/stats/reset", "control_stats_reset", self.stats_reset)
        r.add("GET", r"/control/faults", "control_faults",
              lambda req: Response.json({"faults": self.sim.faults.list()}))
        r.add("POST", r"/control/faults", "control_faults", self.add_fault)
        r.add("DELETE", r"/control/faults", "control_faults", self.clear_faults)
        r.add("POST", r"/control/tokens/expire", "control_tokens", self.expire_tokens)
        r.add("POST", r"/control/sessions/expire", "control_sessions", self.expire_sessions)
        r.add("GET", r"/control/clock", "control_clock", self.clock)
        r.add("POST", r"/control/clock", "control_clock", self.advance_clock)
        r.add("GET", r"/control/config", "control_config", self.get_config)
        r.add("POST", r"/control/config", "control_config", self.set_config)
        r.add("GET", r"/control/log", "control_log", self.log)
        r.add("GET", r"/control/tasks", "control_tasks", self.tasks)

    @staticmethod
    def _body(req):
        return req.json("/control") if req.content_length else {}

    def stats(self, req):
        return Response.json(self.sim.metrics.snapshot())

    def stats_reset(self, req):
        self.sim.metrics.reset()
        self.sim.rate_limiter.reset()
        return Response.json({"ok": True})

    def add_fault(self, req):
        body = self._body(req)
        specs = body.get("faults", [body]) if isinstance(body, dict) else body
        try:
            added = [self.sim.faults.add(s).describe() for s in specs]
        except (ValueError, TypeError) as e:
            raise errors.ApiError(400, {"code": "BadRequest", "message": str(e)})
        return Response.json({"ok": True, "added": added})

    def clear_faults(self, req):
        self.sim.faults.clear()
        return Response.json({"ok": True})

    def expire_tokens(self, req):
        n = self.sim.auth.expire_tokens(self._body(req).get("user"))
        return Response.json({"ok": True, "expired": n})

    def expire_sessions(self, req):
        user = self._body(req).get("user")
        age = 100 * 365 * 86400.0
        st = self.sim.state
        with st.lock:
            for rec in list(st.tokens.values()) + list(st.browser_sessions.values()):
                if user is None or rec["user"] == user:
                    key = "session" if "session" in rec else "identities"
                    rec[key] = {k: v - age for k, v in rec[key].items()}
            for t in st.tasks.values():
                if user is None or t.owner == user:
                    t.session = {k: v - age for k, v in t.session.items()}
            st.dirty = True
        return Response.json({"ok": True})

    def clock(self, req):
        st = self.sim.state
        return Response.json({"now": st.now(), "offset": st.clock_offset})

    def advance_clock(self, req):
        body = self._body(req)
        st = self.sim.state
        with st.lock:
            if "offset_seconds" in body:
                st.clock_offset = float(body["offset_seconds"])
            st.clock_offset += float(body.get("advance_seconds", 0))
            st.dirty = True
        return self.clock(req)

    def get_config(self, req):
        return Response.json({
            "tunables": dict(self.sim.world["tunables"]),
            "collections": {c["id"]: {k: c.get(k) for k in sorted(COLLECTION_KNOBS)}
                            for c in self.sim.world["collections"]}})

    def set_config(self, req):
        body = self._body(req)
        tun = self.sim.world["tunables"]
        for k, v in body.get("tunables", {}).items():
            why = "unknown tunable %r" % k if k not in tun else defaults.check_tunable(k, v)
            if why:
                raise errors.ApiError(400, {"code": "BadRequest", "message": why})
        for cid, knobs in body.get("collections", {}).items():
            if cid not in self.sim.state.collections:
                raise errors.ApiError(400, {"code": "BadRequest",
                                            "message": "unknown collection %r" % cid})
            bad = set(knobs) - COLLECTION_KNOBS
            if bad:
                raise errors.ApiError(400, {"code": "BadRequest",
                                            "message": "unknown collection knobs %s" % sorted(bad)})
        with self.sim.state.lock:
            tun.update(body.get("tunables", {}))
            for cid, knobs in body.get("collections", {}).items():
                self.sim.state.collections[cid].update(knobs)
        self.sim.tasks.schedule()  # a raised task limit takes effect now
        return self.get_config(req)

    def log(self, req):
        try:
            n = int(req.arg("n", "200"))
        except ValueError:
            n = 200
        return Response.json({"lines": self.sim.request_log.recent(n)})

    def tasks(self, req):
        with self.sim.state.lock:
            tasks = list(self.sim.state.tasks.values())
        return Response.json({"DATA": [self.sim.tasks.control_document(t) for t in tasks]})
