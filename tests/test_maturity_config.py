"""Invalid rules and assessments files are rejected with clear, located errors."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

from exporter.assess import DOMAINS, MaturityConfigError, load_model
from exporter.config import MaturityConfig
from exporter.maturity.model import parse_assessments, parse_rules
from tests.test_maturity_support import default_rules

FILE = "rules.yaml"


def _rules_text(first_domain_levels: str | None = None, extra: str = "") -> str:
    """A minimal valid rules file; the first domain's ``levels`` block can be replaced."""
    out = ["version: 1", "domains:"]
    for index, domain in enumerate(DOMAINS):
        out.append(f"  {domain}:")
        if index == 0 and first_domain_levels is not None:
            out.append(textwrap.indent(textwrap.dedent(first_domain_levels).strip("\n"),
                                       "    "))
            continue
        out.append("    levels:")
        for level in (2, 3, 4, 5):
            out.append(f"      {level}:")
            out.append(f"        - {{id: a{level}, kind: attestation, indicator: L{level}, "
                       "claim: something}")
    return "\n".join(out) + "\n" + extra


VALID_LEVELS = """
levels:
  2:
    - id: sla
      kind: threshold
      indicator: L2
      metric: vulnerability_sla_compliance_pct
      labels: {severity: critical}
      op: ">"
      value: 90
  3:
    - {id: mttr, kind: trend, indicator: L3, metric: vulnerability_mttr_days,
       labels: {severity: critical}, direction: down}
  4:
    - {id: a4, kind: attestation, indicator: L4, claim: x}
  5:
    - {id: a5, kind: attestation, indicator: L5, claim: x}
"""


def test_minimal_rules_file_is_valid():
    rules = parse_rules(_rules_text(VALID_LEVELS), FILE)
    assert rules.criteria("vulnerability_management", 2)[0].value == 90


def _with(old: str, new: str) -> str:
    text = VALID_LEVELS
    assert old in text
    return text.replace(old, new, 1)


RULE_CASES = [
    ("unknown metric", _with("metric: vulnerability_sla_compliance_pct",
                             "metric: vulnerability_sla_pct"),
     "rules.yaml:9: domains.vulnerability_management.levels.2[0].metric: unknown metric "
     "'vulnerability_sla_pct'"),
    ("missing label", _with("labels: {severity: critical}", "labels: {}"),
     "rules.yaml:10: domains.vulnerability_management.levels.2[0].labels: "
     "vulnerability_sla_compliance_pct needs exactly the labels: severity (got: none)"),
    ("bad label value", _with("labels: {severity: critical}", "labels: {severity: urgent}"),
     "rules.yaml:10: domains.vulnerability_management.levels.2[0].labels.severity: 'urgent' "
     "is not a severity; use one of: critical, high, medium, low"),
    ("unknown operator", _with('op: ">"', 'op: "=>"'),
     "rules.yaml:11: domains.vulnerability_management.levels.2[0].op: Input should be '<', "
     "'<=', '>', '>=', '==' or '!='"),
    ("threshold not a number", _with("value: 90", "value: ninety"),
     "rules.yaml:12: domains.vulnerability_management.levels.2[0].value: Value error, must be "
     "a number, not str 'ninety'"),
    ("threshold as a string", _with("value: 90", 'value: "90"'),
     "rules.yaml:12: domains.vulnerability_management.levels.2[0].value: Value error, must be "
     "a number, not str '90'"),
    ("threshold missing", _with("      value: 90\n", ""),
     "rules.yaml:6: domains.vulnerability_management.levels.2[0].value: Field required"),
    ("unknown kind", _with("kind: threshold", "kind: thresold"),
     "rules.yaml:6: domains.vulnerability_management.levels.2[0]: kind must be one of "
     "threshold, trend, attestation"),
    ("missing kind", _with("      kind: threshold\n", ""),
     "rules.yaml:6: domains.vulnerability_management.levels.2[0]: missing key 'kind'"),
    ("typo in a key", _with("indicator: L2", "indicater: L2"),
     "rules.yaml:8: domains.vulnerability_management.levels.2[0].indicater: unknown key"),
    ("bad trend direction", _with("direction: down", "direction: sideways"),
     "domains.vulnerability_management.levels.3[0].direction: Input should be 'down' or 'up'"),
    ("bad criterion id", _with("id: sla", "id: SLA-critical"),
     "rules.yaml:6: domains.vulnerability_management.levels.2[0].id: Value error, "
     "'SLA-critical' must be lowercase"),
    ("duplicate id", _with("id: mttr", "id: sla"),
     "domains.vulnerability_management.levels.3[0].id: duplicate criterion id 'sla'"),
    ("level 1 has rules", VALID_LEVELS.replace("  2:\n", "  1:\n", 1),
     "rules.yaml:5: domains.vulnerability_management.levels.1: level 1 is not allowed: rules "
     "name levels 2-5"),
    ("level without criteria", _with("  5:\n    - {id: a5, kind: attestation, indicator: L5, "
                                     "claim: x}", "  5: []"),
     "domains.vulnerability_management.levels: level 5 has no criteria"),
]


@pytest.mark.parametrize(("name", "levels", "expected"), RULE_CASES,
                         ids=[c[0] for c in RULE_CASES])
def test_invalid_rules_name_file_line_key_and_reason(name, levels, expected):
    with pytest.raises(MaturityConfigError) as info:
        parse_rules(_rules_text(levels), FILE)
    assert any(expected in p for p in info.value.problems), info.value.problems
    assert all(p.startswith(FILE) for p in info.value.problems)


def test_unknown_and_missing_domains_are_errors():
    text = _rules_text().replace("  security_culture:", "  security_cultur:")
    with pytest.raises(MaturityConfigError) as info:
        parse_rules(text, FILE)
    problems = info.value.problems
    line = text.splitlines().index("  security_cultur:") + 1
    assert f"rules.yaml:{line}: domains.security_cultur: unknown domain 'security_cultur'" \
        in problems[0]
    assert "domain 'security_culture' is missing (all eight are required)" in problems[1]


def test_every_problem_is_reported_at_once():
    text = _rules_text(_with("metric: vulnerability_sla_compliance_pct", "metric: nope")
                       .replace("metric: vulnerability_mttr_days", "metric: nope2"))
    with pytest.raises(MaturityConfigError) as info:
        parse_rules(text, FILE)
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 1\ndomains: [\n", "rules.yaml:3: malformed YAML"),
    ("- just\n- a list\n", "rules.yaml: the rules file must be a YAML mapping"),
    ("version: 2\ndomains: {}\n", "rules.yaml:1: version: Input should be 1"),
    ("domains: {}\n", "rules.yaml:1: version: Field required"),
    ("version: 1\ndomains: {}\noutcomes:\n  - {id: x, indicator: y, metric: sast_coverage_pct,"
     " better: sideways}\n", "rules.yaml:4: outcomes[0].better: Input should be 'lower' or "
     "'higher'"),
])
def test_malformed_rules_files(text, expected):
    with pytest.raises(MaturityConfigError) as info:
        parse_rules(text, FILE)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_unreadable_rules_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(MaturityConfigError, match=r"nope\.yaml: cannot read the rules file"):
        load_model(MaturityConfig(rules=missing))


def test_a_rules_file_from_disk_replaces_the_default(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(_rules_text(VALID_LEVELS), encoding="utf-8")
    model = load_model(MaturityConfig(rules=path))
    assert model.rules_source == str(path)
    assert model.rules.criteria("identity_access", 2)[0].id == "a2"


# -- assessments --------------------------------------------------------------------------

ASSESSMENT = """\
version: 1
review:
  last_completed: 2026-10-14
domains:
  incident_response:
    owner: Sam
    target_level: 3
    evidence:
      - id: plan
        text: IR plan approved
        date: -30d
    attestations:
      ir_process_defined: [plan]
"""


def test_valid_assessments_file():
    parsed = parse_assessments(ASSESSMENT, "a.yaml", default_rules())
    entry = parsed.domains["incident_response"]
    assert entry.attestations == {"ir_process_defined": ["plan"]}
    assert entry.evidence[0].date.offset == timedelta(days=30)
    assert parsed.review.last_completed.absolute == datetime(2026, 10, 14, tzinfo=UTC)


ASSESSMENT_CASES = [
    ("unknown domain", ("incident_response:", "incidents:"),
     "a.yaml:5: domains.incidents: unknown domain 'incidents'"),
    ("unknown criterion", ("ir_process_defined:", "ir_process_written:"),
     "a.yaml:13: domains.incident_response.attestations.ir_process_written: no criterion "
     "'ir_process_written' in domain incident_response; attestable criteria: "
     "full_kill_chain_detection, ir_process_defined, playbooks_top5, quarterly_tabletops"),
    ("undefined evidence", ("[plan]", "[plan, wiki]"),
     "a.yaml:13: domains.incident_response.attestations.ir_process_defined: evidence id 'wiki' "
     "is not defined in domains.incident_response.evidence (defined: plan)"),
    ("no evidence named", ("[plan]", "[]"),
     "attestations.ir_process_defined: an attestation must name at least one evidence id"),
    ("bad date", ("date: -30d", "date: last month"),
     "a.yaml:11: domains.incident_response.evidence[0].date: Value error, 'last month' is not "
     "a date"),
    ("bad relative date", ("date: -30d", "date: -30x"),
     "domains.incident_response.evidence[0].date: Value error, invalid duration '30x'"),
    ("target out of range", ("target_level: 3", "target_level: 6"),
     "a.yaml:7: domains.incident_response.target_level: Input should be less than or equal "
     "to 5"),
    ("evidence without text or link", ("        text: IR plan approved\n", ""),
     "a.yaml:9: domains.incident_response.evidence[0]: Value error, an evidence item needs a "
     "text or a link"),
    ("unknown key", ("owner: Sam", "owners: Sam"),
     "a.yaml:6: domains.incident_response.owners: unknown key"),
    ("bad review date", ("last_completed: 2026-10-14", "last_completed: soon"),
     "a.yaml:3: review.last_completed: Value error, 'soon' is not a date"),
]


@pytest.mark.parametrize(("name", "change", "expected"), ASSESSMENT_CASES,
                         ids=[c[0] for c in ASSESSMENT_CASES])
def test_invalid_assessments_name_file_line_key_and_reason(name, change, expected):
    old, new = change
    assert old in ASSESSMENT
    with pytest.raises(MaturityConfigError) as info:
        parse_assessments(ASSESSMENT.replace(old, new, 1), "a.yaml", default_rules())
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_a_measured_criterion_cannot_be_attested():
    # Claiming a measured criterion by paperwork is the theatre adversary; refuse it.
    text = ASSESSMENT.replace("ir_process_defined:", "mttd_under_4h:")
    with pytest.raises(MaturityConfigError) as info:
        parse_assessments(text, "a.yaml", default_rules())
    assert info.value.problems == [
        "a.yaml:13: domains.incident_response.attestations.mttd_under_4h: criterion "
        "'mttd_under_4h' is measured (threshold on security_incident_mttd_hours); only "
        "attestation criteria can be attested"]


# -- hostile files: the strict loader (collectors.yamlsafe) ----------------------------------

HOSTILE_CASES = [
    ("latin-1 byte", b"version: 1\ndomains: {caf\xe9: {}}\n",
     ":2: the {what} is not valid UTF-8 (byte 0xe9); save it as UTF-8"),
    ("UTF-16", "version: 1\n".encode("utf-16"), ": the {what} is UTF-16 encoded"),
    ("UTF-16 without BOM", "version: 1\n".encode("utf-16-le"), ":1: the {what} contains NUL"),
    ("500 levels deep", b"version: 1\ndomains: " + b"[" * 500 + b"]" * 500 + b"\n",
     ":2: nested deeper than 64 levels"),
    ("recursive alias", b"version: 1\ndomains: &d {x: *d}\n", ":2: recursive alias *d"),
    ("YAML bomb", b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + b"".join(f"a{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 10)}]\n"
                .encode() for i in range(1, 8)),
     "aliases stand for more than 10000 nodes"),
    ("duplicate key", b"version: 1\ndomains: {}\nversion: 1\n",
     ":3: duplicate key 'version' (first at line 1)"),
    ("yes as a key", b"version: 1\ndomains:\n  yes: {}\n", ":3: key yes was read as a boolean"),
    ("impossible date", b"version: 1\nreview: {last_completed: 2026-02-30}\n",
     ":2: cannot read '2026-02-30' as timestamp"),
    ("5000 digits", b"version: " + b"1" * 5000 + b"\n", ":1: cannot read '111"),
]


@pytest.mark.parametrize(("name", "data", "expected"), HOSTILE_CASES,
                         ids=[c[0] for c in HOSTILE_CASES])
@pytest.mark.parametrize("which", ["rules", "assessments"])
def test_hostile_rules_and_assessments_files_are_maturity_config_errors(
        tmp_path, which, name, data, expected):
    # Each of these was a traceback (UnicodeDecodeError, RecursionError, ValueError) or,
    # for the bomb, minutes and gigabytes; reload crashed instead of keeping the model.
    path = tmp_path / f"{which}.yaml"
    path.write_bytes(data)
    config = MaturityConfig(**{which: path})
    started = time.monotonic()
    with pytest.raises(MaturityConfigError) as info:
        load_model(config)
    assert time.monotonic() - started < 5
    [problem] = info.value.problems
    what = "rules file" if which == "rules" else "assessments file"
    assert problem.startswith(str(path)), problem
    assert expected.format(what=what) in problem, problem


def test_a_rules_file_over_10_mib_is_refused(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_bytes(_rules_text(VALID_LEVELS).encode() + b"#" * (10 * 1024 * 1024))
    with pytest.raises(MaturityConfigError) as info:
        load_model(MaturityConfig(rules=path))
    assert info.value.problems == [f"{path}: the rules file is larger than 10 MiB, the limit "
                                   "for it"]


def test_a_directory_as_rules_file_is_a_clear_error(tmp_path):
    with pytest.raises(MaturityConfigError) as info:
        load_model(MaturityConfig(rules=tmp_path))
    [problem] = info.value.problems
    assert problem.startswith(f"{tmp_path}: cannot read the rules file: ")


def test_rules_and_assessments_with_a_utf8_bom_load(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"\xef\xbb\xbf" + _rules_text(VALID_LEVELS).encode())
    assessments = tmp_path / "a.yaml"
    assessments.write_bytes(b"\xef\xbb\xbfversion: 1\norganisation: Acme\n")
    model = load_model(MaturityConfig(rules=rules, assessments=assessments))
    assert model.assessments.organisation == "Acme"


def test_aliases_within_the_bound_still_work_and_errors_keep_their_lines():
    text = _rules_text(VALID_LEVELS).replace(
        "  identity_access:\n    levels:\n      2:\n",
        "  identity_access:\n    levels:\n      2: &two\n", 1)
    text = text.replace("  supply_chain:\n    levels:\n      2:\n        - {id: a2, kind: "
                        "attestation, indicator: L2, claim: something}\n",
                        "  supply_chain:\n    levels:\n      2: *two\n", 1)
    rules = parse_rules(text, FILE)
    assert rules.criteria("supply_chain", 2)[0].id == "a2"
    broken = text.replace("version: 1", "version: 2")
    with pytest.raises(MaturityConfigError) as info:
        parse_rules(broken, FILE)
    assert info.value.problems == ["rules.yaml:1: version: Input should be 1"]


@pytest.mark.parametrize(("text", "expected"), [
    (ASSESSMENT.replace("date: -30d", "date: -" + "9" * 400 + "d"),
     "domains.incident_response.evidence[0].date: Value error, duration '999"),
    (ASSESSMENT.replace("date: -30d", "date: -999999999d"),
     "domains.incident_response.evidence[0].date: Value error, duration '999999999d' is too "
     "long"),
], ids=["400-digit-offset", "million-days-offset"])
def test_relative_dates_past_100_years_are_errors(text, expected):
    # -999999999d overflowed timedelta: an OverflowError, not a validation error.
    with pytest.raises(MaturityConfigError) as info:
        parse_assessments(text, "a.yaml", default_rules())
    assert any(expected in p for p in info.value.problems), info.value.problems
