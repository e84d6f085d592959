"""Every text a student reads about a submission, but the diagnosed mistakes' own.

Labels of blanks, gates as the lecture draws them, format and field errors, each blank's
verdict, the rule of each kind of blank, the precision asked for and the one-sentence
summary. Each text is a function that makes it in the current language
(grader.i18n): English in the code, Brazilian Portuguese in the catalogs. Texts with
parts take the parts (names, counts, labels) and put them in by name, so a translation
may reorder them. The grading code chooses which text applies; it writes none. The
diagnosed mistakes' texts are next to the hypotheses that find them
(grader.scoring.mistakes and its parts).

No text holds a reference number: the callers pass names, labels and counts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.ops import OPS, num
from engine.quoting import quoted
from grader.i18n import gettext as _
from grader.i18n import ngettext

# ---------------------------------------------------------------- gates as drawn

_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def gate_symbol(op: str, params: Mapping[str, float]) -> str:
    """A gate as the lecture draws it: "×", "+", "+1", "×-1", "1/x", "eˣ", "σ", "max".
    The one place an op is named to a student (never its internal name)."""
    if op == "scale":
        return f"×{num(params['a'])}"
    if op == "add_const":
        c = params["c"]
        return f"+{num(c)}" if c >= 0 else num(c)
    if op == "pow":
        p = num(params["p"])
        return f"x{p.translate(_SUPERSCRIPTS)}" if p.lstrip("-").isdigit() else f"x^{p}"
    return _SYMBOLS.get(op, op)


_SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "−x", "sqrt": "√x",
            "exp": "eˣ", "log": "ln", "inv": "1/x", "abs": "|x|", "max": "max", "min": "min",
            "relu": "ReLU", "sigmoid": "σ", "tanh": "tanh", "sin": "sin", "cos": "cos"}


def formula(op: str, inputs: Sequence[str], params: Mapping[str, float]) -> str:
    """A gate's value written with its inputs' names: "w0·x0", "1/d", "e^n"."""
    return OPS[op].show(list(inputs), params)


# ---------------------------------------------------------------- how blanks are named


def gradient_label(output: str, node: str) -> str:
    """How a backward blank is named: "df/dx0"."""
    return f"d{output}/d{node}"


def local_label(gate: str, input_: str) -> str:
    """How a local blank is named: "local ∂p0/∂x0", apart from df/dx0 even when the
    gate is the output."""
    return _("local ∂{gate}/∂{input}").format(gate=gate, input=input_)


def blank_label(kind: str, node: str, input_: str | None, output: str) -> str:
    """How a blank of any kind is named: "p0", "df/dp0", "local ∂p0/∂x0"."""
    if kind == "forward":
        return node
    if kind == "backward":
        return gradient_label(output, node)
    return local_label(node, input_ or "")


def kind_name(kind: str) -> str:
    """A kind of blank, as a student reads it."""
    if kind == "forward":
        return _("forward")
    return _("backward") if kind == "backward" else _("local")


def join_and(names: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(names) == 1:
        return names[0]
    return _("{names} and {last}").format(names=", ".join(names[:-1]), last=names[-1])


def shortened(names: Sequence[str]) -> list[str]:
    """At most three names: the first two and "n more"."""
    if len(names) > 3:
        more = len(names) - 2
        return [*names[:2], ngettext("{count} more", "{count} more", more).format(count=more)]
    return list(names)


def times(count: int) -> str:
    """"once", "twice", "3 times"."""
    if count == 1:
        return _("once")
    if count == 2:
        return _("twice")
    return ngettext("{count} time", "{count} times", count).format(count=count)


# ---------------------------------------------------------------- the submission


def not_a_number_boolean() -> str:
    return _("true/false is not a number")


def not_a_number_nan() -> str:
    return _("NaN is not a number")


def not_a_number_infinity() -> str:
    return _("infinity is not a number")


def number_too_large() -> str:
    return _("the number is too large")


def blank_empty() -> str:
    return _("the blank is empty")


def not_a_number_text() -> str:
    return _("text is not a number: send a JSON number, without quotes")


def decimal_comma(typed: str, meant: str) -> str:
    """A number written with a decimal comma ("0,39"): `meant` is it with a point."""
    return _("{typed} has a decimal comma: send {meant}, with a decimal point, as a JSON "
             "number").format(typed=typed, meant=meant)


def not_a_number_json(json_type: str) -> str:
    """A JSON value of another type ("object", "array") where a number belongs."""
    if json_type == "object":
        return _("a JSON object is not a number")
    if json_type == "array":
        return _("a JSON array is not a number")
    return _("a JSON {type} is not a number").format(type=json_type)


def kind_not_asked(kind: str, asked: Sequence[str]) -> str:
    return _("this exercise does not ask for {kind} blanks (it asks for: {asked})").format(
        kind=kind, asked=", ".join(asked))


def input_value_not_asked(node: str) -> str:
    return _("{node} is an input: its value is given, not asked").format(node=shown_name(node))


def no_such_gate(node: str) -> str:
    return _("no gate {node} in this exercise").format(node=shown_name(node))


def no_such_node(node: str) -> str:
    return _("no node {node} in this exercise").format(node=shown_name(node))


def input_has_no_local_gradient(node: str) -> str:
    return _("{node} is an input: only gates have local gradients").format(node=shown_name(node))


def not_an_input_of_gate(name: str, gate: str, inputs: Sequence[str]) -> str:
    return _("{name} is not an input of gate {gate} (its inputs: {inputs})").format(
        name=shown_name(name), gate=shown_name(gate), inputs=", ".join(inputs))


def shown_name(name: str) -> str:
    """A name the student sent, quoted; cut to its start, with its length, when long."""
    return quoted(name, length_note=_("{count} characters"))


def unknown_field() -> str:
    return _("unknown field: a submission has forward, backward and local")


def submission_not_an_object() -> str:
    return _("a submission is a JSON object with forward, backward and local")


def local_gate_not_an_object() -> str:
    return _("must be an object: input id -> local gradient")


def local_not_an_object() -> str:
    return _("must be an object: gate id -> {input id -> local gradient}")


def section_not_an_object(kind: str) -> str:
    """The forward or backward section is not an object of numbers."""
    if kind == "forward":
        return _("must be an object: gate id -> number")
    return _("must be an object: node id -> number")


# ---------------------------------------------------------------- one blank's verdict


def correct() -> str:
    return _("correct")


def missing() -> str:
    return _("no value given")


def too_few_digits(decimals: int | None, sigfigs: int | None) -> str:
    """A right value rounded too far to be judged: how many digits the tolerance asks
    for, as decimal places or significant figures (whichever the tolerance counts)."""
    if sigfigs is not None:
        return ngettext(
            "insufficient precision: this is the right value rounded too far to be judged "
            "within the tolerance; type {count} significant figure, and keep more digits "
            "in the values you compute with",
            "insufficient precision: this is the right value rounded too far to be judged "
            "within the tolerance; type {count} significant figures, and keep more digits "
            "in the values you compute with", sigfigs).format(count=sigfigs)
    count = decimals or 0
    return ngettext(
        "insufficient precision: this is the right value rounded too far to be judged "
        "within the tolerance; type {count} decimal place, and keep more digits in the "
        "values you compute with",
        "insufficient precision: this is the right value rounded too far to be judged "
        "within the tolerance; type {count} decimal places, and keep more digits in the "
        "values you compute with", count).format(count=count)


def format_error(detail: str) -> str:
    """A blank holding no usable number (`detail`: one of the texts above)."""
    return _("format error: {detail}; not graded").format(detail=detail)


def your_values(labels: Sequence[str], *, forward_value: bool, rounded: bool) -> str:
    """"your value of p0", "your df/ds", "your rounded values of p0 and p1": the
    student's numbers a blank was computed from (`forward_value`: one forward value)."""
    shown = join_and(shortened(labels))
    if len(labels) > 1:
        if rounded:
            return _("your rounded values of {blanks}").format(blanks=shown)
        return _("your values of {blanks}").format(blanks=shown)
    if forward_value:
        if rounded:
            return _("your rounded value of {blank}").format(blank=shown)
        return _("your value of {blank}").format(blank=shown)
    if rounded:
        return _("your rounded {blank}").format(blank=shown)
    return _("your {blank}").format(blank=shown)


def consistent_after_error(where: str) -> str:
    return _("consistent with {where} (error carried forward)").format(where=where)


def consistent_after_rounding(where: str) -> str:
    return _("consistent with {where}: keep more digits to match the reference "
             "directly").format(where=where)


def no_carried_credit(where: str, why: str) -> str:
    """A blank computed right from a degenerate value (`why`: one of the reasons below)."""
    return _("follows from {where}, but {why}: no carried credit").format(where=where, why=why)


def why_wrong_zero() -> str:
    return _("a wrong zero gradient (zero within the tolerance) makes every gradient "
             "computed from it zero")


def why_wrong_unit() -> str:
    return _("a wrong local gradient of one (within the tolerance) passes the upstream "
             "gradient on unchanged")


def why_copied_unit() -> str:
    return _("a wrong gradient of one (within the tolerance), passed back through a gate "
             "whose local gradient is one, leaves nothing to compute")


def why_forward_values_copied() -> str:
    return _("it holds a forward value where a gradient belongs, as several blanks do")


def why_degenerate_feed() -> str:
    return _("a wrong zero or one (within the tolerance) entering a gate leaves nothing to "
             "compute there (0·y = 0, 1·y = y, e^0 = 1, 1/1 = 1, 0 + 0 = 0)")


def why_tainted() -> str:
    return _("that itself follows from a degenerate value")


# ---------------------------------------------------------------- the rule of each blank


def rule_forward(node: str, op: str, inputs: Sequence[str],
                 params: Mapping[str, float]) -> str:
    return _("recompute {node} = {formula} from the values of its inputs").format(
        node=node, formula=formula(op, inputs, params))


def rule_local(gate: str, op: str, inputs: Sequence[str], params: Mapping[str, float],
               input_: str) -> str:
    return _("differentiate {gate} = {formula} with respect to {input} (the local "
             "derivative)").format(gate=gate, formula=formula(op, inputs, params),
                                   input=input_)


def rule_output_gradient(output: str) -> str:
    return _("the backward pass starts here: what is the derivative of {output} with "
             "respect to itself?").format(output=output)


def rule_one_consumer(output: str, node: str, consumer: str) -> str:
    return _("{gradient} = {upstream} · (the local gradient of {consumer} with respect to "
             "{node}): the chain rule").format(
        gradient=gradient_label(output, node), upstream=gradient_label(output, consumer),
        consumer=consumer, node=node)


def rule_many_consumers(output: str, node: str, consumers: Sequence[str]) -> str:
    return _("{gradient} is the sum over the gates {node} feeds ({consumers}) of upstream "
             "gradient · local gradient").format(
        gradient=gradient_label(output, node), node=node, consumers=", ".join(consumers))


# ---------------------------------------------------------------- the summary


def every_blank_right() -> str:
    return _("Every blank is right.")


def summary_format_errors(count: int) -> str:
    return ngettext(
        "{count} blank holds no number: fix the format errors and submit again; nothing "
        "was graded.",
        "{count} blanks hold no number: fix the format errors and submit again; nothing "
        "was graded.", count).format(count=count)


def summary_blanks_left(count: int) -> str:
    return ngettext("Nothing typed is wrong; {count} blank(s) left to fill.",
                    "Nothing typed is wrong; {count} blank(s) left to fill.",
                    count).format(count=count)


def summary_rounded(count: int) -> str:
    return ngettext(
        "Nothing is wrong; {count} value(s) follow from rounded numbers: keep more digits.",
        "Nothing is wrong; {count} value(s) follow from rounded numbers: keep more digits.",
        count).format(count=count)


def summary_start_here(label: str, kind: str, message: str, carried_into: int) -> str:
    """Where to start fixing: the first error's label, its kind (not repeated for a local
    blank, whose label says so), its message, and how many later blanks it reached."""
    if kind == "local":
        text = _("Start fixing here: {blank}: {message}.").format(blank=label, message=message)
    else:
        text = _("Start fixing here: {blank} ({kind}): {message}.").format(
            blank=label, kind=kind_name(kind), message=message)
    if not carried_into:
        return text
    return text + " " + ngettext("It carried into {count} later blank.",
                                 "It carried into {count} later blanks.",
                                 carried_into).format(count=carried_into)
