"""Maturity assessment: levels per domain and quarter, and the trend.

PLACEHOLDER mapping (the maturity-engine issue replaces it with rules from a YAML
file, attestations and explanations). The interface the rest of the exporter uses is:

- ``load_model(config) -> MaturityModel`` at start-up and reload (raises
  ``MaturityConfigError`` with one line per problem);
- ``assess(derived, model, history, now) -> Assessment``;
- ``Assessment.families()`` for publishing, ``Assessment.history_values()`` for the
  per-quarter history the store keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from exporter.config import MaturityConfig
from exporter.derive import Derived, MetricKey, MetricSet
from exporter.snapshot import FRESHNESS, Family, Sample

DOMAINS = (
    "vulnerability_management", "secure_development", "identity_access",
    "incident_response", "cloud_infrastructure", "supply_chain",
    "observability_detection", "security_culture",
)
LEVEL_METRIC = "devsecops_maturity_level"


class MaturityConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class MaturityModel:
    config: MaturityConfig


def load_model(config: MaturityConfig) -> MaturityModel:
    return MaturityModel(config=config)


def _placeholder_level(domain: str, metrics: MetricSet) -> int:
    if domain == "vulnerability_management":
        sla = metrics.get("vulnerability_sla_compliance_pct", severity="critical")
        return 1 if sla is None else (4 if sla > 90 else 3)
    if domain == "secure_development":
        sast = metrics.get("sast_coverage_pct")
        return 1 if sast is None else (3 if sast >= 100 else 2)
    if domain == "incident_response":
        mttd = metrics.get("security_incident_mttd_hours")
        if mttd is None:
            return 1
        return 5 if mttd < 1 else 4 if mttd < 4 else 3 if mttd < 24 else 2
    if domain == "observability_detection":
        ratio = metrics.get("alert_signal_ratio")
        return 1 if ratio is None else 2
    return 1


@dataclass(frozen=True)
class Assessment:
    current_quarter: str
    previous_quarter: str
    levels: dict[str, dict[str, int]]  # quarter label -> domain -> level

    @property
    def trend(self) -> dict[str, int]:
        current = self.levels.get(self.current_quarter, {})
        previous = self.levels.get(self.previous_quarter, {})
        return {d: current[d] - previous[d] for d in current if d in previous}

    def families(self) -> list[Family]:
        level_samples = tuple(
            Sample((("domain", domain), ("quarter", quarter)), float(level))
            for quarter in (self.previous_quarter, self.current_quarter)
            for domain, level in sorted(self.levels.get(quarter, {}).items())
        )
        trend_samples = tuple(
            Sample((("domain", domain),), float(delta)) for domain, delta in sorted(self.trend.items())
        )
        return [
            Family(LEVEL_METRIC, "Maturity level 1-5 per capability domain and quarter. "
                   + FRESHNESS, "gauge", level_samples),
            Family("devsecops_maturity_trend", "Current quarter's level minus the previous "
                   "quarter's, per domain. " + FRESHNESS, "gauge", trend_samples),
        ]

    def history_values(self) -> dict[str, dict[MetricKey, float]]:
        return {
            quarter: {(LEVEL_METRIC, (("domain", d),)): float(v) for d, v in levels.items()}
            for quarter, levels in self.levels.items()
        }


def assess(derived: Derived, model: MaturityModel,
           history: Mapping[str, Mapping[MetricKey, float]], now: datetime) -> Assessment:
    levels = {
        q.label: {d: _placeholder_level(d, derived.by_quarter[q.label]) for d in DOMAINS}
        for q in derived.quarters
    }
    return Assessment(derived.current.label, derived.previous.label, levels)
