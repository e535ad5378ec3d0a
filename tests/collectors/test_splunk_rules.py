"""The Splunk collector's rule listing: ES correlation searches from ``saved/searches``.

Entries are shaped as the Splunk REST API returns ``saved/searches`` with
``output_mode=json``: ``{"paging": {total, perPage, offset}, "entry": [{name, id,
content: {disabled, "action.correlationsearch.enabled",
"action.correlationsearch.annotations", ...}}]}``; ES stores the annotations as a JSON
string with a ``mitre_attack`` list.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from collectors.base import CollectorError, ErrorKind
from collectors.records import RecordKind
from collectors.records_detection import RuleKind
from tests.collectors.test_splunk import (
    BASE,
    EXPORT,
    TOKEN,
    _env,  # noqa: F401  (autouse fixture: the token in the environment)
    _no_sleep,
    collector,
    export_router,
    run,
)

SAVED = f"{BASE}/servicesNS/-/-/saved/searches"


def search(name: str, *, correlation: Any = "1", disabled: Any = False,
           mitre: list[str] | None = None, annotations: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"disabled": disabled, "search": "| tstats count ...",
                               "cron_schedule": "*/30 * * * *"}
    if correlation is not None:
        content["action.correlationsearch.enabled"] = correlation
        content["action.correlationsearch.label"] = f"ESCU - {name}"
    if annotations is not None:
        content["action.correlationsearch.annotations"] = annotations
    elif mitre is not None:
        content["action.correlationsearch.annotations"] = json.dumps(
            {"analytic_story": ["x"], "mitre_attack": mitre, "kill_chain_phases": ["Exploitation"]})
    return {"name": f"ESCU - {name} - Rule",
            "id": f"{BASE}/servicesNS/nobody/DA-ESS-ContentUpdate/saved/searches/{name}",
            "acl": {"app": "DA-ESS-ContentUpdate", "owner": "nobody"}, "content": content}


def listing(entries: list[dict[str, Any]], total: int, offset: int, per_page: int) -> dict:
    return {"links": {}, "origin": SAVED, "updated": "2026-11-23T12:00:00+00:00",
            "generator": {"build": "x", "version": "9.3.0"}, "entry": entries,
            "paging": {"total": total, "perPage": per_page, "offset": offset}}


def mock_notables(router: respx.MockRouter) -> None:
    router.post(EXPORT).mock(side_effect=export_router([], []))


@respx.mock
def test_correlation_searches_are_paged_by_offset_and_mapped() -> None:
    mock_notables(respx)
    entries = [
        search("a", mitre=["T1059.001", "T1003"]),
        search("b", disabled=True, mitre=["T1078"]),
        search("c", disabled="0", correlation="true"),
        search("plain", correlation="0"),  # a plain saved search: left out silently
    ]
    route = respx.get(SAVED).mock(side_effect=[
        httpx.Response(200, json=listing(entries[:2], 4, 0, 2)),
        httpx.Response(200, json=listing(entries[2:], 4, 2, 2)),
    ])
    result = run(collector(detection_rules=True, rules_page_size=2))
    assert [dict(c.request.url.params) for c in route.calls] == [
        {"output_mode": "json", "count": "2", "offset": str(o),
         "search": "action.correlationsearch.enabled=1"} for o in (0, 2)]
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    got = {r.id.rsplit("/", 1)[1]: (r.enabled, r.kind, r.techniques)
           for r in result.records_of(RecordKind.DETECTION_RULE)}
    assert got == {
        "a": (True, RuleKind.CORRELATION, ("T1003", "T1059.001")),
        "b": (False, RuleKind.CORRELATION, ("T1078",)),
        "c": (True, RuleKind.CORRELATION, ()),
    }
    assert RecordKind.DETECTION_RULE in result.complete
    assert sum(result.record_errors.values()) == 0


@respx.mock
def test_unreadable_annotations_and_bad_ids_are_counted() -> None:
    mock_notables(respx)
    respx.get(SAVED).mock(return_value=httpx.Response(200, json=listing([
        search("a", annotations="{not json"),
        search("b", mitre=["T1059", "Execution"]),
        search("c", disabled=["x"]),
    ], 3, 0, 500)))
    result = run(collector(detection_rules=True))
    assert [r.techniques for r in result.records_of(RecordKind.DETECTION_RULE)] == [
        ("T1059",)]
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 2
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 1


@respx.mock
def test_switched_off_the_searches_are_not_listed() -> None:
    mock_notables(respx)
    route = respx.get(SAVED)
    result = run(collector(detection_rules=False))
    assert route.call_count == 0
    assert RecordKind.DETECTION_RULE not in result.complete


@respx.mock
def test_429_with_retry_after_then_success() -> None:
    mock_notables(respx)
    respx.get(SAVED).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "4"}),
        httpx.Response(200, json=listing([search("a", mitre=["T1059"])], 1, 0, 500)),
    ])
    result = run(collector(detection_rules=True))
    assert len(result.records_of(RecordKind.DETECTION_RULE)) == 1
    assert 4.0 in _no_sleep.calls  # type: ignore[attr-defined]


@pytest.mark.parametrize(("response", "kind"), [
    (httpx.Response(401, json={"messages": [{"type": "WARN", "text": "call not properly "
                                                                     "authenticated"}]}),
     ErrorKind.AUTH),
    (httpx.Response(403, json={"messages": [{"type": "ERROR", "text": "forbidden"}]}),
     ErrorKind.PERMISSION),
    (httpx.Response(200, json={"entry": []}), ErrorKind.MALFORMED_RESPONSE),
    (httpx.Response(200, content=b'{"entry": [{"name": "ESCU'), ErrorKind.MALFORMED_RESPONSE),
])
@respx.mock
def test_a_failed_or_broken_listing_fails_the_run(response: httpx.Response,
                                                  kind: ErrorKind) -> None:
    mock_notables(respx)
    respx.get(SAVED).mock(return_value=response)
    with pytest.raises(CollectorError) as err:
        run(collector(detection_rules=True))
    assert err.value.kind is kind
    assert TOKEN not in str(err.value)
