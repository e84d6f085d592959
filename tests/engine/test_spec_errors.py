"""Bad specs: every problem is an `ExerciseError` naming file, line, node and field.

Expected lines are found by searching the spec text for the line that should be blamed,
so the cases stay readable and do not hard-code line numbers.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import OPS, Exercise, ExerciseError, Problem, draw_variant, load_exercise, solve

VALID = """\
id: small
title: A small exercise
inputs:
  a: 1.0
  b: 2.0
nodes:
  - {id: p, op: mul, in: [a, b]}
  - {id: f, op: neg, in: [p]}
output: f
"""


def spec(*nodes: str, inputs: tuple[str, ...] = ("a: 1.0", "b: 2.0"), output: str = "f",
         extra: tuple[str, ...] = ()) -> str:
    """A spec with the given node lines (flow mappings) and input lines."""
    lines = ["id: small", "title: A small exercise", "inputs:"]
    lines += [f"  {i}" for i in inputs]
    lines += ["nodes:"] + [f"  - {n}" for n in nodes]
    lines += [f"output: {output}", *extra]
    return "\n".join(lines) + "\n"


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the only line containing a fragment."""
    found = [k for k, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(found) == 1, (fragment, found)
    return found[0]


def problems_of(source: Any, **kwargs: Any) -> tuple[Problem, ...]:
    with pytest.raises(ExerciseError) as info:
        load_exercise(source, **kwargs)
    problems = info.value.problems
    assert problems, "an ExerciseError must carry at least one problem"
    assert all(isinstance(p, Problem) for p in problems)
    return problems


def only_problem(source: Any, **kwargs: Any) -> Problem:
    problems = problems_of(source, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_valid_base_spec_loads() -> None:
    exercise = load_exercise(VALID)
    assert isinstance(exercise, Exercise)
    assert exercise.id == "small" and exercise.output == "f"
    assert load_exercise(spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: neg, in: [p]}")).id


# ------------------------------------------------------------------ ops and parameters

def test_unknown_op_lists_the_valid_ops() -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: mull, in: [p]}")
    problem = only_problem(text)
    assert problem.file == "<text>"
    assert problem.line == line_of(text, "op: mull")
    assert problem.node == "f"
    assert "mull" in problem.message
    for name in OPS:
        assert name in problem.message
    assert problem.field == "op"


@pytest.mark.parametrize(
    ("node", "words"),
    [
        ("{id: f, op: neg, in: [p, a]}", ("neg", "1", "got 2")),
        ("{id: f, op: add, in: [p]}", ("add", "2 or more", "got 1")),
        ("{id: f, op: max, in: [p]}", ("max", "2 or more", "got 1")),
        ("{id: f, op: div, in: [p, a, b]}", ("div", "2", "got 3")),
    ],
)
def test_wrong_arity(node: str, words: tuple[str, ...]) -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", node)
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "id: f,"), "f", "in")
    for word in words:
        assert word in problem.message


@pytest.mark.parametrize(("op", "param"), [("scale", "a"), ("add_const", "c"), ("pow", "p")])
def test_missing_parameter(op: str, param: str) -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", f"{{id: f, op: {op}, in: [p]}}")
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "id: f,"), "f", param)
    assert "missing" in problem.message


@pytest.mark.parametrize(
    ("node", "field"),
    [
        ("{id: f, op: neg, in: [p], a: 2}", "a"),  # a parameter the op does not take
        ("{id: f, op: add, in: [p, a], c: 1}", "c"),
        ("{id: f, op: neg, in: [p], inn: [a]}", "inn"),  # a misspelled key
        ("{id: f, op: neg, in: [p], tolerence: {rel: 0.1}}", "tolerence"),
    ],
)
def test_extra_or_misspelled_key_in_a_node(node: str, field: str) -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", node)
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "id: f,"), "f", field)
    assert "unknown" in problem.message


def test_misspelled_parameter_reports_both_the_missing_and_the_unknown_one() -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: scale, in: [p], b: 2}")
    problems = problems_of(text)
    assert {(p.node, p.field) for p in problems} == {("f", "a"), ("f", "b")}
    assert all(p.line == line_of(text, "id: f,") for p in problems)


def test_misspelled_top_level_key() -> None:
    text = VALID.replace("output: f", "ouput: f")
    problems = problems_of(text)
    by_field = {p.field: p for p in problems}
    assert set(by_field) == {"ouput", "output"}
    assert by_field["ouput"].line == line_of(text, "ouput")
    assert "unknown" in by_field["ouput"].message
    assert "missing" in by_field["output"].message
    assert all(p.node is None for p in problems)


# ------------------------------------------------------------------ references and ids

def test_reference_to_an_undefined_id() -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: add, in: [p, zz]}")
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "id: f,"), "f", "in.1")
    assert "'zz'" in problem.message


def test_duplicate_node_ids() -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: p, op: add, in: [a, b]}",
                "{id: f, op: neg, in: [p]}")
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "op: add"), "p", "id")
    assert "'p'" in problem.message and "node" in problem.message


def test_node_id_that_is_already_an_input() -> None:
    text = spec("{id: a, op: neg, in: [b]}", "{id: f, op: neg, in: [a]}")
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "id: a,"), "a", "id")
    assert "'a'" in problem.message and "input" in problem.message


def test_input_written_twice() -> None:
    # YAML itself lets a later key silently replace an earlier one: the spec must not.
    text = spec("{id: f, op: neg, in: [a]}", inputs=("a: 1.0", "a: 2.0"))
    problems = problems_of(text)
    assert any(p.node == "a" and p.line == line_of(text, "a: 2.0") for p in problems), problems


def test_cycle_names_the_nodes_on_it() -> None:
    text = spec(
        "{id: g, op: neg, in: [a]}",
        "{id: f, op: add, in: [g, w]}",
        "{id: u, op: neg, in: [f]}",
        "{id: w, op: mul, in: [u, b]}",
    )
    problems = problems_of(text)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.message.startswith("cycle")
    on_cycle = {"f", "u", "w"}
    named = set(problem.message.removeprefix("cycle:").replace("->", " ").split())
    assert named == on_cycle  # and not g, which only leads into it
    assert problem.node in on_cycle
    assert problem.line == line_of(text, f"id: {problem.node},")
    assert problem.field == "in"


def test_a_gate_feeding_itself_is_a_cycle() -> None:
    text = spec("{id: f, op: add, in: [a, f]}", inputs=("a: 1.0",))
    problem = only_problem(text)
    assert problem.node == "f" and problem.line == line_of(text, "id: f,")
    assert "cycle" in problem.message and "f" in problem.message


@pytest.mark.parametrize(("output", "words"), [("nope", "not a node"), ("a", "input")])
def test_output_that_is_not_a_gate(output: str, words: str) -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: neg, in: [p]}", output=output)
    problem = only_problem(text)
    assert (problem.line, problem.field) == (line_of(text, "output:"), "output")
    assert repr(output) in problem.message and words in problem.message


def test_node_that_does_not_lead_to_the_output() -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: g, op: exp, in: [a]}",
                "{id: f, op: neg, in: [p]}")
    problem = only_problem(text)
    assert (problem.line, problem.node) == (line_of(text, "id: g,"), "g")
    assert "'g'" in problem.message and "output" in problem.message


def test_unused_input() -> None:
    text = spec("{id: f, op: neg, in: [a]}", inputs=("a: 1.0", "y: 2.0"))
    problem = only_problem(text)
    assert (problem.line, problem.node) == (line_of(text, "y: 2.0"), "y")
    assert "'y'" in problem.message and "not used" in problem.message


BLOCK_STYLE = """\
id: block
title: Block style
inputs:
  x: 1.0
  y: 2.0
nodes:
  - id: p
    op: mul
    in: [x, y]
  - id: f
    op: {op}
    in:
      - p
      - {second}
    {extra}
output: f
"""


@pytest.mark.parametrize(("op", "second", "extra", "blamed", "field"), [
    ("mull", "x", "", "op: mull", "op"),
    ("add", "zz", "", "- zz", "in.1"),
    ("scale", "x", "a: .inf", "a: .inf", "a"),
    ("add", "x", "a: 1", "a: 1", "a"),
])
def test_block_style_nodes_name_the_line_of_the_field(
    op: str, second: str, extra: str, blamed: str, field: str
) -> None:
    text = BLOCK_STYLE.format(op=op, second=second, extra=extra)
    problems = problems_of(text)
    assert any(p.node == "f" and p.field == field and p.line == line_of(text, blamed)
               for p in problems), problems


# ------------------------------------------------------------------ numbers

@pytest.mark.parametrize("bad", [".inf", "-.inf", ".nan", ".NaN", "1.0e+400"])
def test_non_finite_fixed_input(bad: str) -> None:
    text = spec("{id: f, op: neg, in: [x]}", inputs=(f"x: {bad}",))
    problem = only_problem(text)
    assert (problem.line, problem.node) == (line_of(text, "x:"), "x")
    assert "finite" in problem.message


@pytest.mark.parametrize(("node", "field"), [
    ("{id: f, op: scale, in: [x], a: .inf}", "a"),
    ("{id: f, op: add_const, in: [x], c: .nan}", "c"),
    ("{id: f, op: pow, in: [x], p: -.inf}", "p"),
])
def test_non_finite_parameter(node: str, field: str) -> None:
    text = spec(node, inputs=("x: 1.0",))
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "id: f,"), "f", field)
    assert "finite" in problem.message


@pytest.mark.parametrize(("value", "field"), [
    ("{uniform: [0, .inf]}", "uniform.1"),
    ("{uniform: [-.inf, 1]}", "uniform.0"),
    ("{uniform: [0, 1], step: .nan}", "step"),
    ("{choice: [1, .nan]}", "choice.1"),
])
def test_non_finite_number_in_a_random_input(value: str, field: str) -> None:
    text = spec("{id: f, op: neg, in: [x]}", inputs=(f"x: {value}",))
    problem = only_problem(text)
    assert (problem.line, problem.node) == (line_of(text, "x:"), "x")
    assert "finite" in problem.message
    assert problem.field == field


def test_non_finite_tolerance() -> None:
    text = VALID + "tolerance: {rel: 0.01, abs: .inf}\n"
    problem = only_problem(text)
    assert problem.line == line_of(text, "tolerance:")
    assert "finite" in problem.message
    assert problem.field == "tolerance.abs"


def test_non_finite_node_tolerance() -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: neg, in: [p], tolerance: {rel: .nan}}")
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (
        line_of(text, "id: f,"), "f", "tolerance.rel")


@pytest.mark.parametrize("name", ["exp", "max", "abs"])
def test_input_named_like_an_op_is_still_named(name: str) -> None:
    text = spec(f"{{id: f, op: neg, in: [{name}]}}", inputs=(f"{name}: .nan",))
    problem = only_problem(text)
    assert problem.node == name
    assert problem.line == line_of(text, f"{name}: .nan")


@pytest.mark.parametrize("value", ["true", "yes", "off", "'1.5'", "\"2\"", "one", "[1]", "{}"])
def test_fixed_input_must_be_a_number(value: str) -> None:
    text = spec("{id: f, op: neg, in: [x]}", inputs=(f"x: {value}",))
    problem = only_problem(text)
    assert (problem.line, problem.node) == (line_of(text, "x:"), "x")
    assert problem.message


@pytest.mark.parametrize("value", ["true", "'2'", "null", "[2]"])
def test_parameter_must_be_a_number(value: str) -> None:
    text = spec(f"{{id: f, op: scale, in: [x], a: {value}}}", inputs=("x: 1.0",))
    problem = only_problem(text)
    assert (problem.line, problem.node, problem.field) == (line_of(text, "id: f,"), "f", "a")


@pytest.mark.parametrize(("value", "field"), [
    ("{choice: [true, 2]}", "choice.0"),
    ("{choice: ['1', 2]}", "choice.0"),
    ("{uniform: ['0', 1]}", "uniform.0"),
    ("{uniform: [false, 1]}", "uniform.0"),
    ("{uniform: [0, 1], step: '0.5'}", "step"),
    ("{uniform: [0, 1], step: true}", "step"),
    ("{uniform: [0, 1], decimals: true}", "decimals"),
    ("{randint: [true, 3]}", "randint.0"),
    ("{randint: ['1', 3]}", "randint.0"),
])
def test_random_input_numbers_reject_booleans_and_strings(value: str, field: str) -> None:
    text = spec("{id: f, op: neg, in: [x]}", inputs=(f"x: {value}",))
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert (problems[0].line, problems[0].node) == (line_of(text, "x:"), "x")
    assert problems[0].field is not None and problems[0].field.endswith(field)


@pytest.mark.parametrize("tolerance", ["{rel: '0.1'}", "{rel: true}", "{abs: 'none'}",
                                       "{sigfigs: true}", "{decimals: '2'}"])
def test_tolerance_numbers_reject_booleans_and_strings(tolerance: str) -> None:
    text = VALID + f"tolerance: {tolerance}\n"
    problem = only_problem(text)
    assert problem.line == line_of(text, "tolerance:")
    assert problem.field is not None and problem.field.startswith("tolerance")


@pytest.mark.parametrize("expr", ["x +", "x % 2", "foo(x)", "x if y else x"])
def test_a_broken_expression_is_the_only_problem_reported(expr: str) -> None:
    # x and y are used by the expression: they must not be called unused because the
    # expression could not be expanded (a cascade of errors)
    text = spec(f'{{id: z, expr: "{expr}"}}', "{id: f, op: mul, in: [z, y]}",
                inputs=("x: 1.0", "y: 2.0"))
    problem = only_problem(text)
    assert (problem.node, problem.field, problem.line) == ("z", "expr", line_of(text, "id: z,"))


def test_loading_an_expression_prints_no_python_warning() -> None:
    # "1if" makes Python's parser warn (invalid decimal literal) on stderr before the
    # expression is refused; an author should only see the located problem.
    text = spec('{id: f, expr: "1if x else x"}', inputs=("x: 1.0",))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ExerciseError):
            load_exercise(text)
    assert [str(w.message) for w in caught] == []


# ------------------------------------------------------------------ YAML-level problems

def test_alias_is_rejected() -> None:
    text = spec("{id: f, op: add, in: [a, b]}", inputs=("a: &v 1.0", "b: *v"))
    problem = only_problem(text)
    assert "alias" in problem.message
    assert problem.line in (line_of(text, "&v"), line_of(text, "*v"))


def test_merge_key_is_rejected() -> None:
    text = spec("{id: f, op: neg, in: [a]}", inputs=("a: 1.0",)) + (
        "base: &base {rel: 0.1}\ntolerance:\n  <<: *base\n")
    assert "alias" in only_problem(text).message


def test_billion_laughs_is_rejected_quickly() -> None:
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, 12):  # 10^12 strings if expanded
        refs = ", ".join([f"*lol{k - 1}"] * 10)
        lines.append(f"lol{k}: &lol{k} [{refs}]")
    text = "\n".join(lines) + "\n"
    started = time.perf_counter()
    problem = only_problem(text)
    assert time.perf_counter() - started < 2.0
    assert "alias" in problem.message
    assert problem.line in (1, 2)  # the anchor or its first alias


def _padded(size: int, char: str = "x") -> str:
    """The valid spec with a comment making it `size` bytes (for a 1-byte char)."""
    room = size - len(VALID.encode()) - len("# \n")
    return VALID + "# " + char * room + "\n"


def test_document_over_one_mib_is_rejected_by_default() -> None:
    text = _padded(1_048_576 + 1)
    assert len(text.encode()) == 1_048_577
    problem = only_problem(text)
    assert "1048577" in problem.message and "1048576" in problem.message


def test_document_of_exactly_one_mib_is_accepted() -> None:
    text = _padded(1_048_576)
    assert len(text.encode()) == 1_048_576
    assert load_exercise(text).id == "small"


def test_size_limit_counts_bytes_not_characters() -> None:
    text = VALID + "# " + "é" * 600_000 + "\n"  # 600k characters, 1.2 MB
    assert len(text) < 1_048_576 < len(text.encode())
    assert "limit" in only_problem(text).message


def test_max_bytes_none_lifts_the_limit() -> None:
    text = _padded(3 * 1_048_576)
    assert load_exercise(text, max_bytes=None).id == "small"


def test_a_custom_limit() -> None:
    size = len(VALID.encode())
    assert load_exercise(VALID, max_bytes=size).id == "small"
    assert "limit" in only_problem(VALID, max_bytes=size - 1).message


def test_file_over_the_limit_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(_padded(1_048_576 + 100), encoding="utf-8")
    problem = only_problem(path)
    assert problem.file == str(path) and "limit" in problem.message
    assert load_exercise(path, max_bytes=None).id == "small"


@pytest.mark.parametrize(("text", "bad_line"), [
    ("id: t\ntitle: T\ninputs:\n  x: 1\n   y: 2\nnodes: []\noutput: f\n", 5),
    ("id: t\ntitle: T\ninputs: {x: 1}\nnodes:\n  - {id: f, op: neg, in: [x]\noutput: f\n", 6),
    ("id: t\ntitle: 'unterminated\ninputs: {x: 1}\n", 4),
])
def test_invalid_yaml_syntax_names_its_line(text: str, bad_line: int) -> None:
    problem = only_problem(text)
    assert problem.message.startswith("invalid YAML")
    assert problem.line == bad_line


@pytest.mark.parametrize("text", ["- id: t\n- title: T\n", "just a string", "42", "", "~\n"])
def test_document_that_is_not_a_mapping(text: str) -> None:
    problem = only_problem(text)
    assert problem.line == 1 and "mapping" in problem.message


# ------------------------------------------------------------------ several problems

def test_several_field_problems_are_reported_together() -> None:
    text = spec(
        "{id: p, op: mull, in: [a, b]}",
        "{id: q, op: scale, in: [p]}",
        "{id: f, op: neg, in: [q], extra: 1}",
        inputs=("a: .nan", "b: 2.0"),
    )
    problems = problems_of(text)
    assert {p.node for p in problems} == {"p", "q", "f", "a"}
    assert {p.line for p in problems} == {
        line_of(text, "id: p,"), line_of(text, "id: q,"), line_of(text, "id: f,"),
        line_of(text, "a: .nan"),
    }


def test_several_graph_problems_are_reported_together() -> None:
    text = spec(
        "{id: p, op: mul, in: [a, b]}",
        "{id: p, op: neg, in: [a]}",
        "{id: q, op: neg, in: [p, b]}",
        "{id: f, op: add, in: [q, zz]}",
    )
    problems = problems_of(text)
    found = {(p.node, p.field, p.line) for p in problems}
    assert ("p", "id", line_of(text, "id: p, op: neg")) in found
    assert ("q", "in", line_of(text, "id: q,")) in found
    assert ("f", "in.1", line_of(text, "id: f,")) in found
    assert len(problems) == 3


def test_error_text_has_one_located_line_per_problem() -> None:
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: neg, in: [p, zz]}")
    with pytest.raises(ExerciseError) as info:
        load_exercise(text)
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems) == 2
    row = line_of(text, "id: f,")
    assert sum(line.startswith(f"<text>:{row}: f: in: neg ") for line in lines) == 1
    assert sum(line.startswith(f"<text>:{row}: f: in.1: 'zz' ") for line in lines) == 1


def test_problem_text_and_dict() -> None:
    problem = Problem("bad thing", "ex.yaml", 7, "n", "in.0")
    assert str(problem) == "ex.yaml:7: n: in.0: bad thing"
    assert str(Problem("whole file", "ex.yaml")) == "ex.yaml: whole file"
    assert problem.as_dict() == {"file": "ex.yaml", "line": 7, "node": "n", "field": "in.0",
                                 "message": "bad thing"}


# ------------------------------------------------------------------ files

@pytest.mark.parametrize("as_path", [False, True])
def test_problems_name_the_file(tmp_path: Path, as_path: bool) -> None:
    path = tmp_path / "bad-spec.yaml"
    text = spec("{id: p, op: mul, in: [a, b]}", "{id: f, op: neg, in: [p, zz]}")
    path.write_text(text, encoding="utf-8")
    source = path if as_path else str(path)
    with pytest.raises(ExerciseError) as info:
        load_exercise(source)
    assert all(p.file == str(path) for p in info.value.problems)
    for line in str(info.value).splitlines():
        assert line.startswith(f"{path}:{line_of(text, 'id: f,')}: f: ")
    assert "bad-spec.yaml" in str(info.value)


@pytest.mark.parametrize("as_path", [False, True])
def test_valid_file_loads_from_str_and_path(tmp_path: Path, as_path: bool) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(VALID, encoding="utf-8")
    exercise = load_exercise(path if as_path else str(path))
    assert exercise.id == "small" and exercise.source == str(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    problem = only_problem(path)
    assert problem.file == str(path)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.replace("A small", "Un petit é").encode("latin-1"))
    problem = only_problem(path)
    assert problem.file == str(path)


# ------------------------------------------------------------------ never a traceback

def _load_or_error(source: Any, **kwargs: Any) -> None:
    """A spec either loads or raises ExerciseError with located problems; nothing else."""
    try:
        exercise = load_exercise(source, **kwargs)
    except ExerciseError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert isinstance(problem.message, str) and problem.message
            assert problem.line is None or problem.line >= 1
            str(problem)
    else:
        assert isinstance(exercise, Exercise)


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    "a: " + "{b: " * 5000 + "1" + "}" * 5000,
    "!!python/object/apply:os.system ['true']\n",
    "? [a, b]\n: 1\n",
    "\x00",
    "\ufeffid: t\n",
    "id: !!binary aGVsbG8=\ntitle: T\n",
    "nodes: !!set {a, b}\n",
    "inputs: {x: 2001-12-14}\n",
    "1: 2\n",
    "id: t\n---\nid: u\n",
    "%YAML 1.2\n---\nid: t\n",
    "id: t\n\ttitle: x\n",
    "id: t\nnodes: [[[]]]\ninputs: {x: {uniform: {a: 1}}}\noutput: [f]\n",
    "id: t\ntitle: T\ninputs: {x: 1}\nnodes: [{id: f, op: [neg], in: [x]}]\noutput: f\n",
    "id: t\ntitle: T\ninputs: {x: 1}\nnodes: [{id: f, op: neg, in: x}]\noutput: f\n",
    "id: t\ntitle: T\ninputs: {x: 1}\nnodes: [{id: 3, op: neg, in: [x]}]\noutput: 3\n",
    "id: t\ntitle: T\ninputs: [x]\nnodes: {f: neg}\noutput: f\n",
])
def test_odd_documents_give_an_exercise_error(text: str) -> None:
    _load_or_error(text)


@pytest.mark.parametrize("text", [
    "!!float id: ",
    "!!float ",
    "id: !!int x\n",
    "id: !!bool maybe\n",
    "id: !!timestamp 2001-13-45\n",
    "id: t\ntitle: T\ninputs: {x: !!float one}\nnodes: [{id: f, op: neg, in: [x]}]\noutput: f\n",
])
def test_explicit_yaml_tag_with_a_bad_value_gives_an_exercise_error(text: str) -> None:
    with pytest.raises(ExerciseError) as info:
        load_exercise(text)
    assert info.value.problems[0].line is not None


def test_lone_surrogate_in_text_gives_an_exercise_error() -> None:
    # e.g. text decoded with errors="surrogateescape" from an upload
    _load_or_error(VALID.replace("A small", "A \udcff small"))


_YAMLISH_TOKENS = [
    "id: ", "title: ", "inputs:", "nodes:", "output: ", "tolerance: ", "ask: ", "op: ",
    "in: ", "expr: ", "uniform: ", "choice: ", "randint: ", "step: ", "a: ", "c: ", "p: ",
    "- ", "\n", "  ", "{", "}", "[", "]", ",", ":", "&a ", "*a", "!!str ", "!!float ",
    "? ", "'", '"', "#", "|", ">", "---", "...", "x", "f", "add", "neg", "max", "1", "-2.5",
    ".inf", ".nan", "true", "null", "~", "1e3", "0x1F", "\t", "%", "@", "\\",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_YAMLISH_TOKENS), max_size=60).map("".join))
def test_fuzz_yamlish_text(text: str) -> None:
    _load_or_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_random_text(text: str) -> None:
    _load_or_error(text)


_scalars = (st.none() | st.booleans() | st.integers(-10**30, 10**30)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
_json_like = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "title", "inputs", "nodes", "output", "tolerance",
                                        "ask", "description", "practice"]) | st.text(max_size=6),
                       _json_like, max_size=8))
def test_fuzz_random_documents(document: dict[str, Any]) -> None:
    _load_or_error(yaml.safe_dump(document))


VALID_DOCUMENT: dict[str, Any] = {
    "id": "neuron",
    "title": "Neuron",
    "inputs": {"w": 2.0, "x": {"uniform": [-1, 1], "step": 0.5}, "b": {"choice": [1, 2]}},
    "nodes": [
        {"id": "m", "op": "mul", "in": ["w", "x"]},
        {"id": "s", "op": "add", "in": ["m", "b"]},
        {"id": "r", "op": "max", "in": ["s", "m"]},
        {"id": "f", "op": "scale", "in": ["r"], "a": 2.0, "tolerance": {"rel": 0.1}},
    ],
    "output": "f",
    "tolerance": {"rel": 0.01, "abs": 0.01},
    "ask": ["forward", "backward"],
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for k, v in enumerate(value):
            found += _paths(v, (*prefix, k))
    return found


def _replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    if isinstance(document, dict):
        return {k: (_replaced(v, tuple(rest), new) if k == head else v)
                for k, v in document.items()}
    return [(_replaced(v, tuple(rest), new) if k == head else v) for k, v in enumerate(document)]


def test_the_document_used_for_mutations_is_valid() -> None:
    assert load_exercise(yaml.safe_dump(VALID_DOCUMENT)).id == "neuron"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_paths(VALID_DOCUMENT)[1:]), _json_like | st.sampled_from(
    ["f", "m", "x", "w", "neg", "max", "mul", "in", "op", "id", "uniform", "choice"]))
def test_fuzz_one_value_replaced_in_a_valid_document(path: tuple[Any, ...], new: Any) -> None:
    _load_or_error(yaml.safe_dump(_replaced(VALID_DOCUMENT, path, new)))


_EXPR_TOKENS = [
    "x", "y", "z", "w", " ", "+", "-", "*", "/", "**", "(", ")", ",", "0", "2", "0.5", "1e308",
    "exp(", "log(", "max(", "min(", "sqrt(", "abs(", "relu(", "inv(", "foo(", ".", "[", "]",
    "'s'", "lambda", ":", " if ", " else ", "1j", "True", "@", "%", "~", "not ", "__import__",
    "\n", "é",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_EXPR_TOKENS), min_size=1, max_size=25).map("".join))
def test_fuzz_expressions_from_spec_to_worked_solution(expr: str) -> None:
    document = {"id": "expr", "title": "Expr", "inputs": {"x": 1.5, "y": -0.5},
                "nodes": [{"id": "z", "expr": expr}], "output": "z"}
    try:
        exercise = load_exercise(yaml.safe_dump(document))
        solution = solve(draw_variant(exercise))
    except ExerciseError as exc:
        assert exc.problems
        assert all(p.node in (None, "z", "x", "y") for p in exc.problems), exc.problems
        return
    assert solution.values["z"] == solution.values["z"]  # not NaN
    assert solution.grads["z"] == 1.0
    assert len(solution.steps) == len(solution.values)


@pytest.mark.parametrize(("text", "line"), [
    ("\x1fid: t\n", 1),
    ("id: t\ntitle: T\x00\n", 2),
    ("id: t\ntitle: T\n\ninputs: {x: \x07}\n", 4),
])
def test_a_control_character_is_located_at_its_line(text: str, line: int) -> None:
    # PyYAML's reader refuses it before any token has a mark; found by fuzzing.
    problem = only_problem(text)
    assert problem.line == line
    assert "control character" in problem.message
    assert "\n" not in problem.message
