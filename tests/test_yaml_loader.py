"""The strict YAML loader, and that no file content makes a loader raise anything else.

``collectors.yamlsafe`` reads the config, the rules and the assessments file. Reload keeps
the running configuration only when loading raises ConfigError (MaturityConfigError for
the maturity files), so the last tests feed hundreds of mutated files to each loader and
accept nothing but success or that error.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import time
from pathlib import Path

import pytest
import yaml

from collectors.yamlsafe import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_NODES,
    YamlError,
    load_yaml_file,
    parse_yaml,
    read_bytes,
)
from exporter.config import ConfigError, load_config
from exporter.maturity.model import MaturityConfigError, parse_assessments, parse_rules
from tests.test_maturity_support import default_rules

REPO = Path(__file__).resolve().parents[1]


def error(source: str | bytes, **limits: int) -> str:
    with pytest.raises(YamlError) as info:
        parse_yaml(source, "f.yaml", **limits)
    return str(info.value)


# -- the rules ----------------------------------------------------------------------------


def test_plain_yaml_loads_with_key_lines() -> None:
    doc = parse_yaml("web:\n  port: 1\nitems:\n  - name: a\n    kind: b\n", "f.yaml")
    assert doc.data == {"web": {"port": 1}, "items": [{"name": "a", "kind": "b"}]}
    assert doc.line_of(("items", 0, "kind")) == 5
    assert doc.line_of(("web", "port", "nonexistent")) == 2  # the longest known prefix
    assert doc.line_of(("nowhere",)) == 1


def test_empty_and_comment_only_documents_are_none() -> None:
    assert parse_yaml("", "f.yaml").data is None
    assert parse_yaml("# nothing\n", "f.yaml").data is None


def test_depth_is_capped() -> None:
    depth = MAX_DEPTH
    assert parse_yaml("[" * depth + "]" * depth, "f.yaml").data is not None
    assert error("[" * (depth + 1) + "]" * (depth + 1)) == \
        f"f.yaml:1: nested deeper than {MAX_DEPTH} levels"
    # 100,000 levels: refused at level 65, no RecursionError on the way
    assert "nested deeper" in error("a: " + "{b: " * 100_000 + "1" + "}" * 100_000)


def test_the_number_of_values_is_capped() -> None:
    # 10 MiB of "0," is five million values: two minutes and 1.8 GB before this cap.
    assert MAX_NODES == 1_000_000
    assert len(parse_yaml("[" + "0," * 999 + "]", "f.yaml", max_nodes=1000).data) == 999
    assert error("[" + "0," * 1000 + "]", max_nodes=1000) == \
        "f.yaml:1: more than 1,000 values in the document"


def test_an_alias_cannot_nest_past_the_depth_cap() -> None:
    deep = "[" * 60 + "]" * 60
    assert "once alias *a is expanded" in error(f"a: &a {deep}\nb: [[[[[*a]]]]]\n")


def test_aliases_are_bounded_by_the_nodes_they_stand_for() -> None:
    ten = ", ".join(["x"] * 10)
    ok = f"a: &a [{ten}]\nb: [" + ", ".join(["*a"] * 100) + "]\n"  # 1,100 nodes
    assert len(parse_yaml(ok, "f.yaml").data["b"]) == 100
    over = f"a: &a [{ten}]\nb: [" + ", ".join(["*a"] * (MAX_ALIAS_NODES // 11 + 1)) + "]\n"
    assert "aliases stand for more than 10000 nodes" in error(over)


def test_the_line_map_of_aliased_nodes_is_not_expanded() -> None:
    ten = ", ".join(f"k{i}: v" for i in range(10))
    text = f"a: &a {{{ten}}}\nb: [" + ", ".join(["*a"] * 400) + "]\n"  # 8,400 nodes
    doc = parse_yaml(text, "f.yaml")
    # each alias adds its own path once, never the 10 keys under it again
    assert len(doc.lines) < 500
    assert doc.line_of(("b", 399)) == 2


def test_recursive_aliases_are_refused() -> None:
    assert error("a: &a [1, *a]\n") == ("f.yaml:1: recursive alias *a: an alias inside the "
                                        "node it names would make an endless structure")
    assert "recursive alias *m" in error("m: &m\n  child: *m\n")


def test_merge_keys_may_be_overridden_but_plain_keys_not_repeated() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n", "f.yaml")
    assert doc.data["other"] == {"x": 3, "y": 2}
    assert error("a: 1\nb: 2\na: 3\n") == ("f.yaml:3: duplicate key 'a' (first at line 1); "
                                          "YAML would silently keep only the last one")
    # equal after construction, not only as written
    assert "duplicate key '0x2' (first at line 1)" in error("2: a\n0x2: b\n")


def test_boolean_and_null_keys_say_what_yaml_did() -> None:
    assert error("on: push\n").startswith("f.yaml:1: key on was read as a boolean: YAML 1.1")
    assert "quote the key ('No')" in error("No: 1\n")
    assert "key ~ was read as null" in error("~: 1\n")
    assert parse_yaml("'yes': 1\n\"on\": 2\n", "f.yaml").data == {"yes": 1, "on": 2}


@pytest.mark.parametrize(("data", "expected"), [
    (b"\xef\xbb\xbfa: 1\n", {"a": 1}),
    ("a: é\n".encode(), {"a": "é"}),
])
def test_utf8_with_or_without_a_bom(data: bytes, expected: object) -> None:
    assert parse_yaml(data, "f.yaml").data == expected


@pytest.mark.parametrize(("data", "expected"), [
    ("a: 1\n".encode("utf-16"), "f.yaml: the file is UTF-16 encoded; save it as UTF-8"),
    ("a: 1\n".encode("utf-16-be"), "f.yaml:1: the file contains NUL bytes"),
    ("a: 1\n".encode("utf-32"), "f.yaml: the file is UTF-32 encoded"),
    ("a: 1\nb: é\n".encode("latin-1"), "f.yaml:2: the file is not valid UTF-8 (byte 0xe9)"),
    (b"a: \xed\xa0\x80\n", "f.yaml:1: the file is not valid UTF-8"),  # an encoded surrogate
])
def test_other_encodings_are_refused_with_a_hint(data: bytes, expected: str) -> None:
    assert error(data).startswith(expected)


def test_a_str_with_a_lone_surrogate_is_a_yaml_error() -> None:
    assert "not valid Unicode" in error("a: \udc80\n")


@pytest.mark.parametrize(("text", "expected"), [
    ("d: 2026-13-01\n", "f.yaml:1: cannot read '2026-13-01' as timestamp: month must be"),
    ("n: " + "7" * 5000 + "\n", "as int: Exceeds the limit (4300 digits)"),
    ("a: !!timestamp soon\n", "f.yaml:1: cannot read 'soon' as timestamp"),
    ("a: *nowhere\n", "f.yaml:1: malformed YAML: found undefined alias 'nowhere'"),
    ("a: !!python/name:os.system x\n", "malformed YAML: could not determine a constructor"),
    ("? [a]\n: 1\n", "malformed YAML: found unhashable key"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2: malformed YAML: expected a single document in the stream "
     "but found another document"),
    ("a: [\n", "f.yaml:2: malformed YAML: "),
    ("a: b\x1b\n", "f.yaml:1: malformed YAML: character #x001b is not allowed"),
])
def test_values_the_constructor_cannot_build_are_located(text: str, expected: str) -> None:
    assert expected in error(text)


def test_the_size_is_capped_while_reading(tmp_path: Path) -> None:
    # /dev/zero never ends: the read stops one byte past the cap.
    with pytest.raises(YamlError, match="larger than 1024 bytes"):
        read_bytes(Path("/dev/zero"), max_bytes=1024)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n" + b"#" * 2000)
    with pytest.raises(YamlError, match=f"^{path}: the data file is larger than 1024 bytes"):
        read_bytes(path, what="the data file", max_bytes=1024)
    assert "larger than 16 bytes" in error("a: " + "x" * 20, max_bytes=16)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(YamlError, match="cannot read the file: No such file or directory"):
        read_bytes(tmp_path / "missing.yaml")
    with pytest.raises(YamlError, match="cannot read the file: Is a directory"):
        read_bytes(tmp_path)


def test_load_yaml_file_for_other_readers(tmp_path: Path) -> None:
    # The file collector's entry point: data only, and its error is a yaml.YAMLError.
    path = tmp_path / "d.yaml"
    path.write_text("findings:\n  - {id: F1}\n", encoding="utf-8")
    assert load_yaml_file(path) == {"findings": [{"id": "F1"}]}
    path.write_text("findings: []\nfindings: []\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError, match=r"d\.yaml:2: duplicate key 'findings'"):
        load_yaml_file(path)


def test_a_bomb_is_refused_in_milliseconds() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    started = time.monotonic()
    assert "aliases stand for" in error("\n".join(lines))
    assert time.monotonic() - started < 2


# -- no loader raises anything but its own error ------------------------------------------

_TOKENS = [
    b"&a ", b"*a", b"&b [*a, *a, *a]", b"<<: *a\n", b"[", b"]", b"{", b"}", b": ", b"\n  ",
    b"\n- ", b"- ", b"!!binary ", b"!!float ", b"!!int ", b"!!timestamp ", b"!!set ",
    b"!!omap ", b"!foo ", b"\xff", b"\x00", b"\xef\xbb\xbf", b"\xfe\xff", b"yes", b"on: ",
    b"~: ", b".inf", b"-.inf", b".nan", b"1e400", b"1.0e+400", b"9" * 400, b"-999999999d",
    b"999999999d", b"0001-01-01T00:00:00+14:00", b"9999-12-31T23:59:59-14:00", b"2026-02-30",
    b'"', b"'", b"%YAML 1.1\n", b"---\n", b"...\n", b"? ", b"|\n", b">-\n", b"#", b"\t",
    b"\\u0000", b"\"\\ud800\"", b"~nosuchuser/x", b"a{99999999999}", b"0 0 30 2 *",
    b"\r\n", b"\xe2\x80\xa8", b"null", b"collectors: []\n", b"{env: NOPE}", b"{file: /dev/null}",
]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        at = rng.randint(0, len(out))
        if choice < 0.35:
            out[at:at] = rng.choice(_TOKENS)
        elif choice < 0.5 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif choice < 0.65:
            del out[at:at + rng.randint(1, 40)]
        elif choice < 0.8:
            end = min(len(out), at + rng.randint(1, 200))
            out[at:at] = out[at:end]
        elif choice < 0.9:
            del out[at:]
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(out)


def _config_cases(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    seeds = [(REPO / "config.example.yaml").read_bytes(),
             (REPO / "tests" / "fixtures" / "e2e" / "config.yaml").read_bytes()]
    return [_mutate(rng.choice(seeds), rng) for _ in range(count)]


def test_mutated_configs_raise_only_config_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("DEVSECOPS_")]:
        monkeypatch.delenv(name)
    shutil.copytree(REPO / "demo", tmp_path / "demo")
    path = tmp_path / "config.yaml"
    outcomes = {"ok": 0, "error": 0}
    for index, data in enumerate(_config_cases(400, seed=20261202)):
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.problems and all(isinstance(p, str) for p in exc.problems)
            assert str(path) in str(exc)
            outcomes["error"] += 1
        except BaseException as exc:  # the point: nothing else gets here
            pytest.fail(f"case {index}: {type(exc).__name__}: {exc}\n{data[:2000]!r}")
        else:
            outcomes["ok"] += 1
    assert outcomes["error"] > 100 and outcomes["ok"] > 10, outcomes  # both paths exercised


def _maturity_cases(source: bytes, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [_mutate(source, rng) for _ in range(count)]


def test_mutated_rules_and_assessments_raise_only_maturity_config_error() -> None:
    rules_text = (REPO / "exporter" / "maturity" / "default_rules.yaml").read_bytes()
    assessments_text = (REPO / "demo" / "assessments.yaml").read_bytes()
    rules = default_rules()
    cases = [("rules", data) for data in _maturity_cases(rules_text, 150, seed=1)]
    cases += [("assessments", data) for data in _maturity_cases(assessments_text, 250, seed=2)]
    errors = 0
    for index, (which, data) in enumerate(cases):
        try:
            if which == "rules":
                parse_rules(data, "rules.yaml")
            else:
                parse_assessments(data, "a.yaml", rules)
        except MaturityConfigError as exc:
            assert exc.problems and all(isinstance(p, str) for p in exc.problems)
            errors += 1
        except BaseException as exc:
            pytest.fail(f"{which} case {index}: {type(exc).__name__}: {exc}\n{data[:2000]!r}")
    assert errors > 100


def test_hypothesis_bytes_raise_only_config_error(tmp_path: Path) -> None:
    """Arbitrary bytes (hypothesis is a test dependency: a missing one fails, not skips)."""
    import hypothesis
    from hypothesis import strategies
    path = tmp_path / "config.yaml"
    seed = (REPO / "config.example.yaml").read_bytes()[:1500]

    @hypothesis.settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @hypothesis.given(strategies.binary(max_size=400), strategies.integers(0, len(seed)))
    def check(noise: bytes, at: int) -> None:
        path.write_bytes(seed[:at] + noise + seed[at:])
        with contextlib.suppress(ConfigError):  # anything else fails the test
            load_config(path)

    check()
