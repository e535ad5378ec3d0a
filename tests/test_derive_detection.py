"""Detection coverage and workload telemetry, derived by value (DESIGN definitions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from collectors.base import CollectionResult
from collectors.records import RecordKind
from collectors.records_detection import (
    DetectionRule,
    RuleKind,
    Telemetry,
    Workload,
    normalize_host,
)
from exporter.attack import AttackMatrix, Technique, load_matrix
from exporter.derive import derive_all, point_in_time_values
from exporter.derive.detection import (
    FAMILIES,
    derive_rules,
    rule_coverage,
    uncovered_by_tactic,
)
from exporter.store import Store
from tests.builders import NOW, SETTINGS, at

MATRIX = AttackMatrix(
    version="test",
    techniques={
        "T1001": Technique("T1001", "a", ("command-and-control",), ("Linux", "Windows")),
        "T1003": Technique("T1003", "b", ("credential-access",), ("Windows",)),
        "T1059": Technique("T1059", "c", ("execution",), ("Linux", "Windows", "macOS")),
        "T1078": Technique("T1078", "d", ("initial-access", "persistence"), ("IaaS",)),
        "T1110": Technique("T1110", "e", ("credential-access",), ("macOS",)),
    },
    retired=frozenset({"T1002"}),
    source={},
)
RULE_CODES = {"query": 0, "threshold": 1, "machine_learning": 2, "correlation": 3, "other": 4}


def rule(enabled: bool, *techniques: str, kind: str = "query") -> tuple:
    """A row as the store streams it: (enabled, kind code, techniques text)."""
    return (int(enabled), RULE_CODES[kind], " ".join(techniques) or None)


def stored(*records) -> Store:
    store = Store(":memory:")
    store.apply("test", CollectionResult(records={
        RecordKind.DETECTION_RULE: [r for r in records if isinstance(r, DetectionRule)],
        RecordKind.WORKLOAD: [r for r in records if isinstance(r, Workload)],
    }), NOW)
    return store


def derive_stored(store: Store, settings=SETTINGS, history=None):
    return derive_all(rows={f.name: store.iter_rows(f.kind, f.columns) for f in FAMILIES},
                      settings=settings, now=NOW, history=history)


def test_sub_technique_covers_its_otherwise_uncovered_parent() -> None:
    metrics = derive_rules([rule(True, "T1059.001"), rule(True, "T1001")], SETTINGS, MATRIX)
    assert metrics.get("devsecops_detection_attack_coverage_ratio") == 2 / 5


def test_revoked_unknown_and_malformed_ids_cover_nothing() -> None:
    metrics = derive_rules([rule(True, "T1002"), rule(True, "T9999"), rule(True, "TA0001"),
                            rule(True, "T1003")], SETTINGS, MATRIX)
    assert metrics.get("devsecops_detection_attack_coverage_ratio") == 1 / 5
    # They are still mapped rules: the ids are there, they just count for nothing.
    assert metrics.get("devsecops_detection_rules", state="enabled", mapped="true") == 4


def test_disabled_rules_do_not_cover_but_are_counted() -> None:
    metrics = derive_rules([rule(False, "T1059"), rule(False), rule(True, "T1003"),
                            rule(True), rule(True, "T1003.001", kind="machine_learning")],
                           SETTINGS, MATRIX)
    assert metrics.get("devsecops_detection_attack_coverage_ratio") == 1 / 5
    assert metrics.series("devsecops_detection_rules") == {
        (("mapped", "true"), ("state", "enabled")): 2,
        (("mapped", "false"), ("state", "enabled")): 1,
        (("mapped", "true"), ("state", "disabled")): 1,
        (("mapped", "false"), ("state", "disabled")): 1,
    }
    assert metrics.get("devsecops_detection_enabled_rules", kind="machine_learning") == 1
    assert metrics.get("devsecops_detection_enabled_rules", kind="query") == 2
    assert metrics.get("devsecops_detection_attack_info", version="test") == 1


def test_platform_narrowing_shrinks_the_denominator() -> None:
    rows = [rule(True, "T1059"), rule(True, "T1078")]
    windows = replace(SETTINGS, detection_platforms=("windows",))
    # In scope on Windows: T1001, T1003, T1059; T1078 (IaaS only) no longer counts.
    assert derive_rules(rows, windows, MATRIX).get(
        "devsecops_detection_attack_coverage_ratio") == 1 / 3
    assert derive_rules(rows, SETTINGS, MATRIX).get(
        "devsecops_detection_attack_coverage_ratio") == 2 / 5


def test_no_rules_means_no_coverage_value_but_disabled_ones_mean_zero() -> None:
    assert derive_rules([], SETTINGS, MATRIX).values == {}
    metrics = derive_rules([rule(False, "T1059")], SETTINGS, MATRIX)
    assert metrics.get("devsecops_detection_attack_coverage_ratio") == 0.0


def test_uncovered_techniques_are_listed_by_tactic() -> None:
    coverage = rule_coverage([rule(True, "T1003"), rule(True, "T1001.002")], SETTINGS, MATRIX)
    assert uncovered_by_tactic(coverage, MATRIX) == {
        "credential-access": ["T1110"],
        "execution": ["T1059"],
        "initial-access": ["T1078"],
        "persistence": ["T1078"],
    }


def test_coverage_through_the_store_against_the_bundled_matrix() -> None:
    store = stored(
        DetectionRule("r1", "elastic", True, RuleKind.QUERY, ("T1059.001", "T1059.003")),
        DetectionRule("r2", "elastic", True, RuleKind.THRESHOLD, ("T1110",)),
        DetectionRule("r3", "sentinel", False, RuleKind.QUERY, ("T1003",)),
        DetectionRule("r4", "sentinel", True, RuleKind.MACHINE_LEARNING, ("T1002",)),
    )
    derived = derive_stored(store)
    current = derived.by_quarter[derived.current.label]
    total = len(load_matrix().techniques)
    assert current.get("devsecops_detection_attack_coverage_ratio") == 2 / total
    assert current.get("devsecops_detection_attack_info", version="18.1") == 1
    assert current.get("devsecops_detection_rules", state="disabled", mapped="true") == 1


def test_without_snapshots_previous_quarter_coverage_comes_only_from_history() -> None:
    store = stored(DetectionRule("r1", "elastic", True, RuleKind.QUERY, ("T1059",)))
    history = {"2026-Q3": {("devsecops_detection_attack_coverage_ratio", ()): 0.25,
                           ("devsecops_detection_rules",
                            (("mapped", "true"), ("state", "enabled"))): 9.0}}
    derived = derive_stored(store, history=history)
    previous = derived.by_quarter["2026-Q3"]
    assert previous.values == {("devsecops_detection_attack_coverage_ratio", ()): 0.25}
    kept = point_in_time_values(derived)
    assert kept[("devsecops_detection_attack_coverage_ratio", ())] == 1 / 216
    assert ("devsecops_telemetry_coverage_ratio", ()) not in kept  # no workloads: absent


# -- dated snapshots (observed_at) give the previous quarter its coverage -------------------

AUG = at("2026-08-15")  # inside 2026-Q3


def test_a_snapshot_of_the_previous_quarter_gives_its_coverage() -> None:
    """A fresh install has a previous quarter for observability_detection (issue 10 (a))."""
    total = len(load_matrix().techniques)
    store = stored(
        DetectionRule("r1", "elastic", True, RuleKind.QUERY, ("T1059",)),
        DetectionRule("r2", "elastic", True, RuleKind.QUERY, ("T1110",)),
        DetectionRule("r1", "elastic", True, RuleKind.QUERY, ("T1059",), observed_at=AUG),
        DetectionRule("r2", "elastic", False, RuleKind.QUERY, ("T1110",), observed_at=AUG),
        Workload("web-1", "edr", "host", Telemetry.HEALTHY),
        Workload("db-1", "edr", "host", Telemetry.HEALTHY),
        Workload("web-1", "edr", "host", Telemetry.HEALTHY, observed_at=AUG),
        Workload("db-1", "edr", "host", Telemetry.NONE, observed_at=AUG),
    )
    derived = derive_stored(store)
    q3, q4 = derived.by_quarter["2026-Q3"], derived.by_quarter["2026-Q4"]
    assert q3.get("devsecops_detection_attack_coverage_ratio") == 1 / total
    assert q3.get("devsecops_detection_rules", state="disabled", mapped="true") == 1
    assert q3.get("devsecops_telemetry_coverage_ratio") == 0.5
    # the current quarter is today's state only: one row per rule, not per observation
    assert q4.get("devsecops_detection_attack_coverage_ratio") == 2 / total
    assert q4.get("devsecops_detection_rules", state="enabled", mapped="true") == 2
    assert q4.get("devsecops_telemetry_coverage_ratio") == 1.0
    assert point_in_time_values(derived)[("devsecops_telemetry_coverage_ratio", ())] == 1.0


def test_live_history_of_the_previous_quarter_wins_over_detection_snapshots() -> None:
    store = stored(
        DetectionRule("r1", "elastic", True, RuleKind.QUERY, ("T1059",)),
        DetectionRule("r1", "elastic", False, RuleKind.QUERY, ("T1059",), observed_at=AUG),
        Workload("web-1", "edr", "host", Telemetry.HEALTHY, observed_at=AUG),
    )
    history = {"2026-Q3": {("devsecops_detection_attack_coverage_ratio", ()): 0.25}}
    q3 = derive_stored(store, history=history).by_quarter["2026-Q3"]
    assert q3.get("devsecops_detection_attack_coverage_ratio") == 0.25  # seen live
    # what the history lacks, the snapshot fills
    assert q3.get("devsecops_telemetry_coverage_ratio") == 1.0
    assert q3.get("devsecops_detection_rules", state="disabled", mapped="true") == 1


def test_a_snapshot_after_now_or_of_an_older_quarter_leaves_the_previous_one_absent() -> None:
    store = stored(
        DetectionRule("r1", "elastic", True, RuleKind.QUERY, ("T1059",)),
        DetectionRule("r1", "elastic", False, RuleKind.QUERY, ("T1059",),
                      observed_at=at("2026-06-30T23:00")),  # Q2: not carried forward
        DetectionRule("r2", "elastic", True, RuleKind.QUERY, ("T1110",),
                      observed_at=NOW + timedelta(minutes=1)),  # not observed yet
        Workload("web-1", "edr", "host", Telemetry.HEALTHY,
                 observed_at=NOW + timedelta(days=1)),
    )
    derived = derive_stored(store)
    assert derived.by_quarter["2026-Q3"].values == {}
    current = derived.by_quarter["2026-Q4"]
    assert current.get("devsecops_detection_rules", state="enabled", mapped="true") == 1
    assert current.get("devsecops_telemetry_coverage_ratio") is None


def test_telemetry_joins_sources_by_normalized_host_and_best_state_wins() -> None:
    store = stored(
        # inventory (cloud posture, a file) knows three workloads, telemetry unknown
        Workload("WEB-1.corp.example", "inventory", "vm"),
        Workload("db-1", "inventory", "vm"),
        Workload("i-0abc123", "inventory", "vm"),
        # the agent sources report two of them and one more
        Workload("web-1", "fleet", "host", Telemetry.UNHEALTHY),
        Workload("web-1.corp.example.", "defender", "host", Telemetry.HEALTHY),
        Workload("db-1", "fleet", "host", Telemetry.UNHEALTHY),
        Workload("build-7", "fleet", "host", Telemetry.HEALTHY),
    )
    derived = derive_stored(store)
    current = derived.by_quarter[derived.current.label]
    # Four workloads: web-1 healthy (one healthy agent is enough), db-1 unhealthy,
    # i-0abc123 unknown (nobody watches it), build-7 healthy.
    assert current.get("devsecops_telemetry_coverage_ratio") == 2 / 4
    assert current.series("devsecops_telemetry_workloads") == {
        (("telemetry", "healthy"),): 2, (("telemetry", "unhealthy"),): 1,
        (("telemetry", "none"),): 0, (("telemetry", "unknown"),): 1,
    }
    assert current.get("devsecops_detection_attack_coverage_ratio") is None


@pytest.mark.parametrize(("given", "key"), [
    ("WEB-1.corp.example.", "web-1"), ("web-1", "web-1"), ("i-0ABC123", "i-0abc123"),
    ("10.0.0.5", "10.0.0.5"),
])
def test_workload_join_key(given: str, key: str) -> None:
    assert normalize_host(given) == key


def test_a_rule_with_a_malformed_technique_id_is_rejected_where_it_is_read() -> None:
    with pytest.raises(ValueError, match="ATT&CK ids"):
        DetectionRule("r", "file", True, techniques=("t1059",))
