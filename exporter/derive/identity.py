"""Identity and access: MFA and SSO coverage, JIT, offboarding, access reviews.

Five record kinds, five families (one per kind, as the registry streams one kind per
family), all declared here and registered together as :data:`FAMILIES`. Definitions
are DESIGN's "Measuring every domain":

- Coverage shares (MFA, SSO, JIT, standing assignments, workload static credentials)
  are states: a quarter's value is derived from each account's, application's or
  assignment's latest observation in it (:func:`~exporter.derive.common.
  latest_observations`; undated rows are the state as of the run). A directory cannot
  be asked what it looked like last quarter, so the previous quarter takes what the
  exporter stored while running in it first, and dated snapshots (``observed_at``) of
  that quarter fill only what that history lacks; with neither it is absent.
- Offboardings and access reviews are events with times, so both quarters are
  rebuilt from rows: values that describe "now" are evaluated as of ``now`` for the
  current quarter and as of the previous quarter's end for the previous one.
"""

from __future__ import annotations

from datetime import datetime

from collectors.records import RecordKind
from collectors.records_identity import (
    IDENTITY_CODES,
    AccountKind,
    AssignmentType,
    MfaStatus,
    ReviewScope,
    SignOn,
)
from exporter.derive.common import (
    OBSERVATION_COLUMNS,
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    Mean,
    MetricSet,
    Rows,
    point_in_time_quarters,
    quarter_bounds,
    without_observation,
)
from exporter.quarters import Quarter

_KIND = IDENTITY_CODES[AccountKind]
_MFA = IDENTITY_CODES[MfaStatus]
_SIGN_ON = IDENTITY_CODES[SignOn]
_ASSIGNMENT = IDENTITY_CODES[AssignmentType]
REVIEW_SCOPES = {code: scope for scope, code in IDENTITY_CODES[ReviewScope].items()}

MFA_COVERAGE = "devsecops_identity_mfa_coverage_ratio"
SSO_COVERAGE = "devsecops_identity_sso_coverage_ratio"
JIT_RATIO = "devsecops_identity_privileged_jit_ratio"
STANDING = "devsecops_identity_standing_privileged_assignments"
WORKLOAD_STATIC = "devsecops_identity_workload_static_credential_ratio"
OFFBOARDING_MEAN = "devsecops_identity_offboarding_mean_seconds"
OFFBOARDING_WITHIN_SLA = "devsecops_identity_offboarding_within_sla_ratio"
OFFBOARDING_PENDING = "devsecops_identity_offboardings_pending_past_sla"
REVIEW_LAST = "devsecops_identity_access_review_last_completed_timestamp_seconds"
REVIEW_AGE = "devsecops_identity_access_review_age_seconds"

# Point-in-time shares: only the current quarter's values are stored as history; the
# previous quarter's come from that history first, else from dated snapshots.
ACCOUNT_METRICS = frozenset({MFA_COVERAGE, WORKLOAD_STATIC})
APPLICATION_METRICS = frozenset({SSO_COVERAGE})
ASSIGNMENT_METRICS = frozenset({JIT_RATIO, STANDING})
POINT_IN_TIME_METRICS = ACCOUNT_METRICS | APPLICATION_METRICS | ASSIGNMENT_METRICS


def derive_accounts(rows: Rows, settings: DerivationSettings) -> MetricSet:
    """MFA coverage (``scope`` all / privileged) and the workload static-credential share.

    MFA: active human accounts (guests too when ``identity_count_guests``) that can
    satisfy MFA, over those whose MFA status is known; ``privileged`` counts only
    accounts known to hold a privileged role. Workload: active workload identities
    holding a long-lived secret, over those whose credentials are known. Inactive
    accounts count nowhere; an unknown value is in neither numerator nor denominator.
    """
    humans = {_KIND["human"]} | ({_KIND["guest"]} if settings.identity_count_guests
                                 else set())
    workload = _KIND["workload"]
    capable, not_capable = _MFA["capable"], _MFA["not_capable"]
    mfa_known = {"all": 0, "privileged": 0}
    mfa_capable = {"all": 0, "privileged": 0}
    static_known = static_yes = 0
    for kind, active, privileged, mfa, static in rows:
        if not active:
            continue
        if kind in humans and mfa in (capable, not_capable):
            scopes = ("all", "privileged") if privileged else ("all",)
            for scope in scopes:
                mfa_known[scope] += 1
                mfa_capable[scope] += mfa == capable
        elif kind == workload and static is not None:
            static_known += 1
            static_yes += bool(static)
    metrics = MetricSet()
    for scope, known in mfa_known.items():
        if known:
            metrics.set(MFA_COVERAGE, mfa_capable[scope] / known, scope=scope)
    if static_known:
        metrics.set(WORKLOAD_STATIC, static_yes / static_known)
    return metrics


def derive_applications(rows: Rows) -> MetricSet:
    """SSO coverage: federated over known sign-on modes, of active production apps.

    When no active application is marked production, all active applications count.
    """
    federated, unknown = _SIGN_ON["federated"], _SIGN_ON["unknown"]
    # index 0: all active applications, 1: active production applications
    known = [0, 0]
    through_idp = [0, 0]
    production_seen = False
    for active, production, sign_on in rows:
        if not active:
            continue
        production_seen = production_seen or bool(production)
        if sign_on == unknown:
            continue
        for index in ((0, 1) if production else (0,)):
            known[index] += 1
            through_idp[index] += sign_on == federated
    metrics = MetricSet()
    index = 1 if production_seen else 0
    if known[index]:
        metrics.set(SSO_COVERAGE, through_idp[index] / known[index])
    return metrics


def derive_assignments(rows: Rows) -> MetricSet:
    """JIT share (eligible / eligible + permanent) and the standing count, break-glass out.

    The standing count is a fact even when zero, once any assignment is known (a
    tenant whose only assignments are break-glass ones has zero standing ones).
    """
    eligible = permanent = 0
    seen_any = False
    for assignment, break_glass in rows:
        seen_any = True
        if break_glass:
            continue
        if assignment == _ASSIGNMENT["eligible"]:
            eligible += 1
        else:
            permanent += 1
    metrics = MetricSet()
    if not seen_any:
        return metrics
    metrics.set(STANDING, permanent)
    if eligible + permanent:
        metrics.set(JIT_RATIO, eligible / (eligible + permanent))
    return metrics


def _eval_times(now: datetime, quarters: tuple[Quarter, Quarter]) -> tuple[float, float]:
    """When each quarter's "as of" values are taken: its end, or now for the current."""
    previous = quarters[0]
    return (min(now.timestamp(), previous.end.timestamp()), now.timestamp())


def derive_offboardings(rows: Rows, settings: DerivationSettings, now: datetime,
                        quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """Mean time to remove access and the within-SLA share, per quarter.

    - Mean (seconds): over offboardings whose access was removed in the quarter (and
      by the evaluation time), of ``access_removed_at - left_at``; a removal before
      the leave date counts as zero, not as a negative delay that would flatter it.
    - Within SLA: removed in the quarter within ``identity_offboarding_sla`` (a delay
      exactly equal to the SLA is within), over those removed in the quarter plus
      those still pending at the evaluation time and already past the SLA (strictly
      longer than the SLA since leaving). A pending one not yet due counts neither
      way; a leave date after the evaluation time is not an offboarding yet.
    - Pending past SLA: that count on its own, as of the evaluation time.
    """
    sla = settings.identity_offboarding_sla.total_seconds()
    bounds = quarter_bounds(quarters)
    eval_times = _eval_times(now, quarters)
    mean = [Mean(), Mean()]
    within = [0, 0]
    removed_count = [0, 0]
    pending_past = [0, 0]
    seen_any = False
    for left, removed in rows:
        seen_any = True
        for qi in (0, 1):
            t = eval_times[qi]
            if removed is not None and removed <= t:
                start, end = bounds[qi]
                if start <= removed < end:
                    delay = max(0.0, removed - left)
                    mean[qi].add(delay)
                    removed_count[qi] += 1
                    within[qi] += delay <= sla
            elif left <= t and t - left > sla:
                pending_past[qi] += 1
    sets = {q.label: MetricSet() for q in quarters}
    if not seen_any:
        return sets
    for qi, quarter in enumerate(quarters):
        metrics = sets[quarter.label]
        value = mean[qi].value()
        if value is not None:
            metrics.set(OFFBOARDING_MEAN, value)
        denominator = removed_count[qi] + pending_past[qi]
        if denominator:
            metrics.set(OFFBOARDING_WITHIN_SLA, within[qi] / denominator)
        metrics.set(OFFBOARDING_PENDING, pending_past[qi])
    return sets


def derive_access_reviews(rows: Rows, now: datetime,
                          quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """Per scope, the last completed review by the evaluation time, and its age.

    Reviews not completed, or completed after the evaluation time, do not count. The
    age (evaluation time minus that completion) is what the level rules compare:
    a timestamp cannot be compared with a fixed threshold.
    """
    eval_times = _eval_times(now, quarters)
    last: list[dict[str, float]] = [{}, {}]
    for scope_code, completed in rows:
        if completed is None:
            continue
        scope = REVIEW_SCOPES[scope_code]
        for qi in (0, 1):
            if completed <= eval_times[qi] and completed > last[qi].get(scope, float("-inf")):
                last[qi][scope] = completed
    sets = {}
    for qi, quarter in enumerate(quarters):
        metrics = MetricSet()
        for scope, completed in sorted(last[qi].items()):
            metrics.set(REVIEW_LAST, completed, scope=scope)
            metrics.set(REVIEW_AGE, eval_times[qi] - completed, scope=scope)
        sets[quarter.label] = metrics
    return sets


def _derive_accounts(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Each quarter's MFA and workload shares from its latest account observations."""
    return point_in_time_quarters(
        rows, ctx, lambda latest: derive_accounts(without_observation(latest), ctx.settings),
        ACCOUNT_METRICS)


def _derive_applications(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Each quarter's SSO share from its latest application observations."""
    return point_in_time_quarters(
        rows, ctx, lambda latest: derive_applications(without_observation(latest)),
        APPLICATION_METRICS)


def _derive_assignments(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Each quarter's JIT share and standing count from its latest assignments."""
    return point_in_time_quarters(
        rows, ctx, lambda latest: derive_assignments(without_observation(latest)),
        ASSIGNMENT_METRICS)


FAMILIES: tuple[DerivationFamily, ...] = (
    DerivationFamily(
        name="identity_accounts", kind=RecordKind.IDENTITY_ACCOUNT,
        columns=(*OBSERVATION_COLUMNS, "kind", "active", "privileged", "mfa",
                 "static_credential"),
        derive=_derive_accounts, history_metrics=ACCOUNT_METRICS),
    DerivationFamily(
        name="applications", kind=RecordKind.APPLICATION,
        columns=(*OBSERVATION_COLUMNS, "active", "production", "sign_on"),
        derive=_derive_applications, history_metrics=APPLICATION_METRICS),
    DerivationFamily(
        name="privileged_assignments", kind=RecordKind.PRIVILEGED_ASSIGNMENT,
        columns=(*OBSERVATION_COLUMNS, "assignment", "break_glass"),
        derive=_derive_assignments, history_metrics=ASSIGNMENT_METRICS),
    DerivationFamily(
        name="offboardings", kind=RecordKind.OFFBOARDING,
        columns=("left_at", "access_removed_at"),
        derive=lambda rows, ctx: derive_offboardings(rows, ctx.settings, ctx.now,
                                                     ctx.quarters)),
    DerivationFamily(
        name="access_reviews", kind=RecordKind.ACCESS_REVIEW,
        columns=("scope", "completed_at"),
        derive=lambda rows, ctx: derive_access_reviews(rows, ctx.now, ctx.quarters)),
)
