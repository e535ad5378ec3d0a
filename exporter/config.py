"""Configuration: one YAML file, environment overrides, strict validation.

Every key is checked: an unknown key, a wrong type or a bad duration is an error
that names the file, the line and the key path. Environment variables prefixed
``DEVSECOPS_`` override scalar settings (``DEVSECOPS_WEB__LISTEN_ADDRESS=:9999``,
``DEVSECOPS_STORE__PATH=/data/x.db``; ``__`` separates nesting levels). Each
collector's ``config`` block is validated by that collector's own model.

``load_config`` raises :class:`ConfigError` and nothing else, whatever the file holds
(reload relies on it to keep the running config): the YAML is read by the strict loader
in :mod:`collectors.yamlsafe` (UTF-8, size, depth, alias and duplicate-key limits), and
every value that would fail later is bounded here, so ``check-config`` passing means
``serve`` and every run can start. A config must name at least one collector: an empty
or truncated file is refused rather than read as "collect nothing".
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from collectors.records import Severity
from collectors.settings import (
    ConfigPath,
    PositiveDuration,
    StrictModel,
    duration_between,
    format_duration,
)
from collectors.yamlsafe import YamlDocument, YamlError, read_yaml
from exporter import plugins
from exporter.plugins import PluginError, load_collector_class

DEFAULT_PORT = 10121
ENV_PREFIX = "DEVSECOPS_"
_LABEL_VALUE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

# Bounds of the schedule settings. Outside them a collector floods its source (1ms),
# overflows APScheduler (a million days) or never runs (a jitter of years).
MIN_INTERVAL = timedelta(seconds=10)
MAX_INTERVAL = timedelta(days=31)
MAX_JITTER = timedelta(days=1)
MIN_TIMEOUT = timedelta(seconds=1)
MAX_TIMEOUT = timedelta(days=1)
MAX_SLA_DAYS = 3650
DEFAULT_INTERVAL = timedelta(minutes=15)
NO_COLLECTORS = ("no collectors configured: list at least one under 'collectors:' (see "
                 "config.example.yaml); a config without collectors is refused because it "
                 "is more often a truncated file than an intent to collect nothing")


class ConfigError(Exception):
    """An invalid configuration; ``problems`` holds one line per error."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: invalid configuration:\n  " + "\n  ".join(problems))


def parse_listen_address(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``:PORT`` means all interfaces, ``[::1]:PORT`` for IPv6)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"listen address {value!r} must look like HOST:PORT or :PORT")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    host = host.strip("[]")
    return host, port


def _check_listen_address(value: str) -> str:
    parse_listen_address(value)
    return value


ListenAddress = Annotated[str, AfterValidator(_check_listen_address)]


def _check_label_value(value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise ValueError(
            f"{value!r} must be lowercase letters, digits, '_' or '-', starting with a letter "
            "(it becomes a metric label value)"
        )
    return value


LabelValue = Annotated[str, AfterValidator(_check_label_value)]


class WebConfig(StrictModel):
    listen_address: ListenAddress = f":{DEFAULT_PORT}"
    telemetry_path: str = "/metrics"

    @field_validator("telemetry_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value in ("/", "/-/healthy", "/-/ready", "/-/reload"):
            raise ValueError("telemetry_path must be an absolute path other than / and /-/*")
        return value


class StoreConfig(StrictModel):
    path: ConfigPath = Field(default=Path("devsecops-exporter.db"), validate_default=True,
                             description="SQLite file; relative to the config file")


class QuarterConfig(StrictModel):
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)


def _default_sla_days() -> dict[Severity, int]:
    return {Severity.CRITICAL: 7, Severity.HIGH: 30, Severity.MEDIUM: 90, Severity.LOW: 120}


class SlaConfig(StrictModel):
    window: PositiveDuration = timedelta(days=90)
    days: dict[Severity, Annotated[int, Field(ge=1, le=MAX_SLA_DAYS)]] = Field(
        default_factory=_default_sla_days)

    @model_validator(mode="after")
    def _all_severities(self) -> SlaConfig:
        missing = [s.value for s in Severity if s not in self.days]
        if missing:
            raise ValueError(f"days is missing severities: {', '.join(missing)}")
        return self


class RepositoryScope(StrictModel):
    """Which repositories count as active for coverage shares."""

    include_forks: bool = False
    exclude: list[str] = Field(default_factory=list, description="regexes on repository name")

    @field_validator("exclude")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except (re.error, OverflowError, RecursionError) as exc:  # a{99999999999}
                raise ValueError(f"invalid regex {pattern[:60]!r}: {exc}") from None
        return patterns


class DetectionConfig(StrictModel):
    """Detection coverage: which ATT&CK platforms the denominator counts."""

    platforms: list[str] = Field(
        default_factory=list,
        description="ATT&CK platforms counted in the coverage denominator; empty = all")

    @field_validator("platforms")
    @classmethod
    def _known_platforms(cls, platforms: list[str]) -> list[str]:
        from exporter.attack import load_matrix

        matrix = load_matrix()
        unknown = matrix.unknown_platforms(platforms)
        if unknown:
            raise ValueError(f"unknown ATT&CK platform(s) {', '.join(map(repr, unknown))}; "
                             f"known in ATT&CK {matrix.version}: {', '.join(matrix.platforms)}")
        return platforms


class IdentityConfig(StrictModel):
    """Identity and access derivation: the offboarding SLA and who counts in MFA."""

    offboarding_sla: PositiveDuration = Field(
        default=timedelta(hours=4), description="leave date to access removed")
    count_guests: bool = Field(default=False,
                               description="guest accounts count in MFA coverage")


def _default_cloud_sla_days() -> dict[Severity, int]:
    return {Severity.CRITICAL: 7, Severity.HIGH: 30, Severity.MEDIUM: 90, Severity.LOW: 180}


class CloudSlaConfig(SlaConfig):
    """Posture SLAs: the vulnerability SLA definition with its own days per severity."""

    days: dict[Severity, Annotated[int, Field(ge=1, le=MAX_SLA_DAYS)]] = Field(
        default_factory=_default_cloud_sla_days)


class CloudConfig(StrictModel):
    """Cloud posture derivation: posture SLAs, scan recency, IAM services, frameworks."""

    sla: CloudSlaConfig = Field(default_factory=CloudSlaConfig)
    scan_max_age: PositiveDuration = Field(
        default=timedelta(hours=24),
        description="an account counts as scanned when its newest result is younger")
    iam_services: list[str] = Field(
        default_factory=lambda: ["iam", "entra", "rbac"],
        description="services whose checks count for the IAM passing ratio")
    frameworks: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = Field(
        default_factory=lambda: ["cis", "nist", "pci", "iso27001", "soc2", "aws_fsbp",
                                 "hipaa", "gdpr"],
        max_length=32, description="framework families published as label values")


class ScansConfig(StrictModel):
    """Scanner coverage (the ``reports`` collector's scan targets)."""

    max_age: PositiveDuration = Field(
        default=timedelta(days=7),
        description="a target counts as scanned when its newest report is younger")
    dast_targets: list[str] = Field(
        default_factory=list,
        description="the services DAST must cover, named as the reports name them (after "
                    "the collector's `targets` mapping); empty = no DAST coverage share")


class MaturityConfig(StrictModel):
    rules: ConfigPath | None = Field(default=None, description="level rules; default: bundled")
    assessments: ConfigPath | None = None
    playbooks: ConfigPath | None = Field(default=None,
                                         description="level-up playbooks; default: bundled")
    evidence_max_age: PositiveDuration = timedelta(days=120)


Interval = duration_between(MIN_INTERVAL, MAX_INTERVAL)
Jitter = duration_between(timedelta(0), MAX_JITTER)
Timeout = duration_between(MIN_TIMEOUT, MAX_TIMEOUT)


@lru_cache(maxsize=256)
def _cron_problem(expression: str) -> str | None:
    """Why a crontab line cannot schedule anything, or None; cached per distinct line."""
    from datetime import UTC, datetime

    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expression, timezone="UTC")
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        return f"invalid cron expression {expression[:60]!r}: {exc}"
    # A valid line can still name no real day (30 2 = 30 February): it would never run.
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        return f"cron expression {expression!r} never fires (no such date)"
    return None


class CollectorEntry(StrictModel):
    name: LabelValue
    type: str
    interval: Interval | None = None
    cron: str | None = None
    jitter: Jitter = timedelta(seconds=10)
    timeout: Timeout = timedelta(minutes=10)
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_schedule(self) -> CollectorEntry:
        if self.interval is not None and self.cron is not None:
            raise ValueError("set either interval or cron, not both")
        if self.cron is not None:
            problem = _cron_problem(self.cron)
            if problem:
                raise ValueError(problem)
        if self.jitter > self.schedule_interval and self.cron is None:
            raise ValueError(f"jitter {format_duration(self.jitter)} is longer than the "
                             f"interval {format_duration(self.schedule_interval)}: use at most "
                             "the interval (and at most 1d)")
        return self

    @property
    def schedule_interval(self) -> timedelta:
        """The nominal interval, used in HELP text and staleness: cron counts as 1h."""
        if self.interval is not None:
            return self.interval
        return timedelta(hours=1) if self.cron else DEFAULT_INTERVAL


class Config(StrictModel):
    """The whole configuration file."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    web: WebConfig = Field(default_factory=WebConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    quarters: QuarterConfig = Field(default_factory=QuarterConfig)
    sla: SlaConfig = Field(default_factory=SlaConfig)
    repositories: RepositoryScope = Field(default_factory=RepositoryScope)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    cloud: CloudConfig = Field(default_factory=CloudConfig)
    scans: ScansConfig = Field(default_factory=ScansConfig)
    maturity: MaturityConfig = Field(default_factory=MaturityConfig)
    collectors: list[CollectorEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        counts = Counter(c.name for c in self.collectors)
        duplicates = sorted(n for n, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"collector names must be unique: {', '.join(duplicates)}")
        return self


class _ConfigFromEnvironment(Config, BaseSettings):
    """Config's fields as pydantic-settings sees them, to read ``DEVSECOPS_*`` overrides.

    Kept apart from :class:`Config` because a settings class does not pass the
    validation context (the config file's directory) down to nested models.
    """

    model_config = SettingsConfigDict(
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )


class LoadedConfig(BaseModel):
    """A validated config plus each collector's validated settings object."""

    model_config = {"arbitrary_types_allowed": True, "frozen": True}

    path: Path
    config: Config
    collector_settings: dict[str, Any]

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problems(exc: ValidationError, document: YamlDocument, file: str,
              prefix: tuple[Any, ...] = ()) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = (*prefix, *error["loc"])
        # pydantic reports tagged/union members; drop internal markers like 'function-after'
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        line = document.line_of(loc)
        where = f"{file}:{line}" if line else file
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see config.example.yaml)"
        elif loc == ("collectors",) and error["type"] in ("missing", "too_short"):
            message = NO_COLLECTORS
        problems.append(f"{where}: {_format_loc(loc)}: {message}")
    return problems


def env_overrides() -> dict[str, Any]:
    """Settings from ``DEVSECOPS_*`` environment variables, as a nested mapping."""
    return EnvSettingsSource(_ConfigFromEnvironment)()


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(path: Path | str) -> LoadedConfig:
    """Read, merge with the environment and validate; raise ConfigError on any problem.

    No other exception escapes, whatever the file's bytes: ``reload`` keeps the running
    config on ConfigError and would crash on anything else.
    """
    path = Path(path)
    try:
        return _load(path)
    except ConfigError:
        raise
    except Exception as exc:  # a bug or a plugin's; still the operator's file to fix
        raise ConfigError(path, [f"{path}: cannot validate the configuration: "
                                 f"{type(exc).__name__}: {exc}"]) from None


def _load(path: Path) -> LoadedConfig:
    try:
        document = read_yaml(path)
    except YamlError as exc:
        raise ConfigError(path, [str(exc)]) from None
    data = document.data
    if data is None:
        raise ConfigError(path, [f"{path}: the file is empty (or only comments): {NO_COLLECTORS}"])
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{path}: the top level must be a mapping of settings"])
    if data.get("collectors", ()) is None:  # "collectors:" with nothing under it
        del data["collectors"]
    # Sections left out still get their relative paths resolved against this file.
    data.setdefault("store", {})
    context = {"base_dir": path.resolve().parent}
    try:
        merged = _deep_merge(data, env_overrides())
    except Exception as exc:  # pydantic-settings reports unparsable env values this way
        raise ConfigError(path, [f"environment override: {exc}"]) from None
    try:
        config = Config.model_validate(merged, context=context)
    except ValidationError as exc:
        raise ConfigError(path, _problems(exc, document, str(path))) from None

    plugins.rescan()  # once per load, not per collector: 20,000 collectors took 90 s
    problems: list[str] = []
    settings: dict[str, Any] = {}
    for index, entry in enumerate(config.collectors):
        loc = ("collectors", index)
        try:
            cls = load_collector_class(entry.type)
        except PluginError as exc:
            line = document.line_of((*loc, "type"))
            problems.append(f"{path}:{line}: {_format_loc((*loc, 'type'))}: {exc}")
            continue
        try:
            settings[entry.name] = cls.config_model.model_validate(entry.config, context=context)
        except ValidationError as exc:
            problems.extend(_problems(exc, document, str(path), (*loc, "config")))
        except Exception as exc:  # a collector model's validator that raised past pydantic
            line = document.line_of((*loc, "config"))
            where = f"{path}:{line}" if line else str(path)
            problems.append(f"{where}: {_format_loc((*loc, 'config'))}: invalid value "
                            f"({type(exc).__name__}: {exc})")
    if problems:
        raise ConfigError(path, problems)
    return LoadedConfig(path=path.resolve(), config=config, collector_settings=settings)
