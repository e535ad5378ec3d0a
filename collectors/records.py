"""Normalized records: the one vocabulary every collector returns and the store keeps.

All timestamps are timezone-aware UTC datetimes. A record that breaks an invariant
(fixed without a fix time, resolved before it opened, ...) raises ``ValueError`` at
construction, so a malformed source row is rejected where it is read, with its
position, instead of skewing a derived metric later.

Each record class is declared a kind with ``@record_kind`` (``collectors/kinds.py``):
that one declaration gives the store its table, the file collector its parsing and
the README its field reference. Adding a kind is: its enum value in ``RecordKind``,
its dataclass with ``@record_kind``, a migration step ``KINDS[kind].create_sql()`` in
``exporter/store.py``, a derivation module, its rules and its docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from collectors.kinds import KINDS, Column, KindSpec, record_kind


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FindingState(StrEnum):
    OPEN = "open"
    FIXED = "fixed"
    DISMISSED = "dismissed"


class Disposition(StrEnum):
    """How a SIEM alert was triaged. Only ``actionable`` counts as signal."""

    ACTIONABLE = "actionable"
    FALSE_POSITIVE = "false_positive"
    BENIGN = "benign"
    UNDETERMINED = "undetermined"
    UNTRIAGED = "untriaged"


class RecordKind(StrEnum):
    FINDING = "finding"
    REPOSITORY = "repository"
    INCIDENT = "incident"
    SIEM_ALERT = "siem_alert"
    # The measured domains (DESIGN, "Measuring every domain") add their members here
    # and declare their records in their own modules, imported at the end of this one.
    IDENTITY_ACCOUNT = "identity_account"
    APPLICATION = "application"
    PRIVILEGED_ASSIGNMENT = "privileged_assignment"
    OFFBOARDING = "offboarding"
    ACCESS_REVIEW = "access_review"
    DETECTION_RULE = "detection_rule"
    WORKLOAD = "workload"
    ARTIFACT = "artifact"
    TRAINING_RECORD = "training_record"
    POSTURE_RESULT = "posture_result"
    SCAN_TARGET = "scan_target"


# Stored integer codes of every enum a record holds. A code once written to a store
# keeps its meaning for good: new values get new codes, none is ever reused.
SEVERITY_CODES = {"critical": 0, "high": 1, "medium": 2, "low": 3}
STATE_CODES = {"open": 0, "fixed": 1, "dismissed": 2}
DISPOSITION_CODES = {
    "untriaged": 0, "actionable": 1, "false_positive": 2, "benign": 3, "undetermined": 4,
}
ENUM_CODES = {Severity: SEVERITY_CODES, FindingState: STATE_CODES,
              Disposition: DISPOSITION_CODES}
UNREADABLE = "empty = could not be read"


def _require_utc(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware")


def _require_order(earlier_name: str, earlier: datetime | None,
                   later_name: str, later: datetime | None) -> None:
    if earlier is not None and later is not None and later < earlier:
        # No values in the message: collectors log it, and a timestamp can identify
        # a person's activity.
        raise ValueError(f"{later_name} is before {earlier_name}")


# A dated snapshot's observation time, on every point-in-time kind (a state that a
# source cannot be asked about later: repository settings, directory accounts, rules,
# workloads, posture results). "Current" (None) is stored as observation time 0, so
# that the column can be part of the key: one id may appear once per observation.
OBSERVED_AT = Column(name="observed", key=True, none_as=0.0)


def observed_at_doc(what: str) -> str:
    """The field reference's note on ``observed_at``, naming what the snapshot holds."""
    return (f"when this snapshot of {what} was taken; empty = as of the run (the current "
            "state). One `id` may appear once per `observed_at`")


def _require_observed_at(value: datetime | None) -> None:
    """A snapshot time is UTC and after the epoch (0 is stored for "current")."""
    _require_utc("observed_at", value)
    if value is not None and value.timestamp() <= 0:
        # The store keeps "current" as observation time 0: a snapshot dated at or
        # before the epoch would be read as current.
        raise ValueError("observed_at must be after 1970-01-01")


def _require_id(record_id: str, source: str) -> None:
    if not record_id:
        raise ValueError("id must not be empty")
    if not source:
        raise ValueError("source must not be empty")


@record_kind(RecordKind.FINDING, table="findings", section="findings", codes=ENUM_CODES,
             docs={
                 "id": "unique per source",
                 "source": "default: the collector name",
                 "opened_at": "start of the SLA clock",
                 "resolved_at": "required for fixed / dismissed; not allowed while open",
                 "disclosed_at": "advisory publication, for the exposure window",
                 "category": "`internal_report` for reports by the organisation's own "
                             "people",
             })
@dataclass(frozen=True, slots=True)
class Finding:
    """A vulnerability or weakness, from a scanner alert or a ticket.

    ``resolved_at`` is when it was fixed or dismissed; it is required for both and
    forbidden while open (a reopened finding is open again, with its original
    ``opened_at``, so its SLA clock keeps running from the first report).
    ``disclosed_at`` is when the underlying advisory was published, where known.
    """

    id: str
    source: str
    severity: Severity
    opened_at: datetime
    state: FindingState = FindingState.OPEN
    resolved_at: datetime | None = None
    dismissed_reason: str | None = None
    asset: str | None = None
    cve_ids: tuple[str, ...] = ()
    disclosed_at: datetime | None = None
    category: str | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_utc("opened_at", self.opened_at)
        _require_utc("resolved_at", self.resolved_at)
        _require_utc("disclosed_at", self.disclosed_at)
        if self.state is FindingState.OPEN and self.resolved_at is not None:
            raise ValueError("an open finding cannot have resolved_at")
        if self.state is not FindingState.OPEN and self.resolved_at is None:
            raise ValueError(f"a {self.state.value} finding needs resolved_at")
        _require_order("opened_at", self.opened_at, "resolved_at", self.resolved_at)


@record_kind(
    RecordKind.REPOSITORY, table="repositories", section="repositories", codes=ENUM_CODES,
    columns={"observed_at": OBSERVED_AT},
    docs={
        "id": "unique per source",
        "source": "default: the collector name",
        "sast_enabled": UNREADABLE,
        "review_gate_tier": "0-5: 0 none; 1 force-push and deletion blocked; 2 + one "
                            "required review; 3 + required status checks; 4 + two reviews or "
                            "code owners; 5 + stale reviews dismissed and admins included",
        "secret_scanning": UNREADABLE,
        "push_protection": UNREADABLE,
        "dependency_alerts": UNREADABLE,
        "required_review": "at least one approving review required by any active protection "
                           "or ruleset, whatever else is allowed; empty = unknown (then tier "
                           ">= 2 counts as yes)",
        "observed_at": observed_at_doc("the settings"),
        "sbom": "the dependency graph's SBOM export is available; " + UNREADABLE,
        "pinned_actions": "every third-party action in its workflows is pinned to a full "
                          "commit SHA; " + UNREADABLE,
        "egress_control": "every workflow job runs with an egress policy that blocks; "
                          + UNREADABLE,
        "scorecard_score": "OpenSSF Scorecard aggregate score, 0-10 (rounded to an "
                           "integer); empty = not scored",
        "reconstructed": "derived from the source's own history rather than observed then "
                         "(e.g. SAST coverage rebuilt from code scanning analyses' dates); "
                         "needs `observed_at`",
    })
@dataclass(frozen=True, slots=True)
class Repository:
    """A source repository and the security settings seen on it.

    ``None`` on a setting means "could not be read" (missing permission, API not
    available), which is different from ``False`` ("read, and off"). Coverage shares
    count only repositories whose setting is known.

    ``review_gate_tier`` scores the default branch's protection in the spirit of
    OpenSSF Scorecard's Branch-Protection check: 0 none; 1 force-push and deletion
    blocked; 2 plus at least one required review; 3 plus required status checks;
    4 plus two or more reviews or code-owner review; 5 plus stale reviews dismissed
    and rules enforced for administrators.

    ``observed_at`` dates a snapshot of these settings (an export of how the repository
    was configured then); ``None`` means "as of this run", the current state. Dated
    snapshots of earlier quarters give those quarters their coverage shares, so a
    fresh install has a previous quarter to compare with. Several snapshots of one
    repository coexist; within a quarter the latest one counts.

    ``reconstructed`` marks a dated snapshot that was not observed at its time but
    derived from the source's own history (the GitHub collector rebuilds the previous
    quarter's SAST coverage from code scanning analyses' dates); only the settings the
    history shows are set, the others are unknown, and ``explain`` names such values
    "reconstructed".
    """

    id: str
    source: str
    name: str
    archived: bool = False
    fork: bool = False
    sast_enabled: bool | None = None
    sast_tools: tuple[str, ...] = ()
    review_gate_tier: int | None = None
    secret_scanning: bool | None = None
    push_protection: bool | None = None
    dependency_alerts: bool | None = None
    topics: tuple[str, ...] = ()
    required_review: bool | None = None
    observed_at: datetime | None = None
    sbom: bool | None = None
    pinned_actions: bool | None = None
    egress_control: bool | None = None
    scorecard_score: int | None = None
    reconstructed: bool = False

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        if not self.name:
            raise ValueError("name must not be empty")
        _require_observed_at(self.observed_at)
        if self.review_gate_tier is not None and not 0 <= self.review_gate_tier <= 5:
            raise ValueError("review_gate_tier must be between 0 and 5")
        if self.scorecard_score is not None and not 0 <= self.scorecard_score <= 10:
            raise ValueError("scorecard_score must be between 0 and 10")
        if self.reconstructed and self.observed_at is None:
            raise ValueError("a reconstructed snapshot needs observed_at")


@record_kind(RecordKind.INCIDENT, table="incidents", section="incidents", codes=ENUM_CODES,
             docs={
                 "id": "unique per source",
                 "source": "default: the collector name",
                 "started_at": "started <= detected <= contained, resolved",
                 "postmortem": "empty = unknown",
             })
@dataclass(frozen=True, slots=True)
class Incident:
    """A security incident's timeline: started, detected, contained, resolved."""

    id: str
    source: str
    detected_at: datetime
    severity: Severity | None = None
    started_at: datetime | None = None
    contained_at: datetime | None = None
    resolved_at: datetime | None = None
    postmortem: bool | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        for name in ("started_at", "detected_at", "contained_at", "resolved_at"):
            _require_utc(name, getattr(self, name))
        _require_order("started_at", self.started_at, "detected_at", self.detected_at)
        _require_order("detected_at", self.detected_at, "contained_at", self.contained_at)
        _require_order("detected_at", self.detected_at, "resolved_at", self.resolved_at)


@record_kind(RecordKind.SIEM_ALERT, table="siem_alerts", section="siem_alerts",
             codes=ENUM_CODES,
             docs={
                 "id": "unique per source",
                 "source": "default: the collector name",
                 "triaged_at": "first status change",
             })
@dataclass(frozen=True, slots=True)
class SiemAlert:
    """A SIEM detection alert and how it was triaged."""

    id: str
    source: str
    created_at: datetime
    disposition: Disposition = Disposition.UNTRIAGED
    triaged_at: datetime | None = None
    rule: str | None = None
    severity: Severity | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_utc("created_at", self.created_at)
        _require_utc("triaged_at", self.triaged_at)
        _require_order("created_at", self.created_at, "triaged_at", self.triaged_at)


Record = Finding | Repository | Incident | SiemAlert

# The measured domains' kinds, one module per family. They import this module, so they
# come last; a kind in RecordKind whose module declares nothing yet is simply unused.
from collectors import (  # noqa: E402
    records_detection,  # noqa: F401
    records_identity,  # noqa: F401
    records_posture,  # noqa: F401
    records_scans,  # noqa: F401
    records_supply_chain,  # noqa: F401
)

KIND_OF: dict[type, RecordKind] = {spec.cls: kind for kind, spec in KINDS.items()}
__all__ = ["KINDS", "KindSpec"]  # re-exported: the declarations, for the store and docs


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
