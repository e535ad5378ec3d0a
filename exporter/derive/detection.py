"""Detection coverage and telemetry: ATT&CK coverage of the SIEMs' rules, workloads watched.

Both are states, not event streams: a quarter's values come from each rule's and
workload's latest observation in it (:func:`~exporter.derive.common.
latest_observations`; undated rows are the state as of the run). A SIEM cannot say
which rules it ran last quarter, so the previous quarter takes what the exporter stored
while running in it first (``history_metrics``), and dated snapshots (``observed_at``)
of that quarter fill only what that history lacks; with neither it is absent.

Coverage (DESIGN, "Measuring every domain"): the distinct parent techniques of the
pinned ATT&CK Enterprise version (``exporter/attack.py``) with at least one *enabled*
rule, over the techniques in scope. A rule on a sub-technique covers its parent; ids
that are revoked, deprecated, unknown to the pinned version or outside the configured
platforms (``detection.platforms``) cover nothing. Rules are counted by state and by
whether they carry any technique id at all.

Telemetry: workloads are joined across sources by their normalized id (host name or
instance id, :func:`collectors.records_detection.normalize_host`); a workload counts as
covered when any source reports its telemetry healthy. Inventory-only workloads
(telemetry unknown) are in the denominator: nobody watches them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from collectors.records import RecordKind
from collectors.records_detection import (
    RULE_KIND_CODES,
    TELEMETRY_CODES,
    normalize_host,
)
from exporter.attack import AttackMatrix, load_matrix, parent_id
from exporter.derive.common import (
    OBSERVATION_COLUMNS,
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    MetricSet,
    Rows,
    point_in_time_quarters,
    without_observation,
)

COVERAGE = "devsecops_detection_attack_coverage_ratio"
INFO = "devsecops_detection_attack_info"
RULES = "devsecops_detection_rules"
ENABLED_BY_KIND = "devsecops_detection_enabled_rules"
TELEMETRY_RATIO = "devsecops_telemetry_coverage_ratio"
WORKLOADS = "devsecops_telemetry_workloads"

RULE_KINDS_BY_CODE = {code: name for name, code in RULE_KIND_CODES.items()}
TELEMETRY_BY_CODE = {code: name for name, code in TELEMETRY_CODES.items()}
# When sources disagree about one workload, the best report wins: one healthy agent
# is enough to watch it.
_TELEMETRY_RANK = {"healthy": 3, "unhealthy": 2, "none": 1, "unknown": 0}

RULE_METRICS = frozenset({COVERAGE})
TELEMETRY_METRICS = frozenset({TELEMETRY_RATIO})


@dataclass(frozen=True)
class Coverage:
    """Which in-scope techniques have an enabled rule, for metrics and ``explain``."""

    version: str
    in_scope: frozenset[str]
    covered: frozenset[str]
    rules: dict[tuple[str, str], int]  # (state, mapped) -> count
    enabled_by_kind: dict[str, int]

    @property
    def ratio(self) -> float | None:
        return len(self.covered) / len(self.in_scope) if self.in_scope else None


def rule_coverage(rows: Rows, settings: DerivationSettings,
                  matrix: AttackMatrix | None = None) -> Coverage | None:
    """Coverage from ``(enabled, kind code, techniques)`` rows; ``None`` without rules.

    ``techniques`` is the stored space-separated list (or ``None``).
    """
    matrix = matrix or load_matrix()
    in_scope = frozenset(matrix.in_scope(settings.detection_platforms))
    covered: set[str] = set()
    rules = {(state, mapped): 0 for state in ("enabled", "disabled")
             for mapped in ("true", "false")}
    by_kind = dict.fromkeys(RULE_KIND_CODES, 0)
    seen = False
    for enabled, kind, techniques in rows:
        seen = True
        ids = techniques.split() if techniques else ()
        rules[("enabled" if enabled else "disabled", "true" if ids else "false")] += 1
        if not enabled:
            continue
        by_kind[RULE_KINDS_BY_CODE[kind]] += 1
        for technique in ids:
            parent = parent_id(technique)
            if parent in in_scope:
                covered.add(parent)
    if not seen:
        return None
    return Coverage(version=matrix.version, in_scope=in_scope, covered=frozenset(covered),
                    rules=rules, enabled_by_kind=by_kind)


def uncovered_by_tactic(coverage: Coverage,
                        matrix: AttackMatrix | None = None) -> dict[str, list[str]]:
    """In-scope techniques without an enabled rule, by tactic (for ``explain``).

    A technique of several tactics is listed under each; ids only, sorted, so the
    listing never names a rule.
    """
    matrix = matrix or load_matrix()
    listing: dict[str, list[str]] = defaultdict(list)
    for tid in sorted(coverage.in_scope - coverage.covered):
        for tactic in matrix.techniques[tid].tactics:
            listing[tactic].append(tid)
    return dict(sorted(listing.items()))


def derive_rules(rows: Rows, settings: DerivationSettings,
                 matrix: AttackMatrix | None = None) -> MetricSet:
    """One state's values: coverage ratio, the pinned version, rules by state and kind."""
    metrics = MetricSet()
    coverage = rule_coverage(rows, settings, matrix)
    if coverage is None:
        return metrics
    if coverage.ratio is not None:
        metrics.set(COVERAGE, coverage.ratio)
    metrics.set(INFO, 1.0, version=coverage.version)
    for (state, mapped), count in coverage.rules.items():
        metrics.set(RULES, count, state=state, mapped=mapped)
    for kind, count in coverage.enabled_by_kind.items():
        metrics.set(ENABLED_BY_KIND, count, kind=kind)
    return metrics


def derive_telemetry(rows: Rows) -> MetricSet:
    """Telemetry coverage from ``(id, telemetry code)`` rows joined by normalized id."""
    best: dict[str, int] = {}
    for workload_id, telemetry in rows:
        key = normalize_host(workload_id)
        rank = _TELEMETRY_RANK[TELEMETRY_BY_CODE[telemetry]]
        if rank > best.get(key, -1):
            best[key] = rank
    metrics = MetricSet()
    if not best:
        return metrics
    counts = dict.fromkeys(_TELEMETRY_RANK.values(), 0)
    for rank in best.values():
        counts[rank] += 1
    for name, rank in _TELEMETRY_RANK.items():
        metrics.set(WORKLOADS, counts[rank], telemetry=name)
    metrics.set(TELEMETRY_RATIO, counts[_TELEMETRY_RANK["healthy"]] / len(best))
    return metrics


def _derive_rules(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Each quarter's coverage and rule counts from its latest rule observations."""
    return point_in_time_quarters(
        rows, ctx, lambda latest: derive_rules(without_observation(latest), ctx.settings),
        RULE_METRICS)


def _derive_telemetry(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Each quarter's telemetry coverage; rows are (source, id, observed, telemetry) and
    the join across sources reads (id, telemetry)."""
    return point_in_time_quarters(
        rows, ctx, lambda latest: derive_telemetry((row[1], row[3]) for row in latest),
        TELEMETRY_METRICS)


FAMILY = DerivationFamily(
    name="detection",
    kind=RecordKind.DETECTION_RULE,
    columns=(*OBSERVATION_COLUMNS, "enabled", "kind", "techniques"),
    derive=_derive_rules,
    history_metrics=RULE_METRICS,
)
TELEMETRY_FAMILY = DerivationFamily(
    name="telemetry",
    kind=RecordKind.WORKLOAD,
    columns=(*OBSERVATION_COLUMNS, "telemetry"),
    derive=_derive_telemetry,
    history_metrics=TELEMETRY_METRICS,
)
FAMILIES = (FAMILY, TELEMETRY_FAMILY)
