"""Nuclei's JSON Lines output (``nuclei -jsonl -o results.jsonl``), one result a line.

Shape from projectdiscovery/nuclei ``pkg/output/output.go`` (``ResultEvent``:
``template-id``, ``info`` with ``severity`` and ``classification.cve-id``,
``matcher-name``, ``extractor-name``, ``host``, ``matched-at``, ``timestamp``).
Streamed line by line. Without a target from the path, each ``host`` is a target of
its own; a host with no result in a file is then not known to have been scanned, so a
path pattern naming the target is what lets a clean scan fix findings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collectors.records import Severity
from collectors.reports.model import (
    FOUR_LEVELS,
    IGNORE,
    Hints,
    Instance,
    Scan,
    count_severity,
    cves,
    key,
    parse_time,
)

SEVERITIES: dict[str, Severity | str] = {
    **FOUR_LEVELS, "info": IGNORE,
    # "unknown" is deliberately not mapped.
}


def parse_lines(lines: Iterable[Any], hints: Hints, path_target: str | None) -> list[Scan]:
    """Scans of the file's target (or of each host), at the latest result's time.

    A line that is not a JSON object (a cut-off last line) makes every scan of the file
    partial: what came after it is unknown.
    """
    scans: dict[str | None, Scan] = {}
    if path_target is not None:
        scans[path_target] = Scan("nuclei", path_target, None)
    broken = 0
    for line in lines:
        if not isinstance(line, dict):
            broken += 1
            continue
        host = line.get("host") if isinstance(line.get("host"), str) else None
        target = path_target if path_target is not None else host
        scan = scans.setdefault(target, Scan("nuclei", target, None))
        when = parse_time(line.get("timestamp"), hints.naive_zone)
        if when is not None and (scan.scanned_at is None or when > scan.scanned_at):
            scan.scanned_at = when
        info = line.get("info") if isinstance(line.get("info"), dict) else None
        template = line.get("template-id") or line.get("templateID")
        if info is None or not isinstance(template, str):
            scan.malformed += 1
            continue
        severity = count_severity(scan, info.get("severity"), SEVERITIES)
        if severity is None:
            continue
        classification = info.get("classification")
        cve_ids = cves(classification.get("cve-id")) if isinstance(classification, dict) else ()
        fingerprint = key(template, line.get("matcher-name"), line.get("extractor-name"),
                          line.get("matched-at") or host)
        scan.instances.append(Instance(fingerprint, severity, "dast", cve_ids))
    _finish(scans, broken)
    return list(scans.values())


def _finish(scans: dict[str | None, Scan], broken: int) -> None:
    if not broken:
        return
    if not scans:
        scans[None] = Scan("nuclei", None, None)
    for scan in scans.values():
        scan.complete = False
        scan.malformed += broken

