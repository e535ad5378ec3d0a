"""Clean shutdown: SIGTERM ends in-flight runs within seconds; no orphans after SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def _hanging_server() -> tuple[socket.socket, threading.Event]:
    """Accepts connections and never answers: the server every timeout is written for."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    return listener, accepted


def _config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"""
store: {{path: s.db}}
collectors:
  - name: github
    type: github
    timeout: 1h
    config:
      api_url: http://127.0.0.1:{port}
      organizations: [acme]
      tokens: [{{env: SHUTDOWN_TEST_TOKEN}}]
      http: {{max_retries: 0, timeout: 1h}}
""")
    return config


def _serve(config: Path) -> subprocess.Popen[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return subprocess.Popen(
        [sys.executable, "-m", "exporter", "serve", "--config", str(config),
         "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SHUTDOWN_TEST_TOKEN": "tok-shutdown-test", "PYTHONUNBUFFERED": "1"})


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_while_a_collector_waits_on_a_silent_server_exits_promptly(
        tmp_path: Path) -> None:
    listener, accepted = _hanging_server()
    process = _serve(_config(tmp_path, listener.getsockname()[1]))
    try:
        assert accepted.wait(30), "the collector never connected"
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        listener.close()
    assert process.returncode == 0, stderr[-2000:]
    assert took < 10, f"took {took:.1f}s to stop"
    assert "run cancelled at shutdown" in stderr


def test_the_derivation_worker_dies_with_a_killed_exporter(tmp_path: Path) -> None:
    listener, accepted = _hanging_server()
    process = _serve(_config(tmp_path, listener.getsockname()[1]))
    try:
        assert accepted.wait(30), "the collector never connected"
        deadline = time.monotonic() + 20
        children: set[int] = set()
        while time.monotonic() < deadline:  # the worker and the resource tracker
            children = _children(process.pid)
            if len(children) >= 1:
                break
            time.sleep(0.2)
        assert children, "no derivation worker was started"
        grandchildren = set().union(*(_children(c) for c in children))
        process.kill()
        process.communicate(timeout=10)
        deadline = time.monotonic() + 10
        left = children | grandchildren
        while time.monotonic() < deadline and any(_alive(p) for p in left):
            time.sleep(0.2)
        assert not [p for p in left if _alive(p)], "orphans left behind"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        listener.close()
