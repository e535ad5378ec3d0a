"""Publishing: a client_python custom collector over the current snapshot.

``SnapshotCollector.collect()`` only reads the snapshot it is given; it never calls
an API or touches the store. ``render`` caches the exposition (and its gzip) on the
snapshot per format, and the exporter pre-renders each snapshot before publishing it,
so a scrape is a dictionary lookup and a socket write, whatever the data volume and
whatever a concurrent collection is doing.
"""

from __future__ import annotations

import gzip
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


FORMATS = ((False, False), (False, True), (True, False), (True, True))


def render(snapshot: Snapshot, *, openmetrics_format: bool, compress: bool) -> bytes:
    """The exposition of ``snapshot`` in one format, rendered once and kept with it.

    The cache lives on the snapshot, so it can never serve bytes of another snapshot
    and disappears with it. ``prerender`` fills it before the snapshot is published,
    so scrapes only ever copy bytes.
    """
    key = (openmetrics_format, compress)
    cached = snapshot.rendered.get(key)
    if cached is not None:
        return cached
    source = SnapshotCollector(lambda: snapshot)
    generate = openmetrics.generate_latest if openmetrics_format else exposition.generate_latest
    body = generate(source)  # type: ignore[arg-type]
    if compress:
        body = gzip.compress(body, compresslevel=6)
    snapshot.rendered[key] = body  # a benign race: two threads store equal bytes
    return body


def prerender(snapshot: Snapshot) -> None:
    """Render every format of a snapshot that is about to be published."""
    for openmetrics_format, compress in FORMATS:
        render(snapshot, openmetrics_format=openmetrics_format, compress=compress)
