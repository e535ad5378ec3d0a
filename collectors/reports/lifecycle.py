"""Findings' lifecycle from a sequence of snapshots, kept in the collector's state.

A report says what a tool saw on a target at one moment; nothing in it says when a
finding first appeared or when it went away. The lifecycle is the difference between
successive scans of the same tool on the same target (a *stream*):

- opened at the first scan containing it (dismissed at once if the tool suppresses it);
- fixed at the first later *complete* scan of its stream that no longer contains it;
- reopened, keeping its original ``opened_at``, when a later scan contains it again;
- dismissed when a scan shows it under a tool-native suppression, reopened when the
  suppression is gone.

A partial scan (errored, cut short) opens and reopens but never fixes. Scans are
applied in scan-time order; one no newer than the last applied of its stream is late
and ignored (the lifecycle only moves forward). The state is plain JSON: times as Unix
seconds, so it survives restarts in the store's collector state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.reports.model import Instance, digest

OPEN, FIXED, DISMISSED = "open", "fixed", "dismissed"
STATE_VERSION = 1

# A finding in the state: [opened, state, resolved, severity, category, asset,
# cve ids (space-separated), disclosed, dismissed reason].
OPENED, STATE, RESOLVED, SEVERITY, CATEGORY, ASSET, CVES, DISCLOSED, REASON = range(9)


@dataclass
class ScanGroup:
    """Every instance one tool reported on one target at one time (files merged)."""

    tool: str
    target: str
    at: float
    instances: dict[str, Instance]
    complete: bool


def finding_id(tool: str, target: str, fingerprint: str) -> str:
    """``<tool>:<hash>``: stable across runs, bounded, free of report content."""
    return f"{tool}:{digest(target + chr(31) + fingerprint, 24)}"


def stream_key(tool: str, target: str) -> str:
    return f"{tool}\x1f{target}"


def empty_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "files": {}, "streams": {}, "findings": {}}


def apply(state: dict[str, Any], group: ScanGroup) -> bool:
    """Apply one scan to ``state``; False (nothing changed) when it is late."""
    streams: dict[str, Any] = state["streams"]
    findings: dict[str, list[Any]] = state["findings"]
    stream = streams.setdefault(stream_key(group.tool, group.target),
                                {"last": None, "complete": None, "ids": []})
    if stream["last"] is not None and group.at <= stream["last"]:
        return False
    at = group.at
    for fingerprint, instance in group.instances.items():
        fid = finding_id(group.tool, group.target, fingerprint)
        entry = findings.get(fid)
        details = (instance.severity.value, instance.category, group.target,
                   " ".join(instance.cve_ids),
                   instance.disclosed_at.timestamp() if instance.disclosed_at else None)
        if entry is None:
            entry = [at, OPEN, None, *details, None]
            findings[fid] = entry
            stream["ids"].append(fid)
        else:
            entry[SEVERITY:DISCLOSED + 1] = details
        if instance.suppressed is not None:
            if entry[STATE] != DISMISSED:
                entry[STATE], entry[RESOLVED], entry[REASON] = (DISMISSED, at,
                                                                instance.suppressed)
        elif entry[STATE] != OPEN:
            entry[STATE], entry[RESOLVED], entry[REASON] = OPEN, None, None
    if group.complete:
        seen = {finding_id(group.tool, group.target, fp) for fp in group.instances}
        for fid in stream["ids"]:
            entry = findings[fid]
            if entry[STATE] == OPEN and fid not in seen:
                entry[STATE], entry[RESOLVED] = FIXED, at
    stream["last"] = at
    if group.complete:
        stream["complete"] = at
    return True


def prune(state: dict[str, Any], before: float) -> int:
    """Forget findings resolved before ``before``; return how many.

    Bounds the state to the published history. A forgotten finding that comes back
    later is a new finding, opened again.
    """
    findings: dict[str, list[Any]] = state["findings"]
    gone = {fid for fid, entry in findings.items()
            if entry[STATE] != OPEN and entry[RESOLVED] < before}
    if not gone:
        return 0
    for fid in gone:
        del findings[fid]
    for stream in state["streams"].values():
        stream["ids"] = [fid for fid in stream["ids"] if fid not in gone]
    return len(gone)
