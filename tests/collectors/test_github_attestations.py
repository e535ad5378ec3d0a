"""Artifact attestations and SLSA build levels of release assets (issue 17).

test_github's in-test GitHub, extended with ``GET /repos/{o}/{r}/releases`` and
``POST /orgs/{org}/attestations/bulk-list``; bodies from
tests/fixtures/github/attestations.py, validated against GitHub's OpenAPI description
(responses, and the bulk-list request body the collector sends).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import httpx
import pytest

from collectors.base import CollectorError, ErrorKind
from collectors.github.attestations import AttestationError, provenance_level
from collectors.records import RecordKind
from tests.collectors.test_github import ORG, Server, make_collector, make_settings, run, serve
from tests.fixtures.github import attestations as a
from tests.fixtures.github import builders as b

D = {n: "sha256:" + f"{n:x}" * 64 for n in range(1, 8)}  # seven distinct digests
API_REPO, WEB_REPO = f"{ORG}/api", f"{ORG}/web"
BUILDER = "octo-org/slsa-builder"  # a reusable workflow in another repository


def signed(digest: str, *, builder: str = API_REPO, source: str = API_REPO,
           **kwargs: Any) -> dict[str, Any]:
    return a.attestation(a.provenance_bundle(
        a.statement(digest, source=source, builder=builder, **kwargs)))


class AttestServer(Server):
    """test_github's GitHub plus releases and the attestations bulk list."""

    def __init__(self) -> None:
        super().__init__()
        for repo in self.repos:
            if repo["full_name"] == API_REPO:
                repo.update(private=False, visibility="public")
        self.releases: dict[str, list[dict[str, Any]]] = {
            API_REPO: [
                a.release(API_REPO, 11, [
                    a.release_asset(API_REPO, 1, "app-l3.tar.gz", D[1]),
                    a.release_asset(API_REPO, 2, "app-l2.tar.gz", D[2]),
                    a.release_asset(API_REPO, 3, "unsigned.tar.gz", D[3]),
                    a.release_asset(API_REPO, 4, "old.tar.gz", None),  # before digests
                ]),
                a.release(API_REPO, 12, [a.release_asset(API_REPO, 5, "d.tgz", D[6])],
                          draft=True, tag="v2.0.0-draft"),
            ],
            WEB_REPO: [a.release(WEB_REPO, 21, [
                a.release_asset(WEB_REPO, 6, "web.zip", D[4]),
                a.release_asset(WEB_REPO, 7, "web-listed.zip", D[5]),
            ])],
        }
        self.attestations: dict[str, list[dict[str, Any]]] = {
            D[1]: [signed(D[1], builder=BUILDER)],
            D[2]: [signed(D[2])],
            D[5]: [a.attestation(None)],  # listed with bundle_url only
        }
        self.bulk_status = 200
        self.bulk_bodies: list[Any] = []
        self.page_size = 100

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for full, body in self.releases.items():
            if path == f"/repos/{full}/releases":
                self.requests.append(request)
                return self._json(request, body)
        if path == f"/orgs/{ORG}/attestations/bulk-list":
            self.requests.append(request)
            sent = json.loads(request.content)
            self.bulk_bodies.append(sent)
            if self.bulk_status != 200:
                return self._json(request, b.error_body("Resource not accessible by "
                                                        "integration", "403"),
                                  status=self.bulk_status)
            listed = [d for d in sent["subject_digests"] if d in self.attestations]
            after = request.url.params.get("after")
            start = int(after) if after else 0
            chunk = listed[start:start + 1]  # one digest a page: exercises the cursor
            more = str(start + 1) if start + 1 < len(listed) else None
            return self._json(request, a.bulk_list(
                {d: self.attestations[d] for d in chunk}, next_cursor=more))
        return super().handle(request)


def artifacts(result) -> dict[str, tuple[str, bool | None, int | None]]:
    return {x.id: (x.repository, x.attested, x.slsa_build_level)
            for x in result.records_of(RecordKind.ARTIFACT)}


def settings(monkeypatch, **supply: Any):
    return make_settings(monkeypatch, supply_chain={
        "sbom": False, "workflows": False, "attestations": True, **supply})


def test_release_assets_become_artifacts_with_their_slsa_level(monkeypatch) -> None:
    server = AttestServer()
    collector, _ = make_collector(settings(monkeypatch))
    with serve(server):
        result = run(collector)
    assert artifacts(result) == {
        D[1]: (API_REPO, True, 3),      # built by a reusable workflow of another repo
        D[2]: (API_REPO, True, 2),      # built by its own workflow
        D[3]: (API_REPO, False, None),  # public, nothing listed: unattested
        D[4]: (WEB_REPO, None, None),   # private, nothing listed: unknown, not unsigned
        D[5]: (WEB_REPO, True, 2),      # listed without an inline bundle
    }  # no digest (old asset) and the draft release's asset: not artifacts
    assert result.record_errors == Counter()
    assert RecordKind.ARTIFACT not in result.complete  # upserted: history stays
    # one bulk-list call for all digests (paged by cursor), asking for provenance
    assert all(body["predicate_type"] == "provenance" for body in server.bulk_bodies)
    assert sorted(server.bulk_bodies[0]["subject_digests"]) == sorted(
        [D[1], D[2], D[3], D[4], D[5]])
    for request in server.requests:
        if request.url.path.endswith("/bulk-list"):
            assert request.headers["Authorization"].startswith("Bearer ")


def test_an_enterprise_cloud_org_makes_private_unlisted_assets_unattested(
        monkeypatch) -> None:
    server = AttestServer()
    collector, _ = make_collector(settings(monkeypatch, attestations_private=True))
    with serve(server):
        result = run(collector)
    assert artifacts(result)[D[4]] == (WEB_REPO, False, None)


def test_an_unchanged_rerun_asks_nothing_and_a_push_is_answered_304(monkeypatch) -> None:
    server = AttestServer()
    collector, _ = make_collector(settings(monkeypatch))
    with serve(server):
        first = run(collector)
        count = len(server.requests)
        second = run(collector, first.state)
        asked = [r.url.path for r in server.requests[count:]
                 if "/releases" in r.url.path or "/attestations/" in r.url.path]
        assert asked == []
        server.repos[0]["pushed_at"] = "2026-11-22T00:00:00Z"  # a push to octo-org/api
        count = len(server.requests)
        third = run(collector, second.state)
        again = [r for r in server.requests[count:] if "/releases" in r.url.path]
    assert len(again) == 1 and "If-None-Match" in again[0].headers
    assert artifacts(second) == artifacts(first) == artifacts(third)


def test_a_refused_bulk_list_leaves_every_verdict_unknown(monkeypatch, caplog) -> None:
    server = AttestServer()
    server.bulk_status = 403
    collector, _ = make_collector(settings(monkeypatch))
    with serve(server):
        result = run(collector)
    assert {v[1:] for v in artifacts(result).values()} == {(None, None)}
    assert "Attestations: read" in caplog.text
    assert result.record_errors == Counter()


def test_an_unreadable_bundle_is_counted_and_ignored(monkeypatch, caplog) -> None:
    server = AttestServer()
    server.attestations[D[2]] = [a.attestation(a.provenance_bundle("%%not-base64%%"))]
    collector, _ = make_collector(settings(monkeypatch))
    with serve(server):
        result = run(collector)
    assert artifacts(result)[D[2]] == (API_REPO, False, None)
    assert result.record_errors == Counter({ErrorKind.MALFORMED_RECORD: 1})
    assert "cannot be read" in caplog.text


def test_a_malformed_releases_page_fails_the_run(monkeypatch) -> None:
    server = AttestServer()
    server.releases[API_REPO] = [{"id": 1, "assets": "nope"}]
    collector, _ = make_collector(settings(monkeypatch))
    with serve(server), pytest.raises(CollectorError) as err:
        run(collector)
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


def test_off_by_default(monkeypatch) -> None:
    server = AttestServer()
    collector, _ = make_collector(make_settings(monkeypatch, supply_chain={}))
    with serve(server):
        result = run(collector)
    assert not [r for r in server.requests if "/releases" in r.url.path
                or "/attestations/" in r.url.path]
    assert artifacts(result) == {}


# -- the provenance reading -----------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "level"), [
    ({"builder": BUILDER}, 3),
    ({"builder": API_REPO}, 2),
    ({"builder": BUILDER, "runner": "self-hosted"}, 2),  # not GitHub's hosted platform
    ({"builder": BUILDER, "predicate_type": "https://spdx.dev/Document/v2.3"}, None),
])
def test_provenance_levels(kwargs: dict[str, Any], level: int | None) -> None:
    assert provenance_level(signed(D[1], **kwargs), D[1]) == level


def test_a_statement_about_another_digest_is_refused() -> None:
    with pytest.raises(AttestationError, match="subject"):
        provenance_level(signed(D[2]), D[1])


def test_a_payload_that_is_not_json_is_refused() -> None:
    bundle = a.provenance_bundle(base64.b64encode(b"not json").decode())
    with pytest.raises(AttestationError):
        provenance_level(a.attestation(bundle), D[1])


# -- the bodies against GitHub's OpenAPI description -----------------------------------


def test_bodies_match_openapi() -> None:
    import jsonschema

    from tests.collectors.test_github_contract import (
        _node_modules,
        _nullable_to_jsonschema,
        _openapi,
        _validate,
    )

    _node_modules()  # skips locally (fails in CI) without the published description
    server = AttestServer()
    _validate("/repos/{owner}/{repo}/releases", "get", "200", server.releases[API_REPO])
    _validate("/orgs/{org}/attestations/bulk-list", "post", "200", a.bulk_list(
        {D[1]: server.attestations[D[1]], D[5]: server.attestations[D[5]], D[3]: None},
        next_cursor="Y3Vyc29y"))
    document = _openapi()
    request = document["paths"]["/orgs/{org}/attestations/bulk-list"]["post"]["requestBody"]
    schema = _nullable_to_jsonschema(request["content"]["application/json"]["schema"])
    jsonschema.Draft4Validator(schema).validate(
        {"subject_digests": [D[1], D[2]], "predicate_type": "provenance"})
