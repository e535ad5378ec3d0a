"""The ``okta`` collector: Okta (Management API) identity facts.

An API token (``Authorization: SSWS <token>``) of a read-only administrator. Per run:

* ``GET /api/v1/users`` (not deprovisioned) gives :class:`IdentityAccount` records of
  people; their MFA capability comes from ``GET /api/v1/users/{id}/factors``, which
  Okta has only per user. Those calls are incremental: only users created or updated
  since the last run (``lastUpdated``), plus a full pass every ``factors_full_interval``
  (enrolling a factor does not change ``lastUpdated``). Capabilities are kept in the
  collector state under pseudonymous keys.
* ``GET /api/v1/apps`` gives :class:`Application` records from ``signOnMode``;
* ``GET /api/v1/iam/assignees/users`` lists users holding admin roles, and
  ``GET /api/v1/users/{id}/roles`` their roles: :class:`PrivilegedAssignment` records,
  all standing (Okta's admin roles have no eligibility);
* with ``leave_date_attribute`` set (a profile attribute carrying the leave date, e.g.
  from the HR source), users with that attribute, deprovisioned ones included, give
  :class:`Offboarding` records; access removal is the first ``user.lifecycle.deactivate``
  or ``user.lifecycle.suspend`` System Log event (``/api/v1/logs``, which keeps 90
  days: older offboardings come only from stored history).

Pages follow ``Link: <...>; rel="next"``. Okta's rate limits are honoured from the
``X-Rate-Limit-Reset`` header on 429, and a response announcing
``X-Rate-Limit-Remaining: 0`` makes the next request wait for the reset.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import (
    ApiClient,
    HttpSettings,
    decode_json,
    parse_link_header,
    parse_timestamp,
    path_segment,
)
from collectors.records import RecordKind
from collectors.records_identity import (
    AccountKind,
    Application,
    AssignmentType,
    IdentityAccount,
    MfaStatus,
    Offboarding,
    PrivilegedAssignment,
    SignOn,
    pseudonym,
)
from collectors.settings import PositiveDuration, Secret, StrictModel

ACTIVE_STATUSES = frozenset({"ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"})
INACTIVE_STATUSES = frozenset({"STAGED", "PROVISIONED", "SUSPENDED", "DEPROVISIONED"})
SIGN_ON_MODES = {
    "SAML_2_0": SignOn.FEDERATED, "SAML_1_1": SignOn.FEDERATED,
    "WS_FEDERATION": SignOn.FEDERATED, "OPENID_CONNECT": SignOn.FEDERATED,
    "SECURE_PASSWORD_STORE": SignOn.PASSWORD, "BROWSER_PLUGIN": SignOn.PASSWORD,
    "AUTO_LOGIN": SignOn.PASSWORD, "BASIC_AUTH": SignOn.PASSWORD, "BOOKMARK": SignOn.NONE,
}
# A knowledge factor is the same class as the password: it does not make MFA.
NOT_MFA_FACTORS = frozenset({"question"})
REMOVAL_EVENTS = ("user.lifecycle.deactivate", "user.lifecycle.suspend")


class OktaSettings(StrictModel):
    org_url: str = Field(description="https://<org>.okta.com")
    api_token: Secret
    lookback: PositiveDuration | None = Field(
        default=None, description="how far back System Log events are read (Okta keeps "
        "90 days); never less than the previous quarter's start plus a margin")
    factors_full_interval: PositiveDuration = timedelta(days=7)
    privileged_roles: list[str] | None = Field(
        default=None, description="admin role types counted as privileged; default: all")
    break_glass: list[str] = Field(default_factory=list,
                                   description="user ids of emergency accounts")
    production_pattern: str | None = None
    leave_date_attribute: str | None = Field(
        default=None, description="profile attribute holding the leave date")
    page_size: int = Field(default=200, ge=1, le=200)
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("org_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")


def okta_rate_limit_wait(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds until ``X-Rate-Limit-Reset`` on a 429 (Okta sends no Retry-After)."""
    if response.status_code != 429:
        return None
    reset = response.headers.get("X-Rate-Limit-Reset")
    try:
        return max(1.0, float(reset) - (now if now is not None else time.time()))
    except (TypeError, ValueError):
        return None


def _ts(value: Any) -> datetime | None:
    """A timestamp, a plain date (midnight UTC, as HR attributes hold) or None if unreadable."""
    if isinstance(value, str) and len(value) == 10:
        value += "T00:00:00Z"
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


class OktaCollector(Collector):
    """Okta via the Management API (see the module docstring)."""

    config_model: ClassVar[type[StrictModel]] = OktaSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({
        RecordKind.IDENTITY_ACCOUNT, RecordKind.APPLICATION,
        RecordKind.PRIVILEGED_ASSIGNMENT, RecordKind.OFFBOARDING,
    })

    def __init__(self, name: str, settings: StrictModel, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, OktaSettings)
        self.config: OktaSettings = settings
        self._sleep = sleep
        self._transport = transport
        self._clock = clock
        self._logged: set[tuple[str, str]] = set()
        self.requests = 0

    def _client(self) -> ApiClient:
        token = self.config.api_token.get_secret_value()
        return ApiClient(self.config.org_url, self.config.http, sleep=self._sleep,
                         transport=self._transport,
                         headers={"Authorization": f"SSWS {token}",
                                  "Accept": "application/json"},
                         rate_limit_hook=lambda r: okta_rate_limit_wait(r, self._clock()))

    def key(self, user_id: str) -> str:
        return pseudonym(self.config.org_url, user_id)

    async def _pages(self, client: ApiClient, path: str, params: dict[str, Any] | None,
                     errors: Counter[ErrorKind]) -> AsyncIterator[dict[str, Any]]:
        """Every item of a listing, along ``Link: rel="next"`` on the org's own host.

        An item that is not an object is skipped and counted in ``errors``: dropping it
        silently would lose a record uncounted.
        """
        url: str = path
        query = params
        host = httpx.URL(self.config.org_url).host
        seen: set[str] = set()
        while True:
            response = await client.request("GET", url, params=query)
            self.requests += 1
            body = decode_json(response)
            if not isinstance(body, list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{path}: the response is not a JSON array")
            for item in body:
                if isinstance(item, dict):
                    yield item
                else:
                    errors[ErrorKind.MALFORMED_RECORD] += 1
            await self._respect_remaining(response)
            link = parse_link_header(response.headers.get("Link")).get("next")
            if not link:
                return
            if httpx.URL(link).host != host:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{path}: next link points to another host")
            if link in seen:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{path}: next link repeats a page")
            seen.add(link)
            url, query = link, None

    async def _respect_remaining(self, response: httpx.Response) -> None:
        """Wait for the window's reset when Okta says no request is left in it."""
        if response.headers.get("X-Rate-Limit-Remaining") != "0":
            return
        try:
            wait = float(response.headers["X-Rate-Limit-Reset"]) - self._clock()
        except (KeyError, ValueError):
            return
        if wait > 0:
            if wait > self.config.http.max_retry_wait.total_seconds():
                raise CollectorError(ErrorKind.RATE_LIMITED, f"rate limit resets in "
                                     f"{wait:.0f}s, over the retry budget")
            await self._sleep(wait)

    def _unmapped(self, ctx: CollectContext, errors: Counter[ErrorKind], field: str,
                  value: Any) -> None:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        shown = str(value)[:40]
        if (field, shown) not in self._logged:
            self._logged.add((field, shown))
            ctx.logger.warning("%s: unknown %s %r; record skipped", ctx.name, field, shown)

    async def check(self, ctx: CollectContext) -> list[str]:
        async with self._client() as client:
            try:
                await client.request("GET", "/api/v1/users", params={"limit": 1})
                await client.request("GET", "/api/v1/apps", params={"limit": 1})
                await client.request("GET", "/api/v1/iam/assignees/users",
                                     params={"limit": 1})
            except CollectorError as exc:
                return [f"{exc.kind.value}: {exc}"]
        return []

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        s = self.config
        result = CollectionResult()
        errors = result.record_errors
        state = dict(ctx.state)
        mfa: dict[str, int] = dict(state.get("mfa") or {})
        last_run = _ts(state.get("last_run"))
        last_full = _ts(state.get("factors_full"))
        full = last_run is None or last_full is None or (
            ctx.now - last_full >= s.factors_full_interval)
        async with self._client() as client:
            users = [u async for u in self._pages(client, "/api/v1/users",
                                                  {"limit": s.page_size}, errors)]
            seen_keys = set()
            for user in users:
                account = await self._account(client, ctx, errors, user, mfa, full, last_run)
                if account is not None:
                    result.add(account)
                    seen_keys.add(account.id)
            assignments = await self._admins(client, errors)
            async for app in self._pages(client, "/api/v1/apps", {"limit": s.page_size},
                                         errors):
                application = self._application(ctx, errors, app)
                if application is not None:
                    result.add(application)
            offboardings: list[Offboarding] = []
            if s.leave_date_attribute:
                offboardings = await self._offboardings(client, ctx, users, errors)
        privileged = {a.principal for a in assignments}
        result.records[RecordKind.IDENTITY_ACCOUNT] = [
            IdentityAccount(id=a.id, source=a.source, kind=a.kind, active=a.active,
                            privileged=a.id in privileged, mfa=a.mfa)
            for a in result.records_of(RecordKind.IDENTITY_ACCOUNT)]
        for assignment in assignments:
            result.add(assignment)
        for offboarding in offboardings:
            result.add(offboarding)
        result.complete = frozenset({RecordKind.IDENTITY_ACCOUNT, RecordKind.APPLICATION,
                                     RecordKind.PRIVILEGED_ASSIGNMENT})
        state["mfa"] = {k: v for k, v in mfa.items() if k in seen_keys}
        state["last_run"] = ctx.now.isoformat()
        if full:
            state["factors_full"] = ctx.now.isoformat()
        result.state = state
        ctx.logger.info("%s: %d people, %d admin role assignments, %d offboardings (%s "
                        "factor pass)", ctx.name, len(seen_keys), len(assignments),
                        len(offboardings), "full" if full else "incremental")
        return result

    async def _account(self, client: ApiClient, ctx: CollectContext,
                       errors: Counter[ErrorKind], user: dict[str, Any], mfa: dict[str, int],
                       full: bool, last_run: datetime | None) -> IdentityAccount | None:
        user_id, status = user.get("id"), user.get("status")
        if not isinstance(user_id, str) or not isinstance(status, str | None):
            # A list or object status would reach the frozenset lookups: a bad value.
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        if status not in ACTIVE_STATUSES and status not in INACTIVE_STATUSES:
            self._unmapped(ctx, errors, "status", status)
            return None
        key = self.key(user_id)
        updated = _ts(user.get("lastUpdated")) or _ts(user.get("created"))
        stale = full or key not in mfa or last_run is None or updated is None or (
            updated >= last_run)
        if stale and status in ACTIVE_STATUSES:
            factors = await self._per_user(client, user_id, "factors", errors)
            if factors is not None:
                mfa[key] = int(any(f.get("status") == "ACTIVE"
                                   and isinstance(f.get("factorType"), str)
                                   and f["factorType"] not in NOT_MFA_FACTORS
                                   for f in factors))
        known = mfa.get(key)
        status_mfa = (MfaStatus.UNKNOWN if known is None
                      else MfaStatus.CAPABLE if known else MfaStatus.NOT_CAPABLE)
        return IdentityAccount(id=key, source=self.name, kind=AccountKind.HUMAN,
                               active=status in ACTIVE_STATUSES, mfa=status_mfa)

    async def _per_user(self, client: ApiClient, user_id: str, listing: str,
                        errors: Counter[ErrorKind]) -> list[dict[str, Any]] | None:
        """One user's listing (factors, roles), or None when it cannot be read.

        A user deleted between the user listing and this request answers 404, and an id
        no URL can carry is refused before sending: that fact of that user is skipped
        and counted, the run goes on.
        """
        segment = path_segment(user_id)
        if segment is None:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        path = f"/api/v1/users/{segment}/{listing}"
        try:
            return [item async for item in self._pages(client, path, None, errors)]
        except CollectorError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                raise
            errors[ErrorKind.NOT_FOUND] += 1
            return None

    async def _admins(self, client: ApiClient, errors: Counter[ErrorKind]
                      ) -> list[PrivilegedAssignment]:
        """Admin role assignments; an admin or role the API gives without its id or type
        is skipped and counted (its assignments would otherwise vanish uncounted)."""
        wanted = self.config.privileged_roles
        break_glass = set(self.config.break_glass)
        out = []
        admins = [a async for a in self._pages(client, "/api/v1/iam/assignees/users",
                                               {"limit": 100}, errors)]
        for admin in admins:
            user_id = admin.get("id")
            if not isinstance(user_id, str) or not user_id:
                errors[ErrorKind.MALFORMED_RECORD] += 1
                continue
            for role in await self._per_user(client, user_id, "roles", errors) or []:
                role_type, role_id = role.get("type"), role.get("id")
                if not isinstance(role_type, str) or not isinstance(role_id, str):
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    continue
                if wanted is not None and role_type not in wanted and role.get(
                        "label") not in wanted:
                    continue
                try:
                    out.append(PrivilegedAssignment(
                        id=f"{self.key(user_id)}:{role_id}", source=self.name,
                        principal=self.key(user_id), role=role_type,
                        assignment=AssignmentType.PERMANENT,
                        break_glass=user_id in break_glass))
                except ValueError:  # the record's validation: an empty or unstorable text
                    errors[ErrorKind.MALFORMED_RECORD] += 1
        return out

    def _application(self, ctx: CollectContext, errors: Counter[ErrorKind],
                     app: dict[str, Any]) -> Application | None:
        app_id, mode = app.get("id"), app.get("signOnMode")
        if not isinstance(app_id, str) or not isinstance(mode, str | None):
            errors[ErrorKind.MALFORMED_RECORD] += 1  # an object mode: no dict key
            return None
        if mode not in SIGN_ON_MODES:
            self._unmapped(ctx, errors, "signOnMode", mode)
            return None
        label = app.get("label") if isinstance(app.get("label"), str) else ""
        pattern = self.config.production_pattern
        production = bool(pattern and re.search(pattern, label))
        try:
            return Application(id=app_id, source=self.name,
                               active=app.get("status") == "ACTIVE", production=production,
                               sign_on=SIGN_ON_MODES[mode])
        except ValueError:  # the record's validation: an empty or unstorable id
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None

    async def _offboardings(self, client: ApiClient, ctx: CollectContext,
                            users: list[dict[str, Any]], errors: Counter[ErrorKind]
                            ) -> list[Offboarding]:
        """Users with a leave date; removal from the System Log's lifecycle events."""
        s = self.config
        attribute = s.leave_date_attribute
        assert attribute is not None
        gone = [u async for u in self._pages(client, "/api/v1/users", {
            "limit": s.page_size, "filter": 'status eq "DEPROVISIONED"'}, errors)]
        since = ctx.window_start(s.lookback)
        events = " or ".join(f'eventType eq "{e}"' for e in REMOVAL_EVENTS)
        removed: dict[str, datetime] = {}
        async for event in self._pages(client, "/api/v1/logs", {
                "since": since.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "until": ctx.now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "filter": events, "limit": 1000}, errors):
            when = _ts(event.get("published"))
            targets = event.get("target")
            for target in targets if isinstance(targets, list) else []:
                if isinstance(target, dict) and target.get("type") == "User" and isinstance(
                        target.get("id"), str) and when is not None:
                    first = removed.get(target["id"])
                    removed[target["id"]] = when if first is None else min(first, when)
        out = []
        # A deprovisioned user without an id is skipped and counted here (the listed
        # users were counted when their accounts were built).
        for user in gone:
            if not isinstance(user.get("id"), str):
                errors[ErrorKind.MALFORMED_RECORD] += 1
        for user in [*users, *gone]:
            user_id = user.get("id")
            profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
            left = _ts(profile.get(attribute))
            if not isinstance(user_id, str) or left is None:
                continue
            when = removed.get(user_id)
            if when is None and (not isinstance(user.get("status"), str)
                                 or user["status"] not in ACTIVE_STATUSES):
                continue  # removed, but when is older than the System Log's retention
            out.append(Offboarding(id=self.key(user_id), source=self.name, left_at=left,
                                   access_removed_at=when))
        return out
