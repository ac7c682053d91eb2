"""Random networks and a brute-force reference, for tests that compare against enumeration."""

from __future__ import annotations

import string

import numpy as np

from forecast import Network


def random_network(
    rng: np.random.Generator, n: int, max_parents: int = 3, cards: tuple[int, int] = (2, 4)
) -> Network:
    """A random DAG on ``x0..x{n-1}`` (parents among earlier nodes) with Dirichlet(1) CPTs."""
    states, parents, cpts = {}, {}, {}
    for i in range(n):
        name = f"x{i}"
        k = int(rng.integers(cards[0], cards[1] + 1))
        states[name] = [f"s{j}" for j in range(k)]
        m = min(i, int(rng.integers(0, max_parents + 1)))
        parents[name] = [f"x{j}" for j in rng.choice(i, size=m, replace=False)] if m else []
        shape = tuple(len(states[p]) for p in parents[name])
        cpts[name] = rng.dirichlet(np.ones(k), size=shape)
    return Network(states, parents, cpts, name=f"random{n}")


def brute_force(
    net: Network, hard: dict[str, str], soft: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """Marginals, family posteriors and log P(e) by enumerating the full joint."""
    nodes = list(net.states)
    letter = dict(zip(nodes, string.ascii_letters, strict=False))
    full = "".join(letter[n] for n in nodes)
    terms, arrays = [], []
    for n in nodes:
        terms.append("".join(letter[v] for v in net.family(n)))
        arrays.append(net.cpts[n])
    for n, s in hard.items():
        onehot = np.zeros(net.card(n))
        onehot[net.state_index(n, s)] = 1.0
        terms.append(letter[n])
        arrays.append(onehot)
    for n, lam in soft.items():
        terms.append(letter[n])
        arrays.append(np.asarray(lam, dtype=float))
    joint = np.einsum(",".join(terms) + "->" + full, *arrays)
    pe = joint.sum()
    marginals = {n: np.einsum(f"{full}->{letter[n]}", joint) / pe for n in nodes}
    families = {
        n: np.einsum(f"{full}->" + "".join(letter[v] for v in net.family(n)), joint) / pe
        for n in nodes
    }
    return marginals, families, float(np.log(pe))


def random_dynamic(rng: np.random.Generator, n: int, cards: tuple[int, int] = (2, 3)):
    """A random two-slice network on ``x0..x{n-1}``: a random slice whose persistent nodes are a
    random parent-closed subset (a persistent node's parents persist too), each with a random
    transition ``(*parents, previous, card)``."""
    from forecast.network.dynamic import DynamicNetwork

    net = random_network(rng, n, max_parents=2, cards=cards)
    persistent: set[str] = set()
    for node in net.order:  # parents come first, so closure is checked as we go
        if all(p in persistent for p in net.parents[node]) and rng.random() < 0.6:
            persistent.add(node)
    transitions = {
        node: rng.dirichlet(np.ones(net.card(node)),
                            size=(*(net.card(p) for p in net.parents[node]), net.card(node)))
        for node in persistent
    }
    return DynamicNetwork(net, transitions)


def one_event():
    """One binary condition c that persists, and an event e caused by it (a two-slice model)."""
    from forecast.network.dynamic import DynamicNetwork

    net = Network({"c": ["low", "high"], "e": ["no", "yes"]}, {"e": ["c"]},
                  {"c": [0.5, 0.5], "e": [[0.9, 0.1], [0.6, 0.4]]})
    return DynamicNetwork(net, {"c": [[0.9, 0.1], [0.1, 0.9]]})


def one_event_priors():
    """The one-event model's parameters and their priors."""
    from forecast.model.distributions import ProbabilityPrior

    return {"h_low": ProbabilityPrior(2.0, 8.0), "h_high": ProbabilityPrior(3.0, 4.0),
            "rho": ProbabilityPrior(8.0, 2.0)}


def one_event_tables(values):
    """The one-event model's CPTs and transition for a batch of parameter values: the hazard
    when c is low (``h_low``) and high (``h_high``), and c's persistence (``rho``)."""
    lo, hi, rho = (np.asarray(values[k]).reshape(-1) for k in ("h_low", "h_high", "rho"))
    e = np.stack([np.stack([1 - lo, lo], -1), np.stack([1 - hi, hi], -1)], axis=1)
    r = rho[:, None, None]
    return ({"c": np.broadcast_to([0.5, 0.5], (len(rho), 2)), "e": e},
            {"c": r * np.eye(2) + (1 - r) * np.array([0.5, 0.5])})
