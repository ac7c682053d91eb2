"""The exact engine against the reference libraries, on the networks pgmpy bundles.

Every CPT row is divided by its sum first: the bundled files round their numbers (rows up to
~3e-7 off 1), and with such rows the question is ambiguous — pgmpy prunes barren nodes per
query, which then shifts its answers by ~1e-8 — so the engines could not be compared at 1e-9.
Each peer is built from the same Network, so all three see identical floating-point numbers.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from forecast import Network
from forecast.cli import main
from forecast.network.bif import example_network, read_bif
from forecast.network.exact import ExactEngine
from forecast.network.interop import to_pgmpy, to_pyagrum

PGMPY_NETWORKS = ["asia", "sachs", "child", "alarm", "insurance"]
UP_TO_BARLEY = ["asia", "sachs", "child", "insurance", "alarm", "water", "hailfinder",
                "win95pts", "hepar2", "mildew", "barley"]


def normalized(name: str) -> Network:
    net = example_network(name)
    return net.with_cpts({n: t / t.sum(axis=-1, keepdims=True) for n, t in net.cpts.items()})


def sampled_findings(net: Network, rng: np.random.Generator, fraction: float):
    """Hard findings at the values of one forward sample (always possible) and soft findings."""
    values: dict[str, int] = {}
    for node in net.order:
        row = net.cpts[node][tuple(values[p] for p in net.parents[node])]
        values[node] = int(rng.choice(len(row), p=row / row.sum()))
    nodes = list(net.nodes)
    picked = rng.choice(len(nodes), size=max(2, round(fraction * len(nodes))), replace=False)
    hard = {nodes[i]: net.states[nodes[i]][values[nodes[i]]] for i in picked[1:]}
    soft_node = nodes[picked[0]]
    soft = {soft_node: rng.uniform(0.1, 1.0, size=net.card(soft_node))}
    return hard, soft


def pgmpy_marginals(net: Network, hard, soft) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        # pgmpy.inference imports its own deprecated StructureScore module at import time
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.inference import VariableElimination

    ve = VariableElimination(to_pgmpy(net))
    virtual = [
        TabularCPD(n, net.card(n), np.asarray(lam).reshape(-1, 1),
                   state_names={n: list(net.states[n])})
        for n, lam in soft.items()
    ]
    out = {}
    for node in net.nodes:
        if node in hard:
            continue
        factor = ve.query([node], evidence=dict(hard), virtual_evidence=virtual,
                          show_progress=False)
        names = list(factor.state_names[node])
        out[node] = np.asarray(factor.values)[[names.index(s) for s in net.states[node]]]
    return out


def pyagrum_marginals(net: Network, hard, soft) -> tuple[dict[str, np.ndarray], float]:
    import pyagrum as gum

    ie = gum.LazyPropagation(to_pyagrum(net))
    for n, s in hard.items():
        ie.addEvidence(n, net.state_index(n, s))
    for n, lam in soft.items():
        ie.addEvidence(n, [float(x) for x in lam])
    ie.makeInference()
    marginals = {n: np.asarray(ie.posterior(n).toarray()) for n in net.nodes if n not in hard}
    return marginals, float(np.log(ie.evidenceProbability()))


@pytest.mark.skipif(importlib.util.find_spec("pgmpy") is None, reason="needs forecast[peers]")
@pytest.mark.parametrize("name", PGMPY_NETWORKS)
def test_all_marginals_match_pgmpy_with_hard_and_soft_evidence(name):
    net = normalized(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    hard, soft = sampled_findings(net, rng, 0.15)
    post = ExactEngine(net).query(hard, soft)
    expected = pgmpy_marginals(net, hard, soft)
    for node, probs in expected.items():
        np.testing.assert_allclose(post.marginals[node], probs, atol=1e-9, err_msg=node)


@pytest.mark.skipif(importlib.util.find_spec("pyagrum") is None, reason="needs forecast[peers]")
@pytest.mark.parametrize("name", UP_TO_BARLEY)
def test_cli_query_on_bundled_bif_matches_pyagrum(name):
    """`forecast query <pgmpy's own .bif.gz> --json` end to end, against pyAgrum."""
    path = Path(importlib.util.find_spec("pgmpy").submodule_search_locations[0]) \
        / "utils" / "example_models" / f"{name}.bif.gz"
    net = read_bif(path, normalize=True)  # what the CLI reads
    rng = np.random.default_rng(len(name))
    hard, soft = sampled_findings(net, rng, 0.1)
    args = ["query", str(path), "--json"]
    args += [f"--evidence={n}={s}" for n, s in hard.items()]
    args += [f"--soft={n}={','.join(repr(float(x)) for x in lam)}" for n, lam in soft.items()]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    expected, log_pe = pyagrum_marginals(net, hard, soft)
    assert got["log_evidence"] == pytest.approx(log_pe, abs=1e-8)
    for node, probs in expected.items():
        ours = [got["marginals"][node][s] for s in net.states[node]]
        np.testing.assert_allclose(ours, probs, atol=1e-8, err_msg=node)


def test_normalizing_makes_the_raw_rounded_rows_proper_distributions():
    raw = example_network("alarm")
    fixed = normalized("alarm")
    assert max(abs(t.sum(axis=-1) - 1).max() for t in raw.cpts.values()) > 1e-9
    assert max(abs(t.sum(axis=-1) - 1).max() for t in fixed.cpts.values()) < 1e-15
