"""The BIF 0.15 parser behind :func:`forecast.network.bif.read_bif`.

A hand-written tokenizer over regular expressions: pgmpy's pyparsing reader takes ~3 s on
pathfinder, this one ~0.15 s, and it reports syntax errors with their line and semantic problems
all at once. It produces plain Python structures; :mod:`forecast.network.bif` turns them into a
:class:`~forecast.network.network.Network`.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from forecast.errors import Problem, SpecError, did_you_mean
from forecast.network.limits import MAX_CPT_ENTRIES

__all__ = ["KEYWORDS", "parse"]

KEYWORDS = frozenset(
    {"network", "variable", "probability", "property", "type", "discrete", "table", "default"}
)
_WS = re.compile(r"\s*")
# No "=" or "/" among the delimiters: bnlearn's child has states "<5", ">=7.5", "Asy/Patchy".
_WORD = re.compile(r'[^\s{}()\[\];,|"]+')
_NAME = re.compile(r'"([^"\n]*)"|([^\s{}()\[\];,|"]+)')
_COMMENT_OR_STRING = re.compile(r'"[^"\n]*"|//[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL)
_PROPERTY = re.compile(r'(?:"[^"]*"|[^;"{}])*')
_COUNT = re.compile(r"\[\s*(\d+)\s*\]")
# Fast path for a row with unquoted names, "(a, b) 0.1, 0.9;"; anything else takes the slow path.
_ROW = re.compile(r'\(([^()";{}\[\]|]*)\)([^;{}()"]*);')
_NUMBERS = re.compile(r'[^;{}()"]*')
_NOT_NUMERIC = re.compile(r"[^0-9eE+\-.,\s]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ITEM = re.compile(r"[^\s,]+")


def _end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """End of ``pattern``'s match at ``pos``, for a pattern that also matches the empty string."""
    m = pattern.match(text, pos)
    assert m is not None, "the pattern matches the empty string"
    return m.end()


class _SyntaxFailure(Exception):
    def __init__(self, pos: int, message: str) -> None:
        self.pos, self.message = pos, message


@dataclass
class _Variable:
    name: str
    pos: int
    states: list[str] = field(default_factory=list)


@dataclass
class _Block:
    node: str
    parents: list[str]
    pos: int
    rows: list[tuple[list[str], list[float], int]] = field(default_factory=list)
    table: tuple[list[float], int] | None = None
    default: tuple[list[float], int] | None = None


class _Parser:
    """Recursive descent over the text: syntax errors raise, semantic problems are noted."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source, self.pos = text, source, 0
        self.network_name: str | None = None
        self.variables: list[_Variable] = []
        self.blocks: list[_Block] = []
        self.notes: list[Problem] = []
        self._newlines: list[int] | None = None

    # -- locations and messages -----------------------------------------------------------
    def line(self, pos: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def note(self, pos: int, message: str, hint: str | None = None) -> None:
        self.notes.append(Problem(message, hint=hint, file=self.source, line=self.line(pos)))

    def fail(self, pos: int, message: str) -> _SyntaxFailure:
        if pos >= len(self.text):  # point at the last line with content, not past the end
            pos = max(len(self.text.rstrip()) - 1, 0)
        return _SyntaxFailure(pos, message)

    def found(self, pos: int) -> str:
        if pos >= len(self.text):
            return "end of file"
        m = _WORD.match(self.text, pos)
        return repr(m.group(0)[:40] if m else self.text[pos])

    # -- tokens ---------------------------------------------------------------------------
    def peek(self) -> str:
        self.pos = _end(_WS, self.text, self.pos)
        return self.text[self.pos : self.pos + 1]

    def expect(self, char: str, context: str) -> None:
        if self.peek() != char:
            raise self.fail(self.pos, f"expected '{char}' {context}, found {self.found(self.pos)}")
        self.pos += 1

    def name(self, what: str) -> str:
        self.peek()
        m = _NAME.match(self.text, self.pos)
        if m is None:
            raise self.fail(self.pos, f"expected {what}, found {self.found(self.pos)}")
        self.pos = m.end()
        return m.group(1) if m.group(1) is not None else m.group(2)

    def names_until(self, close: str, what: str) -> list[str]:
        names = []
        while (c := self.peek()) != close:
            if c and c in ",|":
                self.pos += 1
            else:
                names.append(self.name(f"{what} or '{close}'"))
        self.pos += 1
        return names

    def numbers(self, what: str) -> list[float]:
        """Read ``p1, p2, ...;`` (commas optional) and return the numbers."""
        self.peek()
        start = self.pos
        chunk = self.text[start : _end(_NUMBERS, self.text, start)]
        end = start + len(chunk)
        if not _NOT_NUMERIC.search(chunk):
            with contextlib.suppress(ValueError):
                values = [float(x) for x in chunk.replace(",", " ").split()]
                if values and self.text[end : end + 1] == ";":
                    self.pos = end + 1
                    return values
                if values:  # point at the last number, where the ';' should be
                    at = start + len(chunk.rstrip()) - 1
                    raise self.fail(at, f"expected ';' after {what}, found {self.found(end)}")
        last = None  # find the first item that is not a number and say what was expected
        for m in _ITEM.finditer(chunk):
            item = m.group(0)
            if not _NUMBER.fullmatch(item):
                if last is not None and item in KEYWORDS:
                    raise self.fail(last, f"expected ';' after {what}, found '{item}'")
                raise self.fail(start + m.start(), f"expected a number, found '{item}'")
            last = start + m.end() - 1
        raise self.fail(start, f"expected {what}, found {self.found(start)}")

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> None:
        while self.peek():
            start = self.pos
            m = _WORD.match(self.text, start)
            keyword = m.group(0) if m else None
            if keyword not in ("network", "variable", "probability"):
                found = self.found(start)
                raise self.fail(
                    start, f"expected 'network', 'variable' or 'probability', found {found}"
                )
            self.pos = start + len(keyword)
            if keyword == "network":
                self.network_name = self.name("a network name")
                self.expect("{", "after the network name")
                self.body("network block", {})
            elif keyword == "variable":
                self.variable()
            else:
                self.probability(start)

    def body(self, what: str, handlers: dict[str, Callable[[int], None]]) -> None:
        """Read entries up to the closing brace, dispatching on their first word or '('."""
        opened = self.pos
        while (c := self.peek()) != "}":
            start = self.pos
            m = _WORD.match(self.text, start)
            key = "(" if c == "(" else m.group(0) if m else None
            if key == "property":
                self.pos = _end(_PROPERTY, self.text, start + len(key))
                self.expect(";", "ending the property")
            elif key in handlers:
                self.pos = start + (1 if key == "(" else len(key))
                handlers[key](start)
            else:
                expected = ", ".join(f"'{k}'" for k in (*handlers, "property", "}"))
                message = f"expected {expected} in the {what}, found {self.found(start)}"
                if not c:
                    message += f" (it opened at line {self.line(opened)})"
                raise self.fail(start, message)
        self.pos += 1

    def variable(self) -> None:
        self.peek()
        pos = self.pos
        var = _Variable(self.name("a variable name"), pos)

        def type_(_: int) -> None:
            self.peek()
            m = _WORD.match(self.text, self.pos)
            if m is None or m.group(0) != "discrete":
                found = self.found(self.pos)
                raise self.fail(
                    self.pos,
                    f"expected 'discrete' (the only supported type) for "
                    f"'{var.name}', found {found}",
                )
            self.pos = m.end()
            self.peek()
            count = _COUNT.match(self.text, self.pos)
            if count is None:
                raise self.fail(
                    self.pos,
                    f"expected '[ number of states ]' for '{var.name}', "
                    f"found {self.found(self.pos)}",
                )
            self.pos = count.end()
            self.expect("{", f"before the states of '{var.name}'")
            var.states = self.names_until("}", f"a state of '{var.name}'")
            self.expect(";", f"after the states of '{var.name}'")
            if len(var.states) != int(count.group(1)):
                self.note(
                    var.pos,
                    f"variable '{var.name}' declares {count.group(1)} states but "
                    f"lists {len(var.states)}: {', '.join(var.states)}",
                )

        self.expect("{", f"after 'variable {var.name}'")
        self.body(f"variable '{var.name}'", {"type": type_})
        self.variables.append(var)

    def probability(self, pos: int) -> None:
        self.expect("(", "after 'probability'")
        names = self.names_until(")", "a variable name")
        if not names:
            raise self.fail(self.pos - 1, "expected a variable name in 'probability ( )'")
        block = _Block(names[0], names[1:], pos)
        what = f"probabilities of '{block.node}'"

        def row(start: int) -> None:
            m = _ROW.match(self.text, start)
            if m is not None and not _NOT_NUMERIC.search(m.group(2)):
                try:
                    values = [float(x) for x in m.group(2).replace(",", " ").split()]
                except ValueError:
                    values = []
                if values:
                    block.rows.append((m.group(1).replace(",", " ").split(), values, start))
                    self.pos = m.end()
                    return
            # slow path, for quoted names and precise errors
            states = self.names_until(")", f"a state of a parent of '{block.node}'")
            block.rows.append((states, self.numbers(what), start))

        def entry(kind: str) -> Callable[[int], None]:
            def read(start: int) -> None:
                if getattr(block, kind) is not None:
                    self.note(start, f"a second '{kind}' for '{block.node}'")
                setattr(block, kind, (self.numbers(what), start))

            return read

        self.expect("{", f"after the header of the probability block of '{block.node}'")
        handlers = {"table": entry("table"), "default": entry("default"), "(": row}
        self.body(f"probability block of '{block.node}'", handlers)
        self.blocks.append(block)


def _check(parser: _Parser, atol: float) -> tuple[dict, dict, dict]:
    """Turn parsed blocks into states, parents and CPTs, noting every semantic problem."""
    note = parser.note
    states: dict[str, list[str]] = {}
    declared: dict[str, int] = {}
    for var in parser.variables:
        if var.name in states:
            first = parser.line(declared[var.name])
            note(var.pos, f"variable '{var.name}' is declared again (first at line {first})")
        elif not var.states:
            note(
                var.pos,
                f"variable '{var.name}' has no states",
                "declare them, e.g. type discrete [ 2 ] { yes, no };",
            )
        elif len(set(var.states)) != len(var.states):
            note(var.pos, f"variable '{var.name}' repeats a state: {', '.join(var.states)}")
        states.setdefault(var.name, var.states)
        declared.setdefault(var.name, var.pos)
    parents: dict[str, list[str]] = {}
    cpts: dict[str, np.ndarray] = {}
    for block in parser.blocks:
        node = block.node
        if node not in states:
            hint = did_you_mean(node, states)
            note(block.pos, f"probability block for unknown variable '{node}'", hint)
            continue
        if node in parents:
            note(block.pos, f"a second probability block for '{node}'")
            continue
        parents[node] = block.parents
        unknown = [p for p in block.parents if p not in states]
        for p in unknown:
            note(block.pos, f"'{node}' has unknown parent '{p}'", did_you_mean(p, states))
        if len(set(block.parents)) != len(block.parents) or node in block.parents:
            listed = ", ".join([node, *block.parents])
            note(block.pos, f"'{node}' lists a variable twice: {listed}")
        elif not unknown and states[node]:
            cpt = _fill_cpt(parser, block, states, atol)
            if cpt is not None:
                cpts[node] = cpt
    for name, pos in declared.items():
        if name not in parents:
            note(pos, f"variable '{name}' has no probability block")
    return states, parents, cpts


def _fill_cpt(parser: _Parser, block: _Block, states: dict, atol: float) -> np.ndarray | None:
    """Build one CPT, shape ``(*parent_cards, card)``, from a block's table or rows."""
    node, parents, note = block.node, block.parents, parser.note
    card, pcards = len(states[node]), tuple(len(states[p]) for p in parents)
    n_rows, before = math.prod(pcards), len(parser.notes)
    expected = f"expected {card} ({', '.join(states[node])})"

    def given(idx: tuple[int, ...]) -> str:
        return ", ".join(states[p][i] for p, i in zip(parents, idx, strict=True))

    if card * n_rows > MAX_CPT_ENTRIES:  # before anything of its size is allocated
        note(block.pos, f"the CPT of '{node}' has {card * n_rows:,} entries ({card} states x "
             f"{n_rows:,} parent configurations), more than the limit of {MAX_CPT_ENTRIES:,}",
             "give it fewer parents; a network this dense cannot be queried exactly")
        return None
    # Where each row was written (-1: nowhere), to report problems at the right line.
    rowpos = np.full(pcards, -1, dtype=np.int64)
    if block.table is not None:
        values, pos = block.table
        if block.rows or block.default:
            note(pos, f"'{node}' has both a 'table' and rows")
            return None
        if len(values) != card * n_rows:
            detail = f"{card} states x {n_rows} parent configurations" if parents else expected
            note(
                pos,
                f"the table of '{node}' has {len(values)} probabilities, expected "
                f"{card * n_rows} ({detail.removeprefix('expected ')})",
            )
            return None
        cpt = np.moveaxis(np.array(values).reshape(card, *pcards), 0, -1)
        rowpos[...] = pos
    else:
        cpt = np.zeros((*pcards, card))
        index = [{s: i for i, s in enumerate(states[p])} for p in parents]
        for names, values, pos in block.rows:
            label = f"row ({', '.join(names)}) of '{node}'"
            if len(names) != len(parents):
                note(
                    pos,
                    f"{label} names {len(names)} parent states, expected {len(parents)} "
                    f"({', '.join(parents)})",
                )
                continue
            idx = tuple(ix.get(s, -1) for ix, s in zip(index, names, strict=True))
            for p, s, i in zip(parents, names, idx, strict=True):
                if i < 0:
                    hint = did_you_mean(s, states[p])
                    note(pos, f"unknown state '{s}' of '{p}' in a row of '{node}'", hint)
            if len(values) != card:
                note(pos, f"{label} has {len(values)} probabilities, {expected}")
            elif min(idx, default=0) >= 0 and rowpos[idx] >= 0:
                note(pos, f"{label} is given twice (first at line {parser.line(rowpos[idx])})")
            elif min(idx, default=0) >= 0:
                rowpos[idx], cpt[idx] = pos, values
        missing = rowpos == -1
        if block.default is not None:
            values, pos = block.default
            if len(values) != card:
                note(pos, f"the default of '{node}' has {len(values)} probabilities, {expected}")
            elif missing.any():
                cpt[missing], rowpos[missing] = values, pos
        elif missing.any() and len(parser.notes) == before:  # else likely a consequence
            first = [f"({given(tuple(i))})" for i in np.argwhere(missing)[:3]]
            more = " ..." if missing.sum() > 3 else ""
            note(
                block.pos,
                f"'{node}' has no row for {int(missing.sum())} of {n_rows} parent "
                f"configurations: {'; '.join(first)}{more}",
                "add the rows, or a 'default' entry",
            )
    # Range and sum checks, vectorised; each bad row is reported at the line it was written.
    sums = cpt.sum(axis=-1)
    outside = np.asarray(((cpt < 0) | (cpt > 1)).any(axis=-1))
    bad = (outside | (np.abs(sums - 1) > atol)) & (rowpos >= 0)
    reported: set[int] = set()
    for where in np.argwhere(bad):
        idx = tuple(int(k) for k in where)
        pos = int(rowpos[idx])
        if block.default is not None and pos == block.default[1]:
            if pos in reported:  # one message for the default, not one per row it fills
                continue
            reported.add(pos)
        what = f"P({node} | {given(idx)})" if parents else f"P({node})"
        if outside[idx]:
            note(pos, f"{what} has a probability outside [0, 1]: {cpt[idx].tolist()}")
        else:
            note(pos, f"{what} sums to {float(sums[idx]):.10g}, not 1 (tolerance {atol:g})")
    return cpt if len(parser.notes) == before else None


def _strip_comments(text: str, source: str) -> str:
    """Blank out comments, keeping every newline so offsets and line numbers stay valid."""
    if "/" not in text:
        return text

    def blank(m: re.Match[str]) -> str:
        s = m.group(0)
        if s[0] == '"':
            return s
        if s.startswith("/*") and (len(s) < 4 or not s.endswith("*/")):
            line = text.count("\n", 0, m.start()) + 1
            raise SpecError(
                f"cannot parse BIF file '{source}'",
                [Problem("a '/*' comment is never closed", file=source, line=line)],
            )
        return re.sub(r"[^\n]", " ", s)

    return _COMMENT_OR_STRING.sub(blank, text)


def parse(text: str, source: str, atol: float) -> tuple[str | None, dict, dict, dict]:
    """Parse BIF text into the network's name, states, parents and CPT arrays.

    Parameters
    ----------
    text : str
        The file's contents.
    source : str
        Its name, for messages.
    atol : float
        How far a row may sum from 1.

    Returns
    -------
    name, states, parents, cpts
        The ``network`` block's name (or None) and the inputs of a ``Network``.

    Raises
    ------
    SpecError
        A syntax error with its line, or every semantic problem found.
    """
    parser = _Parser(_strip_comments(text, source), source)
    try:
        parser.parse()
    except _SyntaxFailure as exc:
        raise SpecError(f"cannot parse BIF file '{source}'", [
            Problem(exc.message, file=source, line=parser.line(exc.pos))]) from None
    states, parents, cpts = _check(parser, atol)
    if parser.notes:
        raise SpecError(f"BIF file '{source}' is invalid", parser.notes)
    return parser.network_name, states, parents, cpts
