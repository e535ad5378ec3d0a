"""Explain an assessment: per domain the level, and what blocks the next one.

``explain_text`` is what ``devsecops-exporter explain`` prints; ``explain_json`` is
the same content for the HTTP endpoint. Both read only the assessment object.
"""

from __future__ import annotations

from typing import Any

from exporter.maturity.engine import (
    Assessment,
    CriterionResult,
    DomainResult,
    EvidenceState,
    LevelResult,
)
from exporter.maturity.model import DOMAINS, LEVEL_NAMES

_MARK = {"met": "met", "not_met": "NOT MET", "unknown": "UNKNOWN"}


def _select(assessment: Assessment, domain: str | None) -> list[DomainResult]:
    if domain is None:
        return [assessment.domains[d] for d in DOMAINS if d in assessment.domains]
    if domain not in assessment.domains:
        raise ValueError(f"unknown domain {domain!r}; the domains are: {', '.join(DOMAINS)}")
    return [assessment.domains[domain]]


def _warnings(assessment: Assessment) -> list[str]:
    p = assessment.programme
    out = []
    if p.imbalanced:
        out.append(f"domain levels are {p.spread} apart (more than 2): one domain is advanced "
                   "at the expense of others; set a minimum floor for all domains")
    if p.outcomes_disconnected:
        out.append(f"levels rose since {assessment.previous_quarter} but no outcome metric "
                   "improved: re-examine the evidence behind the maturity claims")
    stale = sum(r.stale_evidence for r in assessment.domains.values())
    if stale:
        out.append(f"{stale} evidence item(s) are older than "
                   f"{assessment.evidence_max_age.days} days and no longer count")
    if assessment.last_review is None:
        out.append("no completed quarterly review is recorded in the assessments file")
    elif (assessment.now - assessment.last_review).days > 92:
        out.append(f"the last quarterly review was "
                   f"{(assessment.now - assessment.last_review).days} days ago: overdue")
    return out


def _next_level(result: DomainResult) -> int | None:
    level = result.current.level
    return level + 1 if level < 5 else None


# -- text ---------------------------------------------------------------------------------


def _from_history(sources: tuple[str, ...]) -> str:
    return "reconstructed from " + " and ".join(sources) + " history"


def _criterion_line(c: CriterionResult) -> str:
    line = f"[{_MARK[c.status]}] {c.id} ({c.basis}): {c.reason}"
    return line + f" [{_from_history(c.reconstructed)}]" if c.reconstructed else line


def _reconstructed_note(result: LevelResult) -> str:
    """``; reconstructed from github history: sast_all_repos, ...`` when a criterion of
    that quarter rests on values a source rebuilt from its own history."""
    by_sources: dict[tuple[str, ...], list[str]] = {}
    for c in result.criteria:
        if c.reconstructed:
            by_sources.setdefault(c.reconstructed, []).append(c.id)
    return "".join(f"; {_from_history(sources)}: {', '.join(ids)}"
                   for sources, ids in by_sources.items())


def _domain_text(result: DomainResult, assessment: Assessment) -> list[str]:
    cur = result.current
    head = f"{result.domain}: level {cur.level} ({LEVEL_NAMES[cur.level]})"
    if not cur.determined:
        head += ", provisional: held back only by criteria without data"
    lines = [head]
    prev = result.previous
    if prev is not None:
        shown = f"{prev.level}" if prev.determined else f">= {prev.level} (not determined)"
        trend = f"trend {result.trend:+d}" if result.trend is not None else result.trend_note
        lines.append(f"  {prev.quarter}: level {shown} [{prev.source}]; {trend}"
                     + _reconstructed_note(prev))
    entry = result.assessment
    if entry is not None:
        if entry.owner:
            lines.append(f"  Owner: {entry.owner}")
        if entry.target_level is not None:
            lines.append(f"  Target level: {entry.target_level}")
    else:
        lines.append("  No owner, target or evidence recorded in the assessments file.")
    nxt = _next_level(result)
    if nxt is None:
        lines.append("  At the top level; every criterion holds.")
    else:
        criteria = cur.at(nxt)
        unmet = [c for c in criteria if c.status != "met"]
        lines.append(f"  Next level {nxt} ({LEVEL_NAMES[nxt]}): "
                     f"{len(criteria) - len(unmet)} of {len(criteria)} criteria met; missing:")
        lines.extend(f"    {_criterion_line(c)}" for c in unmet)
        above = [c for lvl in range(nxt + 1, 6) for c in cur.at(lvl) if c.status == "met"]
        if above:
            lines.append("  Already met at higher levels (counted once level "
                         f"{nxt} holds): " + ", ".join(f"{c.id} (L{c.level})" for c in above))
    stale = [e for e in result.evidence if e.stale]
    if stale:
        lines.append("  Stale evidence (no longer counts): "
                     + "; ".join(e.describe() for e in stale))
    if entry is not None:
        for title, items in (("Blockers", entry.blockers), ("Next actions", entry.next_actions)):
            if items:
                lines.append(f"  {title}:")
                lines.extend(f"    - {item}" for item in items)
    return lines


def explain_text(assessment: Assessment, domain: str | None = None) -> str:
    """A readable account of the assessment, for the terminal and the quarterly review."""
    selected = _select(assessment, domain)
    p = assessment.programme
    org = f" — {assessment.organisation}" if assessment.organisation else ""
    lines = [f"DevSecOps maturity{org} — {assessment.current_quarter} "
             f"(as of {assessment.now.strftime('%Y-%m-%dT%H:%M:%SZ')})", ""]
    lines.append(f"Programme: average {p.average:.1f}, minimum {p.minimum}, maximum "
                 f"{p.maximum}, spread {p.spread}")
    lines.append("  Weak domains (level <= 2): " + (", ".join(p.weak_domains) or "none"))
    lines.append(f"  Recommendation: {p.recommendation}")
    known = [o for o in p.outcomes if o.status != "unknown"]
    if p.outcomes:
        lines.append("  Outcomes vs " + assessment.previous_quarter + ": " + (", ".join(
            f"{o.id} {o.status}" for o in known) or "no data for both quarters"))
    if assessment.last_review is not None:
        days = (assessment.now - assessment.last_review).days
        lines.append(f"  Last quarterly review: {assessment.last_review.date().isoformat()} "
                     f"({days} days ago)")
    lines.extend(f"  Warning: {w}" for w in _warnings(assessment))
    for result in selected:
        lines.append("")
        lines.extend(_domain_text(result, assessment))
    return "\n".join(lines)


# -- JSON ---------------------------------------------------------------------------------


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _evidence_json(e: EvidenceState) -> dict[str, Any]:
    return {"id": e.item.id, "text": e.item.text, "link": e.item.link,
            "reviewer": e.item.reviewer, "date": _iso(e.date), "age_days": e.age.days,
            "stale": e.stale, "future": e.future, "counts": e.counts}


def _criterion_json(c: CriterionResult) -> dict[str, Any]:
    rule = c.criterion
    out: dict[str, Any] = {"id": c.id, "level": c.level, "kind": rule.kind, "basis": c.basis,
                           "indicator": rule.indicator, "status": c.status,
                           "reason": c.reason, "requirement": rule.requirement(),
                           "reconstructed_from": list(c.reconstructed)}
    if rule.kind == "attestation":
        out["claim"] = rule.claim
        out["evidence"] = [_evidence_json(e) for e in c.evidence]
    else:
        out.update(metric=rule.metric, labels=dict(rule.labels), measured=c.value)
        if rule.kind == "threshold":
            out.update(op=rule.op, threshold=rule.value)
        else:
            out.update(direction=rule.direction, good_enough=rule.good_enough,
                       previous=c.previous)
    return out


def _level_json(result: LevelResult) -> dict[str, Any]:
    return {"quarter": result.quarter, "level": result.level,
            "determined": result.determined, "source": result.source,
            # criteria whose values a source rebuilt from its own history
            "reconstructed": [{"criterion": c.id, "metric": c.criterion.selector(),
                               "from": list(c.reconstructed)}
                              for c in result.criteria if c.reconstructed]}


def _domain_json(result: DomainResult) -> dict[str, Any]:
    entry = result.assessment
    nxt = _next_level(result)
    out: dict[str, Any] = {
        "domain": result.domain,
        "level": result.current.level,
        "level_name": LEVEL_NAMES[result.current.level],
        "provisional": not result.current.determined,
        "previous": None if result.previous is None else _level_json(result.previous),
        "trend": result.trend,
        "trend_note": result.trend_note,
        "owner": entry.owner if entry else None,
        "target_level": entry.target_level if entry else None,
        "blockers": list(entry.blockers) if entry else [],
        "next_actions": list(entry.next_actions) if entry else [],
        "next_level": None,
        "criteria": [_criterion_json(c) for c in result.current.criteria],
        "evidence": [_evidence_json(e) for e in result.evidence],
        "stale_evidence": result.stale_evidence,
    }
    if nxt is not None:
        criteria = result.current.at(nxt)
        out["next_level"] = {
            "level": nxt, "name": LEVEL_NAMES[nxt],
            "met": sum(1 for c in criteria if c.status == "met"), "total": len(criteria),
            "missing": [_criterion_json(c) for c in criteria if c.status != "met"],
        }
    return out


def explain_json(assessment: Assessment, domain: str | None = None) -> dict[str, Any]:
    """The same content as :func:`explain_text`, as JSON-serialisable data."""
    selected = _select(assessment, domain)
    p = assessment.programme
    return {
        "quarter": assessment.current_quarter,
        "previous_quarter": assessment.previous_quarter,
        "as_of": _iso(assessment.now),
        "organisation": assessment.organisation,
        "evidence_max_age_days": assessment.evidence_max_age.days,
        "last_review": _iso(assessment.last_review),
        "programme": {
            "average_level": round(p.average, 1),
            "average": p.average,
            "minimum_level": p.minimum,
            "maximum_level": p.maximum,
            "spread": p.spread,
            "weak_domains": list(p.weak_domains),
            "recommendation": p.recommendation,
            "rebalance_recommended": p.rebalance,
            "imbalanced": p.imbalanced,
            "levels_rose": p.levels_rose,
            "outcomes_disconnected": p.outcomes_disconnected,
            "outcomes": [{"id": o.id, "indicator": o.indicator, "metric": o.selector,
                          "better": o.better, "current": o.current, "previous": o.previous,
                          "status": o.status} for o in p.outcomes],
            "domain_levels": {d: r.current.level for d, r in assessment.domains.items()},
            "warnings": _warnings(assessment),
        },
        "domains": {r.domain: _domain_json(r) for r in selected},
    }
