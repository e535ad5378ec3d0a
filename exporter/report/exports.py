"""Backlog exports of the gaps (CSV for Jira, JSON for any tracker) and a DSOMM view.

Backlog: one item per unmet criterion of a domain's next level (the measurable step to
the next level, with the metric that will show it done) and one per next action the
assessments file names. The CSV's first columns are the ones Jira's CSV importer maps
as-is (Summary, Description, Labels twice for two labels, Assignee); Assignee is left
blank because an owner named in the assessments file is not a tracker account.

DSOMM: OWASP DSOMM 4.x (application 4.0.0, activity model 4.1.0) imports a team's
progress as ``team-progress.yaml``: ``progress: {activity uuid: {team: {progress
title: date}}}`` with the progress titles of its ``meta.yaml`` (``Not implemented``,
``Started``, ``Partly implemented``, ``Fully implemented``). The mapping below ties
DSOMM activities to this product's domain levels; docs/report.md lists it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from exporter.maturity.model import DOMAINS

LABEL = "devsecops-maturity"
CSV_COLUMNS = ("Summary", "Description", "Labels", "Labels", "Assignee", "Domain", "Owner",
               "Level", "Criterion", "Success criterion", "Metric", "Effort")


def backlog_items(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Every backlog item: open playbook steps, the other next-level gaps, next actions.

    A playbook step not done yet (its criterion not met) carries its effort estimate;
    an unmet criterion that an open step already names is not listed twice.
    """
    items = []
    for d in facts["domains"]:
        domain, owner = d["domain"], d["owner"]
        covered = set()
        for step in d.get("playbook", []):
            if step["done"]:
                continue
            covered.add(step.get("criterion"))
            criterion = step.get("criterion")
            body = [f"Domain: {domain} (level {d['level']}, target "
                    f"{d['target'] if d['target'] is not None else 'not set'}).",
                    f"Owner: {owner or 'no owner'}.",
                    f"Playbook step from level {step['from']} to {step['to']}: "
                    f"{step['action']}.", f"Success criterion: {step['success_criterion']}."]
            if step.get("tool_options"):
                body.append("Tool options: " + ", ".join(step["tool_options"]) + ".")
            items.append({
                "title": f"[{domain}] Level {step['to']}: {step['action']}",
                "body": "\n".join(body), "labels": [LABEL, domain], "domain": domain,
                "owner": owner, "level": step["to"], "criterion": criterion,
                "success_criterion": step["success_criterion"],
                "metric": (f'devsecops_maturity_criterion_met{{criterion="{criterion}"}}'
                           if criterion else f'devsecops_maturity_level{{domain="{domain}"}}'),
                "effort": step["effort_estimate"], "kind": "playbook_step"})
        for gap in d["gaps"]:
            if gap["criterion"] in covered:
                continue
            metric = None
            if gap.get("metric"):
                inner = ",".join(f'{k}="{v}"' for k, v in sorted(gap["labels"].items()))
                metric = f"{gap['metric']}{{{inner}}}" if inner else gap["metric"]
            measured = gap.get("measured")
            body = [f"Domain: {domain} (level {d['level']}, target "
                    f"{d['target'] if d['target'] is not None else 'not set'}).",
                    f"Owner: {owner or 'no owner'}.",
                    f"Criterion {gap['criterion']} for level {gap['level']}: "
                    f"{gap['indicator']}.", f"Success criterion: {gap['requirement']}."]
            if gap["basis"] == "measurement":
                body.append("Measured now: "
                            + ("no data" if measured is None else f"{measured:.4g}") + ".")
            else:
                body.append("Shown done by an attestation with fresh evidence in the "
                            "assessments file.")
            items.append({
                "title": f"[{domain}] Level {gap['level']}: {gap['indicator']}",
                "body": "\n".join(body), "labels": [LABEL, domain], "domain": domain,
                "owner": owner, "level": gap["level"], "criterion": gap["criterion"],
                "success_criterion": gap["requirement"],
                "metric": metric or f"devsecops_maturity_criterion_met{{criterion=\""
                                    f"{gap['criterion']}\"}}",
                "effort": None, "kind": "gap"})
        for action in d["next_actions"]:
            items.append({
                "title": f"[{domain}] {action}",
                "body": f"Next action for {domain} from the quarterly review. "
                        f"Owner: {owner or 'no owner'}.",
                "labels": [LABEL, domain], "domain": domain, "owner": owner,
                "level": d["next_level"], "criterion": None, "success_criterion": None,
                "metric": f'devsecops_maturity_level{{domain="{domain}"}}',
                "effort": None, "kind": "next_action"})
    return items


def backlog_csv(facts: dict[str, Any]) -> str:
    """The backlog as CSV for Jira's importer (two Labels columns, blank Assignee)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in backlog_items(facts):
        writer.writerow([item["title"], item["body"], item["labels"][0], item["labels"][1],
                         "", item["domain"], item["owner"] or "", item["level"] or "",
                         item["criterion"] or "", item["success_criterion"] or "",
                         item["metric"], item["effort"] or ""])
    return buffer.getvalue()


def backlog_json(facts: dict[str, Any]) -> str:
    """The backlog as a JSON list (``title``/``body``/``labels`` as GitHub issues take)."""
    return json.dumps(backlog_items(facts), indent=2, ensure_ascii=False) + "\n"


# DSOMM activity (dimension, sub-dimension, activity, uuid) -> (our domain, minimum level
# at which the activity counts as fully implemented). From DSOMM's default/model.yaml
# (model 4.1.0, devsecopsmaturitymodel/DevSecOps-MaturityModel commit 698e879b).
DSOMM_MAPPING: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("Information Gathering", "Test KPI", "Number of vulnerabilities/severity",
     "bc548cba-cb82-4f76-bd4b-325d9d256279", "vulnerability_management", 2),
    ("Test and Verification", "Consolidation", "Usage of a vulnerability management system",
     "85ba5623-84be-4219-8892-808837be582d", "vulnerability_management", 3),
    ("Test and Verification", "Consolidation",
     "Integration of vulnerability issues into the development process",
     "ce970c9b-da94-41cf-bd78-8c15357b7e8e", "vulnerability_management", 3),
    ("Test and Verification", "Static depth for applications",
     "Static analysis for important server side components",
     "6c05c837-8c99-46e2-828b-7c903e27dba4", "secure_development", 2),
    ("Test and Verification", "Static depth for applications",
     "Static analysis for all self written components",
     "ee68331f-9b1d-4f61-844b-b2ea04753a84", "secure_development", 3),
    ("Test and Verification", "Static depth for infrastructure", "Test for stored secrets in code",
     "c6e3c812-56e2-41b0-ae01-b7afc41a004c", "secure_development", 4),
    ("Implementation", "Infrastructure Hardening", "MFA for admins",
     "8098e416-e1ed-4ae4-a561-83efbe76bf57", "identity_access", 2),
    ("Implementation", "Infrastructure Hardening", "MFA",
     "598e9f13-1ac8-4a01-b85e-8fab93ee81de", "identity_access", 3),
    ("Information Gathering", "Test KPI", "Generation of response statistics",
     "c922981b-65ed-40f3-a947-96fee9a0125f", "incident_response", 3),
    ("Culture and Organization", "Education and Guidance", "Conduction of war games",
     "534f60bf-0995-4314-bb9c-f0f2bf204694", "incident_response", 4),
    ("Test and Verification", "Static depth for infrastructure", "Test the cloud configuration",
     "46d6a2a8-f9dc-4c15-9fc8-1723cfecbddc", "cloud_infrastructure", 2),
    ("Test and Verification", "Dynamic depth for infrastructure",
     "Test of the configuration of cloud environments",
     "7bb70764-9392-4462-935d-e55b2e148199", "cloud_infrastructure", 3),
    ("Build and Deployment", "Build", "Signing of code",
     "9f107927-61e9-4574-85ad-3f2b4bca8665", "supply_chain", 3),
    ("Build and Deployment", "Build", "SBOM of components",
     "2858ac12-0179-40d9-9acf-1b839c030473", "supply_chain", 4),
    ("Build and Deployment", "Build", "Signing of artifacts",
     "5786959d-0c6f-46a6-8e1c-a32ff1a50222", "supply_chain", 5),
    ("Information Gathering", "Logging", "Logging of security events",
     "ccfdd0a8-991e-4269-ad77-c0a54ca655cb", "observability_detection", 2),
    ("Information Gathering", "Monitoring", "Targeted alerting",
     "d6f06ae8-401a-4f44-85df-1079247fa030", "observability_detection", 3),
    ("Information Gathering", "Monitoring", "Coverage and control metrics",
     "d0d681e7-d6de-4829-ac64-a9eb2546aa0d", "observability_detection", 4),
    ("Information Gathering", "Logging", "Correlation of security events",
     "ccf4561d-253f-4762-adcb-bc4622fd6fc5", "observability_detection", 5),
    ("Culture and Organization", "Education and Guidance",
     "Ad-Hoc Security trainings for software developers",
     "12c90cc6-3d58-4d9b-82ff-d469d2a0c298", "security_culture", 2),
    ("Culture and Organization", "Education and Guidance", "Each team has a security champion",
     "6217fe11-5ed7-4cf4-9de4-555bcfa6fe87", "security_culture", 3),
    ("Culture and Organization", "Education and Guidance", "Regular security training for all",
     "9768f154-357a-4c06-af6f-d66570677c9b", "security_culture", 3),
)
DSOMM_DONE = "Fully implemented"
DSOMM_VERSION = "DSOMM 4.x (application 4.0.0, activity model 4.1.0)"


def dsomm_progress(facts: dict[str, Any], team: str = "Default") -> dict[str, Any]:
    """DSOMM team progress: every mapped activity the domain's level reaches, done."""
    levels = {d["domain"]: d["level"] for d in facts["domains"]}
    day = date.fromisoformat((facts.get("as_of") or "")[:10])
    progress: dict[str, Any] = {}
    for _dim, _sub, _name, uuid, domain, minimum in DSOMM_MAPPING:
        if levels.get(domain, 0) >= minimum:
            progress[uuid] = {team: {DSOMM_DONE: day}}
    return {"progress": progress}


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def dsomm_yaml(facts: dict[str, Any], team: str = "Default") -> str:
    """``team-progress.yaml`` for DSOMM's import, laid out as DSOMM itself writes it.

    Dates are plain YAML dates (``2026-11-23``, not quoted strings): DSOMM's loader
    turns them into Date objects and compares them when merging progress.
    """
    lines = [f"# DSOMM team progress for {team}, {facts['quarter']}, from "
             "devsecops-maturity-exporter.", f"# Format: {DSOMM_VERSION} team-progress.yaml.",
             "# Activities (dimension / sub-dimension / activity <- domain >= level):"]
    levels = {d["domain"]: d["level"] for d in facts["domains"]}
    for dim, sub, name, uuid, domain, minimum in DSOMM_MAPPING:
        mark = "done" if levels.get(domain, 0) >= minimum else "not yet"
        lines.append(f"#   {uuid}: {dim} / {sub} / {name} <- {domain} >= {minimum} ({mark})")
    progress = dsomm_progress(facts, team)["progress"]
    names = {m[3]: m[2] for m in DSOMM_MAPPING}
    lines.append("progress:" if progress else "progress: {}")
    for uuid, teams in progress.items():
        lines.append(f"  {uuid}:  # {names[uuid]}")
        for team_name, titles in teams.items():
            lines.append(f"    {_quoted(team_name)}:")
            lines.extend(f"      {_quoted(title)}: {day.isoformat()}"
                         for title, day in titles.items())
    return "\n".join(lines) + "\n"


AUDIT_COLUMNS = ("Quarter", "Domain", "Level", "Criterion", "Kind", "Basis", "Indicator",
                 "Requirement", "Metric", "Measured", "Threshold", "Result", "Reason",
                 "Evidence ids", "Evidence dates", "Evidence reviewers")


def audit_csv(content: dict[str, Any]) -> str:
    """Every domain x level x criterion of a review's content, for an auditor.

    Unlike the report this carries the evidence reviewers' names: an auditor needs to
    know who vouched for an attestation. It is built from the review content, not the
    report's facts, so the report itself stays free of them.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    for domain in [d for d in DOMAINS if d in content["domains"]]:
        for c in content["domains"][domain].get("criteria", []):
            metric = ""
            if c.get("metric"):
                inner = ",".join(f'{k}="{v}"' for k, v in sorted((c.get("labels") or {}).items()))
                metric = f"{c['metric']}{{{inner}}}" if inner else c["metric"]
            measured = ""
            if c["basis"] == "measurement":
                measured = "no data" if c.get("measured") is None else f"{c['measured']:g}"
            threshold = ""
            if c.get("kind") == "threshold":
                threshold = f"{c.get('op')} {c.get('threshold'):g}"
            elif c.get("kind") == "trend":
                threshold = c["requirement"]
            evidence = c.get("evidence") or []
            writer.writerow([
                content["quarter"], domain, c["level"], c["id"], c.get("kind", ""), c["basis"],
                c["indicator"], c["requirement"], metric, measured, threshold, c["status"],
                c["reason"], ";".join(e.get("id") or "" for e in evidence),
                ";".join((e.get("date") or "")[:10] for e in evidence),
                ";".join(e.get("reviewer") or "" for e in evidence)])
    return buffer.getvalue()
