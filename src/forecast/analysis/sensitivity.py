"""Which uncertain CPT parameters move a scenario most: the input of a tornado plot."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.analysis.draws import check_target
from forecast.inference.result import Forecast
from forecast.model.parameters import parameters
from forecast.model.schema import ModelSpec

__all__ = ['parameter_labels', 'parameter_sensitivity']


# ============================================================================ sensitivity
def parameter_labels(spec: ModelSpec) -> dict[str, str]:
    """Readable names of a forecast's parameter coordinates (``theta``'s ``parameter``).

    Parameters
    ----------
    spec : ModelSpec
        The model.

    Returns
    -------
    dict of str to str
        E.g. ``"caliphate.effect.conflict=worsening"`` → ``"caliphate | effect of
        conflict=worsening (raises, moderate)"``; each state of a whole table row gets its own
        entry (``"conflict.row[reconciliation=failed][2]"`` → ``"conflict | P(worsening) when
        reconciliation=failed"``).
    """
    out = {}
    for p in parameters(spec):
        when = ", ".join(f"{a}={b}" for a, b in p.when)
        cond = f" when {when}" if when else ""
        label = getattr(p.prior, "label", "")
        word = f" ({label.split(' (')[0].strip()})" if label else ""
        if p.role == "row" and p.shape:
            for j, s in enumerate(spec.states[p.node]):
                out[f"{p.name}[{j}]"] = f"{p.node} | P({s}){cond}"
        elif p.role == "row":
            out[p.name] = f"{p.node} | P({p.states[0]}){cond}{word}"
        elif p.role == "baseline":
            out[p.name] = f"{p.node} | baseline{word}"
        elif p.role == "effect":
            out[p.name] = f"{p.node} | effect of {p.parent}={p.states[0]}{word}"
        elif p.role == "leak":
            out[p.name] = f"{p.node} | leak (causes outside the model){word}"
        else:
            out[p.name] = f"{p.node} | link from {p.parent}={'+'.join(p.states)}{word}"
    return out

def _label_of(name: str) -> str:
    """A readable name from the parameter's own dotted name (when no spec is at hand)."""
    head, _, rest = name.partition(".")
    if head == "source" and rest.endswith(".reliability"):
        return f"reliability of source {rest.removesuffix('.reliability')}"
    if head in ("rate", "dispersion"):
        return f"{rest} | count {head}"
    if rest.startswith("row["):
        when = rest[4:].split("]")[0]
        return f"{head} | table row" + (f" when {when}" if when != "0" else "") + rest[
            rest.index("]") + 1:]
    kind, _, what = rest.partition(".")
    text = {"effect": f"effect of {what}", "link": f"link from {what}",
            "leak": "leak (causes outside the model)"}.get(kind, rest)
    return f"{head} | {text}"

def parameter_sensitivity(forecast: Forecast, node: str, state: str, *,
                          spec: ModelSpec | None = None) -> pd.DataFrame:
    """Which uncertain parameters move a scenario most, from the forecast's posterior draws.

    For each parameter the draws are ranked by its value: ``low`` is the mean scenario
    probability over the tenth of the draws where the parameter is lowest, ``high`` over the
    tenth where it is highest. A large ``|swing|`` means the scenario's probability depends on
    how that parameter is resolved (other parameters varying with it as the posterior says:
    a sensitivity of the posterior, not a one-at-a-time perturbation). Parameters the analyst
    fixed do not vary and are left out.

    Parameters
    ----------
    forecast : Forecast
        Any forecast (importance sampling or NUTS).
    node, state : str
        The scenario.
    spec : ModelSpec, optional
        The forecast's model, for labels with state names and prior words; without it labels
        are made from the parameter names.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter``, ``label`` (which CPT entry or effect), ``low``, ``high``,
        ``swing`` (``high - low``), sorted by ``|swing|`` descending; ``attrs["base"]`` is the
        posterior mean of the scenario's probability.

    Raises
    ------
    EvidenceError
        If the forecast has no such node or state.
    """
    post = forecast.idata["posterior"]
    states: dict[str, list[str]] = {}
    for n, s in zip(post["node"].values, post["state"].values, strict=True):
        states.setdefault(str(n), []).append(str(s))
    check_target(states, node, state)
    prob = forecast.probability(node, state).values.reshape(-1)
    names = [str(n) for n in post["parameter"].values]
    theta = post["theta"].values.reshape(-1, len(names))
    varying = np.ptp(theta, axis=0) > 0
    k = max(1, len(prob) // 10)
    order = np.argsort(theta[:, varying], axis=0, kind="stable")
    low, high = prob[order[:k]].mean(axis=0), prob[order[-k:]].mean(axis=0)
    labels = parameter_labels(spec) if spec is not None else {}
    kept = [n for n, v in zip(names, varying, strict=True) if v]
    frame = pd.DataFrame({"parameter": kept,
                          "label": [labels.get(n) or _label_of(n) for n in kept],
                          "low": low, "high": high, "swing": high - low})
    frame = frame.iloc[np.argsort(-np.abs(frame["swing"].to_numpy()), kind="stable")]
    frame = frame.reset_index(drop=True)
    frame.attrs["base"] = float(prob.mean())
    return frame
