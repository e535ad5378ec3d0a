"""Generate the bundled demo data (deterministic; seed 2026).

A fictional company, Acme Payments, over ten quarters up to the anchor date: findings
of every severity (fixed, dismissed, still open, some past SLA) with remediation
getting faster over time, ~60 repositories with mixed settings (and dated snapshots of
their settings, improving, for the earlier quarters), incidents whose detection
improves, and triaged SIEM alerts whose signal ratio improves. The other point-in-time
kinds (identity accounts, applications, privileged assignments, detection rules,
workloads, posture results) carry dated snapshots too, so every domain has a previous
quarter on a fresh install. The file collector's ``rebase`` shifts every timestamp by
(now - anchor), so the demo's current and previous quarters always have data whatever
day it runs.

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
# The other point-in-time kinds keep the fewest snapshots that still put one in every
# previous quarter: on a quarter's last days the first (89 days back) falls in the
# current quarter, and the second (178 days back) then lies in the previous one. Their
# ids are a subset of today's, so a snapshot that falls in the current quarter never
# adds a record there (an undated row is later than any dated one).
POINT_IN_TIME_SNAPSHOTS = 2
DAY = 86400.0
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


def _snapshot_times() -> list[tuple[float, str]]:
    """(seconds before the anchor, observed_at) of each point-in-time snapshot."""
    return [(number * SNAPSHOT_EVERY.total_seconds(), iso(ANCHOR - number * SNAPSHOT_EVERY))
            for number in range(1, POINT_IN_TIME_SNAPSHOTS + 1)]


def _ago(rng: random.Random, share: float, days: float) -> float | None:
    """Seconds before the anchor at which a change happened, for ``share`` of records
    (uniform over the last ``days``); ``None``: long before the demo's snapshots."""
    return rng.uniform(0, days * DAY) if rng.random() < share else None


def _since(ago: float | None, before: float) -> bool:
    """Whether a change ``ago`` seconds before the anchor came after a snapshot."""
    return ago is not None and ago < before


ATTACK_FILE = Path(__file__).resolve().parents[1] / "exporter" / "data" / \
    "attack-enterprise-18.1.json.gz"
RULE_KINDS = ["query"] * 14 + ["threshold"] * 3 + ["correlation"] * 2 + ["machine_learning"]


def make_detection(rng: random.Random) -> dict:
    """Detection rules mapped to ATT&CK and the workload inventory with agent status.

    About 190 rules over the bundled ATT&CK version (a few disabled, a few unmapped,
    some on sub-techniques only, one on a revoked id), covering a bit under two thirds
    of the techniques; 140 inventory workloads of which most run a healthy agent.
    """
    import gzip

    with gzip.open(ATTACK_FILE, "rt", encoding="utf-8") as stream:
        attack = json.load(stream)
    parents = sorted(t for t in attack["techniques"] if "." not in t)
    subs = {p: sorted(t for t in attack["techniques"] if t.startswith(p + ".")) for p in parents}
    rules = []
    for parent in parents:
        if rng.random() >= 0.64:
            continue
        for _ in range(1 + (rng.random() < 0.3)):
            technique = parent
            if subs[parent] and rng.random() < 0.5:
                technique = rng.choice(subs[parent])
            rules.append({"id": f"rule-{len(rules) + 1:04d}", "enabled": rng.random() > 0.06,
                          "kind": rng.choice(RULE_KINDS), "techniques": [technique]})
    for _ in range(8):  # rules nobody mapped yet
        rules.append({"id": f"rule-{len(rules) + 1:04d}", "enabled": True, "kind": "query"})
    rules.append({"id": f"rule-{len(rules) + 1:04d}", "enabled": True, "kind": "query",
                  "techniques": [attack["revoked_or_deprecated"][0]]})
    workloads = []
    for index in range(140):
        host = f"{rng.choice(TEAMS)}-{index + 1:03d}"
        workloads.append({"id": host, "source": "inventory", "kind": "vm"})
        roll = rng.random()
        if roll < 0.9:
            status = "healthy" if roll < 0.86 else "unhealthy"
            seen = ANCHOR - timedelta(minutes=rng.randint(1, 600))
            workloads.append({"id": f"{host}.acme.example", "source": "edr", "kind": "host",
                              "telemetry": status, "last_seen_at": iso(seen)})
    return {"detection_rules": rules, "workloads": workloads}


def make_detection_history(rng: random.Random, detection: dict) -> dict:
    """Dated snapshots (observed_at) of the rules and of the workload inventory.

    Detection engineering kept adding rules: about a fifth of today's were written in
    the last ten months, and a few enabled today were still being tuned (disabled)
    then; the EDR agent reached about one in seven of today's hosts only in the last ten
    months. Lower ATT&CK and telemetry coverage, the same level 2. Newest first.
    """
    rules, workloads = detection["detection_rules"], detection["workloads"]
    created = {r["id"]: _ago(rng, 0.2, 300) for r in rules}
    tuned = {r["id"]: _ago(rng, 0.05, 200) if r["enabled"] else None for r in rules}
    agent = {w["id"]: _ago(rng, 0.15, 300) for w in workloads if w["source"] == "edr"}
    snapshot_rules, snapshot_workloads = [], []
    for before, observed in _snapshot_times():
        for rule in rules:
            if _since(created[rule["id"]], before):
                continue  # written since
            row = {"id": rule["id"], "observed_at": observed, **rule}
            if "techniques" in rule:
                row["techniques"] = list(rule["techniques"])  # no YAML aliases
            if _since(tuned[rule["id"]], before):
                row["enabled"] = False
            snapshot_rules.append(row)
        for workload in workloads:
            if _since(agent.get(workload["id"]), before):
                continue  # no agent on that host yet
            row = {"id": workload["id"], "observed_at": observed, **workload}
            if "last_seen_at" in workload:  # the agent checked in as long before then
                row["last_seen_at"] = iso(datetime.fromisoformat(workload["last_seen_at"])
                                          - timedelta(seconds=before))
            snapshot_workloads.append(row)
    return {"detection_rules": snapshot_rules, "workloads": snapshot_workloads}


def make_identity(rng: random.Random) -> dict:
    """Directory accounts, applications, privileged access, offboardings, access reviews.

    Acme Payments at identity level 3, measured: 46 applications of which 40 federated
    (the assessments' "40 of 46 SaaS tools"), every human with a known MFA status able
    to use it, some just-in-time privileged access but seven standing admins (and two
    break-glass accounts), offboardings mostly within 4 h, a completed access review of
    all access 40 days before the anchor and of privileged roles 20 days before it, and
    a third of the workload identities still holding client secrets. Ids are
    pseudonymous keys, as the collectors store them.
    """
    accounts = []
    for index in range(420):
        privileged = index < 27
        roll = rng.random()
        mfa = "unknown" if roll < 0.04 and not privileged else "capable"
        accounts.append({"id": f"u{index + 1:04d}", "kind": "human", "active": roll > 0.02,
                         "privileged": privileged, "mfa": mfa})
    for index in range(18):
        accounts.append({"id": f"g{index + 1:03d}", "kind": "guest", "privileged": False,
                         "mfa": rng.choice(["capable", "not_capable"])})
    for index in range(42):
        static = None if index == 41 else rng.random() < 0.33
        accounts.append({"id": f"w{index + 1:03d}", "kind": "workload",
                         "static_credential": static})
    applications = []
    for index in range(46):
        sign_on = "federated" if index < 40 else ("password" if index < 45 else "none")
        applications.append({"id": f"app-{index + 1:02d}", "production": index % 3 != 2
                             or index >= 40, "sign_on": sign_on})
    assignments = []
    roles = ["Global Administrator", "Privileged Role Administrator",
             "Security Administrator", "Exchange Administrator", "User Administrator"]
    for index in range(27):
        kind = "permanent" if index < 7 else "eligible"
        assignments.append({"id": f"pa-{index + 1:03d}", "principal": f"u{index + 1:04d}",
                            "role": rng.choice(roles), "assignment": kind})
    for index in range(2):
        assignments.append({"id": f"pa-bg{index + 1}", "principal": f"bg{index + 1}",
                            "role": "Global Administrator", "assignment": "permanent",
                            "break_glass": True})
    offboardings = []
    for index in range(90):
        left = ANCHOR - timedelta(days=rng.uniform(1, 400))
        hours = rng.uniform(0.2, 3.8) if rng.random() < 0.88 else rng.uniform(5, 30)
        offboardings.append({"id": f"o{index + 1:03d}", "left_at": iso(left),
                             "access_removed_at": iso(left + timedelta(hours=hours))})
    offboardings.append({"id": "o-pending", "left_at": iso(ANCHOR - timedelta(hours=1))})
    reviews = []
    for quarter in range(4):
        for scope, offset in (("all", 40), ("privileged", 20)):
            done = ANCHOR - timedelta(days=offset + 91 * quarter)
            reviews.append({"id": f"ar-{scope}-{quarter}", "scope": scope,
                            "started_at": iso(done - timedelta(days=14)),
                            "completed_at": iso(done)})
    return {"identity_accounts": accounts, "applications": applications,
            "privileged_assignments": assignments, "offboardings": offboardings,
            "access_reviews": reviews}


def make_identity_history(rng: random.Random, identity: dict) -> dict:
    """Dated snapshots (observed_at) of the accounts, applications and assignments.

    The programme reached today's level 3 recently: the last tenth of the staff
    registered for MFA only over the past eight months (so last quarter not every human
    could use it: level 2 then), a few people joined since, eight production
    applications moved onto SSO over the last eight months, most just-in-time roles
    were standing admin rights until the last eight months, and some workload
    identities swapped a client secret for a federated credential. Guests are as today;
    offboardings and access reviews are events with their own times, not snapshotted.
    Newest snapshot first.
    """
    accounts, applications, assignments = (identity["identity_accounts"],
                                            identity["applications"],
                                            identity["privileged_assignments"])
    # per record, seconds before the anchor of the change that made it what it is now
    joined, enrolled, migrated = {}, {}, {}
    for account in accounts:
        if account["kind"] == "human" and not account["privileged"]:
            joined[account["id"]] = _ago(rng, 0.05, 200)
            enrolled[account["id"]] = _ago(rng, 0.1, 240) if account["mfa"] == "capable" \
                else None
        elif account["kind"] == "workload" and account["static_credential"] is False:
            migrated[account["id"]] = _ago(rng, 0.35, 300)
    moved = [a for a in applications if a["sign_on"] == "federated" and a["production"]]
    federated = {a["id"]: _ago(rng, 1.0, 240) for a in moved[-8:]}
    converted = {a["id"]: _ago(rng, 0.6, 240) for a in assignments
                 if a["assignment"] == "eligible"}
    snapshot_accounts, snapshot_apps, snapshot_assignments = [], [], []
    for before, observed in _snapshot_times():
        for account in accounts:
            if _since(joined.get(account["id"]), before):
                continue  # joined since
            row = {"id": account["id"], "observed_at": observed, **account}
            if _since(enrolled.get(account["id"]), before):
                row["mfa"] = "not_capable"
            if _since(migrated.get(account["id"]), before):
                row["static_credential"] = True
            snapshot_accounts.append(row)
        for application in applications:
            row = {"id": application["id"], "observed_at": observed, **application}
            if _since(federated.get(application["id"]), before):
                row["sign_on"] = "password"
            snapshot_apps.append(row)
        for assignment in assignments:
            row = {"id": assignment["id"], "observed_at": observed, **assignment}
            if _since(converted.get(assignment["id"]), before):
                row["assignment"] = "permanent"
            snapshot_assignments.append(row)
    return {"identity_accounts": snapshot_accounts, "applications": snapshot_apps,
            "privileged_assignments": snapshot_assignments}


SUPPLY_CHAIN_DAYS = 270  # covers the previous quarter whatever day the demo runs
PRIVATE_WITHOUT_GHEC = (3, 16, 38)  # repositories whose attestations cannot be read


def add_supply_chain_settings(rng: random.Random, repos: list[dict],
                              history: list[dict]) -> None:
    """Add sbom, pinned_actions, egress_control and scorecard_score to every row.

    Appended after the existing keys, from their own random stream, so every other
    value of the repositories file stays as it was. Like the other settings, each one
    that is on now was switched on at some moment and never off, and a Scorecard score
    rose a point at a time; the unreadable repository (index 23) is unknown throughout.
    """
    span = DAYS * 86400
    current = {}
    for index, repo in enumerate(repos):
        unreadable = index == 23
        values = {
            "sbom": None if unreadable else rng.random() < 0.88,
            "pinned_actions": None if unreadable else rng.random() < 0.45,
            "egress_control": None if unreadable else rng.random() < 0.2,
            "scorecard_score": None if unreadable else rng.randint(4, 9),
        }
        switched_on = {key: rng.uniform(0, 1.3 * span) for key in
                       ("sbom", "pinned_actions", "egress_control")}
        rises = sorted(rng.uniform(0, span) for _ in range(rng.randint(0, 3)))
        current[repo["id"]] = (values, switched_on, rises)
        repo.update(values)
    for snapshot in history:
        values, switched_on, rises = current[snapshot["id"]]
        before = (ANCHOR - datetime.fromisoformat(snapshot["observed_at"])).total_seconds()
        for key, on_since in switched_on.items():
            snapshot[key] = None if values[key] is None else values[key] and on_since > before
        score = values["scorecard_score"]
        snapshot["scorecard_score"] = None if score is None else max(
            0, score - sum(1 for ago in rises if ago < before))


def make_supply_chain(rng: random.Random, repos: list[dict]) -> dict:
    """Release artifacts, training records and internal vulnerability reports.

    Acme Payments at supply-chain level 2 going on 3: releases of the active
    repositories over the last nine months, a growing share with signed provenance
    (SLSA build level 2, level 3 when built by the shared reusable release workflow),
    three private repositories whose attestations cannot be read (unknown, not
    unsigned), and SBOMs attached to most releases. 130 people, 118 of them in the
    developer population, most with the annual secure coding course completed within
    the year (the assessments' "92%" was last year's figure). A few vulnerability
    reports filed by the organisation's own people every quarter. People are
    pseudonymous keys, as the collectors store them.
    """
    active = [(index, r) for index, r in enumerate(repos)
              if not r["archived"] and not r["fork"]]
    start = ANCHOR - timedelta(days=SUPPLY_CHAIN_DAYS)
    artifacts = []
    for day in range(SUPPLY_CHAIN_DAYS):
        progress = day / SUPPLY_CHAIN_DAYS
        for _ in range(_poisson(rng, 2.2)):
            index, repo = rng.choice(active)
            created = start + timedelta(days=day, seconds=rng.randint(0, 86399))
            digest = "sha256:" + "".join(rng.choice("0123456789abcdef") for _ in range(64))
            if index in PRIVATE_WITHOUT_GHEC:
                attested, level = None, None
            elif rng.random() < 0.55 + 0.35 * progress:
                attested, level = True, 3 if rng.random() < 0.3 + 0.3 * progress else 2
            else:
                attested, level = False, 1 if rng.random() < 0.5 else 0
            artifacts.append({"id": digest, "repository": repo["id"],
                              "created_at": iso(created), "attested": attested,
                              "slsa_build_level": level,
                              "sbom": rng.random() < 0.6 + 0.3 * progress})
    training = []
    for index in range(130):
        person = f"p{index + 1:04d}"
        in_scope = index < 118
        roll = rng.random()
        if roll < 0.9:  # completed within the year
            completed = ANCHOR - timedelta(days=rng.uniform(5, 360))
        elif roll < 0.96:  # completed once, expired since
            completed = ANCHOR - timedelta(days=rng.uniform(380, 600))
        else:
            completed = None
        training.append({"id": f"KB4-{index + 1:05d}", "person": person,
                         "in_scope": in_scope, "course": "Secure coding essentials",
                         "completed_at": iso(completed) if completed else None})
    reports = []
    for day in range(SUPPLY_CHAIN_DAYS):
        if rng.random() < 0.05:
            opened = start + timedelta(days=day, seconds=rng.randint(0, 86399))
            severity = rng.choice(["high", "medium", "medium", "low"])
            fixed = opened + timedelta(days=rng.uniform(2, 25))
            row = {"id": f"SECREP-{len(reports) + 1:03d}", "severity": severity,
                   "opened_at": iso(opened), "asset": rng.choice(active)[1]["name"],
                   "category": "internal_report"}
            if fixed < ANCHOR:
                row.update(state="fixed", resolved_at=iso(fixed))
            reports.append(row)
    return {"artifacts": artifacts, "training_records": training, "findings": reports}


# Cloud posture demo: (check, service, severity, framework families) per service.
POSTURE_CHECKS = {
    "iam": [("iam_root_mfa_enabled", "critical", ["cis", "nist", "pci"]),
            ("iam_policy_no_administrative_privileges", "high", ["cis", "aws_fsbp"])],
    "s3": [("s3_bucket_public_access", "critical", ["cis", "pci", "aws_fsbp"]),
           ("s3_bucket_default_encryption", "medium", ["cis", "iso27001"])],
    "ec2": [("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22", "high",
             ["cis", "pci"]),
            ("ec2_ebs_volume_encryption", "medium", ["cis", "iso27001", "soc2"])],
    "cloudtrail": [("cloudtrail_multi_region_enabled", "low", ["cis", "soc2"])],
    "rds": [("rds_instance_storage_encrypted", "medium", ["cis", "hipaa"])],
}
POSTURE_RESOURCES = {"iam": 5, "s3": 6, "ec2": 8, "cloudtrail": 1, "rds": 2}
POSTURE_MTTR_DAYS = {"critical": (1, 5), "high": (5, 25), "medium": (20, 80),
                     "low": (40, 150)}


def make_posture(rng: random.Random) -> dict:
    """Prowler results of Acme Payments' cloud accounts, as the collector derives them.

    Cloud infrastructure at level 3, measured: ten AWS accounts scanned by Prowler
    every night (the newest scan two hours before the anchor), posture SLAs tracked,
    but well under 95 % of resources passing every CIS check and critical findings
    fixed in days rather than hours. Each row is one check on one resource with the
    lifecycle of its latest failure: open failures, failures resolved by a later
    passing scan or by disappearing from one, a few muted results. Account ids are
    made up.
    """
    last_scan = ANCHOR - timedelta(hours=2)
    results = []
    created = []  # when each result was first seen at all, for its snapshots
    for account_index in range(10):
        account = f"1000000000{account_index:02d}"
        for service, checks in POSTURE_CHECKS.items():
            for resource_index in range(POSTURE_RESOURCES[service]):
                resource = f"arn:aws:{service}::{account}:demo-{service}-{resource_index}"
                for check, severity, frameworks in checks:
                    first_seen = last_scan - timedelta(days=rng.randint(120, 400))
                    row = {"id": f"aws:{account}:eu-west-1:{check}:{resource}",
                           "provider": "aws", "account": account, "resource": resource,
                           "check": check, "service": service, "severity": severity,
                           "frameworks": frameworks, "last_seen_at": iso(last_scan)}
                    roll = rng.random()
                    if roll < 0.07:  # failing now
                        age = rng.uniform(0.2, 12 if severity == "critical" else 120)
                        row.update(status="fail", first_seen_at=iso(
                            last_scan - timedelta(days=age)))
                    elif roll < 0.40:  # failed earlier, resolved
                        low, high = POSTURE_MTTR_DAYS[severity]
                        resolved = last_scan - timedelta(days=rng.uniform(1, 170))
                        opened = resolved - timedelta(days=rng.uniform(low, high))
                        gone = rng.random() < 0.15
                        row.update(status="fail" if gone else "pass",
                                   first_seen_at=iso(opened), resolved_at=iso(resolved))
                        if gone:
                            row["last_seen_at"] = iso(opened + (resolved - opened) / 2)
                    else:
                        row.update(status="pass", first_seen_at=iso(first_seen))
                    row["muted"] = row["status"] == "fail" and rng.random() < 0.08
                    results.append(row)
                    created.append(first_seen)
    return {"posture_results": results}, created


WEEKLY_SCANNED_ACCOUNTS = 3  # the newest accounts, scanned weekly until this quarter


def _posture_then(row: dict, made: datetime, scan: datetime) -> dict | None:
    """What Prowler reported for ``row``'s check in the scan at ``scan``, or ``None``.

    Replays the result's generated history: before its latest failing episode it
    passed (from ``made``, when the resource was first scanned), during it it failed,
    after it it is as today.
    """
    opened = datetime.fromisoformat(row["first_seen_at"])
    resolved = datetime.fromisoformat(row["resolved_at"]) if "resolved_at" in row else None
    failed = row["status"] == "fail" or resolved is not None
    then = dict(row, frameworks=list(row["frameworks"]))  # fresh list: no YAML aliases
    if failed and opened <= scan and (resolved is None or scan < resolved):
        then.update(status="fail", last_seen_at=iso(min(
            scan, datetime.fromisoformat(row["last_seen_at"]))))
        then.pop("resolved_at", None)
    elif failed and resolved is not None and resolved <= scan:
        if row["status"] == "pass":
            then["last_seen_at"] = iso(scan)
    elif made <= scan:  # passing: never failed, or its failure had not begun yet
        then.update(status="pass", first_seen_at=iso(made), last_seen_at=iso(scan),
                    muted=False)
        then.pop("resolved_at", None)
    else:
        return None  # not scanned yet
    return then


def make_posture_history(rng: random.Random, posture: dict,
                         created: list[datetime]) -> list[dict]:
    """Dated snapshots (observed_at) of the Prowler results: what each date's scans said.

    Replayed from each result's lifecycle as generated (:func:`_posture_then`), with
    the scan cadence of the time: the three newest accounts were scanned weekly, not
    nightly, until this quarter, so last quarter's continuous-CSPM criterion did not
    hold (cloud infrastructure at level 2 then, 3 now), and more resources were still
    failing. Newest snapshot first.
    """
    results = posture["posture_results"]
    accounts = sorted({r["account"] for r in results})
    weekly = set(accounts[-WEEKLY_SCANNED_ACCOUNTS:])
    snapshots = []
    for before, observed in _snapshot_times():
        at = ANCHOR - timedelta(seconds=before)
        scans = {account: at - (timedelta(days=rng.uniform(2, 6)) if account in weekly
                                else timedelta(hours=2)) for account in accounts}
        for row, made in zip(results, created, strict=True):
            then = _posture_then(row, made, scans[row["account"]])
            if then is not None:
                snapshots.append({"id": row["id"], "observed_at": observed, **then})
    return snapshots


def _append(document: dict, snapshots: dict) -> None:
    """Add each section's dated snapshots after its current records."""
    for section, rows in snapshots.items():
        document[section].extend(rows)


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
    # Its own random stream: the supply-chain settings change no other value.
    add_supply_chain_settings(random.Random(SEED + 17), repos, history)
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
    # Its own random stream: the detection demo changes none of the other demo data;
    # its snapshots have theirs, so they change none of today's values.
    detection = make_detection(random.Random(SEED + 16))
    _append(detection, make_detection_history(random.Random(SEED + 20), detection))
    (out / "detection.yaml").write_text(
        "# Demo detection rules (ATT&CK-mapped) and workloads of Acme Payments (generated "
        "by scripts/make_demo_data.py):\n# today's, then dated snapshots (observed_at) of "
        "earlier quarters.\n"
        + yaml.safe_dump(detection, sort_keys=False),
        encoding="utf-8")
    # Its own random stream: the identity demo changes none of the other demo data.
    identity = make_identity(random.Random(SEED + 14))
    _append(identity, make_identity_history(random.Random(SEED + 19), identity))
    (out / "identity.yaml").write_text(
        "# Demo identity and access data of Acme Payments (generated by "
        "scripts/make_demo_data.py):\n# accounts, applications, privileged assignments, "
        "offboardings, access reviews;\n# today's, then dated snapshots (observed_at) of "
        "earlier quarters.\n"
        + yaml.safe_dump(identity, sort_keys=False),
        encoding="utf-8")
    # Its own random stream: the supply chain demo changes none of the other demo data.
    (out / "supply_chain.yaml").write_text(
        "# Demo supply chain and security culture data of Acme Payments (generated by "
        "scripts/make_demo_data.py):\n# release artifacts, training records, internal "
        "vulnerability reports.\n"
        + yaml.safe_dump(make_supply_chain(random.Random(SEED + 17 + 1), repos),
                         sort_keys=False),
        encoding="utf-8")
    # Its own random stream: the posture demo changes none of the other demo data.
    posture, created = make_posture(random.Random(SEED + 15))
    _append(posture, {"posture_results": make_posture_history(random.Random(SEED + 21),
                                                              posture, created)})
    (out / "posture.json").write_text(json.dumps(posture, indent=0) + "\n",
                                      encoding="utf-8")
    print(f"wrote {len(repos)} repositories ({len(history)} earlier snapshots), "
          f"{len(findings)} findings to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "demo")
