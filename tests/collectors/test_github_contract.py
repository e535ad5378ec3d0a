"""Every GitHub fixture body and GraphQL query checked against GitHub's published contracts.

REST bodies from tests/fixtures/github/builders.py are validated with jsonschema against
the response schemas of @octokit/openapi (GitHub's OpenAPI 3.0 description; its
``nullable`` is rewritten to JSON Schema and ``$ref``s resolve inside the document).
The GraphQL query the collector sends is validated against @octokit/graphql-schema.

The npm packages live outside git: ``npm install --prefix .cache/npm @octokit/openapi
@octokit/graphql-schema`` (or set OCTOKIT_NODE_MODULES to another node_modules).
Without them the module is skipped locally and fails in CI (env CI set).
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from collectors.github import GATE_QUERY
from tests.fixtures.github import builders as b

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_COMMAND = (
    "npm install --prefix .cache/npm @octokit/openapi @octokit/graphql-schema"
)


def _node_modules() -> Path:
    root = Path(os.environ.get("OCTOKIT_NODE_MODULES", REPO_ROOT / ".cache/npm/node_modules"))
    openapi = root / "@octokit/openapi/generated/api.github.com.json"
    graphql = root / "@octokit/graphql-schema/schema.graphql"
    if not (openapi.is_file() and graphql.is_file()):
        message = (
            f"GitHub's published schemas are missing under {root}; run `{NPM_COMMAND}` in "
            "the repository root (or set OCTOKIT_NODE_MODULES)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


def _nullable_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> ``anyOf [schema, null]`` (Draft 4 has no nullable)."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _nullable_to_jsonschema(v) for k, v in node.items()}
    if converted.pop("nullable", False) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.lru_cache(maxsize=1)
def _openapi() -> dict[str, Any]:
    path = _node_modules() / "@octokit/openapi/generated/api.github.com.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    return {
        "paths": document["paths"],
        "components": _nullable_to_jsonschema(document["components"]),
    }


def _validate(path: str, method: str, status: str, body: Any) -> None:
    import jsonschema

    document = _openapi()
    response = document["paths"][path][method]["responses"][status]
    if "$ref" in response:  # shared responses live in components/responses
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = _nullable_to_jsonschema(response["content"]["application/json"]["schema"])
    root = {"components": document["components"], **schema}
    validator = jsonschema.Draft4Validator(root)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5]
    )


FULL = "octo-org/api"

# (OpenAPI path, method, status, body): every REST body the GitHub tests serve.
REST_FIXTURES: list[tuple[str, str, str, Any]] = [
    ("/orgs/{org}/repos", "get", "200", [
        b.minimal_repository(FULL, 1, topics=["python"],
                             security_and_analysis=b.security_and_analysis(),
                             custom_properties={"team": "payments"}),
        b.minimal_repository("octo-org/old", 2, archived=True),
        b.minimal_repository("octo-org/fork", 3, fork=True,
                             security_and_analysis=b.security_and_analysis("disabled", "disabled")),
    ]),
    ("/orgs/{org}/dependabot/alerts", "get", "200", [
        b.dependabot_alert(1, FULL),
        b.dependabot_alert(2, FULL, state="fixed", fixed_at="2026-10-05T00:00:00Z"),
        b.dependabot_alert(3, FULL, state="dismissed", dismissed_at="2026-10-05T00:00:00Z",
                           dismissed_reason="tolerable_risk", cve_id=None),
        b.dependabot_alert(4, FULL, state="auto_dismissed",
                           auto_dismissed_at="2026-10-06T00:00:00Z", severity="low"),
    ]),
    ("/orgs/{org}/code-scanning/alerts", "get", "200", [
        b.code_scanning_alert(1, FULL),
        b.code_scanning_alert(2, FULL, state="fixed", fixed_at="2026-10-03T00:00:00Z",
                              security_severity_level=None, rule_severity="warning"),
        b.code_scanning_alert(3, FULL, state="dismissed", dismissed_at="2026-10-04T00:00:00Z",
                              dismissed_reason="false positive", tool="Semgrep"),
    ]),
    ("/orgs/{org}/secret-scanning/alerts", "get", "200", [
        b.secret_scanning_alert(1, FULL),
        b.secret_scanning_alert(2, FULL, state="resolved", resolution="revoked",
                                resolved_at="2026-10-02T00:00:00Z"),
        b.secret_scanning_alert(3, FULL, state="resolved", resolution="false_positive",
                                resolved_at="2026-10-02T00:00:00Z"),
    ]),
    ("/orgs/{org}/code-security/configurations", "get", "200", [
        b.code_security_configuration(17),
        b.code_security_configuration(18, "Baseline", default_setup="not_set",
                                      dependabot_alerts="disabled"),
    ]),
    ("/orgs/{org}/code-security/configurations/{configuration_id}/repositories", "get", "200",
     [b.configuration_repository(FULL, 1), b.configuration_repository("octo-org/x", 9,
                                                                       "enforced")]),
    ("/repos/{owner}/{repo}/code-scanning/analyses", "get", "200",
     [b.code_scanning_analysis(201, FULL), b.code_scanning_analysis(200, FULL, tool="Semgrep")]),
    ("/app/installations/{installation_id}/access_tokens", "post", "201",
     b.installation_token("ghs_example")),
    ("/repos/{owner}/{repo}/pulls", "get", "200", [
        b.pull_request_simple(5, FULL, head_sha="a" * 40, merged_at="2026-11-20T10:00:00Z"),
        b.pull_request_simple(6, FULL, head_sha="c" * 40, merged_at=None),
    ]),
    ("/repos/{owner}/{repo}/commits/{ref}/check-runs", "get", "200", b.check_runs([
        b.check_run(1, FULL, name="CodeQL", head_sha="a" * 40,
                    started_at="2026-11-20T09:01:00Z", completed_at="2026-11-20T09:04:00Z"),
        b.check_run(2, FULL, name="build", head_sha="a" * 40,
                    started_at="2026-11-20T09:00:30Z", completed_at=None,
                    status="in_progress", conclusion=None),
    ])),
    ("/orgs/{org}", "get", "200", b.organization_full()),
    ("/orgs/{org}/dependabot/alerts", "get", "403", b.error_body("Forbidden", "403")),
    ("/orgs/{org}/code-scanning/alerts", "get", "404", b.error_body("Not Found", "404")),
    ("/orgs/{org}/dependabot/alerts", "get", "403", b.rate_limit_error()),
    ("/repos/{owner}/{repo}/code-scanning/analyses", "get", "404",
     b.error_body("no analysis found", "404")),
    ("/repos/{owner}/{repo}/code-scanning/analyses", "get", "403", b.error_body(
        "Advanced Security must be enabled for this repository to use code scanning.", "403")),
]


@pytest.mark.parametrize(
    ("path", "method", "status", "body"), REST_FIXTURES,
    ids=[f"{m} {p} {s}" for p, m, s, _ in REST_FIXTURES],
)
def test_rest_fixture_matches_openapi(path: str, method: str, status: str, body: Any) -> None:
    _validate(path, method, status, body)


def test_validator_rejects_a_drifted_field() -> None:
    """The check itself must be able to fail: a renamed required field is caught."""
    alert = b.dependabot_alert(1, FULL)
    alert["security_advisory"]["publishedAt"] = alert["security_advisory"].pop("published_at")
    with pytest.raises(AssertionError, match="published_at"):
        _validate("/orgs/{org}/dependabot/alerts", "get", "200", [alert])


@functools.lru_cache(maxsize=1)
def _graphql_schema() -> Any:
    from graphql import build_schema

    sdl = (_node_modules() / "@octokit/graphql-schema/schema.graphql").read_text(encoding="utf-8")
    # The published SDL repeats a few Enterprise fields; they are irrelevant here.
    return build_schema(sdl, assume_valid_sdl=True)


def _graphql_errors(query: str) -> list[str]:
    from graphql import parse, validate

    return [e.message for e in validate(_graphql_schema(), parse(query))]


def test_gate_query_is_valid_against_github_schema() -> None:
    assert _graphql_errors(GATE_QUERY) == []


_PARAMETER_TYPES = {
    "requiredApprovingReviewCount": "PullRequestParameters",
    "requiredStatusChecks": "RequiredStatusChecksParameters",
}


def _typed(node: Any) -> Any:
    """Add the ``__typename`` GitHub would resolve, so graphql-core can type the fixture."""
    if node is None:
        return None
    node = copy.deepcopy(node)
    node["__typename"] = "Repository"
    ref = node.get("defaultBranchRef")
    for rule in ((ref or {}).get("rules") or {}).get("nodes") or []:
        params = rule.get("parameters")
        if params:
            kind = next(t for key, t in _PARAMETER_TYPES.items() if key in params)
            params["__typename"] = kind
    return node


def _strip_typename(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_typename(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [_strip_typename(v) for v in value]
    return value


def test_gate_response_fixtures_conform_to_the_schema() -> None:
    """Executing GATE_QUERY over the fixture data must give back exactly that data:
    a missing non-null field, a wrong enum value or a renamed field would not."""
    from graphql import execute, parse

    rules = [
        b.ruleset_rule("DELETION"), b.ruleset_rule("NON_FAST_FORWARD"),
        b.ruleset_rule("REQUIRED_STATUS_CHECKS", {"requiredStatusChecks": [{"context": "ci"}]}),
        b.ruleset_rule("PULL_REQUEST", {"requiredApprovingReviewCount": 1,
                                        "requireCodeOwnerReview": True,
                                        "dismissStaleReviewsOnPush": False}, bypass=2),
    ]
    update_rule = {"allowsDeletions": False, "allowsForcePushes": False,
                   "requiredApprovingReviewCount": 2, "requiredStatusCheckContexts": ["ci"],
                   "requiresCodeOwnerReviews": False}
    body = b.graphql_gates([
        b.gate_node("R_1", FULL, protection=b.classic_protection(reviews=2, checks=["ci"])),
        b.gate_node("R_2", "octo-org/web", rules=rules, update_rule=update_rule),
        b.gate_node("R_3", "octo-org/empty", default_branch=None),
        None,
    ])
    root = {"rateLimit": body["data"]["rateLimit"],
            "nodes": [_typed(n) for n in body["data"]["nodes"]]}
    result = execute(_graphql_schema(), parse(GATE_QUERY), root_value=root,
                     variable_values={"ids": ["R_1", "R_2", "R_3", "R_4"]})
    assert result.errors is None, result.errors
    assert result.data == body["data"]
    broken = copy.deepcopy(root)
    broken["nodes"][0]["defaultBranchRef"]["branchProtectionRule"]["allowsDeletions"] = None
    assert execute(_graphql_schema(), parse(GATE_QUERY), root_value=broken,
                   variable_values={"ids": ["R_1"]}).errors


def test_graphql_validation_catches_an_unknown_field() -> None:
    broken = GATE_QUERY.replace("dismissesStaleReviews", "dismissStaleReviews")
    assert any("dismissStaleReviews" in message for message in _graphql_errors(broken))
