"""Mistakes in the forward pass: another gate's value (min for max), a term left out.
(A flipped sign is `sign-flip`, in grader.scoring.mistakes_flow.) Each hypothesis
computes the value from the student's own input values. Registered in
grader.scoring.mistakes."""

from __future__ import annotations

import math

from engine.ops import OPS, evaluate, num
from grader.i18n import gettext as _
from grader.scoring import feedback
from grader.scoring.wrong_blank import Edge, WrongBlank

# Gates students take for one another, with the parameters the other gate would read.
_CONFUSED: dict[str, tuple[str, ...]] = {
    "max": ("min",), "min": ("max",), "add": ("mul",), "mul": ("add",), "sub": ("add",),
    "div": ("mul",), "scale": ("add_const",), "add_const": ("scale",), "sin": ("cos",),
    "cos": ("sin",), "tanh": ("sigmoid",), "sigmoid": ("tanh",),
}
# Gates whose inputs may be taken in the wrong order.
_ORDERED = frozenset({"sub", "div"})


def _other_params(op: str, edge: Edge) -> dict[str, float]:
    """The parameters of `op` a student would use in place of the gate's (+c for ×a)."""
    if op == "add_const":
        return {"c": edge.params["a"]}
    if op == "scale":
        return {"a": edge.params["c"]}
    return {}


def forward_wrong_op(b: WrongBlank) -> str | None:
    """The value another gate would give on the same inputs (min for max, + for ×), or
    a − or ÷ with its inputs the other way round."""
    if b.kind != "forward":
        return None
    edge = b.edges[0]
    shown = feedback.formula(edge.op, edge.inputs, edge.params)
    for other in _CONFUSED.get(edge.op, ()):
        params = _other_params(other, edge)
        if len(edge.xs) > 2 and OPS[other].max_inputs == 2:
            continue
        if b.fits(evaluate(OPS[other], edge.xs, params)):
            return _("this is what a {other} gate gives: {node} = {formula} is a {gate} "
                     "gate").format(other=feedback.gate_symbol(other, params), node=b.node,
                                    formula=shown, gate=edge.gate)
    if edge.op in _ORDERED and b.fits(evaluate(OPS[edge.op], edge.xs[::-1], edge.params)):
        return _("the inputs are taken the other way round: {node} = {formula}").format(
            node=b.node, formula=shown)
    return None


def forward_missing_term(b: WrongBlank) -> str | None:
    """A +, −, ×, +c or ×a gate that left out one of its inputs, or its constant."""
    if b.kind != "forward":
        return None
    edge = b.edges[0]
    xs = edge.xs
    left_out: list[tuple[str, float]] = []  # (what was left out, the value without it)
    if edge.op in ("add", "mul"):
        for s, name in enumerate(edge.inputs):
            rest = xs[:s] + xs[s + 1:]
            left_out.append((name, math.fsum(rest) if edge.op == "add" else math.prod(rest)))
    elif edge.op == "sub":
        left_out += [(edge.inputs[1], xs[0]), (edge.inputs[0], -xs[1])]
    elif edge.op == "add_const":
        c = edge.params["c"]
        left_out += [(_("the constant {c}").format(c=num(c)), xs[0]), (edge.inputs[0], c)]
    elif edge.op == "scale":
        left_out.append((_("the factor {a}").format(a=num(edge.params["a"])), xs[0]))
    for missing, value in left_out:
        if b.fits(value):
            return _("{node} = {formula}: this leaves out {missing}").format(
                node=b.node, formula=feedback.formula(edge.op, edge.inputs, edge.params),
                missing=missing)
    return None
