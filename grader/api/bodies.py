"""A request body's bytes as text or JSON, or a problem that says where it goes wrong.

Every refusal is located, like the 422s are: a body that is not UTF-8 by the byte
offset of its first bad byte; an empty one, one that is not JSON, or one nested too
deeply by line, column and offset (a character offset into the text); a key written
twice in one object (a 422: the JSON is well formed, but `"p0": 1, "p0": 2` would
silently keep the last value) by the JSON Pointer of each repeated key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from grader.i18n import gettext as _
from grader.i18n import mark
from grader.problems import MalformedBody
from grader.services.errors import FieldError, ValidationFailed, json_pointer, quoted_name

MAX_INT_DIGITS = 400
MAX_JSON_DEPTH = 32

# A number written with a decimal comma, as Portuguese writes it: `"p0": 0,39`.
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
# The tokens that open and close a level, and strings (whose brackets do not count).
_NESTING_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def utf8_text(raw: bytes) -> str:
    """The body as text; MalformedBody (400) at the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(raw, exc.start) from None


def parse_json_body(raw: bytes) -> Any:
    """The body as JSON; MalformedBody (400) or ValidationFailed (422) with where."""
    text = utf8_text(raw)
    # A byte order mark may be ignored (RFC 8259); as a space, offsets stay the same.
    if text.startswith("\ufeff"):
        text = " " + text[1:]
    if not text.strip():
        detail = _("the request body is empty; send a JSON object")
        raise MalformedBody(detail, errors=[{**_where(text, len(text)), "detail": detail}])
    repeated: list[tuple[dict[str, Any], list[str]]] = []
    try:
        data = json.loads(text, parse_int=_parse_int,
                          object_pairs_hook=_object_noting_repeats(repeated))
    except json.JSONDecodeError as exc:
        raise _not_json(exc) from None
    except RecursionError:
        raise _too_deep(text) from None
    # Nesting that json.loads survived could still exhaust the stack of whatever walks
    # the value next (validation, hashing), and no real body needs it. A body with no
    # more brackets than the limit cannot nest deeper (brackets inside strings only
    # raise the count), so a submission is never walked.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nested_deeper_than(
        data, MAX_JSON_DEPTH
    ):
        raise _too_deep(text)
    if repeated:
        raise _repeated_keys(data, repeated)
    return data


def _where(text: str, offset: int) -> FieldError:
    """Line and column (1-based) and offset of a character of the text."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return {"line": line, "column": column, "offset": offset}


def _not_utf8(raw: bytes, offset: int) -> MalformedBody:
    """Located by the byte offset; line and column are counted in the text before it."""
    before = raw[:offset].decode("utf-8")
    where = {**_where(before, len(before)), "offset": offset}
    detail = _("the request body is not UTF-8 text: the byte at offset {offset} (line "
               "{line}, column {column}) is not UTF-8").format(**where)
    return MalformedBody(detail, errors=[{**where, "detail": detail}])


def _not_json(exc: json.JSONDecodeError) -> MalformedBody:
    """Where the body stops being JSON; a decimal comma is named, since students who
    write 0,39 by habit would not see it in a parser's message."""
    where = {"line": exc.lineno, "column": exc.colno, "offset": exc.pos}
    start = max(0, exc.pos - 24)
    for found in _DECIMAL_COMMA.finditer(exc.doc, start, exc.pos + 24):
        if found.start() <= exc.pos <= found.end():
            number = found.group()
            detail = _("{number} at line {line} column {column} is written with a decimal "
                       "comma; JSON numbers use a point: {fixed}").format(
                number=number, line=exc.lineno, column=exc.colno,
                fixed=number.replace(",", "."))
            return MalformedBody(detail, errors=[{**where, "detail": detail}])
    known = JSON_REASONS.get(exc.msg)
    reason = _(known) if known is not None else exc.msg
    detail = _("the request body is not JSON: {reason} at line {line} column {column}").format(
        reason=reason, line=exc.lineno, column=exc.colno)
    return MalformedBody(detail, errors=[{**where, "detail": reason}])


# The json module's reasons (English, fixed texts), in the reader's language.
JSON_REASONS = {
    "Expecting value": mark("a value was expected"),
    "Expecting property name enclosed in double quotes":
        mark("a key in double quotes was expected"),
    "Expecting ':' delimiter": mark("a ':' was expected"),
    "Expecting ',' delimiter": mark("a ',' was expected"),
    "Extra data": mark("there is more after the JSON value"),
    "Unterminated string starting at": mark("a string is not closed"),
    "Invalid control character at": mark("a control character inside a string"),
    "Illegal trailing comma before end of object": mark("a comma before the end of an object"),
    "Illegal trailing comma before end of array": mark("a comma before the end of a list"),
}


def _too_deep(text: str) -> MalformedBody:
    """Located at the first bracket that opens a level past the limit."""
    depth = 0
    offset = len(text)
    for token in _NESTING_TOKENS.finditer(text):
        symbol = token.group()
        if symbol in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                offset = token.start()
                break
        elif symbol in "]}":
            depth -= 1
    where = _where(text, offset)
    detail = _("the JSON body is nested more than {depth} levels deep (at line {line} "
               "column {column})").format(depth=MAX_JSON_DEPTH, **where)
    return MalformedBody(detail, errors=[{**where, "detail": detail}])


def _object_noting_repeats(repeated: list[tuple[dict[str, Any], list[str]]]) -> Any:
    """json's object hook: a dict of the pairs, noting any key written twice in it."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            twice = []
            for key, _value in pairs:
                if key in seen and key not in twice:
                    twice.append(key)
                seen.add(key)
            repeated.append((result, twice))
        return result

    return build


def _repeated_keys(data: Any, repeated: list[tuple[dict[str, Any], list[str]]]) -> ValidationFailed:
    """A 422 with the pointer of every key written twice (the objects are found by
    identity: the hook does not know where in the document it is)."""
    keys_of = {id(obj): keys for obj, keys in repeated}
    errors: list[FieldError] = []
    for path, value in _objects_with_paths(data):
        for key in keys_of.get(id(value), ()):
            errors.append({"pointer": json_pointer([*path, key]),
                           "detail": _("{key} is written twice in the same object; send "
                                       "each key once").format(key=quoted_name(key))})
    return ValidationFailed(_("the request body has keys written twice"), errors=errors)


def _objects_with_paths(data: Any) -> Iterator[tuple[list[str | int], dict[str, Any]]]:
    """Every object in a JSON value with its path, in document order (no recursion)."""
    pending: list[tuple[list[str | int], Any]] = [([], data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            yield path, value
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        else:
            continue
        pending.extend(([*path, key], child) for key, child in reversed(children))


def _nested_deeper_than(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def _parse_int(digits: str) -> int | float:
    # Python refuses to convert integers of more than 4300 digits (a guard against
    # quadratic conversion); such a number is read as a float, i.e. infinity, which
    # validation then rejects like any other non-finite number.
    return int(digits) if len(digits) <= MAX_INT_DIGITS else float(digits)
