"""Contraction plans: sum-product over factors as a tree of batched matrix products.

Exact inference in a discrete Bayesian network is one sum over the product of its factors.
A :class:`Plan` fixes, once per (network, evidence pattern, batch layout), the order in which
factors are multiplied pairwise and which variables are summed at each step (the path comes from
opt_einsum's greedy search, the same quality as a min-fill junction tree, in milliseconds). Each
pairwise step is compiled to transposes, reshapes and one ``numpy.matmul``, so executing a plan
is a few microseconds of Python per step and BLAS for the rest.

The *backward* pass runs the same steps in reverse and yields, for every input factor ``f``, the
derivative of the total with respect to ``f``. For a Bayesian network the total is P(e), which is
multilinear in the CPT entries, so ``f * d log P(e) / d f`` is the family posterior
``P(node, parents | e)`` — every marginal from one forward and one backward pass (the
junction-tree calibration, derived by differentiation).

Batching: every tensor carries a leading axis of size 1 or B (parameter draws); ``matmul``
broadcasts it, so shared factors are never copied B times, and the path search is told which
factors carry the batch so that intermediates stay small.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import opt_einsum

from forecast.errors import ForecastError, InferenceError, Problem

__all__ = ["MAX_INTERMEDIATE", "Plan", "max_intermediate"]


TINY = 1e-250
"""Totals below this are recomputed with rescaling (``1 / total`` would overflow)."""

MAX_INTERMEDIATE = 2**28
"""Entries the largest table of a plan may have (float64: 2 GiB), batch axis included.

A plan over this is refused before anything is allocated (:class:`~forecast.errors.
InferenceError`, naming its variables); ``$FORECAST_MAX_INTERMEDIATE`` (a whole number of
entries) raises or lowers it for a process."""


def max_intermediate() -> int:
    """The limit in force: ``$FORECAST_MAX_INTERMEDIATE`` if set, else :data:`MAX_INTERMEDIATE`.

    Raises
    ------
    ForecastError
        If the variable is set but is not a whole number of entries, at least 1.
    """
    raw = os.environ.get("FORECAST_MAX_INTERMEDIATE")
    if raw is None or not raw.strip():
        return MAX_INTERMEDIATE
    try:
        value = int(float(raw)) if raw.strip().lower() not in ("nan", "inf") else 0
    except ValueError:
        value = 0
    if value < 1 or float(raw) != value:
        raise ForecastError(f"FORECAST_MAX_INTERMEDIATE={raw!r}: not a number of entries", [
            Problem("must be a whole number, at least 1", field="FORECAST_MAX_INTERMEDIATE",
                    hint=f"e.g. {MAX_INTERMEDIATE} (the default), or unset it")])
    return value


@dataclass(frozen=True)
class _Operand:
    """How one operand of a step is brought to ``(batch, g, rows, cols)`` matrix form."""

    sum_axes: tuple[int, ...]  # axes (batch excluded, 0-based) summed out before the product
    perm: tuple[int, ...]  # permutation of the remaining axes into (G, I, K) or (G, K, J)
    matrix: tuple[int, int, int]  # (g, rows, cols)
    shape: tuple[int, ...]  # shape of the operand, batch excluded
    # derived once here, not on every call: the same axes with the batch axis in front
    summed: tuple[int, ...] = field(init=False)
    forward: tuple[int, ...] = field(init=False)
    permuted: tuple[int, ...] = field(init=False)
    backward: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        kept = [s for ax, s in enumerate(self.shape) if ax not in self.sum_axes]
        object.__setattr__(self, "summed", tuple(1 + ax for ax in self.sum_axes))
        object.__setattr__(self, "forward", (0, *(1 + p for p in self.perm)))
        object.__setattr__(self, "permuted", tuple(kept[p] for p in self.perm))
        inverse = np.argsort(self.perm) if self.perm else ()
        object.__setattr__(self, "backward", (0, *(1 + int(p) for p in inverse)))

def _too_large(entries: int, limit: int, contractions: Sequence[Any],
               names: Mapping[str, object], sizes: Mapping[str, int]) -> InferenceError:
    """The refusal of a plan whose largest table is over the limit, naming its variables.

    `contractions` is opt_einsum's ``contraction_list``; `names` and `sizes` map its symbols
    to the variables (the batch symbol has no name) and their numbers of states.
    """
    def out_size(item: Any) -> tuple[int, str]:
        output = item[2].split("->")[1]
        return int(np.prod([sizes[c] for c in output], dtype=np.float64)), output
    _, widest = max(out_size(item) for item in contractions)
    variables = [str(names[c]) for c in widest if c in names]
    shown = ", ".join(variables[:12]) + (f" and {len(variables) - 12} more"
                                         if len(variables) > 12 else "")
    return InferenceError(
        f"exact inference here needs a table of {entries:,} entries "
        f"({entries * 8 / 2**30:.1f} GiB), more than the limit of {limit:,}", [Problem(
            f"the network is too densely connected for its evidence pattern: one step joins "
            f"{len(variables)} variables ({shown})", field="network",
            hint="give nodes fewer parents (or a noisy-OR/logit form instead of a table), "
                 "observe fewer nodes at once, or raise FORECAST_MAX_INTERMEDIATE if the "
                 "machine has the memory")])


_Index = TypeVar("_Index", bound=Hashable)
"""A variable of the plan: anything hashable (node names in practice)."""


@dataclass(frozen=True)
class _Step:
    """One pairwise product (or, with ``right=None``, one reduction) of the plan."""

    left: int
    right: int | None
    out: int
    a: _Operand
    b: _Operand | None  # None exactly when right is None
    out_shape: tuple[int, ...]


def _prepare(x: np.ndarray, op: _Operand) -> np.ndarray:
    if op.summed:
        x = x.sum(axis=op.summed)
    return x.transpose(op.forward).reshape((x.shape[0], *op.matrix))


def _unprepare(d: np.ndarray, op: _Operand) -> np.ndarray:
    """Inverse of :func:`_prepare` for a gradient: undo reshape and permutation, broadcast sums."""
    d = d.reshape((d.shape[0], *op.permuted)).transpose(op.backward)
    if op.summed:
        d = np.broadcast_to(np.expand_dims(d, op.summed), (d.shape[0], *op.shape))
    return d


class Plan:
    """A compiled sum-product over a fixed list of factors.

    Parameters
    ----------
    indices : sequence of sequence of hashable
        The variables of each factor, in the order of its axes (batch axis excluded).
    sizes : dict
        Number of states of each variable.
    batched : sequence of bool
        Which factors carry a batch axis of size `batch` (the others have size 1).
    batch : int
        The batch size B (1 if nothing is batched).

    Notes
    -----
    Every factor passed to :meth:`forward` has shape ``(b, *sizes of its indices)`` with ``b``
    equal to 1 or B. The plan sums over every variable; the result has shape ``(B,)``.
    """

    def __init__(
        self,
        indices: Sequence[Sequence[_Index]],
        sizes: Mapping[_Index, int],
        batched: Sequence[bool],
        batch: int,
    ) -> None:
        self.n_inputs = len(indices)
        self.input_indices = [tuple(ix) for ix in indices]
        symbols: dict[object, str] = {}
        for ix in self.input_indices:
            for v in ix:
                symbols.setdefault(v, opt_einsum.get_symbol(len(symbols)))
        bsym = opt_einsum.get_symbol(len(symbols))
        terms, shapes = [], []
        for ix, is_b in zip(self.input_indices, batched, strict=True):
            terms.append((bsym if is_b and batch > 1 else "") + "".join(symbols[v] for v in ix))
            shapes.append(((batch,) if is_b and batch > 1 else ()) + tuple(sizes[v] for v in ix))
        out = bsym if batch > 1 and any(batched) else ""
        if self.n_inputs == 0:
            self.steps: list[_Step] = []
            self.flops = 0.0
            return
        path, info = opt_einsum.contract_path(
            f"{','.join(terms)}->{out}", *shapes, shapes=True, optimize="greedy"
        )
        self.flops = float(info.opt_cost)
        self.largest_intermediate = int(info.largest_intermediate)
        limit = max_intermediate()
        if self.largest_intermediate > limit:
            names = {sym: v for v, sym in symbols.items()}
            by_symbol = {symbols[v]: n for v, n in sizes.items() if v in symbols}
            by_symbol[bsym] = batch
            raise _too_large(self.largest_intermediate, limit, info.contraction_list, names,
                             by_symbol)
        self.steps = self._compile(path, sizes)

    def _compile(self, path: Sequence[tuple[int, ...]], sizes: Mapping[Any, int]) -> list[_Step]:
        live: list[tuple[int, tuple[object, ...]]] = list(enumerate(self.input_indices))
        next_id = self.n_inputs
        steps = []
        for contraction in path:
            picked = [live[i] for i in contraction]
            for i in sorted(contraction, reverse=True):
                del live[i]
            # fold many-operand contractions (not produced by greedy) into pairs
            while len(picked) > 2:
                (ia, xa), (ib, xb) = picked[0], picked[1]
                later = {v for _, ix in [*live, *picked[2:]] for v in ix}
                step, out_ix = self._pair(ia, xa, ib, xb, later, next_id, sizes)
                steps.append(step)
                picked = [(next_id, out_ix), *picked[2:]]
                next_id += 1
            later = {v for _, ix in live for v in ix}
            if len(picked) == 2:
                (ia, xa), (ib, xb) = picked
                step, out_ix = self._pair(ia, xa, ib, xb, later, next_id, sizes)
            else:
                (ia, xa), = picked
                step, out_ix = self._reduce(ia, xa, later, next_id, sizes)
            steps.append(step)
            live.append((next_id, out_ix))
            next_id += 1
        (last, last_ix), = live
        if last_ix:  # everything must be summed out in the end
            step, _ = self._reduce(last, last_ix, set(), next_id, sizes)
            steps.append(step)
        return steps

    @staticmethod
    def _reduce(ia, xa, later, out_id, sizes):
        keep = tuple(v for v in xa if v in later)
        sum_axes = tuple(i for i, v in enumerate(xa) if v not in later)
        size = int(np.prod([sizes[v] for v in keep], dtype=np.int64))
        op = _Operand(sum_axes, tuple(range(len(keep))), (1, 1, size),
                      tuple(sizes[v] for v in xa))
        return _Step(ia, None, out_id, op, None, tuple(sizes[v] for v in keep)), keep

    @staticmethod
    def _pair(ia, xa, ib, xb, later, out_id, sizes):
        sa, sb = set(xa), set(xb)
        g = [v for v in xa if v in sb and v in later]
        k = [v for v in xa if v in sb and v not in later]
        i = [v for v in xa if v not in sb and v in later]
        j = [v for v in xb if v not in sa and v in later]

        def prod(vs):
            return int(np.prod([sizes[v] for v in vs], dtype=np.int64))

        def operand(x, first, second):
            kept = [v for v in x if v in set(g) | set(first) | set(second)]
            order = [*g, *first, *second]
            return _Operand(
                tuple(n for n, v in enumerate(x) if v not in kept),
                tuple(kept.index(v) for v in order),
                (prod(g), prod(first), prod(second)),
                tuple(sizes[v] for v in x),
            )

        a = operand(xa, i, k)
        b = operand(xb, k, j)
        out_ix = (*g, *i, *j)
        return _Step(ia, ib, out_id, a, b, tuple(sizes[v] for v in out_ix)), tuple(out_ix)

    def forward(
        self, factors: Sequence[np.ndarray], rescale: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """Contract the factors.

        Parameters
        ----------
        factors : sequence of ndarray
            One array per input, shape ``(1 or B, *sizes)``.
        rescale : bool, optional
            Divide every intermediate by its maximum (per batch item) so that nothing underflows;
            the log of the scales is returned separately. By default the plain product runs
            first and is redone rescaled only if a total falls below :data:`TINY` (where
            ``1 / total`` would overflow) or is not finite.

        Returns
        -------
        total : ndarray, shape (B,)
            The (rescaled) sum of the product of all factors.
        log_scale : ndarray, shape (B,) or (1,)
            Add to ``log(total)`` to get the log of the true sum.
        tape : list
            What :meth:`backward` needs.
        """
        if rescale is None:
            total, log_scale, tape = self.forward(factors, rescale=False)
            if np.all(total > TINY) and np.all(np.isfinite(total)):
                return total, log_scale, tape
            rescale = True
        tensors: dict[int, np.ndarray] = dict(enumerate(factors))
        tape = []
        log_scale = np.zeros(1)
        for st in self.steps:
            a2 = _prepare(tensors.pop(st.left), st.a)
            if st.right is None:
                b2 = None
                c = a2.sum(axis=(1, 2)).reshape((a2.shape[0], *st.out_shape))
            else:
                assert st.b is not None  # a product step has both operands
                b2 = _prepare(tensors.pop(st.right), st.b)
                c = np.matmul(a2, b2).reshape((-1, *st.out_shape))
            scale = None
            if rescale:
                scale = c.reshape(c.shape[0], -1).max(axis=1)
                scale = np.where(scale > 0, scale, 1.0)
                c = c / scale.reshape((-1,) + (1,) * (c.ndim - 1))
                log_scale = log_scale + np.log(scale)
            tape.append((a2, b2, scale))
            tensors[st.out] = c
        if not self.steps:
            total = np.ones(1)
        else:
            total = tensors[self.steps[-1].out].reshape(-1)
        return total, log_scale, tape

    def backward(self, tape: list, seed: np.ndarray) -> list[np.ndarray]:
        """Derivatives of the (rescaled) total with respect to every input factor, times `seed`.

        Parameters
        ----------
        tape : list
            From :meth:`forward`.
        seed : ndarray, shape (B,)
            Gradient of the quantity of interest with respect to the total; ``1 / total``
            gives derivatives of ``log(total)``.

        Returns
        -------
        list of ndarray
            One per input factor, broadcastable to ``(B, *sizes)``.
        """
        grads: dict[int, np.ndarray] = {}
        if self.steps:
            grads[self.steps[-1].out] = seed.reshape(-1)
        for st, (a2, b2, scale) in zip(reversed(self.steps), reversed(tape), strict=True):
            dc = grads.pop(st.out)
            if scale is not None:
                dc = dc / scale.reshape((-1,) + (1,) * (dc.ndim - 1))
            if st.right is None:
                da2 = np.broadcast_to(dc.reshape(dc.shape[0], 1, 1, -1),
                                      (dc.shape[0], *st.a.matrix))
                grads[st.left] = _unprepare(da2, st.a)
                continue
            assert st.b is not None  # a product step has both operands
            g, i, _ = st.a.matrix
            j = st.b.matrix[2]
            dc2 = dc.reshape((dc.shape[0], g, i, j))
            grads[st.left] = _unprepare(np.matmul(dc2, np.swapaxes(b2, -1, -2)), st.a)
            grads[st.right] = _unprepare(np.matmul(np.swapaxes(a2, -1, -2), dc2), st.b)
        return [grads[n] for n in range(self.n_inputs)]
