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
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import pandas as pd
import xarray as xr

from forecast._io import atomic_write
from forecast.errors import Problem, RunStoreError
from forecast.model.words import confidence_label, likelihood_word

__all__ = ["Forecast"]

_PROVENANCE_KEYS = ("model_hash", "evidence_hash", "method", "seed", "versions", "diagnostics",
                    "publishable")


@dataclass
class Forecast:
    """Posterior scenario probabilities: an ``InferenceData`` and a tidy summary.

    Attributes
    ----------
    idata : arviz.InferenceData
        Draws, sampler statistics, the summary group and provenance (``posterior.attrs``).
    """

    idata: az.InferenceData

    @property
    def attrs(self) -> dict:
        """Provenance, with JSON-encoded fields decoded."""
        out = {}
        for key, value in self.idata.posterior.attrs.items():
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

    def probability(self, node: str, state: str) -> xr.DataArray:
        """Posterior draws of ``P(node = state | e, θ)``."""
        return self.idata.posterior["prob"].sel(outcome=f"{node}={state}")

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
        """Write to netCDF atomically (a temporary file in the same folder, then a rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, self.idata.to_netcdf)

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
            problems.append(Problem(str(path), "lacks the posterior or forecast group"))
        else:
            attrs = idata.posterior.attrs
            missing = [k for k in _PROVENANCE_KEYS if k not in attrs]
            if missing:
                problems.append(Problem(str(path), f"lacks provenance: {', '.join(missing)}"))
            for key, want in (("model_hash", model_hash), ("evidence_hash", evidence_hash)):
                if want is not None and attrs.get(key) != want:
                    problems.append(Problem(
                        str(path), f"{key} {str(attrs.get(key))[:12]}… does not match "
                        f"{want[:12]}…", "the file is a forecast of another model or evidence"))
        if problems:
            raise RunStoreError(f"{path}: cannot use this forecast", problems)
        return cls(idata)
