"""The model language: read and validate ``models/*.yaml`` into a :class:`ModelSpec`.

A model file states an analyst's conditional claims as a Bayesian network whose CPT entries are
uncertain: the *claims* section quotes the source verbatim, each *node* defines its states and
the public record that resolves it, and its *cpt* says in words how likely each state is, in
one of three forms (``table``, ``logit``, ``noisy_or``). See ``models/afghan_caliphate.yaml``
for a complete example and :mod:`forecast.model.priors` for the vocabulary.

The language in brief::

    model: {name: a_b_c, title: ..., description: ..., source: {title, publisher, date, ...}}
    claims:
      C1: {quote: "verbatim", paragraph: 13, note: ...}    # paragraph: int >= 1 or a list
    nodes:                                                 # file order is kept
      x:
        label: ...
        states: [low, mid, high]                           # >= 2 identifiers; quote "no"/"yes"
        parents: [...]                                     # optional; the CPT's axis order
        definition: {kind: condition | event, window: {months: 24} (events only),
                     record: ..., states: {low: ..., mid: ..., high: ...}}
        cpt:                                               # exactly one form:
          table: {claims: [...], assumption: ..., rows: [ROW, ...]}     # any node
          logit: {outcome: yes, baseline: PROB, effects: [EFFECT, ...]} # binary nodes
          noisy_or: {outcome: yes, leak: PROB, links: [LINK, ...]}      # binary nodes

    ROW    = {when: {parent: state, ...}, prior: {state: P} | probabilities: {...}
              | counts: {...}, claims: [...], assumption: ...}   # one row per configuration
    EFFECT = {parent, state, direction: raises | lowers, strength: weak | moderate | strong
              | very strong  (or odds_ratio: [lo, hi], or log_odds: x), claims, assumption}
    LINK   = {parent, state: s or [s, ...], prior: P, claims, assumption}
    PROB   = P or {prior: P, claims: [...], assumption: ...}
    P      = ICD 203 word | number in [0, 1] | {beta: [a, b]} | {between: [lo, hi]}

A table, effect or link must cite a claim or state an assumption; every claim must be cited.

Reading is safe and strict:

* YAML is read with ``yaml.safe_load`` only, so nothing in a model file can run code (a
  ``!!python/...`` tag is rejected with a clear message).
* Every problem is collected before raising one :class:`~forecast.errors.SpecError` whose
  summary is ``"<file>: N problems"`` and whose problems each read
  ``models/x.yaml:42 nodes.caliphate.cpt.logit.effects[0].strength: ... (hint)``.
* After validation, defaults are made explicit: ``outcome`` (the last state) of logit and
  noisy-OR nodes, and the ``state`` of an effect or link on a binary parent (its second state).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any, NoReturn, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from forecast.errors import Problem, SpecError, did_you_mean, sorted_by_line
from forecast.model.checks import check_claim_quotes, check_model, partial_node, raw_citations
from forecast.model.forms import Issue
from forecast.model.persistence import is_memoryless
from forecast.model.schema import (
    Claim,
    Cpt,
    Definition,
    Effect,
    Link,
    Logit,
    ModelInfo,
    ModelSpec,
    Node,
    NoisyOr,
    ProbabilityField,
    Row,
    Source,
    Table,
    Window,
    format_path,
)

__all__ = [
    "Claim",
    "Cpt",
    "Definition",
    "Effect",
    "Link",
    "Logit",
    "ModelInfo",
    "ModelSpec",
    "Node",
    "NoisyOr",
    "ProbabilityField",
    "Row",
    "Source",
    "Table",
    "Window",
    "check_quotes",
    "load_spec",
    "parse_spec",
]

_SECTIONS = ("model", "claims", "nodes")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def load_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """Read and validate a model file.

    Parameters
    ----------
    path : str or path-like
        The ``.yaml`` file.

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        If the file cannot be read, is not valid YAML or breaks any rule of the language;
        every problem found is listed with its line.
    """
    name = os.fspath(path)
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{name}: no such model file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{name}: cannot read the model file: {exc}") from None
    return parse_spec(text, filename=name)


def parse_spec(text: str, filename: str = "<string>") -> ModelSpec:
    """Validate model-file text.

    Parameters
    ----------
    text : str
        YAML text of a model file.
    filename : str, optional
        Name used in messages.

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        Listing every problem, each with line, key path, message and hint.
    """
    data, lines, problems = _read_yaml(text, filename)
    if data is None and not problems:
        problems.append(
            Problem(
                "the file is empty",
                hint="a model file has model:, claims: and nodes: sections",
                file=filename,
                line=1,
            )
        )
    if problems:
        _raise(filename, problems)
    issues, spec = _validate(data)
    problems = [_locate(filename, lines, *issue) for issue in issues]
    problems += _duplicate_keys(filename, lines)
    if problems or spec is None:
        _raise(filename, problems)
    return _explicit_defaults(data, spec)


def check_quotes(
    spec: ModelSpec, source_text: str, *, first_paragraph: str | None = None
) -> list[Problem]:
    """Check that every passage each claim quotes appears verbatim in its paragraph(s).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    source_text : str
        The source document as plain text; paragraphs are separated by blank lines.
    first_paragraph : str, optional
        The beginning of the paragraph counted as 1 (e.g. the body's first words, skipping a
        headline and by-line). By default the first paragraph of the text.

    Returns
    -------
    list of Problem
        One per quote not found verbatim (whitespace-insensitive) in its paragraph(s), saying
        where it was found if elsewhere.
    """
    return check_claim_quotes(spec.name, spec.claims, source_text,
                              first_paragraph=first_paragraph)


# --------------------------------------------------------------------------------------------
# YAML with line numbers
# --------------------------------------------------------------------------------------------


class _Lines:
    """Line numbers of every key path of a YAML document, and its duplicate keys."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        self.duplicates: list[tuple[tuple[Any, ...], int, int]] = []
        self._constructor = yaml.constructor.SafeConstructor()
        if root is not None:
            self.lines[()] = root.start_mark.line + 1
            self._walk(root, ())

    def _key(self, node: yaml.Node) -> Any:
        try:
            key = self._constructor.construct_object(node, deep=True)
            hash(key)
        except Exception:
            return getattr(node, "value", None)
        return key

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = self._key(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    self.duplicates.append(((*path, key), line, seen[key]))
                else:
                    seen[key] = line
                self.lines[(*path, key)] = line
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[(*path, i)] = item.start_mark.line + 1
                self._walk(item, (*path, i))

    def line(self, path: tuple[Any, ...]) -> int:
        """Line of the longest prefix of `path` found in the document."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def _read_yaml(text: str, filename: str) -> tuple[Any, _Lines, list[Problem]]:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        tag = re.search(r"tag '([^']*)'", exc.problem or "")
        if tag:
            shown = tag.group(1).replace("tag:yaml.org,2002:", "!!")
            return (
                None,
                _Lines(None),
                [
                    Problem(
                        f"the YAML tag {shown} is not allowed",
                        hint="model files are plain data: nothing in them can run code; "
                        "remove the tag",
                        file=filename,
                        line=line,
                    )
                ],
            )
        return (
            None,
            _Lines(None),
            [Problem(f"invalid YAML: {exc.problem}", file=filename, line=line)],
        )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        return (
            None,
            _Lines(None),
            [Problem(f"invalid YAML: {what}", hint="check indentation, colons and quotes",
                     file=filename, line=line)],
        )
    except yaml.YAMLError as exc:
        return None, _Lines(None), [Problem(f"invalid YAML: {exc}", file=filename)]
    return data, _Lines(root), []


def _locate(
    filename: str, lines: _Lines, path: tuple[Any, ...], message: str, hint: str | None
) -> Problem:
    return Problem(message, hint=hint, file=filename, line=lines.line(path),
                   field=format_path(path) or None)


def _duplicate_keys(filename: str, lines: _Lines) -> list[Problem]:
    return [
        Problem(
            f"duplicate key '{path[-1]}' (first on line {first}); YAML keeps only the last",
            hint="remove or rename one of them",
            file=filename,
            line=line,
            field=format_path(path),
        )
        for path, line, first in lines.duplicates
    ]


def _raise(filename: str, problems: list[Problem]) -> NoReturn:
    problems = sorted_by_line(problems)
    n = len(problems)
    raise SpecError(f"{filename}: {n} problem{'s' if n != 1 else ''}", problems)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _validate(data: Any) -> tuple[list[Issue], ModelSpec | None]:
    if not isinstance(data, Mapping):
        return [
            (
                (),
                f"expected a mapping with sections model:, claims:, nodes:, got "
                f"{type(data).__name__}",
                None,
            )
        ], None
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as exc:
        issues = _schema_issues(exc, ModelSpec, data)
        spec = None
    else:
        issues = []
    raw_nodes = data.get("nodes")
    raw_nodes = raw_nodes if isinstance(raw_nodes, Mapping) else {}
    raw_claims = data.get("claims", {})
    claim_ids = list(raw_claims) if isinstance(raw_claims, Mapping) else None
    nodes: dict[str, Node] = {}
    raw_edges: list[tuple[str, str]] = []
    cited_raw: set[str] = set()
    for name, raw in raw_nodes.items():
        node = spec.nodes.get(name) if spec is not None else partial_node(raw)
        if spec is None:
            cited_raw |= raw_citations(raw)
        if node is not None and isinstance(name, str) and _IDENT.match(name):
            nodes[name] = node
            if node.cpt is not None or spec is not None:
                continue
        if isinstance(raw, Mapping):
            parents = raw.get("parents")
            parents = [parents] if isinstance(parents, str) else parents
            if isinstance(parents, list):
                raw_edges += [(p, str(name)) for p in parents if isinstance(p, str)]
    issues += check_model(
        nodes,
        claim_ids,
        all_nodes=[str(n) for n in raw_nodes],
        raw_edges=raw_edges,
        raw_citations=cited_raw,
        default_memoryless=_default_memoryless(data, spec),
    )
    return issues, spec


def _default_memoryless(data: Mapping[str, Any], spec: ModelSpec | None) -> bool:
    """Whether the model's default persistence is ``none`` (read from the raw file if needed)."""
    if spec is not None:
        return spec.model.time.persistence.memoryless
    model = data.get("model")
    time = model.get("time") if isinstance(model, Mapping) else None
    default = time.get("persistence") if isinstance(time, Mapping) else None
    default = default.get("prior") if isinstance(default, Mapping) else default
    return is_memoryless(default)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _raw_loc(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """`loc` with each mapping key as written in the file (pydantic reports key True as 1)."""
    out = []
    for part in loc:
        if isinstance(data, Mapping):
            part = next((k for k in data if k == part and type(k) is not type(part)), part)
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            data = None
        out.append(part)
    return tuple(out)


def _schema_issues(exc: ValidationError, root: type[BaseModel], data: Any) -> list[Issue]:
    issues: list[Issue] = []
    for err in exc.errors(include_url=False):
        loc = _raw_loc(data, tuple(x for x in err["loc"] if x != "[key]"))
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            model = _model_at(root, loc[:-1])
            fields = list(model.model_fields) if model else []
            key = loc[-1]
            hint = (
                (getattr(model, "hint_for_key", {}).get(str(key)) if model else None)
                or did_you_mean(str(key), fields)
                or (f"allowed keys: {', '.join(fields)}" if fields else None)
            )
            if not loc[:-1] and not hint:
                hint = "a model file has sections: " + ", ".join(_SECTIONS)
            issues.append((loc, f"unknown key '{key}'", hint))
        elif kind == "missing":
            issues.append((loc[:-1], f"missing required key '{loc[-1]}'", None))
        elif kind in ("value_error", "assertion_error"):
            cause = (err.get("ctx") or {}).get("error")
            message = getattr(cause, "message", None) or str(cause or err["msg"])
            issues.append((loc, message, getattr(cause, "hint", None)))
        elif kind == "literal_error":
            expected = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
            issues.append(
                (
                    loc,
                    f"{_short(value)} is not one of: {', '.join(expected)}",
                    did_you_mean(str(value), expected),
                )
            )
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            issues.append((loc, f"expected a mapping (key: value), got {_short(value)}", None))
        elif kind in ("list_type", "tuple_type"):
            issues.append((loc, f"expected a list, got {_short(value)}", None))
        elif kind == "string_type":
            hint = "quote it" if isinstance(value, bool | int | float) else None
            issues.append((loc, f"expected text, got {_short(value)}", hint))
        else:
            issues.append((loc, f"{err['msg']}, got {_short(value)}", None))
    return issues


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        args = [a for a in get_args(tp) if a is not type(None)]
        if origin is not None and str(origin).endswith("Annotated"):
            tp = get_args(tp)[0]
        elif origin is Union or type(tp).__name__ == "UnionType":
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found at key path `loc` below `root`, if any."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _explicit_defaults(data: Mapping[str, Any], spec: ModelSpec) -> ModelSpec:
    """Re-validate with every defaulted outcome and effect/link state written out."""
    data = copy.deepcopy(dict(data))
    for name, node in spec.nodes.items():
        form = node.cpt.form
        if form == "table":
            continue
        raw = data["nodes"][name]["cpt"][form]
        if raw.get("outcome") is None:
            raw["outcome"] = node.states[-1]
        items = raw.get("effects" if form == "logit" else "links") or []
        for item in items:
            if item.get("state") is None:
                second = spec.nodes[item["parent"]].states[1]
                item["state"] = second if form == "logit" else [second]
    return ModelSpec.model_validate(data)
