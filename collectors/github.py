"""The ``github`` collector: repositories' security settings and security alerts.

What one run does, per configured organisation (docs/collectors/github.md has the
user-facing version):

1. ``GET /orgs/{org}/repos`` (100 a page, Link pagination, conditional requests: an
   unchanged page answers 304 and its cached, compacted content is reused).
2. Code security configurations (``/orgs/{org}/code-security/configurations`` and the
   repositories attached to each): default-setup code scanning, secret scanning, push
   protection and Dependabot alerts without one call per repository.
3. The three organisation alert listings, sorted by ``updated`` descending. An
   incremental run stops at the previous run's watermark (and a 304 on the first page
   means nothing changed); every ``full_pass_interval`` a full pass lists everything
   and returns findings as the complete set, which catches what a watermark misses
   (deleted repositories, transferred alerts).
4. GraphQL, 100 repositories a query (``nodes(ids:)``): classic branch protection (or
   its non-admin view ``refUpdateRule``) and the active ruleset rules (repository and
   organisation rulesets, already filtered by GitHub to the default branch) of each
   active repository's default branch, scored into a review gate tier. GraphQL is POST
   only and cannot be answered 304, so it is re-read every ``gate_refresh`` and on every
   full pass; in between the tiers kept in the state are reused.
5. Per-repository REST only where nothing else gives the fact: the latest code scanning
   analysis (``sast.probe``; a "no analysis" answer is remembered until something
   suggests it changed) and, opt-in, recent pull requests' check runs for the security
   gate cycle time.

6. Opt-in ``supply_chain``: per active repository pushed since its facts were read, the
   dependency graph SBOM export and the ``.github/workflows`` files (conditional), for
   ``sbom``, ``pinned_actions`` and ``egress_control`` (``collectors/github_supply_chain.py``).

Tokens, rate-limit budgets and retries live in ``collectors/github_api.py``.

Secrets: secret scanning alerts are always listed with ``hide_secret=true`` and no
field that could carry a secret value is ever read. Tokens are sent per request and
never logged, stored in the state, or put into an error message.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
    SourceGauge,
)
from collectors.github_api import (
    GitHubApi,
    decode_list,
    fail,
    github_rate_limit_hook,
    make_app_jwt,
    message_of,
    require_cryptography,
)
from collectors.github_supply_chain import (
    RepoSupplyChain,
    SupplyChainSettings,
    read_supply_chain,
)
from collectors.http import (
    HttpSettings,
    decode_json,
    describe,
    parse_link_header,
    parse_timestamp,
)
from collectors.records import Finding, FindingState, RecordKind, Repository, Severity
from collectors.settings import Duration, PositiveDuration, Secret, StrictModel

STATE_VERSION = 1
PER_PAGE = 100
MAX_PAGES = 5000  # a listing longer than 500,000 items is a pagination loop, not data
GRAPHQL_BATCH = 100  # GitHub's maximum for nodes(ids:)

# Published gauge names (SourceGauge; the core adds the ``collector`` label).
GAUGE_RATE_LIMIT = "devsecops_github_rate_limit_remaining"
GAUGE_UNREADABLE = "devsecops_github_settings_unreadable_repositories"
GAUGE_TIER = "devsecops_github_review_gate_tier_repositories"
GAUGE_CYCLE = "devsecops_github_security_gate_cycle_seconds"
GAUGE_CYCLE_SAMPLES = "devsecops_github_security_gate_cycle_samples"
GAUGE_RETRIES = "devsecops_github_last_run_retries"
GAUGE_RETRY_WAIT = "devsecops_github_last_run_retry_wait_seconds"

SETTINGS = ("sast", "review_gate", "secret_scanning", "push_protection", "dependency_alerts")

# Code scanning severity when a rule has no security_severity_level (non-security
# rules, or third-party SARIF without security-severity): from the rule's SARIF level.
DEFAULT_CODE_SCANNING_FALLBACK: dict[str, Severity] = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "note": Severity.LOW,
    "none": Severity.LOW,
}
# Secret scanning resolutions: ``revoked`` means the credential was rotated, which is
# the remediation; everything else closes the alert without fixing anything.
SECRET_FIXED_RESOLUTIONS = frozenset({"revoked"})
SECRET_DISMISSED_RESOLUTIONS = frozenset(
    {"false_positive", "wont_fix", "used_in_tests", "pattern_deleted", "pattern_edited"}
)
# 403/404 bodies that mean "this feature is not enabled here" rather than "you may not".
_NOT_ENABLED_MARKERS = (
    "not enabled",
    "is disabled",
    "are disabled",
    "must be enabled",
    "not available",
    "no analysis found",
    "advanced security",
)

# Default permission hints, used when GitHub's 403 carries no X-Accepted-* header.
PERMISSION_HINTS: dict[str, str] = {
    "dependabot": "classic scope security_events; fine-grained/App 'Dependabot alerts: read' "
    "(vulnerability_alerts), as an org owner or security manager",
    "code_scanning": "classic scope security_events; fine-grained/App 'Code scanning alerts: "
    "read' (security_events), as an org owner or security manager",
    "secret_scanning": "classic scope security_events or repo; fine-grained/App 'Secret "
    "scanning alerts: read' (secret_scanning_alerts), as an org admin or security manager",
    "configurations": "classic scope read:org; fine-grained/App organization 'Administration: "
    "read', as an org admin or security manager",
    "analyses": "classic scope security_events; fine-grained/App 'Code scanning alerts: read'",
    "search": "classic scope repo (private repositories); fine-grained/App 'Contents: read'",
    "pulls": "classic scope repo; fine-grained/App 'Pull requests: read' and 'Checks: read'",
    "sbom": "classic scope repo (private repositories); fine-grained/App 'Contents: read'",
    "contents": "classic scope repo (private repositories); fine-grained/App 'Contents: read'",
    "attestations": "classic scope repo (private repositories); fine-grained/App "
                    "'Attestations: read'",
}

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


# --------------------------------------------------------------------------- config


class AppAuth(StrictModel):
    """GitHub App authentication: a JWT signed with the app's key buys installation tokens."""

    app_id: int = Field(gt=0)
    installation_id: int = Field(gt=0)
    private_key: Secret = Field(description="the app's PEM private key, as {file: path}")


class AlertSettings(StrictModel):
    dependabot: bool = True
    code_scanning: bool = True
    secret_scanning: bool = True
    secret_severity: Severity = Field(
        default=Severity.HIGH, description="severity given to every secret scanning alert"
    )
    code_scanning_fallback: dict[str, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_CODE_SCANNING_FALLBACK),
        description="rule.severity -> severity when security_severity_level is absent",
    )

    @field_validator("code_scanning_fallback")
    @classmethod
    def _complete_fallback(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        missing = sorted(set(DEFAULT_CODE_SCANNING_FALLBACK) - set(value))
        if missing:
            raise ValueError(f"code_scanning_fallback needs an entry for {', '.join(missing)}")
        return value


class SastSettings(StrictModel):
    """How a repository counts as SAST-covered (see docs/collectors/github.md)."""

    code_scanning_tools: list[str] = Field(
        default_factory=list,
        description="code scanning tool names that count (fnmatch, case-insensitive); "
        "empty: any tool",
    )
    analysis_max_age: Duration | None = Field(
        default=timedelta(days=30),
        description="an analysis at most this old counts; null: any code scanning alert counts",
    )
    probe: Literal["alerted", "all", "none"] = Field(
        default="all",
        description="which active repositories get a per-repository analyses call: all not "
        "covered by default setup (a repository without analyses is remembered and not "
        "asked again until it changes), only those with code scanning alerts, or none",
    )
    probe_forks: bool = Field(
        default=False,
        description="probe forks too; set it when coverage counts forks "
        "(repositories.include_forks), else forks without alerts are not evaluated",
    )
    workflow_search: list[str] = Field(
        default_factory=list,
        description="terms searched in .github/workflows with code search (e.g. semgrep); "
        "a hit counts the repository as covered by that tool",
    )


class CycleTimeSettings(StrictModel):
    """Opt-in security gate cycle time sampling; costs calls per repository and PR."""

    repositories: list[str] = Field(min_length=1, description="owner/name of sampled repos")
    pull_requests: int = Field(default=10, ge=1, le=100, description="merged PRs per repo")
    checks: list[str] = Field(
        default_factory=lambda: [
            "CodeQL*", "Analyze*", "*semgrep*", "*snyk*", "*sonar*", "*dependency-review*",
        ],
        description="check run names (fnmatch, case-insensitive) that are security checks",
    )


class GitHubSettings(StrictModel):
    api_url: str = "https://api.github.com"
    graphql_url: str | None = Field(
        default=None, description="default: derived from api_url (GHES: /api/graphql)"
    )
    organizations: list[str] = Field(min_length=1)
    tokens: list[Secret] = Field(default_factory=list)
    app: AppAuth | None = None
    include_repositories: list[str] = Field(default_factory=lambda: ["*"])
    exclude_repositories: list[str] = Field(default_factory=list)
    include_topics: list[str] = Field(default_factory=list)
    exclude_topics: list[str] = Field(default_factory=list)
    include_properties: dict[str, list[str]] = Field(default_factory=dict)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    sast: SastSettings = Field(default_factory=SastSettings)
    full_pass_interval: PositiveDuration = timedelta(hours=24)
    gate_refresh: PositiveDuration = timedelta(hours=1)
    rate_limit_reserve: int = Field(default=100, ge=0)
    cycle_time: CycleTimeSettings | None = None
    supply_chain: SupplyChainSettings | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("api_url", "graphql_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parsed = urlsplit(value)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_auth(self) -> GitHubSettings:
        if bool(self.tokens) == (self.app is not None):
            raise ValueError("set exactly one of tokens (one or more) or app")
        if self.app is not None:
            require_cryptography()
        return self

    def resolved_graphql_url(self) -> str:
        if self.graphql_url:
            return self.graphql_url
        if self.api_url.endswith("/api/v3"):
            return self.api_url[: -len("/v3")] + "/graphql"
        return self.api_url + "/graphql"


# ------------------------------------------------------------------------- helpers


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


def _alert_repository(item: Mapping[str, Any]) -> str | None:
    """An org alert's ``repository.full_name``; ``None`` when missing or not text.

    Read outside the per-alert guard (it names the repository's tools and features), so
    it must not raise; the alert itself is then skipped and counted by its build.
    """
    repository = item.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) and name else None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


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


# ------------------------------------------------------------------------ collector


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


class GitHubCollector(Collector):
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

    # ---------------------------------------------------------------- alerts

    async def _alerts(
        self, ctx: CollectContext, api: GitHubApi, run: _OrgRun, listing: str,
        old: Mapping[str, Any], new: dict[str, Any], full: bool, errors: Counter[ErrorKind],
    ) -> None:
        """List one alert kind, newest update first, down to the watermark."""
        enabled = getattr(self.settings.alerts, listing)
        if not enabled:
            run.features[listing] = Feature.SKIPPED
            return
        path = {
            "dependabot": "dependabot/alerts",
            "code_scanning": "code-scanning/alerts",
            "secret_scanning": "secret-scanning/alerts",
        }[listing]
        params: dict[str, Any] = {"per_page": PER_PAGE, "sort": "updated", "direction": "desc"}
        if listing == "secret_scanning":
            params["hide_secret"] = "true"  # noqa: S105 - a flag, not a password
        watermarks = old.get("watermarks") or {}
        first_etags = old.get("first_page_etags") or {}
        watermark = None if full else watermarks.get(listing)
        since = datetime.fromisoformat(watermark) if watermark else None
        newest = watermarks.get(listing)
        new.setdefault("watermarks", {})[listing] = newest
        new.setdefault("first_page_etags", {})[listing] = first_etags.get(listing)
        url: str | None = f"orgs/{run.org}/{path}"
        page_params: Mapping[str, Any] | None = params
        pages = 0
        parse = {
            "dependabot": self._dependabot,
            "code_scanning": self._code_scanning,
            "secret_scanning": self._secret_scanning,
        }[listing]
        while url is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{path}: pagination loops")
            etag = first_etags.get(listing) if pages == 1 and since is not None else None
            response = await api.request(
                "GET", url, params=page_params, etag=etag, accept=frozenset({403, 404}),
            )
            if response.status_code in (403, 404):
                if pages > 1:
                    raise fail(response)
                run.features[listing] = self._feature_from(
                    ctx, response, f"{listing}:{run.org}", f"{listing}:{run.org}"
                )
                return
            if response.status_code == 304:
                break  # nothing changed since the last run
            items = decode_list(response)
            if pages == 1:
                new["first_page_etags"][listing] = response.headers.get("ETag")
            stop = False
            for position, item in enumerate(items):
                if not isinstance(item, dict):
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    ctx.logger.warning("%s page %d item %d: not an object", path, pages, position)
                    continue
                updated = item.get("updated_at") or item.get("created_at")
                try:
                    updated_at = parse_timestamp(updated)
                except ValueError:
                    updated_at = None
                if since is not None and updated_at is not None and updated_at < since:
                    stop = True
                    break
                if updated_at is not None and (
                    newest is None or updated_at > datetime.fromisoformat(newest)
                ):
                    newest = updated_at.isoformat()
                parse(ctx, run, item, errors, f"{path} page {pages} item {position}")
            if stop:
                break
            link_next = parse_link_header(response.headers.get("Link")).get("next")
            if link_next is not None and not api.same_host(link_next):
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE, f"{path}: Link header points to another host"
                )
            url, page_params = link_next, None
        new["watermarks"][listing] = newest
        run.features[listing] = Feature.READ

    def _unmapped(self, ctx: CollectContext, errors: Counter[ErrorKind], what: str,
                  value: Any, where: str) -> None:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        key = (what, str(value))
        if key not in self._logged_values:
            self._logged_values.add(key)
            ctx.logger.warning("%s: unknown %s %r; skipping such alerts", where, what, value)

    def _finding(
        self, ctx: CollectContext, errors: Counter[ErrorKind], where: str,
        build: Callable[[], Finding | None],
    ) -> Finding | None:
        try:
            return build()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("skipping %s: %s", where, str(exc)[:200])
            return None

    def _dependabot(self, ctx: CollectContext, run: _OrgRun, item: Mapping[str, Any],
                    errors: Counter[ErrorKind], where: str) -> None:
        repo = _alert_repository(item)
        if repo:
            run.dependabot_repos.add(repo)

        def build() -> Finding | None:
            if repo is None:
                raise ValueError("no repository full_name")
            advisory = item["security_advisory"]
            raw_severity = advisory.get("severity") or (
                item.get("security_vulnerability") or {}
            ).get("severity")
            try:
                severity = Severity(str(raw_severity).lower())
            except ValueError:
                self._unmapped(ctx, errors, "Dependabot severity", raw_severity, where)
                return None
            state_raw = item["state"]
            state, resolved, reason = FindingState.OPEN, None, None
            if state_raw == "fixed":
                state, resolved = FindingState.FIXED, parse_timestamp(item["fixed_at"])
            elif state_raw == "dismissed":
                state, resolved = FindingState.DISMISSED, parse_timestamp(item["dismissed_at"])
                reason = item.get("dismissed_reason")
            elif state_raw == "auto_dismissed":
                state = FindingState.DISMISSED
                resolved = parse_timestamp(item.get("auto_dismissed_at")) or parse_timestamp(
                    item.get("updated_at")
                )
                reason = "auto_dismissed"
            elif state_raw != "open":
                self._unmapped(ctx, errors, "Dependabot state", state_raw, where)
                return None
            cves = {str(advisory["cve_id"])} if advisory.get("cve_id") else set()
            for ident in advisory.get("identifiers") or []:
                if isinstance(ident, dict) and ident.get("type") == "CVE" and ident.get("value"):
                    cves.add(str(ident["value"]))
            return Finding(
                id=f"dependabot:{repo}#{item['number']}",
                source=ctx.name,
                severity=severity,
                opened_at=parse_timestamp(item["created_at"]),  # type: ignore[arg-type]
                state=state,
                resolved_at=resolved,
                dismissed_reason=reason,
                asset=repo,
                cve_ids=tuple(sorted(cves)),
                disclosed_at=parse_timestamp(advisory.get("published_at")),
                category="dependency",
            )

        finding = self._finding(ctx, errors, where, build)
        if finding is not None:
            run.findings.append(finding)

    def _code_scanning(self, ctx: CollectContext, run: _OrgRun, item: Mapping[str, Any],
                       errors: Counter[ErrorKind], where: str) -> None:
        repo = _alert_repository(item)
        tool = item.get("tool")
        tool = tool.get("name") if isinstance(tool, dict) else None
        if repo and tool:
            run.code_tools.setdefault(repo, set()).add(str(tool))

        def build() -> Finding | None:
            if repo is None:
                raise ValueError("no repository full_name")
            rule = item["rule"]
            level = rule.get("security_severity_level")
            if level:
                try:
                    severity = Severity(str(level).lower())
                except ValueError:
                    self._unmapped(ctx, errors, "security_severity_level", level, where)
                    return None
            else:
                fallback = self.settings.alerts.code_scanning_fallback
                raw = rule.get("severity") or "none"
                if raw not in fallback:
                    self._unmapped(ctx, errors, "code scanning rule severity", raw, where)
                    return None
                severity = fallback[raw]
            state_raw = item["state"]
            state, resolved, reason = FindingState.OPEN, None, None
            if state_raw == "fixed":
                state = FindingState.FIXED
                resolved = parse_timestamp(item.get("fixed_at")) or parse_timestamp(
                    item.get("updated_at")
                )
            elif state_raw == "dismissed":
                state, resolved = FindingState.DISMISSED, parse_timestamp(item["dismissed_at"])
                reason = item.get("dismissed_reason")
            elif state_raw != "open":
                self._unmapped(ctx, errors, "code scanning state", state_raw, where)
                return None
            return Finding(
                id=f"code-scanning:{repo}#{item['number']}",
                source=ctx.name,
                severity=severity,
                opened_at=parse_timestamp(item["created_at"]),  # type: ignore[arg-type]
                state=state,
                resolved_at=resolved,
                dismissed_reason=reason,
                asset=repo,
                category="code",
            )

        finding = self._finding(ctx, errors, where, build)
        if finding is not None:
            run.findings.append(finding)

    def _secret_scanning(self, ctx: CollectContext, run: _OrgRun, item: Mapping[str, Any],
                         errors: Counter[ErrorKind], where: str) -> None:
        # Only the fields below are read; ``secret`` (absent with hide_secret=true) never is.
        repo = _alert_repository(item)
        if repo:
            run.secret_repos.add(repo)

        def build() -> Finding | None:
            if repo is None:
                raise ValueError("no repository full_name")
            state_raw = item["state"]
            state, resolved, reason = FindingState.OPEN, None, None
            if state_raw == "resolved":
                resolution = item.get("resolution")
                resolved = parse_timestamp(item["resolved_at"])
                if resolution in SECRET_FIXED_RESOLUTIONS:
                    state = FindingState.FIXED
                elif resolution in SECRET_DISMISSED_RESOLUTIONS:
                    state, reason = FindingState.DISMISSED, resolution
                else:
                    self._unmapped(ctx, errors, "secret scanning resolution", resolution, where)
                    return None
            elif state_raw != "open":
                self._unmapped(ctx, errors, "secret scanning state", state_raw, where)
                return None
            return Finding(
                id=f"secret-scanning:{repo}#{item['number']}",
                source=ctx.name,
                severity=self.settings.alerts.secret_severity,
                opened_at=parse_timestamp(item["created_at"]),  # type: ignore[arg-type]
                state=state,
                resolved_at=resolved,
                dismissed_reason=reason,
                asset=repo,
                category="secret",
            )

        finding = self._finding(ctx, errors, where, build)
        if finding is not None:
            run.findings.append(finding)

    def _merge_seen(self, run: _OrgRun, old: Mapping[str, Any], new: dict[str, Any],
                    full: bool) -> None:
        """Repositories seen with alerts: rebuilt by a full pass, accumulated in between."""
        seen_old = {} if full else (old.get("seen") or {})
        run.dependabot_repos |= set(seen_old.get("dependabot") or [])
        run.secret_repos |= set(seen_old.get("secret_scanning") or [])
        for repo, tools in (seen_old.get("code_scanning") or {}).items():
            run.code_tools.setdefault(repo, set()).update(tools)
        new["seen"] = {
            "dependabot": sorted(run.dependabot_repos),
            "secret_scanning": sorted(run.secret_repos),
            "code_scanning": {r: sorted(t) for r, t in sorted(run.code_tools.items())},
        }

    # ------------------------------------------------------------ gates, SAST

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

    def _report_once_text(self, ctx: CollectContext, key: str, text: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            ctx.logger.warning("%s", text)

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


__all__ = [
    "GATE_QUERY",
    "GateFacts",
    "GitHubCollector",
    "GitHubSettings",
    "compact_repository",
    "gate_facts_from_graphql",
    "gate_tier",
    "github_rate_limit_hook",
    "make_app_jwt",
    "security_cycle_seconds",
    "tier_from_graphql",
]

