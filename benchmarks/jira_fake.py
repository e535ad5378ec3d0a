"""A fake Jira on 127.0.0.1 for the ``jira`` collector benchmark.

Serves 100,000 vulnerability tickets (JQL containing ``Vulnerability``) and 2,000
incident tickets (any other JQL) through both search APIs:

* Cloud: ``POST``/``GET /rest/api/3/search/jql`` with ``nextPageToken``/``isLast`` and
  no ``total``; at most 100 issues a page when fields other than id/key are asked,
  5,000 otherwise (Atlassian's documented behaviour). ``/rest/api/{2,3}/search``
  answer 410 Gone in this mode, as on Cloud.
* Data Center: ``GET``/``POST /rest/api/2/search`` with ``startAt``/``maxResults``/
  ``total``; at most 1,000 a page (``jira.search.views.default.max``).

Also ``/rest/api/2/serverInfo``, ``/rest/api/{2,3}/myself`` (``timeZone``
Europe/Berlin) and ``/rest/api/{2,3}/field``. The ``updated >= "yyyy/MM/dd HH:mm"``
clause is honoured, read in the user's zone as Jira does. ``POST /_bench/touch?n=50``
marks the first n vulnerability tickets as updated now (the incremental scenario).
Every request can be delayed (``--latency 0.05``). Tickets are generated from their
index on the fly, so the fake itself stays small.

Run: ``python benchmarks/jira_fake.py --mode cloud --latency 0.05`` (prints the port,
stops by itself after ``--max-seconds``).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Berlin")
BASE = datetime(2025, 1, 1, tzinfo=UTC)
OLD_UPDATE = datetime(2026, 1, 1, tzinfo=UTC)
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
UPDATED = re.compile(r'updated\s*>=\s*"(\d{4}/\d{2}/\d{2} \d{2}:\d{2})"')


def _jira_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class Dataset:
    def __init__(self, vulns: int, incidents: int) -> None:
        self.counts = {"vuln": vulns, "incident": incidents}
        self.touched: dict[int, datetime] = {}

    def updated(self, kind: str, index: int) -> datetime:
        if kind == "vuln" and index in self.touched:
            return self.touched[index]
        return OLD_UPDATE

    def matching(self, kind: str, since: datetime | None) -> list[int] | range:
        if since is None:
            return range(self.counts[kind])
        if since <= OLD_UPDATE:
            return range(self.counts[kind])
        if kind != "vuln":
            return []
        return sorted(i for i, at in self.touched.items() if at >= since)

    def issue(self, kind: str, index: int, changelog: bool) -> dict[str, Any]:
        number = index + 1
        project = "SEC" if kind == "vuln" else "IR"
        issue_id = (100_000 if kind == "vuln" else 900_000) + number
        created = BASE + timedelta(minutes=5 * index)
        done = index % 3 == 0
        fields: dict[str, Any] = {
            "summary": f"CVE-2026-{10000 + index % 50000} in package-{index % 700}",
            "created": _jira_time(created),
            "updated": _jira_time(self.updated(kind, index)),
            "status": {"name": "Done" if done else "To Do", "id": "10001" if done else "1",
                       "statusCategory": {"id": 3 if done else 2,
                                          "key": "done" if done else "new",
                                          "name": "Done" if done else "To Do"}},
            "resolution": ({"id": "10000", "name": "Won't Fix" if index % 30 == 0
                            else "Done"} if done else None),
            "resolutiondate": _jira_time(created + timedelta(days=3)) if done else None,
            "priority": {"name": PRIORITIES[index % 5], "id": str(index % 5 + 1)},
            "project": {"id": "10000", "key": project, "name": project},
            "labels": ["security"],
        }
        body: dict[str, Any] = {"expand": "operations,changelog", "id": str(issue_id),
                                "self": f"http://fake/rest/api/2/issue/{issue_id}",
                                "key": f"{project}-{number}", "fields": fields}
        if changelog:
            histories = []
            if done:
                histories.append({"id": str(issue_id * 10), "created": fields["resolutiondate"],
                                  "items": [{"field": "status", "fieldtype": "jira",
                                             "from": "1", "fromString": "To Do",
                                             "to": "10001", "toString": "Done"}]})
            body["changelog"] = {"startAt": 0, "maxResults": len(histories),
                                 "total": len(histories), "histories": histories}
        return body


FIELDS = [{"id": k, "key": k, "name": k, "custom": False, "schema": {"type": t, "system": k}}
          for k, t in (("summary", "string"), ("created", "datetime"),
                       ("updated", "datetime"), ("resolutiondate", "datetime"),
                       ("status", "status"), ("resolution", "resolution"),
                       ("priority", "priority"), ("project", "project"),
                       ("labels", "array"), ("issuelinks", "array"))]


def make_handler(data: Dataset, mode: str, latency: float) -> type[BaseHTTPRequestHandler]:
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

        def _route(self) -> None:
            if latency:
                time.sleep(latency)
            path = urlsplit(self.path).path
            params = self._params()
            if path == "/_bench/touch":
                count = int(parse_qs(urlsplit(self.path).query).get("n", ["50"])[0])
                now = datetime.now(UTC)
                data.touched = {i: now for i in range(count)}
                return self._send(200, {"touched": count})
            if path == "/rest/api/2/serverInfo":
                return self._send(200, {"baseUrl": "http://fake", "version": "10.3.1",
                                        "deploymentType": "Cloud" if mode == "cloud"
                                        else "DataCenter", "serverTitle": "Fake Jira"})
            if path.endswith("/myself"):
                return self._send(200, {"accountId": "bench", "timeZone": "Europe/Berlin",
                                        "displayName": "bench", "active": True})
            if path.endswith("/field"):
                return self._send(200, FIELDS)
            if path == "/rest/api/3/search/jql" and mode == "cloud":
                return self._cloud(params)
            if path in ("/rest/api/2/search", "/rest/api/3/search"):
                if mode == "cloud":
                    return self._send(410, {"errorMessages": [
                        "The requested API has been removed. Please migrate to the "
                        "/rest/api/3/search/jql API."], "errors": {}})
                return self._dc(params)
            return self._send(404, {"errorMessages": ["not found"], "errors": {}})

        def _select(self, params: dict[str, Any]) -> tuple[str, list[int] | range, bool]:
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
            return kind, data.matching(kind, since), "changelog" in expand

        def _cloud(self, params: dict[str, Any]) -> None:
            kind, rows, changelog = self._select(params)
            fields = params.get("fields") or ["id"]
            if isinstance(fields, str):
                fields = fields.split(",")
            cap = 5000 if set(fields) <= {"id", "key"} else 100
            size = min(int(params.get("maxResults", 50)), cap)
            token = params.get("nextPageToken")
            start = int(base64.b64decode(token).decode()) if token else 0
            chunk = rows[start:start + size]
            body: dict[str, Any] = {"issues": [data.issue(kind, i, changelog) for i in chunk]}
            if start + size < len(rows):
                body["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
                body["isLast"] = False
            else:
                body["isLast"] = True
            self._send(200, body)

        def _dc(self, params: dict[str, Any]) -> None:
            kind, rows, changelog = self._select(params)
            size = min(int(params.get("maxResults", 50)), 1000)
            start = int(params.get("startAt", 0))
            chunk = rows[start:start + size]
            self._send(200, {"expand": "schema,names", "startAt": start, "maxResults": size,
                             "total": len(rows),
                             "issues": [data.issue(kind, i, changelog) for i in chunk]})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--vulns", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=2_000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    data = Dataset(args.vulns, args.incidents)
    server = ThreadingHTTPServer(("127.0.0.1", args.port),
                                 make_handler(data, args.mode, args.latency))
    server.daemon_threads = True
    threading.Timer(args.max_seconds, server.shutdown).start()
    print(server.server_address[1], flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
