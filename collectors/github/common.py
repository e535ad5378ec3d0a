"""Helpers every concern of the GitHub collector shares: what a listing's outcome
was, name matching, one organisation's run, and concurrent gathering."""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from collectors.base import (
    CollectorError,
)
from collectors.github.supply_chain import (
    RepoSupplyChain,
)
from collectors.records import Finding, Repository


class Feature(StrEnum):
    """Outcome of reading an optional org-level listing."""

    READ = "read"
    NOT_ENABLED = "not_enabled"  # the feature is off: settings False, alerts unknown
    UNREADABLE = "unreadable"  # a permission is missing: settings None, alerts unknown
    SKIPPED = "skipped"  # switched off in the config


def _match_any(value: str, patterns: Iterable[str]) -> bool:
    low = value.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def _status_of(saa: Any, key: str) -> bool | None:
    if not isinstance(saa, dict):
        return None
    entry = saa.get(key)
    if isinstance(entry, dict) and entry.get("status") in ("enabled", "disabled"):
        return entry["status"] == "enabled"
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]



@dataclass
class _OrgRun:
    """Everything one organisation's run learns; merged into records at the end."""

    org: str
    repos: list[dict[str, Any]] = field(default_factory=list)
    config_settings: dict[str, dict[str, bool | None]] = field(default_factory=dict)
    config_feature: Feature = Feature.UNREADABLE
    features: dict[str, Feature] = field(default_factory=dict)
    dependabot_repos: set[str] = field(default_factory=set)
    secret_repos: set[str] = field(default_factory=set)
    code_tools: dict[str, set[str]] = field(default_factory=dict)
    tiers: dict[str, int | None] = field(default_factory=dict)
    reviews: dict[str, bool | None] = field(default_factory=dict)  # required_review
    sast_tools: dict[str, set[str]] = field(default_factory=dict)
    sast_unknown: set[str] = field(default_factory=set)
    sast_skipped: set[str] = field(default_factory=set)  # forks not probed: not evaluated
    findings: list[Finding] = field(default_factory=list)
    supply: dict[str, RepoSupplyChain] = field(default_factory=dict)  # supply_chain on
    reconstructed: list[Repository] = field(default_factory=list)  # previous quarter's end




async def _gather(*coros: Awaitable[Any]) -> list[Any]:
    """Run concurrently; on the first failure cancel the rest and raise that error."""
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]  # type: ignore[arg-type]
    except BaseExceptionGroup as group_error:
        for exc in group_error.exceptions:
            if isinstance(exc, CollectorError):
                raise exc from None
        raise group_error.exceptions[0] from None
    return [t.result() for t in tasks]
