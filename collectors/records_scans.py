"""Scanner coverage record kinds: ScanTarget.

See DESIGN, "Measuring every domain" (``devsecops_repository_coverage_ratio{setting=
"dast"}``: a DAST report younger than the configured age) and issue 18.

Declared with ``@record_kind`` as in ``collectors/records.py``; imported at the end of
that module so that the declarations are registered with the others.

A scan target is one tool's stream of scans of one target (a repository, an image, a
URL): when it was last scanned at all, and when last completely. It is a coverage
fact, not a finding: a clean scan has no finding and still proves the target is
scanned. The ``reports`` collector derives it from the reports it reads; any other
tool can supply it through the ``file`` collector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from collectors.kinds import record_kind
from collectors.records import ENUM_CODES, RecordKind, _require_id, _require_order, _require_utc


class ScanCategory(StrEnum):
    """What kind of testing a tool's scan is; a finding's ``category`` uses the same words."""

    SAST = "sast"
    SCA = "sca"
    SECRET = "secret"  # noqa: S105 (a category, not a password)
    DAST = "dast"
    IAC = "iac"


SCAN_CATEGORY_CODES = {"sast": 0, "sca": 1, "secret": 2, "dast": 3, "iac": 4}
SCAN_CODES = {**ENUM_CODES, ScanCategory: SCAN_CATEGORY_CODES}


@record_kind(RecordKind.SCAN_TARGET, table="scan_targets", section="scan_targets",
             codes=SCAN_CODES,
             docs={
                 "id": "unique per source; the reports collector uses `<tool>:<target>`",
                 "source": "default: the collector name",
                 "target": "what was scanned: repository name, image, URL (mapped by the "
                           "collector's `targets`); never a metric label",
                 "tool": "the scanner, e.g. `trivy`, `zap`, `sarif:codeql`",
                 "category": "the kind of testing the tool's scans are",
                 "last_scan_at": "the newest scan, complete or partial",
                 "last_complete_scan_at": "the newest scan that neither errored nor was "
                                          "cut short; empty = none yet",
             })
@dataclass(frozen=True, slots=True)
class ScanTarget:
    """One tool's latest scans of one target: the fact coverage shares rest on."""

    id: str
    source: str
    target: str
    tool: str
    category: ScanCategory
    last_scan_at: datetime
    last_complete_scan_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        if not self.target:
            raise ValueError("target must not be empty")
        if not self.tool:
            raise ValueError("tool must not be empty")
        _require_utc("last_scan_at", self.last_scan_at)
        _require_utc("last_complete_scan_at", self.last_complete_scan_at)
        _require_order("last_complete_scan_at", self.last_complete_scan_at,
                       "last_scan_at", self.last_scan_at)
