"""Review gates (GraphQL, 100 repositories a query) and the opt-in security gate
cycle time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collectors.base import (
    CollectContext,
    CollectorError,
    ErrorKind,
    SourceGauge,
)
from collectors.github.api import (
    GitHubApi,
    decode_list,
)
from collectors.github.common import _gather, _match_any, _OrgRun
from collectors.github.config import (
    GAUGE_CYCLE,
    GAUGE_CYCLE_SAMPLES,
    GRAPHQL_BATCH,
    PER_PAGE,
    GitHubSettings,
)
from collectors.http import (
    decode_json,
    parse_timestamp,
)

# The GraphQL query for review gates: 100 repositories a call. Validated in the tests
# against GitHub's published schema.
GATE_QUERY = """
query ReviewGates($ids: [ID!]!) {
  rateLimit { cost remaining resetAt }
  nodes(ids: $ids) {
    ... on Repository {
      id
      nameWithOwner
      defaultBranchRef {
        name
        branchProtectionRule {
          allowsDeletions
          allowsForcePushes
          requiresApprovingReviews
          requiredApprovingReviewCount
          requiresCodeOwnerReviews
          requiresStatusChecks
          requiredStatusCheckContexts
          dismissesStaleReviews
          isAdminEnforced
        }
        refUpdateRule {
          allowsDeletions
          allowsForcePushes
          requiredApprovingReviewCount
          requiredStatusCheckContexts
          requiresCodeOwnerReviews
        }
        rules(first: 100) {
          nodes {
            type
            parameters {
              ... on PullRequestParameters {
                requiredApprovingReviewCount
                requireCodeOwnerReview
                dismissStaleReviewsOnPush
              }
              ... on RequiredStatusChecksParameters {
                requiredStatusChecks { context }
              }
            }
            repositoryRuleset {
              databaseId
              enforcement
              bypassActors(first: 1) { totalCount }
            }
          }
        }
      }
    }
  }
}
""".strip()


@dataclass
class GateFacts:
    """What the default branch's protection and rules enforce, from every source."""

    force_push_blocked: bool = False
    deletion_blocked: bool = False
    reviews: int = 0
    status_checks: bool = False
    code_owner: bool = False
    dismiss_stale: bool = False
    admin_enforced: bool = False


def gate_tier(facts: GateFacts) -> int:
    """Score in tiers, each requiring all lower ones (see Repository's docstring)."""
    tier = 0
    if facts.force_push_blocked and facts.deletion_blocked:
        tier = 1
        if facts.reviews >= 1:
            tier = 2
            if facts.status_checks:
                tier = 3
                if facts.reviews >= 2 or facts.code_owner:
                    tier = 4
                    if facts.dismiss_stale and facts.admin_enforced:
                        tier = 5
    return tier


def tier_from_graphql(node: Mapping[str, Any], unreadable: set[str]) -> int | None:
    """Tier from one repository node of GATE_QUERY; ``unreadable`` names fields GraphQL
    refused (FORBIDDEN errors). ``None`` when neither protection view nor the rules could
    be read."""
    facts = gate_facts_from_graphql(node, unreadable)
    return None if facts is None else gate_tier(facts)


def gate_facts_from_graphql(node: Mapping[str, Any], unreadable: set[str]
                            ) -> GateFacts | None:
    """What the default branch enforces, from one GATE_QUERY node; ``None`` if unreadable.

    A node of the wrong shape raises AttributeError, TypeError, ValueError or
    OverflowError (``int()`` of a list, of text, of Infinity); the caller reads that
    repository's gate as unknown.

    ``reviews >= 1`` is the required-review share's test: an approving review required
    by classic protection or any active ruleset, whatever else the tier needs.
    """
    ref = node.get("defaultBranchRef")
    if ref is None:
        return None if "defaultBranchRef" in unreadable else GateFacts()  # empty repository
    facts = GateFacts()
    classic = ref.get("branchProtectionRule")
    update_rule = ref.get("refUpdateRule")
    classic_known = "branchProtectionRule" not in unreadable or "refUpdateRule" not in unreadable
    if classic:
        facts.force_push_blocked = not classic.get("allowsForcePushes", True)
        facts.deletion_blocked = not classic.get("allowsDeletions", True)
        if classic.get("requiresApprovingReviews"):
            facts.reviews = int(classic.get("requiredApprovingReviewCount") or 0)
        facts.code_owner = bool(classic.get("requiresCodeOwnerReviews"))
        facts.status_checks = bool(
            classic.get("requiresStatusChecks") and classic.get("requiredStatusCheckContexts")
        )
        facts.dismiss_stale = bool(classic.get("dismissesStaleReviews"))
        facts.admin_enforced = bool(classic.get("isAdminEnforced"))
    elif update_rule:
        # The non-admin view: it does not say whether stale reviews are dismissed or
        # admins are bound, so classic protection alone reaches at most tier 4 here.
        facts.force_push_blocked = not update_rule.get("allowsForcePushes", True)
        facts.deletion_blocked = not update_rule.get("allowsDeletions", True)
        facts.reviews = int(update_rule.get("requiredApprovingReviewCount") or 0)
        facts.code_owner = bool(update_rule.get("requiresCodeOwnerReviews"))
        facts.status_checks = bool(update_rule.get("requiredStatusCheckContexts"))
    rules_block = ref.get("rules")
    rules_known = rules_block is not None and "rules" not in unreadable
    if not classic_known and not rules_known:
        return None
    for rule in (rules_block or {}).get("nodes") or []:
        if not isinstance(rule, dict):
            continue
        rule_type = rule.get("type")
        params = rule.get("parameters") or {}
        ruleset = rule.get("repositoryRuleset") or {}
        bypass = (ruleset.get("bypassActors") or {}).get("totalCount")
        if rule_type == "NON_FAST_FORWARD":
            facts.force_push_blocked = True
        elif rule_type == "DELETION":
            facts.deletion_blocked = True
        elif rule_type == "REQUIRED_STATUS_CHECKS":
            if params.get("requiredStatusChecks"):
                facts.status_checks = True
        elif rule_type == "PULL_REQUEST":
            facts.reviews = max(facts.reviews, int(params.get("requiredApprovingReviewCount") or 0))
            facts.code_owner = facts.code_owner or bool(params.get("requireCodeOwnerReview"))
            facts.dismiss_stale = facts.dismiss_stale or bool(
                params.get("dismissStaleReviewsOnPush")
            )
            if bypass == 0:
                facts.admin_enforced = True
    return facts


def _graphql_unreadable(errors: list[Any]) -> dict[int, set[str]]:
    """Map node index -> the field GraphQL refused, from ``errors[].path``.

    Only the refused field itself is recorded: a refused detail deep in the rules (say
    a ruleset's ``bypassActors``, which needs admin) must not make the rules unknown."""
    out: dict[int, set[str]] = {}
    for error in errors:
        if not isinstance(error, dict):
            continue
        path = error.get("path")
        if not isinstance(path, list):
            continue
        if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
            names = [p for p in path[2:] if isinstance(p, str)]
            out.setdefault(path[1], set()).add(names[-1] if names else "node")
    return out



class GatesMixin:
    """Review gate tiers and the security gate cycle time."""

    settings: GitHubSettings
    _reported: set[str]
    _logged_values: set[tuple[str, str]]

    async def _gates(
        self, ctx: CollectContext, api: GitHubApi, run: _OrgRun, active: list[dict[str, Any]],
        old: Mapping[str, Any], new: dict[str, Any], refresh: bool,
    ) -> None:
        kept = old.get("tiers") or {}
        kept_reviews = old.get("required_review") or {}
        todo = [r for r in active if r.get("node_id")]
        if not refresh:
            missing = [r for r in todo if r["full_name"] not in kept]
            for repo in todo:
                if repo["full_name"] in kept:
                    run.tiers[repo["full_name"]] = kept[repo["full_name"]]
                    run.reviews[repo["full_name"]] = kept_reviews.get(repo["full_name"])
            todo = missing

        async def batch(repos: list[dict[str, Any]]) -> None:
            body = await api.graphql(GATE_QUERY, {"ids": [r["node_id"] for r in repos]})
            data = body.get("data")
            nodes = data.get("nodes") if isinstance(data, dict) else None
            if not isinstance(nodes, list) or len(nodes) != len(repos):
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE, "GraphQL: nodes do not match the ids sent"
                )
            errors = body.get("errors")
            refused = _graphql_unreadable(errors if isinstance(errors, list) else [])
            if refused:
                self._report_once_text(
                    ctx, f"gates:{run.org}",
                    "GitHub GraphQL refused branch protection fields for some repositories "
                    "(classic protection needs admin; refUpdateRule and rules need read)",
                )
            for index, (repo, node) in enumerate(zip(repos, nodes, strict=True)):
                if not isinstance(node, dict):
                    run.tiers[repo["full_name"]] = None
                    continue
                try:
                    facts = gate_facts_from_graphql(node, refused.get(index, set()))
                except (AttributeError, TypeError, ValueError, OverflowError):
                    # A node of the wrong shape (rules a list, a review count an object):
                    # that repository's gate is unknown, like a node that is no object.
                    ctx.logger.warning("GitHub GraphQL: unreadable branch protection of %s",
                                       repo["full_name"])
                    facts = None
                run.tiers[repo["full_name"]] = None if facts is None else gate_tier(facts)
                run.reviews[repo["full_name"]] = None if facts is None else facts.reviews >= 1

        await _gather(*(batch(todo[i:i + GRAPHQL_BATCH])
                        for i in range(0, len(todo), GRAPHQL_BATCH)))
        new["tiers"] = {name: run.tiers.get(name) for name in (r["full_name"] for r in active)
                        if name in run.tiers}
        new["required_review"] = {name: run.reviews.get(name)
                                  for name in (r["full_name"] for r in active)
                                  if name in run.reviews}

    # ---------------------------------------------------------- cycle time

    async def _cycle_time(
        self, ctx: CollectContext, api: GitHubApi, old: Mapping[str, Any], new: dict[str, Any],
    ) -> list[SourceGauge]:
        """Mean seconds from a merged PR's head commit push (the first check run to start on
        it) to the last matching security check run completing successfully."""
        assert self.settings.cycle_time is not None
        conf = self.settings.cycle_time
        cache_old = old.get("cycle_cache") or {}
        cache_new: dict[str, Any] = {}
        samples: list[float] = []

        async def repo_samples(full_name: str) -> None:
            key = f"repos/{full_name}/pulls"
            cached = cache_old.get(key)
            response = await api.request(
                "GET", key,
                params={"state": "closed", "sort": "updated", "direction": "desc",
                        "per_page": min(100, conf.pull_requests * 3)},
                etag=cached.get("etag") if cached else None, accept=frozenset({403, 404}),
            )
            if response.status_code in (403, 404):
                self._report_once(ctx, f"pulls:{full_name}", response, f"pulls:{full_name}")
                return
            if response.status_code == 304 and cached:
                shas = cached["items"]
            else:
                shas = [
                    p["head"]["sha"] for p in decode_list(response)
                    if isinstance(p, dict) and p.get("merged_at")
                ][: conf.pull_requests]
            if response.headers.get("ETag"):
                cache_new[key] = {"etag": response.headers["ETag"], "items": shas}
            for sha in shas:
                value = await self._check_runs_cycle(api, full_name, sha, cache_old, cache_new)
                if value is not None:
                    samples.append(value)

        await _gather(*(repo_samples(r) for r in conf.repositories))
        new["cycle_cache"] = cache_new
        gauges = [SourceGauge(
            GAUGE_CYCLE_SAMPLES,
            "Merged pull requests sampled for the security gate cycle time in the last run",
            float(len(samples)),
        )]
        if samples:
            gauges.append(SourceGauge(
                GAUGE_CYCLE,
                "Mean seconds from a merged pull request's head commit entering CI (first "
                "check run started) to its last security check run passing, over the "
                "sampled pull requests of the last collection run",
                sum(samples) / len(samples),
            ))
        return gauges

    async def _check_runs_cycle(
        self, api: GitHubApi, full_name: str, sha: str,
        cache_old: Mapping[str, Any], cache_new: dict[str, Any],
    ) -> float | None:
        key = f"repos/{full_name}/commits/{sha}/check-runs"
        cached = cache_old.get(key)
        response = await api.request(
            "GET", key, params={"per_page": PER_PAGE, "filter": "latest"},
            etag=cached.get("etag") if cached else None, accept=frozenset({403, 404}),
        )
        if response.status_code in (403, 404):
            return None
        if response.status_code == 304 and cached:
            value = cached["items"]
        else:
            body = decode_json(response)
            runs = body.get("check_runs") if isinstance(body, dict) else None
            if not isinstance(runs, list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{key}: bad shape")
            value = security_cycle_seconds(runs, self.settings.cycle_time.checks)  # type: ignore[union-attr]
        if response.headers.get("ETag"):
            cache_new[key] = {"etag": response.headers["ETag"], "items": value}
        return value


def security_cycle_seconds(runs: list[Any], patterns: list[str]) -> float | None:
    """Seconds from the first check run starting on a commit to the last matching security
    check completing; ``None`` unless every matching check concluded successfully."""
    starts = [parse_timestamp(r.get("started_at")) for r in runs if isinstance(r, dict)]
    starts = [s for s in starts if s is not None]
    security = [r for r in runs if isinstance(r, dict) and _match_any(str(r.get("name")), patterns)]
    if not starts or not security:
        return None
    ends = []
    for run in security:
        if run.get("status") != "completed" or run.get("conclusion") not in (
            "success", "neutral", "skipped"
        ):
            return None
        end = parse_timestamp(run.get("completed_at"))
        if end is None:
            return None
        ends.append(end)
    return max(0.0, (max(ends) - min(starts)).total_seconds())
