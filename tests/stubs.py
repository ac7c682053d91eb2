"""Test doubles of the library's seams (see ``forecaster=`` of the jobs)."""

from __future__ import annotations


def stub_forecast(spec, case, *, seed, as_of, failed=()):
    """A :class:`Forecaster` that runs no inference: ``Forecast.from_draws`` of random draws.

    Every node's states get 400 Dirichlet draws around equal odds (the same for the same seed),
    and the provenance a sampler would record (model hash, evidence, as-of, seed); `failed`
    makes it unpublishable with those reasons. Module-level, so worker processes can unpickle
    it (``functools.partial(stub_forecast, failed=[...])`` too).
    """
    import numpy as np
    import pandas as pd

    from forecast.inference.result import Forecast
    from forecast.provenance import stable_hash

    rng = np.random.default_rng(seed)
    columns = {}
    for node, states in spec.states.items():
        draws = rng.dirichlet(np.full(len(states), 20.0), size=400)
        columns.update({f"{node}={s}": draws[:, j] for j, s in enumerate(states)})
    evidence = [case.to_json()]
    return Forecast.from_draws(pd.DataFrame(columns), observed=set(case.evidence), attrs={
        "model_name": spec.name, "model_hash": spec.fingerprint,
        "evidence_hash": stable_hash({"cases": evidence}), "evidence": evidence,
        "as_of": as_of, "seed": seed, "method": "stub",
        "diagnostics": {"failed": list(failed)}})
