"""Reconstructed snapshots give the previous quarter's coverage, marked as such (issue 10 b).

A collector that rebuilds an earlier state from the source's own history (GitHub: SAST
coverage at the previous quarter's end from code scanning analyses' dates) writes dated
Repository snapshots with ``reconstructed`` set. Derivation names the values resting on
them; the maturity engine and ``explain`` say "reconstructed from <source> history";
live stored history still wins, and then nothing is "reconstructed".
"""

from __future__ import annotations

import json
from datetime import timedelta

from exporter.maturity.engine import assess
from exporter.maturity.explain import explain_json, explain_text
from tests.builders import NOW, Q4_START, derive_records, repo
from tests.test_maturity_support import model

Q3, Q4 = "2026-Q3", "2026-Q4"
END_OF_Q3 = Q4_START - timedelta(seconds=1)
SAST = ("sast_coverage_pct", ())
SAST_RATIO = ("devsecops_repository_coverage_ratio", (("setting", "sast"),))


def records(*, api_then: bool = True, web_then: bool = True) -> list:
    """Two repositories fully covered now; at the end of Q3 as reconstructed."""
    return [
        repo("api", sast_enabled=True, review_gate_tier=3),
        repo("web", sast_enabled=True, review_gate_tier=3),
        repo("api", sast_enabled=api_then, observed_at=END_OF_Q3, reconstructed=True),
        repo("web", sast_enabled=web_then, observed_at=END_OF_Q3, reconstructed=True),
    ]


def test_reconstructed_rows_give_the_previous_quarters_sast_coverage_and_are_marked() -> None:
    derived = derive_records(repositories=records(web_then=False))
    q3, q4 = derived.by_quarter[Q3], derived.by_quarter[Q4]
    assert q3.get("sast_coverage_pct") == 50 and q4.get("sast_coverage_pct") == 100
    assert q3.reconstructed[SAST] == frozenset({"test"})  # the rows' source
    assert q3.reconstructed[SAST_RATIO] == frozenset({"test"})
    # The rows say nothing else about then: no review gate share for Q3, nothing marked.
    assert q3.get("devsecops_repository_coverage_ratio", setting="review_gate") is None
    assert all(k[1] != (("setting", "review_gate"),) for k in q3.reconstructed)
    assert q4.reconstructed == {}


def test_observed_snapshots_are_not_marked() -> None:
    derived = derive_records(repositories=[
        repo("api", sast_enabled=True), repo("api", sast_enabled=False, observed_at=END_OF_Q3)])
    assert derived.by_quarter[Q3].get("sast_coverage_pct") == 0
    assert derived.by_quarter[Q3].reconstructed == {}


def test_live_history_wins_over_reconstructed_rows_and_is_not_marked() -> None:
    derived = derive_records(repositories=records(web_then=False),
                             history={Q3: {SAST: 40.0}})
    q3 = derived.by_quarter[Q3]
    assert q3.get("sast_coverage_pct") == 40 and SAST not in q3.reconstructed
    assert SAST_RATIO in q3.reconstructed  # history lacked it: still from the snapshots


def test_explain_says_which_previous_quarter_values_were_reconstructed() -> None:
    derived = derive_records(repositories=records(web_then=False))
    assessment = assess(derived, model(), {}, NOW)
    previous = assessment.domains["secure_development"].previous
    assert previous is not None and previous.source == "recomputed"
    marked = {c.id: c.reconstructed for c in previous.criteria if c.reconstructed}
    assert marked == {"sast_some_repos": ("test",), "sast_all_repos": ("test",)}
    text = explain_text(assessment, "secure_development")
    line = next(x for x in text.splitlines() if x.startswith(f"  {Q3}: level"))
    assert "[recomputed]" in line
    assert line.endswith("; reconstructed from test history: sast_some_repos, sast_all_repos")
    data = json.loads(json.dumps(explain_json(assessment, "secure_development")))
    domain = data["domains"]["secure_development"]
    assert domain["previous"]["reconstructed"] == [
        {"criterion": "sast_some_repos", "metric": "sast_coverage_pct", "from": ["test"]},
        {"criterion": "sast_all_repos", "metric": "sast_coverage_pct", "from": ["test"]},
    ]
    # The current quarter was observed: its criteria are not marked.
    assert all(c["reconstructed_from"] == [] for c in domain["criteria"])


def test_explain_says_nothing_reconstructed_when_history_gave_the_value() -> None:
    derived = derive_records(repositories=records(), history={Q3: {SAST: 40.0}})
    text = explain_text(assess(derived, model(), {}, NOW), "secure_development")
    assert "reconstructed" not in text
