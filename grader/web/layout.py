"""Where each part of an exercise's circuit is drawn: the geometry behind the pages.

The lecture draws a circuit with its inputs on the left, each gate as a labelled circle
and the edges running left to right, with the forward value written above each edge and
the gradient below it. The pages put an input box at each of those places; this module
says where, in CSS pixels from the top-left corner of the drawing, and `grader.web.svg`
draws the shapes and edges. Pure: no Flask, no I/O. The generic steps of the layered
layout (order within columns, heights, bands) are in `grader.web.layering`.

Each node has a short outgoing line (its *stub*) with its forward box above and its
gradient box below; the edges to its consumers fan out from the stub's end. When the
exercise asks for local gradients, each gate gets a lane on its left where every
incoming edge runs horizontally through its own local box before meeting the gate.

The layout is layered (Sugiyama style):

1. layers: a node sits at the length of its longest path from the inputs, so the inputs
   form the first column and the output the last. An edge that spans several layers
   crosses each layer in between at a pass-through point, shared by all the edges of one
   source, so that it runs between the gates instead of through them;
2. the order in each column: barycenter sweeps down and up, with swaps of neighbours,
   keeping the order with the fewest crossings;
3. the height of each item: sweeps that pull it towards its neighbours (pass-through
   lines most, so long edges run straight), each column solved exactly for the nearest
   heights that keep its items apart (pool adjacent violators);
4. the columns: the space between them shrinks from comfortable to a minimum so the
   drawing fits `MAX_WIDTH`; a graph still too long is cut into bands stacked top to
   bottom, its edges wrapping around from the right end of one band to the left of the
   next through gutters and a channel, one track per line, nested so they do not cross.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from types import MappingProxyType

from engine import Exercise
from grader.web.layering import (
    GUTTER_PAD,
    MARGIN,
    MAX_WIDTH,
    TRACK,
    Item,
    bands_for,
    gutters,
    link,
    order_columns,
    place_band,
    run_between,
)

__all__ = [
    "BOX_HEIGHT", "BOX_WIDTH", "FONT_PX", "LABEL_GAP", "MAX_WIDTH", "Box", "EdgePlace",
    "GraphLayout", "LayoutCache", "NodePlace", "Point", "build_layout", "compact_number",
    "gate_symbol", "layout_cache", "layout_of",
]

BOX_WIDTH = 72.0  # an input box that holds about 6 characters at 14 px
BOX_HEIGHT = 26.0
FONT_PX = 14.0
CHAR_WIDTH = 0.6 * FONT_PX  # an average sans-serif glyph at FONT_PX, digits included
LABEL_GAP = 3.0  # between a box and the line it is written on

_SHAPE_SIZE = 36.0  # a gate's circle
_SYMBOL_CHAR_WIDTH = 0.68 * 15.0  # a glyph of a gate's symbol (15 px in the CSS)
_PORT_PITCH = 8.0  # between the arrows entering one gate
_STUB = BOX_WIDTH + 2 * LABEL_GAP
_LANE = BOX_WIDTH + 2 * LABEL_GAP  # the local boxes' lane, left of a gate
_CONVERGE = 18.0  # from the lane's lines to the gate's ports
_LEAD = 10.0  # the straight piece that carries the arrowhead into a gate
_LOCAL_PITCH = BOX_HEIGHT + 8.0
_LINE_GAP_NEAR = 6.0  # lines closer than this where they bend count as overlapping
_BAND_GAP = 28.0
_CACHE_SIZE = 256

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A rectangle in CSS pixels, origin at the drawing's top-left corner."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def center(self) -> Point:
        return self.x + self.width / 2, self.y + self.height / 2

    def overlaps(self, other: Box) -> bool:
        """Whether the two share some area (boxes that only touch do not)."""
        return (self.x < other.right and other.x < self.right
                and self.y < other.bottom and other.y < self.bottom)


@dataclass(frozen=True)
class NodePlace:
    """One node: its shape and where its blanks go.

    `forward_box` is None for an input (its value is given, written in `given_box`,
    which is None for a gate); `layer` is the node's column, 0 for the inputs."""

    id: str
    is_input: bool
    symbol: str  # the input's name, or the gate's symbol ("×", "+1", "σ", ...)
    shape: Box
    forward_box: Box | None
    gradient_box: Box
    given_box: Box | None
    layer: int


@dataclass(frozen=True)
class EdgePlace:
    """One edge, from a node into one input slot of a gate. A gate that reads one node
    twice gets one edge from it, for its first slot: its local gradient is the total.
    `local_box` is None unless the exercise asks for local gradients."""

    source: str
    target: str
    slot: int
    points: tuple[Point, ...]  # a polyline, from the source's shape to the target's
    local_box: Box | None


@dataclass(frozen=True)
class GraphLayout:
    """The whole drawing. `bands` gives the top and bottom of each band, top first:
    one unless the graph was too long for the width and wraps."""

    width: float
    height: float
    nodes: Mapping[str, NodePlace]
    edges: tuple[EdgePlace, ...]
    forward_order: tuple[str, ...]  # gates, layer by layer, top to bottom
    backward_order: tuple[str, ...]  # every node, from the output back to the inputs
    bands: tuple[tuple[float, float], ...]


# ---------------------------------------------------------------- gate symbols

_SYMBOLS = {
    "add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "−x", "sqrt": "√", "exp": "eˣ",
    "log": "ln", "inv": "1/x", "abs": "|x|", "max": "max", "min": "min", "relu": "relu",
    "sigmoid": "σ", "tanh": "tanh", "sin": "sin", "cos": "cos",
}
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def compact_number(value: float) -> str:
    """A parameter as the lecture writes it: 1, −1, 0.5, 2.5e+06 (a true minus sign)."""
    return format(value, ".4g").replace("-", "−")


def gate_symbol(op: str, params: Mapping[str, float]) -> str:
    """What the lecture writes in a gate's circle: "×", "+1", "×−1", "x²", "σ" ..."""
    if op == "scale":
        return "×" + compact_number(params["a"])
    if op == "add_const":
        c = params["c"]
        return ("+" if c >= 0 else "−") + compact_number(abs(c))
    if op == "pow":
        p = params["p"]
        if p.is_integer() and abs(p) < 1000:
            return "x" + str(int(p)).translate(_SUPERSCRIPTS)
        return "x^" + compact_number(p)
    return _SYMBOLS.get(op, op)


# ---------------------------------------------------------------- the cache


class LayoutCache:
    """Layouts by exercise content hash, the least recently used dropped first when
    full. Safe to use from several threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, GraphLayout] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: str) -> GraphLayout | None:
        with self._lock:
            layout = self._items.get(key)
            if layout is not None:
                self._items.move_to_end(key)
            return layout

    def put(self, key: str, layout: GraphLayout) -> None:
        with self._lock:
            self._items[key] = layout
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


layout_cache = LayoutCache(_CACHE_SIZE)


def layout_of(exercise: Exercise) -> GraphLayout:
    """The exercise's drawing, computed once per content hash (an exercise is its
    text; one built without text is computed each time). Thread-safe: two threads
    asking at once may both compute it, and get equal layouts."""
    key = exercise.content_hash if exercise.text else None
    layout = layout_cache.get(key) if key else None
    if layout is None:
        layout = build_layout(exercise)
        if key:
            layout_cache.put(key, layout)
    return layout


def build_layout(exercise: Exercise) -> GraphLayout:
    """The exercise's drawing, computed now (`layout_of` caches it)."""
    return _Drawing(_Circuit(exercise)).layout()


# ---------------------------------------------------------------- the graph as columns


class _Circuit:
    """The exercise as columns of items, with pass-through points for long edges."""

    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        self.with_locals = "local" in exercise.ask
        layer = dict.fromkeys(exercise.inputs, 0)
        for gate in exercise.gates:
            layer[gate.id] = 1 + max(layer[name] for name in gate.inputs)
        self.columns: list[list[Item]] = [[] for _ in range(layer[exercise.output] + 1)]
        self.items: dict[str, Item] = {}
        for name, at in layer.items():
            self.items[name] = item = Item(name, at, passing=False)
            self.columns[at].append(item)
        self.passing: dict[tuple[str, int], Item] = {}
        self.gates = {gate.id: gate for gate in exercise.gates}
        for gate in exercise.gates:
            for source in dict.fromkeys(gate.inputs):
                self._connect(self.items[source], self.items[gate.id])

    def _connect(self, source: Item, target: Item) -> None:
        before = source
        for at in range(source.layer + 1, target.layer):
            through = self.passing.get((source.node, at))
            if through is None:
                through = Item(source.node, at, passing=True)
                self.passing[source.node, at] = through
                self.columns[at].append(through)
                link(before, through)
            before = through
        link(before, target)

    def set_entries(self) -> None:
        """Where each edge enters its gate, in the order of the items it comes from,
        so the edges into one gate never cross; and what each item occupies."""
        for column in self.columns:
            for item in column:
                if not item.passing:
                    preds = sorted(item.preds, key=lambda p: p.order)
                    middle = (len(preds) - 1) / 2
                    for k, pred in enumerate(preds):
                        item.port[pred] = (k - middle) * _PORT_PITCH
                        item.arrival[pred] = ((k - middle) * _LOCAL_PITCH if self.with_locals
                                              else item.port[pred])
                item.top, item.bottom = self._extent(item)

    def _extent(self, item: Item) -> tuple[float, float]:
        if item.passing:
            return -1.0, 1.0
        half = self.shape_size(item)[1] / 2
        labels = LABEL_GAP + BOX_HEIGHT
        top, bottom = -max(half, labels), max(half, labels)
        if self.with_locals and item.arrival:
            top = min(top, min(item.arrival.values()) - BOX_HEIGHT / 2)
            bottom = max(bottom, max(item.arrival.values()) + BOX_HEIGHT / 2)
        return top, bottom

    def symbol(self, node: str) -> str:
        gate = self.gates.get(node)
        return node if gate is None else gate_symbol(gate.op, gate.params)

    def shape_size(self, item: Item) -> tuple[float, float]:
        if item.layer == 0:
            return len(self.symbol(item.node)) * CHAR_WIDTH + 10, BOX_HEIGHT
        # A gate's symbol is drawn larger than the numbers; operators such as × and −
        # are wide glyphs.
        text = len(self.symbol(item.node)) * _SYMBOL_CHAR_WIDTH
        # A gate with many inputs grows taller, so that its arrows stay apart.
        return (max(_SHAPE_SIZE, text + 14),
                max(_SHAPE_SIZE, (len(item.preds) - 1) * _PORT_PITCH + 20))


# ---------------------------------------------------------------- the drawing


class _Drawing:
    """Columns placed left to right, cut into bands if too wide, and turned into boxes
    and polylines."""

    def __init__(self, circuit: _Circuit) -> None:
        self.circuit = circuit
        columns = circuit.columns
        self.area = [max(circuit.shape_size(item)[0] for item in column if not item.passing)
                     for column in columns]
        self.before_shape = _LEAD + (_LANE + _CONVERGE if circuit.with_locals else 0.0)
        self.widths = [(self.before_shape if k else 0.0) + self.area[k] + _STUB
                       for k in range(len(columns))]
        # Every item of a column has an edge into the next one: a fold after column k
        # takes as many tracks as column k has items.
        self.tracks = [len(column) for column in columns]
        self.bands = bands_for(self.widths, self.tracks)
        order_columns(columns, after_wrap={first for first, _ in self.bands[1:]})
        circuit.set_entries()
        self.run = run_between(self.bands, self.widths, self.tracks)
        self.band_of = [b for b, (first, last) in enumerate(self.bands)
                        for _ in range(first, last + 1)]
        self.column_left: list[float] = []
        self.band_left: list[float] = []
        for first, last in self.bands:
            x = MARGIN + gutters(first, last, self.tracks)[0]
            self.band_left.append(x)
            for k in range(first, last + 1):
                self.column_left.append(x)
                x += self.widths[k] + self.run
        self.band_spans = self._stack_bands()
        self.bends = self._bends()

    def _stack_bands(self) -> list[tuple[float, float]]:
        columns = self.circuit.columns
        spans = []
        top = MARGIN
        for b, (first, last) in enumerate(self.bands):
            place_band(columns, first, last)
            items = [item for column in columns[first:last + 1] for item in column]
            shift = top - min(item.y + item.top for item in items)
            for item in items:
                item.y += shift
            bottom = max(item.y + item.bottom for item in items)
            spans.append((top, bottom))
            if b + 1 < len(self.bands):
                top = bottom + _BAND_GAP + self.tracks[last] * TRACK
        return spans

    def _bends(self) -> dict[Item, tuple[float, float]]:
        """Where the lines of each item climb or fall in the space after its column.
        Items whose lines pass the same heights there get stretches side by side, so
        their steep parts do not overlap: lines going down bend the further right the
        higher they start, lines going up the lower they start, so two of one
        direction never cross there. Any other item bends over the whole space."""
        bends: dict[Item, tuple[float, float]] = {}
        for k, column in enumerate(self.circuit.columns[:-1]):
            if self.band_of[k] != self.band_of[k + 1]:
                continue
            start, end = self.column_right(k), self.column_left[k + 1]
            for cluster in _overlapping(_spans_after(column)):
                down = sorted((item for item, moves in cluster if moves >= 0),
                              key=lambda item: item.y)
                up = sorted((item for item, moves in cluster if moves < 0),
                            key=lambda item: -item.y)
                bending = [item for pair in zip_longest(down, up) for item in pair if item]
                step = (end - start) / len(bending)
                for rank, item in enumerate(bending):
                    bends[item] = (end - (rank + 1) * step, end - rank * step)
        return bends

    def _across(self, before: Item, end: float) -> list[Point]:
        """The bend of a line from `before` to the height `end` in the next column."""
        if end == before.y:
            return []
        start, finish = self.bends[before]
        return [(start, before.y), (finish, end)]

    def column_right(self, k: int) -> float:
        return self.column_left[k] + self.widths[k]

    def shape_left(self, k: int) -> float:
        return self.column_left[k] + (self.before_shape if k else 0.0)

    def layout(self) -> GraphLayout:
        circuit = self.circuit
        nodes = {item.node: self._node(item) for column in circuit.columns
                 for item in column if not item.passing}
        edges = [self._edge(gate.id, source, slot, nodes)
                 for gate in circuit.exercise.gates
                 for source, slot in _first_slots(gate.inputs).items()]
        boxes = [box for node in nodes.values()
                 for box in (node.shape, node.forward_box, node.gradient_box, node.given_box)
                 if box is not None]
        boxes += [edge.local_box for edge in edges if edge.local_box is not None]
        # The output's line ends the last column; its arrowhead takes the margin.
        right = max([box.right for box in boxes] + [x for e in edges for x, _ in e.points]
                    + [self.column_right(len(circuit.columns) - 1)])
        bottom = max([box.bottom for box in boxes] + [y for e in edges for _, y in e.points])
        ranked = sorted(nodes.values(), key=lambda n: (n.layer, n.shape.y))
        backward = sorted(nodes.values(), key=lambda n: (-n.layer, n.shape.y))
        return GraphLayout(
            width=_whole_px(right + MARGIN), height=_whole_px(bottom + MARGIN),
            nodes=MappingProxyType(nodes), edges=tuple(edges),
            forward_order=tuple(n.id for n in ranked if not n.is_input),
            backward_order=tuple(n.id for n in backward),
            bands=tuple(self.band_spans))

    def _node(self, item: Item) -> NodePlace:
        k, y = item.layer, item.y
        width, height = self.circuit.shape_size(item)
        area_left = self.shape_left(k)
        if k == 0:  # names end where their line starts
            shape = Box(area_left + self.area[0] - width, y - height / 2, width, height)
        else:
            shape = Box(area_left + (self.area[k] - width) / 2, y - height / 2, width, height)
        label_x = area_left + self.area[k] + LABEL_GAP
        above = Box(label_x, y - LABEL_GAP - BOX_HEIGHT, BOX_WIDTH, BOX_HEIGHT)
        below = Box(label_x, y + LABEL_GAP, BOX_WIDTH, BOX_HEIGHT)
        return NodePlace(id=item.node, is_input=k == 0, symbol=self.circuit.symbol(item.node),
                         shape=shape, forward_box=None if k == 0 else above,
                         gradient_box=below, given_box=above if k == 0 else None, layer=k)

    def _edge(self, target_id: str, source_id: str, slot: int,
              nodes: Mapping[str, NodePlace]) -> EdgePlace:
        circuit = self.circuit
        source, target = circuit.items[source_id], circuit.items[target_id]
        start = nodes[source_id].shape.right
        points: list[Point] = [(start, source.y), (self.column_right(source.layer), source.y)]
        before = source
        for k in range(source.layer + 1, target.layer):
            through = circuit.passing[source_id, k]
            if self.band_of[k] != self.band_of[k - 1]:
                points += self._wrap(before, through.y)
            else:
                points += self._across(before, through.y)
            points += [(self.column_left[k], through.y), (self.column_right(k), through.y)]
            before = through
        arrive = target.y + target.arrival[before]
        if self.band_of[target.layer] != self.band_of[target.layer - 1]:
            points += self._wrap(before, arrive)
        else:
            points += self._across(before, arrive)
        local_box = None
        if circuit.with_locals:
            left = self.column_left[target.layer]
            points += [(left, arrive), (left + _LANE, arrive)]
            local_box = Box(left + LABEL_GAP, arrive - BOX_HEIGHT / 2, BOX_WIDTH, BOX_HEIGHT)
        port = target.y + target.port[before]
        shape = nodes[target_id].shape
        points += [(self.shape_left(target.layer) - _LEAD, port), (_left_side(shape, port), port)]
        unique = [p for k, p in enumerate(points) if k == 0 or p != points[k - 1]]
        return EdgePlace(source_id, target_id, slot, tuple(unique), local_box)

    def _wrap(self, leaving: Item, arrive: float) -> list[Point]:
        """From the right end of a band, around to the left of the next one: the top
        line takes the outermost track on the right and the innermost on the left."""
        band = self.band_of[leaving.layer]
        k = self.tracks[leaving.layer]
        rank = leaving.order
        right = (self.column_right(leaving.layer) + GUTTER_PAD
                 + (k - 1 - rank) * TRACK)
        channel = self.band_spans[band][1] + _BAND_GAP / 2 + (k - 1 - rank) * TRACK
        left = self.band_left[band + 1] - GUTTER_PAD - rank * TRACK
        return [(right, leaving.y), (right, channel), (left, channel), (left, arrive)]


def _spans_after(column: Sequence[Item]) -> list[tuple[float, float, Item, float]]:
    """Each item whose lines climb or fall after the column: the heights they pass
    (top, bottom), and which way they mostly go."""
    spans = []
    for item in column:
        ends = [succ.y + succ.arrival.get(item, 0.0) for succ in item.succs]
        moves = sum(end - item.y for end in ends)
        if any(end != item.y for end in ends):
            spans.append((min(item.y, *ends), max(item.y, *ends), item, moves))
    return spans


def _overlapping(spans: list[tuple[float, float, Item, float]]) -> list[list[tuple[Item, float]]]:
    """The spans in clusters whose heights overlap (or nearly), top to bottom."""
    clusters: list[list[tuple[Item, float]]] = []
    reach = -math.inf
    for top, bottom, item, moves in sorted(spans, key=lambda span: (span[0], span[1])):
        if top > reach + _LINE_GAP_NEAR:
            clusters.append([])
        clusters[-1].append((item, moves))
        reach = max(reach, bottom)
    return clusters


def _whole_px(size: float) -> float:
    """Rounded up to a whole pixel, but not for a rounding error of the sums."""
    return float(math.ceil(round(size, 6)))


def _first_slots(inputs: Sequence[str]) -> dict[str, int]:
    slots: dict[str, int] = {}
    for slot, name in enumerate(inputs):
        slots.setdefault(name, slot)
    return slots


def _left_side(shape: Box, y: float) -> float:
    """Where the line at height y meets the left side of a gate drawn as a rounded
    rectangle whose corner radius is half its smaller side (a circle when square)."""
    radius = min(shape.width, shape.height) / 2
    cy = shape.y + shape.height / 2
    beyond = abs(y - cy) - (shape.height / 2 - radius)
    if beyond <= 0:
        return shape.x
    return shape.x + radius - math.sqrt(max(radius * radius - beyond * beyond, 0.0))
