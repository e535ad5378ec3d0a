"""Supply chain: provenance attestations, SLSA build levels and SBOMs of built artifacts.

Rows are ``(created_at, attested, slsa_build_level, sbom)`` of Artifact records as the
store streams them. An artifact counts in the quarter it was created in (built or
released), so both published quarters are rebuilt from rows on every derivation and
need no stored history. Unknown values (``None``: the attestation API was unavailable,
a private repository without GitHub Enterprise Cloud) are in neither numerator nor
denominator: unknown is not "unsigned".

- ``devsecops_supply_chain_attested_artifacts_ratio``: artifacts created in the quarter
  with a signed provenance attestation, over those whose attestation status is known.
- ``devsecops_supply_chain_slsa_build_level_ratio{level}`` (1-3): artifacts created in
  the quarter at that SLSA build level or above, over those whose level is known.
- ``devsecops_supply_chain_sbom_artifacts_ratio``: artifacts created in the quarter with
  an SBOM, over those whose SBOM status is known.
- ``devsecops_supply_chain_artifacts{attested}``: artifacts created in the quarter, by
  attestation status (``yes``, ``no``, ``unknown``): the count an alert on unattested
  releases appearing watches.
"""

from __future__ import annotations

from datetime import datetime

from collectors.records import RecordKind
from collectors.records_supply_chain import SLSA_MAX_BUILD_LEVEL
from exporter.derive.common import (
    DerivationContext,
    DerivationFamily,
    MetricSet,
    Rows,
    quarter_bounds,
)
from exporter.quarters import Quarter

SLSA_LEVELS = tuple(str(level) for level in range(1, SLSA_MAX_BUILD_LEVEL + 1))
ATTESTED_STATES = ("yes", "no", "unknown")


def _quarter_index(at: float, bounds: list[tuple[float, float]]) -> int | None:
    """0 for the previous quarter, 1 for the current one, None outside both."""
    for qi, (start, end) in enumerate(bounds):
        if start <= at < end:
            return qi
    return None


def derive_artifacts(rows: Rows, now: datetime, quarters: tuple[Quarter, Quarter],
                     ) -> dict[str, MetricSet]:
    """Attested, SLSA-level and SBOM shares of the artifacts created in each quarter.

    An artifact created after ``now`` (a clock skew between source and exporter) is not
    counted yet. A quarter without any artifact has no values at all; one with
    artifacts but none of known status has the counts and no ratio.
    """
    cut = now.timestamp()
    bounds = quarter_bounds(quarters)
    # Per quarter index (0 previous, 1 current):
    states = [dict.fromkeys(ATTESTED_STATES, 0) for _ in range(2)]
    level_known = [0, 0]
    at_least = [[0] * (SLSA_MAX_BUILD_LEVEL + 1) for _ in range(2)]
    sbom_known = [0, 0]
    sbom_yes = [0, 0]
    for created, attested, level, sbom in rows:
        if created > cut:
            continue
        qi = _quarter_index(created, bounds)
        if qi is None:
            continue
        states[qi]["unknown" if attested is None else "yes" if attested else "no"] += 1
        if level is not None:
            level_known[qi] += 1
            for threshold in range(1, level + 1):
                at_least[qi][threshold] += 1
        if sbom is not None:
            sbom_known[qi] += 1
            sbom_yes[qi] += bool(sbom)
    sets = {q.label: MetricSet() for q in quarters}
    for qi, quarter in enumerate(quarters):
        metrics = sets[quarter.label]
        if not sum(states[qi].values()):
            continue
        for state, count in states[qi].items():
            metrics.set("devsecops_supply_chain_artifacts", count, attested=state)
        known = states[qi]["yes"] + states[qi]["no"]
        if known:
            metrics.set("devsecops_supply_chain_attested_artifacts_ratio",
                        states[qi]["yes"] / known)
        if level_known[qi]:
            for label in SLSA_LEVELS:
                metrics.set("devsecops_supply_chain_slsa_build_level_ratio",
                            at_least[qi][int(label)] / level_known[qi], level=label)
        if sbom_known[qi]:
            metrics.set("devsecops_supply_chain_sbom_artifacts_ratio",
                        sbom_yes[qi] / sbom_known[qi])
    return sets


def _derive(rows: Rows, ctx: DerivationContext) -> dict[str, MetricSet]:
    return derive_artifacts(rows, ctx.now, ctx.quarters)


FAMILY = DerivationFamily(
    name="supply_chain",
    kind=RecordKind.ARTIFACT,
    columns=("created_at", "attested", "slsa_build_level", "sbom"),
    derive=_derive,
)
