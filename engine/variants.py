"""Seeded variants: the input values one student is given.

A variant is drawn from an integer seed with Python's Mersenne Twister, using only
`random()` (whose stream is fixed for a given integer seed), so the same spec and seed
give the same numbers on every machine. A draw that lands on a domain error or on a
kink (a max/min tie, relu or abs at 0) is redrawn from the same stream.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from engine.errors import DomainError, ExerciseError, Problem, Text, mark
from engine.ops import KinkChoices
from engine.spec import Choice, Exercise, RandInt, Uniform

MAX_DRAWS = 100


@dataclass(frozen=True, eq=False)
class Variant:
    """An exercise with concrete input values. `seed` is None for a fixed exercise."""

    exercise: Exercise
    seed: int | None
    inputs: Mapping[str, float]


def draw_variant(exercise: Exercise, seed: int | None = None) -> Variant:
    """The variant for a seed (no seed: the fixed values, or seed 0 if any input is random).

    Raises `ExerciseError` when fixed inputs hit a domain error, or when random draws
    keep hitting domain errors or kinks (an authoring error).
    """
    if not exercise.randomized:
        # Not randomized: every input is a plain number.
        inputs = {name: float(cast(float, v)) for name, v in exercise.inputs.items()}
        try:
            _evaluate(exercise, inputs)
        except DomainError as exc:
            problem = _domain_problem(exercise, exc, Text.of(
                mark("with the given inputs, {op}: {reason}"), op=exc.op, reason=exc.reason))
            raise ExerciseError([problem]) from None
        return Variant(exercise, None, inputs)

    seed = 0 if seed is None else seed
    rng = random.Random(seed)
    last: DomainError | str = ""
    for _ in range(MAX_DRAWS):
        inputs = {name: _draw(spec, rng) for name, spec in exercise.inputs.items()}
        try:
            kinks = _evaluate(exercise, inputs)
        except DomainError as exc:
            last = exc
            continue
        if not kinks:
            return Variant(exercise, seed, inputs)
        last = ", ".join(exercise.graph.names[k] for k in kinks)
    if isinstance(last, DomainError):
        raise ExerciseError([_domain_problem(exercise, last, Text.of(
            mark("seed {seed}: every one of {draws} draws failed; the last: {op}: {reason}"),
            seed=str(seed), draws=str(MAX_DRAWS), op=last.op, reason=last.reason))])
    raise ExerciseError([Problem.of(
        Text.of(mark("seed {seed}: every one of {draws} draws hit a tie or kink (last at {kinks}); "
                  "widen the input ranges or change the graph"),
             seed=str(seed), draws=str(MAX_DRAWS), kinks=last),
        exercise.source, exercise.line_of(last.split(", ")[0]), last.split(", ")[0],
    )])


def _draw(spec: float | Uniform | RandInt | Choice, rng: random.Random) -> float:
    if isinstance(spec, float):
        return spec
    if isinstance(spec, RandInt):
        first, last = spec.randint
        return float(first + _below(last - first + 1, rng))
    if isinstance(spec, Choice):
        return float(spec.choice[_below(len(spec.choice), rng)])
    lo, hi = spec.uniform
    if spec.step is not None:
        steps = math.floor((hi - lo) / spec.step + 1e-9)
        # round() keeps grid points exact in decimal (0.1 * 3 is 0.30000000000000004)
        return round(lo + spec.step * _below(steps + 1, rng), 12)
    return round(lo + (hi - lo) * rng.random(), spec.decimals)


def _below(n: int, rng: random.Random) -> int:
    return min(int(rng.random() * n), n - 1)


def _evaluate(exercise: Exercise, inputs: Mapping[str, float]) -> dict[int, KinkChoices]:
    graph = exercise.graph
    values = graph.forward([inputs[name] for name in graph.input_names])
    graph.backward(values)
    return graph.kinks(values)


def _domain_problem(exercise: Exercise, exc: DomainError, message: Text) -> Problem:
    return Problem.of(message, exercise.source, exercise.line_of(exc.node), exc.node)
