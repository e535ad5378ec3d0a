"""Maturity assessment: levels per domain and quarter, trend, programme score, explain.

The engine lives in ``exporter.maturity``; this module is the interface the rest of
the exporter uses:

- ``load_model(config) -> MaturityModel`` at start-up and reload (raises
  ``MaturityConfigError`` with one line per problem; keep the previous model then);
- ``assess(derived, model, history, now) -> Assessment`` (pure);
- ``Assessment.families()`` for publishing, ``Assessment.history_values()`` for the
  per-quarter history the store keeps (current quarter only);
- ``explain_text(assessment, domain=None)`` / ``explain_json(...)`` for the CLI and
  the HTTP endpoint (``ValueError`` naming the domains for an unknown domain).
"""

from __future__ import annotations

from exporter.maturity.engine import (
    LEVEL_METRIC,
    Assessment,
    DomainResult,
    MaturityModel,
    Programme,
    assess,
    programme_score,
)
from exporter.maturity.explain import explain_json, explain_text
from exporter.maturity.load import load_model
from exporter.maturity.model import DOMAINS, LEVEL_NAMES, MaturityConfigError
from exporter.maturity.publish import METRICS as MATURITY_METRICS

__all__ = [
    "DOMAINS",
    "LEVEL_METRIC",
    "LEVEL_NAMES",
    "MATURITY_METRICS",
    "Assessment",
    "DomainResult",
    "MaturityConfigError",
    "MaturityModel",
    "Programme",
    "assess",
    "explain_json",
    "explain_text",
    "load_model",
    "programme_score",
]
