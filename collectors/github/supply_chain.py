"""GitHub supply chain facts per repository: SBOM export, workflow hardening.

The ``github`` collector's supply-chain concern (``supply_chain:`` in its config, off by
default). Per active repository, and only when its default branch changed since the
facts were last read (``pushed_at`` of the repository listing, kept in the state):

* ``GET /repos/{owner}/{repo}/dependency-graph/sbom``: 200 means the dependency graph's
  SPDX export is available (``sbom`` true); a 403/404 that says the dependency graph is
  disabled means false; any other refusal is unknown (a permission is missing). Only
  the status is kept, never the SBOM.
* ``GET /repos/{owner}/{repo}/contents/.github/workflows`` (conditional, with its ETag),
  then each ``*.yml`` / ``*.yaml`` file in it (conditional too). Each file is parsed
  with ``yaml.safe_load`` and :func:`analyse_workflow` decides:

  - ``pinned_actions``: every third-party ``uses:`` (steps and reusable-workflow jobs)
    names a full 40-hex commit SHA (``docker://`` images: a ``@sha256:`` digest). Local
    (``./``) actions and those of the first-party owners (``actions``, ``github`` and
    the repository's own organisation) are not third-party.
  - ``egress_control``: every job that runs steps has a
    ``step-security/harden-runner`` step whose ``egress-policy`` is ``block``. Jobs that
    call a reusable workflow are judged in the repository that defines it.

  A repository without workflows has neither fact (unknown: nothing to harden is not
  "hardened"). A workflow file that is not valid YAML, or not a workflow, is counted
  (``malformed_record``) and makes that repository's two facts unknown, never fatal.

OpenSSF Scorecard scores (``scorecard_score``) are read by ``collectors/github/scorecard.py``
(public API for public repositories, Scorecard's JSON output files for the others),
independently of pushes.

Nothing here logs a file's content; errors name the repository and the file path only.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from pydantic import Field, field_validator

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.github.api import GitHubApi, message_of
from collectors.github.attestations import read_artifacts
from collectors.github.scorecard import read_scorecards
from collectors.http import decode_json
from collectors.records_supply_chain import Artifact
from collectors.settings import ConfigPath, PositiveDuration, StrictModel

FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
DOCKER_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
HARDEN_RUNNER = "step-security/harden-runner"
FIRST_PARTY_OWNERS = frozenset({"actions", "github"})
WORKFLOWS_DIR = ".github/workflows"
MAX_WORKFLOW_FILES = 100  # a directory with more is read up to this many, and unknown
_SBOM_DISABLED_MARKERS = ("dependency graph", "not enabled", "disabled")


class SupplyChainSettings(StrictModel):
    """``supply_chain:`` of the github collector (absent: no supply-chain requests)."""

    sbom: bool = True
    workflows: bool = True
    first_party_owners: list[str] = Field(
        default_factory=list,
        description="owners whose actions count as first-party besides actions, github "
                    "and the repository's own organisation")
    scorecard_api_url: str = Field(
        default="",
        description="the public OpenSSF Scorecard API for public github.com repositories, "
                    "e.g. https://api.securityscorecards.dev (no GitHub token is sent to "
                    "it); empty: not asked")
    scorecard_files: ConfigPath | None = Field(
        default=None,
        description="glob of `scorecard --format json` output files (private "
                    "repositories), relative to the config file; they win over the API")
    scorecard_refresh: PositiveDuration = Field(
        default=timedelta(hours=24),
        description="ask the Scorecard API again for a repository after this long")
    scorecard_concurrency: int = Field(default=4, ge=1, le=16)
    attestations: bool = Field(
        default=False,
        description="release assets' artifact attestations and SLSA build level "
                    "(one releases request per active repository, bulk-list per org)")
    releases_per_repository: int = Field(default=10, ge=1, le=100,
                                         description="newest releases read per repository")
    attestation_refresh: PositiveDuration = Field(
        default=timedelta(hours=24),
        description="re-read releases of unpushed repositories, and re-ask verdicts, "
                    "after this long")
    attestations_private: bool = Field(
        default=False,
        description="the organisation has GitHub Enterprise Cloud: a private repository's "
                    "asset without an attestation is unattested, not unknown")

    @field_validator("scorecard_api_url")
    @classmethod
    def _scorecard_https(cls, value: str) -> str:
        if value:
            parsed = urlsplit(value)
            if parsed.scheme != "https" or not parsed.netloc or parsed.query:
                raise ValueError(f"scorecard_api_url: not an https URL: {value!r}")
        return value.rstrip("/")


class WorkflowError(ValueError):
    """A workflow file that cannot be judged (not YAML, not a workflow)."""


@dataclass(frozen=True)
class WorkflowFacts:
    """What one workflow file shows. ``egress`` is None when it has no step jobs."""

    pinned: bool
    egress: bool | None


def _pinned(uses: str) -> bool:
    if uses.startswith("docker://"):
        return bool(DOCKER_DIGEST.search(uses))
    _, _, ref = uses.partition("@")
    return bool(FULL_SHA.match(ref))


def _third_party(uses: str, first_party: frozenset[str]) -> bool:
    if uses.startswith("./") or uses.startswith("docker://"):
        return not uses.startswith("./")
    owner = uses.split("/", 1)[0].lower()
    return owner not in first_party


def analyse_workflow(text: str, first_party: frozenset[str]) -> WorkflowFacts:
    """Pinning and egress facts of one workflow file (``first_party``: lower-case owners).

    Raises :class:`WorkflowError` for a file that is not a YAML mapping with ``jobs``.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise WorkflowError("not valid YAML") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict):
        raise WorkflowError("not a workflow (no jobs mapping)")
    pinned = True
    step_jobs = 0
    blocked = 0
    for job in doc["jobs"].values():
        if not isinstance(job, dict):
            raise WorkflowError("a job is not a mapping")
        uses = job.get("uses")
        if isinstance(uses, str):  # a reusable workflow call: no steps of its own here
            if _third_party(uses, first_party) and not _pinned(uses):
                pinned = False
            continue
        steps = job.get("steps")
        if not isinstance(steps, list):
            raise WorkflowError("a job has neither steps nor uses")
        step_jobs += 1
        job_blocked = False
        for step in steps:
            if not isinstance(step, dict):
                raise WorkflowError("a step is not a mapping")
            uses = step.get("uses")
            if not isinstance(uses, str):
                continue
            if _third_party(uses, first_party) and not _pinned(uses):
                pinned = False
            if uses.split("@", 1)[0].lower() == HARDEN_RUNNER:
                policy = (step.get("with") or {}).get("egress-policy")
                job_blocked = job_blocked or str(policy).lower() == "block"
        blocked += job_blocked
    return WorkflowFacts(pinned=pinned, egress=(blocked == step_jobs) if step_jobs else None)


@dataclass
class RepoSupplyChain:
    """One repository's supply-chain settings, JSON-shaped for the collector state."""

    sbom: bool | None = None
    pinned_actions: bool | None = None
    egress_control: bool | None = None
    scorecard_score: int | None = None  # kept in the state apart (scorecard.py)
    artifacts: list[Artifact] = field(default_factory=list)  # attestations.py

    def as_state(self) -> dict[str, Any]:
        return {"sbom": self.sbom, "pinned_actions": self.pinned_actions,
                "egress_control": self.egress_control}


ReportOnce = Callable[[CollectContext, str, Any, str], None]


async def read_supply_chain(
    ctx: CollectContext, api: GitHubApi, settings: SupplyChainSettings, org: str,
    active: list[dict[str, Any]], old: Mapping[str, Any], new: dict[str, Any],
    errors: Counter[ErrorKind], report_once: ReportOnce,
    gather: Callable[..., Awaitable[list[Any]]], *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, RepoSupplyChain]:
    """Supply-chain settings of ``active`` repositories, reusing unchanged ones.

    ``old``/``new`` are the organisation's state; ``new["supply_chain"]`` keeps per
    repository the ``pushed_at`` the facts were read at, the facts, and the ETags of the
    workflow directory and files (with their verdicts), so an unchanged repository costs
    no request and a pushed one mostly 304s.
    """
    remembered = old.get("supply_chain") or {}
    kept: dict[str, Any] = {}
    new["supply_chain"] = kept
    first_party = frozenset({*FIRST_PARTY_OWNERS, org.lower(),
                             *(o.lower() for o in settings.first_party_owners)})
    out: dict[str, RepoSupplyChain] = {}

    async def one(repo: dict[str, Any]) -> None:
        name = repo["full_name"]
        before = remembered.get(name) or {}
        if before and before.get("pushed_at") == repo.get("pushed_at") and \
                before.get("settings") == _wanted(settings):
            kept[name] = before
            out[name] = RepoSupplyChain(**before["facts"])
            api.cache_hits += 1
            return
        facts = RepoSupplyChain()
        entry: dict[str, Any] = {"pushed_at": repo.get("pushed_at"),
                                 "settings": _wanted(settings), "files": {}}
        if settings.sbom:
            facts.sbom = await _sbom(ctx, api, name, report_once)
        if settings.workflows:
            facts.pinned_actions, facts.egress_control = await _workflows(
                ctx, api, name, before, entry, first_party, errors, report_once)
        entry["facts"] = facts.as_state()
        kept[name] = entry
        out[name] = facts

    await gather(*(one(r) for r in active))
    scores = await read_scorecards(
        ctx, api_url=settings.scorecard_api_url, files=settings.scorecard_files,
        github_api_url=api.settings.api_url, refresh=settings.scorecard_refresh,
        concurrency=settings.scorecard_concurrency, http=api.settings.http, active=active,
        old=old, new=new, errors=errors, transport=transport,
        **({"sleep": sleep} if sleep is not None else {}))
    for name, score in scores.items():
        out.setdefault(name, RepoSupplyChain()).scorecard_score = score
    if settings.attestations:
        artifacts = await read_artifacts(
            ctx, api, org=org, per_repository=settings.releases_per_repository,
            refresh=settings.attestation_refresh,
            private_attested=settings.attestations_private, active=active, old=old,
            new=new, errors=errors, report_once=report_once, gather=gather)
        for name, items in artifacts.items():
            out.setdefault(name, RepoSupplyChain()).artifacts = items
    return out


def _wanted(settings: SupplyChainSettings) -> list[Any]:
    return [settings.sbom, settings.workflows, sorted(settings.first_party_owners)]


async def _sbom(ctx: CollectContext, api: GitHubApi, name: str,
                report_once: ReportOnce) -> bool | None:
    response = await api.request("GET", f"repos/{name}/dependency-graph/sbom",
                                 accept=frozenset({403, 404}))
    if response.status_code == 200:
        body = decode_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("sbom"), dict):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"repos/{name}/dependency-graph/sbom: no sbom object")
        return True
    message = (message_of(response) or "").lower()
    if any(marker in message for marker in _SBOM_DISABLED_MARKERS):
        return False
    report_once(ctx, f"sbom:{name.split('/')[0]}", response, "sbom")
    return None


def _decode_content(body: Any, where: str) -> str:
    if not isinstance(body, dict) or body.get("type") != "file" or \
            not isinstance(body.get("content"), str):
        raise WorkflowError("not a file")
    if body.get("encoding") != "base64":
        raise WorkflowError("unexpected encoding")
    try:
        return base64.b64decode(body["content"]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise WorkflowError(f"{where}: content is not base64 UTF-8") from None


async def _workflows(
    ctx: CollectContext, api: GitHubApi, name: str, before: Mapping[str, Any],
    entry: dict[str, Any], first_party: frozenset[str], errors: Counter[ErrorKind],
    report_once: ReportOnce,
) -> tuple[bool | None, bool | None]:
    """(pinned_actions, egress_control) of one repository's default-branch workflows."""
    url = f"repos/{name}/contents/{WORKFLOWS_DIR}"
    cached_dir = before.get("dir") or {}
    response = await api.request("GET", url, etag=cached_dir.get("etag"),
                                 accept=frozenset({403, 404}))
    if response.status_code == 404:
        entry["dir"] = {}
        return None, None  # no workflows: nothing to judge
    if response.status_code == 403:
        report_once(ctx, f"contents:{name.split('/')[0]}", response, "contents")
        return None, None
    if response.status_code == 304 and cached_dir.get("files") is not None:
        listing = cached_dir["files"]
    else:
        body = decode_json(response)
        if not isinstance(body, list):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{url}: not a directory listing")
        listing = sorted(str(item.get("path")) for item in body
                         if isinstance(item, dict) and item.get("type") == "file"
                         and str(item.get("name", "")).endswith((".yml", ".yaml")))
    etag = response.headers.get("ETag") or cached_dir.get("etag")
    entry["dir"] = {"etag": etag, "files": listing} if etag else {}
    if not listing:
        return None, None
    if len(listing) > MAX_WORKFLOW_FILES:
        return None, None
    cached_files = before.get("files") or {}
    pinned: bool | None = True
    egress: bool | None = None
    egress_all = True
    for path in listing:
        cached = cached_files.get(path) or {}
        file_response = await api.request("GET", f"repos/{name}/contents/{path}",
                                          etag=cached.get("etag"),
                                          accept=frozenset({403, 404}))
        if file_response.status_code in (403, 404):
            return None, None  # changed between the listing and the read, or refused
        if file_response.status_code == 304 and "verdict" in cached:
            verdict = cached["verdict"]
        else:
            try:
                facts = analyse_workflow(_decode_content(decode_json(file_response), path),
                                         first_party)
                verdict = {"pinned": facts.pinned, "egress": facts.egress}
            except WorkflowError as exc:
                verdict = {"broken": str(exc)}
        file_etag = file_response.headers.get("ETag")
        if file_etag:
            entry["files"][path] = {"etag": file_etag, "verdict": verdict}
        if "broken" in verdict:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            ctx.logger.warning("GitHub %s: workflow %s cannot be judged (%s); its pinning "
                               "and egress are unknown", name, path, verdict["broken"])
            pinned, egress_all = None, False
            egress = None
            continue
        if pinned is not None and not verdict["pinned"]:
            pinned = False
        if verdict["egress"] is not None:
            egress = (egress if egress is not None else True) and verdict["egress"]
    if pinned is None:
        return None, None
    return pinned, egress if egress_all else None
