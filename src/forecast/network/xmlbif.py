"""Read and write discrete Bayesian networks in XMLBIF 0.3 (``.xml``, ``.xmlbif``).

XMLBIF is the XML form of BIF (Cozman's interchange format), written by JavaBayes, Weka, pgmpy's
``XMLBIFWriter``, pyAgrum (``.bifxml``) and SamIam::

    <BIF VERSION="0.3"><NETWORK><NAME>rain</NAME>
      <VARIABLE TYPE="nature"><NAME>wet</NAME><OUTCOME>no</OUTCOME><OUTCOME>yes</OUTCOME>
      </VARIABLE> ...
      <DEFINITION><FOR>wet</FOR><GIVEN>rain</GIVEN><TABLE>0.9 0.1 0.2 0.8</TABLE></DEFINITION>
    </NETWORK></BIF>

A ``TABLE`` lists one row per configuration of the ``GIVEN`` variables (the last varying
fastest), each row the ``FOR`` variable's distribution: the layout of our CPTs, read as is.
Tags are matched without regard to case; the older ``PROBABILITY`` for ``DEFINITION`` and
``VALUE`` for ``OUTCOME`` are accepted; properties are read and ignored.

Why not pgmpy's ``XMLBIFReader``: it reads the numbers exactly (Python's ``float``) and keeps
the state order, but importing it costs about 2 s of CPU (pgmpy's readers pull in scikit-learn)
where this reader reads alarm in about 10 ms, it builds every table before anything is checked
(no size limit), and a malformed file surfaces as an ``AttributeError`` or ``KeyError`` without
a location. This reader gives the same float64 tables (checked bit for bit against pgmpy's in
``tests/test_formats.py``), refuses an oversized CPT from its declared states before reading
its numbers, and reports every problem with its line. (pgmpy's ``XMLBIFWriter`` also rewrites
state names to letters, digits and ``_``, so child's ``<7.5`` and ``>=7.5`` both become
``_7_5``; :func:`write_xmlbif` keeps names as they are.)
"""

from __future__ import annotations

import gzip
import math
import os
import re
from collections.abc import Mapping
from xml.sax.saxutils import escape

import numpy as np

from forecast._io import atomic_write
from forecast.errors import Problem, SpecError, did_you_mean
from forecast.network._formats import (
    TOO_LARGE_HINT,
    Notes,
    check_counts,
    finish_network,
    parse_numbers,
    read_source,
    too_large,
)
from forecast.network._xml import parse_xml
from forecast.network.bif import ROW_SUM_ATOL
from forecast.network.network import Network

__all__ = ["read_xmlbif", "write_xmlbif"]

SUFFIXES = (".xmlbif", ".xml", ".bifxml")


def read_xmlbif(
    path_or_text: str | os.PathLike[str],
    *,
    name: str | None = None,
    row_sum_atol: float = ROW_SUM_ATOL,
    normalize: bool = True,
) -> Network:
    """Read a discrete Bayesian network from an XMLBIF file or string.

    Parameters
    ----------
    path_or_text : str or path-like
        A ``.xml``/``.xmlbif`` file (gzip-compressed or not), or the XML text itself (a string
        containing ``<``).
    name : str, optional
        Name of the network; default the file's ``NAME``, else the file name.
    row_sum_atol : float, optional
        How far each row may sum from 1.
    normalize : bool, optional
        Divide each accepted row by its sum, as ``read_bif(normalize=True)`` does (the
        default here).

    Returns
    -------
    Network
        Nodes in the order the file declares its variables; parents in ``GIVEN`` order.

    Raises
    ------
    SpecError
        For XML that is not well formed (with its line), else listing every problem with its
        line: a missing ``NETWORK``, a variable without a name or outcomes or declared twice,
        decision and utility variables, unknown variables, a table of the wrong length or with
        text that is not a number, a CPT over the size limit, missing or repeated definitions,
        rows not summing to 1, cycles.

    Examples
    --------
    >>> net = read_xmlbif('''<BIF VERSION="0.3"><NETWORK><NAME>rain</NAME>
    ... <VARIABLE TYPE="nature"><NAME>rain</NAME><OUTCOME>no</OUTCOME><OUTCOME>yes</OUTCOME>
    ... </VARIABLE>
    ... <DEFINITION><FOR>rain</FOR><TABLE>0.8 0.2</TABLE></DEFINITION>
    ... </NETWORK></BIF>''')
    >>> net.states["rain"], net.cpts["rain"].tolist()
    (('no', 'yes'), [0.8, 0.2])
    """
    source = read_source(path_or_text, "XMLBIF", SUFFIXES)
    root = parse_xml(source, "XMLBIF")
    notes = Notes(source.label)
    network = root if root.tag.upper() == "NETWORK" else root.first("NETWORK", fold=True)
    if root.tag.upper() not in ("BIF", "NETWORK") or network is None:
        raise SpecError(f"cannot read XMLBIF file '{source.label}'", [Problem(
            f"expected <BIF> holding a <NETWORK>, found <{root.tag}>"
            + (" (a GeNIe network? those are read from .xdsl files)"
               if root.tag == "smile" else ""), file=source.label, line=root.line)])
    name_el = network.first("NAME", fold=True)
    in_file = name_el.text.strip() if name_el is not None else ""
    states: dict[str, list[str]] = {}
    declared: dict[str, int] = {}
    for var in network.all("VARIABLE", fold=True):
        kind = var.attrib.get("TYPE", var.attrib.get("type", "nature")).strip().lower()
        var_name = var.first("NAME", fold=True)
        label = var_name.text.strip() if var_name is not None else ""
        if not label:
            notes.add(var.line, "a VARIABLE without a NAME")
            continue
        if kind != "nature":
            notes.add(var.line, f"variable '{label}' is a {kind} variable; only chance "
                                "(TYPE=\"nature\") variables make a Bayesian network")
        outcomes = [o.text.strip() for o in var.all("OUTCOME", "VALUE", fold=True)]
        if label in states:
            notes.add(var.line, f"variable '{label}' is declared again (first at line "
                                f"{declared[label]})")
            continue
        if not outcomes or not all(outcomes):
            notes.add(var.line, f"variable '{label}' has "
                                + ("an empty OUTCOME" if outcomes else "no OUTCOME"))
        elif len(set(outcomes)) != len(outcomes):
            notes.add(var.line, f"variable '{label}' repeats an outcome: {', '.join(outcomes)}")
        states[label], declared[label] = outcomes, var.line
    parents: dict[str, list[str]] = {}
    tables: dict[str, np.ndarray] = {}
    lines: dict[str, int | None] = {}
    for definition in network.all("DEFINITION", "PROBABILITY", fold=True):
        for_el = definition.first("FOR", fold=True)
        node = for_el.text.strip() if for_el is not None else ""
        if not node:
            notes.add(definition.line, "a DEFINITION without a FOR")
            continue
        if node not in states:
            notes.add(definition.line, f"a DEFINITION for unknown variable '{node}'",
                      did_you_mean(node, states))
            continue
        if node in parents:
            notes.add(definition.line, f"a second DEFINITION for '{node}' (first at line "
                                       f"{lines[node]})")
            continue
        given = [g.text.strip() for g in definition.all("GIVEN", fold=True)]
        parents[node], lines[node] = given, definition.line
        unknown = [p for p in given if p not in states]
        for p in unknown:
            notes.add(definition.line, f"'{node}' is given unknown variable '{p}'",
                      did_you_mean(p, states))
        if len(set(given)) != len(given) or node in given:
            notes.add(definition.line, f"'{node}' lists a variable twice: "
                                       f"{', '.join([node, *given])}")
            continue
        found = list(definition.all("TABLE", fold=True))
        if len(found) != 1:
            notes.add(definition.line, f"the DEFINITION of '{node}' has {len(found)} TABLEs, "
                                       "expected one")
            continue
        if unknown or not states[node]:
            continue
        lines[node] = found[0].line
        table = _table(notes, node, states, given, found[0].text, found[0].line)
        if table is not None:
            tables[node] = table
    for variable, line in declared.items():
        if variable not in parents:
            notes.add(line, f"variable '{variable}' has no DEFINITION")
    label = name or in_file or source.stem or "network"
    return finish_network(notes, "XMLBIF", label, states, parents, tables, lines,
                          row_sum_atol=row_sum_atol, normalize=normalize)


def _table(notes: Notes, node: str, states: Mapping[str, list[str]], given: list[str],
           text: str, line: int) -> np.ndarray | None:
    """One CPT from a table's text: checked against the size limit before it is read."""
    card, pcards = len(states[node]), [len(states[p]) for p in given]
    refused = too_large(node, card, pcards)
    if refused is not None:
        notes.add(line, refused, TOO_LARGE_HINT)
        return None
    values = parse_numbers(text, notes, line, f"the table of '{node}'")
    if values is None:
        return None
    expected = card * math.prod(pcards)
    if len(values) != expected:
        notes.add(line, f"the table of '{node}' has {len(values)} probabilities, expected "
                        f"{expected} ({card} states x {math.prod(pcards)} parent "
                        "configurations)")
        return None
    return np.array(values, dtype=np.float64).reshape(*pcards, card)


_XML_TEXT = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f]*")


def _name_problems(network: Network) -> list[Problem]:
    """Names XMLBIF cannot carry: empty, padded with spaces, or with control characters."""
    problems = []

    def bad(text: str) -> bool:
        return not text or text != text.strip() or not _XML_TEXT.fullmatch(text)

    for node, node_states in network.states.items():
        if bad(node):
            problems.append(Problem("is not a name XMLBIF can carry (empty, padded with "
                                    "spaces, or with control characters)",
                                    file=network.name, field=f"node {node!r}"))
        wrong = [s for s in node_states if bad(s)]
        if wrong:
            problems.append(Problem(f"has states XMLBIF cannot carry: {wrong}",
                                    file=network.name, field=f"node {node!r}"))
    return problems


def write_xmlbif(network: Network, path: str | os.PathLike[str] | None = None, *,
                 counts: Mapping[str, object] | None = None) -> str:
    """Write a network as XMLBIF 0.3 that pgmpy, pyAgrum and :func:`read_xmlbif` read back.

    Probabilities are written with ``repr``, so ``read_xmlbif(write_xmlbif(net),
    normalize=False)`` reproduces every CPT bit for bit. Each table has one line per parent
    configuration, the last parent varying fastest.

    Parameters
    ----------
    network : Network
        The network to write.
    path : str or path-like, optional
        If given, also write the text there atomically (fsynced); gzip-compressed if the name
        ends in ``.gz``.
    counts : mapping of str to array_like, optional
        Dirichlet pseudo-counts of some or all nodes, each of its CPT's shape (e.g.
        :func:`~forecast.network._formats.dirichlet_counts`): written in each table's
        ``DEFINITION`` as ``<PROPERTY>counts = c1 c2 ...</PROPERTY>`` in the table's order,
        which readers ignore.

    Returns
    -------
    str
        The XML text.

    Raises
    ------
    SpecError
        Listing names XMLBIF cannot carry, and counts that do not fit the network.
    """
    problems = _name_problems(network)
    if problems:
        raise SpecError(f"network '{network.name}' cannot be written as XMLBIF", problems)
    checked = check_counts(network, counts or {})
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           "<!-- written by forecast.network.xmlbif.write_xmlbif -->",
           '<BIF VERSION="0.3">', "<NETWORK>", f"<NAME>{escape(network.name)}</NAME>"]
    for node, node_states in network.states.items():
        out += ['<VARIABLE TYPE="nature">', f"\t<NAME>{escape(node)}</NAME>"]
        out += [f"\t<OUTCOME>{escape(s)}</OUTCOME>" for s in node_states]
        out.append("</VARIABLE>")
    for node in network.nodes:
        out += ["<DEFINITION>", f"\t<FOR>{escape(node)}</FOR>"]
        out += [f"\t<GIVEN>{escape(p)}</GIVEN>" for p in network.parents[node]]
        rows = (network.cpts[node] + 0.0).reshape(-1, network.card(node)).tolist()  # no -0.0
        out.append("\t<TABLE>" + "\n\t\t".join(" ".join(map(repr, r)) for r in rows)
                   + "</TABLE>")
        if node in checked:
            listed = " ".join(map(repr, checked[node].reshape(-1).tolist()))
            out.append(f"\t<PROPERTY>counts = {listed}</PROPERTY>")
        out.append("</DEFINITION>")
    out += ["</NETWORK>", "</BIF>"]
    text = "\n".join(out) + "\n"
    if path is not None:
        data = text.encode("utf-8")
        atomic_write(path, gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data,
                     fsync=True)
    return text
