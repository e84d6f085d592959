"""The graph engine: exercise specs, reference forward values and gradients, worked steps.

Pure Python (stdlib, pydantic, PyYAML): no web or database imports.
"""

from engine.errors import DomainError, ExerciseError, Problem
from engine.explain import Step
from engine.ops import OPS, Op
from engine.solution import Solution, solve
from engine.spec import Exercise, Tolerance, load_exercise, parse_exercise
from engine.variants import Variant, draw_variant

__all__ = [
    "OPS",
    "DomainError",
    "Exercise",
    "ExerciseError",
    "Op",
    "Problem",
    "Solution",
    "Step",
    "Tolerance",
    "Variant",
    "draw_variant",
    "load_exercise",
    "parse_exercise",
    "solve",
]
