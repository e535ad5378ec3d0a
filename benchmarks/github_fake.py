"""A local fake GitHub for the collector benchmark (127.0.0.1 only, stops by itself).

Serves one organisation shaped like a real estate rather than a happy path (default
5,000 repositories; the shares are fixed so the benchmark can predict its results):

* 10 % archived, 10 % forks; of the other (active, non-fork) repositories:
* 15 % under a code security configuration with CodeQL default setup;
* 30 % on advanced setup or third-party SARIF with a recent analysis (15 % CodeQL
  advanced setup, 15 % Semgrep / Snyk Code uploads), only part of them with alerts;
* 5 % with a stale analysis (60 days old), which does not count as covered;
* 50 % without any analysis: GitHub answers 404 "no analysis found" (no ETag), or for
  one in five 403 "Advanced Security must be enabled";
* 20,000 Dependabot, 5,000 code scanning and 1,000 secret scanning alerts (scaled with
  the repository count); GraphQL review gates for every repository.

Bodies come from the same builders as the tests (tests/fixtures/github/builders.py),
which are validated against GitHub's OpenAPI description, so the benchmark parses what
GitHub really sends.

Behaves like GitHub where it matters for cost: ``per_page`` up to 100, Link headers
(page numbers for repositories, ``after`` cursors for alerts and configurations), an
ETag on every 200 that varies with the credential and ``304 Not Modified`` for a
matching ``If-None-Match`` (a 304 does not consume budget), no ETag on 4xx, and a
budget per token and resource (``--budget`` an hour) with ``X-RateLimit-*`` headers: a
spent token is answered 403 (REST) or 200 with a ``RATE_LIMITED`` error (GraphQL),
``X-RateLimit-Remaining: 0``. An optional fixed latency per request.

Run: ``python benchmarks/github_fake.py --latency 0.05`` prints ``PORT <n>`` and serves
until ``--lifetime`` seconds have passed (default 900) or it is terminated.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.github import builders as b

ORG = "bench-org"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
GHAS_OFF = "Advanced Security must be enabled for this repository to use code scanning."


def _ts(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Shape:
    """The organisation's composition; the benchmark predicts its results from it."""

    repos: int = 5000
    seed: int = 42

    def scaled(self, count: int) -> int:
        """Alert counts given for 5,000 repositories, scaled to this size."""
        return max(1, count * self.repos // 5000)


class FakeData:
    """Deterministic organisation contents (seeded), built once at start.

    ``groups`` names the SAST situation of every active non-fork repository (see the
    module docstring); ``covered`` are the ones a correct collector counts as covered.
    ``bodies=False`` builds only that composition (what the benchmark predicts from),
    not the response bodies, so the benchmark process measures the collector's memory.
    """

    def __init__(self, shape: Shape = Shape(), now: datetime | None = None,
                 bodies: bool = True) -> None:
        rng = random.Random(shape.seed)
        now = now or datetime.now(UTC)
        self.shape = shape
        self.repos: list[dict[str, Any]] = []
        for i in range(1, shape.repos + 1):
            name, archived, fork = f"{ORG}/repo-{i:05d}", i % 10 == 0, i % 10 == 5
            self.repos.append(b.minimal_repository(
                name, i, archived=archived, fork=fork,
                topics=["service"] if i % 3 else ["library"],
                security_and_analysis=b.security_and_analysis(
                    "enabled" if i % 4 else "disabled", "enabled" if i % 8 else "disabled"),
            ) if bodies else {"full_name": name, "id": i, "archived": archived, "fork": fork})
        self.active = [r for r in self.repos if not r["archived"]]
        counted = [r for r in self.active if not r["fork"]]
        order = counted[:]
        rng.shuffle(order)
        n = len(order)
        cuts = [0, n * 15 // 100, n * 30 // 100, n * 45 // 100, n * 50 // 100, n]
        names = ("default_setup", "advanced", "sarif", "stale", "none")
        self.groups: dict[str, list[dict[str, Any]]] = {
            name: order[cuts[k]:cuts[k + 1]] for k, name in enumerate(names)
        }
        self.counted = counted
        self.covered = {r["full_name"] for g in ("default_setup", "advanced", "sarif")
                        for r in self.groups[g]}
        self.ghas_off = {r["full_name"] for r in self.groups["none"][::5]}
        baseline = [r for g in names[1:] for r in self.groups[g]]
        self.configs = [
            (b.code_security_configuration(1, "Default setup", org=ORG),
             [(r["full_name"], r["id"]) for r in self.groups["default_setup"]]),
            (b.code_security_configuration(2, "Baseline", default_setup="not_set", org=ORG),
             [(r["full_name"], r["id"]) for r in baseline]),
        ]
        self.alert_counts = {"dependabot": shape.scaled(20000),
                             "code-scanning": shape.scaled(5000),
                             "secret-scanning": shape.scaled(1000)}
        self.alerts: dict[str, list[dict[str, Any]]] = {k: [] for k in self.alert_counts}
        self.analyses: dict[str, list[dict[str, Any]]] = {}
        self.gates: dict[str, dict[str, Any]] = {}
        if bodies:
            self._bodies(rng, now)

    def _bodies(self, rng: random.Random, now: datetime) -> None:
        """Alerts, analyses and review gates (the response bodies)."""
        tools: dict[str, str] = {}
        for r in self.groups["default_setup"] + self.groups["advanced"] + self.groups["stale"]:
            tools[r["full_name"]] = "CodeQL"
        for k, r in enumerate(self.groups["sarif"]):
            tools[r["full_name"]] = "Semgrep" if k % 2 else "Snyk Code"
        # Code scanning alerts only where something uploads analyses, and not on every
        # such repository: a third of advanced setup and half of SARIF have none.
        alerted = (self.groups["default_setup"] + self.groups["stale"]
                   + self.groups["advanced"][len(self.groups["advanced"]) // 3:]
                   + self.groups["sarif"][len(self.groups["sarif"]) // 2:])
        recent, stale = _iso(now - timedelta(days=2)), _iso(now - timedelta(days=60))
        stale_names = {r["full_name"] for r in self.groups["stale"]}
        for name, tool in tools.items():
            when = stale if name in stale_names else recent
            repo_id = int(name.rsplit("-", 1)[1])
            self.analyses[name] = [
                b.code_scanning_analysis(repo_id * 10 + 1, name, tool=tool, created_at=when),
                b.code_scanning_analysis(repo_id * 10, name, tool=tool,
                                         created_at=_iso(now - timedelta(days=90))),
            ]

        def pick(pool: list[dict[str, Any]]) -> dict[str, Any]:
            return pool[rng.randrange(len(pool))]

        states = ["open"] * 5 + ["fixed"] * 3 + ["dismissed", "auto_dismissed"]
        severities = ["critical", "high", "high", "medium", "medium", "low"]
        for number in range(1, self.alert_counts["dependabot"] + 1):
            repo = pick(self.repos)
            created = rng.randrange(0, 400_000)
            state = rng.choice(states)
            closed = _ts(created + rng.randrange(60, 40_000))
            self.alerts["dependabot"].append(b.dependabot_alert(
                number, repo["full_name"], repo_id=repo["id"], state=state,
                severity=rng.choice(severities), created_at=_ts(created),
                updated_at=closed if state != "open" else _ts(created + 1),
                fixed_at=closed if state == "fixed" else None,
                dismissed_at=closed if state == "dismissed" else None,
                dismissed_reason="tolerable_risk" if state == "dismissed" else None,
                auto_dismissed_at=closed if state == "auto_dismissed" else None,
                cve_id=f"CVE-2026-{number:05d}" if number % 5 else None,
                published_at=_ts(max(0, created - 1440)),
            ))
        for number in range(1, self.alert_counts["code-scanning"] + 1):
            repo = pick(alerted)
            created = rng.randrange(0, 400_000)
            state = rng.choice(["open", "open", "fixed", "dismissed"])
            closed = _ts(created + rng.randrange(60, 40_000))
            self.alerts["code-scanning"].append(b.code_scanning_alert(
                number, repo["full_name"], repo_id=repo["id"], state=state,
                tool=tools[repo["full_name"]],
                security_severity_level=rng.choice([None, "high", "medium", "critical"]),
                created_at=_ts(created),
                updated_at=closed if state != "open" else _ts(created + 1),
                fixed_at=closed if state == "fixed" else None,
                dismissed_at=closed if state == "dismissed" else None,
                dismissed_reason="won't fix" if state == "dismissed" else None,
            ))
        for number in range(1, self.alert_counts["secret-scanning"] + 1):
            repo = pick(self.repos)
            created = rng.randrange(0, 400_000)
            resolved = number % 3 == 0
            self.alerts["secret-scanning"].append(b.secret_scanning_alert(
                number, repo["full_name"], repo_id=repo["id"],
                state="resolved" if resolved else "open",
                resolution="revoked" if resolved else None, created_at=_ts(created),
                updated_at=_ts(created + 30) if resolved else _ts(created),
                resolved_at=_ts(created + 30) if resolved else None,
            ))
        for items in self.alerts.values():
            items.sort(key=lambda a: a["updated_at"] or a["created_at"], reverse=True)
        for r in self.repos:
            i = r["id"]
            if i % 4 == 0:
                node = b.gate_node(r["node_id"], r["full_name"])
            elif i % 4 == 1:
                node = b.gate_node(r["node_id"], r["full_name"], protection=b.classic_protection(
                    reviews=2, checks=["ci"], dismiss_stale=True, admin_enforced=True))
            else:
                node = b.gate_node(r["node_id"], r["full_name"], rules=[
                    b.ruleset_rule("DELETION"), b.ruleset_rule("NON_FAST_FORWARD"),
                    b.ruleset_rule("PULL_REQUEST", {"requiredApprovingReviewCount": 1,
                                                    "requireCodeOwnerReview": i % 2 == 0,
                                                    "dismissStaleReviewsOnPush": False}),
                    b.ruleset_rule("REQUIRED_STATUS_CHECKS",
                                   {"requiredStatusChecks": [{"context": "ci"}]}),
                ])
            self.gates[r["node_id"]] = node

    def alert_count(self) -> int:
        return sum(self.alert_counts.values())


class FakeGitHub:
    """Request routing, pagination, ETags and per-token rate limits (thread-safe)."""

    def __init__(self, data: FakeData, latency: float = 0.0, budget: int = 5000) -> None:
        self.data = data
        self.latency = latency
        self.budget = budget
        self._lock = threading.Lock()
        self._rendered: dict[str, tuple[bytes, str, str | None]] = {}
        # (Authorization, resource) -> [remaining, reset epoch seconds]
        self.windows: dict[tuple[str, str], list[int]] = {}
        self.counts: dict[int, int] = {}

    def _page(self, base: str, query: dict[str, str], items: list[Any], cursor: bool,
              page_size: int) -> tuple[list[Any], str | None]:
        if cursor:
            after = query.get("after")
            start = int(base64.b64decode(after).decode()) if after else 0
        else:
            start = (int(query.get("page", "1")) - 1) * page_size
        chunk = items[start:start + page_size]
        if start + page_size >= len(items):
            return chunk, None
        nxt = {k: v for k, v in query.items() if k not in ("page", "after")}
        if cursor:
            nxt["after"] = base64.b64encode(str(start + page_size).encode()).decode()
        else:
            nxt["page"] = str(start // page_size + 2)
        return chunk, f'<{base}?{urlencode(nxt)}>; rel="next"'

    def get(self, host: str, path: str, query: dict[str, str]) -> tuple[int, Any, str | None]:
        d = self.data
        per_page = min(100, int(query.get("per_page", "30")))
        base = f"http://{host}{path}"
        if path == f"/orgs/{ORG}/repos":
            return 200, *self._page(base, query, d.repos, False, per_page)
        if path == f"/orgs/{ORG}/code-security/configurations":
            return 200, *self._page(base, query, [c for c, _ in d.configs], True, per_page)
        for config, attached in d.configs:
            if path == f"/orgs/{ORG}/code-security/configurations/{config['id']}/repositories":
                body = [b.configuration_repository(n, i) for n, i in attached]
                return 200, *self._page(base, query, body, True, per_page)
        for kind, items in d.alerts.items():
            if path == f"/orgs/{ORG}/{kind}/alerts":
                return 200, *self._page(base, query, items, True, per_page)
        if path.startswith("/repos/") and path.endswith("/code-scanning/analyses"):
            full = path[len("/repos/"):-len("/code-scanning/analyses")]
            if full in d.analyses:
                return 200, *self._page(base, query, d.analyses[full], False, per_page)
            if full in d.ghas_off:
                return 403, b.error_body(GHAS_OFF, "403"), None
            return 404, b.error_body("no analysis found", "404"), None
        return 404, b.error_body("Not Found", "404"), None

    def graphql(self, body: bytes) -> tuple[int, Any, str | None]:
        ids = json.loads(body)["variables"]["ids"]
        return 200, b.graphql_gates([self.data.gates.get(i) for i in ids]), None

    def _charge(self, who: str, resource: str, free: bool) -> tuple[int, int, bool]:
        """(remaining after this request, reset, refused) for one token's window."""
        now = int(time.time())
        window = self.windows.get((who, resource))
        if window is None or window[1] <= now:
            window = self.windows[(who, resource)] = [self.budget, now + 3600]
        if window[0] <= 0:
            return 0, window[1], True
        if not free:
            window[0] -= 1
        return window[0], window[1], False

    def respond(self, method: str, host: str, target: str, body: bytes,
                if_none_match: str | None, who: str) -> tuple[int, dict[str, str], bytes]:
        if self.latency:
            time.sleep(self.latency)
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        resource = "graphql" if split.path == "/graphql" else "core"
        if method == "POST" and split.path == "/graphql":
            status, payload, link = self.graphql(body)
            content = json.dumps(payload).encode()
        else:
            key = f"{host}{target}"
            with self._lock:
                cached = self._rendered.get(key)
            if cached is None:
                status, payload, link = self.get(host, split.path, query)
                content = json.dumps(payload).encode()
                if status == 200:
                    digest = hashlib.sha256(content).hexdigest()
                    with self._lock:
                        self._rendered[key] = (content, digest, link)
            else:
                status, (content, _, link) = 200, cached
        etag = None
        if status == 200 and method == "GET":
            # GitHub's ETags vary with the credential: a switched token re-reads pages.
            digest = hashlib.sha256(content).hexdigest()
            etag = '"' + hashlib.sha256((digest + who).encode()).hexdigest()[:40] + '"'
        not_modified = etag is not None and if_none_match == etag
        with self._lock:
            remaining, reset, refused = self._charge(who, resource, free=not_modified)
            rate = b.rate_limit_headers(remaining, reset, limit=self.budget, resource=resource)
            if refused:
                self.counts[-1] = self.counts.get(-1, 0) + 1  # -1: refused, budget spent
                if resource == "graphql":
                    return 200, {"Content-Type": "application/json", **rate}, json.dumps(
                        b.graphql_rate_limited()).encode()
                return 403, {"Content-Type": "application/json", **rate}, json.dumps(
                    b.rate_limit_error()).encode()
            if not_modified:
                self.counts[304] = self.counts.get(304, 0) + 1
                return 304, {"ETag": etag, **rate}, b""  # type: ignore[dict-item]
            self.counts[status] = self.counts.get(status, 0) + 1
        headers = {"Content-Type": "application/json; charset=utf-8", **rate}
        if etag:
            headers["ETag"] = etag
        if link:
            headers["Link"] = link
        return status, headers, content


def make_handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, content = fake.respond(
                method, self.headers.get("Host", "127.0.0.1"), self.path, body,
                self.headers.get("If-None-Match"), self.headers.get("Authorization", ""))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--repos", type=int, default=Shape.repos)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--budget", type=int, default=5000, help="requests per token an hour")
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after seconds")
    args = parser.parse_args()
    fake = FakeGitHub(FakeData(Shape(repos=args.repos)), latency=args.latency,
                      budget=args.budget)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(fake))
    server.daemon_threads = True
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
