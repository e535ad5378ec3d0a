"""What a parser makes of one report: scans of targets, each a set of finding instances.

A report file is a snapshot of what one tool saw on one or more targets at one moment.
Parsers turn it into :class:`Scan` objects (tool, target, scan time, complete or not,
the instances seen) and know nothing about lifecycles or the store; the collector
orders the scans per tool and target and derives opened / fixed / reopened / dismissed
from their differences (``collectors/reports/lifecycle.py``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from collectors.records import Severity

CATEGORIES = ("sast", "sca", "secret", "dast", "iac")


class ReportError(ValueError):
    """The whole file is unusable. ``kind`` is ``malformed`` or ``unmapped``.

    The message names what is wrong, never a value from the report (a report can hold
    secrets, e-mail addresses and commit authors).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Instance:
    """One finding instance as the tool reported it.

    ``fingerprint`` is the tool's own stable identity where it has one, otherwise the
    documented key of the format (docs/collectors/reports.md); it is hashed before it
    becomes a record id, so a secret-bearing key never leaves the collector.
    """

    fingerprint: str
    severity: Severity
    category: str
    cve_ids: tuple[str, ...] = ()
    suppressed: str | None = None  # the tool-native suppression's reason, if any
    disclosed_at: datetime | None = None


@dataclass
class Scan:
    """One tool's scan of one target at one time.

    ``complete`` is False for a scan that errored or a file cut short: its instances
    open or reopen findings, but it never resolves one (an absent instance may simply
    not have been reached). ``target`` and ``scanned_at`` may be None from the report;
    the collector then takes them from the file's path or skips the scan.
    """

    tool: str
    target: str | None
    scanned_at: datetime | None
    instances: list[Instance] = field(default_factory=list)
    complete: bool = True
    unmapped: int = 0  # instances skipped: a severity or value no mapping knows
    malformed: int = 0  # instances (or lines) skipped: not the documented shape
    ignored: int = 0  # instances below the finding threshold (informational)


@dataclass(frozen=True)
class Hints:
    """Settings a parser needs: how to read naive times, what a tool's results are."""

    naive_zone: tzinfo = UTC
    # SARIF tool (driver) name, lower case -> category; others are sast.
    sarif_categories: Mapping[str, str] = field(default_factory=dict)
    secret_severity: Severity = Severity.HIGH  # Gitleaks; trufflehog verified
    unverified_secret_severity: Severity = Severity.MEDIUM  # trufflehog unverified


IGNORE = "ignore"  # a mapped severity that is not a finding (informational, note)
# The four levels most scanners name as we do (case is folded by count_severity).
FOUR_LEVELS: dict[str, Severity | str] = {
    "critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM,
    "low": Severity.LOW,
}


def map_severity(raw: object, table: dict[str, Severity | str]) -> Severity | str | None:
    """``table``'s value for ``raw`` (case-insensitive), or None when unknown."""
    if not isinstance(raw, str):
        return None
    return table.get(raw.strip().lower())


def count_severity(scan: Scan, raw: object, table: dict[str, Severity | str]
                   ) -> Severity | None:
    """Map ``raw``; count it on ``scan`` as unmapped or ignored when it is no severity."""
    mapped = map_severity(raw, table)
    if mapped is None:
        scan.unmapped += 1
        return None
    if mapped == IGNORE:
        scan.ignored += 1
        return None
    assert isinstance(mapped, Severity)
    return mapped


def score_severity(score: float) -> Severity | str:
    """A CVSS-style 0-10 score as a severity (the CVSS v3 qualitative bands)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return IGNORE


def key(*parts: object) -> str:
    """A documented fallback key: the parts joined by a separator no field contains."""
    return "\x1f".join("" if p is None else str(p) for p in parts)


def digest(text: str, size: int = 20) -> str:
    """A short stable hash: ids carry no report content (paths, secrets, hosts)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:size]


_FRACTION = re.compile(r"(\.\d{6})\d+")
_ZAP_GENERATED = "%a, %d %b %Y %H:%M:%S"


def parse_time(value: object, naive_zone: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 time as the tools write it (Go's nanoseconds, ``Z``), else None.

    Also accepts Unix seconds and ZAP's ``@generated`` form (``Thu, 17 Jun 2021
    16:04:28``). A time without an offset is taken in ``naive_zone``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = _FRACTION.sub(r"\1", value.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in (_ZAP_GENERATED, "%Y%m%dT%H%M%S%z", "%Y%m%dT%H%M%S", "%Y%m%d"):
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        if text.isdigit() and len(text) >= 9:
            return datetime.fromtimestamp(int(text), UTC)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_zone)
    return parsed.astimezone(UTC)


def as_list(value: object) -> list:
    """``value`` if it is a list, [] for null/absent; anything else is malformed."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError("malformed", "expected a list")
    return value


def cves(*values: object) -> tuple[str, ...]:
    """The CVE ids among ``values`` (strings or lists of strings), sorted, unique."""
    found: set[str] = set()
    for value in values:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str) and item.upper().startswith("CVE-"):
                found.add(item.upper())
    return tuple(sorted(found))

