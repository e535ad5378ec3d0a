"""HTTP server: /metrics, health and readiness, reload, a landing page, explain.

Stdlib ``ThreadingHTTPServer``: each request gets a thread, and the metrics handler
only reads the current snapshot's pre-rendered bytes, so a scrape never waits
for a collection.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from exporter import __version__
from exporter.app import Exporter
from exporter.publish import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render

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
<li><code>POST /-/reload</code>: reload the configuration</li>
</ul>
<p>Ready: {ready}. Snapshot built: {built}.</p>
</body></html>
"""


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


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], exporter: Exporter,
                 telemetry_path: str = "/metrics") -> None:
        self.exporter = exporter
        self.telemetry_path = telemetry_path
        self.reload_lock = threading.Lock()
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    server_version = f"devsecops-maturity-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (~40 ms per scrape).
    disable_nagle_algorithm = True
    # An idle or stalled client gives up its thread after this many seconds.
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

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

    def _text(self, status: HTTPStatus, text: str) -> None:
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8")

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
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"Use POST to reload\n",
                       "text/plain; charset=utf-8", {"Allow": "POST"})
        elif url.path == "/api/v1/explain":
            self._explain(parse_qs(url.query).get("domain", [None])[0])
        elif url.path == "/":
            snapshot = exporter.snapshot
            page = LANDING.format(
                version=html.escape(__version__),
                metrics=html.escape(self.server.telemetry_path),
                ready="yes" if exporter.ready else "not yet",
                built=snapshot.created_at.isoformat() if snapshot else "none yet",
            )
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        else:
            self._text(HTTPStatus.NOT_FOUND, "Not found")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/-/reload":
            self._text(HTTPStatus.NOT_FOUND if url.path != self.server.telemetry_path
                       else HTTPStatus.METHOD_NOT_ALLOWED, "Not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 65536))
        with self.server.reload_lock:
            ok, message = self.server.exporter.reload()
        self._text(HTTPStatus.OK if ok else HTTPStatus.INTERNAL_SERVER_ERROR, message)

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
