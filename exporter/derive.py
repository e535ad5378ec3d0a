"""Derived outcome metrics: pure functions over stored rows and an explicit ``now``.

Every definition here is the one in DESIGN.md, and the README's metric table quotes
it. Inputs are iterables of the plain tuples the store streams (see ``store.py`` for
the column order), so a million findings are aggregated in one pass without building
a million objects. Nothing here reads the clock, the disk or the network.

Output is a :class:`Derived`: one :class:`MetricSet` per quarter (current and
previous), each holding that quarter's values keyed by metric name and labels without
the ``quarter`` label. Values that describe "now" (SLA compliance, open findings) are
computed as of ``now`` for the current quarter and as of the quarter's end for the
previous one, so the maturity engine can assess both quarters the same way.
A metric with no underlying data is simply not in the set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from exporter.quarters import Quarter, previous_quarter, quarter_of
from exporter.store import (
    CURRENT_OBSERVATION,
    DISPOSITION_CODES,
    SEVERITY_CODES,
    STATE_CODES,
)

SEVERITIES = tuple(SEVERITY_CODES)  # critical, high, medium, low (code = index)
DAY = 86400.0
HOUR = 3600.0
_FIXED = STATE_CODES["fixed"]
_OPEN = STATE_CODES["open"]
_UNTRIAGED = DISPOSITION_CODES["untriaged"]
_ACTIONABLE = DISPOSITION_CODES["actionable"]
DISPOSITIONS_BY_CODE = {code: name for name, code in DISPOSITION_CODES.items()}
COVERAGE_SETTINGS = ("sast", "review_gate", "required_review", "secret_scanning",
                     "push_protection", "dependency_alerts")
REVIEW_GATE_MIN_TIER = 2  # a required pull-request review: the "security gate" bar

Labels = tuple[tuple[str, str], ...]
MetricKey = tuple[str, Labels]


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


@dataclass(frozen=True)
class Derived:
    now: datetime
    current: Quarter
    previous: Quarter
    by_quarter: dict[str, MetricSet]

    @property
    def quarters(self) -> tuple[Quarter, Quarter]:
        return (self.previous, self.current)


class _Mean:
    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    def value(self, unit: float = 1.0) -> float | None:
        return self.total / self.count / unit if self.count else None


# -- findings ---------------------------------------------------------------------------


def derive_findings(rows: Iterable[tuple[Any, ...]], settings: DerivationSettings,
                    now: datetime, quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """MTTR, SLA compliance, open and past-due counts, mean open age, exposure window.

    - MTTR (days), per severity and quarter: mean of resolved - opened over findings
      *fixed* in the quarter (dismissed findings are not remediations).
    - SLA compliance (%), per severity, as of an evaluation time T (now for the current
      quarter, the quarter's end for the previous one), over the window (T - window, T]:
      100 * fixed within SLA / (fixed in window + open at T and already past due).
      Open findings not yet due count neither way.
    - Open findings, open past SLA, mean age of open findings (seconds), as of T.
    - Exposure window (seconds), per severity and quarter: mean of fixed - disclosed over
      findings fixed in the quarter that carry an advisory disclosure time.
    """
    previous, _current = quarters
    eval_times = (min(now.timestamp(), previous.end.timestamp()), now.timestamp())
    bounds = [(q.start.timestamp(), q.end.timestamp()) for q in quarters]
    window = settings.sla_window.total_seconds()
    sla = [settings.sla_days[s] * DAY for s in SEVERITIES]
    n_sev = len(SEVERITIES)
    # Per quarter index (0 previous, 1 current) and severity code:
    mttr = [[_Mean() for _ in range(n_sev)] for _ in range(2)]
    exposure = [[_Mean() for _ in range(n_sev)] for _ in range(2)]
    in_sla = [[0] * n_sev for _ in range(2)]
    fixed_in_window = [[0] * n_sev for _ in range(2)]
    past_due = [[0] * n_sev for _ in range(2)]
    open_count = [[0] * n_sev for _ in range(2)]
    open_age = [[0.0] * n_sev for _ in range(2)]
    seen_any = False

    for severity, state, opened, resolved, disclosed in rows:
        seen_any = True
        due = opened + sla[severity]
        for qi in (0, 1):
            t = eval_times[qi]
            if opened > t:
                continue
            if state == _FIXED and resolved <= t:
                start, end = bounds[qi]
                if start <= resolved < end:
                    mttr[qi][severity].add(resolved - opened)
                    if disclosed is not None:
                        exposure[qi][severity].add(max(0.0, resolved - disclosed))
                if resolved > t - window:
                    fixed_in_window[qi][severity] += 1
                    if resolved <= due:
                        in_sla[qi][severity] += 1
            elif resolved is None or resolved > t:
                # open at t (a finding fixed or dismissed after t was still open then)
                open_count[qi][severity] += 1
                open_age[qi][severity] += t - opened
                if due < t:
                    past_due[qi][severity] += 1

    sets = {q.label: MetricSet() for q in quarters}
    if not seen_any:
        return sets
    for qi, quarter in enumerate(quarters):
        metrics = sets[quarter.label]
        for code, sev in enumerate(SEVERITIES):
            value = mttr[qi][code].value(DAY)
            if value is not None:
                metrics.set("vulnerability_mttr_days", value, severity=sev)
            value = exposure[qi][code].value()
            if value is not None:
                metrics.set("devsecops_vulnerability_exposure_window_seconds", value,
                            severity=sev)
            denominator = fixed_in_window[qi][code] + past_due[qi][code]
            if denominator:
                metrics.set("vulnerability_sla_compliance_pct",
                            100.0 * in_sla[qi][code] / denominator, severity=sev)
            # Counts are facts even when zero: we saw findings, none of them open.
            metrics.set("devsecops_vulnerability_open_findings", open_count[qi][code],
                        severity=sev)
            metrics.set("devsecops_vulnerability_open_past_sla_findings", past_due[qi][code],
                        severity=sev)
            if open_count[qi][code]:
                metrics.set("devsecops_vulnerability_open_findings_mean_age_seconds",
                            open_age[qi][code] / open_count[qi][code], severity=sev)
    return sets


# -- repositories -----------------------------------------------------------------------


def derive_repositories(rows: Iterable[tuple[Any, ...]],
                        settings: DerivationSettings) -> MetricSet:
    """Point-in-time coverage shares over active repositories.

    Active: not archived, not a fork (unless ``include_forks``), name not excluded.
    A share counts only repositories whose setting could be read; a repository whose
    setting is unknown is in neither numerator nor denominator. ``sast_coverage_pct``
    is the SAST share in percent, as the spec names it; the others are ratios 0..1.
    """
    excluded = [re.compile(p) for p in settings.exclude_patterns]
    counts = {"active": 0, "archived": 0, "fork": 0, "excluded": 0}
    known = dict.fromkeys(COVERAGE_SETTINGS, 0)
    enabled = dict.fromkeys(COVERAGE_SETTINGS, 0)
    tiers = [0] * 6
    tier_known = 0
    seen_any = False
    for (name, archived, fork, sast, tier, secret, push, dependency, review) in rows:
        seen_any = True
        if archived:
            counts["archived"] += 1
            continue
        if fork and not settings.include_forks:
            counts["fork"] += 1
            continue
        if any(p.search(name) for p in excluded):
            counts["excluded"] += 1
            continue
        counts["active"] += 1
        gate = None if tier is None else int(tier >= REVIEW_GATE_MIN_TIER)
        # Tier 2 and above include a required review by definition; below, only the
        # source's own answer says whether a review is required.
        required = review if review is not None else (1 if gate else None)
        for setting, value in zip(COVERAGE_SETTINGS,
                                  (sast, gate, required, secret, push, dependency),
                                  strict=True):
            if value is not None:
                known[setting] += 1
                enabled[setting] += value
        if tier is not None:
            tiers[tier] += 1
            tier_known += 1
    metrics = MetricSet()
    if not seen_any:
        return metrics
    for state, count in counts.items():
        metrics.set("devsecops_repositories", count, state=state)
    for setting in COVERAGE_SETTINGS:
        if known[setting]:
            ratio = enabled[setting] / known[setting]
            metrics.set("devsecops_repository_coverage_ratio", ratio, setting=setting)
            if setting == "sast":
                metrics.set("sast_coverage_pct", 100.0 * ratio)
    if tier_known:
        for tier, count in enumerate(tiers):
            metrics.set("devsecops_repository_review_gate_tier_ratio", count / tier_known,
                        tier=str(tier))
    return metrics


def derive_repository_quarters(rows: Iterable[tuple[Any, ...]], settings: DerivationSettings,
                               now: datetime, quarters: tuple[Quarter, Quarter],
                               ) -> dict[str, MetricSet]:
    """Coverage shares per quarter, from each repository's latest observation in it.

    Rows are ``(source, id, observed, *settings)`` as the store streams them. An
    undated row (``observed`` is :data:`CURRENT_OBSERVATION`) is the state as of the
    run and belongs to the current quarter, where it is later than any dated one.
    Dated rows count in the quarter they were observed in; a quarter without an
    observation gets no value (an older snapshot is not carried forward), and an
    observation after ``now`` is not one yet. Each quarter's shares are those of
    :func:`derive_repositories` over its repositories.
    """
    previous, current = quarters
    cut = now.timestamp()
    bounds = ((previous.start.timestamp(), previous.end.timestamp()),
              (current.start.timestamp(), current.end.timestamp()))
    latest: tuple[dict[tuple[str, str], tuple[float, tuple[Any, ...]]], ...] = ({}, {})
    for row in rows:
        observed = row[2]
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
        key = (row[0], row[1])
        seen = latest[qi].get(key)
        if seen is None or observed > seen[0]:
            latest[qi][key] = (observed, row[3:])
    return {quarter.label: derive_repositories((values for _, values in latest[qi].values()),
                                               settings)
            for qi, quarter in enumerate(quarters)}


# -- incidents --------------------------------------------------------------------------


def derive_incidents(rows: Iterable[tuple[Any, ...]],
                     quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """MTTD, MTTC (hours), incident counts and post-mortem share per quarter.

    - MTTD: mean of detected - started over incidents *detected* in the quarter that
      have a start time.
    - MTTC: mean of contained - detected over incidents *contained* in the quarter
      (an incident detected last quarter and contained in this one counts here).
    - Post-mortem ratio: over incidents resolved in the quarter whose post-mortem
      status is known, the share with a documented post-mortem.
    """
    bounds = [(q.start.timestamp(), q.end.timestamp()) for q in quarters]
    mttd = [_Mean(), _Mean()]
    mttc = [_Mean(), _Mean()]
    detected = [0, 0]
    pm_known = [0, 0]
    pm_done = [0, 0]
    for started, detected_at, contained, resolved, postmortem in rows:
        for qi, (start, end) in enumerate(bounds):
            if start <= detected_at < end:
                detected[qi] += 1
                if started is not None:
                    mttd[qi].add(detected_at - started)
            if contained is not None and start <= contained < end:
                mttc[qi].add(contained - detected_at)
            if resolved is not None and postmortem is not None and start <= resolved < end:
                pm_known[qi] += 1
                pm_done[qi] += postmortem
    sets = {}
    for qi, quarter in enumerate(quarters):
        metrics = MetricSet()
        for name, mean in (("security_incident_mttd_hours", mttd[qi]),
                           ("security_incident_mttc_hours", mttc[qi])):
            value = mean.value(HOUR)
            if value is not None:
                metrics.set(name, value)
        if detected[qi]:
            metrics.set("devsecops_incidents_detected", detected[qi])
        if pm_known[qi]:
            metrics.set("devsecops_incident_postmortem_ratio", pm_done[qi] / pm_known[qi])
        sets[quarter.label] = metrics
    return sets


# -- SIEM alerts ------------------------------------------------------------------------


def derive_siem_alerts(rows: Iterable[tuple[Any, ...]],
                       quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """Signal ratio, untriaged count, triage outcomes and mean investigation time.

    Over alerts *created* in the quarter:
    - alert_signal_ratio: actionable / triaged (untriaged alerts are left out);
    - untriaged count; triaged count per disposition;
    - mean time to investigate (seconds): triaged_at - created_at over triaged alerts.
    """
    bounds = [(q.start.timestamp(), q.end.timestamp()) for q in quarters]
    by_disposition = [dict.fromkeys(DISPOSITION_CODES.values(), 0) for _ in quarters]
    investigate = [_Mean(), _Mean()]
    for created, triaged, disposition in rows:
        for qi, (start, end) in enumerate(bounds):
            if start <= created < end:
                by_disposition[qi][disposition] += 1
                if disposition != _UNTRIAGED and triaged is not None:
                    investigate[qi].add(triaged - created)
    sets = {}
    for qi, quarter in enumerate(quarters):
        metrics = MetricSet()
        counts = by_disposition[qi]
        total = sum(counts.values())
        if total:
            triaged_total = total - counts[_UNTRIAGED]
            metrics.set("devsecops_siem_alerts_untriaged", counts[_UNTRIAGED])
            for code, count in counts.items():
                if code != _UNTRIAGED:
                    metrics.set("devsecops_siem_alerts_triaged", count,
                                disposition=DISPOSITIONS_BY_CODE[code])
            if triaged_total:
                metrics.set("alert_signal_ratio", counts[_ACTIONABLE] / triaged_total)
            value = investigate[qi].value()
            if value is not None:
                metrics.set("devsecops_siem_alert_investigation_mean_seconds", value)
        sets[quarter.label] = metrics
    return sets


# -- everything -------------------------------------------------------------------------


# Point-in-time metrics: earlier quarters come from the stored history, else from dated
# repository snapshots; only the current quarter's values are stored as history.
HISTORY_METRICS = frozenset({
    "sast_coverage_pct", "devsecops_repository_coverage_ratio",
    "devsecops_repository_review_gate_tier_ratio", "devsecops_repositories",
})


def derive_all(
    *,
    findings: Iterable[tuple[Any, ...]],
    repositories: Iterable[tuple[Any, ...]],
    incidents: Iterable[tuple[Any, ...]],
    siem_alerts: Iterable[tuple[Any, ...]],
    settings: DerivationSettings,
    now: datetime,
    history: Mapping[str, Mapping[MetricKey, float]] | None = None,
) -> Derived:
    """Derive every metric for the current and previous quarter as of ``now``.

    ``history`` holds stored values of point-in-time metrics by quarter label, what
    the exporter saved while running in that quarter. The previous quarter's coverage
    comes from there first; shares derived from dated repository snapshots of that
    quarter fill only what the history lacks, and without either it is absent.
    """
    current = quarter_of(now, settings.fiscal_start_month)
    previous = previous_quarter(current, settings.fiscal_start_month)
    quarters = (previous, current)
    sets = {q.label: MetricSet() for q in quarters}
    for part in (derive_findings(findings, settings, now, quarters),
                 derive_incidents(incidents, quarters),
                 derive_siem_alerts(siem_alerts, quarters)):
        for label, metrics in part.items():
            sets[label].values.update(metrics.values)
    observed = derive_repository_quarters(repositories, settings, now, quarters)
    sets[current.label].values.update(observed[current.label].values)
    earlier = sets[previous.label].values
    for key, value in (history or {}).get(previous.label, {}).items():
        if key[0] in HISTORY_METRICS:
            earlier[key] = value  # what the exporter saw live beats a snapshot file
    for key, value in observed[previous.label].values.items():
        earlier.setdefault(key, value)
    return Derived(now=now, current=current, previous=previous, by_quarter=sets)


def point_in_time_values(derived: Derived) -> dict[MetricKey, float]:
    """The current quarter's point-in-time values, to be kept as its history."""
    current = derived.by_quarter[derived.current.label]
    return {k: v for k, v in current.values.items() if k[0] in HISTORY_METRICS}
