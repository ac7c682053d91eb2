"""Sampler diagnostics of a forecast: NUTS chains (density, rank bars) or importance weights."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence

import arviz as az
import numpy as np
import xarray as xr
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.figure import Figure

from forecast.errors import ForecastError, Problem, did_you_mean
from forecast.inference.importance import KHAT_MAX, MIN_ESS
from forecast.inference.result import Forecast
from forecast.report.plots._common import EVENT_COLOUR, wrap
from forecast.report.plots.network import positive_state
from forecast.report.plots.style import INK, MUTED, with_style

__all__ = ["plot_diagnostics"]


@with_style
def plot_diagnostics(forecast: Forecast, *, var_names: Sequence[str] = ("theta",),
                     max_params: int = 8) -> Figure:
    """Sampler diagnostics of a forecast.

    * NUTS: for the `max_params` components of `var_names` with the worst R-hat, each chain's
      density (left) and rank bars (right; uniform when the chains agree), with R-hat and
      bulk ESS in each title and the divergences in the figure title.
    * Importance sampling: the largest normalised weights against the uniform weight, with the
      Pareto k̂ (reliable below 0.7); the share of weight carried by the top draws, with the
      effective sample size; and each reported probability's Monte Carlo standard error.
      `var_names` and `max_params` are not used.

    Parameters
    ----------
    forecast : Forecast
        A posterior forecast.
    var_names : sequence of str
        Posterior variables to inspect (NUTS): ``theta`` and / or ``prob``.
    max_params : int
        How many components to show (NUTS).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ForecastError
        If a variable is not in the posterior, or the forecast lacks what its method records.
    """
    if not isinstance(forecast, Forecast):
        raise ForecastError(f"plot_diagnostics needs a Forecast, got {type(forecast).__name__}")
    method = str(forecast.attrs.get("method", ""))
    if method.startswith("nuts"):
        return _nuts_diagnostics(forecast, var_names, max_params)
    if "importance" not in forecast.idata.groups():
        raise ForecastError("plot_diagnostics: nothing to show", [Problem(
            f"method '{method or 'unknown'}' and no importance-weight group", field="forecast",
            hint="diagnostics are drawn for NUTS forecasts and importance-sampling forecasts")])
    return _importance_diagnostics(forecast)


def _worst_components(posterior: xr.Dataset, var_names: Iterable[str], n: int
                      ) -> list[tuple[str, str, str]]:
    """(variable, dimension, coordinate) of the `n` non-constant components of largest R-hat."""
    problems, found = [], []
    for i, var in enumerate(var_names):
        if var not in posterior:
            problems.append(Problem(f"'{var}' is not a posterior variable", field=f"var_names[{i}]",
                                    hint=did_you_mean(var, [str(v) for v in posterior.data_vars])))
            continue
        data = posterior[var]
        (dim,) = [str(d) for d in data.dims if d not in ("chain", "draw")]
        values = data.transpose("chain", "draw", dim).values
        varying = np.ptp(values.reshape(-1, values.shape[-1]), axis=0) > 0
        rhat = np.full(values.shape[-1], -np.inf)
        if varying.any():
            rhat[varying] = _rhat(values[..., varying])
        found += [(float(r), var, dim, str(c))
                  for r, c, v in zip(rhat, data[dim].values, varying, strict=True) if v]
    if problems:
        raise ForecastError("plot_diagnostics: cannot plot these variables", problems)
    found.sort(key=lambda t: -t[0])
    return [(var, dim, c) for _, var, dim, c in found[:max(int(n), 1)]]


def _per_component(statistic: Callable[[xr.Dataset], xr.Dataset], values: np.ndarray
                   ) -> np.ndarray:
    """An arviz diagnostic (R-hat, ESS) of each component of draws ``(chain, draw, k)``."""
    data = xr.Dataset({"x": (("chain", "draw", "k"), values)})
    return statistic(data)["x"].values


def _rhat(values: np.ndarray) -> np.ndarray:
    return _per_component(az.rhat, values)


def _ess(values: np.ndarray) -> np.ndarray:
    return _per_component(az.ess, values)


def _nuts_diagnostics(forecast: Forecast, var_names: Sequence[str], max_params: int) -> Figure:
    posterior = forecast.idata["posterior"]
    chosen = _worst_components(posterior, var_names, max_params)
    if not chosen:
        raise ForecastError("plot_diagnostics: every component of "
                            f"{', '.join(var_names)} is constant; nothing to diagnose")
    fig = Figure(figsize=(9.0, 0.6 + 1.55 * len(chosen)), layout="constrained")
    axes = fig.subplots(len(chosen), 2, squeeze=False, width_ratios=(1, 1.4))
    for (var, dim, coord), row in zip(chosen, axes, strict=True):
        with warnings.catch_warnings():
            # arviz 0.23 hands matplotlib >= 3.11 a dict alias map, which it deprecates; the
            # warning is about arviz's internals, not anything a caller can change
            warnings.filterwarnings("ignore", "Passing a dict or None as alias_mapping",
                                    MatplotlibDeprecationWarning)
            az.plot_trace(forecast.idata, var_names=[var], coords={dim: [coord]},
                          kind="rank_bars", compact=False, axes=row[None, :], show=False)
        values = posterior[var].sel({dim: coord}).transpose("chain", "draw").values
        rhat, ess = (float(f(values[..., None])[0]) for f in (_rhat, _ess))
        for a in row:
            a.set_title("")
            a.grid(axis="y", visible=False)
        row[0].set_title(wrap(coord, 58), fontsize=8, fontweight="normal", loc="left")
        row[1].set_title(f"R-hat {rhat:.3f}   bulk ESS {ess:.0f}", fontsize=8,
                         fontweight="normal", loc="left")
        row[0].tick_params(labelsize=7.5)
        row[1].tick_params(labelsize=7.5)
    for row in axes[:-1]:
        row[1].set_xlabel("")
    d = forecast.attrs.get("diagnostics", {})
    status = "publishable" if forecast.publishable else "NOT publishable"
    fig.suptitle(f"NUTS diagnostics ({status}): {d.get('chains', '?')} chains, "
                 f"{d.get('divergences', '?')} divergences, largest R-hat "
                 f"{d.get('max_rhat', float('nan')):.3f}\nThe {len(chosen)} components of "
                 "largest R-hat. Left: density by chain (grey ticks: divergent draws).\n"
                 "Right: rank bars (flat when the chains agree)", fontsize=9, ha="left", x=0.01)
    return fig


def _importance_diagnostics(forecast: Forecast) -> Figure:
    log_w = forecast.idata["importance"]["log_weight"].values
    w = np.exp(log_w[np.isfinite(log_w)])
    w = np.sort(w / w.sum())[::-1]
    d = forecast.attrs.get("diagnostics", {})
    khat, ess = float(d.get("khat", np.nan)), float(d.get("ess", 1.0 / np.sum(w**2)))
    fig = Figure(figsize=(11.0, 3.9), layout="constrained")
    ax_w, ax_c, ax_m = fig.subplots(1, 3, width_ratios=(1, 1, 1.15))
    rank = np.arange(1, len(w) + 1)
    ax_w.loglog(rank, w, color=INK, linewidth=1.4)
    ax_w.axhline(1 / len(w), color=MUTED, linestyle="--", linewidth=1,
                 label="equal weights (1 / draws)")
    verdict = ("not needed: no evidence, all weights equal" if not np.isfinite(khat) else
               f"{khat:.2f}: " + ("reliable" if khat <= KHAT_MAX else "UNRELIABLE")
               + f" (threshold {KHAT_MAX})")
    ax_w.set_title(f"Largest weights\nPareto k̂ {verdict}", fontsize=9)
    ax_w.set_xlabel("draws, heaviest first")
    ax_w.set_ylabel("normalised weight")
    ax_w.legend(loc="lower left")
    ax_c.semilogx(rank, np.cumsum(w), color=INK, linewidth=1.4)
    ax_c.axvline(ess, color=EVENT_COLOUR, linewidth=1.2,
                 label=f"ESS {ess:,.0f} of {len(w):,} draws (min {MIN_ESS})")
    ax_c.set_ylim(0, 1.02)
    ax_c.set_title("Weight carried by the heaviest draws\n(few draws carrying most: degenerate)",
                   fontsize=9)
    ax_c.set_xlabel("number of heaviest draws")
    ax_c.set_ylabel("share of total weight")
    ax_c.legend(loc="upper left", frameon=True, facecolor="white", edgecolor="none")
    summary = forecast.summary
    by_node = summary.groupby("node", sort=False)["state"].agg(list)
    notable = {n: positive_state(states) for n, states in by_node.items()}
    summary = summary[[notable[n] == s for n, s in zip(summary["node"], summary["state"],
                                                        strict=True)]]
    summary = summary.sort_values("mcse", ascending=False).head(14).iloc[::-1]
    y = np.arange(len(summary))
    ax_m.hlines(y, 0, summary["mcse"], color="#aab7c4", linewidth=2)
    ax_m.plot(summary["mcse"], y, "o", color=INK, markersize=4)
    ax_m.set_yticks(y, [f"{n}={s}" for n, s in zip(summary["node"], summary["state"],
                                                    strict=True)], fontsize=7)
    ax_m.set_xlim(0, None)
    ax_m.grid(axis="y", visible=False)
    ax_m.set_title("Monte Carlo standard error\nof the reported probabilities (largest)",
                   fontsize=9)
    ax_m.set_xlabel("MCSE of the probability")
    status = ("publishable" if forecast.publishable else
              "NOT publishable: " + "; ".join(d.get("failed", [])))
    fig.suptitle(f"Importance-sampling diagnostics ({status})", fontsize=10, ha="left", x=0.01)
    return fig

