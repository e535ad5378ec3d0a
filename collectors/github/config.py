"""The GitHub collector's one config model, its constants and permission hints."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from collectors.github.api import (
    require_cryptography,
)
from collectors.github.supply_chain import (
    SupplyChainSettings,
)
from collectors.http import (
    HttpSettings,
)
from collectors.records import Severity
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
