"""A fake Elasticsearch/Kibana serving Elastic Security alerts, for the benchmark.

Loopback only, standard library only. It implements just what the ``elastic``
collector uses, with the documented shapes:

* ``POST /<index>/_pit?keep_alive=`` -> ``{"id": ...}``
* ``POST /_search`` with ``pit``, ``sort: [{"_shard_doc": "asc"}]``, ``search_after``,
  ``size`` and a ``bool.filter`` of ``range`` clauses -> hits with ``sort`` values
* ``DELETE /_pit``
* ``POST /api/detection_engine/signals/search`` (Kibana) -> first ``size`` hits of the
  range plus the exact ``hits.total``; ``search_after``/``from`` are ignored, as Kibana
  drops them
* ``POST /_bench/mutate`` ``{"at": iso, "changed": n, "new": m}``: close ``n`` open
  alerts and create ``m`` new ones at ``at``, to measure an incremental run
* ``POST /_bench/shutdown``

Run: ``python benchmarks/elastic_fake.py --alerts 200000`` prints ``PORT <n>`` and
serves until shut down or ``--max-seconds`` (default 900) pass, so it always stops.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

QUARTER_START = datetime(2026, 7, 1, tzinfo=UTC)
QUARTER_END = datetime(2026, 10, 1, tzinfo=UTC)
REASONS = ["false_positive"] * 50 + ["duplicate"] * 10 + ["expected_activity"] * 15 + [
    "acceptable_risk"] * 5 + ["issue_resolved"] * 20
RULES = [f"Rule {i:02d}" for i in range(40)]
SEVERITIES = ["low", "medium", "high", "critical"]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class Store:
    """The alerts, in _shard_doc order (list position), plus request counters."""

    def __init__(self, count: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        span = (QUARTER_END - timedelta(hours=2) - QUARTER_START).total_seconds()
        self.docs: list[dict[str, Any]] = []
        for i in range(count):
            created = QUARTER_START + timedelta(seconds=rng.random() * span)
            self.docs.append(self._doc(rng, i, created))
        self.lock = threading.Lock()
        self.cache: dict[str, list[int]] = {}
        self.requests: dict[str, int] = {}
        self.rng = rng

    def _doc(self, rng: random.Random, i: int, created: datetime) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": _iso(created),
            "kibana.alert.uuid": f"{i:08x}-5d2c-4b8e-9a77-{i:012x}",
            "kibana.alert.original_time": _iso(created - timedelta(seconds=30)),
            "kibana.alert.rule.name": rng.choice(RULES),
            "kibana.alert.severity": rng.choice(SEVERITIES),
        }
        roll = rng.random()
        if roll < 0.6:
            doc["kibana.alert.workflow_status"] = "closed"
            doc["kibana.alert.workflow_reason"] = rng.choice(REASONS)
            doc["kibana.alert.workflow_status_updated_at"] = _iso(min(
                created + timedelta(minutes=rng.randint(1, 600)), QUARTER_END - timedelta(hours=1)))
        elif roll < 0.7:
            doc["kibana.alert.workflow_status"] = "acknowledged"
            doc["kibana.alert.workflow_status_updated_at"] = _iso(min(
                created + timedelta(minutes=rng.randint(1, 60)), QUARTER_END - timedelta(hours=1)))
        else:
            doc["kibana.alert.workflow_status"] = "open"
        return doc

    def matching(self, query: dict[str, Any]) -> list[int]:
        """Positions of the documents matching the ``range`` filters (cached per query)."""
        key = json.dumps(query, sort_keys=True)
        with self.lock:
            hit = self.cache.get(key)
        if hit is not None:
            return hit
        ranges = []
        for clause in query.get("bool", {}).get("filter", []):
            for field, bounds in clause.get("range", {}).items():
                ranges.append((field, bounds.get("gte"), bounds.get("lt")))
        out = []
        for pos, doc in enumerate(self.docs):
            for field, gte, lt in ranges:
                value = doc.get(field)
                if value is None or (gte is not None and value < gte) or (
                        lt is not None and value >= lt):
                    break
            else:
                out.append(pos)
        with self.lock:
            self.cache[key] = out
        return out

    def mutate(self, at: str, changed: int, new: int) -> None:
        with self.lock:
            self.cache.clear()
            open_docs = [d for d in self.docs if d["kibana.alert.workflow_status"] == "open"]
            for doc in open_docs[:changed]:
                doc["kibana.alert.workflow_status"] = "closed"
                doc["kibana.alert.workflow_reason"] = "issue_resolved"
                doc["kibana.alert.workflow_status_updated_at"] = at
            created = datetime.fromisoformat(at.replace("Z", "+00:00"))
            base = len(self.docs)
            for i in range(new):
                doc = self._doc(self.rng, base + i, created)
                doc["kibana.alert.workflow_status"] = "open"
                doc.pop("kibana.alert.workflow_reason", None)
                doc.pop("kibana.alert.workflow_status_updated_at", None)
                self.docs.append(doc)


def _hit(store: Store, pos: int) -> dict[str, Any]:
    doc = store.docs[pos]
    return {"_index": ".internal.alerts-security.alerts-default-000001",
            "_id": doc["kibana.alert.uuid"], "_score": None, "_source": doc, "sort": [pos]}


def make_handler(store: Store, server_box: list[ThreadingHTTPServer]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else {}

        def _count(self, name: str) -> None:
            with store.lock:
                store.requests[name] = store.requests.get(name, 0) + 1

        def do_DELETE(self) -> None:
            self._body()
            self._count("close_pit")
            self._send(200, {"succeeded": True, "num_freed": 1})

        def do_GET(self) -> None:
            if self.path == "/_bench/stats":
                self._send(200, {"requests": store.requests, "alerts": len(store.docs)})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            body = self._body()
            if path.endswith("/_pit"):
                self._count("open_pit")
                self._send(200, {"id": "fake-pit-id"})
            elif path == "/_search":
                self._count("search")
                matches = store.matching(body["query"])
                after = body.get("search_after")
                start = 0
                if after:
                    # first position greater than the last sort value (bisect)
                    lo, hi = 0, len(matches)
                    while lo < hi:
                        mid = (lo + hi) // 2
                        if matches[mid] <= after[0]:
                            lo = mid + 1
                        else:
                            hi = mid
                    start = lo
                page = matches[start:start + body["size"]]
                self._send(200, {
                    "pit_id": "fake-pit-id", "took": 5, "timed_out": False,
                    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                    "hits": {"max_score": None, "hits": [_hit(store, p) for p in page]},
                })
            elif path.endswith("/api/detection_engine/signals/search"):
                self._count("kibana_search")
                matches = store.matching(body["query"])
                page = matches[:body["size"]]
                self._send(200, {
                    "took": 5, "timed_out": False,
                    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                    "hits": {"total": {"value": len(matches), "relation": "eq"},
                             "max_score": None, "hits": [_hit(store, p) for p in page]},
                })
            elif path == "/_bench/mutate":
                store.mutate(body["at"], body["changed"], body["new"])
                with store.lock:
                    store.requests.clear()
                self._send(200, {"alerts": len(store.docs)})
            elif path == "/_bench/reset_counts":
                with store.lock:
                    store.requests.clear()
                self._send(200, {})
            elif path == "/_bench/shutdown":
                self._send(200, {})
                threading.Thread(target=server_box[0].shutdown, daemon=True).start()
            else:
                self._send(404, {"error": {"type": "index_not_found_exception"}})

    return Handler


@contextmanager
def running(alerts: int, max_seconds: float = 900) -> Iterator[str]:
    """Run this fake in a child process (its memory stays out of the caller's RSS).

    Yields the base URL; on exit asks the fake to shut down and waits for it.
    """
    import httpx

    fake = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--alerts", str(alerts),
         "--max-seconds", str(max_seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = fake.stdout.readline() if fake.stdout else ""
        if not line.startswith("PORT "):
            raise SystemExit(f"fake server did not start: {line!r}")
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        yield base
        httpx.post(f"{base}/_bench/shutdown", timeout=10)
    finally:
        try:
            fake.wait(timeout=15)
        except subprocess.TimeoutExpired:
            fake.terminate()
            fake.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    store = Store(args.alerts)
    box: list[ThreadingHTTPServer] = []
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(store, box))
    box.append(server)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sys.exit(0)


if __name__ == "__main__":
    main()
