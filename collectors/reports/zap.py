"""OWASP ZAP's traditional JSON report (``-J report.json``, reports add-on).

Shape from zaproxy/zap-extensions
``addOns/reports/src/test/resources/org/zaproxy/addon/reports/resources/basic-traditional-json.json``
(``@programName``, ``@generated``, newer ``created``; ``site[]`` with ``@name`` and
``alerts[]``: ``pluginid``, ``alertRef``, ``riskcode`` 0-3, ``confidence`` 0-4,
``instances[]`` with ``uri``, ``method``, ``param``). One scan per site. An alert of
confidence 0 ("False Positive", set in ZAP) is dismissed; risk 0 (informational) is
not a finding.
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
)

RISKS: dict[str, Severity | str] = {
    "3": Severity.HIGH, "2": Severity.MEDIUM, "1": Severity.LOW, "0": IGNORE,
}


def _site(site: Any, scanned_at: Any) -> Scan:
    if not isinstance(site, dict) or not isinstance(site.get("@name"), str):
        raise ReportError("malformed", "a ZAP site without @name")
    scan = Scan("zap", site["@name"] or None, scanned_at)
    for alert in as_list(site.get("alerts")):
        if not isinstance(alert, dict) or "pluginid" not in alert:
            scan.malformed += 1
            continue
        severity = count_severity(scan, str(alert.get("riskcode")), RISKS)
        if severity is None:
            continue
        suppressed = "false_positive" if str(alert.get("confidence")) == "0" else None
        rule = key(alert.get("pluginid"), alert.get("alertRef"))
        instances = as_list(alert.get("instances")) or [{}]
        for instance in instances:
            if not isinstance(instance, dict):
                scan.malformed += 1
                continue
            fingerprint = key(rule, instance.get("method"), instance.get("uri"),
                              instance.get("param"))
            scan.instances.append(Instance(fingerprint, severity, "dast", (), suppressed))
    return scan


def parse(doc: Any, hints: Hints) -> list[Scan]:
    """One scan per site, at ``created`` or ``@generated`` (a local time: naive_timezone)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("site"), list):
        raise ReportError("malformed", "not a ZAP report (site is not a list)")
    scanned_at = parse_time(doc.get("created") or doc.get("@generated"), hints.naive_zone)
    return [_site(site, scanned_at) for site in doc["site"]]
