"""Core benchmarks: derivation over 1,000,000 findings, /metrics latency, peak RSS.

    python benchmarks/core_bench.py [--findings 1000000] [--collectors 90] [--scrapes 2000]

Builds a store of N synthetic findings (plus repositories, incidents and alerts) in a
temporary directory, then, each in a fresh process so RSS is measured cleanly:
1. times one full derivation + assessment (``Exporter.rebuild``) and reports peak RSS;
2. serves /metrics on 127.0.0.1 and scrapes it from a separate client process, first
   idle and then while collections (each re-deriving over the whole store) run back to
   back, reporting p50/p99/max latency and the number of series.
Everything is local and bounded; the script stops by itself. Each phase checks that it
measured what it claims (the built findings are stored and published with the open
counts predicted while building) and exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.base import CollectionResult  # noqa: E402
from collectors.records import Finding, FindingState, Severity  # noqa: E402

NOW = datetime.now(UTC)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_store(directory: Path, findings: int, collectors: int) -> Path:
    """A config with `collectors` small file collectors and a store of `findings`."""
    from exporter.store import Store

    data = directory / "data"
    data.mkdir()
    (data / "tiny.yaml").write_text(textwrap.dedent("""
        repositories:
          - {id: r1, name: api, sast_enabled: true, review_gate_tier: 3}
        incidents:
          - {id: i1, started_at: "%s", detected_at: "%s", contained_at: "%s"}
        siem_alerts:
          - {id: a1, created_at: "%s", disposition: actionable, triaged_at: "%s"}
    """) % tuple((NOW - timedelta(days=d)).isoformat() for d in (5, 4.9, 4.5, 3, 2.9)))
    blocks = "\n".join(
        f"  - {{name: c{i}, type: file, interval: 1h, "
        f"config: {{files: [{{path: data/tiny.yaml}}]}}}}"
        for i in range(collectors))
    # The bulk findings belong to a configured (disabled) collector: records of a
    # collector the config does not name are kept but not published, and a benchmark
    # over them would derive an empty store.
    blocks += ("\n  - {name: bulk, type: file, enabled: false, "
               "config: {files: [{path: data/tiny.yaml}]}}")
    config = directory / "config.yaml"
    config.write_text(f"store: {{path: store.db}}\ncollectors:\n{blocks}\n")
    store = Store(directory / "store.db")
    rng = random.Random(1)
    severities = list(Severity)
    batch: list[Finding] = []
    open_by_severity = dict.fromkeys((s.value for s in severities), 0)
    for index in range(findings):
        opened = NOW - timedelta(days=rng.uniform(0, 900))
        roll = rng.random()
        if roll < 0.8:
            resolved = min(opened + timedelta(days=rng.expovariate(1 / 20)), NOW)
            state = FindingState.FIXED
        elif roll < 0.88:
            resolved, state = min(opened + timedelta(days=3), NOW), FindingState.DISMISSED
        else:
            resolved, state = None, FindingState.OPEN
        severity = rng.choice(severities)
        if state is FindingState.OPEN:
            open_by_severity[severity.value] += 1
        batch.append(Finding(id=f"F{index}", source="bulk", severity=severity,
                             opened_at=opened, state=state, resolved_at=resolved))
        if len(batch) == 100_000:
            store.apply("bulk", CollectionResult(findings=batch), NOW)
            batch = []
    if batch:
        store.apply("bulk", CollectionResult(findings=batch), NOW)
    store.close()
    (directory / "expected.json").write_text(json.dumps(
        {"findings": findings, "open_by_severity": open_by_severity}))
    return config


def check_measured(exporter: object, config: Path, when: str) -> None:
    """Fail loudly unless the store holds the bulk findings and the snapshot shows them.

    A benchmark of an empty store is fast and worthless: the stored count must match
    what was built, and the published open findings per severity must equal the
    count predicted while building.
    """
    expected = json.loads((config.parent / "expected.json").read_text())
    counts = exporter.store.record_counts()  # type: ignore[attr-defined]
    stored = sum(n for (name, kind), n in counts.items()
                 if name == "bulk" and kind.value == "finding")
    derived = exporter.snapshot.derived  # type: ignore[attr-defined]
    current = derived.by_quarter[derived.current.label]
    published = {s: current.get("devsecops_vulnerability_open_findings", severity=s)
                 for s in expected["open_by_severity"]}
    if stored != expected["findings"] or published != {
            s: float(n) for s, n in expected["open_by_severity"].items()}:
        raise SystemExit(f"benchmark invalid {when}: {stored} bulk findings stored (built "
                         f"{expected['findings']}), open findings published {published}, "
                         f"expected {expected['open_by_severity']}")


def measure_rebuild(config: Path) -> dict[str, float]:
    """Derivation in this process, so its peak RSS is the derivation's own."""
    from exporter.app import Exporter
    from exporter.config import load_config

    exporter = Exporter(load_config(config))
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        exporter.rebuild()
        timings.append(time.perf_counter() - started)
        check_measured(exporter, config, "after a rebuild")
    series = sum(len(f.samples) for f in exporter.snapshot.families)
    exporter.stop()
    return {"rebuild_seconds_min": min(timings), "rebuild_seconds_max": max(timings),
            "series": series, "peak_rss_mb": peak_rss_mb()}


CLIENT = """
import http.client, json, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
latencies = []
deadline = time.monotonic() + 120
for _ in range(count):
    if time.monotonic() > deadline:
        break
    started = time.perf_counter()
    conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    response.read()
    latencies.append((time.perf_counter() - started) * 1000)
    time.sleep(0.002)
print(json.dumps(latencies))
"""


def scrape(port: int, count: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(count)],
                         capture_output=True, text=True, check=True, timeout=180).stdout
    latencies = sorted(json.loads(out))
    return {"scrapes": len(latencies), "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1], "max_ms": latencies[-1]}


def measure_scrapes(config: Path, count: int) -> dict[str, object]:
    from exporter.app import Exporter
    from exporter.config import load_config
    from exporter.server import ExporterServer

    sys.setswitchinterval(0.001)  # as `devsecops-exporter serve` does
    exporter = Exporter(load_config(config))
    exporter.use_derivation_worker()  # as `devsecops-exporter serve` does
    exporter.collect_once()
    check_measured(exporter, config, "before scraping")
    server = ExporterServer(("127.0.0.1", 0), exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    idle = scrape(port, count)
    stop = threading.Event()
    runs = [0]

    def collect_continuously() -> None:
        while not stop.is_set():
            exporter.run_collector("c0")  # commits, then re-derives over the whole store
            runs[0] += 1

    worker = threading.Thread(target=collect_continuously, daemon=True)
    worker.start()
    busy = scrape(port, count)
    stop.set()
    worker.join(timeout=60)
    check_measured(exporter, config, "after collections under scrapes")
    series = sum(len(f.samples) for f in exporter.snapshot.families)
    server.shutdown()
    exporter.stop()
    return {"series": series, "idle": idle, "during_collection": busy,
            "collections_during_scrapes": runs[0],
            "serving_process_peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument("--collectors", type=int, default=90)
    parser.add_argument("--scrapes", type=int, default=2000)
    parser.add_argument("--phase", choices=["all", "rebuild", "scrape"], default="all")
    parser.add_argument("--config")
    args = parser.parse_args()
    if args.phase == "rebuild":
        print(json.dumps(measure_rebuild(Path(args.config))))
        return
    if args.phase == "scrape":
        print(json.dumps(measure_scrapes(Path(args.config), args.scrapes)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        config = build_store(Path(tmp), args.findings, args.collectors)
        print(f"built store with {args.findings} findings in "
              f"{time.perf_counter() - started:.1f}s "
              f"({os.path.getsize(Path(tmp) / 'store.db') / 2**20:.0f} MiB)")
        for phase in ("rebuild", "scrape"):
            out = subprocess.run([sys.executable, __file__, "--phase", phase, "--config",
                                  str(config), "--scrapes", str(args.scrapes)],
                                 capture_output=True, text=True, check=True, timeout=900)
            print(phase, out.stdout.strip())


if __name__ == "__main__":
    main()
