"""The README's metric reference and commands stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from exporter.config import DEFAULT_PORT
from exporter.health import HealthBook
from exporter.snapshot import DERIVED_METRICS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_derived_metric_is_documented_with_its_labels() -> None:
    for metric in DERIVED_METRICS:
        row = next((line for line in README.splitlines()
                    if line.startswith(f"| `{metric.name}` |")), None)
        assert row is not None, f"{metric.name} missing from the README metric table"
        labels = set(metric.labels) | ({"quarter"} if metric.quarterly else set())
        for label in labels:
            assert f"`{label}`" in row.split("|")[2], (metric.name, label)


def test_every_health_metric_is_documented() -> None:
    book = HealthBook()
    book.configure([("c", "file", 60.0, 1.0)])
    book.reload.last_success = 1.0
    for family in book.families({}, 0.0):
        assert f"| `{family.name}` |" in README, family.name


def test_every_maturity_metric_is_documented() -> None:
    from exporter.assess import MATURITY_METRICS

    for name in MATURITY_METRICS:
        assert f"| `{name}` |" in README, name


def test_port_and_the_two_commands() -> None:
    assert f"**{DEFAULT_PORT}**" in README
    assert "pip install . && devsecops-exporter serve --config config.example.yaml" in README
    assert "bash scripts/test.sh" in README
