"""The file collector: YAML, JSON and CSV records, malformed rows skipped and counted."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import io
import json
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from collectors.base import CollectContext, CollectionResult, CollectorError, ErrorKind
from collectors.file import FileCollector, FileCollectorSettings
from collectors.kinds import KINDS
from collectors.records import Disposition, FindingState, RecordKind, Severity

try:
    import hypothesis
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - without it, a seeded random loop stands in
    hypothesis = None

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def run(tmp_path: Path, files: list[dict], **settings: object) -> CollectionResult:
    model = FileCollectorSettings.model_validate({"files": files, **settings},
                                                context={"base_dir": tmp_path})
    ctx = CollectContext("files", NOW, {}, logging.getLogger("test"))
    return asyncio.run(FileCollector("files", model).collect(ctx))


def test_yaml_sections_become_records(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("""
findings:
  - {id: F-1, severity: Critical, opened_at: "2026-11-01T10:00:00Z", state: fixed,
     resolved_at: "2026-11-03T10:00:00+02:00", cve_ids: [CVE-2026-1, CVE-2026-2]}
repositories:
  - {id: acme/api, name: api, sast_enabled: yes, review_gate_tier: 3, topics: "a;b"}
""")
    result = run(tmp_path, [{"path": "data.yaml"}])
    [finding] = result.findings
    assert finding.severity is Severity.CRITICAL and finding.state is FindingState.FIXED
    assert finding.resolved_at == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert finding.cve_ids == ("CVE-2026-1", "CVE-2026-2")
    assert finding.source == "files"  # defaults to the collector name
    [repository] = result.repositories
    assert repository.sast_enabled is True and repository.review_gate_tier == 3
    assert repository.topics == ("a", "b") and repository.secret_scanning is None
    assert result.complete == frozenset(RecordKind)


def test_json_and_csv(tmp_path: Path) -> None:
    (tmp_path / "incidents.json").write_text(json.dumps({"incidents": [
        {"id": "I-1", "detected_at": "2026-11-01T10:00:00Z", "started_at": "2026-11-01T08:00:00Z",
         "postmortem": True}]}))
    (tmp_path / "siem_alerts.csv").write_text(
        "id,created_at,disposition,triaged_at,rule\n"
        "A-1,2026-11-01T10:00:00,actionable,2026-11-01T11:00:00,Brute force\n"
        "A-2,2026-11-01T10:00:00,,,\n")
    result = run(tmp_path, [{"path": "incidents.json"}, {"path": "*.csv"}],
                 naive_timezone="Europe/Berlin")
    assert result.incidents[0].postmortem is True
    first, second = result.siem_alerts
    # naive timestamps are read in the configured zone: 10:00 Berlin = 09:00 UTC
    assert first.created_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert first.disposition is Disposition.ACTIONABLE and first.rule == "Brute force"
    assert second.disposition is Disposition.UNTRIAGED


def test_malformed_rows_are_skipped_counted_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "findings.csv").write_text(
        "id,severity,opened_at,state,resolved_at\n"
        "F-1,high,2026-11-01T00:00:00Z,open,\n"
        "F-2,urgent,2026-11-01T00:00:00Z,open,\n"  # unknown severity
        "F-3,high,yesterday,open,\n"  # bad timestamp
        "F-4,high,2026-11-01T00:00:00Z,fixed,\n"  # fixed without resolved_at
        "F-5,high,2026-11-05T00:00:00Z,fixed,2026-11-01T00:00:00Z\n"  # fixed before opened
        "F-1,low,2026-11-01T00:00:00Z,open,\n")  # duplicate id
    with caplog.at_level(logging.WARNING):
        result = run(tmp_path, [{"path": "findings.csv"}])
    assert [f.id for f in result.findings] == ["F-1"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 5}
    # the log names file, row and field, never the row's values (issue 11)
    assert "findings.csv line 3: severity: not one of critical, high, medium, low" in caplog.text
    assert "line 4: opened_at: not an ISO-8601 timestamp" in caplog.text
    assert "line 5: a fixed finding needs resolved_at" in caplog.text
    assert "line 6: resolved_at is before opened_at" in caplog.text
    assert "line 7: duplicate finding id (first at line 2)" in caplog.text
    assert "urgent" not in caplog.text and "yesterday" not in caplog.text


def test_unknown_field_in_row_is_an_error_not_silently_dropped(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("findings:\n  - {id: F, severity: low, "
                                     "opened_at: '2026-11-01T00:00:00Z', sevrity: high}\n")
    result = run(tmp_path, [{"path": "d.yaml"}])
    assert result.findings == [] and result.record_errors[ErrorKind.MALFORMED_RECORD] == 1


def test_unparseable_file_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("findings: [\n")
    with pytest.raises(CollectorError) as info:
        run(tmp_path, [{"path": "d.yaml"}])
    assert info.value.kind is ErrorKind.MALFORMED_RESPONSE and "d.yaml" in str(info.value)


def test_unknown_section_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("vulns: []\n")
    with pytest.raises(CollectorError, match="unknown section"):
        run(tmp_path, [{"path": "d.yaml"}])


def test_csv_kind_from_config_or_name(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_text("id,detected_at\nI-9,2026-11-01T00:00:00Z\n")
    with pytest.raises(CollectorError, match="set kind"):
        run(tmp_path, [{"path": "export.csv"}])
    result = run(tmp_path, [{"path": "export.csv", "kind": "incident"}])
    assert result.incidents[0].id == "I-9"


def test_rebase_shifts_every_timestamp(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("findings:\n  - {id: F, severity: low, state: fixed, "
                                     "opened_at: '2026-01-01T00:00:00Z', "
                                     "resolved_at: '2026-01-02T00:00:00Z'}\n")
    result = run(tmp_path, [{"path": "d.yaml"}], rebase={"anchor": "2026-01-03T00:00:00Z"})
    shift = NOW - datetime(2026, 1, 3, tzinfo=UTC)
    assert result.findings[0].opened_at == datetime(2026, 1, 1, tzinfo=UTC) + shift
    assert result.findings[0].resolved_at - result.findings[0].opened_at == timedelta(days=1)


def test_bundled_demo_data_reads_cleanly() -> None:
    model = FileCollectorSettings.model_validate(
        {"files": [{"path": "demo/*.json"}, {"path": "demo/repositories.yaml"},
                   {"path": "demo/*.csv"}], "rebase": {"anchor": "2026-11-23T00:00:00Z"}},
        context={"base_dir": REPO})
    ctx = CollectContext("demo", NOW, {}, logging.getLogger("test"))
    result = asyncio.run(FileCollector("demo", model).collect(ctx))
    assert not result.record_errors
    assert len([r for r in result.repositories if r.observed_at is None]) == 60
    assert len(result.repositories) == 300  # and four dated snapshots of each
    assert len(result.findings) > 3000 and len(result.siem_alerts) > 5000
    assert {f.severity for f in result.findings} == set(Severity)
    assert {f.state for f in result.findings} == set(FindingState)
    oldest = min(f.opened_at for f in result.findings)
    assert NOW - oldest > timedelta(days=8 * 92)  # at least eight quarters


def test_dated_repository_snapshots_coexist_and_are_rebased(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Snapshots of one repository at several times are several records (issue 10)."""
    (tmp_path / "repositories.csv").write_text(
        "id,name,sast_enabled,observed_at\n"
        "acme/api,api,yes,\n"
        "acme/api,api,no,2026-08-01T00:00:00Z\n"
        "acme/api,api,no,2026-05-01T00:00:00Z\n"
        "acme/api,api,yes,2026-08-01T00:00:00Z\n")  # the same observation twice
    anchor = datetime(2026, 11, 1, tzinfo=UTC)
    result = run(tmp_path, [{"path": "repositories.csv"}], rebase={"anchor": anchor.isoformat()})
    shift = NOW - anchor
    assert [(r.id, r.observed_at, r.sast_enabled) for r in result.repositories] == [
        ("acme/api", None, True),
        ("acme/api", datetime(2026, 8, 1, tzinfo=UTC) + shift, False),
        ("acme/api", datetime(2026, 5, 1, tzinfo=UTC) + shift, False),
    ]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 1}
    assert "line 5: duplicate repository id and observed_at (first at line 3)" in caplog.text
    assert RecordKind.REPOSITORY in result.complete
    # the store keeps "current" as observation time 0: the epoch itself is refused
    (tmp_path / "epoch.yaml").write_text("repositories:\n"
                                         "  - {id: acme/web, name: web, observed_at: 0}\n"
                                         "  - {id: acme/web, name: web, observed_at: 1}\n")
    result = run(tmp_path, [{"path": "epoch.yaml"}])
    assert [r.observed_at for r in result.repositories] == [datetime(1970, 1, 1, 0, 0, 1,
                                                                     tzinfo=UTC)]
    assert "repositories[0]: observed_at must be after 1970-01-01" in caplog.text


def test_bundled_demo_has_a_dated_snapshot_in_every_previous_quarter() -> None:
    """Whatever day the rebased demo runs, its previous quarter has repository settings.

    The rebase shifts every time by ``now - anchor``, so what counts is how long before
    ``now`` each snapshot lies: checked at the first and last hour of every day of two
    years, for calendar quarters and for fiscal years starting in February (whose
    February-April quarter is the shortest, 89 days).
    """
    from exporter.quarters import previous_quarter, quarter_of

    model = FileCollectorSettings.model_validate(
        {"files": [{"path": "demo/repositories.yaml"}],
         "rebase": {"anchor": "2026-11-23T00:00:00Z"}}, context={"base_dir": REPO})
    ctx = CollectContext("demo", NOW, {}, logging.getLogger("test"))
    result = asyncio.run(FileCollector("demo", model).collect(ctx))
    assert not result.record_errors
    current = {r.id for r in result.repositories if r.observed_at is None}
    assert len(current) == 60
    ages: dict[str, list[timedelta]] = {}
    for r in result.repositories:
        if r.observed_at is not None:
            ages.setdefault(r.id, []).append(NOW - r.observed_at)
    assert set(ages) == current
    for day in range(2 * 365):
        for hour in (0.5, 23.5):
            now = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=hour)
            for fiscal_start in (1, 2):
                previous = previous_quarter(quarter_of(now, fiscal_start), fiscal_start)
                missing = [name for name, offsets in ages.items()
                           if not any(previous.start <= now - age < previous.end
                                      for age in offsets)]
                assert not missing, (now, fiscal_start, missing[:3])


def test_bundled_demo_has_a_snapshot_of_every_point_in_time_kind_in_every_previous_quarter(
        ) -> None:
    """Identity, detection and posture states have a previous quarter whatever the day.

    As for repositories above, for every day of two years (calendar and February fiscal
    years): each kind with dated snapshots has one in the previous quarter. Snapshot ids
    are today's (or fewer: accounts that joined since, rules written since), so a snapshot
    that falls in the current quarter adds no record there.
    """
    from exporter.quarters import previous_quarter, quarter_of

    model = FileCollectorSettings.model_validate(
        {"files": [{"path": "demo/identity.yaml"}, {"path": "demo/detection.yaml"},
                   {"path": "demo/posture.json"}],
         "rebase": {"anchor": "2026-11-23T00:00:00Z"}}, context={"base_dir": REPO})
    ctx = CollectContext("demo", NOW, {}, logging.getLogger("test"))
    result = asyncio.run(FileCollector("demo", model).collect(ctx))
    assert not result.record_errors
    kinds = (RecordKind.IDENTITY_ACCOUNT, RecordKind.APPLICATION,
             RecordKind.PRIVILEGED_ASSIGNMENT, RecordKind.DETECTION_RULE,
             RecordKind.WORKLOAD, RecordKind.POSTURE_RESULT)
    ages: dict[RecordKind, set[timedelta]] = {}
    for kind in kinds:
        records = result.records_of(kind)
        current = {(r.source, r.id) for r in records if r.observed_at is None}
        dated = {(r.source, r.id) for r in records if r.observed_at is not None}
        assert current and dated <= current, kind
        ages[kind] = {NOW - r.observed_at for r in records if r.observed_at is not None}
    for day in range(2 * 365):
        for hour in (0.5, 23.5):
            now = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=hour)
            for fiscal_start in (1, 2):
                previous = previous_quarter(quarter_of(now, fiscal_start), fiscal_start)
                missing = [kind for kind, offsets in ages.items()
                           if not any(previous.start <= now - age < previous.end
                                      for age in offsets)]
                assert not missing, (now, fiscal_start, missing)


def test_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    from pydantic import ValidationError

    (tmp_path / "d.yaml").write_text("findings: []\n")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        run(tmp_path, [{"path": "d.yaml"}], naive_timezone="Mars/Olympus")


# -- hostile input (issue 11): empty files, YAML bombs, bad rows, encodings -----------------

GOOD_REPOS = "repositories:\n  - {id: acme/api, name: api}\n"
FINDINGS_HEADER = "id,severity,opened_at,state,resolved_at\n"


def _ids(records: list) -> list[str]:
    return [r.id for r in records]


@pytest.mark.parametrize(("name", "content", "spec", "at_stake"), [
    ("findings.csv", b"", {}, {RecordKind.FINDING}),
    ("findings.csv", FINDINGS_HEADER.encode(), {}, {RecordKind.FINDING}),
    ("findings.csv", b"\xef\xbb\xbf\n\n", {}, {RecordKind.FINDING}),
    ("d.yaml", b"", {}, set(RecordKind)),  # a YAML file may hold any kind ...
    ("d.yaml", b"", {"kind": "finding"}, {RecordKind.FINDING}),  # ... unless kind: says
    ("d.yaml", b"null\n", {}, set(RecordKind)),
    ("d.yaml", b"# everything was deleted\n", {}, set(RecordKind)),
    ("d.yaml", b"findings: []\n", {}, set(RecordKind)),
    ("d.json", b"null", {}, set(RecordKind)),
    ("d.json", b"{}", {"kind": "incident"}, {RecordKind.INCIDENT}),
])
def test_empty_or_null_file_fails_alone_and_keeps_its_kinds(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        name: str, content: bytes, spec: dict, at_stake: set[RecordKind]) -> None:
    (tmp_path / name).write_bytes(content)
    (tmp_path / "repos.yaml").write_text(GOOD_REPOS)
    with caplog.at_level(logging.ERROR):
        result = run(tmp_path, [{"path": name, **spec}, {"path": "repos.yaml"}])
    assert _ids(result.repositories) == ["acme/api"]  # the good file still stores
    assert result.complete == frozenset(RecordKind) - at_stake  # nothing of those is deleted
    assert result.record_errors == {ErrorKind.MALFORMED_RESPONSE: 1}
    assert f"{name}: holds no records" in caplog.text and "allow_empty" in caplog.text
    # alone, the empty file fails the run: the previous data is kept
    with pytest.raises(CollectorError, match="holds no records") as info:
        run(tmp_path, [{"path": name, **spec}])
    assert info.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize(("name", "content"), [
    ("findings.csv", ""), ("findings.csv", FINDINGS_HEADER), ("d.yaml", "null\n"),
    ("d.json", '{"findings": []}'),
])
def test_allow_empty_makes_an_empty_file_a_complete_empty_set(
        tmp_path: Path, name: str, content: str) -> None:
    (tmp_path / name).write_text(content)
    result = run(tmp_path, [{"path": name, "allow_empty": True}])
    assert result.findings == [] and not result.record_errors
    assert result.complete == frozenset(RecordKind)


def test_yaml_alias_bomb_is_refused_naming_the_file(tmp_path: Path) -> None:
    # Each level repeats the previous one nine times; eight levels (the hostile test's
    # bomb) stored a 300 MB string. Six keep this test cheap before the fix, too.
    levels = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"&l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 6)]
    (tmp_path / "bomb.yaml").write_text(
        "findings:\n"
        f"  - {{id: F-0, severity: low, opened_at: '2026-11-01T00:00:00Z', "
        f"dismissed_reason: [{', '.join(levels)}]}}\n"
        "  - {id: F-1, severity: low, opened_at: '2026-11-01T00:00:00Z', asset: *l5}\n")
    with pytest.raises(CollectorError) as info:
        run(tmp_path, [{"path": "bomb.yaml"}])
    assert "bomb.yaml" in str(info.value) and "alias" in str(info.value)
    assert info.value.kind is ErrorKind.MALFORMED_RESPONSE


def test_yaml_anchor_or_merge_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        "findings:\n  - &base {id: F-1, severity: low, opened_at: '2026-11-01T00:00:00Z'}\n"
        "  - {<<: *base, id: F-2}\n")
    (tmp_path / "repos.yaml").write_text(GOOD_REPOS)
    result = run(tmp_path, [{"path": "d.yaml"}, {"path": "repos.yaml"}])
    assert result.findings == [] and _ids(result.repositories) == ["acme/api"]
    assert result.complete == frozenset()  # d.yaml may hold any kind
    assert result.record_errors == {ErrorKind.MALFORMED_RESPONSE: 1}


def test_file_over_the_size_cap_is_failed_unread(tmp_path: Path) -> None:
    (tmp_path / "findings.csv").write_text(
        FINDINGS_HEADER + "F-1,high,2026-11-01T00:00:00Z,open,\n" * 1)
    (tmp_path / "repos.yaml").write_text(GOOD_REPOS)
    files = [{"path": "findings.csv"}, {"path": "repos.yaml"}]
    assert len(run(tmp_path, files).findings) == 1
    result = run(tmp_path, files, max_file_size="64B")
    assert result.findings == [] and _ids(result.repositories) == ["acme/api"]
    assert RecordKind.FINDING not in result.complete
    assert result.record_errors == {ErrorKind.MALFORMED_RESPONSE: 1}
    assert FileCollectorSettings.model_validate(
        {"files": [{"path": "repos.yaml"}]}, context={"base_dir": tmp_path}
    ).max_file_size == 64 * 1024 * 1024


def test_oversized_field_skips_only_its_record(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    big = "A" * (64 * 1024 + 1)
    (tmp_path / "d.json").write_text(json.dumps({"findings": [
        {"id": "F-1", "severity": "low", "opened_at": "2026-11-01T00:00:00Z", "asset": big},
        {"id": "F-2", "severity": "low", "opened_at": "2026-11-01T00:00:00Z",
         "cve_ids": ["CVE-2026-1"] * 7000},
        {"id": "F-3", "severity": "low", "opened_at": "2026-11-01T00:00:00Z",
         "asset": "A" * 64 * 1024},
    ]}))
    with caplog.at_level(logging.WARNING):
        result = run(tmp_path, [{"path": "d.json"}])
    assert _ids(result.findings) == ["F-3"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 2}
    assert "d.json findings[0]: asset: longer than 65536 characters" in caplog.text
    assert "findings[1]: cve_ids: longer than 65536 characters" in caplog.text
    assert "AAAA" not in caplog.text
    result = run(tmp_path, [{"path": "d.json"}], max_field_length=10)
    assert result.findings == []


# One bad value per row; the other rows of the file must be stored. (field, raw JSON text)
HOSTILE_JSON_VALUES = [
    ("opened_at", "1e20"),  # unix time beyond the calendar
    ("opened_at", "-99999999999999"),
    ("opened_at", "253402300800"),  # 10000-01-01
    ("opened_at", "Infinity"),
    ("opened_at", "NaN"),
    ("opened_at", '"9999-12-31T23:59:59-05:00"'),  # overflows when converted to UTC
    ("opened_at", '"0001-01-01T00:00:00+05:00"'),
    ("opened_at", "true"),
    ("opened_at", "[1]"),
    ("severity", "[\"high\"]"),
    ("severity", "{\"a\": 1}"),
    ("severity", "3"),
    ("asset", "{\"nested\": [1, 2]}"),  # not text: never str() a structure
    ("asset", "true"),
    ("asset", "1" * 4400),  # 4,400-digit integer
    ("asset", '"\\ud800"'),  # a lone surrogate cannot be stored
    ("asset", '"a\\u0000b"'),
    ("cve_ids", "[{\"a\": 1}]"),
    ("cve_ids", "3.5"),
    ("id", "null"),
    ("id", "[]"),
    ("state", "\"fixed\""),  # fixed without resolved_at
]
HOSTILE_REPO_VALUES = [
    ("review_gate_tier", "[3]"),
    ("review_gate_tier", "{\"tier\": 3}"),
    ("review_gate_tier", "true"),
    ("review_gate_tier", "3.5"),
    ("review_gate_tier", "Infinity"),
    ("review_gate_tier", "1e400"),
    ("review_gate_tier", "9" * 4400),
    ("review_gate_tier", '"' + "9" * 4400 + '"'),
    ("review_gate_tier", "-1"),
    ("sast_enabled", "[true]"),
    ("sast_enabled", "2"),
    ("name", "false"),
    ("topics", "{\"a\": 1}"),
]


def _json_with(kind: str, rows: list[dict], index: int, field: str, raw: str) -> str:
    rows = [dict(r) for r in rows]
    rows[index][field] = "@@RAW@@"
    return json.dumps({kind: rows}).replace('"@@RAW@@"', raw)


FINDING_ROWS = [{"id": f"F-{n}", "severity": "high", "opened_at": "2026-11-01T00:00:00Z"}
                for n in range(3)]
REPO_ROWS = [{"id": f"acme/r{n}", "name": f"r{n}"} for n in range(3)]


@pytest.mark.parametrize(("kind", "field", "raw"),
                         [("findings", f, r) for f, r in HOSTILE_JSON_VALUES]
                         + [("repositories", f, r) for f, r in HOSTILE_REPO_VALUES],
                         ids=lambda value: value[:24])
def test_one_bad_value_skips_its_row_and_keeps_the_others(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, field: str, raw: str) -> None:
    rows = FINDING_ROWS if kind == "findings" else REPO_ROWS
    (tmp_path / "d.json").write_text(_json_with(kind, rows, 1, field, raw))
    with caplog.at_level(logging.WARNING):
        result = run(tmp_path, [{"path": "d.json"}])
    records = result.findings if kind == "findings" else result.repositories
    assert _ids(records) == [rows[0]["id"], rows[2]["id"]]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 1}
    assert result.complete == frozenset(RecordKind)
    assert f"d.json {kind}[1]: " in caplog.text
    if len(raw) > 5 and field != "state":  # the log names file, row and field, never content
        assert raw.strip('"')[:20] not in caplog.text


@pytest.mark.parametrize("raw", [
    "1" * 4400, "0000-01-01", "2026-02-30", "2026-11-01T25:00:00Z", ".inf", ".nan",
    "[1, [2, [3]]]", "{a: 1}", "!!binary aGVsbG8=", "!!set {a, b}", "yes", "2026-11-01",
], ids=lambda value: value[:24])
def test_hostile_yaml_values_skip_only_their_row(tmp_path: Path, raw: str) -> None:
    (tmp_path / "d.yaml").write_text(
        "findings:\n"
        "  - {id: F-0, severity: low, opened_at: '2026-11-01T00:00:00Z'}\n"
        f"  - {{id: F-1, severity: low, opened_at: {raw}}}\n"
        "  - {id: F-2, severity: low, opened_at: '2026-11-01T00:00:00Z'}\n"
        "repositories:\n"
        f"  - {{id: r1, name: r1, review_gate_tier: {raw}}}\n"
        "  - {id: r2, name: r2}\n")
    result = run(tmp_path, [{"path": "d.yaml"}])
    assert _ids(result.findings) == ["F-0", "F-2"] and _ids(result.repositories) == ["r2"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 2}


def test_yaml_non_text_field_names_are_a_bad_row(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        "findings:\n"
        "  - {id: F-1, severity: low, opened_at: '2026-11-01T00:00:00Z', 1: a, null: b, 2.5: c}\n"
        "  - {id: F-2, severity: low, opened_at: '2026-11-01T00:00:00Z'}\n")
    result = run(tmp_path, [{"path": "d.yaml"}])
    assert _ids(result.findings) == ["F-2"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 1}


def test_log_names_file_and_row_but_never_row_content(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "incidents.csv").write_text(
        "id,detected_at,resolved_at,severity\n"
        "I-1,2026-11-02T00:00:00Z,2026-11-01T00:00:00Z,\n"  # resolved before detected
        "I-2,2026-11-02T00:00:00Z,,sev-jane.doe@example.com\n"
        "I-2,2026-11-02T00:00:00Z,,\n"
        "I-2,2026-11-02T00:00:00Z,,\n")
    with caplog.at_level(logging.WARNING):
        result = run(tmp_path, [{"path": "incidents.csv"}])
    assert _ids(result.incidents) == ["I-2"]
    assert "incidents.csv line 2: resolved_at is before detected_at" in caplog.text
    assert "incidents.csv line 3: severity: not one of critical, high, medium, low" in caplog.text
    assert "incidents.csv line 5: duplicate incident id (first at line 4)" in caplog.text
    for content in ("2026-11", "jane.doe", "'I-2'"):
        assert content not in caplog.text


def test_bad_file_fails_alone_and_its_kinds_are_not_complete(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "findings.csv").write_bytes(
        (FINDINGS_HEADER + "F-1,high,2026-11-01T00:00:00Z,open,\n").encode() + b"\xff\xfe\n")
    (tmp_path / "broken.yaml").write_text("incidents: [\n")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "siem_alerts.csv").write_text("id,created_at\nA-1,2026-11-01T00:00:00Z\n")
    (tmp_path / "repos.yaml").write_text(GOOD_REPOS)
    with caplog.at_level(logging.ERROR):
        result = run(tmp_path, [{"path": "findings.csv"}, {"path": "broken.yaml",
                                                           "kind": "incident"},
                                {"path": "list.json", "kind": "siem_alert"},
                                {"path": "siem_alerts.csv"}, {"path": "repos.yaml"}])
    # a failed file contributes no row at all, not even its readable first rows
    assert result.findings == [] and result.incidents == []
    assert _ids(result.siem_alerts) == ["A-1"] and _ids(result.repositories) == ["acme/api"]
    # every kind no file failed for is complete (kinds no file holds are complete and empty)
    assert result.complete == set(KINDS) - {RecordKind.FINDING, RecordKind.INCIDENT,
                                            RecordKind.SIEM_ALERT}
    assert RecordKind.REPOSITORY in result.complete
    assert result.record_errors == {ErrorKind.MALFORMED_RESPONSE: 3}
    assert "findings.csv: not valid UTF-8 (byte 76)" in caplog.text
    assert "broken.yaml: not valid YAML" in caplog.text
    assert "list.json: expected a mapping of findings" in caplog.text


def test_every_file_failed_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("findings: [\n")
    (tmp_path / "b.json").write_text("{")
    with pytest.raises(CollectorError, match="all 2 data files failed") as info:
        run(tmp_path, [{"path": "*.yaml"}, {"path": "*.json"}])
    assert info.value.kind is ErrorKind.MALFORMED_RESPONSE and "a.yaml" in str(info.value)


def test_deeply_nested_document_is_a_bad_file_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text('{"findings": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    (tmp_path / "d.yaml").write_text("findings: [" + "[" * 100_000 + "]" * 100_000 + "]\n")
    for name in ("d.json", "d.yaml"):
        with pytest.raises(CollectorError, match=f"{name}: not valid"):
            run(tmp_path, [{"path": name}])


def test_excel_utf8_bom_csv_is_read(tmp_path: Path) -> None:
    (tmp_path / "findings.csv").write_bytes(
        b"\xef\xbb\xbf" + (FINDINGS_HEADER + "F-1,high,2026-11-01T00:00:00Z,open,\r\n"
                           ).replace("\n", "\r\n").encode())
    result = run(tmp_path, [{"path": "findings.csv"}])
    assert _ids(result.findings) == ["F-1"] and not result.record_errors


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_bom_are_decoded(tmp_path: Path, encoding: str) -> None:
    text = FINDINGS_HEADER + "F-1,high,2026-11-01T00:00:00Z,open,\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    (tmp_path / "findings.csv").write_bytes(data)
    result = run(tmp_path, [{"path": "findings.csv"}])
    assert _ids(result.findings) == ["F-1"] and not result.record_errors


def test_utf16_without_a_bom_is_a_bad_file_with_a_clear_message(tmp_path: Path) -> None:
    text = FINDINGS_HEADER + "F-1,high,2026-11-01T00:00:00Z,open,\n"
    (tmp_path / "findings.csv").write_bytes(text.encode("utf-16-le"))
    with pytest.raises(CollectorError, match=r"findings\.csv: contains NUL characters"):
        run(tmp_path, [{"path": "findings.csv"}])


def test_every_row_malformed_keeps_that_kind_incomplete(tmp_path: Path) -> None:
    # A renamed column makes every row bad: that must not delete every stored finding.
    (tmp_path / "findings.csv").write_text(
        "id,Severity,opened_at\nF-1,high,2026-11-01T00:00:00Z\nF-2,low,2026-11-01T00:00:00Z\n")
    (tmp_path / "repos.yaml").write_text(GOOD_REPOS)
    result = run(tmp_path, [{"path": "findings.csv"}, {"path": "repos.yaml"}])
    assert result.findings == [] and result.record_errors == {ErrorKind.MALFORMED_RECORD: 2}
    assert result.complete == frozenset(RecordKind) - {RecordKind.FINDING}


def test_truncated_or_ragged_csv_rows_are_malformed(tmp_path: Path) -> None:
    (tmp_path / "findings.csv").write_text(
        FINDINGS_HEADER
        + "F-1,high,2026-11-01T00:00:00Z,fixed,2026-11-02T00:00:00Z\n"
        + "F-2,high,2026-11-01T00:00:00Z,fixed,2026-11-02T00:00:00Z,extra\n"
        + "F-3,high,2026-11-01T00:00:00Z\n")  # cut short: would read as an open finding
    result = run(tmp_path, [{"path": "findings.csv"}])
    assert _ids(result.findings) == ["F-1"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 2}


def test_duplicate_csv_header_is_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "findings.csv").write_text(
        "id,severity,opened_at,severity\nF-1,high,2026-11-01T00:00:00Z,low\n")
    with pytest.raises(CollectorError, match="column severity appears twice"):
        run(tmp_path, [{"path": "findings.csv"}])


def test_many_bad_rows_log_a_bounded_number_of_lines(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "findings.csv").write_text(
        FINDINGS_HEADER + "F-0,high,2026-11-01T00:00:00Z,open,\n"
        + "".join(f"F-{n},urgent,2026-11-01T00:00:00Z,open,\n" for n in range(1, 500)))
    with caplog.at_level(logging.WARNING):
        result = run(tmp_path, [{"path": "findings.csv"}])
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 499}
    assert len(caplog.records) <= 12
    assert "findings.csv: 489 more malformed rows skipped" in caplog.text


# -- seeded mutation test: demo data, one hostile change at a time ---------------------------

# Literal file text for values no serializer writes: (JSON text, YAML text, CSV text).
RAW_LITERALS = [
    ("1" * 4400, "1" * 4400, "1" * 4400), ("Infinity", ".inf", "Infinity"),
    ("-Infinity", "-.inf", "-inf"), ("NaN", ".nan", "nan"), ("1e400", "1e400", "1e400"),
    ("1e20", "1e20", "1e20"), ('"\\ud800"', '"\\uD800"', "2026-13-45"),
    ('"\\u0000"', '"\\0"', "0000-01-01"), ("253402300800", "0000-01-01", "253402300800"),
    ('"9999-12-31T23:59:59-05:00"', "2026-02-30", "9999-12-31T23:59:59-05:00"),
    ("[[1], {}]", "!!set {a, b}", "[3]"), ('{"a": [1]}', "{a: [1]}", "a;b;c"),
    ('"' + "x" * 70_000 + '"', "x" * 70_000, "x" * 70_000), ("-0", "0x" + "f" * 5000, " "),
]
MUTATED_FIELDS = {
    "findings.json": ["id", "severity", "opened_at", "state", "resolved_at", "cve_ids",
                      "asset", "disclosed_at", "sevrity"],
    "repositories.yaml": ["id", "name", "archived", "sast_enabled", "sast_tools",
                          "review_gate_tier", "topics", "stars"],
    "incidents.csv": ["id", "severity", "started_at", "detected_at", "resolved_at",
                      "postmortem"],
    "siem_alerts.csv": ["id", "created_at", "disposition", "triaged_at", "rule"],
}
MUTATED_KINDS = {"findings.json": RecordKind.FINDING, "repositories.yaml": RecordKind.REPOSITORY,
                 "incidents.csv": RecordKind.INCIDENT, "siem_alerts.csv": RecordKind.SIEM_ALERT}
COMPANION = "companion.yaml"  # a good file that must be stored whatever happens to the other
COMPANION_TEXT = ("siem_alerts:\n  - {id: COMPANION-1, created_at: '2026-11-01T00:00:00Z'}\n")


@functools.cache
def _demo_slice(name: str) -> str:
    """A small, readable slice of the bundled demo data, as JSON text (read once)."""
    text = (REPO / "demo" / name).read_text()
    if name.endswith(".json"):
        rows = json.loads(text)["findings"][:12]
    elif name.endswith(".yaml"):
        rows = yaml.safe_load(text)["repositories"][:8]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))[:12]
    return json.dumps(rows)


def _demo_rows(name: str) -> list[dict]:
    return json.loads(_demo_slice(name))


def _serialize(name: str, rows: list[dict], raw: str | None) -> bytes:
    """Write rows in the file's format; a value "@@RAW@@" becomes the literal ``raw``."""
    marker = "@@RAW@@"
    if name.endswith(".json"):
        text = json.dumps({"findings": rows})
    elif name.endswith(".yaml"):
        text = yaml.safe_dump({"repositories": rows}, sort_keys=False)
    else:
        out = io.StringIO()
        fieldnames = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(out, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(rows)
        text = out.getvalue()
    if raw is not None:
        text = text.replace(f'"{marker}"', raw).replace(marker, raw)
    return text.encode("utf-8", "surrogatepass")


def _collect_mutated(tmp_path: Path, name: str, data: bytes) -> CollectionResult:
    (tmp_path / name).write_bytes(data)
    (tmp_path / COMPANION).write_text(COMPANION_TEXT)
    kind = MUTATED_KINDS[name]
    try:
        return run(tmp_path, [{"path": name, "kind": kind.value}, {"path": COMPANION}])
    except CollectorError as exc:  # pragma: no cover - the assertion below explains
        raise AssertionError(f"the run failed although {COMPANION} is good: {exc}") from None


def _check_invariants(result: CollectionResult, name: str) -> None:
    """What must hold after any mutation of one file next to a good one."""
    kind = MUTATED_KINDS[name]
    assert "COMPANION-1" in _ids(result.siem_alerts)  # a bad file never costs a good one
    assert set(result.record_errors) <= {ErrorKind.MALFORMED_RECORD,
                                          ErrorKind.MALFORMED_RESPONSE}
    mine = [r for r in result.records_of(kind) if r.id != "COMPANION-1"]
    if result.record_errors.get(ErrorKind.MALFORMED_RESPONSE):
        assert kind not in result.complete and not mine  # failed file: nothing deleted
    if kind in result.complete:
        assert mine  # never "complete and empty" from a damaged file
    for record in mine:
        for value in (record.id, getattr(record, "name", None), getattr(record, "asset", None)):
            assert value is None or len(value) <= 64 * 1024


def _check_value_mutation(tmp_path: Path, name: str, row: int, field: str,
                          value: object, raw_column: int | None) -> None:
    rows = _demo_rows(name)
    row %= len(rows)
    raw = None
    if raw_column is not None:
        raw = RAW_LITERALS[int(str(value)) % len(RAW_LITERALS)][raw_column]
        value = "@@RAW@@"
    elif name.endswith(".csv"):
        value = "" if value is None else str(value)
    rows[row] = {**rows[row], field: value}
    result = _collect_mutated(tmp_path, name, _serialize(name, rows, raw))
    _check_invariants(result, name)
    # one bad value costs at most its own row: every other row of the file is stored
    kept = set(_ids(result.records_of(MUTATED_KINDS[name])))
    others = {r["id"] for i, r in enumerate(rows) if i != row}
    assert others <= kept, f"{name}: lost {sorted(others - kept)} over one bad value"
    assert result.record_errors.get(ErrorKind.MALFORMED_RECORD, 0) <= 1
    assert MUTATED_KINDS[name] in result.complete


RAW_COLUMN = {"findings.json": 0, "repositories.yaml": 1, "incidents.csv": 2,
              "siem_alerts.csv": 2}

if hypothesis is not None:
    _hostile = st.one_of(
        st.none(), st.booleans(), st.integers(), st.text(max_size=40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=4),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        st.sampled_from(["2026-11-01T00:00:00Z", "2026-11-01", "yes", "CRITICAL", "fixed",
                         "x" * 70_000, "9" * 5000, "1e20", " ", "a\nb", "\u2028", "\ufeff"]),
    )

    @hypothesis.settings(max_examples=250, derandomize=True, database=None, deadline=None,
                         suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture,
                                                hypothesis.HealthCheck.too_slow])
    @hypothesis.given(data=st.data())
    def test_mutated_demo_values_cost_at_most_their_row(
            tmp_path: Path, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(MUTATED_FIELDS)))
        field = data.draw(st.sampled_from(MUTATED_FIELDS[name]))
        row = data.draw(st.integers(0, 11))
        if data.draw(st.booleans()):
            value: object = data.draw(st.integers(0, len(RAW_LITERALS) - 1))
            raw_column: int | None = RAW_COLUMN[name]
        else:
            value, raw_column = data.draw(_hostile), None
            if name.endswith(".csv") and "\x00" in str(value):
                value = str(value).replace("\x00", "")  # a raw NUL fails the whole file
        _check_value_mutation(tmp_path, name, row, field, value, raw_column)
else:  # pragma: no cover
    def test_mutated_demo_values_cost_at_most_their_row(tmp_path: Path) -> None:
        rng = random.Random(20261202)
        pool: list[object] = [None, True, 0, -1, 10**30, 3.5, float("inf"), "", " ", "yes",
                              [1, [2]], {"a": 1}, "2026-11-01", "x" * 70_000, "CRITICAL"]
        for _ in range(250):
            name = rng.choice(sorted(MUTATED_FIELDS))
            use_raw = rng.random() < 0.5
            value = rng.randrange(len(RAW_LITERALS)) if use_raw else rng.choice(pool)
            _check_value_mutation(tmp_path, name, rng.randrange(12),
                                  rng.choice(MUTATED_FIELDS[name]), value,
                                  RAW_COLUMN[name] if use_raw else None)


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One random structural damage: what a crash, an editor or an export tool does."""
    lines = data.splitlines(keepends=True)
    choice = rng.randrange(12)
    if choice == 0:
        return data[:rng.randrange(len(data))]  # truncated write
    if choice == 1:
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
    if choice == 2:
        at = rng.randrange(len(data))
        return data[:at] + rng.randbytes(rng.randrange(1, 16)) + data[at:]
    if choice == 3 and len(lines) > 1:
        del lines[rng.randrange(1, len(lines))]
        return b"".join(lines)
    if choice == 4:
        at = rng.randrange(len(lines))
        return b"".join(lines[:at] + [lines[at]] * 2 + lines[at + 1:])  # duplicated line
    if choice == 5:
        return rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"]) + data
    if choice == 6:
        text = data.decode()
        return text.encode(rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]),
                           "replace")
    if choice == 7:
        at = rng.randrange(len(data))
        return data[:at] + rng.choice([b"&a ", b"*a", b"<<: *a\n", b"!!python/object:os.system",
                                       b"\t", b"\r", b'"', b",", b"\n\n", b"---\n"]) + data[at:]
    if choice == 8:
        at = rng.randrange(len(data))
        return data[:at] + b"[" * 5000 + data[at:]
    if choice == 9:
        return b""
    if choice == 10:
        return data.replace(b"\n", b"\r\n")
    return data + rng.choice([b"garbage", b"\n- x\n", b",,,,\n", b"{}", b"null"])


def test_mutated_demo_files_never_raise_anything_but_collector_error(tmp_path: Path) -> None:
    rng = random.Random(11)  # seeded: a failure is reproducible from the case number
    originals = {name: _serialize(name, _demo_rows(name), None) for name in MUTATED_KINDS}
    for case in range(240):
        name = rng.choice(sorted(originals))
        mutated = _mutate_bytes(originals[name], rng)
        try:
            result = _collect_mutated(tmp_path, name, mutated)
            _check_invariants(result, name)
        except AssertionError as exc:
            raise AssertionError(f"case {case} ({name}): {exc}") from None
        # and alone, a damaged file either stores what it can or fails with CollectorError
        with contextlib.suppress(CollectorError):
            run(tmp_path, [{"path": name, "kind": MUTATED_KINDS[name].value}])
