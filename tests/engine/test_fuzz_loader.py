"""Fuzzing the YAML loader and the expression parser with random and mutated texts.

Whatever an author (or a client of PUT /exercises) writes, loading either gives an
exercise that can be drawn and solved, or the engine's own ExerciseError whose every
problem is located; nothing else escapes, and no call takes a second (the deadline).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Exercise, ExerciseError, draw_variant, load_exercise, parse_exercise, solve
from engine.expressions import MAX_LENGTH, ExpressionError, expand_expression
from engine.quoting import MAX_SHOWN_CHARACTERS

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
BUNDLED = [path.read_text(encoding="utf-8") for path in sorted(EXERCISES.glob("*.yaml"))]
DEADLINE = timedelta(seconds=1)
# CI's budget; FUZZ_EXAMPLES=5000 searches longer on a developer's machine.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=DEADLINE,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Problems about the document as a whole have no line: it is too large or not text.
WHOLE_DOCUMENT = ("the document is", "the text is not valid Unicode")
# A message may quote a short snippet of what it was given, never a long one whole.
LONGEST_PROBLEM = 1_000


def load_or_located_error(text: str) -> Exercise | None:
    """The exercise, solved once, or None after checking that every problem is located."""
    try:
        exercise = parse_exercise(text)
    except ExerciseError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.message
            if not problem.message.startswith(WHOLE_DOCUMENT):
                assert problem.line is not None and problem.line >= 1, problem
            assert problem.node is None or problem.node.strip(), problem
            assert len(str(problem)) <= LONGEST_PROBLEM, str(problem)[:200]
        return None
    try:
        solution = solve(draw_variant(exercise, seed=1))
    except ExerciseError as exc:  # a domain error of the fixed inputs: located by node
        assert all(p.node for p in exc.problems), exc.problems
        return exercise
    assert set(solution.values) == {*exercise.inputs, *(g.id for g in exercise.gates)}
    return exercise


# ---------------------------------------------------------------- mutated exercises

# Pieces of YAML and of the format, spliced into valid exercises.
TOKENS = [
    "\n", " ", "  ", "- ", ": ", ", ", "{", "}", "[", "]", "'", '"', "#", "|", ">", "&a ",
    "*a", "!!str ", "!!float ", "!!binary ", "? ", "---\n", "...\n", "\t", "%", "@", "\\",
    "id", "op", "in", "expr", "nodes", "inputs", "output", "tolerance", "ask", "uniform",
    "choice", "randint", "step", "decimals", "sigfigs", "rel", "abs", "a", "c", "p",
    "mul", "add", "max", "neg", "pow", "log", "sqrt", "inv", "exp", "sigmoid", "relu",
    "x", "f", "0", "-1", "1e308", "-1e-320", ".inf", ".nan", "1_000", "0x1F", "0o17",
    "true", "null", "~", "2001-12-14", "é", "\x00", "\u2028", "\ufeff", "x*y", "exp(-x)",
    "1/0", "log(0)", "x" * 200, "9" * 400,
]


@st.composite
def mutated_exercises(draw: st.DrawFn) -> str:
    """A bundled exercise with a few edits: tokens inserted, spans deleted or repeated,
    lines swapped."""
    text = draw(st.sampled_from(BUNDLED))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "repeat", "swap-lines", "replace"]))
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif kind == "repeat":
            span = text[at:at + draw(st.integers(1, 80))]
            text = text[:at] + span * draw(st.integers(2, 4)) + text[at:]
        elif kind == "replace":
            text = text[:at] + draw(st.characters()) + text[at + 1:]
        else:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


@FUZZ
@given(mutated_exercises())
def test_mutated_exercises_load_or_give_located_errors(text: str) -> None:
    load_or_located_error(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_token_soup_loads_or_gives_located_errors(text: str) -> None:
    load_or_located_error(text)


@FUZZ
@given(st.text(max_size=2000))
def test_random_text_loads_or_gives_located_errors(text: str) -> None:
    load_or_located_error(text)


# ---------------------------------------------------------------- documents of the format

_names = st.sampled_from(["x", "y", "z", "f", "g", "h", "a_1"]) | st.from_regex(
    r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_numbers = (st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
            | st.sampled_from([0, 1, -1, 1e308, 5e-324]))
_scalars = (st.none() | st.booleans() | _numbers | st.text(max_size=10)
            | st.sampled_from(["x", "f", "mul", "add", "max", "x*y", "exp(x)"]))
_anything = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                         max_leaves=12)


@st.composite
def gate_nodes(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    node: dict[str, Any] = {"id": draw(_names)}
    if draw(st.booleans()):
        node["expr"] = draw(st.lists(st.sampled_from([*names, *EXPRESSION_TOKENS]), min_size=1,
                                     max_size=12).map("".join))
    else:
        node["op"] = draw(st.sampled_from(["add", "mul", "sub", "div", "neg", "scale", "pow",
                                           "max", "min", "exp", "log", "sqrt", "inv", "relu",
                                           "abs", "sigmoid", "tanh", "add_const", "blorp"]))
        node["in"] = draw(st.lists(st.sampled_from(names) | _names, min_size=0, max_size=4))
        for param in draw(st.lists(st.sampled_from(["a", "c", "p", "q"]), max_size=2)):
            node[param] = draw(_numbers)
    if draw(st.integers(0, 9)) == 0:
        node[draw(st.sampled_from(["tolerance", "extra", "in", "op"]))] = draw(_anything)
    return node


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Documents shaped like exercises: mostly right, with some wrong values."""
    inputs = draw(st.dictionaries(_names, _numbers | st.sampled_from(
        [{"uniform": [-1, 1]}, {"uniform": [1, 0]}, {"randint": [-3, 3]}, {"choice": [1, 2]},
         {"uniform": [-1, 1], "step": 1e-12}, {"choice": []}]), min_size=1, max_size=4))
    names = list(inputs)
    nodes = draw(st.lists(gate_nodes(names), min_size=1, max_size=6))
    document: dict[str, Any] = {
        "id": draw(st.sampled_from(["fuzz", "Fuzz", "-x", "a" * 120])),
        "title": draw(st.sampled_from(["Fuzz", "", "two\nlines"])),
        "inputs": inputs,
        "nodes": nodes,
        "output": draw(st.sampled_from([n["id"] for n in nodes] + names + ["nowhere"])),
    }
    if draw(st.booleans()):
        document["tolerance"] = draw(st.sampled_from(
            [{"rel": 0.1}, {"sigfigs": 3}, {"decimals": 2}, {"rel": -1}, {"sigfigs": 3, "rel": 1}]))
    if draw(st.booleans()):
        document[draw(st.sampled_from(["ask", "practice", "description", "tolerence"]))] = (
            draw(_anything))
    return document


@FUZZ
@given(documents())
def test_documents_of_the_format_load_or_give_located_errors(document: dict[str, Any]) -> None:
    load_or_located_error(yaml.safe_dump(document, allow_unicode=True))


# ---------------------------------------------------------------- long and deep input

@FUZZ
@given(st.sampled_from(["nodes: [{id: KEY, op: neg, in: [x]}]", "KEY: 1",
                        "nodes: [{id: f, op: KEY, in: [x]}]", "nodes: [{id: f, KEY: 1}]",
                        "inputs: {KEY: 1}", "nodes: [{id: f, op: neg, in: [KEY]}]",
                        "nodes: [{id: f, expr: KEY}]", "output: KEY",
                        "nodes: [{id: f, expr: 'x + KEY'}]"]),
       st.integers(MAX_SHOWN_CHARACTERS + 1, 100_000),
       st.sampled_from("gx_"))
def test_a_long_name_is_never_shown_whole(template: str, length: int, letter: str) -> None:
    name = letter * length
    head = "id: t\ntitle: T\ninputs: {x: 1}\nnodes: [{id: f, op: neg, in: [x]}]\noutput: f\n"
    replaced = template.replace("KEY", name)
    field = replaced.split(":")[0]
    kept = "\n".join(line for line in head.splitlines() if not line.startswith(f"{field}:"))
    try:
        load_exercise(kept + "\n" + replaced + "\n")
    except ExerciseError as exc:
        for problem in exc.problems:
            assert name not in str(problem), str(problem)[:200]
            assert len(str(problem)) <= LONGEST_PROBLEM, str(problem)[:200]


@FUZZ
@given(st.integers(1, 3000), st.sampled_from(["[", "{a: ", "- ", "x: ", "? "]))
def test_deep_nesting_is_a_located_error_quickly(depth: int, opener: str) -> None:
    closer = {"[": "]", "{a: ": "}"}.get(opener, "")
    load_or_located_error("id: t\nnodes: " + opener * depth + "1" + closer * depth + "\n")


# ---------------------------------------------------------------- the expression parser

EXPRESSION_TOKENS = [
    "x", "y", "w0", "_", " ", "+", "-", "*", "/", "**", "(", ")", ",", "0", "1", "2", "0.5",
    "1e308", "1e-320", "9" * 50, "exp(", "log(", "max(", "min(", "sqrt(", "abs(", "relu(",
    "inv(", "sigmoid(", "tanh(", "sin(", "cos(", "foo(", ".", "[", "]", "'s'", "lambda ",
    ":", " if ", " else ", "1j", "True", "None", "@", "%", "~", "not ", "__import__", "\n",
    "é", "\t", "x=", "*x", "**x", "...", "0x10", "1_0", "0b1", "\\",
]


def expand_or_expression_error(text: str) -> None:
    try:
        gates = expand_expression("z", text)
    except ExpressionError as exc:
        message = str(exc)
        assert message and len(message) <= LONGEST_PROBLEM, message[:200]
        assert exc.column is None or 1 <= exc.column <= len(text) + 1, (exc.column, text)
        return
    assert gates and gates[-1].id == "z"
    assert len({g.id for g in gates}) == len(gates)


@FUZZ
@given(st.lists(st.sampled_from(EXPRESSION_TOKENS), min_size=1, max_size=60).map("".join))
def test_expression_token_soup_expands_or_is_an_expression_error(text: str) -> None:
    expand_or_expression_error(text)


@FUZZ
@given(st.text(max_size=MAX_LENGTH + 10))
def test_random_expression_text_expands_or_is_an_expression_error(text: str) -> None:
    expand_or_expression_error(text)


@FUZZ
@given(st.integers(1, MAX_LENGTH // 2), st.sampled_from(["-", "+", "(", "exp(", "x*", "x-",
                                                        "x**", "max(x,", "2*", "-(", "x/"]))
def test_long_and_deep_expressions_are_handled_quickly(count: int, piece: str) -> None:
    text = (piece * count)[:MAX_LENGTH - 1] + "x"
    expand_or_expression_error(text)
    expand_or_expression_error(text + ")" * min(count, MAX_LENGTH - len(text)))


@FUZZ
@given(st.lists(st.sampled_from(EXPRESSION_TOKENS), min_size=1, max_size=40).map("".join))
def test_expressions_in_a_spec_are_located_at_their_node(text: str) -> None:
    document = {"id": "expr", "title": "Expr", "inputs": {"x": 1.5, "y": -0.5, "w0": 2.0},
                "nodes": [{"id": "z", "expr": text}], "output": "z"}
    try:
        exercise = parse_exercise(yaml.safe_dump(document))
    except ExerciseError as exc:
        for problem in exc.problems:
            assert problem.line is not None, problem
            assert problem.node in ("z", "x", "y", "w0"), problem
            if problem.node == "z":
                assert problem.field == "expr", problem
        return
    try:
        solve(draw_variant(exercise))
    except ExerciseError as exc:
        assert all(p.node for p in exc.problems), exc.problems
