"""A bounded load test of the HTTP server on loopback: scrapes, slow clients, idle ones.

    python3 benchmarks/load_bench.py                          # 200 scrapes/s for 60 s
    python3 benchmarks/load_bench.py --rate 100 --duration 20 --slowloris 4

It copies config.example.yaml and the demo data to a temporary directory, starts
``python -m exporter serve`` on 127.0.0.1 (a free port), waits for ``/-/ready`` and then,
at the same time and for ``--duration`` seconds:

(a) ``--clients`` threads scrape ``/metrics`` over keep-alive connections (gzip, as
    Prometheus asks) at ``--rate`` scrapes per second in total, each answer checked
    (status 200, the demo collector's ``devsecops_collector_up`` sample present);
(b) ``--slowloris`` connections each send a request line and then one header byte per
    second, never finishing; the server must cut each one within ``--web.header-timeout``
    (10 s by default) and a cut one is replaced by a new one;
(c) idle keep-alive connections (one request, then silence) fill the remaining slots up
    to the connection limit (64); one the server closes is replaced.

A scrape counts as successful when it got a checked 200. A keep-alive connection the
server closed before the request was sent is reconnected and the scrape sent again, once,
as Prometheus' client does (counted as "reconnects"). Everything stays on 127.0.0.1,
is bounded in count and time, and the server is stopped at the end.

Exit status: 0 when every scrape succeeded and every slow client was cut in time; 1
otherwise. The numbers are printed in the format docs/reliability.md quotes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
UP_SAMPLE = b'devsecops_collector_up{collector="demo"} 1'
CONNECTION_LIMIT = 64  # the server's default --web.max-connections
HEADER_TIMEOUT = 10.0  # the server's default --web.header-timeout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Scrapes:
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class SlowClients:
    cut_after: list[float] = field(default_factory=list)  # seconds from connect to cut
    still_open_at_end: list[float] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class IdleClients:
    opened: int = 0
    closed_after: list[float] = field(default_factory=list)  # seconds idle before closed
    failed: Counter[str] = field(default_factory=Counter)
    peak_open: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    shutil.copy(REPO / "config.example.yaml", workdir / "config.yaml")
    shutil.copytree(REPO / "demo", workdir / "demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSECOPS_")}
    env["PYTHONPATH"] = str(REPO)
    log = (workdir / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "exporter", "serve", "--config", str(workdir / "config.yaml"),
         "--web.listen-address", f"{HOST}:{port}", "--log.level", "warning"],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port: int, process: subprocess.Popen[bytes], limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if process.poll() is not None:
            raise RuntimeError(f"the exporter exited with {process.returncode} before ready")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/-/ready")
            if connection.getresponse().status == 200:
                connection.close()
                return time.monotonic() - started
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"/-/ready not 200 within {limit:.0f}s")


def fetch_metrics(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    body = response.read()
    if response.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return response.status, body


def scraper(port: int, path: str, interval: float, until: float, out: Scrapes,
            offset: float) -> None:
    """Scrape every ``interval`` seconds (paced, not back to back) until ``until``."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    next_at = time.monotonic() + offset
    while True:
        now = time.monotonic()
        if next_at >= until:
            break
        if next_at > now:
            time.sleep(next_at - now)
        next_at += interval
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                status, body = fetch_metrics(connection, path)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine) as exc:
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=10)
                if attempt == 1:
                    with out.lock:
                        out.reconnects += 1
                    continue
                with out.lock:
                    out.failures[type(exc).__name__] += 1
                break
            except OSError as exc:
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=10)
                with out.lock:
                    out.failures[type(exc).__name__] += 1
                break
            elapsed = time.monotonic() - started
            with out.lock:
                if status == 200 and UP_SAMPLE in body:
                    out.latencies.append(elapsed)
                    out.bytes += len(body)
                else:
                    out.failures[f"HTTP {status}" if status != 200 else "unchecked body"] += 1
            break
    connection.close()


def slowloris(port: int, until: float, out: SlowClients, stop: threading.Event) -> None:
    """One slow client after another: a header byte a second, until the server cuts it."""
    while time.monotonic() < until and not stop.is_set():
        try:
            sock = socket.create_connection((HOST, port), timeout=5)
        except OSError:
            with out.lock:
                out.refused += 1
            time.sleep(1)
            continue
        opened = time.monotonic()
        cut = False
        try:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            while time.monotonic() < until + HEADER_TIMEOUT + 5 and not stop.is_set():
                readable, _, _ = select.select([sock], [], [], 1.0)
                if readable:
                    sock.recv(65536)  # a 408 or nothing: either way the server is done
                    cut = True
                    break
                sock.sendall(b"a")
        except OSError:
            cut = True
        finally:
            sock.close()
        with out.lock:
            (out.cut_after if cut else out.still_open_at_end).append(time.monotonic() - opened)


def open_idle(port: int) -> socket.socket:
    """A keep-alive connection that made one request and then went quiet."""
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError("closed before answering")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return sock


def idle_keeper(port: int, count: int, until: float, out: IdleClients) -> None:
    """Keep ``count`` idle keep-alive connections open; replace the ones the server closes."""
    conns: dict[socket.socket, float] = {}
    try:
        while time.monotonic() < until:
            while len(conns) < count and time.monotonic() < until:
                try:
                    conns[open_idle(port)] = time.monotonic()
                    with out.lock:
                        out.opened += 1
                except OSError as exc:
                    with out.lock:
                        out.failed[type(exc).__name__] += 1
                    time.sleep(0.5)
                    break
            with out.lock:
                out.peak_open = max(out.peak_open, len(conns))
            readable, _, _ = select.select(list(conns), [], [], 0.5) if conns else ([], [], [])
            for sock in readable:
                with contextlib.suppress(OSError):
                    sock.recv(1)
                with out.lock:
                    out.closed_after.append(time.monotonic() - conns.pop(sock))
                sock.close()
    finally:
        for sock in conns:
            sock.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="scrapes per second, total")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=4, help="scraping threads")
    parser.add_argument("--slowloris", type=int, default=8, help="slow clients at a time")
    parser.add_argument("--idle", type=int, default=None,
                        help="idle keep-alive connections (default: fill up to 64)")
    args = parser.parse_args(argv)
    idle_count = args.idle if args.idle is not None else max(
        0, CONNECTION_LIMIT - args.clients - args.slowloris)
    if args.duration > 600 or args.rate * args.duration > 200_000:
        parser.error("bounded on purpose: at most 600 s and 200,000 scrapes")

    workdir = Path(tempfile.mkdtemp(prefix="load-bench-"))
    port = free_port()
    process = start_server(workdir, port)
    try:
        ready = wait_ready(port, process, 120)
        probe = http.client.HTTPConnection(HOST, port, timeout=10)
        status, body = fetch_metrics(probe, "/metrics")
        probe.close()
        if status != 200 or UP_SAMPLE not in body:
            raise RuntimeError(f"/metrics self-check failed: HTTP {status}, "
                               f"{UP_SAMPLE.decode()} not found")
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        print(f"exporter ready in {ready:.1f}s on {HOST}:{port}; /metrics has {series} "
              f"series ({len(body)} bytes uncompressed)")
        print(f"load: {args.rate:.0f} scrapes/s for {args.duration:.0f}s from {args.clients} "
              f"keep-alive clients, {args.slowloris} slow clients, {idle_count} idle "
              f"keep-alive connections (limit {CONNECTION_LIMIT})")

        scrapes, slow, idle = Scrapes(), SlowClients(), IdleClients()
        stop = threading.Event()
        began = time.monotonic()
        until = began + args.duration
        threads = [threading.Thread(target=idle_keeper, args=(port, idle_count, until, idle))]
        threads += [threading.Thread(target=slowloris, args=(port, until, slow, stop))
                    for _ in range(args.slowloris)]
        interval = args.clients / args.rate
        threads += [threading.Thread(target=scraper, args=(
            port, "/metrics", interval, until, scrapes, i * interval / args.clients))
            for i in range(args.clients)]
        for thread in threads:
            thread.daemon = True
            thread.start()
        for thread in threads[1 + args.slowloris:]:
            thread.join(args.duration + 60)
        threads[0].join(30)
        for thread in threads[1:1 + args.slowloris]:  # let the last slow clients be cut
            thread.join(HEADER_TIMEOUT + 10)
        stop.set()
        wall = time.monotonic() - began
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    asked = int(args.rate * args.duration)
    done = len(scrapes.latencies)
    failed = sum(scrapes.failures.values())
    lat = [x * 1000 for x in scrapes.latencies]
    print(f"\n(a) scrapes: {done} ok of {done + failed} sent ({asked} planned) in {wall:.1f}s, "
          f"{done / args.duration:.0f}/s; failures {dict(scrapes.failures) or 'none'}; "
          f"reconnects {scrapes.reconnects}")
    if lat:
        print(f"    latency p50 {statistics.median(lat):.2f} ms, p99 {percentile(lat, 0.99):.2f} "
              f"ms, max {max(lat):.2f} ms")
    cuts = slow.cut_after
    in_time = [c for c in cuts if HEADER_TIMEOUT - 1 <= c <= HEADER_TIMEOUT + 2]
    print(f"(b) slow clients: {len(cuts)} cut by the server, {len(in_time)} of them "
          f"{HEADER_TIMEOUT - 1:.0f}-{HEADER_TIMEOUT + 2:.0f}s after connecting "
          f"(min {min(cuts, default=0):.1f}s, max {max(cuts, default=0):.1f}s); "
          f"{len(slow.still_open_at_end)} never cut; {slow.refused} refused connections")
    early = [c for c in idle.closed_after if c < 29]
    print(f"(c) idle keep-alive: {idle.opened} opened, peak {idle.peak_open} open at once; "
          f"{len(idle.closed_after)} closed by the server ({len(early)} before the 30s idle "
          f"timeout, i.e. to make room); open failures {dict(idle.failed) or 'none'}")

    problems = []
    if failed or done < asked * 0.98:
        problems.append(f"scrapes: {failed} failed, {done} of {asked} done")
    if slow.still_open_at_end or len(in_time) != len(cuts) or not cuts:
        problems.append("slow clients were not all cut within the header timeout")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("PASS: every scrape succeeded and every slow client was cut in time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
