"""The runtime: failures keep the last good data, health is published by value."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors.base import CollectionResult, ErrorKind, SourceGauge
from collectors.records import RecordKind
from exporter.app import Exporter
from exporter.cli import main
from exporter.config import load_config
from exporter.publish import render
from exporter.store import Store
from tests.builders import finding
from tests.conftest import collector_error

CONFIG = """
store: {{path: {db}}}
collectors:
  - name: fake1
    type: fake
    interval: 1h
"""


def samples(exporter: Exporter) -> dict[tuple[str, tuple], float]:
    body = render(exporter.snapshot, openmetrics_format=False, compress=False)
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def make(tmp_path: Path) -> Exporter:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db"))
    return Exporter(load_config(path))


def test_failure_keeps_last_good_data_and_marks_collector_down(tmp_path: Path,
                                                               fake_collector) -> None:
    fake_collector.plan = [
        CollectionResult(findings=[finding("2026-01-01", fixed_after_days=2)]),
        collector_error(ErrorKind.SERVER),
        CollectionResult(findings=[finding("2026-01-01", fixed_after_days=2)],
                         gauges=[SourceGauge("devsecops_fake_budget", "budget", 42.0),
                                 SourceGauge("devsecops_collector_up", "hijack", 9.0)]),
    ]
    exporter = make(tmp_path)
    assert exporter.run_collector("fake1") is True
    first = samples(exporter)
    up = ("devsecops_collector_up", (("collector", "fake1"),))
    assert first[up] == 1.0
    records = ("devsecops_collector_records", (("collector", "fake1"), ("kind", "finding")))
    assert first[records] == 1.0

    assert exporter.run_collector("fake1") is False
    second = samples(exporter)
    assert second[up] == 0.0
    assert second[records] == 1.0  # the stored finding is still there
    errors = ("devsecops_collector_errors_total", (("collector", "fake1"), ("kind", "server")))
    assert second[errors] == 1.0
    failures = ("devsecops_collector_runs_total", (("collector", "fake1"),
                                                   ("result", "failure")))
    assert second[failures] == 1.0
    assert exporter.ready

    assert exporter.run_collector("fake1") is True  # the next run recovers
    third = samples(exporter)
    assert third[up] == 1.0
    assert third[("devsecops_fake_budget", (("collector", "fake1"),))] == 42.0
    assert third[up] == 1.0  # a plugin cannot overwrite core health series
    exporter.stop()


def test_unexpected_exception_is_internal_error(tmp_path: Path, fake_collector) -> None:
    fake_collector.plan = [RuntimeError("bug")]
    exporter = make(tmp_path)
    assert exporter.run_collector("fake1") is False
    internal = ("devsecops_collector_errors_total", (("collector", "fake1"),
                                                     ("kind", "internal")))
    assert samples(exporter)[internal] == 1.0
    exporter.stop()


def test_skipped_records_are_counted(tmp_path: Path, fake_collector) -> None:
    result = CollectionResult()
    result.record_errors[ErrorKind.MALFORMED_RECORD] = 3
    fake_collector.plan = [result]
    exporter = make(tmp_path)
    exporter.run_collector("fake1")
    key = ("devsecops_collector_errors_total", (("collector", "fake1"),
                                                ("kind", "malformed_record")))
    assert samples(exporter)[key] == 3.0
    exporter.stop()


def test_no_data_means_absent_series(tmp_path: Path, fake_collector) -> None:
    exporter = make(tmp_path)
    exporter.run_collector("fake1")
    names = {name for name, _ in samples(exporter)}
    for absent in ("vulnerability_mttr_days", "vulnerability_sla_compliance_pct",
                   "sast_coverage_pct", "alert_signal_ratio", "security_incident_mttd_hours"):
        assert absent not in names
    exporter.stop()


def test_restart_publishes_stored_data_before_any_run(tmp_path: Path, fake_collector) -> None:
    fake_collector.plan = [CollectionResult(findings=[finding("2026-11-01")])]
    exporter = make(tmp_path)
    exporter.run_collector("fake1")
    exporter.stop()
    again = make(tmp_path)
    again.rebuild()
    after = samples(again)
    assert after[("devsecops_vulnerability_open_findings", (("severity", "critical"),))] == 1.0
    last_success = ("devsecops_collector_last_success_timestamp_seconds",
                    (("collector", "fake1"),))
    assert last_success in after  # persisted across restarts
    assert ("devsecops_collector_up", (("collector", "fake1"),)) not in after  # no run yet
    again.stop()


def test_collect_once_runs_demo(demo_config: Path) -> None:
    exporter = Exporter(load_config(demo_config))
    assert exporter.collect_once() is True
    values = samples(exporter)
    assert values[("devsecops_repositories", (("state", "active"),))] == 50.0
    assert ("sast_coverage_pct", (("quarter", exporter.snapshot.derived.current.label),)) \
        in values
    exporter.stop()


def test_a_fresh_demo_install_has_a_previous_level_and_a_trend_for_every_domain(
        demo_config: Path) -> None:
    """Dated snapshots of every point-in-time kind give its previous quarter (issue 10)."""
    exporter = Exporter(load_config(demo_config))
    assert exporter.collect_once() is True
    values = samples(exporter)
    derived = exporter.snapshot.derived
    previous, current = derived.previous.label, derived.current.label
    domains = ("vulnerability_management", "secure_development", "identity_access",
               "cloud_infrastructure", "supply_chain", "observability_detection",
               "incident_response", "security_culture")
    assert {labels[0][1] for (name, labels) in values
            if name == "devsecops_maturity_trend"} == set(domains)
    for domain in domains:
        level = ("devsecops_maturity_level", (("domain", domain), ("quarter", previous)))
        assert level in values, domain
    for name in ("sast_coverage_pct", "devsecops_detection_attack_coverage_ratio",
                 "devsecops_telemetry_coverage_ratio",
                 "devsecops_cloud_accounts_scanned_ratio"):
        assert (name, (("quarter", previous),)) in values, name
    assert derived.by_quarter[previous].get("devsecops_identity_mfa_coverage_ratio",
                                            scope="all") is not None
    # the current quarter's coverage is today's, and only it is kept as history
    assert values[("devsecops_repositories", (("state", "active"),))] == 50.0
    history = exporter.store.quarter_values()
    assert ("sast_coverage_pct", ()) not in history.get(previous, {})
    assert history[current][("sast_coverage_pct", ())] == \
        values[("sast_coverage_pct", (("quarter", current),))]
    exporter.stop()


def test_derivation_worker_gives_the_same_snapshot(demo_config: Path) -> None:
    in_process = Exporter(load_config(demo_config))
    in_process.collect_once()
    expected = samples(in_process)
    in_process.stop()
    worker = Exporter(load_config(demo_config))
    worker.use_derivation_worker()
    assert worker._derive_pool is not None
    worker.rebuild()
    got = samples(worker)
    worker.stop()
    volatile = ("devsecops_snapshot_timestamp_seconds", "devsecops_collector_",
                "devsecops_config_", "devsecops_maturity_last_review")
    for key, value in expected.items():
        if not key[0].startswith(volatile):
            assert got.get(key) == pytest.approx(value, rel=1e-6), key  # ages move with now


def test_a_removed_collectors_records_are_kept_unpublished_until_pruned(
        tmp_path: Path, fake_collector, caplog: pytest.LogCaptureFixture) -> None:
    """A config cut short by a bad deploy must never cost data (issue 11)."""
    fake_collector.plan = [CollectionResult(findings=[finding("2026-11-01")])]
    exporter = make(tmp_path)
    exporter.run_collector("fake1")
    published = samples(exporter)
    exporter.stop()
    critical = ("devsecops_vulnerability_open_findings", (("severity", "critical"),))
    assert published[critical] == 1.0
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db").replace("fake1", "fake2"))
    with caplog.at_level("WARNING"):
        again = Exporter(load_config(path))
    assert again.store.record_counts() == {("fake1", RecordKind.FINDING): 1}  # kept
    assert "collector fake1 is no longer in" in caplog.text and "store prune" in caplog.text
    again.rebuild()
    assert samples(again).get(critical, 0.0) == 0.0  # not published
    assert not again.ready  # nothing of a configured collector is stored
    again.stop()

    # Back in the config, the same records are published again with no new run.
    path.write_text(CONFIG.format(db=tmp_path / "s.db"))
    back = Exporter(load_config(path))
    back.rebuild()
    assert samples(back)[critical] == 1.0
    assert back.store.record_counts() == {("fake1", RecordKind.FINDING): 1}
    back.stop()

    path.write_text(CONFIG.format(db=tmp_path / "s.db").replace("fake1", "fake2"))
    assert main(["store", "prune", "--config", str(path), "--dry-run"]) == 0
    assert Store(tmp_path / "s.db").record_counts() == {("fake1", RecordKind.FINDING): 1}
    assert main(["store", "prune", "--config", str(path)]) == 0
    assert Store(tmp_path / "s.db").record_counts() == {}
    assert Store(tmp_path / "s.db").collector_state("fake1").run == 0


def test_a_failed_first_run_on_an_empty_store_is_not_ready(tmp_path: Path,
                                                         fake_collector) -> None:
    fake_collector.plan = [collector_error(ErrorKind.SERVER),
                           CollectionResult(findings=[finding("2026-11-01")])]
    exporter = make(tmp_path)
    exporter.rebuild()
    assert exporter.run_collector("fake1") is False
    assert not exporter.ready  # the README promises ready means data
    assert exporter.run_collector("fake1") is True
    assert exporter.ready
    exporter.stop()


def test_a_store_deleted_while_serving_fails_runs_visibly(tmp_path: Path,
                                                         fake_collector) -> None:
    fake_collector.plan = [CollectionResult(findings=[finding("2026-11-01")])] * 3
    exporter = make(tmp_path)
    exporter.use_derivation_worker()
    try:
        assert exporter.run_collector("fake1") is True
        (tmp_path / "s.db").unlink()
        assert exporter.run_collector("fake1") is False
        values = samples(exporter)
        assert values[("devsecops_collector_up", (("collector", "fake1"),))] == 0.0
        assert values[("devsecops_collector_errors_total",
                       (("collector", "fake1"), ("kind", "store")))] == 1.0
        assert not (tmp_path / "s.db").exists()  # the worker made no empty store there
    finally:
        exporter.stop()
