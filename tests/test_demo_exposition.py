"""The demo's /metrics, byte for byte, against a recorded copy.

Refactors that must not change what users see (the record-kind declarations, the
derivation package) are checked here: the exposition of the bundled demo at a fixed
clock is compared with ``tests/fixtures/demo_metrics.prom`` line by line, with only
the values that depend on the machine (run duration, reload wall time, Python
version) masked. A change that is meant to alter the output regenerates the copy
with ``UPDATE_GOLDEN=1 python3 -m pytest tests/test_demo_exposition.py`` and shows the
difference in its commit.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from exporter.app import Exporter
from exporter.config import load_config
from exporter.publish import render

GOLDEN = Path(__file__).parent / "fixtures" / "demo_metrics.prom"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
VOLATILE = re.compile(
    r"^(devsecops_collector_duration_seconds\{[^}]*\}"
    r"|devsecops_config_last_reload_success_timestamp_seconds) .*$"
    r"|python_version=\"[^\"]*\"", re.MULTILINE)


def _mask(text: str) -> str:
    return VOLATILE.sub(lambda m: m.group(0).split(" ")[0] + " <volatile>"
                        if not m.group(0).startswith("python_version")
                        else 'python_version="<volatile>"', text)


def demo_exposition(config: Path) -> str:
    exporter = Exporter(load_config(config), clock=lambda: NOW)
    try:
        assert exporter.collect_once() is True
        return render(exporter.snapshot, openmetrics_format=False, compress=False).decode()
    finally:
        exporter.stop()


def test_demo_metrics_are_unchanged(demo_config: Path) -> None:
    got = _mask(demo_exposition(demo_config))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(got)
    expected = GOLDEN.read_text()
    assert got.splitlines() == expected.splitlines()
