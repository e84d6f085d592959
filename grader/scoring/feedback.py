"""Every text a student reads about a submission, in one place.

Labels of blanks, format and field errors, each blank's verdict, the rule of each kind
of blank, the diagnosed mistakes and the one-sentence summary. Fixed texts are
constants; texts with parts are functions taking the parts (names, counts, labels
already made here) and returning a str, so that each can be routed through gettext by
changing its own body. The grading code chooses which text applies; it writes none.

No text holds a reference number: the callers pass names, labels and counts only.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.quoting import quoted

# ---------------------------------------------------------------- how blanks are named


def gradient_label(output: str, node: str) -> str:
    """How a backward blank is named: "df/dx0"."""
    return f"d{output}/d{node}"


def local_label(gate: str, input_: str) -> str:
    """How a local blank is named: "local ∂p0/∂x0", apart from df/dx0 even when the
    gate is the output."""
    return f"local ∂{gate}/∂{input_}"


def blank_label(kind: str, node: str, input_: str | None, output: str) -> str:
    """How a blank of any kind is named: "p0", "df/dp0", "local ∂p0/∂x0"."""
    if kind == "forward":
        return node
    if kind == "backward":
        return gradient_label(output, node)
    return local_label(node, input_ or "")


def join_and(names: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def shortened(names: Sequence[str]) -> list[str]:
    """At most three names: the first two and "n more"."""
    if len(names) > 3:
        return [*names[:2], f"{len(names) - 2} more"]
    return list(names)


def times(count: int) -> str:
    """"once", "twice", "3 times"."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


# ---------------------------------------------------------------- the submission

NOT_A_NUMBER_BOOLEAN = "true/false is not a number"
NOT_A_NUMBER_NAN = "NaN is not a number"
NOT_A_NUMBER_INFINITY = "infinity is not a number"
NUMBER_TOO_LARGE = "the number is too large"
BLANK_EMPTY = "the blank is empty"
NOT_A_NUMBER_TEXT = "text is not a number: send a JSON number, without quotes"


def not_a_number_json(json_type: str) -> str:
    """A JSON value of another type ("object", "array") where a number belongs."""
    return f"a JSON {json_type} is not a number"


def kind_not_asked(kind: str, asked: Sequence[str]) -> str:
    return f"this exercise does not ask for {kind} blanks (it asks for: {', '.join(asked)})"


def input_value_not_asked(node: str) -> str:
    return f"{quoted(node)} is an input: its value is given, not asked"


def no_such_gate(node: str) -> str:
    return f"no gate {quoted(node)} in this exercise"


def no_such_node(node: str) -> str:
    return f"no node {quoted(node)} in this exercise"


def input_has_no_local_gradient(node: str) -> str:
    return f"{quoted(node)} is an input: only gates have local gradients"


def not_an_input_of_gate(name: str, gate: str, inputs: Sequence[str]) -> str:
    return (f"{quoted(name)} is not an input of gate {quoted(gate)} "
            f"(its inputs: {', '.join(inputs)})")


UNKNOWN_FIELD = "unknown field: a submission has forward, backward and local"
SUBMISSION_NOT_AN_OBJECT = "a submission is a JSON object with forward, backward and local"
LOCAL_GATE_NOT_AN_OBJECT = "must be an object: input id -> local gradient"
LOCAL_NOT_AN_OBJECT = "must be an object: gate id -> {input id -> local gradient}"


def section_not_an_object(kind: str) -> str:
    """The forward or backward section is not an object of numbers."""
    what = "gate id" if kind == "forward" else "node id"
    return f"must be an object: {what} -> number"


# ---------------------------------------------------------------- one blank's verdict

CORRECT = "correct"
MISSING = "no value given"
TOO_FEW_DIGITS = (
    "insufficient precision: too few digits to judge within the tolerance; keep three "
    "significant figures or more, in the values you compute with too")


def format_error(detail: str) -> str:
    """A blank holding no usable number (`detail`: one of the texts above)."""
    return f"format error: {detail}; not graded"


def your_values(labels: Sequence[str], *, forward_value: bool, rounded: bool) -> str:
    """"your value of p0", "your df/ds", "your rounded values of p0 and p1": the
    student's numbers a blank was computed from (`forward_value`: one forward value)."""
    shown = join_and(shortened(labels))
    adjective = "rounded " if rounded else ""
    if len(labels) == 1:
        return f"your {adjective}{'value of ' if forward_value else ''}{shown}"
    return f"your {adjective}values of {shown}"


def consistent_after_error(where: str) -> str:
    return f"consistent with {where} (error carried forward)"


def consistent_after_rounding(where: str) -> str:
    return f"consistent with {where}: keep more digits to match the reference directly"


def no_carried_credit(where: str, why: str) -> str:
    """A blank computed right from a degenerate value (`why`: one of the reasons below)."""
    return f"follows from {where}, but {why}: no carried credit"


WHY_WRONG_ZERO = ("a wrong zero gradient (zero within the tolerance) makes every gradient "
                  "computed from it zero")
WHY_WRONG_UNIT = ("a wrong local gradient of one (within the tolerance) passes the upstream "
                  "gradient on unchanged")
WHY_DEGENERATE_FEED = ("a wrong zero or one (within the tolerance) entering a gate leaves "
                       "nothing to compute there (0·y = 0, 1·y = y, e^0 = 1, 1/1 = 1, "
                       "0 + 0 = 0)")
WHY_TAINTED = "that itself follows from a degenerate value"


# ---------------------------------------------------------------- the rule of each blank


def rule_forward(node: str, op: str, inputs: Sequence[str]) -> str:
    return f"recompute {node} = {op}({', '.join(inputs)}) from the values of its inputs"


def rule_local(gate: str, op: str, input_: str) -> str:
    return f"differentiate {gate} ({op}) with respect to {input_}"


def rule_output_gradient(output: str) -> str:
    return (f"the backward pass starts here: what is the derivative of {output} with "
            "respect to itself?")


def rule_one_consumer(output: str, node: str, consumer: str) -> str:
    return (f"d{output}/d{node} = d{output}/d{consumer} · (the local gradient of {consumer} "
            f"with respect to {node})")


def rule_many_consumers(output: str, node: str, consumers: Sequence[str]) -> str:
    return (f"d{output}/d{node} is the sum over the gates {node} feeds "
            f"({', '.join(consumers)}) of upstream gradient · local gradient")


# ---------------------------------------------------------------- diagnosed mistakes


def one_use_of_several(consumer: str, wrt: str, uses: int) -> str:
    """branch-not-summed, local blank: one use of an input a gate uses several times."""
    return (f"{consumer} uses {wrt} {times(uses)}: its local gradient with respect to {wrt} "
            "is the sum over each use (the product rule), not one use alone")


def some_uses_summed(consumer: str, node: str, uses: int, gradient: str, kept: int) -> str:
    """branch-not-summed, one consumer using the node several times: `kept` summed."""
    some = "one" if kept == 1 else f"{kept} of them"
    return (f"{consumer} uses {node} {times(uses)}: {gradient} is the sum of what comes back "
            f"through each use, not only {some}")


def some_branches_summed(node: str, gradient: str, branches: Sequence[tuple[str, int]],
                         left_out: Sequence[tuple[str, int, int]]) -> str:
    """branch-not-summed, several consumers: `branches` are (consumer, uses) of every
    consumer, `left_out` (consumer, uses left out, its uses) of those not summed in full."""
    via = [consumer + ("" if uses == 1 else f" ({times(uses)})") for consumer, uses in branches]
    missing = [consumer if out == uses else
               f"{'one use' if out == 1 else f'{out} uses'} in {consumer}"
               for consumer, out, uses in left_out]
    count = sum(uses for _, uses in branches)
    return (f"{node} feeds {count} branches ({', '.join(via)}): {gradient} is the sum of what "
            f"comes back along all of them; this leaves out {join_and(shortened(missing))}")


def mul_not_swapped(consumer: str, wrt: str, other: str) -> str:
    return (f"mul swaps its inputs: d{consumer}/d{wrt} is the other input ({other}), "
            f"not {wrt} itself")


def _which(op: str) -> str:
    return "largest" if op == "max" else "smallest"


def max_winner_gets_all(wrt: str, consumer: str, op: str) -> str:
    return (f"{wrt} is the {_which(op)} input of {consumer} ({op}): the whole upstream "
            f"gradient flows back to it through {consumer}")


def max_loser_gets_none(wrt: str, consumer: str, op: str) -> str:
    return (f"{wrt} is not the {_which(op)} input of {consumer} ({op}): no gradient flows "
            f"back to it through {consumer}")


def max_does_not_split(consumer: str, op: str) -> str:
    return (f"{op} does not split the upstream gradient between its inputs: it all flows "
            f"back to the {_which(op)} one (at {consumer})")


def sigmoid_derivative(consumer: str) -> str:
    return ("the local gradient of sigmoid(x) is sigmoid(x)·(1 - sigmoid(x)), not "
            f"sigmoid(x) or x (at {consumer})")


def inv_sign(consumer: str) -> str:
    return f"the local gradient of 1/x is -1/x²: the minus sign is missing (at {consumer})"


def inv_derivative(consumer: str) -> str:
    return f"the local gradient of 1/x is -1/x², not -1/x (at {consumer})"


def exp_derivative(consumer: str) -> str:
    return ("the local gradient of e^x is e^x itself (the gate's own output), not x or 1 "
            f"(at {consumer})")


def scale_factor_left_out(consumer: str) -> str:
    return f"the local gradient of a·x is the factor a: it was left out (at {consumer})"


def add_const_multiplied(consumer: str) -> str:
    return ("the local gradient of c + x is 1: the constant c adds, it does not multiply "
            f"(at {consumer})")


def no_upstream(upstream: Sequence[str]) -> str:
    """`upstream`: the labels of the upstream gradients left out."""
    return (f"chain rule: multiply the local gradient by the upstream gradient "
            f"({', '.join(upstream)}); this is the local gradient alone")


SIGN_FLIP = ("the sign is wrong: check the sign of each local gradient on the way back from "
             "the output")


def forward_as_gradient(node: str, gradient: str) -> str:
    return (f"this is the forward value of {node}; the blank asks for the gradient "
            f"{gradient}, from the backward pass")


def forward_as_local_gradient(gate: str, input_: str) -> str:
    return (f"this is the forward value of {gate}; the blank asks for the local gradient "
            f"∂{gate}/∂{input_}")


# ---------------------------------------------------------------- the summary

EVERY_BLANK_RIGHT = "Every blank is right."


def summary_format_errors(count: int) -> str:
    return (f"{count} blank{' holds' if count == 1 else 's hold'} no number: fix the format "
            "errors and submit again; nothing was graded.")


def summary_blanks_left(count: int) -> str:
    return f"Nothing typed is wrong; {count} blank(s) left to fill."


def summary_rounded(count: int) -> str:
    return (f"Nothing is wrong; {count} value(s) follow from rounded numbers: keep more "
            "digits.")


def summary_start_here(label: str, kind: str, message: str, carried_into: int) -> str:
    """Where to start fixing: the first error's label, its kind (not repeated for a local
    blank, whose label says so), its message, and how many later blanks it reached."""
    named = "" if kind == "local" else f" ({kind})"
    tail = (f" It carried into {carried_into} later blank{'s' if carried_into != 1 else ''}."
            if carried_into else "")
    return f"Start fixing here: {label}{named}: {message}.{tail}"
