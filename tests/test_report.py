"""The quarterly report: facts section by section on a fixed dataset, Markdown and HTML
content, the exports (backlog CSV/JSON, DSOMM), the ``report`` command, and the HTML
in a real headless Chromium (screenshot, no horizontal overflow, PDF page count and
text)."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import subprocess
import zlib
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from exporter.cli import main
from exporter.maturity.model import DOMAINS, LEVEL_NAMES
from exporter.report import render, stored_levels
from exporter.report.exports import CSV_COLUMNS, DSOMM_DONE, DSOMM_MAPPING, backlog_items
from exporter.report.facts import build_facts, next_quarter
from exporter.report.pdf import chromium_command
from tests.tools import require_tool

# Current and previous levels of the fixed dataset: two improve, one declines, one is
# new (no level last quarter), the rest stay.
LEVELS = {"vulnerability_management": 4, "secure_development": 2, "identity_access": 2,
          "incident_response": 1, "cloud_infrastructure": 3, "supply_chain": 2,
          "observability_detection": 3, "security_culture": 1}
PREVIOUS = {"vulnerability_management": 3, "secure_development": 2, "identity_access": None,
            "incident_response": 1, "cloud_infrastructure": 4, "supply_chain": 1,
            "observability_detection": 3, "security_culture": 1}
TARGETS = {"vulnerability_management": 4, "secure_development": 4, "identity_access": 3,
           "incident_response": 4, "cloud_infrastructure": 3, "supply_chain": 3,
           "observability_detection": 4, "security_culture": 3}


def _criterion(domain: str, level: int, status: str, *, measured: float | None = None,
               basis: str = "measurement") -> dict:
    out = {"id": f"{domain[:4]}_l{level}", "level": level, "basis": basis,
           "kind": "threshold" if basis == "measurement" else "attestation",
           "indicator": f"Level {level} indicator of {domain}", "status": status,
           "reason": "r", "requirement": ">= 1" if basis == "measurement" else "attested"}
    if basis == "measurement":
        out.update(metric="sast_coverage_pct", labels={}, measured=measured, op=">=",
                   threshold=1)
    return out


def make_content(levels=LEVELS, previous=PREVIOUS, *, theatre: bool | None = False,
                 metrics: dict | None = None, previous_metrics: dict | None = None) -> dict:
    domains = {}
    for d in DOMAINS:
        level = levels[d]
        nxt = level + 1 if level < 5 else None
        missing = []
        if nxt:
            missing = [_criterion(d, nxt, "not_met", measured=0.5),
                       _criterion(d, nxt, "unknown")]
            if d == "security_culture":
                missing = [_criterion(d, nxt, "not_met", basis="attestation")]
        prev = previous[d]
        domains[d] = {
            "domain": d, "level": level, "level_name": LEVEL_NAMES[level],
            "provisional": False,
            "previous": None if prev is None else {"quarter": "2026-Q3", "level": prev,
                                                   "determined": True, "source": "history"},
            "owner": f"Owner {d}", "target_level": TARGETS[d],
            "blockers": [f"Blocker of {d}"], "next_actions": [f"Action for {d}"],
            "next_level": None if nxt is None else {"level": nxt, "name": LEVEL_NAMES[nxt],
                                                    "met": 0, "total": 2,
                                                    "missing": missing},
            "criteria": missing,
            "evidence": ([{"id": "old-proof", "stale": True, "reviewer": "Secret Person"}]
                         if d == "identity_access" else []),
        }
    metrics = metrics or {}
    previous_metrics = previous_metrics or {}

    def km(values: dict) -> dict:
        units = {"critical_mttr_days": "days", "incidents_detected_within_4h": "ratio",
                 "monitoring_coverage": "ratio", "critical_sla_compliance": "pct"}
        return {k: {"value": values.get(k), "unit": u, "metric": k, "labels": {}}
                for k, u in units.items()}

    return {"quarter": "2026-Q4", "previous_quarter": "2026-Q3",
            "as_of": "2026-11-23T12:00:00Z", "organisation": "Acme", "notes": "Review notes",
            "programme": {"outcomes_disconnected": theatre, "levels_rose": True,
                          "recommendation": "Balanced programme — advance all domains.",
                          "outcomes": [{"id": "mttd", "indicator": "MTTD", "current": None,
                                        "previous": 3.0, "status": "unknown"}]},
            "key_metrics": km(metrics), "previous_key_metrics": km(previous_metrics),
            "domains": domains}


def facts(**kwargs) -> dict:
    return build_facts(make_content(**kwargs),
                       history={"2026-Q2": {"vulnerability_management": 2}})


# -- facts --------------------------------------------------------------------------------


def test_where_we_are_and_what_changed() -> None:
    f = facts()
    assert f["overall"] == 2.2  # 18 / 8 = 2.25 -> 2.2 (round half to even)
    assert f["improved"] == ["vulnerability_management", "supply_chain"]
    assert f["declined"] == ["cloud_infrastructure"]
    assert f["new"] == ["identity_access"]  # absent last quarter: new, not "improved from 0"
    assert f["unchanged"] == ["secure_development", "incident_response",
                              "observability_detection", "security_culture"]
    assert f["attention"] == ["secure_development", "identity_access", "incident_response",
                              "supply_chain", "security_culture"]
    by = {d["domain"]: d for d in f["domains"]}
    assert by["vulnerability_management"]["gap"] == 0
    assert by["incident_response"]["gap"] == 3
    assert by["identity_access"]["previous"] is None


def test_a_recorded_previous_review_is_the_previous_level() -> None:
    previous = make_content(levels={**LEVELS, "security_culture": 2})
    f = build_facts(make_content(), previous_review=previous)
    assert "security_culture" in f["declined"]
    assert "identity_access" not in f["new"]  # the recorded review had it at 2


def test_key_metrics_arrows_and_no_data() -> None:
    f = facts(metrics={"critical_mttr_days": 2.5, "critical_sla_compliance": 95.0,
                       "monitoring_coverage": 0.8},
              previous_metrics={"critical_mttr_days": 4.0, "critical_sla_compliance": 97.0})
    by = {m["name"]: m for m in f["key_metrics"]}
    assert (by["critical_mttr_days"]["shown"], by["critical_mttr_days"]["arrow"]) == (
        "2.5 days", "▼ better")
    assert by["critical_sla_compliance"]["arrow"] == "▼ worse"
    assert (by["monitoring_coverage"]["shown"], by["monitoring_coverage"]["arrow"]) == ("80%", "")
    assert by["incidents_detected_within_4h"]["shown"] == "no data"
    assert by["incidents_detected_within_4h"]["previous_shown"] == "no data"


def test_adversaries() -> None:
    f = facts(theatre=True)
    assert f["adversaries"] == {"security_theatre": True, "levels_rose": True,
                                "imbalanced": True}  # 4 - 1 = 3 > 2
    md = render(f, "markdown").decode()
    assert "Security theatre: levels rose since 2026-Q3 but no outcome metric improved" in md
    assert "domain levels are 3 apart" in md
    assert "Security theatre check: no data" in render(facts(theatre=None), "md").decode()


def test_priorities_are_the_domains_furthest_below_target_with_their_next_steps() -> None:
    f = facts()
    assert [(p["domain"], p["from"], p["to"], p["gap"]) for p in f["priorities"]] == [
        ("incident_response", 1, 2, 3), ("security_culture", 1, 2, 2),
        ("secure_development", 2, 3, 2)]  # equal gaps: the lower level first
    first = f["priorities"][0]
    assert [s["criterion"] for s in first["steps"]] == ["inci_l2", "inci_l2"]
    assert first["next_actions"] == ["Action for incident_response"]
    road = {r["domain"]: r["plan"] for r in f["roadmap"]}
    assert road["incident_response"] == [{"quarter": "2027-Q1", "level": 2},
                                         {"quarter": "2027-Q2", "level": 3},
                                         {"quarter": "2027-Q3", "level": 4}]
    assert "vulnerability_management" not in road
    assert next_quarter("2026-Q4", 4) == "2027-Q4"


def test_heatmap_stale_evidence_and_no_personal_data_beyond_owners() -> None:
    f = facts()
    assert f["heatmap"]["quarters"] == ["2026-Q2", "2026-Q3", "2026-Q4"]
    assert f["heatmap"]["levels"]["vulnerability_management"] == {
        "2026-Q2": 2, "2026-Q3": 3, "2026-Q4": 4}
    assert f["heatmap"]["levels"]["identity_access"]["2026-Q2"] is None
    assert f["stale_evidence"] == {"identity_access": ["old-proof"]}
    for fmt in ("markdown", "html", "json", "backlog-csv"):
        assert "Secret Person" not in render(f, fmt).decode()


def test_a_quarter_without_collected_data_says_so() -> None:
    content = make_content()
    for entry in content["domains"].values():
        for criterion in entry["criteria"]:
            criterion["measured"] = None
    md = render(build_facts(content), "markdown").decode()
    assert "No measured data for 2026-Q4 yet (nothing collected)" in md
    assert "nothing collected" not in render(facts(), "markdown").decode()


def test_markdown_sections_and_no_data() -> None:
    md = render(facts(), "markdown").decode()
    for heading in ("## Where we are", "## What changed since 2026-Q3", "## Key metrics",
                    "## What is still weak", "## Next quarter's priorities", "## Who owns it",
                    "## 12-month roadmap", "## Levels by quarter"):
        assert heading in md
    assert "**Overall score: 2.2 / 5.0**" in md
    assert "| identity access | 2 (Developing) | no data | new | 3 | 1 |" in md
    assert "**Improvements:** vulnerability management: 3 → 4; supply chain: 1 → 2" in md
    assert "**Regressions:** cloud infrastructure: 4 → 3" in md
    assert "| Security incidents detected within 4 hours | no data | no data | no data |" in md
    assert "1. **Advance incident response from level 1 to 2** (target 4, owner: Owner " \
           "incident_response)" in md
    assert "measured: no data" in md and "measured: 0.5" in md
    assert "| 0 |" not in md.split("## Key metrics")[1].split("##")[0]


class _Svg(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_with_both_charts_one_mark_per_domain() -> None:
    html = render(facts(), "html").decode()
    parser = _Svg()
    parser.feed(html)
    parser.close()
    svgs = [a.get("class") for t, a in parser.tags if t == "svg"]
    assert svgs == ["chart radar", "chart heatmap"]
    marks = [a for t, a in parser.tags if t == "circle"]
    for series in ("current", "target"):
        assert sorted(a["data-domain"] for a in marks
                      if a["class"] == f"mark mark-{series}") == sorted(DOMAINS)
    assert len([a for a in marks if a["class"] == "mark mark-previous"]) == 7  # one is new
    cells = [a for t, a in parser.tags if t == "rect" and a.get("class") == "cell"]
    assert len(cells) == 8 * 3
    assert {a["data-domain"] for a in cells} == set(DOMAINS)
    assert "<script" not in html.lower()
    for t, a in parser.tags:
        assert not any(k in ("src", "href") for k in a), (t, a)
    assert "url(" not in html and "@import" not in html
    assert "@page" in html and "@media print" in html


# -- exports ------------------------------------------------------------------------------


def test_backlog_csv_imports_into_jira_and_json_lists_the_same_items() -> None:
    f = facts()
    rows = list(csv.reader(io.StringIO(render(f, "backlog-csv").decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0][:5] == ["Summary", "Description", "Labels", "Labels", "Assignee"]
    items = backlog_items(f)
    # per domain below level 5: its next level's unmet criteria, plus one next action
    gaps = sum(len(d["gaps"]) for d in f["domains"])
    assert len(items) == gaps + 8 == len(rows) - 1
    first = dict(zip(CSV_COLUMNS, rows[1], strict=False))
    assert first["Summary"] == "[vulnerability_management] Level 5: Level 5 indicator of " \
                               "vulnerability_management"
    assert first["Assignee"] == ""
    assert rows[1][2:4] == ["devsecops-maturity", "vulnerability_management"]
    assert "Owner: Owner vulnerability_management." in first["Description"]
    assert first["Metric"] == "sast_coverage_pct"
    listed = json.loads(render(f, "backlog-json"))
    assert [i["title"] for i in listed] == [r[0] for r in rows[1:]]
    culture = next(i for i in listed if i["domain"] == "security_culture")
    assert culture["metric"] == 'devsecops_maturity_criterion_met{criterion="secu_l2"}'


def test_dsomm_export_has_the_team_progress_shape_dsomm_imports() -> None:
    f = facts()
    text = render(f, "dsomm", team="Team A").decode()
    assert "  85ba5623-84be-4219-8892-808837be582d:  # Usage of a vulnerability management " \
           "system\n    'Team A':\n      'Fully implemented': 2026-11-23\n" in text
    data = yaml.safe_load(text)
    assert list(data) == ["progress"]  # TeamProgressFile: {progress: Progress}
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    # DSOMM 4.x meta.yaml's progress titles.
    titles = {"Not implemented", "Started", "Partly implemented", "Fully implemented"}
    for activity, teams in data["progress"].items():
        assert uuid.match(activity)
        assert list(teams) == ["Team A"]
        assert set(teams["Team A"]) <= titles
        # a YAML date, as DSOMM writes and reads it (its loader makes it a Date)
        assert teams["Team A"][DSOMM_DONE] == date(2026, 11, 23)
    expected = {u for _, _, _, u, domain, minimum in DSOMM_MAPPING
                if LEVELS[domain] >= minimum}
    assert set(data["progress"]) == expected
    # the two vulnerability-management activities at level 3 are done at level 4
    assert "85ba5623-84be-4219-8892-808837be582d" in data["progress"]
    assert "Usage of a vulnerability management system" in text  # mapping in comments
    assert len({m[3] for m in DSOMM_MAPPING}) == len(DSOMM_MAPPING)
    assert {m[4] for m in DSOMM_MAPPING} == set(DOMAINS)


# -- the command --------------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    from tests.test_review import write_config

    config = write_config(tmp_path)
    assert main(["review", "record", "--config", str(config), "--notes", "Signed off"]) == 0
    return config


def test_report_command_writes_every_format_from_the_store(
        recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    for fmt in ("markdown", "text", "html", "json", "backlog-csv", "backlog-json", "dsomm"):
        out = tmp_path / f"r.{fmt}"
        assert main(["report", "--config", str(recorded), "--format", fmt,
                     "--output", str(out)]) == 0, fmt
        assert out.stat().st_size > 100
    assert not list(tmp_path.glob(".r.*.tmp"))  # written atomically
    md = (tmp_path / "r.markdown").read_text()
    assert md.startswith("# Acme — Security Programme Maturity — ")
    assert "Recorded quarterly review #1" in md and "Signed off" in md
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["recorded"]["id"] == 1
    assert [d["owner"] for d in data["domains"]] == [f"Owner of {d}" for d in DOMAINS]
    assert main(["report", "--config", str(recorded), "--format", "md", "--live"]) == 0
    assert "no review of" in capsys.readouterr().out
    assert main(["report", "--config", str(recorded), "--quarter", "2001-Q1"]) == 2
    assert "no review of that quarter is recorded" in capsys.readouterr().err


def test_audit_csv_lists_every_criterion_with_basis_value_and_evidence(
        recorded: Path, tmp_path: Path) -> None:
    from exporter.maturity.model import RULE_LEVELS
    from exporter.report.exports import AUDIT_COLUMNS
    from tests.test_maturity_support import default_rules

    out = tmp_path / "audit.csv"
    assert main(["report", "--config", str(recorded), "--format", "audit-csv",
                 "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == AUDIT_COLUMNS
    rules = default_rules()
    expected = [(d, str(lvl), c.id) for d in DOMAINS for lvl in RULE_LEVELS
                for c in rules.criteria(d, lvl)]
    assert [(r["Domain"], r["Level"], r["Criterion"]) for r in rows] == expected
    scans = next(r for r in rows if r["Criterion"] == "scheduled_scans")
    assert (scans["Basis"], scans["Result"], scans["Evidence ids"], scans["Evidence dates"],
            scans["Evidence reviewers"]) == ("attestation", "met", "nightly-scans",
                                             "2026-11-01", "Jonas Weber")
    measured = [r for r in rows if r["Basis"] == "measurement"]
    assert all(r["Measured"] for r in measured)  # a value or "no data", never blank
    assert any(r["Measured"] == "no data" for r in measured)


def test_report_pdf_without_chromium_says_how_to_install_it(
        recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEVSECOPS_CHROMIUM", "no-such-browser")
    out = tmp_path / "r.pdf"
    assert main(["report", "--config", str(recorded), "--format", "pdf",
                 "--output", str(out)]) == 1
    assert "apt-get install chromium" in capsys.readouterr().err
    assert not out.exists()
    assert main(["report", "--config", str(recorded), "--format", "pdf"]) == 2


def test_stored_levels_read_the_history(recorded: Path) -> None:
    from exporter.store import Store

    store = Store(Path(yaml.safe_load(recorded.read_text())["store"]["path"]))
    levels = stored_levels(store)
    store.close()
    assert levels and all(set(v) <= set(DOMAINS) for v in levels.values())


# -- in a real browser --------------------------------------------------------------------


def _png_colours(data: bytes, rows: range) -> tuple[int, int, set[bytes]]:
    """Width, height and the RGB colours in ``rows`` of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    width = height = bpp = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(min(rows.stop, height)):
        offset = y * (stride + 1)
        kind, line = raw[offset], bytearray(raw[offset + 1:offset + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y >= rows.start:
            colours.update(bytes(line[j:j + 3]) for j in range(0, stride, bpp))
        previous = line
    return width, height, colours


def _demo_facts() -> dict:
    return facts(metrics={"critical_mttr_days": 2.5}, previous_metrics={"critical_mttr_days": 4})


def test_html_in_headless_chromium_renders_charts_without_overflow(tmp_path: Path) -> None:
    browser = require_tool("chromium", "chromium")
    html = render(_demo_facts(), "html").decode()
    page = tmp_path / "report.html"
    page.write_text(html)
    shot = tmp_path / "shot.png"
    base = chromium_command(browser, str(tmp_path / "profile"))
    subprocess.run([*base, "--window-size=1280,1000", "--hide-scrollbars",
                    f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=False)
    width, height, colours = _png_colours(shot.read_bytes(), range(150, 700))
    assert (width, height) == (1280, 1000)
    # heatmap levels 1-4 and the radar's current series are painted
    for hexcode in ("d73027", "fc8d59", "fee08b", "91cf60", "08519c"):
        assert bytes.fromhex(hexcode) in colours, hexcode
    # no horizontal overflow at 1280px: the page's scroll width, measured in the browser
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", "<script>document.body.setAttribute("
                                  "'data-scroll-width', document.documentElement.scrollWidth)"
                                  "</script></body>"))
    dom = subprocess.run([*base, "--window-size=1280,1000", "--dump-dom", probe.as_uri()],
                         capture_output=True, timeout=120, check=False).stdout.decode()
    scroll = int(re.search(r'data-scroll-width="(\d+)"', dom).group(1))
    assert scroll <= 1280


def test_pdf_prints_every_domain_and_headline_number(tmp_path: Path) -> None:
    require_tool("chromium", "chromium")
    pdftotext = require_tool("pdftotext", "poppler-utils")
    pdftoppm = require_tool("pdftoppm", "poppler-utils")
    f = _demo_facts()
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(f, "pdf"))
    text = " ".join(subprocess.run([pdftotext, str(pdf), "-"], capture_output=True,
                                   check=True).stdout.decode().split())
    for domain in DOMAINS:
        assert domain.replace("_", " ") in text, domain
    assert "Overall score: 2.2 / 5.0" in text and "2.5 days" in text and "no data" in text
    assert "Advance incident response from level 1 to 2" in text
    subprocess.run([pdftoppm, "-r", "20", "-png", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 2 <= len(pages) <= 6  # A4 pages; the charts fit the first


def test_pdf_on_letter_paper_has_letter_pages_and_every_domain(tmp_path: Path) -> None:
    require_tool("chromium", "chromium")
    pdftotext = require_tool("pdftotext", "poppler-utils")
    pdfinfo = require_tool("pdfinfo", "poppler-utils")
    f = _demo_facts()
    sizes = {}
    for paper in ("a4", "letter"):
        pdf = tmp_path / f"{paper}.pdf"
        pdf.write_bytes(render(f, "pdf", paper=paper))
        info = subprocess.run([pdfinfo, str(pdf)], capture_output=True, check=True).stdout
        sizes[paper] = tuple(round(float(v)) for v in re.search(
            rb"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
        text = " ".join(subprocess.run([pdftotext, str(pdf), "-"],
                                       capture_output=True, check=True).stdout.decode().split())
        for domain in DOMAINS:
            assert domain.replace("_", " ") in text, (paper, domain)
        assert "Overall score: 2.2 / 5.0" in text and "2.5 days" in text, paper
    # points, rounded: A4 210 x 297 mm = 595 x 842 (Chromium prints 594.96 x 841.92)
    assert sizes == {"a4": (595, 842), "letter": (612, 792)}
    assert 'size: Letter;' in render(f, "html", paper="letter").decode()
    with pytest.raises(ValueError, match="paper must be one of a4, letter"):
        render(f, "html", paper="legal")


def test_docs_list_the_dsomm_mapping() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "report.md").read_text()
    for _dim, _sub, name, uuid, domain, minimum in DSOMM_MAPPING:
        assert f"| {name} | {uuid} | {domain} {minimum} |" in docs, name


def test_text_format_has_every_section_and_no_data() -> None:
    text = render(facts(metrics={"critical_mttr_days": 2.5}), "text").decode()
    assert text.startswith("Acme — Security Programme Maturity — 2026-Q4\n")
    for heading in ("WHERE WE ARE", "WHAT CHANGED SINCE 2026-Q3", "KEY METRICS",
                    "WHAT IS STILL WEAK", "NEXT QUARTER'S PRIORITIES", "WHO OWNS IT",
                    "12-MONTH ROADMAP", "LEVELS BY QUARTER", "REVIEW NOTES"):
        assert f"\n{heading}\n" + "=" * len(heading) + "\n" in text, heading
    assert "Overall score: 2.2 / 5.0\n" in text
    assert "  identity access            level 2 (Developing)   previous no data  new  " \
           "target 3, gap 1\n" in text
    assert "Regressions: cloud infrastructure: 4 → 3\n" in text
    assert "  Mean time to remediate critical vulnerabilities: 2.5 days (2026-Q3: no data), " \
           "trend no data; targets L3: < 30 days, L4: < 7 days, L5: < 3 days\n" in text
    assert "1. Advance incident response from level 1 to 2 (target 4, owner: Owner " \
           "incident_response)\n" in text
    assert "  incident response: level 2 by 2027-Q1, level 3 by 2027-Q2, level 4 by " \
           "2027-Q3\n" in text
    assert "<" not in text.split("KEY METRICS")[0]  # no markup
    assert "**" not in text and "|" not in text and "Secret Person" not in text


def test_step5_mttc_and_exposure_window_targets_are_key_metrics() -> None:
    content = make_content()
    content["key_metrics"]["mttc_hours"] = {"value": 6.0, "unit": "hours"}
    content["previous_key_metrics"]["mttc_hours"] = {"value": 12.0, "unit": "hours"}
    content["key_metrics"]["critical_exposure_window"] = {"value": 9 * 86400.0,
                                                          "unit": "seconds"}
    by = {m["name"]: m for m in build_facts(content)["key_metrics"]}
    assert (by["mttc_hours"]["shown"], by["mttc_hours"]["previous_shown"],
            by["mttc_hours"]["arrow"]) == ("6.0 hours", "12.0 hours", "▼ better")
    assert by["mttc_hours"]["targets"] == {"3": "< 24 hours", "4": "< 4 hours",
                                           "5": "< 1 hour (automated containment)"}
    window = by["critical_exposure_window"]
    assert (window["shown"], window["previous_shown"], window["arrow"]) == (
        "9.0 days", "no data", "")
    assert window["targets"] == {"3": "< 30 days",
                                 "4": "< 7 days internet-facing; < 14 days internal",
                                 "5": "< 3 days for CISA KEV"}
    md = render(build_facts(content), "markdown").decode()
    assert "| Mean time to contain an incident | 6.0 hours | 12.0 hours | ▼ better | L3: < 24 " \
           "hours, L4: < 4 hours, L5: < 1 hour (automated containment) |" in md


def test_key_metrics_read_mttc_and_exposure_window_from_the_derived_values() -> None:
    from types import SimpleNamespace

    from exporter.review import key_metrics

    values = {("security_incident_mttc_hours", ()): 3.5,
              ("devsecops_vulnerability_exposure_window_seconds",
               (("severity", "critical"),)): 172800.0}
    derived = SimpleNamespace(by_quarter={"2026-Q4": SimpleNamespace(values=values)})
    out = key_metrics(derived, "2026-Q4")
    assert (out["mttc_hours"]["value"], out["mttc_hours"]["unit"]) == (3.5, "hours")
    assert out["critical_exposure_window"]["value"] == 172800.0
    assert out["incidents_detected_within_4h"]["value"] is None
