"""ElasticFleetCollector against respx fakes shaped like Kibana's Fleet API.

Shapes (elastic.co/docs/api/doc/kibana/operation/operation-get-fleet-agents): ``GET
/api/fleet/agents?page=&perPage=`` answers ``{"items": [agent, ...], "total", "page",
"perPage"}`` and, from 9.1, ``nextSearchAfter``; an agent has id, active, status
(Kibana's ``AgentStatuses``: offline, error, online, inactive, enrolling, unenrolling,
unenrolled, updating, degraded; 8.18+/9.x add orphaned and uninstalled), enrolled_at,
last_checkin, last_checkin_status, policy_id, agent {id, version} and local_metadata
{elastic.agent, host {hostname, id, name, ip, mac, architecture}, os}. Errors are
``{"statusCode", "error", "message"}``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.elastic_fleet import ElasticFleetCollector, ElasticFleetSettings
from collectors.records import RecordKind
from collectors.records_detection import Telemetry

KIBANA = "https://kibana.example:5601"
AGENTS = f"{KIBANA}/api/fleet/agents"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _no_sleep(seconds: float) -> None:
    _no_sleep.calls.append(seconds)  # type: ignore[attr-defined]


_no_sleep.calls = []  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_TEST_KEY", API_KEY)
    monkeypatch.setenv("FLEET_TEST_PASSWORD", "fleet-pa55word")
    _no_sleep.calls.clear()  # type: ignore[attr-defined]


def collector(**overrides: Any) -> ElasticFleetCollector:
    base: dict[str, Any] = {"url": KIBANA, "api_key": {"env": "FLEET_TEST_KEY"},
                            "http": {"max_retries": 2}}
    base.update(overrides)
    return ElasticFleetCollector("fleet", ElasticFleetSettings.model_validate(base),
                                 sleep=_no_sleep)


def ctx() -> CollectContext:
    return CollectContext(name="fleet", now=NOW, state={},
                          logger=logging.getLogger("test.fleet"))


def run(coll: ElasticFleetCollector) -> Any:
    return asyncio.run(coll.collect(ctx()))


_counter = [0]


def agent(hostname: str | None, status: str | None = "online", *,
          agent_id: str | None = None,
          last_checkin: str = "2026-11-23T11:58:30.123Z") -> dict[str, Any]:
    _counter[0] += 1
    aid = agent_id or f"0b7ae1b4-5c2c-4f3e-9d3a-{_counter[0]:012d}"
    host: dict[str, Any] = {"architecture": "x86_64", "id": "4a9f1c2e7b3d4e5f",
                            "ip": ["10.0.0.12/24"], "mac": ["02:42:ac:11:00:02"],
                            "name": hostname}
    if hostname is not None:
        host["hostname"] = hostname
    return {
        "id": aid, "active": status not in ("inactive", "unenrolled"),
        "status": status, "type": "PERMANENT", "policy_id": "servers",
        "policy_revision": 3, "enrolled_at": "2026-01-10T09:00:00.000Z",
        "last_checkin": last_checkin, "last_checkin_status": "online",
        "agent": {"id": aid, "version": "8.17.0"},
        "local_metadata": {
            "elastic": {"agent": {"id": aid, "version": "8.17.0", "upgradeable": True,
                                  "log_level": "info"}},
            "host": host,
            "os": {"family": "debian", "kernel": "6.1.0", "name": "Ubuntu",
                   "platform": "ubuntu", "version": "22.04"},
        },
    }


def page(items: list[Any], *, total: int | None = None, page_no: int = 1,
         per_page: int = 10000, search_after: Any = None) -> httpx.Response:
    body: dict[str, Any] = {"items": items, "total": len(items) if total is None else total,
                            "page": page_no, "perPage": per_page}
    if search_after is not None:
        body["nextSearchAfter"] = search_after
    return httpx.Response(200, json=body)


def by_id(result: Any) -> dict[str, Any]:
    return {w.id: w for w in result.records_of(RecordKind.WORKLOAD)}


@respx.mock
def test_pages_by_page_and_per_page_and_the_listing_is_complete() -> None:
    route = respx.get(AGENTS).mock(side_effect=[
        page([agent("web-1.prod.example"), agent("WEB-2")], total=3, per_page=2),
        page([agent("db-1", "offline")], total=3, page_no=2, per_page=2),
    ])
    result = run(collector(page_size=2))
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2"]
    first = route.calls[0].request
    assert first.url.params["perPage"] == "2"
    assert first.url.params["showInactive"] == "false"
    assert first.headers["kbn-xsrf"] == "true"
    assert first.headers["Authorization"] == f"ApiKey {API_KEY}"
    workloads = by_id(result)
    assert sorted(workloads) == ["db-1", "web-1", "web-2"]
    assert workloads["web-1"].telemetry is Telemetry.HEALTHY
    assert workloads["web-1"].kind == "host"
    assert workloads["web-1"].source == "fleet"
    assert workloads["web-1"].last_seen_at == datetime(2026, 11, 23, 11, 58, 30, 123000,
                                                       tzinfo=UTC)
    assert workloads["db-1"].telemetry is Telemetry.UNHEALTHY
    assert result.complete == frozenset({RecordKind.WORKLOAD})
    assert sum(result.record_errors.values()) == 0


@respx.mock
def test_a_full_last_page_stops_at_total() -> None:
    route = respx.get(AGENTS).mock(side_effect=[
        page([agent("a"), agent("b")], total=4, per_page=2),
        page([agent("c"), agent("d")], total=4, page_no=2, per_page=2),
    ])
    assert sorted(by_id(run(collector(page_size=2)))) == ["a", "b", "c", "d"]
    assert route.call_count == 2


@respx.mock
def test_next_search_after_is_followed_when_kibana_offers_it() -> None:
    route = respx.get(AGENTS).mock(side_effect=[
        page([agent("a"), agent("b")], total=3, per_page=2,
             search_after=[1737000000000, "agent-b"]),
        page([agent("c")], total=3, per_page=2),
    ])
    assert sorted(by_id(run(collector(page_size=2)))) == ["a", "b", "c"]
    second = route.calls[1].request.url.params
    assert second["searchAfter"] == '[1737000000000, "agent-b"]'
    assert "page" not in second


@respx.mock
def test_a_kibana_ignoring_page_fails_instead_of_looping() -> None:
    same = [agent("a", agent_id="id-a"), agent("b", agent_id="id-b")]
    respx.get(AGENTS).mock(return_value=page(same, total=100, per_page=2))
    with pytest.raises(CollectorError) as err:
        run(collector(page_size=2))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize(("status", "expected"), [
    ("online", Telemetry.HEALTHY),
    ("updating", Telemetry.HEALTHY),
    ("error", Telemetry.UNHEALTHY),
    ("degraded", Telemetry.UNHEALTHY),
    ("offline", Telemetry.UNHEALTHY),
    ("enrolling", Telemetry.UNHEALTHY),
    ("unenrolling", Telemetry.UNHEALTHY),
    ("orphaned", Telemetry.UNHEALTHY),
    ("unenrolled", Telemetry.NONE),
    ("inactive", Telemetry.NONE),
    ("uninstalled", Telemetry.NONE),
])
@respx.mock
def test_each_status_maps(status: str, expected: Telemetry) -> None:
    respx.get(AGENTS).mock(return_value=page([agent("host-1", status)]))
    result = run(collector())
    assert by_id(result)["host-1"].telemetry is expected
    assert sum(result.record_errors.values()) == 0


@respx.mock
def test_unknown_status_is_skipped_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    respx.get(AGENTS).mock(return_value=page([
        agent("a", "hibernating"), agent("b", "hibernating"), agent("c")]))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert sorted(by_id(result)) == ["c"]
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'hibernating'" in warnings[0]


@respx.mock
def test_the_status_mapping_can_be_extended() -> None:
    respx.get(AGENTS).mock(return_value=page([agent("a", "hibernating")]))
    result = run(collector(statuses={"hibernating": "unhealthy"}))
    assert by_id(result)["a"].telemetry is Telemetry.UNHEALTHY


@respx.mock
def test_malformed_agents_are_skipped_and_counted() -> None:
    nameless = agent(None, agent_id="ABC-123")
    no_id = agent(None)
    no_id["id"] = None
    respx.get(AGENTS).mock(return_value=page([
        "not an object", agent("a", None), no_id, nameless,
        agent("b", last_checkin="not a time"),
    ]))
    result = run(collector())
    workloads = by_id(result)
    assert sorted(workloads) == ["b", "fleet:abc-123"]
    assert workloads["b"].last_seen_at is None
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 3


@respx.mock
def test_agents_of_one_host_join_into_the_best_report() -> None:
    respx.get(AGENTS).mock(return_value=page([
        agent("web-1.prod.example", "offline", last_checkin="2026-10-01T00:00:00Z"),
        agent("WEB-1", "online"),
        agent("db-1", "offline", last_checkin="2026-10-01T00:00:00Z"),
        agent("db-1.prod.example.", "offline"),
    ]))
    workloads = by_id(run(collector()))
    assert workloads["web-1"].telemetry is Telemetry.HEALTHY
    assert workloads["db-1"].telemetry is Telemetry.UNHEALTHY
    assert workloads["db-1"].last_seen_at == datetime(2026, 11, 23, 11, 58, 30, 123000,
                                                      tzinfo=UTC)
    assert len(workloads) == 2


@respx.mock
def test_space_kuery_and_show_inactive_are_sent() -> None:
    route = respx.get(f"{KIBANA}/s/ops/api/fleet/agents").mock(return_value=page([]))
    run(collector(space="ops", kuery='policy_id:"servers"', show_inactive=True))
    params = route.calls[0].request.url.params
    assert params["kuery"] == 'policy_id:"servers"'
    assert params["showInactive"] == "true"


@respx.mock
def test_basic_auth_is_supported() -> None:
    route = respx.get(AGENTS).mock(return_value=page([]))
    run(collector(api_key=None, username="fleet_reader",
                  password={"env": "FLEET_TEST_PASSWORD"}))
    assert route.calls[0].request.headers["Authorization"].startswith("Basic ")


def test_exactly_one_kind_of_credentials_is_required() -> None:
    with pytest.raises(ValueError):
        collector(api_key=None)
    with pytest.raises(ValueError):
        collector(username="u", password={"env": "FLEET_TEST_PASSWORD"})
    with pytest.raises(ValueError):
        collector(api_key="inline-key")


@respx.mock
def test_429_waits_for_retry_after_then_succeeds() -> None:
    route = respx.get(AGENTS).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"},
                       json={"statusCode": 429, "error": "Too Many Requests",
                             "message": "Too many requests"}),
        page([agent("a")]),
    ])
    assert "a" in by_id(run(collector()))
    assert route.call_count == 2
    assert _no_sleep.calls == [3.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("response", "kind"), [
    (httpx.Response(401, json={"statusCode": 401, "error": "Unauthorized",
                               "message": "[security_exception] unable to authenticate"}),
     ErrorKind.AUTH),
    (httpx.Response(403, json={"statusCode": 403, "error": "Forbidden",
                               "message": "Authorization for /api/fleet/agents is disabled"}),
     ErrorKind.PERMISSION),
    (httpx.Response(404, json={"statusCode": 404, "error": "Not Found",
                               "message": "Not Found"}), ErrorKind.NOT_FOUND),
    (httpx.Response(500, json={"statusCode": 500, "error": "Internal Server Error",
                               "message": "An internal server error occurred."}),
     ErrorKind.SERVER),
])
@respx.mock
def test_api_failures_fail_the_run(response: httpx.Response, kind: ErrorKind,
                                   caplog: pytest.LogCaptureFixture) -> None:
    route = respx.get(AGENTS).mock(return_value=response)
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is kind
    assert API_KEY not in str(err.value)
    assert API_KEY not in caplog.text
    if kind is ErrorKind.SERVER:
        assert route.call_count == 3


@respx.mock
def test_a_5xx_then_success_is_retried() -> None:
    respx.get(AGENTS).mock(side_effect=[httpx.Response(503), page([agent("a")])])
    assert "a" in by_id(run(collector()))


@respx.mock
def test_a_truncated_body_is_malformed_response() -> None:
    body = page([agent("a"), agent("b")]).content
    respx.get(AGENTS).mock(return_value=httpx.Response(
        200, content=body[: len(body) // 2], headers={"Content-Type": "application/json"}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_body_without_items_is_malformed_response() -> None:
    respx.get(AGENTS).mock(return_value=httpx.Response(200, json={"list": [], "total": 0}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_failure_on_a_later_page_fails_the_whole_run() -> None:
    respx.get(AGENTS).mock(side_effect=[
        page([agent("a"), agent("b")], total=3, per_page=2), httpx.Response(502),
        httpx.Response(502), httpx.Response(502)])
    with pytest.raises(CollectorError) as err:
        run(collector(page_size=2))
    assert err.value.kind is ErrorKind.SERVER


@respx.mock
def test_no_credential_or_host_name_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    respx.get(AGENTS).mock(return_value=page([agent("secret-host.prod.example"),
                                              agent("x", "Odd Status!")]))
    with caplog.at_level(logging.DEBUG):
        run(collector())
    assert API_KEY not in caplog.text
    assert "secret-host" not in caplog.text
    assert "Odd Status!" not in caplog.text


@respx.mock
def test_check_asks_for_one_agent_and_reports_problems() -> None:
    route = respx.get(AGENTS).mock(side_effect=[page([agent("a")]), httpx.Response(403)])
    assert asyncio.run(collector().check(ctx())) == []
    assert route.calls[0].request.url.params["perPage"] == "1"
    problems = asyncio.run(collector().check(ctx()))
    assert len(problems) == 1
    assert problems[0].startswith("permission:")


@respx.mock
def test_a_cursor_that_stops_short_of_total_fails_the_run() -> None:
    """A complete result missing agents would delete them from the store: fail instead."""
    respx.get(AGENTS).mock(side_effect=[
        page([agent("a"), agent("b")], total=5, per_page=2, search_after='[1, "b"]'),
        page([agent("c"), agent("d")], total=5, per_page=2),
    ])
    with pytest.raises(CollectorError) as err:
        run(collector(page_size=2))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE
