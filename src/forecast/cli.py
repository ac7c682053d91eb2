"""The ``forecast`` command: a thin layer that parses options, calls the library, prints.

Every user mistake surfaces as a :class:`~forecast.errors.ForecastError`, printed as one
message listing every problem, with exit code 2 and no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from forecast.errors import EvidenceError, ForecastError, Problem

EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_DIAGNOSTICS = 3


class _Group(click.Group):
    """Turn domain errors into one clear message and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ForecastError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forecast")
def main() -> None:
    """Bayesian scenario forecasting from analysts' conditional claims."""


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
def validate(model: Path) -> None:
    """Check a model file and print a one-screen summary.

    Every problem is listed with its file, line and field; exit code 2 if there are any.

    \b
    Example:
      forecast validate models/afghan_caliphate.yaml
    """
    from forecast.render import spec_summary
    from forecast.spec import load_spec

    spec = load_spec(model)
    click.echo(spec_summary(spec))


@main.command()
@click.argument("network", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-e", "--evidence", "evidence", multiple=True, metavar="NODE=STATE",
              help="A hard finding; repeat for several.")
@click.option("-s", "--soft", "soft", multiple=True, metavar="NODE=L1,L2,...",
              help="Likelihood evidence: one non-negative number per state, in state order.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"marginals": {node: {state: p}}, "log_evidence": x}; with '
                   "--posterior, the summary table as records.")
@click.option("--posterior", is_flag=True,
              help="Model files only: the posterior over the uncertain CPTs — each "
                   "probability's mean, 90% interval and Monte Carlo error.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of --posterior (same inputs and seed, same numbers).")
@click.option("--all", "show_all", is_flag=True,
              help="Show every node, not only the model's headline scenarios.")
@click.option("--do", "do", multiple=True, metavar="NODE=STATE",
              help="With --posterior: an intervention, do(NODE=STATE) — the node is set, not "
                   "observed, so nothing flows back to its causes.")
def query(network: Path, evidence: tuple[str, ...], soft: tuple[str, ...], as_json: bool,
          posterior: bool, seed: int, show_all: bool, do: tuple[str, ...]) -> None:
    """Posterior probabilities of every node of NETWORK given evidence.

    NETWORK is a model YAML file or a BIF file (.bif or .bif.gz, as written by GeNIe, Netica
    converters, bnlearn, pgmpy or pyAgrum; rows that sum to 1 within 1e-4 are normalised).
    By default this is exact inference with the CPTs at their prior means (for a model, the
    posterior mean of every probability given one case). With --posterior, each probability
    also gets its 90% credible interval over the uncertain CPTs, an ICD 203 likelihood word
    and a separate confidence label; the exit code is 3 if the sampler's diagnostics fail
    (the table is still printed, marked). A model that names headline `scenarios` shows those
    nodes only, unless --all is given (--json always has every node).

    \b
    Examples:
      forecast query models/afghan_caliphate.yaml --evidence reconciliation=failed
      forecast query models/afghan_caliphate.yaml -e reconciliation=failed --posterior
      forecast query models/afghan_caliphate.yaml --do reconciliation=achieved --posterior
      forecast query alarm.bif -e HR=HIGH -s BP=0.2,0.5,0.3 --json
    """
    hard, lik = _parse_findings(evidence, soft)
    interventions, _ = _parse_findings(do, ())
    if interventions and not posterior:
        raise ForecastError("--do needs --posterior (interventions act on the uncertain model)")
    if posterior:
        _posterior(network, hard, lik, seed, as_json, show_all, interventions)
        return
    from forecast.exact import ExactEngine
    from forecast.render import marginals_table

    net, spec = _load_network(network)
    post = ExactEngine(net).query(hard, lik)
    if as_json:
        click.echo(json.dumps(post.to_dict(), indent=2))
    else:
        click.echo(marginals_table(post, hard, lik, nodes=_shown(spec, show_all)))


def _shown(spec, show_all: bool) -> list[str] | None:
    """The nodes to print: a model's headline scenarios, unless all are asked for."""
    return list(spec.scenarios) if spec is not None and spec.scenarios and not show_all else None


def _posterior(path: Path, hard, lik, seed: int, as_json: bool, show_all: bool,
               interventions: dict[str, str]) -> None:
    if not path.name.lower().endswith((".yaml", ".yml")):
        raise ForecastError(f"{path}: --posterior needs a model file (.yaml); a BIF network "
                            "has fixed CPTs, so its probabilities have no interval")
    if not path.exists():
        raise ForecastError(f"{path}: no such file")
    from forecast.bayes import Case, posterior_forecast
    from forecast.render import forecast_table
    from forecast.spec import load_spec

    spec = load_spec(path)
    result = posterior_forecast(spec, Case(hard, lik), seed=seed,
                                interventions=interventions or None)
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
def update(model: Path, ledger: Path | None, as_of: str | None, runs_dir: Path, seed: int,
           as_json: bool, allow_unconverged: bool) -> None:
    """Update the forecast of MODEL and publish a new run if its inputs changed.

    Safe under cron or a systemd timer: a run is written to RUNS/<model>/<run-id>/ and
    published atomically, a lock keeps concurrent updates apart, and an update whose inputs
    (model file, ledger file, as-of day, seed) equal the latest run's writes nothing.
    Exit codes: 0 published or unchanged, 1 unexpected failure, 2 bad input (nothing
    written), 3 diagnostics failed (nothing published unless --allow-unconverged).

    \b
    Example:
      forecast update models/isis_pakistan_2015.yaml --ledger data/isis_pakistan_ledger.csv
    """
    from forecast.runs import update as run_update

    try:
        result = run_update(model, ledger, as_of=as_of, runs_dir=runs_dir, seed=seed,
                            allow_unconverged=allow_unconverged)
    except ForecastError:
        raise
    except Exception as exc:  # a scheduler needs a one-line reason and exit 1, not a traceback
        click.echo(f"error: unexpected failure: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(EXIT_UNEXPECTED) from None
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(_update_report(result))
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
    from forecast.runs import history as run_history
    from forecast.spec import load_spec

    spec = load_spec(model)
    frame, problems = run_history(spec.name, runs_dir, _shown(spec, show_all))
    for problem in problems:
        click.echo(f"warning: skipped a damaged run: {problem}", err=True)
    if as_json:
        click.echo(frame.to_json(orient="records", indent=2))
        return
    if frame.empty:
        click.echo(f"no runs of {spec.name} under {runs_dir}")
        return
    for (node, state), rows in frame.groupby(["node", "state"], sort=False):
        click.echo(f"{node} = {state}")
        for row in rows.itertuples(index=False):
            flag = "" if row.publishable else "  (not publishable)"
            click.echo(f"  {row.as_of}  {row.mean:.3f} [{row._8:.3f}, {row._9:.3f}]  "
                       f"{row.method}  {row.run_id}{flag}")


def _update_report(result) -> str:
    """A short human report: what happened, the key judgments, what changed."""
    run = result.run
    if result.status == "unchanged":
        lines = [f"unchanged: the inputs equal those of run {run.run_id} "
                 f"(as of {run.manifest['as_of']}); nothing written"]
    elif result.status == "published":
        m = run.manifest
        lines = [f"published run {run.run_id} (as of {m['as_of']}, seed {m['seed']}, "
                 f"{m['method']})", f"  {run.path}"]
    else:
        lines = ["unconverged: nothing published"]
    lines.append("key judgments (mean, 90% interval):")
    table = result.summary[result.summary["node"].isin(result.scenarios)]
    for row in table.to_dict("records"):
        lines.append(f"  {row['node']} = {row['state']}: {row['mean']:.3f} "
                     f"[{row['hdi_5%']:.3f}, {row['hdi_95%']:.3f}] {row['likelihood']}, "
                     f"{row['confidence']} confidence")
    if result.status != "unchanged":
        if result.previous is None:
            lines.append("no previous run to compare with")
        else:
            changes = result.changes
            moved = changes[~(changes["delta"].abs() < 0.0005)]  # NaN: observed or new
            lines.append(f"changes since run {result.previous.run_id}:"
                         if len(moved) else
                         f"no scenario moved since run {result.previous.run_id}")
            for row in moved.itertuples(index=False):
                if row.after != row.after:  # NaN: the node is observed now, not forecast
                    lines.append(f"  {row.node} = {row.state}: {row.before:.3f} -> observed")
                elif row.before != row.before:
                    lines.append(f"  {row.node} = {row.state}: new, {row.after:.3f}")
                else:
                    lines.append(f"  {row.node} = {row.state}: {row.before:.3f} -> "
                                 f"{row.after:.3f} ({row.delta:+.3f})")
    return "\n".join(lines)


def _load_network(path: Path):
    if not path.exists():
        raise ForecastError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith((".bif", ".bif.gz")):
        from forecast.bif import read_bif

        # rows rounded in the file are made exact distributions (see forecast.bif)
        return read_bif(path, normalize=True), None
    if name.endswith((".yaml", ".yml")):
        from forecast.cpt import prior_mean_network
        from forecast.spec import load_spec

        spec = load_spec(path)
        return prior_mean_network(spec), spec
    raise ForecastError(f"{path}: not a model (.yaml) or BIF (.bif, .bif.gz) file")


def _parse_findings(evidence: tuple[str, ...], soft: tuple[str, ...]):
    problems: list[Problem] = []
    hard: dict[str, str] = {}
    lik: dict[str, list[float]] = {}
    for item in evidence:
        node, sep, state = item.partition("=")
        if not sep or not node or not state:
            problems.append(Problem(f"--evidence {item}", "expected NODE=STATE"))
        elif node.strip() in hard:
            problems.append(Problem(f"--evidence {item}", f"'{node.strip()}' is already given "
                                    f"as {hard[node.strip()]}", "give each node once"))
        else:
            hard[node.strip()] = state.strip()
    for item in soft:
        node, sep, values = item.partition("=")
        try:
            numbers = [float(v) for v in values.split(",")]
        except ValueError:
            numbers = []
        if not sep or not node or not numbers:
            problems.append(Problem(f"--soft {item}", "expected NODE=L1,L2,... with numbers"))
        elif node.strip() in lik:
            problems.append(Problem(f"--soft {item}", f"'{node.strip()}' has a likelihood "
                                    "already", "multiply the two vectors into one"))
        else:
            lik[node.strip()] = numbers
    if problems:
        raise EvidenceError("bad evidence on the command line", problems)
    return hard, lik


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
