"""Spec features beyond validation: tolerances, text-only parsing, n-ary routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import ExerciseError, load_exercise, parse_exercise
from engine.ops import OPS, local_gradients

SPEC = """\
id: tol
title: Tolerances
inputs: {x: 2.0, y: 3.0}
nodes:
  - {id: z, expr: "x*y + x", tolerance: {decimals: 3}}
  - {id: f, op: exp, in: [z], tolerance: {sigfigs: 2}}
output: f
tolerance: {rel: 0.02}
"""


def test_defaults_fill_in_what_the_exercise_leaves_out():
    exercise = parse_exercise(SPEC.replace("\ntolerance: {rel: 0.02}", ""))
    default = exercise.tolerance_for("x")
    assert (default.mode, default.rel, default.abs) == ("relabs", 0.01, 0.005)


def test_an_exercise_tolerance_keeps_the_default_it_does_not_set():
    tolerance = parse_exercise(SPEC).tolerance_for("x")
    assert (tolerance.rel, tolerance.abs) == (0.02, 0.005)


def test_an_expr_tolerance_covers_every_gate_it_expands_to():
    exercise = parse_exercise(SPEC)
    inner = [g.id for g in exercise.gates if g.expanded_from == "z"]
    assert "z" in inner and len(inner) == 2
    for gate in inner:
        assert exercise.tolerance_for(gate).decimals == 3
    assert exercise.tolerance_for("f").sigfigs == 2


def test_parse_exercise_never_reads_a_path(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    assert load_exercise(str(path)).id == "tol"
    with pytest.raises(ExerciseError) as info:
        parse_exercise(str(path))  # one line naming a file: still YAML text (a string)
    assert "mapping" in info.value.problems[0].message


@pytest.mark.parametrize(("name", "winner"), [("max", 1), ("min", 2)])
def test_variadic_routing_finds_the_winner_from_the_inputs(name, winner):
    xs = (1.0, 5.0, -2.0)
    # whatever output is passed (a student's wrong one, say), the winner gets the gradient
    grads = local_gradients(OPS[name], xs, 123.0, {})
    assert grads == tuple(1.0 if i == winner else 0.0 for i in range(3))


@pytest.mark.parametrize(("field", "value"), [
    ("title", '"a\\0b"'), ("title", '"two\\nlines"'), ("description", '"bell \\a"'),
])
def test_control_characters_in_text_are_refused(field, value):
    text = SPEC.replace("title: Tolerances", f"{field}: {value}") if field == "title" else (
        SPEC.replace("title: Tolerances", f"title: Tolerances\n{field}: {value}"))
    with pytest.raises(ExerciseError) as info:
        parse_exercise(text)
    (problem,) = info.value.problems
    assert problem.field == field and "control character" in problem.message


def test_a_description_keeps_its_lines_and_tabs():
    text = SPEC.replace("title: Tolerances", 'title: Tolerances\ndescription: "a\\n\\tb"')
    assert parse_exercise(text).description == "a\n\tb"


TRANSLATED = SPEC + """\
translations:
  pt-BR:
    title: Tolerâncias
    description: Uma descrição.
"""


def test_a_translation_gives_the_title_and_description_in_that_language():
    exercise = parse_exercise(TRANSLATED)
    assert exercise.text_in("pt-BR") == ("Tolerâncias", "Uma descrição.")
    assert exercise.text_in("pt") == ("Tolerâncias", "Uma descrição.")  # same language
    assert exercise.text_in("en") == ("Tolerances", "")  # the text it is written in
    assert exercise.title == "Tolerances"


@pytest.mark.parametrize(("translations", "where", "says"), [
    ("  pt_BR: {title: T}\n", "translations.pt_BR", "not a language tag such as pt-BR"),
    ("  pt-BR: {description: D}\n", "translations.pt-BR.title", "required field is missing"),
    ("  pt-BR: {title: T, titel: U}\n", "translations.pt-BR.titel", "unknown field"),
    ("  pt-BR: {title: ''}\n", "translations.pt-BR.title", "at least 1 character"),
])
def test_a_wrong_translation_is_located(translations, where, says):
    with pytest.raises(ExerciseError) as caught:
        parse_exercise(SPEC + "translations:\n" + translations)
    [problem] = caught.value.problems
    assert problem.line == SPEC.count("\n") + 2
    assert where in str(problem) and says in str(problem)
