"""The `expr` shorthand: an arithmetic expression expanded into primitive gates.

``{id: z, expr: "w0*x0 + w1*x1 + w2"}`` becomes ``z.mul1 = w0·x0``, ``z.mul2 = w1·x1`` and
``z = z.mul1 + z.mul2 + w2``. The text is parsed with :mod:`ast` and only a whitelist of
node types is walked; nothing is ever executed.

What you write is what you get; the rules, in full:

* Names refer to inputs or other nodes (whether they exist is checked by the caller);
  numbers are constants. Constant sub-expressions are folded: ``2*3*x`` is one scale
  gate with a = 6, ``-3`` is the constant -3, ``exp(0)`` is 1.
* A chain of ``+``/``-`` written without parentheses is one unit. Its non-constant terms
  joined by ``+`` become one ``add`` gate, in written order (``a + b + c`` is a 3-input
  add). A non-constant term after ``-`` turns everything non-constant before it into
  ``sub(before, term)``, or ``neg(term)`` when nothing came before. The constant terms
  are summed, with their signs, into one ``add_const`` applied last:
  ``x + 1 + y + 2`` is add(x, y) then add_const c=3; ``x - 1`` is add_const c=-1;
  ``2 - x`` is add_const c=2 over neg(x).
* The same for ``*``/``/``: non-constant factors joined by ``*`` become one ``mul``;
  ``/ y`` gives ``div(before, y)``, or ``inv(y)`` when nothing came before. The constant
  factors (divided for ``/ c``) multiply into one ``scale`` applied last: ``x/4`` is
  scale a=0.25; ``3/x`` is scale a=3 over inv(x).
* A constant part that changes nothing (terms summing to 0, factors multiplying to 1)
  adds no gate: ``1/x`` is inv(x), ``x*1*y`` is mul(x, y).
* Parentheses start a new unit: ``(a + b) + c`` is two add gates, ``2*(3*x)`` two scales.
* ``-x`` is neg; ``+x`` is x. ``x ** p`` needs a constant p and is pow (``x**2`` too).
* Functions: abs, cos, exp, inv, log, relu, sigmoid, sin, sqrt, tanh (one argument) and
  max, min (two or more, none of them a constant); each is the gate of the same name.
* Identical sub-expressions are not merged.

Ids: the gate computing the whole expression is ``node_id``; every other gate is
``f"{node_id}.{op}{k}"``, k counting that op from 1 in the order the gates are emitted
(post-order, left to right). User ids cannot contain a dot, so these never clash.
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.errors import Text, mark
from engine.graph import Gate
from engine.ops import OPS, num
from engine.quoting import quoted, shortened

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "UNARY_FUNCTIONS",
    "VARIADIC_FUNCTIONS",
    "ExpressionError",
    "expand_expression",
]

MAX_LENGTH = 2000
MAX_DEPTH = 100

UNARY_FUNCTIONS = ("abs", "cos", "exp", "inv", "log", "relu", "sigmoid", "sin", "sqrt", "tanh")
VARIADIC_FUNCTIONS = ("max", "min")
_FUNCTION_LIST = ", ".join(sorted(UNARY_FUNCTIONS + VARIADIC_FUNCTIONS))
_ALLOWED = Text.of(mark("numbers, names, + - * / **, parentheses and the functions {functions}"),
                functions=_FUNCTION_LIST)

_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Attribute: mark("attribute access"),
    ast.Subscript: mark("indexing"),
    ast.Slice: mark("a slice"),
    ast.Compare: mark("a comparison"),
    ast.BoolOp: mark("'and'/'or'"),
    ast.IfExp: mark("a conditional (... if ... else ...)"),
    ast.Lambda: mark("a lambda"),
    ast.NamedExpr: mark("an assignment (:=)"),
    ast.List: mark("a list"),
    ast.Tuple: mark("a tuple (a comma outside a function call)"),
    ast.Set: mark("a set"),
    ast.Dict: mark("a dict"),
    ast.ListComp: mark("a comprehension"),
    ast.SetComp: mark("a comprehension"),
    ast.DictComp: mark("a comprehension"),
    ast.GeneratorExp: mark("a generator"),
    ast.JoinedStr: mark("a string"),
    ast.FormattedValue: mark("a string"),
    ast.Starred: mark("unpacking (*)"),
    ast.Await: mark("await"),
    ast.Yield: mark("yield"),
    ast.YieldFrom: mark("yield"),
}
# The syntax errors Python reports most for an expression, in its words.
_SYNTAX_ERRORS = {
    "invalid syntax": mark("invalid syntax"),
    "invalid syntax. Perhaps you forgot a comma?": mark(
        "invalid syntax. Perhaps you forgot a comma?"),
    "unexpected EOF while parsing": mark("unexpected EOF while parsing"),
    "invalid decimal literal": mark("invalid decimal literal"),
    "unmatched ')'": mark("unmatched ')'"),
    "'(' was never closed": mark("'(' was never closed"),
}
_OPERATORS: dict[type[ast.AST], str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
}


class ExpressionError(ValueError):
    """An `expr` that cannot be expanded; the message names the offending text."""

    def __init__(self, message: Text, column: int | None = None) -> None:
        super().__init__(message.render())
        self.text = message
        self.column = column  # 1-based, in the text as written


@dataclass(frozen=True, slots=True)
class _Const:
    value: float


@dataclass(frozen=True, slots=True)
class _Ref:
    name: str


@dataclass(frozen=True, slots=True, eq=False)
class _Apply:
    """A gate still to be emitted (ids are given at emission)."""

    op: str
    args: tuple[_Ref | _Apply, ...]
    params: dict[str, float] = field(default_factory=dict)


_Term = _Ref | _Apply
_Node = _Const | _Ref | _Apply


def expand_expression(node_id: str, expr: str) -> list[Gate]:
    """The primitive gates of an `expr` node, inputs before users, the last one `node_id`.

    Raises ExpressionError (one sentence naming the offending text) for anything that is
    not a supported expression, or that computes nothing (a constant or a bare name).
    """
    source, lead = _prepare(expr)
    body = _parse(source, lead)
    root = _Expander(source, lead).convert(body, 1)
    shown = shortened(source.strip())
    if isinstance(root, _Const):
        raise ExpressionError(Text.of(
            mark("the expression {expression} is the constant {value}, so there is nothing "
                 "to compute; write numbers into inputs or gate parameters instead"),
            expression=repr(shown), value=num(root.value)))
    if isinstance(root, _Ref):
        raise ExpressionError(Text.of(
            mark("the expression {expression} is just {name}, so there is nothing to "
                 "compute; refer to {name} directly instead (or use a gate)"),
            expression=repr(shown), name=quoted(root.name)))
    return _emit(root, node_id)


def _prepare(expr: str) -> tuple[str, int]:
    """The text ready for ast.parse, and how many leading spaces were dropped."""
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(Text.of(
            mark("the expression is {length} characters long, over the limit of {limit}; "
                 "split it into several nodes"),
            length=str(len(expr)), limit=str(MAX_LENGTH)))
    for k, ch in enumerate(expr):
        # Non-ASCII is refused outright: Python would silently normalise some of it
        # (e.g. a mathematical italic x becomes x) and accept non-ASCII names.
        if ch not in "\t\n\r" and not " " <= ch <= "~":
            raise ExpressionError(Text.of(
                mark("unexpected character {character} at column {column}; write the "
                     "expression in ASCII using {allowed}"),
                character=repr(ch), column=str(k + 1), allowed=_ALLOWED), k + 1)
    # A YAML block scalar may span lines; as spaces they keep columns meaningful.
    spaced = expr.translate({9: 32, 10: 32, 13: 32})
    stripped = spaced.lstrip(" ")  # eval mode refuses leading indentation
    if not stripped.strip():
        raise ExpressionError(Text.of(mark("the expression is empty")))
    return stripped, len(spaced) - len(stripped)


def _parse(source: str, lead: int) -> ast.expr:
    shown = shortened(source.strip())
    try:
        # Text like "1if x" also makes Python warn; it is refused below either way.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        # Python's words for the syntax error: the common ones are translated where shown.
        reason: str | Text = str(exc.msg)
        if reason in _SYNTAX_ERRORS:
            reason = Text.of(_SYNTAX_ERRORS[str(exc.msg)])
        if exc.offset is not None and 1 <= exc.offset <= len(source):
            column = exc.offset + lead
            message = Text.of(mark("{expression} is not a valid expression ({reason} at column "
                                "{column})"),
                           expression=repr(shown), reason=reason, column=str(column))
        else:
            column = None
            message = Text.of(mark("{expression} is not a valid expression ({reason} at the end)"),
                           expression=repr(shown), reason=reason)
        raise ExpressionError(message, column) from None
    except (ValueError, RecursionError, MemoryError, OverflowError):
        raise ExpressionError(Text.of(
            mark("{expression} is too complex to parse; split it into several nodes"),
            expression=repr(shown))) from None


class _Expander:
    """Turns the ast into a tree of gates, folding constants on the way."""

    def __init__(self, text: str, lead: int) -> None:
        self.text = text
        self.lead = lead

    # ------------------------------------------------------------ messages

    def _where(self, node: ast.AST) -> tuple[str, int]:
        start = getattr(node, "col_offset", 0)
        end = getattr(node, "end_col_offset", None) or start
        return shortened(self.text[start:end]), start + 1 + self.lead

    def _error(self, node: ast.AST, template: str, **params: str | Text) -> ExpressionError:
        """`template` marks the node's text and position as {text} and {column}."""
        shown, column = self._where(node)
        return ExpressionError(Text.of(template, text=repr(shown), column=str(column), **params),
                               column)

    def _checked(self, value: float, node: ast.AST) -> float:
        if not math.isfinite(value):
            raise self._error(node, mark("{text} at column {column} is too large a constant"))
        return value

    def _fold(self, op: str, values: Sequence[float], params: dict[str, float],
              node: ast.AST) -> float:
        """A constant sub-expression, computed the way the gate would compute it."""
        gate = OPS[op]
        try:
            value = gate.forward(values[0] if gate.unary else tuple(values), params)
        except ZeroDivisionError:
            raise self._error(
                node, mark("{text} at column {column} divides by zero")) from None
        except OverflowError:
            raise self._error(
                node, mark("{text} at column {column} is too large a constant")) from None
        except (ArithmeticError, ValueError):
            raise self._error(
                node, mark("{text} at column {column} cannot be computed (outside the domain "
                           "of {op})"), op=op) from None
        return self._checked(float(value), node)

    # ------------------------------------------------------------ walking

    def convert(self, node: ast.expr, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise self._error(
                node, mark("the expression is nested more than {depth} levels deep at "
                           "column {column} ({text}); split it into several nodes"),
                depth=str(MAX_DEPTH))
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return _Ref(node.id)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node, depth)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add | ast.Sub):
                return self._sum(node, depth)
            if isinstance(node.op, ast.Mult | ast.Div):
                return self._product(node, depth)
            if isinstance(node.op, ast.Pow):
                return self._power(node, depth)
            return self._bad_operator(node, node.op)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        what = _FORBIDDEN.get(type(node), type(node).__name__)  # a new ast type: its name
        raise self._error(node, mark("{what} ({text} at column {column}) is not allowed; "
                                     "use {allowed}"), what=Text.of(what), allowed=_ALLOWED)

    def _bad_operator(self, node: ast.expr, op: ast.AST) -> _Node:
        symbol = _OPERATORS.get(type(op), type(op).__name__)
        if symbol == "^":
            raise self._error(node, mark("the operator {symbol} in {text} at column {column} "
                                         "is not supported; use ** for powers"),
                              symbol=repr(symbol))
        raise self._error(node, mark("the operator {symbol} in {text} at column {column} is "
                                     "not supported; use {allowed}"),
                          symbol=repr(symbol), allowed=_ALLOWED)

    def _constant(self, node: ast.Constant) -> _Const:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind: str | Text = Text.of(mark("a string")) if isinstance(value, str | bytes) else (
                Text.of(mark("a complex number")) if isinstance(value, complex) else repr(value))
            raise self._error(
                node, mark("{what} ({text} at column {column}) is not allowed; constants are "
                           "plain numbers"), what=kind)
        try:
            return _Const(self._checked(float(value), node))
        except OverflowError:  # an int literal beyond float range
            raise self._error(
                node, mark("{text} at column {column} is too large a constant")) from None

    def _unary(self, node: ast.UnaryOp, depth: int) -> _Node:
        if isinstance(node.op, ast.UAdd):
            return self.convert(node.operand, depth + 1)
        if not isinstance(node.op, ast.USub):
            return self._bad_operator(node, node.op)
        value = self.convert(node.operand, depth + 1)
        if isinstance(value, _Const):
            return _Const(-value.value)
        return _Apply("neg", (value,))

    def _chain(self, node: ast.BinOp, ops: tuple[type[ast.operator], ...]
               ) -> list[tuple[ast.BinOp | None, ast.expr]]:
        """The operands of `a + b - c` as written: [(None, a), (+node, b), (-node, c)].

        `a + b - c` is parsed as ((a + b) - c), so the chain is the left spine. A left
        operand starting after its parent was parenthesised and ends the chain. The spine
        is walked in a loop, so a long chain costs no recursion.
        """
        terms: list[tuple[ast.BinOp | None, ast.expr]] = []
        current = node
        while True:
            terms.append((current, current.right))
            left = current.left
            if (isinstance(left, ast.BinOp) and isinstance(left.op, ops)
                    and left.col_offset == current.col_offset):
                current = left
                continue
            terms.append((None, left))
            break
        terms.reverse()
        return terms

    def _sum(self, node: ast.BinOp, depth: int) -> _Node:
        constant: float | None = None
        terms: list[_Term] = []  # non-constant terms still to be added
        for binop, operand in self._chain(node, (ast.Add, ast.Sub)):
            value = self.convert(operand, depth + 1)
            minus = binop is not None and isinstance(binop.op, ast.Sub)
            if isinstance(value, _Const):
                term = -value.value if minus else value.value
                constant = term if constant is None else self._checked(constant + term, node)
            elif minus:
                before = _join("add", terms)
                terms = [_Apply("neg", (value,)) if before is None
                         else _Apply("sub", (before, value))]
            else:
                terms.append(value)
        rest = _join("add", terms)
        if rest is None:
            return _Const(0.0 if constant is None else constant)
        if constant is None or constant == 0.0:
            return rest
        return _Apply("add_const", (rest,), {"c": constant})

    def _product(self, node: ast.BinOp, depth: int) -> _Node:
        factor: float | None = None
        factors: list[_Term] = []  # non-constant factors still to be multiplied
        for binop, operand in self._chain(node, (ast.Mult, ast.Div)):
            value = self.convert(operand, depth + 1)
            division = binop if binop is not None and isinstance(binop.op, ast.Div) else None
            divide = division is not None
            if isinstance(value, _Const):
                if division is not None:
                    if value.value == 0.0:
                        raise self._error(
                            division, mark("{text} at column {column} divides by zero"))
                    factor = (1.0 if factor is None else factor) / value.value
                else:
                    factor = value.value if factor is None else factor * value.value
                factor = self._checked(factor, node)
            elif divide:
                before = _join("mul", factors)
                factors = [_Apply("inv", (value,)) if before is None
                           else _Apply("div", (before, value))]
            else:
                factors.append(value)
        rest = _join("mul", factors)
        if rest is None:
            return _Const(1.0 if factor is None else factor)
        if factor is None or factor == 1.0:
            return rest
        return _Apply("scale", (rest,), {"a": factor})

    def _power(self, node: ast.BinOp, depth: int) -> _Node:
        base = self.convert(node.left, depth + 1)
        exponent = self.convert(node.right, depth + 1)
        if not isinstance(exponent, _Const):
            raise self._error(
                node, mark("the exponent in {text} at column {column} must be a number, because "
                           "a pow gate raises its input to a constant power"))
        params = {"p": exponent.value}
        if isinstance(base, _Const):
            return _Const(self._fold("pow", (base.value,), params, node))
        return _Apply("pow", (base,), params)

    def _call(self, node: ast.Call, depth: int) -> _Node:
        if not isinstance(node.func, ast.Name):
            raise self._error(
                node.func, mark("only a function name can be called, not {text} at column "
                                "{column}; the functions are {functions}"),
                functions=_FUNCTION_LIST)
        name = node.func.id
        if name not in UNARY_FUNCTIONS and name not in VARIADIC_FUNCTIONS:
            raise self._error(
                node, mark("unknown function {name} in {text} at column {column}; the "
                           "functions are {functions}"),
                name=quoted(name), functions=_FUNCTION_LIST)
        if node.keywords:
            raise self._error(
                node.keywords[0],
                mark("{name}() takes no keyword arguments, but got {text} at column {column}"),
                name=name)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self._error(arg, mark("unpacking ({text} at column {column}) is not "
                                            "allowed"))
        count = len(node.args)
        if name in UNARY_FUNCTIONS and count != 1:
            raise self._error(
                node, mark("{name}() takes exactly one argument, but {text} at column {column} "
                           "has {count}"), name=name, count=str(count))
        if name in VARIADIC_FUNCTIONS and count < 2:
            raise self._error(
                node, mark("{name}() takes two or more arguments, but {text} at column "
                           "{column} has {count}"), name=name, count=str(count))
        values = [self.convert(arg, depth + 1) for arg in node.args]
        constants = [v.value for v in values if isinstance(v, _Const)]
        if len(constants) == len(values):
            return _Const(self._fold(name, constants, {}, node))
        if constants:
            # A gate's inputs are nodes; a constant has no node to point at.
            k = next(i for i, v in enumerate(values) if isinstance(v, _Const))
            if name == "max":
                raise self._error(
                    node.args[k], mark("{name}() compares nodes, not numbers: the argument "
                                       "{text} at column {column} is a constant (for max(0, x) "
                                       "write relu(x))"), name=name)
            raise self._error(
                node.args[k], mark("{name}() compares nodes, not numbers: the argument {text} "
                                   "at column {column} is a constant"), name=name)
        return _Apply(name, tuple(v for v in values if not isinstance(v, _Const)))


def _join(op: str, terms: list[_Term]) -> _Term | None:
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    return _Apply(op, tuple(terms))


def _emit(root: _Apply, node_id: str) -> list[Gate]:
    """The gates in post-order, left to right, with their ids (an explicit stack, so a
    long `a - b - c - ...` chain needs no recursion)."""
    gates: list[Gate] = []
    counts: dict[str, int] = {}
    results: list[str] = []  # the names computed so far, a value stack
    stack: list[tuple[_Term, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if isinstance(node, _Ref):
            results.append(node.name)
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((arg, False) for arg in reversed(node.args))
            continue
        inputs = tuple(results[len(results) - len(node.args):])
        del results[len(results) - len(node.args):]
        if node is root:
            gate_id = node_id
        else:
            counts[node.op] = counts.get(node.op, 0) + 1
            gate_id = f"{node_id}.{node.op}{counts[node.op]}"
        params = {key: float(value) for key, value in node.params.items()}
        gates.append(Gate(gate_id, node.op, inputs, params, expanded_from=node_id))
        results.append(gate_id)
    return gates
