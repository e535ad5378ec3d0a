"""Shared fixtures: a fake collector type and a running exporter on loopback."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from collectors.base import CollectContext, CollectionResult, Collector, CollectorError, ErrorKind
from collectors.records import RecordKind
from collectors.settings import StrictModel
from exporter import config as config_module
from exporter import plugins

REPO = Path(__file__).resolve().parents[1]


class FakeSettings(StrictModel):
    label: str = "x"


class FakeCollector(Collector):
    """A scriptable collector: tests push results or errors into ``plan``."""

    config_model: ClassVar[type[StrictModel]] = FakeSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset(RecordKind)
    plan: ClassVar[list[CollectionResult | Exception]] = []
    calls: ClassVar[int] = 0

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        type(self).calls += 1
        step = self.plan.pop(0) if self.plan else CollectionResult()
        if isinstance(step, Exception):
            raise step
        return step


@pytest.fixture
def fake_collector(monkeypatch: pytest.MonkeyPatch) -> type[FakeCollector]:
    """Register collector type 'fake' alongside the entry points."""
    real = plugins.load_collector_class

    def load(type_name: str) -> type[Collector]:
        return FakeCollector if type_name == "fake" else real(type_name)

    monkeypatch.setattr(config_module, "load_collector_class", load)
    monkeypatch.setattr("exporter.app.load_collector_class", load)
    FakeCollector.plan = []
    FakeCollector.calls = 0
    return FakeCollector


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    """config.example.yaml and the demo data, copied so the store lands in tmp_path."""
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    shutil.copytree(REPO / "demo", tmp_path / "demo")
    return tmp_path / "config.yaml"


def collector_error(kind: ErrorKind = ErrorKind.SERVER) -> CollectorError:
    return CollectorError(kind, "GET api.example.test/x: HTTP 502")


@pytest.fixture
def serve() -> Iterator:
    """Start an ExporterServer on 127.0.0.1:<free port>; returns (exporter, base_url)."""
    from exporter.app import Exporter
    from exporter.config import load_config
    from exporter.server import ExporterServer

    started: list[tuple[Exporter, ExporterServer]] = []

    def start(config_path: Path, *, schedule: bool = False) -> tuple[Exporter, str]:
        exporter = Exporter(load_config(config_path))
        if schedule:
            exporter.start()
        server = ExporterServer(("127.0.0.1", 0), exporter)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((exporter, server))
        return exporter, f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for exporter, server in started:
        server.shutdown()
        server.server_close()
        exporter.stop()
