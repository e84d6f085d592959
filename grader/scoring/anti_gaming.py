"""The rules that keep carried credit from being gamed: degenerate values, and the cap.

Carried credit is guarded against degenerate values, which make what follows them
trivial. A value is degenerate when it is wrong (outside the tolerance of its reference)
because of an error (it is incorrect, or carried from an incorrect blank), its reference
is not itself about the same value, and it compares equal, under its own node's
tolerance, to

* 0, for a gradient (df/dnode) or a typed local gradient: everything computed from it
  is 0;
* 1, for a typed local gradient: what flows back through it is passed on unchanged;
* a value in DEGENERATE_FEEDS of the gate it enters, for a forward value: 0 or 1
  entering mul, div or scale (0·y = 0, 1·y = y, 0/y, y/1, a·0, a·1), 0 entering exp
  (e^0 = 1, and its local gradient 1), 1 entering inv (1/1 = 1, and -1); and 0 entering
  any gate whose wrong inputs are all such zeros and whose output is then 0 too (zeros
  in, zero out: 0 + 0, tanh 0, sin 0, max(0, 0)).

Two more shortcuts are degenerate: a wrong gradient of 1 merely copied back through a
gate whose local gradient is 1 (a +, a +c, the winner of a max: typing 1 everywhere
would match it), and a local gradient that unexplained wrong values make 0 or 1 (a
wrong output of 1 makes eˣ's local gradient 1).

Nothing consistent with a degenerate value earns credit, and neither does anything
consistent with *that* (the taint follows the chain). A value that is right (within
tolerance), such as 0.00 typed for a gradient of -4.5e-5, is never degenerate, nor is one
that differs from the reference only because right numbers were rounded: neither blocks
anything. A wrong gradient of 1, and a single wrong 0 among right inputs of an add, are
not degenerate: what follows them still has to be computed. An honest slip whose
consequences become about 0 (a sigmoid pushed into saturation) is treated like a typed 0
from there on: the two cannot be told apart, unless a named mistake explains the slip
(its consequences are then a conceptual slip's, not a choice's: carried). And one slip a
named mistake explains is carried even where its own value is a 0 or a 1 (e left out of
1 + e gives d = 1): grading regrades the submission with it named
(grader.scoring.grading), unless such values come in several places, a pattern typed to
make the rest trivial. Forward values copied into several gradient blanks earn nothing
from what happens to follow from them either.

However it is earned, credit carried from an incorrect blank lifts a score at most up to
the cap, `ScoringPolicy.carried_cap`; by default the cap is what one incorrect blank (the
one worth least) leaves, so that one slip costs exactly one blank.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.ops import OPS, Op
from grader.scoring import feedback
from grader.scoring.results import ScoringPolicy
from grader.scoring.tolerance import FAR, Comparator
from grader.scoring.trace import WRONG_BY_ERROR, Trace

# A wrong forward value equal (within its tolerance) to one of these, entering a gate of
# this op, leaves nothing to compute at the gate: its output and local gradients are
# trivial (the ops' own table, engine.ops: 0·y = 0, 1·y = y, e^0 = 1, 1/1 = 1).
DEGENERATE_FEEDS: Mapping[str, tuple[float, ...]] = {
    name: op.degenerate_feeds for name, op in OPS.items() if op.degenerate_feeds}
# The values a wrong forward value is compared with: every degenerate feed is one.
NEAR_VALUES = (0.0, 1.0)
NOTHING_NEAR: frozenset[float] = frozenset()


def near_values(x: float, reference: float, compare: Comparator) -> frozenset[float]:
    """Which of NEAR_VALUES a wrong forward value equals (within its node's tolerance,
    `compare`) where its reference does not: a reference that is itself about 0 or 1
    makes what follows just as trivial, so there is nothing to game."""
    found = NOTHING_NEAR  # the usual answer: nothing made
    for v in NEAR_VALUES:
        if (x == v or compare(x, v, v) != FAR) and compare(reference, v, v) == FAR:
            found = found.union((v,))
    return found


def feeds_degenerately(near: frozenset[float], op: Op) -> bool:
    """Whether a forward value near these values is a degenerate feed of a gate of op."""
    return not near.isdisjoint(op.degenerate_feeds)


def same_in_same_out(fed: frozenset[float], value: float, reference: float,
                     compare: Comparator) -> bool:
    """Whether a gate fed only wrong zeros (or only wrong ones) gives that value too,
    where its reference is not about it (0 + 0, tanh 0, sin 0, max(0, 0); max(1, 1),
    √1, |1|): nothing was left to compute."""
    return any(compare(value, v, v) != FAR and compare(reference, v, v) == FAR
               for v in fed)


def degenerate_gradient(trace: Trace, x: float, low: float, high: float,
                        compare: Comparator, *, local: bool = False,
                        carried: bool = False) -> Trace:
    """A gradient's trace as a source, with whether it is degenerate: wrong by an error,
    and 0 (it zeroes everything it is multiplied into) or, for a local gradient, 1 (it
    passes the upstream gradient on unchanged), within its node's tolerance, where the
    reference range [low, high] is not; a wrong gradient of 1 is noted (ONE): what
    merely copies it is blocked. A right 0 (0.00 for -4.5e-5) is no error and blocks
    nothing; nor does a `carried` one that follows from slips named mistakes explain
    (the consequence of a conceptual slip, not a choice)."""
    if WRONG_BY_ERROR in trace and (not carried or Trace.UNEXPLAINED in trace):
        if x == 0.0 or compare(x, 0.0, 0.0) != FAR:
            if compare(0.0, low, high) == FAR:
                trace |= Trace.ZERO
        elif compare(x, 1.0, 1.0) != FAR and compare(1.0, low, high) == FAR:
            trace |= Trace.UNIT if local else Trace.ONE
    return trace


def copies_a_wrong_one(upstream_trace: Trace, local: float) -> bool:
    """Whether a gradient computed from one gate merely copies a wrong gradient of 1: the
    gate's local gradient for it is exactly 1 (a + or +c gate; the winner of a max), so a
    student typing 1 everywhere would match it without computing anything."""
    return Trace.ONE in upstream_trace and local == 1.0


def why_no_carried_credit(trace: Trace) -> str:
    """Why a blank computed from a degenerate value earns nothing, from its trace."""
    if Trace.ZERO in trace:
        return feedback.why_wrong_zero()
    if Trace.UNIT in trace:
        return feedback.why_wrong_unit()
    if Trace.FEED in trace:
        return feedback.why_degenerate_feed()
    if Trace.COPY in trace:
        return feedback.why_copied_unit()
    if Trace.PATTERN in trace:
        return feedback.why_forward_values_copied()
    return feedback.why_tainted()


def carried_credit_allowed(policy: ScoringPolicy, *, carried: float, own: float,
                           total: float, least_points: float) -> float:
    """How much of the `carried` points may count: they lift the score (`own` points
    earned on their own, of `total`) at most up to the cap, and never lower it. The
    default cap is what one incorrect blank (worth `least_points`) leaves."""
    cap = policy.carried_cap
    if cap is None:
        cap = 1.0 - least_points / total if total > 0 else 1.0
    return min(carried, max(0.0, cap * total - own))
