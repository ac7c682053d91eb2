"""Resolved questions: the questions file, and the forecasts each question was given.

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

The scores are in :mod:`forecast.analysis.metrics`; :func:`forecast.ops.score.score` is the
whole pipeline. The reliability diagram is :func:`forecast.report.plots.plot_reliability` on
``ScoreResult.calibration``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

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

from forecast._dates import parse_date
from forecast._io import read_checked_csv
from forecast.errors import EvidenceError, ForecastError, Problem, did_you_mean, sorted_by_line
from forecast.evidence.ledger import line_break_problems
from forecast.model.schema import MAX_WINDOW_MONTHS, ModelSpec

__all__ = [
    "QUESTION_COLUMNS",
    "QuestionRow",
    "load_questions",
    "question_probabilities",
    "window_end",
]

QUESTION_COLUMNS: tuple[str, ...] = (
    "id", "text", "node", "state", "as_of", "window_months", "outcome", "resolved", "resolved_by",
)
"""The questions file's columns, in the order the schema documents them (any order is accepted)."""



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
        digits = text.lstrip("0")
        if not re.fullmatch(r"\d+", text) or not digits:
            raise ValueError(f"'{_short(text)}' is not a positive whole number of months "
                             "(e.g. 24)")
        if len(digits) > 6 or int(digits) > MAX_WINDOW_MONTHS:  # no model's window is longer
            number = (f"{int(digits):,}" if len(digits) <= 30 else
                      f"a {len(digits):,}-digit number of")
            raise ValueError(f"a window of {number} months is longer than 100 years (at most "
                             f"{MAX_WINDOW_MONTHS:,}; an event's is the node's window in the "
                             "model, e.g. 24)")
        return int(digits)

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


def _short(text: str) -> str:
    """A cell for a message, cut to 40 characters."""
    return text if len(text) <= 40 else text[:37] + "..."


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
    name, problems = read.name, list(read.problems) + line_break_problems(read)
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
















