"""Supply chain and security culture record kinds: Artifact, TrainingRecord.

See DESIGN, "Measuring every domain". An artifact is a built release asset or
container image, keyed by its digest, with what is known of its provenance. A
training record is one person's enrolment in one course; the person is a stable
pseudonymous key (``collectors.records_identity.pseudonym``), never a name or e-mail,
so that completion can be counted per person without the store knowing who.

Declared with ``@record_kind`` as in ``collectors/records.py``; imported at the end of
that module so that the declarations are registered with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from collectors.kinds import record_kind
from collectors.records import RecordKind, _require_id, _require_utc

SLSA_MAX_BUILD_LEVEL = 3  # SLSA v1.0 build track: L0 .. L3


@record_kind(RecordKind.ARTIFACT, table="artifacts", section="artifacts",
             docs={
                 "id": "the artifact's digest (e.g. `sha256:...`)",
                 "source": "default: the collector name",
                 "repository": "the source repository it was built from (owner/name)",
                 "created_at": "when it was built or released; counts in that quarter",
                 "attested": "a signed provenance attestation exists; empty = could not "
                             "be read (e.g. private repositories without GitHub Enterprise "
                             "Cloud), which is unknown, not unsigned",
                 "slsa_build_level": "0-3, the SLSA build level its provenance supports; "
                                     "empty = unknown",
                 "sbom": "an SBOM is attached to or attested for it; empty = unknown",
             })
@dataclass(frozen=True, slots=True)
class Artifact:
    """A built artifact (release asset, container image) and its provenance."""

    id: str
    source: str
    repository: str
    created_at: datetime
    attested: bool | None = None
    slsa_build_level: int | None = None
    sbom: bool | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        if not self.repository:
            raise ValueError("repository must not be empty")
        _require_utc("created_at", self.created_at)
        level = self.slsa_build_level
        if level is not None and not 0 <= level <= SLSA_MAX_BUILD_LEVEL:
            raise ValueError("slsa_build_level must be between 0 and 3")
        if level is not None and level >= 2 and self.attested is False:
            # SLSA Build L2 and above require signed provenance.
            raise ValueError("slsa_build_level 2 or 3 needs a provenance attestation")


@record_kind(RecordKind.TRAINING_RECORD, table="training_records",
             section="training_records",
             docs={
                 "id": "unique per source (one enrolment)",
                 "source": "default: the collector name",
                 "person": "pseudonymous key (never a name, e-mail or directory id)",
                 "in_scope": "in the developer population the config defines",
                 "course": "the course or campaign name",
                 "completed_at": "empty = enrolled, not completed",
             })
@dataclass(frozen=True, slots=True)
class TrainingRecord:
    """One person's enrolment in a security course, and when they completed it."""

    id: str
    source: str
    person: str
    in_scope: bool = True
    course: str | None = None
    completed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        if not self.person:
            raise ValueError("person must not be empty")
        _require_utc("completed_at", self.completed_at)


SupplyChainRecord = Artifact | TrainingRecord
