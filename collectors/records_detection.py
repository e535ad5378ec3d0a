"""Detection coverage and telemetry record kinds: DetectionRule, Workload.

See DESIGN, "Measuring every domain".

Both are states a SIEM or an inventory cannot be asked about later (which rules ran
last quarter?): each record may carry a dated snapshot time, ``observed_at``, as
repositories do (``collectors/records.py``). An undated record is the state as of the
run; dated snapshots of an earlier quarter give that quarter its coverage, so a fresh
install has a previous quarter to compare with. Live collectors write undated records.

Declared with ``@record_kind`` as in ``collectors/records.py``; imported at the end of
that module so that the declarations are registered with the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from collectors.kinds import record_kind
from collectors.records import (
    OBSERVED_AT,
    RecordKind,
    _require_id,
    _require_observed_at,
    _require_utc,
    observed_at_doc,
)


class RuleKind(StrEnum):
    """What a detection rule is, as far as the maturity levels care."""

    QUERY = "query"
    THRESHOLD = "threshold"
    MACHINE_LEARNING = "machine_learning"
    CORRELATION = "correlation"
    OTHER = "other"


class Telemetry(StrEnum):
    """Security telemetry of a workload: only ``healthy`` counts as covered."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    NONE = "none"
    UNKNOWN = "unknown"


RULE_KIND_CODES = {"query": 0, "threshold": 1, "machine_learning": 2, "correlation": 3,
                   "other": 4}
TELEMETRY_CODES = {"unknown": 0, "healthy": 1, "unhealthy": 2, "none": 3}

_TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")


def normalize_technique(value: str) -> str | None:
    """``T1059.001`` for `` t1059.001 ``; ``None`` when it is no ATT&CK technique id.

    Collectors map what a SIEM stores (often lower case, sometimes with spaces) through
    this and count anything else as an unmapped value rather than guessing.
    """
    text = value.strip().upper()
    return text if _TECHNIQUE_ID.match(text) else None


def normalize_host(value: str) -> str:
    """The join key of a workload: lower case, no trailing dot, the first DNS label.

    ``WEB-1.corp.example.`` and ``web-1`` are one workload; an instance id
    (``i-0abc...``) or an IP address is kept whole.
    """
    text = value.strip().lower().rstrip(".")
    if re.fullmatch(r"[\d.]+|[0-9a-f:]+", text):
        return text
    return text.split(".", 1)[0]


@record_kind(RecordKind.DETECTION_RULE, table="detection_rules", section="detection_rules",
             codes={RuleKind: RULE_KIND_CODES}, columns={"observed_at": OBSERVED_AT},
             docs={
                 "id": "the SIEM's rule id, unique per source (never a label)",
                 "source": "default: the collector name",
                 "enabled": "an enabled rule runs and counts for coverage",
                 "techniques": "MITRE ATT&CK technique or sub-technique ids (`T1059`, "
                               "`T1059.001`); a sub-technique covers its parent",
                 "observed_at": observed_at_doc("the rule"),
             })
@dataclass(frozen=True, slots=True)
class DetectionRule:
    """A SIEM detection rule, whether it runs, and which ATT&CK techniques it maps to."""

    id: str
    source: str
    enabled: bool
    kind: RuleKind = RuleKind.OTHER
    techniques: tuple[str, ...] = ()
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_observed_at(self.observed_at)
        for technique in self.techniques:
            if normalize_technique(technique) != technique:
                # The value is not echoed: it came from the source verbatim.
                raise ValueError("techniques must be ATT&CK ids such as T1059 or T1059.001")


@record_kind(RecordKind.WORKLOAD, table="workloads", section="workloads",
             codes={Telemetry: TELEMETRY_CODES}, columns={"observed_at": OBSERVED_AT},
             docs={
                 "id": "normalized host name or instance id: the join key across sources",
                 "source": "default: the collector name",
                 "kind": "free text, e.g. `host`, `vm`, `container_node`",
                 "telemetry": "inventory sources give `unknown`; agent sources the agent's "
                              "status",
                 "last_seen_at": "the agent's last check-in, where known",
                 "observed_at": observed_at_doc("the workload"),
             })
@dataclass(frozen=True, slots=True)
class Workload:
    """A workload (host, VM, node) and the state of its security telemetry."""

    id: str
    source: str
    kind: str | None = None
    telemetry: Telemetry = Telemetry.UNKNOWN
    last_seen_at: datetime | None = None
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_utc("last_seen_at", self.last_seen_at)
        _require_observed_at(self.observed_at)
