"""Security culture: training completion of the developer population, internal reports.

Training rows are ``(person, in_scope, completed_at)`` of TrainingRecord records as the
store streams them; ``person`` is a pseudonymous key, so the count is per person
without the store knowing who. A person is in scope when any of their records says so
(the collector applies the configured population: a group, a team, a file).

- ``devsecops_training_completion_ratio``: in-scope people with a security training
  completed in the 365 days up to the evaluation time, over all in-scope people. A
  point-in-time share: the current quarter's value is as of ``now`` and is kept as
  history; the previous quarter's comes from that history first, else it is rebuilt
  as of the previous quarter's end over today's in-scope population (the population
  then is not known). A completion dated after the evaluation time does not count.
- ``devsecops_internal_vulnerability_reports``: findings of category
  ``internal_report`` opened in the quarter (see :func:`derive_internal_reports`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from collectors.records import RecordKind
from exporter.derive.common import (
    DerivationContext,
    DerivationFamily,
    MetricKey,
    MetricSet,
    Rows,
    quarter_bounds,
)
from exporter.quarters import Quarter

TRAINING_VALIDITY = timedelta(days=365)
INTERNAL_REPORT = "internal_report"
POINT_IN_TIME_METRICS = frozenset({"devsecops_training_completion_ratio"})


def derive_training(rows: Rows, now: datetime, quarters: tuple[Quarter, Quarter],
                    ) -> dict[str, MetricSet]:
    """Completion ratio as of ``now`` (current) and as of the previous quarter's end.

    Absent when no in-scope person is known.
    """
    previous, _current = quarters
    eval_times = (min(now.timestamp(), previous.end.timestamp()), now.timestamp())
    validity = TRAINING_VALIDITY.total_seconds()
    in_scope: set[str] = set()
    completed: tuple[set[str], set[str]] = (set(), set())
    for person, scoped, completed_at in rows:
        if scoped:
            in_scope.add(person)
        if completed_at is None:
            continue
        for qi, t in enumerate(eval_times):
            if t - validity < completed_at <= t:
                completed[qi].add(person)
    sets = {q.label: MetricSet() for q in quarters}
    if not in_scope:
        return sets
    for qi, quarter in enumerate(quarters):
        done = len(completed[qi] & in_scope)
        sets[quarter.label].set("devsecops_training_completion_ratio", done / len(in_scope))
    return sets


def derive_internal_reports(rows: Rows, now: datetime, quarters: tuple[Quarter, Quarter],
                            ) -> dict[str, MetricSet]:
    """Findings of category ``internal_report`` opened in each quarter.

    Rows are ``(opened_at, category)`` of Finding records. The count is published for
    both quarters (0 included) once any internal report is known at all; without one,
    no source of internal reports is configured and the metric is absent rather than a
    made-up 0. A report opened after ``now`` is not counted yet.
    """
    cut = now.timestamp()
    bounds = quarter_bounds(quarters)
    counts = [0, 0]
    seen_any = False
    for opened, category in rows:
        if category != INTERNAL_REPORT:
            continue
        seen_any = True
        if opened > cut:
            continue
        for qi, (start, end) in enumerate(bounds):
            if start <= opened < end:
                counts[qi] += 1
    sets = {q.label: MetricSet() for q in quarters}
    if seen_any:
        for qi, quarter in enumerate(quarters):
            sets[quarter.label].set("devsecops_internal_vulnerability_reports", counts[qi])
    return sets


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Training shares; for the previous quarter, live history first."""
    sets = derive_training(rows, ctx.now, ctx.quarters)
    previous = ctx.previous.label
    earlier: dict[MetricKey, float] = {
        key: value for key, value in ctx.history.get(previous, {}).items()
        if key[0] in POINT_IN_TIME_METRICS
    }
    for key, value in sets[previous].values.items():
        earlier.setdefault(key, value)
    sets[previous] = MetricSet(earlier)
    return sets


def _derive_internal_reports(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    return derive_internal_reports(rows, ctx.now, ctx.quarters)


FAMILY = DerivationFamily(
    name="training",
    kind=RecordKind.TRAINING_RECORD,
    columns=("person", "in_scope", "completed_at"),
    derive=_derive,
    history_metrics=POINT_IN_TIME_METRICS,
)

# Internal reports read findings, a kind the findings family streams too: the registry
# streams rows per family, so this one gets its own two columns.
INTERNAL_REPORTS_FAMILY = DerivationFamily(
    name="internal_reports",
    kind=RecordKind.FINDING,
    columns=("opened_at", "category"),
    derive=_derive_internal_reports,
    where=(("category", INTERNAL_REPORT),),  # a few rows of a million findings
)
