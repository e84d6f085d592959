"""`grader check` and `grader solve` (a table, --json, --explain, --submission)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import cli

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_accepts_every_bundled_exercise(runner):
    result = runner.invoke(cli, ["check", str(EXERCISES)])
    assert result.exit_code == 0, result.output
    assert "exercises OK" in result.output


def test_check_reports_file_line_node_and_exits_1(runner, tmp_path):
    path = write(tmp_path, "bad.yaml", """\
id: bad
title: Bad
inputs: {x: 1.0}
nodes:
  - {id: a, op: mul, in: [x, y]}
  - {id: b, op: blorp, in: [a]}
output: b
""")
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert f"{path}:5: a: in.1: 'y' is not an input or a node" in lines
    assert any(line.startswith(f"{path}:6: b: ") and "unknown op 'blorp'" in line for line in lines)
    assert "Traceback" not in result.output


def test_check_names_the_gate_of_a_domain_error_with_fixed_inputs(runner, tmp_path):
    path = write(tmp_path, "log.yaml", """\
id: log-neg
title: Log of a negative
inputs: {x: -1.0}
nodes:
  - {id: a, op: scale, in: [x], a: 2}
  - {id: b, op: log, in: [a]}
output: b
""")
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:6: b: " in result.output
    assert "log" in result.output


def test_check_reports_random_inputs_that_keep_failing(runner, tmp_path):
    path = write(tmp_path, "always-bad.yaml", """\
id: always-bad
title: Always a domain error
inputs: {x: {randint: [-5, -1]}}
nodes:
  - {id: b, op: sqrt, in: [x]}
output: b
""")
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert "every one of" in result.output and "b" in result.output


def test_check_of_a_folder_with_no_specs_fails(runner, tmp_path):
    result = runner.invoke(cli, ["check", str(tmp_path)])
    assert result.exit_code == 1


def test_solve_prints_a_table_of_every_node(runner):
    result = runner.invoke(cli, ["solve", str(EXERCISES / "sigmoid-neuron.yaml")])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[2:]}
    assert set(rows) == {"w0", "x0", "w1", "x1", "w2", "p0", "p1", "s", "n", "e", "d", "f"}
    assert rows["x0"][-2:] == ["-1.00", "0.39"]
    assert rows["f"][-2:] == ["0.73", "1.00"]


def test_solve_json_has_the_documented_shape(runner):
    result = runner.invoke(cli, ["solve", str(EXERCISES / "gate-patterns.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["exercise"] == "gate-patterns"
    assert data["seed"] is None
    assert data["output"] == "f"
    assert data["inputs"] == {"x": 3.0, "y": -4.0, "z": 2.0, "w": -1.0}
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["x"] == {"id": "x", "op": "input", "in": [], "value": 3.0, "grad": -8.0}
    assert nodes["m"]["op"] == "max" and nodes["m"]["in"] == ["z", "w"]
    assert nodes["f"]["value"] == -20.0 and nodes["f"]["grad"] == 1.0


def solved_nodes(runner, path) -> dict:
    result = runner.invoke(cli, ["solve", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return {n["id"]: n for n in json.loads(result.output)["nodes"]}


def test_solve_json_gives_each_gates_local_gradients(runner, tmp_path):
    nodes = solved_nodes(runner, EXERCISES / "sigmoid-neuron.yaml")
    assert nodes["p0"]["local"] == {"w0": -1.0, "x0": 2.0}  # mul swaps its inputs
    assert nodes["s"]["local"] == {"p0": 1.0, "p1": 1.0, "w2": 1.0}
    assert nodes["n"]["local"] == {"s": -1.0}
    assert "local" not in nodes["w0"]  # inputs have none
    square = write(tmp_path, "sq.yaml", "id: sq\ntitle: Square\ninputs: {x: 3.0}\n"
                   "nodes: [{id: q, op: mul, in: [x, x]}]\noutput: q\n")
    assert solved_nodes(runner, square)["q"]["local"] == {"x": 6.0}  # used twice: 2x


def test_solve_submission_prints_what_a_right_student_sends(runner):
    result = runner.invoke(cli, ["solve", str(EXERCISES / "sigmoid-neuron.yaml"),
                                 "--submission"])
    assert result.exit_code == 0, result.output
    submission = json.loads(result.output)
    assert set(submission) == {"forward", "backward"}  # what the exercise asks
    assert set(submission["forward"]) == {"p0", "p1", "s", "n", "e", "d", "f"}
    assert set(submission["backward"]) == {"w0", "x0", "w1", "x1", "w2", *submission["forward"]}
    assert submission["forward"]["p0"] == -2.0
    assert round(submission["backward"]["x0"], 4) == 0.3932


def test_solve_submission_has_local_gradients_when_asked_and_takes_a_seed(runner):
    path = str(EXERCISES / "sigmoid-neuron-random.yaml")
    seven = json.loads(runner.invoke(cli, ["solve", path, "--submission", "--seed", "7"]).output)
    eight = json.loads(runner.invoke(cli, ["solve", path, "--submission", "--seed", "8"]).output)
    assert set(seven) == {"forward", "backward", "local"}
    assert set(seven["local"]) == set(seven["forward"])
    assert seven != eight
    solved = json.loads(runner.invoke(cli, ["solve", path, "--json", "--seed", "7"]).output)
    for node in solved["nodes"]:
        if node["op"] != "input":
            assert seven["local"][node["id"]] == node["local"]
            assert seven["forward"][node["id"]] == node["value"]
        assert seven["backward"][node["id"]] == node["grad"]


def test_solve_submission_of_several_files_prints_one_line_each(runner):
    result = runner.invoke(cli, ["solve", str(EXERCISES), "--submission"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(list(EXERCISES.glob("*.yaml")))
    assert all("backward" in json.loads(line) for line in lines)


def test_solve_submission_is_not_explained(runner):
    result = runner.invoke(cli, ["solve", str(EXERCISES / "branching.yaml"), "--submission",
                                 "--explain"])
    assert result.exit_code == 2
    assert "cannot be combined with --explain" in result.output


def test_solve_seed_selects_the_variant(runner):
    path = str(EXERCISES / "sigmoid-neuron-random.yaml")
    first = json.loads(runner.invoke(cli, ["solve", path, "--json", "--seed", "1"]).output)
    again = json.loads(runner.invoke(cli, ["solve", path, "--json", "--seed", "1"]).output)
    other = json.loads(runner.invoke(cli, ["solve", path, "--json", "--seed", "2"]).output)
    assert first == again
    assert first["seed"] == 1
    assert first["inputs"] != other["inputs"]


def test_solve_explain_shows_local_gradients_and_sums(runner):
    result = runner.invoke(cli, ["solve", str(EXERCISES / "sigmoid-neuron.yaml"), "--explain"])
    assert result.exit_code == 0
    assert "mul: d/dx0 = w0 = 2.00" in result.output
    assert "inv: d/dd = -1/d² = -0.53" in result.output
    branching = runner.invoke(cli, ["solve", str(EXERCISES / "branching.yaml"), "--explain"])
    assert "summed over the branches" in branching.output


def test_solve_of_an_invalid_file_exits_1_without_traceback(runner, tmp_path):
    path = write(tmp_path, "broken.yaml", "id: [unclosed\n")
    result = runner.invoke(cli, ["solve", str(path)])
    assert result.exit_code == 1
    assert "invalid YAML" in result.output
    assert "Traceback" not in result.output


def test_the_installed_console_script_runs():
    exe = Path(sys.executable).parent / "grader"
    out = subprocess.run([str(exe), "check", str(EXERCISES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
