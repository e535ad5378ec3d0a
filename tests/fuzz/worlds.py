"""One fake deployment per API collector configuration, built from the fixture
builders its own respx tests use (tests/collectors/test_*.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from collectors.base import CollectContext, CollectionResult, Collector
from collectors.records import RecordKind
from tests.fuzz.api import (
    Item,
    Slot,
    World,
    _context,
    _json_response,
    _list_items,
    _no_sleep,
    _not_found,
)
from tests.fuzz.core import NOW, Key, records_by_key

# -- Microsoft Sentinel ---------------------------------------------------------------------

def _sentinel_world() -> World:
    from collectors.sentinel import SentinelCollector
    from tests.collectors import test_sentinel as ts

    holder: list[World] = []
    names = {n: f"73e01a99-5cd7-4139-a149-{n:012d}" for n in range(1, 8)}
    page1 = [ts.incident(1), ts.incident(2, classification="FalsePositive"),
             ts.incident(3, status="Active", modified="2026-11-21T00:00:00Z"),
             ts.incident(4, classification="Undetermined", severity="Medium")]
    page2 = [ts.incident(5, status="New", classification=None, severity="Low"),
             ts.incident(6, classification="BenignPositive", severity="Informational"),
             ts.incident(7, created="2026-06-01T00:00:00Z", first="2026-05-31T20:00:00Z",
                         modified="2026-10-02T00:00:00Z")]
    rows = [[names[1], "2026-11-10T12:00:00Z", "2026-11-10T10:30:00Z"],
            [names[3], None, "2026-11-20T09:00:00Z"],
            [names[7], "2026-10-01T00:00:00Z", "2026-07-01T00:00:00Z"]]
    next_link = f"{ts.BASE}?api-version=2025-06-01&$skipToken=page2"
    arm_path = httpx.URL(ts.BASE).path
    rules_path = arm_path.removesuffix("incidents") + "alertRules"
    rules = [_sentinel_rule(1, "Scheduled", ["T1078"], ["T1078.004"]),
             _sentinel_rule(2, "NRT", ["T1110"], []),
             _sentinel_rule(3, "Fusion", [], [], enabled=False)]
    os.environ["SENTINEL_FUZZ_SECRET"] = ts.SECRET
    settings = ts.SentinelSettings.model_validate({
        "tenant_id": ts.TENANT, "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": {"env": "SENTINEL_FUZZ_SECRET"}, "subscription_id": ts.SUB,
        "resource_group": "myRg", "workspace_name": "myWorkspace",
        "log_analytics": {"workspace_id": ts.WS_ID}, "http": {"max_retries": 0}})

    def make() -> tuple[Collector, CollectContext]:
        return (SentinelCollector("sentinel-prod", settings, sleep=_no_sleep),
                _context("sentinel-prod"))

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            url = request.url
            if url.host == "login.microsoftonline.com":
                return ts.token_ok()
            if url.host == "api.loganalytics.io":
                return ts.la_result(rows)
            if url.host == "management.azure.com" and url.path == rules_path:
                return _json_response({"value": rules})
            if url.host == "management.azure.com" and url.path == arm_path:
                if "skipToken=page2" in str(url):
                    return ts.page(page2)
                return ts.page(page1, next_link)
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        host = request.url.host
        if host == "login.microsoftonline.com":
            return "token"
        if host == "api.loganalytics.io":
            return "log analytics query"
        if host == "management.azure.com" and request.url.path == rules_path:
            return "alert rules"
        if host == "management.azure.com":
            return "incidents page " + ("2" if "skipToken=page2" in str(request.url) else "1")
        return None

    def keys(item: Any) -> set[Key]:
        props = item["properties"]
        record_id = f"myWorkspace#{props['incidentNumber']}"
        out: set[Key] = {(RecordKind.SIEM_ALERT, record_id)}
        if props.get("classification") not in ("FalsePositive", "BenignPositive"):
            out.add((RecordKind.INCIDENT, record_id))
        return out

    both = frozenset({RecordKind.SIEM_ALERT, RecordKind.INCIDENT})

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith("incidents"):
            return _list_items(("value",), body, keys, both)
        if key == "alert rules":
            return _list_items(("value",), body, lambda rule: _present(
                lambda: holder[0].baseline, (RecordKind.DETECTION_RULE, rule["name"])),
                frozenset({RecordKind.DETECTION_RULE}))
        if key == "log analytics query":  # a bad row loses only its close time
            return _list_items(("tables", 0, "rows"), body, lambda _: set(), both)
        return []

    def exempt(path: tuple[Any, ...]) -> bool:
        # A verdict decides whether an incident is one (false and benign positives are
        # not): changing it may add or drop the incident record by design.
        return "classification" in path

    built = World(
        "sentinel", make, handler, slot_of, items_of, exempt=exempt,
        focus=frozenset({"properties", "incidentNumber", "createdTimeUtc",
                         "lastModifiedTimeUtc", "firstActivityTimeUtc", "lastActivityTimeUtc",
                         "status", "classification", "severity", "title", "name", "kind",
                         "enabled", "techniques", "subTechniques"}),
    )
    holder.append(built)
    return built


def _sentinel_rule(number: int, kind: str, techniques: list[str], subs: list[str],
                   enabled: bool = True) -> dict[str, Any]:
    """One analytics rule as Alert Rules - List returns it (Azure REST reference)."""
    name = f"5e7a1f3c-0000-4000-8000-{number:012d}"
    return {"id": f"/subscriptions/x/providers/Microsoft.SecurityInsights/alertRules/{name}",
            "name": name, "etag": '"0300bf09-0000-0000-0000-5c37296e0000"',
            "type": "Microsoft.SecurityInsights/alertRules", "kind": kind,
            "properties": {"displayName": f"Rule {number}", "enabled": enabled,
                           "severity": "High", "tactics": ["InitialAccess"],
                           "techniques": techniques, "subTechniques": subs,
                           "lastModifiedUtc": "2026-11-01T00:00:00Z"}}


def _form(request: httpx.Request) -> dict[str, str]:
    from urllib.parse import parse_qs
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def _present(baseline: Callable[[], CollectionResult | None], key: Key) -> set[Key]:
    """``{key}`` when the clean baseline holds that record (else the item yields none)."""
    result = baseline()
    return {key} if result is not None and key in records_by_key(result) else set()


# -- Splunk Enterprise Security ---------------------------------------------------------------

def _splunk_data() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from tests.collectors import test_splunk as tsp

    reviews = [tsp.review("N1", "2026-11-20T10:20:00+00:00", "2026-11-20T11:00:00+00:00"),
               tsp.review("N2", "2026-11-20T12:00:00+00:00", "2026-11-20T12:30:00+00:00"),
               tsp.review("N3", None, "2026-11-21T09:00:00+00:00")]
    notables = [tsp.notable("N1"),
                tsp.notable("N2", disposition="disposition:3", urgency="medium"),
                tsp.notable("N3", status="2", label="In Progress", disposition="disposition:6",
                            urgency="critical"),
                tsp.notable("N4", status="1", label="New", disposition="disposition:0",
                            urgency="low"),
                tsp.notable("N5", disposition="disposition:2", urgency="informational")]
    return reviews, notables


def _splunk_world(mode: str) -> World:
    from collectors.splunk import SplunkCollector, SplunkSettings
    from tests.collectors import test_splunk as tsp

    reviews, notables = _splunk_data()
    os.environ["SPLUNK_FUZZ_TOKEN"] = tsp.TOKEN
    settings = SplunkSettings.model_validate({
        "base_url": tsp.BASE, "token": {"env": "SPLUNK_FUZZ_TOKEN"}, "mode": mode,
        "page_size": 2, "http": {"max_retries": 0}})
    sids = {"review": "1763900000.101", "notable": "1763900000.102"}
    rows_of = {sids["review"]: reviews, sids["notable"]: notables}
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        # Time moves a second per clock read, so the search budget (5 min) bounds a poll
        # loop the way it does in production, without real waiting.
        return (SplunkCollector("splunk-es", settings, sleep=_no_sleep,
                                clock=tsp.FakeClock(step=1.0)),
                _context("splunk-es"))

    searches = [_splunk_saved_search(1, "Access - Brute Force Access Behavior Detected - Rule",
                                     '{"mitre_attack": ["T1110", "T1110.001"]}'),
                _splunk_saved_search(2, "Endpoint - Malware Detected - Rule",
                                     '{"mitre_attack": ["T1204"]}', disabled="1"),
                _splunk_saved_search(3, "Weekly report", None, correlation="0")]

    def search_of(request: httpx.Request) -> str:
        return "review" if "incident_review_lookup" in _form(request).get("search", "") \
            else "notable"

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path.endswith("/saved/searches"):
                offset = int(request.url.params.get("offset", "0"))
                count = int(request.url.params.get("count", "500"))
                return _json_response({"entry": searches[offset:offset + count],
                                       "paging": {"total": len(searches), "perPage": count,
                                                  "offset": offset}, "messages": []})
            if path.endswith("/jobs/export"):
                rows = reviews if search_of(request) == "review" else notables
                return httpx.Response(200, text=tsp.export_body(rows))
            if request.method == "POST" and path.endswith("/search/jobs"):
                return _json_response({"sid": sids[search_of(request)]}, 201)
            for sid, rows in rows_of.items():
                if request.method == "DELETE" or path.endswith("/control"):
                    return _json_response({})
                if path.endswith(f"/jobs/{sid}"):
                    return _json_response({"entry": [{"name": sid, "content": {
                        "dispatchState": "DONE", "isDone": True, "isFailed": False,
                        "resultCount": len(rows)}}]})
                if path.endswith(f"/jobs/{sid}/results"):
                    offset = int(request.url.params.get("offset", "0"))
                    count = int(request.url.params.get("count", "100"))
                    return _json_response({"preview": False, "init_offset": offset,
                                           "messages": [], "fields": [],
                                           "results": rows[offset:offset + count]})
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path.endswith("/saved/searches"):
            return f"saved searches offset {request.url.params.get('offset')}"
        if path.endswith("/jobs/export"):
            return f"export {search_of(request)}s"
        if request.method == "DELETE" or path.endswith("/control"):
            return None
        if request.method == "POST":
            return f"create {search_of(request)} job"
        for name, sid in sids.items():
            if path.endswith(f"/jobs/{sid}"):
                return f"{name} job status"
            if path.endswith(f"/jobs/{sid}/results"):
                return f"{name} results offset {request.url.params.get('offset')}"
        return None

    def keys(row: Any) -> set[Key]:
        return _present(lambda: holder[0].baseline, (RecordKind.SIEM_ALERT, str(row["event_id"])))

    alerts = frozenset({RecordKind.SIEM_ALERT})

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith("saved searches"):
            return _list_items(("entry",), body, lambda entry: _present(
                lambda: holder[0].baseline, (RecordKind.DETECTION_RULE, entry["id"])),
                frozenset({RecordKind.DETECTION_RULE}))
        review = key.startswith(("export reviews", "review results"))
        if key.startswith("export"):  # a list of stream lines; records in "result"
            return [Item((i, "result"), frozenset() if review or "result" not in line
                         else frozenset(keys(line["result"])), alerts)
                    for i, line in enumerate(body)]
        if "results" in key:
            return _list_items(("results",), body, (lambda _: set()) if review else keys,
                               alerts)
        return []

    def page_level(slot: Slot, path: tuple[Any, ...]) -> bool:
        # A stream line that is not an object, or a "result" that is not one, fails the
        # search as documented ("result is not an object"): page shape, not a record.
        return slot.lines and len(path) <= 2

    built = World(
        f"splunk-{mode}", make, handler, slot_of, items_of,
        focus=frozenset({"event_id", "rule_name", "search_name", "status", "status_label",
                         "disposition", "disposition_label", "disposition_default",
                         "urgency", "notable_epoch", "_time", "rule_id",
                         "first_status_change", "last_review", "result", "content",
                         "id", "disabled", "action.correlationsearch.enabled",
                         "action.correlationsearch.annotations", "paging", "total"}),
        page_level=page_level, lines=lambda key: key.startswith("export"),
        # A saved search without the correlation flag is no detection rule (documented).
        exempt=lambda path: "action.correlationsearch.enabled" in path)
    holder.append(built)
    return built


def _splunk_saved_search(number: int, name: str, annotations: str | None, *,
                         correlation: str = "1", disabled: str = "0") -> dict[str, Any]:
    """One entry of GET /servicesNS/-/-/saved/searches (Splunk REST API reference)."""
    from urllib.parse import quote

    content: dict[str, Any] = {"action.correlationsearch.enabled": correlation,
                               "disabled": disabled, "search": "| tstats count ...",
                               "cron_schedule": "*/5 * * * *"}
    if annotations is not None:
        content["action.correlationsearch.annotations"] = annotations
    return {"name": name, "author": "nobody", "updated": "2026-11-01T00:00:00+00:00",
            "id": f"https://es.example.com:8089/servicesNS/nobody/SA-AccessProtection/saved/"
                  f"searches/{quote(name)}",
            "links": {}, "acl": {"app": "SA-AccessProtection", "owner": "nobody",
                                 "sharing": "global"}, "content": content}


# -- Elastic Security ------------------------------------------------------------------------

def _elastic_world(mode: str) -> World:
    from collectors.elastic import ElasticCollector, ElasticSettings
    from tests.collectors import test_elastic as te

    hits = [
        te.alert_hit("a-open", created="2026-11-01T10:00:00.000Z"),
        te.alert_hit("a-ack", status="acknowledged", updated="2026-11-02T10:30:00.000Z",
                     created="2026-11-02T10:00:00.000Z", severity="medium"),
        te.alert_hit("a-fp", status="closed", reason="false_positive",
                     created="2026-11-03T10:00:00.000Z", updated="2026-11-03T12:00:00.000Z",
                     severity="low"),
        te.alert_hit("a-tp", status="closed", reason="issue_resolved", nested=True,
                     created="2026-11-04T10:00:00.000Z", updated="2026-11-04T11:00:00.000Z"),
        te.alert_hit("a-none", status="closed", created="2026-11-05T10:00:00.000Z",
                     updated="2026-11-05T10:05:00.000Z", severity="critical"),
        te.alert_hit("a-legacy", status="in-progress", created="2026-11-06T10:00:00.000Z",
                     updated="2026-11-06T10:10:00.000Z"),
        te.alert_hit("a-old", created="2026-07-01T00:00:00.000Z"),
    ]
    for position, hit in enumerate(hits):
        hit["sort"] = [position]
    rules = [_kibana_rule(1, "query", ["T1078"], ["T1078.004"]),
             _kibana_rule(2, "eql", ["T1059"], []),
             _kibana_rule(3, "machine_learning", [], [], enabled=False)]
    os.environ["ELASTIC_FUZZ_KEY"] = te.API_KEY
    url = te.ES if mode == "elasticsearch" else te.KB
    settings = ElasticSettings.model_validate({
        "mode": mode, "url": url, "api_key": {"env": "ELASTIC_FUZZ_KEY"}, "page_size": 3,
        "http": {"max_retries": 0}})
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return ElasticCollector("elastic-soc", settings, sleep=_no_sleep), _context("elastic-soc")

    def body_of(request: httpx.Request) -> Any:
        try:
            return json.loads(request.content or b"null")
        except ValueError:
            return None

    def time_range(request: httpx.Request) -> tuple[str, str] | None:
        body = body_of(request)
        try:
            bounds = body["query"]["bool"]["filter"][-1]["range"]["@timestamp"]
            return bounds["gte"], bounds["lt"]
        except (KeyError, IndexError, TypeError):
            return None

    def in_range(hit: dict[str, Any], low: str, high: str) -> bool:
        created = datetime.fromisoformat(hit["_source"]["@timestamp"].replace("Z", "+00:00"))
        return (datetime.fromisoformat(low.replace("Z", "+00:00")) <= created
                < datetime.fromisoformat(high.replace("Z", "+00:00")))

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path.endswith("/_pit") and request.method == "POST":
                return _json_response({"id": te.PIT})
            if path == "/_pit":
                return _json_response({"succeeded": True, "num_freed": 1})
            if path == "/_search":
                after = (body_of(request) or {}).get("search_after")
                if after is not None and not (isinstance(after, list) and after
                                              and isinstance(after[0], int)):
                    return _json_response({"error": {"type": "parse_exception"}}, 400)
                start = 0 if after is None else after[0] + 1
                return _json_response(te.search_page(hits[start:start + 3]))
            if path.endswith("/rules/_find"):
                page = int(request.url.params.get("page", "1"))
                size = int(request.url.params.get("per_page", "500"))
                return _json_response({"page": page, "perPage": size, "total": len(rules),
                                       "data": rules[(page - 1) * size:page * size]})
            if path.endswith("/signals/search"):
                bounds = time_range(request)
                if bounds is None:
                    return _json_response({"message": "bad request"}, 400)
                chosen = [h for h in hits if in_range(h, *bounds)]
                return _json_response(te.search_page(chosen[:3], total=len(chosen),
                                                     pit_id=None))
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path.endswith("/_pit"):
            return "open point in time" if request.method == "POST" else None
        if path == "/_search":
            return f"search after {(body_of(request) or {}).get('search_after')}"
        if path.endswith("/signals/search"):
            return f"signals {time_range(request)}"
        if path.endswith("/rules/_find"):
            return f"rules page {request.url.params.get('page')}"
        return None

    def keys(hit: Any) -> set[Key]:
        return _present(lambda: holder[0].baseline, (RecordKind.SIEM_ALERT, hit["_id"]))

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith(("search", "signals")):
            return _list_items(("hits", "hits"), body, keys, frozenset({RecordKind.SIEM_ALERT}))
        if key.startswith("rules"):
            return _list_items(("data",), body, lambda rule: _present(
                lambda: holder[0].baseline, (RecordKind.DETECTION_RULE, rule["id"])),
                frozenset({RecordKind.DETECTION_RULE}))
        return []

    def page_level(slot: Slot, path: tuple[Any, ...]) -> bool:
        # A hit's sort values are the next page's cursor, and the last hit of a full page
        # carries them: page shape, not a record.
        if path[3:4] == ("sort",):
            return True
        hits_of = slot.body.get("hits", {}).get("hits", []) if isinstance(slot.body, dict) \
            else []
        return (mode == "elasticsearch" and len(path) == 3 and len(hits_of) == 3
                and path[2] == len(hits_of) - 1)

    built = World(
        f"elastic-{mode}", make, handler, slot_of, items_of,
        focus=frozenset({"_source", "_id", "@timestamp", "kibana.alert.uuid",
                         "kibana.alert.workflow_status", "kibana.alert.workflow_reason",
                         "kibana.alert.workflow_status_updated_at", "kibana.alert.rule.name",
                         "kibana.alert.severity", "uuid", "workflow_status",
                         "workflow_reason", "severity", "name", "kibana", "alert", "id",
                         "enabled", "type", "threat", "framework", "technique",
                         "subtechnique"}),
        page_level=page_level)
    holder.append(built)
    return built


def _kibana_rule(number: int, kind: str, techniques: list[str], subs: list[str],
                 enabled: bool = True) -> dict[str, Any]:
    """One rule object of GET /api/detection_engine/rules/_find (Kibana API reference)."""
    return {"id": f"8a4f3c2e-0000-4000-8000-{number:012d}", "rule_id": f"rule-{number}",
            "name": f"Rule {number}", "enabled": enabled, "type": kind, "risk_score": 47,
            "severity": "medium", "created_at": "2026-10-01T00:00:00.000Z",
            "threat": [{"framework": "MITRE ATT&CK",
                        "tactic": {"id": "TA0001", "name": "Initial Access",
                                   "reference": "https://attack.mitre.org/tactics/TA0001/"},
                        "technique": [{"id": t, "name": t,
                                       "reference": f"https://attack.mitre.org/techniques/{t}/",
                                       "subtechnique": [{"id": sub, "name": sub}
                                                        for sub in subs]}
                                      for t in techniques]}]}


# -- PagerDuty --------------------------------------------------------------------------------

def _pagerduty_world(api: str) -> World:
    from collectors.pagerduty import PagerDutyCollector, PagerDutySettings
    from tests.collectors import test_pagerduty as tp

    start = NOW - timedelta(days=30)  # one since/until window
    incidents = [
        tp.incident("PINC001", priority="P1"),
        tp.incident("PINC002", urgency="low", status="acknowledged", resolved=None),
        tp.incident("PINC003", resolved="2026-11-11T08:00:00Z", priority="Sev-custom"),
        tp.incident("PINC004", created="2026-11-12T08:00:00Z", resolved="2026-11-12T09:00:00Z"),
        tp.incident("PINC005", status="triggered", resolved=None, urgency="low"),
    ]
    old = tp.incident("POLD001", created="2026-09-01T08:00:00Z",
                      resolved="2026-11-02T08:00:00Z")
    entries = [tp.log_entry("resolve_log_entry", "PINC001", "2026-11-10T10:00:00Z", "R1"),
               tp.log_entry("acknowledge_log_entry", "PINC002", "2026-11-10T09:00:00Z", "A2"),
               tp.log_entry("resolve_log_entry", "POLD001", "2026-11-02T08:00:00Z", "R2")]
    rows = [tp.analytics_row("A1"), tp.analytics_row("A2", ack=None, urgency="low"),
            tp.analytics_row("A3", resolved=None, ack=60, status="acknowledged"),
            tp.analytics_row("A4", priority=None, created="2026-11-12T08:00:00Z",
                             resolved="2026-11-12T10:00:00Z"),
            tp.analytics_row("A5", urgency="low", priority="P4")]
    verdicts = {"PINC001": "true_positive", "PINC003": "undetermined", "A1": "true_positive",
                "A4": "undetermined"}
    contained = {"PINC001": "2026-11-10T09:00:00Z", "A1": "2026-11-10T08:30:00Z"}
    os.environ["PD_FUZZ_TOKEN"] = tp.TOKEN
    settings = PagerDutySettings.model_validate({
        "token": {"env": "PD_FUZZ_TOKEN"}, "api": api, "page_limit": 2,
        "analytics_page_limit": 2, "classification_field": "security_verdict",
        "containment": "custom_field", "containment_field": "contained_at",
        "http": {"max_retries": 0}})
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return (PagerDutyCollector("pd-secops", settings, sleep=_no_sleep),
                _context("pd-secops", start=start))

    def page(key: str, items: list[Any], request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        chunk = items[offset:offset + 2]
        return _json_response(tp.listing(key, chunk, offset=offset, limit=2,
                                         more=offset + 2 < len(items), total=len(items)))

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == "/incidents":
                return page("incidents", incidents, request)
            if path == "/log_entries":
                return page("log_entries", entries, request)
            by_id = {i["id"]: i for i in [*incidents, old]}
            if path.count("/") == 2 and path.split("/")[2] in by_id:
                return _json_response({"incident": by_id[path.split("/")[2]]})
            if path.endswith("/custom_fields/values"):
                incident_id = path.split("/")[2]
                values = [tp.field_value("environment", None)]
                if incident_id in verdicts:
                    values.append(tp.field_value("security_verdict", verdicts[incident_id]))
                if incident_id in contained:
                    values.append(tp.contained_field(contained[incident_id]))
                return _json_response({"custom_fields": values})
            if path == "/analytics/raw/incidents":
                body = json.loads(request.content)
                after = body.get("starting_after")
                ids = [r["id"] for r in rows]
                if after is not None and after not in ids:
                    return _json_response({"error": {"message": "bad cursor"}}, 400)
                index = 0 if after is None else ids.index(after) + 1
                chunk = rows[index:index + 2]
                return _json_response({"data": chunk, "first": chunk[0]["id"] if chunk else None,
                                       "last": chunk[-1]["id"] if chunk else None,
                                       "more": index + 2 < len(rows), "limit": 2})
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path in ("/incidents", "/log_entries"):
            return f"GET {path} offset {request.url.params.get('offset')}"
        if path == "/analytics/raw/incidents":
            return f"analytics after {json.loads(request.content).get('starting_after')}"
        return f"GET {path}" if path.startswith("/incidents/") else None

    def keys(item: Any) -> set[Key]:
        return _present(lambda: holder[0].baseline, (RecordKind.INCIDENT, item["id"]))

    kinds = frozenset({RecordKind.INCIDENT})

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith("GET /incidents offset"):
            return _list_items(("incidents",), body, keys, kinds)
        if key.startswith("analytics"):
            return _list_items(("data",), body, keys, kinds)
        if key == "GET /incidents/POLD001":
            return [Item(("incident",), frozenset(keys(old)), kinds)]
        if key.endswith("/custom_fields/values"):  # one incident's fields
            incident_id = key.split("/")[2]
            own = frozenset(_present(lambda: holder[0].baseline,
                                     (RecordKind.INCIDENT, incident_id)))
            return [Item(p.prefix, own, kinds)
                    for p in _list_items(("custom_fields",), body, lambda _: set(), kinds)]
        return []  # log entries: which incidents to fetch, not records

    def exempt(path: tuple[Any, ...]) -> bool:
        # A verdict may legitimately say "false positive": the incident is no record then.
        return "value" in path or "security_verdict" in path

    built = World(
        f"pagerduty-{api}", make, handler, slot_of, items_of,
        focus=frozenset({"id", "created_at", "resolved_at", "status", "urgency", "priority",
                         "summary", "name", "priority_name", "value", "last_status_change_at",
                         "service", "teams", "incident"}),
        exempt=exempt)
    holder.append(built)
    return built


# -- Jira ---------------------------------------------------------------------------------------

def _jira_world(deployment: str) -> World:
    from collectors.jira import JiraCollector, JiraSettings
    from tests.collectors import test_jira as tj

    vulns = [
        tj.issue(1, summary="CVE-2026-1234 and cve-2026-99999 in libfoo", priority="Highest"),
        tj.issue(2, status="done", resolution="Done",
                 resolutiondate="2026-10-05T09:00:00.000+0200"),
        tj.issue(3, status="closed", resolution="Won't Fix", priority="Low",
                 resolutiondate="2026-10-03T12:00:00.000+0000"),
        tj.issue(4, status="reopened", resolution="Done", priority="Medium",
                 resolutiondate="2026-10-10T09:00:00.000+0000",
                 changelog=[tj.history("2026-10-08T08:00:00.000+0000",
                                       ("resolution", "Done", None),
                                       ("status", "Done", "Reopened"))]),
        tj.issue(5, status="done", priority="Lowest", changelog=[
            tj.history("2026-10-20T16:30:00.000+0000", ("status", "In Progress", "Done"))]),
    ]
    incidents = [
        tj.issue(7, project="IR", issuetype="Incident", status="done", resolution="Done",
                 created="2026-11-02T10:00:00.000+0000",
                 resolutiondate="2026-11-03T10:00:00.000+0000"),
        tj.issue(8, project="IR", issuetype="Incident", priority="Low",
                 created="2026-11-05T10:00:00.000+0000"),
        tj.issue(9, project="IR", issuetype="Incident", status="done", resolution="Done",
                 priority=None, created="2026-11-06T10:00:00.000+0000",
                 resolutiondate="2026-11-06T18:00:00.000+0000"),
    ]
    base = tj.CLOUD if deployment == "cloud" else tj.DC
    version = "3" if deployment == "cloud" else "2"
    os.environ["JIRA_FUZZ_TOKEN"] = tj.API_TOKEN
    os.environ["JIRA_FUZZ_PAT"] = tj.PAT
    data: dict[str, Any] = {"base_url": base, "deployment": deployment,
                            "vulnerabilities": {"jql": tj.VULN_JQL},
                            "incidents": {"jql": tj.INC_JQL}, "http": {"max_retries": 0}}
    if deployment == "cloud":
        data.update(email=tj.EMAIL, api_token={"env": "JIRA_FUZZ_TOKEN"})
    else:
        data.update(personal_access_token={"env": "JIRA_FUZZ_PAT"}, page_size=2)
    settings = JiraSettings.model_validate(data)
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return JiraCollector("jira-acme", settings, sleep=_no_sleep), _context("jira-acme")

    def query_of(jql: str) -> str:
        return "vulnerabilities" if "Vulnerability" in jql else "incidents"

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == f"/rest/api/{version}/myself":
                return _json_response(tj.myself())
            if path == f"/rest/api/{version}/field":
                return _json_response(tj.field_list())
            if path == "/rest/api/3/search/jql":
                body = json.loads(request.content)
                issues = vulns if query_of(body["jql"]) == "vulnerabilities" else incidents
                start = int(body.get("nextPageToken") or 0)
                following = start + 3 if start + 3 < len(issues) else None
                return _json_response(tj.cloud_page(issues[start:start + 3],
                                                    None if following is None
                                                    else str(following)))
            if path == "/rest/api/2/search":
                params = request.url.params
                issues = vulns if query_of(params["jql"]) == "vulnerabilities" else incidents
                start, size = int(params["startAt"]), min(2, int(params["maxResults"]))
                return _json_response(tj.dc_page(issues[start:start + size], start, size,
                                                 len(issues)))
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path.endswith(("/myself", "/field")):
            return f"GET {path}"
        if path == "/rest/api/3/search/jql":
            body = json.loads(request.content)
            return f"search {query_of(body['jql'])} token {body.get('nextPageToken')}"
        if path == "/rest/api/2/search":
            params = request.url.params
            return f"search {query_of(params['jql'])} startAt {params['startAt']}"
        return None

    def items_of(key: str, body: Any) -> list[Item]:
        if not key.startswith("search"):
            return []
        kind = RecordKind.FINDING if "vulnerabilities" in key else RecordKind.INCIDENT
        return _list_items(
            ("issues",), body,
            lambda issue: _present(lambda: holder[0].baseline, (kind, f"jira:{issue['id']}")),
            frozenset({kind}))

    built = World(
        f"jira-{deployment}", make, handler, slot_of, items_of,
        focus=frozenset({"id", "key", "fields", "created", "updated", "status",
                         "statusCategory", "resolution", "resolutiondate", "priority",
                         "labels", "summary", "project", "changelog", "histories", "items",
                         "field", "from", "to", "name"}))
    holder.append(built)
    return built


# -- GitHub -------------------------------------------------------------------------------------

def _github_world() -> World:
    from collectors.github import GitHubCollector, GitHubSettings
    from tests.collectors import test_github as tg

    os.environ["GH_FUZZ_TOKEN"] = tg.TOKEN
    settings = GitHubSettings.model_validate({
        "organizations": [tg.ORG], "tokens": [{"env": "GH_FUZZ_TOKEN"}],
        "http": {"max_retries": 0}})
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        collector = GitHubCollector("github-test", settings)
        collector.sleep = _no_sleep  # type: ignore[method-assign]
        return collector, _context("github-test")

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        return tg.Server().handle

    def slot_of(request: httpx.Request) -> str | None:
        params = request.url.params
        page = params.get("page") or params.get("after") or "1"
        return f"{request.method} {request.url.path} page {page}"

    prefixes = {"dependabot": "dependabot", "code-scanning": "code-scanning",
                "secret-scanning": "secret-scanning"}

    def alert_keys(kind: str) -> Callable[[Any], set[Key]]:
        def keys(alert: Any) -> set[Key]:
            finding_id = f"{kind}:{alert['repository']['full_name']}#{alert['number']}"
            return _present(lambda: holder[0].baseline, (RecordKind.FINDING, finding_id))
        return keys

    def repository_keys(repo: Any) -> set[Key]:
        """The repository's current record and any dated snapshot of it (``id@time``)."""
        base = holder[0].baseline if holder else None
        own = str(repo["id"])
        found = {k for k in (records_by_key(base) if base is not None else {})
                 if k[0] is RecordKind.REPOSITORY and k[1].split("@")[0] == own}
        return found or {(RecordKind.REPOSITORY, own)}

    def items_of(key: str, body: Any) -> list[Item]:
        path = key.split()[1]
        repos = frozenset({RecordKind.REPOSITORY})
        if path == f"/orgs/{tg.ORG}/repos":
            return _list_items((), body, repository_keys, repos)
        for listing, prefix in prefixes.items():
            if path == f"/orgs/{tg.ORG}/{listing}/alerts":
                return _list_items((), body, alert_keys(prefix),
                                   frozenset({RecordKind.FINDING}))
        if path == "/graphql":  # a gate node: only that repository's tier may change
            return _list_items(("data", "nodes"), body, lambda _: set(), repos)
        if path.endswith("/code-scanning/analyses"):
            return _list_items((), body, lambda _: set(), repos)
        return []  # configurations: a configuration without its id fails the page (docs)

    def exempt(path: tuple[Any, ...]) -> bool:
        # An alert of a repository that is not listed (or excluded) is left out on purpose.
        return "repository" in path

    built = World(
        "github", make, handler, slot_of, items_of,
        focus=frozenset({
            "state", "number", "created_at", "updated_at", "fixed_at", "dismissed_at",
            "auto_dismissed_at", "dismissed_reason", "security_advisory", "severity",
            "security_vulnerability", "cve_id", "identifiers", "published_at", "rule",
            "security_severity_level", "tool", "name", "repository", "full_name",
            "resolution", "resolved_at", "id", "node_id", "archived", "fork", "topics",
            "default_branch", "pushed_at", "security_and_analysis", "custom_properties",
            "status", "defaultBranchRef", "branchProtectionRule", "refUpdateRule", "rules",
            "nodes", "type", "parameters", "repositoryRuleset", "bypassActors", "totalCount",
            "allowsForcePushes", "allowsDeletions", "requiresApprovingReviews",
            "requiredApprovingReviewCount", "requiredStatusCheckContexts", "data",
            "errors", "path", "value"}),
        exempt=exempt)
    holder.append(built)
    return built


# -- Microsoft Entra ID --------------------------------------------------------------------------

def _entra_world() -> World:
    from collectors.entra import EntraCollector, EntraSettings
    from collectors.records_identity import pseudonym
    from tests.collectors import test_entra as te

    os.environ["ENTRA_FUZZ_SECRET"] = te.SECRET
    settings = EntraSettings.model_validate({
        "tenant_id": te.TENANT, "client_id": "11111111-2222-3333-4444-5555",
        "client_secret": {"env": "ENTRA_FUZZ_SECRET"}, "break_glass": [te.BREAK_GLASS],
        "production_pattern": "^prod-", "http": {"max_retries": 0}})
    g = httpx.URL(te.G).path  # /v1.0
    defs = f"{g}/identityGovernance/accessReviews/definitions"
    role_scope = {"@odata.type": "#microsoft.graph.principalResourceMembershipsScope",
                  "resourceScopes": [{"query": f"/roleManagement/directory/roleDefinitions/"
                                               f"{te.GA}", "queryType": "MicrosoftGraph"}]}

    def principal(sp_id: str, app_id: str, mode: str | None, owner: str | None = te.TENANT,
                  tags: list[str] | None = None, name: str = "", kind: str = "Application"
                  ) -> dict[str, Any]:
        """One servicePrincipal (Graph v1.0 resource type)."""
        return {"id": sp_id, "appId": app_id, "accountEnabled": True,
                "servicePrincipalType": kind, "appOwnerOrganizationId": owner,
                "preferredSingleSignOnMode": mode, "displayName": name,
                "tags": ["WindowsAzureActiveDirectoryIntegratedApp"] if tags is None else tags}

    # A clean tenant (test_entra's mock_tenant without the unknown "Partner" user).
    bodies: dict[str, list[Any]] = {
        f"{g}/reports/authenticationMethods/userRegistrationDetails": [
            te.registration(te.ALICE, True), te.registration(te.BOB, False),
            te.registration(te.GUEST, True)],
        f"{g}/roleManagement/directory/roleDefinitions": [
            te.role_definition(te.GA, "Global Administrator", True),
            te.role_definition(te.READER, "Directory Readers", False)],
        f"{g}/roleManagement/directory/roleAssignmentSchedules": [
            te.schedule("as-1", te.ALICE, te.GA), te.schedule("as-2", te.BOB, te.GA, "Activated"),
            te.schedule("as-3", te.BOB, te.READER), te.schedule("as-4", te.BREAK_GLASS, te.GA)],
        f"{g}/roleManagement/directory/roleEligibilitySchedules": [
            te.schedule("el-1", te.BOB, te.GA, None)],
        defs: [{"id": "def-roles", "displayName": "Quarterly admin review",
                "status": "InProgress", "scope": role_scope},
               {"id": "def-groups", "displayName": "All groups", "status": "InProgress",
                "scope": {"query": "/groups", "queryType": "MicrosoftGraph"}}],
        f"{defs}/def-roles/instances": [
            {"id": "inst-r1", "startDateTime": "2026-10-01T00:00:00Z",
             "endDateTime": "2026-10-15T00:00:00Z", "status": "Completed"},
            {"id": "inst-r2", "startDateTime": "2026-11-20T00:00:00Z",
             "endDateTime": "2026-12-04T00:00:00Z", "status": "InProgress"}],
        f"{defs}/def-groups/instances": [
            {"id": "inst-g1", "startDateTime": "2026-03-01T00:00:00Z",
             "endDateTime": "2026-03-15T00:00:00Z", "status": "Applied"}],
        f"{g}/applications": [
            {"id": "app-obj-1", "appId": "appid-1", "keyCredentials": [],
             "passwordCredentials": [{"keyId": "k1", "endDateTime": "2027-06-01T00:00:00Z"}]},
            {"id": "app-obj-2", "appId": "appid-2", "keyCredentials": [],
             "passwordCredentials": [{"keyId": "k2", "endDateTime": "2026-01-01T00:00:00Z"}]},
            {"id": "app-obj-3", "appId": "appid-3", "keyCredentials": [],
             "passwordCredentials": []}],
        f"{g}/servicePrincipals": [
            principal("sp-1", "appid-1", None, tags=[], name="ci-deployer"),
            principal("sp-3", "appid-3", "oidc", name="prod-portal"),
            principal("sp-4", "gallery-1", "password", owner="other-tenant", name="expenses"),
            principal("sp-5", "gallery-2", "saml", owner="other-tenant", name="prod-hr"),
            principal("sp-ms", "ms-1", None, owner="f8cdef31-a31e-4b4a-93e4-5f571e91255a",
                      name="Office"),
            principal("mi-1", "mi-app", None, owner=None, tags=[], kind="ManagedIdentity")],
        f"{g}/auditLogs/directoryAudits": [
            {"id": "Directory_1", "activityDisplayName": "Disable account",
             "activityDateTime": "2026-11-20T19:30:00Z", "result": "success",
             "targetResources": [{"id": te.LEAVER, "type": "User"}]}],
        f"{g}/directory/deletedItems/microsoft.graph.user": [
            {"id": te.GONE, "deletedDateTime": "2026-11-02T10:00:00Z",
             "employeeLeaveDateTime": "2026-11-02T09:00:00Z"}],
    }
    users = [[te.user(te.ALICE), te.user(te.BOB), te.user(te.GUEST, user_type="Guest")],
             [te.user(te.LEAVER, leave="2026-11-20T17:00:00Z"), te.user(te.BREAK_GLASS)]]
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return EntraCollector("entra", settings, sleep=_no_sleep), _context("entra")

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if request.url.host == "login.microsoftonline.com":
                return te.token_ok()
            if path == f"{g}/users":
                if "skiptoken" in str(request.url):
                    return te.page(users[1])
                return te.page(users[0], next_link=f"{te.G}/users?$skiptoken=X%27page2%27")
            if path in bodies:
                return te.page(bodies[path])
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        if request.url.host == "login.microsoftonline.com":
            return "token"
        path = request.url.path.removeprefix(g)
        if path == "/users":
            return "users page " + ("2" if "skiptoken" in str(request.url) else "1")
        return f"GET {path}"

    def key(object_id: str) -> str:
        return pseudonym(te.TENANT, object_id)

    def present(*keys: Key) -> set[Key]:
        return set().union(*(_present(lambda: holder[0].baseline, k) for k in keys))

    accounts = frozenset({RecordKind.IDENTITY_ACCOUNT})
    instances = {"def-roles": ["inst-r1", "inst-r2"], "def-groups": ["inst-g1"]}

    def items_of(slot: str, body: Any) -> list[Item]:
        path = slot.removeprefix("GET ")
        if slot.startswith("users"):
            return _list_items(("value",), body, lambda u: present(
                (RecordKind.IDENTITY_ACCOUNT, key(u["id"])),
                (RecordKind.OFFBOARDING, key(u["id"]))),
                frozenset({RecordKind.IDENTITY_ACCOUNT, RecordKind.OFFBOARDING}))
        if path.endswith("userRegistrationDetails"):  # one account's MFA status
            return _list_items(("value",), body, lambda _: set(), accounts)
        if path.endswith(("roleAssignmentSchedules", "roleEligibilitySchedules")):
            prefix = "eligible" if "Eligibility" in path else "permanent"
            return _list_items(("value",), body, lambda a: present(
                (RecordKind.PRIVILEGED_ASSIGNMENT, f"{prefix}:{a['id']}")),
                frozenset({RecordKind.PRIVILEGED_ASSIGNMENT}))
        if path.endswith("accessReviews/definitions"):
            return _list_items(("value",), body, lambda d: present(
                *((RecordKind.ACCESS_REVIEW, i) for i in instances[d["id"]])),
                frozenset({RecordKind.ACCESS_REVIEW}))
        if path.endswith("/instances"):
            return _list_items(("value",), body, lambda i: present(
                (RecordKind.ACCESS_REVIEW, i["id"])), frozenset({RecordKind.ACCESS_REVIEW}))
        if path.endswith("/applications"):
            return _list_items(("value",), body, lambda a: present(
                (RecordKind.IDENTITY_ACCOUNT, key(a["id"]))), accounts)
        if path.endswith("/servicePrincipals"):
            out = []
            for item in _list_items(("value",), body, lambda _: set(), frozenset()):
                sp = body["value"][item.prefix[-1]]
                if sp.get("servicePrincipalType") == "ManagedIdentity":
                    out.append(Item(item.prefix, frozenset(present(
                        (RecordKind.IDENTITY_ACCOUNT, key(sp["id"])))), accounts))
                else:
                    out.append(Item(item.prefix, frozenset(present(
                        (RecordKind.APPLICATION, sp["id"]))),
                        frozenset({RecordKind.APPLICATION})))
            return out
        if path.endswith("microsoft.graph.user"):  # recently deleted users
            return _list_items(("value",), body, lambda u: present(
                (RecordKind.OFFBOARDING, key(u["id"]))), frozenset({RecordKind.OFFBOARDING}))
        return []  # role definitions and audit events: facts about other items' records

    def exempt(path: tuple[Any, ...]) -> bool:
        # Values that decide whether an item is a record at all, by design: a leave date,
        # an enabled flag (a disabled leaver without a removal time is left out), a role
        # (not privileged), a JIT activation, a review's status, an app's type, tags
        # and owner (not an enterprise app of the organisation).
        return bool({"employeeLeaveDateTime", "accountEnabled", "roleDefinitionId",
                     "assignmentType", "status", "servicePrincipalType", "tags",
                     "appOwnerOrganizationId"} & {p for p in path if isinstance(p, str)})

    built = World(
        "entra", make, handler, slot_of, items_of, exempt=exempt,
        focus=frozenset({"value", "@odata.nextLink", "id", "userType", "accountEnabled",
                         "employeeLeaveDateTime", "isMfaCapable", "displayName",
                         "templateId", "isPrivileged", "principalId", "roleDefinitionId",
                         "assignmentType", "status", "scope", "startDateTime",
                         "endDateTime", "appId", "passwordCredentials", "keyCredentials",
                         "servicePrincipalType", "preferredSingleSignOnMode", "tags",
                         "appOwnerOrganizationId", "activityDateTime", "targetResources",
                         "type", "deletedDateTime"}))
    holder.append(built)
    return built


# -- Okta ---------------------------------------------------------------------------------------

def _okta_world() -> World:
    from urllib.parse import parse_qs

    from collectors.okta import OktaCollector, OktaSettings
    from collectors.records_identity import pseudonym
    from tests.collectors import test_okta as to

    os.environ["OKTA_FUZZ_TOKEN"] = to.TOKEN
    settings = OktaSettings.model_validate({
        "org_url": to.ORG, "api_token": {"env": "OKTA_FUZZ_TOKEN"},
        "leave_date_attribute": "terminationDate", "break_glass": ["00ubreakglass"],
        "production_pattern": "^prod-", "http": {"max_retries": 0}})
    role = {"label": "Super Administrator", "type": "SUPER_ADMIN", "status": "ACTIVE",
            "assignmentType": "USER"}
    # test_okta's mock_org without the unknown user status and sign-on mode.
    bodies: dict[str, list[Any]] = {
        "/api/v1/users/00ualice/factors": [to.factor("push"), to.factor("question")],
        "/api/v1/users/00ubob/factors": [to.factor("question"),
                                         to.factor("sms", "PENDING_ACTIVATION")],
        "/api/v1/users/00ubreakglass/factors": [to.factor("webauthn")],
        "/api/v1/iam/assignees/users": [
            {"id": "00ualice", "orn": "orn:okta:directory:x:users:00ualice"},
            {"id": "00ubreakglass", "orn": "orn:x"}],
        "/api/v1/users/00ualice/roles": [{"id": "ra1", **role}],
        "/api/v1/users/00ubreakglass/roles": [{"id": "ra2", **role}],
        "/api/v1/apps": [
            {"id": "0oa1", "label": "prod-aws", "status": "ACTIVE", "signOnMode": "SAML_2_0"},
            {"id": "0oa2", "label": "wiki", "status": "ACTIVE",
             "signOnMode": "SECURE_PASSWORD_STORE"},
            {"id": "0oa3", "label": "intranet link", "status": "ACTIVE",
             "signOnMode": "BOOKMARK"}],
        "/api/v1/logs": [
            {"uuid": "e1", "published": "2026-11-02T11:00:00.000Z",
             "eventType": "user.lifecycle.deactivate",
             "target": [{"id": "00ugone", "type": "User"}]}],
    }
    users = {"first": [to.user("00ualice"), to.user("00ubreakglass")],
             "after": [to.user("00ubob", terminationDate="2026-11-23")],
             "deprovisioned": [to.user("00ugone", "DEPROVISIONED", terminationDate="2026-11-02")]}
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return (OktaCollector("okta", settings, sleep=_no_sleep, clock=lambda: to.CLOCK),
                _context("okta"))

    def users_page(request: httpx.Request) -> str:
        query = parse_qs(request.url.query.decode())
        if query.get("filter") == ['status eq "DEPROVISIONED"']:
            return "deprovisioned"
        return "after" if "after" in query else "first"

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == "/api/v1/users":
                which = users_page(request)
                return to.listing(users[which], next_url=(
                    f"{to.ORG}/api/v1/users?after=00ubreakglass&limit=200"
                    if which == "first" else None))
            if path in bodies:
                return to.listing(bodies[path])
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path == "/api/v1/users":
            return f"users {users_page(request)}"
        return f"GET {path}"

    def key(user_id: str) -> str:
        return pseudonym(to.ORG, user_id)

    def present(*keys: Key) -> set[Key]:
        return set().union(*(_present(lambda: holder[0].baseline, k) for k in keys))

    def assignments(user_id: str) -> set[Key]:
        base = holder[0].baseline if holder else None
        return {k for k in records_by_key(base) if k[0] is RecordKind.PRIVILEGED_ASSIGNMENT
                and k[1].startswith(f"{key(user_id)}:")} if base is not None else set()

    def items_of(slot: str, body: Any) -> list[Item]:
        path = slot.removeprefix("GET ")
        if slot.startswith("users"):
            return _list_items((), body, lambda u: present(
                (RecordKind.IDENTITY_ACCOUNT, key(u["id"])),
                (RecordKind.OFFBOARDING, key(u["id"]))),
                frozenset({RecordKind.IDENTITY_ACCOUNT, RecordKind.OFFBOARDING}))
        if path.endswith("/factors"):  # one account's MFA status
            return _list_items((), body, lambda _: set(),
                               frozenset({RecordKind.IDENTITY_ACCOUNT}))
        if path == "/api/v1/iam/assignees/users":
            return _list_items((), body, lambda a: assignments(a["id"]),
                               frozenset({RecordKind.PRIVILEGED_ASSIGNMENT}))
        if path.endswith("/roles"):
            user_id = path.split("/")[4]
            return _list_items((), body, lambda r: present(
                (RecordKind.PRIVILEGED_ASSIGNMENT, f"{key(user_id)}:{r['id']}")),
                frozenset({RecordKind.PRIVILEGED_ASSIGNMENT}))
        if path == "/api/v1/apps":
            return _list_items((), body, lambda a: present((RecordKind.APPLICATION, a["id"])),
                               frozenset({RecordKind.APPLICATION}))
        return []  # the System Log: removal times of other items' records

    def exempt(path: tuple[Any, ...]) -> bool:
        # A user's status and leave date decide whether it has an offboarding (and a
        # factor listing). A user's changed id is another record under a pseudonymous
        # key (no text of it to match), which the System Log's events no longer name.
        return bool({"status", "terminationDate", "profile"}
                    & {p for p in path if isinstance(p, str)}) or path[1:] == ("id",)

    built = World(
        "okta", make, handler, slot_of, items_of, exempt=exempt,
        focus=frozenset({"id", "status", "created", "lastUpdated", "profile",
                         "terminationDate", "factorType", "type", "label", "signOnMode",
                         "published", "target", "eventType"}))
    holder.append(built)
    return built


