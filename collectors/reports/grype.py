"""Grype's JSON output (``grype <source> -o json``).

Shape from anchore/grype ``grype/presenter/models/document.go`` (``Document``:
``matches[]``, ``ignoredMatches[]``, ``source``, ``distro``, ``descriptor``) and
``match.go`` (``vulnerability``: ``id``, ``severity``; ``relatedVulnerabilities[]``;
``artifact``: ``name``, ``version``, ``type``), JSON schema under
``schema/grype/json/``.
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
    # Grype's "Negligible" is below low; GitLab's own Grype template maps it to low.
    "negligible": Severity.LOW,
    # "Unknown" is deliberately not mapped.
}


def _target(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    target = source.get("target")
    if isinstance(target, str):  # directory and file sources
        return target or None
    if isinstance(target, dict):  # image sources
        for name in ("userInput", "imageID"):
            if isinstance(target.get(name), str) and target[name]:
                return target[name]
    return None


def _match(scan: Scan, match: Any, suppressed: str | None) -> None:
    vulnerability = match.get("vulnerability") if isinstance(match, dict) else None
    artifact = match.get("artifact") if isinstance(match, dict) else None
    if not isinstance(vulnerability, dict) or not isinstance(artifact, dict) \
            or not isinstance(vulnerability.get("id"), str):
        scan.malformed += 1
        return
    severity = count_severity(scan, vulnerability.get("severity"), SEVERITIES)
    if severity is None:
        return
    related = [r.get("id") for r in as_list(match.get("relatedVulnerabilities"))
               if isinstance(r, dict)]
    fingerprint = key(vulnerability["id"], artifact.get("name"), artifact.get("version"),
                      artifact.get("type"))
    scan.instances.append(Instance(fingerprint, severity, "sca",
                                   cves(vulnerability["id"], related), suppressed))


def parse(doc: Any, hints: Hints) -> list[Scan]:
    """One scan of the source's target at ``descriptor.timestamp``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("matches", []), list | None):
        raise ReportError("malformed", "not a Grype report (matches is not a list)")
    descriptor = doc.get("descriptor") if isinstance(doc.get("descriptor"), dict) else {}
    scan = Scan("grype", _target(doc.get("source")),
                parse_time(descriptor.get("timestamp"), hints.naive_zone))
    for match in as_list(doc.get("matches")):
        _match(scan, match, None)
    for match in as_list(doc.get("ignoredMatches")):
        _match(scan, match, "ignore_rule")
    return [scan]
