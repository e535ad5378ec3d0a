"""The one place derivation families are registered, and the pass that runs them all.

A new family is one module declaring ``FAMILY`` and one entry in :data:`FAMILIES`; the
store streams each family's declared columns of its kind, and :func:`derive_all`
merges what every family derives into one :class:`Derived`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from collectors.records import RecordKind
from exporter.derive import (
    alerts,
    detection,
    findings,
    identity,
    incidents,
    posture,
    repositories,
    scans,
    supply_chain,
    training,
)
from exporter.derive.common import (
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    Derived,
    History,
    MetricKey,
    MetricSet,
)
from exporter.quarters import previous_quarter, quarter_of

FAMILIES: tuple[DerivationFamily, ...] = (
    findings.FAMILY,
    repositories.FAMILY,
    incidents.FAMILY,
    alerts.FAMILY,
    *detection.FAMILIES,  # detection rules and workload telemetry
    supply_chain.FAMILY,  # artifacts: attestations, SLSA build levels, SBOMs
    training.FAMILY,  # security culture: training completion
    training.INTERNAL_REPORTS_FAMILY,  # internal vulnerability reports (findings)
    *identity.FAMILIES,  # accounts, applications, privileged access, offboarding, reviews
    posture.FAMILY,  # cloud posture results
    scans.FAMILY,  # scanner reports: scanned targets, DAST coverage
)

FAMILY_NAMES: frozenset[str] = frozenset(f.name for f in FAMILIES)
if len(FAMILY_NAMES) != len(FAMILIES):
    raise RuntimeError("two derivation families share a name")
# A kind's first family: where rows keyed by a RecordKind go. Another family of the same
# kind (internal reports read findings) streams its own columns under its own name.
PRIMARY_FAMILY: dict[RecordKind, DerivationFamily] = {}
for _family in FAMILIES:
    PRIMARY_FAMILY.setdefault(_family.kind, _family)

# Point-in-time metrics of every family: only the current quarter's values are stored
# as history, and earlier quarters come from that history first.
HISTORY_METRICS: frozenset[str] = frozenset().union(*(f.history_metrics for f in FAMILIES))

# The per-kind keywords derive_all has always taken; new kinds come through ``rows``.
_KEYWORD_KINDS = {
    "findings": RecordKind.FINDING,
    "repositories": RecordKind.REPOSITORY,
    "incidents": RecordKind.INCIDENT,
    "siem_alerts": RecordKind.SIEM_ALERT,
}


def derive_all(
    *,
    rows: Mapping[RecordKind, Iterable[tuple[Any, ...]]] | None = None,
    settings: DerivationSettings,
    now: datetime,
    history: History | None = None,
    findings: Iterable[tuple[Any, ...]] | None = None,
    repositories: Iterable[tuple[Any, ...]] | None = None,
    incidents: Iterable[tuple[Any, ...]] | None = None,
    siem_alerts: Iterable[tuple[Any, ...]] | None = None,
) -> Derived:
    """Derive every family's metrics for the current and previous quarter as of ``now``.

    ``rows`` maps a family's name to its streamed rows, each in the column order the
    family declares (one stream per family, so two families of one kind each get their
    own columns); a :class:`RecordKind` key stands for that kind's first family, and
    the ``findings=`` ... ``siem_alerts=`` keywords are the same for the four original
    kinds. A family whose kind has no rows derives from none. Each
    family's rows are consumed once, in turn, so memory stays that of one row at a time
    plus each family's aggregates. ``history`` holds stored values of point-in-time
    metrics by quarter label, what the exporter saved while running in that quarter.
    """
    by_family: dict[str, Iterable[tuple[Any, ...]]] = {}
    for key, given in (rows or {}).items():
        name = PRIMARY_FAMILY[key].name if isinstance(key, RecordKind) else key
        if name not in FAMILY_NAMES:
            raise TypeError(f"derive_all got rows for {name!r}, which is no family")
        if name in by_family:
            raise TypeError(f"derive_all got rows for family {name} twice")
        by_family[name] = given
    for keyword, given in (("findings", findings), ("repositories", repositories),
                           ("incidents", incidents), ("siem_alerts", siem_alerts)):
        if given is None:
            continue
        name = PRIMARY_FAMILY[_KEYWORD_KINDS[keyword]].name
        if name in by_family:
            raise TypeError(f"derive_all got {keyword} rows twice: in rows and {keyword}=")
        by_family[name] = given
    current = quarter_of(now, settings.fiscal_start_month)
    previous = previous_quarter(current, settings.fiscal_start_month)
    ctx = DerivationContext(settings=settings, now=now, quarters=(previous, current),
                            history=history or {})
    sets = {q.label: MetricSet() for q in ctx.quarters}
    for family in FAMILIES:
        for label, metrics in family.derive(by_family.get(family.name, ()), ctx).items():
            sets[label].values.update(metrics.values)
            sets[label].reconstructed.update(metrics.reconstructed)
    return Derived(now=now, current=current, previous=previous, by_quarter=sets)


def point_in_time_values(derived: Derived) -> dict[MetricKey, float]:
    """The current quarter's point-in-time values, to be kept as its history."""
    current = derived.by_quarter[derived.current.label]
    return {k: v for k, v in current.values.items() if k[0] in HISTORY_METRICS}
