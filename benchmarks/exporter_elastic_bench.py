"""The whole exporter runtime on one large source: 200,000 Elastic alerts in one run.

    python benchmarks/exporter_elastic_bench.py [--alerts 200000]

Where ``elastic_bench.py`` measures the collector alone, this runs it the way
``serve`` does: ``Exporter.collect_once`` (a fresh event loop per run, the store
commit of every record, then derivation, assessment and pre-rendering) against
``elastic_fake.py`` on 127.0.0.1, with the default window (no ``lookback``: the core
hands the collector the previous quarter's start less 14 days), and reports wall time
and this process's peak RSS.

It checks itself before printing a number and exits non-zero otherwise: the run
succeeded; the store holds exactly the alerts the fake holds in the window (count and
id checksum; unknown closing reasons skipped; older alerts outside the window absent);
the exposition a scrape would get carries the signal ratio, the untriaged count and
the triaged count per disposition for both quarters, equal to the prediction from the
fake's generated alerts; and the fake served exactly the lower bound of requests
(open a point in time, ceil(N / P) pages, plus one when P divides N, close it).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.records import RecordKind  # noqa: E402
from exporter.app import Exporter  # noqa: E402
from exporter.config import load_config  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from elastic_bench import NOW, check, lower_bound, predict  # noqa: E402
from elastic_fake import running  # noqa: E402

PAGE = 5000  # the collector's default page_size
NAMES = ("alert_signal_ratio", "devsecops_siem_alerts_untriaged",
         "devsecops_siem_alerts_triaged")


def exposition_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(metric, labels without quarter + quarter) -> value, for the alert metrics."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in NAMES:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--older", type=int, default=None,
                        help="alerts created before the quarter (default: 2 %% of --alerts)")
    args = parser.parse_args()
    older = args.older if args.older is not None else args.alerts // 50
    expected = predict(args.alerts, older, 0, 0, 0).before
    with running(args.alerts, older, max_seconds=600) as base:
        os.environ["ELASTIC_BENCH_KEY"] = "YmVuY2g6YmVuY2g="
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.yaml"
            config.write_text(
                "store: {path: store.db}\ncollectors:\n  - name: es\n    type: elastic\n"
                f"    config: {{url: '{base}', api_key: {{env: ELASTIC_BENCH_KEY}}, "
                "http: {timeout: 120s}}\n")
            exporter = Exporter(load_config(config), clock=lambda: NOW)
            started = time.perf_counter()
            ok = exporter.collect_once()
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            # Checks, after the timing and the RSS reading.
            check(ok, "collect_once failed")
            counts = exporter.store.record_counts()
            stored = counts.get(("es", RecordKind.SIEM_ALERT), 0)
            total = 0
            for (alert_id,) in exporter.store.iter_rows(RecordKind.SIEM_ALERT, ["id"]):
                total = (total + zlib.crc32(alert_id.encode())) % (1 << 64)
            check((stored, total) == expected.records and sum(counts.values()) == stored,
                  f"stored {counts} (checksum {total}), the fake holds {expected.records[0]} "
                  f"alerts in the window (checksum {expected.records[1]})")
            snapshot = exporter.snapshot
            assert snapshot is not None
            text = snapshot.rendered[(False, False)].decode()
            published = exposition_values(text)
            exporter.stop()
        served = httpx.get(f"{base}/_bench/stats").json()
    wanted = {}
    for label, values in expected.quarters.items():
        for name, series in values.published().items():
            if name in NAMES:
                for labels, value in series.items():
                    wanted[(name, tuple(sorted((*labels, ("quarter", label)))))] = value
    differ = {k: (published.get(k), v) for k, v in wanted.items()
              if k not in published or not math.isclose(published[k], v, rel_tol=1e-9)}
    extra = sorted(set(published) - set(wanted))
    check(not differ and not extra, f"published (got, predicted) {differ}; not predicted "
          f"{extra}")
    bound = {"open_pit": 1, "search": lower_bound(expected.hits, PAGE), "close_pit": 1}
    check(served["requests"] == bound and served["open_pits"] == 0,
          f"the fake served {served['requests']} ({served['open_pits']} PITs open), "
          f"bound {bound}")
    q3 = f"{(NOW - timedelta(days=1)).year}-Q3"
    ratio = published[("alert_signal_ratio", (("quarter", q3),))]
    untriaged = published[("devsecops_siem_alerts_untriaged", (("quarter", q3),))]
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: ok={ok} "
          f"alerts_stored={stored} (= the fake's {expected.records[0]} in the window, "
          f"{expected.unmapped} unknown reasons skipped) seconds={seconds:.1f} "
          f"peak_rss_mb={peak:.0f} requests={sum(served['requests'].values())} "
          f"(= bound) published: alert_signal_ratio{{quarter=\"{q3}\"}}={ratio:.4f} "
          f"untriaged={untriaged:.0f} ({len(wanted)} values = prediction)")


if __name__ == "__main__":
    main()
