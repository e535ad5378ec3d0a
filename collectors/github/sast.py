"""SAST coverage: default setup, the latest code scanning analysis per repository,
workflow code search, and the previous quarter's end reconstructed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from collectors.base import (
    CollectContext,
    CollectorError,
    ErrorKind,
)
from collectors.github.api import (
    GitHubApi,
    decode_list,
)
from collectors.github.common import Feature, _gather, _match_any, _OrgRun
from collectors.github.config import PER_PAGE, GitHubSettings
from collectors.http import (
    decode_json,
    parse_link_header,
    parse_timestamp,
)
from collectors.records import Repository


class SastMixin:
    """Which active repositories count as SAST-covered."""

    settings: GitHubSettings
    _reported: set[str]
    _logged_values: set[tuple[str, str]]

    async def _sast(
        self, ctx: CollectContext, api: GitHubApi, run: _OrgRun, active: list[dict[str, Any]],
        old: Mapping[str, Any], new: dict[str, Any], full: bool,
    ) -> None:
        """Which active repositories count as SAST-covered, and by what.

        Most repositories have no code scanning analysis at all, and GitHub answers those
        404 (or 403 "not enabled") without an ETag, so they can never be a 304. That
        answer is remembered in the state (``no_analysis``) with what it depended on, and
        the repository is not asked again until the next full pass, a push (its
        ``pushed_at``), a change of its code security configuration, or a code scanning
        alert of a counted tool on it.

        The same answers also say whether each repository was covered at the end of the
        previous quarter (:meth:`_sast_at`); the decided ones become reconstructed, dated
        snapshots (``run.reconstructed``), kept in the state (``sast_history``) for the
        quarter so that a 304 keeps them.
        """
        sast = self.settings.sast
        wanted = sast.code_scanning_tools
        cache_old = old.get("cache") or {}
        cache_new = new["cache"]
        for repo in active:
            name = repo["full_name"]
            tools = run.sast_tools.setdefault(name, set())
            if (run.config_settings.get(name) or {}).get("default_setup"):
                tools.add("CodeQL (default setup)")
        if sast.workflow_search:
            await self._workflow_search(ctx, api, run, active)
        remembered = {} if full else (old.get("no_analysis") or {})
        no_analysis: dict[str, dict[str, Any]] = {}
        new["no_analysis"] = no_analysis
        prev_end = self._previous_quarter_end(ctx)
        basis = {"quarter_end": prev_end.isoformat(), "tools": sorted(wanted),
                 "max_age": sast.analysis_max_age.total_seconds()
                 if sast.analysis_max_age else None}
        history_old = old.get("sast_history") or {}
        decided_before: Mapping[str, Any] = (history_old.get("repos") or {}) if (
            history_old.get("basis") == basis) else {}
        decided: dict[str, dict[str, Any]] = {}
        new["sast_history"] = {"basis": basis, "repos": decided}
        probe: list[dict[str, Any]] = []
        for repo in active:
            name = repo["full_name"]
            if "CodeQL (default setup)" in run.sast_tools[name]:
                continue
            seen = {t for t in run.code_tools.get(name, set())
                    if not wanted or _match_any(t, wanted)}
            if sast.analysis_max_age is None:
                run.sast_tools[name] |= seen
                continue
            if sast.probe == "none" or (sast.probe == "alerted" and not seen):
                continue
            if repo["fork"] and not sast.probe_forks and not seen:
                run.sast_skipped.add(name)
                continue
            if not seen and remembered.get(name) == self._no_analysis_key(run, repo):
                no_analysis[name] = remembered[name]
                api.cache_hits += 1
                # Still no analysis: decided this quarter, or again from the 404 kept.
                earlier = (history_old.get("repos") or {}).get(name) or {}
                if name in decided_before:
                    decided[name] = decided_before[name]
                elif earlier.get("no_analysis"):
                    decided[name] = self._no_analysis_at(repo, prev_end)
                continue
            probe.append(repo)
        cutoff = ctx.now - sast.analysis_max_age if sast.analysis_max_age else None

        async def latest_analysis(repo: dict[str, Any]) -> None:
            name = repo["full_name"]
            before = decided_before.get(name)
            items, refused, page = await self._paged_first(
                api, f"repos/{name}/code-scanning/analyses", {"per_page": PER_PAGE},
                cache_old, cache_new, conditional=before is not None,
            )
            if before is not None:  # the past does not change: a known answer is kept
                decided[name] = before
            if refused is not None:
                feature = self._feature_from(ctx, refused, f"analyses:{run.org}",
                                             f"analyses:{run.org}")
                if feature is Feature.UNREADABLE:
                    run.sast_unknown.add(name)
                else:
                    no_analysis[name] = self._no_analysis_key(run, repo)
                    if refused.status_code == 404 and (
                            before is None or before.get("covered") is None):
                        decided[name] = self._no_analysis_at(repo, prev_end)
                return
            if page is not None and (before is None or before.get("covered") is None):
                covered, at_tools = self._sast_at(
                    page[0], complete=page[1], created_at=repo.get("created_at"),
                    prev_end=prev_end, max_age=sast.analysis_max_age, wanted=wanted)
                decided[name] = {"covered": covered, "tools": sorted(at_tools)}
            for analysis in items:
                tool = str((analysis.get("tool") or {}).get("name") or "")
                try:
                    when = parse_timestamp(analysis.get("created_at"))
                except ValueError:  # an analysis that cannot be dated shows no coverage
                    continue
                if (wanted and not _match_any(tool, wanted)) or when is None:
                    continue
                if cutoff is None or when >= cutoff:
                    run.sast_tools[name].add(tool)

        await _gather(*(latest_analysis(r) for r in probe))
        code_feature = run.features.get("code_scanning", Feature.UNREADABLE)
        for repo in active:
            name = repo["full_name"]
            if run.sast_tools[name] or name in run.sast_skipped:
                continue
            if code_feature in (Feature.UNREADABLE, Feature.SKIPPED) and (
                run.config_feature is not Feature.READ
            ):
                run.sast_unknown.add(name)
        run.reconstructed.extend(self._sast_snapshots(ctx, run, active, decided, prev_end))

    @staticmethod
    def _no_analysis_key(run: _OrgRun, repo: Mapping[str, Any]) -> dict[str, Any]:
        """What a remembered "no analysis" depends on: a push, or the repository's code
        security configuration (JSON-shaped, as it is kept in the state)."""
        conf = run.config_settings.get(repo["full_name"])
        return {"pushed_at": repo.get("pushed_at"), "configuration": dict(conf) if conf else None}

    async def _paged_first(
        self, api: GitHubApi, url: str, params: Mapping[str, Any],
        cache_old: Mapping[str, Any], cache_new: dict[str, Any], *, conditional: bool = True,
    ) -> tuple[list[dict[str, Any]], httpx.Response | None,
               tuple[list[dict[str, Any]], bool] | None]:
        """First page only, conditional: the newest analyses are all the probe needs.

        Returns (the newest 20 analyses, compacted as the cache keeps them; the refusing
        response on 403/404; and, when the page was read rather than answered 304, every
        analysis on it and whether it is the whole list, no ``next`` link). Unconditional
        (``conditional=False``) once a quarter per repository, so that the previous
        quarter's end is decided from the whole page, not the 20 the cache keeps.
        """
        key = url
        cached = cache_old.get(key)
        response = await api.request(
            "GET", url, params=params,
            etag=cached.get("etag") if cached and conditional else None,
            accept=frozenset({403, 404}),
        )
        if response.status_code in (403, 404):
            return [], response, None
        page: tuple[list[dict[str, Any]], bool] | None = None
        if response.status_code == 304 and cached:
            items = cached["items"]
        else:
            raw = decode_list(response)
            every = [
                {"tool": {"name": tool.get("name") if isinstance(tool, dict) else None},
                 "created_at": a.get("created_at")}
                for a in raw if isinstance(a, dict)
                for tool in [a.get("tool") or {}]  # a tool that is no object: no name
            ]
            items = every[:20]
            complete = parse_link_header(response.headers.get("Link")).get("next") is None
            page = (every, complete and len(every) == len(raw))
        etag = response.headers.get("ETag") or (cached or {}).get("etag")
        if etag:
            cache_new[key] = {"etag": etag, "items": items, "next": None}
        return items, None, page

    @staticmethod
    def _previous_quarter_end(ctx: CollectContext) -> datetime:
        """The end of the previous quarter (fiscal as the core configured it).

        The core's ``history_start`` is that quarter's start less a margin of under a
        month (``exporter.quarters.HISTORY_MARGIN``), so the quarter starts on the first
        month start at or after it, and ends three months later.
        """
        start = ctx.window_start(None)
        first = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        months = first.year * 12 + first.month - 1 + (0 if first == start else 1) + 3
        return first.replace(year=months // 12, month=months % 12 + 1)

    @staticmethod
    def _no_analysis_at(repo: Mapping[str, Any], prev_end: datetime) -> dict[str, Any]:
        """GitHub has no analysis for the repository: it had none at ``prev_end`` either,
        if it existed then (deleted analyses are indistinguishable: docs say so)."""
        try:
            created = parse_timestamp(repo.get("created_at"))
        except ValueError:
            created = None
        covered = False if created is not None and created < prev_end else None
        return {"covered": covered, "tools": [], "no_analysis": True}

    @staticmethod
    def _sast_at(items: list[dict[str, Any]], *, complete: bool, created_at: Any,
                 prev_end: datetime, max_age: timedelta | None, wanted: list[str],
                 ) -> tuple[bool | None, set[str]]:
        """Was the repository SAST-covered at ``prev_end``, by the current rule applied then?

        ``items`` is the newest analyses (newest first, as GitHub lists them), ``complete``
        whether they are all of them. Covered: an analysis of a counted tool created in
        ``[prev_end - max_age, prev_end]``. Not covered: none in that window while the
        analyses reach back before it (older than its start), or they are the whole list
        and the repository existed at ``prev_end``. Otherwise ``None``: unknown, never
        guessed (the page ends inside the window). An analysis that cannot be dated is
        no evidence either way, as for the current state.
        """
        if max_age is None:
            return None, set()
        start = prev_end - max_age
        tools: set[str] = set()
        oldest: datetime | None = None
        for analysis in items:
            tool = str((analysis.get("tool") or {}).get("name") or "")
            try:
                when = parse_timestamp(analysis.get("created_at"))
            except ValueError:
                when = None
            if when is None:
                continue
            oldest = when if oldest is None else min(oldest, when)
            if start <= when <= prev_end and (not wanted or _match_any(tool, wanted)):
                tools.add(tool)
        if tools:
            return True, tools
        if oldest is not None and oldest < start:
            return False, set()
        try:
            created = parse_timestamp(created_at)
        except ValueError:
            created = None
        if complete and created is not None and created < prev_end:
            return False, set()
        return None, set()

    def _sast_snapshots(self, ctx: CollectContext, run: _OrgRun, active: list[dict[str, Any]],
                        decided: Mapping[str, Mapping[str, Any]], prev_end: datetime,
                        ) -> list[Repository]:
        """The decided repositories as dated, reconstructed snapshots at ``prev_end``:
        SAST set, every other setting unknown. An undecided one gets none."""
        out: list[Repository] = []
        for repo in active:
            entry = decided.get(repo["full_name"]) or {}
            if entry.get("covered") is None:
                continue
            try:
                out.append(Repository(
                    id=str(repo["id"]), source=ctx.name, name=repo["full_name"],
                    fork=repo["fork"], sast_enabled=bool(entry["covered"]),
                    sast_tools=tuple(str(t) for t in entry.get("tools") or ()),
                    observed_at=prev_end - timedelta(seconds=1), reconstructed=True,
                ))
            except (ValueError, TypeError):  # its current record is skipped and counted
                continue
        return out

    async def _workflow_search(
        self, ctx: CollectContext, api: GitHubApi, run: _OrgRun, active: list[dict[str, Any]]
    ) -> None:
        names = {r["full_name"] for r in active}
        for term in self.settings.sast.workflow_search:
            url: str | None = "search/code"
            params: Mapping[str, Any] | None = {
                "q": f"{term} org:{run.org} path:.github/workflows", "per_page": PER_PAGE,
            }
            pages = 0
            while url is not None and pages < 10:  # code search returns 1,000 results at most
                pages += 1
                response = await api.request(
                    "GET", url, params=params, resource="code_search",
                    accept=frozenset({403, 404, 422}),
                )
                if response.status_code in (403, 404, 422):
                    self._report_once(ctx, f"search:{run.org}", response, f"search:{run.org}")
                    return
                body = decode_json(response)
                if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE, "search/code: bad shape")
                for hit in body["items"]:
                    found = hit.get("repository") if isinstance(hit, dict) else None
                    repo = found.get("full_name") if isinstance(found, dict) else None
                    if isinstance(repo, str) and repo in names:
                        run.sast_tools[repo].add(term)
                link_next = parse_link_header(response.headers.get("Link")).get("next")
                if link_next is not None and not api.same_host(link_next):
                    link_next = None
                url, params = link_next, None
