"""HTTP endpoints against a real server on loopback."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from exporter.server import accepts_gzip, wants_openmetrics
from tests.tools import require_tool


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
    ok = httpx.post(f"{base}/-/reload")
    assert ok.status_code == 200
    original = demo_config.read_text()
    demo_config.write_text(original.replace("interval: 5m", "interval: soon"))
    bad = httpx.post(f"{base}/-/reload")
    assert bad.status_code == 500 and "collectors[0].interval" in bad.text
    body = httpx.get(f"{base}/metrics").text
    assert metric_value(body, "devsecops_config_last_reload_successful") == 0.0
    assert metric_value(body, "devsecops_collector_up", collector="demo") == 1.0  # still running
    demo_config.write_text(original)
    assert httpx.post(f"{base}/-/reload").status_code == 200
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
