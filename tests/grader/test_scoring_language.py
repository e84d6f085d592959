"""Feedback in the student's language: grading under `use_language("pt_BR")` gives the
same codes, statuses and scores as in English, with every text in Portuguese (the
lecture's words), and results shared between submissions are kept per language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mistake_cases import cases, exercises
from test_scoring import carried_submission

from engine import Solution, draw_variant, load_exercise, solve
from grader.i18n import use_language
from grader.scoring import MISTAKES, GradeResult, grade, parse_submission

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
# English words that have no place in a Portuguese text (whole words, any case; "no",
# "a" and "e" are Portuguese too).
ENGLISH = re.compile(
    r"\b(the|is|of|gate|gates|gradient|gradients|input|inputs|with|this|that|not|and|"
    r"from|upstream|derivative|value|values|blank|blanks|left|out|sign|wrong|swaps|rule|"
    r"branch|branches|feeds|flows|whole|largest|smallest|times|once|twice|your|"
    r"consistent|correct|missing|carried|error|here|start|fixing|nothing|number|"
    r"insufficient|precision|decimal|places|swapped|belongs|percentage|output|at|its|"
    r"only|one|use|uses|sum|average|leaves|takes|round|minding|recompute|differentiate|"
    r"given|format|graded|but|credit|follows|degenerate|chain|backward|forward|pass)\b",
    re.IGNORECASE)


def solved(name: str, *, local: bool = False) -> Solution:
    text = (EXERCISES / f"{name}.yaml").read_text()
    if local:
        text += "ask: [forward, backward, local]\n"
    return solve(draw_variant(load_exercise(text)))


def in_both(solution: Solution, submission: dict) -> tuple[GradeResult, GradeResult]:
    with use_language("en"):
        english = grade(solution, submission)
    with use_language("pt_BR"):
        portuguese = grade(solution, submission)
    return english, portuguese


def same_but_words(english: GradeResult, portuguese: GradeResult) -> None:
    assert portuguese.score == english.score
    assert [(b.kind, b.node, b.input, b.status, b.mistake, b.points) for b in portuguese.blanks] \
        == [(b.kind, b.node, b.input, b.status, b.mistake, b.points) for b in english.blanks]
    assert portuguese.first_error == english.first_error


def english_in(text: str) -> list[str]:
    return ENGLISH.findall(text)


def example_of_every_code() -> dict[str, tuple[Solution, dict]]:
    found: dict[str, tuple[Solution, dict]] = {}
    codes = {m.code for m in MISTAKES}
    for name, solution in exercises(count_random=10, seed=0):
        for case in cases(name, solution):
            if case.code in found:
                continue
            with use_language("en"):
                result = grade(solution, case.submission)
            named = {b.mistake for b in result.blanks}
            if case.code in named:
                found[case.code] = (solution, case.submission)
        if set(found) == codes:
            break
    return found


EVERY_CODE = example_of_every_code()


def test_there_is_an_example_of_every_code():
    assert set(EVERY_CODE) == {m.code for m in MISTAKES}


@pytest.mark.parametrize("code", sorted(EVERY_CODE))
def test_every_mistake_is_told_in_portuguese_with_the_same_verdicts(code):
    solution, submission = EVERY_CODE[code]
    english, portuguese = in_both(solution, submission)
    same_but_words(english, portuguese)
    for en, pt in zip(english.blanks, portuguese.blanks, strict=True):
        assert not english_in(pt.message), (code, pt.message)
        if en.status != "correct":
            assert pt.message != en.message or not re.search("[a-z]{3}", en.message)
    with use_language("pt_BR"):
        summary = portuguese.summary()
    assert summary.startswith("Comece a corrigir por aqui: ")
    assert not english_in(summary), summary


def test_the_lectures_words_name_the_rules():
    neuron = solved("sigmoid-neuron")
    branching = solved("branching")
    gates = solved("gate-patterns")
    told = {}
    for solution, node, value in ((branching, "x", -8.0), (neuron, "x0", 2.0),
                                  (neuron, "x0", -0.1966), (gates, "w", 2.0)):
        submission = carried_submission(solution)
        submission["backward"][node] = value
        with use_language("pt_BR"):
            result = grade(solution, submission)
        found = next(b for b in result.blanks if (b.kind, b.node) == ("backward", node))
        told[found.mistake] = found.message
    assert told["branch-not-summed"].startswith(
        "gradientes nas ramificações: somar todos os fluxos antes de aplicar a regra da "
        "cadeia")
    assert told["no-upstream"].startswith("regra da cadeia: ")
    assert told["mul-not-swapped"].startswith("produto: “comutador” de gradiente")
    assert told["max-misrouted"].startswith("max: direcionador de gradiente")


def test_a_right_submission_shares_one_result_per_language():
    neuron = solved("sigmoid-neuron")
    submission = carried_submission(neuron)
    with use_language("en"):
        english = grade(neuron, submission)
        assert grade(neuron, submission) is english
    with use_language("pt_BR"):
        portuguese = grade(neuron, submission)
        assert grade(neuron, submission) is portuguese
        assert portuguese.summary() == "Todas as lacunas estão certas."
    assert portuguese is not english
    assert json.loads(english.as_json())["blanks"][0]["message"] == "correct"
    assert json.loads(portuguese.as_json())["blanks"][0]["message"] == "correto"
    assert english.score == portuguese.score == 1.0


def test_carried_blanks_rules_and_labels_are_told_in_portuguese():
    neuron = solved("sigmoid-neuron", local=True)
    submission = carried_submission(neuron, forward={"p0": -2.5},
                                    local={("f", "d"): 0.5344})
    submission["backward"]["w2"] = 7.5  # plainly wrong: the rule of its blank
    english, portuguese = in_both(neuron, submission)
    same_but_words(english, portuguese)
    by_blank = {(b.kind, b.node, b.input): b.message for b in portuguese.blanks}
    assert by_blank[("forward", "s", None)] == "consistente com seu valor de p0 (erro propagado)"
    assert by_blank[("backward", "w2", None)] == (
        "df/dw2 = df/ds · (a derivada local de s em relação a w2): a regra da cadeia")
    with use_language("pt_BR"):
        assert portuguese.label(portuguese.blanks[-1]).startswith(("df/d", "derivada local"))
        local = next(b for b in portuguese.blanks if b.kind == "local")
        assert portuguese.label(local).startswith("derivada local ∂")
    for blank in portuguese.blanks:
        assert not english_in(blank.message), blank.message


def test_insufficient_precision_asks_for_the_digits_of_the_tolerance_in_both_languages():
    neuron = solved("sigmoid-neuron")
    submission = carried_submission(neuron)
    submission["backward"]["x0"] = 0.4  # 0.3932 rounded to one decimal
    english, portuguese = in_both(neuron, submission)
    x0 = [next(b for b in r.blanks if b.node == "x0" and b.kind == "backward")
          for r in (english, portuguese)]
    assert [b.mistake for b in x0] == ["insufficient-precision"] * 2
    assert "type 2 decimal places" in x0[0].message
    assert "digite 2 casas decimais" in x0[1].message


@pytest.mark.parametrize(("language", "says"), [
    ("en", "0,39 has a decimal comma: send 0.39, with a decimal point, as a JSON number"),
    ("pt_BR", "0,39 tem vírgula decimal: envie 0.39, com ponto decimal, como número JSON"),
])
def test_a_decimal_comma_is_named_with_the_number_to_send(language, says):
    neuron = solved("sigmoid-neuron")
    submission = carried_submission(neuron)
    submission["backward"]["x0"] = "0,39"
    with use_language(language):
        result = grade(neuron, submission)
        summary = result.summary()
    x0 = next(b for b in result.blanks if b.node == "x0" and b.kind == "backward")
    assert x0.status == "invalid"
    assert says in x0.message
    assert result.has_format_errors
    assert ("nada foi avaliado" if language == "pt_BR" else "nothing was graded") in summary


@pytest.mark.parametrize("raw", ["-1,5", " 2,25 ", "+0,5"])
def test_other_decimal_commas_are_named_too(raw):
    neuron = solved("sigmoid-neuron")
    submission = carried_submission(neuron)
    submission["forward"]["p0"] = raw
    result = grade(neuron, submission)
    p0 = next(b for b in result.blanks if b.node == "p0" and b.kind == "forward")
    assert "decimal comma" in p0.message
    assert raw.strip().replace(",", ".") in p0.message


def test_field_errors_are_told_in_portuguese():
    neuron = solved("sigmoid-neuron")
    with use_language("pt_BR"), pytest.raises(ValueError) as caught:
        parse_submission({"forward": {"p9": 1.0}}, neuron.exercise)
    assert "não há porta 'p9' neste exercício" in str(caught.value)


def test_counted_words_follow_the_number():
    solution = solve(draw_variant(load_exercise("""\
id: square
title: x·x, then scaled
inputs: {x: 3.0, w: 0.5}
nodes:
  - {id: q, op: mul, in: [x, x]}
  - {id: f, op: mul, in: [q, w]}
output: f
""")))
    submission = carried_submission(solution)
    submission["backward"]["x"] = 1.5  # one use of x in x·x
    english, portuguese = in_both(solution, submission)
    x = [next(b for b in r.blanks if (b.kind, b.node) == ("backward", "x"))
         for r in (english, portuguese)]
    assert x[0].message.startswith("q uses x twice: ")
    assert x[1].message.startswith("q usa x duas vezes: ")
    assert x[1].message.endswith("não só de uma")


@pytest.mark.parametrize("rounded", [False, True])
def test_a_students_number_is_named_without_guessing_the_labels_gender(rounded):
    # "derivada local" is feminine, "df/ds" reads masculine: the noun is "valor".
    from grader.scoring.feedback import your_values

    with use_language("pt_BR"):
        local = your_values(["derivada local ∂f/∂d"], forward_value=False, rounded=rounded)
    expected = "seu valor arredondado de" if rounded else "seu valor de"
    assert local == f"{expected} derivada local ∂f/∂d"
