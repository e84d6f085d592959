"""Mistakes in one gate's local derivative: a rule misremembered, another gate's rule,
the right formula taken at the wrong point.

Each hypothesis computes, from the student's own values at the gate, the local gradient
the mistake gives, and asks the blank whether that explains the typed number (for a
gradient blank: that local gradient times the upstream gradient, plus the other
branches). It returns the message naming the rule, else None. Registered in
grader.scoring.mistakes.
"""

from __future__ import annotations

import math

from engine.ops import OPS, local_gradients
from grader.i18n import gettext as _
from grader.scoring.wrong_blank import Edge, WrongBlank

# Ops whose local derivative is a smooth function of the input worth evaluating at
# another point (a kinked one gives 0 or 1 anywhere, which would prove nothing).
_SMOOTH_UNARY = frozenset({"exp", "log", "inv", "sqrt", "sigmoid", "tanh", "sin", "cos",
                           "pow"})


def _fits_local(b: WrongBlank, e: Edge, *locals_: float) -> bool:
    """Whether one of these local gradients at edge e explains the typed number."""
    return any(b.fits(b.total_with(e, local)) for local in locals_)


def _single(e: Edge) -> bool:
    """The node under test fills one slot of a two-input gate: a rule about "the other
    input" applies."""
    return len(e.inputs) == 2 and len(e.slots) == 1


def wrong_op_rule(b: WrongBlank) -> str | None:
    """The local rule of another gate: a × gate's local gradients taken as 1 (as at +),
    a ÷ gate's as the other input (as at ×), a + gate's as the other input, a − gate's
    second as +1."""
    for e in b.edges_at("mul"):
        if len(e.slots) == 1 and _fits_local(b, e, 1.0):
            if len(e.inputs) == 2:
                return _("the × gate ({gate}) swaps its inputs (product: gradient "
                         "“switcher”): its local derivative is the other input, not 1 as "
                         "at a + gate").format(gate=e.consumer)
            return _("the local derivative of the × gate ({gate}) is the product of its "
                     "other inputs, not 1 as at a + gate").format(gate=e.consumer)
    for e in b.edges_at("div"):
        if _single(e) and _fits_local(b, e, e.xs[1 - e.slots[0]]):
            return _("the ÷ gate ({gate}) is not a × gate: its local derivatives are 1/y "
                     "for the numerator x and −x/y² for the denominator y, not the other "
                     "input").format(gate=e.consumer)
    for e in b.edges_at("add"):
        if _single(e) and _fits_local(b, e, e.xs[1 - e.slots[0]]):
            return _("the + gate ({gate}) distributes the gradient (addition: gradient "
                     "distributor): its local derivative is 1, not the other input as at "
                     "a × gate").format(gate=e.consumer)
    for e in b.edges_at("sub"):
        if e.slots == (1,) and _fits_local(b, e, 1.0):
            return _("the − gate ({gate}) subtracts its second input: the local derivative "
                     "for it is −1, not 1 as at a + gate").format(gate=e.consumer)
    return None


def mul_not_swapped(b: WrongBlank) -> str | None:
    """At a ×, used the input's own value instead of the other input's."""
    for e in b.edges_at("mul"):
        if _single(e) and b.fits(b.total_with(e, e.x)):
            return _("the × gate swaps its inputs (product: gradient “switcher”): "
                     "d{gate}/d{wrt} is the other input ({other}), not {wrt} itself").format(
                gate=e.consumer, wrt=b.wrt, other=e.inputs[1 - e.slots[0]])
    return None


def _which(op: str) -> str:
    return _("largest") if op == "max" else _("smallest")


def max_misrouted(b: WrongBlank) -> str | None:
    """At max/min, sent the gradient to an input that did not win, none to the one that
    did, or split it. Judged at the student's own values; at a tie every routing is
    right, so there is nothing to diagnose."""
    for e in b.edges_at("max", "min"):
        best = max(e.xs) if e.op == "max" else min(e.xs)
        winners = [s for s, v in enumerate(e.xs) if v == best]
        if len(winners) != 1:
            continue
        if winners[0] in e.slots:
            if b.fits(b.total_with(e, 0.0)):
                return _("{wrt} is the {which} input of {gate} ({op}: gradient router): the "
                         "whole upstream gradient flows back to it through {gate}").format(
                    wrt=b.wrt, which=_which(e.op), gate=e.consumer, op=e.gate)
        elif b.fits(b.total_with(e, 1.0)):
            return _("{wrt} is not the {which} input of {gate} ({op}: gradient router): no "
                     "gradient flows back to it through {gate}").format(
                wrt=b.wrt, which=_which(e.op), gate=e.consumer, op=e.gate)
        if b.fits(b.total_with(e, len(e.slots) / len(e.inputs))):
            return _("{op} does not split the upstream gradient between its inputs "
                     "(gradient router): it all flows back to the {which} one (at "
                     "{gate})").format(op=e.gate, which=_which(e.op), gate=e.consumer)
    return None


def sigmoid_derivative(b: WrongBlank) -> str | None:
    """σ′ taken as σ, 1 − σ, σ², x, or as σ′ of the gate's output."""
    for e in b.edges_at("sigmoid"):
        y = e.y
        at_output = local_gradients(OPS["sigmoid"], [y], OPS["sigmoid"].forward(y, {}), {})
        if _fits_local(b, e, y, 1.0 - y, y * y, e.x, at_output[0]):
            return _("the sigmoid function's local derivative is (1 − σ(x))·σ(x), with "
                     "σ(x) the output of the σ gate ({gate}): not σ(x), 1 − σ(x), σ(x)² or "
                     "x, nor σ′ taken at the output").format(gate=e.consumer)
    return None


def inv_sign(b: WrongBlank) -> str | None:
    """1/x² without the minus sign."""
    for e in b.edges_at("inv"):
        if b.fits(b.total_with(e, -e.local)):
            return _("the local derivative of the 1/x gate ({gate}) is −1/x²: the minus sign "
                     "is missing").format(gate=e.consumer)
    return None


def inv_derivative(b: WrongBlank) -> str | None:
    """-1/x (or 1/x, the output itself) instead of -1/x²."""
    for e in b.edges_at("inv"):
        if _fits_local(b, e, -e.y, e.y):
            return _("the local derivative of the 1/x gate ({gate}) is −1/x², not −1/x or "
                     "1/x").format(gate=e.consumer)
    return None


def exp_derivative(b: WrongBlank) -> str | None:
    """Used x, 1 or x·e^(x−1) (the power rule) as the local gradient of e^x."""
    for e in b.edges_at("exp"):
        if _fits_local(b, e, e.x, 1.0, e.x * math.exp(e.x - 1.0)):
            return _("the local derivative of the eˣ gate ({gate}) is eˣ itself (the gate's "
                     "own output), not x, 1 or x·eˣ⁻¹").format(gate=e.consumer)
    return None


def log_derivative(b: WrongBlank) -> str | None:
    """Used ln x (the output) or x as the local gradient of ln x."""
    for e in b.edges_at("log"):
        if _fits_local(b, e, e.y, e.x):
            return _("the local derivative of the ln gate ({gate}) is 1/x, not ln x or "
                     "x").format(gate=e.consumer)
    return None


def div_derivative(b: WrongBlank) -> str | None:
    """At x/y: −1/y² without x, x/y² without the sign, −x/y without the square, −x or y
    not divided by y² (the quotient rule half done), or 1/y² for the numerator."""
    for e in b.edges_at("div"):
        if len(e.slots) != 1:
            continue
        x, y = e.xs
        wrong = (-1.0 / (y * y), x / (y * y), -x / y, -x) if e.slots == (1,) else (
            1.0 / (y * y), y)
        if _fits_local(b, e, *wrong):
            return _("the local derivatives of the ÷ gate ({gate} = x/y) are 1/y for x and "
                     "−x/y² for y (the quotient rule, done in full)").format(gate=e.consumer)
    return None


def scale_factor(b: WrongBlank) -> str | None:
    """At ×a forgot the factor a; at +c multiplied by c."""
    for e in b.edges_at("scale"):
        if b.fits(b.total_with(e, 1.0)):
            return _("the local derivative of the {op} gate ({gate}) is its factor: it was "
                     "left out").format(op=e.gate, gate=e.consumer)
    for e in b.edges_at("add_const"):
        if b.fits(b.total_with(e, e.params["c"])):
            return _("the local derivative of the {op} gate ({gate}) is 1: the constant adds, "
                     "it does not multiply").format(op=e.gate, gate=e.consumer)
    return None


def local_at_wrong_point(b: WrongBlank) -> str | None:
    """The right local-derivative formula of a one-input gate, taken at the upstream
    gradient or at the gate's output instead of at its input."""
    for e in b.edges:
        if e.op not in _SMOOTH_UNARY:
            continue
        op = OPS[e.op]
        for point in (e.upstream, e.y):
            try:
                local = local_gradients(op, [point], op.forward(point, e.params), e.params)[0]
            except (ArithmeticError, ValueError):
                continue
            if b.fits(b.total_with(e, local)):
                if point == e.upstream:
                    return _("the formula of the local derivative of the {op} gate ({gate}) "
                             "is right, but take it at the gate's input ({wrt}), not at the "
                             "upstream gradient").format(op=e.gate, gate=e.consumer,
                                                         wrt=e.inputs[e.slots[0]])
                return _("the formula of the local derivative of the {op} gate ({gate}) is "
                         "right, but take it at the gate's input ({wrt}), not at its "
                         "output").format(op=e.gate, gate=e.consumer, wrt=e.inputs[e.slots[0]])
    return None
