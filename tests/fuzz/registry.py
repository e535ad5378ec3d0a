"""Every fuzz target by name, for tests/test_fuzz_parsers.py and
benchmarks/fuzz_bench.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.api import World, api_examples, check_api, prepared
from tests.fuzz.loaders import (
    YAML_SNIPPETS,
    _maturity_check,
    check_config,
    check_data,
    check_scan,
    config_seeds,
    data_mutations,
    file_mutations,
    maturity_seeds,
    scan_mutations,
)
from tests.fuzz.worlds import (
    _elastic_world,
    _entra_world,
    _github_world,
    _jira_world,
    _okta_world,
    _pagerduty_world,
    _sentinel_world,
    _splunk_world,
)

# -- the registry: every target, for these tests and benchmarks/fuzz_bench.py -------------------

WORLD_BUILDERS: dict[str, Callable[[], World]] = {
    "github": _github_world,
    "jira-cloud": lambda: _jira_world("cloud"),
    "jira-datacenter": lambda: _jira_world("datacenter"),
    "sentinel": _sentinel_world,
    "splunk-export": lambda: _splunk_world("export"),
    "splunk-job": lambda: _splunk_world("job"),
    "elastic-elasticsearch": lambda: _elastic_world("elasticsearch"),
    "elastic-kibana": lambda: _elastic_world("kibana"),
    "pagerduty-incidents": lambda: _pagerduty_world("incidents"),
    "pagerduty-analytics": lambda: _pagerduty_world("analytics"),
    "entra": _entra_world,
    "okta": _okta_world,
}
_WORLDS: dict[str, World] = {}


def world(name: str) -> World:
    if name not in _WORLDS:
        _WORLDS[name] = prepared(WORLD_BUILDERS[name]())
    return _WORLDS[name]


@dataclass(frozen=True)
class Target:
    """One fuzzed entry point and input shape: what to draw, how to judge it."""

    name: str
    strategy: Callable[[], st.SearchStrategy[Any]]
    check: Callable[[Any], str]  # raises on a broken property; returns the outcome label
    parser: str = ""  # the collector or loader it exercises (the benchmark's unit)


MODES = ("json", "field", "truncate")
TARGETS: dict[str, Target] = {}
for _name in WORLD_BUILDERS:
    for _mode in MODES:
        TARGETS[f"{_name}/{_mode}"] = Target(
            f"{_name}/{_mode}",
            lambda n=_name, m=_mode: api_examples(world(n), m),
            lambda example, n=_name: check_api(world(n), example), _name.split("-")[0])

TARGETS["config"] = Target(
    "config", lambda: file_mutations(config_seeds(), YAML_SNIPPETS), check_config, "config")
for _which in ("rules", "assessments"):
    TARGETS[f"maturity-{_which}"] = Target(
        f"maturity-{_which}", lambda w=_which: file_mutations(maturity_seeds(w), YAML_SNIPPETS),
        _maturity_check(_which), f"maturity-{_which}")
TARGETS["file-collector"] = Target("file-collector", data_mutations, check_data,
                                   "file-collector")
for _scan in ("prowler", "reports"):
    TARGETS[_scan] = Target(_scan, lambda n=_scan: scan_mutations(n),
                            lambda example, n=_scan: check_scan(n, example), _scan)

