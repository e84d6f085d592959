"""Scoring a submission, blank by blank. Pure: no web, no database, no I/O.

The names below are what the rest of the code uses; each lives in a module of its own.
"""

from grader.scoring.grading import (
    DEFAULT_POLICY,
    DEGENERATE_FEEDS,
    BlankResult,
    GradeResult,
    ScoringPolicy,
    grade,
)
from grader.scoring.mistakes import MISTAKES, Mistake, WrongBlank, diagnose
from grader.scoring.submission import (
    Submission,
    SubmissionBody,
    SubmissionError,
    parse_submission,
)
from grader.scoring.tolerance import (
    CLOSE,
    FAR,
    SAME,
    allowance_for,
    closeness,
    comparator_for,
    is_close_decimals,
    is_close_relabs,
    is_close_sigfigs,
    is_close_to_range,
    is_insufficient_precision,
    typed_step,
)

__all__ = [
    "CLOSE",
    "DEFAULT_POLICY",
    "DEGENERATE_FEEDS",
    "FAR",
    "MISTAKES",
    "SAME",
    "BlankResult",
    "GradeResult",
    "Mistake",
    "ScoringPolicy",
    "Submission",
    "SubmissionBody",
    "SubmissionError",
    "WrongBlank",
    "allowance_for",
    "closeness",
    "comparator_for",
    "diagnose",
    "grade",
    "is_close_decimals",
    "is_close_relabs",
    "is_close_sigfigs",
    "is_close_to_range",
    "is_insufficient_precision",
    "parse_submission",
    "typed_step",
]
