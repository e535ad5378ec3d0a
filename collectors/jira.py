"""The ``jira`` collector: vulnerability tickets as findings, incident tickets as incidents.

Two JQL queries, one per record kind, run against either deployment:

* **Jira Cloud**: ``POST /rest/api/3/search/jql`` (the enhanced JQL search) with token
  pagination: each response carries ``nextPageToken`` (absent/null on the last page,
  plus ``isLast``) and no ``total``. The older ``/rest/api/{2,3}/search`` endpoints were
  removed on Cloud (Atlassian CHANGE-2046) and answer ``410 Gone``; the collector turns
  that into an error that says so.
* **Jira Data Center / Server**: ``GET /rest/api/2/search`` with ``startAt`` /
  ``maxResults`` / ``total``. The first page gives ``total`` and the page size the
  server really applies, so the remaining pages are fetched concurrently (bounded by
  ``http.concurrency``).

``deployment: auto`` asks ``/rest/api/2/serverInfo`` once (``deploymentType`` is
``Cloud`` on Cloud), first without any credential (the endpoint is anonymous on both
deployments, and a Data Center server answers 401 to Cloud's Basic credential even
there), then, only if that is refused, with each configured credential in turn. Every
later request carries only the credential of the detected deployment. The answer is
kept for the collector's life and in the run state; a 401 with a cached answer probes
again.

Only the fields the mappings need are requested (``fields=``), plus the changelog
(``expand=changelog``) because the resolution date alone lies in two common cases: a
workflow that reopens a ticket without clearing its resolution (status back in an open
category, ``resolutiondate`` still set: the ticket is open again with its original
opened time), and a workflow that closes without setting a resolution (status in the
*done* category, no ``resolutiondate``: the fix time is the last status change).

Incremental runs: after a full sync the queries are narrowed to
``updated >= "<watermark - overlap>"``. JQL reads such dates in the *Jira user's* time
zone, so the zone comes from ``/rest/api/{2,3}/myself`` (``timeZone``) and the
watermark is written in it as ``yyyy/MM/dd HH:mm``, floored to the minute. Every
``full_resync_interval`` (and whenever the config changes) a full sync returns the
complete set, so deleted tickets and tickets moved out of the JQL disappear.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import Field, field_validator, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
    SourceGauge,
)
from collectors.http import ApiClient, HttpSettings, decode_json, parse_timestamp
from collectors.records import Finding, FindingState, Incident, RecordKind, Severity
from collectors.settings import Duration, PositiveDuration, Secret, StrictModel, TimeZoneName

CLOUD_PAGE_SIZE = 100  # search/jql: up to 5000 for id/key only, 100 once fields are asked
DC_PAGE_SIZE = 1000  # DC/Server search: capped by jira.search.views.default.max (1000)
MAX_PAGES = 100_000  # a runaway-pagination guard, far above any real result set
JQL_DATE_FORMAT = "%Y/%m/%d %H:%M"
CVE_PATTERN = re.compile(r"\bCVE-\d{4}-\d{4,}\b", re.IGNORECASE)
SERVER_INFO = "/rest/api/2/serverInfo"  # anonymous on Cloud and DC alike (Atlassian docs)
# Names for messages: which credential, never its value.
CREDENTIAL_NAMES = {"cloud": "email + api_token", "datacenter": "personal_access_token"}
NEEDED_SETTINGS = {"cloud": "email and api_token", "datacenter": "personal_access_token"}
DEPLOYMENT_NAMES = {"cloud": "Cloud", "datacenter": "Data Center / Server"}

T = TypeVar("T")

DEFAULT_DISMISSED_RESOLUTIONS = (
    "Won't Do", "Won't Fix", "Duplicate", "False Positive", "Risk Accepted",
    "Cannot Reproduce",
)
# Keys are compared case-insensitively. Covers Jira's default priority schemes (Cloud:
# Highest..Lowest; older DC: Blocker..Trivial), P1..P5 naming and plain severity words.
DEFAULT_SEVERITY_MAP: dict[str, Severity] = {
    "highest": Severity.CRITICAL, "blocker": Severity.CRITICAL,
    "critical": Severity.CRITICAL, "p1": Severity.CRITICAL, "sev1": Severity.CRITICAL,
    "high": Severity.HIGH, "major": Severity.HIGH, "p2": Severity.HIGH,
    "sev2": Severity.HIGH,
    "medium": Severity.MEDIUM, "moderate": Severity.MEDIUM, "p3": Severity.MEDIUM,
    "sev3": Severity.MEDIUM,
    "low": Severity.LOW, "minor": Severity.LOW, "lowest": Severity.LOW,
    "trivial": Severity.LOW, "p4": Severity.LOW, "p5": Severity.LOW, "sev4": Severity.LOW,
}

DATE_TYPES = frozenset({"datetime", "date"})
SEVERITY_TYPES = frozenset({"option", "string", "priority", "array", "option-with-child",
                            "number"})
CVE_TYPES = frozenset({"string", "array"})


# -- configuration -------------------------------------------------------------------


class SeveritySettings(StrictModel):
    """Where a ticket's severity comes from and how its value maps to a Severity."""

    source: Literal["priority", "label", "field"] = "priority"
    field: str | None = Field(default=None, description="custom field id for source=field")
    label_prefix: str = Field(default="severity:", description="for source=label")
    map: dict[str, Severity] = Field(
        default_factory=dict, description="merged over the defaults, case-insensitive")
    replace_default_map: bool = False
    default: Severity | None = Field(
        default=None, description="used when a ticket has no value at all")

    @model_validator(mode="after")
    def _field_for_source(self) -> SeveritySettings:
        if self.source == "field" and not self.field:
            raise ValueError("severity.source 'field' needs severity.field (a field id)")
        return self

    def lookup(self) -> dict[str, Severity]:
        base = {} if self.replace_default_map else dict(DEFAULT_SEVERITY_MAP)
        base.update({k.strip().lower(): v for k, v in self.map.items()})
        return base


class VulnerabilitySettings(StrictModel):
    jql: str
    opened_field: str = "created"
    dismissed_resolutions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DISMISSED_RESOLUTIONS))
    severity: SeveritySettings = Field(default_factory=SeveritySettings)
    cve_field: str | None = Field(default=None,
                                  description="field holding CVE ids; default: the summary")
    asset_field: str | None = "project"


class PostmortemSettings(StrictModel):
    """A post-mortem is documented when any configured signal is present."""

    linked_issue_types: list[str] = Field(default_factory=list)
    link_types: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    field: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.linked_issue_types or self.link_types or self.labels or self.field)


class IncidentSettings(StrictModel):
    jql: str
    started_field: str | None = None
    detected_field: str | None = Field(default=None, description="default: created")
    contained_field: str | None = None
    resolved_field: str | None = Field(default=None, description="default: resolutiondate")
    contained_falls_back_to_resolved: bool = True
    severity: SeveritySettings = Field(default_factory=SeveritySettings)
    postmortem: PostmortemSettings = Field(default_factory=PostmortemSettings)


class JiraSettings(StrictModel):
    """Config of one ``type: jira`` collector; every field is in docs/collectors/jira.md."""

    base_url: str
    deployment: Literal["auto", "cloud", "datacenter"] = "auto"
    email: str | None = None
    api_token: Secret | None = None
    personal_access_token: Secret | None = None
    vulnerabilities: VulnerabilitySettings | None = None
    incidents: IncidentSettings | None = None
    incremental: bool = True
    overlap: Duration = timedelta(minutes=10)
    full_resync_interval: PositiveDuration = timedelta(hours=24)
    page_size: int | None = Field(default=None, ge=1, le=5000)
    changelog: bool = True
    time_zone: TimeZoneName | None = Field(default=None,
                                  description="override the zone read from /myself")
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http://)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> JiraSettings:
        if self.vulnerabilities is None and self.incidents is None:
            raise ValueError("configure vulnerabilities, incidents, or both")
        cloud_auth = self.email is not None and self.api_token is not None
        if (self.email is None) != (self.api_token is None):
            raise ValueError("Jira Cloud needs both email and api_token")
        if self.deployment == "cloud" and not cloud_auth:
            raise ValueError("deployment cloud needs email and api_token")
        if self.deployment == "datacenter" and self.personal_access_token is None:
            raise ValueError("deployment datacenter needs personal_access_token")
        if not cloud_auth and self.personal_access_token is None:
            raise ValueError("set email + api_token (Cloud) or personal_access_token (DC)")
        return self


# -- helpers ---------------------------------------------------------------------------


def split_order_by(jql: str) -> tuple[str, str]:
    """Split ``jql`` into its filter and its ``ORDER BY`` clause (outside quotes)."""
    quote: str | None = None
    i = 0
    lowered = jql.lower()
    while i < len(jql):
        ch = jql[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif lowered.startswith("order", i) and (i == 0 or not jql[i - 1].isalnum()):
            match = re.match(r"order\s+by\b", lowered[i:])
            if match:
                return jql[:i].strip(), jql[i:].strip()
        i += 1
    return jql.strip(), ""


def build_jql(base: str, since: str | None, default_order: str) -> str:
    """The query to send: the user's filter, narrowed to ``updated >= since``."""
    where, order = split_order_by(base)
    if since is not None:
        clause = f'updated >= "{since}"'
        where = f"({where}) AND {clause}" if where else clause
    order = order or default_order
    return f"{where} {order}".strip()


def format_jql_time(moment: datetime, zone: tzinfo) -> str:
    """A UTC instant as JQL expects it: the user's wall-clock time, floored to a minute."""
    return moment.astimezone(zone).strftime(JQL_DATE_FORMAT)


def _text_of(value: Any) -> str:
    """Plain text from a string, an option, a list, or an ADF document (API v3)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text_of(v) for v in value)
    if isinstance(value, Mapping):
        if isinstance(value.get("text"), str):
            return value["text"]
        if "content" in value:  # an ADF node; content that is no list holds no text
            content = value["content"]
            return " ".join(_text_of(v) for v in content) if isinstance(content, list) else ""
        for key in ("value", "name", "key"):
            if isinstance(value.get(key), str):
                return value[key]
    return ""


def _scalar_name(value: Any) -> str | None:
    """The display value of a priority / option / string / first of a list."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError(f"unexpected boolean {value!r}")
    if isinstance(value, int | float):
        return str(value).removesuffix(".0")
    if isinstance(value, list):
        return _scalar_name(value[0])
    if isinstance(value, Mapping):
        for key in ("value", "name"):
            if isinstance(value.get(key), str):
                return value[key]
    raise ValueError(f"unexpected value shape {type(value).__name__}")


class SkipTicket(ValueError):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Mapper:
    """Turns issue JSON into records; counts and logs what it has to skip."""

    settings: JiraSettings
    source: str
    logger: logging.Logger
    zone: tzinfo
    errors: Counter[ErrorKind] = field(default_factory=Counter)
    reopened: Counter[str] = field(default_factory=Counter)
    _logged: set[tuple[str, str]] = field(default_factory=set)
    _maps: dict[int, dict[str, Severity]] = field(default_factory=dict)
    dismissed: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.settings.vulnerabilities is not None:
            self.dismissed = frozenset(
                r.strip().lower() for r in self.settings.vulnerabilities.dismissed_resolutions)

    def unmapped(self, what: str, value: str, key: str) -> None:
        self.errors[ErrorKind.UNMAPPED_VALUE] += 1
        if (what, value) not in self._logged:
            self._logged.add((what, value))
            self.logger.warning("ticket %s: unknown %s %r (logged once per value)",
                                key, what, value)

    def time(self, fields: Mapping[str, Any], name: str | None) -> datetime | None:
        if not name:
            return None
        value = fields.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise SkipTicket(ErrorKind.MALFORMED_RECORD,
                             f"{name} is a {type(value).__name__}, not a date")
        try:
            if len(value) == 10:  # a date-only field: midnight in the user's zone
                day = datetime.strptime(value, "%Y-%m-%d")
                return day.replace(tzinfo=self.zone).astimezone(UTC)
            return parse_timestamp(value)
        except ValueError as exc:
            raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"{name}: {exc}") from None

    def severity(self, fields: Mapping[str, Any], cfg: SeveritySettings,
                 key: str) -> tuple[Severity | None, bool]:
        """(severity, known): known is False when a value was present but unmapped."""
        raw: str | None
        try:
            if cfg.source == "priority":
                raw = _scalar_name(fields.get("priority"))
            elif cfg.source == "field":
                raw = _scalar_name(fields.get(cfg.field or ""))
            else:
                labels = fields.get("labels") or []
                prefix = cfg.label_prefix.lower()
                raw = next((lab[len(prefix):] for lab in labels
                            if isinstance(lab, str) and lab.lower().startswith(prefix)), None)
        except ValueError as exc:
            raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"severity: {exc}") from None
        if raw is None:
            return cfg.default, True
        table = self._maps.get(id(cfg))
        if table is None:
            table = self._maps[id(cfg)] = cfg.lookup()
        mapped = table.get(raw.strip().lower())
        if mapped is None:
            self.unmapped("severity", raw, key)
            return None, False
        return mapped, True

    def resolution(self, issue: Mapping[str, Any], fields: Mapping[str, Any],
                   kind: str) -> tuple[bool, datetime | None, str | None]:
        """(done, resolved_at, resolution name), with the changelog correcting the lies.

        Done means the status category is ``done``; without a status in the response
        the resolution decides. A ticket whose status is open again but still carries a
        resolution (a reopen transition that did not clear it) is open. A done ticket
        without ``resolutiondate`` was closed at its last status change.
        """
        key = str(issue.get("key"))
        resolution = fields.get("resolution")
        try:
            name = _scalar_name(resolution) if isinstance(resolution, Mapping) else None
        except ValueError as exc:  # a resolution whose name is no text: this ticket only
            raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"resolution: {exc}") from None
        status = fields.get("status")
        category = None
        if isinstance(status, Mapping) and isinstance(status.get("statusCategory"), Mapping):
            category = status["statusCategory"].get("key")
        done = category == "done" if category is not None else resolution is not None
        resolved_at = self.time(fields, "resolutiondate")
        history = _changelog(issue)
        if _was_reopened(history):
            self.reopened[kind] += 1
        if not done:
            if resolved_at is not None or name is not None:
                self.logger.debug("ticket %s: reopened, stale resolution ignored", key)
            return False, None, None
        if resolved_at is None:
            resolved_at = _last_status_change(history)
            if resolved_at is None:
                raise SkipTicket(ErrorKind.MALFORMED_RECORD,
                                 "done without resolutiondate or status history")
        return True, resolved_at, name


def _changelog(issue: Mapping[str, Any]) -> list[tuple[datetime, list[Mapping[str, Any]]]]:
    log = issue.get("changelog")
    histories = log.get("histories") if isinstance(log, Mapping) else None
    out = []
    for entry in histories or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("items"), list):
            continue
        try:
            at = parse_timestamp(entry.get("created"))
        except ValueError:
            continue
        if at is not None:
            out.append((at, [i for i in entry["items"] if isinstance(i, Mapping)]))
    out.sort(key=lambda pair: pair[0])  # Cloud sends newest first, DC oldest first
    return out


def _was_reopened(history: list[tuple[datetime, list[Mapping[str, Any]]]]) -> bool:
    return any(item.get("field") == "resolution" and item.get("from") and not item.get("to")
               for _, items in history for item in items)


def _last_status_change(history: list[tuple[datetime, list[Mapping[str, Any]]]]
                        ) -> datetime | None:
    for at, items in reversed(history):
        if any(item.get("field") in ("status", "resolution") for item in items):
            return at
    return None


def _issue_parts(issue: Any) -> tuple[str, str, Mapping[str, Any]]:
    if not isinstance(issue, Mapping):
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, "issue is not an object")
    issue_id, key, fields = issue.get("id"), issue.get("key"), issue.get("fields")
    if not isinstance(issue_id, str | int) or isinstance(issue_id, bool) or not str(issue_id):
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, "issue without id")
    if not isinstance(fields, Mapping):
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"issue {issue_id} without fields")
    return str(issue_id), str(key or issue_id), fields


def map_finding(issue: Any, mapper: Mapper) -> Finding | None:
    """A vulnerability ticket as a Finding, or None when its severity is unmapped."""
    cfg = mapper.settings.vulnerabilities
    assert cfg is not None
    issue_id, key, fields = _issue_parts(issue)
    opened = mapper.time(fields, cfg.opened_field) or mapper.time(fields, "created")
    if opened is None:
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"{key}: no {cfg.opened_field}")
    severity, known = mapper.severity(fields, cfg.severity, key)
    if not known:
        return None
    if severity is None:
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"{key}: no severity value")
    done, resolved_at, resolution = mapper.resolution(issue, fields, "vulnerabilities")
    state = FindingState.OPEN
    reason = None
    if done:
        if resolution is not None and resolution.strip().lower() in mapper.dismissed:
            state, reason = FindingState.DISMISSED, resolution
        else:
            state = FindingState.FIXED
    cve_text = _text_of(fields.get(cfg.cve_field)) if cfg.cve_field else _text_of(
        fields.get("summary"))
    cves = tuple(dict.fromkeys(m.upper() for m in CVE_PATTERN.findall(cve_text)))
    asset = None
    if cfg.asset_field:
        value = fields.get(cfg.asset_field)
        if isinstance(value, Mapping) and "key" in value:
            asset = value["key"]
            if not isinstance(asset, str | None):  # the store writes text, not a list
                raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"{key}: {cfg.asset_field} "
                                 f"key is a {type(asset).__name__}, not text")
        else:
            asset = _text_of(value)
        asset = asset or None
    try:
        return Finding(id=f"jira:{issue_id}", source=mapper.source, severity=severity,
                       opened_at=opened, state=state, resolved_at=resolved_at,
                       dismissed_reason=reason, asset=asset, cve_ids=cves,
                       category="ticket")
    except ValueError as exc:
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"{key}: {exc}") from None


def _postmortem(fields: Mapping[str, Any], cfg: PostmortemSettings) -> bool | None:
    if not cfg.configured:
        return None
    wanted_labels = {lab.lower() for lab in cfg.labels}
    labels = fields.get("labels") or []
    if any(isinstance(lab, str) and lab.lower() in wanted_labels for lab in labels):
        return True
    if cfg.field:
        text = _text_of(fields.get(cfg.field)).strip().lower()
        if text and text not in ("no", "false", "none", "n/a"):
            return True
    types = {t.lower() for t in cfg.linked_issue_types}
    link_names = {t.lower() for t in cfg.link_types}
    for link in fields.get("issuelinks") or []:
        if not isinstance(link, Mapping):
            continue
        link_type = link.get("type")
        if isinstance(link_type, Mapping) and str(link_type.get("name", "")).lower() in \
                link_names:
            return True
        for side in ("inwardIssue", "outwardIssue"):
            other = link.get(side)
            other_fields = other.get("fields") if isinstance(other, Mapping) else None
            issuetype = other_fields.get("issuetype") if isinstance(
                other_fields, Mapping) else None
            if isinstance(issuetype, Mapping) and str(issuetype.get("name", "")).lower() \
                    in types:
                return True
    return False


def map_incident(issue: Any, mapper: Mapper) -> Incident:
    """An incident ticket as an Incident; fallbacks are documented in the docs."""
    cfg = mapper.settings.incidents
    assert cfg is not None
    issue_id, key, fields = _issue_parts(issue)
    detected = mapper.time(fields, cfg.detected_field) or mapper.time(fields, "created")
    if detected is None:
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"{key}: no detection time")
    started = mapper.time(fields, cfg.started_field)
    done, resolved_at, _ = mapper.resolution(issue, fields, "incidents")
    # A reopened incident is not resolved, whatever a stale resolved field says.
    resolved = (mapper.time(fields, cfg.resolved_field) or resolved_at) if done else None
    contained = mapper.time(fields, cfg.contained_field)
    if contained is None and cfg.contained_falls_back_to_resolved:
        contained = resolved
    severity, _known = mapper.severity(fields, cfg.severity, key)
    try:
        return Incident(id=f"jira:{issue_id}", source=mapper.source, detected_at=detected,
                        severity=severity, started_at=started, contained_at=contained,
                        resolved_at=resolved,
                        postmortem=_postmortem(fields, cfg.postmortem))
    except ValueError as exc:
        raise SkipTicket(ErrorKind.MALFORMED_RECORD, f"{key}: {exc}") from None


# -- the API ------------------------------------------------------------------------------


def _error_messages(response: httpx.Response) -> str:
    """Jira's ``errorMessages`` and ``errors`` from an error body, shortened."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):  # as in http.decode_json (the digit limit too)
        return "no JSON error body"
    messages: list[str] = []
    if isinstance(body, Mapping):
        for message in body.get("errorMessages") or []:
            if isinstance(message, str):
                messages.append(message)
        errors = body.get("errors")
        if isinstance(errors, Mapping):
            messages.extend(f"{k}: {v}" for k, v in errors.items() if isinstance(v, str))
    return "; ".join(messages)[:500] or "no error message"


@dataclass
class Query:
    name: str  # "vulnerabilities" or "incidents": also the config section
    jql: str
    fields: list[str]


@dataclass
class Page:
    issues: list[Any]
    consistent: bool = True


class JiraApi:
    """Search and metadata calls for one deployment type."""

    def __init__(self, client: ApiClient, deployment: str, page_size: int | None,
                 changelog: bool) -> None:
        self.client = client
        self.cloud = deployment == "cloud"
        self.version = "3" if self.cloud else "2"
        self.page_size = page_size or (CLOUD_PAGE_SIZE if self.cloud else DC_PAGE_SIZE)
        self.changelog = changelog

    async def myself_zone(self) -> Any:
        """The raw ``timeZone`` of ``/myself`` (checked by the caller); the request
        itself proves the credential works."""
        body, _ = await self.client.get_json(f"/rest/api/{self.version}/myself")
        return body.get("timeZone") if isinstance(body, Mapping) else None

    async def field_schema(self) -> dict[str, str | None]:
        body, _ = await self.client.get_json(f"/rest/api/{self.version}/field")
        if not isinstance(body, list):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"GET /rest/api/{self.version}/field: not a list")
        out: dict[str, str | None] = {}
        for item in body:
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                schema = item.get("schema")
                out[item["id"]] = schema.get("type") if isinstance(schema, Mapping) else None
        return out

    def _check_status(self, response: httpx.Response, name: str) -> None:
        path = response.request.url.path
        if response.status_code == 400:
            raise CollectorError(
                ErrorKind.CLIENT,
                f"{name}: Jira rejected the JQL (HTTP 400 on {path}): "
                f"{_error_messages(response)}")
        if response.status_code == 410:
            raise CollectorError(
                ErrorKind.CLIENT,
                f"{name}: HTTP 410 Gone on {path}: this is Jira Cloud, which removed "
                "/rest/api/2/search and /rest/api/3/search (Atlassian CHANGE-2046); set "
                "deployment: cloud (or auto) so the collector uses /rest/api/3/search/jql")

    async def search(self, query: Query, *, limit: int | None = None
                     ) -> AsyncIterator[Page]:
        """Every page of ``query``; ``limit`` asks for one small page (check-config)."""
        if self.cloud:
            async for page in self._search_cloud(query, limit):
                yield page
        else:
            async for page in self._search_dc(query, limit):
                yield page

    async def _search_cloud(self, query: Query, limit: int | None) -> AsyncIterator[Page]:
        path = "/rest/api/3/search/jql"
        body: dict[str, Any] = {"jql": query.jql, "maxResults": limit or self.page_size,
                                "fields": query.fields}
        if self.changelog and limit is None:
            body["expand"] = "changelog"
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            response = await self.client.request("POST", path, json_body=body,
                                                 accept=frozenset({400, 410}))
            self._check_status(response, query.name)
            data = decode_json(response)
            issues = data.get("issues") if isinstance(data, Mapping) else None
            if not isinstance(issues, list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"POST {path}: response has no issues array")
            yield Page(issues)
            token = data.get("nextPageToken")
            is_last = data.get("isLast")
            if limit is not None or is_last is True or (token is None and is_last is None):
                return
            if not isinstance(token, str) or not token:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"POST {path}: isLast is false but no nextPageToken")
            if token in seen or not issues:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"POST {path}: pagination does not advance")
            seen.add(token)
            body["nextPageToken"] = token
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"POST {path}: over {MAX_PAGES} pages")

    async def _dc_page(self, query: Query, start: int, size: int) -> Mapping[str, Any]:
        path = "/rest/api/2/search"
        params: dict[str, Any] = {"jql": query.jql, "startAt": start, "maxResults": size,
                                  "fields": ",".join(query.fields), "validateQuery": "true"}
        if self.changelog and size > 1:
            params["expand"] = "changelog"
        response = await self.client.request("GET", path, params=params,
                                             accept=frozenset({400, 410}))
        self._check_status(response, query.name)
        data = decode_json(response)
        if not isinstance(data, Mapping) or not isinstance(data.get("issues"), list):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"GET {path}: response has no issues array")
        for key in ("total", "startAt", "maxResults"):
            value = data.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"GET {path}: no integer {key}")
        if data["startAt"] != start:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"GET {path}: asked startAt={start}, got {data['startAt']}")
        return data

    async def _search_dc(self, query: Query, limit: int | None) -> AsyncIterator[Page]:
        first = await self._dc_page(query, 0, limit or self.page_size)
        yield Page(first["issues"])
        total, step = first["total"], first["maxResults"]
        if limit is not None or len(first["issues"]) >= total:
            return
        if step <= 0 or not first["issues"]:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 "GET /rest/api/2/search: total > 0 but an empty first page")
        # A range, not a list: a hostile total (10**12) is refused here, before anything
        # is allocated for it (len of a range costs nothing).
        starts = range(step, total, step)
        if len(starts) > MAX_PAGES:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE, "over the page limit")
        batch = max(1, self.client.settings.concurrency)
        for offset in range(0, len(starts), batch):
            chunk = starts[offset:offset + batch]
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(self._dc_page(query, s, step)) for s in chunk]
            except BaseExceptionGroup as errors:
                raise _first_leaf(errors) from None
            pages = [task.result() for task in tasks]
            for start, page in zip(chunk, pages, strict=True):
                expected = min(step, total - start)
                consistent = page["total"] == total and len(page["issues"]) == expected
                yield Page(page["issues"], consistent)


# -- the collector ------------------------------------------------------------------------


def _fingerprint(settings: JiraSettings) -> str:
    data = settings.model_dump(mode="json", exclude={"api_token", "personal_access_token",
                                                     "http"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _first_leaf(errors: BaseExceptionGroup) -> BaseException:
    """The first CollectorError of a task group (else its first error), so the core
    sees one failure with its kind rather than an ExceptionGroup."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [errors]
    while stack:
        item = stack.pop(0)
        if isinstance(item, BaseExceptionGroup):
            stack[:0] = list(item.exceptions)
        else:
            leaves.append(item)
    return next((e for e in leaves if isinstance(e, CollectorError)), leaves[0])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _deployment_of(response: httpx.Response) -> str:
    """``cloud`` or ``datacenter`` from a serverInfo answer: ``deploymentType`` is
    ``Cloud`` on Cloud, ``Server`` (or ``DataCenter``) on Data Center / Server."""
    body = decode_json(response)
    kind = body.get("deploymentType") if isinstance(body, Mapping) else None
    if not isinstance(kind, str):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                             f"GET {SERVER_INFO}: no deploymentType")
    return "cloud" if kind.lower() == "cloud" else "datacenter"


def _refused(exc: CollectorError, deployment: str) -> CollectorError:
    """A 401 naming which credential was refused (its name, never its value)."""
    return CollectorError(ErrorKind.AUTH, f"{exc}: Jira {DEPLOYMENT_NAMES[deployment]} "
                          f"refused {CREDENTIAL_NAMES[deployment]} (wrong, expired or "
                          "revoked?)")


def _profile_zone(value: Any, logger: logging.Logger) -> str:
    """The API user's profile zone from ``/myself``, or UTC when it has none or one
    this host does not know. The value is server content about a person, so the
    warning says what kind of value it was, not what it says."""
    if value is None or value == "":
        return "UTC"
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return value
        described = f"a text of {len(value)} characters"
    else:
        described = f"a {type(value).__name__}"
    logger.warning("the Jira API user's profile time zone (/myself timeZone: %s) is not "
                   "an IANA zone known here; JQL dates use UTC (set time_zone to choose "
                   "one)", described)
    return "UTC"


def _parse_state_time(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


class JiraCollector(Collector):
    """Vulnerability and incident tickets from Jira; see the module docstring."""

    config_model: ClassVar[type[StrictModel]] = JiraSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.FINDING,
                                                        RecordKind.INCIDENT})
    settings: JiraSettings

    def __init__(self, name: str, settings: StrictModel, **client_options: Any) -> None:
        super().__init__(name, settings)
        self._client_options = client_options  # tests and benchmarks: sleep=, transport=
        self._detected: str | None = None  # deployment: auto, once probed or read from state

    def _authorization(self, deployment: str) -> str | None:
        """The ``Authorization`` value of the credential ``deployment`` uses, if set.

        Cloud takes Basic e-mail + API token, Data Center / Server a personal access
        token as Bearer; each answers 401 to the other's, so exactly one is ever sent.
        The value is a secret: it goes into a request header and nowhere else.
        """
        s = self.settings
        if deployment == "cloud":
            if s.email is None or s.api_token is None:
                return None
            pair = f"{s.email}:{s.api_token.get_secret_value()}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        if s.personal_access_token is None:
            return None
        return f"Bearer {s.personal_access_token.get_secret_value()}"

    def _client(self, deployment: str) -> ApiClient:
        """The client for every request after detection, with that deployment's
        credential only (benchmarks wrap this to count requests)."""
        s = self.settings
        authorization = self._authorization(deployment)
        if authorization is None:
            other = "datacenter" if deployment == "cloud" else "cloud"
            raise CollectorError(
                ErrorKind.CONFIG,
                f"{s.base_url} is Jira {DEPLOYMENT_NAMES[deployment]}, which needs "
                f"{NEEDED_SETTINGS[deployment]}; only {CREDENTIAL_NAMES[other]} (Jira "
                f"{DEPLOYMENT_NAMES[other]}) is configured")
        headers = {"Accept": "application/json", "Authorization": authorization}
        return ApiClient(s.base_url, s.http, headers=headers, **self._client_options)

    async def _probe(self) -> str:
        """Ask ``serverInfo`` which deployment this is, sending as little as possible.

        Atlassian documents ``serverInfo`` as readable anonymously, so the first try
        carries no credential at all: a wrong one would get 401 even there (a Data
        Center server refuses Cloud's Basic e-mail + token). Only when the anonymous
        try is refused (DC instances may block anonymous access: 401/403, or a login
        page) does each configured credential follow, the PAT first, then Basic.
        """
        s = self.settings
        tried: list[str] = []
        unauthenticated = False
        async with ApiClient(s.base_url, s.http, headers={"Accept": "application/json"},
                             **self._client_options) as client:
            for deployment in (None, "datacenter", "cloud"):
                authorization = None if deployment is None else self._authorization(
                    deployment)
                if deployment is not None and authorization is None:
                    continue
                label = ("anonymously" if deployment is None
                         else f"with {CREDENTIAL_NAMES[deployment]}")
                response = await client.request(
                    "GET", SERVER_INFO,
                    headers={"Authorization": authorization} if authorization else None,
                    accept=frozenset({401, 403}))
                if response.status_code in (401, 403):
                    unauthenticated = unauthenticated or response.status_code == 401
                    tried.append(f"{label} (HTTP {response.status_code})")
                    continue
                try:
                    return _deployment_of(response)
                except CollectorError:
                    if deployment is not None:
                        raise
                    tried.append(f"{label} (no serverInfo JSON: a login page?)")
        raise CollectorError(
            ErrorKind.AUTH if unauthenticated else ErrorKind.PERMISSION,
            f"GET {SERVER_INFO} (deployment: auto) was refused {', '.join(tried)}; check "
            "the credentials, or set deployment: cloud or datacenter")

    async def _deployment(self, state: Mapping[str, Any]) -> tuple[str, bool]:
        """(deployment, cached): cached is True when it was not asked of the server
        just now, so a 401 may mean the cache is stale rather than the credential bad.

        ``auto`` probes once for the collector's life (and once per base URL in the
        run state); a cached answer whose credential is no longer configured is ignored.
        """
        s = self.settings
        if s.deployment != "auto":
            return s.deployment, False
        remembered = self._detected
        if remembered is None and state.get("base_url") == s.base_url:
            saved = state.get("deployment")
            remembered = saved if saved in ("cloud", "datacenter") else None
        if remembered is not None and self._authorization(remembered) is not None:
            self._detected = remembered
            return remembered, True
        self._detected = await self._probe()
        return self._detected, False

    async def _with_deployment(self, state: Mapping[str, Any], logger: logging.Logger,
                               body: Callable[[str], Awaitable[T]]) -> T:
        """Run ``body`` with the deployment; on a 401 with a cached deployment, probe
        again and, when the answer changed, run once more with the other credential.
        An auth error names the credential that was refused, never its value."""
        deployment, cached = await self._deployment(state)
        try:
            return await body(deployment)
        except CollectorError as exc:
            if exc.kind is not ErrorKind.AUTH:
                raise
            if not cached:
                raise _refused(exc, deployment) from None
            first = exc
        self._detected = None  # if the probe fails too, the next run probes again
        self._detected = fresh = await self._probe()
        if fresh == deployment:
            raise _refused(first, deployment)
        logger.warning("the cached deployment type (%s) got HTTP 401; serverInfo now says "
                       "%s: retrying with its credential", deployment, fresh)
        try:
            return await body(fresh)
        except CollectorError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise _refused(exc, fresh) from None
            raise

    def _queries(self, since: str | None, cloud: bool) -> list[Query]:
        s = self.settings
        order = "" if cloud else "ORDER BY created ASC, key ASC"
        base = ["summary", "status", "resolution", "resolutiondate", "created", "updated"]
        out = []
        if s.vulnerabilities is not None:
            v = s.vulnerabilities
            wanted = [*base, v.opened_field, *self._severity_fields(v.severity)]
            wanted += [f for f in (v.cve_field, v.asset_field) if f]
            out.append(Query("vulnerabilities", build_jql(v.jql, since, order),
                             list(dict.fromkeys(wanted))))
        if s.incidents is not None:
            i = s.incidents
            wanted = [*base, *self._severity_fields(i.severity)]
            wanted += [f for f in (i.started_field, i.detected_field, i.contained_field,
                                   i.resolved_field, i.postmortem.field) if f]
            if i.postmortem.labels:
                wanted.append("labels")
            if i.postmortem.linked_issue_types or i.postmortem.link_types:
                wanted.append("issuelinks")
            out.append(Query("incidents", build_jql(i.jql, since, order),
                             list(dict.fromkeys(wanted))))
        return out

    @staticmethod
    def _severity_fields(cfg: SeveritySettings) -> list[str]:
        return {"priority": ["priority"], "label": ["labels"],
                "field": [cfg.field or ""]}[cfg.source]

    def _field_expectations(self) -> list[tuple[str, str, frozenset[str] | None]]:
        """(setting, field id, accepted schema types or None for any)."""
        s = self.settings
        out: list[tuple[str, str, frozenset[str] | None]] = []
        if s.vulnerabilities is not None:
            v = s.vulnerabilities
            out.append(("vulnerabilities.opened_field", v.opened_field, DATE_TYPES))
            if v.severity.source == "field" and v.severity.field:
                out.append(("vulnerabilities.severity.field", v.severity.field,
                            SEVERITY_TYPES))
            if v.cve_field:
                out.append(("vulnerabilities.cve_field", v.cve_field, CVE_TYPES))
            if v.asset_field:
                out.append(("vulnerabilities.asset_field", v.asset_field, None))
        if s.incidents is not None:
            i = s.incidents
            for name in ("started_field", "detected_field", "contained_field",
                         "resolved_field"):
                value = getattr(i, name)
                if value:
                    out.append((f"incidents.{name}", value, DATE_TYPES))
            if i.severity.source == "field" and i.severity.field:
                out.append(("incidents.severity.field", i.severity.field, SEVERITY_TYPES))
            if i.postmortem.field:
                out.append(("incidents.postmortem.field", i.postmortem.field, None))
        return out

    def _field_problems(self, schema: Mapping[str, str | None]) -> list[str]:
        problems = []
        for setting, field_id, accepted in self._field_expectations():
            if field_id not in schema:
                problems.append(f"{setting}: field {field_id!r} does not exist in this Jira "
                                "(or the account cannot see it); use a field id such as "
                                "customfield_10042")
                continue
            kind = schema[field_id]
            if accepted is not None and kind is not None and kind not in accepted:
                problems.append(f"{setting}: field {field_id!r} is of type {kind!r}, "
                                f"expected one of {sorted(accepted)}")
        return problems

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        state = dict(ctx.state or {})
        return await self._with_deployment(
            state, ctx.logger, lambda deployment: self._collect(ctx, state, deployment))

    async def _collect(self, ctx: CollectContext, state: Mapping[str, Any],
                       deployment: str) -> CollectionResult:
        s = self.settings
        started = ctx.now.astimezone(UTC)
        fingerprint = _fingerprint(s)
        last_full = _parse_state_time(state.get("last_full_sync"))
        watermark = _parse_state_time(state.get("watermark"))
        full = (not s.incremental or last_full is None or watermark is None
                or state.get("fingerprint") != fingerprint
                or state.get("deployment") != deployment
                or started - last_full >= s.full_resync_interval)
        async with self._client(deployment) as client:
            api = JiraApi(client, deployment, s.page_size, s.changelog)
            if full:
                # Always on a full sync, even with time_zone set: a 401 here stops an
                # anonymous (empty) search from passing for "no tickets" and deleting.
                profile = await api.myself_zone()
                zone_name = s.time_zone or _profile_zone(profile, ctx.logger)
            else:
                zone_name = s.time_zone or str(state.get("time_zone") or "UTC")
            try:
                zone: tzinfo = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                ctx.logger.warning("the time zone in the run state is unknown here; JQL "
                                   "dates use UTC until the next full sync")
                zone_name, zone = "UTC", UTC
            if full:
                problems = self._field_problems(await api.field_schema())
                if problems:
                    raise CollectorError(ErrorKind.CONFIG, "; ".join(problems))
            since = None
            if not full:
                assert watermark is not None
                since = format_jql_time(watermark - s.overlap, zone)
            mapper = Mapper(s, ctx.name, ctx.logger, zone)
            result = CollectionResult(record_errors=mapper.errors)
            consistent: dict[str, bool] = {}

            async def run(query: Query) -> None:
                sink: list[Any] = (result.findings if query.name == "vulnerabilities"
                                   else result.incidents)
                consistent[query.name] = await self._run_query(api, query, mapper, sink,
                                                               ctx.logger)

            try:
                async with asyncio.TaskGroup() as group:
                    for query in self._queries(since, api.cloud):
                        group.create_task(run(query))
            except BaseExceptionGroup as errors:
                raise _first_leaf(errors) from None
        if full:
            kinds = set()
            for name, kind in (("vulnerabilities", RecordKind.FINDING),
                               ("incidents", RecordKind.INCIDENT)):
                if consistent.get(name, True):
                    kinds.add(kind)
                else:
                    ctx.logger.warning("%s: the result set changed while paging; stored "
                                       "records are updated but none deleted this run", name)
            result.complete = frozenset(kinds)
            reopened = {name: mapper.reopened[name] for name in consistent}
        else:  # incremental runs see only changed tickets: republish the full count
            saved = state.get("reopened")
            reopened = {str(k): int(v) for k, v in saved.items()} if isinstance(
                saved, dict) else {}
        result.gauges = [SourceGauge(
            "devsecops_jira_reopened_tickets",
            "Tickets in the last full sync whose changelog shows a reopen "
            "(resolution cleared after being set), by query.",
            float(count), (("query", name),)) for name, count in sorted(reopened.items())]
        ctx.logger.info("jira %s sync: %d findings, %d incidents, %d skipped",
                        "full" if full else "incremental", len(result.findings),
                        len(result.incidents), sum(mapper.errors.values()))
        result.state = {
            "deployment": deployment,
            "base_url": s.base_url,
            "time_zone": zone_name,
            "fingerprint": fingerprint,
            "watermark": _iso(started),
            "last_full_sync": _iso(started) if full else (
                _iso(last_full) if last_full else None),
            "reopened": reopened,
        }
        return result

    async def _run_query(self, api: JiraApi, query: Query, mapper: Mapper,
                         sink: list[Any], logger: logging.Logger) -> bool:
        position = 0
        consistent = True
        seen: set[str] = set()
        build = map_finding if query.name == "vulnerabilities" else map_incident
        async with aclosing(api.search(query)) as pages:
            async for page in pages:
                consistent = consistent and page.consistent
                for issue in page.issues:
                    position += 1
                    try:
                        record = build(issue, mapper)
                    except SkipTicket as exc:
                        mapper.errors[exc.kind] += 1
                        logger.warning("%s: skipping ticket #%d: %s", query.name, position, exc)
                        continue
                    if record is None or record.id in seen:
                        continue  # unmapped (counted) or a duplicate across pages
                    seen.add(record.id)
                    sink.append(record)
        return consistent

    async def check(self, ctx: CollectContext) -> list[str]:
        """Credentials, field ids and types, and both JQL queries (one tiny page each);
        with ``deployment: auto`` the same probe and credential choice as a run."""
        try:
            return await self._with_deployment({}, ctx.logger, self._check)
        except CollectorError as exc:
            return [f"{exc.kind.value}: {exc}"]

    async def _check(self, deployment: str) -> list[str]:
        problems: list[str] = []
        async with self._client(deployment) as client:
            api = JiraApi(client, deployment, self.settings.page_size, False)
            await api.myself_zone()
            problems += self._field_problems(await api.field_schema())
            for query in self._queries(None, api.cloud):
                query.fields = ["created"]
                try:
                    async for _ in api.search(query, limit=1):
                        pass
                except CollectorError as exc:
                    problems.append(f"{exc.kind.value}: {exc}")
        return problems
