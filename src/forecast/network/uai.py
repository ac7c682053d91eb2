"""Read Bayesian networks in the UAI inference-competition format (``.uai``).

The format of the UAI 2008-2022 competitions, also written by pyAgrum and toulbar2::

    BAYES
    3                 number of variables
    2 2 3             their numbers of states
    3                 number of tables
    1 0               a table's scope: its size, then the variables; the child comes last
    2 0 1
    3 0 1 2
    2                 number of entries of the first table, then the entries
     0.8 0.2
    4
     0.9 0.1 0.2 0.8
    ...

The entries run over the scope with its *last* variable (the child) varying fastest, so a table
is one row per configuration of the other variables, in scope order: our CPT layout. The
format has no names: variables are ``var_0``, ``var_1``, ... (as pgmpy names them) and states
``0``, ``1``, ...; ``#`` starts a comment (pyAgrum writes each table's child there), as does
a line starting with a lone ``c`` (the 2016 competition's comments). Markov networks
(``MARKOV``) are refused: they have no conditional tables.

Why not pgmpy's ``UAIReader``: it reads the entries as if the child varied *slowest* and takes
each child's parents in the order of its graph rather than the table's scope, so a file
written to the standard (pyAgrum's, the competitions') gives CPTs whose rows are not
distributions, and it is not told; its number grammar has no exponent, so ``1e-05`` is not
read; it parses the whole file again for every table (quadratic); and it costs pgmpy's 2 s
import. pgmpy's ``UAIWriter`` writes the same non-standard order, so pgmpy reads its own files
back but nobody else's. pyAgrum 3.3's UAI reader and writer take the *first* variable of a
scope as the fastest after the child, so they agree with the standard only on tables with at
most one parent (and it writes six significant digits). This reader follows the standard (the
order of the format's own examples, checked in ``tests/test_formats.py``), checks every count
against the declared states before reading a table, and reports problems with their line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator

import numpy as np

from forecast.errors import Problem, SpecError
from forecast.network._formats import (
    TOO_LARGE_HINT,
    Notes,
    finish_network,
    parse_numbers,
    read_source,
    too_large,
)
from forecast.network.bif import ROW_SUM_ATOL
from forecast.network.limits import MAX_CPT_ENTRIES
from forecast.network.network import Network

__all__ = ["read_uai"]

SUFFIXES = (".uai",)
_TOKEN = re.compile(r"\S+")
# "#" to the end of a line (pyAgrum's comments), and lines that are "c" and a comment (UAI 2016)
_COMMENT = re.compile(r"#[^\n]*|^[ \t]*c(?:[ \t][^\n]*)?$", re.MULTILINE)
MAX_VARIABLES = 100_000
"""Most variables a UAI file may declare (checked before anything per variable is built)."""


class _Failure(Exception):
    def __init__(self, pos: int, message: str) -> None:
        self.pos, self.message = pos, message


class _Tokens:
    """The file's whitespace-separated items, with their offsets, read one at a time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._it: Iterator[re.Match[str]] = _TOKEN.finditer(text)
        self.pos = 0

    def next(self, what: str) -> tuple[str, int]:
        m = next(self._it, None)
        if m is None:
            raise _Failure(len(self.text), f"the file ends where {what} was expected")
        self.pos = m.start()
        return m.group(0), m.start()

    def integer(self, what: str, low: int = 0, high: int | None = None) -> int:
        item, pos = self.next(what)
        if not item.isdigit():
            raise _Failure(pos, f"expected {what} (a whole number), found '{item[:40]}'")
        value = int(item)
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"from {low} to {high}"
            raise _Failure(pos, f"{what} must be {bound}, found {value}")
        return value

    def rest(self) -> str | None:
        """The next item, if the file has one."""
        m = next(self._it, None)
        if m is None:
            return None
        self.pos = m.start()
        return m.group(0)


def read_uai(
    path_or_text: str | os.PathLike[str],
    *,
    name: str | None = None,
    row_sum_atol: float = ROW_SUM_ATOL,
    normalize: bool = True,
) -> Network:
    """Read a Bayesian network from a UAI file or string.

    Parameters
    ----------
    path_or_text : str or path-like
        A ``.uai`` file (gzip-compressed or not), or the text itself (a string containing a
        newline).
    name : str, optional
        Name of the network; default the file name.
    row_sum_atol : float, optional
        How far each row may sum from 1.
    normalize : bool, optional
        Divide each accepted row by its sum, as ``read_bif(normalize=True)`` does (the
        default here).

    Returns
    -------
    Network
        Nodes ``var_0``, ``var_1``, ... in file order with states ``0``, ``1``, ...; each
        node's parents in the order of its table's scope.

    Raises
    ------
    SpecError
        For a malformed file (a Markov network, a count or index that is not a whole number or
        is out of range, a table whose number of entries is not the product of its scope's
        states, a file that ends early or goes on after the last table), with its line;
        otherwise listing every problem: a variable that is the child of no table or of two,
        a variable twice in a scope, a CPT over the size limit, entries that are not numbers,
        rows not summing to 1, cycles.
    """
    source = read_source(path_or_text, "UAI", SUFFIXES)
    text = _COMMENT.sub(lambda m: " " * len(m.group(0)), source.text())
    notes = Notes(source.label, text)
    try:
        states, parents, tables, lines = _parse(_Tokens(text), notes)
    except _Failure as exc:
        pos = min(exc.pos, max(len(text.rstrip()) - 1, 0))
        raise SpecError(f"cannot parse UAI file '{source.label}'", [
            Problem(exc.message, file=source.label, line=notes.line(pos))]) from None
    return finish_network(notes, "UAI", name or source.stem or "network", states, parents,
                          tables, lines, row_sum_atol=row_sum_atol, normalize=normalize)


def _parse(tokens: _Tokens, notes: Notes) -> tuple[dict[str, list[str]], dict[str, list[str]],
                                                   dict[str, np.ndarray], dict[str, int | None]]:
    kind, pos = tokens.next("the network type")
    if kind.upper() != "BAYES":
        hint = (" (a Markov network has factors, not conditional tables)"
                if kind.upper() == "MARKOV" else "")
        raise _Failure(pos, f"expected 'BAYES', found '{kind[:40]}'{hint}")
    n = tokens.integer("the number of variables", 1, MAX_VARIABLES)
    cards = [tokens.integer(f"the number of states of variable {i}", 1, MAX_CPT_ENTRIES)
             for i in range(n)]
    names = [f"var_{i}" for i in range(n)]
    m = tokens.integer("the number of tables")
    if m != n:
        raise _Failure(tokens.pos, f"a Bayesian network of {n} variables has {n} tables (one "
                                   f"per variable), found {m}")
    scopes: list[tuple[list[int], int]] = []
    for t in range(m):
        size = tokens.integer(f"the scope size of table {t}", 1, n)
        scope = [tokens.integer(f"a variable of table {t}'s scope", 0, n - 1)
                 for _ in range(size)]
        scopes.append((scope, notes.line(tokens.pos)))
    owner: dict[int, int] = {}
    for t, (scope, line) in enumerate(scopes):
        child = scope[-1]
        if len(set(scope)) != len(scope):
            notes.add(line, f"table {t} names a variable twice in its scope: "
                            f"{' '.join(map(str, scope))}")
        if child in owner:
            notes.add(line, f"{names[child]} is the child (last in the scope) of tables "
                            f"{owner[child]} and {t}")
        owner.setdefault(child, t)
    for i in range(n):
        if i not in owner:
            notes.add(None, f"{names[i]} is the child (last in the scope) of no table")
    states = {names[i]: [str(s) for s in range(c)] for i, c in enumerate(cards)}
    parents: dict[str, list[str]] = {}
    tables: dict[str, np.ndarray] = {}
    lines: dict[str, int | None] = {}
    for t, (scope, _) in enumerate(scopes):
        node = names[scope[-1]]
        pcards = [cards[v] for v in scope[:-1]]
        refused = too_large(node, cards[scope[-1]], pcards)
        count = tokens.integer(f"the number of entries of table {t}")
        line = notes.line(tokens.pos)
        if refused is not None:
            notes.add(line, refused, TOO_LARGE_HINT)
            raise SpecError(f"UAI file '{notes.source}' is invalid", notes.problems)
        expected = cards[scope[-1]] * math.prod(pcards)
        if count != expected:
            raise _Failure(tokens.pos, f"table {t} ({node} given "
                                       f"{', '.join(names[v] for v in scope[:-1]) or 'nothing'})"
                                       f" has {count} entries, expected {expected} (the "
                                       "product of its scope's numbers of states)")
        items = [tokens.next(f"entry {k + 1} of table {t}")[0] for k in range(count)]
        values = parse_numbers(" ".join(items), notes, line, f"table {t}")
        if values is None or owner.get(scope[-1]) != t or len(set(scope)) != len(scope):
            continue
        parents[node] = [names[v] for v in scope[:-1]]
        tables[node], lines[node] = np.array(values, dtype=np.float64).reshape(
            *pcards, cards[scope[-1]]), line
    extra = tokens.rest()
    if extra is not None:
        raise _Failure(tokens.pos, f"the file goes on after the last table: '{extra[:40]}'")
    if notes.problems:
        raise SpecError(f"UAI file '{notes.source}' is invalid", notes.problems)
    return states, parents, tables, lines
