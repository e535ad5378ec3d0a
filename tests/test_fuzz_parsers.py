"""Property-based fuzzing of every API response parser and every file loader (issue 11).

The harness itself is the package tests/fuzz/ (core, api, worlds, loaders, registry);
this module holds the tests and the pinned examples of every defect found.

Black-box: each target is driven through its public entry point only.

* API collectors (``collect(ctx)`` through respx): a small, deterministic fake of the
  vendor API, built from the fixture builders the collector's own tests use, answers
  every request. A baseline run records each distinct response (a *slot*: "page 2 of the
  incidents listing", "the token response"); an example then replaces one slot's body by
  (a) arbitrary JSON, (b) the valid body with one value replaced by arbitrary JSON (or a
  key deleted), or (c) the valid body cut at an arbitrary byte.
  Properties: the run returns a :class:`CollectionResult` whose records pass their
  dataclass validation (which refuses text the store cannot encode) and carry values of
  their declared types, or raises
  :class:`CollectorError`, nothing else; a 2xx JSON body cut short is a
  ``malformed_response``; and where the collector promises that a bad record is skipped
  and counted (its docstring), a bad value inside one item of an intact page costs at
  most that item's records, every other record is returned unchanged, and a lost
  record is counted in ``record_errors``.
* Loaders: ``load_config`` on mutated copies of config.example.yaml (as shipped and with
  every source block enabled) and the end-to-end fixture config; the maturity rules and
  assessments files through ``exporter.maturity.load.load_model``; the file collector on
  mutated demo data; the Prowler and scanner-report collectors on their test fixtures
  (one file mutated: one value, text edits, or the whole file; properties: a result,
  the other files still read, valid records, and a failed Prowler file withholds
  completeness). Properties: success or the loader's documented error
  (``ConfigError``, ``MaturityConfigError``; the file collector: a result whose good
  files are intact), never another exception and never the loader's last-resort
  "cannot validate" catch-all (that means an unexpected exception was reached inside),
  within a hard per-example time limit.

Profiles (env ``FUZZ_PROFILE``): ``ci`` (default; few examples, derandomized so CI is
stable) and ``long`` (thousands, used by benchmarks/fuzz_bench.py); ``FUZZ_EXAMPLES``
overrides the example count. Every defect found keeps its exact input and the outcome
it must have now (``REGRESSIONS``, run by ``test_pinned`` and first by its target); an
open one (``DEFECTS``) marks its tests xfail(strict=True) naming it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.base import CollectionResult, ErrorKind
from collectors.records import RecordKind
from tests.fuzz.api import ApiExample, judge_api
from tests.fuzz.core import (
    DELETE,
    NOW,
    PROFILE,
    REPO,
    TALLY,
    Key,
    Raw,
    _short,
    dump,
    outcome_label,
    records_by_key,
    replaced,
    unstorable,
)
from tests.fuzz.loaders import (
    FileExample,
    _encode,
    _maturity_check,
    check_config_seeds,
    data_world,
    maturity_seeds,
    scan_world,
)
from tests.fuzz.registry import TARGETS, WORLD_BUILDERS, world

# -- pinned examples: fixed defects (regressions) and open ones ------------------------------
#
# Every defect these properties found keeps its exact input here (``example`` rebuilds
# it) and what must happen with it now (``expect``: the outcome label, and the error
# kind a skipped record is counted as). REGRESSIONS are the fixed ones: test_pinned
# runs each and must pass, so a defect that comes back fails the run by name; every
# target also runs its pinned inputs before the drawn examples (deterministic, not up
# to what the examples happen to draw). A newly found defect goes into DEFECTS with
# ``raises`` (how it fails today): its test_pinned and the targets it breaks are then
# xfail(strict=True) naming it, and fixing it makes them pass, which fails the run
# until the entry moves to REGRESSIONS.


def pinned_field(world_name: str, slot: str, path: tuple[Any, ...], value: Any
                 ) -> Callable[[], ApiExample]:
    def build() -> ApiExample:
        source = world(world_name).slots[slot]
        return ApiExample(slot, "field", source.serialize(replaced(source.body, path, value)),
                          path, value)
    return build


def pinned_json(world_name: str, slot: str, value: Any) -> Callable[[], ApiExample]:
    def build() -> ApiExample:
        world(world_name)
        return ApiExample(slot, "json", dump(value).encode("utf-8", "surrogatepass"), (),
                          value)
    return build


def pinned_scan(name: str, seed: str, path: tuple[Any, ...], value: Any
                ) -> Callable[[], FileExample]:
    """One value of a scanner fixture (a JSON document) replaced."""
    def build() -> FileExample:
        doc = json.loads(scan_world(name).seeds[seed])
        return FileExample(seed, [f"{path!r} = {_short(value, 60)}"],
                           _encode(dump(replaced(doc, path, value))), (0, path, value))
    return build


MALFORMED = f"CollectorError:{ErrorKind.MALFORMED_RESPONSE.value}"


@dataclass(frozen=True)
class Pinned:
    """One input a property failed on, rebuilt exactly, and what must happen with it.

    ``expect`` is the outcome label (``ok`` or ``CollectorError:<kind>``; a loader's own
    label, such as ``skipped (malformed_record)``, for a loader target); ``counted``,
    for an ``ok``, the error kind the lost record must be counted as (``None``: nothing
    is lost, or only a detail such as a close time). ``raises`` is set for an open
    defect only: what the input raises until it is fixed.
    """

    target: str
    reason: str  # what was wrong, where, and (fixed) how it is handled now
    example: Callable[[], Any]
    expect: str = "ok"
    counted: ErrorKind | None = None
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None


BOMB = Raw("1" * 5000)
_ALERTS = "GET /orgs/octo-org/dependabot/alerts page 1"
_SURROGATE = Raw('"\\ud800"')
_RECORD = ErrorKind.MALFORMED_RECORD
REGRESSIONS: dict[str, Pinned] = {
    "decode-json-digit-limit": Pinned(
        "sentinel/json",
        "collectors/http.py decode_json: json.loads raises a bare ValueError (not "
        "JSONDecodeError) for an integer over Python's 4,300-digit limit; every API "
        "collector crashed instead of failing with malformed_response",
        pinned_json("sentinel", "incidents page 1", {"value": [], "total": BOMB}), MALFORMED),
    "splunk-export-line-digit-limit": Pinned(
        "splunk-export/json",
        "collectors/splunk.py _export_line: the same json.loads ValueError on a stream line",
        pinned_json("splunk-export", "export notables", {"result": {"offset": BOMB}}),
        MALFORMED),
    "parse-timestamp-overflow": Pinned(
        "sentinel/field",
        "collectors/http.py parse_timestamp: astimezone(UTC) raised OverflowError for "
        "0001-01-01T00:00:00+01:00 (and 9999-12-31T23:59:59-01:00); callers catch "
        "ValueError only (sentinel, jira, github)",
        pinned_field("sentinel", "incidents page 1",
                     ("value", 0, "properties", "createdTimeUtc"),
                     "0001-01-01T00:00:00+01:00"), counted=_RECORD),
    "pagerduty-time-overflow": Pinned(
        "pagerduty-incidents/field",
        "collectors/pagerduty.py _parse_time: OverflowError for an out-of-range offset time",
        pinned_field("pagerduty-incidents", "GET /incidents offset 0",
                     ("incidents", 0, "created_at"), "0001-01-01T00:00:00+01:00"),
        counted=_RECORD),
    "sentinel-unhashable-status": Pinned(
        "sentinel/field",
        "collectors/sentinel.py _convert: a list/dict status, classification or severity "
        "reached `in STATUSES` / dict.get outside the try: TypeError crashed the run",
        pinned_field("sentinel", "incidents page 1", ("value", 0, "properties", "status"),
                     ["Closed"]), counted=_RECORD),
    "sentinel-la-row-shape": Pinned(
        "sentinel/field",
        "collectors/sentinel.py _fetch_close_info: a Log Analytics row that is an object "
        "raised KeyError, which the per-row guard missed (now: that close time is lost)",
        pinned_field("sentinel", "log analytics query", ("tables", 0, "rows", 0), {"a": 1})),
    "sentinel-rule-kind-unhashable": Pinned(
        "sentinel/field",
        "collectors/sentinel.py map_alert_rule: a rule kind that is an object reached "
        "`kind not in RULE_KINDS`: TypeError",
        pinned_field("sentinel", "alert rules", ("value", 1, "kind"), {"a": 1}),
        counted=_RECORD),
    "jira-resolution-shape": Pinned(
        "jira-cloud/field",
        "collectors/jira.py Mapper.resolution: _scalar_name's ValueError (a resolution "
        "whose name is not a string) was not turned into SkipTicket: the run crashed",
        pinned_field("jira-cloud", "search vulnerabilities token None",
                     ("issues", 1, "fields", "resolution", "name"), True), counted=_RECORD),
    "jira-asset-type": Pinned(
        "jira-cloud/field",
        "collectors/jira.py map_finding: a non-string project.key became Finding.asset "
        "(a list or dict), which the store cannot write",
        pinned_field("jira-cloud", "search vulnerabilities token None",
                     ("issues", 0, "fields", "project", "key"), ["x"]), counted=_RECORD),
    "jira-dc-total-memory": Pinned(
        "jira-datacenter/field",
        "collectors/jira.py _search_dc: list(range(step, total, step)) was built before "
        "the MAX_PAGES check; a total of 10**12 allocated without bound",
        pinned_field("jira-datacenter", "search vulnerabilities startAt 0", ("total",),
                     10**12), MALFORMED),
    "splunk-epoch-overflow": Pinned(
        "splunk-export/field",
        "collectors/splunk.py splunk_time: datetime.fromtimestamp raised OverflowError for "
        "an epoch of 1e20 (OSError for -7e16); callers catch ValueError only (now: that "
        "review time is lost)",
        pinned_field("splunk-export", "export reviews", (0, "result", "last_review"), "1e20")),
    "splunk-annotations-digit-limit": Pinned(
        "splunk-export/field",
        "collectors/splunk.py map_correlation_search: json.loads of the annotations caught "
        "JSONDecodeError only; a 5,000-digit number crashed the run",
        pinned_field("splunk-export", "saved searches offset 0",
                     ("entry", 0, "content", "action.correlationsearch.annotations"),
                     "1" * 5000), counted=_RECORD),
    "splunk-job-row-uncounted": Pinned(
        "splunk-job/field",
        "collectors/splunk.py _job: a results row that is not an object was dropped "
        "without being counted in record_errors",
        pinned_field("splunk-job", "notable results offset 0", ("results", 1), None),
        counted=_RECORD),
    "echoed-id-surrogate": Pinned(
        "splunk-job/field",
        "a server-given id echoed into the next request (Splunk sid, Elasticsearch PIT "
        "id) with a lone surrogate (JSON \\ud800) crashed httpx with UnicodeEncodeError "
        "(collectors/http.py ApiClient.request)",
        pinned_field("splunk-job", "create notable job", ("sid",), _SURROGATE), MALFORMED),
    "echoed-pit-id-surrogate": Pinned(
        "elastic-elasticsearch/field",
        "the same for the Elasticsearch point-in-time id (sent in the next search's body)",
        pinned_field("elastic-elasticsearch", "open point in time", ("id",), _SURROGATE),
        MALFORMED),
    "echoed-id-invalid-url": Pinned(
        "okta/field",
        "an id with a control character, echoed into the next URL path, crashed httpx "
        "with InvalidURL (collectors/http.py ApiClient.request): an Okta admin's id in "
        "/api/v1/users/{id}/roles; ids are now quoted (http.path_segment), and this one "
        "is unknown to the server: that admin's roles are skipped and counted",
        pinned_field("okta", "GET /api/v1/iam/assignees/users", (1, "id"), "x\x14y"),
        counted=ErrorKind.NOT_FOUND),
    "echoed-item-id-surrogate": Pinned(
        "entra/field",
        "a per-item id with a lone surrogate (an access review definition's, echoed into "
        "its instances' URL): that definition is skipped and counted, not the run failed",
        pinned_field("entra", "GET /identityGovernance/accessReviews/definitions",
                     ("value", 1, "id"), _SURROGATE), counted=_RECORD),
    "elastic-unhashable-status": Pinned(
        "elastic-elasticsearch/field",
        "collectors/elastic.py AlertMapper.map: an object or multi-value workflow_status "
        "or workflow_reason reached a dict lookup: TypeError crashed the run",
        pinned_field("elastic-elasticsearch", "search after None",
                     ("hits", "hits", 1, "_source", "kibana.alert.workflow_status"), {"a": 1}),
        counted=_RECORD),
    "elastic-short-page": Pinned(
        "elastic-elasticsearch/field",
        "collectors/elastic.py _es_hits: hits that are not objects were filtered before "
        "the page-full test, so a full page looked like the last one; the later pages' "
        "alerts were missing from a result marked complete (deleted from the store)",
        pinned_field("elastic-elasticsearch", "search after None", ("hits", "hits", 0), None),
        counted=_RECORD),
    "elastic-rule-technique-shape": Pinned(
        "elastic-kibana/field",
        "collectors/elastic.py map_rule: a technique list that is a number was iterated",
        pinned_field("elastic-kibana", "rules page 1", ("data", 0, "threat", 0, "technique"),
                     5), counted=_RECORD),
    "pagerduty-unhashable-status": Pinned(
        "pagerduty-analytics/field",
        "collectors/pagerduty.py IncidentMapper: a list status (build: `in _STATUSES`) or "
        "an object priority name (severity: `in priority_map`) raised TypeError",
        pinned_field("pagerduty-analytics", "analytics after None", ("data", 0, "status"),
                     ["resolved"]), counted=_RECORD),
    "pagerduty-priority-object": Pinned(
        "pagerduty-analytics/field",
        "the object priority name of pagerduty-unhashable-status",
        pinned_field("pagerduty-analytics", "analytics after None",
                     ("data", 0, "priority_name"), {"a": 1}), counted=_RECORD),
    "pagerduty-item-uncounted": Pinned(
        "pagerduty-incidents/field",
        "collectors/pagerduty.py _page: a listing item that is not an object was dropped "
        "uncounted, and the next offset counted only the objects",
        pinned_field("pagerduty-incidents", "GET /incidents offset 0", ("incidents", 0),
                     None), counted=_RECORD),
    "jira-token-surrogate": Pinned(
        "jira-cloud/field",
        "the echoed-id-surrogate defect for Jira Cloud's nextPageToken (sent back in the "
        "next search's body)",
        pinned_field("jira-cloud", "search vulnerabilities token None", ("nextPageToken",),
                     _SURROGATE), MALFORMED),
    "github-repo-name-type": Pinned(
        "github/field",
        "github/repositories.py _included/_match_any: a repository whose name or full_name "
        "is not a string crashed the run (compact_repository did not check types)",
        pinned_field("github", "GET /orgs/octo-org/repos page 1", (3, "full_name"), None),
        counted=_RECORD),
    "github-repo-id-type": Pinned(
        "github/field",
        "github/collector.py _collect_org: an unhashable repository id (a list) crashed "
        "`repo['id'] not in seen_ids`",
        pinned_field("github", "GET /orgs/octo-org/repos page 1", (0, "id"), [1]),
        counted=_RECORD),
    "github-node-id-type": Pinned(
        "github/field",
        "github/repositories.py compact_repository: a node_id that is an object was sent back "
        "in the GraphQL gate query (TypeError in the request); now the gate is unknown",
        pinned_field("github", "GET /orgs/octo-org/repos page 1", (0, "node_id"),
                     {"digest": 1.5, "result": 7})),
    "github-analysis-item-shape": Pinned(
        "github/field",
        "tests/fuzz/api.py: an analysis that is not an object leaves that repository's "
        "reconstructed SAST history unknown (no dated row), which loses no observation",
        pinned_field("github", "GET /repos/octo-org/web/code-scanning/analyses page 1",
                     (0,), [1, 2])),
    "github-repo-created-at-missing": Pinned(
        "github/field",
        "a repository without created_at cannot be placed before the previous quarter's "
        "end: its reconstructed row is left out (unknown), its current row is kept",
        pinned_field("github", "GET /orgs/octo-org/repos page 1", (1, "created_at"), None)),
    "github-alert-repository": Pinned(
        "github/field",
        "github/alerts.py _dependabot/_code_scanning/_secret_scanning: "
        "item['repository']['full_name'] was read outside the per-alert guard: an alert "
        "whose repository lacks full_name (KeyError) or has a list or object there "
        "(TypeError in a set) crashed the run",
        pinned_field("github", _ALERTS, (0, "repository", "full_name"), DELETE),
        counted=_RECORD),
    "github-attached-name-type": Pinned(
        "github/field",
        "github/repositories.py _configurations.attached: an attached repository whose "
        "full_name is a list crashed the run as a dict key (now: the page's items lack a "
        "required field, as when the name is missing)",
        pinned_field("github",
                     "GET /orgs/octo-org/code-security/configurations/17/repositories page 1",
                     (0, "repository", "full_name"), ["x"]), MALFORMED),
    "github-configuration-value": Pinned(
        "github/field",
        "github/repositories.py _configurations.state: a setting value that is an object "
        "was looked up in a dict: TypeError (now: the setting is unknown)",
        pinned_field("github", "GET /orgs/octo-org/code-security/configurations page 1",
                     (0, "secret_scanning"), {})),
    "github-gate-rules-shape": Pinned(
        "github/field",
        "github/gates.py gate_facts_from_graphql: a rules block that is a list, rule "
        "nodes that are a number, or a review count that is a list or object (int()) "
        "crashed the run (now: that repository's gate is unknown)",
        pinned_field("github", "POST /graphql page 1",
                     ("data", "nodes", 0, "defaultBranchRef", "rules"), [{"x": 1}])),
    "github-analysis-time": Pinned(
        "github/field",
        "github/sast.py _sast.latest_analysis: an analysis whose created_at is not "
        "a string (parse_timestamp's ValueError) or whose tool is not an object "
        "(AttributeError) crashed the run (now: that analysis is no evidence)",
        pinned_field("github", "GET /repos/octo-org/web/code-scanning/analyses page 1",
                     (0, "created_at"), {})),
    "github-analysis-tool": Pinned(
        "github/field",
        "the tool that is not an object of github-analysis-time",
        pinned_field("github", "GET /repos/octo-org/web/code-scanning/analyses page 1",
                     (0, "tool"), ["CodeQL"])),
    "prowler-unhashable-status": Pinned(
        "prowler",
        "collectors/prowler.py parse_finding: a status_code or status that is a list or "
        "object reached a dict lookup: TypeError crashed the run",
        pinned_scan("prowler", "prowler-output-aws-20261101100000.ocsf.json",
                    (0, "status_code"), ["FAIL"]), "skipped (malformed_record)"),
    "prowler-time-overflow": Pinned(
        "prowler",
        "collectors/prowler.py _time: astimezone(UTC) of an out-of-range time_dt raised "
        "OverflowError",
        pinned_scan("prowler", "prowler-output-aws-20261101100000.ocsf.json", (0,),
                    {**json.loads((REPO / "tests/fixtures/prowler/"
                                   "prowler-output-aws-20261101100000.ocsf.json")
                                  .read_text())[0], "time": None,
                     "time_dt": "0001-01-01T00:00:00+01:00"}), "skipped (malformed_record)"),
    "prowler-unstorable-text": Pinned(
        "prowler",
        "the unstorable-text defect for a Prowler check id (refused where it is read)",
        pinned_scan("prowler", "prowler-output-aws-20261101100000.ocsf.json",
                    (0, "metadata", "event_code"), _SURROGATE), "skipped (malformed_record)"),
    "trivy-modified-type-unhashable": Pinned(
        "reports",
        "collectors/reports/trivy.py: an ExperimentalModifiedFindings Type that is a list "
        "reached `in _MODIFIED`: TypeError crashed the run; now counted as malformed",
        pinned_scan("reports", "trivy.json",
                    ("Results", 1, "ExperimentalModifiedFindings", 0, "Type"),
                    [True, "5", True]), "skipped (malformed_record)"),
    "unstorable-text": Pinned(
        "sentinel/field",
        "a record with a lone surrogate (JSON \\ud800 in a rule name, title or id) passed "
        "its validation, but the store cannot encode it: the whole run failed (internal) "
        "instead of that record being skipped; record validation now refuses it "
        "(collectors/kinds.py storable_text, shared with the file collector)",
        pinned_field("sentinel", "incidents page 1", ("value", 0, "properties", "title"),
                     _SURROGATE), counted=_RECORD),
}
# Open defects, in the same form with ``raises`` set (none known: every one found so far
# is fixed and pinned above).
DEFECTS: dict[str, Pinned] = {}
PINNED: dict[str, Pinned] = {**REGRESSIONS, **DEFECTS}


def digit_bomb(world_name: str) -> Callable[[], ApiExample]:
    """The digit-limit input for one world: a 5,000-digit integer in its first JSON body."""
    def build() -> ApiExample:
        built = world(world_name)
        slot = next(k for k, v in sorted(built.slots.items())
                    if 200 <= v.status < 300 and not v.lines)
        return pinned_json(world_name, slot, {"value": BOMB})()
    return build


# Per target: the pinned inputs it runs first, by name.
PINNED_OF: dict[str, list[tuple[str, Callable[[], Any]]]] = defaultdict(list)
for _name in WORLD_BUILDERS:
    for _mode in ("json", "field"):
        PINNED_OF[f"{_name}/{_mode}"].append(("decode-json-digit-limit", digit_bomb(_name)))
for _pinned, _entry in PINNED.items():
    if _pinned != "decode-json-digit-limit":
        PINNED_OF[_entry.target].append((_pinned, _entry.example))


def run_target(name: str, example: Any) -> None:
    label = TARGETS[name].check(example)
    TALLY[name][label] += 1


def _raised(kinds: Any) -> tuple[type[BaseException], ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _open_defects(target: str) -> list[str]:
    return [name for name, _ in PINNED_OF.get(target, []) if name in DEFECTS]


def _param(name: str) -> Any:
    defects = _open_defects(name)
    if not defects:
        return pytest.param(name, id=name)
    raises = tuple({kind for defect in defects for kind in _raised(DEFECTS[defect].raises)})
    reason = "known defects: " + ", ".join(defects)
    return pytest.param(name, id=name, marks=pytest.mark.xfail(strict=True, raises=raises,
                                                               reason=reason))


def fuzz(target: str) -> Callable[[], None]:
    """The property of ``target`` as a hypothesis test with the selected profile."""
    @PROFILE
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        run_target(target, data.draw(TARGETS[target].strategy(), label="example"))
    return run


@pytest.mark.parametrize("target", [_param(n) for n in TARGETS])
def test_fuzz(target: str) -> None:
    for _name, example in PINNED_OF.get(target, []):  # deterministic: the pinned inputs
        run_target(target, example())
    fuzz(target)()  # then the drawn examples decide


def _pinned_param(name: str) -> Any:
    entry = PINNED[name]
    if entry.raises is None:
        return pytest.param(name, id=name)
    return pytest.param(name, id=name, marks=pytest.mark.xfail(
        strict=True, raises=entry.raises, reason=entry.reason))


@pytest.mark.parametrize("name", [_pinned_param(n) for n in PINNED])
def test_pinned(name: str) -> None:
    """The pinned input holds the target's properties, with the outcome it must have."""
    entry = PINNED[name]
    example = entry.example()
    if "/" not in entry.target:  # a loader target: its own outcome label
        assert TARGETS[entry.target].check(example) == entry.expect
        return
    outcome = judge_api(world(entry.target.split("/")[0]), example)
    assert outcome_label(outcome) == entry.expect, f"{outcome!r:.300}"
    if isinstance(outcome, CollectionResult):
        counts = dict(outcome.record_errors)
        if entry.counted is None:
            assert not counts, counts
        else:
            assert counts.get(entry.counted, 0) >= 1, counts
            assert sum(counts.values()) == counts[entry.counted], counts


def test_unstorable_text_is_skipped_and_the_rest_stored() -> None:
    """A lone surrogate in one incident's title: that incident is skipped and counted,
    the others are stored (the whole run used to fail in the store)."""
    from exporter.store import Store

    example = REGRESSIONS["unstorable-text"].example()
    outcome = judge_api(world("sentinel"), example)
    assert isinstance(outcome, CollectionResult)
    assert not unstorable(outcome)
    base = world("sentinel").baseline
    assert base is not None
    lost = set(records_by_key(base)) - set(records_by_key(outcome))
    assert {key[1] for key in lost} == {"myWorkspace#1"}, lost
    Store(":memory:").apply("sentinel-prod", outcome, NOW)


# -- the fakes and seeds themselves --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WORLD_BUILDERS))
def test_world_baseline_is_clean_and_every_record_has_its_item(name: str) -> None:
    """The fakes answer a clean run with records and no skips, and the per-item record
    ids the cost property relies on cover every record of the kinds they name."""
    built = world(name)
    assert built.baseline is not None and records_by_key(built.baseline)
    covered: set[Key] = set()
    kinds: set[RecordKind] = set()
    for slot in built.slots.values():
        for item in slot.items:
            covered |= item.keys
            if item.keys:
                kinds |= item.kinds
    expected = {k for k in records_by_key(built.baseline) if k[0] in kinds}
    assert covered == expected, sorted(expected ^ covered)[:5]


def test_loader_seeds_are_valid() -> None:
    """Mutations start from files that load: the three configs and the demo slice."""
    check_config_seeds()
    assert data_world().baseline is not None
    for name in ("prowler", "reports"):  # the scanner fixtures: a clean run each
        assert scan_world(name).baseline.records


def test_bundled_rules_and_demo_assessments_are_valid() -> None:
    """The maturity seeds load as shipped (rules alone; demo assessments against them)."""
    for which in ("rules", "assessments"):
        ((seed, text),) = maturity_seeds(which).items()
        assert _maturity_check(which)(FileExample(seed, [], _encode(text))) == "ok", which
