"""What the network readers and writers share.

Reading a file (gzip-compressed or not) with every failure one :class:`~forecast.errors.
SpecError` naming it; line numbers from offsets; the CPT size limit, checked from the declared
states before a table is built; the checks every parsed table gets (probabilities in [0, 1],
rows summing to 1) with the line they were written on; and the Dirichlet pseudo-counts that
:func:`~forecast.network.bif.write_bif`, :func:`~forecast.network.xmlbif.write_xmlbif` and the
model layer's :func:`~forecast.model.imported.network_to_model` attach to a network's rows.

Rows are normalised exactly as :func:`~forecast.network.bif.read_bif` does with
``normalize=True``: a row within ``row_sum_atol`` of 1 is accepted and divided by its sum, so
every engine gets a proper distribution (files round their numbers); a row further off is an
error naming the node and the parent configuration.
"""

from __future__ import annotations

import bisect
import gzip
import math
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecast.errors import Problem, SpecError
from forecast.network.limits import MAX_CPT_ENTRIES
from forecast.network.network import Network

__all__ = [
    "COUNT_FLOOR",
    "Notes",
    "Source",
    "check_counts",
    "dirichlet_counts",
    "finish_network",
    "parse_numbers",
    "read_source",
    "too_large",
]

COUNT_FLOOR = 1e-3
"""Smallest pseudo-count of :func:`dirichlet_counts`, as a share of ``ess / states``."""


@dataclass(frozen=True)
class Source:
    """A file's bytes (decompressed), its label for messages and its name without extensions."""

    raw: bytes
    label: str
    stem: str | None
    given: str | None = None
    """The text itself, when a string was given instead of a file."""

    def text(self) -> str:
        """The bytes as text: UTF-8 (a BOM skipped), else Latin-1 as older exports use."""
        if self.given is not None:
            return self.given
        try:
            return self.raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return self.raw.decode("latin-1")


def read_source(path_or_text: str | os.PathLike[str], kind: str,
                suffixes: Sequence[str]) -> Source:
    """Read a network file, gunzipping it if its bytes are gzip's, or take a string as the text.

    Parameters
    ----------
    path_or_text : str or path-like
        A file, or the file's text itself (a string containing a newline or ``<``).
    kind : str
        The format's name, for messages (``"XMLBIF"``).
    suffixes : sequence of str
        The format's suffixes, stripped (with ``.gz``) to give the stem.

    Raises
    ------
    SpecError
        If the file cannot be read or its gzip stream is damaged, naming the file.
    """
    if isinstance(path_or_text, str) and ("\n" in path_or_text or "<" in path_or_text):
        return Source(path_or_text.encode("utf-8"), "<string>", None, path_or_text)
    path = Path(path_or_text)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        if isinstance(exc, EOFError | zlib.error) or "gzip" in reason.lower():
            reason = f"a damaged or truncated gzip stream ({reason})"
        raise SpecError(f"cannot read {kind} file '{path}'",
                        [Problem(reason, file=str(path))]) from None
    pattern = "(" + "|".join(re.escape(s) for s in suffixes) + r")?(\.gz)?$"
    stem = re.sub(pattern, "", path.name, flags=re.IGNORECASE)
    return Source(raw, str(path), stem)


@dataclass
class Notes:
    """Problems of one file, located by line; offsets are turned into lines on request."""

    source: str
    text: str = ""
    problems: list[Problem] = field(default_factory=list)
    _newlines: list[int] | None = None

    def line(self, pos: int) -> int:
        """The 1-based line of offset `pos` in :attr:`text`."""
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def add(self, line: int | None, message: str, hint: str | None = None) -> None:
        """Note a problem at `line` (None: the file as a whole)."""
        self.problems.append(Problem(message, hint=hint, file=self.source, line=line))


def too_large(node: str, card: int, parent_cards: Sequence[int]) -> str | None:
    """The refusal of a CPT over :data:`~forecast.network.limits.MAX_CPT_ENTRIES`, or None.

    Computed from the cardinalities alone, so a file is refused before its table is built.
    """
    rows = 1
    for c in parent_cards:
        rows *= c
        if rows * card > MAX_CPT_ENTRIES:
            break
    if rows * card <= MAX_CPT_ENTRIES:
        return None
    return (f"the CPT of '{node}' has more than {MAX_CPT_ENTRIES:,} entries ({card} states x "
            f"{math.prod(parent_cards):,} parent configurations), the limit")


TOO_LARGE_HINT = "give it fewer parents; a network this dense cannot be queried exactly"


def parse_numbers(text: str, notes: Notes, line: int | None, what: str) -> list[float] | None:
    """The numbers of a table's text (separated by spaces or commas).

    Python's ``float`` reads each, so every number is the float64 nearest to its text, as
    :func:`~forecast.network.bif.read_bif` reads them. None after noting the first item that
    is not a number.
    """
    items = text.replace(",", " ").split()
    try:
        return [float(x) for x in items]
    except ValueError:
        for item in items:
            try:
                float(item)
            except ValueError:
                notes.add(line, f"expected a number in {what}, found '{item[:40]}'")
                break
        return None


def finish_network(
    notes: Notes,
    kind: str,
    name: str,
    states: Mapping[str, Sequence[str]],
    parents: Mapping[str, Sequence[str]],
    tables: Mapping[str, np.ndarray],
    lines: Mapping[str, int | None],
    *,
    row_sum_atol: float,
    normalize: bool,
) -> Network:
    """Check parsed tables, then build the network (normalised on request).

    Parameters
    ----------
    notes : Notes
        The problems found while parsing; every table problem is added, then all are raised.
    kind : str
        The format's name, for messages.
    name : str
        The network's name.
    states, parents : mapping
        Each node's states and parents (the parents in the order of the table's axes).
    tables : mapping of str to ndarray
        Each node's CPT, shape ``(*parent_cards, card)``, float64.
    lines : mapping of str to int or None
        Where each node's table was written.
    row_sum_atol : float
        How far a row may sum from 1.
    normalize : bool
        Divide each accepted row by its sum.

    Raises
    ------
    SpecError
        Listing every problem of the file: those noted while parsing, no nodes at all,
        probabilities outside
        [0, 1] or not finite, rows not summing to 1 (the first three of each node), and those
        :class:`~forecast.network.network.Network` finds (unknown parents, cycles).
    """
    if not states and not notes.problems:
        notes.add(None, f"the file declares no nodes: is it a {kind} network?")
    for node, table in tables.items():
        line = lines.get(node)
        if not np.isfinite(table).all():
            notes.add(line, f"the CPT of '{node}' has a value that is not a finite number")
            continue
        outside = np.asarray(((table < 0) | (table > 1)).any(axis=-1))
        sums = table.sum(axis=-1)
        bad = outside | (np.abs(sums - 1) > row_sum_atol)
        for where in np.argwhere(bad)[:3]:
            idx = tuple(int(k) for k in where)
            given = ", ".join(f"{p}={states[p][i]}" for p, i in zip(parents[node], idx,
                                                                       strict=True))
            what = f"P({node} | {given})" if given else f"P({node})"
            if outside[idx]:
                notes.add(line, f"{what} has a probability outside [0, 1]: "
                                f"{table[idx].tolist()}")
            else:
                notes.add(line, f"{what} sums to {float(sums[idx]):.10g}, not 1 "
                                f"(tolerance {row_sum_atol:g})")
        if int(bad.sum()) > 3:
            notes.add(line, f"... and {int(bad.sum()) - 3} more rows of '{node}' like these")
    if notes.problems:
        raise SpecError(f"{kind} file '{notes.source}' is invalid", notes.problems)
    try:
        net = Network({n: tuple(s) for n, s in states.items()},
                      {n: tuple(p) for n, p in parents.items()}, tables, name=name,
                      row_sum_atol=row_sum_atol)
    except SpecError as exc:
        raise SpecError(f"{kind} file '{notes.source}' is invalid", exc.problems) from None
    if not normalize:
        return net
    return net.with_cpts({n: t / t.sum(axis=-1, keepdims=True) for n, t in net.cpts.items()})


def dirichlet_counts(network: Network, ess: float, *,
                     floor: float = COUNT_FLOOR) -> dict[str, np.ndarray]:
    """Dirichlet pseudo-counts that hold each row of `network` with the certainty of `ess` cases.

    Each row's counts are ``ess`` times its probabilities, so the Dirichlet's mean is the row
    and its concentration (the counts' sum) is ``ess``: the spread of a row learned from
    ``ess`` observations of its parent configuration. A Dirichlet's counts must be positive, so
    every count is raised to at least ``floor * ess / states``: a zero of the network (a
    deterministic relation, such as asia's ``either = lung or tub``) becomes a probability of
    about ``floor / states`` (5e-4 for a binary node by default), which evidence can then
    raise; rows without entries below ``floor / states`` keep their means exactly.

    Parameters
    ----------
    network : Network
        The network whose rows are the means.
    ess : float
        The equivalent sample size of every row: finite and > 0.
    floor : float, optional
        The smallest count as a share of ``ess / states``, in (0, 1).

    Returns
    -------
    dict of str to ndarray
        Per node, counts of the CPT's shape ``(*parent_cards, card)``.

    Raises
    ------
    ValueError
        If `ess` is not finite and > 0, or `floor` not in (0, 1).
    """
    if not (math.isfinite(ess) and ess > 0):
        raise ValueError(f"ess must be a finite number > 0, got {ess!r}")
    if not 0 < floor < 1:
        raise ValueError(f"floor must be in (0, 1), got {floor!r}")
    return {node: np.maximum(ess * table, floor * ess / network.card(node))
            for node, table in network.cpts.items()}


def check_counts(network: Network, counts: Mapping[str, object]) -> dict[str, np.ndarray]:
    """`counts` as float arrays, checked against `network`'s nodes and CPT shapes.

    Raises
    ------
    SpecError
        Listing every count table of an unknown node, of the wrong shape, or with a count that
        is not a finite number > 0.
    """
    out: dict[str, np.ndarray] = {}
    problems = []
    for node, value in counts.items():
        at = f"counts['{node}']"
        if node not in network.cpts:
            problems.append(Problem("is not a node of the network", field=at,
                                    file=network.name))
            continue
        table = np.asarray(value, dtype=float)
        shape = network.cpts[node].shape
        if table.shape != shape:
            problems.append(Problem(f"has shape {table.shape}, expected the CPT's {shape}",
                                    field=at, file=network.name))
        elif not (np.isfinite(table).all() and (table > 0).all()):
            problems.append(Problem("has a count that is not a finite number > 0", field=at,
                                    file=network.name))
        else:
            out[node] = table
    if problems:
        raise SpecError(f"the counts do not fit network '{network.name}'", problems)
    return out
