"""The YAML exercise format: pydantic models, `load_exercise()`, and located errors.

Loading is three steps, each reporting every problem it finds:

1. YAML -> Python with PyYAML's C loader where available (anchors and aliases are
   rejected: they let a small file expand into an exponentially large document);
2. the document -> pydantic models (types, ops, parameters, unknown keys);
3. graph checks as small pure functions (duplicate ids, undefined references, arity,
   cycles, an output that is not a gate, nodes that do not reach the output).

Line numbers are only looked up when there is something to report, so a valid file
pays nothing for them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from engine.errors import ExerciseError, Problem, Text, mark
from engine.expressions import ExpressionError, expand_expression
from engine.graph import Gate, Graph
from engine.graph_checks import check_graph
from engine.ops import OPS
from engine.quoting import quoted
from engine.spec_source import (
    INPUT_KINDS,
    NODE_KINDS,
    Locator,
    SpecValueError,
    check_size,
    parse_yaml,
    read_source,
    shown_value,
    spec_nodes,
)

DEFAULT_MAX_BYTES = 1_048_576
DEFAULT_REL_TOLERANCE = 0.01
DEFAULT_ABS_TOLERANCE = 0.005
MAX_GRID_POINTS = 1_000_000_000





def _reject_non_numbers(value: Any) -> Any:
    # pydantic's lax float accepts True and "1.5"; a spec must say what it means.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecValueError(Text.of(mark("expected a number, got {type} {value}"),
                                  type=type(value).__name__, value=shown_value(value)))
    return value




def _printable(allowed: str) -> AfterValidator:
    def check(text: str) -> str:
        for n, ch in enumerate(text, start=1):
            if (ch < " " and ch not in allowed) or ch == "\x7f":
                raise SpecValueError(Text.of(mark("control character {character} at character "
                                               "{position}"),
                                          character=repr(ch), position=str(n)))
        return text

    return AfterValidator(check)


# Text shown to students and stored by the service: no NUL or other control characters.
_one_line = _printable("")
_text = _printable("\n\t\r")

Number = Annotated[float, BeforeValidator(_reject_non_numbers), AllowInfNan(False)]
NonNegative = Annotated[Number, Field(ge=0)]
Count = Annotated[int, Strict()]  # no True for 1, no "2" for 2
NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
ExerciseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
Blank = Literal["forward", "backward", "local"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Tolerance(_Strict):
    """How close a typed number must be: rel+abs (default), significant figures, or
    decimal places. A blank is right when |x - ref| <= max(abs, rel·|ref|)."""

    rel: NonNegative | None = None
    abs: NonNegative | None = None
    sigfigs: Annotated[Count, Field(ge=1, le=15)] | None = None
    decimals: Annotated[Count, Field(ge=0, le=15)] | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> Tolerance:
        modes = [self.rel is not None or self.abs is not None,
                 self.sigfigs is not None, self.decimals is not None]
        if sum(modes) > 1:
            raise SpecValueError(Text.of(mark("choose one of rel/abs, sigfigs or decimals")))
        return self

    @property
    def mode(self) -> Literal["relabs", "sigfigs", "decimals"]:
        if self.sigfigs is not None:
            return "sigfigs"
        if self.decimals is not None:
            return "decimals"
        return "relabs"

    def resolved(self) -> Tolerance:
        """The same tolerance with the documented defaults filled in."""
        if self.mode != "relabs":
            return self
        return Tolerance(
            rel=DEFAULT_REL_TOLERANCE if self.rel is None else self.rel,
            abs=DEFAULT_ABS_TOLERANCE if self.abs is None else self.abs,
        )


class Uniform(_Strict):
    """A random real in [lo, hi]: on a grid of `step` when given, else to `decimals`."""

    uniform: tuple[Number, Number]
    step: Annotated[Number, Field(gt=0)] | None = None
    decimals: Annotated[Count, Field(ge=0, le=6)] = 2

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        lo, hi = self.uniform
        if lo >= hi:
            raise SpecValueError(Text.of(mark("uniform: [low, high] needs low < high")))
        if self.step is not None and not (hi - lo) / self.step <= MAX_GRID_POINTS:
            raise SpecValueError(Text.of(
                mark("step is too small: more than {count} values in the range"),
                count=str(MAX_GRID_POINTS)))
        return self


class RandInt(_Strict):
    """A random integer in [lo, hi], both ends included."""

    randint: tuple[Count, Count]

    @model_validator(mode="after")
    def _ordered(self) -> RandInt:
        if self.randint[0] > self.randint[1]:
            raise SpecValueError(Text.of(mark("randint: [low, high] needs low <= high")))
        return self


class Choice(_Strict):
    """One of the listed values."""

    choice: Annotated[list[Number], Field(min_length=1)]


def _input_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("uniform", "randint", "choice"):
            if key in value:
                return key
        return None
    return "fixed"



InputValue = Annotated[
    Annotated[Number, Tag("fixed")]
    | Annotated[Uniform, Tag("uniform")]
    | Annotated[RandInt, Tag("randint")]
    | Annotated[Choice, Tag("choice")],
    Discriminator(
        _input_kind,
        custom_error_type="input_kind",
        custom_error_message=str(INPUT_KINDS),
    ),
]


class _NodeBase(_Strict):
    id: NodeId
    tolerance: Tolerance | None = None


class ExprNode(_NodeBase):
    """Shorthand: an arithmetic expression that expands into primitive gates."""

    expr: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class GateNode(_NodeBase):
    """Base of the generated per-op models: `in` lists the inputs, in order."""

    inputs: Annotated[list[NodeId], Field(alias="in", min_length=1)]
    if TYPE_CHECKING:
        op: str  # a Literal field of each generated model (see _gate_model)


def _gate_model(op_name: str) -> type[GateNode]:
    fields: dict[str, Any] = {"op": (Literal[op_name], ...)}
    fields.update((p, (Number, ...)) for p in OPS[op_name].params)
    return create_model(  # one model per op, so a misspelled parameter is caught
        f"{op_name.title().replace('_', '')}Node", __base__=GateNode, **fields
    )


GATE_MODELS: dict[str, type[GateNode]] = {name: _gate_model(name) for name in OPS}


def _node_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "op" in value:
            op = value["op"]
            return op if isinstance(op, str) and op in GATE_MODELS else "?unknown-op"
        if "expr" in value:
            return "expr"
    return None



# The union of every op's model is built from the registry, so adding an op needs no edit here.
_node_choices = tuple(Annotated[m, Tag(name)] for name, m in GATE_MODELS.items())
if TYPE_CHECKING:
    NodeSpec = GateNode | ExprNode  # what the union built below holds, to a type checker
else:
    NodeSpec = Annotated[
        Union[(*_node_choices, Annotated[ExprNode, Tag("expr")])],
        Discriminator(
            _node_kind,
            custom_error_type="node_kind",
            custom_error_message=str(NODE_KINDS),
        ),
    ]


_NODE_ADAPTER: TypeAdapter[Any] = TypeAdapter(NodeSpec)


_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")


def _language_tag(tag: str) -> str:
    if not _LANGUAGE_TAG.fullmatch(tag):
        raise SpecValueError(Text.of(mark("{tag} is not a language tag such as pt-BR or en"),
                                  tag=quoted(tag)))
    return tag


# A language as HTTP and HTML write it (BCP 47): "pt-BR", "en".
LanguageTag = Annotated[str, AfterValidator(_language_tag)]


class ExerciseText(_Strict):
    """An exercise's title and description in another language."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=200), _one_line]
    description: Annotated[str, _text] = ""


class ExerciseSpec(_Strict):
    """The document an instructor writes, as validated (before graph checks)."""

    id: ExerciseId
    title: Annotated[str, StringConstraints(min_length=1, max_length=200), _one_line]
    description: Annotated[str, _text] = ""
    inputs: Annotated[dict[NodeId, InputValue], Field(min_length=1)]
    nodes: Annotated[list[NodeSpec], Field(min_length=1)]
    output: NodeId
    tolerance: Tolerance = Tolerance()
    ask: Annotated[list[Blank], Field(min_length=1)] = ["forward", "backward"]
    practice: bool = True
    # The title and description for readers of other languages.
    translations: dict[LanguageTag, ExerciseText] = {}

    @model_validator(mode="after")
    def _unique_ask(self) -> ExerciseSpec:
        if len(set(self.ask)) != len(self.ask):
            raise SpecValueError(Text.of(mark("ask lists a blank kind twice")))
        return self


@dataclass(frozen=True, eq=False)
class Exercise:
    """A validated exercise: the spec, its gates in topological order, and its graph."""

    id: str
    title: str
    description: str
    inputs: Mapping[str, float | Uniform | RandInt | Choice]
    gates: tuple[Gate, ...]
    output: str
    tolerance: Tolerance
    node_tolerances: Mapping[str, Tolerance]
    ask: tuple[Blank, ...]
    practice: bool
    source: str = "<text>"
    text: str = field(default="", repr=False)
    # Language tag → (title, description), for readers of other languages.
    translations: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def text_in(self, language: str) -> tuple[str, str]:
        """The title and description for a reader of `language` ("pt-BR"; a tag of the
        same language without its region, such as "pt", also matches), else the ones
        the exercise is written in."""
        found = self.translations.get(language)
        if found is None:
            base = language.split("-")[0]
            found = next((t for tag, t in self.translations.items()
                          if tag.split("-")[0] == base), None)
        return found if found is not None else (self.title, self.description)

    @cached_property
    def graph(self) -> Graph:
        return Graph(list(self.inputs), self.gates, self.output)

    @property
    def randomized(self) -> bool:
        return any(not isinstance(v, float) for v in self.inputs.values())

    @cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def line_of(self, node: str) -> int | None:
        """The line of the spec that defines a node (or the `expr` it came from)."""
        gate = next((g for g in self.gates if g.id == node), None)
        name = gate.expanded_from or node if gate is not None else node
        locate = Locator(self.text, self.source, {})
        if name in self.inputs:
            return locate.line(("inputs", name))
        for k, item in enumerate(spec_nodes(locate)):
            if item == name:
                return locate.line(("nodes", k))
        return None

    def tolerance_for(self, node: str) -> Tolerance:
        """The tolerance a node's blanks are graded with (defaults filled in)."""
        return _resolved(self.node_tolerances.get(node, self.tolerance))


@lru_cache(maxsize=1024)
def _resolved(tolerance: Tolerance) -> Tolerance:
    return tolerance.resolved()



def load_exercise(
    source: str | os.PathLike[str], *, max_bytes: int | None = DEFAULT_MAX_BYTES
) -> Exercise:
    """Load and validate an exercise from a path or from YAML text.

    A `str` is read as a path when it is a single line naming an existing file,
    otherwise as YAML text. Raises `ExerciseError` carrying every located problem.
    `max_bytes=None` lifts the size limit.
    """
    text, file = read_source(source, max_bytes)
    return _parse(text, file)


def parse_exercise(
    text: str, *, file: str = "<text>", max_bytes: int | None = DEFAULT_MAX_BYTES
) -> Exercise:
    """Load and validate an exercise from YAML text, never read as a path (for text
    from a client). `file` names it in error messages."""
    check_size(text, file, max_bytes)
    return _parse(text, file)


def _parse(text: str, file: str) -> Exercise:
    data = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise ExerciseError([Problem.of(
            Text.of(mark("the document must be a mapping (id:, title:, ...)")), file, 1)])
    locate = Locator(text, file, data)
    try:
        spec = ExerciseSpec.model_validate(data)
    except ValidationError as exc:
        problems = locate.pydantic_problems(exc)
        outline = Outline.of_invalid(data)
        gates, more = _expand_nodes(outline, locate)
        problems += more + check_graph(outline, gates, locate, complete=False)[0]
        raise ExerciseError(problems) from None
    outline = Outline.of_spec(spec)
    gates, problems = _expand_nodes(outline, locate)
    # A node whose expression failed is missing from the graph: skip the checks that
    # would then report its inputs as unused.
    more, ordered = check_graph(outline, gates, locate, complete=not problems)
    problems += more
    if problems:
        raise ExerciseError(problems)
    return Exercise(
        id=spec.id,
        title=spec.title,
        description=spec.description,
        inputs=dict(spec.inputs),
        gates=tuple(ordered),
        output=spec.output,
        tolerance=spec.tolerance,
        node_tolerances=_node_tolerances(spec, ordered),
        ask=tuple(spec.ask),
        practice=spec.practice,
        source=file,
        text=text,
        translations={tag: (t.title, t.description) for tag, t in spec.translations.items()},
    )


def _node_tolerances(spec: ExerciseSpec, gates: Sequence[Gate]) -> dict[str, Tolerance]:
    """Each gate's own tolerance; an `expr` node's applies to every gate it expands to."""
    own = {n.id: n.tolerance for n in spec.nodes if n.tolerance is not None}
    if not own:
        return {}
    return {g.id: own[g.expanded_from or g.id] for g in gates if (g.expanded_from or g.id) in own}


@dataclass(frozen=True)
class Outline:
    """What the graph checks need: input names, the nodes that validated (with their
    position in `nodes:`), the output, and every id written (valid node or not)."""

    inputs: tuple[str, ...]
    nodes: tuple[tuple[int, ExprNode | GateNode], ...]
    output: str | None
    written_ids: frozenset[str]

    @classmethod
    def of_spec(cls, spec: ExerciseSpec) -> Outline:
        return cls(tuple(spec.inputs), tuple(enumerate(spec.nodes)), spec.output,
                   frozenset(n.id for n in spec.nodes))

    @classmethod
    def of_invalid(cls, data: dict[str, Any]) -> Outline:
        """The parts of a document that failed validation which are still sound, so
        that graph problems are reported along with the type errors."""
        raw_inputs = data.get("inputs")
        inputs = tuple(k for k in raw_inputs if isinstance(k, str)) if isinstance(
            raw_inputs, dict) else ()
        written_nodes = data.get("nodes")
        raw_nodes = written_nodes if isinstance(written_nodes, list) else []
        nodes = []
        ids = set()
        for k, item in enumerate(raw_nodes):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                ids.add(item["id"])
            try:
                nodes.append((k, _NODE_ADAPTER.validate_python(item)))
            except ValidationError:
                continue
        output = data.get("output") if isinstance(data.get("output"), str) else None
        return cls(inputs, tuple(nodes), output, frozenset(ids))


# ---------------------------------------------------------------- expressions


def _expand_nodes(outline: Outline, locate: Locator) -> tuple[list[Gate], list[Problem]]:
    gates: list[Gate] = []
    problems: list[Problem] = []
    for k, node in outline.nodes:
        if isinstance(node, ExprNode):
            try:
                expanded = expand_expression(node.id, node.expr)
            except ExpressionError as exc:
                problems.append(locate.problem(("nodes", k, "expr"), exc.text, "expr"))
                continue
            gates.extend(expanded)
        else:
            params = {p: getattr(node, p) for p in OPS[node.op].params}
            gates.append(Gate(node.id, node.op, tuple(node.inputs), params))
    return gates, problems

