from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from forecast import ForecastError, Network, SpecError
from forecast.network.bif import example_network, read_bif
from forecast.network.interop import from_pgmpy, to_pgmpy
from tests.networks import random_network
from tests.test_bif import assert_matches_pgmpy, assert_same_network, four_parents

pgmpy = pytest.importorskip("pgmpy")


@pytest.mark.parametrize("name", ["asia", "alarm", "insurance"])
def test_round_trip_bundled(name):
    net = example_network(name)
    model = to_pgmpy(net)
    assert model.check_model()
    assert_matches_pgmpy(net, model)
    assert_same_network(from_pgmpy(model), net)


def test_round_trip_random_multi_state_networks():
    rng = np.random.default_rng(7)
    for net in [four_parents(rng), random_network(rng, 15, max_parents=4, cards=(2, 5))]:
        assert_same_network(from_pgmpy(to_pgmpy(net)), net)


def test_evidence_axes_against_pgmpy_inference():
    # Independent of any layout convention: with every parent observed, pgmpy's own inference
    # must return exactly our CPT row for those parent states.
    with warnings.catch_warnings():
        # pgmpy 1.1's inference package imports its own deprecated StructureScore module.
        warnings.filterwarnings(
            "ignore", r"`pgmpy\.estimators\.StructureScore` is deprecated", FutureWarning
        )
        from pgmpy.inference import VariableElimination

    rng = np.random.default_rng(11)
    net = four_parents(rng)
    infer = VariableElimination(to_pgmpy(net))
    for _ in range(5):
        idx = tuple(int(rng.integers(net.card(p))) for p in net.parents["D"])
        evidence = {p: net.states[p][i] for p, i in zip(net.parents["D"], idx, strict=True)}
        result = infer.query(["D"], evidence=evidence, show_progress=False)
        assert result.state_names["D"] == list(net.states["D"])
        np.testing.assert_allclose(result.values, net.cpts["D"][idx], rtol=1e-12)


def test_from_pgmpy_reads_tabular_cpd_layout():
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    rng = np.random.default_rng(3)
    cards = {"A": 2, "B": 3, "C": 4, "D": 3}
    model = DiscreteBayesianNetwork([("A", "D"), ("B", "D"), ("C", "D")])
    for v in "ABC":
        model.add_cpds(TabularCPD(v, cards[v], rng.dirichlet(np.ones(cards[v]))[:, None]))
    values = rng.dirichlet(np.ones(3), size=24).T  # (card, prod(evidence cards)), C last fastest
    model.add_cpds(TabularCPD("D", 3, values, evidence=["A", "B", "C"], evidence_card=[2, 3, 4]))
    net = from_pgmpy(model, name="layout")
    assert net.parents["D"] == ("A", "B", "C")
    assert net.states["B"] == ("0", "1", "2")  # pgmpy's default integer states, as text
    for a, b, c, d in np.ndindex(2, 3, 4, 3):
        assert net.cpts["D"][a, b, c, d] == values[d, (a * 3 + b) * 4 + c]


def test_from_pgmpy_aligns_parent_state_order():
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork([("rain", "wet")])
    model.add_cpds(
        TabularCPD("rain", 2, [[0.8], [0.2]], state_names={"rain": ["no", "yes"]}),
        TabularCPD(
            "wet", 2, [[0.1, 0.9], [0.9, 0.1]], evidence=["rain"], evidence_card=[2],
            state_names={"wet": ["dry", "wet"], "rain": ["yes", "no"]},  # reversed here
        ),
    )  # fmt: skip
    net = from_pgmpy(model)
    np.testing.assert_array_equal(net.cpts["wet"], [[0.9, 0.1], [0.1, 0.9]])  # rows: no, yes


def test_from_pgmpy_lists_every_problem():
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    model = DiscreteBayesianNetwork([("rain", "wet"), ("rain", "sky")])
    model.name = "broken"
    model.add_cpds(TabularCPD("rain", 2, [[0.8], [0.2]], state_names={"rain": ["no", "yes"]}))
    with pytest.raises(SpecError) as info:
        from_pgmpy(model)
    assert [str(p) for p in info.value.problems] == [
        "broken: node 'wet': has no CPD",
        "broken: node 'sky': has no CPD",
    ]
    model.add_cpds(
        TabularCPD("wet", 2, [[0.1, 0.9], [0.9, 0.1]], evidence=["rain"], evidence_card=[2],
                   state_names={"wet": ["dry", "wet"], "rain": ["maybe", "no"]}),
        TabularCPD("sky", 2, [[0.5, 0.5], [0.5, 0.5]], evidence=["rain"], evidence_card=[2]),
    )  # fmt: skip
    with pytest.raises(SpecError) as info:
        from_pgmpy(model)
    assert len(info.value.problems) == 2
    assert "lists states ['maybe', 'no'] for 'rain'" in str(info.value.problems[0])
    assert "lists states ['0', '1'] for 'rain'" in str(info.value.problems[1])


def test_reads_what_pgmpy_bif_writer_writes():
    from pgmpy.readwrite import BIFWriter

    rng = np.random.default_rng(5)
    net = random_network(rng, 10, max_parents=3, cards=(2, 4))
    back = read_bif(str(BIFWriter(to_pgmpy(net))))  # pgmpy sorts the variables by name
    assert set(back.nodes) == set(net.nodes)
    assert back.parents == net.parents and back.states == net.states
    for node in net.nodes:
        np.testing.assert_array_equal(back.cpts[node], net.cpts[node])


def test_missing_pgmpy_is_a_clear_error(monkeypatch):
    net = Network({"a": ["x", "y"]}, {}, {"a": [0.5, 0.5]})
    monkeypatch.setitem(sys.modules, "pgmpy", None)  # as if pgmpy were not installed
    for call in (lambda: to_pgmpy(net), lambda: from_pgmpy(object())):
        with pytest.raises(ForecastError, match=re.escape('pip install "forecast[peers]"')):
            call()


def test_pgmpy_is_not_imported_with_our_modules():
    code = ("import sys, forecast.network.bif, forecast.network.interop; "
            "print('pgmpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
