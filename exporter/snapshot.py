"""Immutable snapshots: everything one scrape publishes, built once per collection run.

A collection run ends by building a complete new :class:`Snapshot` and swapping it in
with a single assignment; the scrape path only reads the current one. So a scrape
costs the same whatever the data volume, never waits for a collection, and never
sees half a run.

The metric catalog below is the single list of what the derivation publishes: name,
type, labels, HELP text, and whether a metric carries a ``quarter`` label. The README's
metric table is checked against it by a test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from exporter.derive import Derived

FRESHNESS = "Recomputed after every collection run."


@dataclass(frozen=True, slots=True)
class Sample:
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family as plain data; ``publish.py`` turns it into client_python types."""

    name: str
    documentation: str
    type: Literal["gauge", "counter", "info"]
    samples: tuple[Sample, ...] = ()
    unit: str = ""


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    quarterly: bool = False  # published for the current and previous quarter
    type: Literal["gauge", "counter", "info"] = "gauge"


DERIVED_METRICS: tuple[MetricDef, ...] = (
    MetricDef("vulnerability_mttr_days",
              "Mean days from opened to fixed over findings fixed in the quarter "
              "(dismissed findings excluded). " + FRESHNESS, ("severity",), quarterly=True),
    MetricDef("vulnerability_sla_compliance_pct",
              "Percent of findings fixed within their severity's SLA over the rolling window: "
              "fixed within SLA / (fixed in window + open past due). " + FRESHNESS,
              ("severity",)),
    MetricDef("devsecops_vulnerability_open_findings",
              "Findings open now. " + FRESHNESS, ("severity",)),
    MetricDef("devsecops_vulnerability_open_past_sla_findings",
              "Findings open now and already past their SLA due date. " + FRESHNESS,
              ("severity",)),
    MetricDef("devsecops_vulnerability_open_findings_mean_age_seconds",
              "Mean age of the findings open now. " + FRESHNESS, ("severity",)),
    MetricDef("devsecops_vulnerability_exposure_window_seconds",
              "Mean time from advisory disclosure to fix over findings fixed in the quarter "
              "that carry a disclosure time. " + FRESHNESS, ("severity",), quarterly=True),
    MetricDef("sast_coverage_pct",
              "Percent of active repositories (not archived, forks and exclusions per config) "
              "with SAST enabled; earlier quarters keep their last value. " + FRESHNESS,
              (), quarterly=True),
    MetricDef("devsecops_repository_coverage_ratio",
              "Share of active repositories with a security setting enabled, over those "
              "whose setting could be read; earlier quarters keep their last value. "
              + FRESHNESS, ("setting",), quarterly=True),
    MetricDef("devsecops_repository_review_gate_tier_ratio",
              "Share of active repositories at each review-gate tier (0-5, Scorecard-style "
              "branch protection). " + FRESHNESS, ("tier",), quarterly=True),
    MetricDef("devsecops_repositories",
              "Repositories seen, by state (active, archived, fork, excluded). " + FRESHNESS,
              ("state",)),
    MetricDef("security_incident_mttd_hours",
              "Mean hours from start to detection over incidents detected in the quarter. "
              + FRESHNESS, (), quarterly=True),
    MetricDef("security_incident_mttc_hours",
              "Mean hours from detection to containment over incidents contained in the "
              "quarter. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_incidents_detected",
              "Incidents detected in the quarter. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_incident_postmortem_ratio",
              "Share of incidents resolved in the quarter with a documented post-mortem "
              "(where known). " + FRESHNESS, (), quarterly=True),
    MetricDef("alert_signal_ratio",
              "Actionable share of the SIEM alerts created in the quarter and triaged by "
              "now, 0..1; untriaged alerts are excluded. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_siem_alerts_untriaged",
              "SIEM alerts created in the quarter and not triaged yet. " + FRESHNESS,
              (), quarterly=True),
    MetricDef("devsecops_siem_alerts_triaged",
              "SIEM alerts created in the quarter and triaged, by disposition. " + FRESHNESS,
              ("disposition",), quarterly=True),
    MetricDef("devsecops_siem_alert_investigation_mean_seconds",
              "Mean time from alert creation to first triage over triaged alerts created "
              "in the quarter. " + FRESHNESS, (), quarterly=True),
)


def derived_families(derived: Derived) -> list[Family]:
    """Turn derived values into families following the catalog; absent stays absent."""
    current = derived.by_quarter[derived.current.label]
    families = []
    for metric in DERIVED_METRICS:
        samples: list[Sample] = []
        if metric.quarterly:
            for quarter in derived.quarters:
                for labels, value in sorted(derived.by_quarter[quarter.label]
                                            .series(metric.name).items()):
                    samples.append(Sample((*labels, ("quarter", quarter.label)), value))
        else:
            for labels, value in sorted(current.series(metric.name).items()):
                samples.append(Sample(labels, value))
        families.append(Family(metric.name, metric.documentation, metric.type, tuple(samples)))
    families.append(quarter_info(derived))
    return families


def quarter_info(derived: Derived) -> Family:
    """Which ``quarter`` label is current and which previous, for PromQL joins.

    PromQL cannot compare label strings, so "the current quarter's value" of any
    quarterly metric is selected by joining on this series, e.g.
    ``devsecops_maturity_level * on (job, instance, quarter) group_left
    devsecops_quarter_info{period="current"}`` (the target labels keep the match
    one-to-one when several exporter instances are scraped).
    """
    samples = tuple(
        Sample((("period", period), ("quarter", quarter.label)), 1.0)
        for period, quarter in (("previous", derived.previous), ("current", derived.current))
    )
    return Family("devsecops_quarter_info", "The quarters published now: period is current "
                  "or previous; always 1. Join on quarter to select the current quarter's "
                  "values.", "gauge", samples)


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape publishes, plus what ``explain`` and reports read."""

    created_at: datetime
    families: tuple[Family, ...]
    derived: Derived | None = None
    assessment: object | None = None
    sequence: int = 0
    extras: dict[str, object] = field(default_factory=dict)
    # Rendered expositions by (openmetrics, gzip); filled by publish.render.
    rendered: dict[tuple[bool, bool], bytes] = field(default_factory=dict, repr=False,
                                                     compare=False)

    def family(self, name: str) -> Family | None:
        return next((f for f in self.families if f.name == name), None)


def merge_families(groups: Iterable[Iterable[Family]]) -> tuple[Family, ...]:
    """Concatenate families from all stages, refusing duplicate names (a bug)."""
    out: dict[str, Family] = {}
    for group in groups:
        for family in group:
            if family.name in out:
                raise ValueError(f"metric family {family.name} published twice")
            out[family.name] = family
    return tuple(out.values())
