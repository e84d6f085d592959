"""The op registry: every gate's forward value and local gradients, side by side.

Each op states its math once, as small Python expressions over

* ``x`` (a unary op's input) or ``x0``, ``x1`` (a two-input op's inputs),
* ``y`` (the gate's own output, handy for exp, sigmoid, tanh, sqrt, inv),
* its parameters by name (``a`` for scale, ``c`` for add_const, ``p`` for pow).

From those expressions this module builds the op's ``forward`` and ``local`` functions
(used by the worked solution, the finite-difference checks and the scoring), and
``engine.solver`` builds the solver's loops, with the expressions written inline so a
100,000-gate graph costs no Python call per gate. The expressions are this file's own
text, never user input. Ops that take any number of inputs (add, mul, max, min) add
plain functions for three or more inputs.

Calling conventions of the built functions: unary ops take the input value ``x`` and
return ``d out / d x``; all other ops take ``xs``, a tuple of input values, and return
one local gradient per input slot. ``params`` is the gate's parameter mapping. A
forward function may raise ``ValueError``/``ZeroDivisionError``/``OverflowError`` or
return a non-finite number; the solver turns either into a located domain error.

Each op also states the facts grading needs about its local gradients: which input
slots each one reads (``local_reads``; none at all makes them constants), and which input
values leave nothing to compute at the gate (``degenerate_feeds``).

Adding an op is one ``_register(...)`` call below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Params = Mapping[str, float]
# Formula text builders get the display names of the inputs and the params.
Describe = Callable[[Sequence[str], Params], str]
DescribeLocal = Callable[[int, Sequence[str], Params], str]
KinkChoices = tuple[tuple[float, ...], ...]
# Which input slots the local gradient for one slot reads, directly or through the gate's
# output: "none" (a constant), "others" (every slot but its own: mul), "all", or the
# slots read for each slot of an op of fixed arity.
LocalReads = Literal["none", "others", "all"] | tuple[tuple[int, ...], ...]


def _sigmoid(x: float) -> float:
    # Two branches so that neither exp() can overflow.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


# What the expressions may call.
NAMESPACE: dict[str, Any] = {"math": math, "_sigmoid": _sigmoid}


@dataclass(frozen=True, slots=True)
class Many:
    """How a variadic op handles three or more inputs (xs is a tuple)."""

    forward: Callable[[Sequence[float]], float]
    local: Callable[[Sequence[float], float], tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class Op:
    """One gate type.

    ``forward_expr`` and ``local_exprs`` state the math (see the module docstring);
    ``kink_expr``, for ops not differentiable everywhere, is true exactly at a kink, and
    ``kink`` then gives the extreme local gradients (one tuple per choice) whose convex
    hull is the set of valid subgradients; ``local`` returns one of them (the
    documented convention).

    ``local_reads`` (see ``LocalReads``) and ``degenerate_feeds`` are what grading knows
    about the op: a wrong input value the local gradient does not read cannot change it,
    and an input equal to a degenerate feed (0 or 1 entering mul: 0·y = 0, 1·y = y)
    leaves nothing to compute at the gate.
    """

    name: str
    min_inputs: int
    max_inputs: int | None  # None: any number >= min_inputs
    params: tuple[str, ...]
    forward_expr: str
    local_exprs: tuple[str, ...]
    show: Describe  # the forward expression, e.g. "w0·x0"
    show_local: DescribeLocal  # d out / d input k, e.g. "w0"
    summary: str
    many: Many | None = None
    kink_expr: str | None = None
    kink: Callable[..., KinkChoices | None] | None = None
    local_reads: LocalReads = "all"
    degenerate_feeds: tuple[float, ...] = ()
    forward: Callable[..., float] = field(init=False)
    local: Callable[..., Any] = field(init=False)

    def __post_init__(self) -> None:
        forward, local = _build_functions(self)
        object.__setattr__(self, "forward", forward)
        object.__setattr__(self, "local", local)

    @property
    def unary(self) -> bool:
        return self.max_inputs == 1

    @property
    def param(self) -> str | None:
        """The op's one parameter, if any (the solver passes it by value)."""
        return self.params[0] if self.params else None

    @property
    def constant_local(self) -> bool:
        """Its local gradients read no input value, only parameters (1 for add, a for
        scale): the same whatever values the inputs hold."""
        return self.local_reads == "none"

    def slots_read(self, slot: int, arity: int) -> tuple[int, ...]:
        """The input slots that d out / d (input in `slot`) reads, for a gate of `arity`
        inputs."""
        reads = self.local_reads
        if reads == "none":
            return ()
        if reads == "all":
            return tuple(range(arity))
        if reads == "others":
            return tuple(s for s in range(arity) if s != slot)
        return reads[slot]

    def arity_text(self) -> str:
        if self.max_inputs == self.min_inputs:
            n = self.min_inputs
            return f"exactly {n} input" + ("" if n == 1 else "s")
        if self.max_inputs is None:
            return f"{self.min_inputs} or more inputs"
        return f"{self.min_inputs} to {self.max_inputs} inputs"


def _build_functions(op: Op) -> tuple[Callable[..., float], Callable[..., Any]]:
    """Compile the op's expressions into its `forward(x|xs, params)` and
    `local(x|xs, y, params)` functions."""
    bind_param = f"    {op.param} = params[{op.param!r}]\n" if op.param else ""
    if op.unary:
        bind_inputs = ""
        args = "x"
        local_value = op.local_exprs[0]
    else:
        bind_inputs = "    x0, x1 = xs\n"
        args = "xs"
        local_value = "(" + ", ".join(op.local_exprs) + ",)"
    many_forward = many_local = ""
    if op.many is not None:
        many_forward = "    if len(xs) != 2:\n        return _many.forward(xs)\n"
        many_local = "    if len(xs) != 2:\n        return _many.local(xs, y)\n"
    source = (
        f"def forward({args}, params):\n{many_forward}{bind_inputs}{bind_param}"
        f"    return {op.forward_expr}\n"
        f"def local({args}, y, params):\n{many_local}{bind_inputs}{bind_param}"
        f"    return {local_value}\n"
    )
    namespace = dict(NAMESPACE, _many=op.many)
    exec(compile(source, f"<op {op.name}>", "exec"), namespace)
    return namespace["forward"], namespace["local"]


OPS: dict[str, Op] = {}


def _register(op: Op) -> None:
    OPS[op.name] = op


def num(value: float) -> str:
    """A parameter as the formulas show it: integers without a trailing `.0`."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _all_but(k: int, names: Sequence[str]) -> str:
    others = [n for i, n in enumerate(names) if i != k]
    return "·".join(others) if others else "1"


def _product_except(xs: Sequence[float], k: int) -> float:
    p = 1.0
    for i, v in enumerate(xs):
        if i != k:
            p *= v
    return p


def _route_to(winner: Callable[[Sequence[float]], float]) -> Callable[..., tuple[float, ...]]:
    """max/min of several inputs: the gradient goes to the first winner (found from
    the inputs, so a caller may pass any output, e.g. a student's)."""

    def local(xs: Sequence[float], _y: float) -> tuple[float, ...]:
        k = xs.index(winner(xs))
        return tuple(1.0 if i == k else 0.0 for i in range(len(xs)))

    return local


def _tie_kink(xs: Sequence[float], y: float, _p: Params) -> KinkChoices | None:
    tied = [i for i, v in enumerate(xs) if v == y]
    if len(tied) < 2:
        return None
    return tuple(tuple(1.0 if i == k else 0.0 for i in range(len(xs))) for k in tied)


def _zero_kink(choices: KinkChoices) -> Callable[..., KinkChoices | None]:
    def kink(x: float, _y: float, _p: Params) -> KinkChoices | None:
        return choices if x == 0.0 else None

    return kink


_register(Op(
    "add", 2, None, (),
    forward_expr="x0 + x1",
    local_exprs=("1.0", "1.0"),
    many=Many(forward=math.fsum, local=lambda xs, _y: (1.0,) * len(xs)),
    show=lambda n, _p: " + ".join(n),
    show_local=lambda k, n, _p: "1",
    summary="sum of the inputs; distributes the upstream gradient unchanged",
    local_reads="none",
))
_register(Op(
    "sub", 2, 2, (),
    forward_expr="x0 - x1",
    local_exprs=("1.0", "-1.0"),
    show=lambda n, _p: f"{n[0]} - {n[1]}",
    show_local=lambda k, n, _p: "1" if k == 0 else "-1",
    summary="first input minus the second",
    local_reads="none",
))
_register(Op(
    "mul", 2, None, (),
    forward_expr="x0 * x1",
    local_exprs=("x1", "x0"),
    # The product of the other inputs, computed directly so that a zero input is fine.
    many=Many(forward=math.prod,
              local=lambda xs, _y: tuple(_product_except(xs, k) for k in range(len(xs)))),
    show=lambda n, _p: "·".join(n),
    show_local=lambda k, n, _p: _all_but(k, n),
    summary="product; each input's local gradient is the other inputs' product (a swap)",
    local_reads="others",
    degenerate_feeds=(0.0, 1.0),  # 0·y = 0, 1·y = y
))
_register(Op(
    "div", 2, 2, (),
    forward_expr="x0 / x1",
    local_exprs=("1.0 / x1", "-x0 / (x1 * x1)"),
    show=lambda n, _p: f"{n[0]} / {n[1]}",
    show_local=lambda k, n, _p: f"1/{n[1]}" if k == 0 else f"-{n[0]}/{n[1]}²",
    summary="first input divided by the second",
    local_reads=((1,), (0, 1)),  # 1/x1 and -x0/x1²
    degenerate_feeds=(0.0, 1.0),  # 0/y = 0, y/1 = y
))
_register(Op(
    "neg", 1, 1, (),
    forward_expr="-x",
    local_exprs=("-1.0",),
    show=lambda n, _p: f"-{n[0]}",
    show_local=lambda k, n, _p: "-1",
    summary="-x",
    local_reads="none",
))
_register(Op(
    "scale", 1, 1, ("a",),
    forward_expr="a * x",
    local_exprs=("a",),
    show=lambda n, p: f"{num(p['a'])}·{n[0]}",
    show_local=lambda k, n, p: f"a = {num(p['a'])}",
    summary="a·x, for a constant a",
    local_reads="none",
    degenerate_feeds=(0.0, 1.0),  # a·0 = 0, a·1 = a
))
_register(Op(
    "add_const", 1, 1, ("c",),
    forward_expr="c + x",
    local_exprs=("1.0",),
    show=lambda n, p: f"{num(p['c'])} + {n[0]}",
    show_local=lambda k, n, _p: "1",
    summary="c + x, for a constant c",
    local_reads="none",
))
_register(Op(
    "pow", 1, 1, ("p",),
    # math.pow, not **: it raises on a negative base with a fractional power
    forward_expr="math.pow(x, p)",
    local_exprs=("p * math.pow(x, p - 1.0)",),
    show=lambda n, p: f"{n[0]}^{num(p['p'])}",
    show_local=lambda k, n, p: f"{num(p['p'])}·{n[0]}^{num(p['p'] - 1.0)}",
    summary="x^p, for a constant p",
))
_register(Op(
    "sqrt", 1, 1, (),
    forward_expr="math.sqrt(x)",
    local_exprs=("0.5 / y",),
    show=lambda n, _p: f"√{n[0]}",
    show_local=lambda k, n, _p: f"1/(2·√{n[0]})",
    summary="square root",
))
_register(Op(
    "exp", 1, 1, (),
    forward_expr="math.exp(x)",
    local_exprs=("y",),
    show=lambda n, _p: f"e^{n[0]}",
    show_local=lambda k, n, _p: f"e^{n[0]}",
    summary="e^x; its local gradient is e^x itself",
    degenerate_feeds=(0.0,),  # e^0 = 1
))
_register(Op(
    "log", 1, 1, (),
    forward_expr="math.log(x)",
    local_exprs=("1.0 / x",),
    show=lambda n, _p: f"ln {n[0]}",
    show_local=lambda k, n, _p: f"1/{n[0]}",
    summary="natural logarithm",
))
_register(Op(
    "inv", 1, 1, (),
    forward_expr="1.0 / x",
    local_exprs=("-(y * y)",),
    show=lambda n, _p: f"1/{n[0]}",
    show_local=lambda k, n, _p: f"-1/{n[0]}²",
    summary="1/x; its local gradient is -1/x²",
    degenerate_feeds=(1.0,),  # 1/1 = 1
))
_register(Op(
    "abs", 1, 1, (),
    forward_expr="abs(x)",
    local_exprs=("(1.0 if x > 0.0 else -1.0 if x < 0.0 else 0.0)",),
    kink_expr="x == 0.0",
    kink=_zero_kink(((-1.0,), (1.0,))),
    show=lambda n, _p: f"|{n[0]}|",
    show_local=lambda k, n, _p: f"sign({n[0]})",
    summary="absolute value",
))
_register(Op(
    "max", 2, None, (),
    forward_expr="x0 if x0 >= x1 else x1",
    local_exprs=("1.0 if x0 >= x1 else 0.0", "0.0 if x0 >= x1 else 1.0"),
    many=Many(forward=max, local=_route_to(max)),
    kink_expr="x0 == x1",
    kink=_tie_kink,
    show=lambda n, _p: f"max({', '.join(n)})",
    show_local=lambda k, n, _p: f"[{n[k]} is the max]",
    summary="largest input; routes the upstream gradient to it",
))
_register(Op(
    "min", 2, None, (),
    forward_expr="x0 if x0 <= x1 else x1",
    local_exprs=("1.0 if x0 <= x1 else 0.0", "0.0 if x0 <= x1 else 1.0"),
    many=Many(forward=min, local=_route_to(min)),
    kink_expr="x0 == x1",
    kink=_tie_kink,
    show=lambda n, _p: f"min({', '.join(n)})",
    show_local=lambda k, n, _p: f"[{n[k]} is the min]",
    summary="smallest input; routes the upstream gradient to it",
))
_register(Op(
    "relu", 1, 1, (),
    forward_expr="x if x > 0.0 else 0.0",
    local_exprs=("1.0 if x > 0.0 else 0.0",),
    kink_expr="x == 0.0",
    kink=_zero_kink(((0.0,), (1.0,))),
    show=lambda n, _p: f"max(0, {n[0]})",
    show_local=lambda k, n, _p: f"[{n[0]} > 0]",
    summary="max(0, x)",
))
_register(Op(
    "sigmoid", 1, 1, (),
    forward_expr="_sigmoid(x)",
    local_exprs=("y * (1.0 - y)",),
    show=lambda n, _p: f"σ({n[0]})",
    show_local=lambda k, n, _p: f"σ({n[0]})·(1 - σ({n[0]}))",
    summary="1/(1 + e^-x); its local gradient is σ(x)(1 - σ(x))",
))
_register(Op(
    "tanh", 1, 1, (),
    forward_expr="math.tanh(x)",
    local_exprs=("1.0 - y * y",),
    show=lambda n, _p: f"tanh({n[0]})",
    show_local=lambda k, n, _p: f"1 - tanh({n[0]})²",
    summary="hyperbolic tangent",
))
_register(Op(
    "sin", 1, 1, (),
    forward_expr="math.sin(x)",
    local_exprs=("math.cos(x)",),
    show=lambda n, _p: f"sin({n[0]})",
    show_local=lambda k, n, _p: f"cos({n[0]})",
    summary="sine (radians)",
))
_register(Op(
    "cos", 1, 1, (),
    forward_expr="math.cos(x)",
    local_exprs=("-math.sin(x)",),
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
