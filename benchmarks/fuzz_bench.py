"""Run the fuzz properties (tests/fuzz/, tests/test_fuzz_parsers.py) at length; count outcomes.

    python3 benchmarks/fuzz_bench.py                  # 2,000 examples per parser and loader
    python3 benchmarks/fuzz_bench.py --examples 500 --targets 'jira-*' --seed 7
    python3 benchmarks/fuzz_bench.py --list

A *parser* is one API collector (github, jira, sentinel, splunk, elastic, pagerduty,
entra, okta) or one loader (config, maturity-rules, maturity-assessments,
file-collector, prowler, reports). A collector's
examples are split evenly over its *targets*: each fake deployment it is run against
(jira cloud and datacenter, splunk export and job, ...) times the three input shapes
(arbitrary JSON body, one bad value, truncated body). Every target runs with the "long"
hypothesis profile. Unlike the pytest run, a failing example does not stop its
target: every crash and every broken property is counted by signature (exception type
and the innermost frame in this repository, or the property's message) with its first
example, so one run shows every defect class and how often inputs reach it. The
examples run are counted by the property function itself, never assumed from the
settings, and a target that ran fewer than asked fails the benchmark.

Exit status: 0 when every example of every target held its property; 1 otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("FUZZ_PROFILE", "long")

from hypothesis import Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz import core, registry  # noqa: E402


@dataclass
class Report:
    """What one target did: outcomes by label, failures by signature, timings."""

    name: str
    asked: int
    run: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    slowest: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and self.run >= self.asked


def signature(exc: BaseException) -> str:
    """Crash: its type and innermost frame in this repository; violation: its message."""
    if isinstance(exc, core.PropertyViolation):
        text = str(exc).splitlines()[0]
        text = re.sub(r"\(.*?\)|\[.*?\]|'[^']*'|\d+", "_", text)
        return f"violation: {text[:110]}"
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if REPO in path.parents and "tests" not in path.relative_to(REPO).parts[:1]:
            where = f"{path.relative_to(REPO)}:{frame.lineno}"
    return f"crash: {type(exc).__name__} at {where}"


def run_target(target: registry.Target, examples: int, seed_value: int) -> Report:
    report = Report(target.name, examples)
    strategy = target.strategy()

    @settings(parent=core.PROFILE, max_examples=examples, phases=[Phase.generate],
              database=None)
    @seed(seed_value)
    @given(data=st.data())
    def body(data: st.DataObject) -> None:
        example = data.draw(strategy)
        report.run += 1
        started = time.perf_counter()
        try:
            report.outcomes[target.check(example)] += 1
        except (Exception, core.ExampleTimeout) as exc:
            key = signature(exc)
            report.failures[key] += 1
            report.outcomes["FAILED"] += 1
            if key not in report.first:
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                report.first[key] = f"{example!r}\n        -> {detail[:400]}"
        finally:
            spent = time.perf_counter() - started
            report.seconds += spent
            report.slowest = max(report.slowest, spent)

    body()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000,
                        help="per parser (a collector or a loader), split over its targets")
    parser.add_argument("--targets", default="*", help="comma-separated globs of target names")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args(argv)
    patterns = args.targets.split(",")
    names = [n for n in registry.TARGETS if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if args.list:
        print("\n".join(names))
        return 0
    if not names:
        print(f"no target matches {args.targets!r}; see --list", file=sys.stderr)
        return 2
    parsers = Counter(registry.TARGETS[n].parser for n in registry.TARGETS)
    share = {n: -(-args.examples // parsers[registry.TARGETS[n].parser]) for n in names}
    print(f"fuzz_bench: {len(names)} targets, {args.examples} examples per parser, seed "
          f"{args.seed}, per-example limit {core.EXAMPLE_SECONDS:.0f}s")
    started = time.perf_counter()
    reports = []
    for name in names:
        report = run_target(registry.TARGETS[name], share[name], args.seed)
        reports.append(report)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items()))
        mean = report.seconds / report.run * 1000 if report.run else 0.0
        status = "ok" if report.ok else "FAIL"
        print(f"{status:4} {name:34} run {report.run:5}/{report.asked}  "
              f"mean {mean:6.1f} ms  max {report.slowest * 1000:7.1f} ms  | {outcomes}",
              flush=True)
        for key, count in report.failures.most_common():
            print(f"       {count:5} x {key}\n        first: {report.first[key]}")
    total = sum(r.run for r in reports)
    failed = [r.name for r in reports if not r.ok]
    print("\nper parser: examples run, outcomes")
    for parser in dict.fromkeys(registry.TARGETS[r.name].parser for r in reports):
        mine = [r for r in reports if registry.TARGETS[r.name].parser == parser]
        outcomes: Counter[str] = Counter()
        for r in mine:
            outcomes.update(r.outcomes)
        print(f"  {parser:22} {sum(r.run for r in mine):6}  "
              + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"\n{total} examples in {time.perf_counter() - started:.0f} s; "
          f"{len(reports) - len(failed)} of {len(reports)} targets held their properties")
    short = [r.name for r in reports if r.run < r.asked]
    if short:
        print(f"ran fewer examples than asked: {', '.join(short)}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
