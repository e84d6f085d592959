"""The `grader` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from engine import (
    Exercise,
    ExerciseError,
    Problem,
    Solution,
    draw_variant,
    load_exercise,
    solve,
)
from engine.explain import fmt
from engine.gradcheck import gradient_mismatches
from grader.i18n import DEFAULT_LANGUAGE, located_problem, mark, ngettext, use_language
from grader.i18n import gettext as _

SPEC_SUFFIXES = (".yaml", ".yml")
CHECK_SEEDS = 20  # seeds drawn by `grader check` for a randomized exercise
GRADE_LANGUAGES = ("pt-BR", "en")  # as grader.i18n tags them, imported only by `grade`


class _WithServiceCommands(click.Group):
    """Adds the service's commands (serve, migrate, user, token, lti, worker), imported only when
    one of them runs: they load Flask and SQLAlchemy, which check and solve need not."""

    service_commands = ("lti", "migrate", "serve", "token", "user", "worker")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.service_commands])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.service_commands:
            from grader import service_cli

            command: click.Command = getattr(service_cli, name)
            return command
        return super().get_command(ctx, name)


@click.group(cls=_WithServiceCommands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Backprop Grader: check, solve and grade backpropagation exercises."""


def main() -> None:
    cli()


def spec_files(paths: Iterable[str]) -> Iterator[Path]:
    """The spec files named, folders searched recursively, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES)
        else:
            yield path


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--lang", type=click.Choice(GRADE_LANGUAGES), default=None,
              help="Write the problems in this language (default: en).")
def check(paths: tuple[str, ...], lang: str | None) -> None:
    """Validate exercise specs (files or folders) and evaluate them.

    Exit 0 when every spec is valid; 1 with one `file:line: node: message` line per
    problem otherwise.
    """
    with use_language(lang or DEFAULT_LANGUAGE):
        _check(paths)


def _check(paths: tuple[str, ...]) -> None:
    problems: list[Problem] = []
    count = 0
    for path in spec_files(paths):
        count += 1
        problems += check_exercise_file(path)
    for problem in problems:
        click.echo(located_problem(problem))
    if count == 0:
        click.echo(_("no exercise files (*.yaml, *.yml) found"), err=True)
        sys.exit(1)
    if problems:
        sys.exit(1)
    click.echo(ngettext("{count} exercise OK", "{count} exercises OK", count).format(
        count=count), err=True)


def check_exercise_file(path: Path) -> list[Problem]:
    """Every problem of one spec file: validation, then evaluation of its variants."""
    try:
        exercise = load_exercise(path)
    except ExerciseError as exc:
        return list(exc.problems)
    return evaluate_exercise(exercise)


def evaluate_exercise(exercise: Exercise) -> list[Problem]:
    """Draw the exercise's variants (the fixed one, or CHECK_SEEDS seeds) and solve
    each, checking every gradient against finite differences."""
    seeds: list[int | None] = list(range(CHECK_SEEDS)) if exercise.randomized else [None]
    problems: list[Problem] = []
    for seed in seeds:
        try:
            variant = draw_variant(exercise, seed)
        except ExerciseError as exc:
            problems += exc.problems
            break
        for node, message in gradient_mismatches(solve(variant)):
            problems.append(Problem.of(message, exercise.source, exercise.line_of(node), node))
    return problems


@cli.command("solve")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--seed", type=int, default=None, help="Draw this variant (default: fixed values, or seed 0)."
)
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON instead of a table, with each gate's local gradients.")
@click.option("--explain", is_flag=True, help="Print the worked solution step by step.")
@click.option("--submission", "as_submission", is_flag=True,
              help="Print the reference as a submission: the JSON a student who gets every "
              "blank right sends (for `grader grade` and the API).")
def solve_command(paths: tuple[str, ...], seed: int | None, as_json: bool, explain: bool,
                  as_submission: bool) -> None:
    """Print the reference solution of exercises: every node's value and gradient."""
    if as_submission and explain:
        raise click.UsageError("--submission prints JSON; it cannot be combined with --explain")
    files = list(spec_files(paths))
    failed = False
    for n, path in enumerate(files):
        try:
            solution = solve(draw_variant(load_exercise(path), seed))
        except ExerciseError as exc:
            for problem in exc.problems:
                click.echo(located_problem(problem), err=True)
            failed = True
            continue
        if as_json or as_submission:
            document = submission_json(solution) if as_submission else solution_json(solution)
            click.echo(json.dumps(document, indent=None if len(files) > 1 else 2))
            continue
        if n:
            click.echo()
        click.echo(explain_text(solution) if explain else solution_table(solution))
    if failed or not files:
        sys.exit(1)


def solution_json(solution: Solution) -> dict[str, object]:
    exercise = solution.exercise
    variant = solution.variant
    nodes: list[dict[str, object]] = [
        {"id": name, "op": "input", "in": [], "value": value, "grad": solution.grads[name]}
        for name, value in variant.inputs.items()
    ]
    for gate in exercise.gates:
        node: dict[str, object] = {
            "id": gate.id, "op": gate.op, "in": list(gate.inputs),
            "value": solution.values[gate.id], "grad": solution.grads[gate.id],
            "local": dict(solution.local_gradients(gate.id)),
        }
        if gate.params:
            node["params"] = dict(gate.params)
        nodes.append(node)
    return {
        "exercise": exercise.id,
        "seed": variant.seed,
        "output": exercise.output,
        "inputs": dict(variant.inputs),
        "nodes": nodes,
    }


def submission_json(solution: Solution) -> dict[str, object]:
    """The reference as a submission: every blank the exercise asks for, right."""
    exercise = solution.exercise
    gates = [gate.id for gate in exercise.gates]
    document: dict[str, object] = {}
    if "forward" in exercise.ask:
        document["forward"] = {gate: solution.values[gate] for gate in gates}
    if "backward" in exercise.ask:
        document["backward"] = {node: solution.grads[node]
                                for node in [*solution.variant.inputs, *gates]}
    if "local" in exercise.ask:
        document["local"] = {gate: dict(solution.local_gradients(gate)) for gate in gates}
    return document


def _header(solution: Solution) -> str:
    exercise = solution.exercise
    seed = solution.variant.seed
    variant = _("fixed inputs") if seed is None else _("seed {seed}").format(seed=seed)
    return _("{id}: {title} ({variant}; output {output})").format(
        id=exercise.id, title=exercise.title, variant=variant, output=exercise.output)


# How `grader grade` names a blank's kind and status, in the reader's language.
KIND_WORDS = {"forward": mark("forward"), "backward": mark("backward"), "local": mark("local")}
STATUS_WORDS = {"correct": mark("correct"), "consistent": mark("consistent"),
                "incorrect": mark("incorrect"), "missing": mark("missing"),
                "invalid": mark("invalid")}


def solution_table(solution: Solution) -> str:
    exercise = solution.exercise
    rows = [("node", "op", "inputs", "value", "grad")]
    for name in solution.variant.inputs:
        rows.append((name, "input", "", fmt(solution.values[name]), fmt(solution.grads[name])))
    for gate in exercise.gates:
        op = gate.op + "".join(f" {k}={v:g}" for k, v in gate.params.items())
        rows.append((gate.id, op, ", ".join(gate.inputs),
                     fmt(solution.values[gate.id]), fmt(solution.grads[gate.id])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [_header(solution)]
    for r in rows:
        left = "  ".join(r[i].ljust(widths[i]) for i in range(3))
        right = "  ".join(r[i].rjust(widths[i]) for i in range(3, 5))
        lines.append(f"  {left}  {right}")
    for node, (lo, hi) in solution.grad_ranges.items():
        lines.append(f"  note: at a kink, any df/d{node} in [{fmt(lo)}, {fmt(hi)}] is valid")
    return "\n".join(lines)


def explain_text(solution: Solution) -> str:
    lines = [_header(solution), "", "Forward pass:"]
    steps = solution.steps
    for step in steps:
        lines.append(f"  {step.forward}")
    lines += ["", "Backward pass (from the output back):"]
    for step in reversed(steps):
        lines.append(f"  {step.node}:")
        for local in step.local_gradients:
            lines.append(f"    local  {local.formula}")
        lines.append(f"    grad   {step.backward}")
        if step.grad_range is not None:
            lo, hi = step.grad_range
            lines.append(f"    kink   any value in [{fmt(lo)}, {fmt(hi)}] is a valid subgradient")
    return "\n".join(lines)



@cli.command("grade")
@click.argument("path")
@click.argument("submission_path", metavar="SUBMISSION.json")
@click.option("--seed", type=int, default=None,
              help="Grade against this variant (default: fixed values, or seed 0).")
@click.option("--lang", type=click.Choice(GRADE_LANGUAGES), default=None,
              help="Write the feedback in this language (default: en).")
@click.option("--json", "as_json", is_flag=True, help="Print the full result object as JSON.")
def grade_command(path: str, submission_path: str, seed: int | None, lang: str | None,
                  as_json: bool) -> None:
    """Grade a submission file against an exercise, blank by blank.

    Exit 0 when graded (whatever the score); 1 with located messages when the exercise
    or the submission cannot be used, or when blanks hold no number: then nothing is
    graded, and no score is printed ("score": null with --json).
    """
    with use_language(lang or DEFAULT_LANGUAGE):
        _grade(path, submission_path, seed, as_json)


def _grade(path: str, submission_path: str, seed: int | None, as_json: bool) -> None:
    from grader.scoring import SubmissionError, grade, parse_submission

    try:
        files = list(spec_files([path]))
        if len(files) != 1:
            raise UnusableFile([f"{path}: grade takes one exercise file, found {len(files)}"])
        try:
            exercise = load_exercise(files[0])
            solution = solve(draw_variant(exercise, seed))
        except ExerciseError as exc:
            raise UnusableFile([located_problem(problem) for problem in exc.problems]) from None
        try:
            submission = parse_submission(read_json(submission_path), exercise)
        except SubmissionError as exc:
            raise UnusableFile([f"{submission_path}: {error}" for error in exc.errors]) from None
    except UnusableFile as exc:
        for line in exc.lines:
            click.echo(line, err=True)
        sys.exit(1)
    result = grade(solution, submission)
    graded = not result.has_format_errors
    if as_json:
        document = result.as_dict()
        if not graded:
            document["score"] = None  # not graded (the service answers 422: no score)
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        for blank in result.format_errors:
            where = ".".join(p for p in (blank.kind, blank.node, blank.input) if p)
            click.echo(f"{submission_path}: {where}: {blank.message}", err=True)
    else:
        click.echo(_header(solution))
        score = f"{result.score:.2f}" if graded else _("not graded")
        click.echo(_("score: {score}  ({tally})").format(
            score=score, tally=_tally(b.status for b in result.blanks)))
        for blank in result.blanks:
            if blank.status != "correct":
                mistake = f" [{blank.mistake}]" if blank.mistake else ""
                kind = _(KIND_WORDS[blank.kind])
                status = _(STATUS_WORDS[blank.status])
                click.echo(f"  {kind:<8} {result.label(blank):<12} {status}{mistake}: "
                           f"{blank.message}")
        click.echo(result.summary())
    if not graded:
        sys.exit(1)  # blanks without a number


class UnusableFile(Exception):
    """An exercise or submission file that cannot be graded, as located message lines."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def read_json(path: str) -> object:
    """A JSON file's document; UnusableFile (one located line) when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UnusableFile([f"{path}: cannot read the file: {reason}"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnusableFile([f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]) from None
    except (ValueError, RecursionError) as exc:  # an integer too long, nesting too deep
        raise UnusableFile([f"{path}: invalid JSON: {exc}"]) from None


def _tally(statuses: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    order = ("correct", "consistent", "incorrect", "missing", "invalid")
    return ", ".join(f"{counts[s]} {_(STATUS_WORDS[s])}" for s in order if counts.get(s))
