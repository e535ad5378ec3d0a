"""Publishing: a client_python custom collector over the current snapshot.

``SnapshotCollector.collect()`` only reads the snapshot it is given; it never calls
an API or touches the store. ``Renderer`` caches the rendered exposition (and its
gzip) per snapshot and format, so a scrape of an unchanged snapshot is a dictionary
lookup and a socket write, whatever the data volume and whatever a concurrent
collection is doing.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator

from prometheus_client import exposition
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector as PromCollector

from exporter.snapshot import Family, Snapshot

# The classic text format, 0.0.4: what every Prometheus version parses.
TEXT_CONTENT_TYPE = exposition.CONTENT_TYPE_PLAIN_0_0_4
OPENMETRICS_CONTENT_TYPE = openmetrics.CONTENT_TYPE_LATEST


def to_metric(family: Family) -> Metric:
    """Convert a plain-data family to a client_python metric family."""
    label_names = [name for name, _ in family.samples[0].labels] if family.samples else []
    if family.type == "counter":
        metric: Metric = CounterMetricFamily(
            family.name.removesuffix("_total"), family.documentation, labels=label_names
        )
    elif family.type == "info":
        info = InfoMetricFamily(family.name.removesuffix("_info"), family.documentation)
        for sample in family.samples:
            info.add_metric([], dict(sample.labels))
        return info
    else:
        metric = GaugeMetricFamily(family.name, family.documentation, labels=label_names)
    for sample in family.samples:
        metric.add_metric([value for _, value in sample.labels], sample.value)
    return metric


class SnapshotCollector(PromCollector):
    """client_python collector yielding the families of one snapshot source."""

    def __init__(self, get_snapshot: Callable[[], Snapshot | None]) -> None:
        self._get_snapshot = get_snapshot

    def describe(self) -> Iterator[Metric]:
        # Static and empty: registering must not build or read a snapshot.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        snapshot = self._get_snapshot()
        if snapshot is None:
            return
        for family in snapshot.families:
            if family.samples or family.type != "info":
                yield to_metric(family)


class Renderer:
    """Renders a snapshot once per format and encoding, then serves the cached bytes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None  # held, so identity is safe
        self._cache: dict[tuple[bool, bool], bytes] = {}

    def render(self, snapshot: Snapshot, *, openmetrics_format: bool, compress: bool) -> bytes:
        key = (openmetrics_format, compress)
        with self._lock:
            if self._snapshot is not snapshot:
                self._snapshot, self._cache = snapshot, {}
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        source = SnapshotCollector(lambda: snapshot)
        generate = openmetrics.generate_latest if openmetrics_format else exposition.generate_latest
        body = generate(source)  # type: ignore[arg-type]
        if compress:
            body = gzip.compress(body, compresslevel=6)
        with self._lock:
            if self._snapshot is snapshot:
                self._cache[key] = body
        return body
