"""Realistic wrong answers, made to measure the diagnosis: each kind of mistake a
student makes, put at one place of an exercise's work, with every later number computed
from it, as a student would.

A `Student` works an exercise the way the lecture does (the forward pass, then the
backward pass from the output, each gate's local gradients on the way) with one of three
habits: exact numbers; keep the digits and type two decimals (the lecture's 0.20 shown,
0.39 computed from the unrounded value); or type two decimals and compute on from what
was typed. A `Slip` changes one number of that work (a forward value, a gate's local
gradient, a node's gradient) or exchanges two typed blanks; everything after it follows
from the changed number.

`cases(...)` makes every slip of every kind that applies to an exercise, and says which
blanks hold the mistake and which codes name it: the code injected, and any other
mistake's code whose value coincides (within the tolerance) with the one typed there,
since no grader can tell those apart. A slip that changes nothing (within the tolerance)
or makes a plain 0 that no rule predicts is not a nameable mistake and is left out.

Used by tests/grader/test_diagnosis_rate.py and benchmarks/diagnosis_rate.py.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import Exercise, ExerciseError, Solution, draw_variant, load_exercise, solve
from engine.ops import OPS, evaluate, local_gradients
from grader.scoring.tolerance import allowance_for

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
HABITS = ("exact", "keep digits", "from typed")
Blank = tuple[str, str, str | None]  # (kind, node, input)

# The five exercises a teaching assistant added to the bundled ones: branches, max, an
# expression neuron with local gradients, div and log.
NEW_EXERCISES = {
    "branches": """\
id: branches
title: x feeds three gates
inputs: {x: 1.5, y: -0.5, z: 2.0}
nodes:
  - {id: a, op: mul, in: [x, z]}
  - {id: b, op: add, in: [x, y]}
  - {id: c, op: sigmoid, in: [x]}
  - {id: d, op: mul, in: [a, b]}
  - {id: f, op: add, in: [d, c]}
output: f
""",
    "max-gate": """\
id: max-gate
title: a max between two products
inputs: {x: 2.0, y: -1.5, z: 0.5, w: 3.0}
nodes:
  - {id: p, op: mul, in: [x, y]}
  - {id: q, op: mul, in: [z, w]}
  - {id: m, op: max, in: [p, q]}
  - {id: f, op: scale, in: [m], a: 3}
output: f
""",
    "neuron-locals": """\
id: neuron-locals
title: a neuron from expressions, with local gradients
inputs: {w0: 0.5, x0: 1.5, w1: -2.0, x1: 0.75, b: 0.25}
nodes:
  - {id: z, expr: "w0*x0 + w1*x1 + b"}
  - {id: f, op: sigmoid, in: [z]}
output: f
ask: [forward, backward, local]
""",
    "div-gate": """\
id: div-gate
title: a quotient
inputs: {x: 3.0, y: 1.25, z: 0.5}
nodes:
  - {id: s, op: add, in: [x, z]}
  - {id: q, op: div, in: [s, y]}
  - {id: f, op: tanh, in: [q]}
output: f
ask: [forward, backward, local]
""",
    "log-gate": """\
id: log-gate
title: a logarithm of a product
inputs: {x: 2.5, y: 1.5, w: -0.5}
nodes:
  - {id: p, op: mul, in: [x, y]}
  - {id: l, op: log, in: [p]}
  - {id: g, op: mul, in: [l, w]}
  - {id: f, op: exp, in: [g]}
output: f
""",
}


# ---------------------------------------------------------------- exercises


def with_local(text: str) -> str:
    """The same exercise, asking for local gradients too."""
    lines = [line for line in text.splitlines() if not line.startswith("ask:")]
    return "\n".join([*lines, "ask: [forward, backward, local]"]) + "\n"


def bundled() -> dict[str, str]:
    """The bundled exercises, as asked and with local gradients asked too."""
    found = {}
    for path in sorted(EXERCISES.glob("*.yaml")):
        text = path.read_text()
        found[path.stem] = text
        found[f"{path.stem}+local"] = with_local(text)
    return found


SMOOTH_OPS = ("add", "mul", "sub", "scale", "add_const", "sigmoid", "tanh", "neg", "sin",
              "cos", "add3", "mul3")
STEEP_OPS = ("exp", "inv", "log", "div", "sqrt", "pow")
ROUTING_OPS = ("max", "min", "relu", "abs")
PARAMS = {"scale": ("a", (-2.0, -0.5, 1.5, 3.0)), "add_const": ("c", (1.0, -2.0, 0.5, 3.0)),
          "pow": ("p", (2.0, 3.0, -1.0))}


def random_exercise(rng: random.Random, name: str) -> str:
    """A random small exercise: two to four inputs off the round numbers (no 0, ±1),
    gates reading earlier nodes (steep ones only bounded, positive ones where they need
    it), a last gate adding every node nothing else reads."""
    count = rng.randint(2, 4)
    names = [f"x{i}" for i in range(count)]
    lines = [f"id: {name}", "title: random", "inputs:"]
    values = {}
    for n in names:
        v = rng.choice([-1, 1]) * round(rng.uniform(0.3, 2.5), 2)
        if abs(abs(v) - 1.0) < 0.05:
            v += 0.3
        values[n] = v
        lines.append(f"  {n}: {v!r}")
    lines.append("nodes:")
    positive = [n for n in names if values[n] > 0]
    bounded = list(names)
    read: set[str] = set()
    for k in range(rng.randint(2, 6)):
        gid = f"g{k}"
        op, ins = _gate(rng, rng.choice(SMOOTH_OPS + STEEP_OPS + ROUTING_OPS), names, bounded,
                        positive)
        extra = ""
        if op in PARAMS:
            param, choices = PARAMS[op]
            extra = f", {param}: {rng.choice(choices)}"
        lines.append(f"  - {{id: {gid}, op: {op}, in: [{', '.join(ins)}]{extra}}}")
        read.update(ins)
        names.append(gid)
        if op in ("sigmoid", "tanh"):
            bounded.append(gid)
        if op in ("sigmoid", "exp"):
            positive.append(gid)
    sinks = [n for n in names if n not in read] or [names[-1]]
    if len(sinks) == 1:
        sinks = [*sinks, names[0]] if sinks[0] != names[0] else [sinks[0], names[1]]
    lines.append(f"  - {{id: out, op: add, in: [{', '.join(sinks)}]}}")
    lines.append("output: out")
    if rng.random() < 0.5:
        lines.append("ask: [forward, backward, local]")
    return "\n".join(lines) + "\n"


UNARY = ("exp", "inv", "sigmoid", "tanh", "scale", "add_const", "neg", "sin", "cos", "pow",
         "relu", "abs")


def _gate(rng: random.Random, op: str, names: list[str], bounded: list[str],
          positive: list[str]) -> tuple[str, list[str]]:
    """A gate of this op reading earlier nodes it is defined (and tame) on."""
    if op in ("log", "sqrt"):
        return (op, [rng.choice(positive)]) if positive else ("tanh", [rng.choice(bounded)])
    if op == "div":
        denominators = [n for n in bounded if n in positive]
        if not denominators:
            return "mul", rng.sample(names, 2)
        return op, [rng.choice(names), rng.choice(denominators)]
    if op in ("add3", "mul3"):
        return op[:3], rng.sample(names, min(3, len(names)))
    if op in UNARY:
        return op, [rng.choice(bounded)]
    return op, rng.sample(names, 2)


def solved(text: str, seed: int | None = None) -> Solution | None:
    """The exercise solved; None when it cannot be (a domain error) or its numbers are
    unfit to work by hand (huge, or a gate at a tie or kink)."""
    try:
        solution = solve(draw_variant(load_exercise(text), seed))
    except ExerciseError:
        return None
    numbers = [*solution.values.values(), *solution.grads.values()]
    if solution.grad_ranges or not all(math.isfinite(v) and abs(v) < 1e3 for v in numbers):
        return None
    return solution


# ---------------------------------------------------------------- the student


@dataclass
class Slip:
    """One change to a student's work. `forward`: gate -> its value from the student's
    input values; `local`: (gate, input) -> that local gradient from (xs, y, upstream,
    slots); `gradient`: node -> its gradient from its terms [(consumer, upstream, local
    per slot)] and its forward value; `swap`: two blanks of one kind typed in each
    other's place."""

    forward: dict[str, Callable[[list[float]], float]] = field(default_factory=dict)
    local: dict[tuple[str, str], Callable[..., float]] = field(default_factory=dict)
    gradient: dict[str, Callable[..., float]] = field(default_factory=dict)
    swap: tuple[str, str, str] | None = None  # (kind, a, b)


class Student:
    """A student's work on a solved variant, with one habit and one slip."""

    def __init__(self, solution: Solution, habit: str, slip: Slip | None = None) -> None:
        self.solution = solution
        self.exercise: Exercise = solution.exercise
        self.habit = habit
        self.slip = slip or Slip()
        self.values: dict[str, float] = dict(solution.variant.inputs)  # what is used
        self.typed_forward: dict[str, float] = {}
        self.grads: dict[str, float] = {}  # what is used
        self.typed_backward: dict[str, float] = {}
        self.typed_local: dict[str, dict[str, float]] = {}

    def typed(self, value: float) -> float:
        return value if self.habit == "exact" else round(value, 2)

    def used(self, value: float) -> float:
        """What is computed on with: the typed number when computing from what was typed."""
        return round(value, 2) if self.habit == "from typed" else value

    def work(self) -> dict[str, Any]:
        exercise, slip = self.exercise, self.slip
        for gate in exercise.gates:
            xs = [self.values[i] for i in gate.inputs]
            value = evaluate(OPS[gate.op], xs, gate.params)
            if gate.id in slip.forward:
                value = slip.forward[gate.id](xs)
            self.typed_forward[gate.id] = self.typed(value)
            self.values[gate.id] = self.used(value)
        if slip.swap and slip.swap[0] == "forward":
            self._swap_forward(slip.swap[1], slip.swap[2])
        terms: dict[str, list[tuple[str, float, tuple[float, ...]]]] = {
            n: [] for n in exercise.graph.names}
        for gate in reversed(exercise.gates):
            self._gradient(gate.id, terms)
            xs = [self.values[i] for i in gate.inputs]
            y = self.values[gate.id]
            slot_locals = local_gradients(OPS[gate.op], xs, y, gate.params)
            upstream = self.grads[gate.id]
            for name in dict.fromkeys(gate.inputs):
                slots = tuple(s for s, i in enumerate(gate.inputs) if i == name)
                mine = tuple(slot_locals[s] for s in slots)
                change = slip.local.get((gate.id, name))
                if change is not None:
                    local = change(xs, y, upstream, slots)
                    mine = (local,) if len(slots) == 1 else (local - sum(mine[1:]), *mine[1:])
                if "local" in exercise.ask:
                    self.typed_local.setdefault(gate.id, {})[name] = self.typed(sum(mine))
                    if len(slots) == 1:  # computed on from the local gradient written
                        mine = (self.used(mine[0]),)
                terms[name].append((gate.id, upstream, mine))
        for name in exercise.inputs:
            self._gradient(name, terms)
        if slip.swap and slip.swap[0] == "backward":
            _, a, b = slip.swap
            typed = self.typed_backward
            typed[a], typed[b] = typed[b], typed[a]  # inputs: nothing is computed from them
        submission: dict[str, Any] = {"forward": self.typed_forward,
                                      "backward": self.typed_backward}
        if "local" in exercise.ask:
            submission["local"] = self.typed_local
        return submission

    def _gradient(self, node: str,
                  terms: dict[str, list[tuple[str, float, tuple[float, ...]]]]) -> None:
        if node == self.exercise.output:
            value = 1.0
        else:
            value = math.fsum(up * d for _, up, mine in terms[node] for d in mine)
        change = self.slip.gradient.get(node)
        if change is not None:
            value = change(terms[node], self.values.get(node, 0.0))
        self.typed_backward[node] = self.typed(value)
        self.grads[node] = self.used(value)

    def _swap_forward(self, a: str, b: str) -> None:
        """Two gates' values typed in each other's place, and the forward pass after
        them computed from what was typed."""
        typed, used = self.typed_forward, self.values
        typed[a], typed[b] = typed[b], typed[a]
        used[a], used[b] = used[b], used[a]
        start = min(i for i, g in enumerate(self.exercise.gates) if g.id in (a, b))
        for gate in self.exercise.gates[start:]:
            if gate.id in (a, b):
                continue
            xs = [used[i] for i in gate.inputs]
            value = evaluate(OPS[gate.op], xs, gate.params)
            typed[gate.id] = self.typed(value)
            used[gate.id] = self.used(value)


# ---------------------------------------------------------------- the mistakes


def local_rules(op: str, params: dict[str, float], xs: list[float], y: float, g: float,
                slot: int) -> list[tuple[str, float]]:
    """(code, local gradient) for each misremembered local rule of a gate, at the
    student's values: the input in `slot` differentiated against, `g` the upstream."""
    found: list[tuple[str, float]] = []
    two = len(xs) == 2
    if op == "mul" and two:
        found.append(("mul-not-swapped", xs[slot]))
    if op in ("max", "min"):
        best = max(xs) if op == "max" else min(xs)
        won = xs[slot] == best
        found.append(("max-misrouted", 0.0 if won else 1.0))
        found.append(("max-misrouted", 1.0 / len(xs)))
    if op == "sigmoid":
        at_output = local_gradients(OPS["sigmoid"], [y], evaluate(OPS["sigmoid"], [y], {}), {})[0]
        found += [("sigmoid-derivative", v) for v in (y, xs[0], 1.0 - y, y * y, at_output)]
    if op == "inv":
        found += [("inv-sign", y * y), ("inv-derivative", -y), ("inv-derivative", y)]
    if op == "exp":
        found += [("exp-derivative", v) for v in (xs[0], 1.0, xs[0] * math.exp(xs[0] - 1.0))]
    if op == "log":
        found += [("log-derivative", y), ("log-derivative", xs[0])]
    if op == "div":
        a, b = xs
        wrong = (-1.0 / (b * b), a / (b * b), -a / b, -a) if slot == 1 else (1.0 / (b * b),)
        found += [("div-derivative", v) for v in wrong]
    if op == "scale":
        found.append(("scale-factor", 1.0))
    if op == "add_const":
        found.append(("scale-factor", params["c"]))
    if op in ("exp", "log", "inv", "sigmoid", "tanh"):
        points = (g,) if op == "sigmoid" else (g, y)
        for point in points:
            with contextlib.suppress(ArithmeticError, ValueError):
                found.append(("local-at-wrong-point", local_gradients(
                    OPS[op], [point], evaluate(OPS[op], [point], params), params)[0]))
    return found


def whole_gate_rules(op: str, xs: list[float]) -> list[tuple[float, ...]]:
    """Another gate's rule taken for a gate's: its local gradient for every slot."""
    if op == "mul":
        return [(1.0,) * len(xs)]
    if op in ("div", "add") and len(xs) == 2:
        return [(xs[1], xs[0])]
    if op == "sub":
        return [(1.0, 1.0)]
    return []


@dataclass
class Case:
    """One wrong answer: the submission, the mistake made, and the blanks holding it
    with the codes that name it there."""

    name: str
    habit: str
    code: str
    solution: Solution
    submission: dict[str, Any]
    accepted: dict[Blank, frozenset[str]]
    follows: bool = True  # the work after it computed from what was typed


def _close(a: float, b: float, allowance: Callable[[float], float]) -> bool:
    # Rounded to two decimals, numbers this close cannot be told apart.
    return abs(a - b) <= 2.0 * allowance(b) + 1e-9


def cases(name: str, solution: Solution) -> Iterator[Case]:
    """Every nameable slip of every kind on this solved variant, in every habit."""
    for habit in HABITS:
        yield from _forward_cases(name, solution, habit)
        yield from _edge_cases(name, solution, habit)
        yield from _node_cases(name, solution, habit)
        yield from _swap_cases(name, solution, habit)


def _make(name: str, solution: Solution, habit: str, code: str, slip: Slip,
          targets: dict[Blank, frozenset[str]]) -> Case | None:
    try:
        submission = Student(solution, habit, slip).work()
    except (ArithmeticError, ValueError, OverflowError):
        return None
    numbers = [*submission["forward"].values(), *submission["backward"].values(),
               *(v for m in submission.get("local", {}).values() for v in m.values())]
    if not all(math.isfinite(v) and abs(v) < 1e6 for v in numbers):
        return None
    return Case(name, habit, code, solution, submission, targets)


def _honest(solution: Solution, habit: str) -> Student:
    student = Student(solution, habit)
    student.work()
    return student


def _allowance(solution: Solution, node: str) -> Callable[[float], float]:
    return allowance_for(solution.exercise.tolerance_for(node))


def _nameable(value: float, right: float, allowance: Callable[[float], float], *,
              zero_by_rule: bool = False) -> bool:
    """A slip that changes the number, and not to a plain 0 that no rule predicts."""
    if not math.isfinite(value) or _close(value, right, allowance):
        return False
    return zero_by_rule or abs(value) > 2.0 * allowance(0.0)


def _forward_cases(name: str, solution: Solution, habit: str) -> Iterator[Case]:
    honest = _honest(solution, habit)
    for gate in solution.exercise.gates:
        xs = [honest.values[i] for i in gate.inputs]
        right = evaluate(OPS[gate.op], xs, gate.params)
        allowance = _allowance(solution, gate.id)
        options = [("sign-flip", lambda xs, g=gate: -evaluate(OPS[g.op], xs, g.params))]
        options += [("forward-missing-term", f) for f in _missing_terms(gate)]
        options += [("forward-wrong-op", f) for f in _wrong_ops(gate)]
        values = []
        for code, f in options:
            try:
                values.append((code, f(xs), f))
            except (ArithmeticError, ValueError):
                continue
        for code, value, f in values:
            if not _nameable(value, right, allowance):
                continue
            accepted = frozenset(c for c, v, _ in values if _close(v, value, allowance))
            case = _make(name, solution, habit, code, Slip(forward={gate.id: f}),
                         {("forward", gate.id, None): accepted})
            if case is not None:
                yield case


def _missing_terms(gate: Any) -> list[Callable[[list[float]], float]]:
    op, n = gate.op, len(gate.inputs)
    if op == "add":
        return [lambda xs, s=s: math.fsum(xs[:s] + xs[s + 1:]) for s in range(n)]
    if op == "mul":
        return [lambda xs, s=s: math.prod(xs[:s] + xs[s + 1:]) for s in range(n)]
    if op == "add_const":
        return [lambda xs: xs[0], lambda xs, c=gate.params["c"]: c]
    if op == "scale":
        return [lambda xs: xs[0]]
    if op == "sub":
        return [lambda xs: xs[0], lambda xs: -xs[1]]
    return []


def _wrong_ops(gate: Any) -> list[Callable[[list[float]], float]]:
    op = gate.op
    other = {"max": "min", "min": "max", "add": "mul", "mul": "add", "sub": "add",
             "div": "mul", "sin": "cos", "cos": "sin", "tanh": "sigmoid",
             "sigmoid": "tanh"}.get(op)
    found: list[Callable[[list[float]], float]] = []
    if other is not None:
        found.append(lambda xs, o=other: evaluate(OPS[o], xs, {}))
    if op == "scale":
        found.append(lambda xs, a=gate.params["a"]: a + xs[0])
    if op == "add_const":
        found.append(lambda xs, c=gate.params["c"]: c * xs[0])
    if op in ("sub", "div"):
        found.append(lambda xs: evaluate(OPS[op], xs[::-1], {}))
    return found


def _edge_cases(name: str, solution: Solution, habit: str) -> Iterator[Case]:
    """A local rule misremembered at one gate (or another gate's rule taken for the
    whole gate): in the local blank when asked, else in the gradients it makes."""
    exercise = solution.exercise
    honest = _honest(solution, habit)
    asks_local = "local" in exercise.ask
    for gate in exercise.gates:
        xs = [honest.values[i] for i in gate.inputs]
        y = honest.values[gate.id]
        g = honest.grads[gate.id]
        names = list(dict.fromkeys(gate.inputs))
        if len(names) != len(gate.inputs):
            continue  # a gate using an input twice: its local blank is a sum of uses
        right = local_gradients(OPS[gate.op], xs, y, gate.params)
        rules = {slot: local_rules(gate.op, gate.params, xs, y, g, slot)
                 for slot in range(len(xs))}
        for slot, name_ in enumerate(names):
            for code, local in rules[slot]:
                slip = Slip(local={(gate.id, name_): lambda *_a, v=local: v})
                targets = _edge_targets(solution, honest, gate, {slot: local}, rules,
                                        asks_local)
                if targets and all(code in codes for codes in targets.values()):
                    case = _make(name, solution, habit, code, slip, targets)
                    if case is not None:
                        yield case
        for locals_ in whole_gate_rules(gate.op, xs):
            changed = {s: v for s, v in enumerate(locals_) if not math.isclose(v, right[s])}
            slip = Slip(local={(gate.id, names[s]): (lambda *_a, v=v: v)
                               for s, v in changed.items()})
            targets = _edge_targets(solution, honest, gate, changed, rules, asks_local)
            if targets and all("wrong-op-rule" in codes for codes in targets.values()):
                case = _make(name, solution, habit, "wrong-op-rule", slip, targets)
                if case is not None:
                    yield case


def _edge_targets(solution: Solution, honest: Student, gate: Any, changed: dict[int, float],
                  rules: dict[int, list[tuple[str, float]]], asks_local: bool,
                  ) -> dict[Blank, frozenset[str]]:
    """The blanks a changed local gradient shows in, each with the codes whose value
    coincides there; empty when one of them is not nameable."""
    xs = [honest.values[i] for i in gate.inputs]
    right = local_gradients(OPS[gate.op], xs, honest.values[gate.id], gate.params)
    allowance = _allowance(solution, gate.id)
    targets: dict[Blank, frozenset[str]] = {}
    g = honest.grads[gate.id]
    for slot, local in changed.items():
        name = gate.inputs[slot]
        options = [*rules[slot], ("sign-flip", -right[slot]), ("percent", 100 * right[slot]),
                   ("forward-as-gradient", honest.values[gate.id])]
        options += [("wrong-op-rule", rule[slot]) for rule in whole_gate_rules(gate.op, xs)]
        zero_rule = local == 0.0 and gate.op in ("max", "min")
        if asks_local:
            if not _nameable(local, right[slot], allowance, zero_by_rule=zero_rule):
                return {}
            targets[("local", gate.id, name)] = frozenset(
                c for c, v in options if _close(v, local, allowance))
            continue
        # In the gradient: the other branches of the input, plus this one changed.
        total_right = honest.grads[name]
        total = total_right + g * (local - right[slot])
        node_allowance = _allowance(solution, name)
        if not _nameable(total, total_right, node_allowance, zero_by_rule=zero_rule
                         and len(_terms(solution, honest, name)) == 1):
            return {}
        accepted = _node_codes(solution, honest, name, total, node_allowance)
        accepted |= _edge_codes(solution, honest, name, total, node_allowance)
        accepted |= {c for c, v in options
                     if _close(total_right + g * (v - right[slot]), total, node_allowance)}
        targets[("backward", name, None)] = frozenset(accepted)
    return targets


def _node_codes(solution: Solution, honest: Student, node: str, value: float,
                allowance: Callable[[float], float]) -> set[str]:
    """Codes of node-wide mistakes whose value at df/dnode coincides with `value`."""
    return {code for code, v in _node_mistakes(solution, honest, node)
            if _close(v, value, allowance)}


def _node_mistakes(solution: Solution, honest: Student, node: str) -> list[tuple[str, float]]:
    exercise = solution.exercise
    right = honest.grads[node]
    found = [("sign-flip", -right), ("percent", 100.0 * right)]
    if node != exercise.output:
        found.append(("forward-as-gradient", honest.values[node]))
        terms = _terms(solution, honest, node)
        found.append(("no-upstream", math.fsum(local for _, _, local in terms)))
        n = len(terms)
        if n >= 2:
            values = [up * local for _, up, local in terms]
            for size in range(1, n):
                if n > 4 and size not in (1, n - 1):
                    continue
                for kept in _subsets(n, size):
                    found.append(("branch-not-summed", math.fsum(values[i] for i in kept)))
            found.append(("branch-not-summed", math.fsum(values) / n))
    return found


def _subsets(n: int, size: int) -> Iterator[tuple[int, ...]]:
    return itertools.combinations(range(n), size)


def _terms(solution: Solution, honest: Student, node: str) -> list[tuple[str, float, float]]:
    """(consumer, upstream, local) for each use of node, at the student's values."""
    found = []
    for gate in solution.exercise.gates:
        if node not in gate.inputs:
            continue
        xs = [honest.values[i] for i in gate.inputs]
        slot_locals = local_gradients(OPS[gate.op], xs, honest.values[gate.id], gate.params)
        for s, i in enumerate(gate.inputs):
            if i == node:
                found.append((gate.id, honest.grads[gate.id], slot_locals[s]))
    return found


def _node_cases(name: str, solution: Solution, habit: str) -> Iterator[Case]:
    """A node's gradient made wrong as a whole: no upstream, a flipped sign, a
    percentage, its forward value, branches not summed (or averaged)."""
    exercise = solution.exercise
    honest = _honest(solution, habit)
    for node in exercise.graph.names:
        options = _node_mistakes(solution, honest, node)
        allowance = _allowance(solution, node)
        right = honest.grads[node]
        for code, value in options:
            zero_rule = code == "branch-not-summed" and _zero_by_routing(solution, honest, node)
            if not _nameable(value, right, allowance, zero_by_rule=zero_rule):
                continue
            accepted = frozenset(c for c, v in options if _close(v, value, allowance))
            accepted |= _edge_codes(solution, honest, node, value, allowance)
            slip = Slip(gradient={node: lambda *_a, v=value: v})
            case = _make(name, solution, habit, code, slip,
                         {("backward", node, None): accepted})
            if case is not None:
                yield case


def _zero_by_routing(solution: Solution, honest: Student, node: str) -> bool:
    return any(solution.exercise.gates[[g.id for g in solution.exercise.gates].index(c)].op
               in ("max", "min") and local == 0.0 for c, _, local in _terms(solution, honest, node))


def _edge_codes(solution: Solution, honest: Student, node: str, value: float,
                allowance: Callable[[float], float]) -> set[str]:
    """Codes of local-rule mistakes at node's consumers whose gradient coincides."""
    found = set()
    right = honest.grads[node]
    for gate in solution.exercise.gates:
        if node not in gate.inputs or gate.inputs.count(node) > 1:
            continue
        slot = gate.inputs.index(node)
        xs = [honest.values[i] for i in gate.inputs]
        g = honest.grads[gate.id]
        local_right = local_gradients(OPS[gate.op], xs, honest.values[gate.id],
                                      gate.params)[slot]
        for code, local in local_rules(gate.op, gate.params, xs, honest.values[gate.id], g,
                                       slot):
            if _close(right + g * (local - local_right), value, allowance):
                found.add(code)
        for locals_ in whole_gate_rules(gate.op, xs):
            if _close(right + g * (locals_[slot] - local_right), value, allowance):
                found.add("wrong-op-rule")
    return found


def _swap_cases(name: str, solution: Solution, habit: str) -> Iterator[Case]:
    """Two neighbouring blanks of one kind typed in each other's place: two gates'
    values next to each other in the forward pass (the later ones computed from what was
    typed), or two inputs' gradients (nothing is computed from those), that differ."""
    exercise = solution.exercise
    honest = _honest(solution, habit)
    gates = [g.id for g in exercise.gates]
    inputs = list(exercise.inputs)
    pairs = [("forward", a, b) for a, b in itertools.pairwise(gates)]
    pairs += [("backward", a, b) for a, b in itertools.pairwise(inputs)]
    yield from _clerical_swaps(name, solution, habit, honest)
    for kind, a, b in pairs:
        table = honest.typed_forward if kind == "forward" else honest.typed_backward
        va, vb = table[a], table[b]
        allowance = _allowance(solution, a)
        if _close(va, vb, allowance) or min(abs(va), abs(vb)) <= 2 * allowance(0.0):
            continue
        if kind == "backward" and _same_mul(exercise, a, b):
            continue  # the two inputs of one ×: its "switcher" forgotten
        accepted = frozenset({"swapped-blanks"})
        case = _make(name, solution, habit, "swapped-blanks", Slip(swap=(kind, a, b)),
                     {(kind, a, None): accepted, (kind, b, None): accepted})
        if case is not None and not (kind == "forward" and _unseen(case, b)):
            yield case


def _clerical_swaps(name: str, solution: Solution, habit: str, honest: Student,
                    ) -> Iterator[Case]:
    """Two neighbouring blanks, in working order, whose typed values are exchanged and
    nothing else: the work was right, the copying was not (gradients of gates included,
    whatever is computed from them left as computed)."""
    exercise = solution.exercise
    submission = Student(solution, habit).work()
    order = [("forward", g.id) for g in exercise.gates]
    order += [("backward", g.id) for g in reversed(exercise.gates)]
    order += [("backward", i) for i in exercise.inputs]
    for (kind, a), (other_kind, b) in itertools.pairwise(order):
        if kind != other_kind:
            continue
        table = submission[kind]
        va, vb = table[a], table[b]
        allowance = _allowance(solution, a)
        if _close(va, vb, allowance) or min(abs(va), abs(vb)) <= 2 * allowance(0.0):
            continue
        if kind == "backward" and _same_mul(exercise, a, b):
            continue
        swapped = {k: dict(v) if isinstance(v, dict) else v for k, v in submission.items()}
        swapped[kind] = {**table, a: vb, b: va}
        accepted = frozenset({"swapped-blanks"})
        case = Case(name, habit, "swapped-blanks", solution, swapped,
                    {(kind, a, None): accepted, (kind, b, None): accepted}, follows=False)
        if not _plainly_explained(case):
            yield case


def _plainly_explained(case: Case) -> bool:
    """Whether a swapped blank holds what its own gate gives from what was typed before
    it, or the value exchanged is a sign flip of the other (n = -s): a swap nothing can
    tell from another mistake."""
    typed = {**case.solution.variant.inputs, **case.submission["forward"]}
    for kind, node, _ in case.accepted:
        if kind != "forward":
            continue
        gate = next(g for g in case.solution.exercise.gates if g.id == node)
        try:
            value = evaluate(OPS[gate.op], [typed[i] for i in gate.inputs], gate.params)
        except (ArithmeticError, ValueError):
            return True
        if _close(value, typed[node], _allowance(case.solution, node)):
            return True
    values = [case.submission[k][n] for k, n, _ in case.accepted]
    return _close(values[0], -values[1], _allowance(case.solution, next(iter(case.accepted))[1]))


def _unseen(case: Case, later: str) -> bool:
    """Whether the later of two swapped gates holds what its gate gives from the values
    typed before it (1/(1/s), -(-s)): the swap left nothing wrong there to see."""
    exercise = case.solution.exercise
    gate = next(g for g in exercise.gates if g.id == later)
    typed = {**case.solution.variant.inputs, **case.submission["forward"]}
    try:
        value = evaluate(OPS[gate.op], [typed[i] for i in gate.inputs], gate.params)
    except (ArithmeticError, ValueError):
        return False
    allowance = _allowance(case.solution, later)
    return _close(value, typed[later], allowance)


def _same_mul(exercise: Exercise, a: str, b: str) -> bool:
    return any(g.op == "mul" and {a, b} <= set(g.inputs) and len(g.inputs) == 2
               for g in exercise.gates)


def exercises(count_random: int = 40, seed: int = 0) -> Iterator[tuple[str, Solution]]:
    """The bundled exercises (as asked, and asking local gradients), a few seeds of the
    random neuron, the five new exercises, and `count_random` random ones."""
    for name, text in {**bundled(), **NEW_EXERCISES}.items():
        seeds = (0, 1, 2, 3) if "random" in name else (None,)
        for s in seeds:
            solution = solved(text, s)
            if solution is not None:
                yield (name if s is None else f"{name}#{s}"), solution
    rng = random.Random(seed)
    made = 0
    while made < count_random:
        name = f"random-{made}"
        solution = solved(random_exercise(rng, name))
        if solution is not None:
            made += 1
            yield name, solution
