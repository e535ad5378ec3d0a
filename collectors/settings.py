"""Config building blocks shared by the core config and every collector's own model.

``Duration`` accepts ``30s``, ``15m``, ``1h30m``, ``90d`` or a bare number of seconds,
finite and under 100 years (``MAX_DURATION``): a longer one is a typo, and would overflow
the scheduler and date arithmetic at run time instead of failing ``check-config``.
``duration_between(low, high)`` narrows that for a setting with a sensible range.
``Secret`` accepts only a reference, ``{env: NAME}`` or ``{file: PATH}``, and resolves
it while the config is validated, so a missing variable fails at start-up naming the
key, and the value itself is held as ``SecretStr`` and never printed.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime, timedelta
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
MAX_DURATION = timedelta(days=36500)
"""The longest duration any setting accepts: 100 years (36500d)."""


def format_duration(value: timedelta) -> str:
    """``timedelta(days=31)`` as ``31d``: the largest whole unit, for error messages."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _bounded(seconds: float, value: Any) -> timedelta:
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be a finite number of seconds, not {value!r}")
    if seconds < 0:
        raise ValueError("a duration must not be negative")
    if seconds >= MAX_DURATION.total_seconds():
        raise _too_long(value)
    return timedelta(seconds=seconds)


class _TooLong(ValueError):
    """A duration past MAX_DURATION; a narrower range reports its own bounds instead."""


def _too_long(value: Any) -> ValueError:
    return _TooLong(f"duration {_shown(value)} is too long: durations must be shorter "
                    f"than {format_duration(MAX_DURATION)} (100 years)")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: Any) -> timedelta:
    """Parse ``1h30m``-style durations (Prometheus syntax) or seconds into a timedelta.

    Raises ValueError (never OverflowError) for anything not finite, negative or not
    shorter than ``MAX_DURATION``, so validation reports it as a config problem.
    """
    if isinstance(value, timedelta):
        return _bounded(value.total_seconds(), value)
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '15m'")
    if isinstance(value, int):  # compared before float(), which 10**400 overflows
        if value < 0:
            raise ValueError("a duration must not be negative")
        if value >= MAX_DURATION.total_seconds():
            raise _too_long(value)
        return timedelta(seconds=value)
    if isinstance(value, float):
        return _bounded(value, value)
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
        raise ValueError(f"invalid duration {_shown(value)}: use units ms, s, m, h, d, w as in "
                         "'1h30m'")
    if not math.isfinite(total):  # float() of 400 digits is inf
        raise _too_long(value)
    return _bounded(total, value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("duration must be greater than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(lambda v: _positive(parse_duration(v)))]


def duration_between(low: timedelta, high: timedelta) -> Any:
    """A Duration type accepting only ``low`` to ``high`` inclusive, saying so when not.

    For settings whose extremes fail later: an interval of 1ms floods the source, one
    of a million days overflows the scheduler.
    """

    bounds = f"use {format_duration(low)} to {format_duration(high)}"

    def check(value: Any) -> timedelta:
        try:
            parsed = parse_duration(value)
        except _TooLong:
            raise ValueError(f"{_shown(value)} is out of range: {bounds}") from None
        if not low <= parsed <= high:
            raise ValueError(f"{format_duration(parsed)} is out of range: {bounds}")
        return parsed

    return Annotated[timedelta, BeforeValidator(check)]


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def check_time(value: datetime) -> datetime:
    """An aware datetime from 1970 up to 2200, in UTC; ValueError otherwise.

    Times near the ends of the calendar (year 1, year 9999) validate as datetimes but
    overflow as soon as a run shifts or compares them; no real timestamp is there.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the time needs a time zone, e.g. 2026-11-23T00:00:00Z")
    if not _EARLIEST.year <= value.year < _LATEST.year:
        raise ValueError(f"{value.isoformat()} is out of range: use a time from "
                         f"{_EARLIEST:%Y-%m-%d} to before {_LATEST:%Y-%m-%d}")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # pragma: no cover - excluded by the year check above
        raise ValueError(f"{value.isoformat()} is out of range") from None
    if not _EARLIEST <= utc < _LATEST:
        raise ValueError(f"{value.isoformat()} is out of range: use a time from "
                         f"{_EARLIEST:%Y-%m-%d} to before {_LATEST:%Y-%m-%d}")
    return utc


BoundedTime = Annotated[datetime, AfterValidator(check_time)]
"""An aware timestamp from 1970 to 2200 in UTC (e.g. the file collector's rebase anchor)."""


_MAX_SECRET_CHARS = 64 * 1024


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
    path = resolve_path(value["file"], info)
    try:
        with open(path, encoding="utf-8") as handle:  # capped: {file: /dev/zero} must not hang
            secret = handle.read(_MAX_SECRET_CHARS + 1)
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"secret file {path} is not UTF-8 text") from None
    if len(secret) > _MAX_SECRET_CHARS:
        raise ValueError(f"secret file {path} is longer than {_MAX_SECRET_CHARS} characters")
    secret = secret.strip()
    if not secret:
        raise ValueError(f"secret file {path} is empty")
    register_secret(secret)
    return SecretStr(secret)


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_time_zone)]
"""An IANA time zone name such as ``Europe/Berlin`` (for sources that write local times)."""


def resolve_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve a relative path against the directory of the config file that names it."""
    try:
        path = Path(str(value)).expanduser()
    except RuntimeError:  # ~nosuchuser/...: Python cannot find that home directory
        raise ValueError(f"cannot expand {str(value)[:40]!r}: no such user's home "
                         "directory") from None
    base_dir = (info.context or {}).get("base_dir") if info.context else None
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


ConfigPath = Annotated[Path, BeforeValidator(resolve_path)]


class StrictModel(BaseModel):
    """Base for every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
