"""Level-up playbooks (spec Step 6): the steps from level N to N+1 per domain.

Why a file of its own: the rules say what a level *is*, the playbooks say what to *do*
to reach it; an organisation rewrites the second far more often than the first. The
bundled file (default_playbooks.yaml) is used unless ``maturity.playbooks`` names a
copy. Each step may name the rule criterion that measures it, so the report marks a
step done from data (its criterion is met) rather than from someone's say-so.

Validated like the rules file: every problem is one ``file:line: key: message`` line,
and ``check-config`` fails on any (the loader reuses model.py's reporter and the strict
YAML loader). A domain or transition the file leaves out simply has no steps.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from collectors.settings import StrictModel
from exporter.maturity.model import (
    DOMAINS,
    CriterionId,
    MaturityConfigError,
    RulesFile,
    _guarded,
    _read_bytes,
    _validated,
)

DEFAULT_PLAYBOOKS = "default_playbooks.yaml"
TRANSITIONS = ("from_1_to_2", "from_2_to_3", "from_3_to_4", "from_4_to_5")
_TRANSITION = re.compile(r"^from_(\d)_to_(\d)$")


class PlaybookStep(StrictModel):
    action: str = Field(min_length=1)
    tool_options: list[str] = Field(default_factory=list)
    success_criterion: str = Field(min_length=1)
    criterion: CriterionId | None = None
    effort_estimate: str = Field(min_length=1)


class PlaybooksFile(StrictModel):
    version: Literal[1]
    domains: dict[str, dict[str, list[PlaybookStep]]]

    def steps(self, domain: str, from_level: int) -> list[PlaybookStep]:
        """The steps from ``from_level`` to the next level (empty when none are written)."""
        return self.domains.get(domain, {}).get(f"from_{from_level}_to_{from_level + 1}", [])


def parse_playbooks(text: str | bytes, file: str, rules: RulesFile, *,
                    strict: bool = True) -> PlaybooksFile:
    """Validate a playbooks file against the rules; only MaturityConfigError leaves.

    ``strict=False`` is for the bundled default under an operator's own rules file: a
    step naming a criterion those rules do not have keeps its text but loses the link
    (it stays open until a person closes it) instead of failing a configuration the
    operator never wrote a playbook for.
    """
    return _guarded("playbooks file", file, _parse_playbooks, text, file, rules, strict)


def _parse_playbooks(text: str | bytes, file: str, rules: RulesFile,
                     strict: bool = True) -> PlaybooksFile:
    playbooks, report = _validated(PlaybooksFile, text, "playbooks file", file)
    for domain, transitions in playbooks.domains.items():
        if domain not in DOMAINS:
            report.add(("domains", domain), f"unknown domain {domain!r}; the domains are: "
                       + ", ".join(DOMAINS))
            continue
        for name, steps in transitions.items():
            match = _TRANSITION.match(name)
            if not match or name not in TRANSITIONS:
                report.add(("domains", domain, name), f"{name!r} is not a step: use one of "
                           + ", ".join(TRANSITIONS))
                continue
            for index, step in enumerate(steps):
                if step.criterion is None or rules.find(domain, step.criterion) is not None:
                    continue
                if not strict:
                    steps[index] = step.model_copy(update={"criterion": None})
                else:
                    report.add(("domains", domain, name, index, "criterion"),
                               f"no criterion {step.criterion!r} in domain {domain} of the "
                               "rules file")
    if report.problems:
        raise MaturityConfigError(report.problems)
    return playbooks


def load_playbooks(path: Path | None, rules: RulesFile) -> tuple[PlaybooksFile, str]:
    """The playbooks at ``path``, or the bundled default when ``path`` is None."""
    if path is None:
        name = f"<bundled {DEFAULT_PLAYBOOKS}>"
        text = resources.files("exporter.maturity").joinpath(DEFAULT_PLAYBOOKS).read_text(
            "utf-8")
        return parse_playbooks(text, name, rules, strict=False), name
    return parse_playbooks(_read_bytes(path, "playbooks file"), str(path), rules), str(path)


def playbook_json(playbooks: PlaybooksFile | None, domain: str, level: int,
                  criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps from ``level`` to the next, each marked done when its criterion is met."""
    if playbooks is None or level >= 5:
        return []
    status = {c["id"]: c.get("status") for c in criteria}
    return [{**step.model_dump(), "from": level, "to": level + 1,
             "done": step.criterion is not None and status.get(step.criterion) == "met"}
            for step in playbooks.steps(domain, level)]
