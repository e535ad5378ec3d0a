"""Benchmark the ``entra`` collector against a local fake Microsoft Graph tenant.

The fake tenant: 10,000 users (2,000 of them leavers: 1,880 disabled with a "Disable
account" audit event, 120 still enabled and pending), 300 privileged role assignments
(200 eligible, 100 standing, 2 of the standing ones break-glass), 4 access review
definitions with 3 completed instances each, 400 app registrations and 450 service
principals. It is served in this process through an httpx transport (so its memory is
counted in the peak RSS, an upper bound for the collector's), paging every listing
as Graph does: ``$top`` up to 999 for users and the registration report, 100 items
per page elsewhere, each page's ``@odata.nextLink`` pointing at the next.

Lower bound, counting every request: 1 token + for each listing ceil(N / page size)
pages (the last page is recognised by its missing ``@odata.nextLink``) + one instance
listing per access review definition. No request is made per user.

It checks itself before printing: every user, assignment, offboarding and review came
back, the derived values equal the predictions from the fake's data (MFA coverage of
the active humans, privileged MFA 1.0, JIT ratio 200/298, standing 98, offboardings of
the current quarter within SLA over those plus the 120 pending), and the requests
counted equal the lower bound.

Run: ``python benchmarks/entra_bench.py``
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import resource
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.base import CollectContext  # noqa: E402
from collectors.entra import EntraCollector, EntraSettings  # noqa: E402
from collectors.records import KINDS, RecordKind  # noqa: E402
from exporter.derive import DerivationSettings, derive_all  # noqa: E402
from exporter.derive.identity import FAMILIES  # noqa: E402
from exporter.quarters import history_start  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT = "00000000-0000-4000-8000-000000000001"
GA = "62e90394-69f5-4237-9190-012177145e10"
USERS, LEAVERS, PENDING = 10_000, 2_000, 120
PRIVILEGED, ELIGIBLE = 300, 200
DEFINITIONS, INSTANCES = 4, 3
APPS, PRINCIPALS = 400, 450
BIG_PAGE, PAGE = 999, 100


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_tenant() -> dict[str, list[dict[str, Any]]]:
    users, report, audits = [], [], []
    for n in range(USERS):
        uid = f"user-{n:05d}"
        leaver = n < LEAVERS
        left = NOW - timedelta(days=1 + n % 60, hours=n % 7)
        enabled = not leaver or n < PENDING
        users.append({"id": uid, "accountEnabled": enabled, "userType": "Member",
                      "employeeLeaveDateTime": iso(left) if leaver else None})
        report.append({"id": uid, "userPrincipalName": f"{uid}@contoso.example",
                       "isMfaCapable": n % 10 != 9 or n < PRIVILEGED})
        if leaver and not enabled:
            # 1,500 within 4 h, 380 late
            delay = timedelta(hours=2) if n < PENDING + 1_500 else timedelta(hours=30)
            audits.append({"id": f"Directory_{n}", "activityDisplayName": "Disable account",
                           "activityDateTime": iso(left + delay),
                           "targetResources": [{"id": uid, "type": "User"}]})
    assignments, eligibility = [], []
    for n in range(PRIVILEGED):
        item = {"id": f"sched-{n}", "principalId": f"user-{n:05d}", "roleDefinitionId": GA,
                "directoryScopeId": "/", "memberType": "Direct"}
        if n < ELIGIBLE:
            eligibility.append(item)
        else:
            assignments.append({**item, "assignmentType": "Assigned"})
    definitions = [{"id": f"def-{d}", "scope": {"query": "/roleManagement/directory/x"
                                                 if d == 0 else "/groups"}}
                   for d in range(DEFINITIONS)]
    instances = {f"def-{d}": [{"id": f"inst-{d}-{i}", "status": "Completed",
                               "startDateTime": iso(NOW - timedelta(days=30 + 91 * i)),
                               "endDateTime": iso(NOW - timedelta(days=20 + 91 * i))}
                              for i in range(INSTANCES)] for d in range(DEFINITIONS)}
    apps = [{"id": f"app-{n}", "appId": f"appid-{n}", "keyCredentials": [],
             "passwordCredentials": [{"endDateTime": "2027-12-31T00:00:00Z"}] if n % 4 == 0
             else []} for n in range(APPS)]
    principals = [{"id": f"sp-{n}", "appId": f"appid-{n}", "accountEnabled": True,
                   "servicePrincipalType": "Application" if n < APPS else "ManagedIdentity",
                   "appOwnerOrganizationId": TENANT, "preferredSingleSignOnMode":
                   "saml" if n % 2 else None,
                   "tags": ["WindowsAzureActiveDirectoryIntegratedApp"], "displayName": "x"}
                  for n in range(PRINCIPALS)]
    return {"/v1.0/users": users,
            "/v1.0/reports/authenticationMethods/userRegistrationDetails": report,
            "/v1.0/roleManagement/directory/roleDefinitions": [
                {"id": GA, "displayName": "Global Administrator", "templateId": GA,
                 "isPrivileged": True}],
            "/v1.0/roleManagement/directory/roleAssignmentSchedules": assignments,
            "/v1.0/roleManagement/directory/roleEligibilitySchedules": eligibility,
            "/v1.0/identityGovernance/accessReviews/definitions": definitions,
            **{f"/v1.0/identityGovernance/accessReviews/definitions/{d}/instances": items
               for d, items in instances.items()},
            "/v1.0/applications": apps, "/v1.0/servicePrincipals": principals,
            "/v1.0/auditLogs/directoryAudits": audits,
            "/v1.0/directory/deletedItems/microsoft.graph.user": []}


def page_size(path: str, query: dict[str, list[str]]) -> int:
    top = int(query.get("$top", [PAGE])[0])
    return min(top, BIG_PAGE if path.endswith(("/users", "userRegistrationDetails")) else PAGE)


class FakeGraph(httpx.AsyncBaseTransport):
    def __init__(self, tenant: dict[str, list[dict[str, Any]]]) -> None:
        self.tenant = tenant
        self.requests: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests[path] += 1
        if path.endswith("/oauth2/v2.0/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3599})
        query = parse_qs(request.url.query.decode())
        items = self.tenant[path]
        size = page_size(path, query)
        start = int(query.get("$skiptoken", ["0"])[0])
        body: dict[str, Any] = {"value": items[start:start + size]}
        if start + size < len(items):
            top = query.get("$top", [str(size)])[0]
            body["@odata.nextLink"] = (f"https://graph.microsoft.com{path}?$top={top}"
                                       f"&$skiptoken={start + size}")
        return httpx.Response(200, content=json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})


def lower_bound(tenant: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    sizes = {"/v1.0/users": BIG_PAGE,
             "/v1.0/reports/authenticationMethods/userRegistrationDetails": BIG_PAGE}
    return {path: max(1, math.ceil(len(items) / sizes.get(path, PAGE)))
            for path, items in tenant.items()}


def main() -> int:
    os.environ["ENTRA_BENCH_SECRET"] = "bench"
    tenant = build_tenant()
    fake = FakeGraph(tenant)
    settings = EntraSettings.model_validate({
        "tenant_id": TENANT, "client_id": "c", "client_secret": {"env": "ENTRA_BENCH_SECRET"},
        "break_glass": ["user-00298", "user-00299"]})
    collector = EntraCollector("entra", settings, transport=fake)
    ctx = CollectContext(name="entra", now=NOW, state={}, logger=logging.getLogger("bench"),
                         history_start=history_start(NOW))
    started = time.perf_counter()
    result = asyncio.run(collector.collect(ctx))
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # -- self-checks -------------------------------------------------------------------
    records = {kind: result.records_of(kind) for kind in FAMILIES_KINDS}
    humans = [a for a in records[RecordKind.IDENTITY_ACCOUNT] if a.kind.value == "human"]
    assert len(humans) == USERS, len(humans)
    assert len(records[RecordKind.PRIVILEGED_ASSIGNMENT]) == PRIVILEGED
    assert len(records[RecordKind.OFFBOARDING]) == LEAVERS, len(records[RecordKind.OFFBOARDING])
    assert len(records[RecordKind.ACCESS_REVIEW]) == DEFINITIONS * INSTANCES
    rows = {}
    for family in FAMILIES:
        spec = KINDS[family.kind]
        rows[family.kind] = [
            tuple(dict(zip(spec.columns, spec.encode(r, "entra", 1), strict=True))[c]
                  for c in family.columns) for r in records[family.kind]]
    derived = derive_all(rows=rows, now=NOW, settings=DerivationSettings(
        sla_days={"critical": 7, "high": 30, "medium": 90, "low": 120}))
    current = derived.by_quarter[derived.current.label]
    active_humans = USERS - (LEAVERS - PENDING)
    capable = sum(1 for n in range(LEAVERS - 0, USERS) if n % 10 != 9) + PENDING
    assert current.get("devsecops_identity_mfa_coverage_ratio", scope="all") == \
        capable / active_humans
    assert current.get("devsecops_identity_mfa_coverage_ratio", scope="privileged") == 1.0
    assert current.get("devsecops_identity_privileged_jit_ratio") == ELIGIBLE / (PRIVILEGED - 2)
    assert current.get("devsecops_identity_standing_privileged_assignments") == \
        PRIVILEGED - ELIGIBLE - 2
    removed_q4 = [o for o in records[RecordKind.OFFBOARDING] if o.access_removed_at
                  and o.access_removed_at >= derived.current.start]
    within = sum(1 for o in removed_q4
                 if o.access_removed_at - o.left_at <= timedelta(hours=4))
    assert current.get("devsecops_identity_offboarding_within_sla_ratio") == \
        within / (len(removed_q4) + PENDING)
    bound = lower_bound(tenant)
    expected_total = 1 + sum(bound.values())
    made = sum(fake.requests.values())
    assert made == expected_total, (made, expected_total, fake.requests)

    print(f"entra: {USERS} users, {PRIVILEGED} privileged assignments, {LEAVERS} "
          f"offboardings, {APPS} apps, {PRINCIPALS} service principals")
    print(f"  requests {made} (lower bound {expected_total}: 1 token + "
          f"{bound['/v1.0/users']} users + "
          f"{bound['/v1.0/reports/authenticationMethods/userRegistrationDetails']} report "
          f"pages + {expected_total - 1 - bound['/v1.0/users'] - bound['/v1.0/reports/authenticationMethods/userRegistrationDetails']} other listings)")  # noqa: E501
    print(f"  wall {wall:.2f}s, peak RSS {peak_mb:.0f} MB (fake included), "
          f"python {sys.version.split()[0]}")
    return 0


FAMILIES_KINDS = tuple(f.kind for f in FAMILIES)

if __name__ == "__main__":
    sys.exit(main())
