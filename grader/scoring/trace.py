"""Where a working number came from: its trace, the blanks it rests on, and what the
student's own numbers give for a blank.

Grading keeps, for every number it computes with (a typed value, or the reference where
nothing usable was typed), a `Trace`: whether it differs from the reference, whether that
difference goes back to an incorrect blank, and whether it may carry credit at all.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Self

from grader.scoring.results import Kind


class Trace(enum.Flag):
    """What is known about a number used to compute an expectation."""

    DIFFERS = enum.auto()  # differs from the reference: there is something to carry
    FROM_ERROR = enum.auto()  # traces back to an incorrect blank (not just to rounding)
    WRONG = enum.auto()  # outside the tolerance of the reference (incorrect or consistent)
    # No carried credit through this number, and why (grader.scoring.anti_gaming):
    ZERO = enum.auto()  # a wrong gradient (or local gradient) of 0: all it multiplies is 0
    UNIT = enum.auto()  # a wrong local gradient of 1: what flows back passes on unchanged
    FEED = enum.auto()  # a wrong degenerate feed: the gate's output is trivial
    TAINTED = enum.auto()  # it matched the student's numbers only through a degenerate one
    COPY = enum.auto()  # a wrong gradient of 1 passed back through a gate of local gradient 1
    PATTERN = enum.auto()  # forward values copied into several gradient blanks
    # Facts that do not block by themselves:
    ONE = enum.auto()  # a wrong gradient of 1: blocks what merely copies it (COPY)
    UNEXPLAINED = enum.auto()  # traces to an incorrect blank no named mistake explains

    # Grading combines traces hundreds of times per submission, and Flag's own operators
    # make each result through the enum's constructor: look it up among all of them, by
    # the member's value (`_value_`, as the enum documentation names it).
    def __or__(self, other: Self) -> Self:
        return _EVERY_TRACE[self._value_ | other._value_]

    def __and__(self, other: Self) -> Self:
        return _EVERY_TRACE[self._value_ & other._value_]

    def __contains__(self, other: object) -> bool:
        # `flag in trace` as Flag defines it (every bit of flag set in trace), without
        # its type checks: grading asks it thousands of times per submission.
        value: int = other._value_  # type: ignore[attr-defined]
        return bool(self._value_ & value == value)


# Every combination of the flags, by value (the members Flag itself would return).
_EVERY_TRACE = tuple(Trace(value) for value in range(1 << len(Trace)))

UNTRACED = Trace(0)  # the reference's own number, or one within float noise of it
BLOCKED = Trace.ZERO | Trace.UNIT | Trace.FEED | Trace.TAINTED | Trace.COPY | Trace.PATTERN
WRONG_BY_ERROR = Trace.FROM_ERROR | Trace.WRONG  # the values that can be degenerate
DIFFERS_BY_ERROR = Trace.DIFFERS | Trace.FROM_ERROR
WRONG_BLANK = Trace.DIFFERS | Trace.FROM_ERROR | Trace.WRONG  # an incorrect blank's trace
# ... and one no named mistake explains (its consequences may be degenerate: see
# grader.scoring.anti_gaming)
UNEXPLAINED_BLANK = WRONG_BLANK | Trace.UNEXPLAINED
# The trace of a blank carried from the student's numbers: from an error or rounding, or
# through a degenerate value (then it blocks what follows it in turn).
CARRIED_ROUNDING = Trace.DIFFERS | Trace.WRONG
CARRIED_ERROR = Trace.DIFFERS | Trace.FROM_ERROR | Trace.WRONG
CARRIED_BLOCKED = (Trace.DIFFERS | Trace.FROM_ERROR | Trace.WRONG | Trace.TAINTED
                   | Trace.UNEXPLAINED)


class BlankKey(NamedTuple):
    """A blank by node position: its kind, its node, and for a local gradient the
    position of the input (-1 for the other kinds)."""

    kind: Kind
    node: int
    input: int


class Expectation(NamedTuple):
    """What the student's own numbers give for a blank: the range [low, high] around
    `point` (wider where a kink leaves a choice of subgradient, or where the numbers it
    was computed from were typed rounded: grader.scoring.precision), the trace of the
    numbers it was computed from, and the blanks those came from. `spread`: how far the
    rounding alone reaches from the point (a mistake computed from the same numbers
    reaches as far)."""

    low: float
    high: float
    trace: Trace
    sources: tuple[BlankKey, ...]
    point: float
    spread: float = 0.0


class OwnLocal(NamedTuple):
    """A gate's local gradient for one input, at the student's own forward values."""

    point: float
    low: float
    high: float
    slot_locals: tuple[float, ...]  # d gate / d slot, for each slot the input fills
    trace: Trace
    sources: tuple[BlankKey, ...]
    spread: float = 0.0  # how far rounded input values move it

    def expectation(self) -> Expectation:
        return Expectation(self.low, self.high, self.trace, self.sources, self.point,
                           self.spread)
