"""Read and write discrete Bayesian networks in the BIF 0.15 interchange format.

BIF is what bnlearn's repository, pgmpy's ``BIFWriter``, pyAgrum's ``saveBN`` and most converters
(GeNIe/SMILE, Netica) write::

    network alarm { property author = "x"; }
    variable HR { type discrete [ 3 ] { LOW, NORMAL, HIGH }; }
    probability ( HR | CO ) { (LOW) 0.98, 0.01, 0.01; default 0.3, 0.4, 0.3; }
    probability ( CO ) { table 0.1, 0.9; }

As in the original grammar, commas and ``|`` separate but are optional, names may be quoted, and
``//`` and ``/* */`` comments may appear anywhere. A ``table`` entry lists all probabilities of a
block with the node's own state varying *slowest* and the last parent fastest (what pgmpy and
pyAgrum both read; for a node without parents it is just the distribution). A ``default`` entry
fills every parent configuration without a row of its own. Properties are read and ignored.

Why a hand-written parser: pgmpy's pyparsing reader takes seconds on the larger bnlearn networks
and stops at the first problem without saying where. This is a small regex-driven recursive
descent: it reads pathfinder (1.6 MB) in about 0.2 s, reports a syntax error with file and line
(``alarm.bif:123: expected ';' after probabilities of 'HR', found '('``), and collects every
semantic problem (unknown variable or state, wrong number of entries, missing or duplicate row,
row not summing to 1) before raising one :class:`~forecast.errors.SpecError`.

Rows within ``row_sum_atol`` of 1 are accepted and kept exactly as written, unless
``normalize=True`` divides each by its sum. Files round their numbers (bnlearn's rows are up to
3e-7 off 1), and with such rows the answer depends on the engine: pgmpy and pyAgrum prune barren
nodes and so disagree with each other, and with a full sum-product, by ~1e-8. Normalised, the
network is a proper one and every engine agrees to machine precision; ``forecast query`` reads
BIF files that way.
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import os
import re
from collections.abc import Mapping
from pathlib import Path

from forecast._io import atomic_write
from forecast.errors import ForecastError, Problem, SpecError, did_you_mean
from forecast.network._formats import check_counts
from forecast.network.bif_parser import KEYWORDS, parse
from forecast.network.network import Network

__all__ = ["example_network", "read_bif", "write_bif"]

ROW_SUM_ATOL = 1e-4
"""Default tolerance of :func:`read_bif` for rows summing to 1 (bnlearn prints ~4 digits)."""

PEERS_HINT = 'install the optional peers: pip install "forecast[peers]"'

# Names that pyAgrum (3.3) and pgmpy (1.1) both read unquoted; pyAgrum rejects quoted names.
_PORTABLE_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_PORTABLE_STATE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*|[+-]?\d+|\d+[A-DF-Za-df-z_][A-Za-z0-9_]*")
_PORTABLE_HINT = "use letters, digits, '_', '-' and '.', starting with a letter or '_'"


def _load_text(path_or_text: str | os.PathLike[str]) -> tuple[str, str, str | None]:
    """Return the text, a label for messages, and the file name without extensions."""
    if isinstance(path_or_text, str) and ("{" in path_or_text or "\n" in path_or_text):
        return path_or_text, "<string>", None
    path = Path(path_or_text)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise SpecError(f"cannot read BIF file '{path}'",
                        [Problem(reason, file=str(path))]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # older exports (GeNIe, Netica converters) use Latin-1
    stem = re.sub(r"(\.bif)?(\.gz)?$", "", path.name, flags=re.IGNORECASE)
    return text, str(path), stem


def read_bif(
    path_or_text: str | os.PathLike[str],
    *,
    name: str | None = None,
    row_sum_atol: float = ROW_SUM_ATOL,
    normalize: bool = False,
) -> Network:
    """Read a discrete Bayesian network from a BIF file or string.

    Parameters
    ----------
    path_or_text : str or path-like
        A ``.bif`` or gzip-compressed ``.bif.gz`` file, or the BIF text itself (a string that
        contains ``{`` or a newline is taken as text).
    name : str, optional
        Name of the network. Default: the name in the file, unless it is bnlearn's placeholder
        ``unknown``, in which case the file name without its extensions.
    row_sum_atol : float, optional
        How far each row may sum from 1.
    normalize : bool, optional
        Divide each accepted row by its sum (see the module notes); by default the numbers are
        kept exactly as written.

    Returns
    -------
    Network
        Nodes in the order the file declares them; each node's parents in the order of its
        ``probability`` header.

    Raises
    ------
    SpecError
        For a syntax error, naming the file, the line and what was expected; otherwise listing
        every problem found: unknown variables or states, wrong numbers of entries, missing or
        repeated rows, probabilities outside [0, 1], rows not summing to 1, variables without a
        probability block and (from :class:`~forecast.network.network.Network`) cycles.

    Examples
    --------
    >>> net = read_bif('''
    ... variable rain { type discrete [ 2 ] { no, yes }; }
    ... variable wet { type discrete [ 2 ] { no, yes }; }
    ... probability ( rain ) { table 0.8, 0.2; }
    ... probability ( wet | rain ) { (no) 0.9, 0.1; (yes) 0.2, 0.8; }
    ... ''')
    >>> net.parents["wet"], net.cpts["wet"][1].tolist()
    (('rain',), [0.2, 0.8])
    """
    text, source, stem = _load_text(path_or_text)
    network_name, states, parents, cpts = parse(text, source, row_sum_atol)
    in_file = network_name if network_name not in (None, "", "unknown") else None
    label = name or in_file or stem or "network"
    try:
        net = Network(states, parents, cpts, name=label, row_sum_atol=row_sum_atol)
    except SpecError as exc:
        raise SpecError(f"BIF file '{source}' is invalid", exc.problems) from None
    if not normalize:
        return net
    return net.with_cpts({n: t / t.sum(axis=-1, keepdims=True) for n, t in net.cpts.items()})


def _portability_problems(network: Network) -> list[Problem]:
    name, problems = network.name, []
    if not name or re.search(r'["\n\r]', name):
        problems.append(
            Problem("a network name with quotes or line breaks cannot be written", file=name)
        )
    elif re.search("variable|probability", name):
        problems.append(
            Problem(
                "a network name containing 'variable' or 'probability' is "
                "misread by pgmpy's BIFReader",
                hint="rename the network",
                file=name,
            )
        )
    folded: dict[str, str] = {}
    for node, node_states in network.states.items():
        at = f"node {node!r}"
        if not _PORTABLE_VARIABLE.fullmatch(node) or node in KEYWORDS:
            problems.append(Problem("is not a portable BIF name", hint=_PORTABLE_HINT, file=name,
                                    field=at))
        if folded.setdefault(node.lower(), node) != node:
            problems.append(
                Problem(
                    f"differs from '{folded[node.lower()]}' only in case, "
                    "which pgmpy's BIFReader confuses",
                    file=name,
                    field=at,
                )
            )
        bad = [s for s in node_states if not _PORTABLE_STATE.fullmatch(s) or s in KEYWORDS]
        if bad:
            message = f"has states that are not portable BIF names: {', '.join(bad)}"
            problems.append(Problem(message, hint=_PORTABLE_HINT + ", or an integer", file=name,
                                    field=at))
    return problems


def write_bif(network: Network, path: str | os.PathLike[str] | None = None, *,
              counts: Mapping[str, object] | None = None) -> str:
    """Write a network as BIF text that pgmpy, pyAgrum and :func:`read_bif` all read back.

    Probabilities are written with ``repr``, the shortest text that reads back as the same
    float, so ``read_bif(write_bif(net))`` reproduces every CPT bit for bit. Each node with
    parents gets one row per parent configuration, the last parent varying fastest.

    Parameters
    ----------
    network : Network
        The network to write.
    path : str or path-like, optional
        If given, also write the text there with :func:`forecast._io.atomic_write` (a
        temporary file in the same folder, fsynced, then renamed; mode ``0o666`` less the
        umask); gzip-compressed if the name ends in ``.gz``.
    counts : mapping of str to array_like, optional
        Dirichlet pseudo-counts of some or all nodes, each of its CPT's shape (e.g.
        :func:`~forecast.network._formats.dirichlet_counts`): written as the first line of
        the node's probability block, a comment ``// counts: c1, c2, ...;`` in the order of
        the block's numbers, which every BIF reader skips.

    Returns
    -------
    str
        The BIF text.

    Raises
    ------
    SpecError
        Listing every node or state name that pyAgrum and pgmpy could not both read back
        unquoted (pyAgrum rejects quoted names; pgmpy folds case), and counts that do not fit
        the network.

    Notes
    -----
    pyAgrum 3.3 rejects variables with a single state, and its BIF reader parses probabilities
    as 32-bit floats, so its CPTs agree only to about 3e-8.
    """
    problems = _portability_problems(network)
    if problems:
        raise SpecError(f"network '{network.name}' cannot be written as portable BIF", problems)
    checked = check_counts(network, counts or {})
    out = [f'network "{network.name}" {{', "// written by forecast.network.bif.write_bif", "}"]
    for node, node_states in network.states.items():
        listed = ", ".join(node_states)
        out += [f"variable {node} {{", f"  type discrete [ {len(node_states)} ] {{ {listed} }};"]
        out.append("}")
    for node in network.nodes:
        parents = network.parents[node]
        rows = (network.cpts[node] + 0.0).reshape(-1, network.card(node)).tolist()  # no -0.0
        if not parents:
            out.append(f"probability ( {node} ) {{")
        else:
            out.append(f"probability ( {node} | {', '.join(parents)} ) {{")
        if node in checked:
            out.append(f"  // counts: {', '.join(map(repr, checked[node].ravel().tolist()))};")
        if not parents:
            out.append(f"  table {', '.join(map(repr, rows[0]))};")
        else:
            configs = itertools.product(*(network.states[p] for p in parents))
            out += [
                f"  ({', '.join(c)}) {', '.join(map(repr, r))};"
                for c, r in zip(configs, rows, strict=True)
            ]
        out.append("}")
    text = "\n".join(out) + "\n"
    if path is not None:
        data = text.encode("utf-8")
        atomic_write(path, gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data,
                     fsync=True)
    return text


def example_network(name: str) -> Network:
    """Load one of the bnlearn networks that pgmpy ships as package data.

    Nothing is downloaded: the ``.bif.gz`` files are read from the installed pgmpy package
    (located without importing it) with :func:`read_bif`.

    Parameters
    ----------
    name : str
        e.g. ``"asia"``, ``"sachs"``, ``"child"``, ``"alarm"``, ``"insurance"``, ``"water"``,
        ``"mildew"``, ``"barley"``, ``"hailfinder"``, ``"win95pts"``, ``"pathfinder"``,
        ``"andes"``, ``"hepar2"``, ``"munin1"``.

    Returns
    -------
    Network
        Named `name`.

    Raises
    ------
    ForecastError
        If pgmpy is not installed, or ships no network of that name (the message lists those
        it has).
    """
    spec = importlib.util.find_spec("pgmpy")
    if spec is None or not spec.submodule_search_locations:
        raise ForecastError(
            "the example networks come with pgmpy, which is not installed",
            [Problem(PEERS_HINT)],
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "utils" / "example_models"
    available = sorted(p.name.removesuffix(".bif.gz") for p in folder.glob("*.bif.gz"))
    if name not in available:
        problem = Problem(f"pgmpy has: {', '.join(available)}",
                          hint=did_you_mean(name, available))
        raise ForecastError(f"no example network named '{name}'", [problem])
    return read_bif(folder / f"{name}.bif.gz", name=name)
