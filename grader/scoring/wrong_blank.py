"""What a mistake hypothesis reads: an incorrect blank, and the gates around it at the
student's own values (grader.scoring.mistakes tries the hypotheses on it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from grader.scoring import feedback

# A rounding spread relative to a value is taken as at most this: beyond it, a typed
# number is too coarse for one mistake to be told from another.
MOST_RELATIVE_SPREAD = 0.25


class Edge(NamedTuple):
    """How gradient flows from one consumer gate back to the node under test, evaluated
    at the student's own values (a named tuple: one is made per wrong blank and
    consumer, on the grading path). For a forward blank, the gate itself (no slots)."""

    consumer: str
    op: str
    params: Mapping[str, float]
    inputs: tuple[str, ...]  # the consumer's input ids, by slot
    xs: tuple[float, ...]  # the student's values of those inputs
    y: float  # the student's value of the consumer
    slots: tuple[int, ...]  # the slots the node under test occupies
    slot_locals: tuple[float, ...]  # d consumer / d slot, for those slots
    upstream: float  # the student's df/d(consumer) (1 at the output)

    @property
    def local(self) -> float:
        return sum(self.slot_locals)

    @property
    def x(self) -> float:
        """The value of the node under test as it enters this gate."""
        return self.xs[self.slots[0]]

    @property
    def gate(self) -> str:
        """The gate as the lecture draws it: "×", "+1", "1/x"."""
        return feedback.gate_symbol(self.op, self.params)

    @property
    def other_inputs(self) -> tuple[str, ...]:
        """The gate's inputs but the node under test, in order."""
        return tuple(name for s, name in enumerate(self.inputs) if s not in self.slots)


@dataclass(slots=True, eq=False)
class WrongBlank:
    """An incorrect blank, with what a hypothesis needs to test (made per wrong blank;
    hypotheses only read it)."""

    kind: str  # "forward", "backward" or "local"
    node: str  # forward: the gate; backward: the node; local: the gate
    input: str | None  # local: the input differentiated against
    output: str
    value: float  # what the student typed
    forward_value: float  # the student's value of `node`
    expected: float  # the right answer at the student's own values
    edges: tuple[Edge, ...]  # backward: one per consumer; local, forward: the one gate
    fits: Callable[[float], bool]  # typed value matches this, and this is not right
    zero: bool = False  # the typed value is a wrong zero (within the tolerance)
    partner: str | None = None  # a blank whose value this one's was swapped with
    spread: float = 0.0  # how far the rounding of the numbers used moves `expected`
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

    @property
    def label(self) -> str:
        """The blank's gradient as a student names it: "df/dx0", "∂p0/∂x0"."""
        if self.kind == "local":
            return f"∂{self.node}/∂{self.wrt}"
        return feedback.gradient_label(self.output, self.node)

    def reach(self, value: float) -> float:
        """How far from `value`, computed from the same numbers as `expected`, their
        rounding moves it: the spread, or as much relative to the value."""
        if not self.expected:
            return self.spread
        relative = min(self.spread / abs(self.expected), MOST_RELATIVE_SPREAD)
        return max(self.spread, relative * abs(value))

    def total_with(self, edge: Edge, local: float) -> float:
        """The blank's value had `edge`'s local gradient been `local`."""
        if self.kind != "backward":
            return local
        return sum(e.upstream * e.local for e in self.edges if e is not edge) + (
            edge.upstream * local)

    def edges_at(self, *ops: str) -> tuple[Edge, ...]:
        """The edges through gates of these ops."""
        if len(ops) == 1:
            return self.by_op.get(ops[0], ())
        return tuple(e for op in ops for e in self.by_op.get(op, ()))
