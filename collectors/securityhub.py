"""The ``securityhub`` collector: AWS Security Hub (CSPM) control findings as posture results.

Security Hub runs the checks of its standards (AWS Foundational Security Best
Practices, CIS AWS Foundations, PCI DSS, NIST SP 800-53 ...) and writes one control
finding per control and resource, in the AWS Security Finding Format (ASFF). The
collector reads them with ``GetFindings`` (``POST /findings``, JSON body with
``Filters``, ``MaxResults`` up to 100 and ``NextToken`` paging), signed with SigV4.
Only posture findings are asked for: ``ProductName`` is Security Hub's own (``Security
Hub``, renamed ``Security Hub CSPM``; configurable) and ``ComplianceStatus`` is one of
its four values, i.e. present. GuardDuty, Inspector or partner findings are not
posture results and are never read. See docs/collectors/securityhub.md.

Mapping, per finding (``Compliance.Status``): ``PASSED`` is pass, ``FAILED`` is fail,
``WARNING`` (information missing or check unsupported for the configuration) and
``NOT_AVAILABLE`` (check could not run, or Config said NOT_APPLICABLE) are ``manual``:
neither is a verdict on the resource, so neither counts as pass or fail.
``Workflow.Status`` ``SUPPRESSED`` is muted. ``RecordState`` ``ARCHIVED`` means the
result is gone (resource deleted, control disabled): a failing one is resolved at
``UpdatedAt``. A failing result that turns ``PASSED`` is resolved at ``UpdatedAt``.
Security Hub keeps no history in a finding, so the start of the latest failing
episode is kept in the collector state (keyed by finding id), as Prowler's replay does.

Runs are incremental: after a full pass, later runs ask only for findings updated
since the last run less ``overlap``; a full pass runs on the first run, every
``full_sync_interval`` and when the scope changes, from ``ctx.window_start`` (the
previous quarter's start less a margin). Security Hub deletes findings 90 days after
their last update, so no pass is the whole history: results are upserted, never
replaced as a set, and a result disappears from the store only when its finding is
archived without ever having failed.

Requests are paced client-side (token bucket, GetFindings' documented 3 requests per
second with a burst of 6, per account and region) and throttling answers are retried
by the shared client (``collectors/http.py``). botocore is an optional extra
(``pip install devsecops-maturity-exporter[securityhub]``): it resolves credentials
the way the AWS CLI does and signs each httpx request; it is imported only when a
``securityhub`` collector is configured.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import ApiClient, HttpSettings, describe, parse_retry_after, parse_timestamp
from collectors.kinds import storable_text
from collectors.prowler import BadRecord, FrameworkMap, check_framework_families
from collectors.records import RecordKind, Severity
from collectors.records_posture import PostureResult, PostureStatus, Provider
from collectors.redact import register_secret
from collectors.settings import PositiveDuration, StrictModel

SIGNING_NAME = "securityhub"
STATE_VERSION = 1
MAX_PAGE_SIZE = 100  # GetFindings' MaxResults maximum (service model: 1..100)

# Security Hub StandardsId values: "standards/aws-foundational-security-best-practices/
# v/1.0.0", "ruleset/cis-aws-foundations-benchmark/v/1.2.0", "standards/pci-dss/v/3.2.1",
# "standards/nist-800-53/v/5.0.0", "standards/nist-800-171/v/2.0.0". Case-insensitive.
DEFAULT_FRAMEWORKS: dict[str, list[str]] = {
    "cis": [r"cis-aws-foundations-benchmark"],
    "nist": [r"nist-800-"],
    "pci": [r"pci-dss"],
    "aws_fsbp": [r"aws-foundational-security-best-practices"],
}
DEFAULT_PRODUCT_NAMES = ["Security Hub", "Security Hub CSPM"]
COMPLIANCE_STATUSES = ("PASSED", "WARNING", "FAILED", "NOT_AVAILABLE")

_STATUS = {"PASSED": PostureStatus.PASS, "FAILED": PostureStatus.FAIL,
           "WARNING": PostureStatus.MANUAL, "NOT_AVAILABLE": PostureStatus.MANUAL}
_SEVERITY = {"CRITICAL": Severity.CRITICAL, "HIGH": Severity.HIGH,
             "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW,
             # the lowest ASFF label, read as low (as Prowler's informational)
             "INFORMATIONAL": Severity.LOW}
_MUTED = {"NEW": False, "NOTIFIED": False, "RESOLVED": False, "SUPPRESSED": True}
_ARCHIVED = {"ACTIVE": False, "ARCHIVED": True}
# "IAM.1", "EC2.19", "CloudTrail.4": the prefix is the service (cloud.iam_services).
_CONTROL_ID = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\.\d+[a-z]?$")

# Error codes (x-amzn-ErrorType, or __type / code in the body) that say the caller's
# credentials or signature were refused: never retried.
AUTH_CODES = frozenset({
    "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
    "InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken",
    "MissingAuthenticationTokenException", "MissingAuthenticationToken",
    "SignatureDoesNotMatch", "AuthFailure",
})
THROTTLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException",
    "LimitExceededException", "RequestLimitExceeded",
})

_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d{1,2}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_LOGGED = 5


def require_botocore() -> Any:
    """Import botocore for SigV4 and credentials, or explain which extra installs it."""
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.exceptions
        import botocore.session
    except ImportError:
        raise ValueError(
            "the securityhub collector signs AWS requests with botocore, which is not "
            "installed: pip install 'devsecops-maturity-exporter[securityhub]' (or "
            "pip install 'botocore>=1.34')") from None
    return botocore


def _regions(value: list[str]) -> list[str]:
    for region in value:
        if not _REGION.match(region):
            raise ValueError(f"{region[:40]!r} is not an AWS region name such as eu-west-1")
    if len(set(value)) != len(value):
        raise ValueError("regions must not repeat")
    return value


def _role(value: str | None) -> str | None:
    if value is not None and not _ROLE_ARN.match(value):
        raise ValueError("role_arn must be an IAM role ARN, arn:aws:iam::<account>:role/<name>")
    return value


class AccountRole(StrictModel):
    """A role to assume (in a member or another organization's account) and its regions."""

    role_arn: str
    external_id: str | None = Field(default=None, max_length=1224)
    regions: list[str] | None = Field(
        default=None, min_length=1, description="default: the collector's regions")

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: str) -> str | None:
        return _role(value)

    @field_validator("regions")
    @classmethod
    def _reg(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _regions(value)


class SecurityHubSettings(StrictModel):
    regions: list[str] = Field(
        min_length=1, description="regions read; with cross-Region aggregation, the "
                                  "aggregation (home) Region only")
    profile: str | None = Field(
        default=None, description="AWS config/credentials profile; default: botocore's "
                                  "chain (environment, profile, web identity, instance role)")
    role_arn: str | None = Field(
        default=None, description="role assumed with the resolved credentials, e.g. a "
                                  "read-only role in the delegated administrator account")
    external_id: str | None = Field(default=None, max_length=1224)
    accounts: list[AccountRole] = Field(
        default_factory=list, max_length=100,
        description="roles to assume instead, one per account; when set, only these are read")
    endpoint_url: str | None = Field(
        default=None, description="https URL template with {region}; default "
                                  "https://securityhub.{region}.amazonaws.com (.com.cn in China)")
    product_names: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PRODUCT_NAMES), min_length=1, max_length=20,
        description="ProductName values of Security Hub's control findings")
    lookback: PositiveDuration | None = Field(
        default=None, description="full passes read back at least to the previous quarter's "
                                  "start; a longer lookback widens that")
    overlap: PositiveDuration = Field(
        default=timedelta(hours=1), description="incremental runs re-read this much before "
                                                "the last run (clock skew, late updates)")
    full_sync_interval: PositiveDuration = timedelta(hours=24)
    requests_per_second: float = Field(
        default=3.0, gt=0, le=100, description="GetFindings quota: 3/s per account and region, "
                                               "shared with every other caller")
    burst: int = Field(default=6, ge=1, le=100)
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    frameworks: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_FRAMEWORKS.items()},
        max_length=32, description="framework family -> regexes on StandardsId")
    source: str | None = Field(default=None, description="default: the collector name")
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("frameworks")
    @classmethod
    def _fw(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return check_framework_families(value)

    @field_validator("regions")
    @classmethod
    def _reg(cls, value: list[str]) -> list[str]:
        return _regions(value)

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        return _role(value)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        if value.count("{region}") > 1 or "{" in value.replace("{region}", ""):
            raise ValueError("the only placeholder allowed is {region}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _botocore(self) -> SecurityHubSettings:
        if self.accounts and self.role_arn:
            raise ValueError("set role_arn or accounts, not both (accounts' roles are "
                             "assumed with the base credentials)")
        require_botocore()
        return self


@dataclass(frozen=True, slots=True)
class Target:
    """One set of credentials (base, or a role) and the regions read with it."""

    label: str  # "base" or "accounts[i]": never an ARN, for logs and errors
    role_arn: str | None
    external_id: str | None
    regions: tuple[str, ...]


class TokenBucket:
    """Client-side pacing (GCRA): ``rate`` requests per second, ``burst`` at once.

    The slot is reserved before sleeping, so concurrent callers queue up fairly.
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._tat = float("-inf")  # theoretical arrival time of the next request
        self.waited = 0.0

    async def acquire(self) -> None:
        now = self._clock()
        tat = max(self._tat, now)
        delay = max(0.0, tat - self._tolerance - now)
        self._tat = tat + self._interval
        if delay > 1e-9:  # float rounding of a full bucket is no wait
            self.waited += delay
            await self._sleep(delay)


class _NoSigningDebug(logging.Filter):
    """Drops botocore.auth's DEBUG records: they print the canonical request, session
    token included, and the string to sign."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _quiet_signing_logs() -> None:
    logger = logging.getLogger("botocore.auth")
    if not any(isinstance(f, _NoSigningDebug) for f in logger.filters):
        logger.addFilter(_NoSigningDebug())


class SigV4HttpxAuth(httpx.Auth):
    """Pace and SigV4-sign every request httpx sends (retries included) with botocore.

    Credentials are frozen per request (a refreshable role renews itself in a thread,
    off the event loop); the secret key and session token are registered with the
    redactor so no error message can carry them.
    """

    requires_request_body = True

    def __init__(self, credentials: Any, region: str, limiter: TokenBucket) -> None:
        self._credentials = credentials
        self._region = region
        self._limiter = limiter
        self._botocore = require_botocore()
        _quiet_signing_logs()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, Any, None]:
        raise RuntimeError("SigV4HttpxAuth is used by the async client only")

    async def async_auth_flow(self, request: httpx.Request
                              ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await self._limiter.acquire()
        try:
            frozen = await asyncio.to_thread(self._credentials.get_frozen_credentials)
        except self._botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise CollectorError(ErrorKind.AUTH, f"AWS credentials could not be obtained "
                                 f"({code}): check the role's trust policy") from None
        except self._botocore.exceptions.BotoCoreError as exc:
            raise CollectorError(ErrorKind.AUTH, f"AWS credentials could not be obtained "
                                 f"({type(exc).__name__})") from None
        for secret in (frozen.secret_key, frozen.token):
            if secret:
                register_secret(secret)
        self.sign(request, frozen)
        yield request

    def sign(self, request: httpx.Request, frozen: Any) -> None:
        """Add Authorization, X-Amz-Date (and X-Amz-Security-Token) to ``request``."""
        aws = self._botocore.awsrequest.AWSRequest(
            method=request.method, url=str(request.url), data=request.content,
            headers={"Content-Type": request.headers.get("Content-Type",
                                                         "application/json")})
        self._botocore.auth.SigV4Auth(frozen, SIGNING_NAME, self._region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                request.headers[name] = aws.headers[name]


def aws_error_code(response: httpx.Response) -> str | None:
    """The AWS error code of a response: ``x-amzn-ErrorType`` or the JSON ``__type``/code."""
    header = response.headers.get("x-amzn-ErrorType")
    if header:
        return header.split(":", 1)[0].strip() or None
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    if isinstance(body, dict):
        for key in ("__type", "code", "Code"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value.rsplit("#", 1)[-1][:100]
    return None


def aws_error_hook(backoff: timedelta) -> Callable[[httpx.Response], float | None]:
    """The shared client's rate-limit hook, taught AWS's error codes.

    Returns a wait for throttling answered with 400 (``ThrottlingException``); a plain
    429 is left to the shared client (Retry-After or exponential backoff). Refused
    credentials, missing permissions and a region without Security Hub are raised at
    once with their kind: retrying them cannot help.
    """

    def hook(response: httpx.Response) -> float | None:
        status = response.status_code
        code = aws_error_code(response)
        what = f"{describe(response.request.method, response.request.url)}: HTTP {status}"
        if code in THROTTLE_CODES and status != 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return retry_after
            return backoff.total_seconds() * (1 + random.random())
        if code in AUTH_CODES or (status == 401 and code is None):
            raise CollectorError(ErrorKind.AUTH, f"{what} {code or ''}: AWS refused the "
                                 "credentials or signature (access key, expired session "
                                 "token, or this host's clock)")
        if code == "AccessDeniedException" or (status == 403 and code not in THROTTLE_CODES):
            raise CollectorError(ErrorKind.PERMISSION, f"{what} {code or ''}: the principal "
                                 "is not allowed securityhub:GetFindings")
        if code == "InvalidAccessException":
            raise CollectorError(ErrorKind.CONFIG, f"{what} InvalidAccessException: Security "
                                 "Hub is not enabled (subscribed) for this account in this "
                                 "region, or the account may not read its findings: enable "
                                 "it there or remove the region")
        return None

    return hook


@dataclass(frozen=True, slots=True)
class Observed:
    """One ASFF control finding, as read."""

    id: str
    account: str
    resource: str
    check: str
    service: str | None
    severity: Severity
    status: PostureStatus
    muted: bool
    archived: bool
    frameworks: tuple[str, ...]
    first_observed: datetime
    last_observed: datetime
    updated: datetime


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"no {what}")
    if not storable_text(value):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"{what} is not valid Unicode text")
    return value.strip()


def _obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"{what} is not an object")
    return value


def _enum(table: dict[str, Any], value: Any, what: str) -> Any:
    if not isinstance(value, str):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"no {what}")
    if value not in table:
        raise BadRecord(ErrorKind.UNMAPPED_VALUE, f"{what} {value[:40]!r} is not one the "
                        "mapping knows")
    return table[value]


def _time(value: Any, what: str) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"{what} is not an ISO 8601 time") from None


def parse_finding(raw: Any, frameworks: FrameworkMap) -> Observed:
    """One ASFF finding; raises :class:`BadRecord` saying how it is counted."""
    if not isinstance(raw, dict):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, "not an object")
    finding_id = _text(raw.get("Id"), "Id")
    account = _text(raw.get("AwsAccountId"), "AwsAccountId")
    resources = raw.get("Resources")
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], dict):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, "no Resources")
    resource = _text(resources[0].get("Id"), "Resources[0].Id")
    compliance = _obj(raw.get("Compliance"), "Compliance")
    status = _enum(_STATUS, compliance.get("Status"), "Compliance.Status")
    severity = _enum(_SEVERITY, _obj(raw.get("Severity"), "Severity").get("Label"),
                     "Severity.Label")
    workflow = _obj(raw.get("Workflow"), "Workflow")
    muted = _enum(_MUTED, workflow["Status"], "Workflow.Status") \
        if workflow.get("Status") is not None else False  # absent: NEW, per ASFF
    archived = _enum(_ARCHIVED, raw.get("RecordState"), "RecordState")
    product_fields = _obj(raw.get("ProductFields"), "ProductFields")
    check_value = compliance.get("SecurityControlId") or product_fields.get("ControlId") \
        or raw.get("GeneratorId")
    check = _text(check_value, "Compliance.SecurityControlId or GeneratorId")
    match = _CONTROL_ID.match(check)
    service = match.group(1).lower() if match else None
    standards: list[str] = []
    associated = compliance.get("AssociatedStandards")
    if isinstance(associated, list):
        standards = [s["StandardsId"] for s in associated
                     if isinstance(s, dict) and isinstance(s.get("StandardsId"), str)]
    if not standards:  # findings from before consolidated controls
        standards = [v for k in ("StandardsArn", "StandardsGuideArn")
                     if isinstance(v := product_fields.get(k), str)]
    updated = _time(raw.get("UpdatedAt"), "UpdatedAt")
    created = _time(raw.get("CreatedAt"), "CreatedAt")
    if updated is None or created is None:
        raise BadRecord(ErrorKind.MALFORMED_RECORD, "no CreatedAt or UpdatedAt")
    first = _time(raw.get("FirstObservedAt"), "FirstObservedAt") or created
    last = _time(raw.get("LastObservedAt"), "LastObservedAt") or updated
    return Observed(
        id=finding_id, account=account, resource=resource, check=check, service=service,
        severity=severity, status=status, muted=muted, archived=archived,
        frameworks=frameworks.of(dict.fromkeys(standards)), first_observed=first,
        last_observed=max(last, first), updated=updated)


def _iso(value: datetime) -> str:
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


Episode = tuple[datetime, datetime | None]  # start of the latest failure, its end


def build_result(obs: Observed, episodes: dict[str, Episode], *, since: datetime | None,
                 source: str) -> PostureResult | None:
    """The posture result of ``obs``, updating ``episodes``; ``None``: delete it.

    ``since`` is the start of an incremental window (``None`` on a full pass): a finding
    that fails now without a known open episode, first observed before that window,
    failed again within it, at about its ``UpdatedAt``.
    """
    key = obs.id
    held = episodes.get(key)
    open_start = held[0] if held is not None and held[1] is None else None

    def new_start() -> datetime:
        if since is not None and obs.first_observed < since:
            return min(obs.updated, obs.last_observed)
        return obs.first_observed

    status, first, resolved = obs.status, obs.first_observed, None
    if obs.archived:
        episodes.pop(key, None)
        if obs.status is PostureStatus.FAIL or open_start is not None:
            status, first, resolved = PostureStatus.FAIL, open_start or new_start(), obs.updated
        elif held is not None:  # passed after failing, then went away
            status, first, resolved = PostureStatus.FAIL, held[0], held[1]
        else:
            return None  # gone without failing: nothing left to measure
    elif obs.status is PostureStatus.FAIL:
        first = open_start or new_start()
        episodes[key] = (first, None)
    elif obs.status is PostureStatus.PASS:
        if open_start is not None:
            first, resolved = open_start, max(obs.updated, open_start)
            episodes[key] = (first, resolved)
        elif held is not None:
            first, resolved = held
    else:  # manual: no verdict, no failure lifecycle (as Prowler's)
        episodes.pop(key, None)
    first = min(first, obs.last_observed)
    if resolved is not None:
        resolved = max(resolved, first)
    return PostureResult(
        id=obs.id, source=source, provider=Provider.AWS, account=obs.account,
        resource=obs.resource, check=obs.check, service=obs.service, severity=obs.severity,
        status=status, muted=obs.muted, frameworks=obs.frameworks, first_seen_at=first,
        last_seen_at=obs.last_observed, resolved_at=resolved)


def _load_episodes(raw: Any) -> dict[str, Episode]:
    out: dict[str, Episode] = {}
    if not isinstance(raw, dict):
        return out
    for key, value in raw.items():
        if not (isinstance(key, str) and isinstance(value, list) and len(value) == 2):
            continue
        try:
            first = parse_timestamp(value[0])
            end = parse_timestamp(value[1])
        except (ValueError, TypeError):
            continue
        if first is not None:
            out[key] = (first, end)
    return out


class SecurityHubCollector(Collector):
    """AWS Security Hub control findings (see module docstring)."""

    config_model: ClassVar[type[StrictModel]] = SecurityHubSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.POSTURE_RESULT})

    def __init__(self, name: str, settings: StrictModel, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, SecurityHubSettings)
        self.config: SecurityHubSettings = settings
        self._sleep = sleep
        self._clock = clock
        self._botocore = require_botocore()

    # -- credentials and clients --------------------------------------------------

    def targets(self) -> list[Target]:
        s = self.config
        if not s.accounts:
            return [Target("base", s.role_arn, s.external_id, tuple(s.regions))]
        return [Target(f"accounts[{i}]", a.role_arn, a.external_id,
                       tuple(a.regions or s.regions)) for i, a in enumerate(s.accounts)]

    def _base_session(self) -> tuple[Any, Any]:
        """botocore's session and credentials chain; raised as auth/config errors."""
        bc = self._botocore
        try:
            session = bc.session.Session(profile=self.config.profile)
            credentials = session.get_credentials()
        except bc.exceptions.ProfileNotFound:
            raise CollectorError(ErrorKind.CONFIG, "securityhub: the configured AWS profile "
                                 "does not exist") from None
        except bc.exceptions.BotoCoreError as exc:
            raise CollectorError(ErrorKind.AUTH, "securityhub: AWS credentials could not be "
                                 f"resolved ({type(exc).__name__})") from None
        if credentials is None:
            raise CollectorError(ErrorKind.AUTH, "securityhub: no AWS credentials found "
                                 "(environment, profile, web identity or instance role)")
        return session, credentials

    def credentials(self, target: Target, session: Any, base: Any) -> Any:
        """The target's credentials: the base chain, or a role assumed with it (lazily)."""
        if target.role_arn is None:
            return base
        bc = self._botocore
        extra: dict[str, Any] = {"RoleSessionName": "devsecops-maturity-exporter"}
        if target.external_id:
            extra["ExternalId"] = target.external_id
        creator = functools.partial(session.create_client, region_name=target.regions[0])
        fetcher = bc.credentials.AssumeRoleCredentialFetcher(
            creator, base, target.role_arn, extra_args=extra)
        return bc.credentials.DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role")

    def endpoint(self, region: str) -> str:
        if self.config.endpoint_url:
            return self.config.endpoint_url.replace("{region}", region)
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"https://securityhub.{region}.{suffix}"

    def _client(self, credentials: Any, region: str) -> tuple[ApiClient, TokenBucket]:
        limiter = TokenBucket(self.config.requests_per_second, self.config.burst,
                              clock=self._clock, sleep=self._sleep)
        client = ApiClient(
            self.endpoint(region), self.config.http,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            auth=SigV4HttpxAuth(credentials, region, limiter),
            rate_limit_hook=aws_error_hook(self.config.http.backoff), sleep=self._sleep)
        return client, limiter

    # -- reading --------------------------------------------------------------------

    def filters(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Control findings (Security Hub's product, a compliance status) updated in range."""
        return {
            "ProductName": [{"Value": n, "Comparison": "EQUALS"}
                            for n in self.config.product_names],
            "ComplianceStatus": [{"Value": v, "Comparison": "EQUALS"}
                                 for v in COMPLIANCE_STATUSES],
            "UpdatedAt": [{"Start": _iso(start), "End": _iso(end)}],
        }

    async def pages(self, client: ApiClient, region: str, filters: dict[str, Any], *,
                    page_size: int | None = None, max_pages: int | None = None
                    ) -> AsyncGenerator[list[Any], None]:
        """Each page's ``Findings``, following ``NextToken``."""
        what = describe("POST", self.endpoint(region) + "/findings")
        token: str | None = None
        seen_tokens: set[str] = set()
        count = 0
        while True:
            body: dict[str, Any] = {"Filters": filters,
                                    "MaxResults": page_size or self.config.page_size}
            if token:
                body["NextToken"] = token
            page, _ = await client.post_json("/findings", body)
            if not isinstance(page, dict) or not isinstance(page.get("Findings"), list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{what}: the answer has no Findings list")
            yield page["Findings"]
            count += 1
            token = page.get("NextToken")
            if token is not None and not isinstance(token, str):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{what}: NextToken is not text")
            if not token or (max_pages is not None and count >= max_pages):
                return
            if token in seen_tokens:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{what}: NextToken repeats; paging would never end")
            seen_tokens.add(token)

    def _scope_key(self) -> str:
        """Changing what is read or how it maps invalidates the state: full pass."""
        s = self.config
        return repr((s.regions, s.role_arn, [a.model_dump() for a in s.accounts],
                     s.endpoint_url, sorted(s.product_names), sorted(s.frameworks.items()),
                     s.lookback))

    def _plan(self, ctx: CollectContext) -> tuple[datetime | None, datetime, datetime]:
        """(incremental start or None for a full pass, window start, end)."""
        now = ctx.now.astimezone(UTC)
        window_start = ctx.window_start(self.config.lookback).astimezone(UTC)
        state = ctx.state or {}
        watermark = last_full = None
        if state.get("version") == STATE_VERSION and state.get("scope") == self._scope_key():
            try:
                watermark = parse_timestamp(state.get("watermark"))
                last_full = parse_timestamp(state.get("last_full"))
            except (ValueError, TypeError):
                ctx.logger.warning("securityhub: unreadable state; running a full pass")
        end = now + timedelta(minutes=5)
        if (watermark is None or last_full is None
                or now - last_full >= self.config.full_sync_interval):
            return None, window_start, end
        return max(watermark - self.config.overlap, window_start), window_start, end

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        since, window_start, end = self._plan(ctx)
        full = since is None
        state = ctx.state or {}
        episodes = _load_episodes(state.get("episodes")) \
            if state.get("version") == STATE_VERSION else {}
        frameworks = FrameworkMap(self.config.frameworks)
        errors: Counter[ErrorKind] = Counter()
        latest: dict[str, Observed] = {}
        session, base = await asyncio.to_thread(self._base_session)
        filters = self.filters(since or window_start, end)
        requests = 0
        waited = 0.0
        skipped = 0
        for target in self.targets():
            credentials = self.credentials(target, session, base)
            for region in target.regions:
                client, limiter = self._client(credentials, region)
                async with client:
                    async for findings in self.pages(client, region, filters):
                        for position, raw in enumerate(findings):
                            try:
                                obs = parse_finding(raw, frameworks)
                            except BadRecord as exc:
                                errors[exc.kind] += 1
                                if skipped < _LOGGED:
                                    ctx.logger.warning("securityhub %s %s: finding %d of a "
                                                       "page skipped (%s): %s", target.label,
                                                       region, position, exc.kind.value, exc)
                                skipped += 1
                                continue
                            held = latest.get(obs.id)
                            if held is None or obs.updated >= held.updated:
                                latest[obs.id] = obs  # aggregation or overlap: newest wins
                requests += client.stats.requests
                waited += limiter.waited
        if skipped > _LOGGED:
            ctx.logger.warning("securityhub: %d findings skipped in all", skipped)
        source = self.config.source or self.name
        results: list[PostureResult] = []
        deleted: list[tuple[str, str]] = []
        for obs in latest.values():
            try:
                record = build_result(obs, episodes, since=since, source=source)
            except ValueError as exc:
                errors[ErrorKind.MALFORMED_RECORD] += 1
                ctx.logger.warning("securityhub: a finding is inconsistent: %s", exc)
                continue
            if record is None:
                deleted.append((source, obs.id))
            else:
                results.append(record)
        if full and not skipped:
            # Every retained finding was read: one with a failure still open that is gone
            # expired unarchived (not updated for 90 days). Its end is unknown, so it is
            # deleted rather than left failing for ever. A skipped finding could be one
            # of them: then nothing is concluded this run.
            expired = [k for k, (_, end) in episodes.items() if end is None and k not in latest]
            deleted.extend((source, k) for k in expired)
            if expired:
                ctx.logger.info("securityhub: %d failing results expired from Security Hub "
                                "without being archived; deleted", len(expired))
            episodes = {k: v for k, v in episodes.items() if k in latest}
        episodes = {k: v for k, v in episodes.items() if v[1] is None or v[1] >= window_start}
        now = ctx.now.astimezone(UTC)
        ctx.logger.info("securityhub %s pass: %d results from %d findings, %d requests, "
                        "%.1fs paced", "full" if full else "incremental", len(results),
                        len(latest), requests, waited)
        return CollectionResult(
            records={RecordKind.POSTURE_RESULT: results},
            deleted={RecordKind.POSTURE_RESULT: deleted} if deleted else {},
            record_errors=errors,
            state={
                "version": STATE_VERSION,
                "scope": self._scope_key(),
                "watermark": _iso(now),
                "last_full": _iso(now) if full else state.get("last_full"),
                "episodes": {k: [_iso(a), _iso(b) if b else None]
                             for k, (a, b) in episodes.items()},
            })

    async def check(self, ctx: CollectContext) -> list[str]:
        """One one-finding page per target and region: credentials, permission, region."""
        problems: list[str] = []
        try:
            session, base = await asyncio.to_thread(self._base_session)
        except CollectorError as exc:
            return [f"{exc.kind.value}: {exc}"]
        start = ctx.window_start(self.config.lookback)
        filters = self.filters(start, ctx.now + timedelta(minutes=5))
        for target in self.targets():
            credentials = self.credentials(target, session, base)
            for region in target.regions:
                client, _ = self._client(credentials, region)
                try:
                    async with client:
                        pages = self.pages(client, region, filters, page_size=1, max_pages=1)
                        async for _ in pages:
                            pass
                except CollectorError as exc:
                    problems.append(f"{target.label} {region}: {exc.kind.value}: {exc}")
        return problems
