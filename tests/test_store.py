"""The SQLite store: atomic runs, replacement of complete kinds, schema version."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from collectors.base import CollectionResult
from collectors.records import RecordKind, Repository
from exporter.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError
from tests.builders import NOW, at, finding, repo


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
    assert list(store.iter_repositories()) == [
        ("gh", "acme/api", 0, "api", 0, 0, 1, 3, 1, 0, 1, None)]
    store.apply("github", CollectionResult(repositories=[repo("api", required_review=True)]),
                NOW)
    assert [r[-1] for r in store.iter_repositories()][-1] == 1


def _schema_2_store(path: Path) -> None:
    """A database as the exporter wrote it at schema version 2 (before dated snapshots)."""
    from exporter.store import MIGRATIONS

    db = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        db.executescript(script)
    db.executemany("INSERT INTO repositories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                   "?, ?)", [
                       ("gh", "acme/api", "github", 7, "api", 0, 0, 1, "CodeQL", 3, 1, 0, 1,
                        "payments", 1),
                       ("gh", "acme/old", "github", 7, "old", 1, 0, None, None, None, None,
                        None, None, None, None),
                   ])
    db.execute("INSERT INTO findings VALUES ('gh', 'F-1', 'github', 7, 0, 0, 1.0e9, NULL, "
               "NULL, NULL, NULL, NULL, NULL)")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()


def test_a_schema_2_store_migrates_its_repositories_as_current_observations(
        tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    _schema_2_store(path)
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS) == 10
    assert sorted(store.iter_repositories()) == [
        ("gh", "acme/api", 0, "api", 0, 0, 1, 3, 1, 0, 1, 1),
        ("gh", "acme/old", 0, "old", 1, 0, None, None, None, None, None, None),
    ]
    db = store._connect()
    assert db.execute("SELECT sast_tools, topics, collector, run FROM repositories "
                      "WHERE id = 'acme/api'").fetchone() == ("CodeQL", "payments", "github", 7)
    assert db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                      "AND tbl_name = 'repositories'").fetchall() == [("repositories_collector",)]
    assert store.record_counts() == {("github", RecordKind.REPOSITORY): 2,
                                     ("github", RecordKind.FINDING): 1}
    assert store.collector_state("github").run == 0  # nothing else touched
    # the migrated key takes dated snapshots beside the current row
    store.apply("github", CollectionResult(repositories=[
        Repository(id="acme/api", source="gh", name="api", sast_enabled=False,
                   observed_at=at("2026-08-01"))]), NOW)
    assert len([r for r in store.iter_repositories() if r[1] == "acme/api"]) == 2
    store.close()
    assert Store(path).schema_version == SCHEMA_VERSION  # reopening is a no-op


def test_the_store_keeps_several_observations_of_one_repository(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply("c", CollectionResult(repositories=[
        repo("api", sast_enabled=True),
        repo("api", sast_enabled=False, observed_at=at("2026-08-01")),
        repo("api", sast_enabled=False, observed_at=at("2026-05-01")),
        repo("web", sast_enabled=True),
    ]), NOW)
    rows = sorted((r[1], r[2], r[6]) for r in store.iter_repositories())
    assert rows == [("acme/api", 0, 1), ("acme/api", at("2026-05-01").timestamp(), 0),
                    ("acme/api", at("2026-08-01").timestamp(), 0), ("acme/web", 0, 1)]
    # the same observation again replaces, it does not add
    store.apply("c", CollectionResult(repositories=[
        repo("api", sast_enabled=True, observed_at=at("2026-08-01"))]), NOW)
    assert len(list(store.iter_repositories())) == 4
    assert [r[6] for r in store.iter_repositories()
            if r[2] == at("2026-08-01").timestamp()] == [1]


def test_a_complete_run_replaces_dated_and_undated_repository_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.apply("c", CollectionResult(repositories=[
        repo("api"), repo("api", observed_at=at("2026-08-01")),
        repo("web", observed_at=at("2026-08-01"))]), NOW)
    store.apply("other", CollectionResult(repositories=[
        Repository(id="x/y", source="other", name="y", observed_at=at("2026-08-01"))]), NOW)
    store.apply("c", CollectionResult(repositories=[repo("api", observed_at=at("2026-09-01"))],
                                      complete=frozenset({RecordKind.REPOSITORY})), NOW)
    assert sorted((r[1], r[2]) for r in store.iter_repositories()) == [
        ("acme/api", at("2026-09-01").timestamp()), ("x/y", at("2026-08-01").timestamp())]
    # an explicit deletion removes every observation of the repository
    store.apply("c", CollectionResult(repositories=[repo("api")]), NOW)
    store.apply("c", CollectionResult(deleted={RecordKind.REPOSITORY: [("test", "acme/api")]}),
                NOW)
    assert [r[1] for r in store.iter_repositories()] == ["x/y"]


@pytest.fixture
def small_filesystem(tmp_path: Path):
    """A real 1 MiB tmpfs, for disk-full and read-only tests (needs mount rights: root)."""
    import shutil
    import subprocess

    mount = shutil.which("mount")
    target = tmp_path / "small"
    target.mkdir()
    if mount is None or subprocess.run(
            [mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)],
            capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); the disk-full case is "
                    "covered by test_a_full_disk_is_a_clear_store_error_and_keeps_earlier_data")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def test_a_real_full_file_system_fails_the_write_and_keeps_the_data(
        small_filesystem: Path) -> None:
    store = Store(small_filesystem / "s.db")
    store.apply("c", CollectionResult(findings=[finding("2026-11-01", id="F-1")]), NOW)
    with open(small_filesystem / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
        except OSError:
            pass
    many = [finding("2026-11-01", id=f"F-{i}", asset="x" * 200) for i in range(2, 20000)]
    with pytest.raises(StoreError, match=r"cannot write to the store .*s\.db.*full"):
        store.apply("c", CollectionResult(findings=many), NOW)
    assert len(list(store.iter_findings())) == 1
    (small_filesystem / "filler").unlink()
    store.apply("c", CollectionResult(findings=many[:10]), NOW)  # room again: writes work
    assert len(list(store.iter_findings())) == 11


def test_a_read_only_file_system_is_a_clear_error_at_start(small_filesystem: Path) -> None:
    import subprocess

    Store(small_filesystem / "s.db").close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_filesystem)], check=True)
    with pytest.raises(StoreError, match=r"s\.db: .*the file system is read-only"):
        Store(small_filesystem / "s.db").apply(
            "c", CollectionResult(findings=[finding("2026-11-01")]), NOW)


def test_rows_can_be_filtered_on_stored_values_in_sql(tmp_path: Path) -> None:
    """Internal reports read a few rows of a large kind: the filter runs in SQLite."""
    store = Store(tmp_path / "s.db")
    internal = finding("2026-11-01", id="F-1", category="internal_report")
    store.apply("c", CollectionResult(findings=[internal, finding("2026-11-02", id="F-2")]),
                NOW)
    rows = list(store.iter_rows(RecordKind.FINDING, ("category",),
                                where={"category": "internal_report"}))
    assert rows == [("internal_report",)]
    assert len(list(store.iter_rows(RecordKind.FINDING, ("category",)))) == 2
    with pytest.raises(ValueError, match="no stored column"):
        list(store.iter_rows(RecordKind.FINDING, ("category",), where={"nope": 1}))


def _schema(path: Path) -> dict[str, Any]:
    """Every table's columns (name, type, not null, default, key) and every index."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {
            "tables": {t: sorted(tuple(row[1:]) for row in db.execute(f"PRAGMA table_info({t})"))
                       for t in tables},
            "indexes": sorted(r for r in db.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                "AND name NOT LIKE 'sqlite_%'")),
        }
    finally:
        db.close()


def test_a_store_created_at_any_earlier_version_upgrades_to_the_fresh_schema(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh and upgraded stores must not drift: every upgrade path ends at one schema."""
    import exporter.store as store_module

    migrations = list(store_module.MIGRATIONS)
    fresh = tmp_path / "fresh.db"
    Store(fresh)
    expected = _schema(fresh)
    for version in range(1, len(migrations)):
        path = tmp_path / f"v{version}.db"
        with monkeypatch.context() as m:
            m.setattr(store_module, "MIGRATIONS", migrations[:version])
            m.setattr(store_module, "SCHEMA_VERSION", version)
            assert Store(path).schema_version == version
        assert Store(path).schema_version == len(migrations)
        assert _schema(path) == expected, f"upgraded from version {version}"


def test_a_field_added_later_to_a_kind_created_from_its_declaration_migrates_both_ways(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind's table is created from its current declaration, so on a fresh store it
    already has a field that a later ``add_column_sql`` migration adds for older stores."""
    import exporter.store as store_module
    from collectors.kinds import KINDS
    from collectors.records import RecordKind

    spec = KINDS[RecordKind.ARTIFACT]
    field = next(f for f in spec.fields if not f.not_null and not f.key)
    before = list(store_module.MIGRATIONS)
    upgraded = tmp_path / "old.db"
    Store(upgraded)
    db = sqlite3.connect(upgraded)  # as written before the field existed
    db.execute(f"ALTER TABLE {spec.table} DROP COLUMN {field.column}")
    db.commit()
    db.close()
    monkeypatch.setattr(store_module, "MIGRATIONS", [*before, spec.add_column_sql(field.name)])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(before) + 1)
    fresh = tmp_path / "fresh.db"
    Store(fresh)  # the ADD COLUMN finds the column there and is skipped
    Store(upgraded)
    assert _schema(fresh) == _schema(upgraded)
    assert any(col[0] == field.column for col in _schema(upgraded)["tables"][spec.table])
