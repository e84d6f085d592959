"""The SVG of a circuit's shapes and edges, drawn from its layout. Pure: no Flask.

The page puts its input boxes over the drawing at the layout's boxes, so the SVG is
drawn at its natural size (width and height in CSS pixels, the same as the viewBox).
Colours are left to the page's CSS; these classes are drawn:

* `circuit` (the svg), `edge` (every line, with an arrowhead at the end: `arrowhead`),
  `edge output` (the line out of the output gate);
* `node gate` and `node input` (a group per node, with `data-node` its id),
  `gate-shape` (a gate's circle) and `symbol` (its text), `input-name`;
* `value` and `gradient`: the worked solution's numbers when given (the lecture writes
  values in green above the edges and gradients in red below them), `given` in
  addition for an input's value.

Shapes and lines carry `currentColor` and `fill="none"` as presentation attributes,
which any CSS rule overrides: without a stylesheet the drawing is still legible.
No script, and every text is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from grader.web.layout import FONT_PX, LABEL_GAP, Box, EdgePlace, GraphLayout, NodePlace, Point

ARROW_ID = "circuit-arrowhead"
_ARROW = 7.0  # the arrowhead's length and width


def svg_of(layout: GraphLayout, *, title: str, values: Mapping[str, str] | None = None,
           gradients: Mapping[str, str] | None = None) -> str:
    """The `<svg>` element of a circuit. `values` and `gradients` (already formatted,
    by node id) are written above and below each node's outgoing line: an input's
    given value, or the whole worked solution for an instructor's preview."""
    width, height = _number(layout.width), _number(layout.height)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="circuit" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="{_number(FONT_PX)}">',
        f"<title>{escape(title)}</title>",
        f'<defs><marker id="{ARROW_ID}" viewBox="0 0 {_number(_ARROW)} {_number(_ARROW)}" '
        f'refX="{_number(_ARROW)}" refY="{_number(_ARROW / 2)}" markerUnits="userSpaceOnUse" '
        f'markerWidth="{_number(_ARROW)}" markerHeight="{_number(_ARROW)}" orient="auto">'
        f'<path class="arrowhead" fill="currentColor" '
        f'd="M0,0 L{_number(_ARROW)},{_number(_ARROW / 2)} L0,{_number(_ARROW)} Z"/>'
        f"</marker></defs>",
    ]
    parts += (_edge(edge) for edge in layout.edges)
    output = layout.backward_order[0]
    parts.append(_output_line(layout.nodes[output]))
    parts += (_node(node) for node in layout.nodes.values())
    for node in layout.nodes.values():
        parts += _numbers(node, values or {}, gradients or {})
    parts.append("</svg>")
    return "\n".join(parts)


def _edge(edge: EdgePlace) -> str:
    return (f'<path class="edge" data-source="{escape(edge.source)}" '
            f'data-target="{escape(edge.target)}" fill="none" stroke="currentColor" '
            f'd="{_path(edge.points)}" marker-end="url(#{ARROW_ID})"/>')


def _output_line(output: NodePlace) -> str:
    """The output's outgoing line, which leads to no gate: its value and gradient (1)
    are written on it as on every other. Its arrowhead comes after the boxes."""
    _, y = output.shape.center
    end = output.gradient_box.right + LABEL_GAP + _ARROW
    return (f'<path class="edge output" data-source="{escape(output.id)}" fill="none" '
            f'stroke="currentColor" d="M{_number(output.shape.right)},{_number(y)} '
            f'H{_number(end)}" marker-end="url(#{ARROW_ID})"/>')


def _path(points: Iterable[Point]) -> str:
    """Straight pieces as lines; a piece that climbs or falls while going right as a
    curve leaving and arriving level, which stays inside the piece's bounding box."""
    (x0, y0), *rest = points
    commands = [f"M{_number(x0)},{_number(y0)}"]
    for x, y in rest:
        if x > x0 and y != y0:
            middle = _number((x0 + x) / 2)
            commands.append(f"C{middle},{_number(y0)} {middle},{_number(y)} "
                            f"{_number(x)},{_number(y)}")
        else:
            commands.append(f"L{_number(x)},{_number(y)}")
        x0, y0 = x, y
    return " ".join(commands)


def _node(node: NodePlace) -> str:
    shape = node.shape
    x, y = shape.center
    node_id = escape(node.id)
    if node.is_input:
        return (f'<g class="node input" data-node="{node_id}">'
                f'<text class="input-name" fill="currentColor" x="{_number(shape.right)}" '
                f'y="{_number(y)}" text-anchor="end" dominant-baseline="central">'
                f"{node_id}</text></g>")
    radius = min(shape.width, shape.height) / 2
    return (f'<g class="node gate" data-node="{node_id}">'
            f'<rect class="gate-shape" fill="none" stroke="currentColor" '
            f'x="{_number(shape.x)}" y="{_number(shape.y)}" width="{_number(shape.width)}" '
            f'height="{_number(shape.height)}" rx="{_number(radius)}"/>'
            f'<text class="symbol" fill="currentColor" x="{_number(x)}" y="{_number(y)}" '
            f'text-anchor="middle" dominant-baseline="central">{escape(node.symbol)}</text>'
            f"</g>")


def _numbers(node: NodePlace, values: Mapping[str, str],
             gradients: Mapping[str, str]) -> list[str]:
    texts = []
    above = node.given_box if node.is_input else node.forward_box
    if node.id in values and above is not None:
        kind = "value given" if node.is_input else "value"
        texts.append(_text(kind, node.id, above, values[node.id]))
    if node.id in gradients:
        texts.append(_text("gradient", node.id, node.gradient_box, gradients[node.id]))
    return texts


def _text(kind: str, node: str, box: Box, text: str) -> str:
    x, y = box.center
    return (f'<text class="{kind}" data-node="{escape(node)}" fill="currentColor" '
            f'x="{_number(x)}" y="{_number(y)}" text-anchor="middle" '
            f'dominant-baseline="central">{escape(text)}</text>')


def _number(value: float) -> str:
    """A coordinate to 0.1 px, without trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")
