"""How the pages write scores, times and an exercise's description, in the reader's
language."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from babel.dates import format_datetime
from babel.numbers import format_percent
from markupsafe import Markup, escape

from grader import i18n

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def score_text(score: float | None) -> str:
    """0.9167 -> "92%" (the score is 0 to 1)."""
    if score is None:
        return "—"
    return format_percent(score, locale=i18n.current_language())


def time_text(moment: datetime | None) -> str:
    """A time in UTC, in the reader's language ("10 Dec 2026, 23:59 UTC"); the page's
    script rewrites it in the browser's own time zone."""
    if moment is None:
        return ""
    return format_datetime(moment.astimezone(UTC), "d MMM y, HH:mm", tzinfo=UTC,
                           locale=i18n.current_language()) + " UTC"


def iso_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def description_html(text: str) -> Markup:
    """An exercise's description: paragraphs at blank lines, **bold** as strong; every
    other character escaped (the Markdown an author writes most, and nothing more)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out = []
    for paragraph in paragraphs:
        escaped = str(escape(" ".join(paragraph.split())))
        out.append("<p>" + _BOLD.sub(r"<strong>\1</strong>", escaped) + "</p>")
    return Markup("".join(out))
