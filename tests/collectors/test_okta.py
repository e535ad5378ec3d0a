"""OktaCollector against respx fakes shaped like the Okta Management API reference.

Shapes: ``User`` {id, status, created, lastUpdated, profile{login, email, ...}};
``UserFactor`` {id, factorType, provider, status}; ``Application`` {id, label, status,
signOnMode}; ``/api/v1/iam/assignees/users`` items {id, orn, _links}; ``Role`` {id,
label, type, status, assignmentType}; System Log ``LogEvent`` {uuid, published,
eventType, target[{id, type}]}. Listings are JSON arrays paged with
``Link: <...>; rel="next"``; rate limits with ``X-Rate-Limit-Limit``, ``-Remaining`` and
``-Reset`` (epoch seconds); errors ``{errorCode, errorSummary, errorId}``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.okta import OktaCollector, OktaSettings
from collectors.records import RecordKind
from collectors.records_identity import AssignmentType, MfaStatus, SignOn, pseudonym

ORG = "https://acme.okta.com"
TOKEN = "00abcdefSSWStoken"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CLOCK = 1_800_000_000.0


async def _no_sleep(seconds: float) -> None:
    _no_sleep.calls.append(seconds)  # type: ignore[attr-defined]


_no_sleep.calls = []  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_TEST_TOKEN", TOKEN)
    _no_sleep.calls.clear()  # type: ignore[attr-defined]


def collector(**overrides: Any) -> OktaCollector:
    base: dict[str, Any] = {"org_url": ORG, "api_token": {"env": "OKTA_TEST_TOKEN"},
                            "leave_date_attribute": "terminationDate",
                            "break_glass": ["00ubreakglass"], "http": {"max_retries": 2}}
    base.update(overrides)
    return OktaCollector("okta", OktaSettings.model_validate(base), sleep=_no_sleep,
                         clock=lambda: CLOCK)


def ctx(state: dict[str, Any] | None = None, now: datetime = NOW) -> CollectContext:
    return CollectContext(name="okta", now=now, state=state or {},
                          logger=logging.getLogger("test.okta"))


def run(coll: OktaCollector, context: CollectContext | None = None) -> Any:
    return asyncio.run(coll.collect(context or ctx()))


def user(user_id: str, status: str = "ACTIVE", updated: str = "2026-10-01T00:00:00.000Z",
         **profile: Any) -> dict[str, Any]:
    return {"id": user_id, "status": status, "created": "2026-01-01T00:00:00.000Z",
            "lastUpdated": updated, "profile": {"login": f"{user_id}@acme.example",
                                                "email": f"{user_id}@acme.example",
                                                **profile}}


def factor(factor_type: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"id": f"f-{factor_type}", "factorType": factor_type, "provider": "OKTA",
            "status": status}


def listing(items: list[Any], next_url: str | None = None,
            remaining: str = "599") -> httpx.Response:
    headers = {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": remaining,
               "X-Rate-Limit-Reset": str(int(CLOCK) + 30)}
    if next_url:
        headers["Link"] = f'<{ORG}/api/v1/users?limit=200>; rel="self", <{next_url}>; rel="next"'
    return httpx.Response(200, json=items, headers=headers)


def mock_org() -> dict[str, respx.Route]:
    routes: dict[str, respx.Route] = {}

    def users(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        if query.get("filter") == ['status eq "DEPROVISIONED"']:
            return listing([user("00ugone", "DEPROVISIONED",
                                 terminationDate="2026-11-02")])
        if "after" in query:
            return listing([user("00ubob", terminationDate="2026-11-23"),
                            user("00uodd", "SOMETHING_NEW")])
        return listing([user("00ualice"), user("00ubreakglass")],
                       next_url=f"{ORG}/api/v1/users?after=00ubreakglass&limit=200")

    routes["users"] = respx.get(f"{ORG}/api/v1/users").mock(side_effect=users)
    routes["f-alice"] = respx.get(f"{ORG}/api/v1/users/00ualice/factors").mock(
        return_value=listing([factor("push"), factor("question")]))
    routes["f-bob"] = respx.get(f"{ORG}/api/v1/users/00ubob/factors").mock(
        return_value=listing([factor("question"), factor("sms", "PENDING_ACTIVATION")]))
    routes["f-bg"] = respx.get(f"{ORG}/api/v1/users/00ubreakglass/factors").mock(
        return_value=listing([factor("webauthn")]))
    routes["admins"] = respx.get(f"{ORG}/api/v1/iam/assignees/users").mock(
        return_value=listing([{"id": "00ualice", "orn": "orn:okta:directory:x:users:00ualice"},
                              {"id": "00ubreakglass", "orn": "orn:x"}]))
    routes["r-alice"] = respx.get(f"{ORG}/api/v1/users/00ualice/roles").mock(
        return_value=listing([{"id": "ra1", "label": "Super Administrator",
                               "type": "SUPER_ADMIN", "status": "ACTIVE",
                               "assignmentType": "USER"}]))
    routes["r-bg"] = respx.get(f"{ORG}/api/v1/users/00ubreakglass/roles").mock(
        return_value=listing([{"id": "ra2", "label": "Super Administrator",
                               "type": "SUPER_ADMIN", "status": "ACTIVE",
                               "assignmentType": "USER"}]))
    routes["apps"] = respx.get(f"{ORG}/api/v1/apps").mock(return_value=listing([
        {"id": "0oa1", "label": "prod-aws", "status": "ACTIVE", "signOnMode": "SAML_2_0"},
        {"id": "0oa2", "label": "wiki", "status": "ACTIVE",
         "signOnMode": "SECURE_PASSWORD_STORE"},
        {"id": "0oa3", "label": "intranet link", "status": "ACTIVE", "signOnMode": "BOOKMARK"},
        {"id": "0oa4", "label": "new", "status": "ACTIVE", "signOnMode": "SOMETHING_NEW"}]))
    routes["logs"] = respx.get(f"{ORG}/api/v1/logs").mock(return_value=listing([
        {"uuid": "e1", "published": "2026-11-02T11:00:00.000Z",
         "eventType": "user.lifecycle.deactivate",
         "target": [{"id": "00ugone", "type": "User", "alternateId": "gone@acme.example"}]}]))
    return routes


@respx.mock
def test_a_full_collection_by_value() -> None:
    routes = mock_org()
    result = run(collector(production_pattern="^prod-"))
    accounts = {a.id: a for a in result.records_of(RecordKind.IDENTITY_ACCOUNT)}
    key = lambda uid: pseudonym(ORG, uid)  # noqa: E731
    assert accounts[key("00ualice")].mfa is MfaStatus.CAPABLE
    assert accounts[key("00ualice")].privileged is True
    assert accounts[key("00ubob")].mfa is MfaStatus.NOT_CAPABLE  # question + pending sms
    assert accounts[key("00ubob")].privileged is False
    assert key("00uodd") not in accounts
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2  # user status, signOnMode
    assert {(a.role, a.assignment, a.break_glass)
            for a in result.records_of(RecordKind.PRIVILEGED_ASSIGNMENT)} == {
        ("SUPER_ADMIN", AssignmentType.PERMANENT, False),
        ("SUPER_ADMIN", AssignmentType.PERMANENT, True)}
    assert {(a.id, a.sign_on, a.production) for a in result.records_of(
        RecordKind.APPLICATION)} == {("0oa1", SignOn.FEDERATED, True),
                                     ("0oa2", SignOn.PASSWORD, False),
                                     ("0oa3", SignOn.NONE, False)}
    offboardings = {o.id: (o.left_at, o.access_removed_at)
                    for o in result.records_of(RecordKind.OFFBOARDING)}
    assert offboardings == {
        key("00ubob"): (datetime(2026, 11, 23, tzinfo=UTC), None),
        key("00ugone"): (datetime(2026, 11, 2, tzinfo=UTC),
                         datetime(2026, 11, 2, 11, tzinfo=UTC))}
    assert routes["users"].calls[0].request.headers["Authorization"] == f"SSWS {TOKEN}"
    assert "after=00ubreakglass" in str(routes["users"].calls[1].request.url)
    text = repr(result.records) + repr(result.state)
    for raw in ("00ualice", "00ubob", "acme.example", TOKEN):
        assert raw not in text


@respx.mock
def test_factors_are_read_again_only_for_users_updated_since_the_last_run() -> None:
    routes = mock_org()
    coll = collector()
    first = run(coll)
    assert routes["f-alice"].call_count == 1 and routes["f-bob"].call_count == 1
    later = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    routes["users"].side_effect = None
    routes["users"].mock(return_value=listing([
        user("00ualice"), user("00ubob", updated="2026-11-24T08:00:00.000Z")]))
    second = run(coll, ctx(first.state, later))
    assert routes["f-alice"].call_count == 1  # unchanged: capability from the state
    assert routes["f-bob"].call_count == 2
    accounts = {a.id: a.mfa for a in second.records_of(RecordKind.IDENTITY_ACCOUNT)}
    assert accounts[pseudonym(ORG, "00ualice")] is MfaStatus.CAPABLE
    # after factors_full_interval every active user is read again
    third = run(coll, ctx(second.state, datetime(2026, 12, 2, tzinfo=UTC)))
    assert routes["f-alice"].call_count == 2
    assert third.state["factors_full"] == "2026-12-02T00:00:00+00:00"


@respx.mock
def test_429_waits_until_x_rate_limit_reset() -> None:
    routes = mock_org()
    routes["apps"].mock(side_effect=[
        httpx.Response(429, headers={"X-Rate-Limit-Limit": "100",
                                     "X-Rate-Limit-Remaining": "0",
                                     "X-Rate-Limit-Reset": str(int(CLOCK) + 12)},
                       json={"errorCode": "E0000047", "errorSummary": "API call exceeded "
                             "rate limit due to too many requests."}),
        listing([])])
    run(collector())
    assert 12.0 in _no_sleep.calls  # type: ignore[attr-defined]


@respx.mock
def test_remaining_zero_waits_before_the_next_request() -> None:
    routes = mock_org()
    routes["admins"].mock(return_value=listing([], remaining="0"))
    run(collector())
    assert _no_sleep.calls == [30.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("status", "kind"), [(401, ErrorKind.AUTH),
                                              (403, ErrorKind.PERMISSION)])
@respx.mock
def test_auth_and_permission_errors_fail_the_run(status: int, kind: ErrorKind) -> None:
    routes = mock_org()
    routes["users"].side_effect = None
    routes["users"].mock(return_value=httpx.Response(status, json={
        "errorCode": "E0000011", "errorSummary": "Invalid token provided", "errorId": "x"}))
    with pytest.raises(CollectorError) as caught:
        run(collector())
    assert caught.value.kind is kind
    assert TOKEN not in str(caught.value)


@respx.mock
def test_a_listing_that_is_not_an_array_is_malformed() -> None:
    routes = mock_org()
    routes["apps"].mock(return_value=httpx.Response(200, json={"errorCode": "x"}))
    with pytest.raises(CollectorError) as caught:
        run(collector())
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_system_log_window_reaches_the_previous_quarter() -> None:
    from exporter.quarters import history_start

    routes = mock_org()
    now = datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    run(collector(), CollectContext(name="okta", now=now, state={},
                                    logger=logging.getLogger("test.okta"),
                                    history_start=history_start(now)))
    query = parse_qs(routes["logs"].calls[0].request.url.query.decode())
    assert query["since"] == ["2026-06-17T00:00:00.000Z"]
    assert query["filter"] == ['eventType eq "user.lifecycle.deactivate" or eventType eq '
                               '"user.lifecycle.suspend"']
