"""Generate the bundled demo data (deterministic; seed 2026).

A fictional company, Acme Payments, over ten quarters up to the anchor date: findings
of every severity (fixed, dismissed, still open, some past SLA) with remediation
getting faster over time, ~60 repositories with mixed settings (and dated snapshots of
their settings, improving, for the earlier quarters), incidents whose detection
improves, and triaged SIEM alerts whose signal ratio improves. The file collector's
``rebase`` shifts every timestamp by (now - anchor), so the demo's current and previous
quarters always have data whatever day it runs.

    python scripts/make_demo_data.py [OUTPUT_DIR]
"""

from __future__ import annotations

import csv
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ANCHOR = datetime(2026, 11, 23, tzinfo=UTC)
DAYS = 930  # a little over ten quarters
SEED = 2026
# Dated repository snapshots, one every SNAPSHOT_EVERY back from the anchor. The
# shortest quarter (February to April of a common year, with a fiscal year starting in
# February) has 89 days, so after the rebase at least one snapshot falls in every
# quarter, the previous one included, whatever day the demo runs.
SNAPSHOT_EVERY = timedelta(days=89)
# A year of them. The exporter reads only the current and the previous quarter, and
# the rebase keeps every snapshot at the same distance before now, so snapshots older
# than two quarters are never used; each one costs parse time on every demo run.
SNAPSHOTS = 4
BOOLEAN_SETTINGS = ("sast_enabled", "secret_scanning", "push_protection", "dependency_alerts")

SEVERITY_RATE = {"critical": 0.25, "high": 1.1, "medium": 2.0, "low": 1.4}  # per day
SLA = {"critical": 7, "high": 30, "medium": 90, "low": 120}
CATEGORIES = ["dependency", "dependency", "code", "secret", "container", "cloud", "pentest"]
TEAMS = ["payments", "ledger", "checkout", "identity", "platform", "mobile", "data",
         "risk", "web", "notifications"]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_repositories(rng: random.Random) -> list[dict]:
    repos = []
    kinds = ["api", "service", "worker", "web", "lib", "infra", "sdk"]
    for index in range(60):
        team = TEAMS[index % len(TEAMS)]
        name = f"{team}-{kinds[index % len(kinds)]}{'' if index < 42 else '-' + str(index)}"
        archived = index in (7, 19, 33, 41, 52, 58)
        fork = index in (11, 27, 45, 57)
        sast = rng.random() < 0.78
        tier_roll = rng.random()
        tier = 0 if tier_roll < 0.12 else 1 if tier_roll < 0.22 else 2 if tier_roll < 0.5 \
            else 3 if tier_roll < 0.8 else 4 if tier_roll < 0.93 else 5
        repos.append({
            "id": f"acme/{name}",
            "name": name,
            "archived": archived,
            "fork": fork,
            "sast_enabled": sast,
            "sast_tools": ["codeql"] if sast and rng.random() < 0.7 else (["semgrep"] if sast
                                                                             else []),
            "review_gate_tier": tier,
            "secret_scanning": rng.random() < 0.85,
            "push_protection": rng.random() < 0.6,
            "dependency_alerts": rng.random() < 0.9,
            # one repository's settings could not be read (token lacks admin rights)
            **({"secret_scanning": None, "push_protection": None} if index == 23 else {}),
            "topics": [team],
        })
    return repos


def make_repository_history(rng: random.Random, repos: list[dict]) -> list[dict]:
    """Earlier snapshots of ``repos`` (their current state), dated with ``observed_at``.

    The programme matured: every setting that is on now was switched on at some moment
    (some before the demo's first day), none was switched off, and a repository's review
    gate rose one tier at a time to today's. Settings that could not be read now (the
    token lacks admin rights) could not be read then either. Repositories, names and
    archive and fork states stay as they are. Newest snapshot first, as an export of
    each date would list them.
    """
    span = DAYS * 86400
    # per repository: seconds before the anchor at which each setting was switched on,
    # and at which its review gate rose a tier
    enabled = [{key: rng.uniform(0, 1.3 * span) for key in BOOLEAN_SETTINGS} for _ in repos]
    raised = [sorted(rng.uniform(0, span) for _ in range(rng.randint(0, r["review_gate_tier"])))
              for r in repos]
    snapshots = []
    for number in range(1, SNAPSHOTS + 1):
        before = number * SNAPSHOT_EVERY.total_seconds()
        for repo, switched_on, rises in zip(repos, enabled, raised, strict=True):
            # fresh lists: shared ones would be written as YAML aliases, which data
            # files refuse
            snapshot = {"id": repo["id"], "name": repo["name"],
                        "observed_at": iso(ANCHOR - number * SNAPSHOT_EVERY),
                        **repo, "topics": list(repo["topics"])}
            for key in BOOLEAN_SETTINGS:
                if repo[key] is not None:
                    snapshot[key] = repo[key] and switched_on[key] > before
            snapshot["sast_tools"] = list(repo["sast_tools"]) if snapshot["sast_enabled"] \
                else []
            snapshot["review_gate_tier"] = (repo["review_gate_tier"]
                                            - sum(1 for ago in rises if ago < before))
            snapshots.append(snapshot)
    return snapshots


def make_findings(rng: random.Random, repos: list[dict]) -> list[dict]:
    active = [r["name"] for r in repos if not r["archived"]]
    start = ANCHOR - timedelta(days=DAYS)
    findings = []
    counter = 0
    for day in range(DAYS):
        progress = day / DAYS  # 0 -> 1: the programme matures over time
        for severity, rate in SEVERITY_RATE.items():
            for _ in range(_poisson(rng, rate)):
                counter += 1
                opened = start + timedelta(days=day, seconds=rng.randrange(86400))
                # mean days to fix shrinks as the programme matures
                base = SLA[severity] * (1.4 - 1.15 * progress)
                duration = timedelta(days=rng.expovariate(1 / max(base, 0.5)))
                category = rng.choice(CATEGORIES)
                finding = {
                    "id": f"VULN-{counter:05d}",
                    "severity": severity,
                    "opened_at": iso(opened),
                    "asset": rng.choice(active),
                    "category": category,
                }
                if category == "dependency" and rng.random() < 0.8:
                    year = opened.year - (1 if rng.random() < 0.3 else 0)
                    finding["cve_ids"] = [f"CVE-{year}-{rng.randrange(1000, 59999)}"]
                    finding["disclosed_at"] = iso(opened - timedelta(
                        hours=rng.randrange(2, 24 * 20)))
                resolved = opened + duration
                roll = rng.random()
                if roll < 0.09:
                    finding["state"] = "dismissed"
                    finding["resolved_at"] = iso(min(opened + duration / 3, ANCHOR))
                    finding["dismissed_reason"] = rng.choice(
                        ["false_positive", "risk_accepted", "not_used", "duplicate"])
                elif resolved < ANCHOR and roll < (0.998 if severity == "critical" else 0.985):
                    finding["state"] = "fixed"
                    finding["resolved_at"] = iso(resolved)
                else:
                    finding["state"] = "open"
                findings.append(finding)
    return findings


def _poisson(rng: random.Random, rate: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < rate:
        count += 1
        total += rng.expovariate(1.0)
    return count


def make_incidents(rng: random.Random) -> list[dict]:
    start = ANCHOR - timedelta(days=DAYS)
    incidents = []
    day = 5.0
    number = 0
    severities = ["critical", "high", "high", "medium", "medium", "low"]
    while day < DAYS - 2:
        number += 1
        progress = day / DAYS
        started = start + timedelta(days=day, hours=rng.randrange(24))
        mttd_hours = 30 * (1 - 0.85 * progress)
        detected = started + timedelta(hours=rng.expovariate(1 / mttd_hours))
        contained = detected + timedelta(hours=rng.expovariate(1 / (10 - 4 * progress)))
        resolved = contained + timedelta(hours=rng.randrange(4, 96))
        row = {
            "id": f"INC-{number:04d}",
            "severity": rng.choice(severities),
            "started_at": iso(started),
            "detected_at": iso(detected),
            "contained_at": iso(contained) if contained < ANCHOR else "",
            "resolved_at": iso(resolved) if resolved < ANCHOR else "",
            "postmortem": ("true" if rng.random() < 0.5 + 0.45 * progress else "false")
            if resolved < ANCHOR else "",
        }
        incidents.append(row)
        day += rng.expovariate(1 / 16)  # about six incidents a quarter
    return incidents


def make_siem_alerts(rng: random.Random) -> list[dict]:
    start = ANCHOR - timedelta(days=DAYS)
    rules = ["Impossible travel", "Brute force on SSO", "Suspicious PowerShell",
             "New admin role grant", "Public S3 bucket", "Malware signature",
             "Unusual data egress", "Disabled audit logging", "Token used from TOR"]
    alerts = []
    number = 0
    for day in range(DAYS):
        progress = day / DAYS
        for _ in range(_poisson(rng, 9)):
            number += 1
            created = start + timedelta(days=day, seconds=rng.randrange(86400))
            age_days = (ANCHOR - created).total_seconds() / 86400
            triage_hours = rng.expovariate(1 / (6 - 4.5 * progress))
            triaged = created + timedelta(hours=triage_hours)
            row = {"id": f"ALERT-{number:06d}", "created_at": iso(created),
                   "rule": rng.choice(rules),
                   "severity": rng.choice(["critical", "high", "medium", "medium", "low"])}
            untriaged = triaged >= ANCHOR or (age_days < 20 and rng.random() < 0.15)
            if untriaged:
                row.update(disposition="untriaged", triaged_at="")
            else:
                roll = rng.random()
                actionable = 0.12 + 0.3 * progress
                disposition = ("actionable" if roll < actionable else
                               "false_positive" if roll < actionable + 0.45 * (1 - progress / 2)
                               else "benign" if roll < 0.93 else "undetermined")
                row.update(disposition=disposition, triaged_at=iso(triaged))
            alerts.append(row)
    return alerts


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(out: Path) -> None:
    rng = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)
    repos = make_repositories(rng)
    # Its own random stream: the snapshots change none of the other demo data.
    history = make_repository_history(random.Random(SEED + 1), repos)
    (out / "repositories.yaml").write_text(
        "# Demo repositories of the fictional Acme Payments (generated by "
        "scripts/make_demo_data.py):\n# their settings now, then dated snapshots "
        "(observed_at) of earlier quarters.\n"
        + yaml.safe_dump({"repositories": repos + history}, sort_keys=False),
        encoding="utf-8")
    findings = make_findings(rng, repos)
    (out / "findings.json").write_text(json.dumps({"findings": findings}, indent=0) + "\n",
                                       encoding="utf-8")
    write_csv(out / "incidents.csv", make_incidents(rng))
    write_csv(out / "siem_alerts.csv", make_siem_alerts(rng))
    print(f"wrote {len(repos)} repositories ({len(history)} earlier snapshots), "
          f"{len(findings)} findings to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "demo")
