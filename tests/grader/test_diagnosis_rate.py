"""How well the mistakes are named: every kind of mistake put into the bundled
exercises, five more a teaching assistant wrote and random ones, in each of three habits
of working (exact, keeping digits, computing on from two decimals), with the work after
it done right (tests/grader/mistake_cases.py makes them).

At least 95 % of the blanks holding a mistake are named with its code, and no right
blank is ever given one. `benchmarks/diagnosis_rate.py` prints the rate per code.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest
from mistake_cases import HABITS, Case, Student, cases, exercises

from engine import Solution
from grader.scoring import MISTAKES, grade


@cache
def measured() -> tuple[Counter[str], Counter[str], int, int]:
    """Per code: blanks holding it, and those named right; codes on right blanks, and
    codes on wrong blanks that hold no injected mistake."""
    held: Counter[str] = Counter()
    named: Counter[str] = Counter()
    on_right = stray = 0
    for name, solution in exercises(count_random=20, seed=0):
        for case in cases(name, solution):
            result = grade(solution, case.submission)
            by_blank = {(b.kind, b.node, b.input): b for b in result.blanks}
            for blank, codes in case.accepted.items():
                held[case.code] += 1
                named[case.code] += by_blank[blank].mistake in codes
            for blank, found in by_blank.items():
                if found.mistake is None:
                    continue
                if found.status != "incorrect":
                    on_right += 1
                elif blank not in case.accepted:
                    stray += 1
    return held, named, on_right, stray


def test_at_least_95_percent_of_mistakes_are_named_with_their_code():
    held, named, _, _ = measured()
    rate = sum(named.values()) / sum(held.values())
    assert sum(held.values()) > 3000
    assert rate >= 0.95, {code: round(named[code] / held[code], 3) for code in held}


def test_no_right_blank_is_given_a_code():
    held, _, on_right, stray = measured()
    assert on_right == 0
    # A blank wrong only as the consequence of another (left computed from the right
    # value after two blanks were swapped in the copying) is rarely given one either.
    assert stray <= 0.002 * sum(held.values())


def test_every_registered_mistake_is_made_and_mostly_named():
    held, named, _, _ = measured()
    assert set(held) == {m.code for m in MISTAKES}
    for code in held:
        assert named[code] / held[code] >= 0.9, (code, named[code], held[code])


@pytest.mark.parametrize("habit", HABITS)
def test_honest_work_in_every_habit_is_right_throughout(habit):
    for name, solution in exercises(count_random=20, seed=1):
        result = grade(solution, Student(solution, habit).work())
        assert result.score == 1.0, (name, [b for b in result.blanks if b.status != "correct"])
        assert not any(b.mistake for b in result.blanks), name


def test_a_case_says_which_blanks_hold_the_mistake():
    name, solution = next(exercises(count_random=0))
    case = next(cases(name, solution))
    assert isinstance(case, Case) and isinstance(case.solution, Solution)
    assert case.accepted and all(case.code in codes for codes in case.accepted.values())
