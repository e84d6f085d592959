"""The layers keep to their imports, and the code to public library APIs.

- engine/: pure (the standard library, pydantic and PyYAML); no web, database or
  grader code.
- the scoring and the use cases (grader/scoring, grader/services): no web framework;
  the services alone talk to the database.
- the LTI tool (grader/lti): Flask-free but for its thin views (`grader.lti.views`).
- nowhere in grader/: a library's private attributes or undocumented hooks.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "engine"
GRADER = REPO / "grader"
WEB = {"flask", "werkzeug", "gunicorn", "jinja2"}
DATABASE = {"sqlalchemy", "psycopg", "psycopg2", "alembic"}
ENGINE_THIRD_PARTY = {"pydantic", "pydantic_core", "yaml"}
MAX_MODULE_LINES = 600
# grader's modules that serve HTTP or the command line: the services call none of them.
WEB_SIDE_OF_GRADER = {"grader.api", "grader.app", "grader.auth", "grader.problems",
                      "grader.sessions", "grader.cli", "grader.service_cli",
                      "grader.gunicorn_conf", "grader.web", "grader.lti.views"}


def imported_modules(source: str) -> set[str]:
    """Every absolute module a Python source imports, at any depth in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
              and (getattr(node.func, "id", None) == "__import__"
                   or getattr(node.func, "attr", None) == "import_module")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def top_level(module: str) -> str:
    return module.split(".")[0]


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


ENGINE_FILES = python_files(ENGINE)
SCORING_FILES = python_files(GRADER / "scoring")
SERVICE_FILES = python_files(GRADER / "services")
LTI_FILES = [p for p in python_files(GRADER / "lti") if p.name != "views.py"]
GRADER_FILES = python_files(GRADER)


def test_the_scanner_sees_every_kind_of_import() -> None:
    source = (
        "import os, flask.app\n"
        "from sqlalchemy.orm import Session\n"
        "def f():\n"
        "    import werkzeug\n"
        "    from . import sibling\n"
        "    __import__('psycopg')\n"
        "    importlib.import_module('grader.app')\n"
    )
    assert {top_level(m) for m in imported_modules(source)} == {
        "os", "flask", "sqlalchemy", "werkzeug", "psycopg", "grader"
    }


def test_the_layers_are_where_expected() -> None:
    assert {p.name for p in ENGINE_FILES} >= {"__init__.py", "ops.py", "graph.py", "spec.py"}
    assert {p.name for p in SCORING_FILES} >= {"__init__.py", "mistakes.py", "tolerance.py"}
    assert {p.name for p in SERVICE_FILES} >= {"__init__.py", "errors.py", "attempts.py"}


@pytest.mark.parametrize("path", ENGINE_FILES, ids=relative)
def test_engine_files_import_only_stdlib_pydantic_and_yaml(path: Path) -> None:
    modules = {top_level(m) for m in imported_modules(path.read_text(encoding="utf-8"))}
    allowed = set(sys.stdlib_module_names) | ENGINE_THIRD_PARTY | {"engine", "__future__"}
    assert modules <= allowed, sorted(modules - allowed)


@pytest.mark.parametrize("path", SCORING_FILES, ids=relative)
def test_scoring_imports_no_web_or_database_code(path: Path) -> None:
    modules = imported_modules(path.read_text(encoding="utf-8"))
    tops = {top_level(m) for m in modules}
    assert not tops & (WEB | DATABASE), sorted(tops & (WEB | DATABASE))
    grader_modules = {m for m in modules if top_level(m) == "grader"}
    # grader.i18n (pure: Babel's catalogs, no web) makes its texts in the reader's language
    assert all(m.startswith("grader.scoring") or m == "grader.i18n"
               for m in grader_modules), grader_modules


def web_side(module: str) -> bool:
    return any(module == side or module.startswith(side + ".")
               for side in WEB_SIDE_OF_GRADER)


@pytest.mark.parametrize("path", SERVICE_FILES + LTI_FILES, ids=relative)
def test_services_import_no_web_code(path: Path) -> None:
    modules = imported_modules(path.read_text(encoding="utf-8"))
    assert not {top_level(m) for m in modules} & WEB
    assert not {m for m in modules if web_side(m)}


def test_the_lti_package_keeps_its_http_side_in_views() -> None:
    assert {p.name for p in LTI_FILES} >= {"launch.py", "messages.py", "keys.py"}
    views = imported_modules((GRADER / "lti" / "views.py").read_text(encoding="utf-8"))
    assert "flask" in {top_level(m) for m in views}


_CHILD = """
import json, sys
from engine import draw_variant, load_exercise, solve
import grader.scoring, grader.services
from grader.services import (accounts, assignments, attempts, courses, exercises,
                             gradebook, practice, solutions, variants)
from grader.lti import keys, launch, links, messages, platform_keys, platforms
exercise = load_exercise('''
id: t
title: T
inputs: {x: {uniform: [1, 2]}}
nodes: [{id: f, op: log, in: [x]}]
output: f
''')
solve(draw_variant(exercise, 3)).steps
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_engine_scoring_and_services_loads_no_web_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=REPO, timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "grader.services.attempts" in loaded and "engine.spec" in loaded
    assert not {m for m in loaded if top_level(m) in WEB}


def test_the_engine_alone_loads_no_web_or_database_module() -> None:
    child = (
        "import json, sys\n"
        "from engine import draw_variant, load_exercise, solve\n"
        "exercise = load_exercise('id: t\\ntitle: T\\ninputs: {x: 1.5}\\n"
        "nodes: [{id: f, op: log, in: [x]}]\\noutput: f\\n')\n"
        "solve(draw_variant(exercise, None)).steps\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "engine.spec" in loaded
    assert not {m for m in loaded if top_level(m) in WEB | DATABASE | {"grader"}}


def commit_calls(source: str) -> list[int]:
    """Lines that call a `.commit()` method."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"]


@pytest.mark.parametrize("path", SERVICE_FILES + LTI_FILES, ids=relative)
def test_only_the_transaction_boundary_commits(path: Path) -> None:
    """Use cases commit through `transaction`/`run_transaction`, never in a helper."""
    lines = commit_calls(path.read_text(encoding="utf-8"))
    assert lines == [] or path.name == "transactions.py", lines


# Known private or undocumented hooks of SQLAlchemy, psycopg, Flask and gunicorn that
# once served speed here, and a request-scoped side channel through Session.info.
_INTERNALS = re.compile(
    r"class_manager|__mapper__|escaped_bind_names|positiontup|"
    r"gunicorn\.workers|compiled_cache|\.info\[|session\.info|_sa_instance_state")


# Documented APIs that are underscored only so as not to clash with user names:
# namedtuple's methods, and enum's _sunder_ names (`_value_`, `_name_`, ...).
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}
ENUM_SUNDER = re.compile(r"_[a-z]+(_[a-z]+)*_")


def private_accesses(source: str) -> list[str]:
    """`obj._name` where obj is not self/cls: a private attribute of another object.
    (Dunders are public protocol; our own private names are reached through self.)"""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and node.attr not in NAMEDTUPLE_API
                and not ENUM_SUNDER.fullmatch(node.attr)
                and not (node.attr.startswith("__") and node.attr.endswith("__"))):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_the_private_access_scanner_sees_what_it_must() -> None:
    source = ("engine._pool\nself._mine\nx.__dict__\nthing.user._sa_state\n"
              "row._replace()\nflag._value_\n")
    assert private_accesses(source) == ["1: ._pool", "4: ._sa_state"]


@pytest.mark.parametrize("path", GRADER_FILES, ids=relative)
def test_no_private_attribute_of_another_object_is_touched(path: Path) -> None:
    assert private_accesses(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", GRADER_FILES, ids=relative)
def test_no_library_internals_are_named(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    hits = [f"{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
            if _INTERNALS.search(line)]
    assert hits == []


@pytest.mark.parametrize("path", GRADER_FILES, ids=relative)
def test_modules_stay_small_enough_to_be_one_thing(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{relative(path)}: {lines} lines"


def translated_but_rebound(source: str) -> list[int]:
    """Lines that bind `_` in a module that translates with `_()`: the binding would
    hide gettext (a `for _ in` loop makes `_()` an int call)."""
    tree = ast.parse(source)
    calls = any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "_" for node in ast.walk(tree))
    return [node.lineno for node in ast.walk(tree) if calls and isinstance(node, ast.Name)
            and node.id == "_" and isinstance(node.ctx, ast.Store)]


def test_the_rebinding_scanner_sees_what_it_must() -> None:
    assert translated_but_rebound("for _ in x:\n    pass\n_('a')\n") == [1]
    assert translated_but_rebound("for _ in x:\n    pass\n") == []


@pytest.mark.parametrize("path", GRADER_FILES, ids=relative)
def test_gettext_is_never_hidden_by_a_throwaway_name(path: Path) -> None:
    assert translated_but_rebound(path.read_text(encoding="utf-8")) == []
