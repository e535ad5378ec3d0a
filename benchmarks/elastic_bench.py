"""Benchmark the ``elastic`` collector: one quarter of 200,000 alerts from one source.

Starts ``benchmarks/elastic_fake.py`` in a child process on 127.0.0.1 (so the fake's
memory is not counted), then measures in this process:

1. a full pass in ``elasticsearch`` mode (PIT + search_after): requests against the
   pagination lower bound, wall time, peak RSS;
2. an incremental run after the fake closed some open alerts and created new ones: it
   must fetch only what changed since the last success;
3. a full pass in ``kibana`` mode (time slices), for comparison.

Pagination lower bound: reading N alerts with pages of P needs ceil(N / P) search
requests, plus one more when P divides N (only an empty or short page proves the end);
the point in time adds one open and one close request.

Run: ``python benchmarks/elastic_bench.py [--alerts 200000] [--page-size 10000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.base import CollectContext
from collectors.elastic import ElasticCollector, ElasticSettings
from collectors.http import ApiClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from elastic_fake import running

NOW = datetime(2026, 10, 1, tzinfo=UTC)


class CountingCollector(ElasticCollector):
    """Keeps the ApiClient of each run so its request counts can be read."""

    clients: list[ApiClient]

    def _client(self) -> ApiClient:
        client = super()._client()
        self.clients = [*getattr(self, "clients", []), client]
        return client


def lower_bound(n: int, page: int) -> int:
    return math.ceil(n / page) + (1 if n % page == 0 else 0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def timed_run(c: CountingCollector, ctx: CollectContext) -> tuple[Any, float, int]:
    start = time.perf_counter()
    result = await c.collect(ctx)
    elapsed = time.perf_counter() - start
    return result, elapsed, c.clients[-1].stats.requests


async def phases(base: str, args: argparse.Namespace) -> dict[str, Any]:
    """All runs in one event loop, as in the exporter (one long-lived loop)."""
    os.environ.setdefault("ELASTIC_BENCH_KEY", "YmVuY2g6YmVuY2g=")
    common = {"api_key": {"env": "ELASTIC_BENCH_KEY"}, "lookback": "93d",
              "page_size": args.page_size, "http": {"timeout": "120s"}}
    logger = logging.getLogger("bench")
    rss_before = peak_rss_mb()

    es = CountingCollector("elastic-bench", ElasticSettings.model_validate(
        {"url": base, **common}))
    full, full_s, full_req = await timed_run(es, CollectContext("elastic-bench", NOW, {}, logger))
    n_full = len(full.siem_alerts)
    state = full.state or {}
    complete = sorted(full.complete)
    del full  # the core stores the records and drops the result
    rss_full = peak_rss_mb()

    later = NOW + timedelta(hours=1)
    changed_at = (NOW + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    async with httpx.AsyncClient() as http:
        await http.post(f"{base}/_bench/mutate", json={
            "at": changed_at, "changed": args.changed, "new": args.new}, timeout=60)
    incr, incr_s, incr_req = await timed_run(es, CollectContext(
        "elastic-bench", later, state, logger))
    n_incr = len(incr.siem_alerts)

    kb = CountingCollector("elastic-bench", ElasticSettings.model_validate(
        {"url": base, "mode": "kibana", **common}))
    kib, kib_s, kib_req = await timed_run(kb, CollectContext("elastic-bench", later, {}, logger))
    n_kib = len(kib.siem_alerts)
    del kib
    rss_peak = peak_rss_mb()
    return {
        "alerts": args.alerts, "page_size": args.page_size,
        "full": {"records": n_full, "requests": full_req,
                 "lower_bound": lower_bound(n_full, args.page_size) + 2,
                 "seconds": round(full_s, 2), "complete": complete},
        "incremental": {"records": n_incr, "requests": incr_req,
                        "expected_changed": args.changed + args.new,
                        "lower_bound": lower_bound(args.new, args.page_size)
                        + lower_bound(args.changed, args.page_size) + 2,
                        "seconds": round(incr_s, 2), "complete": sorted(incr.complete)},
        "kibana_full": {"records": n_kib, "requests": kib_req,
                        "lower_bound": lower_bound(n_kib, args.page_size),
                        "seconds": round(kib_s, 2)},
        "peak_rss_mb": {"before": round(rss_before, 1), "after_full": round(rss_full, 1),
                        "peak": round(rss_peak, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="elastic collector benchmark")
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=5_000)
    parser.add_argument("--changed", type=int, default=2_000)
    parser.add_argument("--new", type=int, default=1_000)
    args = parser.parse_args()

    with running(args.alerts) as base:
        report = asyncio.run(phases(base, args))
        print(json.dumps(report, indent=2))

if __name__ == "__main__":
    main()
