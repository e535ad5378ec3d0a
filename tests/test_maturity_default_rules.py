"""The bundled default rules, domain by domain.

Two tables: (1) generated from the rules file itself, every level of every domain is
reached when all criteria of levels 2..L hold, and missed (L-1) when any single one of
them does not; (2) hand-written cases pinning the spec's numbers (MTTD < 24h/4h/1h,
MTTC < 8h, > 90 % SLA compliance, < 30 min investigation, ...) so that editing the
bundled file cannot silently drift from the spec.
"""

from __future__ import annotations

from typing import Any

import pytest

from exporter.maturity.engine import assess
from exporter.maturity.model import DOMAINS, OPERATORS, RULE_LEVELS
from tests.test_maturity_support import NOW, assessments_doc, default_rules, derived, model

FRESH = "-10d"
STALE = "-200d"  # older than the default 120 days


def _criteria_up_to(domain: str, level: int) -> list[Any]:
    rules = default_rules()
    return [c for lvl in RULE_LEVELS if lvl <= level for c in rules.criteria(domain, lvl)]


def _candidates(criteria: list[Any]) -> list[float]:
    values = {0.0}
    for c in criteria:
        for bound in [getattr(c, "value", None), getattr(c, "good_enough", None)]:
            if bound is not None:
                for delta in (0.0, 0.01, -0.01, 0.5, -0.5, 1.0):
                    if bound + delta >= 0:
                        values.add(round(bound + delta, 4))
    return sorted(values)


def _inputs(domain: str, level: int, violate: Any = None) -> tuple[dict, dict, dict]:
    """Current and previous metrics plus attestations meeting every criterion of levels
    2..level except ``violate`` (which is made to fail, or left without data when no
    realistic value can fail it)."""
    criteria = _criteria_up_to(domain, level)
    current: dict = {}
    previous: dict = {}
    attest: dict = {}
    by_key: dict = {}
    for c in criteria:
        if c.kind == "attestation":
            if c is violate:
                attest[c.id] = STALE  # attested, but the evidence is too old to count
            else:
                attest[c.id] = FRESH
        else:
            by_key.setdefault(c.key, []).append(c)
    for k, group in by_key.items():
        thresholds = [c for c in group if c.kind == "threshold" and c is not violate]
        must_fail = violate if violate is not None and violate in group else None
        value = None
        for v in _candidates(group):
            if not all(OPERATORS[c.op](v, c.value) for c in thresholds):
                continue
            if must_fail is not None:
                if must_fail.kind == "threshold" and OPERATORS[must_fail.op](v, must_fail.value):
                    continue
                if must_fail.kind == "trend" and must_fail.good_enough is not None and (
                        v <= must_fail.good_enough):
                    continue
            value = v
            break
        if value is None:
            continue  # cannot fail with a realistic value: leave it without data
        current[k] = value
        trends = [c for c in group if c.kind == "trend"]
        if trends:
            # better than before, or flat (not met) when the trend is what must fail
            previous[k] = value if must_fail in trends else value + 1.0
    return current, previous, {domain: attest} if attest else {}


CASES = [(d, lvl) for d in DOMAINS for lvl in RULE_LEVELS]


@pytest.mark.parametrize(("domain", "level"), CASES, ids=[f"{d}-L{lvl}" for d, lvl in CASES])
def test_each_level_is_reached_when_its_criteria_and_those_below_hold(domain, level):
    current, previous, attest = _inputs(domain, level)
    result = assess(derived(current, previous), model(assessments_doc(attest)), {}, NOW)
    assert result.domains[domain].current.level == level
    statuses = {c.id: c.status for c in result.domains[domain].current.criteria
                if c.level <= level}
    assert set(statuses.values()) == {"met"}


MISS_CASES = [(d, lvl, c.id) for d in DOMAINS for lvl in RULE_LEVELS
              for c in default_rules().criteria(d, lvl)]


@pytest.mark.parametrize(("domain", "level", "criterion"), MISS_CASES,
                         ids=[f"{d}-L{lvl}-{c}" for d, lvl, c in MISS_CASES])
def test_each_level_is_missed_by_any_one_criterion(domain, level, criterion):
    violate = next(c for c in default_rules().criteria(domain, level) if c.id == criterion)
    current, previous, attest = _inputs(domain, level, violate)
    result = assess(derived(current, previous), model(assessments_doc(attest)), {}, NOW)
    domain_result = result.domains[domain]
    assert domain_result.current.level == level - 1
    failed = {c.id: c.status for c in domain_result.current.criteria if c.status != "met"
              and c.level <= level}
    assert list(failed) == [criterion]
    # A failing value is a definite miss; a criterion left without data is unknown and
    # makes the level provisional rather than proven.
    assert domain_result.current.determined == (failed[criterion] == "not_met")


# -- the spec's numbers -------------------------------------------------------------------

CRIT = "{severity=critical}"
IR_L2 = {"ir_process_defined": FRESH}
IR_ATTESTED = {"ir_process_defined": FRESH, "playbooks_top5": FRESH,
               "quarterly_tabletops": FRESH, "full_kill_chain_detection": FRESH}
OD_ATTESTED = {"detection_as_code": FRESH, "alert_slas_defined": FRESH}
DAY = 86400

SPEC_CASES = [
    # (name, domain, current metrics, previous metrics, attestations, expected level)
    ("ir: MTTD 30h, within 48h", "incident_response",
     {"security_incident_mttd_hours": 30, "security_incident_mttc_hours": 20}, {}, IR_L2, 2),
    ("ir: MTTD 48h is not < 48h", "incident_response",
     {"security_incident_mttd_hours": 48}, {}, IR_L2, 1),
    ("ir: MTTD 23.9h, MTTC 20h -> 3", "incident_response",
     {"security_incident_mttd_hours": 23.9, "security_incident_mttc_hours": 20}, {},
     IR_ATTESTED, 3),
    ("ir: MTTD exactly 24h stays at 2", "incident_response",
     {"security_incident_mttd_hours": 24, "security_incident_mttc_hours": 2}, {},
     IR_ATTESTED, 2),
    ("ir: MTTD 3.9h, MTTC 7.9h, all detected within 4h -> 4", "incident_response",
     {"security_incident_mttd_hours": 3.9, "security_incident_mttc_hours": 7.9,
      "devsecops_incidents_detected_within_ratio{within=4h}": 1.0}, {},
     IR_ATTESTED, 4),
    ("ir: mean MTTD 3.9h but 40 % detected within 4h -> 3", "incident_response",
     {"security_incident_mttd_hours": 3.9, "security_incident_mttc_hours": 7.9,
      "devsecops_incidents_detected_within_ratio{within=4h}": 0.4}, {},
     IR_ATTESTED, 3),
    ("ir: MTTD 4h is not < 4h", "incident_response",
     {"security_incident_mttd_hours": 4.0, "security_incident_mttc_hours": 2}, {},
     IR_ATTESTED, 3),
    ("ir: MTTC 8h is not < 8h", "incident_response",
     {"security_incident_mttd_hours": 2, "security_incident_mttc_hours": 8}, {},
     IR_ATTESTED, 3),
    ("ir: MTTD 0.5h, MTTC 0.9h -> 5", "incident_response",
     {"security_incident_mttd_hours": 0.5, "security_incident_mttc_hours": 0.9,
      "devsecops_incidents_detected_within_ratio{within=4h}": 1.0}, {},
     IR_ATTESTED, 5),
    ("ir: fast but no tabletop this quarter -> 3", "incident_response",
     {"security_incident_mttd_hours": 0.5, "security_incident_mttc_hours": 0.5}, {},
     {**IR_ATTESTED, "quarterly_tabletops": STALE}, 3),
    ("vm: SLA 90% is not > 90%", "vulnerability_management",
     {f"vulnerability_sla_compliance_pct{CRIT}": 90, f"vulnerability_mttr_days{CRIT}": 5,
      f"devsecops_vulnerability_open_findings{CRIT}": 4},
     {f"vulnerability_mttr_days{CRIT}": 6}, {"scheduled_scans": FRESH}, 3),
    ("vm: SLA 90.5%, MTTR 5d falling -> 4", "vulnerability_management",
     {f"vulnerability_sla_compliance_pct{CRIT}": 90.5, f"vulnerability_mttr_days{CRIT}": 5,
      f"devsecops_vulnerability_open_findings{CRIT}": 4},
     {f"vulnerability_mttr_days{CRIT}": 6}, {"scheduled_scans": FRESH}, 4),
    ("vm: MTTR 5d but rising -> 3", "vulnerability_management",
     {f"vulnerability_sla_compliance_pct{CRIT}": 95, f"vulnerability_mttr_days{CRIT}": 5,
      f"devsecops_vulnerability_open_findings{CRIT}": 4},
     {f"vulnerability_mttr_days{CRIT}": 4}, {"scheduled_scans": FRESH}, 3),
    ("vm: MTTR 35d fails the 30-day bar", "vulnerability_management",
     {f"vulnerability_sla_compliance_pct{CRIT}": 95, f"vulnerability_mttr_days{CRIT}": 35,
      f"devsecops_vulnerability_open_findings{CRIT}": 4}, {}, {"scheduled_scans": FRESH}, 2),
    ("vm: MTTR 2d flat (good enough), nothing past SLA -> 5", "vulnerability_management",
     {f"vulnerability_sla_compliance_pct{CRIT}": 100, f"vulnerability_mttr_days{CRIT}": 2,
      f"devsecops_vulnerability_open_findings{CRIT}": 1,
      f"devsecops_vulnerability_open_past_sla_findings{CRIT}": 0},
     {f"vulnerability_mttr_days{CRIT}": 2},
     {"scheduled_scans": FRESH, "predictive_prioritisation": FRESH}, 5),
    ("vm: one critical past SLA blocks 5", "vulnerability_management",
     {f"vulnerability_sla_compliance_pct{CRIT}": 100, f"vulnerability_mttr_days{CRIT}": 2,
      f"devsecops_vulnerability_open_findings{CRIT}": 1,
      f"devsecops_vulnerability_open_past_sla_findings{CRIT}": 1},
     {}, {"scheduled_scans": FRESH, "predictive_prioritisation": FRESH}, 4),
    ("sd: SAST on 40% of repos -> 2", "secure_development",
     {"sast_coverage_pct": 40}, {}, {}, 2),
    ("sd: SAST 100% but 95% review gates -> 2", "secure_development",
     {"sast_coverage_pct": 100, "devsecops_repository_coverage_ratio{setting=review_gate}": 0.95},
     {}, {}, 2),
    ("sd: SAST + SCA + secrets + push protection everywhere -> 4", "secure_development",
     {"sast_coverage_pct": 100, "devsecops_repository_coverage_ratio{setting=review_gate}": 1,
      "devsecops_repository_coverage_ratio{setting=dependency_alerts}": 1,
      "devsecops_repository_coverage_ratio{setting=secret_scanning}": 1,
      "devsecops_repository_coverage_ratio{setting=push_protection}": 1}, {}, {}, 4),
    ("od: 29 min mean investigation -> 4", "observability_detection",
     {"alert_signal_ratio": 0.4, "devsecops_siem_alert_investigation_mean_seconds": 29 * 60,
      "devsecops_detection_attack_coverage_ratio": 0.85,
      "devsecops_telemetry_coverage_ratio": 0.95},
     {}, OD_ATTESTED, 4),
    ("od: 30 min is not < 30 min", "observability_detection",
     {"alert_signal_ratio": 0.95, "devsecops_siem_alert_investigation_mean_seconds": 1800,
      "devsecops_detection_attack_coverage_ratio": 0.85,
      "devsecops_telemetry_coverage_ratio": 0.95,
      "devsecops_detection_enabled_rules{kind=machine_learning}": 2},
     {}, OD_ATTESTED, 3),
    ("sc: Dependabot on some repos -> 2", "supply_chain",
     {"devsecops_repository_coverage_ratio{setting=dependency_alerts}": 0.3}, {}, {}, 2),
    ("sc: SCA everywhere and signed artefacts -> 3", "supply_chain",
     {"devsecops_repository_coverage_ratio{setting=dependency_alerts}": 1.0,
      "devsecops_supply_chain_attested_artifacts_ratio": 1.0}, {}, {}, 3),
    ("ia: L2-L4 measured, offboarding SLA missing -> 3", "identity_access",
     {"devsecops_identity_sso_coverage_ratio": 0.9,
      "devsecops_identity_access_review_age_seconds{scope=all}": 30 * DAY,
      "devsecops_identity_mfa_coverage_ratio{scope=all}": 1.0,
      "devsecops_identity_privileged_jit_ratio": 1.0}, {}, {}, 3),
    ("ci: CIS >95% without automated remediation -> 3", "cloud_infrastructure",
     {"devsecops_cloud_accounts_scanned_ratio": 1.0,
      f"devsecops_cloud_posture_sla_compliance_ratio{CRIT}": 0.9,
      "devsecops_cloud_resources_passing_ratio{framework=cis}": 0.96}, {}, {}, 3),
    ("culture: security metrics in OKRs -> 4", "security_culture",
     {"devsecops_training_completion_ratio": 0.85}, {},
     {"informal_champions": FRESH, "champions_programme": FRESH,
      "threat_modelling_training": FRESH, "security_okrs": FRESH}, 4),
]


@pytest.mark.parametrize(("name", "domain", "current", "previous", "attest", "expected"),
                         SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_default_rules_encode_the_spec_numbers(name, domain, current, previous, attest,
                                               expected):
    doc = assessments_doc({domain: attest} if attest else None)
    result = assess(derived(current, previous), model(doc), {}, NOW)
    assert result.domains[domain].current.level == expected, name


def test_every_default_criterion_names_the_spec_indicator_it_encodes():
    rules = default_rules()
    for domain in DOMAINS:
        for level in RULE_LEVELS:
            for criterion in rules.criteria(domain, level):
                assert criterion.indicator.strip(), (domain, criterion.id)
    # the spec's thresholds, as numbers in the file
    mttd = {c.id: c.value for lvl in RULE_LEVELS
            for c in rules.criteria("incident_response", lvl) if c.kind == "threshold"
            and c.metric == "security_incident_mttd_hours"}
    assert mttd == {"mttd_under_48h": 48, "mttd_under_24h": 24, "mttd_under_4h": 4,
                    "mttd_under_1h": 1}


def test_docs_list_every_default_criterion_and_every_published_metric():
    from pathlib import Path

    from exporter.maturity.publish import METRICS

    docs = (Path(__file__).resolve().parent.parent / "docs" / "maturity.md").read_text("utf-8")
    rules = default_rules()
    for domain in DOMAINS:
        assert f"#### `{domain}`" in docs
        for level in RULE_LEVELS:
            for criterion in rules.criteria(domain, level):
                assert f"| {level} | `{criterion.id}` |" in docs, criterion.id
    for name in METRICS:
        assert f"| `{name}` |" in docs, name
