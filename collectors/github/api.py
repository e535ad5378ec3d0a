"""GitHub transport for the ``github`` collector: auth, rate-limit budgets, token failover.

Split out of the collector (``collectors/github/collector.py``); nothing here knows about records.

Budgets. GitHub counts requests per credential and resource (``core``, ``graphql``,
``code_search``) in hourly windows and reports the window after every response
(``X-RateLimit-Remaining``/``-Reset``). With many requests in flight, a budget read
when a request is *queued* is stale by the time it is *sent*: hundreds of queued
per-repository calls would all pass the reserve check and drain a token to 0. So the
token is chosen and its budget debited inside the concurrency slot, immediately before
the request goes out, and every response corrects the estimate (its header minus the
requests still in flight). A token found exhausted (403/429 with
``X-RateLimit-Remaining: 0``) or at its reserve is passed over for the next one; only
when every token is spent does the collector wait for the earliest reset, and fail as
``rate_limited`` if that wait is beyond ``http.max_retry_wait``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from collectors.base import CollectorError, ErrorKind
from collectors.http import (
    ApiClient,
    count_run_retry,
    decode_json,
    describe,
    parse_retry_after,
    parse_timestamp,
    status_error_kind,
)

if TYPE_CHECKING:
    from collectors.github import GitHubSettings

API_VERSION = "2022-11-28"
USER_AGENT = "devsecops-maturity-exporter"

# Kinds of retry the collector counts (``GitHubApi.retries``), a bounded label set.
RETRY_KINDS = ("transient", "rate_limit", "token_exhausted", "reset_wait")


def require_cryptography() -> Any:
    """Import ``cryptography`` for App JWTs (RS256) or explain what to install."""
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
    except ImportError:
        raise ValueError(
            "GitHub App authentication signs an RS256 JWT and needs the 'cryptography' "
            "package (pip install cryptography); or use tokens instead"
        ) from None
    return hashes, serialization, padding


def github_rate_limit_hook(response: httpx.Response) -> float | None:
    """Seconds to wait when a 403/429 is one of GitHub's rate limits, else ``None``.

    Primary limit: ``X-RateLimit-Remaining: 0`` (wait until ``X-RateLimit-Reset``).
    Secondary limits: ``Retry-After`` if given, else GitHub's documented advice of at
    least one minute when the body says "secondary rate limit".
    """
    if response.status_code not in (403, 429):
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    if _primary_limit(response):
        try:
            reset = float(response.headers.get("X-RateLimit-Reset", ""))
        except ValueError:
            return 60.0
        return max(1.0, reset - time.time())
    body = response.content[:2000].lower()
    if b"secondary rate limit" in body or b"abuse" in body:
        return 60.0
    return None


def _primary_limit(response: httpx.Response) -> bool:
    """A 403/429 that says this credential's window is spent (GitHub's documented sign)."""
    return response.status_code in (403, 429) and (
        response.headers.get("X-RateLimit-Remaining") == "0"
    )


def message_of(response: httpx.Response) -> str:
    """GitHub's JSON ``message``, shortened, for error text (never headers or query)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):  # as in http.decode_json (the digit limit too)
        return ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:200]
    return ""


def fail(response: httpx.Response) -> CollectorError:
    """The error a final, unexpected status fails the run with."""
    what = describe(response.request.method, response.request.url)
    hint = message_of(response)
    return CollectorError(
        status_error_kind(response.status_code),
        f"{what}: HTTP {response.status_code}" + (f" ({hint})" if hint else ""),
    )


def decode_list(response: httpx.Response) -> list[Any]:
    body = decode_json(response)
    if not isinstance(body, list):
        what = describe(response.request.method, response.request.url)
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: expected a JSON array")
    return body


@dataclass
class _Budget:
    """One token's budget for one resource, as this process estimates it.

    ``remaining`` is ``None`` while unknown (never seen, or its window has passed);
    otherwise the last response's header, less the requests sent since whose answers
    have not arrived. It errs low, never high: a token is given up a little early
    rather than run into its limit.
    """

    remaining: int | None = None
    reset: float = 0.0
    in_flight: int = 0


class _Credentials:
    """Hands out an Authorization header per request; tracks each token's budget.

    Tokens are used in order and stuck to while they have budget above the reserve,
    because GitHub's ETags vary by credential: switching tokens needlessly would turn
    304s into 200s.
    """

    def __init__(
        self,
        settings: GitHubSettings,
        client_factory: Callable[[], ApiClient],
        clock: Callable[[], float],
        app_cache: dict[str, tuple[str, float]] | None = None,
    ) -> None:
        self._static = [t.get_secret_value() for t in settings.tokens]
        self._app = settings.app
        self._client_factory = client_factory
        self._clock = clock
        # Installation tokens live an hour: the cache is the collector's, shared by runs.
        self._app_cache = app_cache if app_cache is not None else {}
        self._lock = asyncio.Lock()
        self.budgets: dict[tuple[int, str], _Budget] = {}

    @property
    def count(self) -> int:
        return len(self._static) if self._static else 1

    async def token(self, index: int) -> str:
        if self._static:
            return self._static[index]
        async with self._lock:
            cached = self._app_cache.get("token")
            if cached is None or cached[1] - 300 < self._clock():
                cached = await self._mint_installation_token()
                self._app_cache["token"] = cached
            return cached[0]

    async def _mint_installation_token(self) -> tuple[str, float]:
        assert self._app is not None
        jwt = make_app_jwt(self._app.app_id, self._app.private_key, self._clock())
        client = self._client_factory()
        try:
            response = await client.request(
                "POST",
                f"app/installations/{self._app.installation_id}/access_tokens",
                headers={"Authorization": f"Bearer {jwt}"},
            )
        finally:
            await client.aclose()
        body = decode_json(response)
        token = body.get("token") if isinstance(body, dict) else None
        expires = parse_timestamp(body.get("expires_at")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise CollectorError(
                ErrorKind.MALFORMED_RESPONSE, "installation token response has no token"
            )
        expiry = expires.timestamp() if expires else self._clock() + 3600
        return token, expiry

    def acquire(self, resource: str, reserve: int) -> tuple[int | None, float]:
        """Choose the token for a request about to be sent and debit its budget.

        Returns (token index, 0) or, when every token is at its reserve, (None, seconds
        until the earliest reset). Must be called right before sending (inside the
        concurrency slot) and paired with :meth:`settle`.
        """
        now = self._clock()
        earliest = float("inf")
        for index in range(self.count):
            budget = self.budgets.setdefault((index, resource), _Budget())
            if budget.remaining is not None and budget.reset <= now:
                budget.remaining = None  # the window has reset
            if budget.remaining is None or budget.remaining > reserve:
                budget.in_flight += 1
                if budget.remaining is not None:
                    budget.remaining -= 1
                return index, 0.0
            earliest = min(earliest, budget.reset - now)
        return None, max(0.0, earliest)

    def settle(self, index: int, resource: str, response: httpx.Response | None) -> None:
        """Correct the estimate from a response's ``X-RateLimit-*`` headers.

        ``None``: the request failed without an answer (it stays debited).
        """
        budget = self.budgets[(index, resource)]
        budget.in_flight -= 1
        if response is None:
            return
        if response.status_code == 304 and budget.remaining is not None:
            budget.remaining += 1  # an authorised conditional request answered 304 is free
        try:
            remaining = int(response.headers["X-RateLimit-Remaining"])
            reset = float(response.headers.get("X-RateLimit-Reset", self._clock() + 3600))
        except (KeyError, ValueError):
            return  # GHES with rate limiting off sends no headers: the budget stays unknown
        # Requests still in flight were sent after this one was counted, or are counted
        # twice here (answered by GitHub, answer not read yet): either way, err low.
        seen = remaining - budget.in_flight
        if budget.remaining is None or reset > budget.reset:
            budget.remaining = seen  # first answer of a window
        else:
            budget.remaining = min(budget.remaining, seen)  # answers arrive out of order
        budget.reset = reset

    def forget(self, resource: str) -> None:
        """After waiting for a reset: every budget of ``resource`` is unknown again."""
        for (_, res), budget in self.budgets.items():
            if res == resource:
                budget.remaining = None

    def remaining_by_resource(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_, resource), budget in self.budgets.items():
            if budget.remaining is not None:
                out[resource] = out.get(resource, 0) + max(0, budget.remaining)
        return out


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_app_jwt(app_id: int, private_key: SecretStr, now: float) -> str:
    """An RS256 JWT for GitHub App auth: issued 60 s in the past (clock skew), 9 min life."""
    try:
        hashes, serialization, padding = require_cryptography()
    except ValueError as exc:
        raise CollectorError(ErrorKind.CONFIG, str(exc)) from None
    try:
        key = serialization.load_pem_private_key(
            private_key.get_secret_value().encode("utf-8"), password=None
        )
    except (ValueError, TypeError):
        raise CollectorError(
            ErrorKind.CONFIG, "app.private_key is not a readable unencrypted PEM private key"
        ) from None
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = _b64url(
        json.dumps({"iat": int(now) - 60, "exp": int(now) + 540, "iss": str(app_id)}).encode()
    )
    signing_input = f"{header}.{payload}".encode("ascii")
    try:
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    except (TypeError, AttributeError):
        raise CollectorError(ErrorKind.CONFIG, "app.private_key is not an RSA key") from None
    return f"{header}.{payload}.{_b64url(signature)}"


# Statuses GitHubApi always takes back from ApiClient, to handle rate limits per token.
_SELF_HANDLED = frozenset({304, 403, 429})


class GitHubApi:
    """GitHub REST/GraphQL on top of ApiClient: auth, budgets, ETags, rate limits.

    ApiClient keeps its retries for 5xx, timeouts and dropped connections (kind
    ``transient``); 403 and 429 are handled here, because what to do depends on the token:
    a primary limit moves to the next token, a secondary limit is waited out.
    """

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        app_cache: dict[str, tuple[str, float]] | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }

        def factory() -> ApiClient:
            return ApiClient(
                settings.api_url + "/",
                settings.http,
                headers=headers,
                rate_limit_hook=github_rate_limit_hook,
                sleep=sleep,
                transport=transport,
            )

        self.client = factory()
        self.credentials = _Credentials(settings, factory, clock, app_cache)
        # The concurrency slot is taken here, before the token is chosen (ApiClient's own
        # semaphore, of the same size, then never blocks).
        self._slots = asyncio.Semaphore(max(1, settings.http.concurrency))
        self._host = httpx.URL(settings.api_url).host
        self.not_modified = 0
        self.cache_hits = 0  # requests not sent because the state says nothing changed
        self.retries: Counter[str] = Counter()  # by RETRY_KINDS, except ApiClient's own
        self.waited_seconds = 0.0  # rate-limit waits here, besides ApiClient's backoff

    async def aclose(self) -> None:
        await self.client.aclose()

    def same_host(self, url: str) -> bool:
        """Links are followed only on the API host: a token is never sent elsewhere."""
        return httpx.URL(url).host in (self._host, "")

    def retry_counts(self) -> dict[str, int]:
        """Retries of this run by kind; ``transient`` are ApiClient's (5xx, network)."""
        counts = {kind: self.retries.get(kind, 0) for kind in RETRY_KINDS}
        counts["transient"] = self.client.stats.retries
        return counts

    def total_waited_seconds(self) -> float:
        return self.waited_seconds + self.client.stats.waited_seconds

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        etag: str | None = None,
        resource: str = "core",
        accept: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """One API call with a token from the pool.

        ``accept`` are statuses the caller handles (403/404 to tell "not enabled" from
        "forbidden"); a 403/429 that is a rate limit is never handed back.
        """
        settings = self.settings
        throttled = 0  # secondary limits and 429s waited out
        exhausted = 0  # primary-limit answers (a token found spent)
        while True:
            response: httpx.Response | None = None
            async with self._slots:
                index, wait = self.credentials.acquire(resource, settings.rate_limit_reserve)
                if index is not None:
                    try:
                        token = await self.credentials.token(index)
                        headers = {"Authorization": f"Bearer {token}"}
                        if etag:
                            headers["If-None-Match"] = etag
                        response = await self.client.request(
                            method, url, params=params, json_body=json_body, headers=headers,
                            accept=accept | _SELF_HANDLED,
                        )
                    finally:
                        self.credentials.settle(index, resource, response)
            if response is None:  # every token at its reserve: wait for the earliest reset
                await self._wait(wait, f"{resource} budget below the reserve on every token",
                                 "reset_wait")
                self.credentials.forget(resource)
                continue
            status = response.status_code
            if status == 304:
                self.not_modified += 1
                return response
            if status in (403, 429):
                what = describe(method, response.request.url)
                if _primary_limit(response):
                    # This token is spent (settle() recorded 0): the next attempt takes
                    # the next token, or waits for the reset when none is left.
                    exhausted += 1
                    if exhausted > self.credentials.count + settings.http.max_retries:
                        raise CollectorError(
                            ErrorKind.RATE_LIMITED,
                            f"{what}: HTTP {status} rate limited after {exhausted} attempts",
                        )
                    self.retries["token_exhausted"] += 1
                    count_run_retry("rate_limited")
                    continue
                wait_for = github_rate_limit_hook(response)
                if wait_for is None and status == 429:
                    wait_for = self._backoff(throttled)
                if wait_for is not None:
                    if throttled >= settings.http.max_retries:
                        raise CollectorError(
                            ErrorKind.RATE_LIMITED,
                            f"{what}: HTTP {status} rate limited after {throttled + 1} "
                            "attempts",
                        )
                    await self._wait(wait_for, f"{what} rate limit", "rate_limit")
                    throttled += 1
                    continue
                if status not in accept:
                    raise fail(response)
            return response

    def _backoff(self, attempt: int) -> float:
        base = self.settings.http.backoff.total_seconds() * (2**attempt)
        return base * (0.5 + random.random() / 2)

    async def _wait(self, seconds: float, what: str, kind: str) -> None:
        budget = self.settings.http.max_retry_wait.total_seconds()
        if seconds > budget:
            raise CollectorError(
                ErrorKind.RATE_LIMITED,
                f"GitHub {what}: would wait {seconds:.0f}s, over the {budget:.0f}s budget",
            )
        self.retries[kind] += 1
        self.waited_seconds += max(0.0, seconds)
        count_run_retry("rate_limited", max(0.0, seconds))
        await self._sleep(max(0.0, seconds))

    async def graphql(self, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """A GraphQL query; a spent token (HTTP 200 with a RATE_LIMITED error and
        ``X-RateLimit-Remaining: 0``) moves to the next token like a REST primary limit."""
        for _ in range(self.credentials.count + self.settings.http.max_retries + 1):
            response = await self.request(
                "POST", self.settings.resolved_graphql_url(),
                json_body={"query": query, "variables": dict(variables)}, resource="graphql",
            )
            body = decode_json(response)
            if not isinstance(body, dict):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE, "GraphQL: expected an object")
            errors = body.get("errors")
            errors = errors if isinstance(errors, list) else []
            if body.get("data") is not None:
                return body
            types = {e.get("type") for e in errors
                     if isinstance(e, dict) and isinstance(e.get("type"), str)}
            first = next((e.get("message") for e in errors if isinstance(e, dict)), "")
            spent = response.headers.get("X-RateLimit-Remaining") == "0"
            if spent and ("RATE_LIMITED" in types or "rate limit" in str(first).lower()):
                self.retries["token_exhausted"] += 1
                count_run_retry("rate_limited")
                continue  # settle() recorded 0 for this token
            kind = ErrorKind.RATE_LIMITED if "RATE_LIMITED" in types else ErrorKind.CLIENT
            raise CollectorError(kind, f"GraphQL query failed: {str(first)[:200]}")
        raise CollectorError(ErrorKind.RATE_LIMITED, "GraphQL: every token's budget is spent")


__all__ = [
    "API_VERSION",
    "RETRY_KINDS",
    "USER_AGENT",
    "GitHubApi",
    "decode_list",
    "fail",
    "github_rate_limit_hook",
    "make_app_jwt",
    "message_of",
    "require_cryptography",
]
