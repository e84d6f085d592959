"""`grader grade PATH SUBMISSION.json [--seed N] [--lang pt-BR|en] [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import i18n
from grader.cli import cli

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
NEURON = str(EXERCISES / "sigmoid-neuron.yaml")
RIGHT = {
    "forward": {"p0": -2.0, "p1": 6.0, "s": 1.0, "n": -1.0, "e": 0.37, "d": 1.37, "f": 0.73},
    "backward": {"f": 1.0, "d": -0.53, "e": -0.53, "n": -0.2, "s": 0.2, "p0": 0.2,
                 "p1": 0.2, "w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2},
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(tmp_path: Path, document: object, name: str = "submission.json") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_a_right_submission_scores_one(runner, tmp_path):
    result = runner.invoke(cli, ["grade", NEURON, write(tmp_path, RIGHT)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sigmoid-neuron: ")
    assert lines[1] == "score: 1.00  (19 correct)"
    assert lines[-1] == "Every blank is right."


def test_a_wrong_submission_lists_each_blank_to_fix_and_where_to_start(runner, tmp_path):
    submission = json.loads(json.dumps(RIGHT))
    submission["backward"].update(x0=2.0, w0=0.2)  # no upstream; a flipped sign
    del submission["backward"]["x1"]
    result = runner.invoke(cli, ["grade", NEURON, write(tmp_path, submission)])
    assert result.exit_code == 0, result.output  # graded, whatever the score
    lines = result.stdout.splitlines()
    assert lines[1] == "score: 0.84  (16 correct, 2 incorrect, 1 missing)"
    body = lines[2:-1]
    assert len(body) == 3
    assert body[0].split() == ["backward", "df/dw0", "incorrect", "[sign-flip]:", "the",
                               "sign", "is", "wrong:", "check", "the", "sign", "of", "each",
                               "local", "gradient", "on", "the", "way", "back", "from", "the",
                               "output"]
    assert "df/dx0" in body[1] and "[no-upstream]" in body[1]
    assert "df/dx1" in body[2] and "missing" in body[2]
    assert lines[-1].startswith("Start fixing here: df/dw0 (backward): the sign is wrong")
    assert "0.39" not in result.stdout and "0.3932" not in result.stdout


def test_json_prints_the_full_result_object(runner, tmp_path):
    submission = json.loads(json.dumps(RIGHT))
    submission["forward"].update(p0=-2.5, s=0.5)  # a slip, and a sum made with it
    result = runner.invoke(cli, ["grade", NEURON, write(tmp_path, submission), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"score", "blanks", "first_error"}
    assert len(data["blanks"]) == 19
    assert data["first_error"]["kind"] == "forward"
    assert data["first_error"]["node"] == "p0"
    assert data["first_error"]["propagated_into"] == [{"kind": "forward", "node": "s"}]


def test_seed_selects_the_variant(runner, tmp_path):
    path = str(EXERCISES / "sigmoid-neuron-random.yaml")
    solved = runner.invoke(cli, ["solve", path, "--seed", "7", "--json"])
    nodes = json.loads(solved.stdout)["nodes"]
    local = {}
    for node in nodes:
        if node["op"] == "mul":  # the other input's value
            a, b = node["in"]
            values = {n["id"]: n["value"] for n in nodes}
            local[node["id"]] = {a: values[b], b: values[a]}
    submission = {"forward": {n["id"]: n["value"] for n in nodes if n["op"] != "input"},
                  "backward": {n["id"]: n["grad"] for n in nodes},
                  "local": local}
    file = write(tmp_path, submission)
    same = runner.invoke(cli, ["grade", path, file, "--seed", "7", "--json"])
    other = runner.invoke(cli, ["grade", path, file, "--seed", "8", "--json"])
    assert same.exit_code == other.exit_code == 0
    same_blanks = json.loads(same.stdout)["blanks"]
    mine = [b for b in same_blanks if b["kind"] != "local" or b["node"] in local]
    assert all(b["status"] == "correct" for b in mine)
    assert json.loads(other.stdout)["score"] < json.loads(same.stdout)["score"]


def test_format_errors_are_listed_and_nothing_is_graded(runner, tmp_path):
    file = write(tmp_path, '{"forward": {"p0": NaN, "p1": "6"}, "backward": {"f": null}}')
    result = runner.invoke(cli, ["grade", NEURON, file])
    assert result.exit_code == 1
    assert "forward  p0           invalid: format error: NaN is not a number" in result.stdout
    assert "nothing was graded" in result.stdout
    assert "score: not graded" in result.stdout.splitlines()[1]
    assert "score: 0" not in result.stdout
    as_json = runner.invoke(cli, ["grade", NEURON, file, "--json"])
    assert as_json.exit_code == 1
    assert f"{file}: forward.p0: format error: NaN is not a number; not graded" in (
        as_json.stderr.splitlines())
    data = json.loads(as_json.stdout)
    assert data["score"] is None  # not graded: no score, as the summary says
    assert [b["status"] for b in data["blanks"]].count("invalid") == 3


@pytest.mark.parametrize(("document", "message"), [
    ('{"forward": {"p0": 1,}', ":1:22: invalid JSON: Expecting property name"),
    ({"forward": {"p9": 1.0}}, ": forward.p9: no gate 'p9' in this exercise"),
    ({"local": {"p0": {"x0": 1.0}}}, ": local: this exercise does not ask for local blanks"),
    ([1, 2], ": a submission is a JSON object"),
    ("[" * 100_000 + "]" * 100_000, ": invalid JSON: maximum recursion depth exceeded"),
])
def test_an_unusable_submission_exits_1_with_a_located_line(runner, tmp_path, document,
                                                            message):
    file = write(tmp_path, document)
    result = runner.invoke(cli, ["grade", NEURON, file])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(file + message)
    assert "Traceback" not in result.output


def test_a_missing_submission_file_exits_1(runner, tmp_path):
    result = runner.invoke(cli, ["grade", NEURON, str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"{tmp_path / 'nope.json'}: cannot read the file: "
                                     "No such file or directory")


def test_an_invalid_exercise_exits_1_with_located_problems(runner, tmp_path):
    exercise = tmp_path / "bad.yaml"
    exercise.write_text("id: bad\ntitle: Bad\ninputs: {x: 1.0}\nnodes:\n"
                        "  - {id: a, op: mul, in: [x, y]}\noutput: a\n")
    result = runner.invoke(cli, ["grade", str(exercise), write(tmp_path, RIGHT)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{exercise}:5: a: in.1: 'y' is not an input or a node"]
    assert "Traceback" not in result.output


def test_a_folder_is_not_one_exercise(runner, tmp_path):
    result = runner.invoke(cli, ["grade", str(EXERCISES), write(tmp_path, RIGHT)])
    assert result.exit_code == 1
    assert "grade takes one exercise file" in result.stderr


BUNDLED = sorted(EXERCISES.glob("*.yaml"))


def seeds_of(path: Path) -> list[str | None]:
    from engine import load_exercise

    return ["0", "1", "7", "123", "2026"] if load_exercise(path).randomized else [None]


@pytest.mark.parametrize(("path", "seed"), [(p, s) for p in BUNDLED for s in seeds_of(p)],
                         ids=lambda v: v.stem if isinstance(v, Path) else str(v))
def test_the_reference_as_a_submission_scores_one(runner, tmp_path, path, seed):
    seeded = ["--seed", seed] if seed is not None else []
    solved = runner.invoke(cli, ["solve", str(path), "--submission", *seeded])
    assert solved.exit_code == 0, solved.output
    file = write(tmp_path, solved.stdout)
    graded = runner.invoke(cli, ["grade", str(path), file, "--json", *seeded])
    assert graded.exit_code == 0, graded.output
    result = json.loads(graded.stdout)
    assert result["score"] == 1.0
    assert {b["status"] for b in result["blanks"]} == {"correct"}


def test_a_randomized_exercise_is_among_those_tried():
    assert any(seeds_of(path) != [None] for path in BUNDLED)


def test_lang_chooses_the_language_of_grading_and_printing(runner, tmp_path, monkeypatch):
    import grader.scoring
    from grader.scoring import GradeResult

    seen: list[tuple[str, str]] = []
    grade, summary = grader.scoring.grade, GradeResult.summary

    def grade_spy(*args, **kwargs):
        seen.append(("grade", i18n.current_language()))
        return grade(*args, **kwargs)

    def summary_spy(self):
        seen.append(("summary", i18n.current_language()))
        return summary(self)

    monkeypatch.setattr(grader.scoring, "grade", grade_spy)
    monkeypatch.setattr(GradeResult, "summary", summary_spy)
    file = write(tmp_path, RIGHT)
    assert runner.invoke(cli, ["grade", NEURON, file, "--lang", "pt-BR"]).exit_code == 0
    assert seen == [("grade", "pt_BR"), ("summary", "pt_BR")]
    assert i18n.current_language() == "en"  # restored afterwards
    seen.clear()
    assert runner.invoke(cli, ["grade", NEURON, file, "--lang", "en"]).exit_code == 0
    assert runner.invoke(cli, ["grade", NEURON, file]).exit_code == 0
    assert seen == [("grade", "en"), ("summary", "en")] * 2


@pytest.mark.parametrize("lang", ["fr", "pt", "pt_BR", ""])
def test_an_unknown_lang_is_a_usage_error_listing_the_choices(runner, tmp_path, lang):
    result = runner.invoke(cli, ["grade", NEURON, write(tmp_path, RIGHT), "--lang", lang])
    assert result.exit_code == 2
    assert "is not one of 'pt-BR', 'en'" in result.output


def test_help_documents_seed_and_lang_together(runner):
    text = runner.invoke(cli, ["grade", "--help"]).output
    assert "--seed" in text and "--lang [pt-BR|en]" in text
    assert text.index("--seed") < text.index("--lang")


def test_the_grade_output_speaks_portuguese_with_lang_pt_br(runner, tmp_path):
    exercise = "exercises/branching.yaml"
    right = runner.invoke(cli, ["solve", exercise, "--submission"])
    answers = json.loads(right.output)
    answers["backward"]["x"] = -6.0  # one branch not summed
    path = tmp_path / "one-slip.json"
    path.write_text(json.dumps(answers))
    result = runner.invoke(cli, ["grade", exercise, str(path), "--lang", "pt-BR"])
    assert result.exit_code == 0, result.output
    assert "nota: 0.92" in result.output and "entradas fixas" in result.output
    assert "incorreto [branch-not-summed]" in result.output and "retrógrado" in result.output
    for english in ("score:", "fixed inputs", "incorrect", "backward"):
        assert english not in result.output
