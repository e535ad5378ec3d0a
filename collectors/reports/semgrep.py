"""Semgrep's JSON output (``semgrep scan --json``).

Shape from semgrep/semgrep-interfaces ``semgrep_output_v1.atd`` (``cli_output``:
``results[]``, ``errors[]``, ``paths``; ``cli_match``: ``check_id``, ``path``,
``start``, ``end``, ``extra``; ``cli_match_extra``: ``severity``, ``fingerprint``,
``is_ignored``, ``metadata``) and its JSON schema ``semgrep_output_v1.jsonschema``.
Without a login, Semgrep writes ``"requires login"`` instead of the fingerprint; the
key is then rule + path + start line (it moves when lines above are added).
"""

from __future__ import annotations

from typing import Any

from collectors.records import Severity
from collectors.reports.model import (
    IGNORE,
    Hints,
    Instance,
    ReportError,
    Scan,
    as_list,
    count_severity,
    cves,
    key,
)

SEVERITIES: dict[str, Severity | str] = {
    # The rule severities (ERROR / WARNING / INFO) and the newer CRITICAL ... LOW.
    "critical": Severity.CRITICAL, "error": Severity.HIGH, "high": Severity.HIGH,
    "warning": Severity.MEDIUM, "medium": Severity.MEDIUM, "low": Severity.LOW,
    "info": IGNORE, "inventory": IGNORE, "experiment": IGNORE,
}
_NO_FINGERPRINT = {"", "requires login"}


def parse(doc: Any, hints: Hints) -> list[Scan]:
    """One scan; the target and time come from the path (Semgrep writes neither).

    An error of level ``error`` (a rule or a file that could not be analysed) makes the
    scan partial: a finding missing from it may only be missing from the analysis.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ReportError("malformed", "not a Semgrep report (results is not a list)")
    scan = Scan("semgrep", None, None)
    for error in as_list(doc.get("errors")):
        if not isinstance(error, dict) or str(error.get("level", "error")).lower() == "error":
            scan.complete = False
    for result in doc["results"]:
        extra = result.get("extra") if isinstance(result, dict) else None
        if not isinstance(extra, dict) or not isinstance(result.get("check_id"), str):
            scan.malformed += 1
            continue
        severity = count_severity(scan, extra.get("severity"), SEVERITIES)
        if severity is None:
            continue
        fingerprint = extra.get("fingerprint")
        if not isinstance(fingerprint, str) or fingerprint in _NO_FINGERPRINT:
            start = result.get("start") if isinstance(result.get("start"), dict) else {}
            fingerprint = key(result["check_id"], result.get("path"), start.get("line"))
        else:
            fingerprint = key(result["check_id"], fingerprint)
        metadata = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
        category = "secret" if metadata.get("category") == "secrets" else "sast"
        scan.instances.append(Instance(
            fingerprint, severity, category, cves(metadata.get("cve")),
            "nosemgrep" if extra.get("is_ignored") is True else None))
    return [scan]
