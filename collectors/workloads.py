"""Shared by the agent sources (``defender_endpoint``, ``elastic_fleet``): one record per host.

An agent inventory may list one host more than once (a re-installed or re-onboarded
agent leaves its old entry behind; two domains may hold the same short name). A run's
result must hold one record per (source, id), so entries with the same join key are
folded into the best-reported one, by the rule the derivation applies across sources
(``exporter/derive/detection.py``: one healthy agent is enough to watch a host), then
the newest check-in.
"""

from __future__ import annotations

from collectors.records_detection import Telemetry, Workload

RANK = {Telemetry.HEALTHY: 3, Telemetry.UNHEALTHY: 2, Telemetry.NONE: 1,
        Telemetry.UNKNOWN: 0}


def better(new: Workload, old: Workload) -> bool:
    """Whether ``new`` is the better report of the host: higher rank, then newer."""
    if RANK[new.telemetry] != RANK[old.telemetry]:
        return RANK[new.telemetry] > RANK[old.telemetry]
    if new.last_seen_at is None:
        return False
    return old.last_seen_at is None or new.last_seen_at > old.last_seen_at


class WorkloadJoin:
    """Collects a run's workloads, folding entries of one id; counts the folded ones."""

    def __init__(self) -> None:
        self._best: dict[str, Workload] = {}
        self.duplicates = 0

    def add(self, workload: Workload) -> None:
        known = self._best.get(workload.id)
        if known is not None:
            self.duplicates += 1
            if not better(workload, known):
                return
        self._best[workload.id] = workload

    def records(self) -> list[Workload]:
        return list(self._best.values())

    def __len__(self) -> int:
        return len(self._best)
