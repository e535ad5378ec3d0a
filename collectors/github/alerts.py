"""Dependabot, code scanning and secret scanning alerts: org listings down to the
watermark, each alert a Finding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from collectors.base import (
    CollectContext,
    CollectorError,
    ErrorKind,
)
from collectors.github.api import (
    GitHubApi,
    decode_list,
    fail,
)
from collectors.github.common import Feature, _OrgRun
from collectors.github.config import (
    MAX_PAGES,
    PER_PAGE,
    SECRET_DISMISSED_RESOLUTIONS,
    SECRET_FIXED_RESOLUTIONS,
    GitHubSettings,
)
from collectors.http import (
    parse_link_header,
    parse_timestamp,
)
from collectors.records import Finding, FindingState, Severity


def _alert_repository(item: Mapping[str, Any]) -> str | None:
    """An org alert's ``repository.full_name``; ``None`` when missing or not text.

    Read outside the per-alert guard (it names the repository's tools and features), so
    it must not raise; the alert itself is then skipped and counted by its build.
    """
    repository = item.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) and name else None




class AlertsMixin:
    """The three organisation alert listings."""

    settings: GitHubSettings
    _reported: set[str]
    _logged_values: set[tuple[str, str]]

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
