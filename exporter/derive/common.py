"""What every derivation family shares: metric sets, settings, the context, the family.

A family is one pure module per group of record kinds (findings, repositories,
incidents, alerts, and the kinds to come). Each declares a :class:`DerivationFamily`:
the record kind it reads, the store columns it unpacks (in that order, so the store
can stream exactly those as plain tuples), and a function from those rows and a
:class:`DerivationContext` to one :class:`MetricSet` per quarter. Nothing here reads
the clock, the disk or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collectors.records import RecordKind
from exporter.quarters import Quarter
from exporter.store import SEVERITY_CODES

# Default posture SLA days (cloud.sla.days), per severity.
CLOUD_SLA_DAYS = {"critical": 7, "high": 30, "medium": 90, "low": 180}
SEVERITIES = tuple(SEVERITY_CODES)  # critical, high, medium, low (code = index)
DAY = 86400.0
HOUR = 3600.0

Labels = tuple[tuple[str, str], ...]
MetricKey = tuple[str, Labels]
Rows = Iterable[tuple[Any, ...]]
History = Mapping[str, Mapping[MetricKey, float]]


@dataclass
class MetricSet:
    """Values of one quarter: ``{(metric name, sorted labels): value}``."""

    values: dict[MetricKey, float] = field(default_factory=dict)

    def set(self, name: str, value: float, **labels: str) -> None:
        self.values[(name, tuple(sorted(labels.items())))] = value

    def get(self, name: str, **labels: str) -> float | None:
        return self.values.get((name, tuple(sorted(labels.items()))))

    def series(self, name: str) -> dict[Labels, float]:
        return {labels: v for (n, labels), v in self.values.items() if n == name}


@dataclass(frozen=True)
class DerivationSettings:
    """The config that changes derivation (SLA days and window, repository scope)."""

    sla_days: Mapping[str, int]
    sla_window: timedelta = timedelta(days=90)
    fiscal_start_month: int = 1
    include_forks: bool = False
    exclude_patterns: tuple[str, ...] = ()
    # detection coverage: ATT&CK platforms counted in the denominator (empty = all)
    detection_platforms: tuple[str, ...] = ()
    # identity and access: the offboarding SLA (left -> access removed), and whether
    # guest accounts count in MFA coverage
    identity_offboarding_sla: timedelta = timedelta(hours=4)
    identity_count_guests: bool = False
    # cloud posture: SLA days per severity and window (cloud.sla), the scan age within
    # which an account counts as scanned, the window of accounts seen, the services
    # whose checks are identity and access, and the framework families published
    cloud_sla_days: Mapping[str, int] = field(default_factory=lambda: dict(
        CLOUD_SLA_DAYS))
    cloud_sla_window: timedelta = timedelta(days=90)
    cloud_scan_max_age: timedelta = timedelta(hours=24)
    cloud_accounts_window: timedelta = timedelta(days=30)
    cloud_iam_services: tuple[str, ...] = ("iam", "entra", "rbac")
    cloud_frameworks: tuple[str, ...] = ("cis", "nist", "pci", "iso27001", "soc2",
                                         "aws_fsbp", "hipaa", "gdpr")
    # scanner reports (exporter/derive/scans.py): the age within which a target counts
    # as scanned, and the targets (services) DAST must cover
    scan_max_age: timedelta = timedelta(days=7)
    dast_targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Derived:
    """Every family's values for the previous and current quarter, as of ``now``."""

    now: datetime
    current: Quarter
    previous: Quarter
    by_quarter: dict[str, MetricSet]

    @property
    def quarters(self) -> tuple[Quarter, Quarter]:
        return (self.previous, self.current)


@dataclass(frozen=True)
class DerivationContext:
    """Everything a family may depend on besides its rows, fixed for one derivation.

    ``quarters`` is ``(previous, current)``. ``history`` holds stored values of
    point-in-time metrics by quarter label (what the exporter saved while running in
    that quarter), for families whose earlier values cannot be rebuilt from rows.
    """

    settings: DerivationSettings
    now: datetime
    quarters: tuple[Quarter, Quarter]
    history: History = field(default_factory=dict)

    @property
    def previous(self) -> Quarter:
        return self.quarters[0]

    @property
    def current(self) -> Quarter:
        return self.quarters[1]


DeriveFunction = Callable[[Rows, DerivationContext], dict[str, MetricSet]]


@dataclass(frozen=True)
class DerivationFamily:
    """One family's declaration, all the registry needs to stream and derive it.

    ``columns`` are the store's column names in the order ``derive`` unpacks them, so
    the store streams only those, as plain tuples, in one pass. ``history_metrics``
    names the family's point-in-time metrics: the current quarter's values of those
    are kept as history, and live history of the previous quarter wins over what the
    family rebuilds for it from rows.
    """

    name: str
    kind: RecordKind
    columns: tuple[str, ...]
    derive: DeriveFunction
    history_metrics: frozenset[str] = frozenset()


class Mean:
    """A running mean, so a million rows are averaged without keeping them."""

    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    def value(self, unit: float = 1.0) -> float | None:
        return self.total / self.count / unit if self.count else None


def quarter_bounds(quarters: tuple[Quarter, Quarter]) -> list[tuple[float, float]]:
    """``[start, end)`` of each quarter as timestamps, the form rows are compared in."""
    return [(q.start.timestamp(), q.end.timestamp()) for q in quarters]
