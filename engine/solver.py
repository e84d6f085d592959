"""The forward and backward loops, generated from the op registry's expressions.

A gate is a small tuple of ints (its op code, input positions and parameter), and each
loop is one function with a branch per op code that the graph uses, most frequent
first, with the op's expression written inline. So the hot loops make no Python call
per gate, yet every op's math is still written once, in `engine.ops`.

Gates that the loops cannot inline (a variadic op with three or more inputs) run through
the op's functions; gates whose local gradients are given from outside (the other valid
choices at a kink) run through a constant branch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from engine.ops import NAMESPACE, OPS, KinkChoices, Op

GENERAL = 0  # through the op's forward/local functions
CONSTANT = 1  # local gradients fixed in the plan (backward only)

# One gate of a plan, as the loops unpack it. Forward: (code, first input, second input
# or 0, parameter), or for GENERAL (code, a getter of its input values, its functions,
# 0.0). Backward: the gate's position, then the same; for CONSTANT (position, code,
# input positions, local gradients, 0.0).
InputGetter = Callable[[Sequence[float]], tuple[float, ...]]
GeneralForward = tuple[
    Callable[..., float], dict[str, float], Callable[..., KinkChoices | None] | None
]
GeneralBackward = tuple[Callable[..., Any], tuple[int, ...], dict[str, float]]
ForwardStep = tuple[int, int, int, float] | tuple[int, InputGetter, GeneralForward, float]
BackwardStep = (
    tuple[int, int, int, int, float]
    | tuple[int, int, InputGetter, GeneralBackward, float]
    | tuple[int, int, tuple[int, ...], tuple[float, ...], float]
)
# loop(values, plan, kinks) and loop(values, grads, plan): see forward_loop, backward_loop.
ForwardLoop = Callable[[list[float], Sequence[ForwardStep], list[int]], None]
BackwardLoop = Callable[[Sequence[float], list[float], Sequence[BackwardStep]], None]

# (op name, number of inputs) -> code, for every op the loops write inline:
# unary ops, and two-input ops (variadic ones at exactly two inputs).
CODES: dict[tuple[str, int], int] = {}
_KERNELS: dict[int, tuple[Op, int]] = {}
for _op in OPS.values():
    _n = 1 if _op.unary else 2
    CODES[(_op.name, _n)] = len(CODES) + 2
    _KERNELS[CODES[(_op.name, _n)]] = (_op, _n)


class GateFailure(Exception):
    """Raised by the loops when a gate's math fails: carries the gate's position."""

    def __init__(self, position: int, cause: BaseException) -> None:
        self.position = position
        self.cause = cause
        super().__init__(position, cause)


def code_of(op: Op, n_inputs: int) -> int:
    return CODES.get((op.name, n_inputs), GENERAL)


def _uses(expr: str, name: str) -> bool:
    return re.search(rf"\b{name}\b", expr) is not None


def _bind(op: Op, n: int, exprs: Sequence[str], *, output: str | None) -> list[str]:
    """Lines that bind the names the expressions use to the gate's values."""
    text = " ".join(exprs)
    slots = [("x", "i")] if n == 1 else [("x0", "i"), ("x1", "j")]
    # Only the inputs used: most local gradients (add, scale) need no input value.
    lines = [f"{name} = values[{slot}]" for name, slot in slots if _uses(text, name)]
    if op.param and _uses(text, op.param):
        lines.append(f"{op.param} = prm")
    if output and _uses(text, "y"):
        lines.append(f"y = {output}")
    return lines


def _indent(lines: list[str], depth: int) -> str:
    return "".join("    " * depth + line + "\n" for line in lines)


def _compile(source: str, name: str) -> Callable[..., None]:
    namespace = dict(NAMESPACE, GateFailure=GateFailure)
    exec(compile(source, f"<solver {name}>", "exec"), namespace)
    loop: Callable[..., None] = namespace[name]
    return loop


@lru_cache(maxsize=512)
def forward_loop(codes: tuple[int, ...]) -> ForwardLoop:
    """`loop(values, plan, kinks)`: appends every gate's value to `values` (which holds
    the inputs) and the position of every gate sitting on a kink to `kinks`."""
    branches = []
    for code in codes:
        op, n = _KERNELS[code]
        body = _bind(op, n, [op.forward_expr, op.kink_expr or ""], output=None)
        if op.kink_expr:
            body += [f"if {op.kink_expr}:", "    kinks.append(len(values))"]
        body.append(f"append({op.forward_expr})")
        branches.append(f"if code == {code}:\n" + _indent(body, 1))
    general = (
        "fn, params, kink = j\n"
        "xs = i(values)\n"
        "out = fn(xs, params)\n"
        "if kink is not None and kink(xs, out, params) is not None:\n"
        "    kinks.append(len(values))\n"
        "append(out)\n"
    )
    chain = _chain(branches, general, depth=3)
    source = (
        "def forward(values, plan, kinks):\n"
        "    append = values.append\n"
        "    try:\n"
        "        for code, i, j, prm in plan:\n"
        f"{chain}"
        "    except (ArithmeticError, ValueError) as exc:\n"
        "        raise GateFailure(len(values), exc) from None\n"
    )
    return _compile(source, "forward")


@lru_cache(maxsize=512)
def backward_loop(codes: tuple[int, ...]) -> BackwardLoop:
    """`loop(values, grads, plan)`: adds each gate's upstream gradient times its local
    gradients into its inputs' entries of `grads`, gates in reverse order."""
    branches = []
    for code in codes:
        op, n = _KERNELS[code]
        body = _bind(op, n, op.local_exprs, output="values[k]")
        for slot, expr in zip(("i", "j"), op.local_exprs, strict=False):
            if expr == "1.0":
                body.append(f"grads[{slot}] += g")
            elif expr == "-1.0":
                body.append(f"grads[{slot}] -= g")
            else:
                body.append(f"grads[{slot}] += g * ({expr})")
        branches.append(f"if code == {code}:\n" + _indent(body, 1))
    branches.append(
        f"if code == {CONSTANT}:\n"
        "    for jj, d in zip(i, j):\n"
        "        grads[jj] += g * d\n"
    )
    general = (
        "local, ins, params = j\n"
        "for jj, d in zip(ins, local(i(values), values[k], params)):\n"
        "    grads[jj] += g * d\n"
    )
    chain = _chain(branches, general, depth=3)
    source = (
        "def backward(values, grads, plan):\n"
        "    k = -1\n"
        "    try:\n"
        "        for k, code, i, j, prm in plan:\n"
        "            g = grads[k]\n"
        "            if g == 0.0:\n"
        "                continue\n"
        f"{chain}"
        "    except (ArithmeticError, ValueError) as exc:\n"
        "        raise GateFailure(k, exc) from None\n"
    )
    return _compile(source, "backward")


def _chain(branches: list[str], otherwise: str, depth: int) -> str:
    """`if … elif … else` from branch texts that each start with `if`."""
    out = []
    for n, branch in enumerate(branches):
        text = branch if n == 0 else "el" + branch
        out.append(_indent(text.rstrip("\n").split("\n"), depth))
    if branches:
        out.append(_indent(["else:"], depth))
        out.append(_indent(otherwise.rstrip("\n").split("\n"), depth + 1))
    else:
        out.append(_indent(otherwise.rstrip("\n").split("\n"), depth))
    return "".join(out)
