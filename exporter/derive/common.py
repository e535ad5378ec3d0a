"""What every derivation family shares: metric sets, settings, the context, the family.

A family is one pure module per group of record kinds (findings, repositories,
incidents, alerts, and the kinds to come). Each declares a :class:`DerivationFamily`:
the record kind it reads, the store columns it unpacks (in that order, so the store
can stream exactly those as plain tuples), and a function from those rows and a
:class:`DerivationContext` to one :class:`MetricSet` per quarter. Nothing here reads
the clock, the disk or the network.

Families of states (repository settings, directory accounts, rules, posture results)
share one rule for which observation counts in which quarter and how live history and
dated snapshots combine: :func:`latest_observations`, :func:`history_first`, and both
together in :func:`point_in_time_quarters`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collectors.records import RecordKind
from exporter.quarters import Quarter
from exporter.store import CURRENT_OBSERVATION, SEVERITY_CODES

# Default posture SLA days (cloud.sla.days), per severity.
CLOUD_SLA_DAYS = {"critical": 7, "high": 30, "medium": 90, "low": 180}
SEVERITIES = tuple(SEVERITY_CODES)  # critical, high, medium, low (code = index)
DAY = 86400.0
HOUR = 3600.0

# The leading columns of a point-in-time family's rows: the key, then the observation
# time (CURRENT_OBSERVATION for the state as of the run), as latest_observations reads.
OBSERVATION_COLUMNS = ("source", "id", "observed")

Labels = tuple[tuple[str, str], ...]
MetricKey = tuple[str, Labels]
Rows = Iterable[tuple[Any, ...]]
History = Mapping[str, Mapping[MetricKey, float]]


@dataclass
class MetricSet:
    """Values of one quarter: ``{(metric name, sorted labels): value}``.

    ``reconstructed`` names the values that rest (at least in part) on records a
    source rebuilt from its own history rather than observed then (a Repository
    snapshot with ``reconstructed`` set), with the sources: ``explain`` says so.
    """

    values: dict[MetricKey, float] = field(default_factory=dict)
    reconstructed: dict[MetricKey, frozenset[str]] = field(default_factory=dict)

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
    that quarter), for families whose earlier values cannot be rebuilt from events; it
    wins over what dated snapshots give that quarter (:func:`history_first`).
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
    # stored column values the rows must have (filtered in SQL); empty = every row
    where: tuple[tuple[str, Any], ...] = ()


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


@dataclass(frozen=True)
class Observations:
    """One quarter's state: each key's latest observation in it, and when that was.

    ``at`` is the newest observation time among ``rows`` as a timestamp (``now`` for
    an undated row, the state as of the run), ``None`` when the quarter has none; a
    value that describes "as of" (a scan's age) is evaluated then, not at ``now``.
    """

    rows: list[tuple[Any, ...]]
    at: float | None


def latest_observations(rows: Rows, now: datetime, quarters: tuple[Quarter, Quarter], *,
                        observed_index: int = 2, key_indexes: tuple[int, ...] = (0, 1),
                        ) -> tuple[Observations, Observations]:
    """Each key's latest observation per quarter (previous, current), rows kept whole.

    A state (coverage, a directory, a rule set) has no history of its own: a quarter's
    value is that of the state observed in it. An undated row (observed is
    :data:`CURRENT_OBSERVATION`) is the state as of the run: it belongs to the current
    quarter and is later than any dated row. A dated row counts in the quarter it was
    observed in; a quarter without an observation of a key does not have that key (an
    older snapshot is not carried forward), and an observation after ``now`` is not
    one yet. Only the latest row per key and quarter is kept, so memory is one row per
    key, not one per snapshot.
    """
    cut = now.timestamp()
    bounds = quarter_bounds(quarters)
    latest: tuple[dict[tuple[Any, ...], tuple[float, tuple[Any, ...]]], ...] = ({}, {})
    for row in rows:
        observed = row[observed_index]
        if observed == CURRENT_OBSERVATION:
            qi, observed = 1, float("inf")
        elif observed > cut:
            continue
        elif bounds[1][0] <= observed < bounds[1][1]:
            qi = 1
        elif bounds[0][0] <= observed < bounds[0][1]:
            qi = 0
        else:
            continue
        key = tuple(row[i] for i in key_indexes)
        seen = latest[qi].get(key)
        if seen is None or observed > seen[0]:
            latest[qi][key] = (observed, row)
    result = []
    for by_key in latest:
        newest = max((observed for observed, _ in by_key.values()), default=None)
        result.append(Observations(rows=[row for _, row in by_key.values()],
                                   at=None if newest is None else min(newest, cut)))
    return result[0], result[1]


def without_observation(rows: Rows) -> Rows:
    """Rows without their leading :data:`OBSERVATION_COLUMNS`: what a share reads."""
    skip = len(OBSERVATION_COLUMNS)
    return (row[skip:] for row in rows)


def history_first(derived: MetricSet, ctx: DerivationContext,
                  names: frozenset[str]) -> MetricSet:
    """The previous quarter: live stored history first, derived values fill the gaps.

    What the exporter saw live in that quarter (its stored values of the point-in-time
    metrics ``names``) beats anything rebuilt from dated snapshots, which can be
    partial or late; values derived for the quarter fill only what the history lacks,
    and without either a value is absent.
    """
    merged: dict[MetricKey, float] = {
        key: value for key, value in ctx.history.get(ctx.previous.label, {}).items()
        if key[0] in names
    }
    live = set(merged)
    for key, value in derived.values.items():
        merged.setdefault(key, value)
    # A value from live history is observed, whatever the snapshots were.
    return MetricSet(merged, {key: sources for key, sources in derived.reconstructed.items()
                              if key not in live})


def point_in_time_quarters(rows: Rows, ctx: DerivationContext,
                           derive: Callable[[Rows], MetricSet],
                           names: frozenset[str]) -> dict[str, MetricSet]:
    """A point-in-time family's quarters: ``derive`` over each quarter's latest state.

    ``rows`` lead with :data:`OBSERVATION_COLUMNS`; ``derive`` gets each quarter's
    latest observation per key (rows whole) and returns that quarter's values; the
    previous quarter then takes live history first (:func:`history_first`).
    """
    observed = latest_observations(rows, ctx.now, ctx.quarters)
    sets = {quarter.label: derive(quarter_rows.rows)
            for quarter, quarter_rows in zip(ctx.quarters, observed, strict=True)}
    sets[ctx.previous.label] = history_first(sets[ctx.previous.label], ctx, names)
    return sets
