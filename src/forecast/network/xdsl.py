"""Read GeNIe/SMILE's XDSL networks (``.xdsl``).

XDSL is the XML format of BayesFusion's GeNIe and SMILE::

    <smile version="1.0" id="rain">
      <nodes>
        <cpt id="rain"><state id="no" /><state id="yes" /><probabilities>0.8 0.2</probabilities>
        </cpt>
        <cpt id="wet"><state id="no" /><state id="yes" /><parents>rain</parents>
          <probabilities>0.9 0.1 0.2 0.8</probabilities></cpt>
        <deterministic id="alarm"><state id="off" /><state id="on" /><parents>wet</parents>
          <resultingstates>off on</resultingstates></deterministic>
      </nodes>
      <extensions> ... layout, ignored ... </extensions>
    </smile>

``probabilities`` lists one row per configuration of ``parents`` (the last varying fastest),
each row the node's distribution: our CPT layout. This is the order of pgmpy's XDSL writer and
reader and of pyAgrum's DSL writer (GeNIe's older text format, which lists the parents in
reverse); pyAgrum 3.3's XDSL writer and reader take the *first* parent as the fastest (and its
writer does not escape ids such as ``<5``), so for nodes with two or more parents its ``.xdsl``
files disagree with pgmpy's and with this reader. A ``deterministic`` node gives, per parent
configuration, the state it takes (a row of 0s and a 1). Other node types (noisy-MAX,
equations, decisions, utilities) and dynamic (plate) nodes are refused by name.

Why not pgmpy's ``XDSLReader``: it reads only ``cpt`` nodes, silently dropping a
``deterministic`` node so that its children fail with a ``KeyError``; it splits
``parents`` and ``probabilities`` on single spaces, so a file with line breaks or double spaces
in a table (hand-edited, or written by other tools) fails on ``float('')``; and it costs
pgmpy's 2 s import. This reader gives the same tables on the
files it reads (checked in ``tests/test_formats.py``), with the line of every problem.
"""

from __future__ import annotations

import math
import os

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
from forecast.network._xml import Element, parse_xml
from forecast.network.bif import ROW_SUM_ATOL
from forecast.network.network import Network

__all__ = ["read_xdsl"]

SUFFIXES = (".xdsl",)
_READ = ("cpt", "deterministic")
_HINT = "in GeNIe, change the node's type to a general chance node (a CPT) and save again"


def read_xdsl(
    path_or_text: str | os.PathLike[str],
    *,
    name: str | None = None,
    row_sum_atol: float = ROW_SUM_ATOL,
    normalize: bool = True,
) -> Network:
    """Read a discrete Bayesian network from a GeNIe XDSL file or string.

    Parameters
    ----------
    path_or_text : str or path-like
        A ``.xdsl`` file (gzip-compressed or not), or the XML text itself.
    name : str, optional
        Name of the network; default the ``id`` of ``<smile>``, else the file name.
    row_sum_atol : float, optional
        How far each row may sum from 1.
    normalize : bool, optional
        Divide each accepted row by its sum, as ``read_bif(normalize=True)`` does (the
        default here).

    Returns
    -------
    Network
        Nodes in file order; parents in ``<parents>`` order.

    Raises
    ------
    SpecError
        For XML that is not well formed (with its line), else listing every problem with its
        line: node types other than ``cpt`` and ``deterministic``, dynamic nodes, nodes
        without an id or states, unknown parents, tables of the wrong length, resulting
        states that are not states of the node, rows not summing to 1, cycles.
    """
    source = read_source(path_or_text, "XDSL", SUFFIXES)
    root = parse_xml(source, "XDSL")
    nodes_el = root.first("nodes")
    if root.tag != "smile" or nodes_el is None:
        raise SpecError(f"cannot read XDSL file '{source.label}'", [Problem(
            f"expected <smile> holding <nodes>, found <{root.tag}>"
            + (" (an XMLBIF network? those are read from .xml files)"
               if root.tag.upper() == "BIF" else ""), file=source.label, line=root.line)])
    notes = Notes(source.label)
    states: dict[str, list[str]] = {}
    elements: dict[str, Element] = {}
    for el in nodes_el.children:
        node = el.attrib.get("id", "").strip()
        if not node:
            notes.add(el.line, f"a <{el.tag}> node without an id")
            continue
        if node in elements:
            notes.add(el.line, f"node '{node}' is declared again (first at line "
                               f"{elements[node].line})")
            continue
        if el.tag not in _READ:
            notes.add(el.line, f"node '{node}' is a GeNIe '{el.tag}' node; only chance nodes "
                               "with a CPT ('cpt') and deterministic nodes can be read", _HINT)
            continue
        if el.attrib.get("dynamic"):
            notes.add(el.line, f"node '{node}' is a dynamic ({el.attrib['dynamic']}) node; "
                               "only static networks can be read",
                      "unroll the dynamic network in GeNIe and save the unrolled one")
            continue
        node_states = [s.attrib.get("id", "").strip() for s in el.all("state")]
        if not node_states or not all(node_states):
            notes.add(el.line, f"node '{node}' has "
                               + ("a state without an id" if node_states else "no states"))
        elif len(set(node_states)) != len(node_states):
            notes.add(el.line, f"node '{node}' repeats a state: {', '.join(node_states)}")
        states[node], elements[node] = node_states, el
    parents: dict[str, list[str]] = {}
    tables: dict[str, np.ndarray] = {}
    lines: dict[str, int | None] = {}
    for node, el in elements.items():
        parents_el = el.first("parents")
        given = parents_el.text.split() if parents_el is not None else []
        parents[node], lines[node] = given, el.line
        unknown = [p for p in given if p not in states]
        for p in unknown:
            notes.add(el.line, f"'{node}' has unknown parent '{p}'", did_you_mean(p, states))
        if len(set(given)) != len(given) or node in given:
            notes.add(el.line, f"'{node}' lists a node twice: {', '.join([node, *given])}")
            continue
        if unknown or not states[node]:
            continue
        table = _table(notes, node, el, states, given)
        if table is not None:
            tables[node] = table
    label = name or root.attrib.get("id", "").strip() or source.stem or "network"
    return finish_network(notes, "XDSL", label, states, parents, tables, lines,
                          row_sum_atol=row_sum_atol, normalize=normalize)


def _table(notes: Notes, node: str, el: Element, states: dict[str, list[str]],
           given: list[str]) -> np.ndarray | None:
    card, pcards = len(states[node]), [len(states[p]) for p in given]
    n_rows = math.prod(pcards)
    refused = too_large(node, card, pcards)
    if refused is not None:
        notes.add(el.line, refused, TOO_LARGE_HINT)
        return None
    if el.tag == "deterministic":
        found = el.first("resultingstates")
        line = found.line if found is not None else el.line
        chosen = found.text.split() if found is not None else []
        if len(chosen) != n_rows:
            notes.add(line, f"'{node}' has {len(chosen)} resulting states, expected {n_rows} "
                            "(one per parent configuration)")
            return None
        index = {s: i for i, s in enumerate(states[node])}
        wrong = sorted({s for s in chosen if s not in index})
        if wrong:
            notes.add(line, f"'{node}' has resulting states that are not its states: "
                            f"{', '.join(wrong)}", did_you_mean(wrong[0], index))
            return None
        return np.eye(card)[[index[s] for s in chosen]].reshape(*pcards, card)
    found = el.first("probabilities")
    if found is None:
        notes.add(el.line, f"'{node}' has no <probabilities>")
        return None
    values = parse_numbers(found.text, notes, found.line, f"the probabilities of '{node}'")
    if values is None:
        return None
    if len(values) != card * n_rows:
        notes.add(found.line, f"the probabilities of '{node}' are {len(values)} numbers, "
                              f"expected {card * n_rows} ({card} states x {n_rows} parent "
                              "configurations)")
        return None
    return np.array(values, dtype=np.float64).reshape(*pcards, card)
