"""Cloud posture record kinds: PostureResult.

See DESIGN, "Measuring every domain".

Declared with ``@record_kind`` as in ``collectors/records.py``; imported at the end of
that module so that the declarations are registered with the others.

A posture result is one check on one resource of one cloud account (a CSPM's row:
Prowler, Security Hub, Defender for Cloud). It is not a vulnerability: derivation
keeps posture results out of every ``vulnerability_*`` metric.

A result may carry a dated snapshot time, ``observed_at``, as repositories do
(``collectors/records.py``): an export of the CSPM's results as of that moment. The
passing and scanned shares of a quarter the exporter did not see live come from such
snapshots; the lifecycle times cannot give them (see ``exporter/derive/posture.py``).
Live collectors (Prowler) write undated results, the state as of the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from collectors.kinds import Column, record_kind
from collectors.records import (
    ENUM_CODES,
    OBSERVED_AT,
    RecordKind,
    Severity,
    _require_id,
    _require_observed_at,
    _require_order,
    _require_utc,
    observed_at_doc,
)


class Provider(StrEnum):
    """The cloud a result belongs to; any other platform a CSPM scans is ``other``."""

    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    KUBERNETES = "kubernetes"
    OTHER = "other"


class PostureStatus(StrEnum):
    """A check's verdict. ``manual`` (needs a person to judge) counts as neither."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    MANUAL = "manual"


PROVIDER_CODES = {"aws": 0, "azure": 1, "gcp": 2, "kubernetes": 3, "other": 4}
POSTURE_STATUS_CODES = {"pass": 0, "fail": 1, "manual": 2}
POSTURE_CODES = {**ENUM_CODES, Provider: PROVIDER_CODES,
                 PostureStatus: POSTURE_STATUS_CODES}

# A framework family is a label value: short, lower case, bounded by configuration.
FRAMEWORK_FAMILY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@record_kind(RecordKind.POSTURE_RESULT, table="posture_results", section="posture_results",
             codes=POSTURE_CODES,
             # CHECK is an SQL keyword: the column is named check_id.
             columns={"check": Column(name="check_id"), "observed_at": OBSERVED_AT},
             docs={
                 "id": "one check on one resource, unique per source (never a label)",
                 "source": "default: the collector name",
                 "account": "cloud account, subscription, project or cluster (never a "
                            "label)",
                 "resource": "the resource checked (never a label)",
                 "check": "the CSPM's check id",
                 "service": "cloud service of the check (`iam`, `s3`, ...); the "
                            "identity services count for the IAM ratio",
                 "status": "the latest verdict; `fail` with `resolved_at` set means no "
                           "longer present (gone from a complete scan after failing)",
                 "muted": "suppressed in the CSPM: counts as neither pass nor fail",
                 "frameworks": "normalized framework families (`cis`, `nist`, `pci`, "
                               "`iso27001`, `soc2`, `aws_fsbp`, ...)",
                 "first_seen_at": "start of the latest failing episode (the SLA clock); "
                                  "for a result that never failed, first seen",
                 "last_seen_at": "the latest scan that contained the result",
                 "resolved_at": "when the latest failing episode ended: the result passed, "
                                "or disappeared from a complete scan of its account; "
                                "empty while failing",
                 "observed_at": observed_at_doc("the result") + "; not before "
                                "`last_seen_at`",
             })
@dataclass(frozen=True, slots=True)
class PostureResult:
    """One CSPM check on one resource, with the lifecycle of its latest failure.

    ``status`` is ``fail`` with ``resolved_at`` set when the result is no longer
    present: it failed, then disappeared from a later complete scan of its account
    (remediated, or the resource is gone), or it passed and disappeared later. Such a
    result counts for MTTR and SLA, not as a present resource.

    ``observed_at`` dates a snapshot of this result (``None``: as of this run). Several
    snapshots of one result coexist; within a quarter the latest one counts.
    """

    id: str
    source: str
    provider: Provider
    account: str
    resource: str
    check: str
    severity: Severity
    status: PostureStatus
    first_seen_at: datetime
    last_seen_at: datetime
    service: str | None = None
    muted: bool = False
    frameworks: tuple[str, ...] = ()
    resolved_at: datetime | None = None
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        for name in ("account", "resource", "check"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        for name in ("first_seen_at", "last_seen_at", "resolved_at"):
            _require_utc(name, getattr(self, name))
        _require_order("first_seen_at", self.first_seen_at, "last_seen_at",
                       self.last_seen_at)
        _require_order("first_seen_at", self.first_seen_at, "resolved_at", self.resolved_at)
        _require_observed_at(self.observed_at)
        # A snapshot holds the scans made by the time it was taken, never a later one.
        _require_order("last_seen_at", self.last_seen_at, "observed_at", self.observed_at)
        if self.status is PostureStatus.MANUAL and self.resolved_at is not None:
            raise ValueError("a manual result cannot have resolved_at")
        for family in self.frameworks:
            if not FRAMEWORK_FAMILY.match(family):
                raise ValueError("frameworks must be lower-case family names")
