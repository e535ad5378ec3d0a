"""Identity and access record kinds.

IdentityAccount, Application, PrivilegedAssignment, Offboarding, AccessReview.

See DESIGN, "Measuring every domain". The store keeps only what the identity
definitions need: no names, no e-mail addresses. Where a join needs a person (a
privileged assignment's principal, an offboarding's account), collectors put a
pseudonymous key (:func:`pseudonym`), never the directory's own identifier.

Accounts, applications and privileged assignments are states a directory cannot be
asked about later (what did MFA coverage look like last quarter?): each may carry a
dated snapshot time, ``observed_at``, as repositories do (``collectors/records.py``).
An undated record is the state as of the run; dated snapshots of an earlier quarter
give that quarter its shares, so a fresh install has a previous quarter to compare
with. Live collectors write undated records only.

Declared with ``@record_kind`` as in ``collectors/records.py``; imported at the end of
that module so that the declarations are registered with the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from collectors.kinds import record_kind
from collectors.records import (
    OBSERVED_AT,
    RecordKind,
    _require_id,
    _require_observed_at,
    _require_order,
    _require_utc,
    observed_at_doc,
)


class AccountKind(StrEnum):
    HUMAN = "human"
    WORKLOAD = "workload"  # a service principal, service account, machine user
    GUEST = "guest"  # an external (B2B) human account


class MfaStatus(StrEnum):
    """Whether an account can satisfy MFA; ``unknown`` is left out of coverage."""

    UNKNOWN = "unknown"
    CAPABLE = "capable"
    NOT_CAPABLE = "not_capable"


class SignOn(StrEnum):
    """How an application signs users on; only ``federated`` goes through the IdP."""

    UNKNOWN = "unknown"
    FEDERATED = "federated"  # SAML, OIDC, WS-Fed through the identity provider
    PASSWORD = "password"  # noqa: S105 - password-vaulted or its own password
    NONE = "none"  # no sign-on configured (a bookmark, a link)


class AssignmentType(StrEnum):
    """A privileged role held standing (``permanent``) or only activatable (``eligible``)."""

    PERMANENT = "permanent"
    ELIGIBLE = "eligible"


class ReviewScope(StrEnum):
    PRIVILEGED = "privileged"  # privileged roles and groups
    ALL = "all"  # every access (groups, applications, all users)


# Stored codes: once written, a code keeps its meaning; new values get new codes.
IDENTITY_CODES = {
    AccountKind: {"human": 0, "workload": 1, "guest": 2},
    MfaStatus: {"unknown": 0, "capable": 1, "not_capable": 2},
    SignOn: {"unknown": 0, "federated": 1, "password": 2, "none": 3},
    AssignmentType: {"permanent": 0, "eligible": 1},
    ReviewScope: {"privileged": 0, "all": 1},
}
PSEUDONYM_DOC = "pseudonymous key (never a name, e-mail or directory id)"


def pseudonym(*parts: str) -> str:
    """A stable pseudonymous key for a directory identifier, for joins without the id.

    The same parts give the same key on every run (so records join across kinds and
    runs), but the key does not reveal the identifier. ``parts`` should include the
    tenant or organisation, so that keys of different tenants never collide.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


@record_kind(RecordKind.IDENTITY_ACCOUNT, table="identity_accounts",
             section="identity_accounts", codes=IDENTITY_CODES,
             columns={"observed_at": OBSERVED_AT},
             docs={
                 "id": PSEUDONYM_DOC,
                 "source": "default: the collector name",
                 "kind": "`guest` accounts count in MFA coverage only when "
                         "`identity.count_guests` is set",
                 "active": "enabled (not disabled, not deleted)",
                 "privileged": "holds a privileged role, permanently or as eligible; "
                               "empty = unknown",
                 "mfa": "can satisfy MFA (a registered strong method)",
                 "static_credential": "workload identity holding a long-lived secret, "
                                      "password or key; empty = could not be read",
                 "observed_at": observed_at_doc("the account"),
             })
@dataclass(frozen=True, slots=True)
class IdentityAccount:
    """An account of the directory: a person, a guest or a workload identity."""

    id: str
    source: str
    kind: AccountKind = AccountKind.HUMAN
    active: bool = True
    privileged: bool | None = None
    mfa: MfaStatus = MfaStatus.UNKNOWN
    static_credential: bool | None = None
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_observed_at(self.observed_at)


@record_kind(RecordKind.APPLICATION, table="applications", section="applications",
             codes=IDENTITY_CODES, columns={"observed_at": OBSERVED_AT},
             docs={
                 "id": "unique per source",
                 "source": "default: the collector name",
                 "production": "from a tag, label or config pattern; when no application "
                               "is production, SSO coverage counts all active ones",
                 "sign_on": "`federated` = through the identity provider",
                 "observed_at": observed_at_doc("the application"),
             })
@dataclass(frozen=True, slots=True)
class Application:
    """An application users sign on to, and whether it goes through the IdP."""

    id: str
    source: str
    active: bool = True
    production: bool = False
    sign_on: SignOn = SignOn.UNKNOWN
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_observed_at(self.observed_at)


@record_kind(RecordKind.PRIVILEGED_ASSIGNMENT, table="privileged_assignments",
             section="privileged_assignments", codes=IDENTITY_CODES,
             columns={"observed_at": OBSERVED_AT},
             docs={
                 "id": "unique per source",
                 "source": "default: the collector name",
                 "principal": PSEUDONYM_DOC,
                 "role": "the privileged role's name (e.g. Global Administrator)",
                 "assignment": "`eligible` = activated just in time",
                 "break_glass": "an emergency account (from config): left out of JIT and "
                                "standing counts",
                 "observed_at": observed_at_doc("the assignment"),
             })
@dataclass(frozen=True, slots=True)
class PrivilegedAssignment:
    """A principal holding a privileged role, standing or just-in-time."""

    id: str
    source: str
    principal: str
    role: str
    assignment: AssignmentType
    break_glass: bool = False
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_observed_at(self.observed_at)
        if not self.principal:
            raise ValueError("principal must not be empty")
        if not self.role:
            raise ValueError("role must not be empty")


@record_kind(RecordKind.OFFBOARDING, table="offboardings", section="offboardings",
             codes=IDENTITY_CODES,
             docs={
                 "id": PSEUDONYM_DOC,
                 "source": "default: the collector name",
                 "left_at": "end of employment or contract (HR, leave date, ticket)",
                 "access_removed_at": "account disabled or deleted; empty = still pending "
                                      "(removal before leaving counts as immediate)",
             })
@dataclass(frozen=True, slots=True)
class Offboarding:
    """A person leaving, and when their access was removed.

    ``access_removed_at`` may precede ``left_at`` (access removed ahead of the last
    day): that is not an error, and counts as a delay of zero.
    """

    id: str
    source: str
    left_at: datetime
    access_removed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_utc("left_at", self.left_at)
        _require_utc("access_removed_at", self.access_removed_at)


@record_kind(RecordKind.ACCESS_REVIEW, table="access_reviews", section="access_reviews",
             codes=IDENTITY_CODES,
             docs={
                 "id": "unique per source (one review instance)",
                 "source": "default: the collector name",
                 "scope": "`privileged` = privileged roles or groups; `all` = any access",
                 "completed_at": "empty = not completed yet",
             })
@dataclass(frozen=True, slots=True)
class AccessReview:
    """One completed (or still running) access review instance."""

    id: str
    source: str
    scope: ReviewScope
    completed_at: datetime | None = None
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_id(self.id, self.source)
        _require_utc("completed_at", self.completed_at)
        _require_utc("started_at", self.started_at)
        _require_order("started_at", self.started_at, "completed_at", self.completed_at)


IdentityRecord = (IdentityAccount | Application | PrivilegedAssignment | Offboarding
                  | AccessReview)
