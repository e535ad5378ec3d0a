"""No token in a log line, an error or /metrics, even when every source fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

TOKEN = "tok-ZZ-never-print-me-8c1f2a"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the socket is


def test_failing_sources_never_print_their_tokens(tmp_path: Path) -> None:
    port = closed_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.yaml"
    config.write_text(f"""
log_level: debug
store: {{path: s.db}}
collectors:
  - name: jira
    type: jira
    config:
      base_url: {base}
      deployment: cloud
      email: bot@example.test
      api_token: {{env: LEAK_TEST_TOKEN}}
      vulnerabilities: {{jql: project = SEC}}
      http: {{max_retries: 0, timeout: 2s}}
  - name: github
    type: github
    config:
      api_url: {base}
      organizations: [acme]
      tokens: [{{env: LEAK_TEST_TOKEN}}]
      http: {{max_retries: 0, timeout: 2s}}
""")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "collect", "--once", "--config", str(config),
         "--log.level", "debug"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "LEAK_TEST_TOKEN": TOKEN},
    )
    assert result.returncode == 1  # both collectors failed
    assert 'devsecops_collector_up{collector="jira"} 0.0' in result.stdout
    assert 'devsecops_collector_up{collector="github"} 0.0' in result.stdout
    assert "failed (network)" in result.stderr
    assert TOKEN not in result.stdout
    assert TOKEN not in result.stderr


class _EchoHandler(__import__("http.server").server.BaseHTTPRequestHandler):
    """A hostile server: answers 400 with the whole request echoed into the error body."""

    def _echo(self) -> None:
        import json

        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("latin-1") if length else ""
        echoed = "; ".join(f"{k}: {v}" for k, v in self.headers.items()) + " " + body
        payload = json.dumps({"message": f"rejected {echoed}", "errorMessages": [echoed],
                              "error": {"message": echoed}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", f"session={echoed[:200]}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _echo

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_server_echoing_credentials_never_gets_them_printed(tmp_path: Path) -> None:
    """Every collector's error hint, at debug level, through collect and check-config."""
    import base64
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    http = "{max_retries: 0, timeout: 5s}"
    config = tmp_path / "config.yaml"
    config.write_text(f"""
log_level: debug
store: {{path: s.db}}
collectors:
  - name: jira
    type: jira
    config:
      base_url: {base}
      deployment: cloud
      email: bot@example.test
      api_token: {{env: LEAK_TEST_TOKEN}}
      vulnerabilities: {{jql: project = SEC}}
      http: {http}
  - name: github
    type: github
    config:
      api_url: {base}
      organizations: [acme]
      tokens: [{{env: LEAK_TEST_TOKEN}}]
      http: {http}
  - name: pagerduty
    type: pagerduty
    config:
      url: {base}
      token: {{env: LEAK_TEST_TOKEN}}
      service_ids: [PXXXXXX]
      http: {http}
  - name: elastic
    type: elastic
    config:
      mode: elasticsearch
      url: {base}
      api_key: {{env: LEAK_TEST_TOKEN}}
      http: {http}
""")
    env = {**os.environ, "LEAK_TEST_TOKEN": TOKEN}
    basic = base64.b64encode(f"bot@example.test:{TOKEN}".encode()).decode()
    try:
        for command in (["collect", "--once"], ["check-config", "--online"]):
            result = subprocess.run(
                [sys.executable, "-m", "exporter", *command, "--config", str(config),
                 *(["--log.level", "debug"] if command[0] == "collect" else [])],
                capture_output=True, text=True, timeout=120, check=False, env=env)
            assert result.returncode == 1, result.stderr[-2000:]
            output = result.stdout + result.stderr
            assert "rejected" in output or "HTTP 400" in output  # the hint did get through
            for leaked in (TOKEN, basic, basic.rstrip("=")):
                assert leaked not in output, (command, output[-3000:])
            assert "bot@example.test:" not in output
    finally:
        server.shutdown()
