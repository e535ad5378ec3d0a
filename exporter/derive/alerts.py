"""SIEM alerts: signal ratio, untriaged backlog, triage outcomes, investigation time.

Rows are ``(created_at, triaged_at, disposition code)`` as the store streams them.
Every value is over the alerts *created* in the quarter, so an alert triaged late
still counts where it was raised.
"""

from __future__ import annotations

from collectors.records import RecordKind
from exporter.derive.common import (
    DerivationContext,
    DerivationFamily,
    Mean,
    MetricSet,
    Rows,
    quarter_bounds,
)
from exporter.quarters import Quarter
from exporter.store import DISPOSITION_CODES

_UNTRIAGED = DISPOSITION_CODES["untriaged"]
_ACTIONABLE = DISPOSITION_CODES["actionable"]
DISPOSITIONS_BY_CODE = {code: name for name, code in DISPOSITION_CODES.items()}


def derive_siem_alerts(rows: Rows, quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """Signal ratio, untriaged count, triage outcomes and mean investigation time.

    Over alerts *created* in the quarter:
    - alert_signal_ratio: actionable / triaged (untriaged alerts are left out);
    - untriaged count; triaged count per disposition;
    - mean time to investigate (seconds): triaged_at - created_at over triaged alerts.
    """
    bounds = quarter_bounds(quarters)
    by_disposition = [dict.fromkeys(DISPOSITION_CODES.values(), 0) for _ in quarters]
    investigate = [Mean(), Mean()]
    for created, triaged, disposition in rows:
        for qi, (start, end) in enumerate(bounds):
            if start <= created < end:
                by_disposition[qi][disposition] += 1
                if disposition != _UNTRIAGED and triaged is not None:
                    investigate[qi].add(triaged - created)
    sets = {}
    for qi, quarter in enumerate(quarters):
        metrics = MetricSet()
        counts = by_disposition[qi]
        total = sum(counts.values())
        if total:
            triaged_total = total - counts[_UNTRIAGED]
            metrics.set("devsecops_siem_alerts_untriaged", counts[_UNTRIAGED])
            for code, count in counts.items():
                if code != _UNTRIAGED:
                    metrics.set("devsecops_siem_alerts_triaged", count,
                                disposition=DISPOSITIONS_BY_CODE[code])
            if triaged_total:
                metrics.set("alert_signal_ratio", counts[_ACTIONABLE] / triaged_total)
            value = investigate[qi].value()
            if value is not None:
                metrics.set("devsecops_siem_alert_investigation_mean_seconds", value)
        sets[quarter.label] = metrics
    return sets


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    return derive_siem_alerts(rows, ctx.quarters)


FAMILY = DerivationFamily(
    name="alerts",
    kind=RecordKind.SIEM_ALERT,
    columns=("created_at", "triaged_at", "disposition"),
    derive=_derive,
)
