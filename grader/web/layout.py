"""TEMPORARY stand-in for the graph layout (grader/web/layout.py is being written on
its own branch; at merge that module replaces this one whole). Same interface: where
each node, edge and blank goes on the page, in CSS pixels, and the SVG of the shapes
and edges. This one places nodes on a plain grid: a column per depth, a row per node.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Mapping
from dataclasses import dataclass

from engine import Exercise


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class NodePlace:
    id: str
    is_input: bool
    symbol: str
    shape: Box
    forward_box: Box | None
    gradient_box: Box


@dataclass(frozen=True)
class EdgePlace:
    source: str
    target: str
    slot: int
    points: tuple[tuple[float, float], ...]
    local_box: Box


@dataclass(frozen=True)
class GraphLayout:
    width: float
    height: float
    nodes: Mapping[str, NodePlace]
    edges: tuple[EdgePlace, ...]
    forward_order: tuple[str, ...]
    backward_order: tuple[str, ...]


MARGIN = 24.0
RADIUS = 22.0
INPUT_HALF_WIDTH = 22.0
BOX_WIDTH = 68.0
BOX_HEIGHT = 28.0
GAP = 6.0
ROW_HEIGHT = 104.0
COLUMN_WIDTH = 190.0
COLUMN_WIDTH_WITH_LOCAL = 280.0

_SYMBOLS = {"mul": "×", "add": "+", "sub": "−", "div": "÷", "neg": "−x", "inv": "1/x",
            "exp": "eˣ", "log": "ln", "sqrt": "√", "sigmoid": "σ", "tanh": "tanh",
            "relu": "relu", "abs": "|x|", "max": "max", "min": "min", "sin": "sin",
            "cos": "cos", "pow": "xᵖ"}


def _number(value: float) -> str:
    return f"{value:g}".replace("-", "−")


def _symbol(op: str, params: Mapping[str, float]) -> str:
    if op == "scale":
        return f"×{_number(params['a'])}"
    if op == "add_const":
        c = params["c"]
        return f"+{_number(c)}" if c >= 0 else _number(c)
    if op == "pow":
        return f"x^{_number(params['p'])}"
    return _SYMBOLS.get(op, op)


@functools.lru_cache(maxsize=256)
def layout_of(exercise: Exercise) -> GraphLayout:
    """Where everything of an exercise goes (cached per parsed exercise version)."""
    inputs = list(exercise.inputs)
    depth = dict.fromkeys(inputs, 0)
    for gate in exercise.gates:
        depth[gate.id] = 1 + max(depth[name] for name in gate.inputs)
    columns: dict[int, list[str]] = {}
    for name in [*inputs, *(g.id for g in exercise.gates)]:
        columns.setdefault(depth[name], []).append(name)
    # Within a column, a gate goes near the rows of its inputs.
    row: dict[str, float] = {}
    sources = {g.id: g.inputs for g in exercise.gates}
    for level in sorted(columns):
        names = columns[level]
        if level > 0:
            names.sort(key=lambda n: sum(row[i] for i in sources[n]) / len(sources[n]))
        for k, name in enumerate(names):
            row[name] = float(k)
    tallest = max(len(names) for names in columns.values())
    column_width = COLUMN_WIDTH_WITH_LOCAL if "local" in exercise.ask else COLUMN_WIDTH
    centre: dict[str, tuple[float, float]] = {}
    for level, names in columns.items():
        shift = (tallest - len(names)) * ROW_HEIGHT / 2
        for name in names:
            centre[name] = (MARGIN + INPUT_HALF_WIDTH + level * column_width,
                            MARGIN + BOX_HEIGHT + shift + row[name] * ROW_HEIGHT + RADIUS)
    nodes: dict[str, NodePlace] = {}
    params = {g.id: (g.op, g.params) for g in exercise.gates}
    for name, (cx, cy) in centre.items():
        is_input = name in exercise.inputs
        half = INPUT_HALF_WIDTH if is_input else RADIUS
        right = cx + half + GAP
        nodes[name] = NodePlace(
            id=name, is_input=is_input,
            symbol=name if is_input else _symbol(*params[name]),
            shape=Box(cx - half, cy - RADIUS, 2 * half, 2 * RADIUS),
            forward_box=None if is_input else Box(right, cy - BOX_HEIGHT - 3, BOX_WIDTH,
                                                  BOX_HEIGHT),
            gradient_box=Box(right, cy + 3, BOX_WIDTH, BOX_HEIGHT))
    edges = []
    for gate in exercise.gates:
        tx, ty = centre[gate.id]
        for slot, name in enumerate(gate.inputs):
            _, sy = centre[name]
            start = nodes[name].shape.x + nodes[name].shape.width
            run = start + GAP + BOX_WIDTH + GAP
            end = tx - RADIUS
            mx, my = (run + end) / 2, (sy + ty) / 2
            edges.append(EdgePlace(
                name, gate.id, slot,
                ((start, sy), (run, sy), (end, ty)),
                Box(mx - BOX_WIDTH / 2, my - BOX_HEIGHT / 2, BOX_WIDTH, BOX_HEIGHT)))
    width = max(n.gradient_box.x + n.gradient_box.width for n in nodes.values()) + MARGIN
    height = max(n.gradient_box.y + n.gradient_box.height for n in nodes.values()) + MARGIN
    gates = tuple(g.id for g in exercise.gates)
    return GraphLayout(width, height, nodes, tuple(edges), gates,
                       (*reversed(gates), *reversed(inputs)))


def svg_of(layout: GraphLayout, *, title: str, values: Mapping[str, str] | None = None,
           gradients: Mapping[str, str] | None = None) -> str:
    """The graph's shapes and edges as an <svg> (no inputs): `values` and `gradients`
    are texts drawn where a node's value and gradient go (the inputs' given values)."""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph-drawing" '
           f'width="{layout.width:g}" height="{layout.height:g}" '
           f'viewBox="0 0 {layout.width:g} {layout.height:g}" role="img" '
           f'aria-label="{html.escape(title)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           '<path d="M 0 0 L 10 5 L 0 10 z" class="arrow"/></marker></defs>']
    for edge in layout.edges:
        d = " ".join(f"{'M' if k == 0 else 'L'} {x:g} {y:g}"
                     for k, (x, y) in enumerate(edge.points))
        out.append(f'<path class="edge" d="{d}" marker-end="url(#arrow)"/>')
    for node in layout.nodes.values():
        shape = node.shape
        cx, cy = shape.x + shape.width / 2, shape.y + shape.height / 2
        if node.is_input:
            out.append(f'<rect class="input-node" x="{shape.x:g}" y="{shape.y:g}" '
                       f'width="{shape.width:g}" height="{shape.height:g}" rx="6"/>')
        else:
            out.append(f'<circle class="gate" cx="{cx:g}" cy="{cy:g}" r="{shape.width / 2:g}"/>')
            out.append(f'<text class="node-id" x="{cx:g}" y="{shape.y - 6:g}">'
                       f'{html.escape(node.id)}</text>')
        out.append(f'<text class="symbol" x="{cx:g}" y="{cy:g}">{html.escape(node.symbol)}'
                   '</text>')
        for texts, kind, box in ((values, "value", node.forward_box or _above(node.gradient_box)),
                                 (gradients, "gradient", node.gradient_box)):
            if texts and node.id in texts:
                out.append(f'<text class="given {kind}" x="{box.x + 4:g}" '
                           f'y="{box.y + box.height / 2:g}">{html.escape(texts[node.id])}</text>')
    out.append("</svg>")
    return "".join(out)


def _above(box: Box) -> Box:
    return Box(box.x, box.y - box.height - 6, box.width, box.height)
