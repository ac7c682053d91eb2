"""The ``forecast`` command: a thin layer that parses options, calls the library, prints.

Each command parses its options, calls one library function, prints what
:mod:`forecast.report.text` renders, and maps errors to exit codes by their type: every user
mistake surfaces as a :class:`~forecast.errors.ForecastError`, printed as one message listing
every problem, with no traceback and the exit code its type carries (``errors.EXIT_*``): 2 for
bad input, 75 for a :class:`~forecast.errors.LockTimeout` (another update holds the run store,
so a scheduler retries), 1 for a :class:`~forecast.errors.WriteFailure` (a full disk), 3 for an
:class:`~forecast.errors.Untrusted` answer (a sampler over budget, stale evidence under
``--strict-freshness``).

Only click and the error family are imported here; each command imports what it needs when it
runs, so ``forecast --help`` and ``forecast validate`` do not pay for PyMC, arviz or matplotlib.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from forecast.errors import (
    EXIT_DIAGNOSTICS,
    EXIT_UNEXPECTED,
    EvidenceError,
    ForecastError,
    Problem,
    SpecError,
)

if TYPE_CHECKING:  # not imported at run time: the CLI starts light
    from forecast.evidence.observations import CountModel
    from forecast.inference.importance import Forecaster
    from forecast.model.schema import ModelSpec
    from forecast.network.network import Network


FORECASTER: Forecaster | None = None
"""The forecaster that update, replay and score pass to the library; None for the library's
default (:func:`~forecast.inference.importance.posterior_forecast`). The CLI never sets it: it
is the seam through which tests give the commands a stub, with
``monkeypatch.setattr(forecast.cli, "FORECASTER", stub)``."""


class _Seconds(click.FloatRange):
    """A number of seconds: finite and at least 0 (``nan``, ``inf`` and negatives refused)."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(min=0)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return seconds


def _forecaster() -> dict[str, Any]:
    return {} if FORECASTER is None else {"forecaster": FORECASTER}


def _semantics_options(fn: Any) -> Any:
    """The options that choose what a date means: shared by update, replay and score."""
    fn = click.option("--particles", type=click.IntRange(min=500), default=None,
                      metavar="N", help="Particles of the sampler over the record (default "
                                        "2000; at least 500, since a publishable forecast "
                                        "needs an effective sample size of 400).")(fn)
    fn = click.option("--no-nonoccurrence", "no_nonoccurrence", is_flag=True,
                      help="Do not observe closed steps without an event row as 'did not "
                           "happen' (by default they are, from each event's complete_from).")(fn)
    fn = click.option("--no-grades", "no_grades", is_flag=True,
                      help="Take hard rows as certain (by default each is a report whose "
                           "source's reliability has its grade's prior and is learned).")(fn)
    return click.option("--snapshot", is_flag=True,
                        help="The old semantics: the ledger as of each day on one static "
                             "network, hard rows certain, nothing learned across dates. By "
                             "default the model runs over time steps, every row at its step, "
                             "grades and non-occurrence counted, parameters learned from the "
                             "whole record.")(fn)


def _semantics(snapshot: bool, no_grades: bool, no_nonoccurrence: bool,
               particles: int | None, workers: int | None = None) -> dict[str, Any]:
    """Keyword arguments of the jobs for the semantics options (and the test seam)."""
    if snapshot or FORECASTER is not None:
        if no_grades or no_nonoccurrence or particles is not None:
            raise ForecastError("--no-grades, --no-nonoccurrence and --particles are options "
                                "of the dynamic model", [Problem(
                                    "the snapshot semantics has no grades, non-occurrence "
                                    "or particles", field="--snapshot",
                                    hint="drop --snapshot, or those options")])
        return {"semantics": "snapshot", **_forecaster()}
    if workers is not None:
        raise ForecastError("--workers applies to --snapshot", [Problem(
            "the dynamic model forecasts every date in one pass over the record",
            field="--workers", hint="drop --workers, or add --snapshot")])
    out: dict[str, Any] = {"semantics": "dynamic", "grades": not no_grades,
                           "nonoccurrence": not no_nonoccurrence}
    if particles is not None:
        out["particles"] = particles
    return out


class _Group(click.Group):
    """Turn domain errors into one clear message and an exit code chosen by the error's type."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ForecastError as err:  # the error's type chooses the code (errors.EXIT_*)
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forecast")
def main() -> None:
    """Bayesian scenario forecasting from analysts' conditional claims."""


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
def validate(model: Path) -> None:
    """Check a model file and print a one-screen summary.

    Every problem is listed with its file, line and field; exit code 2 if there are any.
    When the model names its source document (model.source.file, beside the model or in the
    working folder), every claim's quote is checked against it, and a quote not found says
    how close the nearest passage is.

    \b
    Example:
      forecast validate models/afghan_caliphate.yaml
    """
    from forecast.model.load import check_source_quotes
    from forecast.report.text import spec_summary

    checked = check_source_quotes(model)
    if checked.problems:
        count = len(checked.problems)
        raise SpecError(f"{model}: {count} quote{'s' * (count != 1)} not in the source",
                        checked.problems)
    click.echo(spec_summary(checked.spec))
    click.echo(f"quotes: every claim's quote is in {checked.source}" if checked.source else
               f"quotes: {checked.note}")


class _Uncertainty(click.ParamType):
    """``ess=N``: the equivalent sample size that gives a network's CPT rows their uncertainty."""

    name = "ess=N"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        key, sep, number = str(value).partition("=")
        if key.strip() != "ess" or not sep:
            self.fail(f"{value!r} is not ess=N (e.g. --uncertainty ess=100).", param, ctx)
        try:
            ess = float(number)
        except ValueError:
            self.fail(f"{number!r} is not a number (e.g. --uncertainty ess=100).", param, ctx)
        if not (math.isfinite(ess) and 0 < ess <= 1e6):  # model.schema.MAX_PSEUDO_COUNT
            self.fail(f"ess must be a number > 0 and at most 1,000,000, got {number!r}.",
                      param, ctx)
        return ess


_ESS = "forecast.uncertainty"
"""Where ``query --uncertainty`` leaves its value (``ctx.meta``) for :func:`_load_network`."""


def _ess() -> float | None:
    """The ``--uncertainty ess=N`` of the running command, if given."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_ESS)


def _remember_ess(ctx: click.Context, _: click.Parameter, value: float | None) -> None:
    ctx.meta[_ESS] = value


_NEEDS_ESS = Problem("or give the network uncertain CPTs", field="--uncertainty",
                     hint="e.g. --uncertainty ess=100: each row a Dirichlet holding the "
                          "network's values with the certainty of 100 observations")


@main.command()
@click.argument("network", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-e", "--evidence", "evidence", multiple=True, metavar="NODE=STATE",
              help="A hard finding; repeat for several.")
@click.option("-s", "--soft", "soft", multiple=True, metavar="NODE=L1,L2,...",
              help="Likelihood evidence: one non-negative number per state, in state order.")
@click.option("-c", "--count", "count", multiple=True, metavar="NODE=N",
              help="Model files: a count on a node that declares counts: (the step's whole "
                   "series, e.g. attacks in a quarter); repeat for several nodes.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"marginals": {node: {state: p}}, "log_evidence": x}; with '
                   "--posterior, the summary table as records; with --mpe, "
                   '{"assignment": {node: state}, "conditional": p, "joint": p, ...}.')
@click.option("--posterior", is_flag=True,
              help="Model files, or networks with --uncertainty: the posterior over the "
                   "uncertain CPTs — each probability's mean, 90% interval and Monte Carlo "
                   "error.")
@click.option("--uncertainty", type=_Uncertainty(), default=None, expose_value=False,
              callback=_remember_ess, metavar="ess=N",
              help="Network files: make every CPT row a Dirichlet with N x its probabilities "
                   "as pseudo-counts (the network held with the certainty of N observations "
                   "per row; zeros become 1e-3 x N / states), so --posterior gives intervals. "
                   "Nodes and states are then named as `forecast convert` writes them.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of --posterior (same inputs and seed, same numbers).")
@click.option("--all", "show_all", is_flag=True,
              help="Show every node, not only the model's headline scenarios.")
@click.option("--do", "do", multiple=True, metavar="NODE=STATE",
              help="An intervention, do(NODE=STATE): the node is set, not observed, so nothing "
                   "flows back to its causes (graph surgery on the network; with --posterior, "
                   "on every parameter draw).")
@click.option("--mpe", is_flag=True,
              help="The most probable joint scenario instead of marginals: a state for every "
                   "unobserved node and its probability given the evidence (with --posterior, "
                   "also its mean and 90% interval over the parameter posterior).")
def query(network: Path, evidence: tuple[str, ...], soft: tuple[str, ...],
          count: tuple[str, ...], as_json: bool, posterior: bool, seed: int, show_all: bool,
          do: tuple[str, ...], mpe: bool) -> None:
    """Posterior probabilities of every node of NETWORK given evidence.

    NETWORK is a model YAML file or a network file: BIF (.bif), XMLBIF (.xml, .xmlbif),
    GeNIe XDSL (.xdsl), Hugin NET (.net) or UAI (.uai), each also .gz; rows that sum to 1
    within 1e-4 are normalised. --uncertainty ess=N gives a network's CPTs Dirichlet
    uncertainty, for --posterior (as `forecast convert` writes it into a model file).
    By default this is exact inference with the CPTs at their prior means (for a model, the
    posterior mean of every probability given one case). With --posterior, each probability
    also gets its 90% credible interval over the uncertain CPTs, an ICD 203 likelihood word
    and a separate confidence label; the exit code is 3 if the sampler's diagnostics fail
    (the table is still printed, marked). A model that names headline `scenarios` shows those
    nodes only, unless --all is given (--json always has every node). With --mpe, the most
    probable joint scenario of all unobserved nodes instead (exact max-product; exit code 2 if
    the evidence is impossible). --do sets a node by graph surgery, with or without
    --posterior, and combines with --mpe.

    \b
    Examples:
      forecast query models/afghan_caliphate.yaml --evidence reconciliation=failed
      forecast query models/afghan_caliphate.yaml -e reconciliation=failed --posterior
      forecast query models/afghan_caliphate.yaml --do reconciliation=achieved --posterior
      forecast query models/afghan_caliphate.yaml --do reconciliation=achieved
      forecast query models/afghan_caliphate.yaml --mpe -e reconciliation=failed
      forecast query models/afghan_caliphate.yaml --mpe -e reconciliation=failed --posterior
      forecast query alarm.bif -e HR=HIGH -s BP=0.2,0.5,0.3 --json
      forecast query alarm.bif --mpe -e HR=HIGH --do KINKEDTUBE=FALSE --json
      forecast query alarm.xdsl -e HR=HIGH --uncertainty ess=100 --posterior
    """
    hard, lik = _parse_findings(evidence, soft)
    counts = _parse_counts(count)
    interventions, _ = _parse_findings(do, ())
    _check_do({*hard, *lik, *counts}, interventions)
    if mpe:
        _most_probable(network, hard, lik, counts, interventions, posterior, seed, as_json)
        return
    if posterior:
        _posterior(network, hard, lik, counts, seed, as_json, show_all, interventions)
        return
    from forecast.network.exact import ExactEngine
    from forecast.report.text import marginals_table

    net, spec = _load_network(network)
    lik = _with_counts(network, spec, lik, counts)
    post = ExactEngine(net.intervene(interventions)).query(hard, lik)
    if as_json:
        click.echo(json.dumps(post.to_dict(), indent=2))
    else:
        click.echo(marginals_table(post, hard, lik, nodes=_shown(spec, show_all),
                                   interventions=interventions, counts=counts))


@main.command()
@click.argument("network", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              metavar="FILE.yaml|.bif|.xml",
              help="What to write: a model (.yaml/.yml), or the network as BIF (.bif) or "
                   "XMLBIF (.xml, .xmlbif), optionally .gz.")
@click.option("--uncertainty", type=_Uncertainty(), default=None, metavar="ess=N",
              help="Every CPT row a Dirichlet with N x its probabilities as pseudo-counts "
                   "(needed for a model; for BIF and XMLBIF, the counts are written beside "
                   "each table, which readers skip).")
@click.option("--name", default=None,
              help="The model's or network's name (default: the network's own).")
def convert(network: Path, out: Path, uncertainty: float | None, name: str | None) -> None:
    """Convert a network file into a model file with uncertain CPTs, or into BIF or XMLBIF.

    NETWORK is any file `forecast query` reads (BIF, XMLBIF, XDSL, NET, UAI). A model
    (--out FILE.yaml, with --uncertainty ess=N) has one table node per network node, each row
    a Dirichlet whose pseudo-counts are N x the row's probabilities: the network's values
    held with the certainty of N observations of each parent configuration (counts below
    1e-3 x N / states are raised to that, so a zero becomes about 1e-3 / states). Names the
    model language does not allow are renamed (listed; the originals become labels), and the
    model works with validate, query --posterior, update and brief. Exit codes: 0 written,
    2 bad input (nothing written).

    \b
    Examples:
      forecast convert alarm.net --uncertainty ess=100 --out alarm.yaml
      forecast convert alarm.xdsl --out alarm.bif
    """
    from forecast.network.formats import network_format

    if not network.exists():
        raise ForecastError(f"{network}: no such file")
    target = out.name.lower()
    to_model = target.endswith((".yaml", ".yml"))
    if not to_model and network_format(out) not in ("BIF", "XMLBIF"):
        raise ForecastError(f"{out}: convert writes a model or a network", [Problem(
            f"cannot write '{''.join(out.suffixes[-2:]) or out.name}' files", field="--out",
            hint="give --out FILE.yaml (a model), FILE.bif or FILE.xml (XMLBIF)")])
    if to_model and uncertainty is None:
        raise ForecastError(f"{out}: a model's CPTs are uncertain; say how certain the "
                            "network's are", [Problem("is missing", field="--uncertainty",
                                                      hint="e.g. --uncertainty ess=100")])
    from forecast.network.formats import read_network

    net = read_network(network)
    if to_model:
        from forecast.model.imported import model_names, network_to_model

        assert uncertainty is not None
        builder = network_to_model(net, ess=uncertainty, name=name, source=network.name)
        spec = builder.build()
        builder.write(out)
        nodes, states = model_names(net)
        renamed = [f"{n} -> {m}" for n, m in nodes.items() if n != m]
        renamed += [f"{n}: {s} -> {m}" for n in net.nodes for s, m in states[n].items()
                    if s != m]
        rows = sum(len(node.cpt.table.rows) for node in spec.nodes.values()
                   if node.cpt.table is not None)
        click.echo(f"wrote {out}: model '{spec.name}', {len(spec.nodes)} nodes, {rows} "
                   f"Dirichlet rows (ess {uncertainty:g})")
        if renamed:
            click.echo("renamed for the model language: " + "; ".join(renamed))
        return
    from forecast.network._formats import dirichlet_counts

    counts = None if uncertainty is None else dirichlet_counts(net, uncertainty)
    if name:
        net = net.with_cpts({}, name=name)
    if network_format(out) == "BIF":
        from forecast.network.bif import write_bif

        write_bif(net, out, counts=counts)
    else:
        from forecast.network.xmlbif import write_xmlbif

        write_xmlbif(net, out, counts=counts)
    click.echo(f"wrote {out}: network '{net.name}', {len(net.nodes)} nodes")


def _check_do(observed: set[str], interventions: dict[str, str]) -> None:
    """Refuse --do on a node that --evidence or --soft also gives (which one is meant?)."""
    problems = [Problem(f"{node} is also observed", field=f"--do {node}={state}",
                        hint=f"drop the finding on {node}, or condition on it instead of "
                             "setting it")
                for node, state in interventions.items() if node in observed]
    if problems:
        raise EvidenceError("cannot set a node the evidence observes", problems)


def _most_probable(path: Path, hard: dict[str, str], lik: dict[str, list[float]],
                   counts: dict[str, int], interventions: dict[str, str], posterior: bool,
                   seed: int, as_json: bool) -> None:
    """``query --mpe``: the most probable joint scenario, over the posterior on request."""
    if posterior and not path.name.lower().endswith((".yaml", ".yml")) and _ess() is None:
        raise ForecastError(f"{path}: --posterior needs a model file (.yaml); a network has "
                            "fixed CPTs, so its probabilities have no interval", [_NEEDS_ESS])
    from forecast.network.exact import ExactEngine
    from forecast.report.text import most_probable_text

    if posterior and counts:
        raise EvidenceError("--mpe --posterior takes hard and soft findings only", [Problem(
            "the probability of a scenario over the posterior is not computed with counts",
            field="--count", hint="drop --posterior (the counts then enter with their rates "
            "integrated over the prior), or ask --posterior without --mpe")])
    net, spec = _load_network(path)
    point = _with_counts(path, spec, lik, counts)
    # the set nodes are findings of the cut network: certain there, so P(e) is unchanged
    best = ExactEngine(net.intervene(interventions)).mpe({**hard, **interventions}, point)
    result = scenario = None
    if posterior and spec is not None:
        from forecast.evidence.case import Case
        from forecast.inference.importance import posterior_forecast
        from forecast.inference.scenario import scenario_posterior

        case = Case(hard, lik)  # no counts: refused with --posterior above
        result = posterior_forecast(spec, case, seed=seed, interventions=interventions or None)
        scenario = scenario_posterior(spec, result, best.assignment, case, interventions)
    if as_json:
        out: dict[str, Any] = {**best.to_dict(), "evidence": hard, "soft": lik, "counts": counts,
                               "do": interventions}
        if scenario is not None:
            out["posterior"] = scenario.to_dict()
        click.echo(json.dumps(out, indent=2))
    else:
        labels = {n: node.label for n, node in spec.nodes.items()} if spec else None
        click.echo(most_probable_text(best, point, interventions, labels=labels,
                                      posterior=scenario, counts=counts))
    if result is not None and not result.publishable:
        reasons = "; ".join(result.attrs["diagnostics"]["failed"])
        click.echo(f"error: the posterior failed its diagnostics: {reasons}", err=True)
        raise SystemExit(EXIT_DIAGNOSTICS)


def _shown(spec: ModelSpec | None, show_all: bool) -> list[str] | None:
    """The nodes to print: a model's headline scenarios, unless all are asked for."""
    return list(spec.scenarios) if spec is not None and spec.scenarios and not show_all else None


def _posterior(path: Path, hard: dict[str, str], lik: dict[str, list[float]],
               counts: dict[str, int], seed: int, as_json: bool, show_all: bool,
               interventions: dict[str, str]) -> None:
    if not path.name.lower().endswith((".yaml", ".yml")) and _ess() is None:
        raise ForecastError(f"{path}: --posterior needs a model file (.yaml); a network has "
                            "fixed CPTs, so its probabilities have no interval", [_NEEDS_ESS])
    from forecast.evidence.case import Case
    from forecast.inference.importance import posterior_forecast
    from forecast.report.text import forecast_table

    _, spec = _load_network(path)
    assert spec is not None  # a model, or a network given --uncertainty
    result = posterior_forecast(spec, Case(hard, lik, counts=counts), seed=seed,
                                interventions=interventions or None,
                                count_models=_count_models(path, spec, counts))
    if as_json:
        click.echo(result.summary.to_json(orient="records", indent=2))
    else:
        click.echo(forecast_table(result, nodes=_shown(spec, show_all)))
    if not result.publishable:
        reasons = "; ".join(result.attrs["diagnostics"]["failed"])
        click.echo(f"error: the posterior failed its diagnostics: {reasons}", err=True)
        raise SystemExit(EXIT_DIAGNOSTICS)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The evidence ledger CSV (without it, the forecast uses no evidence).")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", default=None,
              help="Forecast as of this day (default today); later ledger rows are ignored.")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs"), show_default=True, help="The run store folder.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed (same inputs and seed, same numbers).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON object: status, run_id, summary records and changes.")
@click.option("--allow-unconverged", is_flag=True,
              help="Publish even if the diagnostics fail (the manifest says so).")
@click.option("--lock-timeout", type=_Seconds(), default=60.0, show_default=True,
              metavar="SECONDS", help="How long to wait for another update's lock (then exit 75); "
                                      "a finite number, at least 0.")
@click.option("--stale-after", "stale_after", type=click.IntRange(min=0),
              default=90,  # ops.update.STALE_DAYS, not imported: the CLI starts light (tested)
              show_default=True, metavar="DAYS",
              help="Warn when the ledger's newest row is more than DAYS before the as-of date.")
@click.option("--strict-freshness", is_flag=True,
              help="Exit 3 instead of warning when the evidence is stale (nothing written).")
@click.option("--compare-to", "compare_to", default=None, metavar="ID",
              help="The run to report changes against (default: the latest run, or for a "
                   "backfill the run of the newest as-of up to its own).")
@click.option("--make-latest", is_flag=True,
              help="Point LATEST at the new run even if its --as-of is before the latest "
                   "run's (by default a backfill is published without moving LATEST back).")
@_semantics_options
def update(model: Path, ledger: Path | None, as_of: str | None, runs_dir: Path, seed: int,
           as_json: bool, allow_unconverged: bool, lock_timeout: float, stale_after: int,
           strict_freshness: bool, compare_to: str | None, make_latest: bool, snapshot: bool,
           no_grades: bool, no_nonoccurrence: bool, particles: int | None) -> None:
    """Update the forecast of MODEL and publish a new run if its inputs changed.

    Safe under cron or a systemd timer: a run is written to RUNS/<model>/<run-id>/ and
    published atomically, a lock keeps concurrent updates apart, and an update whose inputs
    (model file, ledger file, as-of day, seed, options) equal the latest run's writes nothing.
    The model runs over time steps: each ledger row is evidence about its own step, source
    grades and non-occurrence count, and the parameters are learned from the whole record
    (--snapshot for the old semantics).
    Exit codes: 0 published or unchanged, 1 unexpected failure (a full disk: nothing
    published), 2 bad input or a run store that cannot be written (nothing written),
    3 diagnostics failed (nothing published unless --allow-unconverged; also when the inputs
    equal those of a latest run that failed them) or, with --strict-freshness, evidence older
    than --stale-after (nothing written), 75 another update held the lock past --lock-timeout
    (nothing written; retry later).
    Damaged runs are skipped with a warning each; a read-only store still answers an update
    whose inputs equal its latest run's. An --as-of before the latest run's is a backfill:
    published and listed in as-of order, compared with the run of the newest as-of up to its
    own, without moving LATEST back (unless --make-latest).

    \b
    Example:
      forecast update models/isis_pakistan_2015.yaml --ledger data/isis_pakistan_ledger.csv
    """
    chosen = _semantics(snapshot, no_grades, no_nonoccurrence, particles)
    try:
        from forecast.ops.update import (
            update as run_update,  # imports arviz: needs a writable cache
        )

        result = run_update(model, ledger, as_of=as_of, runs_dir=runs_dir, seed=seed,
                            allow_unconverged=allow_unconverged, lock_timeout=lock_timeout,
                            make_latest=make_latest, compare_to=compare_to,
                            stale_after_days=stale_after,
                            strict_freshness=strict_freshness, **chosen)
    except ForecastError:  # its own exit code, by _Group
        raise
    except Exception as exc:  # a scheduler needs a one-line reason and exit 1, not a traceback
        click.echo(f"error: unexpected failure: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(EXIT_UNEXPECTED) from None
    from forecast.report.text import update_text

    for problem in result.problems:
        click.echo(f"warning: skipped in the run store: {problem}", err=True)
    for note in result.notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else update_text(result))
    if result.status == "unpublishable":
        assert result.run is not None  # an unpublishable update names the latest run
        latest = result.run.run_id
        click.echo(f"error: the inputs equal those of run {latest}, which failed its "
                   "diagnostics (published with --allow-unconverged); nothing written: "
                   + "; ".join(result.failed), err=True)
        raise SystemExit(EXIT_DIAGNOSTICS)
    if not result.publishable and result.status == "unchanged":
        click.echo("warning: unchanged, and the run failed its diagnostics: "
                   + "; ".join(result.failed), err=True)
    if result.status == "unconverged":
        click.echo("error: the posterior failed its diagnostics, nothing was published: "
                   + "; ".join(result.failed), err=True)
        raise SystemExit(EXIT_DIAGNOSTICS)
    if not result.publishable and result.status == "published":
        click.echo("warning: published although the diagnostics failed: "
                   + "; ".join(result.failed), err=True)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs"), show_default=True, help="The run store folder.")
@click.option("--all", "show_all", is_flag=True,
              help="Every node, not only the model's headline scenarios.")
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON records.")
def history(model: Path, runs_dir: Path, show_all: bool, as_json: bool) -> None:
    """Each scenario's probability and 90% interval over all published runs of MODEL.

    Damaged run folders are reported on stderr and skipped, never fatal.

    \b
    Example:
      forecast history models/isis_pakistan_2015.yaml --runs runs
    """
    from forecast.model.load import load_spec
    from forecast.ops.update import history as run_history
    from forecast.report.text import history_text

    spec = load_spec(model)
    found = run_history(spec.name, runs_dir, nodes=_shown(spec, show_all))
    frame = found.frame
    for problem in found.problems:
        click.echo(f"warning: skipped a damaged run: {problem}", err=True)
    click.echo(frame.to_json(orient="records", indent=2) if as_json else
               history_text(frame, spec.name, runs_dir))


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--questions", "questions", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The resolved questions CSV (schema in data/README.md).")
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The evidence ledger CSV: the model is forecast with it cut at each "
                   "question's as-of date, and the cited rows are checked.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of every forecast.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="With --snapshot: processes forecasting the as-of dates (default: one per "
                   "date, up to the number of CPUs; 1 runs in this process).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON object: attrs, scores, questions and calibration records.")
@click.option("--bins", type=click.IntRange(min=1), default=10, show_default=True,
              help="Equal-width probability bins of the calibration table.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.png|.svg|.pdf", help="Also draw the reliability diagram there.")
@_semantics_options
def score(model: Path, questions: Path, ledger: Path | None, seed: int, workers: int | None,
          as_json: bool, bins: int, plot: Path | None, snapshot: bool, no_grades: bool,
          no_nonoccurrence: bool, particles: int | None) -> None:
    """Score MODEL's forecasts on resolved questions: Brier, log, skill and calibration.

    Each question is forecast as of its date by the model with the ledger (model), the model
    with no evidence (no_evidence) and a coin (uniform, 0.5). Exit codes: 0 scored, 2 bad
    input (every problem listed by line; nothing written), 3 a forecast failed its
    diagnostics (the scores are still printed).

    \b
    Example:
      forecast score models/isis_pakistan_2015.yaml \\
        --questions data/isis_pakistan_questions.csv --ledger data/isis_pakistan_ledger.csv
    """
    from forecast.ops.replay import WorkerError
    from forecast.ops.score import score as run_score

    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ForecastError(f"{plot}: --plot writes .png, .svg or .pdf files",
                            [Problem(f"unknown file type '{plot.suffix}'", field="--plot",
                                     hint="e.g. --plot reliability.png")])
    chosen = _semantics(snapshot, no_grades, no_nonoccurrence, particles, workers)
    try:
        result = run_score(model, questions, ledger, seed=seed, workers=workers, bins=bins,
                           progress=not as_json and sys.stderr.isatty(), **chosen)
    except WorkerError as exc:  # a worker's bug or a lost process: one line naming the date
        click.echo(f"error: unexpected failure: {exc}", err=True)
        raise SystemExit(EXIT_UNEXPECTED) from None
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else result.to_text())
    if plot is not None:
        from forecast.report.plots import plot_reliability

        plot_reliability(result.calibration).savefig(plot)
        click.echo(f"wrote {plot}", err=True)
    if not result.publishable:
        click.echo("error: the model's forecasts failed their diagnostics as of "
                   + ", ".join(result.attrs["unpublishable"]), err=True)
        raise SystemExit(EXIT_DIAGNOSTICS)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The evidence ledger CSV (without it: the model with no evidence).")
@click.option("--start", required=True, metavar="YYYY-MM-DD", help="The first as-of day.")
@click.option("--end", default=None, metavar="YYYY-MM-DD",
              help="The last possible as-of day (default today).")
@click.option("--every", type=click.Choice(["month", "quarter", "year"]), default="quarter",
              show_default=True, help="Step between as-of days (a month-end start keeps to "
                                      "month ends).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of every forecast.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="With --snapshot: processes (default: one per date, up to the number of "
                   "CPUs; 1 runs in this process); with --dask local, the cluster's workers.")
@click.option("--dask", "scheduler", metavar="ADDRESS|local", default=None,
              help="Run on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' "
                   "for a LocalCluster on this machine.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.csv|.nc", help="Also write every node's rows there (CSV, or "
                                           "netCDF for xarray).")
@click.option("--json", "as_json", is_flag=True, help="Print the shown rows as JSON records.")
@click.option("--all", "show_all", is_flag=True,
              help="Every node, not only the model's headline scenarios.")
@click.option("--progress/--no-progress", default=None,
              help="A progress bar on stderr (default: when stderr is a terminal).")
@_semantics_options
def replay(model: Path, ledger: Path | None, start: str, end: str | None, every: str, seed: int,
           workers: int | None, scheduler: str | None, out: Path | None, as_json: bool,
           show_all: bool, progress: bool | None, snapshot: bool, no_grades: bool,
           no_nonoccurrence: bool, particles: int | None) -> None:
    """Forecast MODEL as of every month, quarter or year from --start to --end (a backtest).

    Each as-of day sees the ledger as `forecast update` would, but nothing is published: the
    run store is not touched. The dynamic model replays in one pass over the record (its
    parameters learned from the rows before each date); --workers and --dask apply to
    --snapshot, which forecasts each date apart. Prints each headline scenario's mean and 90%
    interval per date (a two-state node shows its second state) and the number of ledger rows
    that counted.
    Exit codes: 0 done, 1 unexpected failure (naming the date), 2 bad input, 3 a date failed
    its diagnostics (kept and marked; the output is still written).

    \b
    Example:
      forecast replay models/isis_pakistan_2015.yaml --ledger data/isis_pakistan_ledger.csv \\
        --start 2015-09-30 --every quarter --out replay.nc
    """
    import datetime as dt

    from forecast.model.load import load_spec
    from forecast.ops.replay import as_of_dates, check_out_path, replay_dates, save_replay
    from forecast.report.text import replay_text

    spec = load_spec(model)
    options = {"start": "--start", "end": "--end", "every": "--every", "out": "--out",
               "scheduler": "--dask"}
    chosen = _semantics(snapshot, no_grades, no_nonoccurrence, particles, workers)
    try:
        if out is not None:
            check_out_path(out)
        frame = replay_dates(model, ledger, as_of_dates(start, end or dt.date.today(), every),
                             seed=seed, workers=workers, scheduler=scheduler,
                             progress=sys.stderr.isatty() if progress is None else progress,
                             **chosen)
    except ForecastError as err:  # name the options, not the library's parameters
        raise type(err)(err.summary, [replace(p, field=options[p.field]) if p.field in options
                                      else p for p in err.problems]) from None
    except Exception as exc:  # a worker's bug or a lost cluster: one line naming the date
        click.echo(f"error: unexpected failure: {exc}", err=True)
        raise SystemExit(EXIT_UNEXPECTED) from None
    if out is not None:
        click.echo(f"wrote {save_replay(frame, out)}", err=True)
    nodes = _shown(spec, show_all)
    if as_json:
        shown = frame if nodes is None else frame[frame["node"].isin(nodes)]
        click.echo(shown.to_json(orient="records", indent=2))
    else:
        click.echo(replay_text(frame, nodes))
    if frame.attrs["diagnostics_failed"]:
        click.echo("error: the posterior failed its diagnostics as of "
                   + ", ".join(frame.attrs["diagnostics_failed"]), err=True)
        raise SystemExit(EXIT_DIAGNOSTICS)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--run", "run_id", default="latest", show_default=True, metavar="latest|ID",
              help="Which published run to brief.")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs"), show_default=True, help="The run store folder.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for brief.html / brief.pdf / brief.png.")
@click.option("--format", "formats", default="html,pdf", show_default=True,
              metavar="html,pdf,png", help="Comma-separated formats to write.")
@click.option("--pdf-engine", type=click.Choice(["auto", "chromium", "weasyprint"]),
              default="auto", show_default=True,
              help="What prints the PDF: headless Chromium, WeasyPrint, or Chromium when "
                   "installed and WeasyPrint otherwise.")
@click.option("--against", "against", default=None, metavar="latest|ID",
              help="The run to compare with (default: the one its update compared with).")
def brief(model: Path, run_id: str, runs_dir: Path, out_dir: Path, formats: str,
          pdf_engine: str, against: str | None) -> None:
    """Write the brief of a published run of MODEL: key judgments, changes, indicators.

    The HTML is one self-contained file (figures embedded); the PDF is the same page printed
    on A4; the PNG (which needs Chromium) is a screenshot of its top. Files are written
    atomically into --out. Without Chromium and without the Pango library WeasyPrint needs
    (a slim machine), the default --pdf-engine auto writes the HTML and skips the PDF with one
    warning line. Exit codes: 0 written (or the PDF skipped so), 1 unexpected failure (e.g.
    Chromium crashed), 2 bad input (no such run, unknown format, Chromium missing for PNG or
    --pdf-engine chromium, Pango missing for --pdf-engine weasyprint; nothing written).

    \b
    Example:
      forecast update models/isis_pakistan_2015.yaml --ledger data/isis_pakistan_ledger.csv
      forecast brief models/isis_pakistan_2015.yaml --out out --format html,pdf
      forecast brief models/afghan_caliphate.yaml --out o --against 20250630T060000000000Z-1a2b3c4d
    """
    from forecast.report.brief import write_brief

    try:
        written = write_brief(model, out_dir, runs_dir=runs_dir, run=run_id,
                              formats=formats.split(","), pdf_engine=pdf_engine,
                              against=against)
    except ForecastError:
        raise
    except Exception as exc:  # Chromium or WeasyPrint failed: one line, not a traceback
        click.echo(f"error: unexpected failure writing the brief: {exc}", err=True)
        raise SystemExit(EXIT_UNEXPECTED) from None
    for path in written.values():
        click.echo(f"wrote {path}")
    for kind, reason in written.skipped.items():
        click.echo(f"warning: skipped brief.{kind}: {reason}", err=True)


@main.command()
@click.argument("runs_dir", metavar="RUNS_DIR", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder of the site (created if missing; briefs already in it are reused).")
@click.option("--briefs", type=click.Choice(["latest", "all", "none"]), default="latest",
              show_default=True, help="Which runs get a brief (HTML) in the site.")
def site(runs_dir: Path, out_dir: Path, briefs: str) -> None:
    """Write a static HTML dashboard of every model's runs in RUNS_DIR into --out.

    index.html has one row per model: each headline scenario's latest value, 90% interval,
    ICD 203 word and a sparkline over the runs, the latest as-of date, the newest evidence
    (stale or not) and a mark on a latest run that is not publishable. Each model's page
    draws the trajectories and lists the runs and the ledger rows each added; the latest
    run's brief is written beside it (a brief already there is reused: runs never change).
    No script; files are replaced atomically, the index last. Damaged runs, and briefs whose
    model file is missing or has changed, are reported as warnings, never fatal.
    Exit codes: 0 written, 1 unexpected failure, 2 bad input (RUNS_DIR missing or not a
    folder, --out a file or not writable; nothing written).

    \b
    Example:
      forecast update models/isis_pakistan_2015.yaml --ledger data/isis_pakistan_ledger.csv
      forecast site runs --out site
    """
    from forecast.report.site import write_site

    try:
        written = write_site(runs_dir, out_dir, briefs=briefs)
    except ForecastError:
        raise
    except Exception as exc:  # a scheduler needs a one-line reason and exit 1, not a traceback
        click.echo(f"error: unexpected failure writing the site: {type(exc).__name__}: {exc}",
                   err=True)
        raise SystemExit(EXIT_UNEXPECTED) from None
    for problem in written.problems:
        click.echo(f"warning: skipped in the run store: {problem}", err=True)
    for note in written.notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"wrote {written.index} ({len(written.pages)} model page"
               f"{'' if len(written.pages) == 1 else 's'}; briefs: "
               f"{len(written.briefs_written)} written, {len(written.briefs_reused)} reused)")


def _load_network(path: Path) -> tuple[Network, ModelSpec | None]:
    """The network to query and, for a model or a network given --uncertainty, its spec.

    A network file is read by its suffix (:func:`~forecast.network.formats.read_network`, no
    pgmpy, no PyMC); with --uncertainty its rows become Dirichlets
    (:func:`~forecast.model.imported.network_to_model`) and the network queried is the
    model's prior means.
    """
    if not path.exists():
        raise ForecastError(f"{path}: no such file")
    ess = _ess()
    if path.name.lower().endswith((".yaml", ".yml")):
        if ess is not None:
            raise ForecastError(f"{path}: --uncertainty is for network files", [Problem(
                "a model states its CPTs' uncertainty itself", field="--uncertainty",
                hint="drop --uncertainty")])
        from forecast.model.cpts import prior_mean_network
        from forecast.model.load import load_spec

        spec = load_spec(path)
        return prior_mean_network(spec), spec
    from forecast.network.formats import SUFFIX_HINT, network_format, read_network

    if network_format(path) is None:
        raise ForecastError(f"{path}: not a model (.yaml) or a network file", [Problem(
            f"unknown suffix '{''.join(path.suffixes[-2:])}'", file=str(path),
            hint=f"a model is .yaml; {SUFFIX_HINT}")])
    # rows rounded in the file are made exact distributions (see forecast.network.formats)
    net = read_network(path)
    if ess is None:
        return net, None
    from forecast.model.cpts import prior_mean_network
    from forecast.model.imported import network_to_model

    spec = network_to_model(net, ess=ess, source=path.name).build()
    return prior_mean_network(spec), spec


def _parse_findings(evidence: tuple[str, ...], soft: tuple[str, ...]
                    ) -> tuple[dict[str, str], dict[str, list[float]]]:
    problems: list[Problem] = []
    hard: dict[str, str] = {}
    lik: dict[str, list[float]] = {}
    for item in evidence:
        node, sep, state = item.partition("=")
        if not sep or not node or not state:
            problems.append(Problem("expected NODE=STATE", field=f"--evidence {item}"))
        elif node.strip() in hard:
            problems.append(Problem(f"'{node.strip()}' is already given as "
                                    f"{hard[node.strip()]}", field=f"--evidence {item}",
                                    hint="give each node once"))
        else:
            hard[node.strip()] = state.strip()
    for item in soft:
        node, sep, values = item.partition("=")
        try:
            numbers = [float(v) for v in values.split(",")]
        except ValueError:
            numbers = []
        if not sep or not node or not numbers:
            problems.append(Problem("expected NODE=L1,L2,... with numbers",
                                    field=f"--soft {item}"))
        elif node.strip() in lik:
            problems.append(Problem(f"'{node.strip()}' has a likelihood already",
                                    field=f"--soft {item}",
                                    hint="multiply the two vectors into one"))
        else:
            lik[node.strip()] = numbers
    if problems:
        raise EvidenceError("bad evidence on the command line", problems)
    return hard, lik


def _parse_counts(items: tuple[str, ...]) -> dict[str, int]:
    problems: list[Problem] = []
    counts: dict[str, int] = {}
    for item in items:
        node, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not node or not value.isdigit() or len(value) > 9:
            problems.append(Problem("expected NODE=N with N a whole number >= 0 (digits only, "
                                    "at most 999999999)", field=f"--count {item}"))
        elif node in counts:
            problems.append(Problem(f"'{node}' is already counted ({counts[node]})",
                                    field=f"--count {item}",
                                    hint="give one count per node: the step's whole series"))
        else:
            counts[node] = int(value)
    if problems:
        raise EvidenceError("bad counts on the command line", problems)
    return counts


def _count_models(path: Path, spec: ModelSpec | None, counts: dict[str, int]
                  ) -> list[CountModel]:
    """The count models of the counted nodes; counts need a model that declares them."""
    if not counts:
        return []
    if spec is None or not path.name.lower().endswith((".yaml", ".yml")):
        raise EvidenceError(f"{path}: counts need a model file", [Problem(
            "a network declares no count rates", field="--count",
            hint="write the network into a model (forecast convert) and add counts: to the "
            "node")])
    from forecast.evidence.observations import counted

    return counted(spec, counts, field="--count")


def _with_counts(path: Path, spec: ModelSpec | None, lik: dict[str, list[float]],
                 counts: dict[str, int]) -> dict[str, list[float]]:
    """`lik` times each count's likelihood with its rates integrated over their prior."""
    models = _count_models(path, spec, counts)
    if not models:
        return lik
    assert spec is not None  # _count_models refuses counts without a model
    out = dict(lik)
    for m in models:
        found = m.marginal_likelihood(counts[m.node], spec.states[m.node])
        out[m.node] = [a * b for a, b in zip(out.get(m.node, [1.0] * len(found)), found,
                                             strict=True)]
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
