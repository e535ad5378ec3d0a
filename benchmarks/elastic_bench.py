"""Benchmark the ``elastic`` collector: one quarter of 200,000 alerts from one source.

Starts ``benchmarks/elastic_fake.py`` in a child process on 127.0.0.1 (so the fake's
memory is not counted), then measures in this process, with the default window (no
``lookback``: the previous quarter's start less 14 days, ``ctx.window_start``), all runs
in one event loop as in the exporter:

1. a full pass in ``elasticsearch`` mode (PIT + search_after) at 2026-10-01T00:00Z,
   while the fake closes 1,000 open alerts after the second page (the point in time
   must hide that change): requests against the pagination lower bound, wall time,
   peak RSS;
2. an incremental run an hour later, after the fake closed 2,000 more open alerts and
   created 1,000 new ones: it must fetch exactly what changed since the last success,
   the change made during the full pass included;
3. a full pass in ``kibana`` mode (time slices), for comparison.

Pagination lower bound, counting every request: reading N hits with pages of P needs
ceil(N / P) search requests, plus one more when P divides N (only an empty or short
page proves the end; ``search_after`` has no "last page" flag); the point in time adds
one open and one close request. The Kibana route has no paging: ceil(N / P) is its
floor, not its target.

It checks itself before printing anything and exits non-zero otherwise: every alert
the fake holds in the window came back (count and id checksum; the ones with an
unknown closing reason skipped and counted as ``unmapped_value``; the older alerts
outside the window not fetched), the published values derived from the stored records
(signal ratio, untriaged and triaged alerts per disposition, mean investigation time,
per quarter) equal the prediction from the fake's generated alerts, before and after
the changes, and every request (counted on the client and on the fake) is a line of
the bound, at the configured page size, with every point in time closed.

Run: ``python benchmarks/elastic_bench.py [--alerts 200000] [--page-size 10000]``
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
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.base import CollectContext, CollectionResult, ErrorKind  # noqa: E402
from collectors.elastic import ElasticCollector, ElasticSettings  # noqa: E402
from collectors.records import RecordKind  # noqa: E402
from exporter.app import derive_from  # noqa: E402
from exporter.config import SlaConfig  # noqa: E402
from exporter.derive import DerivationSettings, Derived  # noqa: E402
from exporter.quarters import history_start, previous_quarter, quarter_of  # noqa: E402
from exporter.store import Store  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from elastic_fake import RULES, Alert, _iso, generate, running, uuid_of  # noqa: E402

NOW = datetime(2026, 10, 1, tzinfo=UTC)  # the fake's quarter (2026-Q3) just ended
LATER = NOW + timedelta(hours=1)
DURING_AT = NOW + timedelta(minutes=10)  # the change made while the full pass pages
CHANGED_AT = NOW + timedelta(minutes=30)
# docs/collectors/elastic.md, "Default mappings": what the published ratio must use.
REASON_MAP = {
    "issue_resolved": "actionable", "true_positive": "actionable",
    "false_positive": "false_positive", "duplicate": "benign",
    "expected_activity": "benign", "acceptable_risk": "benign",
    "benign_positive": "benign", "other": "undetermined",
}
TRIAGED = ("actionable", "false_positive", "benign", "undetermined")
# Detection rules (ATT&CK coverage), listed through Kibana's rules/_find when the
# collector has a Kibana URL: in this benchmark only in mode kibana.
RULE_KIND = getattr(RecordKind, "DETECTION_RULE", None)


def check(condition: bool, what: str) -> None:
    """A benchmark that did not measure what it claims must not print a number."""
    if not condition:
        raise SystemExit(f"elastic benchmark self-check failed: {what}")


def lower_bound(n: int, page: int) -> int:
    return math.ceil(n / page) + (1 if n % page == 0 else 0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def digest(ids: Iterable[str]) -> tuple[int, int]:
    """(count, order-free checksum) of alert ids, without keeping a second id set."""
    count = total = 0
    for alert_id in ids:
        count += 1
        total = (total + zlib.crc32(alert_id.encode())) % (1 << 64)
    return count, total


def disposition(status: str, reason: str | None) -> str | None:
    """The documented mapping; None for a closing reason it does not know (skipped)."""
    if status != "closed":
        return "untriaged"  # open, acknowledged / in-progress (acknowledged_disposition)
    if reason is None:
        return "undetermined"  # closed_without_reason
    return REASON_MAP.get(reason)


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class QuarterValues:
    """What the exporter must publish for one quarter from alerts created in it."""

    counts: Counter[str] = field(default_factory=Counter)
    investigate: list[float] = field(default_factory=lambda: [0.0, 0.0])  # sum, count

    def published(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        if not self.counts:
            return {}
        triaged = sum(self.counts[d] for d in TRIAGED)
        out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {
            "devsecops_siem_alerts_untriaged": {(): float(self.counts["untriaged"])},
            "devsecops_siem_alerts_triaged": {(("disposition", d),): float(self.counts[d])
                                              for d in TRIAGED},
        }
        if triaged:
            out["alert_signal_ratio"] = {(): self.counts["actionable"] / triaged}
        if self.investigate[1]:
            out["devsecops_siem_alert_investigation_mean_seconds"] = {
                (): self.investigate[0] / self.investigate[1]}
        return out


@dataclass
class Expected:
    """The alerts in the window, seen by a pass, as the fake generated them."""

    hits: int = 0  # documents the pass reads, unmapped ones included
    records: tuple[int, int] = (0, 0)
    unmapped: int = 0
    quarters: dict[str, QuarterValues] = field(default_factory=dict)


@dataclass
class Prediction:
    window_start: datetime
    before: Expected  # what the full pass's point in time sees
    after: Expected  # after both changes (and the new alerts)
    changed: tuple[int, int]  # the incremental run's alerts: closed ones + new ones
    changed_hits: tuple[int, int]  # hits of its two passes: created since, status since
    older_outside: int  # generated, but before the window: must not be fetched


def _state(alerts: Iterable[Alert], window: str, closes: dict[int, str],
           new: Iterable[tuple[int, str]], quarters: tuple[Any, Any]) -> Expected:
    """Aggregate the alerts as a pass would see them, with ``closes`` applied."""
    out = Expected(quarters={q.label: QuarterValues() for q in quarters})
    bounds = [(q.label, q.start.timestamp(), q.end.timestamp()) for q in quarters]
    checksum = [0, 0]  # digest() kept incrementally: no list of 200,000 ids

    def add(position: int, created: str, status: str, reason: str | None,
            updated: str | None) -> None:
        if created < window:
            return
        out.hits += 1
        verdict = disposition(status, reason)
        if verdict is None:
            out.unmapped += 1
            return
        checksum[0] += 1
        checksum[1] = (checksum[1] + zlib.crc32(uuid_of(position).encode())) % (1 << 64)
        at = _ts(created)
        for label, start, end in bounds:
            if start <= at < end:
                values = out.quarters[label]
                values.counts[verdict] += 1
                if verdict != "untriaged" and updated is not None:
                    values.investigate[0] += _ts(updated) - at
                    values.investigate[1] += 1

    for a in alerts:
        if a.position in closes:
            add(a.position, a.created, "closed", "issue_resolved", closes[a.position])
        else:
            add(a.position, a.created, a.status, a.reason, a.updated)
    for position, created in new:
        add(position, created, "open", None, None)
    out.records = (checksum[0], checksum[1])
    return out


def predict(alerts: int, older: int, during: int, changed: int, new: int) -> Prediction:
    """From the fake's generator (same seed), in one pass each, without keeping alerts."""
    current = quarter_of(NOW)
    quarters = (previous_quarter(current), current)
    start = history_start(NOW)
    window = _iso(start)
    open_alerts = [(a.position, a.created) for a in generate(alerts, older)
                   if a.status == "open"]
    check(len(open_alerts) >= during + changed,
          f"the fake has {len(open_alerts)} open alerts, fewer than the "
          f"{during + changed} the scenario closes")
    closing = [(p, created, _iso(DURING_AT)) for p, created in open_alerts[:during]]
    closing += [(p, created, _iso(CHANGED_AT))
                for p, created in open_alerts[during:during + changed]]
    closes = {p: at for p, _, at in closing}
    total = alerts + older
    new_alerts = [(total + i, _iso(CHANGED_AT)) for i in range(new)]
    before = _state(generate(alerts, older), window, {}, [], quarters)
    after = _state(generate(alerts, older), window, closes, new_alerts, quarters)
    # The incremental run reads alerts whose status changed since the watermark (in the
    # window) and alerts created since; the fake closes with issue_resolved, a known
    # reason, so none of them is skipped.
    closed_in_window = [p for p, created, _ in closing if created >= window]
    changed_ids = [uuid_of(p) for p in closed_in_window] + [uuid_of(p) for p, _ in new_alerts]
    outside = sum(1 for a in generate(alerts, older) if a.created < window)
    return Prediction(start, before, after, digest(changed_ids),
                      (new, len(closed_in_window)), outside)


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts every request by family and records each search's page size."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.counts: Counter[str] = Counter()
        self.sizes: Counter[int] = Counter()
        self.rule_pages: list[int] = []  # per_page of each rule listing request

    def take(self) -> tuple[dict[str, int], dict[int, int], list[int]]:
        taken = dict(self.counts), dict(self.sizes), list(self.rule_pages)
        self.counts.clear()
        self.sizes.clear()
        self.rule_pages.clear()
        return taken

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "DELETE" and path == "/_pit":
            family = "close_pit"
        elif request.method == "POST" and path.endswith("/_pit"):
            family = "open_pit"
        elif request.method == "POST" and path == "/_search":
            family = "search"
        elif request.method == "POST" and path.endswith("/api/detection_engine/signals/search"):
            family = "kibana_search"
        elif request.method == "GET" and path.endswith("/api/detection_engine/rules/_find"):
            family = "rules_find"
            self.rule_pages.append(int(request.url.params.get("per_page", 20)))
        else:
            family = f"unexpected {request.method} {path}"
        self.counts[family] += 1
        if family in ("search", "kibana_search"):
            self.sizes[int(json.loads(request.content).get("size", -1))] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Run:
    label: str
    seconds: float
    cpu: float  # this process's CPU seconds during the run
    fake_cpu: float  # the fake's
    families: dict[str, int]
    sizes: dict[int, int]
    served: dict[str, int]
    stats: dict[str, Any]
    records: tuple[int, int]
    unmapped: int
    complete: frozenset[RecordKind]
    rss_mb: float
    rules: int  # detection rule records (listed in mode kibana)
    rule_pages: list[int]  # per_page of each rule listing request
    bound: int = 0


async def fake_stats(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{base}/_bench/stats")).json()


async def timed_run(label: str, collector: ElasticCollector, counter: CountingTransport,
                    base: str, ctx: CollectContext, store: Store) -> tuple[Run, dict]:
    """One run; its result goes into ``store`` (as the core does) and is dropped."""
    stats_before = await fake_stats(base)
    before = stats_before["requests"]
    start, cpu = time.perf_counter(), time.process_time()
    result: CollectionResult | None = await collector.collect(ctx)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = peak_rss_mb()
    stats = await fake_stats(base)
    fake_cpu = stats["cpu_seconds"] - stats_before["cpu_seconds"]
    served = {k: v - before.get(k, 0) for k, v in stats["requests"].items()
              if v - before.get(k, 0)}
    families, sizes, rule_pages = counter.take()
    assert result is not None
    rules = len(result.records_of(RULE_KIND)) if RULE_KIND is not None else 0
    errors = {k: v for k, v in result.record_errors.items() if v}
    check(set(errors) <= {ErrorKind.UNMAPPED_VALUE}, f"{label}: record errors {errors}")
    run = Run(label, seconds, cpu, fake_cpu, families, sizes, served, stats,
              digest(a.id for a in result.siem_alerts),
              errors.get(ErrorKind.UNMAPPED_VALUE, 0), result.complete, rss, rules,
              rule_pages)
    state = result.state or {}
    store.apply("elastic-bench", result, ctx.now)
    del result
    return run, state


def published(store: Store, now: datetime) -> Derived:
    settings = DerivationSettings(sla_days={s.value: d for s, d in SlaConfig().days.items()})
    return derive_from(store, settings, now, {})


def verify_published(derived: Derived, expected: Expected, what: str) -> int:
    """Every predicted alert metric equals the derived one; returns how many."""
    names = ("devsecops_siem_alerts_untriaged", "devsecops_siem_alerts_triaged",
             "alert_signal_ratio", "devsecops_siem_alert_investigation_mean_seconds")
    checked = 0
    for quarter in (derived.previous, derived.current):
        want = expected.quarters[quarter.label].published()
        values = derived.by_quarter[quarter.label]
        for name in names:
            got = values.series(name)
            wanted = want.get(name, {})
            same = set(got) == set(wanted) and all(
                math.isclose(got[k], wanted[k], rel_tol=1e-9, abs_tol=1e-9) for k in got)
            check(same, f"{what}: {quarter.label} {name} published {got}, predicted {wanted}")
            checked += len(wanted)
    signal = expected.quarters[derived.previous.label].published().get("alert_signal_ratio")
    check(bool(signal), f"{what}: no signal ratio predicted for {derived.previous.label}")
    return checked


def verify_run(run: Run, records: tuple[int, int], unmapped: int, page: int,
               bound: dict[str, int] | None) -> None:
    label = run.label
    check(run.records == records, f"{label}: {run.records[0]} alerts (checksum "
          f"{run.records[1]}), the fake holds {records[0]} (checksum {records[1]})")
    check(run.unmapped == unmapped, f"{label}: {run.unmapped} unmapped, predicted {unmapped}")
    check(run.served == {k: v for k, v in run.families.items() if v},
          f"{label}: the fake served {run.served}, the client counted {run.families}")
    check(set(run.sizes) == {page}, f"{label}: search page sizes {sorted(run.sizes)}, "
          f"configured {page}")
    check(run.stats["open_pits"] == 0, f"{label}: {run.stats['open_pits']} PITs left open")
    if bound is not None:
        unexpected = sorted(set(run.families) - set(bound))
        check(not unexpected, f"{label}: requests outside the bound: {unexpected}")
        measured = {k: run.families.get(k, 0) for k in bound}
        check(measured == bound, f"{label}: requests {measured}, bound {bound}")
        run.bound = sum(bound.values())


async def phases(base: str, args: argparse.Namespace, p: Prediction) -> dict[str, Any]:
    """All runs in one event loop, as in the exporter (one long-lived loop)."""
    os.environ.setdefault("ELASTIC_BENCH_KEY", "YmVuY2g6YmVuY2g=")
    common = {"api_key": {"env": "ELASTIC_BENCH_KEY"}, "page_size": args.page_size,
              "http": {"timeout": "120s"}}
    logger = logging.getLogger("bench")
    page = args.page_size
    counter = CountingTransport()
    rss_before = peak_rss_mb()
    tmp = tempfile.TemporaryDirectory()
    es_store = Store(Path(tmp.name) / "es.db")
    kb_store = Store(Path(tmp.name) / "kibana.db")

    def ctx(now: datetime, state: dict[str, Any]) -> CollectContext:
        return CollectContext("elastic-bench", now, state, logger,
                              history_start=history_start(now))

    es = ElasticCollector("elastic-bench", ElasticSettings.model_validate(
        {"url": base, **common}), transport=counter)
    full_pages = lower_bound(p.before.hits, page)
    async with httpx.AsyncClient() as http:  # the change while the full pass pages
        await http.post(f"{base}/_bench/mutate", json={
            "at": _iso(DURING_AT), "changed": args.during, "new": 0,
            "after_pages": min(2, full_pages - 1) or 1})
    full, state = await timed_run("full pass (elasticsearch)", es, counter, base,
                                  ctx(NOW, {}), es_store)
    check(full.stats["mutations"] == 1 and full.stats["pending"] == 0,
          "full pass: the change meant to happen while paging did not happen during it "
          f"({full.stats['mutations']} applied, {full.stats['pending']} pending)")
    verify_run(full, p.before.records, p.before.unmapped, page,
               {"open_pit": 1, "search": full_pages, "close_pit": 1})
    check(full.complete == frozenset({RecordKind.SIEM_ALERT}), "full pass: not complete")
    checked = verify_published(published(es_store, NOW), p.before, "after the full pass")

    async with httpx.AsyncClient() as http:
        await http.post(f"{base}/_bench/mutate", json={
            "at": _iso(CHANGED_AT), "changed": args.changed, "new": args.new})
    incr, _ = await timed_run("incremental (elasticsearch)", es, counter, base,
                              ctx(LATER, state), es_store)
    created_hits, status_hits = p.changed_hits
    verify_run(incr, p.changed, 0, page, {
        "open_pit": 1, "close_pit": 1,
        "search": lower_bound(created_hits, page) + lower_bound(status_hits, page)})
    check(incr.complete == frozenset(), "incremental: marked complete")
    checked += verify_published(published(es_store, LATER), p.after,
                                "after the incremental run")

    kb = ElasticCollector("elastic-bench", ElasticSettings.model_validate(
        {"url": base, "mode": "kibana", **common}), transport=counter)
    kib, _ = await timed_run("full pass (kibana)", kb, counter, base, ctx(LATER, {}),
                             kb_store)
    verify_run(kib, p.after.records, p.after.unmapped, page, None)
    check(set(kib.families) <= {"kibana_search", "rules_find"},
          f"kibana: requests {kib.families}")
    kib.bound = math.ceil(p.after.hits / page)
    check(kib.families["kibana_search"] >= kib.bound, "kibana: fewer requests than the floor")
    if kib.families.get("rules_find"):  # the rule listing, pages of per_page
        per_page = set(kib.rule_pages)
        check(len(per_page) == 1, f"kibana: rule listing page sizes {sorted(per_page)}")
        listing = math.ceil(len(RULES) / per_page.pop())
        check(kib.families["rules_find"] == listing,
              f"kibana: {kib.families['rules_find']} rule listing requests, bound {listing}")
        check(kib.rules == len(RULES) and RULE_KIND in kib.complete,
              f"kibana: {kib.rules} detection rules, the fake lists {len(RULES)}")
        kib.bound += listing
    for run in (full, incr):
        check(run.rules == 0, f"{run.label}: {run.rules} detection rules without a Kibana URL")
    checked += verify_published(published(kb_store, LATER), p.after, "after the kibana pass")
    es_store.close()
    kb_store.close()
    tmp.cleanup()
    await counter.inner.aclose()
    return {"runs": [full, incr, kib], "rss_before": rss_before, "checked": checked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--older", type=int, default=None,
                        help="alerts created before the quarter (default: 2 %% of --alerts)")
    parser.add_argument("--page-size", type=int, default=5_000)
    parser.add_argument("--during", type=int, default=1_000,
                        help="open alerts closed while the full pass pages")
    parser.add_argument("--changed", type=int, default=2_000)
    parser.add_argument("--new", type=int, default=1_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  (collector log) %(message)s")
    older = args.older if args.older is not None else args.alerts // 50
    prediction = predict(args.alerts, older, args.during, args.changed, args.new)

    with running(args.alerts, older) as base:
        report = asyncio.run(phases(base, args, prediction))
    full, incr, kib = report["runs"]
    p = prediction
    q3 = quarter_of(NOW - timedelta(days=1)).label
    values = p.before.quarters[q3].published()
    after = p.after.quarters[q3].published()
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
          f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()});"
          f" {args.alerts:,} alerts in {q3} and {older:,} older ones, page size "
          f"{args.page_size}, window from {p.window_start:%Y-%m-%d} (ctx.window_start).\n")
    print(f"Checked before printing: {p.before.records[0]:,} alerts returned by the full "
          f"pass (count and id checksum; {p.before.unmapped:,} with an unknown closing "
          f"reason skipped as unmapped_value; {p.older_outside:,} older alerts before the "
          f"window not fetched), the {args.during:,} alerts closed while it paged hidden by "
          f"the point in time and picked up by the incremental run; {report['checked']} "
          f"published values equal to the prediction: {q3} signal ratio "
          f"{values['alert_signal_ratio'][()]:.4f} and "
          f"{values['devsecops_siem_alerts_untriaged'][()]:,.0f} untriaged after the full "
          f"pass, {after['alert_signal_ratio'][()]:.4f} and "
          f"{after['devsecops_siem_alerts_untriaged'][()]:,.0f} after the changes; every "
          "request counted on both sides, every point in time closed"
          + (f"; the Kibana pass also listed {kib.rules} detection rules (= the fake's "
             f"{len(RULES)}) in {kib.families.get('rules_find', 0)} request(s)"
             if kib.rules else "") + ".\n")
    print("| run | page size | records | requests | lower bound | time (s) | "
          "CPU s (collector / fake) | collector RSS after (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for run in (full, incr, kib):
        print(f"| {run.label} | {args.page_size} | {run.records[0]:,} | "
              f"**{sum(run.families.values())}** | {run.bound} | {run.seconds:.1f} | "
              f"{run.cpu:.1f} / {run.fake_cpu:.1f} | {run.rss_mb:.1f} |")
    print(f"\nPeak RSS: {report['rss_before']:.1f} MB before the first run, "
          f"{full.rss_mb:.1f} MB after the full pass, {kib.rss_mb:.1f} MB at the end "
          "(each read right after its run, before its checks; results are stored into "
          "SQLite and dropped between runs, as the core does).")


if __name__ == "__main__":
    main()
