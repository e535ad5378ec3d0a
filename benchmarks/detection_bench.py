"""Benchmark the detection domain: 5,000 Elastic rules listed, 100,000 agents derived.

1. The ``elastic`` collector (mode kibana, alerts empty) lists 5,000 detection rules
   from an in-process fake of ``GET /api/detection_engine/rules/_find`` (httpx
   MockTransport; the fake's memory is counted too). Lower bound: ceil(5,000 /
   rules_page_size) listing requests plus one alert search; a full page count needs
   no extra request because the first page's ``total`` ends the listing.
2. 100,000 inventory workloads plus 100,000 agent records (every 10th unhealthy, every
   50th without an agent), stored in SQLite and derived with the rules.

It checks itself before printing: every rule came back, the coverage ratio and the
telemetry ratio equal the values predicted from the generated data, and the request
count equals the bound. Prints requests, wall times and peak RSS.

Run: ``python benchmarks/detection_bench.py``
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.base import CollectContext, CollectionResult
from collectors.elastic import ElasticCollector, ElasticSettings
from collectors.records import RecordKind
from collectors.records_detection import Telemetry, Workload
from exporter.attack import load_matrix
from exporter.derive import DerivationSettings, derive_all
from exporter.derive.detection import FAMILIES
from exporter.quarters import history_start
from exporter.store import Store

RULES = 5000
AGENTS = 100_000
PAGE = 500
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KB = "https://kibana.bench.test"


def make_rules(techniques: list[str]) -> list[dict]:
    """Rule i maps technique i mod len (a sub-technique on odd i); every 7th disabled."""
    rules = []
    for i in range(RULES):
        tid = techniques[i % len(techniques)]
        sub = [{"id": f"{tid}.001", "name": "s", "reference": "r"}] if i % 2 else []
        rules.append({"id": f"rule-{i:05d}", "rule_id": f"r{i}", "name": f"Rule {i}",
                      "enabled": i % 7 != 0, "type": "query" if i % 5 else "threshold",
                      "threat": [{"framework": "MITRE ATT&CK",
                                  "tactic": {"id": "TA0002", "name": "x", "reference": "r"},
                                  "technique": [{"id": tid, "name": "t", "reference": "r",
                                                 "subtechnique": sub}]}]})
    return rules


def main() -> int:
    matrix = load_matrix()
    # Rules over the first 180 techniques only: the rest stay uncovered.
    covered_pool = sorted(matrix.techniques)[:180]
    rules = make_rules(covered_pool)
    enabled_techniques = {r["threat"][0]["technique"][0]["id"] for r in rules if r["enabled"]}
    expected_coverage = len(enabled_techniques) / len(matrix.techniques)
    requests = {"find": 0, "alerts": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/rules/_find"):
            requests["find"] += 1
            page, size = int(request.url.params["page"]), int(request.url.params["per_page"])
            data = rules[(page - 1) * size:page * size]
            return httpx.Response(200, json={"page": page, "perPage": size, "total": RULES,
                                             "data": data})
        requests["alerts"] += 1
        return httpx.Response(200, json={"took": 1, "timed_out": False,
                                         "hits": {"total": {"value": 0, "relation": "eq"},
                                                  "hits": []}})

    import os
    os.environ.setdefault("BENCH_KEY", "YmVuY2g6a2V5")
    settings = ElasticSettings.model_validate({
        "mode": "kibana", "url": KB, "api_key": {"env": "BENCH_KEY"},
        "rules_page_size": PAGE})
    collector = ElasticCollector("elastic-bench", settings,
                                 transport=httpx.MockTransport(handler))
    ctx = CollectContext("elastic-bench", NOW, {}, logging.getLogger("bench"),
                         history_start=history_start(NOW))
    started = time.perf_counter()
    result = asyncio.run(collector.collect(ctx))
    listing_seconds = time.perf_counter() - started
    listed = result.records_of(RecordKind.DETECTION_RULE)

    workloads = []
    expected_healthy = 0
    for i in range(AGENTS):
        host = f"host-{i:06d}"
        workloads.append(Workload(f"{host}.corp.example", "inventory", "vm"))
        if i % 50 == 0:
            continue  # no agent
        healthy = i % 10 != 0
        expected_healthy += healthy
        workloads.append(Workload(host.upper(), "fleet", "host",
                                  Telemetry.HEALTHY if healthy else Telemetry.UNHEALTHY))
    store = Store(":memory:")
    started = time.perf_counter()
    store.apply("bench", CollectionResult(records={
        RecordKind.DETECTION_RULE: listed, RecordKind.WORKLOAD: workloads}), NOW)
    store_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sla = {"critical": 7, "high": 30, "medium": 90, "low": 120}
    derived = derive_all(rows={f.name: store.iter_rows(f.kind, f.columns) for f in FAMILIES},
                         settings=DerivationSettings(sla_days=sla), now=NOW)
    derive_seconds = time.perf_counter() - started
    current = derived.by_quarter[derived.current.label]

    bound = math.ceil(RULES / PAGE) + 1
    checks = {
        "every rule listed": len(listed) == RULES,
        "coverage as predicted": current.get("devsecops_detection_attack_coverage_ratio")
        == expected_coverage,
        "telemetry as predicted": current.get("devsecops_telemetry_coverage_ratio")
        == expected_healthy / AGENTS,
        "requests at the bound": requests["find"] + requests["alerts"] == bound,
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        print("self-check failed:", ", ".join(failed), file=sys.stderr)
        return 1
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rules: {RULES} listed in {requests['find']} _find requests + "
          f"{requests['alerts']} alert search (lower bound {bound}), {listing_seconds:.2f}s")
    print(f"coverage {expected_coverage:.4f} of {len(matrix.techniques)} techniques "
          f"(ATT&CK {matrix.version})")
    print(f"workloads: {len(workloads)} records ({AGENTS} joined), store {store_seconds:.2f}s, "
          f"derive {derive_seconds:.2f}s, telemetry {expected_healthy / AGENTS:.4f}")
    print(f"peak RSS {rss_mib:.0f} MiB (fake included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
