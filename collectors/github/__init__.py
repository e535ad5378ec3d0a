"""The ``github`` collector: repositories' security settings and security alerts.

A package with one module per concern behind one entry point
(``collectors.github:GitHubCollector``) and one config model (``GitHubSettings``):
``config`` (the settings model, constants), ``common`` (shared helpers, one
organisation's run), ``repositories`` (listing, configurations, records, gauges),
``alerts``, ``gates`` (review gates, cycle time), ``sast``, ``supply_chain``
(SBOM, workflows; ``attestations`` and ``scorecard`` beside it) and ``api`` (tokens,
budgets, retries); ``collector`` ties them together.

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
   ``sbom``, ``pinned_actions`` and ``egress_control`` (``collectors/github/supply_chain.py``).

Tokens, rate-limit budgets and retries live in ``collectors/github/api.py``.

Secrets: secret scanning alerts are always listed with ``hide_secret=true`` and no
field that could carry a secret value is ever read. Tokens are sent per request and
never logged, stored in the state, or put into an error message.
"""

from collectors.github.api import github_rate_limit_hook, make_app_jwt
from collectors.github.collector import GitHubCollector
from collectors.github.config import (
    GAUGE_CYCLE,
    GAUGE_CYCLE_SAMPLES,
    GAUGE_RATE_LIMIT,
    GAUGE_RETRIES,
    GAUGE_RETRY_WAIT,
    GAUGE_TIER,
    GAUGE_UNREADABLE,
    GitHubSettings,
)
from collectors.github.gates import (
    GATE_QUERY,
    GateFacts,
    gate_facts_from_graphql,
    gate_tier,
    security_cycle_seconds,
    tier_from_graphql,
)
from collectors.github.repositories import compact_repository

__all__ = [
    "GATE_QUERY",
    "GAUGE_CYCLE",
    "GAUGE_CYCLE_SAMPLES",
    "GAUGE_RATE_LIMIT",
    "GAUGE_RETRIES",
    "GAUGE_RETRY_WAIT",
    "GAUGE_TIER",
    "GAUGE_UNREADABLE",
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
