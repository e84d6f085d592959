"""The problems of an exercise spec in the reader's language: every template the engine
marks is in the catalogs, and the API's errors, the instructor pages and `grader check`
give the same problems at the same lines, in Portuguese or in English."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from click.testing import CliRunner
from page_client import Browser, Elements

from engine import ExerciseError, Problem, draw_variant, parse_exercise
from engine.errors import Text
from grader import i18n
from grader.cli import cli
from grader.i18n import located_problem, problem_message, use_language

REPO = Path(__file__).resolve().parents[2]
PORTUGUESE = {"Accept-Language": "pt-BR,pt;q=0.9"}
ENGLISH = {"Accept-Language": "en"}

# Type and reference problems, found together in one pass.
INVALID = """\
id: broken
title: Broken
titel: typo
inputs:
  x: 1.0
  w: {uniform: [2, 1]}
nodes:
  - {id: a, op: mul, in: [x, y]}
  - {id: f, op: blorp, in: [a]}
  - {id: g, expr: "x +* 2"}
  - {id: h, op: add}
output: f
ask: [forward, sideways]
"""
CYCLE = """\
id: loops
title: Loops
inputs: {x: 1.0}
nodes:
  - {id: a, op: mul, in: [x, b]}
  - {id: b, op: add, in: [a, x]}
output: b
"""
UNUSED = """\
id: unused
title: Unused
inputs: {x: 1.0, z: 2.0}
nodes:
  - {id: a, op: exp, in: [x, x]}
  - {id: b, expr: "max(x, 0)"}
  - {id: f, op: log, in: [a]}
output: a
"""
UNREACHED = """\
id: unreached
title: Unreached
inputs: {x: 1.0, z: 2.0}
nodes:
  - {id: a, op: exp, in: [x]}
  - {id: b, op: sigmoid, in: [a]}
output: a
"""
DOMAIN = """\
id: zero-log
title: Zero log
inputs: {x: 0.0}
nodes:
  - {id: f, op: log, in: [x]}
output: f
"""
KINKS = """\
id: always-tied
title: Always tied
inputs: {x: {choice: [1.0]}, y: {choice: [1.0]}}
nodes:
  - {id: m, op: max, in: [x, y]}
output: m
"""
A_SET = """\
id: a-set
title: A set
inputs: {x: 1.0}
nodes:
  - {id: b, expr: "x * {x}"}
output: b
"""
SPECS = [INVALID, CYCLE, UNUSED, UNREACHED, DOMAIN, KINKS, A_SET, "a: [1", "a: &x 1\nb: *x\n",
         "- 1\n- 2\n", "id: x\nid: y\n"]


def engine_templates() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        REPO / "engine", method_map=[("**.py", "python")], keywords={"mark": None}
    ):
        found.add(message)
    return found


def portuguese_catalog() -> dict[str, str]:
    from babel.messages.pofile import read_po

    path = i18n.TRANSLATIONS_DIR / i18n.PORTUGUESE / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if isinstance(m.id, str) and m.id}


def problems_of(spec: str) -> tuple[Problem, ...]:
    with pytest.raises(ExerciseError) as caught:
        draw_variant(parse_exercise(spec))
    return caught.value.problems


def templates_of(message: Text) -> set[str]:
    found = {message.template}
    for value in message.params.values():
        if isinstance(value, Text):
            found |= templates_of(value)
    return found


def test_every_template_the_engine_marks_is_translated():
    templates = engine_templates()
    catalog = portuguese_catalog()
    assert len(templates) > 100
    assert "{name} is not an input or a node" in templates
    untranslated = sorted(t for t in templates if not catalog.get(t, "").strip())
    assert not untranslated, f"run `make translations`, then translate: {untranslated[:10]}"


@pytest.mark.parametrize("spec", SPECS)
def test_every_problem_of_a_bad_spec_is_a_marked_template_read_in_portuguese(spec):
    marked = engine_templates()
    for problem in problems_of(spec):
        assert problem.text is not None, problem
        assert templates_of(problem.text) <= marked, problem
        assert problem.message == problem.text.render()
        with use_language("pt-BR"):
            portuguese = problem_message(problem)
        assert portuguese != problem.message, problem
        with use_language("en"):
            assert problem_message(problem) == problem.message


# Wrong types everywhere a spec has a value: each is said in the spec's words.
WRONG_TYPES = [
    "id: 5\ntitle: [1]\ninputs: []\nnodes: {}\noutput: 3\n",
    "id: Bad_Id\ntitle: ''\ninputs: {x: {uniform: [1]}}\nnodes: []\noutput: f\n"
    "tolerance: 3\npractice: maybe\n",
    "id: a\ntitle: t\ninputs: {x: {randint: [1.5, 2]}, '1x': 2}\n"
    "nodes: [{id: f, op: scale, in: [x], a: true}, {id: g, op: pow, in: [x]}, 7]\n"
    "output: f\ntolerance: {rel: -1, sigfigs: 0, decimals: 99}\nask: []\n"
    "translations: {pt-BR: 3}\n",
    "id: a\ntitle: t\ninputs: {x: .inf, y: {choice: []}, z: {uniform: [0, 1], step: 0}}\n"
    "nodes: [{id: f, op: add, in: [x, y], tolerance: {abs: x}}]\noutput: f\n"
    "description: 3\n",
    "id: a\ntitle: t\ninputs: {x: {foo: 1}}\nnodes: [{id: f, op: [1], in: x}, {id: g}]\n"
    "output: f\nask: [forward, forward]\n",
]


@pytest.mark.parametrize("spec", WRONG_TYPES)
def test_no_validation_problem_is_left_in_pydantics_english(spec):
    problems = problems_of(spec)
    assert len(problems) >= 3
    for problem in problems:
        assert problem.template != "{reason}", problem
        with use_language("pt-BR"):
            assert problem_message(problem) != problem.message, problem


def test_the_problems_keep_their_places_in_both_languages():
    problems = problems_of(INVALID)
    with use_language("pt-BR"):
        lines = [located_problem(p) for p in problems]
    assert "<text>:8: a: in.1: 'y' não é uma entrada nem um nó" in lines
    assert "<text>:3: titel: campo desconhecido (erro de digitação?)" in lines
    assert "<text>:11: h: in: campo obrigatório ausente" in lines
    assert "<text>:10: g: expr: 'x +* 2' não é uma expressão válida (sintaxe inválida na " \
        "coluna 4)" in lines
    assert [str(p) for p in problems] == [p.located(p.message) for p in problems]
    assert "<text>:8: a: in.1: 'y' is not an input or a node" in [str(p) for p in problems]


def test_a_phrase_of_its_own_is_translated_inside_the_sentence():
    [problem] = problems_of(A_SET)
    with use_language("pt-BR"):
        text = problem_message(problem)
    assert text == ("não se permite um conjunto ('{x}' na coluna 5); use números, nomes, "
                    "+ - * / **, parênteses e as funções abs, cos, exp, inv, log, max, min, "
                    "relu, sigmoid, sin, sqrt, tanh")
    assert problem.message.startswith("a set ('{x}' at column 5) is not allowed; use numbers")


def test_a_domain_error_of_the_given_inputs_reads_in_portuguese():
    [problem] = problems_of(DOMAIN)
    assert problem.message == ("with the given inputs, log: its value is undefined or not "
                               "finite at these inputs (math domain error)")
    with use_language("pt-BR"):
        assert problem_message(problem) == (
            "com as entradas dadas, log: seu valor é indefinido ou não finito com estas "
            "entradas (fora do domínio da função)")


def test_a_problem_without_a_template_reads_as_written():
    problem = Problem("something", line=3)
    assert problem.template == "something" and dict(problem.params) == {}
    with use_language("pt-BR"):
        assert located_problem(problem) == "<text>:3: something"


def places(errors: list[dict]) -> list[tuple]:
    return [(e["line"], e["node"], e["field"], e["file"]) for e in errors]


def test_the_api_answers_a_specs_problems_in_the_callers_language(instructor):
    english = instructor.put("/api/v1/exercises/broken", data=INVALID.encode(),
                             content_type="application/yaml", headers=ENGLISH)
    portuguese = instructor.put("/api/v1/exercises/broken", data=INVALID.encode(),
                                content_type="application/yaml", headers=PORTUGUESE)
    assert english.status_code == portuguese.status_code == 422
    assert portuguese.mimetype == "application/problem+json"
    assert places(portuguese.json["errors"]) == places(english.json["errors"])
    assert len(english.json["errors"]) == 7
    by_place = {(e["line"], e["field"]): e["detail"] for e in portuguese.json["errors"]}
    assert by_place[(8, "in.1")] == "'y' não é uma entrada nem um nó"
    assert by_place[(6, None)] == "uniform: [low, high] exige low < high"
    assert by_place[(13, "ask.1")] == "deve ser um de 'forward', 'backward', 'local'"
    assert by_place[(9, "op")].startswith("op desconhecida 'blorp'; ops válidas: add, ")
    in_english = {(e["line"], e["field"]): e["detail"] for e in english.json["errors"]}
    assert in_english[(8, "in.1")] == "'y' is not an input or a node"
    assert in_english[(3, "titel")] == "unknown field (misspelled?)"


def test_the_api_answers_an_evaluation_problem_in_the_callers_language(instructor):
    response = instructor.put("/api/v1/exercises/zero-log", data=DOMAIN.encode(),
                              content_type="application/yaml", headers=PORTUGUESE)
    assert response.status_code == 422
    [error] = response.json["errors"]
    assert (error["line"], error["node"]) == (5, "f")
    assert error["detail"].startswith("com as entradas dadas, log: seu valor é indefinido")


@pytest.fixture
def ines(app, instructor) -> Browser:
    found = Browser(app)
    found.sign_in("ines")
    return found


def test_the_instructor_page_shows_each_problem_in_portuguese_at_its_line(ines):
    ines.get("/instructor/exercises/new", headers=PORTUGUESE)
    page = ines.post("/instructor/exercises/new", {"yaml": CYCLE}, headers=PORTUGUESE)
    assert page.status_code == 422
    elements = Elements(page.text)
    error_lines = [a["id"] for a in elements.all("li") if a.get("class") == "error-line"]
    assert error_lines == ["line-5"]
    assert "ciclo: a -&gt; b -&gt; a" in page.text or "ciclo: b -&gt; a -&gt; b" in page.text
    assert "cycle:" not in page.text
    english = ines.post("/instructor/exercises/new", {"yaml": CYCLE}, headers=ENGLISH)
    assert "cycle: " in english.text and "ciclo:" not in english.text


def test_grader_check_writes_the_problems_in_the_language_asked(tmp_path):
    spec = tmp_path / "unreached.yaml"
    spec.write_text(UNREACHED)
    runner = CliRunner()
    portuguese = runner.invoke(cli, ["check", "--lang", "pt-BR", str(spec)])
    english = runner.invoke(cli, ["check", str(spec)])
    assert portuguese.exit_code == english.exit_code == 1
    assert f"{spec}:6: b: 'b' não leva à saída 'a'" in portuguese.output
    assert f"{spec}:3: z: a entrada 'z' não é usada no caminho até a saída" in portuguese.output
    assert f"{spec}:6: b: 'b' does not lead to the output 'a'" in english.output


def test_grader_check_counts_in_the_language_asked(tmp_path):
    spec = tmp_path / "fine.yaml"
    spec.write_text(DOMAIN.replace("0.0", "2.0"))
    runner = CliRunner()
    assert "1 exercício OK" in runner.invoke(cli, ["check", "--lang", "pt-BR",
                                                   str(spec)]).output
    assert "1 exercise OK" in runner.invoke(cli, ["check", str(spec)]).output
