"""The ``prowler`` collector: cloud posture results from Prowler's ``json-ocsf`` files.

Prowler (the open-source CSPM for AWS, Azure, GCP, Kubernetes and more) writes each
scan as a JSON array of OCSF Detection Findings (``prowler ... --output-formats
json-ocsf``; ``prowler/lib/outputs/ocsf/ocsf.py`` in Prowler's repository). The
exporter reads those files from a directory or glob, so it holds no cloud credential.
Fields read, per finding (``docs/collectors/prowler.md`` has the full table):

* ``metadata.event_code``: the check id; ``status_code``: ``PASS`` / ``FAIL`` /
  ``MANUAL``; ``status``: ``New``, or ``Suppressed`` for a muted result;
  ``severity``: ``Critical`` ... ``Low``, ``Informational`` (read as low);
* ``cloud.provider`` and ``cloud.account.uid`` (or ``unmapped.provider`` and
  ``unmapped.provider_uid``, which Kubernetes results carry instead of ``cloud``);
* ``resources[0].uid`` (else its ``name``), ``.region`` / ``.namespace`` and
  ``.group.name`` (the service);
* ``unmapped.compliance``: ``{"CIS-1.4": [...], "PCI-3.2.1": [...]}``, normalized into
  the configured framework families;
* ``time`` (Unix seconds; ``time_dt`` when absent, naive = UTC).

Every run reads every file and rebuilds each result's lifecycle over all the scans
found, oldest first (a scan is one file's results of one account, at the newest time
among them): a failing result that passes in a later scan, or is missing from a later
complete scan of the same account, is resolved at that scan's time. With
``full_scans: false`` (scans limited with ``--services`` or ``--checks``) a missing
result resolves only when its check ran in the later scan.

Failure is bounded to the smallest unit: a finding that cannot be read is skipped and
counted (``malformed_record``; ``unmapped_value`` for a status or severity no mapping
knows); a file that is not a complete JSON array (Prowler writes ``[`` first and the
closing ``]`` only when the scan is done, so a half-written file never parses) fails
that file only, counted once as ``malformed_response``, and then no stored result is
deleted in that run (a missing scan must not resolve anything). The run fails,
keeping all data, when every file failed, or when a glob matches nothing.
"""

from __future__ import annotations

import asyncio
import glob
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ByteSize, Field, field_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.kinds import storable_text
from collectors.records import RecordKind, Severity
from collectors.records_posture import (
    FRAMEWORK_FAMILY,
    PostureResult,
    PostureStatus,
    Provider,
)
from collectors.settings import ConfigPath, StrictModel

DEFAULT_MAX_FILE_SIZE = 512 * 1024 * 1024

# Prowler's compliance keys are "<Framework>-<Version>" (or the framework alone):
# prowler/lib/outputs/compliance/compliance_check.py. Matched case-insensitively.
DEFAULT_FRAMEWORKS: dict[str, list[str]] = {
    "cis": [r"^CIS-"],
    "nist": [r"^NIST-"],
    "pci": [r"^PCI-"],
    "iso27001": [r"^ISO27001"],
    "soc2": [r"^SOC2"],
    "aws_fsbp": [r"^AWS-Foundational-Security-Best-Practices"],
    "hipaa": [r"^HIPAA"],
    "gdpr": [r"^GDPR"],
}

_STATUS = {"PASS": PostureStatus.PASS, "FAIL": PostureStatus.FAIL,
           "MANUAL": PostureStatus.MANUAL}
_MUTED = {"New": False, "Suppressed": True}  # OCSF status as Prowler writes it
_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.HIGH,
             "medium": Severity.MEDIUM, "low": Severity.LOW,
             # Prowler's lowest severity: documented as low, not guessed per finding
             "informational": Severity.LOW}
_PROVIDERS = {p.value: p for p in Provider if p is not Provider.OTHER}
_LOGGED_PER_FILE = 5


class ProwlerSettings(StrictModel):
    base_dir: ConfigPath = Field(
        default=Path("."), validate_default=True,
        description="where relative paths start; default: the config file's directory")
    paths: list[str] = Field(
        min_length=1, description="files or globs of Prowler json-ocsf output, e.g. "
                                  "output/*.ocsf.json")
    full_scans: bool = Field(
        default=True,
        description="each file is a complete scan of its accounts: a result missing from "
                    "a later scan is resolved; false: only if its check ran in that scan")
    frameworks: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_FRAMEWORKS.items()},
        max_length=32,
        description="framework family -> regexes on Prowler's compliance keys")
    max_file_size: ByteSize = Field(default=ByteSize(DEFAULT_MAX_FILE_SIZE), gt=0)
    source: str | None = Field(default=None, description="default: the collector name")

    @field_validator("frameworks")
    @classmethod
    def _families(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return check_framework_families(value)


def check_framework_families(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """Validate a ``frameworks`` setting: family names are label values, patterns regexes.

    Shared with the other CSPM collectors (``collectors/securityhub.py``).
    """
    for family, patterns in value.items():
        if not FRAMEWORK_FAMILY.match(family):
            raise ValueError(f"framework family {family[:40]!r} must be lower case "
                             "letters, digits or _ (it is a label value)")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"frameworks.{family}: bad regex: {exc}") from None
    return value


class BadRecord(ValueError):
    """A finding that cannot be read; ``kind`` says how it is counted."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class BadFile(Exception):
    """A file that yields no scan: unreadable, too large, not a complete JSON array."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One finding of one scan, as read from the file."""

    key: tuple[str, str, str, str, str]  # provider, account, region, check, resource
    provider: Provider
    account: str
    resource: str
    check: str
    service: str | None
    severity: Severity
    status: PostureStatus
    muted: bool
    frameworks: tuple[str, ...]
    time: datetime


@dataclass
class Scan:
    """One file's results of one account."""

    order: int  # file order, to break ties between scans of the same time
    account: tuple[Provider, str]
    time: datetime
    results: dict[tuple[str, str, str, str, str], Observation] = field(default_factory=dict)


@dataclass
class _State:
    """A result's lifecycle so far, scan by scan."""

    last: Observation
    first_seen: datetime
    last_seen: datetime
    resolved: datetime | None = None
    present: bool = True

    @property
    def open_failure(self) -> bool:
        return self.last.status is PostureStatus.FAIL and self.resolved is None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"no {what}")
    if not storable_text(value):  # a lone surrogate (JSON \ud800): the store cannot write it
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"{what} is not valid Unicode text")
    return value.strip()


def _time(finding: dict[str, Any]) -> datetime:
    value = finding.get("time")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise BadRecord(ErrorKind.MALFORMED_RECORD, "time out of range") from None
    text = finding.get("time_dt")
    if isinstance(text, str):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadRecord(ErrorKind.MALFORMED_RECORD, "time_dt is no ISO time") from None
        try:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None \
                else parsed.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise BadRecord(ErrorKind.MALFORMED_RECORD, "time_dt out of range") from None
    raise BadRecord(ErrorKind.MALFORMED_RECORD, "no time")


def _dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, f"{what} is not an object")
    return value


class FrameworkMap:
    """Compliance keys (Prowler's, Security Hub's standards) to the bounded set of
    families, cached per key."""

    def __init__(self, families: dict[str, list[str]]) -> None:
        self._patterns = [(family, re.compile(p, re.IGNORECASE))
                          for family, patterns in families.items() for p in patterns]
        self._cache: dict[str, tuple[str, ...]] = {}

    def families(self, key: str) -> tuple[str, ...]:
        found = self._cache.get(key)
        if found is None:
            found = tuple(sorted({family for family, pattern in self._patterns
                                  if pattern.search(key)}))
            if len(self._cache) < 10_000:
                self._cache[key] = found
        return found

    def of(self, compliance: dict[str, Any]) -> tuple[str, ...]:
        out: set[str] = set()
        for key in compliance:
            out.update(self.families(str(key)))
        return tuple(sorted(out))


def parse_finding(finding: Any, frameworks: FrameworkMap) -> Observation:
    """One OCSF Detection Finding as Prowler writes it; raises :class:`BadRecord`."""
    if not isinstance(finding, dict):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, "not an object")
    metadata = _dict(finding.get("metadata"), "metadata")
    unmapped = _dict(finding.get("unmapped"), "unmapped")
    cloud = _dict(finding.get("cloud"), "cloud")
    account_info = _dict(cloud.get("account"), "cloud.account")
    check = _text(metadata.get("event_code"), "metadata.event_code")
    if not all(isinstance(finding.get(k), str | None) for k in ("status_code", "status")):
        # A list or object would reach the dict lookups below (TypeError, a crash).
        raise BadRecord(ErrorKind.MALFORMED_RECORD, "status_code or status is not text")
    status = _STATUS.get(finding.get("status_code"))  # type: ignore[arg-type]
    if status is None:
        raise BadRecord(ErrorKind.UNMAPPED_VALUE, "status_code not PASS, FAIL or MANUAL")
    muted = _MUTED.get(finding.get("status"))  # type: ignore[arg-type]
    if muted is None:
        raise BadRecord(ErrorKind.UNMAPPED_VALUE, "status not New or Suppressed")
    severity_text = finding.get("severity")
    severity = _SEVERITY.get(severity_text.lower()) if isinstance(severity_text, str) \
        else None
    if severity is None:
        raise BadRecord(ErrorKind.UNMAPPED_VALUE, "severity not one Prowler writes")
    provider_text = cloud.get("provider") or unmapped.get("provider")
    provider_name = _text(provider_text, "provider").lower()
    provider = _PROVIDERS.get(provider_name, Provider.OTHER)
    account = _text(account_info.get("uid") or unmapped.get("provider_uid"), "account")
    resources = finding.get("resources")
    if not isinstance(resources, list) or not resources or not isinstance(resources[0],
                                                                          dict):
        raise BadRecord(ErrorKind.MALFORMED_RECORD, "no resources")
    resource_info = resources[0]
    resource = _text(resource_info.get("uid") or resource_info.get("name"), "resource")
    region_value = resource_info.get("region") or resource_info.get("namespace") \
        or cloud.get("region") or ""
    region = region_value if isinstance(region_value, str) else ""
    group = _dict(resource_info.get("group"), "resources[0].group")
    service_value = group.get("name")
    service = service_value.strip().lower() if isinstance(service_value, str) \
        and service_value.strip() else None
    compliance = _dict(unmapped.get("compliance"), "unmapped.compliance")
    return Observation(
        key=(provider_name, account, region, check, resource), provider=provider,
        account=account, resource=resource, check=check, service=service,
        severity=severity, status=status, muted=muted,
        frameworks=frameworks.of(compliance), time=_time(finding))


def read_scan_file(path: Path, max_size: int) -> list[Any] | None:
    """The file's findings, or ``None`` for an empty file (a scan that found nothing).

    Raises :class:`BadFile` for anything but one complete JSON array.
    """
    if not path.is_file():
        raise BadFile("is not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_size + 1)
    except OSError as exc:
        raise BadFile(f"cannot read: {exc.strerror}") from None
    if len(data) > max_size:
        raise BadFile(f"larger than max_file_size ({max_size} bytes); not read")
    if not data.strip():
        return None
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        where = f" (position {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BadFile("not a complete JSON array: truncated or still being written by "
                      f"Prowler{where}") from None
    if not isinstance(document, list):
        raise BadFile("not a JSON array of OCSF findings")
    return document


def build_results(scans: list[Scan], *, source: str, full_scans: bool
                  ) -> list[PostureResult]:
    """Each result's lifecycle over ``scans``, replayed oldest first per account."""
    by_account: dict[tuple[Provider, str], list[Scan]] = {}
    for scan in scans:
        by_account.setdefault(scan.account, []).append(scan)
    out: list[PostureResult] = []
    for account_scans in by_account.values():
        account_scans.sort(key=lambda s: (s.time, s.order))
        states: dict[tuple[str, str, str, str, str], _State] = {}
        for scan in account_scans:
            t = scan.time
            for key, obs in scan.results.items():
                state = states.get(key)
                if state is None:
                    states[key] = _State(last=obs, first_seen=t, last_seen=t)
                    continue
                if obs.status is PostureStatus.FAIL:
                    if not state.open_failure:  # a new failing episode
                        state.first_seen, state.resolved = t, None
                elif obs.status is PostureStatus.PASS:
                    if state.open_failure:
                        state.resolved = t
                else:  # manual: no verdict, no failure lifecycle
                    state.first_seen, state.resolved = t, None
                state.last, state.last_seen, state.present = obs, t, True
            checks_run = {obs.check for obs in scan.results.values()}
            for key, state in states.items():
                if key in scan.results or not state.present:
                    continue
                if full_scans or state.last.check in checks_run:
                    state.present = False
                    if state.open_failure:
                        state.resolved = t
        for key, state in states.items():
            obs = state.last
            status = obs.status
            if not state.present:
                if state.resolved is None:
                    continue  # gone without ever failing: nothing left to measure
                status = PostureStatus.FAIL  # resolved and gone (the record's contract)
            out.append(PostureResult(
                id=":".join(key), source=source, provider=obs.provider,
                account=obs.account, resource=obs.resource, check=obs.check,
                service=obs.service, severity=obs.severity, status=status,
                muted=obs.muted, frameworks=obs.frameworks,
                first_seen_at=state.first_seen, last_seen_at=state.last_seen,
                resolved_at=state.resolved))
    return out


def _worse(a: Observation, b: Observation) -> Observation:
    """Of two results with one key in one scan, the failing one (then the latest)."""
    rank = {PostureStatus.FAIL: 2, PostureStatus.PASS: 1, PostureStatus.MANUAL: 0}
    return a if (rank[a.status], a.time) >= (rank[b.status], b.time) else b


class ProwlerCollector(Collector):
    """Prowler json-ocsf output files (see module docstring)."""

    config_model: ClassVar[type[StrictModel]] = ProwlerSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.POSTURE_RESULT})

    def __init__(self, name: str, settings: StrictModel) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, ProwlerSettings)
        self.config: ProwlerSettings = settings

    def files(self) -> list[tuple[Path, int]]:
        """Every matched file once, with the index of the pattern that matched it."""
        seen: set[Path] = set()
        out: list[tuple[Path, int]] = []
        for index, text in enumerate(self.config.paths):
            pattern = Path(text).expanduser()
            if not pattern.is_absolute():
                pattern = self.config.base_dir / pattern
            matches = sorted(Path(p) for p in glob.glob(str(pattern)))
            if not matches:
                raise CollectorError(ErrorKind.CONFIG, f"paths[{index}] matches no file")
            for match in matches:
                if match not in seen:
                    seen.add(match)
                    out.append((match, index))
        return out

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        return await asyncio.to_thread(self._collect, ctx)

    def _collect(self, ctx: CollectContext) -> CollectionResult:
        files = self.files()
        frameworks = FrameworkMap(self.config.frameworks)
        errors: Counter[ErrorKind] = Counter()
        scans: list[Scan] = []
        failed = 0
        for order, (path, pattern) in enumerate(files):
            # File names can carry account ids: logs name the pattern and position only.
            where = f"paths[{pattern}] file {order + 1} of {len(files)}"
            try:
                findings = read_scan_file(path, int(self.config.max_file_size))
            except BadFile as exc:
                failed += 1
                errors[ErrorKind.MALFORMED_RESPONSE] += 1
                ctx.logger.warning("%s: %s; its results are not read and no stored "
                                   "result is resolved this run", where, exc)
                continue
            per_account: dict[tuple[Provider, str], Scan] = {}
            logged = 0
            for position, raw in enumerate(findings or ()):
                try:
                    obs = parse_finding(raw, frameworks)
                except BadRecord as exc:
                    errors[exc.kind] += 1
                    if logged < _LOGGED_PER_FILE:
                        ctx.logger.warning("%s, finding %d skipped: %s", where, position,
                                           exc)
                    logged += 1
                    continue
                account = (obs.provider, obs.account)
                scan = per_account.get(account)
                if scan is None:
                    scan = per_account[account] = Scan(order=order, account=account,
                                                       time=obs.time)
                scan.time = max(scan.time, obs.time)
                held = scan.results.get(obs.key)
                scan.results[obs.key] = obs if held is None else _worse(held, obs)
            if logged > _LOGGED_PER_FILE:
                ctx.logger.warning("%s: %d findings skipped in all", where, logged)
            scans.extend(per_account.values())
        if failed and failed == len(files):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"all {failed} Prowler files failed; stored results kept")
        results = build_results(scans, source=self.config.source or self.name,
                                full_scans=self.config.full_scans)
        ctx.logger.info("prowler: %d files, %d scans, %d results", len(files), len(scans),
                        len(results))
        complete = frozenset() if failed else frozenset({RecordKind.POSTURE_RESULT})
        return CollectionResult(records={RecordKind.POSTURE_RESULT: results},
                                complete=complete, record_errors=errors)
