"""The ``splunk`` collector: Splunk Enterprise Security notable events as triaged alerts.

Review fields (status, disposition, owner, urgency) are not in the ``notable`` index:
ES keeps them in the ``incident_review_lookup`` KV store and joins them in the
`` `notable` `` search macro. So the collector runs two bounded searches through the
REST search API, each either streamed from the export endpoint or run as a search job
that is polled and cancelled once it runs past ``search_budget``:

1. notables: `` search `notable` `` over the time window, one row per notable event
   with its current ``status``, ``disposition``, ``urgency`` and ``rule_name``;
2. review history: ``| inputlookup incident_review_lookup`` summarised per
   ``rule_id`` (the notable's ``event_id``) into the first time its status left the
   "untouched" statuses (unassigned, new) and the latest review time.

Each notable becomes a :class:`SiemAlert`: ``created_at`` = the notable's ``_time``,
``triaged_at`` = the first review that started the investigation or recorded a verdict.
A notable is triaged once an analyst records a disposition, at any status (DESIGN,
Changes 2026-12-02): a true positive still in progress is triaged. The disposition ES
gives every new notable (Undetermined, ``disposition_default``) is no verdict: such a
notable is ``untriaged`` until it is closed, and ``undetermined`` once closed.

A search result is only used when Splunk finished sending it: an export stream must end
with its final row (``"lastrow": true``), or the run fails and the previous data stays.
Search jobs are deleted once read, so runs leave nothing behind on the search head.

Runs are incremental after the first: notables created since the last run (minus an
overlap), plus the older notables whose review changed since then, fetched by
``event_id``. First and full runs reach back to ``ctx.window_start(lookback)``: the
previous quarter's start at least. Times Splunk writes without an offset are read in
``timezone`` (the Splunk user's zone), not UTC; epoch values are unambiguous and preferred.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, suppress
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, field_validator, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import (
    RETRYABLE_STATUSES,
    ApiClient,
    HttpSettings,
    decode_json,
    describe,
    parse_retry_after,
    status_error_kind,
)
from collectors.records import Disposition, RecordKind, Severity, SiemAlert
from collectors.records_detection import DetectionRule, RuleKind, normalize_technique
from collectors.settings import Duration, PositiveDuration, Secret, StrictModel, TimeZoneName

# untouched: nobody started on it; open: being worked; closed: the workflow ended there.
StatusClass = Literal["untouched", "open", "closed"]

# Defaults documented in docs/collectors/splunk.md; config entries override per key.
DEFAULT_DISPOSITIONS: dict[str, Disposition] = {
    "disposition:0": Disposition.UNDETERMINED,  # Unassigned (no disposition; only if closed)
    "disposition:1": Disposition.ACTIONABLE,  # True Positive - Suspicious Activity
    "disposition:2": Disposition.BENIGN,  # Benign Positive - Suspicious But Expected
    "disposition:3": Disposition.FALSE_POSITIVE,  # False Positive - Incorrect Analytic Logic
    "disposition:4": Disposition.FALSE_POSITIVE,  # False Positive - Inaccurate Data
    "disposition:5": Disposition.UNDETERMINED,  # Other (an analyst's choice: a verdict)
    "disposition:6": Disposition.UNDETERMINED,  # Undetermined (ES's default; only if closed)
}
# What ES writes on a notable nobody has given a verdict: never a verdict by itself. The
# `notable` macro also flags the configured default with ``disposition_default``.
UNSET_DISPOSITIONS = frozenset({"", "disposition:0", "disposition:6"})
DEFAULT_STATUSES: dict[str, StatusClass] = {
    "0": "untouched",  # Unassigned
    "1": "untouched",  # New
    "2": "open",  # In Progress
    "3": "open",  # Pending
    "4": "closed",  # Resolved
    "5": "closed",  # Closed
}
DEFAULT_URGENCIES: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "informational": Severity.LOW,
}
NOTABLE_FIELDS = ("event_id", "rule_name", "search_name", "status", "status_label",
                  "disposition", "disposition_label", "disposition_default", "urgency",
                  "notable_epoch", "_time")
_EVENT_ID = re.compile(r"^[A-Za-z0-9@._:\-]+$")


class SplunkSettings(StrictModel):
    base_url: str = Field(description="management port URL, e.g. https://es.example.com:8089")
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    app: str | None = Field(default=None, description="run searches in this app's namespace")
    owner: str = "nobody"
    api: Literal["v2", "v1"] = "v2"
    mode: Literal["export", "job"] = "export"
    search_budget: PositiveDuration = timedelta(minutes=5)
    poll_interval: PositiveDuration = timedelta(seconds=2)
    page_size: int = Field(default=10000, ge=1, le=50000)
    lookback: PositiveDuration | None = Field(
        default=None, description="widen first/full passes beyond the previous quarter")
    overlap: Duration = timedelta(minutes=10)
    full_sync_interval: PositiveDuration = timedelta(hours=24)
    search_filter: str = Field(default="", description="SPL appended to `notable`, for scope")
    timezone: TimeZoneName = "UTC"
    dispositions: dict[str, Disposition] = Field(default_factory=dict)
    statuses: dict[str, StatusClass] = Field(default_factory=dict)
    urgencies: dict[str, Severity] = Field(default_factory=dict)
    refetch_batch: int = Field(default=500, ge=1, le=5000)
    http: HttpSettings = Field(default_factory=HttpSettings)
    detection_rules: bool = Field(
        default=True, description="also list the ES correlation searches for ATT&CK coverage")
    rules_page_size: int = Field(default=500, ge=1, le=10000)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("statuses", mode="before")
    @classmethod
    def _status_alias(cls, value: Any) -> Any:
        """``triaged`` is the class's former name; configs written for it keep working."""
        if isinstance(value, dict):
            return {k: "closed" if v == "triaged" else v for k, v in value.items()}
        return value

    @field_validator("statuses")
    @classmethod
    def _status_keys(cls, value: dict[str, StatusClass]) -> dict[str, StatusClass]:
        for key in value:
            if not key.isdigit():
                raise ValueError(f"status keys are the numeric ES status ids, not {key!r}")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> SplunkSettings:
        basic = self.username is not None or self.password is not None
        if (self.token is None) == (not basic) or (basic and (self.username is None
                                                             or self.password is None)):
            raise ValueError("set either token, or username and password")
        return self

    def disposition_map(self) -> dict[str, Disposition]:
        return {**DEFAULT_DISPOSITIONS, **self.dispositions}

    def status_map(self) -> dict[str, StatusClass]:
        return {**DEFAULT_STATUSES, **self.statuses}

    def urgency_map(self) -> dict[str, Severity]:
        return {**DEFAULT_URGENCIES, **{k.lower(): v for k, v in self.urgencies.items()}}


def splunk_time(value: Any, zone: tzinfo) -> datetime | None:
    """Parse an epoch number, ISO-8601 with offset, or a naive time read in ``zone``.

    Anything that is no time, or one out of range, raises ``ValueError`` (never
    ``OverflowError`` or ``OSError``), which every caller handles.
    """
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _from_epoch(seconds)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"time out of range: {value!r}") from None


def _from_epoch(seconds: float) -> datetime:
    """Unix seconds as UTC; 1e20 overflows and -7e16 is an OSError: both a ValueError."""
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
    except (OverflowError, OSError):  # float() of a 400-digit integer overflows too
        raise ValueError(f"Unix time out of range: {seconds!r}") from None


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _spl_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SplunkCollector(Collector):
    """Splunk ES notable events via the REST search API (see module docstring)."""

    config_model: ClassVar[type[StrictModel]] = SplunkSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.SIEM_ALERT,
                                                        RecordKind.DETECTION_RULE})

    def __init__(self, name: str, settings: StrictModel, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, SplunkSettings)
        self.config: SplunkSettings = settings
        self._sleep = sleep
        self._clock = clock
        self._transport = transport
        self._zone = ZoneInfo(settings.timezone)
        self._unmapped_seen: set[tuple[str, str]] = set()
        self.stats_requests = 0

    # -- HTTP -------------------------------------------------------------------------

    def _auth(self) -> tuple[dict[str, str], httpx.Auth | None]:
        s = self.config
        if s.token is not None:
            return {"Authorization": f"Bearer {s.token.get_secret_value()}"}, None
        assert s.username is not None and s.password is not None
        return {}, httpx.BasicAuth(s.username, s.password.get_secret_value())

    def _prefix(self) -> str:
        s = self.config
        return f"/servicesNS/{s.owner}/{s.app}" if s.app else "/services"

    def _results_base(self) -> str:
        return f"{self._prefix()}/search/{'v2/' if self.config.api == 'v2' else ''}jobs"

    def _api_client(self) -> ApiClient:
        headers, auth = self._auth()
        return ApiClient(self.config.base_url, self.config.http, headers=headers, auth=auth,
                         sleep=self._sleep, transport=self._transport)

    # -- searches ---------------------------------------------------------------------

    async def _search(self, spl: str, earliest: datetime, latest: datetime
                      ) -> AsyncIterator[Any]:
        """The search's result rows: objects, save a job's bad row (the reader counts it)."""
        form = {"search": spl, "earliest_time": f"{earliest.timestamp():.0f}",
                "latest_time": f"{latest.timestamp():.0f}", "output_mode": "json"}
        inner = self._export(form) if self.config.mode == "export" else self._job(form)
        async with aclosing(inner) as rows:  # a consumer that stops early cancels the job
            async for row in rows:
                yield row

    async def _export(self, form: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Stream JSON lines from the export endpoint; closing the stream ends the search."""
        s = self.config
        headers, auth = self._auth()
        url = f"{self._results_base()}/export"
        budget = s.search_budget.total_seconds()
        deadline = self._clock() + budget
        async with httpx.AsyncClient(base_url=s.base_url, headers=headers, auth=auth,
                                     timeout=s.http.timeout.total_seconds(),
                                     verify=s.http.verify_tls,
                                     transport=self._transport) as client:
            attempt = 0
            while True:
                what = describe("POST", client.base_url.join(url))
                handed_on = 0  # rows yielded: past the first, a failure is never retried
                try:
                    async with client.stream("POST", url, data=form) as response:
                        self.stats_requests += 1
                        status = response.status_code
                        if status >= 400:
                            await response.aread()
                            if status in RETRYABLE_STATUSES and attempt < s.http.max_retries:
                                wait = parse_retry_after(response.headers.get("Retry-After"))
                                wait = wait if wait is not None else \
                                    s.http.backoff.total_seconds() * 2**attempt
                                if wait > s.http.max_retry_wait.total_seconds():
                                    raise CollectorError(ErrorKind.RATE_LIMITED,
                                                         f"{what}: asked to wait {wait:.0f}s")
                                await self._sleep(wait)
                                attempt += 1
                                continue
                            raise CollectorError(status_error_kind(status),
                                                 f"{what}: HTTP {status}")
                        complete = False
                        async for line in response.aiter_lines():
                            if self._clock() > deadline:
                                raise CollectorError(
                                    ErrorKind.TIMEOUT,
                                    f"{what}: export search ran past its {budget:.0f}s budget")
                            obj = self._export_line(line, what)
                            if obj is None or obj.get("preview") is True:
                                continue  # interim results of a transforming search
                            if "result" in obj:
                                row = obj["result"]
                                if not isinstance(row, dict):
                                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                                         f"{what}: result is not an object")
                                # Only the last row of the final set says "lastrow": a
                                # row after it reopens the stream until another one does.
                                complete = obj.get("lastrow") is True
                                handed_on += 1
                                yield row
                            elif obj.get("lastrow") is True:
                                complete = True  # the end line, all a zero-result export sends
                        if not complete:
                            raise CollectorError(
                                ErrorKind.MALFORMED_RESPONSE,
                                f"{what}: export stream ended without its final row "
                                f"(no \"lastrow\") after {handed_on} results")
                        return
                except httpx.TimeoutException:
                    if handed_on:
                        raise CollectorError(
                            ErrorKind.TIMEOUT,
                            f"{what}: export stream stalled after {handed_on} results") from None
                    kind, detail = ErrorKind.TIMEOUT, "timed out"
                except httpx.TransportError as exc:
                    if handed_on:
                        # Re-running the export would replay rows already handed on; the
                        # stream is simply incomplete.
                        raise CollectorError(
                            ErrorKind.MALFORMED_RESPONSE,
                            f"{what}: export stream cut after {handed_on} results "
                            f"({type(exc).__name__})") from None
                    kind, detail = ErrorKind.NETWORK, type(exc).__name__
                if attempt >= s.http.max_retries:
                    raise CollectorError(kind, f"{what}: {detail} after {attempt + 1} attempts")
                await self._sleep(s.http.backoff.total_seconds() * 2**attempt)
                attempt += 1

    @staticmethod
    def _export_line(line: str, what: str) -> dict[str, Any] | None:
        """One JSON object of the stream, or None for a blank line; failed searches raise."""
        line = line.strip()
        if not line:
            return None
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # as in http.decode_json: the digit limit too
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"{what}: export stream line is not JSON") from None
        if not isinstance(obj, dict):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: unexpected line")
        fatal = [m for m in obj.get("messages", []) or []
                 if isinstance(m, dict) and m.get("type") in ("FATAL", "ERROR")]
        if fatal:
            text = "; ".join(str(m.get("text", ""))[:200] for m in fatal)
            raise CollectorError(ErrorKind.CLIENT, f"{what}: search failed: {text}")
        return obj

    async def _job(self, form: dict[str, str]) -> AsyncIterator[Any]:
        """Create a search job, poll it within the budget (cancel past it), page results.

        The job is deleted afterwards, read or not: left alone it would keep its results
        on the search head for its TTL and count against the user's disk quota.
        """
        s = self.config
        jobs = f"{self._prefix()}/search/jobs"
        async with self._api_client() as client:
            created = decode_json(await client.request("POST", jobs, data=form))
            sid = created.get("sid") if isinstance(created, dict) else None
            if not isinstance(sid, str) or not sid:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     "search job creation returned no sid")
            done = False
            try:
                count = await self._wait_for_job(client, jobs, sid)
                offset = 0
                while offset < count:
                    body = decode_json(await client.request(
                        "GET", f"{self._results_base()}/{sid}/results",
                        params={"output_mode": "json", "count": s.page_size,
                                "offset": offset}))
                    results = body.get("results") if isinstance(body, dict) else None
                    if not isinstance(results, list):
                        raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                             "search results have no 'results' array")
                    if not results:
                        raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                             f"search results ended at {offset} of {count}")
                    for row in results:
                        # Every row, objects or not: the reader counts a bad one as a
                        # skipped record (dropping it here would lose it uncounted).
                        yield row
                    offset += len(results)
                done = True
            finally:
                if not done:
                    await self._cancel(client, jobs, sid)
                await self._delete(client, jobs, sid)

    async def _wait_for_job(self, client: ApiClient, jobs: str, sid: str) -> int:
        s = self.config
        budget = s.search_budget.total_seconds()
        deadline = self._clock() + budget
        while True:
            body = decode_json(await client.request("GET", f"{jobs}/{sid}",
                                                   params={"output_mode": "json"}))
            try:
                content = body["entry"][0]["content"]
                state = str(content.get("dispatchState", ""))
            except (KeyError, IndexError, TypeError, AttributeError):  # content no object
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     "search job status has no entry content") from None
            if content.get("isFailed") or state == "FAILED":
                messages = content.get("messages")
                text = "; ".join(str(m.get("text", ""))[:200]
                                 for m in (messages if isinstance(messages, list) else [])
                                 if isinstance(m, dict))
                raise CollectorError(ErrorKind.CLIENT, f"search job failed: {text}")
            if content.get("isDone") or state == "DONE":
                try:
                    return int(content.get("resultCount", 0))
                except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         "search job resultCount is not a number") from None
            if self._clock() >= deadline:
                raise CollectorError(ErrorKind.TIMEOUT,
                                     f"search job still {state or 'running'} after its "
                                     f"{budget:.0f}s budget; cancelled")
            await self._sleep(s.poll_interval.total_seconds())

    async def _cancel(self, client: ApiClient, jobs: str, sid: str) -> None:
        """Best effort: a failed cancel must not hide the error that caused it."""
        with suppress(CollectorError):
            await client.request("POST", f"{jobs}/{sid}/control", data={"action": "cancel"},
                                 accept=frozenset({404}))

    async def _delete(self, client: ApiClient, jobs: str, sid: str) -> None:
        """Best effort: a job that cannot be deleted expires with its TTL; never fatal."""
        with suppress(CollectorError):
            await client.request("DELETE", f"{jobs}/{sid}", params={"output_mode": "json"},
                                 accept=frozenset({404}))

    # -- the run ----------------------------------------------------------------------

    def notable_spl(self, event_ids: list[str] | None = None) -> str:
        spl = "search `notable`"
        if self.config.search_filter.strip():
            spl += " | search " + self.config.search_filter.strip()
        if event_ids:
            spl += " | search event_id IN (" + ", ".join(_spl_quote(i) for i in event_ids) + ")"
        return spl + " | eval notable_epoch=_time | fields " + ", ".join(NOTABLE_FIELDS)

    def review_spl(self, since: datetime) -> str:
        """Per notable: the first review that started work or recorded a verdict, the last.

        A review row counts when its status left the untouched ones or its disposition is
        not an unset one; a lookup without a ``disposition`` field falls back to status.
        """
        untouched = [k for k, v in self.config.status_map().items() if v == "untouched"]
        quoted = ", ".join(_spl_quote(k) for k in untouched) or '""'
        unset = ", ".join(_spl_quote(d) for d in sorted(UNSET_DISPOSITIONS))
        return ("| inputlookup incident_review_lookup"
                " | eval review_epoch=tonumber(time)"
                f" | where review_epoch>={since.timestamp():.0f}"
                f" | eval changed=if(in(tostring(status), {quoted}) AND (isnull(disposition)"
                f" OR in(tostring(disposition), {unset})), null(), review_epoch)"
                " | stats min(changed) as first_status_change, max(review_epoch) as last_review"
                " by rule_id")

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        s = self.config
        result = CollectionResult()
        try:
            window_start = ctx.window_start(s.lookback)
        except ValueError:
            raise CollectorError(ErrorKind.CONFIG, "no lookback set and no history start "
                                 "given: the collection window is unknown") from None
        watermark = _state_time(ctx.state.get("watermark"))
        last_full = _state_time(ctx.state.get("last_full_sync"))
        full = (watermark is None or last_full is None or watermark < window_start
                or ctx.now - last_full >= s.full_sync_interval)
        since = window_start if full else max(window_start, watermark - s.overlap)

        reviews: dict[str, tuple[datetime | None, datetime | None]] = {}
        async with aclosing(self._search(self.review_spl(window_start), window_start,
                                         ctx.now)) as review_rows:
            async for row in review_rows:
                self._add_review(row, reviews)

        seen: set[str] = set()
        position = 0
        async with aclosing(self._search(self.notable_spl(), since, ctx.now)) as rows:
            async for row in rows:
                self._convert(ctx, row, position, reviews, result, seen)
                position += 1
        if not full:
            # Older notables reviewed since the last run: fetch them again by event_id.
            stale = sorted(rid for rid, (_, last) in reviews.items()
                           if last is not None and last >= since and rid not in seen
                           and _EVENT_ID.match(rid))
            for i in range(0, len(stale), s.refetch_batch):
                batch = stale[i:i + s.refetch_batch]
                async with aclosing(self._search(self.notable_spl(batch), window_start,
                                                 ctx.now)) as rows:
                    async for row in rows:
                        self._convert(ctx, row, position, reviews, result, seen)
                        position += 1

        if s.detection_rules:
            # The listing is whole every run: it replaces the stored set.
            rules = await self._correlation_searches(ctx.name, result.record_errors)
            result.records_of(RecordKind.DETECTION_RULE).extend(rules)
            result.complete = result.complete | {RecordKind.DETECTION_RULE}
            ctx.logger.info("%s: %d correlation searches", ctx.name, len(rules))

        state = dict(ctx.state)
        state["watermark"] = ctx.now.isoformat()
        if full:
            state["last_full_sync"] = ctx.now.isoformat()
        result.state = state
        ctx.logger.info("%s: %d notables (%s pass since %s), %d reviewed", ctx.name,
                        len(result.siem_alerts), "full" if full else "incremental",
                        since.isoformat(), len(reviews))
        return result

    async def _correlation_searches(self, source: str, errors: Counter[ErrorKind]
                                    ) -> list[DetectionRule]:
        """ES correlation searches from ``saved/searches``, paged by ``count``/``offset``.

        All apps and owners (``/servicesNS/-/-``): correlation searches live in the ES
        apps. The REST ``search`` filter asks for correlation searches only; each entry
        is checked again, since the filter is a substring match.
        """
        path = "/servicesNS/-/-/saved/searches"
        size = self.config.rules_page_size
        rules: dict[str, DetectionRule] = {}
        offset = 0
        async with self._api_client() as client:
            while True:
                body, _ = await client.get_json(path, params={
                    "output_mode": "json", "count": size, "offset": offset,
                    "search": "action.correlationsearch.enabled=1"})
                entries = body.get("entry") if isinstance(body, dict) else None
                paging = body.get("paging") if isinstance(body, dict) else None
                total = paging.get("total") if isinstance(paging, dict) else None
                if not isinstance(entries, list) or not isinstance(total, int):
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"GET {path}: no entry array or paging.total")
                for entry in entries:
                    rule = map_correlation_search(entry, source, errors)
                    if rule is not None:
                        rules[rule.id] = rule
                offset += len(entries)
                if not entries or offset >= total:
                    break
        return list(rules.values())

    def _add_review(self, row: Any,
                    reviews: dict[str, tuple[datetime | None, datetime | None]]) -> None:
        if not isinstance(row, dict):
            return  # like a bad review time: only that alert's review is lost
        rule_id = _first(row.get("rule_id"))
        if not rule_id:
            return
        try:
            reviews[str(rule_id)] = (splunk_time(row.get("first_status_change"), self._zone),
                                     splunk_time(row.get("last_review"), self._zone))
        except ValueError:
            return  # the review time is optional; the alert itself is still usable

    def _unmapped(self, ctx: CollectContext, errors: Counter[ErrorKind], field: str,
                  value: str, where: str) -> None:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        if (field, value) not in self._unmapped_seen:
            self._unmapped_seen.add((field, value))
            ctx.logger.warning("%s: unknown %s %r (first seen on %s); record skipped, add it "
                               "to the mapping in the config", ctx.name, field, value, where)

    def _convert(self, ctx: CollectContext, row: Any, position: int,
                 reviews: dict[str, tuple[datetime | None, datetime | None]],
                 result: CollectionResult, seen: set[str]) -> None:
        s = self.config
        if not isinstance(row, dict):  # a job's results row that is no object
            result.record_errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("%s: skipped notable row %d: not an object", ctx.name, position)
            return
        event_id = _first(row.get("event_id"))
        where = f"notable {event_id}" if event_id else f"notable row {position}"
        try:
            if not event_id:
                raise ValueError("no event_id")
            event_id = str(event_id)
            if event_id in seen:
                return
            created = (splunk_time(row.get("notable_epoch"), self._zone)
                       or splunk_time(row.get("_time"), self._zone))
            if created is None:
                raise ValueError("no _time")
        except ValueError as exc:
            result.record_errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("%s: skipped %s: %s", ctx.name, where, exc)
            return
        seen.add(event_id)

        status = str(_first(row.get("status")) or "")
        status_class = s.status_map().get(status)
        if status_class is None:
            label = _first(row.get("status_label")) or status
            self._unmapped(ctx, result.record_errors, "status", f"{status} ({label})", where)
            return
        urgency = str(_first(row.get("urgency")) or "").lower()
        severity = s.urgency_map().get(urgency) if urgency else None
        if urgency and severity is None:
            self._unmapped(ctx, result.record_errors, "urgency", urgency, where)
            return
        raw = str(_first(row.get("disposition")) or "").strip()
        mapped = s.disposition_map().get(raw) if raw else Disposition.UNDETERMINED
        if mapped is None:
            label = _first(row.get("disposition_label")) or raw
            self._unmapped(ctx, result.record_errors, "disposition", f"{raw} ({label})", where)
            return
        unset = raw in UNSET_DISPOSITIONS or \
            str(_first(row.get("disposition_default")) or "").lower() in ("true", "1")
        # A recorded disposition is a verdict at any status; ES's default is none until
        # the notable is closed with it, which is then a verdict of "undetermined".
        disposition = Disposition.UNTRIAGED if unset and status_class != "closed" else mapped
        first_change = reviews.get(event_id, (None, None))[0]
        triaged = first_change if first_change is not None and first_change >= created \
            else None
        rule = _first(row.get("rule_name")) or _first(row.get("search_name"))
        try:
            result.siem_alerts.append(SiemAlert(
                id=event_id, source=ctx.name, created_at=created, disposition=disposition,
                triaged_at=triaged, rule=str(rule) if rule else None, severity=severity))
        except ValueError as exc:
            result.record_errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("%s: skipped %s: %s", ctx.name, where, exc)

    async def check(self, ctx: CollectContext) -> list[str]:
        """Run a tiny search to prove the credentials and the `notable` macro work."""
        try:
            async with aclosing(self._search(self.notable_spl() + " | head 1",
                                             ctx.now - timedelta(days=1), ctx.now)) as rows:
                async for _ in rows:
                    break
        except CollectorError as exc:
            return [f"{exc.kind.value}: {exc}"]
        return []


_TRUE = frozenset({"1", "true", "True", True})  # True == 1: the integer 1 is in too
_FALSE = frozenset({"0", "false", "False", False})


def map_correlation_search(entry: Any, source: str,
                           errors: Counter[ErrorKind]) -> DetectionRule | None:
    """One ``saved/searches`` entry as a :class:`DetectionRule`, or None.

    ``content.disabled`` says whether it runs; ``action.correlationsearch.annotations``
    is a JSON string whose ``mitre_attack`` list holds the ATT&CK ids (ES's annotation
    framework). An entry that is no correlation search is left out silently; one whose
    flags or annotations cannot be read is counted as malformed_record.
    """
    content = entry.get("content") if isinstance(entry, dict) else None
    if not isinstance(content, dict) or not isinstance(entry.get("id"), str):
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    flag = content.get("action.correlationsearch.enabled")
    disabled = content.get("disabled")
    if not isinstance(flag, str | bool | int | None) or not isinstance(disabled, str | bool | int):
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    if flag is None or flag in _FALSE:
        return None  # a plain saved search
    if flag not in _TRUE or (disabled not in _TRUE and disabled not in _FALSE):
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    techniques: set[str] = set()
    raw = content.get("action.correlationsearch.annotations")
    if raw:
        try:
            annotations = json.loads(raw) if isinstance(raw, str) else raw
        except (ValueError, RecursionError):  # the digit limit is a bare ValueError
            annotations = None
        mitre = annotations.get("mitre_attack", []) if isinstance(annotations, dict) else None
        if not isinstance(mitre, list):
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        for value in mitre:
            normal = normalize_technique(value) if isinstance(value, str) else None
            if normal is None:
                errors[ErrorKind.UNMAPPED_VALUE] += 1
            else:
                techniques.add(normal)
    return DetectionRule(id=entry["id"], source=source, enabled=disabled in _FALSE,
                         kind=RuleKind.CORRELATION, techniques=tuple(sorted(techniques)))


def _state_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
