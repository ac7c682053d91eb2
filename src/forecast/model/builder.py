"""Build a model in Python, validate it exactly as a file would be, and write its YAML.

A notebook user writes the same things a model file holds — the header, the claims with their
quotes, the nodes with their definitions and CPT forms — as keyword arguments, then calls
:meth:`ModelBuilder.build`. The builder holds plain data shaped like the model language (the
keys of ``models/README.md``); building writes that data as YAML and reads it back with
:func:`~forecast.model.load.parse_spec`, so a built model passes every check a file passes and
fails with the same located problems (fields named by their key path). :meth:`ModelBuilder.
to_yaml` and :meth:`ModelBuilder.write` give the file, which :func:`~forecast.model.load.
load_spec` reads back to an equal spec; :meth:`ModelBuilder.from_spec` starts from a loaded
model, to tweak it and write a variant::

    b = ModelBuilder("talks", title="Talks and the war", source={"title": "An op-ed"})
    b.claim("C1", quote="talks will fail", paragraph=2)
    b.node("talks", label="Peace talks", states=["fail", "succeed"], kind="event",
           window_months=24, record="Signed agreement text",
           definitions={"fail": "No agreement signed", "succeed": "An agreement signed"},
           cpt={"table": {"rows": [{"prior": {"succeed": "unlikely"}, "claims": ["C1"]}]}})
    spec = b.build()
    b.write("models/talks.yaml")
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from forecast._io import atomic_write
from forecast.errors import Problem, SpecError
from forecast.model.load import parse_spec
from forecast.model.schema import ModelSpec

__all__ = ["ModelBuilder"]


def _pruned(value: Any) -> Any:
    """`value` without None and empty containers: what a hand-written file would leave out."""
    if isinstance(value, Mapping):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


class ModelBuilder:
    """A model under construction: header, claims and nodes as the model language writes them.

    Parameters
    ----------
    name : str
        ``model.name`` (letters, digits and underscores; the run store's folder).
    title : str
        ``model.title``.
    **header
        Any other ``model:`` key: ``description``, ``source`` (a mapping: title, publisher,
        date, author, url, file, first_paragraph), ``scenarios``, ``time``.
    """

    def __init__(self, name: str, title: str, **header: Any) -> None:
        self._model: dict[str, Any] = {"name": name, "title": title, **copy.deepcopy(header)}
        self._claims: dict[str, dict[str, Any]] = {}
        self._nodes: dict[str, dict[str, Any]] = {}

    # -------------------------------------------------------------------- from a model
    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ModelBuilder:
        """A builder holding a loaded model, to change and write as a new file."""
        data = _pruned(spec.model_dump(mode="json"))
        model = dict(data["model"])
        builder = cls(model.pop("name"), model.pop("title"), **model)
        builder._claims = dict(data.get("claims", {}))
        builder._nodes = dict(data["nodes"])
        return builder

    # -------------------------------------------------------------------- adding
    def claim(self, claim_id: str, *, quote: str | Sequence[str], paragraph: int | Sequence[int],
              note: str | None = None) -> ModelBuilder:
        """Add (or replace) a claim: the passage(s) quoted verbatim and their paragraph(s)."""
        entry: dict[str, Any] = {
            "quote": quote if isinstance(quote, str) else list(quote),
            "paragraph": paragraph if isinstance(paragraph, int) else list(paragraph)}
        if note is not None:
            entry["note"] = note
        self._claims[claim_id] = entry
        return self

    def node(self, name: str, *, label: str, states: Sequence[str], cpt: Mapping[str, Any],
             parents: Sequence[str] = (), kind: str | None = None,
             record: str | None = None, window_months: int | None = None,
             definitions: Mapping[str, str] | None = None,
             **more: Any) -> ModelBuilder:
        """Add (or replace) a node.

        Parameters
        ----------
        name : str
            The node's name.
        label : str
            A readable name.
        states : sequence of str
            Its states, in order.
        cpt : mapping
            Its CPT form as the model language writes it: ``{"table": {...}}``,
            ``{"logit": {...}}`` or ``{"noisy_or": {...}}``.
        parents : sequence of str
            Its parents.
        kind, record, window_months, definitions
            The ``definition:``: ``kind`` ("event" or "condition"), the public ``record``
            that resolves it, an event's window in months, and what each state means.
        **more
            Any other node key (e.g. ``persistence``, ``nonoccurrence``, ``counts``), as written
            in YAML.
        """
        node: dict[str, Any] = {"label": label, "states": list(states)}
        if parents:
            node["parents"] = list(parents)
        definition: dict[str, Any] = {}
        if kind is not None:
            definition["kind"] = kind
        if window_months is not None:
            definition["window"] = {"months": window_months}
        if record is not None:
            definition["record"] = record
        if definitions:
            definition["states"] = dict(definitions)
        if definition:
            node["definition"] = definition
        node["cpt"] = copy.deepcopy(dict(cpt))
        node.update(copy.deepcopy(more))
        self._nodes[name] = node
        return self

    def set(self, path: str, value: Any) -> ModelBuilder:
        """Set one value by its key path, as validation messages name it.

        E.g. ``set("nodes.talks.cpt.table.rows.0.prior", {"succeed": "likely"})`` or
        ``set("model.time.step", "month")``; missing mappings on the way are created.
        """
        keys = path.split(".")
        if not keys or keys[0] not in ("model", "claims", "nodes"):
            raise SpecError(f"cannot set '{path}'", [Problem(
                "a path starts with model, claims or nodes", field=path,
                hint="e.g. nodes.talks.label")])
        target: Any = {"model": self._model, "claims": self._claims,
                       "nodes": self._nodes}[keys[0]]
        for i, key in enumerate(keys[1:-1], start=1):
            index: Any = int(key) if key.isdigit() and isinstance(target, list) else key
            try:
                target = target[index] if isinstance(target, list) else target.setdefault(
                    index, {})
            except (IndexError, AttributeError, TypeError):
                raise SpecError(f"cannot set '{path}'", [Problem(
                    f"'{'.'.join(keys[:i + 1])}' does not lead to a mapping or list item",
                    field=path)]) from None
        last: Any = keys[-1]
        if not isinstance(target, list | dict):
            raise SpecError(f"cannot set '{path}'", [Problem(
                f"'{'.'.join(keys[:-1])}' is a value, not a mapping or list", field=path)])
        if isinstance(target, list):
            if not (last.isdigit() and int(last) < len(target)):
                raise SpecError(f"cannot set '{path}'", [Problem(
                    f"no item {last} in a list of {len(target)}", field=path)])
            target[int(last)] = copy.deepcopy(value)
        else:
            target[last] = copy.deepcopy(value)
        return self

    def remove(self, name: str) -> ModelBuilder:
        """Drop a node or a claim (what still cites or names it is reported by :meth:`build`)."""
        if name in self._nodes:
            del self._nodes[name]
        elif name in self._claims:
            del self._claims[name]
        else:
            raise SpecError(f"cannot remove '{name}'", [Problem(
                "no node or claim of that name", field=name,
                hint=f"the nodes are {', '.join(self._nodes) or 'none'}")])
        return self

    # -------------------------------------------------------------------- output
    def to_dict(self) -> dict[str, Any]:
        """The model as plain data (a copy), in the shape of a model file."""
        return copy.deepcopy({"model": self._model, "claims": self._claims,
                              "nodes": self._nodes})

    def to_yaml(self) -> str:
        """The model file's text: the model language, keys in the order they were given."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def build(self) -> ModelSpec:
        """Validate the model as a file would be validated and return its spec.

        Raises
        ------
        SpecError
            Listing every problem, each with its field (key path), message and hint; the
            line numbers are those of :meth:`to_yaml`'s text.
        """
        return parse_spec(self.to_yaml(), filename=f"<ModelBuilder {self._model['name']}>")

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Validate (:meth:`build`), then write the YAML file atomically; nothing if invalid."""
        self.build()
        return atomic_write(Path(path), self.to_yaml())
