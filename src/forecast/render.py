"""Plain-text rendering of specs and query results for the terminal (no computation here)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from forecast.exact import Posterior

__all__ = ["forecast_table", "marginals_table", "spec_summary"]

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
    """Format a :class:`~forecast.result.Forecast` summary: mean, 90% interval, MCSE, words.

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
