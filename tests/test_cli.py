"""The command line: explain, check-config --online, usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.cli import main


def test_explain_one_domain(demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--config", str(demo_config), "--collect",
                 "--domain", "vulnerability_management"]) == 0
    out = capsys.readouterr().out
    assert "vulnerability_management: level" in out
    assert "incident_response: level" not in out


def test_explain_unknown_domain(demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--config", str(demo_config), "--domain", "nope"]) == 2
    assert "vulnerability_management" in capsys.readouterr().err


def test_check_config_online_with_only_local_sources(
        demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(demo_config), "--online"]) == 0
    assert "demo: online check passed" in capsys.readouterr().out


def test_collect_needs_once(demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--config", str(demo_config)]) == 2
    assert "needs --once" in capsys.readouterr().err


def test_bad_listen_address(demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(demo_config), "--web.listen-address", "nohost"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


def test_check_config_notes_a_lookback_shorter_than_the_published_quarters(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from exporter.cli import lookback_notes
    from exporter.config import load_config

    config = tmp_path / "c.yaml"
    config.write_text("""
store: {path: s.db}
collectors:
  - name: soc
    type: pagerduty
    config: {token: {env: CLI_TEST_PD_TOKEN}, service_ids: [PABC123], lookback: 30d}
  - name: soc-long
    type: pagerduty
    config: {token: {env: CLI_TEST_PD_TOKEN}, service_ids: [PABC123], lookback: 400d}
""")
    import os

    os.environ["CLI_TEST_PD_TOKEN"] = "pd-token-for-cli-test"
    notes = lookback_notes(load_config(config), datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    assert notes == ["collectors[soc].lookback 30d is shorter than the two published "
                     "quarters; first and full passes read back to 2026-06-17 (the previous "
                     "quarter's start less 14 days) anyway"]
