"""A local fake GitHub for the collector benchmark (127.0.0.1 only, stops by itself).

Serves one organisation shaped like the issue's scale test: 5,000 repositories (1,000
archived), 20,000 Dependabot, 5,000 code scanning and 1,000 secret scanning alerts,
two code security configurations covering the active repositories, per-repository
code scanning analyses, and GraphQL review gates. Bodies come from the same builders as
the tests (tests/fixtures/github/builders.py), which are validated against GitHub's
OpenAPI description, so the benchmark parses what GitHub really sends.

Behaves like GitHub where it matters for cost: ``per_page`` up to 100, Link headers
(page numbers for repositories, ``after`` cursors for alerts and configurations), a
strong ETag on every 200 and ``304 Not Modified`` for a matching ``If-None-Match``,
``X-RateLimit-*`` headers (a 304 does not consume budget), and an optional fixed
latency per request.

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
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.github import builders as b

ORG = "bench-org"
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _ts(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeData:
    """Deterministic organisation contents (seeded), built once at start."""

    def __init__(self, repos: int = 5000, archived: int = 1000, dependabot: int = 20000,
                 code_scanning: int = 5000, secret_scanning: int = 1000,
                 advanced_setup: int = 50, seed: int = 42) -> None:
        rng = random.Random(seed)
        self.repos: list[dict[str, Any]] = []
        archived_every = repos // archived if archived else repos + 1
        for i in range(1, repos + 1):
            self.repos.append(b.minimal_repository(
                f"{ORG}/repo-{i:05d}", i, archived=(i % archived_every == 0),
                fork=(i % 50 == 1), topics=["service"] if i % 3 else ["library"],
                security_and_analysis=b.security_and_analysis(
                    "enabled" if i % 4 else "disabled", "enabled" if i % 8 else "disabled"),
            ))
        active = [r for r in self.repos if not r["archived"]]
        # advanced_setup active repos run Semgrep (not default setup): they need a probe.
        advanced = active[:advanced_setup]
        rest = active[advanced_setup:]
        split = len(rest) * 3 // 4
        self.configs = [
            (b.code_security_configuration(1, "Default setup", org=ORG),
             [(r["full_name"], r["id"]) for r in rest[:split]]),
            (b.code_security_configuration(2, "Baseline", default_setup="not_set", org=ORG),
             [(r["full_name"], r["id"]) for r in rest[split:]]),
        ]
        covered = rest[:split]

        def pick(pool: list[dict[str, Any]]) -> dict[str, Any]:
            return pool[rng.randrange(len(pool))]

        states = ["open"] * 5 + ["fixed"] * 3 + ["dismissed", "auto_dismissed"]
        severities = ["critical", "high", "high", "medium", "medium", "low"]
        self.alerts: dict[str, list[dict[str, Any]]] = {"dependabot": [],
                                                        "code-scanning": [],
                                                        "secret-scanning": []}
        for n in range(1, dependabot + 1):
            repo = pick(self.repos)
            created = rng.randrange(0, 400_000)
            state = rng.choice(states)
            closed = _ts(created + rng.randrange(60, 40_000))
            self.alerts["dependabot"].append(b.dependabot_alert(
                n, repo["full_name"], repo_id=repo["id"], state=state,
                severity=rng.choice(severities), created_at=_ts(created),
                updated_at=closed if state != "open" else _ts(created + 1),
                fixed_at=closed if state == "fixed" else None,
                dismissed_at=closed if state == "dismissed" else None,
                dismissed_reason="tolerable_risk" if state == "dismissed" else None,
                auto_dismissed_at=closed if state == "auto_dismissed" else None,
                cve_id=f"CVE-2026-{n:05d}" if n % 5 else None,
                published_at=_ts(max(0, created - 1440)),
            ))
        for n in range(1, code_scanning + 1):
            semgrep = n % 20 == 0
            repo = pick(advanced if semgrep and advanced else covered)
            created = rng.randrange(0, 400_000)
            state = rng.choice(["open", "open", "fixed", "dismissed"])
            closed = _ts(created + rng.randrange(60, 40_000))
            self.alerts["code-scanning"].append(b.code_scanning_alert(
                n, repo["full_name"], repo_id=repo["id"], state=state,
                tool="Semgrep" if semgrep else "CodeQL",
                security_severity_level=rng.choice([None, "high", "medium", "critical"]),
                created_at=_ts(created),
                updated_at=closed if state != "open" else _ts(created + 1),
                fixed_at=closed if state == "fixed" else None,
                dismissed_at=closed if state == "dismissed" else None,
                dismissed_reason="won't fix" if state == "dismissed" else None,
            ))
        for n in range(1, secret_scanning + 1):
            repo = pick(self.repos)
            created = rng.randrange(0, 400_000)
            resolved = n % 3 == 0
            self.alerts["secret-scanning"].append(b.secret_scanning_alert(
                n, repo["full_name"], repo_id=repo["id"],
                state="resolved" if resolved else "open",
                resolution="revoked" if resolved else None, created_at=_ts(created),
                updated_at=_ts(created + 30) if resolved else _ts(created),
                resolved_at=_ts(created + 30) if resolved else None,
            ))
        for items in self.alerts.values():
            items.sort(key=lambda a: a["updated_at"] or a["created_at"], reverse=True)
        self.analyses = {
            r["full_name"]: [b.code_scanning_analysis(
                r["id"], r["full_name"], tool="Semgrep",
                created_at=(datetime.now(UTC) - timedelta(days=2)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"))]
            for r in advanced
        }
        self.gates: dict[str, dict[str, Any]] = {}
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


class FakeGitHub:
    """Request routing, pagination, ETags and rate-limit accounting (thread-safe)."""

    def __init__(self, data: FakeData, latency: float = 0.0) -> None:
        self.data = data
        self.latency = latency
        self._lock = threading.Lock()
        self._rendered: dict[str, tuple[bytes, str, str | None]] = {}
        self.remaining = {"core": 5000, "graphql": 5000}
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
            return 404, b.error_body("no analysis found", "404"), None
        return 404, b.error_body("Not Found", "404"), None

    def graphql(self, body: bytes) -> tuple[int, Any, str | None]:
        ids = json.loads(body)["variables"]["ids"]
        return 200, b.graphql_gates([self.data.gates.get(i) for i in ids]), None

    def respond(self, method: str, host: str, target: str, body: bytes,
                if_none_match: str | None) -> tuple[int, dict[str, str], bytes]:
        if self.latency:
            time.sleep(self.latency)
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        resource = "graphql" if split.path == "/graphql" else "core"
        cached: tuple[bytes, str, str | None] | None = None
        if method == "POST" and split.path == "/graphql":
            status, payload, link = self.graphql(body)
            key = None
        else:
            key = f"{host}{target}"
            with self._lock:
                cached = self._rendered.get(key)
            if cached is None:
                status, payload, link = self.get(host, split.path, query)
            else:
                status, payload, link = 200, None, cached[2]
        if key is not None and cached is not None:
            content, etag = cached[0], cached[1]
        else:
            content = json.dumps(payload).encode()
            etag = '"' + hashlib.sha256(content).hexdigest()[:40] + '"'
            if key is not None and status == 200:
                with self._lock:
                    self._rendered[key] = (content, etag, link)
        with self._lock:
            headers = {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": str(self.remaining[resource]),
                "X-RateLimit-Reset": str(int(time.time()) + 3600),
                "X-RateLimit-Resource": resource,
            }
            if method == "GET" and status == 200 and if_none_match == etag:
                self.counts[304] = self.counts.get(304, 0) + 1
                return 304, {"ETag": etag, **headers}, b""
            self.remaining[resource] -= 1
            self.counts[status] = self.counts.get(status, 0) + 1
        headers.update({"Content-Type": "application/json; charset=utf-8", "ETag": etag})
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
                self.headers.get("If-None-Match"))
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
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after seconds")
    args = parser.parse_args()
    fake = FakeGitHub(FakeData(), latency=args.latency)
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
