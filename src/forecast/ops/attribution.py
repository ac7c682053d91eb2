"""What moved a forecast between two stored runs: Shapley attribution over their ledger rows."""

from __future__ import annotations

from forecast.analysis.attribution import Attribution, attribute_change
from forecast.errors import Problem, RunStoreError
from forecast.model.schema import ModelSpec
from forecast.ops.store import Run

__all__ = ["attribute_runs"]


def attribute_runs(spec: ModelSpec, run_before: Run, run_after: Run, node: str, state: str,
                   **kw: object) -> Attribution:
    """:func:`attribute_change` between two stored runs, from the rows each one used.

    Parameters
    ----------
    spec : ModelSpec
        The model (the current version; a note says so if the runs used another).
    run_before, run_after : Run
        Runs of the store (:class:`forecast.ops.store.RunStore`), each with its ``evidence.csv``.
    node, state : str
        The scenario.
    **kw
        Passed to :func:`attribute_change` (draws, seed, exact_max, permutations).

    Returns
    -------
    Attribution
        Its diagnostics add ``reported_before`` / ``reported_after``: the runs' own means.

    Raises
    ------
    RunStoreError
        If a run predates stored evidence, or is of another model.
    """
    problems = [Problem(f"is a run of model '{r.manifest.get('model_name')}', "
                        f"not '{spec.name}'", file=str(r.path), hint="compare runs of this model")
                for r in (run_before, run_after) if r.manifest.get("model_name") != spec.name]
    if problems:
        raise RunStoreError("cannot attribute the change between these runs", problems)
    result = attribute_change(spec, run_before.evidence, run_after.evidence, node, state,
                              **kw)  # type: ignore[arg-type]
    current = spec.fingerprint
    if any(r.manifest.get("model_hash") not in (None, current) for r in (run_before, run_after)):
        result.notes.append("a run was made with another version of the model: the shares "
                            "explain the evidence change under the current model only")
    for key, run in (("reported_before", run_before), ("reported_after", run_after)):
        summary = run.summary
        hit = summary[(summary["node"] == node) & (summary["state"] == state)]
        if len(hit):
            result.diagnostics[key] = float(hit["mean"].iloc[0])
    return result
