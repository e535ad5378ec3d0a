"""SQLite store: normalized records, collector state and per-quarter history.

Why SQLite: zero set-up for the embedded default, WAL lets scrapes and derivation
read while a collection writes, and a collection run commits in one transaction,
so a run that fails half-way leaves the previous data exactly as it was.

Timestamps are stored as float seconds since the epoch (UTC): compact, indexable
and cheap to stream into derivation, which reads plain tuples rather than objects so
that a million findings fit in a few tens of MB.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.base import CollectionResult
from collectors.records import (
    DISPOSITION_CODES,
    KINDS,
    OBSERVED_AT,
    SEVERITY_CODES,
    STATE_CODES,
    KindSpec,
    RecordKind,
)

# The stored codes are part of the record declarations (collectors/records.py).
__all__ = ["DISPOSITION_CODES", "SEVERITY_CODES", "STATE_CODES", "Store", "StoreError"]

# Forward-only migrations: index i upgrades the schema from version i to i + 1. The first
# three were written by hand before the declarations generated them; a test checks that
# the tables they leave are exactly what the declarations describe. A new kind appends
# KINDS[RecordKind.NEW].create_sql(), a new nullable field
# KINDS[kind].add_column_sql("field").
MIGRATIONS: list[str] = [
    """
    CREATE TABLE findings (
        source TEXT NOT NULL, id TEXT NOT NULL, collector TEXT NOT NULL, run INTEGER NOT NULL,
        severity INTEGER NOT NULL, state INTEGER NOT NULL,
        opened_at REAL NOT NULL, resolved_at REAL, disclosed_at REAL,
        dismissed_reason TEXT, asset TEXT, cve_ids TEXT, category TEXT,
        PRIMARY KEY (source, id)
    ) WITHOUT ROWID;
    CREATE INDEX findings_collector ON findings (collector, run);
    CREATE TABLE repositories (
        source TEXT NOT NULL, id TEXT NOT NULL, collector TEXT NOT NULL, run INTEGER NOT NULL,
        name TEXT NOT NULL, archived INTEGER NOT NULL, fork INTEGER NOT NULL,
        sast_enabled INTEGER, sast_tools TEXT, review_gate_tier INTEGER,
        secret_scanning INTEGER, push_protection INTEGER, dependency_alerts INTEGER,
        topics TEXT,
        PRIMARY KEY (source, id)
    ) WITHOUT ROWID;
    CREATE INDEX repositories_collector ON repositories (collector, run);
    CREATE TABLE incidents (
        source TEXT NOT NULL, id TEXT NOT NULL, collector TEXT NOT NULL, run INTEGER NOT NULL,
        severity INTEGER, started_at REAL, detected_at REAL NOT NULL, contained_at REAL,
        resolved_at REAL, postmortem INTEGER,
        PRIMARY KEY (source, id)
    ) WITHOUT ROWID;
    CREATE INDEX incidents_collector ON incidents (collector, run);
    CREATE TABLE siem_alerts (
        source TEXT NOT NULL, id TEXT NOT NULL, collector TEXT NOT NULL, run INTEGER NOT NULL,
        created_at REAL NOT NULL, triaged_at REAL, disposition INTEGER NOT NULL,
        rule TEXT, severity INTEGER,
        PRIMARY KEY (source, id)
    ) WITHOUT ROWID;
    CREATE INDEX siem_alerts_collector ON siem_alerts (collector, run);
    CREATE TABLE collector_state (
        collector TEXT PRIMARY KEY, run INTEGER NOT NULL, state TEXT NOT NULL,
        last_success REAL
    );
    CREATE TABLE quarter_values (
        quarter TEXT NOT NULL, metric TEXT NOT NULL, labels TEXT NOT NULL,
        value REAL NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (quarter, metric, labels)
    ) WITHOUT ROWID;
    """,
    # 1 -> 2: at least one approving review required by any active protection or ruleset
    # (unknown on rows written before: NULL).
    """
    ALTER TABLE repositories ADD COLUMN required_review INTEGER;
    """,
    # 2 -> 3: dated snapshots of a repository's settings coexist, so the observation
    # time joins the key (observed = 0: current, as of the run that wrote the row;
    # every row written before was current). SQLite cannot change a primary key in
    # place: the table is rebuilt and its index recreated.
    """
    CREATE TABLE repositories_v3 (
        source TEXT NOT NULL, id TEXT NOT NULL, observed REAL NOT NULL,
        collector TEXT NOT NULL, run INTEGER NOT NULL,
        name TEXT NOT NULL, archived INTEGER NOT NULL, fork INTEGER NOT NULL,
        sast_enabled INTEGER, sast_tools TEXT, review_gate_tier INTEGER,
        secret_scanning INTEGER, push_protection INTEGER, dependency_alerts INTEGER,
        topics TEXT, required_review INTEGER,
        PRIMARY KEY (source, id, observed)
    ) WITHOUT ROWID;
    INSERT INTO repositories_v3 (
        source, id, observed, collector, run, name, archived, fork, sast_enabled,
        sast_tools, review_gate_tier, secret_scanning, push_protection, dependency_alerts,
        topics, required_review)
    SELECT source, id, 0, collector, run, name, archived, fork, sast_enabled,
        sast_tools, review_gate_tier, secret_scanning, push_protection, dependency_alerts,
        topics, required_review
    FROM repositories;
    DROP TABLE repositories;
    ALTER TABLE repositories_v3 RENAME TO repositories;
    CREATE INDEX repositories_collector ON repositories (collector, run);
    """,
    # identity and access: IdentityAccount, Application, PrivilegedAssignment,
    # Offboarding, AccessReview (the first three keyed by observation time too, as
    # repositories since 2 -> 3: their dated snapshots coexist)
    "\n".join(KINDS[k].create_sql() for k in (
        RecordKind.IDENTITY_ACCOUNT, RecordKind.APPLICATION,
        RecordKind.PRIVILEGED_ASSIGNMENT, RecordKind.OFFBOARDING,
        RecordKind.ACCESS_REVIEW)),
    # quarterly reviews (exporter/review.py): one row per recorded review, never updated
    # except to mark it superseded by a later record of the same quarter.
    """
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT, quarter TEXT NOT NULL,
        recorded_at REAL NOT NULL, superseded_by INTEGER, content TEXT NOT NULL
    );
    CREATE INDEX reviews_quarter ON reviews (quarter, superseded_by);
    """,
    # detection coverage and telemetry: DetectionRule, Workload (keyed by observation
    # time too: dated snapshots)
    "\n".join(KINDS[k].create_sql() for k in (RecordKind.DETECTION_RULE,
                                              RecordKind.WORKLOAD)),
    # supply chain and security culture: Artifact, TrainingRecord, and the Repository
    # settings sbom, pinned_actions, egress_control, scorecard_score (NULL = unknown on
    # rows written before)
    "\n".join([*(KINDS[k].create_sql() for k in (RecordKind.ARTIFACT,
                                                  RecordKind.TRAINING_RECORD)),
               *(KINDS[RecordKind.REPOSITORY].add_column_sql(name) for name in (
                   "sbom", "pinned_actions", "egress_control", "scorecard_score"))]),
    # cloud posture: PostureResult (keyed by observation time too: dated snapshots)
    KINDS[RecordKind.POSTURE_RESULT].create_sql(),
    # scanner reports: ScanTarget (collectors/records_scans.py)
    KINDS[RecordKind.SCAN_TARGET].create_sql(),
    # Repository.reconstructed: a dated snapshot rebuilt from the source's own history.
    # Not nullable (a snapshot is observed or reconstructed), so add_column_sql (NULL
    # for older rows) does not fit: every row written before was observed, DEFAULT 0.
    "ALTER TABLE repositories ADD COLUMN reconstructed INTEGER NOT NULL DEFAULT 0;",
]
SCHEMA_VERSION = len(MIGRATIONS)

_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.I)


def _column_already_there(db: sqlite3.Connection, statement: str) -> bool:
    """Whether ``statement`` adds a column its table already has.

    Migrations that create a kind's table use the declaration as it is *now*
    (``KindSpec.create_sql``), so on a fresh store a table created by an early migration
    already has a field that a later migration adds for stores created before it. The
    later ``ADD COLUMN`` is then a no-op, and fresh and upgraded stores end up with the
    same columns (tests/test_store.py checks every upgrade path).
    """
    match = _ADD_COLUMN.match(statement)
    if match is None:
        return False
    table, column = match.groups()
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))

TABLES = {kind: spec.table for kind, spec in KINDS.items()}


class StoreError(Exception):
    """The store cannot be opened, read or written (the message names path and cause)."""


def _insert_sql(spec: KindSpec) -> str:
    columns = spec.columns
    return (f"INSERT OR REPLACE INTO {spec.table} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(columns))})")


# The observation time of a row that describes the current state, on every kind with
# dated snapshots (``observed_at``: repositories and the other point-in-time kinds).
CURRENT_OBSERVATION = OBSERVED_AT.none_as

# What derivation reads: the columns it needs, in the order it unpacks them.
FINDING_COLUMNS = "severity, state, opened_at, resolved_at, disclosed_at"
REPOSITORY_COLUMNS = (
    "source, id, observed, name, archived, fork, sast_enabled, review_gate_tier, "
    "secret_scanning, push_protection, dependency_alerts, required_review"
)
INCIDENT_COLUMNS = "started_at, detected_at, contained_at, resolved_at, postmortem"
SIEM_ALERT_COLUMNS = "created_at, triaged_at, disposition"


@dataclass(frozen=True)
class CollectorRecordState:
    run: int
    state: dict[str, Any]
    last_success: float | None


class Store:
    """Thread-safe access: one connection per thread, writes serialised by a lock."""

    def __init__(self, path: Path | str, *, migrate: bool = True) -> None:
        """Open (and by default create or upgrade) the store.

        ``migrate=False`` is for secondary readers, such as the derivation worker,
        that open a store the main process has already brought up to date.
        """
        self.path = str(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._create = migrate
        self._identity: tuple[int, int] | None = None
        if self.path != ":memory:" and migrate:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of the store {self.path}: "
                                 f"{exc.strerror}") from None
        if migrate:
            self._migrate()
        elif self.path != ":memory:" and self.schema_version == 0:
            # A reader (the derivation worker) never creates a store: an empty one at
            # the path means the real one was deleted or replaced.
            raise StoreError(f"the store {self.path} has no schema: it was deleted or "
                             "replaced while the exporter ran")
        if self.path != ":memory:":
            self._identity = self._file_identity()

    def _file_identity(self) -> tuple[int, int]:
        try:
            stat = os.stat(self.path)
        except OSError:
            raise StoreError(f"the store {self.path} is gone: it was deleted or moved while "
                             "the exporter ran; restart the exporter (data since the last "
                             "backup is lost)") from None
        return stat.st_dev, stat.st_ino

    def check_identity(self) -> None:
        """Fail if the file at the path is no longer the one this store opened.

        SQLite keeps writing to an unlinked file, and a new file at the path would be
        read by the derivation worker: both would lose data silently.
        """
        if self._identity is not None and self._file_identity() != self._identity:
            raise StoreError(f"the store {self.path} was replaced by another file while the "
                             "exporter ran; restart the exporter to use it")

    def _write_hint(self) -> str:
        """Why SQLite may not open or write: a read-only file system or directory."""
        if self.path == ":memory:":
            return ""
        directory = Path(self.path).absolute().parent
        try:
            if os.statvfs(directory).f_flag & os.ST_RDONLY:
                return (" (the file system is read-only; the store writes its journal next "
                        "to the file, so it needs a writable directory)")
        except OSError:
            return ""
        if not os.access(directory, os.W_OK):
            return f" (the directory {directory} is not writable)"
        return ""

    def _connect(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                if self.path == ":memory:" or self._create:
                    connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                else:
                    uri = Path(self.path).absolute().as_uri() + "?mode=rw"
                    connection = sqlite3.connect(uri, timeout=30, isolation_level=None,
                                                 uri=True)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the store {self.path}: {exc}"
                                 f"{self._write_hint()}") from None
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any SQLite failure is a StoreError naming path and cause."""
        self.check_identity()
        connection = self._connect()
        with self._write_lock:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to the store {self.path}: {exc}"
                                 f"{self._write_hint()}") from None
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException as exc:
                try:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the original error says more than a failed rollback
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot write to the store {self.path}: {exc} "
                                     "(nothing of this write was kept; earlier data is "
                                     "intact)") from None
                raise

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this exporter's "
                    f"{SCHEMA_VERSION}; upgrade the exporter or point store.path elsewhere"
                )
            for index in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip() and not _column_already_there(db, statement):
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return self._connect().execute("PRAGMA user_version").fetchone()[0]

    # -- collector runs -------------------------------------------------------------

    def collector_state(self, collector: str) -> CollectorRecordState:
        row = self._connect().execute(
            "SELECT run, state, last_success FROM collector_state WHERE collector = ?",
            (collector,),
        ).fetchone()
        if row is None:
            return CollectorRecordState(run=0, state={}, last_success=None)
        return CollectorRecordState(run=row[0], state=json.loads(row[1]), last_success=row[2])

    def apply(self, collector: str, result: CollectionResult, finished_at: datetime) -> int:
        """Store one successful run atomically; return the run number.

        Records are upserted by their key: (source, id), and for kinds with dated
        snapshots (``observed_at``) (source, id, observation time). For each kind in
        ``result.complete``, this collector's stored records that the run did not return
        are deleted (dated snapshots included); an explicit deletion removes every
        observation of that record.
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT run, state FROM collector_state WHERE collector = ?", (collector,)
            ).fetchone()
            run = (row[0] if row else 0) + 1
            old_state = row[1] if row else "{}"
            for kind, spec in KINDS.items():
                table = spec.table
                records = result.records_of(kind)
                if records:
                    db.executemany(_insert_sql(spec),
                                   (spec.encode(r, collector, run) for r in records))
                if kind in result.complete:
                    db.execute(
                        f"DELETE FROM {table} WHERE collector = ? AND run <> ?",  # noqa: S608
                        (collector, run),
                    )
                for source, record_id in result.deleted.get(kind, []):
                    db.execute(
                        f"DELETE FROM {table} WHERE source = ? AND id = ?",  # noqa: S608
                        (source, record_id),
                    )
            state = old_state if result.state is None else json.dumps(result.state)
            db.execute(
                "INSERT OR REPLACE INTO collector_state VALUES (?, ?, ?, ?)",
                (collector, run, state, finished_at.timestamp()),
            )
        return run

    def record_counts(self) -> dict[tuple[str, RecordKind], int]:
        """Stored records per (collector, kind), for the records gauge."""
        counts: dict[tuple[str, RecordKind], int] = {}
        db = self._connect()
        for kind, table in TABLES.items():
            for collector, count in db.execute(
                f"SELECT collector, COUNT(*) FROM {table} GROUP BY collector"  # noqa: S608
            ):
                counts[(collector, kind)] = count
        return counts

    def unconfigured_collectors(self, configured: Sequence[str]) -> dict[str, int]:
        """Collectors with stored records or state that the config no longer names.

        Their records are kept, unpublished, until :meth:`prune_collectors`: a config
        cut short by a bad deploy must never cost the data (issue 11). Returns the
        record count per such collector (0 when only its state is left).
        """
        marks = ", ".join("?" * len(configured)) or "''"
        found: dict[str, int] = {}
        db = self._connect()
        for table in [*TABLES.values(), "collector_state"]:
            for collector, count in db.execute(
                f"SELECT collector, COUNT(*) FROM {table} "  # noqa: S608
                f"WHERE collector NOT IN ({marks}) GROUP BY collector", tuple(configured)
            ):
                found[collector] = found.get(collector, 0) + (
                    0 if table == "collector_state" else count)
        return found

    def prune_collectors(self, configured: Sequence[str]) -> dict[str, int]:
        """Delete the records and state of collectors not in ``configured``; say what went."""
        marks = ", ".join("?" * len(configured)) or "''"
        with self._transaction() as db:
            gone: dict[str, int] = {}
            for table in [*TABLES.values(), "collector_state"]:
                for collector, count in db.execute(
                    f"SELECT collector, COUNT(*) FROM {table} "  # noqa: S608
                    f"WHERE collector NOT IN ({marks}) GROUP BY collector", tuple(configured)
                ).fetchall():
                    gone[collector] = gone.get(collector, 0) + (
                        0 if table == "collector_state" else count)
                db.execute(
                    f"DELETE FROM {table} WHERE collector NOT IN ({marks})",  # noqa: S608
                    tuple(configured),
                )
        return gone

    # -- streaming reads for derivation ----------------------------------------------

    def _stream(self, columns: str, table: str, collectors: Sequence[str] | None,
                where: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows of ``table``, only those of ``collectors`` unless that is ``None``, and
        only those whose ``where`` columns equal the given values (names checked by the
        caller against the kind's declaration)."""
        sql, clauses, params = f"SELECT {columns} FROM {table}", [], []  # noqa: S608
        if collectors is not None:
            clauses.append(f"collector IN ({', '.join('?' * len(collectors)) or chr(39) * 2})")
            params.extend(collectors)
        for column, value in (where or {}).items():
            clauses.append(f"{column} = ?")
            params.append(value)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        cursor = self._connect().execute(sql, tuple(params))
        while True:
            rows = cursor.fetchmany(10_000)
            if not rows:
                return
            yield from rows

    def iter_rows(self, kind: RecordKind, columns: Sequence[str],
                  collectors: Sequence[str] | None = None,
                  where: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream ``columns`` of every stored record of ``kind`` (of ``collectors`` only;
        with ``where``, only rows whose columns equal those stored values).

        Derivation families name the columns they read; a name the kind's declaration
        does not know is a programming error, refused before any SQL is built. ``where``
        lets a family that needs a few rows of a large kind (internal reports among a
        million findings) leave the others in SQLite instead of iterating them in Python.
        """
        spec = KINDS[kind]
        unknown = (set(columns) | set(where or ())) - set(spec.columns)
        if unknown:
            raise ValueError(f"{kind}: no stored column {sorted(unknown)}")
        return self._stream(", ".join(columns), spec.table, collectors, where)

    def decode_rows(self, kind: RecordKind, collectors: Sequence[str] | None = None
                    ) -> Iterator[Any]:
        """Stored records of ``kind`` as record objects (for reports, not derivation)."""
        spec = KINDS[kind]
        return (spec.decode(row) for row in self.iter_rows(kind, spec.columns, collectors))

    def iter_findings(self, collectors: Sequence[str] | None = None
                      ) -> Iterator[tuple[Any, ...]]:
        """(severity code, state code, opened_at, resolved_at, disclosed_at) tuples."""
        return self._stream(FINDING_COLUMNS, "findings", collectors)

    def iter_repositories(self, collectors: Sequence[str] | None = None
                          ) -> Iterator[tuple[Any, ...]]:
        """(source, id, observed, name, archived, fork, sast, review gate tier, secret
        scanning, push protection, dependency alerts, required review) tuples; one per
        observation, ``observed`` being :data:`CURRENT_OBSERVATION` for the current one."""
        return self._stream(REPOSITORY_COLUMNS, "repositories", collectors)

    def iter_incidents(self, collectors: Sequence[str] | None = None
                       ) -> Iterator[tuple[Any, ...]]:
        return self._stream(INCIDENT_COLUMNS, "incidents", collectors)

    def iter_siem_alerts(self, collectors: Sequence[str] | None = None
                         ) -> Iterator[tuple[Any, ...]]:
        return self._stream(SIEM_ALERT_COLUMNS, "siem_alerts", collectors)

    # -- per-quarter history -----------------------------------------------------------

    def save_quarter_values(
        self, quarter: str, values: Mapping[tuple[str, tuple[tuple[str, str], ...]], float],
        at: datetime,
    ) -> None:
        """Keep the latest value of each metric for ``quarter`` (coverage, levels)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO quarter_values VALUES (?, ?, ?, ?, ?)",
                [(quarter, name, json.dumps(dict(labels), sort_keys=True), value,
                  at.timestamp()) for (name, labels), value in values.items()],
            )

    def quarter_values(
        self, quarters: Sequence[str] | None = None,
    ) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
        """Stored history as {quarter: {(metric, labels): value}}."""
        sql = "SELECT quarter, metric, labels, value FROM quarter_values"
        params: tuple[Any, ...] = ()
        if quarters is not None:
            sql += f" WHERE quarter IN ({', '.join('?' * len(quarters)) or chr(39) * 2})"
            params = tuple(quarters)
        history: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for quarter, metric, labels, value in self._connect().execute(sql, params):
            key = (metric, tuple(sorted(json.loads(labels).items())))
            history.setdefault(quarter, {})[key] = value
        return history


def utc_from_ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
