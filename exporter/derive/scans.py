"""Scanner coverage: which targets the scanners' reports show as recently scanned.

Rows are ``(target, category code, last_scan_at)`` of :class:`ScanTarget` records (the
``reports`` collector writes one per tool and target). Coverage is a point-in-time
share: the current quarter's value is computed as of ``now`` and kept as history; the
previous quarter's comes from that history only (a scan time says nothing about which
targets were expected then).

- ``devsecops_repository_coverage_ratio{setting="dast"}``: the configured DAST targets
  (``scans.dast_targets``: the services DAST must cover, named as the reports name
  them) with a DAST scan younger than ``scans.max_age``, over all configured DAST
  targets. Absent when none is configured: the denominator is never guessed from the
  scans themselves (a service nobody scans would be invisible).
- ``devsecops_scan_targets{category, fresh}``: distinct targets per category whose
  newest scan is younger than ``scans.max_age`` (``fresh="true"``) or older.
"""

from __future__ import annotations

from datetime import datetime

from collectors.records import RecordKind
from collectors.records_scans import SCAN_CATEGORY_CODES
from exporter.derive.common import (
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    MetricSet,
    Rows,
)

CATEGORIES = tuple(SCAN_CATEGORY_CODES)  # code = index
_DAST = SCAN_CATEGORY_CODES["dast"]
POINT_IN_TIME_METRICS = frozenset({"devsecops_scan_targets"})
_COVERAGE = ("devsecops_repository_coverage_ratio", (("setting", "dast"),))


def derive_scans(rows: Rows, settings: DerivationSettings, now: datetime) -> MetricSet:
    """The shares above as of ``now``; a scan dated after ``now`` does not count yet."""
    cut = now.timestamp()
    oldest_fresh = cut - settings.scan_max_age.total_seconds()
    newest: dict[tuple[int, str], float] = {}
    for target, category, last_scan in rows:
        if last_scan > cut:
            continue
        slot = (category, target)
        if last_scan > newest.get(slot, float("-inf")):
            newest[slot] = last_scan
    metrics = MetricSet()
    counts: dict[tuple[int, bool], int] = {}
    for (category, _target), last_scan in newest.items():
        fresh = last_scan >= oldest_fresh
        counts[(category, fresh)] = counts.get((category, fresh), 0) + 1
    for category in {c for c, _ in counts}:
        for fresh in (True, False):
            metrics.set("devsecops_scan_targets", counts.get((category, fresh), 0),
                        category=CATEGORIES[category], fresh=str(fresh).lower())
    expected = set(settings.dast_targets)
    if expected:
        covered = sum(1 for target in expected
                      if newest.get((_DAST, target), float("-inf")) >= oldest_fresh)
        metrics.set("devsecops_repository_coverage_ratio", covered / len(expected),
                    setting="dast")
    return metrics


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    previous = MetricSet({key: value for key, value in ctx.history.get(
        ctx.previous.label, {}).items() if key[0] in POINT_IN_TIME_METRICS or key == _COVERAGE})
    return {ctx.previous.label: previous,
            ctx.current.label: derive_scans(rows, ctx.settings, ctx.now)}


FAMILY = DerivationFamily(
    name="scans",
    kind=RecordKind.SCAN_TARGET,
    columns=("target", "category", "last_scan_at"),
    derive=_derive,
    # devsecops_repository_coverage_ratio is already kept by the repositories family.
    history_metrics=POINT_IN_TIME_METRICS,
)
