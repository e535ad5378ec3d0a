"""Property-based fuzzing of every API response parser and every file loader (issue 11).

Black-box: each target is driven through its public entry point only.

* API collectors (``collect(ctx)`` through respx): a small, deterministic fake of the
  vendor API, built from the fixture builders the collector's own tests use, answers
  every request. A baseline run records each distinct response (a *slot*: "page 2 of the
  incidents listing", "the token response"); an example then replaces one slot's body by
  (a) arbitrary JSON, (b) the valid body with one value replaced by arbitrary JSON (or a
  key deleted), or (c) the valid body cut at an arbitrary byte.
  Properties: the run returns a :class:`CollectionResult` whose records pass their
  dataclass validation and carry values of their declared types, or raises
  :class:`CollectorError`, nothing else; a 2xx JSON body cut short is a
  ``malformed_response``; and where the collector promises that a bad record is skipped
  and counted (its docstring), a bad value inside one item of an intact page costs at
  most that item's records, every other record is returned unchanged, and a lost
  record is counted in ``record_errors``.
* Loaders: ``load_config`` on mutated copies of config.example.yaml (as shipped and with
  every source block enabled) and the end-to-end fixture config; the maturity rules and
  assessments files through ``exporter.maturity.load.load_model``; the file collector on
  mutated demo data. Properties: success or the loader's documented error
  (``ConfigError``, ``MaturityConfigError``; the file collector: a result whose good
  files are intact), never another exception and never the loader's last-resort
  "cannot validate" catch-all (that means an unexpected exception was reached inside),
  within a hard per-example time limit.

Profiles (env ``FUZZ_PROFILE``): ``ci`` (default; few examples, derandomized so CI is
stable) and ``long`` (thousands, used by benchmarks/fuzz_bench.py); ``FUZZ_EXAMPLES``
overrides the example count. Targets with a known defect are marked xfail(strict=True)
naming it; ``test_defect_*`` pins each defect with its exact input.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import csv
import dataclasses
import io
import json
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import types
import typing
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.base import CollectContext, CollectionResult, Collector, CollectorError, ErrorKind
from collectors.records import RecordKind
from exporter.quarters import history_start

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOG = logging.getLogger("tests.fuzz")
LOG.addHandler(logging.NullHandler())
LOG.propagate = False  # thousands of "skipped record" warnings are the point, not news

# -- profiles ---------------------------------------------------------------------------

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.function_scoped_fixture, HealthCheck.large_base_example]
settings.register_profile(
    "ci", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")), derandomize=True,
    database=None, deadline=None, suppress_health_check=_QUIET, print_blob=True)
settings.register_profile(
    "long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")), derandomize=False,
    database=None, deadline=None, suppress_health_check=_QUIET, print_blob=True)
PROFILE_NAME = os.environ.get("FUZZ_PROFILE", "ci")
PROFILE = settings.get_profile(PROFILE_NAME)
# Hard wall-clock limit per example (hypothesis' deadline only measures after the fact).
EXAMPLE_SECONDS = float(os.environ.get("FUZZ_EXAMPLE_SECONDS", "30"))


class PropertyViolation(AssertionError):
    """The target answered, but not as it promises."""


class ExampleTimeout(BaseException):  # BaseException: no catch-all may eat it
    """One example ran past EXAMPLE_SECONDS."""


@contextlib.contextmanager
def time_limit(seconds: float, memory: int = 2 * 1024**3) -> Iterator[None]:
    """Bound one example: SIGALRM after ``seconds`` (main thread only) and at most
    ``memory`` more bytes of address space (RLIMIT_AS; C code such as ``list(range(n))``
    ignores the alarm until it returns, so without this it would eat the machine)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * resource.getpagesize()
    cap = in_use + memory if hard == resource.RLIM_INFINITY else min(hard, in_use + memory)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    if threading.current_thread() is not threading.main_thread():
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        return

    def alarm(signum: int, frame: Any) -> None:
        raise ExampleTimeout(f"example ran past {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)  # again each second: a handler
    # raising inside a gc callback or a __del__ is swallowed, the next one lands
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# Outcome counts per target, read by benchmarks/fuzz_bench.py ("it ran what it claims").
TALLY: defaultdict[str, Counter[str]] = defaultdict(Counter)


def violation(condition: bool, message: str) -> None:
    if not condition:
        raise PropertyViolation(message)


# -- arbitrary JSON -----------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token no Python value serializes to (a 5,000-digit integer, ``-0``)."""

    text: str

    def __repr__(self) -> str:
        return f"Raw({_short(self.text)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...<{len(text)} chars>"


DELETE = Raw("<delete>")  # as a replacement value: remove the key / list item

# Integers over Python's 4,300-digit str->int limit: json.loads raises a bare ValueError.
DIGIT_BOMBS = [Raw("1" * 5000), Raw("-" + "9" * 4400)]
RAW_TOKENS = [
    Raw("1e99999"), Raw("-1e99999"), Raw("1.0e-400"), Raw("-0"), Raw("NaN"), Raw("Infinity"),
    Raw("-Infinity"), Raw('"\\ud800"'), Raw('"\\udfff\\ud800x"'), Raw('"\\u0000"'),
    Raw('"a\\u0000b"'),
]
# FUZZ_WITHOUT_DIGIT_BOMBS=1 looks past the decode_json defect they hit everywhere, to see
# what lies behind it; never set it in CI (the property must stay whole).
if os.environ.get("FUZZ_WITHOUT_DIGIT_BOMBS") != "1":
    RAW_TOKENS += DIGIT_BOMBS
HUGE_INTS = [2**31, 2**53 + 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 10**400]
TRICKY_STRINGS = [
    "", " ", "null", "None", "true", "0", "-1", "1.5", "1e20", "-1e20", "1e400", "inf",
    "-inf", "nan", "NaN", "Infinity", "9" * 5000, "2026-11-23T12:00:00Z",
    "2026-11-23T12:00:00", "2026-11-23", "2026-11-23T12:00:00.000+0100",
    "2026-11-23T12:00:00+14:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z", "0000-00-00T00:00:00Z",
    "2026-02-30T00:00:00Z", "2026-11-23T25:61:61Z", "1700000000", "1700000000.5",
    "1700000000000", "253402300800", "-62135596801", "99999999999999999999", "\x00",
    "\u202e", "\ufeff", "a\nb", "x" * 10_000, "<html><body>login</body></html>",
    "Closed", "closed", "Active", "New", "open", "resolved", "fixed", "dismissed",
    "acknowledged", "triggered", "auto_dismissed", "High", "high", "critical", "Low",
    "informational", "TruePositive", "Undetermined", "disposition:1", "disposition:9", "5",
    "P1", "done", "CVE-2026-1234", "Cloud", "https://evil.example/next", "/relative",
]
KEYS = [
    "value", "nextLink", "properties", "hits", "_source", "total", "relation", "issues",
    "isLast", "nextPageToken", "incidents", "more", "data", "nodes", "errors", "results",
    "entry", "content", "sid", "tables", "rows", "columns", "name", "id", "status",
    "state", "created_at", "result", "lastrow", "incident", "custom_fields", "type",
]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=16),
    st.sampled_from(TRICKY_STRINGS), st.sampled_from(RAW_TOKENS),
)
json_values = st.recursive(
    _scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(KEYS)), kids,
                        max_size=4)),
    max_leaves=8,
)


def dump(value: Any) -> str:
    """JSON text of ``value``; ``Raw`` tokens verbatim, NaN/Infinity as Python writes them."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path below ``value`` (not the root itself)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from paths(inner, (*prefix, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the item at ``path`` replaced by ``new`` (or deleted)."""
    out = copy.deepcopy(value)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    if new is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return out


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for inner in value.values():
            yield from leaves(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from leaves(inner)
    else:
        yield value


# -- record checks ----------------------------------------------------------------------

def record_types() -> dict[RecordKind, type]:
    """Every record kind's dataclass, as the kind registry declares them."""
    from collectors.records import KIND_OF

    return {kind: cls for cls, kind in KIND_OF.items()}


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arm) for arm in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is tuple:
        (inner, _ellipsis) = typing.get_args(annotation)
        return isinstance(value, tuple) and all(_type_ok(v, inner) for v in value)
    if annotation is datetime:
        return isinstance(value, datetime) and value.utcoffset() is not None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return isinstance(value, annotation)
    return isinstance(value, annotation)


def check_record(record: Any, kind: RecordKind) -> None:
    cls = record_types()[kind]
    violation(type(record) is cls, f"{kind}: a {type(record).__name__}, not a {cls.__name__}")
    try:
        dataclasses.replace(record)  # re-runs __post_init__: the invariants still hold
    except (ValueError, TypeError) as exc:
        raise PropertyViolation(f"{kind} {record.id!r} fails its validation: {exc}") from None
    for item in dataclasses.fields(cls):
        value = getattr(record, item.name)
        violation(_type_ok(value, _hints(cls)[item.name]),
                  f"{kind}.{item.name} is {type(value).__name__} {str(value)[:60]!r}")


def check_result(result: Any) -> None:
    violation(isinstance(result, CollectionResult),
              f"collect returned {type(result).__name__}, not a CollectionResult")
    for kind in RecordKind:
        for record in result.records_of(kind):
            check_record(record, kind)
    violation(all(isinstance(k, ErrorKind) and isinstance(v, int) and v >= 0
                  for k, v in result.record_errors.items()), "record_errors is not by kind")
    violation(result.complete <= frozenset(RecordKind), "complete holds a non-kind")


def unstorable(result: CollectionResult) -> list[str]:
    """Record fields the store cannot write (text that is not UTF-8 encodable)."""
    out = []
    for kind in RecordKind:
        for record in result.records_of(kind):
            for item in dataclasses.fields(record):
                value = getattr(record, item.name)
                texts = value if isinstance(value, tuple) else (value,)
                for text in texts:
                    if isinstance(text, str):
                        try:
                            text.encode("utf-8")
                        except UnicodeEncodeError:
                            out.append(f"{kind}.{item.name}")
    return out


Key = tuple[RecordKind, str]


def record_key(kind: RecordKind, record: Any) -> Key:
    """(kind, id); a dated observation (``observed_at``) is its own record."""
    observed = getattr(record, "observed_at", None)
    return (kind, record.id if observed is None else f"{record.id}@{observed.isoformat()}")


def records_by_key(result: CollectionResult) -> dict[Key, Any]:
    return {record_key(kind, r): r for kind in RecordKind for r in result.records_of(kind)}


def outcome_label(outcome: Any) -> str:
    if isinstance(outcome, CollectorError):
        return f"CollectorError:{outcome.kind.value}"
    return "ok"


# -- API worlds -----------------------------------------------------------------------


@dataclass
class Item:
    """One item of a slot's body: where it is, which baseline records it yields."""

    prefix: tuple[Any, ...]
    keys: frozenset[Key]  # empty: the item is no record (a close time, a gate node)
    kinds: frozenset[RecordKind]  # whose records the item may touch


@dataclass
class Slot:
    key: str
    status: int
    headers: dict[str, str]
    content: bytes
    body: Any  # parsed JSON, or the list of line objects of a JSON-lines stream
    lines: bool = False  # a JSON-lines stream (Splunk export)
    items: list[Item] = field(default_factory=list)

    def serialize(self, body: Any) -> bytes:
        text = "".join(dump(line) + "\n" for line in body) if self.lines else dump(body)
        return text.encode("utf-8", "surrogatepass")


@dataclass
class World:
    """A fake API for one collector configuration; see the module docstring."""

    name: str
    make: Callable[[], tuple[Collector, CollectContext]]
    handler: Callable[[], Callable[[httpx.Request], httpx.Response]]  # fresh fake per run
    slot_of: Callable[[httpx.Request], str | None]
    items_of: Callable[[str, Any], list[Item]]
    focus: frozenset[str] = frozenset()  # keys the collector reads: mutated more often
    page_level: Callable[[Slot, tuple[Any, ...]], bool] = lambda slot, path: False
    # A value whose change may legitimately add or drop its item's records uncounted.
    exempt: Callable[[tuple[Any, ...]], bool] = lambda path: False
    lines: Callable[[str], bool] = lambda key: False
    slots: dict[str, Slot] = field(default_factory=dict)
    baseline: CollectionResult | None = None


_SSL_CONTEXTS: dict[Any, Any] = {}


@contextlib.contextmanager
def _shared_tls_contexts() -> Iterator[None]:
    """Reuse one TLS context per setting: respx answers every request, nothing connects,
    and loading the CA bundle for each client (60 ms) would dominate every example."""
    import httpx._transports.default as transports

    real = transports.create_ssl_context

    def cached(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        key = (verify if isinstance(verify, bool | str) else id(verify), cert, trust_env)
        if key not in _SSL_CONTEXTS:
            _SSL_CONTEXTS[key] = real(verify=verify, cert=cert, trust_env=trust_env)
        return _SSL_CONTEXTS[key]

    transports.create_ssl_context = cached  # type: ignore[assignment]
    try:
        yield
    finally:
        transports.create_ssl_context = real  # type: ignore[assignment]


def run_world(world: World, replace: tuple[str, bytes] | None = None,
              record: dict[str, Slot] | None = None) -> CollectionResult | CollectorError:
    """One collection against the fake; ``replace`` = (slot, body) swaps one answer.

    Any exception other than CollectorError propagates: that is a crash.
    """
    fake = world.handler()

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake(request)
        key = world.slot_of(request)
        if key is None:
            return response
        response.read()
        if record is not None and key not in record:
            headers = {k: v for k, v in response.headers.items()
                       if k.lower() not in ("content-length", "content-encoding")}
            lines = world.lines(key)
            text = response.content.decode()
            body = ([json.loads(line) for line in text.splitlines() if line.strip()] if lines
                    else json.loads(text))
            record[key] = Slot(key, response.status_code, headers, response.content, body,
                               lines)
        if replace is not None and key == replace[0]:
            slot = world.slots[key]
            return httpx.Response(slot.status, headers=slot.headers, content=replace[1])
        return response

    collector, ctx = world.make()
    with _shared_tls_contexts(), respx.mock(assert_all_called=False,
                                            assert_all_mocked=True) as router:
        router.route().mock(side_effect=handler)
        try:
            return asyncio.run(collector.collect(ctx))
        except CollectorError as exc:
            return exc


def prepared(world: World) -> World:
    """Record the world's slots and its clean baseline once."""
    if world.baseline is None:
        slots: dict[str, Slot] = {}
        outcome = run_world(world, record=slots)
        if isinstance(outcome, CollectorError):
            raise AssertionError(f"{world.name}: the clean baseline failed: {outcome}")
        check_result(outcome)
        violation(not outcome.record_errors, f"{world.name}: the clean baseline skipped "
                  f"records: {dict(outcome.record_errors)}")
        world.baseline = outcome
        for slot in slots.values():
            slot.items = world.items_of(slot.key, slot.body)
        world.slots = slots
    return world


@dataclass
class ApiExample:
    slot: str
    mode: str  # json | field | truncate
    payload: bytes
    path: tuple[Any, ...] = ()
    value: Any = None

    def __repr__(self) -> str:
        detail = (f"cut at byte {self.value}" if self.mode == "truncate"
                  else f"path={self.path!r}, value={_short(self.value)}")
        return f"ApiExample(slot={self.slot!r}, mode={self.mode!r}, {detail})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def api_examples(world: World, mode: str) -> st.SearchStrategy[ApiExample]:
    prepared(world)
    keys = sorted(world.slots)

    @st.composite
    def build(draw: st.DrawFn) -> ApiExample:
        slot = world.slots[draw(st.sampled_from(keys))]
        if mode == "json":
            value = draw(json_values)
            return ApiExample(slot.key, mode, dump(value).encode("utf-8", "surrogatepass"),
                              value=value)
        if mode == "truncate":
            cut = draw(st.integers(0, max(0, len(slot.content) - 1)))
            return ApiExample(slot.key, mode, slot.content[:cut], value=cut)
        all_paths = list(paths(slot.body))
        item_paths = [p for p in all_paths if _item_of(slot, p) is not None
                      and not world.page_level(slot, p)]
        focused = [p for p in item_paths if any(isinstance(x, str) and x in world.focus
                                                for x in p[-1:])]
        pools = [pool for pool in (focused, focused, item_paths, all_paths) if pool]
        path = draw(st.sampled_from(draw(st.sampled_from(pools))))
        value = draw(st.one_of(json_values, st.just(DELETE)))
        body = replaced(slot.body, path, value)
        return ApiExample(slot.key, mode, slot.serialize(body), path, value)

    return build()


def _item_of(slot: Slot, path: tuple[Any, ...]) -> Item | None:
    for item in slot.items:
        if path[:len(item.prefix)] == item.prefix:
            return item
    return None


def check_api(world: World, example: ApiExample) -> str:
    """Run one example; raise on a crash or a broken promise; return the outcome label."""
    world = prepared(world)
    slot = world.slots[example.slot]
    with time_limit(EXAMPLE_SECONDS):
        outcome = run_world(world, (example.slot, example.payload))
    if isinstance(outcome, CollectionResult):
        check_result(outcome)
    if example.mode == "truncate" and 200 <= slot.status < 300 and not _still_valid(
            slot, example.payload):
        violation(isinstance(outcome, CollectorError)
                  and outcome.kind is ErrorKind.MALFORMED_RESPONSE,
                  f"a body cut at byte {len(example.payload)} of {len(slot.content)} gave "
                  f"{outcome_label(outcome)}, not malformed_response")
    if example.mode == "field" and _record_level(world, slot, example):
        item = _item_of(slot, example.path)
        if item is not None:
            _check_item_cost(world, example, item, outcome)
    return outcome_label(outcome)


def _record_level(world: World, slot: Slot, example: ApiExample) -> bool:
    """Whether the mutation is a bad value inside one record, the page shape intact.

    Not so: a list item deleted (a page one item short), a single-object body's object
    replaced as a whole, and what the world calls page shape (cursors, stream lines).
    """
    path = example.path
    if example.value is DELETE and isinstance(path[-1], int):
        return False
    item = _item_of(slot, path)
    if item is not None and path == item.prefix and not isinstance(path[-1], int):
        return False
    return not world.page_level(slot, path)


def _still_valid(slot: Slot, payload: bytes) -> bool:
    """Whether a cut body is still a whole, valid answer (a stream cut after its last line)."""
    if slot.lines:
        return len(payload) >= len(slot.content.rstrip(b"\n"))
    try:
        json.loads(payload)
    except ValueError:
        return False
    return True


def _check_item_cost(world: World, example: ApiExample, item: Item, outcome: Any) -> None:
    """A bad value inside one item of an intact page costs at most that item's records."""
    violation(isinstance(outcome, CollectionResult),
              f"one bad value at {example.path} failed the whole run: {outcome!r:.300}")
    assert world.baseline is not None
    base = {k: r for k, r in records_by_key(world.baseline).items() if k[0] in item.kinds}
    got = {k: r for k, r in records_by_key(outcome).items() if k[0] in item.kinds}
    texts = [str(v) for v in leaves(example.value) if str(v)]

    def collides(key: Key) -> bool:  # the mutated item may now carry another item's id
        return any(text in key[1] for text in texts)

    if not item.keys:  # the item is no record: every record is still there
        lost = set(base) - set(got)
        violation(not lost, f"a bad value at {example.path} (no record of its own) lost "
                  f"{sorted(lost)[:3]}")
        return
    for key in set(base) - item.keys:
        if collides(key):
            continue
        violation(key in got, f"a bad value at {example.path} lost another record {key}")
        violation(got[key] == base[key],
                  f"a bad value at {example.path} changed another record {key}")
    produced = len(set(got) - (set(base) - item.keys))
    violation(produced <= len(item.keys) or any(collides(k) for k in got)
              or world.exempt(example.path),
              f"one item yielded {produced} records, was {len(item.keys)}")
    if produced < len(item.keys) and not world.exempt(example.path):
        violation(sum(outcome.record_errors.values()) > 0,
                  f"a bad value at {example.path} lost a record without counting it")


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                   ) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _not_found(request: httpx.Request) -> httpx.Response:
    return _json_response({"message": "Not Found"}, 404)


async def _no_sleep(seconds: float) -> None:
    return None


def _context(name: str, now: datetime = NOW, start: datetime | None = None) -> CollectContext:
    return CollectContext(name=name, now=now, state={}, logger=LOG,
                          history_start=start or history_start(now))


def _list_items(path: tuple[Any, ...], body: Any, keys: Callable[[Any], set[Key]],
                kinds: frozenset[RecordKind]) -> list[Item]:
    """Items of the list at ``path`` in ``body``, each yielding ``keys(item)``."""
    node = body
    try:
        for part in path:
            node = node[part]
    except (KeyError, IndexError, TypeError):
        return []
    if not isinstance(node, list):
        return []
    return [Item((*path, i), frozenset(keys(inner)), kinds) for i, inner in enumerate(node)]


# -- Microsoft Sentinel ---------------------------------------------------------------------

def _sentinel_world() -> World:
    from collectors.sentinel import SentinelCollector
    from tests.collectors import test_sentinel as ts

    holder: list[World] = []
    names = {n: f"73e01a99-5cd7-4139-a149-{n:012d}" for n in range(1, 8)}
    page1 = [ts.incident(1), ts.incident(2, classification="FalsePositive"),
             ts.incident(3, status="Active", modified="2026-11-21T00:00:00Z"),
             ts.incident(4, classification="Undetermined", severity="Medium")]
    page2 = [ts.incident(5, status="New", classification=None, severity="Low"),
             ts.incident(6, classification="BenignPositive", severity="Informational"),
             ts.incident(7, created="2026-06-01T00:00:00Z", first="2026-05-31T20:00:00Z",
                         modified="2026-10-02T00:00:00Z")]
    rows = [[names[1], "2026-11-10T12:00:00Z", "2026-11-10T10:30:00Z"],
            [names[3], None, "2026-11-20T09:00:00Z"],
            [names[7], "2026-10-01T00:00:00Z", "2026-07-01T00:00:00Z"]]
    next_link = f"{ts.BASE}?api-version=2025-06-01&$skipToken=page2"
    arm_path = httpx.URL(ts.BASE).path
    rules_path = arm_path.removesuffix("incidents") + "alertRules"
    rules = [_sentinel_rule(1, "Scheduled", ["T1078"], ["T1078.004"]),
             _sentinel_rule(2, "NRT", ["T1110"], []),
             _sentinel_rule(3, "Fusion", [], [], enabled=False)]
    os.environ["SENTINEL_FUZZ_SECRET"] = ts.SECRET
    settings = ts.SentinelSettings.model_validate({
        "tenant_id": ts.TENANT, "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": {"env": "SENTINEL_FUZZ_SECRET"}, "subscription_id": ts.SUB,
        "resource_group": "myRg", "workspace_name": "myWorkspace",
        "log_analytics": {"workspace_id": ts.WS_ID}, "http": {"max_retries": 0}})

    def make() -> tuple[Collector, CollectContext]:
        return (SentinelCollector("sentinel-prod", settings, sleep=_no_sleep),
                _context("sentinel-prod"))

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            url = request.url
            if url.host == "login.microsoftonline.com":
                return ts.token_ok()
            if url.host == "api.loganalytics.io":
                return ts.la_result(rows)
            if url.host == "management.azure.com" and url.path == rules_path:
                return _json_response({"value": rules})
            if url.host == "management.azure.com" and url.path == arm_path:
                if "skipToken=page2" in str(url):
                    return ts.page(page2)
                return ts.page(page1, next_link)
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        host = request.url.host
        if host == "login.microsoftonline.com":
            return "token"
        if host == "api.loganalytics.io":
            return "log analytics query"
        if host == "management.azure.com" and request.url.path == rules_path:
            return "alert rules"
        if host == "management.azure.com":
            return "incidents page " + ("2" if "skipToken=page2" in str(request.url) else "1")
        return None

    def keys(item: Any) -> set[Key]:
        props = item["properties"]
        record_id = f"myWorkspace#{props['incidentNumber']}"
        out: set[Key] = {(RecordKind.SIEM_ALERT, record_id)}
        if props.get("classification") not in ("FalsePositive", "BenignPositive"):
            out.add((RecordKind.INCIDENT, record_id))
        return out

    both = frozenset({RecordKind.SIEM_ALERT, RecordKind.INCIDENT})

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith("incidents"):
            return _list_items(("value",), body, keys, both)
        if key == "alert rules":
            return _list_items(("value",), body, lambda rule: _present(
                lambda: holder[0].baseline, (RecordKind.DETECTION_RULE, rule["name"])),
                frozenset({RecordKind.DETECTION_RULE}))
        if key == "log analytics query":  # a bad row loses only its close time
            return _list_items(("tables", 0, "rows"), body, lambda _: set(), both)
        return []

    def exempt(path: tuple[Any, ...]) -> bool:
        # A verdict decides whether an incident is one (false and benign positives are
        # not): changing it may add or drop the incident record by design.
        return "classification" in path

    built = World(
        "sentinel", make, handler, slot_of, items_of, exempt=exempt,
        focus=frozenset({"properties", "incidentNumber", "createdTimeUtc",
                         "lastModifiedTimeUtc", "firstActivityTimeUtc", "lastActivityTimeUtc",
                         "status", "classification", "severity", "title", "name", "kind",
                         "enabled", "techniques", "subTechniques"}),
    )
    holder.append(built)
    return built


def _sentinel_rule(number: int, kind: str, techniques: list[str], subs: list[str],
                   enabled: bool = True) -> dict[str, Any]:
    """One analytics rule as Alert Rules - List returns it (Azure REST reference)."""
    name = f"5e7a1f3c-0000-4000-8000-{number:012d}"
    return {"id": f"/subscriptions/x/providers/Microsoft.SecurityInsights/alertRules/{name}",
            "name": name, "etag": '"0300bf09-0000-0000-0000-5c37296e0000"',
            "type": "Microsoft.SecurityInsights/alertRules", "kind": kind,
            "properties": {"displayName": f"Rule {number}", "enabled": enabled,
                           "severity": "High", "tactics": ["InitialAccess"],
                           "techniques": techniques, "subTechniques": subs,
                           "lastModifiedUtc": "2026-11-01T00:00:00Z"}}


def _form(request: httpx.Request) -> dict[str, str]:
    from urllib.parse import parse_qs
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def _present(baseline: Callable[[], CollectionResult | None], key: Key) -> set[Key]:
    """``{key}`` when the clean baseline holds that record (else the item yields none)."""
    result = baseline()
    return {key} if result is not None and key in records_by_key(result) else set()


# -- Splunk Enterprise Security ---------------------------------------------------------------

def _splunk_data() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from tests.collectors import test_splunk as tsp

    reviews = [tsp.review("N1", "2026-11-20T10:20:00+00:00", "2026-11-20T11:00:00+00:00"),
               tsp.review("N2", "2026-11-20T12:00:00+00:00", "2026-11-20T12:30:00+00:00"),
               tsp.review("N3", None, "2026-11-21T09:00:00+00:00")]
    notables = [tsp.notable("N1"),
                tsp.notable("N2", disposition="disposition:3", urgency="medium"),
                tsp.notable("N3", status="2", label="In Progress", disposition="disposition:6",
                            urgency="critical"),
                tsp.notable("N4", status="1", label="New", disposition="disposition:0",
                            urgency="low"),
                tsp.notable("N5", disposition="disposition:2", urgency="informational")]
    return reviews, notables


def _splunk_world(mode: str) -> World:
    from collectors.splunk import SplunkCollector, SplunkSettings
    from tests.collectors import test_splunk as tsp

    reviews, notables = _splunk_data()
    os.environ["SPLUNK_FUZZ_TOKEN"] = tsp.TOKEN
    settings = SplunkSettings.model_validate({
        "base_url": tsp.BASE, "token": {"env": "SPLUNK_FUZZ_TOKEN"}, "mode": mode,
        "page_size": 2, "http": {"max_retries": 0}})
    sids = {"review": "1763900000.101", "notable": "1763900000.102"}
    rows_of = {sids["review"]: reviews, sids["notable"]: notables}
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        # Time moves a second per clock read, so the search budget (5 min) bounds a poll
        # loop the way it does in production, without real waiting.
        return (SplunkCollector("splunk-es", settings, sleep=_no_sleep,
                                clock=tsp.FakeClock(step=1.0)),
                _context("splunk-es"))

    searches = [_splunk_saved_search(1, "Access - Brute Force Access Behavior Detected - Rule",
                                     '{"mitre_attack": ["T1110", "T1110.001"]}'),
                _splunk_saved_search(2, "Endpoint - Malware Detected - Rule",
                                     '{"mitre_attack": ["T1204"]}', disabled="1"),
                _splunk_saved_search(3, "Weekly report", None, correlation="0")]

    def search_of(request: httpx.Request) -> str:
        return "review" if "incident_review_lookup" in _form(request).get("search", "") \
            else "notable"

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path.endswith("/saved/searches"):
                offset = int(request.url.params.get("offset", "0"))
                count = int(request.url.params.get("count", "500"))
                return _json_response({"entry": searches[offset:offset + count],
                                       "paging": {"total": len(searches), "perPage": count,
                                                  "offset": offset}, "messages": []})
            if path.endswith("/jobs/export"):
                rows = reviews if search_of(request) == "review" else notables
                return httpx.Response(200, text=tsp.export_body(rows))
            if request.method == "POST" and path.endswith("/search/jobs"):
                return _json_response({"sid": sids[search_of(request)]}, 201)
            for sid, rows in rows_of.items():
                if request.method == "DELETE" or path.endswith("/control"):
                    return _json_response({})
                if path.endswith(f"/jobs/{sid}"):
                    return _json_response({"entry": [{"name": sid, "content": {
                        "dispatchState": "DONE", "isDone": True, "isFailed": False,
                        "resultCount": len(rows)}}]})
                if path.endswith(f"/jobs/{sid}/results"):
                    offset = int(request.url.params.get("offset", "0"))
                    count = int(request.url.params.get("count", "100"))
                    return _json_response({"preview": False, "init_offset": offset,
                                           "messages": [], "fields": [],
                                           "results": rows[offset:offset + count]})
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path.endswith("/saved/searches"):
            return f"saved searches offset {request.url.params.get('offset')}"
        if path.endswith("/jobs/export"):
            return f"export {search_of(request)}s"
        if request.method == "DELETE" or path.endswith("/control"):
            return None
        if request.method == "POST":
            return f"create {search_of(request)} job"
        for name, sid in sids.items():
            if path.endswith(f"/jobs/{sid}"):
                return f"{name} job status"
            if path.endswith(f"/jobs/{sid}/results"):
                return f"{name} results offset {request.url.params.get('offset')}"
        return None

    def keys(row: Any) -> set[Key]:
        return _present(lambda: holder[0].baseline, (RecordKind.SIEM_ALERT, str(row["event_id"])))

    alerts = frozenset({RecordKind.SIEM_ALERT})

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith("saved searches"):
            return _list_items(("entry",), body, lambda entry: _present(
                lambda: holder[0].baseline, (RecordKind.DETECTION_RULE, entry["id"])),
                frozenset({RecordKind.DETECTION_RULE}))
        review = key.startswith(("export reviews", "review results"))
        if key.startswith("export"):  # a list of stream lines; records in "result"
            return [Item((i, "result"), frozenset() if review or "result" not in line
                         else frozenset(keys(line["result"])), alerts)
                    for i, line in enumerate(body)]
        if "results" in key:
            return _list_items(("results",), body, (lambda _: set()) if review else keys,
                               alerts)
        return []

    def page_level(slot: Slot, path: tuple[Any, ...]) -> bool:
        # A stream line that is not an object, or a "result" that is not one, fails the
        # search as documented ("result is not an object"): page shape, not a record.
        return slot.lines and len(path) <= 2

    built = World(
        f"splunk-{mode}", make, handler, slot_of, items_of,
        focus=frozenset({"event_id", "rule_name", "search_name", "status", "status_label",
                         "disposition", "disposition_label", "disposition_default",
                         "urgency", "notable_epoch", "_time", "rule_id",
                         "first_status_change", "last_review", "result", "content",
                         "id", "disabled", "action.correlationsearch.enabled",
                         "action.correlationsearch.annotations", "paging", "total"}),
        page_level=page_level, lines=lambda key: key.startswith("export"),
        # A saved search without the correlation flag is no detection rule (documented).
        exempt=lambda path: "action.correlationsearch.enabled" in path)
    holder.append(built)
    return built


def _splunk_saved_search(number: int, name: str, annotations: str | None, *,
                         correlation: str = "1", disabled: str = "0") -> dict[str, Any]:
    """One entry of GET /servicesNS/-/-/saved/searches (Splunk REST API reference)."""
    from urllib.parse import quote

    content: dict[str, Any] = {"action.correlationsearch.enabled": correlation,
                               "disabled": disabled, "search": "| tstats count ...",
                               "cron_schedule": "*/5 * * * *"}
    if annotations is not None:
        content["action.correlationsearch.annotations"] = annotations
    return {"name": name, "author": "nobody", "updated": "2026-11-01T00:00:00+00:00",
            "id": f"https://es.example.com:8089/servicesNS/nobody/SA-AccessProtection/saved/"
                  f"searches/{quote(name)}",
            "links": {}, "acl": {"app": "SA-AccessProtection", "owner": "nobody",
                                 "sharing": "global"}, "content": content}


# -- Elastic Security ------------------------------------------------------------------------

def _elastic_world(mode: str) -> World:
    from collectors.elastic import ElasticCollector, ElasticSettings
    from tests.collectors import test_elastic as te

    hits = [
        te.alert_hit("a-open", created="2026-11-01T10:00:00.000Z"),
        te.alert_hit("a-ack", status="acknowledged", updated="2026-11-02T10:30:00.000Z",
                     created="2026-11-02T10:00:00.000Z", severity="medium"),
        te.alert_hit("a-fp", status="closed", reason="false_positive",
                     created="2026-11-03T10:00:00.000Z", updated="2026-11-03T12:00:00.000Z",
                     severity="low"),
        te.alert_hit("a-tp", status="closed", reason="issue_resolved", nested=True,
                     created="2026-11-04T10:00:00.000Z", updated="2026-11-04T11:00:00.000Z"),
        te.alert_hit("a-none", status="closed", created="2026-11-05T10:00:00.000Z",
                     updated="2026-11-05T10:05:00.000Z", severity="critical"),
        te.alert_hit("a-legacy", status="in-progress", created="2026-11-06T10:00:00.000Z",
                     updated="2026-11-06T10:10:00.000Z"),
        te.alert_hit("a-old", created="2026-07-01T00:00:00.000Z"),
    ]
    for position, hit in enumerate(hits):
        hit["sort"] = [position]
    rules = [_kibana_rule(1, "query", ["T1078"], ["T1078.004"]),
             _kibana_rule(2, "eql", ["T1059"], []),
             _kibana_rule(3, "machine_learning", [], [], enabled=False)]
    os.environ["ELASTIC_FUZZ_KEY"] = te.API_KEY
    url = te.ES if mode == "elasticsearch" else te.KB
    settings = ElasticSettings.model_validate({
        "mode": mode, "url": url, "api_key": {"env": "ELASTIC_FUZZ_KEY"}, "page_size": 3,
        "http": {"max_retries": 0}})
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return ElasticCollector("elastic-soc", settings, sleep=_no_sleep), _context("elastic-soc")

    def body_of(request: httpx.Request) -> Any:
        try:
            return json.loads(request.content or b"null")
        except ValueError:
            return None

    def time_range(request: httpx.Request) -> tuple[str, str] | None:
        body = body_of(request)
        try:
            bounds = body["query"]["bool"]["filter"][-1]["range"]["@timestamp"]
            return bounds["gte"], bounds["lt"]
        except (KeyError, IndexError, TypeError):
            return None

    def in_range(hit: dict[str, Any], low: str, high: str) -> bool:
        created = datetime.fromisoformat(hit["_source"]["@timestamp"].replace("Z", "+00:00"))
        return (datetime.fromisoformat(low.replace("Z", "+00:00")) <= created
                < datetime.fromisoformat(high.replace("Z", "+00:00")))

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path.endswith("/_pit") and request.method == "POST":
                return _json_response({"id": te.PIT})
            if path == "/_pit":
                return _json_response({"succeeded": True, "num_freed": 1})
            if path == "/_search":
                after = (body_of(request) or {}).get("search_after")
                if after is not None and not (isinstance(after, list) and after
                                              and isinstance(after[0], int)):
                    return _json_response({"error": {"type": "parse_exception"}}, 400)
                start = 0 if after is None else after[0] + 1
                return _json_response(te.search_page(hits[start:start + 3]))
            if path.endswith("/rules/_find"):
                page = int(request.url.params.get("page", "1"))
                size = int(request.url.params.get("per_page", "500"))
                return _json_response({"page": page, "perPage": size, "total": len(rules),
                                       "data": rules[(page - 1) * size:page * size]})
            if path.endswith("/signals/search"):
                bounds = time_range(request)
                if bounds is None:
                    return _json_response({"message": "bad request"}, 400)
                chosen = [h for h in hits if in_range(h, *bounds)]
                return _json_response(te.search_page(chosen[:3], total=len(chosen),
                                                     pit_id=None))
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path.endswith("/_pit"):
            return "open point in time" if request.method == "POST" else None
        if path == "/_search":
            return f"search after {(body_of(request) or {}).get('search_after')}"
        if path.endswith("/signals/search"):
            return f"signals {time_range(request)}"
        if path.endswith("/rules/_find"):
            return f"rules page {request.url.params.get('page')}"
        return None

    def keys(hit: Any) -> set[Key]:
        return _present(lambda: holder[0].baseline, (RecordKind.SIEM_ALERT, hit["_id"]))

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith(("search", "signals")):
            return _list_items(("hits", "hits"), body, keys, frozenset({RecordKind.SIEM_ALERT}))
        if key.startswith("rules"):
            return _list_items(("data",), body, lambda rule: _present(
                lambda: holder[0].baseline, (RecordKind.DETECTION_RULE, rule["id"])),
                frozenset({RecordKind.DETECTION_RULE}))
        return []

    def page_level(slot: Slot, path: tuple[Any, ...]) -> bool:
        # A hit's sort values are the next page's cursor, and the last hit of a full page
        # carries them: page shape, not a record.
        if path[3:4] == ("sort",):
            return True
        hits_of = slot.body.get("hits", {}).get("hits", []) if isinstance(slot.body, dict) \
            else []
        return (mode == "elasticsearch" and len(path) == 3 and len(hits_of) == 3
                and path[2] == len(hits_of) - 1)

    built = World(
        f"elastic-{mode}", make, handler, slot_of, items_of,
        focus=frozenset({"_source", "_id", "@timestamp", "kibana.alert.uuid",
                         "kibana.alert.workflow_status", "kibana.alert.workflow_reason",
                         "kibana.alert.workflow_status_updated_at", "kibana.alert.rule.name",
                         "kibana.alert.severity", "uuid", "workflow_status",
                         "workflow_reason", "severity", "name", "kibana", "alert", "id",
                         "enabled", "type", "threat", "framework", "technique",
                         "subtechnique"}),
        page_level=page_level)
    holder.append(built)
    return built


def _kibana_rule(number: int, kind: str, techniques: list[str], subs: list[str],
                 enabled: bool = True) -> dict[str, Any]:
    """One rule object of GET /api/detection_engine/rules/_find (Kibana API reference)."""
    return {"id": f"8a4f3c2e-0000-4000-8000-{number:012d}", "rule_id": f"rule-{number}",
            "name": f"Rule {number}", "enabled": enabled, "type": kind, "risk_score": 47,
            "severity": "medium", "created_at": "2026-10-01T00:00:00.000Z",
            "threat": [{"framework": "MITRE ATT&CK",
                        "tactic": {"id": "TA0001", "name": "Initial Access",
                                   "reference": "https://attack.mitre.org/tactics/TA0001/"},
                        "technique": [{"id": t, "name": t,
                                       "reference": f"https://attack.mitre.org/techniques/{t}/",
                                       "subtechnique": [{"id": sub, "name": sub}
                                                        for sub in subs]}
                                      for t in techniques]}]}


# -- PagerDuty --------------------------------------------------------------------------------

def _pagerduty_world(api: str) -> World:
    from collectors.pagerduty import PagerDutyCollector, PagerDutySettings
    from tests.collectors import test_pagerduty as tp

    start = NOW - timedelta(days=30)  # one since/until window
    incidents = [
        tp.incident("PINC001", priority="P1"),
        tp.incident("PINC002", urgency="low", status="acknowledged", resolved=None),
        tp.incident("PINC003", resolved="2026-11-11T08:00:00Z", priority="Sev-custom"),
        tp.incident("PINC004", created="2026-11-12T08:00:00Z", resolved="2026-11-12T09:00:00Z"),
        tp.incident("PINC005", status="triggered", resolved=None, urgency="low"),
    ]
    old = tp.incident("POLD001", created="2026-09-01T08:00:00Z",
                      resolved="2026-11-02T08:00:00Z")
    entries = [tp.log_entry("resolve_log_entry", "PINC001", "2026-11-10T10:00:00Z", "R1"),
               tp.log_entry("acknowledge_log_entry", "PINC002", "2026-11-10T09:00:00Z", "A2"),
               tp.log_entry("resolve_log_entry", "POLD001", "2026-11-02T08:00:00Z", "R2")]
    rows = [tp.analytics_row("A1"), tp.analytics_row("A2", ack=None, urgency="low"),
            tp.analytics_row("A3", resolved=None, ack=60, status="acknowledged"),
            tp.analytics_row("A4", priority=None, created="2026-11-12T08:00:00Z",
                             resolved="2026-11-12T10:00:00Z"),
            tp.analytics_row("A5", urgency="low", priority="P4")]
    verdicts = {"PINC001": "true_positive", "PINC003": "undetermined", "A1": "true_positive",
                "A4": "undetermined"}
    contained = {"PINC001": "2026-11-10T09:00:00Z", "A1": "2026-11-10T08:30:00Z"}
    os.environ["PD_FUZZ_TOKEN"] = tp.TOKEN
    settings = PagerDutySettings.model_validate({
        "token": {"env": "PD_FUZZ_TOKEN"}, "api": api, "page_limit": 2,
        "analytics_page_limit": 2, "classification_field": "security_verdict",
        "containment": "custom_field", "containment_field": "contained_at",
        "http": {"max_retries": 0}})
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return (PagerDutyCollector("pd-secops", settings, sleep=_no_sleep),
                _context("pd-secops", start=start))

    def page(key: str, items: list[Any], request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        chunk = items[offset:offset + 2]
        return _json_response(tp.listing(key, chunk, offset=offset, limit=2,
                                         more=offset + 2 < len(items), total=len(items)))

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == "/incidents":
                return page("incidents", incidents, request)
            if path == "/log_entries":
                return page("log_entries", entries, request)
            by_id = {i["id"]: i for i in [*incidents, old]}
            if path.count("/") == 2 and path.split("/")[2] in by_id:
                return _json_response({"incident": by_id[path.split("/")[2]]})
            if path.endswith("/custom_fields/values"):
                incident_id = path.split("/")[2]
                values = [tp.field_value("environment", None)]
                if incident_id in verdicts:
                    values.append(tp.field_value("security_verdict", verdicts[incident_id]))
                if incident_id in contained:
                    values.append(tp.contained_field(contained[incident_id]))
                return _json_response({"custom_fields": values})
            if path == "/analytics/raw/incidents":
                body = json.loads(request.content)
                after = body.get("starting_after")
                ids = [r["id"] for r in rows]
                if after is not None and after not in ids:
                    return _json_response({"error": {"message": "bad cursor"}}, 400)
                index = 0 if after is None else ids.index(after) + 1
                chunk = rows[index:index + 2]
                return _json_response({"data": chunk, "first": chunk[0]["id"] if chunk else None,
                                       "last": chunk[-1]["id"] if chunk else None,
                                       "more": index + 2 < len(rows), "limit": 2})
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path in ("/incidents", "/log_entries"):
            return f"GET {path} offset {request.url.params.get('offset')}"
        if path == "/analytics/raw/incidents":
            return f"analytics after {json.loads(request.content).get('starting_after')}"
        return f"GET {path}" if path.startswith("/incidents/") else None

    def keys(item: Any) -> set[Key]:
        return _present(lambda: holder[0].baseline, (RecordKind.INCIDENT, item["id"]))

    kinds = frozenset({RecordKind.INCIDENT})

    def items_of(key: str, body: Any) -> list[Item]:
        if key.startswith("GET /incidents offset"):
            return _list_items(("incidents",), body, keys, kinds)
        if key.startswith("analytics"):
            return _list_items(("data",), body, keys, kinds)
        if key == "GET /incidents/POLD001":
            return [Item(("incident",), frozenset(keys(old)), kinds)]
        if key.endswith("/custom_fields/values"):  # one incident's fields
            incident_id = key.split("/")[2]
            own = frozenset(_present(lambda: holder[0].baseline,
                                     (RecordKind.INCIDENT, incident_id)))
            return [Item(p.prefix, own, kinds)
                    for p in _list_items(("custom_fields",), body, lambda _: set(), kinds)]
        return []  # log entries: which incidents to fetch, not records

    def exempt(path: tuple[Any, ...]) -> bool:
        # A verdict may legitimately say "false positive": the incident is no record then.
        return "value" in path or "security_verdict" in path

    built = World(
        f"pagerduty-{api}", make, handler, slot_of, items_of,
        focus=frozenset({"id", "created_at", "resolved_at", "status", "urgency", "priority",
                         "summary", "name", "priority_name", "value", "last_status_change_at",
                         "service", "teams", "incident"}),
        exempt=exempt)
    holder.append(built)
    return built


# -- Jira ---------------------------------------------------------------------------------------

def _jira_world(deployment: str) -> World:
    from collectors.jira import JiraCollector, JiraSettings
    from tests.collectors import test_jira as tj

    vulns = [
        tj.issue(1, summary="CVE-2026-1234 and cve-2026-99999 in libfoo", priority="Highest"),
        tj.issue(2, status="done", resolution="Done",
                 resolutiondate="2026-10-05T09:00:00.000+0200"),
        tj.issue(3, status="closed", resolution="Won't Fix", priority="Low",
                 resolutiondate="2026-10-03T12:00:00.000+0000"),
        tj.issue(4, status="reopened", resolution="Done", priority="Medium",
                 resolutiondate="2026-10-10T09:00:00.000+0000",
                 changelog=[tj.history("2026-10-08T08:00:00.000+0000",
                                       ("resolution", "Done", None),
                                       ("status", "Done", "Reopened"))]),
        tj.issue(5, status="done", priority="Lowest", changelog=[
            tj.history("2026-10-20T16:30:00.000+0000", ("status", "In Progress", "Done"))]),
    ]
    incidents = [
        tj.issue(7, project="IR", issuetype="Incident", status="done", resolution="Done",
                 created="2026-11-02T10:00:00.000+0000",
                 resolutiondate="2026-11-03T10:00:00.000+0000"),
        tj.issue(8, project="IR", issuetype="Incident", priority="Low",
                 created="2026-11-05T10:00:00.000+0000"),
        tj.issue(9, project="IR", issuetype="Incident", status="done", resolution="Done",
                 priority=None, created="2026-11-06T10:00:00.000+0000",
                 resolutiondate="2026-11-06T18:00:00.000+0000"),
    ]
    base = tj.CLOUD if deployment == "cloud" else tj.DC
    version = "3" if deployment == "cloud" else "2"
    os.environ["JIRA_FUZZ_TOKEN"] = tj.API_TOKEN
    os.environ["JIRA_FUZZ_PAT"] = tj.PAT
    data: dict[str, Any] = {"base_url": base, "deployment": deployment,
                            "vulnerabilities": {"jql": tj.VULN_JQL},
                            "incidents": {"jql": tj.INC_JQL}, "http": {"max_retries": 0}}
    if deployment == "cloud":
        data.update(email=tj.EMAIL, api_token={"env": "JIRA_FUZZ_TOKEN"})
    else:
        data.update(personal_access_token={"env": "JIRA_FUZZ_PAT"}, page_size=2)
    settings = JiraSettings.model_validate(data)
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        return JiraCollector("jira-acme", settings, sleep=_no_sleep), _context("jira-acme")

    def query_of(jql: str) -> str:
        return "vulnerabilities" if "Vulnerability" in jql else "incidents"

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == f"/rest/api/{version}/myself":
                return _json_response(tj.myself())
            if path == f"/rest/api/{version}/field":
                return _json_response(tj.field_list())
            if path == "/rest/api/3/search/jql":
                body = json.loads(request.content)
                issues = vulns if query_of(body["jql"]) == "vulnerabilities" else incidents
                start = int(body.get("nextPageToken") or 0)
                following = start + 3 if start + 3 < len(issues) else None
                return _json_response(tj.cloud_page(issues[start:start + 3],
                                                    None if following is None
                                                    else str(following)))
            if path == "/rest/api/2/search":
                params = request.url.params
                issues = vulns if query_of(params["jql"]) == "vulnerabilities" else incidents
                start, size = int(params["startAt"]), min(2, int(params["maxResults"]))
                return _json_response(tj.dc_page(issues[start:start + size], start, size,
                                                 len(issues)))
            return _not_found(request)
        return answer

    def slot_of(request: httpx.Request) -> str | None:
        path = request.url.path
        if path.endswith(("/myself", "/field")):
            return f"GET {path}"
        if path == "/rest/api/3/search/jql":
            body = json.loads(request.content)
            return f"search {query_of(body['jql'])} token {body.get('nextPageToken')}"
        if path == "/rest/api/2/search":
            params = request.url.params
            return f"search {query_of(params['jql'])} startAt {params['startAt']}"
        return None

    def items_of(key: str, body: Any) -> list[Item]:
        if not key.startswith("search"):
            return []
        kind = RecordKind.FINDING if "vulnerabilities" in key else RecordKind.INCIDENT
        return _list_items(
            ("issues",), body,
            lambda issue: _present(lambda: holder[0].baseline, (kind, f"jira:{issue['id']}")),
            frozenset({kind}))

    built = World(
        f"jira-{deployment}", make, handler, slot_of, items_of,
        focus=frozenset({"id", "key", "fields", "created", "updated", "status",
                         "statusCategory", "resolution", "resolutiondate", "priority",
                         "labels", "summary", "project", "changelog", "histories", "items",
                         "field", "from", "to", "name"}))
    holder.append(built)
    return built


# -- GitHub -------------------------------------------------------------------------------------

def _github_world() -> World:
    from collectors.github import GitHubCollector, GitHubSettings
    from tests.collectors import test_github as tg

    os.environ["GH_FUZZ_TOKEN"] = tg.TOKEN
    settings = GitHubSettings.model_validate({
        "organizations": [tg.ORG], "tokens": [{"env": "GH_FUZZ_TOKEN"}],
        "http": {"max_retries": 0}})
    holder: list[World] = []

    def make() -> tuple[Collector, CollectContext]:
        collector = GitHubCollector("github-test", settings)
        collector.sleep = _no_sleep  # type: ignore[method-assign]
        return collector, _context("github-test")

    def handler() -> Callable[[httpx.Request], httpx.Response]:
        return tg.Server().handle

    def slot_of(request: httpx.Request) -> str | None:
        params = request.url.params
        page = params.get("page") or params.get("after") or "1"
        return f"{request.method} {request.url.path} page {page}"

    prefixes = {"dependabot": "dependabot", "code-scanning": "code-scanning",
                "secret-scanning": "secret-scanning"}

    def alert_keys(kind: str) -> Callable[[Any], set[Key]]:
        def keys(alert: Any) -> set[Key]:
            finding_id = f"{kind}:{alert['repository']['full_name']}#{alert['number']}"
            return _present(lambda: holder[0].baseline, (RecordKind.FINDING, finding_id))
        return keys

    def items_of(key: str, body: Any) -> list[Item]:
        path = key.split()[1]
        repos = frozenset({RecordKind.REPOSITORY})
        if path == f"/orgs/{tg.ORG}/repos":
            return _list_items((), body, lambda repo: {(RecordKind.REPOSITORY, str(repo["id"]))},
                               repos)
        for listing, prefix in prefixes.items():
            if path == f"/orgs/{tg.ORG}/{listing}/alerts":
                return _list_items((), body, alert_keys(prefix),
                                   frozenset({RecordKind.FINDING}))
        if path == "/graphql":  # a gate node: only that repository's tier may change
            return _list_items(("data", "nodes"), body, lambda _: set(), repos)
        if path.endswith("/code-scanning/analyses"):
            return _list_items((), body, lambda _: set(), repos)
        return []  # configurations: a configuration without its id fails the page (docs)

    def exempt(path: tuple[Any, ...]) -> bool:
        # An alert of a repository that is not listed (or excluded) is left out on purpose.
        return "repository" in path

    built = World(
        "github", make, handler, slot_of, items_of,
        focus=frozenset({
            "state", "number", "created_at", "updated_at", "fixed_at", "dismissed_at",
            "auto_dismissed_at", "dismissed_reason", "security_advisory", "severity",
            "security_vulnerability", "cve_id", "identifiers", "published_at", "rule",
            "security_severity_level", "tool", "name", "repository", "full_name",
            "resolution", "resolved_at", "id", "node_id", "archived", "fork", "topics",
            "default_branch", "pushed_at", "security_and_analysis", "custom_properties",
            "status", "defaultBranchRef", "branchProtectionRule", "refUpdateRule", "rules",
            "nodes", "type", "parameters", "repositoryRuleset", "bypassActors", "totalCount",
            "allowsForcePushes", "allowsDeletions", "requiresApprovingReviews",
            "requiredApprovingReviewCount", "requiredStatusCheckContexts", "data",
            "errors", "path", "value"}),
        exempt=exempt)
    holder.append(built)
    return built


# -- loaders: config, maturity files, the file collector -----------------------------------------

YAML_SNIPPETS = [
    ":", ": ", "- ", "-", "\t", "  ", "\n", "#", "&a ", "*a", "*nope", "<<: *a\n",
    "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!binary aGk=",
    "? ", "{", "}", "[", "]", '"', "'", "|\n", ">-\n", "---\n", "...\n", "%YAML 1.1\n",
    "%TAG ! tag:x,2002:\n", "\x00", "\ufeff", "\u2028", "\x85", "\r", "yes: 1\n", "on: true\n",
    "~: 1\n", "null: 1\n", "1e400", "9" * 5000, "2026-02-30", "0o777", "0x" + "f" * 5000,
    "!!timestamp 2026-13-45", "!!int x", "!!float x", "!!set {a, b}", "!!omap [a: 1]", "!!str",
    "!env FOO", ".inf", "-.nan", "{env: FUZZ_NOT_SET}", "{file: /dev/zero}",
    "{file: /nonexistent/x}", "{file: /etc}", "999999999999999999999d", "1ms", "-5m", "0s",
    "P1D", "interval: 1ms\n", "cron: '* * * * * *'\n", "cron: '30 2 30 2 *'\n",
    "a{99999999999}", "(?P<", "$(reboot)", "../../../../etc/passwd", "~nosuchuser/x", "\\",
    "%", "@", "`", "2026-11-23T00:00:00", "-30d", "+30d", "0000-01-01",
]
DATA_SNIPPETS = [
    ",", '"', '""', "\n", "\r", "\r\n", "\x00", "\ufeff", "{", "}", "[", "]", ":", "null",
    "NaN", "Infinity", "1e400", "9" * 5000, "\\u0000", "\\ud800", '"\\ud800"', "x" * 70_000,
    "id,severity\n", ",,,,,,,,\n", "a;b;c", "\t", "#", "- ", "&a ", "*a", "2026-02-30",
    "0000-01-01", "9999-12-31T23:59:59-05:00", "253402300800",
]


def _yaml_value(value: Any) -> Any:
    """A YAML-dumpable version of an arbitrary JSON value (Raw tokens as their text)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return {str(k): _yaml_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_value(v) for v in value]
    return value


_yaml_extras = st.sampled_from([
    datetime(2026, 11, 23, tzinfo=UTC), datetime(1, 1, 1), 10**400, -(10**30), 2**64,
    float("inf"), float("nan"), "yes", "no", "on", "off", "~", "null", "1_000", "0x1f",
    "1ms", "100d", "-1s", "P1D", "15m", "10000000d", "*", "* * * * *", ":10121", "[::1]:0",
    "0.0.0.0:99999", "/", "/-/ready", "metrics", "CRITICAL", "x" * 10_000, "",
])
yaml_values = st.one_of(json_values.map(_yaml_value), _yaml_extras)


@dataclass
class FileExample:
    """A mutated copy of a seed file; ``ops`` say what was done, for the report."""

    seed: str
    ops: list[str]
    payload: bytes
    structural: tuple[Any, ...] | None = None  # (path, value) of a one-value mutation

    def __repr__(self) -> str:
        return (f"FileExample(seed={self.seed!r}, ops={self.ops!r}, "
                f"{len(self.payload)} bytes, head={_short(self.payload[:120])})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def _text_op(draw: st.DrawFn, text: str, snippets: list[str]) -> tuple[str, str]:
    """One textual mutation of ``text``: (new text, description)."""
    size = len(text)
    kind = draw(st.sampled_from(["truncate", "delete", "insert", "insert", "dup_line",
                                 "swap_lines", "indent", "value"]))
    at = draw(st.integers(0, size))
    lines = text.splitlines(keepends=True) or [""]
    line = draw(st.integers(0, len(lines) - 1))
    if kind == "truncate":
        return text[:at], f"truncate at {at}"
    if kind == "delete":
        length = draw(st.integers(1, 200))
        return text[:at] + text[at + length:], f"delete {length} at {at}"
    if kind == "insert":
        snippet = draw(st.one_of(st.sampled_from(snippets), st.text(max_size=12)))
        return text[:at] + snippet + text[at:], f"insert {_short(snippet, 40)} at {at}"
    if kind == "dup_line":
        return "".join(lines[:line + 1] + lines[line:]), f"duplicate line {line + 1}"
    if kind == "swap_lines":
        other = draw(st.integers(0, len(lines) - 1))
        lines[line], lines[other] = lines[other], lines[line]
        return "".join(lines), f"swap lines {line + 1} and {other + 1}"
    if kind == "indent":
        delta = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
        body = lines[line]
        lines[line] = body[min(-delta, len(body) - len(body.lstrip(" "))):] if delta < 0 \
            else " " * delta + body
        return "".join(lines), f"indent line {line + 1} by {delta}"
    # value: replace what follows "key:" on a line by an odd scalar
    match = re.match(r"^(\s*(?:- )?[^#:\n]+:)[ \t]*([^\n]*)(\n?)$", lines[line])
    if not match:
        return text, "no-op"
    scalar = draw(st.one_of(st.sampled_from(snippets), st.text(max_size=12).map(json.dumps)))
    lines[line] = f"{match.group(1)} {scalar}{match.group(3)}"
    return "".join(lines), f"value of line {line + 1} -> {_short(scalar, 40)}"


@st.composite
def _structural_yaml(draw: st.DrawFn, text: str) -> tuple[str, str]:
    """Parse the (valid) seed, replace or delete one value, dump it back."""
    data = yaml.safe_load(text)
    candidates = list(paths(data))
    if not candidates:
        return text, "no-op"
    path = draw(st.sampled_from(candidates))
    value = draw(st.one_of(yaml_values, st.just(DELETE), st.just("<unknown-key>")))
    if value == "<unknown-key>":
        parent = path[:-1]
        node = data
        for part in parent:
            node = node[part]
        if isinstance(node, dict):
            node["sevrity_typo"] = 1
            return yaml.safe_dump(data, sort_keys=False), f"unknown key under {parent}"
        return text, "no-op"
    try:
        return (yaml.safe_dump(replaced(data, path, value), sort_keys=False,
                               allow_unicode=draw(st.booleans())),
                f"set {path} = {_short(value, 60)}")
    except (yaml.YAMLError, ValueError, TypeError):
        return text, "no-op"


def _alias_bomb(levels: int, width: int) -> str:
    """A "billion laughs" block, bounded here (width**levels <= 531,441 nodes expanded)."""
    out = ["bomb0: &b0 [x]"]
    for level in range(1, levels + 1):
        refs = ", ".join(f"*b{level - 1}" for _ in range(width))
        out.append(f"bomb{level}: &b{level} [{refs}]")
    return "\n" + "\n".join(out) + "\n"


@st.composite
def _encoding(draw: st.DrawFn, text: str) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le",
                                 "utf-32", "latin-1", "crlf", "bad-bytes", "nul"]))
    if kind == "crlf":
        return _encode(text.replace("\n", "\r\n")), "CRLF line ends"
    if kind == "bad-bytes":
        at = draw(st.integers(0, len(text)))
        raw = _encode(text)
        return raw[:at] + b"\xff\xfe\xc3(" + raw[at:], f"invalid UTF-8 bytes at {at}"
    if kind == "nul":
        return _encode(text) + b"\x00" * draw(st.integers(1, 8)), "NUL bytes at the end"
    if kind == "latin-1":
        return text.encode("latin-1", "replace"), "latin-1"
    if kind == "utf-8":
        return _encode(text), "utf-8"
    try:
        return text.encode(kind), kind
    except UnicodeError:
        return _encode(text), "utf-8"


def file_mutations(seeds: dict[str, str], snippets: list[str], *, structural: bool = True,
                   bombs: bool = True) -> st.SearchStrategy[FileExample]:
    @st.composite
    def build(draw: st.DrawFn) -> FileExample:
        name = draw(st.sampled_from(sorted(seeds)))
        text, ops = seeds[name], []
        if structural and draw(st.booleans()):
            text, op = draw(_structural_yaml(text))
            ops.append(op)
        for _ in range(draw(st.integers(0 if ops else 1, 3))):
            text, op = draw(_text_op(text, snippets))
            ops.append(op)
        if bombs and draw(st.integers(0, 9)) == 0:
            levels, width = draw(st.integers(1, 6)), draw(st.integers(2, 9))
            text += _alias_bomb(levels, width)
            ops.append(f"alias bomb {width}^{levels}")
        payload, encoding = draw(_encoding(text))
        ops.append(encoding)
        return FileExample(name, ops, payload)

    return build()


@contextlib.contextmanager
def _no_env_overrides() -> Iterator[None]:
    """DEVSECOPS_* variables would override the mutated file: none while it loads."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DEVSECOPS_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


_WORKDIR: list[Path] = []


def workdir() -> Path:
    """A scratch copy of what the loaders read (demo data, seeds), made once per process."""
    if not _WORKDIR:
        root = Path(tempfile.mkdtemp(prefix="fuzz-loaders-"))
        import atexit
        atexit.register(shutil.rmtree, root, True)
        shutil.copytree(REPO / "demo", root / "demo")
        e2e = root / "tests" / "fixtures" / "e2e"
        e2e.mkdir(parents=True)
        shutil.copy(REPO / "tests/fixtures/e2e/regression_findings.yaml", e2e)
        (root / "data").mkdir()
        _WORKDIR.append(root)
    return _WORKDIR[0]


SOURCE_SECRETS = ("GITHUB_TOKEN", "JIRA_API_TOKEN", "SENTINEL_CLIENT_SECRET", "SPLUNK_TOKEN",
                  "ELASTIC_API_KEY", "PAGERDUTY_API_KEY")


def _all_sources(example: str) -> str:
    """config.example.yaml with every source block uncommented (secrets from FUZZ_* vars)."""
    out, live = [], False
    for line in example.splitlines(keepends=True):
        if line.startswith("  # --- Real sources"):
            live = True
            continue
        if live and line.startswith("  # ") and not line.startswith("  #   #") and \
                not line.startswith("  # Each"):
            line = "  " + line[4:]
        out.append(line)
    text = "".join(out)
    for name in SOURCE_SECRETS:
        text = text.replace(f"{{env: {name}}}", f"{{env: FUZZ_{name}}}")
        os.environ[f"FUZZ_{name}"] = "fuzz-not-a-real-secret"
    return text


def config_seeds() -> dict[str, str]:
    example = (REPO / "config.example.yaml").read_text()
    return {"config.example.yaml": example,
            "config.example.yaml, every source on": _all_sources(example),
            "tests/fixtures/e2e/config.yaml": (REPO / "tests/fixtures/e2e/config.yaml")
            .read_text()}


def _config_path(seed: str) -> Path:
    root = workdir()
    return root / "tests/fixtures/e2e/config.yaml" if seed.startswith("tests/") \
        else root / "config.yaml"


def check_config(example: FileExample) -> str:
    from exporter.config import ConfigError, load_config

    path = _config_path(example.seed)
    path.write_bytes(example.payload)
    with time_limit(EXAMPLE_SECONDS), _no_env_overrides():
        try:
            load_config(path)
        except ConfigError as exc:
            _check_problems(exc.problems, ("cannot validate the configuration:",
                                           ": invalid value ("))
            return "ConfigError"
    return "ok"


def _check_problems(problems: Any, catch_all: tuple[str, ...]) -> None:
    violation(isinstance(problems, list) and problems
              and all(isinstance(p, str) and p for p in problems),
              f"the error holds no problem lines: {problems!r:.200}")
    reached = [p for p in problems if any(marker in p for marker in catch_all)]
    violation(not reached, f"an unexpected exception reached the catch-all: {reached[0]:.300}"
              if reached else "")


def check_config_seeds() -> None:
    """Every seed loads as it is: mutations start from a valid file."""
    from exporter.config import load_config

    for seed, text in config_seeds().items():
        path = _config_path(seed)
        path.write_text(text)
        with _no_env_overrides():
            load_config(path)


def _maturity_check(which: str) -> Callable[[FileExample], str]:
    def check(example: FileExample) -> str:
        from exporter.config import MaturityConfig
        from exporter.maturity.load import MaturityConfigError, load_model

        root = workdir()
        path = root / f"fuzz-{which}.yaml"
        path.write_bytes(example.payload)
        # A rules file is judged alone; an assessments file against the bundled rules.
        files = {"rules": str(path) if which == "rules" else None,
                 "assessments": str(path) if which == "assessments" else None}
        config = MaturityConfig.model_validate(files)
        with time_limit(EXAMPLE_SECONDS):
            try:
                load_model(config)
            except MaturityConfigError as exc:
                _check_problems(exc.problems, ("cannot validate the rules file:",
                                               "cannot validate the assessments file:"))
                return "MaturityConfigError"
        return "ok"
    return check


def maturity_seeds(which: str) -> dict[str, str]:
    if which == "rules":
        return {"exporter/maturity/default_rules.yaml":
                (REPO / "exporter/maturity/default_rules.yaml").read_text()}
    return {"demo/assessments.yaml": (REPO / "demo/assessments.yaml").read_text()}


# The file collector on the demo data: a slice of each file (the property is about
# parsing, not volume), all four read by one collector as config.example.yaml does.
DATA_FILES = {"findings.json": RecordKind.FINDING, "repositories.yaml": RecordKind.REPOSITORY,
              "incidents.csv": RecordKind.INCIDENT, "siem_alerts.csv": RecordKind.SIEM_ALERT}


def _demo_rows(name: str) -> list[dict[str, Any]]:
    text = (REPO / "demo" / name).read_text()
    if name.endswith(".json"):
        return json.loads(text)["findings"][:30]
    if name.endswith(".yaml"):
        return yaml.safe_load(text)["repositories"][:10]
    return list(csv.DictReader(io.StringIO(text)))[:25]


def _serialize_rows(name: str, rows: list[Any]) -> str:
    if name.endswith(".json"):
        return json.dumps({"findings": rows}, indent=1)
    if name.endswith(".yaml"):
        return yaml.safe_dump({"repositories": rows}, sort_keys=False)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@dataclass
class DataWorld:
    root: Path
    rows: dict[str, list[dict[str, Any]]]
    baseline: CollectionResult


_DATA: list[DataWorld] = []


def data_world() -> DataWorld:
    if not _DATA:
        root = workdir() / "data"
        rows = {name: _demo_rows(name) for name in DATA_FILES}
        for name, items in rows.items():
            (root / name).write_text(_serialize_rows(name, items))
        outcome = _run_files(root)
        violation(isinstance(outcome, CollectionResult) and not outcome.record_errors
                  and all(outcome.records_of(k) for k in DATA_FILES.values())
                  and outcome.complete == frozenset(RecordKind),
                  f"the demo slice is not clean: {outcome!r:.300}")
        assert isinstance(outcome, CollectionResult)
        _DATA.append(DataWorld(root, rows, outcome))
    return _DATA[0]


def _run_files(root: Path, mutated: tuple[str, bytes] | None = None
               ) -> CollectionResult | CollectorError:
    from collectors.file import FileCollector, FileCollectorSettings

    for name in DATA_FILES:
        if mutated is None or name != mutated[0]:
            continue
        (root / name).write_bytes(mutated[1])
    try:
        settings = FileCollectorSettings.model_validate(
            {"files": [{"path": name} for name in DATA_FILES],
             "rebase": {"anchor": "2026-11-23T00:00:00Z"}}, context={"base_dir": root})
        return asyncio.run(FileCollector("demo", settings).collect(_context("demo")))
    except CollectorError as exc:
        return exc
    finally:
        if mutated is not None:  # the next example starts from the clean slice again
            (root / mutated[0]).write_text(_serialize_rows(mutated[0],
                                                           data_world().rows[mutated[0]]))


@st.composite
def data_mutations(draw: st.DrawFn) -> FileExample:
    world = data_world()
    name = draw(st.sampled_from(sorted(DATA_FILES)))
    rows = world.rows[name]
    text = _serialize_rows(name, rows)
    shape = draw(st.sampled_from(["value", "value", "text", "text", "whole"]))
    if shape == "value":  # one value of one row: costs at most that row
        row = draw(st.integers(0, len(rows) - 1))
        column = draw(st.sampled_from(sorted({k for r in rows for k in r})))
        if name.endswith(".csv"):
            value: Any = draw(st.one_of(st.text(max_size=20), st.sampled_from(
                [*TRICKY_STRINGS, *DATA_SNIPPETS]).filter(lambda s: "\x00" not in s)))
        else:
            value = draw(st.one_of(yaml_values, st.just(DELETE)))
            if name.endswith(".json"):
                value = draw(st.one_of(json_values, st.just(DELETE)))
        changed = [dict(r) for r in rows]
        if value is DELETE:
            changed[row].pop(column, None)
        else:
            changed[row][column] = value
        try:
            if name.endswith(".json"):
                payload = _encode(dump({"findings": changed}))
            else:
                payload = _encode(_serialize_rows(name, changed))
        except (yaml.YAMLError, ValueError, TypeError):
            payload = _encode(text)
        return FileExample(name, [f"row {row} {column} = {_short(value, 60)}"], payload,
                           (row, column, value))
    if shape == "whole":
        choice = draw(st.sampled_from(["empty", "blank", "null", "[]", "{}", "json"]))
        payload = {"empty": b"", "blank": b"  \n\n", "null": b"null", "[]": b"[]",
                   "{}": b"{}"}.get(choice) or _encode(dump(draw(json_values)))
        return FileExample(name, [f"whole file: {choice}"], payload)
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        text, op = draw(_text_op(text, DATA_SNIPPETS))
        ops.append(op)
    payload, encoding = draw(_encoding(text))
    return FileExample(name, [*ops, encoding], payload)


def check_data(example: FileExample) -> str:
    world = data_world()
    with time_limit(EXAMPLE_SECONDS):
        outcome = _run_files(world.root, (example.seed, example.payload))
    violation(isinstance(outcome, CollectionResult),
              f"one bad file failed the whole run although three are good: {outcome!r:.300}")
    assert isinstance(outcome, CollectionResult)
    check_result(outcome)
    kind = DATA_FILES[example.seed]
    base, got = records_by_key(world.baseline), records_by_key(outcome)
    for key, record in base.items():  # the other files are stored as usual
        if key[0] is not kind:
            violation(got.get(key) == record, f"a bad {example.seed} changed {key}")
    failed = outcome.record_errors.get(ErrorKind.MALFORMED_RESPONSE, 0) + \
        outcome.record_errors.get(ErrorKind.CONFIG, 0)
    at_stake = {kind} if example.seed.endswith(".csv") else set(RecordKind)
    if failed:
        violation(not at_stake & outcome.complete,
                  f"{example.seed} failed, yet {sorted(at_stake & outcome.complete)} were "
                  "marked complete (their stored records would be deleted)")
    if not outcome.records_of(kind):
        violation(kind not in outcome.complete,
                  f"{example.seed} gave no {kind.value}, yet the kind was marked complete")
    if example.structural is not None:
        _check_row_cost(world, example, kind, base, got, outcome)
    kinds = "/".join(sorted(k.value for k in outcome.record_errors))
    return f"file failed ({kinds})" if failed else "ok"


def _check_row_cost(world: DataWorld, example: FileExample, kind: RecordKind,
                    base: dict[Key, Any], got: dict[Key, Any],
                    outcome: CollectionResult) -> None:
    """One bad value of one row costs at most that row."""
    row, column, value = example.structural or (0, "", None)
    rows = world.rows[example.seed]
    mine = (kind, str(rows[row]["id"]))
    texts = [str(v) for v in leaves(value) if str(v)]
    for key, record in base.items():
        if key[0] is kind and key != mine and not any(t in key[1] for t in texts):
            violation(got.get(key) == record,
                      f"a bad {column!r} in row {row} of {example.seed} cost {key}")
    if mine not in got and not any(t in k[1] for k in got for t in texts):
        violation(outcome.record_errors.get(ErrorKind.MALFORMED_RECORD, 0) >= 1
                  or outcome.record_errors.get(ErrorKind.MALFORMED_RESPONSE, 0) >= 1,
                  f"row {row} of {example.seed} was lost without being counted")


# -- the registry: every target, for these tests and benchmarks/fuzz_bench.py -------------------

WORLD_BUILDERS: dict[str, Callable[[], World]] = {
    "github": _github_world,
    "jira-cloud": lambda: _jira_world("cloud"),
    "jira-datacenter": lambda: _jira_world("datacenter"),
    "sentinel": _sentinel_world,
    "splunk-export": lambda: _splunk_world("export"),
    "splunk-job": lambda: _splunk_world("job"),
    "elastic-elasticsearch": lambda: _elastic_world("elasticsearch"),
    "elastic-kibana": lambda: _elastic_world("kibana"),
    "pagerduty-incidents": lambda: _pagerduty_world("incidents"),
    "pagerduty-analytics": lambda: _pagerduty_world("analytics"),
}
_WORLDS: dict[str, World] = {}


def world(name: str) -> World:
    if name not in _WORLDS:
        _WORLDS[name] = prepared(WORLD_BUILDERS[name]())
    return _WORLDS[name]


@dataclass(frozen=True)
class Target:
    """One fuzzed entry point and input shape: what to draw, how to judge it."""

    name: str
    strategy: Callable[[], st.SearchStrategy[Any]]
    check: Callable[[Any], str]  # raises on a broken property; returns the outcome label
    parser: str = ""  # the collector or loader it exercises (the benchmark's unit)


MODES = ("json", "field", "truncate")
TARGETS: dict[str, Target] = {}
for _name in WORLD_BUILDERS:
    for _mode in MODES:
        TARGETS[f"{_name}/{_mode}"] = Target(
            f"{_name}/{_mode}",
            lambda n=_name, m=_mode: api_examples(world(n), m),
            lambda example, n=_name: check_api(world(n), example), _name.split("-")[0])

TARGETS["config"] = Target(
    "config", lambda: file_mutations(config_seeds(), YAML_SNIPPETS), check_config, "config")
for _which in ("rules", "assessments"):
    TARGETS[f"maturity-{_which}"] = Target(
        f"maturity-{_which}", lambda w=_which: file_mutations(maturity_seeds(w), YAML_SNIPPETS),
        _maturity_check(_which), f"maturity-{_which}")
TARGETS["file-collector"] = Target("file-collector", data_mutations, check_data,
                                   "file-collector")

# -- known defects ---------------------------------------------------------------------------
#
# Each one was found by these properties; ``example`` rebuilds its exact input. Its own
# test (test_defect) is xfail(strict=True, raises=...): fixing the defect makes that test
# pass, which fails the run until its entry is removed here. A target whose property a
# defect breaks runs the defect's input first (so its xfail is deterministic, not up to
# what the examples happen to draw) and is xfail(strict=True) naming its defects.


def pinned_field(world_name: str, slot: str, path: tuple[Any, ...], value: Any
                 ) -> Callable[[], ApiExample]:
    def build() -> ApiExample:
        source = world(world_name).slots[slot]
        return ApiExample(slot, "field", source.serialize(replaced(source.body, path, value)),
                          path, value)
    return build


def pinned_json(world_name: str, slot: str, value: Any) -> Callable[[], ApiExample]:
    def build() -> ApiExample:
        world(world_name)
        return ApiExample(slot, "json", dump(value).encode(), (), value)
    return build


@dataclass(frozen=True)
class Defect:
    target: str
    raises: type[BaseException] | tuple[type[BaseException], ...]
    reason: str
    example: Callable[[], Any]


BOMB = Raw("1" * 5000)
_ALERTS = "GET /orgs/octo-org/dependabot/alerts page 1"
_SURROGATE = Raw('"\\ud800"')
DEFECTS: dict[str, Defect] = {
    "decode-json-digit-limit": Defect(
        "sentinel/json", ValueError,
        "collectors/http.py decode_json: json.loads raises a bare ValueError (not "
        "JSONDecodeError) for an integer over Python's 4,300-digit limit; every API collector "
        "crashes instead of failing with malformed_response",
        pinned_json("sentinel", "incidents page 1", {"value": [], "total": BOMB})),
    "splunk-export-line-digit-limit": Defect(
        "splunk-export/json", ValueError,
        "collectors/splunk.py _export_line: same json.loads ValueError on a stream line",
        pinned_json("splunk-export", "export notables", {"result": {"offset": BOMB}})),
    "parse-timestamp-overflow": Defect(
        "sentinel/field", OverflowError,
        "collectors/http.py parse_timestamp: astimezone(UTC) raises OverflowError for "
        "0001-01-01T00:00:00+01:00 (and 9999-12-31T23:59:59-01:00); callers catch "
        "ValueError only (sentinel, jira, github); pagerduty's _parse_time alike",
        pinned_field("sentinel", "incidents page 1",
                     ("value", 0, "properties", "createdTimeUtc"),
                     "0001-01-01T00:00:00+01:00")),
    "pagerduty-time-overflow": Defect(
        "pagerduty-incidents/field", OverflowError,
        "collectors/pagerduty.py _parse_time: OverflowError for an out-of-range offset time",
        pinned_field("pagerduty-incidents", "GET /incidents offset 0",
                     ("incidents", 0, "created_at"), "0001-01-01T00:00:00+01:00")),
    "sentinel-unhashable-status": Defect(
        "sentinel/field", TypeError,
        "collectors/sentinel.py _convert: a list/dict status, classification or severity "
        "reaches `in STATUSES` / dict.get outside the try: TypeError crashes the run",
        pinned_field("sentinel", "incidents page 1", ("value", 0, "properties", "status"),
                     ["Closed"])),
    "sentinel-la-row-shape": Defect(
        "sentinel/field", KeyError,
        "collectors/sentinel.py _fetch_close_info: a Log Analytics row that is an object "
        "raises KeyError, which the per-row guard (ValueError, IndexError, TypeError) misses",
        pinned_field("sentinel", "log analytics query", ("tables", 0, "rows", 0), {"a": 1})),
    "sentinel-rule-kind-unhashable": Defect(
        "sentinel/field", TypeError,
        "collectors/sentinel.py map_alert_rule: a rule kind that is an object reaches "
        "`kind not in RULE_KINDS`: TypeError",
        pinned_field("sentinel", "alert rules", ("value", 1, "kind"), {"a": 1})),
    "jira-resolution-shape": Defect(
        "jira-cloud/field", ValueError,
        "collectors/jira.py Mapper.resolution: _scalar_name's ValueError (a resolution whose "
        "name is not a string) is not turned into SkipTicket: the run crashes",
        pinned_field("jira-cloud", "search vulnerabilities token None",
                     ("issues", 1, "fields", "resolution", "name"), True)),
    "jira-asset-type": Defect(
        "jira-cloud/field", PropertyViolation,
        "collectors/jira.py map_finding: a non-string project.key becomes Finding.asset "
        "(a list or dict), which the store cannot write",
        pinned_field("jira-cloud", "search vulnerabilities token None",
                     ("issues", 0, "fields", "project", "key"), ["x"])),
    "jira-dc-total-memory": Defect(
        "jira-datacenter/field", MemoryError,
        "collectors/jira.py _search_dc: list(range(step, total, step)) is built before the "
        "MAX_PAGES check; a total of 10**12 allocates without bound",
        pinned_field("jira-datacenter", "search vulnerabilities startAt 0", ("total",),
                     10**12)),
    "splunk-epoch-overflow": Defect(
        "splunk-export/field", OverflowError,
        "collectors/splunk.py splunk_time: datetime.fromtimestamp raises OverflowError for "
        "an epoch of 1e20 (OSError for -7e16); _add_review and _convert catch ValueError only",
        pinned_field("splunk-export", "export reviews", (0, "result", "last_review"), "1e20")),
    "splunk-annotations-digit-limit": Defect(
        "splunk-export/field", ValueError,
        "collectors/splunk.py map_correlation_search: json.loads of the annotations catches "
        "JSONDecodeError only; a 5,000-digit number crashes the run",
        pinned_field("splunk-export", "saved searches offset 0",
                     ("entry", 0, "content", "action.correlationsearch.annotations"),
                     "1" * 5000)),
    "splunk-job-row-uncounted": Defect(
        "splunk-job/field", PropertyViolation,
        "collectors/splunk.py _job: a results row that is not an object is dropped without "
        "being counted in record_errors",
        pinned_field("splunk-job", "notable results offset 0", ("results", 1), None)),
    "echoed-id-surrogate": Defect(
        "splunk-job/field", UnicodeEncodeError,
        "a server-given id echoed into the next request (Splunk sid, Elasticsearch PIT id) "
        "with a lone surrogate (JSON \\ud800) crashes httpx with UnicodeEncodeError",
        pinned_field("splunk-job", "create notable job", ("sid",), _SURROGATE)),
    "elastic-unhashable-status": Defect(
        "elastic-elasticsearch/field", TypeError,
        "collectors/elastic.py AlertMapper.map: an object or multi-value workflow_status or "
        "workflow_reason reaches a dict lookup: TypeError crashes the run",
        pinned_field("elastic-elasticsearch", "search after None",
                     ("hits", "hits", 1, "_source", "kibana.alert.workflow_status"), {"a": 1})),
    "elastic-short-page": Defect(
        "elastic-elasticsearch/field", PropertyViolation,
        "collectors/elastic.py _es_hits: hits that are not objects are filtered before the "
        "page-full test, so a full page looks like the last one; the later pages' alerts are "
        "missing from a result marked complete (deleted from the store)",
        pinned_field("elastic-elasticsearch", "search after None", ("hits", "hits", 0), None)),
    "elastic-rule-technique-shape": Defect(
        "elastic-kibana/field", TypeError,
        "collectors/elastic.py map_rule: a technique list that is a number is iterated",
        pinned_field("elastic-kibana", "rules page 1", ("data", 0, "threat", 0, "technique"),
                     5)),
    "pagerduty-unhashable-status": Defect(
        "pagerduty-analytics/field", TypeError,
        "collectors/pagerduty.py IncidentMapper: a list status (build: `in _STATUSES`) or an "
        "object priority name (severity: `in priority_map`) raises TypeError",
        pinned_field("pagerduty-analytics", "analytics after None", ("data", 0, "status"),
                     ["resolved"])),
    "github-repo-name-type": Defect(
        "github/field", AttributeError,
        "collectors/github.py _included/_match_any: a repository whose name or full_name is "
        "not a string crashes the run (compact_repository does not check types)",
        pinned_field("github", "GET /orgs/octo-org/repos page 1", (3, "full_name"), None)),
    "github-repo-id-type": Defect(
        "github/field", TypeError,
        "collectors/github.py _collect_org: an unhashable repository id (a list) crashes "
        "`repo['id'] not in seen_ids`",
        pinned_field("github", "GET /orgs/octo-org/repos page 1", (0, "id"), [1])),
    "github-alert-repository": Defect(
        "github/field", KeyError,
        "collectors/github.py _dependabot/_code_scanning/_secret_scanning: "
        "item['repository']['full_name'] is read outside the per-alert guard: an alert "
        "whose repository lacks full_name (KeyError) or has a list or object there "
        "(TypeError in a set) crashes the run",
        pinned_field("github", _ALERTS, (0, "repository", "full_name"), DELETE)),
    "github-configuration-value": Defect(
        "github/field", TypeError,
        "collectors/github.py _configurations.state: a setting value that is an object is "
        "looked up in a dict: TypeError",
        pinned_field("github", "GET /orgs/octo-org/code-security/configurations page 1",
                     (0, "secret_scanning"), {})),
    "github-gate-rules-shape": Defect(
        "github/field", AttributeError,
        "collectors/github.py gate_facts_from_graphql: a rules block that is a list, rule "
        "nodes that are a number, or a review count that is a list or object (int()) crash "
        "the run",
        pinned_field("github", "POST /graphql page 1",
                     ("data", "nodes", 0, "defaultBranchRef", "rules"), [{"x": 1}])),
    "github-analysis-time": Defect(
        "github/field", ValueError,
        "collectors/github.py _sast.latest_analysis: an analysis whose created_at is not a "
        "string (parse_timestamp's ValueError) or whose tool is not an object "
        "(AttributeError) crashes the run",
        pinned_field("github", "GET /repos/octo-org/web/code-scanning/analyses page 1",
                     (0, "created_at"), {})),
}


def digit_bomb(world_name: str) -> Callable[[], ApiExample]:
    """The digit-limit input for one world: a 5,000-digit integer in its first JSON body."""
    def build() -> ApiExample:
        built = world(world_name)
        slot = next(k for k, v in sorted(built.slots.items())
                    if 200 <= v.status < 300 and not v.lines)
        return pinned_json(world_name, slot, {"value": BOMB})()
    return build


# Per target: the defects that break its property, each with the input to run first.
DEFECTS_OF: dict[str, list[tuple[str, Callable[[], Any]]]] = defaultdict(list)
for _name in WORLD_BUILDERS:
    for _mode in ("json", "field"):
        DEFECTS_OF[f"{_name}/{_mode}"].append(("decode-json-digit-limit", digit_bomb(_name)))
for _defect, _entry in DEFECTS.items():
    if _defect != "decode-json-digit-limit":
        DEFECTS_OF[_entry.target].append((_defect, _entry.example))


def run_target(name: str, example: Any) -> None:
    label = TARGETS[name].check(example)
    TALLY[name][label] += 1


def _raised(kinds: Any) -> tuple[type[BaseException], ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _param(name: str) -> Any:
    defects = DEFECTS_OF.get(name)
    if not defects:
        return pytest.param(name, id=name)
    raises = tuple({kind for defect, _ in defects for kind in _raised(DEFECTS[defect].raises)})
    reason = "known defects: " + ", ".join(defect for defect, _ in defects)
    return pytest.param(name, id=name, marks=pytest.mark.xfail(strict=True, raises=raises,
                                                               reason=reason))


def fuzz(target: str) -> Callable[[], None]:
    """The property of ``target`` as a hypothesis test with the selected profile."""
    @PROFILE
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        run_target(target, data.draw(TARGETS[target].strategy(), label="example"))
    return run


@pytest.mark.parametrize("target", [_param(n) for n in TARGETS if n not in DEFECTS_OF])
def test_fuzz(target: str) -> None:
    fuzz(target)()


@pytest.mark.parametrize("target", [_param(n) for n in TARGETS if n in DEFECTS_OF])
def test_fuzz_with_known_defects(target: str) -> None:
    for _defect, example in DEFECTS_OF[target]:  # deterministic: the known inputs first
        run_target(target, example())
    fuzz(target)()  # reached once they are fixed: then the drawn examples decide


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, raises=d.raises, reason=d.reason),
                 id=n) for n, d in DEFECTS.items()])
def test_defect(name: str) -> None:
    defect = DEFECTS[name]
    run_target(defect.target, defect.example())


@pytest.mark.xfail(strict=True, raises=UnicodeEncodeError, reason=(
    "a record with a lone surrogate (JSON \\ud800 in a rule name, title or id) passes its "
    "validation, but exporter/store.py cannot encode it: the whole run fails (internal) "
    "instead of that record being skipped; the file collector checks this, API collectors "
    "do not"))
def test_defect_unstorable_text_fails_the_whole_run() -> None:
    from exporter.store import Store

    example = pinned_field("sentinel", "incidents page 1", ("value", 0, "properties", "title"),
                           _SURROGATE)()
    outcome = run_world(world("sentinel"), (example.slot, example.payload))
    assert isinstance(outcome, CollectionResult)
    check_result(outcome)  # passes: the dataclasses do not check the encoding
    assert unstorable(outcome)
    Store(":memory:").apply("sentinel-prod", outcome, NOW)


# -- the fakes and seeds themselves --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WORLD_BUILDERS))
def test_world_baseline_is_clean_and_every_record_has_its_item(name: str) -> None:
    """The fakes answer a clean run with records and no skips, and the per-item record
    ids the cost property relies on cover every record of the kinds they name."""
    built = world(name)
    assert built.baseline is not None and records_by_key(built.baseline)
    covered: set[Key] = set()
    kinds: set[RecordKind] = set()
    for slot in built.slots.values():
        for item in slot.items:
            covered |= item.keys
            if item.keys:
                kinds |= item.kinds
    expected = {k for k in records_by_key(built.baseline) if k[0] in kinds}
    assert covered == expected, sorted(expected ^ covered)[:5]


def test_loader_seeds_are_valid() -> None:
    """Mutations start from files that load: the three configs and the demo slice."""
    check_config_seeds()
    assert data_world().baseline is not None


def test_bundled_rules_and_demo_assessments_are_valid() -> None:
    """The maturity seeds load as shipped (rules alone; demo assessments against them)."""
    for which in ("rules", "assessments"):
        ((seed, text),) = maturity_seeds(which).items()
        assert _maturity_check(which)(FileExample(seed, [], _encode(text))) == "ok", which
