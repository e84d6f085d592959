"""What the instructor pages draw on a circuit: a worked solution (values above the
lines, gradients below, as the lecture's slides write them) and the class's results,
blank by blank. The one place these pages call the SVG drawing."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from engine import Exercise, Solution
from engine.explain import Step, fmt
from grader import i18n
from grader.i18n import gettext as _
from grader.scoring.mistakes import mistake_name
from grader.services.analytics import SHARES, BlankTally
from grader.web.blanks import ICONS, blank_key, label, places, status_text
from grader.web.formats import score_text
from grader.web.layout import Box, gate_symbol, layout_of
from grader.web.svg import svg_of

# A number the engine wrote in a formula: digits with a point, not part of a node id
# ("z.mul1" has none: ids start with a letter).
_WRITTEN_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[+-]?\d+)?")


# The words inside the engine's max and min rules ("[x is the max]"), said in the
# reader's language.
_ROUTED = re.compile(r"\[(\S+) is the (max|min)\]")


def localized_formula(text: str) -> str:
    """A formula of the worked solution with its numbers as the reader's language
    writes them ("w0·x0 = 2,00·−1,00" in Portuguese), and its words translated."""
    text = _ROUTED.sub(lambda m: "[" + (
        _("{input} is the largest") if m.group(2) == "max" else _("{input} is the smallest")
    ).format(input=m.group(1)) + "]", text)
    return _WRITTEN_NUMBER.sub(lambda m: _localized(m.group()), text)


def _localized(text: str) -> str:
    if i18n.current_language() == i18n.PORTUGUESE:
        text = text.replace(".", ",")
    return text.replace("-", "\u2212")


def solution_number(value: float) -> str:
    """A worked solution's number as the reader's language writes it, with the
    solution's digits (2 decimals unless that would hide it) and a true minus sign."""
    return _localized(fmt(value))


@dataclass(frozen=True)
class Drawing:
    width: float
    height: float
    svg: Markup


def drawing_of(exercise: Exercise, *, values: Mapping[str, str] | None = None,
               gradients: Mapping[str, str] | None = None) -> Drawing:
    layout = layout_of(exercise)
    svg = svg_of(layout, title=exercise.title, values=values, gradients=gradients)
    return Drawing(layout.width, layout.height, Markup(svg))


def solution_drawing(solution: Solution) -> Drawing:
    """The circuit with every node's value and gradient written on it."""
    return drawing_of(solution.exercise,
                      values={n: solution_number(v) for n, v in solution.values.items()},
                      gradients={n: solution_number(v) for n, v in solution.grads.items()})


@dataclass(frozen=True)
class StepView:
    """One node's step of the worked solution, in the reader's language."""

    node: str
    op: str
    forward: str
    local_gradients: list[str]
    contributions: list[str]
    backward: str


def step_views(solution: Solution) -> list[StepView]:
    output = solution.output
    gates = {g.id: g for g in solution.exercise.gates}
    return [_step_view(step, output, gate_symbol(step.op, gates[step.node].params)
                       if step.node in gates else step.op)
            for step in solution.steps]


def _step_view(step: Step, output: str, symbol: str) -> StepView:
    number = solution_number
    if step.op == "input":
        forward = _("{node} = {value} (given)").format(node=step.node, value=number(step.value))
    else:
        forward = localized_formula(step.forward)
    contributions = [
        _("from {consumer}: {upstream} × {local} = {product}").format(
            consumer=c.consumer, upstream=number(c.upstream), local=number(c.local),
            product=number(c.product))
        for c in step.contributions]
    head = f"d{output}/d{step.node}"
    if step.node == output:
        backward = _("{gradient} = 1 (the output)").format(gradient=head)
    elif len(step.contributions) > 1:
        summed = " + ".join(number(c.product) for c in step.contributions)
        backward = _("{gradient} = {sum} = {value}: gradients at a branch are summed "
                     "before the chain rule goes on").format(
                         gradient=head, sum=summed, value=number(step.grad))
    else:
        backward = f"{head} = {number(step.grad)}"
    # The gate as the lecture draws it ("×", "+1", "σ"), not the op's code.
    return StepView(step.node, symbol, forward,
                    [localized_formula(lg.formula) for lg in step.local_gradients],
                    contributions, backward)


# ---------------------------------------------------------------- the class's results


@dataclass(frozen=True)
class ShareBox:
    """A blank on the analytics drawing: its shares, as a bar and as text."""

    key: str
    element_id: str
    row_id: str
    label: str
    kind: str
    node: str
    box: Box
    tally: BlankTally

    def percent(self, status: str) -> str:
        return score_text(self.tally.share(status))

    def width(self, status: str) -> float:
        """The share as a percentage of the bar, for the style sheet."""
        return round(100 * self.tally.share(status), 1)

    @property
    def shares_text(self) -> str:
        return "; ".join(f"{ICONS[s]} {status_text(s)} {self.percent(s)}" for s in SHARES)

    @property
    def mistakes_text(self) -> str:
        top = self.tally.top_mistakes()
        if not top:
            return ""
        return _("Most frequent mistakes:") + " " + ", ".join(
            f"{mistake_name(code)} ({count})" for code, count in top)


def share_boxes(exercise: Exercise, tallies: Sequence[BlankTally]) -> list[ShareBox]:
    """A box per blank where the exercise page puts it, in working order."""
    by_key = {blank_key(t.blank.kind, t.blank.node, t.blank.input): t for t in tallies}
    return [ShareBox(place.key, f"share-{k}", f"row-{k}", label(place, exercise.output),
                     place.kind, place.node, place.box, by_key[place.key])
            for k, place in enumerate(places(exercise)) if place.key in by_key]
