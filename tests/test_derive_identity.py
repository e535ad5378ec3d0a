"""Identity and access derivation: every devsecops_identity_* metric, by exact value.

Records are built as collectors build them, encoded as the store encodes them, and
derived through ``derive_all`` (one test goes through a real store), so the columns a
family declares, the stored codes and the definitions are checked together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.base import CollectionResult
from collectors.records import KINDS, RecordKind
from collectors.records_identity import (
    AccessReview,
    AccountKind,
    Application,
    AssignmentType,
    IdentityAccount,
    MfaStatus,
    Offboarding,
    PrivilegedAssignment,
    ReviewScope,
    SignOn,
    pseudonym,
)
from exporter.derive import DerivationSettings, derive_all
from exporter.derive.identity import FAMILIES
from exporter.derive.registry import HISTORY_METRICS, point_in_time_values
from exporter.store import Store

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)  # 2026-Q4; previous 2026-Q3
Q3_END = datetime(2026, 10, 1, tzinfo=UTC)
HOUR = 3600.0
SETTINGS = DerivationSettings(sla_days={"critical": 7, "high": 30, "medium": 90, "low": 120})
FAMILY_OF = {f.kind: f for f in FAMILIES}


def _rows(records: list[Any]) -> dict[RecordKind, list[tuple[Any, ...]]]:
    """The rows the store would stream for each record's family, in its column order."""
    by_kind: dict[RecordKind, list[tuple[Any, ...]]] = {}
    for record in records:
        kind = next(k for k, s in KINDS.items() if s.cls is type(record))
        spec = KINDS[kind]
        encoded = dict(zip(spec.columns, spec.encode(record, "c", 1), strict=True))
        by_kind.setdefault(kind, []).append(
            tuple(encoded[c] for c in FAMILY_OF[kind].columns))
    return by_kind


def _derive(records: list[Any], settings: DerivationSettings = SETTINGS,
            now: datetime = NOW, history: dict | None = None) -> Any:
    return derive_all(rows=_rows(records), settings=settings, now=now, history=history)


def _current(records: list[Any], **kwargs: Any) -> Any:
    derived = _derive(records, **kwargs)
    return derived.by_quarter[derived.current.label]


def account(n: int, kind: AccountKind = AccountKind.HUMAN, *, active: bool = True,
            privileged: bool | None = False, mfa: MfaStatus = MfaStatus.CAPABLE,
            static: bool | None = None) -> IdentityAccount:
    return IdentityAccount(id=pseudonym("tenant", str(n)), source="entra", kind=kind,
                           active=active, privileged=privileged, mfa=mfa,
                           static_credential=static)


def assignment(n: int, kind: AssignmentType, break_glass: bool = False
               ) -> PrivilegedAssignment:
    return PrivilegedAssignment(id=f"a{n}", source="entra", principal=f"p{n}",
                                role="Global Administrator", assignment=kind,
                                break_glass=break_glass)


def offboarding(n: int, left: datetime, removed: datetime | None) -> Offboarding:
    return Offboarding(id=f"o{n}", source="hr", left_at=left, access_removed_at=removed)


# -- MFA coverage -------------------------------------------------------------------------

def test_mfa_coverage_over_known_active_humans_all_and_privileged() -> None:
    records = [
        account(1), account(2), account(3, mfa=MfaStatus.NOT_CAPABLE),
        account(4, mfa=MfaStatus.UNKNOWN),  # unknown: in neither part
        account(5, privileged=True), account(6, privileged=True, mfa=MfaStatus.NOT_CAPABLE),
        account(7, privileged=True, mfa=MfaStatus.UNKNOWN),
        account(8, privileged=None),  # privilege unknown: counts in "all" only
        account(9, active=False, mfa=MfaStatus.NOT_CAPABLE),  # disabled: nowhere
        account(10, AccountKind.GUEST, mfa=MfaStatus.NOT_CAPABLE),  # guests: not by default
        account(11, AccountKind.WORKLOAD, mfa=MfaStatus.NOT_CAPABLE),  # never a human
    ]
    metrics = _current(records)
    # all: capable 1, 2, 5, 8 of known 1, 2, 3, 5, 6, 8
    assert metrics.get("devsecops_identity_mfa_coverage_ratio", scope="all") == 4 / 6
    assert metrics.get("devsecops_identity_mfa_coverage_ratio", scope="privileged") == 0.5


def test_guests_count_in_mfa_coverage_only_when_configured() -> None:
    records = [account(1), account(2, AccountKind.GUEST, mfa=MfaStatus.NOT_CAPABLE)]
    assert _current(records).get("devsecops_identity_mfa_coverage_ratio", scope="all") == 1.0
    with_guests = DerivationSettings(sla_days=SETTINGS.sla_days, identity_count_guests=True)
    assert _current(records, settings=with_guests).get(
        "devsecops_identity_mfa_coverage_ratio", scope="all") == 0.5


def test_mfa_coverage_is_absent_when_no_status_is_known() -> None:
    metrics = _current([account(1, mfa=MfaStatus.UNKNOWN),
                        account(2, privileged=True, mfa=MfaStatus.UNKNOWN)])
    assert metrics.series("devsecops_identity_mfa_coverage_ratio") == {}
    # no privileged human with a known status: only the "all" scope is published
    metrics = _current([account(1)])
    assert metrics.get("devsecops_identity_mfa_coverage_ratio", scope="privileged") is None
    assert metrics.get("devsecops_identity_mfa_coverage_ratio", scope="all") == 1.0


# -- workload static credentials -----------------------------------------------------------

def test_workload_static_credential_ratio_over_known_active_workloads() -> None:
    records = [
        account(1, AccountKind.WORKLOAD, static=True),
        account(2, AccountKind.WORKLOAD, static=False),
        account(3, AccountKind.WORKLOAD, static=False),
        account(4, AccountKind.WORKLOAD, static=False),
        account(5, AccountKind.WORKLOAD, static=None),  # unreadable: neither part
        account(6, AccountKind.WORKLOAD, active=False, static=True),  # disabled
        account(7, static=True),  # a human's password is not a workload secret
    ]
    metrics = _current(records)
    assert metrics.get("devsecops_identity_workload_static_credential_ratio") == 0.25
    assert _current([account(1, AccountKind.WORKLOAD)]).get(
        "devsecops_identity_workload_static_credential_ratio") is None


# -- SSO coverage ---------------------------------------------------------------------------

def app(n: int, sign_on: SignOn, *, production: bool = False, active: bool = True
        ) -> Application:
    return Application(id=f"app{n}", source="entra", active=active, production=production,
                       sign_on=sign_on)


def test_sso_coverage_counts_production_applications_when_any_is_marked() -> None:
    records = [
        app(1, SignOn.FEDERATED, production=True),
        app(2, SignOn.FEDERATED, production=True),
        app(3, SignOn.PASSWORD, production=True),
        app(4, SignOn.UNKNOWN, production=True),  # unknown: neither part
        app(5, SignOn.NONE, production=True),  # known, and not through the IdP
        app(6, SignOn.PASSWORD),  # not production: not counted
        app(7, SignOn.PASSWORD, production=True, active=False),  # inactive
    ]
    assert _current(records).get("devsecops_identity_sso_coverage_ratio") == 0.5


def test_sso_coverage_counts_all_active_applications_when_none_is_production() -> None:
    records = [app(1, SignOn.FEDERATED), app(2, SignOn.FEDERATED), app(3, SignOn.PASSWORD),
               app(4, SignOn.PASSWORD, active=False), app(5, SignOn.UNKNOWN)]
    assert _current(records).get("devsecops_identity_sso_coverage_ratio") == 2 / 3
    # an inactive production application does not switch to the production scope
    records.append(app(6, SignOn.PASSWORD, production=True, active=False))
    assert _current(records).get("devsecops_identity_sso_coverage_ratio") == 2 / 3
    assert _current([app(1, SignOn.UNKNOWN)]).get(
        "devsecops_identity_sso_coverage_ratio") is None


# -- privileged access: JIT and standing assignments -----------------------------------------

def test_jit_ratio_and_standing_assignments_exclude_break_glass() -> None:
    records = [
        assignment(1, AssignmentType.ELIGIBLE), assignment(2, AssignmentType.ELIGIBLE),
        assignment(3, AssignmentType.ELIGIBLE), assignment(4, AssignmentType.PERMANENT),
        assignment(5, AssignmentType.PERMANENT, break_glass=True),
        assignment(6, AssignmentType.PERMANENT, break_glass=True),
    ]
    metrics = _current(records)
    assert metrics.get("devsecops_identity_privileged_jit_ratio") == 0.75
    assert metrics.get("devsecops_identity_standing_privileged_assignments") == 1


def test_only_break_glass_assignments_mean_zero_standing_and_no_jit_ratio() -> None:
    metrics = _current([assignment(1, AssignmentType.PERMANENT, break_glass=True)])
    assert metrics.get("devsecops_identity_standing_privileged_assignments") == 0
    assert metrics.get("devsecops_identity_privileged_jit_ratio") is None
    # no assignment known at all: both absent, never a made-up 0
    metrics = _current([])
    assert metrics.get("devsecops_identity_standing_privileged_assignments") is None


def test_without_snapshots_the_previous_quarter_shares_come_from_history_only() -> None:
    records = [assignment(1, AssignmentType.ELIGIBLE), assignment(2, AssignmentType.PERMANENT),
               account(1), app(1, SignOn.FEDERATED)]
    derived = _derive(records)
    previous = derived.by_quarter["2026-Q3"]
    assert previous.values == {}
    stored = point_in_time_values(derived)
    assert stored == {
        ("devsecops_identity_privileged_jit_ratio", ()): 0.5,
        ("devsecops_identity_standing_privileged_assignments", ()): 1,
        ("devsecops_identity_mfa_coverage_ratio", (("scope", "all"),)): 1.0,
        ("devsecops_identity_sso_coverage_ratio", ()): 1.0,
    }
    history = {"2026-Q3": {("devsecops_identity_privileged_jit_ratio", ()): 0.2,
                           ("devsecops_identity_sso_coverage_ratio", ()): 0.4,
                           ("vulnerability_mttr_days", ()): 9.0}}
    previous = _derive(records, history=history).by_quarter["2026-Q3"]
    assert previous.get("devsecops_identity_privileged_jit_ratio") == 0.2
    assert previous.get("devsecops_identity_sso_coverage_ratio") == 0.4
    assert {
        "devsecops_identity_mfa_coverage_ratio", "devsecops_identity_sso_coverage_ratio",
        "devsecops_identity_privileged_jit_ratio",
        "devsecops_identity_standing_privileged_assignments",
        "devsecops_identity_workload_static_credential_ratio",
    } <= HISTORY_METRICS


# -- dated snapshots (observed_at) give the previous quarter its shares ---------------------

AUG = datetime(2026, 8, 15, tzinfo=UTC)  # inside 2026-Q3


def _snapshot(record: Any, when: datetime, **changes: Any) -> Any:
    from dataclasses import replace
    return replace(record, observed_at=when, **changes)


def test_a_snapshot_of_the_previous_quarter_gives_its_shares() -> None:
    """A fresh install has a previous quarter for identity_access (issue 10 (a))."""
    today = [account(1), account(2), account(3, privileged=True),
             account(9, AccountKind.WORKLOAD, static=False),
             app(1, SignOn.FEDERATED), app(2, SignOn.FEDERATED),
             assignment(1, AssignmentType.ELIGIBLE), assignment(2, AssignmentType.ELIGIBLE)]
    then = [_snapshot(account(1), AUG), _snapshot(account(2, mfa=MfaStatus.NOT_CAPABLE), AUG),
            _snapshot(account(9, AccountKind.WORKLOAD, static=True), AUG),
            _snapshot(app(1, SignOn.FEDERATED), AUG), _snapshot(app(2, SignOn.PASSWORD), AUG),
            _snapshot(assignment(1, AssignmentType.ELIGIBLE), AUG),
            _snapshot(assignment(2, AssignmentType.PERMANENT), AUG)]
    derived = _derive(today + then)
    q3, q4 = derived.by_quarter["2026-Q3"], derived.by_quarter["2026-Q4"]
    assert q3.get("devsecops_identity_mfa_coverage_ratio", scope="all") == 0.5
    assert q3.get("devsecops_identity_mfa_coverage_ratio", scope="privileged") is None
    assert q3.get("devsecops_identity_workload_static_credential_ratio") == 1.0
    assert q3.get("devsecops_identity_sso_coverage_ratio") == 0.5
    assert q3.get("devsecops_identity_privileged_jit_ratio") == 0.5
    assert q3.get("devsecops_identity_standing_privileged_assignments") == 1
    # the current quarter is today's state only, exactly as without snapshots
    assert q4.values == _current(today).values
    # and only it is kept as history
    assert point_in_time_values(derived)[("devsecops_identity_sso_coverage_ratio", ())] == 1.0


def test_live_history_of_the_previous_quarter_wins_over_identity_snapshots() -> None:
    history = {"2026-Q3": {("devsecops_identity_sso_coverage_ratio", ()): 0.9}}
    records = [app(1, SignOn.FEDERATED), _snapshot(app(1, SignOn.PASSWORD), AUG),
               account(1), _snapshot(account(1, mfa=MfaStatus.NOT_CAPABLE), AUG)]
    q3 = _derive(records, history=history).by_quarter["2026-Q3"]
    assert q3.get("devsecops_identity_sso_coverage_ratio") == 0.9  # seen live, not 0
    # what the history lacks, the snapshot fills
    assert q3.get("devsecops_identity_mfa_coverage_ratio", scope="all") == 0.0


def test_the_latest_snapshot_in_the_quarter_counts_and_none_is_invented() -> None:
    records = [
        account(1),
        _snapshot(account(1, mfa=MfaStatus.NOT_CAPABLE), datetime(2026, 7, 2, tzinfo=UTC)),
        _snapshot(account(1), datetime(2026, 9, 30, 23, tzinfo=UTC)),  # latest in Q3
        # one account appears once per observation, not once per row
        _snapshot(account(2), datetime(2026, 9, 1, tzinfo=UTC)),
    ]
    q3 = _derive(records).by_quarter["2026-Q3"]
    assert q3.get("devsecops_identity_mfa_coverage_ratio", scope="all") == 1.0
    # a snapshot of Q2 is not carried forward, one after now is not one yet
    later = [assignment(1, AssignmentType.ELIGIBLE),
             _snapshot(assignment(1, AssignmentType.PERMANENT),
                       datetime(2026, 6, 30, 23, tzinfo=UTC)),
             _snapshot(assignment(2, AssignmentType.PERMANENT), NOW + timedelta(hours=1))]
    derived = _derive(later)
    assert derived.by_quarter["2026-Q3"].values == {}
    assert derived.by_quarter["2026-Q4"].get("devsecops_identity_standing_privileged_assignments"
                                             ) == 0


def test_an_identity_snapshot_time_must_be_utc_and_after_the_epoch() -> None:
    with pytest.raises(ValueError, match="observed_at must be timezone-aware"):
        _snapshot(account(1), datetime(2026, 8, 1))
    with pytest.raises(ValueError, match="observed_at must be after 1970-01-01"):
        _snapshot(app(1, SignOn.FEDERATED), datetime(1970, 1, 1, tzinfo=UTC))
    store_key = KINDS[RecordKind.PRIVILEGED_ASSIGNMENT].key
    assert store_key == ("source", "id", "observed")


# -- offboarding ---------------------------------------------------------------------------

LEFT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_offboarding_mean_and_within_sla_with_the_boundary_and_pending_cases() -> None:
    records = [
        offboarding(1, LEFT, LEFT + timedelta(hours=1)),  # within
        offboarding(2, LEFT, LEFT + timedelta(hours=4)),  # exactly the SLA: within
        offboarding(3, LEFT, LEFT + timedelta(hours=4, seconds=1)),  # one second late
        offboarding(4, LEFT, LEFT - timedelta(hours=2)),  # removed ahead: delay 0
        offboarding(5, NOW - timedelta(hours=5), None),  # pending, past the SLA
        offboarding(6, NOW - timedelta(hours=4), None),  # pending, exactly at the SLA: not yet
        offboarding(7, NOW - timedelta(hours=1), None),  # pending, not due
        offboarding(8, NOW + timedelta(days=3), None),  # leaves later: not an offboarding yet
        offboarding(9, NOW - timedelta(hours=1), NOW + timedelta(hours=1)),  # future removal
    ]
    derived = _derive(records)
    current = derived.by_quarter["2026-Q4"]
    mean = (1 + 4 + 4 + 1 / 3600 + 0) * HOUR / 4
    assert current.get("devsecops_identity_offboarding_mean_seconds") == pytest.approx(mean)
    # within: 1, 2, 4 of removed 1-4 plus pending past SLA 5
    assert current.get("devsecops_identity_offboarding_within_sla_ratio") == 3 / 5
    assert current.get("devsecops_identity_offboardings_pending_past_sla") == 1


def test_offboarding_counts_in_the_quarter_access_was_removed_in() -> None:
    records = [
        # left in Q3, removed in Q4 after two days: a Q4 offboarding, late
        offboarding(1, Q3_END - timedelta(days=1), Q3_END + timedelta(days=1)),
        offboarding(2, Q3_END - timedelta(days=10), Q3_END - timedelta(days=10, hours=-2)),
    ]
    derived = _derive(records)
    q3, q4 = derived.by_quarter["2026-Q3"], derived.by_quarter["2026-Q4"]
    assert q3.get("devsecops_identity_offboarding_mean_seconds") == 2 * HOUR
    assert q4.get("devsecops_identity_offboarding_mean_seconds") == 2 * 86400
    assert q4.get("devsecops_identity_offboarding_within_sla_ratio") == 0.0
    # at Q3's end, offboarding 1 was pending and 1 day past leaving: past the SLA
    assert q3.get("devsecops_identity_offboarding_within_sla_ratio") == 0.5
    assert q3.get("devsecops_identity_offboardings_pending_past_sla") == 1
    assert q4.get("devsecops_identity_offboardings_pending_past_sla") == 0


def test_offboarding_sla_is_configurable() -> None:
    records = [offboarding(1, LEFT, LEFT + timedelta(hours=6))]
    assert _current(records).get("devsecops_identity_offboarding_within_sla_ratio") == 0.0
    day = DerivationSettings(sla_days=SETTINGS.sla_days,
                             identity_offboarding_sla=timedelta(hours=8))
    assert _current(records, settings=day).get(
        "devsecops_identity_offboarding_within_sla_ratio") == 1.0


def test_only_pending_offboardings_not_yet_due_publish_only_the_pending_count() -> None:
    metrics = _current([offboarding(1, NOW - timedelta(hours=1), None)])
    assert metrics.get("devsecops_identity_offboarding_mean_seconds") is None
    assert metrics.get("devsecops_identity_offboarding_within_sla_ratio") is None
    assert metrics.get("devsecops_identity_offboardings_pending_past_sla") == 0
    assert _current([]).get("devsecops_identity_offboardings_pending_past_sla") is None


# -- access reviews ------------------------------------------------------------------------

def review(n: int, scope: ReviewScope, completed: datetime | None) -> AccessReview:
    return AccessReview(id=f"r{n}", source="entra", scope=scope, completed_at=completed)


def test_access_review_last_completed_and_age_by_scope_and_quarter() -> None:
    aug = datetime(2026, 8, 20, tzinfo=UTC)
    oct_ = datetime(2026, 10, 10, tzinfo=UTC)
    records = [
        review(1, ReviewScope.PRIVILEGED, aug),
        review(2, ReviewScope.PRIVILEGED, oct_),
        review(3, ReviewScope.ALL, datetime(2026, 3, 1, tzinfo=UTC)),
        review(4, ReviewScope.ALL, None),  # still running
        review(5, ReviewScope.ALL, NOW + timedelta(days=1)),  # not completed by now
    ]
    derived = _derive(records)
    q3, q4 = derived.by_quarter["2026-Q3"], derived.by_quarter["2026-Q4"]
    name = "devsecops_identity_access_review_last_completed_timestamp_seconds"
    assert q4.get(name, scope="privileged") == oct_.timestamp()
    assert q4.get(name, scope="all") == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert q4.get("devsecops_identity_access_review_age_seconds", scope="privileged") == (
        NOW - oct_).total_seconds()
    # the previous quarter as of its end: October's review had not happened yet
    assert q3.get(name, scope="privileged") == aug.timestamp()
    assert q3.get("devsecops_identity_access_review_age_seconds", scope="privileged") == (
        Q3_END - aug).total_seconds()
    assert _current([review(1, ReviewScope.ALL, None)]).series(name) == {}


# -- through the store ---------------------------------------------------------------------

def test_metrics_derive_from_rows_streamed_by_a_real_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    result = CollectionResult(records={
        RecordKind.IDENTITY_ACCOUNT: [account(1), account(2, mfa=MfaStatus.NOT_CAPABLE),
                                      _snapshot(account(2), AUG)],
        RecordKind.APPLICATION: [app(1, SignOn.FEDERATED)],
        RecordKind.PRIVILEGED_ASSIGNMENT: [assignment(1, AssignmentType.PERMANENT)],
        RecordKind.OFFBOARDING: [offboarding(1, LEFT, LEFT + timedelta(hours=2))],
        RecordKind.ACCESS_REVIEW: [review(1, ReviewScope.ALL, LEFT)],
    })
    store.apply("c", result, NOW)
    rows = {f.name: list(store.iter_rows(f.kind, f.columns)) for f in FAMILIES}
    derived = derive_all(rows=rows, settings=SETTINGS, now=NOW)
    current = derived.by_quarter["2026-Q4"]
    store.close()
    assert derived.by_quarter["2026-Q3"].get("devsecops_identity_mfa_coverage_ratio",
                                             scope="all") == 1.0  # the snapshot's one
    assert current.get("devsecops_identity_mfa_coverage_ratio", scope="all") == 0.5
    assert current.get("devsecops_identity_sso_coverage_ratio") == 1.0
    assert current.get("devsecops_identity_privileged_jit_ratio") == 0.0
    assert current.get("devsecops_identity_standing_privileged_assignments") == 1
    assert current.get("devsecops_identity_offboarding_mean_seconds") == 2 * HOUR
    assert current.get("devsecops_identity_offboarding_within_sla_ratio") == 1.0
    assert current.get("devsecops_identity_access_review_last_completed_timestamp_seconds",
                       scope="all") == LEFT.timestamp()


def test_pseudonyms_are_stable_and_do_not_contain_the_identifier() -> None:
    key = pseudonym("contoso-tenant", "00000000-aaaa-bbbb-cccc-123456789012")
    assert key == pseudonym("contoso-tenant", "00000000-aaaa-bbbb-cccc-123456789012")
    assert "123456789012" not in key and len(key) == 32
    assert key != pseudonym("other-tenant", "00000000-aaaa-bbbb-cccc-123456789012")


# -- the bundled identity_access levels rest on these metrics --------------------------------

DAY = 86400.0
L5 = {
    "devsecops_identity_sso_coverage_ratio": 0.9,
    "devsecops_identity_access_review_age_seconds{scope=all}": 30 * DAY,
    "devsecops_identity_mfa_coverage_ratio{scope=all}": 1.0,
    "devsecops_identity_privileged_jit_ratio": 1.0,
    "devsecops_identity_offboarding_within_sla_ratio": 0.96,
    "devsecops_identity_standing_privileged_assignments": 0,
    "devsecops_identity_workload_static_credential_ratio": 0.0,
}
LEVEL_CASES = [
    ("everything measured and met -> 5", {}, 5),
    ("half the apps federated is not most -> 1",
     {"devsecops_identity_sso_coverage_ratio": 0.5}, 1),
    ("last review 380 days ago is not annual -> 1",
     {"devsecops_identity_access_review_age_seconds{scope=all}": 380 * DAY}, 1),
    ("review 150 days ago: annual, not quarterly -> 2",
     {"devsecops_identity_access_review_age_seconds{scope=all}": 150 * DAY}, 2),
    ("one human without MFA -> 2",
     {"devsecops_identity_mfa_coverage_ratio{scope=all}": 0.999}, 2),
    ("no JIT at all -> 2", {"devsecops_identity_privileged_jit_ratio": 0.0}, 2),
    ("some JIT, one standing admin -> 3",
     {"devsecops_identity_privileged_jit_ratio": 0.9,
      "devsecops_identity_standing_privileged_assignments": 1}, 3),
    ("offboarding 94 % within SLA -> 3",
     {"devsecops_identity_offboarding_within_sla_ratio": 0.94}, 3),
    ("one standing admin blocks 5 -> 4",
     {"devsecops_identity_standing_privileged_assignments": 1,
      "devsecops_identity_privileged_jit_ratio": 1.0}, 4),
    ("one workload with a client secret blocks 5 -> 4",
     {"devsecops_identity_workload_static_credential_ratio": 0.01}, 4),
]


@pytest.mark.parametrize(("name", "change", "expected"), LEVEL_CASES,
                         ids=[c[0] for c in LEVEL_CASES])
def test_identity_access_levels_from_measurements_alone(name: str, change: dict,
                                                        expected: int) -> None:
    from exporter.maturity.engine import assess
    from tests.test_maturity_support import NOW as RULES_NOW
    from tests.test_maturity_support import derived, model

    result = assess(derived({**L5, **change}), model(None), {}, RULES_NOW)
    domain = result.domains["identity_access"].current
    assert domain.level == expected, name
    assert all(c.basis == "measurement" for c in domain.criteria)


def test_identity_access_without_data_stays_unknown_not_met() -> None:
    from exporter.maturity.engine import assess
    from tests.test_maturity_support import NOW as RULES_NOW
    from tests.test_maturity_support import derived, model

    result = assess(derived({}), model(None), {}, RULES_NOW)
    domain = result.domains["identity_access"].current
    assert domain.level == 1
    assert {c.status for c in domain.criteria} == {"unknown"}
