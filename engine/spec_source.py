"""Reading an exercise's YAML text, and locating its problems: the size limit, the
strict YAML loaders (no duplicate keys, no anchors or aliases), the locator that turns
a path in the document into a line, and pydantic's errors said in the spec's words.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from engine.errors import ExerciseError, Problem, Text, mark
from engine.ops import OPS
from engine.quoting import quoted, shortened

_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecValueError(ValueError):
    """A value a validator refuses, with its message as a template and parameters."""

    def __init__(self, message: Text) -> None:
        super().__init__(message.render())
        self.text = message

INPUT_KINDS = Text.of(mark("an input is a number, or {{uniform: [lo, hi]}}, {{randint: [lo, hi]}} "
                        "or {{choice: [...]}}"))
NODE_KINDS = Text.of(mark("a node needs `op` (one of: {ops}) or `expr`"), ops=", ".join(OPS))


def shown_value(value: Any) -> str:
    """A value a spec gave, for a message: strings through `quoted`, others by repr, cut."""
    return quoted(value) if isinstance(value, str) else shortened(repr(value))


# ---------------------------------------------------------------- loading


class _LocatedYAMLError(Exception):
    def __init__(self, message: Text, line: int, node: str | None = None) -> None:
        self.message = message
        self.line = line
        self.node = node


class _NoDuplicateKeys:
    """Refuses a key written twice in one mapping (PyYAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # A mixin: the loader it is mixed into provides construct_mapping.
        mapping: dict[Any, Any] = super().construct_mapping(  # type: ignore[misc]  # mixin
            node, deep)
        if len(mapping) != len(node.value):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.value in seen:
                    raise _LocatedYAMLError(
                        Text.of(mark("{key} is written twice in the same mapping"),
                             key=shown_value(key_node.value)),
                        key_node.start_mark.line + 1, shortened(str(key_node.value)))
                seen.add(key_node.value)
        return mapping


# _SafeLoader is PyYAML's C loader or its Python one, picked at import (a plain `type`).
class _FastLoader(_NoDuplicateKeys, _SafeLoader):  # type: ignore[misc]  # base picked at import
    """For text without `&` or `*`, where no anchor or alias can be."""


class _StrictLoader(_NoDuplicateKeys, _SafeLoader):  # type: ignore[misc]  # base picked at import
    """Refuses anchors/aliases (a node constructed twice) and locates the errors of
    PyYAML's own constructors. It costs a Python call per node, so it runs only
    where the fast loader cannot be used or has failed."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        line = node.start_mark.line + 1
        if node in self.constructed_objects:
            raise _LocatedYAMLError(Text.of(
                mark("YAML anchors and aliases are not allowed (write the value out)")), line)
        try:
            return super().construct_object(node, deep)
        except (_LocatedYAMLError, yaml.YAMLError):
            raise
        except Exception as exc:
            raise _LocatedYAMLError(
                Text.of(mark("invalid YAML value: {reason}"), reason=str(exc)), line) from None



def read_source(source: str | os.PathLike[str], max_bytes: int | None) -> tuple[str, str]:
    is_path = isinstance(source, os.PathLike) or (
        "\n" not in source and len(source) < 4096 and os.path.isfile(source)
    )
    if not is_path:
        text = str(source)
        check_size(text, "<text>", max_bytes)
        return text, "<text>"
    path = Path(source)
    file = str(source)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ExerciseError([_too_big(size, max_bytes, file)])
        return path.read_text(encoding="utf-8"), file
    except (OSError, UnicodeDecodeError) as exc:
        raise ExerciseError([Problem.of(
            Text.of(mark("cannot read the file: {reason}"), reason=str(exc)), file)]) from None


def check_size(text: str, file: str, max_bytes: int | None) -> None:
    try:
        size = len(text.encode())
    except UnicodeError:
        raise ExerciseError([Problem.of(Text.of(mark("the text is not valid Unicode")), file)]
                            ) from None
    if max_bytes is not None and size > max_bytes:
        raise ExerciseError([_too_big(size, max_bytes, file)])


def _too_big(size: int, max_bytes: int, file: str) -> Problem:
    return Problem.of(Text.of(mark("the document is {size} bytes, over the limit of {limit}"),
                           size=str(size), limit=str(max_bytes)), file)


def parse_yaml(text: str, file: str) -> Any:
    if "&" not in text and "*" not in text:
        fast = _FastLoader(text)
        try:
            return fast.get_single_data()
        except Exception:
            pass
        finally:
            fast.dispose()
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except _LocatedYAMLError as exc:
        raise ExerciseError([Problem.of(exc.message, file, exc.line, exc.node)]) from None
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        line = where.line + 1 if where is not None else None
        reason = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise ExerciseError([_invalid_yaml(reason, file, line)]) from None
    except yaml.reader.ReaderError as exc:
        # Raised before any token has a mark: the line is counted from the position.
        line = text.count("\n", 0, exc.position) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ExerciseError([Problem.of(Text.of(
            mark("invalid YAML: the character {character} is not allowed (YAML text has no "
                 "control characters)"), character=repr(character)), file, line,
        )]) from None
    except yaml.YAMLError as exc:
        raise ExerciseError([_invalid_yaml(str(exc), file)]) from None
    except Exception as exc:
        raise ExerciseError([_invalid_yaml(str(exc), file, 1)]) from None
    finally:
        loader.dispose()


def _invalid_yaml(reason: str, file: str, line: int | None = None) -> Problem:
    # The parser's own words for what is wrong, as PyYAML writes them.
    return Problem.of(Text.of(mark("invalid YAML: {reason}"), reason=reason), file, line)


class Locator:
    """Maps a path in the document (("nodes", 3, "in")) to a line and a node id."""

    def __init__(self, text: str, file: str, data: dict[str, Any]) -> None:
        self.text = text
        self.file = file
        self.data = data
        self._root: yaml.Node | None = None

    @property
    def root(self) -> yaml.Node | None:
        if self._root is None:
            try:
                self._root = yaml.compose(self.text, Loader=_SafeLoader)
            except yaml.YAMLError:
                return None
        return self._root

    def line(self, path: Sequence[str | int]) -> int | None:
        node = self.root
        if node is None:
            return None
        for key in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                        # a mapping key names the line of the field itself
                        child = v if isinstance(v, yaml.CollectionNode) else k
                        break
            elif (isinstance(node, yaml.SequenceNode) and isinstance(key, int)
                  and 0 <= key < len(node.value)):
                child = node.value[key]
            if child is None:
                continue  # a tag or a key that is not in the text: stay on the parent
            node = child
        return node.start_mark.line + 1

    def node_id(self, path: Sequence[str | int]) -> str | None:
        if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
            nodes = self.data.get("nodes")
            if isinstance(nodes, list) and 0 <= path[1] < len(nodes):
                item = nodes[path[1]]
                node_id = item.get("id") if isinstance(item, dict) else None
                return shortened(node_id) if isinstance(node_id, str) else f"nodes[{path[1]}]"
        if len(path) >= 2 and path[0] == "inputs" and isinstance(path[1], str):
            return shortened(path[1])
        return None

    def problem(self, path: Sequence[str | int], message: Text,
                field: str | None = None) -> Problem:
        if field is None:
            field = _field_name(path)
        return Problem.of(message, self.file, self.line(path), self.node_id(path), field)

    def pydantic_problems(self, exc: ValidationError) -> list[Problem]:
        problems = []
        for err in exc.errors(include_url=False):
            loc = _without_tag(err["loc"])
            if err["type"] == "node_kind" and isinstance(err.get("input"), dict):
                loc.append("op" if "op" in err["input"] else "expr")
            message = _pydantic_message(err)
            problems.append(self.problem(loc, message))
        return problems


def spec_nodes(locate: Locator) -> list[str | None]:
    """The ids of the `nodes:` entries, in written order, read from the YAML tree."""
    root = locate.root
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "nodes" and isinstance(value, yaml.SequenceNode):
            ids: list[str | None] = []
            for item in value.value:
                found = None
                if isinstance(item, yaml.MappingNode):
                    found = next((v.value for k, v in item.value if k.value == "id"), None)
                ids.append(found)
            return ids
    return []


def _without_tag(loc: Sequence[str | int]) -> list[str | int]:
    """pydantic puts the union tag after a node's or input's key: drop it."""
    loc = list(loc)
    if len(loc) >= 3 and loc[0] in ("nodes", "inputs"):
        del loc[2]
    return loc


def _field_name(path: Sequence[str | int]) -> str | None:
    if not path:
        return None
    if path[0] in ("nodes", "inputs") and len(path) >= 2:
        rest = [shortened(str(p)) for p in path[2:]]
        return ".".join(rest) if rest else None
    return ".".join(shortened(str(p)) for p in path)


def _pydantic_message(err: Any) -> Text:
    """A validation error of the spec in the words of the spec (and as a template)."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "node_kind" and isinstance(err.get("input"), dict):
        op = err["input"].get("op")
        if op is not None:
            return Text.of(mark("unknown op {op}; valid ops: {ops}"), op=shown_value(op),
                           ops=", ".join(OPS))
    if kind == "node_kind":
        return NODE_KINDS
    if kind == "input_kind":
        return INPUT_KINDS
    if kind == "value_error" and isinstance(ctx.get("error"), SpecValueError):
        refused: SpecValueError = ctx["error"]
        return refused.text
    if kind in _PYDANTIC_MESSAGES:
        params = {name: _context_value(value) for name, value in ctx.items()
                  if name != "error"}
        if kind == "literal_error":  # pydantic lists them as "'a', 'b' or 'c'"
            params["expected"] = params.get("expected", "").replace(" or ", ", ")
        if kind == "string_too_short" and ctx.get("min_length") == 1:
            return Text.of(mark("should have at least 1 character"))
        if kind == "too_short" and ctx.get("min_length") == 1:
            return Text.of(mark("should have at least 1 item, not {actual_length}"), **params)
        return Text.of(_PYDANTIC_MESSAGES[kind], **params)
    # A check this file does not know yet: pydantic's own (English) words.
    return Text.of(mark("{reason}"), reason=str(err["msg"]).removeprefix("Value error, "))


def _context_value(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


# pydantic's error types a spec can meet, each in the spec's words; `{...}` names a value
# of the error's context.
_PYDANTIC_MESSAGES = {
    "extra_forbidden": mark("unknown field (misspelled?)"),
    "missing": mark("required field is missing"),
    "string_type": mark("should be a text (a string)"),
    "string_pattern_mismatch": mark("should match the pattern {pattern}"),
    "string_too_short": mark("should have at least {min_length} characters"),
    "string_too_long": mark("should have at most {max_length} characters"),
    "too_short": mark("should have at least {min_length} items, not {actual_length}"),
    "too_long": mark("should have at most {max_length} items, not {actual_length}"),
    "int_type": mark("should be a whole number"),
    "int_from_float": mark("should be a whole number, without a fractional part"),
    "float_type": mark("should be a number"),
    "finite_number": mark("should be a finite number"),
    "bool_type": mark("should be true or false"),
    "bool_parsing": mark("should be true or false"),
    "int_parsing": mark("should be a whole number"),
    "float_parsing": mark("should be a number"),
    "dict_type": mark("should be a mapping (key: value lines)"),
    "list_type": mark("should be a list"),
    "tuple_type": mark("should be a list"),
    "model_type": mark("should be a mapping (key: value lines)"),
    "model_attributes_type": mark("should be a mapping (key: value lines)"),
    "greater_than": mark("should be greater than {gt}"),
    "greater_than_equal": mark("should be greater than or equal to {ge}"),
    "less_than": mark("should be less than {lt}"),
    "less_than_equal": mark("should be less than or equal to {le}"),
    "literal_error": mark("should be one of {expected}"),
    "union_tag_invalid": mark("should be one of {expected_tags}, not {tag}"),
    "union_tag_not_found": mark("needs the field {discriminator}"),
}


