"""Cloud posture: passing ratios, open posture findings, posture SLAs, MTTR, scan recency.

Rows are posture results (``collectors/records_posture.py``) in the column order of
:data:`FAMILY`. Definitions are DESIGN's ("Measuring every domain"):

- ``devsecops_cloud_resources_passing_ratio{framework}``: resources with no unmuted
  failing result of the framework over resources with at least one unmuted pass or
  fail result of it; ``devsecops_cloud_iam_resources_passing_ratio`` the same over the
  results of identity and access services (``cloud.iam_services``).
- ``devsecops_cloud_posture_open_findings{severity}``, ``..._open_past_sla_findings``,
  ``devsecops_cloud_posture_sla_compliance_ratio{severity}``: the vulnerability SLA
  definition applied to failing results (opened = ``first_seen_at``, fixed =
  ``resolved_at``, SLA days from ``cloud.sla``), as a ratio 0..1.
- ``devsecops_cloud_posture_mttr_seconds{severity}`` per quarter: mean of resolved -
  first seen over failing results resolved in the quarter.
- ``devsecops_cloud_accounts_scanned_ratio``: accounts whose newest result is younger
  than ``cloud.scan_max_age`` over accounts seen in the last 30 days.

Muted results count as neither pass nor fail and ``manual`` ones as neither; a failing
result resolved by disappearing from a complete scan (status ``fail`` with
``resolved_at``) counts for MTTR and SLA but is no longer a present resource. Posture
results never enter the ``vulnerability_*`` metrics: they are a kind of their own.

The ratios are point-in-time shares of a state: a quarter's values are those of each
result's latest observation in it (:func:`~exporter.derive.common.latest_observations`;
undated rows are the state as of the run), evaluated as of that observation. The
previous quarter takes what the exporter stored while running in it first, and dated
snapshots (``observed_at``) of that quarter fill only what that history lacks; with
neither they are absent. Open counts, SLA compliance and MTTR are rebuilt for both
quarters from the lifecycle times of the current results, as of now and as of the
previous quarter's end.

Why dated snapshots and not the lifecycle for an earlier quarter's ratios: a result
keeps only its *latest* failing episode (``first_seen_at`` .. ``resolved_at``) and its
*newest* scan (``last_seen_at``). Replaying that to the previous quarter's end would
count a resource as passing whenever its latest failure began later, although an
earlier episode may have been open then (a flattering guess, not a measurement); it
cannot tell which resources existed then; and it knows nothing of the scans made then,
so "accounts scanned within 24 h" at that time cannot be rebuilt at all. A snapshot is
what the CSPM reported at that moment, for both ratios, with no reconstruction; it is
also the mechanism every other point-in-time kind uses, so there is one rule to learn.
"""

from __future__ import annotations

from datetime import datetime

from collectors.records import RecordKind
from collectors.records_posture import POSTURE_STATUS_CODES
from exporter.derive.common import (
    DAY,
    OBSERVATION_COLUMNS,
    SEVERITIES,
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    Mean,
    MetricSet,
    Rows,
    history_first,
    latest_observations,
    quarter_bounds,
)
from exporter.quarters import Quarter

_PASS = POSTURE_STATUS_CODES["pass"]
_FAIL = POSTURE_STATUS_CODES["fail"]

PASSING_RATIO = "devsecops_cloud_resources_passing_ratio"
IAM_PASSING_RATIO = "devsecops_cloud_iam_resources_passing_ratio"
ACCOUNTS_SCANNED_RATIO = "devsecops_cloud_accounts_scanned_ratio"
OPEN_FINDINGS = "devsecops_cloud_posture_open_findings"
OPEN_PAST_SLA = "devsecops_cloud_posture_open_past_sla_findings"
SLA_COMPLIANCE = "devsecops_cloud_posture_sla_compliance_ratio"
MTTR = "devsecops_cloud_posture_mttr_seconds"

# Shares of the current state: earlier quarters keep the value published then.
POINT_IN_TIME_METRICS = frozenset({PASSING_RATIO, IAM_PASSING_RATIO,
                                   ACCOUNTS_SCANNED_RATIO})

COLUMNS = (*OBSERVATION_COLUMNS, "account", "resource", "provider", "service", "severity",
           "status", "muted", "frameworks", "first_seen_at", "last_seen_at", "resolved_at")
_OWN = len(OBSERVATION_COLUMNS)  # where a row's own columns start


def _share(states: dict[tuple[str, str, str], bool]) -> float | None:
    """Passing resources over all, from ``{resource: has an unmuted failure}``."""
    if not states:
        return None
    return sum(1 for failing in states.values() if not failing) / len(states)


def posture_shares(rows: Rows, settings: DerivationSettings, at: float) -> MetricSet:
    """The passing and scanned ratios of one state of the results, as of ``at``.

    ``rows`` are in :data:`COLUMNS` order, one per result (its latest observation);
    ``at`` is when that state was observed (now for the state as of the run), so a
    snapshot's scan ages are those it saw, not ones grown since. A result first seen
    after ``at`` is not one yet.
    """
    seen_window = settings.cloud_accounts_window.total_seconds()
    max_age = settings.cloud_scan_max_age.total_seconds()
    iam_services = frozenset(settings.cloud_iam_services)
    families = frozenset(settings.cloud_frameworks)
    by_framework: dict[str, dict[tuple[str, str, str], bool]] = {}
    iam: dict[tuple[str, str, str], bool] = {}
    newest: dict[tuple[str, int, str], float] = {}
    for row in rows:
        source = row[0]
        (account, resource, provider, service, _severity, status, muted, frameworks,
         first_seen, last_seen, resolved) = row[_OWN:]
        if first_seen > at:
            continue  # not seen yet as of then (a clock ahead of ours)
        account_key = (source, provider, account)
        scanned = min(last_seen, at)
        if scanned > newest.get(account_key, float("-inf")):
            newest[account_key] = scanned
        if status not in (_PASS, _FAIL) or muted:
            continue  # manual and muted results are neither pass nor fail
        if status == _FAIL and resolved is not None:
            continue  # gone from a complete scan: no longer a present resource
        resource_key = (source, account, resource)
        failing = status == _FAIL
        for family in (frameworks.split(" ") if frameworks else ()):
            if family in families:
                states = by_framework.setdefault(family, {})
                states[resource_key] = states.get(resource_key, False) or failing
        if service in iam_services:
            iam[resource_key] = iam.get(resource_key, False) or failing
    metrics = MetricSet()
    for family, states in sorted(by_framework.items()):
        value = _share(states)
        if value is not None:
            metrics.set(PASSING_RATIO, value, framework=family)
    value = _share(iam)
    if value is not None:
        metrics.set(IAM_PASSING_RATIO, value)
    recent = [t for t in newest.values() if t > at - seen_window]
    if recent:
        metrics.set(ACCOUNTS_SCANNED_RATIO,
                    sum(1 for t in recent if t > at - max_age) / len(recent))
    return metrics


def posture_lifecycle(rows: Rows, settings: DerivationSettings, now: datetime,
                      quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """Open counts, SLA compliance and MTTR per quarter, from the failure lifecycles.

    ``rows`` are in :data:`COLUMNS` order, one per result. The current quarter's values
    are as of ``now``, the previous quarter's as of its end (or now, if earlier).
    """
    previous, _current = quarters
    t_now = now.timestamp()
    eval_times = (min(t_now, previous.end.timestamp()), t_now)
    bounds = quarter_bounds(quarters)
    window = settings.cloud_sla_window.total_seconds()
    sla = [settings.cloud_sla_days[s] * DAY for s in SEVERITIES]
    n_sev = len(SEVERITIES)
    mttr = [[Mean() for _ in range(n_sev)] for _ in range(2)]
    in_sla = [[0] * n_sev for _ in range(2)]
    fixed_in_window = [[0] * n_sev for _ in range(2)]
    past_due = [[0] * n_sev for _ in range(2)]
    open_count = [[0] * n_sev for _ in range(2)]
    seen = [False, False]
    for row in rows:
        (_account, _resource, _provider, _service, severity, status, muted, _frameworks,
         first_seen, _last_seen, resolved) = row[_OWN:]
        if first_seen > t_now:
            continue  # not seen yet as of now (a clock ahead of ours)
        if status not in (_PASS, _FAIL) or muted:
            continue  # manual and muted results are neither pass nor fail
        if status == _PASS and resolved is None:
            continue  # never failed: no failure lifecycle to measure
        due = first_seen + sla[severity]
        for qi in (0, 1):
            t = eval_times[qi]
            if first_seen > t:
                continue
            seen[qi] = True
            if resolved is not None and resolved <= t:
                start, end = bounds[qi]
                if start <= resolved < end:
                    mttr[qi][severity].add(resolved - first_seen)
                if resolved > t - window:
                    fixed_in_window[qi][severity] += 1
                    if resolved <= due:
                        in_sla[qi][severity] += 1
            else:
                open_count[qi][severity] += 1
                if due < t:
                    past_due[qi][severity] += 1
    sets = {q.label: MetricSet() for q in quarters}
    for qi, quarter in enumerate(quarters):
        metrics = sets[quarter.label]
        for code, sev in enumerate(SEVERITIES):
            value = mttr[qi][code].value()
            if value is not None:
                metrics.set(MTTR, value, severity=sev)
            denominator = fixed_in_window[qi][code] + past_due[qi][code]
            if denominator:
                metrics.set(SLA_COMPLIANCE, in_sla[qi][code] / denominator, severity=sev)
            if seen[qi]:
                # Counts are facts even when zero: failures were seen, none open now.
                metrics.set(OPEN_FINDINGS, open_count[qi][code], severity=sev)
                metrics.set(OPEN_PAST_SLA, past_due[qi][code], severity=sev)
    return sets


def derive_posture(rows: Rows, settings: DerivationSettings, now: datetime,
                   quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """Every ``devsecops_cloud_*`` value for ``quarters`` (previous, current) as of now.

    Each quarter's passing and scanned ratios are those of its latest observation of
    every result (:func:`posture_shares`, as of that observation). The lifecycle values
    of both quarters come from the current quarter's results (:func:`posture_lifecycle`):
    they hold the newest knowledge of every failure, and a result only an old snapshot
    still lists is not open now. Live history is applied by the family, not here.
    """
    observed = latest_observations(rows, now, quarters)
    sets = posture_lifecycle(observed[1].rows, settings, now, quarters)
    for quarter, state in zip(quarters, observed, strict=True):
        if state.at is not None:
            sets[quarter.label].values.update(
                posture_shares(state.rows, settings, state.at).values)
    return sets


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Derived values per quarter; the previous quarter's shares from live history first."""
    derived = derive_posture(rows, ctx.settings, ctx.now, ctx.quarters)
    derived[ctx.previous.label] = history_first(derived[ctx.previous.label], ctx,
                                                POINT_IN_TIME_METRICS)
    return derived


FAMILY = DerivationFamily(
    name="posture",
    kind=RecordKind.POSTURE_RESULT,
    columns=COLUMNS,
    derive=_derive,
    history_metrics=POINT_IN_TIME_METRICS,
)
