"""Artifact attestations of the github collector's release assets (issue 17).

Opt-in (``supply_chain.attestations: true``). Per organisation:

1. Per active repository, ``GET /repos/{o}/{r}/releases?per_page=N`` (first page only,
   the newest releases; conditional with its ETag), re-read when the repository was
   pushed since, or its last read is older than ``attestation_refresh``. Draft
   releases are skipped; each asset with a ``digest`` (``sha256:<64 hex>``, which GitHub
   computes for assets uploaded since mid-2025; older assets have none) is an artifact.
2. ``POST /orgs/{org}/attestations/bulk-list`` with up to 1024 ``subject_digests`` a
   request and ``predicate_type: provenance`` (cursor pages via ``page_info``), for the
   digests never judged or judged longer than ``attestation_refresh`` ago. A POST is
   never answered 304, which is why verdicts are kept per digest in the state.

Verdict per digest (``Artifact.attested``, ``Artifact.slsa_build_level``):

* An attestation whose Sigstore bundle carries a DSSE envelope with an in-toto
  statement (``payload``, base64 JSON) of ``predicateType``
  ``https://slsa.dev/provenance/v1`` and a subject with this sha256: attested, **Build
  L2** (GitHub: artifact attestations give SLSA v1.0 Build L2). **Build L3** when the
  provenance was produced by a reusable workflow of another repository than the source:
  ``runDetails.builder.id`` (``server_url/{owner}/{repo}/.github/workflows/...@ref``, the
  job's workflow) names a different repository than
  ``buildDefinition.externalParameters.workflow.repository`` (the source), and the runner
  was not self-hosted (``runner_environment``).
* An attestation listed without an inline bundle (GitHub may give only ``bundle_url``):
  attested (the provenance filter matched), Build L2; L3 cannot be told without the
  bundle, which is not downloaded.
* None listed: ``attested`` false for a public repository; **unknown** for a private or
  internal one (attestations on private repositories need GitHub Enterprise Cloud, and
  GitHub lists nothing either way) unless ``attestations_private: true`` says the
  organisation has it. Not attested: ``slsa_build_level`` unknown (provenance stored
  elsewhere, e.g. a ``.intoto.jsonl`` release asset, is not read).

What is **not** checked: signatures, certificates, the transparency log entry and the
signer identity. Attestations are *listed*, not verified (``gh attestation verify``
does that); the statement is only decoded to read its predicate type, subject and
builder. A bundle that cannot be decoded is counted as ``malformed_record`` and that
attestation ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.github.api import GitHubApi
from collectors.http import decode_json, parse_timestamp
from collectors.records_supply_chain import Artifact

PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
BULK_MAX = 1024  # GitHub's maxItems for subject_digests
MAX_BULK_PAGES = 1000

ReportOnce = Callable[[CollectContext, str, Any, str], None]


class AttestationError(ValueError):
    """An attestation whose bundle cannot be read as a DSSE in-toto statement."""


def _repo_of(url: Any) -> str | None:
    """``https://host/owner/repo[/...][@ref]`` -> ``owner/repo`` (lower case)."""
    if not isinstance(url, str):
        return None
    try:
        path = httpx.URL(url.split("@", 1)[0]).path
    except httpx.InvalidURL:
        return None
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[:2]).lower() if len(parts) >= 2 else None


def provenance_level(attestation: Mapping[str, Any], digest: str) -> int | None:
    """2 or 3 when ``attestation`` is SLSA v1 provenance for ``digest``, else None.

    Raises :class:`AttestationError` for a bundle that is not a readable DSSE statement.
    """
    bundle = attestation.get("bundle")
    if bundle is None:
        return 2  # listed under the provenance filter; the bundle is not inline
    if not isinstance(bundle, dict) or not isinstance(bundle.get("dsseEnvelope"), dict):
        raise AttestationError("bundle has no DSSE envelope")
    envelope = bundle["dsseEnvelope"]
    if envelope.get("payloadType") != IN_TOTO_PAYLOAD:
        return None
    try:
        statement = json.loads(base64.b64decode(envelope.get("payload") or "",
                                                validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise AttestationError("DSSE payload is not base64 JSON") from None
    if not isinstance(statement, dict):
        raise AttestationError("statement is not an object")
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type.startswith(PROVENANCE_V1):
        return None
    hexdigest = digest.split(":", 1)[1]
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not any(
            isinstance(s, dict) and isinstance(s.get("digest"), dict)
            and s["digest"].get("sha256") == hexdigest for s in subjects):
        raise AttestationError("no subject with this digest")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise AttestationError("provenance without a predicate")
    definition = predicate.get("buildDefinition") or {}
    external = definition.get("externalParameters") or {} if isinstance(definition, dict) \
        else {}
    internal = definition.get("internalParameters") or {} if isinstance(definition, dict) \
        else {}
    run = predicate.get("runDetails") or {}
    workflow = external.get("workflow") if isinstance(external, dict) else None
    source = _repo_of(workflow.get("repository") if isinstance(workflow, dict) else None)
    builder = run.get("builder") if isinstance(run, dict) else None
    builder_repo = _repo_of(builder.get("id") if isinstance(builder, dict) else None)
    github = internal.get("github") if isinstance(internal, dict) else None
    runner = (external.get("runner_environment") if isinstance(external, dict) else None) \
        or (github.get("runner_environment") if isinstance(github, dict) else None)
    if source and builder_repo and builder_repo != source and runner != "self-hosted":
        return 3
    return 2


def _assets(body: Any, where: str) -> list[list[str]]:
    """[[digest, created_at], ...] of a releases page; GitHub's shape or malformed."""
    if not isinstance(body, list):
        raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{where}: expected an array")
    out: list[list[str]] = []
    for release in body:
        if not isinstance(release, dict) or not isinstance(release.get("assets"), list):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"{where}: a release without an assets array")
        if release.get("draft"):
            continue
        for asset in release["assets"]:
            if not isinstance(asset, dict):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{where}: an asset is not an object")
            digest = asset.get("digest")
            created = asset.get("created_at") or release.get("published_at")
            if isinstance(digest, str) and DIGEST.match(digest) and isinstance(created, str):
                out.append([digest, created])
    return out


async def read_artifacts(
    ctx: CollectContext, api: GitHubApi, *, org: str, per_repository: int,
    refresh: timedelta, private_attested: bool, active: list[dict[str, Any]],
    old: Mapping[str, Any], new: dict[str, Any], errors: Counter[ErrorKind],
    report_once: ReportOnce, gather: Callable[..., Awaitable[list[Any]]],
) -> dict[str, list[Artifact]]:
    """Artifacts (release assets with a digest) per active repository, with verdicts.

    ``new["attestations"]`` keeps per repository the releases' ETag, when read and the
    assets; per digest the verdict and when it was reached.
    """
    before = old.get("attestations") or {}
    old_repos, old_digests = before.get("repos") or {}, before.get("digests") or {}
    repos: dict[str, Any] = {}
    digests: dict[str, Any] = {}
    new["attestations"] = {"repos": repos, "digests": digests}

    async def releases(repo: dict[str, Any]) -> None:
        name = repo["full_name"]
        kept = old_repos.get(name) or {}
        at = kept.get("at")
        if kept and kept.get("pushed_at") == repo.get("pushed_at") and at and \
                ctx.now - datetime.fromisoformat(at) < refresh:
            repos[name] = kept
            api.cache_hits += 1
            return
        url = f"repos/{name}/releases"
        response = await api.request("GET", url, params={"per_page": per_repository},
                                     etag=kept.get("etag"), accept=frozenset({403, 404}))
        if response.status_code in (403, 404):
            report_once(ctx, f"releases:{org}", response, "contents")
            # asked again after a push or the refresh, not on every run; assets seen
            # before are kept (their artifacts stay known)
            repos[name] = {"pushed_at": repo.get("pushed_at"), "at": ctx.now.isoformat(),
                           "etag": None, "assets": kept.get("assets") or []}
            return
        if response.status_code == 304 and "assets" in kept:
            assets = kept["assets"]
        else:
            assets = _assets(decode_json(response), url)
        repos[name] = {"pushed_at": repo.get("pushed_at"), "at": ctx.now.isoformat(),
                       "etag": response.headers.get("ETag"), "assets": assets}

    await gather(*(releases(r) for r in active))
    owner: dict[str, dict[str, Any]] = {}  # digest -> the first repository naming it
    by_name = {r["full_name"]: r for r in active}
    for name in sorted(repos):
        for digest, _ in repos[name]["assets"]:
            owner.setdefault(digest, by_name[name])
    ask = []
    for digest in sorted(owner):
        verdict = old_digests.get(digest)
        if verdict and ctx.now - datetime.fromisoformat(verdict["at"]) < refresh:
            digests[digest] = verdict
        else:
            ask.append(digest)
    for start in range(0, len(ask), BULK_MAX):
        chunk = ask[start:start + BULK_MAX]
        listed = await _bulk_list(ctx, api, org, chunk, report_once)
        if listed is None:  # refused: keep what was known
            digests.update({d: old_digests[d] for d in chunk if d in old_digests})
            continue
        for digest in chunk:
            digests[digest] = _verdict(ctx, digest, listed.get(digest) or [],
                                       owner[digest], private_attested, errors)
    return _records(ctx, repos, digests, errors)


async def _bulk_list(ctx: CollectContext, api: GitHubApi, org: str, chunk: list[str],
                     report_once: ReportOnce) -> dict[str, list[Any]] | None:
    """digest -> attestations listed for it; None when GitHub refused the listing."""
    url = f"orgs/{org}/attestations/bulk-list"
    out: dict[str, list[Any]] = {}
    params: dict[str, Any] = {"per_page": 100}
    for _ in range(MAX_BULK_PAGES):
        response = await api.request(
            "POST", url, params=params, accept=frozenset({403, 404}),
            json_body={"subject_digests": chunk, "predicate_type": "provenance"})
        if response.status_code in (403, 404):
            report_once(ctx, f"attestations:{org}", response, "attestations")
            return None
        body = decode_json(response)
        mapping = body.get("attestations_subject_digests") if isinstance(body, dict) else None
        if not isinstance(mapping, dict) or not all(
                v is None or isinstance(v, list) for v in mapping.values()):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"{url}: no attestations_subject_digests mapping")
        for digest, items in mapping.items():
            out.setdefault(digest, []).extend(items or [])
        page = body.get("page_info") if isinstance(body.get("page_info"), dict) else {}
        if not page.get("has_next") or not isinstance(page.get("next"), str) \
                or not page["next"]:
            return out
        params = {"per_page": 100, "after": page["next"]}
    raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"pagination of {url} does not end")


def _verdict(ctx: CollectContext, digest: str, attestations: list[Any],
             repo: Mapping[str, Any], private_attested: bool,
             errors: Counter[ErrorKind]) -> dict[str, Any]:
    level: int | None = None
    for attestation in attestations:
        if not isinstance(attestation, dict):
            errors[ErrorKind.MALFORMED_RECORD] += 1
            continue
        try:
            found = provenance_level(attestation, digest)
        except AttestationError as exc:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("GitHub %s: an attestation of %s cannot be read (%s); "
                               "ignored", repo["full_name"], digest, exc)
            continue
        if found is not None:
            level = max(level or 0, found)
    if level is not None:
        attested: bool | None = True
    elif repo.get("public") is True or private_attested:
        attested = False
    else:
        attested = None  # private/internal: attestations need GitHub Enterprise Cloud
    return {"attested": attested, "level": level, "at": ctx.now.isoformat()}


def _records(ctx: CollectContext, repos: Mapping[str, Any], digests: Mapping[str, Any],
             errors: Counter[ErrorKind]) -> dict[str, list[Artifact]]:
    out: dict[str, list[Artifact]] = {}
    seen: set[str] = set()
    for name in sorted(repos):
        for digest, created in repos[name]["assets"]:
            if digest in seen:
                continue  # the same bytes released twice: one artifact
            seen.add(digest)
            verdict = digests.get(digest) or {}
            try:
                created_at = parse_timestamp(created)
                if created_at is None:
                    continue
                out.setdefault(name, []).append(Artifact(
                    id=digest, source=ctx.name, repository=name, created_at=created_at,
                    attested=verdict.get("attested"),
                    slsa_build_level=verdict.get("level"),
                ))
            except ValueError as exc:
                errors[ErrorKind.MALFORMED_RECORD] += 1
                ctx.logger.warning("GitHub %s: skipping artifact %s: %s", name, digest, exc)
    return out
