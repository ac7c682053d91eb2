"""Plain-text rendering of specs and query results for the terminal (no computation here)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecast.network.exact import Posterior

__all__ = ["forecast_table", "marginals_table", "replay_text", "spec_summary"]

_BAR = 20


def marginals_table(
    post: Posterior,
    evidence: Mapping[str, str] | None = None,
    soft: Mapping[str, object] | None = None,
    nodes: Sequence[str] | None = None,
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

    Returns
    -------
    str
    """
    evidence = dict(evidence or {})
    soft = dict(soft or {})
    findings = [f"{n}={s}" for n, s in evidence.items()] + [f"{n}~soft" for n in soft]
    header = f"P(node | {', '.join(findings)})" if findings else "P(node), no evidence"
    lines = [f"{post.network.name}: {header}    log P(e) = {post.log_evidence:.6g}", ""]
    shown = {n: post.marginals[n] for n in (nodes or post.marginals)}
    width_n = max(len(n) for n in shown)
    width_s = max(len(s) for ss in post.network.states.values() for s in ss)
    for node, probs in shown.items():
        mark = "  (observed)" if node in evidence else "  (soft finding)" if node in soft else ""
        for i, (state, p) in enumerate(zip(post.network.states[node], probs, strict=True)):
            name = node if i == 0 else ""
            bar = "█" * round(float(p) * _BAR)
            lines.append(f"{name:<{width_n}}  {state:<{width_s}}  {p:7.4f}  {bar:<{_BAR}}"
                         f"{mark if i == 0 else ''}")
    return "\n".join(lines)


def spec_summary(spec, width: int = 120) -> str:
    """One-screen summary of a validated model: nodes, forms, parents, claim use.

    Parameters
    ----------
    spec : ModelSpec
        A validated model.
    width : int
        Longest line; long cells are shortened with an ellipsis.
    """
    frame = spec.summary()
    usage = spec.claim_usage()
    meta = spec.model
    lines = [
        f"{meta.name}: {meta.title}" if getattr(meta, "title", None) else meta.name,
        f"valid: {len(frame)} nodes, "
        f"{sum(len(p) for p in spec.parents.values())} edges, {len(usage)} claims",
        "",
    ]
    cols = ["node", "states", "kind", "form", "n_params", "parents"]
    table = frame[cols].astype(str)
    table["states"] = [v if len(v) <= 22 else v[:21] + "…" for v in table["states"]]
    widths = {c: max(len(c), *(len(v) for v in table[c])) for c in cols[:-1]}
    room = max(12, width - sum(widths.values()) - 2 * (len(cols) - 1))

    def cell(text: str, size: int) -> str:
        return text if len(text) <= size else text[: size - 1] + "…"

    lines.append("  ".join([*(c.ljust(widths[c]) for c in cols[:-1]), "parents"]))
    for _, row in table.iterrows():
        lines.append("  ".join([*(row[c].ljust(widths[c]) for c in cols[:-1]),
                                cell(row["parents"], room)]).rstrip())
    lines.append("")
    uses = ", ".join(f"{cid} ×{len(users)}" for cid, users in usage.items())
    lines += textwrap.wrap(f"claims (elements citing each): {uses}", width)
    return "\n".join(lines)


def _sampler_line(diag: dict) -> str:
    if "max_rhat" in diag:
        return f" R-hat ≤ {diag['max_rhat']:.3f}, {diag['divergences']} divergences"
    if np.isfinite(diag.get("khat", np.nan)):
        return f" Pareto k {diag['khat']:.2f}"
    return " no evidence (prior draws, equal weights)"


def forecast_table(forecast, nodes: Sequence[str] | None = None) -> str:
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
