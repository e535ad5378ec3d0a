"""The report's facts: one plain structure every format renders, gathered from reviews.

Why from review content: a recorded review (exporter/review.py) is what leadership
signed off, and the live assessment is turned into the very same structure by
:func:`exporter.review.review_content`, so a report of the current quarter and one of
a recorded past quarter are built by the same code. Nothing here reads an API or the
clock: the facts are a pure function of the review content, the previous quarter's
review (if recorded) and the stored per-quarter levels.

Absent data stays ``None`` and is printed as "no data" by every renderer, never as 0.
Only owners, as named in the assessments file, are personal data the report carries:
evidence reviewers stay in the recorded review and the audit trail, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.maturity.model import DOMAINS, LEVEL_NAMES

WEAK_LEVEL = 2
SPREAD_LIMIT = 2
PRIORITIES = 3


def next_quarter(label: str, steps: int = 1) -> str:
    """``2026-Q4`` -> ``2027-Q1``."""
    year, quarter = (int(p) for p in label.split("-Q"))
    index = year * 4 + quarter - 1 + steps
    return f"{index // 4}-Q{index % 4 + 1}"


def arrow(current: float | None, previous: float | None, better: str = "lower") -> str:
    """A trend mark for a metric: improved, worse or flat; "" when either is missing."""
    if current is None or previous is None:
        return ""
    if current == previous:
        return "→"
    up = current > previous
    good = up if better == "higher" else not up
    return ("▲" if up else "▼") + (" better" if good else " worse")


# Which way is better for each key metric, and its level-3/4/5 targets (Step 5/7).
KEY_METRIC_INFO: dict[str, dict[str, Any]] = {
    "critical_mttr_days": {
        "title": "Mean time to remediate critical vulnerabilities", "better": "lower",
        "targets": {3: "< 30 days", 4: "< 7 days", 5: "< 3 days"}},
    "incidents_detected_within_4h": {
        "title": "Security incidents detected within 4 hours", "better": "higher",
        "targets": {4: "all (100%)"}},
    "monitoring_coverage": {
        "title": "Workloads with security monitoring", "better": "higher",
        "targets": {4: "> 90%"}},
    "critical_sla_compliance": {
        "title": "Critical vulnerabilities remediated within SLA", "better": "higher",
        "targets": {4: "> 90%"}},
    # Step 5 breach_impact and vulnerability_exposure, with their level targets as written.
    "mttc_hours": {
        "title": "Mean time to contain an incident", "better": "lower",
        "targets": {3: "< 24 hours", 4: "< 4 hours", 5: "< 1 hour (automated containment)"}},
    "critical_exposure_window": {
        "title": "Mean exposure window for critical CVEs (disclosure to patch)",
        "better": "lower",
        "targets": {3: "< 30 days", 4: "< 7 days internet-facing; < 14 days internal",
                    5: "< 3 days for CISA KEV"}},
}


def format_value(value: float | None, unit: str) -> str:
    """A metric value for people; ``None`` is "no data"."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value * 100:.0f}%"
    if unit == "pct":
        return f"{value:.0f}%"
    if unit == "days":
        return f"{value:.1f} days"
    if unit == "hours":
        return f"{value:.1f} hours"
    if unit == "seconds":  # a duration in base units, shown in days
        return f"{value / 86400:.1f} days"
    return f"{value:g}"


def _previous_levels(content: Mapping[str, Any],
                     previous_review: Mapping[str, Any] | None,
                     history: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Last quarter's level per domain: the recorded review, else the stored or
    recomputed level when it was determined; a domain with none is "new"."""
    quarter = content["previous_quarter"]
    out: dict[str, int] = {}
    for domain, entry in content["domains"].items():
        prev = entry.get("previous")
        if prev is not None and prev.get("determined"):
            out[domain] = prev["level"]
    for domain, level in history.get(quarter, {}).items():
        out[domain] = level
    if previous_review is not None:
        for domain, entry in previous_review["domains"].items():
            out[domain] = entry["level"]
    return out


def _gap_items(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    nxt = entry.get("next_level")
    if not nxt:
        return []
    items = []
    for c in nxt["missing"]:
        items.append({
            "criterion": c["id"], "level": c["level"], "basis": c["basis"],
            "indicator": c["indicator"], "requirement": c["requirement"],
            "status": c["status"], "measured": c.get("measured"),
            "metric": c.get("metric"), "labels": c.get("labels") or {},
            "reason": c["reason"],
        })
    return items


def build_facts(content: Mapping[str, Any], *,
                previous_review: Mapping[str, Any] | None = None,
                history: Mapping[str, Mapping[str, int]] | None = None,
                recorded: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every section of the report as plain data (JSON-serialisable).

    ``content`` is a review's content (recorded or built from the live assessment),
    ``previous_review`` the previous quarter's recorded content if any, ``history``
    the stored levels ``{quarter: {domain: level}}`` for the heatmap, ``recorded``
    ``{"id": ..., "recorded_at": ...}`` when ``content`` is a recorded review.
    """
    history = history or {}
    quarter, previous_quarter = content["quarter"], content["previous_quarter"]
    previous = _previous_levels(content, previous_review, history)
    domains = []
    for name in DOMAINS:
        entry = content["domains"].get(name)
        if entry is None:
            continue
        level = entry["level"]
        before = previous.get(name)
        if before is None:
            change = "new"
        elif level > before:
            change = "improved"
        elif level < before:
            change = "declined"
        else:
            change = "unchanged"
        target = entry.get("target_level")
        domains.append({
            "domain": name, "level": level, "level_name": LEVEL_NAMES[level],
            "provisional": entry.get("provisional", False), "previous": before,
            "change": change, "target": target,
            "gap": None if target is None else max(target - level, 0),
            "owner": entry.get("owner"), "blockers": list(entry.get("blockers", [])),
            "next_actions": list(entry.get("next_actions", [])),
            "next_level": (entry["next_level"]["level"] if entry.get("next_level") else None),
            "gaps": _gap_items(entry),
            # the playbook's steps to the next level (frozen in the review content)
            "playbook": [dict(step) for step in entry.get("playbook", [])],
            "stale_evidence": [e.get("id") or e.get("text") or "?"
                               for e in entry.get("evidence", []) if e.get("stale")],
            "criteria_total": len(entry.get("criteria", [])),
            "criteria_attested": sum(1 for c in entry.get("criteria", [])
                                     if c.get("basis") == "attestation"),
        })
    levels = [d["level"] for d in domains]
    overall = sum(levels) / len(levels) if levels else None
    programme = content.get("programme", {})

    key = []
    current_metrics = content.get("key_metrics", {})
    previous_metrics = content.get("previous_key_metrics", {})
    if previous_review is not None:
        previous_metrics = previous_review.get("key_metrics", previous_metrics)
    for name, info in KEY_METRIC_INFO.items():
        cur = current_metrics.get(name, {})
        unit = cur.get("unit", "")
        value = cur.get("value")
        before = previous_metrics.get(name, {}).get("value")
        key.append({"name": name, "title": info["title"], "unit": unit, "value": value,
                    "previous": before, "shown": format_value(value, unit),
                    "previous_shown": format_value(before, unit),
                    "arrow": arrow(value, before, info["better"]),
                    "targets": {str(k): v for k, v in info["targets"].items()}})

    outcomes = [dict(o) for o in programme.get("outcomes", [])]
    levels_rose = programme.get("levels_rose")
    theatre = programme.get("outcomes_disconnected")
    spread = (max(levels) - min(levels)) if levels else None

    below = [d for d in domains if d["gap"]]
    below.sort(key=lambda d: (-d["gap"], d["level"], DOMAINS.index(d["domain"])))
    priorities = [{"domain": d["domain"], "owner": d["owner"], "from": d["level"],
                   "to": d["level"] + 1, "target": d["target"], "gap": d["gap"],
                   "steps": [g for g in d["gaps"] if g["status"] != "met"],
                   "playbook_steps": [s for s in d["playbook"] if not s["done"]],
                   "next_actions": d["next_actions"]}
                  for d in below[:PRIORITIES]]

    roadmap = []
    for d in domains:
        if d["target"] is None or d["level"] >= d["target"]:
            continue
        plan = []
        for step, lvl in enumerate(range(d["level"] + 1, d["target"] + 1), start=1):
            if step > 4:
                break
            plan.append({"quarter": next_quarter(quarter, step), "level": lvl})
        roadmap.append({"domain": d["domain"], "owner": d["owner"], "plan": plan,
                        "beyond_12_months": d["target"] - d["level"] > 4})

    heat_quarters = sorted({*history, previous_quarter, quarter})[-8:]
    heat: dict[str, dict[str, int | None]] = {}
    for d in domains:
        row: dict[str, int | None] = {}
        for q in heat_quarters:
            if q == quarter:
                row[q] = d["level"]
            elif q == previous_quarter:
                row[q] = d["previous"]
            else:
                row[q] = history.get(q, {}).get(d["domain"])
        heat[d["domain"]] = row

    measured = any(c.get("measured") is not None for e in content["domains"].values()
                   for c in e.get("criteria", []))
    return {
        "organisation": content.get("organisation"),
        "has_measurements": measured,
        "quarter": quarter, "previous_quarter": previous_quarter,
        "as_of": content.get("as_of"), "notes": content.get("notes"),
        "recorded": dict(recorded) if recorded else None,
        "inputs": content.get("inputs"),
        "overall": None if overall is None else round(overall, 1),
        "minimum": min(levels) if levels else None,
        "spread": spread,
        "domains": domains,
        "improved": [d["domain"] for d in domains if d["change"] == "improved"],
        "declined": [d["domain"] for d in domains if d["change"] == "declined"],
        "unchanged": [d["domain"] for d in domains if d["change"] == "unchanged"],
        "new": [d["domain"] for d in domains if d["change"] == "new"],
        "attention": [d["domain"] for d in domains if d["level"] <= WEAK_LEVEL],
        "key_metrics": key,
        "outcomes": outcomes,
        "adversaries": {
            "security_theatre": theatre, "levels_rose": levels_rose,
            "imbalanced": None if spread is None else spread > SPREAD_LIMIT,
        },
        "priorities": priorities,
        "roadmap": roadmap,
        "stale_evidence": {d["domain"]: d["stale_evidence"] for d in domains
                           if d["stale_evidence"]},
        "heatmap": {"quarters": heat_quarters, "levels": heat},
        "radar": {d["domain"]: {"current": d["level"], "previous": d["previous"],
                                "target": d["target"]} for d in domains},
        "recommendation": programme.get("recommendation"),
        "last_review": content.get("last_review"),
    }
