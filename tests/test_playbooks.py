"""Level-up playbooks: the bundled file, validation with file/line/key, and their use in
the report's priorities and the backlog (a step is done when its criterion is met)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from exporter.maturity.model import DOMAINS, MaturityConfigError, parse_rules
from exporter.maturity.playbooks import (
    TRANSITIONS,
    load_playbooks,
    parse_playbooks,
    playbook_json,
)
from exporter.report import render
from exporter.report.exports import backlog_items
from exporter.report.facts import build_facts
from tests.test_maturity_config import VALID_LEVELS, _rules_text
from tests.test_maturity_support import default_rules
from tests.test_report import make_content


def test_bundled_playbooks_cover_every_domain_and_step_with_step6_verbatim() -> None:
    playbooks, source = load_playbooks(None, default_rules())
    assert source == "<bundled default_playbooks.yaml>"
    assert set(playbooks.domains) == set(DOMAINS)
    for domain in DOMAINS:
        assert tuple(playbooks.domains[domain]) == TRANSITIONS, domain
        for steps in playbooks.domains[domain].values():
            assert steps and all(s.action and s.effort_estimate for s in steps)
    first = playbooks.steps("secure_development", 2)[0]
    assert (first.action, first.tool_options, first.success_criterion, first.criterion,
            first.effort_estimate) == ("Enable SAST on all production repositories",
                                       ["Semgrep", "CodeQL", "Snyk Code"],
                                       "100% of production repos with SAST gate",
                                       "sast_all_repos", "2-4 weeks")
    dast = playbooks.steps("secure_development", 3)[1]
    assert (dast.action, dast.criterion, dast.effort_estimate) == (
        "Add DAST to integration test pipeline", None, "4-8 weeks")


BAD = """version: 1
domains:
  secure_development:
    from_2_to_3:
      - action: Enable SAST
        success_criterion: all repos
        criterion: no_such_criterion
        effort_estimate: 2 weeks
      - action: Missing effort
        success_criterion: x
  nonsense_domain:
    from_1_to_2: []
"""


def test_invalid_playbooks_name_file_line_and_key() -> None:
    with pytest.raises(MaturityConfigError) as caught:
        parse_playbooks(BAD, "pb.yaml", default_rules())
    assert caught.value.problems == [
        "pb.yaml:9: domains.secure_development.from_2_to_3[1].effort_estimate: "
        "Field required"]
    fixed = BAD.replace("        success_criterion: x\n",
                        "        success_criterion: x\n        effort_estimate: 1d\n")
    fixed = fixed.replace("from_1_to_2: []", "from_1_to_3: []")
    with pytest.raises(MaturityConfigError) as caught:
        parse_playbooks(fixed, "pb.yaml", default_rules())
    assert caught.value.problems == [
        "pb.yaml:7: domains.secure_development.from_2_to_3[0].criterion: no criterion "
        "'no_such_criterion' in domain secure_development of the rules file",
        "pb.yaml:12: domains.nonsense_domain: unknown domain 'nonsense_domain'; the domains "
        "are: " + ", ".join(DOMAINS)]
    bad_step = "version: 1\ndomains:\n  supply_chain:\n    from_5_to_6: []\n"
    with pytest.raises(MaturityConfigError) as caught:
        parse_playbooks(bad_step, "pb.yaml", default_rules())
    assert caught.value.problems == [
        "pb.yaml:4: domains.supply_chain.from_5_to_6: 'from_5_to_6' is not a step: use one "
        "of " + ", ".join(TRANSITIONS)]


def test_check_config_fails_on_an_invalid_playbooks_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from exporter.cli import main
    from tests.test_review import write_config

    config = write_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    pb = tmp_path / "pb.yaml"
    pb.write_text(BAD.replace("        success_criterion: x\n",
                              "        success_criterion: x\n        effort_estimate: 1d\n"))
    data["maturity"]["playbooks"] = str(pb)
    config.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{pb}:7: domains.secure_development.from_2_to_3[0].criterion: no criterion " \
           "'no_such_criterion'" in err


def _content_with_playbooks() -> dict:
    playbooks, _ = load_playbooks(None, default_rules())
    content = make_content()
    for domain, entry in content["domains"].items():
        criteria = list(entry["criteria"])
        if domain == "incident_response":  # level 1: the 1->2 step's criterion is met
            criteria.append({"id": "mttd_under_48h", "status": "met"})
        entry["playbook"] = playbook_json(playbooks, domain, entry["level"], criteria)
    return content


def test_priorities_and_backlog_use_the_open_playbook_steps() -> None:
    f = build_facts(_content_with_playbooks())
    first = f["priorities"][0]
    assert first["domain"] == "incident_response"
    assert first["playbook_steps"] == []  # its only 1->2 step is met from data
    secure = next(p for p in f["priorities"] if p["domain"] == "secure_development")
    assert [(s["action"], s["done"], s["effort_estimate"]) for s in secure["playbook_steps"]] \
        == [("Enable SAST on all production repositories", False, "2-4 weeks"),
            ("Enable SCA for dependency scanning on all repos", False, "1-2 weeks"),
            ("Define and enforce remediation SLAs", False,
             "1 week for policy; ongoing enforcement")]
    md = render(f, "markdown").decode()
    assert ("   - Playbook: Enable SAST on all production repositories — done when: 100% of "
            "production repos with SAST gate [sast_all_repos]; effort: 2-4 weeks; tools: "
            "Semgrep, CodeQL, Snyk Code") in md
    items = [i for i in backlog_items(f) if i["kind"] == "playbook_step"]
    # every domain below 5 has open steps except incident response (done from data)
    assert {i["domain"] for i in items} == set(DOMAINS) - {"incident_response"}
    rows = list(csv.DictReader(io.StringIO(render(f, "backlog-csv").decode())))
    sast = next(r for r in rows if r["Summary"] == "[secure_development] Level 3: Enable SAST "
                "on all production repositories")
    assert (sast["Effort"], sast["Criterion"], sast["Metric"], sast["Level"]) == (
        "2-4 weeks", "sast_all_repos", 'devsecops_maturity_criterion_met{criterion='
        '"sast_all_repos"}', "3")
    assert "Tool options: Semgrep, CodeQL, Snyk Code." in sast["Description"]
    dast_free = next(r for r in rows if "Define and enforce remediation SLAs" in r["Summary"])
    assert dast_free["Metric"] == 'devsecops_maturity_level{domain="secure_development"}'
    assert all(r["Effort"] for r in rows if r["Summary"] in {i["title"] for i in items})


def test_a_level_5_domain_has_no_steps() -> None:
    playbooks, _ = load_playbooks(None, default_rules())
    assert playbook_json(playbooks, "supply_chain", 5, []) == []
    assert playbook_json(None, "supply_chain", 2, []) == []


def test_the_bundled_playbooks_under_an_operators_own_rules_keep_their_steps_unlinked() -> None:
    """An operator's rules file without the bundled criterion ids must not fail a config
    they wrote no playbook for; an explicitly configured playbook stays strict."""
    rules = parse_rules(_rules_text(VALID_LEVELS), "own-rules.yaml")  # ids a2, a3, ...
    bundled, _ = load_playbooks(None, rules)
    steps = [step for domain in DOMAINS for level in range(1, 5)
             for step in bundled.steps(domain, level)]
    assert len(steps) == 44 and all(step.criterion is None for step in steps)
    assert load_playbooks(None, default_rules())[0].steps(
        "vulnerability_management", 1)[0].criterion == "findings_tracked"
    text = (Path(__file__).resolve().parent.parent / "exporter" / "maturity"
            / "default_playbooks.yaml").read_text()
    with pytest.raises(MaturityConfigError, match="no criterion 'sla_tracked_critical'"):
        parse_playbooks(text, "mine.yaml", rules)
