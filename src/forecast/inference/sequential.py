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
   invariant: independent proposals, in the unconstrained space of
   :class:`~forecast.inference.space.ParameterSpace`, from a multivariate Student t fitted to
   the weighted particles (Chopin's own choice), each step re-filtering the record from the
   start for the proposals.

One pass yields the posterior at every step, so a replay over many as-of dates costs one
pass. :class:`Snapshot` holds the particles at a step. :class:`Checkpoint` holds the whole
state of a pass after a step (particles, weights, filtering distributions, the generator's
state, the moves so far): a later pass over a record that has grown resumes from it and gives
exactly the result of a pass from the start (:class:`Checkpoints` is where a caller keeps
them, e.g. :class:`forecast.ops.store.CheckpointFolder`).

Diagnostics, per resample-move: the ESS that triggered it, the Pareto k̂ of the log-weights
accumulated since the previous move (arviz's PSIS; above 0.7 the reweighting was too coarse to
trust), and each Metropolis step's acceptance rate.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import special, stats

from forecast.errors import InferenceError, Problem
from forecast.inference.space import ParameterSpace
from forecast.network.dynamic import DynamicEngine

_T_DF = 5
"""Degrees of freedom of the independent proposal: tails heavier than the posterior's."""

__all__ = ["IBIS", "Checkpoint", "Checkpoints", "Snapshot", "ibis_weights_ess", "systematic"]


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


@dataclass(frozen=True)
class Checkpoint:
    """An IBIS pass stopped after a step: what it needs to go on as if it never stopped.

    Attributes
    ----------
    snapshot : Snapshot
        Particles, weights, filtering distributions and log-evidence after the step.
    since_move : ndarray, shape (N,)
        Log-weight increments since the last resample-move (for its Pareto k̂).
    rng_state : str
        The generator's ``bit_generator.state`` as JSON.
    diagnostics : tuple of dict
        The resample-moves so far.
    record : tuple of str
        The caller's fingerprint of each step's evidence, steps ``0 .. snapshot.step``: a
        pass may resume from this checkpoint only if its own record starts with these.
    """

    snapshot: Snapshot
    since_move: np.ndarray
    rng_state: str
    diagnostics: tuple[dict, ...]
    record: tuple[str, ...]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``numpy.savez``; no pickles)."""
        snap = self.snapshot
        return {"step": np.array(snap.step), "z": snap.z, "logw": snap.logw,
                "frontier": snap.frontier, "log_evidence": np.array(snap.log_evidence),
                "since_move": self.since_move, "rng_state": np.array(self.rng_state),
                "diagnostics": np.array(json.dumps(list(self.diagnostics))),
                "record": np.array(self.record, dtype=str)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Checkpoint:
        """Inverse of :meth:`to_arrays`; KeyError or ValueError if something is missing."""
        z = np.asarray(arrays["z"], dtype=float)
        n = z.shape[0]
        snap = Snapshot(int(arrays["step"]), z, np.asarray(arrays["logw"], dtype=float),
                        np.asarray(arrays["frontier"], dtype=float),
                        float(arrays["log_evidence"]))
        since = np.asarray(arrays["since_move"], dtype=float)
        record = tuple(str(r) for r in np.atleast_1d(arrays["record"]))
        if z.ndim != 2 or snap.logw.shape != (n,) or since.shape != (n,) \
                or snap.frontier.shape[0] != n or len(record) != snap.step + 1:
            raise ValueError("inconsistent shapes")
        diagnostics = json.loads(str(arrays["diagnostics"]))
        return cls(snap, since, str(arrays["rng_state"]), tuple(diagnostics), record)


class Checkpoints(Protocol):
    """Somewhere to keep :class:`Checkpoint` s between passes, by key."""

    def find(self, key: str, record: list[str]) -> Checkpoint | None:
        """The checkpoint under `key` whose record is the start of `record`, if any."""

    def keep(self, key: str, checkpoint: Checkpoint) -> None:
        """Keep `checkpoint` under `key` (replacing what was there)."""


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
        Metropolis–Hastings steps per move.
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
        self._state: tuple[Snapshot, np.ndarray] | None = None

    # ------------------------------------------------------------------ public
    def run(self, steps: int, *, record: Sequence[int] = (),
            resume: Checkpoint | None = None) -> dict[int, Snapshot]:
        """Carry the particles through steps ``0 .. steps − 1``.

        Parameters
        ----------
        steps : int
            Number of (closed) steps of evidence to assimilate.
        record : sequence of int
            Steps after which to keep a :class:`Snapshot` (the last step is always kept).
        resume : Checkpoint, optional
            Go on from this checkpoint of a pass with the same space, particles, seed and
            evidence up to its step (the caller checks that): the result is the one a pass
            from step 0 gives. Snapshots before its step cannot be kept.

        Returns
        -------
        dict of int to Snapshot

        Raises
        ------
        InferenceError
            If `resume` does not fit (too many steps, other particles or dimension).
        """
        n = self.particles
        wanted = set(record) | {steps - 1}
        out: dict[int, Snapshot] = {}
        if resume is None:
            z = self.space.sample(self.rng, n)
            logw = np.zeros(n)
            log_evidence = 0.0
            frontier: np.ndarray | None = None
            since_move = np.zeros(n)
            first = 0
        else:
            snap = resume.snapshot
            if snap.step >= steps or snap.z.shape != (n, self.space.dim) \
                    or min(wanted) < snap.step:
                raise InferenceError("cannot resume from this checkpoint", [Problem(
                    f"it holds {snap.z.shape[0]} particles of dimension {snap.z.shape[1]} "
                    f"after step {snap.step}; this pass has {n} of dimension "
                    f"{self.space.dim}, {steps} steps and wants step {min(wanted)}",
                    field="resume", hint="start from step 0 (no checkpoint)")])
            z, logw, frontier = snap.z.copy(), snap.logw.copy(), snap.frontier.copy()
            log_evidence, since_move = snap.log_evidence, resume.since_move.copy()
            self.rng.bit_generator.state = json.loads(resume.rng_state)
            self.diagnostics = [dict(m) for m in resume.diagnostics]
            first = snap.step + 1
            if snap.step in wanted:
                out[snap.step] = Snapshot(snap.step, z.copy(), logw.copy(), frontier.copy(),
                                          log_evidence)
        values = self.space.values(z)
        cpts, trans = self.tables(values)
        lik = self.likelihoods(values, steps)
        for t in range(first, steps):
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
        last = out[steps - 1]
        self._state = (last, since_move.copy())
        return out

    def checkpoint(self, record: Sequence[str]) -> Checkpoint:
        """The state after the last step of :meth:`run`, with the caller's `record`.

        Parameters
        ----------
        record : sequence of str
            A fingerprint of each step's evidence, steps ``0 .. steps − 1``.

        Returns
        -------
        Checkpoint
        """
        if self._state is None:
            raise InferenceError("no pass to checkpoint", [Problem("call run first",
                                                                    field="checkpoint")])
        snap, since_move = self._state
        if len(record) != snap.step + 1:
            raise InferenceError("a checkpoint's record needs one fingerprint per step", [
                Problem(f"got {len(record)} for steps 0..{snap.step}", field="record")])
        return Checkpoint(snap, since_move, json.dumps(self.rng.bit_generator.state),
                          tuple(dict(m) for m in self.diagnostics), tuple(record))

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
        """Resample systematically, then move every particle by Metropolis–Hastings steps.

        Every step is an independent Metropolis–Hastings proposal from a multivariate
        Student t (5 degrees of freedom) fitted to the weighted particles before resampling:
        wherever it is accepted the particle is a fresh draw, which is what breaks up the
        copies resampling made. (A Gaussian random walk, alone or alternating with it, left
        four independent passes of the flagship's record to 2025 further apart: split R-hat
        1.09 alone, 1.02–1.03 alternating, 1.019 with independent proposals only.)
        """
        n = len(z)
        w = np.exp(logw - special.logsumexp(logw))
        mean = w @ z
        centred = z - mean
        cov = (centred * w[:, None]).T @ centred / max(1.0 - np.sum(w**2), 1e-12)
        cov = np.atleast_2d(cov) + 1e-9 * np.eye(self.space.dim)
        fitted = stats.multivariate_t(loc=mean, shape=cov, df=_T_DF, allow_singular=True)
        idx = systematic(w, self.rng)
        z = z[idx]
        loglik, frontier = self._log_likelihood(z, t, steps)
        logpost = self.space.log_prior(z) + loglik
        logq = fitted.logpdf(z)
        rates = []
        for _ in range(self.moves):
            proposal = np.atleast_2d(fitted.rvs(size=n, random_state=self.rng)).reshape(z.shape)
            new_ll, new_frontier = self._log_likelihood(proposal, t, steps)
            new_post = self.space.log_prior(proposal) + new_ll
            new_q = fitted.logpdf(proposal)
            accept = np.log(self.rng.random(n)) < (new_post - logpost) - (new_q - logq)
            accept &= np.isfinite(new_post)
            z = np.where(accept[:, None], proposal, z)
            logpost = np.where(accept, new_post, logpost)
            logq = np.where(accept, new_q, logq)
            frontier = np.where(accept[:, None], new_frontier, frontier)
            rates.append(float(accept.mean()))
        return z, np.zeros(n), frontier, rates
