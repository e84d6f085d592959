"""How long grading one submission takes, on generated 50-, 500- and 5,000-node exercises.

For each size the script builds a random exercise (every op kind the scoring core
treats differently: add, sub, mul, max, scale, add_const, tanh, sigmoid, sin), solves
it, and times `grade()` on four submissions:

* reference: every blank right (the common case: nothing to carry, nothing to diagnose);
* early slip: the first gate's forward value wrong and everything after it computed
  from it, so nearly every blank is judged against the student's own numbers (an
  expectation, and its local gradients, for every blank);
* named slip: the same with the first gate's sign flipped, a slip the mistakes name
  (its diagnosis, and the range its rounding reaches, are computed too);
* two decimals: the reference rounded to 2 decimals, as typed by hand (most blanks right
  but not the reference's own number: their own numbers are checked too);
* zeros: every blank 0 (every blank wrong: consistency, the degenerate-value guard and
  diagnosis all run; the slowest case, by far with --ask-local).

Each is timed with the submission as a parsed `Submission` (what the service passes
after answering 422 for malformed bodies) and as a raw dict (parse included). The
baseline, in the same run on the same exercise, is `solve()` alone: computing the
reference solution that grading needs anyway. The one-time preparation of an exercise
for grading (cached per Exercise object) is timed apart, as "plan".

Target: grading a 50-node exercise under a millisecond, the median of five timed
rounds, for the reference and for an answer with one slip (the exit code is 1 when a
50-node case of those misses it; the others are printed for comparison).
`--language pt_BR` grades with the texts in Brazilian Portuguese.

    python benchmarks/grading_speed.py [--sizes 50 500 5000] [--seed 0] [--ask-local]
                                       [--language en|pt_BR]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from engine import Exercise, Solution, draw_variant, load_exercise, solve
from engine.ops import OPS, evaluate, local_gradients
from grader.i18n import set_language
from grader.scoring import grade, parse_submission
from grader.scoring.plan import Plan

TARGET_50_NODES = 1e-3  # seconds per grade() call
TARGETED = ("reference", "early slip", "named slip")  # the answers the target is for
INPUTS = 5
# Ops that keep values bounded take any earlier node; the others read only nodes whose
# values are bounded (inputs in [-2, 2], tanh, sigmoid, sin), so nothing overflows.
BOUNDING = ("tanh", "sigmoid", "sin")
OPEN = ("add", "sub", "mul", "max", "scale", "add_const")


def exercise_yaml(nodes: int, rng: random.Random, *, ask_local: bool) -> str:
    """A random DAG of `nodes` nodes (inputs included); the last gate adds every sink."""
    inputs = [f"x{i}" for i in range(INPUTS)]
    lines = ["id: bench", "title: generated", "inputs:"]
    lines += [f"  {name}: {{uniform: [-2, 2]}}" for name in inputs]
    lines.append("nodes:")
    bounded = list(inputs)
    every = list(inputs)
    read: set[str] = set()
    seen: set[tuple[str, ...]] = set()
    k = 0
    while k < nodes - INPUTS - 1:
        op = rng.choice(BOUNDING + OPEN)
        if op in BOUNDING:
            ins = [rng.choice(every[-20:])]
        elif op in ("scale", "add_const"):
            ins = [rng.choice(bounded[-20:])]
        else:
            ins = sorted(rng.sample(bounded[-20:], 2))
        # The same op on the same inputs twice would make equal values: a max tie.
        if (op, *ins) in seen:
            continue
        seen.add((op, *ins))
        gid = f"g{k}"
        k += 1
        params = {"scale": ", a: 0.5", "add_const": ", c: 1.5"}.get(op, "")
        lines.append(f"  - {{id: {gid}, op: {op}, in: [{', '.join(ins)}]{params}}}")
        read.update(ins)
        every.append(gid)
        if op in BOUNDING:
            bounded.append(gid)
    sinks = [n for n in every if n not in read]
    if len(sinks) == 1:
        sinks.append(sinks[0])
    lines.append(f"  - {{id: out, op: add, in: [{', '.join(sinks)}]}}")
    lines.append("output: out")
    if ask_local:
        lines.append("ask: [forward, backward, local]")
    return "\n".join(lines) + "\n"


def carried_submission(exercise: Exercise, solution: Solution,
                       slip: dict[str, float]) -> dict[str, Any]:
    """What a student who slipped at some gates and carried on with their own numbers
    would type: every later value computed from theirs."""
    values = dict(solution.variant.inputs)
    for gate in exercise.gates:
        value = evaluate(OPS[gate.op], [values[i] for i in gate.inputs], gate.params)
        values[gate.id] = slip.get(gate.id, value)
    grads = dict.fromkeys(exercise.graph.names, 0.0)
    grads[exercise.output] = 1.0
    local: dict[str, dict[str, float]] = {}
    for gate in reversed(exercise.gates):
        xs = [values[i] for i in gate.inputs]
        for name, d in zip(gate.inputs, local_gradients(OPS[gate.op], xs, values[gate.id],
                                                        gate.params), strict=True):
            grads[name] += grads[gate.id] * d
            mine = local.setdefault(gate.id, {})
            mine[name] = mine.get(name, 0.0) + d
    sub: dict[str, Any] = {"forward": {g.id: values[g.id] for g in exercise.gates},
                           "backward": grads}
    if "local" in exercise.ask:
        sub["local"] = local
    return sub


def rounded(blanks: Any, decimals: int) -> Any:
    """Every number rounded, as a student working by hand types it."""
    if isinstance(blanks, dict):
        return {key: rounded(value, decimals) for key, value in blanks.items()}
    return round(blanks, decimals)


def zeros(exercise: Exercise) -> dict[str, Any]:
    sub: dict[str, Any] = {"forward": {g.id: 0.0 for g in exercise.gates},
                           "backward": dict.fromkeys(exercise.graph.names, 0.0)}
    if "local" in exercise.ask:
        sub["local"] = {g.id: dict.fromkeys(g.inputs, 0.0) for g in exercise.gates}
    return sub


def per_call(fn: Callable[[], object], budget: float = 0.5) -> float:
    """CPU seconds per call: the median of 5 rounds, each sized to take about budget/5.

    Process CPU time, not wall time: on a shared machine other processes stretch wall
    time by whatever share of the CPU they take, which says nothing about grading.
    """
    timer = timeit.Timer(fn, timer=time.process_time)
    number, took = timer.autorange()
    number = max(1, int(number * (budget / 5) / max(took, 1e-9)))
    return statistics.median(timer.repeat(repeat=5, number=number)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ask-local", action="store_true",
                        help="also ask for every local gradient")
    parser.add_argument("--language", default="en", help="the texts' language (en, pt_BR)")
    args = parser.parse_args()
    set_language(args.language)
    rng = random.Random(args.seed)
    print(f"{'nodes':>6} {'blanks':>7}  {'solve':>9} {'plan':>9}  {'submission':<12} "
          f"{'grade':>9} {'parse+grade':>12} {'score':>6}  grade/solve")
    ok = True
    for size in args.sizes:
        exercise = load_exercise(exercise_yaml(size, rng, ask_local=args.ask_local),
                                 max_bytes=None)
        solution = solve(draw_variant(exercise, args.seed))
        t_solve = per_call(lambda solution=solution: solve(solution.variant))
        t_plan = per_call(lambda exercise=exercise: Plan(exercise))
        first = exercise.gates[0].id
        cases = {
            "reference": carried_submission(exercise, solution, {}),
            "early slip": carried_submission(
                exercise, solution, {first: solution.values[first] * 1.5 + 0.25}),
            "named slip": carried_submission(
                exercise, solution, {first: -solution.values[first]}),
            "two decimals": rounded(carried_submission(exercise, solution, {}), 2),
            "zeros": zeros(exercise),
        }
        for label, raw in cases.items():
            parsed = parse_submission(raw, exercise)
            result = grade(solution, parsed)
            t_grade = per_call(lambda s=solution, p=parsed: grade(s, p))
            t_full = per_call(lambda s=solution, r=raw: grade(s, r))
            print(f"{size:>6} {len(result.blanks):>7}  {t_solve * 1e3:>7.3f}ms "
                  f"{t_plan * 1e3:>7.3f}ms  {label:<12} "
                  f"{t_grade * 1e3:>7.3f}ms {t_full * 1e3:>10.3f}ms {result.score:>6.2f}  "
                  f"{t_grade / t_solve:>6.1f}x")
            if size <= 50 and label in TARGETED and t_grade >= TARGET_50_NODES:
                ok = False
    verdict = "met" if ok else "MISSED"
    print(f"target (50 nodes: the reference and one slip graded in under "
          f"{TARGET_50_NODES * 1e3:.0f} ms of CPU, median): {verdict}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
