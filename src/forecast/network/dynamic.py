"""Exact inference over time: a two-slice network unrolled over steps, by forward–backward.

A :class:`DynamicNetwork` is one time *slice* (a :class:`~forecast.network.network.Network`)
whose **persistent** nodes carry their value from one step to the next: at step ``t`` such a
node's CPT has its own value at ``t − 1`` as an extra parent (its *transition*, shape
``(*parents, previous, card)``), while every other node — a **transient** node: an event that
happens or not within the step, or a condition without memory — is drawn afresh each step
from its slice CPT given its parents in the same step. At step 0 the persistent nodes are drawn
from their slice CPTs too (the *initial* distribution).

The persistent nodes at one step separate the past from the future, so inference runs over
their joint state (the *frontier*, of size ``F = ∏ cards``) step by step, with a cost linear in
the number of steps:

* **forward** — ``α_t(s) = P(s_t, y_0..y_t)``, normalised each step; the normaliser is
  ``P(y_t | y_0..y_{t-1})``, so the log-evidence is the sum of the per-step log-increments
  (:attr:`Filtered.log_increments` — what sequential Monte Carlo over the parameters reweights
  by);
* **backward** — ``β_t(s) = P(y_{t+1}..y_T | s_t)``, the same node-by-node transition applied
  transposed in reverse order;
* **marginals** — every node at every step: persistent nodes from ``α_t β_t``, transient nodes
  from the transient part of slice ``t`` weighted by the frontier's posterior (one contraction
  plan per evidence pattern, :class:`~forecast.network.plan.Plan`, differentiated for all
  families at once).

A transition step applies the persistent nodes' transitions one node at a time in topological
order (a node's parents are persistent and already hold their new values), so a step costs
``F × Σ card`` multiply-adds per parameter draw instead of ``F²``. The transient part of a
step — the events and their evidence given the frontier — is summed out by opt_einsum into a
factor over the persistent parents it touches. The inner loops run in a numba kernel, one
parameter draw per thread, with the frontier in cache.

Evidence is one likelihood vector per (node, step): a hard finding is a one-hot vector, a soft
finding its likelihood, no finding a vector of ones (:func:`step_likelihoods`). Everything is
batched over parameter draws: an input with a leading axis of size B (one more axis than its
unbatched shape) is per draw, and every output keeps the batch axis, of size B or 1, whatever B
is (it is never squeezed).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import networkx as nx
import numba
import numpy as np
import opt_einsum

from forecast.errors import EvidenceError, InferenceError, Problem, SpecError, did_you_mean
from forecast.network.network import Network
from forecast.network.plan import Plan

__all__ = [
    "MAX_FRONTIER",
    "DynamicEngine",
    "DynamicNetwork",
    "DynamicPosterior",
    "Filtered",
    "step_likelihoods",
]

_Tabs = dict[str, dict[str, np.ndarray]]
"""The slice CPTs and the transitions of one call: ``{"cpts": …, "transitions": …}``."""

MAX_FRONTIER = 1 << 20
"""Largest joint state of the persistent nodes the engine accepts (8 MiB per draw in float64)."""

_PLANS = 64  # contraction plans kept per engine (one per evidence pattern and batch layout)

FACTOR_CACHE_BYTES = 256 << 20
"""Memory one call may spend keeping the transient factors of its steps for reuse."""


# ------------------------------------------------------------------------------- the network


@dataclass(frozen=True)
class DynamicNetwork:
    """A two-slice network: a slice whose persistent nodes depend on their previous value.

    Parameters
    ----------
    slice : Network
        One step: states, parents within the step, and CPTs — the initial distribution of the
        persistent nodes (step 0) and the every-step CPTs of the transient nodes.
    transitions : mapping of str to array_like
        For each persistent node, its CPT at steps ``t ≥ 1``, shape
        ``(*parent_cards, card_previous, card)``: the parents (persistent, same step) first, in
        the slice's parent order, then the node's own value at ``t − 1``. Rows sum to 1.

    Raises
    ------
    SpecError
        If a transition belongs to no node or has the wrong shape or rows, if a persistent
        node has a transient parent (the persistent nodes must separate the steps), or if the
        joint state of the persistent nodes exceeds :data:`MAX_FRONTIER`.
    """

    slice: Network
    transitions: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        net = self.slice
        problems: list[Problem] = []
        tables: dict[str, np.ndarray] = {}
        for node, raw in self.transitions.items():
            where = f"{net.name}: transition of '{node}'"
            if node not in net.states:
                problems.append(Problem("belongs to no node", hint=did_you_mean(node, net.nodes),
                                        field=where))
                continue
            table = np.asarray(raw, dtype=float)
            expected = (*(net.card(p) for p in net.parents[node]), net.card(node), net.card(node))
            if table.shape != expected:
                problems.append(Problem(f"has shape {table.shape}, expected {expected} "
                                        "(parents, previous value, value)", field=where))
                continue
            if not np.all(np.isfinite(table)) or table.min() < 0:
                problems.append(Problem("has entries that are not probabilities", field=where))
            elif not np.allclose(table.sum(axis=-1), 1.0, atol=net.row_sum_atol):
                problems.append(Problem("has rows that do not sum to 1", field=where))
            tables[node] = table
        persistent = set(tables)
        for node in persistent:
            transient = [p for p in net.parents[node] if p not in persistent]
            if transient:
                problems.append(Problem(
                    f"persists from step to step but has parent(s) without memory: "
                    f"{', '.join(transient)}", file=net.name, field=f"node '{node}'",
                    hint="give those parents a transition too, or this node none"))
        if problems:
            raise SpecError(f"dynamic network '{net.name}' is invalid", problems)
        size = int(np.prod([net.card(n) for n in persistent], dtype=np.int64))
        if size > MAX_FRONTIER:
            biggest = sorted(persistent, key=net.card, reverse=True)[:5]
            raise SpecError(f"dynamic network '{net.name}' is too large", [Problem(
                f"their joint state has {size:,} entries per parameter draw (at most "
                f"{MAX_FRONTIER:,})", file=net.name, field="persistent nodes",
                hint=f"give fewer nodes memory (largest: {', '.join(biggest)})")])
        for table in tables.values():
            table.flags.writeable = False
        object.__setattr__(self, "transitions", tables)

    @cached_property
    def persistent(self) -> tuple[str, ...]:
        """The persistent nodes in the slice's topological order (the frontier's axes)."""
        return tuple(n for n in self.slice.order if n in self.transitions)

    @cached_property
    def transient(self) -> tuple[str, ...]:
        """The nodes drawn afresh every step, in topological order."""
        return tuple(n for n in self.slice.order if n not in self.transitions)

    @property
    def frontier_size(self) -> int:
        """Joint states of the persistent nodes."""
        return int(np.prod([self.slice.card(n) for n in self.persistent], dtype=np.int64))

    def ancestral(self, nodes: Sequence[str]) -> DynamicNetwork:
        """The network restricted to `nodes` and their ancestors (within a slice).

        A persistent node's only edge across steps is from its own previous value, so the
        ancestors of a set within a slice are its ancestors over all steps too: the marginal
        distribution of the restricted nodes, at every step and given evidence on them only,
        is the same in the restricted network (the other nodes are barren and sum to one).
        This is what makes a forecast of one event cheap: its frontier is the persistent
        ancestors only.

        Parameters
        ----------
        nodes : sequence of str
            Nodes of the slice.

        Returns
        -------
        DynamicNetwork
            Nodes in the slice's order, the same CPTs and transitions.

        Raises
        ------
        EvidenceError
            If a node is not in the network.
        """
        net = self.slice
        unknown = [n for n in nodes if n not in net.states]
        if unknown:
            raise EvidenceError("unknown nodes", [Problem(
                "not in the network", field=f"nodes {n}", hint=did_you_mean(n, net.nodes))
                for n in unknown])
        keep = set(nodes).union(*(nx.ancestors(net.graph, n) for n in nodes))
        names = [n for n in net.nodes if n in keep]
        sub = Network({n: net.states[n] for n in names}, {n: net.parents[n] for n in names},
                      {n: net.cpts[n] for n in names}, name=net.name,
                      row_sum_atol=net.row_sum_atol)
        return DynamicNetwork(sub, {n: t for n, t in self.transitions.items() if n in keep})

    def unroll(self, steps: int, *, name: str | None = None) -> Network:
        """The static network over ``steps`` steps, nodes named ``"node@t"`` (for checks).

        Parameters
        ----------
        steps : int
            Number of steps, at least 1.
        name : str, optional
            The unrolled network's name.

        Returns
        -------
        Network
        """
        net = self.slice
        states: dict[str, tuple[str, ...]] = {}
        parents: dict[str, tuple[str, ...]] = {}
        cpts: dict[str, np.ndarray] = {}
        for t in range(steps):
            for node in net.order:
                key = f"{node}@{t}"
                states[key] = net.states[node]
                own = tuple(f"{p}@{t}" for p in net.parents[node])
                if node in self.transitions and t > 0:
                    parents[key] = (*own, f"{node}@{t - 1}")
                    cpts[key] = self.transitions[node]
                else:
                    parents[key] = own
                    cpts[key] = net.cpts[node]
        return Network(states, parents, cpts, name=name or f"{net.name}@{steps}",
                       row_sum_atol=net.row_sum_atol)


def step_likelihoods(
    network: Network,
    steps: int,
    findings: Sequence[tuple[int, str, str]] = (),
    soft: Sequence[tuple[int, str, Sequence[float]]] = (),
) -> dict[str, np.ndarray]:
    """Likelihood vectors per node and step from hard and soft findings.

    Parameters
    ----------
    network : Network
        The slice (for states).
    steps : int
        Number of steps.
    findings : sequence of (step, node, state)
        Hard findings.
    soft : sequence of (step, node, likelihood)
        Soft findings; several on one (node, step) multiply.

    Returns
    -------
    dict of str to ndarray
        ``{node: (steps, card)}`` for every node with a finding; others are absent (ones).

    Raises
    ------
    EvidenceError
        Unknown nodes or states, steps outside ``[0, steps)``, bad likelihoods.
    """
    out: dict[str, np.ndarray] = {}
    problems: list[Problem] = []

    def row(node: str, step: int, where: str) -> np.ndarray | None:
        if node not in network.states:
            problems.append(Problem(f"unknown node '{node}'", field=where,
                                    hint=did_you_mean(node, network.nodes)))
            return None
        if not 0 <= step < steps:
            problems.append(Problem(f"step {step} is outside 0..{steps - 1}", field=where))
            return None
        table = out.setdefault(node, np.ones((steps, network.card(node))))
        return table[step]

    for step, node, state in findings:
        where = f"step {step}: {node}={state}"
        target = row(node, step, where)
        if target is None:
            continue
        if state not in network.states[node]:
            problems.append(Problem(f"'{node}' has no state '{state}'", field=where,
                                    hint=did_you_mean(state, network.states[node])))
            continue
        onehot = np.zeros(network.card(node))
        onehot[network.states[node].index(state)] = 1.0
        target *= onehot
    for step, node, lik in soft:
        where = f"step {step}: {node}~{list(lik)}"
        target = row(node, step, where)
        if target is None:
            continue
        vec = np.asarray(lik, dtype=float)
        if vec.shape != target.shape or not np.all(np.isfinite(vec)) or vec.min() < 0 \
                or vec.max() <= 0:
            problems.append(Problem(f"needs {target.size} finite non-negative numbers, "
                                    "not all zero", field=where))
            continue
        target *= vec / vec.max()
    if problems:
        raise EvidenceError("findings over steps do not fit the network", problems)
    return out


class _FactorCache:
    """The transient factors of one call's steps by evidence signature, least recent out.

    Within one call the CPTs are fixed, so steps with the same transient evidence (every
    closed step with only non-occurrence, every step of a forecast) have the same factor.
    """

    def __init__(self, budget: int = FACTOR_CACHE_BYTES) -> None:
        self._items: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._budget = budget

    def get(self, key: tuple) -> tuple[np.ndarray, np.ndarray] | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple, value: tuple[np.ndarray, np.ndarray]) -> None:
        size = value[0].nbytes
        if size > self._budget:
            return
        self._items[key] = value
        self._bytes += size
        while self._bytes > self._budget:
            _, old = self._items.popitem(last=False)
            self._bytes -= old[0].nbytes


# ------------------------------------------------------------------------------- the kernels


CHUNK = 16
"""Parameter draws processed together in the kernels' innermost (vectorised) loop."""


def _to_chunks(x: np.ndarray, batch: int) -> np.ndarray:
    """(1 or B, L) → (chunks, L, width): draws innermost, the last draw repeated as padding."""
    x = np.broadcast_to(x, (batch, x.shape[1]))
    width = min(CHUNK, batch)
    chunks = -(-batch // width)
    pad = chunks * width - batch
    if pad:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    return x.reshape(chunks, width, -1).transpose(0, 2, 1).copy()  # writable, C order


def _from_chunks(x: np.ndarray, batch: int) -> np.ndarray:
    """Inverse of :func:`_to_chunks`: (chunks, L, width) → (B, L)."""
    return x.transpose(0, 2, 1).reshape(-1, x.shape[1])[:batch]


def _propagate(alpha, tables, offsets, cfg, cards, strides, transpose, order):
    """Apply the persistent nodes' transitions to ``alpha`` in place, one node at a time.

    ``alpha`` is (chunks, F, width) and ``tables`` (chunks, L, width): parameter draws are
    the innermost axis, so every update below is a vectorised loop over draws.
    ``tables[·, offsets[i] + (cfg[i, s] * c + old) * c + new, ·]`` is node i's transition; the
    state index ``s`` enumerates the frontier in C order with ``strides``. Forward
    (``transpose`` false) maps old values to new in ``order``; backward maps a function of new
    values to one of old values (the transpose), in the reverse order.

    The frontier's axes are in topological order, so a node's parents are outer axes: within a
    block of states that differ only in this node and later ones, the parents' configuration
    is fixed, and the update is ``c × c`` scaled sums of contiguous runs.
    """
    chunks, size, width = alpha.shape
    for ch in numba.prange(chunks):
        tab = tables[ch]
        src_buf = alpha[ch]
        dst_buf = np.empty((size, width))
        swaps = 0
        for i in order:
            c = cards[i]
            stride = strides[i]
            block = c * stride
            conf = cfg[i]
            for outer in range(0, size, block):
                k = offsets[i] + conf[outer] * c * c
                for x in range(c):
                    dst = outer + x * stride
                    for y in range(c):
                        w = tab[k + x * c + y] if transpose else tab[k + y * c + x]
                        src = outer + y * stride
                        for inner in range(stride):
                            row = dst_buf[dst + inner]
                            old = src_buf[src + inner]
                            if y == 0:
                                for j in range(width):
                                    row[j] = w[j] * old[j]
                            else:
                                for j in range(width):
                                    row[j] += w[j] * old[j]
            src_buf, dst_buf = dst_buf, src_buf  # the new values are the next node's input
            swaps += 1
        if swaps % 2 == 1:  # the result is in the scratch buffer
            alpha[ch][:, :] = src_buf


def _weigh(alpha, lam, lam_offsets, lam_nodes, xi, phi, phi_map, logc):
    """Multiply ``alpha`` by the frontier evidence and the transient factor; normalise.

    ``alpha`` (chunks, F, width); ``lam[·, lam_offsets[j] + x, ·]`` the likelihood of value x
    of frontier node ``lam_nodes[j]``; ``phi[·, phi_map[s], ·]`` the transient factor (an
    empty ``phi`` is 1). The log of each draw's total goes to ``logc`` (chunks, width): −inf
    where it is 0, and that draw's column is left 0.
    """
    chunks, size, width = alpha.shape
    nlam = lam_nodes.shape[0]
    use_phi = phi.shape[1] > 0
    for ch in numba.prange(chunks):
        a = alpha[ch]
        total = np.zeros(width)
        for s in range(size):
            row = a[s]
            for j in range(nlam):
                factor = lam[ch, lam_offsets[j] + xi[lam_nodes[j], s]]
                for d in range(width):
                    row[d] *= factor[d]
            if use_phi:
                factor = phi[ch, phi_map[s]]
                for d in range(width):
                    row[d] *= factor[d]
            for d in range(width):
                total[d] += row[d]
        for d in range(width):
            if total[d] > 0.0:
                inv = 1.0 / total[d]
                for s in range(size):
                    a[s, d] *= inv
                logc[ch, d] = np.log(total[d])
            else:
                logc[ch, d] = -np.inf


def _marginals(alpha, maps, offsets, out):
    """Sum the frontier onto several smaller tables in one pass.

    ``alpha`` (chunks, F, width); ``out[·, offsets[k] + maps[k, s], ·]`` receives the mass of
    frontier state s (``out`` zeroed by the caller). With ``maps[k]`` a node's value in each
    state, table k is that node's marginal; with an index over several nodes, their joint.
    """
    chunks, size, width = alpha.shape
    for ch in numba.prange(chunks):
        a = alpha[ch]
        o = out[ch]
        for s in range(size):
            row = a[s]
            for k in range(maps.shape[0]):
                dst = o[offsets[k] + maps[k, s]]
                for j in range(width):
                    dst[j] += row[j]


# Each kernel is compiled twice: threaded over chunks of draws, and serial for a single chunk
# (a parallel region with one chunk of work only waits for threads, badly so on a busy machine).
_KERNELS = {
    (name, threaded): numba.njit(parallel=threaded, cache=True, nogil=True, fastmath=fast)(fn)
    for name, fn, fast in (("propagate", _propagate, True), ("weigh", _weigh, False),
                           ("marginals", _marginals, True))
    for threaded in (True, False)
}


def _kernel(name: str, chunks: int) -> Any:
    """The threaded kernel for several chunks of draws, the serial one for one."""
    return _KERNELS[(name, chunks > 1)]


# ------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Filtered:
    """The forward pass: per-step log-increments and the last step's filtering distribution.

    Attributes
    ----------
    log_increments : ndarray, shape (B, T)
        ``log P(y_t | y_0..y_{t-1})`` per draw and step (−inf where the evidence is impossible).
    frontier : ndarray, shape (B, F)
        ``P(s_{T-1} | y_0..y_{T-1})``, the joint of the persistent nodes after the last step.
    """

    log_increments: np.ndarray
    frontier: np.ndarray

    @property
    def log_evidence(self) -> np.ndarray:
        """``log P(y)`` per draw, shape (B,)."""
        return self.log_increments.sum(axis=1)


@dataclass(frozen=True)
class DynamicPosterior:
    """Marginals of every node at every step, and the log-evidence.

    Attributes
    ----------
    marginals : dict of str to ndarray
        ``{node: (B, T, card)}``.
    log_evidence : ndarray, shape (B,)
    steps : int
    """

    marginals: dict[str, np.ndarray]
    log_evidence: np.ndarray
    steps: int


# ------------------------------------------------------------------------------- the engine


class DynamicEngine:
    """Exact filtering and smoothing on a :class:`DynamicNetwork`, batched over draws.

    Parameters
    ----------
    network : DynamicNetwork
        Its CPTs are the defaults that ``cpts=`` and ``transitions=`` override per call.
    """

    def __init__(self, network: DynamicNetwork) -> None:
        self.network = network
        net = network.slice
        self._persistent = network.persistent
        self._pos = {n: i for i, n in enumerate(self._persistent)}
        cards = np.array([net.card(n) for n in self._persistent], dtype=np.int64)
        self._cards = cards
        k = len(cards)
        self._size = int(np.prod(cards, dtype=np.int64)) if k else 1
        self._strides = np.array([int(np.prod(cards[i + 1:], dtype=np.int64))
                                  for i in range(k)], dtype=np.int64)
        states = (np.array(np.unravel_index(np.arange(self._size), tuple(cards)),
                           dtype=np.int64).reshape(k, self._size)
                  if k else np.zeros((0, 1), dtype=np.int64))
        self._xi = np.ascontiguousarray(states.astype(np.int32))
        self._cfg = np.zeros((k, self._size), dtype=np.int32)
        for i, node in enumerate(self._persistent):
            for p in net.parents[node]:
                j = self._pos[p]
                self._cfg[i] = self._cfg[i] * cards[j] + states[j]
        sizes = [int(np.prod([net.card(p) for p in net.parents[n]], dtype=np.int64))
                 * int(cards[i]) ** 2 for i, n in enumerate(self._persistent)]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) \
            if k else np.zeros(0, dtype=np.int64)
        self._order = np.arange(k, dtype=np.int64)
        self._reverse = self._order[::-1].copy()
        self._plans: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._maps: dict[tuple[str, ...], np.ndarray] = {}  # scopes are few: one per pattern
        self._lock = threading.Lock()
        self._subs: dict[tuple[str, ...], DynamicEngine] = {}
        self._transient_set = frozenset(network.transient)
        self._ancestors = {
            n: (nx.ancestors(net.graph, n) | {n}) for n in network.transient}

    # ------------------------------------------------------------------ public API
    def filter(
        self,
        likelihoods: Mapping[str, np.ndarray] | None = None,
        *,
        steps: int | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
        transitions: Mapping[str, np.ndarray] | None = None,
        start: np.ndarray | None = None,
    ) -> Filtered:
        """Forward pass: per-step log-increments of the evidence and the final frontier.

        Parameters
        ----------
        likelihoods : mapping of str to ndarray, optional
            ``{node: (T, card) or (B, T, card)}`` (see :func:`step_likelihoods`).
        steps : int, optional
            Number of steps T (default: from the likelihoods; required without them).
        cpts, transitions : mapping of str to ndarray, optional
            Slice CPTs ``(…, card)`` and transitions ``(…, previous, card)`` replacing the
            network's, each optionally with a leading batch axis of size B.
        start : ndarray, shape (B or 1, F), optional
            Continue from this frontier (a previous :attr:`Filtered.frontier`): the first step
            is then a transition, not the initial distribution.

        Returns
        -------
        Filtered
        """
        lik, tabs, steps, batch = self._inputs(likelihoods, steps, cpts, transitions)
        init, trans = self._tables(tabs, batch)
        if start is None:
            first = np.zeros((1, self._size))
            first[0, 0] = 1.0
            alpha = _to_chunks(first, batch)
        else:
            alpha = _to_chunks(np.asarray(start, dtype=float), batch)
        logs = np.zeros((batch, steps))
        cache = _FactorCache()
        for t in range(steps):
            table = init if (t == 0 and start is None) else trans
            self._transition(alpha, table)
            logs[:, t] = self._weigh_step(alpha, lik, tabs, t, batch, cache=cache)
        return Filtered(logs, _from_chunks(alpha, batch))

    def smooth(
        self,
        likelihoods: Mapping[str, np.ndarray] | None = None,
        *,
        steps: int | None = None,
        cpts: Mapping[str, np.ndarray] | None = None,
        transitions: Mapping[str, np.ndarray] | None = None,
        nodes: Sequence[str] | None = None,
        start: np.ndarray | None = None,
    ) -> DynamicPosterior:
        """All marginals at every step given the evidence at every step.

        Parameters
        ----------
        likelihoods, steps, cpts, transitions, start
            As for :meth:`filter` (with `start`, the steps continue from that frontier and
            ``log_evidence`` is of their evidence given what the frontier holds).
        nodes : sequence of str, optional
            Only these nodes' marginals (default: every node).

        Returns
        -------
        DynamicPosterior

        Raises
        ------
        InferenceError
            If the evidence is impossible for some draw (naming the first step where it is).
        """
        lik, tabs, steps, batch = self._inputs(likelihoods, steps, cpts, transitions)
        init, trans = self._tables(tabs, batch)
        net = self.network.slice
        wanted = list(net.order if nodes is None else nodes)
        unknown = [n for n in wanted if n not in net.states]
        if unknown:
            raise EvidenceError("unknown nodes", [Problem("not in the network", field=f"nodes {n}",
                                                          hint=did_you_mean(n, net.nodes))
                                                  for n in unknown])
        # forward, keeping the predicted frontier (before step t's evidence) of every step
        if start is None:
            first = np.zeros((1, self._size))
            first[0, 0] = 1.0
        else:
            first = np.asarray(start, dtype=float)
        alpha = _to_chunks(first, batch)
        predicted = np.empty((steps, *alpha.shape))
        logs = np.zeros((batch, steps))
        cache = _FactorCache()
        for t in range(steps):
            self._transition(alpha, init if (t == 0 and start is None) else trans)
            predicted[t] = alpha
            logs[:, t] = self._weigh_step(alpha, lik, tabs, t, batch, cache=cache)
        log_pe = logs.sum(axis=1)
        if not np.all(np.isfinite(log_pe)):
            draw = int(np.argmin(np.isfinite(log_pe)))
            bad = int(np.argmin(np.isfinite(logs[draw])))
            raise InferenceError("the evidence is impossible under the model", [Problem(
                f"the findings up to step {bad} cannot all hold (parameter draw {draw})",
                field=f"step {bad}", hint="check the findings of that step")])
        # backward: beta_t(s) = P(y_{t+1..} | s_t), normalised per step
        beta = np.ones_like(alpha)
        marg: dict[str, np.ndarray] = {
            n: np.zeros((batch, steps, net.card(n))) for n in wanted}
        frontier_wanted = [n for n in wanted if n in self._pos]
        transient_wanted = [n for n in wanted if n not in self._pos]
        for t in range(steps - 1, -1, -1):
            # the frontier's weight from everything but step t's transient part, rescaled
            weight = predicted[t] * beta
            self._weigh_step(weight, lik, tabs, t, batch, transient=False)
            posterior = weight.copy()
            self._weigh_step(posterior, lik, tabs, t, batch, frontier=False,
                             cache=cache)  # × φ_t
            for n, m in self._frontier_marginals(posterior, frontier_wanted, batch).items():
                marg[n][:, t] = m
            if transient_wanted:
                self._transient_marginals(weight, lik, tabs, t, batch, transient_wanted, marg)
            if t > 0:
                # normalised: only ratios matter
                self._weigh_step(beta, lik, tabs, t, batch, cache=cache)
                self._transition(beta, trans, transpose=True)
        return DynamicPosterior(marg, log_pe, steps)

    def predict(
        self,
        start: np.ndarray,
        steps: int,
        *,
        cpts: Mapping[str, np.ndarray] | None = None,
        transitions: Mapping[str, np.ndarray] | None = None,
        nodes: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Marginals at the next `steps` steps from a filtering distribution, no evidence.

        Parameters
        ----------
        start : ndarray, shape (B or 1, F)
            The frontier after the last step with evidence (:attr:`Filtered.frontier`).
        steps : int
            How many steps ahead.
        cpts, transitions : mapping of str to ndarray, optional
            As for :meth:`filter`.
        nodes : sequence of str, optional
            Only these nodes (default: all).

        Returns
        -------
        dict of str to ndarray
            ``{node: (B, steps, card)}``, step k of the result being k + 1 steps ahead.
        """
        _, tabs, steps, batch = self._inputs(None, steps, cpts, transitions)
        _, trans = self._tables(tabs, batch)
        net = self.network.slice
        wanted = list(net.order if nodes is None else nodes)
        alpha = _to_chunks(np.asarray(start, dtype=float), batch)
        out = {n: np.zeros((batch, steps, net.card(n))) for n in wanted}
        transient = [n for n in wanted if n not in self._pos]
        for k in range(steps):
            self._transition(alpha, trans)
            persistent = [n for n in wanted if n in self._pos]
            for n, m in self._frontier_marginals(alpha, persistent, batch).items():
                out[n][:, k] = m
            if transient:
                step = {n: m[:, k:k + 1] for n, m in out.items()}
                self._transient_marginals(alpha, {}, tabs, 0, batch, transient, step)
        return out

    def restricted(self, nodes: Sequence[str]) -> DynamicEngine:
        """An engine on :meth:`DynamicNetwork.ancestral` of `nodes` (cached per node set)."""
        key = tuple(sorted(set(nodes)))
        with self._lock:
            found = self._subs.get(key)
            if found is None:
                found = self._subs[key] = DynamicEngine(self.network.ancestral(key))
        return found

    def marginal_frontier(self, frontier: np.ndarray, engine: DynamicEngine) -> np.ndarray:
        """Sum a frontier of this engine down to the persistent nodes of `engine`.

        Parameters
        ----------
        frontier : ndarray, shape (B, F)
            A filtering distribution of this engine's persistent nodes.
        engine : DynamicEngine
            An engine whose persistent nodes are a subset of these (e.g. :meth:`restricted`).

        Returns
        -------
        ndarray, shape (B, F')
        """
        wanted = engine.network.persistent
        if any(n not in self._pos for n in wanted):
            raise EvidenceError("not a sub-network", [Problem(
                "its persistent nodes are not all persistent here", field="engine")])
        kept = sorted(self._pos[n] for n in wanted)
        drop = tuple(1 + i for i in range(len(self._cards)) if i not in set(kept))
        frontier = np.asarray(frontier, dtype=float)
        cube = frontier.reshape(frontier.shape[0], *self._cards).sum(axis=drop)
        at = {self._persistent[i]: k for k, i in enumerate(kept)}  # axes in the other's order
        cube = np.transpose(cube, (0, *(1 + at[n] for n in wanted)))
        return np.ascontiguousarray(cube).reshape(cube.shape[0], -1)

    def _transition(self, alpha: np.ndarray, table: np.ndarray, *,
                    transpose: bool = False) -> None:
        """One step of the persistent nodes' transitions on a chunked frontier, in place."""
        kernel = _kernel("propagate", alpha.shape[0])
        kernel(alpha, table, self._offsets, self._cfg, self._cards, self._strides, transpose,
               self._reverse if transpose else self._order)

    # ------------------------------------------------------------------ inputs
    def _inputs(
        self,
        likelihoods: Mapping[str, np.ndarray] | None,
        steps: int | None,
        cpts: Mapping[str, np.ndarray] | None,
        transitions: Mapping[str, np.ndarray] | None,
    ) -> tuple[dict[str, np.ndarray], _Tabs, int, int]:
        net = self.network.slice
        problems: list[Problem] = []
        lik: dict[str, np.ndarray] = {}
        batch = 1
        for node, raw in (likelihoods or {}).items():
            if node not in net.states:
                problems.append(Problem("is not a node", field=f"likelihoods['{node}']",
                                        hint=did_you_mean(node, net.nodes)))
                continue
            arr = np.asarray(raw, dtype=float)
            if arr.ndim == 2:
                arr = arr[None]
            if arr.ndim != 3 or arr.shape[2] != net.card(node):
                problems.append(Problem(f"has shape {arr.shape}, "
                                        f"expected (T, {net.card(node)}) or (B, T, "
                                        f"{net.card(node)})", field=f"likelihoods['{node}']"))
                continue
            if not np.all(np.isfinite(arr)) or arr.min() < 0:
                problems.append(Problem("must be finite and non-negative",
                                        field=f"likelihoods['{node}']"))
                continue
            lik[node] = arr
        lengths = {a.shape[1] for a in lik.values()}
        if steps is None:
            if len(lengths) != 1:
                problems.append(Problem("give steps, or likelihoods that all have "
                                        "the same number of steps", field="steps"))
            else:
                steps = lengths.pop()
        elif any(n != steps for n in lengths):
            problems.append(Problem(f"every likelihood needs {steps} steps", field="likelihoods"))
        tabs: dict[str, np.ndarray] = {}
        for node, raw in (cpts or {}).items():
            if node not in net.states:
                problems.append(Problem("is not a node", field=f"cpts['{node}']",
                                        hint=did_you_mean(node, net.nodes)))
                continue
            tabs[node] = np.asarray(raw, dtype=float)
        trans: dict[str, np.ndarray] = {}
        for node, raw in (transitions or {}).items():
            if node not in self._pos:
                problems.append(Problem("is not a persistent node", field=f"transitions['{node}']",
                                        hint=did_you_mean(node, self._persistent)))
                continue
            trans[node] = np.asarray(raw, dtype=float)
        if problems:
            raise EvidenceError("inputs do not fit the dynamic network", problems)
        full = {n: tabs.get(n, net.cpts[n]) for n in net.nodes}
        tran = {n: trans.get(n, self.network.transitions[n]) for n in self._persistent}
        checks = [(f"cpts['{n}']", a, net.cpts[n].shape) for n, a in full.items()]
        checks += [(f"transitions['{n}']", a, self.network.transitions[n].shape)
                   for n, a in tran.items()]
        for name, arr, expected in checks:
            if arr.shape[arr.ndim - len(expected):] != expected \
                    or arr.ndim not in (len(expected), len(expected) + 1):
                problems.append(Problem(f"has shape {arr.shape}, expected {expected} "
                                        "with an optional leading batch axis", field=name))
            elif arr.ndim == len(expected) + 1:
                batch = self._batch(batch, arr.shape[0], name, problems)
        for node, arr in lik.items():
            if arr.shape[0] != 1:
                batch = self._batch(batch, arr.shape[0], f"likelihoods['{node}']", problems)
        if problems:
            raise EvidenceError("inputs do not fit the dynamic network", problems)
        if not steps or steps < 1:
            raise EvidenceError("no steps", [Problem("must be at least 1", field="steps")])
        return lik, {"cpts": full, "transitions": tran}, int(steps), batch

    @staticmethod
    def _batch(batch: int, size: int, name: str, problems: list[Problem]) -> int:
        if batch not in (1, size):
            problems.append(Problem(f"has {size} draws where others have {batch}", field=name))
            return batch
        return size

    def _tables(self, tabs: _Tabs, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Pack the initial and the transition tables as (chunks, Σ sizes, width)."""
        net = self.network.slice
        inits, trans = [], []
        for node in self._persistent:
            c = net.card(node)
            cpt = tabs["cpts"][node]
            batched = cpt.ndim == net.cpts[node].ndim + 1
            lead = cpt.shape[0] if batched else 1
            body = cpt.reshape((lead, -1, c)) if batched else cpt.reshape((1, -1, c))
            # the initial distribution ignores the previous value: repeat it over that axis
            inits.append(np.broadcast_to(body[:, :, None, :],
                                         (lead, body.shape[1], c, c)).reshape(lead, -1))
            tran = tabs["transitions"][node]
            batched = tran.ndim == self.network.transitions[node].ndim + 1
            trans.append(tran.reshape((tran.shape[0] if batched else 1, -1)))

        def pack(parts: list[np.ndarray]) -> np.ndarray:
            if not parts:
                return _to_chunks(np.zeros((1, 0)), batch)
            return _to_chunks(np.concatenate(
                [np.broadcast_to(p, (batch, p.shape[1])) for p in parts], axis=1), batch)

        return pack(inits), pack(trans)

    # ------------------------------------------------------------------ one step's evidence
    def _weigh_step(self, alpha: np.ndarray, lik: Mapping[str, np.ndarray], tabs: _Tabs, t: int,
                    batch: int, *, frontier: bool = True, transient: bool = True,
                    cache: _FactorCache | None = None) -> np.ndarray:
        """Multiply in step t's evidence on the frontier and/or its transient factor.

        ``alpha`` is chunked (:func:`_to_chunks`) and normalised in place; returns the log of
        each draw's total, shape (B,). Steps whose transient evidence is the same share one
        transient factor through `cache` (the CPTs must be the same for all its users).
        """
        net = self.network.slice
        observed = [n for n in self._persistent if frontier
                    and n in lik and not np.all(lik[n][:, t] == 1.0)]
        if observed:
            vecs = [np.broadcast_to(lik[n][:, t], (batch, net.card(n))) for n in observed]
            lam = _to_chunks(np.concatenate(vecs, axis=1), batch)
            offsets = np.concatenate([[0], np.cumsum([v.shape[1] for v in vecs])[:-1]])
        else:
            lam, offsets = _to_chunks(np.zeros((1, 0)), batch), np.zeros(0)
        nodes = np.array([self._pos[n] for n in observed], dtype=np.int64)
        phi, phi_map = _to_chunks(np.zeros((1, 0)), batch), np.zeros(self._size, dtype=np.int64)
        if transient:
            seen, relevant = self._relevant(lik, t)
            if seen:
                key = tuple((n, lik[n][:, t].tobytes()) for n in seen)
                found = cache.get(key) if cache is not None else None
                if found is None:
                    factor, phi_map = self._transient_factor(lik, tabs, t, batch, relevant)
                    found = (_to_chunks(factor, batch), phi_map)
                    if cache is not None:
                        cache.put(key, found)
                phi, phi_map = found
        logc = np.empty(alpha.shape[::2])
        _kernel("weigh", alpha.shape[0])(alpha, lam, offsets.astype(np.int64), nodes, self._xi,
                                         phi, phi_map, logc)
        return logc.reshape(-1)[:batch]

    def _relevant(self, lik: Mapping[str, np.ndarray], t: int) -> tuple[list[str], list[str]]:
        """Transient nodes with evidence at step t, and those that matter for it (ancestors)."""
        observed = [n for n in self.network.transient
                    if n in lik and not np.all(lik[n][:, t] == 1.0)]
        keep: set[str] = set()
        for n in observed:
            keep |= self._ancestors[n]
        return observed, [n for n in self.network.slice.order if n in keep]

    def _scope(self, nodes: Sequence[str]) -> list[str]:
        """The persistent parents of a set of transient nodes, in frontier order."""
        net = self.network.slice
        touched = {p for n in nodes if n in self._transient_set for p in net.parents[n]
                   if p in self._pos}
        return [n for n in self._persistent if n in touched]

    def _transient_factor(self, lik: Mapping[str, np.ndarray], tabs: _Tabs, t: int,
                          batch: int, relevant: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``φ_t(scope) = Σ_transient ∏ CPT × evidence``: (B, Φ) and a map frontier → Φ.

        `relevant` are the nodes that matter for step t's transient evidence
        (:meth:`_relevant`).
        """
        net = self.network.slice
        transient = [n for n in relevant if n in self._transient_set]
        scope = self._scope(transient)
        operands, terms = [], []
        symbols: dict[str, str] = {}

        def sym(v: str) -> str:
            return symbols.setdefault(v, opt_einsum.get_symbol(len(symbols)))

        bsym = sym("\0batch")
        for n in transient:
            cpt = tabs["cpts"][n]
            batched = cpt.ndim == net.cpts[n].ndim + 1
            ix = "".join(sym(v) for v in (*net.parents[n], n))
            operands.append(cpt)
            terms.append((bsym if batched else "") + ix)
            if n in lik:
                vec = lik[n][:, t]
                operands.append(vec if vec.shape[0] > 1 else vec[0])
                terms.append((bsym if vec.shape[0] > 1 else "") + sym(n))
        out = bsym + "".join(sym(v) for v in scope)
        any_batched = any(bsym in term for term in terms)
        if not any_batched:
            out = out[1:]
        key = ("phi", tuple(terms), out, tuple(o.shape for o in operands))
        expr = self._plan(key, lambda: opt_einsum.contract_expression(
            f"{','.join(terms)}->{out}", *(o.shape for o in operands)))
        phi = np.asarray(expr(*operands)).reshape((batch if any_batched else 1, -1))
        return phi, self._map(scope)

    def _map(self, scope: Sequence[str]) -> np.ndarray:
        """Index of each frontier state in a C-ordered table over `scope` (cached per scope)."""
        key = tuple(scope)
        index = self._maps.get(key)
        if index is None:
            index = np.zeros(self._size, dtype=np.int64)
            for n in scope:
                i = self._pos[n]
                index = index * self._cards[i] + self._xi[i]
            self._maps[key] = index
        return index

    def _frontier_marginals(self, alpha: np.ndarray, nodes: Sequence[str], batch: int
                            ) -> dict[str, np.ndarray]:
        """Persistent nodes' marginals from a chunked frontier: ``{node: (B, card)}``."""
        if not nodes:
            return {}
        index = np.array([self._pos[n] for n in nodes], dtype=np.int64)
        cards = self._cards[index]
        offsets = np.concatenate([[0], np.cumsum(cards)[:-1]]).astype(np.int64)
        out = np.zeros((alpha.shape[0], int(cards.sum()), alpha.shape[2]))
        _kernel("marginals", alpha.shape[0])(alpha, self._xi[index], offsets, out)
        flat = _from_chunks(out, batch)
        return {n: flat[:, o:o + c] for n, o, c in zip(nodes, offsets, cards, strict=True)}

    def _transient_marginals(self, weight: np.ndarray, lik: Mapping[str, np.ndarray],
                             tabs: _Tabs, t: int, batch: int, nodes: Sequence[str],
                             marg: Mapping[str, np.ndarray]) -> None:
        """Marginals of transient nodes at step t: the transient slice weighted by the frontier.

        ``weight`` is the chunked frontier weight (:func:`_to_chunks`). One plan over [that
        weight summed onto the scope, every transient CPT, step t's evidence]; its backward
        pass gives every transient family posterior at once.
        """
        net = self.network.slice
        transient = list(self.network.transient)
        scope = self._scope(transient)
        cells = int(np.prod([net.card(n) for n in scope], dtype=np.int64))
        summed = np.zeros((weight.shape[0], cells, weight.shape[2]))
        _kernel("marginals", weight.shape[0])(weight, self._map(scope)[None],
                                              np.zeros(1, dtype=np.int64), summed)
        w = _from_chunks(summed, batch).reshape((batch, *(net.card(n) for n in scope)))
        factors: list[np.ndarray] = [w]
        indices: list[tuple[str, ...]] = [tuple(scope)]
        batched = [True]
        where: dict[str, int] = {}
        for n in transient:
            cpt = tabs["cpts"][n]
            is_b = cpt.ndim == net.cpts[n].ndim + 1
            where[n] = len(factors)
            factors.append(cpt if is_b else cpt[None])
            indices.append((*net.parents[n], n))
            batched.append(is_b)
            if n in lik:
                vec = lik[n][:, t]
                factors.append(vec)
                indices.append((n,))
                batched.append(vec.shape[0] > 1)
        sizes: dict[object, int] = {n: net.card(n) for n in net.nodes}
        key = ("marg", tuple(indices), tuple(batched), batch)
        plan = self._plan(key, lambda: Plan(indices, sizes, batched, batch))
        total, _, tape = plan.forward(factors)
        grads = plan.backward(tape, 1.0 / total)
        for n in nodes:
            k = where[n]
            fam = factors[k] * grads[k]
            fam = np.broadcast_to(fam, (batch, *fam.shape[1:]))
            m = fam.reshape((batch, -1, net.card(n))).sum(axis=1)
            marg[n][:, t] = m / m.sum(axis=1, keepdims=True)

    def _plan(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The cached plan (or contraction expression) under `key`, built on first use."""
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = build()
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > _PLANS:
                self._plans.popitem(last=False)
        return plan
