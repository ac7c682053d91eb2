"""Evidence ledgers: read and validate a dated, sourced CSV of findings about a model's nodes.

A ledger (``data/<name>.csv``, schema in ``data/README.md``) has one row per finding::

    id,date,node,state,likelihood,grade,source,url,note
    E001,2014-06-10,isis_core_territory,holding,,B1,VICE News,https://...,ISIS overruns Mosul...
    E004,2014-07-06,ttp_relocation,,0.4;0.6,B3,Dawn,https://...,Refugees into Khost; soft.

A row observes one node either as a hard ``state`` or as a soft ``likelihood`` (one non-negative
number per state, in the node's state order), never both. ``grade`` is an Admiralty code: the
source's reliability ``A``-``F`` and the report's credibility ``1``-``6``.

:func:`load_ledger` reads the file with :func:`forecast._io.read_checked_csv` (every cell as
text, blank lines skipped, records numbered by file line), checks every row with a pydantic
model plus the rules that span rows or need the model, and either returns a typed
:class:`pandas.DataFrame` or raises one :class:`~forecast.errors.EvidenceError` listing
every problem with its file line (the header is line 1), what is wrong and how to fix it.
Loading never writes or modifies anything. :func:`ledger_hash` fingerprints the file's bytes
for run provenance.

:func:`rows_as_of` cuts a loaded ledger at an as-of date and keeps the rows that count then;
:func:`case_from_rows` turns kept rows into a :class:`~forecast.inference.importance.Case` and
:func:`case_as_of` does both. The rules (documented in ``data/README.md``, section *Evidence
as of a date*):

* only rows dated on or before the as-of day count;
* a **condition** node keeps its latest row, hard or soft (on one date the later file line
  wins), and the finding is entered on the node;
* an **event** node's forecast is for the window *after* the as-of day, ``(as_of, as_of +
  window]``, so no row can observe it. The rows of the window before, ``(as_of - window,
  as_of]``, are entered on the event's previous-window twin ``<node>@previous``
  (:mod:`forecast.evidence.lagged`), which shares the event's CPT: they inform the conditions that
  drive the event. Of those rows a hard row of the occurrence state (``yes``) wins over every
  other row; otherwise the latest hard row is kept and every soft row as well (their
  likelihoods multiply). Rows older than that window do not count;
* with ``half_life_days``, a soft likelihood λ observed ``d`` days before the as-of day is
  tempered to ``λ ** 2 ** (-d / half_life_days)``; hard rows never decay;
* with ``reports=True`` the kept hard rows become :class:`~forecast.evidence.observations.Report`
  (one per row, so each source's reliability is learned) instead of fixed findings.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeAlias

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from forecast._dates import as_of_date, parse_date
from forecast._io import (
    CheckedCsv,
    atomic_write,
    read_checked_csv,
    restore_csv_text,
    safe_csv,
)
from forecast.errors import EvidenceError, Problem, did_you_mean, sorted_by_line
from forecast.evidence.case import Case
from forecast.evidence.lagged import lagged
from forecast.evidence.observations import Report
from forecast.model.schema import ModelSpec
from forecast.provenance import file_sha256

__all__ = ["COLUMNS", "LedgerRow", "case_as_of", "case_from_rows", "ledger_hash",
           "line_break_problems", "load_ledger", "no_rows", "read_rows", "rows_as_of",
           "write_rows"]

COLUMNS: tuple[str, ...] = (
    "id", "date", "node", "state", "likelihood", "grade", "source", "url", "note",
)
"""The ledger's columns, in the order the schema documents them (any order is accepted)."""

OPTIONAL_COLUMNS: tuple[str, ...] = ("count",)
"""Columns a ledger may have: ``count``, a whole number counted in the step of the row's date
on a node whose model declares ``counts:`` (a ledger without counts need not have it)."""

_GRADE_HINT = "an Admiralty code: reliability A-F then credibility 1-6, e.g. B2"
_TEXT = Annotated[str, Field(min_length=1)]
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


class LedgerRow(BaseModel):
    """One ledger row, checked on its own (rules that need other rows or the model are not here).

    Pass ``context={"today": date}`` to :meth:`model_validate` to reject dates after ``today``.
    Every field but ``count`` (an optional column) is required and extra fields are forbidden,
    so a row must carry exactly the ledger's columns. A row fills exactly one of ``state``,
    ``likelihood`` and ``count``.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    date: dt.date
    node: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    state: str | None
    likelihood: tuple[float, ...] | None
    count: int | None = None
    grade: str
    source: _TEXT
    url: str
    note: _TEXT

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: object, info: ValidationInfo) -> dt.date:
        return parse_date(value, today=(info.context or {}).get("today"))

    @field_validator("state", mode="before")
    @classmethod
    def _blank_state(cls, value: object) -> str | None:
        text = str(value or "").strip()
        return text or None

    @field_validator("likelihood", mode="before")
    @classmethod
    def _likelihood(cls, value: object) -> tuple[float, ...] | None:
        text = str(value or "").strip()
        if not text:
            return None
        numbers = []
        for part in text.split(";"):
            try:
                number = float(part)
            except ValueError:
                raise ValueError(
                    f"'{part.strip()}' in '{text}' is not a number (write numbers separated "
                    "by ';', e.g. 0.3;0.7)"
                ) from None
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"{part.strip()} in '{text}' must be a finite number >= 0")
            numbers.append(number)
        if not any(numbers):
            raise ValueError(f"'{text}' is all zeros: at least one state must remain possible")
        return tuple(numbers)

    @field_validator("count", mode="before")
    @classmethod
    def _count(cls, value: object) -> int | None:
        text = str(value if value is not None else "").strip()
        if not text:
            return None
        if not re.fullmatch(r"\d{1,9}", text):
            raise ValueError(f"count '{text}' is not a whole number >= 0 (write digits only, "
                             "e.g. 4; at most 999999999)")
        return int(text)

    @field_validator("grade", mode="before")
    @classmethod
    def _grade(cls, value: object) -> str:
        text = str(value or "").strip()
        if not re.fullmatch(r"[A-F][1-6]", text):
            raise ValueError(f"unknown grade '{text}': use {_GRADE_HINT}")
        return text

    @field_validator("url", mode="before")
    @classmethod
    def _http_url(cls, value: object) -> str:
        text = str(value or "").strip()
        if not text:
            raise ValueError("url is empty: give the address of the page the finding comes from")
        try:
            _HTTP_URL.validate_python(text)
        except ValidationError:
            raise ValueError(
                f"'{text}' is not an http(s) URL: give the full address, starting https://"
            ) from None
        return text  # kept as written: pydantic's normalised form may differ from the file

    @model_validator(mode="after")
    def _one_observation(self) -> LedgerRow:
        filled = [name for name in ("state", "likelihood", "count")
                  if getattr(self, name) is not None]
        if len(filled) != 1:
            which = (" and ".join(filled) + " are all filled" if len(filled) > 2 else
                     " and ".join(filled) + " are both filled" if filled else
                     "neither state nor likelihood is filled")
            raise ValueError(
                f"{which}: fill exactly one (a state name for a hard finding, "
                "';'-separated likelihoods for a soft one, or a count)"
            )
        return self


def ledger_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a ledger file's bytes, for provenance.

    Parameters
    ----------
    path : str or path-like
        The ledger file.

    Returns
    -------
    str
        Hex digest; it changes whenever any byte of the file changes.
    """
    return file_sha256(path)


def load_ledger(
    path: str | os.PathLike[str],
    spec: ModelSpec | None = None,
    *,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Read and validate an evidence ledger.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, header on line 1).
    spec : ModelSpec, optional
        When given, every node must be one of the model's nodes, every state one of its
        states and every likelihood must have one number per state.
    today : datetime.date, optional
        Dates after this day are rejected; by default the current date.

    Returns
    -------
    pandas.DataFrame
        One row per finding in file order: the ledger's columns (``date`` as datetime64,
        ``state`` missing for soft rows, ``likelihood`` a tuple of floats or None, the rest
        strings), then ``reliability`` (letter A-F) and ``credibility`` (int 1-6) split from
        ``grade``, and ``line`` (the row's line in the file, for messages downstream).

    Raises
    ------
    EvidenceError
        If the file cannot be read or any row breaks a rule; every problem is listed with its
        line, what is wrong and how to fix it.
    """
    read = read_checked_csv(path, COLUMNS, what="ledger", optional=OPTIONAL_COLUMNS)
    name, problems = read.name, list(read.problems) + line_break_problems(read)
    context = {"today": today or dt.date.today()}
    rows: list[tuple[int, LedgerRow]] = []
    ids: list[tuple[int, str]] = []
    for line, raw in read.records:
        ids.append((line, raw.get("id", "").strip()))
        row = _validate_row(raw, line, name, context, problems)
        if row is not None:
            rows.append((line, row))
    problems += _check_ids(ids, name) + _check_grades(rows, name)
    if spec is not None:
        problems += _check_against_spec(rows, spec, name)
    if problems:
        problems = sorted_by_line(problems)
        count = len(problems)
        raise EvidenceError(f"{name}: {count} problem{'s' * (count != 1)} in the ledger", problems)
    frame = _to_frame(rows)
    frame.attrs["sha256"] = read.sha256  # of the bytes parsed: a run's provenance
    return frame


# --- checks ---------------------------------------------------------------------------------------


def line_break_problems(read: CheckedCsv) -> list[Problem]:
    """Cells holding a line break that the reader did not already report as spanning lines.

    A quote opened in the last row's last cell and never closed swallows the file's final
    line break: the record still has the header's width and ends on the line it starts on, so
    only the line break in its cell shows that the file is broken (every cell is one line).

    Parameters
    ----------
    read : CheckedCsv
        A file as read by :func:`forecast._io.read_checked_csv`.

    Returns
    -------
    list of Problem
        One per such cell, at its record's line and column.
    """
    reported = {p.line for p in read.problems}
    return [Problem(f"the {column} holds a line break: a quote is left open", file=read.name,
                    line=line, field=column,
                    hint="close the quote; keep every row on one line")
            for line, raw in read.records if line not in reported
            for column, cell in raw.items() if "\n" in cell or "\r" in cell]



def _validate_row(
    raw: Mapping[str, Any], line: int, name: str, context: dict[str, Any],
    problems: list[Problem],
) -> LedgerRow | None:
    data = {key: value for key, value in raw.items()
            if key in COLUMNS or key in OPTIONAL_COLUMNS}
    try:
        return LedgerRow.model_validate(data, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = ".".join(str(part) for part in error["loc"])
            if error["type"] == "missing":  # already reported once, as a missing column
                continue
            message, hint = _explain(error, raw.get(field))
            problems.append(Problem(message, hint=hint, file=name, line=line, field=field or None))
        return None


def _explain(error: Mapping[str, Any], value: object) -> tuple[str, str | None]:
    """Message and hint for one pydantic error, in the ledger's terms."""
    kind = error["type"]
    field = error["loc"][0] if error["loc"] else ""
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, "), None
    if kind == "string_too_short":
        return f"{field} is empty", f"fill in the {field}"
    if kind == "string_pattern_mismatch":
        hint = ("a node name: a letter, then letters, digits or underscores" if field == "node"
                else "one word without spaces, e.g. E001")
        return f"'{value}' is not a valid {field}", hint
    return str(error["msg"]), None


def _check_ids(ids: Sequence[tuple[int, str]], name: str) -> list[Problem]:
    """Duplicate ids, checked on every row of the right width, valid or not."""
    problems = []
    first: dict[str, int] = {}
    for line, row_id in ids:
        if row_id and row_id in first:
            problems.append(Problem(
                f"duplicate id '{row_id}' (also on line {first[row_id]})",
                hint="give every row its own id", file=name, line=line, field="id",
            ))
        first.setdefault(row_id, line)
    return problems


def _check_grades(rows: Sequence[tuple[int, LedgerRow]], name: str) -> list[Problem]:
    """A source keeps one reliability letter: it is learned per source downstream."""
    problems = []
    first: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        letter = row.grade[0]
        seen, seen_line = first.setdefault(row.source, (letter, line))
        if letter != seen:
            problems.append(Problem(
                f"source '{row.source}' is graded {letter} here and {seen} on line {seen_line}",
                hint="reliability (the letter) belongs to the source: grade it once; the digit "
                "may vary", file=name, line=line, field="grade",
            ))
    return problems


def _check_against_spec(
    rows: Sequence[tuple[int, LedgerRow]], spec: ModelSpec, name: str
) -> list[Problem]:
    problems = []
    for line, row in rows:
        states = spec.states.get(row.node)
        if states is None:
            hint = did_you_mean(row.node, spec.node_names)
            problems.append(Problem(f"unknown node '{row.node}'", file=name, line=line,
                                    field="node", hint=hint or "the model's nodes are "
                                    f"{', '.join(spec.node_names)}"))
        elif row.state is not None and row.state not in states:
            problems.append(Problem(
                f"'{row.state}' is not a state of {row.node}", file=name, line=line,
                field="state",
                hint=did_you_mean(row.state, states) or f"its states are {', '.join(states)}",
            ))
        elif row.count is not None and spec.nodes[row.node].counts is None:
            problems.append(Problem(
                f"a count on {row.node}, whose model declares no counts", file=name, line=line,
                field="count", hint=f"add counts: {{rates: ...}} to node {row.node} in the model "
                "(the expected count per step in each state), or enter the row as a state"))
        elif row.likelihood is not None and len(row.likelihood) != len(states):
            problems.append(Problem(
                f"{len(row.likelihood)} numbers for {row.node}, which has {len(states)} states",
                hint=f"give one number per state, in the order {';'.join(states)}",
                file=name, line=line, field="likelihood",
            ))
    return problems


# --- result ---------------------------------------------------------------------------------------


def _to_frame(rows: Sequence[tuple[int, LedgerRow]]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "id": [r.id for _, r in rows],
        "date": pd.to_datetime([r.date for _, r in rows]).astype("datetime64[ns]"),
        "node": [r.node for _, r in rows],
        "state": [r.state for _, r in rows],
        "likelihood": pd.Series([r.likelihood for _, r in rows], dtype=object),
        "grade": [r.grade for _, r in rows],
        "source": [r.source for _, r in rows],
        "url": [r.url for _, r in rows],
        "note": [r.note for _, r in rows],
        "count": pd.Series([r.count for _, r in rows], dtype="Int64"),
        "reliability": [r.grade[0] for _, r in rows],
        "credibility": pd.Series([int(r.grade[1]) for _, r in rows], dtype="int64"),
        "line": pd.Series([line for line, _ in rows], dtype="int64"),
    })
    text = ["id", "node", "state", "grade", "reliability", "source", "url", "note"]
    return frame.astype(dict.fromkeys(text, "string"))


# --- evidence as of a date ------------------------------------------------------------------------

AsOf: TypeAlias = dt.date | str | pd.Timestamp
"""An as-of date: a ``datetime.date``, a ``pandas.Timestamp`` or an ISO string ``YYYY-MM-DD``."""

_KEPT_COLUMNS = ("kind", "target", "age_days", "weight")


def no_rows() -> pd.DataFrame:
    """An empty table of kept rows (the evidence of a forecast made without a ledger)."""
    columns = [*COLUMNS, "reliability", "credibility", "line", *_KEPT_COLUMNS]
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}).astype(
        {"date": "datetime64[ns]"})


def rows_as_of(
    ledger: pd.DataFrame,
    spec: ModelSpec,
    as_of: AsOf,
    *,
    half_life_days: float | None = None,
) -> pd.DataFrame:
    """The ledger rows that count at `as_of`, by the condition and event rules.

    Parameters
    ----------
    ledger : pandas.DataFrame
        A ledger as returned by :func:`load_ledger`.
    spec : ModelSpec
        The model: each node's ``definition.kind`` and, for events, ``definition.window``.
    as_of : datetime.date, str or pandas.Timestamp
        The as-of day (a time of day is dropped).
    half_life_days : float, optional
        Half-life of soft rows; ``None`` (the default) means no decay.

    Returns
    -------
    pandas.DataFrame
        The kept rows in (date, line) order with the ledger's columns plus ``kind`` (``condition``
        or ``event``), ``target`` (the network node the finding is entered on: the node itself for a
        condition, its previous-window twin :func:`forecast.evidence.lagged.lagged` for an event),
        ``age_days`` (days from the row's date to ``as_of``) and ``weight`` (the exponent applied to
        a soft row's likelihood: 1 without decay, always 1 on hard rows).

    Raises
    ------
    EvidenceError
        If `as_of` is not a date, `half_life_days` is not a positive number, a row does not
        fit the model (unknown node or state, wrong likelihood length, event without window),
        or a row up to `as_of` is a count (counts are evidence of a time step: dynamic only).
    """
    day = _as_of_day(as_of)
    half_life = _half_life(half_life_days)
    _check_frame(ledger, spec)
    frame = ledger[ledger["date"] <= day].copy()
    if "count" in frame and frame["count"].notna().any():
        counted = frame[frame["count"].notna()]
        raise EvidenceError("counts need the dynamic model", [Problem(
            f"a count on {row.node}: the snapshot semantics has no time step to count in",
            line=int(row.line), field="count",
            hint="forecast with the model's time steps (the default; drop --snapshot), or "
            "leave the count rows out") for row in counted.head(5).itertuples()])
    kinds = {n: spec.nodes[n].definition.kind for n in spec.node_names}
    frame["kind"] = [kinds[str(n)] for n in frame["node"]]
    frame["target"] = [str(n) if kinds[str(n)] == "condition" else lagged(str(n))
                       for n in frame["node"]]
    keep = pd.Series(True, index=frame.index)
    for node in frame.loc[frame["kind"] == "event", "node"].unique():
        window = spec.nodes[str(node)].definition.window
        if window is None:
            raise EvidenceError(f"event node '{node}' has no window in the model",
                                [Problem("an event needs definition.window", field=f"node {node}",
                                         hint="e.g. window: {months: 24}")])
        start = day - (pd.DateOffset(months=window.months) if window.months is not None
                       else pd.Timedelta(days=window.days))
        keep &= ~((frame["node"] == node) & (frame["date"] <= start))
    out = _select(frame[keep], spec)
    if out.empty:
        return no_rows()
    out["age_days"] = (day - out["date"]).dt.days.astype("int64")
    decay = 1.0 if half_life is None else 2.0 ** (-out["age_days"] / half_life)
    out["weight"] = (decay * out["likelihood"].notna() + out["likelihood"].isna()).astype(float)
    out = out.astype({"kind": "string", "target": "string"})
    return out[[*ledger.columns, *_KEPT_COLUMNS]].reset_index(drop=True)


def _select(rows: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The rows that stand, per node: a condition's latest; an event's occurrence or the rest.

    A condition keeps its latest row (by date, then file line). An event (all of whose rows
    here lie in one window) keeps its hard occurrence rows when it has any, otherwise its
    latest hard row and every soft row.
    """
    rows = rows.sort_values(["date", "line"], kind="stable")
    kept: list[pd.DataFrame] = []
    for node, group in rows.groupby("node", sort=False):
        if spec.nodes[str(node)].definition.kind == "condition":
            kept.append(group.tail(1))
            continue
        hard = group[group["state"].notna()]
        occurred = hard[hard["state"] == _occurrence(spec, str(node))]
        if len(occurred):
            kept.append(occurred)
        else:
            kept.extend([group[group["state"].isna()], hard.tail(1)])
    kept = [k for k in kept if len(k)]
    if not kept:
        return rows.iloc[:0].copy()
    return pd.concat(kept).sort_values(["date", "line"], kind="stable")


def case_as_of(
    ledger: pd.DataFrame,
    spec: ModelSpec,
    as_of: AsOf,
    *,
    half_life_days: float | None = None,
    reports: bool = False,
) -> Case:
    """The evidence a forecast made on `as_of` would have used, as a :class:`Case`.

    ``case_from_rows(rows_as_of(ledger, spec, as_of, half_life_days=...), spec,
    reports=...)``: see :func:`rows_as_of` for which rows count and :func:`case_from_rows`
    for how they become findings.

    Parameters
    ----------
    ledger : pandas.DataFrame
        A ledger as returned by :func:`load_ledger`.
    spec : ModelSpec
        The model the ledger observes.
    as_of : datetime.date, str or pandas.Timestamp
        The as-of day; rows dated after it are ignored.
    half_life_days : float, optional
        Half-life of soft rows in days (``None``: no decay).
    reports : bool
        Hard rows as sources' reports rather than fixed findings.

    Returns
    -------
    Case
        Evidence and soft likelihoods keyed by network node; ``Case.to_json()`` is a stable
        fingerprint.

    Raises
    ------
    EvidenceError
        See :func:`rows_as_of`.
    """
    rows = rows_as_of(ledger, spec, as_of, half_life_days=half_life_days)
    return case_from_rows(rows, spec, reports=reports)


def case_from_rows(rows: pd.DataFrame, spec: ModelSpec, *, reports: bool = False) -> Case:
    """Turn kept rows (:func:`rows_as_of`, or any subset of them) into a :class:`Case`.

    The rows are first reduced by the same per-node rules as the as-of cut (a condition keeps its
    latest row; an event's occurrence rows win), so a subset or a union of kept rows is valid input
    (this is how :mod:`forecast.analysis.attribution` builds coalitions of rows). Findings are
    entered on each row's ``target`` node. Hard rows go to ``Case.evidence`` (``{node: state}``).
    Soft rows go to ``Case.soft``: each likelihood is scaled to a largest entry of 1, raised to its
    decay ``weight``, and the vectors of one node are multiplied. A node may carry both a hard
    finding and a soft likelihood; the engine multiplies both in.

    With ``reports=True`` every hard row becomes ``Report(node, state, source, grade)`` in
    ``Case.reports`` instead (several rows, several reports, so sources that agree add up and
    each source's reliability is learned from its Admiralty letter); soft rows stay fixed
    likelihoods in ``Case.soft`` and ``Case.evidence`` is empty.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows with the columns of :func:`rows_as_of`'s output.
    spec : ModelSpec
        The model.
    reports : bool
        Hard rows as sources' reports rather than fixed findings.

    Returns
    -------
    Case
        Findings keyed in the model's node order, each twin after its node.
    """
    evidence: dict[str, str] = {}
    soft: dict[str, list[float]] = {}
    found: list[Report] = []
    for row in _select(rows, spec).itertuples(index=False):
        node = str(row.target)
        if not isinstance(row.likelihood, tuple):
            if reports:
                found.append(Report(node, str(row.state), str(row.source), str(row.grade)))
            else:
                evidence[node] = str(row.state)
            continue
        top = max(row.likelihood)
        vector = [(float(x) / top) ** float(row.weight) for x in row.likelihood]
        previous = soft.get(node, [1.0] * len(vector))
        soft[node] = [a * b for a, b in zip(previous, vector, strict=True)]
    order = {name: i for i, n in enumerate(spec.node_names) for name in (n, lagged(n))}
    return Case(
        evidence={n: evidence[n] for n in sorted(evidence, key=order.__getitem__)},
        soft={n: tuple(soft[n]) for n in sorted(soft, key=order.__getitem__)},
        reports=tuple(found),
    )


def write_rows(rows: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write kept rows as CSV (``;``-separated likelihoods), atomically; see :func:`read_rows`."""
    out = rows.copy()
    out["likelihood"] = [";".join(repr(float(x)) for x in v) if isinstance(v, tuple) else ""
                         for v in out["likelihood"]]
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    return atomic_write(path, lambda tmp: safe_csv(out, tmp))  # no cell runs as a formula


def read_rows(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read rows written by :func:`write_rows` back into the frame they were written from.

    That is the kept rows of :func:`rows_as_of` (a snapshot forecast's) or the timeline rows of
    :func:`forecast.evidence.steps.timeline` (a dynamic forecast's, with ``step`` and ``how``).
    """
    frame = restore_csv_text(pd.read_csv(path, dtype=str, keep_default_na=False))
    if frame.empty and "how" not in frame.columns:
        return no_rows()
    # the kept rows of a snapshot forecast, or the timeline rows of a dynamic one
    # (forecast.evidence.steps.TIMELINE_COLUMNS): each column converted if it is there
    text = ["id", "node", "state", "grade", "reliability", "source", "url", "note", "kind",
            "target", "step_label", "how"]
    for column in ("state", "note"):
        if column in frame:
            frame[column] = frame[column].replace("", pd.NA)
    frame["likelihood"] = pd.Series(
        [tuple(float(x) for x in v.split(";")) if v else None for v in frame["likelihood"]],
        dtype=object)
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    for column in ("credibility", "line", "age_days", "step"):
        if column in frame:
            frame[column] = frame[column].astype("int64")
    if "count" in frame:
        frame["count"] = pd.Series([int(v) if v else pd.NA for v in frame["count"]],
                                   index=frame.index, dtype="Int64")
    if "weight" in frame:
        frame["weight"] = frame["weight"].astype(float)
    return frame.astype({c: "string" for c in text if c in frame})


def _as_of_day(as_of: object) -> pd.Timestamp:
    return pd.Timestamp(as_of_date(as_of, future=True))


def _half_life(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise EvidenceError(f"half-life {value!r} must be a positive number of days",
                            [Problem(f"got {value!r}", field="half_life_days",
                                     hint="e.g. 365, or None for no decay")])
    return number


def _occurrence(spec: ModelSpec, node: str) -> str:
    """An event's "it happened" state: ``yes`` when the node has one, else its last state."""
    states = spec.states[node]
    return "yes" if "yes" in states else states[-1]


def _check_frame(ledger: pd.DataFrame, spec: ModelSpec) -> None:
    needed = {"date", "node", "state", "likelihood", "source", "grade", "line"}
    missing = sorted(needed - set(ledger.columns))
    if missing:
        raise EvidenceError(
            f"the ledger frame lacks column{'s' * (len(missing) != 1)} {', '.join(missing)}",
            [Problem("not a frame from load_ledger", hint="load it with load_ledger",
                     field="ledger")])
    problems = []
    counts = ledger["count"] if "count" in ledger else pd.Series(pd.NA, index=ledger.index)
    for row, count in zip(ledger[["line", "node", "state", "likelihood"]].itertuples(index=False),
                          counts, strict=True):
        rows = [(int(row.line), LedgerRow.model_construct(
            node=str(row.node), state=None if pd.isna(row.state) else str(row.state),
            likelihood=row.likelihood if isinstance(row.likelihood, tuple) else None,
            count=None if pd.isna(count) else int(count)))]
        problems += _check_against_spec(rows, spec, "ledger")
    if problems:
        raise EvidenceError(f"ledger: {len(problems)} row(s) do not fit the model", problems)
