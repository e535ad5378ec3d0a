"""Which tool wrote a report, from its first bytes, and how to read it.

Detection looks at the opening of the file (:data:`PREFIX_BYTES`), never at its name:
CI jobs name reports anything. Each format has markers that only it writes near the
top (its top-level keys, or the keys of its first result); the checks run in a fixed
order, most specific first (SARIF before Semgrep, whose SARIF output also has
``results``). What the opening cannot decide (an empty Gitleaks ``[]``, an empty
JSON Lines file) needs ``format:`` in the config.
"""

from __future__ import annotations

import re

PREFIX_BYTES = 64 * 1024
JSONL_FORMATS = frozenset({"nuclei", "trufflehog"})
FORMATS = ("trivy", "grype", "semgrep", "sarif", "gitleaks", "trufflehog", "zap",
           "nuclei", "snyk")


def _has(text: str, *names: str) -> bool:
    return all(re.search(rf'"{re.escape(name)}"\s*:', text) for name in names)


def _any(text: str, *names: str) -> bool:
    return any(_has(text, name) for name in names)


def detect(prefix: bytes) -> str | None:
    """The format of a report that starts with ``prefix``, or None when unknown."""
    text = prefix.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text[0] == "[":
        if _has(text, "RuleID"):
            return "gitleaks"
        if _has(text, "vulnerabilities") and _any(text, "packageManager", "projectName"):
            return "snyk"
        return None
    if text[0] != "{":
        return None
    first_line = text.split("\n", 1)[0]
    if _any(first_line, "template-id", "templateID") and _has(first_line, "info"):
        return "nuclei"
    if _has(first_line, "SourceMetadata") and _has(first_line, "DetectorName"):
        return "trufflehog"
    if _has(text, "runs") and (re.search(r'"\$schema"\s*:\s*"[^"]*sarif', text)
                               or re.search(r'"version"\s*:\s*"2\.1\.0"', text)):
        return "sarif"
    if _has(text, "SchemaVersion") and _any(text, "ArtifactName", "Results"):
        return "trivy"
    if _has(text, "@programName") or _has(text, "site", "@generated"):
        return "zap"
    if _has(text, "matches") and _any(text, "artifact", "descriptor", "source"):
        return "grype"
    if _has(text, "results") and _any(text, "check_id", "paths", "errors"):
        return "semgrep"
    if _has(text, "vulnerabilities") and _any(text, "packageManager", "projectName",
                                              "dependencyCount"):
        return "snyk"
    if _has(text, "ok", "error", "path"):
        return "snyk"  # snyk test's error report: {"ok": false, "error": ..., "path": ...}
    return None
