"""The ``sentinel`` collector: Microsoft Sentinel incidents as triaged alerts and incidents.

Sentinel's unit of triage is the *incident* (alerts are grouped into incidents and
analysts close incidents with a classification), so every incident yields two records:

* a :class:`SiemAlert` for the alert signal ratio and the time to investigate:
  ``created_at`` = ``createdTimeUtc``, disposition from the configurable
  ``classification`` mapping once the incident is ``Closed`` (``untriaged`` before),
  ``triaged_at`` = first status change after creation (see below);
* an :class:`Incident` for MTTD/MTTC: ``started_at`` = ``firstActivityTimeUtc``,
  ``detected_at`` = ``createdTimeUtc``, ``contained_at`` = the close time (or the last
  activity, per ``contained_at``), ``resolved_at`` = the close time. Incidents closed as
  false or benign positives are not security incidents and are left out by default.

The incidents REST API has no close time and no status history. When a Log Analytics
workspace is configured, the close time (``ClosedTime``) and the first status change
come from the ``SecurityIncident`` table, which keeps one row per incident change.
Without it, the ``lastModifiedTimeUtc`` of a closed incident stands in for both, which
over-states the time to close whenever someone edits an incident after closing it.

Runs are incremental: the watermark is the newest ``lastModifiedTimeUtc`` seen, and the
next run asks only for incidents modified since (minus an overlap). Filtering on the
last-modified time, never the creation time, is what makes an incident created before
the window but closed inside it count towards that window's MTTC. A full pass over
``lookback`` runs every ``full_sync_interval`` to pick up late Log Analytics data.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, field_validator

from collectors.azure_auth import TokenProvider
from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import ApiClient, HttpSettings, decode_json, parse_timestamp
from collectors.records import Disposition, Incident, RecordKind, Severity, SiemAlert
from collectors.records_detection import DetectionRule, RuleKind, normalize_technique
from collectors.settings import Duration, PositiveDuration, Secret, StrictModel

DEFAULT_API_VERSION = "2025-06-01"
ARM_SCOPE_SUFFIX = "/.default"

# Defaults documented in docs/collectors/sentinel.md; config entries override per key.
DEFAULT_CLASSIFICATIONS: dict[str, Disposition] = {
    "TruePositive": Disposition.ACTIONABLE,
    "BenignPositive": Disposition.BENIGN,
    "FalsePositive": Disposition.FALSE_POSITIVE,
    "Undetermined": Disposition.UNDETERMINED,
}
DEFAULT_SEVERITIES: dict[str, Severity] = {
    "High": Severity.HIGH,
    "Medium": Severity.MEDIUM,
    "Low": Severity.LOW,
    "Informational": Severity.LOW,
}
STATUSES = frozenset({"New", "Active", "Closed"})

# One row per incident: when it was last closed and when its status first left "New".
# {since} bounds the incidents looked at (only those changed since the watermark).
DEFAULT_LA_QUERY = """\
let changed = SecurityIncident
    | where TimeGenerated >= datetime({since})
    | distinct IncidentName;
SecurityIncident
| where IncidentName in (changed)
| summarize FirstStatusChange = minif(LastModifiedTime, Status != "New"),
            arg_max(TimeGenerated, ClosedTime, Status) by IncidentName
| project IncidentName, ClosedTime = iff(Status == "Closed", ClosedTime, datetime(null)),
          FirstStatusChange"""


class LogAnalyticsSettings(StrictModel):
    """Where to read ``SecurityIncident`` (close times, first status change)."""

    workspace_id: str = Field(description="the workspace's customer id (a GUID), not its name")
    endpoint: str = "https://api.loganalytics.io"
    query: str | None = Field(
        default=None,
        description="KQL override; must return IncidentName, ClosedTime, FirstStatusChange "
        "and may use {since}",
    )


class SentinelSettings(StrictModel):
    tenant_id: str
    client_id: str
    client_secret: Secret
    subscription_id: str
    resource_group: str
    workspace_name: str
    authority_host: str = "https://login.microsoftonline.com"
    management_endpoint: str = "https://management.azure.com"
    api_version: str = DEFAULT_API_VERSION
    lookback: PositiveDuration | None = Field(
        default=None, description="how far back a full pass reads; never less than the start "
        "of the previous quarter plus a margin (the default)")
    overlap: Duration = timedelta(minutes=10)
    full_sync_interval: PositiveDuration = timedelta(hours=24)
    page_size: int | None = Field(default=None, ge=1, le=1000)
    classifications: dict[str, Disposition] = Field(default_factory=dict)
    severities: dict[str, Severity] = Field(default_factory=dict)
    incident_exclude_classifications: list[str] = Field(
        default_factory=lambda: ["FalsePositive", "BenignPositive"]
    )
    contained_at: Literal["closed", "last_activity"] = "closed"
    alerts: bool = True
    incidents: bool = True
    detection_rules: bool = Field(
        default=True, description="also list the analytics rules (alertRules) for ATT&CK "
        "coverage")
    log_analytics: LogAnalyticsSettings | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("authority_host", "management_endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    def classification_map(self) -> dict[str, Disposition]:
        return {**DEFAULT_CLASSIFICATIONS, **self.classifications}

    def severity_map(self) -> dict[str, Severity]:
        return {**DEFAULT_SEVERITIES, **self.severities}


class _Unmapped:
    """Counts unknown enum values and logs each one once per collector instance."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def report(self, ctx: CollectContext, errors: Counter[ErrorKind], field: str,
               value: str, where: str) -> None:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        if (field, value) not in self.seen:
            self.seen.add((field, value))
            ctx.logger.warning("%s: unknown %s %r (first seen on %s); record skipped, add it "
                               "to the mapping in the config", ctx.name, field, value, where)


@dataclass(frozen=True, slots=True)
class CloseInfo:
    closed_at: datetime | None
    first_status_change: datetime | None


def _ts(value: Any) -> datetime | None:
    return parse_timestamp(value)


class SentinelCollector(Collector):
    """Microsoft Sentinel incidents via Azure Resource Manager (see module docstring)."""

    config_model: ClassVar[type[StrictModel]] = SentinelSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.SIEM_ALERT,
                                                        RecordKind.INCIDENT,
                                                        RecordKind.DETECTION_RULE})

    def __init__(self, name: str, settings: StrictModel, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, SentinelSettings)
        self.config: SentinelSettings = settings
        self._sleep = sleep
        self._transport = transport
        self._unmapped = _Unmapped()
        self.tokens = TokenProvider(settings, lambda: self._client(settings.authority_host))

    def _client(self, base_url: str) -> ApiClient:
        return ApiClient(base_url, self.config.http, sleep=self._sleep,
                         transport=self._transport)

    @property
    def arm_scope(self) -> str:
        return self.config.management_endpoint + ARM_SCOPE_SUFFIX

    @property
    def la_scope(self) -> str:
        assert self.config.log_analytics is not None
        return self.config.log_analytics.endpoint.rstrip("/") + ARM_SCOPE_SUFFIX

    def incidents_path(self, collection: str = "incidents") -> str:
        s = self.config
        return (f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"
                f"/providers/Microsoft.OperationalInsights/workspaces/{s.workspace_name}"
                f"/providers/Microsoft.SecurityInsights/{collection}")

    async def _authorized(self, client: ApiClient, scope: str, method: str, url: str,
                          **kwargs: Any) -> httpx.Response:
        """Send with a bearer token; on 401 fetch a fresh token once (expired or revoked)."""
        for attempt in range(2):
            token = await self.tokens.token(scope)
            response = await client.request(
                method, url, headers={"Authorization": f"Bearer {token}"},
                accept=frozenset({401}), **kwargs)
            if response.status_code != 401:
                return response
            self.tokens.invalidate(scope)
            if attempt == 1:
                break
        raise CollectorError(ErrorKind.AUTH,
                             f"{method} {httpx.URL(str(response.request.url)).path}: HTTP 401 "
                             "with a fresh token (check the app registration's role assignment)")

    async def check(self, ctx: CollectContext) -> list[str]:
        """Fetch a token and one page of incidents."""
        async with self._client(self.config.management_endpoint) as arm:
            try:
                await self._authorized(arm, self.arm_scope, "GET", self.incidents_path(),
                                       params={"api-version": self.config.api_version,
                                               "$top": 1})
            except CollectorError as exc:
                return [f"{exc.kind.value}: {exc}"]
        return []

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        s = self.config
        result = CollectionResult()
        window_start = ctx.window_start(s.lookback)
        last_full = _parse_state_time(ctx.state.get("last_full_sync"))
        watermark = _parse_state_time(ctx.state.get("watermark"))
        full = (watermark is None or last_full is None
                or ctx.now - last_full >= s.full_sync_interval or watermark < window_start)
        since = window_start if full else max(window_start, watermark - s.overlap)

        # Close times first, so each page of incidents is converted as it arrives and a
        # quarter of incidents never sits in memory as raw JSON.
        close_info: dict[str, CloseInfo] = {}
        if s.log_analytics is not None:
            close_info = await self._fetch_close_info(since, window_start, ctx.now)

        newest = watermark
        count = 0
        async for item in self._fetch_incidents(since):
            modified = self._convert(ctx, item, count, close_info, result)
            count += 1
            if modified is not None and (newest is None or modified > newest):
                newest = modified
        if s.detection_rules:
            # The rule listing is whole every run: it replaces the stored set.
            rules = [rule async for rule in self._fetch_alert_rules(ctx, result)]
            result.records.setdefault(RecordKind.DETECTION_RULE, []).extend(rules)
            result.complete = result.complete | {RecordKind.DETECTION_RULE}
            ctx.logger.info("%s: %d analytics rules", ctx.name, len(rules))
        state: dict[str, Any] = dict(ctx.state)
        if newest is not None:
            state["watermark"] = newest.isoformat()
        if full:
            state["last_full_sync"] = ctx.now.isoformat()
        result.state = state
        ctx.logger.info("%s: %d incidents changed since %s (%s pass)", ctx.name, count,
                        since.isoformat(), "full" if full else "incremental")
        return result

    async def _fetch_incidents(self, since: datetime) -> AsyncIterator[Any]:
        """Yield incidents modified since ``since``, page by page along ``nextLink``."""
        s = self.config
        params: dict[str, Any] | None = {
            "api-version": s.api_version,
            "$filter": f"properties/lastModifiedTimeUtc ge {_odata_time(since)}",
            "$orderby": "properties/createdTimeUtc asc",
        }
        if s.page_size is not None:
            assert params is not None
            params["$top"] = s.page_size
        async for item in self._list(self.incidents_path(), params, "incidents list"):
            yield item

    async def _fetch_alert_rules(self, ctx: CollectContext,
                                 result: CollectionResult) -> AsyncIterator[DetectionRule]:
        """Yield the workspace's analytics rules (``alertRules``) as detection rules."""
        params = {"api-version": self.config.api_version}
        async for item in self._list(self.incidents_path("alertRules"), params,
                                     "alert rules list"):
            rule = map_alert_rule(item, ctx.name, result.record_errors)
            if rule is not None:
                yield rule

    async def _list(self, url: str, params: dict[str, Any] | None,
                    what: str) -> AsyncIterator[Any]:
        """Yield the items of an ARM list, page by page along ``nextLink``."""
        s = self.config
        host = httpx.URL(s.management_endpoint).host
        seen_links: set[str] = set()
        async with self._client(s.management_endpoint) as arm:
            while True:
                response = await self._authorized(arm, self.arm_scope, "GET", url,
                                                   params=params)
                body = decode_json(response)
                if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"{what}: no 'value' array in the response")
                for item in body["value"]:
                    yield item
                next_link = body.get("nextLink")
                if not next_link:
                    return
                if not isinstance(next_link, str) or httpx.URL(next_link).host != host:
                    # Never send the bearer token to a host we were not configured for.
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"{what}: nextLink points to another host")
                if next_link in seen_links:
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"{what}: nextLink repeats a page")
                seen_links.add(next_link)
                url, params = next_link, None

    async def _fetch_close_info(self, since: datetime, window_start: datetime,
                                now: datetime) -> dict[str, CloseInfo]:
        la = self.config.log_analytics
        assert la is not None
        template = la.query or DEFAULT_LA_QUERY
        query = template.replace("{since}", _odata_time(since))
        # The timespan bounds TimeGenerated; the window covers the incidents' history.
        body = {"query": query,
                "timespan": f"{_odata_time(window_start)}/{_odata_time(now)}"}
        async with self._client(la.endpoint) as client:
            response = await self._authorized(
                client, self.la_scope, "POST", f"/v1/workspaces/{la.workspace_id}/query",
                json_body=body)
        data = decode_json(response)
        if isinstance(data, dict) and data.get("error"):
            # A 200 with "error" is a partial result: better no data than wrong close times.
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 "Log Analytics query returned a partial result")
        try:
            table = data["tables"][0]
            columns = [c["name"] for c in table["columns"]]
            rows = table["rows"]
            if not isinstance(rows, list):
                raise TypeError("rows is not an array")
            i_name = columns.index("IncidentName")
            i_closed = columns.index("ClosedTime")
            i_first = columns.index("FirstStatusChange")
        except (KeyError, IndexError, TypeError, ValueError):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 "Log Analytics result lacks IncidentName, ClosedTime or "
                                 "FirstStatusChange") from None
        out: dict[str, CloseInfo] = {}
        for row in rows:
            try:
                out[str(row[i_name])] = CloseInfo(_ts(row[i_closed]), _ts(row[i_first]))
            except (ValueError, IndexError, KeyError, TypeError):  # KeyError: a row object
                continue  # one bad row loses only its close time; the API fallback applies
        return out

    def _convert(self, ctx: CollectContext, item: Any, position: int,
                 close_info: Mapping[str, CloseInfo], result: CollectionResult
                 ) -> datetime | None:
        """Turn one incident into records; return its lastModifiedTimeUtc for the watermark."""
        s = self.config
        where = f"incident #{position}"
        try:
            props = item["properties"]
            number = props["incidentNumber"]
            where = f"incident {number}"
            name = str(item.get("name") or "")
            created = _ts(props["createdTimeUtc"])
            modified = _ts(props.get("lastModifiedTimeUtc"))
            first_activity = _ts(props.get("firstActivityTimeUtc"))
            last_activity = _ts(props.get("lastActivityTimeUtc"))
            status = props.get("status")
            classification = props.get("classification") or ""
            severity_raw = props.get("severity")
            title = props.get("title")
            if created is None or not isinstance(number, int) or isinstance(number, bool):
                raise ValueError("createdTimeUtc and a numeric incidentNumber are required")
            # A list or object here would reach the mappings' `in` and dict lookups below
            # (TypeError, a crash): it is a bad value of this incident.
            if not all(v is None or isinstance(v, str)
                       for v in (status, classification, severity_raw)):
                raise ValueError("status, classification and severity must be text")
            if modified is not None and modified < created:
                raise ValueError("lastModifiedTimeUtc is before createdTimeUtc")
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            result.record_errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("%s: skipped %s: %s", ctx.name, where, detail)
            return None

        if status not in STATUSES:
            self._unmapped.report(ctx, result.record_errors, "status", str(status), where)
            return modified
        severity = s.severity_map().get(severity_raw) if severity_raw else None
        if severity_raw and severity is None:
            self._unmapped.report(ctx, result.record_errors, "severity", str(severity_raw), where)
            return modified
        closed = status == "Closed"
        info = close_info.get(name)
        closed_at = None
        if closed:
            closed_at = (info.closed_at if info and info.closed_at else None) or modified
        first_change = info.first_status_change if info else None
        if first_change is None and closed:
            first_change = closed_at
        record_id = f"{s.workspace_name}#{number}"

        try:
            if s.alerts:
                disposition = Disposition.UNTRIAGED
                known = True
                if closed:
                    mapped = s.classification_map().get(classification or "Undetermined")
                    if mapped is None:
                        known = False
                        self._unmapped.report(ctx, result.record_errors, "classification",
                                              classification, where)
                    else:
                        disposition = mapped
                if known:
                    triaged = first_change if first_change and first_change >= created else None
                    result.siem_alerts.append(SiemAlert(
                        id=record_id, source=ctx.name, created_at=created,
                        disposition=disposition, triaged_at=triaged,
                        rule=title if isinstance(title, str) else None, severity=severity))
            if s.incidents and not (closed and classification
                                    in s.incident_exclude_classifications):
                contained = closed_at
                if closed and s.contained_at == "last_activity":
                    contained = last_activity
                if contained is not None and contained < created:
                    contained = None  # activity ended before detection: no containment time
                started = first_activity if first_activity and first_activity <= created \
                    else None
                resolved = closed_at if closed_at and closed_at >= created else None
                result.incidents.append(Incident(
                    id=record_id, source=ctx.name, detected_at=created, severity=severity,
                    started_at=started, contained_at=contained, resolved_at=resolved))
        except ValueError as exc:
            result.record_errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("%s: skipped %s: %s", ctx.name, where, exc)
        return modified


# Analytics rule kinds (``kind`` of an alertRules item) and what they are for the
# maturity levels; another kind is skipped and counted as unmapped_value.
RULE_KINDS: dict[str, RuleKind] = {
    "Scheduled": RuleKind.QUERY,
    "NRT": RuleKind.QUERY,
    "Fusion": RuleKind.MACHINE_LEARNING,
    "MLBehaviorAnalytics": RuleKind.MACHINE_LEARNING,
    "ThreatIntelligence": RuleKind.CORRELATION,
    "MicrosoftSecurityIncidentCreation": RuleKind.OTHER,
}


def map_alert_rule(item: Any, source: str, errors: Counter[ErrorKind]) -> DetectionRule | None:
    """One alertRules item as a :class:`DetectionRule`, or None (counted).

    ``properties.techniques`` and ``properties.subTechniques`` give the ATT&CK ids
    (``tactics`` are tactic names, not needed: the bundled matrix knows each
    technique's tactics). An id that is no technique id is dropped and counted.
    """
    if not isinstance(item, Mapping) or not isinstance(item.get("properties"), Mapping):
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    props = item["properties"]
    rule_id, enabled, kind = item.get("name"), props.get("enabled"), item.get("kind")
    if not isinstance(rule_id, str) or not rule_id or not isinstance(enabled, bool) \
            or not isinstance(kind, str | None):  # an object kind: not hashable, not a kind
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    if kind not in RULE_KINDS:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        return None
    techniques: set[str] = set()
    for key in ("techniques", "subTechniques"):
        values = props.get(key) or []
        if not isinstance(values, list):
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        for value in values:
            normal = normalize_technique(value) if isinstance(value, str) else None
            if normal is None:
                errors[ErrorKind.UNMAPPED_VALUE] += 1
            else:
                techniques.add(normal)
    try:
        return DetectionRule(id=rule_id, source=source, enabled=enabled,
                             kind=RULE_KINDS[kind], techniques=tuple(sorted(techniques)))
    except ValueError:  # the record's validation (an id that is not valid Unicode text)
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None


def _odata_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_state_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
