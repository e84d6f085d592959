"""The languages people read the service in: Brazilian Portuguese and English.

Every text a person reads is written in English in the code, marked with `gettext`
(or `ngettext` for counts), and translated through the message catalogs in
`grader/translations/` (gettext .po files managed with Babel: `make translations`
extracts and updates them; `make` compiles them to .mo). Nothing here knows of Flask:
the scoring and the command line use it as the web layer does.

The language of the text being made is the current one (`use_language`), kept in a
context variable, so that a request, a thread or a command line run each has its own
and the functions that write texts need no extra argument.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from engine.errors import Problem

DOMAIN: Final = "messages"
TRANSLATIONS_DIR: Final = Path(__file__).resolve().parent / "translations"
ENGLISH: Final = "en"
PORTUGUESE: Final = "pt_BR"
LANGUAGES: Final = (ENGLISH, PORTUGUESE)
DEFAULT_LANGUAGE: Final = ENGLISH

_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "grader_language", default=DEFAULT_LANGUAGE)


def tag(language: str) -> str:
    """The language as HTTP and HTML write it: "pt-BR", "en"."""
    return language.replace("_", "-")


def supported(value: str | None) -> str | None:
    """The supported language a tag or code names ("pt-BR", "pt_br", "pt", "en-US"),
    or None. Portuguese of any region reads Brazilian Portuguese."""
    if not value:
        return None
    try:
        locale = Locale.parse(value.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    if locale.language == "pt":
        return PORTUGUESE
    if locale.language == "en":
        return ENGLISH
    return None


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The language to answer in: the user's stored preference, else the best match of
    an Accept-Language header, else English. Malformed headers fall back quietly."""
    chosen = supported(preferred)
    if chosen is not None:
        return chosen
    for language, _quality in _accepted(accept_language or ""):
        chosen = supported(language)
        if chosen is not None:
            return chosen
    return DEFAULT_LANGUAGE


def _accepted(header: str) -> list[tuple[str, float]]:
    """The languages of an Accept-Language header, best first (RFC 9110 weights)."""
    found = []
    for position, part in enumerate(header.split(",")[:32]):
        name, _, parameters = part.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name and name != "*" and 0 < quality <= 1:
            found.append((name, quality, position))
    return [(name, quality) for name, quality, _ in sorted(found, key=lambda f: (-f[1], f[2]))]


@contextmanager
def use_language(language: str) -> Iterator[str]:
    """Make texts in `language` (a supported code; anything else means English) within
    the block."""
    token = _current.set(supported(language) or DEFAULT_LANGUAGE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_language(language: str) -> None:
    """Make texts in `language` from now on in this context (a request's, a command's)."""
    _current.set(supported(language) or DEFAULT_LANGUAGE)


def current_language() -> str:
    return _current.get()


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalog of a language: its compiled .mo file, or, in a checkout where the
    catalogs were not compiled yet, the .po file compiled in memory."""
    folder = TRANSLATIONS_DIR / language / "LC_MESSAGES"
    compiled, source = folder / f"{DOMAIN}.mo", folder / f"{DOMAIN}.po"
    if compiled.is_file() and (not source.is_file()
                               or compiled.stat().st_mtime >= source.stat().st_mtime):
        with compiled.open("rb") as handle:
            return Translations(handle, domain=DOMAIN)
    if source.is_file():
        return _compiled_in_memory(source)
    return NullTranslations()


def _compiled_in_memory(source: Path) -> Translations:
    import io

    with source.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(message: str) -> str:
    """`message` in the current language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for `count`, in the current language."""
    return translations(_current.get()).ngettext(singular, plural, count)


def problem_message(problem: Problem) -> str:
    """A problem of an exercise spec, in the current language: the engine writes each
    as a marked template and its parameters, translated here where it is shown."""
    return problem.message_in(gettext)


def located_problem(problem: Problem) -> str:
    """`file:line: node: field: message`, the message in the current language."""
    return problem.located(problem_message(problem))


def mark(message: str) -> str:
    """Mark a text for the catalogs where it is defined (a constant), to be translated
    with `gettext` where it is used."""
    return message


_ = gettext


def time_text(moment: datetime | None) -> str:
    """A time in UTC, in the current language ("10 Dec 2026, 23:59 UTC"), for texts
    people read; the pages' script rewrites the ones in `<time data-local>` elements in
    the browser's own time zone."""
    if moment is None:
        return ""
    return format_datetime(moment.astimezone(UTC), "d MMM y, HH:mm", tzinfo=UTC,
                           locale=current_language()) + " UTC"
