"""End to end with the real servers: exporter -> Prometheus (shipped rules) -> Alertmanager.

Three exporter instances run on 127.0.0.1, as a sharded and replicated deployment
would: the bundled demo (``config.example.yaml`` unchanged, target label ``org="acme"``)
and two replicas of the regression scenario (``tests/fixtures/e2e/``: the demo plus open
critical findings past their SLA, ``org="acme-regressed"``; run as of the demo's anchor
day by ``serve_as_of.py`` so that a level drops whatever day the test runs, see there).
A real Prometheus scrapes
them every second and evaluates the shipped rule files unchanged; a real Alertmanager
routes to a webhook receiver served by this test. The test asserts that

- every scrape target is up and the shipped rules are loaded,
- every query of the shipped Grafana dashboard returns data through Prometheus's HTTP
  API (a query reading a metric the exporter does not publish yet is reported, not
  silently passed),
- the regression makes DevSecOpsMaturityDomainRegressed (vulnerability_management) and
  DevSecOpsCriticalVulnerabilitySLABreached arrive at the webhook, with their labels and
  annotations, for the regressed organisation only, and once per organisation
  whatever the number of replicas.

Everything listens on free loopback ports; every wait is bounded (the alerts have
``for: 1m``, so the test takes a bit over a minute); all processes are stopped at the
end, also on failure. Needs Debian's ``prometheus`` and ``prometheus-alertmanager``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.test_alert_rules import RULE_FILES, alerts, metric_names, require_binary
from tests.test_dashboard import dashboard_queries

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "config.example.yaml"
REGRESSION_CONFIG = ROOT / "tests" / "fixtures" / "e2e" / "config.yaml"
SERVE_AS_OF = ROOT / "tests" / "fixtures" / "e2e" / "serve_as_of.py"
# The regression scenario's exporters run as of this instant (demo anchor day, mid-Q4).
REGRESSION_AS_OF = "2026-11-23T12:00:00+00:00"
JOB = "devsecops-exporter"
DEMO_ORG, REGRESSED_ORG = "acme", "acme-regressed"
# instance name -> (config, org target label, as of); two replicas of the regressed org
EXPORTERS = {
    "demo": (DEMO_CONFIG, DEMO_ORG, None),
    "regressed": (REGRESSION_CONFIG, REGRESSED_ORG, REGRESSION_AS_OF),
    "regressed-replica": (REGRESSION_CONFIG, REGRESSED_ORG, REGRESSION_AS_OF),
}
EXPECTED_ALERTS = {
    # alertname -> labels it must carry (besides org)
    "DevSecOpsMaturityDomainRegressed": {"domain": "vulnerability_management",
                                         "severity": "warning"},
    "DevSecOpsCriticalVulnerabilitySLABreached": {"severity": "critical"},
}
ALERT_DEADLINE = 120.0  # seconds from Prometheus being ready; the rules wait 1 minute
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float,
             diagnostics: Callable[[], str] = lambda: "") -> T:
    """Poll ``probe`` until it returns something truthy; fail with diagnostics at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{diagnostics()}")
        time.sleep(0.5)


class Webhook:
    """Alertmanager's webhook receiver: records every alert it is sent."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body)
                with hook.lock:
                    hook.alerts.extend(payload.get("alerts", []))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.alerts)


@contextmanager
def running(name: str, argv: list[str], log: Path,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process in its own session; terminate it (then kill) on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=log.parent, start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return f"--- {path.name} ---\n" + "\n".join(
            path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def exporter_argv(config: Path, port: int, as_of: str | None) -> list[str]:
    """The real ``serve`` command; with ``as_of``, through the fixed-clock launcher."""
    command = ["serve", "--config", str(config), "--web.listen-address", f"127.0.0.1:{port}"]
    if as_of is None:
        return [sys.executable, "-m", "exporter", *command]
    return [sys.executable, str(SERVE_AS_OF), as_of, *command]


def prometheus_query(base: str, expr: str) -> list[dict[str, Any]]:
    status, body = http_get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200, f"query {expr!r} failed: HTTP {status} {body[:300]!r}"
    payload = json.loads(body)
    assert payload["status"] == "success", payload
    result = payload["data"]["result"]
    if payload["data"]["resultType"] == "scalar":
        return [{"metric": {}, "value": result}]
    return result


def test_shipped_rules_and_dashboard_against_real_prometheus_and_alertmanager(
        tmp_path: Path) -> None:
    prometheus = require_binary("prometheus")
    alertmanager = require_binary("alertmanager", "prometheus-alertmanager")
    ports = {name: free_port() for name in (*EXPORTERS, "prometheus", "alertmanager")}
    logs = {name: tmp_path / name / f"{name}.log" for name in ports}
    for log in logs.values():
        log.parent.mkdir()
    started: list[subprocess.Popen[bytes]] = []
    try:
        with ExitStack() as stack:
            _run_scenario(tmp_path, stack, started, ports, logs, prometheus, alertmanager)
    finally:
        still_running = [p.args for p in started if p.poll() is None]
        assert not still_running, f"processes left running: {still_running}"


def _run_scenario(tmp_path: Path, stack: ExitStack, started: list[subprocess.Popen[bytes]],
                  ports: dict[str, int], logs: dict[str, Path], prometheus: str,
                  alertmanager: str) -> None:
    prom = f"http://127.0.0.1:{ports['prometheus']}"
    am = f"http://127.0.0.1:{ports['alertmanager']}"

    def diagnostics() -> str:
        return "\n".join(tail(log) for log in logs.values())

    def start(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        started.append(stack.enter_context(running(name, argv, logs[name], env)))

    webhook = stack.enter_context(Webhook())

    # -- the exporter instances -------------------------------------------------------
    for name, (config, _, as_of) in EXPORTERS.items():
        env = {**os.environ, "DEVSECOPS_STORE__PATH": str(tmp_path / name / "store.db"),
               # this checkout's code, whatever copy of the package pip installed
               "PYTHONPATH": os.pathsep.join(
                   filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        start(name, exporter_argv(config, ports[name], as_of), env)
    for name in EXPORTERS:
        wait_for(f"exporter {name} /-/ready",
                 lambda n=name: http_get(f"http://127.0.0.1:{ports[n]}/-/ready")[0] == 200,
                 30, diagnostics)
    exported: set[str] = set()
    for name in EXPORTERS:
        status, body = http_get(f"http://127.0.0.1:{ports[name]}/metrics")
        assert status == 200
        exported |= {line.split("{")[0].split(" ")[0]
                     for line in body.decode().splitlines() if line and line[0] != "#"}

    # -- Alertmanager -> webhook -----------------------------------------------------
    am_config = tmp_path / "alertmanager" / "alertmanager.yml"
    am_config.write_text(yaml.safe_dump({
        "route": {"receiver": "test-webhook", "group_by": ["alertname", "org", "domain"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "test-webhook",
                       "webhook_configs": [{"url": webhook.url, "send_resolved": False}]}],
    }))
    start("alertmanager", [
        alertmanager, f"--config.file={am_config}",
        f"--storage.path={tmp_path / 'alertmanager' / 'data'}",
        f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
        "--cluster.listen-address=",  # no gossip port
    ])
    wait_for("alertmanager ready", lambda: http_get(f"{am}/-/ready")[0] == 200, 30,
             diagnostics)

    # -- Prometheus with the shipped rule files, unchanged ------------------------------
    prom_config = tmp_path / "prometheus" / "prometheus.yml"
    prom_config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
        "scrape_configs": [{"job_name": JOB, "static_configs": [
            {"targets": [f"127.0.0.1:{ports[name]}"], "labels": {"org": org}}
            for name, (_, org, _) in EXPORTERS.items()
        ]}],
    }))
    start("prometheus", [
        prometheus, f"--config.file={prom_config}",
        f"--storage.tsdb.path={tmp_path / 'prometheus' / 'data'}",
        f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
    ])
    wait_for("prometheus ready", lambda: http_get(f"{prom}/-/ready")[0] == 200, 30,
             diagnostics)
    ready_at = time.monotonic()

    # -- all targets up, rules loaded --------------------------------------------------
    def targets_up() -> bool:
        series = prometheus_query(prom, f'up{{job="{JOB}"}}')
        return len(series) == len(EXPORTERS) and all(s["value"][1] == "1" for s in series)

    wait_for("every exporter target up", targets_up, 30, diagnostics)
    status, body = http_get(f"{prom}/api/v1/rules")
    loaded = {rule["name"] for group in json.loads(body)["data"]["groups"]
              for rule in group["rules"] if rule["type"] == "alerting"}
    assert loaded == {rule["alert"] for rule in alerts()}

    # -- every dashboard query returns data --------------------------------------------
    not_exported: list[str] = []
    pending = []
    for title, ref, expr in dashboard_queries():
        missing = {n for n in metric_names(expr) if ":" not in n and n != "up"} - exported
        if missing:  # e.g. a metric of a stage that has not landed yet
            not_exported.append(f"{title} {ref}: {sorted(missing)}")
        else:
            pending.append((title, ref, expr))

    def all_queries_return_data() -> bool:
        pending[:] = [(t, r, e) for t, r, e in pending if not prometheus_query(prom, e)]
        return not pending

    wait_for("every dashboard query to return data", all_queries_return_data, 30,
             lambda: "still empty:\n" + "\n".join(f"{t} {r}: {e}" for t, r, e in pending))
    assert not not_exported, (
        "dashboard panels read metrics the exporter does not publish on demo data:\n"
        + "\n".join(not_exported))

    # -- the regression pages, for the regressed organisation only ---------------------
    # the scenario's precondition, as Prometheus sees it
    trend = prometheus_query(prom, f'min(devsecops_maturity_trend{{org="{REGRESSED_ORG}",'
                             'domain="vulnerability_management"})')
    assert trend and float(trend[0]["value"][1]) == -1, f"scenario broken: trend {trend}"

    # the dashboard's "Level vs target" table: this and last quarter's level, selected by
    # joining each target's devsecops_quarter_info (two replicas: the join must stay
    # one-to-one, or the rule errors), show the same drop as the trend
    levels = {}
    for period in ("current", "previous"):
        series = prometheus_query(
            prom, f'org_domain:devsecops_maturity_level_{period}:max{{org="{REGRESSED_ORG}",'
            'domain="vulnerability_management"}')
        assert len(series) == 1, f"{period} level: {series}"
        levels[period] = float(series[0]["value"][1])
    assert levels["current"] - levels["previous"] == -1, levels
    status, body = http_get(f"{prom}/api/v1/rules")
    assert status == 200
    failing = {rule["name"]: rule.get("lastError") for group in json.loads(body)["data"]["groups"]
               for rule in group["rules"] if rule.get("health") == "err"}
    assert not failing, f"rules failing to evaluate: {failing}"

    def expected_alerts_arrived() -> dict[str, dict[str, Any]] | None:
        found = {}
        for alert in webhook.received():
            labels = alert["labels"]
            want = EXPECTED_ALERTS.get(labels.get("alertname"))
            if want and labels.get("org") == REGRESSED_ORG and want.items() <= labels.items():
                found[labels["alertname"]] = alert
        return found if len(found) == len(EXPECTED_ALERTS) else None

    remaining = ALERT_DEADLINE - (time.monotonic() - ready_at)
    arrived = wait_for(
        "the regression alerts at the webhook", expected_alerts_arrived, remaining,
        lambda: (f"webhook got: {json.dumps(webhook.received(), indent=1)[:3000]}\n"
                 f"ALERTS: {prometheus_query(prom, 'ALERTS')}\n{diagnostics()}"))

    regressed = arrived["DevSecOpsMaturityDomainRegressed"]
    assert regressed["status"] == "firing"
    assert "instance" not in regressed["labels"], "organisation alerts aggregate instances"
    assert "Domain vulnerability_management of acme-regressed has a trend of -1 level(s)" \
        in regressed["annotations"]["description"]
    assert regressed["annotations"]["runbook_url"].endswith(
        "docs/runbook.md#devsecopsmaturitydomainregressed")
    sla = arrived["DevSecOpsCriticalVulnerabilitySLABreached"]
    assert sla["annotations"]["summary"] == (
        "Critical vulnerability SLA compliance is under 90 %.")
    sla_value = prometheus_query(
        prom, f'vulnerability_sla_compliance_pct{{severity="critical",org="{REGRESSED_ORG}"}}')
    shown = float(sla_value[0]["value"][1])
    assert shown < 90
    assert f"Only {shown:.1f} % of critical findings of {REGRESSED_ORG}" \
        in sla["annotations"]["description"]

    # the demo organisation's critical SLA compliance is fine (94 % on any day): no page.
    # (Its levels depend on the day the test runs, so its trends are not asserted.)
    sla_alert = "DevSecOpsCriticalVulnerabilitySLABreached"
    for alert in webhook.received():
        if alert["labels"].get("alertname") == sla_alert:
            assert alert["labels"].get("org") == REGRESSED_ORG, alert
    assert prometheus_query(prom, f'ALERTS{{org="{DEMO_ORG}",alertname="{sla_alert}"}}') == []
    names = "|".join(EXPECTED_ALERTS)
    # two replicas scraped, one alert per organisation (the rules aggregate by org)
    firing = prometheus_query(
        prom, f'ALERTS{{org="{REGRESSED_ORG}",alertname=~"{names}",alertstate="firing"}}')
    assert sorted(a["metric"]["alertname"] for a in firing) == sorted(EXPECTED_ALERTS), firing
