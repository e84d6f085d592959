"""Numeric comparison predicates: is a typed number close enough to a reference?

Three modes, as an exercise's `tolerance:` chooses them (engine.spec.Tolerance):

* rel+abs (default): right when |x - ref| <= max(abs, rel·|ref|). Near zero rel·|ref|
  vanishes and the absolute tolerance decides, so a tiny reference never demands a
  tiny answer;
* significant figures: right within 0.51 of a unit in the n-th significant digit of the
  reference (0.51, not 0.5, so a correctly rounded answer is never lost to binary
  representation);
* decimal places: right within 0.51 of a unit in the d-th decimal.

Every mode adds a float-noise slack (NOISE_REL relative, NOISE_ABS absolute), so that a
tolerance of 0 never fails a right answer on the last bits of a float, and a reference
that should be 0 but came out as 1e-17 still accepts a typed 0.

The predicates take the submitted number first and the reference second, tolerances as
keywords; the inputs are finite floats (format errors are filtered out before).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

from engine import Tolerance
from engine.spec import DEFAULT_ABS_TOLERANCE, DEFAULT_REL_TOLERANCE

# Float noise: far below any tolerance an instructor would set, far above the rounding
# error of the few dozen float operations a reference value is computed with.
NOISE_REL = 1e-9
NOISE_ABS = 1e-12
# Half a unit in the last required digit, plus a little for binary representation.
HALF_UNIT = 0.51

Allowance = Callable[[float], float]  # reference -> largest accepted |x - ref|


def float_slack(submitted: float, reference: float) -> float:
    """How far apart two floats may be and still count as the same number."""
    return NOISE_REL * max(abs(submitted), abs(reference)) + NOISE_ABS


def same_number(submitted: float, reference: float) -> bool:
    """Equal up to float noise (not up to a tolerance)."""
    return abs(submitted - reference) <= float_slack(submitted, reference)


def relabs_allowance(*, rel: float = DEFAULT_REL_TOLERANCE,
                     abs_: float = DEFAULT_ABS_TOLERANCE) -> Allowance:
    return lambda reference: max(abs_, rel * abs(reference))


def sigfigs_allowance(*, sigfigs: int) -> Allowance:
    def allowance(reference: float) -> float:
        if abs(reference) <= NOISE_ABS:
            return 0.0  # no significant digit to count from: only float noise is allowed
        leading = math.floor(math.log10(abs(reference)))
        return HALF_UNIT * 10.0 ** (leading - sigfigs + 1)

    return allowance


def decimals_allowance(*, decimals: int) -> Allowance:
    allowed = HALF_UNIT * 10.0 ** -decimals
    return lambda _reference: allowed


def allowance_for(tolerance: Tolerance) -> Allowance:
    """The allowance function of a (resolved) tolerance."""
    if tolerance.sigfigs is not None:
        return sigfigs_allowance(sigfigs=tolerance.sigfigs)
    if tolerance.decimals is not None:
        return decimals_allowance(decimals=tolerance.decimals)
    rel = DEFAULT_REL_TOLERANCE if tolerance.rel is None else tolerance.rel
    abs_ = DEFAULT_ABS_TOLERANCE if tolerance.abs is None else tolerance.abs
    return relabs_allowance(rel=rel, abs_=abs_)


def _close(submitted: float, reference: float, allowed: float) -> bool:
    return abs(submitted - reference) <= allowed + float_slack(submitted, reference)


def is_close_relabs(submitted: float, reference: float, *,
                    rel: float = DEFAULT_REL_TOLERANCE,
                    abs_: float = DEFAULT_ABS_TOLERANCE) -> bool:
    """|x - ref| <= max(abs, rel·|ref|), up to float noise."""
    return _close(submitted, reference, max(abs_, rel * abs(reference)))


def is_close_sigfigs(submitted: float, reference: float, *, sigfigs: int) -> bool:
    """Agrees with the reference to `sigfigs` significant figures."""
    return _close(submitted, reference, sigfigs_allowance(sigfigs=sigfigs)(reference))


def is_close_decimals(submitted: float, reference: float, *, decimals: int) -> bool:
    """Agrees with the reference to `decimals` decimal places."""
    return _close(submitted, reference, HALF_UNIT * 10.0 ** -decimals)


def nearest_in(value: float, low: float, high: float) -> float:
    """The point of [low, high] nearest to value."""
    return low if value < low else high if value > high else value


# How a number compares to a reference (see `closeness`).
SAME = 0  # equal up to float noise
CLOSE = 1  # within tolerance, but not the same number (rounded, typically)
FAR = 2  # outside tolerance


def closeness(submitted: float, low: float, high: float, allowance: Allowance) -> int:
    """SAME, CLOSE or FAR, against the nearest point of [low, high] (a kink's valid
    subgradients; low == high for a plain reference). One call: grading makes one per
    blank."""
    if not low <= high:  # a NaN bound: there is nothing to be close to
        return FAR
    reference = low if submitted < low else high if submitted > high else submitted
    gap = abs(submitted - reference)
    slack = NOISE_REL * max(abs(submitted), abs(reference)) + NOISE_ABS
    if gap <= slack:
        return SAME
    return CLOSE if gap <= allowance(reference) + slack else FAR


Comparator = Callable[[float, float, float], int]  # (submitted, low, high) -> SAME/CLOSE/FAR


def comparator_for(tolerance: Tolerance) -> Comparator:
    """`closeness` with the tolerance built in: one call per comparison, which grading
    makes a few times per blank. The default mode is written out, without calls."""
    if tolerance.mode != "relabs":
        allowance = allowance_for(tolerance)
        return lambda submitted, low, high: closeness(submitted, low, high, allowance)
    rel = DEFAULT_REL_TOLERANCE if tolerance.rel is None else tolerance.rel
    abs_ = DEFAULT_ABS_TOLERANCE if tolerance.abs is None else tolerance.abs

    def compare(submitted: float, low: float, high: float) -> int:
        if not low <= high:
            return FAR
        reference = low if submitted < low else high if submitted > high else submitted
        gap = submitted - reference if submitted > reference else reference - submitted
        size = submitted if submitted > 0.0 else -submitted
        ref_size = reference if reference > 0.0 else -reference
        slack = NOISE_REL * (size if size > ref_size else ref_size) + NOISE_ABS
        if gap <= slack:
            return SAME
        allowed = rel * ref_size
        return CLOSE if gap <= (allowed if allowed > abs_ else abs_) + slack else FAR

    return compare


def is_close_to_range(submitted: float, low: float, high: float, allowance: Allowance) -> bool:
    """Close to some point of [low, high] (a kink's valid subgradients); with low == high
    this is the plain comparison."""
    return closeness(submitted, low, high, allowance) != FAR


def typed_step(submitted: float) -> float:
    """A unit in the last digit the number was typed with: 0.1 for 0.4, 1 for 2 or 20.

    JSON loses trailing zeros (0.40 arrives as 0.4), so they are not counted; integers
    count as typed to the units digit.
    """
    exponent = Decimal(repr(submitted)).normalize().as_tuple().exponent
    if not isinstance(exponent, int):  # never for a finite float
        return 0.0
    return 10.0 ** min(exponent, 0)


def is_insufficient_precision(submitted: float, low: float, high: float,
                              allowance: Allowance) -> bool:
    """A wrong answer that is the reference correctly rounded (0.4 for 0.3932 under
    1 %): too coarse to be judged, rather than wrong.

    All must hold: the typed number has decimals (an integer, 0 and 1 among them, is a
    number of its own, not a rounding: -20 for -19.66, 1 for 1.37), its last digit is
    not coarser than the reference itself (at least one significant digit of it was
    typed: 0.05 for 0.0393 is a plain wrong number, not a rounded one), and the
    reference rounded to that digit is the typed number. (Whether a named mistake
    explains the number instead is for grading to ask first.)
    """
    if submitted == 0.0 or is_close_to_range(submitted, low, high, allowance):
        return False
    step = typed_step(submitted)
    if step >= 1.0:
        return False
    reference = nearest_in(submitted, low, high)
    slack = float_slack(submitted, reference)
    return step <= abs(reference) + slack and (
        abs(submitted - reference) <= step / 2 + slack)


def digits_asked(tolerance: Tolerance, reference: float) -> tuple[int | None, int | None]:
    """What the tolerance asks of a number near `reference`, as the student should type
    it: (decimal places, None), or (None, significant figures) for a `sigfigs`
    tolerance. For rel+abs, the fewest decimals whose rounding stays within it (2 for
    0.3932 under the defaults: 0.39; 1 for 25.6: 25.6)."""
    if tolerance.sigfigs is not None:
        return None, tolerance.sigfigs
    if tolerance.decimals is not None:
        return tolerance.decimals, None
    allowed = allowance_for(tolerance)(reference)
    decimals = 0
    while 0.5 * 10.0 ** -decimals > allowed + float_slack(reference, reference) and (
            decimals < 15):
        decimals += 1
    return decimals, None
