"""Tests for the Elastic Security collector, against responses shaped like the
Elasticsearch search / point-in-time APIs and Kibana's detection engine search route."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.elastic import ElasticCollector, ElasticSettings, _iso
from collectors.records import Disposition, RecordKind, Severity
from exporter.quarters import history_start

ES = "https://es.example.test:9200"
KB = "https://kibana.example.test:5601"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PIT = "46ToAwMDaWR5BXV1aWQyKwZub2RlXzMAAAAAAAAAACoBYw=="


async def _no_sleep(_: float) -> None:
    return None


def settings(**overrides: Any) -> ElasticSettings:
    os_env = {"api_key": {"env": "ELASTIC_TEST_KEY"}}
    data: dict[str, Any] = {"url": ES, **os_env, "http": {"max_retries": 2}}
    data.update(overrides)
    return ElasticSettings.model_validate(data)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELASTIC_TEST_KEY", API_KEY)
    monkeypatch.setenv("ELASTIC_TEST_PASSWORD", "s3cret-pass")


def ctx(state: dict[str, Any] | None = None, now: datetime = NOW) -> CollectContext:
    """A context as the core builds it: the history starts a quarter and 14 days back."""
    return CollectContext("elastic-soc", now, state or {}, logging.getLogger("test.elastic"),
                          history_start=history_start(now))


# First and last day of a quarter: the previous quarter (July-September) plus the 14-day
# margin must be collected on both.
QUARTER_EDGES = [datetime(2026, 10, 1, 0, 30, tzinfo=UTC),
                 datetime(2026, 12, 31, 23, 30, tzinfo=UTC)]
HISTORY_START = "2026-06-17T00:00:00.000Z"


def collector(**overrides: Any) -> ElasticCollector:
    return ElasticCollector("elastic-soc", settings(**overrides), sleep=_no_sleep)


def alert_hit(uuid: str, *, created: str = "2026-11-01T10:00:00.000Z",
              status: str | None = "open", reason: str | None = None,
              updated: str | None = None, severity: str = "high",
              rule: str = "Suspicious PowerShell", sort: int = 0,
              nested: bool = False) -> dict[str, Any]:
    """One hit as Elasticsearch returns it from .alerts-security.alerts-default."""
    source: dict[str, Any] = {
        "@timestamp": created,
        "kibana.alert.uuid": uuid,
        "kibana.alert.original_time": "2026-11-01T09:58:00.000Z",
        "kibana.alert.rule.name": rule,
        "kibana.alert.severity": severity,
    }
    if status is not None:
        source["kibana.alert.workflow_status"] = status
    if reason is not None:
        source["kibana.alert.workflow_reason"] = reason
    if updated is not None:
        source["kibana.alert.workflow_status_updated_at"] = updated
    if nested:
        flat = source
        source = {"@timestamp": flat.pop("@timestamp"), "kibana": {"alert": {}}}
        for key, value in flat.items():
            parts = key.split(".")[2:]
            node = source["kibana"]["alert"]
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
    return {"_index": ".internal.alerts-security.alerts-default-000001", "_id": uuid,
            "_score": None, "_source": source, "sort": [sort]}


def search_page(hits: list[dict[str, Any]], *, total: int | None = None,
                pit_id: str | None = PIT) -> dict[str, Any]:
    body: dict[str, Any] = {
        "took": 3, "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"max_score": None, "hits": hits},
    }
    if total is not None:
        body["hits"]["total"] = {"value": total, "relation": "eq"}
    if pit_id is not None:
        body["pit_id"] = pit_id
    return body


def mock_pit(router: respx.MockRouter) -> tuple[respx.Route, respx.Route]:
    opened = router.post(f"{ES}/.alerts-security.alerts-default/_pit").mock(
        return_value=httpx.Response(200, json={"id": PIT})
    )
    closed = router.delete(f"{ES}/_pit").mock(
        return_value=httpx.Response(200, json={"succeeded": True, "num_freed": 1})
    )
    return opened, closed


def run(c: ElasticCollector, context: CollectContext | None = None):
    return asyncio.run(c.collect(context or ctx()))


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


# --- mapping -------------------------------------------------------------------


@respx.mock
def test_maps_statuses_reasons_and_times() -> None:
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([
        alert_hit("a-open"),
        alert_hit("a-ack", status="acknowledged", updated="2026-11-01T10:30:00.000Z",
                  severity="medium"),
        alert_hit("a-fp", status="closed", reason="false_positive",
                  updated="2026-11-01T12:00:00.000Z", severity="low"),
        alert_hit("a-tp", status="closed", reason="issue_resolved",
                  updated="2026-11-02T10:00:00.000Z", severity="critical"),
        alert_hit("a-dup", status="closed", reason="duplicate",
                  updated="2026-11-01T11:00:00.000Z"),
        alert_hit("a-noreason", status="closed", updated="2026-11-01T11:00:00.000Z",
                  nested=True),
        alert_hit("a-legacy", status="in-progress", updated="2026-11-01T10:05:00.000Z"),
    ])))
    result = run(collector())
    by_id = {a.id: a for a in result.siem_alerts}
    assert set(by_id) == {"a-open", "a-ack", "a-fp", "a-tp", "a-dup", "a-noreason", "a-legacy"}
    created = datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert by_id["a-open"].disposition is Disposition.UNTRIAGED
    assert by_id["a-open"].triaged_at is None
    assert by_id["a-open"].created_at == created
    assert by_id["a-open"].rule == "Suspicious PowerShell"
    assert by_id["a-open"].source == "elastic-soc"
    assert by_id["a-ack"].disposition is Disposition.UNTRIAGED
    assert by_id["a-ack"].triaged_at == created + timedelta(minutes=30)
    assert by_id["a-ack"].severity is Severity.MEDIUM
    assert by_id["a-fp"].disposition is Disposition.FALSE_POSITIVE
    assert by_id["a-fp"].triaged_at == created + timedelta(hours=2)
    assert by_id["a-tp"].disposition is Disposition.ACTIONABLE
    assert by_id["a-tp"].severity is Severity.CRITICAL
    assert by_id["a-dup"].disposition is Disposition.BENIGN
    assert by_id["a-noreason"].disposition is Disposition.UNDETERMINED
    assert by_id["a-noreason"].triaged_at == created + timedelta(hours=1)
    assert by_id["a-legacy"].triaged_at == created + timedelta(minutes=5)
    assert result.complete == frozenset({RecordKind.SIEM_ALERT})
    assert not result.record_errors
    # the acknowledged alerts are remembered for their first status change
    assert set(result.state["first_change"]) == {"a-ack", "a-legacy"}


@respx.mock
def test_reason_map_and_acknowledged_disposition_are_configurable() -> None:
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([
        alert_hit("a1", status="closed", reason="acceptable_risk",
                  updated="2026-11-01T11:00:00.000Z"),
        alert_hit("a2", status="acknowledged", updated="2026-11-01T11:00:00.000Z"),
    ])))
    c = collector(reason_map={"acceptable_risk": "actionable"},
                  acknowledged_disposition="undetermined")
    by_id = {a.id: a for a in run(c).siem_alerts}
    assert by_id["a1"].disposition is Disposition.ACTIONABLE
    assert by_id["a2"].disposition is Disposition.UNDETERMINED


@respx.mock
def test_unknown_reason_is_skipped_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """DESIGN 2026-12-02: a closing reason no mapping knows is never guessed undetermined."""
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([
        alert_hit(f"a{i}", status="closed", reason="automated_closure",
                  updated="2026-11-01T11:00:00.000Z") for i in range(3)
    ] + [alert_hit("weird", status="snoozed"), alert_hit("sev", severity="informational"),
         alert_hit("known", status="closed", reason="other",
                   updated="2026-11-01T11:00:00.000Z")])))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    by_id = {a.id: a for a in result.siem_alerts}
    assert set(by_id) == {"sev", "known"}  # a0..a2 (new reason) and weird (new status) skipped
    assert "weird" not in by_id  # unknown status: cannot tell whether it was triaged
    assert by_id["known"].disposition is Disposition.UNDETERMINED
    assert by_id["sev"].severity is None
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 5
    assert caplog.text.count("'automated_closure'") == 1
    assert caplog.text.count("'snoozed'") == 1


@respx.mock
def test_malformed_hits_are_skipped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    mock_pit(respx)
    good = alert_hit("good")
    no_time = alert_hit("no-time")
    del no_time["_source"]["@timestamp"]
    bad_time = alert_hit("bad-time", created="yesterday")
    backwards = alert_hit("backwards", status="closed", reason="false_positive",
                          updated="2026-10-01T00:00:00.000Z")
    no_source = {"_id": "x", "_index": "i"}
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page(
        [good, no_time, bad_time, backwards, no_source])))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert [a.id for a in result.siem_alerts] == ["good"]
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 4
    assert "no-time" in caplog.text and "#2" in caplog.text


def test_undetermined_verdicts_count_as_triaged() -> None:
    """A closed alert carries a verdict, undetermined included: never configurable as
    untriaged, which would drop it from the signal ratio's denominator."""
    with pytest.raises(ValidationError, match="reason_map"):
        settings(reason_map={"other": "untriaged", "false_positive": "false_positive"})
    with pytest.raises(ValidationError, match="closed_without_reason"):
        settings(closed_without_reason="untriaged")
    with respx.mock:
        mock_pit(respx)
        respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([
            alert_hit("other", status="closed", reason="other",
                      updated="2026-11-01T10:40:00.000Z"),
            alert_hit("silent", status="closed", updated="2026-11-01T10:50:00.000Z"),
        ])))
        by_id = {a.id: a for a in run(collector()).siem_alerts}
    created = datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert by_id["other"].disposition is Disposition.UNDETERMINED
    assert by_id["other"].triaged_at == created + timedelta(minutes=40)
    assert by_id["silent"].disposition is Disposition.UNDETERMINED
    assert by_id["silent"].triaged_at == created + timedelta(minutes=50)


@respx.mock
def test_false_positive_and_benign_alerts_yield_no_incidents() -> None:
    """Elastic alerts never become Incident records, so noise cannot reach MTTD/MTTC."""
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([
        alert_hit("fp", status="closed", reason="false_positive",
                  updated="2026-11-01T11:00:00.000Z"),
        alert_hit("benign", status="closed", reason="expected_activity",
                  updated="2026-11-01T11:00:00.000Z"),
    ])))
    result = run(collector())
    assert result.incidents == []
    assert {a.disposition for a in result.siem_alerts} == {
        Disposition.FALSE_POSITIVE, Disposition.BENIGN}


# --- the window ----------------------------------------------------------------------


def _range_server(alerts: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """A fake _search that honours every range filter of the query, one page."""
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        matched = alerts
        for clause in body["query"]["bool"]["filter"]:
            for name, bounds in clause.get("range", {}).items():
                matched = [a for a in matched if a["_source"].get(name) is not None
                           and bounds["gte"] <= a["_source"][name]
                           and ("lt" not in bounds or a["_source"][name] < bounds["lt"])]
        return httpx.Response(200, json=search_page(matched))
    return handler


@pytest.mark.parametrize("now", QUARTER_EDGES)
def test_full_pass_reaches_back_to_the_previous_quarter(now: datetime) -> None:
    """The full pass replaces the stored set: it must hold every alert a published
    quarter reads, on the first and on the last day of a quarter alike."""
    alerts = [
        alert_hit("margin", created="2026-06-20T08:00:00.000Z"),  # in the 14-day margin
        alert_hit("q3-start", created="2026-07-01T00:00:00.000Z"),
        alert_hit("too-old", created="2026-06-16T23:59:59.999Z"),
    ]
    with respx.mock:
        mock_pit(respx)
        search = respx.post(f"{ES}/_search").mock(side_effect=_range_server(alerts))
        result = run(collector(), ctx(now=now))
    assert result.complete == frozenset({RecordKind.SIEM_ALERT})
    assert {a.id for a in result.siem_alerts} == {"margin", "q3-start"}
    [sent] = bodies(search)
    assert sent["query"]["bool"]["filter"][-1]["range"]["@timestamp"]["gte"] == HISTORY_START


@pytest.mark.parametrize("now", QUARTER_EDGES)
def test_kibana_slices_and_incremental_runs_start_at_the_history_start(now: datetime) -> None:
    with respx.mock:
        route = respx.post(f"{KB}/api/detection_engine/signals/search").mock(
            side_effect=_kibana_server([], 10))
        run(kibana_collector(), ctx(now=now))
        assert bodies(route)[0]["query"]["bool"]["filter"][-1]["range"]["@timestamp"][
            "gte"] == HISTORY_START
    c = collector()
    state = {"watermark": "2026-09-30T23:00:00.000Z", "last_full": _iso(now),
             "query_key": c._query_key()}
    with respx.mock:
        mock_pit(respx)
        search = respx.post(f"{ES}/_search").mock(
            return_value=httpx.Response(200, json=search_page([])))
        assert run(c, ctx(state, now=now)).complete == frozenset()
    changed = bodies(search)[1]["query"]["bool"]["filter"]
    assert changed[-1]["range"]["@timestamp"]["gte"] == HISTORY_START  # created_after


@pytest.mark.parametrize(("lookback", "start"), [
    ("30d", HISTORY_START),  # a shorter lookback cannot narrow the window
    ("400d", "2025-11-26T23:30:00.000Z"),  # a longer one widens it
])
def test_configured_lookback_only_widens_the_window(lookback: str, start: str) -> None:
    with respx.mock:
        mock_pit(respx)
        search = respx.post(f"{ES}/_search").mock(
            return_value=httpx.Response(200, json=search_page([])))
        run(collector(lookback=lookback), ctx(now=QUARTER_EDGES[1]))
    assert bodies(search)[0]["query"]["bool"]["filter"][-1]["range"]["@timestamp"][
        "gte"] == start


# --- Elasticsearch paging -----------------------------------------------------------


@respx.mock
def test_pit_search_after_pages_and_closes_pit() -> None:
    opened, closed = mock_pit(respx)
    pages = [
        search_page([alert_hit(f"p1-{i}", sort=i) for i in range(3)], pit_id="pit-2"),
        search_page([alert_hit(f"p2-{i}", sort=10 + i) for i in range(3)], pit_id="pit-3"),
        search_page([alert_hit("p3-0", sort=20)], pit_id="pit-4"),
    ]
    search = respx.post(f"{ES}/_search").mock(
        side_effect=[httpx.Response(200, json=p) for p in pages])
    result = run(collector(page_size=3, rules=["Suspicious PowerShell"]))
    assert len(result.siem_alerts) == 7
    sent = bodies(search)
    assert [b.get("search_after") for b in sent] == [None, [2], [12]]
    assert [b["pit"]["id"] for b in sent] == [PIT, "pit-2", "pit-3"]
    assert all(b["sort"] == [{"_shard_doc": "asc"}] and b["size"] == 3 for b in sent)
    assert "index" not in sent[0]
    filters = sent[0]["query"]["bool"]["filter"]
    assert {"terms": {"kibana.alert.rule.name": ["Suspicious PowerShell"]}} in filters
    assert filters[-1]["range"]["@timestamp"]["gte"] == HISTORY_START
    assert opened.calls[0].request.url.params["keep_alive"] == "300s"
    assert opened.calls[0].request.headers["Authorization"] == f"ApiKey {API_KEY}"
    assert json.loads(closed.calls[0].request.content) == {"id": "pit-4"}


@respx.mock
def test_pit_expired_midway_fails_the_run_and_still_closes() -> None:
    _, closed = mock_pit(respx)
    respx.post(f"{ES}/_search").mock(side_effect=[
        httpx.Response(200, json=search_page([alert_hit(f"a{i}", sort=i) for i in range(2)])),
        httpx.Response(404, json={"error": {
            "root_cause": [{"type": "search_context_missing_exception",
                            "reason": "No search context found for id [1]"}],
            "type": "search_phase_execution_exception", "reason": "all shards failed"},
            "status": 404}),
    ])
    with pytest.raises(CollectorError) as err:
        run(collector(page_size=2))
    assert err.value.kind is ErrorKind.NOT_FOUND
    assert closed.called


@respx.mock
def test_shard_failures_fail_the_run_instead_of_dropping_alerts() -> None:
    mock_pit(respx)
    page = search_page([alert_hit("a")])
    page["_shards"] = {"total": 2, "successful": 1, "skipped": 0, "failed": 1}
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=page))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.SERVER


@respx.mock
def test_basic_auth_and_custom_index() -> None:
    opened = respx.post(f"{ES}/alerts-a,alerts-b/_pit").mock(
        return_value=httpx.Response(200, json={"id": PIT}))
    respx.delete(f"{ES}/_pit").mock(return_value=httpx.Response(200, json={}))
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([])))
    c = ElasticCollector("elastic-soc", ElasticSettings.model_validate({
        "url": ES, "username": "svc_metrics", "password": {"env": "ELASTIC_TEST_PASSWORD"},
        "index": "alerts-a,alerts-b"}), sleep=_no_sleep)
    assert run(c).siem_alerts == []
    assert opened.calls[0].request.headers["Authorization"].startswith("Basic ")


# --- failures -----------------------------------------------------------------------


@pytest.mark.parametrize(("response", "kind"), [
    (httpx.Response(401, json={"error": {"type": "security_exception",
                                         "reason": "unable to authenticate"}, "status": 401}),
     ErrorKind.AUTH),
    (httpx.Response(403, json={"error": {"type": "security_exception",
                                         "reason": "action [indices:data/read/open_point_in_time]"
                                                   " is unauthorized"}, "status": 403}),
     ErrorKind.PERMISSION),
    (httpx.Response(503, text="upstream unavailable"), ErrorKind.SERVER),
    (httpx.Response(200, text="<html><body>Login</body></html>",
                    headers={"Content-Type": "text/html"}), ErrorKind.MALFORMED_RESPONSE),
    (httpx.Response(200, json={"unexpected": True}), ErrorKind.MALFORMED_RESPONSE),
])
def test_open_pit_failures(response: httpx.Response, kind: ErrorKind,
                           caplog: pytest.LogCaptureFixture) -> None:
    with respx.mock:
        respx.post(f"{ES}/.alerts-security.alerts-default/_pit").mock(return_value=response)
        with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
            run(collector())
    assert err.value.kind is kind
    assert API_KEY not in str(err.value) and API_KEY not in caplog.text


@respx.mock
def test_429_retry_after_then_success() -> None:
    mock_pit(respx)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    respx.post(f"{ES}/_search").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "too many"}),
        httpx.Response(200, json=search_page([alert_hit("a")])),
    ])
    c = ElasticCollector("elastic-soc", settings(), sleep=sleep)
    assert [a.id for a in asyncio.run(c.collect(ctx())).siem_alerts] == ["a"]
    assert slept == [7.0]


@respx.mock
def test_timeouts_exhaust_retries() -> None:
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.TIMEOUT


@respx.mock
def test_truncated_json_midway() -> None:
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(side_effect=[
        httpx.Response(200, json=search_page([alert_hit("a", sort=1)])),
        httpx.Response(200, content=b'{"hits": {"hits": [{"_id": "b"'),
    ])
    with pytest.raises(CollectorError) as err:
        run(collector(page_size=1))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


# --- incremental ----------------------------------------------------------------------


@respx.mock
def test_incremental_run_queries_only_changes_and_remembers_first_change() -> None:
    mock_pit(respx)
    search = respx.post(f"{ES}/_search").mock(side_effect=[
        httpx.Response(200, json=search_page([alert_hit("new", created="2026-11-23T11:55:00Z")])),
        httpx.Response(200, json=search_page([alert_hit(
            "seen-ack", status="closed", reason="issue_resolved",
            updated="2026-11-23T11:50:00.000Z")])),
    ])
    c = collector()
    state = {"watermark": "2026-11-23T11:00:00.000Z", "last_full": "2026-11-23T06:00:00.000Z",
             "query_key": c._query_key(),
             "first_change": {"seen-ack": "2026-11-01T10:20:00.000Z"}}
    result = run(c, ctx(state))
    assert result.complete == frozenset()  # upsert only
    by_id = {a.id: a for a in result.siem_alerts}
    assert by_id["seen-ack"].triaged_at == datetime(2026, 11, 1, 10, 20, tzinfo=UTC)
    assert by_id["seen-ack"].disposition is Disposition.ACTIONABLE
    assert result.state["first_change"] == {}
    assert result.state["last_full"] == "2026-11-23T06:00:00.000Z"
    assert result.state["watermark"] == "2026-11-23T12:00:00.000Z"
    first, second = (b["query"]["bool"]["filter"] for b in bodies(search))
    assert first[-1] == {"range": {"@timestamp": {
        "gte": "2026-11-23T10:50:00.000Z", "lt": "2026-11-23T12:00:00.001Z",
        "format": "strict_date_optional_time"}}}
    assert second[-2]["range"]["kibana.alert.workflow_status_updated_at"]["gte"] == (
        "2026-11-23T10:50:00.000Z")
    assert second[-1]["range"]["@timestamp"]["gte"] == HISTORY_START


@respx.mock
def test_full_pass_when_due_or_scope_changed() -> None:
    mock_pit(respx)
    search = respx.post(f"{ES}/_search").mock(
        return_value=httpx.Response(200, json=search_page([])))
    c = collector()
    stale = {"watermark": "2026-11-23T11:00:00.000Z", "last_full": "2026-11-22T11:00:00.000Z",
             "query_key": c._query_key()}
    assert run(c, ctx(stale)).complete == frozenset({RecordKind.SIEM_ALERT})
    changed = dict(stale, last_full="2026-11-23T11:00:00.000Z", query_key="other")
    assert run(c, ctx(changed)).complete == frozenset({RecordKind.SIEM_ALERT})
    assert search.call_count == 2


# --- Kibana mode -----------------------------------------------------------------------


def kibana_collector(**overrides: Any) -> ElasticCollector:
    # The alert tests leave the rule listing out (tests/collectors/test_elastic_rules.py).
    return collector(mode="kibana", url=KB, **{"detection_rules": False, **overrides})


def _kibana_server(alerts: list[dict[str, Any]], size: int) -> Callable[[httpx.Request],
                                                                           httpx.Response]:
    """A fake detection engine route: honours the time range, ignores paging keys."""
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert set(body) <= {"query", "aggs", "size", "track_total_hits", "_source",
                             "fields", "runtime_mappings", "sort"}
        assert request.headers["kbn-xsrf"] == "true"
        rng = body["query"]["bool"]["filter"][-1]["range"]["@timestamp"]
        lo, hi = rng["gte"], rng["lt"]
        matched = [a for a in alerts if lo <= a["_source"]["@timestamp"] < hi]
        return httpx.Response(200, json=search_page(matched[:body["size"]], total=len(matched),
                                                   pit_id=None))
    return handler


@respx.mock
def test_kibana_mode_splits_full_slices_until_everything_fits() -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    alerts = [alert_hit(f"k{i}", created=(base + timedelta(minutes=7 * i)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")) for i in range(50)]
    route = respx.post(f"{KB}/api/detection_engine/signals/search").mock(
        side_effect=_kibana_server(alerts, 10))
    result = run(kibana_collector(page_size=10))
    assert sorted(a.id for a in result.siem_alerts) == sorted(f"k{i}" for i in range(50))
    assert route.call_count >= 6  # at least ceil(50 / 10) + the first, over-full slice
    assert all("search_after" not in b and "from" not in b for b in bodies(route))


@respx.mock
def test_kibana_mode_space_path_and_dense_millisecond_fails() -> None:
    alerts = [alert_hit(f"d{i}", created="2026-11-05T00:00:00.000Z") for i in range(5)]
    respx.post(f"{KB}/s/soc/api/detection_engine/signals/search").mock(
        side_effect=_kibana_server(alerts, 2))
    with pytest.raises(CollectorError) as err:
        run(kibana_collector(page_size=2, space="soc"))
    assert err.value.kind is ErrorKind.CLIENT
    assert "page_size" in str(err.value)


@respx.mock
def test_kibana_mode_requires_exact_total() -> None:
    page = search_page([alert_hit("a")], pit_id=None)
    respx.post(f"{KB}/api/detection_engine/signals/search").mock(
        return_value=httpx.Response(200, json=page))
    with pytest.raises(CollectorError) as err:
        run(kibana_collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


# --- config and check ------------------------------------------------------------------


def test_config_requires_exactly_one_auth_and_refuses_inline_secrets() -> None:
    with pytest.raises(ValidationError):
        ElasticSettings.model_validate({"url": ES})
    with pytest.raises(ValidationError):
        ElasticSettings.model_validate({"url": ES, "api_key": API_KEY})
    with pytest.raises(ValidationError):
        ElasticSettings.model_validate({"url": ES, "api_key": {"env": "ELASTIC_TEST_KEY"},
                                        "username": "u",
                                        "password": {"env": "ELASTIC_TEST_PASSWORD"}})
    with pytest.raises(ValidationError):
        settings(reason_map={"false_positive": "maybe"})
    with pytest.raises(ValidationError):
        settings(unknown_key=1)
    assert API_KEY not in repr(settings())


@respx.mock
def test_check_reports_problems_without_secrets() -> None:
    respx.post(f"{ES}/.alerts-security.alerts-default/_search").mock(
        return_value=httpx.Response(401, json={"error": {"reason": "unable to authenticate"}}))
    problems = asyncio.run(collector().check(ctx()))
    assert len(problems) == 1 and problems[0].startswith("auth:")
    assert API_KEY not in problems[0]


@respx.mock
def test_kibana_incremental_slices_on_status_change_time_too() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        field = next(iter(body["query"]["bool"]["filter"][0]["range"]))
        seen.append(field)
        hits = [alert_hit("changed", status="closed", reason="false_positive",
                          updated="2026-11-23T11:30:00.000Z")] if field != "@timestamp" else []
        return httpx.Response(200, json=search_page(hits, total=len(hits), pit_id=None))

    respx.post(f"{KB}/api/detection_engine/signals/search").mock(side_effect=handler)
    c = kibana_collector()
    state = {"watermark": "2026-11-23T11:00:00.000Z", "last_full": "2026-11-23T06:00:00.000Z",
             "query_key": c._query_key()}
    result = run(c, ctx(state))
    assert seen == ["@timestamp", "kibana.alert.workflow_status_updated_at"]
    [alert] = result.siem_alerts
    assert alert.disposition is Disposition.FALSE_POSITIVE
    assert result.complete == frozenset()
