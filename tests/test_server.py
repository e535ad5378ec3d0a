"""HTTP endpoints against a real server on loopback."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from exporter.server import accepts_gzip, wants_openmetrics
from tests.tools import require_tool

# The marker a browser cannot add to a cross-site form post (see the reload tests below).
RELOAD_HEADERS = {"X-Requested-With": "pytest"}


def metric_value(body: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_metrics_health_ready_and_landing(serve, demo_config: Path) -> None:
    exporter, base = serve(demo_config)
    assert httpx.get(f"{base}/-/healthy").status_code == 200
    assert httpx.get(f"{base}/-/ready").status_code == 503  # nothing collected yet
    exporter.collect_once()
    assert httpx.get(f"{base}/-/ready").text.strip() == "Ready"

    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = response.text
    quarter = exporter.snapshot.derived.current.label
    for name in ("devsecops_maturity_level", "devsecops_maturity_trend",
                 "security_incident_mttd_hours", "security_incident_mttc_hours",
                 "vulnerability_mttr_days", "vulnerability_sla_compliance_pct",
                 "sast_coverage_pct", "alert_signal_ratio"):
        assert f"\n{name}{{" in body, name
    assert metric_value(body, "sast_coverage_pct", quarter=quarter) == pytest.approx(84.0)
    assert metric_value(body, "devsecops_collector_up", collector="demo") == 1.0
    assert metric_value(body, "devsecops_build_info") == 1.0

    landing = httpx.get(f"{base}/")
    assert landing.status_code == 200 and "/metrics" in landing.text
    assert httpx.get(f"{base}/nope").status_code == 404
    assert httpx.get(f"{base}/-/reload").status_code == 405


def test_openmetrics_and_gzip(serve, demo_config: Path) -> None:
    exporter, base = serve(demo_config)
    exporter.collect_once()
    response = httpx.get(f"{base}/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        "Accept-Encoding": "gzip"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.headers["content-encoding"] == "gzip"
    text = response.text  # httpx decompresses
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_om(text)}
    assert families["devsecops_collector_errors"].type == "counter"
    assert families["devsecops_build"].type == "info"
    with httpx.stream("GET", f"{base}/metrics", headers={"Accept-Encoding": "gzip"}) as raw:
        compressed = b"".join(raw.iter_raw())
    assert raw.headers["content-encoding"] == "gzip"
    assert gzip.decompress(compressed).startswith(b"# HELP")
    plain = httpx.get(f"{base}/metrics", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_head_request(serve, demo_config: Path) -> None:
    exporter, base = serve(demo_config)
    exporter.collect_once()
    response = httpx.head(f"{base}/metrics")
    assert response.status_code == 200 and int(response.headers["content-length"]) > 1000


def test_reload_accepts_good_and_rejects_bad_config(serve, demo_config: Path) -> None:
    exporter, base = serve(demo_config)
    exporter.collect_once()
    ok = httpx.post(f"{base}/-/reload", headers=RELOAD_HEADERS)
    assert ok.status_code == 200
    original = demo_config.read_text()
    demo_config.write_text(original.replace("interval: 5m", "interval: soon"))
    bad = httpx.post(f"{base}/-/reload", headers=RELOAD_HEADERS)
    assert bad.status_code == 500 and "collectors[0].interval" in bad.text
    body = httpx.get(f"{base}/metrics").text
    assert metric_value(body, "devsecops_config_last_reload_successful") == 0.0
    assert metric_value(body, "devsecops_collector_up", collector="demo") == 1.0  # still running
    demo_config.write_text(original)
    assert httpx.post(f"{base}/-/reload", headers=RELOAD_HEADERS).status_code == 200
    body = httpx.get(f"{base}/metrics").text
    assert metric_value(body, "devsecops_config_last_reload_successful") == 1.0


def test_scrape_during_collection_reads_the_previous_snapshot(serve, demo_config: Path) -> None:
    exporter, base = serve(demo_config)
    exporter.collect_once()
    first = exporter.snapshot
    body = httpx.get(f"{base}/metrics").content
    assert httpx.get(f"{base}/metrics").content == body  # cached bytes, same snapshot
    exporter.rebuild()
    assert exporter.snapshot is not first


def test_negotiation_helpers() -> None:
    assert wants_openmetrics("application/openmetrics-text; version=1.0.0")
    assert not wants_openmetrics("text/plain") and not wants_openmetrics(None)
    assert accepts_gzip("gzip, deflate") and accepts_gzip("br;q=1.0, gzip;q=0.8")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("identity") and not accepts_gzip("")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("exporter did not become ready")


def test_cli_serve_sighup_reload_and_promtool_check_metrics(demo_config: Path) -> None:
    """The real CLI: serve, SIGHUP with a bad config keeps the old one, promtool lint."""
    promtool = require_tool("promtool")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", "serve", "--config", str(demo_config),
         "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait_ready(url, process)
        body = httpx.get(f"{url}/metrics").text
        lint = subprocess.run([promtool, "check", "metrics"], input=body, text=True,
                              capture_output=True, check=False)
        findings = sorted(line for line in (lint.stdout + lint.stderr).splitlines() if line)
        # The only findings allowed: the spec's own _hours/_days names.
        assert findings == [
            'security_incident_mttc_hours use base unit "seconds" instead of "hours"',
            'security_incident_mttd_hours use base unit "seconds" instead of "hours"',
            'vulnerability_mttr_days use base unit "seconds" instead of "days"',
        ]
        demo_config.write_text(demo_config.read_text() + "\nunknown_section: 1\n")
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            body = httpx.get(f"{url}/metrics").text
            if metric_value(body, "devsecops_config_last_reload_successful") == 0.0:
                break
            time.sleep(0.2)
        assert metric_value(body, "devsecops_config_last_reload_successful") == 0.0
        assert httpx.get(f"{url}/-/ready").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert process.returncode == 0, stderr
    assert "reload rejected, previous configuration kept" in stderr
    assert "unknown_section: unknown key" in stderr


def test_cli_collect_once_writes_atomically(demo_config: Path, tmp_path: Path) -> None:
    output = tmp_path / "textfile" / "devsecops.prom"
    result = subprocess.run([sys.executable, "-m", "exporter", "collect", "--once",
                             "--config", str(demo_config), "--output", str(output)],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    body = output.read_text()
    assert metric_value(body, "devsecops_collector_up", collector="demo") == 1.0
    assert [p.name for p in output.parent.iterdir()] == ["devsecops.prom"]  # no temp left


def test_explain_endpoint(serve, demo_config: Path) -> None:
    exporter, base = serve(demo_config)
    exporter.collect_once()
    body = httpx.get(f"{base}/api/v1/explain").json()
    assert body["quarter"] == exporter.snapshot.derived.current.label
    assert body["organisation"] == "Acme Payments"
    one = httpx.get(f"{base}/api/v1/explain", params={"domain": "incident_response"})
    assert one.status_code == 200
    assert "incident_response" in one.text
    bad = httpx.get(f"{base}/api/v1/explain", params={"domain": "nope"})
    assert bad.status_code == 400 and "vulnerability_management" in bad.json()["error"]


# --- Hardening: limits, framing, reload protection -------------------------------------

def start_server(stack: contextlib.ExitStack, tmp_path: Path, **options: Any
                 ) -> tuple[Any, Any, str]:
    """An ExporterServer on loopback over a tiny config (fast: no collection needed).

    Returns (exporter, server, base_url); ``stack`` stops both at the end of the test.
    """
    from exporter.app import Exporter
    from exporter.config import load_config
    from exporter.server import ExporterServer

    config = tmp_path / "exporter.yaml"
    if not config.exists():
        (tmp_path / "empty.yaml").write_text("findings: []\n")
        config.write_text("store:\n  path: store.db\ncollectors:\n  - name: files\n"
                          "    type: file\n    config:\n      files:\n"
                          "        - path: empty.yaml\n")
    exporter = Exporter(load_config(config))
    stack.callback(exporter.stop)
    server = ExporterServer(("127.0.0.1", 0), exporter, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    stack.callback(stop)
    scheme = "https" if server.web.current().tls else "http"
    return exporter, server, f"{scheme}://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator:
    with contextlib.ExitStack() as stack:
        yield lambda **options: start_server(stack, tmp_path, **options)


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def raw_exchange(base: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", _port(base)), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_line(response: bytes) -> str:
    return response.split(b"\r\n", 1)[0].decode("latin-1")


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_post_to_metrics_is_405_with_allow_header(serve, demo_config: Path) -> None:
    _, base = serve(demo_config)
    response = httpx.post(f"{base}/metrics")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert "not found" not in response.text.lower()
    assert httpx.post(f"{base}/-/healthy").headers["allow"] == "GET, HEAD"
    assert httpx.post(f"{base}/nope").status_code == 404


def test_request_line_without_version_gets_a_400_with_a_status_line(
        serve, demo_config: Path) -> None:
    _, base = serve(demo_config)
    for line in (b"GET /-/healthy\r\n", b"GET\r\n"):
        response = raw_exchange(base, line)
        assert status_line(response).startswith("HTTP/1."), response[:80]
        assert " 400 " in status_line(response)
    explicit = raw_exchange(base, b"GET /-/healthy HTTP/0.9\r\n\r\n")
    assert status_line(explicit).startswith("HTTP/1.") and " 505 " in status_line(explicit)


@pytest.mark.parametrize("value", ["abc", "-1", "1, 2", "+5", "0x10"])
def test_post_with_bad_content_length_is_answered_400(
        serve, demo_config: Path, value: str) -> None:
    _, base = serve(demo_config)
    request = (f"POST /-/reload HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\n"
               f"Content-Length: {value}\r\n\r\n").encode()
    started = time.monotonic()
    response = raw_exchange(base, request, timeout=3)
    assert " 400 " in status_line(response), response[:120]
    assert b"Content-Length" in response
    assert time.monotonic() - started < 2


def test_incomplete_body_is_answered_within_the_header_timeout(web_server) -> None:
    from exporter.server import ServerLimits

    _, _, base = web_server(limits=ServerLimits(header_timeout=0.5))
    request = (b"POST /-/reload HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\n"
               b"Content-Length: 100\r\n\r\nshort")
    started = time.monotonic()
    response = raw_exchange(base, request, timeout=5)
    assert " 408 " in status_line(response)
    assert time.monotonic() - started < 2


def test_oversized_or_chunked_body_is_refused(serve, demo_config: Path) -> None:
    _, base = serve(demo_config)
    big = raw_exchange(base, b"POST /-/reload HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\n"
                             b"Content-Length: 1000000000\r\n\r\n", timeout=3)
    assert " 413 " in status_line(big)
    chunked = raw_exchange(base, b"POST /-/reload HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                           timeout=3)
    assert " 411 " in status_line(chunked)


def test_client_disconnects_print_no_traceback(serve, demo_config: Path,
                                               capfd: pytest.CaptureFixture[str],
                                               caplog: pytest.LogCaptureFixture) -> None:
    _, base = serve(demo_config)
    caplog.set_level(logging.DEBUG, logger="devsecops_exporter.http")
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", _port(base)))
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        # SO_LINGER 0: close() sends a reset, as a client that crashes or times out does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    time.sleep(0.5)
    assert httpx.get(f"{base}/-/healthy").status_code == 200
    assert "Traceback" not in capfd.readouterr().err
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_slowloris_is_cut_at_the_header_timeout(web_server) -> None:
    from exporter.server import ServerLimits

    _, _, base = web_server(limits=ServerLimits(header_timeout=0.5))
    sock = socket.create_connection(("127.0.0.1", _port(base)), timeout=5)
    started = time.monotonic()
    closed_after = None
    try:
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nX-Slow: ")
        while time.monotonic() - started < 4:
            try:
                sock.sendall(b"a")  # one byte at a time, each well inside a per-recv timeout
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable and not sock.recv(1024):
                    closed_after = time.monotonic() - started
                    break
            except OSError:
                closed_after = time.monotonic() - started
                break
    finally:
        sock.close()
    assert closed_after is not None, "a byte-by-byte client kept its connection"
    assert closed_after < 2


def test_concurrent_connections_are_bounded(web_server) -> None:
    from exporter.server import ServerLimits

    _, server, base = web_server(limits=ServerLimits(max_connections=3, header_timeout=1.0))
    stalled = []
    try:
        for _ in range(8):
            sock = socket.create_connection(("127.0.0.1", _port(base)), timeout=5)
            sock.sendall(b"GET /-/healthy HTTP/1.1\r\n")  # headers never finished
            stalled.append(sock)
        assert wait_until(lambda: server.active_connections == 3, 2)
        peak = 0
        for _ in range(20):
            peak = max(peak, server.active_connections,
                       sum(t.name.startswith("http-connection") for t in threading.enumerate()))
            time.sleep(0.01)
        assert peak == 3
        # The stalled ones time out in turn, and a scrape then gets its turn.
        response = httpx.get(f"{base}/-/healthy", timeout=10)
        assert response.status_code == 200
    finally:
        for sock in stalled:
            sock.close()


def test_idle_keepalive_connections_do_not_starve_a_scrape(web_server) -> None:
    from exporter.server import ServerLimits

    _, _, base = web_server(limits=ServerLimits(max_connections=2, header_timeout=5,
                                                idle_timeout=30))
    with httpx.Client() as first, httpx.Client() as second:
        assert first.get(f"{base}/-/healthy").status_code == 200
        assert second.get(f"{base}/-/healthy").status_code == 200
        # Both slots are now held by idle keep-alive connections.
        started = time.monotonic()
        assert httpx.get(f"{base}/-/healthy", timeout=3).status_code == 200
        assert time.monotonic() - started < 1.5
        assert first.get(f"{base}/-/healthy").status_code == 200  # reconnects transparently


def test_idle_connection_is_closed_after_the_idle_timeout(web_server) -> None:
    from exporter.server import ServerLimits

    _, server, base = web_server(limits=ServerLimits(idle_timeout=0.3))
    with socket.create_connection(("127.0.0.1", _port(base)), timeout=5) as sock:
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert b" 200 " in first
        started = time.monotonic()
        while sock.recv(65536):
            pass
        assert time.monotonic() - started < 2
    assert wait_until(lambda: server.active_connections == 0, 2)


def test_listen_backlog_and_default_limits(web_server) -> None:
    from exporter.server import ServerLimits

    limits = ServerLimits()
    assert limits.backlog >= 128 and limits.max_connections == 64
    assert limits.header_timeout == 10 and limits.idle_timeout <= 60
    _, server, _ = web_server()
    assert server.request_queue_size == limits.backlog


# --- POST /-/reload ------------------------------------------------------------------

def _count_reloads(monkeypatch: pytest.MonkeyPatch, exporter: Any,
                   seconds: float = 0.0) -> list[float]:
    calls: list[float] = []

    def reload(path: str | None = None) -> tuple[bool, str]:
        calls.append(time.monotonic())
        time.sleep(seconds)
        return True, "configuration reloaded"

    monkeypatch.setattr(exporter, "reload", reload)
    return calls


def test_reload_refuses_a_cross_site_form_post(serve, demo_config: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    exporter, base = serve(demo_config)
    calls = _count_reloads(monkeypatch, exporter)
    form = httpx.post(f"{base}/-/reload", data={"a": "1"},
                      headers={"Origin": "http://evil.example"})
    assert form.status_code == 403
    # Even with the marker, another origin is refused (a preflight would be needed anyway).
    for headers in ({"Origin": "http://evil.example", **RELOAD_HEADERS},
                    {"Origin": "null", **RELOAD_HEADERS},
                    {"Origin": f"https://{base.split('//')[1]}", **RELOAD_HEADERS},
                    {"Sec-Fetch-Site": "cross-site", **RELOAD_HEADERS}):
        response = httpx.post(f"{base}/-/reload", headers=headers)
        assert response.status_code == 403, headers
        assert "origin" in response.text.lower()
    assert calls == []


def test_reload_needs_a_non_simple_request(serve, demo_config: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    exporter, base = serve(demo_config)
    calls = _count_reloads(monkeypatch, exporter)
    plain = httpx.post(f"{base}/-/reload", data={"a": "1"})
    assert plain.status_code == 400
    assert "X-Requested-With" in plain.text and "application/json" in plain.text
    assert calls == []
    same_origin = httpx.post(f"{base}/-/reload",
                             headers={"Origin": base, **RELOAD_HEADERS})
    assert same_origin.status_code == 200, same_origin.text
    assert httpx.post(f"{base}/-/reload", json={}).status_code == 200
    assert len(calls) == 2


def test_reload_endpoint_can_be_disabled(web_server, monkeypatch: pytest.MonkeyPatch) -> None:
    exporter, _, base = web_server(enable_lifecycle=False)
    calls = _count_reloads(monkeypatch, exporter)
    response = httpx.post(f"{base}/-/reload", headers=RELOAD_HEADERS)
    assert response.status_code == 403
    assert "SIGHUP" in response.text
    assert calls == []


def test_concurrent_reloads_coalesce(serve, demo_config: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    exporter, base = serve(demo_config)
    calls = _count_reloads(monkeypatch, exporter, seconds=0.5)
    request = b"POST /-/reload HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\n\r\n"
    sockets = [socket.create_connection(("127.0.0.1", _port(base)), timeout=15)
               for _ in range(50)]
    try:
        for sock in sockets:  # all 50 arrive within a few milliseconds
            sock.sendall(request)
        answers = [sock.recv(65536) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert [status_line(a) for a in answers] == ["HTTP/1.1 200 OK"] * 50
    # One reload runs; every request that arrived meanwhile shares the next one.
    assert 1 <= len(calls) <= 2


def test_a_reload_always_starts_after_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request arriving mid-reload is not answered by a reload that read the old file."""
    from exporter.server import SingleFlight

    started: list[float] = []
    release = threading.Event()

    def work() -> tuple[bool, str]:
        started.append(time.monotonic())
        if len(started) == 1:
            release.wait(5)
        return True, f"run {len(started)}"

    flight = SingleFlight(work)
    results: list[tuple[bool, str]] = []
    first = threading.Thread(target=lambda: results.append(flight()))
    first.start()
    assert wait_until(lambda: len(started) == 1, 2)
    arrived = time.monotonic()
    second = threading.Thread(target=lambda: results.append(flight()))
    second.start()
    time.sleep(0.1)
    release.set()
    first.join(5)
    second.join(5)
    assert sorted(results) == [(True, "run 1"), (True, "run 2")]
    assert started[1] > arrived
