"""The op registry: every gate's forward function and local gradient, side by side.

Calling conventions (chosen so the solver's hot loop can use `operator.itemgetter`):

* unary ops receive the input value ``x`` (a float) and return ``d out / d x`` as a float;
* all other ops receive ``xs``, a tuple of input values, and return one local gradient
  per input slot, in order.

``params`` is the gate's parameter mapping (``{"a": -1.0}`` for ``scale``). A forward
function may raise ``ValueError``/``ZeroDivisionError``/``OverflowError`` or return a
non-finite number; the solver turns either into a located domain error.

Adding an op is one ``_register(Op(...))`` call below: its name, arity, parameters,
forward, local gradient, the formulas the worked solution shows, and (for ops that are
not differentiable everywhere) the valid subgradients at a kink.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

Params = Mapping[str, float]
# Formula text builders get the display names of the inputs and the params.
Describe = Callable[[Sequence[str], Params], str]
DescribeLocal = Callable[[int, Sequence[str], Params], str]


@dataclass(frozen=True, slots=True)
class Op:
    """One gate type.

    ``kink`` returns ``None`` where the op is differentiable, and otherwise the extreme
    local gradients (one tuple per choice) whose convex hull is the set of valid
    subgradients; ``local`` must return one of them (the documented convention).
    """

    name: str
    min_inputs: int
    max_inputs: int | None  # None: any number >= min_inputs
    params: tuple[str, ...]
    forward: Callable[..., float]
    local: Callable[..., Any] | None  # None: derived from constant_local
    show: Describe  # the forward expression, e.g. "w0·x0"
    show_local: DescribeLocal  # d out / d input k, e.g. "w0"
    kink: Callable[..., tuple[tuple[float, ...], ...] | None] | None = None
    summary: str = ""
    # For ops whose local gradients do not depend on the point (add, scale, ...):
    # (number of inputs, params) -> one local gradient per slot. The solver then
    # computes them once per gate instead of once per backward pass.
    constant_local: Callable[[int, Params], tuple[float, ...]] | None = None

    @property
    def unary(self) -> bool:
        return self.max_inputs == 1

    def arity_text(self) -> str:
        if self.max_inputs == self.min_inputs:
            n = self.min_inputs
            return f"exactly {n} input" + ("" if n == 1 else "s")
        if self.max_inputs is None:
            return f"{self.min_inputs} or more inputs"
        return f"{self.min_inputs} to {self.max_inputs} inputs"


OPS: dict[str, Op] = {}


def _register(op: Op) -> None:
    const = op.constant_local
    if op.local is None and const is not None:
        if op.unary:
            op = replace(op, local=lambda _x, _y, p: const(1, p)[0])
        else:
            op = replace(op, local=lambda xs, _y, p: const(len(xs), p))
    OPS[op.name] = op


def num(value: float) -> str:
    """A parameter as the formulas show it: integers without a trailing `.0`."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _sigmoid(x: float) -> float:
    # Two branches so that neither exp() can overflow.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _all_but(k: int, names: Sequence[str]) -> str:
    others = [n for i, n in enumerate(names) if i != k]
    return "·".join(others) if others else "1"


def _product_except(xs: Sequence[float], k: int) -> float:
    p = 1.0
    for i, v in enumerate(xs):
        if i != k:
            p *= v
    return p


def _mul_forward(xs: Sequence[float], _: Params) -> float:
    if len(xs) == 2:
        return xs[0] * xs[1]
    return math.prod(xs)


def _mul_local(xs: Sequence[float], _y: float, _p: Params) -> tuple[float, ...]:
    if len(xs) == 2:
        return (xs[1], xs[0])
    # The product of the other inputs, computed directly so that a zero input is fine.
    return tuple(_product_except(xs, k) for k in range(len(xs)))


def _route_local(xs: Sequence[float], y: float, _p: Params) -> tuple[float, ...]:
    """max/min: the gradient goes to the first input that wins, all others get 0."""
    if len(xs) == 2:
        return (1.0, 0.0) if xs[0] == y else (0.0, 1.0)
    k = xs.index(y)
    return tuple(1.0 if i == k else 0.0 for i in range(len(xs)))


def _tie_kink(xs: Sequence[float], y: float, _p: Params) -> tuple[tuple[float, ...], ...] | None:
    tied = [i for i, v in enumerate(xs) if v == y]
    if len(tied) < 2:
        return None
    return tuple(tuple(1.0 if i == k else 0.0 for i in range(len(xs))) for k in tied)


def _signed_kink(x: float, _y: float, _p: Params) -> tuple[tuple[float, ...], ...] | None:
    return ((-1.0,), (1.0,)) if x == 0.0 else None


def _relu_kink(x: float, _y: float, _p: Params) -> tuple[tuple[float, ...], ...] | None:
    return ((0.0,), (1.0,)) if x == 0.0 else None


_register(Op(
    "add", 2, None, (),
    forward=lambda xs, _p: math.fsum(xs) if len(xs) > 2 else xs[0] + xs[1],
    local=None,
    constant_local=lambda n, _p: (1.0,) * n,
    show=lambda n, _p: " + ".join(n),
    show_local=lambda k, n, _p: "1",
    summary="sum of the inputs; distributes the upstream gradient unchanged",
))
_register(Op(
    "sub", 2, 2, (),
    forward=lambda xs, _p: xs[0] - xs[1],
    local=None,
    constant_local=lambda n, _p: (1.0, -1.0),
    show=lambda n, _p: f"{n[0]} - {n[1]}",
    show_local=lambda k, n, _p: "1" if k == 0 else "-1",
    summary="first input minus the second",
))
_register(Op(
    "mul", 2, None, (),
    forward=_mul_forward,
    local=_mul_local,
    show=lambda n, _p: "·".join(n),
    show_local=lambda k, n, _p: _all_but(k, n),
    summary="product; each input's local gradient is the other inputs' product (a swap)",
))
_register(Op(
    "div", 2, 2, (),
    forward=lambda xs, _p: xs[0] / xs[1],
    local=lambda xs, _y, _p: (1.0 / xs[1], -xs[0] / (xs[1] * xs[1])),
    show=lambda n, _p: f"{n[0]} / {n[1]}",
    show_local=lambda k, n, _p: f"1/{n[1]}" if k == 0 else f"-{n[0]}/{n[1]}²",
    summary="first input divided by the second",
))
_register(Op(
    "neg", 1, 1, (),
    forward=lambda x, _p: -x,
    local=None,
    constant_local=lambda n, _p: (-1.0,),
    show=lambda n, _p: f"-{n[0]}",
    show_local=lambda k, n, _p: "-1",
    summary="-x",
))
_register(Op(
    "scale", 1, 1, ("a",),
    forward=lambda x, p: p["a"] * x,
    local=None,
    constant_local=lambda n, p: (p["a"],),
    show=lambda n, p: f"{num(p['a'])}·{n[0]}",
    show_local=lambda k, n, p: f"a = {num(p['a'])}",
    summary="a·x, for a constant a",
))
_register(Op(
    "add_const", 1, 1, ("c",),
    forward=lambda x, p: p["c"] + x,
    local=None,
    constant_local=lambda n, _p: (1.0,),
    show=lambda n, p: f"{num(p['c'])} + {n[0]}",
    show_local=lambda k, n, _p: "1",
    summary="c + x, for a constant c",
))
_register(Op(
    "pow", 1, 1, ("p",),
    forward=lambda x, p: math.pow(x, p["p"]),
    local=lambda x, _y, p: p["p"] * math.pow(x, p["p"] - 1.0),
    show=lambda n, p: f"{n[0]}^{num(p['p'])}",
    show_local=lambda k, n, p: f"{num(p['p'])}·{n[0]}^{num(p['p'] - 1.0)}",
    summary="x^p, for a constant p",
))
_register(Op(
    "sqrt", 1, 1, (),
    forward=lambda x, _p: math.sqrt(x),
    local=lambda x, y, _p: 0.5 / y,
    show=lambda n, _p: f"√{n[0]}",
    show_local=lambda k, n, _p: f"1/(2·√{n[0]})",
    summary="square root",
))
_register(Op(
    "exp", 1, 1, (),
    forward=lambda x, _p: math.exp(x),
    local=lambda x, y, _p: y,
    show=lambda n, _p: f"e^{n[0]}",
    show_local=lambda k, n, _p: f"e^{n[0]}",
    summary="e^x; its local gradient is e^x itself",
))
_register(Op(
    "log", 1, 1, (),
    forward=lambda x, _p: math.log(x),
    local=lambda x, _y, _p: 1.0 / x,
    show=lambda n, _p: f"ln {n[0]}",
    show_local=lambda k, n, _p: f"1/{n[0]}",
    summary="natural logarithm",
))
_register(Op(
    "inv", 1, 1, (),
    forward=lambda x, _p: 1.0 / x,
    local=lambda x, y, _p: -(y * y),
    show=lambda n, _p: f"1/{n[0]}",
    show_local=lambda k, n, _p: f"-1/{n[0]}²",
    summary="1/x; its local gradient is -1/x²",
))
_register(Op(
    "abs", 1, 1, (),
    forward=lambda x, _p: abs(x),
    local=lambda x, _y, _p: 1.0 if x > 0 else (-1.0 if x < 0 else 0.0),
    show=lambda n, _p: f"|{n[0]}|",
    show_local=lambda k, n, _p: f"sign({n[0]})",
    kink=_signed_kink,
    summary="absolute value",
))
_register(Op(
    "max", 2, None, (),
    forward=lambda xs, _p: max(xs),
    local=_route_local,
    show=lambda n, _p: f"max({', '.join(n)})",
    show_local=lambda k, n, _p: f"[{n[k]} is the max]",
    kink=_tie_kink,
    summary="largest input; routes the upstream gradient to it",
))
_register(Op(
    "min", 2, None, (),
    forward=lambda xs, _p: min(xs),
    local=_route_local,
    show=lambda n, _p: f"min({', '.join(n)})",
    show_local=lambda k, n, _p: f"[{n[k]} is the min]",
    kink=_tie_kink,
    summary="smallest input; routes the upstream gradient to it",
))
_register(Op(
    "relu", 1, 1, (),
    forward=lambda x, _p: x if x > 0.0 else 0.0,
    local=lambda x, _y, _p: 1.0 if x > 0.0 else 0.0,
    show=lambda n, _p: f"max(0, {n[0]})",
    show_local=lambda k, n, _p: f"[{n[0]} > 0]",
    kink=_relu_kink,
    summary="max(0, x)",
))
_register(Op(
    "sigmoid", 1, 1, (),
    forward=lambda x, _p: _sigmoid(x),
    local=lambda x, y, _p: y * (1.0 - y),
    show=lambda n, _p: f"σ({n[0]})",
    show_local=lambda k, n, _p: f"σ({n[0]})·(1 - σ({n[0]}))",
    summary="1/(1 + e^-x); its local gradient is σ(x)(1 - σ(x))",
))
_register(Op(
    "tanh", 1, 1, (),
    forward=lambda x, _p: math.tanh(x),
    local=lambda x, y, _p: 1.0 - y * y,
    show=lambda n, _p: f"tanh({n[0]})",
    show_local=lambda k, n, _p: f"1 - tanh({n[0]})²",
    summary="hyperbolic tangent",
))
_register(Op(
    "sin", 1, 1, (),
    forward=lambda x, _p: math.sin(x),
    local=lambda x, _y, _p: math.cos(x),
    show=lambda n, _p: f"sin({n[0]})",
    show_local=lambda k, n, _p: f"cos({n[0]})",
    summary="sine (radians)",
))
_register(Op(
    "cos", 1, 1, (),
    forward=lambda x, _p: math.cos(x),
    local=lambda x, _y, _p: -math.sin(x),
    show=lambda n, _p: f"cos({n[0]})",
    show_local=lambda k, n, _p: f"-sin({n[0]})",
    summary="cosine (radians)",
))


def local_gradients(op: Op, xs: Sequence[float], y: float, params: Params) -> tuple[float, ...]:
    """The op's local gradients as a tuple, whatever its arity."""
    if op.unary:
        return (float(op.local(xs[0], y, params)),)
    return tuple(op.local(tuple(xs), y, params))


def evaluate(op: Op, xs: Sequence[float], params: Params) -> float:
    """The op's forward value for a list of inputs, whatever its arity."""
    return float(op.forward(xs[0] if op.unary else tuple(xs), params))

