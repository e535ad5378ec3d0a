"""Scanner coverage derivation (exporter/derive/scans.py): exact values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collectors.records_scans import SCAN_CATEGORY_CODES
from exporter.derive.common import DerivationSettings
from exporter.derive.registry import derive_all
from exporter.derive.scans import derive_scans

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SLA = {"critical": 7, "high": 30, "medium": 90, "low": 180}
DAST, SAST = SCAN_CATEGORY_CODES["dast"], SCAN_CATEGORY_CODES["sast"]


def ago(days: float) -> float:
    return (NOW - timedelta(days=days)).timestamp()


def settings(**overrides: object) -> DerivationSettings:
    return DerivationSettings(sla_days=SLA, **overrides)  # type: ignore[arg-type]


ROWS = [
    ("https://staging.acme.example", DAST, ago(1)),   # fresh
    ("https://staging.acme.example", DAST, ago(30)),  # an older tool's scan: newest wins
    ("https://shop.acme.example", DAST, ago(8)),      # older than 7 days
    ("https://future.acme.example", DAST, ago(-1)),   # after now: not a scan yet
    ("acme/api", SAST, ago(2)),
]


def test_dast_coverage_over_the_configured_targets() -> None:
    metrics = derive_scans(ROWS, settings(dast_targets=(
        "https://staging.acme.example", "https://shop.acme.example",
        "https://never.acme.example", "https://future.acme.example")), NOW)
    assert metrics.get("devsecops_repository_coverage_ratio", setting="dast") == 0.25
    assert metrics.series("devsecops_scan_targets") == {
        (("category", "dast"), ("fresh", "true")): 1,
        (("category", "dast"), ("fresh", "false")): 1,
        (("category", "sast"), ("fresh", "true")): 1,
        (("category", "sast"), ("fresh", "false")): 0,
    }


def test_max_age_is_configurable() -> None:
    metrics = derive_scans(ROWS, settings(dast_targets=("https://shop.acme.example",),
                                          scan_max_age=timedelta(days=9)), NOW)
    assert metrics.get("devsecops_repository_coverage_ratio", setting="dast") == 1.0


def test_no_configured_targets_no_share_and_no_rows_no_counts() -> None:
    assert derive_scans(ROWS, settings(), NOW).get("devsecops_repository_coverage_ratio",
                                                   setting="dast") is None
    assert derive_scans([], settings(), NOW).values == {}


def test_previous_quarter_from_history_only() -> None:
    key = ("devsecops_repository_coverage_ratio", (("setting", "dast"),))
    derived = derive_all(rows={}, settings=settings(), now=NOW,
                         history={"2026-Q3": {key: 0.5}})
    assert derived.by_quarter["2026-Q3"].values.get(key) == 0.5
    assert derived.by_quarter["2026-Q4"].get("devsecops_repository_coverage_ratio",
                                             setting="dast") is None
