"""GitHub SAST coverage at the previous quarter's end, reconstructed from analyses' dates.

Uses the in-test GitHub of test_github.py (bodies from tests/fixtures/github/builders.py,
validated against GitHub's OpenAPI description in test_github_contract.py; GitHub lists
analyses "starting with the most recent"). NOW is 2026-11-23: the previous quarter ends
2026-10-01T00:00Z, and with ``analysis_max_age`` 30 days the window is
[2026-09-01, 2026-10-01].
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.base import CollectContext, CollectionResult
from collectors.github import GitHubCollector
from collectors.records import RecordKind
from exporter.derive import derive_all
from exporter.derive.repositories import FAMILY
from exporter.quarters import history_start
from exporter.store import Store
from tests.builders import SETTINGS
from tests.collectors.test_github import (
    LOGGER,
    NOW,
    ORG,
    Server,
    make_collector,
    make_settings,
    probed,
    run,
    serve,
)
from tests.fixtures.github import builders as b

PREV_END = datetime(2026, 10, 1, tzinfo=UTC)


def analysis(number: int, name: str, created_at: str, tool: str = "CodeQL") -> dict:
    return b.code_scanning_analysis(number, f"{ORG}/{name}", tool=tool, created_at=created_at)


def history_server() -> Server:
    """api: default setup; web: one analysis since (the whole list); plus
    cov (CodeQL inside the window), gap (analyses before and after, none inside),
    lib (404, created 2024), busy (a full page, all after the quarter's end),
    young (404, created after the quarter's end), semgrep (only Semgrep inside)."""
    server = Server()
    young = b.minimal_repository(f"{ORG}/young", 12)
    young["created_at"] = "2026-10-15T00:00:00Z"
    server.repos += [b.minimal_repository(f"{ORG}/{n}", i) for n, i in (
        ("cov", 8), ("gap", 9), ("lib", 10), ("busy", 11), ("semgrep", 13))] + [young]
    server.analyses[f"{ORG}/cov"] = [
        analysis(1, "cov", "2026-11-20T00:00:00Z"), analysis(2, "cov", "2026-09-15T00:00:00Z"),
        analysis(3, "cov", "2026-08-01T00:00:00Z")]
    server.analyses[f"{ORG}/gap"] = [
        analysis(4, "gap", "2026-11-20T00:00:00Z"), analysis(5, "gap", "2026-08-10T00:00:00Z")]
    server.analyses[f"{ORG}/busy"] = [
        analysis(100 + i, "busy", f"2026-11-{1 + i % 20:02d}T{i % 24:02d}:00:00Z")
        for i in range(150)]
    server.analyses[f"{ORG}/semgrep"] = [
        analysis(6, "semgrep", "2026-09-20T00:00:00Z", tool="Semgrep"),
        analysis(7, "semgrep", "2026-07-01T00:00:00Z")]
    return server


def snapshots(result: CollectionResult) -> dict[str, Any]:
    return {r.name.split("/")[1]: r for r in result.repositories if r.observed_at is not None}


def current(result: CollectionResult) -> dict[str, Any]:
    return {r.name.split("/")[1]: r for r in result.repositories if r.observed_at is None}


def test_previous_quarter_end_is_decided_from_the_analyses(monkeypatch) -> None:
    server = history_server()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        result = run(collector)
    rows = snapshots(result)
    # cov: CodeQL on 2026-09-15 is inside [prev_end - 30 days, prev_end].
    assert (rows["cov"].sast_enabled, rows["cov"].sast_tools) == (True, ("CodeQL",))
    # gap: analyses reach back before the window, none inside it.
    assert rows["gap"].sast_enabled is False
    # lib: GitHub has no analysis, and lib was created before the quarter's end.
    assert rows["lib"].sast_enabled is False
    # web: its one analysis (2026-11-20) is the whole list: none then.
    assert rows["web"].sast_enabled is False
    # semgrep: Semgrep counts (any tool by default); CodeQL only, see the next test.
    assert rows["semgrep"].sast_enabled is True
    # busy: a full page, all after the quarter's end: unknown, no row. young: created
    # after the quarter's end. api: default setup's history is not readable. old:
    # archived; fork: not probed.
    assert set(rows) == {"cov", "gap", "lib", "web", "semgrep"}
    for row in rows.values():
        assert row.observed_at == PREV_END - timedelta(seconds=1)
        assert row.reconstructed is True and row.source == "github-test"
        assert row.review_gate_tier is None and row.secret_scanning is None
        assert row.push_protection is None and row.dependency_alerts is None
        assert row.required_review is None
    # The current state is untouched and comes last (a by-name view keeps it).
    now = current(result)
    assert now["busy"].sast_enabled is True and now["cov"].sast_enabled is True
    assert now["gap"].sast_enabled is True and not any(r.reconstructed for r in now.values())
    assert {r.name: r for r in result.repositories}[f"{ORG}/gap"].observed_at is None


def test_counted_tools_apply_at_the_quarters_end_too(monkeypatch) -> None:
    server = history_server()
    collector, _ = make_collector(make_settings(
        monkeypatch, sast={"code_scanning_tools": ["CodeQL"]}))
    with serve(server):
        result = run(collector)
    assert snapshots(result)["semgrep"].sast_enabled is False  # reaches back, no CodeQL


def test_an_unchanged_rerun_keeps_the_snapshots_from_304s_and_the_state(monkeypatch) -> None:
    server = history_server()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        first = run(collector)
        server.requests.clear()
        stored = json.loads(json.dumps(first.state))
        second = run(collector, stored, NOW + timedelta(minutes=15))
    assert snapshots(second) == snapshots(first)
    # Decided once a quarter: the re-run is conditional (304), lib's 404 is remembered.
    assert "lib" not in probed(server) and "cov" in probed(server)
    analyses = [r for r in server.requests if r.url.path.endswith("/code-scanning/analyses")]
    assert all("If-None-Match" in r.headers for r in analyses)
    stats = collector.last_api.client.stats  # type: ignore[union-attr]
    assert stats.by_status[304] == stats.requests


def test_a_new_quarter_reads_each_first_page_once_unconditionally(monkeypatch) -> None:
    server = history_server()
    collector, _ = make_collector(make_settings(monkeypatch))
    later = datetime(2027, 1, 5, 12, tzinfo=UTC)  # previous quarter: 2026-Q4
    with serve(server):
        first = run(collector)
        server.requests.clear()
        second = run(collector, json.loads(json.dumps(first.state)), later)
    analyses = [r for r in server.requests if r.url.path.endswith("/code-scanning/analyses")]
    assert analyses and not any("If-None-Match" in r.headers for r in analyses)
    rows = snapshots(second)
    end = datetime(2027, 1, 1, tzinfo=UTC)
    assert {r.observed_at for r in rows.values()} == {end - timedelta(seconds=1)}
    # cov/gap/web: analysed 2026-11-20, inside [2026-12-02, 2027-01-01]? No: reaches back.
    assert rows["cov"].sast_enabled is False and rows["web"].sast_enabled is False
    # busy: its newest analyses are in November, before the window: now decided.
    assert rows["busy"].sast_enabled is False
    # young existed at the end of 2026-Q4 and still has no analysis.
    assert rows["young"].sast_enabled is False


def test_fiscal_quarters_come_from_the_cores_history_start(monkeypatch) -> None:
    server = history_server()
    collector, _ = make_collector(make_settings(monkeypatch))
    # Fiscal years starting in February: 2026-11-23 is in Nov-Jan, the previous quarter
    # is Aug-Oct and ends 2026-11-01.
    ctx = CollectContext(name="github-test", now=NOW, state={},
                         logger=logging.getLogger(LOGGER),
                         history_start=history_start(NOW, 2))
    assert GitHubCollector._previous_quarter_end(ctx) == datetime(2026, 11, 1, tzinfo=UTC)
    with serve(server):
        result = asyncio.run(collector.collect(ctx))
    rows = snapshots(result)
    assert {r.observed_at for r in rows.values()} == {
        datetime(2026, 11, 1, tzinfo=UTC) - timedelta(seconds=1)}
    # Window [2026-10-02, 2026-11-01]: gap's analyses are outside it, reaching back.
    assert rows["gap"].sast_enabled is False and "young" in rows  # created 2026-10-15


def test_default_setup_and_refused_analyses_stay_unknown(monkeypatch) -> None:
    server = history_server()
    server.analysis_errors[f"{ORG}/lib"] = (
        403, "Advanced Security must be enabled for this repository to use code scanning.")
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        result = run(collector)
    rows = snapshots(result)
    assert "api" not in rows  # default setup: its configuration's history is not readable
    assert "lib" not in rows  # "not enabled" now says nothing about then
    assert current(result)["api"].sast_enabled is True


def test_no_reconstruction_without_an_analysis_age(monkeypatch) -> None:
    server = history_server()
    collector, _ = make_collector(make_settings(monkeypatch, sast={"analysis_max_age": None}))
    with serve(server):
        result = run(collector)
    assert snapshots(result) == {}


def test_sast_at_rules() -> None:
    decide = GitHubCollector._sast_at
    window = {"prev_end": PREV_END, "max_age": timedelta(days=30), "wanted": []}
    inside = [{"tool": {"name": "CodeQL"}, "created_at": "2026-09-01T00:00:00Z"}]
    assert decide(inside, complete=False, created_at=None, **window) == (True, {"CodeQL"})
    recent = [{"tool": {"name": "CodeQL"}, "created_at": "2026-11-01T00:00:00Z"}]
    assert decide(recent, complete=False, created_at="2024-01-01T00:00:00Z",
                  **window) == (None, set())
    assert decide(recent, complete=True, created_at=None, **window) == (None, set())
    assert decide(recent, complete=True, created_at="2026-10-02T00:00:00Z",
                  **window) == (None, set())
    # An analysis that cannot be dated is no evidence either way (as for the current
    # state): the others decide.
    undated = [{"tool": {"name": "CodeQL"}, "created_at": "yesterday"}, *recent]
    assert decide(undated, complete=False, created_at="2024-01-01T00:00:00Z",
                  **window) == (None, set())
    older = [*undated, {"tool": {"name": "CodeQL"}, "created_at": "2026-01-01T00:00:00Z"}]
    assert decide(older, complete=False, created_at=None, **window) == (False, set())


def test_the_snapshots_give_the_previous_quarter_through_the_store(monkeypatch) -> None:
    server = history_server()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        result = run(collector)
    store = Store(":memory:")
    store.apply("github-test", result, NOW)
    derived = derive_all(repositories=store.iter_rows(RecordKind.REPOSITORY, FAMILY.columns),
                         settings=SETTINGS, now=NOW)
    q3 = derived.by_quarter["2026-Q3"]
    # cov and semgrep covered; gap, lib and web not (forks are not counted).
    assert q3.get("sast_coverage_pct") == 40
    assert q3.reconstructed[("sast_coverage_pct", ())] == frozenset({"github-test"})
    assert derived.by_quarter["2026-Q4"].reconstructed == {}
