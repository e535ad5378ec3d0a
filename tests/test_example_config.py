"""Every commented source block in config.example.yaml validates once uncommented."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from exporter.config import load_config

REPO = Path(__file__).resolve().parents[1]
ENV = {name: "test-secret-value" for name in (
    "GITHUB_TOKEN", "JIRA_API_TOKEN", "JIRA_PAT", "SENTINEL_CLIENT_SECRET", "SPLUNK_TOKEN",
    "SPLUNK_PASSWORD", "ELASTIC_API_KEY", "ELASTIC_PASSWORD", "PAGERDUTY_API_KEY",
    "ENTRA_CLIENT_SECRET", "OKTA_API_TOKEN", "DEFECTDOJO_API_KEY", "MDE_CLIENT_SECRET",
    "FLEET_API_KEY")}


def commented_blocks(text: str) -> list[str]:
    """The '# - name:' blocks under collectors:, uncommented."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"^  # - name: ", line):
            blocks.append([])
        if blocks and line.startswith("  # ") and not line.startswith("  # ---"):
            blocks[-1].append("  " + line[4:])
        elif blocks and line.strip() == "":
            continue
    return ["\n".join(block) for block in blocks]


def test_example_has_a_block_per_real_source() -> None:
    text = (REPO / "config.example.yaml").read_text()
    types = {re.search(r"type: (\w+)", b).group(1) for b in commented_blocks(text)}
    assert types == {"github", "jira", "sentinel", "splunk", "elastic", "pagerduty", "entra",
                     "okta", "prowler", "securityhub", "defectdojo", "defender_endpoint",
                     "elastic_fleet"}


def test_uncommented_blocks_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    shutil.copytree(REPO / "demo", tmp_path / "demo")
    text = (REPO / "config.example.yaml").read_text()
    for block in commented_blocks(text):
        config = tmp_path / "config.yaml"
        config.write_text(text + "\n" + block + "\n")
        loaded = load_config(config)  # raises ConfigError naming the problem
        assert len(loaded.config.collectors) == 3  # demo, demo-scanners and the block
