"""Estimative language: key judgments in ICD 203 words, with a separate confidence level.

A judgment about a scenario says two different things, and this module keeps them apart:

* **Likelihood** — how probable the scenario is: the ICD 203 word of the band holding the
  posterior mean (:data:`forecast.model.priors.PROBABILITY_BANDS`; a band's lower edge belongs to
  it, below 1% is still "almost no chance" and above 99% "almost certain"). When the 90% credible
  interval reaches into other bands the judgment says so in a sentence of its own ("the 90% interval
  spans 'roughly even chance' to 'likely'").
* **Confidence** — how much the judgment rests on: ``high``, ``moderate`` or ``low``, the
  lower of two labels,

  - from the **interval width**: high if the 90% interval is at most 0.10 wide, moderate up
    to 0.25, low beyond (:data:`CONFIDENCE_WIDTHS`);
  - from the **evidence volume**: the ledger rows that counted at the as-of date on the node,
    its ancestors (its causes) or its descendants (its indicators) — the rows that can move it: high
    with at least 10 rows, moderate with at least 4, low below (:data:`CONFIDENCE_ROWS`). A narrow
    interval drawn from priors alone is the analyst's certainty, not the evidence's, so thin
    evidence caps the confidence. When the rows are not known (a bare
    :class:`~forecast.inference.result.Forecast`), only the width counts and the sentence says so.

ICD 203 asks that likelihood and confidence never be confused, so :meth:`Judgment.sentences`
never puts a likelihood word and a confidence word in one sentence::

    It is likely (63%; 90% interval 50–76%) that ‘Militants proclaim a “caliphate” on
    carved-out territory’ happens within the 24 months after 24 August 2015.
    The 90% interval spans ‘roughly even chance’ to ‘likely’.
    Confidence in this judgment is moderate: 12 ledger rows bear on it, but its 90% interval
    is 24.6 percentage points wide.

The noun-phrase words read "There is almost no chance (…) that …" and "There is a roughly
even chance (…) that …".

Names of nodes and states appear in single quotes (‘high’ is a state of the node there, not a
confidence level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx
import pandas as pd

from forecast._dates import parse_date
from forecast.model.schema import ModelSpec
from forecast.model.words import (
    CONFIDENCE_LEVELS,
    CONFIDENCE_WIDTHS,
    bands_between,
    confidence_label,
    likelihood_word,
    rows_confidence,
)

if TYPE_CHECKING:
    from forecast.inference.result import Forecast

__all__ = [
    "Judgment",
    "evidence_volume",
    "headline_state",
    "judgment",
    "judgments",
]














def evidence_volume(spec: ModelSpec, rows: pd.DataFrame | Sequence[str], node: str) -> int:
    """How many evidence rows bear on `node`: rows on it, its ancestors or its descendants.

    Parameters
    ----------
    spec : ModelSpec
        The model (its graph decides what bears on what).
    rows : pandas.DataFrame or sequence of str
        The ledger rows that counted (a frame with a ``node`` column, e.g. from
        :func:`forecast.evidence.ledger.rows_as_of`), or just their node names.
    node : str
        The node judged.
    """
    graph = spec.network_structure()
    related = {node} | nx.ancestors(graph, node) | nx.descendants(graph, node)
    names = rows["node"] if isinstance(rows, pd.DataFrame) else rows
    return sum(str(name) in related for name in names)


def _percent(p: float) -> str:
    if p < 0.005:
        return "<1%"
    if p > 0.995:
        return ">99%"
    return f"{100 * p:.0f}%"


def _interval(low: float, high: float) -> str:
    a, b = _percent(low), _percent(high)
    return f"{a.rstrip('%')}–{b}" if a[0].isdigit() and b[0].isdigit() else f"{a} to {b}"


def _points(width: float) -> str:
    """A width in percentage points, with a decimal where rounding would hide a threshold."""
    whole = f"{100 * width:.0f}"
    edges = {f"{100 * limit:.0f}" for limit in CONFIDENCE_WIDTHS.values()}
    return f"{100 * width:.1f}" if whole in edges else whole


def _day(text: str) -> str:
    try:
        day = parse_date(text)
    except ValueError:
        return text
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True)
class Judgment:
    """A key judgment: a scenario's probability in words, and a separate confidence level.

    Attributes
    ----------
    node, state : str
        The scenario: ``P(node = state)``.
    label : str
        The node's label in the model.
    proposition : str
        What is judged, as a ``that``-clause body, e.g. ``‘ISIS influence in Pakistan’ is
        ‘high’ on 24 August 2015``.
    mean, low, high : float
        Posterior mean and 90% credible interval of the probability.
    likelihood : str
        The ICD 203 word of `mean`.
    bands : tuple of str
        The ICD 203 words of every band the interval touches (more than one: it straddles).
    confidence : str
        ``high``, ``moderate`` or ``low``: the lower of `width_confidence` and
        `rows_confidence` (only the width's when `evidence_rows` is None).
    width_confidence : str
        The label of the interval's width alone.
    evidence_rows : int or None
        Ledger rows bearing on the node (on it, its ancestors or descendants); None if unknown.
    """

    node: str
    state: str
    label: str
    proposition: str
    mean: float
    low: float
    high: float
    likelihood: str
    bands: tuple[str, ...]
    confidence: str
    width_confidence: str
    evidence_rows: int | None

    @property
    def width(self) -> float:
        """Width of the 90% interval."""
        return self.high - self.low

    @property
    def straddles(self) -> bool:
        """Whether the 90% interval reaches into more than one ICD 203 band."""
        return len(self.bands) > 1

    @property
    def rows_confidence(self) -> str | None:
        """The label of the evidence volume alone (None if the rows are unknown)."""
        return None if self.evidence_rows is None else rows_confidence(self.evidence_rows)

    def likelihood_sentence(self) -> str:
        """The likelihood, with the mean and interval in numbers; no confidence word."""
        numbers = f"({_percent(self.mean)}; 90% interval {_interval(self.low, self.high)})"
        if self.likelihood.endswith("chance"):  # a noun: "there is a roughly even chance"
            article = "" if self.likelihood.startswith("almost no") else "a "
            return f"There is {article}{self.likelihood} {numbers} that {self.proposition}."
        return f"It is {self.likelihood} {numbers} that {self.proposition}."

    def straddle_sentence(self) -> str | None:
        """What the interval spans, when it reaches beyond the mean's band; else None."""
        if not self.straddles:
            return None
        if len(self.bands) == 2:
            return f"The 90% interval spans ‘{self.bands[0]}’ to ‘{self.bands[1]}’."
        return (f"The 90% interval spans {len(self.bands)} ICD 203 bands, from "
                f"‘{self.bands[0]}’ to ‘{self.bands[-1]}’.")

    def confidence_sentence(self) -> str:
        """The confidence level and what set it; no likelihood word."""
        points = f"{_points(self.width)} percentage points wide"
        head = f"Confidence in this judgment is {self.confidence}: "
        if self.evidence_rows is None:
            return head + f"its 90% interval is {points} (the evidence behind it was not counted)."
        one = self.evidence_rows == 1
        rows = f"{self.evidence_rows} ledger row{'' if one else 's'} bear{'s' if one else ''}"
        rank = CONFIDENCE_LEVELS.index
        by_rows = self.rows_confidence or "low"
        if rank(by_rows) > rank(self.width_confidence):  # the evidence is what limits it
            return head + (f"its 90% interval is {points}, but only {rows} on it, so it "
                           "rests mostly on the model's assumptions.")
        if rank(self.width_confidence) > rank(by_rows):  # the interval is what limits it
            return head + f"{rows} on it, but its 90% interval is {points}."
        return head + f"{rows} on it and its 90% interval is {points}."

    def sentences(self) -> list[str]:
        """The judgment as separate sentences: likelihood, interval span (if any), confidence."""
        out = [self.likelihood_sentence(), self.straddle_sentence(), self.confidence_sentence()]
        return [s for s in out if s]

    def text(self) -> str:
        """The sentences as one paragraph."""
        return " ".join(self.sentences())


def _proposition(spec: ModelSpec, node: str, state: str, as_of: str | None) -> str:
    """What is judged, phrased from the node's label, kind and window."""
    spec_node = spec.nodes[node]
    definition = spec_node.definition
    subject = f"‘{spec_node.label}’"
    states = spec.states[node]
    if definition.kind == "event":
        window = definition.window
        span = "" if window is None else (
            f"{window.months} months" if window.months is not None else f"{window.days} days")
        when = (f" within the {span} after {_day(as_of)}" if as_of and span
                else f" within {span}" if span else "")
        occurrence = "yes" if "yes" in states else states[-1]
        if len(states) == 2 and state == occurrence:
            return f"{subject} happens{when}"
        if len(states) == 2:
            return f"{subject} does not happen{when}"
        return f"{subject} resolves ‘{state}’{when}"
    when = f" on {_day(as_of)}" if as_of else " at the as-of date"
    return f"{subject} is ‘{state}’{when}"


def judgment(spec: ModelSpec, node: str, state: str, mean: float, low: float, high: float, *,
             as_of: str | None = None, evidence_rows: int | None = None) -> Judgment:
    """Phrase one scenario probability as a judgment.

    Parameters
    ----------
    spec : ModelSpec
        The model (the node's label, kind and window phrase the statement).
    node, state : str
        The scenario.
    mean, low, high : float
        Posterior mean and 90% credible interval of ``P(node = state)``.
    as_of : str, optional
        The forecast's as-of day (ISO), to date the statement.
    evidence_rows : int, optional
        Ledger rows bearing on the node (see :func:`evidence_volume`); without it the
        confidence comes from the interval width alone.

    Returns
    -------
    Judgment
    """
    width_label = confidence_label(high - low)
    confidence = width_label
    if evidence_rows is not None:
        confidence = max(width_label, rows_confidence(evidence_rows),
                         key=CONFIDENCE_LEVELS.index)
    return Judgment(
        node=node, state=state, label=spec.nodes[node].label,
        proposition=_proposition(spec, node, state, as_of),
        mean=float(mean), low=float(low), high=float(high), likelihood=likelihood_word(mean),
        bands=bands_between(low, high), confidence=confidence, width_confidence=width_label,
        evidence_rows=evidence_rows)


def headline_state(spec: ModelSpec, node: str, means: Mapping[str, float]) -> str:
    """The state a judgment is about.

    ``yes`` (else the last state) of a binary node; the most probable state of a node with
    more states.
    """
    states = spec.states[node]
    if len(states) == 2:
        return "yes" if "yes" in states else states[-1]
    return max(states, key=lambda s: means.get(s, float("-inf")))


def judgments(forecast: Forecast, spec: ModelSpec,
              evidence_rows: pd.DataFrame | Sequence[str] | None = None,
              nodes: Sequence[str] | None = None) -> list[Judgment]:
    """Key judgments of a forecast: one per scenario node that is forecast (not observed).

    Parameters
    ----------
    forecast : Forecast
        The result; its ``as_of`` attribute dates the statements.
    spec : ModelSpec
        The model it is a forecast of.
    evidence_rows : pandas.DataFrame or sequence of str, optional
        The ledger rows that counted (with a ``node`` column) or their node names; the
        evidence volume of each judgment's confidence. Without it: the width alone.
    nodes : sequence of str, optional
        The nodes to judge; by default ``spec.scenarios`` (every node if it names none).

    Returns
    -------
    list of Judgment
        In the order of `nodes`; a node observed in the evidence has no judgment.
    """
    summary = forecast.summary
    as_of = str(forecast.attrs.get("as_of") or "") or None
    chosen = list(nodes) if nodes is not None else list(spec.scenarios or spec.node_names)
    out = []
    for node in chosen:
        rows = summary[summary["node"] == node]
        if rows.empty:
            continue
        means = dict(zip(rows["state"], rows["mean"], strict=True))
        state = headline_state(spec, node, means)
        row = rows[rows["state"] == state].iloc[0]
        count = None if evidence_rows is None else evidence_volume(spec, evidence_rows, node)
        out.append(judgment(spec, node, state, row["mean"], row["hdi_5%"], row["hdi_95%"],
                            as_of=as_of, evidence_rows=count))
    return out
