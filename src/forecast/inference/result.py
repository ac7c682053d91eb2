"""The :class:`Forecast` result: posterior scenario probabilities with their provenance.

A forecast is an arviz ``InferenceData`` plus a tidy summary. Groups:

* ``posterior`` — equally weighted draws of the parameters ``theta`` (one per scalar
  parameter component, coordinate ``parameter``) and of every scenario probability ``prob``
  (coordinate ``outcome`` = ``"node=state"``, with ``node`` and ``state`` alongside);
* ``sample_stats`` — what the sampler reports (for importance sampling: the Pareto-smoothed
  log weight of each original draw is kept in the ``forecast`` group instead);
* ``forecast`` — the summary table (weighted mean, 90% HDI, MCSE) as an ``xarray.Dataset``.

Provenance lives in ``posterior.attrs``: model hash, evidence hash, as-of date, versions, seed,
method and the reason it was chosen, diagnostics, and whether the result is publishable.
Saving writes a new file and renames it into place; loading checks the provenance.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from forecast._io import atomic_write
from forecast.errors import ForecastError, Problem, RunStoreError, did_you_mean
from forecast.inference.hooks import forecast_plotter
from forecast.model.words import confidence_label, likelihood_word
from forecast.provenance import canonical_json

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["HDI_PROB", "Forecast", "netcdf_image"]

_PROVENANCE_KEYS = ("model_hash", "evidence_hash", "method", "seed", "versions", "diagnostics",
                    "publishable")
HDI_PROB = 0.9
"""The summary's credible interval: the 90% HDI of the draws, for every sampler."""


def netcdf_image(groups: Mapping[str, xr.Dataset], *,
                 attrs: Mapping[str, Any] | None = None) -> bytes:
    """The bytes of a netCDF-4 file holding `groups`, composed in memory (h5netcdf).

    Laid out as ``arviz.InferenceData.to_netcdf`` lays it out (root attributes, one group per
    dataset, numeric variables zlib-compressed), so ``az.from_netcdf`` and
    ``xarray.open_dataset(path, group=...)`` read the written file; a single dataset under the
    name ``"/"`` is the file's root. Writing the image is one ``write``: nothing on disk is ever
    left to HDF5's error handling.

    Parameters
    ----------
    groups : mapping of str to xarray.Dataset
        Group name to dataset, in the order to write them.
    attrs : mapping, optional
        Attributes of the root group.

    Returns
    -------
    bytes
        The file's content.
    """
    import io

    buffer = io.BytesIO()
    mode: Literal["w", "a"] = "w"
    if attrs:
        xr.Dataset(attrs=dict(attrs)).to_netcdf(buffer, mode=mode, engine="h5netcdf")
        mode = "a"
    for name, data in groups.items():
        encoding: dict[Any, dict[str, Any]] = {
            var: {"zlib": True} for var, values in data.variables.items()
            if values.dtype.kind in "biufcS"}
        data.to_netcdf(buffer, mode=mode, group=None if name == "/" else name,
                       engine="h5netcdf", encoding=encoding)
        mode = "a"
    return buffer.getvalue()


@dataclass
class Forecast:
    """Posterior scenario probabilities: an ``InferenceData`` and a tidy summary.

    Attributes
    ----------
    idata : arviz.InferenceData
        Draws, sampler statistics, the summary group and provenance (``posterior.attrs``).
    """

    idata: az.InferenceData

    @classmethod
    def from_draws(
        cls,
        draws: pd.DataFrame | np.ndarray,
        *,
        outcomes: Sequence[str] | None = None,
        observed: Collection[str] = (),
        attrs: Mapping[str, Any] | None = None,
    ) -> Forecast:
        """A forecast from given draws of scenario probabilities: no model, no inference.

        For tests and for draws computed elsewhere. The summary is computed as the samplers
        compute theirs from equally weighted draws: the mean, the 90% HDI and the Monte Carlo
        standard error ``sd / sqrt(draws)``. There are no parameter draws (``theta``), so
        analyses that need them (sensitivity, attribution) do not apply.

        Parameters
        ----------
        draws : pandas.DataFrame or ndarray
            One row per draw, one column per outcome: a DataFrame's columns are named
            ``"node=state"``; an array of shape ``(draws, outcomes)`` (or ``(chains, draws,
            outcomes)``) takes its names from `outcomes`.
        outcomes : sequence of str, optional
            ``"node=state"`` of each column of an array (a DataFrame's own columns otherwise).
        observed : collection of str
            Nodes observed or set in the case: their draws are kept, but they have no row in
            the summary, as in a sampler's forecast.
        attrs : mapping, optional
            Provenance, over defaults that say where the forecast came from: ``model_name``,
            ``model_hash``, ``evidence_hash``, ``as_of`` (``""``), ``method`` (``"draws"``),
            ``seed`` (0), ``versions`` and ``diagnostics`` (``{"failed": []}``); ``publishable``
            is 1 when ``diagnostics["failed"]`` is empty. Dicts and lists are stored as JSON,
            as the samplers store them.

        Returns
        -------
        Forecast

        Raises
        ------
        ForecastError
            If the draws are not 2-D or 3-D, are empty, their names are not ``"node=state"``
            or repeat, or a probability is outside [0, 1].

        Examples
        --------
        >>> import pandas as pd
        >>> f = Forecast.from_draws(pd.DataFrame({"war=yes": [0.2, 0.4], "war=no": [0.8, 0.6]}))
        >>> round(float(f.sel(node="war", state="yes")["mean"]), 2)
        0.3
        """
        if isinstance(draws, pd.DataFrame):
            names = [str(c) for c in draws.columns] if outcomes is None else list(outcomes)
            values = draws.to_numpy(dtype=float)
        else:
            names = list(outcomes or [])
            values = np.asarray(draws, dtype=float)
        if values.ndim == 2:
            values = values[None]
        problems = []
        if values.ndim != 3 or values.shape[1] == 0:
            problems.append(Problem(f"expected (draws, outcomes) or (chains, draws, outcomes) "
                                    f"with draws, got shape {np.shape(draws)}", field="draws"))
        elif len(names) != values.shape[-1]:
            problems.append(Problem(f"{len(names)} names for {values.shape[-1]} columns",
                                    field="outcomes", hint='name each column "node=state"'))
        elif np.any((values < 0) | (values > 1)) or not np.all(np.isfinite(values)):
            problems.append(Problem("a probability is outside [0, 1]", field="draws"))
        bad = [n for n in names if n.count("=") != 1 or n.startswith("=") or n.endswith("=")]
        problems += [Problem(f'{n!r} is not "node=state"', field="outcomes") for n in bad]
        if len(set(names)) != len(names):
            problems.append(Problem("an outcome is named twice", field="outcomes"))
        if problems:
            raise ForecastError("Forecast.from_draws: these are not draws of probabilities",
                                problems)
        pairs = [tuple(n.split("=")) for n in names]
        flat = values.reshape(-1, values.shape[-1])
        mean = flat.mean(axis=0)
        mcse = flat.std(axis=0) / np.sqrt(len(flat))
        given = dict(attrs or {})
        diagnostics = given.get("diagnostics", {"failed": []})
        provenance: dict[str, Any] = {
            "model_name": "", "model_hash": "", "evidence_hash": "", "evidence": [],
            "as_of": "", "interventions": {}, "method": "draws",
            "method_reason": "given draws (Forecast.from_draws): no inference", "seed": 0,
            "versions": {}, "diagnostics": diagnostics,
            "publishable": int(not diagnostics.get("failed")),
            **given,
        }
        provenance["publishable"] = int(provenance["publishable"])  # netCDF has no booleans
        encoded = {k: canonical_json(v) if isinstance(v, dict | list | tuple) else v
                   for k, v in provenance.items()}
        return cls.from_samples([(n, s) for n, s in pairs], values, mean, mcse, encoded,
                                observed=observed)

    @classmethod
    def from_samples(
        cls,
        outcomes: Sequence[tuple[str, str]],
        probs: np.ndarray,
        mean: np.ndarray,
        mcse: np.ndarray,
        attrs: Mapping[str, Any],
        *,
        theta: np.ndarray | None = None,
        parameters: Sequence[str] = (),
        observed: Collection[str] = (),
        groups: Mapping[str, xr.Dataset] | None = None,
    ) -> Forecast:
        """The forecast of a sampler: its equally weighted draws and its own summary.

        What every sampler (importance sampling, NUTS, IBIS) and :meth:`from_draws` assemble:
        the ``posterior`` group (``prob``, and ``theta`` if given), the ``forecast`` summary
        (the sampler's mean and MCSE, the 90% HDI of the draws) without the observed nodes,
        and any further groups.

        Parameters
        ----------
        outcomes : sequence of (str, str)
            ``(node, state)`` of each column of `probs`.
        probs : ndarray, shape (chain, draw, outcome)
            Equally weighted draws of every probability.
        mean, mcse : ndarray, shape (outcome,)
            The sampler's estimates (weighted, for a weighted sampler).
        attrs : mapping
            Provenance as stored (dicts and lists already JSON text).
        theta : ndarray, shape (chain, draw, parameter), optional
            Parameter draws, named by `parameters`.
        observed : collection of str
            Nodes with no summary row (observed or set).
        groups : mapping of str to xarray.Dataset, optional
            Further groups (``sample_stats`` as arviz's own).

        Returns
        -------
        Forecast
        """
        labels = [f"{n}={s}" for n, s in outcomes]
        hdi = np.asarray(az.hdi(probs, hdi_prob=HDI_PROB))  # (outcome, 2)
        chains, draws = probs.shape[:2]
        data = {"prob": (("chain", "draw", "outcome"), probs)}
        coords: dict[str, Any] = {
            "chain": np.arange(chains), "draw": np.arange(draws), "outcome": labels,
            "node": ("outcome", [n for n, _ in outcomes]),
            "state": ("outcome", [s for _, s in outcomes])}
        if theta is not None:
            data = {"theta": (("chain", "draw", "parameter"), theta), **data}
            coords["parameter"] = list(parameters)
        posterior = xr.Dataset(data, coords=coords, attrs=dict(attrs))
        keep = [i for i, (n, _) in enumerate(outcomes) if n not in set(observed)]
        summary = xr.Dataset(
            {"mean": ("outcome", mean[keep]), "hdi_low": ("outcome", hdi[keep, 0]),
             "hdi_high": ("outcome", hdi[keep, 1]), "mcse": ("outcome", mcse[keep])},
            coords={"outcome": [labels[i] for i in keep],
                    "node": ("outcome", [outcomes[i][0] for i in keep]),
                    "state": ("outcome", [outcomes[i][1] for i in keep])},
        )
        extra = dict(groups or {})
        standard = {k: extra.pop(k) for k in list(extra) if k == "sample_stats"}
        # arviz's signature puts its bool flag beside **groups, so a dict of groups cannot match
        idata = az.InferenceData(posterior=posterior, **standard)  # type: ignore[arg-type]
        idata.add_groups({"forecast": summary, **extra})
        return cls(idata)

    @property
    def attrs(self) -> dict:
        """Provenance, with JSON-encoded fields decoded."""
        out = {}
        for key, value in self.idata["posterior"].attrs.items():
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            out[key] = value
        return out

    @property
    def publishable(self) -> bool:
        """Whether every diagnostic passed its threshold."""
        return bool(self.attrs.get("publishable"))

    @property
    def summary(self) -> pd.DataFrame:
        """One row per (node, state): mean, 90% HDI, MCSE, likelihood word, confidence."""
        ds = self.idata["forecast"]
        frame = pd.DataFrame({
            "node": ds["node"].values.astype(str),
            "state": ds["state"].values.astype(str),
            "mean": ds["mean"].values,
            "hdi_5%": ds["hdi_low"].values,
            "hdi_95%": ds["hdi_high"].values,
            "mcse": ds["mcse"].values,
        })
        frame["likelihood"] = [likelihood_word(p) for p in frame["mean"]]
        frame["confidence"] = [confidence_label(h - lo) for lo, h in
                               zip(frame["hdi_5%"], frame["hdi_95%"], strict=True)]
        return frame

    @property
    def horizons(self) -> pd.DataFrame:
        """Scenario probabilities over horizons (forecasts of a dynamic model).

        Returns
        -------
        pandas.DataFrame
            One row per (horizon, node, state): ``horizon`` in steps after the as-of step; for
            an event, the probability that it happens within that many steps (its first state:
            that it does not); for a condition, its state ``horizon`` steps ahead; mean, 90%
            HDI, MCSE. Empty (same columns) for a forecast without horizons.
        """
        columns = ["horizon", "node", "state", "mean", "hdi_5%", "hdi_95%", "mcse"]
        if "horizons" not in self.idata.groups():
            return pd.DataFrame(columns=columns)
        ds = self.idata["horizons"]
        return pd.DataFrame({
            "horizon": ds["horizon"].values.astype(int),
            "node": ds["node"].values.astype(str),
            "state": ds["state"].values.astype(str),
            "mean": ds["mean"].values, "hdi_5%": ds["hdi_low"].values,
            "hdi_95%": ds["hdi_high"].values, "mcse": ds["mcse"].values})[columns]

    def probability(self, node: str, state: str) -> xr.DataArray:
        """Posterior draws of ``P(node = state | e, θ)``."""
        return self.idata["posterior"]["prob"].sel(outcome=f"{node}={state}")

    def sel(self, node: str | None = None, state: str | None = None) -> pd.Series | pd.DataFrame:
        """Rows of :attr:`summary`: one outcome, one node's states, or one state across nodes.

        Parameters
        ----------
        node : str, optional
            A forecast node.
        state : str, optional
            One of its states; without `node`, every node that has a state of that name.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            With `node` and `state`, a Series named ``"node=state"`` (mean, hdi_5%, hdi_95%,
            mcse, likelihood, confidence); with `node` only, a DataFrame indexed by state;
            with `state` only, a DataFrame indexed by node.

        Raises
        ------
        ForecastError
            If neither is given, a name is unknown (with the closest names), or the node is
            observed or set in this forecast (it has no forecast).

        Examples
        --------
        >>> f.sel(node="caliphate_declared", state="yes")["mean"]        # doctest: +SKIP
        0.63
        >>> f.sel(node="afghan_conflict")                                # doctest: +SKIP
        """
        if node is None and state is None:
            raise ForecastError("sel needs a node, a state or both", [Problem(
                "nothing selected", hint='e.g. f.sel(node="caliphate", state="yes")', field="sel")])
        summary = self.summary.set_index(["node", "state"])
        states = self._states()
        if node is not None:
            if node not in states:
                raise ForecastError(f"'{node}' is not a node of this forecast", [Problem(
                    "unknown node", field=f"sel(node={node!r})",
                    hint=did_you_mean(node, states) or f"nodes: {', '.join(states)}")])
            if node not in summary.index.get_level_values("node"):
                raise ForecastError(f"'{node}' is observed or set in this forecast", [Problem(
                    "a node with evidence or do() has no forecast", field=f"sel(node={node!r})",
                    hint="its state is in the case; select another node")])
        known = states[node] if node is not None else list(dict.fromkeys(
            s for node_states in states.values() for s in node_states))
        if state is not None and state not in known:
            where = f"sel(node={node!r}, state={state!r})" if node else f"sel(state={state!r})"
            raise ForecastError(f"'{state}' is not a state of {node or 'any node'}", [Problem(
                "unknown state", field=where, hint=did_you_mean(state, known) or f"states: "
                f"{', '.join(known)}")])
        if node is None:
            return summary.xs(state, level="state")
        if state is None:
            return summary.xs(node, level="node")
        row = summary.loc[(node, state)]
        row.name = f"{node}={state}"
        return row

    def to_xarray(self) -> xr.Dataset:
        """The forecast as a cube over ``node`` × ``state``, with the draws along ``draw``.

        Nodes have different states, so the cube is padded: a state that is not one of a
        node's holds NaN. Chains (NUTS) are laid end to end along ``draw``.

        Returns
        -------
        xarray.Dataset
            ``mean``, ``hdi_5%``, ``hdi_95%``, ``mcse`` over (node, state), NaN for nodes
            observed or set; ``prob`` over (draw, node, state): the equally weighted posterior
            draws of every probability (observed nodes included); the provenance as attrs.
        """
        prob = self.idata["posterior"]["prob"]
        nodes = list(dict.fromkeys(prob["node"].values.astype(str)))
        state_names = list(dict.fromkeys(prob["state"].values.astype(str)))
        node_at = {n: i for i, n in enumerate(nodes)}
        state_at = {s: i for i, s in enumerate(state_names)}

        def cube(values: np.ndarray, node: np.ndarray, state: np.ndarray) -> np.ndarray:
            out = np.full((*values.shape[:-1], len(nodes), len(state_names)), np.nan)
            out[..., [node_at[n] for n in node], [state_at[s] for s in state]] = values
            return out

        draws = prob.transpose("chain", "draw", "outcome").values
        draws = draws.reshape(-1, draws.shape[-1])
        ds = xr.Dataset(
            {"prob": (("draw", "node", "state"),
                      cube(draws, prob["node"].values.astype(str),
                           prob["state"].values.astype(str)))},
            coords={"draw": np.arange(len(draws)), "node": nodes, "state": state_names},
            attrs=dict(self.idata["posterior"].attrs))
        summary = self.idata["forecast"]
        at = (summary["node"].values.astype(str), summary["state"].values.astype(str))
        for name, var in (("mean", "mean"), ("hdi_5%", "hdi_low"), ("hdi_95%", "hdi_high"),
                          ("mcse", "mcse")):
            ds[name] = (("node", "state"), cube(summary[var].values, *at))
        return ds[["mean", "hdi_5%", "hdi_95%", "mcse", "prob"]]

    def plot(self, nodes: Sequence[str] | str | None = None, *, ax: Axes | None = None) -> Figure:
        """Draw the scenario probabilities: :func:`forecast.plots.plot_scenarios` of this forecast.

        Parameters
        ----------
        nodes : sequence of str, optional
            Nodes or ``node=state`` outcomes (default: the model's scenarios).
        ax : matplotlib Axes, optional
            Where to draw.

        Returns
        -------
        matplotlib.figure.Figure

        Notes
        -----
        Figures belong to the report layer, which this layer may not import; the drawing
        function is registered by the package's top level (:mod:`forecast.inference.hooks`).
        """
        return forecast_plotter()(self, nodes, ax=ax)

    def _states(self) -> dict[str, list[str]]:
        """Every node of the forecast (observed ones too) with its states, in model order."""
        prob = self.idata["posterior"]["prob"]
        states: dict[str, list[str]] = {}
        for n, s in zip(prob["node"].values.astype(str), prob["state"].values.astype(str),
                        strict=True):
            states.setdefault(n, []).append(s)
        return states

    def _repr_html_(self) -> str:
        """The summary as an HTML table with interval bars (Jupyter's display)."""
        from forecast.inference.html import forecast_html  # Jinja2 only when displayed

        return forecast_html(self)

    def __repr__(self) -> str:
        a = self.attrs
        return (f"Forecast({a.get('model_name')!r}, method={a.get('method')}, "
                f"publishable={self.publishable})\n{self.summary.to_string(index=False)}")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to netCDF atomically (a temporary file in the same folder, then a rename).

        The file is composed in memory (:func:`netcdf_image`) and written as bytes, so a full
        disk or an I/O error is an ``OSError`` from one plain write, never HDF5 failing halfway
        through a file of its own; the target is then untouched.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        groups = {name: getattr(self.idata, name) for name in self.idata.groups()}
        return atomic_write(path, netcdf_image(groups, attrs=self.idata.attrs))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, model_hash: str | None = None,
             evidence_hash: str | None = None) -> Forecast:
        """Read a saved forecast and check its provenance.

        Parameters
        ----------
        path : path-like
            A file written by :meth:`save`.
        model_hash, evidence_hash : str, optional
            If given, the stored hashes must match (the forecast is of this model and evidence).

        Raises
        ------
        RunStoreError
            If the file is missing, unreadable, lacks provenance or does not match.
        """
        path = Path(path)
        if not path.is_file():
            raise RunStoreError(f"{path}: no such forecast file")
        try:
            idata = az.from_netcdf(path)
        except Exception as exc:  # h5py/netCDF raise many kinds for a damaged file
            raise RunStoreError(f"{path}: not a readable netCDF forecast ({exc})") from None
        problems = []
        if "posterior" not in idata.groups() or "forecast" not in idata.groups():
            problems.append(Problem("lacks the posterior or forecast group", file=str(path)))
        else:
            attrs = idata.posterior.attrs
            missing = [k for k in _PROVENANCE_KEYS if k not in attrs]
            if missing:
                problems.append(Problem(f"lacks provenance: {', '.join(missing)}",
                                        file=str(path)))
            for key, want in (("model_hash", model_hash), ("evidence_hash", evidence_hash)):
                if want is not None and attrs.get(key) != want:
                    problems.append(Problem(
                        f"{key} {str(attrs.get(key))[:12]}… does not match {want[:12]}…",
                        file=str(path), hint="the file is a forecast of another model or evidence"))
        if problems:
            raise RunStoreError(f"{path}: cannot use this forecast", problems)
        return cls(idata)
