"""Tests for the Jira collector against responses shaped like Atlassian's documented ones:
Cloud ``POST /rest/api/3/search/jql`` (``issues``, ``nextPageToken``, ``isLast``, no
``total``), Data Center ``GET /rest/api/2/search`` (``startAt``, ``maxResults``,
``total``, ``issues``), ``/serverInfo``, ``/myself`` and ``/field``."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from pydantic import ValidationError

from collectors.base import CollectContext, CollectionResult, CollectorError, ErrorKind
from collectors.jira import (
    JiraCollector,
    JiraSettings,
    _fingerprint,
    build_jql,
    format_jql_time,
    split_order_by,
)
from collectors.records import FindingState, RecordKind, Severity

CLOUD = "https://acme.atlassian.net"
DC = "https://jira.acme.example"
EMAIL = "secbot@acme.example"
API_TOKEN = "ATATT3xFfGF0T0pS3cr3tT0k3n"
PAT = "NjU4MzI5MDk4NzY1OkPATs3cr3t"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
VULN_JQL = 'project = SEC AND issuetype = Vulnerability ORDER BY created DESC'
INC_JQL = "project = IR AND issuetype = Incident"


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_TEST_TOKEN", API_TOKEN)
    monkeypatch.setenv("JIRA_TEST_PAT", PAT)


def settings(deployment: str = "cloud", **overrides: Any) -> JiraSettings:
    data: dict[str, Any] = {
        "base_url": CLOUD if deployment != "datacenter" else DC,
        "deployment": deployment,
        "vulnerabilities": {"jql": VULN_JQL},
        "incidents": {"jql": INC_JQL},
        "http": {"max_retries": 2},
    }
    if deployment in ("cloud", "auto"):
        data.update(email=EMAIL, api_token={"env": "JIRA_TEST_TOKEN"})
    if deployment in ("datacenter", "auto"):
        data["personal_access_token"] = {"env": "JIRA_TEST_PAT"}
    data.update(overrides)
    return JiraSettings.model_validate(data)


def collector(deployment: str = "cloud", sleep: Any = _no_sleep, **overrides: Any
              ) -> JiraCollector:
    return JiraCollector("jira-acme", settings(deployment, **overrides), sleep=sleep)


def ctx(state: dict[str, Any] | None = None, now: datetime = NOW) -> CollectContext:
    return CollectContext("jira-acme", now, state or {}, logging.getLogger("test.jira"))


def run(c: JiraCollector, state: dict[str, Any] | None = None,
        now: datetime = NOW) -> CollectionResult:
    return asyncio.run(c.collect(ctx(state, now)))


# --- builders shaped like the documented responses -----------------------------------

STATUS = {
    "open": ("To Do", "new"), "progress": ("In Progress", "indeterminate"),
    "reopened": ("Reopened", "new"), "done": ("Done", "done"), "closed": ("Closed", "done"),
}


def issue(number: int, *, project: str = "SEC", summary: str = "Upgrade openssl",
          created: str = "2026-10-01T09:00:00.000+0200", status: str = "open",
          resolution: str | None = None, resolutiondate: str | None = None,
          priority: str | None = "High", labels: list[str] | None = None,
          changelog: list[dict[str, Any]] | None = None, issuetype: str = "Vulnerability",
          **custom: Any) -> dict[str, Any]:
    """One issue as the search endpoints return it with fields= and expand=changelog."""
    name, category = STATUS[status]
    fields: dict[str, Any] = {
        "summary": summary,
        "created": created,
        "updated": "2026-11-20T10:00:00.000+0100",
        "status": {"self": f"{CLOUD}/rest/api/3/status/1", "name": name, "id": "1",
                   "statusCategory": {"id": 3, "key": category, "name": name}},
        "resolution": ({"self": f"{CLOUD}/rest/api/3/resolution/1", "id": "10000",
                        "name": resolution, "description": ""} if resolution else None),
        "resolutiondate": resolutiondate,
        "priority": ({"self": f"{CLOUD}/rest/api/3/priority/2", "name": priority, "id": "2"}
                     if priority else None),
        "labels": labels or [],
        "project": {"self": f"{CLOUD}/rest/api/3/project/10000", "id": "10000",
                    "key": project, "name": "Security"},
        "issuetype": {"id": "10001", "name": issuetype},
    }
    fields.update(custom)
    body: dict[str, Any] = {"expand": "", "id": str(10000 + number),
                            "self": f"{CLOUD}/rest/api/3/issue/{10000 + number}",
                            "key": f"{project}-{number}", "fields": fields}
    if changelog is not None:
        body["changelog"] = {"startAt": 0, "maxResults": len(changelog),
                             "total": len(changelog), "histories": changelog}
    return body


def history(at: str, *items: tuple[str, str | None, str | None]) -> dict[str, Any]:
    return {"id": "10100", "author": {"displayName": "Ann"}, "created": at,
            "items": [{"field": f, "fieldtype": "jira", "from": src, "fromString": src,
                       "to": dst, "toString": dst} for f, src, dst in items]}


def cloud_page(issues: list[dict[str, Any]], token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"issues": issues, "isLast": token is None}
    if token is not None:
        body["nextPageToken"] = token
    return body


def dc_page(issues: list[dict[str, Any]], start: int = 0, size: int = 1000,
            total: int | None = None) -> dict[str, Any]:
    return {"expand": "schema,names", "startAt": start, "maxResults": size,
            "total": len(issues) if total is None else total, "issues": issues}


def field_list(**custom: str) -> list[dict[str, Any]]:
    """GET /field: system fields plus custom ones given as id=schema type."""
    system = {"summary": "string", "created": "datetime", "updated": "datetime",
              "resolutiondate": "datetime", "status": "status", "resolution": "resolution",
              "priority": "priority", "labels": "array", "project": "project",
              "issuelinks": "array"}
    out = [{"id": k, "key": k, "name": k.title(), "custom": False,
            "schema": {"type": v, "system": k}} for k, v in system.items()]
    out += [{"id": k, "key": k, "name": k, "custom": True,
             "schema": {"type": v, "custom": "com.atlassian.jira.plugin.system.customfieldtypes:"
                        + v, "customId": int(k.split("_")[1])}} for k, v in custom.items()]
    return out


def myself(zone: str = "Europe/Berlin") -> dict[str, Any]:
    return {"self": f"{CLOUD}/rest/api/3/user?accountId=5b10a2844c20165700ede21g",
            "accountId": "5b10a2844c20165700ede21g", "emailAddress": EMAIL,
            "displayName": "Security bot", "active": True, "timeZone": zone,
            "locale": "en_US"}


def mock_meta(base: str = CLOUD, version: str = "3", zone: str = "Europe/Berlin",
              fields: list[dict[str, Any]] | None = None) -> tuple[respx.Route, respx.Route]:
    me = respx.get(f"{base}/rest/api/{version}/myself").mock(
        return_value=httpx.Response(200, json=myself(zone)))
    fl = respx.get(f"{base}/rest/api/{version}/field").mock(
        return_value=httpx.Response(200, json=fields or field_list()))
    return me, fl


def by_query(vulns: Any, incidents: Any) -> Any:
    """A side effect routing Cloud searches by JQL to two response sequences."""
    v, i = iter(vulns), iter(incidents)

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return next(v if "Vulnerability" in body["jql"] else i)
    return handler


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


# --- Cloud ----------------------------------------------------------------------------


@respx.mock
def test_cloud_full_sync_maps_tickets_and_follows_next_page_token() -> None:
    mock_meta()
    vulns = [
        issue(1, summary="CVE-2026-1234 and cve-2026-99999 in libfoo", priority="Highest"),
        issue(2, status="done", resolution="Done",
              resolutiondate="2026-10-05T09:00:00.000+0200"),
        issue(3, status="closed", resolution="Won't Fix", priority="Low",
              resolutiondate="2026-10-03T12:00:00.000+0000"),
    ]
    page2 = [
        # reopened by a transition that did not clear the resolution: open again
        issue(4, status="reopened", resolution="Done", priority="Medium",
              resolutiondate="2026-10-10T09:00:00.000+0000",
              changelog=[history("2026-10-12T08:00:00.000+0000", ("status", "Done",
                                                                   "Reopened")),
                         history("2026-10-08T08:00:00.000+0000", ("resolution", "Done", None),
                                 ("status", "Done", "Reopened"))]),
        # closed by a workflow that sets no resolution: fixed at the last status change
        issue(5, status="done", priority="Lowest", changelog=[
            history("2026-10-20T16:30:00.000+0000", ("status", "In Progress", "Done")),
            history("2026-10-02T08:00:00.000+0000", ("status", "To Do", "In Progress")),
        ]),
    ]
    incidents = [issue(7, project="IR", issuetype="Incident", priority="High",
                       status="done", resolution="Done",
                       created="2026-11-02T10:00:00.000+0000",
                       resolutiondate="2026-11-03T10:00:00.000+0000")]
    search = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page(vulns, "tok-2")), ok(cloud_page(page2))],
        [ok(cloud_page(incidents))]))
    result = run(collector())

    found = {f.id: f for f in result.findings}
    assert sorted(found) == [f"jira:1000{n}" for n in (1, 2, 3, 4, 5)]
    one = found["jira:10001"]
    assert one.severity is Severity.CRITICAL and one.state is FindingState.OPEN
    assert one.cve_ids == ("CVE-2026-1234", "CVE-2026-99999")
    assert one.opened_at == datetime(2026, 10, 1, 7, tzinfo=UTC)
    assert one.asset == "SEC" and one.category == "ticket" and one.source == "jira-acme"
    assert found["jira:10002"].state is FindingState.FIXED
    assert found["jira:10002"].resolved_at == datetime(2026, 10, 5, 7, tzinfo=UTC)
    three = found["jira:10003"]
    assert three.state is FindingState.DISMISSED and three.dismissed_reason == "Won't Fix"
    assert three.severity is Severity.LOW
    four = found["jira:10004"]
    assert four.state is FindingState.OPEN and four.resolved_at is None
    assert four.opened_at == datetime(2026, 10, 1, 7, tzinfo=UTC)  # original opened time
    five = found["jira:10005"]
    assert five.state is FindingState.FIXED
    assert five.resolved_at == datetime(2026, 10, 20, 16, 30, tzinfo=UTC)
    (inc,) = result.incidents
    assert inc.id == "jira:10007" and inc.severity is Severity.HIGH
    assert inc.detected_at == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert inc.resolved_at == inc.contained_at == datetime(2026, 11, 3, 10, tzinfo=UTC)
    assert inc.started_at is None and inc.postmortem is None
    assert result.complete == frozenset({RecordKind.FINDING, RecordKind.INCIDENT})
    assert not result.record_errors
    assert {g.labels: g.value for g in result.gauges} == {
        (("query", "vulnerabilities"),): 1.0, (("query", "incidents"),): 0.0}
    assert all(g.name == "devsecops_jira_reopened_tickets" for g in result.gauges)

    sent = bodies(search)
    vuln_bodies = [b for b in sent if "Vulnerability" in b["jql"]]
    assert vuln_bodies[0]["jql"] == VULN_JQL  # Cloud: the user's JQL untouched
    assert "nextPageToken" not in vuln_bodies[0]
    assert vuln_bodies[1]["nextPageToken"] == "tok-2"
    assert vuln_bodies[0]["maxResults"] == 100 and vuln_bodies[0]["expand"] == "changelog"
    assert set(vuln_bodies[0]["fields"]) == {
        "summary", "status", "resolution", "resolutiondate", "created", "updated",
        "priority", "project"}
    auth = search.calls[0].request.headers["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
    assert result.state is not None
    assert result.state["time_zone"] == "Europe/Berlin"
    assert result.state["deployment"] == "cloud"
    assert result.state["watermark"] == result.state["last_full_sync"] == NOW.isoformat()


@respx.mock
def test_incident_custom_fields_severity_field_and_postmortem_signals() -> None:
    mock_meta(fields=field_list(customfield_10050="datetime", customfield_10051="datetime",
                                customfield_10052="datetime", customfield_10060="option"))
    linked = {"id": "10300", "type": {"id": "10003", "name": "Relates", "inward": "relates to",
                                      "outward": "relates to"},
              "outwardIssue": {"id": "10400", "key": "IR-40", "fields": {
                  "summary": "PIR for IR-8", "status": {"name": "Done"},
                  "issuetype": {"id": "10010", "name": "Post-incident review"}}}}
    incidents = [
        issue(8, project="IR", status="done", resolution="Done",
              created="2026-11-02T10:00:00.000+0000",
              resolutiondate="2026-11-04T10:00:00.000+0000",
              customfield_10050="2026-11-01T22:00:00.000+0000",
              customfield_10051="2026-11-02T09:30:00.000+0000",
              customfield_10052="2026-11-02T15:00:00.000+0000",
              customfield_10060={"self": "x", "value": "Sev1", "id": "10021"},
              issuelinks=[linked]),
        issue(9, project="IR", labels=["postmortem"],
              customfield_10060={"value": "Sev3", "id": "10023"}),
        issue(10, project="IR", customfield_10060={"value": "Sev9", "id": "10029"},
              issuelinks=[]),
    ]
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page([]))], [ok(cloud_page(incidents))]))
    c = collector(incidents={
        "jql": INC_JQL, "started_field": "customfield_10050",
        "detected_field": "customfield_10051", "contained_field": "customfield_10052",
        "severity": {"source": "field", "field": "customfield_10060"},
        "postmortem": {"linked_issue_types": ["Post-incident review"],
                       "labels": ["postmortem"]}})
    result = run(c)
    got = {i.id: i for i in result.incidents}
    eight = got["jira:10008"]
    assert eight.started_at == datetime(2026, 11, 1, 22, tzinfo=UTC)
    assert eight.detected_at == datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert eight.contained_at == datetime(2026, 11, 2, 15, tzinfo=UTC)
    assert eight.resolved_at == datetime(2026, 11, 4, 10, tzinfo=UTC)
    assert eight.severity is Severity.CRITICAL and eight.postmortem is True
    nine = got["jira:10009"]
    assert nine.severity is Severity.MEDIUM and nine.postmortem is True
    assert nine.detected_at == datetime(2026, 10, 1, 7, tzinfo=UTC)  # created fallback
    assert nine.resolved_at is None and nine.contained_at is None
    ten = got["jira:10010"]  # unknown severity: kept without severity, counted
    assert ten.severity is None and ten.postmortem is False
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 1}


@respx.mock
def test_unknown_severity_skips_the_finding_and_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    mock_meta()
    vulns = [issue(1, priority="Urgent!"), issue(2, priority="Urgent!"),
             issue(3, priority="P2"), issue(4, priority=None)]
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page(vulns))], [ok(cloud_page([]))]))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert [(f.id, f.severity) for f in result.findings] == [("jira:10003", Severity.HIGH)]
    assert result.record_errors == {ErrorKind.UNMAPPED_VALUE: 2,
                                    ErrorKind.MALFORMED_RECORD: 1}
    assert caplog.text.count("unknown severity 'Urgent!'") == 1
    assert "no severity value" in caplog.text


@respx.mock
def test_severity_from_label_prefix_with_custom_map_and_default() -> None:
    mock_meta()
    vulns = [issue(1, labels=["team-a", "Severity:S1"]), issue(2, labels=["other"]),
             issue(3, labels=["severity:high"])]
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page(vulns))], [ok(cloud_page([]))]))
    result = run(collector(vulnerabilities={
        "jql": VULN_JQL, "severity": {"source": "label", "map": {"S1": "critical"},
                                      "default": "medium"}}))
    assert [(f.id, f.severity) for f in result.findings] == [
        ("jira:10001", Severity.CRITICAL), ("jira:10002", Severity.MEDIUM),
        ("jira:10003", Severity.HIGH)]


@respx.mock
def test_cve_ids_from_a_text_field_in_adf_and_opened_from_a_custom_field() -> None:
    mock_meta(fields=field_list(customfield_10070="string", customfield_10071="datetime"))
    adf = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "Affects CVE-2025-0001, "},
        {"type": "text", "text": "CVE-2025-0002"}]}]}
    vulns = [issue(1, summary="CVE-2099-9999 not this", customfield_10070=adf,
                   customfield_10071="2026-09-30T00:00:00.000+0000"),
             issue(2, customfield_10071=None)]
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page(vulns))], [ok(cloud_page([]))]))
    result = run(collector(vulnerabilities={
        "jql": VULN_JQL, "cve_field": "customfield_10070",
        "opened_field": "customfield_10071"}))
    first, second = result.findings
    assert first.cve_ids == ("CVE-2025-0001", "CVE-2025-0002")
    assert first.opened_at == datetime(2026, 9, 30, tzinfo=UTC)
    assert second.opened_at == datetime(2026, 10, 1, 7, tzinfo=UTC)  # created fallback


@respx.mock
def test_unparseable_tickets_are_skipped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    mock_meta()
    bad_date = issue(2, created="yesterday")
    no_fields = {"id": "10003", "key": "SEC-3"}
    backwards = issue(4, status="done", resolution="Done",
                      resolutiondate="2026-09-01T00:00:00.000+0000")
    done_no_history = issue(5, status="done", resolution="Done")
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page([issue(1), bad_date, no_fields, "junk", backwards,
                        done_no_history]))], [ok(cloud_page([]))]))
    with caplog.at_level(logging.WARNING):
        result = run(collector())
    assert [f.id for f in result.findings] == ["jira:10001"]
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 5}
    assert "SEC-4: resolved_at" in caplog.text and "skipping ticket #2" in caplog.text


# --- Data Center ----------------------------------------------------------------------


@respx.mock
def test_datacenter_full_sync_pages_by_start_at_with_bearer_token() -> None:
    mock_meta(DC, "2", zone="America/New_York")
    vulns = [issue(n, status="done", resolution="Duplicate",
                   resolutiondate="2026-10-02T00:00:00.000+0000") for n in range(1, 6)]

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if "Incident" in params["jql"]:
            return ok(dc_page([], 0, 2, 0))
        start = int(params["startAt"])
        return ok(dc_page(vulns[start:start + 2], start, 2, total=5))
    search = respx.get(f"{DC}/rest/api/2/search").mock(side_effect=handler)
    result = run(collector("datacenter", page_size=2))
    assert [f.id for f in result.findings] == [f"jira:1000{n}" for n in range(1, 6)]
    assert all(f.state is FindingState.DISMISSED and f.dismissed_reason == "Duplicate"
               for f in result.findings)
    vuln_calls = [c.request for c in search.calls if "Vulner" in c.request.url.params["jql"]]
    assert sorted(int(r.url.params["startAt"]) for r in vuln_calls) == [0, 2, 4]
    first = vuln_calls[0].url.params
    assert first["jql"] == VULN_JQL  # the user's ORDER BY wins
    assert first["maxResults"] == "2" and first["expand"] == "changelog"
    assert first["validateQuery"] == "true"  # a boolean on DC (strict|warn is Cloud)
    assert "priority" in first["fields"].split(",")
    inc = next(c.request for c in search.calls if "Incident" in c.request.url.params["jql"])
    assert inc.url.params["jql"] == INC_JQL + " ORDER BY created ASC, key ASC"
    assert vuln_calls[0].headers["Authorization"] == f"Bearer {PAT}"
    assert result.complete == frozenset({RecordKind.FINDING, RecordKind.INCIDENT})
    assert result.state is not None and result.state["time_zone"] == "America/New_York"


@respx.mock
def test_datacenter_follows_the_page_size_the_server_applies() -> None:
    mock_meta(DC, "2")
    vulns = [issue(n) for n in range(1, 8)]

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if "Incident" in params["jql"]:
            return ok(dc_page([], 0, 3, 0))
        start = int(params["startAt"])  # asked for 1000, the server caps at 3
        return ok(dc_page(vulns[start:start + 3], start, 3, total=7))
    search = respx.get(f"{DC}/rest/api/2/search").mock(side_effect=handler)
    result = run(collector("datacenter"))
    assert len(result.findings) == 7
    starts = sorted(int(c.request.url.params["startAt"]) for c in search.calls
                    if "Vulner" in c.request.url.params["jql"])
    assert starts == [0, 3, 6]


@respx.mock
def test_datacenter_result_changing_while_paging_is_not_marked_complete(
        caplog: pytest.LogCaptureFixture) -> None:
    mock_meta(DC, "2")
    vulns = [issue(n) for n in range(1, 5)]

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if "Incident" in params["jql"]:
            return ok(dc_page([], 0, 2, 0))
        start = int(params["startAt"])
        if start == 0:
            return ok(dc_page(vulns[:2], 0, 2, total=4))
        return ok(dc_page(vulns[3:], start, 2, total=3))  # one ticket deleted meanwhile
    respx.get(f"{DC}/rest/api/2/search").mock(side_effect=handler)
    with caplog.at_level(logging.WARNING):
        result = run(collector("datacenter", page_size=2))
    assert len(result.findings) == 3
    assert result.complete == frozenset({RecordKind.INCIDENT})
    assert "changed while paging" in caplog.text


@respx.mock
@pytest.mark.parametrize(("kind", "expected"), [("Cloud", "cloud"), ("Server", "datacenter"),
                                                ("DataCenter", "datacenter")])
def test_auto_detects_the_deployment_from_server_info(kind: str, expected: str) -> None:
    info = respx.get(f"{CLOUD}/rest/api/2/serverInfo").mock(return_value=ok({
        "baseUrl": CLOUD, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
        "deploymentType": kind, "buildNumber": 100285, "serverTitle": "Jira"}))
    version = "3" if expected == "cloud" else "2"
    mock_meta(CLOUD, version)
    cloud = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=ok(cloud_page([])))
    dc = respx.get(f"{CLOUD}/rest/api/2/search").mock(return_value=ok(dc_page([])))
    result = run(collector("auto"))
    assert info.call_count == 1
    assert result.state is not None and result.state["deployment"] == expected
    assert (cloud.call_count, dc.call_count) == ((2, 0) if expected == "cloud" else (0, 2))
    used = (cloud if expected == "cloud" else dc).calls[0].request.headers["Authorization"]
    assert used.startswith("Basic " if expected == "cloud" else "Bearer ")
    # the detected type is remembered: no second serverInfo call
    run(collector("auto"), state=result.state)
    assert info.call_count == 1


# --- incremental ----------------------------------------------------------------------


def _state(**overrides: Any) -> dict[str, Any]:
    first = collector()
    with respx.mock:
        mock_meta(zone="Australia/Sydney")
        respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=ok(cloud_page([])))
        state = run(first, now=NOW - timedelta(hours=1)).state
    assert state is not None
    state.update(overrides)
    return state


@respx.mock
def test_incremental_run_asks_for_updated_since_watermark_in_the_user_time_zone() -> None:
    state = _state(reopened={"vulnerabilities": 3, "incidents": 0})
    me, fields = mock_meta(zone="Australia/Sydney")
    search = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page([issue(1)]))], [ok(cloud_page([]))]))
    result = run(collector(), state=state)
    # watermark 11:00 UTC minus 10m overlap = 10:50 UTC = 21:50 in Sydney (UTC+11)
    jqls = sorted(b["jql"] for b in bodies(search))
    assert jqls == [
        '(project = IR AND issuetype = Incident) AND updated >= "2026/11/23 21:50"',
        '(project = SEC AND issuetype = Vulnerability) AND updated >= "2026/11/23 21:50" '
        'ORDER BY created DESC',
    ]
    assert search.call_count == 2  # one request per query
    assert not me.called and not fields.called  # zone and field check cached until resync
    assert result.complete == frozenset()
    assert [f.id for f in result.findings] == ["jira:10001"]
    assert {g.labels: g.value for g in result.gauges} == {  # carried from the full sync
        (("query", "incidents"),): 0.0, (("query", "vulnerabilities"),): 3.0}
    assert result.state is not None
    assert result.state["watermark"] == NOW.isoformat()
    assert result.state["last_full_sync"] == state["last_full_sync"]


@respx.mock
def test_full_resync_after_the_interval_or_a_config_change() -> None:
    mock_meta()
    search = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=ok(cloud_page([])))
    stale = _state()
    later = NOW + timedelta(hours=23)  # last full sync at NOW-1h: 24h reached
    result = run(collector(), state=stale, now=later)
    assert result.complete == frozenset({RecordKind.FINDING, RecordKind.INCIDENT})
    assert all("updated >=" not in b["jql"] for b in bodies(search))
    assert result.state is not None and result.state["last_full_sync"] == later.isoformat()
    search.reset()
    changed = run(collector(overlap="5m"), state=_state())
    assert changed.complete == frozenset({RecordKind.FINDING, RecordKind.INCIDENT})
    search.reset()
    disabled = run(collector(incremental=False), state=_state())
    assert disabled.complete == frozenset({RecordKind.FINDING, RecordKind.INCIDENT})


def test_jql_time_formatting_and_order_by_handling() -> None:
    # DST: 2026-03-29 01:30 UTC is 03:30 summer time in Berlin, minutes floored
    moment = datetime(2026, 3, 29, 1, 30, 59, tzinfo=UTC)
    assert format_jql_time(moment, ZoneInfo("Europe/Berlin")) == "2026/03/29 03:30"
    assert format_jql_time(moment, ZoneInfo("America/Los_Angeles")) == "2026/03/28 18:30"
    assert split_order_by('summary ~ "order by x" ORDER BY key') == (
        'summary ~ "order by x"', "ORDER BY key")
    assert split_order_by("reorder = 1") == ("reorder = 1", "")
    assert build_jql("order by created", "2026/01/01 00:00", "") == (
        'updated >= "2026/01/01 00:00" order by created')
    assert build_jql("project = A", None, "ORDER BY key") == "project = A ORDER BY key"


# --- faults ---------------------------------------------------------------------------


def _fails(c: JiraCollector, state: dict[str, Any] | None = None) -> CollectorError:
    with pytest.raises(CollectorError) as info:
        run(c, state)
    return info.value


@respx.mock
def test_bad_jql_400_shows_jira_error_messages() -> None:
    mock_meta()
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=httpx.Response(400, json={
        "errorMessages": ["Field 'isuetype' does not exist or you do not have permission "
                          "to view it."], "errors": {}}))
    error = _fails(collector())
    assert error.kind is ErrorKind.CLIENT
    assert "Field 'isuetype' does not exist" in str(error)
    assert "Jira rejected the JQL" in str(error)


@respx.mock
def test_old_search_endpoint_410_on_cloud_is_explained() -> None:
    mock_meta(DC, "2")
    respx.get(f"{DC}/rest/api/2/search").mock(return_value=httpx.Response(410, json={
        "errorMessages": ["The requested API has been removed. Please migrate to the "
                          "/rest/api/3/search/jql API."], "errors": {}}))
    error = _fails(collector("datacenter"))
    assert error.kind is ErrorKind.CLIENT
    assert "410 Gone" in str(error) and "deployment: cloud" in str(error)


@respx.mock
@pytest.mark.parametrize(("status", "kind"), [(401, ErrorKind.AUTH),
                                              (403, ErrorKind.PERMISSION)])
def test_auth_failures_fail_the_run_without_leaking_tokens(
        status: int, kind: ErrorKind, caplog: pytest.LogCaptureFixture) -> None:
    respx.get(f"{CLOUD}/rest/api/3/myself").mock(return_value=httpx.Response(status, json={
        "errorMessages": ["You are not authenticated. Authentication required to perform "
                          "this operation."], "errors": {}}))
    with caplog.at_level(logging.DEBUG):
        error = _fails(collector())
    assert error.kind is kind
    for secret in (API_TOKEN, PAT, base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()):
        assert secret not in str(error) and secret not in caplog.text


@respx.mock
def test_datacenter_401_with_pat_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    respx.get(f"{DC}/rest/api/2/myself").mock(return_value=httpx.Response(401))
    with caplog.at_level(logging.DEBUG):
        error = _fails(collector("datacenter"))
    assert error.kind is ErrorKind.AUTH
    assert PAT not in str(error) and PAT not in caplog.text


@respx.mock
def test_429_retry_after_is_honoured() -> None:
    mock_meta()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}),
        ok(cloud_page([issue(1)])), ok(cloud_page([]))])
    result = run(collector(sleep=sleep, incidents=None))
    assert waits == [7.0]
    assert [f.id for f in result.findings] == ["jira:10001"]


@respx.mock
def test_5xx_is_retried_then_fails_as_server_error() -> None:
    mock_meta()
    route = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(
        return_value=httpx.Response(503, text="<html>Service Unavailable</html>"))
    error = _fails(collector(incidents=None))
    assert error.kind is ErrorKind.SERVER and route.call_count == 3


@respx.mock
def test_timeout_fails_as_timeout() -> None:
    mock_meta()
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=httpx.ReadTimeout("slow"))
    assert _fails(collector(incidents=None)).kind is ErrorKind.TIMEOUT


@respx.mock
def test_html_instead_of_json_is_a_malformed_response() -> None:
    mock_meta()
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=httpx.Response(
        200, text="<html><body>Log in to Jira</body></html>",
        headers={"Content-Type": "text/html"}))
    error = _fails(collector(incidents=None))
    assert error.kind is ErrorKind.MALFORMED_RESPONSE and "text/html" in str(error)


@respx.mock
@pytest.mark.parametrize("second", [
    httpx.Response(500, json={"errorMessages": ["Internal server error"]}),
    httpx.Response(200, json={"isLast": False, "issues": [issue(2)]}),  # no token
    httpx.Response(200, json={"isLast": False, "issues": [], "nextPageToken": "t1"}),  # loop
    httpx.Response(200, json={"unexpected": True}),
])
def test_cloud_pagination_breaking_midway_fails_the_run(second: httpx.Response) -> None:
    mock_meta()
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=[
        ok(cloud_page([issue(1)], "t1")), second, second, second])
    error = _fails(collector(incidents=None))
    assert error.kind in (ErrorKind.SERVER, ErrorKind.MALFORMED_RESPONSE)


@respx.mock
def test_datacenter_page_failing_midway_fails_the_run() -> None:
    mock_meta(DC, "2")

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startAt"])
        if start == 0:
            return ok(dc_page([issue(1), issue(2)], 0, 2, total=6))
        if start == 2:
            return ok(dc_page([issue(3), issue(4)], 2, 2, total=6))
        return httpx.Response(502, text="Bad gateway")
    respx.get(f"{DC}/rest/api/2/search").mock(side_effect=handler)
    assert _fails(collector("datacenter", page_size=2, incidents=None)).kind is \
        ErrorKind.SERVER


@respx.mock
def test_missing_field_and_wrong_field_type_are_config_errors() -> None:
    mock_meta(fields=field_list(customfield_10051="string"))
    search = respx.post(f"{CLOUD}/rest/api/3/search/jql")
    error = _fails(collector(incidents={"jql": INC_JQL, "started_field": "customfield_404",
                                        "detected_field": "customfield_10051"}))
    assert error.kind is ErrorKind.CONFIG
    assert "incidents.started_field: field 'customfield_404' does not exist" in str(error)
    assert "incidents.detected_field: field 'customfield_10051' is of type 'string'" in \
        str(error)
    assert not search.called


@respx.mock
def test_date_field_with_a_non_date_value_skips_the_ticket() -> None:
    mock_meta(fields=field_list(customfield_10051="datetime"))
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=by_query(
        [ok(cloud_page([]))],
        [ok(cloud_page([issue(1, project="IR", customfield_10051={"value": "x"}),
                        issue(2, project="IR", customfield_10051="2026-11-02")]))]))
    result = run(collector(incidents={"jql": INC_JQL, "detected_field": "customfield_10051"}))
    (only,) = result.incidents
    assert only.detected_at == datetime(2026, 11, 1, 23, tzinfo=UTC)  # midnight in Berlin
    assert result.record_errors == {ErrorKind.MALFORMED_RECORD: 1}


# --- check-config --online -------------------------------------------------------------


@respx.mock
def test_check_reports_bad_jql_and_missing_fields() -> None:
    mock_meta(fields=field_list())

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["maxResults"] == 1 and body["fields"] == ["created"]
        if "Incident" in body["jql"]:
            return httpx.Response(400, json={"errorMessages": [
                "Error in the JQL Query: Expecting operator but got 'Incident'."],
                "errors": {}})
        return ok(cloud_page([issue(1)], "more"))
    search = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(side_effect=handler)
    c = collector(vulnerabilities={"jql": VULN_JQL, "cve_field": "customfield_777"})
    problems = asyncio.run(c.check(ctx()))
    assert search.call_count == 2  # one small page per query, never the whole set
    assert len(problems) == 2
    assert "vulnerabilities.cve_field: field 'customfield_777' does not exist" in problems[0]
    assert problems[1].startswith("client: incidents: Jira rejected the JQL")
    assert "Expecting operator" in problems[1]


@respx.mock
def test_check_passes_on_a_healthy_datacenter() -> None:
    mock_meta(DC, "2")
    respx.get(f"{DC}/rest/api/2/search").mock(return_value=ok(dc_page([issue(1)], 0, 1, 40)))
    assert asyncio.run(collector("datacenter").check(ctx())) == []


@respx.mock
def test_check_reports_auth_failure() -> None:
    respx.get(f"{DC}/rest/api/2/myself").mock(return_value=httpx.Response(401))
    problems = asyncio.run(collector("datacenter").check(ctx()))
    assert len(problems) == 1 and problems[0].startswith("auth:")


# --- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"api_token": "plain-text"}, "secrets are not accepted inline"),
    ({"api_token": None}, "both email and api_token"),
    ({"vulnerabilities": None, "incidents": None}, "vulnerabilities, incidents, or both"),
    ({"vulnerabilities": {"jql": "x", "severity": {"source": "field"}}}, "severity.field"),
    ({"vulnerabilities": {"jql": "x", "typo": 1}}, "typo"),
    ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
    ({"page_size": 6000}, "5000"),
])
def test_config_errors_are_explicit(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings("cloud", **overrides)
    assert message in str(info.value)
    assert API_TOKEN not in str(info.value)


def test_datacenter_config_needs_a_personal_access_token() -> None:
    with pytest.raises(ValidationError, match="personal_access_token"):
        JiraSettings.model_validate({"base_url": DC, "deployment": "datacenter",
                                     "incidents": {"jql": INC_JQL}})


def test_the_documented_example_block_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    from pathlib import Path

    import yaml
    monkeypatch.setenv("JIRA_API_TOKEN", API_TOKEN)
    doc = Path(__file__).resolve().parents[2] / "docs" / "collectors" / "jira.md"
    block = doc.read_text().split("```yaml\n")[-1].split("```")[0]
    entry = yaml.safe_load("\n".join(re.sub(r"^  # ?", "", line)
                                     for line in block.splitlines()))[0]
    assert entry["type"] == "jira"
    parsed = JiraSettings.model_validate(entry["config"])
    assert parsed.deployment == "auto" and parsed.incidents is not None
    assert parsed.incidents.postmortem.labels == ["postmortem"]


# --- Data Center: the same faults and behaviours on /rest/api/2 ------------------------


def _dc_search(response: Any) -> respx.Route:
    mock_meta(DC, "2")
    return respx.get(f"{DC}/rest/api/2/search").mock(side_effect=response)


@respx.mock
@pytest.mark.parametrize(("responses", "kind", "text"), [
    ([httpx.Response(400, json={"errorMessages": [
        "Error in the JQL Query: The character '%' is a reserved JQL character."],
        "errors": {}})], ErrorKind.CLIENT, "reserved JQL character"),
    ([httpx.Response(200, text="<html>Proxy login</html>",
                     headers={"Content-Type": "text/html"})] * 3,
     ErrorKind.MALFORMED_RESPONSE, "not valid JSON"),
    ([httpx.ConnectTimeout("slow")] * 3, ErrorKind.TIMEOUT, "timed out"),
    ([httpx.Response(429, headers={"Retry-After": "3600"})], ErrorKind.RATE_LIMITED,
     "budget"),
    ([httpx.Response(200, json={"startAt": 0, "maxResults": 50, "issues": []})],
     ErrorKind.MALFORMED_RESPONSE, "no integer total"),
])
def test_datacenter_faults(responses: list[Any], kind: ErrorKind, text: str) -> None:
    _dc_search(responses)
    error = _fails(collector("datacenter", incidents=None))
    assert error.kind is kind and text in str(error)
    assert PAT not in str(error)


@respx.mock
def test_datacenter_429_then_success_and_404_base_url() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
    _dc_search([httpx.Response(429, headers={"Retry-After": "2"}), ok(dc_page([issue(1)]))])
    result = run(collector("datacenter", sleep=sleep, incidents=None))
    assert waits == [2.0] and [f.id for f in result.findings] == ["jira:10001"]
    respx.get(f"{DC}/rest/api/2/myself").mock(return_value=httpx.Response(404, text="nope"))
    assert _fails(collector("datacenter", incidents=None)).kind is ErrorKind.NOT_FOUND


@respx.mock
def test_datacenter_reopen_via_changelog_oldest_first() -> None:
    reopened = issue(1, status="reopened", resolution="Fixed",
                     resolutiondate="2026-10-05T10:00:00.000+0000", changelog=[
                         history("2026-10-05T10:00:00.000+0000", ("resolution", None, "Fixed"),
                                 ("status", "In Progress", "Closed")),
                         history("2026-10-09T10:00:00.000+0000", ("status", "Closed",
                                                                  "Reopened"))])
    closed_twice = issue(2, status="closed", changelog=[
        history("2026-10-02T10:00:00.000+0000", ("resolution", None, "Fixed"),
                ("status", "Open", "Closed")),
        history("2026-10-03T10:00:00.000+0000", ("resolution", "Fixed", None),
                ("status", "Closed", "Reopened")),
        history("2026-10-07T18:00:00.000+0000", ("status", "Reopened", "Closed")),
    ])
    _dc_search([ok(dc_page([reopened, closed_twice]))])
    result = run(collector("datacenter", incidents=None))
    one, two = result.findings
    assert one.state is FindingState.OPEN and one.resolved_at is None
    assert one.opened_at == datetime(2026, 10, 1, 7, tzinfo=UTC)
    assert two.state is FindingState.FIXED
    assert two.resolved_at == datetime(2026, 10, 7, 18, tzinfo=UTC)  # last close, not first
    assert [g.value for g in result.gauges] == [1.0]


@respx.mock
def test_datacenter_incremental_watermark_in_user_zone() -> None:
    state = {"deployment": "datacenter", "base_url": DC, "time_zone": "America/New_York",
             "fingerprint": "", "watermark": "2026-11-23T11:00:00+00:00",
             "last_full_sync": "2026-11-23T01:00:00+00:00"}
    state["fingerprint"] = _fingerprint(settings("datacenter"))

    def handler(request: httpx.Request) -> httpx.Response:
        vulns = "Vulnerability" in request.url.params["jql"]
        return ok(dc_page([issue(1)] if vulns else []))
    search = _dc_search(handler)
    result = run(collector("datacenter"), state=state)
    jqls = sorted(c.request.url.params["jql"] for c in search.calls)
    # 10:50 UTC is 05:50 in New York (EST, UTC-5)
    assert jqls == [
        '(project = IR AND issuetype = Incident) AND updated >= "2026/11/23 05:50" '
        "ORDER BY created ASC, key ASC",
        '(project = SEC AND issuetype = Vulnerability) AND updated >= "2026/11/23 05:50" '
        "ORDER BY created DESC",
    ]
    assert result.complete == frozenset() and len(result.findings) == 1


@respx.mock
def test_full_sync_checks_credentials_even_with_a_configured_zone() -> None:
    me = respx.get(f"{CLOUD}/rest/api/3/myself").mock(return_value=httpx.Response(401))
    search = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=ok(cloud_page([])))
    error = _fails(collector(time_zone="Asia/Tokyo"))
    assert error.kind is ErrorKind.AUTH and me.called and not search.called


@respx.mock
def test_configured_zone_overrides_the_profile_zone() -> None:
    state = _state()
    search = respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=ok(cloud_page([])))
    c = collector(time_zone="Asia/Tokyo")
    state["fingerprint"] = _fingerprint(c.settings)
    run(c, state=state)
    # 10:50 UTC is 19:50 in Tokyo
    assert all('updated >= "2026/11/23 19:50"' in b["jql"] for b in bodies(search))


# --- deployment: auto with both credentials (issue 10 item 5) ---------------------------

BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
BEARER = f"Bearer {PAT}"
NOT_AUTHENTICATED = {"errorMessages": ["You are not authenticated. Authentication required "
                                       "to perform this operation."], "errors": {}}


def server_info(deployment: str, base: str) -> dict[str, Any]:
    """GET /rest/api/2/serverInfo as each deployment documents it."""
    if deployment == "cloud":
        return {"baseUrl": base, "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
                "buildNumber": 100285, "serverTitle": "Jira"}
    return {"baseUrl": base, "version": "9.12.1", "versionNumbers": [9, 12, 1],
            "deploymentType": "Server", "buildNumber": 912001, "databaseBuildNumber": 912001,
            "serverTitle": "Acme Jira"}


def jira_site(deployment: str, base: str, *, anonymous_info: bool = True,
              accepted: str | None = None) -> list[httpx.Request]:
    """One Jira that accepts only the credential its deployment uses (Cloud: Basic e-mail
    + API token; DC: a PAT as Bearer) and answers 401 to anything else, as both do; its
    serverInfo is readable anonymously unless ``anonymous_info`` is False. Returns every
    request it saw, to check which credentials went out."""
    seen: list[httpx.Request] = []
    good = accepted or (BASIC if deployment == "cloud" else BEARER)
    version = "3" if deployment == "cloud" else "2"

    def guarded(respond: Any) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if request.headers.get("Authorization") != good:
                return httpx.Response(401, json=NOT_AUTHENTICATED)
            return respond(request)
        return handler

    def info(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        auth = request.headers.get("Authorization")
        if (auth is None and anonymous_info) or auth == good:
            return ok(server_info(deployment, base))
        return httpx.Response(401, json=NOT_AUTHENTICATED)

    def search(request: httpx.Request) -> httpx.Response:
        jql = (json.loads(request.content)["jql"] if request.method == "POST"
               else request.url.params["jql"])
        issues = [issue(1)] if "Vulnerability" in jql else []
        return ok(cloud_page(issues) if deployment == "cloud" else dc_page(issues))

    respx.get(f"{base}/rest/api/2/serverInfo").mock(side_effect=info)
    respx.get(f"{base}/rest/api/{version}/myself").mock(
        side_effect=guarded(lambda _: ok(myself())))
    respx.get(f"{base}/rest/api/{version}/field").mock(
        side_effect=guarded(lambda _: ok(field_list())))
    if deployment == "cloud":
        respx.post(f"{base}/rest/api/3/search/jql").mock(side_effect=guarded(search))
    else:
        respx.get(f"{base}/rest/api/2/search").mock(side_effect=guarded(search))
    return seen


def auth_headers(requests: list[httpx.Request]) -> list[str | None]:
    return [r.headers.get("Authorization") for r in requests]


def auto(base: str, *, basic: bool = True, pat: bool = True, **overrides: Any
         ) -> JiraCollector:
    """A ``deployment: auto`` collector with the chosen credentials configured."""
    data: dict[str, Any] = {"base_url": base, "deployment": "auto",
                            "vulnerabilities": {"jql": VULN_JQL},
                            "incidents": {"jql": INC_JQL}, "http": {"max_retries": 2}}
    if basic:
        data.update(email=EMAIL, api_token={"env": "JIRA_TEST_TOKEN"})
    if pat:
        data["personal_access_token"] = {"env": "JIRA_TEST_PAT"}
    data.update(overrides)
    return JiraCollector("jira-acme", JiraSettings.model_validate(data), sleep=_no_sleep)


def _no_secret(text: str) -> None:
    for secret in (API_TOKEN, PAT, BASIC.split()[1]):
        assert secret not in text


@respx.mock
def test_auto_on_datacenter_with_both_credentials_uses_the_bearer_token(
        caplog: pytest.LogCaptureFixture) -> None:
    seen = jira_site("datacenter", DC)
    with caplog.at_level(logging.DEBUG):
        result = run(auto(DC))
    assert [f.id for f in result.findings] == ["jira:10001"]
    assert result.state is not None and result.state["deployment"] == "datacenter"
    headers = auth_headers(seen)
    assert headers[0] is None  # the probe: anonymous
    assert set(headers[1:]) == {BEARER}  # every later request: the PAT
    assert BASIC not in headers  # the Cloud credential never went to a DC server
    _no_secret(caplog.text)


@respx.mock
def test_auto_on_datacenter_refusing_anonymous_server_info_probes_with_the_pat() -> None:
    seen = jira_site("datacenter", DC, anonymous_info=False)
    result = run(auto(DC))
    assert [f.id for f in result.findings] == ["jira:10001"]
    headers = auth_headers(seen)
    assert headers[:2] == [None, BEARER]  # anonymous refused, then the DC credential
    assert set(headers[2:]) == {BEARER} and BASIC not in headers


@respx.mock
def test_auto_on_cloud_with_both_credentials_never_sends_the_pat() -> None:
    seen = jira_site("cloud", CLOUD)
    result = run(auto(CLOUD))
    assert [f.id for f in result.findings] == ["jira:10001"]
    assert result.state is not None and result.state["deployment"] == "cloud"
    headers = auth_headers(seen)
    assert headers[0] is None and set(headers[1:]) == {BASIC}


@respx.mock
def test_auto_on_cloud_refusing_anonymous_server_info_ends_with_basic() -> None:
    seen = jira_site("cloud", CLOUD, anonymous_info=False)
    result = run(auto(CLOUD))
    assert [f.id for f in result.findings] == ["jira:10001"]
    headers = auth_headers(seen)
    assert headers[:3] == [None, BEARER, BASIC] and set(headers[3:]) == {BASIC}


@respx.mock
@pytest.mark.parametrize(("deployment", "base", "basic", "pat"), [
    ("cloud", CLOUD, True, False), ("datacenter", DC, False, True)])
@pytest.mark.parametrize("anonymous_info", [True, False])
def test_auto_with_only_the_fitting_credential(deployment: str, base: str, basic: bool,
                                               pat: bool, anonymous_info: bool) -> None:
    seen = jira_site(deployment, base, anonymous_info=anonymous_info)
    result = run(auto(base, basic=basic, pat=pat))
    assert [f.id for f in result.findings] == ["jira:10001"]
    assert result.state is not None and result.state["deployment"] == deployment
    assert set(auth_headers(seen)[1:]) == {BASIC if basic else BEARER}


@respx.mock
@pytest.mark.parametrize(("deployment", "base", "basic", "pat", "needed"), [
    ("cloud", CLOUD, False, True, "email and api_token"),
    ("datacenter", DC, True, False, "personal_access_token")])
def test_auto_with_only_the_other_deployments_credential_is_a_config_error(
        deployment: str, base: str, basic: bool, pat: bool, needed: str) -> None:
    seen = jira_site(deployment, base)
    error = _fails(auto(base, basic=basic, pat=pat))
    assert error.kind is ErrorKind.CONFIG and needed in str(error)
    assert auth_headers(seen) == [None]  # nothing but the anonymous probe went out
    _no_secret(str(error))


@respx.mock
def test_auto_when_every_credential_is_refused_names_what_was_tried(
        caplog: pytest.LogCaptureFixture) -> None:
    seen = jira_site("datacenter", DC, anonymous_info=False, accepted="nothing")
    with caplog.at_level(logging.DEBUG):
        error = _fails(auto(DC))
    assert error.kind is ErrorKind.AUTH
    message = str(error)
    assert "anonymously" in message and "personal_access_token" in message
    assert "email + api_token" in message
    assert auth_headers(seen) == [None, BEARER, BASIC]
    _no_secret(message)
    _no_secret(caplog.text)


@respx.mock
def test_auth_failure_after_detection_names_the_credential_used() -> None:
    seen = jira_site("datacenter", DC, accepted="nothing")  # anonymous serverInfo works
    error = _fails(auto(DC))
    assert error.kind is ErrorKind.AUTH and "personal_access_token" in str(error)
    assert BASIC not in auth_headers(seen)
    _no_secret(str(error))


@respx.mock
def test_detected_deployment_is_kept_for_the_collector_life() -> None:
    seen = jira_site("datacenter", DC)
    c = auto(DC)
    run(c)
    run(c)  # the previous state was not saved (say the store failed): no new probe
    assert [r.url.path for r in seen].count("/rest/api/2/serverInfo") == 1


@respx.mock
def test_cached_deployment_is_reprobed_when_its_credential_gets_401() -> None:
    # The state says Cloud (a site migrated to Data Center behind the same URL):
    # Basic gets 401, the collector probes again and runs a full sync with the PAT.
    seen = jira_site("datacenter", DC)
    respx.post(f"{DC}/rest/api/3/search/jql").mock(
        side_effect=lambda r: (seen.append(r), httpx.Response(401, json=NOT_AUTHENTICATED))[1])
    c = auto(DC)
    state = {"deployment": "cloud", "base_url": DC, "time_zone": "Europe/Berlin",
             "fingerprint": _fingerprint(c.settings), "watermark": "2026-11-23T11:00:00+00:00",
             "last_full_sync": "2026-11-23T01:00:00+00:00"}
    result = run(c, state=state)
    assert result.state is not None and result.state["deployment"] == "datacenter"
    assert result.complete == frozenset({RecordKind.FINDING, RecordKind.INCIDENT})
    assert [f.id for f in result.findings] == ["jira:10001"]
    headers = auth_headers(seen)
    assert headers.count(None) == 1  # one re-probe


@respx.mock
def test_cached_deployment_without_its_credential_any_more_is_probed_again() -> None:
    # Cloud credentials replaced by a PAT after a migration: the state's "cloud" is
    # stale, and the run must not fail as config because of it.
    seen = jira_site("datacenter", DC)
    result = run(auto(DC, basic=False), state={"deployment": "cloud", "base_url": DC})
    assert result.state is not None and result.state["deployment"] == "datacenter"
    assert auth_headers(seen)[0] is None and BASIC not in auth_headers(seen)


@respx.mock
def test_reprobe_that_confirms_the_cached_deployment_fails_as_auth_once() -> None:
    seen = jira_site("datacenter", DC, accepted="nothing")
    c = auto(DC)
    state = {"deployment": "datacenter", "base_url": DC}
    error = _fails(c, state)
    assert error.kind is ErrorKind.AUTH and "personal_access_token" in str(error)
    assert auth_headers(seen).count(None) == 1  # re-probed once, no loop


@respx.mock
def test_check_on_datacenter_auto_with_both_credentials() -> None:
    seen = jira_site("datacenter", DC, anonymous_info=False)
    assert asyncio.run(auto(DC).check(ctx())) == []
    assert BASIC not in auth_headers(seen)


@respx.mock
def test_check_reports_every_refused_credential() -> None:
    jira_site("datacenter", DC, anonymous_info=False, accepted="nothing")
    problems = asyncio.run(auto(DC).check(ctx()))
    assert len(problems) == 1 and problems[0].startswith("auth:")
    assert "personal_access_token" in problems[0] and "email + api_token" in problems[0]
    _no_secret(problems[0])


# --- the profile time zone in logs ----------------------------------------------------


@respx.mock
@pytest.mark.parametrize(("zone", "described"), [
    ("Home of Jane Doe <jane@example.org>", "a text of 35 characters"),
    (42, "a int")])
def test_unknown_profile_time_zone_is_logged_without_its_value(
        zone: Any, described: str, caplog: pytest.LogCaptureFixture) -> None:
    respx.get(f"{CLOUD}/rest/api/3/myself").mock(
        return_value=ok({**myself(), "timeZone": zone}))
    respx.get(f"{CLOUD}/rest/api/3/field").mock(return_value=ok(field_list()))
    respx.post(f"{CLOUD}/rest/api/3/search/jql").mock(return_value=ok(cloud_page([])))
    with caplog.at_level(logging.DEBUG):
        result = run(collector())
    assert result.state is not None and result.state["time_zone"] == "UTC"
    (warning,) = [r.getMessage() for r in caplog.records if "time zone" in r.getMessage()]
    assert "profile time zone" in warning and described in warning
    assert "Jane" not in caplog.text and "42" not in warning
