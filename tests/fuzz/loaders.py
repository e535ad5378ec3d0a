"""Loader targets: config.example.yaml and friends, the maturity files, the file
collector on the demo data, and the file-based scanner collectors (Prowler, reports)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from collectors.base import CollectionResult, CollectorError, ErrorKind
from collectors.records import RecordKind
from tests.fuzz.api import _context
from tests.fuzz.core import (
    DELETE,
    EXAMPLE_SECONDS,
    REPO,
    TRICKY_STRINGS,
    Key,
    Raw,
    _short,
    check_result,
    dump,
    json_values,
    leaves,
    paths,
    records_by_key,
    replaced,
    time_limit,
    violation,
)

# -- loaders: config, maturity files, the file collector -----------------------------------------

YAML_SNIPPETS = [
    ":", ": ", "- ", "-", "\t", "  ", "\n", "#", "&a ", "*a", "*nope", "<<: *a\n",
    "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!binary aGk=",
    "? ", "{", "}", "[", "]", '"', "'", "|\n", ">-\n", "---\n", "...\n", "%YAML 1.1\n",
    "%TAG ! tag:x,2002:\n", "\x00", "\ufeff", "\u2028", "\x85", "\r", "yes: 1\n", "on: true\n",
    "~: 1\n", "null: 1\n", "1e400", "9" * 5000, "2026-02-30", "0o777", "0x" + "f" * 5000,
    "!!timestamp 2026-13-45", "!!int x", "!!float x", "!!set {a, b}", "!!omap [a: 1]", "!!str",
    "!env FOO", ".inf", "-.nan", "{env: FUZZ_NOT_SET}", "{file: /dev/zero}",
    "{file: /nonexistent/x}", "{file: /etc}", "999999999999999999999d", "1ms", "-5m", "0s",
    "P1D", "interval: 1ms\n", "cron: '* * * * * *'\n", "cron: '30 2 30 2 *'\n",
    "a{99999999999}", "(?P<", "$(reboot)", "../../../../etc/passwd", "~nosuchuser/x", "\\",
    "%", "@", "`", "2026-11-23T00:00:00", "-30d", "+30d", "0000-01-01",
]
DATA_SNIPPETS = [
    ",", '"', '""', "\n", "\r", "\r\n", "\x00", "\ufeff", "{", "}", "[", "]", ":", "null",
    "NaN", "Infinity", "1e400", "9" * 5000, "\\u0000", "\\ud800", '"\\ud800"', "x" * 70_000,
    "id,severity\n", ",,,,,,,,\n", "a;b;c", "\t", "#", "- ", "&a ", "*a", "2026-02-30",
    "0000-01-01", "9999-12-31T23:59:59-05:00", "253402300800",
]


def _yaml_value(value: Any) -> Any:
    """A YAML-dumpable version of an arbitrary JSON value (Raw tokens as their text)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return {str(k): _yaml_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_value(v) for v in value]
    return value


_yaml_extras = st.sampled_from([
    datetime(2026, 11, 23, tzinfo=UTC), datetime(1, 1, 1), 10**400, -(10**30), 2**64,
    float("inf"), float("nan"), "yes", "no", "on", "off", "~", "null", "1_000", "0x1f",
    "1ms", "100d", "-1s", "P1D", "15m", "10000000d", "*", "* * * * *", ":10121", "[::1]:0",
    "0.0.0.0:99999", "/", "/-/ready", "metrics", "CRITICAL", "x" * 10_000, "",
])
yaml_values = st.one_of(json_values.map(_yaml_value), _yaml_extras)


@dataclass
class FileExample:
    """A mutated copy of a seed file; ``ops`` say what was done, for the report."""

    seed: str
    ops: list[str]
    payload: bytes
    structural: tuple[Any, ...] | None = None  # (path, value) of a one-value mutation

    def __repr__(self) -> str:
        return (f"FileExample(seed={self.seed!r}, ops={self.ops!r}, "
                f"{len(self.payload)} bytes, head={_short(self.payload[:120])})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def _text_op(draw: st.DrawFn, text: str, snippets: list[str]) -> tuple[str, str]:
    """One textual mutation of ``text``: (new text, description)."""
    size = len(text)
    kind = draw(st.sampled_from(["truncate", "delete", "insert", "insert", "dup_line",
                                 "swap_lines", "indent", "value"]))
    at = draw(st.integers(0, size))
    lines = text.splitlines(keepends=True) or [""]
    line = draw(st.integers(0, len(lines) - 1))
    if kind == "truncate":
        return text[:at], f"truncate at {at}"
    if kind == "delete":
        length = draw(st.integers(1, 200))
        return text[:at] + text[at + length:], f"delete {length} at {at}"
    if kind == "insert":
        snippet = draw(st.one_of(st.sampled_from(snippets), st.text(max_size=12)))
        return text[:at] + snippet + text[at:], f"insert {_short(snippet, 40)} at {at}"
    if kind == "dup_line":
        return "".join(lines[:line + 1] + lines[line:]), f"duplicate line {line + 1}"
    if kind == "swap_lines":
        other = draw(st.integers(0, len(lines) - 1))
        lines[line], lines[other] = lines[other], lines[line]
        return "".join(lines), f"swap lines {line + 1} and {other + 1}"
    if kind == "indent":
        delta = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
        body = lines[line]
        lines[line] = body[min(-delta, len(body) - len(body.lstrip(" "))):] if delta < 0 \
            else " " * delta + body
        return "".join(lines), f"indent line {line + 1} by {delta}"
    # value: replace what follows "key:" on a line by an odd scalar
    match = re.match(r"^(\s*(?:- )?[^#:\n]+:)[ \t]*([^\n]*)(\n?)$", lines[line])
    if not match:
        return text, "no-op"
    scalar = draw(st.one_of(st.sampled_from(snippets), st.text(max_size=12).map(json.dumps)))
    lines[line] = f"{match.group(1)} {scalar}{match.group(3)}"
    return "".join(lines), f"value of line {line + 1} -> {_short(scalar, 40)}"


@st.composite
def _structural_yaml(draw: st.DrawFn, text: str) -> tuple[str, str]:
    """Parse the (valid) seed, replace or delete one value, dump it back."""
    data = yaml.safe_load(text)
    candidates = list(paths(data))
    if not candidates:
        return text, "no-op"
    path = draw(st.sampled_from(candidates))
    value = draw(st.one_of(yaml_values, st.just(DELETE), st.just("<unknown-key>")))
    if value == "<unknown-key>":
        parent = path[:-1]
        node = data
        for part in parent:
            node = node[part]
        if isinstance(node, dict):
            node["sevrity_typo"] = 1
            return yaml.safe_dump(data, sort_keys=False), f"unknown key under {parent}"
        return text, "no-op"
    try:
        return (yaml.safe_dump(replaced(data, path, value), sort_keys=False,
                               allow_unicode=draw(st.booleans())),
                f"set {path} = {_short(value, 60)}")
    except (yaml.YAMLError, ValueError, TypeError):
        return text, "no-op"


def _alias_bomb(levels: int, width: int) -> str:
    """A "billion laughs" block, bounded here (width**levels <= 531,441 nodes expanded)."""
    out = ["bomb0: &b0 [x]"]
    for level in range(1, levels + 1):
        refs = ", ".join(f"*b{level - 1}" for _ in range(width))
        out.append(f"bomb{level}: &b{level} [{refs}]")
    return "\n" + "\n".join(out) + "\n"


@st.composite
def _encoding(draw: st.DrawFn, text: str) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le",
                                 "utf-32", "latin-1", "crlf", "bad-bytes", "nul"]))
    if kind == "crlf":
        return _encode(text.replace("\n", "\r\n")), "CRLF line ends"
    if kind == "bad-bytes":
        at = draw(st.integers(0, len(text)))
        raw = _encode(text)
        return raw[:at] + b"\xff\xfe\xc3(" + raw[at:], f"invalid UTF-8 bytes at {at}"
    if kind == "nul":
        return _encode(text) + b"\x00" * draw(st.integers(1, 8)), "NUL bytes at the end"
    if kind == "latin-1":
        return text.encode("latin-1", "replace"), "latin-1"
    if kind == "utf-8":
        return _encode(text), "utf-8"
    try:
        return text.encode(kind), kind
    except UnicodeError:
        return _encode(text), "utf-8"


def file_mutations(seeds: dict[str, str], snippets: list[str], *, structural: bool = True,
                   bombs: bool = True) -> st.SearchStrategy[FileExample]:
    @st.composite
    def build(draw: st.DrawFn) -> FileExample:
        name = draw(st.sampled_from(sorted(seeds)))
        text, ops = seeds[name], []
        if structural and draw(st.booleans()):
            text, op = draw(_structural_yaml(text))
            ops.append(op)
        for _ in range(draw(st.integers(0 if ops else 1, 3))):
            text, op = draw(_text_op(text, snippets))
            ops.append(op)
        if bombs and draw(st.integers(0, 9)) == 0:
            levels, width = draw(st.integers(1, 6)), draw(st.integers(2, 9))
            text += _alias_bomb(levels, width)
            ops.append(f"alias bomb {width}^{levels}")
        payload, encoding = draw(_encoding(text))
        ops.append(encoding)
        return FileExample(name, ops, payload)

    return build()


@contextlib.contextmanager
def _no_env_overrides() -> Iterator[None]:
    """DEVSECOPS_* variables would override the mutated file: none while it loads."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DEVSECOPS_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


_WORKDIR: list[Path] = []


def workdir() -> Path:
    """A scratch copy of what the loaders read (demo data, seeds), made once per process."""
    if not _WORKDIR:
        root = Path(tempfile.mkdtemp(prefix="fuzz-loaders-"))
        import atexit
        atexit.register(shutil.rmtree, root, True)
        shutil.copytree(REPO / "demo", root / "demo")
        e2e = root / "tests" / "fixtures" / "e2e"
        e2e.mkdir(parents=True)
        shutil.copy(REPO / "tests/fixtures/e2e/regression_findings.yaml", e2e)
        (root / "data").mkdir()
        _WORKDIR.append(root)
    return _WORKDIR[0]


# every `{env: NAME}` the example's blocks name: a new source block needs no edit here
SECRET_REFERENCE = re.compile(r"\{env: ([A-Z][A-Z0-9_]*)\}")


def _all_sources(example: str) -> str:
    """config.example.yaml with every source block uncommented (secrets from FUZZ_* vars)."""
    out, live = [], False
    for line in example.splitlines(keepends=True):
        if line.startswith("  # --- Real sources"):
            live = True
            continue
        if live and line.startswith("  # ") and not line.startswith("  #   #") and \
                not line.startswith("  # Each"):
            line = "  " + line[4:]
        out.append(line)
    text = "".join(out)
    for name in sorted(set(SECRET_REFERENCE.findall(text))):
        text = text.replace(f"{{env: {name}}}", f"{{env: FUZZ_{name}}}")
        os.environ[f"FUZZ_{name}"] = "fuzz-not-a-real-secret"
    return text


def config_seeds() -> dict[str, str]:
    example = (REPO / "config.example.yaml").read_text()
    return {"config.example.yaml": example,
            "config.example.yaml, every source on": _all_sources(example),
            "tests/fixtures/e2e/config.yaml": (REPO / "tests/fixtures/e2e/config.yaml")
            .read_text()}


def _config_path(seed: str) -> Path:
    root = workdir()
    return root / "tests/fixtures/e2e/config.yaml" if seed.startswith("tests/") \
        else root / "config.yaml"


def check_config(example: FileExample) -> str:
    from exporter.config import ConfigError, load_config

    path = _config_path(example.seed)
    path.write_bytes(example.payload)
    with time_limit(EXAMPLE_SECONDS), _no_env_overrides():
        try:
            load_config(path)
        except ConfigError as exc:
            _check_problems(exc.problems, ("cannot validate the configuration:",
                                           ": invalid value ("))
            return "ConfigError"
    return "ok"


def _check_problems(problems: Any, catch_all: tuple[str, ...]) -> None:
    violation(isinstance(problems, list) and problems
              and all(isinstance(p, str) and p for p in problems),
              f"the error holds no problem lines: {problems!r:.200}")
    reached = [p for p in problems if any(marker in p for marker in catch_all)]
    violation(not reached, f"an unexpected exception reached the catch-all: {reached[0]:.300}"
              if reached else "")


def check_config_seeds() -> None:
    """Every seed loads as it is: mutations start from a valid file."""
    from exporter.config import load_config

    for seed, text in config_seeds().items():
        path = _config_path(seed)
        path.write_text(text)
        with _no_env_overrides():
            load_config(path)


def _maturity_check(which: str) -> Callable[[FileExample], str]:
    def check(example: FileExample) -> str:
        from exporter.config import MaturityConfig
        from exporter.maturity.load import MaturityConfigError, load_model

        root = workdir()
        path = root / f"fuzz-{which}.yaml"
        path.write_bytes(example.payload)
        # A rules file is judged alone; an assessments file against the bundled rules.
        files = {"rules": str(path) if which == "rules" else None,
                 "assessments": str(path) if which == "assessments" else None}
        config = MaturityConfig.model_validate(files)
        with time_limit(EXAMPLE_SECONDS):
            try:
                load_model(config)
            except MaturityConfigError as exc:
                _check_problems(exc.problems, ("cannot validate the rules file:",
                                               "cannot validate the assessments file:"))
                return "MaturityConfigError"
        return "ok"
    return check


def maturity_seeds(which: str) -> dict[str, str]:
    if which == "rules":
        return {"exporter/maturity/default_rules.yaml":
                (REPO / "exporter/maturity/default_rules.yaml").read_text()}
    return {"demo/assessments.yaml": (REPO / "demo/assessments.yaml").read_text()}


# The file collector on the demo data: a slice of each file (the property is about
# parsing, not volume), all four read by one collector as config.example.yaml does.
DATA_FILES = {"findings.json": RecordKind.FINDING, "repositories.yaml": RecordKind.REPOSITORY,
              "incidents.csv": RecordKind.INCIDENT, "siem_alerts.csv": RecordKind.SIEM_ALERT}


def _demo_rows(name: str) -> list[dict[str, Any]]:
    text = (REPO / "demo" / name).read_text()
    if name.endswith(".json"):
        return json.loads(text)["findings"][:30]
    if name.endswith(".yaml"):
        return yaml.safe_load(text)["repositories"][:10]
    return list(csv.DictReader(io.StringIO(text)))[:25]


def _serialize_rows(name: str, rows: list[Any]) -> str:
    if name.endswith(".json"):
        return json.dumps({"findings": rows}, indent=1)
    if name.endswith(".yaml"):
        return yaml.safe_dump({"repositories": rows}, sort_keys=False)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@dataclass
class DataWorld:
    root: Path
    rows: dict[str, list[dict[str, Any]]]
    baseline: CollectionResult


_DATA: list[DataWorld] = []


def data_world() -> DataWorld:
    if not _DATA:
        root = workdir() / "data"
        rows = {name: _demo_rows(name) for name in DATA_FILES}
        for name, items in rows.items():
            (root / name).write_text(_serialize_rows(name, items))
        outcome = _run_files(root)
        violation(isinstance(outcome, CollectionResult) and not outcome.record_errors
                  and all(outcome.records_of(k) for k in DATA_FILES.values())
                  and outcome.complete == frozenset(RecordKind),
                  f"the demo slice is not clean: {outcome!r:.300}")
        assert isinstance(outcome, CollectionResult)
        _DATA.append(DataWorld(root, rows, outcome))
    return _DATA[0]


def _run_files(root: Path, mutated: tuple[str, bytes] | None = None
               ) -> CollectionResult | CollectorError:
    from collectors.file import FileCollector, FileCollectorSettings

    for name in DATA_FILES:
        if mutated is None or name != mutated[0]:
            continue
        (root / name).write_bytes(mutated[1])
    try:
        settings = FileCollectorSettings.model_validate(
            {"files": [{"path": name} for name in DATA_FILES],
             "rebase": {"anchor": "2026-11-23T00:00:00Z"}}, context={"base_dir": root})
        return asyncio.run(FileCollector("demo", settings).collect(_context("demo")))
    except CollectorError as exc:
        return exc
    finally:
        if mutated is not None:  # the next example starts from the clean slice again
            (root / mutated[0]).write_text(_serialize_rows(mutated[0],
                                                           data_world().rows[mutated[0]]))


@st.composite
def data_mutations(draw: st.DrawFn) -> FileExample:
    world = data_world()
    name = draw(st.sampled_from(sorted(DATA_FILES)))
    rows = world.rows[name]
    text = _serialize_rows(name, rows)
    shape = draw(st.sampled_from(["value", "value", "text", "text", "whole"]))
    if shape == "value":  # one value of one row: costs at most that row
        row = draw(st.integers(0, len(rows) - 1))
        column = draw(st.sampled_from(sorted({k for r in rows for k in r})))
        if name.endswith(".csv"):
            value: Any = draw(st.one_of(st.text(max_size=20), st.sampled_from(
                [*TRICKY_STRINGS, *DATA_SNIPPETS]).filter(lambda s: "\x00" not in s)))
        else:
            value = draw(st.one_of(yaml_values, st.just(DELETE)))
            if name.endswith(".json"):
                value = draw(st.one_of(json_values, st.just(DELETE)))
        changed = [dict(r) for r in rows]
        if value is DELETE:
            changed[row].pop(column, None)
        else:
            changed[row][column] = value
        try:
            if name.endswith(".json"):
                payload = _encode(dump({"findings": changed}))
            else:
                payload = _encode(_serialize_rows(name, changed))
        except (yaml.YAMLError, ValueError, TypeError):
            payload = _encode(text)
        return FileExample(name, [f"row {row} {column} = {_short(value, 60)}"], payload,
                           (row, column, value))
    if shape == "whole":
        choice = draw(st.sampled_from(["empty", "blank", "null", "[]", "{}", "json"]))
        payload = {"empty": b"", "blank": b"  \n\n", "null": b"null", "[]": b"[]",
                   "{}": b"{}"}.get(choice) or _encode(dump(draw(json_values)))
        return FileExample(name, [f"whole file: {choice}"], payload)
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        text, op = draw(_text_op(text, DATA_SNIPPETS))
        ops.append(op)
    payload, encoding = draw(_encoding(text))
    return FileExample(name, [*ops, encoding], payload)


def check_data(example: FileExample) -> str:
    world = data_world()
    with time_limit(EXAMPLE_SECONDS):
        outcome = _run_files(world.root, (example.seed, example.payload))
    violation(isinstance(outcome, CollectionResult),
              f"one bad file failed the whole run although three are good: {outcome!r:.300}")
    assert isinstance(outcome, CollectionResult)
    check_result(outcome)
    kind = DATA_FILES[example.seed]
    base, got = records_by_key(world.baseline), records_by_key(outcome)
    for key, record in base.items():  # the other files are stored as usual
        if key[0] is not kind:
            violation(got.get(key) == record, f"a bad {example.seed} changed {key}")
    failed = outcome.record_errors.get(ErrorKind.MALFORMED_RESPONSE, 0) + \
        outcome.record_errors.get(ErrorKind.CONFIG, 0)
    at_stake = {kind} if example.seed.endswith(".csv") else set(RecordKind)
    if failed:
        violation(not at_stake & outcome.complete,
                  f"{example.seed} failed, yet {sorted(at_stake & outcome.complete)} were "
                  "marked complete (their stored records would be deleted)")
    if not outcome.records_of(kind):
        violation(kind not in outcome.complete,
                  f"{example.seed} gave no {kind.value}, yet the kind was marked complete")
    if example.structural is not None:
        _check_row_cost(world, example, kind, base, got, outcome)
    kinds = "/".join(sorted(k.value for k in outcome.record_errors))
    return f"file failed ({kinds})" if failed else "ok"


def _check_row_cost(world: DataWorld, example: FileExample, kind: RecordKind,
                    base: dict[Key, Any], got: dict[Key, Any],
                    outcome: CollectionResult) -> None:
    """One bad value of one row costs at most that row."""
    row, column, value = example.structural or (0, "", None)
    rows = world.rows[example.seed]
    mine = (kind, str(rows[row]["id"]))
    # the file collector strips surrounding whitespace from values (ids included), so a
    # mutated id shows up stripped
    texts = [str(v).strip() for v in leaves(value) if str(v).strip()]
    for key, record in base.items():
        if key[0] is kind and key != mine and not any(t in key[1] for t in texts):
            violation(got.get(key) == record,
                      f"a bad {column!r} in row {row} of {example.seed} cost {key}")
    if mine not in got and not any(t in k[1] for k in got for t in texts):
        violation(outcome.record_errors.get(ErrorKind.MALFORMED_RECORD, 0) >= 1
                  or outcome.record_errors.get(ErrorKind.MALFORMED_RESPONSE, 0) >= 1,
                  f"row {row} of {example.seed} was lost without being counted")


# The file-based scanner collectors (Prowler's json-ocsf files, scanner reports): their
# own test fixtures in a scratch directory, one file mutated per example.


@dataclass
class ScanWorld:
    """A directory of a collector's fixture files and the clean run over them."""

    name: str
    root: Path
    seeds: dict[str, bytes]
    run: Callable[[Path], CollectionResult | CollectorError]
    baseline: CollectionResult


_SCAN_WORLDS: dict[str, ScanWorld] = {}


def _run_prowler(root: Path) -> CollectionResult | CollectorError:
    from collectors.prowler import ProwlerCollector, ProwlerSettings

    settings = ProwlerSettings.model_validate({"base_dir": str(root), "paths": ["*.json"]})
    try:
        return asyncio.run(ProwlerCollector("prowler", settings).collect(_context("prowler")))
    except CollectorError as exc:
        return exc


def _run_reports(root: Path) -> CollectionResult | CollectorError:
    from collectors.reports import ReportsCollector, ReportsSettings

    settings = ReportsSettings.model_validate({
        "base_dir": str(root), "reports": [{"path": "*"}], "naive_timezone": "UTC"})
    try:
        return asyncio.run(ReportsCollector("scanners", settings).collect(_context("scanners")))
    except CollectorError as exc:
        return exc


def _parses(path: Path) -> bool:
    """A fixture that is a whole document (one Prowler fixture is cut short on purpose)."""
    text = path.read_text()
    try:
        for line in text.splitlines() if path.suffix == ".jsonl" else [text]:
            json.loads(line)
    except ValueError:
        return False
    return True


def scan_world(name: str) -> ScanWorld:
    if name not in _SCAN_WORLDS:
        fixtures = REPO / "tests/fixtures" / name
        runner = _run_prowler if name == "prowler" else _run_reports
        root = workdir() / f"scan-{name}"
        root.mkdir(exist_ok=True)
        seeds = {p.name: p.read_bytes() for p in sorted(fixtures.iterdir())
                 if p.suffix in (".json", ".jsonl", ".sarif") and _parses(p)}
        for file_name, data in seeds.items():
            (root / file_name).write_bytes(data)
        outcome = runner(root)
        # The report fixtures hold a few values no mapping knows, on purpose (counted
        # unmapped_value); no file fails.
        violation(isinstance(outcome, CollectionResult) and any(outcome.records.values())
                  and not outcome.record_errors.get(ErrorKind.MALFORMED_RESPONSE),
                  f"{name}: the fixtures are not a clean run: {outcome!r:.300}")
        assert isinstance(outcome, CollectionResult)
        check_result(outcome)
        _SCAN_WORLDS[name] = ScanWorld(name, root, seeds, runner, outcome)
    return _SCAN_WORLDS[name]


def scan_mutations(name: str) -> st.SearchStrategy[FileExample]:
    world_ = scan_world(name)

    @st.composite
    def build(draw: st.DrawFn) -> FileExample:
        seed = draw(st.sampled_from(sorted(world_.seeds)))
        text = world_.seeds[seed].decode("utf-8")
        shape = draw(st.sampled_from(["value", "value", "value", "text", "whole"]))
        if shape == "value":  # one value of the parsed document (or of one JSONL line)
            lines = text.splitlines() if seed.endswith(".jsonl") else [text]
            index = draw(st.integers(0, len(lines) - 1))
            doc = json.loads(lines[index])
            candidates = list(paths(doc))
            path = draw(st.sampled_from(candidates))
            value = draw(st.one_of(json_values, st.just(DELETE)))
            lines[index] = dump(replaced(doc, path, value))
            return FileExample(seed, [f"line {index} {path!r} = {_short(value, 60)}"],
                               _encode("\n".join(lines) + "\n"), (index, path, value))
        if shape == "whole":
            choice = draw(st.sampled_from(["empty", "blank", "null", "[]", "{}", "json"]))
            payload = {"empty": b"", "blank": b"  \n\n", "null": b"null", "[]": b"[]",
                       "{}": b"{}"}.get(choice) or _encode(dump(draw(json_values)))
            return FileExample(seed, [f"whole file: {choice}"], payload)
        ops = []
        for _ in range(draw(st.integers(1, 3))):
            text, op = draw(_text_op(text, DATA_SNIPPETS))
            ops.append(op)
        payload, encoding = draw(_encoding(text))
        return FileExample(seed, [*ops, encoding], payload)

    return build()


def check_scan(name: str, example: FileExample) -> str:
    """One mutated file among the clean ones: a result (the other files still read), its
    records valid; a file that failed withholds completeness (nothing stored is
    deleted on its account)."""
    world_ = scan_world(name)
    target = world_.root / example.seed
    target.write_bytes(example.payload)
    try:
        with time_limit(EXAMPLE_SECONDS):
            outcome = world_.run(world_.root)
    finally:
        target.write_bytes(world_.seeds[example.seed])
    violation(isinstance(outcome, CollectionResult),
              f"one bad {example.seed} failed the whole run although the other files are "
              f"good: {outcome!r:.300}")
    assert isinstance(outcome, CollectionResult)
    check_result(outcome)
    failed = outcome.record_errors.get(ErrorKind.MALFORMED_RESPONSE, 0)
    if failed and name == "prowler":
        violation(not outcome.complete, f"{example.seed} failed, yet {sorted(outcome.complete)}"
                  " were marked complete (their stored results would be deleted)")
    more = outcome.record_errors - world_.baseline.record_errors
    return f"skipped ({'/'.join(sorted(k.value for k in more))})" if more else "ok"


