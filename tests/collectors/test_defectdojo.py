"""Tests for the DefectDojo collector against ``GET /api/v2/findings/`` answers shaped as
DefectDojo documents them: DRF ``LimitOffsetPagination`` (``count``, ``next``,
``previous``, ``results``) and ``FindingSerializer`` objects with ``related_fields=true``
(django-DefectDojo ``dojo/finding/api/serializer.py``, ``dojo/finding/api/filters.py``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.defectdojo import DefectDojoCollector, DefectDojoSettings
from collectors.records import FindingState, RecordKind, Severity

DD = "https://defectdojo.example.com"
URL = f"{DD}/api/v2/findings/"
TOKEN = "0123456789abcdef0123456789abcdef01234567"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HISTORY = datetime(2026, 6, 17, tzinfo=UTC)  # July's quarter start less 14 days


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_TEST_TOKEN", TOKEN)


def settings(**overrides: Any) -> DefectDojoSettings:
    data: dict[str, Any] = {"url": DD, "token": {"env": "DD_TEST_TOKEN"}, "page_size": 2,
                            "http": {"max_retries": 2}}
    data.update(overrides)
    return DefectDojoSettings.model_validate(data)


def collector(sleeps: list[float] | None = None, **overrides: Any) -> DefectDojoCollector:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
    return DefectDojoCollector("dojo", settings(**overrides), sleep=sleep)


def ctx(state: dict[str, Any] | None = None) -> CollectContext:
    return CollectContext("dojo", NOW, state or {}, logging.getLogger("test.defectdojo"),
                          history_start=HISTORY)


def run(c: DefectDojoCollector, context: CollectContext | None = None):
    return asyncio.run(c.collect(context or ctx()))


def finding(finding_id: int, *, severity: str = "High", active: bool = True,
            is_mitigated: bool = False, mitigated: str | None = None,
            false_p: bool = False, out_of_scope: bool = False, risk_accepted: bool = False,
            duplicate: bool = False, date: str = "2026-11-02",
            created: str = "2026-11-02T09:15:27.123456Z",
            last_status_update: str = "2026-11-02T09:15:27.123456Z",
            test_type: str = "Trivy Scan", product: str = "payments-api",
            engagement: str = "CI/CD main", vulnerability_ids: list[str] | None = None,
            ) -> dict[str, Any]:
    """One FindingSerializer object, as GET /api/v2/findings/?related_fields=true has it."""
    ids = ["CVE-2026-12345"] if vulnerability_ids is None else vulnerability_ids
    return {
        "id": finding_id, "tags": ["ci"], "request_response": {"req_resp": []},
        "accepted_risks": [], "push_to_jira": False, "age": 21, "sla_days_remaining": 9,
        "finding_meta": [],
        "related_fields": {
            "test": {
                "id": 41, "title": None,
                "test_type": {"id": 118, "name": test_type},
                "engagement": {
                    "id": 7, "name": engagement, "description": None,
                    "product": {"id": 3, "name": product,
                                "prod_type": {"id": 1, "name": "Web"}},
                    "target_start": "2026-11-01", "target_end": "2026-11-30",
                    "branch_tag": "main", "engagement_type": "CI/CD", "build_id": "1842",
                    "commit_hash": "9f2c1e0", "version": None,
                    "created": "2026-11-01T08:00:00Z", "updated": "2026-11-02T09:15:27Z"},
                "environment": {"id": 1, "name": "Development"},
                "branch_tag": None, "build_id": None, "commit_hash": None, "version": None},
            "jira": None},
        "jira_creation": None, "jira_change": None,
        "display_status": "Active, Verified" if active else "Inactive",
        "finding_groups": [],
        "vulnerability_ids": [{"vulnerability_id": v} for v in ids],
        "cwes": [{"cwe": "CWE-79"}], "reporter": 1, "endpoints": [],
        "title": "openssl: out-of-bounds read", "date": date, "sla_start_date": None,
        "sla_expiration_date": "2026-12-02", "cwe": 79, "epss_score": None,
        "epss_percentile": None, "known_exploited": False, "ransomware_used": False,
        "kev_date": None, "cvssv3": None, "cvssv3_score": None, "cvssv4": None,
        "cvssv4_score": None, "url": None, "severity": severity,
        "description": "An out-of-bounds read ...", "mitigation": "Upgrade to 3.0.15",
        "fix_available": True, "fix_version": "3.0.15", "impact": None,
        "steps_to_reproduce": None, "severity_justification": None, "references": None,
        "active": active, "verified": active, "false_p": false_p, "duplicate": duplicate,
        "out_of_scope": out_of_scope, "risk_accepted": risk_accepted,
        "under_review": False, "last_status_update": last_status_update,
        "under_defect_review": False, "is_mitigated": is_mitigated, "thread_id": 0,
        "mitigated": mitigated, "numerical_severity": "S1", "last_reviewed": None,
        "param": None, "payload": None, "hash_code": "4b0c1e...", "line": None,
        "file_path": None, "component_name": "openssl", "component_version": "3.0.13",
        "static_finding": True, "dynamic_finding": False,
        "created": created, "updated": last_status_update, "scanner_confidence": None,
        "unique_id_from_tool": None, "vuln_id_from_tool": None, "sast_source_object": None,
        "sast_sink_object": None, "sast_source_line": None, "sast_source_file_path": None,
        "nb_occurences": None, "publish_date": "2026-10-20", "service": None,
        "planned_remediation_date": None, "planned_remediation_version": None,
        "effort_for_fixing": None, "test": 41, "duplicate_finding": None,
        "review_requested_by": None, "defect_review_requested_by": None,
        "mitigated_by": None, "sonarqube_issue": None, "last_reviewed_by": None,
        "found_by": [118], "reviewers": [],
    }


def page(results: list[dict[str, Any]], *, count: int, offset: int, limit: int = 2,
         ) -> dict[str, Any]:
    """A LimitOffsetPagination page, with DRF's absolute next/previous links."""
    nxt = f"{URL}?limit={limit}&offset={offset + limit}" if offset + limit < count else None
    prev = f"{URL}?limit={limit}&offset={max(0, offset - limit)}" if offset else None
    return {"count": count, "next": nxt, "previous": prev, "results": results}


def serve(listings: dict[str, list[dict[str, Any]]], limit: int = 2):
    """A handler serving each listing (by is_mitigated, or "incremental") by offset."""
    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        key = params.get("is_mitigated", "incremental")
        items = listings.get(key, [])
        offset = int(params.get("offset", "0"))
        return httpx.Response(200, json=page(items[offset:offset + limit], count=len(items),
                                             offset=offset, limit=limit))
    return handler


def by_id(result) -> dict[str, Any]:
    return {f.id: f for f in result.findings}


# --- paging and mapping ---------------------------------------------------------------


@respx.mock
def test_full_pass_pages_by_offset_and_maps_every_field() -> None:
    """Five unmitigated findings at limit 2 are three pages (offsets 0, 2, 4); every
    request sends the token, id ordering and related_fields."""
    open_items = [finding(i) for i in range(1, 6)]
    route = respx.get(URL).mock(side_effect=serve({"false": open_items, "true": []}))
    result = run(collector())
    calls = [c.request.url.params for c in route.calls]
    unmitigated = [p for p in calls if p.get("is_mitigated") == "false"]
    assert [p["offset"] for p in unmitigated] == ["0", "2", "4"]
    assert all(p["limit"] == "2" and p["o"] == "id" and p["related_fields"] == "true"
               for p in calls)
    mitigated = [p for p in calls if p.get("is_mitigated") == "true"]
    assert [p["mitigated_after"] for p in mitigated] == ["2026-06-16T23:59:59Z"]
    assert all(c.request.headers["Authorization"] == f"Token {TOKEN}" for c in route.calls)
    assert result.complete == frozenset({RecordKind.FINDING})
    assert sorted(by_id(result)) == [f"finding:{i}" for i in range(1, 6)]
    first = by_id(result)["finding:1"]
    assert first.source == "dojo"
    assert first.severity is Severity.HIGH
    assert first.state is FindingState.OPEN and first.resolved_at is None
    # created on the discovery date: the exact creation time opens the SLA clock
    assert first.opened_at == datetime(2026, 11, 2, 9, 15, 27, 123456, tzinfo=UTC)
    assert first.asset == "payments-api"
    assert first.category == "sca"
    assert first.cve_ids == ("CVE-2026-12345",)
    assert first.disclosed_at == datetime(2026, 10, 20, tzinfo=UTC)
    assert not result.record_errors


@respx.mock
def test_each_lifecycle_state() -> None:
    """false_p and out_of_scope come mitigated too (DefectDojo's helper sets both): the
    dismissal flag wins over is_mitigated."""
    unmitigated = [
        finding(1),
        finding(2, active=False, risk_accepted=True,
                last_status_update="2026-11-05T10:00:00Z"),
        finding(3, active=False),  # inactive, no closing flag
    ]
    mitigated = [
        finding(4, active=False, is_mitigated=True, mitigated="2026-11-06T11:30:00Z",
                last_status_update="2026-11-06T11:30:00Z"),
        finding(5, active=False, is_mitigated=True, false_p=True,
                mitigated="2026-11-07T08:00:00Z"),
        finding(6, active=False, is_mitigated=True, out_of_scope=True,
                mitigated="2026-11-08T08:00:00Z"),
    ]
    respx.get(URL).mock(side_effect=serve({"false": unmitigated, "true": mitigated}))
    result = run(collector())
    got = {i: (f.state, f.resolved_at, f.dismissed_reason) for i, f in by_id(result).items()}
    assert got == {
        "finding:1": (FindingState.OPEN, None, None),
        "finding:2": (FindingState.DISMISSED, datetime(2026, 11, 5, 10, tzinfo=UTC),
                      "risk_accepted"),
        "finding:4": (FindingState.FIXED, datetime(2026, 11, 6, 11, 30, tzinfo=UTC), None),
        "finding:5": (FindingState.DISMISSED, datetime(2026, 11, 7, 8, tzinfo=UTC),
                      "false_positive"),
        "finding:6": (FindingState.DISMISSED, datetime(2026, 11, 8, 8, tzinfo=UTC),
                      "out_of_scope"),
    }
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 1}  # the inactive one


@respx.mock
def test_inactive_can_be_dismissed_by_config() -> None:
    respx.get(URL).mock(side_effect=serve({"false": [finding(3, active=False,
                                            last_status_update="2026-11-09T00:00:00Z")]}))
    result = run(collector(inactive="dismissed"))
    record = by_id(result)["finding:3"]
    assert (record.state, record.dismissed_reason) == (FindingState.DISMISSED, "inactive")
    assert record.resolved_at == datetime(2026, 11, 9, tzinfo=UTC)
    assert not result.record_errors


@respx.mock
def test_duplicates_and_info_are_skipped_and_counted_not_as_errors() -> None:
    items = [finding(1), finding(2, duplicate=True, active=False), finding(3, severity="Info"),
             finding(4, severity="Info")]
    respx.get(URL).mock(side_effect=serve({"false": items}))
    result = run(collector())
    assert list(by_id(result)) == ["finding:1"]
    assert not result.record_errors
    gauges = {dict(g.labels)["reason"]: g.value for g in result.gauges}
    assert gauges == {"duplicate": 1.0, "informational": 2.0}
    assert result.state["skipped"] == {"duplicate": 1, "informational": 2}


@respx.mock
def test_unknown_severity_is_unmapped_value(caplog: pytest.LogCaptureFixture) -> None:
    items = [finding(1, severity="Severe"), finding(2, severity="Severe"), finding(3)]
    respx.get(URL).mock(side_effect=serve({"false": items}))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert list(by_id(result)) == ["finding:3"]
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 2}
    assert sum("unknown severity" in r.getMessage() for r in caplog.records) == 1


@respx.mock
def test_category_asset_map_and_opened_at_rules() -> None:
    items = [
        finding(1, test_type="Semgrep JSON Report", date="2026-10-30"),  # created later
        finding(2, test_type="ZAP Scan", product="shop-frontend"),
        finding(3, test_type="Gitleaks Scan"),
        finding(4, test_type="Acme Pentest Import", vulnerability_ids=["GHSA-xxxx-yyyy"]),
        finding(5, test_type="Acme Pentest Import"),
    ]
    respx.get(URL).mock(side_effect=serve({"false": items}))
    result = run(collector(asset_map={"payments-api": "acme/payments-api"}))
    got = {i: (f.category, f.asset) for i, f in by_id(result).items()}
    assert got == {"finding:1": ("sast", "acme/payments-api"),
                   "finding:2": ("dast", "shop-frontend"),
                   "finding:3": ("secret", "acme/payments-api"),
                   "finding:4": ("other", "acme/payments-api"),
                   "finding:5": ("other", "acme/payments-api")}
    # created three days after the discovery date: the date's midnight opens the clock
    assert by_id(result)["finding:1"].opened_at == datetime(2026, 10, 30, tzinfo=UTC)
    assert by_id(result)["finding:4"].cve_ids == ()


@respx.mock
def test_configured_category_and_engagement_asset() -> None:
    respx.get(URL).mock(side_effect=serve({"false": [finding(1, test_type="Acme Import")]}))
    result = run(collector(categories={"Acme Import": "dast"}, asset="product/engagement"))
    record = by_id(result)["finding:1"]
    assert (record.category, record.asset) == ("dast", "payments-api/CI/CD main")


@respx.mock
def test_resolved_before_the_history_start_is_left_out() -> None:
    old = finding(1, active=False, risk_accepted=True, date="2025-01-02",
                  created="2025-01-02T08:00:00Z", last_status_update="2025-02-01T00:00:00Z")
    respx.get(URL).mock(side_effect=serve({"false": [old, finding(2)]}))
    result = run(collector())
    assert list(by_id(result)) == ["finding:2"]


# --- incremental runs -----------------------------------------------------------------


def incremental_state(watermark: datetime) -> dict[str, Any]:
    c = collector()
    full = run(c)  # a first run establishes the fingerprint
    state = dict(full.state)
    state["watermark"] = watermark.isoformat()
    state["last_full_sync"] = (NOW - timedelta(hours=1)).isoformat()
    return state


@respx.mock
def test_incremental_orders_by_status_change_and_stops_at_the_watermark() -> None:
    """DefectDojo has no last_status_update range filter (exact match only): the run
    lists newest status change first and stops once past the watermark less overlap."""
    route = respx.get(URL).mock(side_effect=serve({}))
    state = incremental_state(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    route.reset()
    changes = [
        finding(9, last_status_update="2026-11-23T11:00:00Z"),
        finding(8, duplicate=True, active=False, last_status_update="2026-11-22T11:00:00Z"),
        finding(7, active=False, is_mitigated=True, mitigated="2026-11-21T10:00:00Z",
                last_status_update="2026-11-21T10:00:00Z"),
        finding(6, last_status_update="2026-11-20T11:55:00Z"),  # inside the 10 min overlap
        finding(5, last_status_update="2026-11-20T11:40:00Z"),  # past it: stop
        finding(4, last_status_update="2026-11-19T00:00:00Z"),
        finding(3, last_status_update="2026-11-18T00:00:00Z"),
    ]
    route.side_effect = serve({"incremental": changes})
    result = run(collector(), ctx(state))
    calls = [c.request.url.params for c in route.calls]
    assert [p["offset"] for p in calls] == ["0", "2", "4"]  # never reached offset 6
    assert all(p["o"] == "-last_status_update,-id" and "is_mitigated" not in p
               for p in calls)
    assert sorted(by_id(result)) == ["finding:6", "finding:7", "finding:9"]
    assert by_id(result)["finding:7"].state is FindingState.FIXED
    assert result.complete == frozenset()
    assert result.deleted == {RecordKind.FINDING: [("dojo", "finding:8")]}
    assert result.state["last_full_sync"] == state["last_full_sync"]


@respx.mock
def test_config_change_or_old_full_pass_forces_a_full_pass() -> None:
    route = respx.get(URL).mock(side_effect=serve({}))
    state = incremental_state(NOW - timedelta(hours=1))
    route.reset()
    run(collector(asset="engagement"), ctx(state))
    assert {c.request.url.params.get("is_mitigated") for c in route.calls} == {"true", "false"}
    route.reset()
    run(collector(), ctx({**state, "last_full_sync": (NOW - timedelta(days=2)).isoformat()}))
    assert {c.request.url.params.get("is_mitigated") for c in route.calls} == {"true", "false"}


# --- errors -----------------------------------------------------------------------


@respx.mock
def test_401_is_auth_and_the_token_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    respx.get(URL).mock(return_value=httpx.Response(401, json={"detail": "Invalid token."}))
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH
    assert TOKEN not in str(err.value)
    assert TOKEN not in caplog.text


@respx.mock
def test_drf_403_for_a_bad_token_is_auth_and_other_403_is_permission() -> None:
    """DefectDojo's first authentication class is the session one, so DRF answers a
    wrong token with 403 {"detail": "Invalid token."}."""
    route = respx.get(URL).mock(return_value=httpx.Response(403, json={
        "detail": "Invalid token."}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH
    route.return_value = httpx.Response(403, json={
        "detail": "You do not have permission to perform this action."})
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.PERMISSION


@respx.mock
def test_404_on_the_api_path_is_a_config_error() -> None:
    respx.get(URL).mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.CONFIG
    assert "base URL" in str(err.value)


@respx.mock
def test_429_with_retry_after_then_success() -> None:
    ok = serve({"false": [finding(1)]})
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or ok(request)
    respx.get(URL).mock(side_effect=handler)
    sleeps: list[float] = []
    result = run(collector(sleeps))
    assert sleeps == [7.0]
    assert list(by_id(result)) == ["finding:1"]


@respx.mock
def test_500_then_success() -> None:
    ok = serve({"false": [finding(1)]})
    answers = iter([httpx.Response(500, text="Server Error (500)")])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or ok(request)
    respx.get(URL).mock(side_effect=handler)
    sleeps: list[float] = []
    result = run(collector(sleeps))
    assert len(sleeps) == 1
    assert list(by_id(result)) == ["finding:1"]


@respx.mock
def test_timeouts_are_retried_then_fail_as_timeout() -> None:
    respx.get(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.TIMEOUT


@respx.mock
def test_truncated_body_is_malformed_response() -> None:
    body = b'{"count": 5, "next": "' + URL.encode() + b'?limit=2&offset=2", "results": [{"id": 1'
    respx.get(URL).mock(return_value=httpx.Response(
        200, content=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_wrong_shape_is_malformed_response() -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, json={"results": {}, "count": 1}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_count_changing_mid_listing_deletes_nothing() -> None:
    """A finding deleted while paging shifts the offsets: the pass is not complete."""
    items = [finding(i) for i in range(1, 6)]
    counts = iter([5, 4, 4])

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params["is_mitigated"] == "true":
            return httpx.Response(200, json=page([], count=0, offset=0))
        offset = int(params["offset"])
        body = page(items[offset:offset + 2], count=5, offset=offset)
        body["count"] = next(counts)
        if offset >= 4:
            body["next"] = None
        return httpx.Response(200, json=body)
    respx.get(URL).mock(side_effect=handler)
    result = run(collector())
    assert result.complete == frozenset()
    assert len(result.findings) == 5


@respx.mock
def test_a_next_link_that_never_ends_is_bounded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        body = page([finding(offset + 1), finding(offset + 2)], count=4, offset=offset)
        body["next"] = f"{URL}?limit=2&offset={offset + 2}"  # always another page
        return httpx.Response(200, json=body)
    route = respx.get(URL).mock(side_effect=handler)
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert len(route.calls) == 3  # ceil(4 / 2) + 1 pages, then it stops


@respx.mock
def test_malformed_findings_are_skipped_and_counted() -> None:
    bad_time = finding(2, active=False, is_mitigated=True, mitigated="yesterday")
    no_id = finding(3)
    del no_id["id"]
    respx.get(URL).mock(side_effect=serve({"false": [finding(1), "nope", no_id],
                                           "true": [bad_time]}))
    result = run(collector())
    assert list(by_id(result)) == ["finding:1"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 3}


# --- check and settings ----------------------------------------------------------------


@respx.mock
def test_check_asks_for_one_finding() -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, json=page(
        [finding(1)], count=1, offset=0, limit=1)))
    assert asyncio.run(collector().check(ctx())) == []
    assert route.calls.last.request.url.params["limit"] == "1"
    route.return_value = httpx.Response(401, json={"detail": "Invalid token."})
    problems = asyncio.run(collector().check(ctx()))
    assert len(problems) == 1 and problems[0].startswith("auth:")
    assert TOKEN not in problems[0]


@respx.mock
def test_product_ids_scope_every_request() -> None:
    route = respx.get(URL).mock(side_effect=serve({}))
    run(collector(product_ids=[3, 5], params={"tags": "pci"}))
    assert all(c.request.url.params["test__engagement__product"] == "3,5"
               and c.request.url.params["tags"] == "pci" for c in route.calls)


def test_settings_validation() -> None:
    with pytest.raises(ValidationError):
        settings(url=f"{DD}/api/v2/")
    with pytest.raises(ValidationError):
        settings(params={"offset": "5"})
    with pytest.raises(ValidationError):
        settings(categories={"Acme": "pentest"})
    assert settings(url=f"{DD}/").url == DD
