"""Errors that name where the problem is: file, line, node and field.

Every message is a `Text`: an English template marked with `mark` (so that the
grader's catalogs extract it and translate it where the problem is shown) and its
parameters. `Problem.message` is the English text, for the logs and the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from types import MappingProxyType


def mark(template: str) -> str:
    """Mark a message template for the catalogs; it is translated where it is shown."""
    return template


def _untranslated(template: str) -> str:
    return template


@dataclass(frozen=True, slots=True)
class Text:
    """A message template with `{name}` placeholders and the values to fill them with.

    A value may be a `Text` of its own (a phrase translated on its own); every other
    value is shown as it is (names, numbers, the spec's own text)."""

    template: str
    params: Mapping[str, str | Text] = dataclass_field(default_factory=lambda: MappingProxyType({}))

    def render(self, translate: Callable[[str], str] = _untranslated) -> str:
        """The text, each template through `translate` (English when none is given)."""
        values = {name: value.render(translate) if isinstance(value, Text) else value
                  for name, value in self.params.items()}
        return translate(self.template).format(**values)

    def __str__(self) -> str:
        return self.render()

    @classmethod
    def of(cls, template: str, /, **params: str | Text) -> Text:
        """A text from a marked template and its parameters."""
        return cls(template, MappingProxyType(params))


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in an exercise spec.

    `message` is the English text; `text`, when given, is the same message as a
    template and parameters, for readers of other languages."""

    message: str
    file: str = "<text>"
    line: int | None = None
    node: str | None = None
    field: str | None = None
    text: Text | None = dataclass_field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, message: Text, file: str = "<text>", line: int | None = None,
           node: str | None = None, field: str | None = None) -> Problem:
        """A problem whose message is a template and its parameters."""
        return cls(message.render(), file, line, node, field, message)

    @property
    def template(self) -> str:
        return self.text.template if self.text is not None else self.message

    @property
    def params(self) -> Mapping[str, str | Text]:
        return self.text.params if self.text is not None else MappingProxyType({})

    def message_in(self, translate: Callable[[str], str]) -> str:
        """The message with its templates through `translate` (a catalog's gettext)."""
        return self.text.render(translate) if self.text is not None else self.message

    def __str__(self) -> str:
        return self.located(self.message)

    def located(self, message: str) -> str:
        """`file:line: node: field: message`, with the message given (e.g. translated)."""
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        parts = [where]
        if self.node:
            parts.append(self.node)
        text = f"{self.field}: {message}" if self.field else message
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

    def __init__(self, node: str, op: str, reason: Text) -> None:
        self.node = node
        self.op = op
        self.reason = reason
        super().__init__(f"{node}: {op}: {reason}")
