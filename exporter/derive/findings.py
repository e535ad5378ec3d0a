"""Vulnerability findings: MTTR, SLA compliance, open and past-due counts, exposure.

Rows are ``(severity code, state code, opened_at, resolved_at, disclosed_at)`` as the
store streams them, so a million findings are aggregated in one pass without building
a million objects. Values that describe "now" (SLA compliance, open findings) are
computed as of ``now`` for the current quarter and as of the quarter's end for the
previous one, so the maturity engine can assess both quarters the same way.
"""

from __future__ import annotations

from datetime import datetime

from collectors.records import RecordKind
from exporter.derive.common import (
    DAY,
    SEVERITIES,
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    Mean,
    MetricSet,
    Rows,
    quarter_bounds,
)
from exporter.quarters import Quarter
from exporter.store import STATE_CODES

_FIXED = STATE_CODES["fixed"]


def derive_findings(rows: Rows, settings: DerivationSettings,
                    now: datetime, quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """MTTR, SLA compliance, open and past-due counts, mean open age, exposure window.

    - MTTR (days), per severity and quarter: mean of resolved - opened over findings
      *fixed* in the quarter (dismissed findings are not remediations).
    - SLA compliance (%), per severity, as of an evaluation time T (now for the current
      quarter, the quarter's end for the previous one), over the window (T - window, T]:
      100 * fixed within SLA / (fixed in window + open at T and already past due).
      Open findings not yet due count neither way.
    - Open findings, open past SLA, mean age of open findings (seconds), as of T.
    - Exposure window (seconds), per severity and quarter: mean of fixed - disclosed over
      findings fixed in the quarter that carry an advisory disclosure time.
    """
    previous, _current = quarters
    eval_times = (min(now.timestamp(), previous.end.timestamp()), now.timestamp())
    bounds = quarter_bounds(quarters)
    window = settings.sla_window.total_seconds()
    sla = [settings.sla_days[s] * DAY for s in SEVERITIES]
    n_sev = len(SEVERITIES)
    # Per quarter index (0 previous, 1 current) and severity code:
    mttr = [[Mean() for _ in range(n_sev)] for _ in range(2)]
    exposure = [[Mean() for _ in range(n_sev)] for _ in range(2)]
    in_sla = [[0] * n_sev for _ in range(2)]
    fixed_in_window = [[0] * n_sev for _ in range(2)]
    past_due = [[0] * n_sev for _ in range(2)]
    open_count = [[0] * n_sev for _ in range(2)]
    open_age = [[0.0] * n_sev for _ in range(2)]
    seen_any = False

    for severity, state, opened, resolved, disclosed in rows:
        seen_any = True
        due = opened + sla[severity]
        for qi in (0, 1):
            t = eval_times[qi]
            if opened > t:
                continue
            if state == _FIXED and resolved <= t:
                start, end = bounds[qi]
                if start <= resolved < end:
                    mttr[qi][severity].add(resolved - opened)
                    if disclosed is not None:
                        exposure[qi][severity].add(max(0.0, resolved - disclosed))
                if resolved > t - window:
                    fixed_in_window[qi][severity] += 1
                    if resolved <= due:
                        in_sla[qi][severity] += 1
            elif resolved is None or resolved > t:
                # open at t (a finding fixed or dismissed after t was still open then)
                open_count[qi][severity] += 1
                open_age[qi][severity] += t - opened
                if due < t:
                    past_due[qi][severity] += 1

    sets = {q.label: MetricSet() for q in quarters}
    if not seen_any:
        return sets
    for qi, quarter in enumerate(quarters):
        metrics = sets[quarter.label]
        for code, sev in enumerate(SEVERITIES):
            value = mttr[qi][code].value(DAY)
            if value is not None:
                metrics.set("vulnerability_mttr_days", value, severity=sev)
            value = exposure[qi][code].value()
            if value is not None:
                metrics.set("devsecops_vulnerability_exposure_window_seconds", value,
                            severity=sev)
            denominator = fixed_in_window[qi][code] + past_due[qi][code]
            if denominator:
                metrics.set("vulnerability_sla_compliance_pct",
                            100.0 * in_sla[qi][code] / denominator, severity=sev)
            # Counts are facts even when zero: we saw findings, none of them open.
            metrics.set("devsecops_vulnerability_open_findings", open_count[qi][code],
                        severity=sev)
            metrics.set("devsecops_vulnerability_open_past_sla_findings", past_due[qi][code],
                        severity=sev)
            if open_count[qi][code]:
                metrics.set("devsecops_vulnerability_open_findings_mean_age_seconds",
                            open_age[qi][code] / open_count[qi][code], severity=sev)
    return sets


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    return derive_findings(rows, ctx.settings, ctx.now, ctx.quarters)


FAMILY = DerivationFamily(
    name="findings",
    kind=RecordKind.FINDING,
    columns=("severity", "state", "opened_at", "resolved_at", "disclosed_at"),
    derive=_derive,
)
