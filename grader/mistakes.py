"""The registry of diagnosed backprop mistakes.

A wrong backward or local blank is tested against named hypotheses, each computed from
the student's *own* numbers (their forward values and upstream gradients): "had you
forgotten the upstream gradient, you would have typed exactly this". The first
hypothesis that matches names the rule broken.

Each hypothesis is one small function taking the `WrongBlank` and returning the message
(a rule, never the reference number) when it matches, else None. Adding one is writing
the function and adding one line to MISTAKES; the order there is the order of trial,
most specific first (at an inv gate the dropped minus sign is `inv-sign`, not the
generic `sign-flip`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Edge:
    """How gradient flows from one consumer gate back to the node under test, evaluated
    at the student's own values."""

    consumer: str
    op: str
    params: Mapping[str, float]
    inputs: tuple[str, ...]  # the consumer's input ids, by slot
    xs: tuple[float, ...]  # the student's values of those inputs
    y: float  # the student's value of the consumer
    slots: tuple[int, ...]  # the slots the node under test occupies
    slot_locals: tuple[float, ...]  # d consumer / d slot, for those slots
    upstream: float  # the student's df/d(consumer); 1 for a local blank (unused there)

    @property
    def local(self) -> float:
        return sum(self.slot_locals)

    @property
    def x(self) -> float:
        """The value of the node under test as it enters this gate."""
        return self.xs[self.slots[0]]


@dataclass(frozen=True, slots=True)
class WrongBlank:
    """An incorrect backward or local blank, with what a hypothesis needs to test."""

    kind: str  # "backward" or "local"
    node: str  # backward: the node; local: the gate
    input: str | None  # local: the input differentiated against
    output: str
    value: float  # what the student typed
    forward_value: float  # the student's value of `node`
    expected: float  # the right answer at the student's own values
    edges: tuple[Edge, ...]  # backward: one per consumer; local: the one gate
    fits: Callable[[float], bool]  # typed value matches this, and this is not right
    # Edges by op, so that each hypothesis finds its gates with one lookup.
    by_op: Mapping[str, tuple[Edge, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_op: dict[str, tuple[Edge, ...]] = {}
        for edge in self.edges:
            by_op[edge.op] = (*by_op.get(edge.op, ()), edge)
        object.__setattr__(self, "by_op", by_op)

    @property
    def wrt(self) -> str:
        """The node whose gradient the blank asks for."""
        return self.input if self.input is not None else self.node

    def total_with(self, edge: Edge, local: float) -> float:
        """The blank's value had `edge`'s local gradient been `local`."""
        if self.kind == "local":
            return local
        return sum(e.upstream * e.local for e in self.edges if e is not edge) + (
            edge.upstream * local)

    def edges_at(self, *ops: str) -> tuple[Edge, ...]:
        """The edges through gates of these ops."""
        if len(ops) == 1:
            return self.by_op.get(ops[0], ())
        return tuple(e for op in ops for e in self.by_op.get(op, ()))


Hypothesis = Callable[[WrongBlank], str | None]


def _grad(blank: WrongBlank, node: str) -> str:
    return f"d{blank.output}/d{node}"


def branch_not_summed(b: WrongBlank) -> str | None:
    """Took one branch's contribution for the whole gradient."""
    if b.kind != "backward":
        return None
    # One term per edge: a gate using the node twice (x·x) is two branches too.
    terms = [(e, e.upstream * d) for e in b.edges for d in e.slot_locals]
    if len(terms) < 2:
        return None
    for edge, term in terms:
        if b.fits(term):
            via = ", ".join(dict.fromkeys(e.consumer for e, _ in terms))
            return (f"{b.node} feeds {len(terms)} branches ({via}): {_grad(b, b.node)} is the "
                    f"sum of what comes back along all of them, not only from {edge.consumer}")
    return None


def mul_not_swapped(b: WrongBlank) -> str | None:
    """At a mul, used the input's own value instead of the other input's."""
    for e in b.edges_at("mul"):
        if len(e.inputs) == 2 and len(e.slots) == 1 and b.fits(b.total_with(e, e.x)):
            other = e.inputs[1 - e.slots[0]]
            return (f"mul swaps its inputs: d{e.consumer}/d{b.wrt} is the other input "
                    f"({other}), not {b.wrt} itself")
    return None


def max_misrouted(b: WrongBlank) -> str | None:
    """At max/min, sent the gradient to the losing input, or split it."""
    for e in b.edges_at("max", "min"):
        misrouted = float(len(e.slots)) - e.local  # the winner gets 0, a loser gets all
        split = len(e.slots) / len(e.inputs)
        if b.fits(b.total_with(e, misrouted)) or b.fits(b.total_with(e, split)):
            which = "largest" if e.op == "max" else "smallest"
            return (f"{e.op} routes the whole upstream gradient to the {which} input and "
                    f"nothing to the others, with no split (at {e.consumer})")
    return None


def sigmoid_derivative(b: WrongBlank) -> str | None:
    """Used sigmoid(x), or x, as the local gradient of sigmoid."""
    for e in b.edges_at("sigmoid"):
        if b.fits(b.total_with(e, e.y)) or b.fits(b.total_with(e, e.x)):
            return (f"the local gradient of sigmoid(x) is sigmoid(x)·(1 - sigmoid(x)), not "
                    f"sigmoid(x) or x (at {e.consumer})")
    return None


def inv_sign(b: WrongBlank) -> str | None:
    """1/x² without the minus sign."""
    for e in b.edges_at("inv"):
        if b.fits(b.total_with(e, -e.local)):
            return (f"the local gradient of 1/x is -1/x²: the minus sign is missing "
                    f"(at {e.consumer})")
    return None


def inv_derivative(b: WrongBlank) -> str | None:
    """-1/x instead of -1/x²."""
    for e in b.edges_at("inv"):
        if b.fits(b.total_with(e, -e.y)):
            return f"the local gradient of 1/x is -1/x², not -1/x (at {e.consumer})"
    return None


def exp_derivative(b: WrongBlank) -> str | None:
    """Used x or 1 as the local gradient of e^x."""
    for e in b.edges_at("exp"):
        if b.fits(b.total_with(e, e.x)) or b.fits(b.total_with(e, 1.0)):
            return (f"the local gradient of e^x is e^x itself (the gate's own output), "
                    f"not x or 1 (at {e.consumer})")
    return None


def scale_factor(b: WrongBlank) -> str | None:
    """At scale forgot the factor a; at add_const multiplied by c."""
    for e in b.edges_at("scale"):
        if b.fits(b.total_with(e, 1.0)):
            return f"the local gradient of a·x is the factor a: it was left out (at {e.consumer})"
    for e in b.edges_at("add_const"):
        if b.fits(b.total_with(e, e.params["c"])):
            return (f"the local gradient of c + x is 1: the constant c adds, it does not "
                    f"multiply (at {e.consumer})")
    return None


def no_upstream(b: WrongBlank) -> str | None:
    """Gave the local gradient alone, not multiplied by the upstream gradient."""
    if b.kind != "backward" or not b.edges:
        return None
    if b.fits(sum(e.local for e in b.edges)):
        ups = ", ".join(_grad(b, e.consumer) for e in b.edges)
        return (f"chain rule: multiply the local gradient by the upstream gradient ({ups}); "
                f"this is the local gradient alone")
    return None


def sign_flip(b: WrongBlank) -> str | None:
    """The right magnitude with the wrong sign."""
    if b.fits(-b.expected):
        return ("the sign is wrong: check the sign of each local gradient on the way back "
                "from the output")
    return None


def forward_as_gradient(b: WrongBlank) -> str | None:
    """Typed the node's forward value where its gradient was asked."""
    if b.fits(b.forward_value):
        asked = _grad(b, b.node) if b.kind == "backward" else f"d{b.node}/d{b.input}"
        return (f"this is the forward value of {b.node}; the blank asks for the gradient "
                f"{asked}, from the backward pass")
    return None


@dataclass(frozen=True, slots=True)
class Mistake:
    code: str
    check: Hypothesis


# The one place hypotheses are registered, in the order they are tried.
MISTAKES: tuple[Mistake, ...] = (
    Mistake("branch-not-summed", branch_not_summed),
    Mistake("mul-not-swapped", mul_not_swapped),
    Mistake("max-misrouted", max_misrouted),
    Mistake("sigmoid-derivative", sigmoid_derivative),
    Mistake("inv-sign", inv_sign),
    Mistake("inv-derivative", inv_derivative),
    Mistake("exp-derivative", exp_derivative),
    Mistake("scale-factor", scale_factor),
    Mistake("no-upstream", no_upstream),
    Mistake("sign-flip", sign_flip),
    Mistake("forward-as-gradient", forward_as_gradient),
)


def diagnose(blank: WrongBlank,
             mistakes: Sequence[Mistake] = MISTAKES) -> tuple[str, str] | None:
    """(code, message) of the first hypothesis that explains the wrong value, or None."""
    for mistake in mistakes:
        try:
            message = mistake.check(blank)
        except (ArithmeticError, ValueError):
            continue  # a hypothesis that cannot be evaluated here does not match
        if message is not None:
            return mistake.code, message
    return None
