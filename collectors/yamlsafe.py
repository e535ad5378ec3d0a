"""A strict YAML loader for the files people write: the config, rules and assessments.

``yaml.safe_load`` is safe against code execution, not against files that are merely
wrong or hostile. This loader turns every way a file can be bad into one
:class:`YamlError` that names the file, the line where known, and why, so a caller
reports it as a validation error (exit 2, reload keeps the old config) instead of a
traceback. The rules, and why each one:

- **UTF-8 only**, with or without a byte order mark. A UTF-16 or UTF-32 file, a file with
  NUL bytes or any byte sequence that is not UTF-8 is refused with a hint to re-save it.
- **At most** ``max_bytes`` (10 MiB by default), read with a cap, so ``/dev/zero`` or a
  runaway export cannot exhaust memory.
- **Nesting at most** ``MAX_DEPTH`` (64) levels: deeper documents only serve to exhaust
  the recursion of every consumer downstream.
- **At most** ``MAX_NODES`` (1,000,000) values: 10 MiB of ``0,`` is five million of them,
  which took two minutes and 1.8 GB; a config of 20,000 collectors has about 250,000.
- **Aliases are allowed but bounded**: all the alias uses (``*name`` and ``<<: *name``)
  of a document together may stand for at most ``MAX_ALIAS_NODES`` (10,000) nodes, and an
  alias inside the node it names (a recursive structure) is refused. An 800-byte
  "billion laughs" file would otherwise take minutes and gigabytes to validate.
- **Duplicate keys are errors**: YAML would silently keep the last one, so a second
  ``collectors: []`` at the bottom of a file would replace every collector.
- **Keys that YAML 1.1 reads as booleans or null are errors** (``yes:``, ``on:``,
  ``~:``): no file read here has such keys, and "Keys should be strings" from the
  validator would not say that ``yes`` was turned into ``True``.
- **A value the YAML constructor cannot build** (``2026-02-30``, a 5,000-digit
  integer) is an error at its line, not a ``ValueError`` traceback.

Line numbers for later validation errors come from the same composed node graph
(:meth:`YamlDocument.line_of`), walked once per node without expanding aliases.
The libyaml parser is used when PyYAML has it (about five times faster), with the
checks above done in Python on its events.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
MAX_NODES = 1_000_000

_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # libyaml's parser when PyYAML was built with it
    from yaml._yaml import CParser as _Parser  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)


class YamlError(yaml.YAMLError):
    """A file that is not acceptable YAML; ``str()`` is ``file[:line]: problem``.

    It subclasses ``yaml.YAMLError`` so code that already catches PyYAML's errors
    catches it too.
    """

    def __init__(self, file: str, problem: str, line: int | None = None) -> None:
        self.file = file
        self.problem = problem
        self.line = line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {problem}")


class _Limit(Exception):
    """Raised inside the loader; turned into a YamlError with the file name."""

    def __init__(self, problem: str, line: int | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


def _line(node_or_mark: Any) -> int:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1


class _StrictComposer(Composer):
    """Composer with depth and alias-expansion limits and a key check."""

    def __init__(self, max_depth: int, max_alias_nodes: int, max_nodes: int) -> None:
        super().__init__()
        self._max_depth = max_depth
        self._max_alias_nodes = max_alias_nodes
        self._max_nodes = max_nodes
        self._nodes = 0
        self._depth = 0
        self._alias_nodes = 0
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded
        self._heights: dict[int, int] = {}  # id(node) -> collection levels, aliases expanded
        # (id(sequence), index) -> line of an alias item: the node it names has its anchor's
        self.alias_lines: dict[tuple[int, int], int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self._open:
                raise _Limit(f"recursive alias *{event.anchor}: an alias inside the node it "
                             "names would make an endless structure", _line(event))
            node = self.anchors.get(event.anchor)
            if node is not None:
                self._alias_nodes += self._sizes.get(id(node), 1)
                if self._alias_nodes > self._max_alias_nodes:
                    raise _Limit(f"aliases stand for more than {self._max_alias_nodes} nodes "
                                 "in all (a YAML bomb?); write the values out or use fewer "
                                 "aliases", _line(event))
                if self._depth + self._heights.get(id(node), 0) > self._max_depth:
                    raise _Limit(f"nested deeper than {self._max_depth} levels once alias "
                                 f"*{event.anchor} is expanded", _line(event))
                if parent is not None and isinstance(index, int):
                    self.alias_lines[(id(parent), index)] = _line(event)
            return super().compose_node(parent, index)  # an undefined alias errors there
        event = self.peek_event()
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise _Limit(f"more than {self._max_nodes:,} values in the document", _line(event))
        anchor = getattr(event, "anchor", None)
        collection = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if collection:
            self._depth += 1
            if self._depth > self._max_depth:
                raise _Limit(f"nested deeper than {self._max_depth} levels", _line(event))
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            if anchor is not None:
                self._open.discard(anchor)
            if collection:
                self._depth -= 1
        self._measure(node)
        return node

    def _measure(self, node: Node) -> None:
        """Record how many nodes and levels ``node`` stands for, its aliases expanded."""
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            return  # a scalar: one node, no level; the defaults below
        sizes, heights = self._sizes, self._heights
        self._sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
        self._heights[id(node)] = 1 + max((heights.get(id(child), 0) for child in children),
                                          default=0)

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag in (_BOOL_TAG, _NULL_TAG):
                word = key_node.value or "(empty)"
                kind = "a boolean" if key_node.tag == _BOOL_TAG else "null"
                raise _Limit(f"key {word} was read as {kind}: YAML 1.1 reads unquoted yes, no, "
                             f"on, off, true, false, null and ~ that way; quote the key "
                             f"('{key_node.value}') if it is a name", _line(key_node))
        return node


class _StrictConstructor(SafeConstructor):
    """SafeConstructor that refuses duplicate keys and reports bad scalars at their line."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, _Limit):
            raise
        except Exception as exc:  # ValueError, OverflowError; AttributeError for "!!timestamp x"
            kind = node.tag.rsplit(":", 1)[-1]
            value = node.value if isinstance(node, ScalarNode) else "this value"
            shown = value if len(value) <= 40 else value[:37] + "..."
            reason = str(exc).split("; use sys.", 1)[0]  # Python's advice is not the user's
            raise _Limit(f"cannot read {shown!r} as {kind}: {reason}", _line(node)) from None

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # keys from a merge may be overridden; that is what merges do
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.get(key)
                except TypeError:
                    continue  # an unhashable key; the base class reports it
                if seen is not None:
                    raise _Limit(f"duplicate key {key_node.value!r} (first at line {seen}); "
                                 "YAML would silently keep only the last one", _line(key_node))
                first[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


class _Loader(_StrictComposer, _Parser, _StrictConstructor, Resolver):
    def __init__(self, text: str, max_depth: int, max_alias_nodes: int,
                 max_nodes: int) -> None:
        _Parser.__init__(self, text)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)
        _StrictComposer.__init__(self, max_depth, max_alias_nodes, max_nodes)


class YamlDocument:
    """The data of one YAML document, and where each key path is in the file."""

    def __init__(self, file: str, data: Any, root: Node | None,
                 alias_lines: dict[tuple[int, int], int] | None = None) -> None:
        self.file = file
        self.data = data
        self._root = root
        self._alias_lines = alias_lines or {}
        self._lines: dict[tuple[str, ...], int] | None = None

    @property
    def lines(self) -> dict[tuple[str, ...], int]:
        """Key paths (every part as a string, list indexes too) to 1-based lines."""
        if self._lines is None:
            self._lines = {} if self._root is None else \
                _first_lines(_walk(self._root, self._alias_lines))
        return self._lines

    def line_of(self, loc: Sequence[Any]) -> int | None:
        """The line of ``loc`` or of its longest prefix found in the document."""
        parts = tuple(str(p) for p in loc)
        lines = self.lines
        for end in range(len(parts), -1, -1):
            line = lines.get(parts[:end])
            if line is not None:
                return line
        return None


def _walk(root: Node, alias_lines: dict[tuple[int, int], int],
          ) -> Iterator[tuple[tuple[str, ...], int]]:
    """Each node's path and line, iteratively and visiting a shared (aliased) node once.

    The first line given for a path is the one to keep: a key's line before its value's.
    """
    seen: set[int] = set()
    stack: list[tuple[Node, tuple[str, ...], int]] = [(root, (), _line(root))]
    while stack:
        node, path, line = stack.pop()
        yield path, line
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key_node, value_node in reversed(node.value):
                child = (*path, str(key_node.value))
                stack.append((value_node, child, _line(value_node)))
                stack.append((key_node, child, _line(key_node)))  # popped first: it wins
        elif isinstance(node, SequenceNode):
            for index in range(len(node.value) - 1, -1, -1):
                item = node.value[index]
                line = alias_lines.get((id(node), index)) or _line(item)
                stack.append((item, (*path, str(index)), line))


def _first_lines(pairs: Iterator[tuple[tuple[str, ...], int]]) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for path, line in pairs:
        out.setdefault(path, line)
    return out


def decode(data: bytes, file: str, what: str = "the file") -> str:
    """UTF-8 text of ``data`` without a byte order mark; YamlError for anything else.

    ``what`` names the file in the message ("the rules file").
    """
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise YamlError(file, f"{what} is {name} encoded; save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise YamlError(file, f"{what} contains NUL bytes (is it UTF-16 or binary?); save it "
                        "as UTF-8 text", line)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise YamlError(file, f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                        "save it as UTF-8", line) from None


def read_bytes(path: Path | str, file: str | None = None, *, what: str = "the file",
               max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes, at most ``max_bytes``; YamlError if unreadable or larger.

    Reading stops at ``max_bytes + 1``, so a FIFO or ``/dev/zero`` cannot exhaust memory.
    """
    name = file or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise YamlError(name, f"cannot read {what}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. an embedded NUL in the path
        raise YamlError(name, f"cannot read {what}: {exc}") from None
    if len(data) > max_bytes:
        raise YamlError(name, _too_large(what, max_bytes))
    return data


def _too_large(what: str, max_bytes: int) -> str:
    return f"{what} is larger than {_size(max_bytes)}, the limit for it"


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    return f"{count} bytes"


def parse_yaml(source: str | bytes, file: str, *, what: str = "the file",
               max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
               max_alias_nodes: int = MAX_ALIAS_NODES,
               max_nodes: int = MAX_NODES) -> YamlDocument:
    """Parse one YAML document under the rules in this module's docstring.

    ``file`` names the source in errors, ``what`` in sentences ("the rules file"). An
    empty document (or only comments) gives ``data`` None.
    """
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise YamlError(file, _too_large(what, max_bytes))
        text = decode(source, file, what)
    else:
        text = source.removeprefix("\ufeff")
        if len(text) > max_bytes:
            raise YamlError(file, _too_large(what, max_bytes))
    loader = None
    try:
        loader = _Loader(text, max_depth, max_alias_nodes, max_nodes)  # libyaml encodes here
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _Limit as exc:
        raise YamlError(file, exc.problem, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        if exc.context and problem.startswith("but "):  # "... a single document but found"
            problem = f"{exc.context} {problem}"
        raise YamlError(file, f"malformed YAML: {problem}",
                        mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line = _reader_line(text, exc.position)
        char = exc.character
        shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
        raise YamlError(file, f"malformed YAML: character {shown} is not allowed in YAML "
                        "text", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(file, f"malformed YAML: {exc}") from None
    except UnicodeError as exc:  # a str with lone surrogates, which no file decodes to
        raise YamlError(file, f"the text is not valid Unicode: {exc.reason}") from None
    except (ValueError, OverflowError, TypeError, ArithmeticError) as exc:
        raise YamlError(file, f"cannot read the YAML: {exc}") from None
    except RecursionError:  # cannot happen under max_depth; kept as a last guard
        raise YamlError(file, "the document is nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(file, data, root, loader.alias_lines)


def _reader_line(text: str, position: Any) -> int | None:
    """The line of a reader error's position: bytes of UTF-8 for libyaml, else characters."""
    if not isinstance(position, int):
        return None
    if _Parser.__module__ == "yaml._yaml":
        return text.encode("utf-8", "replace")[:position].count(b"\n") + 1
    return text[:position].count("\n") + 1


def read_yaml(path: Path | str, file: str | None = None, *, what: str = "the file",
              max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
              max_alias_nodes: int = MAX_ALIAS_NODES,
              max_nodes: int = MAX_NODES) -> YamlDocument:
    """Read and parse the YAML file at ``path`` (``file`` names it in errors)."""
    name = file or str(path)
    data = read_bytes(path, name, what=what, max_bytes=max_bytes)
    return parse_yaml(data, name, what=what, max_bytes=max_bytes, max_depth=max_depth,
                      max_alias_nodes=max_alias_nodes, max_nodes=max_nodes)


def load_yaml_file(path: Path | str, *, what: str = "the file", max_bytes: int = MAX_BYTES,
                   max_alias_nodes: int = MAX_ALIAS_NODES, max_nodes: int = MAX_NODES) -> Any:
    """Just the data of a YAML file, for readers that need no line numbers (data files).

    Raises :class:`YamlError` (a ``yaml.YAMLError``) with the file, line and reason.
    """
    return read_yaml(path, what=what, max_bytes=max_bytes, max_alias_nodes=max_alias_nodes,
                     max_nodes=max_nodes).data


__all__ = [
    "MAX_ALIAS_NODES", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "YamlDocument", "YamlError", "decode",
    "load_yaml_file", "parse_yaml", "read_bytes", "read_yaml",
]
