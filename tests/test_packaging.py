"""Container and Kubernetes packaging: Dockerfile, compose demo, manifests, generated files.

No Docker daemon or cluster is needed: the Dockerfile is parsed and the image's file
layout rebuilt in a temporary directory to run the exporter's ``check-config`` on the
config it bakes in; compose and Kubernetes files are checked for consistency with each
other and with the rules, dashboard and provisioning they mount; promtool and amtool
validate the Prometheus and Alertmanager configs; the generated PrometheusRule and
dashboard ConfigMap must match what ``deploy/generate.py`` makes from their sources.
Where a Docker daemon or kubectl exists, the image is built and the kustomization
rendered too.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_alert_rules import RULE_FILES, require_binary

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "deploy" / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "build-requirements.lock"
COMPOSE_DIR = ROOT / "deploy" / "compose"
K8S_DIR = ROOT / "deploy" / "kubernetes"
DASHBOARD = ROOT / "grafana" / "dashboards" / "devsecops-maturity.json"
JOB = "devsecops-exporter"
PORT = 10121


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_generate",
                                                  ROOT / "deploy" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- Dockerfile -------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def _json_or_shell(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def _dockerignored(relative: str) -> bool:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    for pattern in patterns:
        pattern = pattern.lstrip("/").removeprefix("**/")
        if fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/"):
            return True
    return False


def test_dockerfile_runtime_stage() -> None:
    stage = final_stage()
    base = stage[0][1]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE.read_text(), re.M))
    image = args.get(base.strip("${}"), base)
    assert re.fullmatch(r"python:3\.1[1-9][\w.-]*-slim[\w.-]*(@sha256:[0-9a-f]{64})?", image), image
    users = [a for k, a in stage if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "must run as non-root"
    entrypoint = [_json_or_shell(a) for k, a in stage if k == "ENTRYPOINT"]
    assert entrypoint == [["devsecops-exporter"]]
    cmd = [_json_or_shell(a) for k, a in stage if k == "CMD"][-1]
    assert cmd[0] == "serve" and "--config" in cmd
    volumes = [v for k, a in stage if k == "VOLUME" for v in _json_or_shell(a)]
    config_path = cmd[cmd.index("--config") + 1]
    assert str(Path(config_path).parent) in volumes, "the config directory must be a volume"
    env = " ".join(a for k, a in stage if k == "ENV")
    store = re.search(r"DEVSECOPS_STORE__PATH=(\S+)", env)
    assert store and any(store.group(1).startswith(v + "/") for v in volumes), (
        "the SQLite store must live on a volume")
    healthcheck = " ".join(a for k, a in stage if k == "HEALTHCHECK")
    assert f"127.0.0.1:{PORT}/-/healthy" in healthcheck
    assert [a for k, a in stage if k == "EXPOSE"] == [str(PORT)]


def test_dockerfile_installs_from_the_lock_only() -> None:
    runs = " ".join(a for k, a in dockerfile_instructions() if k == "RUN")
    for install in re.findall(r"pip install[^&]*", runs):
        assert "--no-deps" in install, f"dependency resolution during the build: {install}"
    assert "-r requirements.lock" in runs and "-r build-requirements.lock" in runs
    assert "--no-build-isolation" in runs, "the build backend must come from the lock"
    assert "pip check" in runs


def test_dockerfile_copies_exist_and_are_not_ignored() -> None:
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, _ = shlex.split(args)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not _dockerignored(source), f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out() -> None:
    for path in (".git", "devsecops-exporter.db", ".cache", "tests", ".venv"):
        assert _dockerignored(path), path


def test_image_layout_runs_check_config(tmp_path: Path) -> None:
    """Rebuild the final stage's files under tmp_path and validate the baked-in config."""
    root = tmp_path / "image"
    for keyword, args in final_stage():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, dest = shlex.split(args)
        for source in sources:
            target = root / dest.lstrip("/")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, target)
    cmd = [_json_or_shell(a) for k, a in final_stage() if k == "CMD"][-1]
    config = root / cmd[cmd.index("--config") + 1].lstrip("/")
    env = {"DEVSECOPS_STORE__PATH": str(tmp_path / "data" / "store.db"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "exporter", "check-config", "--config",
                           str(config)], capture_output=True, text=True, timeout=60, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- dependency lock ----------------------------------------------------------------------


def _lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def _runtime_requirements() -> list[Requirement]:
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_lock_pins_every_runtime_dependency() -> None:
    pins = _lock(LOCK)
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} missing from {LOCK.name}"
        assert requirement.specifier.contains(pins[name]), (
            f"{name}=={pins[name]} does not satisfy pyproject's {requirement}")
    build = _lock(BUILD_LOCK)
    assert "setuptools" in build


def test_lock_is_closed_under_requirements() -> None:
    """Every requirement of a pinned package is pinned too (checked where installed)."""
    pins = _lock(LOCK)
    checked = 0
    for name, version in pins.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        checked += 1
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(
                    {"extra": "", "python_version": "3.11", "sys_platform": "linux"}):
                continue
            dep = canonicalize_name(requirement.name)
            assert dep in pins, f"{name} needs {dep}, which the lock does not pin"
            assert requirement.specifier.contains(pins[dep], prereleases=True), (
                f"{name} needs {requirement}, lock has {pins[dep]}")
    if checked == 0:
        pytest.skip("no locked version is installed here to read its requirements from")


# -- docker compose -----------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path for the bind mounts of a service."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = (COMPOSE_DIR / source).resolve()
    return out


def test_compose_services_and_mounts() -> None:
    services = _compose()["services"]
    assert {"exporter", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert services["exporter"]["build"]["context"] == "../.."
    assert (COMPOSE_DIR / services["exporter"]["build"]["context"] / "Dockerfile").exists()
    for name, service in services.items():
        for target, source in _mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
    prometheus = _mounts(services["prometheus"])
    assert prometheus["/etc/prometheus/rules"] == (ROOT / "alert_rules")
    grafana = _mounts(services["grafana"])
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/devsecops.yaml")
                              .read_text())["providers"][0]
    assert grafana[provider["options"]["path"]] == DASHBOARD.parent
    assert grafana["/etc/grafana/provisioning/datasources"] == (
        ROOT / "grafana/provisioning/datasources")
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yaml")
                                .read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


def test_compose_prometheus_config_loads_the_shipped_rules(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    assert job["static_configs"][0]["targets"] == [f"exporter:{PORT}"]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    # the same config with the rules directory where compose mounts it from
    config["rule_files"] = [str(ROOT / "alert_rules" / "*.yml")]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    proc = subprocess.run([promtool, "check", "config", str(local)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    groups = [g for path in RULE_FILES for g in yaml.safe_load(path.read_text())["groups"]]
    rules = sum(len(g["rules"]) for g in groups)
    # promtool reports each rule file on its own: every shipped file, every rule, loaded
    found = [int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", proc.stdout)]
    assert len(found) == len(RULE_FILES) and sum(found) == rules, proc.stdout


def test_compose_alertmanager_config_is_valid() -> None:
    amtool = require_binary("amtool")
    proc = subprocess.run([amtool, "check-config", str(COMPOSE_DIR / "alertmanager.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- Kubernetes ---------------------------------------------------------------------------


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_kubernetes_objects_fit_together() -> None:
    objects = _k8s()
    deployment = objects[("Deployment", "devsecops-exporter")]
    service = objects[("Service", JOB)]  # the Service name is the job label the alerts use
    monitor = objects[("ServiceMonitor", "devsecops-exporter")]
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels
    assert service["spec"]["selector"].items() <= pod_labels
    service_labels = service["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports
    (container,) = pod["spec"]["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container_ports == {"http-metrics": PORT}
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    security = {**pod["spec"]["securityContext"], **container["securityContext"]}
    assert security["runAsNonRoot"] and security["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_mount = mounts["/etc/devsecops-exporter/config.yaml"]
    config_map = volumes[config_mount["name"]]["configMap"]["name"]
    assert ("ConfigMap", config_map) in objects
    claim = volumes[mounts["/data"]["name"]]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in objects
    args = container["args"]
    assert args[args.index("--config") + 1] == "/etc/devsecops-exporter/config.yaml"


def test_kubernetes_config_is_valid_in_the_image_layout(tmp_path: Path) -> None:
    """The ConfigMap's config.yaml beside the image's demo data passes check-config."""
    config_map = _k8s()[("ConfigMap", "devsecops-exporter-config")]
    etc = tmp_path / "etc"
    shutil.copytree(ROOT / "demo", etc / "demo")
    (etc / "config.yaml").write_text(config_map["data"]["config.yaml"])
    proc = subprocess.run([sys.executable, "-m", "exporter", "check-config", "--config",
                           str(etc / "config.yaml")], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path,
                          env={"DEVSECOPS_STORE__PATH": str(tmp_path / "store.db"),
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_files_are_in_sync() -> None:
    generator = _load_generator()
    for path, text in generator.outputs().items():
        assert path.read_text() == text, f"{path.name} is stale: run python deploy/generate.py"
    proc = subprocess.run([sys.executable, str(ROOT / "deploy" / "generate.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_generator_check_detects_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _load_generator()
    rules = tmp_path / "alert_rules"
    rules.mkdir()
    for path in RULE_FILES:
        (rules / path.name).write_text(path.read_text().replace("< 90", "< 85"))
    monkeypatch.setattr(generator, "RULES_DIR", rules)
    assert generator.main(["--check"]) == 1


def test_prometheus_rule_carries_the_rule_files_unchanged(tmp_path: Path) -> None:
    rule = _k8s()[("PrometheusRule", "devsecops-exporter")]
    groups = [g for path in RULE_FILES for g in yaml.safe_load(path.read_text())["groups"]]
    assert rule["spec"]["groups"] == groups
    promtool = require_binary("promtool")
    extracted = tmp_path / "from-prometheusrule.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    proc = subprocess.run([promtool, "check", "rules", str(extracted)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_configmap_for_the_grafana_sidecar() -> None:
    config_map = _k8s()[("ConfigMap", "devsecops-exporter-dashboards")]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"][DASHBOARD.name]) == json.loads(DASHBOARD.read_text())
    size = len(json.dumps(config_map).encode())
    assert size < 262_144, "too big for kubectl apply's last-applied annotation"


def test_kustomize_renders() -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not installed (optional: renders deploy/kubernetes with kustomize)")
    proc = subprocess.run([kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(proc.stdout))
    assert kinds == sorted(["ConfigMap", "ConfigMap", "Deployment", "PersistentVolumeClaim",
                            "PrometheusRule", "Service", "ServiceMonitor"])


@pytest.mark.slow
def test_docker_image_builds_and_serves(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "info"], capture_output=True,
                                    timeout=30).returncode != 0:
        pytest.skip("no Docker daemon here")
    tag = "devsecops-maturity-exporter:test"
    build = subprocess.run([docker, "build", "-t", tag, str(ROOT)], capture_output=True,
                           text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    check = subprocess.run([docker, "run", "--rm", tag, "check-config", "--config",
                            "/etc/devsecops-exporter/config.yaml"], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    user = subprocess.run([docker, "run", "--rm", "--entrypoint", "id", tag, "-u"],
                          capture_output=True, text=True, timeout=120)
    assert user.stdout.strip() == "10001"


def test_the_wheel_carries_every_data_file_the_package_reads(tmp_path: Path) -> None:
    """A pip install (the container image does one) must ship the bundled data too:
    the rules, the ATT&CK matrix, anything under exporter/ or collectors/ that is not
    Python. Built from a copy of the tracked files, as a fresh clone would be."""
    import zipfile

    tracked = subprocess.run(["git", "ls-files", "exporter", "collectors"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    data = {path for path in tracked if not path.endswith(".py")}
    assert "exporter/data/attack-enterprise-18.1.json.gz" in data  # the check checks
    source = tmp_path / "src"
    for path in [*tracked, "pyproject.toml", "README.md", "LICENSE"]:
        if (ROOT / path).exists():
            (source / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / path, source / path)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "--disable-pip-version-check", "-w", str(tmp_path / "dist"),
                           str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert data <= shipped, f"not in the wheel: {sorted(data - shipped)}"
