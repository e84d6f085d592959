"""The circuit's geometry: boxes apart, edges left to right, the width target, the cache."""

from __future__ import annotations

import importlib.util
import itertools
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine import OPS, Exercise, load_exercise
from grader.web.layering import BADGE_OVERHANG
from grader.web.layout import (
    MAX_WIDTH,
    Box,
    GraphLayout,
    LayoutCache,
    build_layout,
    compact_number,
    gate_symbol,
    layout_cache,
    layout_of,
)

REPO = Path(__file__).resolve().parents[2]
BUNDLED = sorted((REPO / "exercises").glob("*.yaml"))
ASK_LOCAL = "ask: [forward, backward, local]"


def _benchmark_generator():
    """grading_speed's random DAG: the graphs the width target is about."""
    spec = importlib.util.spec_from_file_location(
        "grading_speed", REPO / "benchmarks" / "grading_speed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.exercise_yaml


benchmark_yaml = _benchmark_generator()


def benchmark_exercise(gates: int, seed: int, *, ask_local: bool) -> Exercise:
    # The generator counts its 5 inputs among the nodes.
    text = benchmark_yaml(gates + 5, random.Random(seed), ask_local=ask_local)
    return load_exercise(text, max_bytes=None)


def random_exercise(gates: int, seed: int, *, ask_local: bool) -> Exercise:
    """A random DAG over every op: any number of inputs, a node read twice by one gate
    now and then, long edges, and one final gate that reads every loose end."""
    rng = random.Random(seed)
    inputs = [f"x{k}" for k in range(rng.randint(1, 6))]
    names = list(inputs)
    lines = ["id: random", "title: random", "inputs:"]
    lines += [f"  {name}: 1.5" for name in inputs]
    lines.append("nodes:")
    ops = sorted(OPS)
    for k in range(gates - 1):
        op = OPS[rng.choice(ops)]
        most = op.max_inputs if op.max_inputs is not None else 4
        count = rng.randint(op.min_inputs, most)
        window = names if rng.random() < 0.2 else names[-12:]
        ins = [rng.choice(window) for _ in range(count)]
        params = "".join(f", {p}: 2" for p in op.params)
        lines.append(f"  - {{id: g{k}, op: {op.name}, in: [{', '.join(ins)}]{params}}}")
        names.append(f"g{k}")
    read = {name for line in lines if "in: [" in line
            for name in line.split("in: [")[1].split("]")[0].split(", ")}
    loose = [name for name in names if name not in read]
    final = "add" if len(loose) > 1 else "neg"
    lines.append(f"  - {{id: out, op: {final}, in: [{', '.join(loose)}]}}")
    lines.append("output: out")
    if ask_local:
        lines.append(ASK_LOCAL)
    return load_exercise("\n".join(lines) + "\n")


def with_local(path: Path, ask_local: bool) -> Exercise:
    text = path.read_text(encoding="utf-8")
    if ask_local and "ask:" not in text:
        text += ASK_LOCAL + "\n"
    elif not ask_local:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("ask:"))
    return load_exercise(text)


def all_boxes(layout: GraphLayout) -> list[tuple[str, Box]]:
    found = []
    for node in layout.nodes.values():
        for kind in ("shape", "forward_box", "gradient_box", "given_box"):
            box = getattr(node, kind)
            if box is not None:
                found.append((f"{node.id}.{kind}", box))
    found += [(f"{e.source}->{e.target}.local", e.local_box) for e in layout.edges
              if e.local_box is not None]
    return found


def blank_boxes(layout: GraphLayout) -> list[tuple[str, Box]]:
    """The boxes a student types in (the others are shapes and given values)."""
    return [(name, box) for name, box in all_boxes(layout)
            if not name.endswith((".shape", ".given_box"))]


def band_of(layout: GraphLayout, y: float) -> int | None:
    for k, (top, bottom) in enumerate(layout.bands):
        if top - 1e-6 <= y <= bottom + 1e-6:
            return k
    return None


def inside(box: Box, x: float, y: float) -> bool:
    return box.x - 1e-6 <= x <= box.right + 1e-6 and box.y - 1e-6 <= y <= box.bottom + 1e-6


def assert_sound(layout: GraphLayout, exercise: Exercise) -> None:
    """Every invariant of a layout, for any exercise."""
    gates = {g.id: g for g in exercise.gates}
    assert set(layout.nodes) == set(exercise.inputs) | set(gates)
    boxes = all_boxes(layout)
    overlapping = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
                   if box_a.overlaps(box_b)]
    assert overlapping == []
    for name, box in boxes:
        assert box.x >= 0 and box.right <= layout.width, name
        assert box.y >= 0 and box.bottom <= layout.height, name
    for name, box in blank_boxes(layout):  # a status badge is never cut by the frame
        assert box.right + BADGE_OVERHANG <= layout.width, name
        assert box.y - BADGE_OVERHANG >= 0, name
    # The inputs make the first column, left of every gate of the first band.
    first_band = [n for n in layout.nodes.values()
                  if band_of(layout, n.shape.center[1]) == 0]
    inputs_right = max(layout.nodes[name].shape.right for name in exercise.inputs)
    assert all(n.layer == 0 for n in layout.nodes.values() if n.is_input)
    assert all(n.shape.x > inputs_right for n in first_band if not n.is_input)
    assert all(n.layer > 0 and n.forward_box is not None and n.given_box is None
               for n in layout.nodes.values() if not n.is_input)
    assert all(n.given_box is not None for n in layout.nodes.values() if n.is_input)
    # One edge per node a gate reads, for the first slot it is read in.
    expected = {(name, gate.id): gate.inputs.index(name)
                for gate in exercise.gates for name in gate.inputs}
    assert {(e.source, e.target): e.slot for e in layout.edges} == expected
    assert len(layout.edges) == len(expected)
    asks_local = "local" in exercise.ask
    for edge in layout.edges:
        assert (edge.local_box is not None) == asks_local
        source, target = layout.nodes[edge.source], layout.nodes[edge.target]
        (x0, y0), (x1, y1) = edge.points[0], edge.points[-1]
        assert x0 == pytest.approx(source.shape.right) and inside(source.shape, x0, y0)
        assert inside(target.shape, x1, y1)
        assert target.layer > source.layer
        for (xa, ya), (xb, yb) in itertools.pairwise(edge.points):
            band = band_of(layout, ya)
            if band is not None and band == band_of(layout, yb):
                assert xb >= xa - 1e-9, (edge.source, edge.target, edge.points)
        if len(layout.bands) == 1:
            assert all(0 <= x <= layout.width and 0 <= y <= layout.height
                       for x, y in edge.points)
        if edge.local_box is not None:  # on its own edge, near the target
            cx, cy = edge.local_box.center
            assert any(ya == yb == pytest.approx(cy) and xa <= cx <= xb
                       for (xa, ya), (xb, yb) in itertools.pairwise(edge.points))
            assert edge.local_box.right < target.shape.x
    # Tab orders: the forward blanks in a topological order, the gradients from the
    # output back, each node after every gate that reads it.
    assert sorted(layout.forward_order) == sorted(gates)
    position = {name: k for k, name in enumerate(layout.forward_order)}
    for gate in exercise.gates:
        assert all(position[name] < position[gate.id] for name in gate.inputs if name in gates)
    assert layout.backward_order[0] == exercise.output
    assert sorted(layout.backward_order) == sorted(layout.nodes)
    back = {name: k for k, name in enumerate(layout.backward_order)}
    for gate in exercise.gates:
        assert all(back[name] > back[gate.id] for name in gate.inputs)
    assert [top for top, _ in layout.bands] == sorted(top for top, _ in layout.bands)


@pytest.mark.parametrize("ask_local", [False, True], ids=["plain", "local"])
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_exercises_are_drawn_soundly_within_the_width(path, ask_local):
    exercise = with_local(path, ask_local)
    layout = build_layout(exercise)
    assert_sound(layout, exercise)
    assert layout.width <= MAX_WIDTH


@pytest.mark.parametrize("ask_local", [False, True], ids=["plain", "local"])
@pytest.mark.parametrize("gates", [5, 12, 25, 40, 60])
@pytest.mark.parametrize("seed", range(4))
def test_random_graphs_are_drawn_soundly_within_the_width(gates, seed, ask_local):
    exercise = random_exercise(gates, seed, ask_local=ask_local)
    assert len(exercise.gates) == gates
    layout = build_layout(exercise)
    assert_sound(layout, exercise)
    assert layout.width <= MAX_WIDTH


@pytest.mark.parametrize("ask_local", [False, True], ids=["plain", "local"])
@pytest.mark.parametrize("seed", range(6))
def test_a_50_gate_graph_fits_the_width(seed, ask_local):
    exercise = benchmark_exercise(50, seed, ask_local=ask_local)
    layout = build_layout(exercise)
    assert_sound(layout, exercise)
    assert layout.width <= MAX_WIDTH


def test_the_lecture_neuron_is_one_row_of_gates_in_one_band():
    exercise = load_exercise(REPO / "exercises" / "sigmoid-neuron.yaml")
    layout = build_layout(exercise)
    assert len(layout.bands) == 1
    chain = ["s", "n", "e", "d", "f"]
    assert len({layout.nodes[name].shape.center[1] for name in chain}) == 1
    xs = [layout.nodes[name].shape.x for name in chain]
    assert xs == sorted(xs)
    assert [layout.nodes[name].symbol for name in chain] == ["+", "×−1", "eˣ", "+1", "1/x"]


def chain_exercise(length: int) -> Exercise:
    nodes = ["  - {id: g0, op: exp, in: [x]}"]
    nodes += [f"  - {{id: g{k}, op: tanh, in: [g{k - 1}]}}" for k in range(1, length)]
    return load_exercise("id: chain\ntitle: chain\ninputs: {x: 0.5}\nnodes:\n"
                         + "\n".join(nodes) + f"\noutput: g{length - 1}\n")


def test_a_long_path_wraps_into_bands_that_fit_the_width():
    exercise = chain_exercise(30)
    layout = build_layout(exercise)
    assert_sound(layout, exercise)
    assert len(layout.bands) > 1 and layout.width <= MAX_WIDTH
    assert layout.height > layout.bands[0][1]


def test_a_graph_that_cannot_fit_is_drawn_wider_for_the_page_to_scroll():
    exercise = benchmark_exercise(200, 0, ask_local=True)
    layout = build_layout(exercise)
    assert_sound(layout, exercise)
    assert layout.width > MAX_WIDTH


def test_local_boxes_only_when_the_exercise_asks_for_them():
    path = REPO / "exercises" / "gate-patterns.yaml"
    assert all(e.local_box is None for e in build_layout(with_local(path, False)).edges)
    assert all(e.local_box is not None for e in build_layout(with_local(path, True)).edges)


def test_a_gate_reading_one_node_twice_has_one_edge_from_it():
    exercise = load_exercise("id: sq\ntitle: sq\ninputs: {x: 2.0}\n"
                             "nodes: [{id: f, op: mul, in: [x, x]}]\noutput: f\n")
    layout = build_layout(exercise)
    assert [(e.source, e.target, e.slot) for e in layout.edges] == [("x", "f", 0)]
    assert_sound(layout, exercise)


def test_the_same_exercise_gives_the_same_layout():
    exercise = benchmark_exercise(50, 3, ask_local=True)
    assert build_layout(exercise) == build_layout(exercise)
    assert build_layout(exercise) == build_layout(load_exercise(exercise.text, max_bytes=None))


def test_the_layout_does_not_depend_on_the_process_hash_seed():
    child = ("import random, sys\n"
             "sys.path.insert(0, 'tests/web')\n"
             "from test_layout import benchmark_exercise\n"
             "from grader.web.layout import build_layout\n"
             "layout = build_layout(benchmark_exercise(40, 1, ask_local=False))\n"
             "print([(e.source, e.target, e.points) for e in layout.edges])\n")
    outputs = {subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                              cwd=REPO, timeout=120, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
               for seed in ("1", "2")}
    assert len(outputs) == 1


def test_layout_of_is_cached_per_content_hash():
    layout_cache.clear()
    path = REPO / "exercises" / "branching.yaml"
    first = layout_of(load_exercise(path))
    assert layout_of(load_exercise(path)) is first
    assert len(layout_cache) == 1
    changed = load_exercise(path.read_text(encoding="utf-8") + "# another version\n")
    assert layout_of(changed) is not first and layout_of(changed) == first
    assert len(layout_cache) == 2


def test_the_cache_drops_the_least_recently_used():
    cache = LayoutCache(2)
    a, b, c = (build_layout(chain_exercise(n)) for n in (1, 2, 3))
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # now b is the oldest
    cache.put("c", c)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    assert len(cache) == 2


def test_layout_of_from_many_threads_at_once():
    layout_cache.clear()
    exercises = [benchmark_exercise(30, seed % 3, ask_local=False) for seed in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        layouts = list(pool.map(layout_of, exercises))
    for exercise, layout in zip(exercises, layouts, strict=True):
        assert layout == layout_of(exercise) == build_layout(exercise)
    assert len(layout_cache) == 3


# ---------------------------------------------------------------- symbols

SYMBOLS = {
    ("add", ()): "+", ("sub", ()): "−", ("mul", ()): "×", ("div", ()): "÷", ("neg", ()): "−x",
    ("scale", (("a", -1.0),)): "×−1", ("scale", (("a", 2.0),)): "×2",
    ("scale", (("a", 0.5),)): "×0.5", ("add_const", (("c", 1.0),)): "+1",
    ("add_const", (("c", -2.5),)): "−2.5", ("pow", (("p", 2.0),)): "x²",
    ("pow", (("p", -1.0),)): "x⁻¹", ("pow", (("p", 0.5),)): "x^0.5", ("sqrt", ()): "√",
    ("exp", ()): "eˣ", ("log", ()): "ln", ("inv", ()): "1/x", ("abs", ()): "|x|",
    ("max", ()): "max", ("min", ()): "min", ("relu", ()): "relu", ("sigmoid", ()): "σ",
    ("tanh", ()): "tanh", ("sin", ()): "sin", ("cos", ()): "cos",
}


@pytest.mark.parametrize(("op", "params"), list(SYMBOLS), ids=lambda v: str(v))
def test_each_gate_is_labelled_as_the_lecture_draws_it(op, params):
    assert gate_symbol(op, dict(params)) == SYMBOLS[op, params]


def test_every_op_has_a_symbol_of_its_own():
    assert {op for op, _ in SYMBOLS} == set(OPS)


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (-1.0, "−1"), (0.5, "0.5"), (-0.25, "−0.25"), (100.0, "100"),
    (1e6, "1e+06"), (1 / 3, "0.3333")])
def test_numbers_in_symbols_are_compact(value, text):
    assert compact_number(value) == text
