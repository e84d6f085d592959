"""Numbers as people type them into the pages, and as the pages show them.

A student writes a number the way their language does: 0,39 in Portuguese, 0.39 in
English. Either separator is read as the decimal point (one of them, with no grouping
of thousands), so a Portuguese student who types 0.39 by habit is read right too. Text
that is not a number is passed on as it was typed, so grading reports it as not a
number; an empty box is a blank left to fill (missing), not an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from grader import i18n

# Digits with at most one decimal separator, an optional exponent.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
# Spaces a phone keyboard or a copied number may bring: normal, no-break, thin.
_SPACES = re.compile(r"[\s\u00a0\u2009\u202f]+")
MINUS_SIGNS = "\u2212\u2013"  # the minus sign, and the en dash some keyboards give


def read_typed(text: str) -> float | str | None:
    """A box's text as a number; None when it is empty; the text itself when it is not
    a number."""
    cleaned = _SPACES.sub("", text)
    for minus in MINUS_SIGNS:
        cleaned = cleaned.replace(minus, "-")
    if not cleaned:
        return None
    if _NUMBER.fullmatch(cleaned):
        return float(cleaned.replace(",", "."))
    return text.strip()


def submission_from_form(form: Mapping[str, str], keys: Iterable[str]) -> dict[str, Any]:
    """The submission (as the JSON API takes it) of a page's form: every box named by
    one of `keys` ("forward:p0", "backward:x", "local:p0:x0") that holds something."""
    submission: dict[str, Any] = {}
    for key in keys:
        raw = form.get(key)
        if raw is None:
            continue
        value = read_typed(raw)
        if value is None:
            continue
        kind, _, rest = key.partition(":")
        if kind == "local":
            gate, _, name = rest.partition(":")
            submission.setdefault("local", {}).setdefault(gate, {})[name] = value
        else:
            submission.setdefault(kind, {})[rest] = value
    return submission


def typed_from_submission(answers: Mapping[str, Any]) -> dict[str, str]:
    """A stored submission as the texts its boxes show, by blank key."""
    typed: dict[str, str] = {}
    for kind in ("forward", "backward"):
        for node, value in (answers.get(kind) or {}).items():
            typed[f"{kind}:{node}"] = shown_number(value)
    for gate, by_input in (answers.get("local") or {}).items():
        for name, value in (by_input or {}).items():
            typed[f"local:{gate}:{name}"] = shown_number(value)
    return typed


def shown_number(value: Any) -> str:
    """A number as the current language writes it, with the digits it was typed with
    (the shortest text that reads back as the same number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(float(value)) if isinstance(value, float) else str(value)
    text = text.removesuffix(".0") if "e" not in text else text
    return _localized(text)


def given_number(value: float) -> str:
    """An input's given value as the current language writes it, with a true minus
    sign (−1,5 in Portuguese)."""
    return _localized(f"{value:g}").replace("-", "\u2212")


def _localized(text: str) -> str:
    if i18n.current_language() == i18n.PORTUGUESE:
        return text.replace(".", ",")
    return text
