"""URL converters: a path segment that cannot name a row is a 404 in routing, never
a value sent to the database (a NUL byte or a 10 kB id would fail there)."""

from __future__ import annotations

from werkzeug.routing import BaseConverter

from grader.api.schemas import ID_MAX


class ExerciseIdConverter(BaseConverter):
    """An exercise id as the spec allows it: lowercase letters, digits, dashes."""

    regex = r"[a-z0-9][a-z0-9-]{0,99}"


def digits_at_most(limit: int) -> str:
    """A regex for the decimal numbers 0..limit, without leading zeros: 0..2147483647
    is `0|[1-9]\\d{0,8}|1\\d{9}|20\\d{8}|...|214748364[0-6]|2147483647`."""
    text = str(limit)
    width = len(text)
    # Every number with fewer digits, then those as long as the limit that are smaller
    # at some digit and equal before it, then the limit itself.
    choices = ["0", f"[1-9]\\d{{0,{width - 2}}}"] if width > 1 else []
    for position, digit in enumerate(text):
        smallest = 1 if position == 0 and width > 1 else 0
        if int(digit) > smallest:
            below = int(digit) - 1
            smaller = str(smallest) if below == smallest else f"[{smallest}-{below}]"
            rest = width - position - 1
            choices.append(text[:position] + smaller + (f"\\d{{{rest}}}" if rest else ""))
    choices.append(text)
    return "|".join(choices)


class RowIdConverter(BaseConverter):
    """An integer id of a row: 0 to ID_MAX (a 32-bit column). The range is in the
    regex, not checked after matching: werkzeug answers a match whose value it then
    refuses with 405 when a rule for another method came first, where 404 is meant."""

    regex = f"(?:{digits_at_most(ID_MAX)})"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
