"""Benchmark the GitHub collector against the local fake GitHub (benchmarks/github_fake.py).

Runs, in one process (so peak RSS is the collector's own), with the default settings
(``sast.probe: all``):
1. the first collection (a full pass);
2. an unchanged re-run 15 minutes later (incremental; review gates reused);
3. an unchanged re-run 2 hours later (review gates due: GraphQL is POST, never a 304);
4. an unchanged re-run 25 hours later (the daily full pass: alerts listed in full and
   every "no analysis" repository asked again);
and writes the numbers to ``--output``.

    python benchmarks/github_bench.py --repos 5000 --latency 0.05

It checks itself before printing anything: every repository is returned, the SAST
coverage equals the share the fake was built with (repository by repository), the
findings of a full pass are every alert, every request is attributed to a line of the
lower bound, and the per-repository analyses calls equal their bound. A failed check
exits non-zero with the reason.

The fake runs as a subprocess on 127.0.0.1 and is terminated at the end (it also stops
by itself after its lifetime). Its token budget is ``--budget`` an hour (default
15,000, a GitHub App installation on Enterprise Cloud): the four runs happen within one
real hour here, whereas in production they span 25 hours of hourly windows.
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
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from collectors.base import CollectContext, CollectionResult  # noqa: E402
from collectors.github import GitHubCollector, GitHubSettings  # noqa: E402
from collectors.records import RecordKind  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from github_fake import FakeData, Shape  # noqa: E402

ORG = "bench-org"
REPOS = "repositories (GET /orgs/{org}/repos)"
CONFIGS = "code security configurations"
ATTACHED = "configuration attachments"
DEPENDABOT = "Dependabot alerts"
CODE = "code scanning alerts"
SECRET = "secret scanning alerts"
GRAPHQL = "GraphQL review gates (100 repos/query)"
ANALYSES = "code scanning analyses (per repository)"
FAMILIES = (REPOS, CONFIGS, ATTACHED, DEPENDABOT, CODE, SECRET, GRAPHQL, ANALYSES)


def pages(count: int) -> int:
    return max(1, math.ceil(count / 100))


@dataclass(frozen=True)
class Run:
    label: str
    offset: timedelta
    full: bool  # alerts listed in full, "no analysis" asked again
    gates: bool  # review gates re-read


RUNS = (
    Run("1 first (full pass)", timedelta(0), True, True),
    Run("2 unchanged, +15 min", timedelta(minutes=15), False, False),
    Run("3 unchanged, +2 h (gates due)", timedelta(hours=2), False, True),
    Run("4 unchanged, +25 h (daily full pass)", timedelta(hours=25), True, True),
)


def lower_bound(data: FakeData, run: Run) -> dict[str, int]:
    """Fewest requests any collector needs for the same facts in this run, counting
    every request: listing pages at 100 items (GitHub's maximum), one GraphQL query per
    100 active repositories when gates are due, and the per-repository analyses calls.

    Analyses: a first or full pass must ask every active non-fork repository not under
    default setup (nothing else says whether it has analyses); an unchanged re-run must
    still ask those that have analyses (a newer one may exist; GitHub answers 304, free
    of rate limit), but not those known to have none.
    """
    groups = data.groups
    probed = len(data.counted) - len(groups["default_setup"])
    with_analyses = len(groups["advanced"]) + len(groups["sarif"]) + len(groups["stale"])
    return {
        REPOS: pages(len(data.repos)),
        CONFIGS: pages(len(data.configs)),
        ATTACHED: sum(pages(len(attached)) for _, attached in data.configs),
        DEPENDABOT: pages(data.alert_counts["dependabot"]) if run.full else 1,
        CODE: pages(data.alert_counts["code-scanning"]) if run.full else 1,
        SECRET: pages(data.alert_counts["secret-scanning"]) if run.full else 1,
        GRAPHQL: pages(len(data.active)) if run.gates else 0,
        ANALYSES: probed if run.full else with_analyses,
    }


def naive_estimate(repos: int) -> int:
    """One call per repository per setting, plus per-repository alert listings."""
    per_repo = 9  # repo, protection, rules, default-setup, analyses, vulnerability-alerts,
    # and the three per-repository alert listings
    return pages(repos) + per_repo * repos


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts requests by endpoint family, to compare with the bound line by line."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/graphql":
            family = GRAPHQL
        elif path.endswith("/repos") and path.startswith("/orgs/"):
            family = REPOS
        elif path.endswith("/repositories"):
            family = ATTACHED
        elif path.endswith("/configurations"):
            family = CONFIGS
        elif path.endswith("/dependabot/alerts"):
            family = DEPENDABOT
        elif path.endswith("/code-scanning/alerts"):
            family = CODE
        elif path.endswith("/secret-scanning/alerts"):
            family = SECRET
        elif path.endswith("/code-scanning/analyses"):
            family = ANALYSES
        else:
            family = f"unexpected: {request.method} {path}"
        self.counts[family] += 1
        return await super().handle_async_request(request)


@dataclass
class Measured:
    run: Run
    result: CollectionResult
    seconds: float
    requests: int
    statuses: dict[int, int]
    families: dict[str, int]
    not_sent: int
    retries: dict[str, int]


def check(condition: bool, what: str) -> None:
    """A benchmark that did not measure what it claims must not print a number."""
    if not condition:
        raise SystemExit(f"benchmark self-check failed: {what}")


def verify(data: FakeData, m: Measured, bound: dict[str, int]) -> None:
    """Assert the run returned what the fake holds and was counted completely."""
    result, label = m.result, m.run.label
    repos = {r.name: r for r in result.repositories}
    check(len(repos) == len(data.repos), f"{label}: {len(repos)} of {len(data.repos)} repos")
    counted = {r["full_name"] for r in data.counted}
    sast = {name: repos[name].sast_enabled for name in counted}
    check(None not in sast.values(),
          f"{label}: {sum(v is None for v in sast.values())} counted repos with SAST unknown")
    covered = {name for name, value in sast.items() if value}
    check(covered == data.covered,
          f"{label}: {len(covered ^ data.covered)} repositories with the wrong SAST coverage")
    forks = [r for r in result.repositories if r.fork and not r.archived]
    check(all(r.sast_enabled is None for r in forks), f"{label}: a fork was evaluated")
    if m.run.full:
        check(len(result.findings) == data.alert_count(),
              f"{label}: {len(result.findings)} findings of {data.alert_count()} alerts")
        check(RecordKind.FINDING in result.complete, f"{label}: findings not complete")
    else:
        check(result.findings == [], f"{label}: {len(result.findings)} findings, none changed")
    unexpected = [f for f in m.families if f not in FAMILIES]
    check(not unexpected, f"{label}: requests outside the bound: {unexpected}")
    check(sum(m.families.values()) == m.requests,
          f"{label}: {sum(m.families.values())} counted of {m.requests} requests")
    check(m.families.get(ANALYSES, 0) == bound[ANALYSES],
          f"{label}: {m.families.get(ANALYSES, 0)} analyses calls, bound {bound[ANALYSES]}")
    check(not any(m.retries.values()), f"{label}: retries {m.retries}")


async def collect(collector: GitHubCollector, state: dict, now: datetime,
                  counter: CountingTransport, run: Run) -> Measured:
    ctx = CollectContext(name="bench", now=now, state=state,
                         logger=logging.getLogger("bench.github"))
    counter.counts.clear()
    start = time.perf_counter()
    result = await collector.collect(ctx)
    elapsed = time.perf_counter() - start
    api = collector.last_api
    assert api is not None
    stats = api.client.stats
    return Measured(run, result, elapsed, stats.requests, dict(stats.by_status),
                    dict(counter.counts), api.cache_hits, api.retry_counts())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=Shape.repos)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--budget", type=int, default=15000)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/github.md"))
    args = parser.parse_args()

    now = datetime.now(UTC)
    # The fake's composition (same seed), without its bodies: predictions only.
    data = FakeData(Shape(repos=args.repos), now=now, bodies=False)
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks/github_fake.py"), "--latency",
         str(args.latency), "--repos", str(args.repos), "--budget", str(args.budget),
         "--lifetime", "1800"],
        stdout=subprocess.PIPE, text=True)
    measured: list[Measured] = []
    try:
        line = fake.stdout.readline() if fake.stdout else ""
        if not line.startswith("PORT "):
            raise SystemExit(f"fake GitHub did not start: {line!r}")
        port = int(line.split()[1])
        os.environ["BENCH_GITHUB_TOKEN"] = "ghp_benchmark_token"
        settings = GitHubSettings.model_validate({
            "api_url": f"http://127.0.0.1:{port}",
            "organizations": [ORG],
            "tokens": [{"env": "BENCH_GITHUB_TOKEN"}],
            "http": {"concurrency": args.concurrency},
        })
        collector = GitHubCollector("bench", settings)
        counter = CountingTransport()
        collector.transport = counter
        state: dict = {}
        for run in RUNS:
            m = asyncio.run(collect(collector, state, now + run.offset, counter, run))
            state = m.result.state or state
            measured.append(m)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        fake.terminate()
        fake.wait(timeout=10)

    bounds = [lower_bound(data, m.run) for m in measured]
    for m, bound in zip(measured, bounds, strict=True):
        verify(data, m, bound)
    first, second = measured[0], measured[1]
    share_304 = second.statuses.get(304, 0) / max(1, second.requests)
    check(share_304 >= 0.9, f"run 2: only {100 * share_304:.1f} % answered 304")
    no_analysis = len(data.groups["none"])
    check(second.not_sent == no_analysis,
          f"run 2: {second.not_sent} analyses answered from the state, expected {no_analysis}")
    coverage = 100 * len(data.covered) / len(data.counted)
    first_bound = sum(bounds[0].values())
    check(first.requests <= 1.3 * first_bound,
          f"run 1: {first.requests} requests, {first.requests / first_bound:.2f}x the bound")

    g = data.groups
    counted = len(data.counted)
    lines = [
        "# GitHub collector benchmark",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}).",
        "",
        f"Reproduce: `python benchmarks/github_bench.py --repos {args.repos} --latency "
        f"{args.latency}` (HTTP concurrency {args.concurrency}, the default; token budget "
        f"{args.budget:,} an hour).",
        "",
        f"Fake organisation (`benchmarks/github_fake.py`): {len(data.repos):,} repositories, "
        f"{len(data.repos) - len(data.active):,} archived, "
        f"{sum(r['fork'] for r in data.active):,} active forks; of the {counted:,} active "
        f"non-fork repositories {len(g['default_setup']):,} use CodeQL default setup, "
        f"{len(g['advanced']):,} advanced setup and {len(g['sarif']):,} third-party SARIF "
        f"(Semgrep, Snyk Code) with a recent analysis, {len(g['stale']):,} only a 60-day-old "
        f"analysis, and {no_analysis:,} no analysis at all ({len(data.ghas_off):,} of them "
        "answer 403 \"Advanced Security must be enabled\", the rest 404). "
        f"{data.alert_counts['dependabot']:,} Dependabot, "
        f"{data.alert_counts['code-scanning']:,} code scanning and "
        f"{data.alert_counts['secret-scanning']:,} secret scanning alerts. Fixed latency per "
        f"request: {args.latency * 1000:.0f} ms.",
        "",
        "Checked before printing: every repository returned on every run, SAST coverage "
        f"**{coverage:.1f} %** of active non-fork repositories, equal to the fake's share "
        "repository by repository (forks are not evaluated), every alert returned by each "
        "full pass, every request attributed to a line of the bound below.",
        "",
        "| run | requests | 200 | 304 | 403/404 | % 304 | not sent (state) | wall time (s) "
        "| repositories | findings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measured:
        ok, nm = m.statuses.get(200, 0), m.statuses.get(304, 0)
        refused = m.statuses.get(403, 0) + m.statuses.get(404, 0)
        lines.append(
            f"| {m.run.label} | {m.requests:,} | {ok:,} | {nm:,} | {refused:,} | "
            f"{100 * nm / max(1, m.requests):.1f} | {m.not_sent:,} | {m.seconds:.1f} | "
            f"{len(m.result.repositories):,} | {len(m.result.findings):,} |")
    header = " | ".join(f"run {i + 1} bound | measured" for i in range(len(measured)))
    lines += [
        "",
        f"Peak RSS of the collector process (all runs): **{rss_mb:.0f} MB**. Collector state "
        f"after run 1 (ETags, compact cached pages, watermarks, tiers, \"no analysis\"), as "
        f"JSON: {len(json.dumps(first.result.state)) / 1e6:.1f} MB.",
        "",
        "## Request count vs the lower bound",
        "",
        "The bound counts every request: listing pages at 100 items (GitHub's maximum), "
        "one GraphQL query per 100 active repositories when gates are due, and one "
        "analyses call per active non-fork repository not under default setup on a full "
        "pass (nothing else tells whether it has analyses) or, on an unchanged re-run, per "
        "repository that has analyses (answered 304, which costs no rate limit); a "
        "repository known to have none is not asked until the next full pass, a push, a "
        "configuration change or an alert.",
        "",
        f"| listing | {header} |",
        "|---|" + "---:|---:|" * len(measured),
    ]
    for family in FAMILIES:
        cells = " | ".join(f"{b[family]:,} | {m.families.get(family, 0):,}"
                           for m, b in zip(measured, bounds, strict=True))
        lines.append(f"| {family} | {cells} |")
    totals = " | ".join(f"**{sum(b.values()):,}** | **{m.requests:,}**"
                        for m, b in zip(measured, bounds, strict=True))
    lines.append(f"| **total** | {totals} |")
    naive = naive_estimate(len(data.repos))
    lines += [
        "",
        f"First run: **{first.requests:,}** requests = **{first.requests / first_bound:.2f}x** "
        f"the bound (target <= 1.3x); the unchanged re-run: **{second.requests:,}** "
        f"requests, **{100 * share_304:.1f} %** answered 304 (target >= 90 %), and "
        f"{second.not_sent:,} analyses calls not sent because the state says those "
        "repositories have no analysis.",
        "",
        f"Naive approach (one call per repository per setting and per-repository alert "
        f"listings: 9 calls x {len(data.repos):,} repositories + "
        f"{pages(len(data.repos))} listing pages, before any alert pagination): "
        f"**{naive:,}** requests, {naive / first.requests:.0f}x the first run.",
        "",
        "Run 3 shows the cost when `gate_refresh` (default 1h) has elapsed: the GraphQL "
        "queries are POSTs, which GitHub never answers 304. Run 4 is the daily full pass: "
        "alert listings are read in full (no watermark, no ETag) and every repository "
        "without analyses is asked again (404/403, which carry no ETag).",
    ]
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
