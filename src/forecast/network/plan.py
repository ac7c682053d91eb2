"""Contraction plans: sum-product over factors as a tree of pairwise products.

Exact inference in a discrete Bayesian network is one sum over the product of its factors.
A :class:`Plan` fixes, once per (list of factor scopes, batch layout), the order in which
factors are multiplied pairwise and which variables are summed at each step. Under a hundred
factors the path comes from opt_einsum's greedy search (a millisecond or two, and as good as a
min-fill junction tree there), and where that path is costly also from eliminating the
variables in a min-fill or min-degree order, the cheaper kept; from a hundred factors on, from
those elimination orders alone, the orders a junction tree is triangulated with
(:func:`forecast.network.ordering.search`: on bnlearn's munin family greedy's largest table
had 10^8 to 10^12 entries, the orders' stay under 10^7). Executing a plan is a few
microseconds of Python per step and vectorised arithmetic for the rest.

The *backward* pass runs the same steps in reverse and yields, for every input factor ``f``, the
derivative of the total with respect to ``f``. For a Bayesian network the total is P(e), which is
multilinear in the CPT entries, so ``f * d log P(e) / d f`` is the family posterior
``P(node, parents | e)`` — every marginal from one forward and one backward pass (the
junction-tree calibration, derived by differentiation).

Evidence does not change a plan. A plan is compiled for each variable's full number of states;
an input may carry any variable at size 1 instead, as long as every input carrying it does: a
hard finding ``node = state`` is the slice ``[state:state + 1]`` of every factor over the node,
which is the product with the finding's indicator vector without its zeros. Likelihood vectors
are factors like any other. So one plan serves every evidence pattern of a network.

Batching: a factor either carries a batch of B parameter draws or is shared by all of them.
At the interface (:meth:`Plan.forward`, :meth:`Plan.backward`) the batch is the leading axis,
of size 1 or B. Inside, it is the *last* axis and absent from shared factors: a step of a batched
plan is one ``numpy.einsum`` whose innermost loop runs over the contiguous draws (a 2×2 product
is then four vector operations, not B tiny matrix products and their copies); a step between two
shared factors is a ``numpy.matmul`` of the factors brought to matrix form (BLAS for large
tables). :meth:`Plan.forward_last` and :meth:`Plan.backward_last` take and give that layout.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import opt_einsum

from forecast.errors import ForecastError, InferenceError, Problem
from forecast.network.ordering import search as _search

__all__ = ["MAX_INTERMEDIATE", "SCRATCH_LIMIT", "Plan", "Scratch", "as_last", "max_intermediate"]


TINY = 1e-250
"""Totals below this are recomputed with rescaling (``1 / total`` would overflow)."""

MAX_INTERMEDIATE = 2**28
"""Entries the largest table of a plan may have (float64: 2 GiB), batch axis included.

A plan over this is refused before anything is allocated (:class:`~forecast.errors.
InferenceError`, naming its variables); ``$FORECAST_MAX_INTERMEDIATE`` (a whole number of
entries) raises or lowers it for a process."""

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY"
"""Subscripts of one einsum step's variables; ``Z`` is the batch axis."""


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
    """How one operand of a step is brought to ``(g, rows, cols)`` matrix form.

    Axes are those of the operand without any batch axis (the batch is last inside a plan, so
    these numbers hold in both layouts).
    """

    sum_axes: tuple[int, ...]  # axes summed out before the product
    perm: tuple[int, ...]  # permutation of the remaining axes into (G, I, K) or (G, K, J)
    matrix: tuple[int, int, int]  # (g, rows, cols) at full sizes
    shape: tuple[int, ...]  # shape of the operand at full sizes
    groups: tuple[int, int, int] = (0, 0, 0)  # how many permuted axes make g, rows and cols
    # derived once here, not on every call
    permuted: tuple[int, ...] = field(init=False)
    inverse: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        kept = [s for ax, s in enumerate(self.shape) if ax not in self.sum_axes]
        object.__setattr__(self, "permuted", tuple(kept[p] for p in self.perm))
        inverse = [0] * len(self.perm)
        for k, p in enumerate(self.perm):
            inverse[p] = k
        object.__setattr__(self, "inverse", tuple(inverse))


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
    """One pairwise product (or, with ``right=None``, one reduction) of the plan.

    ``a``/``b`` describe the matrix form (the ``matmul`` route and
    :mod:`forecast.network.maxproduct`); ``spec``, ``grad_a`` and ``grad_b`` are the einsum
    subscripts of the batched route: the product of the pre-summed operands, and the
    derivative of each operand's pre-summed form from the output's derivative and the other
    operand. ``batched`` says which of (left, right, out) carry the batch axis.
    """

    left: int
    right: int | None
    out: int
    a: _Operand
    b: _Operand | None  # None exactly when right is None
    out_shape: tuple[int, ...]
    batched: tuple[bool, bool, bool] = (False, False, False)
    spec: str = ""
    grad_a: str = ""
    grad_b: str = ""
    out_from: tuple[tuple[int, int], ...] = ()  # (operand, axis) of each axis of the output

    @property
    def einsum(self) -> bool:
        """Whether the forward product runs as an einsum (an operand is batched)."""
        return self.right is not None and (self.batched[0] or self.batched[1])


def _matrix(x: np.ndarray, op: _Operand) -> np.ndarray:
    """A pre-summed, unbatched operand in ``(g, rows, cols)`` form, at its actual sizes."""
    x = x.transpose(op.perm)
    ng, n1, _ = op.groups
    s = x.shape
    return x.reshape(math.prod(s[:ng]), math.prod(s[ng:ng + n1]), math.prod(s[ng + n1:]))


def _unsum(d: np.ndarray, op: _Operand, shape: tuple[int, ...], batch: int) -> np.ndarray:
    """Broadcast a derivative over the axes the operand summed out before its product.

    `shape` is the operand's actual shape without batch; `batch` > 0 when `d` has the batch
    axis last.
    """
    if not op.sum_axes:
        return d
    full = (*shape, batch) if batch else shape
    return np.broadcast_to(np.expand_dims(d, op.sum_axes), full)


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
    equal to 1 or B; a variable may have size 1 instead of its number of states in every
    factor that carries it (a hard finding, see the module's notes). The plan sums over every
    variable; the result has shape ``(B,)`` for a batched plan, else ``(1,)``.

    The path is searched by :func:`forecast.network.ordering.search` (greedy, or an elimination
    order on large networks); ``method`` says which one won, ``flops`` and
    ``largest_intermediate`` are opt_einsum's pricing of it (batch included).
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
        self.batch = batch
        self.input_batched = [bool(b) and batch > 1 for b in batched]
        self.batched = any(self.input_batched)
        symbols: dict[_Index, str] = {}
        for ix in self.input_indices:
            for v in ix:
                symbols.setdefault(v, opt_einsum.get_symbol(len(symbols)))
        bsym = opt_einsum.get_symbol(len(symbols))
        terms, shapes = [], []
        for ix, is_b in zip(self.input_indices, self.input_batched, strict=True):
            terms.append((bsym if is_b else "") + "".join(symbols[v] for v in ix))
            shapes.append(((batch,) if is_b else ()) + tuple(sizes[v] for v in ix))
        out = bsym if self.batched else ""
        self.steps: list[_Step] = []
        self.flops = 0.0
        self.largest_intermediate = 0
        self.method = "none"
        if self.n_inputs == 0:
            return
        expression = f"{','.join(terms)}->{out}"
        limit = max_intermediate()
        numbered = {v: k for k, v in enumerate(symbols)}  # the variables as 0, 1, ...
        path, info, self.method = _search(
            expression, shapes, [[numbered[v] for v in ix] for ix in self.input_indices],
            [sizes[v] for v in symbols], self.batched, limit)
        self.flops = float(info.opt_cost)
        self.largest_intermediate = int(info.largest_intermediate)
        if self.largest_intermediate > limit:
            names = {sym: v for v, sym in symbols.items()}
            by_symbol = {symbols[v]: n for v, n in sizes.items() if v in symbols}
            by_symbol[bsym] = batch
            raise _too_large(self.largest_intermediate, limit, info.contraction_list, names,
                             by_symbol)
        self.steps = self._compile(path, sizes)

    def _compile(self, path: Sequence[tuple[int, ...]], sizes: Mapping[Any, int]) -> list[_Step]:
        live: list[tuple[int, tuple[object, ...]]] = list(enumerate(self.input_indices))
        is_b = dict(enumerate(self.input_batched))
        next_id = self.n_inputs
        steps = []

        def add(step: _Step) -> None:
            steps.append(step)
            is_b[step.out] = step.batched[2]

        # how many current tables carry each variable: a step sums the variables of its
        # operands that no other table carries (counted, not rebuilt per step: a thousand
        # steps over a thousand tables took a tenth of a second)
        holders: Counter[object] = Counter(v for _, ix in live for v in ix)

        def later(*operands: tuple[object, ...]) -> set[object]:
            """The operands' variables that other tables still carry (after taking them)."""
            for ix in operands:
                holders.subtract(ix)
            return {v for ix in operands for v in ix if holders[v] > 0}

        for contraction in path:
            picked = [live[i] for i in contraction]
            for i in sorted(contraction, reverse=True):
                del live[i]
            # fold many-operand contractions (not produced by greedy) into pairs
            while len(picked) > 2:
                (ia, xa), (ib, xb) = picked[0], picked[1]
                step, out_ix = self._pair(ia, xa, ib, xb, later(xa, xb), next_id, sizes, is_b)
                holders.update(out_ix)
                add(step)
                picked = [(next_id, out_ix), *picked[2:]]
                next_id += 1
            if len(picked) == 2:
                (ia, xa), (ib, xb) = picked
                step, out_ix = self._pair(ia, xa, ib, xb, later(xa, xb), next_id, sizes, is_b)
            else:
                (ia, xa), = picked
                step, out_ix = self._reduce(ia, xa, later(xa), next_id, sizes, is_b)
            holders.update(out_ix)
            add(step)
            live.append((next_id, out_ix))
            next_id += 1
        (last, last_ix), = live
        if last_ix:  # everything must be summed out in the end
            step, _ = self._reduce(last, last_ix, set(), next_id, sizes, is_b)
            add(step)
        return steps

    @staticmethod
    def _reduce(ia, xa, later, out_id, sizes, is_b):
        keep = tuple(v for v in xa if v in later)
        sum_axes = tuple(i for i, v in enumerate(xa) if v not in later)
        size = math.prod(sizes[v] for v in keep)
        op = _Operand(sum_axes, tuple(range(len(keep))), (1, 1, size),
                      tuple(sizes[v] for v in xa), (0, 0, len(keep)))
        return _Step(ia, None, out_id, op, None, tuple(sizes[v] for v in keep),
                     (is_b[ia], False, is_b[ia])), keep

    def _pair(self, ia, xa, ib, xb, later, out_id, sizes, is_b):
        sa, sb = set(xa), set(xb)
        g = [v for v in xa if v in sb and v in later]
        k = [v for v in xa if v in sb and v not in later]
        i = [v for v in xa if v not in sb and v in later]
        j = [v for v in xb if v not in sa and v in later]

        def prod(vs):
            return math.prod(sizes[v] for v in vs)

        def operand(x, first, second):
            order = [*g, *first, *second]
            used = set(order)
            kept = [v for v in x if v in used]
            return _Operand(
                tuple(n for n, v in enumerate(x) if v not in kept),
                tuple(kept.index(v) for v in order),
                (prod(g), prod(first), prod(second)),
                tuple(sizes[v] for v in x),
                (len(g), len(first), len(second)),
            ), tuple(kept)

        a, ka = operand(xa, i, k)
        b, kb = operand(xb, k, j)
        out_ix = (*g, *i, *j)
        ba, bb = is_b[ia], is_b[ib]
        bc = ba or bb
        joined = list(dict.fromkeys((*ka, *kb)))
        if len(joined) > len(_LETTERS):
            raise InferenceError(f"one step of exact inference here joins {len(joined)} "
                                 "variables, more than it can index", [Problem(
                                     "the network is too densely connected", field="network",
                                     hint="give nodes fewer parents")])
        letter = {v: _LETTERS[n] for n, v in enumerate(joined)}

        def sub(vs, batched):
            return "".join(letter[v] for v in vs) + ("Z" if batched else "")

        # the derivative carries the batch whenever the plan's total does
        bd = self.batched
        spec = f"{sub(ka, ba)},{sub(kb, bb)}->{sub(out_ix, bc)}"
        grad_a = f"{sub(out_ix, bd)},{sub(kb, bb)}->{sub(ka, bd)}"
        grad_b = f"{sub(ka, ba)},{sub(out_ix, bd)}->{sub(kb, bd)}"
        out_from = tuple((0, ka.index(v)) if v in ka else (1, kb.index(v)) for v in out_ix)
        if bc:
            out_from += ((0, len(ka)) if ba else (1, len(kb)),)
        step = _Step(ia, ib, out_id, a, b, tuple(sizes[v] for v in out_ix), (ba, bb, bc),
                     spec, grad_a, grad_b, out_from)
        return step, out_ix

    # ------------------------------------------------------------------ execution
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
        return self.forward_last([self._to_last(f, n) for n, f in enumerate(factors)], rescale)

    def _to_last(self, f: np.ndarray, n: int) -> np.ndarray:
        """Input `n` from ``(1 or B, *sizes)`` to the plan's layout (batch last, or none)."""
        f = np.asarray(f, dtype=float)
        if not self.input_batched[n]:
            if f.shape[0] != 1:
                raise ValueError(f"input {n} of the plan is shared by the draws, got a leading "
                                 f"axis of {f.shape[0]}")
            return f[0]
        if f.shape[0] == 1:
            f = np.broadcast_to(f, (self.batch, *f.shape[1:]))
        return as_last(f)

    def forward_last(
        self, factors: Sequence[np.ndarray], rescale: bool | None = None,
        scratch: Scratch | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """:meth:`forward` on factors in the plan's layout: batch last, absent if shared.

        Input `n` has shape ``(*sizes, B)`` if ``input_batched[n]``, else ``sizes``; the draws'
        axis should be contiguous (other layouts are correct, only slower). With `scratch`,
        the batched intermediates are views of its memory (valid until its next reset).
        """
        if rescale is None:
            plain = self.forward_last(factors, False, scratch)
            if np.all(plain[0] > TINY) and np.all(np.isfinite(plain[0])):
                return plain
            rescale = True
        tensors: dict[int, np.ndarray] = dict(enumerate(factors))
        tape: list = []
        log_scale = np.zeros(1)
        batch = self.batch
        for st in self.steps:
            a = tensors.pop(st.left)
            a_s = _presum(a, st.a.sum_axes, st.batched[0], scratch) if st.a.sum_axes else a
            if st.b is None:
                b = b_s = None
                c = a_s
            else:
                b = tensors.pop(st.right)  # type: ignore[arg-type]
                b_s = _presum(b, st.b.sum_axes, st.batched[1], scratch) if st.b.sum_axes else b
                if st.einsum:
                    if scratch is None:
                        c = np.einsum(st.spec, a_s, b_s)
                    else:
                        ops = (a_s, b_s)
                        c = np.einsum(st.spec, a_s, b_s, out=scratch.take(
                            tuple([ops[o].shape[ax] for o, ax in st.out_from])))
                elif a.shape == st.a.shape and b.shape == st.b.shape:  # as compiled
                    a2 = a_s.transpose(st.a.perm).reshape(st.a.matrix)
                    b2 = b_s.transpose(st.b.perm).reshape(st.b.matrix)
                    c = np.matmul(a2, b2).reshape(st.out_shape)
                    if not self.batched:  # the backward pass uses the matrices too
                        a_s, b_s = a2, b2
                else:  # some variables at size 1
                    a2, b2 = _matrix(a_s, st.a), _matrix(b_s, st.b)
                    c = np.matmul(a2, b2).reshape(_out_shape(st, (a.shape, b.shape)))
                    if not self.batched:
                        a_s, b_s = a2, b2
            scale = None
            if rescale:
                if st.batched[2]:
                    scale = c.reshape(-1, batch).max(axis=0)
                else:
                    scale = np.asarray(c.max() if c.size else 1.0)
                scale = np.where(scale > 0, scale, 1.0)
                c = c / scale
                log_scale = log_scale + np.log(scale)
            # the operands' shapes (before their pre-sums) for the backward pass
            tape.append((a_s, b_s, scale, (a.shape, None if b is None else b.shape)))
            tensors[st.out] = c
        if not self.steps:
            total = np.ones(1)
        else:
            total = np.array(tensors[self.steps[-1].out]).reshape(-1)
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
        grads = self.backward_last(tape, seed)
        return [np.moveaxis(g, -1, 0) if self.batched else g[None] for g in grads]

    def backward_last(self, tape: list, seed: np.ndarray,
                      wanted: Sequence[int] | None = None,
                      scratch: Scratch | None = None) -> list[np.ndarray]:
        """:meth:`backward` in the plan's layout: each derivative has the batch axis last.

        Parameters
        ----------
        tape, seed
            As in :meth:`backward`.
        wanted : sequence of int, optional
            The inputs whose derivatives are needed (default all); the others are not
            computed, nor any step that leads only to them, and come back as ``None``.
        scratch : Scratch, optional
            Memory for the batched derivatives (valid until its next reset).

        Returns
        -------
        list of ndarray or None
            One per input, shape ``(*sizes, B)`` for a batched plan, else ``sizes`` (a
            broadcast view where the input's axes were summed before its first product).
        """
        need = self._needed(wanted)
        grads: dict[int, np.ndarray] = {}
        batch = self.batch if self.batched else 0
        if self.steps:
            seed = np.asarray(seed, dtype=float)
            grads[self.steps[-1].out] = (np.broadcast_to(seed.reshape(-1), (batch,)) if batch
                                         else seed.reshape(()))
        for st, (a_s, b_s, scale, raw) in zip(reversed(self.steps), reversed(tape),
                                               strict=True):
            if st.out not in grads:
                continue
            # the operands' shapes without their batch axes
            shape_a: tuple[int, ...] = raw[0][:-1] if st.batched[0] else raw[0]
            dc = grads.pop(st.out)
            if scale is not None:
                dc = dc / scale
            if st.b is None:
                grads[st.left] = _unsum(dc, st.a, shape_a, batch)
                continue
            assert st.right is not None and raw[1] is not None
            shape_b: tuple[int, ...] = raw[1][:-1] if st.batched[1] else raw[1]
            want_a, want_b = st.left in need, st.right in need
            if batch:
                if want_a:
                    da = np.einsum(st.grad_a, dc, b_s, out=_empty(
                        (*_vars(a_s, st.batched[0]), batch), scratch))
                    grads[st.left] = _unsum(da, st.a, shape_a, batch)
                if want_b:
                    db = np.einsum(st.grad_b, a_s, dc, out=_empty(
                        (*_vars(b_s, st.batched[1]), batch), scratch))
                    grads[st.right] = _unsum(db, st.b, shape_b, batch)
                continue
            dc2 = dc.reshape(a_s.shape[0], a_s.shape[1], b_s.shape[2])
            compiled = shape_a == st.a.shape and shape_b == st.b.shape
            if want_a:
                da = np.matmul(dc2, b_s.transpose(0, 2, 1))
                da = da.reshape(st.a.permuted if compiled else _permuted(st.a, shape_a))
                grads[st.left] = _unsum(da.transpose(st.a.inverse), st.a, shape_a, 0)
            if want_b:
                db = np.matmul(a_s.transpose(0, 2, 1), dc2)
                db = db.reshape(st.b.permuted if compiled else _permuted(st.b, shape_b))
                grads[st.right] = _unsum(db.transpose(st.b.inverse), st.b, shape_b, 0)
        return [grads.get(n) for n in range(self.n_inputs)]  # type: ignore[misc]

    def _needed(self, wanted: Sequence[int] | None) -> set[int] | range:
        """Every tensor on the way from the total to a wanted input."""
        if wanted is None:  # inputs, then the steps' outputs, are numbered in turn
            return range(self.n_inputs + len(self.steps))
        need = set(wanted)
        for st in self.steps:  # children come before their parents
            if st.left in need or (st.right is not None and st.right in need):
                need.add(st.out)
        return need


SCRATCH_LIMIT = 2**25
"""Most entries (float64: 256 MiB) a :class:`Scratch` keeps between rounds."""


class Scratch:
    """Memory reused by the rounds of plan executions of one thread.

    Fresh memory costs a page fault per 4 KiB the first time it is written; a query of a few
    thousand draws writes tens of megabytes of intermediates, and the allocator hands them
    back to the system between queries, so faulting them in again took most of a query's
    time. :meth:`take` hands out views of one buffer in turn; :meth:`reset` starts a new round
    (every view handed out before may then be overwritten) with the buffer grown to what the
    last round needed, up to :data:`SCRATCH_LIMIT` entries (beyond it, fresh arrays), and
    shrunk back after :data:`_SHRINK_AFTER` rounds in a row that needed under a quarter of it
    (one large query does not pin its memory for good).
    """

    _SHRINK_AFTER = 16

    def __init__(self) -> None:
        self._buffer = np.empty(0)
        self._used = 0
        self._need = 0
        self._small = 0  # rounds in a row that used under a quarter of the buffer

    def reset(self) -> None:
        """Start a new round: everything taken before is released."""
        need = self._need
        if self._buffer.size < need <= SCRATCH_LIMIT:
            self._buffer = np.empty(need)
        self._small = self._small + 1 if 4 * need < self._buffer.size else 0
        if self._small >= self._SHRINK_AFTER:
            self._buffer = np.empty(need)
            self._small = 0
        self._used = self._need = 0

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised C-contiguous float64 array of `shape`, valid until :meth:`reset`."""
        n = math.prod(shape)
        start = self._used
        self._used += -(-n // 8) * 8  # 64-byte aligned
        self._need = max(self._need, self._used)
        if self._used > self._buffer.size:
            return np.empty(shape)
        return self._buffer[start:start + n].reshape(shape)


def _empty(shape: tuple[int, ...], scratch: Scratch | None) -> np.ndarray:
    return np.empty(shape) if scratch is None else scratch.take(shape)


def _presum(x: np.ndarray, axes: tuple[int, ...], batched: bool,
            scratch: Scratch | None) -> np.ndarray:
    """`x` summed over `axes` (its own variables that no later step needs)."""
    if not axes:
        return x
    if not batched:
        return x.sum(axis=axes)
    shape = tuple(n for ax, n in enumerate(x.shape) if ax not in axes)
    return np.sum(x, axis=axes, out=_empty(shape, scratch))


def as_last(f: np.ndarray, scratch: Scratch | None = None) -> np.ndarray:
    """``(B, *sizes)`` to ``(*sizes, B)`` with the draws contiguous (a view if already so)."""
    x = f.transpose(_TO_LAST[f.ndim] if f.ndim < len(_TO_LAST) else
                    (*range(1, f.ndim), 0))
    if x.strides[-1] != x.itemsize:
        out = _empty(x.shape, scratch)
        np.copyto(out, x)
        x = out
    return x


_TO_LAST = [(), *((*range(1, n), 0) for n in range(1, 12))]
"""The axes that move the draws from first to last, by number of dimensions."""


def _vars(x: np.ndarray, batched: bool) -> tuple[int, ...]:
    """The shape of `x` without its batch axis."""
    return x.shape[:-1] if batched else x.shape


def _permuted(op: _Operand, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The actual shape of an operand after its pre-sum and permutation."""
    kept = [s for ax, s in enumerate(shape) if ax not in op.sum_axes]
    return tuple(kept[p] for p in op.perm)


def _out_shape(st: _Step, shapes: tuple) -> tuple[int, ...]:
    """The actual shape of a matrix step's output: (g, i) axes of a, then j axes of b."""
    assert st.b is not None
    pa, pb = _permuted(st.a, shapes[0]), _permuted(st.b, shapes[1])
    ng, ni, _ = st.a.groups
    return (*pa[:ng + ni], *pb[ng + st.b.groups[1]:])
