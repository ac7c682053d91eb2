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
             # prior: {state: P} on a binary node; 3+ states: a word (or between) per state,
             # or per state but one (it takes the rest), or "most likely a, then b, then c"
    EFFECT = {parent, state, direction: raises | lowers, strength: weak | moderate | strong
              | very strong  (or odds_ratio: [lo, hi], or log_odds: x), claims, assumption}
    LINK   = {parent, state: s or [s, ...], prior: P, claims, assumption}
    PROB   = P or {prior: P, claims: [...], assumption: ...}
    P      = ICD 203 word | number in [0, 1] | {beta: [a, b]} | {between: [lo, hi]}

A table, effect or link must cite a claim or state an assumption; every claim must be cited.

Reading is safe and strict:

* YAML is read with PyYAML's safe loader only (libyaml's ``CSafeLoader`` when installed), so
  nothing in a model file can run code (a ``!!python/...`` tag is rejected with a clear message).
* Nothing in a model file can make reading it blow up. Before parsing, the file must be at most
  :data:`MAX_MODEL_BYTES`; a first pass over the YAML events (which builds nothing) refuses
  anchors and aliases (``&name``, ``*name``: the "billion laughs" and self-referencing
  structures), nesting deeper than :data:`MAX_YAML_DEPTH` and more than :data:`MAX_YAML_NODES`
  values, and a number longer than 100 characters is refused when read. Then, before any check
  that grows with the model, its size: at most :data:`~forecast.model.schema.MAX_NODES` nodes
  of at most :data:`~forecast.model.schema.MAX_STATES` states, and CPTs of at most
  :data:`~forecast.model.schema.MAX_CPT_ENTRIES` entries per node and
  :data:`~forecast.model.schema.MAX_MODEL_CPT_ENTRIES` in all. Each is a located problem.
* Every problem is collected before raising one :class:`~forecast.errors.SpecError` whose
  summary is ``"<file>: N problems"`` and whose problems each read
  ``models/x.yaml:42 nodes.caliphate.cpt.logit.effects[0].strength: ... (hint)``.
* After validation, defaults are made explicit: ``outcome`` (the last state) of logit and
  noisy-OR nodes, and the ``state`` of an effect or link on a binary parent (its second state).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, NoReturn, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from forecast._io import open_input
from forecast.errors import Problem, SpecError, did_you_mean, sorted_by_line
from forecast.model.checks import check_claim_quotes, check_model, partial_node, raw_citations
from forecast.model.forms import Issue
from forecast.model.persistence import is_memoryless
from forecast.model.schema import (  # _IDENT: names are matched whole (fullmatch)
    _IDENT,
    MAX_CLAIMS,
    MAX_CPT_ENTRIES,
    MAX_MODEL_CPT_ENTRIES,
    MAX_NODES,
    MAX_STATES,
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
    cpt_entries,
    format_path,
)

try:  # libyaml: fast, and its parser keeps no Python stack however deep the input
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

__all__ = [
    "MAX_MODEL_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
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
    "SourceCheck",
    "Table",
    "Window",
    "check_quotes",
    "check_source_quotes",
    "load_spec",
    "load_spec_hashed",
    "parse_spec",
]

_SECTIONS = ("model", "claims", "nodes")

MAX_MODEL_BYTES = 5_000_000
"""Largest model file read (5 MB of UTF-8), checked before parsing; the flagship is 51 kB."""

MAX_YAML_DEPTH = 64
"""Deepest nesting of lists and mappings in a model file; the language needs about 10."""

MAX_YAML_NODES = 100_000
"""Most values (scalars, lists and mappings) in a model file; the flagship has about 1,600."""

_MAX_NUMBER_CHARS = 100
"""Longest number read (longer ones take time to convert, and mean nothing in a model)."""

_MAX_LISTED = 10
"""Anchors and aliases whose lines the problem about them shows."""


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
    return load_spec_hashed(path)[0]


def load_spec_hashed(path: str | os.PathLike[str]) -> tuple[ModelSpec, str]:
    """Read and validate a model file, with the SHA-256 of the very bytes that were parsed.

    A run's provenance records that hash, not one of a second read of the file, so an edit
    between reading and hashing cannot give a hash of content the forecast did not use.

    Returns
    -------
    (ModelSpec, str)
        The spec and the hex digest.

    Raises
    ------
    SpecError
        As :func:`load_spec`.
    """
    name = os.fspath(path)
    try:
        with open_input(name) as file:
            raw = file.read(MAX_MODEL_BYTES + 1)  # never more, whatever the file is
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SpecError(f"{name}: no such model file") from None
    except UnicodeDecodeError as exc:
        raise _not_a_model(name, raw, exc) from None
    except OSError as exc:
        raise SpecError(f"{name}: cannot read the model file: {exc}") from None
    if text.lstrip().startswith(("network ", "network\t", "<?xml", "<BIF", "<smile", "net {",
                                 "net\n", "BAYES")):
        raise _not_a_model(name, raw, None)
    if len(raw) > MAX_MODEL_BYTES:
        _raise(name, [_too_large(name)])
    # universal newlines, as text mode reads them
    spec = parse_spec(text.replace("\r\n", "\n").replace("\r", "\n"), filename=name)
    return spec, hashlib.sha256(raw).hexdigest()


def _not_a_model(name: str, raw: bytes, error: UnicodeDecodeError | None) -> SpecError:
    """The error for a file that is not model YAML: a network, an archive, other bytes."""
    text = raw[:200].decode("utf-8", "replace").lstrip()
    if raw[:2] == b"\x1f\x8b":
        kind = "gzip-compressed (a .bif.gz network?), not a model YAML"
    elif raw[:4] == b"PK\x03\x04":
        kind = "a zip archive (a spreadsheet?), not a model YAML"
    elif text.startswith("network"):
        kind = "a BIF network, not a model YAML"
    elif text.startswith("net"):
        kind = "a Hugin NET network, not a model YAML"
    elif text.startswith("BAYES"):
        kind = "a UAI network, not a model YAML"
    elif text.startswith("<"):
        kind = "an XML file (an XMLBIF or GeNIe network?), not a model YAML"
    else:
        assert error is not None
        kind = f"not UTF-8 text (byte {error.start} is {raw[error.start]:#04x})"
    return SpecError(f"{name}: cannot read the model file: it is {kind}", [Problem(
        f"is {kind}", file=name, hint="validate and update read a model written in the model "
        "language (models/README.md); a network file is queried with `forecast query FILE`, "
        "or made a model with `forecast convert FILE --uncertainty ess=N --out MODEL.yaml`")])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _levels_above(lines: list[str], index: int) -> list[int]:
    """Indentations a line at `index` could align with: the line above's, and its parents'."""
    levels: list[int] = []
    for line in reversed(lines[:index]):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = _indent(line)
        if not levels or indent < levels[-1]:
            levels.append(indent)
        if indent == 0:
            break
    return sorted(levels)


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str, filename: str) -> Problem:
    """PyYAML's error in the model writer's terms: what is wrong on which line, and the fix.

    The usual mistakes (indentation, a tab, a ``:`` inside an unquoted value, a quote or
    bracket left open) get their own wording; anything else keeps PyYAML's words.
    """
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    start = exc.context_mark.line + 1 if exc.context_mark else None
    problem, context = exc.problem or "", exc.context or ""
    lines = text.split("\n")
    here = lines[mark.line] if mark and mark.line < len(lines) else ""

    def located(message: str, hint: str) -> Problem:
        return Problem(f"invalid YAML: {message}", hint=hint, file=filename, line=line)

    if mark and mark.column < len(here) and here[mark.column] == "\t":
        return located("a tab character", "YAML indents with spaces only: replace the tab")
    if "quoted scalar" in context and "end of stream" in problem:
        return located(f"the quote opened on line {start} is never closed",
                       "close it, or write a quote inside the text as \\\" (or '' in '...')")
    if "flow sequence" in context or "flow mapping" in context:
        bracket = "[...]" if "sequence" in context else "{...}"
        return located(f"the {bracket} opened on line {start} is not closed, or its items are "
                       "not separated by commas", "close the bracket on the same item; separate "
                       "items with ', '")
    if "mapping values are not allowed" in problem:
        return located("a ':' where no key can start",
                       "either this line is indented deeper than the key above it (align it), "
                       "or a value contains ': ' (put the value in quotes)")
    if "did not find expected key" in problem and mark is not None:
        first = exc.context_mark.line if exc.context_mark else 0
        quoted = [n + 1 for n in range(first, mark.line)
                  if lines[n].split(" #")[0].replace('\\"', "").count('"') % 2]
        if quoted:
            return located(f"the quote opened on line {quoted[0]} is not closed on that line, "
                           "so the lines after it were read as part of the text",
                           "close the quote, or write a quote inside the text as \\\"")
        levels = _levels_above(lines, mark.line)
        if _indent(here) not in levels:
            shown = ", ".join(str(n) for n in levels) or "0"
            return located(f"this line is indented {_indent(here)} spaces, which matches none "
                           f"of the keys above it ({shown} spaces)",
                           "align it with the key it belongs under; a list item needs '- ' "
                           "and a key needs ': '")
        return located("a key was expected here, but the lines above leave something "
                       "unfinished", "look above for a key without ': ', a list item without "
                       "'- ', or an open quote or bracket")
    what = " ".join(x for x in (context, problem) if x)
    return located(what, "check indentation, colons and quotes")


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
        Listing every problem, each with line, key path, message and hint. A file that
        exceeds a limit of the module docstring lists only that problem.
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
    limits = _limit_problems(filename, lines, data)
    if limits:  # nothing that grows with the model runs on a model too large
        _raise(filename, limits)
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


@dataclass(frozen=True)
class SourceCheck:
    """What :func:`check_source_quotes` found.

    Attributes
    ----------
    spec : ModelSpec
        The model, validated.
    problems : list of Problem
        One per quote not found in its paragraph(s), located at the claim's line in the model.
    source : pathlib.Path or None
        The source file read, or None if none was declared or found.
    note : str or None
        Why the quotes were not checked (no file declared, or not found), else None.
    """

    spec: ModelSpec
    problems: list[Problem]
    source: FilePath | None
    note: str | None


def check_source_quotes(path: str | os.PathLike[str]) -> SourceCheck:
    """Check every claim's quote against the source file the model declares.

    ``model.source.file`` is looked for beside the model file, then in the working folder;
    ``model.source.first_paragraph`` says where paragraph 1 begins. A model without a source
    file, or whose file is not there (a source that may not be shared), is not an error: the
    result says so in its note.

    Parameters
    ----------
    path : path-like
        The model file.

    Returns
    -------
    SourceCheck

    Raises
    ------
    SpecError
        If the model itself is invalid (as :func:`load_spec`).
    """
    name = os.fspath(path)
    spec = load_spec(path)
    source = spec.model.source
    if source is None or not source.file:
        return SourceCheck(spec, [], None, "the model declares no source file (model.source.file): "
                                     "its quotes are not checked")
    candidates = [FilePath(name).parent / source.file, FilePath(source.file)]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        return SourceCheck(spec, [], None, f"the source file {source.file} is not beside the model "
                                     "nor in the working folder: its quotes are not checked")
    try:
        text = found.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SourceCheck(spec, [], None, f"the source file {found} cannot be read ({exc}): its "
                                     "quotes are not checked")
    problems = check_claim_quotes(spec.name, spec.claims, text,
                                  first_paragraph=source.first_paragraph)
    if not problems:  # the common case: no second read of the model for line numbers
        return SourceCheck(spec, [], found, None)
    with open_input(name) as handle:  # bounded as load_spec reads it; read again only to locate
        _, lines, _ = _read_yaml(handle.read(MAX_MODEL_BYTES + 1).decode("utf-8"), name)
    located = []
    for problem in problems:
        parts = (problem.field or "").replace("[", ".").replace("]", "").split(".")
        keys = tuple(int(k) if k.isdigit() else k for k in parts if k)
        if len(keys) == 2:  # claims.<id>: a single quote, on its quote: line
            keys = (*keys, "quote")
        line = lines.line(keys) if keys else None
        located.append(dataclasses.replace(problem, file=name, line=line,
                                           message=f"{problem.message} (source: {found})"))
    return SourceCheck(spec, located, found, None)


# --------------------------------------------------------------------------------------------
# YAML with line numbers
# --------------------------------------------------------------------------------------------


class _ValueProblem(yaml.constructor.ConstructorError):
    """A value YAML can read but a model file may not hold, located, with a hint."""

    def __init__(self, message: str, hint: str, mark: yaml.Mark | None) -> None:
        super().__init__(None, None, message, mark)
        self.message = message
        self.hint = hint


class _Constructor(yaml.constructor.SafeConstructor):
    """PyYAML's safe constructor, with every failure to read a value a located error.

    A date that does not exist (``2015-02-30``) or an integer of more digits than Python
    converts raises ``ValueError`` inside PyYAML, with no line; here it is a
    :class:`_ValueProblem` at the value. Numbers longer than :data:`_MAX_NUMBER_CHARS` are
    refused before conversion (a sexagesimal ``1:2:3:...`` of a million parts takes minutes).
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            shown = _short(node.value) if isinstance(node.value, str) else "the value"
            raise _ValueProblem(
                f"cannot read {shown}: {exc}",
                "write dates as YYYY-MM-DD and numbers in plain decimal",
                node.start_mark,
            ) from None

    def construct_number(self, node: yaml.ScalarNode) -> Any:
        if len(node.value) > _MAX_NUMBER_CHARS:
            raise _ValueProblem(
                f"a number of {len(node.value):,} characters",
                f"write numbers of at most {_MAX_NUMBER_CHARS} characters",
                node.start_mark,
            )
        if node.tag.endswith(":int"):
            return self.construct_yaml_int(node)
        return self.construct_yaml_float(node)


_NOT_PLAIN = {f"tag:yaml.org,2002:{kind}" for kind in ("set", "omap", "pairs", "binary")}
"""Tags the safe loader reads that a model file may not use: a ``!!set`` has no order (a set of
parents would order a CPT's axes by string hashes, which differ from run to run), and the
others make tuples or bytes where the language has lists and text."""

_Constructor.yaml_constructors = {
    **{tag: construct for tag, construct in
       yaml.constructor.SafeConstructor.yaml_constructors.items() if tag not in _NOT_PLAIN},
    "tag:yaml.org,2002:int": _Constructor.construct_number,
    "tag:yaml.org,2002:float": _Constructor.construct_number,
}


class _Loader(_Constructor, _SafeLoader):
    """The safe loader (libyaml's if installed) with :class:`_Constructor`."""


class _Lines:
    """Line numbers of every key path of a YAML document, and its duplicate keys.

    The document has no aliases (refused before it is composed) and bounded depth, so the walk
    visits each node of the file once and recurses at most :data:`MAX_YAML_DEPTH` deep.
    """

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        self.duplicates: list[tuple[tuple[Any, ...], int, int]] = []
        self._constructor = _Constructor()
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


_REFERENCE_HINT = (
    "write the value out in full instead of using &anchor and *alias: model files refuse "
    "them, so that no file holds more than it shows"
)


def _scan(text: str, filename: str) -> list[Problem]:
    """Refuse anchors, aliases, deep nesting and too many values, from YAML events alone.

    The events stream by one at a time: nothing is composed, no alias expanded and no Python
    stack grows with the nesting, so this pass costs time linear in the text (which is at most
    :data:`MAX_MODEL_BYTES`) and constant memory. Anchors and aliases make one problem, at the
    first; syntax errors propagate to the caller.
    """
    problems: list[Problem] = []
    references: list[tuple[str, int | None]] = []  # (&name or *name, line), the first few
    n_references = depth = values = 0
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            mark = event.start_mark if event is not None else None
            line = mark.line + 1 if mark is not None else None
            if isinstance(event, yaml.AliasEvent):
                n_references += 1
                if len(references) < _MAX_LISTED:
                    references.append((f"alias *{event.anchor}", line))
            elif isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
                if event.anchor is not None:
                    n_references += 1
                    if len(references) < _MAX_LISTED:
                        references.append((f"anchor &{event.anchor}", line))
                values += 1
                if values > MAX_YAML_NODES:
                    problems.append(Problem(
                        f"the file holds more than {MAX_YAML_NODES:,} values (scalars, lists "
                        "and mappings)",
                        hint="a model file holds a few thousand; split the model",
                        file=filename, line=line))
                    break
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > MAX_YAML_DEPTH:
                        problems.append(Problem(
                            f"lists and mappings are nested more than {MAX_YAML_DEPTH} deep",
                            hint="a model file needs about 10 levels; check the brackets and "
                            "indentation here",
                            file=filename, line=line))
                        break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()
    if references:
        what, line = references[0]
        lines = sorted({x for _, x in references if x is not None})
        shown = ", ".join(map(str, lines)) + (", ..." if n_references > len(references) else "")
        on = "line" if shown.isdigit() else "lines"
        more = (f" (the file has {n_references} anchors and aliases, on {on} {shown})"
                if n_references > 1 else "")
        problems.insert(0, Problem(f"the YAML {what} is not allowed{more}",
                                   hint=_REFERENCE_HINT, file=filename, line=line))
    return problems


def _too_large(filename: str) -> Problem:
    return Problem(
        f"the file is larger than {MAX_MODEL_BYTES:,} bytes",
        hint="a model file is a few dozen kB; check that this is the model file",
        file=filename,
    )


def _read_yaml(text: str, filename: str) -> tuple[Any, _Lines, list[Problem]]:
    if len(text) > MAX_MODEL_BYTES or (
        not text.isascii() and len(text.encode("utf-8", "surrogatepass")) > MAX_MODEL_BYTES
    ):
        return None, _Lines(None), [_too_large(filename)]
    try:
        problems = _scan(text, filename)
        if problems:
            return None, _Lines(None), problems
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except _ValueProblem as exc:
        mark = exc.problem_mark
        return None, _Lines(None), [Problem(exc.message, hint=exc.hint, file=filename,
                                            line=mark.line + 1 if mark else None)]
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
                        f"the YAML tag {_short_text(shown)} is not allowed",
                        hint="model files are plain data: nothing in them can run code; "
                        "remove the tag" if tag.group(1) not in _NOT_PLAIN else
                        "model files hold text, numbers, dates, lists and mappings (a set "
                        "has no order); remove the tag, e.g. write a list [a, b]",
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
        return None, _Lines(None), [_yaml_problem(exc, text, filename)]
    except yaml.YAMLError as exc:
        return None, _Lines(None), [Problem(f"invalid YAML: {exc}", file=filename)]
    except UnicodeError as exc:  # text given directly, with a lone surrogate
        return None, _Lines(None), [Problem(f"the text is not valid Unicode: {exc}",
                                            hint="save the file as UTF-8", file=filename)]
    return data, _Lines(root), []


def _short_text(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


_MANY_UNKNOWN = 50
"""Unknown parents (or citations) a file may have and still get one problem each."""


def _unknown_references(
    filename: str, lines: _Lines, nodes: Mapping[Any, Any], claims: Any
) -> list[Problem]:
    """Names that should be a node, a claim or a state of their node, if many are not.

    Parents must be nodes, citations claims, and the states a definition defines the node's
    states. Each one would be its own problem, with a "did you mean" chosen among every node,
    claim or state; for thousands of them that takes minutes, so past :data:`_MANY_UNKNOWN`
    they are one problem per kind, showing the first few.
    """
    names = {str(n) for n in nodes}
    claim_ids = {str(c) for c in claims} if isinstance(claims, Mapping) else None
    parents: list[tuple[tuple[Any, ...], str]] = []
    citations: list[tuple[tuple[Any, ...], str]] = []
    defined: list[tuple[tuple[Any, ...], str]] = []

    def cite(raw: Any, path: tuple[Any, ...]) -> None:
        if isinstance(raw, Mapping):
            for key, value in raw.items():
                if key == "claims" and claim_ids is not None:
                    items = [value] if isinstance(value, str) else value
                    if isinstance(items, list):
                        citations.extend(((*path, key, j), c) for j, c in enumerate(items)
                                         if isinstance(c, str) and c not in claim_ids)
                else:
                    cite(value, (*path, key))
        elif isinstance(raw, list):
            for j, item in enumerate(raw):
                cite(item, (*path, j))

    for name, raw in nodes.items():
        found = raw.get("parents") if isinstance(raw, Mapping) else None
        found = [found] if isinstance(found, str) else found
        if isinstance(found, list):
            parents.extend((("nodes", name, "parents", i), p) for i, p in enumerate(found)
                           if isinstance(p, str) and p not in names)
        cite(raw, ("nodes", name))
        states = raw.get("states") if isinstance(raw, Mapping) else None
        definition = raw.get("definition") if isinstance(raw, Mapping) else None
        meanings = definition.get("states") if isinstance(definition, Mapping) else None
        if isinstance(states, list) and isinstance(meanings, Mapping):
            own = {s for s in states if isinstance(s, str)}
            defined.extend((("nodes", name, "definition", "states", s), str(s))
                           for s in meanings if s not in own)
    problems = []
    for unknown, what, hint in (
        (parents, "parents name no node of the model", "check the spelling of node names"),
        (citations, "citations name no claim", "check the claim ids, or add the claims"),
        (defined, "defined states are not states of their node",
         "define each node's states, as listed under its states:"),
    ):
        if len(unknown) <= _MANY_UNKNOWN:
            continue
        path, _ = unknown[0]
        shown = ", ".join(f"'{_short_text(x)}' (line {lines.line(at)})" for at, x in unknown[:5])
        problems.append(Problem(f"{len(unknown):,} {what}: {shown}, ...", hint=hint,
                                file=filename, line=lines.line(path), field=format_path(path)))
    return problems


def _limit_problems(filename: str, lines: _Lines, data: Any) -> list[Problem]:
    """The model against the limits, from the raw data, before any check that grows with it.

    Its numbers of nodes, claims and states, then many names that name nothing
    (:func:`_unknown_references`), then the sizes of its CPTs.

    A node's CPT size is its states times its parents' (a parent that is unknown or has no
    usable states counts as two, the fewest a node has), so a node refused here is too large
    whatever the rest of the file says.
    """
    nodes = data.get("nodes") if isinstance(data, Mapping) else None
    if not isinstance(nodes, Mapping):
        return []

    def problem(path: tuple[Any, ...], message: str, hint: str) -> Problem:
        return Problem(message, hint=hint, file=filename, line=lines.line(path),
                       field=format_path(path))

    claims = data.get("claims")
    problems: list[Problem] = []
    if len(nodes) > MAX_NODES:
        problems.append(problem(("nodes",), f"the model has {len(nodes):,} nodes, more than "
                                f"the limit of {MAX_NODES:,}", "split it into several models"))
    if isinstance(claims, Mapping) and len(claims) > MAX_CLAIMS:
        problems.append(problem(("claims",), f"the model quotes {len(claims):,} claims, more "
                                f"than the limit of {MAX_CLAIMS:,}",
                                "split it into several models"))
    if problems:
        return problems
    cards: dict[Any, int] = {}
    for name, raw in nodes.items():
        raw = raw if isinstance(raw, Mapping) else {}
        states = raw.get("states")
        definition = raw.get("definition")
        defined = definition.get("states") if isinstance(definition, Mapping) else None
        for path, items, verb in ((("states",), states, "has"),
                                  (("definition", "states"), defined, "defines")):
            if isinstance(items, list | Mapping) and len(items) > MAX_STATES:
                problems.append(problem(
                    ("nodes", name, *path),
                    f"'{name}' {verb} {len(items):,} states, more than the limit of {MAX_STATES}",
                    "group the states into fewer, broader ones"))
        cards[name] = max(len(states), 2) if isinstance(states, list) else 2
    if problems:
        return problems
    problems = _unknown_references(filename, lines, nodes, claims)
    if problems:
        return problems
    total = 0
    for name, raw in nodes.items():
        parents = raw.get("parents") if isinstance(raw, Mapping) else None
        parents = [parents] if isinstance(parents, str) else parents
        if not isinstance(parents, list):
            parents = []
        unique = dict.fromkeys(p for p in parents if isinstance(p, str))
        parent_cards = [cards.get(p, 2) for p in unique]
        entries = cpt_entries(cards[name], parent_cards, limit=MAX_CPT_ENTRIES)
        total += entries  # only read when no node is over the limit
        if entries <= MAX_CPT_ENTRIES:
            continue
        log10 = math.log10(cards[name]) + sum(math.log10(c) for c in parent_cards)
        size = (f"{cpt_entries(cards[name], parent_cards):,}" if log10 < 15
                else f"about 10^{int(log10)}")
        problems.append(problem(
            ("nodes", name, "parents"),
            f"the CPT of '{name}' would have {size} entries ({cards[name]} states × "
            f"{len(parent_cards)} parents' states), more than the limit of {MAX_CPT_ENTRIES:,}",
            "give it fewer parents or states (e.g. merge some parents into an intermediate "
            "node); the limit holds for every form, as a logit or noisy_or CPT is built in "
            "full too, and a table needs a row per parent configuration"))
    if not problems and total > MAX_MODEL_CPT_ENTRIES:
        problems.append(problem(
            ("nodes",),
            f"the model's CPTs would have {total:,} entries in all, more than the limit of "
            f"{MAX_MODEL_CPT_ENTRIES:,}",
            "use fewer parents or states on the largest nodes"))
    return problems


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
    # dicts, not lists: in file order, and `in` costs O(1) however many names a file has
    claim_ids = dict.fromkeys(raw_claims) if isinstance(raw_claims, Mapping) else None
    nodes: dict[str, Node] = {}
    raw_edges: list[tuple[str, str]] = []
    cited_raw: set[str] = set()
    for name, raw in raw_nodes.items():
        node = spec.nodes.get(name) if spec is not None else partial_node(raw)
        if spec is None:
            cited_raw |= raw_citations(raw)
        if node is not None and isinstance(name, str) and _IDENT.fullmatch(name):
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
        all_nodes=dict.fromkeys(str(n) for n in raw_nodes),
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


def _raw_loc(
    data: Any, loc: tuple[Any, ...], keys: dict[int, dict[Any, Any]] | None = None
) -> tuple[Any, ...]:
    """`loc` with each mapping key as written in the file (pydantic reports key True as 1).

    `keys` caches each mapping's keys (by ``id``) for the errors of one validation, so that a
    file with thousands of errors in one mapping is not read once per error.
    """
    keys = {} if keys is None else keys
    out = []
    for part in loc:
        if isinstance(data, Mapping):
            if not isinstance(part, str):  # only a number can equal a key of another type
                if id(data) not in keys:
                    keys[id(data)] = {k: k for k in data}
                part = keys[id(data)].get(part, part)
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            data = None
        out.append(part)
    return tuple(out)


def _schema_issues(exc: ValidationError, root: type[BaseModel], data: Any) -> list[Issue]:
    issues: list[Issue] = []
    keys: dict[int, dict[Any, Any]] = {}
    suggestions = _MANY_UNKNOWN  # "did you mean" for the first ones only: each costs time

    def suggest(word: str, choices: list[str]) -> str | None:
        nonlocal suggestions
        suggestions -= 1
        return did_you_mean(word, choices) if suggestions >= 0 else None

    for err in exc.errors(include_url=False):
        loc = _raw_loc(data, tuple(x for x in err["loc"] if x != "[key]"), keys)
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            model = _model_at(root, loc[:-1])
            fields = list(model.model_fields) if model else []
            key = loc[-1]
            hint = (
                (getattr(model, "hint_for_key", {}).get(str(key)) if model else None)
                or suggest(str(key), fields)
                or (f"allowed keys: {', '.join(fields)}" if fields else None)
            )
            if not loc[:-1] and not hint:
                hint = "a model file has sections: " + ", ".join(_SECTIONS)
            issues.append((loc, f"unknown key '{key}'", hint))
        elif kind == "missing":
            issues.append((loc[:-1], f"missing required key '{loc[-1]}'", None))
        elif isinstance(value, float) and not math.isfinite(value) and kind not in (
            "value_error", "assertion_error"
        ):  # pydantic's own message would be about a bound or a type ("should be <= 0.5")
            issues.append((loc, f"{value} is not a finite number",
                           "write a number here, not .nan or .inf"))
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
                    suggest(str(value), expected),
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
