"""A ledger laid out in time steps: each row is evidence about the step that holds its date.

:func:`timeline` turns a loaded ledger (:func:`forecast.evidence.ledger.load_ledger`) into the
evidence of a dynamic model (:mod:`forecast.model.time`) up to an as-of date:

* **A row counts at its own step, and only there.** A finding on a condition says what held in
  the step of its date; the model's persistence carries it forward with the uncertainty it
  implies, so an old finding fades by itself and a later one on the same node does not erase
  it (both count, each at its step). An event row says it happened in that step.
* **Grades count.** With ``grades=True`` (the default) a hard row is a *report* of its source
  (:class:`~forecast.evidence.observations.Report`): a likelihood ``r`` on the reported state
  and ``(1 − r)/(k − 1)`` on the others, where the source's reliability ``r`` has the prior of
  its Admiralty letter and is a parameter learned from all of that source's rows. Soft rows are
  fixed likelihoods (the ambiguity of their content). ``grades=False`` enters hard rows as
  certain findings (the behaviour before grades counted).
* **Counts are evidence of their step.** A row with a ``count`` on a node whose model declares
  ``counts:`` is a Poisson (or negative-binomial) observation of the node's state in the step of
  its date, with the rate of each state a parameter (``rate.<node>=<state>``) learned from
  every count; one count per node and step. A count row is a row on its node: an event's step
  with a count is not read as non-occurrence (a count of 0 says so through the rates).
* **Non-occurrence is evidence.** For an event whose definition says from when its record is
  complete (``definition.complete_from``) and does not switch it off (``nonoccurrence:
  false``), every *closed* step from then on in which the ledger holds no row on the event is
  observed as "did not happen" (its first state). These observations are rows of the timeline
  (``how == "nonoccurrence"``, source ``record``), stored with each run in ``evidence.csv``.
  ``nonoccurrence=False`` switches them all off.
* **An incomplete record's silence is weaker evidence.** Where the definition says the record
  catches only a share of the occurrences (``nonoccurrence: {detection: <probability>}``), a
  closed step without a row is a *silence* (``how == "silence"``): likelihood 1 on "did not
  happen" and ``1 − d`` on each other state, where the detection ``d`` is a parameter
  (``record.<node>.detection``) with the definition's prior. A record that only ever holds
  occurrences would otherwise teach the model that the event is commoner than it is.

Step 0 is the step holding the ledger's first row (or ``start``); the as-of date's step is the
last step, *open* when the as-of date is not its last day: its rows up to the as-of day count,
but its non-occurrence does not (the step's record is not complete yet). Nor does the
non-occurrence of a step that ends after the ledger's newest row (of any date): the ledger is
taken as kept up to that row, and an as-of date after it would otherwise read the months
nobody recorded as months in which nothing happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast._dates import as_of_date
from forecast.errors import EvidenceError, Problem
from forecast.evidence.case import Case
from forecast.evidence.observations import ObservationModel, Report, count_models
from forecast.model.distributions import FixedValue, ProbabilityPrior
from forecast.model.priors import probability_prior
from forecast.model.schema import ModelSpec, Silence
from forecast.model.time import Calendar

__all__ = ["RECORD_SOURCE", "TIMELINE_COLUMNS", "Timeline", "detection_name", "timeline"]

RECORD_SOURCE = "record"
"""The source named on non-occurrence rows: the node's public record, read as complete."""

TIMELINE_COLUMNS = ("id", "date", "node", "state", "likelihood", "count", "grade", "source",
                    "url", "note", "step", "step_label", "how")
"""Columns of :attr:`Timeline.rows` (``how``: finding, report, soft, count, nonoccurrence or
silence)."""


def detection_name(node: str) -> str:
    """The parameter of the share of `node`'s occurrences its record catches."""
    return f"record.{node}.detection"


@dataclass(frozen=True)
class Timeline:
    """The evidence of a ledger, step by step, up to an as-of date.

    Attributes
    ----------
    calendar : Calendar
        Step 0 and the step length.
    steps : int
        Number of steps with evidence: 0 .. ``steps − 1``, the last holding the as-of day.
    closed : int
        Steps that ended on or before the as-of day (``steps`` or ``steps − 1``).
    rows : pandas.DataFrame
        Every observation, in step order (:data:`TIMELINE_COLUMNS`), non-occurrence included.
    fixed : dict of str to ndarray
        ``{node: (steps, card)}``: certain findings, soft rows and non-occurrence, multiplied.
    reports : tuple of (int, Report)
        Graded hard rows with their steps.
    observation : ObservationModel
        The sources and their reliability priors (empty without reports).
    silences : tuple of (int, str)
        Closed steps without a row on an event whose record catches a share of occurrences.
    detection : dict of str to ProbabilityPrior or FixedValue
        ``record.<node>.detection`` → its prior (or fixed value), for the nodes with silences.
    counts : tuple of (int, str, int)
        Count rows: (step, node, count), at most one per node and step.
    """

    calendar: Calendar
    steps: int
    closed: int
    rows: pd.DataFrame
    fixed: dict[str, np.ndarray]
    reports: tuple[tuple[int, Report], ...]
    observation: ObservationModel
    silences: tuple[tuple[int, str], ...] = ()
    detection: Mapping[str, ProbabilityPrior | FixedValue] = field(default_factory=dict)
    counts: tuple[tuple[int, str, int], ...] = ()

    @property
    def parameters(self) -> dict[str, object]:
        """The observation parameters with their priors.

        Source reliabilities, count rates and dispersions, detections.
        """
        return {**self.observation.priors, **self.detection}

    def likelihoods(self, values: Mapping[str, np.ndarray] | None = None, *,
                    steps: int | None = None, at: int | None = None) -> dict[str, np.ndarray]:
        """Likelihood vectors per node and step, for a batch of reliability draws.

        Parameters
        ----------
        values : mapping of str to ndarray, optional
            Draws of :attr:`parameters` (``source.<name>.reliability``, ``rate.<node>=<state>``,
            ``dispersion.<node>``, ``record.<node>.detection``), shape ``(B,)`` each; required
            when the timeline has reports, counts or silences.
        steps : int, optional
            Length of the result (default :attr:`steps`); steps beyond the evidence are ones
            (a forecast's horizon).
        at : int, optional
            Only this step (the result has one step): what a forecast adds to particles that
            have taken the steps before it.

        Returns
        -------
        dict of str to ndarray
            ``{node: (1 or B, steps, card)}``: with reports or counts, every node they touch
            is batched.
        """
        length = self.steps if steps is None else steps
        if length < self.steps:
            raise EvidenceError("too few steps", [Problem(
                f"the evidence spans {self.steps} steps; got {length}", field="steps")])
        if at is not None and not 0 <= at < self.steps:
            raise EvidenceError("no such step", [Problem(
                f"the evidence spans steps 0 to {self.steps - 1}; got {at}", field="at")])
        span = slice(0, self.steps) if at is None else slice(at, at + 1)
        first = 0 if at is None else at  # the result's step 0
        length = length if at is None else 1
        out: dict[str, np.ndarray] = {}
        for node, table in self.fixed.items():
            full = np.ones((1, length, table.shape[1]))
            full[0, :span.stop - span.start] = table[span]
            out[node] = full
        silent = [(step - first, node) for step, node in self.silences
                  if at is None or step == at]
        if (self.reports or silent) and values is None:
            raise EvidenceError("reports and silences need their parameters", [Problem(
                "no reliability or detection draws",
                hint="pass the draws of Timeline.parameters", field="values")])
        for step, node in silent:  # 1 on "did not happen", 1 − d on the others
            assert values is not None
            d = np.asarray(values[detection_name(node)], dtype=float).reshape(-1)
            if out[node].shape[0] != len(d):  # a silent node always has a fixed table
                out[node] = np.repeat(out[node], len(d), axis=0)
            out[node][:, step, 1:] *= (1.0 - d)[:, None]
        if not (self.reports or self.counts):
            return out
        if values is None:
            raise EvidenceError("reports and counts need their parameters", [Problem(
                "no reliability or rate draws", hint="pass the draws of Timeline.parameters",
                field="values")])
        reports: dict[int, list[Report]] = {}
        counts: dict[int, dict[str, int]] = {}
        for step, rep in self.reports:
            if at is None or step == at:
                reports.setdefault(step - first, []).append(rep)
        for step, node, y in self.counts:
            if at is None or step == at:
                counts.setdefault(step - first, {})[node] = y
        for step in sorted({*reports, *counts}):  # the observation model's one likelihood
            case = Case(reports=tuple(reports.get(step, ())), counts=counts.get(step, {}))
            found = self.observation.log_likelihoods(case, values)
            for node, log_lam in found.items():
                lam = np.exp(log_lam)  # (B, card)
                if node not in out or out[node].shape[0] != lam.shape[0]:
                    base = out.get(node, np.ones((1, length, lam.shape[1])))
                    out[node] = np.repeat(base, lam.shape[0], axis=0)
                out[node][:, step] *= lam
        return out


def timeline(
    ledger: pd.DataFrame,
    spec: ModelSpec,
    as_of: dt.date | str,
    *,
    grades: bool = True,
    nonoccurrence: bool = True,
    start: dt.date | None = None,
) -> Timeline:
    """Lay out the ledger's rows up to `as_of` in the model's time steps.

    Parameters
    ----------
    ledger : pandas.DataFrame
        From :func:`forecast.evidence.ledger.load_ledger` (checked against `spec`).
    spec : ModelSpec
        The model (its time step, node kinds, and events' record completeness).
    as_of : datetime.date or str
        The as-of day; rows after it do not count.
    grades : bool
        Hard rows as graded reports (default) or as certain findings.
    nonoccurrence : bool
        Observe closed steps without an event row as non-occurrence (per the model's
        definitions; default) or never.
    start : datetime.date, optional
        A day in step 0 (default: the ledger's first date, or the as-of day if it is empty).
        Replays pass the same start for every date so that steps line up.

    Returns
    -------
    Timeline

    Raises
    ------
    EvidenceError
        If `as_of` is before step 0, or the ledger has nodes or states the model lacks.
    """
    day = as_of_date(as_of, future=True)
    first = start or (ledger["date"].min().date() if len(ledger) else day)
    calendar = Calendar(spec.model.time.step, first)
    last = calendar.index(day)
    if last < 0:
        raise EvidenceError(f"as-of date {day} is before the first step", [Problem(
            f"step 0 begins {calendar.first_day(0)}", hint="give a later as-of date",
            field="as_of")])
    steps = last + 1
    closed = steps if calendar.last_day(last) <= day else steps - 1
    rows = ledger[ledger["date"].dt.date <= day].sort_values(["date", "line"], kind="stable")
    unknown = sorted(set(rows["node"]) - set(spec.nodes))
    if unknown:
        raise EvidenceError("the ledger has nodes the model lacks", [
            Problem("not a node of the model", field=f"node {n}") for n in unknown])
    states = spec.states
    fixed: dict[str, np.ndarray] = {}
    reports: list[tuple[int, Report]] = []
    counts: dict[tuple[str, int], tuple[int, int]] = {}  # (node, step) -> (count, line)
    records: list[dict[str, object]] = []
    count_column = rows["count"] if "count" in rows else pd.Series(pd.NA, index=rows.index)
    problems: list[Problem] = []

    def table(node: str) -> np.ndarray:
        return fixed.setdefault(node, np.ones((steps, len(states[node]))))

    seen: set[tuple[str, int]] = set()
    for row, count in zip(rows.itertuples(index=False), count_column, strict=True):
        node = str(row.node)
        step = calendar.index(row.date.date())
        seen.add((node, step))
        if not pd.isna(count):
            if (node, step) in counts:
                problems.append(Problem(
                    f"a second count on {node} in {calendar.label(step)} (the first is on line "
                    f"{counts[node, step][1]})", line=int(row.line), field="count",
                    hint="a count is what a step's whole series adds up to: enter one row per "
                    "node and step (sum the two, or drop one)"))
            counts[node, step] = (int(count), int(row.line))
            how = "count"
        elif isinstance(row.likelihood, tuple):
            vec = np.asarray(row.likelihood, dtype=float)
            table(node)[step] *= vec / vec.max()
            how = "soft"
        elif grades:
            reports.append((step, Report(node, str(row.state), str(row.source), str(row.grade))))
            how = "report"
        else:
            onehot = np.zeros(len(states[node]))
            onehot[states[node].index(str(row.state))] = 1.0
            table(node)[step] *= onehot
            how = "finding"
        records.append({"id": row.id, "date": row.date, "node": node,
                        "state": row.state, "likelihood": row.likelihood,
                        "count": None if pd.isna(count) else int(count),
                        "grade": row.grade, "source": row.source, "url": row.url,
                        "note": row.note, "step": step,
                        "step_label": calendar.label(step), "how": how})
    if problems:
        raise EvidenceError("the ledger's counts do not fit the model's steps", problems)
    silences: list[tuple[int, str]] = []
    detection: dict[str, ProbabilityPrior | FixedValue] = {}
    # the record is read only as far as the ledger is kept: its newest row (of any date)
    kept = ledger["date"].max().date() if len(ledger) else day
    recorded = min(closed, max(calendar.index(kept + dt.timedelta(days=1)), 0))
    if nonoccurrence:
        for node, spec_node in spec.nodes.items():
            definition = spec_node.definition
            silence = definition.nonoccurrence
            if definition.kind != "event" or silence is False \
                    or definition.complete_from is None:
                continue
            graded = silence if isinstance(silence, Silence) else None
            if graded is not None and not grades:
                continue  # without grades nothing uncertain is observed: skip the silences
            begin = calendar.index(definition.complete_from)
            if calendar.first_day(begin) < definition.complete_from:
                begin += 1  # the record must be complete for the whole step
            unseen = [t for t in range(max(begin, 0), recorded) if (node, t) not in seen]
            if graded is not None and unseen:
                table(node)  # its likelihood is per draw: ones here
                detection[detection_name(node)] = probability_prior(graded.detection)
            for step in unseen:
                end = calendar.last_day(step)
                if graded is not None:
                    silences.append((step, node))
                    how, note = "silence", ("no row on this event in a step its record covers "
                                            "in part (detection learned)")
                else:
                    onehot = np.zeros(len(states[node]))
                    onehot[0] = 1.0
                    table(node)[step] *= onehot
                    how, note = "nonoccurrence", "no row on this event in a step its record covers"
                records.append({"id": f"none:{node}:{calendar.label(step)}",
                                "date": pd.Timestamp(end), "node": node,
                                "state": states[node][0], "likelihood": None, "count": None,
                                "grade": "",
                                "source": RECORD_SOURCE, "url": "", "note": note,
                                "step": step, "step_label": calendar.label(step), "how": how})
    frame = pd.DataFrame.from_records(records, columns=list(TIMELINE_COLUMNS))
    # typed even without records: a record of no rows is a frame like any other
    frame = frame.astype({"date": "datetime64[ns]", "step": "int64", "count": "Int64"})
    frame = frame.sort_values(["step", "date"], kind="stable").reset_index(drop=True)
    cases = [Case(reports=tuple(r for _, r in reports))]
    cases += [Case(counts={node: y}) for (node, _), (y, _) in counts.items()]
    counted = {node for node, _ in counts}
    observation = ObservationModel(states, cases, count_models(spec, counted))
    return Timeline(calendar, steps, closed, frame, fixed, tuple(reports), observation,
                    tuple(silences), detection,
                    tuple(sorted((t, node, y) for (node, t), (y, _) in counts.items())))
