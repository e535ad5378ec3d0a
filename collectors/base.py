"""The collector plugin interface.

A collector is a class registered under the ``devsecops_exporter.collectors`` entry
point group. It declares a pydantic ``config_model`` for its own settings and
implements ``collect``, which returns a :class:`CollectionResult` of normalized
records. The core owns everything else: scheduling, the store, derivation and
publishing. Built-in collectors are registered exactly like third-party ones.

Example (a third-party package's ``pyproject.toml``)::

    [project.entry-points."devsecops_exporter.collectors"]
    mytool = "mytool_collector:MyToolCollector"
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from collectors.records import (
    KIND_OF,
    KINDS,
    Finding,
    Incident,
    RecordKind,
    Repository,
    SiemAlert,
)
from collectors.redact import redact
from collectors.settings import StrictModel


class ErrorKind(StrEnum):
    """Bounded set of error kinds, used as the ``kind`` label of error counters."""

    AUTH = "auth"  # 401, bad or expired credentials
    PERMISSION = "permission"  # 403 that is not a rate limit: missing scope or role
    NOT_FOUND = "not_found"  # 404 on something the config names
    RATE_LIMITED = "rate_limited"  # 429 / secondary limits, retries exhausted
    TIMEOUT = "timeout"
    NETWORK = "network"  # connection refused, DNS, TLS
    SERVER = "server"  # 5xx after retries
    CLIENT = "client"  # other 4xx (400 bad query, 410 gone, 422 ...)
    MALFORMED_RESPONSE = "malformed_response"  # non-JSON, truncated, wrong shape
    MALFORMED_RECORD = "malformed_record"  # one record skipped; the run goes on
    UNMAPPED_VALUE = "unmapped_value"  # a new enum value the mapping does not know
    CONFIG = "config"  # a setting that only fails when used (missing file, bad query)
    STORE = "store"  # the run's records could not be stored (disk full, store replaced)
    INTERNAL = "internal"  # a bug: unexpected exception in the collector


class CollectorError(Exception):
    """A failed collection run. The message must never contain a secret."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(redact(message))  # a server may echo credentials into its answer
        self.kind = kind


@dataclass(frozen=True, slots=True)
class SourceGauge:
    """A source-specific gauge a collector wants published (e.g. API budget left).

    The publisher adds the ``collector`` label and checks the name: it must start
    with ``devsecops_`` and label values must be bounded (no ids, no free text).
    """

    name: str
    documentation: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(init=False)
class CollectionResult:
    """What one run returns.

    ``records`` holds the run's records by kind, one list per declared kind
    (``collectors/records.py``). The per-kind names of the first interface
    (``findings``, ``repositories``, ``incidents``, ``siem_alerts``) still work as
    keyword arguments and attributes, and so does every declared kind's section name
    as a keyword: ``CollectionResult(findings=[...])``, ``result.findings.append(f)``.
    ``complete`` lists the record kinds for which this result is the whole current
    set of this collector's records: stored records of those kinds that the result no
    longer contains are deleted. Kinds not listed are upserted only (incremental runs).
    ``deleted`` names records known to be gone in an incremental run.
    ``state`` is persisted only when the run succeeds and handed back to the next run
    (watermarks, ETags, the time of the last full pass); ``None`` keeps the old state.
    ``record_errors`` counts records skipped by kind; skipping never fails the run.
    """

    records: dict[RecordKind, list[Any]]
    complete: frozenset[RecordKind]
    deleted: dict[RecordKind, list[tuple[str, str]]]
    state: dict[str, Any] | None
    record_errors: Counter[ErrorKind]
    gauges: list[SourceGauge]

    def __init__(self, *, records: Mapping[RecordKind, list[Any]] | None = None,
                 complete: frozenset[RecordKind] = frozenset(),
                 deleted: dict[RecordKind, list[tuple[str, str]]] | None = None,
                 state: dict[str, Any] | None = None,
                 record_errors: Counter[ErrorKind] | None = None,
                 gauges: list[SourceGauge] | None = None,
                 **by_section: list[Any]) -> None:
        self.records = {kind: list(items) for kind, items in (records or {}).items()}
        sections = {spec.section: kind for kind, spec in KINDS.items()}
        for section, items in by_section.items():
            if section not in sections:
                raise TypeError(f"CollectionResult: no record kind {section!r}; declared "
                                f"kinds are {', '.join(sorted(sections))}")
            self.records.setdefault(sections[section], []).extend(items)
        self.complete = complete
        self.deleted = deleted if deleted is not None else {}
        self.state = state
        self.record_errors = record_errors if record_errors is not None else Counter()
        self.gauges = gauges if gauges is not None else []

    def records_of(self, kind: RecordKind) -> list[Any]:
        """The run's list of ``kind`` records, to read or append to."""
        return self.records.setdefault(kind, [])

    def add(self, record: Any) -> None:
        """Append a record to the list of its kind."""
        self.records_of(KIND_OF[type(record)]).append(record)

    @property
    def findings(self) -> list[Finding]:
        return self.records_of(RecordKind.FINDING)

    @findings.setter
    def findings(self, items: list[Finding]) -> None:
        self.records[RecordKind.FINDING] = list(items)

    @property
    def repositories(self) -> list[Repository]:
        return self.records_of(RecordKind.REPOSITORY)

    @repositories.setter
    def repositories(self, items: list[Repository]) -> None:
        self.records[RecordKind.REPOSITORY] = list(items)

    @property
    def incidents(self) -> list[Incident]:
        return self.records_of(RecordKind.INCIDENT)

    @incidents.setter
    def incidents(self, items: list[Incident]) -> None:
        self.records[RecordKind.INCIDENT] = list(items)

    @property
    def siem_alerts(self) -> list[SiemAlert]:
        return self.records_of(RecordKind.SIEM_ALERT)

    @siem_alerts.setter
    def siem_alerts(self, items: list[SiemAlert]) -> None:
        self.records[RecordKind.SIEM_ALERT] = list(items)


@dataclass(frozen=True)
class CollectContext:
    """What the core hands a run: its name, the clock, and the last good state.

    ``history_start`` is the oldest moment any published metric reads: the start of the
    previous quarter (fiscal quarters as configured) less a margin, computed by the
    core from ``now``. A source's first and full collections must reach back at least
    that far, whatever its configured lookback, or the previous quarter is published
    from partial data (DESIGN, Changes 2026-12-02). ``None`` (a plugin test building a
    context by hand) means the calendar quarters' value.
    """

    name: str
    now: datetime
    state: dict[str, Any]
    logger: logging.Logger
    history_start: datetime | None = None

    def window_start(self, lookback: timedelta | None) -> datetime:
        """Where a first or full pass starts: the lookback or the history start, older wins.

        A configured lookback can only widen the window; ``None`` means "exactly the
        published history".
        """
        start = self.history_start or calendar_history_start(self.now)
        return min(start, self.now - lookback) if lookback is not None else start


def calendar_history_start(now: datetime, margin: timedelta = timedelta(days=14)) -> datetime:
    """The previous calendar quarter's start less ``margin``: the core's default.

    The core passes the fiscal-aware value (``exporter.quarters.history_start``); this
    is what a context built without one (a plugin's own test) gets.
    """
    month = (now.month - 1) // 3 * 3 + 1 - 3  # first month of the previous quarter
    year = now.year
    if month < 1:
        month, year = month + 12, year - 1
    return datetime(year, month, 1, tzinfo=UTC) - margin


class Collector(ABC):
    """Base class for collector plugins.

    Subclasses set ``config_model`` (a :class:`StrictModel` subclass) and ``kinds``
    (the record kinds they can return), and implement :meth:`collect`. The core
    builds one instance per configured collector with its validated settings and
    calls ``collect`` on its schedule, one run at a time.
    """

    config_model: ClassVar[type[StrictModel]]
    kinds: ClassVar[frozenset[RecordKind]]

    def __init__(self, name: str, settings: StrictModel) -> None:
        self.name = name
        self.settings = settings

    @abstractmethod
    async def collect(self, ctx: CollectContext) -> CollectionResult:
        """Pull the source and return normalized records, or raise CollectorError."""

    async def check(self, ctx: CollectContext) -> list[str]:
        """Probe the source for ``check-config --online``; return problems found.

        The default makes no request. Collectors that talk to an API override it to
        validate credentials and queries cheaply.
        """
        return []
