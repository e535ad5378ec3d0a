"""OpenSSF Scorecard scores in the github collector (issue 17, supply chain).

The public Scorecard API is served by respx next to test_github's in-test GitHub, in
the shape of its published OpenAPI description (ossf/scorecard-webapp, ``openapi.yaml``,
definition ``ScorecardResult``; the schema below is its ``definitions`` section, and
every body served here is validated against it). Scorecard's ``--format json`` output
files follow ossf/scorecard ``pkg/scorecard/json.go`` (``JSONScorecardResultV2``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from collectors.base import CollectContext, ErrorKind
from collectors.github.scorecard import parse_result, read_scorecards, round_score
from collectors.github.supply_chain import SupplyChainSettings
from collectors.http import HttpSettings
from tests.collectors.test_github import (
    NOW,
    ORG,
    TOKEN,
    Server,
    make_collector,
    make_settings,
    run,
    serve,
)

SCORECARD = "https://api.securityscorecards.dev"
SHA = "68bc59901773ab4c051dfcea0cc4201a1567ab32"

# ossf/scorecard-webapp openapi.yaml, definitions (Swagger 2.0; draft-4 JSON Schema)
SCORECARD_SCHEMA: dict[str, Any] = {
    "$ref": "#/definitions/ScorecardResult",
    "definitions": {
        "ScorecardResult": {"type": "object", "properties": {
            "date": {"type": "string"},
            "repo": {"$ref": "#/definitions/Repo"},
            "scorecard": {"$ref": "#/definitions/ScorecardVersion"},
            "score": {"type": "number"},
            "checks": {"type": "array", "items": {"$ref": "#/definitions/ScorecardCheck"}},
            "metadata": {"type": "string"},
        }},
        "Repo": {"type": "object", "properties": {
            "name": {"type": "string"},
            "commit": {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"}}},
        "ScorecardVersion": {"type": "object", "properties": {
            "version": {"type": "string"},
            "commit": {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"}}},
        "ScorecardCheck": {"type": "object", "properties": {
            "name": {"type": "string"},
            "score": {"type": "integer"},
            "reason": {"type": "string"},
            "documentation": {"type": "object", "properties": {
                "url": {"type": "string"}, "short": {"type": "string"}}},
            "details": {"type": "array", "items": {"type": "string"}},
        }},
    },
}


def scorecard_result(full_name: str, score: float, date: str = "2026-11-16T03:04:05Z",
                     ) -> dict[str, Any]:
    """A ScorecardResult as the API (and ``scorecard --format json``) write it."""
    return {
        "date": date,
        "repo": {"name": f"github.com/{full_name}", "commit": SHA},
        "scorecard": {"version": "v5.0.0", "commit": SHA},
        "score": score,
        "checks": [{
            "name": "Pinned-Dependencies", "score": 4,
            "reason": "dependency not pinned by hash detected -- score normalized to 4",
            "documentation": {
                "url": "https://github.com/ossf/scorecard/blob/main/docs/checks.md"
                       "#pinned-dependencies",
                "short": "Determines if the project has declared and pinned the "
                         "dependencies of its build process."},
            "details": [],
        }],
    }


def test_fixtures_match_the_scorecard_openapi_description() -> None:
    import jsonschema

    validator = jsonschema.Draft4Validator(SCORECARD_SCHEMA)
    for body in (scorecard_result(f"{ORG}/api", 7.5), scorecard_result(f"{ORG}/web", -1)):
        assert not list(validator.iter_errors(body))


# -- parsing and rounding -------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    (7.5, 8), (6.5, 7), (6.4, 6), (9.96, 10), (0, 0), (0.4, 0), (10, 10), (2.5, 3),
])
def test_scores_round_half_up(raw: float, expected: int) -> None:
    assert round_score(raw) == expected
    assert parse_result(scorecard_result("o/r", raw), need_name=True).score == expected


def test_inconclusive_is_unknown_and_out_of_range_is_unmapped() -> None:
    inconclusive = parse_result(scorecard_result("o/r", -1), need_name=True)
    assert (inconclusive.score, inconclusive.unmapped) == (None, False)
    odd = parse_result(scorecard_result("o/r", 11.0), need_name=True)
    assert (odd.score, odd.unmapped) == (None, True)


@pytest.mark.parametrize("name", ["github.com/Octo-Org/API", "octo-org/api"])
def test_repository_names_with_or_without_host(name: str) -> None:
    body = scorecard_result("x/y", 5) | {"repo": {"name": name}}
    assert parse_result(body, need_name=True).repository == "octo-org/api"


def test_settings_refuse_a_plain_http_scorecard_url() -> None:
    with pytest.raises(ValueError, match="https"):
        SupplyChainSettings.model_validate({"scorecard_api_url": "http://scorecard.test"})


# -- the collector against the API ----------------------------------------------------


class ScorecardApi:
    """The public Scorecard API: one result per project, ETags, scripted faults."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {f"{ORG}/api": scorecard_result(f"{ORG}/api", 7.5)}
        self.requests: list[httpx.Request] = []
        self.faults: list[httpx.Response] = []  # answered first, in order

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0)
        full = request.url.path.removeprefix("/projects/github.com/")
        if full not in self.results:
            return httpx.Response(404, json={"code": 404, "message": "not found"})
        body = self.results[full]
        if isinstance(body, bytes):
            return httpx.Response(200, content=body)
        etag = f'"{hash(json.dumps(body, sort_keys=True)) & 0xffffffff:x}"'
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, json=body, headers={
            "ETag": etag, "Cache-Control": "max-age=3600"})


def public(server: Server, *names: str) -> None:
    for repo in server.repos:
        if repo["full_name"] in names:
            repo.update(private=False, visibility="public")


def collect(monkeypatch, scorecard: ScorecardApi, state: dict | None = None,
            now=NOW, server: Server | None = None, **supply: Any):
    server = server or Server()
    public(server, f"{ORG}/api", f"{ORG}/fork")
    settings = make_settings(monkeypatch, supply_chain={
        "sbom": False, "workflows": False, "scorecard_api_url": SCORECARD, **supply})
    collector, sleeps = make_collector(settings)

    def route(router: respx.MockRouter) -> None:
        router.route(host="api.securityscorecards.dev").mock(side_effect=scorecard.handle)

    with serve(server, before=route):
        result = run(collector, state, now=now)
    return result, sleeps


def scores(result) -> dict[str, int | None]:
    return {r.name: r.scorecard_score for r in result.repositories}


def test_public_repositories_are_scored_and_get_no_github_token(monkeypatch) -> None:
    api = ScorecardApi()
    result, _ = collect(monkeypatch, api)
    assert scores(result) == {f"{ORG}/api": 8, f"{ORG}/web": None, f"{ORG}/old": None,
                              f"{ORG}/fork": None}
    # only the active public ones are asked; the private web and archived old are not
    assert sorted(r.url.path for r in api.requests) == [
        f"/projects/github.com/{ORG}/api", f"/projects/github.com/{ORG}/fork"]
    for request in api.requests:
        assert "Authorization" not in request.headers
        assert TOKEN not in str(request.headers) and TOKEN not in str(request.url)
    assert result.record_errors == Counter()


def test_a_fresh_score_is_reused_and_a_stale_one_is_asked_conditionally(monkeypatch) -> None:
    api = ScorecardApi()
    first, _ = collect(monkeypatch, api)
    asked = len(api.requests)
    second, _ = collect(monkeypatch, api, first.state, now=NOW + timedelta(hours=1))
    assert len(api.requests) == asked  # within scorecard_refresh: no request
    third, _ = collect(monkeypatch, api, second.state, now=NOW + timedelta(hours=25))
    again = api.requests[asked:]
    mine = [r for r in again if r.url.path.endswith("/api")]
    assert len(mine) == 1 and "If-None-Match" in mine[0].headers
    for result in (second, third):
        assert scores(result)[f"{ORG}/api"] == 8


def test_429_is_waited_out_with_retry_after(monkeypatch) -> None:
    api = ScorecardApi()
    api.faults = [httpx.Response(429, headers={"Retry-After": "3"})]
    result, sleeps = collect(monkeypatch, api, scorecard_concurrency=1)
    assert scores(result)[f"{ORG}/api"] == 8
    assert 3.0 in sleeps
    assert result.record_errors == Counter()


@pytest.mark.parametrize(("fault", "kind"), [
    (lambda: httpx.Response(503, text="unavailable"), ErrorKind.SERVER),
    (lambda: httpx.Response(429, headers={"Retry-After": "3600"}), ErrorKind.RATE_LIMITED),
    (lambda: httpx.Response(200, content=b'{"score": 7.'), ErrorKind.MALFORMED_RESPONSE),
    (lambda: httpx.Response(200, json={"score": "high"}), ErrorKind.MALFORMED_RESPONSE),
    (lambda: httpx.Response(200, json=[1, 2]), ErrorKind.MALFORMED_RESPONSE),
    (lambda: httpx.Response(200, json=scorecard_result("other/repo", 9)),
     ErrorKind.MALFORMED_RESPONSE),
])
def test_a_failing_api_keeps_the_last_scores_and_does_not_fail_the_run(
        monkeypatch, caplog, fault, kind) -> None:
    api = ScorecardApi()
    first, _ = collect(monkeypatch, api)
    api.faults = [fault() for _ in range(10)]
    asked = len(api.requests)
    later = NOW + timedelta(days=2)
    result, _ = collect(monkeypatch, api, first.state, now=later, scorecard_concurrency=1)
    assert scores(result)[f"{ORG}/api"] == 8  # the last known score, not unknown
    assert result.record_errors == Counter({kind: 1})
    # the first failure stops asking: one repository's attempts (3 with retries), not
    # one per remaining repository
    assert len(api.requests) - asked <= 3
    assert "Scorecard API failed" in caplog.text and TOKEN not in caplog.text
    # and the next run asks again (the failed repositories kept their old read time)
    api.faults = []
    recovered, _ = collect(monkeypatch, api, result.state, now=later + timedelta(hours=1))
    assert scores(recovered)[f"{ORG}/api"] == 8
    assert recovered.record_errors == Counter()


def test_not_scored_is_unknown_and_unmapped_is_counted(monkeypatch) -> None:
    api = ScorecardApi()
    api.results[f"{ORG}/api"] = scorecard_result(f"{ORG}/api", 42.0)
    result, _ = collect(monkeypatch, api)
    assert scores(result)[f"{ORG}/api"] is None
    assert scores(result)[f"{ORG}/fork"] is None  # 404: not scored
    assert result.record_errors == Counter({ErrorKind.UNMAPPED_VALUE: 1})


def test_off_unless_configured(monkeypatch) -> None:
    api = ScorecardApi()
    result, _ = collect(monkeypatch, api, scorecard_api_url="")
    assert api.requests == []
    assert {r.scorecard_score for r in result.repositories} == {None}


# -- Scorecard's JSON output files ----------------------------------------------------


def write(path: Path, *bodies: Any) -> None:
    path.write_text("\n".join(json.dumps(b) for b in bodies) + "\n", encoding="utf-8")


def test_private_repositories_from_scorecard_output_files(monkeypatch, tmp_path,
                                                          caplog) -> None:
    (tmp_path / "ci").mkdir()
    write(tmp_path / "ci" / "web.json", scorecard_result(f"{ORG}/web", 4.5))
    # one file with two runs appended (JSON lines): the newest counts
    write(tmp_path / "ci" / "api.json",
          scorecard_result(f"{ORG}/api", 2.0, date="2026-11-20T00:00:00Z"),
          scorecard_result(f"{ORG}/api", 9.0, date="2026-10-01"))
    (tmp_path / "ci" / "broken.json").write_text('{"score": 3', encoding="utf-8")
    api = ScorecardApi()
    result, _ = collect(monkeypatch, api, scorecard_files=str(tmp_path / "ci" / "*.json"))
    got = scores(result)
    assert got[f"{ORG}/web"] == 5  # private: from its file, 4.5 rounded half up
    assert got[f"{ORG}/api"] == 2  # a file wins over the API ...
    assert [r.url.path for r in api.requests] == [f"/projects/github.com/{ORG}/fork"]
    assert result.record_errors == Counter({ErrorKind.MALFORMED_RECORD: 1})
    assert "broken.json" in caplog.text


def test_a_glob_matching_nothing_is_logged_not_fatal(monkeypatch, tmp_path, caplog) -> None:
    result, _ = collect(monkeypatch, ScorecardApi(), scorecard_api_url="",
                        scorecard_files=str(tmp_path / "none-*.json"))
    assert result.repositories and "no file matches" in caplog.text


def test_github_enterprise_server_repositories_are_never_sent_to_the_public_api() -> None:
    ctx = CollectContext(name="t", now=NOW, state={}, logger=logging.getLogger("t"))
    repos = [{"full_name": f"{ORG}/api", "public": True}]
    with respx.mock(assert_all_called=False) as router:
        route = router.route(host="api.securityscorecards.dev").respond(404)
        got = asyncio.run(read_scorecards(
            ctx, api_url=SCORECARD, files=None, github_api_url="https://ghe.example/api/v3",
            refresh=timedelta(hours=24), concurrency=2, http=HttpSettings(), active=repos,
            old={}, new={}, errors=Counter()))
    assert got == {} and not route.called
