"""The Sentinel collector's rule listing: Alert Rules - List (``alertRules``).

Items are shaped as the Microsoft.SecurityInsights alertRules reference documents
them: ``{id, name, etag, type, kind, properties}`` with ``kind`` Scheduled, NRT,
Fusion, MLBehaviorAnalytics, MicrosoftSecurityIncidentCreation or ThreatIntelligence
and ``properties.{displayName, enabled, tactics, techniques, subTechniques}``; the list
is ``{"value": [...], "nextLink"}``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from collectors.base import CollectorError, ErrorKind
from collectors.records import RecordKind
from collectors.records_detection import RuleKind
from tests.collectors.test_sentinel import (
    BASE,
    SECRET,
    TOKEN,
    TOKEN_URL,
    _secret_env,  # noqa: F401  (autouse fixture: the client secret in the environment)
    collector,
    page,
    run,
    token_ok,
)

RULES = BASE.removesuffix("/incidents") + "/alertRules"


def alert_rule(name: str, kind: str = "Scheduled", *, enabled: bool = True,
               techniques: list[str] | None = None,
               sub_techniques: list[str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"displayName": f"Rule {name}", "enabled": enabled,
                             "severity": "High", "lastModifiedUtc": "2026-10-01T10:00:00Z"}
    if kind in ("Scheduled", "NRT", "MLBehaviorAnalytics"):
        props.update(tactics=["Execution"], techniques=techniques or [],
                     subTechniques=sub_techniques or [])
    return {"id": f"{RULES.removeprefix('https://management.azure.com')}/{name}",
            "name": name, "etag": '"0300bf09-0000-0000-0000-5c37296e0000"',
            "type": "Microsoft.SecurityInsights/alertRules", "kind": kind,
            "properties": props}


def mock_rest(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).mock(return_value=token_ok())
    router.get(BASE).mock(return_value=page([]))


@respx.mock
def test_alert_rules_are_paged_along_next_link_and_mapped() -> None:
    mock_rest(respx)
    second = f"{RULES}?api-version=2025-06-01&$skipToken=abc"
    route = respx.get(RULES).mock(side_effect=[
        page([alert_rule("r1", techniques=["T1059"], sub_techniques=["T1059.001"]),
              alert_rule("r2", "NRT", enabled=False, techniques=["T1003"])], second),
        page([alert_rule("r3", "Fusion"), alert_rule("r4", "MLBehaviorAnalytics",
                                                      techniques=["T1078"]),
              alert_rule("r5", "MicrosoftSecurityIncidentCreation"),
              alert_rule("r6", "ThreatIntelligence")]),
    ])
    result = run(collector(detection_rules=True))
    assert route.call_count == 2
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    got = {r.id: (r.enabled, r.kind, r.techniques)
           for r in result.records_of(RecordKind.DETECTION_RULE)}
    assert got == {
        "r1": (True, RuleKind.QUERY, ("T1059", "T1059.001")),
        "r2": (False, RuleKind.QUERY, ("T1003",)),
        "r3": (True, RuleKind.MACHINE_LEARNING, ()),
        "r4": (True, RuleKind.MACHINE_LEARNING, ("T1078",)),
        "r5": (True, RuleKind.OTHER, ()),
        "r6": (True, RuleKind.CORRELATION, ()),
    }
    assert RecordKind.DETECTION_RULE in result.complete


@respx.mock
def test_unknown_kinds_and_bad_ids_are_counted_not_guessed() -> None:
    mock_rest(respx)
    respx.get(RULES).mock(return_value=page([
        alert_rule("r1", "SomeFutureKind"),
        alert_rule("r2", techniques=["T1059", "Execution"]),
        {"name": "r3", "kind": "Scheduled"},  # no properties: malformed
    ]))
    result = run(collector(detection_rules=True))
    assert [(r.id, r.techniques) for r in result.records_of(RecordKind.DETECTION_RULE)] == [
        ("r2", ("T1059",))]
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 2
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 1


@respx.mock
def test_switched_off_the_rules_are_not_listed() -> None:
    mock_rest(respx)
    route = respx.get(RULES)
    result = run(collector(detection_rules=False))
    assert route.call_count == 0
    assert RecordKind.DETECTION_RULE not in result.complete


@respx.mock
def test_429_with_retry_after_then_success() -> None:
    mock_rest(respx)
    from tests.collectors.test_sentinel import _no_sleep
    respx.get(RULES).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "5"}, json={"error": {"code": "Throttled"}}),
        page([alert_rule("r1", techniques=["T1059"])]),
    ])
    result = run(collector(detection_rules=True))
    assert [r.id for r in result.records_of(RecordKind.DETECTION_RULE)] == ["r1"]
    assert 5.0 in _no_sleep.calls  # type: ignore[attr-defined]


@pytest.mark.parametrize(("responses", "kind"), [
    ([httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken"}})] * 2,
     ErrorKind.AUTH),
    ([httpx.Response(403, json={"error": {"code": "AuthorizationFailed"}})],
     ErrorKind.PERMISSION),
    ([httpx.Response(200, json={"values": []})], ErrorKind.MALFORMED_RESPONSE),
    ([httpx.Response(200, content=b'{"value": [{"name": "r1", "kind": "Sched')],
     ErrorKind.MALFORMED_RESPONSE),
    ([page([], "https://evil.example.test/alertRules?page=2")], ErrorKind.MALFORMED_RESPONSE),
])
@respx.mock
def test_a_failed_or_broken_listing_fails_the_run(responses: list[httpx.Response],
                                                  kind: ErrorKind) -> None:
    mock_rest(respx)
    respx.get(RULES).mock(side_effect=responses)
    with pytest.raises(CollectorError) as err:
        run(collector(detection_rules=True))
    assert err.value.kind is kind
    assert SECRET not in str(err.value) and TOKEN not in str(err.value)
