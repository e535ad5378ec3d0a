"""The collector entry point: one run per organisation, every concern gathered."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.github.alerts import AlertsMixin
from collectors.github.api import (
    GitHubApi,
)
from collectors.github.common import Feature, _gather, _OrgRun
from collectors.github.config import STATE_VERSION, GitHubSettings
from collectors.github.gates import GatesMixin
from collectors.github.repositories import RepositoriesMixin
from collectors.github.sast import SastMixin
from collectors.github.supply_chain import (
    read_supply_chain,
)
from collectors.http import (
    decode_json,
)
from collectors.records import Finding, RecordKind, Repository
from collectors.settings import StrictModel


class GitHubCollector(RepositoriesMixin, AlertsMixin, GatesMixin, SastMixin, Collector):
    """Repositories and security alerts of GitHub organisations (module docstring)."""

    config_model: ClassVar[type[StrictModel]] = GitHubSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset(
        {RecordKind.FINDING, RecordKind.REPOSITORY, RecordKind.ARTIFACT})  # artifacts: opt-in
    settings: GitHubSettings

    # Injected by tests and the benchmark; production uses the defaults.
    transport: httpx.AsyncBaseTransport | None = None
    sleep: Callable[[float], Awaitable[None]] = staticmethod(asyncio.sleep)
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, name: str, settings: StrictModel) -> None:
        super().__init__(name, settings)
        self._reported: set[str] = set()
        self._logged_values: set[tuple[str, str]] = set()
        self._app_cache: dict[str, tuple[str, float]] = {}  # in memory only, never state
        self.last_api: GitHubApi | None = None

    def _api(self) -> GitHubApi:
        return GitHubApi(
            self.settings, sleep=self.sleep, transport=self.transport, clock=self.clock,
            app_cache=self._app_cache,
        )

    async def check(self, ctx: CollectContext) -> list[str]:
        """Cheap online check: credentials valid and each organisation readable."""
        problems: list[str] = []
        api = self._api()
        try:
            for org in self.settings.organizations:
                try:
                    response = await api.request("GET", f"orgs/{org}")
                    decode_json(response)
                except CollectorError as exc:
                    problems.append(f"organisation {org}: {exc} ({exc.kind.value})")
        finally:
            await api.aclose()
        return problems

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        settings = self.settings
        old = ctx.state if ctx.state.get("version") == STATE_VERSION else {}
        last_full = old.get("last_full_pass")
        full = last_full is None or (
            ctx.now - datetime.fromisoformat(last_full) >= settings.full_pass_interval
        )
        gate_at = old.get("gate_refreshed_at")
        refresh_gates = full or gate_at is None or (
            ctx.now - datetime.fromisoformat(gate_at) >= settings.gate_refresh
        )
        new_state: dict[str, Any] = {
            "version": STATE_VERSION,
            "last_full_pass": ctx.now.isoformat() if full else last_full,
            "gate_refreshed_at": ctx.now.isoformat() if refresh_gates else gate_at,
            "orgs": {},
        }
        result = CollectionResult()
        api = self._api()
        self.last_api = api
        complete_findings = full
        not_evaluated: set[str] = set()
        reconstructed: list[Repository] = []  # dated snapshots: not in the run's gauges
        try:
            for org in settings.organizations:
                org_old = (old.get("orgs") or {}).get(org, {})
                org_new: dict[str, Any] = {}
                run = await self._collect_org(
                    ctx, api, org, org_old, org_new, full=full, refresh_gates=refresh_gates,
                    errors=result.record_errors,
                )
                new_state["orgs"][org] = org_new
                not_evaluated |= run.sast_skipped
                reconstructed.extend(run.reconstructed)
                result.repositories.extend(self._repositories(ctx, run, result))
                result.findings.extend(run.findings)
                result.records_of(RecordKind.ARTIFACT).extend(  # supply_chain.attestations
                    a for supply in run.supply.values() for a in supply.artifacts)
                # Findings are the complete set only when every listing was read: a
                # listing that is refused or "not enabled" says nothing about its alerts.
                if any(f in (Feature.UNREADABLE, Feature.NOT_ENABLED)
                       for f in run.features.values()):
                    complete_findings = False
            if settings.cycle_time is not None:
                result.gauges.extend(await self._cycle_time(ctx, api, old, new_state))
        finally:
            await api.aclose()
        kinds = {RecordKind.REPOSITORY}
        if complete_findings:
            kinds.add(RecordKind.FINDING)
        result.complete = frozenset(kinds)
        result.state = new_state
        result.gauges.extend(self._gauges(api, result.repositories, not_evaluated))
        # First, so that a by-name view of the records keeps the current state (last).
        result.repositories[:0] = reconstructed
        retries = {k: v for k, v in api.retry_counts().items() if v}
        ctx.logger.info(
            "%s pass: %d repositories, %d findings, %d requests (%d answered 304, %d not "
            "sent: state unchanged), retries %s, %.0fs waited",
            "full" if full else "incremental", len(result.repositories), len(result.findings),
            api.client.stats.requests, api.not_modified, api.cache_hits, retries or "none",
            api.total_waited_seconds(),
        )
        return result

    # ------------------------------------------------------------------ one org

    async def _collect_org(
        self, ctx: CollectContext, api: GitHubApi, org: str, old: Mapping[str, Any],
        new: dict[str, Any], *, full: bool, refresh_gates: bool, errors: Counter[ErrorKind],
    ) -> _OrgRun:
        run = _OrgRun(org)
        new["cache"] = {}
        cache_old = old.get("cache") or {}
        # The repository listing and the alert listings do not depend on each other.
        results = await _gather(
            self._list_repositories(api, org, cache_old, new["cache"]),
            self._configurations(ctx, api, org, cache_old, new["cache"], run),
            self._alerts(ctx, api, run, "dependabot", old, new, full, errors),
            self._alerts(ctx, api, run, "code_scanning", old, new, full, errors),
            self._alerts(ctx, api, run, "secret_scanning", old, new, full, errors),
        )
        run.repos = []
        seen_ids: set[int] = set()
        for repo in results[0]:
            if "invalid" in repo:
                errors[ErrorKind.MALFORMED_RECORD] += 1
                ctx.logger.warning("skipping a repository of %s: %s", org, repo["invalid"])
            elif repo["id"] not in seen_ids and self._included(repo):
                # Page-number pagination can repeat an item when the list shifts.
                seen_ids.add(repo["id"])
                run.repos.append(repo)
        included = {r["full_name"] for r in run.repos}
        # An alert updated while its listing is paged can appear twice: the first copy
        # (sorted by updated, newest first) is the current one.
        unique: dict[str, Finding] = {}
        for finding in run.findings:
            if finding.asset in included:
                unique.setdefault(finding.id, finding)
        run.findings = list(unique.values())
        self._merge_seen(run, old, new, full)
        active = [r for r in run.repos if not r["archived"]]
        await _gather(
            self._gates(ctx, api, run, active, old, new, refresh_gates),
            self._sast(ctx, api, run, active, old, new, full),
        )
        if self.settings.supply_chain is not None:
            run.supply = await read_supply_chain(
                ctx, api, self.settings.supply_chain, org, active, old, new, errors,
                self._report_once, _gather, sleep=self.sleep, transport=self.transport)
        return run
