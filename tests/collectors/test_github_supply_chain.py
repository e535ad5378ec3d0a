"""GitHub supply chain: SBOM export availability and workflow hardening (issue 17).

The in-test GitHub of test_github.py, extended with the dependency graph SBOM and the
contents endpoints; bodies come from tests/fixtures/github/builders.py and are checked
against GitHub's OpenAPI description below, as test_github_contract.py does.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from collectors.base import ErrorKind
from collectors.github.supply_chain import WorkflowError, analyse_workflow
from tests.collectors.test_github import ORG, Server, make_collector, make_settings, run, serve
from tests.fixtures.github import builders as b

SHA = "8f4b7f84864484a7bf31766abe9204da3cbe65b3"
FIRST_PARTY = frozenset({"actions", "github", ORG})

HARDENED = f"""
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: step-security/harden-runner@{SHA}
        with:
          egress-policy: block
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@{SHA}
      - run: make test
  release:
    uses: octo-org/workflows/.github/workflows/release.yml@main
"""
LOOSE = """
on: pull_request
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: step-security/harden-runner@v2
        with:
          egress-policy: audit
      - uses: super-linter/super-linter@v7
"""


# -- analyse_workflow -------------------------------------------------------------------


def test_pinned_and_blocked_workflow() -> None:
    facts = analyse_workflow(HARDENED, FIRST_PARTY)
    # actions/checkout@v4 is first-party; the org's own reusable workflow too
    assert (facts.pinned, facts.egress) == (True, True)


def test_a_tag_on_a_third_party_action_and_an_audit_policy_fail() -> None:
    facts = analyse_workflow(LOOSE, FIRST_PARTY)
    assert (facts.pinned, facts.egress) == (False, False)


@pytest.mark.parametrize(("uses", "pinned"), [
    (f"third/action@{SHA}", True),
    (f"third/action@{SHA[:7]}", False),  # a short SHA is not a full commit SHA
    ("third/action@v1.2.3", False),
    ("third/action", False),
    ("./local-action", True),
    ("docker://alpine:3.20", False),
    ("docker://alpine@sha256:" + "0" * 64, True),
    ("actions/setup-python@v5", True),  # first-party
])
def test_what_counts_as_pinned(uses: str, pinned: bool) -> None:
    text = f"jobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: '{uses}'\n"
    assert analyse_workflow(text, FIRST_PARTY).pinned is pinned


def test_every_step_job_needs_the_block_policy() -> None:
    text = f"""
jobs:
  a:
    runs-on: x
    steps:
      - uses: step-security/harden-runner@{SHA}
        with: {{egress-policy: block}}
  b:
    runs-on: x
    steps:
      - run: curl https://example.org
"""
    assert analyse_workflow(text, FIRST_PARTY).egress is False


def test_a_third_party_reusable_workflow_must_be_pinned_and_has_no_egress_verdict() -> None:
    facts = analyse_workflow("jobs:\n  r:\n    uses: other/wf/.github/workflows/x.yml@v1\n",
                             FIRST_PARTY)
    assert (facts.pinned, facts.egress) == (False, None)


@pytest.mark.parametrize("text", ["jobs: [unclosed", "just text", "on: push\n",
                                  "jobs:\n  a: 3\n", "jobs:\n  a:\n    runs-on: x\n"])
def test_broken_workflows_raise(text: str) -> None:
    with pytest.raises(WorkflowError):
        analyse_workflow(text, FIRST_PARTY)


# -- the collector ----------------------------------------------------------------------


class SupplyServer(Server):
    """test_github's GitHub plus SBOM and workflow contents."""

    def __init__(self) -> None:
        super().__init__()
        self.sbom: dict[str, tuple[int, Any]] = {
            f"{ORG}/api": (200, b.dependency_graph_sbom(f"{ORG}/api")),
            f"{ORG}/web": (404, b.error_body(
                "Dependency graph is not enabled for this repository.", "404")),
        }
        self.workflows: dict[str, dict[str, str]] = {
            f"{ORG}/api": {"ci.yml": HARDENED},
            f"{ORG}/web": {"lint.yaml": LOOSE, "README.md": "not a workflow"},
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for full, (status, body) in self.sbom.items():
            if path == f"/repos/{full}/dependency-graph/sbom":
                self.requests.append(request)
                return self._json(request, body, status=status)
        for full, files in self.workflows.items():
            prefix = f"/repos/{full}/contents/.github/workflows"
            if path == prefix:
                self.requests.append(request)
                return self._json(request, b.content_directory(full, sorted(files)))
            if path.startswith(prefix + "/") and path[len(prefix) + 1:] in files:
                self.requests.append(request)
                name = path[len(prefix) + 1:]
                return self._json(request, b.content_file(
                    full, f".github/workflows/{name}", files[name]))
        return super().handle(request)


def supply_paths(server: Server) -> list[str]:
    return [p for p in server.paths() if "/dependency-graph/" in p or "/contents/" in p]


def repos_by_name(result) -> dict[str, Any]:
    return {r.name: r for r in result.repositories}


def test_sbom_and_workflow_hardening_per_active_repository(monkeypatch) -> None:
    server = SupplyServer()
    collector, _ = make_collector(make_settings(monkeypatch, supply_chain={}))
    with serve(server):
        result = run(collector)
    repos = repos_by_name(result)
    api, web = repos[f"{ORG}/api"], repos[f"{ORG}/web"]
    assert (api.sbom, api.pinned_actions, api.egress_control) == (True, True, True)
    assert (web.sbom, web.pinned_actions, web.egress_control) == (False, False, False)
    # the fork is active too: no workflows (404) and an unexplained 404 for the SBOM
    fork = repos[f"{ORG}/fork"]
    assert (fork.sbom, fork.pinned_actions, fork.egress_control) == (None, None, None)
    # archived repositories are not asked
    assert not [p for p in supply_paths(server) if f"/{ORG}/old/" in p]
    # README.md in the workflows directory is not fetched
    assert not [p for p in supply_paths(server) if p.endswith("README.md")]


def test_unchanged_repositories_cost_no_request_and_a_push_is_answered_by_304(
        monkeypatch) -> None:
    server = SupplyServer()
    collector, _ = make_collector(make_settings(monkeypatch, supply_chain={}))
    with serve(server):
        first = run(collector)
        before = len(supply_paths(server))
        second = run(collector, first.state)
        assert len(supply_paths(server)) == before  # nothing pushed: nothing asked
        server.repos[0]["pushed_at"] = "2026-11-22T00:00:00Z"  # a push to octo-org/api
        count = len(server.requests)
        third = run(collector, second.state)
        asked = [r for r in server.requests[count:]
                 if "/contents/" in r.url.path and f"/{ORG}/api/" in r.url.path]
    assert len(asked) == 2 and all("If-None-Match" in r.headers for r in asked)
    for result in (second, third):
        api = repos_by_name(result)[f"{ORG}/api"]
        assert (api.sbom, api.pinned_actions, api.egress_control) == (True, True, True)


def test_a_broken_workflow_is_counted_and_leaves_the_facts_unknown(monkeypatch, caplog) -> None:
    server = SupplyServer()
    server.workflows[f"{ORG}/api"]["broken.yml"] = "jobs: [unclosed\n  secret: s3cr3t"
    collector, _ = make_collector(make_settings(monkeypatch, supply_chain={}))
    with serve(server):
        result = run(collector)
    api = repos_by_name(result)[f"{ORG}/api"]
    assert (api.pinned_actions, api.egress_control) == (None, None)
    assert api.sbom is True
    assert result.record_errors == Counter({ErrorKind.MALFORMED_RECORD: 1})
    assert "s3cr3t" not in caplog.text and "broken.yml" in caplog.text


def test_a_refused_sbom_is_unknown_not_false(monkeypatch, caplog) -> None:
    server = SupplyServer()
    server.sbom[f"{ORG}/api"] = (403, b.error_body("Resource not accessible by integration",
                                                   "403"))
    collector, _ = make_collector(make_settings(monkeypatch, supply_chain={}))
    with serve(server):
        result = run(collector)
    assert repos_by_name(result)[f"{ORG}/api"].sbom is None
    assert "Contents: read" in caplog.text


def test_supply_chain_is_off_by_default(monkeypatch) -> None:
    server = SupplyServer()
    collector, _ = make_collector(make_settings(monkeypatch))
    with serve(server):
        result = run(collector)
    assert supply_paths(server) == []
    assert {r.sbom for r in result.repositories} == {None}


def test_switching_one_part_off_asks_only_the_other(monkeypatch) -> None:
    server = SupplyServer()
    collector, _ = make_collector(make_settings(monkeypatch, supply_chain={"sbom": False}))
    with serve(server):
        result = run(collector)
    assert not [p for p in supply_paths(server) if "/dependency-graph/" in p]
    assert repos_by_name(result)[f"{ORG}/api"].pinned_actions is True


# -- the bodies against GitHub's OpenAPI description -------------------------------------


@pytest.mark.parametrize(("path", "status", "body"), [
    ("/repos/{owner}/{repo}/dependency-graph/sbom", "200",
     b.dependency_graph_sbom(f"{ORG}/api")),
    ("/repos/{owner}/{repo}/contents/{path}", "200",
     b.content_directory(f"{ORG}/api", ["ci.yml"])),
    ("/repos/{owner}/{repo}/contents/{path}", "200",
     b.content_file(f"{ORG}/api", ".github/workflows/ci.yml", HARDENED)),
])
def test_supply_chain_bodies_match_openapi(path: str, status: str, body: Any) -> None:
    from tests.collectors.test_github_contract import _node_modules, _validate

    _node_modules()  # skips locally (fails in CI) without the published description
    _validate(path, "get", status, body)
