"""Derived outcome metrics: pure functions over stored rows and an explicit ``now``.

Every definition here is the one in DESIGN.md, and the README's metric table quotes
it. One module per family of record kinds (``findings``, ``repositories``,
``incidents``, ``alerts``) declares the columns it reads and derives its metrics from
the plain tuples the store streams, so a million findings are aggregated in one pass
without building a million objects; ``registry`` lists the families and runs them.
Nothing here reads the clock, the disk or the network.

Output is a :class:`Derived`: one :class:`MetricSet` per quarter (current and
previous), each holding that quarter's values keyed by metric name and labels without
the ``quarter`` label. A metric with no underlying data is simply not in the set.
"""

from exporter.derive.alerts import DISPOSITIONS_BY_CODE, derive_siem_alerts
from exporter.derive.common import (
    DAY,
    HOUR,
    SEVERITIES,
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    Derived,
    Labels,
    Mean,
    MetricKey,
    MetricSet,
)
from exporter.derive.findings import derive_findings
from exporter.derive.incidents import derive_incidents
from exporter.derive.registry import (
    FAMILIES,
    HISTORY_METRICS,
    derive_all,
    point_in_time_values,
)
from exporter.derive.repositories import (
    COVERAGE_SETTINGS,
    REVIEW_GATE_MIN_TIER,
    derive_repositories,
    derive_repository_quarters,
)

__all__ = [
    "COVERAGE_SETTINGS",
    "DAY",
    "DISPOSITIONS_BY_CODE",
    "FAMILIES",
    "HISTORY_METRICS",
    "HOUR",
    "REVIEW_GATE_MIN_TIER",
    "SEVERITIES",
    "DerivationContext",
    "DerivationFamily",
    "DerivationSettings",
    "Derived",
    "Labels",
    "Mean",
    "MetricKey",
    "MetricSet",
    "derive_all",
    "derive_findings",
    "derive_incidents",
    "derive_repositories",
    "derive_repository_quarters",
    "derive_siem_alerts",
    "point_in_time_values",
]
