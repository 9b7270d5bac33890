"""HTTP plumbing shared by every port: requests, responses, routing, TLS servers.

Each listening port is a :class:`SimHTTPServer` (ThreadingHTTPServer + TLS, daemon threads,
HTTP/1.1 keep-alive, Content-Length always sent) bound to an *app* (anything with
``resolve(method, path)``). :meth:`Handler.dispatch` runs the pipeline common to all services:
route -> latency -> fault injection -> handler -> send (with reset/stall faults) -> stats + log.
"""

import http.server
import json
import socket
import ssl
import time
import urllib.parse

from . import errors

CHUNK = 1 << 20  # body streaming unit (1 MiB writes keep Python overhead negligible)
MAX_SMALL_BODY = 64 << 20
# Status recorded in stats and the request log for a request whose connection ended before a
# response was sent (client gone mid-body, or an injected reset_upload). Never sent on the wire.
ABORTED_STATUS = 499
# Fault kinds answered with a canned response instead of running the handler.
CANNED_FAULTS = ("status", "malformed", "endpoint_error")


class UploadAborted(ConnectionError):
    """The request body ended early. ``injected``: a reset_upload fault, so the server must
    drop the TCP connection itself."""

    def __init__(self, message, injected=False):
        super().__init__(message)
        self.injected = injected


class Request:
    """One parsed request. ``route`` and ``user`` are filled in by the dispatcher / handlers."""

    def __init__(self, handler, method, target, path_params):
        self.handler = handler
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(split.path)
        self.raw_path = split.path
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers = handler.headers
        self.params = path_params
        self.route = None
        self.user = None
        self.bytes_in = 0
        self.upload_fault = None  # a reset_upload / stall_upload fault, applied by stream()
        self.linger = False  # after the response, discard unread body bytes before closing
        self._body = None
        self._consumed = False

    # -- query -------------------------------------------------------------------------------
    def arg(self, name, default=None):
        v = self.query.get(name)
        return v[-1] if v else default

    def args(self, name):
        return self.query.get(name, [])

    # -- body --------------------------------------------------------------------------------
    @property
    def content_length(self):
        try:
            return max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            return 0

    def body(self):
        """The whole request body (small bodies only: JSON, forms)."""
        if self._body is None:
            if self.upload_fault is not None and self.upload_fault.kind == "reset_upload":
                for _ in self.stream():  # reads up to after_bytes, then raises UploadAborted
                    pass
            n = self.content_length
            if n > MAX_SMALL_BODY:
                raise errors.transfer(413, "ClientError.RequestEntityTooLarge",
                                      "Request body too large", self.path)
            self._body = self.handler.rfile.read(n) if n else b""
            self.bytes_in += len(self._body)
            self._consumed = True
        return self._body

    @property
    def chunked(self):
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    def stream(self, chunk=CHUNK):
        """Yield the request body in chunks (for HTTPS PUT of big files): ``Content-Length`` or
        ``Transfer-Encoding: chunked``. Raises :class:`UploadAborted` when the client goes away
        (or a ``reset_upload`` fault cuts the body) before the end. A ``stall_upload`` fault
        sleeps once after ``after_bytes`` of the body, then reads on."""
        self._consumed = True
        fault = self.upload_fault
        if fault is not None and fault.kind == "stall_upload":
            yield from self._stalled_pieces(chunk, fault)
            return
        limit = None
        if fault is not None:
            limit = fault.after_bytes
            limit = int(limit) if limit is not None else (
                self.content_length // 2 if not self.chunked else 64 << 10)
        for data in (self._chunked_pieces(chunk) if self.chunked else
                     self._length_pieces(chunk)):
            if limit is not None and self.bytes_in + len(data) >= limit:
                data = data[:max(0, limit - self.bytes_in)]
                self.bytes_in += len(data)
                if data:
                    yield data
                raise UploadAborted("globus-sim injected reset_upload", injected=True)
            self.bytes_in += len(data)
            yield data
        if limit is not None:  # the whole body fitted under after_bytes: cut at the end
            raise UploadAborted("globus-sim injected reset_upload", injected=True)

    def _stalled_pieces(self, chunk, fault):
        limit = fault.after_bytes
        limit = int(limit) if limit is not None else (
            self.content_length // 2 if not self.chunked else 64 << 10)
        stalled = False
        for data in (self._chunked_pieces(chunk) if self.chunked else
                     self._length_pieces(chunk)):
            if not stalled and self.bytes_in + len(data) >= limit:
                head = data[:max(0, limit - self.bytes_in)]
                self.bytes_in += len(head)
                if head:
                    yield head
                time.sleep(fault.seconds)  # the client is mid-upload all this time
                stalled = True
                data = data[len(head):]
                if not data:
                    continue
            self.bytes_in += len(data)
            yield data

    def _read_some(self, n):
        """Up to ``n`` bytes as they arrive, and whether the input ended first. What arrived
        before a disconnect is returned, not lost in a buffer (a cut-off PUT keeps it)."""
        buf = bytearray()
        while len(buf) < n:
            try:
                data = self.handler.rfile.read1(n - len(buf))
            except (OSError, ssl.SSLError, socket.timeout):
                data = b""
            if not data:
                return bytes(buf), True
            buf += data
        return bytes(buf), False

    def _read(self, n):
        data, ended = self._read_some(n)
        if ended:
            raise UploadAborted("client closed during upload")
        return data

    def _length_pieces(self, chunk):
        left = self.content_length
        while left > 0:
            data, ended = self._read_some(min(chunk, left))
            left -= len(data)
            if data:
                yield data
            if ended:
                raise UploadAborted("client closed during upload")

    def _chunked_pieces(self, chunk):
        rfile = self.handler.rfile
        while True:
            line = rfile.readline(1 << 16)
            if not line:
                raise UploadAborted("client closed during upload")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise UploadAborted("bad chunk size line in a chunked body")
            if size == 0:
                while rfile.readline(1 << 16) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            while size > 0:
                data = self._read(min(chunk, size))
                size -= len(data)
                yield data
            rfile.readline(1 << 16)  # the CRLF after each chunk

    def json(self, resource=None):
        try:
            doc = json.loads(self.body() or b"null")
        except ValueError:
            raise errors.transfer(400, "ClientError.BadRequest", "Request body is not valid JSON",
                                  resource or self.path)
        if not isinstance(doc, dict):
            raise errors.transfer(400, "ClientError.BadRequest", "Request body must be an object",
                                  resource or self.path)
        return doc

    def form(self):
        return {k: v[-1] for k, v in
                urllib.parse.parse_qs(self.body().decode("utf-8", "replace"),
                                      keep_blank_values=True).items()}

    def bearer(self):
        """The bearer token, or None when no Authorization header was sent."""
        h = self.headers.get("Authorization")
        if not h:
            return None
        scheme, _, value = h.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""

    def cookie(self, name):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
        return None

    @property
    def body_unread(self):
        return not self._consumed and (self.content_length > 0 or self.chunked)


class Response:
    """A response: either ``body`` bytes or a ``chunks`` iterable of ``length`` total bytes."""

    def __init__(self, status=200, body=b"", content_type="application/json", headers=None,
                 chunks=None, length=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list((headers or {}).items()) if isinstance(headers, dict) else \
            list(headers or [])
        self.chunks = chunks
        self.length = len(body) if chunks is None else length
        self.head_only = False

    @classmethod
    def json(cls, obj, status=200, headers=None):
        return cls(status, json.dumps(obj).encode(), "application/json", headers)

    @classmethod
    def html(cls, text, status=200, headers=None):
        return cls(status, text.encode(), "text/html; charset=utf-8", headers)

    @classmethod
    def redirect(cls, location, status=302, headers=None):
        h = [("Location", location)] + list((headers or {}).items())
        return cls(status, b"", "text/plain", h)

    @classmethod
    def from_error(cls, e):
        return cls(e.status, e.encoded(), e.content_type, e.headers)


class Router:
    """Ordered (method, regex) -> (route name, function) table."""

    def __init__(self):
        self._routes = []

    def add(self, method, pattern, name, func):
        import re
        self._routes.append((method, re.compile("^" + pattern + "$"), name, func))

    def resolve(self, method, path):
        allowed = False
        for m, rx, name, func in self._routes:
            match = rx.match(path)
            if match:
                if m == method or (m == "GET" and method == "HEAD"):
                    return name, func, match.groupdict()
                allowed = True
        return ("method_not_allowed" if allowed else None), None, None


REASONS = http.server.BaseHTTPRequestHandler.responses


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "globus-sim"
    timeout = 300  # idle keep-alive connections are closed after this

    def log_message(self, fmt, *args):  # the sim writes its own request log
        pass

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # -- pipeline ----------------------------------------------------------------------------
    def dispatch(self):
        app = self.server.app
        sim = app.sim
        t0 = time.monotonic()
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        route, func, params = app.resolve(self.command, path)
        req = Request(self, self.command, self.path, params or {})
        req.route = route or "unknown"
        fault = None
        if not req.route.startswith("control"):
            latency = sim.tunable("latency_ms")
            if latency:
                time.sleep(latency / 1000.0)
            fault = getattr(self, "sticky_fault", None) or \
                sim.faults.take(self.command, req.route, req.path, req.target)
            if fault is not None and fault.kind == "endpoint_error" and fault.sticky:
                self.sticky_fault = fault  # this Handler lives as long as the connection
            if fault is not None and fault.kind in ("reset_upload", "stall_upload"):
                req.upload_fault = fault
        if fault is not None and fault.kind == "drop":
            # No answer at all, as from a connection the server or a NAT dropped while idle.
            self._abort()
            sim.metrics.count(self.command, req.route, 0, 0, 0)
            sim.request_log.write(self.command, self.path, 0, req.route, req.user,
                                  (time.monotonic() - t0) * 1000)
            return
        try:
            if fault is not None and fault.kind in CANNED_FAULTS:
                resp = app.fault_response(req, fault)
            elif func is None:
                resp = app.not_found(req, route)
            else:
                resp = func(req)
        except errors.ApiError as e:
            resp = Response.from_error(e)
        except (ConnectionError, ssl.SSLError, socket.timeout) as e:
            if getattr(e, "injected", False):
                self._abort()
            self.close_connection = True
            sim.metrics.count(self.command, req.route, ABORTED_STATUS, req.bytes_in, 0)
            sim.request_log.write(self.command, self.path, ABORTED_STATUS, req.route, req.user,
                                  (time.monotonic() - t0) * 1000)
            return
        except Exception as e:  # a sim bug: answer 500, keep serving
            sim.log_exception("%s %s" % (self.command, req.route), e)
            resp = Response.json({"code": "ServerError", "message": "globus-sim internal error: "
                                  + repr(e), "request_id": errors.request_id(),
                                  "resource": req.path}, 500)
        if self.command == "HEAD":
            resp.head_only = True
        sent = 0
        counted = False
        try:
            self._finish_body(req, resp)
            sim.metrics.count(self.command, req.route, resp.status, req.bytes_in, 0)
            counted = True
            sent = self.send(resp, fault if fault is not None and fault.kind in
                             ("reset", "stall") else None)
            if req.linger:
                self._linger()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True
        finally:
            if not counted:
                sim.metrics.count(self.command, req.route, resp.status, req.bytes_in, 0)
            sim.metrics.count_bytes_out(req.route, sent)
            sim.request_log.write(self.command, self.path, resp.status, req.route, req.user,
                                  (time.monotonic() - t0) * 1000)

    def _finish_body(self, req, resp):
        """Keep the connection usable when a handler did not read the request body."""
        if req.body_unread:
            if not req.chunked and req.content_length <= (1 << 20):
                req.body()
            else:
                self.close_connection = True
                req.linger = True

    def _linger(self, seconds=2.0):
        """Like Apache's lingering close: read and drop what the client still sends (for a
        while), so a client that writes its whole body before reading sees the response (413,
        411, an error) instead of a reset."""
        deadline = time.monotonic() + seconds
        try:
            self.connection.settimeout(0.5)
            while time.monotonic() < deadline and self.rfile.read1(1 << 20):
                pass
        except (OSError, ssl.SSLError, socket.timeout):
            pass

    def send(self, resp, fault):
        """Write status, headers and body; apply a reset/stall fault. Returns body bytes sent."""
        head = ["HTTP/1.1 %d %s" % (resp.status, REASONS.get(resp.status, ("",))[0]),
                "Server: globus-sim",
                "Date: " + self.date_time_string(),
                "Content-Type: " + resp.content_type,
                "Content-Length: %d" % resp.length]
        for k, v in resp.headers:
            head.append("%s: %s" % (k, v))
        if self.close_connection:
            head.append("Connection: close")
        header_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if resp.head_only:
            self.wfile.write(header_bytes)
            if resp.chunks is not None and hasattr(resp.chunks, "close"):
                resp.chunks.close()
            return 0
        if fault is not None and fault.kind == "reset" and not resp.length:
            self._abort()  # nothing to cut: drop before the status line (e.g. a PUT's reply)
            return 0
        limit = None
        if fault is not None:
            limit = fault.after_bytes
            if limit is None:
                limit = resp.length // 2 if fault.kind == "reset" else 0
            limit = int(limit)
        chunks = [resp.body] if resp.chunks is None else resp.chunks
        sent = 0
        first = True
        for chunk in chunks:
            if limit is not None and sent + len(chunk) > limit:
                cut = max(0, limit - sent)
                part = chunk[:cut]
                self.wfile.write(header_bytes + bytes(part) if first else part)
                first = False
                sent += cut
                if fault.kind == "reset":
                    self._abort()
                    if hasattr(chunks, "close"):
                        chunks.close()
                    return sent
                time.sleep(fault.seconds)  # stall, then carry on
                chunk = chunk[cut:]
                limit = None
            if first:
                # Headers and a small body in one write: no Nagle/delayed-ACK stalls.
                self.wfile.write(header_bytes + bytes(chunk) if len(chunk) < 65536 else
                                 header_bytes)
                if len(chunk) >= 65536:
                    self.wfile.write(chunk)
                first = False
            else:
                self.wfile.write(chunk)
            sent += len(chunk)
        if first:
            self.wfile.write(header_bytes)
            if limit is not None and fault.kind == "reset":
                self._abort()
            elif limit is not None:
                time.sleep(fault.seconds)
        return sent

    def _abort(self):
        """Drop the TCP connection without TLS close_notify (the client sees a short body)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
        except OSError:
            pass


class SimHTTPServer(http.server.ThreadingHTTPServer):
    """A TLS listener on 127.0.0.1; the handshake runs in the per-connection thread."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port, app, ssl_context):
        super().__init__(("127.0.0.1", port), Handler)
        self.app = app
        self.socket = ssl_context.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)

    @property
    def port(self):
        return self.server_address[1]

    def get_request(self):
        conn, addr = self.socket.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        return conn, addr

    def handle_error(self, request, client_address):
        # TLS handshake failures, resets by clients: not interesting, and never fatal.
        pass


def make_ssl_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx
