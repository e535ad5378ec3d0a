"""The point-in-time helpers every state family shares (exporter/derive/common.py).

Repositories, identity accounts, applications, privileged assignments, detection rules,
workloads and posture results all take a quarter's state from each record's latest
observation in it, and the previous quarter from live history first; these tests pin
that one rule on plain rows, so each family's own tests can stay about its shares.
"""

from __future__ import annotations

from datetime import timedelta

from exporter.derive.common import (
    DerivationContext,
    MetricSet,
    history_first,
    latest_observations,
    point_in_time_quarters,
)
from exporter.quarters import previous_quarter, quarter_of
from exporter.store import CURRENT_OBSERVATION
from tests.builders import NOW, Q3_START, Q4_START, SETTINGS, at

CURRENT = quarter_of(NOW, 1)
QUARTERS = (previous_quarter(CURRENT, 1), CURRENT)


def row(key: str, observed: float, value: object, source: str = "s") -> tuple:
    """(source, id, observed, value): the leading columns every such family reads."""
    return (source, key, observed, value)


def ts(text: str) -> float:
    return at(text).timestamp()


def test_an_undated_row_is_the_current_state_and_beats_every_dated_one() -> None:
    previous, current = latest_observations([
        row("a", ts("2026-11-23T11:00"), "dated, today"),
        row("a", CURRENT_OBSERVATION, "current"),
        row("b", ts("2026-10-05"), "only dated"),
    ], NOW, QUARTERS)
    assert sorted(current.rows) == [row("a", CURRENT_OBSERVATION, "current"),
                                    row("b", ts("2026-10-05"), "only dated")]
    assert current.at == NOW.timestamp()  # the undated state is as of now
    assert previous.rows == [] and previous.at is None


def test_the_latest_observation_of_each_key_in_each_quarter_counts() -> None:
    previous, current = latest_observations([
        row("a", ts("2026-07-02"), "early Q3"),
        row("a", ts("2026-09-30T23:59"), "late Q3"),
        row("a", ts("2026-08-01"), "mid Q3"),
        row("a", ts("2026-10-02"), "Q4"),
        row("a", ts("2026-08-01"), "other source", source="t"),
    ], NOW, QUARTERS)
    assert sorted(previous.rows) == [row("a", ts("2026-09-30T23:59"), "late Q3"),
                                     row("a", ts("2026-08-01"), "other source", source="t")]
    assert previous.at == ts("2026-09-30T23:59")
    assert current.rows == [row("a", ts("2026-10-02"), "Q4")]
    assert current.at == ts("2026-10-02")  # a dated state is as of its observation


def test_quarter_bounds_are_half_open_and_nothing_is_carried_or_foreseen() -> None:
    previous, current = latest_observations([
        row("start", Q3_START.timestamp(), "first second of Q3"),
        row("end", Q4_START.timestamp(), "first second of Q4"),
        row("old", ts("2026-06-30T23:59"), "Q2: not carried forward"),
        row("future", (NOW + timedelta(seconds=1)).timestamp(), "after now"),
        row("now", NOW.timestamp(), "exactly now counts"),
    ], NOW, QUARTERS)
    assert [r[1] for r in previous.rows] == ["start"]
    assert sorted(r[1] for r in current.rows) == ["end", "now"]


def test_other_columns_can_hold_the_key_and_the_observation() -> None:
    previous, _ = latest_observations(
        [("x", ts("2026-08-01"), 1), ("x", ts("2026-08-02"), 2), ("y", ts("2026-08-01"), 3)],
        NOW, QUARTERS, observed_index=1, key_indexes=(0,))
    assert sorted(previous.rows) == [("x", ts("2026-08-02"), 2), ("y", ts("2026-08-01"), 3)]


def _ctx(history: dict | None = None) -> DerivationContext:
    return DerivationContext(settings=SETTINGS, now=NOW, quarters=QUARTERS,
                             history=history or {})


def test_history_first_keeps_live_values_and_fills_only_the_gaps() -> None:
    derived = MetricSet()
    derived.set("share", 0.1)
    derived.set("other_share", 0.2)
    derived.set("count", 7)
    ctx = _ctx({"2026-Q3": {("share", ()): 0.9, ("not_this_family", ()): 5.0},
                "2026-Q4": {("other_share", ()): 0.5}})
    merged = history_first(derived, ctx, frozenset({"share", "other_share"}))
    assert merged.values == {("share", ()): 0.9, ("other_share", ()): 0.2, ("count", ()): 7}
    assert history_first(MetricSet(), _ctx(), frozenset({"share"})).values == {}


def test_point_in_time_quarters_derives_each_quarter_from_its_latest_state() -> None:
    def share(rows: object) -> MetricSet:
        values = [r[3] for r in rows]  # type: ignore[attr-defined]
        metrics = MetricSet()
        if values:
            metrics.set("share", sum(values) / len(values))
        return metrics

    rows = [row("a", CURRENT_OBSERVATION, 1), row("b", CURRENT_OBSERVATION, 1),
            row("a", ts("2026-08-01"), 0), row("b", ts("2026-08-01"), 1)]
    sets = point_in_time_quarters(rows, _ctx(), share, frozenset({"share"}))
    assert sets["2026-Q4"].get("share") == 1.0
    assert sets["2026-Q3"].get("share") == 0.5
    live = point_in_time_quarters(rows, _ctx({"2026-Q3": {("share", ()): 0.25}}), share,
                                  frozenset({"share"}))
    assert live["2026-Q3"].get("share") == 0.25
    assert point_in_time_quarters(rows[:2], _ctx(), share,
                                  frozenset({"share"}))["2026-Q3"].values == {}
