"""Plain-text rendering for the terminal: every report the CLI prints is built here.

Each function takes a computed result (a spec, a posterior, a forecast, an update, a history, a
replay) and returns a string; nothing is computed, read or written here, and nothing heavy is
imported (the CLI's cold start stays light), so ``forecast validate`` does not pay for pandas.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os

    import pandas as pd

    from forecast.inference.result import Forecast
    from forecast.inference.scenario import ScenarioPosterior
    from forecast.model.schema import ModelSpec
    from forecast.network.exact import MostProbable, Posterior
    from forecast.ops.update import UpdateResult

__all__ = ["forecast_table", "history_text", "marginals_table", "most_probable_text", "replay_text",
           "spec_summary", "update_text"]

_BAR = 20


def marginals_table(
    post: Posterior,
    evidence: Mapping[str, str] | None = None,
    soft: Mapping[str, object] | None = None,
    nodes: Sequence[str] | None = None,
    *,
    interventions: Mapping[str, str] | None = None,
    counts: Mapping[str, int] | None = None,
) -> str:
    """Format every node's marginal as an aligned table with bars.

    Parameters
    ----------
    post : Posterior
        An unbatched exact query result.
    evidence, soft : mapping, optional
        The findings, echoed in the header and marked in the table.
    nodes : sequence of str, optional
        Only these nodes (default: all).
    interventions : mapping of str to str, optional
        The ``do()`` settings the query was made under, echoed in the header and marked.
    counts : mapping of str to int, optional
        The counts behind some of the soft findings, echoed as such.

    Returns
    -------
    str
    """
    evidence = dict(evidence or {})
    soft = dict(soft or {})
    do = dict(interventions or {})
    counted = dict(counts or {})
    findings = [f"{n}={s}" for n, s in evidence.items()]
    findings += [f"{n}~soft" for n in soft if n not in counted]
    findings += [f"count({n})={y}" for n, y in counted.items()]
    findings += [f"do({n}={s})" for n, s in do.items()]
    header = f"P(node | {', '.join(findings)})" if findings else "P(node), no evidence"
    lines = [f"{post.network.name}: {header}    log P(e) = {post.log_evidence:.6g}", ""]
    shown = {n: post.marginals[n] for n in (nodes or post.marginals)}
    width_n = max(len(n) for n in shown)
    width_s = max(len(s) for ss in post.network.states.values() for s in ss)
    for node, probs in shown.items():
        mark = ("  (observed)" if node in evidence else "  (set)" if node in do
                else "  (counted)" if node in counted
                else "  (soft finding)" if node in soft else "")
        for i, (state, p) in enumerate(zip(post.network.states[node], probs, strict=True)):
            name = node if i == 0 else ""
            bar = "█" * round(float(p) * _BAR)
            lines.append(f"{name:<{width_n}}  {state:<{width_s}}  {p:7.4f}  {bar:<{_BAR}}"
                         f"{mark if i == 0 else ''}")
    return "\n".join(lines)


def most_probable_text(
    best: MostProbable,
    soft: Mapping[str, object] | None = None,
    interventions: Mapping[str, str] | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    posterior: ScenarioPosterior | None = None,
    counts: Mapping[str, int] | None = None,
) -> str:
    """Format the most probable joint scenario: one line per unobserved node, then its odds.

    Parameters
    ----------
    best : MostProbable
        From :meth:`ExactEngine.mpe <forecast.network.exact.ExactEngine.mpe>`.
    soft : mapping, optional
        The soft findings, echoed in the header and marked in the table.
    interventions : mapping of str to str, optional
        The ``do()`` settings, echoed in the header (their nodes are not listed).
    labels : mapping of str to str, optional
        A label per node (a model's), printed beside its state.
    posterior : ScenarioPosterior, optional
        The scenario's probability over the parameter posterior: mean and 90% interval.
    counts : mapping of str to int, optional
        The counts behind some of the soft findings, echoed as such.

    Returns
    -------
    str
    """
    soft = dict(soft or {})
    do = dict(interventions or {})
    counted = dict(counts or {})
    findings = [f"{n}={s}" for n, s in best.evidence.items() if n not in do]
    findings += [f"{n}~soft" for n in soft if n not in counted]
    findings += [f"count({n})={y}" for n, y in counted.items()]
    findings += [f"do({n}={s})" for n, s in do.items()]
    given = ", ".join(findings) or "no evidence"
    lines = [f"{best.network.name}: the most probable joint scenario given {given}", ""]
    shown = {n: s for n, s in best.assignment.items() if n not in do}
    if shown:
        width_n = max(len(n) for n in shown)
        width_s = max(len(s) for s in shown.values())
        for node, state in shown.items():
            mark = ("  (counted)" if node in counted
                    else "  (soft finding)" if node in soft else "")
            label = f"  {labels[node]}" if labels and labels.get(node) else ""
            lines.append(f"{node:<{width_n}} = {state:<{width_s}}{label}{mark}".rstrip())
    else:
        lines.append("every node is observed or set: nothing left to choose")
    lines += ["", f"P(scenario | {given}) = {best.conditional:.6g}    "
                  f"P(scenario, e) = {best.joint:.6g}    log P(e) = {best.log_evidence:.6g}"]
    if posterior is not None:
        lines.append(f"over the parameter posterior: mean {posterior.mean:.4g}, 90% interval "
                     f"[{posterior.low:.4g}, {posterior.high:.4g}] ({posterior.draws.size} draws)")
    if best.ties:
        lines.append("tie: another scenario is as probable (within 1e-9); of the tied "
                     "choices, the one with the lowest state indices is shown")
    return "\n".join(lines)


def spec_summary(spec: ModelSpec, width: int = 120) -> str:
    """One-screen summary of a validated model: nodes, forms, parents, claim use.

    Parameters
    ----------
    spec : ModelSpec
        A validated model.
    width : int
        Longest line; long cells are shortened with an ellipsis.
    """
    usage = spec.claim_usage()
    meta = spec.model
    lines = [
        f"{meta.name}: {meta.title}" if getattr(meta, "title", None) else meta.name,
        f"valid: {len(spec.nodes)} nodes, "
        f"{sum(len(p) for p in spec.parents.values())} edges, {len(usage)} claims",
        "",
    ]
    cols = ["node", "states", "kind", "form", "n_params", "parents"]
    table = [{"node": name, "states": ", ".join(node.states), "kind": node.definition.kind,
              "form": node.cpt.form, "n_params": str(node.n_params()),
              "parents": ", ".join(node.parents)} for name, node in spec.nodes.items()]
    for row in table:  # the columns of spec.summary(), without building a DataFrame
        row["states"] = row["states"] if len(row["states"]) <= 22 else row["states"][:21] + "…"
    widths = {c: max(len(c), *(len(row[c]) for row in table)) for c in cols[:-1]}
    room = max(12, width - sum(widths.values()) - 2 * (len(cols) - 1))

    def cell(text: str, size: int) -> str:
        return text if len(text) <= size else text[: size - 1] + "…"

    lines.append("  ".join([*(c.ljust(widths[c]) for c in cols[:-1]), "parents"]))
    for row in table:
        lines.append("  ".join([*(row[c].ljust(widths[c]) for c in cols[:-1]),
                                cell(row["parents"], room)]).rstrip())
    lines.append("")
    uses = ", ".join(f"{cid} ×{len(users)}" for cid, users in usage.items())
    lines += textwrap.wrap(f"claims (elements citing each): {uses}", width)
    return "\n".join(lines)


def _sampler_line(diag: dict) -> str:
    if "max_rhat" in diag:
        return f" R-hat ≤ {diag['max_rhat']:.3f}, {diag['divergences']} divergences"
    if math.isfinite(diag.get("khat", math.nan)):
        return f" Pareto k {diag['khat']:.2f}"
    return " no evidence (prior draws, equal weights)"


def forecast_table(forecast: Forecast, nodes: Sequence[str] | None = None) -> str:
    """Format a :class:`~forecast.inference.result.Forecast` summary: mean, interval, MCSE, words.

    Parameters
    ----------
    forecast : Forecast
        The result.
    nodes : sequence of str, optional
        Only these nodes (default: all).
    """
    attrs = forecast.attrs
    diag = attrs.get("diagnostics", {})
    evidence = attrs.get("evidence", [{}])[0]
    findings = [f"{n}={s}" for n, s in evidence.get("evidence", {}).items()]
    findings += [f"{n}~soft" for n in evidence.get("soft", {})]
    findings += [f"count({n})={y}" for n, y in evidence.get("counts", {}).items()]
    findings += [f"do({n}={s})" for n, s in attrs.get("interventions", {}).items()]
    lines = [
        f"{attrs.get('model_name')}: P(node | {', '.join(findings) or 'no evidence'}, θ) over "
        f"the posterior of θ",
        f"method {attrs.get('method')}: {diag.get('draws')} draws, ESS {diag.get('ess', 0):.0f},"
        + _sampler_line(diag)
        + ("" if forecast.publishable else "  NOT PUBLISHABLE: " + "; ".join(diag["failed"])),
        "",
    ]
    frame = forecast.summary
    if nodes:
        frame = frame[frame["node"].isin(list(nodes))]
    if frame.empty:
        lines.append("every node shown is observed: nothing left to forecast (try --all)")
        return "\n".join(lines)
    width_n = max(len(n) for n in frame["node"])
    width_s = max(len(s) for s in frame["state"])
    lines.append(f"{'node':<{width_n}}  {'state':<{width_s}}  mean   90% interval    "
                 "mcse    likelihood           confidence")
    last = None
    for row in frame.itertuples(index=False):
        name = row.node if row.node != last else ""
        last = row.node
        lines.append(
            f"{name:<{width_n}}  {row.state:<{width_s}}  {row.mean:.3f}  "
            f"[{row._3:.3f}, {row._4:.3f}]  {row.mcse:.4f}  {row.likelihood:<19}  "
            f"{row.confidence}"
        )
    return "\n".join(lines)


def replay_text(frame: pd.DataFrame, nodes: Sequence[str] | None = None, *,
                columns: int = 4) -> str:
    """The trajectories as text: a row per date, a column per node, then the diagnostics.

    Each cell is the mean and 90% interval. A two-state node shows its second state only (the
    first is its complement); ``observed`` marks a date at which the node had a hard finding
    (so it was not forecast), and a node observed at every date is listed under the table instead;
    ``*`` at the end of a row marks a date whose forecast failed its diagnostics; ``rows`` is the
    number of ledger rows that counted.

    Parameters
    ----------
    frame : pandas.DataFrame
        As returned by :func:`replay_dates`.
    nodes : sequence of str, optional
        Only these nodes (e.g. the model's scenarios); by default every node.
    columns : int
        Nodes per table; more nodes make more tables, one under the other.

    Returns
    -------
    str
    """
    dates = frame["as_of"].drop_duplicates().tolist()
    per_date = frame.drop_duplicates("as_of").set_index("as_of")
    cells = {(r["as_of"], r["node"], r["state"]): f"{r['mean']:.3f} [{r['hdi_5%']:.3f}, "
             f"{r['hdi_95%']:.3f}]" for r in frame.to_dict("records")}
    shown: list[tuple[str, str]] = []
    always_observed: list[str] = []
    for node in frame["node"].drop_duplicates() if nodes is None else nodes:
        names = [s for s in frame.loc[frame["node"] == node, "state"].drop_duplicates()
                 if s]  # a node with a hard finding at every date has no forecast rows
        if not names:
            always_observed.append(node)
        shown += [(node, s) for s in (names[1:] if len(names) == 2 else names)]
    lines: list[str] = []
    for first in range(0, len(shown), columns):
        block = shown[first:first + columns]
        table = [["as of", "rows", *(f"{n} = {s}" for n, s in block)]]
        for day in dates:
            mark = "" if per_date.at[day, "publishable"] else "*"
            table.append([day, str(per_date.at[day, "n_evidence"]),
                          *(cells.get((day, n, s), "observed") for n, s in block), mark])
        table[0].append("")
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in table]
        lines.append("")
    lines += [f"{node}: observed at every date" for node in always_observed]
    if always_observed:
        lines.append("")
    failed = frame.attrs.get("diagnostics_failed") or {}
    span = f"{len(dates)} as-of date{'s' * (len(dates) != 1)}, {dates[0]} to {dates[-1]}"
    if not failed:
        lines.append(f"{span}: every forecast passed its diagnostics")
    else:
        lines.append(f"{span}: {len(failed)} failed their diagnostics (marked *; kept, "
                     "not publishable):")
        lines += [f"  {day}: {'; '.join(reasons)}" for day, reasons in failed.items()]
    return "\n".join(lines)


def update_text(result: UpdateResult) -> str:
    """A short report of an update: what happened, the key judgments, what changed.

    Parameters
    ----------
    result : UpdateResult
        As returned by :func:`forecast.ops.update.update`.

    Returns
    -------
    str
    """
    run = result.run
    assert run is not None or result.status == "unconverged"  # the other two carry a run
    unchanged = result.status in ("unchanged", "unpublishable")  # nothing written either way
    if unchanged and run is not None:
        lines = [f"unchanged: the inputs equal those of run {run.run_id} "
                 f"(as of {run.manifest['as_of']}); nothing written"]
    elif result.status == "published" and run is not None:
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
    if not unchanged:
        lines += _changes_text(result)
    return "\n".join(lines)


def _changes_text(result: Any) -> list[str]:
    if result.previous is None:
        return ["no previous run to compare with"]
    changes = result.changes
    moved = changes[~(changes["delta"].abs() < 0.0005)]  # NaN: observed or new
    lines = [f"changes since run {result.previous.run_id}:" if len(moved) else
             f"no scenario moved since run {result.previous.run_id}"]
    diff = result.evidence_changes()
    if diff is not None and (diff[0] or diff[1]):
        lines.append(f"  ledger rows that count now and did not: {_ids(diff[0])}; "
                     f"that no longer count: {_ids(diff[1])}")
    for row in moved.itertuples(index=False):
        if row.after != row.after:  # NaN: the node is observed now, not forecast
            lines.append(f"  {row.node} = {row.state}: {row.before:.3f} -> observed")
        elif row.before != row.before:
            lines.append(f"  {row.node} = {row.state}: new, {row.after:.3f}")
        else:
            lines.append(f"  {row.node} = {row.state}: {row.before:.3f} -> "
                         f"{row.after:.3f} ({row.delta:+.3f})")
    return lines


def _ids(ids: list[str], most: int = 8) -> str:
    """``E001, E002 and 3 more``, or ``none``."""
    if not ids:
        return "none"
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def history_text(frame: pd.DataFrame, model_name: str,
                 runs_dir: str | os.PathLike[str]) -> str:
    """Each scenario's mean and 90% interval over the runs, one block per outcome.

    Parameters
    ----------
    frame : pandas.DataFrame
        As returned by :func:`forecast.ops.update.history`.
    model_name : str
        The model, for the message when there are no runs.
    runs_dir : path-like
        The run store, for the same message.

    Returns
    -------
    str
    """
    if frame.empty:
        return f"no runs of {model_name} under {runs_dir}"
    lines = []
    for (node, state), rows in frame.groupby(["node", "state"], sort=False):
        lines.append(f"{node} = {state}")
        for row in rows.to_dict("records"):
            flag = "" if row["publishable"] else "  (not publishable)"
            lines.append(f"  {row['as_of']}  {row['mean']:.3f} [{row['hdi_5%']:.3f}, "
                         f"{row['hdi_95%']:.3f}]  {row['method']}  {row['run_id']}{flag}")
    return "\n".join(lines)
