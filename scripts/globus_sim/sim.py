"""The Sim object: owns the world, the state, every server and worker. No other mutable state.

Lifecycle: :meth:`Sim.start` (certs, state, listeners, then ``sim.json`` last, atomically) and
:meth:`Sim.stop` (listeners down, state saved).
"""

import json
import os
import shutil
import sys
import threading
import traceback

from . import certs, config, defaults, errors
from .auth import AuthService
from .control import ControlService
from .faults import FaultRegistry, Metrics, RateLimiter, RequestLog
from .https_data import CollectionApp
from .server import Response, Router, SimHTTPServer, make_ssl_context
from .state import State, new_secret
from .tasks import Task, TaskEngine
from .transfer import TransferService

# The body of the HTTPS server's transient backend fault (writes-and-deletes.md 1.6): a 404 that
# is not a missing file. Plain text, as globusfs's tests replay it (live content type UNVERIFIED).
ENDPOINT_ERROR_BODY = ("Mapping collection to specified ID failed.\n"
                       "GlobusError: v=1 c=ENDPOINT_ERROR\nGCS Manager Internal Error\n")

_DEFAULT_FAULT_CODES = {429: "RateLimitExceeded", 500: "ServerError", 502: "ExternalError",
                        503: "ServiceUnavailable", 504: "GatewayTimeout"}


class MainApp:
    """Transfer (/v0.10), Auth (/v2) and control (/control) on the main port."""

    def __init__(self, sim):
        self.sim = sim
        self.router = Router()
        sim.transfer.register(self.router)
        sim.auth.register(self.router)
        sim.control.register(self.router)

    def resolve(self, method, path):
        return self.router.resolve(method, path)

    def not_found(self, req, route):
        if route == "method_not_allowed":
            return Response.json({"code": "ClientError.MethodNotAllowed",
                                  "message": "Method %s not allowed" % req.method,
                                  "request_id": errors.request_id(), "resource": req.path}, 405)
        return Response.json({"code": "ClientError.NotFound",
                              "message": "No such resource: %s" % req.path,
                              "request_id": errors.request_id(), "resource": req.path}, 404)

    def fault_response(self, req, fault):
        return self.sim.fault_response(req, fault)


class Sim:
    def __init__(self, state_dir, port=0, latency_ms=None, config_file=None):
        self.state_dir = os.path.abspath(state_dir)
        self.requested_port = port or 0
        self.config_file = os.path.abspath(config_file) if config_file else None
        self.world = config.load(self.config_file)
        if latency_ms is not None:
            self.world["tunables"]["latency_ms"] = latency_ms
        self.secret = new_secret().encode()
        self.state = State(os.path.join(self.state_dir, "state.json"), self.world)
        self.metrics = Metrics()
        self.faults = FaultRegistry()
        self.rate_limiter = RateLimiter()
        self.request_log = None
        self.auth = AuthService(self)
        self.transfer = TransferService(self)
        self.control = ControlService(self)
        self.tasks = TaskEngine(self)
        self.servers = []
        self.collection_servers = {}  # collection id -> https origin
        self.auth_url = self.transfer_url = self.control_url = None
        self._stopping = threading.Event()
        self._threads = []

    @property
    def stopping(self):
        return self._stopping.is_set()

    def tunable(self, name):
        return self.world["tunables"][name]

    def log_exception(self, what, exc):
        sys.stderr.write("globus-sim: error in %s: %s\n%s" % (
            what, exc, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))

    # == start / stop ==========================================================================
    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        sim_json = os.path.join(self.state_dir, "sim.json")
        if os.path.exists(sim_json):
            os.unlink(sim_json)  # stale: readiness is signalled by its (re)appearance
        ca, cert, key = certs.ensure(self.state_dir)
        self.ca_file = ca
        ctx = make_ssl_context(cert, key)
        for c in self.world["collections"]:
            if c.get("non_functional"):
                c["_root"] = None
                continue
            c["_root"] = os.path.join(self.state_dir, "collections", c["id"])
            os.makedirs(c["_root"], exist_ok=True)
        os.makedirs(os.path.join(self.state_dir, "client", "state"), exist_ok=True)
        # Temp files of atomic PUTs (https_put_partial off): beside the collections (same file
        # system, so the final rename is atomic) but outside them, so ls never shows one. A
        # previous run's leftovers (killed mid-upload) are dropped.
        self.upload_dir = os.path.join(self.state_dir, "collections", ".uploads")
        shutil.rmtree(self.upload_dir, ignore_errors=True)
        os.makedirs(self.upload_dir)
        self.request_log = RequestLog(os.path.join(self.state_dir, "requests.log"))
        self.state.load(Task.from_state)

        main = SimHTTPServer(self.requested_port, MainApp(self), ctx)
        self.servers.append(main)
        base = "https://127.0.0.1:%d" % main.port
        self.auth_url = self.transfer_url = base
        self.control_url = base + "/control"
        next_port = self.requested_port + 1 if self.requested_port else 0
        for c in self.world["collections"]:
            if not c.get("https") or c.get("non_functional"):
                continue
            srv = SimHTTPServer(next_port, CollectionApp(self, c), ctx)
            if next_port:
                next_port += 1
            self.servers.append(srv)
            self.collection_servers[c["id"]] = "https://127.0.0.1:%d" % srv.port
        for srv in self.servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                                 name="listener-%d" % srv.port, daemon=True)
            t.start()
            self._threads.append(t)
        saver = threading.Thread(target=self._saver, name="state-saver", daemon=True)
        saver.start()
        self._threads.append(saver)
        self.tasks.resume_all()
        self._write_client_files()
        return self

    def stop(self):
        self._stopping.set()
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        with self.state.lock:
            for t in self.state.tasks.values():
                t.cancel_event.set()  # workers exit; active tasks stay ACTIVE and resume later
        self.state.save()
        if self.request_log:
            self.request_log.close()

    def _saver(self):
        while not self._stopping.wait(float(self.tunable("state_save_interval_seconds"))):
            if self.state.dirty:
                try:
                    self.state.save()
                except OSError as e:
                    self.log_exception("saving state", e)

    # == client-facing files ===================================================================
    def describe(self):
        st = self.state
        users = []
        for u in self.world["users"]:
            users.append({"username": u["username"], "password": u["password"], "identities": [
                {"id": i["id"], "username": i["username"],
                 "identity_provider": i["identity_provider"],
                 "identity_provider_display_name": st.provider_name(st.identities[i["id"]]),
                 "domain": st.identity_domain(st.identities[i["id"]]),
                 "linked_at_start": bool(i.get("linked"))} for i in u["identities"]]})
        return {
            "transfer_url": self.transfer_url,
            "auth_url": self.auth_url,
            "ca_file": self.ca_file,
            "client_id": defaults.CLIENT_ID,
            "control_url": self.control_url,
            "users": users,
            "collections": [{"id": c["id"], "display_name": c["display_name"],
                             "entity_type": c["entity_type"],
                             "https_server": self.collection_servers.get(c["id"]),
                             "root": c["_root"]} for c in self.world["collections"]],
            "config_file": os.path.join(self.state_dir, "globus-fuse.conf"),
            "sim_config_file": self.config_file,
            "pid": os.getpid(),
        }

    def _write_client_files(self):
        d = self.state_dir
        conf = ("# globus-fuse config for globus-sim (written by globus-sim at startup)\n"
                "client_id = %s\ntransfer_url = %s\nauth_url = %s\nca_file = %s\n"
                "token_file = %s\nstate_dir = %s\n" % (
                    defaults.CLIENT_ID, self.transfer_url, self.auth_url, self.ca_file,
                    os.path.join(d, "client", "tokens.json"), os.path.join(d, "client", "state")))
        # The mount root shows these (every collection that holds data, by id).
        data = [c["id"] for c in self.describe()["collections"]
                if c["entity_type"] != "GCSv5_endpoint"]
        conf += "collections = %s\n" % ", ".join(data)
        _atomic_write(os.path.join(d, "globus-fuse.conf"), conf)
        _atomic_write(os.path.join(d, "sim.json"), json.dumps(self.describe(), indent=2) + "\n")

    # == faults ================================================================================
    def fault_response(self, req, fault, gcs=False):
        headers = {}
        if fault.retry_after is not None or fault.status == 429:
            headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
        if fault.kind == "endpoint_error":
            return Response(fault.status, (fault.message or ENDPOINT_ERROR_BODY).encode(),
                            "text/plain; charset=utf-8", headers)
        if fault.kind == "malformed":
            return Response(fault.status, b'{"DATA_TYPE": "file_list", "DATA": [{"name": ',
                            "application/json", headers)
        code = fault.code or _DEFAULT_FAULT_CODES.get(fault.status, "InjectedFault")
        message = fault.message or "globus-sim injected fault (%d)" % fault.status
        if gcs:
            body = {"DATA_TYPE": "result#1.0.0", "code": code, "http_response_code": fault.status,
                    "message": message}
        else:
            body = {"code": code, "message": message, "request_id": errors.request_id(),
                    "resource": req.path}
        return Response.json(body, fault.status, headers)


def _atomic_write(path, text):
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

