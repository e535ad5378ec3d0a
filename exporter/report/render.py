"""Render the report's facts as Markdown or as one self-contained HTML file.

Both formats carry the same sections in the same order (Step 7 of the maturity
model): where we are, what changed, the key metrics against their targets, what is
still weak, what we do next quarter, who owns it, the 12-month roadmap. The HTML has
no script and no external reference (styles and charts inline) and a print
stylesheet for A4 and Letter, so it can be mailed, opened offline and printed.
"""

from __future__ import annotations

from html import escape
from typing import Any

from exporter.report.charts import heatmap, radar

NO_DATA = "no data"
CHANGE_MARK = {"improved": "▲", "declined": "▼", "unchanged": "→", "new": "new"}


def _name(domain: str) -> str:
    return domain.replace("_", " ")


def _level(value: int | None) -> str:
    return NO_DATA if value is None else str(value)


def _title(facts: dict[str, Any]) -> str:
    org = f"{facts['organisation']} — " if facts.get("organisation") else ""
    return f"{org}Security Programme Maturity — {facts['quarter']}"


def _status_line(facts: dict[str, Any]) -> str:
    recorded = facts.get("recorded")
    if recorded:
        line = (f"Recorded quarterly review #{recorded['id']} of {recorded['recorded_at']}; "
                f"data as of {facts['as_of']}.")
    else:
        line = (f"Computed from the stored data as of {facts['as_of']}; no review of "
                f"{facts['quarter']} recorded yet.")
    if not facts.get("has_measurements", True):
        line += (f" No measured data for {facts['quarter']} yet (nothing collected): levels "
                 "rest on attestations alone.")
    return line


def _overall(facts: dict[str, Any]) -> str:
    return NO_DATA if facts["overall"] is None else f"{facts['overall']:.1f} / 5.0"


def _changes(facts: dict[str, Any]) -> list[tuple[str, list[str]]]:
    by = {d["domain"]: d for d in facts["domains"]}

    def fmt(domain: str) -> str:
        d = by[domain]
        if d["change"] == "new":
            return f"{_name(domain)}: level {d['level']} (new: no level in " \
                   f"{facts['previous_quarter']})"
        return f"{_name(domain)}: {d['previous']} → {d['level']}"

    return [("Improvements", [fmt(d) for d in facts["improved"]]),
            ("Regressions", [fmt(d) for d in facts["declined"]]),
            ("Unchanged", [fmt(d) for d in facts["unchanged"]]),
            ("New this quarter", [fmt(d) for d in facts["new"]])]


def _adversary_lines(facts: dict[str, Any]) -> list[str]:
    adv = facts["adversaries"]
    lines = []
    theatre = adv["security_theatre"]
    if theatre is None:
        lines.append("Security theatre check: no data (levels or outcome metrics missing "
                     "for one of the two quarters).")
    elif theatre:
        lines.append("Security theatre: levels rose since "
                     f"{facts['previous_quarter']} but no outcome metric improved. "
                     "Re-examine the evidence behind the maturity claims.")
    else:
        lines.append("Security theatre check: passed (levels did not rise without an "
                     "outcome improving).")
    if adv["imbalanced"] is None:
        lines.append("Domain spread: no data.")
    elif adv["imbalanced"]:
        lines.append(f"Over-investment in one dimension: domain levels are {facts['spread']} "
                     "apart (more than 2). Set a minimum floor for all domains.")
    else:
        lines.append(f"Domain spread: {facts['spread']} (within 2 levels).")
    return lines


def _gap_text(gap: dict[str, Any]) -> str:
    measured = ""
    if gap["basis"] == "measurement":
        value = gap.get("measured")
        measured = f"; measured: {NO_DATA if value is None else f'{value:.4g}'}"
    return f"{gap['indicator']} ({gap['criterion']}: {gap['requirement']}{measured})"


def _step_text(step: dict[str, Any]) -> str:
    tools = f"; tools: {', '.join(step['tool_options'])}" if step.get("tool_options") else ""
    measure = f" [{step['criterion']}]" if step.get("criterion") else ""
    return (f"Playbook: {step['action']} — done when: {step['success_criterion']}{measure}; "
            f"effort: {step['effort_estimate']}{tools}")


def _outcome_text(o: dict[str, Any]) -> str:
    def v(x: float | None) -> str:
        return NO_DATA if x is None else f"{x:.4g}"
    status = NO_DATA if o["status"] == "unknown" else o["status"]
    return f"{o['indicator']}: {v(o.get('current'))} (previous {v(o.get('previous'))}) — " \
           f"{status}"


# -- Markdown -----------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(facts: dict[str, Any]) -> str:
    """The report as Markdown (GitHub-flavoured tables)."""
    out = [f"# {_title(facts)}", "", _status_line(facts), ""]
    out += ["## Where we are", "", f"**Overall score: {_overall(facts)}**", ""]
    out += ["| Domain | Level | Previous | Change | Target | Gap |",
            "|---|---|---|---|---|---|"]
    for d in facts["domains"]:
        level = f"{d['level']} ({d['level_name']})" + (" provisional" if d["provisional"]
                                                        else "")
        out.append(f"| {_name(d['domain'])} | {level} | {_level(d['previous'])} | "
                   f"{CHANGE_MARK[d['change']]} | {_level(d['target'])} | "
                   f"{_level(d['gap'])} |")
    out += ["", "## What changed since " + facts["previous_quarter"], ""]
    for title, items in _changes(facts):
        out.append(f"**{title}:** " + ("; ".join(items) if items else "none"))
        out.append("")
    out += ["## Key metrics", "", "| Metric | " + facts["quarter"] + " | "
            + facts["previous_quarter"] + " | Trend | Targets (level: target) |",
            "|---|---|---|---|---|"]
    for m in facts["key_metrics"]:
        targets = ", ".join(f"L{k}: {v}" for k, v in m["targets"].items())
        out.append(f"| {m['title']} | {m['shown']} | {m['previous_shown']} | "
                   f"{m['arrow'] or NO_DATA} | {targets} |")
    if facts["outcomes"]:
        out += ["", "Outcome metrics against " + facts["previous_quarter"] + ":", ""]
        out += [f"- {_md_escape(_outcome_text(o))}" for o in facts["outcomes"]]
    out += ["", "## Checks against the programme's adversaries", ""]
    out += [f"- {line}" for line in _adversary_lines(facts)]
    out += ["", "## What is still weak", ""]
    out.append("**Areas for attention (level 2 or below):** "
               + (", ".join(_name(d) for d in facts["attention"]) or "none"))
    out.append("")
    for d in facts["domains"]:
        if not d["gaps"]:
            continue
        out.append(f"- **{_name(d['domain'])}** to level {d['next_level']}: "
                   + "; ".join(_md_escape(_gap_text(g)) for g in d["gaps"]))
    if facts["stale_evidence"]:
        out += ["", "Stale evidence (no longer counts): " + "; ".join(
            f"{_name(k)}: {', '.join(v)}" for k, v in facts["stale_evidence"].items())]
    out += ["", "## Next quarter's priorities", ""]
    if not facts["priorities"]:
        out.append("Every domain with a target is at it.")
    for index, p in enumerate(facts["priorities"], start=1):
        owner = p["owner"] or "no owner"
        out.append(f"{index}. **Advance {_name(p['domain'])} from level {p['from']} to "
                   f"{p['to']}** (target {p['target']}, owner: {_md_escape(owner)})")
        for step in p.get("playbook_steps", []):
            out.append(f"   - {_md_escape(_step_text(step))}")
        for step in p["steps"]:
            out.append(f"   - {_md_escape(_gap_text(step))}")
        for action in p["next_actions"]:
            out.append(f"   - Next action: {_md_escape(action)}")
    out += ["", "## Who owns it", "", "| Domain | Owner | Target | Blockers |",
            "|---|---|---|---|"]
    for d in facts["domains"]:
        out.append(f"| {_name(d['domain'])} | {_md_escape(d['owner'] or 'no owner')} | "
                   f"{_level(d['target'])} | "
                   f"{_md_escape('; '.join(d['blockers']) or 'none')} |")
    out += ["", "## 12-month roadmap", ""]
    if not facts["roadmap"]:
        out.append("No domain is below its target.")
    for r in facts["roadmap"]:
        steps = ", ".join(f"level {s['level']} by {s['quarter']}" for s in r["plan"])
        more = " (target beyond 12 months)" if r["beyond_12_months"] else ""
        out.append(f"- {_name(r['domain'])}: {steps}{more}")
    out += ["", "## Levels by quarter", "",
            "| Domain | " + " | ".join(facts["heatmap"]["quarters"]) + " |",
            "|---|" + "---|" * len(facts["heatmap"]["quarters"])]
    for domain, row in facts["heatmap"]["levels"].items():
        out.append(f"| {_name(domain)} | "
                   + " | ".join(_level(row[q]) for q in facts["heatmap"]["quarters"]) + " |")
    if facts.get("notes"):
        out += ["", "## Review notes", "", _md_escape(facts["notes"])]
    out.append("")
    return "\n".join(out)


# -- HTML ---------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1b1b1b; margin: 0 auto; padding: 24px; max-width: 1100px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px;
     border-bottom: 2px solid #08519c; padding-bottom: 2px; }
.meta { color: #555; margin: 0 0 12px; }
.score { font-size: 34px; font-weight: 700; color: #08519c; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; table-layout: auto; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f0f4fa; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts figure { margin: 0; flex: 1 1 420px; min-width: 0; }
.chart { width: 100%; height: auto; }
.heatmap { max-width: 560px; }
.improved { color: #1a7a3a; } .declined { color: #b2182b; } .new { color: #555; }
.warn { color: #b2182b; font-weight: 600; }
ul, ol { padding-left: 22px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 11pt; }
  h2 { break-after: avoid; } table, figure, li { break-inside: avoid; }
  .charts figure { flex: 1 1 45%; }
}
"""


def _e(text: Any) -> str:
    return escape(str(text))


def _ul(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


PAPER_SIZES = ("a4", "letter")


def render_html(facts: dict[str, Any], paper: str = "a4") -> str:
    """The report as one self-contained HTML page (no script, no external asset).

    ``paper`` is the print stylesheet's page size (``a4`` or ``letter``); the layout
    fits the narrower A4 width and the shorter Letter height either way, so the size
    only decides which sheet the browser's print dialog and the PDF use.
    """
    if paper not in PAPER_SIZES:
        raise ValueError(f"paper must be one of {', '.join(PAPER_SIZES)}, not {paper!r}")
    size = {"a4": "A4", "letter": "Letter"}[paper]
    css = _CSS.replace("@page { size: A4;", f"@page {{ size: {size};")
    h: list[str] = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(_title(facts))}</title><style>{css}</style></head><body>",
        f"<h1>{_e(_title(facts))}</h1>", f'<p class="meta">{_e(_status_line(facts))}</p>',
        '<section id="where"><h2>Where we are</h2>',
        f'<p>Overall score: <span class="score">{_e(_overall(facts))}</span></p>',
        '<div class="charts"><figure><figcaption>Level per domain: current, '
        f"{_e(facts['previous_quarter'])} and target</figcaption>",
        radar(facts["radar"]), "</figure><figure><figcaption>Level per domain and quarter"
        "</figcaption>", heatmap(facts["heatmap"]["quarters"], facts["heatmap"]["levels"]),
        "</figure></div>",
        "<table><thead><tr><th>Domain</th><th>Level</th><th>Previous</th><th>Change</th>"
        "<th>Target</th><th>Gap</th></tr></thead><tbody>"]
    for d in facts["domains"]:
        level = f"{d['level']} ({d['level_name']})" + (" provisional" if d["provisional"]
                                                        else "")
        h.append(f"<tr><td>{_e(_name(d['domain']))}</td><td>{_e(level)}</td>"
                 f"<td>{_e(_level(d['previous']))}</td>"
                 f'<td class="{d["change"]}">{_e(CHANGE_MARK[d["change"]])}</td>'
                 f"<td>{_e(_level(d['target']))}</td><td>{_e(_level(d['gap']))}</td></tr>")
    h.append("</tbody></table></section>")
    h.append(f'<section id="changes"><h2>What changed since {_e(facts["previous_quarter"])}'
             "</h2>")
    for title, items in _changes(facts):
        h.append(f"<p><strong>{_e(title)}:</strong> "
                 + (_e("; ".join(items)) if items else "none") + "</p>")
    h.append("</section>")
    h.append('<section id="metrics"><h2>Key metrics</h2><table><thead><tr><th>Metric</th>'
             f"<th>{_e(facts['quarter'])}</th><th>{_e(facts['previous_quarter'])}</th>"
             "<th>Trend</th><th>Targets</th></tr></thead><tbody>")
    for m in facts["key_metrics"]:
        targets = ", ".join(f"L{k}: {v}" for k, v in m["targets"].items())
        h.append(f"<tr><td>{_e(m['title'])}</td><td>{_e(m['shown'])}</td>"
                 f"<td>{_e(m['previous_shown'])}</td><td>{_e(m['arrow'] or NO_DATA)}</td>"
                 f"<td>{_e(targets)}</td></tr>")
    h.append("</tbody></table>")
    if facts["outcomes"]:
        h.append(f"<p>Outcome metrics against {_e(facts['previous_quarter'])}:</p>"
                 + _ul([_e(_outcome_text(o)) for o in facts["outcomes"]]))
    h.append("</section>")
    lines = _adversary_lines(facts)
    h.append('<section id="adversaries"><h2>Checks against the programme\'s adversaries</h2>'
             + _ul([(f'<span class="warn">{_e(x)}</span>'
                     if x.startswith(("Security theatre:", "Over-investment")) else _e(x))
                    for x in lines]) + "</section>")
    h.append('<section id="weak"><h2>What is still weak</h2><p><strong>Areas for attention '
             "(level 2 or below):</strong> "
             + _e(", ".join(_name(d) for d in facts["attention"]) or "none") + "</p>")
    h.append(_ul([f"<strong>{_e(_name(d['domain']))}</strong> to level {d['next_level']}: "
                  + _e("; ".join(_gap_text(g) for g in d["gaps"]))
                  for d in facts["domains"] if d["gaps"]]))
    if facts["stale_evidence"]:
        h.append("<p>Stale evidence (no longer counts): " + _e("; ".join(
            f"{_name(k)}: {', '.join(v)}" for k, v in facts["stale_evidence"].items()))
            + "</p>")
    h.append("</section>")
    h.append('<section id="priorities"><h2>Next quarter\'s priorities</h2>')
    if not facts["priorities"]:
        h.append("<p>Every domain with a target is at it.</p>")
    else:
        h.append("<ol>")
        for p in facts["priorities"]:
            steps = [_e(_step_text(s)) for s in p.get("playbook_steps", [])]
            steps += [_e(_gap_text(s)) for s in p["steps"]]
            steps += [_e(f"Next action: {a}") for a in p["next_actions"]]
            h.append(f"<li><strong>Advance {_e(_name(p['domain']))} from level {p['from']} "
                     f"to {p['to']}</strong> (target {_e(p['target'])}, owner: "
                     f"{_e(p['owner'] or 'no owner')})" + (_ul(steps) if steps else "")
                     + "</li>")
        h.append("</ol>")
    h.append("</section>")
    h.append('<section id="owners"><h2>Who owns it</h2><table><thead><tr><th>Domain</th>'
             "<th>Owner</th><th>Target</th><th>Blockers</th></tr></thead><tbody>")
    for d in facts["domains"]:
        h.append(f"<tr><td>{_e(_name(d['domain']))}</td><td>{_e(d['owner'] or 'no owner')}"
                 f"</td><td>{_e(_level(d['target']))}</td>"
                 f"<td>{_e('; '.join(d['blockers']) or 'none')}</td></tr>")
    h.append("</tbody></table></section>")
    h.append('<section id="roadmap"><h2>12-month roadmap</h2>')
    if not facts["roadmap"]:
        h.append("<p>No domain is below its target.</p>")
    else:
        h.append(_ul([_e(f"{_name(r['domain'])}: " + ", ".join(
            f"level {s['level']} by {s['quarter']}" for s in r["plan"])
            + (" (target beyond 12 months)" if r["beyond_12_months"] else ""))
            for r in facts["roadmap"]]))
    h.append("</section>")
    if facts.get("notes"):
        h.append(f'<section id="notes"><h2>Review notes</h2><p>{_e(facts["notes"])}</p>'
                 "</section>")
    h.append("</body></html>")
    return "\n".join(h) + "\n"


# -- plain text ---------------------------------------------------------------------------


def _heading(title: str) -> list[str]:
    return ["", title.upper(), "=" * len(title)]


def render_text(facts: dict[str, Any]) -> str:
    """The report as plain text for a terminal or an e-mail body (same sections)."""
    out = [_title(facts), _status_line(facts)]
    out += _heading("Where we are")
    out.append(f"Overall score: {_overall(facts)}")
    for d in facts["domains"]:
        level = f"{d['level']} ({d['level_name']})" + (" provisional" if d["provisional"]
                                                        else "")
        out.append(f"  {_name(d['domain']):<26} level {level:<16} previous "
                   f"{_level(d['previous']):<8} {CHANGE_MARK[d['change']]:<4} target "
                   f"{_level(d['target'])}, gap {_level(d['gap'])}")
    out += _heading("What changed since " + facts["previous_quarter"])
    for title, items in _changes(facts):
        out.append(f"{title}: " + ("; ".join(items) if items else "none"))
    out += _heading("Key metrics")
    for m in facts["key_metrics"]:
        targets = ", ".join(f"L{k}: {v}" for k, v in m["targets"].items())
        out.append(f"  {m['title']}: {m['shown']} ({facts['previous_quarter']}: "
                   f"{m['previous_shown']}), trend {m['arrow'] or NO_DATA}; targets {targets}")
    out += [f"  Outcome: {_outcome_text(o)}" for o in facts["outcomes"]]
    out += _heading("Checks against the programme's adversaries")
    out += [f"  - {line}" for line in _adversary_lines(facts)]
    out += _heading("What is still weak")
    out.append("Areas for attention (level 2 or below): "
               + (", ".join(_name(d) for d in facts["attention"]) or "none"))
    for d in facts["domains"]:
        if d["gaps"]:
            out.append(f"  - {_name(d['domain'])} to level {d['next_level']}: "
                       + "; ".join(_gap_text(g) for g in d["gaps"]))
    if facts["stale_evidence"]:
        out.append("Stale evidence (no longer counts): " + "; ".join(
            f"{_name(k)}: {', '.join(v)}" for k, v in facts["stale_evidence"].items()))
    out += _heading("Next quarter's priorities")
    if not facts["priorities"]:
        out.append("Every domain with a target is at it.")
    for index, p in enumerate(facts["priorities"], start=1):
        out.append(f"{index}. Advance {_name(p['domain'])} from level {p['from']} to "
                   f"{p['to']} (target {p['target']}, owner: {p['owner'] or 'no owner'})")
        out += [f"   - {_step_text(s)}" for s in p.get("playbook_steps", [])]
        out += [f"   - {_gap_text(s)}" for s in p["steps"]]
        out += [f"   - Next action: {a}" for a in p["next_actions"]]
    out += _heading("Who owns it")
    for d in facts["domains"]:
        out.append(f"  {_name(d['domain'])}: {d['owner'] or 'no owner'}; target "
                   f"{_level(d['target'])}; blockers: {'; '.join(d['blockers']) or 'none'}")
    out += _heading("12-month roadmap")
    if not facts["roadmap"]:
        out.append("No domain is below its target.")
    for r in facts["roadmap"]:
        steps = ", ".join(f"level {s['level']} by {s['quarter']}" for s in r["plan"])
        more = " (target beyond 12 months)" if r["beyond_12_months"] else ""
        out.append(f"  {_name(r['domain'])}: {steps}{more}")
    out += _heading("Levels by quarter")
    quarters = facts["heatmap"]["quarters"]
    out.append(f"  {'':<26} " + " ".join(f"{q:<8}" for q in quarters))
    for domain, row in facts["heatmap"]["levels"].items():
        out.append(f"  {_name(domain):<26} " + " ".join(f"{_level(row[q]):<8}"
                                                        for q in quarters))
    if facts.get("notes"):
        out += _heading("Review notes")
        out.append(facts["notes"])
    return "\n".join(line.rstrip() for line in out) + "\n"
