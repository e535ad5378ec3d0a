"""HTTP plumbing shared by every API collector: retries, rate limits, error kinds.

Each collector wraps its API in an :class:`ApiClient`. The client retries what is
worth retrying (429, 502/503/504, timeouts, dropped connections) with exponential
backoff and jitter, honours ``Retry-After``, refuses to wait longer than the run's
budget allows, bounds concurrency, and turns every failure into a
:class:`~collectors.base.CollectorError` with a bounded kind. Error messages carry the
method, the URL path and the status, never headers, query strings or bodies, so a
token cannot leak through them.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from collectors.base import CollectorError, ErrorKind
from collectors.settings import PositiveDuration, StrictModel

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpSettings(StrictModel):
    """Per-collector HTTP behaviour, shared by every API collector's config model."""

    timeout: PositiveDuration = timedelta(seconds=30)
    max_retries: int = 4
    backoff: PositiveDuration = timedelta(seconds=1)
    max_retry_wait: PositiveDuration = timedelta(seconds=120)
    concurrency: int = 4
    verify_tls: bool = True


@dataclass
class RequestStats:
    """Counts requests by status and retries by why, for health metrics and benchmarks."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    retries_by_kind: Counter[str] = field(default_factory=Counter)
    waited_seconds: float = 0.0

    def add_retry(self, kind: str, waited: float) -> None:
        self.retries += 1
        self.retries_by_kind[kind] += 1
        self.waited_seconds += waited


RETRY_KINDS = ("rate_limited", "server", "timeout", "network")

# The run's totals over every ApiClient the collector makes: the core sets one per run
# (asyncio copies the context into the run's tasks) and publishes retries by kind.
run_request_stats: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar(
    "run_request_stats", default=None)



def count_run_retry(kind: str, waited: float = 0.0) -> None:
    """Add one retry of ``kind`` (one of RETRY_KINDS) to the current run's totals.

    ApiClient calls it for its own retries; a collector that retries by itself (GitHub's
    token failover and rate-limit waits) calls it too, so every retry reaches
    ``devsecops_collector_http_retries_total``.
    """
    run_stats = run_request_stats.get()
    if run_stats is not None:
        run_stats.add_retry(kind, waited)


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def parse_link_header(value: str | None) -> dict[str, str]:
    """Map ``rel`` to URL from an RFC 8288 ``Link`` header (GitHub's pagination)."""
    links: dict[str, str] = {}
    if not value:
        return links
    for part in value.split(","):
        section = part.strip().split(";")
        if len(section) < 2:
            continue
        url = section[0].strip()
        if not (url.startswith("<") and url.endswith(">")):
            continue
        for param in section[1:]:
            key, _, rel = param.strip().partition("=")
            if key.strip() == "rel":
                for name in rel.strip().strip('"').split():
                    links[name] = url[1:-1]
    return links


def status_error_kind(status: int) -> ErrorKind:
    """The error kind a final, unretried HTTP status maps to."""
    if status == 401:
        return ErrorKind.AUTH
    if status == 403:
        return ErrorKind.PERMISSION
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status >= 500:
        return ErrorKind.SERVER
    return ErrorKind.CLIENT


def page_objects(items: list[Any], firsts: set[str], what: str,
                 errors: Counter[ErrorKind]) -> list[dict[str, Any]]:
    """The objects of one listing page; an item that is no object is counted
    (``malformed_record``), never guessed.

    ``firsts`` holds the id of each earlier page's first item: a page that starts with
    one of them is a server ignoring its offset (it would answer the same page for
    ever), which fails the run as ``malformed_response`` naming ``what``.
    """
    first = items[0].get("id") if items and isinstance(items[0], dict) else None
    if isinstance(first, str):
        if first in firsts:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"{what}: a page repeats an earlier one")
        firsts.add(first)
    objects = [item for item in items if isinstance(item, dict)]
    if len(objects) < len(items):
        errors[ErrorKind.MALFORMED_RECORD] += len(items) - len(objects)
    return objects


def path_segment(value: str) -> str | None:
    """A server-given id quoted as one URL path segment, or ``None`` when it is no text
    a request can carry (a lone surrogate from JSON ``\\ud800``).

    Quoted, an id cannot reach another path (``a/../b``) and a control character is
    sent escaped; the caller skips and counts the item whose id is ``None`` here, rather
    than failing the run on one item.
    """
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        return None


def describe(method: str, url: httpx.URL | str) -> str:
    """``GET host/path`` without query string or credentials, for error messages."""
    parsed = httpx.URL(str(url))
    return f"{method} {parsed.host}{parsed.path}"


RateLimitHook = Callable[[httpx.Response], float | None]


class ApiClient:
    """An httpx.AsyncClient with the retry, rate-limit and error policy above.

    ``rate_limit_hook`` lets a collector recognise vendor-specific throttling that is
    not a plain 429 (GitHub's secondary limits answer 403): it returns the seconds to
    wait, or ``None`` when the response is not a rate limit.
    ``sleep`` is injectable so tests run without real waiting.
    """

    def __init__(
        self,
        base_url: str,
        settings: HttpSettings,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        rate_limit_hook: RateLimitHook | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.stats = RequestStats()
        self._rate_limit_hook = rate_limit_hook
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(max(1, settings.concurrency))
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=settings.timeout.total_seconds(),
            verify=settings.verify_tls,
            transport=transport,
            follow_redirects=False,  # see _redirect_target: credentials stay at home
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _backoff(self, attempt: int) -> float:
        base = self.settings.backoff.total_seconds() * (2**attempt)
        return base * (0.5 + random.random() / 2)  # jitter: 50-100 % of the step

    async def _wait(self, seconds: float, what: str, kind: str) -> None:
        if seconds > self.settings.max_retry_wait.total_seconds():
            raise CollectorError(
                ErrorKind.RATE_LIMITED,
                f"{what}: asked to wait {seconds:.0f}s, over the "
                f"{self.settings.max_retry_wait.total_seconds():.0f}s budget",
            )
        self.stats.add_retry(kind, seconds)
        count_run_retry(kind, seconds)
        await self._sleep(seconds)

    def _count_request(self) -> None:
        self.stats.requests += 1
        run_stats = run_request_stats.get()
        if run_stats is not None:
            run_stats.requests += 1

    def _redirect_target(self, method: str, response: httpx.Response) -> httpx.URL:
        """Where a redirect may be followed to, or a CollectorError saying why not.

        httpx would re-send a POST body (a client secret) on a 307/308 and custom
        credential headers to any host. So: only GET and HEAD follow redirects, only to
        the same origin (scheme, host and port), never from https to http.
        """
        what = describe(method, response.request.url)
        location = response.headers.get("Location")
        if not location:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"{what}: HTTP {response.status_code} without a Location")
        source = response.request.url
        try:
            target = source.join(location)
        except httpx.InvalidURL:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"{what}: HTTP {response.status_code} to an invalid URL") from None
        if method not in ("GET", "HEAD"):
            raise CollectorError(ErrorKind.CLIENT, f"{what}: HTTP {response.status_code} "
                                 "redirect not followed: a request carrying credentials is "
                                 "never re-sent; configure the URL it redirects to")
        if (target.scheme, target.host, target.port) != (source.scheme, source.host,
                                                         source.port):
            raise CollectorError(ErrorKind.CLIENT, f"{what}: HTTP {response.status_code} "
                                 f"redirect to {target.scheme}://{target.host} not followed: "
                                 "credentials are only sent to the configured origin; "
                                 "configure the URL it redirects to")
        return target

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send a request with retries; return a 2xx/3xx response or one in ``accept``.

        Any other final status raises CollectorError with its kind.
        """
        attempt = 0
        redirects = 0
        target: str | httpx.URL = url
        while True:
            try:
                what = describe(method, self._client.base_url.join(target))
                built = self._client.build_request(method, target, params=params,
                                                   json=json_body, data=data, headers=headers)
            except (UnicodeEncodeError, httpx.InvalidURL):
                # Text that no request can carry (a lone surrogate, JSON "\ud800"; a control
                # character in a URL) can only have come from an earlier response: an id,
                # cursor or link echoed back.
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE,
                    f"{method} {self._client.base_url.host}: a value from an earlier "
                    "response (an id, cursor or link) cannot be encoded into this request",
                ) from None
            try:
                async with self._semaphore:
                    self._count_request()
                    response = await self._client.send(built)
            except httpx.TimeoutException:
                kind, detail, response = ErrorKind.TIMEOUT, "timed out", None
            except httpx.TransportError as exc:
                kind, detail, response = ErrorKind.NETWORK, type(exc).__name__, None
            if response is None:
                if attempt >= self.settings.max_retries:
                    raise CollectorError(kind, f"{what}: {detail} after {attempt + 1} attempts")
                await self._wait(self._backoff(attempt), what, kind.value)
                attempt += 1
                continue

            status = response.status_code
            self.stats.by_status[status] += 1
            if status in REDIRECT_STATUSES and status not in accept:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise CollectorError(ErrorKind.CLIENT,
                                         f"{what}: more than {MAX_REDIRECTS} redirects")
                target, params = self._redirect_target(method, response), None
                continue
            if status < 400 or status in accept:
                return response
            wait = self._rate_limit_hook(response) if self._rate_limit_hook else None
            throttled = wait is not None or status == 429
            if wait is None and status in RETRYABLE_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                wait = retry_after if retry_after is not None else self._backoff(attempt)
            if wait is None or attempt >= self.settings.max_retries:
                kind = ErrorKind.RATE_LIMITED if throttled else status_error_kind(status)
                raise CollectorError(kind, f"{what}: HTTP {status}{_api_hint(response)}")
            retry_kind = "rate_limited" if throttled else "server"
            await self._wait(wait, what, retry_kind)
            attempt += 1

    async def get_json(self, url: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        """GET and decode JSON; a non-JSON or truncated body is malformed_response."""
        response = await self.request("GET", url, **kwargs)
        return decode_json(response), response

    async def post_json(self, url: str, body: Any, **kwargs: Any) -> tuple[Any, httpx.Response]:
        response = await self.request("POST", url, json_body=body, **kwargs)
        return decode_json(response), response


def decode_json(response: httpx.Response) -> Any:
    """Decode a JSON body or raise malformed_response naming the request.

    ``ValueError`` is caught as a whole, not just ``JSONDecodeError``: an integer over
    Python's 4,300-digit conversion limit raises a bare ``ValueError`` from json.loads,
    and a hostile body must fail the run cleanly, not crash it.
    """
    what = describe(response.request.method, response.request.url)
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, the digit
        # limit; RecursionError for arrays nested thousands deep
        ctype = response.headers.get("Content-Type", "unknown content type")
        raise CollectorError(
            ErrorKind.MALFORMED_RESPONSE,
            f"{what}: HTTP {response.status_code} body is not valid JSON ({ctype})",
        ) from None


def _api_hint(response: httpx.Response) -> str:
    """A short, safe hint from a JSON error body (``message`` fields), if any."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):  # as in decode_json
        return ""
    messages: list[str] = []
    if isinstance(body, dict):
        for key in ("message", "errorMessages", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str):
                messages.append(value)
            elif isinstance(value, list):
                messages.extend(str(v) for v in value if isinstance(v, str))
            elif isinstance(value, dict) and isinstance(value.get("message"), str):
                messages.append(value["message"])
    hint = "; ".join(messages)[:300]
    return f" ({hint})" if hint else ""


def parse_timestamp(value: Any) -> datetime | None:
    """Parse an ISO-8601 timestamp from an API into aware UTC; ``None`` stays ``None``.

    Naive timestamps are rejected: an API that omits the offset must be read with
    the account's time zone by the collector that knows it.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 timestamp, got {type(value).__name__}")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Jira and others write offsets without a colon: 2026-01-02T03:04:05.000+0000
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        # ValueError, so that every caller's handling of a bad timestamp applies.
        raise ValueError(f"timestamp {value!r} is out of range in UTC") from None
