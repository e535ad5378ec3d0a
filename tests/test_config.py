"""Configuration: strict validation with file, line and key in every error."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from collectors.settings import parse_duration
from exporter import plugins
from exporter.cli import main
from exporter.config import ConfigError, load_config, parse_listen_address

REPO = Path(__file__).resolve().parents[1]
# One valid collector, appended to configs that test something else: a config with no
# collectors is refused. The glob matches the config file itself.
COLLECTOR = "collectors:\n  - {name: demo, type: file, config: {files: [{path: '*.yaml'}]}}\n"


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
    assert [c.name for c in loaded.config.collectors] == ["demo", "demo-scanners"]
    assert loaded.config.sla.days["critical"] == 7


def test_a_config_with_only_collectors_gives_defaults(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, COLLECTOR))
    assert loaded.config.sla.window == timedelta(days=90)
    assert loaded.config.store.path == tmp_path / "devsecops-exporter.db"


@pytest.mark.parametrize("text", [
    "", "null\n", "~\n", "# only a comment\n", "web: {listen_address: ':9999'}\n",
    "collectors: []\n", "collectors:\n", "store: {path: s.db}\ncollectors: null\n",
], ids=["empty", "null", "tilde", "comment", "no-collectors-key", "empty-list", "bare-key",
        "explicit-null"])
def test_a_config_without_collectors_is_refused(tmp_path: Path, text: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # An empty or truncated file used to validate on defaults, and serve then deleted
    # every collector's stored data as "removed from the config".
    path = write(tmp_path, text)
    [problem] = problems(path)
    assert problem.startswith(str(path)) and "no collectors configured" in problem
    with pytest.raises(SystemExit) as info:
        main(["check-config", "--config", str(path)])
    assert info.value.code == 2
    assert "no collectors configured" in capsys.readouterr().err


def test_unknown_key_names_file_line_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  listen_adress: ':9999'\n" + COLLECTOR)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2: web.listen_adress: unknown key")


def test_bad_duration_names_key_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "sla:\n  window: 90 days\n" + COLLECTOR)
    [problem] = problems(path)
    assert f"{path}:2: sla.window" in problem
    assert "invalid duration '90 days'" in problem


def test_wrong_type_and_range(tmp_path: Path) -> None:
    path = write(tmp_path, "quarters:\n  fiscal_year_start_month: 13\nsla:\n  days:\n"
                           "    critical: zero\n" + COLLECTOR)
    found = problems(path)
    assert any("quarters.fiscal_year_start_month" in p and ":2:" in p for p in found)
    assert any("sla.days.critical" in p and ":5:" in p for p in found)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "web:\n  listen_address: [\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:") and "malformed YAML" in problem


def test_a_duplicate_key_is_an_error_with_both_lines(tmp_path: Path) -> None:
    # YAML keeps the last of two equal keys: a stray "collectors: []" emptied the config.
    path = write(tmp_path, COLLECTOR + "web: {}\ncollectors: []\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:4: duplicate key 'collectors' (first at line 1)")
    nested = write(tmp_path, "sla:\n  days: {critical: 7, high: 30, critical: 1}\n" + COLLECTOR)
    [problem] = problems(nested)
    assert problem.startswith(f"{nested}:2: duplicate key 'critical' (first at line 2)")


def test_a_yes_key_is_explained_as_a_yaml_boolean(tmp_path: Path) -> None:
    # The validator said only "Keys should be strings" for what YAML 1.1 made True.
    path = write(tmp_path, "sla:\n  days:\n    yes: 1\n" + COLLECTOR)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:3: key yes was read as a boolean")
    assert "YAML 1.1" in problem and "quote the key ('yes')" in problem


@pytest.mark.parametrize(("data", "expected"), [
    (b"collectors: [\xff]\n", ":1: the file is not valid UTF-8 (byte 0xff)"),
    (b"web: {}\ncollectors: caf\xe9\n", ":2: the file is not valid UTF-8 (byte 0xe9)"),
    (COLLECTOR.encode("utf-16"), ": the file is UTF-16 encoded; save it as UTF-8"),
    (COLLECTOR.encode("utf-16-le"), ":1: the file contains NUL bytes"),
    (COLLECTOR.encode("utf-32"), ": the file is UTF-32 encoded"),
    (b"a: " + b"[" * 500 + b"]" * 500 + b"\n", ":1: nested deeper than 64 levels"),
    (b"a: &x [1, *x]\n", ":1: recursive alias *x"),
    (b"a: &x {b: *x}\n" + COLLECTOR.encode(), ":1: recursive alias *x"),
    (b"quarters: {fiscal_year_start_month: 1}\nsla: {window: 2026-02-30}\n",
     ":2: cannot read '2026-02-30' as timestamp: day is out of range for month"),
    (b"sla:\n  window: " + b"9" * 5000 + b"\n", ":2: cannot read '999"),
    (b"a: 1\n\x07\n", ":2: malformed YAML: character #x0007 is not allowed"),
    (b"a: 1\n---\nb: 2\n", "malformed YAML: expected a single document in the stream"),
    (b"a: !!python/object:os.system x\n", ":1: malformed YAML: could not determine a "
     "constructor"),
], ids=["latin1-byte", "latin1-line2", "utf16", "utf16-no-bom", "utf32", "deep-500",
        "recursive-seq", "recursive-map", "impossible-date", "5000-digits", "control-char",
        "two-documents", "python-tag"])
def test_hostile_files_are_config_errors(tmp_path: Path, data: bytes, expected: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Each of these was a traceback and exit 1 (reload crashed) before the strict loader.
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    [problem] = problems(path)
    assert problem.startswith(str(path)) and expected in problem, problem
    with pytest.raises(SystemExit) as info:
        main(["check-config", "--config", str(path)])
    assert info.value.code == 2


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbflog_level: debug\n" + COLLECTOR.encode())
    assert load_config(path).config.log_level == "debug"


def test_a_yaml_bomb_is_refused_quickly(tmp_path: Path) -> None:
    # Nine levels of ten aliases each: 10**9 nodes once expanded, from under 800 bytes.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    text = "\n".join(lines) + "\n" + COLLECTOR
    assert len(text.encode()) < 800
    path = write(tmp_path, text)
    started = time.monotonic()
    [problem] = problems(path)
    assert time.monotonic() - started < 5
    assert "aliases stand for more than 10000 nodes" in problem and f"{path}:" in problem


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "collectors:\n"
                           "  - {name: a, type: file, config: &cfg {files: [{path: '*.yaml'}]}}\n"
                           "  - {name: b, type: file, config: *cfg}\n")
    assert [c.name for c in load_config(path).config.collectors] == ["a", "b"]


def test_a_file_over_10_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(COLLECTOR.encode() + b"#" * (10 * 1024 * 1024))
    [problem] = problems(path)
    assert problem == f"{path}: the file is larger than 10 MiB, the limit for it"


@pytest.mark.parametrize(("entry", "expected"), [
    ("interval: 1ms", "collectors[0].interval: Value error, 0.001s is out of range: use 10s "
     "to 31d"),
    ("interval: 5s", "collectors[0].interval: Value error, 5s is out of range: use 10s to 31d"),
    ("interval: 32d", "collectors[0].interval: Value error, 32d is out of range"),
    ("interval: 999999999d", "collectors[0].interval: Value error, '999999999d' is out of "
     "range: use 10s to 31d"),
    ("interval: .inf", "collectors[0].interval: Value error, a duration must be a finite"),
    ("interval: .nan", "collectors[0].interval: Value error, a duration must be a finite"),
    ("interval: 1.0e+308", "collectors[0].interval: Value error, 1e+308 is out of range"),
    ("jitter: 999999999d", "collectors[0].jitter: Value error, '999999999d' is out of range: "
     "use 0s to 1d"),
    ("jitter: 2d", "collectors[0].jitter: Value error, 2d is out of range: use 0s to 1d"),
    ("interval: 1m\n    jitter: 2m", "collectors[0]: Value error, jitter 2m is longer than "
     "the interval 1m"),
    ("cron: '0 3 * * *'\n    jitter: 2d", "collectors[0].jitter: Value error, 2d is out of "
     "range"),
    ("timeout: 0s", "collectors[0].timeout: Value error, 0s is out of range: use 1s to 1d"),
    ("timeout: 2d", "collectors[0].timeout: Value error, 2d is out of range: use 1s to 1d"),
    ("timeout: " + "9" * 400, "collectors[0].timeout: Value error, 999"),
    ("cron: '0 0 30 2 *'", "collectors[0]: Value error, cron expression '0 0 30 2 *' never "
     "fires"),
], ids=["1ms", "5s", "32d", "999999999d", "inf", "nan", "1e308", "jitter-huge", "jitter-2d",
        "jitter-over-interval", "cron-jitter", "timeout-0", "timeout-2d", "timeout-400-digits",
        "cron-30-feb"])
def test_schedules_that_would_fail_at_run_time_fail_check_config(
        tmp_path: Path, entry: str, expected: str) -> None:
    # APScheduler overflowed on a million days; "jitter: 999999999d" never ran at all.
    path = write(tmp_path, "collectors:\n  - name: demo\n    type: file\n"
                           f"    {entry}\n    config: {{files: [{{path: '*.yaml'}}]}}\n")
    [problem] = problems(path)
    assert expected in problem, problem
    assert problem.startswith(f"{path}:")


@pytest.mark.parametrize(("section", "expected"), [
    ("sla: {days: {critical: 1" + "0" * 400 + "}}", "sla.days.critical: Input should be less "
     "than or equal to 3650"),
    ("sla: {days: {critical: 0}}", "sla.days.critical: Input should be greater than or equal "
     "to 1"),
    ("sla: {days: {critical: 3651}}", "sla.days.critical: Input should be less than or equal "
     "to 3650"),
    ("sla: {days: {critical: .inf}}", "sla.days.critical: Input should be a finite number"),
    ("sla: {window: .nan}", "sla.window: Value error, a duration must be a finite"),
    ("sla: {window: 1" + "0" * 400 + "}", "sla.window: Value error, duration 1000"),
    ("sla: {window: 99999999999999999999d}", "sla.window: Value error, duration "
     "'99999999999999999999d' is too long: durations must be shorter than 36500d"),
    ("maturity: {evidence_max_age: 1.0e+308}", "maturity.evidence_max_age: Value error, "
     "duration 1e+308 is too long"),
    ("repositories: {exclude: ['a{99999999999}']}", "repositories.exclude: Value error, "
     "invalid regex 'a{99999999999}'"),
    ("store: {path: ~nosuchuser/s.db}", "store.path: Value error, cannot expand "
     "'~nosuchuser/s.db'"),
], ids=["sla-days-10e400", "sla-days-0", "sla-days-3651", "sla-days-inf", "window-nan",
        "window-10e400", "window-huge-days", "evidence-1e308", "regex-overflow", "no-such-home"])
def test_values_that_would_overflow_later_fail_check_config(
        tmp_path: Path, section: str, expected: str) -> None:
    path = write(tmp_path, section + "\n" + COLLECTOR)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:1: ") and expected in problem, problem


def test_collector_model_errors_past_pydantic_are_config_errors(tmp_path: Path) -> None:
    # The file collector's anchor check called astimezone(), which overflows for year 1
    # east of UTC: an OverflowError escaped load_config and crashed reload.
    path = write(tmp_path, "collectors:\n  - name: demo\n    type: file\n    config:\n"
                           "      files: [{path: '*.yaml'}]\n"
                           "      rebase: {anchor: '0001-01-01T00:00:00+14:00'}\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:") and "collectors[0].config" in problem


def test_the_entry_points_are_scanned_once_per_load(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Scanned once per collector, a config of 20,000 collectors took 90 s to load.
    calls = []
    real = plugins.entry_points

    def counting(**kwargs: object):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(plugins, "entry_points", counting)
    entries = "".join(f"  - {{name: c{i}, type: file, config: {{files: [{{path: '*.yaml'}}]}}}}\n"
                      for i in range(30))
    loaded = load_config(write(tmp_path, "collectors:\n" + entries))
    assert len(loaded.config.collectors) == 30
    assert len(calls) == 1


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
    loaded = load_config(write(tmp_path, "web:\n  listen_address: ':1234'\n" + COLLECTOR))
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


@pytest.mark.parametrize("value", [
    10**400, -10**400, float("inf"), float("-inf"), float("nan"), 1e308, "9" * 400 + "d",
    "999999999d", "36500d", timedelta(days=999999999),
], ids=["10e400", "-10e400", "inf", "-inf", "nan", "1e308", "400-digit-days", "999999999d",
        "36500d", "timedelta-max"])
def test_durations_past_100_years_or_not_finite_are_value_errors(value: object) -> None:
    # timedelta() raised OverflowError for these, which pydantic does not turn into a
    # validation error: a traceback instead of a config problem.
    with pytest.raises(ValueError, match=r"too long|finite|negative"):
        parse_duration(value)
    assert parse_duration("36499d") == timedelta(days=36499)


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(REPO / "config.example.yaml")]) == 0
    assert "configuration is valid" in capsys.readouterr().out
    bad = write(tmp_path, "nonsense: 1\n" + COLLECTOR)
    with pytest.raises(SystemExit) as info:
        main(["check-config", "--config", str(bad)])
    assert info.value.code == 2
    assert f"{bad}:1: nonsense: unknown key" in capsys.readouterr().err


def test_bounded_time_keeps_timestamps_away_from_the_ends_of_the_calendar() -> None:
    # For the file collector's rebase anchor: year 9999 validated, then every run's
    # "timestamp + (now - anchor)" overflowed; year 1 east of UTC overflowed in astimezone.
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from collectors.settings import BoundedTime, StrictModel

    class Model(StrictModel):
        anchor: BoundedTime

    assert Model(anchor="2026-11-23T02:00:00+02:00").anchor == datetime(2026, 11, 23, tzinfo=UTC)
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "1969-12-31T23:00:00Z",
                  "2200-01-01T00:00:00Z", "1970-01-01T05:00:00+14:00"):
        with pytest.raises(ValidationError, match="out of range: use a time from 1970-01-01 "
                                                  "to before 2200-01-01"):
            Model(anchor=value)
    with pytest.raises(ValidationError, match="needs a time zone"):
        Model(anchor="2026-11-23T00:00:00")


def test_a_secret_file_is_read_with_a_cap(tmp_path: Path) -> None:
    # {file: /dev/zero} never ended: validation hung, reading without bound.
    from pydantic import ValidationError

    from collectors.settings import Secret, StrictModel

    class Model(StrictModel):
        token: Secret

    with pytest.raises(ValidationError, match="longer than 65536 characters"):
        Model.model_validate({"token": {"file": "/dev/zero"}})
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    with pytest.raises(ValidationError, match="is not UTF-8 text"):
        Model.model_validate({"token": {"file": "latin1"}}, context={"base_dir": tmp_path})
