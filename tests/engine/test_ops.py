"""The op registry: forward values, local gradients, the kink convention, formula text.

Forward values are checked against numbers worked out independently (by hand or with
`math` written differently from the engine); local gradients against central finite
differences of the op's own forward function, at random points in each op's domain.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine import draw_variant, gradcheck, load_exercise, solve
from engine.ops import OPS, Op, evaluate, local_gradients

Point = tuple[list[float], dict[str, float]]

# ------------------------------------------------------------------ the registry

# The ops the issue names, with (min inputs, max inputs or None for "2 or more", params).
REQUIRED_OPS: dict[str, tuple[int, int | None, tuple[str, ...]]] = {
    "add": (2, None, ()),
    "sub": (2, 2, ()),
    "mul": (2, None, ()),
    "div": (2, 2, ()),
    "neg": (1, 1, ()),
    "scale": (1, 1, ("a",)),
    "add_const": (1, 1, ("c",)),
    "pow": (1, 1, ("p",)),
    "sqrt": (1, 1, ()),
    "exp": (1, 1, ()),
    "log": (1, 1, ()),
    "inv": (1, 1, ()),
    "abs": (1, 1, ()),
    "max": (2, None, ()),
    "min": (2, None, ()),
    "relu": (1, 1, ()),
    "sigmoid": (1, 1, ()),
    "tanh": (1, 1, ()),
    "sin": (1, 1, ()),
    "cos": (1, 1, ()),
}


@pytest.mark.parametrize("name", sorted(REQUIRED_OPS))
def test_registry_has_every_required_op_with_its_arity_and_params(name: str) -> None:
    assert name in OPS
    op = OPS[name]
    assert op.name == name
    assert (op.min_inputs, op.max_inputs, op.params) == REQUIRED_OPS[name]


def test_registry_keys_match_op_names() -> None:
    assert all(key == op.name for key, op in OPS.items())


def test_only_non_smooth_ops_have_a_kink_function() -> None:
    assert {name for name, op in OPS.items() if op.kink is not None} == {
        "abs", "max", "min", "relu"
    }


# ------------------------------------------------------------------ forward values

S2 = math.sqrt(2.0)
E = math.e

# (op, inputs, params, expected), the expected value worked out by hand.
KNOWN_VALUES: list[tuple[str, list[float], dict[str, float], float]] = [
    ("add", [1.5, -4.0], {}, -2.5),
    ("add", [1.0, 2.0, 3.0, 4.0], {}, 10.0),
    ("sub", [5.0, 7.5], {}, -2.5),
    ("mul", [2.0, -3.0], {}, -6.0),
    ("mul", [2.0, 3.0, 4.0], {}, 24.0),
    ("mul", [2.0, 0.0, -4.0], {}, 0.0),
    ("div", [1.0, 4.0], {}, 0.25),
    ("div", [-3.0, 0.5], {}, -6.0),
    ("neg", [3.5], {}, -3.5),
    ("scale", [3.0], {"a": -2.0}, -6.0),
    ("add_const", [2.0], {"c": 1.0}, 3.0),
    ("add_const", [-2.0], {"c": 0.5}, -1.5),
    ("pow", [2.0], {"p": 3.0}, 8.0),
    ("pow", [9.0], {"p": 0.5}, 3.0),
    ("pow", [4.0], {"p": -1.0}, 0.25),
    ("pow", [-2.0], {"p": 2.0}, 4.0),
    ("sqrt", [16.0], {}, 4.0),
    ("sqrt", [2.0], {}, S2),
    ("exp", [0.0], {}, 1.0),
    ("exp", [1.0], {}, E),
    ("exp", [-1.0], {}, 1.0 / E),
    ("log", [1.0], {}, 0.0),
    ("log", [E * E], {}, 2.0),
    ("inv", [4.0], {}, 0.25),
    ("inv", [-0.5], {}, -2.0),
    ("abs", [-3.0], {}, 3.0),
    ("abs", [2.5], {}, 2.5),
    ("max", [1.0, 5.0, 3.0], {}, 5.0),
    ("max", [-1.0, -2.0], {}, -1.0),
    ("min", [1.0, 5.0, 3.0], {}, 1.0),
    ("min", [-1.0, -2.0], {}, -2.0),
    ("relu", [-2.0], {}, 0.0),
    ("relu", [2.0], {}, 2.0),
    ("relu", [0.0], {}, 0.0),
    ("sigmoid", [0.0], {}, 0.5),
    ("sigmoid", [1.0], {}, E / (E + 1.0)),
    ("sigmoid", [-1.0], {}, 1.0 / (E + 1.0)),
    ("tanh", [0.0], {}, 0.0),
    ("tanh", [1.0], {}, (E * E - 1.0) / (E * E + 1.0)),
    ("sin", [math.pi / 2], {}, 1.0),
    ("sin", [math.pi / 6], {}, 0.5),
    ("cos", [0.0], {}, 1.0),
    ("cos", [math.pi / 3], {}, 0.5),
]


def test_known_values_cover_every_op() -> None:
    assert {name for name, *_ in KNOWN_VALUES} == set(OPS)


@pytest.mark.parametrize(("name", "xs", "params", "expected"), KNOWN_VALUES)
def test_forward_at_known_points(
    name: str, xs: list[float], params: dict[str, float], expected: float
) -> None:
    y = evaluate(OPS[name], xs, params)
    assert isinstance(y, float)
    assert math.isclose(y, expected, rel_tol=1e-12, abs_tol=1e-15)


# The same local gradients, worked out by hand at the same kind of points.
KNOWN_LOCALS: list[tuple[str, list[float], dict[str, float], tuple[float, ...]]] = [
    ("add", [1.0, 2.0, 3.0], {}, (1.0, 1.0, 1.0)),
    ("sub", [5.0, 7.0], {}, (1.0, -1.0)),
    ("mul", [2.0, -3.0], {}, (-3.0, 2.0)),
    ("mul", [2.0, 3.0, 4.0], {}, (12.0, 8.0, 6.0)),
    ("mul", [2.0, 0.0, 4.0], {}, (0.0, 8.0, 0.0)),
    ("div", [3.0, 2.0], {}, (0.5, -0.75)),
    ("neg", [3.0], {}, (-1.0,)),
    ("scale", [3.0], {"a": -2.5}, (-2.5,)),
    ("add_const", [3.0], {"c": 7.0}, (1.0,)),
    ("pow", [2.0], {"p": 3.0}, (12.0,)),
    ("pow", [4.0], {"p": 0.5}, (0.25,)),
    ("sqrt", [4.0], {}, (0.25,)),
    ("exp", [0.0], {}, (1.0,)),
    ("log", [4.0], {}, (0.25,)),
    ("inv", [2.0], {}, (-0.25,)),
    ("abs", [-2.0], {}, (-1.0,)),
    ("abs", [2.0], {}, (1.0,)),
    ("max", [1.0, 5.0, 3.0], {}, (0.0, 1.0, 0.0)),
    ("min", [1.0, 5.0, 3.0], {}, (1.0, 0.0, 0.0)),
    ("relu", [-1.0], {}, (0.0,)),
    ("relu", [1.0], {}, (1.0,)),
    ("sigmoid", [0.0], {}, (0.25,)),
    ("tanh", [0.0], {}, (1.0,)),
    ("sin", [0.0], {}, (1.0,)),
    ("cos", [math.pi / 2], {}, (-1.0,)),
]


@pytest.mark.parametrize(("name", "xs", "params", "expected"), KNOWN_LOCALS)
def test_local_gradient_at_known_points(
    name: str, xs: list[float], params: dict[str, float], expected: tuple[float, ...]
) -> None:
    op = OPS[name]
    got = local_gradients(op, xs, evaluate(op, xs, params), params)
    assert len(got) == len(xs)
    assert all(isinstance(d, float) for d in got)
    for d, e in zip(got, expected, strict=True):
        assert math.isclose(d, e, rel_tol=1e-12, abs_tol=1e-15)


@given(st.floats(-700.0, 700.0))
def test_sigmoid_matches_its_definition_and_never_overflows(x: float) -> None:
    y = evaluate(OPS["sigmoid"], [x], {})
    assert 0.0 <= y <= 1.0
    # 1/(1 + e^-x), written with exp of a non-positive number only
    expected = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (math.exp(x) + 1.0)
    assert math.isclose(y, expected, rel_tol=1e-12, abs_tol=1e-300)


@given(st.floats(-1000.0, 1000.0))
def test_sigmoid_far_out_saturates(x: float) -> None:
    y = evaluate(OPS["sigmoid"], [x * 1e6], {})
    assert math.isfinite(y) and 0.0 <= y <= 1.0


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=6))
def test_variadic_ops_agree_with_plain_python(xs: list[float]) -> None:
    assert evaluate(OPS["max"], xs, {}) == max(xs)
    assert evaluate(OPS["min"], xs, {}) == min(xs)
    assert math.isclose(evaluate(OPS["add"], xs, {}), math.fsum(xs), rel_tol=1e-9, abs_tol=1e-6)
    product = 1.0
    for v in xs:
        product *= v
    assert math.isclose(evaluate(OPS["mul"], xs, {}), product, rel_tol=1e-9, abs_tol=0.0)


# ------------------------------------------------------------------ local gradients vs
# finite differences, at random points inside each op's domain and away from kinks

def _real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _away_from_zero(lo: float, hi: float) -> st.SearchStrategy[float]:
    """|x| in [lo, hi], either sign."""
    return st.tuples(_real(lo, hi), st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


def _unary(xs: st.SearchStrategy[float], **params: st.SearchStrategy[float]
           ) -> st.SearchStrategy[Point]:
    return st.tuples(st.lists(xs, min_size=1, max_size=1), st.fixed_dictionaries(params))


def _nary(xs: st.SearchStrategy[float], low: int, high: int) -> st.SearchStrategy[Point]:
    return st.tuples(st.lists(xs, min_size=low, max_size=high), st.just({}))


def _separated(xs: list[float]) -> bool:
    ordered = sorted(xs)
    return all(b - a > 1e-3 for a, b in itertools.pairwise(ordered))


_pow_points = st.one_of(
    _unary(_real(0.2, 5.0), p=_real(-3.0, 3.0)),  # any real power of a positive base
    _unary(_away_from_zero(0.2, 5.0), p=st.integers(-3, 4).map(float)),  # integer powers
)

# Every op must appear here: a new op without a domain gets a failing test, not a gap.
DOMAINS: dict[str, st.SearchStrategy[Point]] = {
    "add": _nary(_real(-10, 10), 2, 4),
    "sub": _nary(_real(-10, 10), 2, 2),
    "mul": _nary(_real(-5, 5), 2, 4),
    "div": st.tuples(
        st.tuples(_real(-10, 10), _away_from_zero(0.1, 10)).map(list), st.just({})
    ),
    "neg": _unary(_real(-10, 10)),
    "scale": _unary(_real(-10, 10), a=_real(-5, 5)),
    "add_const": _unary(_real(-10, 10), c=_real(-5, 5)),
    "pow": _pow_points,
    "sqrt": _unary(_real(0.01, 100)),
    "exp": _unary(_real(-10, 5)),
    "log": _unary(_real(0.01, 100)),
    "inv": _unary(_away_from_zero(0.1, 10)),
    "abs": _unary(_away_from_zero(0.01, 10)),
    "max": _nary(_real(-10, 10), 2, 4).filter(lambda p: _separated(p[0])),
    "min": _nary(_real(-10, 10), 2, 4).filter(lambda p: _separated(p[0])),
    "relu": _unary(_away_from_zero(0.01, 10)),
    "sigmoid": _unary(_real(-20, 20)),
    "tanh": _unary(_real(-10, 10)),
    "sin": _unary(_real(-10, 10)),
    "cos": _unary(_real(-10, 10)),
}


def test_every_op_has_a_test_domain() -> None:
    assert set(DOMAINS) == set(OPS)


def _finite_difference(f: Callable[[float], float], x: float) -> float:
    h = 1e-6 * max(1.0, abs(x))
    return (f(x + h) - f(x - h)) / (2.0 * h)


def _close(numeric: float, analytic: float, tolerance: float = 1e-5) -> bool:
    return abs(numeric - analytic) <= tolerance * max(1.0, abs(numeric), abs(analytic))


def _moved(xs: Sequence[float], slot: int, v: float) -> list[float]:
    out = list(xs)
    out[slot] = v
    return out


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=150)
@given(data=st.data())
def test_local_gradient_matches_finite_differences(name: str, data: st.DataObject) -> None:
    op = OPS[name]
    xs, params = data.draw(DOMAINS[name], label="xs, params")
    y = evaluate(op, xs, params)
    assume(math.isfinite(y))
    analytic = local_gradients(op, xs, y, params)
    assert len(analytic) == len(xs)
    for slot, d in enumerate(analytic):
        def f(v: float, slot: int = slot) -> float:
            return evaluate(op, _moved(xs, slot, v), params)

        numeric = _finite_difference(f, xs[slot])
        assert _close(numeric, d), (name, xs, params, slot, d, numeric)
    # the engine's own checker agrees at the same points
    assert gradcheck.op_local_mismatches(op, xs, dict(params)) == []


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_solver_computes_each_op_like_the_registry(name: str, data: st.DataObject) -> None:
    """A one-gate exercise solves to the op's own forward value and local gradients (the
    solver has its own fast loops; they must not drift from the registry)."""
    op = OPS[name]
    xs, params = data.draw(DOMAINS[name], label="xs, params")
    inputs = {f"x{k}": v for k, v in enumerate(xs)}
    spec = {"id": "one-gate", "title": "One gate", "inputs": inputs,
            "nodes": [{"id": "f", "op": name, "in": list(inputs), **params}], "output": "f"}
    solution = solve(draw_variant(load_exercise(yaml.safe_dump(spec))))
    y = evaluate(op, xs, params)
    assert math.isclose(solution.values["f"], y, rel_tol=1e-12, abs_tol=1e-300)
    for k, d in enumerate(local_gradients(op, xs, y, params)):
        assert math.isclose(solution.grads[f"x{k}"], d, rel_tol=1e-12, abs_tol=1e-300), k
        assert math.isclose(solution.local_gradients("f")[f"x{k}"], d, rel_tol=1e-12,
                            abs_tol=1e-300)


@pytest.mark.parametrize("name", ["add", "mul", "max", "min"])
@given(data=st.data())
def test_variadic_local_gradients_have_one_entry_per_input(name: str, data: st.DataObject) -> None:
    xs = data.draw(st.lists(_real(-10, 10), min_size=2, max_size=8))
    op = OPS[name]
    grads = local_gradients(op, xs, evaluate(op, xs, {}), {})
    assert len(grads) == len(xs)


@given(st.lists(_real(-3, 3), min_size=3, max_size=6), st.data())
def test_mul_local_gradient_is_the_product_of_the_others(xs: list[float], data: st.DataObject
                                                         ) -> None:
    zero_at = data.draw(st.none() | st.integers(0, len(xs) - 1))
    if zero_at is not None:
        xs[zero_at] = 0.0  # a zero input must not break the "divide the product" shortcut
    grads = local_gradients(OPS["mul"], xs, evaluate(OPS["mul"], xs, {}), {})
    for k, d in enumerate(grads):
        others = 1.0
        for i, v in enumerate(xs):
            if i != k:
                others *= v
        assert math.isclose(d, others, rel_tol=1e-12, abs_tol=1e-12)


# ------------------------------------------------------------------ kinks and ties

def _locals(name: str, xs: list[float]) -> tuple[float, ...]:
    op = OPS[name]
    return local_gradients(op, xs, evaluate(op, xs, {}), {})


def _kink(name: str, xs: list[float]) -> tuple[tuple[float, ...], ...] | None:
    op = OPS[name]
    assert op.kink is not None
    x: float | tuple[float, ...] = xs[0] if op.unary else tuple(xs)
    return op.kink(x, evaluate(op, xs, {}), {})


@pytest.mark.parametrize(
    ("name", "xs", "convention"),
    [
        ("relu", [0.0], (0.0,)),
        ("relu", [-0.0], (0.0,)),
        ("abs", [0.0], (0.0,)),
        ("abs", [-0.0], (0.0,)),
        ("max", [2.0, 2.0], (1.0, 0.0)),
        ("max", [2.0, 2.0, 1.0], (1.0, 0.0, 0.0)),
        ("max", [1.0, 3.0, 3.0], (0.0, 1.0, 0.0)),
        ("max", [3.0, 1.0, 3.0], (1.0, 0.0, 0.0)),
        ("min", [1.0, 1.0], (1.0, 0.0)),
        ("min", [2.0, -1.0, -1.0, -1.0], (0.0, 1.0, 0.0, 0.0)),
    ],
)
def test_kink_convention(name: str, xs: list[float], convention: tuple[float, ...]) -> None:
    """relu'(0) = 0, abs'(0) = 0, and at a max/min tie the first winner gets 1."""
    assert _locals(name, xs) == convention


@pytest.mark.parametrize(
    ("name", "xs", "extremes"),
    [
        ("relu", [0.0], {(0.0,), (1.0,)}),
        ("abs", [0.0], {(-1.0,), (1.0,)}),
        ("max", [2.0, 2.0], {(1.0, 0.0), (0.0, 1.0)}),
        ("max", [2.0, 2.0, 1.0], {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)}),
        ("max", [3.0, 1.0, 3.0, 3.0],
         {(1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 1.0)}),
        ("min", [-1.0, 4.0, -1.0], {(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)}),
    ],
)
def test_kink_reports_the_extreme_choices(
    name: str, xs: list[float], extremes: set[tuple[float, ...]]
) -> None:
    choices = _kink(name, xs)
    assert choices is not None
    assert len(choices) == len(extremes)
    assert {tuple(c) for c in choices} == extremes


@pytest.mark.parametrize(
    ("name", "xs"),
    [("relu", [0.0]), ("abs", [0.0]), ("max", [2.0, 2.0, 1.0]), ("min", [4.0, -1.0, -1.0]),
     ("max", [5.0, 5.0, 5.0])],
)
def test_convention_lies_in_the_set_of_valid_subgradients(name: str, xs: list[float]) -> None:
    choices = _kink(name, xs)
    assert choices is not None
    convention = _locals(name, xs)
    for slot, d in enumerate(convention):
        column = [c[slot] for c in choices]
        assert min(column) <= d <= max(column)
    if name in ("max", "min"):
        assert convention in {tuple(c) for c in choices}  # a routing, not an average


@pytest.mark.parametrize(
    ("name", "xs"),
    [("max", [3.0, 1.0, 1.0]), ("min", [-1.0, 2.0, 2.0]), ("relu", [1e-300]),
     ("abs", [-1e-300])],
)
def test_a_tie_that_does_not_win_is_not_a_kink(name: str, xs: list[float]) -> None:
    assert _kink(name, xs) is None


@pytest.mark.parametrize("name", ["abs", "max", "min", "relu"])
@settings(max_examples=150)
@given(data=st.data())
def test_kink_is_none_away_from_kinks(name: str, data: st.DataObject) -> None:
    xs, _params = data.draw(DOMAINS[name])
    assert _kink(name, xs) is None


# ------------------------------------------------------------------ formulas for the
# worked solution

def _display_inputs(op: Op) -> list[str]:
    n = op.min_inputs if op.max_inputs == op.min_inputs else op.min_inputs + 1
    return [f"u{k}" for k in range(n)]


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_show_and_show_local_formulas(name: str) -> None:
    op = OPS[name]
    names = _display_inputs(op)
    params = {p: 2.5 for p in op.params}
    shown = op.show(names, params)
    assert isinstance(shown, str) and shown.strip()
    for n in names:
        assert n in shown  # the forward formula names every input
    for p in op.params:
        assert "2.5" in shown, (p, shown)  # and shows its parameters
    for k in range(len(names)):
        local = op.show_local(k, names, params)
        assert isinstance(local, str) and local.strip()
    # numbers shown instead of names work too (the worked solution does this)
    assert isinstance(op.show(["1.00"] * len(names), params), str)


def test_parameter_formulas_show_integers_without_a_trailing_zero() -> None:
    shown = OPS["scale"].show(["x"], {"a": -1.0})
    assert "-1" in shown and "-1.0" not in shown
    local = OPS["scale"].show_local(0, ["x"], {"a": 3.0})
    assert "3" in local and "3.0" not in local
    shown = OPS["pow"].show(["x"], {"p": 2.0})
    assert "2" in shown and "2.0" not in shown


def test_mul_local_formula_is_the_product_of_the_other_inputs() -> None:
    assert OPS["mul"].show_local(0, ["w0", "x0"], {}) == "x0"
    local = OPS["mul"].show_local(1, ["a", "b", "c"], {})
    assert "a" in local and "c" in local and "b" not in local


@pytest.mark.parametrize("name", sorted(OPS))
def test_arity_text_is_readable(name: str) -> None:
    text = OPS[name].arity_text()
    assert "input" in text and str(OPS[name].min_inputs) in text


# ------------------------------------------------------------------ the gradcheck helpers
# must be able to fail, or the checks above would prove nothing

def test_central_difference_and_agrees() -> None:
    assert math.isclose(gradcheck.central_difference(lambda v: v * v, 3.0, 1e-6), 6.0,
                        rel_tol=1e-8)
    assert gradcheck.agrees(1.0, 1.0 + 1e-8)
    assert not gradcheck.agrees(1.0, 1.1)
    assert not gradcheck.agrees(1000.0, 1001.0)


def test_op_local_mismatches_flags_a_wrong_local_gradient() -> None:
    wrong = Op(
        "wrong_square", 1, 1, (),
        forward_expr="x * x",
        local_exprs=("x",),  # should be 2x
        show=lambda n, _p: f"{n[0]}²",
        show_local=lambda k, n, _p: n[0],
        summary="a deliberately wrong op",
    )
    found = gradcheck.op_local_mismatches(wrong, [3.0], {})
    assert len(found) == 1
    slot, analytic, numeric = found[0]
    assert slot == 0 and analytic == 3.0 and math.isclose(numeric, 6.0, rel_tol=1e-5)
