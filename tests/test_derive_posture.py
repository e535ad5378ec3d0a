"""Cloud posture metrics, derived by value (DESIGN, "Measuring every domain")."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from collectors.base import CollectionResult
from collectors.records import RecordKind, Severity
from collectors.records_posture import PostureResult, PostureStatus, Provider
from exporter.derive import derive_all, point_in_time_values
from exporter.derive.common import DAY
from exporter.derive.posture import FAMILY
from exporter.store import Store
from tests.builders import NOW, SETTINGS, at, finding

_ids = iter(range(1, 10**9))


def result(resource: str, status: str = "fail", *, account: str = "111",
           frameworks: tuple[str, ...] = ("cis",), severity: str = "high",
           service: str | None = "s3", muted: bool = False,
           first: datetime | str = "2026-11-20", last: datetime | str | None = None,
           resolved: datetime | str | None = None,
           provider: str = "aws") -> PostureResult:
    first_at = first if isinstance(first, datetime) else at(first)
    resolved_at = resolved if isinstance(resolved, datetime) or resolved is None \
        else at(resolved)
    last_at = (last if isinstance(last, datetime) else at(last)) if last is not None \
        else (resolved_at or NOW - timedelta(hours=1))
    return PostureResult(
        id=f"r{next(_ids)}", source="prowler", provider=Provider(provider),
        account=account, resource=resource, check="s3_bucket_public", service=service,
        severity=Severity(severity), status=PostureStatus(status), muted=muted,
        frameworks=frameworks, first_seen_at=first_at, last_seen_at=last_at,
        resolved_at=resolved_at)


def derive(*records: PostureResult, settings=SETTINGS, now=NOW, history=None,
           findings=()):
    store = Store(":memory:")
    store.apply("prowler", CollectionResult(records={
        RecordKind.POSTURE_RESULT: list(records), RecordKind.FINDING: list(findings)}), now)
    rows = {FAMILY.kind: store.iter_rows(FAMILY.kind, FAMILY.columns),
            RecordKind.FINDING: store.iter_rows(RecordKind.FINDING, (
                "severity", "state", "opened_at", "resolved_at", "disclosed_at"))}
    return derive_all(rows=rows, settings=settings, now=now, history=history)


def current(derived):
    return derived.by_quarter[derived.current.label]


def test_resources_passing_ratio_by_framework_counts_resources_not_results() -> None:
    derived = current(derive(
        # bucket-a: one pass and one fail of cis -> failing; passes nist only
        result("bucket-a", "pass", frameworks=("cis", "nist")),
        result("bucket-a", "fail", frameworks=("cis",)),
        # bucket-b: two passes -> passing in cis and pci
        result("bucket-b", "pass", frameworks=("cis", "pci")),
        result("bucket-b", "pass", frameworks=("cis",)),
        # bucket-c: its only failure is muted -> counts as neither: not in cis at all
        result("bucket-c", "fail", frameworks=("cis",), muted=True),
        # bucket-d: manual -> neither
        result("bucket-d", "manual", frameworks=("cis",)),
        # bucket-e: failed, then disappeared from a complete scan: gone, not a resource
        result("bucket-e", "fail", first="2026-11-01", resolved="2026-11-10"),
        # bucket-f: failed, then passed: present and passing
        result("bucket-f", "pass", first="2026-11-01", resolved="2026-11-10",
               last=NOW - timedelta(hours=1)),
        # the same resource name in another account is another resource
        result("bucket-a", "fail", account="222", frameworks=("cis",)),
        # a family outside the configured set is never a label value
        result("bucket-g", "fail", frameworks=("kisa",)),
    ))
    assert derived.series("devsecops_cloud_resources_passing_ratio") == {
        (("framework", "cis"),): 2 / 4,  # b, f pass; a@111, a@222 fail
        (("framework", "nist"),): 1.0,
        (("framework", "pci"),): 1.0,
    }


def test_iam_resources_passing_ratio_uses_the_identity_services_only() -> None:
    derived = current(derive(
        result("role/admin", "fail", service="iam"),
        result("role/admin", "pass", service="iam"),
        result("role/reader", "pass", service="iam"),
        result("user/app", "pass", service="entra", provider="azure"),
        result("bucket", "fail", service="s3"),
        result("role/muted", "fail", service="iam", muted=True),
    ))
    assert derived.get("devsecops_cloud_iam_resources_passing_ratio") == 2 / 3


def test_no_posture_results_means_every_cloud_metric_is_absent() -> None:
    derived = derive()
    for metrics in derived.by_quarter.values():
        assert not [k for k in metrics.values if k[0].startswith("devsecops_cloud_")]


def test_open_findings_by_severity_skip_muted_manual_passing_and_resolved() -> None:
    derived = current(derive(
        result("a", "fail", severity="critical"),
        result("b", "fail", severity="critical"),
        result("c", "fail", severity="critical", muted=True),
        result("d", "fail", severity="low"),
        result("e", "fail", severity="low", first="2026-11-01", resolved="2026-11-05"),
        result("f", "pass", severity="high"),
        result("g", "manual", severity="medium"),
    ))
    assert derived.series("devsecops_cloud_posture_open_findings") == {
        (("severity", "critical"),): 2, (("severity", "high"),): 0,
        (("severity", "medium"),): 0, (("severity", "low"),): 1,
    }


def test_posture_sla_compliance_at_the_boundaries() -> None:
    """critical SLA is 7 days: resolved at exactly 7 days is within, a second later not."""
    first = at("2026-11-01")
    derived = current(derive(
        result("in", "pass", severity="critical", first=first,
               resolved=first + timedelta(days=7), last=NOW),
        result("late", "pass", severity="critical", first=first,
               resolved=first + timedelta(days=7, seconds=1), last=NOW),
        # open past due (opened more than 7 days before now)
        result("overdue", "fail", severity="critical", first=NOW - timedelta(days=7, seconds=1)),
        # open and due exactly now: not past due, counts neither way
        result("due-now", "fail", severity="critical", first=NOW - timedelta(days=7)),
        # resolved before the 90-day window: out of the window
        result("old", "pass", severity="critical", first=NOW - timedelta(days=100),
               resolved=NOW - timedelta(days=91), last=NOW),
    ))
    assert derived.get("devsecops_cloud_posture_sla_compliance_ratio",
                       severity="critical") == 1 / 3
    assert derived.get("devsecops_cloud_posture_open_past_sla_findings",
                       severity="critical") == 1
    assert derived.get("devsecops_cloud_posture_sla_compliance_ratio", severity="high") is None


def test_posture_sla_days_come_from_cloud_sla_not_the_vulnerability_sla() -> None:
    from dataclasses import replace
    settings = replace(SETTINGS, cloud_sla_days={"critical": 1, "high": 30, "medium": 90,
                                                 "low": 180})
    first = at("2026-11-01")
    derived = current(derive(
        result("x", "pass", severity="critical", first=first,
               resolved=first + timedelta(days=2), last=NOW), settings=settings))
    assert derived.get("devsecops_cloud_posture_sla_compliance_ratio",
                       severity="critical") == 0.0


def test_mttr_seconds_by_severity_and_quarter() -> None:
    derived = derive(
        # resolved in Q4 (current): 2 days and 4 days -> mean 3 days
        result("a", "pass", severity="high", first="2026-11-01", resolved="2026-11-03",
               last=NOW),
        result("b", "fail", severity="high", first="2026-11-01", resolved="2026-11-05"),
        # resolved in Q3 (previous): 10 days
        result("c", "pass", severity="high", first="2026-08-01", resolved="2026-08-11",
               last=NOW),
        # muted results are not remediations
        result("d", "pass", severity="high", first="2026-11-01", resolved="2026-11-21",
               last=NOW, muted=True),
    )
    assert derived.by_quarter["2026-Q4"].series("devsecops_cloud_posture_mttr_seconds") == {
        (("severity", "high"),): 3 * DAY}
    assert derived.by_quarter["2026-Q3"].series("devsecops_cloud_posture_mttr_seconds") == {
        (("severity", "high"),): 10 * DAY}


def test_previous_quarter_open_findings_are_as_of_its_end() -> None:
    derived = derive(
        # failing since August, resolved in November: open at the end of Q3
        result("a", "pass", severity="medium", first="2026-08-01", resolved="2026-11-03",
               last=NOW),
        # first seen in Q4: not open in Q3
        result("b", "fail", severity="medium", first="2026-10-05"),
    )
    q3 = derived.by_quarter["2026-Q3"]
    assert q3.get("devsecops_cloud_posture_open_findings", severity="medium") == 1
    assert current(derived).get("devsecops_cloud_posture_open_findings",
                                severity="medium") == 1


def test_accounts_scanned_ratio_with_scan_max_age_and_30_day_window() -> None:
    derived = current(derive(
        result("a", "pass", account="fresh", last=NOW - timedelta(hours=23, minutes=59)),
        result("b", "pass", account="edge", last=NOW - timedelta(hours=24)),  # not younger
        result("c", "pass", account="stale", last=NOW - timedelta(days=3),
               first="2026-11-01"),
        result("d", "pass", account="gone", last=NOW - timedelta(days=30),
               first="2026-10-01"),  # not seen in the last 30 days
        # an account's newest result counts, whatever its status
        result("e", "manual", account="stale2", last=NOW - timedelta(days=2),
               first="2026-11-01"),
        result("f", "fail", account="stale2", last=NOW - timedelta(hours=1),
               first="2026-11-01", muted=True),
    ))
    # seen in 30 days: fresh, edge, stale, stale2 -> scanned: fresh, stale2
    assert derived.get("devsecops_cloud_accounts_scanned_ratio") == 2 / 4


def test_scan_max_age_is_configurable() -> None:
    from dataclasses import replace
    settings = replace(SETTINGS, cloud_scan_max_age=timedelta(days=7))
    derived = current(derive(
        result("c", "pass", account="stale", last=NOW - timedelta(days=3), first="2026-11-01"),
        settings=settings))
    assert derived.get("devsecops_cloud_accounts_scanned_ratio") == 1.0


def test_point_in_time_ratios_keep_their_history_for_the_previous_quarter() -> None:
    derived = derive(result("a", "pass"))
    history = {"2026-Q3": dict(point_in_time_values(derived))}
    assert ("devsecops_cloud_resources_passing_ratio", (("framework", "cis"),)) in history[
        "2026-Q3"]
    later = derive(result("a", "fail"), history=history)
    q3 = later.by_quarter["2026-Q3"]
    assert q3.get("devsecops_cloud_resources_passing_ratio", framework="cis") == 1.0
    assert q3.get("devsecops_cloud_accounts_scanned_ratio") == 1.0
    assert current(later).get("devsecops_cloud_resources_passing_ratio",
                              framework="cis") == 0.0


# -- dated snapshots (observed_at) give the previous quarter its ratios ---------------------

AUG = at("2026-08-15")  # inside 2026-Q3


def snapshot(record: PostureResult, when: datetime = AUG, **changes) -> PostureResult:
    """The same result (same id) as a CSPM export dated ``when`` reported it."""
    from dataclasses import replace
    return replace(record, observed_at=when, **changes)


def test_a_snapshot_of_the_previous_quarter_gives_its_ratios_as_of_then() -> None:
    """A fresh install has a previous quarter for cloud_infrastructure (issue 10 (a))."""
    a = result("a", "pass", account="111", service="iam", first="2026-05-01")
    b = result("b", "pass", account="222", first="2026-05-01")
    records = [
        a, b,
        # in August, b was failing and account 222's newest scan was three days old; both
        # are judged as of the snapshot, not by how old that scan is now
        snapshot(a, last_seen_at=AUG - timedelta(hours=2)),
        snapshot(b, status=PostureStatus.FAIL, first_seen_at=at("2026-08-01"),
                 last_seen_at=AUG - timedelta(days=3)),
    ]
    derived = derive(*records)
    q3, q4 = derived.by_quarter["2026-Q3"], current(derived)
    assert q3.get("devsecops_cloud_resources_passing_ratio", framework="cis") == 0.5
    assert q3.get("devsecops_cloud_iam_resources_passing_ratio") == 1.0
    assert q3.get("devsecops_cloud_accounts_scanned_ratio") == 0.5
    assert q4.get("devsecops_cloud_resources_passing_ratio", framework="cis") == 1.0
    assert q4.get("devsecops_cloud_accounts_scanned_ratio") == 1.0
    # the lifecycle (open counts, SLA, MTTR) is the current results' only: the failing
    # snapshot row is no open finding of either quarter
    assert q3.get("devsecops_cloud_posture_open_findings", severity="high") is None
    assert q4.get("devsecops_cloud_posture_open_findings", severity="high") is None
    assert point_in_time_values(derived)[("devsecops_cloud_accounts_scanned_ratio", ())] \
        == 1.0


def test_live_history_of_the_previous_quarter_wins_over_posture_snapshots() -> None:
    a = result("a", "pass", first="2026-05-01")
    history = {"2026-Q3": {("devsecops_cloud_accounts_scanned_ratio", ()): 0.8}}
    q3 = derive(a, snapshot(a, status=PostureStatus.FAIL, last_seen_at=AUG - timedelta(hours=1)),
                history=history).by_quarter["2026-Q3"]
    assert q3.get("devsecops_cloud_accounts_scanned_ratio") == 0.8  # seen live, not 1.0
    # what the history lacks, the snapshot fills
    assert q3.get("devsecops_cloud_resources_passing_ratio", framework="cis") == 0.0


def test_a_posture_snapshot_after_now_or_of_an_older_quarter_is_not_used() -> None:
    a = result("a", "pass", first="2026-05-01")
    derived = derive(a, snapshot(a, when=at("2026-06-30T23:00"), last_seen_at=at("2026-06-30")),
                     snapshot(a, when=NOW + timedelta(hours=1), status=PostureStatus.FAIL))
    q3 = derived.by_quarter["2026-Q3"]
    assert q3.get("devsecops_cloud_resources_passing_ratio", framework="cis") is None
    assert q3.get("devsecops_cloud_accounts_scanned_ratio") is None
    assert current(derived).get("devsecops_cloud_resources_passing_ratio",
                                framework="cis") == 1.0


def test_a_snapshot_holds_no_scan_made_after_it() -> None:
    with pytest.raises(ValueError, match="observed_at is before last_seen_at"):
        snapshot(result("a", "pass", first="2026-05-01", last=at("2026-08-20")))
    with pytest.raises(ValueError, match="observed_at must be after 1970-01-01"):
        snapshot(result("a", "pass", first="1969-01-01", last="1969-06-01"),
                 when=at("1970-01-01"))


def test_posture_failures_never_enter_vulnerability_metrics() -> None:
    vulnerability = finding("2026-11-01", severity="critical", fixed_after_days=2)
    derived = current(derive(
        result("a", "fail", severity="critical", first="2026-10-01"),
        result("b", "pass", severity="critical", first="2026-11-01", resolved="2026-11-20",
               last=NOW),
        findings=[vulnerability]))
    assert derived.get("vulnerability_mttr_days", severity="critical") == 2.0
    assert derived.get("vulnerability_sla_compliance_pct", severity="critical") == 100.0
    assert derived.get("devsecops_vulnerability_open_findings", severity="critical") == 0
    assert derived.get("devsecops_cloud_posture_open_findings", severity="critical") == 1


@pytest.mark.parametrize("bad", [
    {"first": "2026-11-10", "resolved": "2026-11-01"},
    {"status": "manual", "resolved": "2026-11-21"},
    {"frameworks": ("CIS 1.4",)},
])
def test_records_that_break_an_invariant_are_rejected(bad: dict) -> None:
    status = bad.pop("status", "fail")
    with pytest.raises(ValueError):
        result("a", status, **bad)


def test_result_round_trips_through_the_store() -> None:
    record = result("a", "pass", frameworks=("cis", "pci"), first="2026-11-01",
                    resolved="2026-11-02", last=NOW)
    store = Store(":memory:")
    store.apply("prowler", CollectionResult(records={RecordKind.POSTURE_RESULT: [record]}),
                NOW)
    assert list(store.decode_rows(RecordKind.POSTURE_RESULT)) == [record]
