"""SentinelCollector against respx fakes shaped like the Azure REST API reference.

Shapes: Incidents - List (api-version 2025-06-01) returns ``{"value": [...], "nextLink"}``
with ``properties.{title, severity, status, classification, createdTimeUtc,
firstActivityTimeUtc, lastActivityTimeUtc, lastModifiedTimeUtc, incidentNumber}``;
the Microsoft identity platform token endpoint returns ``{token_type, expires_in,
access_token}`` or ``{error, error_description}``; the Log Analytics query API returns
``{"tables": [{"name", "columns": [{name, type}], "rows": [[...]]}]}``.
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
from collectors.sentinel import SentinelCollector, SentinelSettings

SECRET = "s3cr3t-client-value"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi-arm-token"
LA_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi-la-token"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUB = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"
WS_ID = "a1b2c3d4-0000-4000-8000-000000000001"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
BASE = (f"https://management.azure.com/subscriptions/{SUB}/resourceGroups/myRg/providers/"
        "Microsoft.OperationalInsights/workspaces/myWorkspace/providers/"
        "Microsoft.SecurityInsights/incidents")
LA_URL = f"https://api.loganalytics.io/v1/workspaces/{WS_ID}/query"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _no_sleep(seconds: float) -> None:
    _no_sleep.calls.append(seconds)  # type: ignore[attr-defined]


_no_sleep.calls = []  # type: ignore[attr-defined]


def settings(**overrides: Any) -> SentinelSettings:
    base: dict[str, Any] = {
        "tenant_id": TENANT, "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": {"env": "SENTINEL_TEST_SECRET"}, "subscription_id": SUB,
        "resource_group": "myRg", "workspace_name": "myWorkspace",
        "http": {"max_retries": 2},
        # The incident tests leave the rule listing out (test_sentinel_rules.py).
        "detection_rules": False,
    }
    base.update(overrides)
    return SentinelSettings.model_validate(base)


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_TEST_SECRET", SECRET)
    _no_sleep.calls.clear()  # type: ignore[attr-defined]


def collector(**overrides: Any) -> SentinelCollector:
    return SentinelCollector("sentinel-prod", settings(**overrides), sleep=_no_sleep)


def ctx(state: dict[str, Any] | None = None, now: datetime = NOW) -> CollectContext:
    return CollectContext(name="sentinel-prod", now=now, state=state or {},
                          logger=logging.getLogger("test.sentinel"))


def incident(number: int, *, status: str = "Closed", classification: str | None = "TruePositive",
             created: str = "2026-11-10T10:00:00Z", first: str | None = "2026-11-10T08:00:00Z",
             last: str | None = "2026-11-10T09:30:00Z", modified: str = "2026-11-10T14:00:00Z",
             severity: str = "High", title: str = "Suspicious sign-in") -> dict[str, Any]:
    """One incident as Incidents - List returns it."""
    name = f"73e01a99-5cd7-4139-a149-{number:012d}"
    props: dict[str, Any] = {
        "title": title, "description": "", "severity": severity, "status": status,
        "owner": {"objectId": None, "email": None, "assignedTo": None,
                  "userPrincipalName": None},
        "labels": [], "createdTimeUtc": created, "lastModifiedTimeUtc": modified,
        "incidentNumber": number,
        "additionalData": {"alertsCount": 1, "bookmarksCount": 0, "commentsCount": 0,
                           "alertProductNames": ["Azure Sentinel"], "tactics": []},
        "relatedAnalyticRuleIds": [],
        "incidentUrl": f"https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/"
                       f"Incident/{name}",
    }
    if first is not None:
        props["firstActivityTimeUtc"] = first
    if last is not None:
        props["lastActivityTimeUtc"] = last
    if status == "Closed" and classification is not None:
        props["classification"] = classification
        props["classificationReason"] = "SuspiciousActivity"
    return {"id": f"{BASE.removeprefix('https://management.azure.com')}/{name}", "name": name,
            "etag": '"0300bf09-0000-0000-0000-5c37296e0000"',
            "type": "Microsoft.SecurityInsights/Incidents", "properties": props}


def page(items: list[dict[str, Any]], next_link: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"value": items}
    if next_link:
        body["nextLink"] = next_link
    return httpx.Response(200, json=body)


def token_ok(token: str = TOKEN, expires_in: int = 3599) -> httpx.Response:
    return httpx.Response(200, json={"token_type": "Bearer", "expires_in": expires_in,
                                     "ext_expires_in": expires_in, "access_token": token})


def la_result(rows: list[list[Any]]) -> httpx.Response:
    return httpx.Response(200, json={"tables": [{
        "name": "PrimaryResult",
        "columns": [{"name": "IncidentName", "type": "string"},
                    {"name": "ClosedTime", "type": "datetime"},
                    {"name": "FirstStatusChange", "type": "datetime"}],
        "rows": rows}]})


def run(coll: SentinelCollector, context: CollectContext | None = None) -> Any:
    return asyncio.run(coll.collect(context or ctx()))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@respx.mock
def test_full_run_pages_by_next_link_and_maps_every_field() -> None:
    token = respx.post(TOKEN_URL).mock(return_value=token_ok())
    next_link = f"{BASE}?api-version=2025-06-01&$skipToken=page2"
    route = respx.get(BASE).mock(side_effect=[
        page([incident(1),
              incident(2, classification="FalsePositive", severity="Informational"),
              incident(3, status="Active", modified="2026-11-21T00:00:00Z")], next_link),
        page([incident(4, classification="BenignPositive", severity="Medium"),
              incident(5, status="New", classification=None, severity="Low")]),
    ])
    result = run(collector())

    first_params = route.calls[0].request.url.params
    assert first_params["api-version"] == "2025-06-01"
    assert first_params["$filter"] == "properties/lastModifiedTimeUtc ge 2026-06-17T00:00:00Z"
    assert first_params["$orderby"] == "properties/createdTimeUtc asc"
    assert "skipToken=page2" in str(route.calls[1].request.url)
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    form = parse_qs(token.calls[0].request.content.decode())
    assert form["scope"] == ["https://management.azure.com/.default"]
    assert form["grant_type"] == ["client_credentials"]

    alerts = {a.id: a for a in result.siem_alerts}
    assert {k: v.disposition for k, v in alerts.items()} == {
        "myWorkspace#1": Disposition.ACTIONABLE, "myWorkspace#2": Disposition.FALSE_POSITIVE,
        "myWorkspace#3": Disposition.UNTRIAGED, "myWorkspace#4": Disposition.BENIGN,
        "myWorkspace#5": Disposition.UNTRIAGED}
    one = alerts["myWorkspace#1"]
    assert one.created_at == t("2026-11-10T10:00:00Z")
    assert one.triaged_at == t("2026-11-10T14:00:00Z")  # no Log Analytics: last modified
    assert one.severity is Severity.HIGH and one.rule == "Suspicious sign-in"
    assert one.source == "sentinel-prod"
    assert alerts["myWorkspace#2"].severity is Severity.LOW  # Informational -> low
    assert alerts["myWorkspace#3"].triaged_at is None  # Active, no status history known

    incidents = {i.id: i for i in result.incidents}
    # False and benign positives are not security incidents by default.
    assert set(incidents) == {"myWorkspace#1", "myWorkspace#3", "myWorkspace#5"}
    inc = incidents["myWorkspace#1"]
    assert (inc.started_at, inc.detected_at, inc.contained_at, inc.resolved_at) == (
        t("2026-11-10T08:00:00Z"), t("2026-11-10T10:00:00Z"), t("2026-11-10T14:00:00Z"),
        t("2026-11-10T14:00:00Z"))
    assert incidents["myWorkspace#3"].contained_at is None
    assert result.state["watermark"] == "2026-11-21T00:00:00+00:00"
    assert result.state["last_full_sync"] == NOW.isoformat()
    assert not result.record_errors
    assert result.complete == frozenset()  # upserts only: older quarters stay in the store


@respx.mock
def test_incremental_run_asks_only_for_changes_since_watermark_and_reuses_token() -> None:
    token = respx.post(TOKEN_URL).mock(return_value=token_ok())
    route = respx.get(BASE).mock(return_value=page([incident(7)]))
    coll = collector()
    state = {"watermark": "2026-11-23T11:00:00+00:00",
             "last_full_sync": "2026-11-23T06:00:00+00:00"}
    result = run(coll, ctx(state))
    assert route.calls[0].request.url.params["$filter"] == \
        "properties/lastModifiedTimeUtc ge 2026-11-23T10:50:00Z"  # watermark - 10m overlap
    assert result.state["last_full_sync"] == "2026-11-23T06:00:00+00:00"
    assert result.state["watermark"] == "2026-11-23T11:00:00+00:00"  # never moves back

    # A day after the last full pass, the next run is a full pass over the lookback.
    later = NOW + timedelta(hours=19)
    run(coll, ctx(result.state, now=later))
    assert route.calls[1].request.url.params["$filter"] == \
        "properties/lastModifiedTimeUtc ge 2026-06-17T00:00:00Z"  # previous quarter - 14d
    assert token.call_count == 1  # cached across runs


@respx.mock
def test_incident_created_before_window_closed_inside_counts_for_mttc() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    old = incident(9, created="2026-06-01T00:00:00Z", first="2026-05-31T20:00:00Z",
                   modified="2026-10-02T00:00:00Z")
    route = respx.get(BASE).mock(return_value=page([old]))
    result = run(collector())
    # The filter is on last-modified, so an old incident closed recently is returned...
    assert "lastModifiedTimeUtc ge" in route.calls[0].request.url.params["$filter"]
    # ...and kept with its real timeline, contained inside the window.
    (inc,) = result.incidents
    assert inc.detected_at == t("2026-06-01T00:00:00Z")
    assert inc.contained_at == t("2026-10-02T00:00:00Z")


@respx.mock
def test_log_analytics_close_time_and_first_status_change() -> None:
    def by_scope(request: httpx.Request) -> httpx.Response:
        scope = parse_qs(request.content.decode())["scope"][0]
        return token_ok(LA_TOKEN if "loganalytics" in scope else TOKEN)
    token = respx.post(TOKEN_URL).mock(side_effect=by_scope)
    arm = respx.get(BASE).mock(return_value=page([
        incident(1, modified="2026-11-15T00:00:00Z"),  # edited after closing
        incident(3, status="Active", modified="2026-11-21T00:00:00Z"),
        incident(4, modified="2026-11-16T00:00:00Z"),  # no LA row: falls back
    ]))
    la = respx.post(LA_URL).mock(return_value=la_result([
        ["73e01a99-5cd7-4139-a149-000000000001", "2026-11-10T12:00:00Z",
         "2026-11-10T10:30:00Z"],
        ["73e01a99-5cd7-4139-a149-000000000003", None, "2026-11-20T09:00:00Z"],
    ]))
    result = run(collector(log_analytics={"workspace_id": WS_ID}))

    assert la.calls[0].request.headers["Authorization"] == f"Bearer {LA_TOKEN}"
    assert arm.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sorted(parse_qs(c.request.content.decode())["scope"][0] for c in token.calls) == [
        "https://api.loganalytics.io/.default", "https://management.azure.com/.default"]
    body = json.loads(la.calls[0].request.content)
    assert "SecurityIncident" in body["query"]
    assert "datetime(2026-06-17T00:00:00Z)" in body["query"]
    assert body["timespan"] == "2026-06-17T00:00:00Z/2026-11-23T12:00:00Z"

    alerts = {a.id: a for a in result.siem_alerts}
    incidents = {i.id: i for i in result.incidents}
    assert alerts["myWorkspace#1"].triaged_at == t("2026-11-10T10:30:00Z")
    assert incidents["myWorkspace#1"].contained_at == t("2026-11-10T12:00:00Z")
    assert incidents["myWorkspace#1"].resolved_at == t("2026-11-10T12:00:00Z")
    assert alerts["myWorkspace#3"].triaged_at == t("2026-11-20T09:00:00Z")
    assert alerts["myWorkspace#3"].disposition is Disposition.UNTRIAGED
    assert incidents["myWorkspace#4"].contained_at == t("2026-11-16T00:00:00Z")


@respx.mock
def test_log_analytics_partial_result_fails_the_run() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=page([incident(1)]))
    respx.post(LA_URL).mock(return_value=httpx.Response(200, json={
        "tables": [], "error": {"code": "PartialError", "message": "query limits"}}))
    with pytest.raises(CollectorError) as err:
        run(collector(log_analytics={"workspace_id": WS_ID}))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_contained_at_can_come_from_last_activity() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=page([incident(1, last="2026-11-10T11:00:00Z")]))
    (inc,) = run(collector(contained_at="last_activity")).incidents
    assert inc.contained_at == t("2026-11-10T11:00:00Z")
    assert inc.resolved_at == t("2026-11-10T14:00:00Z")


@respx.mock
def test_classification_mapping_is_configurable() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=page([incident(1, classification="BenignPositive")]))
    result = run(collector(classifications={"BenignPositive": "actionable"},
                           incident_exclude_classifications=[]))
    assert result.siem_alerts[0].disposition is Disposition.ACTIONABLE
    assert len(result.incidents) == 1


@respx.mock
def test_unknown_classification_is_unmapped_logged_once_and_not_fatal(
        caplog: pytest.LogCaptureFixture) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=page([
        incident(1, classification="MaliciousButExpected"),
        incident(2, classification="MaliciousButExpected"),
        incident(3, status="Resolved"),
        incident(4),
    ]))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 3
    assert caplog.text.count("MaliciousButExpected") == 1
    assert "'Resolved'" in caplog.text
    assert [a.id for a in result.siem_alerts] == ["myWorkspace#4"]
    # The incident timeline does not depend on the classification.
    assert [i.id for i in result.incidents] == ["myWorkspace#1", "myWorkspace#2",
                                                "myWorkspace#4"]


@respx.mock
def test_malformed_incident_is_skipped_and_counted() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    broken = incident(2)
    del broken["properties"]["createdTimeUtc"]
    backwards = incident(3, modified="2026-11-01T00:00:00Z")  # "closed" before created
    respx.get(BASE).mock(return_value=page([incident(1), broken, backwards, {"odd": 1}]))
    result = run(collector())
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 3
    assert [a.id for a in result.siem_alerts] == ["myWorkspace#1"]


@respx.mock
def test_expired_token_is_refreshed_once() -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=[token_ok("old"), token_ok("new")])
    route = respx.get(BASE).mock(side_effect=[
        httpx.Response(401, json={"error": {"code": "ExpiredAuthenticationToken",
                                            "message": "The access token expiry ..."}}),
        page([incident(1)])])
    result = run(collector())
    assert token.call_count == 2
    assert route.calls[1].request.headers["Authorization"] == "Bearer new"
    assert len(result.siem_alerts) == 1


@respx.mock
def test_refused_token_fails_with_auth_and_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=httpx.Response(401, json={
        "error": {"code": "InvalidAuthenticationToken", "message": "invalid"}}))
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH
    assert TOKEN not in str(err.value) and TOKEN not in caplog.text
    assert SECRET not in caplog.text


@respx.mock
def test_token_endpoint_refuses_client_secret() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided."}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH
    assert "AADSTS7000215" in str(err.value)
    assert SECRET not in str(err.value)


@respx.mock
def test_token_endpoint_bad_request_is_auth() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={
        "error": "unauthorized_client", "error_description": "AADSTS700016: not found"}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH


@respx.mock
def test_token_endpoint_down() -> None:
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(503, text="<html>down"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.SERVER
    assert route.call_count == 3  # first try + 2 retries
    assert SECRET not in str(err.value)


@respx.mock
def test_token_endpoint_unreachable() -> None:
    respx.post(TOKEN_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.NETWORK


@respx.mock
def test_token_response_without_token_is_malformed() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_token_is_refreshed_after_expiry() -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=[token_ok("a", 600), token_ok("b")])
    route = respx.get(BASE).mock(return_value=page([]))
    coll = collector()
    clock = [1000.0]
    coll.tokens._clock = lambda: clock[0]
    run(coll)
    clock[0] += 400  # within the 5-minute refresh margin of a 10-minute token
    run(coll)
    assert token.call_count == 2
    assert route.calls[1].request.headers["Authorization"] == "Bearer b"


@pytest.fixture
def loop_bound_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make httpcore's connection pools fail as real ones do when reused on another loop.

    A pool keeps its connections on the event loop that opened them; the exporter runs
    every collection on a fresh loop, so a client kept from one run to the next fails
    with "Event loop is closed" on its next request. respx intercepts requests inside
    the pool, so without this a test never opens a connection and cannot see that.
    Must be requested after respx has patched the pool (inside ``@respx.mock``).
    """
    import httpcore

    patched = httpcore.AsyncConnectionPool.handle_async_request

    async def bound(self: Any, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        first = self.__dict__.setdefault("_test_loop", loop)
        if first is not loop:
            raise RuntimeError("Event loop is closed")
        return await patched(self, request)

    monkeypatch.setattr(httpcore.AsyncConnectionPool, "handle_async_request", bound)


@respx.mock
def test_token_refresh_works_on_a_later_runs_event_loop(loop_bound_pools: None) -> None:
    """Each run has its own loop: a token refreshed in run 2 must not reuse run 1's client."""
    token = respx.post(TOKEN_URL).mock(side_effect=[token_ok("a", 600), token_ok("b")])
    route = respx.get(BASE).mock(return_value=page([incident(1)]))
    coll = collector()
    clock = [1000.0]
    coll.tokens._clock = lambda: clock[0]
    run(coll)
    clock[0] += 400  # within the refresh margin: run 2 must fetch a new token
    result = run(coll)
    assert token.call_count == 2
    assert route.calls[-1].request.headers["Authorization"] == "Bearer b"
    assert len(result.siem_alerts) == 1


@respx.mock
def test_token_cache_survives_runs_without_new_requests(loop_bound_pools: None) -> None:
    token = respx.post(TOKEN_URL).mock(return_value=token_ok("a"))
    respx.get(BASE).mock(return_value=page([]))
    coll = collector()
    for _ in range(3):
        run(coll)
    assert token.call_count == 1


def test_first_pass_reaches_back_to_the_previous_quarter() -> None:
    """Whatever the day, a first pass covers the previous quarter and a margin."""
    from exporter.quarters import history_start

    for now in (datetime(2026, 10, 1, 0, 30, tzinfo=UTC),
                datetime(2026, 12, 31, 23, 30, tzinfo=UTC)):
        with respx.mock:
            respx.post(TOKEN_URL).mock(return_value=token_ok())
            route = respx.get(BASE).mock(return_value=page([]))
            context = CollectContext(name="sentinel-prod", now=now, state={},
                                     logger=logging.getLogger("test.sentinel"),
                                     history_start=history_start(now))
            run(collector(), context)
            sent = parse_qs(route.calls[0].request.url.query.decode())["$filter"][0]
        assert sent == "properties/lastModifiedTimeUtc ge 2026-06-17T00:00:00Z"


@respx.mock
def test_a_longer_configured_lookback_widens_the_window() -> None:
    from exporter.quarters import history_start

    respx.post(TOKEN_URL).mock(return_value=token_ok())
    route = respx.get(BASE).mock(return_value=page([]))
    context = CollectContext(name="sentinel-prod", now=NOW, state={},
                             logger=logging.getLogger("test.sentinel"),
                             history_start=history_start(NOW))
    run(collector(lookback="400d"), context)
    sent = parse_qs(route.calls[0].request.url.query.decode())["$filter"][0]
    assert sent == "properties/lastModifiedTimeUtc ge 2025-10-19T12:00:00Z"


@respx.mock
def test_429_retry_after_is_honoured() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "17"}), page([incident(1)])])
    result = run(collector())
    assert _no_sleep.calls == [17.0]  # type: ignore[attr-defined]
    assert len(result.siem_alerts) == 1


@pytest.mark.parametrize(("response", "kind"), [
    (httpx.Response(500, json={"error": {"code": "InternalServerError"}}), ErrorKind.SERVER),
    (httpx.Response(403, json={"error": {"code": "AuthorizationFailed",
                                         "message": "no Microsoft Sentinel Reader role"}}),
     ErrorKind.PERMISSION),
    (httpx.Response(404, json={"error": {"code": "ResourceNotFound"}}), ErrorKind.NOT_FOUND),
    (httpx.Response(200, text="<html><body>Service unavailable</body></html>"),
     ErrorKind.MALFORMED_RESPONSE),
    (httpx.Response(200, json={"values": []}), ErrorKind.MALFORMED_RESPONSE),
])
@respx.mock
def test_api_failures_fail_the_run(response: httpx.Response, kind: ErrorKind) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=response)
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is kind


@respx.mock
def test_timeout_fails_with_timeout() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.TIMEOUT


@respx.mock
def test_pagination_breaking_midway_fails_the_whole_run() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    next_link = f"{BASE}?api-version=2025-06-01&$skipToken=p2"
    respx.get(BASE).mock(side_effect=[page([incident(1)], next_link),
                                      httpx.Response(502), httpx.Response(502),
                                      httpx.Response(502)])
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.SERVER


@respx.mock
def test_next_link_to_foreign_host_is_refused() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=page([incident(1)], "https://evil.example/steal"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_repeating_next_link_is_refused() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    link = f"{BASE}?api-version=2025-06-01&$skipToken=same"
    respx.get(BASE).mock(return_value=page([incident(1)], link))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_sovereign_cloud_hosts() -> None:
    gov_token = f"https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"
    gov_base = BASE.replace("management.azure.com", "management.usgovcloudapi.net")
    token = respx.post(gov_token).mock(return_value=token_ok())
    respx.get(gov_base).mock(return_value=page([incident(1)]))
    result = run(collector(authority_host="https://login.microsoftonline.us",
                           management_endpoint="https://management.usgovcloudapi.net/"))
    assert parse_qs(token.calls[0].request.content.decode())["scope"] == [
        "https://management.usgovcloudapi.net/.default"]
    assert len(result.incidents) == 1


def test_config_rejects_inline_secret_and_plain_http() -> None:
    with pytest.raises(ValueError, match="inline"):
        settings(client_secret="literal")
    with pytest.raises(ValueError, match="https"):
        settings(management_endpoint="http://management.azure.com")
    with pytest.raises(ValueError):
        settings(classifications={"TruePositive": "signal"})


@respx.mock
def test_check_reports_problems() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(BASE).mock(return_value=httpx.Response(403, json={
        "error": {"code": "AuthorizationFailed", "message": "denied"}}))
    problems = asyncio.run(collector().check(ctx()))
    assert problems and problems[0].startswith("permission")
