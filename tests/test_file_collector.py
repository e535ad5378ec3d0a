"""The file collector: YAML, JSON and CSV records, malformed rows skipped and counted."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.base import CollectContext, CollectionResult, CollectorError, ErrorKind
from collectors.file import FileCollector, FileCollectorSettings
from collectors.records import Disposition, FindingState, RecordKind, Severity

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
    assert "findings.csv line 3: severity: invalid value 'urgent'" in caplog.text
    assert "line 4: opened_at: not an ISO-8601 timestamp" in caplog.text
    assert "line 5: a fixed finding needs resolved_at" in caplog.text
    assert "line 7: duplicate finding id 'F-1'" in caplog.text


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
    assert len(result.repositories) == 60
    assert len(result.findings) > 3000 and len(result.siem_alerts) > 5000
    assert {f.severity for f in result.findings} == set(Severity)
    assert {f.state for f in result.findings} == set(FindingState)
    oldest = min(f.opened_at for f in result.findings)
    assert NOW - oldest > timedelta(days=8 * 92)  # at least eight quarters


def test_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    from pydantic import ValidationError

    (tmp_path / "d.yaml").write_text("findings: []\n")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        run(tmp_path, [{"path": "d.yaml"}], naive_timezone="Mars/Olympus")
