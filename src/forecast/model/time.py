"""Time in the model language: steps, persistence of conditions, per-step hazards of events.

A model moves in calendar **steps** (``model.time.step``: quarters by default, or months).
Its nodes mean, at each step ``t``:

* a **condition** holds in one of its states during the step. A condition that *persists*
  (:func:`forecast.model.checks.persistent_nodes`) keeps its state from ``t − 1`` with
  probability ``ρ`` (its per-step persistence, :mod:`forecast.model.persistence`) and is
  otherwise drawn afresh from its CPT given its causes at ``t``::

      P(x_t | x_{t-1}, u_t) = ρ·[x_t = x_{t-1}] + (1 − ρ)·θ(x_t | u_t)

  so under constant causes its long-run distribution is the CPT the article's words gave, and
  a finding about it fades by itself (its information survives ``k`` steps with probability
  ``ρ^k``). At the first step it is drawn from its CPT. A condition without memory is drawn
  from its CPT at every step.
* an **event** happens within the step or not (its first state is "did not happen"). Its CPT
  gives the probability over its definition's *window* (24 months in the flagship) under causes
  that hold throughout; the per-step **hazard** is what gives that window probability over
  ``W = window / step`` steps: ``P_step(no) = P_window(no)^(1/W)``, the other states sharing the
  rest in the CPT's proportions. An event *parent* that happens in the same step triggers this
  event (a claim following an attack, a proclamation following an alliance): it multiplies the
  step's chance of no occurrence by the factor the CPT gives it over the window, once, on top of
  the per-step background (:func:`hazard_cpt`).

Questions are derived: "within ``h`` months" is the probability of at least one occurrence in
the next ``h / step`` steps, "holds at date d" the condition's marginal at d's step.

:func:`dynamic_tables` turns a batch of parameter draws (the static parameters of
:func:`forecast.model.parameters.parameters` and the persistences of :func:`time_parameters`) into
the per-step CPTs and transitions of a :class:`~forecast.network.dynamic.DynamicNetwork`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from forecast.model.checks import persistent_nodes
from forecast.model.cpts import build_cpts, prior_mean_network
from forecast.model.parameters import Parameter
from forecast.model.persistence import STEP_MONTHS, persistence_prior
from forecast.model.schema import ModelSpec
from forecast.network.dynamic import DynamicNetwork
from forecast.network.network import Network

__all__ = [
    "Calendar",
    "dynamic_network",
    "dynamic_tables",
    "hazard_cpt",
    "persistent",
    "time_parameters",
    "window_steps",
]

_DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Calendar:
    """Calendar steps (quarters or months) counted from the step that holds ``start``.

    Parameters
    ----------
    step : {"quarter", "month"}
        The step length.
    start : datetime.date
        A day in step 0.
    """

    step: str
    start: dt.date

    @property
    def months(self) -> int:
        """Months per step."""
        return STEP_MONTHS[self.step]

    def _ordinal(self, day: dt.date) -> int:
        return (day.year * 12 + day.month - 1) // self.months

    def index(self, day: dt.date) -> int:
        """The step holding `day` (negative before step 0)."""
        return self._ordinal(day) - self._ordinal(self.start)

    def first_day(self, index: int) -> dt.date:
        """The first day of step `index`."""
        month = (self._ordinal(self.start) + index) * self.months
        return dt.date(month // 12, month % 12 + 1, 1)

    def last_day(self, index: int) -> dt.date:
        """The last day of step `index`."""
        return self.first_day(index + 1) - dt.timedelta(days=1)

    def label(self, index: int) -> str:
        """``2015Q3`` or ``2015-07``."""
        first = self.first_day(index)
        if self.step == "quarter":
            return f"{first.year}Q{(first.month - 1) // 3 + 1}"
        return f"{first.year}-{first.month:02d}"


def persistent(spec: ModelSpec) -> tuple[str, ...]:
    """The spec's persistent conditions, in file order (see :func:`persistent_nodes`)."""
    keep = persistent_nodes(spec.nodes, spec.model.time.persistence.memoryless)
    return tuple(n for n in spec.nodes if n in keep)


def time_parameters(spec: ModelSpec) -> list[Parameter]:
    """One parameter per persistent condition: its per-step persistence ``ρ``.

    Named ``<node>.persistence`` with role ``"persistence"``; its prior comes from the node's
    ``persistence:`` or, without one, the model's ``time.persistence``.
    """
    months = STEP_MONTHS[spec.model.time.step]
    out = []
    for node in persistent(spec):
        given = spec.nodes[node].persistence
        field = given if given is not None else spec.model.time.persistence
        prior = persistence_prior(field.prior, months)
        assert prior is not None  # persistent nodes are not memoryless
        out.append(Parameter(
            name=f"{node}.persistence", node=node, role="persistence", prior=prior,
            claims=tuple(field.claims), assumption=field.assumption,
            path=f"nodes.{node}.persistence" if given is not None else "model.time.persistence"))
    return out


def window_steps(spec: ModelSpec, node: str) -> float:
    """Steps in an event's window (``W``): the window over which its CPT is stated."""
    window = spec.nodes[node].definition.window
    months = STEP_MONTHS[spec.model.time.step]
    if window is None:
        return 1.0
    if window.months is not None:
        length = float(window.months)
    else:  # the schema allows exactly one of months and days
        length = float(window.days or 0) / _DAYS_PER_MONTH
    return max(float(length) / months, 1.0)


def hazard_cpt(cpt: np.ndarray, steps: float, event_axes: Sequence[int] = ()) -> np.ndarray:
    """Per-step CPT of an event from its window CPT.

    Parameters
    ----------
    cpt : ndarray, shape (B, *parent_cards, card)
        Window probabilities; state 0 is non-occurrence.
    steps : float
        Steps per window ``W``.
    event_axes : sequence of int
        Parent axes (0-based, batch excluded) of parents that are events themselves.

    Returns
    -------
    ndarray
        Same shape. With no event parent happening, ``P_step(no) = P_window(no)^(1/W)``. An
        event parent that happens in the step multiplies the chance of no occurrence by the
        factor the window CPT gives it, once, unconverted: ``P_step(no | u) = P_window(no |
        u₀)^(1/W) · P_window(no | u) / P_window(no | u₀)``, where ``u₀`` is ``u`` with every
        event parent at "did not happen" (capped at 1 for a parent that lowers this event).
        The other states share the rest in the window row's proportions.
    """
    out = np.array(cpt, dtype=float)
    q = out[..., 0]
    base = q
    for axis in event_axes:
        index = [slice(None)] * q.ndim
        index[1 + axis] = slice(0, 1)
        base = np.broadcast_to(base[tuple(index)], q.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_base = np.log(base)
        trigger = np.where(base > 0, np.log(q) - log_base, 0.0)
        log_step = np.where(base > 0, log_base / steps + trigger, -np.inf)
    q_step = np.minimum(np.exp(log_step), 1.0)
    rest = 1.0 - q
    scale = np.divide(1.0 - q_step, rest, out=np.zeros_like(rest), where=rest > 0)
    out[..., 1:] = out[..., 1:] * scale[..., None]
    single = np.where(rest > 0, 0.0, 1.0 - q_step)  # a row certain of no occurrence in W
    if out.shape[-1] > 1:
        out[..., 1] += single  # …that an event parent makes possible: give it to state 1
    out[..., 0] = q_step
    return out


def _event_axes(spec: ModelSpec, node: str) -> tuple[int, ...]:
    """Axes of an event's CPT whose parents are events."""
    return tuple(i for i, p in enumerate(spec.nodes[node].parents)
                 if spec.nodes[p].definition.kind == "event")


def dynamic_tables(
    spec: ModelSpec,
    values: Mapping[str, np.ndarray],
    *,
    params: list[Parameter] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-step CPTs and transitions for a batch of parameter values.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    values : mapping of str to ndarray
        Every parameter of :func:`forecast.model.parameters.parameters` and :func:`time_parameters`,
        batched ``(B, ...)`` or unbatched.
    params : list of Parameter, optional
        ``parameters(spec)``, if already computed.

    Returns
    -------
    cpts : dict of str to ndarray
        ``(B, *parents, card)``: conditions' CPTs as given (the initial distribution of
        persistent ones), events' per-step hazards.
    transitions : dict of str to ndarray
        ``(B, *parents, previous, card)`` for the persistent conditions.
    """
    return _step_tables(spec, build_cpts(spec, values, params=params), values)


def _step_tables(spec: ModelSpec, window: Mapping[str, np.ndarray],
                 values: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                          dict[str, np.ndarray]]:
    """Per-step CPTs and transitions from window CPTs ``(B, …)`` and the persistences."""
    cpts: dict[str, np.ndarray] = {}
    for node, cpt in window.items():
        if spec.nodes[node].definition.kind == "event":
            cpts[node] = hazard_cpt(cpt, window_steps(spec, node), _event_axes(spec, node))
        else:
            cpts[node] = cpt
    transitions: dict[str, np.ndarray] = {}
    for node in persistent(spec):
        theta = cpts[node]  # (B or 1, *parents, card)
        rho = np.asarray(values[f"{node}.persistence"], dtype=float).reshape(-1)
        rho = rho.reshape((-1,) + (1,) * theta.ndim)  # (B or 1, 1, ..., 1)
        transitions[node] = rho * np.eye(spec.card(node)) + (1.0 - rho) * theta[..., None, :]
    return cpts, transitions


def dynamic_network(spec: ModelSpec) -> DynamicNetwork:
    """The spec's two-slice network at the prior means of its CPT entries and persistences.

    The engine's structure and default tables; inference over uncertain parameters passes the
    tables of each draw (:func:`dynamic_tables`).
    """
    slice_ = prior_mean_network(spec)
    means = {p.name: np.asarray(p.prior.mean) for p in time_parameters(spec)}
    cpts, transitions = _step_tables(
        spec, {n: np.asarray(c)[None] for n, c in slice_.cpts.items()}, means)
    net = Network(slice_.states, slice_.parents, {n: c[0] for n, c in cpts.items()},
                  name=spec.name)
    return DynamicNetwork(net, {n: c[0] for n, c in transitions.items()})

