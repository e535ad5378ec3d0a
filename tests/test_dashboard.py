"""The shipped Grafana dashboard and its provisioning files.

Checks the conventions that make the dashboard load from disk anywhere (fixed uid, no
``__inputs``, a ``datasource`` variable used by every panel and query), that every
query reads only metrics the exporter or the recording rules publish, and that the
panels the issue asks for are there. The end-to-end test runs every query through a
real Prometheus.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.test_alert_rules import (
    metric_names,
    published_metrics,
    recorded_names,
    require_binary,
)

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "grafana" / "dashboards" / "devsecops-maturity.json"
DATASOURCE_PROVISIONING = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
DASHBOARD_PROVISIONING = ROOT / "grafana" / "provisioning" / "dashboards" / "devsecops.yaml"
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
# What Grafana substitutes for the dashboard's own variables when "All" is selected.
VARIABLE_VALUES = {"$org": ".*"}


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def data_panels() -> list[dict[str, Any]]:
    return [p for p in iter_panels(load_dashboard()["panels"]) if p["type"] != "row"]


def dashboard_queries_raw() -> list[tuple[str, str, str]]:
    """(panel title, refId, PromQL as written, with the dashboard's variables)."""
    return [(panel["title"], target["refId"], target["expr"])
            for panel in data_panels() for target in panel["targets"]]


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(panel title, refId, PromQL with the dashboard's variables substituted)."""
    out = []
    for panel in data_panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in VARIABLE_VALUES.items():
                expr = expr.replace(name, value)
            out.append((panel["title"], target["refId"], expr))
    return out


def test_dashboard_identity() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "devsecops-maturity"
    assert dashboard["title"]
    assert "__inputs" not in dashboard and "__requires" not in dashboard
    assert dashboard.get("id") is None, "a provisioned dashboard must not carry a database id"
    assert "${DS_" not in DASHBOARD.read_text(), "export-for-sharing placeholders left in"


def test_datasource_variable_used_everywhere() -> None:
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE_REF, variable["name"]
    panels = data_panels()
    assert len(panels) >= 20
    for panel in panels:
        assert panel.get("datasource") == DATASOURCE_REF, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE_REF, panel["title"]


def test_every_query_filters_by_org_variable() -> None:
    """Several instances: the `org` variable narrows every panel to one organisation."""
    for panel in data_panels():
        for target in panel["targets"]:
            selectors = re.findall(r"[A-Za-z_:][\w:]*\{[^}]*\}", target["expr"])
            assert selectors, f"{panel['title']}: query without a selector"
            for selector in selectors:
                assert 'org=~"$org"' in selector, f"{panel['title']}: {selector}"


def test_queries_read_only_published_metrics() -> None:
    known = published_metrics() | recorded_names()
    for title, ref, expr in dashboard_queries():
        names = metric_names(expr)
        assert names, f"{title} {ref}: reads no metric"
        unknown = names - known
        assert not unknown, f"{title} {ref}: {unknown} is neither exported nor recorded"


def test_queries_parse_as_promql(tmp_path: Path) -> None:
    """promtool parses every query (as recording rules), so a typo fails without a server."""
    promtool = require_binary("promtool")
    rules = [{"record": f"dashboard:query_{i}", "expr": expr}
             for i, (_, _, expr) in enumerate(dashboard_queries())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_required_views_present() -> None:
    """The views the issue lists, by the metric each one must show."""
    reads: set[str] = set()
    for _, _, expr in dashboard_queries():
        reads |= metric_names(expr)
    records = {}
    for path in sorted((ROOT / "alert_rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            records.update({r["record"]: r["expr"] for r in group["rules"] if "record" in r})
    for name in list(reads):
        if name in records:
            reads |= metric_names(records[name])
    for metric in (
        "devsecops_maturity_level", "devsecops_maturity_trend", "devsecops_maturity_target_level",
        "devsecops_maturity_programme_average_level", "devsecops_maturity_programme_minimum_level",
        "devsecops_maturity_programme_level_spread", "devsecops_maturity_criterion_met",
        "vulnerability_mttr_days", "vulnerability_sla_compliance_pct", "sast_coverage_pct",
        "devsecops_repository_coverage_ratio", "alert_signal_ratio",
        "security_incident_mttd_hours", "security_incident_mttc_hours",
        "devsecops_collector_up", "devsecops_collector_last_success_timestamp_seconds",
        "devsecops_collector_errors_total", "devsecops_quarter_info",
    ):
        assert metric in reads, f"no panel shows {metric}"


def _panel(title: str) -> dict[str, Any]:
    matches = [p for p in data_panels() if p["title"] == title]
    assert len(matches) == 1, title
    return matches[0]


def test_level_heatmap_is_domain_by_quarter() -> None:
    panel = _panel("Level per domain and quarter")
    matrix = [t for t in panel["transformations"] if t["id"] == "groupingToMatrix"]
    assert matrix and matrix[0]["options"]["rowField"] == "domain"
    assert matrix[0]["options"]["columnField"] == "quarter"
    assert panel["fieldConfig"]["defaults"]["custom"]["cellOptions"]["type"] == "color-background"


CURRENT_JOIN = re.compile(
    r"\* on \(job, instance, quarter\) group_left "
    r'devsecops_quarter_info\{period="(current|previous)",org=~"\$org"\}')


def test_quarter_info_joins_are_one_to_one_and_aggregated() -> None:
    """PromQL cannot compare quarter labels: "this quarter" joins each target's own info.

    Joining on the quarter alone matches the info series of every replica (many-to-many
    with several instances); on (job, instance, quarter) matches exactly one. The joined
    series still carry instance labels, so the query aggregates them explicitly.
    """
    joins = [(title, expr) for title, _, expr in dashboard_queries_raw()
             if "devsecops_quarter_info" in expr]
    assert joins, "no panel selects the current quarter through devsecops_quarter_info"
    for title, expr in joins:
        assert CURRENT_JOIN.search(expr), f"{title}: {expr}"
        assert re.match(r"(max|min)\(", expr), f"{title}: aggregate the joined series"


def test_this_quarter_stats() -> None:
    expected = {
        "Critical MTTR this quarter": 'vulnerability_mttr_days{severity="critical"',
        "SAST coverage this quarter": "sast_coverage_pct{",
        "Alert signal ratio this quarter": "alert_signal_ratio{",
        "MTTD this quarter": "security_incident_mttd_hours{",
        "MTTC this quarter": "security_incident_mttc_hours{",
    }
    for title, selector in expected.items():
        panel = _panel(title)
        assert panel["type"] == "stat", title
        (target,) = panel["targets"]
        assert target["instant"] and selector in target["expr"], title
        assert 'devsecops_quarter_info{period="current"' in target["expr"], title


def test_level_vs_target_table() -> None:
    """Leadership view: per domain last quarter, now, target and the gap to it."""
    panel = _panel("Level vs target per domain")
    exprs = {t["refId"]: t["expr"] for t in panel["targets"]}
    assert "org_domain:devsecops_maturity_level_previous:max" in exprs["A"]
    assert "org_domain:devsecops_maturity_level_current:max" in exprs["B"]
    assert "org_domain:devsecops_maturity_target_level:max" in exprs["C"]
    assert exprs["D"] == f"{exprs['C']} - {exprs['B']}", "gap is target - current"
    for expr in exprs.values():
        assert expr.startswith("max by (org, domain) ("), expr
    organize = next(t for t in panel["transformations"] if t["id"] == "organize")
    assert organize["options"]["renameByName"] == {
        "Value #A": "last quarter", "Value #B": "current", "Value #C": "target",
        "Value #D": "gap to target", "Value #E": "owner named"}
    # whether an owner is named, never the owner's name (personal data)
    assert "devsecops_maturity_domain_owner_assigned" in exprs["E"]
    gap = next(o for o in panel["fieldConfig"]["overrides"]
               if o["matcher"] == {"id": "byName", "options": "gap to target"})
    thresholds = next(p["value"] for p in gap["properties"] if p["id"] == "thresholds")
    assert [s["value"] for s in thresholds["steps"]] == [None, 1, 2]


def _threshold_values(panel: dict[str, Any]) -> list[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [s["value"] for s in steps if s["value"] is not None]


def test_target_lines() -> None:
    sla = _panel("SLA compliance per severity vs 90 %")
    assert _threshold_values(sla) == [90]
    assert sla["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    for title in ("MTTD vs level targets (hours)", "MTTC vs level targets (hours)"):
        panel = _panel(title)
        assert _threshold_values(panel) == [1, 4, 24], title
        assert panel["fieldConfig"]["defaults"]["unit"] == "h"


def test_layout_has_no_overlaps() -> None:
    occupied: dict[tuple[int, int], str] = {}
    ids = set()
    for panel in iter_panels(load_dashboard()["panels"]):
        assert panel["id"] not in ids, f"duplicate panel id {panel['id']}"
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in occupied, f"{panel['title']} overlaps {occupied[(x, y)]}"
                occupied[(x, y)] = panel["title"]


def test_provisioning_files() -> None:
    datasources = yaml.safe_load(DATASOURCE_PROVISIONING.read_text())
    assert datasources["apiVersion"] == 1
    (prometheus,) = datasources["datasources"]
    assert prometheus["type"] == "prometheus" and prometheus["url"].startswith("http")
    providers = yaml.safe_load(DASHBOARD_PROVISIONING.read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


def test_metric_names_substitutes_variables() -> None:
    queries = dashboard_queries()
    assert all("$" not in expr for _, _, expr in queries)
