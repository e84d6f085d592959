"""The comparison predicates, at their boundaries."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Tolerance
from engine.spec import DEFAULT_ABS_TOLERANCE, DEFAULT_REL_TOLERANCE
from grader.scoring.tolerance import (
    CLOSE,
    FAR,
    SAME,
    allowance_for,
    closeness,
    comparator_for,
    is_close_decimals,
    is_close_relabs,
    is_close_sigfigs,
    is_close_to_range,
    is_insufficient_precision,
    typed_step,
)

DEFAULT = allowance_for(Tolerance().resolved())


def test_defaults_accept_the_lectures_two_decimal_answers_and_reject_sloppy_ones():
    assert (DEFAULT_REL_TOLERANCE, DEFAULT_ABS_TOLERANCE) == (0.01, 0.005)
    assert is_close_relabs(0.39, 0.3932)
    assert is_close_relabs(-0.20, -0.19661193324148188)
    assert is_close_relabs(-0.59, -0.5898357997244457)
    assert is_close_relabs(0.73, 0.7310585786300049)
    assert not is_close_relabs(0.4, 0.3932)
    assert not is_close_relabs(0.38, 0.3932)


@given(st.floats(min_value=-1000, max_value=1000, allow_nan=False))
def test_defaults_accept_any_value_rounded_to_two_decimals(reference):
    # Half-way cases (0.125 -> 0.13) sit exactly on the absolute tolerance: float noise
    # must not tip them over.
    assert is_close_relabs(round(reference, 2), reference)
    assert is_close_relabs(float(f"{reference:.2f}"), reference)


def test_relative_tolerance_takes_over_for_large_references():
    assert is_close_relabs(101.0, 100.0)
    assert not is_close_relabs(101.1, 100.0)


def test_near_zero_the_absolute_tolerance_decides():
    assert is_close_relabs(0.004, 0.0)
    assert is_close_relabs(-0.004, 1e-9)
    assert not is_close_relabs(0.006, 0.0)
    assert not is_close_relabs(0.001, 0.0, rel=0.01, abs_=0.0)


def test_a_zero_tolerance_does_not_fail_a_right_answer_on_float_noise():
    assert is_close_relabs(0.1 + 0.2, 0.3, rel=0.0, abs_=0.0)
    assert is_close_relabs(0.0, 1e-17, rel=0.0, abs_=0.0)  # a zero that came out as 1e-17
    assert is_close_relabs(1e6 + 1e-7, 1e6, rel=0.0, abs_=0.0)
    assert not is_close_relabs(0.3001, 0.3, rel=0.0, abs_=0.0)


def test_significant_figures():
    assert is_close_sigfigs(0.39, 0.3932, sigfigs=2)
    assert not is_close_sigfigs(0.40, 0.3932, sigfigs=2)
    assert is_close_sigfigs(0.393, 0.3932, sigfigs=3)
    assert not is_close_sigfigs(0.39, 0.3932, sigfigs=3)
    assert is_close_sigfigs(1234.0, 1234.4, sigfigs=4)
    assert is_close_sigfigs(0.10, 0.0996, sigfigs=2)  # rounding up across a decade
    assert is_close_sigfigs(-2.5e-5, -2.54e-5, sigfigs=2)
    assert is_close_sigfigs(0.0, 1e-17, sigfigs=3)  # no digits to count near zero
    assert not is_close_sigfigs(0.001, 0.0, sigfigs=3)


def test_decimal_places():
    assert is_close_decimals(0.39, 0.3932, decimals=2)
    assert not is_close_decimals(0.40, 0.3932, decimals=2)
    assert is_close_decimals(0.0, 0.004, decimals=2)
    assert is_close_decimals(12.0, 11.6, decimals=0)
    assert not is_close_decimals(12.0, 11.4, decimals=0)


def test_allowance_for_each_mode():
    assert allowance_for(Tolerance(rel=0.1, abs=0.0))(2.0) == pytest.approx(0.2)
    assert allowance_for(Tolerance(rel=0.1))(0.0) == DEFAULT_ABS_TOLERANCE
    assert allowance_for(Tolerance(sigfigs=2))(0.3932) == pytest.approx(0.0051)
    assert allowance_for(Tolerance(decimals=1))(123.0) == pytest.approx(0.051)


def test_closeness_tells_same_close_and_far_apart():
    assert closeness(0.3932, 0.3932, 0.3932, DEFAULT) == SAME
    assert closeness(0.1 + 0.2, 0.3, 0.3, DEFAULT) == SAME
    assert closeness(0.39, 0.3932, 0.3932, DEFAULT) == CLOSE
    assert closeness(0.4, 0.3932, 0.3932, DEFAULT) == FAR


@given(st.sampled_from([Tolerance(), Tolerance(rel=0.0, abs=0.0), Tolerance(rel=0.05),
                        Tolerance(sigfigs=3), Tolerance(decimals=2)]),
       st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(0, 10))
def test_a_comparator_agrees_with_closeness(tolerance, submitted, low, width):
    high = low + width
    expected = closeness(submitted, low, high, allowance_for(tolerance))
    assert comparator_for(tolerance)(submitted, low, high) == expected
    assert comparator_for(tolerance)(low, low, low) == SAME


def test_a_nan_bound_is_never_close():
    nan = float("nan")
    assert closeness(1.0, nan, nan, DEFAULT) == FAR
    assert closeness(1.0, 0.0, nan, DEFAULT) == FAR
    assert not is_close_to_range(0.0, nan, 1.0, DEFAULT)
    assert comparator_for(Tolerance())(1.0, nan, nan) == FAR


def test_a_range_accepts_any_point_in_it_and_near_its_ends():
    for inside in (0.0, 0.5, 1.0, 0.999, 1.004, -0.004):
        assert is_close_to_range(inside, 0.0, 1.0, DEFAULT)
    for outside in (1.1, -0.1, 1.011, -0.006):
        assert not is_close_to_range(outside, 0.0, 1.0, DEFAULT)
    assert closeness(0.3, 0.0, 1.0, DEFAULT) == SAME


@pytest.mark.parametrize(("typed", "step"), [
    (0.4, 0.1), (0.39, 0.01), (2.0, 1.0), (20.0, 1.0), (1e-05, 1e-05), (-0.125, 0.001),
])
def test_typed_step_is_a_unit_in_the_last_typed_digit(typed, step):
    assert math.isclose(typed_step(typed), step)


def test_insufficient_precision_is_a_wrong_answer_right_as_far_as_its_digits_go():
    assert is_insufficient_precision(0.4, 0.3932, 0.3932, DEFAULT)
    assert is_insufficient_precision(2.5, 2.46, 2.46, DEFAULT)
    assert not is_insufficient_precision(2.0, 2.4, 2.4, DEFAULT)  # an integer
    assert not is_insufficient_precision(0.39, 0.3932, 0.3932, DEFAULT)  # right
    assert not is_insufficient_precision(0.5, 0.3932, 0.3932, DEFAULT)  # wrong digit
    assert not is_insufficient_precision(0.38, 0.3932, 0.3932, DEFAULT)  # enough digits
    assert not is_insufficient_precision(0.0, 0.3, 0.3, DEFAULT)  # 0 carries no digits


@pytest.mark.parametrize(("typed", "reference"), [
    (-1.0, -0.5344), (1.0, 0.7311), (1.0, -0.7311), (-1.0, -0.52), (2.0, 0.96), (10.0, 12.0),
    (1.0, 0.96), (0.05, 0.0393), (0.5, 0.44),
    # integers are numbers of their own, never a rounding: 1 for 1.37 (d without e),
    # 1 for 1.5, -20 for -19.66, 26 for 25.6
    (1.0, 1.37), (1.0, 1.5), (-20.0, -19.66), (26.0, 25.6), (2.0, 2.4), (-3.0, -2.51),
])
def test_a_plain_wrong_number_is_not_insufficient_precision(typed, reference):
    # -1 for -0.5344: one digit typed, and that digit is already wrong (a rounded
    # -0.5344 is -1 only at a precision coarser than the number itself).
    assert not is_insufficient_precision(typed, reference, reference, DEFAULT)


@pytest.mark.parametrize(("typed", "reference"), [
    (0.4, 0.3932), (2.5, 2.46), (-0.5, -0.5344), (0.4, 0.44), (0.7, 0.73), (-1.5, -1.46),
])
def test_a_number_right_to_its_last_typed_digit_is_insufficient_precision(typed, reference):
    assert is_insufficient_precision(typed, reference, reference, DEFAULT)
