"""The ``reports`` collector: scanner reports in a directory become findings with a lifecycle.

Each run expands the configured globs, reads every report not read before (a file is
known by its path, size and modification time), detects its format by content, turns
it into scans (tool, target, time, instances), applies the new scans in time order to
the lifecycle kept in the collector state, and returns every finding of that state as
the complete set. A bad file is skipped, counted and logged once; it never fails the
other files. See docs/collectors/reports.md.
"""

from __future__ import annotations

import glob
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import ByteSize, Field, field_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.records import Finding, FindingState, RecordKind, Severity
from collectors.records_scans import ScanCategory, ScanTarget
from collectors.reports import (
    gitleaks,
    grype,
    nuclei,
    sarif,
    semgrep,
    snyk,
    trivy,
    trufflehog,
    zap,
)
from collectors.reports.detect import FORMATS, JSONL_FORMATS, PREFIX_BYTES, detect
from collectors.reports.lifecycle import (
    ASSET,
    CATEGORY,
    CVES,
    DISCLOSED,
    OPENED,
    REASON,
    RESOLVED,
    SEVERITY,
    STATE,
    STATE_VERSION,
    ScanGroup,
    apply,
    empty_state,
    prune,
)
from collectors.reports.model import CATEGORIES, Hints, ReportError, Scan, parse_time
from collectors.settings import ConfigPath, PositiveDuration, StrictModel, TimeZoneName

JSON_PARSERS = {"trivy": trivy.parse, "grype": grype.parse, "semgrep": semgrep.parse,
                "sarif": sarif.parse, "gitleaks": gitleaks.parse, "zap": zap.parse,
                "snyk": snyk.parse}
JSONL_PARSERS = {"nuclei": nuclei.parse_lines, "trufflehog": trufflehog.parse_lines}
DEFAULT_MAX_JSON_SIZE = 256 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024
# The kind of testing each tool's scans are: what a scan of a target proves is covered.
# A SARIF tool's category is sarif_categories' (default sast).
TOOL_CATEGORIES = {"trivy": "sca", "grype": "sca", "snyk": "sca", "semgrep": "sast",
                   "gitleaks": "secret", "trufflehog": "secret", "zap": "dast",
                   "nuclei": "dast"}
_STATES = {"open": FindingState.OPEN, "fixed": FindingState.FIXED,
           "dismissed": FindingState.DISMISSED}
Category = Literal["sast", "sca", "secret", "dast", "iac"]


class ReportSpec(StrictModel):
    path: str = Field(description="file path or glob (`**` allowed), relative to base_dir")
    format: Literal["auto", "trivy", "grype", "semgrep", "sarif", "gitleaks",
                    "trufflehog", "zap", "nuclei", "snyk"] = Field(
        default="auto", description="the report format; auto = detected by content")
    path_pattern: str | None = Field(
        default=None,
        description="regular expression searched in the path relative to base_dir; its "
                    "named groups `target` and `scanned_at` supply what the report does "
                    "not say (a report's own target and time win)")

    @field_validator("path_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as exc:
                raise ValueError(f"path_pattern is not a regular expression: {exc}") from None
            unknown = set(compiled.groupindex) - {"target", "scanned_at"}
            if unknown:
                raise ValueError(f"path_pattern: unknown group(s) {sorted(unknown)}; "
                                 "use target and scanned_at")
        return value


class Rebase(StrictModel):
    """Shift published times by ``now - anchor``: keeps the bundled demo current."""

    anchor: datetime

    @field_validator("anchor")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("anchor needs a time zone, e.g. 2026-11-23T00:00:00Z")
        return value.astimezone(UTC)


class ReportsSettings(StrictModel):
    base_dir: ConfigPath = Field(
        default=Path("."), validate_default=True,
        description="where relative paths start; default: the config file's directory")
    reports: list[ReportSpec] = Field(min_length=1)
    naive_timezone: TimeZoneName = Field(
        default="UTC", description="time zone of report times without an offset (ZAP)")
    max_json_size: ByteSize = Field(
        default=ByteSize(DEFAULT_MAX_JSON_SIZE), gt=0,
        description="a larger JSON report is skipped unread (JSON Lines have no limit)")
    lookback: PositiveDuration | None = Field(
        default=None,
        description="findings resolved before the window start are forgotten; default: "
                    "the previous quarter's start less 14 days")
    sarif_categories: dict[str, Category] = Field(
        default_factory=dict,
        description="SARIF tool (driver) name, case-insensitive -> category; others sast")
    targets: dict[str, str] = Field(
        default_factory=dict,
        description="a report's target -> the name to use (an image to its repository)")
    secret_severity: Severity = Severity.HIGH
    unverified_secret_severity: Severity = Severity.MEDIUM
    rebase: Rebase | None = None

    @field_validator("sarif_categories")
    @classmethod
    def _lower(cls, value: dict[str, str]) -> dict[str, str]:
        return {name.strip().lower(): category for name, category in value.items()}


class _Skip(Exception):
    """A file skipped: its error kind and a message without report content."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _jsonl(path: Path) -> Iterator[Any]:
    """A JSON Lines file's objects, one line at a time; None for a bad line."""
    with path.open("rb") as handle:
        for raw in handle:
            if len(raw) > MAX_LINE_BYTES:
                yield None
                continue
            line = raw.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):
                yield None


class ReportsCollector(Collector):
    """Scanner reports (Trivy, Grype, Semgrep, SARIF, Gitleaks, ...) as findings."""

    config_model: ClassVar[type[StrictModel]] = ReportsSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.FINDING,
                                                        RecordKind.SCAN_TARGET})
    settings: ReportsSettings

    def _files(self) -> list[tuple[Path, ReportSpec]]:
        out: dict[Path, ReportSpec] = {}
        for spec in self.settings.reports:
            pattern = Path(spec.path).expanduser()
            if not pattern.is_absolute():
                pattern = self.settings.base_dir / pattern
            for match in sorted(glob.glob(str(pattern), recursive=True)):
                path = Path(match)
                if path.is_file():
                    out.setdefault(path, spec)
        return sorted(out.items())

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.settings.base_dir).as_posix()
        except ValueError:
            return path.as_posix()

    def _hints(self) -> Hints:
        settings = self.settings
        return Hints(naive_zone=ZoneInfo(settings.naive_timezone),
                     sarif_categories=settings.sarif_categories,
                     secret_severity=settings.secret_severity,
                     unverified_secret_severity=settings.unverified_secret_severity)

    def read(self, path: Path, spec: ReportSpec) -> list[Scan]:
        """The scans in one report, target and time filled from the path; or _Skip."""
        relative = self._relative(path)
        found = re.search(spec.path_pattern, relative) if spec.path_pattern else None
        groups = found.groupdict() if found else {}
        path_target = groups.get("target") or None
        path_time = parse_time(groups.get("scanned_at"), ZoneInfo(self.settings.naive_timezone))
        fmt = spec.format
        try:
            if fmt == "auto":
                with path.open("rb") as handle:
                    fmt = detect(handle.read(PREFIX_BYTES)) or "unknown"
            if fmt == "unknown":
                raise _Skip(ErrorKind.UNMAPPED_VALUE, "not a report format this collector "
                            f"reads ({', '.join(FORMATS)}); set format: if it is one")
            if fmt in JSONL_FORMATS:
                scans = JSONL_PARSERS[fmt](_jsonl(path), self._hints(), path_target)
            else:
                scans = JSON_PARSERS[fmt](self._load_json(path), self._hints())
        except OSError as exc:
            raise _Skip(ErrorKind.CONFIG, f"cannot read: {exc.strerror}") from None
        except ReportError as exc:
            kind = (ErrorKind.UNMAPPED_VALUE if exc.kind == "unmapped"
                    else ErrorKind.MALFORMED_RECORD)
            raise _Skip(kind, f"{fmt}: {exc}") from None
        for scan in scans:
            scan.target = scan.target or path_target
            scan.scanned_at = scan.scanned_at or path_time
            if scan.target is not None:
                scan.target = self.settings.targets.get(scan.target, scan.target)
        return scans

    def _load_json(self, path: Path) -> Any:
        limit = int(self.settings.max_json_size)
        if path.stat().st_size > limit:
            raise _Skip(ErrorKind.MALFORMED_RECORD,
                        f"larger than max_json_size ({limit} bytes); not read")
        data = path.read_bytes()
        try:
            return json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _Skip(ErrorKind.MALFORMED_RECORD,
                        "not valid JSON (truncated or not a JSON report)") from None

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        state = ctx.state if ctx.state.get("version") == STATE_VERSION else empty_state()
        state = json.loads(json.dumps(state))  # never mutate the core's copy
        errors: Counter[ErrorKind] = Counter()
        known_files: dict[str, list[Any]] = state["files"]
        present: set[str] = set()
        groups: dict[tuple[str, str, float], ScanGroup] = {}
        attempted = failed = 0
        first_failure: _Skip | None = None
        for path, spec in self._files():
            relative = self._relative(path)
            present.add(relative)
            stat = path.stat()
            signature = [stat.st_size, stat.st_mtime_ns]
            if known_files.get(relative, [None, None])[:2] == signature:
                continue  # read before, applied or counted then
            attempted += 1
            try:
                scans = self.read(path, spec)
            except _Skip as exc:
                failed += 1
                first_failure = first_failure or exc
                errors[exc.kind] += 1
                ctx.logger.warning("%s: %s; report skipped", relative, exc)
                known_files[relative] = [*signature, exc.kind.value]
                continue
            known_files[relative] = signature
            self._group(ctx, relative, scans, groups, errors)
        for relative in set(known_files) - present:
            del known_files[relative]
        if attempted and failed == attempted and not state["findings"]:
            assert first_failure is not None
            raise CollectorError(first_failure.kind, f"all {attempted} new reports were "
                                 f"skipped; first: {first_failure}")
        late = sum(not apply(state, group) for group in
                   sorted(groups.values(), key=lambda g: (g.at, g.tool, g.target)))
        if late:
            ctx.logger.info("%d scans older than the last applied scan of their tool and "
                            "target were ignored", late)
        shift = (ctx.now - self.settings.rebase.anchor).total_seconds() \
            if self.settings.rebase else 0.0
        prune(state, ctx.window_start(self.settings.lookback).timestamp() - shift)
        result = CollectionResult(state=state, record_errors=+errors, complete=self.kinds)
        result.findings.extend(self._findings(ctx, state, shift))
        result.records_of(RecordKind.SCAN_TARGET).extend(self._targets(ctx, state, shift))
        return result

    def category(self, tool: str) -> ScanCategory:
        """The kind of testing ``tool``'s scans are (see :data:`TOOL_CATEGORIES`)."""
        if tool.startswith("sarif:"):
            return ScanCategory(self.settings.sarif_categories.get(tool[6:], "sast"))
        return ScanCategory(TOOL_CATEGORIES[tool])

    def _targets(self, ctx: CollectContext, state: dict[str, Any],
                 shift: float) -> Iterator[ScanTarget]:
        for stream_id, stream in state["streams"].items():
            if stream["last"] is None:
                continue
            tool, target = stream_id.split("\x1f", 1)
            complete = stream.get("complete")
            yield ScanTarget(
                id=f"{tool}:{target}", source=ctx.name, target=target, tool=tool,
                category=self.category(tool),
                last_scan_at=datetime.fromtimestamp(stream["last"] + shift, UTC),
                last_complete_scan_at=None if complete is None
                else datetime.fromtimestamp(complete + shift, UTC))

    def _group(self, ctx: CollectContext, relative: str, scans: list[Scan],
               groups: dict[tuple[str, str, float], ScanGroup],
               errors: Counter[ErrorKind]) -> None:
        for scan in scans:
            errors[ErrorKind.UNMAPPED_VALUE] += scan.unmapped
            errors[ErrorKind.MALFORMED_RECORD] += scan.malformed
            if scan.unmapped or scan.malformed:
                ctx.logger.warning("%s: %d findings with an unknown severity or value and "
                                   "%d malformed ones skipped", relative, scan.unmapped,
                                   scan.malformed)
            if scan.target is None or scan.scanned_at is None:
                errors[ErrorKind.UNMAPPED_VALUE] += 1
                what = "target" if scan.target is None else "scan time"
                ctx.logger.warning("%s: a %s scan without a %s (neither in the report "
                                   "nor from path_pattern); skipped", relative, scan.tool,
                                   what)
                continue
            at = scan.scanned_at.timestamp()
            group = groups.setdefault((scan.tool, scan.target, at),
                                      ScanGroup(scan.tool, scan.target, at, {}, True))
            group.complete = group.complete and scan.complete
            for instance in scan.instances:
                group.instances.setdefault(instance.fingerprint, instance)

    def _findings(self, ctx: CollectContext, state: dict[str, Any],
                  shift: float) -> Iterator[Finding]:
        def when(value: float | None) -> datetime | None:
            return None if value is None else datetime.fromtimestamp(value + shift, UTC)

        for fid, entry in state["findings"].items():
            opened = when(entry[OPENED])
            assert opened is not None
            yield Finding(
                id=fid, source=ctx.name, severity=Severity(entry[SEVERITY]),
                opened_at=opened, state=_STATES[entry[STATE]],
                resolved_at=when(entry[RESOLVED]), dismissed_reason=entry[REASON],
                asset=entry[ASSET], cve_ids=tuple(entry[CVES].split()) if entry[CVES] else (),
                disclosed_at=when(entry[DISCLOSED]) if entry[DISCLOSED] is not None else None,
                category=entry[CATEGORY])


assert set(CATEGORIES) == set(Category.__args__)  # type: ignore[attr-defined]
