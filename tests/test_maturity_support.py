"""Builders shared by the maturity tests: Derived objects, models, assessments files.

(No tests here; pytest collects the module harmlessly.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from exporter.derive import Derived, MetricSet
from exporter.maturity.engine import MaturityModel
from exporter.maturity.load import load_rules
from exporter.maturity.model import AssessmentsFile, RulesFile, parse_assessments
from exporter.quarters import previous_quarter, quarter_of

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # in 2026-Q4; 2026-Q3 ended 54 days ago
_SELECTOR = re.compile(r"^(\w+)(?:\{(.*)\})?$")


def key(selector: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``'vulnerability_mttr_days{severity=critical}'`` -> a MetricSet key."""
    match = _SELECTOR.match(selector)
    assert match, selector
    labels = []
    if match.group(2):
        for part in match.group(2).split(","):
            name, value = part.split("=")
            labels.append((name.strip(), value.strip().strip('"')))
    return (match.group(1), tuple(sorted(labels)))


def metric_set(values: Mapping[Any, float]) -> MetricSet:
    metrics = MetricSet()
    for selector, value in values.items():
        k = key(selector) if isinstance(selector, str) else selector
        metrics.values[k] = float(value)
    return metrics


def derived(current: Mapping[Any, float] | None = None,
            previous: Mapping[Any, float] | None = None, now: datetime = NOW) -> Derived:
    """A Derived object built by hand: selectors to values for the two quarters."""
    cur = quarter_of(now)
    prev = previous_quarter(cur)
    return Derived(now=now, current=cur, previous=prev,
                   by_quarter={cur.label: metric_set(current or {}),
                               prev.label: metric_set(previous or {})})


_DEFAULT_RULES: RulesFile | None = None


def default_rules() -> RulesFile:
    global _DEFAULT_RULES
    if _DEFAULT_RULES is None:
        _DEFAULT_RULES = load_rules(None)[0]
    return _DEFAULT_RULES


def assessments_doc(attest: Mapping[str, Mapping[str, str]] | None = None,
                    **extra: Any) -> dict[str, Any]:
    """An assessments document attesting ``{domain: {criterion: date}}``, one item each."""
    doc: dict[str, Any] = {"version": 1, "domains": {}}
    for domain, criteria in (attest or {}).items():
        entry = doc["domains"].setdefault(domain, {"evidence": [], "attestations": {}})
        for criterion, when in criteria.items():
            entry["evidence"].append({"id": f"ev-{criterion}", "text": f"proof of {criterion}",
                                      "date": when, "reviewer": "Reviewer"})
            entry["attestations"][criterion] = [f"ev-{criterion}"]
    doc.update(extra)
    return doc


def model(doc: Mapping[str, Any] | None = None, rules: RulesFile | None = None,
          max_age: timedelta = timedelta(days=120)) -> MaturityModel:
    rules = rules or default_rules()
    assessments: AssessmentsFile | None = None
    if doc is not None:
        assessments = parse_assessments(yaml.safe_dump(dict(doc)), "assessments.yaml", rules)
    return MaturityModel(rules=rules, assessments=assessments, evidence_max_age=max_age)
