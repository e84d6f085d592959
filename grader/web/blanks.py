"""The blanks of an exercise as a page draws them: which boxes there are, in the
order a student fills them (the forward pass, then the backward pass from the output,
then the local gradients), where each sits on the graph, its label, what it holds, and
its verdict after a submit.

A blank's key names it everywhere on the page: the form field, `data-blank`, and the
JSON the page's script receives: "forward:p0", "backward:x0", "local:p0:x0".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from engine import Exercise
from grader import i18n
from grader.i18n import gettext as _
from grader.web.layout import Box, EdgePlace, layout_of
from grader.web.numbers import given_number
from grader.web.svg import svg_of

STATUSES = ("correct", "consistent", "incorrect", "missing", "invalid")
# Status is never told by colour alone: each has an icon and a word too.
ICONS = {"correct": "✓", "consistent": "↪", "incorrect": "✗", "missing": "○", "invalid": "!"}


def status_text(status: str) -> str:
    if status == "correct":
        return _("correct")
    if status == "consistent":
        return _("consistent")
    if status == "incorrect":
        return _("incorrect")
    if status == "missing":
        return _("missing")
    return _("not a number")


def blank_key(kind: str, node: str, input_: str | None = None) -> str:
    return f"local:{node}:{input_}" if kind == "local" else f"{kind}:{node}"


@dataclass(frozen=True, slots=True)
class Place:
    """A blank of the exercise and where its box goes."""

    key: str
    kind: str
    node: str
    input: str | None
    box: Box


@functools.lru_cache(maxsize=256)
def places(exercise: Exercise) -> tuple[Place, ...]:
    """Every blank the exercise asks for, in the order a student fills them (cached per
    parsed exercise version, like its layout)."""
    layout = layout_of(exercise)
    found: list[Place] = []
    if "forward" in exercise.ask:
        for node in layout.forward_order:
            box = layout.nodes[node].forward_box
            if box is not None:
                found.append(Place(blank_key("forward", node), "forward", node, None, box))
    if "backward" in exercise.ask:
        for node in layout.backward_order:
            found.append(Place(blank_key("backward", node), "backward", node, None,
                               layout.nodes[node].gradient_box))
    if "local" in exercise.ask:
        edges: dict[tuple[str, str], EdgePlace] = {}
        for edge in layout.edges:  # one blank per input of a gate, even if used twice
            edges.setdefault((edge.target, edge.source), edge)
        inputs = {g.id: g.inputs for g in exercise.gates}
        for gate in layout.forward_order:
            for name in dict.fromkeys(inputs[gate]):
                box = edges[(gate, name)].local_box
                if box is None:  # the layout reserves a box on every edge when asked
                    raise ValueError(f"no local box on the edge {name} -> {gate}")
                found.append(Place(blank_key("local", gate, name), "local", gate, name, box))
    return tuple(found)


def label(place: Place, output: str) -> str:
    """The box's name for a person: "value of p0", "df/dx0", "local ∂p0/∂x0"."""
    if place.kind == "forward":
        return _("value of {node}").format(node=place.node)
    if place.kind == "backward":
        return f"d{output}/d{place.node}"
    return _("local ∂{gate}/∂{input}").format(gate=place.node, input=place.input)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    message: str | None


@dataclass(frozen=True, slots=True)
class BlankView:
    """One box on the page."""

    key: str
    element_id: str
    label: str
    box: Box
    value: str  # the text the box holds
    verdict: Verdict | None  # None before a submit, or when the policy shows no status
    first_error: bool

    @property
    def status(self) -> str | None:
        return self.verdict.status if self.verdict is not None else None

    @property
    def status_text(self) -> str:
        return status_text(self.verdict.status) if self.verdict is not None else ""

    @property
    def icon(self) -> str:
        return ICONS[self.verdict.status] if self.verdict is not None else ""


@dataclass(frozen=True)
class GraphView:
    width: float
    height: float
    svg: Markup
    blanks: list[BlankView]

    def blank(self, key: str) -> BlankView | None:
        return next((b for b in self.blanks if b.key == key), None)

    @property
    def frame_height(self) -> float:
        """The drawing's height with room below each box for that box's message, so
        that the frame cuts no message (a short graph grows, a tall one barely)."""
        return max([self.height, *(b.box.bottom + bubble_height(b) for b in self.blanks
                                   if b.verdict is not None)])

    def opening(self, blank: BlankView) -> str:
        """Which way a box's message opens (a CSS class): leftwards near the right edge,
        where the frame would cut it."""
        return opening(blank.box, self.width)


def bubble_height(blank: BlankView) -> float:
    """About how tall a box's message is: lines of some 34 characters at 13.6 px in an
    18rem bubble (line height 1.35), its padding, border and gap."""
    verdict = blank.verdict
    text = len(blank.status_text) + len(verdict.message or "") + 4 if verdict else 0
    return 22.0 + 18.4 * max(1, math.ceil(text / 34))


def room_below(height: float, boxes: Iterable[Box]) -> float:
    """`height`, or more: down to a message's room below the lowest of `boxes`."""
    return max([height, *(box.bottom + BUBBLE_HEIGHT for box in boxes)])


def opening(box: Box, width: float) -> str:
    return "opens-left" if box.x + BUBBLE_WIDTH > width else ""


# A message's room at most (18rem wide in the CSS; six lines of text).
BUBBLE_WIDTH = 288.0
BUBBLE_HEIGHT = 110.0


def verdicts_of(result: Mapping[str, Any] | None) -> tuple[dict[str, Verdict], str | None]:
    """Each blank's verdict in a (shown) result, and the key of the first error."""
    if not result:
        return {}, None
    verdicts = {
        blank_key(b["kind"], b["node"], b.get("input")): Verdict(b["status"], b.get("message"))
        for b in result.get("blanks") or ()
    }
    first = result.get("first_error")
    first_key = blank_key(first["kind"], first["node"], first.get("input")) if first else None
    return verdicts, first_key


def format_verdicts(errors: Iterable[Mapping[str, Any]]) -> dict[str, Verdict]:
    """The blanks a refused submission holds no number in, from its located errors."""
    verdicts = {}
    for error in errors:
        pointer = str(error.get("pointer") or "")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        if len(parts) in (2, 3) and parts[0] in ("forward", "backward", "local"):
            verdicts[":".join(parts)] = Verdict("invalid", _(
                "write a number such as {example}").format(example=given_number(0.39)))
    return verdicts


def graph_view(exercise: Exercise, inputs: Mapping[str, float], typed: Mapping[str, str],
               verdicts: Mapping[str, Verdict], first_error: str | None) -> GraphView:
    """The graph of an exercise with its boxes: the given inputs drawn, each box with
    the text typed in it and its verdict."""
    layout = layout_of(exercise)
    svg = svg_of(layout, title=exercise.text_in(i18n.tag(i18n.current_language()))[0],
                 values={name: given_number(value) for name, value in inputs.items()})
    blanks = [
        BlankView(place.key, f"blank-{k}", label(place, exercise.output), place.box,
                  typed.get(place.key, ""), verdicts.get(place.key), place.key == first_error)
        for k, place in enumerate(places(exercise))
    ]
    return GraphView(layout.width, layout.height, Markup(svg), blanks)
