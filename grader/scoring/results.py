"""What grading gives back: the scoring policy, and the result of every blank.

`GradeResult.as_dict()` is the JSON a student sees: the score, every blank in working
order with its status, points and message, and the first error. Nothing here holds a
reference value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import pydantic_core

from grader.scoring import feedback
from grader.scoring.mistakes import MISTAKES, Mistake

Kind = Literal["forward", "backward", "local"]
Status = Literal["correct", "consistent", "incorrect", "missing", "invalid"]
KINDS: tuple[Kind, ...] = ("forward", "backward", "local")


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    """How points are given.

    `consistent_share` (default 1): the share of a blank's points a consistent blank
    earns; 1 makes one slip cost one blank, the issue's default.

    `carried_cap`: the highest score credit carried from an incorrect blank can lift a
    submission to; blanks right on their own always count in full. The default, None,
    is what one incorrect blank leaves: 1 - (points of the blank worth least) / (total
    points), so one slip costs exactly its own blank (never more), while a submission
    that rests on a wrong value never equals a right one (unless a kind of blank is
    worth 0 points: a slip there costs nothing, so there is no cap). The
    degenerate-value guard is what stops the known ways of gaming carried credit; a
    lower cap (0.9, say) also bounds what any unforeseen one could earn, at the price
    of charging a slip whose consequences fill the graph more than one blank.

    `forward_points`, `backward_points`, `local_points` (default 1 each): a blank's
    points by kind, to weigh the kinds against each other. `mistakes`: the diagnosis
    hypotheses, in the order they are tried.
    """

    consistent_share: float = 1.0
    carried_cap: float | None = None
    forward_points: float = 1.0
    backward_points: float = 1.0
    local_points: float = 1.0
    mistakes: tuple[Mistake, ...] = MISTAKES

    def __post_init__(self) -> None:
        if not 0.0 <= self.consistent_share <= 1.0:
            raise ValueError("consistent_share must be within [0, 1]")
        if self.carried_cap is not None and not 0.0 <= self.carried_cap <= 1.0:
            raise ValueError("carried_cap must be within [0, 1], or None")
        points = (self.forward_points, self.backward_points, self.local_points)
        if any(not (math.isfinite(p) and p >= 0.0) for p in points):
            raise ValueError("points per blank must be finite and >= 0")

    def points(self, kind: str) -> float:
        if kind == "forward":
            return self.forward_points
        return self.backward_points if kind == "backward" else self.local_points


@dataclass(frozen=True, slots=True)
class BlankRef:
    """Which blank: a kind, a node, and for a local gradient the input."""

    kind: Kind
    node: str
    input: str | None = None

    def as_dict(self) -> dict[str, str]:
        found = {"kind": self.kind, "node": self.node}
        if self.input is not None:
            found["input"] = self.input
        return found


class BlankResult(NamedTuple):
    """One blank's verdict (a named tuple: a graded 5,000-node exercise makes 10,000)."""

    kind: Kind
    node: str
    input: str | None
    status: Status
    points: float
    max_points: float
    mistake: str | None
    message: str

    @property
    def ref(self) -> BlankRef:
        return BlankRef(self.kind, self.node, self.input)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "node": self.node}
        if self.input is not None:
            found["input"] = self.input
        found.update(status=self.status, points=self.points, max_points=self.max_points,
                     mistake=self.mistake, message=self.message)
        return found


@dataclass(frozen=True, slots=True)
class FirstError:
    """The first incorrect blank in working order, and the blanks its wrong value was
    carried into (consistent ones, and those refused carried credit)."""

    blank: BlankRef
    propagated_into: tuple[BlankRef, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**self.blank.as_dict(),
                "propagated_into": [b.as_dict() for b in self.propagated_into]}


@dataclass(frozen=True, slots=True)
class GradeResult:
    """A graded submission: the score (0 to 1), every blank in working order, and where
    to start fixing. `as_dict()` is what a student may see."""

    score: float
    blanks: tuple[BlankResult, ...]
    first_error: FirstError | None
    output: str  # the exercise's output id, for labels such as df/dx
    _json: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def format_errors(self) -> tuple[BlankResult, ...]:
        """Blanks holding no usable number: the submission should not count."""
        return tuple(b for b in self.blanks if b.status == "invalid")

    @property
    def has_format_errors(self) -> bool:
        return any(b.status == "invalid" for b in self.blanks)

    def as_dict(self) -> dict[str, Any]:
        """The JSON result: score, blanks, first_error. No reference values."""
        return {
            "score": self.score,
            "blanks": [b.as_dict() for b in self.blanks],
            "first_error": None if self.first_error is None else self.first_error.as_dict(),
        }

    def as_json(self) -> str:
        """`as_dict()` as compact JSON text, written once per result: the result every
        submission right throughout shares is made once per exercise, policy and
        language."""
        text = self._json
        if text is None:
            text = pydantic_core.to_json(self.as_dict()).decode()
            object.__setattr__(self, "_json", text)  # a cache: the result stays the same
        return text

    def label(self, blank: BlankRef | BlankResult) -> str:
        """How a blank is named to a student: "p0", "df/dp0", "local ∂p0/∂x0"."""
        return feedback.blank_label(blank.kind, blank.node, blank.input, self.output)

    def summary(self) -> str:
        """One sentence: where to start fixing (in the current language)."""
        if self.has_format_errors:
            return feedback.summary_format_errors(len(self.format_errors))
        if self.first_error is None:
            missing = sum(b.status == "missing" for b in self.blanks)
            rounded = sum(b.status == "consistent" for b in self.blanks)
            if missing:
                return feedback.summary_blanks_left(missing)
            if rounded:
                return feedback.summary_rounded(rounded)
            return feedback.every_blank_right()
        first = self.first_error
        result = next(b for b in self.blanks if b.ref == first.blank)
        return feedback.summary_start_here(self.label(first.blank), first.blank.kind,
                                           result.message, len(first.propagated_into))


DEFAULT_POLICY = ScoringPolicy()
