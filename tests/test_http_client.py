"""The shared HTTP client: retries, Retry-After, error kinds, no secrets in errors."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
import respx

from collectors.base import CollectorError, ErrorKind
from collectors.http import (
    ApiClient,
    HttpSettings,
    parse_link_header,
    parse_retry_after,
    parse_timestamp,
)

BASE = "https://api.example.test"
TOKEN = "tok_VerySecretValue_abc123"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(sleeps: Sleeps, **settings: object) -> ApiClient:
    return ApiClient(BASE, HttpSettings.model_validate(settings),
                     headers={"Authorization": f"Bearer {TOKEN}"}, sleep=sleeps)


def get(api: ApiClient, path: str = "/items", **kwargs: object):
    async def go():
        async with api:
            return await api.get_json(path, **kwargs)
    return asyncio.run(go())


@respx.mock
def test_retry_after_is_honoured_then_success() -> None:
    sleeps = Sleeps()
    respx.get(f"{BASE}/items").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503),
        httpx.Response(200, json={"ok": 1}),
    ])
    api = client(sleeps)
    body, _ = get(api)
    assert body == {"ok": 1}
    assert sleeps.calls[0] == 7
    assert 0.5 <= sleeps.calls[1] <= 2.0  # backoff step 2 (1s * 2 ** 1) with jitter
    assert api.stats.requests == 3 and api.stats.by_status == {429: 1, 503: 1, 200: 1}


@respx.mock
@pytest.mark.parametrize(("status", "kind"), [
    (401, ErrorKind.AUTH), (403, ErrorKind.PERMISSION), (404, ErrorKind.NOT_FOUND),
    (400, ErrorKind.CLIENT), (410, ErrorKind.CLIENT), (422, ErrorKind.CLIENT),
])
def test_final_statuses_map_to_kinds_without_retry(status: int, kind: ErrorKind) -> None:
    route = respx.get(f"{BASE}/items").mock(
        return_value=httpx.Response(status, json={"message": "Bad credentials"}))
    with pytest.raises(CollectorError) as info:
        get(client(Sleeps()), params={"token": TOKEN})
    assert info.value.kind is kind and route.call_count == 1
    assert f"HTTP {status}" in str(info.value) and "Bad credentials" in str(info.value)
    assert TOKEN not in str(info.value)


@respx.mock
def test_server_errors_exhaust_retries() -> None:
    route = respx.get(f"{BASE}/items").mock(return_value=httpx.Response(502))
    with pytest.raises(CollectorError) as info:
        get(client(Sleeps(), max_retries=2))
    assert info.value.kind is ErrorKind.SERVER and route.call_count == 3


@respx.mock
def test_rate_limit_longer_than_budget_fails_fast() -> None:
    sleeps = Sleeps()
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(429,
                                                                headers={"Retry-After": "3600"}))
    with pytest.raises(CollectorError) as info:
        get(client(sleeps, max_retry_wait="2m"))
    assert info.value.kind is ErrorKind.RATE_LIMITED and sleeps.calls == []


@respx.mock
def test_timeouts_and_connection_errors_are_retried_then_reported() -> None:
    respx.get(f"{BASE}/items").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CollectorError) as info:
        get(client(Sleeps(), max_retries=1))
    assert info.value.kind is ErrorKind.TIMEOUT
    respx.get(f"{BASE}/other").mock(side_effect=[httpx.ConnectError("refused"),
                                                 httpx.Response(200, json=[])])
    assert get(client(Sleeps()), "/other")[0] == []


@respx.mock
@pytest.mark.parametrize("body", [b"<html><body>502 Bad Gateway</body></html>", b'{"a": [1, 2',
                                  b""])
def test_non_json_bodies_are_malformed_responses(body: bytes) -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(
        200, content=body, headers={"Content-Type": "text/html"}))
    with pytest.raises(CollectorError) as info:
        get(client(Sleeps()))
    assert info.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_vendor_rate_limit_hook() -> None:
    sleeps = Sleeps()
    respx.get(f"{BASE}/items").mock(side_effect=[
        httpx.Response(403, json={"message": "You have exceeded a secondary rate limit"}),
        httpx.Response(200, json={}),
    ])

    def hook(response: httpx.Response) -> float | None:
        return 60.0 if "secondary rate limit" in response.text else None

    api = ApiClient(BASE, HttpSettings(), rate_limit_hook=hook, sleep=sleeps)
    assert get(api)[0] == {}
    assert sleeps.calls == [60.0]


@respx.mock
def test_accepted_statuses_are_returned() -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(304))

    async def go() -> int:
        async with client(Sleeps()) as api:
            return (await api.request("GET", "/items", accept=frozenset({304}))).status_code
    assert asyncio.run(go()) == 304


def test_parsers() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60
    assert parse_retry_after("soon") is None
    links = parse_link_header('<https://x/a?page=2>; rel="next", <https://x/a?page=9>; rel="last"')
    assert links == {"next": "https://x/a?page=2", "last": "https://x/a?page=9"}
    assert parse_timestamp("2026-01-02T03:04:05.000+0100").isoformat() == \
        "2026-01-02T02:04:05+00:00"
    with pytest.raises(ValueError, match="no time zone"):
        parse_timestamp("2026-01-02T03:04:05")
    assert HttpSettings().timeout == timedelta(seconds=30)


# -- redirects never carry credentials elsewhere -------------------------------------


@respx.mock
def test_same_origin_get_redirect_is_followed() -> None:
    respx.get(f"{BASE}/old").mock(return_value=httpx.Response(
        301, headers={"Location": "/repositories/42"}))
    new = respx.get(f"{BASE}/repositories/42").mock(return_value=httpx.Response(200, json={}))
    body, response = get(client(Sleeps()), "/old")
    assert response.status_code == 200 and body == {}
    assert new.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("location", [
    "https://evil.example.test/collect",  # another host
    "http://api.example.test/items",  # a downgrade to plain HTTP
    "https://api.example.test:8443/items",  # another port
])
@respx.mock
def test_cross_origin_or_downgrading_redirect_is_refused(location: str) -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(
        302, headers={"Location": location}))
    elsewhere = respx.route(url__startswith=location.split("/items")[0].split("/collect")[0])
    elsewhere.mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(CollectorError) as err:
        get(client(Sleeps()))
    assert err.value.kind is ErrorKind.CLIENT
    assert "not followed" in str(err.value)
    assert not [c for c in respx.calls if str(c.request.url).startswith(location)]


@respx.mock
def test_a_post_is_never_resent_on_307() -> None:
    """A token request re-POSTed on a 307 would hand the client secret to the target."""
    respx.post(f"{BASE}/token").mock(return_value=httpx.Response(
        307, headers={"Location": "/token2"}))
    second = respx.post(f"{BASE}/token2").mock(return_value=httpx.Response(200, json={}))

    async def go() -> None:
        async with client(Sleeps()) as api:
            await api.request("POST", "/token", data={"client_secret": TOKEN})

    with pytest.raises(CollectorError) as err:
        asyncio.run(go())
    assert err.value.kind is ErrorKind.CLIENT
    assert not second.called


@respx.mock
def test_redirect_loops_end() -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(
        302, headers={"Location": "/items"}))
    with pytest.raises(CollectorError, match="redirects"):
        get(client(Sleeps()))


# -- retries are counted by why, per client and per run ------------------------------


@respx.mock
def test_retries_are_counted_by_kind_in_the_run_stats() -> None:
    from collectors.http import RequestStats, run_request_stats

    respx.get(f"{BASE}/items").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503),
        httpx.ConnectTimeout("slow"),
        httpx.Response(200, json=[]),
    ])
    run_stats = RequestStats()

    async def go() -> None:
        run_request_stats.set(run_stats)
        async with client(Sleeps(), max_retries=5) as api:
            await api.request("GET", "/items")

    asyncio.run(go())
    assert dict(run_stats.retries_by_kind) == {"rate_limited": 1, "server": 1, "timeout": 1}
    assert run_stats.requests == 4
    assert run_stats.waited_seconds >= 3.0
