"""DefenderEndpointCollector against respx fakes shaped like the Defender for Endpoint API.

Shapes (learn.microsoft.com/defender-endpoint/api/get-machines and .../api/machine): the
listing is ``{"@odata.context": ".../api/$metadata#Machines", "value": [machine, ...]}``
with ``@odata.nextLink`` when the service pages; a machine has id (a 40-hex hash),
computerDnsName, firstSeen, lastSeen, osPlatform, version, lastIpAddress, healthStatus
(Active, Inactive, ImpairedCommunication, NoSensorData, NoSensorDataImpairedCommunication,
Unknown), onboardingStatus (Onboarded, CanBeOnboarded, Unsupported, InsufficientInfo),
rbacGroupId, riskScore, exposureLevel, isAadJoined, aadDeviceId and machineTags. Errors
are ``{"error": {"code", "message", "target"}}``. Tokens come from the Entra v2.0 token
endpoint (client credentials).
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
from collectors.defender_endpoint import DefenderEndpointCollector, DefenderEndpointSettings
from collectors.records import RecordKind
from collectors.records_detection import Telemetry

SECRET = "mde-s3cr3t-value"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
API = "https://api.securitycenter.microsoft.com"
MACHINES = f"{API}/api/machines"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _no_sleep(seconds: float) -> None:
    _no_sleep.calls.append(seconds)  # type: ignore[attr-defined]


_no_sleep.calls = []  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDE_TEST_SECRET", SECRET)
    _no_sleep.calls.clear()  # type: ignore[attr-defined]


def collector(**overrides: Any) -> DefenderEndpointCollector:
    base: dict[str, Any] = {"tenant_id": TENANT, "client_id": "11111111-2222-3333-4444-5555",
                            "client_secret": {"env": "MDE_TEST_SECRET"},
                            "http": {"max_retries": 2}}
    base.update(overrides)
    return DefenderEndpointCollector("mde", DefenderEndpointSettings.model_validate(base),
                                     sleep=_no_sleep)


def ctx() -> CollectContext:
    return CollectContext(name="mde", now=NOW, state={}, logger=logging.getLogger("test.mde"))


def run(coll: DefenderEndpointCollector) -> Any:
    return asyncio.run(coll.collect(ctx()))


def token_ok(token: str = "mde-token", expires_in: int = 3599) -> httpx.Response:
    return httpx.Response(200, json={"token_type": "Bearer", "expires_in": expires_in,
                                     "ext_expires_in": expires_in, "access_token": token})


def machine(name: str | None, health: str | None = "Active", onboarding: str = "Onboarded",
            *, machine_id: str | None = None, last_seen: str = "2026-11-23T07:27:36.052313Z",
            tags: list[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": machine_id or (f"{abs(hash(name)):040x}"[:40]),
        "computerDnsName": name,
        "firstSeen": "2026-08-02T14:55:03.7791856Z",
        "lastSeen": last_seen,
        "osPlatform": "Windows11",
        "version": "23H2",
        "osProcessor": "x64",
        "lastIpAddress": "10.166.113.46",
        "lastExternalIpAddress": "167.220.203.175",
        "osBuild": 22631,
        "healthStatus": health,
        "deviceValue": "Normal",
        "rbacGroupId": 140,
        "rbacGroupName": "The-A-Team",
        "riskScore": "Low",
        "exposureLevel": "Medium",
        "isAadJoined": True,
        "aadDeviceId": "80fe8ff8-2624-418e-9591-41f0491218f9",
        "machineTags": tags or [],
        "onboardingStatus": onboarding,
    }
    return item


def page(items: list[Any], next_link: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"@odata.context": f"{API}/api/$metadata#Machines", "value": items}
    if next_link:
        body["@odata.nextLink"] = next_link
    return httpx.Response(200, json=body)


def by_id(result: Any) -> dict[str, Any]:
    return {w.id: w for w in result.records_of(RecordKind.WORKLOAD)}


@respx.mock
def test_pages_by_next_link_and_the_listing_is_complete() -> None:
    token = respx.post(TOKEN_URL).mock(return_value=token_ok())
    nxt = f"{MACHINES}?$top=2&$skip=2"
    route = respx.get(MACHINES).mock(side_effect=[
        page([machine("WEB-1.corp.contoso.com"), machine("web-2.corp.contoso.com")], nxt),
        page([machine("db-1.corp.contoso.com", "Inactive")]),
    ])
    result = run(collector(page_size=2))
    assert route.call_count == 2
    assert route.calls[0].request.url.params["$top"] == "2"
    assert str(route.calls[1].request.url) == nxt
    assert route.calls[0].request.headers["Authorization"] == "Bearer mde-token"
    assert token.call_count == 1
    workloads = by_id(result)
    assert sorted(workloads) == ["db-1", "web-1", "web-2"]
    assert workloads["web-1"].telemetry is Telemetry.HEALTHY
    assert workloads["web-1"].kind == "host"
    assert workloads["web-1"].source == "mde"
    assert workloads["web-1"].last_seen_at == datetime(2026, 11, 23, 7, 27, 36, 52313,
                                                       tzinfo=UTC)
    assert workloads["web-1"].observed_at is None
    assert workloads["db-1"].telemetry is Telemetry.UNHEALTHY
    assert result.complete == frozenset({RecordKind.WORKLOAD})
    assert sum(result.record_errors.values()) == 0


@respx.mock
def test_a_full_page_without_next_link_is_followed_by_skip() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    route = respx.get(MACHINES).mock(side_effect=[
        page([machine("a"), machine("b")]), page([machine("c"), machine("d")]),
        page([machine("e")]),
    ])
    result = run(collector(page_size=2))
    assert [dict(c.request.url.params) for c in route.calls] == [
        {"$top": "2"}, {"$top": "2", "$skip": "2"}, {"$top": "2", "$skip": "4"}]
    assert sorted(by_id(result)) == ["a", "b", "c", "d", "e"]


@respx.mock
def test_a_service_ignoring_skip_fails_instead_of_looping() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    same = [machine("a", machine_id="a" * 40), machine("b", machine_id="b" * 40)]
    respx.get(MACHINES).mock(return_value=page(same))
    with pytest.raises(CollectorError) as err:
        run(collector(page_size=2))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize(("onboarding", "health", "expected"), [
    ("Onboarded", "Active", Telemetry.HEALTHY),
    ("Onboarded", "Inactive", Telemetry.UNHEALTHY),
    ("Onboarded", "ImpairedCommunication", Telemetry.UNHEALTHY),
    ("Onboarded", "NoSensorData", Telemetry.UNHEALTHY),
    ("Onboarded", "NoSensorDataImpairedCommunication", Telemetry.UNHEALTHY),
    ("Onboarded", "Unknown", Telemetry.UNKNOWN),
    ("onboarded", "Active", Telemetry.HEALTHY),  # the resource page's spelling
    ("CanBeOnboarded", "Inactive", Telemetry.NONE),
    ("Unsupported", "Unknown", Telemetry.NONE),
    ("InsufficientInfo", None, Telemetry.NONE),
])
@respx.mock
def test_each_status_maps(onboarding: str, health: str | None, expected: Telemetry) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page([machine("host-1", health, onboarding)]))
    result = run(collector())
    assert by_id(result)["host-1"].telemetry is expected
    assert sum(result.record_errors.values()) == 0


@respx.mock
def test_unknown_values_are_skipped_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page([
        machine("a", "Sleeping"), machine("b", "Sleeping"),
        machine("c", "Active", "Offboarded"), machine("d"),
    ]))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert sorted(by_id(result)) == ["d"]
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any("'Sleeping'" in w for w in warnings)
    assert any("'Offboarded'" in w for w in warnings)


@respx.mock
def test_mapping_can_be_extended_in_config() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page([machine("a", "Sleeping")]))
    result = run(collector(health_statuses={"Sleeping": "unhealthy"}))
    assert by_id(result)["a"].telemetry is Telemetry.UNHEALTHY


def test_onboarded_cannot_be_remapped_as_not_onboarded() -> None:
    with pytest.raises(ValueError, match="health_statuses"):
        collector(onboarding_statuses={"Onboarded": "none"})


@respx.mock
def test_malformed_machines_are_skipped_and_counted() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    no_name_no_id = machine(None)
    no_name_no_id["id"] = None
    no_onboarding = machine("b")
    del no_onboarding["onboardingStatus"]
    respx.get(MACHINES).mock(return_value=page([
        "not an object", no_name_no_id, no_onboarding, machine("c", None),
        machine("d", last_seen="yesterday"),
    ]))
    result = run(collector())
    assert sorted(by_id(result)) == ["d"]
    assert by_id(result)["d"].last_seen_at is None  # unreadable: unknown, never guessed
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 4


@respx.mock
def test_host_names_join_on_the_derive_key_and_duplicates_collapse() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page([
        # A re-onboarded device leaves its old, inactive entry behind.
        machine("LAPTOP-7.corp.contoso.com.", "Inactive", machine_id="1" * 40,
                last_seen="2026-06-01T00:00:00Z"),
        machine("laptop-7.corp.contoso.com", "Active", machine_id="2" * 40),
        machine(None, "Active", machine_id="ABCDEF" + "0" * 34),
        machine("10.1.2.3", "NoSensorData", machine_id="3" * 40),
    ]))
    workloads = by_id(run(collector()))
    assert workloads["laptop-7"].telemetry is Telemetry.HEALTHY
    assert workloads["mde:abcdef" + "0" * 34].telemetry is Telemetry.HEALTHY
    assert workloads["10.1.2.3"].telemetry is Telemetry.UNHEALTHY
    assert len(workloads) == 3


@respx.mock
def test_machines_with_an_excluded_tag_are_not_workloads() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page([
        machine("lab-1", "Inactive", tags=["lab", "ExampleTag"]), machine("prod-1")]))
    result = run(collector(exclude_tags=["lab"]))
    assert sorted(by_id(result)) == ["prod-1"]
    assert sum(result.record_errors.values()) == 0


@respx.mock
def test_an_empty_inventory_is_complete_and_empty() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page([]))
    result = run(collector())
    assert result.records_of(RecordKind.WORKLOAD) == []
    assert result.complete == frozenset({RecordKind.WORKLOAD})


@pytest.fixture
def loop_bound_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection pools that fail, as real ones do, when reused on another event loop."""
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
def test_token_refresh_across_two_runs_on_separate_event_loops(loop_bound_pools: None) -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=[token_ok("first", 600),
                                                    token_ok("second")])
    route = respx.get(MACHINES).mock(return_value=page([machine("a")]))
    coll = collector()
    clock = [1000.0]
    coll.tokens._clock = lambda: clock[0]
    run(coll)
    clock[0] += 400  # inside the 5-minute refresh margin of a 10-minute token
    result = run(coll)
    assert token.call_count == 2
    assert route.calls[-1].request.headers["Authorization"] == "Bearer second"
    assert token.calls[0].request.content.decode().count(
        "scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default") == 1
    assert "a" in by_id(result)


@respx.mock
def test_the_token_is_reused_between_runs(loop_bound_pools: None) -> None:
    token = respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page([]))
    coll = collector()
    for _ in range(3):
        run(coll)
    assert token.call_count == 1


@respx.mock
def test_429_waits_for_retry_after_then_succeeds() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    route = respx.get(MACHINES).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {
            "code": "TooManyRequests", "message": "Rate limit is exceeded", "target": "x"}}),
        page([machine("a")]),
    ])
    result = run(collector())
    assert route.call_count == 2
    assert _no_sleep.calls == [7.0]  # type: ignore[attr-defined]
    assert "a" in by_id(result)


@respx.mock
def test_401_gets_one_fresh_token_then_fails_with_auth(caplog: pytest.LogCaptureFixture) -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=[token_ok("old"), token_ok("new")])
    route = respx.get(MACHINES).mock(return_value=httpx.Response(401, json={"error": {
        "code": "Unauthorized", "message": "Invalid token"}}))
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH
    assert token.call_count == 2
    assert route.calls[-1].request.headers["Authorization"] == "Bearer new"
    for text in (str(err.value), caplog.text):
        assert SECRET not in text
        assert "Bearer" not in text


@respx.mock
def test_an_expired_token_is_replaced_once_on_401() -> None:
    respx.post(TOKEN_URL).mock(side_effect=[token_ok("old"), token_ok("new")])
    respx.get(MACHINES).mock(side_effect=[httpx.Response(401), page([machine("a")])])
    assert "a" in by_id(run(collector()))


@pytest.mark.parametrize(("response", "kind"), [
    (httpx.Response(403, json={"error": {"code": "Forbidden", "message":
                                         "The application does not have any of the required "
                                         "application roles (Machine.Read.All)"}}),
     ErrorKind.PERMISSION),
    (httpx.Response(500, json={"error": {"code": "InternalServerError", "message": "x"}}),
     ErrorKind.SERVER),
    (httpx.Response(503), ErrorKind.SERVER),
    (httpx.Response(400, json={"error": {"code": "InvalidRequestBody", "message": "x"}}),
     ErrorKind.CLIENT),
])
@respx.mock
def test_api_failures_fail_the_run(response: httpx.Response, kind: ErrorKind) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    route = respx.get(MACHINES).mock(return_value=response)
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is kind
    if kind is ErrorKind.SERVER:
        assert route.call_count == 3  # retried max_retries times


@respx.mock
def test_a_5xx_then_success_is_retried() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(side_effect=[httpx.Response(502), page([machine("a")])])
    assert "a" in by_id(run(collector()))


@respx.mock
def test_a_truncated_body_is_malformed_response() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    body = page([machine("a"), machine("b")]).content
    respx.get(MACHINES).mock(return_value=httpx.Response(
        200, content=body[: len(body) // 2], headers={"Content-Type": "application/json"}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_body_without_value_is_malformed_response() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=httpx.Response(200, json={"machines": []}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_failure_on_a_later_page_fails_the_whole_run() -> None:
    """No partial inventory: a complete result with half the machines would delete the rest."""
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(side_effect=[
        page([machine("a")], f"{MACHINES}?$skip=1"), httpx.Response(200, content=b"{\"va")])
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_next_link_to_another_host_is_refused() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    respx.get(MACHINES).mock(return_value=page(
        [machine("a")], "https://evil.example/api/machines?$skip=1"))
    evil = respx.get("https://evil.example/api/machines")
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE
    assert not evil.called


@respx.mock
def test_a_repeating_next_link_is_refused() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    link = f"{MACHINES}?$skip=1"
    respx.get(MACHINES).mock(side_effect=[
        page([machine("a")], link), page([machine("b")], link), page([machine("c")], link)])
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_refused_token_fails_with_auth_and_never_leaks(
        caplog: pytest.LogCaptureFixture) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={
        "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client "
        "secret provided."}))
    with caplog.at_level(logging.DEBUG), pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH
    assert SECRET not in str(err.value)
    assert SECRET not in caplog.text


@respx.mock
def test_no_secret_or_host_name_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok("tok-123"))
    respx.get(MACHINES).mock(return_value=page([
        machine("secret-host.corp.contoso.com"), machine("x", "Weird-Value!")]))
    with caplog.at_level(logging.DEBUG):
        run(collector())
    assert SECRET not in caplog.text
    assert "tok-123" not in caplog.text
    assert "secret-host" not in caplog.text
    assert "Weird-Value!" not in caplog.text  # not an enum-shaped value: shown as '?'


@respx.mock
def test_geo_endpoint_and_government_resource() -> None:
    token = respx.post(TOKEN_URL).mock(return_value=token_ok())
    route = respx.get("https://eu.api.security.microsoft.com/api/machines").mock(
        return_value=page([machine("a")]))
    coll = collector(api_endpoint="https://eu.api.security.microsoft.com/")
    assert "a" in by_id(run(coll))
    assert route.called
    assert "api.securitycenter.microsoft.com%2F.default" in token.calls[0].request.content.decode()
    gov = collector(resource="https://api-gcc.securitycenter.microsoft.us")
    assert gov.scope == "https://api-gcc.securitycenter.microsoft.us/.default"


def test_config_rejects_inline_secret_plain_http_and_oversized_pages() -> None:
    base = {"tenant_id": TENANT, "client_id": "c", "client_secret": {"env": "MDE_TEST_SECRET"}}
    with pytest.raises(ValueError):
        DefenderEndpointSettings.model_validate({**base, "client_secret": "inline"})
    with pytest.raises(ValueError):
        DefenderEndpointSettings.model_validate({**base, "api_endpoint": "http://x"})
    with pytest.raises(ValueError):
        DefenderEndpointSettings.model_validate({**base, "page_size": 10_001})


@respx.mock
def test_check_asks_for_one_machine_and_reports_problems() -> None:
    respx.post(TOKEN_URL).mock(return_value=token_ok())
    route = respx.get(MACHINES).mock(side_effect=[page([machine("a")]), httpx.Response(403)])
    assert asyncio.run(collector().check(ctx())) == []
    assert route.calls[0].request.url.params["$top"] == "1"
    problems = asyncio.run(collector().check(ctx()))
    assert len(problems) == 1
    assert problems[0].startswith("permission:")


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The two agent collectors' entry points, whether or not pyproject lists them yet."""
    from importlib.metadata import EntryPoint

    from exporter import plugins

    original = plugins.entry_points

    def with_agents(group: str) -> list[EntryPoint]:
        found = list(original(group=group))
        names = {ep.name for ep in found}
        extra = [EntryPoint("defender_endpoint",
                            "collectors.defender_endpoint:DefenderEndpointCollector", group),
                 EntryPoint("elastic_fleet", "collectors.elastic_fleet:ElasticFleetCollector",
                            group)]
        return found + [ep for ep in extra if ep.name not in names]

    monkeypatch.setattr(plugins, "entry_points", with_agents)
    plugins.rescan()
    yield
    monkeypatch.undo()
    plugins.rescan()


@pytest.mark.parametrize(("doc", "name", "env"), [
    ("defender_endpoint.md", "mde", "MDE_CLIENT_SECRET"),
    ("elastic_fleet.md", "fleet", "FLEET_API_KEY"),
])
def test_documented_example_block_is_a_valid_config(
        registered: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, doc: str, name: str,
        env: str) -> None:
    """The YAML block of each docs page loads through the core's config."""
    import re
    from pathlib import Path

    from exporter.config import load_config

    text = (Path(__file__).resolve().parents[2] / "docs/collectors" / doc).read_text()
    block = re.search(r"```yaml\ncollectors:\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    monkeypatch.setenv(env, "value-from-env")
    config = tmp_path / "config.yaml"
    config.write_text("collectors:\n" + block, encoding="utf-8")
    loaded = load_config(config)
    assert name in loaded.collector_settings


def test_agent_sources_and_an_inventory_join_in_the_derivation() -> None:
    """MDE, Fleet and a file inventory name one host alike: the derived ratio is exact."""
    from collections import Counter

    from collectors.elastic_fleet import ElasticFleetCollector, ElasticFleetSettings
    from collectors.records_detection import TELEMETRY_CODES, Workload
    from exporter.derive.detection import TELEMETRY_RATIO, WORKLOADS, derive_telemetry

    mde = collector()
    fleet = ElasticFleetCollector("fleet", ElasticFleetSettings.model_validate(
        {"url": "https://kibana.example", "api_key": {"env": "MDE_TEST_SECRET"}}))
    errors: Counter[ErrorKind] = Counter()
    records = [
        mde.workload(ctx(), machine("WEB-1.corp.contoso.com", "Inactive"), errors),
        mde.workload(ctx(), machine("printer-3.corp.contoso.com", "Unknown",
                                    "CanBeOnboarded"), errors),
        fleet.workload(ctx(), {"id": "a1", "status": "online", "local_metadata": {
            "host": {"hostname": "web-1"}}}, errors),
        fleet.workload(ctx(), {"id": "a2", "status": "offline", "local_metadata": {
            "host": {"hostname": "db-1.prod.example"}}}, errors),
        # an inventory source: the host is known, nobody reports on it
        Workload(id="build-9.ci.example", source="inventory"),
    ]
    assert not errors
    rows = [(w.id, TELEMETRY_CODES[w.telemetry.value]) for w in records if w is not None]
    metrics = derive_telemetry(rows)
    # web-1 (healthy in Fleet), db-1 unhealthy, printer-3 none, build-9 unknown: 1 of 4.
    assert metrics.get(TELEMETRY_RATIO) == pytest.approx(0.25)
    assert metrics.get(WORKLOADS, telemetry="healthy") == 1
    assert metrics.get(WORKLOADS, telemetry="none") == 1
