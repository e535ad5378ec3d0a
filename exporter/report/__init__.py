"""The quarterly report: facts from the store and the assessment, rendered for people.

``gather(store, content)`` turns a review's content (recorded, or built from the live
assessment by :func:`exporter.review.review_content`) into the report's facts, adding
the previous quarter's recorded review and the stored per-quarter levels;
``render(facts, fmt)`` produces the bytes of one format. No API is called here: the
report is computed from the store alone.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from exporter.maturity.engine import DETERMINED_KEY, LEVEL_METRIC
from exporter.report.exports import backlog_csv, backlog_json, dsomm_yaml
from exporter.report.facts import build_facts
from exporter.report.pdf import PdfError, html_to_pdf
from exporter.report.render import render_html, render_markdown, render_text
from exporter.review import current_reviews

if TYPE_CHECKING:
    from exporter.store import Store

FORMATS = ("html", "markdown", "md", "text", "pdf", "json", "backlog-csv", "backlog-json", "dsomm")

__all__ = ["FORMATS", "PdfError", "build_facts", "gather", "render", "stored_levels"]


def stored_levels(store: Store) -> dict[str, dict[str, int]]:
    """``{quarter: {domain: level}}`` from the store's history, determined levels only."""
    out: dict[str, dict[str, int]] = {}
    for quarter, values in store.quarter_values().items():
        for (metric, labels), value in values.items():
            if metric != LEVEL_METRIC:
                continue
            if values.get((DETERMINED_KEY, labels), 1.0) < 1.0:
                continue
            domain = dict(labels).get("domain")
            if domain:
                out.setdefault(quarter, {})[domain] = int(value)
    return out


def gather(store: Store, content: dict[str, Any],
           recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's facts for ``content`` with history from the store."""
    reviews = current_reviews(store)
    history = stored_levels(store)
    for quarter, review in reviews.items():  # a recorded level is what was signed off
        history[quarter] = {d: e["level"] for d, e in review.content["domains"].items()}
    previous = reviews.get(content["previous_quarter"])
    history = {q: v for q, v in history.items() if q <= content["quarter"]}
    return build_facts(content, previous_review=previous.content if previous else None,
                       history=history, recorded=recorded)


def render(facts: dict[str, Any], fmt: str, *, team: str = "Default",
           paper: str = "a4") -> bytes:
    """One format's bytes (raises PdfError for ``pdf`` without Chromium).

    ``team`` is the DSOMM team the ``dsomm`` export records progress for; ``paper``
    (``a4`` or ``letter``) the page size HTML prints to and PDF is printed on.
    """
    if fmt == "html":
        return render_html(facts, paper).encode("utf-8")
    if fmt in ("markdown", "md"):
        return render_markdown(facts).encode("utf-8")
    if fmt == "text":
        return render_text(facts).encode("utf-8")
    if fmt == "pdf":
        return html_to_pdf(render_html(facts, paper))
    if fmt == "json":
        return (json.dumps(facts, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if fmt == "backlog-csv":
        return backlog_csv(facts).encode("utf-8")
    if fmt == "backlog-json":
        return backlog_json(facts).encode("utf-8")
    if fmt == "dsomm":
        return dsomm_yaml(facts, team).encode("utf-8")
    raise ValueError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
