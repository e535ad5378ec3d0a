"""The ``file`` collector: records from local YAML, JSON and CSV files.

It feeds exports from tools that have no collector yet, manual data, and the bundled
demo data. YAML and JSON files hold a mapping from record kind (``findings``,
``repositories``, ``incidents``, ``siem_alerts``) to a list of records; a CSV file
holds one kind, named in the config or by the file name (``findings.csv``). The
README's "File collector format" section is the schema.

Every run reads every file and returns the complete set, so a record removed from a
file is removed from the store. A malformed row is skipped, logged with its file and
row, and counted; it never stops the other rows.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import types
import typing
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, fields
from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import Field, field_validator, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.records import (
    Finding,
    Incident,
    RecordKind,
    Repository,
    SiemAlert,
)
from collectors.settings import ConfigPath, StrictModel, TimeZoneName

RECORD_TYPES: dict[RecordKind, type] = {
    RecordKind.FINDING: Finding,
    RecordKind.REPOSITORY: Repository,
    RecordKind.INCIDENT: Incident,
    RecordKind.SIEM_ALERT: SiemAlert,
}
# The plural section names used in YAML/JSON documents and CSV file names.
SECTION_KINDS: dict[str, RecordKind] = {
    "findings": RecordKind.FINDING,
    "repositories": RecordKind.REPOSITORY,
    "incidents": RecordKind.INCIDENT,
    "siem_alerts": RecordKind.SIEM_ALERT,
}
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


class FileSpec(StrictModel):
    path: str = Field(description="file path or glob, relative to the config file")
    kind: RecordKind | None = Field(
        default=None, description="record kind of a CSV file; default: from its file name"
    )
    format: Literal["auto", "yaml", "json", "csv"] = "auto"


class Rebase(StrictModel):
    """Shift every timestamp by ``now - anchor``: keeps demo or replayed data current."""

    anchor: datetime

    @field_validator("anchor")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("anchor needs a time zone, e.g. 2026-11-23T00:00:00Z")
        return value.astimezone(UTC)


class FileCollectorSettings(StrictModel):
    base_dir: ConfigPath = Field(
        default=Path("."), validate_default=True,
        description="where relative paths start; default: the config file's directory",
    )
    files: list[FileSpec] = Field(min_length=1)
    naive_timezone: TimeZoneName = Field(
        default="UTC", description="time zone for timestamps written without an offset"
    )
    rebase: Rebase | None = None

    @model_validator(mode="after")
    def _files_exist(self) -> FileCollectorSettings:
        """Fail at start-up, not at the first run, when a data file is missing."""
        try:
            for path, _ in self.resolved_files():
                if not os.access(path, os.R_OK) or not path.is_file():
                    raise ValueError(f"cannot read data file {path}")
        except CollectorError as exc:
            raise ValueError(str(exc)) from None
        return self

    def resolved_files(self) -> list[tuple[Path, FileSpec]]:
        """Expand globs; a spec that matches nothing is a config error."""
        out: list[tuple[Path, FileSpec]] = []
        for spec in self.files:
            pattern = Path(spec.path).expanduser()
            if not pattern.is_absolute():
                pattern = self.base_dir / pattern
            matches = sorted(Path(p) for p in glob.glob(str(pattern)))
            if not matches:
                raise CollectorError(ErrorKind.CONFIG, f"no file matches {pattern}")
            out.extend((match, spec) for match in matches)
        return out


class RowError(ValueError):
    """A record row that cannot be turned into a record."""


def _parse_time(value: Any, naive_zone: tzinfo, shift: timedelta) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise RowError(f"not an ISO-8601 timestamp: {value!r}") from None
    else:
        raise RowError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_zone)
    return parsed.astimezone(UTC) + shift


def _parse_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowError(f"not a boolean: {value!r}")


def _parse_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    text = str(value).replace(";", " ").replace(",", " ")
    return tuple(part for part in text.split() if part)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


_HINTS = {cls: typing.get_type_hints(cls) for cls in RECORD_TYPES.values()}


def record_from_mapping(
    kind: RecordKind,
    row: Mapping[str, Any],
    *,
    default_source: str,
    naive_zone: tzinfo = UTC,
    shift: timedelta = timedelta(0),
) -> Any:
    """Build a record of ``kind`` from a mapping of field name to raw value.

    Unknown keys are errors (a typo must not silently drop data); empty values are
    ``None``; enums are matched case-insensitively.
    """
    cls = RECORD_TYPES[kind]
    hints = _HINTS[cls]
    known = {f.name for f in fields(cls)}
    has_default = {f.name for f in fields(cls)
                   if f.default is not MISSING or f.default_factory is not MISSING}
    unknown = sorted(set(row) - known)
    if unknown:
        raise RowError(f"unknown field(s) {', '.join(unknown)} for a {kind.value}")
    values: dict[str, Any] = {}
    for name, raw in row.items():
        if isinstance(raw, str):
            raw = raw.strip()
            if raw == "":
                raw = None
        annotation, optional = _unwrap_optional(hints[name])
        if raw is None:
            if optional or name in has_default or name == "source":
                continue
            raise RowError(f"{name} is required")
        try:
            if annotation is datetime:
                values[name] = _parse_time(raw, naive_zone, shift)
            elif annotation is bool:
                values[name] = _parse_bool(raw)
            elif annotation is int:
                values[name] = int(raw)
            elif isinstance(annotation, type) and issubclass(annotation, Enum):
                values[name] = annotation(str(raw).strip().lower())
            elif typing.get_origin(annotation) is tuple:
                values[name] = _parse_list(raw)
            else:
                values[name] = str(raw)
        except RowError as exc:
            raise RowError(f"{name}: {exc}") from None
        except ValueError:
            raise RowError(f"{name}: invalid value {raw!r}") from None
    values.setdefault("source", default_source)
    try:
        return cls(**values)
    except TypeError:  # a required field is missing
        missing = sorted(known - has_default - set(values))
        raise RowError(f"missing required field(s): {', '.join(missing)}") from None
    except ValueError as exc:
        raise RowError(str(exc)) from None


def _detect_format(path: Path, spec: FileSpec) -> str:
    if spec.format != "auto":
        return spec.format
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    raise CollectorError(ErrorKind.CONFIG, f"{path}: cannot tell the format; set format:")


def iter_rows(path: Path, spec: FileSpec) -> Iterator[tuple[RecordKind, str, Mapping[str, Any]]]:
    """Yield (kind, position, row) for every row of a data file.

    Raises CollectorError for a file that cannot be read or parsed at all.
    """
    fmt = _detect_format(path, spec)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise CollectorError(ErrorKind.CONFIG, f"cannot read {path}: {exc.strerror}") from None
    with handle:
        if fmt == "csv":
            kind = spec.kind or SECTION_KINDS.get(path.stem.lower())
            if kind is None:
                raise CollectorError(
                    ErrorKind.CONFIG,
                    f"{path}: set kind: for this CSV file (or name it findings.csv, "
                    "repositories.csv, incidents.csv or siem_alerts.csv)",
                )
            reader = csv.DictReader(handle)
            try:
                for row in reader:
                    if None in row:
                        yield kind, f"line {reader.line_num}", {"<extra columns>": row[None]}
                        continue
                    yield kind, f"line {reader.line_num}", row
            except csv.Error as exc:
                raise CollectorError(
                    ErrorKind.MALFORMED_RESPONSE, f"{path}: line {reader.line_num}: {exc}"
                ) from None
            return
        try:
            document = yaml.safe_load(handle) if fmt == "yaml" else json.load(handle)
        except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CollectorError(
                ErrorKind.MALFORMED_RESPONSE, f"{path}: not valid {fmt.upper()}: {exc}"
            ) from None
    if document is None:
        return
    if not isinstance(document, dict):
        raise CollectorError(
            ErrorKind.MALFORMED_RESPONSE,
            f"{path}: expected a mapping of {', '.join(SECTION_KINDS)} to lists",
        )
    unknown = sorted(set(document) - set(SECTION_KINDS))
    if unknown:
        raise CollectorError(
            ErrorKind.MALFORMED_RESPONSE,
            f"{path}: unknown section(s) {', '.join(map(str, unknown))}; "
            f"expected {', '.join(SECTION_KINDS)}",
        )
    for section, items in document.items():
        kind = SECTION_KINDS[section]
        if spec.kind is not None and spec.kind is not kind:
            raise CollectorError(
                ErrorKind.CONFIG, f"{path}: section {section} does not match kind {spec.kind}"
            )
        if not isinstance(items, list):
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE, f"{path}: {section} is not a list")
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield kind, f"{section}[{index}]", item
            else:
                yield kind, f"{section}[{index}]", {"<not a mapping>": item}


class FileCollector(Collector):
    """Reads records from local files; see the module docstring and the README."""

    config_model: ClassVar[type[StrictModel]] = FileCollectorSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset(RecordKind)
    settings: FileCollectorSettings

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        settings = self.settings
        zone = ZoneInfo(settings.naive_timezone)
        shift = ctx.now - settings.rebase.anchor if settings.rebase else timedelta(0)
        result = CollectionResult(complete=frozenset(RecordKind))
        errors: Counter[ErrorKind] = Counter()
        seen: set[tuple[RecordKind, str, str]] = set()
        for path, spec in settings.resolved_files():
            for kind, position, row in iter_rows(path, spec):
                try:
                    record = record_from_mapping(
                        kind, row, default_source=ctx.name, naive_zone=zone, shift=shift
                    )
                except RowError as exc:
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    ctx.logger.warning("skipping %s %s: %s", path, position, exc)
                    continue
                key = (kind, record.source, record.id)
                if key in seen:
                    errors[ErrorKind.MALFORMED_RECORD] += 1
                    ctx.logger.warning(
                        "skipping %s %s: duplicate %s id %r", path, position, kind.value, record.id
                    )
                    continue
                seen.add(key)
                result.records_of(kind).append(record)
        result.record_errors = errors
        return result
