"""One builder per record kind, with believable defaults, for readable tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collectors.base import CollectionResult
from collectors.records import (
    Disposition,
    Finding,
    FindingState,
    Incident,
    RecordKind,
    Repository,
    Severity,
    SiemAlert,
)
from exporter.derive import DerivationSettings, Derived, derive_all
from exporter.derive.repositories import FAMILY as repositories_family
from exporter.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # inside 2026-Q4
Q4_START = datetime(2026, 10, 1, tzinfo=UTC)
Q3_START = datetime(2026, 7, 1, tzinfo=UTC)
SETTINGS = DerivationSettings(sla_days={"critical": 7, "high": 30, "medium": 90, "low": 120})


def at(text: str) -> datetime:
    """'2026-11-01' or '2026-11-01T10:00' as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_counter = iter(range(1, 10**9))


def finding(opened: str | datetime, *, severity: str = "critical", state: str = "open",
            resolved: str | datetime | None = None, disclosed: str | datetime | None = None,
            fixed_after_days: float | None = None, **extra: object) -> Finding:
    opened_at = opened if isinstance(opened, datetime) else at(opened)
    resolved_at = resolved if isinstance(resolved, datetime) or resolved is None else at(resolved)
    if fixed_after_days is not None:
        resolved_at, state = opened_at + timedelta(days=fixed_after_days), "fixed"
    return Finding(
        id=str(extra.pop("id", f"F-{next(_counter)}")), source=str(extra.pop("source", "test")),
        severity=Severity(severity), opened_at=opened_at, state=FindingState(state),
        resolved_at=resolved_at,
        disclosed_at=disclosed if isinstance(disclosed, datetime) or disclosed is None
        else at(disclosed),
        **extra,  # type: ignore[arg-type]
    )


def repo(name: str, **settings: object) -> Repository:
    return Repository(id=f"acme/{name}", source="test", name=name, **settings)  # type: ignore[arg-type]


def incident(detected: str, *, started: str | None = None, contained: str | None = None,
             resolved: str | None = None, postmortem: bool | None = None) -> Incident:
    return Incident(
        id=f"I-{next(_counter)}", source="test", detected_at=at(detected),
        started_at=at(started) if started else None,
        contained_at=at(contained) if contained else None,
        resolved_at=at(resolved) if resolved else None, postmortem=postmortem,
    )


def alert(created: str, disposition: str = "untriaged", triaged: str | None = None) -> SiemAlert:
    return SiemAlert(id=f"A-{next(_counter)}", source="test", created_at=at(created),
                     disposition=Disposition(disposition),
                     triaged_at=at(triaged) if triaged else None)


def derive_records(*, findings=(), repositories=(), incidents=(), siem_alerts=(),
                   now: datetime = NOW, settings: DerivationSettings = SETTINGS,
                   history=None) -> Derived:
    """Derive through the real store path (records -> SQLite rows -> derivation)."""
    store = Store(":memory:")
    store.apply("test", CollectionResult(findings=list(findings),
                                         repositories=list(repositories),
                                         incidents=list(incidents),
                                         siem_alerts=list(siem_alerts)), now)
    # Repository rows in the columns its family reads (store.iter_repositories keeps
    # the original column set for older callers).
    repository_rows = store.iter_rows(RecordKind.REPOSITORY, repositories_family.columns)
    return derive_all(findings=store.iter_findings(), repositories=repository_rows,
                      incidents=store.iter_incidents(), siem_alerts=store.iter_siem_alerts(),
                      settings=settings, now=now, history=history)
