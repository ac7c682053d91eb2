"""What a forecast means: why it says what it says, its words, and its scores.

Four explanations, each a tidy table (plots live elsewhere and only read these):

* :func:`~forecast.analysis.sensitivity.parameter_sensitivity` — which uncertain CPT parameters move
  a scenario most, read off the forecast's posterior draws (the input of a tornado plot);
* :func:`~forecast.analysis.attribution.attribute_change`
  (:func:`forecast.ops.attribution.attribute_runs` between runs) — each ledger row that was added,
  removed or changed between two forecasts, with its share of the change in the scenario's log-odds:
  Shapley values over the changed rows, so the shares add up to the whole change and do not depend
  on the order the rows are considered in;
* :func:`~forecast.analysis.voi.value_of_information` — "indicators to watch": which unobserved
  node, observed next, would tell most about the scenario (mutual information and expected move of
  its probability);
* :func:`~forecast.analysis.conflict.evidence_conflict` — findings that are jointly less probable
  than if they were independent (Jensen's conflict measure), for the whole case and each pair.

Every number is integrated over the uncertain parameters θ, never computed at a single "best"
network. The discrete nodes are summed out exactly by the batched engine, one call for thousands of
draws of θ. Draws of θ come from a :class:`~forecast.inference.result.Forecast`'s posterior when one
is given, otherwise from the prior, weighted by the likelihood of the evidence (importance sampling,
as :func:`forecast.inference.importance.importance_forecast` does). Findings on an event's
previous-window twin (:mod:`forecast.evidence.lagged`) are handled by building the engine and CPTs
the way the importance sampler does (:func:`~forecast.analysis.draws.engine_and_cpts`).

The explanations take hard and soft findings; cases with source reports or counts are refused
with an error (their likelihoods depend on further parameters).

Beside the explanations: :mod:`~forecast.analysis.language` (key judgments in ICD 203 words with a
separate confidence), :mod:`~forecast.analysis.questions` (resolved questions and the forecasts
they were given) and :mod:`~forecast.analysis.metrics` (Brier and log scores, skill,
calibration). Objects in, objects out: nothing here reads a file.
"""
