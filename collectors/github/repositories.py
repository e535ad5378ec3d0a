"""Repositories and their settings: the listing (conditional, cached), code security
configurations, filters, permission reports, the Repository records and the gauges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from collectors.base import (
    CollectContext,
    CollectionResult,
    CollectorError,
    ErrorKind,
    SourceGauge,
)
from collectors.github.api import (
    GitHubApi,
    decode_list,
    fail,
    message_of,
)
from collectors.github.common import Feature, _as_list, _gather, _match_any, _OrgRun, _status_of
from collectors.github.config import (
    _NOT_ENABLED_MARKERS,
    GAUGE_RATE_LIMIT,
    GAUGE_RETRIES,
    GAUGE_RETRY_WAIT,
    GAUGE_TIER,
    GAUGE_UNREADABLE,
    MAX_PAGES,
    PER_PAGE,
    PERMISSION_HINTS,
    GitHubSettings,
)
from collectors.github.supply_chain import (
    RepoSupplyChain,
)
from collectors.http import (
    describe,
    parse_link_header,
)
from collectors.records import Repository


def compact_repository(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a minimal-repository this collector uses (kept in the ETag cache).

    A required field of the wrong type raises TypeError like a missing one raises
    KeyError (the caller skips and counts the repository): the name filters call string
    methods on the names, and the id is kept in a set.
    """
    saa = raw.get("security_and_analysis")
    repo_id, full_name, name = raw["id"], raw["full_name"], raw["name"]
    if not isinstance(repo_id, int) or isinstance(repo_id, bool):
        raise TypeError("'id' (not a number)")
    if not (isinstance(full_name, str) and full_name and isinstance(name, str) and name):
        raise TypeError("'name' or 'full_name' (not text)")
    return {
        "id": repo_id,
        # a node id that is not text can only be sent back to GraphQL as garbage: the
        # repository's review gate is then unknown
        "node_id": raw.get("node_id") if isinstance(raw.get("node_id"), str) else None,
        "full_name": full_name,
        "name": name,
        "archived": bool(raw.get("archived", False)),
        "fork": bool(raw["fork"]),
        "topics": [str(t) for t in raw.get("topics") or []],
        "default_branch": raw.get("default_branch"),
        "pushed_at": raw.get("pushed_at"),
        "created_at": raw.get("created_at"),  # SAST at the previous quarter's end
        # public on github.com: the only repositories whose names go to the Scorecard API
        "public": raw.get("private") is False and raw.get("visibility") in (None, "public"),
        "secret_scanning": _status_of(saa, "secret_scanning"),
        "push_protection": _status_of(saa, "secret_scanning_push_protection"),
        "properties": {
            str(k): v for k, v in (raw.get("custom_properties") or {}).items()
        },
    }


def _attached_names(items: list[Any]) -> list[str]:
    """``repository.full_name`` of each repository attached to a configuration.

    A name that is no text raises TypeError, as a missing one raises KeyError: the
    page's items lack a required field (malformed_response), never a crash on a set key.
    """
    names = [r["repository"]["full_name"] for r in items]
    if not all(isinstance(name, str) for name in names):
        raise TypeError("'full_name' (not text)")
    return names



class RepositoriesMixin:
    """Listing repositories and their configurations; records and gauges."""

    settings: GitHubSettings
    _reported: set[str]
    _logged_values: set[tuple[str, str]]

    def _included(self, repo: Mapping[str, Any]) -> bool:
        s = self.settings
        names = (repo["name"], repo["full_name"])
        if not any(_match_any(n, s.include_repositories) for n in names):
            return False
        if any(_match_any(n, s.exclude_repositories) for n in names):
            return False
        topics = {t.lower() for t in repo["topics"]}
        if s.include_topics and not topics & {t.lower() for t in s.include_topics}:
            return False
        if topics & {t.lower() for t in s.exclude_topics}:
            return False
        for prop, allowed in s.include_properties.items():
            values = _as_list(repo["properties"].get(prop))
            if not any(_match_any(v, allowed) for v in values):
                return False
        return True

    async def _paged(
        self, api: GitHubApi, url: str, params: Mapping[str, Any] | None,
        cache_old: Mapping[str, Any] | None, cache_new: dict[str, Any] | None,
        transform: Callable[[list[Any]], Any], *, accept: frozenset[int] = frozenset(),
    ) -> tuple[list[Any], httpx.Response | None]:
        """Follow Link ``next`` pages; with caches, each page is requested conditionally
        and a 304 reuses the page's cached (transformed) items and next link.

        Returns (transformed items of every page, or the first response when its status
        is in ``accept``)."""
        out: list[Any] = []
        seen: set[str] = set()
        next_url: str | None = url
        next_params = params
        pages = 0
        while next_url is not None:
            pages += 1
            key = next_url + ("?" + "&".join(f"{k}={v}" for k, v in next_params.items())
                              if next_params else "")
            if key in seen or pages > MAX_PAGES:
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE, f"pagination of {url} does not end"
                )
            seen.add(key)
            cached = (cache_old or {}).get(key)
            response = await api.request(
                "GET", next_url, params=next_params,
                etag=cached.get("etag") if cached else None, accept=accept,
            )
            if response.status_code in accept:
                if pages > 1:
                    raise fail(response)
                return out, response
            if response.status_code == 304 and cached is not None:
                items, link_next = cached["items"], cached.get("next")
            elif response.status_code == 304:
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE, f"{url}: 304 for an unconditional request"
                )
            else:
                try:
                    items = transform(decode_list(response))
                except (KeyError, TypeError, AttributeError):
                    raise CollectorError(
                        ErrorKind.MALFORMED_RESPONSE,
                        f"{describe('GET', response.request.url)}: items lack required fields",
                    ) from None
                link_next = parse_link_header(response.headers.get("Link")).get("next")
            new_etag = response.headers.get("ETag") or (cached or {}).get("etag")
            if cache_new is not None and new_etag:
                cache_new[key] = {"etag": new_etag, "items": items, "next": link_next}
            out.extend(items)
            if link_next is not None and not api.same_host(link_next):
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE, f"{url}: Link header points to another host"
                )
            next_url, next_params = link_next, None
        return out, None

    async def _list_repositories(
        self, api: GitHubApi, org: str, cache_old: Mapping[str, Any], cache_new: dict[str, Any]
    ) -> list[dict[str, Any]]:
        def compact(items: list[Any]) -> list[dict[str, Any]]:
            # A repository GitHub sends without a required field is kept as a marker
            # (cached with its page) so it is skipped and counted on every run.
            out: list[dict[str, Any]] = []
            for position, item in enumerate(items):
                try:
                    out.append(compact_repository(item))
                except (KeyError, TypeError, AttributeError) as exc:
                    out.append({"invalid": f"item {position}: missing or bad {exc}"})
            return out

        repos, _ = await self._paged(
            api, f"orgs/{org}/repos", {"type": "all", "per_page": PER_PAGE},
            cache_old, cache_new, compact,
        )
        return repos

    def _report_once(
        self, ctx: CollectContext, key: str, response: httpx.Response, what: str
    ) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        needed = (
            response.headers.get("X-Accepted-GitHub-Permissions")
            or response.headers.get("X-Accepted-OAuth-Scopes")
            or PERMISSION_HINTS.get(what.split(":")[0], "")
        )
        ctx.logger.warning(
            "GitHub %s: HTTP %d (%s): the token lacks a permission (GitHub answers 404 "
            "where it hides a resource); it needs %s. Reported once; what this gives is "
            "published as unreadable and findings are not treated as complete.",
            what, response.status_code, message_of(response) or "no message", needed,
        )

    def _feature_from(
        self, ctx: CollectContext, response: httpx.Response, what: str, key: str
    ) -> Feature:
        message = message_of(response).lower()
        if any(marker in message for marker in _NOT_ENABLED_MARKERS):
            if f"not-enabled:{key}" not in self._reported:
                self._reported.add(f"not-enabled:{key}")
                ctx.logger.info("GitHub %s: not enabled (%s)", what, message_of(response))
            return Feature.NOT_ENABLED
        self._report_once(ctx, key, response, what)
        return Feature.UNREADABLE

    async def _configurations(
        self, ctx: CollectContext, api: GitHubApi, org: str, cache_old: Mapping[str, Any],
        cache_new: dict[str, Any], run: _OrgRun,
    ) -> None:
        """Code security configurations and their attached repositories."""

        def compact(items: list[Any]) -> list[dict[str, Any]]:
            keys = ("code_scanning_default_setup", "secret_scanning",
                    "secret_scanning_push_protection", "dependabot_alerts")
            return [{"id": c["id"], **{k: c.get(k) for k in keys}} for c in items]

        configs, refused = await self._paged(
            api, f"orgs/{org}/code-security/configurations", {"per_page": PER_PAGE},
            cache_old, cache_new, compact, accept=frozenset({403, 404}),
        )
        if refused is not None:
            run.config_feature = self._feature_from(
                ctx, refused, f"configurations:{org}", f"configurations:{org}"
            )
            return
        run.config_feature = Feature.READ

        def state(value: Any) -> bool | None:
            # Anything but the two documented strings (an object, a list) is unknown.
            return {"enabled": True, "disabled": False}.get(value) if isinstance(
                value, str) else None

        async def attached(config: Mapping[str, Any]) -> None:
            repos, refused = await self._paged(
                api, f"orgs/{org}/code-security/configurations/{config['id']}/repositories",
                {"per_page": PER_PAGE, "status": "attached,enforced"},
                cache_old, cache_new,
                _attached_names,
                accept=frozenset({403, 404}),
            )
            if refused is not None:
                run.config_feature = self._feature_from(
                    ctx, refused, f"configurations:{org}", f"configurations:{org}"
                )
                return
            for full_name in repos:
                run.config_settings[full_name] = {
                    "default_setup": state(config["code_scanning_default_setup"]),
                    "secret_scanning": state(config["secret_scanning"]),
                    "push_protection": state(config["secret_scanning_push_protection"]),
                    "dependency_alerts": state(config["dependabot_alerts"]),
                }

        await _gather(*(attached(c) for c in configs))


    def _report_once_text(self, ctx: CollectContext, key: str, text: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            ctx.logger.warning("%s", text)

    # ------------------------------------------------------------ records

    def _repositories(
        self, ctx: CollectContext, run: _OrgRun, result: CollectionResult
    ) -> list[Repository]:
        out: list[Repository] = []
        dep = run.features.get("dependabot")
        sec = run.features.get("secret_scanning")
        for repo in run.repos:
            name = repo["full_name"]
            conf = run.config_settings.get(name) or {}
            secret = repo["secret_scanning"]
            if secret is None:
                secret = conf.get("secret_scanning")
            if secret is None and name in run.secret_repos:
                secret = True
            if secret is None and sec is Feature.NOT_ENABLED:
                secret = False
            push = repo["push_protection"]
            if push is None:
                push = conf.get("push_protection")
            deps = conf.get("dependency_alerts")
            if deps is None and name in run.dependabot_repos:
                deps = True
            if deps is None and dep is Feature.NOT_ENABLED:
                deps = False
            tools = tuple(sorted(run.sast_tools.get(name, set())))
            supply = run.supply.get(name) or RepoSupplyChain()
            sast_enabled: bool | None = None
            if not repo["archived"] and name not in run.sast_skipped:
                sast_enabled = True if tools else (None if name in run.sast_unknown else False)
            try:
                out.append(Repository(
                    id=str(repo["id"]),
                    source=ctx.name,
                    name=name,
                    archived=repo["archived"],
                    fork=repo["fork"],
                    sast_enabled=sast_enabled,
                    sast_tools=tools,
                    review_gate_tier=run.tiers.get(name),
                    required_review=run.reviews.get(name),
                    secret_scanning=secret,
                    push_protection=push,
                    dependency_alerts=deps,
                    topics=tuple(repo["topics"]),
                    sbom=supply.sbom,
                    pinned_actions=supply.pinned_actions,
                    egress_control=supply.egress_control,
                    scorecard_score=supply.scorecard_score,
                ))
            except (ValueError, TypeError) as exc:
                result.record_errors[ErrorKind.MALFORMED_RECORD] += 1
                ctx.logger.warning("skipping repository %s: %s", name, exc)
        return out

    def _gauges(
        self, api: GitHubApi, repos: list[Repository], not_evaluated: set[str]
    ) -> list[SourceGauge]:
        gauges = [
            SourceGauge(
                GAUGE_RATE_LIMIT,
                "GitHub API requests left in the current rate-limit window, summed over the "
                "configured tokens, as seen by the last collection run",
                float(remaining), (("resource", resource),),
            )
            for resource, remaining in sorted(api.credentials.remaining_by_resource().items())
        ]
        active = [r for r in repos if not r.archived]
        unreadable = {
            "sast": sum(r.sast_enabled is None and r.name not in not_evaluated for r in active),
            "review_gate": sum(r.review_gate_tier is None for r in active),
            "secret_scanning": sum(r.secret_scanning is None for r in active),
            "push_protection": sum(r.push_protection is None for r in active),
            "dependency_alerts": sum(r.dependency_alerts is None for r in active),
        }
        gauges.extend(
            SourceGauge(
                GAUGE_UNREADABLE,
                "Active repositories whose setting could not be read (missing permission or "
                "API unavailable) in the last collection run",
                float(count), (("setting", setting),),
            )
            for setting, count in unreadable.items()
        )
        tiers = Counter(r.review_gate_tier for r in active if r.review_gate_tier is not None)
        gauges.extend(
            SourceGauge(
                GAUGE_TIER,
                "Active repositories at each review gate tier (0-5) of their default branch",
                float(tiers.get(tier, 0)), (("tier", str(tier)),),
            )
            for tier in range(6)
        )
        gauges.extend(
            SourceGauge(
                GAUGE_RETRIES,
                "Requests retried in the last collection run, by why: transient (5xx, "
                "timeout, network), rate_limit (secondary limit or 429 waited out), "
                "token_exhausted (a token's budget was spent; the request moved to the next "
                "token), reset_wait (every token at its reserve; waited for the reset)",
                float(count), (("kind", kind),),
            )
            for kind, count in api.retry_counts().items()
        )
        gauges.append(SourceGauge(
            GAUGE_RETRY_WAIT,
            "Seconds the last collection run spent waiting before retries (backoff and "
            "rate-limit waits)",
            api.total_waited_seconds(),
        ))
        return gauges
