"""Metric families for an assessment, as plain data (``exporter.snapshot.Family``).

Label values are bounded by the rules file: domains are the eight fixed names,
levels 2-5, criterion ids are validated short identifiers, quarters are two labels.
An unknown criterion (no data) is left out of ``devsecops_maturity_criterion_met``
rather than published as 0, so "not met" and "not measured" stay distinct.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.maturity.model import RULE_LEVELS
from exporter.snapshot import FRESHNESS, Family, Sample

if TYPE_CHECKING:
    from exporter.maturity.engine import Assessment

METRICS: dict[str, str] = {
    "devsecops_maturity_level":
        "Maturity level 1-5 per capability domain and quarter: the highest level whose "
        "criteria, and those of every level below, all hold. The previous quarter is the "
        "stored level, or recomputed from that quarter's data; it is left out when it "
        "cannot be determined. " + FRESHNESS,
    "devsecops_maturity_trend":
        "Current quarter's maturity level minus the previous quarter's, per domain; absent "
        "when either level is held back only by missing data. " + FRESHNESS,
    "devsecops_maturity_target_level":
        "Target maturity level per domain from the assessments file. " + FRESHNESS,
    "devsecops_maturity_domain_owner_assigned":
        "1 when the assessments file names an owner for the domain, 0 when it does not (the "
        "model's \"ownership unclear\" failure mode); absent without an assessments file. "
        "The owner's name is personal data and never a label. " + FRESHNESS,
    "devsecops_maturity_programme_average_level":
        "Mean of the current maturity levels of the eight domains. " + FRESHNESS,
    "devsecops_maturity_programme_minimum_level":
        "Lowest current maturity level of the eight domains. " + FRESHNESS,
    "devsecops_maturity_programme_level_spread":
        "Highest minus lowest current domain level; above 2 means one domain is advanced "
        "at the expense of others. " + FRESHNESS,
    "devsecops_maturity_programme_weak_domains":
        "Number of domains at level 2 or below. " + FRESHNESS,
    "devsecops_maturity_programme_rebalance_recommended":
        "1 when the lowest domain level is more than one below the average (focus on the "
        "weakest domains), else 0. " + FRESHNESS,
    "devsecops_maturity_programme_outcomes_disconnected":
        "1 when domain levels rose since the previous quarter but no outcome metric "
        "improved, 0 when they rose with an outcome or did not rise; absent when unknown. "
        + FRESHNESS,
    "devsecops_maturity_outcome_improved":
        "1 when an outcome metric improved by more than the tolerance since the previous "
        "quarter, 0 when it did not; absent without data for both quarters. " + FRESHNESS,
    "devsecops_maturity_criterion_met":
        "1 when a level criterion holds in the current quarter, 0 when it does not; absent "
        "when its metric has no data. " + FRESHNESS,
    "devsecops_maturity_level_criteria":
        "Number of criteria a domain level rests on, by basis (measurement or "
        "attestation). " + FRESHNESS,
    "devsecops_maturity_criteria_unknown":
        "Criteria of a domain that cannot be evaluated for lack of data this quarter. "
        + FRESHNESS,
    "devsecops_maturity_evidence_stale_items":
        "Evidence items in the assessments file older than the configured maximum age; "
        "they no longer support any attestation. " + FRESHNESS,
    "devsecops_maturity_last_review_timestamp_seconds":
        "Time the last quarterly maturity review was completed, per the assessments file. "
        + FRESHNESS,
}


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(labels.items())


def assessment_families(assessment: Assessment) -> list[Family]:
    """Every family the maturity engine publishes, in a stable order."""
    samples: dict[str, list[Sample]] = {name: [] for name in METRICS}

    def add(name: str, value: float, **labels: str) -> None:
        samples[name].append(Sample(_labels(**labels), float(value)))

    has_assessments = any(r.assessment is not None for r in assessment.domains.values())
    for domain, result in assessment.domains.items():
        if has_assessments:
            owner = result.assessment.owner if result.assessment is not None else None
            add("devsecops_maturity_domain_owner_assigned", bool(owner and owner.strip()),
                domain=domain)
        if result.previous is not None and result.previous.determined:
            add("devsecops_maturity_level", result.previous.level, domain=domain,
                quarter=assessment.previous_quarter)
        add("devsecops_maturity_level", result.current.level, domain=domain,
            quarter=assessment.current_quarter)
        if result.trend is not None:
            add("devsecops_maturity_trend", result.trend, domain=domain)
        entry = result.assessment
        if entry is not None and entry.target_level is not None:
            add("devsecops_maturity_target_level", entry.target_level, domain=domain)
        unknown = 0
        for level in RULE_LEVELS:
            counts = {"measurement": 0, "attestation": 0}
            for criterion in result.current.at(level):
                counts[criterion.basis] += 1
                if criterion.status == "unknown":
                    unknown += 1
                    continue
                add("devsecops_maturity_criterion_met", criterion.status == "met",
                    domain=domain, level=str(level), criterion=criterion.id)
            for basis, count in counts.items():
                add("devsecops_maturity_level_criteria", count, domain=domain,
                    level=str(level), basis=basis)
        add("devsecops_maturity_criteria_unknown", unknown, domain=domain)
        if entry is not None:
            add("devsecops_maturity_evidence_stale_items", result.stale_evidence, domain=domain)

    programme = assessment.programme
    add("devsecops_maturity_programme_average_level", programme.average)
    add("devsecops_maturity_programme_minimum_level", programme.minimum)
    add("devsecops_maturity_programme_level_spread", programme.spread)
    add("devsecops_maturity_programme_weak_domains", len(programme.weak_domains))
    add("devsecops_maturity_programme_rebalance_recommended", programme.rebalance)
    if programme.outcomes_disconnected is not None:
        add("devsecops_maturity_programme_outcomes_disconnected",
            programme.outcomes_disconnected)
    for outcome in programme.outcomes:
        if outcome.status != "unknown":
            add("devsecops_maturity_outcome_improved", outcome.status == "improved",
                outcome=outcome.id)
    if assessment.last_review is not None:
        add("devsecops_maturity_last_review_timestamp_seconds",
            assessment.last_review.timestamp())
    return [Family(name, doc, "gauge", tuple(samples[name])) for name, doc in METRICS.items()]
