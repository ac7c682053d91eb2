"""Which findings of a case are less probable together than apart: evidence in conflict."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from forecast.analysis.draws import batch_size, check_case, engine_and_cpts, forecast_values
from forecast.errors import (
    InferenceError,
    Problem,
)
from forecast.evidence.case import Case
from forecast.evidence.lagged import base_node
from forecast.inference.result import Forecast
from forecast.model.parameters import sample_parameters
from forecast.model.schema import ModelSpec

__all__ = ['CONFLICT_ROUNDING', 'evidence_conflict']


CONFLICT_ROUNDING = 1e-9
"""Nats by which a conflict must exceed the threshold to be flagged: sums and differences of
log-probabilities carry rounding error (about 1e-16 per term), which must not flag findings
that the model makes exactly independent."""


# ============================================================================ conflict
def evidence_conflict(
    spec: ModelSpec,
    case: Case,
    *,
    forecast: Forecast | None = None,
    draws: int = 2000,
    seed: int = 0,
    threshold: float = 0.0,
) -> pd.DataFrame:
    """Findings that are jointly improbable under the model (Jensen's conflict measure).

    ``conf(e) = log [Π_i P(e_i) / P(e)]`` (natural log) for the whole case and for each pair
    of findings, with every probability integrated over θ: ``P(e) = E_θ[P(e | θ)]`` under the
    prior (the model's prediction before any evidence), or under the forecast's posterior
    draws when `forecast` is given (what the model has learnt, history cases included — the
    case itself included too, which makes its findings look a little less conflicting).

    Reading it: ``conf > 0`` — the findings are together *less* probable than if they were
    unrelated (``ratio`` = ``exp(conf)`` times less): they pull the model in different
    directions, so one of them may be wrong, mis-coded, or the model misses a mechanism.
    ``conf < 0`` — they support each other (the model expects them together). ``conf ≈ 0`` —
    the model sees them as unrelated. A hard and a soft finding on one node count as one
    finding.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    case : Case
        Hard and soft findings (twins allowed).
    forecast : Forecast, optional
        Use its posterior draws of θ instead of `draws` prior draws.
    draws : int
        Prior draws when no forecast is given (the same draws for every subset, so the
        ratios share their Monte Carlo error).
    seed : int
        Seed of the prior draws.
    threshold : float
        Rows with ``conflict > threshold`` are flagged; an excess below
        :data:`CONFLICT_ROUNDING` nats is rounding error and is not flagged (findings the
        model makes exactly independent compute to ``±2e-16``, not 0).

    Returns
    -------
    pandas.DataFrame
        Columns ``findings`` (text), ``size`` (number of findings), ``first``, ``second``
        (the pair's findings; empty for the whole case), ``conflict``, ``ratio``, ``flagged``.
        The first row is the whole case; then the pairs, most conflicting first.
        A pair that cannot hold together has conflict ``inf``.

    Raises
    ------
    EvidenceError
        A case with reports or counts.
    InferenceError
        If a single finding is impossible under the model.
    """
    check_case(case)
    findings = _findings(case)
    if forecast is not None:
        values = forecast_values(spec, forecast, case)
    else:
        values = sample_parameters(spec, draws, seed)
    engine, cpts = engine_and_cpts(spec, [case], values)
    n = batch_size(cpts)

    def log_p(members: Sequence[int]) -> float:
        evidence = {k: v for i in members for k, v in findings[i][1].items()}
        soft = {k: v for i in members for k, v in findings[i][2].items()}
        ll = engine.log_evidence(evidence, soft, cpts)
        return float(special.logsumexp(ll) - math.log(n))

    single = [log_p([i]) for i in range(len(findings))]
    impossible = [findings[i][0] for i, lp in enumerate(single) if lp == -np.inf]
    if impossible:
        raise InferenceError("a finding is impossible under the model", [Problem(
            "has probability 0 under every draw", field=f, hint="correct it or make it soft")
            for f in impossible])

    def row(members: Sequence[int], first: str = "", second: str = "") -> dict:
        conflict = sum(single[i] for i in members) - log_p(members) if members else 0.0
        names = [findings[i][0] for i in members]
        text = " & ".join(names) if first else f"all {len(names)} findings"
        return {"findings": text if names else "no findings", "size": len(members), "first": first,
                "second": second, "conflict": conflict, "ratio": math.exp(min(conflict, 700)),
                "flagged": conflict > threshold + CONFLICT_ROUNDING}

    pairs = [row([i, j], findings[i][0], findings[j][0])
             for i, j in itertools.combinations(range(len(findings)), 2)]
    pairs.sort(key=lambda r: -r["conflict"])
    frame = pd.DataFrame([row(list(range(len(findings)))), *pairs])
    frame.attrs.update({"threshold": threshold, "draws": n, "units": "nats",
                        "source": "posterior" if forecast is not None else "prior"})
    return frame

def _findings(case: Case) -> list[tuple[str, dict, dict]]:
    """One finding per node: (label, hard part, soft part)."""
    out = []
    for node in dict.fromkeys([*case.evidence, *case.soft]):
        base, twin = base_node(node), node != base_node(node)
        parts = []
        if node in case.evidence:
            parts.append(f"={case.evidence[node]}")
        if node in case.soft:
            parts.append("~(" + ", ".join(f"{x:.2g}" for x in case.soft[node]) + ")")
        label = base + " ".join(parts) + (" (previous window)" if twin else "")
        hard = {node: case.evidence[node]} if node in case.evidence else {}
        soft = {node: np.asarray(case.soft[node], dtype=float)} if node in case.soft else {}
        out.append((label, hard, soft))
    return out
