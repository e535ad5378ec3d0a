"""trufflehog v3's JSON Lines output (``trufflehog git|github|filesystem --json``).

Shape from trufflesecurity/trufflehog ``pkg/output/json.go`` (``SourceMetadata``,
``SourceName``, ``DetectorName``, ``DecoderName``, ``Verified``, ``Raw``, ``RawV2``,
``Redacted``) and ``pkg/pb/source_metadatapb`` (``Data.Git``/``Data.Github`` with
``repository``, ``commit``, ``file``, ``line``; ``Data.Filesystem.file``). Streamed
line by line. trufflehog has no severity: a verified secret is ``secret_severity``,
an unverified one ``unverified_secret_severity``. The key is detector + a hash of the
raw secret + file: the secret itself never leaves the parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collectors.reports.model import Hints, Instance, Scan, digest, key

_LOCATED = ("Git", "Github", "Gitlab", "Bitbucket", "Filesystem")


def _where(line: dict[str, Any]) -> tuple[str | None, str | None]:
    """(repository, file) from SourceMetadata.Data.<source>."""
    metadata = line.get("SourceMetadata")
    data = metadata.get("Data") if isinstance(metadata, dict) else None
    if not isinstance(data, dict):
        return None, None
    for source in _LOCATED:
        found = data.get(source)
        if isinstance(found, dict):
            repository = found.get("repository")
            return (repository if isinstance(repository, str) and repository else None,
                    found.get("file") if isinstance(found.get("file"), str) else None)
    return None, None


def parse_lines(lines: Iterable[Any], hints: Hints, path_target: str | None) -> list[Scan]:
    """Scans of the file's target (from the path, else each line's repository)."""
    scans: dict[str | None, Scan] = {}
    if path_target is not None:
        scans[path_target] = Scan("trufflehog", path_target, None)
    broken = 0
    for line in lines:
        if not isinstance(line, dict):
            broken += 1
            continue
        repository, file = _where(line)
        target = path_target if path_target is not None else repository
        scan = scans.setdefault(target, Scan("trufflehog", target, None))
        raw = line.get("RawV2") or line.get("Raw")
        detector = line.get("DetectorName")
        if not isinstance(detector, str) or not isinstance(raw, str) or not raw:
            scan.malformed += 1
            continue
        severity = (hints.secret_severity if line.get("Verified") is True
                    else hints.unverified_secret_severity)
        scan.instances.append(Instance(key(detector, digest(raw, 32), file), severity,
                                       "secret"))
    if broken:
        if not scans:
            scans[None] = Scan("trufflehog", None, None)
        for scan in scans.values():
            scan.complete = False
            scan.malformed += broken
    return list(scans.values())
