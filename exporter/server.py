"""HTTP server: /metrics, health and readiness, reload, a landing page, explain.

Stdlib ``ThreadingHTTPServer`` with one thread per connection; the metrics handler only
reads the current snapshot's pre-rendered bytes, so a scrape never waits for a
collection. Because it listens on a network, it defends itself:

* At most ``max_connections`` connections are served at once, which also bounds the
  threads. When all are taken, idle keep-alive connections are closed to make room;
  otherwise a new connection waits in the listen backlog (``backlog`` deep) for its turn.
* A request's line, headers and body must arrive within ``header_timeout`` in total (not
  per read, so a client sending a byte every few seconds is still cut off); an idle
  keep-alive connection is closed after ``idle_timeout``; an answer is written within
  ``write_timeout``.
* No endpoint needs a body: ``Content-Length`` is checked strictly (400, 411, 413) and the
  body read and dropped, so a lying client gets an answer, never a hang.
* TLS, client certificates, basic auth and extra headers come from ``--web.config.file``
  (see ``exporter.webconfig``) and apply to every endpoint.
* ``POST /-/reload`` refuses what a browser can send cross-site: it needs a header no
  form can set and a same-origin ``Origin``. Concurrent reloads share one run
  (``SingleFlight``). ``--no-web.enable-lifecycle`` turns the endpoint off.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import logging
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from exporter import __version__
from exporter.publish import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render
from exporter.webconfig import Authenticator, WebConfigWatcher

if TYPE_CHECKING:
    from exporter.app import Exporter

log = logging.getLogger("devsecops_exporter.http")

LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DevSecOps Maturity Exporter</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:50em}}code{{background:#eee}}</style>
</head><body>
<h1>DevSecOps Maturity Exporter</h1>
<p>Version {version}. Security programme outcome metrics and maturity levels for Prometheus.</p>
<ul>
<li><a href="{metrics}">{metrics}</a>: metrics (Prometheus text or OpenMetrics)</li>
<li><a href="/api/v1/explain">/api/v1/explain</a>: why each domain is at its level (JSON)</li>
<li><a href="/-/healthy">/-/healthy</a> and <a href="/-/ready">/-/ready</a></li>
<li>{reload}</li>
</ul>
<p>Ready: {ready}. Snapshot built: {built}.</p>
</body></html>
"""

# No endpoint reads a body; anything larger is refused rather than read.
MAX_BODY = 64 * 1024
RELOAD_MARKER = "X-Requested-With"
REALM = 'Basic realm="devsecops-maturity-exporter", charset="UTF-8"'
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_TLS_HANDSHAKE = 0x16  # first byte of a TLS record carrying a ClientHello


def wants_openmetrics(accept: str | None) -> bool:
    """True when the Accept header prefers OpenMetrics (as Prometheus sends it)."""
    return bool(accept) and "application/openmetrics-text" in accept


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when the client accepts gzip with a non-zero quality."""
    for part in (accept_encoding or "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() not in ("gzip", "*"):
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


@dataclass(frozen=True)
class ServerLimits:
    """How much of the process one client can hold, and for how long (seconds)."""

    max_connections: int = 64
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    write_timeout: float = 60.0
    backlog: int = 128

    def __post_init__(self) -> None:
        for name in ("max_connections", "header_timeout", "idle_timeout", "write_timeout",
                     "backlog"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be greater than zero")


T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Run ``work`` at most once at a time however many callers ask, sharing the result.

    A caller is always answered by a run that *started after it asked*, so a reload
    requested after editing a file reads that edit; every caller arriving while a run is
    in progress shares the next one. Fifty concurrent requests cost at most two runs.
    """

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._cond = threading.Condition()
        self._running = False
        self._started = 0
        self._finished = 0
        self._outcome: tuple[T | None, BaseException | None] = (None, None)

    def __call__(self) -> T:
        with self._cond:
            wanted = self._started + 1
            while self._finished < wanted:
                if not self._running:
                    self._running = True
                    self._started += 1
                    run = self._started
                    break
                self._cond.wait()
            else:
                result, error = self._outcome
                if error is not None:
                    raise error
                return result  # type: ignore[return-value]
        outcome: tuple[T | None, BaseException | None] = (None, RuntimeError("run aborted"))
        try:
            outcome = (self._work(), None)
        except Exception as exc:
            outcome = (None, exc)
            raise
        finally:
            with self._cond:
                self._running = False
                self._finished = run
                self._outcome = outcome
                self._cond.notify_all()
        return outcome[0]  # type: ignore[return-value]


class _DeadlineReader(io.RawIOBase):
    """Socket reads that share one deadline, so a trickle of bytes cannot extend it."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request not received in time")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _TimedWriter(io.BufferedIOBase):
    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.settimeout(self._timeout)
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


def _quietly_shut(sock: socket.socket) -> None:
    """Wake a thread blocked on ``sock`` (bypassing SSLSocket, safe from any thread)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False  # connections are tracked and closed by server_close()

    def __init__(self, address: tuple[str, int], exporter: Exporter,
                 telemetry_path: str = "/metrics", *,
                 web_config: WebConfigWatcher | Path | str | None = None,
                 limits: ServerLimits | None = None,
                 enable_lifecycle: bool = True) -> None:
        self.exporter = exporter
        self.telemetry_path = telemetry_path
        self.limits = limits or ServerLimits()
        self.enable_lifecycle = enable_lifecycle
        self.web = (web_config if isinstance(web_config, WebConfigWatcher)
                    else WebConfigWatcher(web_config))
        self.authenticator = Authenticator()
        self.reload: SingleFlight[tuple[bool, str]] = SingleFlight(
            lambda: self.exporter.reload())
        self.request_queue_size = self.limits.backlog
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._idle: set[socket.socket] = set()
        self._closing = threading.Event()
        self._last_full_warning = -math.inf
        super().__init__(address, Handler)

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def get_paths(self) -> tuple[str, ...]:
        return (self.telemetry_path, "/-/healthy", "/-/ready", "/api/v1/explain", "/")

    # --- connection admission ------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._acquire_slot():
            self.shutdown_request(request)
            return
        thread = threading.Thread(target=self._serve_connection, name="http-connection",
                                  args=(request, client_address), daemon=True)
        try:
            thread.start()
        except BaseException:
            self._slots.release()
            raise

    def _acquire_slot(self) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        self._close_idle()
        # Blocking here leaves further connections in the listen backlog, in order.
        deadline = time.monotonic() + self.limits.header_timeout
        while not self._closing.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self._slots.acquire(timeout=min(remaining, 0.1)):
                return True
        now = time.monotonic()
        if now - self._last_full_warning > 60:
            self._last_full_warning = now
            log.warning("all %d HTTP connections busy for %.0fs; closing new connections "
                        "(see --web.max-connections)", self.limits.max_connections,
                        self.limits.header_timeout)
        return False

    def _close_idle(self) -> None:
        with self._lock:
            idle = list(self._idle)
        for sock in idle:
            _quietly_shut(sock)

    def set_idle(self, sock: socket.socket, idle: bool) -> None:
        with self._lock:
            if idle:
                self._idle.add(sock)
            else:
                self._idle.discard(sock)

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(sock)
            else:
                self._connections.discard(sock)
                self._idle.discard(sock)

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        sock: socket.socket = request
        self._track(sock, True)
        try:
            settings = self.web.current()
            if settings.tls is not None:
                if not self._looks_like_tls(request):
                    return
                sock = settings.tls.wrap_socket(request, server_side=True,
                                                do_handshake_on_connect=False)
                self._track(request, False)
                self._track(sock, True)
                sock.do_handshake()  # bounded by header_timeout in total
                if not settings.peer_allowed(sock):
                    log.debug("client certificate has no allowed SAN; connection closed")
                    return
            self.finish_request(sock, client_address)
        except OSError as exc:
            # Resets, timeouts and failed handshakes are the client's business.
            log.debug("connection ended: %s", exc)
        except Exception:
            log.error("unexpected error on an HTTP connection", exc_info=True)
        finally:
            self._track(sock, False)
            self.shutdown_request(sock)
            self._slots.release()

    def _looks_like_tls(self, request: socket.socket) -> bool:
        """Peek at the first byte; answer plain HTTP on the TLS port with a clear 400."""
        request.settimeout(self.limits.header_timeout)
        first = request.recv(1, socket.MSG_PEEK)
        if first and first[0] == _TLS_HANDSHAKE:
            return True
        if first.isalpha():  # "GET ..." sent to the TLS port
            body = b"Client sent an HTTP request to an HTTPS server.\n"
            request.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n"
                            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                            % (len(body), body))
        return False

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.error("unexpected error on an HTTP connection", exc_info=True)

    # --- shutdown --------------------------------------------------------------------

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
        with self._lock:
            open_connections = list(self._connections)
        for sock in open_connections:
            _quietly_shut(sock)


class Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    server_version = f"devsecops-maturity-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    # Error answers get a status line even for a request without a version.
    default_request_version = "HTTP/1.0"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s: %(explain)s\n"
    # Headers and body are separate writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (~40 ms per scrape).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.connection = self.request
        if self.disable_nagle_algorithm:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)
        self.wfile = _TimedWriter(self.connection, self.server.limits.write_timeout)
        self._settings = self.server.web.current()
        self._served = 0

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # --- reading requests ------------------------------------------------------------

    def handle_one_request(self) -> None:
        limits = self.server.limits
        first = self._served == 0
        self._reader.deadline = time.monotonic() + (
            limits.header_timeout if first else limits.idle_timeout)
        if not first:
            self.server.set_idle(self.connection, True)
        try:
            waiting = self.rfile.peek(1)
        except OSError:  # idle timeout, closed to make room, or reset
            waiting = b""
        finally:
            if not first:
                self.server.set_idle(self.connection, False)
        if not waiting:
            self.close_connection = True
            return
        self._served += 1
        if not first:  # the first request's deadline runs from the connection's start
            self._reader.deadline = time.monotonic() + limits.header_timeout
        super().handle_one_request()

    def parse_request(self) -> bool:
        words = self.raw_requestline.split()
        if words and len(words) != 3:
            # "GET /path" would get an HTTP/0.9 answer: no status line, no headers.
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            self.command, self.request_version = None, self.default_request_version
            self.close_connection = True
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request line",
                            "a request line is METHOD PATH HTTP/1.1")
            return False
        if not super().parse_request():
            return False
        if not self.request_version.startswith("HTTP/1."):
            self.request_version = self.default_request_version
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Unsupported version",
                            "this server speaks HTTP/1.0 and HTTP/1.1")
            return False
        return self._drop_body() and self._admit()

    def _refuse(self, status: HTTPStatus, explain: str) -> bool:
        self.close_connection = True
        self.send_error(status, None, explain)
        return False

    def _drop_body(self) -> bool:
        """Check the framing and read the body away, so keep-alive stays in step."""
        if self.headers.get_all("Transfer-Encoding"):
            return self._refuse(HTTPStatus.LENGTH_REQUIRED,
                                "send a Content-Length, not a Transfer-Encoding")
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or ()}
        if not lengths:
            return True
        value = lengths.pop()
        if lengths or not _CONTENT_LENGTH.fullmatch(value):
            return self._refuse(HTTPStatus.BAD_REQUEST,
                                "Content-Length must be a single number of bytes")
        length = int(value)
        if length > MAX_BODY:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                f"no endpoint takes a body over {MAX_BODY} bytes")
        try:
            received = len(self.rfile.read(length)) if length else 0
        except TimeoutError:
            received = -1
        if received < length:
            return self._refuse(HTTPStatus.REQUEST_TIMEOUT,
                                "the body did not arrive in time (is Content-Length right?)")
        return True

    def _admit(self) -> bool:
        """The web config's rate limit and basic auth, for every endpoint."""
        settings = self._settings = self.server.web.current()
        if settings.limiter is not None and not settings.limiter.allow():
            self._text(HTTPStatus.TOO_MANY_REQUESTS,
                       "Too many requests (rate_limit in the web configuration)")
            return False
        if settings.users and not self.server.authenticator.check(
                settings.users, self.headers.get("Authorization")):
            self._send(HTTPStatus.UNAUTHORIZED, b"Unauthorized\n",
                       "text/plain; charset=utf-8", {"WWW-Authenticate": REALM})
            return False
        return True

    # --- writing answers -------------------------------------------------------------

    def end_headers(self) -> None:
        for key, value in self._settings.headers.items():
            self.send_header(key, value)
        super().end_headers()

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: HTTPStatus, text: str,
              headers: dict[str, str] | None = None) -> None:
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8", headers)

    # --- endpoints -------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        exporter = self.server.exporter
        if url.path == self.server.telemetry_path:
            self._metrics()
        elif url.path == "/-/healthy":
            self._text(HTTPStatus.OK, "Healthy")
        elif url.path == "/-/ready":
            if exporter.ready:
                self._text(HTTPStatus.OK, "Ready")
            else:
                self._text(HTTPStatus.SERVICE_UNAVAILABLE, "Not ready: first collection pending")
        elif url.path == "/-/reload":
            self._text(HTTPStatus.METHOD_NOT_ALLOWED, "Use POST to reload", {"Allow": "POST"})
        elif url.path == "/api/v1/explain":
            self._explain(parse_qs(url.query).get("domain", [None])[0])
        elif url.path == "/":
            snapshot = exporter.snapshot
            reload = (f"<code>POST /-/reload</code> with a <code>{RELOAD_MARKER}</code> header: "
                      "reload the configuration" if self.server.enable_lifecycle
                      else "reload: send SIGHUP (<code>POST /-/reload</code> is disabled)")
            page = LANDING.format(
                version=html.escape(__version__),
                metrics=html.escape(self.server.telemetry_path),
                reload=reload,
                ready="yes" if exporter.ready else "not yet",
                built=snapshot.created_at.isoformat() if snapshot else "none yet",
            )
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        else:
            self._text(HTTPStatus.NOT_FOUND, "Not found")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/-/reload":
            self._reload()
        elif path in self.server.get_paths():
            self._text(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed: use GET or HEAD",
                       {"Allow": "GET, HEAD"})
        else:
            self._text(HTTPStatus.NOT_FOUND, "Not found")

    def _reload(self) -> None:
        if not self.server.enable_lifecycle:
            self._text(HTTPStatus.FORBIDDEN, "Reload over HTTP is disabled "
                                             "(--no-web.enable-lifecycle); send SIGHUP to the "
                                             "exporter process instead")
            return
        problem = self._cross_origin()
        if problem:
            self._text(HTTPStatus.FORBIDDEN, f"Cross-origin reload refused: {problem}")
            return
        if not self._non_simple():
            self._text(HTTPStatus.BAD_REQUEST,
                       f"POST /-/reload needs a request a web page cannot forge: add the "
                       f"header '{RELOAD_MARKER}: <anything>' or send "
                       f"'Content-Type: application/json', e.g. "
                       f"curl -X POST -H '{RELOAD_MARKER}: curl' <host>/-/reload")
            return
        ok, message = self.server.reload()
        self._text(HTTPStatus.OK if ok else HTTPStatus.INTERNAL_SERVER_ERROR, message)

    def _non_simple(self) -> bool:
        """A header or media type that forces a CORS preflight, which we never grant."""
        if RELOAD_MARKER in self.headers:
            return True
        media_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return media_type == "application/json"

    def _cross_origin(self) -> str | None:
        fetch_site = (self.headers.get("Sec-Fetch-Site") or "").strip().lower()
        if fetch_site in ("cross-site", "same-site"):
            return f"the browser says the request is {fetch_site} (Sec-Fetch-Site)"
        origin = self.headers.get("Origin")
        if origin is None:
            return None
        host = self.headers.get("Host")
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        if not host:
            return "the request has an Origin header but no Host header"
        theirs, ours = _origin_key(origin.strip()), _origin_key(f"{scheme}://{host.strip()}")
        if theirs is None or theirs != ours:
            return "the Origin header does not match this server's address"
        return None

    def _metrics(self) -> None:
        snapshot = self.server.exporter.snapshot
        if snapshot is None:
            self._text(HTTPStatus.SERVICE_UNAVAILABLE, "No snapshot yet")
            return
        openmetrics_format = wants_openmetrics(self.headers.get("Accept"))
        compress = accepts_gzip(self.headers.get("Accept-Encoding"))
        body = render(snapshot, openmetrics_format=openmetrics_format, compress=compress)
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if compress else {}
        self._send(HTTPStatus.OK, body,
                   OPENMETRICS_CONTENT_TYPE if openmetrics_format else TEXT_CONTENT_TYPE,
                   headers)

    def _explain(self, domain: str | None) -> None:
        from exporter import assess

        snapshot = self.server.exporter.snapshot
        explain_json = getattr(assess, "explain_json", None)
        if snapshot is None or snapshot.assessment is None or explain_json is None:
            self._text(HTTPStatus.SERVICE_UNAVAILABLE, "No assessment yet")
            return
        try:
            payload = explain_json(snapshot.assessment, domain)
        except ValueError as exc:
            self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(exc)}).encode(),
                       "application/json")
            return
        self._send(HTTPStatus.OK, json.dumps(payload, indent=2).encode(), "application/json")


def _origin_key(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, with default ports filled in; None if malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)
