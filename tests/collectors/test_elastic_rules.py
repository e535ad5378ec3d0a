"""The Elastic collector's rule listing: ``GET /api/detection_engine/rules/_find``.

Rule objects are shaped as the Elastic Security rules API documents them (``id``,
``rule_id``, ``enabled``, ``type``, ``threat[]`` with ``framework``, ``tactic``,
``technique[]`` and each technique's ``subtechnique[]``); pages are ``page``,
``perPage``, ``total``, ``data``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from collectors.base import CollectorError, ErrorKind
from collectors.elastic import ElasticCollector
from collectors.records import RecordKind
from collectors.records_detection import RuleKind
from tests.collectors.test_elastic import (
    API_KEY,
    ES,
    KB,
    _env,  # noqa: F401  (autouse fixture: the API key in the environment)
    _kibana_server,
    collector,
    ctx,
    mock_pit,
    run,
    search_page,
    settings,
)

FIND = f"{KB}/api/detection_engine/rules/_find"


def threat(tactic: str, *techniques: tuple[str, list[str]],
           framework: str = "MITRE ATT&CK") -> dict[str, Any]:
    return {
        "framework": framework,
        "tactic": {"id": tactic, "name": "Execution",
                   "reference": f"https://attack.mitre.org/tactics/{tactic}/"},
        "technique": [
            {"id": tid, "name": "x", "reference": f"https://attack.mitre.org/techniques/{tid}/",
             "subtechnique": [{"id": sub, "name": "y",
                               "reference": "https://attack.mitre.org/techniques/x/"}
                              for sub in subs]}
            for tid, subs in techniques
        ],
    }


def rule(rid: str, *, enabled: bool = True, type_: str = "query",
         threats: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": rid, "rule_id": f"rule-{rid}", "name": f"Rule {rid}", "enabled": enabled,
        "type": type_, "immutable": False, "created_at": "2026-10-01T10:00:00.000Z",
        "risk_score": 47, "severity": "medium", "threat": threats or [],
    }


def page(rules: list[dict[str, Any]], number: int, per_page: int, total: int) -> dict:
    return {"page": number, "perPage": per_page, "total": total, "data": rules}


def kibana(**overrides: Any) -> ElasticCollector:
    return collector(mode="kibana", url=KB, **overrides)


def mock_no_alerts(router: respx.MockRouter) -> None:
    router.post(f"{KB}/api/detection_engine/signals/search").mock(
        side_effect=_kibana_server([], 10))


@respx.mock
def test_rules_are_paged_and_mapped_with_sub_techniques() -> None:
    mock_no_alerts(respx)
    rules = [
        rule("a", threats=[threat("TA0002", ("T1059", ["T1059.001", "T1059.003"]))]),
        rule("b", enabled=False, type_="eql", threats=[threat("TA0006", ("T1003", []))]),
        rule("c", type_="machine_learning"),
        rule("d", type_="threshold", threats=[
            threat("TA0001", ("T1078", [])),
            threat("TA0001", ("T1190", []), framework="Some Other Framework")]),
        rule("e", type_="threat_match", threats=[threat("TA0002", ("T1204", ["T1204.002"]))]),
    ]
    route = respx.get(FIND).mock(side_effect=[
        httpx.Response(200, json=page(rules[:2], 1, 2, 5)),
        httpx.Response(200, json=page(rules[2:4], 2, 2, 5)),
        httpx.Response(200, json=page(rules[4:], 3, 2, 5)),
    ])
    result = run(kibana(rules_page_size=2))
    assert [dict(call.request.url.params) for call in route.calls] == [
        {"page": str(n), "per_page": "2", "sort_field": "created_at", "sort_order": "asc"}
        for n in (1, 2, 3)]
    assert route.calls[0].request.headers["Authorization"] == f"ApiKey {API_KEY}"
    listed = result.records[RecordKind.DETECTION_RULE]
    got = {r.id: (r.enabled, r.kind, r.techniques) for r in listed}
    assert got == {
        "a": (True, RuleKind.QUERY, ("T1059", "T1059.001", "T1059.003")),
        "b": (False, RuleKind.QUERY, ("T1003",)),
        "c": (True, RuleKind.MACHINE_LEARNING, ()),
        "d": (True, RuleKind.THRESHOLD, ("T1078",)),  # the other framework is not ATT&CK
        "e": (True, RuleKind.CORRELATION, ("T1204", "T1204.002")),
    }
    assert {r.source for r in result.records[RecordKind.DETECTION_RULE]} == {"elastic-soc"}
    assert RecordKind.DETECTION_RULE in result.complete


@respx.mock
def test_unknown_rule_types_and_bad_technique_ids_are_counted_not_guessed() -> None:
    mock_no_alerts(respx)
    respx.get(FIND).mock(return_value=httpx.Response(200, json=page([
        rule("a", type_="some_future_type", threats=[threat("TA0002", ("T1059", []))]),
        rule("b", threats=[threat("TA0002", ("T1059", ["not-an-id"]), ("TA0002", []))]),
        {"id": "c", "type": "query"},  # no enabled flag: malformed
    ], 1, 500, 3)))
    result = run(kibana())
    listed = result.records[RecordKind.DETECTION_RULE]
    assert [(r.id, r.techniques) for r in listed] == [("b", ("T1059",))]
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 3  # type, two ids
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 1


@respx.mock
def test_elasticsearch_mode_reads_rules_from_kibana_url_in_its_space() -> None:
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([])))
    route = respx.get(f"{KB}/s/soc/api/detection_engine/rules/_find").mock(
        return_value=httpx.Response(200, json=page([rule("a")], 1, 500, 1)))
    respx.post(f"{ES}/.alerts-security.alerts-soc/_pit").mock(
        return_value=httpx.Response(200, json={"id": "pit"}))
    result = run(collector(kibana_url=KB, space="soc"))
    assert route.call_count == 1
    assert [r.id for r in result.records[RecordKind.DETECTION_RULE]] == ["a"]


@respx.mock
def test_without_a_kibana_url_or_when_switched_off_rules_are_not_listed() -> None:
    mock_pit(respx)
    respx.post(f"{ES}/_search").mock(return_value=httpx.Response(200, json=search_page([])))
    result = run(collector())  # mode elasticsearch, no kibana_url
    assert result.records[RecordKind.DETECTION_RULE] == []
    assert RecordKind.DETECTION_RULE not in result.complete
    mock_no_alerts(respx)
    route = respx.get(FIND)
    result = run(kibana(detection_rules=False))
    assert route.call_count == 0 and result.records[RecordKind.DETECTION_RULE] == []
    assert RecordKind.DETECTION_RULE not in result.complete


@respx.mock
def test_429_with_retry_after_on_the_rule_listing_is_waited_for() -> None:
    mock_no_alerts(respx)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    respx.get(FIND).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow down"}),
        httpx.Response(200, json=page([rule("a")], 1, 500, 1)),
    ])
    c = ElasticCollector("elastic-soc", settings(mode="kibana", url=KB), sleep=sleep)
    result = asyncio.run(c.collect(ctx()))
    assert [r.id for r in result.records[RecordKind.DETECTION_RULE]] == ["a"]
    assert slept == [3.0]


@pytest.mark.parametrize(("response", "kind"), [
    (httpx.Response(401, json={"statusCode": 401, "error": "Unauthorized"}), ErrorKind.AUTH),
    (httpx.Response(403, json={"statusCode": 403, "error": "Forbidden"}), ErrorKind.PERMISSION),
    (httpx.Response(200, json={"page": 1, "perPage": 500}), ErrorKind.MALFORMED_RESPONSE),
    (httpx.Response(200, content=b'{"page": 1, "perPage": 500, "total": 2, "data": [{"id"'),
     ErrorKind.MALFORMED_RESPONSE),
])
@respx.mock
def test_a_failed_or_broken_rule_listing_fails_the_run(response: httpx.Response,
                                                       kind: ErrorKind) -> None:
    mock_no_alerts(respx)
    respx.get(FIND).mock(return_value=response)
    with pytest.raises(CollectorError) as err:
        run(kibana())
    assert err.value.kind is kind
    assert API_KEY not in str(err.value)
