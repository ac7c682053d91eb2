"""Forecasts over horizons from a particle snapshot, against the static engine on unrolled steps."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.inference.horizon import horizon_draws
from forecast.inference.sequential import Snapshot
from forecast.inference.space import ParameterSpace
from forecast.model.distributions import ProbabilityPrior
from forecast.network.dynamic import DynamicEngine
from forecast.network.exact import ExactEngine
from forecast.network.network import Network
from tests.networks import one_event, one_event_tables


def test_event_within_h_steps_and_condition_at_h_match_the_unrolled_network():
    dn = one_event()
    engine = DynamicEngine(dn)
    space = ParameterSpace({"h_low": ProbabilityPrior(2.0, 8.0),
                            "h_high": ProbabilityPrior(3.0, 4.0),
                            "rho": ProbabilityPrior(8.0, 2.0)})
    z = space.sample(np.random.default_rng(1), 3)
    frontier = np.array([[0.2, 0.8], [0.7, 0.3], [0.5, 0.5]])
    snap = Snapshot(step=10, z=z, logw=np.zeros(3), frontier=frontier, log_evidence=0.0)
    draws = horizon_draws(engine, snap, space, one_event_tables, events=["e"], horizons=(1, 3))
    values = space.values(z)
    cpts, trans = one_event_tables(values)
    for i in range(3):
        # steps 1..3 after the snapshot, unrolled: c@0 is the snapshot's frontier
        states = {f"{n}@{t}": ["low", "high"] if n == "c" else ["no", "yes"]
                  for t in range(4) for n in ("c", "e") if not (n == "e" and t == 0)}
        parents = {**{f"c@{t}": [f"c@{t - 1}"] for t in range(1, 4)},
                   **{f"e@{t}": [f"c@{t}"] for t in range(1, 4)}}
        tables = {"c@0": frontier[i], **{f"c@{t}": trans["c"][i] for t in range(1, 4)},
                  **{f"e@{t}": cpts["e"][i] for t in range(1, 4)}}
        static = ExactEngine(Network(states, parents, tables))
        never = static.query({f"e@{t}": "no" for t in range(1, 4)})
        assert draws[("e", "yes", 3)][i] == pytest.approx(1 - np.exp(never.log_evidence),
                                                          abs=1e-12)
        once = static.query({"e@1": "no"})
        assert draws[("e", "yes", 1)][i] == pytest.approx(1 - np.exp(once.log_evidence),
                                                          abs=1e-12)
        marginal = static.query().marginals["c@3"]
        assert draws[("c", "high", 3)][i] == pytest.approx(marginal[1], abs=1e-12)
        assert draws[("e", "no", 3)][i] + draws[("e", "yes", 3)][i] == pytest.approx(1.0)

