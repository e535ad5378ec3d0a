"""The SQLite store: atomic runs, replacement of complete kinds, schema version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from collectors.base import CollectionResult
from collectors.records import RecordKind
from exporter.store import SCHEMA_VERSION, Store, StoreError
from tests.builders import NOW, finding, repo


def test_upsert_by_source_and_id_and_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply("c", CollectionResult(findings=[finding("2026-11-01", id="F-1")],
                                      state={"watermark": "x"}), NOW)
    store.apply("c", CollectionResult(findings=[finding("2026-11-02", id="F-1",
                                                        severity="low")]), NOW)
    rows = list(store.iter_findings())
    assert len(rows) == 1 and rows[0][0] == 3  # severity low replaced critical
    state = store.collector_state("c")
    assert state.run == 2 and state.state == {"watermark": "x"}  # None keeps the old state
    assert state.last_success == NOW.timestamp()


def test_complete_kinds_replace_only_this_collectors_records(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply("a", CollectionResult(findings=[finding("2026-11-01", id="1", source="a"),
                                                finding("2026-11-01", id="2", source="a")],
                                      repositories=[repo("api")]), NOW)
    store.apply("b", CollectionResult(findings=[finding("2026-11-01", id="1", source="b")]), NOW)
    store.apply("a", CollectionResult(findings=[finding("2026-11-01", id="2", source="a")],
                                      complete=frozenset({RecordKind.FINDING})), NOW)
    counts = store.record_counts()
    assert counts[("a", RecordKind.FINDING)] == 1  # id 1 of a is gone
    assert counts[("b", RecordKind.FINDING)] == 1  # b untouched
    assert counts[("a", RecordKind.REPOSITORY)] == 1  # kind not complete: kept


def test_explicit_deletions(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply("a", CollectionResult(findings=[finding("2026-11-01", id="1", source="a")]), NOW)
    store.apply("a", CollectionResult(deleted={RecordKind.FINDING: [("a", "1")]}), NOW)
    assert list(store.iter_findings()) == []


def test_failed_run_leaves_previous_data_intact(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply("a", CollectionResult(findings=[finding("2026-11-01", id="1")]), NOW)

    class Boom(CollectionResult):
        def records_of(self, kind: RecordKind) -> list:
            if kind is RecordKind.INCIDENT:
                raise RuntimeError("disk full half-way")
            return super().records_of(kind)

    half = Boom(findings=[finding("2026-11-01", id="2")], complete=frozenset(RecordKind))
    with pytest.raises(RuntimeError):
        store.apply("a", half, NOW)
    assert [r[2] for r in store.iter_findings()] == [finding("2026-11-01").opened_at.timestamp()]
    assert store.collector_state("a").run == 1


def test_schema_version_and_newer_database_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    assert Store(path).schema_version == SCHEMA_VERSION
    Store(path).close()  # reopening an up-to-date store is a no-op
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this exporter"):
        Store(path)


def test_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store._connect().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_quarter_history_roundtrip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.save_quarter_values("2026-Q3", {("sast_coverage_pct", ()): 40.0}, NOW)
    store.save_quarter_values("2026-Q3", {("sast_coverage_pct", ()): 45.0}, NOW)
    store.save_quarter_values("2026-Q4", {("x", (("domain", "d"),)): 2.0}, NOW)
    assert store.quarter_values() == {"2026-Q3": {("sast_coverage_pct", ()): 45.0},
                                      "2026-Q4": {("x", (("domain", "d"),)): 2.0}}
    assert list(store.quarter_values(["2026-Q4"])) == ["2026-Q4"]


# -- the store going away or filling up is a visible failure that loses nothing -------


def test_a_full_disk_is_a_clear_store_error_and_keeps_earlier_data(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply("c", CollectionResult(findings=[finding("2026-11-01", id="F-1")]), NOW)
    pages = store._connect().execute("PRAGMA page_count").fetchone()[0]
    store._connect().execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL from here on
    many = [finding("2026-11-01", id=f"F-{i}") for i in range(2, 5000)]
    with pytest.raises(StoreError, match=r"cannot write to the store .*s\.db.*full"):
        store.apply("c", CollectionResult(findings=many), NOW)
    assert [r[2] for r in store.iter_findings()] == [finding("2026-11-01").opened_at.timestamp()]
    assert store.collector_state("c").run == 1


def test_a_deleted_or_replaced_store_file_fails_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    store.apply("c", CollectionResult(findings=[finding("2026-11-01")]), NOW)
    path.unlink()
    with pytest.raises(StoreError, match="deleted or moved"):
        store.apply("c", CollectionResult(findings=[finding("2026-11-02")]), NOW)
    Store(path).close()  # someone puts a fresh store at the path
    with pytest.raises(StoreError, match="replaced"):
        store.apply("c", CollectionResult(findings=[finding("2026-11-02")]), NOW)


def test_a_reader_never_creates_a_store(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    with pytest.raises(StoreError):
        Store(path, migrate=False)
    assert not path.exists()


def test_a_store_of_the_previous_schema_migrates_forward_keeping_its_rows(
        tmp_path: Path) -> None:
    from exporter.store import MIGRATIONS

    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO repositories VALUES ('gh', 'acme/api', 'github', 3, 'api', 0, 0, "
               "1, 'CodeQL', 3, 1, 0, 1, NULL)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert list(store.iter_repositories()) == [("api", 0, 0, 1, 3, 1, 0, 1, None)]
    store.apply("github", CollectionResult(repositories=[repo("api", required_review=True)]),
                NOW)
    assert [r[-1] for r in store.iter_repositories()][-1] == 1
