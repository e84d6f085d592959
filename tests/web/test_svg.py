"""The circuit's SVG: well-formed, escaped, styled by classes, the solution when given."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine import draw_variant, load_exercise, solve
from grader.web.layout import build_layout
from grader.web.svg import ARROW_ID, svg_of

REPO = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
BUNDLED = sorted((REPO / "exercises").glob("*.yaml"))


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def texts_of(root: ET.Element, kind: str) -> dict[str, str]:
    return {t.get("data-node", ""): t.text or "" for t in root.iter(f"{SVG}text")
            if kind in classes(t)}


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_the_svg_is_well_formed_and_draws_every_node_and_edge(path):
    exercise = load_exercise(path)
    layout = build_layout(exercise)
    root = ET.fromstring(svg_of(layout, title=exercise.title))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") == f"0 0 {layout.width:g} {layout.height:g}"
    assert (root.get("width"), root.get("height")) == (f"{layout.width:g}", f"{layout.height:g}")
    assert root.find(f"{SVG}title").text == exercise.title
    assert root.find(f"{SVG}defs/{SVG}marker").get("id") == ARROW_ID
    groups = {g.get("data-node"): g for g in root.iter(f"{SVG}g") if "node" in classes(g)}
    assert set(groups) == set(layout.nodes)
    for gate in exercise.gates:
        assert "gate" in classes(groups[gate.id])
        symbol = groups[gate.id].find(f"{SVG}text")
        assert symbol.text == layout.nodes[gate.id].symbol
    for name in exercise.inputs:
        assert groups[name].find(f"{SVG}text").text == name
    edges = [p for p in root.iter(f"{SVG}path") if "edge" in classes(p)]
    assert len(edges) == len(layout.edges) + 1  # and the output's own line
    assert all(p.get("marker-end") == f"url(#{ARROW_ID})" for p in edges)


def test_no_script_no_inline_style_colours_left_to_the_page():
    exercise = load_exercise(REPO / "exercises" / "sigmoid-neuron.yaml")
    svg = svg_of(build_layout(exercise), title="t", values={"x0": "1"}, gradients={"f": "1"})
    root = ET.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.endswith("script") or e.get("style")]
    assert not [e for e in root.iter() if e.tag.endswith("style")]
    colours = {e.get(a) for e in root.iter() for a in ("fill", "stroke") if e.get(a)}
    assert colours <= {"none", "currentColor"}
    assert not re.search(r"\bon\w+=", svg)


def test_titles_and_texts_are_escaped():
    exercise = load_exercise(REPO / "exercises" / "rule-exp.yaml")
    title = 'Sigmoid <script>alert("x")</script> & "friends"'
    svg = svg_of(build_layout(exercise), title=title, values={"w": "<b>2</b>"},
                 gradients={"w": "a & b"})
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == title
    assert "<script" not in svg and "<b>" not in svg
    assert texts_of(root, "value")["w"] == "<b>2</b>"
    assert texts_of(root, "gradient")["w"] == "a & b"


def test_the_worked_solution_is_written_above_and_below_each_line():
    exercise = load_exercise(REPO / "exercises" / "sigmoid-neuron.yaml")
    solution = solve(draw_variant(exercise, None))
    layout = build_layout(exercise)
    values = {name: f"{v:.2f}" for name, v in solution.values.items()}
    gradients = {name: f"{g:.2f}" for name, g in solution.grads.items()}
    root = ET.fromstring(svg_of(layout, title="t", values=values, gradients=gradients))
    assert texts_of(root, "value") == values
    assert texts_of(root, "gradient") == gradients
    assert set(texts_of(root, "given")) == set(exercise.inputs)
    for t in root.iter(f"{SVG}text"):
        node = layout.nodes.get(t.get("data-node", ""))
        if node is None or not classes(t) & {"value", "gradient"}:
            continue
        above = node.given_box if node.is_input else node.forward_box
        box = node.gradient_box if "gradient" in classes(t) else above
        assert (float(t.get("x")), float(t.get("y"))) == pytest.approx(box.center, abs=0.06)
    assert texts_of(root, "value")["f"] == "0.73" and texts_of(root, "gradient")["x0"] == "0.39"


def test_without_the_solution_no_number_is_written():
    exercise = load_exercise(REPO / "exercises" / "branching.yaml")
    root = ET.fromstring(svg_of(build_layout(exercise), title="t"))
    assert texts_of(root, "value") == {} and texts_of(root, "gradient") == {}


@pytest.mark.parametrize("ask_local", [False, True], ids=["plain", "local"])
def test_everything_drawn_is_inside_the_view_box(ask_local):
    text = (REPO / "exercises" / "sigmoid-neuron.yaml").read_text(encoding="utf-8")
    if ask_local:
        text += "ask: [forward, backward, local]\n"
    layout = build_layout(load_exercise(text))
    root = ET.fromstring(svg_of(layout, title="t"))
    for element in root.iter():
        if element.tag == f"{SVG}path" and "edge" in classes(element):
            numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", element.get("d"))]
            xs, ys = numbers[0::2], numbers[1::2]
            if "output" in classes(element):  # M x,y H x
                xs, ys = [numbers[0], numbers[2]], [numbers[1]]
            assert all(0 <= x <= layout.width for x in xs)
            assert all(0 <= y <= layout.height for y in ys)
