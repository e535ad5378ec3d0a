"""Gitleaks' JSON report (``gitleaks detect|git|dir --report-format json``).

Shape from gitleaks/gitleaks ``report/finding.go`` (``Finding``: ``RuleID``, ``File``,
``StartLine``, ``Commit``, ``Fingerprint`` = commit:file:rule:line, ``Secret``, ...) and
``testdata/expected/report/json_simple.json``. A clean scan is ``[]``: give such files
a ``format: gitleaks`` (the content cannot say which tool wrote an empty list).
Gitleaks has no severity: every leak is ``secret_severity`` (default high).
"""

from __future__ import annotations

from typing import Any

from collectors.reports.model import Hints, Instance, ReportError, Scan, key


def parse(doc: Any, hints: Hints) -> list[Scan]:
    """One scan; target and time from the path (the report names neither)."""
    if not isinstance(doc, list):
        raise ReportError("malformed", "not a Gitleaks report (not a list)")
    scan = Scan("gitleaks", None, None)
    for leak in doc:
        if not isinstance(leak, dict) or not isinstance(leak.get("RuleID"), str):
            scan.malformed += 1
            continue
        fingerprint = leak.get("Fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            fingerprint = key(leak.get("Commit"), leak.get("File"), leak["RuleID"],
                              leak.get("StartLine"))
        scan.instances.append(Instance(fingerprint, hints.secret_severity, "secret"))
    return [scan]
