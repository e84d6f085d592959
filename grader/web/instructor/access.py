"""Who may open the instructor pages: a signed-in instructor or admin."""

from __future__ import annotations

from flask import current_app

from grader.models import Role
from grader.services.accounts import Caller, require_role
from grader.web.browser import signed_in


def instructor() -> Caller:
    """The signed-in instructor or admin (NotSignedIn; Forbidden for a student)."""
    caller = signed_in()
    require_role(caller, Role.INSTRUCTOR)
    return caller


def max_exercise_bytes() -> int:
    limit: int = current_app.config["MAX_EXERCISE_BYTES"]
    return limit
