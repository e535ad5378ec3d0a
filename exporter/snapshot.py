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
    MetricDef("devsecops_incidents_detected_within_ratio",
              "Share of the incidents detected in the quarter (with a known start) whose "
              "detection took at most `within` (1h, 4h, 24h). " + FRESHNESS,
              ("within",), quarterly=True),
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
    # identity and access (exporter/derive/identity.py)
    MetricDef("devsecops_identity_mfa_coverage_ratio",
              "Share of active human accounts (scope all) or active privileged human "
              "accounts (scope privileged) that can satisfy MFA, over those whose MFA status "
              "is known; guests only when identity.count_guests is set. State as of the last "
              "collection. " + FRESHNESS, ("scope",)),
    MetricDef("devsecops_identity_sso_coverage_ratio",
              "Share of active production applications (all active ones when none is "
              "marked production) that sign on through the identity provider, over those "
              "whose sign-on mode is known. " + FRESHNESS),
    MetricDef("devsecops_identity_privileged_jit_ratio",
              "Eligible (just-in-time) privileged role assignments over eligible plus "
              "permanent ones, break-glass accounts excluded. " + FRESHNESS),
    MetricDef("devsecops_identity_standing_privileged_assignments",
              "Permanent (standing) privileged role assignments, break-glass accounts "
              "excluded. " + FRESHNESS),
    MetricDef("devsecops_identity_workload_static_credential_ratio",
              "Share of active workload identities holding a long-lived secret, password "
              "or key, over those whose credentials are known. " + FRESHNESS),
    MetricDef("devsecops_identity_offboarding_mean_seconds",
              "Mean time from leaving to access removed over offboardings whose access was "
              "removed in the quarter (removal before leaving counts as 0). " + FRESHNESS,
              (), quarterly=True),
    MetricDef("devsecops_identity_offboarding_within_sla_ratio",
              "Offboardings removed in the quarter within identity.offboarding_sla, over "
              "those removed in the quarter plus those still pending and already past the "
              "SLA. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_identity_offboardings_pending_past_sla",
              "Offboardings whose access is still not removed and whose leave date is "
              "longer ago than identity.offboarding_sla, as of the last collection. "
              + FRESHNESS),
    MetricDef("devsecops_identity_access_review_last_completed_timestamp_seconds",
              "When the last access review of the scope (privileged, all) was completed. "
              + FRESHNESS, ("scope",)),
    MetricDef("devsecops_identity_access_review_age_seconds",
              "Time from the last completed access review of the scope to the last "
              "derivation (what the level rules compare). " + FRESHNESS, ("scope",)),
    # detection coverage and telemetry (exporter/derive/detection.py)
    MetricDef("devsecops_detection_attack_coverage_ratio",
              "Share of the pinned ATT&CK Enterprise techniques in scope (neither revoked "
              "nor deprecated; narrowed by detection.platforms if configured) with at least "
              "one enabled rule; a sub-technique covers its parent. Earlier quarters keep "
              "their last value. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_detection_attack_info",
              "The ATT&CK Enterprise version the coverage is counted against; always 1. "
              + FRESHNESS, ("version",)),
    MetricDef("devsecops_detection_rules",
              "Detection rules seen now, by state (enabled, disabled) and mapped (true: "
              "carries at least one ATT&CK technique id). " + FRESHNESS, ("state", "mapped")),
    MetricDef("devsecops_detection_enabled_rules",
              "Enabled detection rules seen now, by kind (query, threshold, "
              "machine_learning, correlation, other). " + FRESHNESS, ("kind",)),
    MetricDef("devsecops_telemetry_coverage_ratio",
              "Share of the workloads known from any source (joined by normalized host name "
              "or instance id) whose security telemetry is healthy. Earlier quarters keep "
              "their last value. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_telemetry_workloads",
              "Workloads known now, by their best telemetry state across sources (healthy, "
              "unhealthy, none, unknown). " + FRESHNESS, ("telemetry",)),
    # cloud posture (exporter/derive/posture.py)
    MetricDef("devsecops_cloud_resources_passing_ratio",
              "Share of cloud resources with no unmuted failing posture result of the "
              "framework family, over resources with at least one pass or fail result of "
              "it; as of the newest scans. Earlier quarters keep their last value. "
              + FRESHNESS, ("framework",), quarterly=True),
    MetricDef("devsecops_cloud_iam_resources_passing_ratio",
              "The same share over the results of identity and access checks (least "
              "privilege). Earlier quarters keep their last value. " + FRESHNESS,
              (), quarterly=True),
    MetricDef("devsecops_cloud_posture_open_findings",
              "Unmuted failing posture results open now (not vulnerabilities). "
              + FRESHNESS, ("severity",)),
    MetricDef("devsecops_cloud_posture_open_past_sla_findings",
              "Unmuted failing posture results open now and past their posture SLA "
              "(cloud.sla). " + FRESHNESS, ("severity",)),
    MetricDef("devsecops_cloud_posture_sla_compliance_ratio",
              "Failing posture results resolved within their SLA over those resolved in "
              "the rolling window plus those open past due, 0..1. " + FRESHNESS,
              ("severity",)),
    MetricDef("devsecops_cloud_posture_mttr_seconds",
              "Mean time from first seen failing to resolved (passed, or gone from a "
              "complete scan) over posture results resolved in the quarter. " + FRESHNESS,
              ("severity",), quarterly=True),
    MetricDef("devsecops_cloud_accounts_scanned_ratio",
              "Share of the cloud accounts seen in the last 30 days whose newest posture "
              "result is younger than cloud.scan_max_age. Earlier quarters keep their "
              "last value. " + FRESHNESS, (), quarterly=True),
    # supply chain and security culture (exporter/derive/supply_chain.py, training.py,
    # repositories.py for the scorecard mean)
    MetricDef("devsecops_supply_chain_attested_artifacts_ratio",
              "Share of the artifacts created in the quarter that have a signed provenance "
              "attestation, over those whose attestation status is known. " + FRESHNESS,
              (), quarterly=True),
    MetricDef("devsecops_supply_chain_slsa_build_level_ratio",
              "Share of the artifacts created in the quarter at this SLSA build level "
              "(1-3) or above, over those whose level is known. " + FRESHNESS,
              ("level",), quarterly=True),
    MetricDef("devsecops_supply_chain_sbom_artifacts_ratio",
              "Share of the artifacts created in the quarter with an SBOM, over those "
              "whose SBOM status is known. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_supply_chain_artifacts",
              "Artifacts created in the quarter, by provenance attestation status (yes, "
              "no, unknown). " + FRESHNESS, ("attested",), quarterly=True),
    MetricDef("devsecops_repository_scorecard_score_mean",
              "Mean OpenSSF Scorecard score (0-10) over active repositories that have "
              "one; earlier quarters keep their last value. " + FRESHNESS,
              (), quarterly=True),
    MetricDef("devsecops_training_completion_ratio",
              "Share of the in-scope people (developer population per config) with a "
              "security training completed in the last 365 days; earlier quarters keep "
              "their last value. " + FRESHNESS, (), quarterly=True),
    MetricDef("devsecops_internal_vulnerability_reports",
              "Findings of category internal_report (reports by the organisation's own "
              "people) opened in the quarter. " + FRESHNESS, (), quarterly=True),
    # scanner reports (exporter/derive/scans.py); the DAST share is published as
    # devsecops_repository_coverage_ratio{setting="dast"}, over scans.dast_targets
    MetricDef("devsecops_scan_targets",
              "Distinct targets (repositories, images, URLs) per scan category whose newest "
              "scanner report is younger than scans.max_age (fresh=true) or older "
              "(fresh=false); earlier quarters keep their last value. " + FRESHNESS,
              ("category", "fresh"), quarterly=True),
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
