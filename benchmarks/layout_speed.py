"""How long drawing an exercise's circuit takes: `build_layout` (what `layout_of` does on
a cache miss) and `svg_of`, on generated graphs of 10, 50 and 200 gates.

The graphs are grading_speed's random DAGs (5 inputs; the last gate adds every loose
end), with and without local-gradient blanks (which give every gate a lane of boxes and
make the drawing wider, so it wraps into bands sooner). Each row also gives the size of
the drawing: columns, bands, width and height in CSS pixels, and the SVG's length.

    python benchmarks/layout_speed.py [--sizes 10 50 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import random

from grading_speed import exercise_yaml, per_call

from engine import load_exercise
from grader.web.layout import MAX_WIDTH, build_layout
from grader.web.svg import svg_of

INPUTS = 5  # grading_speed's generator counts its inputs among the nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'gates':>5} {'local':>5} {'columns':>7} {'bands':>5} {'width':>6} {'height':>6}"
          f" {'layout':>9} {'svg':>9} {'svg size':>9}")
    for size in args.sizes:
        for ask_local in (False, True):
            text = exercise_yaml(size + INPUTS, random.Random(args.seed), ask_local=ask_local)
            exercise = load_exercise(text, max_bytes=None)
            layout = build_layout(exercise)
            svg = svg_of(layout, title=exercise.title)
            t_layout = per_call(lambda exercise=exercise: build_layout(exercise))
            t_svg = per_call(lambda layout=layout: svg_of(layout, title="generated"))
            columns = 1 + max(node.layer for node in layout.nodes.values())
            print(f"{len(exercise.gates):>5} {'yes' if ask_local else 'no':>5} {columns:>7} "
                  f"{len(layout.bands):>5} {layout.width:>6.0f} {layout.height:>6.0f} "
                  f"{t_layout * 1e3:>7.2f}ms {t_svg * 1e3:>7.2f}ms {len(svg) / 1024:>7.1f}KB")
    print(f"(widths over {MAX_WIDTH:.0f} px are graphs that do not fit even in bands: "
          "the page scrolls)")


if __name__ == "__main__":
    main()
