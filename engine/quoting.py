"""How a message shows a name it was given: whole when short, cut when long.

An id or a key comes from whoever wrote the spec or sent the request, and may be
100,000 characters long. Repeated whole in an error, it would make the answer as large
as the request, once per mention; so every message, location or field that names what
it was given shows it through here. The engine, the scoring and the services share it.
"""

from __future__ import annotations

MAX_SHOWN_CHARACTERS = 80
ELLIPSIS = "…"


def shortened(text: str) -> str:
    """`text` itself, or its first MAX_SHOWN_CHARACTERS characters and "…"."""
    if len(text) <= MAX_SHOWN_CHARACTERS:
        return text
    return text[:MAX_SHOWN_CHARACTERS] + ELLIPSIS


def quoted(text: str, *, length_note: str = "{count} characters") -> str:
    """`text` as repr() quotes it for a message; a long one is cut (`shortened`) and
    followed by its length, `'gggg…' (100000 characters)`. The caller passes
    `length_note` translated where it can (the engine writes English)."""
    if len(text) <= MAX_SHOWN_CHARACTERS:
        return repr(text)
    return f"{shortened(text)!r} ({length_note.format(count=len(text))})"
