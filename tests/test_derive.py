"""Every derivation of DESIGN.md on hand-built records, with exact expected values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exporter.derive import HISTORY_METRICS, DerivationSettings, point_in_time_values
from tests.builders import NOW, SETTINGS, alert, at, derive_records, finding, incident, repo

Q4, Q3 = "2026-Q4", "2026-Q3"


def test_quarters_are_current_and_previous() -> None:
    derived = derive_records()
    assert (derived.previous.label, derived.current.label) == (Q3, Q4)


def test_empty_store_has_no_values_at_all() -> None:
    derived = derive_records()
    assert derived.by_quarter[Q4].values == {}
    assert derived.by_quarter[Q3].values == {}


# -- MTTR -------------------------------------------------------------------------------


def test_mttr_is_mean_of_findings_fixed_in_the_quarter() -> None:
    derived = derive_records(findings=[
        finding("2026-10-02", fixed_after_days=2),
        finding("2026-10-10", fixed_after_days=4),
        # opened last quarter, fixed this quarter: counts for Q4 with its full duration
        finding("2026-09-25", fixed_after_days=10),
        finding("2026-08-01", fixed_after_days=6),  # fixed in Q3
        finding("2026-10-01", severity="high", fixed_after_days=20),
    ])
    q4, q3 = derived.by_quarter[Q4], derived.by_quarter[Q3]
    assert q4.get("vulnerability_mttr_days", severity="critical") == pytest.approx(16 / 3)
    assert q3.get("vulnerability_mttr_days", severity="critical") == pytest.approx(6)
    assert q4.get("vulnerability_mttr_days", severity="high") == pytest.approx(20)
    assert q4.get("vulnerability_mttr_days", severity="low") is None  # no data: absent


def test_dismissed_findings_are_not_remediations() -> None:
    derived = derive_records(findings=[
        finding("2026-10-02", fixed_after_days=2),
        finding("2026-10-02", state="dismissed", resolved="2026-11-20"),
    ])
    assert derived.by_quarter[Q4].get("vulnerability_mttr_days", severity="critical") == 2


def test_quarter_boundary_is_utc_midnight() -> None:
    # fixed one second before 2026-10-01T00:00Z: Q3; exactly at it: Q4
    derived = derive_records(findings=[
        finding("2026-09-29T00:00:00", resolved="2026-09-30T23:59:59", state="fixed"),
        finding("2026-09-28T00:00:00", resolved="2026-10-01T00:00:00", state="fixed"),
    ])
    q3 = derived.by_quarter[Q3].get("vulnerability_mttr_days", severity="critical")
    q4 = derived.by_quarter[Q4].get("vulnerability_mttr_days", severity="critical")
    assert q3 == pytest.approx(2 - 1 / 86400)
    assert q4 == pytest.approx(3)


def test_quarter_uses_utc_even_for_offset_timestamps() -> None:
    # 2026-10-01T01:00+02:00 is 2026-09-30T23:00Z: still Q3
    opened = datetime.fromisoformat("2026-09-29T01:00:00+02:00")
    resolved = datetime.fromisoformat("2026-10-01T01:00:00+02:00")
    derived = derive_records(findings=[finding(opened, resolved=resolved, state="fixed")])
    assert derived.by_quarter[Q3].get("vulnerability_mttr_days", severity="critical") == 2
    assert derived.by_quarter[Q4].get("vulnerability_mttr_days", severity="critical") is None


# -- SLA compliance -----------------------------------------------------------------------


def test_sla_compliance_counts_fixed_in_window_and_open_past_due() -> None:
    derived = derive_records(findings=[
        finding("2026-11-01", fixed_after_days=3),  # in SLA (7 days)
        finding("2026-10-01", fixed_after_days=7),  # exactly at the SLA: in SLA
        finding("2026-10-01", fixed_after_days=9),  # late
        finding("2026-11-01"),  # open, past due (opened 22 days ago): counts against
        finding("2026-11-20"),  # open, not yet due: counts neither way
        finding("2026-11-01", state="dismissed", resolved="2026-11-02"),  # not counted
        finding("2026-05-01", fixed_after_days=1),  # fixed before the 90-day window
    ])
    q4 = derived.by_quarter[Q4]
    assert q4.get("vulnerability_sla_compliance_pct", severity="critical") == pytest.approx(50)
    assert q4.get("devsecops_vulnerability_open_findings", severity="critical") == 2
    assert q4.get("devsecops_vulnerability_open_past_sla_findings", severity="critical") == 1


def test_open_not_yet_due_alone_gives_no_compliance_value() -> None:
    derived = derive_records(findings=[finding("2026-11-22")])
    q4 = derived.by_quarter[Q4]
    assert q4.get("vulnerability_sla_compliance_pct", severity="critical") is None
    assert q4.get("devsecops_vulnerability_open_findings", severity="critical") == 1
    assert q4.get("devsecops_vulnerability_open_findings_mean_age_seconds",
                  severity="critical") == pytest.approx(36 * 3600)


def test_sla_days_come_from_config() -> None:
    lenient = DerivationSettings(sla_days={"critical": 30, "high": 30, "medium": 90, "low": 120})
    records = [finding("2026-10-01", fixed_after_days=9)]
    assert derive_records(findings=records).by_quarter[Q4].get(
        "vulnerability_sla_compliance_pct", severity="critical") == 0
    assert derive_records(findings=records, settings=lenient).by_quarter[Q4].get(
        "vulnerability_sla_compliance_pct", severity="critical") == 100


def test_previous_quarter_sla_is_as_of_its_end() -> None:
    # Open since 2026-09-01 and fixed on 2026-11-01: at the end of Q3 it was open and
    # past due; now it is a late fix inside the window.
    derived = derive_records(findings=[finding("2026-09-01", resolved="2026-11-01",
                                               state="fixed")])
    q3, q4 = derived.by_quarter[Q3], derived.by_quarter[Q4]
    assert q3.get("devsecops_vulnerability_open_past_sla_findings", severity="critical") == 1
    assert q3.get("vulnerability_sla_compliance_pct", severity="critical") == 0
    assert q4.get("devsecops_vulnerability_open_findings", severity="critical") == 0


def test_exposure_window_from_disclosure_to_fix() -> None:
    derived = derive_records(findings=[
        finding("2026-11-01", disclosed="2026-10-30", fixed_after_days=1),  # 3 days
        finding("2026-11-01", disclosed="2026-10-31", fixed_after_days=2),  # 3 days
        finding("2026-11-01", fixed_after_days=5),  # no disclosure time: not counted
    ])
    assert derived.by_quarter[Q4].get("devsecops_vulnerability_exposure_window_seconds",
                                      severity="critical") == pytest.approx(3 * 86400)


# -- repositories -------------------------------------------------------------------------


def test_sast_coverage_over_active_repositories() -> None:
    derived = derive_records(repositories=[
        repo("api", sast_enabled=True, review_gate_tier=3),
        repo("web", sast_enabled=False, review_gate_tier=1),
        repo("old", sast_enabled=False, archived=True),
        repo("fork", sast_enabled=False, fork=True),
        repo("lib", sast_enabled=True, review_gate_tier=2),
        repo("unknown"),  # settings unreadable: in no share
    ])
    q4 = derived.by_quarter[Q4]
    assert q4.get("sast_coverage_pct") == pytest.approx(200 / 3)
    assert q4.get("devsecops_repository_coverage_ratio", setting="review_gate") == \
        pytest.approx(2 / 3)
    assert q4.get("devsecops_repository_coverage_ratio", setting="secret_scanning") is None
    assert q4.get("devsecops_repositories", state="active") == 4
    assert q4.get("devsecops_repositories", state="archived") == 1
    assert q4.get("devsecops_repository_review_gate_tier_ratio", tier="3") == pytest.approx(1 / 3)
    # point-in-time: nothing for the previous quarter without stored history
    assert derived.by_quarter[Q3].get("sast_coverage_pct") is None


def test_required_review_share_beside_the_stricter_review_gate() -> None:
    """A required review with force pushes allowed is reviewed but not gated."""
    derived = derive_records(repositories=[
        repo("gated", review_gate_tier=2),  # tier 2 includes a required review
        repo("reviewed", review_gate_tier=0, required_review=True),  # force pushes allowed
        repo("open", review_gate_tier=0, required_review=False),
        repo("old-state", review_gate_tier=1),  # review not read: unknown, not "no"
    ])
    q4 = derived.by_quarter[Q4]
    assert q4.get("devsecops_repository_coverage_ratio", setting="review_gate") == \
        pytest.approx(1 / 4)
    assert q4.get("devsecops_repository_coverage_ratio", setting="required_review") == \
        pytest.approx(2 / 3)


def test_forks_and_exclusions_follow_config() -> None:
    settings = DerivationSettings(sla_days=SETTINGS.sla_days, include_forks=True,
                                  exclude_patterns=("^sandbox-",))
    derived = derive_records(settings=settings, repositories=[
        repo("api", sast_enabled=True), repo("fork", sast_enabled=False, fork=True),
        repo("sandbox-x", sast_enabled=False),
    ])
    assert derived.by_quarter[Q4].get("sast_coverage_pct") == 50


def test_previous_quarter_coverage_comes_from_history() -> None:
    history = {Q3: {("sast_coverage_pct", ()): 40.0}}
    derived = derive_records(repositories=[repo("api", sast_enabled=True)], history=history)
    assert derived.by_quarter[Q3].get("sast_coverage_pct") == 40
    assert derived.by_quarter[Q4].get("sast_coverage_pct") == 100


def test_dated_snapshots_of_the_previous_quarter_give_its_coverage() -> None:
    """A fresh install has a previous quarter to compare with (issue 10)."""
    derived = derive_records(repositories=[
        repo("api", sast_enabled=True, review_gate_tier=3, dependency_alerts=True),
        repo("web", sast_enabled=True, review_gate_tier=2, dependency_alerts=True),
        repo("api", sast_enabled=False, review_gate_tier=1, dependency_alerts=True,
             observed_at=at("2026-08-15")),
        repo("web", sast_enabled=True, review_gate_tier=1, dependency_alerts=False,
             observed_at=at("2026-08-15")),
        repo("old", sast_enabled=False, archived=True, observed_at=at("2026-08-15")),
    ])
    q3, q4 = derived.by_quarter[Q3], derived.by_quarter[Q4]
    assert q3.get("sast_coverage_pct") == 50
    assert q3.get("devsecops_repository_coverage_ratio", setting="review_gate") == 0
    assert q3.get("devsecops_repository_coverage_ratio", setting="dependency_alerts") == 0.5
    assert q3.get("devsecops_repository_review_gate_tier_ratio", tier="1") == 1
    assert q3.get("devsecops_repositories", state="active") == 2
    assert q3.get("devsecops_repositories", state="archived") == 1
    # the current quarter is the undated state only, exactly as without snapshots
    assert q4.get("sast_coverage_pct") == 100
    assert q4.get("devsecops_repository_coverage_ratio", setting="review_gate") == 1
    assert q4.get("devsecops_repositories", state="archived") == 0


def test_live_history_of_the_previous_quarter_wins_over_snapshots() -> None:
    history = {Q3: {("sast_coverage_pct", ()): 40.0,
                    ("devsecops_repository_coverage_ratio", (("setting", "sast"),)): 0.4}}
    derived = derive_records(history=history, repositories=[
        repo("api", sast_enabled=True, review_gate_tier=3),
        repo("api", sast_enabled=True, review_gate_tier=0, observed_at=at("2026-09-01")),
    ])
    q3 = derived.by_quarter[Q3]
    assert q3.get("sast_coverage_pct") == 40  # the exporter saw 40 %, the file says 100
    assert q3.get("devsecops_repository_coverage_ratio", setting="sast") == 0.4
    # what the history lacks, the snapshot fills
    assert q3.get("devsecops_repository_coverage_ratio", setting="review_gate") == 0


def test_latest_observation_of_each_repository_within_a_quarter_counts() -> None:
    derived = derive_records(repositories=[
        repo("api", sast_enabled=True, observed_at=at("2026-09-20")),
        repo("api", sast_enabled=False, observed_at=at("2026-07-02")),
        repo("api", sast_enabled=False, observed_at=at("2026-09-20T00:00") - timedelta(hours=1)),
        repo("web", sast_enabled=False, observed_at=at("2026-07-02")),
        repo("web", sast_enabled=True, observed_at=at("2026-09-30T23:59")),
    ])
    q3 = derived.by_quarter[Q3]
    assert q3.get("sast_coverage_pct") == 100  # api and web switched SAST on late in Q3
    assert q3.get("devsecops_repositories", state="active") == 2  # not one per observation


def test_a_dated_snapshot_in_the_current_quarter_yields_to_the_current_state() -> None:
    derived = derive_records(repositories=[
        repo("api", sast_enabled=True),
        repo("api", sast_enabled=False, observed_at=at("2026-11-20")),
        repo("web", sast_enabled=False, observed_at=at("2026-10-05")),  # only dated: counts
    ])
    q4 = derived.by_quarter[Q4]
    assert q4.get("sast_coverage_pct") == 50
    assert q4.get("devsecops_repositories", state="active") == 2
    assert derived.by_quarter[Q3].get("sast_coverage_pct") is None


def test_no_observation_and_no_history_leaves_the_previous_quarter_absent() -> None:
    """Never invented: an older snapshot is not carried forward, a future one not used."""
    derived = derive_records(repositories=[
        repo("api", sast_enabled=True),
        repo("api", sast_enabled=False, observed_at=at("2026-06-30T23:59")),  # Q2
        repo("web", sast_enabled=False, observed_at=at("2026-12-01")),  # after now
    ])
    assert derived.by_quarter[Q3].get("sast_coverage_pct") is None
    assert derived.by_quarter[Q3].series("devsecops_repositories") == {}
    assert derived.by_quarter[Q4].get("sast_coverage_pct") == 100
    assert derived.by_quarter[Q4].get("devsecops_repositories", state="active") == 1


def test_history_kept_for_the_current_quarter_is_only_its_own_values() -> None:
    derived = derive_records(repositories=[
        repo("api", sast_enabled=True),
        repo("api", sast_enabled=False, review_gate_tier=1, observed_at=at("2026-08-01")),
    ])
    kept = point_in_time_values(derived)
    assert kept == {k: v for k, v in derived.by_quarter[Q4].values.items()
                    if k[0] in HISTORY_METRICS}
    assert kept[("sast_coverage_pct", ())] == 100
    assert not any(name == "devsecops_repository_review_gate_tier_ratio" for name, _ in kept)


# -- incidents ------------------------------------------------------------------------------


def test_mttd_and_mttc_per_quarter() -> None:
    derived = derive_records(incidents=[
        incident("2026-10-02T10:00", started="2026-10-02T08:00", contained="2026-10-02T14:00"),
        incident("2026-10-05T06:00", started="2026-10-05T00:00"),
        # detected in Q3, contained in Q4: MTTD in Q3, MTTC in Q4
        incident("2026-09-30T22:00", started="2026-09-30T21:00", contained="2026-10-01T02:00"),
        incident("2026-11-01T00:00"),  # no start time: not in MTTD, still detected
    ])
    q4, q3 = derived.by_quarter[Q4], derived.by_quarter[Q3]
    assert q4.get("security_incident_mttd_hours") == pytest.approx(4)  # (2 + 6) / 2
    assert q4.get("security_incident_mttc_hours") == pytest.approx(4)  # (4 + 4) / 2
    assert q3.get("security_incident_mttd_hours") == pytest.approx(1)
    assert q3.get("security_incident_mttc_hours") is None
    assert q4.get("devsecops_incidents_detected") == 3


def test_postmortem_ratio_over_resolved_incidents_with_known_status() -> None:
    derived = derive_records(incidents=[
        incident("2026-10-02", resolved="2026-10-03", postmortem=True),
        incident("2026-10-02", resolved="2026-10-04", postmortem=False),
        incident("2026-10-02", resolved="2026-10-05"),  # unknown: left out
        incident("2026-10-02", postmortem=True),  # not resolved: left out
    ])
    assert derived.by_quarter[Q4].get("devsecops_incident_postmortem_ratio") == 0.5


# -- SIEM alerts -------------------------------------------------------------------------------


def test_signal_ratio_leaves_untriaged_out() -> None:
    derived = derive_records(siem_alerts=[
        alert("2026-10-02T00:00", "actionable", "2026-10-02T01:00"),
        alert("2026-10-02T00:00", "false_positive", "2026-10-02T03:00"),
        alert("2026-10-02T00:00", "benign", "2026-10-02T02:00"),
        alert("2026-10-03T00:00", "actionable", "2026-10-03T02:00"),
        alert("2026-11-20T00:00"),  # untriaged
        alert("2026-09-30T00:00", "false_positive", "2026-10-01T00:00"),  # created in Q3
    ])
    q4, q3 = derived.by_quarter[Q4], derived.by_quarter[Q3]
    assert q4.get("alert_signal_ratio") == 0.5
    assert q4.get("devsecops_siem_alerts_untriaged") == 1
    assert q4.get("devsecops_siem_alerts_triaged", disposition="benign") == 1
    assert q4.get("devsecops_siem_alert_investigation_mean_seconds") == pytest.approx(2 * 3600)
    assert q3.get("alert_signal_ratio") == 0


def test_only_untriaged_alerts_give_a_count_but_no_ratio() -> None:
    derived = derive_records(siem_alerts=[alert("2026-11-20T00:00")])
    q4 = derived.by_quarter[Q4]
    assert q4.get("alert_signal_ratio") is None
    assert q4.get("devsecops_siem_alerts_untriaged") == 1


def test_fiscal_year_start_changes_quarters() -> None:
    settings = DerivationSettings(sla_days=SETTINGS.sla_days, fiscal_start_month=4)
    derived = derive_records(settings=settings, now=NOW, findings=[
        finding("2026-10-02", fixed_after_days=2)])
    assert derived.current.label == "2027-Q3"
    assert derived.current.start == datetime(2026, 10, 1, tzinfo=UTC)
    assert derived.by_quarter["2027-Q3"].get("vulnerability_mttr_days", severity="critical") == 2


def test_at_helper_is_utc() -> None:
    assert at("2026-10-01").tzinfo is UTC


def test_quarter_info_names_current_and_previous() -> None:
    from exporter.snapshot import quarter_info

    family = quarter_info(derive_records())
    assert [dict(s.labels) for s in family.samples] == [
        {"period": "previous", "quarter": Q3}, {"period": "current", "quarter": Q4}]
    assert all(s.value == 1.0 for s in family.samples)


def test_the_generic_rows_form_equals_the_per_kind_keywords() -> None:
    from collectors.records import RecordKind
    from exporter.derive import FAMILIES, derive_all
    from tests.builders import NOW

    rows = {RecordKind.FINDING: [(0, 1, NOW.timestamp() - 86400 * 10,
                                  NOW.timestamp() - 86400 * 5, None)]}
    by_rows = derive_all(rows=rows, settings=SETTINGS, now=NOW)
    by_keyword = derive_all(findings=rows[RecordKind.FINDING], settings=SETTINGS, now=NOW)
    assert by_rows.by_quarter[Q4].values == by_keyword.by_quarter[Q4].values
    assert by_rows.by_quarter[Q4].get("vulnerability_mttr_days", severity="critical") == 5.0
    with pytest.raises(TypeError):
        derive_all(rows=rows, findings=rows[RecordKind.FINDING], settings=SETTINGS, now=NOW)
    for family in FAMILIES:  # every family reads columns its kind declares
        from collectors.records import KINDS

        assert set(family.columns) <= set(KINDS[family.kind].columns), family.name


def test_supply_chain_settings_coverage_and_scorecard_mean() -> None:
    """sbom, pinned_actions, egress_control shares and the Scorecard mean (issue 17)."""
    derived = derive_records(repositories=[
        repo("api", sbom=True, pinned_actions=True, egress_control=True, scorecard_score=8),
        repo("web", sbom=True, pinned_actions=False, egress_control=False, scorecard_score=5),
        repo("lib", sbom=False, pinned_actions=True, scorecard_score=6),
        repo("new"),  # nothing read: in no share, no score
        repo("old", sbom=False, pinned_actions=False, scorecard_score=0, archived=True),
    ])
    q4 = derived.by_quarter[Q4]
    assert q4.get("devsecops_repository_coverage_ratio", setting="sbom") == pytest.approx(2 / 3)
    assert q4.get("devsecops_repository_coverage_ratio", setting="pinned_actions") == \
        pytest.approx(2 / 3)
    assert q4.get("devsecops_repository_coverage_ratio", setting="egress_control") == 0.5
    assert q4.get("devsecops_repository_scorecard_score_mean") == pytest.approx(19 / 3)
    assert derived.by_quarter[Q3].get("devsecops_repository_scorecard_score_mean") is None


def test_no_scorecard_scores_no_mean() -> None:
    derived = derive_records(repositories=[repo("api", sbom=True)])
    assert derived.by_quarter[Q4].get("devsecops_repository_scorecard_score_mean") is None
    assert derived.by_quarter[Q4].get("devsecops_repository_coverage_ratio",
                                      setting="pinned_actions") is None


def test_scorecard_mean_of_the_previous_quarter_from_dated_snapshots() -> None:
    derived = derive_records(repositories=[
        repo("api", scorecard_score=7, observed_at=at("2026-08-01")),
        repo("web", scorecard_score=4, observed_at=at("2026-09-01")),
        repo("api", scorecard_score=9),
    ])
    assert derived.by_quarter[Q3].get("devsecops_repository_scorecard_score_mean") == 5.5
    assert derived.by_quarter[Q4].get("devsecops_repository_scorecard_score_mean") == 9


def test_incidents_detected_within_bounds_over_those_with_a_known_start() -> None:
    derived = derive_records(incidents=[
        incident("2026-10-02T09:00", started="2026-10-02T08:00"),  # 1h exactly: within 1h
        incident("2026-10-05T06:00", started="2026-10-05T00:00"),  # 6h
        incident("2026-10-09T02:00", started="2026-10-07T00:00"),  # 50h
        incident("2026-11-01T00:00"),  # no start time: in neither side
        incident("2026-09-30T22:00", started="2026-09-30T19:00"),  # Q3: 3h
    ])
    q4, q3 = derived.by_quarter[Q4], derived.by_quarter[Q3]
    assert q4.series("devsecops_incidents_detected_within_ratio") == {
        (("within", "1h"),): pytest.approx(1 / 3),
        (("within", "4h"),): pytest.approx(1 / 3),
        (("within", "24h"),): pytest.approx(2 / 3),
    }
    assert q3.get("devsecops_incidents_detected_within_ratio", within="4h") == 1.0
    assert q3.get("devsecops_incidents_detected_within_ratio", within="1h") == 0.0
    empty = derive_records(incidents=[incident("2026-11-01T00:00")])
    assert empty.by_quarter[Q4].series("devsecops_incidents_detected_within_ratio") == {}


def test_two_families_of_one_kind_each_get_their_own_stream() -> None:
    """Internal reports read findings too, with other columns: rows go per family, so
    the findings family's rows never reach it (and its own do)."""
    from exporter.derive import derive_all

    opened = NOW.timestamp() - 86400 * 10
    findings_rows = [(0, 1, opened, opened + 86400 * 5, None)]
    internal_rows = [(opened, "internal_report"), (opened, "ticket")]
    derived = derive_all(rows={"findings": findings_rows, "internal_reports": internal_rows},
                         settings=SETTINGS, now=NOW)
    current = derived.by_quarter[Q4]
    assert current.get("vulnerability_mttr_days", severity="critical") == 5.0
    assert current.get("devsecops_internal_vulnerability_reports") == 1.0
    # the findings family's stream alone: no internal report is known, so none published
    alone = derive_all(rows={"findings": findings_rows}, settings=SETTINGS, now=NOW)
    assert alone.by_quarter[Q4].get("devsecops_internal_vulnerability_reports") is None
    with pytest.raises(TypeError, match="no family"):
        derive_all(rows={"no_such_family": []}, settings=SETTINGS, now=NOW)
