"""Read Hugin's NET networks (``.net``).

The NET format of the Hugin tools, also written by bnlearn (``write.net``), pyAgrum, pgmpy's
``NETWriter``, GeNIe and Netica converters::

    % a comment
    net { name = "rain"; }
    node rain { label = "Rain"; states = ("no" "yes"); }
    node wet { states = ("no" "yes"); }
    potential ( rain ) { data = ( 0.8 0.2 ); }
    potential ( wet | rain ) { data = (( 0.9 0.1 )     % rain=no
                                       ( 0.2 0.8 )); } % rain=yes

``data`` lists one row per configuration of the nodes after ``|`` (the last varying fastest),
each row the first node's distribution: our CPT layout; the parentheses that group it are
optional. Attributes other than ``states`` (labels, positions, ``experience``) are read and
ignored. Only discrete chance nodes (``node`` or ``discrete node``) are read: continuous,
decision, utility and function nodes, object-oriented classes, and tables given by expressions
(``model_nodes``/``model_data``) are refused by name.

Why not pgmpy's ``NETReader``: it does not know Hugin's ``%`` comments (every file Hugin saves
has them, and pyAgrum's and bnlearn's annotate the rows of ``data``), so their text is read as
part of the tables; it splits quoted state names at spaces (``"very high"`` becomes two
states); it pairs each node with the n-th ``states`` and each potential with the n-th ``data``
found anywhere in the file, so one missing entry shifts every table after it; and it costs
pgmpy's 2 s import. This is a small recursive-descent parser that reports every problem with
its line and checks each CPT's size before reading its numbers.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from forecast.errors import Problem, SpecError, did_you_mean
from forecast.network._formats import (
    TOO_LARGE_HINT,
    Notes,
    finish_network,
    parse_numbers,
    read_source,
    too_large,
)
from forecast.network.bif import ROW_SUM_ATOL
from forecast.network.network import Network

__all__ = ["read_net"]

SUFFIXES = (".net",)
_SKIP = re.compile(r"(?:\s|,|%[^\n]*)*")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_WORD = re.compile(r'[^\s{}()=;|",%]+')
# In a list, an unquoted item may hold '=', '|' and braces (pyAgrum writes states such as
# >=7.5 unquoted, where Hugin quotes them).
_ITEM = re.compile(r'[^\s()",;%]+')
_DATA = re.compile(r"(?:[^;%]|%[^\n]*)*")
_COMMENT = re.compile(r"%[^\n]*")
_KINDS = {"node", "decision", "utility", "function"}


class _SyntaxFailure(Exception):
    def __init__(self, pos: int, message: str) -> None:
        self.pos, self.message = pos, message


@dataclass
class _Potential:
    node: str
    parents: list[str]
    line: int
    data: tuple[int, int] | None = None


Value = str | list["Value"]


class _Parser:
    def __init__(self, text: str, notes: Notes) -> None:
        self.text, self.notes, self.pos = text, notes, 0
        self.name: str | None = None
        self.states: dict[str, list[str]] = {}
        self.declared: dict[str, int] = {}
        self.refused: set[str] = set()  # nodes of kinds not read: their potentials too
        self.potentials: list[_Potential] = []

    # -- tokens ---------------------------------------------------------------------------
    def peek(self) -> str:
        self.pos = _SKIP.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.text[self.pos : self.pos + 1]

    def found(self) -> str:
        if self.peek() == "":
            return "end of file"
        m = _WORD.match(self.text, self.pos)
        return repr(m.group(0)[:40] if m else self.text[self.pos])

    def expect(self, char: str, context: str) -> None:
        if self.peek() != char:
            raise _SyntaxFailure(self.pos, f"expected '{char}' {context}, found {self.found()}")
        self.pos += 1

    def word(self, what: str, pattern: re.Pattern[str] = _WORD) -> str:
        self.peek()
        m = _STRING.match(self.text, self.pos) or pattern.match(self.text, self.pos)
        if m is None:
            raise _SyntaxFailure(self.pos, f"expected {what}, found {self.found()}")
        self.pos = m.end()
        return _unquote(m.group(1)) if m.re is _STRING else m.group(0)

    def value(self, listed: bool = False) -> Value:
        if self.peek() == "(":
            self.pos += 1
            items: list[Value] = []
            while self.peek() != ")":
                if not self.peek():
                    raise _SyntaxFailure(self.pos, "a list '(' is never closed")
                items.append(self.value(listed=True))
            self.pos += 1
            return items
        return self.word("a value", _ITEM if listed else _WORD)

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> None:
        while self.peek():
            start = self.pos
            first = self.word("'net', 'node' or 'potential'")
            if first == "net":
                attrs = self.block("the net block")
                name = attrs.get("name")
                self.name = name if isinstance(name, str) else None
            elif first == "potential":
                self.potential(start)
            elif first in _KINDS or first in ("discrete", "continuous"):
                kind = first
                if first in ("discrete", "continuous"):
                    kind = self.word("'node', 'decision', 'utility' or 'function'")
                    if kind not in _KINDS:
                        raise _SyntaxFailure(start, f"expected 'node' after '{first}', "
                                                    f"found '{kind}'")
                self.node(start, first if first == "continuous" else "discrete", kind)
            elif first == "class":
                raise _SyntaxFailure(start, "an object-oriented Hugin class: only flat "
                                            "networks can be read (save the network "
                                            "unfolded, e.g. as a runtime domain)")
            else:
                raise _SyntaxFailure(start, f"expected 'net', 'node' or 'potential', found "
                                            f"'{first[:40]}'")

    def block(self, what: str, potential: _Potential | None = None) -> dict[str, Value]:
        self.expect("{", f"opening {what}")
        opened = self.pos
        attrs: dict[str, Value] = {}
        while self.peek() != "}":
            if not self.peek():
                line = self.notes.line(opened)
                raise _SyntaxFailure(self.pos, f"{what} (opened at line {line}) is never "
                                               "closed with '}'")
            at = self.pos
            key = self.word(f"an attribute or '}}' in {what}")
            self.expect("=", f"after '{key}' in {what}")
            if key in attrs:
                self.notes.add(self.notes.line(at), f"'{key}' is given twice in {what}")
            if potential is not None and key == "data":
                end = _DATA.match(self.text, self.pos).end()  # type: ignore[union-attr]
                potential.data = (self.pos, end)
                self.pos = end
                attrs[key] = ""
            else:
                attrs[key] = self.value()
            if self.peek() != ";":
                raise _SyntaxFailure(self.pos, f"expected ';' after the value of '{key}' in "
                                               f"{what}, found {self.found()}")
            self.pos += 1
        self.pos += 1
        return attrs

    def node(self, start: int, kind: str, role: str) -> None:
        name = self.word("a node name")
        line = self.notes.line(start)
        attrs = self.block(f"node '{name}'")
        if kind != "discrete" or role != "node":
            what = "a continuous" if kind == "continuous" else f"a {role}"
            self.notes.add(line, f"node '{name}' is {what} node; only discrete chance nodes "
                                 "make a Bayesian network this package reads")
            self.refused.add(name)
            return
        if name in self.declared:
            self.notes.add(line, f"node '{name}' is declared again (first at line "
                                 f"{self.declared[name]})")
            return
        states = attrs.get("states")
        if not isinstance(states, list) or not states or any(isinstance(s, list)
                                                             for s in states):
            self.notes.add(line, f"node '{name}' has no states = (\"...\" ...);")
            states = []
        elif len(set(map(str, states))) != len(states):
            self.notes.add(line, f"node '{name}' repeats a state: {', '.join(map(str, states))}")
        self.states[name] = [str(s) for s in states]
        self.declared[name] = line

    def potential(self, start: int) -> None:
        self.expect("(", "after 'potential'")
        head: list[str] = []
        tail: list[str] | None = None
        while self.peek() != ")":
            if self.peek() == "|":
                if tail is not None:
                    raise _SyntaxFailure(self.pos, "a second '|' in a potential's header")
                self.pos += 1
                tail = []
                continue
            (head if tail is None else tail).append(self.word("a node name or ')'"))
        self.pos += 1
        line = self.notes.line(start)
        if len(head) != 1:
            listed = " ".join(head) or "nothing"
            pot = _Potential("", [], line)
            self.block(f"the potential of {listed}", pot)
            self.notes.add(line, f"a potential of {listed} before '|': a conditional "
                                 "probability table has one node there")
            return
        pot = _Potential(head[0], tail or [], line)
        attrs = self.block(f"the potential of '{head[0]}'", pot)
        if pot.data is None and head[0] not in self.refused:
            how = (" (a table given by expressions: model_nodes/model_data are not read)"
                   if "model_data" in attrs else "")
            self.notes.add(line, f"the potential of '{head[0]}' has no data{how}",
                           "in Hugin, generate the tables and save the network again"
                           if how else None)
        self.potentials.append(pot)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def read_net(
    path_or_text: str | os.PathLike[str],
    *,
    name: str | None = None,
    row_sum_atol: float = ROW_SUM_ATOL,
    normalize: bool = True,
) -> Network:
    """Read a discrete Bayesian network from a Hugin NET file or string.

    Parameters
    ----------
    path_or_text : str or path-like
        A ``.net`` file (gzip-compressed or not), or the NET text itself (a string containing
        a newline).
    name : str, optional
        Name of the network; default the net block's ``name``, else the file name.
    row_sum_atol : float, optional
        How far each row may sum from 1.
    normalize : bool, optional
        Divide each accepted row by its sum, as ``read_bif(normalize=True)`` does (the
        default here).

    Returns
    -------
    Network
        Nodes in the order the file declares them; parents in the order after ``|``.

    Raises
    ------
    SpecError
        For a syntax error, with its line and what was expected; otherwise listing every
        problem with its line: node kinds that are not read, nodes without states or declared
        twice, potentials of unknown nodes or without data, tables of the wrong length or with
        text that is not a number, a CPT over the size limit, nodes without a potential, rows
        not summing to 1, cycles.
    """
    source = read_source(path_or_text, "NET", SUFFIXES)
    text = source.text()
    notes = Notes(source.label, text)
    parser = _Parser(text, notes)
    try:
        parser.parse()
    except _SyntaxFailure as exc:
        pos = min(exc.pos, max(len(text.rstrip()) - 1, 0))
        raise SpecError(f"cannot parse NET file '{source.label}'", [
            Problem(exc.message, file=source.label, line=notes.line(pos))]) from None
    states = parser.states
    parents: dict[str, list[str]] = {}
    tables: dict[str, np.ndarray] = {}
    lines: dict[str, int | None] = {}
    for pot in parser.potentials:
        node = pot.node
        if node in parser.refused or not node:
            continue
        if node not in states:
            notes.add(pot.line, f"a potential of unknown node '{node}'",
                      did_you_mean(node, states))
            continue
        if node in parents:
            notes.add(pot.line, f"a second potential of '{node}' (first at line {lines[node]})")
            continue
        parents[node], lines[node] = pot.parents, pot.line
        unknown = [p for p in pot.parents if p not in states]
        for p in unknown:
            notes.add(pot.line, f"'{node}' has unknown parent '{p}'", did_you_mean(p, states))
        if len(set(pot.parents)) != len(pot.parents) or node in pot.parents:
            notes.add(pot.line, f"'{node}' lists a node twice: "
                                f"{', '.join([node, *pot.parents])}")
            continue
        if unknown or not states[node] or pot.data is None:
            continue
        table = _table(notes, text, pot, states)
        if table is not None:
            tables[node] = table
    for node, line in parser.declared.items():
        if node not in parents:
            notes.add(line, f"node '{node}' has no potential")
    label = name or parser.name or source.stem or "network"
    return finish_network(notes, "NET", label, states, parents, tables, lines,
                          row_sum_atol=row_sum_atol, normalize=normalize)


def _table(notes: Notes, text: str, pot: _Potential,
           states: dict[str, list[str]]) -> np.ndarray | None:
    """One CPT from a potential's data: checked against the size limit before it is read."""
    assert pot.data is not None
    node, card = pot.node, len(states[pot.node])
    pcards = [len(states[p]) for p in pot.parents]
    refused = too_large(node, card, pcards)
    if refused is not None:
        notes.add(pot.line, refused, TOO_LARGE_HINT)
        return None
    start, end = pot.data
    line = notes.line(start)
    chunk = _COMMENT.sub(" ", text[start:end]).replace("(", " ").replace(")", " ")
    values = parse_numbers(chunk, notes, line, f"the data of '{node}'")
    if values is None:
        return None
    expected = card * math.prod(pcards)
    if len(values) != expected:
        notes.add(line, f"the data of '{node}' has {len(values)} numbers, expected {expected} "
                        f"({card} states x {math.prod(pcards)} parent configurations)")
        return None
    return np.array(values, dtype=np.float64).reshape(*pcards, card)
