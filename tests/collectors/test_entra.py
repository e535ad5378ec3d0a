"""EntraCollector against respx fakes shaped like the Microsoft Graph v1.0 reference.

Shapes (Graph v1.0 resource types): collections are ``{"@odata.context", "value": [...],
"@odata.nextLink"}``; ``user`` {id, accountEnabled, userType, employeeLeaveDateTime};
``userRegistrationDetails`` {id, userPrincipalName, isMfaCapable, isMfaRegistered,
methodsRegistered, userType}; ``unifiedRoleDefinition`` {id, displayName, templateId,
isBuiltIn, isEnabled, isPrivileged}; ``unifiedRoleAssignmentSchedule`` {id, principalId,
roleDefinitionId, directoryScopeId, memberType, assignmentType, scheduleInfo};
``unifiedRoleEligibilitySchedule`` (the same without assignmentType);
``accessReviewScheduleDefinition`` {id, displayName, status, scope} and
``accessReviewInstance`` {id, startDateTime, endDateTime, status}; ``application``
{id, appId, passwordCredentials, keyCredentials}; ``servicePrincipal`` {id, appId,
accountEnabled, servicePrincipalType, appOwnerOrganizationId, preferredSingleSignOnMode,
tags}; ``directoryAudit`` {activityDisplayName, activityDateTime, targetResources[{id,
type}]}; errors ``{"error": {"code", "message", "innerError"}}``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.entra import EntraCollector, EntraSettings
from collectors.records import RecordKind
from collectors.records_identity import (
    AccountKind,
    AssignmentType,
    MfaStatus,
    ReviewScope,
    SignOn,
    pseudonym,
)

SECRET = "entra-s3cr3t-value"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
G = "https://graph.microsoft.com/v1.0"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GA = "62e90394-69f5-4237-9190-012177145e10"
READER = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
ALICE = "0a1b2c3d-0000-4000-8000-00000000a11c"
BOB = "0a1b2c3d-0000-4000-8000-000000000b0b"
GUEST = "0a1b2c3d-0000-4000-8000-0000000gue57"
LEAVER = "0a1b2c3d-0000-4000-8000-0000001eaver"
BREAK_GLASS = "0a1b2c3d-0000-4000-8000-00000000b6a5"
GONE = "0a1b2c3d-0000-4000-8000-000000000d3d"


async def _no_sleep(seconds: float) -> None:
    _no_sleep.calls.append(seconds)  # type: ignore[attr-defined]


_no_sleep.calls = []  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_TEST_SECRET", SECRET)
    _no_sleep.calls.clear()  # type: ignore[attr-defined]


def collector(**overrides: Any) -> EntraCollector:
    base: dict[str, Any] = {"tenant_id": TENANT, "client_id": "11111111-2222-3333-4444-5555",
                            "client_secret": {"env": "ENTRA_TEST_SECRET"},
                            "break_glass": [BREAK_GLASS], "http": {"max_retries": 2}}
    base.update(overrides)
    return EntraCollector("entra", EntraSettings.model_validate(base), sleep=_no_sleep)


def ctx(now: datetime = NOW, history_start: datetime | None = None) -> CollectContext:
    return CollectContext(name="entra", now=now, state={},
                          logger=logging.getLogger("test.entra"), history_start=history_start)


def run(coll: EntraCollector, context: CollectContext | None = None) -> Any:
    return asyncio.run(coll.collect(context or ctx()))


def token_ok(token: str = "graph-token", expires_in: int = 3599) -> httpx.Response:
    return httpx.Response(200, json={"token_type": "Bearer", "expires_in": expires_in,
                                     "ext_expires_in": expires_in, "access_token": token})


def page(items: list[dict[str, Any]], next_link: str | None = None,
         context: str = "users") -> httpx.Response:
    body: dict[str, Any] = {"@odata.context": f"{G}/$metadata#{context}", "value": items}
    if next_link:
        body["@odata.nextLink"] = next_link
    return httpx.Response(200, json=body)


def graph_error(status: int, code: str, message: str = "denied") -> httpx.Response:
    return httpx.Response(status, json={"error": {
        "code": code, "message": message,
        "innerError": {"date": "2026-11-23T12:00:00", "request-id": "r-1",
                       "client-request-id": "r-1"}}})


def user(object_id: str, *, enabled: bool = True, user_type: str = "Member",
         leave: str | None = None) -> dict[str, Any]:
    return {"id": object_id, "accountEnabled": enabled, "userType": user_type,
            "employeeLeaveDateTime": leave}


def registration(object_id: str, capable: bool) -> dict[str, Any]:
    return {"id": object_id, "userPrincipalName": "someone@contoso.example",
            "userDisplayName": "Someone", "userType": "member", "isAdmin": False,
            "isMfaCapable": capable, "isMfaRegistered": capable,
            "methodsRegistered": ["microsoftAuthenticatorPush"] if capable else [],
            "lastUpdatedDateTime": "2026-11-22T03:00:00Z"}


def role_definition(role_id: str, name: str, privileged: bool | None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": role_id, "displayName": name, "templateId": role_id,
                            "isBuiltIn": True, "isEnabled": True}
    if privileged is not None:
        item["isPrivileged"] = privileged
    return item


def schedule(item_id: str, principal: str, role: str, assignment_type: str | None = "Assigned"
             ) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id, "principalId": principal, "roleDefinitionId": role,
        "directoryScopeId": "/", "memberType": "Direct", "status": "Provisioned",
        "scheduleInfo": {"startDateTime": "2026-01-01T00:00:00Z",
                         "expiration": {"type": "noExpiration", "endDateTime": None}}}
    if assignment_type is not None:
        item["assignmentType"] = assignment_type
    return item


def mock_tenant(*, mfa: httpx.Response | None = None, pim: httpx.Response | None = None,
                reviews: httpx.Response | None = None) -> dict[str, respx.Route]:
    """Every endpoint the collector reads, answering a small, typical tenant."""
    routes = {}
    routes["token"] = respx.post(TOKEN_URL).mock(return_value=token_ok())

    def users(request: httpx.Request) -> httpx.Response:
        if "skiptoken" in str(request.url):
            return page([user(LEAVER, leave="2026-11-20T17:00:00Z"),
                         user(BREAK_GLASS), user("odd", user_type="Partner")])
        return page([user(ALICE), user(BOB), user(GUEST, user_type="Guest")],
                    next_link=f"{G}/users?$skiptoken=X%27page2%27")

    routes["users"] = respx.get(f"{G}/users").mock(side_effect=users)
    routes["mfa"] = respx.get(f"{G}/reports/authenticationMethods/userRegistrationDetails").mock(
        return_value=mfa or page([registration(ALICE, True), registration(BOB, False),
                                  registration(GUEST, True)]))
    routes["definitions"] = respx.get(f"{G}/roleManagement/directory/roleDefinitions").mock(
        return_value=page([role_definition(GA, "Global Administrator", True),
                           role_definition(READER, "Directory Readers", False)]))
    routes["assignments"] = respx.get(
        f"{G}/roleManagement/directory/roleAssignmentSchedules").mock(
        return_value=pim or page([schedule("as-1", ALICE, GA),
                                  schedule("as-2", BOB, GA, "Activated"),  # a JIT activation
                                  schedule("as-3", BOB, READER),  # not privileged
                                  schedule("as-4", BREAK_GLASS, GA)]))
    routes["eligibility"] = respx.get(
        f"{G}/roleManagement/directory/roleEligibilitySchedules").mock(
        return_value=page([schedule("el-1", BOB, GA, None)]))
    routes["plain"] = respx.get(f"{G}/roleManagement/directory/roleAssignments").mock(
        return_value=page([{"id": "ra-1", "principalId": ALICE, "roleDefinitionId": GA},
                           {"id": "ra-2", "principalId": BOB, "roleDefinitionId": GA}]))
    defs = f"{G}/identityGovernance/accessReviews/definitions"
    routes["reviews"] = respx.get(defs).mock(return_value=reviews or page([
        {"id": "def-roles", "displayName": "Quarterly admin review", "status": "InProgress",
         "scope": {"@odata.type": "#microsoft.graph.principalResourceMembershipsScope",
                   "resourceScopes": [{"query": "/roleManagement/directory/roleDefinitions/"
                                                f"{GA}", "queryType": "MicrosoftGraph"}]}},
        {"id": "def-groups", "displayName": "All groups", "status": "InProgress",
         "scope": {"query": "/groups", "queryType": "MicrosoftGraph"}}]))
    routes["instances-roles"] = respx.get(f"{defs}/def-roles/instances").mock(
        return_value=page([
            {"id": "inst-r1", "startDateTime": "2026-10-01T00:00:00Z",
             "endDateTime": "2026-10-15T00:00:00Z", "status": "Completed"},
            {"id": "inst-r2", "startDateTime": "2026-11-20T00:00:00Z",
             "endDateTime": "2026-12-04T00:00:00Z", "status": "InProgress"}]))
    routes["instances-groups"] = respx.get(f"{defs}/def-groups/instances").mock(
        return_value=page([{"id": "inst-g1", "startDateTime": "2026-03-01T00:00:00Z",
                            "endDateTime": "2026-03-15T00:00:00Z", "status": "Applied"}]))
    routes["applications"] = respx.get(f"{G}/applications").mock(return_value=page([
        {"id": "app-obj-1", "appId": "appid-1", "keyCredentials": [],
         "passwordCredentials": [{"keyId": "k1", "displayName": "ci",
                                  "endDateTime": "2027-06-01T00:00:00Z", "hint": "abc"}]},
        {"id": "app-obj-2", "appId": "appid-2", "keyCredentials": [],
         "passwordCredentials": [{"keyId": "k2", "endDateTime": "2026-01-01T00:00:00Z"}]},
        {"id": "app-obj-3", "appId": "appid-3", "keyCredentials": [],
         "passwordCredentials": []},  # federated credentials only
    ]))
    routes["principals"] = respx.get(f"{G}/servicePrincipals").mock(return_value=page([
        {"id": "sp-1", "appId": "appid-1", "accountEnabled": True,
         "servicePrincipalType": "Application", "appOwnerOrganizationId": TENANT,
         "preferredSingleSignOnMode": None, "tags": [], "displayName": "ci-deployer"},
        {"id": "sp-2", "appId": "appid-2", "accountEnabled": True,
         "servicePrincipalType": "Application", "appOwnerOrganizationId": TENANT,
         "preferredSingleSignOnMode": None, "tags": [], "displayName": "old-job"},
        {"id": "sp-3", "appId": "appid-3", "accountEnabled": True,
         "servicePrincipalType": "Application", "appOwnerOrganizationId": TENANT,
         "preferredSingleSignOnMode": "oidc", "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
         "displayName": "prod-portal"},
        {"id": "sp-4", "appId": "gallery-1", "accountEnabled": True,
         "servicePrincipalType": "Application", "appOwnerOrganizationId": "other-tenant",
         "preferredSingleSignOnMode": "password",
         "tags": ["WindowsAzureActiveDirectoryIntegratedApp"], "displayName": "expenses"},
        {"id": "sp-5", "appId": "gallery-2", "accountEnabled": True,
         "servicePrincipalType": "Application", "appOwnerOrganizationId": "other-tenant",
         "preferredSingleSignOnMode": "saml",
         "tags": ["WindowsAzureActiveDirectoryIntegratedApp"], "displayName": "prod-hr"},
        {"id": "sp-ms", "appId": "ms-1", "accountEnabled": True,
         "servicePrincipalType": "Application",
         "appOwnerOrganizationId": "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
         "preferredSingleSignOnMode": None,
         "tags": ["WindowsAzureActiveDirectoryIntegratedApp"], "displayName": "Office"},
        {"id": "mi-1", "appId": "mi-app", "accountEnabled": True,
         "servicePrincipalType": "ManagedIdentity", "appOwnerOrganizationId": None,
         "preferredSingleSignOnMode": None, "tags": [], "displayName": "vm-identity"},
    ]))
    routes["audits"] = respx.get(f"{G}/auditLogs/directoryAudits").mock(return_value=page([
        {"id": "Directory_1", "category": "UserManagement", "activityDisplayName":
         "Disable account", "activityDateTime": "2026-11-20T19:30:00Z", "result": "success",
         "targetResources": [{"id": LEAVER, "type": "User",
                              "userPrincipalName": "leaver@contoso.example"}]}]))
    routes["deleted"] = respx.get(f"{G}/directory/deletedItems/microsoft.graph.user").mock(
        return_value=page([{"id": GONE, "deletedDateTime": "2026-11-02T10:00:00Z",
                            "employeeLeaveDateTime": "2026-11-02T09:00:00Z"}]))
    return routes


def by_id(records: list[Any]) -> dict[str, Any]:
    return {r.id: r for r in records}


@respx.mock
def test_a_full_collection_reads_every_fact_by_value() -> None:
    routes = mock_tenant()
    result = run(collector(production_pattern="^prod-"))
    accounts = by_id(result.records_of(RecordKind.IDENTITY_ACCOUNT))
    alice, bob = accounts[pseudonym(TENANT, ALICE)], accounts[pseudonym(TENANT, BOB)]
    assert (alice.kind, alice.mfa, alice.privileged) == (AccountKind.HUMAN, MfaStatus.CAPABLE,
                                                         True)
    assert (bob.mfa, bob.privileged) == (MfaStatus.NOT_CAPABLE, True)  # eligible counts
    guest = accounts[pseudonym(TENANT, GUEST)]
    assert guest.kind is AccountKind.GUEST and guest.privileged is False
    assert accounts[pseudonym(TENANT, LEAVER)].mfa is MfaStatus.UNKNOWN  # not in the report
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 1  # userType "Partner"
    workloads = {a.id: a.static_credential for a in accounts.values()
                 if a.kind is AccountKind.WORKLOAD}
    assert workloads == {pseudonym(TENANT, "app-obj-1"): True,  # valid client secret
                         pseudonym(TENANT, "app-obj-2"): False,  # expired secret only
                         pseudonym(TENANT, "app-obj-3"): False,  # federated only
                         pseudonym(TENANT, "mi-1"): False}  # managed identity
    assert {(a.role, a.assignment, a.break_glass) for a in
            result.records_of(RecordKind.PRIVILEGED_ASSIGNMENT)} == {
        ("Global Administrator", AssignmentType.PERMANENT, False),
        ("Global Administrator", AssignmentType.PERMANENT, True),
        ("Global Administrator", AssignmentType.ELIGIBLE, False)}
    apps = {a.id: (a.sign_on, a.production) for a in result.records_of(RecordKind.APPLICATION)}
    assert apps == {"sp-3": (SignOn.FEDERATED, True), "sp-4": (SignOn.PASSWORD, False),
                    "sp-5": (SignOn.FEDERATED, True)}
    reviews = {r.id: (r.scope, r.completed_at) for r in result.records_of(RecordKind.ACCESS_REVIEW)}
    assert reviews == {
        "inst-r1": (ReviewScope.PRIVILEGED, datetime(2026, 10, 15, tzinfo=UTC)),
        "inst-g1": (ReviewScope.ALL, datetime(2026, 3, 15, tzinfo=UTC))}
    offboardings = {o.id: (o.left_at, o.access_removed_at)
                    for o in result.records_of(RecordKind.OFFBOARDING)}
    assert offboardings == {
        pseudonym(TENANT, LEAVER): (datetime(2026, 11, 20, 17, tzinfo=UTC),
                                    datetime(2026, 11, 20, 19, 30, tzinfo=UTC)),
        pseudonym(TENANT, GONE): (datetime(2026, 11, 2, 9, tzinfo=UTC),
                                  datetime(2026, 11, 2, 10, tzinfo=UTC))}
    assert result.complete == frozenset({RecordKind.IDENTITY_ACCOUNT, RecordKind.APPLICATION,
                                         RecordKind.PRIVILEGED_ASSIGNMENT})
    # one listing per fact: the users' second page along @odata.nextLink, no per-user calls
    assert routes["users"].call_count == 2
    assert "skiptoken" in str(routes["users"].calls[1].request.url)
    assert routes["mfa"].call_count == 1
    sent = routes["users"].calls[0].request
    assert sent.headers["Authorization"] == "Bearer graph-token"
    assert parse_qs(sent.url.query.decode())["$top"] == ["999"]


@respx.mock
def test_no_directory_id_is_stored_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    mock_tenant()
    with caplog.at_level(logging.DEBUG, logger="test.entra"):
        result = run(collector())
    text = repr(result.records) + caplog.text
    for raw in (ALICE, BOB, GUEST, LEAVER, BREAK_GLASS, "leaver@contoso.example", SECRET):
        assert raw not in text


@respx.mock
def test_missing_licence_makes_mfa_unknown_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    mock_tenant(mfa=graph_error(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                                "Neither tenant is B2C or tenant doesn't have premium license"))
    coll = collector()
    with caplog.at_level(logging.WARNING, logger="test.entra"):
        first = run(coll)
        second = run(coll)
    humans = [a for a in first.records[RecordKind.IDENTITY_ACCOUNT]
              if a.kind is not AccountKind.WORKLOAD]
    assert humans and {a.mfa for a in humans} == {MfaStatus.UNKNOWN}
    assert first.record_errors[ErrorKind.PERMISSION] == 1
    assert second.record_errors[ErrorKind.PERMISSION] == 1
    warnings = [r for r in caplog.records if "mfa unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in warnings[0].getMessage()
    # the rest of the run is untouched
    assert first.records[RecordKind.PRIVILEGED_ASSIGNMENT]


@respx.mock
def test_without_pim_every_privileged_assignment_is_standing() -> None:
    routes = mock_tenant(pim=graph_error(400, "AadPremiumLicenseRequired",
                                         "The tenant needs an AAD Premium 2 license."))
    result = run(collector())
    assert {(a.assignment, a.principal) for a in
            result.records_of(RecordKind.PRIVILEGED_ASSIGNMENT)} == {
        (AssignmentType.PERMANENT, pseudonym(TENANT, ALICE)),
        (AssignmentType.PERMANENT, pseudonym(TENANT, BOB))}
    assert routes["plain"].call_count == 1
    assert result.record_errors[ErrorKind.PERMISSION] == 1


@respx.mock
def test_access_reviews_without_governance_licence_are_unknown_not_a_failure() -> None:
    mock_tenant(reviews=graph_error(403, "Forbidden", "not licensed"))
    result = run(collector())
    assert result.records_of(RecordKind.ACCESS_REVIEW) == []
    assert result.record_errors[ErrorKind.PERMISSION] == 1
    assert RecordKind.ACCESS_REVIEW not in result.complete


@respx.mock
def test_a_throttled_report_waits_for_retry_after() -> None:
    routes = mock_tenant()
    routes["mfa"].mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"},
                       json={"error": {"code": "TooManyRequests", "message": "slow down"}}),
        page([registration(ALICE, True)])])
    result = run(collector())
    assert _no_sleep.calls == [7.0]  # type: ignore[attr-defined]
    accounts = by_id(result.records_of(RecordKind.IDENTITY_ACCOUNT))
    assert accounts[pseudonym(TENANT, ALICE)].mfa is MfaStatus.CAPABLE


@respx.mock
def test_users_forbidden_fails_the_run() -> None:
    routes = mock_tenant()
    routes["users"].mock(return_value=graph_error(403, "Authorization_RequestDenied",
                                                  "Insufficient privileges"))
    with pytest.raises(CollectorError) as caught:
        run(collector())
    assert caught.value.kind is ErrorKind.PERMISSION
    assert "Authorization_RequestDenied" in str(caught.value)


@respx.mock
def test_a_body_without_value_is_malformed() -> None:
    routes = mock_tenant()
    routes["users"].mock(return_value=httpx.Response(200, json={"error": None}))
    with pytest.raises(CollectorError) as caught:
        run(collector())
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_truncated_body_is_malformed() -> None:
    routes = mock_tenant()
    routes["users"].mock(return_value=httpx.Response(
        200, content=b'{"value": [{"id": "x"', headers={"Content-Type": "application/json"}))
    with pytest.raises(CollectorError) as caught:
        run(collector())
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_next_link_to_another_host_is_refused() -> None:
    routes = mock_tenant()
    routes["users"].mock(side_effect=[page([user(ALICE)],
                                           next_link="https://evil.example/v1.0/users?p=2")])
    with pytest.raises(CollectorError) as caught:
        run(collector())
    assert caught.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_an_expired_token_is_replaced_once_on_401() -> None:
    routes = mock_tenant()
    routes["token"].mock(side_effect=[token_ok("old"), token_ok("new")])
    routes["users"].mock(side_effect=[
        graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed"),
        page([user(ALICE)])])
    result = run(collector())
    assert routes["users"].calls[-1].request.headers["Authorization"] == "Bearer new"
    assert pseudonym(TENANT, ALICE) in by_id(result.records_of(RecordKind.IDENTITY_ACCOUNT))


@pytest.fixture
def loop_bound_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection pools that fail, as real ones do, when reused on another event loop."""
    import httpcore

    patched = httpcore.AsyncConnectionPool.handle_async_request

    async def bound(self: Any, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        first = self.__dict__.setdefault("_test_loop", loop)
        if first is not loop:
            raise RuntimeError("Event loop is closed")
        return await patched(self, request)

    monkeypatch.setattr(httpcore.AsyncConnectionPool, "handle_async_request", bound)


@respx.mock
def test_token_expiry_between_runs_on_separate_event_loops(loop_bound_pools: None) -> None:
    routes = mock_tenant()
    routes["token"].mock(side_effect=[token_ok("first", 600), token_ok("second")])
    coll = collector()
    clock = [1000.0]
    coll.tokens._clock = lambda: clock[0]
    run(coll)
    routes["users"].mock(return_value=page([user(ALICE)]))
    clock[0] += 400  # inside the refresh margin of a 10-minute token
    result = run(coll)
    assert routes["token"].call_count == 2
    assert routes["users"].calls[-1].request.headers["Authorization"] == "Bearer second"
    assert pseudonym(TENANT, ALICE) in by_id(result.records_of(RecordKind.IDENTITY_ACCOUNT))


def test_audit_events_are_read_back_to_the_previous_quarter() -> None:
    from exporter.quarters import history_start

    for now in (datetime(2026, 10, 1, 0, 30, tzinfo=UTC),
                datetime(2026, 12, 31, 23, 30, tzinfo=UTC)):
        with respx.mock:
            routes = mock_tenant()
            run(collector(), ctx(now, history_start(now)))
            sent = parse_qs(routes["audits"].calls[0].request.url.query.decode())["$filter"][0]
        assert sent == ("(activityDisplayName eq 'Disable account' or activityDisplayName eq "
                        "'Delete user') and activityDateTime ge 2026-06-17T00:00:00Z")


@respx.mock
def test_check_names_each_unavailable_part() -> None:
    mock_tenant(mfa=graph_error(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"))
    problems = asyncio.run(collector().check(ctx()))
    assert len(problems) == 1
    assert problems[0].startswith("permission: mfa unavailable (HTTP 403 "
                                  "Authentication_RequestFromNonPremiumTenantOrB2CTenant)")


@respx.mock
def test_configured_privileged_roles_override_the_flag() -> None:
    mock_tenant()
    result = run(collector(privileged_roles=["Directory Readers"]))
    assert {a.role for a in result.records_of(RecordKind.PRIVILEGED_ASSIGNMENT)} == {
        "Directory Readers"}


@respx.mock
def test_an_unreadable_timestamp_is_unknown_not_a_crash() -> None:
    routes = mock_tenant()
    routes["audits"].mock(return_value=page([
        {"id": "Directory_2", "activityDisplayName": "Disable account",
         "activityDateTime": "not a date",
         "targetResources": [{"id": LEAVER, "type": "User"}]}]))
    result = run(collector())
    offboardings = {o.id: o.access_removed_at for o in result.records_of(RecordKind.OFFBOARDING)}
    assert offboardings[pseudonym(TENANT, LEAVER)] is None  # still enabled: pending
