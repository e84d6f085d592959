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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
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
from engine.graph import CycleError, Gate, Graph, topological_order
from engine.ops import OPS
from engine.quoting import quoted, shortened

DEFAULT_MAX_BYTES = 1_048_576
DEFAULT_REL_TOLERANCE = 0.01
DEFAULT_ABS_TOLERANCE = 0.005
MAX_GRID_POINTS = 1_000_000_000

_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecValueError(ValueError):
    """A value a validator refuses, with its message as a template and parameters."""

    def __init__(self, message: Text) -> None:
        super().__init__(message.render())
        self.text = message


def _reject_non_numbers(value: Any) -> Any:
    # pydantic's lax float accepts True and "1.5"; a spec must say what it means.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecValueError(Text.of(mark("expected a number, got {type} {value}"),
                                  type=type(value).__name__, value=_shown(value)))
    return value


def _shown(value: Any) -> str:
    """A value a spec gave, for a message: strings through `quoted`, others by repr, cut."""
    return quoted(value) if isinstance(value, str) else shortened(repr(value))


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


_INPUT_KINDS = Text.of(mark("an input is a number, or {{uniform: [lo, hi]}}, {{randint: [lo, hi]}} "
                        "or {{choice: [...]}}"))

InputValue = Annotated[
    Annotated[Number, Tag("fixed")]
    | Annotated[Uniform, Tag("uniform")]
    | Annotated[RandInt, Tag("randint")]
    | Annotated[Choice, Tag("choice")],
    Discriminator(
        _input_kind,
        custom_error_type="input_kind",
        custom_error_message=str(_INPUT_KINDS),
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


_NODE_KINDS = Text.of(mark("a node needs `op` (one of: {ops}) or `expr`"), ops=", ".join(OPS))

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
            custom_error_message=str(_NODE_KINDS),
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
        locate = _Locator(self.text, self.source, {})
        if name in self.inputs:
            return locate.line(("inputs", name))
        for k, item in enumerate(_spec_nodes(locate)):
            if item == name:
                return locate.line(("nodes", k))
        return None

    def tolerance_for(self, node: str) -> Tolerance:
        """The tolerance a node's blanks are graded with (defaults filled in)."""
        return _resolved(self.node_tolerances.get(node, self.tolerance))


@lru_cache(maxsize=1024)
def _resolved(tolerance: Tolerance) -> Tolerance:
    return tolerance.resolved()


# ---------------------------------------------------------------- loading


class _LocatedYAMLError(Exception):
    def __init__(self, message: Text, line: int, node: str | None = None) -> None:
        self.message = message
        self.line = line
        self.node = node


class _NoDuplicateKeys:
    """Refuses a key written twice in one mapping (PyYAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # A mixin: the loader it is mixed into provides construct_mapping.
        mapping: dict[Any, Any] = super().construct_mapping(  # type: ignore[misc]  # mixin
            node, deep)
        if len(mapping) != len(node.value):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.value in seen:
                    raise _LocatedYAMLError(
                        Text.of(mark("{key} is written twice in the same mapping"),
                             key=_shown(key_node.value)),
                        key_node.start_mark.line + 1, shortened(str(key_node.value)))
                seen.add(key_node.value)
        return mapping


# _SafeLoader is PyYAML's C loader or its Python one, picked at import (a plain `type`).
class _FastLoader(_NoDuplicateKeys, _SafeLoader):  # type: ignore[misc]  # base picked at import
    """For text without `&` or `*`, where no anchor or alias can be."""


class _StrictLoader(_NoDuplicateKeys, _SafeLoader):  # type: ignore[misc]  # base picked at import
    """Refuses anchors/aliases (a node constructed twice) and locates the errors of
    PyYAML's own constructors. It costs a Python call per node, so it runs only
    where the fast loader cannot be used or has failed."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        line = node.start_mark.line + 1
        if node in self.constructed_objects:
            raise _LocatedYAMLError(Text.of(
                mark("YAML anchors and aliases are not allowed (write the value out)")), line)
        try:
            return super().construct_object(node, deep)
        except (_LocatedYAMLError, yaml.YAMLError):
            raise
        except Exception as exc:
            raise _LocatedYAMLError(
                Text.of(mark("invalid YAML value: {reason}"), reason=str(exc)), line) from None


def load_exercise(
    source: str | os.PathLike[str], *, max_bytes: int | None = DEFAULT_MAX_BYTES
) -> Exercise:
    """Load and validate an exercise from a path or from YAML text.

    A `str` is read as a path when it is a single line naming an existing file,
    otherwise as YAML text. Raises `ExerciseError` carrying every located problem.
    `max_bytes=None` lifts the size limit.
    """
    text, file = _read_source(source, max_bytes)
    return _parse(text, file)


def parse_exercise(
    text: str, *, file: str = "<text>", max_bytes: int | None = DEFAULT_MAX_BYTES
) -> Exercise:
    """Load and validate an exercise from YAML text, never read as a path (for text
    from a client). `file` names it in error messages."""
    _check_size(text, file, max_bytes)
    return _parse(text, file)


def _parse(text: str, file: str) -> Exercise:
    data = _parse_yaml(text, file)
    if not isinstance(data, dict):
        raise ExerciseError([Problem.of(
            Text.of(mark("the document must be a mapping (id:, title:, ...)")), file, 1)])
    locate = _Locator(text, file, data)
    try:
        spec = ExerciseSpec.model_validate(data)
    except ValidationError as exc:
        problems = locate.pydantic_problems(exc)
        outline = _Outline.of_invalid(data)
        gates, more = _expand_nodes(outline, locate)
        problems += more + check_graph(outline, gates, locate, complete=False)[0]
        raise ExerciseError(problems) from None
    outline = _Outline.of_spec(spec)
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


def _read_source(source: str | os.PathLike[str], max_bytes: int | None) -> tuple[str, str]:
    is_path = isinstance(source, os.PathLike) or (
        "\n" not in source and len(source) < 4096 and os.path.isfile(source)
    )
    if not is_path:
        text = str(source)
        _check_size(text, "<text>", max_bytes)
        return text, "<text>"
    path = Path(source)
    file = str(source)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ExerciseError([_too_big(size, max_bytes, file)])
        return path.read_text(encoding="utf-8"), file
    except (OSError, UnicodeDecodeError) as exc:
        raise ExerciseError([Problem.of(
            Text.of(mark("cannot read the file: {reason}"), reason=str(exc)), file)]) from None


def _check_size(text: str, file: str, max_bytes: int | None) -> None:
    try:
        size = len(text.encode())
    except UnicodeError:
        raise ExerciseError([Problem.of(Text.of(mark("the text is not valid Unicode")), file)]
                            ) from None
    if max_bytes is not None and size > max_bytes:
        raise ExerciseError([_too_big(size, max_bytes, file)])


def _too_big(size: int, max_bytes: int, file: str) -> Problem:
    return Problem.of(Text.of(mark("the document is {size} bytes, over the limit of {limit}"),
                           size=str(size), limit=str(max_bytes)), file)


def _parse_yaml(text: str, file: str) -> Any:
    if "&" not in text and "*" not in text:
        fast = _FastLoader(text)
        try:
            return fast.get_single_data()
        except Exception:
            pass
        finally:
            fast.dispose()
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except _LocatedYAMLError as exc:
        raise ExerciseError([Problem.of(exc.message, file, exc.line, exc.node)]) from None
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        line = where.line + 1 if where is not None else None
        reason = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise ExerciseError([_invalid_yaml(reason, file, line)]) from None
    except yaml.reader.ReaderError as exc:
        # Raised before any token has a mark: the line is counted from the position.
        line = text.count("\n", 0, exc.position) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ExerciseError([Problem.of(Text.of(
            mark("invalid YAML: the character {character} is not allowed (YAML text has no "
                 "control characters)"), character=repr(character)), file, line,
        )]) from None
    except yaml.YAMLError as exc:
        raise ExerciseError([_invalid_yaml(str(exc), file)]) from None
    except Exception as exc:
        raise ExerciseError([_invalid_yaml(str(exc), file, 1)]) from None
    finally:
        loader.dispose()


def _invalid_yaml(reason: str, file: str, line: int | None = None) -> Problem:
    # The parser's own words for what is wrong, as PyYAML writes them.
    return Problem.of(Text.of(mark("invalid YAML: {reason}"), reason=reason), file, line)


class _Locator:
    """Maps a path in the document (("nodes", 3, "in")) to a line and a node id."""

    def __init__(self, text: str, file: str, data: dict[str, Any]) -> None:
        self.text = text
        self.file = file
        self.data = data
        self._root: yaml.Node | None = None

    @property
    def root(self) -> yaml.Node | None:
        if self._root is None:
            try:
                self._root = yaml.compose(self.text, Loader=_SafeLoader)
            except yaml.YAMLError:
                return None
        return self._root

    def line(self, path: Sequence[str | int]) -> int | None:
        node = self.root
        if node is None:
            return None
        for key in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                        # a mapping key names the line of the field itself
                        child = v if isinstance(v, yaml.CollectionNode) else k
                        break
            elif (isinstance(node, yaml.SequenceNode) and isinstance(key, int)
                  and 0 <= key < len(node.value)):
                child = node.value[key]
            if child is None:
                continue  # a tag or a key that is not in the text: stay on the parent
            node = child
        return node.start_mark.line + 1

    def node_id(self, path: Sequence[str | int]) -> str | None:
        if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
            nodes = self.data.get("nodes")
            if isinstance(nodes, list) and 0 <= path[1] < len(nodes):
                item = nodes[path[1]]
                node_id = item.get("id") if isinstance(item, dict) else None
                return shortened(node_id) if isinstance(node_id, str) else f"nodes[{path[1]}]"
        if len(path) >= 2 and path[0] == "inputs" and isinstance(path[1], str):
            return shortened(path[1])
        return None

    def problem(self, path: Sequence[str | int], message: Text,
                field: str | None = None) -> Problem:
        if field is None:
            field = _field_name(path)
        return Problem.of(message, self.file, self.line(path), self.node_id(path), field)

    def pydantic_problems(self, exc: ValidationError) -> list[Problem]:
        problems = []
        for err in exc.errors(include_url=False):
            loc = _without_tag(err["loc"])
            if err["type"] == "node_kind" and isinstance(err.get("input"), dict):
                loc.append("op" if "op" in err["input"] else "expr")
            message = _pydantic_message(err)
            problems.append(self.problem(loc, message))
        return problems


def _spec_nodes(locate: _Locator) -> list[str | None]:
    """The ids of the `nodes:` entries, in written order, read from the YAML tree."""
    root = locate.root
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "nodes" and isinstance(value, yaml.SequenceNode):
            ids: list[str | None] = []
            for item in value.value:
                found = None
                if isinstance(item, yaml.MappingNode):
                    found = next((v.value for k, v in item.value if k.value == "id"), None)
                ids.append(found)
            return ids
    return []


def _without_tag(loc: Sequence[str | int]) -> list[str | int]:
    """pydantic puts the union tag after a node's or input's key: drop it."""
    loc = list(loc)
    if len(loc) >= 3 and loc[0] in ("nodes", "inputs"):
        del loc[2]
    return loc


def _field_name(path: Sequence[str | int]) -> str | None:
    if not path:
        return None
    if path[0] in ("nodes", "inputs") and len(path) >= 2:
        rest = [shortened(str(p)) for p in path[2:]]
        return ".".join(rest) if rest else None
    return ".".join(shortened(str(p)) for p in path)


def _pydantic_message(err: Any) -> Text:
    """A validation error of the spec in the words of the spec (and as a template)."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "node_kind" and isinstance(err.get("input"), dict):
        op = err["input"].get("op")
        if op is not None:
            return Text.of(mark("unknown op {op}; valid ops: {ops}"), op=_shown(op),
                           ops=", ".join(OPS))
    if kind == "node_kind":
        return _NODE_KINDS
    if kind == "input_kind":
        return _INPUT_KINDS
    if kind == "value_error" and isinstance(ctx.get("error"), SpecValueError):
        refused: SpecValueError = ctx["error"]
        return refused.text
    if kind in _PYDANTIC_MESSAGES:
        params = {name: _context_value(value) for name, value in ctx.items()
                  if name != "error"}
        if kind == "literal_error":  # pydantic lists them as "'a', 'b' or 'c'"
            params["expected"] = params.get("expected", "").replace(" or ", ", ")
        if kind == "string_too_short" and ctx.get("min_length") == 1:
            return Text.of(mark("should have at least 1 character"))
        if kind == "too_short" and ctx.get("min_length") == 1:
            return Text.of(mark("should have at least 1 item, not {actual_length}"), **params)
        return Text.of(_PYDANTIC_MESSAGES[kind], **params)
    # A check this file does not know yet: pydantic's own (English) words.
    return Text.of(mark("{reason}"), reason=str(err["msg"]).removeprefix("Value error, "))


def _context_value(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


# pydantic's error types a spec can meet, each in the spec's words; `{...}` names a value
# of the error's context.
_PYDANTIC_MESSAGES = {
    "extra_forbidden": mark("unknown field (misspelled?)"),
    "missing": mark("required field is missing"),
    "string_type": mark("should be a text (a string)"),
    "string_pattern_mismatch": mark("should match the pattern {pattern}"),
    "string_too_short": mark("should have at least {min_length} characters"),
    "string_too_long": mark("should have at most {max_length} characters"),
    "too_short": mark("should have at least {min_length} items, not {actual_length}"),
    "too_long": mark("should have at most {max_length} items, not {actual_length}"),
    "int_type": mark("should be a whole number"),
    "int_from_float": mark("should be a whole number, without a fractional part"),
    "float_type": mark("should be a number"),
    "finite_number": mark("should be a finite number"),
    "bool_type": mark("should be true or false"),
    "bool_parsing": mark("should be true or false"),
    "int_parsing": mark("should be a whole number"),
    "float_parsing": mark("should be a number"),
    "dict_type": mark("should be a mapping (key: value lines)"),
    "list_type": mark("should be a list"),
    "tuple_type": mark("should be a list"),
    "model_type": mark("should be a mapping (key: value lines)"),
    "model_attributes_type": mark("should be a mapping (key: value lines)"),
    "greater_than": mark("should be greater than {gt}"),
    "greater_than_equal": mark("should be greater than or equal to {ge}"),
    "less_than": mark("should be less than {lt}"),
    "less_than_equal": mark("should be less than or equal to {le}"),
    "literal_error": mark("should be one of {expected}"),
    "union_tag_invalid": mark("should be one of {expected_tags}, not {tag}"),
    "union_tag_not_found": mark("needs the field {discriminator}"),
}


@dataclass(frozen=True)
class _Outline:
    """What the graph checks need: input names, the nodes that validated (with their
    position in `nodes:`), the output, and every id written (valid node or not)."""

    inputs: tuple[str, ...]
    nodes: tuple[tuple[int, ExprNode | GateNode], ...]
    output: str | None
    written_ids: frozenset[str]

    @classmethod
    def of_spec(cls, spec: ExerciseSpec) -> _Outline:
        return cls(tuple(spec.inputs), tuple(enumerate(spec.nodes)), spec.output,
                   frozenset(n.id for n in spec.nodes))

    @classmethod
    def of_invalid(cls, data: dict[str, Any]) -> _Outline:
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


def _expand_nodes(outline: _Outline, locate: _Locator) -> tuple[list[Gate], list[Problem]]:
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


# ---------------------------------------------------------------- graph checks


def check_graph(
    spec: _Outline, gates: Sequence[Gate], locate: _Locator, *, complete: bool = True
) -> tuple[list[Problem], list[Gate]]:
    """Every structural problem of the graph, each located, and (when there are none)
    the gates in topological order. On an outline of an invalid document
    (`complete=False`) only the checks that cannot cascade are run."""
    where = _GateLocations(spec)
    problems: list[Problem] = []
    for check in (_duplicate_ids, _arity, _undefined_references, _output_is_gate):
        problems += check(spec, gates, where, locate)
    if problems or not complete:
        return problems, []  # cycles and reachability only make sense on a sound graph
    try:
        ordered = topological_order(spec.inputs, gates)
    except CycleError as exc:
        first = next(g for g in gates if g.id == exc.cycle[0])
        loop = " -> ".join([*exc.cycle, exc.cycle[0]])
        return [locate.problem(where.path(first, "in"), Text.of(mark("cycle: {loop}"), loop=loop),
                               "in")], []
    return _unused(spec, gates, where, locate), ordered


class _GateLocations:
    """The document path of each gate (gates from an `expr` point at that node)."""

    def __init__(self, spec: _Outline) -> None:
        self.by_id: dict[str, int] = {}
        for k, node in spec.nodes:
            self.by_id.setdefault(node.id, k)

    def path(self, gate: Gate, *rest: str | int) -> tuple[str | int, ...]:
        k = self.by_id[gate.expanded_from or gate.id]
        if gate.expanded_from is not None:
            return ("nodes", k, "expr")
        return ("nodes", k, *rest)


def _duplicate_ids(spec: _Outline, gates: Sequence[Gate], where: _GateLocations,
                   locate: _Locator) -> list[Problem]:
    problems = []
    seen: set[str] = set(spec.inputs)
    for k, node in spec.nodes:
        if node.id in seen:
            message = (mark("id {id} is already used by an input") if node.id in spec.inputs
                       else mark("id {id} is already used by another node"))
            problems.append(locate.problem(
                ("nodes", k, "id"), Text.of(message, id=quoted(node.id)), "id"))
        seen.add(node.id)
    return problems


def _arity(spec: _Outline, gates: Sequence[Gate], where: _GateLocations,
           locate: _Locator) -> list[Problem]:
    problems = []
    for gate in gates:
        op = OPS[gate.op]
        n = len(gate.inputs)
        if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
            problems.append(locate.problem(where.path(gate, "in"), _arity_text(op, n), "in"))
    return problems


def _arity_text(op: Any, count: int) -> Text:
    """"{op} takes exactly 2 inputs, got 3", each way of saying the arity a whole sentence."""
    if op.max_inputs == op.min_inputs:
        message = (mark("{op} takes exactly 1 input, got {count}") if op.min_inputs == 1
                   else mark("{op} takes exactly {min} inputs, got {count}"))
    elif op.max_inputs is None:
        message = mark("{op} takes {min} or more inputs, got {count}")
    else:
        message = mark("{op} takes {min} to {max} inputs, got {count}")
    return Text.of(message, op=op.name, count=str(count), min=str(op.min_inputs),
                max=str(op.max_inputs))


def _undefined_references(spec: _Outline, gates: Sequence[Gate], where: _GateLocations,
                          locate: _Locator) -> list[Problem]:
    # Nodes whose `expr` failed to expand count as defined: no cascade of errors.
    defined = set(spec.inputs) | spec.written_ids | {g.id for g in gates}
    problems = []
    for gate in gates:
        for slot, name in enumerate(gate.inputs):
            if name not in defined:
                field = "expr" if gate.expanded_from else f"in.{slot}"
                problems.append(locate.problem(
                    where.path(gate, "in", slot),
                    Text.of(mark("{name} is not an input or a node"), name=quoted(name)), field))
    return problems


def _output_is_gate(spec: _Outline, gates: Sequence[Gate], where: _GateLocations,
                    locate: _Locator) -> list[Problem]:
    if spec.output is None or spec.output in spec.written_ids:
        return []
    message = (mark("output {output} is an input, not a gate") if spec.output in spec.inputs
               else mark("output {output} is not a node"))
    return [locate.problem(("output",), Text.of(message, output=quoted(spec.output)), "output")]


def _unused(spec: _Outline, gates: Sequence[Gate], where: _GateLocations,
            locate: _Locator) -> list[Problem]:
    by_id = {g.id: g for g in gates}
    reached = {spec.output}
    stack = [] if spec.output is None else [spec.output]
    while stack:
        gate = by_id.get(stack.pop())
        if gate is None:
            continue
        for name in gate.inputs:
            if name not in reached:
                reached.add(name)
                stack.append(name)
    problems = []
    output = quoted(spec.output) if spec.output is not None else "None"
    for gate in gates:
        if gate.id not in reached:
            problems.append(locate.problem(
                where.path(gate), Text.of(mark("{node} does not lead to the output {output}"),
                                       node=quoted(gate.id), output=output)))
    for name in spec.inputs:
        if name not in reached:
            problems.append(locate.problem(
                ("inputs", name),
                Text.of(mark("input {input} is not used on the way to the output"),
                     input=quoted(name))))
    return problems
