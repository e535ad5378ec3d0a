"""SARIF 2.1.0 from any tool (CodeQL, Semgrep, Snyk Code, Checkmarx, Trivy, ...).

Shape from the OASIS schema ``sarif-schema-2.1.0.json`` (oasis-tcs/sarif-spec):
``runs[]`` with ``tool.driver`` (``name``, ``rules[]``), ``invocations[]``
(``executionSuccessful``, ``startTimeUtc``, ``endTimeUtc``),
``versionControlProvenance[]`` (``repositoryUri``) and ``results[]`` (``ruleId``,
``ruleIndex``, ``level``, ``partialFingerprints``, ``fingerprints``, ``locations``,
``suppressions[]`` with ``kind`` and ``status``). Each run is its own scan, its tool
named ``sarif:<driver name>``.
"""

from __future__ import annotations

from typing import Any

from collectors.records import Severity
from collectors.reports.model import (
    IGNORE,
    Hints,
    Instance,
    ReportError,
    Scan,
    as_list,
    count_severity,
    key,
    parse_time,
    score_severity,
)

LEVELS: dict[str, Severity | str] = {
    "error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW,
    "none": IGNORE,
}


def _rules(driver: dict[str, Any]) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else {} for r in as_list(driver.get("rules"))]


def _rule_of(result: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    index = result.get("ruleIndex")
    if isinstance(index, int) and 0 <= index < len(rules):
        return rules[index]
    rule_id = result.get("ruleId")
    for rule in rules:
        if rule.get("id") == rule_id:
            return rule
    return {}


def _security_severity(rule: dict[str, Any]) -> Severity | str | None:
    """GitHub's convention: ``properties["security-severity"]``, a CVSS-like score."""
    properties = rule.get("properties") if isinstance(rule.get("properties"), dict) else {}
    raw = properties.get("security-severity")
    try:
        return score_severity(float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _location_key(result: dict[str, Any]) -> tuple[Any, Any]:
    for location in as_list(result.get("locations")):
        physical = location.get("physicalLocation") if isinstance(location, dict) else None
        if isinstance(physical, dict):
            artifact = physical.get("artifactLocation") or {}
            region = physical.get("region") or {}
            if isinstance(artifact, dict) and isinstance(region, dict):
                return artifact.get("uri"), region.get("startLine")
    return None, None


def _suppressed(result: dict[str, Any]) -> str | None:
    """A suppression counts unless its status says it is under review or rejected."""
    for suppression in as_list(result.get("suppressions")):
        if isinstance(suppression, dict) and suppression.get("status", "accepted") == "accepted":
            kind = suppression.get("kind")
            return f"suppressed_{kind}" if kind in ("inSource", "external") else "suppressed"
    return None


def _run(run: Any, hints: Hints) -> Scan:
    if not isinstance(run, dict) or not isinstance(run.get("tool"), dict):
        raise ReportError("malformed", "a SARIF run without a tool")
    driver = run["tool"].get("driver")
    if not isinstance(driver, dict) or not isinstance(driver.get("name"), str):
        raise ReportError("malformed", "a SARIF run without tool.driver.name")
    name = driver["name"].strip().lower()
    category = hints.sarif_categories.get(name, "sast")
    scan = Scan(f"sarif:{name}", None, None)
    for invocation in as_list(run.get("invocations")):
        if not isinstance(invocation, dict):
            continue
        if invocation.get("executionSuccessful") is False:
            scan.complete = False
        when = parse_time(invocation.get("endTimeUtc") or invocation.get("startTimeUtc"),
                          hints.naive_zone)
        if when is not None and (scan.scanned_at is None or when > scan.scanned_at):
            scan.scanned_at = when
    for provenance in as_list(run.get("versionControlProvenance")):
        if isinstance(provenance, dict) and isinstance(provenance.get("repositoryUri"), str):
            scan.target = provenance["repositoryUri"]
            break
    rules = _rules(driver)
    for result in as_list(run.get("results")):
        if not isinstance(result, dict):
            scan.malformed += 1
            continue
        if result.get("kind", "fail") not in ("fail", "open", "review"):
            scan.ignored += 1  # pass, notApplicable, informational
            continue
        rule = _rule_of(result, rules)
        rule_id = result.get("ruleId") or rule.get("id")
        security = _security_severity(rule)
        if security is not None:
            severity = count_severity(scan, security, {str(security): security})
        else:
            level = result.get("level")
            if level is None:
                default = rule.get("defaultConfiguration")
                level = default.get("level") if isinstance(default, dict) else None
            severity = count_severity(scan, level or "warning", LEVELS)
        if severity is None:
            continue
        partial = result.get("partialFingerprints") or result.get("fingerprints")
        if isinstance(partial, dict) and partial:
            fingerprint = key(rule_id, *(f"{k}={v}" for k, v in sorted(partial.items())))
        else:
            fingerprint = key(rule_id, *_location_key(result))
        scan.instances.append(Instance(fingerprint, severity, category, (),
                                       _suppressed(result)))
    return scan


def parse(doc: Any, hints: Hints) -> list[Scan]:
    """One scan per run; target from ``versionControlProvenance`` or the path."""
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise ReportError("malformed", "not a SARIF log (runs is not a list)")
    if str(doc.get("version", "2.1.0")) != "2.1.0":
        raise ReportError("unmapped", "SARIF version other than 2.1.0")
    return [_run(run, hints) for run in doc["runs"]]
