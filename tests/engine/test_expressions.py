"""Tests for the `expr` shorthand: mapping rules, ids, rejection, robustness, and value."""

from __future__ import annotations

import ast
import builtins
import contextlib
import math
import re
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    UNARY_FUNCTIONS,
    VARIADIC_FUNCTIONS,
    ExpressionError,
    expand_expression,
)
from engine.graph import Gate, Graph
from engine.ops import OPS

# ---------------------------------------------------------------- helpers


def shape(gates):
    """(id, op, inputs, params) per gate: what the mapping tables compare."""
    return [(g.id, g.op, g.inputs, dict(g.params)) for g in gates]


def check_wellformed(gates, node_id):
    """The invariants every expansion must satisfy, whatever the expression."""
    assert gates, "an expansion is never empty"
    assert gates[-1].id == node_id
    ids = [g.id for g in gates]
    assert len(set(ids)) == len(ids)
    seen_per_op: dict[str, int] = {}
    defined: set[str] = set()
    for gate in gates:
        assert isinstance(gate, Gate)
        assert gate.expanded_from == node_id
        op = OPS[gate.op]
        assert len(gate.inputs) >= op.min_inputs
        assert op.max_inputs is None or len(gate.inputs) <= op.max_inputs
        assert type(gate.params) is dict
        assert set(gate.params) == set(op.params)
        assert all(type(v) is float and math.isfinite(v) for v in gate.params.values())
        for name in gate.inputs:
            if name.startswith(node_id + "."):
                assert name in defined, f"{name} used before it is computed"
            else:
                assert "." not in name
        if gate.id != node_id:
            seen_per_op[gate.op] = seen_per_op.get(gate.op, 0) + 1
            assert gate.id == f"{node_id}.{gate.op}{seen_per_op[gate.op]}"
        defined.add(gate.id)


def run(gates, env):
    """Evaluate the gates in order with the registry's forward functions."""
    values = dict(env)
    for gate in gates:
        op = OPS[gate.op]
        assert all(name in values for name in gate.inputs)
        arg = values[gate.inputs[0]] if op.unary else tuple(values[n] for n in gate.inputs)
        values[gate.id] = op.forward(arg, gate.params)
    return values[gates[-1].id]


def expand(expr, node_id="z"):
    gates = expand_expression(node_id, expr)
    check_wellformed(gates, node_id)
    return gates


# ---------------------------------------------------------------- mapping rules


def test_lecture_neuron():
    gates = expand("w0*x0 + w1*x1 + w2")
    assert gates == [
        Gate("z.mul1", "mul", ("w0", "x0"), {}, "z"),
        Gate("z.mul2", "mul", ("w1", "x1"), {}, "z"),
        Gate("z", "add", ("z.mul1", "z.mul2", "w2"), {}, "z"),
    ]


def test_lecture_neuron_runs_through_graph():
    gates = expand_expression("f", "sigmoid(w0*x0 + w1*x1 + w2)")
    graph = Graph(["w0", "x0", "w1", "x1", "w2"], gates, "f")
    values = graph.forward([2.0, -1.0, -3.0, -2.0, -3.0])
    assert values[graph.index["f.add1"]] == pytest.approx(1.0)
    assert values[graph.output] == pytest.approx(0.7310585786)
    grads = graph.backward(values)
    assert grads[graph.index["w0"]] == pytest.approx(-0.19661193)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # + chains: one add, written order
        ("a + b + c", [("z", "add", ("a", "b", "c"), {})]),
        ("a + b", [("z", "add", ("a", "b"), {})]),
        # constants in + chains: summed into one add_const, applied last
        ("x + 1", [("z", "add_const", ("x",), {"c": 1.0})]),
        ("1 + x", [("z", "add_const", ("x",), {"c": 1.0})]),
        ("x + 1 + y + 2", [
            ("z.add1", "add", ("x", "y"), {}),
            ("z", "add_const", ("z.add1",), {"c": 3.0}),
        ]),
        ("x + 0.5 + 0.25", [("z", "add_const", ("x",), {"c": 0.75})]),
        ("x - 3", [("z", "add_const", ("x",), {"c": -3.0})]),
        ("x - 1 - 2", [("z", "add_const", ("x",), {"c": -3.0})]),
        ("x + -1", [("z", "add_const", ("x",), {"c": -1.0})]),
        ("3 - x", [("z.neg1", "neg", ("x",), {}), ("z", "add_const", ("z.neg1",), {"c": 3.0})]),
        ("1 + 2 - x", [
            ("z.neg1", "neg", ("x",), {}),
            ("z", "add_const", ("z.neg1",), {"c": 3.0}),
        ]),
        ("x - y", [("z", "sub", ("x", "y"), {})]),
        ("a + b - c", [("z.add1", "add", ("a", "b"), {}), ("z", "sub", ("z.add1", "c"), {})]),
        ("a - b + c", [("z.sub1", "sub", ("a", "b"), {}), ("z", "add", ("z.sub1", "c"), {})]),
        ("a - b - c", [("z.sub1", "sub", ("a", "b"), {}), ("z", "sub", ("z.sub1", "c"), {})]),
        ("a + 1 - b", [("z.sub1", "sub", ("a", "b"), {}), ("z", "add_const", ("z.sub1",),
                                                          {"c": 1.0})]),
        ("x + 0 + y", [("z", "add", ("x", "y"), {})]),  # a zero constant adds no gate
        # * chains
        ("a * b * c", [("z", "mul", ("a", "b", "c"), {})]),
        ("2 * x", [("z", "scale", ("x",), {"a": 2.0})]),
        ("x * 2", [("z", "scale", ("x",), {"a": 2.0})]),
        ("2*3*x", [("z", "scale", ("x",), {"a": 6.0})]),
        ("x*2*3", [("z", "scale", ("x",), {"a": 6.0})]),
        ("2*x*y", [("z.mul1", "mul", ("x", "y"), {}), ("z", "scale", ("z.mul1",), {"a": 2.0})]),
        ("x / 4", [("z", "scale", ("x",), {"a": 0.25})]),
        ("x / 2 / 2", [("z", "scale", ("x",), {"a": 0.25})]),
        ("1 / x", [("z", "inv", ("x",), {})]),
        ("3 / x", [("z.inv1", "inv", ("x",), {}), ("z", "scale", ("z.inv1",), {"a": 3.0})]),
        ("-1 / x", [("z.inv1", "inv", ("x",), {}), ("z", "scale", ("z.inv1",), {"a": -1.0})]),
        ("x / y", [("z", "div", ("x", "y"), {})]),
        ("x * y / w", [("z.mul1", "mul", ("x", "y"), {}), ("z", "div", ("z.mul1", "w"), {})]),
        ("x * 1 * y", [("z", "mul", ("x", "y"), {})]),  # a factor of 1 adds no gate
        ("0 * x", [("z", "scale", ("x",), {"a": 0.0})]),
        # unary minus and plus
        ("-x", [("z", "neg", ("x",), {})]),
        ("-3 * x", [("z", "scale", ("x",), {"a": -3.0})]),
        ("-(2*3) * x", [("z", "scale", ("x",), {"a": -6.0})]),
        ("-x * y", [("z.neg1", "neg", ("x",), {}), ("z", "mul", ("z.neg1", "y"), {})]),
        ("-(-x)", [("z.neg1", "neg", ("x",), {}), ("z", "neg", ("z.neg1",), {})]),
        ("+x * y", [("z", "mul", ("x", "y"), {})]),
        ("-x ** 2", [("z.pow1", "pow", ("x",), {"p": 2.0}), ("z", "neg", ("z.pow1",), {})]),
        # powers
        ("x ** 2", [("z", "pow", ("x",), {"p": 2.0})]),
        ("x ** -1", [("z", "pow", ("x",), {"p": -1.0})]),
        ("x ** (1/2)", [("z", "pow", ("x",), {"p": 0.5})]),
        ("x ** 2 ** 3", [("z", "pow", ("x",), {"p": 8.0})]),
        ("(x + y) ** 3", [("z.add1", "add", ("x", "y"), {}), ("z", "pow", ("z.add1",),
                                                              {"p": 3.0})]),
        # functions
        ("max(a, b)", [("z", "max", ("a", "b"), {})]),
        ("min(a, b, c)", [("z", "min", ("a", "b", "c"), {})]),
        ("sigmoid(2*x)", [("z.scale1", "scale", ("x",), {"a": 2.0}),
                          ("z", "sigmoid", ("z.scale1",), {})]),
        # constant calls are folded
        ("exp(0) + x", [("z", "add_const", ("x",), {"c": 1.0})]),
        ("sqrt(16) * x", [("z", "scale", ("x",), {"a": 4.0})]),
        ("max(1, 2, 3) * x", [("z", "scale", ("x",), {"a": 3.0})]),
        ("abs(-2) + x", [("z", "add_const", ("x",), {"c": 2.0})]),
    ],
)
def test_mapping(expr, expected):
    assert shape(expand(expr)) == expected


@pytest.mark.parametrize("name", UNARY_FUNCTIONS)
def test_each_unary_function_is_its_gate(name):
    assert OPS[name].unary
    assert shape(expand(f"{name}(x)")) == [("z", name, ("x",), {})]
    assert shape(expand(f"{name}(x + y)")) == [
        ("z.add1", "add", ("x", "y"), {}),
        ("z", name, ("z.add1",), {}),
    ]


@pytest.mark.parametrize("name", VARIADIC_FUNCTIONS)
def test_each_variadic_function_takes_two_or_more(name):
    assert OPS[name].min_inputs == 2 and OPS[name].max_inputs is None
    assert shape(expand(f"{name}(a, b, c, d)")) == [("z", name, ("a", "b", "c", "d"), {})]


def test_function_names_are_not_references_but_can_be_names():
    # `exp` as a callee is the op; as a plain name it refers to a node called exp.
    assert shape(expand("exp(exp)")) == [("z", "exp", ("exp",), {})]


def test_parentheses_start_a_new_gate():
    assert shape(expand("(a + b) + c")) == [
        ("z.add1", "add", ("a", "b"), {}),
        ("z", "add", ("z.add1", "c"), {}),
    ]
    assert shape(expand("a + (b + c)")) == [
        ("z.add1", "add", ("b", "c"), {}),
        ("z", "add", ("a", "z.add1"), {}),
    ]
    assert shape(expand("(a * b) * c")) == [
        ("z.mul1", "mul", ("a", "b"), {}),
        ("z", "mul", ("z.mul1", "c"), {}),
    ]
    # parentheses around the whole expression, or around a name, change nothing
    assert shape(expand("((a + b + c))")) == [("z", "add", ("a", "b", "c"), {})]
    assert shape(expand("(a) + (b)")) == [("z", "add", ("a", "b"), {})]


def test_params_are_plain_floats_and_expanded_from_is_set():
    gates = expand_expression("n", "2*x + 1")
    assert [type(v) for g in gates for v in g.params.values()] == [float, float]
    assert all(g.expanded_from == "n" for g in gates)


def test_whitespace_and_line_breaks_are_allowed():
    assert shape(expand("  a *\n  b\t+ c\n")) == shape(expand("a*b + c"))


def test_identical_subexpressions_are_not_merged():
    assert shape(expand("exp(x) + exp(x)")) == [
        ("z.exp1", "exp", ("x",), {}),
        ("z.exp2", "exp", ("x",), {}),
        ("z", "add", ("z.exp1", "z.exp2"), {}),
    ]


# ---------------------------------------------------------------- ids


def test_ids_are_numbered_per_op_in_post_order():
    assert shape(expand("a*b + c*d*e - f*g")) == [
        ("z.mul1", "mul", ("a", "b"), {}),
        ("z.mul2", "mul", ("c", "d", "e"), {}),
        ("z.add1", "add", ("z.mul1", "z.mul2"), {}),
        ("z.mul3", "mul", ("f", "g"), {}),
        ("z", "sub", ("z.add1", "z.mul3"), {}),
    ]
    assert [g.id for g in expand("exp(a*b) * exp(c*d)")] == [
        "z.mul1", "z.exp1", "z.mul2", "z.exp2", "z",
    ]


def test_the_root_gate_takes_no_number():
    assert [g.id for g in expand("exp(exp(x))")] == ["z.exp1", "z"]
    assert [g.id for g in expand("a + b + (c + d)")] == ["z.add1", "z"]


def test_ids_derive_from_the_node_id_and_are_stable():
    first = expand_expression("hidden_1", "tanh(w*x + b) * 2")
    again = expand_expression("hidden_1", "tanh(w*x + b) * 2")
    assert first == again
    assert [g.id for g in first] == [
        "hidden_1.mul1", "hidden_1.add1", "hidden_1.tanh1", "hidden_1",
    ]
    # a dot can never be part of a user id, so inner ids cannot clash with them
    user_id = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
    assert not any(user_id.match(g.id) for g in first[:-1])


# ---------------------------------------------------------------- rejection


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("__import__('os').system('x')", "__import__('os').system"),
        ("x.y", "attribute access ('x.y' at column 1)"),
        ("x[0]", "indexing ('x[0]'"),
        ("lambda: 1", "lambda"),
        ('"s"', "a string"),
        ("f'{x}'", "a string"),
        ("x if y else z", "conditional"),
        ("f(x)", "unknown function 'f'"),
        ("x(1)", "unknown function 'x'"),
        ("x.y(1)", "only a function name can be called, not 'x.y'"),
        ("x ** y", "the exponent in 'x ** y'"),
        ("2 ** x", "must be a number"),
        ("x < y", "comparison"),
        ("x and y", "'and'/'or'"),
        ("not x", "'not'"),
        ("~x", "'~'"),
        ("x % 2", "'%'"),
        ("x // 2", "'//'"),
        ("x @ y", "'@'"),
        ("x ^ 2", "use ** for powers"),
        ("[x, y]", "a list"),
        ("x, y", "a tuple"),
        ("{x}", "a set"),
        ("{x: 1}", "a dict"),
        ("[x for x in y]", "comprehension"),
        ("(x := 1)", ":="),
        ("max(x, key=y)", "no keyword arguments, but got 'key=y' at column 8"),
        ("max(*xs)", "unpacking ('*xs'"),
        ("exp(x, y)", "exp() takes exactly one argument"),
        ("exp()", "exp() takes exactly one argument"),
        ("max(x)", "max() takes two or more arguments"),
        ("max(0, x)", "relu(x)"),
        ("min(x, 2*3)", "the argument '2*3' at column 8 is a constant"),
        ("1j * x", "a complex number"),
        ("True * x", "True"),
        ("None", "None"),
        ("x / 0", "'x / 0' at column 1 divides by zero"),
        ("x / (1 - 1)", "divides by zero"),
        ("inv(0) * x", "divides by zero"),
        ("log(0) * x", "'log(0)' at column 1 cannot be computed"),
        ("(-8) ** 0.5 * x", "cannot be computed"),
        ("10 ** 400 * x", "too large"),
        ("1e999 * x", "'1e999' at column 1 is too large"),
        ("1e308 * 10 * x", "too large"),
        ("x +", "not a valid expression"),
        ("(x", "never closed"),
        ("x y", "not a valid expression"),
        ("x = 1", "not a valid expression"),
        ("x\u00b7y", "unexpected character '\u00b7' at column 2"),
        ("x \u2212 y", "column 3"),
        ("\U0001d465 + 1", "unexpected character"),  # would be NFKC-normalised to x
        ("x\x00", "column 2"),
        ("", "empty"),
        ("  \n ", "empty"),
        ("x", "is just 'x', so there is nothing to compute"),
        ("(x)", "nothing to compute"),
        ("+x", "nothing to compute"),
        ("x + 0", "is just 'x'"),
        ("x * 1", "is just 'x'"),
        ("2*3", "is the constant 6, so there is nothing to compute"),
        ("1.5", "constant 1.5"),
        ("-3", "constant -3"),
    ],
)
def test_rejected(expr, fragment):
    with pytest.raises(ExpressionError) as info:
        expand_expression("z", expr)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("expr", "column"),
    [
        ("x + foo(y)", 5),
        ("   x.y", 4),  # leading blanks count
        ("x +\n y.z", 6),  # a line break counts as one column
        ("a * b * c[1]", 9),
        ("(x", 1),
        ("x y", 3),
    ],
)
def test_error_column_points_at_the_offending_text(expr, column):
    with pytest.raises(ExpressionError) as info:
        expand_expression("z", expr)
    assert info.value.column == column
    assert f"column {column}" in str(info.value)


def test_long_text_in_a_message_is_shortened():
    expr = "q(" + " + ".join(f"v{k}" for k in range(100)) + ")"
    with pytest.raises(ExpressionError) as info:
        expand_expression("z", expr)
    assert "…" in str(info.value)
    assert len(str(info.value)) < 300


def test_nothing_is_executed(monkeypatch):
    """Parsing only: compile is only ever asked for an ast, and eval/exec are never used."""
    compile_flags: list[int] = []
    real_compile = builtins.compile

    def spy_compile(source, filename, mode, flags=0, *args, **kwargs):
        compile_flags.append(flags)
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("executed code")

    monkeypatch.setattr(builtins, "compile", spy_compile)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    for expr in ("__import__('os').system('x')", "exp(x) * 2 + y", "(lambda: 1)()"):
        with contextlib.suppress(ExpressionError):
            expand_expression("z", expr)
    assert compile_flags
    assert all(flags & ast.PyCF_ONLY_AST for flags in compile_flags)


# ---------------------------------------------------------------- size and depth


def outcome(expr):
    """The gates, or the ExpressionError: anything else (RecursionError...) fails the test."""
    try:
        gates = expand_expression("z", expr)
    except ExpressionError as exc:
        return exc
    check_wellformed(gates, "z")
    return gates


@pytest.mark.parametrize(
    "expr",
    [
        "(" * 500 + "x" + ")" * 500,
        "(" * 500 + "x*y" + ")" * 500,
        "-" * 1999 + "x",
        "exp(" * 300 + "x" + ")" * 300,
        "x**" * 600 + "2",
        "+".join(["x"] * 5000),
        "*".join(["x"] * 5000),
        "(x+" * 400 + "y" + ")" * 400,
    ],
)
def test_pathological_input_is_an_error_or_a_result(expr):
    assert isinstance(outcome(expr), ExpressionError | list)


def test_deep_parentheses_are_refused():
    assert isinstance(outcome("(" * 500 + "x" + ")" * 500), ExpressionError)


def test_parentheses_alone_do_not_nest_gates():
    assert shape(outcome("(" * 150 + "x*y" + ")" * 150)) == [("z", "mul", ("x", "y"), {})]


def test_5000_term_sum_is_refused_for_its_length():
    result = outcome(" + ".join(f"x{k}" for k in range(5000)))
    assert isinstance(result, ExpressionError)
    assert str(MAX_LENGTH) in str(result)


def test_length_limit_is_inclusive():
    at_limit = "x" + "+x" * ((MAX_LENGTH - 1) // 2)
    at_limit += " " * (MAX_LENGTH - len(at_limit))
    assert len(at_limit) == MAX_LENGTH
    gates = outcome(at_limit)
    assert shape(gates) == [("z", "add", ("x",) * ((MAX_LENGTH + 1) // 2), {})]
    assert isinstance(outcome(at_limit + " "), ExpressionError)


def test_long_flat_chains_need_no_recursion():
    subs = outcome("a-" * 999 + "a")
    assert len(subs) == 999 and all(g.op == "sub" for g in subs)
    assert subs[0].inputs == ("a", "a") and subs[-1].inputs == ("z.sub998", "a")


def test_nesting_limit():
    ok = outcome("-(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1))
    assert isinstance(ok, list) and len(ok) == MAX_DEPTH - 1
    too_deep = outcome("-(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH)
    assert isinstance(too_deep, ExpressionError)
    assert "nested more than" in str(too_deep)


@given(st.text(alphabet="xyab012.+-*/() ,e*sqrtmaxlog^%[]'", max_size=40))
def test_fuzzed_text_gives_a_result_or_an_expression_error(expr):
    assert isinstance(outcome(expr), ExpressionError | list)


@given(st.text(max_size=40))
def test_arbitrary_unicode_gives_a_result_or_an_expression_error(expr):
    assert isinstance(outcome(expr), ExpressionError | list)


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class Expr:
    text: str  # what the instructor writes
    ref: str  # the same expression with exact literals, for the reference
    constant: bool  # no names in it


NAMES = ("a", "b", "c")
POINTS = st.integers(-3, 3).map(Fraction)
F = Fraction


def _wrap(draw, e: Expr) -> Expr:
    # Leaving parentheses out lets operands regroup by precedence; both texts regroup
    # alike, and chains without parentheses are what the flattening rules are about.
    if draw(st.booleans()):
        return Expr(f"({e.text})", f"({e.ref})", e.constant)
    return e


@st.composite
def exact_exprs(draw, depth=3):
    """+ - * / ** and the piecewise-linear functions: exactly computable on Fractions."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            name = draw(st.sampled_from(NAMES))
            return Expr(name, name, False)
        k = draw(st.integers(0, 4))
        return Expr(str(k), f"F({k})", True)
    kind = draw(st.sampled_from(["+", "-", "*", "/", "neg", "pow", "abs", "relu", "max", "min"]))
    inner = exact_exprs(depth - 1)
    if kind in ("+", "-", "*", "/"):
        left, right = _wrap(draw, draw(inner)), _wrap(draw, draw(inner))
        return Expr(f"{left.text} {kind} {right.text}", f"{left.ref} {kind} {right.ref}",
                    left.constant and right.constant)
    if kind == "neg":
        e = _wrap(draw, draw(inner))
        return Expr(f"-{e.text}", f"-{e.ref}", e.constant)
    if kind == "pow":
        e = _wrap(draw, draw(inner))
        p = draw(st.integers(0, 2))
        return Expr(f"{e.text} ** {p}", f"{e.ref} ** F({p})", e.constant)
    if kind in ("abs", "relu"):
        e = draw(inner)
        return Expr(f"{kind}({e.text})", f"{kind}({e.ref})", e.constant)
    args = [draw(inner) for _ in range(draw(st.integers(2, 3)))]
    # max/min refuse constant arguments (a gate input must be a node): give them names.
    args = [Expr(NAMES[0], NAMES[0], False) if a.constant else a for a in args]
    return Expr(f"{kind}({', '.join(a.text for a in args)})",
                f"{kind}({', '.join(a.ref for a in args)})", False)


def exact_namespace(point):
    return {"F": Fraction, "abs": abs, "max": max, "min": min,
            "relu": lambda v: max(v, F(0)), **point}


def reference(ref, namespace):
    try:
        value = eval(ref, {"__builtins__": {}}, namespace)
        return float(value)
    except (ArithmeticError, ValueError):
        assume(False)  # a domain error at this point: not a case to compare
        raise AssertionError from None  # unreachable: assume(False) raises


def check_value(expr: Expr, namespace, point):
    expected = reference(expr.ref, namespace)
    try:
        gates = expand(expr.text)
    except ExpressionError as exc:
        # Only expressions that compute nothing may be refused; check that claim.
        message = str(exc)
        assert "nothing to compute" in message
        if "is the constant" in message:
            assert expr.constant
        else:
            name = re.search(r"is just '(\w+)'", message).group(1)
            assert float(point[name]) == expected
        return
    got = run(gates, {k: float(v) for k, v in point.items()})
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9), (expr.text, got, expected)


@given(exact_exprs(), st.fixed_dictionaries({n: POINTS for n in NAMES}))
def test_gates_compute_the_expression(expr, point):
    # The reference is exact (Fractions), so float rounding in a different but
    # equivalent order (constants summed first, fsum) cannot make it flaky.
    check_value(expr, exact_namespace(point), point)


SMOOTH = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
}


def _smooth(fn):
    def apply(value):
        x = float(value)
        assume(abs(x) <= 5)  # small outputs: rounding stays far below the tolerance
        return fn(x)

    return apply


@st.composite
def smooth_exprs(draw):
    """Smooth functions of exact sub-expressions, combined once at the top."""
    def call():
        name = draw(st.sampled_from(sorted(SMOOTH)))
        e = draw(exact_exprs(2))
        if e.constant:
            e = Expr(f"{e.text} + b", f"{e.ref} + b", False)
        return Expr(f"{name}({e.text})", f"{name}({e.ref})", False)

    first = call()
    shape_kind = draw(st.sampled_from(["call", "combine", "affine"]))
    if shape_kind == "call":
        return first
    k = draw(st.integers(1, 3))
    if shape_kind == "affine":
        return Expr(f"{k} * {first.text} - {k}", f"F({k}) * {first.ref} - F({k})", False)
    second = call()
    op = draw(st.sampled_from(["+", "-", "*", "/"]))
    return Expr(f"{k} * {first.text} {op} {second.text}",
                f"F({k}) * {first.ref} {op} {second.ref}", False)


@given(smooth_exprs(), st.fixed_dictionaries({n: POINTS for n in NAMES}))
def test_gates_compute_expressions_with_smooth_functions(expr, point):
    namespace = exact_namespace(point)
    namespace.update({name: _smooth(fn) for name, fn in SMOOTH.items()})
    check_value(expr, namespace, point)
