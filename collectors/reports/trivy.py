"""Trivy's JSON report (``trivy image|fs|repo --format json``), schema version 2.

Shape from aquasecurity/trivy ``pkg/types/report.go`` (``Report``: ``SchemaVersion``,
``CreatedAt``, ``ArtifactName``, ``ArtifactType``, ``Results[]`` with ``Target``,
``Class``, ``Vulnerabilities[]``, ``Misconfigurations[]``, ``Secrets[]`` and, with
``--show-suppressed``, ``ExperimentalModifiedFindings[]``) and its golden files under
``integration/testdata/*.json.golden``.
"""

from __future__ import annotations

from typing import Any

from collectors.records import Severity
from collectors.reports.model import (
    FOUR_LEVELS,
    Hints,
    Instance,
    ReportError,
    Scan,
    as_list,
    count_severity,
    cves,
    key,
    parse_time,
)

SEVERITIES: dict[str, Severity | str] = {
    **FOUR_LEVELS,
    # "UNKNOWN" (no severity in the advisory database) is deliberately not mapped.
}


def _vulnerability(scan: Scan, target: str, item: Any, suppressed: str | None) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("VulnerabilityID"), str):
        scan.malformed += 1
        return
    severity = count_severity(scan, item.get("Severity"), SEVERITIES)
    if severity is None:
        return
    fingerprint = key("vuln", item["VulnerabilityID"], item.get("PkgName"),
                      item.get("PkgPath"), item.get("InstalledVersion"), target)
    scan.instances.append(Instance(
        fingerprint, severity, "sca", cves(item["VulnerabilityID"]), suppressed,
        parse_time(item.get("PublishedDate"))))


def _misconfiguration(scan: Scan, target: str, item: Any, suppressed: str | None) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("ID"), str):
        scan.malformed += 1
        return
    status = item.get("Status")
    if status == "PASS":
        scan.ignored += 1
        return
    severity = count_severity(scan, item.get("Severity"), SEVERITIES)
    if severity is None:
        return
    cause = item.get("CauseMetadata") if isinstance(item.get("CauseMetadata"), dict) else {}
    fingerprint = key("misconfig", item["ID"], target, cause.get("Resource"),
                      cause.get("StartLine"))
    scan.instances.append(Instance(fingerprint, severity, "iac", (), suppressed))


def _secret(scan: Scan, target: str, item: Any, suppressed: str | None) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("RuleID"), str):
        scan.malformed += 1
        return
    severity = count_severity(scan, item.get("Severity"), SEVERITIES)
    if severity is None:
        return
    fingerprint = key("secret", item["RuleID"], target, item.get("StartLine"))
    scan.instances.append(Instance(fingerprint, severity, "secret", (), suppressed))


_KINDS = {"Vulnerabilities": _vulnerability, "Misconfigurations": _misconfiguration,
          "Secrets": _secret}
_MODIFIED = {"vulnerability": _vulnerability, "misconfiguration": _misconfiguration,
             "secret": _secret}


def parse(doc: Any, hints: Hints) -> list[Scan]:
    """One scan of ``ArtifactName`` at ``CreatedAt``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("Results", []), list | None):
        raise ReportError("malformed", "not a Trivy report (Results is not a list)")
    if doc.get("SchemaVersion") not in (2, None):
        raise ReportError("unmapped", "Trivy SchemaVersion other than 2")
    artifact = doc.get("ArtifactName")
    scan = Scan("trivy", artifact if isinstance(artifact, str) and artifact else None,
                parse_time(doc.get("CreatedAt"), hints.naive_zone))
    for result in as_list(doc.get("Results")):
        if not isinstance(result, dict):
            scan.malformed += 1
            continue
        target = result.get("Target") if isinstance(result.get("Target"), str) else ""
        for field, handle in _KINDS.items():
            for item in as_list(result.get(field)):
                handle(scan, target, item, None)
        for modified in as_list(result.get("ExperimentalModifiedFindings")):
            kind = modified.get("Type") if isinstance(modified, dict) else None
            if not isinstance(kind, str) or kind not in _MODIFIED:  # a list is unhashable
                scan.malformed += 1
                continue
            reason = modified.get("Status") if isinstance(modified.get("Status"), str) \
                else "suppressed"
            _MODIFIED[kind](scan, target, modified.get("Finding"), reason)
    return [scan]
