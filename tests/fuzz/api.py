"""API collectors under a fake: worlds, slots, one run per example, and the properties
of an API answer (cut bodies, undecodable numbers, one bad value's cost)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import respx
from hypothesis import strategies as st

from collectors.base import CollectContext, CollectionResult, Collector, CollectorError, ErrorKind
from collectors.records import RecordKind
from exporter.quarters import history_start
from tests.fuzz.core import (
    DELETE,
    DIGIT_BOMBS,
    EXAMPLE_SECONDS,
    LOG,
    NOW,
    Key,
    Raw,
    _short,
    check_result,
    dump,
    json_values,
    leaves,
    outcome_label,
    paths,
    records_by_key,
    replaced,
    time_limit,
    violation,
)

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
    return outcome_label(judge_api(world, example))


def judge_api(world: World, example: ApiExample) -> CollectionResult | CollectorError:
    """:func:`check_api`'s work: run one example, check every property, return the outcome."""
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
    if example.mode != "truncate" and 200 <= slot.status < 300 and _undecodable(example):
        violation(isinstance(outcome, CollectorError)
                  and outcome.kind is ErrorKind.MALFORMED_RESPONSE,
                  f"a body with an integer over the digit limit gave {outcome_label(outcome)}, "
                  "not malformed_response")
    if example.mode == "field" and _record_level(world, slot, example):
        item = _item_of(slot, example.path)
        if item is not None:
            _check_item_cost(world, example, item, outcome)
    return outcome


def _undecodable(example: ApiExample) -> bool:
    """Whether the body holds an integer over Python's 4,300-digit limit anywhere.

    json.loads refuses the whole document then, so no collector can read the rest of
    the page: the body is a malformed response (collectors/http.py decode_json), even
    when the number sits inside one record.
    """
    return any(isinstance(leaf, Raw) and leaf in DIGIT_BOMBS for leaf in leaves(example.value))


def _record_level(world: World, slot: Slot, example: ApiExample) -> bool:
    """Whether the mutation is a bad value inside one record, the page shape intact.

    Not so: a list item deleted (a page one item short), a single-object body's object
    replaced as a whole, a number the JSON decoder refuses (:func:`_undecodable`), and
    what the world calls page shape (cursors, stream lines).
    """
    path = example.path
    if example.value is DELETE and isinstance(path[-1], int):
        return False
    if _undecodable(example):  # the whole page is unreadable, by design
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

    def inferred(key: Key) -> bool:
        """A snapshot reconstructed from the source's history (github SAST at the previous
        quarter's end) is an inference from many values: a bad one may leave it unknown
        (no row), which loses no observation. If it is there, it must still be right."""
        record = base.get(key, got.get(key))
        return bool(getattr(record, "reconstructed", False))

    if not item.keys:  # the item is no record: every record is still there
        lost = {key for key in set(base) - set(got) if not inferred(key)}
        violation(not lost, f"a bad value at {example.path} (no record of its own) lost "
                  f"{sorted(lost)[:3]}")
        return
    for key in set(base) - item.keys:
        if collides(key) or (inferred(key) and key not in got):
            continue
        violation(key in got, f"a bad value at {example.path} lost another record {key}")
        violation(got[key] == base[key],
                  f"a bad value at {example.path} changed another record {key}")
    required = {key for key in item.keys if not inferred(key)}
    produced = len(set(got) - (set(base) - item.keys))
    observed = len({key for key in set(got) - (set(base) - item.keys) if not inferred(key)})
    violation(produced <= len(item.keys) or any(collides(k) for k in got)
              or world.exempt(example.path),
              f"one item yielded {produced} records, was {len(item.keys)}")
    if observed < len(required) and not world.exempt(example.path):
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


