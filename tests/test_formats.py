"""Network formats beyond BIF, and any network with uncertainty (issue 13 item 3).

Every reader is checked against the BIF of the same bnlearn network (pgmpy's bundled
``*.bif.gz``, read with ``normalize=True``): the other formats are written from it in the test,
by pgmpy's and pyAgrum's writers where they write every digit, else by ours (or, for UAI, by
the small standard writer below), and read back to tables equal within 1e-12. Writers that
round (pgmpy's NET: 8 decimals; pyAgrum's UAI: 6 significant digits) are checked to their
precision, which still tells a transposed table apart. pgmpy's own XMLBIF and XDSL readers
serve as oracles on the files they read: ours must agree bit for bit.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from forecast import SpecError
from forecast.cli import main
from forecast.model.cpts import prior_mean_network
from forecast.model.imported import network_to_model, safe_name
from forecast.model.load import load_spec
from forecast.network.bif import read_bif, write_bif
from forecast.network.exact import ExactEngine
from forecast.network.formats import dirichlet_counts, network_format, read_network
from forecast.network.interop import from_pgmpy, to_pgmpy, to_pyagrum
from forecast.network.network import Network
from forecast.network.xmlbif import read_xmlbif, write_xmlbif
from tests.networks import random_network

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ["asia", "alarm", "child", "insurance"]
TOL = 1e-12


# -- helpers ------------------------------------------------------------------------------------


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def bnlearn():
    """The bundled bnlearn network of a name, rows normalised (as every reader returns them)."""
    spec = importlib.util.find_spec("pgmpy")
    if spec is None or spec.origin is None:
        pytest.skip("pgmpy (which ships the networks) is not installed")
    folder = Path(spec.origin).parent / "utils" / "example_models"
    cache: dict[str, Network] = {}

    def load(name: str) -> Network:
        if name not in cache:
            cache[name] = read_bif(folder / f"{name}.bif.gz", name=name, normalize=True)
        return cache[name]

    return load


@pytest.fixture(scope="module")
def pgmpy_rw():
    return pytest.importorskip("pgmpy.readwrite")


@pytest.fixture(scope="module")
def gum():
    with warnings.catch_warnings():
        # pyAgrum's SWIG bindings warn about their own types while being imported (see
        # tests/test_bif.py): as errors they crash the interpreter instead of failing a test.
        warnings.filterwarnings("ignore", r"builtin type \w+ has no __module__", DeprecationWarning)
        return pytest.importorskip("pyagrum")


def aligned(net: Network, ref: Network, node: str) -> np.ndarray:
    """`net`'s CPT of `node` with its parent axes in `ref`'s order."""
    order = [net.parents[node].index(p) for p in ref.parents[node]]
    return np.transpose(net.cpts[node], [*order, len(order)])


def assert_same_tables(net: Network, ref: Network, atol: float = TOL) -> None:
    """Same nodes (in any order), states in the same order, parents (as sets), tables."""
    assert set(net.nodes) == set(ref.nodes)
    for node in ref.nodes:
        assert net.states[node] == ref.states[node], node
        assert set(net.parents[node]) == set(ref.parents[node]), node
        np.testing.assert_allclose(aligned(net, ref, node), ref.cpts[node], rtol=0, atol=atol,
                                   err_msg=node)


def write_uai(net: Network) -> str:
    """The UAI text of `net` by the standard: variables in topological order, each table's
    scope its parents then the child, entries with the child varying fastest (repr)."""
    order = list(net.order)
    index = {n: i for i, n in enumerate(order)}
    lines = ["BAYES", str(len(order)), " ".join(str(net.card(n)) for n in order), str(len(order))]
    lines += [" ".join(map(str, [len(net.parents[n]) + 1,
                                 *(index[p] for p in net.parents[n]), index[n]]))
              for n in order]
    for n in order:
        values = net.cpts[n].ravel().tolist()
        lines += ["", str(len(values)), " ".join(map(repr, values))]
    return "\n".join(lines) + "\n"


def renamed_uai(net: Network, ref: Network) -> Network:
    """A UAI read (var_i, states 0..k-1) renamed back to `ref`'s names: var_i = ref.order[i]."""
    names = dict(zip(net.nodes, ref.order, strict=True))
    states = {names[n]: ref.states[names[n]] for n in net.nodes}
    parents = {names[n]: [names[p] for p in net.parents[n]] for n in net.nodes}
    return Network(states, parents, {names[n]: t for n, t in net.cpts.items()}, name=ref.name)


# -- readers against the BIF of the same network -------------------------------------------------


@pytest.mark.parametrize("name", NETWORKS)
def test_xmlbif_written_by_us_reads_back_bit_for_bit(name, bnlearn, tmp_path):
    ref = bnlearn(name)
    path = tmp_path / f"{name}.xml"
    write_xmlbif(ref, path)
    back = read_xmlbif(path, normalize=False)
    assert back.nodes == ref.nodes and back.parents == ref.parents and back.name == name
    for node in ref.nodes:
        np.testing.assert_array_equal(back.cpts[node], ref.cpts[node], err_msg=node)
    assert_same_tables(read_network(path), ref)


@pytest.mark.parametrize("name", ["asia", "alarm", "insurance"])  # child: see the next test
def test_xmlbif_written_by_pgmpy_matches_bif_and_pgmpys_reader(name, bnlearn, pgmpy_rw,
                                                               tmp_path):
    ref = bnlearn(name)
    path = tmp_path / f"{name}.xmlbif"
    pgmpy_rw.XMLBIFWriter(to_pgmpy(ref)).write(str(path))
    ours = read_network(path)
    assert_same_tables(ours, ref)
    theirs = from_pgmpy(pgmpy_rw.XMLBIFReader(str(path)).get_model())  # the oracle, unnormalised
    exact = read_xmlbif(path, normalize=False)
    for node in ref.nodes:
        np.testing.assert_array_equal(aligned(theirs, exact, node), exact.cpts[node])


def test_pgmpys_xmlbif_writer_loses_childs_state_names(bnlearn, pgmpy_rw, tmp_path):
    """Why child's XMLBIF is written by us: pgmpy rewrites "<7.5" and ">=7.5" both to "_7_5",
    and our reader says so instead of building a node with two equal states."""
    path = tmp_path / "child.xml"
    pgmpy_rw.XMLBIFWriter(to_pgmpy(bnlearn("child"))).write(str(path))
    with pytest.raises(SpecError, match=r"child\.xml:\d+: variable '\w+' repeats an outcome"):
        read_network(path)


@pytest.mark.parametrize("name", NETWORKS)
def test_xdsl_written_by_pgmpy_matches_bif(name, bnlearn, pgmpy_rw, tmp_path):
    ref = bnlearn(name)
    path = tmp_path / f"{name}.xdsl"
    pgmpy_rw.XDSLWriter(to_pgmpy(ref), network_id=name).write(str(path))
    net = read_network(path)
    assert net.name == name
    assert_same_tables(net, ref)  # pgmpy writes 16 decimals: exact to 5e-17


def test_xdsl_agrees_with_pgmpys_reader_bit_for_bit(bnlearn, pgmpy_rw, tmp_path):
    path = tmp_path / "alarm.xdsl"
    pgmpy_rw.XDSLWriter(to_pgmpy(bnlearn("alarm"))).write(str(path))
    ours = read_network(path, normalize=False)
    theirs = from_pgmpy(pgmpy_rw.XDSLReader(str(path)).get_model())
    for node in ours.nodes:
        np.testing.assert_array_equal(aligned(theirs, ours, node), ours.cpts[node])


@pytest.mark.parametrize("name", NETWORKS)
def test_net_written_by_pyagrum_matches_bif(name, bnlearn, gum, tmp_path):
    """pyAgrum writes NET probabilities with every digit (and states unquoted, such as child's
    >=7.5, which the reader takes)."""
    ref = bnlearn(name)
    path = tmp_path / f"{name}.net"
    gum.saveBN(to_pyagrum(ref), str(path))
    assert "%" in path.read_text()  # its rows carry Hugin comments: "% a=x"
    assert_same_tables(read_network(path), ref)


@pytest.mark.parametrize("name", NETWORKS)
def test_net_written_by_pgmpy_matches_bif_to_its_8_decimals(name, bnlearn, pgmpy_rw, tmp_path):
    ref = bnlearn(name)
    path = tmp_path / f"{name}.net"
    pgmpy_rw.NETWriter(to_pgmpy(ref)).write(str(path))
    assert_same_tables(read_network(path), ref, atol=5e-9)  # NETWriter rounds to 8 decimals


@pytest.mark.parametrize("name", NETWORKS)
def test_uai_matches_bif(name, bnlearn, tmp_path):
    ref = bnlearn(name)
    path = tmp_path / f"{name}.uai"
    path.write_text(write_uai(ref))
    net = read_network(path)
    assert net.nodes == tuple(f"var_{i}" for i in range(len(ref.nodes)))
    assert net.states["var_0"] == tuple(str(s) for s in range(ref.card(ref.order[0])))
    assert_same_tables(renamed_uai(net, ref), ref)


def test_uai_entry_order_is_the_formats():
    """The example of the format's documentation (https://aia-uclouvain.github.io/schlandals/
    modelization/bn/uai.html): D given B and C, the last variable of a scope fastest."""
    net = read_network_text("""c the example network of the page
BAYES
4
2 2 2 2
4
1 0
2 0 1
2 0 2
3 1 2 3

2
0.2 0.8
4
0.6 0.4 0.3 0.7
4
0.25 0.75 0.75 0.25
8
1.0 0.0 0.35 0.65 0.8 0.2 0.0 1.0
""", ".uai")
    assert net.parents["var_3"] == ("var_1", "var_2")
    assert net.cpts["var_3"][0, 1].tolist() == [0.35, 0.65]  # B=0, C=1
    assert net.cpts["var_3"][1, 0].tolist() == [0.8, 0.2]  # B=1, C=0
    assert net.cpts["var_1"].tolist() == [[0.6, 0.4], [0.3, 0.7]]


@pytest.mark.parametrize("name", ["asia", "alarm"])
def test_uai_written_by_pyagrum_agrees_on_tables_of_at_most_one_parent(name, bnlearn, gum,
                                                                       tmp_path):
    """An independent check of the child's place (varying fastest) and of the variable
    indices: pyAgrum 3.3 writes UAI with six significant digits and, for two or more parents,
    the first parent varying fastest (not the format's order), so only those tables compare."""
    ref = bnlearn(name)
    path = tmp_path / f"{name}.uai"
    gum.saveBN(to_pyagrum(ref), str(path))  # node ids in ref.order, so var_i is ref.order[i]
    back = renamed_uai(read_network(path), ref)
    for node in ref.nodes:
        if len(ref.parents[node]) <= 1:
            np.testing.assert_allclose(back.cpts[node], ref.cpts[node], rtol=0, atol=1e-6,
                                       err_msg=node)


@pytest.mark.parametrize("suffix", [".xml.gz", ".xdsl.gz", ".net.gz", ".uai.gz", ".bif.gz"])
def test_gzip_compressed_files_read_the_same(suffix, bnlearn, pgmpy_rw, tmp_path):
    ref = bnlearn("asia")
    plain = tmp_path / f"asia{suffix.removesuffix('.gz')}"
    if suffix.startswith(".xml"):
        write_xmlbif(ref, plain)
    elif suffix.startswith(".xdsl"):
        pgmpy_rw.XDSLWriter(to_pgmpy(ref), network_id="asia").write(str(plain))
    elif suffix.startswith(".net"):
        pgmpy_rw.NETWriter(to_pgmpy(ref)).write(str(plain))
    elif suffix.startswith(".uai"):
        plain.write_text(write_uai(ref))
    else:
        write_bif(ref, plain)
    packed = tmp_path / f"asia{suffix}"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = read_network(plain), read_network(packed)
    assert a.nodes == b.nodes
    for node in a.nodes:
        np.testing.assert_array_equal(a.cpts[node], b.cpts[node])


def test_read_network_chooses_by_suffix():
    assert [network_format(p) for p in ["a.bif", "A.XML", "a.xmlbif.gz", "a.bifxml", "a.xdsl",
                                        "a.net", "a.uai.gz", "a.yaml", "a.txt"]] == [
        "BIF", "XMLBIF", "XMLBIF", "XMLBIF", "XDSL", "NET", "UAI", None, None]
    with pytest.raises(SpecError, match=r"'x\.dne' is not a network file") as info:
        read_network("x.dne")
    assert "Hugin NET (.net)" in str(info.value)


# -- what other writers put in files --------------------------------------------------------------


def test_xdsl_deterministic_nodes_and_free_spacing():
    """GeNIe's deterministic nodes (which pgmpy's XDSLReader drops), tables broken over lines
    with double spaces (which it cannot split), and the last parent varying fastest."""
    net = read_network_text("""<?xml version="1.0" encoding="ISO-8859-1"?>
<smile version="1.0" id="wet_grass">
  <nodes>
    <cpt id="rain"><state id="no" /><state id="yes" />
      <probabilities>0.8  0.2</probabilities></cpt>
    <cpt id="sprinkler"><state id="off" /><state id="on" />
      <probabilities>0.6 0.4</probabilities></cpt>
    <cpt id="wet"><state id="dry" /><state id="wet" /><parents>rain sprinkler</parents>
      <probabilities>1 0   0.1 0.9
                     0.2 0.8   0.01 0.99</probabilities></cpt>
    <deterministic id="alarm"><state id="quiet" /><state id="ringing" />
      <parents>wet</parents><resultingstates>quiet ringing</resultingstates></deterministic>
  </nodes>
  <extensions><genie version="1.0" app="GeNIe" name="wet grass" /></extensions>
</smile>""", ".xdsl")
    assert net.name == "wet_grass"
    assert net.cpts["wet"][0, 1].tolist() == [0.1, 0.9]  # rain=no, sprinkler=on
    assert net.cpts["wet"][1, 0].tolist() == [0.2, 0.8]  # rain=yes, sprinkler=off
    assert net.cpts["alarm"].tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_hugin_net_comments_quoted_states_and_nesting():
    net = read_network_text("""% written by Hugin 9
net { name = "weather"; node_size = (80 40); }
discrete node rain { label = "Rain today"; states = ("no rain" "some rain"); position = (1 2); }
node wet { states = ("dry" "wet"); HR_Desc = "a; semicolon in a string"; }
potential ( rain ) { data = ( 0.8 0.2 ); }  % the prior
potential ( wet | rain )
{
    data = (( 0.9 0.1 )    % rain=no rain
            ( 0.2 0.8 ));  % rain=some rain
    experience = ( 10 20 );
}
""", ".net")
    assert net.name == "weather"
    assert net.states["rain"] == ("no rain", "some rain")
    assert net.cpts["wet"].tolist() == [[0.9, 0.1], [0.2, 0.8]]


def read_network_text(text: str, suffix: str) -> Network:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"net{suffix}"
        path.write_text(text, encoding="latin-1" if "ISO-8859-1" in text else "utf-8")
        return read_network(path)


# -- errors: one SpecError naming the file (and line), exit 2 through the CLI ------------------


def query_fails(path: Path, *words: str) -> str:
    result = run("query", path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert str(path) in result.output
    for word in words:
        assert word in result.output, result.output
    return result.output


def test_truncated_xml_is_a_parse_error_with_its_line(bnlearn, tmp_path):
    path = tmp_path / "asia.xml"
    text = write_xmlbif(bnlearn("asia"))
    path.write_text(text[: len(text) // 2])
    out = query_fails(path, "cannot parse XMLBIF file", "not well-formed XML")
    assert f"{path}:{text[: len(text) // 2].count(chr(10)) + 1}" in out  # the last line


def test_truncated_xdsl_is_a_parse_error(bnlearn, pgmpy_rw, tmp_path):
    path = tmp_path / "asia.xdsl"
    pgmpy_rw.XDSLWriter(to_pgmpy(bnlearn("asia"))).write(str(path))
    path.write_bytes(path.read_bytes()[:-40])
    query_fails(path, "cannot parse XDSL file", "not well-formed XML")


def test_uai_with_a_wrong_table_length(bnlearn, tmp_path):
    path = tmp_path / "asia.uai"
    lines = write_uai(bnlearn("asia")).splitlines()
    first = lines.index("", 4) + 1  # the first table's count
    lines[first] = "3"
    lines[first + 1] += " 0.5"
    path.write_text("\n".join(lines) + "\n")
    out = query_fails(path, "cannot parse UAI file", "has 3 entries, expected 2")
    assert f"{path}:{first + 1}" in out


def test_uai_markov_network_is_refused(tmp_path):
    path = tmp_path / "m.uai"
    path.write_text("MARKOV\n1\n2\n1\n1 0\n\n2\n1 1\n")
    query_fails(path, "expected 'BAYES', found 'MARKOV'", "Markov network")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "alarm.dne"
    path.write_text("bnet alarm {}\n")
    query_fails(path, "not a model (.yaml) or a network file", "unknown suffix '.dne'",
                "XDSL (.xdsl)")


@pytest.mark.parametrize("payload", [b"\x00\x01\x02garbage\xff" * 50, b""])
def test_a_gzip_of_garbage(payload, tmp_path):
    path = tmp_path / "alarm.net.gz"
    path.write_bytes(gzip.compress(payload))
    query_fails(path, "NET file")


def test_a_damaged_gzip_stream(tmp_path):
    path = tmp_path / "alarm.xml.gz"
    path.write_bytes(gzip.compress(b"<BIF>" * 1000)[:40])
    query_fails(path, "cannot read XMLBIF file", "damaged or truncated gzip")


def test_net_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "x.net"
    path.write_text("net {}\nnode a { states = (\"x\" \"y\"); }\npotential ( a ) { data = "
                    "(0.5 0.5) }\n")
    query_fails(path, f"{path}:3", "expected ';' after the value of 'data'")


def test_xmlbif_problems_are_collected_with_their_lines(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text("""<BIF VERSION="0.3"><NETWORK><NAME>bad</NAME>
<VARIABLE TYPE="nature"><NAME>a</NAME><OUTCOME>x</OUTCOME><OUTCOME>y</OUTCOME></VARIABLE>
<VARIABLE TYPE="nature"><NAME>b</NAME><OUTCOME>x</OUTCOME><OUTCOME>y</OUTCOME></VARIABLE>
<VARIABLE TYPE="nature"><NAME>c</NAME><OUTCOME>x</OUTCOME><OUTCOME>y</OUTCOME></VARIABLE>
<DEFINITION><FOR>a</FOR><TABLE>0.3 0.6</TABLE></DEFINITION>
<DEFINITION><FOR>b</FOR><GIVEN>aa</GIVEN><TABLE>0.5 0.5 0.5 0.5</TABLE></DEFINITION>
</NETWORK></BIF>
""")
    with pytest.raises(SpecError) as info:
        read_network(path)
    text = str(info.value)
    assert f"{path}:5: P(a) sums to 0.9, not 1" in text
    assert f"{path}:6: 'b' is given unknown variable 'aa' (did you mean 'a'?)" in text
    assert f"{path}:4: variable 'c' has no DEFINITION" in text


def test_a_cpt_over_the_limit_is_refused_before_its_numbers_are_read(tmp_path):
    """21 binary variables, one with the other 20 as parents: 2**21 entries, over the
    1,000,000 limit. The table holds two numbers, so a reader that parsed it first would
    complain about its length instead."""
    variables = "".join(f'<VARIABLE TYPE="nature"><NAME>v{i}</NAME><OUTCOME>x</OUTCOME>'
                        f"<OUTCOME>y</OUTCOME></VARIABLE>\n" for i in range(21))
    definitions = "".join(f"<DEFINITION><FOR>v{i}</FOR><TABLE>0.5 0.5</TABLE></DEFINITION>\n"
                          for i in range(20))
    given = "".join(f"<GIVEN>v{i}</GIVEN>" for i in range(20))
    path = tmp_path / "dense.xml"
    path.write_text(f'<BIF VERSION="0.3"><NETWORK><NAME>dense</NAME>\n{variables}{definitions}'
                    f"<DEFINITION><FOR>v20</FOR>{given}<TABLE>0.5 0.5</TABLE></DEFINITION>\n"
                    "</NETWORK></BIF>\n")
    out = query_fails(path, "more than 1,000,000 entries", "give it fewer parents")
    assert "expected" not in out


def test_xml_entity_declarations_are_refused(tmp_path):
    path = tmp_path / "laughs.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE BIF [<!ENTITY a "aaaaaaaaaa">]>\n'
                    "<BIF><NETWORK><NAME>&a;</NAME></NETWORK></BIF>\n")
    query_fails(path, "declares an XML entity")


# -- writers: means and counts round trip ------------------------------------------------------


def test_bif_with_counts_reads_back_the_same_tables(bnlearn, pgmpy_rw, tmp_path):
    ref = bnlearn("alarm")
    counts = dirichlet_counts(ref, 50)
    path = tmp_path / "alarm.bif"
    text = write_bif(ref, path, counts=counts)
    assert text.count("// counts:") == len(ref.nodes)
    back = read_bif(path)
    for node in ref.nodes:
        np.testing.assert_array_equal(back.cpts[node], ref.cpts[node])
    theirs = from_pgmpy(pgmpy_rw.BIFReader(str(path)).get_model())  # skips the comments
    for node in ref.nodes:
        np.testing.assert_array_equal(aligned(theirs, ref, node), ref.cpts[node])


def test_xmlbif_with_counts_reads_back_and_pgmpy_reads_it(bnlearn, pgmpy_rw, tmp_path):
    ref = bnlearn("child")
    counts = dirichlet_counts(ref, 20)
    path = tmp_path / "child.xml"
    text = write_xmlbif(ref, path, counts=counts)
    assert text.count("<PROPERTY>counts = ") == len(ref.nodes)
    back = read_xmlbif(path, normalize=False)
    for node in ref.nodes:
        np.testing.assert_array_equal(back.cpts[node], ref.cpts[node])
    theirs = from_pgmpy(pgmpy_rw.XMLBIFReader(str(path)).get_model())
    assert theirs.states == back.states  # "<5", ">=7.5", "Asy/Patchy" kept
    for node in ref.nodes:
        np.testing.assert_array_equal(aligned(theirs, ref, node), ref.cpts[node])


@pytest.mark.parametrize("seed", range(5))
def test_random_networks_round_trip_through_both_writers(seed, tmp_path):
    net = random_network(np.random.default_rng(seed), 12, max_parents=3, cards=(2, 4))
    for back in (read_bif(write_bif(net)), read_xmlbif(write_xmlbif(net), normalize=False)):
        assert back.nodes == net.nodes and back.parents == net.parents
        for node in net.nodes:
            np.testing.assert_array_equal(back.cpts[node], net.cpts[node])


def test_counts_must_fit_the_network(bnlearn):
    ref = bnlearn("asia")
    with pytest.raises(SpecError, match=r"counts\['asia'\]: has shape \(3,\)"):
        write_xmlbif(ref, counts={"asia": [1.0, 2.0, 3.0]})
    with pytest.raises(SpecError, match="not a finite number > 0"):
        write_bif(ref, counts={"asia": [0.0, 2.0]})


# -- any network with uncertainty ---------------------------------------------------------------


def test_names_map_to_the_model_language():
    assert [safe_name(s, "s") for s in ["LOW", "<5", ">=7.5", "12+", "Asy/Patchy", "0", "é-b"]] \
        == ["LOW", "lt_5", "gt_eq_7_5", "s12_plus", "Asy_Patchy", "s0", "e_b"]


def test_child_becomes_a_valid_model_keeping_its_names_as_labels(bnlearn):
    ref = bnlearn("child")
    spec = network_to_model(ref, ess=100, source="child.bif").build()
    assert list(spec.nodes) == list(ref.nodes)  # its node names are already valid
    assert all(n.cpt.form == "table" for n in spec.nodes.values())
    lower = spec.nodes["LowerBodyO2"]
    assert lower.states == ["lt_5", "s5_12", "s12_plus"]
    assert lower.definition.states["lt_5"] == "the network's state '<5'"
    assert lower.label == "LowerBodyO2" and lower.definition.kind == "condition"
    assert "certainty of 100 observations" in lower.cpt.table.assumption


def test_the_model_means_are_the_network_up_to_the_floor(bnlearn):
    """Rows without entries below 1e-3 x ess / states keep their means to 1e-12; the others
    move by at most the floor's share (1e-3), as the module documents."""
    ref = bnlearn("alarm")
    spec = network_to_model(ref, ess=200).build()
    means = prior_mean_network(spec)
    for node in ref.nodes:
        table = ref.cpts[node]
        floored = (table < 1e-3 / ref.card(node)).any(axis=-1)
        diff = np.abs(means.cpts[node] - table).max(axis=-1)
        assert (diff[~floored] <= TOL).all(), node
        assert (diff <= 1e-3).all(), node
        counts = np.array([list(r.counts.values()) for r in spec.nodes[node].cpt.table.rows])
        np.testing.assert_allclose(counts.sum(axis=-1)[~floored.ravel()], 200, rtol=1e-12)


def test_colliding_names_are_refused_naming_both():
    net = Network({"x-y": ["a", "b"], "x_y": ["c", "d"], "z": ["a b", "a-b"]}, {},
                  {"x-y": [0.5, 0.5], "x_y": [0.5, 0.5], "z": [0.5, 0.5]}, name="clash")
    with pytest.raises(SpecError) as info:
        network_to_model(net, ess=10)
    text = str(info.value)
    assert "nodes 'x-y' and 'x_y' both become 'x_y'" in text
    assert "node 'z': states 'a b' and 'a-b' both become 'a_b'" in text


@pytest.mark.parametrize("kwargs", [{}, {"ess": 0}, {"ess": -1}, {"ess": math.inf},
                                    {"ess": 2e6}, {"ess": 1, "counts": {}}])
def test_ess_is_checked(kwargs, bnlearn):
    with pytest.raises(SpecError):
        network_to_model(bnlearn("asia"), **kwargs)


@pytest.mark.parametrize("name", ["asia", "alarm"])
def test_convert_writes_a_model_that_validate_and_posterior_accept(name, bnlearn, pgmpy_rw,
                                                                   tmp_path):
    source = tmp_path / f"{name}.xdsl"
    pgmpy_rw.XDSLWriter(to_pgmpy(bnlearn(name)), network_id=name).write(str(source))
    model = tmp_path / f"{name}.yaml"
    done = run("convert", source, "--uncertainty", "ess=100", "--out", model)
    assert done.exit_code == 0, done.output
    assert f"wrote {model}" in done.output
    spec = load_spec(model)
    assert spec.name == name and len(spec.nodes) == len(bnlearn(name).nodes)
    assert run("validate", model).exit_code == 0
    node, state = ("xray", "yes") if name == "asia" else ("HR", "HIGH")
    post = run("query", model, "-e", f"{node}={state}", "--posterior", "--json")
    assert post.exit_code == 0, post.output
    assert {r["node"] for r in json.loads(post.output)} == set(spec.nodes) - {node}


def test_the_new_users_path_from_another_tools_network_to_the_site(bnlearn, pgmpy_rw,
                                                                   tmp_path):
    """Issue 13's new user, with the CLI alone: a network another tool wrote, converted with
    uncertainty, a ledger, runs published at a date and then backfilled before it, the
    brief, the site. No converter of the user's own."""
    source = tmp_path / "asia.bif"
    pgmpy_rw.BIFWriter(to_pgmpy(bnlearn("asia"))).write(str(source))
    model = tmp_path / "asia.yaml"
    assert run("convert", source, "--uncertainty", "ess=50", "--out", model).exit_code == 0
    assert run("validate", model).exit_code == 0
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "id,date,node,state,likelihood,grade,source,url,note\n"
        "R1,2024-01-15,smoke,yes,,B2,Clinic,https://example.org/1,The patient smokes.\n"
        "R2,2024-02-20,dysp,yes,,B2,Clinic,https://example.org/2,Breathless on exertion.\n"
        "R3,2024-05-03,xray,,0.3;0.7,C3,Lab,https://example.org/3,An ambiguous x-ray.\n",
        encoding="utf-8")
    runs = tmp_path / "runs"
    for as_of in ("2024-06-30", "2024-03-31"):  # the second is a backfill
        done = run("update", model, "--ledger", ledger, "--as-of", as_of, "--runs", runs)
        assert done.exit_code == 0, done.output
    history = run("history", model, "--runs", runs, "--json")
    assert history.exit_code == 0, history.output
    dates = [r["as_of"][:10] for r in json.loads(history.output) if r["node"] == "bronc"
             and r["state"] == "yes"]
    assert dates == ["2024-03-31", "2024-06-30"]  # as-of order, not the order of publishing
    brief = run("brief", model, "--runs", runs, "--out", tmp_path / "brief", "--format", "html")
    assert brief.exit_code == 0, brief.output
    html = (tmp_path / "brief" / "brief.html").read_text(encoding="utf-8")
    # a backfill is never the previous run of a run published before it: the brief says so
    assert "No run was published before this one" in html
    assert "Runs with earlier as-of dates (2024-03-31) were backfilled" in html
    site = run("site", runs, "--out", tmp_path / "site")
    assert site.exit_code == 0, site.output
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "asia" in index


def test_convert_refusals(bnlearn, tmp_path):
    source = tmp_path / "asia.bif"
    write_bif(bnlearn("asia"), source)
    no_ess = run("convert", source, "--out", tmp_path / "a.yaml")
    assert no_ess.exit_code == 2 and "--uncertainty" in no_ess.output
    wrong = run("convert", source, "--out", tmp_path / "a.dne")
    assert wrong.exit_code == 2 and "cannot write '.dne' files" in wrong.output
    assert not (tmp_path / "a.yaml").exists()


def test_convert_between_network_formats_keeps_the_tables(bnlearn, tmp_path):
    source = tmp_path / "insurance.net"
    source.write_text(write_uai(bnlearn("insurance")))  # a UAI body under a wrong name...
    assert run("convert", source, "--out", tmp_path / "x.bif").exit_code == 2  # ...is refused
    source = tmp_path / "insurance.xml"
    write_xmlbif(bnlearn("insurance"), source)
    out = tmp_path / "insurance.bif.gz"
    done = run("convert", source, "--out", out, "--uncertainty", "ess=10")
    assert done.exit_code == 0, done.output
    assert "// counts:" in gzip.decompress(out.read_bytes()).decode()
    assert_same_tables(read_network(out), bnlearn("insurance"))


def test_uncertainty_posterior_means_equal_the_exact_answer(bnlearn, tmp_path):
    """With one case the posterior mean of P(x | e, θ) is exact inference at the prior-mean
    CPTs (each Dirichlet row is used once in P(x, e)), so every mean must lie within 4 MCSE
    of it (16 numbers: a 4-sigma miss has odds ~1e-3); the prior-mean network is the
    network up to the floor, which moves asia's answers by less than 2e-3."""
    path = tmp_path / "asia.xml"
    write_xmlbif(bnlearn("asia"), path)
    evidence = {"xray": "yes", "smoke": "yes"}
    result = run("query", path, "--uncertainty", "ess=100", "--posterior", "--json",
                 *(f"-e{n}={s}" for n, s in evidence.items()), "--seed", "3")
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    means = prior_mean_network(network_to_model(bnlearn("asia"), ess=100).build())
    at_means = ExactEngine(means).query(evidence).marginals
    exact = ExactEngine(bnlearn("asia")).query(evidence).marginals
    assert len(records) == 12
    for r in records:
        i = means.state_index(r["node"], r["state"])
        assert abs(r["mean"] - at_means[r["node"]][i]) <= 4 * r["mcse"] + 1e-9, r
        assert abs(at_means[r["node"]][i] - exact[r["node"]][i]) < 2e-3, r


def test_uncertainty_with_mpe_and_posterior(bnlearn, tmp_path):
    path = tmp_path / "asia.net"
    path.write_text(write_uai(bnlearn("asia")))  # the wrong format for the suffix
    assert run("query", path, "--uncertainty", "ess=10", "--posterior").exit_code == 2
    path = tmp_path / "asia.bif"
    write_bif(bnlearn("asia"), path)
    result = run("query", path, "--mpe", "--posterior", "--uncertainty", "ess=50", "-e",
                 "xray=yes", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    exact = ExactEngine(bnlearn("asia")).mpe({"xray": "yes"})
    assert out["assignment"] == exact.assignment
    assert 0 < out["posterior"]["mean"] < 1


@pytest.mark.parametrize("value", ["ess", "ess=", "ess=0", "ess=-1", "ess=nan", "ess=inf",
                                   "ess=2e6", "n=10", "ess=ten", "10"])
def test_malformed_uncertainty_is_a_usage_error(value, tmp_path):
    path = tmp_path / "x.bif"
    path.write_text("network x {}\n")
    result = run("query", path, "--uncertainty", value, "--posterior")
    assert result.exit_code == 2
    assert "Invalid value for '--uncertainty'" in result.output


def test_posterior_on_a_network_still_needs_uncertainty(tmp_path):
    path = tmp_path / "x.net"
    path.write_text("net {}\n")
    result = run("query", path, "--posterior")
    assert result.exit_code == 2 and "needs a model file" in result.output
    assert "--uncertainty ess=100" in result.output


def test_uncertainty_on_a_model_is_refused():
    result = run("query", ROOT / "models" / "afghan_caliphate.yaml", "--uncertainty", "ess=5")
    assert result.exit_code == 2 and "--uncertainty is for network files" in result.output


def test_querying_an_xml_network_imports_no_pgmpy_or_pymc(bnlearn, tmp_path):
    """The cold start of `forecast query X`: no peer and no sampler for any network format."""
    path = tmp_path / "alarm.xml"
    write_xmlbif(bnlearn("alarm"), path)
    code = f"""
import sys
from forecast.cli import main
main(["query", {str(path)!r}, "-e", "HR=HIGH", "--json"], standalone_mode=False)
print(sorted(m for m in ("pgmpy", "pyagrum", "pymc", "arviz", "matplotlib") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
