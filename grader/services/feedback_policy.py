"""What a student is shown of a graded attempt, by the assignment's feedback policy.

Pure: `shown_result` filters a stored result (the JSON object `GradeResult.as_dict()`
made) into a new one and changes nothing stored, so an instructor still sees every
result in full, and a later change of policy loses nothing.

- `full`: the result as stored.
- `location`: which blanks are wrong and where to start fixing, without a diagnosis:
  the score, each blank's kind, node, status and points, a neutral message for its
  status, no mistake code; the first error's blank, without the blanks it was carried
  into (those would say how the error spread).
- `score`: the score alone; `blanks` and `first_error` are null.

Fields are copied by name, never dropped by name: a field a later result gains is shown
under `full` only, until it is listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.i18n import gettext as _
from grader.models import Feedback

BLANK_LOCATION = ("kind", "node", "input", "status", "points", "max_points")
FIRST_ERROR_LOCATION = ("kind", "node", "input")


def neutral_message(status: str) -> str:
    """A blank's status in words, and nothing more: no rule, no mistake, no number."""
    if status == "correct":
        return _("correct")
    if status == "consistent":
        return _("consistent with your own earlier values")
    if status == "missing":
        return _("no value given")
    if status == "invalid":
        return _("not a number")
    return _("incorrect")


def shown_result(result: Mapping[str, Any], feedback: Feedback) -> dict[str, Any]:
    """The part of a stored result a student sees under `feedback`."""
    if feedback is Feedback.FULL:
        return dict(result)
    if feedback is Feedback.SCORE:
        return {"score": result["score"], "blanks": None, "first_error": None}
    first_error = result.get("first_error")
    return {
        "score": result["score"],
        "blanks": [_located_blank(blank) for blank in result.get("blanks") or ()],
        "first_error": None if first_error is None else _copied(first_error,
                                                                FIRST_ERROR_LOCATION),
    }


def _located_blank(blank: Mapping[str, Any]) -> dict[str, Any]:
    located = _copied(blank, BLANK_LOCATION)
    located["mistake"] = None
    located["message"] = neutral_message(str(blank.get("status")))
    return located


def _copied(found: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: found[name] for name in fields if name in found}
