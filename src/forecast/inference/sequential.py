"""Sequential Monte Carlo over the parameters as the record arrives: IBIS (Chopin, 2002).

The parameters θ — every CPT entry's prior from the article's words, each persistent
condition's persistence, each source's reliability — are shared by all steps, so the posterior
at an as-of date is conditioned on the whole record before it. IBIS carries ``N`` weighted
particles ``θ_i`` through the steps of the record:

1. **reweight** each particle by the step's exact likelihood increment
   ``P(y_t | y_0..y_{t-1}, θ_i)`` (one forward step of
   :class:`~forecast.network.dynamic.DynamicEngine` per particle, batched), keeping each
   particle's filtering distribution of the persistent conditions;
2. when the effective sample size falls below ``ess_min × N``, **resample** (systematic) and
   **move** every particle by Metropolis–Hastings steps that leave ``p(θ | y_0..y_t)``
   invariant: a Gaussian random walk in the unconstrained space of
   :class:`~forecast.inference.space.ParameterSpace`, scaled from the particles' own covariance
   (``2.38² / d``, adapted to the acceptance rate), each step re-filtering the record from the
   start for the proposals.

One pass yields the posterior at every step, so a replay over many as-of dates costs one
pass. :class:`Snapshot` holds the particles at a step; :meth:`Snapshot.forecast` gives every
scenario's probability over a horizon.

Diagnostics, per resample-move: the ESS that triggered it, the Pareto k̂ of the log-weights
accumulated since the previous move (arviz's PSIS; above 0.7 the reweighting was too coarse to
trust), and each Metropolis step's acceptance rate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from forecast.errors import InferenceError, Problem
from forecast.inference.space import ParameterSpace
from forecast.network.dynamic import DynamicEngine

__all__ = ["IBIS", "Snapshot", "ibis_weights_ess", "systematic"]


def ibis_weights_ess(logw: np.ndarray) -> float:
    """Kish effective sample size of log-weights."""
    w = np.exp(logw - special.logsumexp(logw))
    return float(1.0 / np.sum(w**2))


def systematic(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a systematic resample of normalised weights `w` (as many as weights)."""
    n = len(w)
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(w), positions), n - 1)


def _pareto_khat(logw: np.ndarray) -> float:
    """Pareto k̂ of importance log-weights (arviz's PSIS), nan if it cannot be estimated."""
    import arviz as az

    if not np.all(np.isfinite(logw)) or np.ptp(logw) == 0:
        return float("nan") if not np.all(np.isfinite(logw)) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz warns when k̂ is large: we report it instead
        _, khat = az.psislw(np.asarray(logw, dtype=float).copy())
    return float(khat)


@dataclass
class Snapshot:
    """The particle system after a step: parameters, weights and filtering distributions.

    Attributes
    ----------
    step : int
        The last step whose evidence the particles carry.
    z : ndarray, shape (N, d)
        Unconstrained parameters.
    logw : ndarray, shape (N,)
        Log importance weights (unnormalised).
    frontier : ndarray, shape (N, F)
        Each particle's ``P(persistent conditions at step | y_0..y_step, θ)``.
    log_evidence : float
        ``log P(y_0..y_step)`` estimated by the sampler.
    """

    step: int
    z: np.ndarray
    logw: np.ndarray
    frontier: np.ndarray
    log_evidence: float

    @property
    def weights(self) -> np.ndarray:
        """Normalised weights."""
        return np.exp(self.logw - special.logsumexp(self.logw))

    @property
    def ess(self) -> float:
        """Kish effective sample size."""
        return ibis_weights_ess(self.logw)


@dataclass
class IBIS:
    """Iterated batch importance sampling of a dynamic model's parameters.

    Parameters
    ----------
    engine : DynamicEngine
        The exact engine over the model's steps.
    space : ParameterSpace
        The parameters and their priors.
    tables : callable
        ``values -> (cpts, transitions)`` for a batch of constrained parameter values.
    likelihoods : callable
        ``(values, steps) -> {node: (1 or B, steps, card)}``: the record's likelihood vectors
        for a batch of parameter values (sources' reliabilities enter here).
    particles : int
        Number of particles ``N``.
    ess_min : float
        Resample and move when the ESS falls below ``ess_min × N``.
    moves : int
        Metropolis steps per move.
    seed : int or numpy.random.Generator
        Randomness.
    """

    engine: DynamicEngine
    space: ParameterSpace
    tables: Callable[[Mapping[str, np.ndarray]], tuple[dict, dict]]
    likelihoods: Callable[[Mapping[str, np.ndarray], int], dict[str, np.ndarray]]
    particles: int = 1000
    ess_min: float = 0.5
    moves: int = 4
    seed: int | np.random.Generator = 0
    diagnostics: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._scale = 2.38 / np.sqrt(max(self.space.dim, 1))

    # ------------------------------------------------------------------ public
    def run(self, steps: int, *, record: Sequence[int] = ()) -> dict[int, Snapshot]:
        """Carry the particles through steps ``0 .. steps − 1``.

        Parameters
        ----------
        steps : int
            Number of (closed) steps of evidence to assimilate.
        record : sequence of int
            Steps after which to keep a :class:`Snapshot` (the last step is always kept).

        Returns
        -------
        dict of int to Snapshot
        """
        n = self.particles
        z = self.space.sample(self.rng, n)
        logw = np.zeros(n)
        log_evidence = 0.0
        values = self.space.values(z)
        cpts, trans = self.tables(values)
        lik = self.likelihoods(values, steps)
        frontier: np.ndarray | None = None
        since_move = np.zeros(n)
        wanted = set(record) | {steps - 1}
        out: dict[int, Snapshot] = {}
        for t in range(steps):
            step_lik = {k: v[:, t:t + 1] for k, v in lik.items()}
            filtered = self.engine.filter(step_lik, steps=1, cpts=cpts, transitions=trans,
                                          start=frontier)
            inc = filtered.log_increments[:, 0]
            frontier = filtered.frontier
            if not np.any(np.isfinite(inc)):
                raise InferenceError("the evidence is impossible under every particle", [
                    Problem("no parameter draw makes this step's findings possible",
                            field=f"step {t}",
                            hint="check the findings of this step against the model")])
            w_before = np.exp(logw - special.logsumexp(logw))
            log_evidence += float(special.logsumexp(np.log(w_before) + inc))
            logw = logw + inc
            since_move = since_move + inc
            ess = ibis_weights_ess(logw)
            if ess < self.ess_min * n:
                z, logw, frontier, accepted = self._resample_move(z, logw, t, steps)
                self.diagnostics.append({"step": t, "ess": ess,
                                         "khat": _pareto_khat(since_move),
                                         "acceptance": accepted})
                since_move = np.zeros(n)
                values = self.space.values(z)
                cpts, trans = self.tables(values)
                lik = self.likelihoods(values, steps)
            if t in wanted:
                out[t] = Snapshot(t, z.copy(), logw.copy(), frontier.copy(), log_evidence)
        return out

    # ------------------------------------------------------------------ moves
    def _log_likelihood(self, z: np.ndarray, upto: int, steps: int
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The log-likelihood of steps 0..upto and the frontier after it, per row of `z`."""
        values = self.space.values(z)
        cpts, trans = self.tables(values)
        lik = self.likelihoods(values, steps)
        cut = {k: v[:, :upto + 1] for k, v in lik.items()}
        filtered = self.engine.filter(cut, steps=upto + 1, cpts=cpts, transitions=trans)
        return filtered.log_evidence, filtered.frontier

    def _resample_move(self, z: np.ndarray, logw: np.ndarray, t: int, steps: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
        """Resample systematically, then move every particle by Metropolis steps."""
        n = len(z)
        w = np.exp(logw - special.logsumexp(logw))
        idx = systematic(w, self.rng)
        z = z[idx]
        loglik, frontier = self._log_likelihood(z, t, steps)
        logpost = self.space.log_prior(z) + loglik
        rates = []
        for _ in range(self.moves):
            cov = np.atleast_2d(np.cov(z, rowvar=False)) + 1e-9 * np.eye(self.space.dim)
            try:
                chol = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                chol = np.diag(np.sqrt(np.clip(np.diag(cov), 1e-12, None)))
            proposal = z + self._scale * self.rng.standard_normal(z.shape) @ chol.T
            new_ll, new_frontier = self._log_likelihood(proposal, t, steps)
            new_post = self.space.log_prior(proposal) + new_ll
            accept = np.log(self.rng.random(n)) < new_post - logpost
            accept &= np.isfinite(new_post)
            z = np.where(accept[:, None], proposal, z)
            logpost = np.where(accept, new_post, logpost)
            frontier = np.where(accept[:, None], new_frontier, frontier)
            rate = float(accept.mean())
            rates.append(rate)
            # keep the acceptance rate near 0.25 (Roberts & Rosenthal): adapt the scale
            self._scale *= float(np.exp(rate - 0.25))
        return z, np.zeros(n), frontier, rates
