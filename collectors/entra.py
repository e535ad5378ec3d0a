"""The ``entra`` collector: Microsoft Entra ID (Microsoft Graph v1.0) identity facts.

One app registration with client credentials (application permissions, see
docs/collectors/entra.md). Every run reads listings, never one request per user:

* ``users`` (enabled, member or guest, leave date) and the registration report
  ``reports/authenticationMethods/userRegistrationDetails`` (``isMfaCapable``) give
  :class:`IdentityAccount` records of people;
* ``roleManagement/directory/roleDefinitions`` (which roles are privileged: Entra's
  ``isPrivileged`` flag, or the ``privileged_roles`` config), ``roleAssignmentSchedules``
  and ``roleEligibilitySchedules`` (PIM) give :class:`PrivilegedAssignment` records;
  without PIM (no Entra ID P2) the plain ``roleAssignments`` are read instead, each
  one standing (permanent) by definition;
* ``identityGovernance/accessReviews/definitions`` and their ``instances`` give
  :class:`AccessReview` records (privileged when the review's scope is a directory
  role);
* ``applications`` and ``servicePrincipals`` give workload identities (an app
  registration holding a password or key credential holds a long-lived secret;
  managed identities hold none) and :class:`Application` records of the enterprise
  applications users sign on to (``preferredSingleSignOnMode``);
* the leave date (``employeeLeaveDateTime``) with the directory audit log's
  "Disable account" / "Delete user" events and recently deleted users give
  :class:`Offboarding` records.

Several parts need a licence (Entra ID P1/P2, ID Governance) or a permission the app
may lack. Such a part answers 403 (or 400) with a Graph error code: that part is then
unknown, never a failed run and never a guessed value. It is counted
(``permission`` in the run's record errors), logged once per collector and named by
``check-config --online``. Only ``users`` is required.

No personal datum leaves the process: ids are stored as pseudonymous keys
(:func:`collectors.records_identity.pseudonym` of the tenant and the object id), and
logs carry counts and Graph error codes only.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from collectors.azure_auth import TokenProvider
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
    parse_timestamp,
    path_segment,
)
from collectors.records import RecordKind
from collectors.records_identity import (
    AccessReview,
    AccountKind,
    Application,
    AssignmentType,
    IdentityAccount,
    MfaStatus,
    Offboarding,
    PrivilegedAssignment,
    ReviewScope,
    SignOn,
    pseudonym,
)
from collectors.settings import PositiveDuration, Secret, StrictModel

GRAPH_SCOPE_SUFFIX = "/.default"
# Microsoft's own tenant: first-party service principals are not the organisation's apps.
MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
# Enterprise applications that appear to users (My Apps) carry this tag.
INTEGRATED_APP_TAG = "WindowsAzureActiveDirectoryIntegratedApp"
USER_TYPES = {"Member": AccountKind.HUMAN, "Guest": AccountKind.GUEST}
SSO_MODES = {"saml": SignOn.FEDERATED, "oidc": SignOn.FEDERATED,
             "password": SignOn.PASSWORD, "notSupported": SignOn.NONE}
OFFBOARDING_ACTIVITIES = ("Disable account", "Delete user")
# Roles privileged by Entra's own classification, by template id, for a response that
# carries no isPrivileged flag (the property is newer than some tenants' v1.0 answers).
DEFAULT_PRIVILEGED_TEMPLATES = frozenset({
    "62e90394-69f5-4237-9190-012177145e10",  # Global Administrator
    "e8611ab8-c189-46e8-94e1-60213ab1f814",  # Privileged Role Administrator
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",  # Privileged Authentication Administrator
    "194ae4cb-b126-40b2-bd5b-6091b380977d",  # Security Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",  # Application Administrator
    "158c047a-c907-4556-b7ef-446551a6b5f7",  # Cloud Application Administrator
    "c4e39bd9-1100-46d3-8c65-fb160da0071f",  # Authentication Administrator
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",  # Conditional Access Administrator
    "29232cdf-9323-42fd-ade2-1d097af3e4de",  # Exchange Administrator
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",  # SharePoint Administrator
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",  # Hybrid Identity Administrator
})
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,80}$")

# The optional parts, in the order they are read, and what each one needs.
PARTS = {
    "mfa": "reports/authenticationMethods/userRegistrationDetails (AuditLog.Read.All, "
           "Entra ID P1 or P2)",
    "roles": "roleManagement/directory (RoleManagement.Read.Directory; PIM schedules need "
             "Entra ID P2)",
    "access_reviews": "identityGovernance/accessReviews (AccessReview.Read.All, Entra ID P2 "
                      "or ID Governance)",
    "workloads": "applications and servicePrincipals (Application.Read.All)",
    "offboarding": "auditLogs/directoryAudits and deleted users (AuditLog.Read.All, "
                   "User.Read.All; leave dates need User-LifeCycleInfo.Read.All)",
}


class EntraSettings(StrictModel):
    tenant_id: str
    client_id: str
    client_secret: Secret
    authority_host: str = "https://login.microsoftonline.com"
    graph_endpoint: str = "https://graph.microsoft.com"
    lookback: PositiveDuration | None = Field(
        default=None, description="how far back audit events are read; never less than the "
        "start of the previous quarter plus a margin (the default)")
    privileged_roles: list[str] | None = Field(
        default=None, description="role names or template ids counted as privileged; "
        "default: Entra's isPrivileged flag")
    break_glass: list[str] = Field(
        default_factory=list, description="object ids of emergency (break-glass) accounts")
    production_pattern: str | None = Field(
        default=None, description="regex on an enterprise app's display name marking it "
        "production")
    production_tags: list[str] = Field(default_factory=list,
                                       description="service principal tags marking production")
    page_size: int = Field(default=999, ge=1, le=999)
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("authority_host", "graph_endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("production_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return value


class PartUnavailable(Exception):
    """A licence or permission the app lacks: this part of the facts is unknown."""

    def __init__(self, part: str, status: int, code: str) -> None:
        super().__init__(f"{part}: HTTP {status} {code}")
        self.part, self.status, self.code = part, status, code


def _graph_error_code(response: httpx.Response) -> str:
    """Graph's ``error.code`` (a fixed vocabulary, never personal), or ``unknown``."""
    try:
        body = response.json()
        code = body["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else "unknown"


def _ts(value: Any) -> datetime | None:
    """A Graph timestamp, or None when absent or unreadable (never a guessed one)."""
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


class EntraCollector(Collector):
    """Microsoft Entra ID via Microsoft Graph (see the module docstring)."""

    config_model: ClassVar[type[StrictModel]] = EntraSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({
        RecordKind.IDENTITY_ACCOUNT, RecordKind.APPLICATION,
        RecordKind.PRIVILEGED_ASSIGNMENT, RecordKind.OFFBOARDING, RecordKind.ACCESS_REVIEW,
    })

    def __init__(self, name: str, settings: StrictModel, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, EntraSettings)
        self.config: EntraSettings = settings
        self._sleep = sleep
        self._transport = transport
        self.tokens = TokenProvider(settings,
                                    lambda: self._client(settings.authority_host))
        self._logged_parts: set[str] = set()
        self._logged_values: set[tuple[str, str]] = set()

    def _client(self, base_url: str) -> ApiClient:
        return ApiClient(base_url, self.config.http, sleep=self._sleep,
                         transport=self._transport)

    @property
    def scope(self) -> str:
        return self.config.graph_endpoint + GRAPH_SCOPE_SUFFIX

    def key(self, object_id: str) -> str:
        return pseudonym(self.config.tenant_id, object_id)

    # -- HTTP ------------------------------------------------------------------------

    async def _get(self, client: ApiClient, url: str, part: str,
                   params: dict[str, Any] | None = None) -> Any:
        """GET with a bearer token (one fresh token on 401); 403/400 of a part: unknown."""
        for attempt in range(2):
            token = await self.tokens.token(self.scope)
            response = await client.request(
                "GET", url, params=params, headers={"Authorization": f"Bearer {token}"},
                accept=frozenset({400, 401, 403}))
            if response.status_code == 401:
                self.tokens.invalidate(self.scope)
                if attempt == 0:
                    continue
                raise CollectorError(ErrorKind.AUTH, f"GET {httpx.URL(url).path}: HTTP 401 "
                                     "with a fresh token (check the app's credentials)")
            if response.status_code in (400, 403):
                code = _graph_error_code(response)
                if part == "users" or (response.status_code == 400 and code == "unknown"):
                    kind = (ErrorKind.PERMISSION if response.status_code == 403
                            else ErrorKind.CLIENT)
                    raise CollectorError(kind, f"GET {httpx.URL(url).path}: HTTP "
                                         f"{response.status_code} {code}")
                raise PartUnavailable(part, response.status_code, code)
            return decode_json(response)
        raise AssertionError("unreachable")

    async def _pages(self, client: ApiClient, path: str, part: str,
                     params: dict[str, Any] | None, errors: Counter[ErrorKind]
                     ) -> AsyncIterator[dict[str, Any]]:
        """Yield every item of a Graph collection along ``@odata.nextLink``.

        An item that is not an object is skipped and counted in ``errors`` (dropped
        silently, a record would be lost uncounted).
        """
        url, query = path, params
        host = httpx.URL(self.config.graph_endpoint).host
        seen: set[str] = set()
        while True:
            body = await self._get(client, url, part, query)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{path}: no 'value' array in the response")
            for item in body["value"]:
                if isinstance(item, dict):
                    yield item
                else:
                    errors[ErrorKind.MALFORMED_RECORD] += 1
            link = body.get("@odata.nextLink")
            if not link:
                return
            if not isinstance(link, str) or httpx.URL(link).host != host:
                # Never send the bearer token to a host we were not configured for.
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{path}: @odata.nextLink points to another host")
            if link in seen:
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"{path}: @odata.nextLink repeats a page")
            seen.add(link)
            url, query = link, None

    async def _listing(self, client: ApiClient, path: str, part: str,
                       params: dict[str, Any] | None, errors: Counter[ErrorKind]
                       ) -> list[dict[str, Any]]:
        return [item async for item in self._pages(client, path, part, params, errors)]

    def _unavailable(self, ctx: CollectContext, errors: Counter[ErrorKind],
                     exc: PartUnavailable) -> None:
        errors[ErrorKind.PERMISSION] += 1
        if exc.part not in self._logged_parts:
            self._logged_parts.add(exc.part)
            ctx.logger.warning("%s: %s unavailable (HTTP %d %s): that part is unknown; "
                               "needs %s", ctx.name, exc.part, exc.status, exc.code,
                               PARTS.get(exc.part, exc.part))

    def _unmapped(self, ctx: CollectContext, errors: Counter[ErrorKind], field: str,
                  value: str) -> None:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        shown = value if _ERROR_CODE.match(value) else "?"
        if (field, shown) not in self._logged_values:
            self._logged_values.add((field, shown))
            ctx.logger.warning("%s: unknown %s %r; record skipped", ctx.name, field, shown)

    # -- check -----------------------------------------------------------------------

    async def check(self, ctx: CollectContext) -> list[str]:
        """A token, one user, and one request per optional part: which parts are unknown."""
        v = "/v1.0"
        probes = {
            "users": f"{v}/users",
            "mfa": f"{v}/reports/authenticationMethods/userRegistrationDetails",
            "roles": f"{v}/roleManagement/directory/roleEligibilitySchedules",
            "access_reviews": f"{v}/identityGovernance/accessReviews/definitions",
            "workloads": f"{v}/applications",
            "offboarding": f"{v}/auditLogs/directoryAudits",
        }
        problems = []
        async with self._client(self.config.graph_endpoint) as graph:
            for part, path in probes.items():
                try:
                    await self._get(graph, path, part, {"$top": 1})
                except CollectorError as exc:
                    return [f"{exc.kind.value}: {exc}"]
                except PartUnavailable as exc:
                    problems.append(f"permission: {part} unavailable (HTTP {exc.status} "
                                    f"{exc.code}); needs {PARTS[part]}")
        return problems

    # -- collect ---------------------------------------------------------------------

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        s = self.config
        result = CollectionResult()
        errors = result.record_errors
        complete = set()
        since = ctx.window_start(s.lookback)
        v = "/v1.0"
        async with self._client(s.graph_endpoint) as graph:
            users = await self._listing(graph, f"{v}/users", "users", {
                "$select": "id,accountEnabled,userType,employeeLeaveDateTime",
                "$top": s.page_size}, errors)
            mfa = await self._optional(ctx, errors, self._mfa(graph, errors))
            roles = await self._optional(ctx, errors, self._roles(graph, ctx, errors))
            reviews = await self._optional(ctx, errors, self._reviews(graph, errors))
            workloads = await self._optional(ctx, errors, self._workloads(graph, ctx, errors))
            removals = await self._optional(ctx, errors, self._removals(graph, since, errors))

        privileged_principals: set[str] | None = None
        if roles is not None:
            assignments, privileged_principals = roles
            result.records_of(RecordKind.PRIVILEGED_ASSIGNMENT).extend(assignments)
            complete.add(RecordKind.PRIVILEGED_ASSIGNMENT)
        people = 0
        for user in users:
            account = self._account(ctx, errors, user, mfa, privileged_principals)
            if account is not None:
                result.records_of(RecordKind.IDENTITY_ACCOUNT).append(account)
                people += 1
        if workloads is not None:
            accounts, applications = workloads
            result.records_of(RecordKind.IDENTITY_ACCOUNT).extend(accounts)
            result.records_of(RecordKind.APPLICATION).extend(applications)
            complete.add(RecordKind.APPLICATION)
            # Accounts are complete only when both people and workloads were read.
            complete.add(RecordKind.IDENTITY_ACCOUNT)
        if reviews is not None:
            result.records_of(RecordKind.ACCESS_REVIEW).extend(reviews)
        offboardings = self._offboardings(users, removals, ctx)
        result.records_of(RecordKind.OFFBOARDING).extend(offboardings)
        result.complete = frozenset(complete)
        ctx.logger.info("%s: %d people, %d privileged assignments, %d access reviews, "
                        "%d offboardings", ctx.name, people,
                        len(result.records_of(RecordKind.PRIVILEGED_ASSIGNMENT)),
                        len(result.records_of(RecordKind.ACCESS_REVIEW)), len(offboardings))
        return result

    async def _optional(self, ctx: CollectContext, errors: Counter[ErrorKind],
                        part: Awaitable[Any]) -> Any:
        try:
            return await part
        except PartUnavailable as exc:
            self._unavailable(ctx, errors, exc)
            return None

    async def _mfa(self, graph: ApiClient, errors: Counter[ErrorKind]) -> dict[str, bool]:
        """``isMfaCapable`` by user id, from the registration report (one listing)."""
        out: dict[str, bool] = {}
        async for item in self._pages(
                graph, "/v1.0/reports/authenticationMethods/userRegistrationDetails", "mfa",
                {"$select": "id,isMfaCapable", "$top": self.config.page_size}, errors):
            capable = item.get("isMfaCapable")
            if isinstance(item.get("id"), str) and isinstance(capable, bool):
                out[item["id"]] = capable
        return out

    def _privileged_roles(self, definitions: list[dict[str, Any]]) -> dict[str, str]:
        """Privileged role definition ids -> role name."""
        wanted = self.config.privileged_roles
        out = {}
        for role in definitions:
            role_id, name = role.get("id"), role.get("displayName")
            if not isinstance(role_id, str) or not isinstance(name, str):
                continue
            template = role.get("templateId") or role_id
            if not isinstance(template, str):  # a list would reach the frozenset lookup
                template = role_id
            if wanted is not None:
                privileged = name in wanted or template in wanted
            elif isinstance(role.get("isPrivileged"), bool):
                privileged = role["isPrivileged"]
            else:
                privileged = template in DEFAULT_PRIVILEGED_TEMPLATES
            if privileged:
                out[role_id] = name
        return out

    async def _roles(self, graph: ApiClient, ctx: CollectContext, errors: Counter[ErrorKind]
                     ) -> tuple[list[PrivilegedAssignment], set[str]]:
        """Privileged assignments (PIM schedules, else plain assignments) and principals."""
        base = "/v1.0/roleManagement/directory"
        definitions = await self._listing(graph, f"{base}/roleDefinitions", "roles", None,
                                          errors)
        privileged = self._privileged_roles(definitions)
        select = "id,principalId,roleDefinitionId,directoryScopeId,memberType,assignmentType"
        sources: list[tuple[AssignmentType, list[dict[str, Any]]]]
        try:
            active = await self._listing(graph, f"{base}/roleAssignmentSchedules", "roles",
                                         {"$select": select}, errors)
            eligible = await self._listing(graph, f"{base}/roleEligibilitySchedules", "roles",
                                           {"$select": select.removesuffix(",assignmentType")},
                                           errors)
            sources = [(AssignmentType.PERMANENT, active), (AssignmentType.ELIGIBLE, eligible)]
        except PartUnavailable as exc:
            # No PIM (Entra ID P2): every assignment is standing, which is a fact.
            self._unavailable(ctx, errors, PartUnavailable("pim", exc.status, exc.code))
            plain = await self._listing(graph, f"{base}/roleAssignments", "roles",
                                        {"$select": "id,principalId,roleDefinitionId"},
                                        errors)
            sources = [(AssignmentType.PERMANENT, plain)]
        break_glass = set(self.config.break_glass)
        out: list[PrivilegedAssignment] = []
        principals: set[str] = set()
        for kind, items in sources:
            for item in items:
                principal, item_id = item.get("principalId"), item.get("id")
                role_id = item.get("roleDefinitionId")
                if not all(isinstance(v, str) for v in (principal, item_id, role_id)):
                    # Checked before the role: without its role an assignment would look
                    # unprivileged and vanish uncounted.
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    continue
                role = privileged.get(role_id)
                if role is None:
                    continue
                if item.get("assignmentType") == "Activated":
                    continue  # a JIT activation of an eligibility counted as eligible
                try:
                    assignment = PrivilegedAssignment(
                        id=f"{kind.value}:{item_id}", source=self.name,
                        principal=self.key(principal), role=role, assignment=kind,
                        break_glass=principal in break_glass)
                except ValueError:  # the record's validation: empty or unstorable text
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    continue
                principals.add(principal)
                out.append(assignment)
        return out, principals

    async def _reviews(self, graph: ApiClient, errors: Counter[ErrorKind]
                       ) -> list[AccessReview]:
        """Completed access review instances, privileged when the scope is a directory role.

        A definition without an id, or a completed instance without its id or end time,
        is skipped and counted (its reviews would otherwise be lost uncounted).
        """
        base = "/v1.0/identityGovernance/accessReviews/definitions"
        out = []
        for definition in await self._listing(graph, base, "access_reviews", None, errors):
            def_id = definition.get("id")
            segment = path_segment(def_id) if isinstance(def_id, str) else None
            if not segment:  # no id, or one no URL can carry
                errors[ErrorKind.MALFORMED_RECORD] += 1
                continue
            scope_text = str(definition.get("scope") or "") + str(
                definition.get("instanceEnumerationScope") or "")
            scope = (ReviewScope.PRIVILEGED if "roleManagement" in scope_text
                     or "roleAssignmentScheduleInstances" in scope_text else ReviewScope.ALL)
            try:
                listed = await self._listing(graph, f"{base}/{segment}/instances",
                                             "access_reviews", None, errors)
            except CollectorError as exc:
                if exc.kind is not ErrorKind.NOT_FOUND:
                    raise
                # Deleted between the listing and this request (or an id Graph does not
                # know): this definition's reviews are skipped and counted, not the run.
                errors[ErrorKind.NOT_FOUND] += 1
                continue
            for instance in listed:
                status = instance.get("status")
                if not isinstance(status, str):  # no status at all: a bad instance
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    continue
                if status not in ("Completed", "Applied", "AutoReviewed"):
                    continue  # not finished (yet)
                completed = _ts(instance.get("endDateTime"))
                started = _ts(instance.get("startDateTime"))
                if completed is None or not isinstance(instance.get("id"), str):
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    continue
                if started is not None and started > completed:
                    started = None
                try:
                    out.append(AccessReview(id=instance["id"], source=self.name, scope=scope,
                                            completed_at=completed, started_at=started))
                except ValueError:  # the record's validation: an empty or unstorable id
                    errors[ErrorKind.MALFORMED_RECORD] += 1
        return out

    async def _workloads(self, graph: ApiClient, ctx: CollectContext,
                         errors: Counter[ErrorKind]
                         ) -> tuple[list[IdentityAccount], list[Application]]:
        """Workload identities (app registrations, managed identities) and enterprise apps."""
        s = self.config
        apps = await self._listing(graph, "/v1.0/applications", "workloads", {
            "$select": "id,appId,passwordCredentials,keyCredentials", "$top": s.page_size},
            errors)
        principals = await self._listing(graph, "/v1.0/servicePrincipals", "workloads", {
            "$select": "id,appId,accountEnabled,servicePrincipalType,appOwnerOrganizationId,"
                       "preferredSingleSignOnMode,tags,displayName", "$top": s.page_size},
            errors)
        pattern = re.compile(s.production_pattern) if s.production_pattern else None
        # Text app ids only: a list or object is no key (and matches no application).
        by_app_id = {p["appId"]: p for p in principals if isinstance(p.get("appId"), str)}
        accounts: list[IdentityAccount] = []
        applications: list[Application] = []
        for app in apps:
            if not isinstance(app.get("id"), str):
                errors[ErrorKind.MALFORMED_RECORD] += 1
                continue
            app_id = app.get("appId")
            principal = by_app_id.get(app_id) if isinstance(app_id, str) else None
            active = principal is not None and principal.get("accountEnabled") is not False
            static = self._static(app, ctx.now)
            accounts.append(IdentityAccount(id=self.key(app["id"]), source=self.name,
                                            kind=AccountKind.WORKLOAD, active=active,
                                            static_credential=static))
        for sp in principals:
            if not isinstance(sp.get("id"), str):
                errors[ErrorKind.MALFORMED_RECORD] += 1
                continue
            enabled = sp.get("accountEnabled") is not False
            sp_type = sp.get("servicePrincipalType")
            if sp_type == "ManagedIdentity":
                accounts.append(IdentityAccount(id=self.key(sp["id"]), source=self.name,
                                                kind=AccountKind.WORKLOAD, active=enabled,
                                                static_credential=False))
                continue
            tags = sp.get("tags") if isinstance(sp.get("tags"), list) else []
            if (sp_type != "Application" or INTEGRATED_APP_TAG not in tags
                    or sp.get("appOwnerOrganizationId") == MICROSOFT_TENANT):
                continue
            mode = sp.get("preferredSingleSignOnMode")
            if mode is None:
                sign_on = SignOn.UNKNOWN
            elif isinstance(mode, str) and mode in SSO_MODES:
                sign_on = SSO_MODES[mode]
            else:
                self._unmapped(ctx, errors, "preferredSingleSignOnMode", str(mode))
                continue
            name = sp.get("displayName") if isinstance(sp.get("displayName"), str) else ""
            production = (bool(pattern and pattern.search(name))
                          or any(t in tags for t in s.production_tags))
            try:
                applications.append(Application(id=sp["id"], source=self.name,
                                                active=enabled, production=production,
                                                sign_on=sign_on))
            except ValueError:  # the record's validation: an empty or unstorable id
                errors[ErrorKind.MALFORMED_RECORD] += 1
        return accounts, applications

    @staticmethod
    def _static(app: dict[str, Any], now: datetime) -> bool | None:
        """A password or key credential still valid: a long-lived secret. None: unreadable."""
        creds = []
        for field in ("passwordCredentials", "keyCredentials"):
            value = app.get(field)
            if not isinstance(value, list):
                return None
            creds.extend(value)
        for cred in creds:
            end = _ts(cred.get("endDateTime")) if isinstance(cred, dict) else None
            if end is None or end > now:
                return True
        return False

    async def _removals(self, graph: ApiClient, since: datetime, errors: Counter[ErrorKind]
                        ) -> tuple[dict[str, datetime], dict[str, Any]]:
        """When each user's access was removed (first disable/delete event, or deletion),
        and the leave dates of recently deleted users (absent from ``users``)."""
        out: dict[str, datetime] = {}
        deleted_leave: dict[str, Any] = {}
        activities = " or ".join(f"activityDisplayName eq '{a}'" for a in OFFBOARDING_ACTIVITIES)
        async for event in self._pages(graph, "/v1.0/auditLogs/directoryAudits", "offboarding", {
                "$filter": f"({activities}) and activityDateTime ge "
                           f"{since.strftime('%Y-%m-%dT%H:%M:%SZ')}"}, errors):
            when = _ts(event.get("activityDateTime"))
            targets = event.get("targetResources")
            if when is None or not isinstance(targets, list):
                continue
            for target in targets:
                if isinstance(target, dict) and target.get("type") == "User" and isinstance(
                        target.get("id"), str):
                    seen = out.get(target["id"])
                    if seen is None or when < seen:
                        out[target["id"]] = when
        async for user in self._pages(graph, "/v1.0/directory/deletedItems/microsoft.graph.user",
                                      "offboarding", {"$select": "id,deletedDateTime,"
                                                      "employeeLeaveDateTime"}, errors):
            deleted = _ts(user.get("deletedDateTime"))
            if not isinstance(user.get("id"), str) or deleted is None:
                errors[ErrorKind.MALFORMED_RECORD] += 1  # a deleted user, but not when
            else:
                seen = out.get(user["id"])
                out[user["id"]] = deleted if seen is None else min(seen, deleted)
                deleted_leave[user["id"]] = user.get("employeeLeaveDateTime")
        return out, deleted_leave

    def _account(self, ctx: CollectContext, errors: Counter[ErrorKind], user: dict[str, Any],
                 mfa: dict[str, bool] | None, privileged: set[str] | None
                 ) -> IdentityAccount | None:
        user_id, user_type = user.get("id"), user.get("userType")
        if not isinstance(user_id, str):
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        kind = USER_TYPES.get(user_type) if isinstance(user_type, str) else None
        if kind is None:
            self._unmapped(ctx, errors, "userType", str(user_type))
            return None
        status = MfaStatus.UNKNOWN
        if mfa is not None and user_id in mfa:
            status = MfaStatus.CAPABLE if mfa[user_id] else MfaStatus.NOT_CAPABLE
        return IdentityAccount(
            id=self.key(user_id), source=self.name, kind=kind,
            active=user.get("accountEnabled") is not False,
            privileged=None if privileged is None else user_id in privileged,
            mfa=status)

    def _offboardings(self, users: list[dict[str, Any]],
                      audit: tuple[dict[str, datetime], dict[str, Any]] | None,
                      ctx: CollectContext) -> list[Offboarding]:
        """Users with a leave date: removed when disabled or deleted, else pending.

        A disabled account whose disabling is older than the audit log's retention has
        no known removal time: it is left out (the stored history keeps what earlier
        runs saw), never given a guessed one.
        """
        out = []
        removals, deleted_leave = audit if audit is not None else (None, {})
        leave_dates = [(u.get("id"), u.get("employeeLeaveDateTime"), u.get("accountEnabled"))
                       for u in users]
        leave_dates += [(uid, leave, False) for uid, leave in deleted_leave.items()]
        for user_id, leave, enabled in leave_dates:
            left = _ts(leave)
            if not isinstance(user_id, str) or left is None:
                continue
            removed = (removals or {}).get(user_id)
            if removed is None and enabled is False:
                continue  # removed, but when is unknown
            if removed is None and removals is None:
                continue  # the audit log is unreadable: pending or not is unknown
            out.append(Offboarding(id=self.key(user_id), source=self.name, left_at=left,
                                   access_removed_at=removed))
        return out
