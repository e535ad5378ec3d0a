"""A fake Elasticsearch/Kibana serving Elastic Security alerts, for the benchmarks.

Loopback only, standard library only. It implements what the ``elastic`` collector
uses, with the documented shapes and the documented strictness:

* ``POST /<index>/_pit?keep_alive=`` -> ``{"id": ...}``: a point in time that freezes
  the index as it was when opened; later changes are invisible through it.
* ``POST /_search`` with ``pit`` (and no index in the path: Elasticsearch refuses
  ``[indices] cannot be used with point in time``), ``sort: [{"_shard_doc": "asc"}]``,
  ``search_after``, ``size`` (at most ``index.max_result_window``, 10,000) and a
  ``bool.filter`` of ``range`` clauses (anything else is refused, never ignored). Every
  response carries a new ``pit_id``; only the most recent one is accepted (the
  documented rule: always use the most recently received id), and a point in time not
  used within its ``keep_alive`` expires (404 ``search_context_missing_exception``).
  ``track_total_hits: false`` leaves ``hits.total`` out, as Elasticsearch does.
* ``DELETE /_pit`` ``{"id": ...}`` -> ``{"succeeded": true, "num_freed": 1}`` (404 with
  ``num_freed: 0`` for an unknown id).
* ``POST [/s/<space>]/api/detection_engine/signals/search`` (Kibana) -> the first
  ``size`` hits of the range plus the exact ``hits.total``; ``search_after``/``from``
  are dropped, as Kibana's schema drops them. It reads the live index.
* ``GET [/s/<space>]/api/detection_engine/rules/_find?page=&per_page=`` (Kibana) ->
  ``{"page", "perPage", "total", "data"}``: one detection rule per rule name the alerts
  carry (``RULES``), with MITRE ATT&CK techniques in ``threat``; every fifth disabled.

The alerts (``generate``) are one quarter (2026-Q3) of detection alerts plus, by
default, 2 % as many older ones created in the 45 days before it: the collector's
window starts 14 days before the quarter, so some of them must be collected (they
belong to no published quarter) and the rest must not. Statuses: about 60 % closed
with a reason (a few without one, a few with a reason no mapping knows, which must be
skipped as ``unmapped_value``), 10 % acknowledged (some with the legacy
``in-progress``), 30 % open. Every tenth document nests its fields as objects
instead of flat dotted keys, as reindexed data does.

Bench-only endpoints (not counted as requests):

* ``POST /_bench/mutate`` ``{"at": iso, "changed": n, "new": m, "after_pages": k}``:
  close the first ``n`` open alerts (``issue_resolved`` at ``at``) and create ``m``
  new open ones at ``at``; with ``after_pages`` only once ``k`` more ``_search`` pages
  have been served (a change while a full pass is paging). Documents are replaced,
  not edited, so an open point in time keeps seeing the old ones.
* ``GET /_bench/stats`` -> requests served by family, alerts, open points in time,
  mutations applied, the fake's CPU seconds so far.
* ``POST /_bench/shutdown``

Run: ``python benchmarks/elastic_fake.py --alerts 200000`` prints ``PORT <n>`` and
serves until shut down or ``--max-seconds`` (default 900) pass, so it always stops.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

QUARTER_START = datetime(2026, 7, 1, tzinfo=UTC)
QUARTER_END = datetime(2026, 10, 1, tzinfo=UTC)
OLDER_SPAN = timedelta(days=45)  # older alerts: created in the 45 days before the quarter
REASONS = (["false_positive"] * 50 + ["duplicate"] * 10 + ["expected_activity"] * 15
           + ["acceptable_risk"] * 5 + ["issue_resolved"] * 20 + [None] * 2
           + ["escalated_to_case"])  # None: closed without a reason; the last: unknown
RULES = [f"Rule {i:02d}" for i in range(40)]
SEVERITIES = ["low", "medium", "high", "critical"]
RULE_TYPES = ["query", "eql", "threshold", "machine_learning", "new_terms"]
MAX_RESULT_WINDOW = 10_000
PIT_PATH = re.compile(r"^/[^/]+/_pit$")


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def uuid_of(position: int) -> str:
    return f"{position:08x}-5d2c-4b8e-9a77-{position:012x}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as generated: what the benchmark predicts from, in the vendor's terms."""

    position: int  # _shard_doc order
    created: str  # @timestamp, ISO with milliseconds
    rule: str
    severity: str
    status: str  # open / acknowledged / in-progress / closed
    reason: str | None
    updated: str | None  # kibana.alert.workflow_status_updated_at


def _alert(rng: random.Random, position: int, created: datetime, limit: datetime) -> Alert:
    rule, severity = rng.choice(RULES), rng.choice(SEVERITIES)
    roll = rng.random()
    if roll < 0.6:
        reason = rng.choice(REASONS)
        updated = min(created + timedelta(minutes=rng.randint(1, 600)), limit)
        return Alert(position, _iso(created), rule, severity, "closed", reason, _iso(updated))
    if roll < 0.7:
        status = "in-progress" if rng.random() < 0.2 else "acknowledged"
        updated = min(created + timedelta(minutes=rng.randint(1, 60)), limit)
        return Alert(position, _iso(created), rule, severity, status, None, _iso(updated))
    return Alert(position, _iso(created), rule, severity, "open", None, None)


def generate(count: int, older: int, seed: int = 7) -> Iterator[Alert]:
    """The alerts in position order: ``count`` in the quarter, then ``older`` before it."""
    rng = random.Random(seed)
    span = (QUARTER_END - timedelta(hours=2) - QUARTER_START).total_seconds()
    limit = QUARTER_END - timedelta(hours=1)
    for i in range(count):
        yield _alert(rng, i, QUARTER_START + timedelta(seconds=rng.random() * span), limit)
    rng_old = random.Random(seed + 1)
    for i in range(older):
        created = QUARTER_START - OLDER_SPAN * rng_old.random()
        yield _alert(rng_old, count + i, created, QUARTER_START)


def _doc(alert: Alert) -> dict[str, Any]:
    created = datetime.fromisoformat(alert.created.replace("Z", "+00:00"))
    doc: dict[str, Any] = {
        "@timestamp": alert.created,
        "kibana.alert.uuid": uuid_of(alert.position),
        "kibana.alert.original_time": _iso(created - timedelta(seconds=30)),
        "kibana.alert.rule.name": alert.rule,
        "kibana.alert.severity": alert.severity,
        "kibana.alert.workflow_status": alert.status,
    }
    if alert.reason is not None:
        doc["kibana.alert.workflow_reason"] = alert.reason
    if alert.updated is not None:
        doc["kibana.alert.workflow_status_updated_at"] = alert.updated
    return doc


def _nested(doc: dict[str, Any]) -> dict[str, Any]:
    """The same document with objects instead of dotted keys (reindexed data)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def rule(index: int) -> dict[str, Any]:
    """Detection rule ``index`` as ``rules/_find`` lists it (documented fields only)."""
    technique = f"T{1000 + index * 7 % 600:04d}"
    return {
        "id": f"{index:08x}-0000-4000-8000-{index:012x}", "rule_id": f"bench-rule-{index}",
        "name": RULES[index], "enabled": index % 5 != 4,
        "type": RULE_TYPES[index % len(RULE_TYPES)],
        "created_at": _iso(QUARTER_START - timedelta(days=400 - index)),
        "threat": [{"framework": "MITRE ATT&CK",
                    "tactic": {"id": "TA0002", "name": "Execution",
                               "reference": "https://attack.mitre.org/tactics/TA0002/"},
                    "technique": [{"id": technique, "name": "Technique",
                                   "reference": f"https://attack.mitre.org/techniques/"
                                                f"{technique}/",
                                   "subtechnique": [{"id": f"{technique}.001",
                                                     "name": "Sub-technique",
                                                     "reference": "https://attack.mitre.org/"}]
                                   if index % 3 == 0 else []}]}],
    }


def _keep_alive(value: Any) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(value))
    if not match:
        raise ValueError(f"failed to parse setting [keep_alive] with value [{value}]")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(match.group(1)) * unit


class BadRequest(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _error(status: int, kind: str, reason: str) -> BadRequest:
    return BadRequest(status, {"error": {"root_cause": [{"type": kind, "reason": reason}],
                                         "type": kind, "reason": reason}, "status": status})


@dataclass
class Pit:
    """An open point in time: the documents as they were, and the id to use next."""

    base: str
    docs: list[dict[str, Any]]
    version: int
    keep_alive: float
    expires: float
    generation: int = 0

    @property
    def current(self) -> str:
        return f"{self.base}_{self.generation}"


@dataclass
class Pending:
    pages: int
    at: str
    changed: int
    new: int


@dataclass
class Store:
    """The alerts, in _shard_doc order (list position), plus request counters."""

    count: int
    older: int
    seed: int = 7
    docs: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    pits: dict[str, Pit] = field(default_factory=dict)
    pits_opened: int = 0
    pending: list[Pending] = field(default_factory=list)
    mutations: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache: dict[tuple[int, str], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.docs = [_doc(a) for a in generate(self.count, self.older, self.seed)]
        self.rng = random.Random(self.seed + 2)

    def matching(self, docs: list[dict[str, Any]], version: int,
                 query: dict[str, Any]) -> list[int]:
        """Positions of the documents matching the ``range`` filters (cached per query)."""
        key = (version, json.dumps(query, sort_keys=True))
        with self.lock:
            hit = self.cache.get(key)
        if hit is not None:
            return hit
        clauses = query.get("bool", {}).get("filter") if isinstance(query, dict) else None
        if set(query) != {"bool"} or set(query["bool"]) != {"filter"} or not isinstance(
                clauses, list):
            raise _error(400, "parsing_exception", "the fake supports bool.filter only")
        ranges = []
        for clause in clauses:
            if set(clause) != {"range"}:
                raise _error(400, "parsing_exception",
                             f"the fake supports range clauses only, not {sorted(clause)}")
            for name, bounds in clause["range"].items():
                ranges.append((name, bounds.get("gte"), bounds.get("lt")))
        out = []
        for pos, doc in enumerate(docs):
            for name, gte, lt in ranges:
                value = doc.get(name)
                if value is None or (gte is not None and value < gte) or (
                        lt is not None and value >= lt):
                    break
            else:
                out.append(pos)
        with self.lock:
            self.cache[key] = out
        return out

    def mutate(self, at: str, changed: int, new: int) -> None:
        """Close the first ``changed`` open alerts and add ``new`` open ones (caller locks)."""
        self.version += 1
        self.mutations += 1
        docs = list(self.docs)  # a PIT holding the old list keeps seeing the old alerts
        closed = 0
        for pos, doc in enumerate(docs):
            if closed == changed:
                break
            if doc["kibana.alert.workflow_status"] == "open":
                docs[pos] = {**doc, "kibana.alert.workflow_status": "closed",
                             "kibana.alert.workflow_reason": "issue_resolved",
                             "kibana.alert.workflow_status_updated_at": at}
                closed += 1
        created = datetime.fromisoformat(at.replace("Z", "+00:00"))
        base = len(docs)
        for i in range(new):
            alert = _alert(self.rng, base + i, created, created)
            docs.append(_doc(Alert(alert.position, alert.created, alert.rule,
                                   alert.severity, "open", None, None)))
        self.docs = docs

    def count_request(self, name: str) -> None:
        with self.lock:
            self.requests[name] = self.requests.get(name, 0) + 1

    def open_pit(self, keep_alive: float) -> str:
        with self.lock:
            self.pits_opened += 1
            pit = Pit(f"fakepit{self.pits_opened:04d}", self.docs, self.version, keep_alive,
                      time.monotonic() + keep_alive)
            self.pits[pit.base] = pit
            return pit.current

    def use_pit(self, pit_id: str, keep_alive: Any) -> Pit:
        """The open PIT whose most recent id is ``pit_id``; a new id is issued."""
        with self.lock:
            pit = self.pits.get(pit_id.rsplit("_", 1)[0])
            if pit is not None and time.monotonic() > pit.expires:
                del self.pits[pit.base]
                pit = None
            if pit is None or pit.current != pit_id:
                raise _error(404, "search_context_missing_exception",
                             f"No search context found for id [{pit_id}]")
            if keep_alive is not None:
                pit.keep_alive = _keep_alive(keep_alive)
            pit.expires = time.monotonic() + pit.keep_alive
            pit.generation += 1
            return pit

    def page_served(self) -> None:
        with self.lock:
            for pending in list(self.pending):
                pending.pages -= 1
                if pending.pages <= 0:
                    self.pending.remove(pending)
                    self.mutate(pending.at, pending.changed, pending.new)

    def close_pit(self, pit_id: Any) -> bool:
        with self.lock:
            base = str(pit_id).rsplit("_", 1)[0]
            return self.pits.pop(base, None) is not None


def _hit(docs: list[dict[str, Any]], pos: int) -> dict[str, Any]:
    doc = docs[pos]
    return {"_index": ".internal.alerts-security.alerts-default-000001",
            "_id": doc["kibana.alert.uuid"], "_score": None,
            "_source": _nested(doc) if pos % 10 == 3 else doc, "sort": [pos]}


def _total(body: dict[str, Any], matches: int) -> dict[str, Any] | None:
    track = body.get("track_total_hits", MAX_RESULT_WINDOW)
    if track is False:
        return None
    if track is True:
        return {"value": matches, "relation": "eq"}
    limit = int(track)
    return ({"value": matches, "relation": "eq"} if matches <= limit
            else {"value": limit, "relation": "gte"})


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

        def do_DELETE(self) -> None:
            body = self._body()
            store.count_request("close_pit")
            if self.path.split("?", 1)[0] == "/_pit" and store.close_pit(body.get("id")):
                self._send(200, {"succeeded": True, "num_freed": 1})
            else:
                self._send(404, {"succeeded": True, "num_freed": 0})

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path.endswith("/api/detection_engine/rules/_find"):
                store.count_request("rules_find")
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                page, per_page = int(params.get("page", 1)), int(params.get("per_page", 20))
                listed = [rule(i) for i in range(len(RULES))]
                data = listed[(page - 1) * per_page:page * per_page]
                self._send(200, {"page": page, "perPage": per_page, "total": len(listed),
                                 "data": data})
            elif self.path == "/_bench/stats":
                with store.lock:
                    self._send(200, {"requests": dict(store.requests),
                                     "alerts": len(store.docs), "open_pits": len(store.pits),
                                     "mutations": store.mutations,
                                     "pending": len(store.pending),
                                     "cpu_seconds": time.process_time()})
            else:
                store.count_request(f"unexpected GET {self.path}")
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            body = self._body()
            try:
                self._post(path, query, body)
            except BadRequest as exc:
                self._send(exc.status, exc.body)
            except (KeyError, TypeError, ValueError) as exc:
                self._send(400, {"error": {"type": "parsing_exception", "reason": str(exc)},
                                 "status": 400})

        def _post(self, path: str, query: str, body: dict[str, Any]) -> None:
            if path.startswith("/_bench/"):
                return self._bench(path, body)
            if PIT_PATH.match(path):
                store.count_request("open_pit")
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                if "keep_alive" not in params:
                    raise _error(400, "action_request_validation_exception",
                                 "[keep_alive] is missing")
                return self._send(200, {"id": store.open_pit(_keep_alive(params["keep_alive"]))})
            if path.endswith("/_search"):
                store.count_request("search")
                return self._search(path, body)
            if path.endswith("/api/detection_engine/signals/search"):
                store.count_request("kibana_search")
                matches = store.matching(store.docs, store.version, body["query"])
                docs = store.docs
                page = matches[:body["size"]]
                return self._send(200, {
                    "took": 5, "timed_out": False,
                    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                    "hits": {"total": _total(body, len(matches)), "max_score": None,
                             "hits": [_hit(docs, p) for p in page]},
                })
            store.count_request(f"unexpected POST {path}")
            return self._send(404, {"error": {"type": "index_not_found_exception"}})

        def _search(self, path: str, body: dict[str, Any]) -> None:
            pit_ref = body.get("pit")
            if not isinstance(pit_ref, dict):
                raise _error(400, "action_request_validation_exception",
                             "the fake serves point-in-time searches only")
            if path != "/_search":
                raise _error(400, "action_request_validation_exception",
                             "[indices] cannot be used with point in time")
            size = body.get("size", 10)
            if not isinstance(size, int) or size > MAX_RESULT_WINDOW:
                raise _error(400, "illegal_argument_exception",
                             f"Result window is too large, from + size must be less than or "
                             f"equal to: [{MAX_RESULT_WINDOW}] but was [{size}]")
            if body.get("sort") != [{"_shard_doc": "asc"}]:
                raise _error(400, "illegal_argument_exception",
                             "the fake sorts by _shard_doc only")
            pit = store.use_pit(str(pit_ref.get("id")), pit_ref.get("keep_alive"))
            matches = store.matching(pit.docs, pit.version, body["query"])
            after = body.get("search_after")
            start = 0
            if after is not None:
                if not (isinstance(after, list) and len(after) == 1
                        and isinstance(after[0], int)):
                    raise _error(400, "illegal_argument_exception",
                                 "search_after has 1 value(s) but sort has 1: not "
                                 f"{after!r}")
                lo, hi = 0, len(matches)  # first position after the last sort value
                while lo < hi:
                    mid = (lo + hi) // 2
                    if matches[mid] <= after[0]:
                        lo = mid + 1
                    else:
                        hi = mid
                start = lo
            page = matches[start:start + size]
            hits: dict[str, Any] = {"max_score": None, "hits": [_hit(pit.docs, p) for p in page]}
            total = _total(body, len(matches))
            if total is not None:
                hits["total"] = total
            self._send(200, {"pit_id": pit.current, "took": 5, "timed_out": False,
                             "_shards": {"total": 1, "successful": 1, "skipped": 0,
                                         "failed": 0},
                             "hits": hits})
            store.page_served()

        def _bench(self, path: str, body: dict[str, Any]) -> None:
            if path == "/_bench/mutate":
                with store.lock:
                    if body.get("after_pages"):
                        store.pending.append(Pending(int(body["after_pages"]), body["at"],
                                                     body["changed"], body["new"]))
                    else:
                        store.mutate(body["at"], body["changed"], body["new"])
                    self._send(200, {"alerts": len(store.docs)})
            elif path == "/_bench/shutdown":
                self._send(200, {})
                threading.Thread(target=server_box[0].shutdown, daemon=True).start()
            else:
                self._send(404, {"error": "not found"})

    return Handler


@contextmanager
def running(alerts: int, older: int | None = None, max_seconds: float = 900) -> Iterator[str]:
    """Run this fake in a child process (its memory stays out of the caller's RSS).

    ``older`` defaults to 2 % of ``alerts``, as on the command line. Yields the base
    URL; on exit asks the fake to shut down and waits for it.
    """
    import httpx

    older = alerts // 50 if older is None else older
    fake = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--alerts", str(alerts), "--older", str(older),
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
    parser.add_argument("--older", type=int, default=None,
                        help="alerts created before the quarter (default: 2 %% of --alerts)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    older = args.older if args.older is not None else args.alerts // 50
    store = Store(args.alerts, older)
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
