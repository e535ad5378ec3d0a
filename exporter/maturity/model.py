"""The rules file and the assessments file: formats, loading and validation.

The rules file says, per capability domain and per level 2-5, which criteria must
hold (level 1 is the floor). A criterion is a threshold on a derived metric, a trend
of a derived metric against the previous quarter, or an attestation a person makes
in the assessments file. The assessments file is the quarterly review's input:
owners, targets, evidence, blockers, next actions and attestations.

Both files are validated strictly, like the main config: every problem is reported
on its own line naming the file, the line, the key path and what is wrong, and a
file with any problem is rejected as a whole (on reload the previous one stays).
Dates in the assessments file may be relative (``-30d``); they are kept as offsets
and resolved against the assessment's ``now``, so a demo file never goes stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    model_validator,
)

from collectors.settings import StrictModel, parse_duration
from collectors.yamlsafe import YamlDocument, YamlError, parse_yaml, read_bytes
from exporter.derive import COVERAGE_SETTINGS, SEVERITIES
from exporter.snapshot import DERIVED_METRICS

DOMAINS: tuple[str, ...] = (
    "vulnerability_management", "secure_development", "identity_access",
    "incident_response", "cloud_infrastructure", "supply_chain",
    "observability_detection", "security_culture",
)
LEVEL_NAMES: dict[int, str] = {
    1: "Initial", 2: "Developing", 3: "Defined", 4: "Managed", 5: "Optimising",
}
RULE_LEVELS = (2, 3, 4, 5)
DEFAULT_RULES = "default_rules.yaml"

# The metrics a rule may name, with the labels each one carries (``quarter`` aside).
METRIC_LABELS: dict[str, tuple[str, ...]] = {m.name: m.labels for m in DERIVED_METRICS}
# Closed label value sets, so a typo in a selector is an error, not a forever-unknown.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "severity": SEVERITIES,
    "setting": COVERAGE_SETTINGS,
    "disposition": ("actionable", "false_positive", "benign", "undetermined"),
    "tier": ("0", "1", "2", "3", "4", "5"),
    "state": ("active", "archived", "fork", "excluded"),
}

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_EVIDENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class MaturityConfigError(Exception):
    """An invalid rules or assessments file; ``problems`` holds one line per error."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid maturity configuration:\n  " + "\n  ".join(problems))


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{value!r} must be lowercase letters, digits and '_', starting with a "
                         "letter, at most 63 characters (it becomes a metric label value)")
    return value


CriterionId = Annotated[str, AfterValidator(_check_id)]
Operator = Literal["<", "<=", ">", ">=", "==", "!="]

OPERATORS = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return value


def _number(value: Any) -> Any:
    # pydantic would turn "90" or True into a number; a threshold must be written as one.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {type(value).__name__} {value!r}")
    return value


Number = Annotated[float, BeforeValidator(_number), AfterValidator(_finite)]


class _MetricCriterion(StrictModel):
    id: CriterionId
    indicator: str = Field(min_length=1, description="the spec indicator this encodes")
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)

    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}" if inner else self.metric

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.metric, tuple(sorted(self.labels.items())))


class ThresholdCriterion(_MetricCriterion):
    """Met when the metric's current value compares to ``value`` as ``op`` says."""

    kind: Literal["threshold"]
    op: Operator
    value: Number
    basis: Literal["measurement"] = "measurement"

    def requirement(self) -> str:
        return f"{self.op} {_fmt(self.value)}"


class TrendCriterion(_MetricCriterion):
    """Met when the metric moved in ``direction`` since the previous quarter.

    ``good_enough`` is a value at which no further improvement is required: a
    critical MTTR already under three days need not keep falling every quarter.
    """

    kind: Literal["trend"]
    direction: Literal["down", "up"]
    good_enough: Number | None = None
    basis: Literal["measurement"] = "measurement"

    def requirement(self) -> str:
        word = "lower" if self.direction == "down" else "higher"
        text = f"{word} than the previous quarter"
        if self.good_enough is not None:
            bound = "<=" if self.direction == "down" else ">="
            text += f", or already {bound} {_fmt(self.good_enough)}"
        return text


class AttestationCriterion(StrictModel):
    """Met when the assessments file attests it with at least one fresh evidence item."""

    kind: Literal["attestation"]
    id: CriterionId
    indicator: str = Field(min_length=1)
    claim: str = Field(min_length=1, description="what the person attests")
    basis: Literal["attestation"] = "attestation"

    def requirement(self) -> str:
        return f"attested with fresh evidence: {self.claim}"


Criterion = Annotated[ThresholdCriterion | TrendCriterion | AttestationCriterion,
                      Field(discriminator="kind")]


class DomainRules(StrictModel):
    description: str = ""
    levels: dict[int, list[Criterion]]


class OutcomeRule(StrictModel):
    """An outcome metric from the spec's Step 5: what maturity should improve."""

    id: CriterionId
    indicator: str = Field(min_length=1)
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    better: Literal["lower", "higher"]

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.metric, tuple(sorted(self.labels.items())))

    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}" if inner else self.metric


class RulesFile(StrictModel):
    version: Literal[1]
    domains: dict[str, DomainRules]
    outcomes: list[OutcomeRule] = Field(default_factory=list)
    outcome_tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.05

    def criteria(self, domain: str, level: int) -> list[Any]:
        return self.domains[domain].levels[level]

    def find(self, domain: str, criterion_id: str) -> tuple[int, Any] | None:
        for level, criteria in self.domains[domain].levels.items():
            for criterion in criteria:
                if criterion.id == criterion_id:
                    return level, criterion
        return None


# -- dates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """An absolute UTC time, or an offset before ``now`` (``-30d``) resolved later."""

    absolute: datetime | None = None
    offset: timedelta | None = None

    def resolve(self, now: datetime) -> datetime:
        if self.absolute is not None:
            return self.absolute
        assert self.offset is not None
        return now - self.offset


def parse_when(value: Any) -> When:
    """Accept a date, a datetime (naive means UTC), an ISO string or ``-<duration>``."""
    if isinstance(value, When):
        return value
    if isinstance(value, datetime):
        return When(absolute=value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return When(absolute=datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, str):
        text = value.strip()
        if text in ("today", "now"):
            return When(offset=timedelta(0))
        if text.startswith("-"):
            return When(offset=parse_duration(text[1:]))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parse_when(parsed)
    raise ValueError(f"{value!r} is not a date: write 2026-10-14, an ISO timestamp, "
                     "or a time before now such as -30d")


DateSpec = Annotated[When, BeforeValidator(parse_when)]


class EvidenceItem(StrictModel):
    id: str | None = None
    text: str | None = None
    link: str | None = None
    date: DateSpec
    reviewer: str | None = None

    @model_validator(mode="after")
    def _text_or_link(self) -> EvidenceItem:
        if not (self.text or self.link):
            raise ValueError("an evidence item needs a text or a link")
        if self.id is not None and not _EVIDENCE_ID.match(self.id):
            raise ValueError(f"evidence id {self.id!r} must be letters, digits, '_', '.', '-'")
        return self

    def title(self) -> str:
        return self.id or self.text or self.link or "?"


class DomainAssessment(StrictModel):
    owner: str | None = None
    target_level: Annotated[int, Field(ge=1, le=5)] | None = None
    evidence: list[EvidenceItem] = Field(default_factory=list)
    blockers: list[str] = Field(default_factory=list)
    next_actions: list[str] = Field(default_factory=list)
    # criterion id -> ids of the evidence items that support the claim
    attestations: dict[str, list[str]] = Field(default_factory=dict)


class ReviewInfo(StrictModel):
    last_completed: DateSpec | None = None
    notes: str | None = None


class AssessmentsFile(StrictModel):
    version: Literal[1] = 1
    organisation: str | None = None
    review: ReviewInfo = Field(default_factory=ReviewInfo)
    domains: dict[str, DomainAssessment] = Field(default_factory=dict)


# -- loading ------------------------------------------------------------------------------


class _Reporter:
    """Collects problems of one file as ``file:line: key.path: message`` lines."""

    def __init__(self, file: str, document: YamlDocument) -> None:
        self.file = file
        self.document = document  # its line map is built on the first problem only
        self.problems: list[str] = []

    def add(self, loc: tuple[Any, ...], message: str) -> None:
        line = self.document.line_of(loc)
        where = f"{self.file}:{line}" if line else self.file
        self.problems.append(f"{where}: {_format_loc(loc)}: {message}")

    def add_validation(self, exc: ValidationError) -> None:
        for error in exc.errors(include_url=False, include_input=False):
            loc = tuple(p for p in error["loc"]
                        if p not in ("threshold", "trend", "attestation")
                        and not (isinstance(p, str) and p.startswith("function-")))
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key (check the spelling; see docs/maturity.md)"
            elif error["type"] == "union_tag_invalid":
                message = "kind must be one of threshold, trend, attestation"
            elif error["type"] == "union_tag_not_found":
                message = "missing key 'kind' (threshold, trend or attestation)"
            self.add(loc, message)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    previous = None
    for part in loc:
        if isinstance(part, int) and previous != "levels":
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "(top level)"


def _read_bytes(path: Path, name: str) -> bytes:
    """The file's bytes through the strict loader's capped read (10 MiB)."""
    try:
        return read_bytes(path, str(path), what=f"the {name}")
    except YamlError as exc:
        raise MaturityConfigError([str(exc)]) from None


def _parse_yaml(text: str | bytes, name: str, file: str) -> YamlDocument:
    """The document, by the strict loader (collectors.yamlsafe); its data is a mapping."""
    try:
        document = parse_yaml(text, file, what=f"the {name}")
    except YamlError as exc:
        raise MaturityConfigError([str(exc)]) from None
    if not isinstance(document.data, dict):
        raise MaturityConfigError([f"{file}: the {name} must be a YAML mapping"])
    return document


_M = TypeVar("_M", bound=BaseModel)


def _validated(model: type[_M], text: str | bytes, name: str,
               file: str) -> tuple[_M, _Reporter]:
    """The file parsed strictly and validated as ``model``, with a reporter for the
    semantic checks that follow; validation errors leave as MaturityConfigError with
    ``file:line: key`` for each (the rules, assessments and playbooks files share this).
    """
    document = _parse_yaml(text, name, file)
    report = _Reporter(file, document)
    try:
        return model.model_validate(document.data), report
    except ValidationError as exc:
        report.add_validation(exc)
        raise MaturityConfigError(report.problems) from None


def _guarded(name: str, file: str, parse: Any, *args: Any) -> Any:
    """Run a parser so that only MaturityConfigError leaves it, naming the file.

    Reload keeps the previous model on MaturityConfigError; any other exception from a
    hostile file would crash it instead.
    """
    try:
        return parse(*args)
    except MaturityConfigError:
        raise
    except Exception as exc:
        raise MaturityConfigError([f"{file}: cannot validate the {name}: "
                                   f"{type(exc).__name__}: {exc}"]) from None


def _check_selector(report: _Reporter, loc: tuple[Any, ...], metric: str,
                    labels: Mapping[str, str]) -> None:
    if metric not in METRIC_LABELS:
        report.add((*loc, "metric"), f"unknown metric {metric!r}; known metrics: "
                   + ", ".join(sorted(METRIC_LABELS)))
        return
    wanted = set(METRIC_LABELS[metric])
    given = set(labels)
    if given != wanted:
        need = ", ".join(sorted(wanted)) or "none"
        report.add((*loc, "labels"), f"{metric} needs exactly the labels: {need} "
                   f"(got: {', '.join(sorted(given)) or 'none'})")
        return
    for name, value in labels.items():
        allowed = LABEL_VALUES.get(name)
        if allowed is not None and value not in allowed:
            report.add((*loc, "labels", name),
                       f"{value!r} is not a {name}; use one of: {', '.join(allowed)}")


def parse_rules(text: str | bytes, file: str) -> RulesFile:
    """Validate a rules file's text; raise MaturityConfigError naming every problem.

    ``text`` may be the file's bytes (UTF-8, an optional BOM); nothing but
    MaturityConfigError is raised, whatever they hold.
    """
    return _guarded("rules file", file, _parse_rules, text, file)


def _parse_rules(text: str | bytes, file: str) -> RulesFile:
    rules, report = _validated(RulesFile, text, "rules file", file)
    for domain in rules.domains:
        if domain not in DOMAINS:
            report.add(("domains", domain), f"unknown domain {domain!r}; the domains are: "
                       + ", ".join(DOMAINS))
    for domain in DOMAINS:
        if domain not in rules.domains:
            report.add(("domains",), f"domain {domain!r} is missing (all eight are required)")
    for domain, domain_rules in rules.domains.items():
        seen: set[str] = set()
        for level in domain_rules.levels:
            if level not in RULE_LEVELS:
                report.add(("domains", domain, "levels", level),
                           f"level {level} is not allowed: rules name levels 2-5 "
                           "(level 1 is the floor every domain starts at)")
        for level in RULE_LEVELS:
            criteria = domain_rules.levels.get(level)
            if not criteria:
                report.add(("domains", domain, "levels"),
                           f"level {level} has no criteria (each of levels 2-5 needs at least "
                           "one, or it would be reached for free)")
                continue
            for index, criterion in enumerate(criteria):
                loc = ("domains", domain, "levels", level, index)
                if criterion.id in seen:
                    report.add((*loc, "id"), f"duplicate criterion id {criterion.id!r} in "
                               f"domain {domain}")
                seen.add(criterion.id)
                if criterion.kind != "attestation":
                    _check_selector(report, loc, criterion.metric, criterion.labels)
    outcome_ids: set[str] = set()
    for index, outcome in enumerate(rules.outcomes):
        if outcome.id in outcome_ids:
            report.add(("outcomes", index, "id"), f"duplicate outcome id {outcome.id!r}")
        outcome_ids.add(outcome.id)
        _check_selector(report, ("outcomes", index), outcome.metric, outcome.labels)
    if report.problems:
        raise MaturityConfigError(report.problems)
    return rules


def load_rules(path: Path | None) -> tuple[RulesFile, str]:
    """Load the rules file at ``path``, or the bundled default when ``path`` is None."""
    if path is None:
        name = f"<bundled {DEFAULT_RULES}>"
        text = resources.files("exporter.maturity").joinpath(DEFAULT_RULES).read_text("utf-8")
        return parse_rules(text, name), name
    return parse_rules(_read_bytes(path, "rules file"), str(path)), str(path)


def parse_assessments(text: str | bytes, file: str, rules: RulesFile) -> AssessmentsFile:
    """Validate an assessments file against the rules it attests criteria of.

    Like :func:`parse_rules`, raises only MaturityConfigError.
    """
    return _guarded("assessments file", file, _parse_assessments, text, file, rules)


def _parse_assessments(text: str | bytes, file: str, rules: RulesFile) -> AssessmentsFile:
    assessments, report = _validated(AssessmentsFile, text, "assessments file", file)
    for domain, entry in assessments.domains.items():
        loc = ("domains", domain)
        if domain not in DOMAINS:
            report.add(loc, f"unknown domain {domain!r}; the domains are: " + ", ".join(DOMAINS))
            continue
        ids: set[str] = set()
        for index, item in enumerate(entry.evidence):
            if item.id is not None:
                if item.id in ids:
                    report.add((*loc, "evidence", index, "id"),
                               f"duplicate evidence id {item.id!r}")
                ids.add(item.id)
        for criterion_id, refs in entry.attestations.items():
            here = (*loc, "attestations", criterion_id)
            found = rules.find(domain, criterion_id)
            if found is None:
                attestable = sorted(c.id for level in RULE_LEVELS
                                    for c in rules.domains[domain].levels.get(level, [])
                                    if c.kind == "attestation")
                report.add(here, f"no criterion {criterion_id!r} in domain {domain}; attestable "
                           f"criteria: {', '.join(attestable) or 'none'}")
                continue
            if found[1].kind != "attestation":
                report.add(here, f"criterion {criterion_id!r} is measured ({found[1].kind} on "
                           f"{found[1].metric}); only attestation criteria can be attested")
                continue
            if not refs:
                report.add(here, "an attestation must name at least one evidence id")
            for ref in refs:
                if ref not in ids:
                    defined = ", ".join(sorted(ids)) or "none"
                    report.add(here, f"evidence id {ref!r} is not defined in "
                               f"domains.{domain}.evidence (defined: {defined})")
    if report.problems:
        raise MaturityConfigError(report.problems)
    return assessments


def load_assessments(path: Path, rules: RulesFile) -> AssessmentsFile:
    return parse_assessments(_read_bytes(path, "assessments file"), str(path), rules)


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
