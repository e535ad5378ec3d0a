"""Tests for the ``reports`` collector: one parsing test per format on fixtures shaped
like the tools' own (tests/fixtures/reports/README.md cites each source), detection by
content, bad input, and the lifecycle over sequences of scans with exact times."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.base import CollectContext, CollectionResult, CollectorError, ErrorKind
from collectors.records import Finding, FindingState, RecordKind, Severity
from collectors.records_scans import ScanCategory, ScanTarget
from collectors.reports import ReportsCollector, ReportsSettings
from collectors.reports.detect import detect
from collectors.reports.lifecycle import finding_id
from collectors.reports.model import key
from exporter.quarters import history_start

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reports"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SEMGREP_PATTERN = r"(?P<target>[^/]+)/(?P<scanned_at>\d{8}T\d{6}Z)"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def collector(base: Path, reports: list[dict[str, Any]] | None = None,
              **overrides: Any) -> ReportsCollector:
    data: dict[str, Any] = {"base_dir": str(base),
                            "reports": reports or [{"path": "**/*"}]}
    data.update(overrides)
    return ReportsCollector("scanners", ReportsSettings.model_validate(data))


def ctx(state: dict[str, Any] | None = None, now: datetime = NOW) -> CollectContext:
    return CollectContext("scanners", now, state or {}, logging.getLogger("test.reports"),
                          history_start=history_start(now))


def run(c: ReportsCollector, state: dict[str, Any] | None = None,
        now: datetime = NOW) -> CollectionResult:
    return asyncio.run(c.collect(ctx(state, now)))


def by_key(result: CollectionResult) -> dict[str, Finding]:
    return {f.id: f for f in result.findings}


def copy(name: str, dest: Path, as_name: str | None = None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / (as_name or name)
    shutil.copy(FIXTURES / name, target)
    return target


def summary(result: CollectionResult) -> list[tuple[str, str, str, str]]:
    return sorted((f.category or "", f.severity.value, f.state.value, f.dismissed_reason or "")
                  for f in result.findings)


# --- detection by content ---------------------------------------------------------------

@pytest.mark.parametrize(("name", "fmt"), [
    ("trivy.json", "trivy"), ("grype.json", "grype"), ("semgrep.json", "semgrep"),
    ("codeql.sarif", "sarif"), ("gitleaks.json", "gitleaks"),
    ("trufflehog.jsonl", "trufflehog"), ("zap.json", "zap"), ("nuclei.jsonl", "nuclei"),
    ("snyk.json", "snyk"),
])
def test_detects_every_format_by_content(name: str, fmt: str) -> None:
    assert detect((FIXTURES / name).read_bytes()[:65536]) == fmt


@pytest.mark.parametrize("text", [b"", b"[]", b"{}", b"not json", b'{"foo": 1}', b"\x00\x01"])
def test_undecidable_content_is_no_format(text: bytes) -> None:
    assert detect(text) is None


# --- one parsing test per format ---------------------------------------------------------

def test_trivy(tmp_path: Path) -> None:
    copy("trivy.json", tmp_path)
    result = run(collector(tmp_path))
    assert summary(result) == [
        ("iac", "high", "open", ""),            # DS002 FAIL; DS026 PASS is no finding
        ("sca", "high", "dismissed", "not_affected"),  # VEX-suppressed
        ("sca", "high", "open", ""),
        ("sca", "medium", "open", ""),
        ("sca", "medium", "open", ""),
        ("secret", "critical", "open", ""),
    ]
    scanned = at("2026-11-02T10:15:30.123456Z")
    assert {f.opened_at for f in result.findings} == {scanned}
    assert {f.asset for f in result.findings} == {"ghcr.io/acme/payments:1.4.2"}
    target = "ghcr.io/acme/payments:1.4.2"
    fid = finding_id("trivy", target, key("vuln", "CVE-2023-5363", "libcrypto3", None,
                                          "3.1.3-r0", target + " (alpine 3.18.4)"))
    high = by_key(result)[fid]
    assert high.cve_ids == ("CVE-2023-5363",)
    assert high.disclosed_at == at("2023-10-25T18:17:43.613Z")
    assert high.source == "scanners" and high.severity is Severity.HIGH
    # UNKNOWN severity: skipped and counted, never guessed.
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 1}
    assert result.complete == frozenset({RecordKind.FINDING, RecordKind.SCAN_TARGET})


def test_grype(tmp_path: Path) -> None:
    copy("grype.json", tmp_path)
    result = run(collector(tmp_path))
    assert summary(result) == [("sca", "critical", "open", ""), ("sca", "high", "dismissed",
                                                                  "ignore_rule"),
                               ("sca", "low", "open", "")]
    assert {f.opened_at for f in result.findings} == {at("2026-11-02T15:00:00.585924Z")}
    assert {f.asset for f in result.findings} == {"registry.acme.example/orders:2.3.0"}
    assert sorted(f.cve_ids for f in result.findings) == [
        ("CVE-2005-2541",), ("CVE-2021-44228",), ("CVE-2023-4911",)]
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 1}  # "Unknown"


def test_semgrep_target_and_time_from_path(tmp_path: Path) -> None:
    copy("semgrep.json", tmp_path / "storefront", "20261103T090000Z-semgrep.json")
    result = run(collector(tmp_path, [{"path": "**/*.json", "path_pattern": SEMGREP_PATTERN}]))
    assert summary(result) == [("sast", "high", "open", ""), ("sast", "medium", "dismissed",
                                                               "nosemgrep"),
                               ("sast", "medium", "open", "")]
    assert {f.asset for f in result.findings} == {"storefront"}
    assert {f.opened_at for f in result.findings} == {at("2026-11-03T09:00:00Z")}
    ids = set(by_key(result))
    # The tool's fingerprint where it has one; rule + path + line for "requires login".
    assert finding_id("semgrep", "storefront", key(
        "python.django.security.injection.sql.sql-injection-using-raw",
        "3f1c0b7e9a4d2c8b5e6f7a8b9c0d1e2f")) in ids
    assert finding_id("semgrep", "storefront", key(
        "python.lang.security.audit.insecure-hash", "app/auth.py", 7)) in ids
    assert not result.record_errors  # INFO is below a finding, not an unknown value


def test_semgrep_without_target_is_skipped_and_counted(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    copy("semgrep.json", tmp_path)
    result = run(collector(tmp_path))
    assert result.findings == []
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 1}
    assert "semgrep.json: a semgrep scan without a target" in caplog.text


def test_sarif_codeql(tmp_path: Path) -> None:
    copy("codeql.sarif", tmp_path)
    result = run(collector(tmp_path))
    assert summary(result) == [("sast", "critical", "dismissed", "suppressed_external"),
                               ("sast", "high", "open", ""), ("sast", "low", "open", "")]
    assert {f.asset for f in result.findings} == {"https://github.com/acme/storefront"}
    assert {f.opened_at for f in result.findings} == {at("2026-11-03T08:12:44Z")}
    fid = finding_id("sarif:codeql", "https://github.com/acme/storefront", key(
        "js/sql-injection", "primaryLocationLineHash=5a8c3e7b1f2d4e6a:1",
        "primaryLocationStartColumnFingerprint=12"))
    assert by_key(result)[fid].severity is Severity.HIGH  # security-severity 8.8


def test_sarif_category_by_tool(tmp_path: Path) -> None:
    copy("codeql.sarif", tmp_path)
    result = run(collector(tmp_path, sarif_categories={"CodeQL": "secret"}))
    assert {f.category for f in result.findings} == {"secret"}


def test_gitleaks(tmp_path: Path) -> None:
    copy("gitleaks.json", tmp_path / "payments", "20261101T000000Z.json")
    result = run(collector(tmp_path, [{"path": "**/*.json", "path_pattern": SEMGREP_PATTERN}]))
    assert summary(result) == [("secret", "high", "open", "")] * 2
    ids = set(by_key(result))
    assert finding_id("gitleaks", "payments",
                      "0b4f1e7c2a9d:deploy/env.sh:aws-access-token:1") in ids
    # No secret, e-mail or author in anything a finding carries.
    text = repr(result.findings) + json.dumps(result.state)
    for leaked in ("AKIAIOSFODNN7EXAMPLE", "example-not-a-real-key", "dev@example.com",
                   "A Developer"):
        assert leaked not in text


def test_trufflehog(tmp_path: Path) -> None:
    copy("trufflehog.jsonl", tmp_path / "test-keys", "20261101T000000Z.jsonl")
    result = run(collector(tmp_path, [{"path": "**/*.jsonl", "path_pattern": SEMGREP_PATTERN}],
                           secret_severity="critical"))
    assert summary(result) == [("secret", "critical", "open", ""),
                               ("secret", "medium", "open", "")]
    text = repr(result.findings) + json.dumps(result.state)
    assert "AKIAYVP4CIPPERUVIFXG" not in text and "admin:admin" not in text


def test_trufflehog_target_from_repository(tmp_path: Path) -> None:
    copy("trufflehog.jsonl", tmp_path, "scan.jsonl")
    result = run(collector(tmp_path, [{"path": "scan.jsonl", "path_pattern":
                                       r"(?P<scanned_at>\d{8})?"}]))
    # No time anywhere: trufflehog writes commit times only, which are not scan times.
    assert result.findings == []
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 1}


def test_zap(tmp_path: Path) -> None:
    copy("zap.json", tmp_path)
    result = run(collector(tmp_path))
    assert summary(result) == [("dast", "high", "open", ""), ("dast", "high", "open", ""),
                               ("dast", "medium", "dismissed", "false_positive")]
    assert {f.asset for f in result.findings} == {"https://staging.acme.example"}
    assert {f.opened_at for f in result.findings} == {at("2026-11-02T12:30:00Z")}


def test_zap_generated_is_local_time(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "zap.json").read_text())
    del doc["created"]
    (tmp_path / "zap.json").write_text(json.dumps(doc))
    result = run(collector(tmp_path, naive_timezone="Europe/Berlin"))
    assert {f.opened_at for f in result.findings} == {at("2026-11-02T11:30:00Z")}


def test_nuclei(tmp_path: Path) -> None:
    copy("nuclei.jsonl", tmp_path)
    result = run(collector(tmp_path))
    assert summary(result) == [("dast", "high", "open", ""), ("dast", "low", "open", "")]
    assert {f.asset for f in result.findings} == {"https://staging.acme.example"}
    # The latest result's time is the scan's time.
    assert {f.opened_at for f in result.findings} == {at("2026-11-02T12:01:30Z")}
    assert sorted(f.cve_ids for f in result.findings) == [(), ("CVE-2021-41773",)]


def test_snyk(tmp_path: Path) -> None:
    copy("snyk.json", tmp_path, "20261104T000000Z-snyk.json")
    result = run(collector(tmp_path, [{"path": "*.json", "path_pattern":
                                       r"(?P<scanned_at>\d{8}T\d{6}Z)"}]))
    assert summary(result) == [("sca", "high", "open", ""), ("sca", "medium", "dismissed",
                                                              "snyk_ignore"),
                               ("sca", "medium", "open", "")]
    assert {f.asset for f in result.findings} == {"acme/goof"}
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 1}  # severity "severe"


def test_target_mapping(tmp_path: Path) -> None:
    copy("grype.json", tmp_path)
    result = run(collector(tmp_path, targets={"registry.acme.example/orders:2.3.0":
                                              "acme/orders"}))
    assert {f.asset for f in result.findings} == {"acme/orders"}


# --- bad input ---------------------------------------------------------------------------

def test_bad_files_are_skipped_counted_and_logged_once(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    copy("grype.json", tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "cut.json").write_text((FIXTURES / "trivy.json").read_text()[:500])
    (tmp_path / "other.json").write_text('{"foo": [1, 2]}')
    c = collector(tmp_path)
    result = run(c)
    assert len(result.findings) == 3  # grype's, the good file
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 3,  # 2 files + 1 severity
                                    ErrorKind.MALFORMED_RECORD: 1}
    assert "cut.json: not valid JSON" in caplog.text
    assert "notes.txt: not a report format" in caplog.text
    assert '"SchemaVersion"' not in caplog.text  # no report content in the log
    caplog.clear()
    again = run(c, result.state)
    assert not again.record_errors and caplog.text == ""  # the same files: counted once
    assert len(again.findings) == 3


def test_every_new_file_bad_and_nothing_known_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "cut.json").write_text('{"SchemaVersion": 2, "Results": [')
    with pytest.raises(CollectorError) as raised:
        run(collector(tmp_path))
    assert raised.value.kind is ErrorKind.MALFORMED_RECORD


def test_too_large_json_is_skipped_unread(tmp_path: Path) -> None:
    copy("trivy.json", tmp_path)
    copy("grype.json", tmp_path)
    result = run(collector(tmp_path, max_json_size="2KB"))
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 1
    assert {f.id.split(":")[0] for f in result.findings} == {"grype"}


def test_invalid_path_pattern_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="path_pattern"):
        collector(tmp_path, [{"path": "*", "path_pattern": "(?P<repo>x)"}])
    with pytest.raises(ValidationError, match="path_pattern"):
        collector(tmp_path, [{"path": "*", "path_pattern": "("}])


def test_jsonl_is_streamed_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    """A JSON Lines report is never read whole: only line iteration touches the file."""
    line = (FIXTURES / "nuclei.jsonl").read_text().splitlines()[2]
    path = tmp_path / "big.jsonl"
    with path.open("w") as handle:
        for n in range(20000):
            handle.write(line.replace("/.gitignore", f"/{n}") + "\n")
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read whole"))
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: pytest.fail("read whole"))
    result = run(collector(tmp_path))
    assert len(result.findings) == 20000


# --- lifecycle over sequences of scans ---------------------------------------------------

def trivy_report(when: str, vulns: list[str], *, artifact: str = "acme/api") -> dict[str, Any]:
    return {"SchemaVersion": 2, "CreatedAt": when, "ArtifactName": artifact,
            "ArtifactType": "repository",
            "Results": [{"Target": "go.sum", "Class": "lang-pkgs", "Type": "gomod",
                         "Vulnerabilities": [
                             {"VulnerabilityID": v, "PkgName": "golang.org/x/net",
                              "InstalledVersion": "0.7.0", "Severity": "HIGH"}
                             for v in vulns]}]}


def sarif_report(when: str, hashes: list[str], *, ok: bool = True,
                 suppressed: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "Semgrep OSS", "rules": [{"id": "r1"}]}},
        "invocations": [{"executionSuccessful": ok, "endTimeUtc": when}],
        "versionControlProvenance": [{"repositoryUri": "acme/api"}],
        "results": [{"ruleId": "r1", "level": "error", "partialFingerprints": {"h": h},
                     **({"suppressions": [{"kind": "inSource"}]} if h in suppressed else {})}
                    for h in hashes]}]}


def write(base: Path, name: str, doc: dict[str, Any]) -> None:
    base.mkdir(parents=True, exist_ok=True)
    (base / name).write_text(json.dumps(doc))


Lifecycle = tuple[str, datetime, datetime | None, str | None]


def states(result: CollectionResult) -> dict[str, Lifecycle]:
    """{tool/short name: (state, opened, resolved, reason)} for readable assertions."""
    out = {}
    for f in result.findings:
        name = NAMES[f.id]
        out[name] = (f.state.value, f.opened_at, f.resolved_at, f.dismissed_reason)
    return out


NAMES: dict[str, str] = {}
for _cve in ("CVE-1", "CVE-2", "CVE-3"):
    NAMES[finding_id("trivy", "acme/api", key("vuln", _cve, "golang.org/x/net", None,
                                              "0.7.0", "go.sum"))] = _cve
for _h in ("a", "b", "c"):
    NAMES[finding_id("sarif:semgrep oss", "acme/api", key("r1", f"h={_h}"))] = f"sarif-{_h}"

T1, T2, T3, T4, T5 = (f"2026-10-0{d}T06:00:00Z" for d in (1, 2, 3, 4, 5))


def test_lifecycle_opened_fixed_reopened_with_partial_scans_and_two_tools(tmp_path: Path
                                                                         ) -> None:
    """Two tools on one target, scans interleaved; one partial scan per tool.

    trivy:  T1 {1,2}  T2 {1} truncated file (skipped)  T3 {1}  T4 {1,2}  T5 {}
    sarif:  T1 {a,b}  T2 {a} executionSuccessful=false  T3 {a,c}  T4 {c}
            T5 {b under an inSource suppression, c}
    """
    write(tmp_path, "trivy-1.json", trivy_report(T1, ["CVE-1", "CVE-2"]))
    write(tmp_path, "sarif-1.sarif", sarif_report(T1, ["a", "b"]))
    write(tmp_path, "sarif-2.sarif", sarif_report(T2, ["a"], ok=False))
    (tmp_path / "trivy-2.json").write_text(json.dumps(trivy_report(T2, ["CVE-1"]))[:80])
    c = collector(tmp_path)
    first = run(c)
    t1, t3, t4, t5 = (at(t) for t in (T1, T3, T4, T5))
    # The partial SARIF scan at T2 fixed nothing; the truncated Trivy file was skipped.
    assert states(first) == {
        "CVE-1": ("open", t1, None, None), "CVE-2": ("open", t1, None, None),
        "sarif-a": ("open", t1, None, None), "sarif-b": ("open", t1, None, None),
    }
    assert first.record_errors == {ErrorKind.MALFORMED_RECORD: 1}

    write(tmp_path, "trivy-3.json", trivy_report(T3, ["CVE-1"]))
    write(tmp_path, "sarif-3.sarif", sarif_report(T3, ["a", "c"]))
    second = run(c, first.state)
    assert states(second) == {
        "CVE-1": ("open", t1, None, None), "CVE-2": ("fixed", t1, t3, None),
        "sarif-a": ("open", t1, None, None), "sarif-b": ("fixed", t1, t3, None),
        "sarif-c": ("open", t3, None, None),
    }

    write(tmp_path, "trivy-4.json", trivy_report(T4, ["CVE-1", "CVE-2"]))
    write(tmp_path, "sarif-4.sarif", sarif_report(T4, ["c"]))
    write(tmp_path, "trivy-5.json", trivy_report(T5, []))
    write(tmp_path, "sarif-5.sarif", sarif_report(T5, ["b", "c"], suppressed=("b",)))
    third = run(c, second.state)
    assert states(third) == {
        # CVE-2 reopened at T4 with its original opened time, then both fixed at T5.
        "CVE-1": ("fixed", t1, t5, None), "CVE-2": ("fixed", t1, t5, None),
        "sarif-a": ("fixed", t1, t4, None),
        # b came back suppressed at T5: dismissed then, opened time kept.
        "sarif-b": ("dismissed", t1, t5, "suppressed_inSource"),
        "sarif-c": ("open", t3, None, None),
    }
    # Nothing new: the same findings again, no file re-read.
    assert states(run(c, third.state)) == states(third)


def test_reopened_keeps_opened_time_across_runs(tmp_path: Path) -> None:
    c = collector(tmp_path)
    write(tmp_path, "1.json", trivy_report(T1, ["CVE-1"]))
    state = run(c).state
    write(tmp_path, "2.json", trivy_report(T2, []))
    state = run(c, state).state
    write(tmp_path, "3.json", trivy_report(T3, ["CVE-1"]))
    result = run(c, state)
    assert states(result) == {"CVE-1": ("open", at(T1), None, None)}


def test_all_reports_at_once_give_the_same_lifecycle(tmp_path: Path) -> None:
    for name, when, vulns in (("c.json", T3, ["CVE-1"]), ("a.json", T1, ["CVE-1", "CVE-2"]),
                              ("b.json", T2, ["CVE-1"])):
        write(tmp_path, name, trivy_report(when, vulns))
    assert states(run(collector(tmp_path))) == {
        "CVE-1": ("open", at(T1), None, None), "CVE-2": ("fixed", at(T1), at(T2), None)}


def test_late_scan_is_ignored(tmp_path: Path) -> None:
    c = collector(tmp_path)
    write(tmp_path, "2.json", trivy_report(T2, ["CVE-1"]))
    state = run(c).state
    write(tmp_path, "1.json", trivy_report(T1, []))  # older than the last applied scan
    assert states(run(c, state)) == {"CVE-1": ("open", at(T2), None, None)}


def test_other_target_does_not_fix(tmp_path: Path) -> None:
    write(tmp_path, "1.json", trivy_report(T1, ["CVE-1"]))
    write(tmp_path, "2.json", trivy_report(T2, [], artifact="acme/web"))
    assert states(run(collector(tmp_path))) == {"CVE-1": ("open", at(T1), None, None)}


def test_truncated_jsonl_never_fixes(tmp_path: Path) -> None:
    pattern = r"(?P<target>[^/]+)/(?P<scanned_at>\d{8}T\d{6}Z)"
    # Without result timestamps, the scan time comes from the path.
    lines = [json.dumps({k: v for k, v in json.loads(line).items() if k != "timestamp"})
             for line in (FIXTURES / "nuclei.jsonl").read_text().splitlines()]
    write_line = lambda d, text: (d.mkdir(parents=True, exist_ok=True), (d / "x").write_text(text))  # noqa: E731
    base = tmp_path / "web"
    write_line(base / "20261001T000000Z", lines[0] + "\n" + lines[2] + "\n")
    c = collector(tmp_path, [{"path": "**/x", "format": "nuclei", "path_pattern": pattern}])
    state = run(c).state
    # Cut mid-line: partial, so the finding on line 3 is not fixed by its absence.
    write_line(base / "20261002T000000Z", lines[0] + "\n" + lines[2][:50])
    result = run(c, state)
    assert sorted(f.state.value for f in result.findings) == ["open", "open"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 1}
    # An empty file of a configured JSON Lines format is a clean, complete scan.
    write_line(base / "20261003T000000Z", "")
    result = run(c, result.state)
    assert {(f.state, f.resolved_at) for f in result.findings} == {
        (FindingState.FIXED, at("2026-10-03T00:00:00Z"))}


def test_resolved_findings_before_the_history_are_forgotten(tmp_path: Path) -> None:
    write(tmp_path, "1.json", trivy_report("2026-01-01T00:00:00Z", ["CVE-1", "CVE-2"]))
    write(tmp_path, "2.json", trivy_report("2026-01-02T00:00:00Z", ["CVE-1"]))
    result = run(collector(tmp_path))
    # CVE-2 was fixed on 2026-01-02, before history_start(NOW) = 2026-06-17.
    assert states(result) == {"CVE-1": ("open", at("2026-01-01T00:00:00Z"), None, None)}
    assert run(collector(tmp_path, lookback="365d")).findings.__len__() == 2


def test_rebase_shifts_published_times(tmp_path: Path) -> None:
    write(tmp_path, "1.json", trivy_report(T1, ["CVE-1"]))
    result = run(collector(tmp_path, rebase={"anchor": "2026-10-23T12:00:00Z"}))
    assert states(result) == {"CVE-1": ("open", at(T1) + timedelta(days=31), None, None)}


# --- scan targets: the coverage facts ----------------------------------------------------

def test_scan_targets_per_tool_and_target(tmp_path: Path) -> None:
    write(tmp_path, "1.json", trivy_report(T1, ["CVE-1"]))
    write(tmp_path, "2.json", trivy_report(T2, []))
    write(tmp_path, "s1.sarif", sarif_report(T1, ["a"]))
    write(tmp_path, "s2.sarif", sarif_report(T3, ["a"], ok=False))
    copy("zap.json", tmp_path)
    result = run(collector(tmp_path, sarif_categories={"semgrep oss": "sast"}))
    targets = sorted(result.records_of(RecordKind.SCAN_TARGET), key=lambda t: t.id)
    assert targets == [
        ScanTarget("sarif:semgrep oss:acme/api", "scanners", "acme/api", "sarif:semgrep oss",
                   ScanCategory.SAST, at(T3), at(T1)),
        ScanTarget("trivy:acme/api", "scanners", "acme/api", "trivy", ScanCategory.SCA,
                   at(T2), at(T2)),
        ScanTarget("zap:https://staging.acme.example", "scanners",
                   "https://staging.acme.example", "zap", ScanCategory.DAST,
                   at("2026-11-02T12:30:00Z"), at("2026-11-02T12:30:00Z")),
    ]


def test_through_the_store_to_the_dast_share(tmp_path: Path) -> None:
    """Collector -> store -> derivation: the DAST share and the findings' MTTR."""
    from exporter.derive.common import DerivationSettings
    from exporter.derive.registry import FAMILIES, derive_all
    from exporter.store import Store

    reports = tmp_path / "reports"
    copy("zap.json", reports)
    write(reports, "1.json", trivy_report("2026-11-01T00:00:00Z", ["CVE-1"]))
    write(reports, "2.json", trivy_report("2026-11-03T00:00:00Z", []))
    result = run(collector(reports))
    store = Store(tmp_path / "store.db")
    store.apply("scanners", result, NOW)
    assert len(list(store.decode_rows(RecordKind.SCAN_TARGET))) == 2
    settings = DerivationSettings(
        sla_days={"critical": 7, "high": 30, "medium": 90, "low": 180},
        dast_targets=("https://staging.acme.example", "https://shop.acme.example"))
    derived = derive_all(rows={f.name: store.iter_rows(f.kind, f.columns) for f in FAMILIES},
                         settings=settings, now=NOW)
    current = derived.by_quarter["2026-Q4"]
    # ZAP scanned staging on 2026-11-02: older than 7 days on 2026-11-23.
    assert current.get("devsecops_repository_coverage_ratio", setting="dast") == 0.0
    fresh = derive_all(rows={f.name: store.iter_rows(f.kind, f.columns) for f in FAMILIES},
                       settings=settings, now=at("2026-11-05T00:00:00Z"))
    assert fresh.by_quarter["2026-Q4"].get("devsecops_repository_coverage_ratio",
                                           setting="dast") == 0.5
    assert current.get("vulnerability_mttr_days", severity="high") == 2.0
    store.close()
