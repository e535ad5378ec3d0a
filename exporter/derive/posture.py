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

The ratios are point-in-time shares of the current state: they are derived as of now,
and the previous quarter's values come from the stored history (what the exporter
published while running then). Open counts, SLA compliance and MTTR are rebuilt for
both quarters from the lifecycle times, as of now and as of the previous quarter's end.
"""

from __future__ import annotations

from datetime import datetime

from collectors.records import RecordKind
from collectors.records_posture import POSTURE_STATUS_CODES
from exporter.derive.common import (
    DAY,
    SEVERITIES,
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    Mean,
    MetricKey,
    MetricSet,
    Rows,
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

COLUMNS = ("source", "account", "resource", "provider", "service", "severity", "status",
           "muted", "frameworks", "first_seen_at", "last_seen_at", "resolved_at")


def _share(states: dict[tuple[str, str, str], bool]) -> float | None:
    """Passing resources over all, from ``{resource: has an unmuted failure}``."""
    if not states:
        return None
    return sum(1 for failing in states.values() if not failing) / len(states)


def derive_posture(rows: Rows, settings: DerivationSettings, now: datetime,
                   quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """Every ``devsecops_cloud_*`` value for ``quarters`` (previous, current) as of now.

    The current quarter's values are as of ``now``; the previous quarter's failure
    counts, SLA compliance and MTTR as of its end (or now, if earlier). The passing
    and scanned ratios are derived for the current quarter only (see the module doc).
    """
    previous, _current = quarters
    t_now = now.timestamp()
    eval_times = (min(t_now, previous.end.timestamp()), t_now)
    bounds = quarter_bounds(quarters)
    window = settings.cloud_sla_window.total_seconds()
    sla = [settings.cloud_sla_days[s] * DAY for s in SEVERITIES]
    seen_window = settings.cloud_accounts_window.total_seconds()
    max_age = settings.cloud_scan_max_age.total_seconds()
    iam_services = frozenset(settings.cloud_iam_services)
    families = frozenset(settings.cloud_frameworks)
    n_sev = len(SEVERITIES)

    by_framework: dict[str, dict[tuple[str, str, str], bool]] = {}
    iam: dict[tuple[str, str, str], bool] = {}
    newest: dict[tuple[str, int, str], float] = {}
    mttr = [[Mean() for _ in range(n_sev)] for _ in range(2)]
    in_sla = [[0] * n_sev for _ in range(2)]
    fixed_in_window = [[0] * n_sev for _ in range(2)]
    past_due = [[0] * n_sev for _ in range(2)]
    open_count = [[0] * n_sev for _ in range(2)]
    seen = [False, False]

    for (source, account, resource, provider, service, severity, status, muted,
         frameworks, first_seen, last_seen, resolved) in rows:
        if first_seen > t_now:
            continue  # not seen yet as of now (a clock ahead of ours)
        account_key = (source, provider, account)
        scanned = min(last_seen, t_now)
        if scanned > newest.get(account_key, float("-inf")):
            newest[account_key] = scanned
        if status not in (_PASS, _FAIL) or muted:
            continue  # manual and muted results are neither pass nor fail
        gone = status == _FAIL and resolved is not None
        if not gone:
            resource_key = (source, account, resource)
            failing = status == _FAIL
            for family in (frameworks.split(" ") if frameworks else ()):
                if family in families:
                    states = by_framework.setdefault(family, {})
                    states[resource_key] = states.get(resource_key, False) or failing
            if service in iam_services:
                iam[resource_key] = iam.get(resource_key, False) or failing
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
    current = sets[quarters[1].label]
    for family, states in sorted(by_framework.items()):
        value = _share(states)
        if value is not None:
            current.set(PASSING_RATIO, value, framework=family)
    value = _share(iam)
    if value is not None:
        current.set(IAM_PASSING_RATIO, value)
    recent = [t for t in newest.values() if t > t_now - seen_window]
    if recent:
        current.set(ACCOUNTS_SCANNED_RATIO,
                    sum(1 for t in recent if t > t_now - max_age) / len(recent))
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


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Derived values per quarter; the previous quarter's shares from live history."""
    derived = derive_posture(rows, ctx.settings, ctx.now, ctx.quarters)
    previous = ctx.previous.label
    earlier: dict[MetricKey, float] = {
        key: value for key, value in ctx.history.get(previous, {}).items()
        if key[0] in POINT_IN_TIME_METRICS
    }
    derived[previous].values.update(earlier)
    return derived


FAMILY = DerivationFamily(
    name="posture",
    kind=RecordKind.POSTURE_RESULT,
    columns=COLUMNS,
    derive=_derive,
    history_metrics=POINT_IN_TIME_METRICS,
)
