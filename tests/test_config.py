"""Configuration: strict validation with file, line and key in every error."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from collectors.settings import parse_duration
from exporter.cli import main
from exporter.config import ConfigError, load_config, parse_listen_address

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_example_config_is_valid() -> None:
    loaded = load_config(REPO / "config.example.yaml")
    assert loaded.config.web.listen_address == ":10121"
    assert [c.name for c in loaded.config.collectors] == ["demo"]
    assert loaded.config.sla.days["critical"] == 7


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, ""))
    assert loaded.config.sla.window == timedelta(days=90)
    assert loaded.config.store.path == tmp_path / "devsecops-exporter.db"


def test_unknown_key_names_file_line_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  listen_adress: ':9999'\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2: web.listen_adress: unknown key")


def test_bad_duration_names_key_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "sla:\n  window: 90 days\n")
    [problem] = problems(path)
    assert f"{path}:2: sla.window" in problem
    assert "invalid duration '90 days'" in problem


def test_wrong_type_and_range(tmp_path: Path) -> None:
    path = write(tmp_path, "quarters:\n  fiscal_year_start_month: 13\nsla:\n  days:\n"
                           "    critical: zero\n")
    found = problems(path)
    assert any("quarters.fiscal_year_start_month" in p and ":2:" in p for p in found)
    assert any("sla.days.critical" in p and ":5:" in p for p in found)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  listen_address: [\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:") and "malformed YAML" in problem


def test_unreadable_file(tmp_path: Path) -> None:
    [problem] = problems(tmp_path / "missing.yaml")
    assert "cannot read the file" in problem


def test_collector_config_validated_by_its_own_model(tmp_path: Path) -> None:
    path = write(tmp_path, "collectors:\n  - name: demo\n    type: file\n    config:\n"
                           "      files: []\n      colour: blue\n")
    found = problems(path)
    assert any("collectors[0].config.files" in p and ":5:" in p for p in found)
    assert any("collectors[0].config.colour: unknown key" in p and ":6:" in p for p in found)


def test_unknown_collector_type_lists_installed_types(tmp_path: Path) -> None:
    path = write(tmp_path, "collectors:\n  - name: x\n    type: nosuch\n")
    [problem] = problems(path)
    assert f"{path}:3: collectors[0].type: unknown collector type 'nosuch'" in problem
    assert "file" in problem


def test_missing_data_file_fails_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, "collectors:\n  - name: x\n    type: file\n    config:\n"
                           "      files: [{path: nothere.csv}]\n")
    [problem] = problems(path)
    assert "no file matches" in problem and "nothere.csv" in problem


def test_duplicate_names_and_bad_label_values(tmp_path: Path) -> None:
    body = "    type: file\n    config: {files: [{path: '*.yaml'}]}\n"
    found = problems(write(tmp_path, f"collectors:\n  - name: a\n{body}  - name: a\n{body}"))
    assert any("collector names must be unique: a" in p for p in found)
    [problem] = problems(write(tmp_path, f"collectors:\n  - name: Bad Name\n{body}"))
    assert "config.yaml:2: collectors[0].name" in problem


def test_interval_and_cron_are_exclusive_and_cron_is_checked(tmp_path: Path) -> None:
    base = "collectors:\n  - name: a\n    type: file\n    config: {files: [{path: '*.yaml'}]}\n"
    assert any("not both" in p for p in
               problems(write(tmp_path, base + "    interval: 5m\n    cron: '* * * * *'\n")))
    assert any("invalid cron" in p for p in
               problems(write(tmp_path, base + "    cron: 'every day'\n")))


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSECOPS_WEB__LISTEN_ADDRESS", "127.0.0.1:9999")
    monkeypatch.setenv("DEVSECOPS_LOG_LEVEL", "debug")
    loaded = load_config(write(tmp_path, "web:\n  listen_address: ':1234'\n"))
    assert loaded.config.web.listen_address == "127.0.0.1:9999"
    assert loaded.config.log_level == "debug"


def test_listen_address_parsing() -> None:
    assert parse_listen_address(":10121") == ("", 10121)
    assert parse_listen_address("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError, match="out of range"):
        parse_listen_address(":70000")
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen_address("localhost")


@pytest.mark.parametrize(("text", "seconds"), [
    ("15m", 900), ("1h30m", 5400), ("90d", 90 * 86400), (30, 30), ("1.5s", 1.5), ("2w", 1209600),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "1h 30m", "-5m", "5 minutes", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(REPO / "config.example.yaml")]) == 0
    assert "configuration is valid" in capsys.readouterr().out
    bad = write(tmp_path, "nonsense: 1\n")
    with pytest.raises(SystemExit) as info:
        main(["check-config", "--config", str(bad)])
    assert info.value.code == 2
    assert f"{bad}:1: nonsense: unknown key" in capsys.readouterr().err
