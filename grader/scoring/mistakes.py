"""The registry of diagnosed backprop mistakes.

A wrong backward or local blank is tested against named hypotheses, each computed from
the student's *own* numbers (their forward values and upstream gradients): "had you
forgotten the upstream gradient, you would have typed exactly this". The first
hypothesis that matches names the rule broken.

Each hypothesis is one small function taking the `WrongBlank` and returning the message
(a rule, never the reference number) when it matches, else None; the texts themselves are
in grader.scoring.feedback. Adding one is writing the function (and its text in
feedback) and adding one line to MISTAKES; the order there is the order of trial,
most specific first (at an inv gate the dropped minus sign is `inv-sign`, not the
generic `sign-flip`). A hypothesis about one kind of gate names its ops there, and is
only tried on blanks whose gradient flows back through such a gate.

A wrong zero (within the tolerance) is only tested against hypotheses that predict a
zero by rule (`explains_zero`: max/min routing, which sends a loser nothing): any other
hypothesis predicts zero only from a number that is zero itself (a typed-zero forward
value, a zero upstream gradient), and matching it would prove nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import NamedTuple

from grader.scoring import feedback

# Up to this many branches, every proper subset of them is tried as what a student
# summed; beyond, each branch alone and all branches but one.
FEW_BRANCHES = 4


class Edge(NamedTuple):
    """How gradient flows from one consumer gate back to the node under test, evaluated
    at the student's own values (a named tuple: one is made per wrong blank and
    consumer, on the grading path)."""

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


@dataclass(slots=True, eq=False)
class WrongBlank:
    """An incorrect backward or local blank, with what a hypothesis needs to test (made
    per wrong blank; hypotheses only read it)."""

    kind: str  # "backward" or "local"
    node: str  # backward: the node; local: the gate
    input: str | None  # local: the input differentiated against
    output: str
    value: float  # what the student typed
    forward_value: float  # the student's value of `node`
    expected: float  # the right answer at the student's own values
    edges: tuple[Edge, ...]  # backward: one per consumer; local: the one gate
    fits: Callable[[float], bool]  # typed value matches this, and this is not right
    zero: bool = False  # the typed value is a wrong zero (within the tolerance)
    # Edges by op, so that each hypothesis finds its gates with one lookup.
    by_op: Mapping[str, tuple[Edge, ...]] = field(init=False, repr=False)
    ops: frozenset[str] = field(init=False, repr=False)  # the ops of the edges

    def __post_init__(self) -> None:
        by_op: dict[str, tuple[Edge, ...]] = {}
        for edge in self.edges:
            by_op[edge.op] = (*by_op.get(edge.op, ()), edge)
        self.by_op = by_op
        self.ops = frozenset(by_op)

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
    return feedback.gradient_label(blank.output, node)


def _partial_sums(values: Sequence[float]) -> Iterator[tuple[frozenset[int], float]]:
    """(kept, their sum) for the proper non-empty subsets of the branches a student
    may have summed, the largest first (leaving out as little as explains the value):
    every one when there are few branches, else all but one and each one alone (in
    time linear in the number of branches)."""
    n = len(values)
    total = sum(values)
    every = frozenset(range(n))
    if n <= FEW_BRANCHES:
        for size in range(1, n):  # how many are left out
            for out in combinations(range(n), size):
                yield every.difference(out), total - sum(values[i] for i in out)
        return
    for i in range(n):
        yield every - {i}, total - values[i]
    for i in range(n):
        yield frozenset((i,)), values[i]


def branch_not_summed(b: WrongBlank) -> str | None:
    """Summed some of the branches a node feeds, not all of them (one use of x in x·x
    among them)."""
    if b.kind != "backward":
        edge = b.edges[0] if b.edges else None
        if edge is None or len(edge.slots) < 2:
            return None
        # A gate using its input in several slots: the local gradient of one use.
        if any(b.fits(d) for d in dict.fromkeys(edge.slot_locals)):
            return feedback.one_use_of_several(edge.consumer, b.wrt, len(edge.slots))
        return None
    # One term per edge and slot: a gate using the node twice (x·x) is two branches too.
    terms = [(e, e.upstream * d) for e in b.edges for d in e.slot_locals]
    if len(terms) < 2:
        return None
    for kept, value in _partial_sums([t for _, t in terms]):
        if not b.fits(value):
            continue
        if len(b.edges) == 1:
            return feedback.some_uses_summed(b.edges[0].consumer, b.node, len(terms),
                                             _grad(b, b.node), len(kept))
        left_out: dict[str, int] = {}
        for i, (e, _) in enumerate(terms):
            if i not in kept:
                left_out[e.consumer] = left_out.get(e.consumer, 0) + 1
        uses = {e.consumer: len(e.slots) for e in b.edges}
        return feedback.some_branches_summed(
            b.node, _grad(b, b.node), [(e.consumer, len(e.slots)) for e in b.edges],
            [(consumer, out, uses[consumer]) for consumer, out in left_out.items()])
    return None


def mul_not_swapped(b: WrongBlank) -> str | None:
    """At a mul, used the input's own value instead of the other input's."""
    for e in b.edges_at("mul"):
        if len(e.inputs) == 2 and len(e.slots) == 1 and b.fits(b.total_with(e, e.x)):
            return feedback.mul_not_swapped(e.consumer, b.wrt, e.inputs[1 - e.slots[0]])
    return None


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
                return feedback.max_winner_gets_all(b.wrt, e.consumer, e.op)
        elif b.fits(b.total_with(e, 1.0)):
            return feedback.max_loser_gets_none(b.wrt, e.consumer, e.op)
        if b.fits(b.total_with(e, len(e.slots) / len(e.inputs))):
            return feedback.max_does_not_split(e.consumer, e.op)
    return None


def sigmoid_derivative(b: WrongBlank) -> str | None:
    """Used sigmoid(x), or x, as the local gradient of sigmoid."""
    for e in b.edges_at("sigmoid"):
        if b.fits(b.total_with(e, e.y)) or b.fits(b.total_with(e, e.x)):
            return feedback.sigmoid_derivative(e.consumer)
    return None


def inv_sign(b: WrongBlank) -> str | None:
    """1/x² without the minus sign."""
    for e in b.edges_at("inv"):
        if b.fits(b.total_with(e, -e.local)):
            return feedback.inv_sign(e.consumer)
    return None


def inv_derivative(b: WrongBlank) -> str | None:
    """-1/x instead of -1/x²."""
    for e in b.edges_at("inv"):
        if b.fits(b.total_with(e, -e.y)):
            return feedback.inv_derivative(e.consumer)
    return None


def exp_derivative(b: WrongBlank) -> str | None:
    """Used x or 1 as the local gradient of e^x."""
    for e in b.edges_at("exp"):
        if b.fits(b.total_with(e, e.x)) or b.fits(b.total_with(e, 1.0)):
            return feedback.exp_derivative(e.consumer)
    return None


def scale_factor(b: WrongBlank) -> str | None:
    """At scale forgot the factor a; at add_const multiplied by c."""
    for e in b.edges_at("scale"):
        if b.fits(b.total_with(e, 1.0)):
            return feedback.scale_factor_left_out(e.consumer)
    for e in b.edges_at("add_const"):
        if b.fits(b.total_with(e, e.params["c"])):
            return feedback.add_const_multiplied(e.consumer)
    return None


def no_upstream(b: WrongBlank) -> str | None:
    """Gave the local gradient alone, not multiplied by the upstream gradient."""
    if b.kind != "backward" or not b.edges:
        return None
    if b.fits(sum(e.local for e in b.edges)):
        return feedback.no_upstream([_grad(b, e.consumer) for e in b.edges])
    return None


def sign_flip(b: WrongBlank) -> str | None:
    """The right magnitude with the wrong sign."""
    if b.fits(-b.expected):
        return feedback.SIGN_FLIP
    return None


def forward_as_gradient(b: WrongBlank) -> str | None:
    """Typed the node's forward value where its gradient was asked."""
    if b.fits(b.forward_value):
        if b.kind == "backward":
            return feedback.forward_as_gradient(b.node, _grad(b, b.node))
        return feedback.forward_as_local_gradient(b.node, b.wrt)
    return None


@dataclass(frozen=True, slots=True)
class Mistake:
    """A named hypothesis; `ops`, when given, are the gates it is about: it is tried only
    on blanks whose gradient flows back through one of them. `explains_zero`: it can
    tell a wrong zero apart (it predicts zero by a rule, not from a zero number)."""

    code: str
    check: Hypothesis
    ops: frozenset[str] | None = None
    explains_zero: bool = False


# The one place hypotheses are registered, in the order they are tried.
MISTAKES: tuple[Mistake, ...] = (
    Mistake("branch-not-summed", branch_not_summed),
    Mistake("mul-not-swapped", mul_not_swapped, frozenset({"mul"})),
    Mistake("max-misrouted", max_misrouted, frozenset({"max", "min"}), explains_zero=True),
    Mistake("sigmoid-derivative", sigmoid_derivative, frozenset({"sigmoid"})),
    Mistake("inv-sign", inv_sign, frozenset({"inv"})),
    Mistake("inv-derivative", inv_derivative, frozenset({"inv"})),
    Mistake("exp-derivative", exp_derivative, frozenset({"exp"})),
    Mistake("scale-factor", scale_factor, frozenset({"scale", "add_const"})),
    Mistake("no-upstream", no_upstream),
    Mistake("sign-flip", sign_flip),
    Mistake("forward-as-gradient", forward_as_gradient),
)


class Diagnosis(NamedTuple):
    """The mistake that explains a wrong value: its code and its message."""

    code: str
    message: str


class _Applicable(NamedTuple):
    registry: Sequence[Mistake]  # kept so that a reused id() is noticed
    mistakes: tuple[Mistake, ...]


_applicable: dict[tuple[int, frozenset[str], bool], _Applicable] = {}


def applicable(mistakes: Sequence[Mistake], ops: frozenset[str], *,
               zero: bool = False) -> tuple[Mistake, ...]:
    """The hypotheses worth trying, in order, on a blank whose gradient flows back
    through gates of these ops (and holds a wrong zero): remembered, one list per
    registry, set of ops and zero."""
    key = (id(mistakes), ops, zero)
    found = _applicable.get(key)
    if found is None or found.registry is not mistakes:
        if len(_applicable) > 4096:  # many registries made on the fly: start over
            _applicable.clear()
        found = _applicable[key] = _Applicable(mistakes, tuple(
            m for m in mistakes if (m.ops is None or not m.ops.isdisjoint(ops))
            and (m.explains_zero or not zero)))
    return found.mistakes


def diagnose(blank: WrongBlank,
             mistakes: Sequence[Mistake] = MISTAKES) -> Diagnosis | None:
    """The code and message of the first hypothesis that explains the wrong value, or None.
    Only the hypotheses `applicable` to the blank are tried."""
    for mistake in applicable(mistakes, blank.ops, zero=blank.zero):
        try:
            message = mistake.check(blank)
        except (ArithmeticError, ValueError):
            continue  # a hypothesis that cannot be evaluated here does not match
        if message is not None:
            return Diagnosis(mistake.code, message)
    return None
