"""The registry of diagnosed backprop mistakes.

A wrong blank is tested against named hypotheses, each computed from the student's
*own* numbers (their forward values and upstream gradients): "had you forgotten the
upstream gradient, you would have typed exactly this". Every hypothesis that matches is
a candidate; the first in registry order names the rule broken, unless another
candidate also explains the other wrong blanks of the same gate, or two blanks turn out
to hold each other's values (grader.scoring.diagnosis decides, once every blank
is read).

Each hypothesis is one small function taking the `WrongBlank` and returning the message
(a rule, never the reference number; made in the current language) when it matches,
else None. They live by what they are about: grader.scoring.mistakes_rules (one gate's
local derivative), mistakes_flow (how gradient flows back), mistakes_forward (the
forward pass). Adding one is writing the function and adding one line to MISTAKES; the
order there is the order of trial, most specific first (at a 1/x gate the dropped minus
sign is `inv-sign`, not the generic `sign-flip`). A hypothesis about one kind of gate
names its ops there, and is only tried on blanks whose gradient flows back through such
a gate (or, for the forward pass, on such gates).

A wrong zero (within the tolerance) is only tested against hypotheses that can predict a
zero by rule (`explains_zero`: max/min routing, which sends a loser nothing; a branch
left out when the branches kept carry nothing by rule): any other hypothesis predicts
zero only from a number that is zero itself (a typed-zero forward value, a zero upstream
gradient), and matching it would prove nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from grader.i18n import gettext, mark
from grader.scoring.mistakes_flow import (
    branch_not_summed,
    forward_as_gradient,
    no_upstream,
    percent,
    sign_flip,
    swapped_blanks,
)
from grader.scoring.mistakes_forward import forward_missing_term, forward_wrong_op
from grader.scoring.mistakes_rules import (
    div_derivative,
    exp_derivative,
    inv_derivative,
    inv_sign,
    local_at_wrong_point,
    log_derivative,
    max_misrouted,
    mul_not_swapped,
    scale_factor,
    sigmoid_derivative,
    wrong_op_rule,
)
from grader.scoring.wrong_blank import Edge, WrongBlank

__all__ = ["MISTAKES", "Diagnosis", "Edge", "Mistake", "WrongBlank", "applicable",
           "candidates", "diagnose"]

Hypothesis = Callable[[WrongBlank], str | None]
GRADIENTS = frozenset({"backward", "local"})
FORWARD = frozenset({"forward"})
EVERY_KIND = GRADIENTS | FORWARD


@dataclass(frozen=True, slots=True)
class Mistake:
    """A named hypothesis; `ops`, when given, are the gates it is about: it is tried only
    on blanks whose gradient flows back through one of them (or on a forward blank of
    such a gate). `kinds`: the kinds of blank it is about. `explains_zero`: it can tell
    a wrong zero apart (it predicts zero by a rule, not from a zero number)."""

    code: str
    check: Hypothesis
    ops: frozenset[str] | None = None
    explains_zero: bool = False
    kinds: frozenset[str] = GRADIENTS
    zero_kinds: frozenset[str] | None = None  # where it explains a zero; None: `kinds`


# The one place hypotheses are registered, in the order they are tried.
MISTAKES: tuple[Mistake, ...] = (
    Mistake("swapped-blanks", swapped_blanks, kinds=EVERY_KIND),
    Mistake("branch-not-summed", branch_not_summed, explains_zero=True,
            zero_kinds=frozenset({"backward"})),
    Mistake("wrong-op-rule", wrong_op_rule, frozenset({"mul", "div", "add", "sub"})),
    Mistake("mul-not-swapped", mul_not_swapped, frozenset({"mul"})),
    Mistake("max-misrouted", max_misrouted, frozenset({"max", "min"}), explains_zero=True),
    Mistake("sigmoid-derivative", sigmoid_derivative, frozenset({"sigmoid"})),
    Mistake("inv-sign", inv_sign, frozenset({"inv"})),
    Mistake("inv-derivative", inv_derivative, frozenset({"inv"})),
    Mistake("exp-derivative", exp_derivative, frozenset({"exp"})),
    Mistake("log-derivative", log_derivative, frozenset({"log"})),
    Mistake("div-derivative", div_derivative, frozenset({"div"})),
    Mistake("scale-factor", scale_factor, frozenset({"scale", "add_const"})),
    Mistake("local-at-wrong-point", local_at_wrong_point, frozenset({
        "exp", "log", "inv", "sqrt", "sigmoid", "tanh", "sin", "cos", "pow"})),
    Mistake("no-upstream", no_upstream),
    Mistake("percent", percent),
    Mistake("sign-flip", sign_flip, kinds=EVERY_KIND),
    Mistake("forward-as-gradient", forward_as_gradient),
    Mistake("forward-missing-term", forward_missing_term, kinds=FORWARD),
    Mistake("forward-wrong-op", forward_wrong_op, kinds=FORWARD),
)


# Each mistake's short name, for tables and summaries (the code stays the stable id).
_NAMES: dict[str, str] = {
    "swapped-blanks": mark("value and gradient swapped"),
    "branch-not-summed": mark("branches not summed"),
    "wrong-op-rule": mark("another gate's rule"),
    "mul-not-swapped": mark("× inputs not swapped"),
    "max-misrouted": mark("max/min routed wrong"),
    "sigmoid-derivative": mark("wrong sigmoid derivative"),
    "inv-sign": mark("1/x without the minus sign"),
    "inv-derivative": mark("wrong 1/x derivative"),
    "exp-derivative": mark("wrong eˣ derivative"),
    "log-derivative": mark("wrong log derivative"),
    "div-derivative": mark("wrong ÷ derivative"),
    "scale-factor": mark("wrong constant factor"),
    "local-at-wrong-point": mark("local derivative at the wrong point"),
    "no-upstream": mark("upstream gradient left out"),
    "percent": mark("written as a percentage"),
    "sign-flip": mark("sign flipped"),
    "forward-as-gradient": mark("value given as the gradient"),
    "forward-missing-term": mark("a term left out"),
    "forward-wrong-op": mark("another operation"),
}


def mistake_name(code: str) -> str:
    """A mistake's short name in the reader's language (the code itself if unknown)."""
    name = _NAMES.get(code)
    return gettext(name) if name is not None else code


class Diagnosis(NamedTuple):
    """A mistake that explains a wrong value: its code and its message."""

    code: str
    message: str


class _Applicable(NamedTuple):
    registry: Sequence[Mistake]  # kept so that a reused id() is noticed
    mistakes: tuple[Mistake, ...]


_applicable: dict[tuple[int, str, frozenset[str], bool], _Applicable] = {}


def applicable(mistakes: Sequence[Mistake], ops: frozenset[str], *, zero: bool = False,
               kind: str = "backward") -> tuple[Mistake, ...]:
    """The hypotheses worth trying, in order, on a blank of this kind whose gradient
    flows back through gates of these ops (a forward blank: its gate's op), and that
    holds a wrong zero or not: remembered, one list per registry, kind, set of ops and
    zero."""
    key = (id(mistakes), kind, ops, zero)
    found = _applicable.get(key)
    if found is None or found.registry is not mistakes:
        if len(_applicable) > 4096:  # many registries made on the fly: start over
            _applicable.clear()
        found = _applicable[key] = _Applicable(mistakes, tuple(
            m for m in mistakes if kind in m.kinds
            and (m.ops is None or not m.ops.isdisjoint(ops))
            and (not zero or (m.explains_zero and kind in (m.zero_kinds or m.kinds)))))
    return found.mistakes


def candidates(blank: WrongBlank,
               mistakes: Sequence[Mistake] = MISTAKES) -> tuple[Diagnosis, ...]:
    """Every hypothesis `applicable` to the blank that explains its value, in order."""
    found: list[Diagnosis] = []
    for mistake in applicable(mistakes, blank.ops, zero=blank.zero, kind=blank.kind):
        try:
            message = mistake.check(blank)
        except (ArithmeticError, ValueError):
            continue  # a hypothesis that cannot be evaluated here does not match
        if message is not None:
            found.append(Diagnosis(mistake.code, message))
    return tuple(found)


def diagnose(blank: WrongBlank,
             mistakes: Sequence[Mistake] = MISTAKES) -> Diagnosis | None:
    """The code and message of the first hypothesis that explains the wrong value, or
    None (the blank alone: grading also weighs the blanks around it)."""
    found = candidates(blank, mistakes)
    return found[0] if found else None
