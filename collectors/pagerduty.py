"""The ``pagerduty`` collector: PagerDuty incidents as Incident records (MTTC, and
detection times for teams that run incidents in PagerDuty rather than Jira).

Two sources, chosen by ``api``:

* ``incidents`` (default): REST API v2 ``GET /incidents`` with ``since``/``until``
  windows and classic ``offset``/``limit`` pagination. Classic pagination stops at
  10,000 results per query, so a window whose ``total`` is above that is split in two,
  recursively, before it is paged. Resolve entries of the account's overview log
  (``GET /log_entries``, same windows) reveal incidents created *before* the window but
  resolved inside it; those are fetched one by one (``GET /incidents/{id}``) so their
  containment still counts.
* ``analytics``: ``POST /analytics/raw/incidents`` with cursor pagination. PagerDuty
  updates analytics data with a delay of up to 24 hours.

Containment is never the first acknowledgement (DESIGN, Changes 2026-12-02): an
acknowledgement says someone is looking, not that the threat is contained, and PagerDuty
records no containment time of its own. ``containment`` is the operator's choice: the
resolution time (default, an upper bound), none, or a datetime incident custom field
the responders or an incident workflow set (``GET /incidents/{id}/custom_fields/values``).
The same custom fields can carry a verdict (``classification_field``): incidents
classified false positive or benign are not security incidents and yield no record, and
a verdict the map does not know is skipped and counted as ``unmapped_value``, like an
unknown status.

Every request sends ``time_zone=UTC``; a timestamp that still comes back without an
offset is read in that zone, as PagerDuty documents times to be rendered in the
requested zone (the account's zone when none is given). Each run is a full pass of the
window, which starts at ``ctx.window_start`` (the previous quarter's start less a
margin, or an older configured ``lookback``), so the result is the complete set and
never drops an incident a published quarter reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
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
from collectors.http import ApiClient, HttpSettings, parse_retry_after
from collectors.records import Disposition, Incident, RecordKind, Severity
from collectors.settings import PositiveDuration, Secret, StrictModel, TimeZoneName

CLASSIC_PAGINATION_CAP = 10_000  # PagerDuty returns no results past offset 10,000
MAX_RANGE = timedelta(days=180)  # since/until may span at most 6 months
_STATUSES = frozenset({"triggered", "acknowledged", "resolved"})

DEFAULT_PRIORITY_MAP: dict[str, Severity] = {
    "P1": Severity.CRITICAL,
    "P2": Severity.HIGH,
    "P3": Severity.MEDIUM,
    "P4": Severity.LOW,
    "P5": Severity.LOW,
}
DEFAULT_URGENCY_MAP: dict[str, Severity] = {"high": Severity.HIGH, "low": Severity.LOW}
# Option values of a classification custom field; PagerDuty has none built in, so these
# are the names we suggest in the docs. Accounts with other names set classification_map.
DEFAULT_CLASSIFICATION_MAP: dict[str, Disposition] = {
    "true_positive": Disposition.ACTIONABLE,
    "false_positive": Disposition.FALSE_POSITIVE,
    "benign_positive": Disposition.BENIGN,
    "benign": Disposition.BENIGN,
    "undetermined": Disposition.UNDETERMINED,
}
# Not security incidents: left out of MTTD, MTTC and incident counts (DESIGN 2026-12-02).
EXCLUDED_DISPOSITIONS = frozenset({Disposition.FALSE_POSITIVE, Disposition.BENIGN})


class PagerDutySettings(StrictModel):
    """Config of one ``type: pagerduty`` collector; every field is in the docs."""

    url: str = Field(default="https://api.pagerduty.com",
                     description="https://api.eu.pagerduty.com for EU service regions")
    token: Secret
    api: Literal["incidents", "analytics"] = "incidents"
    lookback: PositiveDuration | None = Field(
        default=None, description="widen the window past the previous quarter's start")
    window: PositiveDuration = Field(default=timedelta(days=30),
                                     description="initial since/until window; split on the cap")
    service_ids: list[str] = Field(default_factory=list)
    team_ids: list[str] = Field(default_factory=list)
    urgencies: list[Literal["high", "low"]] = Field(default_factory=list)
    containment: Literal["resolved", "none", "custom_field"] = "resolved"
    containment_field: str | None = Field(
        default=None, description="datetime incident custom field (containment: custom_field)")
    contained_falls_back_to_resolved: bool = Field(
        default=True, description="custom_field unset: use the resolution time (upper bound)")
    classification_field: str | None = Field(
        default=None, description="incident custom field holding the verdict")
    classification_map: dict[str, Disposition] = Field(
        default_factory=lambda: dict(DEFAULT_CLASSIFICATION_MAP))
    include_resolved_in_window: bool = Field(
        default=True, description="also fetch incidents created earlier but resolved inside"
    )
    priority_map: dict[str, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITY_MAP))
    urgency_map: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_URGENCY_MAP))
    time_zone: TimeZoneName = Field(
        default="UTC", description="sent as time_zone; naive times read in it")
    page_limit: int = Field(default=100, ge=1, le=100)
    analytics_page_limit: int = Field(default=1000, ge=1, le=1000)
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("window")
    @classmethod
    def _window_fits(cls, value: timedelta) -> timedelta:
        if value > MAX_RANGE:
            raise ValueError("window may be at most 180d (PagerDuty's since/until limit)")
        return value

    @field_validator("containment", mode="before")
    @classmethod
    def _not_acknowledgement(cls, value: Any) -> Any:
        if value == "first_acknowledgement":
            raise ValueError(
                "first_acknowledgement is no longer accepted: an acknowledgement is not "
                "containment; use resolved (an upper bound), none or custom_field"
            )
        return value

    @model_validator(mode="after")
    def _fields_fit_containment(self) -> PagerDutySettings:
        if self.containment == "custom_field" and not self.containment_field:
            raise ValueError("containment: custom_field needs containment_field")
        if self.containment != "custom_field" and self.containment_field is not None:
            raise ValueError("containment_field is read only with containment: custom_field")
        return self

    @property
    def custom_fields(self) -> tuple[str, ...]:
        """Custom field names the run reads; empty: no per-incident field request."""
        names = [self.classification_field,
                 self.containment_field if self.containment == "custom_field" else None]
        return tuple(name for name in names if name)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any, zone: tzinfo) -> datetime | None:
    """PagerDuty timestamps; one without an offset is in the requested ``time_zone``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a timestamp string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00: ValueError, as callers expect
        raise ValueError(f"timestamp {value!r} is out of range in UTC") from None


def rate_limit_wait(response: httpx.Response) -> float | None:
    """PagerDuty's 429s carry ``ratelimit-reset`` (seconds) on newer endpoints."""
    if response.status_code != 429:
        return None
    reset = parse_retry_after(response.headers.get("ratelimit-reset"))
    if reset is None:
        return parse_retry_after(response.headers.get("Retry-After"))
    return reset


class SkipRecord(ValueError):
    """This incident cannot be turned into a record; ``kind`` says why."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.MALFORMED_RECORD) -> None:
        super().__init__(message)
        self.kind = kind


def _field_value(value: Any) -> Any:
    """A custom field value: PagerDuty's examples send it bare, its schema wrapped."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, list):
        return value[0] if len(value) == 1 else (value or None)
    return value


@dataclass
class IncidentMapper:
    settings: PagerDutySettings
    source: str
    logger: logging.Logger
    zone: tzinfo
    errors: Counter[ErrorKind] = field(default_factory=Counter)
    _logged: set[tuple[str, str]] = field(default_factory=set)

    def unmapped(self, what: str, value: str, incident_id: str) -> None:
        self.errors[ErrorKind.UNMAPPED_VALUE] += 1
        if (what, value) not in self._logged:
            self._logged.add((what, value))
            self.logger.warning("incident %s: unknown %s %r (logged once per value)",
                                incident_id, what, value)

    def severity(self, incident_id: str, priority: Any, urgency: Any) -> Severity | None:
        """Priority name first (P1..P5 by default), urgency when unset or unmapped.

        A priority name that is no text (an object, a list) is a bad value of this
        incident: :class:`SkipRecord`, never a lookup that raises TypeError.
        """
        if not isinstance(priority, str | None):
            raise SkipRecord(f"incident {incident_id}: priority name is not text")
        if priority and priority in self.settings.priority_map:
            return self.settings.priority_map[priority]
        if isinstance(urgency, str) and urgency:
            mapped = self.settings.urgency_map.get(urgency)
            if mapped is None:
                self.unmapped("urgency", urgency, incident_id)
            return mapped
        return None

    def excluded(self, incident_id: str, fields: Mapping[str, Any]) -> bool:
        """Whether the incident's verdict says it is no security incident.

        An unset verdict keeps the incident (not classified yet); a value the map does
        not know is never guessed: the incident is skipped as ``unmapped_value``.
        """
        name = self.settings.classification_field
        if not name:
            return False
        value = _field_value(fields.get(name))
        if value is None or value == "":
            return False
        if isinstance(value, bool):  # a boolean field such as false_alarm: map "true"
            value = "true" if value else "false"
        disposition = self.settings.classification_map.get(value) if isinstance(
            value, str) else None
        if disposition is None:
            self.unmapped("classification", str(value), incident_id)
            raise SkipRecord(f"incident {incident_id}: classification {value!r}",
                             ErrorKind.UNMAPPED_VALUE)
        return disposition in EXCLUDED_DISPOSITIONS

    def build(self, incident_id: str, created: Any, resolved: Any, status: Any,
              severity: Severity | None, fields: Mapping[str, Any]) -> Incident | None:
        """The record, or ``None`` for an incident classified false positive or benign."""
        try:
            detected = _parse_time(created, self.zone)
            resolved_at = _parse_time(resolved, self.zone)
        except (ValueError, TypeError) as exc:
            raise SkipRecord(f"incident {incident_id}: {exc}") from None
        if detected is None:
            raise SkipRecord(f"incident {incident_id}: no created_at")
        if not isinstance(status, str | None):  # a list would reach `in _STATUSES`
            raise SkipRecord(f"incident {incident_id}: status is not text")
        if isinstance(status, str) and status not in _STATUSES:
            # PagerDuty warns more statuses may come; we cannot tell whether one means
            # resolved, so the incident is skipped rather than guessed.
            self.unmapped("status", status, incident_id)
            raise SkipRecord(f"incident {incident_id}: status {status!r}",
                             ErrorKind.UNMAPPED_VALUE)
        if status != "resolved" and status in _STATUSES:
            resolved_at = None  # re-triggered incidents keep a stale resolved_at
        if self.excluded(incident_id, fields):
            return None
        contained: datetime | None = None
        if self.settings.containment == "resolved":
            contained = resolved_at
        elif self.settings.containment == "custom_field":
            assert self.settings.containment_field is not None
            value = _field_value(fields.get(self.settings.containment_field))
            try:
                contained = _parse_time(value, self.zone)
            except (ValueError, TypeError) as exc:
                raise SkipRecord(f"incident {incident_id}: containment field: {exc}") from None
            if contained is None and self.settings.contained_falls_back_to_resolved:
                contained = resolved_at  # contained no later than it was resolved
        try:
            return Incident(id=incident_id, source=self.source, detected_at=detected,
                            severity=severity, contained_at=contained, resolved_at=resolved_at)
        except ValueError as exc:
            raise SkipRecord(f"incident {incident_id}: {exc}") from None


def _page(body: Any, key: str, what: str) -> tuple[list[Any], bool, int | None]:
    """A listing's items (all of them, objects or not: offsets count what the server
    sent, and the reader counts an item that is no object as a skipped record), its
    ``more`` and its ``total``."""
    if not isinstance(body, Mapping) or not isinstance(body.get(key), list):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: no {key} array")
    more = body.get("more")
    if not isinstance(more, bool):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: no boolean 'more'")
    total = body.get("total")
    total = total if isinstance(total, int) and not isinstance(total, bool) else None
    return body[key], more, total


class PagerDutyCollector(Collector):
    """PagerDuty incidents; see the module docstring."""

    config_model: ClassVar[type[StrictModel]] = PagerDutySettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.INCIDENT})
    settings: PagerDutySettings

    def __init__(self, name: str, settings: StrictModel, **client_options: Any) -> None:
        super().__init__(name, settings)
        self._client_options = client_options

    def _client(self) -> ApiClient:
        headers = {
            "Authorization": f"Token token={self.settings.token.get_secret_value()}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
        return ApiClient(self.settings.url.rstrip("/"), self.settings.http, headers=headers,
                         rate_limit_hook=rate_limit_wait, **self._client_options)

    def _windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        out, cursor = [], start
        while cursor < end:
            nxt = min(cursor + self.settings.window, end)
            out.append((cursor, nxt))
            cursor = nxt
        return out

    # -- classic offset pagination with window splitting ---------------------------

    async def _offset_pages(self, client: ApiClient, path: str, key: str,
                            params: dict[str, Any], start: datetime, end: datetime
                            ) -> AsyncIterator[Any]:
        """Every item of ``path`` in [start, end), splitting windows past the cap."""
        stack = [(start, end)]
        limit = self.settings.page_limit
        while stack:
            lo, hi = stack.pop()
            offset = 0
            pending: list[Any] = []
            split = False
            while True:
                query = dict(params, since=_iso(lo), until=_iso(hi), limit=limit,
                             offset=offset, time_zone=self.settings.time_zone)
                if offset == 0:
                    query["total"] = "true"
                body, _ = await client.get_json(path, params=query)
                items, more, total = _page(body, key, f"GET {path}")
                if offset == 0 and total is not None and total > CLASSIC_PAGINATION_CAP:
                    split = True
                    break
                pending.extend(items)
                offset += len(items)
                if not more:
                    break
                if not items:
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"GET {path}: more=true on an empty page")
                if offset + limit > CLASSIC_PAGINATION_CAP:
                    split = True  # total unknown, but the cap is reached: split
                    break
            if split:
                if hi - lo <= timedelta(seconds=1):
                    raise CollectorError(
                        ErrorKind.CLIENT,
                        f"GET {path}: more than {CLASSIC_PAGINATION_CAP} results in one second",
                    )
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0) if mid.replace(microsecond=0) > lo else mid
                stack.extend([(mid, hi), (lo, mid)])
                continue
            for item in pending:
                yield item

    def _incident_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.settings.service_ids:
            params["service_ids[]"] = list(self.settings.service_ids)
        if self.settings.team_ids:
            params["team_ids[]"] = list(self.settings.team_ids)
        if self.settings.urgencies:
            params["urgencies[]"] = list(self.settings.urgencies)
        return params

    def _in_scope(self, incident: Mapping[str, Any]) -> bool:
        """Client-side scope check for incidents fetched by id."""
        s = self.settings
        if s.urgencies and incident.get("urgency") not in s.urgencies:
            return False
        service = incident.get("service")
        if s.service_ids and not (isinstance(service, Mapping)
                                  and service.get("id") in s.service_ids):
            return False
        if s.team_ids:
            teams = incident.get("teams")
            ids = {t.get("id") for t in teams if isinstance(t, Mapping)} if isinstance(
                teams, list) else set()
            if not ids & set(s.team_ids):
                return False
        return True

    async def _from_incidents(self, client: ApiClient, ctx: CollectContext,
                              mapper: IncidentMapper) -> dict[str, Incident]:
        now = ctx.now.astimezone(UTC).replace(microsecond=0)
        start = self._window_start(ctx)
        raw: dict[str, Mapping[str, Any]] = {}
        resolved_ids: dict[str, datetime] = {}
        for lo, hi in self._windows(start, now):
            pages = self._offset_pages(client, "/incidents", "incidents",
                                       self._incident_params(), lo, hi)
            async with aclosing(pages) as items:
                async for item in items:
                    if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                        raw[item["id"]] = item
                    else:
                        mapper.errors[ErrorKind.MALFORMED_RECORD] += 1
                        ctx.logger.warning("skipping an incident without id in %s..%s",
                                           _iso(lo), _iso(hi))
            if not self.settings.include_resolved_in_window:
                continue
            params: dict[str, Any] = {"is_overview": "true"}
            if self.settings.team_ids:
                params["team_ids[]"] = list(self.settings.team_ids)
            entries = self._offset_pages(client, "/log_entries", "log_entries", params, lo, hi)
            async with aclosing(entries) as log:
                async for entry in log:
                    self._note_entry(entry, mapper, resolved_ids)
        # Incidents resolved inside the window but created before it.
        if self.settings.include_resolved_in_window:
            for incident_id in sorted(set(resolved_ids) - set(raw)):
                body, _ = await client.get_json(f"/incidents/{incident_id}",
                                                params={"time_zone": self.settings.time_zone})
                item = body.get("incident") if isinstance(body, Mapping) else None
                if not isinstance(item, Mapping):
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         "GET /incidents/{id}: no incident object")
                if self._in_scope(item):
                    raw[incident_id] = item
        fields = await self._custom_fields(client, ctx, list(raw))
        out: dict[str, Incident] = {}
        for position, (incident_id, item) in enumerate(raw.items(), 1):
            priority = item.get("priority")
            priority_name = None
            if isinstance(priority, Mapping):
                priority_name = priority.get("summary") or priority.get("name")
            resolved = item.get("resolved_at")
            if resolved is None and item.get("status") == "resolved":
                resolved = resolved_ids.get(incident_id)
                resolved = _iso(resolved) if resolved else item.get("last_status_change_at")
            try:
                severity = mapper.severity(incident_id, priority_name, item.get("urgency"))
                record = mapper.build(incident_id, item.get("created_at"), resolved,
                                      item.get("status"), severity, fields.get(incident_id, {}))
            except SkipRecord as exc:
                self._skipped(ctx, mapper, exc, f"incident #{position}")
                continue
            if record is not None:
                out[incident_id] = record
        return out

    def _window_start(self, ctx: CollectContext) -> datetime:
        """The previous quarter's start less the margin, or an older configured lookback.

        Every run returns the complete set, so a window starting later would delete
        incidents a published quarter still reads.
        """
        return ctx.window_start(self.settings.lookback).astimezone(UTC).replace(microsecond=0)

    @staticmethod
    def _skipped(ctx: CollectContext, mapper: IncidentMapper, exc: SkipRecord,
                 where: str) -> None:
        """Count a skipped incident; unmapped values were counted and logged once already."""
        if exc.kind is ErrorKind.UNMAPPED_VALUE:
            return
        mapper.errors[exc.kind] += 1
        ctx.logger.warning("skipping %s: %s", where, exc)

    def _note_entry(self, entry: Any, mapper: IncidentMapper,
                    resolved_ids: dict[str, datetime]) -> None:
        if not isinstance(entry, Mapping):
            mapper.errors[ErrorKind.MALFORMED_RECORD] += 1
            mapper.logger.warning("skipping a log entry that is not an object")
            return
        if entry.get("type") != "resolve_log_entry":
            return
        incident = entry.get("incident")
        incident_id = incident.get("id") if isinstance(incident, Mapping) else None
        try:
            at = _parse_time(entry.get("created_at"), mapper.zone)
        except (ValueError, TypeError):
            at = None
        if not isinstance(incident_id, str) or at is None:
            mapper.errors[ErrorKind.MALFORMED_RECORD] += 1
            mapper.logger.warning("skipping log entry %s: no incident or time", entry.get("id"))
            return
        service = entry.get("service")
        if self.settings.service_ids and isinstance(service, Mapping) and (
                service.get("id") not in self.settings.service_ids):
            return  # another service's incident: do not fetch it
        if incident_id not in resolved_ids or at > resolved_ids[incident_id]:
            resolved_ids[incident_id] = at

    # -- custom fields ------------------------------------------------------------

    async def _custom_fields(self, client: ApiClient, ctx: CollectContext,
                             incident_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Custom field values by incident, when the config reads any (one GET each).

        PagerDuty's incident listings carry no custom fields, so each incident costs a
        request; the client's ``http.concurrency`` bounds how many run at once.
        """
        wanted = self.settings.custom_fields
        if not wanted or not incident_ids:
            return {}

        async def one(incident_id: str) -> dict[str, Any]:
            path = "GET /incidents/{id}/custom_fields/values"
            body, _ = await client.get_json(f"/incidents/{incident_id}/custom_fields/values")
            values = body.get("custom_fields") if isinstance(body, Mapping) else None
            if not isinstance(values, list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{path}: no custom_fields")
            return {v["name"]: v.get("value") for v in values
                    if isinstance(v, Mapping) and v.get("name") in wanted}

        tasks = [asyncio.ensure_future(one(incident_id)) for incident_id in incident_ids]
        try:
            found = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        by_id = dict(zip(incident_ids, found, strict=True))
        seen = {name for values in found for name in values}
        for name in wanted:
            if name not in seen:
                ctx.logger.warning(
                    "custom field %r is on none of %d incidents: check the name "
                    "(the field's name, not its display name)", name, len(incident_ids))
        return by_id

    # -- analytics ----------------------------------------------------------------

    async def _from_analytics(self, client: ApiClient, ctx: CollectContext,
                              mapper: IncidentMapper) -> dict[str, Incident]:
        now = ctx.now.astimezone(UTC).replace(microsecond=0)
        filters: dict[str, Any] = {
            "created_at_start": _iso(self._window_start(ctx)),
            "created_at_end": _iso(now),
        }
        if self.settings.service_ids:
            filters["service_ids"] = list(self.settings.service_ids)
        if self.settings.team_ids:
            filters["team_ids"] = list(self.settings.team_ids)
        if len(self.settings.urgencies) == 1:
            filters["urgency"] = self.settings.urgencies[0]
        rows: dict[str, Mapping[str, Any]] = {}
        cursor: str | None = None
        position = 0
        while True:
            body: dict[str, Any] = {
                "filters": filters, "limit": self.settings.analytics_page_limit,
                "order": "asc", "order_by": "created_at",
                "time_zone": "Etc/UTC" if self.settings.time_zone == "UTC"
                else self.settings.time_zone,
            }
            if cursor is not None:
                body["starting_after"] = cursor
            page, _ = await client.post_json("/analytics/raw/incidents", body)
            data, more, _ = _page(page, "data", "POST /analytics/raw/incidents")
            for row in data:
                position += 1
                incident_id = row.get("id") if isinstance(row, Mapping) else None
                if not isinstance(incident_id, str) or not incident_id:
                    mapper.errors[ErrorKind.MALFORMED_RECORD] += 1
                    ctx.logger.warning("skipping analytics row #%d: row without id", position)
                    continue
                if self.settings.urgencies and row.get("urgency") not in self.settings.urgencies:
                    continue
                rows[incident_id] = row
            if not more:
                break
            last = page.get("last")
            if not isinstance(last, str) or not last or last == cursor or not data:
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE,
                    "POST /analytics/raw/incidents: more=true without a new cursor",
                )
            cursor = last
        fields = await self._custom_fields(client, ctx, list(rows))
        out: dict[str, Incident] = {}
        for incident_id, row in rows.items():
            try:
                severity = mapper.severity(incident_id, row.get("priority_name"),
                                           row.get("urgency"))
                record = mapper.build(incident_id, row.get("created_at"), row.get("resolved_at"),
                                      row.get("status"), severity, fields.get(incident_id, {}))
            except SkipRecord as exc:
                self._skipped(ctx, mapper, exc, f"analytics incident {incident_id}")
                continue
            if record is not None:
                out[incident_id] = record
        return out

    # -- the run ------------------------------------------------------------------

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        mapper = IncidentMapper(self.settings, ctx.name, ctx.logger,
                                ZoneInfo(self.settings.time_zone))
        async with self._client() as client:
            if self.settings.api == "analytics":
                incidents = await self._from_analytics(client, ctx, mapper)
            else:
                incidents = await self._from_incidents(client, ctx, mapper)
        ctx.logger.info("%d incidents", len(incidents))
        return CollectionResult(
            incidents=list(incidents.values()),
            complete=frozenset({RecordKind.INCIDENT}),
            state={"last_success": _iso(ctx.now)},
            record_errors=mapper.errors,
        )

    async def check(self, ctx: CollectContext) -> list[str]:
        """One tiny incidents query: proves the token and the read permission."""
        try:
            async with self._client() as client:
                body, _ = await client.get_json("/incidents", params={
                    "limit": 1, "time_zone": self.settings.time_zone, **self._incident_params()})
                _page(body, "incidents", "GET /incidents")
        except CollectorError as exc:
            return [f"{exc.kind.value}: {exc}"]
        return []
