"""The ``pagerduty`` collector: PagerDuty incidents as Incident records (MTTC, and
detection times for teams that run incidents in PagerDuty rather than Jira).

Two sources, chosen by ``api``:

* ``incidents`` (default): REST API v2 ``GET /incidents`` with ``since``/``until``
  windows and classic ``offset``/``limit`` pagination. Classic pagination stops at
  10,000 results per query, so a window whose ``total`` is above that is split in two,
  recursively, before it is paged. The first acknowledgement (containment by default)
  comes from the account's overview log entries (``GET /log_entries``) over the same
  windows: one paged stream instead of one request per incident. Resolve log entries
  in the window also reveal incidents created *before* the look-back window but
  resolved inside it; those are fetched one by one (``GET /incidents/{id}``) so their
  containment still counts.
* ``analytics``: ``POST /analytics/raw/incidents`` with cursor pagination, which
  carries ``seconds_to_first_ack`` and ``resolved_at`` precomputed (containment =
  ``created_at + seconds_to_first_ack``). PagerDuty updates analytics data with a
  delay of up to 24 hours.

Every request sends ``time_zone=UTC``; a timestamp that still comes back without an
offset is read in that zone, as PagerDuty documents times to be rendered in the
requested zone (the account's zone when none is given). Each run is a full pass of the
look-back window (incident volumes are small), so the result is the complete set.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, field_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import ApiClient, HttpSettings, parse_retry_after
from collectors.records import Incident, RecordKind, Severity
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


class PagerDutySettings(StrictModel):
    """Config of one ``type: pagerduty`` collector; every field is in the docs."""

    url: str = Field(default="https://api.pagerduty.com",
                     description="https://api.eu.pagerduty.com for EU service regions")
    token: Secret
    api: Literal["incidents", "analytics"] = "incidents"
    lookback: PositiveDuration = timedelta(days=180)
    window: PositiveDuration = Field(default=timedelta(days=30),
                                     description="initial since/until window; split on the cap")
    service_ids: list[str] = Field(default_factory=list)
    team_ids: list[str] = Field(default_factory=list)
    urgencies: list[Literal["high", "low"]] = Field(default_factory=list)
    containment: Literal["first_acknowledgement", "resolved", "none"] = "first_acknowledgement"
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
    return parsed.astimezone(UTC)


def rate_limit_wait(response: httpx.Response) -> float | None:
    """PagerDuty's 429s carry ``ratelimit-reset`` (seconds) on newer endpoints."""
    if response.status_code != 429:
        return None
    reset = parse_retry_after(response.headers.get("ratelimit-reset"))
    if reset is None:
        return parse_retry_after(response.headers.get("Retry-After"))
    return reset


class SkipRecord(ValueError):
    pass


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

    def severity(self, incident_id: str, priority: str | None, urgency: Any) -> Severity | None:
        """Priority name first (P1..P5 by default), urgency when unset or unmapped."""
        if priority and priority in self.settings.priority_map:
            return self.settings.priority_map[priority]
        if isinstance(urgency, str) and urgency:
            mapped = self.settings.urgency_map.get(urgency)
            if mapped is None:
                self.unmapped("urgency", urgency, incident_id)
            return mapped
        return None

    def build(self, incident_id: str, created: Any, resolved: Any, status: Any,
              severity: Severity | None, first_ack: datetime | None) -> Incident:
        try:
            detected = _parse_time(created, self.zone)
            resolved_at = _parse_time(resolved, self.zone)
        except (ValueError, TypeError) as exc:
            raise SkipRecord(f"incident {incident_id}: {exc}") from None
        if detected is None:
            raise SkipRecord(f"incident {incident_id}: no created_at")
        if isinstance(status, str) and status not in _STATUSES:
            self.unmapped("status", status, incident_id)
        if status != "resolved" and status in _STATUSES:
            resolved_at = None  # re-triggered incidents keep a stale resolved_at
        contained = {
            "first_acknowledgement": first_ack,
            "resolved": resolved_at,
            "none": None,
        }[self.settings.containment]
        if self.settings.containment == "first_acknowledgement" and contained is None:
            # Resolved without anyone acknowledging (auto-resolve, resolved from the
            # UI directly): it was contained no later than it was resolved.
            contained = resolved_at
        try:
            return Incident(id=incident_id, source=self.source, detected_at=detected,
                            severity=severity, contained_at=contained, resolved_at=resolved_at)
        except ValueError as exc:
            raise SkipRecord(f"incident {incident_id}: {exc}") from None


def _page(body: Any, key: str, what: str) -> tuple[list[Mapping[str, Any]], bool, int | None]:
    if not isinstance(body, Mapping) or not isinstance(body.get(key), list):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: no {key} array")
    more = body.get("more")
    if not isinstance(more, bool):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: no boolean 'more'")
    total = body.get("total")
    total = total if isinstance(total, int) and not isinstance(total, bool) else None
    return [i for i in body[key] if isinstance(i, Mapping)], more, total


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
                            ) -> AsyncIterator[Mapping[str, Any]]:
        """Every item of ``path`` in [start, end), splitting windows past the cap."""
        stack = [(start, end)]
        limit = self.settings.page_limit
        while stack:
            lo, hi = stack.pop()
            offset = 0
            pending: list[Mapping[str, Any]] = []
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
        start = now - self.settings.lookback
        raw: dict[str, Mapping[str, Any]] = {}
        first_ack: dict[str, datetime] = {}
        resolved_ids: dict[str, datetime] = {}
        want_logs = (self.settings.containment == "first_acknowledgement"
                     or self.settings.include_resolved_in_window)
        for lo, hi in self._windows(start, now):
            pages = self._offset_pages(client, "/incidents", "incidents",
                                       self._incident_params(), lo, hi)
            async with aclosing(pages) as items:
                async for item in items:
                    if isinstance(item.get("id"), str):
                        raw[item["id"]] = item
                    else:
                        mapper.errors[ErrorKind.MALFORMED_RECORD] += 1
                        ctx.logger.warning("skipping an incident without id in %s..%s",
                                           _iso(lo), _iso(hi))
            if not want_logs:
                continue
            params: dict[str, Any] = {"is_overview": "true"}
            if self.settings.team_ids:
                params["team_ids[]"] = list(self.settings.team_ids)
            entries = self._offset_pages(client, "/log_entries", "log_entries", params, lo, hi)
            async with aclosing(entries) as log:
                async for entry in log:
                    self._note_entry(entry, mapper, first_ack, resolved_ids)
        # Incidents resolved inside the window but created before it.
        if self.settings.include_resolved_in_window:
            for incident_id in sorted(set(resolved_ids) - set(raw)):
                body, _ = await client.get_json(f"/incidents/{incident_id}",
                                                params={"time_zone": self.settings.time_zone})
                item = body.get("incident") if isinstance(body, Mapping) else None
                if not isinstance(item, Mapping):
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         "GET /incidents/{id}: no incident object")
                if not self._in_scope(item):
                    continue
                raw[incident_id] = item
                if (self.settings.containment == "first_acknowledgement"
                        and incident_id not in first_ack):
                    await self._incident_first_ack(client, incident_id, mapper, first_ack)
        out: dict[str, Incident] = {}
        for position, (incident_id, item) in enumerate(raw.items(), 1):
            priority = item.get("priority")
            priority_name = None
            if isinstance(priority, Mapping):
                priority_name = priority.get("summary") or priority.get("name")
            severity = mapper.severity(incident_id, priority_name, item.get("urgency"))
            resolved = item.get("resolved_at")
            if resolved is None and item.get("status") == "resolved":
                resolved = resolved_ids.get(incident_id)
                resolved = _iso(resolved) if resolved else item.get("last_status_change_at")
            try:
                out[incident_id] = mapper.build(incident_id, item.get("created_at"), resolved,
                                                item.get("status"), severity,
                                                first_ack.get(incident_id))
            except SkipRecord as exc:
                mapper.errors[ErrorKind.MALFORMED_RECORD] += 1
                ctx.logger.warning("skipping incident #%d: %s", position, exc)
        return out

    def _note_entry(self, entry: Mapping[str, Any], mapper: IncidentMapper,
                    first_ack: dict[str, datetime], resolved_ids: dict[str, datetime]) -> None:
        kind = entry.get("type")
        if kind not in ("acknowledge_log_entry", "resolve_log_entry"):
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
        if kind == "acknowledge_log_entry":
            if incident_id not in first_ack or at < first_ack[incident_id]:
                first_ack[incident_id] = at
            return
        service = entry.get("service")
        if self.settings.service_ids and isinstance(service, Mapping) and (
                service.get("id") not in self.settings.service_ids):
            return  # another service's incident: do not fetch it
        if incident_id not in resolved_ids or at > resolved_ids[incident_id]:
            resolved_ids[incident_id] = at

    async def _incident_first_ack(self, client: ApiClient, incident_id: str,
                                  mapper: IncidentMapper,
                                  first_ack: dict[str, datetime]) -> None:
        offset = 0
        while True:
            body, _ = await client.get_json(
                f"/incidents/{incident_id}/log_entries",
                params={"is_overview": "true", "time_zone": self.settings.time_zone,
                        "limit": self.settings.page_limit, "offset": offset})
            entries, more, _ = _page(body, "log_entries", "GET /incidents/{id}/log_entries")
            for entry in entries:
                self._note_entry(entry, mapper, first_ack, {})
            offset += len(entries)
            if not more or not entries or offset >= CLASSIC_PAGINATION_CAP:
                return

    # -- analytics ----------------------------------------------------------------

    async def _from_analytics(self, client: ApiClient, ctx: CollectContext,
                              mapper: IncidentMapper) -> dict[str, Incident]:
        now = ctx.now.astimezone(UTC).replace(microsecond=0)
        filters: dict[str, Any] = {
            "created_at_start": _iso(now - self.settings.lookback),
            "created_at_end": _iso(now),
        }
        if self.settings.service_ids:
            filters["service_ids"] = list(self.settings.service_ids)
        if self.settings.team_ids:
            filters["team_ids"] = list(self.settings.team_ids)
        if len(self.settings.urgencies) == 1:
            filters["urgency"] = self.settings.urgencies[0]
        out: dict[str, Incident] = {}
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
            rows, more, _ = _page(page, "data", "POST /analytics/raw/incidents")
            for row in rows:
                position += 1
                try:
                    incident = self._analytics_row(row, mapper)
                except SkipRecord as exc:
                    mapper.errors[ErrorKind.MALFORMED_RECORD] += 1
                    ctx.logger.warning("skipping analytics row #%d: %s", position, exc)
                    continue
                if incident is not None:
                    out[incident.id] = incident
            if not more:
                return out
            last = page.get("last")
            if not isinstance(last, str) or not last or last == cursor or not rows:
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE,
                    "POST /analytics/raw/incidents: more=true without a new cursor",
                )
            cursor = last

    def _analytics_row(self, row: Mapping[str, Any], mapper: IncidentMapper) -> Incident | None:
        incident_id = row.get("id")
        if not isinstance(incident_id, str) or not incident_id:
            raise SkipRecord("row without id")
        if self.settings.urgencies and row.get("urgency") not in self.settings.urgencies:
            return None
        severity = mapper.severity(incident_id, row.get("priority_name"), row.get("urgency"))
        first_ack = None
        seconds = row.get("seconds_to_first_ack")
        if seconds is not None:
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise SkipRecord(f"incident {incident_id}: bad seconds_to_first_ack {seconds!r}")
            try:
                created = _parse_time(row.get("created_at"), mapper.zone)
            except (ValueError, TypeError) as exc:
                raise SkipRecord(f"incident {incident_id}: {exc}") from None
            if created is not None:
                first_ack = created + timedelta(seconds=seconds)
        return mapper.build(incident_id, row.get("created_at"), row.get("resolved_at"),
                            row.get("status"), severity, first_ack)

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
