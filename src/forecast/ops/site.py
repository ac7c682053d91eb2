"""The dashboard's content: every model of a run store folder, gathered, not drawn.

:func:`gather_site` reads a runs folder (``runs/<model>/`` per model, each a
:class:`~forecast.ops.store.RunStore`) and collects, for each model, what the static site of
:mod:`forecast.report.site` shows: the headline scenarios of its latest run with their values,
90% intervals and ICD 203 words, their trajectory over the runs (in as-of order, as
:meth:`RunStore.runs <forecast.ops.store.RunStore.runs>` lists them), the table of runs, the
ledger rows each run added to the evidence, the latest run's freshness and diagnostics, and
the damaged runs skipped. Everything is plain values (and the history table the trajectory
figures are drawn from); nothing here imports matplotlib or templates, and nothing is written.

A folder of the runs folder counts as a model's store when its name is a model name
(``[a-z0-9_]+``, as ``model.name``) and it holds a ``LATEST``, a ``.lock`` or a run folder;
others (an output folder, notes) are left alone, symbolic links are reported and not
followed, and damage inside a store is reported as the store reports it, never raised.

:func:`site_brief` builds the brief of one run for the site, from the model file the run
recorded, after checking that the file is still there and is still the model of the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecast.errors import ForecastError, Problem, RunStoreError, SpecError
from forecast.model.load import load_spec
from forecast.model.schema import _MODEL_NAME
from forecast.model.words import likelihood_word
from forecast.ops.brief import _freshness, _shown, build_brief, safe_url
from forecast.ops.store import LATEST, Run, RunStore, as_of_order, is_run_id
from forecast.ops.update import history_frame

if TYPE_CHECKING:
    from forecast.ops.brief import BriefData

__all__ = [
    "BRIEFS",
    "EvidenceEntry",
    "EvidenceStep",
    "Headline",
    "ModelSite",
    "RunRow",
    "SiteData",
    "Value",
    "gather_site",
    "is_store",
    "site_brief",
]

BRIEFS = ("latest", "all", "none")
"""Which runs' briefs a site has: each model's latest run's, every run's, or none."""


# ---------------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Value:
    """One run's probability of a headline scenario: mean and 90% interval."""

    run_id: str
    as_of: str
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Headline:
    """A headline scenario of a model: its latest value and its trajectory over the runs.

    Attributes
    ----------
    node : str
        The scenario node (a name of the latest run's manifest ``scenarios``).
    state : str or None
        The state judged, as a brief's key judgment chooses it (``yes``, else the last state
        of a binary node; the most probable state of a node with more); None if no run
        forecasts the node (the evidence observes it in every run).
    mean, low, high : float or None
        The latest run's probability and 90% interval; None if it observes the node.
    word : str or None
        The ICD 203 word of `mean`.
    trajectory : tuple of Value
        The value at every run that forecasts it, in as-of order.
    """

    node: str
    state: str | None
    mean: float | None
    low: float | None
    high: float | None
    word: str | None
    trajectory: tuple[Value, ...]


@dataclass(frozen=True)
class RunRow:
    """One valid run of a model, as the table of runs lists it.

    Attributes
    ----------
    run_id, as_of, created, method : str
        From its manifest.
    publishable : bool
        Whether it passed its diagnostics.
    latest : bool
        Whether it is the published run (``LATEST``, or the newest valid run when that is
        damaged).
    backfill : bool
        Whether it was made after a run of a later as-of date (a backfill).
    values : tuple of (float or None)
        The mean of each headline (in :attr:`ModelSite.headlines` order); None where the run
        does not forecast it.
    failed : tuple of str
        The diagnostics it failed.
    """

    run_id: str
    as_of: str
    created: str
    method: str
    publishable: bool
    latest: bool
    backfill: bool
    values: tuple[float | None, ...]
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvidenceEntry:
    """A ledger row, as stored with the run that first used it.

    `url` is the source's address only when it is ``http(s)``
    (:func:`forecast.ops.brief.safe_url`), else None: the source is then shown unlinked.
    """

    id: str
    date: str
    node: str
    finding: str
    grade: str
    source: str
    url: str | None
    note: str


@dataclass(frozen=True)
class EvidenceStep:
    """The ledger rows a run used that no run before it (in as-of order) used."""

    run_id: str
    as_of: str
    rows: tuple[EvidenceEntry, ...]


@dataclass
class ModelSite:
    """Everything the site says about one model's runs.

    Attributes
    ----------
    name : str
        The model's name (its folder in the runs folder).
    headlines : list of Headline
        The headline scenarios of the latest run (its manifest's ``scenarios``, else the nodes
        of its summary).
    runs : list of RunRow
        Every valid run, in as-of order (oldest first).
    latest : RunRow or None
        The published run; None when the store has no valid run.
    evidence : list of EvidenceStep
        For each run (in as-of order) the ledger rows that appear in its stored evidence for
        the first time; non-occurrence and silence rows of the dynamic model are not listed.
    newest_evidence : str or None
        The latest run's newest evidence date (:func:`forecast.ops.brief._freshness`).
    evidence_age : int or None
        Days from it to the latest run's as-of date.
    stale : bool
        Whether that is more than the run's freshness gap.
    model_path : str or None
        The model file the latest run was made from, as given to its update.
    problems : list of str
        The damaged runs and ``LATEST`` skipped, as the store reports them.
    notes : list of str
        What the page cannot show, and why (runs without stored evidence).
    history : pandas.DataFrame
        The headlines' :func:`~forecast.ops.update.history` table, for the trajectory figures.
    events : pandas.DataFrame or None
        The ledger rows of every run (date, id, node, state), marked on those figures.
    brief_runs : list of Run
        The runs whose brief the site should have (:data:`BRIEFS`).
    """

    name: str
    headlines: list[Headline] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)
    latest: RunRow | None = None
    evidence: list[EvidenceStep] = field(default_factory=list)
    newest_evidence: str | None = None
    evidence_age: int | None = None
    stale: bool = False
    model_path: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    history: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    events: pd.DataFrame | None = field(default=None, repr=False)
    brief_runs: list[Run] = field(default_factory=list, repr=False)


@dataclass
class SiteData:
    """What :func:`gather_site` found: one :class:`ModelSite` per model, and what it skipped.

    Attributes
    ----------
    runs_dir : str
        The runs folder read.
    models : list of ModelSite
        One per model store, by name.
    problems : list of str
        Folders of the runs folder that were not read (symbolic links, unreadable).
    """

    runs_dir: str
    models: list[ModelSite]
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------- gathering


def gather_site(runs_dir: str | os.PathLike[str], *, briefs: str = "latest",
                skip: Sequence[str | os.PathLike[str]] = ()) -> SiteData:
    """Read every model's runs in `runs_dir` for the site.

    Parameters
    ----------
    runs_dir : path-like
        The runs folder (``forecast update --runs``): one store per model, ``<model>/``.
    briefs : {"latest", "all", "none"}
        Which runs go in each model's :attr:`ModelSite.brief_runs`.
    skip : sequence of path-like
        Folders not to read as stores (the site's own folder, when it is inside `runs_dir`).

    Returns
    -------
    SiteData

    Raises
    ------
    ForecastError
        If `runs_dir` is not a folder that can be listed, or `briefs` is not one of
        :data:`BRIEFS`. Damage inside a store is reported in the result, never raised.
    """
    root = Path(runs_dir)
    _check_briefs(briefs)
    where = str(root)
    if not root.exists():
        raise ForecastError(f"{root}: no such runs folder", [Problem(
            "does not exist", file=where, hint="give the folder of forecast update --runs")])
    if not root.is_dir():
        raise ForecastError(f"{root}: not a runs folder", [Problem(
            "is a file, not a folder", file=where,
            hint="give the folder of forecast update --runs")])
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise ForecastError(f"{root}: the runs folder cannot be read", [Problem(
            f"cannot be listed ({exc.strerror})", file=where,
            hint="give a folder this user can read")]) from None
    skipped = {_resolved(p) for p in skip}
    data = SiteData(where, [])
    for entry in entries:
        name = entry.name
        if name.startswith(".") or _MODEL_NAME.fullmatch(name) is None:
            continue
        if _resolved(entry.path) in skipped:
            continue
        if entry.is_symlink():
            data.problems.append(str(Problem("is a symbolic link, not a model's run store "
                                             "(not followed)", file=entry.path)))
            continue
        if not entry.is_dir(follow_symlinks=False) or not is_store(Path(entry.path)):
            continue
        try:
            data.models.append(_model_site(root, name, briefs))
        except RunStoreError as err:  # the store's own reading never raises; this is a guard
            data.problems.extend(str(p) for p in err.problems or [Problem(err.summary)])
    return data


def _check_briefs(briefs: str) -> None:
    if briefs not in BRIEFS:
        raise ForecastError(f"unknown briefs choice '{briefs}'", [Problem(
            "not a choice", field="--briefs", hint=f"choose from {', '.join(BRIEFS)}")])


def _resolved(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def is_store(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` looks like a model's run store.

    It does if it holds ``LATEST``, ``.lock``, ``.checkpoints`` or a run folder; a folder that
    cannot be listed does too (:meth:`RunStore.scan` then reports why).
    """
    try:
        with os.scandir(folder) as entries:
            return any(e.name in (LATEST, ".lock", ".checkpoints") or is_run_id(e.name)
                       for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True  # RunStore.scan says why it cannot be read


def _model_site(root: Path, name: str, briefs: str) -> ModelSite:
    store = RunStore(root, name)
    scan = store.scan()  # valid runs in as-of order, damaged ones as problems: never raises
    site = ModelSite(name, problems=[str(p) for p in scan.problems])
    runs = list(scan.runs)
    if not runs:
        return site
    latest = _latest(store, runs)
    manifest = latest.manifest
    scenarios = _scenarios(latest)
    frame = history_frame(runs, nodes=scenarios)
    site.history = frame
    site.headlines = [_headline(frame, node, latest) for node in scenarios]
    backfills = _backfills(runs)
    means = [{v.run_id: v.mean for v in h.trajectory} for h in site.headlines]
    site.runs = [_run_row(run, run.run_id == latest.run_id, run.run_id in backfills,
                          tuple(m.get(run.run_id) for m in means)) for run in runs]
    site.latest = next(r for r in site.runs if r.latest)
    site.model_path = manifest.get("model_path") if isinstance(
        manifest.get("model_path"), str) else None
    shown: dict[str, pd.DataFrame | None] = {}
    for run in runs:
        try:
            shown[run.run_id] = _shown(run.evidence, None)
        except RunStoreError:
            shown[run.run_id] = None
            site.notes.append(f"Run {run.run_id} (as of {run.manifest['as_of']}) did not store "
                              "its evidence: the rows it added cannot be listed, and the "
                              "next run's may include rows used before.")
    site.evidence = _evidence_steps(runs, shown, latest)
    known = [rows for rows in shown.values() if rows is not None and not rows.empty]
    site.events = (pd.concat(known).drop_duplicates("id")[["date", "id", "node", "state"]]
                   .reset_index(drop=True) if known else None)
    fresh = _freshness(manifest, shown.get(latest.run_id))
    site.newest_evidence = fresh.get("newest_evidence")
    site.evidence_age = fresh.get("evidence_age")
    site.stale = bool(fresh.get("stale", False))
    site.brief_runs = ([latest] if briefs == "latest" else list(runs) if briefs == "all"
                       else [])
    return site


def _latest(store: RunStore, runs: list[Run]) -> Run:
    """The published run (:meth:`RunStore.latest`), taken from `runs` when listed there."""
    chosen = store.latest()
    by_id = {r.run_id: r for r in runs}
    if chosen is None:  # every run was damaged since the scan: the newest read then
        return runs[-1]
    if chosen.run_id not in by_id:  # published since the scan
        runs.append(chosen)
        runs.sort(key=as_of_order)
        return chosen
    return by_id[chosen.run_id]


def _scenarios(run: Run) -> list[str]:
    named = run.manifest.get("scenarios")
    if isinstance(named, list) and named and all(isinstance(n, str) for n in named):
        return list(dict.fromkeys(named))
    return list(dict.fromkeys(str(n) for n in run.summary["node"]))


def _headline_state(states: list[str], means: dict[str, float]) -> str:
    """The state a key judgment is about, from the states a summary lists.

    As :func:`forecast.analysis.language.headline_state` chooses it, without the model file
    (which may be gone or changed since the run).
    """
    if len(states) == 2:
        return "yes" if "yes" in states else states[-1]
    return max(states, key=lambda s: means.get(s, float("-inf")))


def _headline(frame: pd.DataFrame, node: str, latest: Run) -> Headline:
    rows = frame[frame["node"] == node]
    if rows.empty:
        return Headline(node, None, None, None, None, None, ())
    # the state of the newest run that forecasts the node (the latest, unless it observes it)
    last = rows[rows["run_id"] == rows["run_id"].iloc[-1]]
    states = [str(s) for s in last["state"]]
    state = _headline_state(states, dict(zip(states, last["mean"].astype(float), strict=True)))
    mine = rows[rows["state"] == state]
    trajectory = tuple(Value(str(r.run_id), str(r.as_of), float(r.mean), float(r.low),
                             float(r.high))
                       for r in mine.rename(columns={"hdi_5%": "low", "hdi_95%": "high"})
                       .itertuples(index=False))
    now = [v for v in trajectory if v.run_id == latest.run_id]
    if not now:
        return Headline(node, state, None, None, None, None, trajectory)
    v = now[0]
    return Headline(node, state, v.mean, v.low, v.high, likelihood_word(v.mean), trajectory)


def _backfills(runs: list[Run]) -> set[str]:
    """Runs (in as-of order) made after a run of a later as-of date: run ids sort by creation."""
    out, first_made_later = set(), None
    for run in reversed(runs):
        if first_made_later is not None and run.run_id > first_made_later:
            out.add(run.run_id)
        if first_made_later is None or run.run_id < first_made_later:
            first_made_later = run.run_id
    return out


def _run_row(run: Run, latest: bool, backfill: bool,
             values: tuple[float | None, ...]) -> RunRow:
    m = run.manifest
    diagnostics = m.get("diagnostics") or {}
    return RunRow(run.run_id, str(m["as_of"]), str(m["created"]), str(m["method"]),
                  bool(m["publishable"]), latest, backfill, values,
                  tuple(str(x) for x in diagnostics.get("failed", [])))


def _evidence_steps(runs: list[Run], shown: dict[str, pd.DataFrame | None],
                    latest: Run) -> list[EvidenceStep]:
    states = {str(n): [str(s) for s in g["state"]]
              for n, g in latest.summary.groupby("node", sort=False)}
    seen: set[str] = set()
    steps = []
    for run in runs:
        rows = shown[run.run_id]
        if rows is None:
            continue
        new = rows[~rows["id"].isin(seen)]
        seen.update(str(i) for i in rows["id"])
        if "date" in new.columns and len(new):
            new = new.sort_values(["date", "id"], kind="stable")
        steps.append(EvidenceStep(run.run_id, str(run.manifest["as_of"]), tuple(
            _entry(row, states) for row in new.itertuples(index=False))))
    return steps


def _text(value: object) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _entry(row: Any, states: dict[str, list[str]]) -> EvidenceEntry:  # a row of itertuples()
    node = str(row.node)
    state = _text(row.state)
    likelihood = getattr(row, "likelihood", None)
    count = getattr(row, "count", None)
    if not state and count is not None and not pd.isna(count):
        state = f"count: {int(count)}"
    elif not state and isinstance(likelihood, tuple):
        names = states.get(node, [])
        values = [f"{float(x):g}" for x in likelihood]
        parts = ([f"{s} {x}" for s, x in zip(names, values, strict=True)]
                 if len(names) == len(values) else values)
        state = "soft: " + " · ".join(parts)
    return EvidenceEntry(id=_text(row.id), date=pd.Timestamp(row.date).date().isoformat(),
                         node=node, finding=state, grade=_text(row.grade),
                         source=_text(row.source), url=safe_url(row.url),
                         note=_text(getattr(row, "note", None)))


# ---------------------------------------------------------------------------------- briefs


def _model_file(run: Run) -> Path:
    """The model file `run` was made from, checked to be still that model.

    Raises
    ------
    ForecastError
        If the run recorded no model file, the file is missing or no longer valid, or its
        model is not the run's (another name, or a fingerprint that differs).
    """
    m = run.manifest
    named = m.get("model_file") if isinstance(m.get("model_file"), str) else m.get("model_path")
    if not isinstance(named, str) or not named:
        raise ForecastError(f"run {run.run_id} records no model file", [Problem(
            "the manifest has neither model_file nor model_path", file=str(run.path))])
    path = Path(named)
    if not path.is_file():
        raise ForecastError(f"the model file {path} is missing", [Problem(
            "no such file", file=str(path), hint="restore the model file the run was made from")])
    try:
        spec = load_spec(path)
    except SpecError as err:
        raise ForecastError(f"the model file {path} is no longer valid", err.problems) from None
    if spec.name != m.get("model_name") or (
            m.get("model_hash") is not None and spec.fingerprint != m.get("model_hash")):
        raise ForecastError(f"the model file {path} has changed since the run", [Problem(
            "its fingerprint differs from the run's", file=str(path),
            hint="a brief needs the model the run was made from")])
    return path


def site_brief(run: Run, runs_dir: str | os.PathLike[str]) -> BriefData:
    """Build the brief of `run` (:func:`~forecast.ops.brief.build_brief`) for the site.

    Parameters
    ----------
    run : Run
        A valid run of the store ``runs_dir/<model>/``.
    runs_dir : path-like
        The runs folder.

    Returns
    -------
    BriefData

    Raises
    ------
    ForecastError
        If the model file the run recorded (``model_file``, else ``model_path``) is missing,
        invalid or no longer the run's model; or as :func:`build_brief`.
    """
    return build_brief(_model_file(run), runs_dir, run=run.run_id)
