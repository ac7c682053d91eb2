"""The brief: a self-contained HTML (and PDF) report of one published run.

Compute, then render, then write::

    build_brief(model, runs_dir, run)  ->  BriefData     numbers and text only (no matplotlib)
    render_html(BriefData)             ->  str           figures drawn and embedded as PNG,
                                                         Jinja2 template, autoescaped
    save_brief(BriefData, out_dir)     ->  {format: Path}  brief.html written atomically;
                                                         brief.pdf by Chromium or WeasyPrint,
                                                         brief.png by Chromium, from that HTML
    write_brief(model, out_dir, ...)   ->  {format: Path}  all three steps

The brief has the key judgments in estimative language (:mod:`forecast.language`), what changed
since the previous run and why (the inputs that differ, the ledger rows that entered or left,
and each row's contribution from :func:`forecast.explain.attribute_runs`), the indicators worth
watching (:func:`forecast.explain.value_of_information`), the evidence that counted, and an
appendix of the model's claims with their quotes, its assumptions, the sampler's diagnostics
and the run's provenance.

The HTML is one file with no external resource: figures are ``data:`` PNGs, the style sheet
is inlined, and the only links are the evidence rows' sources. Print CSS lays it out on A4.

The PDF is printed by headless Chromium when it is installed (``chromium``,
``chromium-browser`` or ``google-chrome`` on the ``PATH``, or the binary named by
``$FORECAST_CHROMIUM``) and by WeasyPrint otherwise, so a machine with only Python and pip
gets one too. The PNG screenshot needs Chromium; asking for it without Chromium is a
:class:`~forecast.errors.ForecastError` raised *before anything is written*.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import io
import math
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from forecast import explain
from forecast.errors import ForecastError, Problem, RunStoreError, did_you_mean
from forecast.language import LIKELIHOOD_WORDS, Judgment, judgments
from forecast.priors import PROBABILITY_BANDS
from forecast.provenance import file_sha256, stable_hash

if TYPE_CHECKING:
    from forecast.result import Forecast
    from forecast.runs import Run
    from forecast.spec_schema import ModelSpec

__all__ = [
    "CONFLICT_RATIO",
    "FORMATS",
    "PDF_ENGINES",
    "BriefData",
    "Change",
    "ClaimEntry",
    "Driver",
    "EvidenceRow",
    "FigureImage",
    "Indicator",
    "Note",
    "build_brief",
    "find_chromium",
    "forecast_html",
    "render_html",
    "save_brief",
    "write_brief",
]

FORMATS = ("html", "pdf", "png")
"""What :func:`write_brief` can write: ``brief.html``, ``brief.pdf``, ``brief.png``."""

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Executables searched on the ``PATH`` (after ``$FORECAST_CHROMIUM``)."""

CHROMIUM_TIMEOUT = 120.0
"""Seconds Chromium may take to print or screenshot the brief."""

SCREEN_SIZE = (1240, 1754)
"""Window of the PNG screenshot, in CSS pixels (A4 proportions)."""

_MOVED = 0.0005  # a mean that moves less than this has not moved (as forecast update reports)
_TOP_DRIVERS = 5
_TOP_INDICATORS = 8
_TOP_CONFLICTS = 5

ATTRIBUTION_PERMUTATIONS = 40
"""Sampled orders of the changed rows when there are too many for exact Shapley values.

40 (20 antithetic pairs) instead of :func:`forecast.explain.attribute_change`'s 200: five times
faster, the largest standard error about 0.008 log-odds (measured on the flagship between
2015-08-24 and 2017-08-24, 39 changed rows), the same size as the spread from reseeding the
parameter draws, and the same top rows in the same order.
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


# ---------------------------------------------------------------------------------- building


def build_brief(model_path: str | os.PathLike[str], runs_dir: str | os.PathLike[str] = "runs",
                run: str = "latest") -> BriefData:
    """Collect what the brief of one run says.

    Parameters
    ----------
    model_path : path-like
        The model YAML the run was made from.
    runs_dir : path-like
        The run store folder (runs of the model are in ``runs_dir/<model name>/``).
    run : str
        ``"latest"`` (the published run) or a run id.

    Returns
    -------
    BriefData

    Raises
    ------
    SpecError
        If the model file is invalid.
    RunStoreError
        If there is no such run, it is damaged, or it was made from a different model.
    """
    from forecast.runs import RunStore, history
    from forecast.spec import load_spec

    spec = load_spec(model_path)
    store = RunStore(runs_dir, spec.name)
    chosen = _pick_run(store, run)
    forecast = chosen.forecast()
    if forecast.attrs.get("model_hash") != stable_hash(spec.model_dump(mode="json")):
        raise RunStoreError(f"{chosen.path}: the run is not a forecast of {model_path}", [
            Problem(str(model_path), "the model differs from the one the run was made from",
                    "pass the model file the run used, or run forecast update again")])
    manifest = chosen.manifest
    notes: list[str] = []
    previous = _previous_run(store, manifest, notes)
    rows = _run_evidence(chosen, spec, notes)
    before_rows = None if previous is None else _run_evidence(previous, spec, [])
    found = judgments(forecast, spec, rows)
    scenarios = list(spec.scenarios or spec.node_names)
    observed = _observed(forecast, spec, scenarios)
    frame, _problems = history(spec.name, runs_dir, scenarios)
    if not frame.empty:
        frame = frame[frame["run_id"] <= chosen.run_id]
    known = [r for r in (before_rows, rows) if r is not None and not r.empty]
    events = pd.concat(known).drop_duplicates("id") if known else None
    inputs = FigureInputs(spec, forecast, frame, events)
    changes = _changes(spec, found, chosen, previous, inputs, notes)
    case = _case(spec, rows)  # the findings behind the forecast, for both explanations
    conflicts = _conflicts(spec, forecast, case)
    indicators = _indicators(spec, forecast, case, found)
    if found:
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
    )


def _pick_run(store, run: str) -> Run:
    if run == "latest":
        chosen = store.latest()
        if chosen is None:
            raise RunStoreError(f"{store.dir}: no published run of {store.model_name}", [
                Problem(str(store.dir), "no valid run", "run forecast update first")])
        return chosen
    ids = [r.run_id for r in store.runs()]
    if run not in ids:
        hint = did_you_mean(run, ids) or (f"the runs are {', '.join(ids[-5:])}" if ids
                                          else "run forecast update first")
        raise RunStoreError(f"{store.dir}: no run '{run}'", [
            Problem(f"--run {run}", "no such run", hint)])
    return store.read_run(run)


def _previous_run(store, manifest: dict, notes: list[str]) -> Run | None:
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
    from forecast.evidence import load_ledger, no_rows, rows_as_of

    try:
        return run.evidence
    except RunStoreError:  # a run made before runs stored their evidence
        pass
    path, sha = run.manifest.get("ledger_path"), run.manifest.get("ledger_sha256")
    if not path:
        return no_rows()
    if not Path(path).is_file() or file_sha256(path) != sha:
        notes.append(f"The ledger {path} has changed or gone since run {run.run_id}, which did "
                     "not store its evidence: the evidence cannot be shown.")
        return None
    return rows_as_of(load_ledger(path, spec), spec, run.manifest["as_of"])


def _observed(forecast: Forecast, spec: ModelSpec, scenarios: Sequence[str]):
    shown = set(forecast.summary["node"])
    evidence = (forecast.attrs.get("evidence") or [{}])[0].get("evidence", {})
    return [(n, spec.nodes[n].label, str(evidence.get(n, "observed")))
            for n in scenarios if n not in shown]


def _interval(summary: pd.DataFrame, node: str, state: str):
    row = summary[(summary["node"] == node) & (summary["state"] == state)]
    if row.empty:
        return None, None
    r = row.iloc[0]
    return float(r["mean"]), (float(r["hdi_5%"]), float(r["hdi_95%"]))


def _changes(spec: ModelSpec, found: list[Judgment], run: Run, previous: Run | None,
             inputs: FigureInputs, notes: list[str]) -> list[Change]:
    if previous is None:
        return []
    before_summary, after_summary = previous.summary, run.summary
    out = []
    for j in found:
        before, before_iv = _interval(before_summary, j.node, j.state)
        after, after_iv = _interval(after_summary, j.node, j.state)
        status = ("new" if before is None else
                  "moved" if abs(after - before) >= _MOVED else "unchanged")
        drivers: tuple[Driver, ...] = ()
        if status == "moved":
            attribution = explain.attribute_runs(spec, previous, run, j.node, j.state,
                                                 permutations=ATTRIBUTION_PERMUTATIONS)
            inputs.attributions[(j.node, j.state)] = attribution
            drivers = _drivers(attribution.table)
        out.append(Change(j.node, j.state, j.label, before, before_iv, after, after_iv, status,
                          drivers))
    return out


def _drivers(table: pd.DataFrame) -> tuple[Driver, ...]:
    top = table.reindex(table["contribution"].abs().sort_values(ascending=False).index)
    return tuple(Driver(str(r.row_id), str(r.node), str(r.label), str(r.change),
                        float(r.contribution), float(r.se))
                 for r in top.head(_TOP_DRIVERS).itertuples(index=False))


def _case(spec: ModelSpec, rows: pd.DataFrame | None):
    """The run's findings as a Case; None when its evidence cannot be shown."""
    from forecast.bayes import Case
    from forecast.evidence import case_from_rows

    if rows is None:
        return None
    return Case() if rows.empty else case_from_rows(rows, spec)


def _indicators(spec: ModelSpec, forecast: Forecast, case,
                found: list[Judgment]) -> list[Indicator]:
    if not found or case is None:
        return []
    head = found[0]
    table = explain.value_of_information(spec, case, head.node, head.state,
                                         forecast=forecast)
    table = table.sort_values("mutual_info", ascending=False).head(_TOP_INDICATORS)
    return [Indicator(str(r.node), spec.nodes[str(r.node)].label,
                      str(r.most_informative_state), float(r.mutual_info),
                      float(r.expected_shift), spec.nodes[str(r.node)].definition.record or "")
            for r in table.itertuples(index=False) if str(r.node) in spec.nodes]


def _conflicts(spec: ModelSpec, forecast: Forecast, case) -> list[str]:
    """The pairs of findings most at odds (at most :data:`_TOP_CONFLICTS`).

    A pair counts when it is at least :data:`CONFLICT_RATIO` times less probable together
    than apart under the model.
    """
    if case is None or case.empty:
        return []
    table = explain.evidence_conflict(spec, case, forecast=forecast,
                                      threshold=math.log(CONFLICT_RATIO))
    pairs = table[(table["size"] == 2) & table["flagged"].astype(bool)]
    return [f"{r.findings} ({float(r.ratio):.1f} times less probable together)"
            for r in pairs.head(_TOP_CONFLICTS).itertuples(index=False)]


def _sensitivity(spec: ModelSpec, forecast: Forecast, head: Judgment) -> pd.DataFrame:
    return explain.parameter_sensitivity(forecast, head.node, head.state, spec=spec)


def _finding(spec: ModelSpec, row) -> str:
    likelihood = row.likelihood
    if isinstance(likelihood, tuple):
        parts = [f"{s} {float(x):g}" for s, x in zip(spec.states[str(row.node)], likelihood,
                                                     strict=False)]
        return "soft: " + " · ".join(parts)
    return str(row.state)


def _evidence_rows(spec: ModelSpec, rows: pd.DataFrame | None) -> list[EvidenceRow]:
    if rows is None:
        return []
    out = []
    for row in rows.itertuples(index=False):
        node = str(row.node)
        kind = spec.nodes[node].definition.kind
        url = str(row.url) if str(row.url).startswith(("http://", "https://")) else None
        out.append(EvidenceRow(
            id=str(row.id), date=pd.Timestamp(row.date).date().isoformat(), node=node,
            label=spec.nodes[node].label, finding=_finding(spec, row),
            window="previous window" if kind == "event" else "as of now",
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


# ---------------------------------------------------------------------------------- rendering


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("forecast", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["signed"] = lambda x: f"{100 * x:+.1f} pts"
    env.filters["logodds"] = lambda x: f"{x:+.2f} log-odds"
    env.globals["bands"] = _band_stops()
    return env


def _pct(p: float | None) -> str:
    if p is None:
        return "—"
    return "<1%" if p < 0.005 else ">99%" if p > 0.995 else f"{100 * p:.0f}%"


def _band_stops() -> list[dict[str, Any]]:
    """The ICD 203 bands laid end to end over [0, 1], with their fill colours."""
    from forecast.plot_style import ICD_BAND_COLOURS

    edges = [0.0, *(PROBABILITY_BANDS[w][0] for w in LIKELIHOOD_WORDS[1:]), 1.0]
    return [{"word": w, "start": edges[i], "end": edges[i + 1], "colour": ICD_BAND_COLOURS[w]}
            for i, w in enumerate(LIKELIHOOD_WORDS)]


def _png_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def make_figures(data: BriefData) -> list[FigureImage]:
    """Draw the brief's figures (:mod:`forecast.plots`) and encode them as PNG data URIs.

    Returns
    -------
    list of FigureImage
    """
    from forecast import plots  # matplotlib is imported when figures are drawn, not before

    inputs = data.inputs
    head = data.judgments[0] if data.judgments else None
    plans: list[tuple[str, str, str, Callable[[], Any]]] = [
        ("judgments", "Scenario probabilities",
         "Posterior mean and 90% interval of each scenario, over the ICD 203 bands.",
         lambda: plots.plot_scenarios(inputs.forecast, [j.node for j in data.judgments])),
    ]
    if head is not None and inputs.history["run_id"].nunique() > 1:
        plans.append(("changes", f"{head.label}: over the runs",
                      "Mean and 90% interval at each run's as-of date.",
                      lambda: plots.plot_trajectory(inputs.history, head.node, head.state,
                                                    events=inputs.events)))
    if head is not None and (head.node, head.state) in inputs.attributions:
        attribution = inputs.attributions[(head.node, head.state)]
        plans.append(("changes", f"{head.label}: what moved it",
                      "Each ledger row's contribution to the change since the previous run.",
                      lambda: plots.plot_waterfall(attribution.table, attribution.before,
                                                   attribution.after)))
    plans.append(("network", "The model",
                  "Nodes coloured by their probability now; edges by the sign of their effect.",
                  lambda: plots.plot_network(inputs.spec, inputs.forecast)))
    if head is not None and inputs.sensitivity is not None:
        sensitivity = inputs.sensitivity
        plans.append(("sensitivity", f"{head.label}: sensitivity",
                      "How far the headline probability swings across each parameter's range.",
                      lambda: plots.plot_tornado(sensitivity, sensitivity.attrs.get("base"))))
    plans.append(("diagnostics", "Sampler diagnostics", "Weights or chains of the sampler.",
                  lambda: plots.plot_diagnostics(inputs.forecast)))
    figures = []
    for section, title, caption, draw in plans:
        figure = draw()
        figures.append(FigureImage(section, title, caption, _png_uri(figure)))
    return figures


def render_html(data: BriefData, figures: Sequence[FigureImage] | None = None) -> str:
    """The brief as one self-contained HTML page.

    Parameters
    ----------
    data : BriefData
        From :func:`build_brief`.
    figures : sequence of FigureImage, optional
        Already drawn figures; by default :func:`make_figures` draws them.

    Returns
    -------
    str
        HTML5 with the style sheet inline and figures as ``data:`` URIs; every text from the
        model and ledger is escaped.
    """
    notes = list(data.notes)
    if figures is None:
        figures = make_figures(data)
    by_section: dict[str, list[FigureImage]] = {}
    for figure in figures:
        by_section.setdefault(figure.section, []).append(figure)
    template = _environment().get_template("brief.html.j2")
    return template.render(
        d=data, figures=by_section, notes=notes,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=importlib.metadata.version("forecast"))


def forecast_html(forecast: Forecast) -> str:
    """A forecast's summary as an HTML table with interval bars (its Jupyter display)."""
    attrs = forecast.attrs
    template = _environment().get_template("forecast.html.j2")
    return template.render(
        rows=forecast.summary.to_dict("records"), name=attrs.get("model_name"),
        as_of=attrs.get("as_of"), method=attrs.get("method"),
        publishable=forecast.publishable,
        failed=(attrs.get("diagnostics") or {}).get("failed", []))


# ---------------------------------------------------------------------------------- writing


def find_chromium() -> str | None:
    """The Chromium executable, or None if there is none.

    ``$FORECAST_CHROMIUM`` if set, else the first of :data:`CHROMIUM_NAMES` on the ``PATH``.
    """
    named = os.environ.get("FORECAST_CHROMIUM")
    if named:
        return shutil.which(named)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(binary: str, profile: str | os.PathLike[str]) -> list[str]:
    """Chromium's headless command line, before the output flag and URL.

    The flags keep it off the network (no background downloads, updates or sync: on a closed
    network their refused connections would stall it) and inside a throw-away profile.
    """
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={profile}"]


def run_chromium(binary: str, flags: Sequence[str], url: str, output: Path,
                 timeout: float = CHROMIUM_TIMEOUT) -> Path:
    """Run headless Chromium once (its own process group, killed on timeout).

    Raises
    ------
    RuntimeError
        If it fails, times out or writes nothing to `output`.
    """
    with tempfile.TemporaryDirectory(prefix="forecast-chromium-") as profile:
        command = [*chromium_command(binary, profile), *flags, url]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        try:
            _out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeError(f"Chromium took more than {timeout:g} s on {url}") from None
    if process.returncode != 0 or not output.is_file() or output.stat().st_size == 0:
        tail = "\n".join(err.decode(errors="replace").strip().splitlines()[-5:])
        raise RuntimeError(f"Chromium failed (exit {process.returncode}) writing {output}: "
                           f"{tail}")
    return output


def _atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600: give the file the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


PDF_ENGINES = ("auto", "chromium", "weasyprint")
"""What prints the PDF: ``auto`` is Chromium when installed, WeasyPrint otherwise."""


def _weasyprint_pdf(page: Path, output: Path) -> Path:
    """Print `page` to `output` with WeasyPrint (pure Python over Pango: no browser needed)."""
    import logging

    import weasyprint

    # WeasyPrint logs every CSS property it does not support at WARNING; the brief's screen
    # styles (shadows, transitions) have print fallbacks, so those messages are noise.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    weasyprint.HTML(filename=str(page), base_url=str(page.parent)).write_pdf(str(output))
    return output


def _check_output(formats: Sequence[str], pdf_engine: str,
                  out_dir: str | os.PathLike[str]) -> tuple[list[str], str | None, bool]:
    """The formats wanted, the Chromium binary and whether it prints the PDF; or raise.

    Also checks that `out_dir` is, or can be made, a writable folder (without making it).
    """
    wanted = list(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    problems = [Problem(f"format '{f}'", "unknown format",
                        did_you_mean(f, FORMATS) or f"choose from {', '.join(FORMATS)}")
                for f in wanted if f not in FORMATS]
    out = Path(out_dir).absolute()
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        problems.append(Problem(f"--out {out_dir}", f"{existing} is a file, not a folder",
                                "give a folder for brief.html and brief.pdf"))
    elif not os.access(existing, os.W_OK | os.X_OK):
        problems.append(Problem(f"--out {out_dir}", f"{existing} is not writable",
                                "give a folder you can write to"))
    if not wanted:
        problems.append(Problem("format", "no format given", "e.g. html,pdf"))
    if pdf_engine not in PDF_ENGINES:
        problems.append(Problem("pdf engine", f"unknown engine '{pdf_engine}'",
                                f"choose from {', '.join(PDF_ENGINES)}"))
    if problems:
        raise ForecastError("cannot write the brief", problems)
    binary = find_chromium()
    needs_chromium = [f for f in wanted if f == "png" or (f == "pdf" and pdf_engine == "chromium")]
    if binary is None and needs_chromium:
        raise ForecastError(f"cannot write the brief as {' and '.join(needs_chromium).upper()}: "
                            "Chromium is not installed", [
            Problem("chromium", "none of " + ", ".join(CHROMIUM_NAMES) + " is on the PATH "
                    "(nor $FORECAST_CHROMIUM)",
                    "install it (Debian/Ubuntu: apt-get install chromium), or ask for "
                    "--format html,pdf with --pdf-engine weasyprint")])
    return wanted, binary, pdf_engine == "chromium" or (pdf_engine == "auto" and bool(binary))


def write_brief(model_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                runs_dir: str | os.PathLike[str] = "runs", run: str = "latest",
                formats: Sequence[str] = ("html", "pdf"),
                pdf_engine: str = "auto") -> dict[str, Path]:
    """Build the brief of a run and write it as ``brief.html``, ``brief.pdf``, ``brief.png``.

    :func:`build_brief`, then :func:`save_brief`; the formats are checked first, so a bad
    request fails before the work.

    Parameters
    ----------
    model_path : path-like
        The model YAML.
    out_dir : path-like
        Folder for the files (created if missing).
    runs_dir : path-like
        The run store folder.
    run : str
        ``"latest"`` or a run id.
    formats : sequence of str
        Any of :data:`FORMATS`.
    pdf_engine : {"auto", "chromium", "weasyprint"}
        What prints the PDF (:data:`PDF_ENGINES`).

    Returns
    -------
    dict of str to Path
        The file written for each format.

    Raises
    ------
    ForecastError
        As :func:`save_brief`, before anything is built or written.
    SpecError, RunStoreError
        As :func:`build_brief`.
    RuntimeError
        If Chromium fails or times out.
    """
    _check_output(formats, pdf_engine, out_dir)
    return save_brief(build_brief(model_path, runs_dir, run), out_dir, formats=formats,
                      pdf_engine=pdf_engine)


def save_brief(data: BriefData, out_dir: str | os.PathLike[str], *,
               formats: Sequence[str] = ("html", "pdf"),
               pdf_engine: str = "auto") -> dict[str, Path]:
    """Render a built brief and write it as ``brief.html``, ``brief.pdf``, ``brief.png``.

    Every file is written to a temporary name in `out_dir` and renamed into place, so a
    reader never sees half a brief, and nothing is written if the request is bad. The PDF is
    the page printed on A4 from its print style sheet; the PNG is a screenshot of the top of
    the page (:data:`SCREEN_SIZE`) by headless Chromium.

    Parameters
    ----------
    data : BriefData
        From :func:`build_brief`.
    out_dir : path-like
        Folder for the files (created if missing).
    formats : sequence of str
        Any of :data:`FORMATS`.
    pdf_engine : {"auto", "chromium", "weasyprint"}
        What prints the PDF (:data:`PDF_ENGINES`).

    Returns
    -------
    dict of str to Path
        The file written for each format.

    Raises
    ------
    ForecastError
        An unknown format or engine, an output folder that cannot be written, or Chromium
        needed (PNG, or ``pdf_engine="chromium"``) but not installed: raised before anything
        is written.
    RuntimeError
        If Chromium fails or times out (the HTML is already written then).
    """
    wanted, binary, use_chromium_pdf = _check_output(formats, pdf_engine, out_dir)
    html = render_html(data)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ForecastError("cannot write the brief", [
            Problem(f"--out {out_dir}", f"cannot make the folder ({err.strerror})",
                    "give a folder you can write to")]) from None
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix=".brief-", dir=out) as work:
        page = Path(work) / "brief.html"
        page.write_text(html, encoding="utf-8")
        if "html" in wanted:
            written["html"] = _atomic_write(out / "brief.html",
                                            lambda p: shutil.copyfile(page, p))
        url = page.resolve().as_uri()
        if "pdf" in wanted:
            target = Path(work) / "brief.pdf"
            if use_chromium_pdf:
                run_chromium(binary, ["--no-pdf-header-footer", f"--print-to-pdf={target}"],
                             url, target)
            else:
                _weasyprint_pdf(page, target)
            written["pdf"] = _atomic_write(out / "brief.pdf",
                                           lambda p: shutil.copyfile(target, p))
        if "png" in wanted:
            width, height = SCREEN_SIZE
            png = run_chromium(binary, [f"--window-size={width},{height}",
                                        f"--screenshot={Path(work) / 'brief.png'}"],
                               url, Path(work) / "brief.png")
            written["png"] = _atomic_write(out / "brief.png", lambda p: shutil.copyfile(png, p))
    return {f: written[f] for f in wanted}
