"""Evaluate the rules against derived metrics and attestations: levels, trend, score.

Pure: :func:`assess` reads only its arguments (derived metrics, the loaded model, the
stored per-quarter history and an explicit ``now``), so every number it publishes
can be reproduced in a unit test.

How a level is found: every criterion of levels 2-5 is evaluated to met, not met or
unknown (no data). A domain is at the highest level L for which every criterion of
levels 2..L is met; level 1 is the floor. A criterion met above a failing level does
not count (staging). When what holds a domain back is only missing data, the level
is *provisional*: it is what can be shown, not what was disproven, and no trend is
published from it, so a quarter that has just begun does not look like a regression.

The previous quarter's level comes from the stored history when the exporter ran
during that quarter; otherwise it is recomputed from the previous quarter's derived
metrics and the evidence dated before that quarter ended, so a fresh install already
has a trend. A criterion whose value rests on records a source rebuilt from its own
history (the derived ``MetricSet.reconstructed``) names those sources
(``CriterionResult.reconstructed``), and ``explain`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from exporter.derive import Derived, MetricKey, MetricSet
from exporter.maturity.model import (
    DOMAINS,
    OPERATORS,
    RULE_LEVELS,
    AssessmentsFile,
    DomainAssessment,
    EvidenceItem,
    RulesFile,
)
from exporter.snapshot import Family

Status = Literal["met", "not_met", "unknown"]
LEVEL_METRIC = "devsecops_maturity_level"
DETERMINED_KEY = "devsecops_maturity_level_determined"
INPUT_KEY = "devsecops_maturity_rule_input"  # stored metric values trend rules compare to
RECOMMEND_REBALANCE = "Focus on weakest domains before advancing strongest."
RECOMMEND_BALANCED = "Balanced programme — advance all domains."
WEAK_LEVEL = 2
IMBALANCE_SPREAD = 2


@dataclass(frozen=True)
class MaturityModel:
    """The validated rules and assessments, as loaded at start-up or the last reload."""

    rules: RulesFile
    assessments: AssessmentsFile | None
    evidence_max_age: timedelta
    rules_source: str = "<bundled>"
    assessments_source: str | None = None
    config: Any = None
    playbooks: Any = None  # exporter.maturity.playbooks.PlaybooksFile
    playbooks_source: str | None = None


@dataclass(frozen=True)
class EvidenceState:
    """One evidence item as seen at an evaluation time."""

    item: EvidenceItem
    date: datetime
    age: timedelta
    stale: bool
    future: bool
    at_label: str = "now"

    @property
    def counts(self) -> bool:
        return not (self.stale or self.future)

    def describe(self) -> str:
        day = self.date.date().isoformat()
        if self.future:
            return f"evidence {self.item.title()!r} is dated {day}, after {self.at_label}"
        if self.stale:
            return (f"evidence {self.item.title()!r} is stale: dated {day}, "
                    f"{self.age.days} days old")
        return f"evidence {self.item.title()!r} dated {day} ({self.age.days} days old)"


@dataclass(frozen=True)
class CriterionResult:
    domain: str
    level: int
    criterion: Any
    status: Status
    reason: str
    value: float | None = None
    previous: float | None = None
    evidence: tuple[EvidenceState, ...] = ()
    # Sources whose own history the value (or the value compared with) was rebuilt from
    # rather than observed then (derived MetricSet.reconstructed); empty: observed.
    reconstructed: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.criterion.id

    @property
    def basis(self) -> str:
        return self.criterion.basis


@dataclass(frozen=True)
class LevelResult:
    """A domain's level in one quarter."""

    quarter: str
    level: int
    determined: bool  # False: held back only by unknown criteria (a lower bound)
    source: Literal["computed", "recomputed", "history"]
    criteria: tuple[CriterionResult, ...] = ()

    def at(self, level: int) -> list[CriterionResult]:
        return [c for c in self.criteria if c.level == level]


@dataclass(frozen=True)
class DomainResult:
    domain: str
    current: LevelResult
    previous: LevelResult | None
    trend: int | None
    trend_note: str
    assessment: DomainAssessment | None
    evidence: tuple[EvidenceState, ...]

    @property
    def stale_evidence(self) -> int:
        return sum(1 for e in self.evidence if e.stale)


@dataclass(frozen=True)
class OutcomeResult:
    id: str
    indicator: str
    selector: str
    better: str
    current: float | None
    previous: float | None
    status: Literal["improved", "flat", "worse", "unknown"]


@dataclass(frozen=True)
class Programme:
    """The spec's Step 3 programme score, plus spread and the outcome check."""

    average: float
    minimum: int
    maximum: int
    spread: int
    weak_domains: tuple[str, ...]
    recommendation: str
    rebalance: bool
    imbalanced: bool
    levels_rose: bool | None
    outcomes: tuple[OutcomeResult, ...]
    outcomes_disconnected: bool | None


@dataclass(frozen=True)
class Assessment:
    now: datetime
    current_quarter: str
    previous_quarter: str
    domains: dict[str, DomainResult]
    programme: Programme
    last_review: datetime | None
    evidence_max_age: timedelta
    organisation: str | None = None
    rule_inputs: dict[MetricKey, float] = field(default_factory=dict)

    @property
    def levels(self) -> dict[str, dict[str, int]]:
        """``{quarter: {domain: level}}``; a provisional previous level is left out."""
        out: dict[str, dict[str, int]] = {self.current_quarter: {}, self.previous_quarter: {}}
        for name, result in self.domains.items():
            out[self.current_quarter][name] = result.current.level
            if result.previous is not None and result.previous.determined:
                out[self.previous_quarter][name] = result.previous.level
        return out

    @property
    def trend(self) -> dict[str, int]:
        return {d: r.trend for d, r in self.domains.items() if r.trend is not None}

    def families(self) -> list[Family]:
        from exporter.maturity.publish import assessment_families  # publish imports us

        return assessment_families(self)

    def history_values(self) -> dict[str, dict[MetricKey, float]]:
        """What to keep for the current quarter: levels and the inputs trend rules use.

        Only the current quarter is returned: a quarter's stored level is the one the
        exporter showed while that quarter was current, never a later recomputation.
        """
        values: dict[MetricKey, float] = {}
        for name, result in self.domains.items():
            key = (("domain", name),)
            values[(LEVEL_METRIC, key)] = float(result.current.level)
            values[(DETERMINED_KEY, key)] = 1.0 if result.current.determined else 0.0
        for (metric, labels), value in self.rule_inputs.items():
            values[(INPUT_KEY, tuple(sorted((*labels, ("metric", metric)))))] = value
        return {self.current_quarter: values}


# -- evaluation ---------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "no data"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"


def previous_label(label: str) -> str:
    """``2026-Q1`` -> ``2025-Q4``: label arithmetic works for any fiscal start month."""
    year, quarter = label.split("-Q")
    if quarter == "1":
        return f"{int(year) - 1}-Q4"
    return f"{year}-Q{int(quarter) - 1}"


def _stored_inputs(history: Mapping[str, Mapping[MetricKey, float]],
                   quarter: str) -> dict[MetricKey, float]:
    out: dict[MetricKey, float] = {}
    for (name, labels), value in history.get(quarter, {}).items():
        if name == INPUT_KEY:
            metric = dict(labels).get("metric")
            if metric:
                out[(metric, tuple(p for p in labels if p[0] != "metric"))] = value
    return out


@dataclass(frozen=True)
class _Context:
    """Everything needed to evaluate criteria for one quarter."""

    quarter: str
    before: str
    metrics: Mapping[MetricKey, float]
    metrics_before: Mapping[MetricKey, float]
    at: datetime  # attestations: evidence must be dated by then and fresh then
    now: datetime
    max_age: timedelta
    reconstructed: Mapping[MetricKey, frozenset[str]] = field(default_factory=dict)
    reconstructed_before: Mapping[MetricKey, frozenset[str]] = field(default_factory=dict)


def _evidence_states(entry: DomainAssessment | None, at: datetime, now: datetime,
                     max_age: timedelta, at_label: str = "now") -> dict[str, EvidenceState]:
    states: dict[str, EvidenceState] = {}
    if entry is None:
        return states
    for index, item in enumerate(entry.evidence):
        moment = item.date.resolve(now)
        age = at - moment
        states[item.id or f"#{index}"] = EvidenceState(
            item=item, date=moment, age=max(age, timedelta(0)),
            stale=age > max_age, future=age < timedelta(0), at_label=at_label)
    return states


def _evaluate(criterion: Any, domain: str, level: int, ctx: _Context,
              entry: DomainAssessment | None,
              evidence: Mapping[str, EvidenceState]) -> CriterionResult:
    kind = criterion.kind
    if kind == "attestation":
        refs = entry.attestations.get(criterion.id) if entry is not None else None
        if not refs:
            return CriterionResult(domain, level, criterion, "not_met",
                                   "not attested in the assessments file")
        states = tuple(evidence[r] for r in refs if r in evidence)
        if any(s.counts for s in states):
            fresh = [s for s in states if s.counts]
            return CriterionResult(domain, level, criterion, "met",
                                   "attested: " + "; ".join(s.describe() for s in fresh),
                                   evidence=states)
        return CriterionResult(domain, level, criterion, "not_met",
                               "attested, but no evidence counts: "
                               + "; ".join(s.describe() for s in states)
                               + f" (evidence counts for {ctx.max_age.days} days)",
                               evidence=states)
    value = ctx.metrics.get(criterion.key)
    selector = criterion.selector()
    if kind == "threshold":
        if value is None:
            return CriterionResult(domain, level, criterion, "unknown",
                                   f"no data for {selector} in {ctx.quarter}")
        met = OPERATORS[criterion.op](value, criterion.value)
        return CriterionResult(domain, level, criterion, "met" if met else "not_met",
                               f"{selector} = {_fmt(value)}, needs {criterion.requirement()}",
                               value=value)
    # trend
    before = ctx.metrics_before.get(criterion.key)
    if value is None:
        return CriterionResult(domain, level, criterion, "unknown",
                               f"no data for {selector} in {ctx.quarter}", previous=before)
    down = criterion.direction == "down"
    if criterion.good_enough is not None and (
            value <= criterion.good_enough if down else value >= criterion.good_enough):
        return CriterionResult(domain, level, criterion, "met",
                               f"{selector} = {_fmt(value)}, already within "
                               f"{_fmt(criterion.good_enough)}", value=value, previous=before)
    if before is None:
        return CriterionResult(domain, level, criterion, "unknown",
                               f"{selector} = {_fmt(value)} in {ctx.quarter}, but no data for "
                               f"{ctx.before} to compare with", value=value)
    met = value < before if down else value > before
    return CriterionResult(domain, level, criterion, "met" if met else "not_met",
                           f"{selector} = {_fmt(value)} in {ctx.quarter} vs {_fmt(before)} in "
                           f"{ctx.before}, needs {criterion.requirement()}",
                           value=value, previous=before)


def _with_origin(result: CriterionResult, ctx: _Context) -> CriterionResult:
    """Name the sources a measured criterion's values were reconstructed from, if any."""
    if result.criterion.kind == "attestation":
        return result
    key = result.criterion.key
    sources = set(ctx.reconstructed.get(key, ())) if result.value is not None else set()
    if result.previous is not None:
        sources |= ctx.reconstructed_before.get(key, frozenset())
    return replace(result, reconstructed=tuple(sorted(sources))) if sources else result


def evaluate_domain(rules: RulesFile, domain: str, ctx: _Context,
                    entry: DomainAssessment | None,
                    source: Literal["computed", "recomputed"] = "computed") -> LevelResult:
    """Evaluate every criterion of one domain and apply the staging rule."""
    at_label = "now" if ctx.at >= ctx.now else f"the end of {ctx.quarter}"
    evidence = _evidence_states(entry, ctx.at, ctx.now, ctx.max_age, at_label)
    results: list[CriterionResult] = []
    level, blocked = 1, False
    determined = True
    for rule_level in RULE_LEVELS:
        here = [_with_origin(_evaluate(c, domain, rule_level, ctx, entry, evidence), ctx)
                for c in rules.criteria(domain, rule_level)]
        results.extend(here)
        if blocked:
            continue
        if all(r.status == "met" for r in here):
            level = rule_level
        else:
            blocked = True
            determined = any(r.status == "not_met" for r in here)
    return LevelResult(ctx.quarter, level, determined, source, tuple(results))


def _outcomes(rules: RulesFile, current: MetricSet,
              previous: MetricSet) -> tuple[OutcomeResult, ...]:
    out = []
    tolerance = rules.outcome_tolerance
    for rule in rules.outcomes:
        now_value = current.values.get(rule.key)
        before = previous.values.get(rule.key)
        status: Literal["improved", "flat", "worse", "unknown"]
        if now_value is None or before is None:
            status = "unknown"
        else:
            sign = -1.0 if rule.better == "lower" else 1.0
            change = sign * (now_value - before)
            margin = tolerance * abs(before)
            status = "improved" if change > margin else "worse" if change < -margin else "flat"
        out.append(OutcomeResult(rule.id, rule.indicator, rule.selector(), rule.better,
                                 now_value, before, status))
    return tuple(out)


def programme_score(levels: Mapping[str, int], trends: Mapping[str, int],
                    outcomes: tuple[OutcomeResult, ...] = ()) -> Programme:
    """The spec's Step 3 score, with the spread and the outcome check added.

    The recommendation rule is the spec's: rebalance when the minimum is more than one
    level below the (unrounded) average. Levels "rose" when the domains with a trend
    gained more than they lost; outcomes are "disconnected" when levels rose and no
    known outcome metric improved (the security theatre adversary).
    """
    values = list(levels.values())
    average = sum(values) / len(values)
    minimum, maximum = min(values), max(values)
    rebalance = minimum < average - 1
    levels_rose = (sum(trends.values()) > 0) if trends else None
    known = [o for o in outcomes if o.status != "unknown"]
    if levels_rose is None:
        disconnected = None
    elif not levels_rose:
        disconnected = False
    elif not known:
        disconnected = None
    else:
        disconnected = not any(o.status == "improved" for o in known)
    return Programme(
        average=average, minimum=minimum, maximum=maximum, spread=maximum - minimum,
        weak_domains=tuple(d for d, v in levels.items() if v <= WEAK_LEVEL),
        recommendation=RECOMMEND_REBALANCE if rebalance else RECOMMEND_BALANCED,
        rebalance=rebalance, imbalanced=maximum - minimum > IMBALANCE_SPREAD,
        levels_rose=levels_rose, outcomes=outcomes, outcomes_disconnected=disconnected,
    )


def _previous_from_history(history: Mapping[str, Mapping[MetricKey, float]], quarter: str,
                           domain: str) -> LevelResult | None:
    stored = history.get(quarter, {})
    key = (("domain", domain),)
    level = stored.get((LEVEL_METRIC, key))
    if level is None:
        return None
    determined = stored.get((DETERMINED_KEY, key), 1.0) >= 1.0
    return LevelResult(quarter, int(level), determined, "history")


def assess(derived: Derived, model: MaturityModel,
           history: Mapping[str, Mapping[MetricKey, float]], now: datetime) -> Assessment:
    """Assess every domain for the current and previous quarter; pure."""
    rules = model.rules
    current_label, previous_label_ = derived.current.label, derived.previous.label
    current = derived.by_quarter.get(current_label, MetricSet())
    previous = derived.by_quarter.get(previous_label_, MetricSet())
    before_previous = previous_label(previous_label_)
    max_age = model.evidence_max_age
    entries = model.assessments.domains if model.assessments is not None else {}
    ctx_now = _Context(current_label, previous_label_, current.values, previous.values,
                       now, now, max_age, current.reconstructed, previous.reconstructed)
    ctx_before = _Context(previous_label_, before_previous, previous.values,
                          _stored_inputs(history, before_previous),
                          min(now, derived.previous.end), now, max_age,
                          previous.reconstructed)

    domains: dict[str, DomainResult] = {}
    for domain in DOMAINS:
        entry = entries.get(domain)
        now_result = evaluate_domain(rules, domain, ctx_now, entry)
        before = _previous_from_history(history, previous_label_, domain)
        if before is None:
            before = evaluate_domain(rules, domain, ctx_before, entry, "recomputed")
        if not now_result.determined:
            trend, note = None, (f"no trend: the {current_label} level is provisional "
                                 "(held back only by criteria without data)")
        elif not before.determined:
            trend, note = None, (f"no trend: the {previous_label_} level could not be "
                                 "determined (criteria without data in that quarter)")
        else:
            trend = now_result.level - before.level
            note = f"{current_label} level minus {previous_label_} level ({before.source})"
        evidence = tuple(_evidence_states(entry, now, now, max_age).values())
        domains[domain] = DomainResult(domain, now_result, before, trend, note, entry, evidence)

    levels = {d: r.current.level for d, r in domains.items()}
    trends = {d: r.trend for d, r in domains.items() if r.trend is not None}
    programme = programme_score(levels, trends, _outcomes(rules, current, previous))

    inputs: dict[MetricKey, float] = {}
    for domain in DOMAINS:
        for level in RULE_LEVELS:
            for criterion in rules.criteria(domain, level):
                if criterion.kind == "trend" and criterion.key in current.values:
                    inputs[criterion.key] = current.values[criterion.key]
    last_review = None
    organisation = None
    if model.assessments is not None:
        organisation = model.assessments.organisation
        if model.assessments.review.last_completed is not None:
            last_review = model.assessments.review.last_completed.resolve(now)
    return Assessment(now=now, current_quarter=current_label,
                      previous_quarter=previous_label_, domains=domains, programme=programme,
                      last_review=last_review, evidence_max_age=max_age,
                      organisation=organisation, rule_inputs=inputs)
