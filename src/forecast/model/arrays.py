"""The few array functions the model's formulas need, from numpy or from PyTensor.

The CPT formulas (:func:`forecast.model.cpts.node_cpt`) and the observation likelihoods
(:meth:`forecast.evidence.observations.ObservationModel.log_likelihoods`) are written once,
over an :class:`ArrayOps`: :data:`NUMPY` evaluates them for a batch of parameter draws (the
importance sampler, the exact engine), :func:`pytensor_ops` builds the differentiable graph of
the PyMC model. Every formula takes and returns arrays with an explicit leading batch axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy import special

__all__ = ["NUMPY", "ArrayOps", "pytensor_ops"]


@dataclass(frozen=True)
class ArrayOps:
    """An array namespace: the functions the formulas call, from one array library.

    ``stack(arrays, axis=...)`` and ``reshape(x, shape)`` as in numpy; the others elementwise.
    """

    stack: Callable[..., Any]
    reshape: Callable[[Any, tuple[int, ...]], Any]
    log: Callable[[Any], Any]
    log1p: Callable[[Any], Any]
    gammaln: Callable[[Any], Any]
    logit: Callable[[Any], Any]
    sigmoid: Callable[[Any], Any]


NUMPY = ArrayOps(np.stack, np.reshape, np.log, np.log1p, special.gammaln, special.logit,
                 special.expit)
"""numpy and scipy: arrays in, arrays out."""


@cache
def pytensor_ops() -> ArrayOps:
    """PyTensor (imported on first use): tensors in, a differentiable graph out."""
    import pytensor.tensor as pt

    return ArrayOps(pt.stack, pt.reshape, pt.log, pt.log1p, pt.gammaln,
                    lambda p: pt.log(p) - pt.log1p(-p), pt.sigmoid)
