"""The prowler collector: Prowler json-ocsf files to posture results, scan by scan.

The files are shaped exactly like Prowler's own output: the keys and nesting of
``examples/output/example_output_{aws,kubernetes}.ocsf.json`` in prowler-cloud/prowler
(written by ``prowler/lib/outputs/ocsf/ocsf.py``: ``OCSF.transform`` builds each
finding, ``batch_write_data_to_file`` writes ``[``, each finding as indented JSON and a
comma, and replaces the last comma with ``]`` only when the scan closes the file).
:func:`prowler_finding` and :func:`write_scan` follow those rules, and the fixtures in
``tests/fixtures/prowler/`` were written with them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.prowler import ProwlerCollector, ProwlerSettings
from collectors.records import RecordKind, Severity
from collectors.records_posture import PostureResult, PostureStatus, Provider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prowler"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


def prowler_finding(check: str, status_code: str, *, severity: str = "Medium",
                    resource: str = "arn:aws:s3:::logs", service: str = "s3",
                    account: str = ACCOUNT, provider: str = "aws",
                    region: str = "eu-west-1", muted: bool = False,
                    compliance: dict[str, list[str]] | None = None,
                    time: datetime = datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
                    ) -> dict[str, Any]:
    """One OCSF Detection Finding with the keys Prowler writes (see module docstring)."""
    severity_id = {"Informational": 1, "Low": 2, "Medium": 3, "High": 4,
                   "Critical": 5}.get(severity, 0)
    epoch = int(time.timestamp())
    naive = time.astimezone(UTC).replace(tzinfo=None).isoformat()
    message = f"{check} {status_code.lower()} for {resource.rsplit(':', 1)[-1]}."
    finding: dict[str, Any] = {
        "message": message,
        "metadata": {
            "event_code": check,
            "product": {"name": "Prowler", "uid": "prowler", "vendor_name": "Prowler",
                        "version": "5.10.0"},
            "profiles": ["cloud", "datetime"] if provider != "kubernetes"
            else ["container", "datetime"],
            "tenant_uid": "",
            "version": "1.4.0",
        },
        "severity_id": severity_id,
        "severity": severity,
        "status": "Suppressed" if muted else "New",
        "status_code": status_code,
        "status_detail": message,
        "status_id": 3 if muted else 1,
        "unmapped": {
            "related_url": "", "categories": [], "depends_on": [], "related_to": [],
            "additional_urls": [], "notes": "",
            "compliance": compliance if compliance is not None else {"CIS-3.0": ["2.1.1"]},
            "scan_id": "0193a5c2-7b1e-7000-8000-000000000000",
            "provider_uid": account,
            "provider": provider,
        },
        "activity_name": "Create",
        "activity_id": 1,
        "finding_info": {
            "created_time": epoch, "created_time_dt": naive, "desc": f"Check {check}",
            "product_uid": "prowler", "title": f"Check {check}", "types": [],
            "uid": f"prowler-{provider}-{check}-{account}-{region}-{resource}",
        },
        "resources": [{
            "data": {"details": "", "metadata": {}},
            "group": {"name": service},
            "labels": [],
            "name": resource.rsplit(":", 1)[-1],
            "type": "Other",
            "uid": resource,
            **({"namespace": region} if provider == "kubernetes"
               else {"cloud_partition": "aws", "region": region}),
        }],
        "category_name": "Findings",
        "category_uid": 2,
        "class_name": "Detection Finding",
        "class_uid": 2004,
        "remediation": {"desc": "Fix it.", "references": []},
        "risk_details": "Risk.",
        "time": epoch,
        "time_dt": naive,
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
    }
    if provider != "kubernetes":
        finding["cloud"] = {
            "account": {"name": "", "type": "AWS Account", "type_id": 10, "uid": account,
                        "labels": []},
            "org": {"name": "", "uid": ""},
            "provider": provider,
            "region": region,
        }
    return finding


def write_scan(path: Path, findings: list[dict[str, Any]], *, closed: bool = True) -> Path:
    """Write findings as Prowler does; ``closed=False`` is a scan still running."""
    text = "[" + "".join(json.dumps(f, indent=4) + "," for f in findings)
    text = text[:-1] + "]" if closed and findings else (text + "]" if closed else text)
    path.write_text(text)
    return path


def scan_a(time: datetime) -> list[dict[str, Any]]:
    """The first scan of the fixture account."""
    return [
        prowler_finding("s3_bucket_public_access", "FAIL", severity="High", time=time,
                        compliance={"CIS-3.0": ["2.1.4"], "PCI-4.0": ["1.3.1"],
                                    "AWS-Foundational-Security-Best-Practices": ["s3"]}),
        prowler_finding("iam_root_mfa_enabled", "FAIL", severity="Critical", service="iam",
                        resource=f"arn:aws:iam::{ACCOUNT}:root", time=time,
                        compliance={"CIS-3.0": ["1.5"], "NIST-800-53-Revision-5": ["ia_2"],
                                    "KISA-ISMS-P-2023": ["2.5.3"]}),
        prowler_finding("iam_policy_no_administrative_privileges", "PASS", service="iam",
                        resource=f"arn:aws:iam::{ACCOUNT}:policy/ReadOnly", time=time),
        prowler_finding("ec2_ebs_default_encryption", "FAIL", service="ec2", muted=True,
                        resource=f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume", time=time,
                        compliance={"ISO27001-2022": ["A.8.24"]}),
        prowler_finding("account_maintain_current_contact_details", "MANUAL",
                        service="account", resource=ACCOUNT, time=time),
        prowler_finding("cloudtrail_multi_region_enabled", "FAIL", severity="Low",
                        service="cloudtrail", time=time,
                        resource=f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail",
                        compliance={"CIS-3.0": ["3.1"], "SOC2": ["cc_7_2"]}),
    ]


def scan_b(time: datetime) -> list[dict[str, Any]]:
    """A week later: the bucket passes, the trail is gone, the rest unchanged."""
    first = {f["metadata"]["event_code"]: f for f in scan_a(time)}
    bucket = prowler_finding("s3_bucket_public_access", "PASS", severity="High", time=time,
                             compliance=first["s3_bucket_public_access"]["unmapped"][
                                 "compliance"])
    return [bucket, first["iam_root_mfa_enabled"],
            first["iam_policy_no_administrative_privileges"],
            first["ec2_ebs_default_encryption"],
            first["account_maintain_current_contact_details"]]


T1 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 8, 10, 0, tzinfo=UTC)
T3 = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)


def make_fixtures(directory: Path) -> None:
    """(Re)write tests/fixtures/prowler/ (run by hand; the files are committed)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_scan(directory / "prowler-output-aws-20261101100000.ocsf.json", scan_a(T1))
    write_scan(directory / "prowler-output-aws-20261108100000.ocsf.json", scan_b(T2))
    later = scan_b(T3)
    later[1] = prowler_finding("iam_root_mfa_enabled", "PASS", severity="Critical",
                               service="iam", resource=f"arn:aws:iam::{ACCOUNT}:root",
                               time=T3)
    write_scan(directory / "prowler-output-aws-20261115100000.ocsf.json", later,
               closed=False)
    write_scan(directory / "prowler-output-kubernetes-20261108100000.ocsf.json", [
        prowler_finding("apiserver_anonymous_requests", "PASS", severity="High",
                        provider="kubernetes", account="prod-cluster", service="apiserver",
                        region="kube-system", resource="kube-apiserver-node-1", time=T2,
                        compliance={"CIS-1.10": ["1.2.1"], "ISO27001-2022": ["A.8.5"]}),
        prowler_finding("rbac_minimize_wildcard_use_roles", "FAIL", severity="High",
                        provider="kubernetes", account="prod-cluster", service="rbac",
                        region="default", resource="admin-role", time=T2,
                        compliance={"CIS-1.10": ["5.1.3"]}),
    ])


def ctx(now: datetime = NOW) -> CollectContext:
    return CollectContext(name="prowler", now=now, state={},
                          logger=logging.getLogger("test.prowler"))


def collector(tmp_path: Path, *paths: str, **overrides: Any) -> ProwlerCollector:
    settings = ProwlerSettings.model_validate({"paths": list(paths) or ["*.ocsf.json"],
                                               **overrides},
                                              context={"base_dir": tmp_path})
    return ProwlerCollector("prowler", settings)


def collect(coll: ProwlerCollector, now: datetime = NOW):
    return asyncio.run(coll.collect(ctx(now)))


def by_check(result) -> dict[str, PostureResult]:
    out = {}
    for record in result.records_of(RecordKind.POSTURE_RESULT):
        assert record.check not in out, record.check
        out[record.check] = record
    return out


@pytest.fixture()
def fixture_dir(tmp_path: Path) -> Path:
    for path in FIXTURES.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_fixtures_are_what_the_prowler_rules_write(tmp_path: Path) -> None:
    make_fixtures(tmp_path)
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (FIXTURES / path.name).read_bytes(), path.name
    assert len(list(FIXTURES.glob("*.json"))) == 4


def test_lifecycle_over_scans_passing_disappearing_muted_and_half_written(
        fixture_dir: Path) -> None:
    result = collect(collector(fixture_dir))
    records = by_check(result)
    # The half-written third scan (no closing bracket) is not read: the root account's
    # MFA, passing there, is still failing, and the run deletes nothing.
    assert result.complete == frozenset()
    assert result.record_errors == {ErrorKind.MALFORMED_RESPONSE: 1}
    root = records["iam_root_mfa_enabled"]
    assert (root.status, root.first_seen_at, root.last_seen_at, root.resolved_at) == (
        PostureStatus.FAIL, T1, T2, None)
    assert root.severity is Severity.CRITICAL and root.service == "iam"
    assert root.frameworks == ("cis", "nist")  # KISA is not a configured family
    assert root.provider is Provider.AWS and root.account == ACCOUNT
    assert root.resource == f"arn:aws:iam::{ACCOUNT}:root"
    # failed, then passed a week later: resolved at that scan's time
    bucket = records["s3_bucket_public_access"]
    assert (bucket.status, bucket.first_seen_at, bucket.resolved_at) == (
        PostureStatus.PASS, T1, T2)
    assert bucket.frameworks == ("aws_fsbp", "cis", "pci")
    # failed, then missing from a later complete scan of the account: resolved, gone
    trail = records["cloudtrail_multi_region_enabled"]
    assert (trail.status, trail.first_seen_at, trail.last_seen_at, trail.resolved_at) == (
        PostureStatus.FAIL, T1, T1, T2)
    assert trail.frameworks == ("cis", "soc2")
    assert records["ec2_ebs_default_encryption"].muted is True
    assert records["account_maintain_current_contact_details"].status is \
        PostureStatus.MANUAL
    policy = records["iam_policy_no_administrative_privileges"]
    assert (policy.status, policy.resolved_at) == (PostureStatus.PASS, None)
    rbac = records["rbac_minimize_wildcard_use_roles"]
    assert (rbac.provider, rbac.account, rbac.service, rbac.frameworks) == (
        Provider.KUBERNETES, "prod-cluster", "rbac", ("cis",))
    assert len(records) == 8


def test_a_finished_later_scan_resolves_and_the_run_is_complete(fixture_dir: Path) -> None:
    path = fixture_dir / "prowler-output-aws-20261115100000.ocsf.json"
    path.write_text(path.read_text()[:-1] + "]")  # Prowler closed the file
    result = collect(collector(fixture_dir))
    assert result.complete == frozenset({RecordKind.POSTURE_RESULT})
    assert result.record_errors == {}
    root = by_check(result)["iam_root_mfa_enabled"]
    assert (root.status, root.first_seen_at, root.resolved_at) == (
        PostureStatus.PASS, T1, T3)


def test_a_failure_after_passing_is_a_new_episode(tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding("c", "FAIL", time=T1)])
    write_scan(tmp_path / "2.ocsf.json", [prowler_finding("c", "PASS", time=T2)])
    write_scan(tmp_path / "3.ocsf.json", [prowler_finding("c", "FAIL", time=T3)])
    record = by_check(collect(collector(tmp_path)))["c"]
    assert (record.status, record.first_seen_at, record.last_seen_at,
            record.resolved_at) == (PostureStatus.FAIL, T3, T3, None)


def test_scans_are_ordered_by_their_time_not_their_file_names(tmp_path: Path) -> None:
    write_scan(tmp_path / "a.ocsf.json", [prowler_finding("c", "PASS", time=T2)])
    write_scan(tmp_path / "b.ocsf.json", [prowler_finding("c", "FAIL", time=T1)])
    record = by_check(collect(collector(tmp_path)))["c"]
    assert (record.status, record.first_seen_at, record.resolved_at) == (
        PostureStatus.PASS, T1, T2)


def test_a_scan_of_another_account_resolves_nothing_in_this_one(tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding("c", "FAIL", time=T1)])
    write_scan(tmp_path / "2.ocsf.json", [prowler_finding("d", "PASS", time=T2,
                                                          account="999999999999")])
    records = by_check(collect(collector(tmp_path)))
    assert records["c"].resolved_at is None
    assert records["d"].account == "999999999999"


def test_partial_scans_resolve_only_the_checks_they_ran(tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [
        prowler_finding("s3_a", "FAIL", time=T1),
        prowler_finding("s3_a", "FAIL", time=T1, resource="arn:aws:s3:::other"),
        prowler_finding("iam_b", "FAIL", time=T1, service="iam"),
    ])
    write_scan(tmp_path / "2.ocsf.json", [prowler_finding("s3_a", "PASS", time=T2)])
    result = collect(collector(tmp_path, full_scans=False))
    records = {(r.check, r.resource): r for r in result.records_of(RecordKind.POSTURE_RESULT)}
    assert records[("s3_a", "arn:aws:s3:::logs")].resolved_at == T2
    assert records[("s3_a", "arn:aws:s3:::other")].resolved_at == T2  # its check ran
    assert records[("iam_b", "arn:aws:s3:::logs")].resolved_at is None  # not run


def test_a_result_that_passed_and_disappeared_without_failing_is_dropped(
        tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding("c", "PASS", time=T1),
                                          prowler_finding("d", "PASS", time=T1)])
    write_scan(tmp_path / "2.ocsf.json", [prowler_finding("d", "PASS", time=T2)])
    assert set(by_check(collect(collector(tmp_path)))) == {"d"}


def test_passed_then_gone_keeps_its_resolution_and_is_no_longer_present(
        tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding("c", "FAIL", time=T1),
                                          prowler_finding("d", "PASS", time=T1)])
    write_scan(tmp_path / "2.ocsf.json", [prowler_finding("c", "PASS", time=T2),
                                          prowler_finding("d", "PASS", time=T2)])
    write_scan(tmp_path / "3.ocsf.json", [prowler_finding("d", "PASS", time=T3)])
    record = by_check(collect(collector(tmp_path)))["c"]
    assert (record.status, record.resolved_at, record.last_seen_at) == (
        PostureStatus.FAIL, T2, T2)


def test_unknown_values_are_skipped_and_counted_never_guessed(tmp_path: Path) -> None:
    findings = [prowler_finding(f"c{i}", "FAIL", time=T1) for i in range(6)]
    findings[0]["status_code"] = "WARN"
    findings[1]["status"] = "Resolved"
    findings[2]["severity"] = "Unknown"
    findings[3]["cloud"]["provider"] = "m365"  # any other platform is "other"
    findings[3]["severity"] = "Informational"  # Prowler's lowest: documented as low
    write_scan(tmp_path / "1.ocsf.json", findings)
    result = collect(collector(tmp_path))
    records = by_check(result)
    assert set(records) == {"c3", "c4", "c5"}
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 3}
    assert records["c3"].provider is Provider.OTHER
    assert records["c3"].severity is Severity.LOW


@pytest.mark.parametrize("breakage", [
    lambda f: f.pop("metadata"),
    lambda f: f["metadata"].pop("event_code"),
    lambda f: f.update(resources=[]),
    lambda f: f.update(resources="arn"),
    lambda f: (f.pop("cloud"), f["unmapped"].pop("provider_uid")),
    lambda f: (f.pop("time"), f.pop("time_dt")),
    lambda f: (f.pop("time"), f.update(time_dt="yesterday")),
    lambda f: f["unmapped"].update(compliance=["CIS-3.0"]),
    lambda f: f.update(unmapped="x"),
])
def test_malformed_findings_are_skipped_and_the_rest_kept(tmp_path: Path,
                                                          breakage: Any) -> None:
    bad = prowler_finding("bad", "FAIL", time=T1)
    breakage(bad)
    write_scan(tmp_path / "1.ocsf.json", [bad, prowler_finding("good", "FAIL", time=T1)])
    result = collect(collector(tmp_path))
    assert set(by_check(result)) == {"good"}
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 1}
    assert result.complete == frozenset({RecordKind.POSTURE_RESULT})


def test_a_non_object_finding_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "1.ocsf.json").write_text(json.dumps(
        [42, prowler_finding("good", "PASS", time=T1)]))
    result = collect(collector(tmp_path))
    assert set(by_check(result)) == {"good"}
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 1}


def test_time_dt_without_an_offset_is_utc(tmp_path: Path) -> None:
    finding = prowler_finding("c", "FAIL", time=T1)
    finding.pop("time")
    write_scan(tmp_path / "1.ocsf.json", [finding])
    assert by_check(collect(collector(tmp_path)))["c"].first_seen_at == T1


@pytest.mark.parametrize("content", [
    '[{"message": "half',  # truncated mid-finding
    "[",  # Prowler has just opened the file
    '{"findings": []}',  # not Prowler's array
    "not json",
])
def test_a_broken_file_fails_that_file_not_the_run(tmp_path: Path, content: str) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding("c", "FAIL", time=T1)])
    (tmp_path / "2.ocsf.json").write_text(content)
    result = collect(collector(tmp_path))
    assert by_check(result)["c"].resolved_at is None
    assert result.record_errors == {ErrorKind.MALFORMED_RESPONSE: 1}
    assert result.complete == frozenset()  # a missing scan deletes nothing


def test_every_file_failing_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "1.ocsf.json").write_text("[")
    with pytest.raises(CollectorError) as err:
        collect(collector(tmp_path))
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


def test_a_glob_matching_nothing_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(CollectorError) as err:
        collect(collector(tmp_path, "scans/*.ocsf.json"))
    assert err.value.kind is ErrorKind.CONFIG


def test_an_empty_file_is_a_scan_that_found_nothing(tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding("c", "FAIL", time=T1)])
    (tmp_path / "2.ocsf.json").write_text("")
    result = collect(collector(tmp_path))
    assert result.record_errors == {}
    assert by_check(result)["c"].resolved_at is None


def test_a_file_over_max_file_size_is_failed_unread(tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding("c", "FAIL", time=T1)])
    write_scan(tmp_path / "2.ocsf.json", [prowler_finding("c", "PASS", time=T2)] * 20)
    result = collect(collector(tmp_path, max_file_size=20_000))
    assert by_check(result)["c"].resolved_at is None
    assert result.record_errors == {ErrorKind.MALFORMED_RESPONSE: 1}


def test_framework_families_are_configurable_and_bounded(tmp_path: Path) -> None:
    write_scan(tmp_path / "1.ocsf.json", [prowler_finding(
        "c", "FAIL", time=T1, compliance={"CIS-3.0": ["1"], "KISA-ISMS-P-2023": ["2"],
                                          "ENS-RD2022": ["3"]})])
    coll = collector(tmp_path, frameworks={"kisa": ["^KISA-"], "ens": ["^ens-"]})
    assert by_check(collect(coll))["c"].frameworks == ("ens", "kisa")
    with pytest.raises(ValueError):
        collector(tmp_path, frameworks={"CIS 3": ["^CIS"]})
    with pytest.raises(ValueError):
        collector(tmp_path, frameworks={"cis": ["("]})


def test_logs_carry_no_account_id_or_file_name(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    bad = prowler_finding("c", "WARN", time=T1)
    write_scan(tmp_path / f"prowler-output-{ACCOUNT}-1.ocsf.json", [bad])
    (tmp_path / f"prowler-output-{ACCOUNT}-2.ocsf.json").write_text("[")
    write_scan(tmp_path / f"prowler-output-{ACCOUNT}-3.ocsf.json",
               [prowler_finding("d", "PASS", time=T1)])
    with caplog.at_level(logging.DEBUG):
        collect(collector(tmp_path))
    assert caplog.records
    assert ACCOUNT not in caplog.text


def test_the_collected_results_derive_the_cloud_metrics(fixture_dir: Path) -> None:
    from collectors.base import CollectionResult
    from exporter.derive import derive_all
    from exporter.derive.posture import FAMILY
    from exporter.store import Store
    from tests.builders import SETTINGS

    result = collect(collector(fixture_dir))
    store = Store(":memory:")
    store.apply("prowler", CollectionResult(records=result.records), NOW)
    derived = derive_all(rows={FAMILY.kind: store.iter_rows(FAMILY.kind, FAMILY.columns)},
                         settings=SETTINGS, now=T2 + timedelta(hours=1))
    metrics = derived.by_quarter[derived.current.label]
    # cis resources: bucket (pass), root (fail), policy (pass), k8s apiserver (pass),
    # admin-role (fail); the trail is gone, the volume's failure muted
    assert metrics.get("devsecops_cloud_resources_passing_ratio", framework="cis") == 3 / 5
    # iam: root (fail), policy (pass); rbac: admin-role (fail)
    assert metrics.get("devsecops_cloud_iam_resources_passing_ratio") == 1 / 3
    assert metrics.get("devsecops_cloud_posture_open_findings", severity="critical") == 1
    assert metrics.get("devsecops_cloud_posture_mttr_seconds", severity="high") == 7 * 86400
    assert metrics.get("devsecops_cloud_accounts_scanned_ratio") == 1.0
