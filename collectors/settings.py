"""Config building blocks shared by the core config and every collector's own model.

``Duration`` accepts ``30s``, ``15m``, ``1h30m``, ``90d`` or a bare number of seconds.
``Secret`` accepts only a reference, ``{env: NAME}`` or ``{file: PATH}``, and resolves
it while the config is validated, so a missing variable fails at start-up naming the
key, and the value itself is held as ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationInfo,
)

from collectors.redact import register_secret

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Parse ``1h30m``-style durations (Prometheus syntax) or seconds into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '15m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return timedelta(seconds=value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a duration must be a number of seconds or a string like '15m'")
    text = value.strip()
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"invalid duration {value!r}: use units ms, s, m, h, d, w as in '1h30m'")
    return timedelta(seconds=total)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("duration must be greater than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(lambda v: _positive(parse_duration(v)))]


def resolve_secret(value: Any, info: ValidationInfo) -> SecretStr:
    """Resolve ``{env: NAME}`` or ``{file: PATH}`` to a ``SecretStr``.

    Literal strings are refused on purpose: a token written into a YAML file ends up in
    backups, diffs and support tickets.
    """
    if isinstance(value, SecretStr):
        register_secret(value.get_secret_value())
        return value
    if not isinstance(value, dict) or set(value) not in ({"env"}, {"file"}):
        raise ValueError(
            "secrets are not accepted inline; write {env: VARIABLE} or {file: /path/to/file}"
        )
    if "env" in value:
        name = str(value["env"])
        secret = os.environ.get(name)
        if secret is None or secret == "":
            raise ValueError(f"environment variable {name} is not set or empty")
        register_secret(secret.strip())
        return SecretStr(secret.strip())
    base_dir = (info.context or {}).get("base_dir") if info.context else None
    path = Path(str(value["file"])).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not secret:
        raise ValueError(f"secret file {path} is empty")
    register_secret(secret)
    return SecretStr(secret)


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_time_zone)]
"""An IANA time zone name such as ``Europe/Berlin`` (for sources that write local times)."""


def resolve_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve a relative path against the directory of the config file that names it."""
    path = Path(str(value)).expanduser()
    base_dir = (info.context or {}).get("base_dir") if info.context else None
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


ConfigPath = Annotated[Path, BeforeValidator(resolve_path)]


class StrictModel(BaseModel):
    """Base for every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
