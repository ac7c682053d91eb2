"""What moved a forecast between two stored runs: Shapley attribution over their ledger rows."""

from __future__ import annotations

from collections.abc import Sequence

from forecast.analysis.attribution import Attribution, attribute_changes
from forecast.errors import Problem, RunStoreError
from forecast.model.schema import ModelSpec
from forecast.ops.store import Run

__all__ = ["attribute_runs", "attribute_runs_many"]


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
    return attribute_runs_many(spec, run_before, run_after, [(node, state)], **kw)[0]


def attribute_runs_many(spec: ModelSpec, run_before: Run, run_after: Run,
                        targets: Sequence[tuple[str, str]], **kw: object) -> list[Attribution]:
    """:func:`attribute_runs` for several scenarios, sharing every coalition's query.

    Parameters
    ----------
    spec, run_before, run_after
        As in :func:`attribute_runs`.
    targets : sequence of (str, str)
        The scenarios ``(node, state)``.
    **kw
        Passed to :func:`~forecast.analysis.attribution.attribute_changes`.

    Returns
    -------
    list of Attribution
        One per scenario, in the order of `targets`; each equals :func:`attribute_runs` of it.

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
    results = attribute_changes(spec, run_before.evidence, run_after.evidence, targets,
                                **kw)  # type: ignore[arg-type]
    current = spec.fingerprint
    other = any(r.manifest.get("model_hash") not in (None, current)
                for r in (run_before, run_after))
    for result in results:
        if other:
            result.notes.append("a run was made with another version of the model: the shares "
                                "explain the evidence change under the current model only")
        for key, run in (("reported_before", run_before), ("reported_after", run_after)):
            summary = run.summary
            hit = summary[(summary["node"] == result.node) & (summary["state"] == result.state)]
            if len(hit):
                result.diagnostics[key] = float(hit["mean"].iloc[0])
    return results
