"""Security incidents: mean time to detect and to contain, counts, post-mortems.

Rows are ``(started_at, detected_at, contained_at, resolved_at, postmortem)`` as the
store streams them. Each mean counts an incident in the quarter its closing event
happened in, so a quarter's value is final once the quarter is over.
"""

from __future__ import annotations

from collectors.records import RecordKind
from exporter.derive.common import (
    HOUR,
    DerivationContext,
    DerivationFamily,
    Mean,
    MetricSet,
    Rows,
    quarter_bounds,
)
from exporter.quarters import Quarter

# Detection-time bounds of devsecops_incidents_detected_within_ratio (Step 5: "all
# incidents detected within 4 hours"), in seconds as rows carry them.
DETECTION_BOUNDS = {"1h": 1 * HOUR, "4h": 4 * HOUR, "24h": 24 * HOUR}


def derive_incidents(rows: Rows, quarters: tuple[Quarter, Quarter]) -> dict[str, MetricSet]:
    """MTTD, MTTC (hours), incident counts and post-mortem share per quarter.

    - MTTD: mean of detected - started over incidents *detected* in the quarter that
      have a start time.
    - MTTC: mean of contained - detected over incidents *contained* in the quarter
      (an incident detected last quarter and contained in this one counts here).
    - Post-mortem ratio: over incidents resolved in the quarter whose post-mortem
      status is known, the share with a documented post-mortem.
    - Detected within (``within`` = 1h, 4h, 24h): over incidents detected in the
      quarter with a start time, the share whose detection took at most that long.
    """
    bounds = quarter_bounds(quarters)
    mttd = [Mean(), Mean()]
    mttc = [Mean(), Mean()]
    detected = [0, 0]
    pm_known = [0, 0]
    pm_done = [0, 0]
    timed = [0, 0]
    within = [dict.fromkeys(DETECTION_BOUNDS, 0) for _ in quarters]
    for started, detected_at, contained, resolved, postmortem in rows:
        for qi, (start, end) in enumerate(bounds):
            if start <= detected_at < end:
                detected[qi] += 1
                if started is not None:
                    took = detected_at - started
                    mttd[qi].add(took)
                    timed[qi] += 1
                    for label, bound in DETECTION_BOUNDS.items():
                        within[qi][label] += took <= bound
            if contained is not None and start <= contained < end:
                mttc[qi].add(contained - detected_at)
            if resolved is not None and postmortem is not None and start <= resolved < end:
                pm_known[qi] += 1
                pm_done[qi] += postmortem
    sets = {}
    for qi, quarter in enumerate(quarters):
        metrics = MetricSet()
        for name, mean in (("security_incident_mttd_hours", mttd[qi]),
                           ("security_incident_mttc_hours", mttc[qi])):
            value = mean.value(HOUR)
            if value is not None:
                metrics.set(name, value)
        if detected[qi]:
            metrics.set("devsecops_incidents_detected", detected[qi])
        if pm_known[qi]:
            metrics.set("devsecops_incident_postmortem_ratio", pm_done[qi] / pm_known[qi])
        if timed[qi]:
            for label, count in within[qi].items():
                metrics.set("devsecops_incidents_detected_within_ratio", count / timed[qi],
                            within=label)
        sets[quarter.label] = metrics
    return sets


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    return derive_incidents(rows, ctx.quarters)


FAMILY = DerivationFamily(
    name="incidents",
    kind=RecordKind.INCIDENT,
    columns=("started_at", "detected_at", "contained_at", "resolved_at", "postmortem"),
    derive=_derive,
)
