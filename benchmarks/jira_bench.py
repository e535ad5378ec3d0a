"""Benchmark the ``jira`` collector against ``benchmarks/jira_fake.py``.

For each deployment (Cloud, Data Center) the fake runs in a child process on
127.0.0.1 (its memory is not counted) with 100,000 vulnerability and 2,000 incident
tickets, and this process measures:

1. a full sync: search requests against the pagination lower bound, wall time, records;
2. an incremental run after 50 vulnerability tickets changed: requests per query.

Pagination lower bound for one query of N tickets with pages of P (the most the
endpoint returns): ceil(N / P) search requests. The last page is recognised without
an extra request on both APIs (Cloud: ``isLast``/no ``nextPageToken``; DC: ``total``).
P is 100 on Cloud's ``/rest/api/3/search/jql`` once fields beyond id/key are asked
(5,000 for id/key only, which would need a second round trip per ticket batch for the
fields), and 1,000 on DC's ``/rest/api/2/search`` (``jira.search.views.default.max``).
Each run also makes its per-run metadata calls: ``/myself`` (time zone) and ``/field``
(field check) on a full sync, none on an incremental run.

Run: ``python benchmarks/jira_bench.py --latency 0.05``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.base import CollectContext, CollectionResult
from collectors.http import ApiClient
from collectors.jira import JiraCollector, JiraSettings

PAGE = {"cloud": 100, "datacenter": 1000}


class CountingCollector(JiraCollector):
    """Keeps each run's ApiClient so its request counts can be read."""

    clients: list[ApiClient]

    def _client(self, deployment: str) -> ApiClient:
        client = super()._client(deployment)
        self.clients = [*getattr(self, "clients", []), client]
        return client

    def requests(self) -> int:
        return sum(c.stats.requests for c in getattr(self, "clients", []))


def start_fake(mode: str, latency: float, vulns: int, incidents: int
               ) -> tuple[subprocess.Popen[str], str]:
    fake = Path(__file__).with_name("jira_fake.py")
    proc = subprocess.Popen(
        [sys.executable, str(fake), "--mode", mode, "--latency", str(latency),
         "--vulns", str(vulns), "--incidents", str(incidents), "--max-seconds", "900"],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    return proc, f"http://127.0.0.1:{port}"


async def one_run(collector: CountingCollector, state: dict[str, Any]
                  ) -> tuple[CollectionResult, int, float]:
    collector.clients = []
    ctx = CollectContext("jira-bench", datetime.now(UTC), state, logging.getLogger("bench"))
    began = time.perf_counter()
    result = await collector.collect(ctx)
    return result, collector.requests(), time.perf_counter() - began


def bench(mode: str, latency: float, vulns: int, incidents: int) -> dict[str, Any]:
    proc, url = start_fake(mode, latency, vulns, incidents)
    try:
        os.environ["JIRA_BENCH_TOKEN"] = "bench-token"
        auth: dict[str, Any] = ({"email": "bench@example.com",
                                 "api_token": {"env": "JIRA_BENCH_TOKEN"}}
                                if mode == "cloud"
                                else {"personal_access_token": {"env": "JIRA_BENCH_TOKEN"}})
        settings = JiraSettings.model_validate({
            "base_url": url, "deployment": mode, **auth,
            "vulnerabilities": {"jql": "project = SEC AND issuetype = Vulnerability"},
            "incidents": {"jql": "project = IR AND issuetype = Incident"},
        })
        collector = CountingCollector("jira-bench", settings)
        full, full_requests, full_time = asyncio.run(one_run(collector, {}))
        httpx.post(f"{url}/_bench/touch", params={"n": 50})
        time.sleep(1)
        inc, inc_requests, inc_time = asyncio.run(one_run(collector, full.state or {}))
        page = PAGE[mode]
        bound = math.ceil(vulns / page) + math.ceil(incidents / page)
        return {
            "mode": mode, "full_requests": full_requests, "search_requests": full_requests - 2,
            "bound": bound, "full_time": full_time, "findings": len(full.findings),
            "incidents": len(full.incidents), "complete": sorted(full.complete),
            "inc_requests": inc_requests, "inc_time": inc_time,
            "inc_findings": len(inc.findings), "inc_incidents": len(inc.incidents),
            "inc_complete": sorted(inc.complete),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--vulns", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=2_000)
    parser.add_argument("--modes", default="cloud,datacenter")
    args = parser.parse_args()
    rows = [bench(mode, args.latency, args.vulns, args.incidents)
            for mode in args.modes.split(",")]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
          f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}),"
          f" latency {args.latency * 1000:.0f} ms per request.\n")
    print("| deployment | full: search requests | lower bound | + metadata | wall time (s) "
          "| findings | incidents | complete | incremental: requests | wall time (s) "
          "| findings | incidents | complete |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['search_requests']} | {r['bound']} | 2 | "
              f"{r['full_time']:.1f} | {r['findings']} | {r['incidents']} | "
              f"{', '.join(r['complete'])} | {r['inc_requests']} | {r['inc_time']:.2f} | "
              f"{r['inc_findings']} | {r['inc_incidents']} | "
              f"{', '.join(r['inc_complete']) or '-'} |")
    print(f"\nPeak RSS of the collector process (all runs): **{peak_mb:.0f} MB**.")


if __name__ == "__main__":
    main()
