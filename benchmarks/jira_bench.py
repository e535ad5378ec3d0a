"""Benchmark the ``jira`` collector against ``benchmarks/jira_fake.py``.

For each deployment (Cloud, Data Center) the fake runs in a child process on
127.0.0.1 (its memory is not counted) with 100,000 vulnerability and 2,000 incident
tickets, and this process runs the collector with ``deployment: auto`` (the default)
and measures:

1. a full sync: requests against the lower bound, wall time, records;
2. an incremental run after 50 vulnerability tickets changed: requests per query.

Lower bound, counting every request: for one query of N tickets with pages of P (the
most the endpoint returns) ceil(N / P) search requests, since the last page is
recognised without an extra request on both APIs (Cloud: ``isLast``/no
``nextPageToken``; DC: ``total``). P is 100 on Cloud's ``/rest/api/3/search/jql`` once
fields beyond id/key are asked (5,000 for id/key only, which would need a second round
trip per ticket batch for the fields), and 1,000 on DC's ``/rest/api/2/search``
(``jira.search.views.default.max``). A full sync adds ``/myself`` (time zone) and
``/field`` (field check); the first run with ``deployment: auto`` one anonymous
``/serverInfo``; an incremental run nothing.

It checks itself before printing anything and exits non-zero otherwise: every ticket
the fake holds came back (by id, by kind; the one unknown priority skipped and counted),
the published values derived from the stored records (open findings per severity,
MTTR per severity and quarter, incidents detected and MTTC per quarter, the reopened
gauge) equal the predictions from the fake's tickets, every request (counted on the
client and on the fake) is a line of the bound and equals it, every search asked for
the documented page size, and the probe went out without a credential.

Run: ``python benchmarks/jira_bench.py --latency 0.05``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.base import CollectContext, CollectionResult, ErrorKind  # noqa: E402
from collectors.jira import JiraCollector, JiraSettings  # noqa: E402
from collectors.records import RecordKind  # noqa: E402
from exporter.app import derive_from  # noqa: E402
from exporter.config import SlaConfig  # noqa: E402
from exporter.derive import DerivationSettings, Derived  # noqa: E402
from exporter.quarters import history_start, previous_quarter, quarter_of  # noqa: E402
from exporter.store import Store  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jira_fake import EMAIL, TOKEN, Dataset, family_of  # noqa: E402

PAGE = {"cloud": 100, "datacenter": 1000}  # the documented largest page with fields
SERVER_INFO, MYSELF, FIELD = "serverInfo", "myself", "field"
SEARCH_V, SEARCH_I = "search vulnerabilities", "search incidents"
FAMILIES = (SERVER_INFO, MYSELF, FIELD, SEARCH_V, SEARCH_I)
SEVERITIES = ("critical", "high", "medium", "low")
TOUCHED = 50
DAY, HOUR = 86400.0, 3600.0


def check(condition: bool, what: str) -> None:
    """A benchmark that did not measure what it claims must not print a number."""
    if not condition:
        raise SystemExit(f"jira benchmark self-check failed: {what}")


def pages(count: int, page: int) -> int:
    return max(1, math.ceil(count / page))


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts every request by family and records each search's page size.

    Shared by every client of a run (the deployment probe's too): closing a client
    closes the pool's connections, and the next client opens new ones.
    """

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.counts: Counter[str] = Counter()
        self.page_sizes: Counter[tuple[str, int]] = Counter()
        self.probe_credentials: list[bool] = []

    def take(self) -> tuple[dict[str, int], dict[tuple[str, int], int], list[bool]]:
        taken = dict(self.counts), dict(self.page_sizes), list(self.probe_credentials)
        self.counts.clear()
        self.page_sizes.clear()
        self.probe_credentials.clear()
        return taken

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        params: dict[str, Any] = dict(request.url.params)
        if request.method == "POST" and request.content:
            params.update(json.loads(request.content))
        family = family_of(request.url.path, str(params.get("jql", "")))
        self.counts[family] += 1
        if family in (SEARCH_V, SEARCH_I):
            self.page_sizes[(family, int(params.get("maxResults", 50)))] += 1
        if family == SERVER_INFO:
            self.probe_credentials.append("authorization" in request.headers)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Run:
    label: str
    result: CollectionResult
    seconds: float
    families: dict[str, int]
    page_sizes: dict[tuple[str, int], int]
    probe_credentials: list[bool]
    served: dict[str, int]
    cpu: float  # this process's CPU seconds during the run
    fake_cpu: float  # the fake's
    bound: dict[str, int] = field(default_factory=dict)


def digest(ids: Iterable[str]) -> tuple[int, int]:
    """(count, order-free checksum) of record ids, without keeping a second id set."""
    count = total = 0
    for record_id in ids:
        count += 1
        total = (total + zlib.crc32(record_id.encode())) % (1 << 64)
    return count, total


@dataclass
class Prediction:
    """What the published values must be, from the fake's description of its tickets."""

    findings: tuple[int, int]
    incidents: tuple[int, int]
    unmapped: int
    reopened: int
    open: dict[str, dict[str, float]]  # quarter -> severity -> open findings at T
    mttr: dict[str, dict[str, float]]  # quarter -> severity -> days
    detected: dict[str, float]
    mttc: dict[str, float]  # hours


def predict(data: Dataset, now: datetime) -> Prediction:
    """DESIGN's definitions applied to the tickets' truth (not to the collector's output).

    Open at T: opened by T and not resolved by T, where T is now for the current quarter
    and the quarter's end for the previous one. MTTR: over findings fixed in the quarter.
    MTTC: contained (here: resolved, the documented fallback) in the quarter.
    """
    current = quarter_of(now)
    quarters = (previous_quarter(current), current)
    evals = (min(now, quarters[0].end), now)
    open_counts = {q.label: dict.fromkeys(SEVERITIES, 0.0) for q in quarters}
    fixes: dict[str, dict[str, list[float]]] = {q.label: defaultdict(list) for q in quarters}
    unmapped = reopened = 0
    for t in data.tickets("vuln"):
        if t.severity is None:
            unmapped += 1
            continue
        reopened += t.case == "reopened_cleared"
        for quarter, at in zip(quarters, evals, strict=True):
            if t.created <= at and (t.resolved_at is None or t.resolved_at > at):
                open_counts[quarter.label][t.severity] += 1
            if (t.state == "fixed" and t.resolved_at is not None
                    and quarter.start <= t.resolved_at < quarter.end):
                fixes[quarter.label][t.severity].append(
                    (t.resolved_at - t.created).total_seconds() / DAY)
    detected: dict[str, float] = {}
    contained: dict[str, list[float]] = defaultdict(list)
    for t in data.tickets("incident"):
        for quarter in quarters:
            if quarter.start <= t.created < quarter.end:
                detected[quarter.label] = detected.get(quarter.label, 0.0) + 1
            if t.resolved_at is not None and quarter.start <= t.resolved_at < quarter.end:
                contained[quarter.label].append(
                    (t.resolved_at - t.created).total_seconds() / HOUR)
    return Prediction(
        findings=digest(t.record_id for t in data.tickets("vuln") if t.severity is not None),
        incidents=digest(t.record_id for t in data.tickets("incident")),
        unmapped=unmapped, reopened=reopened, open=open_counts,
        mttr={q: {s: sum(v) / len(v) for s, v in by.items()} for q, by in fixes.items()},
        detected=detected,
        mttc={q: sum(v) / len(v) for q, v in contained.items()})


def published(store: Store, now: datetime) -> Derived:
    """The values the exporter would publish from what the runs stored."""
    settings = DerivationSettings(
        sla_days={s.value: d for s, d in SlaConfig().days.items()})
    return derive_from(store, settings, now, {})


def close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def verify_published(derived: Derived, p: Prediction, mode: str) -> int:
    """Compare every predicted value with the derived one; return how many were checked."""
    checked = 0
    for quarter in (derived.previous, derived.current):
        values = derived.by_quarter[quarter.label]
        for severity in SEVERITIES:
            got = values.get("devsecops_vulnerability_open_findings", severity=severity)
            want = p.open[quarter.label][severity]
            check(got == want, f"{mode}: {quarter.label} open {severity} findings published "
                  f"{got}, predicted {want}")
            got = values.get("vulnerability_mttr_days", severity=severity)
            want_mttr = p.mttr[quarter.label].get(severity)
            check((got is None and want_mttr is None) or close(got, want_mttr),
                  f"{mode}: {quarter.label} MTTR {severity} published {got}, "
                  f"predicted {want_mttr}")
            checked += 2
        got = values.get("devsecops_incidents_detected")
        check(got == p.detected.get(quarter.label),
              f"{mode}: {quarter.label} incidents detected {got}, predicted "
              f"{p.detected.get(quarter.label)}")
        got = values.get("security_incident_mttc_hours")
        want_mttc = p.mttc.get(quarter.label)
        check((got is None and want_mttc is None) or close(got, want_mttc),
              f"{mode}: {quarter.label} MTTC {got} h, predicted {want_mttc}")
        checked += 2
    mttr_values = sum(len(v) for v in p.mttr.values())
    check(mttr_values >= 4, f"{mode}: only {mttr_values} MTTR values predicted: the fake's "
          "tickets do not reach the published quarters")
    return checked


def verify_full(run: Run, p: Prediction, mode: str) -> None:
    r = run.result
    check(digest(f.id for f in r.findings) == p.findings,
          f"{mode} full: findings {len(r.findings)} (count, checksum "
          f"{digest(f.id for f in r.findings)}) != the fake's {p.findings}")
    check(digest(i.id for i in r.incidents) == p.incidents,
          f"{mode} full: incidents {len(r.incidents)} != the fake's {p.incidents[0]}")
    errors = {k: v for k, v in r.record_errors.items() if v}
    check(errors == ({ErrorKind.UNMAPPED_VALUE: p.unmapped} if p.unmapped else {}),
          f"{mode} full: record errors {errors}, expected {p.unmapped} unmapped_value")
    check(r.complete == frozenset({RecordKind.FINDING, RecordKind.INCIDENT}),
          f"{mode} full: complete {sorted(r.complete)}")
    gauges = {dict(g.labels).get("query"): g.value for g in r.gauges
              if g.name == "devsecops_jira_reopened_tickets"}
    check(gauges == {"vulnerabilities": p.reopened, "incidents": 0.0},
          f"{mode} full: reopened gauge {gauges}, predicted {p.reopened} vulnerabilities")
    check(run.probe_credentials == [False],
          f"{mode} full: serverInfo probes carrying a credential: {run.probe_credentials}")


def verify_incremental(run: Run, data: Dataset, mode: str) -> None:
    r = run.result
    want = {data.ticket("vuln", i).record_id for i in range(TOUCHED)
            if data.ticket("vuln", i).severity is not None}
    got = {f.id for f in r.findings}
    check(got == want, f"{mode} incremental: {len(got)} findings, {len(got ^ want)} differ "
          f"from the {len(want)} touched tickets")
    check(r.incidents == [], f"{mode} incremental: {len(r.incidents)} incidents, none changed")
    check(r.complete == frozenset(), f"{mode} incremental: complete {sorted(r.complete)}")


def verify_requests(run: Run, page: int, mode: str) -> None:
    label = f"{mode} {run.label}"
    unexpected = sorted(f for f in run.families if f not in FAMILIES)
    check(not unexpected, f"{label}: requests outside the bound: {unexpected}")
    measured = {f: run.families.get(f, 0) for f in FAMILIES}
    check(measured == run.bound, f"{label}: requests {measured}, bound {run.bound}")
    check(run.served == {f: n for f, n in run.families.items() if n},
          f"{label}: the fake served {run.served}, the client counted {run.families}")
    sizes = sorted({size for (_, size) in run.page_sizes})
    check(sizes == [page], f"{label}: search page sizes {sizes}, documented {page}")


async def one_run(collector: JiraCollector, counter: CountingTransport, url: str,
                  state: dict[str, Any], now: datetime, label: str) -> Run:
    ctx = CollectContext("jira-bench", now, state, logging.getLogger("bench"),
                         history_start=history_start(now))
    served_before = httpx.get(f"{url}/_bench/stats").json()
    began, cpu = time.perf_counter(), time.process_time()
    result = await collector.collect(ctx)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    served_after = httpx.get(f"{url}/_bench/stats").json()
    fake_cpu = served_after.pop("cpu_seconds") - served_before.pop("cpu_seconds")
    served = {k: v - served_before.get(k, 0) for k, v in served_after.items()
              if v - served_before.get(k, 0)}
    families, sizes, probes = counter.take()
    return Run(label, result, seconds, families, sizes, probes, served, cpu, fake_cpu)


def run_loop(coro: Coroutine[Any, Any, Run]) -> Run:
    """``asyncio.run`` on a fresh loop (as the exporter runs a collection), with the run
    handed out through a holder: on Python 3.11 ``asyncio.run`` builds the ``repr`` of a
    large return value while restoring the SIGINT handler, which would inflate the
    peak RSS measured here (the exporter's ``_run_collect`` does the same)."""
    holder: list[Run] = []

    async def main() -> None:
        holder.append(await coro)

    asyncio.run(main())
    return holder[0]


def start_fake(mode: str, latency: float, vulns: int, incidents: int, anchor: datetime
               ) -> tuple[subprocess.Popen[str], str]:
    fake = Path(__file__).with_name("jira_fake.py")
    proc = subprocess.Popen(
        [sys.executable, str(fake), "--mode", mode, "--latency", str(latency),
         "--vulns", str(vulns), "--incidents", str(incidents), "--anchor", anchor.isoformat(),
         "--max-seconds", "1200"],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    if not port.isdigit():
        proc.terminate()
        raise SystemExit(f"fake Jira did not start: {port!r}")
    return proc, f"http://127.0.0.1:{port}"


def bench(mode: str, latency: float, vulns: int, incidents: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    data = Dataset(vulns, incidents, now)
    prediction = predict(data, now)
    page = PAGE[mode]
    proc, url = start_fake(mode, latency, vulns, incidents, now)
    counter = CountingTransport()
    try:
        os.environ["JIRA_BENCH_TOKEN"] = TOKEN
        auth: dict[str, Any] = ({"email": EMAIL, "api_token": {"env": "JIRA_BENCH_TOKEN"}}
                                if mode == "cloud"
                                else {"personal_access_token": {"env": "JIRA_BENCH_TOKEN"}})
        settings = JiraSettings.model_validate({
            "base_url": url, "deployment": "auto", **auth,
            "vulnerabilities": {"jql": "project = SEC AND issuetype = Vulnerability"},
            "incidents": {"jql": "project = IR AND issuetype = Incident"},
        })
        collector = JiraCollector("jira-bench", settings, transport=counter)
        full = run_loop(one_run(collector, counter, url, {}, now, "full sync"))
        full.bound = {SERVER_INFO: 1, MYSELF: 1, FIELD: 1, SEARCH_V: pages(vulns, page),
                      SEARCH_I: pages(incidents, page)}
        rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        httpx.post(f"{url}/_bench/touch", params={"n": TOUCHED})
        later = datetime.now(UTC)
        inc = run_loop(one_run(collector, counter, url, full.result.state or {}, later,
                               "incremental"))
        inc.bound = {SERVER_INFO: 0, MYSELF: 0, FIELD: 0, SEARCH_V: 1, SEARCH_I: 1}
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        asyncio.run(counter.inner.aclose())

    # Checks, after the RSS readings so they do not count in them.
    verify_full(full, prediction, mode)
    verify_incremental(inc, data, mode)
    for run in (full, inc):
        verify_requests(run, page, mode)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store.db")
        store.apply("jira-bench", full.result, now)
        store.apply("jira-bench", inc.result, later)
        checked = verify_published(published(store, now), prediction, mode)
        store.close()
    return {"mode": mode, "page": page, "full": full, "inc": inc, "rss_full": rss_full,
            "rss_peak": rss_peak, "checked": checked, "prediction": prediction,
            "now": now}


def summary(r: dict[str, Any]) -> dict[str, Any]:
    """One deployment's numbers, as JSON for the parent process."""
    full, inc, pr = r["full"], r["inc"], r["prediction"]
    quarter = quarter_of(r["now"]).label
    return {
        "mode": r["mode"], "page": r["page"], "checked": r["checked"],
        "rss_full": r["rss_full"], "rss_peak": r["rss_peak"], "quarter": quarter,
        "findings": pr.findings[0], "incidents": pr.incidents[0], "unmapped": pr.unmapped,
        "reopened": pr.reopened,
        "open": {s: int(v) for s, v in pr.open[quarter].items()},
        "mttr": {s: round(v, 2) for s, v in sorted(pr.mttr[quarter].items())},
        "runs": [{"label": run.label, "requests": sum(run.families.values()),
                  "bound": sum(run.bound.values()), "families": run.families,
                  "seconds": run.seconds, "cpu": run.cpu, "fake_cpu": run.fake_cpu,
                  "findings": len(run.result.findings),
                  "incidents": len(run.result.incidents),
                  "complete": sorted(run.result.complete)} for run in (full, inc)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--vulns", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=2_000)
    parser.add_argument("--modes", default="cloud,datacenter")
    parser.add_argument("--one", choices=tuple(PAGE), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  (collector log) %(message)s")
    if args.one:  # a child: one deployment, its own peak RSS; JSON on the last line
        print(json.dumps(summary(bench(args.one, args.latency, args.vulns, args.incidents))))
        return
    rows = []
    for mode in args.modes.split(","):
        child = subprocess.run(
            [sys.executable, __file__, "--one", mode, "--latency", str(args.latency),
             "--vulns", str(args.vulns), "--incidents", str(args.incidents)],
            stdout=subprocess.PIPE, text=True, check=False)
        if child.returncode != 0:
            raise SystemExit(f"jira benchmark ({mode}) failed with exit code "
                             f"{child.returncode}; nothing printed")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    first = rows[0]
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
          f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}),"
          f" latency {args.latency * 1000:.0f} ms per request, {args.vulns:,} vulnerability "
          f"and {args.incidents:,} incident tickets.\n")
    print(f"Checked before printing: {first['findings']:,} findings and "
          f"{first['incidents']:,} incidents returned, by id ({first['unmapped']} tickets "
          f"with an unknown priority skipped as unmapped_value), reopened gauge "
          f"{first['reopened']}; "
          + ", ".join(f"{r['checked']} published values ({r['mode']})" for r in rows)
          + " equal to the prediction; every request counted on both sides and equal to "
          "its bound; every search at the documented page size; probe anonymous.\n")
    print("| deployment | full: requests | bound | search pages (vulns + incidents) | "
          "serverInfo + myself + field | wall time (s) | CPU s (collector / fake) | findings | "
          "incidents | complete | "
          "incremental: requests | bound | wall time (s) | findings | incidents | complete "
          "| peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        full, inc = r["runs"]
        fam = full["families"]
        print(f"| {r['mode']} | {full['requests']:,} | {full['bound']:,} | "
              f"{fam.get(SEARCH_V, 0):,} + {fam.get(SEARCH_I, 0):,} | "
              f"{fam.get(SERVER_INFO, 0)} + {fam.get(MYSELF, 0)} + {fam.get(FIELD, 0)} | "
              f"{full['seconds']:.1f} | {full['cpu']:.1f} / {full['fake_cpu']:.1f} | "
              f"{full['findings']:,} | {full['incidents']:,} | "
              f"{', '.join(full['complete'])} | {inc['requests']} | {inc['bound']} | "
              f"{inc['seconds']:.2f} | {inc['findings']} | {inc['incidents']} | "
              f"{', '.join(inc['complete']) or '-'} | {r['rss_peak']:.0f} |")
    print(f"\nPublished for {first['quarter']} (derived from the stored records, equal to "
          f"the prediction): open findings {first['open']}, MTTR days {first['mttr']}.")
    print("Peak RSS: each deployment in its own process, read after its collector runs and "
          "before the checks.")


if __name__ == "__main__":
    main()
