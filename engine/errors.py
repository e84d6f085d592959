"""Errors that name where the problem is: file, line, node and field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in an exercise spec."""

    message: str
    file: str = "<text>"
    line: int | None = None
    node: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        parts = [where]
        if self.node:
            parts.append(self.node)
        text = f"{self.field}: {self.message}" if self.field else self.message
        return ": ".join([*parts, text])

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "file": self.file,
            "line": self.line,
            "node": self.node,
            "field": self.field,
            "message": self.message,
        }


class ExerciseError(Exception):
    """An exercise that cannot be used, with every located problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DomainError(ArithmeticError):
    """A gate evaluated outside its domain (1/0, log of a non-positive, ...)."""

    def __init__(self, node: str, op: str, message: str) -> None:
        self.node = node
        self.op = op
        self.reason = message
        super().__init__(f"{node}: {op}: {message}")
