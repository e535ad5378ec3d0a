"""A fake Jira on 127.0.0.1 for the ``jira`` collector benchmark.

Serves vulnerability tickets (JQL containing ``Vulnerability``) and incident tickets
(any other JQL) through both search APIs, in Atlassian's documented shapes:

* Cloud: ``POST``/``GET /rest/api/3/search/jql`` with ``nextPageToken``/``isLast`` and
  no ``total``; at most 100 issues a page when fields other than id/key are asked,
  5,000 otherwise. The token is opaque and bound to its query (a token sent with
  another JQL is refused with 400, as an expired one is). ``/rest/api/{2,3}/search``
  answer 410 Gone, as on Cloud. An anonymous search answers 200 with no issues (what
  Cloud does for a project the anonymous user cannot browse), ``/myself`` 401.
  Changelog histories come newest first.
* Data Center: ``GET``/``POST /rest/api/2/search`` with ``startAt``/``maxResults``/
  ``total``; at most 1,000 a page (``jira.search.views.default.max``); histories oldest
  first.

Also ``/rest/api/2/serverInfo`` (anonymous; a request carrying the other deployment's
kind of credential gets 401, as a Data Center server refuses Cloud's Basic e-mail +
token), ``/rest/api/{2,3}/myself`` (``timeZone`` Europe/Berlin) and
``/rest/api/{2,3}/field``. Every other endpoint wants the deployment's credential (Cloud:
Basic ``email:token``; DC: ``Bearer token``). The ``updated >= "yyyy/MM/dd HH:mm"``
clause is honoured, read in the user's zone as Jira does.

The tickets (``Dataset``) are generated from their index, relative to ``--anchor``, so
the benchmark can predict every published value from the same description. They
include the cases the collector must not get wrong: a done ticket without
``resolutiondate`` (fixed at its last status change), a ticket reopened by a transition
that left its resolution set (open), one reopened with the resolution cleared (open,
counted as reopened), a ``Won't Fix`` resolution (dismissed) and a priority no mapping
knows (skipped as ``unmapped_value``).

Bench-only endpoints (not counted): ``POST /_bench/touch?n=50`` marks the first n
vulnerability tickets as updated now (the incremental scenario); ``GET /_bench/stats``
returns the requests served by family
and the fake's CPU seconds so far. Every request can be delayed (``--latency``).

Run: ``python benchmarks/jira_fake.py --mode cloud --latency 0.05`` (prints the port,
stops by itself after ``--max-seconds``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Berlin")
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
UNKNOWN_PRIORITY = "Showstopper"  # in no default map: the collector must skip and count it
# What Jira's default priority scheme means (docs/collectors/jira.md, default map).
SEVERITY_OF = {"Highest": "critical", "High": "high", "Medium": "medium", "Low": "low",
               "Lowest": "low"}
OLDEST = timedelta(days=400)  # tickets are created from anchor - 400 days ...
NEWEST = timedelta(days=30)  # ... to anchor - 30 days, so every fix is in the past
UPDATED = re.compile(r'updated\s*>=\s*"(\d{4}/\d{2}/\d{2} \d{2}:\d{2})"')
EMAIL = "bench@example.com"
TOKEN = "bench-token"  # loopback only: the fake's own made-up credential


def _jira_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _status(done: bool) -> dict[str, Any]:
    return {"name": "Done" if done else "To Do", "id": "10001" if done else "1",
            "statusCategory": {"id": 3 if done else 2, "key": "done" if done else "new",
                               "name": "Done" if done else "To Do"}}


def _item(field: str, from_id: str | None, from_text: str | None, to_id: str | None,
          to_text: str | None) -> dict[str, Any]:
    return {"field": field, "fieldtype": "jira", "from": from_id, "fromString": from_text,
            "to": to_id, "toString": to_text}


CLOSE = (_item("status", "1", "To Do", "10001", "Done"),)
CLOSE_RESOLVED = (*CLOSE, _item("resolution", None, None, "10000", "Done"))
REOPEN = (_item("status", "10001", "Done", "1", "To Do"),)
REOPEN_CLEARED = (*REOPEN, _item("resolution", "10000", "Done", None, None))


@dataclass(frozen=True)
class Ticket:
    """One ticket: what Jira shows (fields, changelog) and what it means (the truth)."""

    kind: str  # "vuln" or "incident"
    index: int
    case: str  # open, fixed, dismissed, fixed_no_date, reopened_stale, reopened_cleared,
    #            unknown_priority (vulnerabilities); open, resolved (incidents)
    created: datetime
    priority: str
    done: bool  # status category done
    resolution: str | None
    resolutiondate: datetime | None
    history: tuple[tuple[datetime, tuple[dict[str, Any], ...]], ...]
    # The truth the benchmark predicts from: severity per the default map (None: the
    # priority is unknown and the ticket must be skipped), state, fix/resolution time.
    severity: str | None
    state: str  # open / fixed / dismissed
    resolved_at: datetime | None

    @property
    def issue_id(self) -> int:
        return (100_000 if self.kind == "vuln" else 900_000) + self.index + 1

    @property
    def record_id(self) -> str:
        return f"jira:{self.issue_id}"

    @property
    def updated(self) -> datetime:
        return max([self.created, *(at for at, _ in self.history)])


class Dataset:
    """Tickets generated from their index, relative to ``anchor`` (the bench's now)."""

    def __init__(self, vulns: int, incidents: int, anchor: datetime) -> None:
        self.counts = {"vuln": vulns, "incident": incidents}
        self.start = (anchor - OLDEST).astimezone(UTC).replace(microsecond=0)
        self.touched: dict[int, datetime] = {}
        self._last_updates: dict[str, list[datetime]] = {}
        span = (OLDEST - NEWEST).total_seconds()
        self.steps = {kind: max(1, int(span // max(1, n))) for kind, n in self.counts.items()}

    def ticket(self, kind: str, index: int) -> Ticket:
        created = self.start + timedelta(seconds=index * self.steps[kind])
        if kind == "incident":
            resolved = created + timedelta(hours=2 + index % 48, minutes=index % 60)
            if index % 4 == 3:
                return Ticket(kind, index, "open", created, PRIORITIES[index % 5], False,
                              None, None, (), SEVERITY_OF[PRIORITIES[index % 5]], "open", None)
            return Ticket(kind, index, "resolved", created, PRIORITIES[index % 5], True,
                          "Done", resolved, ((resolved, CLOSE_RESOLVED),),
                          SEVERITY_OF[PRIORITIES[index % 5]], "fixed", resolved)
        priority = UNKNOWN_PRIORITY if index % 997 == 996 else PRIORITIES[index % 5]
        severity = SEVERITY_OF.get(priority)
        fixed = created + timedelta(days=1 + index % 17, hours=index % 24, minutes=index % 60)
        reopened = fixed + timedelta(days=2)
        if severity is None:
            return Ticket(kind, index, "unknown_priority", created, priority, False, None,
                          None, (), None, "open", None)
        if index % 30 == 0:
            return Ticket(kind, index, "dismissed", created, priority, True, "Won't Fix",
                          fixed, ((fixed, (*CLOSE, _item("resolution", None, None, "10002",
                                                         "Won't Fix"))),),
                          severity, "dismissed", fixed)
        if index % 51 == 6:  # a workflow that closes without setting a resolution
            return Ticket(kind, index, "fixed_no_date", created, priority, True, None, None,
                          ((fixed, CLOSE),), severity, "fixed", fixed)
        if index % 3 == 0:
            return Ticket(kind, index, "fixed", created, priority, True, "Done", fixed,
                          ((fixed, CLOSE_RESOLVED),), severity, "fixed", fixed)
        if index % 33 == 1:  # reopened by a transition that left the resolution set
            return Ticket(kind, index, "reopened_stale", created, priority, False, "Done",
                          fixed, ((fixed, CLOSE_RESOLVED), (reopened, REOPEN)),
                          severity, "open", None)
        if index % 39 == 2:  # reopened with the resolution cleared
            return Ticket(kind, index, "reopened_cleared", created, priority, False, None,
                          None, ((fixed, CLOSE_RESOLVED), (reopened, REOPEN_CLEARED)),
                          severity, "open", None)
        return Ticket(kind, index, "open", created, priority, False, None, None, (),
                      severity, "open", None)

    def tickets(self, kind: str) -> Iterator[Ticket]:
        for index in range(self.counts[kind]):
            yield self.ticket(kind, index)

    def updated(self, ticket: Ticket) -> datetime:
        if ticket.kind == "vuln" and ticket.index in self.touched:
            return self.touched[ticket.index]
        return ticket.updated

    def matching(self, kind: str, since: datetime | None) -> list[int] | range:
        if since is None:
            return range(self.counts[kind])
        if kind not in self._last_updates:  # once (main warms it before serving)
            self._last_updates[kind] = [t.updated for t in self.tickets(kind)]
        touched = self.touched if kind == "vuln" else {}
        return [i for i, at in enumerate(self._last_updates[kind])
                if touched.get(i, at) >= since]

    def issue(self, kind: str, index: int, changelog: bool, cloud: bool) -> dict[str, Any]:
        t = self.ticket(kind, index)
        project = "SEC" if kind == "vuln" else "IR"
        number = index + 1
        fields: dict[str, Any] = {
            "summary": f"CVE-2026-{10000 + index % 50000} in package-{index % 700}",
            "created": _jira_time(t.created),
            "updated": _jira_time(self.updated(t)),
            "status": _status(t.done),
            "resolution": ({"id": "10002" if t.resolution == "Won't Fix" else "10000",
                            "name": t.resolution} if t.resolution else None),
            "resolutiondate": _jira_time(t.resolutiondate) if t.resolutiondate else None,
            "priority": {"name": t.priority, "id": str(index % 5 + 1)},
            "project": {"id": "10000", "key": project, "name": project},
            "labels": ["security"],
        }
        body: dict[str, Any] = {"expand": "operations,changelog", "id": str(t.issue_id),
                                "self": f"http://fake/rest/api/2/issue/{t.issue_id}",
                                "key": f"{project}-{number}", "fields": fields}
        if changelog:
            histories = [{"id": str(t.issue_id * 10 + n), "created": _jira_time(at),
                          "items": list(items)} for n, (at, items) in enumerate(t.history)]
            if cloud:
                histories.reverse()
            body["changelog"] = {"startAt": 0, "maxResults": len(histories),
                                 "total": len(histories), "histories": histories}
        return body


FIELDS = [{"id": k, "key": k, "name": k, "custom": False, "schema": {"type": t, "system": k}}
          for k, t in (("summary", "string"), ("created", "datetime"),
                       ("updated", "datetime"), ("resolutiondate", "datetime"),
                       ("status", "status"), ("resolution", "resolution"),
                       ("priority", "priority"), ("project", "project"),
                       ("labels", "array"), ("issuelinks", "array"))]


def family_of(path: str, jql: str) -> str:
    """The request family the benchmark's bound counts (shared with jira_bench.py)."""
    if path.endswith("/serverInfo"):
        return "serverInfo"
    if path.endswith("/myself"):
        return "myself"
    if path.endswith("/field"):
        return "field"
    if path in ("/rest/api/3/search/jql", "/rest/api/2/search", "/rest/api/3/search"):
        return "search vulnerabilities" if "Vulnerability" in jql else "search incidents"
    return f"unexpected {path}"


def _token(jql: str, offset: int) -> str:
    digest = hashlib.sha256(jql.encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{digest}:{offset}".encode()).decode()


def _offset(jql: str, token: str) -> int | None:
    try:
        digest, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if digest != hashlib.sha256(jql.encode()).hexdigest()[:12] or not offset.isdigit():
        return None
    return int(offset)


def make_handler(data: Dataset, mode: str, latency: float,
                 served: Counter[str]) -> type[BaseHTTPRequestHandler]:
    cloud = mode == "cloud"
    credential = ("Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
                  if cloud else f"Bearer {TOKEN}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            return

        def _send(self, status: int, body: Any) -> None:
            raw = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _params(self) -> dict[str, Any]:
            url = urlsplit(self.path)
            params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                params.update(json.loads(self.rfile.read(length)))
            return params

        def do_GET(self) -> None:
            self._route()

        def do_POST(self) -> None:
            self._route()

        def _unauthorized(self) -> None:
            self._send(401, {"errorMessages": ["You are not authenticated. Authentication "
                                               "required to perform this operation."],
                             "errors": {}})

        def _route(self) -> None:
            path = urlsplit(self.path).path
            params = self._params()
            if path == "/_bench/touch":
                count = int(params.get("n", 50))
                now = datetime.now(UTC)
                data.touched = {i: now for i in range(count)}
                return self._send(200, {"touched": count})
            if path == "/_bench/stats":
                with lock:
                    return self._send(200, {**served, "cpu_seconds": time.process_time()})
            with lock:
                served[family_of(path, str(params.get("jql", "")))] += 1
            if latency:
                time.sleep(latency)
            given = self.headers.get("Authorization")
            authenticated = given == credential
            if given is not None and not authenticated:
                return self._unauthorized()
            if path == "/rest/api/2/serverInfo":
                return self._send(200, {"baseUrl": "http://fake", "version": "10.3.1",
                                        "deploymentType": "Cloud" if cloud else "Server",
                                        "serverTitle": "Fake Jira"})
            if path in ("/rest/api/3/search/jql", "/rest/api/2/search",
                        "/rest/api/3/search"):
                if cloud and path != "/rest/api/3/search/jql":
                    return self._send(410, {"errorMessages": [
                        "The requested API has been removed. Please migrate to the "
                        "/rest/api/3/search/jql API."], "errors": {}})
                if not cloud and path != "/rest/api/2/search":
                    return self._send(404, {"errorMessages": ["not found"], "errors": {}})
                if not authenticated:
                    if cloud:  # anonymous: nothing browsable, no error
                        return self._send(200, {"issues": [], "isLast": True})
                    return self._unauthorized()
                return self._cloud(params) if cloud else self._dc(params)
            if not authenticated:
                return self._unauthorized()
            if path.endswith("/myself"):
                return self._send(200, {"accountId": "bench", "timeZone": "Europe/Berlin",
                                        "displayName": "bench", "active": True})
            if path.endswith("/field"):
                return self._send(200, FIELDS)
            return self._send(404, {"errorMessages": ["not found"], "errors": {}})

        def _select(self, params: dict[str, Any]) -> tuple[str, str, list[int] | range, bool]:
            jql = str(params.get("jql", ""))
            kind = "vuln" if "Vulnerability" in jql else "incident"
            since = None
            match = UPDATED.search(jql)
            if match:
                local = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M")
                since = local.replace(tzinfo=ZONE).astimezone(UTC)
            expand = params.get("expand") or ""
            if isinstance(expand, list):
                expand = ",".join(expand)
            return jql, kind, data.matching(kind, since), "changelog" in expand

        def _cloud(self, params: dict[str, Any]) -> None:
            jql, kind, rows, changelog = self._select(params)
            fields = params.get("fields") or ["id"]
            if isinstance(fields, str):
                fields = fields.split(",")
            cap = 5000 if set(fields) <= {"id", "key"} else 100
            size = min(int(params.get("maxResults", 50)), cap)
            token = params.get("nextPageToken")
            start = _offset(jql, str(token)) if token else 0
            if start is None:
                return self._send(400, {"errorMessages": [
                    "The provided next page token is invalid or expired."], "errors": {}})
            chunk = rows[start:start + size]
            body: dict[str, Any] = {"issues": [data.issue(kind, i, changelog, True)
                                               for i in chunk]}
            if start + size < len(rows):
                body["nextPageToken"] = _token(jql, start + size)
                body["isLast"] = False
            else:
                body["isLast"] = True
            self._send(200, body)

        def _dc(self, params: dict[str, Any]) -> None:
            _jql, kind, rows, changelog = self._select(params)
            size = min(int(params.get("maxResults", 50)), 1000)
            start = int(params.get("startAt", 0))
            chunk = rows[start:start + size]
            self._send(200, {"expand": "schema,names", "startAt": start, "maxResults": size,
                             "total": len(rows),
                             "issues": [data.issue(kind, i, changelog, False) for i in chunk]})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--vulns", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=2_000)
    parser.add_argument("--anchor", default=None,
                        help="ISO time the tickets are generated relative to (default: now)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    anchor = datetime.fromisoformat(args.anchor) if args.anchor else datetime.now(UTC)
    data = Dataset(args.vulns, args.incidents, anchor)
    for kind in data.counts:  # build the update index before serving, not during a run
        data.matching(kind, anchor)
    served: Counter[str] = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", args.port),
                                 make_handler(data, args.mode, args.latency, served))
    server.daemon_threads = True
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    print(server.server_address[1], flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
