"""OpenSSF Scorecard scores of the github collector's repositories (issue 17).

Two sources, both optional, under ``supply_chain:``:

* ``scorecard_files``: a glob of Scorecard's own JSON output (``scorecard --format json``,
  run by the user's CI, typically for private repositories the public service never
  sees). Each file holds one result object (or several, one per line): ``repo.name``
  (``github.com/owner/repo``), ``date`` and the aggregate ``score``. Read on every run
  (local files, no request); a repository named by several results takes the newest.
* ``scorecard_api_url`` (for example ``https://api.securityscorecards.dev``): the public
  Scorecard API, ``GET /projects/github.com/{owner}/{repo}``, for **public** repositories
  on github.com that no file scores. Its shape is the ``ScorecardResult`` of the
  service's OpenAPI description (github.com/ossf/scorecard-webapp, ``openapi.yaml``):
  ``score`` a number, ``date``, ``repo.name``, ``checks[]``; 404 means "not scored".

The API is another origin: it gets no GitHub credential (its own client, no
``Authorization`` header, redirects only within its origin), only public repository
names (never a private or internal one, and nothing of a GitHub Enterprise Server), at
most ``scorecard_concurrency`` requests at a time, and each repository at most every
``scorecard_refresh`` (the service re-scores about weekly). An ETag it sends is sent
back as ``If-None-Match``.

Scores: Scorecard publishes a 0-10 number with one decimal; ``Repository.scorecard_score``
is an integer, rounded half up (6.5 -> 7, 6.4 -> 6). ``-1`` is Scorecard's
"inconclusive" and stays unknown; any other value outside 0-10 is counted as
``unmapped_value`` and stays unknown.

Failures of the Scorecard API never fail the GitHub run: the first failure (5xx or 429
after the shared client's retries, timeout, network, a malformed body) stops asking it
for the rest of the run, is counted once in the run's skipped-record errors under its
kind, and every repository keeps the score it last had (asked again next run).
"""

from __future__ import annotations

import asyncio
import glob
import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.http import ApiClient, HttpSettings, decode_json, parse_timestamp, path_segment

GITHUB_COM_API_HOST = "api.github.com"  # the public service scores github.com only
INCONCLUSIVE = -1  # Scorecard's InconclusiveResultScore
MAX_FILE_BYTES = 16 * 1024 * 1024
USER_AGENT = "devsecops-maturity-exporter"


class ScorecardError(ValueError):
    """A Scorecard result that is not in Scorecard's documented shape."""


@dataclass(frozen=True)
class ScorecardResult:
    """One result: ``repository`` is ``owner/repo`` in lower case; ``score`` is None
    when Scorecard could not conclude (or gave a value outside 0-10)."""

    repository: str
    score: int | None
    date: datetime | None
    unmapped: bool = False


def round_score(value: float) -> int:
    """Half up, not Python's half-to-even: Scorecard's 6.5 is 7, as a reader expects."""
    return math.floor(value + 0.5)


def _repository_name(value: Any) -> str:
    """``github.com/owner/repo`` (or ``owner/repo``) -> ``owner/repo``, lower case."""
    if not isinstance(value, str) or not value:
        raise ScorecardError("repo.name is missing or not text")
    parts = [p for p in value.strip().strip("/").split("/") if p]
    if len(parts) == 3 and "." in parts[0]:
        parts = parts[1:]
    if len(parts) != 2:
        raise ScorecardError("repo.name is not host/owner/repo or owner/repo")
    return "/".join(parts).lower()


def parse_result(body: Any, *, need_name: bool) -> ScorecardResult:
    """A ``ScorecardResult`` (API body or ``--format json`` output) -> its score.

    Raises :class:`ScorecardError` when the object is not in the documented shape.
    """
    if not isinstance(body, dict):
        raise ScorecardError("not a JSON object")
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or \
            not math.isfinite(score):
        raise ScorecardError("score is missing or not a number")
    repo = body.get("repo")
    name = ""
    if need_name or (isinstance(repo, dict) and repo.get("name") is not None):
        name = _repository_name(repo.get("name") if isinstance(repo, dict) else None)
    try:
        date = parse_timestamp(_dated(body.get("date")))
    except ValueError:
        raise ScorecardError("date is not a timestamp") from None
    if score == INCONCLUSIVE:
        return ScorecardResult(name, None, date)
    if not 0 <= score <= 10:
        return ScorecardResult(name, None, date, unmapped=True)
    return ScorecardResult(name, round_score(float(score)), date)


def _dated(value: Any) -> Any:
    """Scorecard writes RFC 3339 (``--format json``) or a bare ``YYYY-MM-DD`` (older
    output, the API's cron results): a bare date is read as midnight UTC."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return value + "T00:00:00Z"
    return value


def read_files(pattern: Path, ctx: CollectContext,
               errors: Counter[ErrorKind]) -> dict[str, ScorecardResult]:
    """Newest result per repository from the files ``pattern`` matches.

    A file that cannot be read, or a result in it that is not Scorecard's shape, is
    counted as ``malformed_record`` and logged with the file's path only; the others
    still count. A glob that matches nothing is logged, not fatal (CI may not have run).
    """
    out: dict[str, ScorecardResult] = {}
    matches = sorted(glob.glob(str(pattern), recursive=True))
    if not matches:
        ctx.logger.warning("supply_chain.scorecard_files: no file matches %s", pattern)
    for path in matches:
        try:
            if Path(path).stat().st_size > MAX_FILE_BYTES:
                raise ScorecardError(f"larger than {MAX_FILE_BYTES} bytes")
            text = Path(path).read_text(encoding="utf-8")
            results = [parse_result(obj, need_name=True) for obj in _objects(text)]
        except (OSError, UnicodeDecodeError, ScorecardError) as exc:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            reason = exc if isinstance(exc, ScorecardError) else type(exc).__name__
            ctx.logger.warning("Scorecard file %s skipped: %s", path, reason)
            continue
        for result in results:
            if result.unmapped:
                errors[ErrorKind.UNMAPPED_VALUE] += 1
                ctx.logger.warning("Scorecard file %s: score of %s outside 0-10, unknown",
                                   path, result.repository)
            before = out.get(result.repository)
            if before is None or _newer(result, before):
                out[result.repository] = result
    return out


def _objects(text: str) -> list[Any]:
    """One JSON document, or JSON lines (several runs appended to one file)."""
    try:
        return [json.loads(text)]
    except (ValueError, RecursionError):
        pass
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except (ValueError, RecursionError):
                raise ScorecardError("not JSON (nor JSON lines)") from None
    if not out:
        raise ScorecardError("empty")
    return out


def _newer(a: ScorecardResult, b: ScorecardResult) -> bool:
    if a.date is None:
        return False
    return b.date is None or a.date > b.date


async def read_scorecards(
    ctx: CollectContext, *, api_url: str, files: Path | None, github_api_url: str,
    refresh: timedelta, concurrency: int, http: HttpSettings, active: list[dict[str, Any]],
    old: Mapping[str, Any], new: dict[str, Any], errors: Counter[ErrorKind],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, int | None]:
    """Scorecard score per active repository (``full_name``); absent = not scored.

    ``old``/``new`` are the organisation's state: ``new["scorecard"]`` keeps per
    public repository the score read from the API, when, and its ETag.
    """
    scores: dict[str, int | None] = {}
    from_files = read_files(files, ctx, errors) if files is not None else {}
    ask: list[dict[str, Any]] = []
    on_github_com = httpx.URL(github_api_url).host == GITHUB_COM_API_HOST
    for repo in active:
        hit = from_files.get(repo["full_name"].lower())
        if hit is not None:
            scores[repo["full_name"]] = hit.score
        elif api_url and on_github_com and repo.get("public") is True:
            ask.append(repo)
    remembered = old.get("scorecard") or {}
    kept: dict[str, Any] = {}
    new["scorecard"] = kept
    if not ask:
        return scores
    client = ApiClient(
        api_url.rstrip("/") + "/",
        http.model_copy(update={"concurrency": max(1, concurrency)}),
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        sleep=sleep, transport=transport,
    )
    reader = _ApiReader(ctx, client, refresh, remembered, kept, errors, concurrency)
    try:
        await asyncio.gather(*(reader.one(repo, scores) for repo in ask))
    finally:
        await client.aclose()
    if reader.asked or reader.failed:
        ctx.logger.info("Scorecard API: %d asked (%d answered 304), %d fresh from the state"
                        "%s", reader.asked, reader.not_modified, reader.fresh,
                        ", stopped after a failure" if reader.failed else "")
    return scores


class _ApiReader:
    """Per-repository reads from the Scorecard API, stopping at the first failure."""

    def __init__(self, ctx: CollectContext, client: ApiClient, refresh: timedelta,
                 remembered: Mapping[str, Any], kept: dict[str, Any],
                 errors: Counter[ErrorKind], concurrency: int) -> None:
        self.ctx, self.client, self.refresh = ctx, client, refresh
        self.remembered, self.kept, self.errors = remembered, kept, errors
        # Taken before deciding to ask, so that after a failure at most the requests
        # already in flight are sent, not one per remaining repository.
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.failed = False
        self.asked = self.not_modified = self.fresh = 0

    def _keep_old(self, name: str, before: Mapping[str, Any],
                  scores: dict[str, int | None]) -> None:
        if before:
            self.kept[name] = dict(before)
            if "score" in before:
                scores[name] = before["score"]

    async def one(self, repo: dict[str, Any], scores: dict[str, int | None]) -> None:
        name = repo["full_name"]
        before = self.remembered.get(name) or {}
        at = before.get("at")
        if at is not None and self.ctx.now - datetime.fromisoformat(at) < self.refresh:
            self.fresh += 1
            self._keep_old(name, before, scores)
            return
        owner, _, short = name.partition("/")
        segments = (path_segment(owner), path_segment(short))
        url = f"projects/github.com/{segments[0]}/{segments[1]}"
        headers = {"If-None-Match": before["etag"]} if before.get("etag") else None
        try:
            async with self.slots:
                if self.failed or None in segments:
                    self._keep_old(name, before, scores)
                    return
                self.asked += 1
                response = await self.client.request("GET", url, headers=headers,
                                                     accept=frozenset({304, 404}))
            entry = self._entry(name, before, response)
        except CollectorError as exc:
            self._keep_old(name, before, scores)
            if not self.failed:
                self.failed = True
                self.errors[exc.kind] += 1
                self.ctx.logger.warning("Scorecard API failed (%s): %s; scores keep their "
                                        "last values until the next run", exc.kind.value, exc)
            return
        self.kept[name] = entry
        scores[name] = entry["score"]

    def _entry(self, name: str, before: Mapping[str, Any],
               response: httpx.Response) -> dict[str, Any]:
        entry: dict[str, Any] = {"at": self.ctx.now.isoformat()}
        if response.status_code == 304 and "score" in before:
            self.not_modified += 1
            entry["score"] = before["score"]
        elif response.status_code == 404:
            entry["score"] = None  # not (yet) scored by the public service
        elif response.status_code == 200:
            try:
                result = parse_result(decode_json(response), need_name=False)
            except ScorecardError as exc:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"Scorecard API result for {name}: {exc}") from None
            if result.repository and result.repository != name.lower():
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"Scorecard API result for {name} names another "
                                     "repository")
            if result.unmapped:
                self.errors[ErrorKind.UNMAPPED_VALUE] += 1
                self.ctx.logger.warning("Scorecard API: score of %s outside 0-10, unknown",
                                        name)
            entry["score"] = result.score
        else:  # 304 to a request we did not make conditional, or another 2xx/3xx
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 f"Scorecard API: unexpected HTTP {response.status_code} "
                                 f"for {name}")
        etag = response.headers.get("ETag") or (before.get("etag")
                                                if response.status_code == 304 else None)
        if etag and response.status_code != 404:
            entry["etag"] = etag
        return entry
