"""Recorded quarterly reviews: frozen content, immutability and --supersede, refusals,
the last-review timestamp, and the ``review`` commands end to end."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from exporter.cli import main
from exporter.maturity.model import DOMAINS, parse_assessments
from exporter.review import (
    ReviewExists,
    current_reviews,
    get_review,
    last_recorded_review,
    list_reviews,
    record_review,
    review_content,
    review_problems,
    with_recorded_reviews,
)
from exporter.store import MIGRATIONS, Store
from tests.test_maturity_support import NOW, default_rules, derived, model

CRITICAL_MTTR = "vulnerability_mttr_days{severity=critical}"


def owners_doc(**overrides: object) -> dict:
    """An assessments document with an owner and target for every domain."""
    domains = {d: {"owner": f"Owner of {d}", "target_level": 3} for d in DOMAINS}
    domains["vulnerability_management"].update(
        evidence=[{"id": "nightly-scans", "text": "Nightly scans", "date": "2026-11-01",
                   "reviewer": "Jonas Weber"}],
        attestations={"scheduled_scans": ["nightly-scans"]},
        blockers=["Legacy framework"], next_actions=["Upgrade the framework"])
    doc = {"version": 1, "organisation": "Acme", "domains": domains}
    doc.update(overrides)
    return doc


def _content(doc: dict | None = None, *, notes: str | None = "Q4 review",
             at: datetime = NOW, tmp: Path | None = None) -> dict:
    from exporter.assess import assess

    m = model(doc or owners_doc())
    data = derived({CRITICAL_MTTR: 2.5, "vulnerability_sla_compliance_pct{severity=critical}": 95},
                   {CRITICAL_MTTR: 4.0})
    assessment = assess(data, m, {}, NOW)
    return review_content(assessment, m, data, notes=notes, recorded_at=at)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def test_the_migration_adds_a_reviews_table_to_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    before = next(i for i, step in enumerate(MIGRATIONS) if "CREATE TABLE reviews" in step)
    for step in MIGRATIONS[:before]:  # a store from before the reviews table
        for statement in step.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {before}")
    db.commit()
    db.close()
    s = Store(path)
    assert s.schema_version == len(MIGRATIONS)
    assert list_reviews(s) == []
    s.close()


def test_content_freezes_levels_criteria_evidence_owners_and_digests() -> None:
    content = _content()
    assert content["quarter"] == "2026-Q4" and content["notes"] == "Q4 review"
    assert content["recorded_at"] == "2026-11-23T12:00:00Z"
    vm = content["domains"]["vulnerability_management"]
    assert vm["owner"] == "Owner of vulnerability_management" and vm["target_level"] == 3
    assert vm["blockers"] == ["Legacy framework"]
    assert vm["next_actions"] == ["Upgrade the framework"]
    scans = next(c for c in vm["criteria"] if c["id"] == "scheduled_scans")
    assert scans["status"] == "met"
    assert scans["evidence"][0]["reviewer"] == "Jonas Weber"
    assert scans["evidence"][0]["date"] == "2026-11-01T00:00:00Z"
    mttr = next(c for c in vm["criteria"] if c.get("metric") == "vulnerability_mttr_days"
                and c["kind"] == "threshold")
    assert mttr["measured"] == 2.5
    assert content["key_metrics"]["critical_mttr_days"]["value"] == 2.5
    assert content["key_metrics"]["critical_sla_compliance"]["value"] == 95.0
    assert content["key_metrics"]["incidents_detected_within_4h"]["value"] is None
    assert content["previous_key_metrics"]["critical_mttr_days"]["value"] == 4.0
    from importlib import resources
    bundled = resources.files("exporter.maturity").joinpath("default_rules.yaml").read_bytes()
    assert content["inputs"]["rules_digest"] == "sha256:" + hashlib.sha256(bundled).hexdigest()
    json.dumps(content)  # storable as is


def test_a_quarter_is_never_overwritten_silently(store: Store) -> None:
    first = record_review(store, _content(notes="first"))
    with pytest.raises(ReviewExists, match="--supersede"):
        record_review(store, _content(notes="second"))
    assert [r.content["notes"] for r in list_reviews(store)] == ["first"]
    second = record_review(store, _content(notes="second", at=NOW + timedelta(hours=1)),
                           supersede=True)
    rows = list_reviews(store)
    assert [(r.id, r.superseded_by, r.content["notes"]) for r in rows] == [
        (first.id, second.id, "first"), (second.id, None, "second")]
    assert get_review(store, "2026-Q4").content["notes"] == "second"
    assert set(current_reviews(store)) == {"2026-Q4"}


def test_reviews_refused_without_assessments_or_with_a_domain_without_owner() -> None:
    assert review_problems(model(None))[0].startswith("no assessments file")
    doc = owners_doc()
    doc["domains"]["supply_chain"]["owner"] = None
    del doc["domains"]["security_culture"]
    problems = review_problems(model(doc))
    assert len(problems) == 2
    assert "domain supply_chain has no owner" in problems[0]
    assert "domain security_culture has no owner" in problems[1]
    assert review_problems(model(owners_doc())) == []


def test_last_review_timestamp_comes_from_recorded_reviews(store: Store) -> None:
    from exporter.assess import assess

    doc = owners_doc(review={"last_completed": "2026-10-01"})
    m = model(doc)
    assessment = assess(derived({}), m, {}, NOW)
    imported = datetime(2026, 10, 1, tzinfo=UTC)
    assert with_recorded_reviews(assessment, store).last_review == imported  # the import
    record_review(store, _content(doc, at=NOW))
    assert last_recorded_review(store) == NOW
    updated = with_recorded_reviews(assessment, store)
    assert updated.last_review == NOW
    samples = {s.value for f in updated.families()
               if f.name == "devsecops_maturity_last_review_timestamp_seconds"
               for s in f.samples}
    assert samples == {NOW.timestamp()}
    # A later date in the file (a review imported after the record) still wins.
    later = assess(derived({}), model(owners_doc(review={"last_completed": "2026-11-30"})),
                   {}, NOW + timedelta(days=10))
    assert with_recorded_reviews(later, store).last_review == datetime(2026, 11, 30, tzinfo=UTC)


# -- the commands -------------------------------------------------------------------------


def write_config(tmp_path: Path, doc: dict | None = None) -> Path:
    """A config on a small findings file and an assessments file, store in tmp_path."""
    now = datetime.now(UTC)
    findings = [{"id": f"F{i}", "severity": "critical", "state": "fixed",
                 "opened_at": (now - timedelta(days=d + 3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "resolved_at": (now - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                for i, d in enumerate((1, 2, 120, 130))]
    (tmp_path / "findings.json").write_text(json.dumps({"findings": findings}))
    (tmp_path / "assessments.yaml").write_text(yaml.safe_dump(doc or owners_doc()))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "store": {"path": str(tmp_path / "store.db")},
        "maturity": {"assessments": str(tmp_path / "assessments.yaml")},
        "collectors": [{"name": "demo", "type": "file",
                        "config": {"files": [{"path": str(tmp_path / "findings.json")}]}}],
    }))
    assert main(["collect", "--once", "--config", str(config),
                 "--output", str(tmp_path / "m.prom")]) == 0
    return config


def test_review_commands_record_list_show_and_supersede(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    assert main(["review", "record", "--config", config, "--notes", "with the CISO"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recorded review #1 of ")
    quarter = out.split(" of ")[1].split(":")[0]
    assert main(["review", "record", "--config", config]) == 2
    assert "already has a recorded review (#1" in capsys.readouterr().err
    assert main(["review", "record", "--config", config, "--supersede", "--notes", "again"]) == 0
    capsys.readouterr()
    assert main(["review", "list", "--config", config]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"#1 {quarter}") and "superseded by #2" in listed[0]
    assert "with the CISO" in listed[0]
    assert listed[1].startswith(f"#2 {quarter}") and "current" in listed[1]
    assert main(["review", "show", quarter, "--config", config]) == 0
    shown = capsys.readouterr().out
    assert "Review #2" in shown and "Notes: again" in shown
    assert "evidence nightly-scans: 2026-11-01T00:00:00Z, reviewer Jonas Weber" in shown
    assert "Earlier records of this quarter (superseded, kept): #1" in shown
    assert "Rules: <bundled default_rules.yaml> sha256:" in shown
    assert main(["review", "show", quarter, "--json", "--config", config]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["superseded"][0]["content"]["notes"] == "with the CISO"
    assert main(["review", "show", "1999-Q1", "--config", config]) == 2
    assert "no review of 1999-Q1" in capsys.readouterr().err


def test_review_record_refuses_a_domain_without_owner_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = owners_doc()
    doc["domains"]["incident_response"]["owner"] = None
    config = str(write_config(tmp_path, doc))
    assert main(["review", "record", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "cannot record the review: domain incident_response has no owner" in err
    s = Store(tmp_path / "store.db")
    assert list_reviews(s) == []
    s.close()


def test_review_record_refuses_invalid_assessments_and_another_quarter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["review", "record", "--config", str(config), "--quarter", "2001-Q1"]) == 2
    assert "only the current quarter" in capsys.readouterr().err
    bad = owners_doc()
    bad["domains"]["secure_development"]["attestations"] = {"no_such_criterion": ["x"]}
    (tmp_path / "assessments.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(SystemExit) as exited:
        main(["review", "record", "--config", str(config)])
    assert exited.value.code == 2
    assert "no criterion 'no_such_criterion'" in capsys.readouterr().err
    s = Store(tmp_path / "store.db")
    assert list_reviews(s) == []
    s.close()


def test_owners_doc_is_valid_for_the_bundled_rules() -> None:
    parse_assessments(yaml.safe_dump(owners_doc()), "owners.yaml", default_rules())


def test_the_published_last_review_time_is_the_recorded_review(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))  # the assessments file has no last_completed
    assert main(["review", "record", "--config", config]) == 0
    s = Store(tmp_path / "store.db")
    recorded = last_recorded_review(s)
    s.close()
    assert main(["collect", "--once", "--config", config,
                 "--output", str(tmp_path / "after.prom")]) == 0
    lines = [line for line in (tmp_path / "after.prom").read_text().splitlines()
             if line.startswith("devsecops_maturity_last_review_timestamp_seconds")]
    assert [float(line.split()[-1]) for line in lines] == [recorded.timestamp()]
