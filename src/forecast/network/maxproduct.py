"""Max-product over a compiled :class:`~forecast.network.plan.Plan`, with argmax traceback.

The most probable joint assignment of a network's unobserved nodes (the MPE) is the sum-product
with every sum replaced by a maximum. The elimination order that makes the sum cheap makes the
maximum cheap too, so this module runs the *same* compiled steps as
:meth:`Plan.forward <forecast.network.plan.Plan.forward>` — the same opt_einsum path, the same
intermediates, already checked against :func:`~forecast.network.plan.max_intermediate` when the
plan was built — in the (max, +) semiring on log factors: ``log 0 = -inf`` stays exact and no
product of many small probabilities can underflow.

Each pairwise step ``c[g, i, j] = max_k a[g, i, k] + b[g, k, j]`` is computed in blocks of ``k``
so that no temporary exceeds :data:`BLOCK` entries or the step's own output, whichever is
larger. The traceback walks the steps backwards from the final maximum: each step receives the
states of its output's variables and chooses the states of the variables it maximised out
(recomputing the few candidates from the kept operands, so no argmax table is stored), until
every input factor has the states of all its variables.

Ties: at each choice the candidates within :data:`TIE_LOG_TOL` of the best (in log space, so
a relative ``1e-9`` in probability) count as tied and the one with the lowest flat index is
kept — for a single variable, its first state in the network's order; for several maximised in
one step, the lexicographically first in the step's variable order. Another assignment is as
probable as the returned one exactly when some choice along the traceback had a tied
candidate (a tied candidate completes, below that step, to an assignment of the same value),
so that is what :func:`max_product` reports.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from forecast.network.plan import Plan, _Operand

__all__ = ["BLOCK", "TIE_LOG_TOL", "MaxProduct", "max_product"]

BLOCK = 1 << 20
"""Most entries of one temporary of a max-plus step (8 MiB), unless its output is larger."""

TIE_LOG_TOL = 1e-9
"""Candidates whose log values are within this of the best are tied (relative 1e-9)."""


@dataclass(frozen=True)
class MaxProduct:
    """The result of :func:`max_product`.

    Attributes
    ----------
    log_max : float
        ``max_x Σ_f log f(x)``: ``-inf`` if every assignment has a zero factor.
    states : dict
        Variable → state index of a maximising assignment (empty if `log_max` is ``-inf``).
    ties : bool
        Whether another assignment reaches `log_max` within :data:`TIE_LOG_TOL`.
    """

    log_max: float
    states: dict[Hashable, int]
    ties: bool


def max_product(plan: Plan, log_factors: Sequence[np.ndarray]) -> MaxProduct:
    """Maximise the sum of log factors over all variables of `plan`, and find the maximiser.

    Parameters
    ----------
    plan : Plan
        A plan compiled for these factors' variables (:attr:`Plan.input_indices`), batch size 1.
    log_factors : sequence of ndarray
        One per input of the plan: the log of the factor, shape ``(1, *sizes)``; ``-inf``
        marks zeros. No ``+inf`` or NaN.

    Returns
    -------
    MaxProduct
    """
    tensors: dict[int, np.ndarray] = {i: np.asarray(f)[0] for i, f in enumerate(log_factors)}
    kept = []  # per step: the operands as they entered it, and in matrix form
    for st in plan.steps:
        xa = tensors.pop(st.left)
        a2 = _prepare(xa, st.a)
        if st.right is None:
            xb = b2 = None
            c = a2.max(axis=(0, 1)).reshape(st.out_shape)
        else:
            assert st.b is not None  # a product step has both operands
            xb = tensors.pop(st.right)
            b2 = _prepare(xb, st.b)
            c = _max_plus(a2, b2).reshape(st.out_shape)
        kept.append((xa, a2, xb, b2))
        tensors[st.out] = c
    if not plan.steps:
        return MaxProduct(0.0, {}, False)
    log_max = float(tensors[plan.steps[-1].out].reshape(()))
    if log_max == -np.inf:
        return MaxProduct(log_max, {}, False)
    ties = False
    index: dict[int, tuple[int, ...]] = {plan.steps[-1].out: ()}
    for st, (xa, a2, xb, b2) in zip(reversed(plan.steps), reversed(kept), strict=True):
        out = index.pop(st.out)
        flat = int(np.ravel_multi_index(out, st.out_shape)) if out else 0
        if st.right is None:
            index[st.left], tied = _choose_summed(xa, st.a, flat)
            ties |= tied
            continue
        assert st.b is not None and xb is not None and b2 is not None
        _, rows, inner = st.a.matrix
        cols = st.b.matrix[2]
        g, rest = divmod(flat, rows * cols)
        i, j = divmod(rest, cols)
        k, tied = _pick(a2[g, i, :] + b2[g, :, j])
        index[st.left], tied_a = _choose_summed(xa, st.a, (g * rows + i) * inner + k)
        index[st.right], tied_b = _choose_summed(xb, st.b, (g * inner + k) * cols + j)
        ties |= tied or tied_a or tied_b
    states: dict[Hashable, int] = {}
    for n, variables in enumerate(plan.input_indices):
        for v, s in zip(variables, index[n], strict=True):
            states.setdefault(v, int(s))
    return MaxProduct(log_max, states, ties)


def _prepare(x: np.ndarray, op: _Operand) -> np.ndarray:
    """:func:`forecast.network.plan._prepare` in the (max, +) semiring, without a batch axis."""
    if op.sum_axes:
        x = x.max(axis=op.sum_axes)
    return x.transpose(op.perm).reshape(op.matrix)


def _max_plus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``c[g, i, j] = max_k a[g, i, k] + b[g, k, j]``, in blocks of ``k``."""
    groups, rows, inner = a.shape
    cols = b.shape[2]
    step = max(1, BLOCK // max(1, groups * rows * cols))
    if step >= inner:  # one block: most steps of a sparse network
        return (a[:, :, :, None] + b[:, None, :, :]).max(axis=2)
    out = np.full((groups, rows, cols), -np.inf)
    for k0 in range(0, inner, step):
        block = a[:, :, k0:k0 + step, None] + b[:, None, k0:k0 + step, :]
        np.maximum(out, block.max(axis=2), out=out)
    return out


def _pick(values: np.ndarray) -> tuple[int, bool]:
    """The first (lowest flat index) candidate within :data:`TIE_LOG_TOL` of the best, and ties."""
    flat = values.reshape(-1)
    if flat.size == 1:
        return 0, False
    near = np.flatnonzero(flat >= flat.max() - TIE_LOG_TOL)
    return int(near[0]), bool(near.size > 1)


def _choose_summed(x: np.ndarray, op: _Operand, flat: int) -> tuple[tuple[int, ...], bool]:
    """The full index into `x` of entry `flat` of its matrix form, maximised-out axes chosen."""
    permuted = np.unravel_index(flat, op.permuted) if op.permuted else ()
    kept_axes = [ax for ax in range(x.ndim) if ax not in op.sum_axes]
    full: list[int] = [0] * x.ndim
    for q, value in zip(op.perm, permuted, strict=True):
        full[kept_axes[q]] = int(value)
    if not op.sum_axes:
        return tuple(full), False
    where = tuple(slice(None) if ax in op.sum_axes else full[ax] for ax in range(x.ndim))
    sub = x[where]  # the maximised-out axes, in their order in x
    best, tied = _pick(sub)
    for ax, value in zip(op.sum_axes, np.unravel_index(best, sub.shape), strict=True):
        full[ax] = int(value)
    return tuple(full), tied
