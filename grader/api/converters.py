"""URL converters: a path segment that cannot name a row is a 404 in routing, never
a value sent to the database (a NUL byte or a 10 kB id would fail there)."""

from __future__ import annotations

from werkzeug.routing import BaseConverter


class ExerciseIdConverter(BaseConverter):
    """An exercise id as the spec allows it: lowercase letters, digits, dashes."""

    regex = r"[a-z0-9][a-z0-9-]{0,99}"
