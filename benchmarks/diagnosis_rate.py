"""How often the grader names a mistake with its code, per code and per habit.

Every kind of mistake the registry knows is put into the bundled exercises (as asked,
and asking local gradients too), the random neuron's first seeds, five exercises a
teaching assistant wrote (branches, max, an expression neuron with local gradients, div,
log) and `--random` random exercises, by a student who then works on right from it,
exactly, keeping digits and typing two decimals, or computing on from two decimals
(tests/grader/mistake_cases.py). A blank holding the mistake counts as named when its
code is the one injected, or another whose value coincides there within the tolerance.

It prints, per code, the blanks holding it and the share named; the same per habit; the
codes given to right blanks (must be 0) and to blanks holding no injected mistake; and
the most frequent misses. Exit 1 below 95 % or with any code on a right blank.

    python benchmarks/diagnosis_rate.py [--random 40] [--seed 0] [--misses 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "grader"))

from mistake_cases import cases, exercises

from grader.scoring import grade

TARGET = 0.95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", type=int, default=40, help="random exercises")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--misses", type=int, default=10, help="misses to list")
    args = parser.parse_args()
    held: Counter[str] = Counter()
    named: Counter[str] = Counter()
    by_habit: Counter[str] = Counter()
    named_by_habit: Counter[str] = Counter()
    misses: Counter[tuple[str, str | None]] = Counter()
    on_right = stray = count = 0
    took = 0.0
    for name, solution in exercises(count_random=args.random, seed=args.seed):
        for case in cases(name, solution):
            count += 1
            start = time.perf_counter()
            result = grade(solution, case.submission)
            took += time.perf_counter() - start
            by_blank = {(b.kind, b.node, b.input): b for b in result.blanks}
            for blank, codes in case.accepted.items():
                got = by_blank[blank].mistake
                held[case.code] += 1
                by_habit[case.habit] += 1
                if got in codes:
                    named[case.code] += 1
                    named_by_habit[case.habit] += 1
                else:
                    misses[(case.code, got)] += 1
            for blank, found in by_blank.items():
                if found.mistake is not None and found.status != "incorrect":
                    on_right += 1
                elif found.mistake is not None and blank not in case.accepted:
                    stray += 1
    total, hits = sum(held.values()), sum(named.values())
    print(f"{count} wrong submissions, {total} blanks holding a mistake, "
          f"{took / count * 1e3:.3f} ms per grade()")
    print(f"\n{'code':<22} {'blanks':>7} {'named':>7}")
    for code in sorted(held, key=lambda c: -held[c]):
        print(f"{code:<22} {held[code]:>7} {named[code] / held[code]:>7.1%}")
    print(f"\n{'habit':<22} {'blanks':>7} {'named':>7}")
    for habit, n in by_habit.items():
        print(f"{habit:<22} {n:>7} {named_by_habit[habit] / n:>7.1%}")
    rate = hits / total
    print(f"\nnamed right: {rate:.2%} (target {TARGET:.0%}); codes on right blanks: "
          f"{on_right}; codes on blanks holding no injected mistake: {stray}")
    if misses and args.misses:
        print("most frequent misses (injected, named instead):")
        for (code, got), n in misses.most_common(args.misses):
            print(f"  {n:>5}  {code} -> {got}")
    raise SystemExit(0 if rate >= TARGET and on_right == 0 else 1)


if __name__ == "__main__":
    main()
