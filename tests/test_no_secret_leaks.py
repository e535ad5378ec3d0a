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
