"""Cloud posture benchmark: Prowler files -> posture results -> store -> derivation.

    python benchmarks/posture_bench.py [--accounts 200] [--scans 10] [--per-scan 250]

Writes ``scans`` Prowler json-ocsf files per account (each account's scan is one file,
as Prowler writes one per run) into a temporary directory, ``per-scan`` findings each,
then in this process: the prowler collector's full run (parse every file, replay
every account's scans), storing the results, and one derivation of every family.
Reports wall times, the files' and the store's size, the number of results, and peak
RSS. Between scans about 3 % of results change status and 1 % disappear, so the
lifecycle has work to do. The findings carry Prowler's keys (``tests/collectors/
test_prowler.py``'s builder) but are written without indentation, so the files are
about a third of Prowler's own size; parse time grows with bytes. Everything is local
and bounded; the script checks what it measured and exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.base import CollectContext  # noqa: E402
from collectors.prowler import ProwlerCollector, ProwlerSettings  # noqa: E402
from collectors.records import RecordKind  # noqa: E402
from exporter.derive import DerivationSettings, derive_all  # noqa: E402
from exporter.derive.posture import FAMILY  # noqa: E402
from exporter.store import Store  # noqa: E402
from tests.collectors.test_prowler import prowler_finding  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHECKS = [("iam_root_mfa_enabled", "iam", "Critical"), ("s3_bucket_public_access", "s3",
          "High"), ("ec2_ebs_volume_encryption", "ec2", "Medium"),
          ("cloudtrail_multi_region_enabled", "cloudtrail", "Low"),
          ("rds_instance_storage_encrypted", "rds", "Medium")]
COMPLIANCE = {"CIS-3.0": ["1.1"], "PCI-4.0": ["2.2"], "ISO27001-2022": ["A.8"],
              "KISA-ISMS-P-2023": ["2.5"]}


def write_files(directory: Path, accounts: int, scans: int, per_scan: int) -> int:
    rng = random.Random(15)
    total = 0
    for account_index in range(accounts):
        account = f"{100000000000 + account_index}"
        status = {i: "FAIL" if rng.random() < 0.1 else "PASS" for i in range(per_scan)}
        for scan in range(scans):
            when = NOW - timedelta(days=scans - 1 - scan, hours=2)
            findings = []
            for i in range(per_scan):
                if scan and rng.random() < 0.03:
                    status[i] = "PASS" if status[i] == "FAIL" else "FAIL"
                if scan and rng.random() < 0.01:
                    continue  # missing from this scan
                check, service, severity = CHECKS[i % len(CHECKS)]
                findings.append(prowler_finding(
                    check, status[i], severity=severity, service=service,
                    resource=f"arn:aws:{service}::{account}:r{i}", account=account,
                    compliance=COMPLIANCE, time=when, muted=i % 97 == 0))
            path = directory / f"prowler-output-{account}-{scan:02d}.ocsf.json"
            path.write_text(json.dumps(findings, separators=(",", ":")))
            total += len(findings)
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--scans", type=int, default=10)
    parser.add_argument("--per-scan", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "scans"
        directory.mkdir()
        started = time.perf_counter()
        written = write_files(directory, args.accounts, args.scans, args.per_scan)
        files_bytes = sum(p.stat().st_size for p in directory.iterdir())
        print(f"wrote {written} findings in {args.accounts * args.scans} files "
              f"({files_bytes / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f}s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        settings = ProwlerSettings.model_validate({"paths": [str(directory / "*.json")]})
        collector = ProwlerCollector("prowler", settings)
        ctx = CollectContext(name="prowler", now=NOW, state={},
                             logger=logging.getLogger("bench"))
        started = time.perf_counter()
        result = asyncio.run(collector.collect(ctx))
        collect_s = time.perf_counter() - started
        results = result.records_of(RecordKind.POSTURE_RESULT)
        store_path = Path(tmp) / "store.db"
        store = Store(store_path)
        started = time.perf_counter()
        store.apply("prowler", result, NOW)
        store_s = time.perf_counter() - started
        started = time.perf_counter()
        derived = derive_all(
            rows={FAMILY.kind: store.iter_rows(FAMILY.kind, FAMILY.columns)},
            settings=DerivationSettings(sla_days={"critical": 7, "high": 30,
                                                  "medium": 90, "low": 120}), now=NOW)
        derive_s = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = sum(p.stat().st_size for p in Path(tmp).glob("store.db*"))
        current = derived.by_quarter[derived.current.label]
        cis = current.get("devsecops_cloud_resources_passing_ratio", framework="cis")
        scanned = current.get("devsecops_cloud_accounts_scanned_ratio")
        print(f"collect (parse + lifecycle): {collect_s:.1f}s, {len(results)} results, "
              f"errors {dict(result.record_errors)}")
        print(f"store apply: {store_s:.1f}s, store size {size / 2**20:.0f} MiB")
        print(f"derivation (posture family): {derive_s:.2f}s; cis passing {cis:.3f}, "
              f"accounts scanned {scanned}")
        print(f"peak RSS {rss / 1024:.0f} MiB (before collecting {rss_before / 1024:.0f} MiB)"
              f"; pid {os.getpid()}")
        expected = args.accounts * args.per_scan
        ok = (len(results) >= expected * 0.97 and len(results) <= expected
              and scanned == 1.0 and cis is not None and 0 < cis < 1
              and not result.record_errors)
        print("OK" if ok else "UNEXPECTED RESULT")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
