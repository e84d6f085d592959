"""Scoring a submission, blank by blank. Pure: no web, no database, no I/O.

The modules, in the order a submission meets them:

* submission: its JSON shape, field errors, and each blank's number (or format error);
* tolerance: is a typed number close enough to a reference?
* plan: what grading needs from an exercise, made once per exercise;
* grading: the grading pass, `grade()`, which marks every blank in working order,
  with own_numbers (what the student's own numbers give: error carried forward),
  precision (the range a typed number stands for, through each gate), trace (where each
  number came from), anti_gaming (no carried credit through degenerate values; the
  cap), diagnosis (which mistake explains a wrong blank, weighed across blanks) with
  the registry in mistakes (its hypotheses in mistakes_rules, mistakes_flow and
  mistakes_forward, reading a wrong_blank), and marks;
* tally: marks into points, the score and the first error;
* results: the policy, and the result types a caller gets back;
* feedback: the texts a student reads, in the current language (grader.i18n); the
  mistakes' own texts are next to their hypotheses.

The names below are what the rest of the code uses.
"""

from grader.scoring.anti_gaming import DEGENERATE_FEEDS
from grader.scoring.grading import grade
from grader.scoring.mistakes import MISTAKES, Mistake, WrongBlank, diagnose
from grader.scoring.results import DEFAULT_POLICY, BlankResult, GradeResult, ScoringPolicy
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
    digits_asked,
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
    "digits_asked",
    "grade",
    "is_close_decimals",
    "is_close_relabs",
    "is_close_sigfigs",
    "is_close_to_range",
    "is_insufficient_precision",
    "parse_submission",
    "typed_step",
]
