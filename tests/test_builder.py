"""A model built in Python validates as its file would, and writes YAML that reads back equal."""

from __future__ import annotations

from pathlib import Path

import pytest

import forecast as fc
from forecast.errors import SpecError
from forecast.model.builder import ModelBuilder
from forecast.model.cpts import prior_mean_network
from forecast.model.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "models" / "afghan_caliphate.yaml"


def _talks() -> ModelBuilder:
    b = ModelBuilder("talks", title="Talks and the war",
                     source={"title": "An op-ed", "date": "2025-01-02"})
    b.claim("C1", quote="the talks will fail", paragraph=2)
    b.claim("C2", quote=["fighting will go on", "if they fail"], paragraph=[3, 4])
    b.node("talks", label="Peace talks", states=["fail", "succeed"], kind="event",
           window_months=24, record="Text of a signed agreement",
           definitions={"fail": "No agreement signed.", "succeed": "An agreement signed."},
           cpt={"table": {"rows": [{"prior": {"succeed": "unlikely"}, "claims": ["C1"]}]}})
    b.node("war", label="Fighting", states=["calm", "fighting"], parents=["talks"],
           kind="condition", record="UCDP yearly deaths",
           definitions={"calm": "Under 1,000 deaths.", "fighting": "1,000 deaths or more."},
           cpt={"logit": {"baseline": "likely", "effects": [
               {"parent": "talks", "state": "succeed", "direction": "lowers",
                "strength": "strong", "claims": ["C2"]}]}})
    return b


def test_a_built_model_is_the_spec_its_file_gives(tmp_path):
    b = _talks()
    spec = b.build()
    assert spec.node_names == ("talks", "war") and spec.parents["war"] == ("talks",)
    path = b.write(tmp_path / "talks.yaml")
    assert load_spec(path) == spec
    assert "label: Peace talks" in path.read_text(encoding="utf-8")
    net = prior_mean_network(spec)
    assert net.cpts["talks"].sum() == pytest.approx(1.0, abs=1e-12)
    assert fc.ModelBuilder is ModelBuilder


def test_a_loaded_model_round_trips_and_can_be_tweaked(tmp_path):
    spec = load_spec(EXAMPLE)
    b = ModelBuilder.from_spec(spec)
    again = b.build()
    assert again == spec and again.fingerprint == spec.fingerprint
    b.set("nodes.reconciliation.cpt.table.rows.0.prior", {"achieved": "likely"})
    b.set("model.name", "afghan_caliphate_variant")
    variant = b.build()
    assert variant.name == "afghan_caliphate_variant" and variant.fingerprint != spec.fingerprint
    written = load_spec(b.write(tmp_path / "variant.yaml"))
    assert written == variant
    assert load_spec(EXAMPLE) == spec  # the original is untouched


def test_mistakes_are_the_files_located_problems_and_nothing_is_written(tmp_path):
    b = _talks()
    b.node("war", label="Fighting", states=["calm", "fighting"], parents=["takls"],
           cpt={"logit": {"baseline": "likely", "effects": [
               {"parent": "talks", "state": "succeed", "direction": "lowers",
                "strength": "strongg", "claims": ["C2"]}]}})
    with pytest.raises(SpecError) as caught:
        b.write(tmp_path / "bad.yaml")
    fields = [p.field for p in caught.value.problems]
    assert "nodes.war.parents[0]" in fields
    assert any("did you mean 'talks'" in (p.hint or "") for p in caught.value.problems)
    assert any("strong" in (p.hint or "") for p in caught.value.problems)
    assert not (tmp_path / "bad.yaml").exists()
    with pytest.raises(SpecError, match="is a value, not a mapping or list"):
        b.set("nodes.war.states.0.x", 1)
    with pytest.raises(SpecError, match="starts with model, claims or nodes"):
        b.set("node.war.label", "x")
    with pytest.raises(SpecError, match="no node or claim"):
        b.remove("peace")
    b.remove("C1")
    with pytest.raises(SpecError, match="C1"):
        b.build()
