"""Snyk CLI's JSON (``snyk test --json``, ``snyk container test --json``).

Shape from snyk/cli's test fixtures (``test/fixtures/``, ``test/acceptance``
workspaces' expected JSON) and its ``src/lib/snyk-test/legacy.ts`` types
(``vulnerabilities[]``: ``id``, ``severity``, ``packageName``, ``version``,
``from[]``, ``identifiers.CVE[]``; ``filtered.ignore[]``; ``ok``, ``error``,
``projectName``, ``displayTargetFile``). ``--all-projects`` writes a list of those.
Snyk Code writes SARIF (``snyk code test --sarif``), read by the SARIF parser.
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
}


def _vulnerability(scan: Scan, item: Any, target_file: Any, suppressed: str | None) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        scan.malformed += 1
        return
    severity = count_severity(scan, item.get("severity"), SEVERITIES)
    if severity is None:
        return
    path = item.get("from")
    identifiers = item.get("identifiers") if isinstance(item.get("identifiers"), dict) else {}
    fingerprint = key(item["id"], item.get("packageName"), item.get("version"),
                      ">".join(p for p in path if isinstance(p, str))
                      if isinstance(path, list) else None, target_file)
    scan.instances.append(Instance(fingerprint, severity, "sca",
                                   cves(identifiers.get("CVE")), suppressed,
                                   parse_time(item.get("publicationTime"))))


def _project(doc: Any) -> Scan:
    if not isinstance(doc, dict):
        raise ReportError("malformed", "not a Snyk test result")
    target = doc.get("projectName") if isinstance(doc.get("projectName"), str) else None
    scan = Scan("snyk", target or None, None)
    if "error" in doc and not doc.get("vulnerabilities"):
        scan.complete = False  # a test that failed: it says nothing about absences
        return scan
    if not isinstance(doc.get("vulnerabilities"), list):
        raise ReportError("malformed", "not a Snyk test result (no vulnerabilities list)")
    target_file = doc.get("displayTargetFile")
    for item in doc["vulnerabilities"]:
        _vulnerability(scan, item, target_file, None)
    filtered = doc.get("filtered") if isinstance(doc.get("filtered"), dict) else {}
    for item in as_list(filtered.get("ignore")):
        _vulnerability(scan, item, target_file, "snyk_ignore")
    return scan


def parse(doc: Any, hints: Hints) -> list[Scan]:
    """One scan per project; scan time from the path (Snyk's JSON has none)."""
    projects = doc if isinstance(doc, list) else [doc]
    return [_project(project) for project in projects]
