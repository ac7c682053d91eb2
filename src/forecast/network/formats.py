"""One entry point for every network file format: :func:`read_network` chooses by suffix.

==========  =========================  ==========================================
format      suffixes (each also .gz)   reader
==========  =========================  ==========================================
BIF 0.15    ``.bif``                   :func:`~forecast.network.bif.read_bif`
XMLBIF 0.3  ``.xml``, ``.xmlbif``,     :func:`~forecast.network.xmlbif.read_xmlbif`
            ``.bifxml``
GeNIe XDSL  ``.xdsl``                  :func:`~forecast.network.xdsl.read_xdsl`
Hugin NET   ``.net``                   :func:`~forecast.network.hugin.read_net`
UAI         ``.uai``                   :func:`~forecast.network.uai.read_uai`
==========  =========================  ==========================================

Every reader returns a :class:`~forecast.network.network.Network` of float64 tables (each
number the float nearest its text), with rows within ``row_sum_atol`` of 1 divided by their
sum as ``read_bif(normalize=True)`` does; every problem is one
:class:`~forecast.errors.SpecError` naming the file and, where the format has lines, the line;
a CPT over :data:`~forecast.network.limits.MAX_CPT_ENTRIES` is refused from its declared
states, before its numbers are read. All five are parsed here with the standard library (and
numpy): none of pgmpy's readers is used at run time. Its XMLBIF reader is exact but costs
pgmpy's 2 s import; its XDSL, NET and UAI readers drop or misread real files (see each
module's notes). No pgmpy is imported, whatever the format.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from forecast.errors import Problem, SpecError
from forecast.network._formats import COUNT_FLOOR, dirichlet_counts
from forecast.network.bif import ROW_SUM_ATOL
from forecast.network.network import Network

__all__ = ["COUNT_FLOOR", "FORMATS", "dirichlet_counts", "network_format", "read_network"]

FORMATS: dict[str, str] = {
    ".bif": "BIF",
    ".xml": "XMLBIF",
    ".xmlbif": "XMLBIF",
    ".bifxml": "XMLBIF",
    ".xdsl": "XDSL",
    ".net": "NET",
    ".uai": "UAI",
}
"""Each suffix :func:`read_network` reads, and its format (each also with ``.gz`` after it)."""

SUFFIX_HINT = ("the network formats are BIF (.bif), XMLBIF (.xml, .xmlbif, .bifxml), GeNIe "
               "XDSL (.xdsl), Hugin NET (.net) and UAI (.uai), each also gzip-compressed (.gz)")


def network_format(path: str | os.PathLike[str]) -> str | None:
    """The format of a network file from its name (``"BIF"``, ...), or None if not one."""
    name = Path(path).name.lower().removesuffix(".gz")
    return FORMATS.get(Path(name).suffix)


def _reader(kind: str) -> Callable[..., Network]:
    if kind == "BIF":
        from forecast.network.bif import read_bif

        return read_bif
    if kind == "XMLBIF":
        from forecast.network.xmlbif import read_xmlbif

        return read_xmlbif
    if kind == "XDSL":
        from forecast.network.xdsl import read_xdsl

        return read_xdsl
    if kind == "NET":
        from forecast.network.hugin import read_net

        return read_net
    from forecast.network.uai import read_uai

    return read_uai


def read_network(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    row_sum_atol: float = ROW_SUM_ATOL,
    normalize: bool = True,
) -> Network:
    """Read a network file of any of the formats, chosen by its suffix.

    Parameters
    ----------
    path : str or path-like
        The file: ``.bif``, ``.xml``/``.xmlbif``/``.bifxml``, ``.xdsl``, ``.net`` or ``.uai``,
        each possibly followed by ``.gz``.
    name : str, optional
        Name of the network; default the name in the file, else the file name.
    row_sum_atol : float, optional
        How far each row may sum from 1 (default 1e-4: files round their numbers).
    normalize : bool, optional
        Divide each accepted row by its sum (the default), so every engine gets proper
        distributions; ``False`` keeps the numbers as written.

    Returns
    -------
    Network

    Raises
    ------
    SpecError
        For a file name of no known format (naming the formats), and every problem its
        reader finds, naming the file (and line).

    Examples
    --------
    >>> import forecast as fc
    >>> net = fc.read_network("alarm.xdsl")                      # doctest: +SKIP
    >>> fc.ExactEngine(net).query({"HR": "HIGH"}).marginals["LVFAILURE"]  # doctest: +SKIP
    """
    kind = network_format(path)
    if kind is None:
        suffix = "".join(Path(path).suffixes[-2:]) or "none"
        raise SpecError(f"'{path}' is not a network file this package reads", [Problem(
            f"unknown suffix '{suffix}'", file=str(path), hint=SUFFIX_HINT)])
    return _reader(kind)(Path(path), name=name, row_sum_atol=row_sum_atol,
                         normalize=normalize)
