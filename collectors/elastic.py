"""The ``elastic`` collector: Elastic Security detection alerts as SIEM alerts.

Two ways in, chosen by ``mode``:

* ``elasticsearch`` (default): the alerts indices (``.alerts-security.alerts-<space>``)
  searched directly, paged with a point in time and ``search_after`` - the only way to
  page past 10,000 hits consistently while analysts keep closing alerts.
* ``kibana``: the detection engine route ``POST /api/detection_engine/signals/search``,
  for deployments that only expose Kibana. That route validates its body against a
  narrow schema (query, aggs, size, track_total_hits, _source, fields,
  runtime_mappings, sort) and silently drops ``search_after`` and ``from``, so a
  collector that pages it that way reads the first page forever. We page it by time
  slices instead: a slice whose total is larger than one page is split in two until
  every slice fits.

Each alert becomes a :class:`SiemAlert`: ``created_at`` is ``@timestamp`` (when the rule
created the alert), ``triaged_at`` the first status change after creation, the
disposition comes from ``kibana.alert.workflow_status`` and, for closed alerts, the
configurable map of ``kibana.alert.workflow_reason``. See docs/collectors/elastic.md.

Runs are incremental: after a full pass, later runs fetch only alerts created or
changed (``kibana.alert.workflow_status_updated_at``) since the last successful run
minus an overlap, and a full pass of the whole window runs periodically so alerts
deleted or aged out leave the store. The window starts at ``ctx.window_start``: the
previous quarter's start less a margin, or an older configured ``lookback``, so the
full pass that replaces the stored set never drops an alert a published quarter reads.

A closing reason the map does not know is never guessed: the alert is skipped and
counted as ``unmapped_value`` (DESIGN, Changes 2026-12-02), like an unknown status.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import ApiClient, HttpSettings, parse_timestamp
from collectors.records import Disposition, RecordKind, Severity, SiemAlert
from collectors.records_detection import DetectionRule, RuleKind, normalize_technique
from collectors.settings import Duration, PositiveDuration, Secret, StrictModel

# Alert fields (alerts-as-data schema, Elastic Security 8.x+).
F_UUID = "kibana.alert.uuid"
F_TIMESTAMP = "@timestamp"
F_STATUS = "kibana.alert.workflow_status"
F_REASON = "kibana.alert.workflow_reason"
F_STATUS_UPDATED = "kibana.alert.workflow_status_updated_at"
F_ORIGINAL_TIME = "kibana.alert.original_time"
F_RULE_NAME = "kibana.alert.rule.name"
F_SEVERITY = "kibana.alert.severity"
SOURCE_FIELDS = [
    F_UUID, F_TIMESTAMP, F_STATUS, F_REASON, F_STATUS_UPDATED, F_ORIGINAL_TIME,
    F_RULE_NAME, F_SEVERITY,
]

# Closing reasons offered by Elastic Security's "Close alert" menu, and what they mean
# for the signal ratio. Only a reason that says "this was a real problem we dealt
# with" is actionable; everything else is noise from the metric's point of view.
DEFAULT_REASON_MAP: dict[str, Disposition] = {
    "false_positive": Disposition.FALSE_POSITIVE,
    "duplicate": Disposition.BENIGN,
    "expected_activity": Disposition.BENIGN,
    "acceptable_risk": Disposition.BENIGN,
    "issue_resolved": Disposition.ACTIONABLE,
    "true_positive": Disposition.ACTIONABLE,
    "benign_positive": Disposition.BENIGN,
    "other": Disposition.UNDETERMINED,
}
DEFAULT_SEVERITY_MAP: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
}
# Legacy signals (7.x) used "in-progress" for what 8.x calls "acknowledged".
_STATUS_ALIASES = {"in-progress": "acknowledged"}
_KNOWN_STATUSES = frozenset({"open", "acknowledged", "closed"})


class ElasticSettings(StrictModel):
    """Config of one ``type: elastic`` collector; every field is in the docs."""

    mode: Literal["elasticsearch", "kibana"] = "elasticsearch"
    url: str = Field(description="Elasticsearch URL (mode elasticsearch) or Kibana URL (kibana)")
    space: str = Field(default="default", pattern=r"^[a-z0-9_-]+$")
    index: str | None = Field(
        default=None, description="alerts index or pattern; default .alerts-security.alerts-<space>"
    )
    api_key: Secret | None = Field(default=None, description="encoded API key, sent as ApiKey")
    username: str | None = None
    password: Secret | None = None
    lookback: PositiveDuration | None = Field(
        default=None, description="widen the window past the previous quarter's start"
    )
    overlap: Duration = timedelta(minutes=10)
    full_sync_interval: PositiveDuration = timedelta(hours=24)
    page_size: int = Field(default=5000, ge=1, le=10000)
    pit_keep_alive: PositiveDuration = timedelta(minutes=5)
    rules: list[str] = Field(default_factory=list, description="rule names in scope; empty: all")
    query_filter: dict[str, Any] | None = Field(
        default=None, description="extra Elasticsearch query DSL clause, ANDed with the rest"
    )
    reason_map: dict[str, Disposition] = Field(default_factory=lambda: dict(DEFAULT_REASON_MAP))
    closed_without_reason: Disposition = Disposition.UNDETERMINED
    acknowledged_disposition: Literal["untriaged", "undetermined"] = "untriaged"
    severity_map: dict[str, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITY_MAP)
    )
    http: HttpSettings = Field(default_factory=HttpSettings)
    detection_rules: bool = Field(
        default=True, description="also list the detection rules (ATT&CK coverage); "
        "needs Kibana: url in mode kibana, else kibana_url")
    kibana_url: str | None = Field(
        default=None, description="Kibana URL for the rule listing in mode elasticsearch")
    rules_page_size: int = Field(default=500, ge=1, le=10000)

    @model_validator(mode="after")
    def _one_auth(self) -> ElasticSettings:
        basic = self.username is not None or self.password is not None
        if self.api_key is not None and basic:
            raise ValueError("set either api_key or username/password, not both")
        if self.api_key is None and not (self.username and self.password is not None):
            raise ValueError("set api_key, or both username and password")
        if self.reason_map.get("__none__") is not None:
            raise ValueError("use closed_without_reason for closed alerts without a reason")
        # Closing an alert records a verdict, "undetermined" included: a closed alert
        # counted as untriaged would leave the signal ratio's denominator (DESIGN,
        # Changes 2026-12-02: only untriaged alerts are left out).
        closed_untriaged = sorted(
            reason for reason, disposition in self.reason_map.items()
            if disposition is Disposition.UNTRIAGED
        )
        if closed_untriaged:
            raise ValueError(
                f"reason_map: a closed alert is triaged; map {closed_untriaged} to "
                "undetermined (or another verdict), not untriaged"
            )
        if self.closed_without_reason is Disposition.UNTRIAGED:
            raise ValueError("closed_without_reason: a closed alert is triaged; use undetermined")
        return self

    @property
    def alerts_index(self) -> str:
        return self.index or f".alerts-security.alerts-{self.space}"

    @property
    def rules_url(self) -> str | None:
        """Where the detection engine's rule API lives, or None when it is not read."""
        if not self.detection_rules:
            return None
        return self.url if self.mode == "kibana" else self.kibana_url


# Elastic Security rule types (``type`` of a rule object) and what they are for the
# maturity levels; a type not listed here is skipped and counted as unmapped_value.
RULE_TYPE_MAP: dict[str, RuleKind] = {
    "query": RuleKind.QUERY,
    "saved_query": RuleKind.QUERY,
    "eql": RuleKind.QUERY,
    "esql": RuleKind.QUERY,
    "new_terms": RuleKind.QUERY,
    "threshold": RuleKind.THRESHOLD,
    "machine_learning": RuleKind.MACHINE_LEARNING,
    "threat_match": RuleKind.CORRELATION,
}
ATTACK_FRAMEWORK = "MITRE ATT&CK"


def map_rule(rule: Any, source: str, errors: Counter[ErrorKind]) -> DetectionRule | None:
    """One rule object of ``_find`` as a :class:`DetectionRule`, or None (counted).

    ``threat[]`` entries of the MITRE ATT&CK framework give the techniques, each
    technique's ``subtechnique[]`` its sub-techniques; an id that is no ATT&CK
    technique id is dropped and counted as unmapped_value, the rule kept.
    """
    if not isinstance(rule, Mapping):
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    rule_id, enabled, kind = rule.get("id"), rule.get("enabled"), rule.get("type")
    if not isinstance(rule_id, str) or not rule_id or not isinstance(enabled, bool) \
            or not isinstance(kind, str | None):  # an object type: not hashable, no kind
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    if kind not in RULE_TYPE_MAP:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        return None
    techniques: set[str] = set()
    threat = rule.get("threat") or []
    if not isinstance(threat, list):
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None
    for entry in threat:
        if not isinstance(entry, Mapping) or entry.get("framework") != ATTACK_FRAMEWORK:
            continue
        listed = entry.get("technique") or []
        if not isinstance(listed, list):  # a number or an object: a bad value of this rule
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        for technique in listed:
            if not isinstance(technique, Mapping):
                continue
            subs = technique.get("subtechnique") or []
            if not isinstance(subs, list):
                errors[ErrorKind.MALFORMED_RECORD] += 1
                return None
            ids = [technique.get("id")]
            ids += [sub.get("id") for sub in subs if isinstance(sub, Mapping)]
            for value in ids:
                normal = normalize_technique(value) if isinstance(value, str) else None
                if normal is None:
                    errors[ErrorKind.UNMAPPED_VALUE] += 1
                else:
                    techniques.add(normal)
    try:
        return DetectionRule(id=rule_id, source=source, enabled=enabled,
                             kind=RULE_TYPE_MAP[kind], techniques=tuple(sorted(techniques)))
    except ValueError:  # the record's validation (an id that is not valid Unicode text)
        errors[ErrorKind.MALFORMED_RECORD] += 1
        return None


def _iso(value: datetime) -> str:
    """Millisecond ISO-8601 in UTC, the precision Elasticsearch stores dates at."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


def _field(source: Mapping[str, Any], name: str) -> Any:
    """Read a dotted field from an alert ``_source``.

    Alerts-as-data documents store flat dotted keys (``"kibana.alert.uuid": ...``),
    older signals and reindexed data nest objects; accept both and mixtures.
    """
    if name in source:
        return source[name]
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        inner = source.get(head)
        if isinstance(inner, Mapping):
            value = _field(inner, ".".join(parts[cut:]))
            if value is not None:
                return value
    return None


def _scalar(value: Any) -> Any:
    """Elasticsearch may hand back single values as one-element arrays."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else (value or None)
    return value


def _time(value: Any) -> datetime | None:
    value = _scalar(value)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)  # epoch_millis
    return parse_timestamp(value)


class SkipRecord(ValueError):
    """This alert cannot be turned into a record; ``kind`` says why."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class AlertMapper:
    """Turns alert documents into records, remembering first status changes.

    Elastic keeps only the *last* status change time. To measure the time to
    investigate from the *first* one, the collector's state remembers when it first
    saw each alert acknowledged (bounded: only alerts still acknowledged are kept),
    and uses that time once the alert is closed.
    """

    settings: ElasticSettings
    source: str
    logger: logging.Logger
    first_change: dict[str, str] = field(default_factory=dict)
    errors: Counter[ErrorKind] = field(default_factory=Counter)
    _unmapped_logged: set[tuple[str, str]] = field(default_factory=set)

    def _unmapped(self, what: str, value: str, alert_id: str) -> None:
        self.errors[ErrorKind.UNMAPPED_VALUE] += 1
        if (what, value) not in self._unmapped_logged:
            self._unmapped_logged.add((what, value))
            self.logger.warning(
                "alert %s: unknown %s %r (logged once per value; add it to the mapping)",
                alert_id, what, value,
            )

    def map(self, hit: Any) -> SiemAlert:
        if not isinstance(hit, Mapping):
            raise SkipRecord(ErrorKind.MALFORMED_RECORD, "hit is not an object")
        source = hit.get("_source")
        if not isinstance(source, Mapping):
            raise SkipRecord(ErrorKind.MALFORMED_RECORD, "hit has no _source object")
        alert_id = _scalar(_field(source, F_UUID)) or hit.get("_id")
        if not isinstance(alert_id, str) or not alert_id:
            raise SkipRecord(ErrorKind.MALFORMED_RECORD, "no kibana.alert.uuid or _id")
        try:
            created = _time(_field(source, F_TIMESTAMP))
            updated = _time(_field(source, F_STATUS_UPDATED))
        except (ValueError, TypeError, OverflowError, OSError) as exc:  # OSError: -7e16 ms
            raise SkipRecord(ErrorKind.MALFORMED_RECORD, f"alert {alert_id}: {exc}") from None
        if created is None:
            raise SkipRecord(ErrorKind.MALFORMED_RECORD, f"alert {alert_id}: no @timestamp")
        raw_status = _scalar(_field(source, F_STATUS))
        raw_reason = _scalar(_field(source, F_REASON))
        if not all(isinstance(v, str | None) for v in (raw_status, raw_reason)):
            # An object or a multi-value list would reach the dict lookups below.
            raise SkipRecord(ErrorKind.MALFORMED_RECORD,
                             f"alert {alert_id}: workflow status or reason is not text")
        # The field is absent on alerts nobody has touched: they are open.
        status = _STATUS_ALIASES.get(raw_status, raw_status) if raw_status else "open"
        if status not in _KNOWN_STATUSES:
            self._unmapped("workflow_status", str(raw_status), alert_id)
            raise SkipRecord(ErrorKind.UNMAPPED_VALUE, f"alert {alert_id}: status {raw_status!r}")

        severity = None
        raw_severity = _scalar(_field(source, F_SEVERITY))
        if isinstance(raw_severity, str):
            severity = self.settings.severity_map.get(raw_severity.lower())
            if severity is None:
                self._unmapped("severity", raw_severity, alert_id)
        rule = _scalar(_field(source, F_RULE_NAME))
        # A few hundred rules name hundreds of thousands of alerts: share the strings.
        rule = sys.intern(rule) if isinstance(rule, str) and rule else None

        triaged_at: datetime | None = None
        if status == "open":
            disposition = Disposition.UNTRIAGED
            self.first_change.pop(alert_id, None)
        else:
            remembered = self.first_change.get(alert_id)
            first = parse_timestamp(remembered) if remembered else None
            triaged_at = min(t for t in (first, updated) if t is not None) if (
                first or updated) else None
            if status == "acknowledged":
                disposition = Disposition(self.settings.acknowledged_disposition)
                if triaged_at is not None:
                    self.first_change[alert_id] = _iso(triaged_at)
            else:
                reason = raw_reason
                if reason is None or reason == "":
                    disposition = self.settings.closed_without_reason
                elif reason in self.settings.reason_map:
                    disposition = self.settings.reason_map[reason]
                else:
                    # Never guessed: a new reason may mean "true positive" as well as
                    # "noise", and either guess moves the signal ratio. The remembered
                    # first change stays until the reason is mapped or a full pass.
                    self._unmapped("workflow_reason", str(reason), alert_id)
                    raise SkipRecord(ErrorKind.UNMAPPED_VALUE,
                                     f"alert {alert_id}: closing reason {reason!r}")
                self.first_change.pop(alert_id, None)
        try:
            return SiemAlert(
                id=alert_id, source=self.source, created_at=created, disposition=disposition,
                triaged_at=triaged_at, rule=rule, severity=severity,
            )
        except ValueError as exc:
            raise SkipRecord(ErrorKind.MALFORMED_RECORD, f"alert {alert_id}: {exc}") from None


@dataclass(frozen=True)
class Pass:
    """One query of a run: alerts whose ``field`` lies in [start, end)."""

    field: str
    start: datetime
    end: datetime
    created_after: datetime | None = None  # extra bound on @timestamp


def _hits_of(body: Any, what: str) -> tuple[list[Any], int | None]:
    """Validate a search response; return its hits and total (when tracked).

    Every hit, objects or not: whether a page is full is decided by the count the
    server sent (filtering first would make a full page look like the last one and
    lose the later pages from a result marked complete), and the mapper counts a hit
    that is no object as a skipped record.
    """
    if not isinstance(body, Mapping):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: not a JSON object")
    if body.get("timed_out") is True:
        raise CollectorError(ErrorKind.SERVER, f"{what}: search timed out (partial results)")
    shards = body.get("_shards")
    if isinstance(shards, Mapping) and isinstance(shards.get("failed"), int) and shards["failed"]:
        raise CollectorError(
            ErrorKind.SERVER, f"{what}: {shards['failed']} shard(s) failed (partial results)"
        )
    hits = body.get("hits")
    if not isinstance(hits, Mapping) or not isinstance(hits.get("hits"), list):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{what}: no hits.hits array")
    total = hits.get("total")
    if isinstance(total, Mapping):
        total = total.get("value") if total.get("relation", "eq") == "eq" else None
    if not isinstance(total, int) or isinstance(total, bool):
        total = None
    return hits["hits"], total


class ElasticCollector(Collector):
    """Elastic Security detection alerts; see the module docstring."""

    config_model: ClassVar[type[StrictModel]] = ElasticSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.SIEM_ALERT,
                                                       RecordKind.DETECTION_RULE})
    settings: ElasticSettings

    def __init__(self, name: str, settings: StrictModel, **client_options: Any) -> None:
        super().__init__(name, settings)
        self._client_options = client_options  # tests and benchmarks: sleep=, transport=

    # -- plumbing ---------------------------------------------------------------

    def _client(self, base_url: str | None = None) -> ApiClient:
        settings = self.settings
        headers = {"Accept": "application/json"}
        auth: httpx.Auth | None = None
        if settings.api_key is not None:
            headers["Authorization"] = f"ApiKey {settings.api_key.get_secret_value()}"
        else:
            assert settings.username is not None and settings.password is not None
            auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        if settings.mode == "kibana" or base_url is not None:
            headers["kbn-xsrf"] = "true"  # Kibana refuses POSTs without it
        return ApiClient(
            (base_url or settings.url).rstrip("/"), settings.http, headers=headers, auth=auth,
            **self._client_options,
        )

    def _base_filters(self) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = []
        if self.settings.rules:
            filters.append({"terms": {F_RULE_NAME: list(self.settings.rules)}})
        if self.settings.query_filter:
            filters.append(dict(self.settings.query_filter))
        return filters

    def _query(self, one: Pass, start: datetime | None = None,
               end: datetime | None = None) -> dict[str, Any]:
        filters = self._base_filters()
        filters.append({"range": {one.field: {
            "gte": _iso(start or one.start), "lt": _iso(end or one.end),
            "format": "strict_date_optional_time",
        }}})
        if one.created_after is not None:
            filters.append({"range": {F_TIMESTAMP: {
                "gte": _iso(one.created_after), "format": "strict_date_optional_time",
            }}})
        return {"bool": {"filter": filters}}

    def _kibana_path(self, route: str = "signals/search") -> str:
        prefix = "" if self.settings.space == "default" else f"/s/{self.settings.space}"
        return f"{prefix}/api/detection_engine/{route}"

    async def _rules(self, source: str, errors: Counter[ErrorKind]) -> list[DetectionRule]:
        """Every detection rule of the space, paged through ``GET .../rules/_find``.

        Pages are ``page``/``per_page``, sorted by creation time so that rules created
        during the listing land on later pages; the listing ends once ``total`` rules
        (as the first page reported it) were requested or a page comes back short.
        """
        url = self.settings.rules_url
        assert url is not None
        path = self._kibana_path("rules/_find")
        size = self.settings.rules_page_size
        rules: dict[str, DetectionRule] = {}
        page, total = 1, None
        async with self._client(url) as client:
            while True:
                body, _ = await client.get_json(path, params={
                    "page": page, "per_page": size, "sort_field": "created_at",
                    "sort_order": "asc"})
                data = body.get("data") if isinstance(body, Mapping) else None
                got_total = body.get("total") if isinstance(body, Mapping) else None
                if not isinstance(data, list) or not isinstance(got_total, int) \
                        or isinstance(got_total, bool):
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"GET {path}: no data array or total")
                total = got_total if total is None else total
                for item in data:
                    record = map_rule(item, source, errors)
                    if record is not None:
                        rules[record.id] = record
                if len(data) < size or page * size >= total:
                    break
                page += 1
        return list(rules.values())

    # -- Elasticsearch: point in time + search_after ------------------------------

    async def _es_hits(self, client: ApiClient, passes: list[Pass]
                       ) -> AsyncIterator[Any]:
        keep_alive = f"{max(1, int(self.settings.pit_keep_alive.total_seconds()))}s"
        index = quote(self.settings.alerts_index, safe=",*-_.")
        body, _ = await client.post_json(f"/{index}/_pit", None, params={"keep_alive": keep_alive})
        pit_id = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(pit_id, str) or not pit_id:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE, "POST _pit: no point-in-time id")
        try:
            for one in passes:
                search_after: list[Any] | None = None
                while True:
                    request: dict[str, Any] = {
                        "size": self.settings.page_size,
                        "query": self._query(one),
                        "pit": {"id": pit_id, "keep_alive": keep_alive},
                        "sort": [{"_shard_doc": "asc"}],
                        "_source": SOURCE_FIELDS,
                        "track_total_hits": False,
                    }
                    if search_after is not None:
                        request["search_after"] = search_after
                    page, _ = await client.post_json("/_search", request)
                    hits, _total = _hits_of(page, "POST /_search")
                    new_id = page.get("pit_id")
                    if isinstance(new_id, str) and new_id:
                        pit_id = new_id  # always use the most recent id
                    for hit in hits:
                        yield hit
                    if len(hits) < self.settings.page_size:
                        break
                    last_sort = hits[-1].get("sort") if isinstance(hits[-1], Mapping) \
                        else None
                    if not isinstance(last_sort, list) or not last_sort:
                        raise CollectorError(
                            ErrorKind.MALFORMED_RESPONSE, "POST /_search: hit without sort values"
                        )
                    search_after = last_sort
        finally:
            try:
                await client.request("DELETE", "/_pit", json_body={"id": pit_id},
                                     accept=frozenset({404}))
            except CollectorError as exc:  # the PIT expires by itself; do not mask errors
                logging.getLogger(__name__).warning("could not close point in time: %s", exc)

    # -- Kibana: time slices --------------------------------------------------------

    async def _kibana_hits(self, client: ApiClient, passes: list[Pass]
                           ) -> AsyncIterator[Any]:
        path = self._kibana_path()
        size = self.settings.page_size
        for one in passes:
            stack = [(one.start, one.end)]
            while stack:
                start, end = stack.pop()
                request = {
                    "query": self._query(one, start, end),
                    "size": size,
                    "_source": SOURCE_FIELDS,
                    "track_total_hits": True,
                }
                page, _ = await client.post_json(path, request)
                hits, total = _hits_of(page, f"POST {path}")
                if total is None:
                    raise CollectorError(
                        ErrorKind.MALFORMED_RESPONSE, f"POST {path}: no exact hits.total"
                    )
                if total <= len(hits):
                    for hit in hits:
                        yield hit
                    continue
                width = end - start
                if width <= timedelta(milliseconds=1):
                    raise CollectorError(
                        ErrorKind.CLIENT,
                        f"POST {path}: {total} alerts within one millisecond exceed page_size "
                        f"{size}; raise page_size or use mode elasticsearch",
                    )
                # Split into as many slices as the total suggests (alerts spread
                # evenly), at least two; uneven slices split again.
                parts = max(2, min(64, math.ceil(total / size * 1.25)))
                step = max(width / parts, timedelta(milliseconds=1))
                edges = sorted({min(start + step * i, end) for i in range(parts)} | {end})
                bounds = list(itertools.pairwise(edges))
                stack.extend(reversed(bounds))

    # -- the run ----------------------------------------------------------------

    def _plan(self, ctx: CollectContext) -> tuple[bool, list[Pass], datetime]:
        """Decide full or incremental, and which passes to run."""
        now = ctx.now.astimezone(UTC)
        # Never later than the previous quarter's start less the margin: the full pass
        # replaces the stored set, so a shorter window would delete alerts a published
        # quarter still reads.
        window_start = ctx.window_start(self.settings.lookback).astimezone(UTC)
        state = ctx.state or {}
        watermark = last_full = None
        try:
            watermark = parse_timestamp(state.get("watermark"))
            last_full = parse_timestamp(state.get("last_full"))
        except (ValueError, TypeError):
            ctx.logger.warning("ignoring unreadable state; running a full pass")
        full = (
            watermark is None or last_full is None
            or now - last_full >= self.settings.full_sync_interval
            or state.get("query_key") != self._query_key()
        )
        end = now + timedelta(milliseconds=1)
        if full:
            return True, [Pass(F_TIMESTAMP, window_start, end)], now
        assert watermark is not None
        since = max(watermark - self.settings.overlap, window_start)
        return False, [
            Pass(F_TIMESTAMP, since, end),
            Pass(F_STATUS_UPDATED, since, end, created_after=window_start),
        ], now

    def _query_key(self) -> str:
        """Changing scope or mapping invalidates incremental state: force a full pass."""
        s = self.settings
        return repr((s.mode, s.alerts_index, s.space, sorted(s.rules), s.query_filter,
                     sorted(s.reason_map.items()), s.closed_without_reason,
                     s.acknowledged_disposition, s.lookback))

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        full, passes, now = self._plan(ctx)
        state = ctx.state or {}
        remembered = state.get("first_change")
        mapper = AlertMapper(
            self.settings, ctx.name, ctx.logger,
            first_change=dict(remembered) if isinstance(remembered, dict) else {},
        )
        alerts: dict[str, SiemAlert] = {}
        position = 0
        async with self._client() as client:
            pages = (self._es_hits if self.settings.mode == "elasticsearch"
                     else self._kibana_hits)(client, passes)
            async with aclosing(pages) as hits:
                async for hit in hits:
                    position += 1
                    try:
                        record = mapper.map(hit)
                    except SkipRecord as exc:
                        if exc.kind is ErrorKind.MALFORMED_RECORD:
                            mapper.errors[exc.kind] += 1
                            ctx.logger.warning("skipping hit #%d (_id %s): %s", position,
                                               hit.get("_id") if isinstance(hit, Mapping)
                                               else None, exc)
                        continue
                    alerts[record.id] = record  # passes overlap: last copy wins
        first_change = {
            k: v for k, v in mapper.first_change.items()
            if k in alerts or not full  # a full pass drops alerts no longer seen
        }
        ctx.logger.info("%s pass: %d alerts from %d hits", "full" if full else "incremental",
                        len(alerts), position)
        complete = {RecordKind.SIEM_ALERT} if full else set()
        rules: list[DetectionRule] = []
        if self.settings.rules_url is not None:
            # The rule listing is whole every run: it replaces the stored set.
            rules = await self._rules(ctx.name, mapper.errors)
            complete.add(RecordKind.DETECTION_RULE)
            ctx.logger.info("%d detection rules", len(rules))
        return CollectionResult(
            siem_alerts=list(alerts.values()),
            detection_rules=rules,
            complete=frozenset(complete),
            state={
                "watermark": _iso(now),
                "last_full": _iso(now) if full else state.get("last_full"),
                "query_key": self._query_key(),
                "first_change": first_change,
            },
            record_errors=mapper.errors,
        )

    async def check(self, ctx: CollectContext) -> list[str]:
        """One size-0 search: proves the URL, the credentials and the index privilege."""
        body = {"query": {"match_all": {}}, "size": 0, "track_total_hits": True}
        if self.settings.mode == "elasticsearch":
            index = quote(self.settings.alerts_index, safe=",*-_.")
            path = f"/{index}/_search"
        else:
            path = self._kibana_path()
            body = {"query": {"match_all": {}}, "size": 1, "track_total_hits": True}
        try:
            async with self._client() as client:
                page, _ = await client.post_json(path, body)
                _hits_of(page, f"POST {path}")
        except CollectorError as exc:
            return [f"{exc.kind.value}: {exc}"]
        return []
