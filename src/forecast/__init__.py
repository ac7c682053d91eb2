"""forecast: Bayesian scenario forecasting from analysts' conditional claims.

The data flow, one way only::

    models/*.yaml --spec--> ModelSpec --priors/cpt--> Network --exact--> marginals, log P(e)
    BIF files / pgmpy ----------------------------->  Network

See ``docs/architecture.md`` (the layers, what lives where, the conventions) and the README
for the whole picture.
"""

from forecast.errors import (
    EvidenceError,
    ForecastError,
    InferenceError,
    Problem,
    RunStoreError,
    SpecError,
)
from forecast.model.cpts import build_cpts, prior_mean_network, sample_parameters
from forecast.model.load import load_spec, parse_spec
from forecast.model.schema import ModelSpec
from forecast.network.bif import read_bif, write_bif
from forecast.network.exact import ExactEngine, Posterior
from forecast.network.network import Network

__version__ = "0.1.0"

__all__ = [
    "EvidenceError",
    "ExactEngine",
    "ForecastError",
    "InferenceError",
    "ModelSpec",
    "Network",
    "Posterior",
    "Problem",
    "RunStoreError",
    "SpecError",
    "__version__",
    "build_cpts",
    "load_spec",
    "parse_spec",
    "prior_mean_network",
    "read_bif",
    "sample_parameters",
    "write_bif",
]
