"""Scoring: the model's forecasts against questions that have since been resolved.

A questions file (CSV; schema in ``data/README.md``, section *Questions*) asks, one question per
row, at its ``as_of`` date: *will ``node`` be in ``state``?* For an event node the question is
about the window after the as-of date, ``(as_of, as_of + window]``, which must be the window
the model gives the node (the model forecasts nothing else); for a condition node it is about
the state at the resolution date, which the model forecasts by its probability of the state at
the as-of date (conditions have no dynamics in the model: they persist). ``outcome`` (1 yes,
0 no) and the ``resolved`` date say how it came out; ``resolved_by`` cites the ledger rows that
show it.

The data flow::

    questions.csv ─► load_questions ─► validated questions (cited ledger rows checked)
    model + ledger ─► forecast.ops.replay.replay_dates at each distinct as-of date
                          ├─ with the ledger ─────► p(model)
                          └─ without evidence ────► p(no_evidence)     and p(uniform) = 0.5
                             (once: with no evidence the forecast does not depend on the date)
                   ─► question_probabilities ─► one row per question, a column per forecaster
                   ─► evaluate ─► ScoreResult: Brier, log and skill scores; calibration table

:func:`brier_score`, :func:`log_score`, :func:`brier_skill` and :func:`calibration_table` are pure
functions of probabilities and outcomes; :func:`forecast.ops.score.score` is the whole
pipeline. The reliability diagram is :func:`forecast.report.plots.plot_reliability` on
``ScoreResult.calibration``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from scipy import stats

from forecast._dates import parse_date
from forecast._io import read_checked_csv
from forecast.errors import EvidenceError, ForecastError, Problem, did_you_mean, sorted_by_line
from forecast.model.schema import ModelSpec

__all__ = [
    "FORECASTERS",
    "QUESTION_COLUMNS",
    "QuestionRow",
    "ScoreResult",
    "brier_score",
    "brier_skill",
    "calibration_table",
    "evaluate",
    "load_questions",
    "log_score",
    "question_probabilities",
    "window_end",
]

QUESTION_COLUMNS: tuple[str, ...] = (
    "id", "text", "node", "state", "as_of", "window_months", "outcome", "resolved", "resolved_by",
)
"""The questions file's columns, in the order the schema documents them (any order is accepted)."""

FORECASTERS: tuple[str, ...] = ("model", "no_evidence", "uniform")
"""Who is scored: the model with the ledger cut at each as-of date, the model without any
evidence, and 0.5 on every question."""

LOG_CLIP = 1e-6
"""Probabilities are clipped to ``[LOG_CLIP, 1 - LOG_CLIP]`` in the log score."""

_TEXT = Annotated[str, Field(min_length=1)]


# --- the questions file ---------------------------------------------------------------------------


class QuestionRow(BaseModel):
    """One question, checked on its own (rules needing the model or the ledger are not here).

    Pass ``context={"today": date}`` to :meth:`model_validate` to reject resolution dates
    after ``today``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    text: _TEXT
    node: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    state: _TEXT
    as_of: dt.date
    window_months: int
    outcome: int
    resolved: dt.date
    resolved_by: tuple[str, ...]

    @field_validator("as_of", "resolved", mode="before")
    @classmethod
    def _iso_date(cls, value: object, info: ValidationInfo) -> dt.date:
        today = (info.context or {}).get("today") if info.field_name == "resolved" else None
        return parse_date(value, today=today)  # only a question already resolved is scored

    @field_validator("window_months", mode="before")
    @classmethod
    def _months(cls, value: object) -> int:
        text = str(value).strip()
        if not re.fullmatch(r"\d+", text) or int(text) == 0:
            raise ValueError(f"'{text}' is not a positive whole number of months (e.g. 24)")
        return int(text)

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: object) -> int:
        text = str(value).strip()
        if text not in ("0", "1"):
            raise ValueError(f"'{text}' is not an outcome: write 1 (yes, it happened) or 0 (no)")
        return int(text)

    @field_validator("resolved_by", mode="before")
    @classmethod
    def _ids(cls, value: object) -> tuple[str, ...]:
        ids = tuple(part.strip() for part in str(value or "").split(";"))
        if not any(ids):
            raise ValueError("resolved_by is empty: cite the ledger row ids that resolve the "
                             "question, separated by ';' (e.g. E041;E045)")
        if not all(ids) or any(re.search(r"\s", i) for i in ids):
            raise ValueError(f"'{value}' is not a ';'-separated list of ledger ids "
                             "(e.g. E041;E045)")
        return ids

    @model_validator(mode="after")
    def _dates(self) -> QuestionRow:
        if self.as_of >= self.resolved:
            raise ValueError(
                f"as_of {self.as_of} is not before the resolution date {self.resolved}: a "
                "question must be asked before it is resolved (no hindsight)")
        end = window_end(self.as_of, self.window_months)
        if self.resolved > end:
            raise ValueError(
                f"resolved {self.resolved} is after the question's window ends ({end} = as_of "
                f"+ {self.window_months} months): what happens later does not resolve it")
        return self


def window_end(as_of: dt.date, months: int) -> dt.date:
    """The last day of a question's window: ``as_of`` plus calendar months, as the ledger counts.

    Parameters
    ----------
    as_of : datetime.date
        The day the question is asked.
    months : int
        The window's length.

    Returns
    -------
    datetime.date
        ``as_of + months`` (the last day of a shorter month when the day does not exist).
    """
    return (pd.Timestamp(as_of) + pd.DateOffset(months=months)).date()


def load_questions(
    path: str | os.PathLike[str],
    spec: ModelSpec,
    ledger: pd.DataFrame | None = None,
    *,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Read and validate a questions file against the model and, if given, the ledger.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, header on line 1, columns :data:`QUESTION_COLUMNS`).
    spec : ModelSpec
        Every node must be one of its nodes, every state one of that node's states, and an
        event question's ``window_months`` the node's window.
    ledger : pandas.DataFrame, optional
        A ledger from :func:`forecast.evidence.ledger.load_ledger`. When given, every id in
        ``resolved_by`` must be one of its rows, dated inside ``(as_of, resolved]``, and a cited
        hard row of the question's node must agree with the outcome (an event's occurrence
        state means it happened; for a condition the latest cited hard row gives the state).
    today : datetime.date, optional
        Resolution dates after this day are rejected; by default the current date.

    Returns
    -------
    pandas.DataFrame
        One row per question in file order: the file's columns (``as_of`` and ``resolved`` as
        ISO strings, ``outcome`` and ``window_months`` as int, ``resolved_by`` as written, ids
        separated by ';'), then ``kind`` (``event`` or ``condition``) and ``line``.

    Raises
    ------
    EvidenceError
        If the file cannot be read or any question breaks a rule; every problem is listed with
        its line, what is wrong and how to fix it.
    """
    read = read_checked_csv(path, QUESTION_COLUMNS, what="questions file")
    name, problems = read.name, list(read.problems)
    context = {"today": today or dt.date.today()}
    rows: list[tuple[int, QuestionRow]] = []
    first_line: dict[str, int] = {}
    for line, raw in read.records:
        qid = raw.get("id", "").strip()
        if qid and qid in first_line:
            problems.append(Problem(f"duplicate id '{qid}' (also on line {first_line[qid]})",
                                    hint="give every question its own id", file=name, line=line,
                                    field="id"))
        first_line.setdefault(qid, line)
        row = _validate_row(raw, line, name, context, problems)
        if row is not None:
            rows.append((line, row))
    for line, row in rows:
        problems += _check_against_spec(row, spec, name, line)
    if ledger is not None:
        problems += _check_against_ledger(rows, spec, ledger, name)
    if problems:
        problems = sorted_by_line(problems)
        count = len(problems)
        raise EvidenceError(f"{name}: {count} problem{'s' * (count != 1)} in the questions file",
                            problems)
    return pd.DataFrame({
        **{c: [_cell(getattr(r, c)) for _, r in rows] for c in QUESTION_COLUMNS},
        "kind": [spec.nodes[r.node].definition.kind for _, r in rows],
        "line": [line for line, _ in rows],
    }).astype({"window_months": "int64", "outcome": "int64", "line": "int64"})


def _cell(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ";".join(value)
    return value


def _validate_row(raw: Mapping[str, str], line: int, name: str, context: dict[str, Any],
                  problems: list[Problem]) -> QuestionRow | None:
    data = {key: value for key, value in raw.items() if key in QUESTION_COLUMNS}
    try:
        return QuestionRow.model_validate(data, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            if error["type"] == "missing":  # reported once, as a missing column
                continue
            loc = ".".join(str(part) for part in error["loc"])
            kind = error["type"]
            if kind == "value_error":
                problems.append(Problem(str(error["msg"]).removeprefix("Value error, "),
                                        file=name, line=line, field=loc or None))
            elif kind == "string_too_short":
                problems.append(Problem(f"{loc} is empty", hint=f"fill in the {loc}",
                                        file=name, line=line, field=loc or None))
            elif kind == "string_pattern_mismatch":
                problems.append(Problem(f"'{raw.get(loc, '')}' is not a valid {loc}",
                                        hint="a node name: a letter, then letters, digits or "
                                        "underscores" if loc == "node" else
                                        "one word without spaces, e.g. Q01",
                                        file=name, line=line, field=loc or None))
            else:
                problems.append(Problem(str(error["msg"]), file=name, line=line,
                                        field=loc or None))
        return None


def _check_against_spec(row: QuestionRow, spec: ModelSpec, name: str,
                        line: int) -> list[Problem]:
    states = spec.states.get(row.node)
    if states is None:
        return [Problem(f"unknown node '{row.node}'", file=name, line=line, field="node",
                        hint=did_you_mean(row.node, spec.node_names)
                        or f"the model's nodes are {', '.join(spec.node_names)}")]
    problems = []
    if row.state not in states:
        problems.append(Problem(f"'{row.state}' is not a state of {row.node}", file=name,
                                line=line, field="state",
                                hint=did_you_mean(row.state, states)
                                or f"its states are {', '.join(states)}"))
    definition = spec.nodes[row.node].definition
    window = definition.window
    if definition.kind == "event" and window is not None and window.months != row.window_months:
        length = (f"{window.months} months" if window.months is not None
                  else f"{window.days} days")
        problems.append(Problem(
            f"{row.node} is an event over the {length} after the as-of date, not "
            f"{row.window_months} months: the model forecasts only that window",
            file=name, line=line, field="window_months",
            hint=f"set window_months to {window.months}" if window.months is not None
            else "a question's window is in months; ask about a node with a window in months"))
    return problems


def _check_against_ledger(rows: Sequence[tuple[int, QuestionRow]], spec: ModelSpec,
                          ledger: pd.DataFrame, name: str) -> list[Problem]:
    """Cited ids exist, fall in (as_of, resolved], and cited hard rows agree with the outcome."""
    index = {str(r.id): r for r in ledger.itertuples(index=False)}
    problems = []
    for line, q in rows:
        cited = []
        for row_id in q.resolved_by:
            row = index.get(row_id)
            if row is None:
                problems.append(Problem(f"no ledger row has id '{row_id}'", file=name,
                                        line=line, field="resolved_by",
                                        hint=did_you_mean(row_id, index)
                                        or "cite ids of the ledger"))
                continue
            day = pd.Timestamp(row.date).date()
            if not q.as_of < day <= q.resolved:
                problems.append(Problem(
                    f"{row_id} is dated {day}, outside the question's window "
                    f"({q.as_of}, {q.resolved}]", file=name, line=line, field="resolved_by",
                    hint="cite rows dated after the as-of date and on or before the resolution "
                    "date"))
                continue
            cited.append(row)
        if q.node not in spec.states:
            continue
        hard = sorted((r for r in cited if str(r.node) == q.node and not pd.isna(r.state)),
                      key=lambda r: (r.date, r.line))
        occurrence = "yes" if "yes" in spec.states[q.node] else spec.states[q.node][-1]
        if spec.nodes[q.node].definition.kind == "event":
            decisive = [r for r in hard if r.state == occurrence]
        else:
            decisive = hard[-1:]
        if decisive:
            row = decisive[0]
            says = int(str(row.state) == q.state)
            if says != q.outcome:
                problems.append(Problem(
                    f"{row.id} records {q.node} = {row.state}, so the outcome of '{q.node} = "
                    f"{q.state}' is {says}, not {q.outcome}", file=name, line=line,
                    field="outcome",
                    hint="correct the outcome, or cite the row that resolves the question"))
    return problems


# --- forecasts for the questions ------------------------------------------------------------------


def question_probabilities(questions: pd.DataFrame, model: pd.DataFrame,
                           no_evidence: pd.DataFrame, *, where: str = "questions"
                           ) -> pd.DataFrame:
    """Each question's probability from every forecaster.

    Parameters
    ----------
    questions : pandas.DataFrame
        From :func:`load_questions`.
    model, no_evidence : pandas.DataFrame
        Replay frames (:func:`forecast.ops.replay.replay_dates`: one row per as-of date, node and
        state with ``mean``, ``hdi_5%``, ``hdi_95%``, ``mcse``, ``publishable``), with and
        without the ledger.
    where : str
        The questions file's name, for messages.

    Returns
    -------
    pandas.DataFrame
        One row per question: ``id``, ``text``, ``node``, ``state``, ``kind``, ``as_of``,
        ``resolved``, ``resolved_by``, ``outcome``, then ``model`` (the posterior mean),
        ``model_hdi_5%``, ``model_hdi_95%``, ``model_mcse``, ``model_publishable``,
        ``no_evidence`` and ``uniform`` (0.5).

    Raises
    ------
    ForecastError
        If a forecaster has no probability for a question (the ledger fixes the node by a
        hard finding at the as-of date, so the model forecasts nothing there); every such
        question is listed by its line.
    """
    keys = ["as_of", "node", "state"]
    columns = ["mean", "hdi_5%", "hdi_95%", "mcse", "publishable"]
    ours = {"mean": "model", "hdi_5%": "model_hdi_5%", "hdi_95%": "model_hdi_95%",
            "mcse": "model_mcse", "publishable": "model_publishable"}
    out = questions.merge(model[keys + columns].rename(columns=ours), on=keys, how="left")
    out = out.merge(no_evidence[[*keys, "mean"]].rename(columns={"mean": "no_evidence"}),
                    on=keys, how="left")
    missing = out[out["model"].isna() | out["no_evidence"].isna()]
    if len(missing):
        raise ForecastError(
            f"{where}: {len(missing)} question(s) have no forecast to score",
            [Problem(f"the model gives no probability of {q.node} = "
                     f"{q.state} as of {q.as_of}: the ledger fixes {q.node} by a hard finding "
                     "then, so there is nothing to forecast", file=where, line=q.line,
                     hint="ask at an earlier date, or about a node the ledger does not fix then")
             for q in missing.itertuples(index=False)])
    out["uniform"] = 0.5
    out["model_publishable"] = out["model_publishable"].astype(bool)
    keep = ["id", "text", "node", "state", "kind", "as_of", "resolved", "resolved_by", "outcome",
            *ours.values(), "no_evidence", "uniform"]
    return out[keep]


# --- scores ---------------------------------------------------------------------------------------


def _checked(p: Any, outcome: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise ForecastError(f"need one probability per outcome, got {p.shape} and {y.shape}")
    if not np.all(np.isfinite(p) & (p >= 0) & (p <= 1)):
        raise ForecastError("probabilities must be finite numbers in [0, 1]")
    if not np.all((y == 0) | (y == 1)):
        raise ForecastError("outcomes must be 0 (no) or 1 (yes)")
    return p, y


def brier_score(p: Sequence[float] | np.ndarray, outcome: Sequence[int] | np.ndarray) -> float:
    """Mean squared difference between forecast probabilities and 0/1 outcomes.

    Parameters
    ----------
    p : array-like of float
        Forecast probabilities of "yes", in [0, 1].
    outcome : array-like of {0, 1}
        What happened.

    Returns
    -------
    float
        In [0, 1]; 0 is perfect, 0.25 is always saying 0.5.

    Raises
    ------
    ForecastError
        If the inputs are empty, of different lengths, or out of range.
    """
    p, y = _checked(p, outcome)
    return float(np.mean((p - y) ** 2))


def log_score(p: Sequence[float] | np.ndarray, outcome: Sequence[int] | np.ndarray) -> float:
    """Mean negative log probability given to what happened, ``-mean(log p(outcome))``.

    Probabilities are clipped to ``[1e-6, 1 - 1e-6]`` first, so a forecast of 0 or 1 that turns
    out wrong costs ``-log(1e-6) ≈ 13.8`` rather than infinity.

    Parameters
    ----------
    p : array-like of float
        Forecast probabilities of "yes", in [0, 1].
    outcome : array-like of {0, 1}
        What happened.

    Returns
    -------
    float
        In nats, at least 0 (lower is better); always saying 0.5 scores ``log 2 ≈ 0.693``.

    Raises
    ------
    ForecastError
        If the inputs are empty, of different lengths, or out of range.
    """
    q, y = _checked(p, outcome)
    q = np.clip(q, LOG_CLIP, 1 - LOG_CLIP)
    return float(-np.mean(np.where(y == 1, np.log(q), np.log1p(-q))))


def brier_skill(score: float, reference: float) -> float:
    """Brier skill score ``1 - score / reference`` of a forecaster against a reference.

    Parameters
    ----------
    score : float
        The forecaster's Brier score.
    reference : float
        The reference forecaster's Brier score on the same questions.

    Returns
    -------
    float
        1 perfect, 0 no better than the reference, negative worse. Against a perfect reference
        (Brier 0) it is 0 for a perfect forecaster and ``-inf`` otherwise.
    """
    if reference == 0:
        return 0.0 if score == 0 else -math.inf
    return 1.0 - score / reference


def calibration_table(p: Sequence[float] | np.ndarray, outcome: Sequence[int] | np.ndarray,
                      *, bins: int = 10, prob: float = 0.9) -> pd.DataFrame:
    """Forecasts grouped into equal-width probability bins, against how often they came true.

    Bin ``k`` holds ``k/bins <= p < (k+1)/bins``; the last bin includes 1, so p = 0 falls in the
    first bin and p = 1 in the last. Bins without forecasts are left out.

    Parameters
    ----------
    p : array-like of float
        Forecast probabilities, in [0, 1].
    outcome : array-like of {0, 1}
        What happened.
    bins : int
        Number of bins over [0, 1].
    prob : float
        Coverage of the interval on each bin's observed frequency: the Jeffreys interval, the
        ``(1 - prob) / 2`` and ``(1 + prob) / 2`` quantiles of ``Beta(k + 1/2, n - k + 1/2)``
        for ``k`` yeses out of ``n``, with the lower end 0 when ``k = 0`` and the upper end 1
        when ``k = n`` (Brown, Cai and DasGupta 2001).

    Returns
    -------
    pandas.DataFrame
        Columns ``bin_low``, ``bin_high``, ``n``, ``forecast_mean`` (mean forecast in the bin),
        ``observed`` (fraction that came true), ``observed_low``, ``observed_high``.
    """
    if int(bins) != bins or bins < 1:
        raise ForecastError(f"bins must be a positive whole number, got {bins!r}")
    if not 0 < prob < 1:
        raise ForecastError(f"prob must be in (0, 1), got {prob!r}")
    p, y = _checked(p, outcome)
    # rounding first keeps 0.3 * 10 = 3.0000000000000004 and 0.57 * 100 = 56.99999999999999 in
    # the bins their decimal value belongs to
    index = np.minimum(np.floor(np.round(p * bins, 9)).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    table = frame.groupby("bin").agg(n=("y", "size"), forecast_mean=("p", "mean"),
                                     k=("y", "sum")).reset_index()
    n, k = table["n"].to_numpy(float), table["k"].to_numpy(float)
    tail = (1 - prob) / 2
    low = np.where(k == 0, 0.0, stats.beta.ppf(tail, k + 0.5, n - k + 0.5))
    high = np.where(k == n, 1.0, stats.beta.ppf(1 - tail, k + 0.5, n - k + 0.5))
    return pd.DataFrame({
        "bin_low": table["bin"] / bins, "bin_high": (table["bin"] + 1) / bins,
        "n": table["n"].astype("int64"), "forecast_mean": table["forecast_mean"],
        "observed": k / n, "observed_low": low, "observed_high": high,
    })


@dataclass
class ScoreResult:
    """Scores of every forecaster on a set of resolved questions.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per forecaster (``model``, ``no_evidence``, ``uniform``): ``forecaster``,
        ``n``, ``brier``, ``log``, then ``skill_vs_uniform`` and ``skill_vs_no_evidence``
        (Brier skill scores; a column for each reference that was scored).
    questions : pandas.DataFrame
        One row per question: its fields, ``outcome`` and one probability column per
        forecaster (see :func:`question_probabilities`).
    calibration : pandas.DataFrame
        :func:`calibration_table` of each forecaster stacked, with a ``forecaster`` column
        first: the input of :func:`forecast.report.plots.plot_reliability`.
    attrs : dict
        Provenance: model, questions and ledger files, seed, as-of dates, and the as-of dates
        whose model forecast failed its diagnostics (``unpublishable``).
    """

    scores: pd.DataFrame
    questions: pd.DataFrame
    calibration: pd.DataFrame
    attrs: dict = field(default_factory=dict)

    @property
    def publishable(self) -> bool:
        """Whether every model forecast that was scored passed its diagnostics."""
        return not self.attrs.get("unpublishable")

    def to_json(self) -> dict:
        """Plain JSON-ready data: ``attrs``, ``scores``, ``questions``, ``calibration``."""
        return {"attrs": dict(self.attrs),
                "scores": self.scores.to_dict("records"),
                "questions": self.questions.to_dict("records"),
                "calibration": self.calibration.to_dict("records")}

    def to_text(self) -> str:
        """The scores, each question's forecasts and the calibration tables, as aligned text."""
        a = self.attrs
        lines = [f"{len(self.questions)} questions at {len(a.get('as_of', []))} as-of dates"
                 + (f" ({a['model']}, ledger {a['ledger']}, seed {a['seed']})" if a else "")]
        if a and a.get("ledger") is None:
            lines.append("no ledger: the model forecasts use no evidence (= no_evidence)")
        skills = [c for c in self.scores.columns if c.startswith("skill_vs_")]
        head = f"{'forecaster':<12} {'n':>3} {'Brier':>7} {'log':>7}" + "".join(
            f" {c.replace('_', ' '):>22}" for c in skills)
        lines += ["", "scores (lower Brier and log are better; skill: 1 - Brier / reference)",
                  head]
        for row in self.scores.to_dict("records"):
            lines.append(f"{row['forecaster']:<12} {row['n']:>3} {row['brier']:>7.3f} "
                         f"{row['log']:>7.3f}" + "".join(f" {row[c]:>+22.3f}" for c in skills))
        lines += ["", "questions (p = probability of node = state; outcome 1 = yes)",
                  f"{'id':<6} {'as of':<10}  {'node = state':<38} {'outcome':>7} "
                  f"{'model [90%]':>20} {'no evid.':>8}"]
        for q in self.questions.to_dict("records"):
            flag = "" if q["model_publishable"] else "  (not publishable)"
            lines.append(
                f"{q['id']:<6} {q['as_of']:<10}  {q['node'] + ' = ' + q['state']:<38} "
                f"{q['outcome']:>7} {q['model']:>6.3f} [{q['model_hdi_5%']:.3f}, "
                f"{q['model_hdi_95%']:.3f}] {q['no_evidence']:>8.3f}{flag}")
        lines += ["", "calibration (observed frequency with its 90% Jeffreys interval)",
                  f"{'forecaster':<12} {'bin':<9} {'n':>3} {'forecast':>8} {'observed':>8}  "
                  "interval"]
        for row in self.calibration.to_dict("records"):
            lines.append(f"{row['forecaster']:<12} {row['bin_low']:.1f}-{row['bin_high']:.1f}"
                         f"   {row['n']:>3} {row['forecast_mean']:>8.3f} "
                         f"{row['observed']:>8.3f}  [{row['observed_low']:.3f}, "
                         f"{row['observed_high']:.3f}]")
        return "\n".join(lines)


def evaluate(questions: pd.DataFrame, forecasters: Sequence[str] = FORECASTERS, *,
             bins: int = 10, attrs: Mapping[str, Any] | None = None) -> ScoreResult:
    """Score forecasters on resolved questions.

    Parameters
    ----------
    questions : pandas.DataFrame
        One row per question with an ``outcome`` column (0/1) and, for each forecaster, a
        column of that name holding its probability that the outcome is 1.
    forecasters : sequence of str
        The probability columns to score, in the order reported.
    bins : int
        Bins of the calibration tables.
    attrs : mapping, optional
        Provenance to keep on the result.

    Returns
    -------
    ScoreResult
        Brier and log scores, Brier skill against ``uniform`` and ``no_evidence`` (each when
        scored), calibration tables, and `questions` itself.

    Raises
    ------
    ForecastError
        If a column is missing, or a probability or outcome is out of range or missing.
    """
    missing = [c for c in ("outcome", *forecasters) if c not in questions.columns]
    if missing:
        raise ForecastError(f"the questions frame lacks column(s) {', '.join(missing)}")
    y = questions["outcome"].to_numpy()
    rows = [{"forecaster": f, "n": len(questions),
             "brier": brier_score(questions[f].to_numpy(), y),
             "log": log_score(questions[f].to_numpy(), y)} for f in forecasters]
    scores = pd.DataFrame(rows)
    for ref in ("uniform", "no_evidence"):
        if ref in forecasters:
            reference = float(scores.loc[scores["forecaster"] == ref, "brier"].iloc[0])
            scores[f"skill_vs_{ref}"] = [brier_skill(s, reference) for s in scores["brier"]]
    calibration = pd.concat(
        [calibration_table(questions[f].to_numpy(), y, bins=bins).assign(forecaster=f)
         for f in forecasters], ignore_index=True)
    calibration = calibration[["forecaster", *calibration.columns[:-1]]]
    return ScoreResult(scores, questions.reset_index(drop=True), calibration, dict(attrs or {}))


