"""The engine against micrograd and PyTorch scalar autograd on random DAGs.

Builds a random graph of ``--nodes`` gates with branches everywhere, runs it through
`engine.solve`, micrograd (`micrograd.engine.Value`) and PyTorch (one 0-d float64 tensor
per node), checks that all three agree on the output and on the gradient of every input,
and times each (best of ``--repeat``). Loading the same graph as a YAML exercise is timed
against a bare ``yaml.load`` with PyYAML's C loader. The graphs are drawn by
`random_dag.py`, as described below.

Targets: ``solve`` at least 10x faster than each peer, on the plain graph and on the
tied graph below (there with its valid-subgradient intervals); loading at most 2x a bare
``yaml.load``. The exit code is 0 only when every target is met and the engines agree.

Run (needs the ``bench`` extras: ``pip install -e '.[dev,bench]'``)::

    python benchmarks/engine_vs_peers.py [--nodes 100000] [--seed 0] [--repeat 3]

The graph is assembled from small units, each a few gates of the engine:

* mean(a, b)     = scale(add(a, b), 0.5)
* product(a, b)  = scale(mul(a, b), 2^k), the power of two bringing it into [0.5, 1)
* max(a, b), min(a, b)
* hinge(a, b, c) = add(c, relu(add(a, scale(b, -1))))     # c + relu(a - b)

A unit reads two or three earlier unit outputs or inputs, mostly from a recent window,
now and then from anywhere before, so most nodes have several consumers; the last gate
adds up every node that nothing else reads. The generator evaluates each candidate unit
and redraws it unless its output lies in [0.5, 2], its relu input and max/min pair are
clearly apart from a kink or tie, and a bound on its sensitivity to the inputs stays
small: values never overflow or underflow, gradients stay moderate at any depth, and
round-off cannot send two engines down different branches.

micrograd has no max/min, so both peers build them from relu:
max(a, b) = a + relu(b + (-1)·a) and min(a, b) = a + (-1)·relu(a + (-1)·b).

A second graph of the same size, drawn from the same seed, adds units that sit exactly
on a kink, so that ``solve`` also works out the valid subgradients there:

* tied max(a, b)  = max(twin(a, b), twin(b, a)), tied min likewise
* hinge at 0      = add(c, relu(add(twin(a, b), scale(twin(b, a), -1))))   # c + relu(0)

where twin is a mean or a product unit: its two copies have bit-identical values, so
every engine sees the same tie. At a tie micrograd and PyTorch route the gradient to the
first input and give relu'(0) = 0, the engine's convention, so the three still agree.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import pstats
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from random_dag import TIED_UNITS, UNITS, RandomDag, exercise_yaml, random_dag

from engine import Variant, draw_variant, load_exercise, solve

try:
    from micrograd.engine import Value

    with warnings.catch_warnings():
        # torch warns at import when NumPy is absent; scalar autograd does not need it.
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
except ImportError as missing:  # pragma: no cover - depends on the environment
    sys.exit(f"{missing}: install the benchmark extras with  pip install -e '.[dev,bench]'")

SPEED_TARGET = 10.0  # each peer's time / ours, at least
LOAD_TARGET = 2.0  # load_exercise time / bare yaml.load time, at most
REL_TOLERANCE = 1e-9
ABS_TOLERANCE = 1e-12


_YAML_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)



# ---------------------------------------------------------------- the engines

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Result:
    """One engine's output value and d output / d input for every input, in order."""

    output: float
    input_grads: tuple[float, ...]


def build_peer_graph(
    dag: RandomDag, leaves: Sequence[Any], total: Callable[[list[Any]], Any]
) -> Any:
    """Evaluate the DAG with autograd scalars that support +, * and .relu().

    ``total`` sums the output gate's terms, each peer in its own way.
    """
    nodes: list[Any] = list(leaves)
    append = nodes.append
    *body, last = dag.gates
    for gate in body:
        op = gate.op
        ins = gate.inputs
        if op == "add":
            append(nodes[ins[0]] + nodes[ins[1]])
        elif op == "scale":
            append(nodes[ins[0]] * gate.factor)
        elif op == "mul":
            append(nodes[ins[0]] * nodes[ins[1]])
        elif op == "relu":
            append(nodes[ins[0]].relu())
        elif op == "max":  # max(a, b) = a + relu(b - a)
            a, b = nodes[ins[0]], nodes[ins[1]]
            append(a + (b + a * -1.0).relu())
        elif op == "min":  # min(a, b) = a - relu(a - b)
            a, b = nodes[ins[0]], nodes[ins[1]]
            append(a + (a + b * -1.0).relu() * -1.0)
        else:
            raise ValueError(f"no peer translation for op {op!r}")
    return total([nodes[j] for j in last.inputs])


def run_ours(
    variant: Variant, output: str, inputs: Sequence[str], clock: Clock
) -> tuple[float, Result]:
    """`solve` on a loaded exercise: forward and backward; returns (seconds, result)."""
    start = clock()
    solution = solve(variant)
    seconds = clock() - start
    return seconds, Result(solution.values[output], tuple(solution.grads[n] for n in inputs))


def run_micrograd(dag: RandomDag, clock: Clock) -> tuple[float, Result]:
    """Build the graph from `Value`s and backpropagate; returns (seconds, result).

    Needs a deep stack: see `in_big_thread`.
    """
    start = clock()
    leaves = [Value(v) for v in dag.input_values]
    out = build_peer_graph(dag, leaves, sum)
    out.backward()
    seconds = clock() - start
    return seconds, Result(float(out.data), tuple(float(leaf.grad) for leaf in leaves))


def run_torch(dag: RandomDag, clock: Clock) -> tuple[float, Result]:
    """Build the graph from 0-d float64 tensors and backpropagate; (seconds, result)."""
    start = clock()
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in dag.input_values]
    out = build_peer_graph(dag, leaves, lambda terms: torch.stack(terms).sum())
    out.backward()
    seconds = clock() - start
    grads = tuple(float(leaf.grad.item()) if leaf.grad is not None else 0.0 for leaf in leaves)
    return seconds, Result(float(out.item()), grads)


def in_big_thread(fn: Callable[[], Any], stack_bytes: int, recursion: int) -> Any:
    """Run ``fn`` in a thread with a large stack and recursion limit (micrograd's
    topological sort recurses once per node along the longest path)."""
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the calling thread below
            outcome.append((False, exc))

    old_stack = threading.stack_size(stack_bytes)
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, recursion))
    try:
        thread = threading.Thread(target=target, name="deep-stack")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


# ---------------------------------------------------------------- timing and checks

Run = Callable[[], tuple[float, Any]]


def best_of(repeat: int, runs: dict[str, Run], *, pause_gc: bool) -> dict[str, tuple[float, Any]]:
    """The fastest of ``repeat`` runs of each (each run times itself) and its last result.

    The runs take turns, round after round, so a busy moment on the machine is shared
    rather than landing on one of them. With ``pause_gc`` the cyclic garbage collector
    is paused while a run is timed (as `timeit` does); it runs between runs either way,
    so nobody pays for another's garbage.
    """
    best = dict.fromkeys(runs, math.inf)
    results: dict[str, Any] = dict.fromkeys(runs)
    for _ in range(repeat):
        for name, run in runs.items():
            results[name] = None
            gc.collect()
            if pause_gc:
                gc.disable()
            try:
                seconds, results[name] = run()
            finally:
                gc.enable()
            best[name] = min(best[name], seconds)
    return {name: (best[name], results[name]) for name in runs}


def timed(fn: Callable[[], Any], clock: Clock) -> Run:
    def run() -> tuple[float, Any]:
        start = clock()
        value = fn()
        return clock() - start, value

    return run


def max_relative_difference(ours: Result, theirs: Result) -> tuple[float, bool]:
    """The largest |theirs - ours| / |ours| over the output and every input gradient,
    and whether every difference is within max(REL_TOLERANCE·|ours|, ABS_TOLERANCE)."""
    worst = 0.0
    agree = True
    pairs = zip((ours.output, *ours.input_grads), (theirs.output, *theirs.input_grads),
                strict=True)
    for mine, other in pairs:
        diff = abs(other - mine)
        if not diff <= max(REL_TOLERANCE * abs(mine), ABS_TOLERANCE):  # NaN fails too
            agree = False
        if mine != 0.0:
            worst = max(worst, diff / abs(mine))
        elif diff:
            worst = math.inf
    return worst, agree


def profile_solve(variant: Variant, top: int) -> None:
    """Print where one `solve` spends its time (cProfile, by own time)."""
    profiler = cProfile.Profile()
    profiler.enable()
    solve(variant)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000, help="gates in the DAG")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random DAG")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the best counts")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: time.perf_counter; cpu: time.process_time, steadier "
                        "when other programs compete for the processor")
    parser.add_argument("--keep-gc", action="store_true",
                        help="leave the garbage collector running while timing")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile breakdown of one solve()")
    args = parser.parse_args(argv)
    if args.nodes < 10:
        parser.error("--nodes must be at least 10")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clock: Clock = time.perf_counter if args.clock == "wall" else time.process_time
    pause_gc = not args.keep_gc
    torch.set_num_threads(1)

    start = time.perf_counter()
    dag = random_dag(args.nodes, args.seed)
    text = exercise_yaml(dag)
    ops = sorted({g.op for g in dag.gates})
    print(f"DAG: {len(dag.gates)} gates, {len(dag.input_values)} inputs, "
          f"{len(dag.gates[-1].inputs)} terms in the output sum, seed {args.seed}, "
          f"{len(text) / 1e6:.1f} MB of YAML (built in {time.perf_counter() - start:.1f} s)")
    print("gates by op: " + ", ".join(f"{op} {sum(g.op == op for g in dag.gates)}" for op in ops))
    print(f"timing: best of {args.repeat}, {args.clock} clock, garbage collector "
          + ("running" if args.keep_gc else "paused while timed") + "\n")

    # Loading (parse and validate) against a bare parse with the same C loader.
    loads = best_of(args.repeat, {
        "ours": timed(lambda: load_exercise(text, max_bytes=None), clock),
        "yaml": timed(lambda: yaml.load(text, Loader=_YAML_LOADER), clock),
    }, pause_gc=pause_gc)
    t_load, exercise = loads["ours"]
    t_yaml = loads["yaml"][0]
    del loads

    # draw_variant compiles the graph and evaluates it once; solve is timed after that.
    start = time.perf_counter()
    variant = draw_variant(exercise)
    t_prepare = time.perf_counter() - start

    timings = race(dag, variant, args, clock, pause_gc)
    t_ours, ours = timings["ours"]
    t_micrograd, micrograd = timings["micrograd"]
    t_torch, torch_result = timings["torch"]

    diff_micrograd, agree_micrograd = max_relative_difference(ours, micrograd)
    diff_torch, agree_torch = max_relative_difference(ours, torch_result)
    speed_micrograd = t_micrograd / t_ours
    speed_torch = t_torch / t_ours
    load_ratio = t_load / t_yaml
    speed_ok = speed_micrograd >= SPEED_TARGET and speed_torch >= SPEED_TARGET
    load_ok = load_ratio <= LOAD_TARGET
    agree = agree_micrograd and agree_torch

    solution = solve(variant)
    zero = sum(g == 0.0 for g in solution.grads.values())
    grads = ours.input_grads
    print(f"output {ours.output:.6g}; input gradients {min(grads):.3g} to {max(grads):.3g}; "
          f"{zero} of {dag.size} nodes ({zero / dag.size:.0%}) have gradient 0")
    print(f"draw_variant (compiles the graph; not part of the solve time): {t_prepare:.3f} s\n")
    del solution

    target = f">= {SPEED_TARGET:g}x"
    rows = [
        ("solve (ours)", t_ours, "", "", ""),
        ("micrograd", t_micrograd, f"{speed_micrograd:.2f}x", target,
         verdict(speed_micrograd >= SPEED_TARGET)),
        ("torch scalar", t_torch, f"{speed_torch:.2f}x", target,
         verdict(speed_torch >= SPEED_TARGET)),
        ("load_exercise", t_load, f"{load_ratio:.2f}x", f"<= {LOAD_TARGET:g}x", verdict(load_ok)),
        ("yaml.load (C)", t_yaml, "", "", ""),
    ]
    print(f"{'':16}{'seconds':>10}  {'ratio':>7}  {'target':>7}  result")
    for label, seconds, ratio, goal, result in rows:
        print(f"{label:16}{seconds:10.4f}  {ratio:>7}  {goal:>7}  {result}".rstrip())
    print("ratio: peer time / solve time; load_exercise time / yaml.load time\n")

    print(f"agreement with solve on the output and {len(grads)} input gradients "
          f"(within {REL_TOLERANCE:g} relative, {ABS_TOLERANCE:g} absolute):")
    print(f"  micrograd  max relative difference {diff_micrograd:.2e}  {verdict(agree_micrograd)}")
    print(f"  torch      max relative difference {diff_torch:.2e}  {verdict(agree_torch)}")

    if args.profile:
        print("\ncProfile of one solve():")
        profile_solve(variant, top=15)

    tied_speed_ok, tied_agree = tied_graph_section(args, clock, pause_gc)

    all_ok = speed_ok and load_ok and agree and tied_speed_ok and tied_agree
    print(f"\noverall: {verdict(all_ok)} (speed {verdict(speed_ok)}, loading {verdict(load_ok)}, "
          f"agreement {verdict(agree)}, tied graph speed {verdict(tied_speed_ok)}, "
          f"tied graph agreement {verdict(tied_agree)})")
    return 0 if all_ok else 1


def race(dag: RandomDag, variant: Variant, args: argparse.Namespace, clock: Clock,
         pause_gc: bool) -> dict[str, tuple[float, Any]]:
    """Best times and results of solve, micrograd and torch on one graph."""
    output = dag.name(dag.size - 1)
    inputs = [dag.name(j) for j in range(len(dag.input_values))]
    # Everything runs in one deep-stack thread, taking turns (micrograd needs the stack).
    return in_big_thread(
        lambda: best_of(args.repeat, {
            "ours": lambda: run_ours(variant, output, inputs, clock),
            "micrograd": lambda: run_micrograd(dag, clock),
            "torch": lambda: run_torch(dag, clock),
        }, pause_gc=pause_gc),
        stack_bytes=512 * 1024 * 1024,
        recursion=10 * dag.size + 10_000,  # micrograd makes about 3 Values per gate
    )


def tied_graph_section(args: argparse.Namespace, clock: Clock, pause_gc: bool
                       ) -> tuple[bool, bool]:
    """The same race on a graph full of ties and relus at 0, where `solve` also works
    out the valid subgradients; returns (speed target met, engines agree)."""
    start = time.perf_counter()
    gc.disable()  # the collector would take most of the loading time (see best_of)
    try:
        dag = random_dag(args.nodes, args.seed, UNITS + TIED_UNITS)
        exercise = load_exercise(exercise_yaml(dag), max_bytes=None)
        variant = draw_variant(exercise)
    finally:
        gc.enable()
    built = time.perf_counter() - start
    # The first solve after draw_variant, alone: anything built once per graph shows here.
    gc.collect()
    gc.disable()
    try:
        start = clock()
        solution = solve(variant)
        t_first = clock() - start
    finally:
        gc.enable()
    ties = sum(g.op in ("max", "min") and len(set(g.inputs)) > 1
               and len({solution.values[i] for i in g.inputs}) == 1 for g in exercise.gates)
    at_zero = sum(g.op == "relu" and solution.values[g.inputs[0]] == 0.0
                  for g in exercise.gates)
    print(f"\ntied graph: {len(dag.gates)} gates, seed {args.seed} (built in {built:.1f} s); "
          f"{ties} max/min ties, {at_zero} relus at 0")
    print(f"solve reports {len(solution.local_ranges)} local gradient ranges and "
          f"{len(solution.grad_ranges)} gradient ranges; first solve {t_first:.4f} s")
    del solution

    timings = race(dag, variant, args, clock, pause_gc)
    t_ours, ours = timings["ours"]
    t_micrograd, micrograd = timings["micrograd"]
    t_torch, torch_result = timings["torch"]
    diff_micrograd, agree_micrograd = max_relative_difference(ours, micrograd)
    diff_torch, agree_torch = max_relative_difference(ours, torch_result)
    speed_micrograd = t_micrograd / t_ours
    speed_torch = t_torch / t_ours
    speed_ok = speed_micrograd >= SPEED_TARGET and speed_torch >= SPEED_TARGET

    target = f">= {SPEED_TARGET:g}x"
    rows = [
        ("solve + ranges", t_ours, "", "", ""),
        ("micrograd", t_micrograd, f"{speed_micrograd:.2f}x", target,
         verdict(speed_micrograd >= SPEED_TARGET)),
        ("torch scalar", t_torch, f"{speed_torch:.2f}x", target,
         verdict(speed_torch >= SPEED_TARGET)),
    ]
    print(f"\n{'':16}{'seconds':>10}  {'ratio':>7}  {'target':>7}  result")
    for label, seconds, ratio, goal, result in rows:
        print(f"{label:16}{seconds:10.4f}  {ratio:>7}  {goal:>7}  {result}".rstrip())
    print(f"tied graph: solve with ranges {target} faster than micrograd and torch: "
          + ("PASS" if speed_ok else "MISSED"))
    print(f"  micrograd  max relative difference {diff_micrograd:.2e}  {verdict(agree_micrograd)}")
    print(f"  torch      max relative difference {diff_torch:.2e}  {verdict(agree_torch)}")
    if args.profile:
        print("\ncProfile of one solve() on the tied graph:")
        profile_solve(variant, top=15)
    return speed_ok, agree_micrograd and agree_torch


if __name__ == "__main__":
    sys.exit(main())
