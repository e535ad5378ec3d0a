"""SplunkCollector against respx fakes shaped like the Splunk REST API reference.

Shapes: ``POST /services/search/v2/jobs/export`` with ``output_mode=json`` streams one
JSON object per line, ``{"preview": false, "offset": n, "result": {...}}``, the last row of
the final result set carrying ``"lastrow": true`` (Splunk SDK docs, "To work with results
from an export search"); an export with no results is the single line
``{"preview": false, "lastrow": true}``; ``{"messages": [{"type": "FATAL", "text": ...}]}``
when the search fails. ``POST /services/search/jobs`` returns ``{"sid": ...}``;
``DELETE /services/search/jobs/{sid}`` removes a job;
``GET /services/search/jobs/{sid}`` returns ``{"entry": [{"content": {"dispatchState",
"isDone", "isFailed", "resultCount", "messages"}}]}``; ``GET .../results`` returns
``{"preview", "init_offset", "messages", "fields", "results": [...]}``. Result values
are strings, as Splunk returns them. Review fields follow ES's ``notable`` macro and
``incident_review_lookup``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.records import Disposition, Severity
from collectors.splunk import SplunkCollector, SplunkSettings, splunk_time
from exporter.quarters import history_start

TOKEN = "eyJraWQiOiJzcGx1bmsuc2VjcmV0-token-value"
PASSWORD = "pa55-w0rd-value"
BASE = "https://es.example.com:8089"
EXPORT = f"{BASE}/services/search/v2/jobs/export"
JOBS = f"{BASE}/services/search/jobs"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HISTORY_START = history_start(NOW)  # 2026-07-01 less the 14-day margin
WINDOW_START = int(HISTORY_START.timestamp())


async def _no_sleep(seconds: float) -> None:
    _no_sleep.calls.append(seconds)  # type: ignore[attr-defined]


_no_sleep.calls = []  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLUNK_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("SPLUNK_TEST_PASSWORD", PASSWORD)
    _no_sleep.calls.clear()  # type: ignore[attr-defined]


def settings(**overrides: Any) -> SplunkSettings:
    # The notable tests leave the rule listing out (test_splunk_rules.py).
    base: dict[str, Any] = {"base_url": BASE, "token": {"env": "SPLUNK_TEST_TOKEN"},
                            "http": {"max_retries": 2}, "detection_rules": False}
    base.update(overrides)
    return SplunkSettings.model_validate({k: v for k, v in base.items() if v is not None})


class FakeClock:
    def __init__(self, step: float = 0.0) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def collector(clock: FakeClock | None = None, **overrides: Any) -> SplunkCollector:
    return SplunkCollector("splunk-es", settings(**overrides), sleep=_no_sleep,
                           clock=clock or FakeClock())


def ctx(state: dict[str, Any] | None = None, now: datetime = NOW) -> CollectContext:
    """A context as the core builds it: ``history_start`` from the quarter of ``now``."""
    return CollectContext(name="splunk-es", now=now, state=state or {},
                          logger=logging.getLogger("test.splunk"),
                          history_start=history_start(now))


def epoch(text: str) -> str:
    return f"{datetime.fromisoformat(text).timestamp():.3f}"


# ES dispositions (reviewstatuses) and their labels, as the `notable` macro returns them.
DISPOSITION_LABELS = {
    "disposition:0": "Unassigned",
    "disposition:1": "True Positive - Suspicious Activity",
    "disposition:2": "Benign Positive - Suspicious But Expected",
    "disposition:3": "False Positive - Incorrect Analytic Logic",
    "disposition:4": "False Positive - Inaccurate Data",
    "disposition:5": "Other",
    "disposition:6": "Undetermined",
}


def notable(event_id: str, *, status: str = "5", label: str = "Closed",
            disposition: str | None = "disposition:1", urgency: str = "high",
            created: str = "2026-11-20T10:00:00+00:00", rule: str = "Brute Force Access",
            default: bool | None = None) -> dict[str, Any]:
    """One row of `notable` as the search API returns it (all values strings).

    The macro adds ``disposition_label`` and ``disposition_default`` (``"true"`` when the
    notable still carries the disposition ES gives new notables, Undetermined by default).
    """
    row: dict[str, Any] = {
        "event_id": event_id, "rule_name": rule,
        "search_name": "Access - Brute Force Access Behavior Detected - Rule",
        "status": status, "status_label": label, "urgency": urgency,
        "notable_epoch": epoch(created),
        "_time": datetime.fromisoformat(created).astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.000+00:00"),
    }
    if disposition is not None:
        row["disposition"] = disposition
        row["disposition_label"] = DISPOSITION_LABELS.get(disposition, "Custom")
        is_default = disposition == "disposition:6" if default is None else default
        row["disposition_default"] = "true" if is_default else "false"
    return row


def review(rule_id: str, first: str | None, last: str) -> dict[str, Any]:
    """One row of the review-history summary (stats by rule_id)."""
    row = {"rule_id": rule_id, "last_review": f"{datetime.fromisoformat(last).timestamp():.0f}"}
    if first is not None:
        row["first_status_change"] = f"{datetime.fromisoformat(first).timestamp():.0f}"
    return row


def export_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A complete export stream: the last row carries ``lastrow``; no rows, the end line."""
    if not rows:
        return [json.dumps({"preview": False, "lastrow": True})]
    lines = []
    for i, row in enumerate(rows):
        obj: dict[str, Any] = {"preview": False, "offset": i, "result": row}
        if i == len(rows) - 1:
            obj["lastrow"] = True
        lines.append(json.dumps(obj))
    return lines


def export_body(rows: list[dict[str, Any]]) -> str:
    return "\n".join(export_lines(rows)) + "\n"


class DroppedStream(httpx.AsyncByteStream):
    """A response body whose connection drops after ``chunks`` (what httpx raises then)."""

    def __init__(self, *chunks: str) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk.encode()
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body")


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def export_router(reviews: list[dict[str, Any]], *notable_batches: list[dict[str, Any]]
                  ) -> Any:
    """Answer the review search and then each notable search in turn."""
    batches = list(notable_batches)

    def handler(request: httpx.Request) -> httpx.Response:
        spl = form(request)["search"]
        if "incident_review_lookup" in spl:
            return httpx.Response(200, text=export_body(reviews))
        return httpx.Response(200, text=export_body(batches.pop(0)))
    return handler


def run(coll: SplunkCollector, context: CollectContext | None = None) -> Any:
    return asyncio.run(coll.collect(context or ctx()))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@respx.mock
def test_export_full_run_maps_status_disposition_urgency_and_triage_time() -> None:
    route = respx.post(EXPORT).mock(side_effect=export_router(
        [review("A1", "2026-11-20T10:20:00+00:00", "2026-11-20T11:00:00+00:00"),
         review("A2", "2026-11-20T12:00:00+00:00", "2026-11-20T12:30:00+00:00"),
         review("A3", "2026-11-21T09:00:00+00:00", "2026-11-21T09:00:00+00:00")],
        [notable("A1"),
         notable("A2", disposition="disposition:3", urgency="medium"),
         notable("A3", status="2", label="In Progress", disposition="disposition:6",
                 urgency="critical"),
         notable("A4", status="1", label="New", disposition="disposition:0", urgency="low"),
         notable("A5", disposition="disposition:2", urgency="informational"),
         notable("A6", disposition="disposition:4"),
         notable("A7", status="4", label="Resolved", disposition="disposition:6")]))
    result = run(collector())

    review_form, notable_form = form(route.calls[0].request), form(route.calls[1].request)
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert review_form["output_mode"] == "json"
    assert f"where review_epoch>={WINDOW_START}" in review_form["search"]
    assert 'in(tostring(status), "0", "1")' in review_form["search"]
    assert notable_form["search"].startswith("search `notable` | eval notable_epoch=_time")
    assert notable_form["earliest_time"] == str(WINDOW_START)
    assert notable_form["latest_time"] == f"{NOW.timestamp():.0f}"

    alerts = {a.id: a for a in result.siem_alerts}
    assert {k: a.disposition for k, a in alerts.items()} == {
        "A1": Disposition.ACTIONABLE, "A2": Disposition.FALSE_POSITIVE,
        "A3": Disposition.UNTRIAGED, "A4": Disposition.UNTRIAGED, "A5": Disposition.BENIGN,
        "A6": Disposition.FALSE_POSITIVE, "A7": Disposition.UNDETERMINED}
    a1 = alerts["A1"]
    assert a1.created_at == t("2026-11-20T10:00:00+00:00")
    assert a1.triaged_at == t("2026-11-20T10:20:00+00:00")
    assert a1.rule == "Brute Force Access" and a1.source == "splunk-es"
    assert a1.severity is Severity.HIGH
    assert alerts["A3"].triaged_at == t("2026-11-21T09:00:00+00:00")  # in progress: started
    assert alerts["A3"].severity is Severity.CRITICAL
    assert alerts["A4"].triaged_at is None
    assert alerts["A5"].severity is Severity.LOW
    assert alerts["A6"].triaged_at is None  # closed, but no review row in the window
    assert result.state == {"watermark": NOW.isoformat(), "last_full_sync": NOW.isoformat()}
    assert not result.record_errors


@respx.mock
def test_undated_time_is_read_in_the_configured_zone() -> None:
    row = notable("B1")
    del row["notable_epoch"]
    row["_time"] = "2026-11-20 10:15:03"
    respx.post(EXPORT).mock(side_effect=export_router([], [row]))
    (alert,) = run(collector(timezone="Europe/Berlin")).siem_alerts
    assert alert.created_at == datetime(2026, 11, 20, 9, 15, 3, tzinfo=UTC)


def test_splunk_time_forms() -> None:
    zone = __import__("zoneinfo").ZoneInfo("America/New_York")
    assert splunk_time("1763632800.000", zone) == datetime(2025, 11, 20, 10, 0, tzinfo=UTC)
    assert splunk_time("2026-11-20T10:00:00.000-05:00", zone) == t("2026-11-20T15:00:00+00:00")
    assert splunk_time("2026-11-20T10:00:00", zone) == t("2026-11-20T15:00:00+00:00")
    assert splunk_time(["2026-11-20T10:00:00Z", "x"], zone) == t("2026-11-20T10:00:00+00:00")
    assert splunk_time("", zone) is None
    with pytest.raises(ValueError):
        splunk_time("yesterday", zone)


@respx.mock
def test_incremental_run_fetches_new_notables_and_refetches_reviewed_ones() -> None:
    route = respx.post(EXPORT).mock(side_effect=export_router(
        [review("OLD1", "2026-11-23T11:30:00+00:00", "2026-11-23T11:30:00+00:00"),
         review("OLD2", "2026-10-01T00:00:00+00:00", "2026-10-01T00:00:00+00:00"),
         review("NEW1", None, "2026-11-23T11:40:00+00:00")],
        [notable("NEW1", status="1", label="New", created="2026-11-23T11:35:00+00:00")],
        [notable("OLD1", disposition="disposition:2", created="2026-11-01T00:00:00+00:00")]))
    state = {"watermark": "2026-11-23T11:00:00+00:00",
             "last_full_sync": "2026-11-23T06:00:00+00:00"}
    result = run(collector(), ctx(state))

    new_search, refetch = form(route.calls[1].request), form(route.calls[2].request)
    assert new_search["earliest_time"] == f"{t('2026-11-23T10:50:00+00:00').timestamp():.0f}"
    assert 'event_id IN ("OLD1")' in refetch["search"]
    assert refetch["earliest_time"] == str(WINDOW_START)
    alerts = {a.id: a for a in result.siem_alerts}
    assert set(alerts) == {"NEW1", "OLD1"}
    assert alerts["OLD1"].disposition is Disposition.BENIGN
    assert alerts["OLD1"].triaged_at == t("2026-11-23T11:30:00+00:00")
    assert result.state["last_full_sync"] == "2026-11-23T06:00:00+00:00"
    assert route.call_count == 3


@respx.mock
def test_basic_auth_and_app_namespace() -> None:
    url = f"{BASE}/servicesNS/nobody/SplunkEnterpriseSecuritySuite/search/jobs/export"
    route = respx.post(url).mock(side_effect=export_router([], [notable("C1")]))
    coll = collector(token=None, username="svc_metrics",
                     password={"env": "SPLUNK_TEST_PASSWORD"},
                     app="SplunkEnterpriseSecuritySuite", api="v1")
    assert len(run(coll).siem_alerts) == 1
    assert route.calls[0].request.headers["Authorization"].startswith("Basic ")


@respx.mock
def test_job_mode_polls_and_pages_results_by_offset() -> None:
    create = respx.post(JOBS).mock(side_effect=[
        httpx.Response(201, json={"sid": "1763900000.101"}),
        httpx.Response(201, json={"sid": "1763900000.102"})])
    respx.get(f"{JOBS}/1763900000.101").mock(return_value=httpx.Response(200, json={
        "entry": [{"name": "1763900000.101", "content": {
            "dispatchState": "DONE", "isDone": True, "isFailed": False, "resultCount": 1}}]}))
    status = respx.get(f"{JOBS}/1763900000.102").mock(side_effect=[
        httpx.Response(200, json={"entry": [{"content": {
            "dispatchState": "RUNNING", "isDone": False, "isFailed": False,
            "resultCount": 0}}]}),
        httpx.Response(200, json={"entry": [{"content": {
            "dispatchState": "DONE", "isDone": True, "isFailed": False, "resultCount": 3}}]})])
    respx.get(f"{BASE}/services/search/v2/jobs/1763900000.101/results").mock(
        return_value=httpx.Response(200, json={
            "preview": False, "init_offset": 0, "messages": [], "fields": [],
            "results": [review("J1", "2026-11-20T10:05:00+00:00",
                               "2026-11-20T10:05:00+00:00")]}))
    results = respx.get(f"{BASE}/services/search/v2/jobs/1763900000.102/results").mock(
        side_effect=[
            httpx.Response(200, json={"preview": False, "init_offset": 0, "messages": [],
                                      "results": [notable("J1"), notable("J2")]}),
            httpx.Response(200, json={"preview": False, "init_offset": 2, "messages": [],
                                      "results": [notable("J3", status="1", label="New",
                                                          disposition="disposition:6")]})])
    delete = respx.delete(path__regex=r"^/services/search/jobs/1763900000\.10[12]$").mock(
        return_value=httpx.Response(200))
    result = run(collector(mode="job", page_size=2))

    assert form(create.calls[1].request)["search"].startswith("search `notable`")
    assert status.call_count == 2 and _no_sleep.calls == [2.0]  # type: ignore[attr-defined]
    assert [dict(c.request.url.params) for c in results.calls] == [
        {"output_mode": "json", "count": "2", "offset": "0"},
        {"output_mode": "json", "count": "2", "offset": "2"}]
    alerts = {a.id: a for a in result.siem_alerts}
    assert set(alerts) == {"J1", "J2", "J3"}
    assert alerts["J1"].triaged_at == t("2026-11-20T10:05:00+00:00")
    assert alerts["J3"].disposition is Disposition.UNTRIAGED
    assert sorted(c.request.url.path for c in delete.calls) == [
        "/services/search/jobs/1763900000.101", "/services/search/jobs/1763900000.102"]


@respx.mock
def test_job_past_its_budget_is_cancelled() -> None:
    respx.post(JOBS).mock(return_value=httpx.Response(201, json={"sid": "slow.1"}))
    respx.get(f"{JOBS}/slow.1").mock(return_value=httpx.Response(200, json={
        "entry": [{"content": {"dispatchState": "RUNNING", "isDone": False,
                               "isFailed": False, "resultCount": 0}}]}))
    cancel = respx.post(f"{JOBS}/slow.1/control").mock(return_value=httpx.Response(
        200, json={"messages": [{"type": "INFO", "text": "Search job cancelled."}]}))
    delete = respx.delete(f"{JOBS}/slow.1").mock(return_value=httpx.Response(404))
    with pytest.raises(CollectorError) as err:
        run(collector(FakeClock(step=30.0), mode="job", search_budget="2m"))
    assert err.value.kind is ErrorKind.TIMEOUT
    assert cancel.call_count == 1
    assert form(cancel.calls[0].request) == {"action": "cancel"}
    assert delete.call_count == 1  # 404 (the cancel already removed it) is fine


@respx.mock
def test_failed_job_is_a_client_error_and_cancelled() -> None:
    respx.post(JOBS).mock(return_value=httpx.Response(201, json={"sid": "bad.1"}))
    respx.get(f"{JOBS}/bad.1").mock(return_value=httpx.Response(200, json={
        "entry": [{"content": {"dispatchState": "FAILED", "isDone": True, "isFailed": True,
                               "messages": [{"type": "FATAL",
                                             "text": "Unknown search command 'notable'."}]}}]}))
    cancel = respx.post(f"{JOBS}/bad.1/control").mock(return_value=httpx.Response(200))
    delete = respx.delete(f"{JOBS}/bad.1").mock(return_value=httpx.Response(200))
    with pytest.raises(CollectorError) as err:
        run(collector(mode="job"))
    assert err.value.kind is ErrorKind.CLIENT
    assert "Unknown search command" in str(err.value)
    assert cancel.call_count == 1 and delete.call_count == 1


@respx.mock
def test_job_results_ending_early_fail_the_run() -> None:
    respx.post(JOBS).mock(return_value=httpx.Response(201, json={"sid": "s.1"}))
    respx.get(f"{JOBS}/s.1").mock(return_value=httpx.Response(200, json={
        "entry": [{"content": {"dispatchState": "DONE", "isDone": True, "resultCount": 5}}]}))
    respx.get(f"{BASE}/services/search/v2/jobs/s.1/results").mock(
        return_value=httpx.Response(200, json={"results": []}))
    respx.post(f"{JOBS}/s.1/control").mock(return_value=httpx.Response(200))
    respx.delete(f"{JOBS}/s.1").mock(return_value=httpx.Response(200))
    with pytest.raises(CollectorError) as err:
        run(collector(mode="job"))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_export_past_its_budget_fails_with_timeout() -> None:
    respx.post(EXPORT).mock(side_effect=export_router(
        [], [notable(f"E{i}") for i in range(20)]))
    with pytest.raises(CollectorError) as err:
        run(collector(FakeClock(step=10.0), search_budget="1m"))
    assert err.value.kind is ErrorKind.TIMEOUT


@respx.mock
def test_refused_token_is_auth_and_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    respx.post(EXPORT).mock(return_value=httpx.Response(401, json={
        "messages": [{"type": "WARN", "text": "call not properly authenticated"}]}))
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH
    assert TOKEN not in str(err.value) and TOKEN not in caplog.text


@respx.mock
def test_refused_password_is_auth_and_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    respx.post(JOBS).mock(return_value=httpx.Response(401, json={
        "messages": [{"type": "WARN", "text": "Login failed"}]}))
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
        run(collector(mode="job", token=None, username="svc",
                      password={"env": "SPLUNK_TEST_PASSWORD"}))
    assert err.value.kind is ErrorKind.AUTH
    assert PASSWORD not in str(err.value) and PASSWORD not in caplog.text


@respx.mock
def test_429_retry_after_is_honoured_on_export() -> None:
    handler = export_router([], [notable("R1")])
    responses = iter([httpx.Response(429, headers={"Retry-After": "7"})])

    def first_429(request: httpx.Request) -> httpx.Response:
        return next(responses, None) or handler(request)
    respx.post(EXPORT).mock(side_effect=first_429)
    result = run(collector())
    assert _no_sleep.calls == [7.0]  # type: ignore[attr-defined]
    assert [a.id for a in result.siem_alerts] == ["R1"]


@respx.mock
def test_429_retry_after_is_honoured_on_job() -> None:
    respx.post(JOBS).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "3"}),
                                       httpx.Response(201, json={"sid": "r"}),
                                       httpx.Response(201, json={"sid": "n"})])
    for sid, count in (("r", 0), ("n", 1)):
        respx.get(f"{JOBS}/{sid}").mock(return_value=httpx.Response(200, json={
            "entry": [{"content": {"dispatchState": "DONE", "isDone": True,
                                   "resultCount": count}}]}))
    respx.get(f"{BASE}/services/search/v2/jobs/n/results").mock(
        return_value=httpx.Response(200, json={"results": [notable("Q1")]}))
    respx.delete(path__regex=r"^/services/search/jobs/[rn]$").mock(
        return_value=httpx.Response(200))
    result = run(collector(mode="job"))
    assert _no_sleep.calls == [3.0]  # type: ignore[attr-defined]
    assert [a.id for a in result.siem_alerts] == ["Q1"]


@pytest.mark.parametrize("mode", ["export", "job"])
@respx.mock
def test_5xx_fails_with_server(mode: str) -> None:
    route = respx.post(EXPORT if mode == "export" else JOBS).mock(
        return_value=httpx.Response(503, text="<html>Service Unavailable</html>"))
    with pytest.raises(CollectorError) as err:
        run(collector(mode=mode))
    assert err.value.kind is ErrorKind.SERVER
    assert route.call_count == 3


@pytest.mark.parametrize("mode", ["export", "job"])
@respx.mock
def test_timeout_fails_with_timeout(mode: str) -> None:
    respx.post(EXPORT if mode == "export" else JOBS).mock(
        side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CollectorError) as err:
        run(collector(mode=mode))
    assert err.value.kind is ErrorKind.TIMEOUT


@respx.mock
def test_403_is_permission() -> None:
    respx.post(EXPORT).mock(return_value=httpx.Response(403, json={
        "messages": [{"type": "ERROR", "text": "no search capability"}]}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.PERMISSION


@respx.mock
def test_non_json_export_body_is_malformed() -> None:
    respx.post(EXPORT).mock(return_value=httpx.Response(
        200, text="<!doctype html><html><body>Splunk login</body></html>"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_non_json_job_status_is_malformed() -> None:
    respx.post(JOBS).mock(return_value=httpx.Response(201, json={"sid": "h"}))
    respx.get(f"{JOBS}/h").mock(return_value=httpx.Response(200, text="<html>oops</html>"))
    cancel = respx.post(f"{JOBS}/h/control").mock(return_value=httpx.Response(200))
    delete = respx.delete(f"{JOBS}/h").mock(return_value=httpx.Response(200))
    with pytest.raises(CollectorError) as err:
        run(collector(mode="job"))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert cancel.call_count == 1 and delete.call_count == 1


@respx.mock
def test_fatal_message_in_export_stream_fails_the_run() -> None:
    body = json.dumps({"messages": [{"type": "FATAL",
                                     "text": "Error in 'SearchParser': macro `notable`"}]})
    respx.post(EXPORT).mock(return_value=httpx.Response(200, text=body + "\n"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.CLIENT
    assert "SearchParser" in str(err.value)


@respx.mock
def test_preview_rows_are_ignored() -> None:
    lines = [json.dumps({"preview": True, "offset": 0, "result": notable("P0")}),
             json.dumps({"preview": False, "offset": 0, "lastrow": True,
                         "result": notable("P1")})]
    respx.post(EXPORT).mock(side_effect=[httpx.Response(200, text=export_body([])),
                                         httpx.Response(200, text="\n".join(lines))])
    assert [a.id for a in run(collector()).siem_alerts] == ["P1"]


@respx.mock
def test_unknown_values_are_unmapped_logged_once_and_not_fatal(
        caplog: pytest.LogCaptureFixture) -> None:
    respx.post(EXPORT).mock(side_effect=export_router([], [
        notable("U1", disposition="disposition:7"),
        notable("U2", disposition="disposition:7"),
        notable("U3", status="9", label="Escalated"),
        notable("U4", urgency="extreme"),
        notable("U5"),
        {"rule_name": "no id", "_time": "1763632800"},
        notable("U5"),  # duplicate rows are kept once
    ]))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 4
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 1
    assert caplog.text.count("disposition:7") == 1
    assert "Escalated" in caplog.text and "extreme" in caplog.text
    assert [a.id for a in result.siem_alerts] == ["U5"]


@respx.mock
def test_mappings_are_configurable() -> None:
    respx.post(EXPORT).mock(side_effect=export_router([], [
        notable("M1", disposition="disposition:5"),
        notable("M2", status="3", label="Pending", disposition="disposition:1"),
        notable("M3", status="7", label="Escalated", disposition="disposition:9")]))
    result = run(collector(dispositions={"disposition:5": "actionable",
                                         "disposition:9": "benign"},
                           statuses={"3": "triaged", "7": "triaged"}))
    assert {a.id: a.disposition for a in result.siem_alerts} == {
        "M1": Disposition.ACTIONABLE, "M2": Disposition.ACTIONABLE, "M3": Disposition.BENIGN}


@respx.mock
def test_search_filter_scopes_the_notable_search() -> None:
    route = respx.post(EXPORT).mock(side_effect=export_router([], []))
    run(collector(search_filter="security_domain=endpoint"))
    assert form(route.calls[1].request)["search"].startswith(
        "search `notable` | search security_domain=endpoint | eval")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="either token"):
        settings(username="svc")
    with pytest.raises(ValueError, match="either token"):
        settings(username="svc", password={"env": "SPLUNK_TEST_PASSWORD"})
    with pytest.raises(ValueError, match="inline"):
        settings(token="literal-token")
    with pytest.raises(ValueError, match="time zone"):
        settings(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="numeric"):
        settings(statuses={"closed": "triaged"})


@respx.mock
def test_check_reports_problems() -> None:
    respx.post(EXPORT).mock(return_value=httpx.Response(401))
    problems = asyncio.run(collector().check(ctx()))
    assert problems and problems[0].startswith("auth")


@respx.mock
def test_check_in_job_mode_cancels_the_probe_job() -> None:
    respx.post(JOBS).mock(return_value=httpx.Response(201, json={"sid": "probe"}))
    respx.get(f"{JOBS}/probe").mock(return_value=httpx.Response(200, json={
        "entry": [{"content": {"dispatchState": "DONE", "isDone": True, "resultCount": 1}}]}))
    respx.get(f"{BASE}/services/search/v2/jobs/probe/results").mock(
        return_value=httpx.Response(200, json={"results": [notable("K1")]}))
    cancel = respx.post(f"{JOBS}/probe/control").mock(return_value=httpx.Response(200))
    delete = respx.delete(f"{JOBS}/probe").mock(return_value=httpx.Response(200))
    assert asyncio.run(collector(mode="job").check(ctx())) == []
    assert cancel.call_count == 1 and delete.call_count == 1


# -- export streams that did not end as Splunk ends a complete export ------------------

def _notable_export(handler_for_notables: Any) -> Any:
    """Answer the review search completely and the notable search with ``handler``."""
    def handler(request: httpx.Request) -> httpx.Response:
        if "incident_review_lookup" in form(request)["search"]:
            return httpx.Response(200, text=export_body([]))
        return handler_for_notables(request)
    return handler


_ROWS = [notable("X1"), notable("X2"), notable("X3")]
_FULL = export_lines(_ROWS)


@pytest.mark.parametrize("body", [
    pytest.param("\n".join(_FULL[:2]) + "\n", id="cut-at-line-boundary"),
    pytest.param("\n".join(_FULL[:2]), id="cut-at-line-boundary-no-newline"),
    pytest.param("\n".join(_FULL[:2]) + "\n" + _FULL[2][:40], id="cut-mid-line"),
    pytest.param("", id="empty-body"),
    pytest.param("\n\n", id="blank-lines-only"),
    pytest.param("\n".join([*_FULL, json.dumps({"preview": False, "offset": 3,
                                               "result": notable("X4")})]) + "\n",
                 id="rows-after-the-last-row-then-cut"),
    pytest.param("\n".join(json.dumps({"preview": True, "offset": i, "result": r,
                                       **({"lastrow": True} if i == 2 else {})})
                           for i, r in enumerate(_ROWS)) + "\n",
                 id="only-preview-results"),
    pytest.param(json.dumps({"preview": False, "messages": [
        {"type": "INFO", "text": "Your timerange was substituted"}]}) + "\n",
                 id="messages-only"),
])
@respx.mock
def test_export_stream_that_did_not_end_complete_fails_the_run(body: str) -> None:
    respx.post(EXPORT).mock(side_effect=_notable_export(
        lambda request: httpx.Response(200, text=body)))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert TOKEN not in str(err.value)


@respx.mock
def test_export_with_zero_results_is_a_complete_empty_result() -> None:
    route = respx.post(EXPORT).mock(side_effect=export_router([], []))
    result = run(collector())
    assert route.call_count == 2
    assert result.siem_alerts == [] and not result.record_errors
    assert result.state["watermark"] == NOW.isoformat()


@respx.mock
def test_export_tolerates_info_and_warn_messages_and_trailing_end_line() -> None:
    lines = [json.dumps({"preview": False, "messages": [
                 {"type": "INFO", "text": "Search mode is normal."},
                 {"type": "WARN", "text": "Some search peers were slow."}]}),
             *export_lines([notable("W1"), notable("W2")]),
             json.dumps({"preview": False, "lastrow": True})]
    respx.post(EXPORT).mock(side_effect=_notable_export(
        lambda request: httpx.Response(200, text="\n".join(lines) + "\n")))
    assert [a.id for a in run(collector()).siem_alerts] == ["W1", "W2"]


@respx.mock
def test_error_message_in_the_middle_of_the_stream_fails_the_run() -> None:
    lines = [*export_lines([notable("E1"), notable("E2")])[:1],
             json.dumps({"preview": False, "messages": [
                 {"type": "ERROR", "text": "[idx-3] Search process did not exit cleanly"}]}),
             *export_lines([notable("E1"), notable("E2")])[1:]]
    respx.post(EXPORT).mock(side_effect=_notable_export(
        lambda request: httpx.Response(200, text="\n".join(lines) + "\n")))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.CLIENT
    assert "did not exit cleanly" in str(err.value)


@respx.mock
def test_connection_dropped_mid_stream_fails_without_replaying_the_export() -> None:
    calls: list[int] = []

    def dropping(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, stream=DroppedStream(_FULL[0] + "\n", _FULL[1][:30]))
    respx.post(EXPORT).mock(side_effect=_notable_export(dropping))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert "RemoteProtocolError" in str(err.value)
    assert len(calls) == 1  # rows were already handed on: never silently re-run


class StalledStream(httpx.AsyncByteStream):
    """A response body that goes silent (read timeout) after ``chunks``."""

    def __init__(self, *chunks: str) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk.encode()
        raise httpx.ReadTimeout("timed out")


@respx.mock
def test_stream_stalling_after_results_fails_with_timeout_without_replay() -> None:
    calls: list[int] = []

    def stalling(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, stream=StalledStream(_FULL[0] + "\n"))
    respx.post(EXPORT).mock(side_effect=_notable_export(stalling))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.TIMEOUT
    assert "after 1 results" in str(err.value)
    assert len(calls) == 1


@respx.mock
def test_connection_dropped_before_any_result_is_retried() -> None:
    responses = iter([httpx.Response(200, stream=DroppedStream('{"preview":fa'))])

    def first_drops(request: httpx.Request) -> httpx.Response:
        return next(responses, None) or httpx.Response(200, text=export_body([notable("D1")]))
    respx.post(EXPORT).mock(side_effect=_notable_export(first_drops))
    assert [a.id for a in run(collector()).siem_alerts] == ["D1"]


# -- job mode removes its search jobs --------------------------------------------------

def _job_routes(sid: str, rows: list[dict[str, Any]], count: int | None = None) -> None:
    respx.get(f"{JOBS}/{sid}").mock(return_value=httpx.Response(200, json={
        "entry": [{"content": {"dispatchState": "DONE", "isDone": True, "isFailed": False,
                               "resultCount": len(rows) if count is None else count}}]}))
    respx.get(f"{BASE}/services/search/v2/jobs/{sid}/results").mock(
        return_value=httpx.Response(200, json={"preview": False, "init_offset": 0,
                                               "messages": [], "results": rows}))


@respx.mock
def test_job_mode_deletes_each_job_once_its_results_are_read() -> None:
    respx.post(JOBS).mock(side_effect=[httpx.Response(201, json={"sid": "rev.1"}),
                                       httpx.Response(201, json={"sid": "not.1"})])
    _job_routes("rev.1", [])
    _job_routes("not.1", [notable("G1")])
    deletes = {sid: respx.delete(f"{JOBS}/{sid}").mock(return_value=httpx.Response(
        200, json={"messages": [{"type": "INFO", "text": "Search job cancelled."}]}))
        for sid in ("rev.1", "not.1")}
    cancel = respx.post(path__regex=r"^/services/search/jobs/.*/control$").mock(
        return_value=httpx.Response(200))
    result = run(collector(mode="job"))
    assert [a.id for a in result.siem_alerts] == ["G1"]
    assert {sid: route.call_count for sid, route in deletes.items()} == {
        "rev.1": 1, "not.1": 1}
    assert cancel.call_count == 0


@respx.mock
def test_job_mode_deletes_the_job_when_reading_fails_and_keeps_the_error() -> None:
    respx.post(JOBS).mock(return_value=httpx.Response(201, json={"sid": "s.2"}))
    _job_routes("s.2", [], count=5)  # claims 5 results, then returns none
    cancel = respx.post(f"{JOBS}/s.2/control").mock(return_value=httpx.Response(200))
    delete = respx.delete(f"{JOBS}/s.2").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(CollectorError) as err:
        run(collector(mode="job"))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert "ended at 0 of 5" in str(err.value)
    assert cancel.call_count == 1 and delete.call_count == 3  # retried, then given up


@respx.mock
def test_job_mode_run_succeeds_when_the_delete_fails() -> None:
    respx.post(JOBS).mock(side_effect=[httpx.Response(201, json={"sid": "r.3"}),
                                       httpx.Response(201, json={"sid": "n.3"})])
    _job_routes("r.3", [])
    _job_routes("n.3", [notable("H1")])
    delete = respx.delete(path__regex=r"^/services/search/jobs/[rn]\.3$").mock(
        return_value=httpx.Response(500))
    result = run(collector(mode="job"))
    assert [a.id for a in result.siem_alerts] == ["H1"]
    assert delete.call_count == 6  # 2 jobs x 3 attempts; best effort, never fatal


# -- the collection window reaches back to the previous quarter ------------------------

@pytest.mark.parametrize("now", [datetime(2026, 10, 1, 0, 30, tzinfo=UTC),
                                 datetime(2026, 12, 31, 23, 30, tzinfo=UTC)],
                         ids=["first-day-of-quarter", "last-day-of-quarter"])
@respx.mock
def test_first_run_reaches_back_to_the_previous_quarter(now: datetime) -> None:
    start = datetime(2026, 6, 17, tzinfo=UTC)
    assert history_start(now) == start
    route = respx.post(EXPORT).mock(side_effect=export_router([], []))
    run(collector(), ctx(now=now))
    review_form, notable_form = form(route.calls[0].request), form(route.calls[1].request)
    for sent in (review_form, notable_form):
        assert sent["earliest_time"] == f"{start.timestamp():.0f}"
        assert sent["latest_time"] == f"{now.timestamp():.0f}"
    assert f"where review_epoch>={start.timestamp():.0f} " in review_form["search"]


@pytest.mark.parametrize(("lookback", "expected"), [
    ("30d", datetime(2026, 6, 17, tzinfo=UTC)),  # narrower than the history: ignored
    ("400d", NOW - timedelta(days=400)),          # wider: widens the window
])
@respx.mock
def test_configured_lookback_can_only_widen_the_window(lookback: str,
                                                       expected: datetime) -> None:
    route = respx.post(EXPORT).mock(side_effect=export_router([], []))
    run(collector(lookback=lookback))
    for call in route.calls:
        assert form(call.request)["earliest_time"] == f"{expected.timestamp():.0f}"


@respx.mock
def test_incremental_refetch_and_review_history_use_the_window() -> None:
    route = respx.post(EXPORT).mock(side_effect=export_router(
        [review("OLD9", "2026-11-23T11:30:00+00:00", "2026-11-23T11:30:00+00:00")],
        [], [notable("OLD9", created="2026-06-20T00:00:00+00:00")]))
    state = {"watermark": "2026-11-23T11:00:00+00:00",
             "last_full_sync": "2026-11-23T06:00:00+00:00"}
    result = run(collector(), ctx(state))
    review_form, refetch = form(route.calls[0].request), form(route.calls[2].request)
    assert review_form["earliest_time"] == refetch["earliest_time"] == str(WINDOW_START)
    assert [a.id for a in result.siem_alerts] == ["OLD9"]


def test_lookback_defaults_to_the_published_history() -> None:
    assert settings().lookback is None
    assert settings(lookback="180d").lookback == timedelta(days=180)
    with pytest.raises(ValueError):
        settings(lookback="0s")


# -- triage: a recorded disposition, at any status ------------------------------------

@respx.mock
def test_disposition_recorded_counts_as_triaged_at_any_status() -> None:
    respx.post(EXPORT).mock(side_effect=export_router([], [
        notable("T1", status="2", label="In Progress", disposition="disposition:1"),
        notable("T2", status="1", label="New", disposition="disposition:3"),
        notable("T3", status="3", label="Pending", disposition="disposition:5"),
        notable("T4", status="2", label="In Progress", disposition="disposition:6"),
        notable("T5", status="1", label="New", disposition="disposition:0"),
        notable("T6", status="1", label="New", disposition=None),
        notable("T7", status="5", label="Closed", disposition="disposition:6"),
        notable("T8", status="4", label="Resolved", disposition=None),
        notable("T9", status="5", label="Closed", disposition="disposition:0"),
        notable("T10", status="2", label="In Progress", disposition="disposition:2",
                default=True),  # an admin made Benign the default: still ES's, not a verdict
        notable("T11", status="5", label="Closed", disposition="disposition:4"),
    ]))
    result = run(collector())
    assert {a.id: a.disposition for a in result.siem_alerts} == {
        "T1": Disposition.ACTIONABLE,       # true positive still in progress
        "T2": Disposition.FALSE_POSITIVE,   # verdict recorded before any status change
        "T3": Disposition.UNDETERMINED,     # "Other", chosen by an analyst
        "T4": Disposition.UNTRIAGED,        # ES's default Undetermined, not closed
        "T5": Disposition.UNTRIAGED,
        "T6": Disposition.UNTRIAGED,
        "T7": Disposition.UNDETERMINED,     # closed without a verdict: in the denominator
        "T8": Disposition.UNDETERMINED,
        "T9": Disposition.UNDETERMINED,
        "T10": Disposition.UNTRIAGED,
        "T11": Disposition.FALSE_POSITIVE,
    }
    assert not result.record_errors


@respx.mock
def test_unknown_disposition_is_unmapped_whatever_the_status(
        caplog: pytest.LogCaptureFixture) -> None:
    respx.post(EXPORT).mock(side_effect=export_router([], [
        notable("V1", status="2", label="In Progress", disposition="disposition:9"),
        notable("V2", status="1", label="New", disposition="disposition:9"),
        notable("V3", status="2", label="In Progress", disposition="disposition:1")]))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2
    assert [a.id for a in result.siem_alerts] == ["V3"]
    assert caplog.text.count("disposition:9 (Custom)") == 1


def test_status_class_triaged_is_read_as_closed() -> None:
    assert settings(statuses={"7": "triaged"}).status_map()["7"] == "closed"
    assert settings().status_map()["5"] == "closed"


@respx.mock
def test_review_history_counts_a_recorded_verdict_as_the_first_triage() -> None:
    route = respx.post(EXPORT).mock(side_effect=export_router([], []))
    run(collector())
    spl = form(route.calls[0].request)["search"]
    assert ('if(in(tostring(status), "0", "1") AND (isnull(disposition) OR '
            'in(tostring(disposition), "", "disposition:0", "disposition:6")), '
            'null(), review_epoch)') in spl
