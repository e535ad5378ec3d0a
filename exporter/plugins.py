"""Collector discovery through Python entry points.

Built-in collectors are registered in this project's ``pyproject.toml`` under the
``devsecops_exporter.collectors`` group, exactly like a third-party package would
register its own, so there is a single discovery path.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from collectors.base import Collector

ENTRY_POINT_GROUP = "devsecops_exporter.collectors"


class PluginError(Exception):
    """A collector type that is unknown or cannot be loaded."""


@cache
def available_collectors() -> dict[str, str]:
    """Map collector type name to its ``module:Class`` reference, without importing."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_collector_class(type_name: str) -> type[Collector]:
    """Import the collector class registered under ``type_name``."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == type_name]
    if not matches:
        known = ", ".join(sorted(available_collectors())) or "none (is the package installed?)"
        raise PluginError(f"unknown collector type {type_name!r}; installed types: {known}")
    try:
        cls = matches[0].load()
    except Exception as exc:  # a broken third-party plugin must not read as "unknown"
        raise PluginError(f"collector type {type_name!r} failed to load: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Collector)):
        raise PluginError(f"entry point {type_name!r} is not a Collector subclass")
    return cls
