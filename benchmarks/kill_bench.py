"""Crash safety: SIGKILL the exporter mid-collection, again and again, and check the store.

    python3 benchmarks/kill_bench.py                 # 33 kills
    python3 benchmarks/kill_bench.py --kills 100 --seed 7

It copies config.example.yaml and the demo data to a temporary directory and first runs
``python -m exporter collect --once`` to completion on a fresh store, which gives the
expected stored records per (collector, kind) and the run's duration. It then deletes
the store and, ``--kills`` times, starts the same command and kills it with SIGKILL after
a random delay within that duration (so kills land in start-up, in collection, inside the
store's write transactions and while the exposition file is written). After each kill:

- ``PRAGMA integrity_check`` must say ``ok``;
- for every collector, the stored records of every kind must be either exactly what
  they were before that run or exactly what a complete run stores (a collector's run is
  one transaction: never half of it);
- the exposition file (``--output``, written atomically) must be absent or a complete
  exposition that parses and carries ``devsecops_build_info``;
- temporary files a killed write leaves beside it (``.metrics.prom.*.tmp``) are counted:
  no reader takes them for output, and they are removed before the next kill.

At the end one uncut run must again succeed and store exactly the expected records
(nothing a kill left behind stops the next run). Exit status 0 when every check held,
1 otherwise; the numbers are printed in the format docs/reliability.md quotes.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
Counts = dict[tuple[str, str], int]


def stored_counts(db_path: Path) -> Counts:
    """Records per (collector, table) straight from SQLite, without the exporter's code."""
    if not db_path.exists():
        return {}
    db = sqlite3.connect(db_path)
    try:
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts: Counts = {}
        for table in tables:
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if "collector" not in columns or table == "collector_state":
                continue
            for collector, count in db.execute(
                    f"SELECT collector, COUNT(*) FROM {table} GROUP BY collector"):  # noqa: S608
                counts[(collector, table)] = count
        return counts
    finally:
        db.close()


def integrity(db_path: Path) -> str:
    if not db_path.exists():
        return "ok"
    db = sqlite3.connect(db_path)
    try:
        return ";".join(row[0] for row in db.execute("PRAGMA integrity_check"))
    finally:
        db.close()


def of_collector(counts: Counts, collector: str) -> dict[str, int]:
    return {table: n for (name, table), n in counts.items() if name == collector}


def exposition_ok(path: Path) -> bool:
    """Absent, or a complete exposition: parses, and names the build."""
    if not path.exists():
        return True
    try:
        names = {family.name for family in text_string_to_metric_families(path.read_text())}
    except Exception:  # any parse failure means a torn file
        return False
    return "devsecops_build_info" in names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=33)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    work = Path(tempfile.mkdtemp(prefix="kill-bench-"))
    try:
        shutil.copy(REPO / "config.example.yaml", work / "config.yaml")
        shutil.copytree(REPO / "demo", work / "demo")
        db_path = work / "devsecops-exporter.db"
        output = work / "metrics.prom"
        command = [sys.executable, "-m", "exporter", "collect", "--once", "--config",
                   str(work / "config.yaml"), "--output", str(output)]

        def run_uncut() -> float:
            started = time.monotonic()
            subprocess.run(command, cwd=work, check=True, capture_output=True, timeout=600)
            return time.monotonic() - started

        duration = run_uncut()
        expected = stored_counts(db_path)
        collectors = sorted({name for name, _ in expected})
        if not expected or sum(expected.values()) == 0:
            print("FAIL: the uncut run stored nothing; the benchmark would measure nothing")
            return 1
        for path in work.glob("devsecops-exporter.db*"):
            path.unlink()
        output.unlink(missing_ok=True)

        problems: list[str] = []
        outcome: Counter[str] = Counter()
        for kill in range(1, args.kills + 1):
            before = stored_counts(db_path)
            delay = rng.uniform(0.05, duration)
            process = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            time.sleep(delay)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                outcome["killed mid-run"] += 1
            else:
                outcome["finished before the kill"] += 1
            process.wait(timeout=60)
            check = integrity(db_path)
            if check != "ok":
                problems.append(f"kill {kill}: integrity_check: {check[:200]}")
            after = stored_counts(db_path)
            for collector in collectors:
                now = of_collector(after, collector)
                if now not in (of_collector(before, collector), of_collector(expected, collector)):
                    problems.append(f"kill {kill} after {delay:.2f}s: collector {collector} "
                                    f"holds {now}, neither its previous "
                                    f"{of_collector(before, collector)} nor a complete run")
                elif now == of_collector(expected, collector) != of_collector(before, collector):
                    outcome[f"{collector} run committed"] += 1
            if not exposition_ok(output):
                problems.append(f"kill {kill}: {output.name} is torn")
            stray = [p for p in work.iterdir() if p.name.startswith(f".{output.name}.")]
            if stray:
                outcome["temporary output files left (ignored by later runs)"] += len(stray)
                for path in stray:
                    path.unlink()

        run_uncut()
        final = stored_counts(db_path)
        if final != expected:
            problems.append(f"the run after the kills stored {final}, expected {expected}")
        if integrity(db_path) != "ok":
            problems.append("integrity_check failed after the final run")

        print(f"kill_bench: {args.kills} SIGKILLs (seed {args.seed}) of `collect --once` on "
              f"the demo ({sum(expected.values()):,} records in "
              f"{len(expected)} (collector, kind) tables; uncut run {duration:.2f} s)")
        for label, count in sorted(outcome.items()):
            print(f"  {label}: {count}")
        print(f"  integrity failures, torn collector runs, torn expositions: {len(problems)}")
        print("  the uncut run after the kills: "
              + ("stored exactly the expected records" if final == expected else "DIFFERED"))
        for problem in problems:
            print(f"  FAIL {problem}")
        return 1 if problems else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
