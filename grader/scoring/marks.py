"""A blank's verdict before points (a `Mark`), and the marks most blanks share."""

from __future__ import annotations

from dataclasses import dataclass

from grader.scoring.results import Status
from grader.scoring.trace import BlankKey

# The mistake code of an incorrect number typed with too few digits to be judged.
INSUFFICIENT_PRECISION = "insufficient-precision"


@dataclass(slots=True)
class Mark:
    """The verdict on one blank, before points (never changed once made: marks are
    shared between blanks, and between submissions through the exercise's plan)."""

    status: Status
    mistake: str | None = None
    message: str = ""
    sources: tuple[BlankKey, ...] = ()  # the blanks a carried value came from
    from_error: bool = False  # traces to an incorrect blank (not just to rounding)


# The marks of blanks right, or left empty: their results (and texts, in each language)
# are made once per exercise (grader.scoring.plan), so these marks hold no text.
CORRECT_MARK = Mark("correct")
MISSING_MARK = Mark("missing")
