"""The message catalogs: every text marked in the code is in both catalogs, and
Brazilian Portuguese translates each one, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from grader import i18n

REPO = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "mark": None}
PLACEHOLDER = re.compile(r"\{[a-z_0-9]*(?:![rsa])?(?::[^}]*)?\}|%\([a-z_0-9]+\)[sdr]")


def catalog(language: str):
    with (i18n.TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


def marked_in_code() -> set[str]:
    method_map = [("grader/**.py", "python"), ("engine/**.py", "python"),
                  ("grader/**/templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        REPO, method_map=method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def ids(language: str) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog(language) if m.id}


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_marked_text_is_in_the_catalog(language):
    missing = marked_in_code() - ids(language)
    assert not missing, f"run `make translations`, then translate: {sorted(missing)[:10]}"


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_no_catalog_entry_is_fuzzy(language):
    fuzzy = [m.id for m in catalog(language) if m.id and m.fuzzy]
    assert not fuzzy


def test_portuguese_translates_every_text_with_the_same_placeholders():
    for message in catalog(i18n.PORTUGUESE):
        if not message.id:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        translations = ([message.string] if isinstance(message.string, str)
                        else list(message.string))
        assert all(t.strip() for t in translations), f"untranslated: {message.id!r}"
        every = set().union(*(PLACEHOLDER.findall(source) for source in sources))
        for number, text in enumerate(translations):
            found = set(PLACEHOLDER.findall(text))
            # A singular form may say "one" in words; every other form names them all.
            assert found <= every if number == 0 and len(sources) > 1 else found == every, (
                message.id, text)


@pytest.mark.parametrize(("header", "preferred", "chosen"), [
    ("pt-BR,pt;q=0.9,en;q=0.8", None, "pt_BR"),
    ("pt", None, "pt_BR"),
    ("pt-PT", None, "pt_BR"),
    ("en-US,en;q=0.9", None, "en"),
    ("fr-FR, de;q=0.5", None, "en"),
    ("de;q=0.9, pt;q=0.5", None, "pt_BR"),
    ("en;q=0.2, pt-BR;q=0.8", None, "pt_BR"),
    ("", None, "en"),
    (None, None, "en"),
    ("ç☃;q=x,,;;=", None, "en"),
    ("en", "pt-BR", "pt_BR"),
    ("pt-BR", "en", "en"),
    ("pt-BR", "klingon", "pt_BR"),
])
def test_the_language_is_the_preference_then_the_header_then_english(header, preferred,
                                                                      chosen):
    assert i18n.negotiate(header, preferred) == chosen


def test_the_language_is_per_context_and_restored():
    assert i18n.current_language() == "en"
    with i18n.use_language("pt-BR") as language:
        assert language == "pt_BR" == i18n.current_language()
        with i18n.use_language("xx"):
            assert i18n.current_language() == "en"
        assert i18n.current_language() == "pt_BR"
    assert i18n.current_language() == "en"
