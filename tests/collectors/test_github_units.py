"""GitHub collector: review gate tiers, GraphQL refusals, App auth, config, cycle time."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.github import (
    GAUGE_CYCLE,
    GAUGE_CYCLE_SAMPLES,
    GAUGE_UNREADABLE,
    GateFacts,
    GitHubSettings,
    gate_tier,
    security_cycle_seconds,
    tier_from_graphql,
)
from tests.collectors.test_github import (
    API,
    LOGGER,
    NOW,
    ORG,
    TOKEN,
    Server,
    gauge,
    make_collector,
    make_settings,
    run,
    serve,
)
from tests.fixtures.github import builders as b

# ---------------------------------------------------------------- gate tiers


@pytest.mark.parametrize(("facts", "tier"), [
    (GateFacts(), 0),
    (GateFacts(force_push_blocked=True), 0),  # deletion still allowed
    (GateFacts(force_push_blocked=True, deletion_blocked=True), 1),
    (GateFacts(force_push_blocked=True, deletion_blocked=True, reviews=1), 2),
    (GateFacts(force_push_blocked=True, deletion_blocked=True, reviews=1,
               status_checks=True), 3),
    (GateFacts(force_push_blocked=True, deletion_blocked=True, reviews=1,
               status_checks=True, code_owner=True), 4),
    (GateFacts(force_push_blocked=True, deletion_blocked=True, reviews=2,
               status_checks=True, dismiss_stale=True), 4),  # admins not bound
    (GateFacts(force_push_blocked=True, deletion_blocked=True, reviews=2,
               status_checks=True, dismiss_stale=True, admin_enforced=True), 5),
    # Each tier needs all lower ones: reviews without blocking force pushes is tier 0.
    (GateFacts(reviews=3, status_checks=True, code_owner=True, dismiss_stale=True,
               admin_enforced=True), 0),
])
def test_gate_tier_is_cumulative(facts: GateFacts, tier: int) -> None:
    assert gate_tier(facts) == tier


def _node(**kwargs) -> dict:
    return b.gate_node("R_1", f"{ORG}/api", **kwargs)


def test_tier_from_classic_protection_and_from_rulesets() -> None:
    classic = b.classic_protection(reviews=1, checks=["ci"])
    assert tier_from_graphql(_node(protection=classic), set()) == 3
    rules = [
        b.ruleset_rule("DELETION"), b.ruleset_rule("NON_FAST_FORWARD"),
        b.ruleset_rule("REQUIRED_STATUS_CHECKS", {"requiredStatusChecks": [{"context": "ci"}]}),
        b.ruleset_rule("PULL_REQUEST", {"requiredApprovingReviewCount": 2,
                                        "requireCodeOwnerReview": False,
                                        "dismissStaleReviewsOnPush": True}),
    ]
    assert tier_from_graphql(_node(rules=rules), set()) == 5
    # The same ruleset with a bypass actor does not bind administrators.
    rules[-1] = b.ruleset_rule("PULL_REQUEST", rules[-1]["parameters"], bypass=1)
    assert tier_from_graphql(_node(rules=rules), set()) == 4
    # Classic and ruleset facts combine: classic blocks pushes, a ruleset requires review.
    mixed = _node(protection=b.classic_protection(checks=["ci"]), rules=[
        b.ruleset_rule("PULL_REQUEST", {"requiredApprovingReviewCount": 1,
                                        "requireCodeOwnerReview": False,
                                        "dismissStaleReviewsOnPush": False})])
    assert tier_from_graphql(mixed, set()) == 3


def test_required_review_is_read_apart_from_the_tier() -> None:
    """A review required while force pushes are allowed: tier 0, but a required review."""
    from collectors.github import gate_facts_from_graphql

    classic = b.classic_protection(force_push=True, reviews=1)
    facts = gate_facts_from_graphql(_node(protection=classic), set())
    assert facts is not None and gate_tier(facts) == 0 and facts.reviews >= 1
    ruleset_only = _node(rules=[b.ruleset_rule("PULL_REQUEST", {
        "requiredApprovingReviewCount": 1, "requireCodeOwnerReview": False,
        "dismissStaleReviewsOnPush": False})])
    facts = gate_facts_from_graphql(ruleset_only, set())
    assert facts is not None and gate_tier(facts) == 0 and facts.reviews == 1
    no_review = gate_facts_from_graphql(_node(protection=b.classic_protection()), set())
    assert no_review is not None and no_review.reviews == 0
    node = _node()
    node["defaultBranchRef"]["rules"] = None
    assert gate_facts_from_graphql(
        node, {"branchProtectionRule", "refUpdateRule", "rules"}) is None


def test_non_admin_view_and_refusals() -> None:
    update_rule = {"allowsDeletions": False, "allowsForcePushes": False,
                   "requiredApprovingReviewCount": 2, "requiredStatusCheckContexts": ["ci"],
                   "requiresCodeOwnerReviews": False}
    refused = {"defaultBranchRef", "branchProtectionRule"}
    # refUpdateRule cannot show stale-review dismissal or admin enforcement: at most 4.
    assert tier_from_graphql(_node(update_rule=update_rule), refused) == 4
    # Nothing readable: unknown, not 0.
    node = _node()
    node["defaultBranchRef"]["rules"] = None
    assert tier_from_graphql(node, {"branchProtectionRule", "refUpdateRule", "rules"}) is None
    # An empty repository has no default branch to protect.
    assert tier_from_graphql(_node(default_branch=None), set()) == 0


def test_graphql_refusals_publish_unreadable_review_gates(monkeypatch, caplog) -> None:
    server = Server()
    for node in server.gates.values():
        node["defaultBranchRef"]["branchProtectionRule"] = None
        node["defaultBranchRef"]["refUpdateRule"] = None
        node["defaultBranchRef"]["rules"] = None
    errors = [
        {"type": "FORBIDDEN", "path": ["nodes", i, "defaultBranchRef", field],
         "message": "Resource not accessible by integration"}
        for i in range(3) for field in ("branchProtectionRule", "refUpdateRule", "rules")
    ]
    original = server.handle

    def handle(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.url.path == "/graphql":
            body = json.loads(response.content)
            body["errors"] = errors
            return httpx.Response(200, json=body)
        return response

    server.handle = handle  # type: ignore[method-assign]
    collector, _ = make_collector(make_settings(monkeypatch))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with serve(server):
        result = run(collector)
    assert {r.review_gate_tier for r in result.repositories} == {None}
    assert gauge(result, GAUGE_UNREADABLE, setting="review_gate") == 3.0
    assert sum("GraphQL refused" in r.getMessage() for r in caplog.records) == 1


def test_refused_bypass_actors_only_withhold_admin_enforcement() -> None:
    from collectors.github.gates import _graphql_unreadable

    rules = [
        b.ruleset_rule("DELETION"), b.ruleset_rule("NON_FAST_FORWARD"),
        b.ruleset_rule("REQUIRED_STATUS_CHECKS", {"requiredStatusChecks": [{"context": "ci"}]}),
        b.ruleset_rule("PULL_REQUEST", {"requiredApprovingReviewCount": 2,
                                        "requireCodeOwnerReview": False,
                                        "dismissStaleReviewsOnPush": True}),
    ]
    for rule in rules:
        rule["repositoryRuleset"]["bypassActors"] = None
    errors = [{"type": "FORBIDDEN", "message": "Must have admin access",
               "path": ["nodes", 0, "defaultBranchRef", "rules", "nodes", i,
                        "repositoryRuleset", "bypassActors"]} for i in range(4)]
    refused = _graphql_unreadable(errors)
    assert refused == {0: {"bypassActors"}}
    assert tier_from_graphql(_node(rules=rules), refused[0]) == 4


@pytest.mark.parametrize(("error_type", "kind"), [
    ("RATE_LIMITED", ErrorKind.RATE_LIMITED), ("INTERNAL", ErrorKind.CLIENT),
])
def test_graphql_without_data_fails_the_run(monkeypatch, error_type, kind) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(monkeypatch))
    body = {"data": None, "errors": [{"type": error_type, "message": "nope"}]}
    with serve(server, lambda r: r.post(f"{API}/graphql").respond(200, json=body)), \
            pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is kind


# ----------------------------------------------------------------- config


def test_config_needs_exactly_one_auth_and_refuses_inline_tokens(monkeypatch) -> None:
    monkeypatch.setenv("GH_TEST_TOKEN", TOKEN)
    with pytest.raises(ValidationError, match="exactly one"):
        GitHubSettings.model_validate({"organizations": [ORG]})
    with pytest.raises(ValidationError, match="not accepted inline"):
        GitHubSettings.model_validate({"organizations": [ORG], "tokens": [TOKEN]})
    with pytest.raises(ValidationError, match="extra"):
        GitHubSettings.model_validate({"organizations": [ORG],
                                       "tokens": [{"env": "GH_TEST_TOKEN"}], "orgs": ["x"]})
    try:
        GitHubSettings.model_validate({"organizations": [ORG], "tokens": [TOKEN]})
    except ValidationError as exc:
        assert TOKEN not in str(exc)


def test_graphql_url_follows_the_api_url(monkeypatch) -> None:
    assert make_settings(monkeypatch).resolved_graphql_url() == "https://api.github.com/graphql"
    ghes = make_settings(monkeypatch, api_url="https://ghe.example.com/api/v3/")
    assert ghes.resolved_graphql_url() == "https://ghe.example.com/api/graphql"


# ------------------------------------------------------------------ App


def _rsa_pem(tmp_path) -> tuple[str, object]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = tmp_path / "app.pem"
    path.write_bytes(pem)
    return str(path), key.public_key()


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_github_app_mints_and_reuses_an_installation_token(tmp_path, caplog) -> None:
    # cryptography is a test dependency (and the github-app extra): missing fails, not skips
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    path, public_key = _rsa_pem(tmp_path)
    settings = GitHubSettings.model_validate({
        "organizations": [ORG],
        "app": {"app_id": 12345, "installation_id": 99, "private_key": {"file": path}},
    })
    collector, _ = make_collector(settings)
    server = Server()
    minted: list[dict] = []
    expires = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def mint(request: httpx.Request) -> httpx.Response:
        jwt = request.headers["Authorization"].removeprefix("Bearer ")
        header, payload, signature = jwt.split(".")
        public_key.verify(_b64decode(signature), f"{header}.{payload}".encode(),  # type: ignore[attr-defined]
                          padding.PKCS1v15(), hashes.SHA256())
        minted.append(json.loads(_b64decode(payload)))
        return httpx.Response(201, json=b.installation_token("ghs_INSTALLATION", expires))

    caplog.set_level(logging.DEBUG)
    route = f"{API}/app/installations/99/access_tokens"
    with serve(server, lambda r: r.post(route).mock(side_effect=mint)):
        first = run(collector)
        run(collector, first.state, NOW + timedelta(minutes=15))
    assert len(minted) == 1  # reused by the second run
    claims = minted[0]
    assert claims["iss"] == "12345" and claims["exp"] - claims["iat"] == 600
    assert {r.headers["Authorization"] for r in server.requests} == {"Bearer ghs_INSTALLATION"}
    assert "ghs_INSTALLATION" not in caplog.text + json.dumps(first.state)
    assert len([r for r in first.repositories if r.observed_at is None]) == 4


def test_github_app_without_cryptography_is_a_clear_config_error(tmp_path, monkeypatch) -> None:
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    for module in [m for m in list(sys.modules) if m.startswith("cryptography")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(ValidationError, match="needs the 'cryptography' package"):
        GitHubSettings.model_validate({
            "organizations": [ORG],
            "app": {"app_id": 1, "installation_id": 2, "private_key": {"file": str(key)}},
        })


def test_github_app_with_a_bad_key_fails_as_config(tmp_path) -> None:
    # cryptography is a test dependency (and the github-app extra): missing fails, not skips
    key = tmp_path / "app.pem"
    key.write_text("not a key")
    settings = GitHubSettings.model_validate({
        "organizations": [ORG],
        "app": {"app_id": 1, "installation_id": 2, "private_key": {"file": str(key)}},
    })
    collector, _ = make_collector(settings)
    with serve(Server()), pytest.raises(CollectorError) as caught:
        run(collector)
    assert caught.value.kind is ErrorKind.CONFIG and "not a key" not in str(caught.value)


# ------------------------------------------------------------ cycle time


def test_security_cycle_seconds_definition() -> None:
    sha = "a" * 40
    runs = [
        b.check_run(1, f"{ORG}/api", name="build", head_sha=sha,
                    started_at="2026-11-20T09:00:00Z", completed_at="2026-11-20T09:10:00Z"),
        b.check_run(2, f"{ORG}/api", name="CodeQL", head_sha=sha,
                    started_at="2026-11-20T09:01:00Z", completed_at="2026-11-20T09:04:00Z"),
        b.check_run(3, f"{ORG}/api", name="semgrep-ci", head_sha=sha,
                    started_at="2026-11-20T09:00:30Z", completed_at="2026-11-20T09:02:00Z"),
    ]
    patterns = ["CodeQL*", "*semgrep*"]
    assert security_cycle_seconds(runs, patterns) == 240.0  # 09:00:00 -> 09:04:00
    runs[1]["conclusion"] = "failure"
    assert security_cycle_seconds(runs, patterns) is None  # the gate never passed
    assert security_cycle_seconds(runs[:1], patterns) is None  # no security check at all


def test_cycle_time_gauge_over_sampled_merged_pull_requests(monkeypatch) -> None:
    server = Server()
    collector, _ = make_collector(make_settings(
        monkeypatch, cycle_time={"repositories": [f"{ORG}/api"], "pull_requests": 2}))
    fast, slow, failed = "a" * 40, "d" * 40, "f" * 40
    pulls = [
        b.pull_request_simple(5, f"{ORG}/api", head_sha=fast, merged_at="2026-11-20T10:00:00Z"),
        b.pull_request_simple(6, f"{ORG}/api", head_sha="c" * 40, merged_at=None),
        b.pull_request_simple(7, f"{ORG}/api", head_sha=slow, merged_at="2026-11-19T10:00:00Z"),
        b.pull_request_simple(8, f"{ORG}/api", head_sha=failed,
                              merged_at="2026-11-18T10:00:00Z"),
    ]

    def checks(sha: str, minutes: int, conclusion: str = "success") -> dict:
        end = (datetime(2026, 11, 20, 9, tzinfo=UTC) + timedelta(minutes=minutes))
        return b.check_runs([b.check_run(
            1, f"{ORG}/api", name="CodeQL", head_sha=sha, started_at="2026-11-20T09:00:00Z",
            completed_at=end.strftime("%Y-%m-%dT%H:%M:%SZ"), conclusion=conclusion)])

    def routes(router) -> None:
        router.get(f"{API}/repos/{ORG}/api/pulls").respond(200, json=pulls)
        router.get(f"{API}/repos/{ORG}/api/commits/{fast}/check-runs").respond(
            200, json=checks(fast, 2))
        router.get(f"{API}/repos/{ORG}/api/commits/{slow}/check-runs").respond(
            200, json=checks(slow, 6))
        router.get(f"{API}/repos/{ORG}/api/commits/{failed}/check-runs").respond(
            200, json=checks(failed, 1, "failure"))

    with serve(server, routes):
        result = run(collector)
    # Two most recent merged PRs sampled (5 and 7); 8 is beyond pull_requests=2.
    assert gauge(result, GAUGE_CYCLE_SAMPLES) == 2.0
    assert gauge(result, GAUGE_CYCLE) == 240.0  # mean of 120 s and 360 s


def test_check_lists_each_unreadable_organisation(monkeypatch) -> None:
    collector, _ = make_collector(make_settings(monkeypatch, organizations=[ORG, "gone"]))
    ctx = CollectContext(name="github-test", now=NOW, state={},
                         logger=logging.getLogger(LOGGER))

    def routes(router) -> None:
        router.get(f"{API}/orgs/{ORG}").respond(200, json=b.organization_full(ORG))
        router.get(f"{API}/orgs/gone").respond(404, json=b.error_body("Not Found", "404"))

    with serve(Server(), routes):
        problems = asyncio.run(collector.check(ctx))
    assert len(problems) == 1 and "gone" in problems[0] and "not_found" in problems[0]


def test_documented_example_block_is_a_valid_config(tmp_path, monkeypatch) -> None:
    """The YAML block in docs/collectors/github.md loads through the core's config."""
    import re
    from pathlib import Path

    from exporter.config import load_config

    docs = (Path(__file__).resolve().parents[2] / "docs/collectors/github.md").read_text()
    example = docs.split("### Example", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", example, re.S).group(1)  # type: ignore[union-attr]
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    config = tmp_path / "config.yaml"
    config.write_text("collectors:\n" + block, encoding="utf-8")
    loaded = load_config(config)
    settings = loaded.collector_settings["github"]
    assert isinstance(settings, GitHubSettings)
    assert settings.organizations == ["acme"] and settings.exclude_repositories == ["sandbox-*"]
    assert settings.tokens[0].get_secret_value() == TOKEN


# --------------------------------------------------------------- token budgets


def _answer(status: int, remaining: int, reset: int = 2000) -> httpx.Response:
    return httpx.Response(status, headers=b.rate_limit_headers(remaining, reset))


def test_budget_estimate_is_debited_when_sent_and_errs_low(monkeypatch) -> None:
    from collectors.github.api import _Credentials

    monkeypatch.setenv("GH_TEST_TOKEN_2", "ghp_SECOND")
    settings = make_settings(monkeypatch, tokens=[{"env": "GH_TEST_TOKEN"},
                                                  {"env": "GH_TEST_TOKEN_2"}])
    now = [1000.0]
    creds = _Credentials(settings, lambda: None, lambda: now[0])  # type: ignore[arg-type,return-value]

    # Unknown budget: usable; the first answer sets it, less the requests still in flight.
    assert [creds.acquire("core", 5)[0] for _ in range(3)] == [0, 0, 0]
    creds.settle(0, "core", _answer(200, 10))
    budget = creds.budgets[(0, "core")]
    assert (budget.remaining, budget.in_flight) == (8, 2)
    # Answers arriving out of order never raise the estimate within a window.
    creds.settle(0, "core", _answer(200, 11))
    assert budget.remaining == 8
    creds.settle(0, "core", _answer(200, 9))
    assert (budget.remaining, budget.in_flight) == (8, 0)
    # Sending debits at once; a 304 is free and refunded.
    assert creds.acquire("core", 5)[0] == 0 and budget.remaining == 7
    creds.settle(0, "core", _answer(304, 8))
    assert budget.remaining == 8
    # At the reserve the next token takes over; with none left, wait for the reset.
    for _ in range(3):
        assert creds.acquire("core", 5)[0] == 0
    assert budget.remaining == 5
    assert creds.acquire("core", 5)[0] == 1
    creds.settle(1, "core", _answer(403, 0, reset=1600))
    assert creds.acquire("core", 5) == (None, 600.0)
    # A passed reset makes a budget unknown (usable) again; a new window replaces it.
    now[0] = 2001.0
    assert creds.acquire("core", 5)[0] == 0
    creds.settle(0, "core", _answer(200, 4999, reset=5600))
    assert budget.remaining == 4996  # 4999 less the 3 still in flight
