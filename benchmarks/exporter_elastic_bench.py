"""The whole exporter runtime on one large source: 200,000 Elastic alerts in one run.

    python benchmarks/exporter_elastic_bench.py [--alerts 200000]

Where ``elastic_bench.py`` measures the collector alone, this runs it the way
``serve`` does: ``Exporter.collect_once`` (a fresh event loop per run, the store
commit of every record, then derivation, assessment and pre-rendering) against
``elastic_fake.py`` on 127.0.0.1, and reports wall time and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exporter.app import Exporter  # noqa: E402
from exporter.config import load_config  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from elastic_fake import running  # noqa: E402

NOW = datetime(2026, 10, 1, tzinfo=UTC)  # the fake's quarter ends here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    args = parser.parse_args()
    with running(args.alerts, max_seconds=600) as base:
        os.environ["ELASTIC_BENCH_KEY"] = "YmVuY2g6YmVuY2g="
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.yaml"
            config.write_text(
                "store: {path: store.db}\ncollectors:\n  - name: es\n    type: elastic\n"
                f"    config: {{url: '{base}', api_key: {{env: ELASTIC_BENCH_KEY}}, "
                "lookback: 93d, http: {timeout: 120s}}\n")
            exporter = Exporter(load_config(config), clock=lambda: NOW)
            started = time.perf_counter()
            ok = exporter.collect_once()
            seconds = time.perf_counter() - started
            stored = sum(exporter.store.record_counts().values())
            exporter.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"ok={ok} alerts_stored={stored} seconds={seconds:.1f} peak_rss_mb={peak:.0f}")

if __name__ == "__main__":
    main()
