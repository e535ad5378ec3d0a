"""Tests for the PagerDuty collector, against responses shaped like REST API v2
(``GET /incidents``, ``GET /log_entries``, ``GET /incidents/{id}``) and the analytics
raw incidents endpoint."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.pagerduty import PagerDutyCollector, PagerDutySettings, _iso
from collectors.records import RecordKind, Severity
from exporter.quarters import history_start

PD = "https://api.pagerduty.com"
TOKEN = "y_NbAkKc66ryYTWUXYEu"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# A context whose history is one 30-day window keeps paging tests to one since/until pair.
ONE_WINDOW = NOW - timedelta(days=30)
# First and last day of a quarter: the previous quarter (July-September) plus the 14-day
# margin must be collected on both.
QUARTER_EDGES = [datetime(2026, 10, 1, 0, 30, tzinfo=UTC),
                 datetime(2026, 12, 31, 23, 30, tzinfo=UTC)]
HISTORY_START = "2026-06-17T00:00:00Z"


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_TEST_TOKEN", TOKEN)


def settings(**overrides: Any) -> PagerDutySettings:
    data: dict[str, Any] = {"token": {"env": "PD_TEST_TOKEN"}, "http": {"max_retries": 2}}
    data.update(overrides)
    return PagerDutySettings.model_validate(data)


def collector(**overrides: Any) -> PagerDutyCollector:
    return PagerDutyCollector("pd-secops", settings(**overrides), sleep=_no_sleep)


def ctx(now: datetime = NOW, history: datetime | None = None) -> CollectContext:
    """A context as the core builds it (history from the quarters), or a shorter one."""
    return CollectContext("pd-secops", now, {}, logging.getLogger("test.pagerduty"),
                          history_start=history or history_start(now))


def run(c: PagerDutyCollector, context: CollectContext | None = None):
    return asyncio.run(c.collect(context or ctx()))


def incident(incident_id: str, *, created: str = "2026-11-10T08:00:00Z",
             status: str = "resolved", urgency: str = "high", priority: str | None = None,
             resolved: str | None = "2026-11-10T10:00:00Z", service: str = "PSVC001",
             team: str = "PTEAM01") -> dict[str, Any]:
    """An incident object as GET /incidents returns it."""
    body: dict[str, Any] = {
        "id": incident_id, "type": "incident", "summary": f"[#1234] {incident_id}",
        "self": f"{PD}/incidents/{incident_id}",
        "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
        "incident_number": 1234, "title": "Credential stuffing on login",
        "created_at": created, "updated_at": created, "status": status,
        "incident_key": "baf7cf21b1da41b4b0221008339ff357",
        "service": {"id": service, "type": "service_reference", "summary": "Auth edge",
                    "self": f"{PD}/services/{service}"},
        "assignments": [], "acknowledgements": [],
        "last_status_change_at": resolved or created,
        "escalation_policy": {"id": "PEP0001", "type": "escalation_policy_reference"},
        "teams": [{"id": team, "type": "team_reference", "summary": "SecOps"}],
        "urgency": urgency,
        "priority": ({"id": "PPRIO01", "type": "priority_reference", "summary": priority}
                     if priority else None),
    }
    if status == "resolved":
        body["resolved_at"] = resolved
    return body


def log_entry(kind: str, incident_id: str, at: str, entry_id: str = "R1") -> dict[str, Any]:
    return {"id": entry_id, "type": kind, "summary": kind.split("_")[0], "created_at": at,
            "incident": {"id": incident_id, "type": "incident_reference"},
            "service": {"id": "PSVC001", "type": "service_reference"}}


def listing(key: str, items: list[dict[str, Any]], *, offset: int = 0, limit: int = 100,
            more: bool = False, total: int | None = None) -> dict[str, Any]:
    return {key: items, "limit": limit, "offset": offset, "more": more, "total": total}


def params_of(route: respx.Route) -> list[httpx.QueryParams]:
    return [call.request.url.params for call in route.calls]


def field_value(name: str, value: Any, *, data_type: str = "string",
                field_type: str = "single_value_fixed") -> dict[str, Any]:
    """One entry of GET /incidents/{id}/custom_fields/values (CustomFieldsFieldValue)."""
    return {"id": f"PF{abs(hash(name)) % 10_000:04d}", "type": "field_value", "name": name,
            "display_name": name.replace("_", " ").title(), "description": None,
            "data_type": data_type, "field_type": field_type, "value": value}


def contained_field(at: str | None) -> dict[str, Any]:
    return field_value("contained_at", at, data_type="datetime", field_type="single_value")


def mock_custom_fields(values: dict[str, list[dict[str, Any]]]) -> respx.Route:
    """Every incident's field values; incidents not named have only an unset field."""
    def handler(request: httpx.Request) -> httpx.Response:
        incident_id = request.url.path.split("/")[2]
        fields = values.get(incident_id, [])
        return httpx.Response(200, json={"custom_fields": [
            field_value("environment", None), *fields]})
    return respx.get(url__regex=rf"^{PD}/incidents/[A-Z0-9-]+/custom_fields/values$").mock(
        side_effect=handler)


def no_log_entries() -> respx.Route:
    return respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))


# --- mapping ------------------------------------------------------------------------


@respx.mock
def test_maps_incidents_and_never_contains_at_the_first_acknowledgement() -> None:
    """DESIGN 2026-12-02: an acknowledgement is not containment; by default an incident is
    contained when resolved (an upper bound), and an unresolved one has no containment."""
    incidents = respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [
            incident("PINC001", priority="P1"),
            incident("PINC002", urgency="low", status="acknowledged", resolved=None),
            incident("PINC003", status="resolved", resolved="2026-11-11T08:00:00Z",
                     priority="Sev-custom", urgency="high"),
        ], total=3)))
    logs = respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [
            log_entry("acknowledge_log_entry", "PINC001", "2026-11-10T08:20:00Z", "A1"),
            log_entry("acknowledge_log_entry", "PINC001", "2026-11-10T08:05:00Z", "A0"),
            log_entry("resolve_log_entry", "PINC001", "2026-11-10T10:00:00Z", "R1"),
            log_entry("acknowledge_log_entry", "PINC002", "2026-11-10T09:00:00Z", "A2"),
            log_entry("notify_log_entry", "PINC002", "2026-11-10T08:01:00Z", "N1"),
        ], total=5)))
    result = run(collector(service_ids=["PSVC001"], urgencies=["high", "low"]),
                 ctx(history=ONE_WINDOW))
    by_id = {i.id: i for i in result.incidents}
    created = datetime(2026, 11, 10, 8, tzinfo=UTC)
    assert by_id["PINC001"].detected_at == created
    assert by_id["PINC001"].contained_at == created + timedelta(hours=2)  # not the 08:05 ack
    assert by_id["PINC001"].resolved_at == created + timedelta(hours=2)
    assert by_id["PINC001"].severity is Severity.CRITICAL
    assert by_id["PINC001"].started_at is None
    assert by_id["PINC001"].source == "pd-secops"
    assert by_id["PINC002"].contained_at is None  # acknowledged at 09:00, not contained
    assert by_id["PINC002"].resolved_at is None
    assert by_id["PINC002"].severity is Severity.LOW
    # priority unknown to the map falls back to urgency
    assert by_id["PINC003"].contained_at == datetime(2026, 11, 11, 8, tzinfo=UTC)
    assert by_id["PINC003"].severity is Severity.HIGH
    assert result.complete == frozenset({RecordKind.INCIDENT})
    assert not result.record_errors
    sent = params_of(incidents)[0]
    assert sent["since"] == "2026-10-24T12:00:00Z" and sent["until"] == "2026-11-23T12:00:00Z"
    assert sent["time_zone"] == "UTC" and sent["total"] == "true"
    assert sent.get_list("service_ids[]") == ["PSVC001"]
    assert sent.get_list("urgencies[]") == ["high", "low"]
    assert params_of(logs)[0]["is_overview"] == "true"
    request = incidents.calls[0].request
    assert request.headers["Authorization"] == f"Token token={TOKEN}"
    assert request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"


@respx.mock
def test_containment_can_be_resolution_or_none() -> None:
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [incident("PINC001")])))
    logs = respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))
    resolved = run(collector(containment="resolved", include_resolved_in_window=False))
    assert resolved.incidents[0].contained_at == datetime(2026, 11, 10, 10, tzinfo=UTC)
    assert not logs.called  # no log entries needed
    none = run(collector(containment="none", include_resolved_in_window=False))
    assert none.incidents[0].contained_at is None
    with pytest.raises(ValidationError, match="acknowledgement is not containment"):
        settings(containment="first_acknowledgement")


@respx.mock
def test_containment_from_a_datetime_custom_field() -> None:
    """The documented signal a responder or an incident workflow sets; unset, the
    resolution time (an upper bound) or nothing, as the operator chose."""
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [incident("PSET"), incident("PUNSET"),
                      incident("POPEN", status="acknowledged", resolved=None),
                      incident("PBADTIME")])))
    no_log_entries()
    values = mock_custom_fields({
        "PSET": [contained_field("2026-11-10T08:40:00Z")],
        "POPEN": [contained_field("2026-11-10T09:15:00Z")],
        "PUNSET": [contained_field(None)],
        "PBADTIME": [contained_field("soon")],
    })
    result = run(collector(containment="custom_field", containment_field="contained_at"),
                 ctx(history=ONE_WINDOW))
    by_id = {i.id: i for i in result.incidents}
    assert by_id["PSET"].contained_at == datetime(2026, 11, 10, 8, 40, tzinfo=UTC)
    assert by_id["POPEN"].contained_at == datetime(2026, 11, 10, 9, 15, tzinfo=UTC)
    assert by_id["PUNSET"].contained_at == datetime(2026, 11, 10, 10, tzinfo=UTC)  # resolved
    assert "PBADTIME" not in by_id
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 1
    assert values.call_count == 4  # one request per incident
    strict = run(collector(containment="custom_field", containment_field="contained_at",
                           contained_falls_back_to_resolved=False), ctx(history=ONE_WINDOW))
    assert {i.id: i.contained_at for i in strict.incidents}["PUNSET"] is None
    with pytest.raises(ValidationError, match="containment_field"):
        settings(containment="custom_field")
    with pytest.raises(ValidationError, match="containment_field"):
        settings(containment_field="contained_at")


@respx.mock
def test_false_positive_and_benign_incidents_yield_no_record(
        caplog: pytest.LogCaptureFixture) -> None:
    """DESIGN 2026-12-02: they are no security incidents (out of MTTD, MTTC and counts);
    a verdict the map does not know is skipped and counted, never guessed."""
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [incident(i) for i in ("PTP", "PFP", "PBEN", "PNONE", "PNEW1", "PNEW2")])))
    no_log_entries()
    verdict = "security_verdict"
    mock_custom_fields({
        "PTP": [field_value(verdict, "true_positive")],
        "PFP": [field_value(verdict, "false_positive"),
                field_value("false_alarm", True, data_type="boolean", field_type="single_value")],
        "PBEN": [field_value(verdict, "benign_positive")],
        "PNONE": [field_value(verdict, None)],
        "PNEW1": [field_value(verdict, "needs_review")],
        "PNEW2": [field_value(verdict, {"value": "needs_review"})],  # the schema's wrapping
    })
    with caplog.at_level(logging.WARNING):
        result = run(collector(classification_field=verdict), ctx(history=ONE_WINDOW))
    assert sorted(i.id for i in result.incidents) == ["PNONE", "PTP"]
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2
    assert caplog.text.count("'needs_review'") == 1
    assert result.complete == frozenset({RecordKind.INCIDENT})  # the excluded leave the store
    flagged = run(collector(classification_field="false_alarm",
                            classification_map={"true": "false_positive", "false": "actionable"}),
                  ctx(history=ONE_WINDOW))
    assert sorted(i.id for i in flagged.incidents) == ["PBEN", "PNEW1", "PNEW2", "PNONE", "PTP"]


@respx.mock
def test_a_misspelt_custom_field_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [incident("P1")])))
    no_log_entries()
    mock_custom_fields({"P1": [field_value("security_verdict", "false_positive")]})
    with caplog.at_level(logging.WARNING):
        result = run(collector(classification_field="Security Verdict"), ctx(history=ONE_WINDOW))
    assert [i.id for i in result.incidents] == ["P1"]  # unread: not classified, kept
    assert "'Security Verdict' is on none of 1 incidents" in caplog.text


def test_custom_field_request_failure_fails_the_run() -> None:
    with respx.mock:
        respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
            "incidents", [incident(f"P{i}") for i in range(6)])))
        no_log_entries()
        respx.get(url__regex=rf"^{PD}/incidents/[A-Z0-9]+/custom_fields/values$").mock(
            return_value=httpx.Response(403, json={"error": {"message": "Access Denied",
                                                             "code": 2010}}))
        with pytest.raises(CollectorError) as err:
            run(collector(classification_field="security_verdict"), ctx(history=ONE_WINDOW))
    assert err.value.kind is ErrorKind.PERMISSION


@respx.mock
def test_offset_pagination_follows_more() -> None:
    pages = [
        listing("incidents", [incident(f"P{i}") for i in range(2)], limit=2, more=True,
                total=5),
        listing("incidents", [incident(f"P{i}") for i in range(2, 4)], offset=2, limit=2,
                more=True),
        listing("incidents", [incident("P4")], offset=4, limit=2, more=False),
    ]
    route = respx.get(f"{PD}/incidents").mock(
        side_effect=[httpx.Response(200, json=p) for p in pages])
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))
    result = run(collector(page_limit=2), ctx(history=ONE_WINDOW))
    assert sorted(i.id for i in result.incidents) == [f"P{i}" for i in range(5)]
    assert [p["offset"] for p in params_of(route)] == ["0", "2", "4"]
    assert "total" not in params_of(route)[1]


@respx.mock
def test_window_over_the_10k_cap_is_split() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        since = request.url.params["since"]
        until = request.url.params["until"]
        span = (datetime.fromisoformat(until.replace("Z", "+00:00"))
                - datetime.fromisoformat(since.replace("Z", "+00:00")))
        if span > timedelta(days=10):
            return httpx.Response(200, json=listing("incidents", [incident("X")] * 100,
                                                    more=True, total=12_000))
        return httpx.Response(200, json=listing("incidents", [incident(
            f"I-{since}", created=since, status="triggered", resolved=None)], total=1))
    route = respx.get(f"{PD}/incidents").mock(side_effect=handler)
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))
    result = run(collector(window="30d", containment="resolved",
                           include_resolved_in_window=True), ctx(history=ONE_WINDOW))
    windows = [(p["since"], p["until"]) for p in params_of(route)]
    assert windows[0] == ("2026-10-24T12:00:00Z", "2026-11-23T12:00:00Z")
    assert windows[1] == ("2026-10-24T12:00:00Z", "2026-11-08T12:00:00Z")  # 15 days: split
    assert ("2026-10-24T12:00:00Z", "2026-11-01T00:00:00Z") in windows  # 7.5 days: fits
    assert len(windows) == 7  # 30d -> 2 x 15d -> 4 x 7.5d
    assert "X" not in {i.id for i in result.incidents}  # the over-full page was discarded
    assert {i.id for i in result.incidents} == {
        "I-2026-10-24T12:00:00Z", "I-2026-11-01T00:00:00Z", "I-2026-11-08T12:00:00Z",
        "I-2026-11-16T00:00:00Z"}


@respx.mock
def test_cap_without_total_splits_too() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        offset = int(request.url.params["offset"])
        since = request.url.params["since"]
        if since == "2026-10-24T12:00:00Z" and request.url.params["until"] == (
                "2026-11-23T12:00:00Z"):
            return httpx.Response(200, json=listing(
                "incidents", [incident(f"big{offset}")] * 100, offset=offset, limit=100,
                more=True))
        return httpx.Response(200, json=listing("incidents", [], total=None))
    respx.get(f"{PD}/incidents").mock(side_effect=handler)
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))
    result = run(collector(page_limit=100), ctx(history=ONE_WINDOW))
    assert result.incidents == []
    assert calls["n"] == 100 + 2  # pages up to offset 9,900, then the two halves


@respx.mock
def test_incident_created_before_window_but_resolved_inside_counts() -> None:
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [])))
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [log_entry("resolve_log_entry", "POLD001", "2026-11-02T00:00:00Z")])))
    old = incident("POLD001", created="2026-05-01T00:00:00Z", resolved="2026-11-02T00:00:00Z")
    one = respx.get(f"{PD}/incidents/POLD001").mock(
        return_value=httpx.Response(200, json={"incident": old}))
    result = run(collector())
    assert one.called
    [only] = result.incidents
    assert only.detected_at == datetime(2026, 5, 1, tzinfo=UTC)
    assert only.contained_at == datetime(2026, 11, 2, tzinfo=UTC)  # contained when resolved
    assert only.resolved_at == datetime(2026, 11, 2, tzinfo=UTC)


@respx.mock
def test_out_of_scope_old_incident_is_ignored() -> None:
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [])))
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [log_entry("resolve_log_entry", "POTHER", "2026-11-02T00:00:00Z")])))
    one = respx.get(f"{PD}/incidents/POTHER").mock(return_value=httpx.Response(200, json={
        "incident": incident("POTHER", created="2026-09-01T00:00:00Z", service="PSVC999",
                             urgency="low")}))
    # the log entry names service PSVC001, but the incident itself is low urgency
    assert run(collector(service_ids=["PSVC001"], urgencies=["high"])).incidents == []
    assert one.called


@respx.mock
def test_resolve_entries_of_other_services_are_not_fetched() -> None:
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [])))
    entry = log_entry("resolve_log_entry", "POTHER", "2026-11-02T00:00:00Z")
    entry["service"] = {"id": "PSVC999", "type": "service_reference"}
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [entry])))
    one = respx.get(f"{PD}/incidents/POTHER").mock(return_value=httpx.Response(404))
    assert run(collector(service_ids=["PSVC001"])).incidents == []
    assert not one.called


@respx.mock
def test_naive_times_are_read_in_the_requested_time_zone() -> None:
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [incident("PNAIVE", created="2026-11-10T09:00:00",
                               resolved="2026-11-10T10:00:00")])))
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))
    result = run(collector(time_zone="Europe/Berlin"))
    assert result.incidents[0].detected_at == datetime(2026, 11, 10, 8, tzinfo=UTC)


@respx.mock
def test_unknown_urgency_and_malformed_incidents(caplog: pytest.LogCaptureFixture) -> None:
    bad_time = incident("PBAD", created="last tuesday")
    backwards = incident("PBACK", created="2026-11-10T08:00:00Z", resolved="2026-11-09T00:00:00Z")
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [incident("PU1", urgency="critical-ish"),
                      incident("PU2", urgency="critical-ish"), bad_time, backwards,
                      {"type": "incident"}])))
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))
    with caplog.at_level(logging.WARNING):
        result = run(collector(), ctx(history=ONE_WINDOW))
    assert sorted(i.id for i in result.incidents) == ["PU1", "PU2"]
    assert all(i.severity is None for i in result.incidents)
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 3
    assert caplog.text.count("'critical-ish'") == 1


# --- failures -----------------------------------------------------------------------


@pytest.mark.parametrize(("response", "kind"), [
    (httpx.Response(401, json={"error": {"message": "Authentication Required", "code": 2006}}),
     ErrorKind.AUTH),
    (httpx.Response(403, json={"error": {"message": "Access Denied", "code": 2010}}),
     ErrorKind.PERMISSION),
    (httpx.Response(400, json={"error": {"message": "Invalid Input Provided", "code": 2001,
                                         "errors": ["Offset must be less than 10000"]}}),
     ErrorKind.CLIENT),
    (httpx.Response(200, text="<!DOCTYPE html><html>Bad gateway</html>",
                    headers={"Content-Type": "text/html"}), ErrorKind.MALFORMED_RESPONSE),
    (httpx.Response(200, json={"incidents": "nope", "more": False}),
     ErrorKind.MALFORMED_RESPONSE),
    (httpx.Response(200, json={"incidents": []}), ErrorKind.MALFORMED_RESPONSE),
])
def test_failures_fail_the_run_without_leaking_the_token(
        response: httpx.Response, kind: ErrorKind, caplog: pytest.LogCaptureFixture) -> None:
    with respx.mock:
        respx.get(f"{PD}/incidents").mock(return_value=response)
        with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
            run(collector())
    assert err.value.kind is kind
    assert TOKEN not in str(err.value) and TOKEN not in caplog.text


@respx.mock
def test_429_waits_for_ratelimit_reset_or_retry_after() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    respx.get(f"{PD}/incidents").mock(side_effect=[
        httpx.Response(429, headers={"ratelimit-reset": "12"}, json={"error": {"code": 2020}}),
        httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": 2020}}),
        httpx.Response(200, json=listing("incidents", [incident("P1")])),
    ])
    respx.get(f"{PD}/log_entries").mock(return_value=httpx.Response(200, json=listing(
        "log_entries", [])))
    c = PagerDutyCollector("pd-secops", settings(), sleep=sleep)
    assert [i.id for i in asyncio.run(c.collect(ctx(history=ONE_WINDOW))).incidents] == ["P1"]
    assert slept == [12.0, 3.0]


@respx.mock
def test_timeouts_after_retries() -> None:
    route = respx.get(f"{PD}/incidents").mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.TIMEOUT
    assert route.call_count == 3  # first try + max_retries


@respx.mock
def test_5xx_after_retries() -> None:
    route = respx.get(f"{PD}/incidents").mock(
        return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert route.call_count == 3  # first try + max_retries
    assert err.value.kind is ErrorKind.SERVER
    assert "HTTP 502" in str(err.value)


@respx.mock
def test_pagination_breaking_midway_fails_the_run() -> None:
    respx.get(f"{PD}/incidents").mock(side_effect=[
        httpx.Response(200, json=listing("incidents", [incident("P1")], limit=1, more=True)),
        httpx.Response(500, json={"error": {"message": "Internal error"}}),
        httpx.Response(500, json={"error": {"message": "Internal error"}}),
        httpx.Response(500, json={"error": {"message": "Internal error"}}),
    ])
    with pytest.raises(CollectorError):
        run(collector(page_limit=1))


# --- analytics ----------------------------------------------------------------------


def analytics_row(incident_id: str, *, created: str = "2026-11-10T08:00:00Z",
                  ack: int | None = 600, resolved: str | None = "2026-11-10T09:00:00Z",
                  urgency: str = "high", priority: str | None = "P2",
                  status: str = "resolved") -> dict[str, Any]:
    return {"id": incident_id, "incident_number": 7, "created_at": created,
            "resolved_at": resolved, "seconds_to_first_ack": ack,
            "seconds_to_resolve": 3600 if resolved else None, "status": status,
            "urgency": urgency, "priority_name": priority, "service_id": "PSVC001",
            "team_id": "PTEAM01", "major": False}


@respx.mock
def test_analytics_cursor_pagination_and_resolution_containment() -> None:
    route = respx.post(f"{PD}/analytics/raw/incidents").mock(side_effect=[
        httpx.Response(200, json={"data": [analytics_row("A1"), analytics_row("A2", ack=None,
                                                                              urgency="low")],
                                  "first": "c0", "last": "c2", "more": True, "limit": 2}),
        httpx.Response(200, json={"data": [analytics_row("A3", resolved=None, ack=60,
                                                         status="acknowledged")],
                                  "first": "c3", "last": "c3", "more": False, "limit": 2}),
    ])
    result = run(collector(api="analytics", analytics_page_limit=2, team_ids=["PTEAM01"],
                           urgencies=["high"]))
    by_id = {i.id: i for i in result.incidents}
    assert set(by_id) == {"A1", "A3"}  # A2 is low urgency: out of scope
    created = datetime(2026, 11, 10, 8, tzinfo=UTC)
    assert by_id["A1"].contained_at == created + timedelta(hours=1)  # not the ack after 10 min
    assert by_id["A1"].resolved_at == created + timedelta(hours=1)
    assert by_id["A1"].severity is Severity.HIGH
    assert by_id["A3"].contained_at is None  # acknowledged after a minute, still open
    sent = [json.loads(c.request.content) for c in route.calls]
    assert "starting_after" not in sent[0] and sent[1]["starting_after"] == "c2"
    assert sent[0]["filters"] == {"created_at_start": HISTORY_START,
                                  "created_at_end": "2026-11-23T12:00:00Z",
                                  "team_ids": ["PTEAM01"], "urgency": "high"}
    assert sent[0]["time_zone"] == "Etc/UTC"


@respx.mock
def test_analytics_more_without_cursor_fails() -> None:
    respx.post(f"{PD}/analytics/raw/incidents").mock(return_value=httpx.Response(
        200, json={"data": [analytics_row("A1")], "more": True, "last": None}))
    with pytest.raises(CollectorError) as err:
        run(collector(api="analytics"))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


# --- config and check ------------------------------------------------------------------


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        PagerDutySettings.model_validate({"token": TOKEN})
    with pytest.raises(ValidationError):
        settings(window="200d")
    with pytest.raises(ValidationError):
        settings(time_zone="Mars/Olympus")
    with pytest.raises(ValidationError):
        settings(urgencies=["urgent"])
    assert TOKEN not in repr(settings())


@respx.mock
def test_check_reports_auth_problem() -> None:
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(
        401, json={"error": {"message": "Authentication Required", "code": 2006}}))
    problems = asyncio.run(collector().check(ctx()))
    assert len(problems) == 1 and problems[0].startswith("auth:")
    assert TOKEN not in problems[0]


def test_registered_entry_points_load_both_collectors() -> None:
    from importlib.metadata import entry_points

    from collectors.elastic import ElasticCollector

    found = {ep.name: ep.load() for ep in entry_points(group="devsecops_exporter.collectors")
             if ep.name in ("elastic", "pagerduty")}
    assert found == {"elastic": ElasticCollector, "pagerduty": PagerDutyCollector}
    assert PagerDutyCollector.kinds == frozenset({RecordKind.INCIDENT})
    assert ElasticCollector.kinds == frozenset({RecordKind.SIEM_ALERT, RecordKind.DETECTION_RULE})


@respx.mock
def test_unknown_status_is_skipped_and_counted_once(caplog: pytest.LogCaptureFixture) -> None:
    """DESIGN 2026-12-02: PagerDuty may add statuses; one we do not know is never guessed
    (resolved or not decides MTTC), so the incident is skipped as unmapped_value."""
    respx.get(f"{PD}/incidents").mock(return_value=httpx.Response(200, json=listing(
        "incidents", [incident("PS1", status="snoozed", resolved=None),
                      incident("PS2", status="snoozed", resolved=None),
                      incident("PS3", status="resolved")])))
    no_log_entries()
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert [i.id for i in result.incidents] == ["PS3"]
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2
    assert not result.record_errors[ErrorKind.MALFORMED_RECORD]
    assert caplog.text.count("'snoozed'") == 1


@respx.mock
def test_analytics_applies_status_classification_and_containment_alike() -> None:
    respx.post(f"{PD}/analytics/raw/incidents").mock(return_value=httpx.Response(200, json={
        "data": [analytics_row("A1"), analytics_row("A2"), analytics_row("A3", status="merged"),
                 analytics_row("A4", ack=30, resolved=None, status="acknowledged")],
        "first": "c0", "last": "c3", "more": False, "limit": 1000}))
    mock_custom_fields({"A2": [field_value("security_verdict", "false_positive")]})
    result = run(collector(api="analytics", classification_field="security_verdict"))
    by_id = {i.id: i for i in result.incidents}
    assert set(by_id) == {"A1", "A4"}  # A2 false positive, A3 unknown status
    assert by_id["A1"].contained_at == datetime(2026, 11, 10, 9, tzinfo=UTC)  # resolved
    assert by_id["A4"].contained_at is None  # acknowledged after 30 s, not contained
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 1


# --- the window ------------------------------------------------------------------------


def _window_server(incidents: list[dict[str, Any]]):
    """A fake GET /incidents that honours since/until (by created_at), one page."""
    def handler(request: httpx.Request) -> httpx.Response:
        since, until = request.url.params["since"], request.url.params["until"]
        return httpx.Response(200, json=listing("incidents", [
            i for i in incidents if since <= i["created_at"] < until]))
    return handler


@pytest.mark.parametrize("now", QUARTER_EDGES)
def test_every_run_reaches_back_to_the_previous_quarter(now: datetime) -> None:
    """Each run returns the complete set: it must hold every incident a published quarter
    reads, on the first and on the last day of a quarter alike."""
    incidents = [incident("PMARGIN", created="2026-06-20T08:00:00Z",
                          resolved="2026-06-20T10:00:00Z"),
                 incident("PQ3", created="2026-07-01T00:00:00Z", resolved="2026-07-02T00:00:00Z"),
                 incident("PTOOOLD", created="2026-06-16T23:59:59Z",
                          resolved="2026-06-17T01:00:00Z")]
    with respx.mock:
        route = respx.get(f"{PD}/incidents").mock(side_effect=_window_server(incidents))
        no_log_entries()
        result = run(collector(), ctx(now=now))
    assert result.complete == frozenset({RecordKind.INCIDENT})
    assert sorted(i.id for i in result.incidents) == ["PMARGIN", "PQ3"]
    windows = [(p["since"], p["until"]) for p in params_of(route)]
    assert windows[0][0] == HISTORY_START
    assert windows[-1][1] == _iso(now)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))  # no gap
    with respx.mock:
        analytics = respx.post(f"{PD}/analytics/raw/incidents").mock(return_value=httpx.Response(
            200, json={"data": [], "first": None, "last": None, "more": False, "limit": 1000}))
        run(collector(api="analytics"), ctx(now=now))
    sent = json.loads(analytics.calls[0].request.content)["filters"]
    assert sent["created_at_start"] == HISTORY_START
    assert sent["created_at_end"] == _iso(now)


@pytest.mark.parametrize(("lookback", "start"), [
    ("30d", HISTORY_START),  # a shorter lookback cannot narrow the window
    ("400d", "2025-11-26T23:30:00Z"),  # a longer one widens it
])
def test_configured_lookback_only_widens_the_window(lookback: str, start: str) -> None:
    with respx.mock:
        route = respx.get(f"{PD}/incidents").mock(side_effect=_window_server([]))
        run(collector(lookback=lookback, include_resolved_in_window=False),
            ctx(now=QUARTER_EDGES[1]))
    assert params_of(route)[0]["since"] == start
