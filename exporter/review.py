"""Recorded quarterly reviews: frozen content in the store, read back, never overwritten.

Why a record at all: the assessment the exporter shows is recomputed from the data on
every run, so what the review meeting saw would be lost as soon as the data moves on.
``review record`` freezes it: per domain the level, each criterion's result and
measured value, the evidence counted (dates and reviewers), owners, targets, blockers,
next actions, the key metrics, and digests of the rules and assessments files, so a
later reader can tell which inputs the levels rested on.

A quarter recorded twice keeps both rows: the later one supersedes the earlier one
(``superseded_by``), which stays readable. Nothing here updates or deletes content.

The time of the latest recorded review is what
``devsecops_maturity_last_review_timestamp_seconds`` reports
(:func:`with_recorded_reviews`); the assessments file's ``review.last_completed`` stays
accepted as an import of reviews held before the tool recorded them, and the later of
the two wins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exporter.maturity.explain import explain_json
from exporter.maturity.model import DEFAULT_RULES, DOMAINS
from exporter.maturity.playbooks import playbook_json

if TYPE_CHECKING:
    from exporter.derive import Derived
    from exporter.maturity.engine import Assessment, MaturityModel
    from exporter.store import Store

CONTENT_VERSION = 1

# The Step 7 key metrics: (name in the report, metric, labels, unit).
KEY_METRICS: tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...] = (
    ("critical_mttr_days", "vulnerability_mttr_days", (("severity", "critical"),), "days"),
    ("incidents_detected_within_4h", "devsecops_incidents_detected_within_ratio",
     (("within", "4h"),), "ratio"),
    ("monitoring_coverage", "devsecops_telemetry_coverage_ratio", (), "ratio"),
    ("critical_sla_compliance", "vulnerability_sla_compliance_pct",
     (("severity", "critical"),), "pct"),
    # Step 5 outcome metrics with level targets: breach impact and exposure window.
    ("mttc_hours", "security_incident_mttc_hours", (), "hours"),
    ("critical_exposure_window", "devsecops_vulnerability_exposure_window_seconds",
     (("severity", "critical"),), "seconds"),
)


class ReviewError(Exception):
    """A review that cannot be recorded or read; the message says what to do."""


class ReviewExists(ReviewError):
    """The quarter already has a current review and ``supersede`` was not asked for."""


@dataclass(frozen=True)
class ReviewRecord:
    id: int
    quarter: str
    recorded_at: datetime
    superseded_by: int | None
    content: dict[str, Any]

    @property
    def current(self) -> bool:
        return self.superseded_by is None


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digests(model: MaturityModel) -> dict[str, Any]:
    """Digests of the rules and assessments files the assessment rests on."""
    if model.rules_source.startswith("<bundled"):
        rules = resources.files("exporter.maturity").joinpath(DEFAULT_RULES).read_bytes()
    else:
        rules = Path(model.rules_source).read_bytes()
    out: dict[str, Any] = {"rules_file": model.rules_source, "rules_digest": _digest(rules),
                           "assessments_file": model.assessments_source,
                           "assessments_digest": None}
    if model.assessments_source is not None:
        out["assessments_digest"] = _digest(Path(model.assessments_source).read_bytes())
    return out


def key_metrics(derived: Derived | None, quarter: str) -> dict[str, Any]:
    """The Step 7 key metrics for ``quarter``; a metric without data is ``None``."""
    values = {}
    if derived is not None and quarter in derived.by_quarter:
        values = derived.by_quarter[quarter].values
    return {name: {"metric": metric, "labels": dict(labels), "unit": unit,
                   "value": values.get((metric, tuple(sorted(labels))))}
            for name, metric, labels, unit in KEY_METRICS}


def review_problems(model: MaturityModel) -> list[str]:
    """Why a review cannot be recorded from this model (empty when it can).

    A review without an assessments file, or with a domain nobody owns, is the
    model's "Ownership unclear" failure mode: it would freeze a picture nobody answers
    for, so it is refused rather than recorded with a gap.
    """
    if model.assessments is None:
        return ["no assessments file is configured (maturity.assessments): a review records "
                "owners, targets and evidence from it"]
    missing = [d for d in DOMAINS
               if d not in model.assessments.domains or not model.assessments.domains[d].owner]
    if missing:
        return [f"domain {d} has no owner in {model.assessments_source}: assign a named "
                f"owner (domains.{d}.owner) before recording the review" for d in missing]
    return []


def review_content(assessment: Assessment, model: MaturityModel, derived: Derived | None,
                   *, notes: str | None, recorded_at: datetime) -> dict[str, Any]:
    """The frozen content of a review: the explanation plus key metrics and digests."""
    content = explain_json(assessment)
    content.update(
        content_version=CONTENT_VERSION,
        recorded_at=recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        notes=notes,
        key_metrics=key_metrics(derived, assessment.current_quarter),
        previous_key_metrics=key_metrics(derived, assessment.previous_quarter),
        inputs=file_digests(model),
    )
    # The next step's playbook is frozen with the review: what was agreed to do next.
    for entry in content["domains"].values():
        entry["playbook"] = playbook_json(model.playbooks, entry["domain"], entry["level"],
                                          entry.get("criteria", []))
    return content


def _row(row: tuple[Any, ...]) -> ReviewRecord:
    return ReviewRecord(id=row[0], quarter=row[1],
                        recorded_at=datetime.fromtimestamp(row[2], UTC),
                        superseded_by=row[3], content=json.loads(row[4]))


_COLUMNS = "id, quarter, recorded_at, superseded_by, content"


def record_review(store: Store, content: dict[str, Any], *, supersede: bool = False
                  ) -> ReviewRecord:
    """Insert a review; with ``supersede``, mark the quarter's current one superseded.

    One transaction, so two people recording at once cannot both become current.
    """
    quarter = content["quarter"]
    recorded_at = datetime.strptime(content["recorded_at"], "%Y-%m-%dT%H:%M:%SZ")
    stamp = recorded_at.replace(tzinfo=UTC).timestamp()
    with store._transaction() as db:
        existing = db.execute(
            "SELECT id, recorded_at FROM reviews WHERE quarter = ? AND superseded_by IS NULL",
            (quarter,)).fetchone()
        if existing is not None and not supersede:
            when = datetime.fromtimestamp(existing[1], UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise ReviewExists(
                f"{quarter} already has a recorded review (#{existing[0]}, {when}); "
                "record it again with --supersede (the earlier record stays readable)")
        cursor = db.execute(
            "INSERT INTO reviews (quarter, recorded_at, superseded_by, content) "
            "VALUES (?, ?, NULL, ?)",
            (quarter, stamp, json.dumps(content, sort_keys=True, ensure_ascii=False)))
        new_id = int(cursor.lastrowid or 0)
        if existing is not None:
            db.execute("UPDATE reviews SET superseded_by = ? WHERE id = ?",
                       (new_id, existing[0]))
    return ReviewRecord(new_id, quarter, recorded_at.replace(tzinfo=UTC), None, content)


def list_reviews(store: Store) -> list[ReviewRecord]:
    """Every recorded review, oldest first, superseded ones included."""
    rows = store._connect().execute(
        f"SELECT {_COLUMNS} FROM reviews ORDER BY quarter, id").fetchall()  # noqa: S608
    return [_row(r) for r in rows]


def get_review(store: Store, quarter: str) -> ReviewRecord | None:
    """The quarter's current review (the latest record), or None."""
    row = store._connect().execute(
        f"SELECT {_COLUMNS} FROM reviews WHERE quarter = ? "  # noqa: S608
        "AND superseded_by IS NULL", (quarter,)).fetchone()
    return None if row is None else _row(row)


def current_reviews(store: Store) -> dict[str, ReviewRecord]:
    """``{quarter: current review}`` for every recorded quarter."""
    return {r.quarter: r for r in list_reviews(store) if r.current}


def last_recorded_review(store: Store) -> datetime | None:
    """When the latest review was recorded (any quarter), or None."""
    row = store._connect().execute("SELECT MAX(recorded_at) FROM reviews").fetchone()
    return None if row is None or row[0] is None else datetime.fromtimestamp(row[0], UTC)


def with_recorded_reviews(assessment: Assessment, store: Store) -> Assessment:
    """The assessment with ``last_review`` the later of the file's date and the store's.

    The file's ``review.last_completed`` imports reviews held before the tool recorded
    them; a recorded review is the authority from then on.
    """
    recorded = last_recorded_review(store)
    if recorded is None:
        return assessment
    if assessment.last_review is not None and assessment.last_review >= recorded:
        return assessment
    return dataclasses.replace(assessment, last_review=recorded)


# -- reading back -------------------------------------------------------------------------


def list_text(records: list[ReviewRecord]) -> str:
    """One line per recorded review, for ``review list``."""
    if not records:
        return "no reviews recorded yet (record one with: devsecops-exporter review record)"
    lines = []
    for r in records:
        state = "current" if r.current else f"superseded by #{r.superseded_by}"
        average = r.content.get("programme", {}).get("average_level")
        notes = r.content.get("notes")
        lines.append(f"#{r.id} {r.quarter} recorded {r.recorded_at:%Y-%m-%d %H:%M} UTC, "
                     f"{state}, average level {average}"
                     + (f" — {notes}" if notes else ""))
    return "\n".join(lines)


def show_text(record: ReviewRecord, earlier: list[ReviewRecord]) -> str:
    """The frozen content of one review as text, for ``review show``."""
    c = record.content
    p = c["programme"]
    lines = [f"Review #{record.id} of {record.quarter}, recorded "
             f"{record.recorded_at:%Y-%m-%d %H:%M} UTC (data as of {c.get('as_of')})"]
    if c.get("notes"):
        lines.append(f"Notes: {c['notes']}")
    inputs = c.get("inputs", {})
    lines.append(f"Rules: {inputs.get('rules_file')} {inputs.get('rules_digest')}")
    lines.append(f"Assessments: {inputs.get('assessments_file')} "
                 f"{inputs.get('assessments_digest')}")
    lines.append(f"Programme: average {p['average_level']}, minimum {p['minimum_level']}, "
                 f"spread {p['spread']}; {p['recommendation']}")
    for name, metric in c.get("key_metrics", {}).items():
        value = metric.get("value")
        lines.append(f"  {name}: {'no data' if value is None else f'{value:.4g}'}")
    for domain in [name for name in DOMAINS if name in c["domains"]]:
        d = c["domains"][domain]
        lines.append("")
        lines.append(f"{domain}: level {d['level']} ({d['level_name']})"
                     + (", provisional" if d.get("provisional") else "")
                     + f"; owner {d.get('owner') or 'none'}; target "
                     f"{d.get('target_level') if d.get('target_level') is not None else 'none'}")
        for crit in d["criteria"]:
            measured = crit.get("measured")
            value = "" if crit["basis"] != "measurement" else (
                " measured " + ("no data" if measured is None else f"{measured:.4g}"))
            lines.append(f"  L{crit['level']} [{crit['status']}] {crit['id']}{value}: "
                         f"{crit['reason']}")
        for e in d.get("evidence", []):
            counted = "counts" if e.get("counts") else ("stale" if e.get("stale") else "future")
            lines.append(f"  evidence {e.get('id') or e.get('text')}: {e.get('date')}, "
                         f"reviewer {e.get('reviewer') or 'none'}, {counted}")
        for title, key in (("blocker", "blockers"), ("next action", "next_actions")):
            lines.extend(f"  {title}: {item}" for item in d.get(key, []))
    if earlier:
        lines.append("")
        lines.append("Earlier records of this quarter (superseded, kept): " + ", ".join(
            f"#{r.id} of {r.recorded_at:%Y-%m-%d %H:%M} UTC" for r in earlier))
    return "\n".join(lines)


def quarter_records(store: Store, quarter: str) -> list[ReviewRecord]:
    """Every record of ``quarter``, oldest first."""
    return [r for r in list_reviews(store) if r.quarter == quarter]
