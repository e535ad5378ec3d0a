"""GitHub collector: records, pagination, incremental runs, ETags, faults, secrets.

A small in-test GitHub (``Server``) answers through respx with bodies from
tests/fixtures/github/builders.py (validated against GitHub's OpenAPI description in
test_github_contract.py), real Link-header/cursor pagination, ETags and rate-limit
headers. Fault tests register a failing route in front of it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from collectors.base import CollectContext, CollectionResult, CollectorError, ErrorKind
from collectors.github import (
    GAUGE_RATE_LIMIT,
    GAUGE_RETRIES,
    GAUGE_RETRY_WAIT,
    GAUGE_TIER,
    GAUGE_UNREADABLE,
    GitHubCollector,
    GitHubSettings,
)
from collectors.records import FindingState, RecordKind, Severity
from tests.fixtures.github import builders as b

API = "https://api.github.com"
ORG = "octo-org"
TOKEN = "ghp_TESTTOKEN0123456789abcdefSECRET"
LEAKED = "ghp_LEAKEDVALUE_must_never_be_stored_42"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOGGER = "tests.github"


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Server:
    """A small GitHub: one org, paginated listings with ETags, GraphQL gates."""

    def __init__(self, page_size: int = 100) -> None:
        self.page_size = page_size
        self.repos = [
            b.minimal_repository(f"{ORG}/api", 1, topics=["python", "prod"],
                                 security_and_analysis=b.security_and_analysis()),
            b.minimal_repository(f"{ORG}/web", 2, topics=["js"]),
            b.minimal_repository(f"{ORG}/old", 3, archived=True),
            b.minimal_repository(f"{ORG}/fork", 4, fork=True,
                                 security_and_analysis=b.security_and_analysis(
                                     "disabled", "disabled")),
        ]
        self.configs = [(b.code_security_configuration(17), [(f"{ORG}/api", 1)])]
        self.alerts: dict[str, list[dict]] = {
            "dependabot": [
                b.dependabot_alert(1, f"{ORG}/api", severity="critical",
                                   created_at="2026-10-01T10:00:00Z",
                                   updated_at="2026-11-20T09:00:00Z"),
                b.dependabot_alert(2, f"{ORG}/web", repo_id=2, state="fixed",
                                   created_at="2026-10-01T10:00:00Z",
                                   fixed_at="2026-10-11T10:00:00Z",
                                   updated_at="2026-10-11T10:00:00Z", cve_id="CVE-2026-0002"),
                b.dependabot_alert(3, f"{ORG}/api", state="dismissed", severity="medium",
                                   created_at="2026-09-01T00:00:00Z",
                                   dismissed_at="2026-09-05T00:00:00Z",
                                   dismissed_reason="tolerable_risk",
                                   updated_at="2026-09-05T00:00:00Z", cve_id=None),
                b.dependabot_alert(4, f"{ORG}/api", state="auto_dismissed", severity="low",
                                   created_at="2026-08-01T00:00:00Z",
                                   auto_dismissed_at="2026-08-02T00:00:00Z",
                                   updated_at="2026-08-02T00:00:00Z"),
            ],
            "code-scanning": [
                b.code_scanning_alert(7, f"{ORG}/api", created_at="2026-11-01T00:00:00Z"),
                b.code_scanning_alert(8, f"{ORG}/web", repo_id=2, tool="Semgrep",
                                      state="fixed", security_severity_level=None,
                                      rule_severity="warning",
                                      created_at="2026-10-01T00:00:00Z",
                                      fixed_at="2026-10-03T00:00:00Z",
                                      updated_at="2026-10-03T00:00:00Z"),
                b.code_scanning_alert(9, f"{ORG}/api", state="dismissed",
                                      security_severity_level="medium",
                                      created_at="2026-09-01T00:00:00Z",
                                      dismissed_at="2026-09-02T00:00:00Z",
                                      dismissed_reason="false positive",
                                      updated_at="2026-09-02T00:00:00Z"),
            ],
            "secret-scanning": [
                b.secret_scanning_alert(5, f"{ORG}/web", repo_id=2,
                                        created_at="2026-11-10T00:00:00Z", secret=LEAKED),
                b.secret_scanning_alert(6, f"{ORG}/api", state="resolved", resolution="revoked",
                                        created_at="2026-10-10T00:00:00Z",
                                        resolved_at="2026-10-10T06:00:00Z"),
                b.secret_scanning_alert(10, f"{ORG}/api", state="resolved",
                                        resolution="used_in_tests",
                                        created_at="2026-10-09T00:00:00Z",
                                        resolved_at="2026-10-09T06:00:00Z"),
            ],
        }
        self.analyses = {f"{ORG}/web": [b.code_scanning_analysis(
            300, f"{ORG}/web", tool="Semgrep", created_at="2026-11-20T00:00:00Z")]}
        self.analysis_errors: dict[str, tuple[int, str]] = {}  # other than 404 no analysis
        self.gates: dict[str, dict] = {
            b.repo_node_id(1): b.gate_node(b.repo_node_id(1), f"{ORG}/api",
                                           protection=b.classic_protection(
                                               reviews=2, checks=["ci"], dismiss_stale=True,
                                               admin_enforced=True)),
            b.repo_node_id(2): b.gate_node(b.repo_node_id(2), f"{ORG}/web", rules=[
                b.ruleset_rule("DELETION"), b.ruleset_rule("NON_FAST_FORWARD"),
                b.ruleset_rule("PULL_REQUEST", {"requiredApprovingReviewCount": 1,
                                                "requireCodeOwnerReview": False,
                                                "dismissStaleReviewsOnPush": False}),
            ]),
            b.repo_node_id(4): b.gate_node(b.repo_node_id(4), f"{ORG}/fork"),
        }
        self.requests: list[httpx.Request] = []
        self.start_budget = 4000
        # Per Authorization header and resource, like GitHub; at 0 a request is refused.
        self.remaining: dict[tuple[str, str], int] = {}
        self.reset = 1800000000
        self.refused = 0  # primary-limit 403s answered

    # -- helpers
    def _page(self, request: httpx.Request, items: list, cursor: bool) -> httpx.Response:
        params = request.url.params
        if cursor:
            start = int(base64.b64decode(params["after"]).decode()) if params.get("after") else 0
        else:
            start = (int(params.get("page", "1")) - 1) * self.page_size
        chunk = items[start:start + self.page_size]
        headers = {}
        if start + self.page_size < len(items):
            nxt = request.url.copy_remove_param("page").copy_remove_param("after")
            if cursor:
                token = base64.b64encode(str(start + self.page_size).encode()).decode()
                nxt = nxt.copy_add_param("after", token)
            else:
                nxt = nxt.copy_add_param("page", str(start // self.page_size + 2))
            headers["Link"] = f'<{nxt}>; rel="next"'
        return self._json(request, chunk, headers)

    def _json(self, request: httpx.Request, body: Any, headers: dict | None = None,
              status: int = 200) -> httpx.Response:
        content = json.dumps(body).encode()
        who = request.headers.get("Authorization", "")
        # ETags vary with the credential on GitHub.
        etag = 'W/"' + hashlib.sha256(
            content + str(request.url).encode() + who.encode()).hexdigest() + '"'
        resource = "graphql" if request.url.path == "/graphql" else "core"
        left = self.remaining.setdefault((who, resource), self.start_budget)
        if left <= 0:
            self.refused += 1
            spent = b.rate_limit_headers(0, self.reset, resource=resource)
            if resource == "graphql":  # GraphQL answers 200 with a RATE_LIMITED error
                return httpx.Response(200, json=b.graphql_rate_limited(), headers=spent)
            return httpx.Response(403, json=b.rate_limit_error(), headers=spent)
        if request.headers.get("If-None-Match") == etag:  # a 304 costs no budget
            return httpx.Response(304, headers={
                "ETag": etag, **b.rate_limit_headers(left, self.reset, resource=resource)})
        self.remaining[(who, resource)] = left - 1
        return httpx.Response(status, content=content, headers={
            "Content-Type": "application/json; charset=utf-8",
            **({"ETag": etag} if status == 200 else {}),  # GitHub sends no ETag on a 404
            **b.rate_limit_headers(left - 1, self.reset, resource=resource),
            **(headers or {})})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/graphql":
            ids = json.loads(request.content)["variables"]["ids"]
            return self._json(request, b.graphql_gates([self.gates.get(i) for i in ids]))
        if path == f"/orgs/{ORG}/repos":
            return self._page(request, self.repos, cursor=False)
        if path == f"/orgs/{ORG}/code-security/configurations":
            return self._page(request, [c for c, _ in self.configs], cursor=True)
        for config, attached in self.configs:
            if path == f"/orgs/{ORG}/code-security/configurations/{config['id']}/repositories":
                body = [b.configuration_repository(n, i) for n, i in attached]
                return self._page(request, body, cursor=True)
        for kind, items in self.alerts.items():
            if path == f"/orgs/{ORG}/{kind}/alerts":
                ordered = sorted(items, key=lambda a: a["updated_at"] or a["created_at"],
                                 reverse=True)
                return self._page(request, ordered, cursor=True)
        if path.startswith("/repos/") and path.endswith("/code-scanning/analyses"):
            full = path[len("/repos/"):-len("/code-scanning/analyses")]
            if full in self.analyses:
                return self._page(request, self.analyses[full], cursor=False)
            if full in self.analysis_errors:
                status, message = self.analysis_errors[full]
                return self._json(request, b.error_body(message, str(status)), status=status)
            return self._json(request, b.error_body("no analysis found", "404"), status=404)
        return self._json(request, b.error_body("Not Found", "404"), status=404)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def make_settings(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> GitHubSettings:
    monkeypatch.setenv("GH_TEST_TOKEN", TOKEN)
    data: dict[str, Any] = {"organizations": [ORG], "tokens": [{"env": "GH_TEST_TOKEN"}],
                            "http": {"max_retries": 2}}
    data.update(overrides)
    return GitHubSettings.model_validate(data)


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_collector(settings: GitHubSettings) -> tuple[GitHubCollector, Sleeps]:
    collector = GitHubCollector("github-test", settings)
    sleeps = Sleeps()
    collector.sleep = sleeps  # type: ignore[method-assign]
    return collector, sleeps


def run(collector: GitHubCollector, state: dict | None = None,
        now: datetime = NOW) -> CollectionResult:
    ctx = CollectContext(name="github-test", now=now, state=state or {},
                         logger=logging.getLogger(LOGGER))
    return asyncio.run(collector.collect(ctx))


def serve(server: Server, before: Callable[[respx.MockRouter], None] | None = None,
          handler: Callable[[httpx.Request], Any] | None = None):
    router = respx.mock(assert_all_called=False)
    if before is not None:
        before(router)
    router.route(host="api.github.com").mock(side_effect=handler or server.handle)
    return router


class Latency:
    """An async side effect in front of ``server``: GitHub counts a request when it
    receives it and the answer arrives a moment later, so requests really overlap."""

    def __init__(self, server: Server, seconds: float = 0.002) -> None:
        self.server, self.seconds = server, seconds
        self.in_flight = self.peak = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.server.handle(request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.in_flight -= 1
        return response


def by_id(result: CollectionResult) -> dict[str, Any]:
    return {r.id: r for r in [*result.findings, *current(result)]}


def current(result: CollectionResult) -> list[Any]:
    """The repositories as of the run, without the previous quarter's reconstructed
    snapshots (tests below the SAST section cover those)."""
    return [r for r in result.repositories if r.observed_at is None]


def gauge(result: CollectionResult, name: str, **labels: str) -> float | None:
    for g in result.gauges:
        if g.name == name and dict(g.labels) == labels:
            return g.value
    return None


# ------------------------------------------------------------------ full pass


def test_full_pass_returns_repositories_and_findings(monkeypatch, caplog) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(monkeypatch))
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with serve(server):
        result = run(collector)

    assert result.complete == frozenset({RecordKind.REPOSITORY, RecordKind.FINDING})
    repos = {r.name: r for r in result.repositories}
    assert set(repos) == {f"{ORG}/api", f"{ORG}/web", f"{ORG}/old", f"{ORG}/fork"}
    api, web, old, fork = (repos[f"{ORG}/{n}"] for n in ("api", "web", "old", "fork"))
    assert api.id == "1" and api.source == "github-test" and api.topics == ("python", "prod")
    # api: default setup via the code security configuration, classic protection tier 5.
    assert (api.sast_enabled, api.sast_tools) == (True, ("CodeQL (default setup)",))
    assert api.review_gate_tier == 5
    assert (api.secret_scanning, api.push_protection, api.dependency_alerts) == (True, True, True)
    # web: Semgrep analysis 3 days old (probed because it has Semgrep alerts); rulesets only.
    assert (web.sast_enabled, web.sast_tools) == (True, ("Semgrep",))
    assert web.review_gate_tier == 2
    # Secret alerts prove secret scanning; push protection and Dependabot state unknown
    # (no security_and_analysis, not in a configuration) ... except Dependabot alerts seen.
    assert (web.secret_scanning, web.push_protection, web.dependency_alerts) == (True, None, True)
    assert old.archived and old.sast_enabled is None and old.review_gate_tier is None
    # Forks are not probed by default (coverage leaves them out): not evaluated.
    assert fork.fork and fork.sast_enabled is None and fork.review_gate_tier == 0
    assert (fork.secret_scanning, fork.push_protection, fork.dependency_alerts) == (
        False, False, None)

    found = by_id(result)
    d1 = found[f"dependabot:{ORG}/api#1"]
    assert (d1.severity, d1.state, d1.resolved_at, d1.category) == (
        Severity.CRITICAL, FindingState.OPEN, None, "dependency")
    assert d1.opened_at == datetime(2026, 10, 1, 10, tzinfo=UTC)
    assert d1.disclosed_at == datetime(2026, 9, 20, tzinfo=UTC)
    assert d1.cve_ids == ("CVE-2026-1234",) and d1.asset == f"{ORG}/api"
    d2 = found[f"dependabot:{ORG}/web#2"]
    assert (d2.state, d2.resolved_at, d2.cve_ids) == (
        FindingState.FIXED, datetime(2026, 10, 11, 10, tzinfo=UTC), ("CVE-2026-0002",))
    d3 = found[f"dependabot:{ORG}/api#3"]
    assert (d3.state, d3.dismissed_reason, d3.cve_ids, d3.severity) == (
        FindingState.DISMISSED, "tolerable_risk", (), Severity.MEDIUM)
    d4 = found[f"dependabot:{ORG}/api#4"]
    assert (d4.state, d4.dismissed_reason, d4.resolved_at) == (
        FindingState.DISMISSED, "auto_dismissed", datetime(2026, 8, 2, tzinfo=UTC))
    c7 = found[f"code-scanning:{ORG}/api#7"]
    assert (c7.severity, c7.state, c7.category) == (Severity.HIGH, FindingState.OPEN, "code")
    c8 = found[f"code-scanning:{ORG}/web#8"]  # no security_severity_level: warning -> medium
    assert (c8.severity, c8.state, c8.resolved_at) == (
        Severity.MEDIUM, FindingState.FIXED, datetime(2026, 10, 3, tzinfo=UTC))
    c9 = found[f"code-scanning:{ORG}/api#9"]
    assert (c9.state, c9.dismissed_reason, c9.severity) == (
        FindingState.DISMISSED, "false positive", Severity.MEDIUM)
    s5, s6, s10 = (found[f"secret-scanning:{ORG}/{r}#{n}"]
                   for r, n in (("web", 5), ("api", 6), ("api", 10)))
    assert (s5.state, s5.severity, s5.category) == (FindingState.OPEN, Severity.HIGH, "secret")
    assert (s6.state, s6.resolved_at) == (FindingState.FIXED, datetime(2026, 10, 10, 6, tzinfo=UTC))
    assert (s10.state, s10.dismissed_reason) == (FindingState.DISMISSED, "used_in_tests")
    assert len(result.findings) == 10 and not result.record_errors

    # Requests: org-level listings at 100 a page, secrets hidden, token as bearer.
    for request in server.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        if request.method == "GET" and "page" not in request.url.params \
                and "after" not in request.url.params:
            assert request.url.params["per_page"] == "100"
    secret_calls = [r for r in server.requests if r.url.path.endswith("secret-scanning/alerts")]
    assert [r.url.params["hide_secret"] for r in secret_calls] == ["true"]
    assert {r.url.params["sort"] for r in secret_calls} == {"updated"}
    # Only web needed a per-repository analyses call; one GraphQL call for 3 active repos.
    assert [p for p in server.paths() if p.startswith("/repos/")] == [
        f"/repos/{ORG}/web/code-scanning/analyses"]
    assert server.paths().count("/graphql") == 1

    assert gauge(result, GAUGE_RATE_LIMIT, resource="core") is not None
    assert gauge(result, GAUGE_UNREADABLE, setting="push_protection") == 1.0
    assert gauge(result, GAUGE_UNREADABLE, setting="sast") == 0.0
    assert gauge(result, GAUGE_TIER, tier="5") == 1.0
    assert gauge(result, GAUGE_TIER, tier="0") == 1.0
    assert TOKEN not in caplog.text


def test_secret_values_never_reach_records_state_or_logs(monkeypatch, caplog) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(monkeypatch))
    caplog.set_level(logging.DEBUG)
    with serve(server):
        result = run(collector)
    assert any(f.category == "secret" for f in result.findings)
    everything = repr(result.findings) + json.dumps(result.state) + caplog.text
    assert LEAKED not in everything
    assert TOKEN not in everything


def test_filters_by_name_topic_and_custom_property(monkeypatch) -> None:
    server = Server()
    server.repos[0]["custom_properties"] = {"tier": "critical"}
    server.repos[1]["custom_properties"] = {"tier": "low"}
    collector, _ = make_collector(make_settings(
        monkeypatch, exclude_repositories=["old"], exclude_topics=["js"],
        include_properties={"tier": ["crit*"]}))
    with serve(server):
        result = run(collector)
    assert [r.name for r in result.repositories] == [f"{ORG}/api"]
    assert {f.asset for f in result.findings} == {f"{ORG}/api"}


def test_reopened_alert_keeps_its_created_at(monkeypatch) -> None:
    server = Server()
    reopened = b.dependabot_alert(11, f"{ORG}/api", state="open",
                                  created_at="2026-01-05T00:00:00Z",
                                  fixed_at="2026-02-01T00:00:00Z",
                                  updated_at="2026-11-22T00:00:00Z")
    server.alerts["dependabot"] = [reopened]
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        finding = by_id(run(collector))[f"dependabot:{ORG}/api#11"]
    assert finding.state is FindingState.OPEN and finding.resolved_at is None
    assert finding.opened_at == datetime(2026, 1, 5, tzinfo=UTC)


def test_link_header_and_cursor_pagination(monkeypatch) -> None:
    server = Server(page_size=1)
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        result = run(collector)
    assert len(current(result)) == 4 and len(result.findings) == 10
    repo_pages = [r.url.params.get("page") for r in server.requests
                  if r.url.path == f"/orgs/{ORG}/repos"]
    assert repo_pages == [None, "2", "3", "4"]
    dependabot = [r for r in server.requests if r.url.path.endswith("dependabot/alerts")]
    assert len(dependabot) == 4 and "after" in dependabot[-1].url.params


# --------------------------------------------------------- incremental + ETags


def test_unchanged_second_run_is_answered_304_and_reuses_the_cache(monkeypatch) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        first = run(collector)
        server.requests.clear()
        second = run(collector, first.state, NOW + timedelta(minutes=15))
    assert RecordKind.FINDING not in second.complete  # incremental: upsert only
    assert second.complete == frozenset({RecordKind.REPOSITORY})
    assert second.findings == []
    assert sorted(second.repositories, key=lambda r: r.id) == sorted(
        first.repositories, key=lambda r: r.id)
    statuses = [collector.last_api.client.stats.by_status]  # type: ignore[union-attr]
    assert "/graphql" not in server.paths()  # gates reused until gate_refresh
    assert statuses[0][304] == len(server.requests) and statuses[0][200] == 0
    assert all("If-None-Match" in r.headers for r in server.requests)


def test_incremental_run_stops_at_the_watermark(monkeypatch) -> None:
    server = Server(page_size=1)
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        first = run(collector)
        server.alerts["dependabot"][1] = b.dependabot_alert(
            2, f"{ORG}/web", repo_id=2, state="dismissed", created_at="2026-10-01T10:00:00Z",
            dismissed_at="2026-11-23T11:00:00Z", dismissed_reason="not_used",
            updated_at="2026-11-23T11:00:00Z")
        server.requests.clear()
        second = run(collector, first.state, NOW + timedelta(minutes=15))
    dependabot = [r for r in server.requests if r.url.path.endswith("dependabot/alerts")]
    # Pages of one alert: the changed one, the one at the watermark (same second: read
    # again, harmless), then the first older one ends the listing; page 4 is never asked.
    assert len(dependabot) == 3
    assert [f.id for f in second.findings] == [f"dependabot:{ORG}/web#2", f"dependabot:{ORG}/api#1"]
    changed = by_id(second)[f"dependabot:{ORG}/web#2"]
    assert (changed.state, changed.dismissed_reason) == (FindingState.DISMISSED, "not_used")
    assert second.state["orgs"][ORG]["watermarks"]["dependabot"] == "2026-11-23T11:00:00+00:00"


def test_full_pass_repeats_after_the_interval(monkeypatch) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(monkeypatch, full_pass_interval="24h"))
    with serve(server):
        first = run(collector)
        server.requests.clear()
        later = run(collector, first.state, NOW + timedelta(hours=25))
    assert RecordKind.FINDING in later.complete and len(later.findings) == 10
    alert_calls = [r for r in server.requests if "/alerts" in r.url.path]
    assert alert_calls and not any("If-None-Match" in r.headers for r in alert_calls)
    assert "/graphql" in server.paths()


# --------------------------------------------------------------------- faults


def _status(status: int, body: bytes | None = None, headers: dict | None = None,
            content_type: str = "application/json"):
    def respond(request: httpx.Request) -> httpx.Response:
        content = body if body is not None else json.dumps(
            b.error_body(f"HTTP {status}", str(status))).encode()
        return httpx.Response(status, content=content,
                              headers={"Content-Type": content_type, **(headers or {})})
    return respond


HTML = b"<html><head><title>Unicorn!</title></head><body>GitHub is down</body></html>"

FAULTS = {
    "401": (_status(401, json.dumps(b.error_body("Bad credentials", "401")).encode()),
            ErrorKind.AUTH),
    "403": (_status(403, json.dumps(b.error_body("Must have admin rights")).encode()),
            ErrorKind.PERMISSION),
    "404": (_status(404), ErrorKind.NOT_FOUND),
    "422": (_status(422, json.dumps(b.error_body("Validation Failed")).encode()),
            ErrorKind.CLIENT),
    "429": (_status(429, headers={"Retry-After": "7"}), ErrorKind.RATE_LIMITED),
    "500": (_status(500), ErrorKind.SERVER),
    "502-html": (_status(502, HTML, content_type="text/html"), ErrorKind.SERVER),
    "timeout": (httpx.ReadTimeout("read timed out"), ErrorKind.TIMEOUT),
    "truncated": (_status(200, b'[{"id": 1, "full_na'), ErrorKind.MALFORMED_RESPONSE),
    "html-200": (_status(200, HTML, content_type="text/html"), ErrorKind.MALFORMED_RESPONSE),
    "not-a-list": (_status(200, b'{"message": "ok"}'), ErrorKind.MALFORMED_RESPONSE),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_repository_listing_fault_fails_the_run_and_the_next_run_recovers(
    monkeypatch, caplog, fault: str
) -> None:
    side_effect, kind = FAULTS[fault]
    server = Server()
    collector, sleeps = make_collector(make_settings(monkeypatch))
    caplog.set_level(logging.DEBUG)
    repos = f"{API}/orgs/{ORG}/repos"
    with serve(server, lambda r: r.get(repos).mock(side_effect=side_effect)), \
            pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is kind
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text
    if fault == "429":
        assert sleeps == [7.0, 7.0]  # Retry-After honoured on each retry
    with serve(server):
        recovered = run(collector)
    assert len(current(recovered)) == 4 and len(recovered.findings) == 10


@pytest.mark.parametrize(("fault", "kind"), [
    ("500", ErrorKind.SERVER), ("html-200", ErrorKind.MALFORMED_RESPONSE),
    ("timeout", ErrorKind.TIMEOUT), ("401", ErrorKind.AUTH),
])
def test_pagination_breaking_midway_fails_cleanly(monkeypatch, fault: str, kind) -> None:
    server = Server(page_size=2)
    collector, _ = make_collector(make_settings(monkeypatch))

    def broken(router: respx.MockRouter) -> None:
        router.get(url__regex=r".*/dependabot/alerts\?.*after=.*").mock(
            side_effect=FAULTS[fault][0])

    with serve(server, broken), pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is kind
    with serve(server):
        assert len(run(collector).findings) == 10


def test_retry_after_429_then_success(monkeypatch) -> None:
    server = Server()
    collector, sleeps = make_collector(make_settings(monkeypatch))
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "3"})
        return server.handle(request)

    with serve(server, lambda r: r.get(f"{API}/orgs/{ORG}/repos").mock(side_effect=flaky)):
        result = run(collector)
    assert sleeps == [3.0] and len(current(result)) == 4
    assert gauge(result, GAUGE_RETRIES, kind="rate_limit") == 1.0
    assert gauge(result, GAUGE_RETRIES, kind="transient") == 0.0
    assert gauge(result, GAUGE_RETRY_WAIT) == 3.0


@pytest.mark.parametrize(("headers", "body", "expected_wait"), [
    ({"Retry-After": "5"}, b.error_body("You have exceeded a secondary rate limit."), 5.0),
    ({}, b.error_body("You have exceeded a secondary rate limit."), 60.0),
    ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "REL+30"},
     b.error_body("API rate limit exceeded"), 30.0),
])
def test_secondary_and_primary_rate_limit_403_are_waited_out(
    monkeypatch, headers: dict, body: dict, expected_wait: float
) -> None:
    import time

    server = Server()
    collector, sleeps = make_collector(make_settings(monkeypatch))
    if headers.get("X-RateLimit-Reset") == "REL+30":
        headers = {**headers, "X-RateLimit-Reset": str(int(time.time()) + 30)}
    calls = {"n": 0}

    def limited(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(403, json=body, headers=headers)
        return server.handle(request)

    route = f"{API}/orgs/{ORG}/dependabot/alerts"
    with serve(server, lambda r: r.get(route).mock(side_effect=limited)):
        result = run(collector)
    assert len(sleeps) == 1 and abs(sleeps[0] - expected_wait) <= 1.5
    assert len(result.findings) == 10


def test_link_to_another_host_is_refused(monkeypatch) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(monkeypatch))

    def evil(request: httpx.Request) -> httpx.Response:
        response = server.handle(request)
        response.headers["Link"] = '<https://evil.example/steal?page=2>; rel="next"'
        return response

    repos = f"{API}/orgs/{ORG}/repos"
    with serve(server, lambda r: r.get(repos).mock(side_effect=evil)), \
            pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert not any(r.url.host == "evil.example" for r in server.requests)


# ------------------------------------------------- not enabled / missing scope


def test_feature_not_enabled_is_false_never_zero_alerts(monkeypatch) -> None:
    server = Server()
    server.configs = []
    message = "Advanced Security must be enabled for this repository to use code scanning."
    collector, _ = make_collector(make_settings(monkeypatch))
    route = f"{API}/orgs/{ORG}/code-scanning/alerts"
    with serve(server, lambda r: r.get(route).respond(403, json=b.error_body(message, "403"))):
        result = run(collector)
    repos = {r.name: r for r in result.repositories}
    assert repos[f"{ORG}/api"].sast_enabled is False  # read as "off", not unknown
    assert not [f for f in result.findings if f.category == "code"]
    # Previous code-scanning findings must not be deleted as if there were zero alerts.
    assert RecordKind.FINDING not in result.complete


def test_missing_scope_is_reported_once_naming_the_permission(monkeypatch, caplog) -> None:
    server = Server()
    server.configs = []
    collector, _ = make_collector(make_settings(monkeypatch))
    caplog.set_level(logging.INFO, logger=LOGGER)
    route = f"{API}/orgs/{ORG}/dependabot/alerts"
    refusal = {"X-Accepted-GitHub-Permissions": "vulnerability_alerts=read"}

    def refuse(router: respx.MockRouter) -> None:
        router.get(route).respond(
            403, json=b.error_body("Resource not accessible by personal access token", "403"),
            headers=refusal)

    with serve(server, refuse):
        first = run(collector)
        second = run(collector, first.state, NOW + timedelta(minutes=15))
    warnings = [r.getMessage() for r in caplog.records if "lacks a permission" in r.getMessage()]
    assert len(warnings) == 1 and "vulnerability_alerts=read" in warnings[0]
    assert TOKEN not in caplog.text
    api = {r.name: r for r in first.repositories}[f"{ORG}/api"]
    assert api.dependency_alerts is None
    assert RecordKind.FINDING not in first.complete
    assert not [f for f in first.findings if f.category == "dependency"]
    assert gauge(first, GAUGE_UNREADABLE, setting="dependency_alerts") == 3.0
    assert second.complete == frozenset({RecordKind.REPOSITORY})


# ---------------------------------------------------------- bad records


def test_bad_records_are_skipped_and_counted(monkeypatch, caplog) -> None:
    server = Server()
    broken = b.dependabot_alert(20, f"{ORG}/api", updated_at="2026-11-21T00:00:00Z")
    del broken["created_at"]
    unknown = b.code_scanning_alert(21, f"{ORG}/api", updated_at="2026-11-21T00:00:00Z")
    unknown["state"] = "quarantined"
    unknown2 = b.code_scanning_alert(22, f"{ORG}/api", updated_at="2026-11-21T00:00:00Z")
    unknown2["state"] = "quarantined"
    server.alerts["dependabot"].append(broken)
    server.alerts["code-scanning"].extend([unknown, unknown2])
    collector, _ = make_collector(make_settings(monkeypatch))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with serve(server):
        result = run(collector)
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 1
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2
    assert len(result.findings) == 10
    assert sum("quarantined" in r.getMessage() for r in caplog.records) == 1  # logged once


# ------------------------------------------------------- budgets and tokens


def test_low_budget_switches_to_the_next_token(monkeypatch) -> None:
    monkeypatch.setenv("GH_TEST_TOKEN_2", "ghp_SECONDTOKEN")
    server = Server()
    server.remaining[(f"Bearer {TOKEN}", "core")] = 120  # token 1 reaches the reserve soon
    settings = make_settings(
        monkeypatch, tokens=[{"env": "GH_TEST_TOKEN"}, {"env": "GH_TEST_TOKEN_2"}],
        rate_limit_reserve=118)
    collector, sleeps = make_collector(settings)
    with serve(server):
        run(collector)
    used = [r.headers["Authorization"] for r in server.requests]
    assert used[0] == f"Bearer {TOKEN}" and used[-1] == "Bearer ghp_SECONDTOKEN"
    assert sleeps == []


def test_budget_below_reserve_with_far_reset_fails_rate_limited(monkeypatch) -> None:
    server = Server()
    server.start_budget = 101
    collector, _ = make_collector(make_settings(monkeypatch, rate_limit_reserve=100))
    with serve(server), pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    assert "reserve" in str(caught.value)


SECOND = "ghp_SECONDTOKEN"


def two_tokens(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> GitHubSettings:
    monkeypatch.setenv("GH_TEST_TOKEN_2", SECOND)
    return make_settings(
        monkeypatch, tokens=[{"env": "GH_TEST_TOKEN"}, {"env": "GH_TEST_TOKEN_2"}], **overrides)


def add_repositories(server: Server, count: int, first_id: int = 100) -> list[str]:
    """Active repositories without any code scanning analysis (GitHub answers 404)."""
    names = []
    for repo_id in range(first_id, first_id + count):
        name = f"{ORG}/svc-{repo_id}"
        server.repos.append(b.minimal_repository(name, repo_id))
        node = b.repo_node_id(repo_id)
        server.gates[node] = b.gate_node(node, name)
        names.append(name)
    return names


def test_concurrent_per_repository_calls_keep_the_reserve_and_fail_over(monkeypatch) -> None:
    """Two budgets of 30, reserve 5, four requests in flight, 30+ per-repository calls:
    the budget is checked and debited when a request is sent, not when it is queued."""
    server = Server()
    add_repositories(server, 30)
    server.start_budget = 30
    concurrency, reserve = 4, 5
    collector, sleeps = make_collector(two_tokens(
        monkeypatch, rate_limit_reserve=reserve, sast={"probe": "all"},
        http={"max_retries": 2, "concurrency": concurrency}))
    latency = Latency(server)
    with serve(server, handler=latency):
        result = run(collector)

    assert latency.peak == concurrency  # the calls really overlapped
    assert len(current(result)) == 34
    probed = [p for p in server.paths() if p.endswith("/code-scanning/analyses")]
    assert len(probed) == 31  # web + 30 services; api has default setup, old is archived
    used = Counter(r.headers["Authorization"] for r in server.requests
                   if r.url.path != "/graphql")
    assert used[f"Bearer {TOKEN}"] > 0 and used[f"Bearer {SECOND}"] > 0
    assert server.refused == 0 and sleeps == []
    for (_, resource), left in server.remaining.items():
        assert left >= reserve - concurrency, resource
    assert gauge(result, GAUGE_RETRIES, kind="token_exhausted") == 0.0


def test_a_spent_token_fails_over_to_the_next_without_waiting(monkeypatch) -> None:
    server = Server()
    server.remaining[(f"Bearer {TOKEN}", "core")] = 0  # answers 403, remaining 0, reset far
    server.remaining[(f"Bearer {TOKEN}", "graphql")] = 0  # answers 200 RATE_LIMITED
    collector, sleeps = make_collector(two_tokens(monkeypatch))
    with serve(server):
        result = run(collector)
    assert len(current(result)) == 4 and len(result.findings) == 10
    assert sleeps == []
    assert server.refused >= 2  # at least one REST and one GraphQL refusal
    assert server.requests[-1].headers["Authorization"] == f"Bearer {SECOND}"
    assert gauge(result, GAUGE_RETRIES, kind="token_exhausted") == float(server.refused)
    assert gauge(result, GAUGE_RETRY_WAIT) == 0.0


def test_token_failovers_reach_the_runs_http_retry_totals(monkeypatch) -> None:
    """GitHub retries by itself; they must count in devsecops_collector_http_retries_total."""
    from collectors.http import RequestStats, run_request_stats

    server = Server()
    server.remaining[(f"Bearer {TOKEN}", "core")] = 0
    collector, _ = make_collector(two_tokens(monkeypatch))
    stats = RequestStats()
    token = run_request_stats.set(stats)
    try:
        with serve(server):
            run(collector)
    finally:
        run_request_stats.reset(token)
    assert server.refused >= 1
    assert stats.retries_by_kind["rate_limited"] == server.refused


def test_every_token_spent_with_a_far_reset_fails_rate_limited(monkeypatch) -> None:
    server = Server()
    for who in (f"Bearer {TOKEN}", f"Bearer {SECOND}"):
        server.remaining[(who, "core")] = 0
    collector, sleeps = make_collector(two_tokens(monkeypatch))
    with serve(server), pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is ErrorKind.RATE_LIMITED and sleeps == []
    assert "every token" in str(caught.value)
    assert TOKEN not in str(caught.value) and SECOND not in str(caught.value)


def test_a_malformed_repository_is_skipped_and_counted_on_every_run(monkeypatch) -> None:
    server = Server()
    del server.repos[1]["full_name"]
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        first = run(collector)
        second = run(collector, first.state, NOW + timedelta(minutes=15))
    for result in (first, second):  # the second run's page is a 304 from the cache
        assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 1
        assert len(current(result)) == 3
    # Its alerts are dropped with it (no repository to attach them to).
    assert not [f for f in first.findings if f.asset == f"{ORG}/web"]


def test_an_alert_repeated_by_shifting_pages_is_returned_once(monkeypatch) -> None:
    server = Server(page_size=2)
    original = server.handle
    alerts = server.alerts["dependabot"]

    def shifting(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.url.path.endswith("dependabot/alerts") and "after" not in request.url.params:
            # An alert is updated after page 1 was served: the list shifts down by one.
            alerts.insert(0, b.dependabot_alert(30, f"{ORG}/api",
                                                updated_at="2026-11-23T11:59:00Z"))
        return response

    server.handle = shifting  # type: ignore[method-assign]
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        result = run(collector)
    ids = [f.id for f in result.findings if f.category == "dependency"]
    assert len(ids) == len(set(ids)) == 4


# ------------------------------------------------------- SAST probe and its cache

GHAS_OFF = "Advanced Security must be enabled for this repository to use code scanning."


def sast_server() -> Server:
    """Server plus: lib (no analysis: 404), ghas-off (403 not enabled), adv (advanced
    setup with a recent CodeQL analysis and no alert at all)."""
    server = Server()
    server.repos += [b.minimal_repository(f"{ORG}/lib", 5),
                     b.minimal_repository(f"{ORG}/ghas-off", 6),
                     b.minimal_repository(f"{ORG}/adv", 7)]
    server.analysis_errors[f"{ORG}/ghas-off"] = (403, GHAS_OFF)
    server.analyses[f"{ORG}/adv"] = [b.code_scanning_analysis(
        302, f"{ORG}/adv", created_at="2026-11-22T00:00:00Z")]
    return server


def probed(server: Server) -> list[str]:
    return sorted(p.split("/")[3] for p in server.paths()
                  if p.endswith("/code-scanning/analyses"))


def test_default_probe_is_accurate_and_an_unchanged_rerun_sends_no_404(monkeypatch) -> None:
    server = sast_server()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        first = run(collector)
        first_probed = probed(server)
        server.requests.clear()
        stored = json.loads(json.dumps(first.state))  # the state as the core keeps it
        second = run(collector, stored, NOW + timedelta(minutes=15))
    # Every active non-fork repository without default setup is asked once ...
    assert first_probed == ["adv", "ghas-off", "lib", "web"]
    for result in (first, second):
        repos = {r.name.split("/")[1]: r for r in result.repositories}
        # ... so advanced setup without alerts counts as covered (probe: alerted missed it).
        assert (repos["adv"].sast_enabled, repos["adv"].sast_tools) == (True, ("CodeQL",))
        assert repos["lib"].sast_enabled is False and repos["ghas-off"].sast_enabled is False
        assert repos["fork"].sast_enabled is None  # forks are not probed (probe_forks)
        assert gauge(result, GAUGE_UNREADABLE, setting="sast") == 0.0
    # The re-run asks only repositories that have analyses (304); "no analysis" is
    # remembered, so no 404 (which carries no ETag and can never be a 304) is repeated.
    assert probed(server) == ["adv", "web"]
    stats = collector.last_api.client.stats  # type: ignore[union-attr]
    assert stats.by_status[304] == len(server.requests) == stats.requests
    assert collector.last_api.cache_hits == 2  # type: ignore[union-attr]


def _push(server: Server) -> None:
    server.repos[4]["pushed_at"] = "2026-11-23T11:30:00Z"


def _alert(server: Server) -> None:
    server.alerts["code-scanning"].append(b.code_scanning_alert(
        40, f"{ORG}/lib", repo_id=5, created_at="2026-11-23T11:40:00Z",
        updated_at="2026-11-23T11:40:00Z"))


def _configuration(server: Server) -> None:
    server.configs.append((b.code_security_configuration(
        18, "Baseline", default_setup="not_set"), [(f"{ORG}/lib", 5)]))


@pytest.mark.parametrize(("change", "later"), [
    (_push, timedelta(minutes=15)),
    (_alert, timedelta(minutes=15)),
    (_configuration, timedelta(minutes=15)),
    (None, timedelta(hours=25)),  # the next full pass asks again
])
def test_no_analysis_is_asked_again_when_something_suggests_a_change(
    monkeypatch, change: Callable[[Server], None] | None, later: timedelta
) -> None:
    server = sast_server()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        first = run(collector)
        if change is not None:
            change(server)
        server.requests.clear()
        second = run(collector, first.state, NOW + later)
    expected = ["adv", "lib", "web"] if change is not None else ["adv", "ghas-off", "lib", "web"]
    assert probed(server) == expected
    assert {r.name: r.sast_enabled for r in second.repositories}[f"{ORG}/lib"] is False
    assert f"{ORG}/lib" in second.state["orgs"][ORG]["no_analysis"]


def test_forks_are_probed_when_coverage_counts_them(monkeypatch) -> None:
    server = sast_server()
    collector, _ = make_collector(make_settings(monkeypatch, sast={"probe_forks": True}))
    with serve(server):
        result = run(collector)
    assert "fork" in probed(server)
    assert {r.name: r.sast_enabled for r in result.repositories}[f"{ORG}/fork"] is False


def test_refused_configuration_attachments_do_not_fail_the_run(monkeypatch, caplog) -> None:
    server = Server()
    server.analyses[f"{ORG}/api"] = [b.code_scanning_analysis(
        301, f"{ORG}/api", created_at="2026-11-22T00:00:00Z")]
    collector, _ = make_collector(make_settings(monkeypatch))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    route = f"{API}/orgs/{ORG}/code-security/configurations/17/repositories"
    with serve(server, lambda r: r.get(route).respond(
            403, json=b.error_body("Must be an organization owner or security manager"))):
        result = run(collector)
    api = {r.name: r for r in result.repositories}[f"{ORG}/api"]
    # Default setup is unknown now: its CodeQL alerts make it a probe candidate, and
    # the recent analysis counts it as covered.
    assert (api.sast_enabled, api.sast_tools) == (True, ("CodeQL",))
    assert f"/repos/{ORG}/api/code-scanning/analyses" in server.paths()
    assert api.secret_scanning is True  # from security_and_analysis
    assert "configurations" in caplog.text and "lacks a permission" in caplog.text


@pytest.mark.parametrize(("method", "path", "fault", "kind"), [
    ("POST", "/graphql", "500", ErrorKind.SERVER),
    ("POST", "/graphql", "truncated", ErrorKind.MALFORMED_RESPONSE),
    ("GET", f"/orgs/{ORG}/dependabot/alerts", "422", ErrorKind.CLIENT),
    ("GET", f"/orgs/{ORG}/secret-scanning/alerts", "timeout", ErrorKind.TIMEOUT),
    ("GET", f"/orgs/{ORG}/code-security/configurations", "502-html", ErrorKind.SERVER),
    ("GET", f"/repos/{ORG}/web/code-scanning/analyses", "html-200",
     ErrorKind.MALFORMED_RESPONSE),
])
def test_faults_on_other_endpoints_fail_the_run_with_their_kind(
    monkeypatch, method: str, path: str, fault: str, kind: ErrorKind
) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server, lambda r: r.route(method=method, url=f"{API}{path}").mock(
            side_effect=FAULTS[fault][0])), pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is kind
    assert TOKEN not in str(caught.value)
