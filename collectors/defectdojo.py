"""The ``defectdojo`` collector: DefectDojo findings (API v2) as Finding records.

DefectDojo aggregates many scanners' results into one vulnerability management
platform and keeps a lifecycle per finding (``active``, ``verified``, ``false_p``,
``duplicate``, ``out_of_scope``, ``risk_accepted``, ``is_mitigated`` with its
``mitigated`` time). This collector reads ``GET /api/v2/findings/`` (DRF
``LimitOffsetPagination``: ``limit``/``offset``, answered with ``count``, ``next``,
``previous`` and ``results``) with ``Authorization: Token <key>`` and
``related_fields=true``, which expands each finding's test, test type, engagement and
product in the same response, so a page costs one request. Field names follow
DefectDojo's ``FindingSerializer`` and ``ApiFindingFilter`` (django-DefectDojo
``dojo/finding/api/serializer.py`` and ``filters.py``).

What the API can and cannot filter decides how runs are made (see
docs/collectors/defectdojo.md):

* There is no range filter on ``last_status_update`` or ``updated`` (both are plain
  exact-match filters; an unknown parameter such as ``last_status_update__gte`` is
  silently ignored by django-filter). The ordering filter ``o`` does accept
  ``last_status_update``, so an **incremental** run lists findings newest status change
  first (``o=-last_status_update,-id``) and stops at the first page that reaches past
  the watermark less ``overlap``. Such runs upsert only (and delete findings that
  became duplicates or informational).
* A **full** pass (the first run, every ``full_resync_interval``, after a config
  change) lists the findings that are not mitigated (``is_mitigated=false``) and those
  mitigated after the history start (``is_mitigated=true&mitigated_after=...``), both
  in id order, and returns the complete set, unless a listing's ``count`` changed
  while it was paged (a finding deleted mid-listing shifts the offsets, so one may
  have been missed): then nothing is deleted this run.

Duplicates (``duplicate: true``: their original is counted) and ``Info`` findings are
skipped and counted by the gauge ``devsecops_defectdojo_skipped_findings{reason}``, not
as errors; an unknown severity is ``unmapped_value``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Literal

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
from collectors.records import Finding, FindingState, RecordKind, Severity
from collectors.settings import Duration, PositiveDuration, Secret, StrictModel

FINDINGS = "/api/v2/findings/"
MAX_PAGES = 100_000  # a runaway-pagination guard, far above any real listing
SEVERITIES: dict[str, Severity | None] = {
    "critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": None,  # DefectDojo's informational level: not a finding here (skipped, counted)
}
Category = Literal["sast", "sca", "secret", "dast", "iac", "other"]
UNKNOWN_CATEGORY = "other"
# DefectDojo test type names (each parser's get_scan_types(), dojo/tools/*/parser.py),
# compared case-insensitively. Test types not listed are "other" unless configured.
DEFAULT_CATEGORIES: dict[str, str] = {
    # SCA: dependency and image scanners
    "trivy scan": "sca", "trivy operator scan": "sca", "anchore grype": "sca",
    "anchore grype detailed": "sca", "snyk scan": "sca", "dependency check scan": "sca",
    "dependency track finding packaging format (fpf) export": "sca", "osv scan": "sca",
    "npm audit v7+ scan": "sca", "yarn audit scan": "sca", "pip-audit scan": "sca",
    "github vulnerability scan": "sca", "govulncheck scanner": "sca",
    # SAST
    "semgrep json report": "sast", "semgrep pro json report": "sast",
    "snyk code scan": "sast", "sarif": "sast", "bandit scan": "sast",
    "checkmarx scan": "sast", "checkmarx scan detailed": "sast", "sonarqube scan": "sast",
    "sonarqube scan detailed": "sast", "gosec scanner": "sast", "brakeman scan": "sast",
    # secrets
    "gitleaks scan": "secret", "trufflehog scan": "secret", "trufflehog3 scan": "secret",
    "detect-secrets scan": "secret", "ggshield scan": "secret", "nosey parker scan": "secret",
    # DAST
    "zap scan": "dast", "nuclei scan": "dast", "burp scan": "dast", "burp rest api": "dast",
    "nikto scan": "dast", "wapiti scan": "dast", "arachni scan": "dast",
    "acunetix scan": "dast",
    # infrastructure as code
    "checkov scan": "iac", "kics scan": "iac", "tfsec scan": "iac", "terrascan scan": "iac",
    "hadolint dockerfile check": "iac",
}
# What DRF answers (as 403 on DefectDojo, whose first authentication class is the
# session) when the token is wrong, rather than lacking a permission.
AUTH_FAILURE_DETAILS = ("invalid token", "authentication credentials were not provided",
                        "user inactive or deleted", "invalid token header")
RESERVED_PARAMS = frozenset({"limit", "offset", "o", "related_fields", "prefetch",
                             "is_mitigated", "mitigated_after"})
SKIP_REASONS = ("duplicate", "informational")


class DefectDojoSettings(StrictModel):
    """Config of one ``type: defectdojo`` collector; every field is in the docs."""

    url: str = Field(description="DefectDojo's base URL, without /api/v2")
    token: Secret
    product_ids: list[int] = Field(default_factory=list,
                                   description="only these products (test__engagement__product)")
    params: dict[str, str] = Field(
        default_factory=dict, description="further ApiFindingFilter filters, sent as is")
    asset: Literal["product", "engagement", "product/engagement"] = "product"
    asset_map: dict[str, str] = Field(
        default_factory=dict, description="product (or engagement) name -> asset, e.g. a "
        "repository full name; names not listed are used as they are")
    categories: dict[str, Category] = Field(
        default_factory=dict, description="test type name -> category, over the defaults")
    inactive: Literal["skip", "dismissed"] = Field(
        default="skip", description="an inactive finding with no closing flag: skipped as "
        "unmapped_value, or dismissed with reason 'inactive'")
    incremental: bool = True
    overlap: Duration = timedelta(minutes=10)
    full_resync_interval: PositiveDuration = timedelta(hours=24)
    lookback: PositiveDuration | None = Field(
        default=None, description="widen the window past the previous quarter's start")
    page_size: int = Field(default=250, ge=1, le=1000)
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// (or http://)")
        value = value.rstrip("/")
        if value.endswith("/api/v2"):
            raise ValueError("url is DefectDojo's base URL: leave out /api/v2")
        return value

    @model_validator(mode="after")
    def _params(self) -> DefectDojoSettings:
        clash = sorted(RESERVED_PARAMS & set(self.params))
        if clash:
            raise ValueError(f"params may not set {', '.join(clash)}: the collector sends them")
        if self.product_ids and "test__engagement__product" in self.params:
            raise ValueError("set product_ids or params.test__engagement__product, not both")
        return self

    def category_of(self, test_type: str | None) -> str:
        """The category of a test type name; an unknown or missing one is ``other``."""
        if not test_type:
            return UNKNOWN_CATEGORY
        name = test_type.strip().lower()
        custom = {k.strip().lower(): v for k, v in self.categories.items()}
        return custom.get(name) or DEFAULT_CATEGORIES.get(name) or UNKNOWN_CATEGORY


# -- mapping --------------------------------------------------------------------------


class Skip(ValueError):
    """This finding yields no record. ``kind`` is an ErrorKind, or None for a skip that
    is no error (a duplicate, an informational finding): ``reason`` then names it."""

    def __init__(self, message: str, kind: ErrorKind | None, reason: str | None = None
                 ) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason


def _time(item: Mapping[str, Any], name: str) -> datetime | None:
    try:
        return parse_timestamp(item.get(name))
    except (ValueError, TypeError):
        raise Skip(f"{name} is not an ISO-8601 timestamp", ErrorKind.MALFORMED_RECORD) from None


def _day(item: Mapping[str, Any], name: str) -> date | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Skip(f"{name} is not a date", ErrorKind.MALFORMED_RECORD)
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise Skip(f"{name} is not a date", ErrorKind.MALFORMED_RECORD) from None


def _flag(item: Mapping[str, Any], name: str) -> bool:
    value = item.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise Skip(f"{name} is not a boolean", ErrorKind.MALFORMED_RECORD)
    return value


def _name(value: Any) -> str | None:
    """``value["name"]`` when it is non-empty text."""
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return value["name"].strip() or None
    return None


def cve_ids(item: Mapping[str, Any]) -> tuple[str, ...]:
    """CVE ids from ``vulnerability_ids`` (``[{"vulnerability_id": ...}]``, bare strings
    tolerated) and the older single ``cve`` field; other ids (GHSA-...) are left out."""
    found: set[str] = set()
    raw = item.get("vulnerability_ids")
    values: list[Any] = list(raw) if isinstance(raw, list) else []
    values.append(item.get("cve"))
    for value in values:
        if isinstance(value, Mapping):
            value = value.get("vulnerability_id")
        if isinstance(value, str) and value.strip().upper().startswith("CVE-"):
            found.add(value.strip().upper())
    return tuple(sorted(found))


@dataclass
class Mapper:
    """Turns finding JSON into records; counts what it skips, logs each new value once."""

    settings: DefectDojoSettings
    source: str
    logger: logging.Logger
    errors: Counter[ErrorKind] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    _logged: set[tuple[str, str]] = field(default_factory=set)

    def once(self, what: str, value: str, message: str, *args: Any) -> None:
        if (what, value) not in self._logged:
            self._logged.add((what, value))
            self.logger.warning(message, *args)

    def asset(self, related: Mapping[str, Any]) -> str | None:
        test = related.get("test") if isinstance(related.get("test"), Mapping) else {}
        engagement = test.get("engagement") if isinstance(test.get("engagement"),
                                                          Mapping) else {}
        product = _name(engagement.get("product"))
        name = {"product": product, "engagement": _name(engagement),
                "product/engagement": f"{product}/{_name(engagement)}"
                if product and _name(engagement) else None}[self.settings.asset]
        if name is None:
            return None
        return self.settings.asset_map.get(name, name)

    def category(self, related: Mapping[str, Any]) -> str:
        test = related.get("test") if isinstance(related.get("test"), Mapping) else {}
        test_type = _name(test.get("test_type"))
        category = self.settings.category_of(test_type)
        if category == UNKNOWN_CATEGORY and test_type:
            self.once("test type", test_type, "test type %r has no category: counted as "
                      "'other' (set categories to map it; logged once per value)", test_type)
        return category

    def state(self, item: Mapping[str, Any]
              ) -> tuple[FindingState, datetime | None, str | None]:
        """(state, resolved_at, dismissed reason) from the lifecycle flags.

        DefectDojo marks false positives and out-of-scope findings mitigated too
        (``dojo/finding/helper.py``), so those flags are read before ``is_mitigated``.
        """
        mitigated = _time(item, "mitigated")
        status_at = _time(item, "last_status_update")
        for flag, reason in (("false_p", "false_positive"), ("out_of_scope", "out_of_scope"),
                             ("risk_accepted", "risk_accepted")):
            if _flag(item, flag):
                at = (status_at or mitigated) if flag == "risk_accepted" else (
                    mitigated or status_at)
                return FindingState.DISMISSED, at, reason
        if _flag(item, "is_mitigated"):
            return FindingState.FIXED, mitigated or status_at, None
        if "active" in item and not _flag(item, "active"):
            if self.settings.inactive == "dismissed":
                return FindingState.DISMISSED, status_at, "inactive"
            self.once("state", "inactive", "finding %s: inactive without a closing flag "
                      "(false_p, out_of_scope, risk_accepted, is_mitigated): skipped as "
                      "unmapped_value; set inactive: dismissed to keep such findings (logged "
                      "once)", item.get("id"))
            raise Skip("inactive without a closing flag", ErrorKind.UNMAPPED_VALUE)
        return FindingState.OPEN, None, None

    def build(self, item: Any) -> Finding:
        """The finding's record, or :class:`Skip` saying why there is none."""
        if not isinstance(item, Mapping):
            raise Skip("not an object", ErrorKind.MALFORMED_RECORD)
        finding_id = item.get("id")
        if not isinstance(finding_id, int) or isinstance(finding_id, bool):
            raise Skip("no integer id", ErrorKind.MALFORMED_RECORD)
        if _flag(item, "duplicate"):
            raise Skip("duplicate", None, "duplicate")
        raw = item.get("severity")
        key = raw.strip().lower() if isinstance(raw, str) else None
        if key not in SEVERITIES:
            self.once("severity", str(raw), "finding %d: unknown severity %r (logged once "
                      "per value)", finding_id, str(raw)[:40])
            raise Skip("unknown severity", ErrorKind.UNMAPPED_VALUE)
        severity = SEVERITIES[key]
        if severity is None:
            raise Skip("informational", None, "informational")
        discovered, created = _day(item, "date"), _time(item, "created")
        if discovered is None and created is None:
            raise Skip("neither date nor created", ErrorKind.MALFORMED_RECORD)
        opened = opened_at(discovered, created)
        state, resolved, reason = self.state(item)
        if state is not FindingState.OPEN:
            if resolved is None:
                raise Skip(f"{state.value} without mitigated or last_status_update",
                           ErrorKind.MALFORMED_RECORD)
            # a date written in a zone ahead of UTC can be after the resolution instant
            opened = min(opened, resolved)
        related = item.get("related_fields")
        related = related if isinstance(related, Mapping) else {}
        published = _day(item, "publish_date")
        try:
            return Finding(
                id=f"finding:{finding_id}", source=self.source, severity=severity,
                opened_at=opened, state=state, resolved_at=resolved,
                dismissed_reason=reason, asset=self.asset(related), cve_ids=cve_ids(item),
                disclosed_at=datetime.combine(published, time(), UTC) if published else None,
                category=self.category(related))
        except ValueError as exc:
            raise Skip(str(exc), ErrorKind.MALFORMED_RECORD) from None


def opened_at(discovered: date | None, created: datetime | None) -> datetime:
    """The SLA clock's start: ``date`` (the discovery date DefectDojo's SLA uses), made
    exact by ``created`` when the finding was created that same UTC day."""
    if discovered is None:
        assert created is not None
        return created
    midnight = datetime.combine(discovered, time(), UTC)
    if created is not None and created.date() == discovered:
        return created
    return midnight


# -- the API --------------------------------------------------------------------------


def _auth_failure(response: httpx.Response) -> bool:
    """Whether a 403 is DRF's answer to a wrong token rather than a missing permission."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return False
    detail = body.get("detail") if isinstance(body, Mapping) else None
    return isinstance(detail, str) and detail.strip().lower().startswith(AUTH_FAILURE_DETAILS)


@dataclass
class Listing:
    """One listing's outcome: whether its ``count`` held still while it was paged."""

    consistent: bool = True
    pages: int = 0


class DefectDojoApi:
    """Paged reads of ``/api/v2/findings/`` with DefectDojo's error answers explained."""

    def __init__(self, client: ApiClient, page_size: int) -> None:
        self.client = client
        self.page_size = page_size

    async def get(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        response = await self.client.request("GET", FINDINGS, params=params,
                                             accept=frozenset({401, 403, 404}))
        status = response.status_code
        if status == 401 or (status == 403 and _auth_failure(response)):
            raise CollectorError(ErrorKind.AUTH, f"GET {FINDINGS}: HTTP {status}: the API "
                                 "token was refused (wrong, revoked, or API tokens disabled "
                                 "with DD_API_TOKENS_ENABLED); the token is not logged")
        if status == 403:
            raise CollectorError(ErrorKind.PERMISSION, f"GET {FINDINGS}: HTTP 403: the token's "
                                 "user may not list findings (needs view permission on the "
                                 "products)")
        if status == 404:
            raise CollectorError(ErrorKind.CONFIG, f"GET {FINDINGS}: HTTP 404: no DefectDojo "
                                 "API v2 at this url; set url to DefectDojo's base URL (the "
                                 "part before /api/v2/)")
        body = decode_json(response)
        if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"GET {FINDINGS}: no results array")
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"GET {FINDINGS}: no count")
        if body.get("next") is not None and not isinstance(body.get("next"), str):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"GET {FINDINGS}: next is not a link")
        return body

    async def pages(self, params: Mapping[str, Any], listing: Listing
                    ) -> AsyncIterator[list[Any]]:
        """Each page's results, by ``offset``, until ``next`` is null.

        The offset advances by what the server sent, not by ``next`` (an absolute link
        with whatever host the server believes it has). Pages are bounded by the largest
        ``count`` seen: a server that keeps announcing more fails the run instead of
        looping.
        """
        offset, first_count, most = 0, None, 0
        while True:
            body = await self.get({**params, "limit": self.page_size, "offset": offset})
            listing.pages += 1
            count, results = body["count"], body["results"]
            if first_count is None:
                first_count = count
            elif count != first_count:
                listing.consistent = False
            most = max(most, count)
            yield results
            offset += len(results)
            if body.get("next") is None:
                return
            if not results:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"GET {FINDINGS}: a next link on an empty page")
            bound = math.ceil(most / self.page_size) + 1
            if listing.pages >= min(bound, MAX_PAGES):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"GET {FINDINGS}: still a "
                                     f"next link after {listing.pages} pages of a count of "
                                     f"{most}")


# -- the collector --------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _state_time(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _fingerprint(s: DefectDojoSettings) -> str:
    """What a full pass depends on: a change to any of it forces one."""
    text = json.dumps([s.url, s.product_ids, sorted(s.params.items()), s.asset,
                       sorted(s.asset_map.items()), sorted(s.categories.items()), s.inactive,
                       str(s.lookback)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DefectDojoCollector(Collector):
    """DefectDojo findings; see the module docstring."""

    config_model: ClassVar[type[StrictModel]] = DefectDojoSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.FINDING})
    settings: DefectDojoSettings

    def __init__(self, name: str, settings: StrictModel, **client_options: Any) -> None:
        super().__init__(name, settings)
        self._client_options = client_options

    def _client(self) -> ApiClient:
        headers = {"Authorization": f"Token {self.settings.token.get_secret_value()}",
                   "Accept": "application/json"}
        return ApiClient(self.settings.url, self.settings.http, headers=headers,
                         **self._client_options)

    def _scope(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.settings.params)
        if self.settings.product_ids:
            params["test__engagement__product"] = ",".join(map(str, self.settings.product_ids))
        params["related_fields"] = "true"
        return params

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        s = self.settings
        state = dict(ctx.state or {})
        started = ctx.now.astimezone(UTC)
        window = ctx.window_start(s.lookback).astimezone(UTC)
        fingerprint = _fingerprint(s)
        last_full, watermark = _state_time(state.get("last_full_sync")), _state_time(
            state.get("watermark"))
        full = (not s.incremental or last_full is None or watermark is None
                or state.get("fingerprint") != fingerprint
                or started - last_full >= s.full_resync_interval)
        mapper = Mapper(s, ctx.name, ctx.logger)
        result = CollectionResult(record_errors=mapper.errors)
        records: dict[str, Finding] = {}
        gone: set[str] = set()
        consistent = True
        async with self._client() as client:
            api = DefectDojoApi(client, s.page_size)
            if full:
                # mitigated_after is strict and reads a bare midnight as 23:59:59 of that
                # day (ApiFindingFilter.filter_mitigated_after): send one second earlier.
                after = (window - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                for extra in ({"is_mitigated": "false"},
                              {"is_mitigated": "true", "mitigated_after": after}):
                    listing = Listing()
                    params = {**self._scope(), **extra, "o": "id"}
                    async with aclosing(api.pages(params, listing)) as pages:
                        async for page in pages:
                            self._read(page, mapper, records, gone, ctx.logger, window)
                    consistent = consistent and listing.consistent
            else:
                assert watermark is not None
                since = watermark - s.overlap
                params = {**self._scope(), "o": "-last_status_update,-id"}
                async with aclosing(api.pages(params, Listing())) as pages:
                    async for page in pages:
                        if not self._read(page, mapper, records, gone, ctx.logger, None,
                                          since):
                            break
        result.findings = list(records.values())
        if full:
            if consistent:
                result.complete = frozenset({RecordKind.FINDING})
            else:
                ctx.logger.warning("the findings' count changed while they were paged: "
                                   "stored findings are updated but none deleted this run")
            skipped = {reason: mapper.skipped[reason] for reason in SKIP_REASONS}
        else:
            result.deleted = {RecordKind.FINDING: [(ctx.name, i) for i in sorted(gone)]}
            saved = state.get("skipped")
            skipped = {str(k): int(v) for k, v in saved.items()
                       if isinstance(v, int)} if isinstance(saved, dict) else {}
        result.gauges = [SourceGauge(
            "devsecops_defectdojo_skipped_findings",
            "DefectDojo findings of the last full pass that yield no record: duplicates "
            "(their original counts) and informational findings, by reason.",
            float(count), (("reason", reason),)) for reason, count in sorted(skipped.items())]
        ctx.logger.info("defectdojo %s pass: %d findings, %d skipped as duplicates or "
                        "informational, %d skipped as errors", "full" if full else
                        "incremental", len(records), sum(mapper.skipped.values()),
                        sum(mapper.errors.values()))
        result.state = {
            "fingerprint": fingerprint,
            "watermark": _iso(started),
            "last_full_sync": _iso(started) if full else (
                _iso(last_full) if last_full else None),
            "skipped": skipped,
        }
        return result

    def _read(self, page: list[Any], mapper: Mapper, records: dict[str, Finding],
              gone: set[str], logger: logging.Logger, window: datetime | None,
              since: datetime | None = None) -> bool:
        """Map one page into ``records``; return False once an incremental listing
        (newest status change first) has gone past ``since``."""
        more = True
        for item in page:
            if since is not None and isinstance(item, Mapping):
                try:
                    changed = _time(item, "last_status_update")
                except Skip:
                    changed = None
                if changed is not None and changed < since:
                    more = False
                    break
            try:
                record = mapper.build(item)
            except Skip as exc:
                finding_id = item.get("id") if isinstance(item, Mapping) else None
                if isinstance(finding_id, int):
                    gone.add(f"finding:{finding_id}")  # a record it may have had is stale
                if exc.kind is None:
                    mapper.skipped[exc.reason or "other"] += 1
                    continue
                mapper.errors[exc.kind] += 1
                if exc.kind is not ErrorKind.UNMAPPED_VALUE:  # those were logged once
                    logger.warning("skipping finding %s: %s", finding_id
                                   if isinstance(finding_id, int) else "without id", exc)
                continue
            if window is not None and record.resolved_at is not None and (
                    record.resolved_at < window):
                continue  # resolved before the published history: no metric reads it
            records[record.id] = record
            gone.discard(record.id)
        return more

    async def check(self, ctx: CollectContext) -> list[str]:
        """One finding of one page: proves the URL, the token and the read permission."""
        try:
            async with self._client() as client:
                await DefectDojoApi(client, 1).get({**self._scope(), "limit": 1})
        except CollectorError as exc:
            return [f"{exc.kind.value}: {exc}"]
        return []
