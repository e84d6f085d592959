"""How the pages write scores, times and an exercise's description, in the reader's
language."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from babel.numbers import format_percent
from markupsafe import Markup, escape

from grader import i18n
from grader.models import ExerciseVersion
from grader.services.exercises import title_in

_BOLD = re.compile(r"\*\*(.+?)\*\*")
# *word* as emphasis: the stars hug the text, so that a·b written "a * b" stays as is.
_EMPHASIS = re.compile(r"(?<![*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?![*\w])")


def score_text(score: float | None) -> str:
    """0.9167 -> "92%" (the score is 0 to 1)."""
    if score is None:
        return "—"
    return format_percent(score, locale=i18n.current_language())


def iso_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def description_html(text: str) -> Markup:
    """An exercise's description: paragraphs at blank lines, **bold** as strong, *word*
    as emphasis; every other character escaped (the Markdown an author writes most, and
    nothing more)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out = []
    for paragraph in paragraphs:
        escaped = str(escape(" ".join(paragraph.split())))
        strong = _BOLD.sub(r"<strong>\1</strong>", escaped)
        out.append("<p>" + _EMPHASIS.sub(r"<em>\1</em>", strong) + "</p>")
    return Markup("".join(out))


def exercise_title(version: ExerciseVersion) -> str:
    """A stored version's title in the reader's language (its spec's translation)."""
    return title_in(version, i18n.tag(i18n.current_language()))
