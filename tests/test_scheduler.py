"""Scheduling: one job per collector, first run at start-up, never overlapping."""

from __future__ import annotations

import time
from pathlib import Path

from exporter.app import Exporter
from exporter.config import load_config


def test_jobs_run_at_start_and_are_configured_safely(tmp_path: Path, fake_collector) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"store: {{path: {tmp_path / 's.db'}}}\ncollectors:\n"
                      "  - {name: hourly, type: fake, interval: 1h, jitter: 5s}\n"
                      "  - {name: nightly, type: fake, cron: '0 3 * * *'}\n")
    exporter = Exporter(load_config(config))
    exporter.start(derive_in_worker=False)  # the worker is covered by the CLI serve test
    try:
        deadline = time.monotonic() + 60
        # A run counts as called when it starts; ready follows once it is stored.
        while (fake_collector.calls < 2 or not exporter.ready) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake_collector.calls == 2  # both ran once at start-up, cron included
        assert exporter.ready
        jobs = {job.id: job for job in exporter._scheduler.get_jobs()}
        assert set(jobs) == {"hourly", "nightly"}
        for job in jobs.values():
            assert job.max_instances == 1 and job.coalesce is True
        assert jobs["hourly"].trigger.interval.total_seconds() == 3600
        assert jobs["hourly"].trigger.jitter == 5
        assert str(jobs["nightly"].trigger.fields[5]) == "3"  # hour field of the crontab

        # a reload that changes nothing does not trigger extra runs
        ok, _ = exporter.reload()
        assert ok
        time.sleep(0.5)
        assert fake_collector.calls == 2
        # changing one collector's settings runs that one at once
        config.write_text(config.read_text().replace("interval: 1h", "interval: 2h"))
        assert exporter.reload()[0]
        deadline = time.monotonic() + 60
        while fake_collector.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake_collector.calls == 3
    finally:
        exporter.stop()
