"""The dashboard of a runs folder: a static HTML site, gathered, drawn, written.

The content is gathered by :mod:`forecast.ops.site`; this module draws and writes it::

    gather_site(runs_dir)          ->  SiteData      plain values per model (no HTML)
    render_index(SiteData, ...)    ->  str           index.html: one row per model
    render_model(ModelSite, ...)   ->  str           <model>/index.html: trajectories, runs,
                                                     the evidence added over time
    write_site(runs_dir, out_dir)  ->  SiteWritten   briefs, model pages, then the index

Pages are HTML5 with the style sheet inline and no script at all: sparklines are inline SVG
drawn here from the numbers, the trajectory figures PNG ``data:`` URIs (as in the brief), and
every text read from a file is escaped by the Jinja2 environment
(:func:`forecast.inference.html.environment`). The only links are between the site's pages,
to the briefs in it, and to ``http(s)`` sources of ledger rows.

**Writing.** Each file is written atomically (:func:`forecast._io.atomic_write`: a temporary
file in the same folder, then a rename), leaves first: the briefs, then each model's page,
then ``index.html`` last. A reader therefore never sees half a page, and every link of a page
a reader can open already resolves. The site is not swapped as a whole folder: the folder a
web server serves stays the same folder (no symbolic link to follow, nothing to copy), and
the briefs already in it, which never change (runs are immutable), are kept and reused, which
keeps a daily regeneration cheap. Between two pages a reader may see one regeneration's index
and the previous one's model page, each complete and true as of when it was written. Files and
folders get the modes ``open`` and ``mkdir`` give (the process umask), as the run store's do.
Pages of models no longer in the runs folder are left in place, unlinked.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from markupsafe import Markup, escape

from forecast._io import atomic_write
from forecast.errors import ForecastError, Problem
from forecast.inference.html import environment, pct
from forecast.ops.brief import FigureImage
from forecast.ops.site import (
    ModelSite,
    SiteData,
    Value,
    gather_site,
    is_store,
    site_brief,
)
from forecast.report.brief.html import _png_uri
from forecast.report.brief.printing import save_brief

__all__ = ["SiteWritten", "render_index", "render_model", "sparkline", "trajectory_figures",
           "write_site"]

log = logging.getLogger(__name__)

INDEX = "index.html"
"""The site's front page, and each model's page in its folder."""
BRIEF = "brief.html"
"""A run's brief: ``<model>/<run-id>/brief.html``."""


@dataclass
class SiteWritten:
    """What :func:`write_site` did.

    Attributes
    ----------
    index : pathlib.Path
        The front page.
    pages : list of pathlib.Path
        Each model's page.
    briefs_written, briefs_reused : list of pathlib.Path
        Briefs built now; briefs already in the site, kept as they were.
    problems : list of str
        Damaged runs and folders skipped (also on the pages).
    notes : list of str
        Briefs that could not be built, and why (also on the model's page).
    """

    index: Path
    pages: list[Path] = field(default_factory=list)
    briefs_written: list[Path] = field(default_factory=list)
    briefs_reused: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------- drawing


def sparkline(values: Sequence[Value], *, width: int = 132, height: int = 30) -> Markup:
    """A tiny inline SVG of a scenario over the runs: the 90% band and the mean, 0–100%.

    One point per run, evenly spaced in as-of order; the last point is marked. Drawn from the
    numbers alone (no matplotlib, no script); empty for no values.

    Parameters
    ----------
    values : sequence of Value
        A headline's trajectory (:attr:`forecast.ops.site.Headline.trajectory`).
    width, height : int
        Size in CSS pixels.

    Returns
    -------
    markupsafe.Markup
        The ``<svg>`` element.
    """
    if not values:
        return Markup("")
    pad = 3.0
    n = len(values)

    def x(i: int) -> float:
        return width / 2 if n == 1 else pad + (width - 2 * pad) * i / (n - 1)

    def y(p: float) -> float:
        return pad + (height - 2 * pad) * (1.0 - min(max(p, 0.0), 1.0))

    upper = [(x(i), y(v.high)) for i, v in enumerate(values)]
    lower = [(x(i), y(v.low)) for i, v in reversed(list(enumerate(values)))]
    means = [(x(i), y(v.mean)) for i, v in enumerate(values)]

    def points(xy: list[tuple[float, float]]) -> str:
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)

    last = values[-1]
    label = escape(f"{n} run{'s' if n != 1 else ''}: {pct(values[0].mean)} at "
                   f"{values[0].as_of}, {pct(last.mean)} at {last.as_of} "
                   f"(90% interval {pct(last.low)}–{pct(last.high)})")
    band = (f'<polygon points="{points(upper + lower)}" fill="#1f4e79" fill-opacity="0.22"/>'
            if n > 1 else
            f'<line x1="{x(0):.1f}" y1="{y(last.low):.1f}" x2="{x(0):.1f}" '
            f'y2="{y(last.high):.1f}" stroke="#1f4e79" stroke-opacity="0.4" stroke-width="4"/>')
    line = (f'<polyline points="{points(means)}" fill="none" stroke="#1c2833" '
            f'stroke-width="1.5" stroke-linejoin="round"/>' if n > 1 else "")
    cx, cy = means[-1]
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f6f7"/>'
        f'<line x1="0" y1="{y(0.5):.1f}" x2="{width}" y2="{y(0.5):.1f}" stroke="#d5d8dc" '
        f'stroke-dasharray="2 2"/>{band}{line}'
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.6" fill="#c0392b"/></svg>')


def trajectory_figures(model: ModelSite) -> tuple[list[FigureImage], list[str]]:
    """Each headline's trajectory over the runs, drawn and encoded as a PNG data URI.

    :func:`forecast.report.plots.plot_trajectory` over the model's history, with the ledger
    rows of its runs on the time axis; a headline forecast at fewer than two as-of dates has
    no figure.

    Returns
    -------
    figures : list of FigureImage
    notes : list of str
        Headlines left without a figure, and why.
    """
    from forecast.report import plots  # matplotlib is imported when figures are drawn

    figures, notes = [], []
    for h in model.headlines:
        if h.state is None:
            continue
        if len({v.as_of for v in h.trajectory}) < 2:
            notes.append(f"{h.node} = {h.state}: forecast at one as-of date so far, so there "
                         "is no trajectory to draw yet.")
            continue
        try:
            figure = plots.plot_trajectory(model.history, h.node, h.state, events=model.events)
        except ForecastError as err:
            notes.append(f"{h.node} = {h.state}: no figure ({err.summary}).")
            continue
        figures.append(FigureImage(
            "trajectory", f"{h.node} = {h.state}",
            "Mean and 90% interval at each run's as-of date (the last run of a date drawn); "
            "ledger rows on the time axis.", _png_uri(figure)))
    return figures, notes


# ---------------------------------------------------------------------------------- rendering


def _stamp() -> dict[str, str]:
    return {"generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "version": importlib.metadata.version("forecast")}


def render_index(data: SiteData, links: dict[str, dict[str, str]] | None = None) -> str:
    """The front page: one row per model, each headline's latest value and sparkline.

    Parameters
    ----------
    data : SiteData
        From :func:`~forecast.ops.site.gather_site`.
    links : dict, optional
        ``{model: {"brief": href}}``: the latest run's brief of each model that has one in
        the site, relative to the index.

    Returns
    -------
    str
        HTML5, style inline, no script; everything read from files escaped.
    """
    template = environment().get_template("site_index.html.j2")
    return template.render(data=data, links=links or {}, quote=quote, sparkline=sparkline,
                           **_stamp())


def render_model(model: ModelSite, figures: Sequence[FigureImage] = (),
                 briefs: dict[str, str] | None = None, notes: Sequence[str] = ()) -> str:
    """A model's page: its headlines over the runs, the table of runs, the evidence added.

    Parameters
    ----------
    model : ModelSite
        From :func:`~forecast.ops.site.gather_site`.
    figures : sequence of FigureImage
        The trajectory figures (:func:`trajectory_figures`).
    briefs : dict, optional
        ``{run_id: href}`` of the runs whose brief is in the site, relative to the page.
    notes : sequence of str
        More to say under the page's notes (briefs that could not be built).

    Returns
    -------
    str
        HTML5, style inline, no script; everything read from files escaped.
    """
    template = environment().get_template("site_model.html.j2")
    return template.render(m=model, figures=list(figures), briefs=briefs or {},
                           notes=[*model.notes, *notes], sparkline=sparkline, **_stamp())


# ---------------------------------------------------------------------------------- writing


def _check_out(runs_dir: Path, out_dir: Path) -> None:
    """Raise ForecastError unless `out_dir` is, or can be made, a writable folder for the site.

    The site may be inside the runs folder (it is then not read as a store), but not be the
    runs folder itself nor inside a model's store.
    """
    out = out_dir.absolute()
    field_name = f"--out {out_dir}"
    existing = next(p for p in (out, *out.parents) if p.exists())
    problems = []
    if not existing.is_dir():
        problems.append(Problem(f"{existing} is a file, not a folder", field=field_name,
                                hint="give a folder for the site"))
    elif not os.access(existing, os.W_OK | os.X_OK):
        problems.append(Problem(f"{existing} is not writable", field=field_name,
                                hint="give a folder you can write to"))
    runs = Path(os.path.realpath(runs_dir))
    target = Path(os.path.realpath(out))
    if target == runs or (target.is_relative_to(runs)
                          and is_store(runs / target.relative_to(runs).parts[0])):
        problems.append(Problem("is the runs folder or inside a model's run store",
                                field=field_name,
                                hint="give a folder beside the runs, e.g. a sibling 'site'"))
    if problems:
        raise ForecastError("cannot write the site", problems)


def write_site(runs_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
               briefs: str = "latest") -> SiteWritten:
    """Write the dashboard of every model's runs in `runs_dir` as a static site in `out_dir`.

    ``index.html`` lists each model with its headline scenarios' latest values, intervals,
    ICD 203 words and sparklines, the latest run's as-of date, newest evidence (stale or
    not) and a mark on a latest run that is not publishable; ``<model>/index.html`` draws each
    headline's trajectory and lists the runs and the ledger rows each added; briefs go in
    ``<model>/<run-id>/brief.html``. See the module docstring for how files are written.

    Parameters
    ----------
    runs_dir : path-like
        The runs folder (``forecast update --runs``), one store per model.
    out_dir : path-like
        The site's folder (created if missing; existing briefs in it are reused).
    briefs : {"latest", "all", "none"}
        Which runs get a brief: each model's latest run (the default), every run, or none.
        A brief already in the site is never rebuilt; one whose model file is missing or has
        changed since the run is skipped with a note on the model's page.

    Returns
    -------
    SiteWritten

    Raises
    ------
    ForecastError
        If `runs_dir` is not a folder that can be read, `out_dir` cannot be a writable folder
        (a file, under a file, read-only, the runs folder itself or inside a model's store),
        or `briefs` is unknown; raised before anything is written. Damaged runs and
        briefs that cannot be built are reported, never raised.
    """
    runs, out = Path(runs_dir), Path(out_dir)
    _check_out(runs, out)
    data = gather_site(runs, briefs=briefs, skip=(out,))  # checks the runs folder and briefs
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ForecastError("cannot write the site", [Problem(
            f"cannot make the folder ({err.strerror})", field=f"--out {out_dir}",
            hint="give a folder you can write to")]) from None
    result = SiteWritten(out / INDEX, problems=list(data.problems))
    links: dict[str, dict[str, str]] = {}
    for model in data.models:
        folder = out / model.name
        result.problems.extend(f"{model.name}: {p}" for p in model.problems)
        notes = _write_briefs(model, runs, folder, result)
        briefs_here = {r.run_id: f"{quote(r.run_id)}/{BRIEF}" for r in model.runs
                       if (folder / r.run_id / BRIEF).is_file()}
        if model.latest is not None and model.latest.run_id in briefs_here:
            links[model.name] = {"brief": f"{quote(model.name)}/{briefs_here[model.latest.run_id]}"}
        figures, figure_notes = trajectory_figures(model)
        folder.mkdir(exist_ok=True)
        page = render_model(model, figures, briefs_here, [*notes, *figure_notes])
        result.pages.append(atomic_write(folder / INDEX, page))
    atomic_write(result.index, render_index(data, links))  # last: its links all resolve
    return result


def _write_briefs(model: ModelSite, runs_dir: Path, folder: Path,
                  result: SiteWritten) -> list[str]:
    """Write the briefs `model` wants that the site lacks; the notes of those it cannot."""
    notes = []
    for run in model.brief_runs:
        target = folder / run.run_id / BRIEF
        if target.is_file():  # runs are immutable: a brief once written stays true
            result.briefs_reused.append(target)
            continue
        try:
            data = site_brief(run, runs_dir)
            save_brief(data, target.parent, formats=("html",))
        except ForecastError as err:
            reason = err.summary + "".join(f"; {p.message}" for p in err.problems[:1])
            notes.append(f"No brief of run {run.run_id}: {reason}.")
        except Exception as exc:  # a brief is one page of the site: never the site's failure
            log.debug("the brief of %s/%s could not be built", model.name, run.run_id,
                      exc_info=True)
            notes.append(f"No brief of run {run.run_id}: it could not be built "
                         f"({type(exc).__name__}: {exc}).")
        else:
            result.briefs_written.append(target)
    result.notes.extend(f"{model.name}: {n}" for n in notes)
    return notes
