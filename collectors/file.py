"""The ``file`` collector: records from local YAML, JSON and CSV files.

It feeds exports from tools that have no collector yet, manual data, and the bundled
demo data. YAML and JSON files hold a mapping from record kind (``findings``,
``repositories``, ``incidents``, ``siem_alerts``) to a list of records; a CSV file
holds one kind, named in the config or by the file name (``findings.csv``). The
README's "File collector format" section is the schema.

Every run reads every file and returns the complete set, so a record removed from a
file is removed from the store. That makes a bad input dangerous: read as "no
records", it deletes data. So what a bad input costs is bounded, smallest unit first:

* A bad row (a value that does not parse, a field over ``max_field_length``, an
  unknown field, a duplicate id) is skipped, counted as ``malformed_record`` and
  logged with its file and row, never its content. The file's other rows are stored.
* A bad file (unreadable, over ``max_file_size``, not text, unparsable, YAML anchors
  or aliases, the wrong shape, or holding no records at all unless ``allow_empty``)
  contributes no row and is counted once as ``malformed_response`` (``config`` if it
  cannot be read). The kinds it may hold (a CSV file's kind; a YAML or JSON file's
  ``kind:``, or every kind without one) are not complete in that run, so none of
  their stored records is deleted; the other files are stored as usual. A file whose
  rows of one kind are all malformed keeps that kind incomplete the same way.
* The run fails, keeping all data, when every file failed, or on a config problem:
  a glob that matches nothing, a format or a CSV kind that cannot be told.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import json
import math
import os
import re
import types
import typing
from collections import Counter
from collections.abc import Mapping
from dataclasses import MISSING, fields
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import ByteSize, Field, field_validator, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.kinds import storable_text
from collectors.records import (
    KINDS,
    RecordKind,
)
from collectors.settings import ConfigPath, StrictModel, TimeZoneName

# Every declared record kind, read with no per-kind code: the fields and their types
# come from the kind's dataclass, the section name (plural, as in YAML/JSON documents
# and CSV file names) from its declaration.
RECORD_TYPES: dict[RecordKind, type] = {kind: spec.cls for kind, spec in KINDS.items()}
SECTION_KINDS: dict[str, RecordKind] = {spec.section: kind for kind, spec in KINDS.items()}
DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_FIELD_LENGTH = 64 * 1024
_LOGGED_ROWS_PER_FILE = 10  # then one summary line: a broken export must not flood the log
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


class FileSpec(StrictModel):
    path: str = Field(description="file path or glob, relative to the config file")
    kind: RecordKind | None = Field(
        default=None,
        description="record kind of a CSV file (default: from its file name); for a YAML "
                    "or JSON file, the only kind it may hold, so that a failure of this "
                    "file keeps only that kind's stored records instead of every kind's",
    )
    format: Literal["auto", "yaml", "json", "csv"] = "auto"
    allow_empty: bool = Field(
        default=False,
        description="a file holding no records (0 bytes, only a CSV header, a null or "
                    "empty document) is a valid empty set, and the stored records it "
                    "held are deleted; by default such a file is failed and they are kept",
    )


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
    max_file_size: ByteSize = Field(
        default=ByteSize(DEFAULT_MAX_FILE_SIZE), gt=0,
        description="a larger data file is failed unread (e.g. 64MiB, 500KB, bytes)",
    )
    max_field_length: int = Field(
        default=DEFAULT_MAX_FIELD_LENGTH, gt=0,
        description="a longer value, in characters (a list: its items together), makes "
                    "its record malformed; CSV fields over 131072 characters fail the file",
    )

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
    """A record row that cannot be turned into a record. Its message holds no row value."""


class BadFile(Exception):
    """A data file that yields nothing: unreadable, too large, not text, unparsable."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# -- bounded reading and parsing -------------------------------------------------------

class _Invalid:
    """A scalar the parser could not build (year 0, a 4,301-digit integer).

    Kept as a marker instead of failing the whole file, so that only its row is skipped.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<invalid>"


_INVALID = _Invalid()


class _DataLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors and aliases, for data files.

    Aliases are how a few hundred bytes expand to gigabytes (nine aliases to nine aliases,
    eight levels deep); a data file has no use for them, so they are refused, naming the
    line, before anything is built.
    """

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name, <<: *name) are not allowed "
                "in data files", event.start_mark)
        return super().compose_node(parent, index)


def _marking_invalid(construct: Any) -> Any:
    def build(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError):  # the safe constructors' bare errors
            return _INVALID
    return build


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp"):
    _DataLoader.add_constructor(_tag, _marking_invalid(_DataLoader.yaml_constructors[_tag]))


def _json_int(text: str) -> int | _Invalid:
    try:
        return int(text)
    except ValueError:  # over Python's 4,300-digit conversion limit
        return _INVALID


# BOMs in the order they must be tested: UTF-32 LE starts with the UTF-16 LE mark.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def read_text(path: Path, max_size: int) -> str:
    """The file's text, read up to ``max_size`` bytes and decoded.

    UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one); UTF-16
    and UTF-32 only with a byte-order mark, which says which one it is.
    """
    if not path.is_file():  # e.g. replaced by a FIFO, which would block the run
        raise BadFile(ErrorKind.CONFIG, "is not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_size + 1)
    except OSError as exc:
        raise BadFile(ErrorKind.CONFIG, f"cannot read: {exc.strerror}") from None
    if len(data) > max_size:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"larger than max_file_size ({max_size} bytes); not read")
    codec, label = "utf-8", "UTF-8"
    for bom, bom_codec, bom_label in _BOMS:
        if data.startswith(bom):
            codec, label = bom_codec, bom_label
            break
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"not valid {label} (byte {exc.start})") from None
    if "\x00" in text:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      "contains NUL characters: not a text file, or UTF-16 without a "
                      "byte-order mark (save it as UTF-8)")
    return text.removeprefix("\ufeff")


def _parse_document(text: str, fmt: str) -> Any:
    """Parse YAML or JSON; any parser failure is a :class:`BadFile` without file content."""
    try:
        if fmt == "json":
            return json.loads(text, parse_int=_json_int)
        loader = _DataLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except RecursionError:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"not valid {fmt.upper()}: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                      ) from None
    except yaml.MarkedYAMLError as exc:  # str(exc) would quote the offending line
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = _short(", ".join(filter(None, (exc.context, exc.problem))) or "parse error")
        raise BadFile(ErrorKind.MALFORMED_RESPONSE, f"not valid YAML: {problem}{where}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"not valid {fmt.upper()}: {_short(str(exc))}") from None


Row = tuple[RecordKind, str, Mapping[Any, Any] | RowError]


def _csv_rows(text: str, kind: RecordKind) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[Row] = []
    try:
        for values in reader:
            if not values:  # a blank line
                continue
            if header is None:
                header = [name.strip() for name in values]
                twice = next((n for n, count in Counter(header).items() if count > 1), None)
                if twice is not None:
                    raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                                  f"line {reader.line_num}: column {_label(twice)} appears "
                                  "twice in the header")
                continue
            position = f"line {reader.line_num}"
            if len(values) != len(header):  # ragged, or a write cut short
                rows.append((kind, position, RowError(
                    f"{len(values)} values for {len(header)} header columns")))
            else:
                rows.append((kind, position, dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"not valid CSV: line {reader.line_num}: {exc}") from None
    return rows


def _document_rows(document: Any, spec: FileSpec) -> list[Row]:
    if document is None:
        return []
    if not isinstance(document, dict):
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"expected a mapping of {', '.join(SECTION_KINDS)} to lists")
    unknown = [key for key in document if key not in SECTION_KINDS]
    if unknown:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      f"unknown section(s) {', '.join(_label(k) for k in unknown[:5])}; "
                      f"expected {', '.join(SECTION_KINDS)}")
    rows: list[Row] = []
    for section, items in document.items():
        kind = SECTION_KINDS[section]
        if spec.kind is not None and spec.kind is not kind:
            raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                          f"section {section} does not match kind: {spec.kind.value}")
        if not isinstance(items, list):
            raise BadFile(ErrorKind.MALFORMED_RESPONSE, f"{section} is not a list")
        for index, item in enumerate(items):
            rows.append((kind, f"{section}[{index}]", item if isinstance(item, dict)
                         else RowError(f"not a mapping of field names to values: {_what(item)}")))
    return rows


def load_rows(path: Path, spec: FileSpec, fmt: str, csv_kind: RecordKind | None,
              max_size: int) -> list[Row]:
    """Every row of a data file, with its position; raises :class:`BadFile`.

    The whole file is read before any row is used, so a file failing halfway
    contributes nothing, not its first half.
    """
    text = read_text(path, max_size)
    if fmt == "csv":
        assert csv_kind is not None
        rows = _csv_rows(text, csv_kind)
    else:
        rows = _document_rows(_parse_document(text, fmt), spec)
    if not rows and not spec.allow_empty:
        raise BadFile(ErrorKind.MALFORMED_RESPONSE,
                      "holds no records (empty, only a header, or a null or empty document); "
                      "set allow_empty: true on this file if that is intended")
    return rows


# -- values ----------------------------------------------------------------------------

def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _label(key: Any) -> str:
    """A field or section name for a message: short, and never a value's repr."""
    if isinstance(key, str):
        return _short(key, 40)
    return f"<{_what(key)}>"


def _what(value: Any) -> str:
    """The type of a raw value, in words, for messages that must not quote it."""
    if value is None:
        return "null"
    if value is _INVALID:
        return "a value out of range"
    for types_, words in ((bool, "a boolean"), (int | float, "a number"), (str, "text"),
                          (datetime, "a timestamp"), (date, "a date without a time"),
                          (dict, "a mapping"), (list | tuple, "a list"),
                          (set | frozenset, "a set"), (bytes, "binary data")):
        if isinstance(value, types_):
            return words
    return "an unsupported value"


def _check_text(value: str, max_length: int) -> None:
    if len(value) > max_length:
        raise RowError(f"longer than {max_length} characters")
    if "\x00" in value:
        raise RowError("contains a NUL character")
    if not storable_text(value):  # a lone surrogate from a \ud800 escape
        raise RowError("not valid Unicode text")


def _text(value: Any, max_length: int) -> str:
    if isinstance(value, str):
        _check_text(value, max_length)
        return value
    if isinstance(value, int) and not isinstance(value, bool):  # id: 123
        try:
            text = str(value)
        except ValueError:  # over the 4,300-digit conversion limit
            raise RowError("number too long") from None
        _check_text(text, max_length)
        return text
    raise RowError(f"expected text, not {_what(value)}")


def _parse_time(value: Any, naive_zone: tzinfo, shift: timedelta) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise RowError("not a finite number")
        try:
            parsed = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise RowError("Unix time out of range") from None
    elif isinstance(value, str):
        text = value
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise RowError("not an ISO-8601 timestamp") from None
    else:
        raise RowError(f"not a timestamp: {_what(value)}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_zone)
    try:
        return parsed.astimezone(UTC) + shift
    except OverflowError:
        raise RowError("timestamp out of range") from None


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise RowError("not a boolean (true/false, yes/no, 1/0)")
    raise RowError(f"not a boolean: {_what(value)}")


def _parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise RowError("not an integer: a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise RowError("not a whole number")
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise RowError("not an integer") from None
    raise RowError(f"not an integer: {_what(value)}")


def _parse_enum(value: Any, enum: type[Enum]) -> Enum:
    if isinstance(value, str):
        try:
            return enum(value.lower())
        except ValueError:
            pass
    raise RowError(f"not one of {', '.join(str(member.value) for member in enum)}")


def _parse_list(value: Any, max_length: int) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        items: list[str] = []
        total = 0
        for item in value:
            if item is None:
                continue
            text = _text(item, max_length).strip()
            total += len(text)
            if total > max_length:
                raise RowError(f"longer than {max_length} characters")
            if text:
                items.append(text)
        return tuple(items)
    text = _text(value, max_length).replace(";", " ").replace(",", " ")
    return tuple(part for part in text.split() if part)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _field_specs(cls: type) -> dict[str, tuple[Any, bool]]:
    """Per field: the type to parse into, and whether it may be left empty."""
    hints = typing.get_type_hints(cls)
    specs: dict[str, tuple[Any, bool]] = {}
    for field in fields(cls):
        annotation, optional = _unwrap_optional(hints[field.name])
        has_default = field.default is not MISSING or field.default_factory is not MISSING
        specs[field.name] = (annotation, optional or has_default or field.name == "source")
    return specs


_FIELD_SPECS = {cls: _field_specs(cls) for cls in RECORD_TYPES.values()}
# The records' order checks quote both timestamps in parentheses: "resolved_at (...) is
# before opened_at (...)". Logs name the fields, never the row's values.
_QUOTED_VALUE = re.compile(r" \([^()]*\)")


def _convert(raw: Any, annotation: Any, max_length: int, naive_zone: tzinfo,
             shift: timedelta) -> Any:
    """One raw value as ``annotation``, or None for an empty value; raises RowError."""
    if raw is _INVALID:
        raise RowError("value out of range")
    if isinstance(raw, str):
        _check_text(raw, max_length)
        raw = raw.strip()
        if raw == "":
            return None
    if raw is None:
        return None
    if annotation is datetime:
        return _parse_time(raw, naive_zone, shift)
    if annotation is bool:
        return _parse_bool(raw)
    if annotation is int:
        return _parse_int(raw)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _parse_enum(raw, annotation)
    if typing.get_origin(annotation) is tuple:
        return _parse_list(raw, max_length)
    return _text(raw, max_length)


def record_from_mapping(
    kind: RecordKind,
    row: Mapping[Any, Any],
    *,
    default_source: str,
    naive_zone: tzinfo = UTC,
    shift: timedelta = timedelta(0),
    max_length: int = DEFAULT_MAX_FIELD_LENGTH,
) -> Any:
    """Build a record of ``kind`` from a mapping of field name to raw value.

    Unknown keys are errors (a typo must not silently drop data); empty values are
    ``None``; enums are matched case-insensitively. Anything else raises
    :class:`RowError`, whose message names the field but never quotes the value.
    """
    cls = RECORD_TYPES[kind]
    specs = _FIELD_SPECS[cls]
    unknown = [name for name in row if name not in specs]
    if unknown:
        if not all(isinstance(name, str) for name in unknown):
            raise RowError("field names must be text")
        raise RowError(f"unknown field(s) {', '.join(_label(n) for n in sorted(unknown)[:5])} "
                       f"for a {kind.value}")
    values: dict[str, Any] = {}
    for name, raw in row.items():
        annotation, may_be_empty = specs[name]
        try:
            value = _convert(raw, annotation, max_length, naive_zone, shift)
        except RowError as exc:
            raise RowError(f"{name}: {exc}") from None
        if value is None:
            if may_be_empty:
                continue
            raise RowError(f"{name} is required")
        values[name] = value
    values.setdefault("source", default_source)
    try:
        return cls(**values)
    except TypeError:  # a required field is missing
        missing = sorted(name for name, (_, may_be_empty) in specs.items()
                         if not may_be_empty and name not in values)
        raise RowError(f"missing required field(s): {', '.join(missing)}") from None
    except ValueError as exc:
        raise RowError(_QUOTED_VALUE.sub("", str(exc))) from None


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


def _csv_kind(path: Path, spec: FileSpec) -> RecordKind:
    kind = spec.kind or SECTION_KINDS.get(path.stem.lower())
    if kind is None:
        raise CollectorError(
            ErrorKind.CONFIG,
            f"{path}: set kind: for this CSV file (or name it findings.csv, "
            "repositories.csv, incidents.csv or siem_alerts.csv)",
        )
    return kind


class FileCollector(Collector):
    """Reads records from local files; see the module docstring and the README."""

    config_model: ClassVar[type[StrictModel]] = FileCollectorSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset(KINDS)
    settings: FileCollectorSettings

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        settings = self.settings
        result = CollectionResult()
        errors: Counter[ErrorKind] = Counter()
        seen: dict[tuple[RecordKind, str, str, datetime | None], tuple[Path, str]] = {}
        incomplete: set[RecordKind] = set()
        files = settings.resolved_files()
        failures: list[tuple[ErrorKind, str]] = []
        for path, spec in files:
            fmt = _detect_format(path, spec)
            csv_kind = _csv_kind(path, spec) if fmt == "csv" else None
            at_stake = ({csv_kind} if csv_kind else {spec.kind} if spec.kind
                        else set(KINDS))
            try:
                rows = load_rows(path, spec, fmt, csv_kind, settings.max_file_size)
            except BadFile as exc:
                failures.append((exc.kind, f"{path}: {exc}"))
                errors[exc.kind] += 1
                incomplete |= at_stake
                ctx.logger.error("%s: %s; file skipped, stored %s records kept", path, exc,
                                 "/".join(sorted(k.value for k in at_stake)))
                continue
            skipped, all_bad = self._take_rows(ctx, path, rows, result, seen)
            errors[ErrorKind.MALFORMED_RECORD] += skipped
            for kind in all_bad:  # a renamed column, a new export format
                incomplete.add(kind)
                ctx.logger.error("%s: every %s row is malformed; stored %s records kept",
                                 path, kind.value, kind.value)
        if len(failures) == len(files):
            kind, message = failures[0]
            if len(files) > 1:
                message = f"all {len(files)} data files failed; first: {message}"
            raise CollectorError(kind, message)
        result.complete = frozenset(KINDS) - incomplete
        result.record_errors = +errors
        return result

    def _take_rows(self, ctx: CollectContext, path: Path, rows: list[Row],
                   result: CollectionResult,
                   seen: dict[tuple[RecordKind, str, str, datetime | None],
                              tuple[Path, str]],
                   ) -> tuple[int, set[RecordKind]]:
        """Add a file's good rows to ``result``; return the rows skipped and the kinds
        of which the file has rows but not one good row."""
        settings = self.settings
        zone = ZoneInfo(settings.naive_timezone)
        shift = ctx.now - settings.rebase.anchor if settings.rebase else timedelta(0)
        parsed: Counter[RecordKind] = Counter()
        bad: Counter[RecordKind] = Counter()
        for kind, position, row in rows:
            try:
                if isinstance(row, RowError):
                    raise row
                record = record_from_mapping(
                    kind, row, default_source=ctx.name, naive_zone=zone, shift=shift,
                    max_length=settings.max_field_length,
                )
                parsed[kind] += 1
                # Dated snapshots of one record (repositories and the other
                # point-in-time kinds) coexist: its observation time is part of what
                # must be unique.
                observed = getattr(record, "observed_at", None)
                key = (kind, record.source, record.id, observed)
                if key in seen:
                    first_path, first_position = seen[key]
                    where = (first_position if first_path == path
                             else f"{first_path} {first_position}")
                    what = "id" if observed is None else "id and observed_at"
                    raise RowError(f"duplicate {kind.value} {what} (first at {where})")
            except RowError as exc:
                bad[kind] += 1
                if bad.total() <= _LOGGED_ROWS_PER_FILE:
                    ctx.logger.warning("skipping %s %s: %s", path, position, exc)
                continue
            seen[key] = (path, position)
            result.records_of(kind).append(record)
        if bad.total() > _LOGGED_ROWS_PER_FILE:
            ctx.logger.warning("%s: %d more malformed rows skipped",
                               path, bad.total() - _LOGGED_ROWS_PER_FILE)
        return bad.total(), set(bad) - set(parsed)
