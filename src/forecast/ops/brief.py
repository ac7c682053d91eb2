"""The brief's content: everything one published run's brief says, computed, not drawn.

:func:`build_brief` reads the run (and the one before it) from the store and collects the key
judgments in estimative language (:mod:`forecast.analysis.language`), what changed since the
previous run and why (the inputs that differ, the ledger rows that entered or left, and each
row's contribution from :func:`forecast.ops.attribution.attribute_runs_many`, every moved
judgment on the same coalitions), the indicators worth
watching (:func:`forecast.analysis.voi.value_of_information`), the evidence that counted,
the model's claims with their quotes, its assumptions, the sampler's diagnostics and the run's
provenance, as a frozen :class:`BriefData`. Drawing and printing it is
:mod:`forecast.report.brief`'s job; nothing here imports matplotlib or templates.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecast.analysis.claims import claims_scorecard
from forecast.analysis.conflict import evidence_conflict
from forecast.analysis.language import Judgment, judgments
from forecast.analysis.sensitivity import parameter_sensitivity
from forecast.analysis.voi import value_of_information
from forecast.errors import EvidenceError, Problem, RunStoreError
from forecast.evidence.case import Case
from forecast.evidence.ledger import case_from_rows, load_ledger, no_rows, rows_as_of
from forecast.inference.horizon import HORIZONS
from forecast.model.load import load_spec
from forecast.ops.attribution import attribute_runs_many
from forecast.ops.store import RunStore
from forecast.ops.update import STALE_DAYS, history

if TYPE_CHECKING:
    from forecast.inference.result import Forecast
    from forecast.model.schema import ModelSpec
    from forecast.ops.store import Run

__all__ = [
    "CONFLICT_RATIO",
    "BriefData",
    "Change",
    "ClaimEntry",
    "ClaimVerdict",
    "Driver",
    "EvidenceRow",
    "FigureImage",
    "FigureInputs",
    "Horizon",
    "Indicator",
    "Note",
    "build_brief",
    "safe_url",
]

_MOVED = 0.0005  # a mean that moves less than this has not moved (as forecast update reports)
_TOP_DRIVERS = 5
_TOP_INDICATORS = 8
_TOP_CONFLICTS = 5

ATTRIBUTION_PERMUTATIONS = 40
"""Sampled orders of the changed rows when there are too many for exact Shapley values.

40 (20 antithetic pairs) instead of :func:`forecast.analysis.attribution.attribute_change`'s 200:
five times faster, with the same top rows in the same order. Measured on the flagship between
2015-08-24 and 2017-08-24 (73 changed rows, four moved judgments), the standard errors (orders
and parameter draws together) are at most 0.004 log-odds for the headline's change of −0.03
and 0.07 for the largest change (1.9); the moved judgments share every coalition's query.
"""

CONFLICT_RATIO = 1.5
"""Two findings this many times less probable together than apart are flagged as in conflict."""


# ---------------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class EvidenceRow:
    """A ledger row the forecast used."""

    id: str
    date: str
    node: str
    label: str
    finding: str
    window: str
    grade: str
    source: str
    url: str | None
    note: str


@dataclass(frozen=True)
class Driver:
    """One ledger row's share of a scenario's change between two runs."""

    row_id: str
    node: str
    label: str
    change: str
    contribution: float
    se: float


@dataclass(frozen=True)
class Change:
    """How a key judgment's probability moved since the previous run, and why."""

    node: str
    state: str
    label: str
    before: float | None
    before_interval: tuple[float, float] | None
    after: float | None
    after_interval: tuple[float, float] | None
    status: str
    drivers: tuple[Driver, ...] = ()

    @property
    def delta(self) -> float | None:
        """After minus before (None unless both are forecasts)."""
        return None if self.before is None or self.after is None else self.after - self.before


@dataclass(frozen=True)
class Indicator:
    """A node worth watching: observing it would move the headline judgment most."""

    node: str
    label: str
    state: str
    mutual_info: float
    expected_shift: float
    record: str


@dataclass(frozen=True)
class Horizon:
    """A key judgment's scenario over the steps ahead (forecasts of the dynamic model).

    ``values`` holds ``(steps, mean, 5%, 95%)`` per horizon: for an event, that it happens
    within that many steps; for a condition, its state that many steps ahead.
    """

    node: str
    label: str
    state: str
    values: tuple[tuple[int, float, float, float], ...]


@dataclass(frozen=True)
class ClaimVerdict:
    """One row of the claims scorecard (:func:`forecast.analysis.claims.claims_scorecard`)."""

    claim: str
    parameter: str
    kind: str
    prior: tuple[float, float, float]
    posterior: tuple[float, float, float]
    verdict: str
    sentence: str


@dataclass(frozen=True)
class ClaimEntry:
    """A claim of the source, quoted, with the parts of the model that cite it."""

    claim_id: str
    quotes: tuple[str, ...]
    paragraphs: tuple[int, ...]
    note: str | None
    cited_by: tuple[str, ...]


@dataclass(frozen=True)
class Note:
    """A modelling assumption: where it sits in the model and what it says."""

    node: str
    element: str
    text: str


@dataclass(frozen=True)
class FigureImage:
    """A rendered figure: the section it belongs to, a title, a caption and a data URI."""

    section: str
    title: str
    caption: str
    uri: str


@dataclass
class FigureInputs:
    """What the figures are drawn from (kept apart so building never draws)."""

    spec: ModelSpec
    forecast: Forecast
    history: pd.DataFrame
    events: pd.DataFrame | None = None
    attributions: dict[tuple[str, str], Any] = field(default_factory=dict)
    sensitivity: pd.DataFrame | None = None


@dataclass
class BriefData:
    """Everything the brief says, as plain values (:func:`build_brief` fills it).

    Attributes
    ----------
    title, model_name, source : str
        The model's title and name; its source document in one line.
    as_of, run_id, created : str
        The run's as-of day, id and creation time.
    publishable : bool
        Whether the run passed its diagnostics (the brief warns in red if not).
    judgments : list of Judgment
        Key judgments of the scenario nodes that are forecast.
    observed : list of (node, label, state)
        Scenario nodes the evidence observes (no judgment: their state is known).
    previous_run_id, previous_as_of : str or None
        The run before this one (None for a first run).
    changes : list of Change
        Each key judgment before and after, with the rows that moved it.
    input_changes : list of str
        What differs between the two runs' inputs (as-of, ledger, model, seed).
    rows_added, rows_dropped : list of EvidenceRow
        Ledger rows that count now but did not then, and the reverse.
    indicators : list of Indicator
        Nodes whose observation would move the headline judgment most.
    evidence : list of EvidenceRow
        The ledger rows that counted.
    claims : list of ClaimEntry
        The source's claims with their quotes and the elements citing them.
    assumptions : list of Note
        Every element's stated assumption.
    diagnostics : list of (name, value)
        The sampler's diagnostics, formatted.
    failed : list of str
        Failed diagnostics.
    conflicts : list of str
        Pairs of findings the model finds at odds (:data:`CONFLICT_RATIO`).
    provenance : list of (name, value)
        Hashes, versions, seed, method, files.
    notes : list of str
        Anything the brief could not include, and why.
    inputs : FigureInputs
        What the figures are drawn from.
    horizons : list of Horizon
        The key judgments over 1, 4 and 8 steps (empty for a snapshot run).
    step : str
        The model's time step (``quarter`` or ``month``), for the horizons' headings.
    scorecard : list of ClaimVerdict
        Each claim's effect, prior against posterior given the record (dynamic runs).
    newest_evidence : str or None
        The date of the newest ledger row the run could use (None without evidence).
    evidence_age : int or None
        Days from it to the as-of date.
    stale : bool
        Whether that is more than the run's freshness gap (``stale_after_days`` of its
        manifest, :data:`~forecast.ops.update.STALE_DAYS` for older runs): the masthead
        then says so as a warning.
    """

    title: str
    model_name: str
    source: str
    as_of: str
    run_id: str
    created: str
    publishable: bool
    judgments: list[Judgment]
    observed: list[tuple[str, str, str]]
    previous_run_id: str | None
    previous_as_of: str | None
    changes: list[Change]
    input_changes: list[str]
    rows_added: list[EvidenceRow]
    rows_dropped: list[EvidenceRow]
    indicators: list[Indicator]
    evidence: list[EvidenceRow]
    claims: list[ClaimEntry]
    assumptions: list[Note]
    diagnostics: list[tuple[str, str]]
    failed: list[str]
    conflicts: list[str]
    provenance: list[tuple[str, str]]
    notes: list[str]
    inputs: FigureInputs
    horizons: list[Horizon] = field(default_factory=list)
    step: str = "quarter"
    scorecard: list[ClaimVerdict] = field(default_factory=list)
    newest_evidence: str | None = None
    evidence_age: int | None = None
    stale: bool = False


# ---------------------------------------------------------------------------------- building


def _freshness(manifest: dict, rows: pd.DataFrame | None) -> dict[str, Any]:
    """The masthead's newest evidence: recorded by the update, else the run's newest row."""
    newest = manifest.get("newest_evidence")
    if not isinstance(newest, str) and rows is not None and len(rows):
        newest = pd.Timestamp(rows["date"].max()).date().isoformat()
    try:
        age = (dt.date.fromisoformat(str(manifest.get("as_of")))
               - dt.date.fromisoformat(newest)).days if isinstance(newest, str) else None
    except ValueError:  # a hand-edited manifest: say nothing rather than something wrong
        return {}
    gap = manifest.get("stale_after_days")
    gap = gap if isinstance(gap, int) and not isinstance(gap, bool) else STALE_DAYS
    return {"newest_evidence": newest if age is not None else None, "evidence_age": age,
            "stale": age is not None and age > gap}


def build_brief(model_path: str | os.PathLike[str], runs_dir: str | os.PathLike[str] = "runs",
                run: str = "latest", against: str | None = None) -> BriefData:
    """Collect what the brief of one run says.

    Parameters
    ----------
    model_path : path-like
        The model YAML the run was made from.
    runs_dir : path-like
        The run store folder (runs of the model are in ``runs_dir/<model name>/``).
    run : str
        ``"latest"`` (the published run) or a run id.
    against : str, optional
        The run to compare with (an id, or ``"latest"``); by default the one the run's
        update compared with (its manifest's ``previous_run_id``).

    Returns
    -------
    BriefData

    Raises
    ------
    SpecError
        If the model file is invalid.
    RunStoreError
        If there is no such run (or `against` run), it is damaged, or it was made from a
        different model. Other
        damaged runs, and a damaged ``LATEST`` (the newest valid run is then the latest), are
        skipped and listed in the brief's notes.
    """
    spec = load_spec(model_path)
    store = RunStore(runs_dir, spec.name)
    chosen = store.pick(run)
    skipped = [f"Skipped in the run store: {p}" for p in store.problems]
    forecast = chosen.forecast()
    if forecast.attrs.get("model_hash") != spec.fingerprint:
        raise RunStoreError(f"{chosen.path}: the run is not a forecast of {model_path}", [
            Problem("the model differs from the one the run was made from", file=str(model_path),
                    hint="pass the model file the run used, or run forecast update again")])
    manifest = chosen.manifest
    notes: list[str] = skipped
    previous = (store.pick(against, option="--against") if against is not None
                else _previous_run(store, manifest, notes))
    if previous is None:
        earlier = sorted({str(r.manifest["as_of"]) for r in store.runs()
                          if str(r.manifest["as_of"]) < str(manifest["as_of"])})
        if earlier:  # backfills published after this run: never its "previous run"
            notes.append(f"Runs with earlier as-of dates ({', '.join(earlier[-3:])}) were "
                         "backfilled after this run was published, so none is its previous "
                         "run; forecast brief --against RUN compares with one.")
    dynamic = manifest.get("semantics") == "dynamic"
    rows = _shown(_run_evidence(chosen, spec, notes), notes if dynamic else None)
    before_rows = None if previous is None else _shown(_run_evidence(previous, spec, []), None)
    found = judgments(forecast, spec, rows)
    scenarios = list(spec.scenarios or spec.node_names)
    observed = _observed(forecast, spec, scenarios)
    frame = history(spec.name, runs_dir, nodes=scenarios).frame
    if not frame.empty:  # the trajectory up to this run's date (runs are in as-of order)
        frame = frame[frame["as_of"] <= str(manifest.get("as_of"))]
    known = [r for r in (before_rows, rows) if r is not None and not r.empty]
    events = pd.concat(known).drop_duplicates("id") if known else None
    inputs = FigureInputs(spec, forecast, frame, events)
    changes = _changes(spec, found, chosen, previous, inputs, notes, attribute=not dynamic)
    if dynamic:  # the explanations by row below are of the snapshot network
        case = None
        notes.append("What moved a judgment, the indicators to watch, conflicting findings "
                     "and parameter sensitivity are computed on the snapshot network: they are "
                     "not shown for a forecast of the dynamic model.")
    else:
        case = _case(spec, rows)  # the findings behind the forecast, for both explanations
    conflicts = _conflicts(spec, forecast, case)
    indicators = _indicators(spec, forecast, case, found)
    if found and not dynamic:
        inputs.sensitivity = _sensitivity(spec, forecast, found[0])
    diagnostics = manifest.get("diagnostics", {})
    return BriefData(
        title=spec.model.title,
        model_name=spec.name,
        source=_source_line(spec),
        as_of=str(manifest.get("as_of", "")),
        run_id=chosen.run_id,
        created=str(manifest.get("created", "")),
        publishable=bool(manifest.get("publishable")),
        judgments=found,
        observed=observed,
        previous_run_id=None if previous is None else previous.run_id,
        previous_as_of=None if previous is None else str(previous.manifest.get("as_of")),
        changes=changes,
        input_changes=_input_changes(previous, chosen),
        rows_added=_row_diff(spec, rows, before_rows),
        rows_dropped=_row_diff(spec, before_rows, rows),
        indicators=indicators,
        evidence=_evidence_rows(spec, rows),
        claims=_claims(spec),
        assumptions=_assumptions(spec),
        diagnostics=_diagnostics(manifest, diagnostics),
        failed=[str(x) for x in diagnostics.get("failed", [])],
        conflicts=conflicts,
        provenance=_provenance(manifest, previous),
        notes=notes,
        inputs=inputs,
        horizons=_horizons(forecast, found),
        step=spec.model.time.step,
        scorecard=_scorecard(spec, forecast) if dynamic else [],
        **_freshness(manifest, rows),
    )


def _scorecard(spec: ModelSpec, forecast: Forecast) -> list[ClaimVerdict]:
    table = claims_scorecard(spec, forecast)
    return [ClaimVerdict(str(r["claim"]), str(r["parameter"]), str(r["kind"]),
                         (float(r["prior_or"]), float(r["prior_5%"]), float(r["prior_95%"])),
                         (float(r["posterior_or"]), float(r["posterior_5%"]),
                          float(r["posterior_95%"])), str(r["verdict"]), str(r["sentence"]))
            for r in table.to_dict("records")]


def _shown(rows: pd.DataFrame | None, notes: list[str] | None) -> pd.DataFrame | None:
    """A run's rows without its non-occurrence and silence rows (counted in `notes`)."""
    if rows is None or "how" not in rows.columns:
        return rows
    for how, said in _UNLISTED.items():
        count = int((rows["how"] == how).sum())
        if notes is not None and count:
            notes.append(f"{count} closed steps without a row on an event whose record {said} "
                         "(listed in the run's evidence.csv).")
    return rows[~rows["how"].isin(list(_UNLISTED))].reset_index(drop=True)


_UNLISTED = {
    "nonoccurrence": "is complete were observed as non-occurrence",
    "silence": ("catches only a share of occurrences counted as silences, weak evidence that "
                "it did not happen"),
}
"""Timeline rows a brief counts instead of listing, and what the count says of them."""


def _horizons(forecast: Forecast, found: list[Judgment]) -> list[Horizon]:
    table = forecast.horizons
    table = table[table["horizon"].isin(HORIZONS)]
    out = []
    for j in found:
        mine = table[(table["node"] == j.node) & (table["state"] == j.state)]
        if not mine.empty:
            mine = mine.sort_values("horizon")
            out.append(Horizon(j.node, j.label, j.state, tuple(
                (int(h), float(m), float(lo), float(hi)) for h, m, lo, hi in zip(
                    mine["horizon"], mine["mean"], mine["hdi_5%"], mine["hdi_95%"],
                    strict=True))))
    return out


def _previous_run(store: RunStore, manifest: dict, notes: list[str]) -> Run | None:
    previous_id = manifest.get("previous_run_id")
    if not previous_id:
        return None
    try:
        return store.read_run(previous_id)
    except RunStoreError as err:
        notes.append(f"The previous run {previous_id} cannot be read ({err.summary}); "
                     "changes are not shown.")
        return None


def _run_evidence(run: Run, spec: ModelSpec, notes: list[str]) -> pd.DataFrame | None:
    """The ledger rows a run used: stored with the run, else re-cut from its unchanged ledger."""
    try:
        return run.evidence
    except RunStoreError:  # a run made before runs stored their evidence
        pass
    path, sha = run.manifest.get("ledger_path"), run.manifest.get("ledger_sha256")
    if not path:
        return no_rows()
    try:  # the ledger as it is now, hashed from the bytes parsed
        ledger = load_ledger(path, spec) if Path(path).is_file() else None
    except EvidenceError:
        ledger = None
    if ledger is None or ledger.attrs["sha256"] != sha:
        notes.append(f"The ledger {path} has changed or gone since run {run.run_id}, which did "
                     "not store its evidence: the evidence cannot be shown.")
        return None
    return rows_as_of(ledger, spec, run.manifest["as_of"])


def _observed(forecast: Forecast, spec: ModelSpec, scenarios: Sequence[str]
              ) -> list[tuple[str, str, str]]:
    shown = set(forecast.summary["node"])
    evidence = (forecast.attrs.get("evidence") or [{}])[0].get("evidence", {})
    return [(n, spec.nodes[n].label, str(evidence.get(n, "observed")))
            for n in scenarios if n not in shown]


def _interval(summary: pd.DataFrame, node: str, state: str
              ) -> tuple[float, tuple[float, float]] | tuple[None, None]:
    row = summary[(summary["node"] == node) & (summary["state"] == state)]
    if row.empty:
        return None, None
    r = row.iloc[0]
    return float(r["mean"]), (float(r["hdi_5%"]), float(r["hdi_95%"]))


def _changes(spec: ModelSpec, found: list[Judgment], run: Run, previous: Run | None,
             inputs: FigureInputs, notes: list[str], *, attribute: bool = True) -> list[Change]:
    if previous is None:
        return []
    before_summary, after_summary = previous.summary, run.summary
    rows = []
    for j in found:
        before, before_iv = _interval(before_summary, j.node, j.state)
        after, after_iv = _interval(after_summary, j.node, j.state)
        assert after is not None  # the judgments are read from this run's summary
        status = ("new" if before is None else
                  "moved" if abs(after - before) >= _MOVED else "unchanged")
        rows.append((j, before, before_iv, after, after_iv, status))
    moved = list(dict.fromkeys((j.node, j.state) for j, *_, status in rows if status == "moved"))
    if moved and attribute:  # one pass over the coalitions for every moved judgment
        attributions = attribute_runs_many(spec, previous, run, moved,
                                           permutations=ATTRIBUTION_PERMUTATIONS)
        inputs.attributions.update(zip(moved, attributions, strict=True))
    out = []
    for j, before, before_iv, after, after_iv, status in rows:
        drivers: tuple[Driver, ...] = ()
        if status == "moved" and attribute:
            drivers = _drivers(inputs.attributions[(j.node, j.state)].table)
        out.append(Change(j.node, j.state, j.label, before, before_iv, after, after_iv, status,
                          drivers))
    return out


def _drivers(table: pd.DataFrame) -> tuple[Driver, ...]:
    top = table.reindex(table["contribution"].abs().sort_values(ascending=False).index)
    return tuple(Driver(str(r.row_id), str(r.node), str(r.label), str(r.change),
                        float(r.contribution), float(r.se))
                 for r in top.head(_TOP_DRIVERS).itertuples(index=False))


def _case(spec: ModelSpec, rows: pd.DataFrame | None) -> Case | None:
    """The run's findings as a Case; None when its evidence cannot be shown."""
    if rows is None:
        return None
    return Case() if rows.empty else case_from_rows(rows, spec)


def _indicators(spec: ModelSpec, forecast: Forecast, case: Case | None,
                found: list[Judgment]) -> list[Indicator]:
    if not found or case is None:
        return []
    head = found[0]
    table = value_of_information(spec, case, head.node, head.state,
                                         forecast=forecast)
    table = table.sort_values("mutual_info", ascending=False).head(_TOP_INDICATORS)
    return [Indicator(str(r.node), spec.nodes[str(r.node)].label,
                      str(r.most_informative_state), float(r.mutual_info),
                      float(r.expected_shift), spec.nodes[str(r.node)].definition.record or "")
            for r in table.itertuples(index=False) if str(r.node) in spec.nodes]


def _conflicts(spec: ModelSpec, forecast: Forecast, case: Case | None) -> list[str]:
    """The pairs of findings most at odds (at most :data:`_TOP_CONFLICTS`).

    A pair counts when it is at least :data:`CONFLICT_RATIO` times less probable together
    than apart under the model.
    """
    if case is None or case.empty:
        return []
    table = evidence_conflict(spec, case, forecast=forecast,
                                      threshold=math.log(CONFLICT_RATIO))
    pairs = table[(table["size"] == 2) & table["flagged"].astype(bool)]
    return [f"{r.findings} ({float(r.ratio):.1f} times less probable together)"
            for r in pairs.head(_TOP_CONFLICTS).itertuples(index=False)]


def _sensitivity(spec: ModelSpec, forecast: Forecast, head: Judgment) -> pd.DataFrame:
    return parameter_sensitivity(forecast, head.node, head.state, spec=spec)


def _finding(spec: ModelSpec, row: Any) -> str:  # a row of itertuples()
    likelihood = row.likelihood
    count = getattr(row, "count", None)
    if count is not None and not pd.isna(count):
        return f"count: {int(count)}"
    if isinstance(likelihood, tuple):
        parts = [f"{s} {float(x):g}" for s, x in zip(spec.states[str(row.node)], likelihood,
                                                     strict=False)]
        return "soft: " + " · ".join(parts)
    return str(row.state)


def safe_url(url: object) -> str | None:
    """`url` if it is an ``http://`` or ``https://`` address, else None (shown unlinked).

    The only links the brief and the site make come from ledger rows: anything else
    (``javascript:``, ``data:``, a relative path) is never put in an ``href``.
    """
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def _evidence_rows(spec: ModelSpec, rows: pd.DataFrame | None) -> list[EvidenceRow]:
    if rows is None:
        return []
    out = []
    for row in rows.itertuples(index=False):
        node = str(row.node)
        kind = spec.nodes[node].definition.kind
        url = safe_url(row.url)
        out.append(EvidenceRow(
            id=str(row.id), date=pd.Timestamp(row.date).date().isoformat(), node=node,
            label=spec.nodes[node].label, finding=_finding(spec, row),
            window=(f"its step, {row.step_label}" if hasattr(row, "step_label") else
                    "previous window" if kind == "event" else "as of now"),
            grade=str(row.grade), source=str(row.source), url=url,
            note="" if pd.isna(row.note) else str(row.note)))
    return out


def _row_diff(spec: ModelSpec, rows: pd.DataFrame | None,
              other: pd.DataFrame | None) -> list[EvidenceRow]:
    """Rows of `rows` that `other` lacks (empty unless both are known)."""
    if rows is None or other is None:
        return []
    extra = rows[~rows["id"].isin(set(other["id"]))]
    return _evidence_rows(spec, extra)


def _input_changes(previous: Run | None, run: Run) -> list[str]:
    if previous is None:
        return []
    a, b = previous.manifest, run.manifest
    out = []
    if a.get("as_of") != b.get("as_of"):
        out.append(f"as-of date {a.get('as_of')} → {b.get('as_of')}")
    if a.get("ledger_sha256") != b.get("ledger_sha256"):
        out.append("the ledger file changed (sha256 "
                   f"{str(a.get('ledger_sha256'))[:10]}… → {str(b.get('ledger_sha256'))[:10]}…)")
    if a.get("model_hash") != b.get("model_hash"):
        out.append("the model changed")
    if a.get("seed") != b.get("seed"):
        out.append(f"seed {a.get('seed')} → {b.get('seed')}")
    if a.get("method") != b.get("method"):
        out.append(f"method {a.get('method')} → {b.get('method')}")
    return out


def _element_name(node: str, path: tuple, element: Any) -> str:
    parent = getattr(element, "parent", None)
    if parent is not None:
        state = getattr(element, "state", None)
        state = ", ".join(state) if isinstance(state, list) else state
        return f"{parent}{f' = {state}' if state else ''} → {node}"
    when = getattr(element, "when", None)
    if when:
        return f"{node} given " + ", ".join(f"{k} = {v}" for k, v in when.items())
    return f"{node} ({path[-1]})" if len(path) > 1 else f"{node} ({path[0]})"


def _claims(spec: ModelSpec) -> list[ClaimEntry]:
    cited: dict[str, list[str]] = {cid: [] for cid in spec.claims}
    for name, node in spec.nodes.items():
        for path, element in node.elements():
            for cid in element.claims:
                cited.setdefault(cid, []).append(_element_name(name, path, element))
    return [ClaimEntry(cid, claim.quotes, tuple(claim.paragraph), claim.note,
                       tuple(dict.fromkeys(cited.get(cid, []))))
            for cid, claim in spec.claims.items()]


def _assumptions(spec: ModelSpec) -> list[Note]:
    return [Note(name, _element_name(name, path, element), " ".join(element.assumption.split()))
            for name, node in spec.nodes.items() for path, element in node.elements()
            if element.assumption and element.assumption.strip()]


def _source_line(spec: ModelSpec) -> str:
    source = spec.model.source
    if source is None:
        return ""
    parts = [f"“{source.title}”", source.publisher, source.author,
             source.date.isoformat() if source.date else None]
    return ", ".join(p for p in parts if p)


def _diagnostics(manifest: dict, diagnostics: dict) -> list[tuple[str, str]]:
    out = [("method", str(manifest.get("method"))),
           ("why this method", str(manifest.get("method_reason") or ""))]
    for key, value in diagnostics.items():
        if key == "failed":
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        out.append((key.replace("_", " "), str(value)))
    out.append(("publishable", "yes" if manifest.get("publishable") else "no"))
    return out


def _provenance(manifest: dict, previous: Run | None) -> list[tuple[str, str]]:
    versions = manifest.get("versions") or {}
    if isinstance(versions, dict):
        versions = ", ".join(f"{k} {v}" for k, v in versions.items())
    keys = [("run id", "run_id"), ("created", "created"), ("as of", "as_of"), ("seed", "seed"),
            ("model file", "model_path"), ("model file sha256", "model_sha256"),
            ("model hash", "model_hash"), ("ledger file", "ledger_path"),
            ("ledger sha256", "ledger_sha256"), ("evidence hash", "evidence_hash"),
            ("inputs hash", "inputs_hash")]
    out = [(label, str(manifest.get(key))) for label, key in keys if manifest.get(key) is not None]
    out.append(("versions", str(versions)))
    out.append(("previous run", previous.run_id if previous is not None else "none"))
    return out


