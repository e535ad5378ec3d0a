"""Collector health and exporter self-metrics, as snapshot families.

Health is never hidden: every configured collector has ``up``, its last success
time, its last run's duration, its nominal interval (so alerts can tell "stale" from
"slow") and monotonic error counters by bounded kind. Error text goes to the log,
never into a label.
"""

from __future__ import annotations

import platform
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from collectors.base import ErrorKind, SourceGauge
from collectors.http import RETRY_KINDS, RequestStats
from collectors.records import RecordKind
from exporter import __version__
from exporter.snapshot import Family, Sample


@dataclass
class CollectorHealth:
    """Mutable per-collector run state, updated by the runner under its lock."""

    name: str
    type: str
    interval_seconds: float
    up: bool | None = None  # None: no run finished yet
    last_success: float | None = None
    last_duration: float | None = None
    runs: Counter[str] = field(default_factory=Counter)  # success / failure
    errors: Counter[ErrorKind] = field(default_factory=Counter)
    gauges: tuple[SourceGauge, ...] = ()
    http_requests: int = 0
    http_retries: Counter[str] = field(default_factory=Counter)
    http_wait_seconds: float = 0.0


@dataclass
class ReloadState:
    successful: bool = True
    last_success: float | None = None


class HealthBook:
    """All collectors' health, safe to update from scheduler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._collectors: dict[str, CollectorHealth] = {}
        self.reload = ReloadState()

    def configure(self, entries: Iterable[tuple[str, str, float, float | None]]) -> None:
        """(name, type, interval seconds, last success) for each configured collector.

        Counters of collectors that stay configured survive a reload; removed ones go.
        """
        with self._lock:
            fresh = {}
            for name, type_name, interval, last_success in entries:
                old = self._collectors.get(name)
                health = old or CollectorHealth(name, type_name, interval)
                health.type, health.interval_seconds = type_name, interval
                if health.last_success is None:
                    health.last_success = last_success
                fresh[name] = health
            self._collectors = fresh

    def record_success(self, name: str, finished: float, duration: float,
                       record_errors: Mapping[ErrorKind, int],
                       gauges: Iterable[SourceGauge]) -> None:
        with self._lock:
            health = self._collectors.get(name)
            if health is None:
                return
            health.up = True
            health.last_success = finished
            health.last_duration = duration
            health.runs["success"] += 1
            health.errors.update(record_errors)
            health.gauges = tuple(gauges)

    def record_failure(self, name: str, duration: float, kind: ErrorKind) -> None:
        with self._lock:
            health = self._collectors.get(name)
            if health is None:
                return
            health.up = False
            health.last_duration = duration
            health.runs["failure"] += 1
            health.errors[kind] += 1

    def record_http(self, name: str, stats: RequestStats) -> None:
        """Add one run's HTTP requests, retries by kind and time spent waiting."""
        with self._lock:
            health = self._collectors.get(name)
            if health is None:
                return
            health.http_requests += stats.requests
            health.http_retries.update(stats.retries_by_kind)
            health.http_wait_seconds += stats.waited_seconds

    def get(self, name: str) -> CollectorHealth | None:
        with self._lock:
            return self._collectors.get(name)

    def families(self, record_counts: Mapping[tuple[str, RecordKind], int],
                 snapshot_time: float) -> list[Family]:
        with self._lock:
            collectors = sorted(self._collectors.values(), key=lambda h: h.name)
            up, success, duration, interval, runs, errors, records = [], [], [], [], [], [], []
            requests, retries, waits = [], [], []
            source: dict[str, tuple[str, list[Sample]]] = {}
            for h in collectors:
                label = (("collector", h.name),)
                interval.append(Sample(label, h.interval_seconds))
                if h.up is not None:
                    up.append(Sample(label, float(h.up)))
                if h.last_success is not None:
                    success.append(Sample(label, h.last_success))
                if h.last_duration is not None:
                    duration.append(Sample(label, h.last_duration))
                for result in ("success", "failure"):
                    runs.append(Sample((*label, ("result", result)), float(h.runs[result])))
                for kind in ErrorKind:
                    errors.append(Sample((*label, ("kind", kind.value)), float(h.errors[kind])))
                if h.http_requests:
                    requests.append(Sample(label, float(h.http_requests)))
                    waits.append(Sample(label, h.http_wait_seconds))
                    for kind_name in RETRY_KINDS:
                        retries.append(Sample((*label, ("kind", kind_name)),
                                              float(h.http_retries[kind_name])))
                for kind in RecordKind:
                    count = record_counts.get((h.name, kind))
                    if count is not None:
                        records.append(Sample((*label, ("kind", kind.value)), float(count)))
                for g in h.gauges:
                    doc, samples = source.setdefault(g.name, (g.documentation, []))
                    samples.append(Sample((*label, *g.labels), g.value))
            reload = self.reload
        families = [
            Family("devsecops_collector_up", "1 if the collector's last run succeeded, 0 if it "
                   "failed; absent until its first run ends. Updated after every run.", "gauge",
                   tuple(up)),
            Family("devsecops_collector_last_success_timestamp_seconds",
                   "Unix time the collector last finished a run successfully (kept across "
                   "restarts).", "gauge", tuple(success)),
            Family("devsecops_collector_duration_seconds", "Duration of the collector's last "
                   "run, successful or not.", "gauge", tuple(duration)),
            Family("devsecops_collector_interval_seconds", "Nominal time between the "
                   "collector's runs (cron schedules count as 1h); a success older than two "
                   "intervals means the collector is stale.", "gauge", tuple(interval)),
            Family("devsecops_collector_runs_total", "Collector runs since the exporter "
                   "started, by result.", "counter", tuple(runs)),
            Family("devsecops_collector_errors_total", "Collector errors since the exporter "
                   "started, by kind: failed runs and skipped records.", "counter",
                   tuple(errors)),
            Family("devsecops_collector_http_requests_total", "HTTP requests the collector "
                   "sent since the exporter started, retries included; absent for collectors "
                   "that use no API.", "counter", tuple(requests)),
            Family("devsecops_collector_http_retries_total", "HTTP requests the collector "
                   "retried since the exporter started, by why: rate_limited (429, Retry-After, "
                   "vendor throttling), server (5xx), timeout, network.", "counter",
                   tuple(retries)),
            Family("devsecops_collector_http_wait_seconds_total", "Seconds the collector "
                   "spent waiting before retries (backoff and rate-limit waits) since the "
                   "exporter started.", "counter", tuple(waits)),
            Family("devsecops_collector_records", "Records the collector has in the store, "
                   "by kind. Updated after every run.", "gauge", tuple(records)),
            Family("devsecops_build_info", "Build information; always 1.", "info",
                   (Sample((("python_version", platform.python_version()),
                            ("version", __version__)), 1.0),)),
            Family("devsecops_snapshot_timestamp_seconds", "Unix time the published snapshot "
                   "was built; its age is time() minus this value.", "gauge",
                   (Sample((), snapshot_time),)),
            Family("devsecops_config_last_reload_successful", "1 if the last configuration "
                   "(re)load succeeded, 0 if it was rejected and the previous one kept.",
                   "gauge", (Sample((), float(reload.successful)),)),
        ]
        if reload.last_success is not None:
            families.append(Family("devsecops_config_last_reload_success_timestamp_seconds",
                                   "Unix time of the last successful configuration load.",
                                   "gauge", (Sample((), reload.last_success),)))
        for name, (doc, samples) in sorted(source.items()):
            families.append(Family(name, doc, "gauge", tuple(samples)))
        return families
