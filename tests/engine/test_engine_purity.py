"""The engine is pure: stdlib, pydantic and PyYAML only; no web, database or grader code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "engine"
FORBIDDEN = {"flask", "sqlalchemy", "werkzeug", "psycopg", "psycopg2", "alembic", "grader"}
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "yaml"}


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


def engine_files() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


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


def test_the_engine_package_is_where_expected() -> None:
    names = {p.name for p in engine_files()}
    assert {"__init__.py", "ops.py", "graph.py", "spec.py"} <= names


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: p.name)
def test_no_engine_file_imports_web_or_database_code(path: Path) -> None:
    modules = {top_level(m) for m in imported_modules(path.read_text(encoding="utf-8"))}
    assert not modules & FORBIDDEN, sorted(modules & FORBIDDEN)


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: p.name)
def test_engine_files_import_only_stdlib_pydantic_and_yaml(path: Path) -> None:
    modules = {top_level(m) for m in imported_modules(path.read_text(encoding="utf-8"))}
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY | {"engine", "__future__"}
    assert modules <= allowed, sorted(modules - allowed)


_CHILD = """
import json, sys
import engine
from engine import draw_variant, load_exercise, solve
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


def test_importing_and_using_the_engine_loads_no_web_or_database_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=REPO, timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "engine" in loaded and "engine.spec" in loaded  # the child really used the engine
    assert not {m for m in loaded if top_level(m) in FORBIDDEN}
