"""Trace: its own `|` and `&` (a lookup among every combination) give exactly what
enum.Flag's operators give."""

from __future__ import annotations

import enum
import itertools

from grader.scoring.trace import BLOCKED, WRONG_BY_ERROR, Trace

EVERY = [Trace(value) for value in range(1 << len(Trace))]


def test_or_and_and_give_the_members_flag_gives():
    for a, b in itertools.product(EVERY, repeat=2):
        assert (a | b) is enum.Flag.__or__(a, b)
        assert (a & b) is enum.Flag.__and__(a, b)


def test_membership_and_truth_read_as_flags():
    trace = Trace.DIFFERS | Trace.FROM_ERROR | Trace.WRONG
    assert Trace.DIFFERS in trace and WRONG_BY_ERROR in trace
    assert Trace.ZERO not in trace
    assert not trace & BLOCKED
    assert trace & (BLOCKED | Trace.FROM_ERROR) == Trace.FROM_ERROR
    assert (trace | Trace.TAINTED) & BLOCKED == Trace.TAINTED


def test_the_flags_keep_their_order():
    # Among carried matches that are all blocked, the lowest blocking flag names why.
    assert [t.value for t in Trace] == [1 << n for n in range(11)]
    assert [t.name for t in Trace] == ["DIFFERS", "FROM_ERROR", "WRONG", "ZERO", "UNIT",
                                      "FEED", "TAINTED", "COPY", "PATTERN", "ONE",
                                      "UNEXPLAINED"]
    assert BLOCKED == (Trace.ZERO | Trace.UNIT | Trace.FEED | Trace.TAINTED | Trace.COPY
                       | Trace.PATTERN)


def test_candidates_are_ordered_by_their_first_blocking_reason():
    from grader.scoring.grading import first_blocking_reason

    assert first_blocking_reason(Trace.DIFFERS | Trace.WRONG) == 0
    # ZERO comes before UNIT in Trace order, whatever else ZERO's candidate carries.
    assert first_blocking_reason(Trace.ZERO | Trace.TAINTED) < first_blocking_reason(Trace.UNIT)
