"""The random layered DAG of `engine_vs_peers.py`: gates built from units (mean, product,
max, min, hinge; and, for the tied graph, units that sit exactly on a kink), each
redrawn until its value, its distance from any kink and its sensitivity are moderate,
and written as an exercise. See `engine_vs_peers.py` for what the units are and why.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

WINDOW = 64  # a unit reads from the last WINDOW unit outputs ...
FAR_BACK = 0.05  # ... except with this probability, when it reads from anywhere before,
FROM_INPUTS = 0.02  # ... and with this one, when it reads an input
VALUE_RANGE = (0.5, 2.0)  # every unit output lies in this range
KINK_MARGIN = 1e-6  # relative distance kept from a relu kink or a max/min tie
SENSITIVITY_CAP = 8.0  # see _DagBuilder
MAX_REDRAWS = 1000

# (unit, weight, gates it adds)
UNITS = (("mean", 0.30, 2), ("product", 0.40, 2), ("max", 0.10, 1), ("min", 0.10, 1),
         ("hinge", 0.10, 4))
# Units on a kink, added to UNITS for the tied graph.
TIED_UNITS = (("tied max", 0.005, 5), ("tied min", 0.005, 5), ("hinge at 0", 0.005, 8))


@dataclass(frozen=True, slots=True)
class Gate:
    """One gate: an op of the engine over earlier node positions (inputs come first)."""

    op: str  # add, mul, scale, relu, max, min
    inputs: tuple[int, ...]
    factor: float = 0.0  # the constant of a scale gate


@dataclass(frozen=True, slots=True)
class RandomDag:
    """Input values and gates in evaluation order; the last gate is the output."""

    input_values: tuple[float, ...]
    gates: tuple[Gate, ...]

    @property
    def size(self) -> int:
        return len(self.input_values) + len(self.gates)

    def name(self, position: int) -> str:
        n = len(self.input_values)
        return f"x{position}" if position < n else f"n{position - n}"


class _DagBuilder:
    """Draws units one by one, keeping every node's value to vet the next unit.

    Next to each value it keeps a bound on the node's sensitivity to the inputs,
    sum_i |d node / d x_i| <= sum over the unit's inputs of |local gradient|·bound;
    a unit that would exceed SENSITIVITY_CAP is redrawn. Products and active hinges
    raise the bound, means and max/min never do, so gradients stay moderate however
    deep the graph.
    """

    def __init__(self, rng: random.Random, n_inputs: int) -> None:
        self.rng = rng
        self.values = [rng.uniform(0.5, 1.5) for _ in range(n_inputs)]
        self.bounds = [1.0] * n_inputs
        self.n_inputs = n_inputs
        self.gates: list[Gate] = []
        self.readable: list[int] = list(range(n_inputs))  # inputs and unit outputs
        self.consumers = [0] * n_inputs
        self.next_unused_input = 0

    def _add(self, op: str, inputs: tuple[int, ...], value: float, factor: float = 0.0) -> int:
        for j in inputs:
            self.consumers[j] += 1
        self.gates.append(Gate(op, inputs, factor))
        self.values.append(value)
        self.bounds.append(0.0)  # only unit outputs are read, and get theirs in try_unit
        self.consumers.append(0)
        return len(self.values) - 1

    def _pick(self, count: int) -> tuple[int, ...] | None:
        """Distinct readable positions; inputs nobody reads yet go first."""
        picked: list[int] = []
        if self.next_unused_input < self.n_inputs:
            picked.append(self.next_unused_input)
        readable = self.readable
        for _ in range(4 * count):
            if len(picked) == count:
                break
            draw = self.rng.random()
            if draw < FROM_INPUTS:
                j = self.rng.randrange(self.n_inputs)
            elif draw < FROM_INPUTS + FAR_BACK:
                j = readable[self.rng.randrange(len(readable))]
            else:
                j = readable[-1 - self.rng.randrange(min(WINDOW, len(readable)))]
            if j not in picked:
                picked.append(j)
        return tuple(picked) if len(picked) == count else None

    def _apart(self, u: float, v: float) -> bool:
        return abs(u - v) > KINK_MARGIN * max(abs(u), abs(v))

    def _twins(self, a: int, b: int) -> tuple[int, int, float] | None:
        """A mean or a product of (a, b) and the same of (b, a): two nodes with
        bit-identical values, whose gradients reach a and b through the same float
        operations. Returns their positions and the bound of either (None: redraw)."""
        vals = self.values
        bounds = self.bounds
        if self.rng.random() < 0.5:
            op, raw, factor = "add", vals[a] + vals[b], 0.5
            bound = 0.5 * (bounds[a] + bounds[b])
        else:
            op, raw = "mul", vals[a] * vals[b]
            factor = 2.0 ** -math.frexp(raw)[1]
            bound = factor * (vals[b] * bounds[a] + vals[a] * bounds[b])
            if bound > SENSITIVITY_CAP:
                return None
        first = self._add("scale", (self._add(op, (a, b), raw),), factor * raw, factor)
        second = self._add("scale", (self._add(op, (b, a), raw),), factor * raw, factor)
        return first, second, bound

    def try_unit(self, kind: str) -> bool:
        """Append one unit of this kind if a draw of its inputs is acceptable.

        Values are computed with the same float operations as the engine and the peers.
        """
        picked = self._pick(3 if kind in ("hinge", "hinge at 0") else 2)
        if picked is None:
            return False
        vals = self.values
        bounds = self.bounds
        if kind in ("tied max", "tied min", "hinge at 0"):
            twins = self._twins(picked[0], picked[1])
            if twins is None:
                return False
            first, second, bound = twins
            if kind == "hinge at 0":  # c + relu(twin - twin), the relu exactly at 0
                c = picked[2]
                neg = self._add("scale", (second,), -1.0 * vals[second], -1.0)
                d = self._add("add", (first, neg), vals[first] + vals[neg])
                r = self._add("relu", (d,), 0.0)
                self._add("add", (c, r), vals[c] + 0.0)
                bound = bounds[c]
            else:
                self._add(kind.split()[1], (first, second), vals[first])
        elif kind == "mean":
            a, b = picked
            total = vals[a] + vals[b]
            bound = 0.5 * (bounds[a] + bounds[b])
            self._add("scale", (self._add("add", (a, b), total),), 0.5 * total, 0.5)
        elif kind == "product":
            a, b = picked
            prod = vals[a] * vals[b]
            factor = 2.0 ** -math.frexp(prod)[1]  # exact: brings the product into [0.5, 1)
            bound = factor * (vals[b] * bounds[a] + vals[a] * bounds[b])
            if bound > SENSITIVITY_CAP:
                return False
            self._add("scale", (self._add("mul", (a, b), prod),), factor * prod, factor)
        elif kind in ("max", "min"):
            a, b = picked
            if not self._apart(vals[a], vals[b]):
                return False
            win = a if (vals[a] > vals[b]) == (kind == "max") else b
            bound = bounds[win]
            self._add(kind, (a, b), vals[win])
        else:  # hinge: c + relu(a - b)
            a, b, c = picked
            if not self._apart(vals[a], vals[b]):
                return False
            diff = vals[a] + -1.0 * vals[b]
            bent = diff if diff > 0.0 else 0.0
            out = vals[c] + bent
            bound = bounds[c] + (bounds[a] + bounds[b] if diff > 0.0 else 0.0)
            if out > VALUE_RANGE[1] or bound > SENSITIVITY_CAP:
                return False
            neg = self._add("scale", (b,), -1.0 * vals[b], -1.0)
            d = self._add("add", (a, neg), diff)
            r = self._add("relu", (d,), bent)
            self._add("add", (c, r), out)
        self.bounds[-1] = bound
        self.readable.append(len(vals) - 1)
        if self.next_unused_input < self.n_inputs:
            self.next_unused_input += 1
        return True

    def finish(self) -> RandomDag:
        """Add the output gate, summing every node that nothing reads."""
        unread = tuple(j for j, n in enumerate(self.consumers) if n == 0)
        inputs = unread if len(unread) >= 2 else (unread[0], unread[0])
        self._add("add", inputs, math.fsum(self.values[j] for j in inputs))
        return RandomDag(tuple(self.values[: self.n_inputs]), tuple(self.gates))


def random_dag(n_gates: int, seed: int, units: Sequence[tuple[str, float, int]] = UNITS
               ) -> RandomDag:
    """A random DAG of exactly ``n_gates`` gates (the output gate included)."""
    rng = random.Random(seed)
    builder = _DagBuilder(rng, n_inputs=min(100, max(2, n_gates // 1000)))
    kinds = [k for k, _, _ in units]
    weights = [w for _, w, _ in units]
    size = {k: s for k, _, s in units}
    while (room := n_gates - 1 - len(builder.gates)) > 0:
        for _ in range(MAX_REDRAWS):
            kind = rng.choices(kinds, weights)[0]
            if size[kind] <= room and builder.try_unit(kind):
                break
        else:
            raise RuntimeError("could not draw a unit that avoids every kink")
    return builder.finish()


def exercise_yaml(dag: RandomDag) -> str:
    """The DAG as an exercise spec for `engine.load_exercise`."""
    name = dag.name
    lines = [
        "id: bench-random-dag",
        f"title: Random DAG of {len(dag.gates)} gates",
        "inputs:",
    ]
    lines += [f"  {name(j)}: {_yaml_float(v)}" for j, v in enumerate(dag.input_values)]
    lines.append("nodes:")
    first = len(dag.input_values)
    for k, gate in enumerate(dag.gates, start=first):
        ins = ", ".join(name(j) for j in gate.inputs)
        param = f", a: {_yaml_float(gate.factor)}" if gate.op == "scale" else ""
        lines.append(f"  - {{id: {name(k)}, op: {gate.op}, in: [{ins}]{param}}}")
    lines.append(f"output: {name(dag.size - 1)}")
    return "\n".join(lines) + "\n"


def _yaml_float(x: float) -> str:
    # YAML 1.1 (PyYAML) reads "1e-05" as a string: its floats need a point.
    text = repr(float(x))
    if "." not in text and "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text

