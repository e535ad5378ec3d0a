"""Load and validate the rules and assessments files named in the config (I/O edge)."""

from __future__ import annotations

from exporter.config import MaturityConfig
from exporter.maturity.engine import MaturityModel
from exporter.maturity.model import MaturityConfigError, load_assessments, load_rules
from exporter.maturity.playbooks import load_playbooks


def load_model(config: MaturityConfig) -> MaturityModel:
    """Load the rules, assessments and playbooks (bundled defaults when not configured).

    Every problem in either file is collected and raised together as
    :class:`MaturityConfigError`, one line each, so an operator fixes a file in one go.
    The caller keeps its previous model when this raises (reload keeps serving).
    """
    rules, rules_source = load_rules(config.rules)
    assessments = None
    if config.assessments is not None:
        assessments = load_assessments(config.assessments, rules)
    playbooks, playbooks_source = load_playbooks(config.playbooks, rules)
    return MaturityModel(
        rules=rules, assessments=assessments, evidence_max_age=config.evidence_max_age,
        rules_source=rules_source,
        assessments_source=str(config.assessments) if config.assessments else None,
        config=config, playbooks=playbooks, playbooks_source=playbooks_source,
    )


__all__ = ["MaturityConfigError", "load_model"]
