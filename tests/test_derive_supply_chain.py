"""Supply chain and security culture derivation, through the real store path, by value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collectors.base import CollectionResult
from collectors.records import RecordKind
from collectors.records_supply_chain import Artifact, TrainingRecord
from exporter.derive import derive_all
from exporter.derive.registry import FAMILIES
from exporter.derive.training import INTERNAL_REPORTS_FAMILY, derive_internal_reports
from exporter.quarters import previous_quarter, quarter_of
from exporter.store import Store
from tests.builders import NOW, SETTINGS, at, finding

Q4, Q3 = "2026-Q4", "2026-Q3"
_ids = iter(range(1, 10**6))


def artifact(created: str, *, attested: bool | None = None, level: int | None = None,
             sbom: bool | None = None, repository: str = "acme/api") -> Artifact:
    return Artifact(id=f"sha256:{next(_ids):064x}", source="test", repository=repository,
                    created_at=at(created), attested=attested, slsa_build_level=level,
                    sbom=sbom)


def training(person: str, completed: str | None = None, *, in_scope: bool = True,
             course: str = "Secure coding") -> TrainingRecord:
    return TrainingRecord(id=f"T-{next(_ids)}", source="test", person=person,
                          in_scope=in_scope, course=course,
                          completed_at=at(completed) if completed else None)


def derive(records: list[object], *, now=NOW, history=None):
    store = Store(":memory:")
    store.apply("test", CollectionResult(
        artifacts=[r for r in records if isinstance(r, Artifact)],
        training_records=[r for r in records if isinstance(r, TrainingRecord)]), now)
    rows = {family.name: store.iter_rows(family.kind, family.columns)
            for family in FAMILIES if family.kind in (RecordKind.ARTIFACT,
                                                      RecordKind.TRAINING_RECORD)}
    return derive_all(rows=rows, settings=SETTINGS, now=now, history=history)


# -- artifacts ------------------------------------------------------------------------


def test_attested_ratio_per_quarter_over_known_status() -> None:
    derived = derive([
        artifact("2026-10-02", attested=True, level=2),
        artifact("2026-11-01", attested=True, level=3),
        artifact("2026-11-02", attested=False, level=0),
        artifact("2026-11-03"),  # private repository without GHEC: unknown, not unsigned
        artifact("2026-08-01", attested=False, level=0),
        artifact("2026-09-30T23:59", attested=True, level=2),
        artifact("2026-12-01", attested=True),  # after now: not counted yet
    ])
    q4, q3 = derived.by_quarter[Q4], derived.by_quarter[Q3]
    assert q4.get("devsecops_supply_chain_attested_artifacts_ratio") == pytest.approx(2 / 3)
    assert q3.get("devsecops_supply_chain_attested_artifacts_ratio") == pytest.approx(1 / 2)
    assert q4.get("devsecops_supply_chain_artifacts", attested="yes") == 2
    assert q4.get("devsecops_supply_chain_artifacts", attested="no") == 1
    assert q4.get("devsecops_supply_chain_artifacts", attested="unknown") == 1
    assert q3.get("devsecops_supply_chain_artifacts", attested="unknown") == 0


def test_slsa_build_level_ratio_is_at_that_level_or_above() -> None:
    derived = derive([
        artifact("2026-10-05", attested=False, level=0),
        artifact("2026-10-06", attested=False, level=1),
        artifact("2026-10-07", attested=True, level=2),
        artifact("2026-10-08", attested=True, level=3),
        artifact("2026-10-09", attested=True),  # level unknown: in no share
    ])
    q4 = derived.by_quarter[Q4]
    ratio = q4.series("devsecops_supply_chain_slsa_build_level_ratio")
    assert ratio == {(("level", "1"),): 0.75, (("level", "2"),): 0.5,
                     (("level", "3"),): 0.25}
    assert q4.get("devsecops_supply_chain_attested_artifacts_ratio") == pytest.approx(3 / 5)
    # nothing built in the previous quarter: no values at all
    assert derived.by_quarter[Q3].values == {}


def test_sbom_share_over_artifacts_with_known_sbom_status() -> None:
    derived = derive([
        artifact("2026-10-05", sbom=True),
        artifact("2026-10-06", sbom=False),
        artifact("2026-10-07", sbom=True),
        artifact("2026-10-08"),
    ])
    q4 = derived.by_quarter[Q4]
    assert q4.get("devsecops_supply_chain_sbom_artifacts_ratio") == pytest.approx(2 / 3)
    # only unknown attestation status: counts, but no attested ratio
    assert q4.get("devsecops_supply_chain_attested_artifacts_ratio") is None
    assert q4.get("devsecops_supply_chain_artifacts", attested="unknown") == 4
    assert q4.get("devsecops_supply_chain_slsa_build_level_ratio", level="1") is None


def test_no_artifacts_no_supply_chain_values() -> None:
    derived = derive([])
    for quarter in (Q3, Q4):
        assert not [k for k in derived.by_quarter[quarter].values
                    if k[0].startswith("devsecops_supply_chain_")]


def test_artifact_invariants() -> None:
    with pytest.raises(ValueError, match="slsa_build_level"):
        artifact("2026-10-01", level=4)
    with pytest.raises(ValueError, match="provenance attestation"):
        artifact("2026-10-01", attested=False, level=2)
    with pytest.raises(ValueError, match="repository"):
        artifact("2026-10-01", repository="")


# -- training -------------------------------------------------------------------------


def test_training_completion_over_in_scope_people_in_the_last_365_days() -> None:
    # NOW = 2026-11-23T12:00Z; 365 days before is 2025-11-23T12:00Z
    derived = derive([
        training("p1", "2026-03-01"),
        training("p1", "2024-01-01", course="old"),  # one person counts once
        training("p2", "2025-11-23T12:00"),  # exactly 365 days ago: expired
        training("p2", None, course="enrolled"),
        training("p3", "2025-11-23T12:01"),  # just inside the year
        training("p4"),  # enrolled, never completed
        training("p5", "2026-10-10", in_scope=False),  # outside the population
        training("p6", "2026-11-24"),  # completed after now: not yet
    ])
    q4, q3 = derived.by_quarter[Q4], derived.by_quarter[Q3]
    # in scope: p1 p2 p3 p4 p6; completed within the year as of now: p1 p3
    assert q4.get("devsecops_training_completion_ratio") == pytest.approx(2 / 5)
    # as of the Q3 end (2026-10-01T00:00Z) over today's population: p1 p2 p3 (p2's
    # completion was still within its year then)
    assert q3.get("devsecops_training_completion_ratio") == pytest.approx(3 / 5)


def test_previous_quarter_training_completion_comes_from_history_first() -> None:
    history = {Q3: {("devsecops_training_completion_ratio", ()): 0.9}}
    derived = derive([training("p1", "2026-11-01"), training("p2")], history=history)
    assert derived.by_quarter[Q3].get("devsecops_training_completion_ratio") == 0.9
    assert derived.by_quarter[Q4].get("devsecops_training_completion_ratio") == 0.5


def test_previous_quarter_training_is_as_of_its_end() -> None:
    derived = derive([training("p1", "2026-10-15"), training("p2", "2026-09-15")])
    assert derived.by_quarter[Q3].get("devsecops_training_completion_ratio") == 0.5
    assert derived.by_quarter[Q4].get("devsecops_training_completion_ratio") == 1.0


def test_no_in_scope_people_no_training_ratio() -> None:
    derived = derive([training("p1", "2026-11-01", in_scope=False)])
    assert derived.by_quarter[Q4].get("devsecops_training_completion_ratio") is None


def test_training_completion_is_kept_as_history() -> None:
    from exporter.derive import HISTORY_METRICS

    assert "devsecops_training_completion_ratio" in HISTORY_METRICS
    assert "devsecops_repository_scorecard_score_mean" in HISTORY_METRICS
    assert "devsecops_supply_chain_attested_artifacts_ratio" not in HISTORY_METRICS


# -- internal vulnerability reports ---------------------------------------------------


def _internal_reports(findings: list[object], now=NOW):
    store = Store(":memory:")
    store.apply("test", CollectionResult(findings=findings), now)
    current = quarter_of(now)
    quarters = (previous_quarter(current), current)
    rows = store.iter_rows(RecordKind.FINDING, INTERNAL_REPORTS_FAMILY.columns)
    return derive_internal_reports(rows, now, quarters)


def test_internal_reports_are_findings_of_that_category_opened_in_the_quarter() -> None:
    sets = _internal_reports([
        finding("2026-10-01", category="internal_report"),
        finding("2026-11-20", category="internal_report", fixed_after_days=1),
        finding("2026-11-21", category="internal_report", state="dismissed",
                resolved="2026-11-22", dismissed_reason="duplicate"),
        finding("2026-09-30T23:59", category="internal_report"),
        finding("2026-11-22"),  # a scanner's finding: not a report
        finding("2026-11-22", category="pentest"),
        finding("2026-06-30", category="internal_report"),  # before both quarters
        finding("2026-11-24", category="internal_report"),  # after now
    ])
    assert sets[Q4].get("devsecops_internal_vulnerability_reports") == 3
    assert sets[Q3].get("devsecops_internal_vulnerability_reports") == 1


def test_no_internal_report_source_means_absent_not_zero() -> None:
    sets = _internal_reports([finding("2026-11-01"), finding("2026-08-01")])
    assert sets[Q4].get("devsecops_internal_vulnerability_reports") is None
    assert sets[Q3].get("devsecops_internal_vulnerability_reports") is None


def test_a_quarter_without_reports_is_zero_once_a_source_reports() -> None:
    sets = _internal_reports([finding("2026-08-01", category="internal_report")],
                             now=NOW + timedelta(days=1))
    assert sets[Q4].get("devsecops_internal_vulnerability_reports") == 0
    assert sets[Q3].get("devsecops_internal_vulnerability_reports") == 1
