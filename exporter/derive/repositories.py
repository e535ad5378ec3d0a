"""Repository coverage: point-in-time shares of SAST, review gates and the like.

Coverage is a state, not an event stream: a quarter's value is the share among the
repositories as observed in that quarter. The current quarter's values are kept as
history while the exporter runs, because a repository's past settings usually cannot
be asked for later; dated snapshots (``observed_at``) fill a quarter the exporter did
not see live.
"""

from __future__ import annotations

import re
from datetime import datetime

from collectors.records import RecordKind
from exporter.derive.common import (
    OBSERVATION_COLUMNS,
    DerivationContext,
    DerivationFamily,
    DerivationSettings,
    Mean,
    MetricKey,
    MetricSet,
    Rows,
    latest_observations,
    point_in_time_quarters,
)
from exporter.quarters import Quarter

COVERAGE_SETTINGS = ("sast", "review_gate", "required_review", "secret_scanning",
                     "push_protection", "dependency_alerts", "sbom", "pinned_actions",
                     "egress_control")
REVIEW_GATE_MIN_TIER = 2  # a required pull-request review: the "security gate" bar

# Point-in-time metrics: earlier quarters come from the stored history, else from dated
# repository snapshots; only the current quarter's values are stored as history.
POINT_IN_TIME_METRICS = frozenset({
    "sast_coverage_pct", "devsecops_repository_coverage_ratio",
    "devsecops_repository_review_gate_tier_ratio", "devsecops_repositories",
    "devsecops_repository_scorecard_score_mean",
})


def derive_repositories(rows: Rows, settings: DerivationSettings) -> MetricSet:
    """Point-in-time coverage shares over active repositories.

    Active: not archived, not a fork (unless ``include_forks``), name not excluded.
    A share counts only repositories whose setting could be read; a repository whose
    setting is unknown is in neither numerator nor denominator. ``sast_coverage_pct``
    is the SAST share in percent, as the spec names it; the others are ratios 0..1.
    ``devsecops_repository_scorecard_score_mean`` is the mean OpenSSF Scorecard score
    (0-10) over active repositories that have one.

    A row may end with one more column: the source whose own history it was rebuilt
    from (``None`` for an observed row). Every value such a row counts in is named in
    the result's ``reconstructed``.
    """
    excluded = [re.compile(p) for p in settings.exclude_patterns]
    counts = {"active": 0, "archived": 0, "fork": 0, "excluded": 0}
    known = dict.fromkeys(COVERAGE_SETTINGS, 0)
    enabled = dict.fromkeys(COVERAGE_SETTINGS, 0)
    tiers = [0] * 6
    tier_known = 0
    scorecard = Mean()
    seen_any = False
    marks: dict[MetricKey, set[str]] = {}
    for (name, archived, fork, sast, tier, secret, push, dependency, review,
         sbom, pinned, egress, score, *rebuilt) in rows:
        seen_any = True
        origin = rebuilt[0] if rebuilt else None
        state = ("archived" if archived else "fork" if fork and not settings.include_forks
                 else "excluded" if any(p.search(name) for p in excluded) else "active")
        counts[state] += 1
        if origin is not None:
            marks.setdefault(("devsecops_repositories", (("state", state),)),
                             set()).add(origin)
        if state != "active":
            continue
        gate = None if tier is None else int(tier >= REVIEW_GATE_MIN_TIER)
        # Tier 2 and above include a required review by definition; below, only the
        # source's own answer says whether a review is required.
        required = review if review is not None else (1 if gate else None)
        for setting, value in zip(COVERAGE_SETTINGS,
                                  (sast, gate, required, secret, push, dependency,
                                   sbom, pinned, egress),
                                  strict=True):
            if value is not None:
                known[setting] += 1
                enabled[setting] += value
                if origin is not None:
                    for key in _setting_keys(setting):
                        marks.setdefault(key, set()).add(origin)
        if tier is not None:
            tiers[tier] += 1
            tier_known += 1
            if origin is not None:
                for level in range(6):
                    marks.setdefault(("devsecops_repository_review_gate_tier_ratio",
                                      (("tier", str(level)),)), set()).add(origin)
        if score is not None:
            scorecard.add(score)
            if origin is not None:
                marks.setdefault(("devsecops_repository_scorecard_score_mean", ()),
                                 set()).add(origin)
    metrics = MetricSet()
    if not seen_any:
        return metrics
    for state, count in counts.items():
        metrics.set("devsecops_repositories", count, state=state)
    for setting in COVERAGE_SETTINGS:
        if known[setting]:
            ratio = enabled[setting] / known[setting]
            metrics.set("devsecops_repository_coverage_ratio", ratio, setting=setting)
            if setting == "sast":
                metrics.set("sast_coverage_pct", 100.0 * ratio)
    if scorecard.count:
        metrics.set("devsecops_repository_scorecard_score_mean", scorecard.value())
    if tier_known:
        for tier, count in enumerate(tiers):
            metrics.set("devsecops_repository_review_gate_tier_ratio", count / tier_known,
                        tier=str(tier))
    metrics.reconstructed = {key: frozenset(sources) for key, sources in marks.items()
                             if key in metrics.values}
    return metrics


def _setting_keys(setting: str) -> tuple[MetricKey, ...]:
    """The values one coverage setting's share is published as."""
    ratio: MetricKey = ("devsecops_repository_coverage_ratio", (("setting", setting),))
    return (ratio, ("sast_coverage_pct", ())) if setting == "sast" else (ratio,)


def _with_origin(rows: Rows) -> Rows:
    """Rows without their observation columns, ending with the source a reconstructed
    row was rebuilt from (``None`` for an observed one): what derive_repositories marks."""
    skip = len(OBSERVATION_COLUMNS)
    return ((*row[skip:-1], row[0] if row[-1] else None) for row in rows)


def derive_repository_quarters(rows: Rows, settings: DerivationSettings,
                               now: datetime, quarters: tuple[Quarter, Quarter],
                               ) -> dict[str, MetricSet]:
    """Coverage shares per quarter, from each repository's latest observation in it.

    Rows are ``(source, id, observed, *settings)`` as the store streams them; which
    observation counts in which quarter is :func:`latest_observations`' rule (undated
    = the current state, latest within a quarter, none carried forward, none after
    ``now``). Each quarter's shares are those of :func:`derive_repositories` over its
    repositories.
    """
    observed = latest_observations(rows, now, quarters)
    return {quarter.label: derive_repositories(_with_origin(state.rows), settings)
            for quarter, state in zip(quarters, observed, strict=True)}


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    """Observed shares per quarter; for the previous one, live history first.

    The previous quarter's coverage comes from the stored history first (what the
    exporter saw live beats a snapshot file); shares derived from dated snapshots of
    that quarter fill only what the history lacks, and without either it is absent.
    Values resting on reconstructed snapshots are marked as such, unless live history
    gave them.
    """
    return point_in_time_quarters(
        rows, ctx, lambda latest: derive_repositories(_with_origin(latest), ctx.settings),
        POINT_IN_TIME_METRICS)


FAMILY = DerivationFamily(
    name="repositories",
    kind=RecordKind.REPOSITORY,
    columns=(*OBSERVATION_COLUMNS, "name", "archived", "fork", "sast_enabled",
             "review_gate_tier", "secret_scanning", "push_protection", "dependency_alerts",
             "required_review", "sbom", "pinned_actions", "egress_control",
             "scorecard_score", "reconstructed"),
    derive=_derive,
    history_metrics=POINT_IN_TIME_METRICS,
)
