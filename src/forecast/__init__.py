"""forecast: Bayesian scenario forecasting from analysts' conditional claims.

The data flow, one way only::

    models/*.yaml --spec--> ModelSpec --priors/cpt--> Network --exact--> marginals, log P(e)
    BIF files / pgmpy ----------------------------->  Network

See ``ARCHITECTURE.md`` of the project and the README for the whole picture.
"""

from forecast.errors import (
    EvidenceError,
    ForecastError,
    InferenceError,
    Problem,
    RunStoreError,
    SpecError,
)
from forecast.network import Network

__version__ = "0.1.0"

__all__ = [
    "EvidenceError",
    "ForecastError",
    "InferenceError",
    "Network",
    "Problem",
    "RunStoreError",
    "SpecError",
    "__version__",
]
