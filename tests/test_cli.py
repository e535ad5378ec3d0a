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
