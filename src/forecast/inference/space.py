"""The parameter space of a model: every uncertain quantity, its prior, and an unconstrained view.

Samplers that move parameters (the sequential sampler's Metropolis moves) work on an
unconstrained vector ``z``; the model works on constrained values. :class:`ParameterSpace`
maps between them, one block per parameter, and gives the log prior density of ``z`` with the
change-of-variables Jacobian:

=================================  =======================  =====================================
prior                              transform                log density of z
=================================  =======================  =====================================
Beta(a, b) on a probability x      z = logit x              log Beta(x) + log x + log(1 − x)
sign × LogNormal(μ, σ)             z = log |x|              log Normal(z; μ, σ)
Dirichlet(α) on a row x (k)        z_j = log x_j − log x_k  log Dir(x) + Σ_j log x_j
fixed value                        (not in z)               —
=================================  =======================  =====================================

With ``doubt = w > 0`` every probability and Dirichlet prior is the robust mixture
``(1 − w) × prior + w × vague(prior)`` (:func:`vague`: the same mean, a flat prior's
concentration): sampled by choosing the component, its density the mixture's
(:class:`~forecast.model.schema.Doubt`). Effects and fixed values are not mixed.

Densities come from :mod:`scipy.stats`; everything is vectorised over a leading axis of draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from forecast.model.distributions import (
    DirichletPrior,
    EffectPrior,
    FixedValue,
    Prior,
    ProbabilityPrior,
)

__all__ = ["ParameterSpace", "robust_sample", "vague"]


def vague(prior: ProbabilityPrior | DirichletPrior) -> ProbabilityPrior | DirichletPrior:
    """The robust component of `prior`: its mean with the concentration of a flat prior.

    ``Beta(2m, 2(1 − m))`` for a probability of prior mean m, ``Dirichlet(k × mean)`` for a
    row of k states: what the words say the parameter is, held as loosely as a flat prior
    holds one half (for m = 1/2, or a uniform row, it *is* the flat prior). Mixing it in keeps
    every prior mean where the article put it and only loosens the confidence.
    """
    if isinstance(prior, ProbabilityPrior):
        m = min(max(prior.mean, _EDGE), 1.0 - _EDGE)
        return ProbabilityPrior(2.0 * m, 2.0 * (1.0 - m))
    mean = np.clip(np.asarray(prior.mean, dtype=float), _EDGE, None)
    mean = mean / mean.sum()
    return DirichletPrior(tuple(float(x) for x in len(mean) * mean))


_EDGE = 1e-6  # a robust component's mean stays this far inside (0, 1)
_CLIP = 1e-12  # draws and values of probabilities stay this far inside (0, 1)


def robust_sample(prior: Prior, rng: np.random.Generator, n: int, doubt: float) -> np.ndarray:
    """`n` draws of `prior`; a probability or Dirichlet one mixed with :func:`vague` at `doubt`.

    Without doubt (or for effects and fixed values) these are ``prior.sample(rng, n)`` and
    use the generator exactly as it does.
    """
    x = np.asarray(prior.sample(rng, n), dtype=float)
    if doubt <= 0 or not isinstance(prior, ProbabilityPrior | DirichletPrior):
        return x
    loose = rng.random(n) < doubt
    other = np.asarray(vague(prior).sample(rng, n), dtype=float)
    if isinstance(prior, ProbabilityPrior):
        return np.clip(np.where(loose, other, x), _CLIP, 1.0 - _CLIP)
    other = np.clip(other, _CLIP, None)
    return np.where(loose[:, None], other / other.sum(axis=1, keepdims=True), x)


@dataclass(frozen=True)
class _Block:
    name: str
    prior: Prior
    start: int
    width: int


class ParameterSpace:
    """Named parameters with priors, as one unconstrained vector per draw.

    Parameters
    ----------
    priors : mapping of str to Prior
        Every parameter, fixed ones included (they are kept out of ``z``).
    doubt : float
        Weight of the flat component mixed into every probability and Dirichlet prior, in
        ``[0, 1)``.
    """

    def __init__(self, priors: Mapping[str, Prior], *, doubt: float = 0.0) -> None:
        if not 0.0 <= doubt < 1.0:
            raise ValueError(f"doubt must be in [0, 1), got {doubt}")
        self.doubt = float(doubt)
        self.priors = dict(priors)
        blocks, start = [], 0
        for name, prior in self.priors.items():
            if isinstance(prior, FixedValue):
                continue
            width = len(prior.alpha) - 1 if isinstance(prior, DirichletPrior) else 1
            blocks.append(_Block(name, prior, start, width))
            start += width
        self._blocks: tuple[_Block, ...] = tuple(blocks)
        self.dim = start
        self.fixed = {n: p for n, p in self.priors.items() if isinstance(p, FixedValue)}

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the uncertain parameters, in ``z`` order."""
        return tuple(b.name for b in self._blocks)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` prior draws as unconstrained vectors, shape ``(n, dim)``."""
        return self.to_z({b.name: robust_sample(b.prior, rng, n, self.doubt)
                          for b in self._blocks})

    def to_z(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Constrained values (``(n,)`` or ``(n, k)`` each) → ``z`` of shape ``(n, dim)``."""
        n = len(np.asarray(values[self._blocks[0].name])) if self._blocks else 0
        z = np.empty((n, self.dim))
        for b in self._blocks:
            x = np.asarray(values[b.name], dtype=float)
            if isinstance(b.prior, ProbabilityPrior):
                z[:, b.start] = special.logit(np.clip(x, 1e-300, 1 - 1e-16))
            elif isinstance(b.prior, EffectPrior):
                z[:, b.start] = np.log(np.abs(x))
            else:  # Dirichlet: additive log-ratios against the last state
                logs = np.log(np.clip(x, 1e-300, None))
                z[:, b.start:b.start + b.width] = logs[:, :-1] - logs[:, -1:]
        return z

    def values(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """``z`` (n, dim) → every parameter's values, fixed ones as their unbatched value."""
        out: dict[str, np.ndarray] = {n: np.asarray(p.value, dtype=float)
                                      for n, p in self.fixed.items()}
        for b in self._blocks:
            if isinstance(b.prior, ProbabilityPrior):  # never exactly 0 or 1 (log(1 − r))
                out[b.name] = np.clip(special.expit(z[:, b.start]), _CLIP, 1.0 - _CLIP)
            elif isinstance(b.prior, EffectPrior):
                out[b.name] = b.prior.sign * np.exp(z[:, b.start])
            else:
                logits = np.concatenate([z[:, b.start:b.start + b.width],
                                         np.zeros((len(z), 1))], axis=1)
                out[b.name] = special.softmax(logits, axis=1)
        return out

    def log_prior(self, z: np.ndarray) -> np.ndarray:
        """Log prior density of ``z`` (with the Jacobian), shape ``(n,)``."""
        total = np.zeros(len(z))
        for b in self._blocks:
            p = b.prior
            if isinstance(p, EffectPrior):
                total += stats.norm.logpdf(z[:, b.start], p.mu, p.sigma)
                continue
            if isinstance(p, ProbabilityPrior):
                u = z[:, b.start]
                # log Beta(x) + log x + log(1-x) = a log x + b log(1-x) - log B(a, b)
                logx, log1mx = -np.logaddexp(0.0, -u), -np.logaddexp(0.0, u)
                term = p.a * logx + p.b * log1mx - special.betaln(p.a, p.b)
                if self.doubt > 0:
                    q = vague(p)
                    assert isinstance(q, ProbabilityPrior)
                    loose = q.a * logx + q.b * log1mx - special.betaln(q.a, q.b)
            else:
                assert isinstance(p, DirichletPrior)  # fixed values have no block
                alpha = np.asarray(p.alpha, dtype=float)
                logits = np.concatenate([z[:, b.start:b.start + b.width],
                                         np.zeros((len(z), 1))], axis=1)
                logx = logits - special.logsumexp(logits, axis=1, keepdims=True)
                term = ((alpha * logx).sum(axis=1) + special.gammaln(alpha.sum())
                        - special.gammaln(alpha).sum())
                if self.doubt > 0:
                    beta = np.asarray(vague(p).alpha, dtype=float)  # type: ignore[union-attr]
                    loose = ((beta * logx).sum(axis=1) + special.gammaln(beta.sum())
                             - special.gammaln(beta).sum())
            if self.doubt > 0:
                term = np.logaddexp(np.log1p(-self.doubt) + term, np.log(self.doubt) + loose)
            total += term
        return total

    def describe(self, names: Sequence[str] | None = None) -> list[str]:
        """``name: prior`` lines."""
        wanted = self.priors if names is None else {n: self.priors[n] for n in names}
        return [f"{n}: {p.describe()}" for n, p in wanted.items()]
