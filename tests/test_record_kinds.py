"""Record kinds are one declaration: the store, the docs and the results follow from it."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import pytest

from collectors.base import CollectionResult
from collectors.kinds import KINDS, Column, markdown_table, record_kind
from collectors.records import Finding, FindingState, RecordKind, Repository, Severity
from exporter.store import MIGRATIONS, Store
from tests.builders import NOW, finding, repo

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- record-fields:begin -->\n", "<!-- record-fields:end -->"


def test_migrated_tables_are_exactly_what_the_declarations_describe(tmp_path: Path) -> None:
    """Hand-written early migrations and the declarations must not drift apart."""
    store = Store(tmp_path / "s.db")
    db = store._connect()
    for spec in KINDS.values():
        info = {row[1]: row for row in db.execute(f"PRAGMA table_info({spec.table})")}
        assert set(info) == set(spec.columns), spec.kind
        declared = {f.column: f for f in spec.fields}
        for column, (_, _, sql_type, not_null, _, pk) in info.items():
            if column in declared:
                assert sql_type == declared[column].sql_type, (spec.kind, column)
                assert bool(not_null) == declared[column].not_null, (spec.kind, column)
            assert bool(pk) == (column in spec.key), (spec.kind, column)


def test_every_kind_round_trips_through_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    records = [
        finding("2026-11-01", fixed_after_days=3, cve_ids=("CVE-2026-1", "CVE-2026-2")),
        repo("api", sast_enabled=True, review_gate_tier=3, topics=("pci",),
             required_review=True, observed_at=datetime(2026, 8, 1, tzinfo=UTC)),
        repo("api", sast_enabled=False),
    ]
    store.apply("c", CollectionResult(findings=records[:1], repositories=records[1:]), NOW)
    assert list(store.decode_rows(RecordKind.FINDING)) == records[:1]
    assert sorted(store.decode_rows(RecordKind.REPOSITORY),
                  key=lambda r: r.observed_at is None) == records[1:]


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Widget:
    """A kind that does not exist until a test declares it."""

    id: str
    source: str
    colour: Colour
    seen_at: datetime | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Weighed:
    id: str
    source: str
    weight: float


class Mood(StrEnum):
    OK = "ok"


@dataclass(frozen=True)
class Moody:
    id: str
    source: str
    mood: Mood


def test_a_new_kind_is_one_declaration() -> None:
    """Table, encoder, decoder, docs and results of a kind declared a moment ago."""
    kind = "test_widget"
    try:
        record_kind(kind, table="test_widgets", section="test_widgets",
                    codes={Colour: {"red": 0, "blue": 1}},
                    columns={"seen_at": Column(name="seen", key=True, none_as=0.0)},
                    docs={"colour": "what it looks like"})(Widget)
        spec = KINDS[kind]
        db = sqlite3.connect(":memory:")
        db.executescript(spec.create_sql())
        widget = Widget("w1", "s", Colour.BLUE, datetime(2026, 1, 1, tzinfo=UTC), ("a", "b"))
        db.execute(f"INSERT INTO test_widgets ({', '.join(spec.columns)}) VALUES "  # noqa: S608
                   f"({', '.join('?' * len(spec.columns))})", spec.encode(widget, "c", 1))
        row = db.execute(
            f"SELECT {', '.join(spec.columns)} FROM test_widgets").fetchone()  # noqa: S608
        assert spec.decode(row) == widget
        assert spec.key == ("source", "id", "seen")
        assert "| test_widget | `colour` | `red` \\| `blue` | yes | what it looks like |" in \
            markdown_table({kind: spec})
        result = CollectionResult(test_widgets=[widget])
        assert result.records_of(kind) == [widget]  # type: ignore[arg-type]
    finally:
        KINDS.pop(kind, None)


def test_unsupported_declarations_fail_at_import_time_naming_kind_and_field() -> None:
    with pytest.raises(TypeError, match=r"test_bad\.weight: unsupported field type"):
        record_kind("test_bad", table="t", section="t")(Weighed)
    with pytest.raises(TypeError, match=r"test_bad\.mood: give stored codes"):
        record_kind("test_bad", table="t", section="t")(Moody)
    assert "test_bad" not in KINDS


def test_a_field_added_later_is_a_nullable_column() -> None:
    spec = KINDS[RecordKind.REPOSITORY]
    assert spec.add_column_sql("required_review") == MIGRATIONS[1].strip()
    with pytest.raises(ValueError, match="nullable"):
        spec.add_column_sql("name")


def test_the_readme_field_reference_is_generated_from_the_declarations() -> None:
    text = README.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    generated = markdown_table()
    if os.environ.get("UPDATE_DOCS") == "1":
        README.write_text(text[:start] + generated + text[end:])
        text = README.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    assert text[start:end] == generated, (
        "README's field table differs from the record declarations; regenerate it with "
        "UPDATE_DOCS=1 python3 -m pytest tests/test_record_kinds.py")


def test_results_hold_records_by_kind_through_one_mapping() -> None:
    f = Finding(id="F-1", source="s", severity=Severity.HIGH, opened_at=NOW,
                state=FindingState.OPEN)
    r = Repository(id="r", source="s", name="r")
    result = CollectionResult(findings=[f])
    result.repositories.append(r)  # the per-kind names of the old interface still work
    assert result.records == {RecordKind.FINDING: [f], RecordKind.REPOSITORY: [r]}
    assert result.records_of(RecordKind.INCIDENT) == []
    with pytest.raises(TypeError, match="no record kind 'widgets'"):
        CollectionResult(widgets=[f])  # type: ignore[call-arg]
